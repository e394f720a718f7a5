"""Sparse Structure Selection (Huang & Wang 2018): block factors trained by APG, blocks at zero removed,
the pruned model equal to the trained one, Table 5's targets, and the method through the pipeline."""
import json

import pytest
import torch

import rethinkkit as rk
from rethinkkit import pipeline
from rethinkkit.config import Recipe
from rethinkkit.pruning import SSSSpec, SSSTargetSpec, sss
from rethinkkit.pruning.sss import APGBlockScales, apg_step, soft_threshold

# --- APG -------------------------------------------------------------------------------------


def test_apg_step_is_the_soft_threshold_update_by_hand():
    """lr 0.1, gamma 0.01 (threshold 0.001), mu 0.9, worked through by hand (the released APGNAG's order)."""
    factors = torch.tensor([1.0, 0.0004, -0.3, 0.2], dtype=torch.float64)
    grad = torch.tensor([0.5, 0.001, 0.2, -1.0], dtype=torch.float64)
    momentum = torch.tensor([0.1, 0.0, 0.0, 0.05], dtype=torch.float64)
    # mu * v = [0.09, 0, 0, 0.045]; lambda - lr * grad = [0.95, 0.0003, -0.32, 0.3]
    # soft-threshold by 0.001: z = [0.949, 0 (|0.0003| <= 0.001), -0.319, 0.299]
    # v = z - lambda + mu * v = [0.039, -0.0004, -0.019, 0.144]; lambda = z + mu * v
    new, v = apg_step(factors, grad, momentum, lr=0.1, gamma=0.01, mu=0.9, nonnegative=False)
    assert v.tolist() == pytest.approx([0.039, -0.0004, -0.019, 0.144], abs=1e-12)
    assert new.tolist() == pytest.approx([0.9841, -0.00036, -0.3361, 0.4286], abs=1e-12)
    clamped, v2 = apg_step(factors, grad, momentum, lr=0.1, gamma=0.01, mu=0.9)
    assert clamped.tolist() == pytest.approx([0.9841, 0.0, 0.0, 0.4286], abs=1e-12) and torch.equal(v, v2)
    assert momentum.tolist() == [0.1, 0.0, 0.0, 0.05]  # pure
    assert soft_threshold(torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]), 1.0).tolist() == [-1.0, 0.0, 0.0, 0.0, 1.0]


def test_two_steps_below_the_threshold_leave_a_factor_exactly_zero():
    """Once the gradient stays within the threshold, momentum cancels in two steps: exactly 0, no drift."""
    factors, momentum = torch.tensor([0.003]), torch.tensor([0.0])
    for _ in range(2):
        factors, momentum = apg_step(factors, torch.tensor([0.0]), momentum, lr=0.1, gamma=0.1, mu=0.9,
                                     nonnegative=False)
    assert factors.item() == 0.0 and momentum.item() == 0.0


def _batch(mini, n=16):
    return next(mini.subset(n_train=64, n_test=n, seed=0).test_batches(n))


def test_the_hook_moves_the_factors_by_apg_at_the_recipes_lr_and_keeps_them_out_of_sgd(mini, one_thread):
    torch.manual_seed(0)
    model = rk.models.build("resnet20", in_channels=1, block_scale=True)
    recipe = Recipe(epochs=4)  # lr 0.1 in epochs 0-1, 0.01 in epoch 2
    hook = APGBlockScales(gamma=0.05).for_recipe(recipe)
    hook.on_start(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    params = list(model.block_scales().values())
    x, y = _batch(mini)
    momentum = torch.zeros(len(params))
    for lr, epochs_done in ((0.1, ()), (0.01, (0, 1))):
        for epoch in epochs_done:  # as train() calls it after each epoch
            hook.on_epoch_end(model, epoch)
        assert hook.lr() == pytest.approx(lr)
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        before = torch.stack([p.detach().clone() for p in params])
        grad = torch.stack([p.grad.clone() for p in params])
        assert grad.abs().sum() > 0
        hook.after_backward(model)
        assert all(p.grad is None for p in params)  # out of SGD: no step, no momentum, no weight decay
        expected, momentum = apg_step(before, grad, momentum, lr, 0.05, 0.9)
        assert torch.equal(torch.stack([p.detach() for p in params]), expected)
        optimizer.step()
        assert torch.equal(torch.stack([p.detach() for p in params]), expected)
    assert torch.equal(hook.state_dict()["momentum"], momentum)


def test_a_large_penalty_drives_every_factor_to_exactly_zero(tiny, one_thread):
    torch.manual_seed(0)
    model = rk.models.build("resnet20", in_channels=1, block_scale=True)
    recipe = Recipe(epochs=2)
    rk.train.train(model, tiny, recipe, hooks=(APGBlockScales(gamma=5.0).for_recipe(recipe),), progress=False)
    assert all(p.item() == 0.0 for p in model.block_scales().values())  # exactly, not small
    pruned = rk.pruning.prune("sss", model, SSSSpec(gamma=5.0), data=tiny)
    assert pruned.cfg == [None] * 9 and pruned.kept == {} and pruned.model.blocks == (0, 0, 0)
    # what is left: the stem conv + BN, and the fc; option-A shortcuts have no parameters
    assert pruned.params == 9 * 16 + 2 * 16 + 64 * 10 + 10
    assert pruned.macs == 16 * 9 * 32 * 32 + 64 * 10
    assert "removed 9 of 9 residual blocks" in pruned.notes[0] and "layer2.0 (its downsampling kept)" in pruned.notes[0]
    x, _ = _batch(tiny)
    model.eval()
    with torch.no_grad():
        assert torch.allclose(pruned.model.eval()(x), model(x), atol=1e-5)


def test_no_penalty_removes_nothing_and_says_so(tiny, one_thread):
    torch.manual_seed(0)
    model = rk.models.build("resnet20", in_channels=1, block_scale=True)
    recipe = Recipe(epochs=1, milestones=())
    rk.train.train(model, tiny, recipe, hooks=(APGBlockScales(gamma=0.0).for_recipe(recipe),), progress=False)
    pruned = rk.pruning.prune("sss", model, SSSSpec(gamma=0.0))
    assert pruned.cfg == rk.models.default_cfg("resnet20") and "nothing removed" in pruned.notes[0]
    assert pruned.arch["options"] == {"shortcut": "avgpool"}  # the factors folded away: the plain ResNet


def test_a_resumed_run_steps_exactly_as_an_uninterrupted_one(tiny, tmp_path, one_thread):
    class Interrupt(rk.train.Hook):
        def on_epoch_end(self, model, epoch):
            if epoch == 1:
                raise KeyboardInterrupt

    recipe = Recipe(epochs=3)

    def run(path, extra=()):
        torch.manual_seed(0)
        model = rk.models.build("resnet20", in_channels=1, block_scale=True)
        rk.train.train(model, tiny, recipe, hooks=(APGBlockScales(gamma=0.3).for_recipe(recipe), *extra),
                       checkpoint=path, progress=False)
        return model

    whole = run(tmp_path / "a.pt")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b.pt", (Interrupt(),))  # after epoch 0's checkpoint
    resumed = run(tmp_path / "b.pt")
    for (name, a), (_, b) in zip(whole.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


# --- pruning: the same function, fewer blocks ------------------------------------------------


def _randomised(model, factors):
    """Random BN statistics and affine parameters (so folding matters), the given block factors."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(module.num_features, generator=gen) * 0.2)
                module.running_mean.copy_(torch.randn(module.num_features, generator=gen) * 0.2)
                module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)
        for (name, p), value in zip(model.block_scales().items(), factors):
            p.fill_(value)
    return model.eval()


@pytest.mark.parametrize("name, options, factors, size, removed", [
    # the first blocks of stages 2 and 3 (option-A downsampling) and a middle block removed
    ("resnet20", {}, [1.3, 0.0, 0.7, 0.0, 2.0, 0.4, 0.0, 0.9, 1.1], 32, ["layer1.1", "layer2.0", "layer3.0"]),
    ("resnet20", {"shortcut": "projection"}, [0.0, 1.0, 0.5, 0.0, 0.0, 1.5, 0.8, 0.0, 0.3], 32,
     ["layer1.0", "layer2.0", "layer2.1", "layer3.1"]),
    ("resnet50-imagenet", {}, [0.0, 0.6, 0.0, 1.2, 0.0, 0.9, 0.7, 0.0] + [0.5] * 7 + [0.0], 64,
     ["layer1.0", "layer1.2", "layer2.1", "layer3.0", "layer4.2"]),
])
def test_the_pruned_model_computes_the_trained_function(name, options, factors, size, removed, one_thread):
    torch.manual_seed(0)
    channels = 1 if name == "resnet20" else 3
    model = _randomised(rk.models.build(name, in_channels=channels, block_scale=True, **options), factors)
    pruned = rk.pruning.prune("sss", model, SSSSpec(), input_shape=(channels, size, size))
    x = torch.randn(4, channels, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = model(x), pruned.model(x)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    assert f"removed {len(removed)} of {len(factors)}" in pruned.notes[0]
    assert all(block in pruned.notes[0] for block in removed)
    assert "block_scale" not in pruned.arch["options"] and not any("scale" in k for k in pruned.model.state_dict())
    assert pruned.model.training is False and next(pruned.model.parameters()).dtype == torch.float32
    twin = rk.models.from_arch(json.loads(json.dumps(pruned.arch)))  # an ordinary architecture: Scratch-E/B build it
    assert [k for k in twin.state_dict()] == [k for k in pruned.model.state_dict()]


def test_block_counts_params_and_macs_follow_the_architecture():
    base = rk.models.build("resnet20")
    counts = rk.flops.count(base)
    cfg = rk.models.default_cfg("resnet20")
    cfg[3] = cfg[4] = None  # stage 2's first block (16 -> 32, stride 2, option A) and the next one
    model = rk.models.build("resnet20", cfg=cfg)
    assert model.blocks == (3, 1, 3) and model.depth == 16 and base.depth == 20
    small = rk.flops.count(model)
    first = 9 * 16 * 32 + 9 * 32 * 32  # conv1 16 -> 32, conv2 32 -> 32, both at 16x16
    middle = 2 * 9 * 32 * 32
    assert counts.params - small.params == first + 2 * 32 + 2 * 32 + middle + 4 * 32  # and their BNs
    assert counts.macs - small.macs == (first + middle) * 16 * 16
    assert [layer.position for layer in model.prunable_layers()] == [0, 1, 2, 5, 6, 7, 8]
    assert model.prunable_layers()[3].conv == "layer2.2.conv1"  # kept blocks keep their names
    assert rk.models.uniform_cfg("resnet20", 0.5, cfg=cfg) == [8, 8, 8, None, None, 16, 32, 32, 32]
    assert model.arch["options"] == {"shortcut": "avgpool"} and "block_scale" not in base.arch["options"]
    scaled = rk.models.build("resnet20", cfg=cfg, block_scale=True)
    assert scaled.arch["options"] == {"shortcut": "avgpool", "block_scale": True}
    assert list(scaled.block_scales()) == ["layer1.0", "layer1.1", "layer1.2", "layer2.2", "layer3.0", "layer3.1",
                                           "layer3.2"]
    assert rk.flops.count(scaled).params == small.params + 7  # one scalar per kept block, no MACs
    assert rk.flops.count(scaled).macs == small.macs


def test_existing_architectures_and_run_keys_are_unchanged():
    """Keys computed with the code before block factors and removable blocks existed."""
    model = rk.models.build("resnet56")
    assert model.arch["options"] == {"shortcut": "avgpool"} and not any("scale" in k for k in model.state_dict())
    assert rk.flops.count(model) == rk.flops.Counts(params=853018, macs=125485696)
    protocol = pipeline.protocol("cifar10")
    keys = {}
    for name in ("resnet56-a", "vgg19-p70"):
        t = pipeline.target(name)
        parent = pipeline.parent_spec(protocol, t)
        torch.manual_seed(0)
        large = rk.runs.build_model(parent, num_classes=10, in_channels=3)
        pruned = rk.pruning.prune(t.method, large, t.spec)
        base = rk.flops.count(large).macs
        keys[name] = [parent.key()] + [pipeline.child_spec(parent, pruned, t, pipeline.strategy(s), protocol, base).key()
                                       for s in ("fine-tune", "scratch-e", "scratch-b")]
    assert keys == {"resnet56-a": ["76e5d373df5e", "0095a7ba33d1", "2b83bcf4ba0e", "f073802a78aa"],
                    "vgg19-p70": ["41529feca64e", "37ca80daacbb", "14b4b0770f50", "5eccb2fdb319"]}


# --- Table 5 ------------------------------------------------------------------------------------


def test_table_5_targets_are_the_sss_papers_resnets_and_their_scratch_b_epochs():
    """The rethinking code's README trains Scratch-B for 117, 145 and 179 epochs (100 x the MACs ratio):
    our MACs of the layouts give exactly those."""
    with torch.device("meta"):  # the layout and the counts only
        base = rk.models.build("resnet50-imagenet")
    macs = rk.flops.count(base, (3, 224, 224)).macs
    recipe = pipeline.Protocol.imagenet().large_for("sss-target")
    assert (recipe.epochs, recipe.milestone_epochs, recipe.nesterov) == (100, (30, 60, 90), True)
    found = {}
    for c in rk.paper.configs(method="sss-target", table=5):
        pruned = rk.pruning.prune(c.method, base, c.spec, input_shape=c.input_shape)
        found[c.name] = (pruned.model.depth, pruned.model.blocks,
                         rk.budget.scratch_b(macs, pruned.macs, recipe, "imagenet").epochs)
        assert (pruned.cfg[:9] == [None] * 9) == (c.name != "resnet32-sss")  # stage 1's blocks
    assert found == {"resnet41-sss": (41, (0, 4, 6, 3), 117), "resnet32-sss": (32, (1, 4, 4, 1), 145),
                     "resnet26-sss": (26, (0, 2, 5, 1), 179)}


def test_table_5_is_data_with_its_citation():
    t5 = rk.paper.table(5).set_index(["config", "strategy"])
    assert t5.loc[("resnet50-imagenet", "unpruned"), "mean"] == 76.12
    assert [t5.loc[("resnet26-sss", s), "mean"] for s in ("pruned", "scratch-e", "scratch-b")] == [71.82, 72.55, 73.41]
    assert (t5["n"] == 1).all() and (t5["dataset"] == "imagenet").all() and t5["source"].str.contains("Table 5").all()
    for config, strategy in t5.index:
        if strategy != "unpruned":
            assert rk.pipeline.strategy(strategy).name == strategy
            assert rk.paper.config(config).method in rk.pruning.methods()
    assert rk.paper.config("resnet41-sss").row(5)["pruned"] == (75.44, pytest.approx(float("nan"), nan_ok=True))
    assert rk.paper.configs(dataset="cifar10", method="sss-target", table=5) == []
    assert rk.paper.table(5, dataset="cifar10").empty


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make, error, message", [
    (lambda: SSSSpec(gamma=-0.1), ValueError, r"gamma is the sparsity penalty .* >= 0"),
    (lambda: SSSSpec(gamma="0.01"), ValueError, "gamma is the sparsity penalty"),
    (lambda: SSSSpec(gamma=float("nan")), ValueError, "finite number"),
    (lambda: SSSSpec(nonnegative="yes"), TypeError, "nonnegative is True"),
    (lambda: APGBlockScales(gamma=-1), ValueError, "gamma is the sparsity penalty"),
    (lambda: APGBlockScales(recipe="cifar"), TypeError, "the run's rethinkkit Recipe"),
    (lambda: SSSTargetSpec(cfg=(16, 0, None)), ValueError, "None for the entries of every removed block"),
    (lambda: SSSTargetSpec(cfg="resnet41"), ValueError, "SSSTargetSpec cfg"),
    (lambda: rk.models.build("resnet20", block_scale="yes"), ValueError, "block_scale is True"),
    (lambda: rk.models.build("resnet20", cfg=[16] * 8 + [0]), ValueError,
     r"cfg\[8\] must be a positive int \(a block's inner width\) or None"),
    (lambda: rk.pruning.prune("sss", rk.models.build("resnet20"), SSSSpec()), ValueError,
     r"no residual block factors: .* block_scale=True"),
    (lambda: rk.pruning.prune("sss", rk.models.build("vgg11"), SSSSpec()), ValueError, "no residual block factors"),
    (lambda: rk.pruning.prune("sss", rk.models.build("resnet20", block_scale=True), rk.pruning.SlimmingSpec(0.5)),
     TypeError, "sss takes a SSSSpec"),
    (lambda: sss.prune(rk.models.build("resnet20", block_scale=True), rk.pruning.SlimmingSpec(0.5)),
     TypeError, "takes an SSSSpec"),
    (lambda: rk.pruning.prune("sss-target", rk.models.build("resnet20"), SSSTargetSpec((16,) * 9 + (None,))),
     ValueError, "10 entries, resnet20's 9"),
    (lambda: rk.pruning.prune("sss-target", rk.models.build("resnet20"), SSSTargetSpec((None,) + (8,) * 8)),
     ValueError, r"keeps widths, but its cfg\[1\] is 8 where resnet20's is 16"),
    (lambda: rk.pruning.prune("sss-target", rk.models.build("vgg11"), SSSTargetSpec((None,) * 8)),
     ValueError, "SSS targets are ResNets"),
    (lambda: APGBlockScales().on_start(rk.models.build("resnet20", block_scale=True)), ValueError,
     "give it the run's recipe"),
    (lambda: APGBlockScales(recipe=Recipe()).on_start(rk.models.build("resnet20")), ValueError, "block_scale=True"),
    (lambda: pipeline.sparse_structure("resnet20", 0.01), ValueError, "gammas is a list"),
    (lambda: pipeline.sparse_structure("resnet20", ["0.01"]), ValueError, "gamma is the sparsity penalty"),
])
def test_bad_inputs_are_explained(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_sss_is_not_fine_tuned():
    with pytest.raises(ValueError, match="sss has no fine-tuning recipe"):
        pipeline.protocol("cifar10").finetune_recipe("sss")


# --- the pipeline -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table(mini, tmp_path_factory):
    """SSS of ResNet-20 with a penalty that removes every block within 2 epochs at lr 0.1 (4 steps):
    the degenerate end of the method, but cheap and certain; partial removal is tested above."""
    torch.set_num_threads(1)
    protocol = pipeline.Protocol("fashion-mnist-mini", epochs=4, train_subset=128, test_subset=100, budget_cap=2)
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    targets = pipeline.sparse_structure("resnet20", [1.0])
    rows = pipeline.run(protocol, targets, seeds=[0], strategies=["pruned", "scratch-e", "scratch-b"], data=mini,
                        store=store, progress=False)
    return protocol, store, targets[0], rows


def test_the_pipeline_trains_prunes_and_trains_from_scratch(table):
    protocol, store, target, rows = table
    assert list(rows["strategy"]) == ["unpruned", "soft-pruned", "pruned", "scratch-e", "scratch-b"]
    by = rows.set_index("strategy")
    spec = lambda s: json.loads((store.root / by.loc[s, "key"].split("/")[0] / "spec.json").read_text())  # noqa: E731
    # the "unpruned" row is the plain ResNet-20 (Table 5's), the large SSS run has the factors and the APG hook
    assert spec("unpruned")["options"] == [] and spec("unpruned")["hooks"] == []
    assert spec("soft-pruned")["options"] == [["block_scale", True]]
    hook = spec("soft-pruned")["hooks"][0]
    assert hook["type"] == "APGBlockScales" and hook["gamma"] == 1.0 and hook["recipe"]["epochs"] == 4
    assert by.loc["soft-pruned", "params"] == by.loc["unpruned", "params"] + 9
    # every block was driven to 0: the pruned model is the trained one, evaluated without training
    assert by.loc["pruned", "cfg"] == [None] * 9 and by.loc["pruned", "epochs"] == 0
    assert by.loc["pruned", "final_top1"] == by.loc["soft-pruned", "final_top1"]
    assert by.loc["pruned", "key"] == by.loc["soft-pruned", "key"]
    # Scratch-E/B build the block-pruned architecture, plain (no factors, no hook)
    for s in ("scratch-e", "scratch-b"):
        assert by.loc[s, "cfg"] == [None] * 9 and spec(s)["options"] == [] and spec(s)["hooks"] == []
        assert by.loc[s, "params"] == by.loc["pruned", "params"] < by.loc["unpruned", "params"] / 100
    assert by.loc["scratch-e", "epochs"] == 4 and by.loc["scratch-b", "epochs"] == 8  # the ratio capped at 2


def test_rerunning_trains_nothing(table, mini, monkeypatch):
    protocol, store, target, rows = table

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(rk.runs, "train", refuse)
    again = pipeline.run(protocol, [target], seeds=[0], strategies=["pruned", "scratch-e", "scratch-b"], data=mini,
                         store=store, progress=False)
    assert again.drop(columns="seconds").equals(rows.drop(columns="seconds"))

"""Soft Filter Pruning (He et al. 2018; Liu et al. 2019, Appendix A): the hook, the pruner, the
warm-up schedule of its recipe, its paper tables, and the protocol with and without a pretrained model."""
import dataclasses
import json
import math

import pytest
import torch

import rethinkkit as rk
from rethinkkit import pipeline
from rethinkkit.config import ConfigError, Recipe, RunSpec
from rethinkkit.pruning import SFPSpec, sfp, surgery
from rethinkkit.train import BNL1Penalty, Hook, state_digest, train


def _conv1(model, position):
    return model.get_submodule(next(l.conv for l in model.prunable_layers() if l.position == position))


def _model(seed=0, shift=None):
    """A CIFAR ResNet-20 on 1-channel input; with `shift`, every block's first BN shift set to it."""
    torch.manual_seed(seed)
    model = rk.models.build("resnet20", in_channels=1)
    if shift is not None:
        for layer in model.prunable_layers():
            torch.nn.init.constant_(model.get_submodule(layer.gate).bias, shift)
    return model


# --- the hook --------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio, counts", [(0.3, (4, 9, 19)), (0.1, (1, 3, 6))])
def test_the_hook_zeroes_exactly_the_smallest_l2_filters_at_epoch_end(ratio, counts):
    model = _model()
    with torch.no_grad():  # filters of visibly different norms, so the smallest are unambiguous
        for layer in model.prunable_layers():
            w = _conv1(model, layer.position).weight
            w.mul_(torch.rand(w.shape[0], 1, 1, 1) + 0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    expected = {}
    for layer in model.prunable_layers():
        w = before[f"{layer.conv}.weight"]
        norms = w.flatten(1).norm(dim=1)
        expected[layer.conv] = set(torch.argsort(norms)[:counts[layer.stage]].tolist())
        assert len(expected[layer.conv]) == int(w.shape[0] * ratio) == sfp.pruned_count(w.shape[0], ratio)

    sfp.SoftFilterPruning(ratio).on_epoch_end(model, 0)
    after = model.state_dict()
    for name, value in after.items():
        conv = name.removesuffix(".weight")
        if conv not in expected:  # the stem, every block's second conv, every BN, the classifier: untouched
            assert torch.equal(value, before[name]), name
            continue
        zero = {i for i in range(value.shape[0]) if not value[i].any()}
        assert zero == expected[conv], conv
        keep = [i for i in range(value.shape[0]) if i not in zero]
        assert torch.equal(value[keep], before[name][keep]), conv

    # applied again (a resume calls on_start), it changes nothing
    again = {k: v.clone() for k, v in after.items()}
    sfp.SoftFilterPruning(ratio).on_start(model)
    assert all(torch.equal(v, again[k]) for k, v in model.state_dict().items())


@dataclasses.dataclass(frozen=True, eq=False)
class _Norms(Hook):
    """Records, after every step, the summed norm of the given filters (conv name -> indices)."""

    filters: dict
    seen: list = dataclasses.field(default_factory=list)

    def after_step(self, model):
        self.seen.append(sum(float(model.get_submodule(c).weight[i].detach().norm()) for c, idx in self.filters.items()
                             for i in idx))


def test_zeroed_filters_regrow_during_the_epoch_and_are_zeroed_again_at_its_end(tiny, one_thread):
    """Soft: nothing masks a zeroed filter between two epoch ends. A zeroed filter behind a BN with
    a positive shift gets a gradient at the first step and grows back; at the epoch's end exactly
    int(C * p) filters per layer are zero again."""
    model = _model(shift=0.1)
    hook = sfp.SoftFilterPruning(0.3)
    zeroed = hook.zero(model)
    names = {l.position: l.conv for l in model.prunable_layers()}
    probe = _Norms({names[p]: idx for p, idx in zeroed.items()})
    train(model, tiny, Recipe(epochs=1, batch_size=64, milestones=()), hooks=(hook, probe), progress=False)
    assert probe.seen[0] > 0 and len(probe.seen) == 4  # regrown after the first of 4 steps
    for layer in model.prunable_layers():
        w = model.get_submodule(layer.conv).weight
        zero = int((w.flatten(1).abs().sum(1) == 0).sum())
        assert zero == sfp.pruned_count(w.shape[0], 0.3), layer.conv


def test_from_a_fresh_initialisation_a_zeroed_filter_gets_no_gradient(tiny, one_thread):
    """What SFP from scratch does in the layers the kit prunes (Table 10): a fresh BN's shift is 0,
    so a zeroed filter's channel is exactly 0 after BN in training and ReLU passes no gradient at 0.
    The filters zeroed before the first epoch stay zero, and the soft-pruned model is its pruned twin."""
    model = _model(shift=None)
    hook = sfp.SoftFilterPruning(0.3)
    zeroed = hook.zero(model)
    names = {l.position: l.conv for l in model.prunable_layers()}
    probe = _Norms({names[p]: idx for p, idx in zeroed.items()})
    train(model, tiny, Recipe(epochs=2, batch_size=64, milestones=()), hooks=(hook, probe), progress=False)
    assert max(probe.seen) == 0.0
    pruned = rk.pruning.prune("sfp", model, SFPSpec(0.3), data=tiny)
    assert {p: sorted(set(range(len(_conv1(model, p).weight))) - set(k)) for p, k in pruned.kept.items()} == zeroed
    assert pruned.notes == ()  # no BN constant dropped
    x = next(tiny.test_batches(64))[0]
    model.eval(), pruned.model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x), pruned.model(x), atol=1e-5)


def test_the_pruned_model_is_the_zeroed_large_model(tiny):
    """`prune` keeps exactly the filters the hook left, and the small model computes the large
    model with those filters zeroed and their BN channels silenced (`surgery.zero_pruned`). With the
    BN left active (as SFP leaves it) a zeroed channel can still output a constant; `notes` says how
    large a constant the removal dropped."""
    model = _model(seed=1, shift=0.2)
    model.train()
    with torch.no_grad():  # running statistics of a trained model (mean 0 would hide the constant)
        for _ in range(3):
            model(next(tiny.test_batches(64))[0])
    zeroed = sfp.SoftFilterPruning(0.4).zero(model)
    pruned = rk.pruning.prune("sfp", model, SFPSpec(0.4), data=tiny)
    for position, kept in pruned.kept.items():
        assert sorted(set(kept) | set(zeroed[position])) == list(range(len(_conv1(model, position).weight)))
        assert not set(kept) & set(zeroed[position])
    assert pruned.cfg == [16 - 6] * 3 + [32 - 12] * 3 + [64 - 25] * 3
    silenced = surgery.zero_pruned(model, pruned.kept).eval()
    x = next(tiny.test_batches(64))[0]
    with torch.no_grad():
        assert torch.allclose(silenced(x), pruned.model.eval()(x), atol=1e-5)
        assert not torch.allclose(model.eval()(x), pruned.model(x), atol=1e-3)  # the BN constants
    assert pruned.notes and "constants up to" in pruned.notes[0]
    counts = rk.flops.count(pruned.model, tiny.image_shape)
    assert (pruned.macs, pruned.params) == (counts.macs, counts.params) and pruned.masks is None


# --- the recipe: warm-up ----------------------------------------------------------------------


def _original_lr(epoch, base=0.01, schedule=(1, 60, 120, 160), gammas=(10, 0.2, 0.2, 0.2)):
    """The authors' adjust_learning_rate (pruning_cifar10_resnet.py) with scripts/cifar10_resnet.sh's values."""
    lr = base
    for gamma, step in zip(gammas, schedule):
        if epoch >= step:
            lr *= gamma
        else:
            break
    return lr


def test_the_warm_up_schedule_is_the_authors_epoch_by_epoch():
    recipe = sfp.SFP_CIFAR
    assert recipe.milestone_epochs == (60, 120, 160)
    assert [recipe.lr_at(e) for e in range(recipe.epochs)] == pytest.approx([_original_lr(e) for e in range(200)])
    assert (recipe.lr_at(0), recipe.lr_at(1), recipe.lr_at(59), recipe.lr_at(60), recipe.lr_at(199)) == pytest.approx(
        (0.01, 0.1, 0.1, 0.02, 0.0008))
    assert Recipe().lr_at(0) == 0.1  # no warm-up by default
    # a milestone inside the warm-up counts from the first epoch after it, as SFP's cumulative gammas
    early = Recipe(epochs=10, warmup_epochs=3, warmup_factor=0.5, milestones=(0.1,), gamma=0.2)
    assert [early.lr_at(e) for e in range(4)] == pytest.approx([0.05, 0.05, 0.05, 0.02])


def test_training_follows_the_warm_up(tiny, one_thread):
    recipe = Recipe(epochs=3, batch_size=128, lr=0.05, warmup_epochs=1, warmup_factor=0.2, milestones=(0.7,))
    result = train(_model(), tiny, recipe, progress=False)
    assert [row["lr"] for row in result.history] == pytest.approx([0.01, 0.05, 0.005])


def test_the_protocol_scales_the_sfp_recipe_as_its_own():
    paper = pipeline.protocol("cifar10")
    assert paper.large_for("sfp") == sfp.SFP_CIFAR  # 200 epochs at the paper's 160
    assert paper.large_for("l1-norm") == paper.large_recipe
    short = pipeline.protocol("cifar10", epochs=4)
    assert short.large_for("sfp") == dataclasses.replace(sfp.SFP_CIFAR, epochs=5)
    assert short.deviations(["sfp"])["large (sfp).epochs"] == (5, 200)
    assert set(short.recipes(["sfp"])) == {"large / Scratch-E", "large / Scratch-E (sfp)"}  # SFP is not fine-tuned
    with pytest.warns(rk.config.ScheduleWarning):
        one = pipeline.protocol("cifar10", epochs=1).large_for("sfp")
    assert (one.epochs, one.warmup_epochs) == (1, 0)  # the warm-up stays inside the epochs
    assert pipeline.Protocol.imagenet().large_for("sfp") == sfp.SFP_IMAGENET  # 100 epochs at the paper's 90
    assert pipeline.strategy("scratch-b").recipe(paper, 2.0, 1.0, "sfp") == dataclasses.replace(sfp.SFP_CIFAR, epochs=400)
    spec = SFPSpec(0.3, pretrained=True)
    assert pipeline.parent_spec(paper, pipeline.Target("t", "resnet56", spec, "sfp")).recipe.lr == pytest.approx(0.01)


# Keys of runs stored before Recipe had a warm-up (computed with the code of that time).
PINNED = {
    "76e5d373df5e": RunSpec("cifar10", "resnet56"),
    "511f085e460b": RunSpec("cifar10", "resnet56", recipe=rk.FINETUNE_CIFAR),
    "c716dd07a05a": RunSpec("imagenet", "resnet34", recipe=rk.config.IMAGENET),
    "8782e3403a52": RunSpec("fashion-mnist-mini", "vgg19", recipe=Recipe(epochs=2, batch_size=32, nesterov=True),
                            hooks=(BNL1Penalty(1e-4),)),
}


def test_existing_run_keys_are_unchanged():
    for key, spec in PINNED.items():
        assert spec.key() == key
    paper = pipeline.protocol("cifar10")
    assert pipeline.parent_spec(paper, pipeline.target("resnet56-a")).key() == "76e5d373df5e"
    assert pipeline.parent_spec(paper, pipeline.target("preresnet164-p40")).key() == "7487b82233c7"
    small = pipeline.protocol("fashion-mnist-mini", epochs=3, train_subset=200)
    assert pipeline.parent_spec(small, pipeline.target("resnet56-a")).key() == "117ef68edd94"
    warm = RunSpec("cifar10", "resnet56", recipe=Recipe(warmup_epochs=1))
    assert warm.key() != "76e5d373df5e"  # a warm-up is part of the run's name


# --- bad input -------------------------------------------------------------------------------


def test_bad_specs_and_recipes_say_what_is_wrong():
    with pytest.raises(ValueError, match="SFP ratio"):
        SFPSpec(1.2)
    with pytest.raises(TypeError, match="a number"):
        SFPSpec("0.3")
    with pytest.raises(TypeError, match="a number"):
        SFPSpec(True)
    with pytest.raises(TypeError, match="pretrained is True or False"):
        SFPSpec(0.3, pretrained="yes")
    with pytest.raises(ValueError, match="pretrained_lr_scale"):
        SFPSpec(0.3, pretrained=True, pretrained_lr_scale=0)
    with pytest.raises(ConfigError, match="warmup_epochs must be a non-negative integer"):
        Recipe(warmup_epochs=-1)
    with pytest.raises(ConfigError, match="warmup_epochs must be a non-negative integer"):
        Recipe(warmup_epochs=1.5)
    with pytest.raises(ConfigError, match=r"warmup_epochs \(3\) must be fewer than epochs \(3\)"):
        Recipe(epochs=3, warmup_epochs=3)
    for factor in (0, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="warmup_factor"):
            Recipe(warmup_factor=factor)
    with pytest.raises(TypeError, match="SFPSpec"):
        rk.pruning.prune("sfp", _model(), rk.pruning.L1Spec(ratio=0.3))
    with pytest.raises(ValueError, match="no prunable conv widths"):
        rk.pruning.prune("sfp", rk.models.build("densenet40"), SFPSpec(0.3))
    with pytest.raises(ValueError, match="trains nothing"):
        pipeline.strategy("pruned").recipe(pipeline.protocol("cifar10"), 2.0, 1.0, "sfp")
    with pytest.raises(ValueError, match="only inherited trained weights"):
        pipeline.Strategy("look", start="fresh", schedule=pipeline.NO_TRAINING)
    target = pipeline.Target("resnet20-sfp30", "resnet20", SFPSpec(0.3), "sfp")
    with pytest.raises(ValueError, match="no fine-tuning recipe"):  # before anything trains
        pipeline.run(pipeline.protocol("cifar10"), [target], seeds=[0], strategies=["fine-tune"], data=object())


# --- the paper's tables ------------------------------------------------------------------------


def test_tables_10_and_11_are_data_with_a_config_per_row():
    t10, t11 = rk.paper.table(10), rk.paper.table(11)
    assert len(t10) == 15 * 3 + 6 and len(t11) == 3 * 3 + 2
    for table, pretrained in ((t10, False), (t11, True)):
        assert set(table["strategy"]) == {"unpruned", "pruned", "scratch-e", "scratch-b"}
        for _, row in table[table.strategy != "unpruned"].iterrows():
            c = rk.paper.config(row["config"])
            assert c.method == "sfp" and c.spec == SFPSpec(row["ratio"], pretrained=pretrained)
            assert pipeline.strategy(row["strategy"]).name == row["strategy"]
            if row["dataset"] == "cifar10":
                assert c.model in rk.models.names() and row["n"] == 5
    cell = t10.set_index(["config", "strategy"])
    assert cell.loc[("resnet56-sfp40", "scratch-b"), ["mean", "std"]].tolist() == [93.07, 0.25]
    assert cell.loc[("resnet34-sfp30", "pruned"), "n"] == 1 and math.isnan(cell.loc[("resnet34-sfp30", "pruned"), "std"])
    assert rk.paper.config("resnet110-sfp30-pretrained").row(11) == {
        "unpruned": (93.77, 0.23), "pruned": (93.46, 0.19), "scratch-e": (93.89, 0.17), "scratch-b": (94.37, 0.24)}
    # the pretrained models are Table 10's unpruned ones
    unpruned = t10[t10.strategy == "unpruned"].set_index("config")["mean"]
    for _, row in t11[t11.strategy == "unpruned"].iterrows():
        assert unpruned[row["config"]] == row["mean"]
    assert [c.name for c in rk.paper.configs(method="sfp", table=11)] == [
        "resnet56-sfp30-pretrained", "resnet56-sfp40-pretrained", "resnet110-sfp30-pretrained"]


# --- the protocol, end to end ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sfp_runs(mini, tmp_path_factory):
    torch.set_num_threads(1)
    store = rk.runs.Store(tmp_path_factory.mktemp("store"))
    protocol = pipeline.Protocol("fashion-mnist-mini", epochs=3, train_subset=128, test_subset=100)
    targets = [pipeline.Target("resnet20-sfp30", "resnet20", SFPSpec(0.3), "sfp"),
               pipeline.Target("resnet20-sfp30-pretrained", "resnet20", SFPSpec(0.3, pretrained=True), "sfp")]
    df = pipeline.run(protocol, targets, seeds=[0], strategies=pipeline.APPENDIX_A, data=mini, store=store,
                      progress=False)
    return store, protocol, targets, df


def test_sfp_runs_fresh_and_pretrained_through_the_protocol(sfp_runs, mini):
    store, protocol, targets, df = sfp_runs
    assert list(zip(df["config"], df["strategy"])) == [
        ("resnet20", "unpruned"), ("resnet20-sfp30", "soft-pruned"), ("resnet20-sfp30", "pruned"),
        ("resnet20-sfp30", "scratch-e"), ("resnet20-sfp30", "scratch-b"),
        ("resnet20-sfp30-pretrained", "soft-pruned"), ("resnet20-sfp30-pretrained", "pruned"),
        ("resnet20-sfp30-pretrained", "scratch-e"), ("resnet20-sfp30-pretrained", "scratch-b")]
    row = {(c, s): r for c, s, r in zip(df["config"], df["strategy"], df.to_dict("records"))}
    plain, fresh, warm = (row[("resnet20", "unpruned")], row[("resnet20-sfp30", "soft-pruned")],
                          row[("resnet20-sfp30-pretrained", "soft-pruned")])
    sfp_recipe = protocol.large_for("sfp")
    assert sfp_recipe.epochs == 4 and plain["epochs"] == fresh["epochs"] == warm["epochs"] == 4  # 200/160 x 3
    assert plain["lr"] == fresh["lr"] == 0.1 and warm["lr"] == pytest.approx(0.01)
    # the unpruned model trains plainly; the pretrained SFP run starts from its trained weights, bit for bit
    plain_key = plain["key"].split("/")[0]
    assert fresh["init"] == "scratch" and warm["init"] == f"{plain_key}|trained"
    warm_dir = store.root / warm["key"]
    assert (warm_dir / "init.sha256").read_text() == state_digest(torch.load(store.root / plain["key"] / "model.pt"))
    # the soft-pruned models: exactly int(C * p) zero filters in every block's first conv
    for r in (fresh, warm):
        state = torch.load(store.root / r["key"] / "model.pt")
        for layer in rk.models.build("resnet20", in_channels=1).prunable_layers():
            w = state[f"{layer.conv}.weight"]
            assert int((w.flatten(1).abs().sum(1) == 0).sum()) == int(w.shape[0] * 0.3)
    # "pruned": the physically pruned soft-pruned model, evaluated without training
    for t in targets:
        pruned_row = row[(t.name, "pruned")]
        assert pruned_row["epochs"] == 0 and pruned_row["key"] == row[(t.name, "soft-pruned")]["key"]
        assert pruned_row["macs"] == row[(t.name, "scratch-e")]["macs"] < plain["macs"]
        large = rk.runs.Run(pipeline.parent_spec(protocol, t), 0, store.root / pruned_row["key"])
        small = rk.pruning.prune("sfp", large.load_model(), t.spec).model
        top1 = rk.train.evaluate(small, mini.subset(n_train=128, n_test=100))["test_top1"]
        assert pruned_row["final_top1"] == pytest.approx(top1)
    # Scratch-E/B train SFP's recipe (not the protocol's); both targets share them: the same architecture
    e, b = row[("resnet20-sfp30", "scratch-e")], row[("resnet20-sfp30", "scratch-b")]
    assert e["key"] == row[("resnet20-sfp30-pretrained", "scratch-e")]["key"] and e["epochs"] == 4
    assert b["epochs"] == rk.budget.scratch_b(plain["macs"], b["macs"], sfp_recipe).epochs > 4
    for r in (e, b):
        recipe = json.loads((store.root / r["key"].split("/")[0] / "spec.json").read_text())["recipe"]
        assert (recipe["batch_size"], recipe["weight_decay"], recipe["nesterov"], recipe["warmup_epochs"]) == (
            128, 5e-4, True, 1)


def test_rerunning_sfp_trains_nothing(sfp_runs, mini, monkeypatch):
    store, protocol, targets, df = sfp_runs

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(rk.runs, "train", refuse)
    again = pipeline.run(protocol, targets, seeds=[0], strategies=pipeline.APPENDIX_A, data=mini, store=store,
                         progress=False)
    assert again.drop(columns="seconds").equals(df.drop(columns="seconds"))

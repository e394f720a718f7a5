"""The hand-off from pruning to training: starts, masks, budgets, the pruning cache, what every
run records (initial-weight digest, provenance, hook state), and the protocol's progress line."""
import dataclasses

import pytest
import torch

import rethinkkit as rk
from rethinkkit import flops, pipeline
from rethinkkit.pruning import Pruned, surgery

TARGET = pipeline.uniform("resnet20", 0.5)


@pytest.fixture
def protocol():
    return pipeline.Protocol("fashion-mnist-mini", epochs=2, finetune_epochs=1, train_subset=128, test_subset=100)


def _masked(model: torch.nn.Module, keep: float = 0.25, seed: int = 0) -> Pruned:
    """A weight-level 'pruning' of every conv: random masks, masked weights zeroed (what
    magnitude pruning will hand over), with its nonzero MACs."""
    g = torch.Generator().manual_seed(seed)
    masks = {name: (torch.rand(p.shape, generator=g) < keep).float()
             for name, p in model.named_parameters() if p.dim() == 4}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in masks:
                p.mul_(masks[name])
    counts = flops.count_nonzero(model, (1, 32, 32))
    return Pruned(arch=model.arch, kept={}, model=model, method="l1-norm", spec=TARGET.spec,
                  macs=counts.macs, params=counts.params, masks=masks)


def test_masks_become_a_hook_and_scratch_b_counts_nonzero_macs(protocol):
    """The original weight-level Scratch-B measured MACs before loading the pruned weights, so
    its ratio was 1 (REFERENCE bug 1): here the budget comes from the masked model's nonzero MACs."""
    torch.manual_seed(0)
    large = rk.models.build("resnet20", in_channels=1)
    base_macs = flops.count(large, (1, 32, 32)).macs
    pruned = _masked(large)
    assert pruned.macs < 0.5 * base_macs
    parent = pipeline.parent_spec(protocol, TARGET)
    spec = pipeline.child_spec(parent, pruned, TARGET, pipeline.strategy("scratch-b"), protocol, base_macs)
    (hook,) = spec.hooks
    assert isinstance(hook, rk.train.WeightMasks) and set(hook.masks) == set(pruned.masks)
    assert spec.recipe.epochs == rk.budget.scratch_b(base_macs, pruned.macs, protocol.large_recipe).epochs > 2 * 2
    assert spec.cfg == tuple(large.cfg)  # weight-level: the architecture is the large one


def test_a_rescaled_start_redraws_each_masked_layer_for_its_kept_weights():
    """The original scratch scripts: N(0, sqrt(2 / n)), n = kept weights / in_channels, masked
    (for an unmasked layer that is the fan_out Kaiming std); the rest is the seed's fresh init."""
    torch.manual_seed(0)
    pruned = _masked(rk.models.build("resnet56", in_channels=1), keep=0.25)
    state = pipeline._rescaled(pruned, seed=3)
    torch.manual_seed(3)
    fresh = rk.models.from_arch(pruned.arch).state_dict()
    assert torch.equal(state["fc.weight"], fresh["fc.weight"])
    for name, mask in pruned.masks.items():
        kept = state[name][mask.bool()]
        assert bool((state[name][mask == 0] == 0).all())
        expected = (2 * mask.shape[1] / float(mask.sum())) ** 0.5
        if kept.numel() > 2000:  # the sample std of enough draws is within 5% of the rule
            assert kept.std().item() == pytest.approx(expected, rel=0.05), name
    (name, mask), *_ = [(n, m) for n, m in pruned.masks.items() if m.shape[0] == m.shape[1] == 64]
    whole = 9 * 64  # fan_out of a 64 -> 64 conv3x3: the rescaled std is that of the kept quarter
    assert (2 * 64 / float(mask.sum())) ** 0.5 == pytest.approx((2 / whole / 0.25) ** 0.5, rel=0.05)


def test_every_run_records_its_initial_weights_and_where_it_came_from(store, mini):
    spec = rk.RunSpec("fashion-mnist-mini", "resnet20", cfg=[4] * 9, recipe=rk.Recipe(epochs=2), train_subset=128)
    run = store.get_or_run(spec, 5, data=mini)
    row = run.history.iloc[0]
    rebuilt = store.initial_model(spec, 5, mini)
    assert row["init_sha256"] == rk.train.state_digest(rebuilt.state_dict())  # rebuilt bit-identically
    assert row["source"].startswith("rethinkkit ") and row["torch"] == torch.__version__ and "cores" in row["hardware"]
    assert {"source", "torch", "hardware", "init_sha256"} <= set(rk.report.results([run]).columns)
    (run.path / "init.sha256").write_text("0" * 64)
    with pytest.raises(RuntimeError, match="cannot be rebuilt bit-identically"):
        store.initial_model(spec, 5, mini)
    with pytest.raises(ValueError, match="only a from-scratch run"):
        store.initial_model(dataclasses.replace(spec, init="parent x"), 5, mini)


def test_an_original_init_start_is_the_parents_initialisation_pruned(mini, store, protocol, one_thread):
    """A lottery-ticket start: the pruned structure with the large run's *initial* weights.
    At lr 1e-12 the child ends where it started, so its weights are the parent's init, pruned."""
    still = rk.Recipe(epochs=1, lr=1e-12, milestones=(), weight_decay=0.0, momentum=0.0)
    ticket = pipeline.Strategy("winning-ticket", start="original", schedule="finetune")
    protocol = dataclasses.replace(protocol, finetune=still)
    df = pipeline.run(protocol, [TARGET], seeds=[0], strategies=[ticket], data=mini, store=store, progress=False)
    large_key, child_key = df["key"]
    assert df["init"].iloc[1].endswith("|original-init")
    parent = pipeline.parent_spec(protocol, TARGET)
    large = rk.runs.Run(parent, 0, store.root / large_key)
    expected = surgery.extract(store.initial_model(parent, 0, mini), pipeline.pruned_of(large, TARGET, mini).kept)
    child = torch.load(store.root / child_key / "model.pt", weights_only=True)
    for name, value in expected.state_dict().items():
        if name.endswith("weight") and value.dim() == 4:
            assert torch.allclose(child[name], value, atol=1e-9), name
    trained = large.state_dict()
    assert not torch.allclose(child["conv1.weight"], trained["conv1.weight"])  # not the trained weights


def test_pruning_is_computed_once_per_parent_run_and_a_bad_cache_is_redone(mini, store, protocol, monkeypatch, one_thread):
    first = pipeline.run(protocol, [TARGET], seeds=[0], strategies=["scratch-e"], data=mini, store=store, progress=False)
    large = store.get(pipeline.parent_spec(protocol, TARGET), 0)
    (cache,) = (large.path / "pruned").glob("l1-norm-*.pt")
    real = rk.pruning.prune
    monkeypatch.setattr(rk.pruning, "prune", lambda *a, **k: pytest.fail("pruned again"))
    again = pipeline.run(protocol, [TARGET], seeds=[0], strategies=["fine-tune"], data=mini, store=store, progress=False)
    assert again["key"].iloc[0] == first["key"].iloc[0]
    cache.write_bytes(b"damaged")
    monkeypatch.setattr(rk.pruning, "prune", real)
    with pytest.warns(rk.files.CorruptFile, match="pruning cache .* cannot be read"):
        cached = pipeline.pruned_of(large, TARGET, mini)
    assert cached.cfg == rk.pruning.prune("l1-norm", large.load_model(), TARGET.spec).cfg
    assert list((large.path / "pruned").glob("*.corrupt-*"))


def test_hook_state_is_checkpointed_and_restored_on_resume(tiny, tmp_path):
    @dataclasses.dataclass(frozen=True, eq=False)
    class CountSteps(rk.train.Hook):
        seen: list = dataclasses.field(default_factory=lambda: [0])

        def after_step(self, model):
            self.seen[0] += 1

        def on_epoch_end(self, model, epoch):
            if epoch == 1 and not getattr(self, "resumed", False):
                raise KeyboardInterrupt

        def state_dict(self):
            return {"steps": self.seen[0]}

        def load_state_dict(self, state):
            object.__setattr__(self, "resumed", True)
            self.seen[0] = state["steps"]

    ckpt = tmp_path / "ck.pt"
    steps_per_epoch = tiny.num_train_batches(64)
    model = rk.models.build("resnet20", cfg=[4] * 9, in_channels=1)
    with pytest.raises(KeyboardInterrupt):
        rk.train.train(model, tiny, rk.Recipe(epochs=3), hooks=[CountSteps()], checkpoint=ckpt, progress=False)
    resumed = CountSteps()
    rk.train.train(rk.models.build("resnet20", cfg=[4] * 9, in_channels=1), tiny, rk.Recipe(epochs=3),
                   hooks=[resumed], checkpoint=ckpt, progress=False)
    assert resumed.seen[0] == 3 * steps_per_epoch  # epoch 1's steps came back from the checkpoint


def test_the_protocol_shows_one_progress_line_over_all_runs(mini, store, protocol, capsys, one_thread):
    pipeline.run(protocol, [TARGET], seeds=[0], strategies=["scratch-e"], data=mini, store=store, progress=True)
    first = capsys.readouterr().err
    assert "protocol" in first and "2/2" in first and "now: resnet20-uniform-0.5 scratch-e seed 0" in first
    pipeline.run(protocol, [TARGET], seeds=[0], strategies=["scratch-e"], data=mini, store=store, progress=True)
    assert "from the store 2" in capsys.readouterr().err

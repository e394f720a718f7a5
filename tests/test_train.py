import math

import pytest
import torch
from torch import nn

import rethinkkit as rk
from rethinkkit.config import Recipe
from rethinkkit.train import BNL1Penalty, Hook, TrainingDiverged, WeightMasks, evaluate, train

SMALL = dict(num_classes=10, in_channels=1)


def small_resnet():
    torch.manual_seed(0)
    return rk.models.build("resnet20", cfg=rk.models.uniform_cfg("resnet20", 0.75), **SMALL)


def test_training_learns_real_data(mini):
    model = small_resnet()
    before = evaluate(model, mini)["test_top1"]
    result = train(model, mini, Recipe(epochs=3), seed=0)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.final_top1 > max(before, 30.0)  # 10 balanced classes: chance is 10%
    assert result.best_top1 >= result.final_top1 and 1 <= result.best_epoch <= 3


def test_lr_schedule_in_history(tiny):
    result = train(small_resnet(), tiny, Recipe(epochs=4), seed=0)
    assert [row["lr"] for row in result.history] == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_same_seed_same_weights_different_seed_different(tiny):
    a, b, c = small_resnet(), small_resnet(), small_resnet()
    for model, seed in ((a, 1), (b, 1), (c, 2)):
        train(model, tiny, Recipe(epochs=1), seed=seed)
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_no_host_sync_per_step(tiny, monkeypatch):
    """Loss and accuracy accumulate on the device: reads happen per epoch, not per step."""
    calls = []
    original = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append(1) or original(self))
    epochs, steps = 2, tiny.num_train_batches(64)
    assert steps >= 4
    train(small_resnet(), tiny, Recipe(epochs=epochs), seed=0)
    assert len(calls) <= 4 * epochs  # train loss, train top-1, test loss, test top-1


def test_nan_stops_with_clear_message_and_keeps_last_good_checkpoint(tiny, tmp_path):
    class PoisonInSecondEpoch(Hook):
        epoch = 0

        def after_step(self, model):
            if self.epoch == 1:
                with torch.no_grad():
                    next(model.parameters()).fill_(math.nan)

        def on_epoch_end(self, model, epoch):
            self.epoch = epoch + 1

    ckpt = tmp_path / "ck.pt"
    with pytest.raises(TrainingDiverged, match=r"epoch 2 of 3.*last good checkpoint \(epoch 1\)"):
        train(small_resnet(), tiny, Recipe(epochs=3), seed=0, hooks=[PoisonInSecondEpoch()], checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=False)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_a_non_finite_test_loss_is_divergence(tiny, tmp_path):
    """The training loss can stay finite while evaluation is NaN (here: a poisoned BN statistic)."""

    class PoisonStatistics(Hook):
        def on_epoch_end(self, model, epoch):
            if epoch == 1:
                bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
                bn.running_var.fill_(math.nan)

    ckpt = tmp_path / "ck.pt"
    with pytest.raises(TrainingDiverged, match=r"epoch 2 of 3 .*the test loss became nan; the last good checkpoint \(epoch 1\)"):
        train(small_resnet(), tiny, Recipe(epochs=3), seed=0, hooks=[PoisonStatistics()], checkpoint=ckpt)
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1


def test_a_loss_far_above_chance_is_divergence(tiny):
    with pytest.raises(TrainingDiverged, match=r"epoch 1 of 2 at lr 1e\+06: the training loss (became|reached)"):
        train(small_resnet(), tiny, Recipe(epochs=2, lr=1e6), seed=0)
    assert rk.train.DIVERGED_FACTOR * math.log(10) == pytest.approx(23.03, abs=0.01)


def test_hooks_are_called_in_order(tiny):
    events = []

    class Recorder(Hook):
        def on_start(self, model):
            events.append("start")

        def after_backward(self, model):
            assert all(p.grad is not None for p in model.parameters())
            events.append("backward")

        def after_step(self, model):
            events.append("step")

        def on_epoch_end(self, model, epoch):
            events.append(f"end{epoch}")

    train(small_resnet(), tiny, Recipe(epochs=2), seed=0, hooks=[Recorder()])
    steps = tiny.num_train_batches(64)
    assert events == ["start"] + (["backward", "step"] * steps + ["end0"]) + (["backward", "step"] * steps + ["end1"])


def test_bn_l1_penalty_adds_sign_of_gamma():
    model = small_resnet()
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(-1, 1, bn.weight.numel()))
    model(torch.randn(4, 1, 32, 32)).sum().backward()
    before = bn.weight.grad.clone()
    BNL1Penalty(s=1e-2).after_backward(model)
    assert torch.allclose(bn.weight.grad - before, 1e-2 * torch.sign(bn.weight.detach()))


def test_weight_masks_keep_pruned_weights_at_zero(tiny):
    model = small_resnet()
    name, weight = next((n, p) for n, p in model.named_parameters() if p.dim() == 4)
    mask = (torch.rand_like(weight) > 0.5).float()
    hook = WeightMasks({name: mask})
    train(model, tiny, Recipe(epochs=1), seed=0, hooks=[hook])
    trained = dict(model.named_parameters())[name]
    assert torch.all(trained[mask == 0] == 0)
    assert torch.any(trained[mask == 1] != 0)
    assert hook.key_data() == WeightMasks({name: mask.clone()}).key_data()
    assert hook.key_data() != WeightMasks({name: 1 - mask}).key_data()
    with pytest.raises(KeyError, match="does not have"):
        WeightMasks({"nope.weight": mask}).on_start(model)


def test_recipe_type_checked(tiny):
    with pytest.raises(TypeError, match="Recipe"):
        train(small_resnet(), tiny, {"epochs": 1})


def test_progress_bar_shows_by_default_and_is_quiet_in_batch_mode(tiny, monkeypatch, capsys):
    monkeypatch.delenv("RETHINKKIT_QUIET", raising=False)
    train(small_resnet(), tiny, Recipe(epochs=1), seed=0, desc="bar-check")
    assert "bar-check" in capsys.readouterr().err
    monkeypatch.setenv("RETHINKKIT_QUIET", "1")
    train(small_resnet(), tiny, Recipe(epochs=1), seed=0, desc="bar-check")
    assert "bar-check" not in capsys.readouterr().err

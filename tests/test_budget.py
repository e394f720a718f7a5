import pytest

from rethinkkit import budget
from rethinkkit.config import IMAGENET, Recipe


def test_cifar_scratch_b_rule():
    # VGG-16 -> VGG-16-A in Li et al.: 3.13e8 -> 2.06e8 MACs
    r = budget.scratch_b(3.13e8, 2.06e8)
    assert r.epochs == int(160 * 3.13e8 / 2.06e8) == 243
    assert r.milestone_epochs == (int(0.5 * 243), int(0.75 * 243)) == (121, 182)
    assert (r.lr, r.batch_size, r.weight_decay) == (0.1, 64, 1e-4)  # only the length changes


def test_scratch_e_is_the_large_recipe():
    assert budget.scratch_e(Recipe()) == Recipe()
    assert budget.scratch_b(1.0, 1.0).epochs == 160  # an unpruned model: Scratch-B = Scratch-E


@pytest.mark.parametrize(
    "ratio, epochs, milestones",
    [
        (2.0, 180, (60, 120)),  # >= 2x: double the epochs, drops every 60 (paper, Section 3)
        (3.7, 180, (60, 120)),
        (1.5, 135, (45, 90)),  # else int(90 * ratio), drops every E/3
        (1.3, 117, (39, 78)),  # SSS ResNet-41's 117 epochs (REFERENCE.md)
    ],
)
def test_imagenet_capped_rule(ratio, epochs, milestones):
    r = budget.scratch_b(ratio, 1.0, IMAGENET, rule="imagenet")
    assert r.epochs == epochs
    assert r.milestone_epochs == milestones


def test_extended_schedule_scales_from_the_recipe():
    # Appendix E: a 300-epoch large model; Scratch-B scales from 300
    assert budget.scratch_b(2.0, 1.0, Recipe(epochs=300)).epochs == 600


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="costs more"):
        budget.scratch_b(1e8, 2e8)
    with pytest.raises(ValueError, match="positive"):
        budget.scratch_b(0, 1e8)
    with pytest.raises(ValueError, match="rule"):
        budget.scratch_b(2e8, 1e8, rule="mnist")


def test_describe_row():
    row = budget.describe(2e8, 1e8)
    assert row["macs_ratio"] == 2.0
    assert row["scratch_b_epochs"] == 320 and row["scratch_b_milestones"] == (160, 240)
    assert row["scratch_e_epochs"] == 160

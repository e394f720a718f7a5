"""What every pruning method returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class Pruned:
    """The result of pruning a trained model.

    cfg:    the pruned architecture (plain data; Scratch-E/B read only this)
    kept:   cfg position -> the kept output channels of that layer, ascending
            (positions left whole are absent)
    model:  the small model with the kept weights inherited from the large one
    method: the registered method's name; spec: what it was asked to do
    """

    cfg: list
    kept: dict[int, list[int]]
    model: nn.Module
    method: str
    spec: Any = field(default=None)

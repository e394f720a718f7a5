"""The paper's settings and numbers as named data, next to their citations.

Pruned architectures here are the predefined targets of L1-norm filter pruning
(Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017), as used in Table 1 of
Liu et al. 2019; the cfgs are those of the original code (REFERENCE.md).
"""
from __future__ import annotations

from dataclasses import dataclass

LI_2017 = "Li et al., Pruning Filters for Efficient ConvNets, ICLR 2017"
LIU_2019 = "Liu et al., Rethinking the Value of Network Pruning, ICLR 2019"


@dataclass(frozen=True)
class PrunedConfig:
    name: str  # the paper's name, lower-case: "resnet56-a"
    model: str  # registered base model
    cfg: tuple  # the pruned channel cfg ('M' = max-pool in VGG)
    dataset: str  # where the paper reports it
    params_pruned: float  # % of parameters removed, as reported (Liu et al. 2019, Table 1)
    macs_pruned: float  # % of MACs removed, as reported by Li et al. 2017 (Table 2)
    citation: str = LI_2017


M = "M"
CONFIGS = {
    c.name: c
    for c in (
        PrunedConfig(
            "vgg16-a", "vgg16",
            (32, 64, M, 128, 128, M, 256, 256, 256, M, 256, 256, 256, M, 256, 256, 256),
            "cifar10", params_pruned=64.0, macs_pruned=34.2,
        ),
        PrunedConfig(
            "resnet56-a", "resnet56",
            (14,) * 7 + (16, 14) + (32,) + (28,) * 8 + (64,) + (57,) * 7 + (64,),
            "cifar10", params_pruned=9.4, macs_pruned=10.4,
        ),
        PrunedConfig(
            "resnet56-b", "resnet56",
            (6,) * 7 + (16, 16) + (32,) + (22,) * 6 + (32, 22) + (64,) + (57,) * 7 + (64,),
            "cifar10", params_pruned=13.7, macs_pruned=27.6,
        ),
        PrunedConfig(
            "resnet110-a", "resnet110",
            (8,) * 17 + (16,) + (32,) * 18 + (64,) * 18,
            "cifar10", params_pruned=2.3, macs_pruned=15.9,
        ),
        PrunedConfig(
            "resnet110-b", "resnet110",
            (8,) * 17 + (16,) + (32,) + (19,) * 17 + (64,) + (44,) * 17,
            "cifar10", params_pruned=32.4, macs_pruned=38.6,
        ),
    )
}


def config(name: str) -> PrunedConfig:
    """A predefined pruned architecture by the paper's name, e.g. config("resnet56-a")."""
    key = name.lower()
    if key not in CONFIGS:
        raise ValueError(f"unknown pruned config {name!r}; known: {', '.join(CONFIGS)}")
    return CONFIGS[key]


def configs() -> list[PrunedConfig]:
    return list(CONFIGS.values())

"""The paper's settings and numbers as named data, next to their citations.

Pruned architectures here are the predefined targets of L1-norm filter pruning
(Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017), as used in Table 1 of
Liu et al. 2019: each is the L1Spec the original code prunes with, and the cfg it gives
(REFERENCE.md). Reported accuracies are top-1 test accuracy in %, mean and std over
5 seeds on CIFAR, single runs on ImageNet.

    rk.paper.config("resnet56-a").spec      # L1Spec(skip=(16, 20, 38, 54), ratios=(0.1, 0.1, 0.1))
    rk.paper.table(1)                       # Table 1 as tidy rows: config, strategy, mean, std, n
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .pruning import L1Spec
from .pruning.l1_norm import LI_2017
LIU_2019 = "Liu et al., Rethinking the Value of Network Pruning, ICLR 2019"
LIU_2019_SLIDES = "Liu et al., Rethinking the Value of Network Pruning, ICLR 2019 talk slides ('Discussions')"

M = "M"
NAN = math.nan


@dataclass(frozen=True)
class PrunedConfig:
    name: str  # the paper's name, lower-case: "resnet56-a"
    model: str  # registered base model
    cfg: tuple  # the pruned channel cfg ('M' = max-pool in VGG); what `spec` gives
    dataset: str  # where the paper reports it
    params_pruned: float  # % of parameters removed, as reported (Liu et al. 2019, Table 1)
    macs_pruned: float  # % of MACs removed, as reported by Li et al. 2017 (Table 2)
    spec: L1Spec  # how L1-norm pruning reaches `cfg` (Li et al. 2017, Section 4)
    method: str = "l1-norm"
    num_classes: int = 10
    image_size: int = 32  # input side length the MACs are counted at
    citation: str = LI_2017

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    def row(self, table: int | str = 1) -> dict:
        """This config's reported accuracies in a paper table: {strategy: (mean, std)}."""
        rows = _TABLES[_table_id(table)][1]
        found = {s: (m, sd) for c, s, m, sd in rows if c in (self.name, self.model)}
        if not any(c == self.name for c, *_ in rows):
            raise ValueError(f"{self.name} is not in table {table}")
        return found


SKIP_34 = (2, 8, 14, 16, 26, 28, 30, 32)  # Li et al.: layers sensitive to pruning stay whole
CONFIGS = {
    c.name: c
    for c in (
        PrunedConfig(
            "vgg16-a", "vgg16",
            (32, 64, M, 128, 128, M, 256, 256, 256, M, 256, 256, 256, M, 256, 256, 256),
            "cifar10", params_pruned=64.0, macs_pruned=34.2,
            spec=L1Spec(cfg=(32, 64, M, 128, 128, M, 256, 256, 256, M, 256, 256, 256, M, 256, 256, 256)),
        ),
        PrunedConfig(
            "resnet56-a", "resnet56",
            (14,) * 7 + (16, 14) + (32,) + (28,) * 8 + (64,) + (57,) * 7 + (64,),
            "cifar10", params_pruned=9.4, macs_pruned=10.4,
            spec=L1Spec(skip=(16, 20, 38, 54), ratios=(0.1, 0.1, 0.1)),
        ),
        PrunedConfig(
            "resnet56-b", "resnet56",
            (6,) * 7 + (16, 16) + (32,) + (22,) * 6 + (32, 22) + (64,) + (57,) * 7 + (64,),
            "cifar10", params_pruned=13.7, macs_pruned=27.6,
            spec=L1Spec(skip=(16, 18, 20, 34, 38, 54), ratios=(0.6, 0.3, 0.1)),
        ),
        PrunedConfig(
            "resnet110-a", "resnet110",
            (8,) * 17 + (16,) + (32,) * 18 + (64,) * 18,
            "cifar10", params_pruned=2.3, macs_pruned=15.9,
            spec=L1Spec(skip=(36,), ratios=(0.5, 0.0, 0.0)),
        ),
        PrunedConfig(
            "resnet110-b", "resnet110",
            (8,) * 17 + (16,) + (32,) + (19,) * 17 + (64,) + (44,) * 17,
            "cifar10", params_pruned=32.4, macs_pruned=38.6,
            spec=L1Spec(skip=(36, 38, 74), ratios=(0.5, 0.4, 0.3)),
        ),
        PrunedConfig(
            "resnet34-a", "resnet34",
            (64, 44, 44, 128, 89, 89, 128, 256, 179, 179, 179, 179, 256, 512, 512, 512),
            "imagenet", params_pruned=7.6, macs_pruned=15.5,
            spec=L1Spec(skip=SKIP_34, ratios=(0.3, 0.3, 0.3, 0.0)), num_classes=1000, image_size=224,
        ),
        PrunedConfig(
            "resnet34-b", "resnet34",
            (64, 32, 32, 128, 51, 51, 128, 256, 153, 153, 153, 153, 256, 512, 512, 512),
            "imagenet", params_pruned=10.8, macs_pruned=24.2,
            spec=L1Spec(skip=SKIP_34, ratios=(0.5, 0.6, 0.4, 0.0)), num_classes=1000, image_size=224,
        ),
    )
}


def config(name: str) -> PrunedConfig:
    """A predefined pruned architecture by the paper's name, e.g. config("resnet56-a")."""
    key = name.lower() if isinstance(name, str) else name
    if key not in CONFIGS:
        raise ValueError(f"unknown pruned config {name!r}; known: {', '.join(CONFIGS)}")
    return CONFIGS[key]


def configs(dataset: str | None = None) -> list[PrunedConfig]:
    """Every predefined config, or those the paper reports on `dataset` ("cifar10", "imagenet")."""
    return [c for c in CONFIGS.values() if dataset is None or c.dataset == dataset]


# Reported accuracies. A row: (config or, for "unpruned", the base model, strategy, mean, std).
# Strategy names are the columns of rethinkkit's tables (rk.pipeline strategies).
_TABLE_1 = [
    ("vgg16", "unpruned", 93.63, 0.16),
    ("vgg16-a", "fine-tune", 93.41, 0.12), ("vgg16-a", "scratch-e", 93.62, 0.11), ("vgg16-a", "scratch-b", 93.78, 0.15),
    ("resnet56", "unpruned", 93.14, 0.12),
    ("resnet56-a", "fine-tune", 92.97, 0.17), ("resnet56-a", "scratch-e", 92.96, 0.26),
    ("resnet56-a", "scratch-b", 93.09, 0.14),
    ("resnet56-b", "fine-tune", 92.67, 0.14), ("resnet56-b", "scratch-e", 92.54, 0.19),
    ("resnet56-b", "scratch-b", 93.05, 0.18),
    ("resnet110", "unpruned", 93.14, 0.24),
    ("resnet110-a", "fine-tune", 93.14, 0.16), ("resnet110-a", "scratch-e", 93.25, 0.29),
    ("resnet110-a", "scratch-b", 93.22, 0.22),
    ("resnet110-b", "fine-tune", 92.69, 0.09), ("resnet110-b", "scratch-e", 92.89, 0.43),
    ("resnet110-b", "scratch-b", 93.60, 0.25),
    ("resnet34", "unpruned", 73.31, NAN),
    ("resnet34-a", "fine-tune", 72.56, NAN), ("resnet34-a", "scratch-e", 72.77, NAN), ("resnet34-a", "scratch-b", 73.03, NAN),
    ("resnet34-b", "fine-tune", 72.29, NAN), ("resnet34-b", "scratch-e", 72.55, NAN), ("resnet34-b", "scratch-b", 72.91, NAN),
]
_TABLE_16 = [  # Appendix D: fine-tuning for 40/80/160 epochs vs Scratch-E (160 epochs)
    ("vgg16-a", "fine-tune-40", 93.40, 0.12), ("vgg16-a", "fine-tune-80", 93.45, 0.06),
    ("vgg16-a", "fine-tune-160", 93.45, 0.08), ("vgg16-a", "scratch-e", 93.62, 0.11),
    ("resnet56-a", "fine-tune-40", 92.97, 0.17), ("resnet56-a", "fine-tune-80", 92.92, 0.15),
    ("resnet56-a", "fine-tune-160", 92.94, 0.16), ("resnet56-a", "scratch-e", 92.96, 0.26),
    ("resnet56-b", "fine-tune-40", 92.68, 0.19), ("resnet56-b", "fine-tune-80", 92.67, 0.14),
    ("resnet56-b", "fine-tune-160", 92.76, 0.16), ("resnet56-b", "scratch-e", 92.54, 0.19),
    ("resnet110-a", "fine-tune-40", 93.14, 0.16), ("resnet110-a", "fine-tune-80", 93.12, 0.19),
    ("resnet110-a", "fine-tune-160", 93.04, 0.22), ("resnet110-a", "scratch-e", 93.25, 0.29),
    ("resnet110-b", "fine-tune-40", 92.69, 0.09), ("resnet110-b", "fine-tune-80", 92.75, 0.15),
    ("resnet110-b", "fine-tune-160", 92.76, 0.16), ("resnet110-b", "scratch-e", 92.89, 0.43),
]
_TABLE_17 = [  # Appendix E: the large model trained 300 epochs instead of 160
    ("vgg16", "unpruned", 93.79, 0.05),
    ("vgg16-a", "fine-tune", 93.67, 0.11), ("vgg16-a", "scratch-e", 93.74, 0.14), ("vgg16-a", "scratch-b", 93.80, 0.09),
    ("resnet56", "unpruned", 93.52, 0.05),
    ("resnet56-a", "fine-tune", 93.44, 0.15), ("resnet56-a", "scratch-e", 93.34, 0.17),
    ("resnet56-a", "scratch-b", 93.56, 0.09),
    ("resnet56-b", "fine-tune", 93.12, 0.20), ("resnet56-b", "scratch-e", 93.14, 0.21),
    ("resnet56-b", "scratch-b", 93.30, 0.17),
    ("resnet110", "unpruned", 93.82, 0.32),
    ("resnet110-a", "fine-tune", 93.75, 0.24), ("resnet110-a", "scratch-e", 93.80, 0.15),
    ("resnet110-a", "scratch-b", 94.10, 0.12),
    ("resnet110-b", "fine-tune", 93.36, 0.28), ("resnet110-b", "scratch-e", 93.75, 0.16),
    ("resnet110-b", "scratch-b", 93.90, 0.17),
]
_RESTART = [  # the talk's "Discussions" slide: fine-tuning restarted at the large model's schedule
    (c, s, m, sd)
    for c, row in {
        "vgg16-a": (93.41, 0.12, 93.62, 0.11, 93.78, 0.15, 93.80, 0.07),
        "resnet56-a": (92.97, 0.17, 92.96, 0.26, 93.09, 0.14, 93.46, 0.21),
        "resnet56-b": (92.67, 0.14, 92.54, 0.19, 93.05, 0.18, 93.29, 0.19),
        "resnet110-a": (93.14, 0.16, 93.25, 0.29, 93.22, 0.22, 93.55, 0.17),
        "resnet110-b": (92.69, 0.09, 92.89, 0.43, 93.60, 0.25, 93.51, 0.15),
    }.items()
    for s, m, sd in zip(("fine-tune", "scratch-e", "scratch-b", "fine-tune-restart"), row[0::2], row[1::2])
]

_TABLES = {
    "1": (LIU_2019 + ", Table 1", _TABLE_1),
    "16": (LIU_2019 + ", Table 16 (Appendix D)", _TABLE_16),
    "17": (LIU_2019 + ", Table 17 (Appendix E)", _TABLE_17),
    "restart": (LIU_2019_SLIDES, _RESTART),
}


def _table_id(table: int | str) -> str:
    key = str(table).lower()
    if key not in _TABLES:
        raise ValueError(f"no paper table {table!r} here; tables: {', '.join(_TABLES)}")
    return key


def table(table: int | str) -> pd.DataFrame:
    """A paper table as tidy rows: dataset, model, config, strategy, mean, std, n, source.

    "unpruned" rows have config = the base model's name. n is the number of runs behind
    the mean (5 seeds on CIFAR, 1 on ImageNet, where std is NaN).
    """
    source, rows = _TABLES[_table_id(table)]
    out = []
    for name, strategy, mean, std in rows:
        c = CONFIGS.get(name)
        model = c.model if c else name
        dataset = c.dataset if c else next(x.dataset for x in CONFIGS.values() if x.model == name)
        out.append({
            "dataset": dataset, "model": model, "config": name, "strategy": strategy,
            "mean": mean, "std": std, "n": 1 if dataset == "imagenet" else 5, "source": source,
        })
    return pd.DataFrame(out)

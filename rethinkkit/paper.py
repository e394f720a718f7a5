"""The paper's settings and numbers as named data, next to their citations.

Pruned architectures here are the paper's pruning targets:

- L1-norm filter pruning (Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017),
  Table 1 of Liu et al. 2019: the predefined targets, each the L1Spec the original code
  prunes with and the cfg it gives (REFERENCE.md);
- Network Slimming (Liu et al., "Learning Efficient Convolutional Networks through Network
  Slimming", ICCV 2017), Table 4: a prune ratio over all channels; the cfg is an output of
  pruning, so it is not data here;
- Appendix C's aggressive targets (Tables 13 and 14): both methods at ratios beyond their
  original papers';
- unstructured magnitude pruning (Han et al. 2015), Table 6 and Appendix C's Table 15: a
  fraction of all conv weights zeroed by one global threshold;
- Soft Filter Pruning (He et al. 2018), Appendix A's Tables 10 (trained from scratch) and 11 (from
  a pretrained model): a fraction of every prunable conv's filters, `f"{model}-sfp{percent}"` and
  `f"{model}-sfp{percent}-pretrained"`; their "pruned" column is SFP's model without fine-tuning;
- Sparse Structure Selection (Huang & Wang 2018), Table 5: the SSS paper's ResNet-41/32/26 of an
  ImageNet ResNet-50 ("resnet41-sss", ...; `SSS_RESNET50`), trained from scratch by method
  "sss-target"; their "pruned" column is the SSS paper's model without fine-tuning;
- the lottery-ticket comparisons of Section 6 (Frankle & Carbin 2019): Table 8 on Table 1's
  L1-norm targets, Table 9 on one-shot magnitude pruning, each at the initial learning
  rates 0.1 ("8a", "9a") and 0.01 ("8b", "9b");
- ThiNet (Luo et al. 2017), regression pruning (He et al. 2017) and Sparse Structure Selection
  (Huang & Wang 2018), Tables 2, 3 and 5: targets fixed by their papers, as cfg constants
  (THINET_VGG16, THINET_RESNET50, REGRESSION_VGG16, REGRESSION_RESNET50, SSS_RESNET50) and
  whole architectures by name (`architecture("vgg-gap")`);
- the architectures pruning finds (Section 5, Appendix G): Table 7's widths (`widths`), the
  per-stage patterns of Tables 18-21 (`stage_pattern`, `kernel_pattern`), and the paper's
  reading of each Section 5 figure, which has no numbers in the text (`reading`).

Reported accuracies are top-1 test accuracy in %, mean and std over 5 seeds on CIFAR,
single runs on ImageNet.

    rk.paper.config("resnet56-a").spec         # L1Spec(skip=(16, 20, 38, 54), ratios=(0.1, 0.1, 0.1))
    rk.paper.config("preresnet164-p40").spec   # SlimmingSpec(ratio=0.4)
    rk.paper.table(1)                          # Table 1 as tidy rows: config, strategy, mean, std, n
    rk.paper.table(4, dataset="cifar100")      # Table 4's CIFAR-100 rows, with the prune ratio
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import pandas as pd

from . import pruning
from .models.resnet_imagenet import bottleneck_cfg, resnet50_2x_select
from .pruning import FixedSpec, L1Spec, MagnitudeSpec, SlimmingSpec
from .pruning.l1_norm import LI_2017
from .pruning.magnitude import HAN_2015
from .pruning.network_slimming import LIU_2017
from .pruning.regression import HE_2017, RegressionSpec
from .pruning.sfp import HE_2018, SFPSpec
from .pruning.sss import HUANG_2018, SSSTargetSpec
from .pruning.thinet import LUO_2017, ThiNetSpec

LIU_2019 = "Liu et al., Rethinking the Value of Network Pruning, ICLR 2019"
LIU_2019_SLIDES = "Liu et al., Rethinking the Value of Network Pruning, ICLR 2019 talk slides ('Discussions')"

M = "M"
NAN = math.nan
# The paper's datasets: their classes (a config's head) and the input side its MACs are counted at
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}
IMAGE_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet": 224}


@dataclass(frozen=True)
class PrunedConfig:
    name: str  # the paper's name, lower-case: "resnet56-a"; ratio targets: f"{model}-p{percent}"
    model: str  # registered base model
    cfg: tuple | None  # the pruned channel cfg ('M' = max-pool in VGG) the paper fixes; None: pruning computes it
    datasets: tuple[str, ...]  # where the paper reports it (a str is taken as one dataset)
    params_pruned: float | None  # % of parameters removed, as reported (Liu et al. 2019, Table 1); None: not reported
    macs_pruned: float | None  # % of MACs removed, as reported by Li et al. 2017 (Table 2); None: not reported
    spec: object  # how `method` prunes the base model to this target: an instance of the method's spec_type
    method: str = "l1-norm"  # a registered pruning method (rk.pruning.methods())
    num_classes: int = 10  # the classes of datasets[0], which the reported reductions are counted with
    image_size: int = 32  # input side length the MACs are counted at
    citation: str = LI_2017

    def __post_init__(self) -> None:
        datasets = (self.datasets,) if isinstance(self.datasets, str) else tuple(self.datasets)
        if not datasets:
            raise ValueError(f"config {self.name}: name at least one dataset the paper reports it on")
        object.__setattr__(self, "datasets", datasets)
        if self.cfg is not None:
            object.__setattr__(self, "cfg", tuple(self.cfg))
        chosen = pruning.get(self.method)
        if not isinstance(self.spec, chosen.spec_type):
            raise TypeError(f"config {self.name}: {self.method} takes a {chosen.spec_type.__name__}, "
                            f"got {type(self.spec).__name__}")

    @property
    def dataset(self) -> str:
        """The first dataset the paper reports this config on (all of them: `datasets`)."""
        return self.datasets[0]

    @property
    def tables(self) -> tuple[str, ...]:
        """The paper tables that report this config ("1", "4", "13", ...)."""
        return tuple(t for t, (_, rows, _) in _TABLES.items() if any(r.config == self.name for r in rows))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    def row(self, table: int | str = 1, dataset: str | None = None) -> dict:
        """This config's reported accuracies in a paper table: {strategy: (mean, std)}.

        "unpruned" is its base model's row. `dataset` picks one where the table reports the
        config on several (Table 4: PreResNet-164 at 40% on CIFAR-10 and CIFAR-100).
        """
        rows = _TABLES[_table_id(table)][1]
        on = list(dict.fromkeys(r.dataset for r in rows if r.config == self.name))
        if not on:
            raise ValueError(f"{self.name} is not in table {table}")
        if dataset is None:
            if len(on) > 1:
                raise ValueError(f"{self.name} is in table {table} on {', '.join(on)}: "
                                 f"pass dataset= one of them, e.g. row({table!r}, dataset={on[0]!r})")
            dataset = on[0]
        if dataset not in on:
            raise ValueError(f"{self.name} is not in table {table} on {dataset!r}; it is on {', '.join(on)}")
        return {r.strategy: (r.mean, r.std) for r in rows
                if r.dataset == dataset and r.config in (self.name, self.model)}


def _at_ratio(model: str, percent: int, datasets, method: str, spec, citation: str) -> PrunedConfig:
    """A target the paper names only by its prune ratio: no fixed cfg, no reported reductions."""
    first = (datasets,) if isinstance(datasets, str) else datasets
    return PrunedConfig(f"{model}-p{percent}", model, None, datasets, None, None, spec, method=method,
                        num_classes=NUM_CLASSES[first[0]], image_size=IMAGE_SIZE[first[0]],
                        citation=citation)


def _slimming(model: str, percent: int, datasets, ratio_from: str = LIU_2017) -> PrunedConfig:
    citation = LIU_2017 + ("" if ratio_from == LIU_2017 else f"; the ratio from {ratio_from}")
    return _at_ratio(model, percent, datasets, "network-slimming", SlimmingSpec(ratio=percent / 100), citation)


def _sfp(model: str, percent: int, dataset: str, pretrained: bool = False) -> PrunedConfig:
    """Appendix A: SFP at the paper's prune ratio, from scratch (Table 10) or a pretrained model (Table 11)."""
    table = "Table 11" if pretrained else "Table 10"
    return PrunedConfig(_sfp_name(model, percent, pretrained), model, None, dataset, None, None,
                        SFPSpec(ratio=percent / 100, pretrained=pretrained), method="sfp",
                        num_classes=NUM_CLASSES[dataset], image_size=IMAGE_SIZE[dataset],
                        citation=f"{HE_2018}; the ratio from {LIU_2019}, {table} (Appendix A)")


def _sfp_name(model: str, percent: int, pretrained: bool = False) -> str:
    return f"{model}-sfp{percent}" + ("-pretrained" if pretrained else "")


def _magnitude(model: str, percent: int, datasets, citation: str = LIU_2019 + ", Table 6") -> PrunedConfig:
    return _at_ratio(model, percent, datasets, "magnitude", MagnitudeSpec(ratio=percent / 100),
                     f"{HAN_2015}; the ratio from {citation}")


SKIP_34 = (2, 8, 14, 16, 26, 28, 30, 32)  # Li et al.: layers sensitive to pruning stay whole
BOTH_CIFAR = ("cifar10", "cifar100")
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
        # Liu et al. 2019, Table 4: Network Slimming at "the same ratios for each model ... as the
        # original paper" (Liu et al. 2017); a ratio is the fraction of all channels pruned
        _slimming("vgg19", 70, "cifar10"),
        _slimming("vgg19", 50, "cifar100"),
        _slimming("preresnet164", 40, BOTH_CIFAR),
        _slimming("preresnet164", 60, BOTH_CIFAR),
        _slimming("densenet40", 40, BOTH_CIFAR),
        _slimming("densenet40", 60, BOTH_CIFAR),
        _slimming("vgg11-imagenet", 50, "imagenet"),
        # Table 13 (Appendix C): "larger ratios are used than the original paper of Liu et al. (2017)"
        _slimming("preresnet56", 80, "cifar10", ratio_from=LIU_2019 + ", Table 13"),
        _slimming("preresnet164", 80, "cifar10", ratio_from=LIU_2019 + ", Table 13"),
        _slimming("preresnet164", 90, "cifar10", ratio_from=LIU_2019 + ", Table 13"),
        _slimming("densenet40", 80, BOTH_CIFAR, ratio_from=LIU_2019 + ", Table 13"),
        # Table 14 (Appendix C): L1-norm pruning of ResNet-56 at "90%". The paper gives neither a cfg
        # nor skipped layers, so the ratio is read as Li et al.'s per-stage rule at 0.9 in every stage,
        # no layer skipped: each block's first conv keeps int(C * 0.1) filters, cfg [1]*9 + [3]*9 + [6]*9
        # (91% of the prunable filters removed). ResNet-56-A's skip list would keep 4 of the 27 convs
        # whole and remove 75%, short of the table's ratio. Not checked against the original's 90% run.
        _at_ratio("resnet56", 90, "cifar10", "l1-norm", L1Spec(ratios=(0.9, 0.9, 0.9)),
                  f"{LI_2017}; the ratio from {LIU_2019}, Table 14"),
        # Table 6: unstructured magnitude pruning, a fraction of all conv weights; CIFAR-10 at
        # 30/80/95%, CIFAR-100 at 30/50/95%; ImageNet (the weight-level code prunes torchvision's
        # vgg16_bn and resnet50) at 30/60%. 95% on VGG-19 is also Appendix C's Table 15.
        *(_magnitude(model, percent, on) for model in ("vgg19_bn", "preresnet110", "densenet_bc100")
          for percent, on in ((30, BOTH_CIFAR), (80, "cifar10"), (50, "cifar100"), (95, BOTH_CIFAR))),
        *(_magnitude(model, percent, "imagenet") for model in ("vgg16_bn-imagenet", "resnet50-imagenet")
          for percent in (30, 60)),
        # Table 9 (Section 6): one-shot magnitude pruning of the lottery-ticket code's VGG-16 and
        # CIFAR ResNet-50, winning ticket vs random init
        *(_magnitude(model, percent, "cifar10", LIU_2019 + ", Table 9") for model in ("vgg16_bn", "resnet50")
          for percent in (20, 40, 60, 80, 95)),
        # Appendix A, Tables 10 and 11: Soft Filter Pruning (authors' code) from scratch and from a pretrained
        # model (the ImageNet rows are single runs)
        *(_sfp(model, percent, "cifar10") for model, percents in
          (("resnet20", (10, 20, 30)), ("resnet32", (10, 20, 30)), ("resnet56", (10, 20, 30, 40)),
           ("resnet110", (10, 20, 30))) for percent in percents),
        _sfp("resnet34", 30, "imagenet"), _sfp("resnet50-imagenet", 30, "imagenet"),
        *(_sfp(model, percent, "cifar10", pretrained=True) for model, percent in
          (("resnet56", 30), ("resnet56", 40), ("resnet110", 30))),
    )
}


def config(name: str) -> PrunedConfig:
    """A predefined pruned architecture by the paper's name, e.g. config("resnet56-a")."""
    key = name.lower() if isinstance(name, str) else name
    if key not in CONFIGS:
        raise ValueError(f"unknown pruned config {name!r}; known: {', '.join(CONFIGS)}")
    return CONFIGS[key]


# --- ThiNet, regression pruning and SSS: the target architectures of Tables 2, 3 and 5 ----------
# Fixed by their papers, as cfgs of the registered ImageNet models (the original code trained them
# from scratch only; REFERENCE.md). VGG-16's are "vgg16-imagenet" cfgs: one that ends in 'M' keeps
# torchvision's fully connected classifier, one that ends in a conv (ThiNet's VGG-GAP, VGG-Tiny)
# has a global average pool and one Linear. ResNet-50's are "resnet50-imagenet" cfgs, 3 entries per
# block: conv1's input channels, conv1's width, conv2's width (the original code's layout).

# Luo et al. 2017 (the original's imagenet/thinet/models/): VGG-Conv prunes the convs, VGG-GAP also
# replaces the classifier by a global average pool of the 14x14 conv5_3 map, VGG-Tiny prunes further.
# Parameters (weights, biases not counted, as Luo et al.): 131.44M, 8.32M, 1.32M of VGG-16's 138.34M.
THINET_VGG16 = {
    "vgg-conv": (32, 32, M, 64, 64, M, 128, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M),
    "vgg-gap": (32, 32, M, 64, 64, M, 128, 128, 128, M, 256, 256, 256, M, 512, 512, 512),
    "vgg-tiny": (16, 16, M, 32, 32, M, 64, 64, 64, M, 128, 128, 128, M, 128, 128, 256),
}
# ThiNet-30/50/70 (the paper's "ResNet50-30%/50%/70%"): both inner convs of every block at these
# widths per stage, about 30/50/70% of 64/128/256/512 kept
THINET_RESNET50 = {
    "thinet-30": tuple(bottleneck_cfg((19, 38, 76, 153))),
    "thinet-50": tuple(bottleneck_cfg((32, 64, 128, 256))),
    "thinet-70": tuple(bottleneck_cfg((44, 89, 179, 358))),
}
# He et al. 2017 (the original's imagenet/regression-pruning/models/vgg_5x.py and resnet_2x.py):
# VGG-16-5x prunes the first ten convs; ResNet-50-2x also selects the inputs of every block's first
# conv (its first cfg entries), which channels given by RESNET50_2X_SELECT (the original's filter.pkl)
REGRESSION_VGG16 = {"vgg16-5x": (24, 22, M, 41, 51, M, 108, 89, 111, M, 184, 276, 228, M, 512, 512, 512, M)}
REGRESSION_RESNET50 = {"resnet50-2x": (
    35, 64, 55, 101, 51, 39, 97, 50, 37,
    144, 128, 106, 205, 105, 72, 198, 105, 72, 288, 128, 110,
    278, 256, 225, 418, 209, 147, 407, 204, 158, 423, 212, 155, 412, 211, 148, 595, 256, 213,
    606, 512, 433, 1222, 512, 437, 1147, 512, 440,
)}
RESNET50_2X_SELECT = resnet50_2x_select()  # per block, the kept input channels of its first conv


def _blocks(kept: tuple, first: tuple) -> tuple:
    """ResNet-50's cfg with, per stage, `kept[s]` blocks keeping their residual branch: the first
    block (holding the downsampling) and the next ones when `first[s]`, else the blocks after it
    (the first block is then its projection shortcut alone). Removed blocks' entries are None."""
    cfg, full = [], bottleneck_cfg()
    starts = [0, 3, 7, 13]
    for s, (n, keep_first) in enumerate(zip(kept, first)):
        alive = set(range(n)) if keep_first else set(range(1, n + 1))
        for i in range((3, 4, 6, 3)[s]):
            b = starts[s] + i
            cfg += full[3 * b:3 * b + 3] if i in alive else [None] * 3
    return tuple(cfg)


# Huang & Wang 2018 as the original ran them (imagenet/sparse-structure-selection/README.md: its
# `units` (blocks left, first block kept) per stage). Blocks with a residual branch per stage:
# ResNet-41 (0, 4, 6, 3), ResNet-32 (1, 4, 4, 1), ResNet-26 (0, 2, 5, 1); the first block of stage 1
# in all three and of stages 2 and 3 in ResNet-26 is reduced to its projection shortcut. Their MACs
# (3.47G, 2.82G, 2.28G of 4.09G) give the original's Scratch-B epochs 117, 145 and 179 from 100.
SSS_RESNET50 = {
    "resnet41-sss": _blocks((0, 4, 6, 3), (False, True, True, True)),
    "resnet32-sss": _blocks((1, 4, 4, 1), (False, True, True, True)),
    "resnet26-sss": _blocks((0, 2, 5, 1), (False, False, False, True)),
}
_ARCHITECTURES = {  # name -> (registered base model, cfg, build options)
    **{name: ("vgg16-imagenet", cfg, {}) for name, cfg in THINET_VGG16.items()},
    **{name: ("resnet50-imagenet", cfg, {}) for name, cfg in THINET_RESNET50.items()},
    "vgg16-5x": ("vgg16-imagenet", REGRESSION_VGG16["vgg16-5x"], {}),
    "resnet50-2x": ("resnet50-imagenet", REGRESSION_RESNET50["resnet50-2x"], {"select": RESNET50_2X_SELECT}),
    **{name: ("resnet50-imagenet", cfg, {}) for name, cfg in SSS_RESNET50.items()},
}

# Table 5's pruned configs: the SSS architectures above, which Liu et al. train from scratch (the registered
# method "sss-target"; the real SSS, "sss", prunes a ResNet that it trains, e.g. on CIFAR). Table 5 reports
# no reductions.
CONFIGS.update({
    name: PrunedConfig(name, "resnet50-imagenet", None, "imagenet", None, None, SSSTargetSpec(cfg),
                       method="sss-target", num_classes=1000, image_size=224,
                       citation=f"{HUANG_2018}; the layouts from {LIU_2019}'s code (Table 5)")
    for name, cfg in SSS_RESNET50.items()
})


def architecture(name: str, num_classes: int = 1000) -> dict:
    """A fixed target architecture of Tables 2, 3 and 5 by name ("vgg-conv", "vgg-gap", "vgg-tiny",
    "thinet-30", "thinet-50", "thinet-70", "vgg16-5x", "resnet50-2x", "resnet41-sss", "resnet32-sss",
    "resnet26-sss"), in `model.arch` form: `rk.models.from_arch(rk.paper.architecture("vgg-gap"))`
    builds it (ThiNet's: Luo et al. 2017; regression pruning's: He et al. 2017; SSS's: Huang & Wang 2018)."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _ARCHITECTURES:
        raise ValueError(f"unknown target architecture {name!r}; known: {', '.join(_ARCHITECTURES)}")
    model, cfg, options = _ARCHITECTURES[key]
    return {"name": model, "num_classes": num_classes, "in_channels": 3, "cfg": list(cfg),
            "options": {k: [list(v) for v in value] if k == "select" else value for k, value in options.items()}}


# The main text's tables of Section 4 (4.1, 4.2, 4.3); Appendix C's aggressive targets are in Tables 13-15
MAIN_TABLES = ("1", "4", "6")


# The targets of Tables 2 and 3 that pruning reaches (a cfg of the same model): ThiNet's VGG-Conv and
# ResNet-50 targets, regression pruning's VGG-16-5x. VGG-GAP and VGG-Tiny change the classifier and
# ResNet-50-2x selects block inputs, so they are architectures to train from scratch (`architecture`).
CONFIGS.update({
    name: PrunedConfig(name, model, cfg, "imagenet", None, None, spec_type(cfg=cfg), method=method,
                       num_classes=1000, image_size=224, citation=citation)
    for name, model, cfg, spec_type, method, citation in (
        ("vgg-conv", "vgg16-imagenet", THINET_VGG16["vgg-conv"], ThiNetSpec, "thinet", LUO_2017),
        *((name, "resnet50-imagenet", cfg, ThiNetSpec, "thinet", LUO_2017) for name, cfg in THINET_RESNET50.items()),
        ("vgg16-5x", "vgg16-imagenet", REGRESSION_VGG16["vgg16-5x"], RegressionSpec, "regression", HE_2017),
    )
})
# ... and those it does not reach, trained from scratch only, as the paper trained every target of both tables
CONFIGS.update({
    name: PrunedConfig(name, _ARCHITECTURES[name][0], _ARCHITECTURES[name][1], "imagenet", None, None,
                       FixedSpec(_ARCHITECTURES[name][1], tuple(_ARCHITECTURES[name][2].items())), method="fixed",
                       num_classes=1000, image_size=224, citation=citation)
    for name, citation in (("vgg-gap", LUO_2017), ("vgg-tiny", LUO_2017), ("resnet50-2x", HE_2017))
})


def configs(dataset: str | None = None, method: str | None = "l1-norm",
            table: int | str | None = "main") -> list[PrunedConfig]:
    """The predefined configs, filtered; None in a filter means any.

    dataset: those the paper reports on it ("cifar10", "cifar100", "imagenet");
    method:  those pruned by it ("l1-norm", the default; "network-slimming", "magnitude");
    table:   those the paper reports in it (1, 4, 5, 6, 10, 11, 13, 14, 15, 16, 17, "8a", "9a", "restart"); "main",
             the default, is Tables 1, 4 and 6, leaving out Appendix C's aggressive targets (13-15).
    So configs() is Table 1's L1-norm configs, and configs(method=None, table=None) is every config.
    """
    if method is not None:
        pruning.get(method)  # an unknown method is an error, not an empty list
    tables = MAIN_TABLES if table == "main" else None if table is None else (_table_id(table),)
    return [
        c for c in CONFIGS.values()
        if (dataset is None or dataset in c.datasets) and (method is None or c.method == method)
        and (tables is None or any(t in tables for t in c.tables))
    ]


def compared_dataset(dataset: str) -> str:
    """The paper dataset whose rows runs on `dataset` are compared with: the dataset itself when
    the paper reports it (NUM_CLASSES), else CIFAR-10 -- the paper's main benchmark, whose 10
    classes and 32x32 inputs the stand-ins (Fashion-MNIST, padded to 32x32) share."""
    return dataset if dataset in NUM_CLASSES else "cifar10"


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

# Tables laid out as the paper prints them, one line per (dataset, model, prune ratio):
# (dataset, model, unpruned, ratio, fine-tuned, scratch-e, scratch-b), each accuracy (mean, std).
# The paper prints a model's unpruned cell once for its ratios; here it repeats on each line.
_TABLE_4 = [  # Network Slimming (Liu et al. 2017)
    ("cifar10", "vgg19", (93.53, 0.16), 0.70, (93.60, 0.16), (93.30, 0.11), (93.81, 0.14)),
    ("cifar10", "preresnet164", (95.04, 0.16), 0.40, (94.77, 0.12), (94.70, 0.11), (94.90, 0.04)),
    ("cifar10", "preresnet164", (95.04, 0.16), 0.60, (94.23, 0.21), (94.58, 0.18), (94.71, 0.21)),
    ("cifar10", "densenet40", (94.10, 0.12), 0.40, (94.00, 0.20), (93.68, 0.18), (94.06, 0.12)),
    ("cifar10", "densenet40", (94.10, 0.12), 0.60, (93.87, 0.13), (93.58, 0.21), (93.85, 0.25)),
    ("cifar100", "vgg19", (72.63, 0.21), 0.50, (72.32, 0.28), (71.94, 0.17), (73.08, 0.22)),
    ("cifar100", "preresnet164", (76.80, 0.19), 0.40, (76.22, 0.20), (76.36, 0.32), (76.68, 0.35)),
    ("cifar100", "preresnet164", (76.80, 0.19), 0.60, (74.17, 0.33), (75.05, 0.08), (75.73, 0.29)),
    ("cifar100", "densenet40", (73.82, 0.34), 0.40, (73.35, 0.17), (73.24, 0.29), (73.19, 0.26)),
    ("cifar100", "densenet40", (73.82, 0.34), 0.60, (72.46, 0.22), (72.62, 0.36), (72.91, 0.34)),
    ("imagenet", "vgg11-imagenet", (70.84, NAN), 0.50, (68.62, NAN), (70.00, NAN), (71.18, NAN)),  # single runs
]
_TABLE_13 = [  # Appendix C: Network Slimming, aggressively pruned
    ("cifar10", "preresnet56", (93.69, 0.07), 0.80, (74.66, 0.96), (88.25, 0.38), (88.65, 0.32)),
    ("cifar10", "preresnet164", (95.04, 0.16), 0.80, (91.76, 0.38), (93.21, 0.17), (93.49, 0.20)),
    ("cifar10", "preresnet164", (95.04, 0.16), 0.90, (82.06, 0.92), (87.55, 0.68), (88.44, 0.19)),
    ("cifar10", "densenet40", (94.10, 0.12), 0.80, (92.64, 0.12), (93.07, 0.08), (93.61, 0.12)),
    ("cifar100", "densenet40", (73.82, 0.34), 0.80, (69.60, 0.22), (71.04, 0.36), (71.45, 0.30)),
]
_TABLE_14 = [  # Appendix C: L1-norm filter pruning (Li et al. 2017), aggressively pruned
    ("cifar10", "resnet56", (93.14, 0.12), 0.90, (89.17, 0.08), (91.02, 0.12), (91.93, 0.26)),
]
_TABLE_6 = [  # unstructured magnitude pruning (Han et al. 2015); ImageNet rows are single runs
    ("cifar10", "vgg19_bn", (93.50, 0.11), 0.30, (93.51, 0.05), (93.71, 0.09), (93.31, 0.26)),
    ("cifar10", "vgg19_bn", (93.50, 0.11), 0.80, (93.52, 0.10), (93.71, 0.08), (93.64, 0.09)),
    ("cifar10", "vgg19_bn", (93.50, 0.11), 0.95, (93.34, 0.13), (93.21, 0.17), (93.63, 0.18)),
    ("cifar10", "preresnet110", (95.04, 0.15), 0.30, (95.06, 0.05), (94.84, 0.07), (95.11, 0.09)),
    ("cifar10", "preresnet110", (95.04, 0.15), 0.80, (94.55, 0.11), (93.76, 0.10), (94.52, 0.13)),
    ("cifar10", "preresnet110", (95.04, 0.15), 0.95, (92.35, 0.20), (91.23, 0.11), (91.55, 0.34)),
    ("cifar10", "densenet_bc100", (95.24, 0.17), 0.30, (95.21, 0.17), (95.22, 0.18), (95.23, 0.14)),
    ("cifar10", "densenet_bc100", (95.24, 0.17), 0.80, (95.04, 0.15), (94.42, 0.12), (95.12, 0.04)),
    ("cifar10", "densenet_bc100", (95.24, 0.17), 0.95, (94.19, 0.15), (92.91, 0.22), (93.44, 0.19)),
    ("cifar100", "vgg19_bn", (71.70, 0.31), 0.30, (71.96, 0.36), (72.81, 0.31), (73.30, 0.25)),
    ("cifar100", "vgg19_bn", (71.70, 0.31), 0.50, (71.85, 0.30), (73.12, 0.36), (73.77, 0.23)),
    ("cifar100", "vgg19_bn", (71.70, 0.31), 0.95, (70.22, 0.38), (70.88, 0.35), (72.08, 0.15)),
    ("cifar100", "preresnet110", (76.96, 0.34), 0.30, (76.88, 0.31), (76.36, 0.26), (76.96, 0.31)),
    ("cifar100", "preresnet110", (76.96, 0.34), 0.50, (76.60, 0.36), (75.45, 0.23), (76.42, 0.39)),
    ("cifar100", "preresnet110", (76.96, 0.34), 0.95, (68.55, 0.51), (68.13, 0.64), (68.99, 0.32)),
    ("cifar100", "densenet_bc100", (77.59, 0.19), 0.30, (77.23, 0.05), (77.58, 0.25), (77.97, 0.31)),
    ("cifar100", "densenet_bc100", (77.59, 0.19), 0.50, (77.41, 0.14), (77.65, 0.09), (77.80, 0.23)),
    ("cifar100", "densenet_bc100", (77.59, 0.19), 0.95, (73.67, 0.03), (71.47, 0.46), (72.57, 0.37)),
    ("imagenet", "vgg16_bn-imagenet", (73.37, NAN), 0.30, (73.68, NAN), (72.75, NAN), (74.02, NAN)),
    ("imagenet", "vgg16_bn-imagenet", (73.37, NAN), 0.60, (73.63, NAN), (71.50, NAN), (73.42, NAN)),
    ("imagenet", "resnet50-imagenet", (76.15, NAN), 0.30, (76.06, NAN), (74.77, NAN), (75.70, NAN)),
    ("imagenet", "resnet50-imagenet", (76.15, NAN), 0.60, (76.09, NAN), (73.69, NAN), (74.91, NAN)),
]
_TABLE_15 = [line for line in _TABLE_6 if line[1] == "vgg19_bn" and line[3] == 0.95]  # Appendix C: the same runs

# Section 6, the lottery tickets. Table 8: L1-norm targets (Table 1's), each trained from the large
# model's original initialisation ("winning ticket") or a fresh one ("random init"), the large model's
# epochs; the large model and both at the initial lr 0.1 (a) or 0.01 (b).
_TABLE_8A = [
    ("vgg16", "unpruned", 93.63, 0.16),
    ("vgg16-a", "winning-ticket", 93.62, 0.09), ("vgg16-a", "random-init", 93.60, 0.15),
    ("resnet56", "unpruned", 93.14, 0.12),
    ("resnet56-a", "winning-ticket", 92.72, 0.10), ("resnet56-a", "random-init", 92.75, 0.26),
    ("resnet56-b", "winning-ticket", 92.78, 0.23), ("resnet56-b", "random-init", 92.90, 0.27),
    ("resnet110", "unpruned", 93.14, 0.24),
    ("resnet110-a", "winning-ticket", 93.21, 0.09), ("resnet110-a", "random-init", 93.21, 0.21),
    ("resnet110-b", "winning-ticket", 93.15, 0.12), ("resnet110-b", "random-init", 93.37, 0.29),
]
_TABLE_8B = [
    ("vgg16", "unpruned", 92.64, 0.05),
    ("vgg16-a", "winning-ticket", 92.65, 0.18), ("vgg16-a", "random-init", 92.67, 0.22),
    ("resnet56", "unpruned", 89.81, 0.27),
    ("resnet56-a", "winning-ticket", 90.00, 0.15), ("resnet56-a", "random-init", 89.87, 0.25),
    ("resnet56-b", "winning-ticket", 89.75, 0.35), ("resnet56-b", "random-init", 89.81, 0.24),
    ("resnet110", "unpruned", 89.43, 0.39),
    ("resnet110-a", "winning-ticket", 89.48, 0.35), ("resnet110-a", "random-init", 89.49, 0.10),
    ("resnet110-b", "winning-ticket", 89.36, 0.30), ("resnet110-b", "random-init", 89.35, 0.16),
]
# Table 9: one-shot magnitude pruning, winning ticket vs random init, at lr 0.1 (a) and 0.01 (b)
_TABLE_9A = [
    ("cifar10", "vgg16_bn", (93.76, 0.20), 0.20, (93.66, 0.20), (93.79, 0.11)),
    ("cifar10", "vgg16_bn", (93.76, 0.20), 0.40, (93.79, 0.12), (93.77, 0.10)),
    ("cifar10", "vgg16_bn", (93.76, 0.20), 0.60, (93.60, 0.13), (93.72, 0.11)),
    ("cifar10", "vgg16_bn", (93.76, 0.20), 0.80, (93.74, 0.15), (93.72, 0.16)),
    ("cifar10", "vgg16_bn", (93.76, 0.20), 0.95, (93.18, 0.12), (93.05, 0.21)),
    ("cifar10", "resnet50", (93.48, 0.20), 0.20, (93.38, 0.18), (93.31, 0.24)),
    ("cifar10", "resnet50", (93.48, 0.20), 0.40, (92.94, 0.12), (93.06, 0.22)),
    ("cifar10", "resnet50", (93.48, 0.20), 0.60, (92.56, 0.20), (92.69, 0.11)),
    ("cifar10", "resnet50", (93.48, 0.20), 0.80, (91.83, 0.20), (91.69, 0.21)),
    ("cifar10", "resnet50", (93.48, 0.20), 0.95, (88.75, 0.18), (88.59, 0.09)),
]
_TABLE_9B = [
    ("cifar10", "vgg16_bn", (92.69, 0.12), 0.20, (92.78, 0.11), (92.52, 0.15)),
    ("cifar10", "vgg16_bn", (92.69, 0.12), 0.40, (92.80, 0.18), (92.52, 0.15)),
    ("cifar10", "vgg16_bn", (92.69, 0.12), 0.60, (92.72, 0.16), (92.44, 0.19)),
    ("cifar10", "vgg16_bn", (92.69, 0.12), 0.80, (92.75, 0.07), (92.07, 0.25)),
    ("cifar10", "vgg16_bn", (92.69, 0.12), 0.95, (92.58, 0.25), (91.83, 0.11)),
    ("cifar10", "resnet50", (91.06, 0.28), 0.20, (91.28, 0.15), (90.93, 0.34)),
    ("cifar10", "resnet50", (91.06, 0.28), 0.40, (91.16, 0.07), (90.92, 0.10)),
    ("cifar10", "resnet50", (91.06, 0.28), 0.60, (91.00, 0.15), (90.43, 0.16)),
    ("cifar10", "resnet50", (91.06, 0.28), 0.80, (90.92, 0.08), (89.71, 0.18)),
    ("cifar10", "resnet50", (91.06, 0.28), 0.95, (87.76, 0.19), (87.20, 0.17)),
]
LOTTERY_LR = {"8a": 0.1, "8b": 0.01, "9a": 0.1, "9b": 0.01}  # the initial lr of each Section 6 table

# Appendix A: Soft Filter Pruning (He et al. 2018), the authors' code. "Pruned" is SFP's model after its
# training, not fine-tuned; Table 10 trains it from scratch, Table 11 from a pretrained (normally trained)
# large model -- whose accuracy is the "unpruned" cell, the same in both tables. ImageNet rows: single runs.
_TABLE_10 = [
    ("cifar10", "resnet20", (92.41, 0.12), 0.10, (92.00, 0.32), (92.22, 0.15), (92.13, 0.10)),
    ("cifar10", "resnet20", (92.41, 0.12), 0.20, (91.50, 0.30), (91.62, 0.12), (91.67, 0.15)),
    ("cifar10", "resnet20", (92.41, 0.12), 0.30, (90.78, 0.15), (90.93, 0.10), (91.07, 0.23)),
    ("cifar10", "resnet32", (93.22, 0.16), 0.10, (93.28, 0.05), (93.42, 0.40), (93.08, 0.13)),
    ("cifar10", "resnet32", (93.22, 0.16), 0.20, (92.50, 0.17), (92.68, 0.20), (92.96, 0.11)),
    ("cifar10", "resnet32", (93.22, 0.16), 0.30, (92.02, 0.11), (92.37, 0.12), (92.56, 0.06)),
    ("cifar10", "resnet56", (93.80, 0.12), 0.10, (93.77, 0.07), (93.42, 0.40), (93.98, 0.21)),
    ("cifar10", "resnet56", (93.80, 0.12), 0.20, (93.14, 0.42), (93.44, 0.05), (93.71, 0.14)),
    ("cifar10", "resnet56", (93.80, 0.12), 0.30, (93.01, 0.09), (93.19, 0.20), (93.57, 0.12)),
    ("cifar10", "resnet56", (93.80, 0.12), 0.40, (92.59, 0.14), (92.80, 0.25), (93.07, 0.25)),
    ("cifar10", "resnet110", (93.77, 0.23), 0.10, (93.60, 0.50), (94.21, 0.39), (94.13, 0.37)),
    ("cifar10", "resnet110", (93.77, 0.23), 0.20, (93.63, 0.44), (93.52, 0.18), (94.29, 0.18)),
    ("cifar10", "resnet110", (93.77, 0.23), 0.30, (93.26, 0.37), (93.70, 0.16), (93.92, 0.13)),
    ("imagenet", "resnet34", (73.92, NAN), 0.30, (71.83, NAN), (71.67, NAN), (72.97, NAN)),
    ("imagenet", "resnet50-imagenet", (76.15, NAN), 0.30, (74.61, NAN), (74.98, NAN), (75.56, NAN)),
]
_TABLE_11 = [
    ("cifar10", "resnet56", (93.80, 0.12), 0.30, (93.51, 0.26), (94.45, 0.30), (93.77, 0.25)),
    ("cifar10", "resnet56", (93.80, 0.12), 0.40, (93.10, 0.34), (93.84, 0.16), (93.41, 0.08)),
    ("cifar10", "resnet110", (93.77, 0.23), 0.30, (93.46, 0.19), (93.89, 0.17), (94.37, 0.24)),
]
APPENDIX_A = ("pruned", "scratch-e", "scratch-b")  # the strategies of Tables 10 and 11

# Table 5: Sparse Structure Selection (Huang & Wang 2018) on ImageNet, single runs. "Pruned" is the SSS paper's
# pruned model, not fine-tuned ("In the original paper no fine-tuning is required so there is a 'Pruned' column
# instead of 'Fine-tuned'"); Scratch-E/B are Liu et al.'s runs of the same architectures.
_TABLE_5 = [
    ("resnet50-imagenet", "unpruned", 76.12, NAN),
    ("resnet41-sss", "pruned", 75.44, NAN), ("resnet41-sss", "scratch-e", 75.61, NAN),
    ("resnet41-sss", "scratch-b", 76.17, NAN),
    ("resnet32-sss", "pruned", 74.18, NAN), ("resnet32-sss", "scratch-e", 73.77, NAN),
    ("resnet32-sss", "scratch-b", 74.67, NAN),
    ("resnet26-sss", "pruned", 71.82, NAN), ("resnet26-sss", "scratch-e", 72.55, NAN),
    ("resnet26-sss", "scratch-b", 73.41, NAN),
]


# Appendix B, Table 12: mAP on PASCAL VOC 2007 test of Faster R-CNN (Yang et al. 2017's code) with
# ResNet-34 backbones, single runs. "unpruned" is the ResNet-34 detector; Prune-C prunes on classification,
# Prune-D after the transfer to detection; Scratch-E/B train the pruned backbone from scratch on ImageNet.
_TABLE_12 = [
    ("resnet34", "unpruned", 71.69, NAN),
    ("resnet34-a", "prune-c", 71.47, NAN), ("resnet34-a", "prune-d", 70.99, NAN),
    ("resnet34-a", "scratch-e", 71.64, NAN), ("resnet34-a", "scratch-b", 71.90, NAN),
    ("resnet34-b", "prune-c", 70.84, NAN), ("resnet34-b", "prune-d", 69.62, NAN),
    ("resnet34-b", "scratch-e", 71.68, NAN), ("resnet34-b", "scratch-b", 71.26, NAN),
]
SINGLE_RUNS = ("imagenet", "voc2007")  # the paper reports one run per cell on these (CIFAR: 5 seeds)


class _Row(NamedTuple):
    dataset: str
    config: str  # the pruned config, or the base model on "unpruned" rows
    strategy: str
    mean: float
    std: float
    ratio: float  # the paper's prune ratio (a fraction); NaN where the table has none or on "unpruned"


def _by_config(rows: list) -> list[_Row]:
    """Rows (config or base model, strategy, mean, std) of a table whose configs each name one
    dataset; an "unpruned" row is on the dataset of its model's configs in the same table."""
    on = {}
    for name, *_ in rows:
        if name in CONFIGS:
            on.setdefault(CONFIGS[name].model, CONFIGS[name].dataset)
    return [_Row(CONFIGS[name].dataset if name in CONFIGS else on[name], name, strategy, mean, std, NAN)
            for name, strategy, mean, std in rows]


def _by_ratio(lines: list, strategies: tuple = ("fine-tune", "scratch-e", "scratch-b"),
              name_of=lambda model, percent: f"{model}-p{percent}") -> list[_Row]:
    """Rows of a table in the paper's layout (dataset, model, unpruned, ratio, one accuracy per
    strategy): one "unpruned" row per (dataset, model), the strategies keyed by the config
    `name_of(model, percent)` (f"{model}-p{percent}")."""
    out, seen = [], set()
    for dataset, model, unpruned, ratio, *accuracies in lines:
        if (dataset, model) not in seen:
            seen.add((dataset, model))
            out.append(_Row(dataset, model, "unpruned", *unpruned, NAN))
        name = name_of(model, round(100 * ratio))
        if dataset not in CONFIGS[name].datasets:
            raise ValueError(f"paper data: {name} has a row on {dataset} but its config names {CONFIGS[name].datasets}")
        out += [_Row(dataset, name, s, *acc, ratio) for s, acc in zip(strategies, accuracies)]
    return out


# Tables 2 and 3 print accuracy *drops*: the fine-tuned cell is the method paper's drop from its own
# unpruned model (VGG-16 71.03 in Luo et al. and He et al.; ResNet-50 75.15 in Luo et al., 75.51 in
# He et al.), the scratch cells the paper's drop from its own (VGG-16 71.51, ResNet-50 76.13), because
# the frameworks differ. Here every cell is the paper's own unpruned accuracy plus the printed drop, so
# differences between cells are differences of drops, as the paper compares them. Single runs.
_TABLE_2 = [  # ThiNet (Luo et al. 2017): (model, unpruned, {config: (fine-tuned, scratch-e, scratch-b) drops})
    ("vgg16-imagenet", 71.51, {"vgg-conv": (-1.23, -2.75, +0.21), "vgg-gap": (-3.67, -4.66, -2.85),
                               "vgg-tiny": (-11.61, -14.36, -11.58)}),
    ("resnet50-imagenet", 76.13, {"thinet-30": (-6.72, -5.21, -4.56), "thinet-50": (-4.13, -2.82, -2.23),
                                  "thinet-70": (-3.10, -1.71, -1.01)}),
]
_TABLE_3 = [  # regression-based feature reconstruction (He et al. 2017)
    ("vgg16-imagenet", 71.51, {"vgg16-5x": (-2.67, -3.46, -0.51)}),
    ("resnet50-imagenet", 76.13, {"resnet50-2x": (-3.25, -1.55, -1.07)}),
]


def _by_drops(lines: list) -> list[_Row]:
    out = []
    for model, unpruned, drops in lines:
        out.append(_Row("imagenet", model, "unpruned", unpruned, NAN, NAN))
        out += [_Row("imagenet", config, s, round(unpruned + drop, 2), NAN, NAN)
                for config, cells in drops.items() for s, drop in zip(("fine-tune", "scratch-e", "scratch-b"), cells)]
    return out


# table id -> (source, rows, whether the paper's table has a prune-ratio column)
_TABLES = {
    "1": (LIU_2019 + ", Table 1", _by_config(_TABLE_1), False),
    "2": (LIU_2019 + ", Table 2 (drops rebased on the paper's unpruned model)", _by_drops(_TABLE_2), False),
    "3": (LIU_2019 + ", Table 3 (drops rebased on the paper's unpruned model)", _by_drops(_TABLE_3), False),
    "4": (LIU_2019 + ", Table 4", _by_ratio(_TABLE_4), True),
    "13": (LIU_2019 + ", Table 13 (Appendix C)", _by_ratio(_TABLE_13), True),
    "14": (LIU_2019 + ", Table 14 (Appendix C)", _by_ratio(_TABLE_14), True),
    "5": (LIU_2019 + ", Table 5", _by_config(_TABLE_5), False),
    "6": (LIU_2019 + ", Table 6", _by_ratio(_TABLE_6), True),
    "15": (LIU_2019 + ", Table 15 (Appendix C)", _by_ratio(_TABLE_15), True),
    "8a": (LIU_2019 + ", Table 8a (initial lr 0.1)", _by_config(_TABLE_8A), False),
    "8b": (LIU_2019 + ", Table 8b (initial lr 0.01)", _by_config(_TABLE_8B), False),
    "9a": (LIU_2019 + ", Table 9a (one-shot, initial lr 0.1)", _by_ratio(_TABLE_9A, ("winning-ticket", "random-init")), True),
    "9b": (LIU_2019 + ", Table 9b (one-shot, initial lr 0.01)", _by_ratio(_TABLE_9B, ("winning-ticket", "random-init")), True),
    "10": (LIU_2019 + ", Table 10 (Appendix A, SFP without pretrained models)",
           _by_ratio(_TABLE_10, APPENDIX_A, _sfp_name), True),
    "11": (LIU_2019 + ", Table 11 (Appendix A, SFP with pretrained models)",
           _by_ratio(_TABLE_11, APPENDIX_A, lambda model, percent: _sfp_name(model, percent, pretrained=True)), True),
    "12": (LIU_2019 + ", Table 12 (Appendix B, mAP on PASCAL VOC 2007 test)",
           [_Row("voc2007", name, strategy, mean, std, NAN) for name, strategy, mean, std in _TABLE_12], False),
    "16": (LIU_2019 + ", Table 16 (Appendix D)", _by_config(_TABLE_16), False),
    "17": (LIU_2019 + ", Table 17 (Appendix E)", _by_config(_TABLE_17), False),
    "restart": (LIU_2019_SLIDES, _by_config(_RESTART), False),
}


def lottery(number: int, lr: float, dataset: str | None = None) -> pd.DataFrame:
    """Section 6's Table `number` (8: L1-norm targets; 9: one-shot magnitude pruning) at the
    initial learning rate `lr`: "8a"/"9a" at 0.1, "8b"/"9b" at 0.01; at any other lr the paper
    reports nothing, and the table is empty (so ours still shows, without the paper's cells)."""
    ids = [t for t, at in LOTTERY_LR.items() if t[:-1] == str(number)]
    if not ids:
        raise ValueError(f"Section 6's lottery tables are 8 and 9, not {number!r}")
    chosen = [t for t in ids if math.isclose(LOTTERY_LR[t], float(lr))]
    if not chosen:
        return table(ids[0], dataset).iloc[0:0]
    return table(chosen[0], dataset)


def _table_id(table: int | str) -> str:
    key = str(table).lower()
    if key not in _TABLES:
        raise ValueError(f"no paper table {table!r} here; tables: {', '.join(_TABLES)}")
    return key


def table(table: int | str, dataset: str | None = None) -> pd.DataFrame:
    """A paper table as tidy rows: dataset, model, config, strategy, mean, std, n, source,
    and ratio (the prune ratio as a fraction) for tables with a prune-ratio column (4, 6, 9a/b,
    10, 11, 13, 14, 15). Section 6's tables are "8a"/"9a" (initial lr 0.1) and "8b"/"9b" (0.01).

    "unpruned" rows have config = the base model's name. n is the number of runs behind
    the mean (5 seeds on CIFAR, 1 on ImageNet, where std is NaN). `dataset` keeps only its
    rows: Tables 4 and 13 name the same config on CIFAR-10 and CIFAR-100, so a comparison
    with one dataset's runs wants `table(4, dataset="cifar10")`.
    """
    source, rows, has_ratio = _TABLES[_table_id(table)]
    if dataset is not None:
        on = list(dict.fromkeys(r.dataset for r in rows))
        if dataset not in ("cifar10", "cifar100", *SINGLE_RUNS):
            raise ValueError(f"the paper reports on cifar10, cifar100, imagenet (and voc2007), not {dataset!r} "
                             f"(table {table}: {', '.join(on)}); compare with rk.paper.compared_dataset({dataset!r})")
        rows = [r for r in rows if r.dataset == dataset]  # none: the paper has no such row, the table is empty
    out = []
    for r in rows:
        c = CONFIGS.get(r.config)
        out.append({
            "dataset": r.dataset, "model": c.model if c else _ARCHITECTURES.get(r.config, (r.config,))[0], "config": r.config, "strategy": r.strategy,
            "mean": r.mean, "std": r.std, "n": 1 if r.dataset in SINGLE_RUNS else 5, "source": source,
            **({"ratio": r.ratio} if has_ratio else {}),
        })
    columns = ["dataset", "model", "config", "strategy", "mean", "std", "n", "source", *(["ratio"] if has_ratio else [])]
    return pd.DataFrame(out, columns=columns)


# --- Section 5 and Appendix G: the architectures pruning finds ----------------------------
# Stages are the paper's: layers with the same feature map size, numbered from 1 at the input.

# Table 7: VGG-16 on CIFAR-10 pruned by Network Slimming at 60% of the channels; the width of each
# of the 13 convs, unpruned and pruned (mean, std over 5 runs)
_TABLE_7 = [
    (1, 64, 39.0, 3.7), (2, 64, 64.0, 0.0), (3, 128, 127.8, 0.4), (4, 128, 128.0, 0.0), (5, 256, 255.0, 1.0),
    (6, 256, 250.5, 0.5), (7, 256, 226.0, 2.5), (8, 512, 217.3, 6.6), (9, 512, 120.0, 4.4), (10, 512, 63.0, 1.9),
    (11, 512, 47.8, 2.9), (12, 512, 62.0, 3.4), (13, 512, 88.8, 3.1),
]
# Tables 18 and 21: the kept fraction of channels per stage (rows) at each total prune ratio (columns)
_STAGE_PATTERNS = {
    "18": ("preresnet164", "cifar10", "network-slimming", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7), [
        (0.879, 0.729, 0.557, 0.484, 0.421, 0.349, 0.271),
        (0.959, 0.863, 0.754, 0.651, 0.537, 0.428, 0.320),
        (0.889, 0.798, 0.716, 0.610, 0.507, 0.403, 0.301),
    ]),
    "21": ("vgg16", "cifar10", "network-slimming", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6), [
        (0.969, 0.914, 0.883, 0.875, 0.844, 0.836),
        (1.000, 1.000, 1.000, 1.000, 1.000, 1.000),
        (0.991, 0.975, 0.966, 0.957, 0.947, 0.947),
        (0.861, 0.718, 0.575, 0.446, 0.312, 0.258),
        (0.871, 0.751, 0.626, 0.486, 0.352, 0.132),
    ]),
}
# Tables 19 and 20: the average 3x3 keep map per stage under unstructured pruning at 10%, 50%, 90%;
# per stage three kernel rows, each holding that row of the map at 10%, then 50%, then 90%
_KERNEL_PATTERNS = {
    "19": ("preresnet110", "cifar100", "magnitude", (0.1, 0.5, 0.9), [
        [(0.905, 0.905, 0.909, 0.530, 0.561, 0.538, 0.129, 0.171, 0.133),
         (0.900, 0.912, 0.899, 0.559, 0.588, 0.551, 0.166, 0.217, 0.176),
         (0.903, 0.913, 0.902, 0.532, 0.563, 0.547, 0.142, 0.172, 0.163)],
        [(0.906, 0.911, 0.906, 0.485, 0.523, 0.503, 0.073, 0.102, 0.085),
         (0.912, 0.911, 0.915, 0.508, 0.529, 0.525, 0.099, 0.114, 0.111),
         (0.911, 0.916, 0.912, 0.502, 0.529, 0.519, 0.080, 0.113, 0.096)],
        [(0.901, 0.904, 0.900, 0.454, 0.475, 0.454, 0.043, 0.059, 0.048),
         (0.885, 0.891, 0.889, 0.409, 0.420, 0.415, 0.032, 0.033, 0.035),
         (0.898, 0.903, 0.902, 0.450, 0.468, 0.458, 0.042, 0.055, 0.046)],
    ]),
    "20": ("densenet40", "cifar100", "magnitude", (0.1, 0.5, 0.9), [
        [(0.861, 0.856, 0.858, 0.507, 0.495, 0.510, 0.145, 0.129, 0.142),
         (0.843, 0.844, 0.851, 0.484, 0.486, 0.479, 0.123, 0.115, 0.126),
         (0.850, 0.854, 0.857, 0.509, 0.490, 0.511, 0.136, 0.131, 0.147)],
        [(0.907, 0.905, 0.906, 0.498, 0.487, 0.499, 0.099, 0.088, 0.100),
         (0.892, 0.888, 0.892, 0.442, 0.427, 0.444, 0.064, 0.043, 0.065),
         (0.907, 0.906, 0.905, 0.497, 0.485, 0.493, 0.095, 0.082, 0.098)],
        [(0.897, 0.901, 0.899, 0.470, 0.475, 0.472, 0.060, 0.060, 0.064),
         (0.888, 0.890, 0.889, 0.433, 0.437, 0.435, 0.040, 0.040, 0.042),
         (0.898, 0.900, 0.899, 0.473, 0.477, 0.473, 0.060, 0.061, 0.063)],
    ]),
}
_APPENDIX_G = {"18": "Table 18 (Appendix G)", "19": "Table 19 (Appendix G)", "20": "Table 20 (Appendix G)",
               "21": "Table 21 (Appendix G)"}

# What the paper reads from each Section 5 figure and table (figures have no numbers in the text)
READINGS = {
    "3": "VGG-16 on CIFAR-10, all trained from scratch: the architectures Network Slimming finds reach the same "
         "accuracy with about 5x fewer parameters than uniformly pruned ones (left), and magnitude-pruned sparse "
         "architectures are much more parameter-efficient than uniformly sparsified ones (right).",
    "7": "The widths Network Slimming keeps are consistent over runs: early layers nearly whole, the 512-wide "
         "layers of stages 4-5 cut to 48-217 channels.",
    "4": "The average keep probability of each 3x3 kernel position in stages 3-5 of an unstructured pruned "
         "VGG-16 forms a very consistent pattern (the figure's values are not in the text).",
    "5": "On PreResNet-164 (Network Slimming, CIFAR-10), PreResNet-110 and DenseNet-40 (unstructured, CIFAR-100) "
         "the pruned architectures are not significantly more efficient than uniform ones: their patterns are "
         "near-uniform across stages (Tables 18-20).",
    "6": "Architectures designed from the pruned ones' average per-stage pattern (guided) perform on par with the "
         "pruned architectures, and patterns transferred from VGG-16 on CIFAR-10 to VGG-19 on CIFAR-100 are "
         "sometimes slightly worse than pruned ones but significantly better than uniform pruning/sparsification.",
    "18": "PreResNet-164's kept channel fractions are close to uniform across stages at every ratio.",
    "19": "PreResNet-110's 3x3 keep maps are close to uniform across stages and kernel positions.",
    "20": "DenseNet-40's 3x3 keep maps are close to uniform across stages and kernel positions.",
    "21": "VGG-16's latter stages have more redundancy than earlier ones: stage 2 is kept whole, stages 4-5 lose "
          "most channels; far from uniform.",
}


def reading(number: int | str) -> str:
    """What the paper reads from Section 5's Figure/Table `number` (3-7, 18-21), with its source."""
    key = str(number)
    if key not in READINGS:
        raise ValueError(f"the paper's Section 5 readings cover {', '.join(READINGS)}, not {number!r}")
    where = _APPENDIX_G.get(key, f"Section 5, {'Table' if key == '7' else 'Figure'} {key}")
    return f"{READINGS[key]} ({LIU_2019}, {where})"


def widths() -> pd.DataFrame:
    """Table 7: per conv of VGG-16 (CIFAR-10, Network Slimming, 60% of channels pruned), its width,
    the pruned width's mean and std over 5 runs; a last row "total"."""
    rows = [{"layer": str(layer), "width": width, "mean": mean, "std": std} for layer, width, mean, std in _TABLE_7]
    rows.append({"layer": "total", "width": sum(r["width"] for r in rows), "mean": round(sum(r["mean"] for r in rows), 1),
                 "std": NAN})
    return pd.DataFrame(rows).assign(n=5, source=LIU_2019 + ", Table 7")


def stage_pattern(number: int | str) -> pd.DataFrame:
    """Table 18 (PreResNet-164) or 21 (VGG-16), Network Slimming on CIFAR-10, as tidy rows: model,
    dataset, method, ratio (the total prune ratio), stage (from 1), kept (fraction of channels), source."""
    key = str(number)
    if key not in _STAGE_PATTERNS:
        raise ValueError(f"the paper's per-stage channel patterns are Tables 18 and 21, not {number!r}")
    model, dataset, method, ratios, stages = _STAGE_PATTERNS[key]
    return pd.DataFrame([
        {"model": model, "dataset": dataset, "method": method, "ratio": ratio, "stage": stage, "kept": kept,
         "source": f"{LIU_2019}, {_APPENDIX_G[key]}"}
        for stage, values in enumerate(stages, start=1) for ratio, kept in zip(ratios, values)
    ])


def kernel_pattern(number: int | str) -> pd.DataFrame:
    """Table 19 (PreResNet-110) or 20 (DenseNet-40), unstructured pruning on CIFAR-100, as tidy rows:
    model, dataset, method, ratio, stage (from 1), row, col (the 3x3 kernel position), kept, source."""
    key = str(number)
    if key not in _KERNEL_PATTERNS:
        raise ValueError(f"the paper's 3x3 kernel patterns are Tables 19 and 20, not {number!r}")
    model, dataset, method, ratios, stages = _KERNEL_PATTERNS[key]
    return pd.DataFrame([
        {"model": model, "dataset": dataset, "method": method, "ratio": ratio, "stage": stage, "row": row, "col": col,
         "kept": line[3 * r + col], "source": f"{LIU_2019}, {_APPENDIX_G[key]}"}
        for stage, lines in enumerate(stages, start=1) for row, line in enumerate(lines)
        for r, ratio in enumerate(ratios) for col in range(3)
    ])

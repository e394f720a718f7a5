"""rethinkkit: a study kit for "Rethinking the Value of Network Pruning" (Liu et al., ICLR 2019).

Notebooks use one import, `import rethinkkit as rk`, and reach everything from there:
rk.data, rk.models, rk.flops, rk.budget, rk.train, rk.pruning, rk.pipeline, rk.runs, rk.report, rk.paper,
rk.widgets, rk.batch, rk.coverage (the study's coverage map), rk.together (seeds trained together), rk.costs (what a batch will cost), rk.diagrams (Figures 1 and 2), rk.detection (Appendix B), rk.bench (speed), and the recipe types rk.Recipe / rk.RunSpec.
"""
from . import budget, config, data, flops, models, pruning, paper, pipeline, report, runs, train, widgets, batch, coverage, together, costs, diagrams, detection, bench  # noqa: F401
from .config import FINETUNE_CIFAR, IMAGENET, Recipe, RunSpec  # noqa: F401

__version__ = "0.1.0"

"""Regression-based feature reconstruction (He et al., "Channel Pruning for Accelerating Very
Deep Neural Networks", ICCV 2017): choose a layer's channels by LASSO on how well they
reconstruct the next layer's output, then refit the next layer by least squares.

At sampled positions of training images (`reconstruct.Sample`), the reader's output (all its
output channels) is Y, and channel c contributes Z_c = X_c W_c^T. He et al.'s channel selection
is the LASSO

    min_beta ||Y - sum_c beta_c Z_c||_F^2 + alpha ||beta||_1,

with alpha raised until at most c' of the beta are nonzero. Here scikit-learn's coordinate-
descent LASSO (`lasso_path`) traces beta over a falling grid of alpha, and each channel is ranked
by the largest alpha at which it is still selected (ties: |beta| at the smallest alpha); the top c'
are kept, which is what raising alpha until c' remain selects. The problem is solved in its
Gram form: with G = Z^T Z = L L^T and b = Z^T Y (Z's columns the flattened Z_c), the LASSO on
(L^T, L^-1 b) has the same objective up to a constant and a rescaled alpha, so its size is C x C
however many samples are drawn.

Then the reader's kept weights are refitted, W' = argmin ||Y - X_kept W'^T||_F^2 (He et al.'s
second step, all kept inputs of every output, not only a scale). Y is the *unpruned* network's
output, X the partly pruned network's input (He et al. Sec. 3.3, to keep errors from
accumulating). Layers go one at a time from the stem (`reconstruct.layerwise`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Pruned
from .reconstruct import Reconstruction, Sample, layerwise, least_squares

HE_2017 = "He et al., Channel Pruning for Accelerating Very Deep Neural Networks, ICCV 2017"


@dataclass(frozen=True)
class RegressionSpec(Reconstruction):
    """Regression pruning's target (a `Widths`) and its samples: `images` x `locations`
    positions per layer, every reader output at each; `alphas` points on the LASSO path."""

    images: int = 500  # the refit solves kept x K weights per output: it needs more samples than ThiNet
    alphas: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.alphas, bool) or not isinstance(self.alphas, int) or self.alphas < 2:
            raise ValueError(f"RegressionSpec.alphas is the number of LASSO path points (at least 2), got {self.alphas!r}")


def gram(sample: Sample, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """G[c, d] = <Z_c, Z_d> and b[c] = <Z_c, Y> over samples and outputs, in chunks of samples."""
    channels = sample.x.shape[1]
    g = torch.zeros(channels, channels, dtype=torch.float64)
    b = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(sample.x), chunk):
        part = Sample(sample.x[start:start + chunk], sample.weight, sample.target[start:start + chunk])
        z = part.contributions()  # (s, C, O)
        g += torch.einsum("sco,sdo->cd", z, z)
        b += torch.einsum("sco,so->c", z, part.target)
    return g, b


def lasso_ranking(g: torch.Tensor, b: torch.Tensor, alphas: int = 100) -> list[int]:
    """Channels from most to least important on the LASSO path of min ||Y - Z beta||^2 + alpha |beta|_1
    given in Gram form (G, b): by the largest alpha at which each is nonzero, then |beta| at the
    smallest alpha."""
    from sklearn.linear_model import lasso_path

    channels = g.shape[0]
    jitter = 1e-10 * float(torch.trace(g)) / channels + 1e-300  # dead channels make G singular
    chol = torch.linalg.cholesky(g + jitter * torch.eye(channels, dtype=g.dtype))
    design = chol.T.numpy()
    target = torch.linalg.solve_triangular(chol, b[:, None], upper=False)[:, 0].numpy()
    top = float(abs(design.T @ target).max()) / channels  # the smallest alpha at which every beta is zero
    grid = top * torch.logspace(0, -4, alphas, dtype=torch.float64).numpy()
    path_alphas, coefs, _ = lasso_path(design, target, alphas=grid)
    active = coefs != 0
    entry = torch.tensor([float(path_alphas[row].max()) if row.any() else 0.0 for row in active])
    last = torch.tensor(abs(coefs[:, -1]))
    order = sorted(range(channels), key=lambda c: (-float(entry[c]), -float(last[c]), c))
    return order


def refit(sample: Sample, kept: list[int]) -> torch.Tensor:
    """W' = argmin ||Y - X_kept W'^T||^2: the reader's new weight (O, kept, K)."""
    x = sample.x[:, kept].reshape(len(sample.x), -1)
    solution = least_squares(x, sample.target)  # (kept * K, O)
    return solution.T.reshape(sample.weight.shape[0], len(kept), sample.x.shape[2])


def _reducer(alphas: int):
    def reduce(sample: Sample, keep: int, gen: torch.Generator) -> tuple[list[int], torch.Tensor]:
        kept = sorted(lasso_ranking(*gram(sample), alphas=alphas)[:keep])
        return kept, refit(sample, kept)
    return reduce


def prune(model: nn.Module, spec: RegressionSpec, data=None) -> Pruned:
    """Regression pruning to `spec`'s predefined target, layer by layer, on `data`'s training images."""
    if not isinstance(spec, RegressionSpec):
        raise TypeError(f"regression pruning takes a RegressionSpec, got {type(spec).__name__}")
    return layerwise(model, spec, data, "regression", _reducer(spec.alphas), unknowns=lambda kept, k: len(kept) * k)

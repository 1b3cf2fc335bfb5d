"""Positional embedding: append the grid coordinates as extra channels."""

from __future__ import annotations

import torch
from torch import nn

from oplearn.models.layers.grid import check_grid, grid_coordinates


def embeds_coordinates(grid: str, requested: bool | None = None, *,
                       differential_kernels: bool = False) -> bool:
    """Whether a model appends grid coordinates (its ``positional_embedding`` option), the rule
    every model here shares: ``requested`` when it is given; by default yes, except on periodic
    grids for models with differential kernels.

    Coordinates tell a model where it is: a boundary (node grids) or a fixed forcing (the
    Navier-Stokes data) breaks translation invariance, and a model without them cannot see it
    (``oplearn run navier-stokes``, whose forcing is ``0.1 (sin + cos)(2 pi (x + y))``: relative
    L2 0.598 at 32 x 32 with ``--model-option positional_embedding=false``, against 0.0202 with
    the default, ``benchmarks/results/navier-stokes_default_cpu.json``). On a periodic grid the
    coordinate ``x_i = i / s`` jumps from ``1 - h`` to ``0`` across the wrap; a spectral or
    pointwise layer takes that in its stride, but a differential kernel turns it into a spike of
    height ``~ 1 / h`` that no resolution shares (an FNO with local kernels and coordinates,
    trained on the zoo's periodic Poisson problem at 64 points: relative error 0.013 there, 1.4 at
    256; without coordinates 0.005 and 0.007). On the translation-invariant Burgers problem the
    choice is within seed noise for the FNO (``benchmarks/zoo.py --models fno
    fno:positional_embedding=false --problems burgers --seed K``, K = 0..4, relative L2 at 128
    points: 0.024-0.033, mean 0.029, with coordinates; 0.026-0.047, mean 0.036, without) and TFNO
    (0.025 with, 0.022 without).
    """
    check_grid(grid)
    if requested is not None:
        return bool(requested)
    return grid == "node" or not differential_kernels


class GridEmbedding(nn.Module):
    """Concatenate coordinates in ``[0, 1]`` to the channels.

    ``(B, C, *S) -> (B, C + d, *S)``, ``d = len(S)``. On node-centred grids ``x_i = i / (s - 1)``,
    on periodic grids ``x_i = i / s``, so a point keeps its coordinate at every resolution.
    """

    def __init__(self, ndim: int, grid: str = "node"):
        super().__init__()
        self.ndim = ndim
        self.grid = check_grid(grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        coords = grid_coordinates(x.shape[2:], self.grid, dtype=x.dtype, device=x.device)
        return torch.cat([x, coords.expand(batch, *coords.shape)], dim=1)

"""Positional embedding: append the grid coordinates as extra channels."""

from __future__ import annotations

import torch
from torch import nn

from oplearn.models.layers.grid import check_grid, grid_coordinates


def embeds_coordinates(grid: str, requested: bool | None = None) -> bool:
    """Whether a model appends grid coordinates (its ``positional_embedding`` option): ``requested``
    when it is given, else on node-centred grids only, the rule every model here shares.

    On a node-centred grid the boundary breaks translation invariance and the coordinates tell the
    model where it is. On a periodic grid the problem is translation invariant, and the coordinate
    ``x_i = i / s`` jumps from ``1 - h`` to ``0`` across the wrap; a differential kernel turns that
    jump into a spike of height ``~ 1 / h``, which no resolution shares (an FNO with local kernels
    and coordinates, trained on the zoo's periodic Poisson problem at 64 points: relative error
    0.013 there, 1.4 at 256; without coordinates 0.005 and 0.007). Without coordinates a model
    of spectral and pointwise layers commutes with periodic shifts exactly. What that costs or
    gains in accuracy is within seed noise on the zoo's Burgers problem (``benchmarks/zoo.py``,
    seeds 0-4, relative L2 at 128 points): FNO 0.026-0.047 (mean 0.036) without coordinates,
    0.024-0.033 (0.029) with; TFNO 0.017-0.026 (0.022) without, 0.018-0.036 (0.025) with.
    """
    if requested is None:
        return check_grid(grid) == "node"
    check_grid(grid)
    return bool(requested)


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

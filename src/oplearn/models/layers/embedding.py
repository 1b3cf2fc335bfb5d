"""Positional embedding: append the grid coordinates as extra channels."""

from __future__ import annotations

import torch
from torch import nn

from oplearn.models.layers.grid import check_grid, grid_coordinates


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

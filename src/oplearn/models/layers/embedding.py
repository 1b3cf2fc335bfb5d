"""Positional embedding: append the grid coordinates as extra channels."""

from __future__ import annotations

import torch
from torch import nn


class GridEmbedding(nn.Module):
    """Concatenate coordinates in ``[0, 1]`` to the channels.

    ``(B, C, *S) -> (B, C + d, *S)``, ``d = len(S)``. On node-centred grids ``x_i = i / (s - 1)``,
    on periodic grids ``x_i = i / s``, so a point keeps its coordinate at every resolution.
    """

    def __init__(self, ndim: int, grid: str = "node"):
        super().__init__()
        if grid not in ("node", "periodic"):
            raise ValueError(f"grid must be 'node' or 'periodic', got {grid!r}")
        self.ndim = ndim
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, spatial = x.shape[0], x.shape[2:]
        axes = []
        for s in spatial:
            step = 1.0 / (s - 1) if self.grid == "node" else 1.0 / s
            axes.append(torch.arange(s, device=x.device, dtype=x.dtype) * step)
        coords = torch.stack(torch.meshgrid(*axes, indexing="ij"))
        return torch.cat([x, coords.expand(batch, *coords.shape)], dim=1)

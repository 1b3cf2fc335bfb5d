"""MgNO (He, Liu & Xu, ICLR 2024): neural operator whose linear maps are multigrid V-cycles."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers.embedding import GridEmbedding
from oplearn.models.layers.grid import check_field, check_grid, check_ndim
from oplearn.models.layers.pointwise import ChannelLinear
from oplearn.models.layers.vcycle import VCycle
from oplearn.models.registry import register


class MgNO(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)`` in 1 or 2 dimensions, for any grid size ``S``.

    ``n_layers`` operator layers ``v <- gelu(V v + W v + b)``, where ``V`` is a learned multigrid
    V-cycle (:class:`~oplearn.models.layers.vcycle.VCycle`: convolution smoothers, stride-2
    restriction, transposed-convolution prolongation) from the layer's input channels to ``width``
    channels and ``W v + b`` a pointwise linear map; then a pointwise linear map to ``C_out``. As in
    the paper there is no lifting: the first V-cycle acts on the input channels directly.
    Boundaries follow ``grid``: zero padding on node grids (Dirichlet data), circular padding on
    periodic grids.

    Not resolution invariant: the stencils are learned on the training grid, so on a grid ``r``
    times finer each 3-point kernel covers ``1/r`` of the physical width it was trained on and the
    same number of levels stops ``r`` times finer, which changes the operator (the paper trains and
    evaluates at one resolution). The model runs at other sizes, but its output there is not
    meant to approximate the same operator: trained on the zoo's 1D Poisson problem at 64 points
    (relative error 0.004) it gives 0.66 at 256 points.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1 or 2).
        grid: ``"node"`` (zero padding) or ``"periodic"`` (circular padding).
        width: channels of the hidden layers (the ``u`` channels of every V-cycle).
        n_layers: number of operator layers.
        levels: grids in each V-cycle.
        pre_smooth, post_smooth: smoothing steps before/after the coarse correction, for every
            level or one count per level (the authors' Darcy setting is one pre-smoothing step per
            level, two on the coarsest, no post-smoothing).
        positional_embedding: append the grid coordinates to the input (off in the paper).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        width: int = 24,
        n_layers: int = 4,
        levels: int = 6,
        pre_smooth: int | Sequence[int] = 1,
        post_smooth: int | Sequence[int] = 0,
        positional_embedding: bool = False,
    ):
        super().__init__()
        check_ndim(ndim, (1, 2))
        check_grid(grid)
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.embedding = GridEmbedding(ndim, grid) if positional_embedding else None
        boundary = "circular" if grid == "periodic" else "zeros"
        channels = [in_channels + (ndim if positional_embedding else 0)] + [width] * n_layers
        self.cycles = nn.ModuleList(
            VCycle(c_in, c_out, ndim, levels=levels, pre_smooth=pre_smooth,
                   post_smooth=post_smooth, boundary=boundary)
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True))
        self.skips = nn.ModuleList(
            ChannelLinear(c_in, c_out) for c_in, c_out in zip(channels[:-1], channels[1:], strict=True))
        self.projection = ChannelLinear(width, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        v = self.embedding(x) if self.embedding is not None else x
        for cycle, skip in zip(self.cycles, self.skips, strict=True):
            v = F.gelu(cycle(v) + skip(v))
        return self.projection(v)


register("mgno", MgNO, "MgNO (He, Liu & Xu 2024): layers gelu(V-cycle(v) + W v + b), learned "
         "multigrid convolutions", ndims=(1, 2), resolution_invariant=False)

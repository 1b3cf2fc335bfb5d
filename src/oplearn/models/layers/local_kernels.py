"""The sum of local kernels (differential and/or local integral), by name.

A neural-operator layer combines global and local parts, ``v <- act(K v + W v + D v + I v)``
(Liu-Schiaffini et al., ICML 2024); this module builds the local part ``D v + I v`` from a list
of names, so FNO and the purely local operator share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from oplearn.models.layers.differential import DifferentialConv
from oplearn.models.layers.grid import grid_spacing
from oplearn.models.layers.local_integral import LocalIntegralConv

KINDS = ("differential", "integral")


class LocalKernels(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: the sum of the named local kernels.

    Args:
        in_channels, out_channels: channel counts.
        ndim: spatial dimensions (the integral kernel needs 1 or 2).
        grid: ``"node"`` or ``"periodic"``.
        kinds: names among ``"differential"`` (:class:`DifferentialConv`) and ``"integral"``
            (:class:`LocalIntegralConv`), each at most once.
        kernel_size: stencil width of the differential kernel.
        centred: odd differential stencils (second-order consistent; see :class:`DifferentialConv`).
            On by default here: an FNO with differential kernels, trained on the zoo's periodic
            Poisson problem at 64 points and evaluated at 256, went from relative error 0.0048 to
            0.041 with mean-free stencils, from 0.0052 to 0.0081 with centred ones.
        radius, n_radial, n_angular: support radius and basis of the integral kernel. The
            default hats are ``0.0625`` wide, two grid cells of the coarsest Darcy grid (33): a
            basis finer than the training grid resolves is fitted to its discrete samples and
            does not transfer (an FNO with integral kernels on the problem above: radius
            ``0.0625`` with three radial hats, 0.0019 -> 0.075; radius ``0.125`` with two,
            0.0019 -> 0.0025).
    """

    def __init__(self, in_channels: int, out_channels: int, ndim: int, grid: str,
                 kinds: Sequence[str], *, kernel_size: int = 3, radius: float = 0.125,
                 n_radial: int = 2, n_angular: int = 4, centred: bool = True):
        super().__init__()
        kinds = tuple(kinds)
        if not kinds or len(set(kinds)) != len(kinds) or not set(kinds) <= set(KINDS):
            raise ValueError(f"local kernels must be distinct names among {KINDS}, got {kinds}")
        self.grid = grid
        self.kernels = nn.ModuleDict()
        if "differential" in kinds:
            self.kernels["differential"] = DifferentialConv(
                in_channels, out_channels, ndim, grid=grid, kernel_size=kernel_size,
                centred=centred)
        if "integral" in kinds:
            self.kernels["integral"] = LocalIntegralConv(
                in_channels, out_channels, ndim, grid=grid, radius=radius, n_radial=n_radial,
                n_angular=n_angular)

    def forward(self, x: torch.Tensor, spacing: Sequence[float] | None = None) -> torch.Tensor:
        """``x``: ``(B, C_in, *S)``; ``spacing``: ``h`` per axis (default: from ``S`` and ``grid``;
        pass the unpadded grid's spacing when ``x`` is domain-padded)."""
        spacing = grid_spacing(x.shape[2:], self.grid) if spacing is None else spacing
        kernels = iter(self.kernels.values())
        y = next(kernels)(x, spacing)
        for kernel in kernels:
            y = y + kernel(x, spacing)
        return y

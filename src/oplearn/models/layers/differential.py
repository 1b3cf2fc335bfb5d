"""Differential kernel: a convolution that converges to a learned first-order differential operator.

Liu-Schiaffini et al., "Neural Operators with Localized Integral and Differential Kernels" (ICML
2024): a CNN kernel ``K`` applied on a grid of spacing ``h`` vanishes or blows up as the
grid refines, unless its values sum to zero and it is scaled by ``1 / h``; then, by Taylor's
theorem,

    (1 / h) sum_m K[m] u(x + m h) = sum_m K[m] (m . grad u(x)) + O(h),

a combination of directional derivatives that is the same at every resolution. The layer keeps an
unconstrained weight and uses ``K = weight - mean(weight)`` (mean over the stencil), the centring
that the paper's reference code also offers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers.grid import check_field, check_grid, check_ndim, grid_spacing

PADDINGS = ("circular", "linear", "replicate")


def _pad_linear(x: torch.Tensor, dim: int, p: int) -> torch.Tensor:
    """Extend ``x`` by ``p`` ghost points at both ends of ``dim`` by linear extrapolation of the two
    outermost points (``u_{-j} = u_0 + j (u_0 - u_1)``): exact for fields linear along ``dim``."""
    s = x.shape[dim]
    shape = [1] * x.ndim
    shape[dim] = p
    j = torch.arange(1, p + 1, dtype=x.dtype, device=x.device).view(shape)
    first, second = x.narrow(dim, 0, 1), x.narrow(dim, 1, 1)
    last, before = x.narrow(dim, s - 1, 1), x.narrow(dim, s - 2, 1)
    left = first + j.flip(dim) * (first - second)  # ghost points -p, ..., -1
    right = last + j * (last - before)  # ghost points s, ..., s + p - 1
    return torch.cat([left, x, right], dim=dim)


class DifferentialConv(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: a learned first-order differential operator.

    With ``K_oi = weight_oi - mean(weight_oi)`` (a stencil of ``k^d`` values summing to zero) and
    offsets ``m`` in ``{-k//2, .., k//2}^d`` (cross-correlation, as ``torch.nn.Conv``),

        y_o(x) = (1 / h) sum_i sum_m K_oi[m] u_i(x + m h)
              -> sum_i sum_a b_oia d u_i / d x_a(x),   b_oia = sum_m K_oi[m] m_a,

    at first order in ``h``. Constants are annihilated exactly. ``h`` is the grid spacing of the
    input (:func:`grid_spacing`; on grids whose axes differ in spacing, their geometric mean, so the
    limit is resolution-independent for square cells, the grids of this project).

    Padding (the boundary rows are part of the operator): ``"circular"`` on periodic grids;
    on node-centred grids the default ``"linear"`` extrapolates ``k//2`` ghost points from the two
    outermost points, which is exact for linear fields, so the layer converges to the same
    derivative at the boundary as inside (first order). ``"replicate"`` is offered too; it keeps
    the layer bounded but its boundary rows tend to a different (one-sided, damped) derivative.
    Zero padding is not offered: it makes the boundary rows grow like ``u / h``.

    Args:
        in_channels, out_channels: channel counts.
        ndim: spatial dimensions (1, 2 or 3).
        grid: ``"node"`` or ``"periodic"``: sets ``h`` and the default padding.
        kernel_size: odd stencil width per axis (3 in the paper).
        padding: ``"circular"``, ``"linear"`` or ``"replicate"``; ``None`` picks by ``grid``.
        centred: also make ``K`` odd, ``K[-m] = -K[m]`` (replace it by ``(K[m] - K[-m]) / 2``):
            the same limits ``b`` are reachable, and the ``O(h)`` term, which carries the even
            part of ``K`` (an ``h``-scaled second derivative the network could fit at one
            resolution), vanishes, so the layer converges at second order.
        init_scale: the weight starts uniform in ``+-init_scale / sqrt(C_in k^d)``. The layer
            multiplies a Fourier mode of ``k`` periods per unit length by about
            ``2 pi k |b|``, so a small start keeps stacked layers from amplifying high
            frequencies before training has seen any data.
    """

    def __init__(self, in_channels: int, out_channels: int, ndim: int, *, grid: str = "node",
                 kernel_size: int = 3, padding: str | None = None, init_scale: float = 0.1,
                 centred: bool = False):
        super().__init__()
        check_ndim(ndim)
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 3, got {kernel_size}")
        self.grid = check_grid(grid)
        padding = padding or ("circular" if grid == "periodic" else "linear")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.kernel_size, self.padding, self.centred = kernel_size, padding, centred
        bound = init_scale / math.sqrt(in_channels * kernel_size**ndim)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, *(kernel_size,) * ndim).uniform_(-bound, bound)
        )

    def kernel(self) -> torch.Tensor:
        """The zero-sum stencil ``K``, ``(C_out, C_in, k, .., k)`` (not yet scaled by ``1 / h``)."""
        dims = tuple(range(2, 2 + self.ndim))
        kernel = self.weight - self.weight.mean(dim=dims, keepdim=True)
        return (kernel - kernel.flip(dims)) / 2 if self.centred else kernel

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        p = self.kernel_size // 2
        if self.padding == "linear":
            for dim in range(2, x.ndim):
                x = _pad_linear(x, dim, p)
            return x
        return F.pad(x, [p] * (2 * self.ndim), mode=self.padding)

    def forward(self, x: torch.Tensor, spacing: Sequence[float] | None = None) -> torch.Tensor:
        """``x``: ``(B, C_in, *S)``; ``spacing``: ``h`` per axis, by default from ``S`` and ``grid``
        (pass it when ``x`` is a padded extension of the grid). Returns ``(B, C_out, *S)``."""
        check_field(x, self.in_channels, self.ndim)
        spacing = grid_spacing(x.shape[2:], self.grid) if spacing is None else spacing
        h = math.prod(spacing) ** (1.0 / len(spacing))
        conv = (F.conv1d, F.conv2d, F.conv3d)[self.ndim - 1]
        return conv(self._pad(x), self.kernel()) / h

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, ndim={self.ndim}, "
                f"kernel_size={self.kernel_size}, grid={self.grid!r}, padding={self.padding!r}")

"""A multigrid V-cycle with learned convolutional components: a linear map between fields.

This is MgNet's / MgNO's parameterisation of a linear operator (He & Xu 2019; He, Liu & Xu 2024):
the classical V-cycle for ``A u = f`` started from ``u = 0``, with every ingredient a learned
convolution acting on the whole field,

- ``A_l``: 3-point (1D) / 3x3 (2D) convolution ``C_u -> C_f`` on level ``l`` (the "operator");
- ``S_{l,i}``: 3-point / 3x3 convolutions ``C_f -> C_u``, one per smoothing step (the smoothers);
- ``R_l``: stride-2 3-point / 3x3 convolution ``C_f -> C_f`` (restriction of residuals);
- ``P_l``: stride-2 transposed 3-point / 3x3 convolution ``C_u -> C_u`` (prolongation).

``V(f)`` on level ``l`` (level 0 is the input grid, level ``l + 1`` has ``ceil(s / 2)`` points per
axis of level ``l``'s ``s``, so node grids of ``2^k + 1`` points coarsen onto their own even points)::

    u = 0
    repeat pre_smooth times:   u <- u + S(f - A u)
    if not the coarsest level: u <- u + P V_{l+1}(R (f - A u))
    repeat post_smooth times:  u <- u + S(f - A u)

With ``A`` the discrete Laplacian, ``S`` damped Jacobi, ``R`` full weighting and ``P`` linear
interpolation this is the textbook V(pre, post)-cycle (``tests/models/test_mgno.py`` checks it).

The authors' code differs in two details that do not change the family of linear maps much: the
coarse right-hand side there is ``R f`` with a restricted initial guess ``Pi u`` instead of the
restricted residual with ``u = 0``, and prolongation is a 4x4 transposed convolution (which
needs even sizes). The residual form here is the textbook algorithm, and 3-point transfers centred
on even points work for every size.

Boundaries: ``"zeros"`` pads every convolution with zeros (homogeneous Dirichlet data outside the
grid); ``"circular"`` wraps around (periodic fields), in the transfers too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from oplearn.models.layers.grid import check_field, check_ndim

BOUNDARIES = ("zeros", "circular")
_CONV = {1: F.conv1d, 2: F.conv2d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d}


def _per_level(count: int | Sequence[int], levels: int, name: str) -> list[int]:
    counts = [count] * levels if isinstance(count, int) else list(count)
    if levels < 1 or len(counts) != levels or min(counts) < 0:
        raise ValueError(f"{name} must be a count >= 0 or {levels} of them, got {count}")
    return counts


def _kernel(out_channels: int, in_channels: int, ndim: int, fan_in: int) -> nn.Parameter:
    """A ``(out, in, 3, ..)`` kernel, uniform in ``+-1/sqrt(fan_in * 3^ndim)`` (PyTorch's default)."""
    bound = 1.0 / math.sqrt(fan_in * 3**ndim)
    return nn.Parameter(torch.empty(out_channels, in_channels, *(3,) * ndim).uniform_(-bound, bound))


class VCycle(nn.Module):
    """``(B, C_f, *S) -> (B, C_u, *S)``: one learned multigrid V-cycle, linear in its input.

    Args:
        in_channels: channels ``C_f`` of the right-hand side ``f`` (the input).
        out_channels: channels ``C_u`` of the solution ``u`` (the output).
        ndim: spatial dimensions (1 or 2).
        levels: grids in the hierarchy (1 = smoothing on the input grid only).
        pre_smooth, post_smooth: smoothing steps before and after the coarse-grid correction, one
            count for every level or one per level (finest first).
        boundary: ``"zeros"`` or ``"circular"``.

    Any grid size works: level sizes are ``ceil(s / 2)`` and prolongation crops back to the finer
    size. Kernels are attributes ``A[l]``, ``pre[l][i]``, ``post[l][i]``, ``R[l]``, ``P[l]`` (the
    last two for every level but the coarsest; ``A`` for every level whose residual is formed, so
    not for a coarsest level with a single smoothing step, the default); ``P[l]`` is laid out
    ``(C_u, C_u, 3, ..)`` as for ``conv_transpose``.
    """

    def __init__(self, in_channels: int, out_channels: int, ndim: int, *, levels: int = 4,
                 pre_smooth: int | Sequence[int] = 1, post_smooth: int | Sequence[int] = 0,
                 boundary: str = "zeros"):
        super().__init__()
        check_ndim(ndim, (1, 2))
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
        pre = _per_level(pre_smooth, levels, "pre_smooth")
        post = _per_level(post_smooth, levels, "post_smooth")
        if pre[-1] + post[-1] < 1:
            raise ValueError("the coarsest level needs at least one smoothing step")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.levels, self.boundary = levels, boundary
        c_f, c_u = in_channels, out_channels
        # the coarsest level forms a residual only from its second smoothing step on
        operator_levels = levels if pre[-1] + post[-1] > 1 else levels - 1
        self.A = nn.ParameterList(_kernel(c_f, c_u, ndim, c_u) for _ in range(operator_levels))
        self.pre = nn.ModuleList(
            nn.ParameterList(_kernel(c_u, c_f, ndim, c_f) for _ in range(count)) for count in pre)
        self.post = nn.ModuleList(
            nn.ParameterList(_kernel(c_u, c_f, ndim, c_f) for _ in range(count)) for count in post)
        self.R = nn.ParameterList(_kernel(c_f, c_f, ndim, c_f) for _ in range(levels - 1))
        self.P = nn.ParameterList(_kernel(c_u, c_u, ndim, c_u) for _ in range(levels - 1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the unused coarsest A[l] was dropped still load
        if len(self.A) < self.levels:
            state_dict.pop(f"{prefix}A.{len(self.A)}", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- grid operations ------------------------------------------------------------------------

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        mode = "circular" if self.boundary == "circular" else "constant"
        return F.pad(x, (1, 1) * self.ndim, mode=mode)

    def conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Same-size 3-point / 3x3 convolution (cross-correlation) with the boundary's padding."""
        if self.boundary == "zeros":
            return _CONV[self.ndim](x, weight, padding=1)
        return _CONV[self.ndim](self._pad(x), weight)

    def restrict(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``(B, C, *S) -> (B, C, *ceil(S / 2))``: stride-2 convolution centred on even points."""
        return _CONV[self.ndim](self._pad(x), weight, stride=2)

    def prolong(self, x: torch.Tensor, weight: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
        """``(B, C, *m) -> (B, C, *spatial)`` with ``m = ceil(spatial / 2)``: transposed stride-2
        convolution, coarse point ``j`` centred on fine point ``2 j``; what falls outside the fine
        grid is dropped (zeros) or wrapped around (circular)."""
        y = _CONV_T[self.ndim](x, weight, stride=2)  # fine points -1 .. 2 m - 1 along each axis
        for axis, n in enumerate(spatial):
            y = self._fold(y, 2 + axis, n)
        return y

    def _fold(self, y: torch.Tensor, dim: int, n: int) -> torch.Tensor:
        """Along ``dim``, ``y`` holds fine points ``-1 .. L - 2``; return points ``0 .. n - 1``."""
        inside = y.narrow(dim, 1, n)
        if self.boundary == "zeros":
            return inside
        beyond = y.shape[dim] - 1 - n  # points n .. L - 2 wrap to 0 ..
        shape = list(y.shape)
        shape[dim] = n - 1
        wrapped = torch.cat([y.new_zeros(shape), y.narrow(dim, 0, 1)], dim=dim)  # -1 -> n - 1
        if beyond > 0:
            shape[dim] = n - beyond
            wrapped = wrapped + torch.cat([y.narrow(dim, n + 1, beyond), y.new_zeros(shape)], dim=dim)
        return inside + wrapped

    # -- the cycle ------------------------------------------------------------------------------

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        check_field(f, self.in_channels, self.ndim)
        return self._cycle(f, 0)

    def _smooth(self, u: torch.Tensor | None, f: torch.Tensor, level: int,
                smoothers: nn.ParameterList) -> torch.Tensor | None:
        for s in smoothers:
            residual = f if u is None else f - self.conv(u, self.A[level])
            step = self.conv(residual, s)
            u = step if u is None else u + step
        return u

    def _cycle(self, f: torch.Tensor, level: int) -> torch.Tensor:
        u = self._smooth(None, f, level, self.pre[level])
        if level < self.levels - 1:
            residual = f if u is None else f - self.conv(u, self.A[level])
            correction = self.prolong(self._cycle(self.restrict(residual, self.R[level]), level + 1),
                                      self.P[level], tuple(f.shape[2:]))
            u = correction if u is None else u + correction
        u = self._smooth(u, f, level, self.post[level])
        assert u is not None  # at least one smoothing step, so the coarsest level sets u
        return u

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, ndim={self.ndim}, levels={self.levels}, "
                f"pre_smooth={[len(p) for p in self.pre]}, post_smooth={[len(p) for p in self.post]}, "
                f"boundary={self.boundary!r}")

"""MG-TFNO's multigrid domain decomposition (Kossaifi et al. 2023) around any grid model.

Each sample ``(C, *S)`` is cut into ``n = 2^levels`` patches per axis, and every patch becomes a
sample of its own for the inner model. A patch spans ``w = (s - 1) / n`` intervals of a
node-centred grid (``w + 1`` points: neighbouring patches share their edge nodes) or ``w = s / n``
points of a periodic grid. It carries ``levels + 1`` views, stacked as channels, each of ``P``
points per axis (``P = w + 1 + 2 p`` or ``w + 2 p``, ``p`` the overlap):

- level 0: the patch and ``p`` points of its neighbours on each side, at full resolution;
- level ``l >= 1``: ``P`` points every ``2^l``-th point, a window ``2^l`` times as wide around the
  same centre (at ``levels = 1`` as wide as the domain, but centred on the patch, so part of it
  lies outside and comes from ``mode``).

With ``positions=True`` (the default on node grids) the ``d`` global coordinates of the level-0
points are appended as channels: on a bounded domain the solution depends on where a patch lies
(e.g. its distance to a Dirichlet boundary), which the views alone do not say.

The inner model's outputs are cropped to their own patch and stitched. Outside the domain, values
come from ``mode``: ``"circular"`` (periodic data), ``"reflect"``, ``"replicate"`` or ``"zeros"``.
Sizes whose ``w`` would not be an integer are handled as a slightly larger grid (the extra points
split between both ends, counted as outside the domain) and cropped back at the end.

Patches are processed independently, so the inner model's memory per sample shrinks with the
patch (and patches can be spread over devices); the overlap and the coarse views carry the
information across patch borders. The patch count is fixed and every width above scales with the
grid, so a resolution-invariant inner model stays resolution-invariant: exactly when ``w`` and
``p = ceil(fraction w)`` scale exactly (the default fraction 1/8 of a power-of-two ``w``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from oplearn.models.layers.grid import check_field, check_grid, check_ndim, grid_spacing

PATCH_MODES = ("circular", "reflect", "replicate", "zeros")


def _outside(index: torch.Tensor, size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Map integer positions ``index`` (any values) onto ``[0, size)`` by ``mode``; also return
    the mask of positions inside the domain (used by ``"zeros"``)."""
    inside = (index >= 0) & (index < size)
    if mode == "circular":
        return index % size, inside
    if mode == "reflect":
        if size == 1:
            return torch.zeros_like(index), inside
        period = 2 * (size - 1)
        folded = index % period
        return torch.where(folded > size - 1, period - folded, folded), inside
    return index.clamp(0, size - 1), inside  # replicate, and zeros before masking


class MultigridPatching(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: ``inner`` applied to multigrid patches, stitched.

    Args:
        inner: a model ``(B', C', *P) -> (B', C_out, *P)`` for any patch shape ``P``, with
            ``C' = inner_channels(C_in, levels, ndim, positions)`` input channels.
        in_channels: ``C_in``.
        ndim: spatial dimensions (1-3).
        grid: ``"node"`` (neighbouring patches share edge nodes) or ``"periodic"``.
        levels: ``2^levels`` patches per axis and ``levels`` coarse context views (>= 1).
        padding_fraction: overlap ``p = ceil(fraction * w)`` points on each side of a patch, as a
            fraction of its width ``w``.
        mode: values outside the domain, one of :data:`PATCH_MODES`.
        positions: append the global coordinates of the level-0 points (default: on node grids).
    """

    def __init__(self, inner: nn.Module, in_channels: int, *, ndim: int = 2, grid: str = "node",
                 levels: int = 1, padding_fraction: float = 0.125, mode: str = "reflect",
                 positions: bool | None = None):
        super().__init__()
        if not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
        if padding_fraction < 0:
            raise ValueError(f"padding_fraction must be >= 0, got {padding_fraction}")
        if mode not in PATCH_MODES:
            raise ValueError(f"mode must be one of {', '.join(PATCH_MODES)}, got {mode!r}")
        self.inner = inner
        self.in_channels, self.ndim = in_channels, check_ndim(ndim)
        self.levels, self.padding_fraction, self.mode = levels, padding_fraction, mode
        self.grid = check_grid(grid)
        self.shared_edge = 1 if grid == "node" else 0  # extra point per patch
        self.positions = grid == "node" if positions is None else positions
        self.patches = 2 ** levels

    @staticmethod
    def inner_channels(in_channels: int, levels: int, ndim: int, positions: bool) -> int:
        """Input channels of the inner model: ``levels + 1`` views, plus ``ndim`` coordinates."""
        return in_channels * (levels + 1) + (ndim if positions else 0)

    def _views(self, x: torch.Tensor, widths: tuple[int, ...], overlaps: tuple[int, ...],
               origin: tuple[int, ...], spacing: tuple[float, ...]) -> torch.Tensor:
        """``(B, C, *S) -> (B n^d, C', *P)``: every patch's views (and the coordinates of its level-0
        points). Patch positions count from ``origin`` points before the first point of ``x``."""
        batch, channels, spatial = x.shape[0], x.shape[1], x.shape[2:]
        n, d = self.patches, self.ndim
        spans = tuple(w + 2 * p for w, p in zip(widths, overlaps, strict=True))  # in intervals (node grids)
        points = tuple(span + self.shared_edge for span in spans)
        views, coordinates = [], []
        for level in range(self.levels + 1):
            stride = 2 ** level
            view, mask = x, None
            for axis, size in enumerate(spatial):
                left = (stride * spans[axis] - widths[axis]) // 2  # the window is centred on the patch
                offsets = stride * torch.arange(points[axis], device=x.device) - left
                index = torch.arange(n, device=x.device)[:, None] * widths[axis] + offsets - origin[axis]
                if level == 0:  # (n, points): the grid index of every view point, in x's numbering
                    coordinates.append(index.to(x.dtype) * spacing[axis])
                index, inside = _outside(index, size, self.mode)
                view = view.index_select(2 + 2 * axis, index.flatten()).unflatten(2 + 2 * axis, (n, points[axis]))
                if self.mode == "zeros":
                    shape = [1] * (2 + 2 * d)
                    shape[2 + 2 * axis], shape[3 + 2 * axis] = n, points[axis]
                    mask = inside.reshape(shape) if mask is None else mask & inside.reshape(shape)
            if mask is not None:
                view = view * mask.to(view.dtype)
            # (B, C, n, P1, n, P2, ...) -> (B, n, n, ..., C, P1, P2, ...)
            order = [0, *range(2, 2 + 2 * d, 2), 1, *range(3, 3 + 2 * d, 2)]
            views.append(view.permute(order).reshape(batch * n ** d, channels, *points))
        if self.positions:  # channel a at patch (i_1, ...), point (k_1, ...): coordinates[a][i_a, k_a]
            grids = []
            for axis, values in enumerate(coordinates):
                shape = [1] * (2 * d)
                shape[axis], shape[d + axis] = n, points[axis]
                grids.append(values.reshape(shape).expand(*(n,) * d, *points))
            grids = torch.stack(grids, dim=d).reshape(1, n ** d, d, *points)
            views.append(grids.expand(batch, *grids.shape[1:]).reshape(batch * n ** d, d, *points))
        return torch.cat(views, dim=1)

    def _stitch(self, y: torch.Tensor, batch: int, widths: tuple[int, ...], overlaps: tuple[int, ...]
                ) -> torch.Tensor:
        """``(B n^d, C, *P) -> (B, C, *(n w + e))``: crop the overlap, put patches in place (on node
        grids, ``e = 1``: a patch keeps its first ``w`` points, the last patch also its edge node)."""
        n, d, e = self.patches, self.ndim, self.shared_edge
        y = y[(Ellipsis, *(slice(p, p + w + e) for w, p in zip(widths, overlaps, strict=True)))]
        y = y.reshape(batch, *(n,) * d, y.shape[1], *(w + e for w in widths))
        order = [0, 1 + d]  # (B, n, ..., n, C, P1, ...) -> (B, C, n, P1, n, P2, ...)
        for axis in range(d):
            order += [1 + axis, 2 + d + axis]
        y = y.permute(order)
        for axis in reversed(range(d)):  # joining the last axes first keeps the earlier dims in place
            dim, w = 2 + 2 * axis, widths[axis]
            joined = y.narrow(dim + 1, 0, w).flatten(dim, dim + 1)
            if e:
                joined = torch.cat([joined, y.select(dim, n - 1).narrow(dim, w, 1)], dim=dim)
            y = joined
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        spatial, e = x.shape[2:], self.shared_edge
        extra = tuple(-(s - e) % self.patches for s in spatial)  # points added to make w an integer
        origin = tuple(k // 2 for k in extra)
        widths = tuple((s + k - e) // self.patches for s, k in zip(spatial, extra, strict=True))
        overlaps = tuple(math.ceil(self.padding_fraction * w) for w in widths)
        out = self.inner(self._views(x, widths, overlaps, origin, grid_spacing(spatial, self.grid)))
        crop = tuple(slice(o, o + s) for o, s in zip(origin, spatial, strict=True))
        return self._stitch(out, x.shape[0], widths, overlaps)[(Ellipsis, *crop)]

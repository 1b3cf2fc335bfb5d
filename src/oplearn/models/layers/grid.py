"""The grid conventions on the unit cube: checks of ``(B, C, *S)`` fields, spacing, coordinates.

Node-centred grids (Dirichlet data) have ``s`` points ``x_i = i / (s - 1)``, spacing
``1 / (s - 1)``; periodic grids have ``s`` points ``x_i = i / s``, spacing ``1 / s``. Layers whose
discretisation depends on the resolution (a stencil scaled by ``1 / h``, a quadrature weight
``h^d``) take their spacing from here, so that the same learned parameters define the same
continuous operator at every resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

GRIDS = ("node", "periodic")


def check_ndim(ndim: int, allowed: Sequence[int] = (1, 2, 3)) -> int:
    """``ndim`` itself if it is one of ``allowed``; ``ValueError`` otherwise."""
    if ndim not in allowed:
        raise ValueError(f"ndim must be one of {tuple(allowed)}, got {ndim}")
    return ndim


def check_field(x: torch.Tensor, channels: int | None, ndim: int) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, channels, *S)`` with ``len(S) == ndim``
    (``channels=None``: any channel count)."""
    if x.ndim != ndim + 2 or (channels is not None and x.shape[1] != channels):
        c = "C" if channels is None else channels
        raise ValueError(f"expected input (B, {c}, {', '.join('S' * ndim)}), got {tuple(x.shape)}")


def check_grid(grid: str) -> str:
    """``grid`` itself if it is ``"node"`` or ``"periodic"``; ``ValueError`` otherwise."""
    if grid not in GRIDS:
        raise ValueError(f"grid must be 'node' or 'periodic', got {grid!r}")
    return grid


def grid_spacing(spatial: Sequence[int], grid: str) -> tuple[float, ...]:
    """Spacing ``h`` per axis of a grid with ``spatial`` points per axis.

    Args:
        spatial: points per axis, e.g. ``x.shape[2:]`` of a ``(B, C, *S)`` field.
        grid: ``"node"`` (``h = 1 / (s - 1)``, needs ``s >= 2``) or ``"periodic"`` (``h = 1 / s``).
    """
    check_grid(grid)
    if grid == "node":
        if min(spatial) < 2:
            raise ValueError(
                f"a node-centred grid needs at least 2 points per axis, got {tuple(spatial)}")
        return tuple(1.0 / (s - 1) for s in spatial)
    return tuple(1.0 / s for s in spatial)


def grid_coordinates(spatial: Sequence[int], grid: str, *, dtype: torch.dtype = torch.float32,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """Coordinates ``(d, *S)`` in ``[0, 1]`` of the grid points (``d = len(S)``, ``ij`` order)."""
    axes = [torch.arange(s, dtype=dtype, device=device) * h
            for s, h in zip(spatial, grid_spacing(spatial, grid), strict=True)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"))

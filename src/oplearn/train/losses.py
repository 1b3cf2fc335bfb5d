"""Relative L2 and H1 losses between fields ``(B, C, *S)``; both return the batch mean."""

from __future__ import annotations

import torch


def relative_l2(pred: torch.Tensor, true: torch.Tensor, reduce: bool = True) -> torch.Tensor:
    """``||pred - true|| / ||true||`` per sample over channels and grid; mean over the batch
    (or ``(B,)`` with ``reduce=False``). Grid-independent: both norms carry the same cell size."""
    diff = (pred - true).flatten(1).norm(dim=1)
    ref = true.flatten(1).norm(dim=1).clamp_min(torch.finfo(true.dtype).tiny)
    err = diff / ref
    return err.mean() if reduce else err


def _grad_sq(u: torch.Tensor, spacing: float, periodic: bool) -> torch.Tensor:
    """Squared norm of forward-difference gradients per sample, scaled to unit-cube units; on a
    periodic grid including the wrap-around difference ``u_0 - u_{s-1}`` of every axis."""
    total = torch.zeros(u.shape[0], dtype=u.dtype, device=u.device)
    for dim in range(2, u.ndim):
        if periodic:
            d = (torch.roll(u, -1, dims=dim) - u) / spacing
        else:
            d = torch.diff(u, dim=dim) / spacing
        total = total + d.square().flatten(1).sum(1) * spacing ** (u.ndim - 2)
    return total


def relative_h1(pred: torch.Tensor, true: torch.Tensor, grid: str = "node",
                reduce: bool = True) -> torch.Tensor:
    """Relative H1 error ``sqrt(|e|^2 + |grad e|^2) / sqrt(|u|^2 + |grad u|^2)`` with forward
    differences on the node-centred (``h = 1/(s-1)``, the ``s - 1`` differences between the
    nodes) or periodic (``h = 1/s``, all ``s`` differences around the circle) grid."""
    if grid not in ("node", "periodic"):
        raise ValueError(f"grid must be 'node' or 'periodic', got {grid!r}")
    s = true.shape[-1]
    periodic = grid == "periodic"
    h = 1.0 / s if periodic else 1.0 / (s - 1)
    cell = h ** (true.ndim - 2)
    e = pred - true
    num = e.square().flatten(1).sum(1) * cell + _grad_sq(e, h, periodic)
    den = true.square().flatten(1).sum(1) * cell + _grad_sq(true, h, periodic)
    err = (num / den.clamp_min(torch.finfo(true.dtype).tiny)).sqrt()
    return err.mean() if reduce else err


LOSSES = {"l2": relative_l2, "h1": relative_h1}

"""Finite-difference pieces shared by the elliptic problems on the node-centred unit-square grid.

All operators act on the ``(s - 2)^2`` interior nodes of the grid ``x_i = i / (s - 1)``, ordered
row-major like :func:`oplearn.pdes.darcy.assemble` (node ``(i, j)`` sits at ``(x_i, y_j)``, the
first array axis is ``x``), with homogeneous Dirichlet data: couplings to boundary nodes are dropped.
Diffusion ``-div(a grad .)`` (face coefficients by harmonic or arithmetic means), the Laplacian,
first-order (advection) and zeroth-order (reaction / mass) terms, the interior solve, the batched
multigrid solve of diffusion problems and the input checks the elliptic problems share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from oplearn.errors import InvalidInputError
from oplearn.linalg import multigrid

ADVECTION_SCHEMES = ("central", "upwind")


def five_point(center: np.ndarray, west: np.ndarray, east: np.ndarray, south: np.ndarray,
               north: np.ndarray) -> sp.csr_matrix:
    """Sparse matrix of a five-point stencil given by its coefficients on the interior nodes.

    Args:
        center, west, east, south, north: ``(n, n)`` coefficients (``n = s - 2``) of
            ``u[i, j]``, ``u[i-1, j]``, ``u[i+1, j]``, ``u[i, j-1]``, ``u[i, j+1]`` in the equation
            of interior node ``(i, j)``. Couplings to boundary nodes (zero Dirichlet data) are dropped.
    Returns:
        ``(n*n, n*n)`` CSR matrix.
    """
    n = center.shape[0]
    idx = np.arange(n * n).reshape(n, n)
    rows = [idx.ravel(), idx[1:, :].ravel(), idx[:-1, :].ravel(), idx[:, 1:].ravel(),
            idx[:, :-1].ravel()]
    cols = [idx.ravel(), idx[:-1, :].ravel(), idx[1:, :].ravel(), idx[:, :-1].ravel(),
            idx[:, 1:].ravel()]
    vals = [center.ravel(), west[1:, :].ravel(), east[:-1, :].ravel(), south[:, 1:].ravel(),
            north[:, :-1].ravel()]
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n * n, n * n))


def face_mean(left: np.ndarray, right: np.ndarray, kind: str) -> np.ndarray:
    """Coefficient on the face between two nodes: ``"harmonic"`` or ``"arithmetic"`` mean."""
    if kind == "harmonic":
        return 2.0 * left * right / (left + right)
    if kind == "arithmetic":
        return 0.5 * (left + right)
    raise InvalidInputError(f"face_mean must be 'harmonic' or 'arithmetic', got {kind!r}")


def face_coefficients(a: np.ndarray, kind: str = "harmonic"
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(west, east, south, north)`` face coefficients of every interior node, each ``(..., n, n)``,
    for a coefficient ``a`` of shape ``(..., s, s)`` (``n = s - 2``)."""
    ax = face_mean(a[..., :-1, 1:-1], a[..., 1:, 1:-1], kind)  # faces between (i, j) and (i+1, j)
    ay = face_mean(a[..., 1:-1, :-1], a[..., 1:-1, 1:], kind)  # faces between (i, j) and (i, j+1)
    return ax[..., :-1, :], ax[..., 1:, :], ay[..., :, :-1], ay[..., :, 1:]


def diffusion(a: np.ndarray, kind: str = "harmonic") -> sp.csr_matrix:
    """``-div(a grad .)`` (``1/h^2`` scaled) on the interior of an ``(s, s)`` coefficient; SPD."""
    west, east, south, north = face_coefficients(a, kind)
    inv_h2 = float((a.shape[-1] - 1) ** 2)
    return five_point((west + east + south + north) * inv_h2, -west * inv_h2, -east * inv_h2,
                      -south * inv_h2, -north * inv_h2)


def diffusion_stencil(a: np.ndarray, kind: str = "harmonic") -> torch.Tensor:
    """:func:`diffusion` as batched 5-point stencils for :mod:`oplearn.linalg.multigrid`.

    Args:
        a: ``(B, s, s)`` coefficients on the node-centred grid.
    Returns:
        ``(B, 3, 3, s - 2, s - 2)`` float64 tensor, scaled by ``1/h^2``.
    """
    a = np.asarray(a, dtype=np.float64)
    west, east, south, north = face_coefficients(a, kind)
    out = np.zeros((a.shape[0], 3, 3, a.shape[-1] - 2, a.shape[-1] - 2))
    out[:, 1, 1] = west + east + south + north
    out[:, 0, 1], out[:, 2, 1], out[:, 1, 0], out[:, 1, 2] = -west, -east, -south, -north
    return torch.from_numpy(out * float((a.shape[-1] - 1) ** 2))


def solve_diffusion_multigrid(a: np.ndarray, f: np.ndarray, *, tol: float, kind: str = "harmonic",
                              device: str = "cpu", diagonal_weighted: bool = False) -> np.ndarray:
    """``-div(a grad u) = f``, ``u = 0`` on the boundary, all samples at once, by multigrid-CG on ``device``.

    Args:
        a, f: ``(..., s, s)`` coefficients and sources (one or a batch).
        tol: relative residual every sample must reach.
        diagonal_weighted: check ``|D^-1/2 (f - A u)| / |D^-1/2 f|`` (``D = diag A``) instead of the
            plain residual, whose rounding floor lies above 1e-10 at high contrast.
    Returns:
        ``a.shape`` float64 solutions, zero on the boundary.
    """
    s = a.shape[-1]
    operator = diffusion_stencil(a.reshape(-1, s, s), kind).to(device)
    interior = np.ascontiguousarray(f.reshape(-1, s, s)[:, 1:-1, 1:-1], dtype=np.float64)
    weight = operator[:, 1, 1].rsqrt() if diagonal_weighted else None
    result = multigrid.solve(operator, torch.from_numpy(interior).to(device), tol=tol, residual_weight=weight)
    u = np.zeros((operator.shape[0], s, s))
    u[:, 1:-1, 1:-1] = result.solution.cpu().numpy()
    return u.reshape(a.shape)


def require_cpu(solver: str, device: str) -> None:
    """Raise unless ``device`` is the CPU: only the multigrid solver runs elsewhere."""
    if device != "cpu":
        raise InvalidInputError(f"solver {solver!r} runs on the CPU only; use solver 'mg' on {device}")


def neg_laplacian(s: int) -> sp.csr_matrix:
    """``-Laplacian`` (five-point, ``1/h^2`` scaled) on the interior of an ``s x s`` grid; SPD."""
    return diffusion(np.ones((s, s)))


def solve_interior(f: np.ndarray, linear_solve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``u`` on the ``(s, s)`` grid: zero on the boundary, ``linear_solve(f interior, row-major)``
    inside (a vector of ``(s - 2)^2`` values)."""
    n = f.shape[-1] - 2
    u = np.zeros(f.shape)
    u[1:-1, 1:-1] = linear_solve(np.ascontiguousarray(f[1:-1, 1:-1]).ravel()).reshape(n, n)
    return u


def reaction(c: np.ndarray) -> sp.csr_matrix:
    """Diagonal matrix of the term ``c(x) u`` for an ``(s, s)`` coefficient ``c`` (interior values)."""
    return sp.diags(np.ascontiguousarray(c[1:-1, 1:-1]).ravel(), format="csr")


def mesh_peclet(velocity: np.ndarray, eps: float) -> float:
    """Largest mesh Peclet number ``|b| h / (2 eps)`` of a ``(2, s, s)`` velocity on the grid."""
    s = velocity.shape[-1]
    speed = np.sqrt(velocity[0] ** 2 + velocity[1] ** 2)
    return float(speed.max()) / (s - 1) / (2.0 * eps)


def advection(velocity: np.ndarray, scheme: str) -> sp.csr_matrix:
    """Matrix of ``b . grad u`` on the interior nodes.

    Args:
        velocity: ``(2, s, s)`` components ``(b_x, b_y)`` on the node-centred grid.
        scheme: ``"central"`` (second order, ``b_x (u[i+1] - u[i-1]) / 2h``) or ``"upwind"``
            (first order, the one-sided difference against the flow; with a diffusion term the
            matrix is an M-matrix at any Peclet number).
    Returns:
        ``(n*n, n*n)`` CSR matrix, ``n = s - 2``.
    """
    s = velocity.shape[-1]
    inv_h = float(s - 1)
    bx, by = velocity[0, 1:-1, 1:-1], velocity[1, 1:-1, 1:-1]
    if scheme == "central":
        cx, cy = 0.5 * inv_h * bx, 0.5 * inv_h * by
        return five_point(np.zeros_like(bx), -cx, cx, -cy, cy)
    if scheme == "upwind":
        # b+ (u_i - u_{i-1}) / h + b- (u_{i+1} - u_i) / h with b+ = max(b, 0), b- = min(b, 0).
        bxp, bxm = np.maximum(bx, 0.0) * inv_h, np.minimum(bx, 0.0) * inv_h
        byp, bym = np.maximum(by, 0.0) * inv_h, np.minimum(by, 0.0) * inv_h
        return five_point(bxp - bxm + byp - bym, -bxp, bxm, -byp, bym)
    raise InvalidInputError(f"scheme must be 'auto', 'central' or 'upwind', got {scheme!r}")


# ---- input checks shared by the elliptic problems -------------------------------------------


def check_field(x: Any, name: str, *, allow_batch: bool = True) -> np.ndarray:
    """``x`` as float64 ``(s, s)`` or ``(batch, s, s)`` with ``s >= 3`` and finite entries."""
    x = np.asarray(x, dtype=np.float64)
    ok_ndim = (2, 3) if allow_batch else (2,)
    if x.ndim not in ok_ndim or x.shape[-1] != x.shape[-2] or x.shape[-1] < 3:
        shapes = "(s, s) or (batch, s, s)" if allow_batch else "(s, s)"
        raise InvalidInputError(f"{name} must be {shapes} with s >= 3, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"{name} contains NaN or inf")
    return x


def broadcast_field(x: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A scalar or array ``x`` broadcast to ``shape`` (float64, finite), or InvalidInputError."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != () and x.shape != shape and x.shape != shape[-2:]:
        raise InvalidInputError(f"{name} must be a scalar or of shape {shape}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"{name} contains NaN or inf")
    return np.broadcast_to(x, shape)

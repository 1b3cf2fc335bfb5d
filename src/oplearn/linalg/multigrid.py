"""Batched geometric multigrid in PyTorch for 2D stencil operators on node-centred grids.

Operators are 3 x 3 stencils on the ``n x n`` interior nodes of a grid with ``s = n + 2`` points per
side and zero Dirichlet values outside: ``stencil[b, di + 1, dj + 1, i, j]`` multiplies
``u[b, i + di, j + dj]`` in row ``(i, j)`` of sample ``b``. Coarse grids keep every other node
counted from the first boundary (grid nodes ``0, 2, 4, ...``), so ``n -> n // 2`` for any ``n``:
odd ``n`` (``s - 1`` even) coarsens uniformly; for even ``n`` (e.g. the FNO paper's 421 points, 419
interior) the last coarse node is the last interior node, one fine spacing from the boundary.
Prolongation ``P`` is (piecewise) bilinear interpolation on these coarse nodes, restriction
``R = P^T`` and the coarse operators are Galerkin products ``R A P`` (9-point stencils, computed by
applying ``R A P`` to nine coloured probe vectors), so coefficient jumps and the uneven last
interval are represented on every level.
Smoothing is damped Jacobi; the coarsest level (at most ``COARSEST_UNKNOWNS`` unknowns) is solved
by a batched dense Cholesky factorisation. The V-cycle is symmetric, so it preconditions conjugate
gradients (:func:`solve`), which runs on a whole batch of samples at once, on CPU or GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from oplearn.errors import InvalidInputError, SolverError

COARSEST_UNKNOWNS = 256
MAX_RESIDUAL_REPLACEMENTS = 3  # CG restarts from the true residual when the updated one misleads


ALL_OFFSETS = tuple((di, dj) for di in range(3) for dj in range(3))


def nonzero_offsets(stencil: torch.Tensor) -> tuple[tuple[int, int], ...]:
    """The stencil entries ``(di + 1, dj + 1)`` that are not zero everywhere (5 of 9 for 5-point)."""
    return tuple((di, dj) for di, dj in ALL_OFFSETS if bool(stencil[:, di, dj].any()))


def apply_stencil(stencil: torch.Tensor, u: torch.Tensor,
                  offsets: tuple[tuple[int, int], ...] = ALL_OFFSETS) -> torch.Tensor:
    """``A u`` for ``stencil`` ``(B, 3, 3, n, n)`` and ``u`` ``(B, n, n)``; zero values outside.
    ``offsets`` may name the only nonzero entries (:func:`nonzero_offsets`)."""
    n = u.shape[-1]
    padded = F.pad(u, (1, 1, 1, 1))
    di, dj = offsets[0]
    out = stencil[:, di, dj] * padded[:, di:di + n, dj:dj + n]
    for di, dj in offsets[1:]:
        out.addcmul_(stencil[:, di, dj], padded[:, di:di + n, dj:dj + n])
    return out


def _prolong_axis(c: torch.Tensor, dim: int, fine: int) -> torch.Tensor:
    """1D linear interpolation along ``dim`` (>= 0): ``m -> fine`` values, ``fine`` in ``{2m, 2m + 1}``
    (zero end values). Coarse node ``I`` is fine node ``2I + 1``; for ``fine = 2m`` the last coarse
    node is the last fine node."""
    m = c.shape[dim]
    if fine not in (2 * m, 2 * m + 1):
        raise InvalidInputError(f"cannot interpolate {m} coarse values to {fine} fine values")
    padded = torch.cat([torch.zeros_like(c.narrow(dim, 0, 1)), c, torch.zeros_like(c.narrow(dim, 0, 1))], dim)
    even = 0.5 * (padded.narrow(dim, 0, m + 1) + padded.narrow(dim, 1, m + 1))  # fine nodes 0, 2, ..., 2m
    odd = torch.cat([c, torch.zeros_like(c.narrow(dim, 0, 1))], dim)  # fine nodes 1, 3, ..., (2m + 1)
    woven = torch.stack([even, odd], dim=dim + 1)
    shape = list(c.shape)
    shape[dim] = 2 * m + 2
    return woven.reshape(shape).narrow(dim, 0, fine)


def _restrict_axis(f: torch.Tensor, dim: int) -> torch.Tensor:
    """The transpose of :func:`_prolong_axis`: ``n -> n // 2`` values along ``dim``."""
    if f.shape[dim] % 2 == 0:  # the transpose of dropping the last of 2m + 1 values: append a zero
        f = torch.cat([f, torch.zeros_like(f.narrow(dim, 0, 1))], dim)
    m = (f.shape[dim] - 1) // 2
    pairs = f.narrow(dim, 1, 2 * m).unflatten(dim, (m, 2))  # (f[2I+1], f[2I+2]) along dim
    lefts = f.narrow(dim, 0, 2 * m).unflatten(dim, (m, 2)).select(dim + 1, 0)  # f[2I]
    return pairs.select(dim + 1, 0) + 0.5 * (lefts + pairs.select(dim + 1, 1))


def prolong(coarse: torch.Tensor, fine: int | None = None) -> torch.Tensor:
    """Bilinear interpolation ``(B, m, m) -> (B, fine, fine)``, ``fine`` in ``{2m, 2m + 1}``
    (default ``2m + 1``; zero boundary values)."""
    fine = 2 * coarse.shape[-1] + 1 if fine is None else fine
    return _prolong_axis(_prolong_axis(coarse, 1, fine), 2, fine)


def restrict(fine: torch.Tensor) -> torch.Tensor:
    """The transpose of :func:`prolong`: ``(B, n, n) -> (B, n // 2, n // 2)``."""
    return _restrict_axis(_restrict_axis(fine, 1), 2)


def galerkin(stencil: torch.Tensor) -> torch.Tensor:
    """The coarse stencil ``(B, 3, 3, m, m)`` of ``R A P`` for a fine ``(B, 3, 3, n, n)``, ``m = n // 2``.

    ``R A P`` couples coarse nodes at most one apart, so nine probes (one per colour ``(I mod 3,
    J mod 3)``) recover every entry: at row ``(I, J)`` the probe of colour ``(a, b)`` sees only the
    neighbour ``(I + di, J + dj)`` with ``(I + di) mod 3 = a`` and ``(J + dj) mod 3 = b``.
    """
    batch, n = stencil.shape[0], stencil.shape[-1]
    m = n // 2
    index = torch.arange(m, device=stencil.device)
    coarse = stencil.new_zeros(batch, 3, 3, m, m)

    def neighbour(colour: int) -> torch.Tensor:  # (colour - I) mod 3 = 0, 1, 2 -> offset 0, 1, -1
        v = (colour - index) % 3
        return torch.where(v == 2, -1, v)

    for a in range(3):
        for b in range(3):
            probe = ((index[:, None] % 3 == a) & (index[None, :] % 3 == b)).to(stencil.dtype)
            seen = restrict(apply_stencil(stencil, prolong(probe.expand(batch, m, m), n)))
            di, dj = neighbour(a), neighbour(b)
            coarse[:, di[:, None] + 1, dj[None, :] + 1, index[:, None], index[None, :]] = seen
    return coarse


def dense_matrix(stencil: torch.Tensor) -> torch.Tensor:
    """The ``(B, n*n, n*n)`` matrix of a stencil (row-major node order)."""
    batch, n = stencil.shape[0], stencil.shape[-1]
    matrix = stencil.new_zeros(batch, n * n, n * n)
    i, j = torch.meshgrid(torch.arange(n, device=stencil.device), torch.arange(n, device=stencil.device),
                          indexing="ij")
    for di in range(3):
        for dj in range(3):
            ii, jj = i + di - 1, j + dj - 1
            inside = (ii >= 0) & (ii < n) & (jj >= 0) & (jj < n)
            rows, cols = (i * n + j)[inside], (ii * n + jj)[inside]
            matrix[:, rows, cols] = stencil[:, di, dj][:, inside]
    return matrix


@dataclass
class Multigrid:
    """A V-cycle hierarchy for a batch of stencil operators.

    Attributes:
        operators: stencils ``(B, 3, 3, n_l, n_l)`` from fine to coarse.
        inverse_diagonals: ``1 / diag`` per level.
        coarsest_factor: Cholesky factor ``(B, N, N)`` of the coarsest operator.
        smoothing_steps: Jacobi sweeps before and after the coarse correction.
        omega: Jacobi damping.
    """

    operators: list[torch.Tensor]
    offsets: list[tuple[tuple[int, int], ...]]
    inverse_diagonals: list[torch.Tensor]
    coarsest_factor: torch.Tensor
    smoothing_steps: int = 2
    omega: float = 0.7

    @classmethod
    def build(cls, stencil: torch.Tensor, *, smoothing_steps: int = 2, omega: float = 0.7,
              dtype: torch.dtype = torch.float64) -> Multigrid:
        """Galerkin hierarchy of ``stencil`` ``(B, 3, 3, n, n)`` (SPD operators), stored and
        applied in ``dtype`` (float32 halves the memory traffic of a preconditioner)."""
        if stencil.ndim != 5 or stencil.shape[1:3] != (3, 3) or stencil.shape[-1] != stencil.shape[-2]:
            raise InvalidInputError(f"stencil must be (B, 3, 3, n, n), got {tuple(stencil.shape)}")
        if stencil.shape[-1] < 1:
            raise InvalidInputError(f"stencil needs at least one interior node, got {tuple(stencil.shape)}")
        operators = [stencil.to(dtype)]
        while operators[-1].shape[-1] ** 2 > COARSEST_UNKNOWNS:
            operators.append(galerkin(operators[-1]))
        inverse_diagonals = [1.0 / op[:, 1, 1] for op in operators]
        try:
            factor = torch.linalg.cholesky(dense_matrix(operators[-1]))
        except RuntimeError:
            raise SolverError("the coarsest multigrid operator is not positive definite") from None
        offsets = [nonzero_offsets(op) for op in operators]
        return cls(operators, offsets, inverse_diagonals, factor, smoothing_steps, omega)

    def apply(self, u: torch.Tensor, level: int = 0) -> torch.Tensor:
        """The level's operator applied to ``u`` ``(B, n_l, n_l)``."""
        return apply_stencil(self.operators[level], u, self.offsets[level])

    def _smooth(self, level: int, x: torch.Tensor, b: torch.Tensor, sweeps: int) -> torch.Tensor:
        for _ in range(sweeps):
            x = x + self.omega * self.inverse_diagonals[level] * (b - self.apply(x, level))
        return x

    def vcycle(self, b: torch.Tensor, level: int = 0) -> torch.Tensor:
        """One V-cycle from a zero guess: an approximation of ``A^-1 b``, ``b`` ``(B, n, n)``."""
        if level == 0 and b.dtype != self.operators[0].dtype:
            return self.vcycle(b.to(self.operators[0].dtype)).to(b.dtype)
        if level == len(self.operators) - 1:
            rhs = b.reshape(b.shape[0], -1, 1)
            return torch.cholesky_solve(rhs, self.coarsest_factor).reshape(b.shape)
        x = self.omega * self.inverse_diagonals[level] * b  # the first sweep from x = 0
        x = self._smooth(level, x, b, self.smoothing_steps - 1)
        residual = b - self.apply(x, level)
        x = x + prolong(self.vcycle(restrict(residual), level + 1), b.shape[-1])
        return self._smooth(level, x, b, self.smoothing_steps)  # as many after: a symmetric cycle


@dataclass(frozen=True)
class MultigridResult:
    """Solutions ``(B, n, n)``, CG iterations taken and the relative residual of each sample."""

    solution: torch.Tensor
    iterations: int
    residuals: torch.Tensor


def solve(stencil: torch.Tensor, rhs: torch.Tensor, *, tol: float = 1e-10, max_iterations: int = 200,
          smoothing_steps: int = 2, preconditioner_dtype: torch.dtype = torch.float32,
          residual_weight: torch.Tensor | None = None) -> MultigridResult:
    """Multigrid-preconditioned conjugate gradients on a batch of SPD stencil systems.

    Args:
        stencil: ``(B, 3, 3, n, n)`` operators (see the module docstring), float64.
        rhs: ``(B, n, n)`` right-hand sides.
        tol: relative residual ``|b - A x| / |b|`` every sample must reach.
        smoothing_steps: Jacobi sweeps before and after each coarse correction.
        preconditioner_dtype: precision of the V-cycle (float32 by default: it halves the memory
            traffic; CG itself and the residual check stay in float64).
        residual_weight: ``(B, n, n)`` weights ``w``: the residual checked is ``|w (b - A x)| / |w b|``
            (``w = diag(A)^-1/2`` for high-contrast coefficients, whose plain residual has a rounding
            floor above 1e-10; see :mod:`oplearn.pdes.high_contrast`). Default: no weights.
    Raises:
        SolverError: some sample missed ``tol`` (checked on the true residual at the end).
    """
    if rhs.device != stencil.device:
        raise InvalidInputError(f"rhs is on {rhs.device} but the stencil on {stencil.device}")
    if rhs.shape != (stencil.shape[0], *stencil.shape[-2:]):
        raise InvalidInputError(f"rhs must be {(stencil.shape[0], *stencil.shape[-2:])}, got {tuple(rhs.shape)}")
    if residual_weight is not None and residual_weight.shape != rhs.shape:
        raise InvalidInputError(f"residual_weight must be {tuple(rhs.shape)}, got {tuple(residual_weight.shape)}")
    weight = torch.ones_like(rhs) if residual_weight is None else residual_weight.to(rhs)
    mg = Multigrid.build(stencil, smoothing_steps=smoothing_steps, dtype=preconditioner_dtype)
    offsets = nonzero_offsets(stencil)

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).sum(dim=(-2, -1), keepdim=True)

    def norm(r: torch.Tensor) -> torch.Tensor:
        return dot(weight * r, weight * r).sqrt()

    norm_b = norm(rhs).clamp_min(torch.finfo(rhs.dtype).tiny)
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    z = mg.vcycle(r)
    p = z
    rz = dot(r, z)
    active = torch.ones_like(norm_b)  # samples still above tol take steps; the others stay put
    iterations = replacements = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 (the count is reported)
        ap = apply_stencil(stencil, p, offsets)
        alpha = active * rz / dot(p, ap).clamp_min(torch.finfo(rhs.dtype).tiny)
        x = x + alpha * p
        r = r - alpha * ap
        active = (norm(r) / norm_b > tol).to(rhs.dtype)
        if not bool(active.any()):
            # The updated residual drifts from the true one by rounding (most at high contrast):
            # check the true residual and, where it misses tol, restart CG from it.
            r = rhs - apply_stencil(stencil, x, offsets)
            active = (norm(r) / norm_b > tol).to(rhs.dtype)
            if not bool(active.any()) or replacements == MAX_RESIDUAL_REPLACEMENTS:
                break
            replacements += 1
            z = mg.vcycle(r)
            p, rz = z, dot(r, z)
            continue
        z = mg.vcycle(r)
        rz_new = dot(r, z)
        p = z + (rz_new / rz.clamp_min(torch.finfo(rhs.dtype).tiny)) * p
        rz = rz_new
    final = rhs - apply_stencil(stencil, x, offsets)
    residuals = (norm(final) / norm_b).flatten()
    if not bool(torch.isfinite(residuals).all()) or float(residuals.max()) > tol * 1.01:
        raise SolverError(f"multigrid-CG reached relative residual {float(residuals.max()):.2e} > {tol:.1e} "
                          f"after {iterations} iterations")
    return MultigridResult(x, iterations, residuals)

"""Sparse solves with a checked residual: SPD systems by a direct method or AMG-preconditioned CG;
general (nonsymmetric or indefinite) systems by a direct method or preconditioned GMRES."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from oplearn.errors import InvalidInputError, SolverError

# Issue 4 reports, for Darcy on one core: spsolve beats pyamg CG at 64^2 unknowns (0.0065 s vs
# 0.011 s), AMG-CG wins from 128^2 on (0.031 s vs 0.039 s); the switch sits between them.
DIRECT_MAX_UNKNOWNS = 100 * 100
MG_MIN_UNKNOWNS = 50 * 50  # measured (datagen.py): multigrid beats spsolve from 65 points per side (63^2 unknowns)
# Multigrid's fixed cost per solve is shared by a batch: one sample at a time, it beats spsolve
# only from about 100^2 unknowns (datagen.py --part darcy-batch, one thread: 0.080 s vs 0.047 s at
# 97 points, level at 129, 0.091 s vs 0.181 s at 193); in batches of 4 already at 65 (0.014 s vs
# 0.017 s).
MG_MIN_BATCH = 4


def default_solver(unknowns: int, iterative: str) -> str:
    """What ``"auto"`` means for one sparse system of ``unknowns`` unknowns: the direct solver up
    to ``DIRECT_MAX_UNKNOWNS``, else ``iterative`` (``"amg"`` for SPD systems, ``"gmres"``)."""
    return "direct" if unknowns <= DIRECT_MAX_UNKNOWNS else iterative


def choose_spd_solver(s: int, device: str = "cpu", mg_min_unknowns: int = MG_MIN_UNKNOWNS,
                      batch: int = 1) -> str:
    """The fastest measured solver for ``batch`` 2D diffusion problems with ``s`` points per side
    (``benchmarks/datagen.py``): multigrid on a GPU; on the CPU multigrid above ``mg_min_unknowns``
    (Darcy's threshold by default) for batches of at least ``MG_MIN_BATCH``, above
    ``DIRECT_MAX_UNKNOWNS`` for smaller ones, and the direct solver below."""
    if device != "cpu":
        return "mg"
    threshold = mg_min_unknowns if batch >= MG_MIN_BATCH else max(mg_min_unknowns, DIRECT_MAX_UNKNOWNS)
    return "mg" if (s - 2) ** 2 > threshold else "direct"


def solve_spd(matrix: sp.spmatrix, rhs: np.ndarray, *, solver: str = "auto",
              tol: float = 1e-10) -> np.ndarray:
    """Solve ``matrix @ x = rhs`` for SPD ``matrix`` and check the relative residual.

    Args:
        matrix: ``(n, n)`` sparse SPD matrix.
        rhs: ``(n,)`` right-hand side.
        solver: ``"auto"`` (direct for small systems, AMG otherwise), ``"direct"`` or ``"amg"``.
        tol: relative residual ``|b - A x| / |b|`` that must be reached.
    Returns:
        ``(n,)`` float64 solution.
    Raises:
        SolverError: the residual is above ``tol`` (direct solves get a loose 1e3 * eps margin).
    """
    if solver == "auto":
        solver = default_solver(matrix.shape[0], "amg")
    if solver == "direct":
        return _direct(matrix, rhs, tol)
    if solver == "amg":
        import pyamg

        ml = pyamg.ruge_stuben_solver(matrix.tocsr())
        x = ml.solve(rhs, tol=tol, accel="cg", maxiter=500)
        _check_residual(matrix, rhs, x, tol * 1.01, solver)
        return x
    raise InvalidInputError(f"solver must be 'auto', 'direct' or 'amg', got {solver!r}")


GMRES_RESTART = 50
GMRES_MAX_ITERATIONS = 2000


def _check_residual(matrix: sp.spmatrix, rhs: np.ndarray, x: np.ndarray, limit: float, name: str) -> None:
    norm_b = np.linalg.norm(rhs)
    residual = np.linalg.norm(rhs - matrix @ x) / (norm_b if norm_b > 0 else 1.0)
    if not np.isfinite(residual) or residual > limit:
        raise SolverError(f"{name} solve reached relative residual {residual:.2e} > {limit:.1e}")


def _direct(matrix: sp.spmatrix, rhs: np.ndarray, tol: float) -> np.ndarray:
    """SuperLU, with the residual checked against ``tol`` or a 1e3 * eps rounding margin."""
    x = spla.spsolve(matrix.tocsc(), rhs)
    _check_residual(matrix, rhs, x, max(tol, 1e3 * np.finfo(np.float64).eps), "direct")
    return x


def ilu_preconditioner(matrix: sp.spmatrix, drop_tol: float = 1e-4, fill_factor: float = 10.0
                       ) -> spla.LinearOperator:
    """Incomplete LU (SuperLU's ILUTP) of ``matrix`` as a preconditioner ``M ~ A^-1``.

    Minimum-degree ordering of ``A^T + A``: with SuperLU's default (COLAMD) the factorisation of
    indefinite Helmholtz matrices broke down (singular) when tried, and with the natural order
    GMRES diverged; with this one it takes about 9 iterations on the Helmholtz sequence of
    ``benchmarks/datagen.py --part sequence``.
    """
    ilu = spla.spilu(matrix.tocsc(), drop_tol=drop_tol, fill_factor=fill_factor, permc_spec="MMD_AT_PLUS_A")
    return spla.LinearOperator(matrix.shape, ilu.solve, dtype=np.float64)


def solve_general(matrix: sp.spmatrix, rhs: np.ndarray, *, solver: str = "auto",
                  tol: float = 1e-10) -> np.ndarray:
    """Solve ``matrix @ x = rhs`` for a general sparse (nonsymmetric or indefinite) ``matrix``.

    Args:
        matrix: ``(n, n)`` sparse matrix.
        rhs: ``(n,)`` right-hand side.
        solver: ``"auto"`` (direct up to ``DIRECT_MAX_UNKNOWNS``, else GMRES), ``"direct"``, or
            ``"gmres"`` (restarted GMRES(50) with an incomplete-LU preconditioner).
        tol: relative residual ``|b - A x| / |b|`` that must be reached.
    Returns:
        ``(n,)`` float64 solution.
    Raises:
        SolverError: the residual is above ``tol`` (direct solves get a loose 1e3 * eps margin).
    """
    if solver == "auto":
        solver = default_solver(matrix.shape[0], "gmres")
    if solver == "direct":
        return _direct(matrix, rhs, tol)
    if solver != "gmres":
        raise InvalidInputError(f"solver must be 'auto', 'direct' or 'gmres', got {solver!r}")
    x, _ = spla.gmres(matrix, rhs, M=ilu_preconditioner(matrix), rtol=tol * 0.5, atol=0.0,
                      restart=GMRES_RESTART, maxiter=GMRES_MAX_ITERATIONS)
    _check_residual(matrix, rhs, x, tol * 1.01, solver)
    return x

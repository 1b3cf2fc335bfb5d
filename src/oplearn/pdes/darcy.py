"""Darcy flow, the elliptic benchmark of the Fourier Neural Operator paper.

``-div(a(x) grad u(x)) = f(x)`` on the unit square, ``u = 0`` on the boundary. The coefficient is
piecewise constant, ``a = 12`` where ``psi >= 0`` and ``a = 3`` where ``psi < 0``, with ``psi`` a
Gaussian random field of covariance ``(-Laplacian + 9 I)^-2``; ``f = 1``.

Discretisation: second-order finite differences (equivalently cell-vertex finite volumes) on the
node-centred grid ``x_i = i / (s - 1)`` with harmonic-mean face coefficients, assembled with
vectorised index arithmetic, solved by a sparse direct method, AMG-preconditioned CG or a batched
geometric multigrid (PyTorch, CPU or GPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from oplearn.errors import InvalidInputError
from oplearn.linalg.solve import choose_spd_solver, solve_spd
from oplearn.pdes.grf import neumann_grf
from oplearn.pdes.parameters import Choice, Number, check_parameters, defaults_of
from oplearn.pdes.problem import Problem, register
from oplearn.pdes.stencils import diffusion, require_cpu, solve_diffusion_multigrid, solve_interior

SOLVERS = ("auto", "direct", "amg", "mg")
PARAMETERS = {
    "a_high": Number(12.0, low=0.0, low_open=True),
    "a_low": Number(3.0, low=0.0, low_open=True),
    "alpha": Number(2.0, low=0.0, low_open=True),
    "tau": Number(3.0, low=0.0),
    "f": Number(1.0),
    "face_mean": Choice("harmonic", ("harmonic", "arithmetic")),
    "solver": Choice("auto", SOLVERS),
    "tol": Number(1e-10, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)


def sample_coefficient(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Piecewise-constant coefficient on ``s x s`` nodes: ``a_high`` where the GRF is >= 0."""
    p = check_parameters("darcy", PARAMETERS, params)
    psi = neumann_grf(rng, s, alpha=p["alpha"], tau=p["tau"])
    return np.where(psi >= 0.0, p["a_high"], p["a_low"])


def assemble(a: np.ndarray, face_mean: str = "harmonic") -> sp.csr_matrix:
    """Matrix of ``-div(a grad .)`` on the ``(s-2)^2`` interior nodes (row-major), Dirichlet 0.

    Args:
        a: ``(s, s)`` coefficient on the node-centred grid, strictly positive.
    Returns:
        ``(n*n, n*n)`` symmetric positive definite CSR matrix, ``n = s - 2``, scaled by ``1/h^2``.
    """
    return diffusion(a, face_mean)


def _check(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim not in (2, 3) or a.shape[-1] != a.shape[-2] or a.shape[-1] < 3:
        raise InvalidInputError(f"a must be (s, s) or (batch, s, s) with s >= 3, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InvalidInputError("a contains NaN or inf")
    if np.any(a <= 0):
        raise InvalidInputError("a must be strictly positive")
    return a


def solve(
    a: np.ndarray,
    f: float | np.ndarray = 1.0,
    *,
    solver: str = "auto",
    tol: float = 1e-10,
    face_mean: str = "harmonic",
    device: str = "cpu",
) -> np.ndarray:
    """Solve ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary.

    Args:
        a: coefficient, ``(s, s)`` or ``(batch, s, s)`` on the node-centred grid.
        f: source, a scalar or an array of ``a``'s shape.
        solver: ``"auto"`` (:func:`oplearn.linalg.solve.choose_spd_solver`), ``"direct"`` (sparse
            LU), ``"amg"`` (pyamg + CG) or ``"mg"`` (batched geometric multigrid + CG in PyTorch,
            all samples at once, any ``s``).
        tol: relative residual the solve must reach (checked; :class:`SolverError` otherwise).
        face_mean: ``"harmonic"`` (default) or ``"arithmetic"`` face coefficients.
        device: ``"cpu"`` or ``"cuda"`` (multigrid only).
    Returns:
        ``u`` of ``a``'s shape, float64, zero on the boundary.
    """
    a = _check(a)
    f_arr = np.broadcast_to(np.asarray(f, dtype=np.float64), a.shape)
    if not np.all(np.isfinite(f_arr)):
        raise InvalidInputError("f contains NaN or inf")
    if solver == "auto":
        solver = choose_spd_solver(a.shape[-1], device, batch=a.shape[0] if a.ndim == 3 else 1)
    if solver == "mg":
        return solve_diffusion_multigrid(a, f_arr, tol=tol, kind=face_mean, device=device)
    require_cpu(solver, device)
    if a.ndim == 3:
        return np.stack(
            [solve(ai, fi, solver=solver, tol=tol, face_mean=face_mean) for ai, fi in zip(a, f_arr, strict=False)]
        )
    matrix = assemble(a, face_mean)
    return solve_interior(f_arr, lambda rhs: solve_spd(matrix, rhs, solver=solver, tol=tol))


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    return sample_coefficient(rng, s, **params)[None]


def _solve_one(a: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """``(1, s, s)`` -> ``(1, s, s)``: one sample, with ``auto``'s one-sample choice."""
    return solve(a[0], params["f"], solver=params["solver"], tol=params["tol"],
                 face_mean=params["face_mean"])[None]


def solve_batch(a: np.ndarray, params: dict[str, Any], device: str = "cpu") -> np.ndarray:
    """``(B, 1, s, s)`` coefficients -> ``(B, 1, s, s)`` solutions (multigrid: one batched solve).
    Generation resolves ``auto`` for its chunk size before calling this
    (:func:`oplearn.pdes.problem.choose_solver`), so a short last chunk keeps the run's solver."""
    return solve(a[:, 0], params["f"], solver=params["solver"], tol=params["tol"],
                 face_mean=params["face_mean"], device=device)[:, None]


PROBLEM = register(
    Problem(
        name="darcy",
        grid="node",
        ndim=2,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=_solve_one,
        solve_batch=solve_batch,
        description="-div(a grad u) = 1 on the unit square, a in {3, 12} from a thresholded GRF",
        solvers=SOLVERS,
        auto_solver=lambda s, device, batch: choose_spd_solver(s, device, batch=batch),
    )
)

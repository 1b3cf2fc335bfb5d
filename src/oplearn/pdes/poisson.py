"""Poisson's equation, the simplest elliptic operator-learning benchmark.

``-Laplacian u(x) = f(x)`` on the unit square, ``u = 0`` on the boundary. The input is the source
``f``, a Gaussian random field of covariance ``sigma^2 (-Laplacian + tau^2 I)^-alpha`` (Neumann
eigenbasis, :func:`oplearn.pdes.grf.neumann_grf`; defaults ``alpha = 2``, ``tau = 3`` as for Darcy,
``sigma = 10``, so that ``f`` is of order one: its pointwise standard deviation is about 0.53 at
the centre and 0.99 averaged over the square, measured on 300 samples at 33 points; sigma was 25
until the sampler's eigenfunctions were normalised, which raised its variance about fourfold);
the output is ``u``.

Discretisation: the five-point Laplacian on the node-centred grid ``x_i = i / (s - 1)``
(:func:`oplearn.pdes.stencils.neg_laplacian`), second order, solved by a sparse direct
method or AMG-preconditioned CG with a checked residual.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from oplearn.linalg.solve import default_solver, solve_spd
from oplearn.pdes.grf import sample_grf_source, source_parameters
from oplearn.pdes.parameters import Choice, Number, check_parameters, defaults_of
from oplearn.pdes.problem import Problem, register
from oplearn.pdes.stencils import check_field, neg_laplacian, solve_interior

SOLVERS = ("auto", "direct", "amg")
PARAMETERS = {
    **source_parameters(),
    "solver": Choice("auto", SOLVERS),
    "tol": Number(1e-10, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)


def sample_source(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Source ``f`` on ``s x s`` nodes: a Gaussian random field (see module notes); ``(s, s)``."""
    p = check_parameters("poisson", PARAMETERS, params)
    return sample_grf_source(rng, s, p)


def solve(f: np.ndarray, *, solver: str = "auto", tol: float = 1e-10) -> np.ndarray:
    """Solve ``-Laplacian u = f`` on the unit square with ``u = 0`` on the boundary.

    Args:
        f: source, ``(s, s)`` or ``(batch, s, s)`` on the node-centred grid (boundary values unused).
        solver: ``"auto"``, ``"direct"`` (sparse LU) or ``"amg"`` (pyamg + CG).
        tol: relative residual the solve must reach (checked; :class:`SolverError` otherwise).
    Returns:
        ``u`` of ``f``'s shape, float64, zero on the boundary.
    """
    f = check_field(f, "f")
    if f.ndim == 3:
        return np.stack([solve(fi, solver=solver, tol=tol) for fi in f])
    matrix = neg_laplacian(f.shape[0])
    return solve_interior(f, lambda rhs: solve_spd(matrix, rhs, solver=solver, tol=tol))


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    return sample_source(rng, s, **params)[None]


def _solve_one(f: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    return solve(f[0], solver=params["solver"], tol=float(params["tol"]))[None]


PROBLEM = register(
    Problem(
        name="poisson",
        grid="node",
        ndim=2,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=_solve_one,
        description="-Laplacian u = f on the unit square, u = 0 on the boundary, f a GRF",
        solvers=SOLVERS,
        auto_solver=lambda s, device, batch: default_solver((s - 2) ** 2, "amg"),
    )
)

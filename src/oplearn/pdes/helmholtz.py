"""The Helmholtz equation with a variable wave number (an indefinite elliptic problem).

``-Laplacian u(x) - k(x)^2 u(x) = f(x)`` on the unit square, ``u = 0`` on the boundary.

Sampler: the input has two channels ``(k, f)``, shape ``(2, s, s)``.
``k(x) = k0 (1 + contrast * g(x))`` with ``g = psi / max|psi|`` and ``psi`` a Gaussian random field
of covariance ``(-Laplacian + k_tau^2 I)^-k_alpha`` (:func:`oplearn.pdes.grf.neumann_grf`), so
``max|g| = 1`` exactly and ``k`` lies in ``[k0 (1 - contrast), k0 (1 + contrast)]`` (one end is
attained); ``0 <= contrast < 1`` keeps ``k > 0``. The source ``f`` is an independent Gaussian
random field with parameters ``f_alpha``, ``f_tau``, ``f_sigma`` (as :mod:`oplearn.pdes.poisson`).
Defaults: ``k0 = 10``, ``contrast = 0.5`` (``k`` in ``[5, 15]``, 1 to 2.4 wavelengths across the
square).

Resolution: second-order differences need points per wavelength; :data:`MIN_POINTS_PER_WAVELENGTH`
``= 10`` are required at the largest ``k``, ``2 pi / (k_max h) >= 10``, i.e. ``s >= 25`` at the
defaults. The interior Dirichlet problem is singular when ``0`` is an eigenvalue of
``-Laplacian - k^2``; random ``k`` can come close to such a resonance, in which case the solution is
large (but the solve is still checked to its residual tolerance).

Discretisation: five-point Laplacian (:func:`oplearn.pdes.stencils.neg_laplacian`) minus
the diagonal ``k^2`` on the node-centred grid, second order; the matrix is symmetric but
indefinite, so it is solved by sparse LU or ILU-preconditioned GMRES (``solve_general``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from oplearn.errors import InvalidInputError
from oplearn.linalg.solve import default_solver, solve_general
from oplearn.pdes.grf import neumann_grf, sample_grf_source, source_parameters
from oplearn.pdes.parameters import Choice, Number, check_parameters, defaults_of
from oplearn.pdes.problem import Problem, register
from oplearn.pdes.stencils import (
    broadcast_field,
    check_field,
    neg_laplacian,
    reaction,
    solve_interior,
)

MIN_POINTS_PER_WAVELENGTH = 10.0

SOLVERS = ("auto", "direct", "gmres")
PARAMETERS = {
    "k0": Number(10.0, low=0.0, low_open=True),
    "contrast": Number(0.5, low=0.0, high=1.0, high_open=True),
    "k_alpha": Number(2.0, low=0.0, low_open=True),
    "k_tau": Number(3.0, low=0.0),
    **source_parameters("f_"),
    "solver": Choice("auto", SOLVERS),
    "tol": Number(1e-10, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)


def points_per_wavelength(k_max: float, s: int) -> float:
    """``2 pi / (k_max h)`` on the grid of ``s`` points per axis (``inf`` for ``k_max = 0``)."""
    return np.inf if k_max == 0 else 2.0 * np.pi * (s - 1) / k_max


def _check_resolution(k_max: float, s: int, minimum: float, where: str) -> None:
    ppw = points_per_wavelength(k_max, s)
    if ppw < minimum:
        s_min = int(np.ceil(minimum * k_max / (2.0 * np.pi))) + 1
        raise InvalidInputError(
            f"helmholtz: resolution s={s} gives {ppw:.1f} points per wavelength at the largest "
            f"wave number k={k_max:.4g}{where}; need >= {minimum:g}: use s >= {s_min} or a smaller k"
        )


def sample_wavenumber(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Wave number ``k0 (1 + contrast g)`` on ``s x s`` nodes, ``max|g| = 1``; ``(s, s)``."""
    p = check_parameters("helmholtz", PARAMETERS, params)
    psi = neumann_grf(rng, s, alpha=float(p["k_alpha"]), tau=float(p["k_tau"]))
    g = psi / np.max(np.abs(psi))
    return float(p["k0"]) * (1.0 + float(p["contrast"]) * g)


def sample_input(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Input ``(k, f)`` of one sample, ``(2, s, s)``: wave number, then source."""
    p = check_parameters("helmholtz", PARAMETERS, params)
    k = sample_wavenumber(rng, s, **p)
    f = sample_grf_source(rng, s, p, "f_")
    return np.stack([k, f])


def assemble(k: np.ndarray) -> sp.csr_matrix:
    """Matrix of ``-Laplacian - k^2`` on the interior nodes for an ``(s, s)`` wave number ``k``."""
    return (neg_laplacian(k.shape[-1]) - reaction(k**2)).tocsr()


def solve(
    k: np.ndarray,
    f: float | np.ndarray = 1.0,
    *,
    solver: str = "auto",
    tol: float = 1e-10,
    min_points_per_wavelength: float = MIN_POINTS_PER_WAVELENGTH,
) -> np.ndarray:
    """Solve ``-Laplacian u - k^2 u = f`` on the unit square with ``u = 0`` on the boundary.

    Args:
        k: wave number, ``(s, s)`` or ``(batch, s, s)`` on the node-centred grid, ``>= 0``.
        f: source, a scalar or an array of ``k``'s shape (or ``(s, s)``, shared by the batch).
        solver: ``"auto"``, ``"direct"`` (sparse LU) or ``"gmres"`` (ILU-preconditioned GMRES).
        tol: relative residual the solve must reach (checked; :class:`SolverError` otherwise).
        min_points_per_wavelength: resolution required at ``max k`` (InvalidInputError below it).
    Returns:
        ``u`` of ``k``'s shape, float64, zero on the boundary.
    """
    k = check_field(k, "k")
    if np.any(k < 0):
        raise InvalidInputError("k must be >= 0 (the wave number)")
    f = broadcast_field(f, k.shape, "f")
    _check_resolution(float(k.max()), k.shape[-1], min_points_per_wavelength, "")
    if k.ndim == 3:
        return np.stack([solve(ki, fi, solver=solver, tol=tol,
                               min_points_per_wavelength=min_points_per_wavelength)
                         for ki, fi in zip(k, f, strict=True)])
    matrix = assemble(k)
    return solve_interior(f, lambda rhs: solve_general(matrix, rhs, solver=solver, tol=tol))


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    return sample_input(rng, s, **params)


def _solve_one(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    return solve(x[0], x[1], solver=params["solver"], tol=float(params["tol"]))[None]


def _validate(s: int, params: dict[str, Any]) -> None:
    k_max = float(params["k0"]) * (1.0 + float(params["contrast"]))
    _check_resolution(k_max, s, MIN_POINTS_PER_WAVELENGTH, " = k0 * (1 + contrast)")


PROBLEM = register(
    Problem(
        name="helmholtz",
        grid="node",
        ndim=2,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=_solve_one,
        description="-Laplacian u - k(x)^2 u = f on the unit square, u = 0 on the boundary; "
                    "input (k, f), k = k0 (1 + contrast g) with g a GRF scaled to max|g| = 1",
        solvers=SOLVERS,
        auto_solver=lambda s, device, batch: default_solver((s - 2) ** 2, "gmres"),
        channels=lambda params: (2, 1),
        validate=_validate,
    )
)

"""Steady advection-diffusion (a nonsymmetric elliptic problem).

``-eps Laplacian u(x) + b(x) . grad u(x) = f(x)`` on the unit square, ``u = 0`` on the boundary,
with ``max|b| = 1`` and ``eps = 1 / peclet`` (Peclet number ``Pe = max|b| L / eps``, ``L = 1``).

Sampler: the input has three channels ``(f, b_x, b_y)``, shape ``(3, s, s)``. ``f`` is a Gaussian
random field (``f_alpha``, ``f_tau``, ``f_sigma``; see :mod:`oplearn.pdes.poisson`). The velocity
is, with ``velocity = "random"`` (default), the discrete curl ``b = (D_y psi, -D_x psi)`` of a
random stream function ``psi`` with ``psi = 0`` on the boundary: a sine series with independent
Gaussian coefficients of variance ``(pi^2 (k^2 + l^2) + psi_tau^2)^-psi_alpha`` (defaults 3 and 3,
so ``b`` is continuous). ``D_x``, ``D_y`` are central differences with ``psi`` extended oddly across
the boundary, so that (i) the central-difference divergence ``D_x b_x + D_y b_y`` vanishes to
rounding at every node (the difference operators commute), and (ii) ``b . n = 0`` on the boundary:
a closed, recirculating flow. ``b`` is then scaled to ``max|b| = 1`` over the nodes.
With ``velocity = "constant"``, ``b = (cos angle, sin angle)`` everywhere (no randomness).

Discretisation: five-point diffusion (:func:`oplearn.pdes.stencils.neg_laplacian`) and the
advection stencil of :func:`oplearn.pdes.stencils.advection`: ``scheme = "central"`` (second order,
free of oscillations while the mesh Peclet number ``max|b| h / (2 eps) <= 1``) or ``"upwind"``
(first order, an M-matrix and stable at any Peclet number); ``"auto"`` (default) takes central when
the mesh Peclet number is <= 1, else upwind. Nonsymmetric: sparse LU or ILU-preconditioned GMRES.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft

from oplearn.errors import InvalidInputError
from oplearn.linalg.solve import default_solver, solve_general
from oplearn.pdes.grf import sample_grf_source, source_parameters
from oplearn.pdes.parameters import Choice, Number, check_parameters, defaults_of
from oplearn.pdes.problem import Problem, register
from oplearn.pdes.stencils import (
    ADVECTION_SCHEMES,
    advection,
    check_field,
    mesh_peclet,
    neg_laplacian,
    solve_interior,
)

SOLVERS = ("auto", "direct", "gmres")
VELOCITIES = ("random", "constant")
PARAMETERS = {
    "peclet": Number(10.0, low=0.0, low_open=True),
    "velocity": Choice("random", VELOCITIES),
    "angle": Number(float(np.pi / 4)),
    "psi_alpha": Number(3.0, low=0.0, low_open=True),
    "psi_tau": Number(3.0, low=0.0),
    **source_parameters("f_"),
    "scheme": Choice("auto", ("auto", *ADVECTION_SCHEMES)),
    "solver": Choice("auto", SOLVERS),
    "tol": Number(1e-10, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)


def _check_scheme(scheme: Any) -> None:
    PARAMETERS["scheme"].check("scheme", scheme)


def stream_function(rng: np.random.Generator, s: int, *, alpha: float = 3.0,
                    tau: float = 3.0) -> np.ndarray:
    """Random ``psi`` on ``s x s`` nodes, zero on the boundary (sine series); ``(s, s)``."""
    n = s - 2
    k = np.pi * np.arange(1, n + 1, dtype=np.float64)
    sqrt_eig = (k[:, None] ** 2 + k[None, :] ** 2 + tau**2) ** (-alpha / 2.0)
    psi = np.zeros((s, s))
    # Unnormalised DST-I: y_j = 2 sum_k c_k sin(pi (k+1)(j+1) / (n+1)), i.e. sin(pi k x) at x_j.
    psi[1:-1, 1:-1] = scipy.fft.dstn(rng.standard_normal((n, n)) * sqrt_eig, type=1) / 4.0
    return psi


def curl(psi: np.ndarray) -> np.ndarray:
    """``(D_y psi, -D_x psi)`` by central differences, ``psi`` odd across the boundary; ``(2, s, s)``.

    For ``psi`` vanishing on the boundary the result is tangential there, and its central-difference
    divergence is zero at every node up to rounding.
    """
    s = psi.shape[0]
    ext = np.pad(psi, 1, mode="reflect", reflect_type="odd")  # psi_{-1} = 2 psi_0 - psi_1 = -psi_1
    half_inv_h = 0.5 * (s - 1)
    dx = (ext[2:, 1:-1] - ext[:-2, 1:-1]) * half_inv_h
    dy = (ext[1:-1, 2:] - ext[1:-1, :-2]) * half_inv_h
    return np.stack([dy, -dx])


def sample_velocity(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Velocity ``(b_x, b_y)`` on ``s x s`` nodes with ``max|b| = 1``; ``(2, s, s)``."""
    p = check_parameters("advection-diffusion", PARAMETERS, params)
    if p["velocity"] == "constant":
        angle = float(p["angle"])
        return np.stack([np.full((s, s), np.cos(angle)), np.full((s, s), np.sin(angle))])
    b = curl(stream_function(rng, s, alpha=float(p["psi_alpha"]), tau=float(p["psi_tau"])))
    return b / np.sqrt(np.max(b[0] ** 2 + b[1] ** 2))


def sample_input(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Input ``(f, b_x, b_y)`` of one sample, ``(3, s, s)``: source, then velocity."""
    p = check_parameters("advection-diffusion", PARAMETERS, params)
    b = sample_velocity(rng, s, **p)
    f = sample_grf_source(rng, s, p, "f_")
    return np.concatenate([f[None], b])


def _check_velocity(velocity: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A ``(2,)`` constant, ``(2, s, s)`` or ``(batch, 2, s, s)`` velocity as ``(..., 2, s, s)``."""
    b = np.asarray(velocity, dtype=np.float64)
    s = shape[-1]
    if b.shape == (2,):
        b = np.broadcast_to(b[:, None, None], (2, s, s))
    if b.shape not in ((2, s, s), (*shape[:-2], 2, s, s)):
        raise InvalidInputError(
            f"velocity must be (2,), (2, s, s) or (batch, 2, s, s) matching f {shape}, got {b.shape}"
        )
    if not np.all(np.isfinite(b)):
        raise InvalidInputError("velocity contains NaN or inf")
    return np.broadcast_to(b, (*shape[:-2], 2, s, s))


def choose_scheme(velocity: np.ndarray, eps: float, scheme: str = "auto") -> str:
    """``scheme``, or for ``"auto"``: central if the mesh Peclet number is <= 1, else upwind."""
    _check_scheme(scheme)
    if scheme != "auto":
        return scheme
    return "central" if mesh_peclet(velocity, eps) <= 1.0 else "upwind"


def solve(
    f: np.ndarray,
    velocity: np.ndarray,
    eps: float,
    *,
    scheme: str = "auto",
    solver: str = "auto",
    tol: float = 1e-10,
) -> np.ndarray:
    """Solve ``-eps Laplacian u + b . grad u = f`` on the unit square with ``u = 0`` on the boundary.

    Args:
        f: source, ``(s, s)`` or ``(batch, s, s)`` on the node-centred grid.
        velocity: ``b``, a constant ``(2,)``, a field ``(2, s, s)`` shared by the batch, or
            ``(batch, 2, s, s)``; components ``(b_x, b_y)``.
        eps: diffusion coefficient, ``> 0``.
        scheme: ``"auto"``, ``"central"`` or ``"upwind"`` (see module notes; auto decides per sample).
        solver: ``"auto"``, ``"direct"`` (sparse LU) or ``"gmres"`` (ILU-preconditioned GMRES).
        tol: relative residual the solve must reach (checked; :class:`SolverError` otherwise).
    Returns:
        ``u`` of ``f``'s shape, float64, zero on the boundary.
    """
    f = check_field(f, "f")
    b = _check_velocity(velocity, f.shape)
    eps = Number(1.0, low=0.0, low_open=True).check("eps", eps)
    _check_scheme(scheme)
    if f.ndim == 3:
        return np.stack([solve(fi, bi, eps, scheme=scheme, solver=solver, tol=tol)
                         for fi, bi in zip(f, b, strict=True)])
    matrix = eps * neg_laplacian(f.shape[0]) + advection(b, choose_scheme(b, eps, scheme))
    return solve_interior(f, lambda rhs: solve_general(matrix, rhs, solver=solver, tol=tol))


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    return sample_input(rng, s, **params)


def _solve_one(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    eps = 1.0 / float(params["peclet"])
    return solve(x[0], x[1:], eps, scheme=params["scheme"], solver=params["solver"],
                 tol=float(params["tol"]))[None]


PROBLEM = register(
    Problem(
        name="advection-diffusion",
        grid="node",
        ndim=2,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=_solve_one,
        description="-Laplacian u / Pe + b . grad u = f on the unit square, u = 0 on the boundary; "
                    "input (f, b_x, b_y), b a random divergence-free flow with max|b| = 1",
        solvers=SOLVERS,
        auto_solver=lambda s, device, batch: default_solver((s - 2) ** 2, "gmres"),
        channels=lambda params: (3, 1),
    )
)

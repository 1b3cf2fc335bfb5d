"""High-contrast diffusion in the style of the ConDiff benchmark (Yudin et al., 2024).

``-div(a(x) grad u(x)) = f`` on the unit square, ``u = 0`` on the boundary, ``f = 1`` by default;
the input is ``a``, the output ``u``.

Sampler (``distribution``): ``a = a_min * contrast^t`` with ``t = (L - min L) / (max L - min L)``
and ``L`` a zero-mean stationary Gaussian random field, so that ``a`` ranges over
``[a_min, a_min * contrast]`` and ``max a / min a = contrast`` exactly (up to rounding).
The covariance of ``L`` (``r`` the distance, ``l`` = ``length``, the correlation length):

- ``"gaussian"``: ``exp(-r^2 / l^2)`` (infinitely smooth fields);
- ``"exponential"``: ``exp(-r / l)`` (Matern 1/2: continuous, nowhere differentiable);
- ``"matern"``: ``(1 + sqrt(3) r / l) exp(-sqrt(3) r / l)`` (Matern 3/2: once differentiable);
- ``"cubic"``: ``1 - 7 x^2 + 35/4 x^3 - 7/2 x^5 + 3/4 x^7`` for ``x = r / l < 1``, else 0
  (compactly supported, as in ConDiff / gstools);
- ``"binary"``: ``a = a_min`` where a ``"gaussian"`` field is < 0 and ``a_min * contrast`` where
  it is >= 0 (a thresholded field, as for Darcy; max/min equals ``contrast`` whenever both phases
  occur, which they do with overwhelming probability unless ``length`` is comparable to the domain).

Sampling is exact, by circulant embedding (Dietrich and Newsam, 1997): the grid is embedded in a
periodic grid of ``m >= 2 (s - 1)`` points per axis (doubled until it works), on which the
covariance matrix is circulant and diagonalised by the FFT; ``L = C^(1/2) w`` for white noise
``w`` is computed by FFT filtering and restricted to the ``s x s`` block, whose covariance is then
exactly the target's. Embedding eigenvalues below ``1e-10 * max`` in magnitude (rounding) are set
to 0; a clearly negative one means the embedding failed and the sampler raises.

Discretisation: :func:`oplearn.pdes.stencils.diffusion` (harmonic-mean face coefficients, second order
for smooth ``a``), SPD, sparse LU, AMG-preconditioned CG or batched multigrid-CG
(:mod:`oplearn.linalg.multigrid`, Galerkin coarse operators) with a checked residual. The system is
solved after symmetric diagonal (Jacobi) scaling, ``D^-1/2 A D^-1/2 y = D^-1/2 f``, ``u = D^-1/2 y``,
so the residual checked against ``tol`` is ``|D^-1/2 (f - A u)| / |D^-1/2 f|``. Without it the
plain relative residual of even an exact (backward-stable) LU solve sits at its rounding floor
``eps |A| |u| / |f|``, measured for the binary distribution at 3.7e-10 (contrast 1e4, s = 129) and
1.5e-8 (contrast 1e6), above the default ``tol = 1e-10``; scaled, the same solves reach 5e-12 and
2e-11 (and 4e-10 at contrast 1e8). Multigrid-CG solves the unscaled system and checks the same
scaled residual (``residual_weight``); it restarts from the true residual where CG's updated one
has drifted, and so reaches 1e-10 at contrast 1e6 and 257 points, where the direct and AMG solves
stop at 1.5e-10 and 1.3e-10 (``benchmarks/datagen.py --part high-contrast``); at 513 points none of
the three reaches it (1.8e-10 to 3.2e-10): pass a larger ``tol`` there and at higher contrast.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from oplearn.errors import InvalidInputError
from oplearn.linalg.solve import DIRECT_MAX_UNKNOWNS, choose_spd_solver, solve_spd
from oplearn.pdes.parameters import Choice, Number, check_parameters, defaults_of
from oplearn.pdes.problem import Problem, register
from oplearn.pdes.stencils import (
    broadcast_field,
    check_field,
    diffusion,
    require_cpu,
    solve_diffusion_multigrid,
    solve_interior,
)

DISTRIBUTIONS = ("gaussian", "exponential", "matern", "cubic", "binary")
MAX_CONTRAST = 1e8
SOLVERS = ("auto", "direct", "amg", "mg")
PARAMETERS = {
    "distribution": Choice("gaussian", DISTRIBUTIONS),
    "length": Number(0.1, low=0.0, high=1.0, low_open=True),
    "contrast": Number(1e4, low=1.0, high=MAX_CONTRAST),
    "a_min": Number(1.0, low=0.0, low_open=True),
    "f": Number(1.0),
    "solver": Choice("auto", SOLVERS),
    "tol": Number(1e-10, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)
_EMBEDDING_TRIES = 4  # m = 2 (s - 1) * 2^t, t < _EMBEDDING_TRIES


def covariance(r: np.ndarray, distribution: str, length: float) -> np.ndarray:
    """Correlation ``C(r)`` of the log-coefficient family ``distribution`` (``C(0) = 1``)."""
    x = np.asarray(r, dtype=np.float64) / length
    if distribution in ("gaussian", "binary"):
        return np.exp(-(x**2))
    if distribution == "exponential":
        return np.exp(-x)
    if distribution == "matern":
        return (1.0 + np.sqrt(3.0) * x) * np.exp(-np.sqrt(3.0) * x)
    if distribution == "cubic":
        return np.where(x < 1.0, 1 - 7 * x**2 + 8.75 * x**3 - 3.5 * x**5 + 0.75 * x**7, 0.0)
    raise InvalidInputError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")


@lru_cache(maxsize=16)
def _embedding(s: int, distribution: str, length: float) -> np.ndarray:
    """``sqrt`` of the eigenvalues of the circulant embedding, ``(m, m // 2 + 1)`` for ``rfft2``."""
    h = 1.0 / (s - 1)
    for t in range(_EMBEDDING_TRIES):
        m = 2 * (s - 1) * 2**t
        i = np.arange(m)
        d = h * np.minimum(i, m - i)
        c = covariance(np.sqrt(d[:, None] ** 2 + d[None, :] ** 2), distribution, length)
        lam = np.fft.rfft2(c).real  # c is real and even, so its spectrum is real
        if lam.min() >= -1e-10 * lam.max():
            out = np.sqrt(np.maximum(lam, 0.0))
            out.flags.writeable = False
            return out
    raise InvalidInputError(
        f"circulant embedding of the {distribution} covariance with length {length:g} failed at "
        f"s={s}; choose a smaller length"
    )


def sample_log_field(rng: np.random.Generator, s: int, distribution: str = "gaussian",
                     length: float = 0.1) -> np.ndarray:
    """A zero-mean, unit-variance stationary Gaussian field on ``s x s`` nodes; ``(s, s)``."""
    sqrt_lam = _embedding(s, distribution, float(length))
    m = sqrt_lam.shape[0]
    w = rng.standard_normal((m, m))
    # C^(1/2) w with C = F^-1 diag(lam) F circulant; irfft2's 1/m^2 and rfft2 cancel to unit scale.
    field = np.fft.irfft2(sqrt_lam * np.fft.rfft2(w), s=(m, m))
    return field[:s, :s]


def sample_coefficient(rng: np.random.Generator, s: int, **params: Any) -> np.ndarray:
    """Coefficient ``a`` on ``s x s`` nodes with ``max a / min a = contrast``; ``(s, s)``."""
    p = check_parameters("high-contrast", PARAMETERS, params)
    a_min, contrast = float(p["a_min"]), float(p["contrast"])
    field = sample_log_field(rng, s, p["distribution"], float(p["length"]))
    if p["distribution"] == "binary":
        return np.where(field >= 0.0, a_min * contrast, a_min)
    lo, hi = field.min(), field.max()
    t = (field - lo) / (hi - lo) if hi > lo else np.zeros_like(field)
    return a_min * contrast**t


def choose_solver(s: int, device: str = "cpu") -> str:
    """The solver ``"auto"`` picks for ``s`` points per side (``benchmarks/datagen.py --part
    high-contrast``): multigrid on a GPU and above ``DIRECT_MAX_UNKNOWNS``, else the direct solver.
    Measured: multigrid beat AMG-CG in every case and the direct solver from 257 points on; at 129
    points it is 2-3x faster on smooth coefficients and 0.8-1.0x on binary ones."""
    return choose_spd_solver(s, device, mg_min_unknowns=DIRECT_MAX_UNKNOWNS)


def solve(
    a: np.ndarray,
    f: float | np.ndarray = 1.0,
    *,
    solver: str = "auto",
    tol: float = 1e-10,
    device: str = "cpu",
) -> np.ndarray:
    """Solve ``-div(a grad u) = f`` on the unit square with ``u = 0`` on the boundary.

    Args:
        a: coefficient, ``(s, s)`` or ``(batch, s, s)`` on the node-centred grid, ``> 0``.
        f: source, a scalar or an array of ``a``'s shape (or ``(s, s)``, shared by the batch).
        solver: ``"auto"`` (:func:`choose_solver`), ``"direct"`` (sparse LU), ``"amg"`` (pyamg + CG)
            or ``"mg"`` (batched geometric multigrid + CG in PyTorch, all samples at once).
        tol: relative residual (Jacobi-scaled, see the module notes) the solve must reach
            (checked; :class:`SolverError` otherwise).
        device: ``"cpu"`` or ``"cuda"`` (multigrid only).
    Returns:
        ``u`` of ``a``'s shape, float64, zero on the boundary.
    """
    a = check_field(a, "a")
    if np.any(a <= 0):
        raise InvalidInputError("a must be strictly positive")
    f = broadcast_field(f, a.shape, "f")
    if solver == "auto":
        solver = choose_solver(a.shape[-1], device)
    if solver == "mg":
        return solve_diffusion_multigrid(a, f, tol=tol, device=device, diagonal_weighted=True)
    require_cpu(solver, device)
    if a.ndim == 3:
        return np.stack([solve(ai, fi, solver=solver, tol=tol) for ai, fi in zip(a, f, strict=True)])
    matrix = diffusion(a)
    # Symmetric diagonal scaling D^-1/2 A D^-1/2 (D = diag A) before the solve; see module notes.
    scale = 1.0 / np.sqrt(matrix.diagonal())
    scaled = sp.diags(scale) @ matrix @ sp.diags(scale)
    return solve_interior(f, lambda rhs: scale * solve_spd(scaled, scale * rhs, solver=solver, tol=tol))


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    return sample_coefficient(rng, s, **params)[None]


def _solve_one(a: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    return solve_batch(a[None], params)[0]


def solve_batch(a: np.ndarray, params: dict[str, Any], device: str = "cpu") -> np.ndarray:
    """``(B, 1, s, s)`` coefficients -> ``(B, 1, s, s)`` solutions (multigrid: one batched solve)."""
    return solve(a[:, 0], float(params["f"]), solver=params["solver"], tol=float(params["tol"]),
                 device=device)[:, None]


def _validate(s: int, params: dict[str, Any]) -> None:
    _embedding(s, params["distribution"], float(params["length"]))


PROBLEM = register(
    Problem(
        name="high-contrast",
        grid="node",
        ndim=2,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=_solve_one,
        description="-div(a grad u) = 1 on the unit square, u = 0 on the boundary; a = exp(GRF) "
                    "(ConDiff-style covariances) scaled to max a / min a = contrast",
        solve_batch=solve_batch,
        solvers=SOLVERS,
        auto_solver=lambda s, device, batch: choose_solver(s, device),
        validate=_validate,
    )
)

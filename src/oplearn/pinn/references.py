"""Reference solutions of the space-time benchmarks of physics-informed networks, without networks.

Both problems live in PINN coordinates ``x in [-1, 1]``, ``t in [0, 1]``, and come back on a grid:
``x`` ``(nx,)`` with ``x_i = -1 + 2 i / nx`` (``[-1, 1)``; ``x = 1`` is ``x = -1`` again),
``t = linspace(0, 1, nt)``, ``u`` ``(nt, nx)`` float64. Results are cached (``functools.lru_cache``)
and read-only, so a second call is free and a caller cannot spoil the cache.

- :func:`burgers_reference`: ``u_t + u u_x = nu u_xx``, ``u(-1) = u(1) = 0``, ``u0 = -sin(pi x)``,
  ``nu = 0.01 / pi`` (Raissi et al. 2019). With ``y = (x + 1) / 2``, ``tau = t / 2`` and
  ``v(y, tau) = u(x, t)``: ``u_t = v_tau / 2``, ``u_x = v_y / 2``, ``u_xx = v_yy / 4``, so
  ``v_tau + v v_y = (nu / 2) v_yy`` on ``y in [0, 1]`` with ``v0 = -sin(pi (2 y - 1)) = sin(2 pi y)``.
  ``v0`` is odd about ``y = 0`` and ``y = 1/2``, a symmetry the periodic equation keeps, so the
  periodic solution vanishes at ``y = 0 = 1``: it is the Dirichlet one. It is computed with the
  scheme of :func:`oplearn.pdes.burgers.solve` (Fourier, ETDRK4, same terms and automatic step),
  stepping through all snapshots with one set of ETDRK4 multipliers (:func:`_burgers_trajectory`).
- :func:`burgers_cole_hopf`: the same solution at any points from the Cole-Hopf formula by
  Gauss-Hermite quadrature (Basdevant et al. 1986), the independent check of the former; with
  ``derivative=True`` also ``u_x`` (at ``x = 0`` its largest magnitude, ``152.00516`` at
  ``t = 1.6037 / pi``, is Basdevant et al.'s published value; the tests check both).
- :func:`allen_cahn_reference`: ``u_t = eps u_xx + reaction (u - u^3)``, periodic on ``[-1, 1]``,
  ``u0 = x^2 cos(pi x)``, computed with :func:`oplearn.pdes.allen_cahn.trajectory`. This ``u0`` is
  continuous on the circle but its derivative jumps at ``x = +-1`` (from ``-2`` to ``2``). Solving
  from its values on the grid (its interpolant) leaves an error of order ``h^2`` near that corner
  at all later times (measured: ``2e-5`` at ``t = 0.005`` and ``1e-10`` at ``t = 1`` with 4096
  points); solving from its exact Fourier coefficients (its truncated series, the coefficients are
  known in closed form) leaves only the truncated modes, which diffusion damps as
  ``e^{-eps k^2 t}``: the error at ``t >= 0.005`` falls to ``1e-11`` with 4096 points. So the solve
  starts from the truncated series, and the ``t = 0`` row holds ``u0`` itself.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import replace

import numpy as np
import torch
from numpy.polynomial.hermite import hermgauss

from oplearn.errors import InvalidInputError
from oplearn.pdes import allen_cahn, burgers, time_stepping
from oplearn.pdes.time_stepping import ETDRK4, SemilinearTerms

BURGERS_NU = 0.01 / math.pi
MAX_HERMITE_NODES = 300
"""NumPy's ``hermgauss`` overflows above about 360 nodes."""


def _count(name: str, value, low: int) -> int:
    try:
        value = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}") from None
    if value < low:
        raise InvalidInputError(f"{name} must be >= {low}, got {value}")
    return value


def _positive(name: str, value, allow_zero: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise InvalidInputError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, got {value}")
    return value


def _grid(nx: int, nt: int, solver_points: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``x`` ``(nx,)``, ``t`` ``(nt,)`` and the stride from the solver grid to ``x``."""
    nx, nt = _count("nx", nx, 2), _count("nt", nt, 1)
    solver_points = _count("solver_points", solver_points, 4)
    if solver_points % nx:
        raise InvalidInputError(f"solver_points ({solver_points}) must be a multiple of nx ({nx})")
    return -1.0 + 2.0 * np.arange(nx) / nx, np.linspace(0.0, 1.0, nt), solver_points // nx


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=8)
def burgers_reference(nx: int = 256, nt: int = 101, nu: float = BURGERS_NU, solver_points: int = 8192,
                      *, dt: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Burgers' benchmark ``u_t + u u_x = nu u_xx``, ``u(+-1, t) = 0``, ``u0 = -sin(pi x)`` on a grid.

    Args:
        nx: points in ``x`` (a divisor of ``solver_points``).
        nt: times, ``linspace(0, 1, nt)``.
        nu: viscosity (> 0).
        solver_points: points of the spectral solve (periodic on ``[-1, 1)``).
        dt: largest time step in units of ``t`` (default: the solver's automatic step,
            ``4e-4`` for the defaults).
    Returns:
        ``x`` ``(nx,)`` in ``[-1, 1)``, ``t`` ``(nt,)``, ``u`` ``(nt, nx)``, float64, read-only.
    """
    x, t, stride = _grid(nx, nt, solver_points)
    nu = _positive("nu", nu)
    if dt is not None:
        dt = _positive("dt", dt)
    v0 = np.sin(2 * np.pi * np.arange(solver_points) / solver_points)  # v0(y), y = (x + 1) / 2
    tau_dt = burgers.auto_time_step(1.0, solver_points, nu / 2) if dt is None else dt / 2
    rows = [v0[::stride]]
    if nt > 1:
        interval = 0.5 / (nt - 1)  # between snapshots, in tau = t / 2
        steps = max(1, math.ceil(interval / tau_dt - 1e-9))
        states = _burgers_trajectory(v0, nu / 2, interval / steps, steps, nt - 1)
        rows.extend(states[:, ::stride])
    u = np.stack(rows)
    u[0] = -np.sin(np.pi * x)
    return _read_only(x, t, u)


def _burgers_trajectory(v0: np.ndarray, nu: float, dt: float, steps: int, count: int) -> np.ndarray:
    """``(n,)`` -> ``(count, n)``: the states after every ``steps`` steps of size ``dt`` of
    :func:`oplearn.pdes.burgers.solve`'s scheme (the same terms: Fourier, 2/3-rule dealiased flux,
    ETDRK4 with the same contour), with one plan of the multipliers for all snapshots.

    Why not one :func:`oplearn.pdes.burgers.solve` call per snapshot: each call rebuilds the
    ETDRK4 multipliers (contour integrals over ``n/2 + 1`` modes), measured 0.08 s per call at
    8192 points against 1 ms per step, 100 calls 8 s of a total of 11 s. The test
    ``test_burgers_trajectory_is_burgers_solve`` checks that both give the same states.
    """
    n = v0.shape[-1]
    k = 2 * math.pi * torch.arange(n // 2 + 1, dtype=torch.float64)
    flux = -0.5j * k * (torch.arange(n // 2 + 1) < n / 3).to(torch.float64)  # -(u^2 / 2)_x, 2/3 rule

    def nonlinear(v: torch.Tensor) -> torch.Tensor:
        return flux * torch.fft.rfft(torch.fft.irfft(v, n=n) ** 2)

    terms = SemilinearTerms(linear=-nu * k ** 2, nonlinear=nonlinear)
    scheme = replace(ETDRK4, contour_points=burgers.CONTOUR_POINTS)
    v = torch.fft.rfft(torch.as_tensor(v0, dtype=torch.float64))
    states = torch.stack(list(time_stepping.trajectory(v, terms, scheme, dt, steps, count)))
    out = torch.fft.irfft(states, n=n).numpy()
    if not np.isfinite(out).all():
        raise InvalidInputError("the Burgers solution blew up; reduce dt")
    return out


def x2_cos_coefficients(n: int) -> np.ndarray:
    """``rfft`` coefficients ``(n//2 + 1,)`` of the truncated Fourier series of ``x^2 cos(pi x)``.

    On the period ``[-1, 1]``: ``x^2 cos(pi x) = sum_m a_m e^{i pi m x}`` with
    ``a_m = int_0^1 x^2 cos(pi x) cos(pi m x) dx = (g(m + 1) + g(m - 1)) / 2``,
    ``g(j) = int_0^1 x^2 cos(pi j x) dx = 2 (-1)^j / (pi j)^2``, ``g(0) = 1/3``. On the grid
    ``x_i = -1 + 2 i / n`` the mode ``m`` is ``(-1)^m e^{2 pi i m i / n}``, hence the coefficients
    ``n (-1)^m a_m`` for ``|m| < n/2`` and ``0`` for the Nyquist mode of even ``n``.
    """
    m = np.arange(n // 2 + 1)

    def g(j: np.ndarray) -> np.ndarray:
        j = np.abs(j)
        return np.where(j == 0, 1.0 / 3.0, 2.0 * (-1.0) ** j / (np.pi * np.maximum(j, 1)) ** 2)

    coefficients = n * (-1.0) ** m * 0.5 * (g(m + 1) + g(m - 1))
    if n % 2 == 0:
        coefficients[-1] = 0.0
    return coefficients


@functools.lru_cache(maxsize=8)
def allen_cahn_reference(nx: int = 512, nt: int = 201, eps: float = 1e-4, reaction: float = 5.0,
                         solver_points: int = 4096, *, dt: float | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allen-Cahn benchmark ``u_t = eps u_xx + reaction (u - u^3)``, periodic, ``u0 = x^2 cos(pi x)``.

    Args:
        nx: points in ``x`` (a divisor of ``solver_points``).
        nt: times, ``linspace(0, 1, nt)``.
        eps: diffusion (>= 0).
        reaction: reaction rate (>= 0).
        solver_points: points of the spectral solve (periodic on ``[-1, 1)``).
        dt: largest time step (default :func:`oplearn.pdes.allen_cahn.auto_time_step`, ``1e-3`` here).
    Returns:
        ``x`` ``(nx,)`` in ``[-1, 1)``, ``t`` ``(nt,)``, ``u`` ``(nt, nx)``, float64, read-only.
        The ``t = 0`` row is ``u0`` at ``x``; later rows are solved from ``u0``'s truncated
        Fourier series (module docstring).
    """
    x, t, stride = _grid(nx, nt, solver_points)
    eps, reaction = _positive("eps", eps, allow_zero=True), _positive("reaction", reaction, allow_zero=True)
    v0 = np.fft.irfft(x2_cos_coefficients(solver_points), n=solver_points)
    if dt is None:  # the step the exact u0 (max |u0| = 1) asks for, not its Gibbs-overshooting series
        dt = allen_cahn.auto_time_step(1.0, reaction)
    u = allen_cahn.trajectory(v0, t, eps, reaction, length=2.0, dt=dt)[:, ::stride].copy()
    u[0] = x ** 2 * np.cos(np.pi * x)
    return _read_only(x, t, u)


def burgers_cole_hopf(x, t, nu: float = BURGERS_NU, *, nodes: int = 200, derivative: bool = False):
    """The exact solution of Burgers' benchmark (see :func:`burgers_reference`) at any points.

    Cole-Hopf: ``u = -2 nu phi_x / phi`` with ``phi`` the heat flow of
    ``f(y) = exp(-cos(pi y) / (2 pi nu))`` (``f`` on the whole line, so no boundary enters), so
    ``u(x, t) = -int sin(pi (x - eta)) f(x - eta) G(eta) d eta / int f(x - eta) G(eta) d eta`` with
    ``G(eta) = exp(-eta^2 / (4 nu t))``. With ``eta = sqrt(4 nu t) z`` both integrals are
    ``int e^{-z^2} ...`` and are computed by Gauss-Hermite quadrature with ``nodes`` nodes (the
    results agree to 1e-13 between 100 and 300 nodes at ``nu = 0.01 / pi``). ``f`` spans
    ``e^{+-1/(2 pi nu)}`` (``e^{+-50}`` here): the quadrature works with ``log(w_k f)`` less its
    largest value at each point, which cancels in the ratio. Since ``f' = f sin(pi y) / (2 nu)``,
    ``u_x = -N_x / D + u^2 / (2 nu)`` with ``N_x = int (pi cos(pi y) + sin^2(pi y) / (2 nu)) f G``
    and ``D = int f G`` (``y = x - eta``).

    Args:
        x, t: points, arrays broadcast against each other (``t >= 0``; ``t = 0`` gives ``u0``).
        nu: viscosity (> 0).
        nodes: Gauss-Hermite nodes (2 .. 300).
        derivative: also return ``u_x``.
    Returns:
        ``u`` of the broadcast shape (float64), or ``(u, u_x)`` with ``derivative=True``.
    """
    nu = _positive("nu", nu)
    nodes = _count("nodes", nodes, 2)
    if nodes > MAX_HERMITE_NODES:
        raise InvalidInputError(f"nodes must be <= {MAX_HERMITE_NODES}, got {nodes}")
    try:
        x, t = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(t, dtype=np.float64))
    except (TypeError, ValueError):
        raise InvalidInputError("x and t must be numeric arrays of shapes that broadcast") from None
    if not (np.isfinite(x).all() and np.isfinite(t).all()) or (t < 0).any():
        raise InvalidInputError("x and t must be finite, with t >= 0")
    z, w = hermgauss(nodes)
    y = x[..., None] - np.sqrt(4 * nu * t)[..., None] * z  # x - eta at every node
    log_weights = np.log(w) - np.cos(np.pi * y) / (2 * np.pi * nu)
    weights = np.exp(log_weights - log_weights.max(axis=-1, keepdims=True))
    sine = np.sin(np.pi * y)
    denominator = weights.sum(axis=-1)
    u = -(sine * weights).sum(axis=-1) / denominator
    if not derivative:
        return u
    n_x = ((np.pi * np.cos(np.pi * y) + sine ** 2 / (2 * nu)) * weights).sum(axis=-1)
    return u, -n_x / denominator + u ** 2 / (2 * nu)

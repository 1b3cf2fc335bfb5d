"""Viscous Burgers' equation in 1D, the time-dependent benchmark of the Fourier Neural Operator paper.

``u_t + (u^2 / 2)_x = nu u_xx`` on the periodic unit interval, ``u(x, 0) = u0(x)`` with
``u0 ~ N(0, 625 (-Laplacian + 25 I)^-2)``; the operator maps ``u0`` to ``u(., t)``.

Solver: Fourier pseudo-spectral in space (``rfft``, 2/3-rule dealiasing of the nonlinear term)
and ETDRK4 in time (Cox and Matthews 2002, coefficients by the contour integrals of Kassam and
Trefethen 2005), so the stiff diffusion is integrated exactly. Batched over samples in PyTorch
(float64) on CPU or GPU. The time step resolves advection on the wave numbers that diffusion
does not damp: ``dt = courant / (max|u0| k_adv)`` with ``k_adv = min(k_max, 4 max|u0| / nu)``
(``max |u|`` never grows: viscous Burgers' solutions obey a maximum principle). At ``nu = 0.1``
the error against Cole-Hopf is below 1e-8 (tests; ``benchmarks/burgers_solver.py`` prints the
time step, the errors and the observed orders: fourth order on smooth data, lower on the random
data, the stiff order reduction of the Cox-Matthews scheme).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from oplearn.errors import InvalidInputError
from oplearn.pdes.parameters import Integer, Number, defaults_of
from oplearn.pdes.problem import Problem, check_solver_resolution, every_kth_point, register
from oplearn.pdes.time_stepping import ETDRK4, SemilinearTerms, integrate

PARAMETERS = {
    "nu": Number(0.1, low=0.0, low_open=True),
    "t": Number(1.0, low=0.0),
    "solver_resolution": Integer(8192, low=4),
    "sigma": Number(625.0, low=0.0, low_open=True),
    "tau2": Number(25.0, low=0.0, low_open=True),
    "alpha": Number(2.0, low=0.0, low_open=True),
    "courant": Number(0.5, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)
CONTOUR_POINTS = 32


def sample_initial(rng: np.random.Generator, n: int, sigma: float = 625.0, tau2: float = 25.0,
                   alpha: float = 2.0) -> np.ndarray:
    """``u0 ~ N(0, sigma (-Laplacian + tau2 I)^-alpha)`` on ``n`` periodic points ``x_i = i / n``.

    Mode ``m`` (``exp(2 pi i m x)``) has variance ``sigma ((2 pi m)^2 + tau2)^-alpha``; the
    Nyquist mode is left out so the field is exactly real and band-limited. Returns ``(n,)``.
    """
    m = np.arange(n // 2 + 1)
    std = np.sqrt(sigma * ((2 * np.pi * m) ** 2 + tau2) ** (-alpha))
    coeff = (rng.standard_normal(m.size) + 1j * rng.standard_normal(m.size)) / np.sqrt(2)
    coeff[0] = rng.standard_normal()
    coeff *= std * n
    if n % 2 == 0:
        coeff[-1] = 0.0
    return np.fft.irfft(coeff, n=n)


def cole_hopf_sine(n: int, nu: float, t: float) -> tuple[np.ndarray, np.ndarray]:
    """The exact solution from ``u0 = sin(2 pi x)`` on ``n`` periodic points: ``(u0, u(., t))``.

    Cole-Hopf: ``u = -2 nu phi_x / phi`` with ``phi_t = nu phi_xx`` and
    ``phi0 = exp(-int_0^x u0 / (2 nu))``; the heat equation is solved exactly in Fourier space.
    """
    x = np.arange(n) / n
    phi0 = np.exp((np.cos(2 * np.pi * x) - 1) / (4 * np.pi * nu))
    k = 2 * np.pi * np.fft.rfftfreq(n, 1 / n)
    phi_hat = np.fft.rfft(phi0) * np.exp(-nu * k ** 2 * t)
    phi, phi_x = np.fft.irfft(phi_hat, n), np.fft.irfft(1j * k * phi_hat, n)
    return np.sin(2 * np.pi * x), -2 * nu * phi_x / phi


def auto_time_step(u0_max: float, n: int, nu: float, courant: float = 0.5) -> float:
    """The time step :func:`solve` takes: ``courant / (max|u0| k_adv)`` (module docstring)."""
    umax = u0_max or 1.0
    k_max = 2 * math.pi * max(math.ceil(n / 3) - 1, 1)  # the largest wave number the 2/3 rule keeps
    return courant / (umax * min(k_max, max(2 * math.pi, 4 * umax / nu)))


def solve(u0, nu: float = 0.1, t: float = 1.0, *, courant: float = 0.5, dt: float | None = None,
          device: str | torch.device | None = None):
    """``u(., t)`` of viscous Burgers' equation from ``u0`` on periodic points ``x_i = i / n``.

    Args:
        u0: ``(n,)`` or ``(B, n)`` initial values (NumPy or PyTorch; the result has the same type).
        nu: viscosity (> 0).
        t: final time (>= 0).
        courant: safety factor of the automatic time step (ignored when ``dt`` is given).
        dt: largest time step; it is shrunk so that a whole number of equal steps reaches ``t``.
        device: where to compute (default: ``u0``'s device, or CPU for NumPy input).
    Returns:
        ``u(., t)`` with the shape and type of ``u0``.
    """
    is_numpy = isinstance(u0, np.ndarray)
    u = torch.as_tensor(u0, dtype=torch.float64, device=device)
    if u.ndim not in (1, 2) or u.shape[-1] < 4:
        raise InvalidInputError(f"u0 must be (n,) or (B, n) with n >= 4, got {tuple(u.shape)}")
    if not torch.isfinite(u).all():
        raise InvalidInputError("u0 contains NaN or infinite values")
    if nu <= 0 or t < 0:
        raise InvalidInputError(f"need nu > 0 and t >= 0, got nu={nu}, t={t}")
    squeeze = u.ndim == 1
    u = u.reshape(-1, u.shape[-1])
    n = u.shape[-1]
    k = 2 * math.pi * torch.arange(n // 2 + 1, dtype=torch.float64, device=u.device)
    keep = (torch.arange(n // 2 + 1, device=u.device) < n / 3).to(torch.float64)  # 2/3 rule
    if t > 0:
        if dt is None:
            dt = auto_time_step(float(u.abs().max()), n, nu, courant)
        steps = max(1, math.ceil(t / dt - 1e-9))
        dt_full = t / steps
        u = _integrate(u, k, keep, nu, dt_full, steps)
    out = u[0] if squeeze else u
    if not torch.isfinite(out).all():
        raise InvalidInputError("the solution blew up; reduce courant or dt")
    return out.cpu().numpy() if is_numpy else out


def _integrate(u: torch.Tensor, k: torch.Tensor, keep: torch.Tensor, nu: float, dt: float,
               steps: int) -> torch.Tensor:
    """``(B, n)`` -> ``(B, n)``: ``steps`` ETDRK4 steps of size ``dt`` in Fourier space (``k``, ``keep``: ``(n//2 + 1,)``)."""
    n = u.shape[-1]
    g = -0.5j * k * keep  # -(u^2 / 2)_x in Fourier space, dealiased

    def nonlinear(v: torch.Tensor) -> torch.Tensor:
        return g * torch.fft.rfft(torch.fft.irfft(v, n=n) ** 2)

    terms = SemilinearTerms(linear=-nu * k ** 2, nonlinear=nonlinear)
    scheme = replace(ETDRK4, contour_points=CONTOUR_POINTS)
    return torch.fft.irfft(integrate(torch.fft.rfft(u), terms, scheme, dt, steps), n=n)


def _validate(s: int, params: dict[str, Any]) -> None:
    check_solver_resolution("Burgers", s, params["solver_resolution"])


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    """``u0`` on the solver grid, ``(1, solver_resolution)`` (restricted to ``s`` after the solve)."""
    _validate(s, params)
    return sample_initial(rng, params["solver_resolution"], params["sigma"], params["tau2"],
                          params["alpha"])[None]


def _solve_one(u0: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    return solve(u0, params["nu"], params["t"], courant=params["courant"])


def solve_batch(u0: np.ndarray, params: dict[str, Any], device: str = "cpu") -> np.ndarray:
    """``(B, 1, n)`` initial values -> ``(B, 1, n)`` solutions.

    Each sample takes the power of two of steps at or above what :func:`auto_time_step` asks for it
    alone (a smaller step, never a larger one), and samples with the same count are solved in one
    batch: many samples share a count, and no sample's result depends on the others in its batch.
    """
    u0 = u0[:, 0]
    n, nu, t, courant = u0.shape[-1], params["nu"], params["t"], params["courant"]
    steps = np.array([2 ** math.ceil(math.log2(max(1.0, t / auto_time_step(float(np.abs(u).max()), n, nu,
                                                                         courant) - 1e-9)))
                      for u in u0])
    out = np.empty_like(u0)
    for count in np.unique(steps):
        group = steps == count
        out[group] = solve(u0[group], nu, t, dt=t / count if t > 0 else None, device=device)
    return out[:, None]


PROBLEM = register(
    Problem(
        name="burgers",
        grid="periodic",
        ndim=1,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=_solve_one,
        solve_batch=solve_batch,
        restrict=every_kth_point(1),
        validate=_validate,
        description="u_t + (u^2/2)_x = nu u_xx on the periodic unit interval, u0 -> u(., t)",
    )
)

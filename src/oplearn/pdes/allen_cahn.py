"""The periodic 1D Allen-Cahn equation ``u_t = eps u_xx + reaction (u - u^3)``: a reference solver.

Used for the Allen-Cahn benchmark of physics-informed networks (``eps = 1e-4``, ``reaction = 5``,
``u0 = x^2 cos(pi x)`` on the periodic interval ``[-1, 1]``; :mod:`oplearn.pinn.references`). This
is a solver only, not a dataset family: nothing is registered.

Grid: ``n`` periodic points ``x_i = x_0 + i length / n`` (the solver never needs ``x_0``), wave
numbers ``k = 2 pi m / length``, ``m = 0 .. n/2`` (``rfft``), float64, batched, CPU or GPU.

Method: Fourier pseudo-spectral in space (the cubic term is formed pointwise on the grid, not
dealiased: on a grid that resolves the solution, as the tests check, aliasing is as small as the
spectrum's tail), ETDRK4 in time (Cox and Matthews 2002, coefficients by contour integrals,
Kassam and Trefethen 2005) through :mod:`oplearn.pdes.time_stepping`, diffusion integrated
exactly. The split is ``L = -eps k^2`` and ``N(u) = reaction (u - u^3)``, all of the reaction
explicit (see :func:`_terms` for why). The automatic step is accuracy-driven,
``dt = 0.005 / (reaction max(1, max|u0|^2))`` (``1e-3`` for the benchmark's ``reaction = 5``,
where the time error is about ``1e-10``); pass ``dt`` to choose.

Initial data with a corner (``x^2 cos(pi x)`` is continuous on the circle, but its derivative jumps at
``x = +-1``): solving from its values on the grid, its interpolant, leaves an error of order ``h^2``
near the corner at all later times; start instead from the values of its truncated Fourier series,
whose missing modes diffusion damps (:func:`oplearn.pinn.references.allen_cahn_reference` does).

Tests (``tests/pdes/test_allen_cahn.py``): observed fourth order in time against a much finer step;
spectral accuracy in space (``n`` and ``2n`` points agree to ``1e-10``); with ``eps = 0`` the exact
solution ``u0 e^{rt} / sqrt(1 - u0^2 + u0^2 e^{2rt})`` of the pointwise ODE ``u' = r (u - u^3)``;
with ``reaction = 0`` the exact decay ``e^{-eps k^2 t}`` of each Fourier mode (heat equation); the
stationary kinks ``tanh(x sqrt(r / (2 eps)))`` stay put; and the input checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from oplearn.errors import InvalidInputError
from oplearn.pdes.time_stepping import ETDRK4, SemilinearTerms
from oplearn.pdes.time_stepping import trajectory as _time_trajectory

CONTOUR_POINTS = 32
SAFETY = 0.005
"""The automatic step is ``SAFETY / (reaction max(1, max|u0|^2))`` (module docstring)."""


def auto_time_step(u0_max: float, reaction: float) -> float | None:
    """The step :func:`solve` takes unless given one; ``None`` (one step) when there is no reaction.

    ``reaction max(1, max|u0|^2)`` bounds the rates of the reaction term near the solution
    (its derivative ``reaction (1 - 3 u^2)``; ``|u|`` tends to ``<= max(1, max|u0|)``).
    """
    if reaction == 0:
        return None
    return SAFETY / (reaction * max(1.0, u0_max ** 2))


def _check_number(name: str, value, low: float, low_open: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value) or value < low or (low_open and value == low):
        bound = ">" if low_open else ">="
        raise InvalidInputError(f"{name} must be finite and {bound} {low}, got {value}")
    return value


def _check_state(u0, device) -> tuple[torch.Tensor, bool, bool]:
    """``u0`` as a ``(B, n)`` float64 tensor, whether it was 1D, whether it was NumPy."""
    is_numpy = not isinstance(u0, torch.Tensor)
    try:
        u = torch.as_tensor(np.asarray(u0) if is_numpy else u0, dtype=torch.float64, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidInputError("u0 must be a numeric array") from None
    if u.ndim not in (1, 2) or u.shape[-1] < 4 or u.shape[0] == 0:
        raise InvalidInputError(f"u0 must be (n,) or (B, n) with n >= 4 and B >= 1, got {tuple(u.shape)}")
    if not torch.isfinite(u).all():
        raise InvalidInputError("u0 contains NaN or infinite values")
    squeeze = u.ndim == 1
    return u.reshape(-1, u.shape[-1]), squeeze, is_numpy


def _terms(n: int, eps: float, reaction: float, length: float, device) -> SemilinearTerms:
    """``L = -eps k^2`` (``(n//2 + 1,)``) and ``N(v) = reaction F(u - u^3)`` on Fourier coefficients.

    Why all of the reaction is in ``N``: with ``L = -eps k^2`` the exponentials ``e^{dt L}`` never
    amplify (``L <= 0``), and the explicit part's rate ``reaction (1 - 3 u^2)`` lies in
    ``[-2 reaction, reaction]`` for ``|u| <= 1``. Putting ``+reaction`` in ``L`` leaves
    ``-3 reaction u^2`` explicit, rates down to ``-3 reaction`` near the stable states ``u = +-1``
    where the solution spends its time: a larger explicit stiffness, for nothing (the linear growth
    about ``u = 0`` is not stiff). With ``eps = 0`` the scheme is then classical RK4 on the ODE.
    """
    k = 2 * math.pi / length * torch.arange(n // 2 + 1, dtype=torch.float64, device=device)

    def nonlinear(v: torch.Tensor) -> torch.Tensor:
        u = torch.fft.irfft(v, n=n)
        return reaction * torch.fft.rfft(u - u ** 3)

    return SemilinearTerms(linear=-eps * k ** 2, nonlinear=nonlinear)


def _steps_for(interval: float, dt: float | None) -> int:
    if interval == 0:
        return 0
    return 1 if dt is None else max(1, math.ceil(interval / dt - 1e-9))


def _run(u: torch.Tensor, times: Sequence[float], eps: float, reaction: float, length: float,
         dt: float | None) -> torch.Tensor:
    """``(B, n)`` -> ``(B, len(times), n)``: the states at ``times`` (increasing, ``>= 0``)."""
    n = u.shape[-1]
    if dt is None:
        dt = auto_time_step(float(u.abs().max()), reaction)
    terms = _terms(n, eps, reaction, length, u.device)
    scheme = replace(ETDRK4, contour_points=CONTOUR_POINTS)
    v = torch.fft.rfft(u)
    out = []
    intervals = np.diff(np.concatenate([[0.0], np.asarray(times, dtype=np.float64)]))
    j = 0
    while j < len(intervals):
        # Consecutive equal intervals (e.g. from linspace) share one plan of the multipliers.
        count = 1
        while (j + count < len(intervals)
               and abs(intervals[j + count] - intervals[j]) <= 1e-12 * max(abs(intervals[j]), 1e-300)):
            count += 1
        steps = _steps_for(float(intervals[j]), dt)
        if steps == 0:
            out.extend([v] * count)
        else:
            step = float(intervals[j]) / steps
            out.extend(_time_trajectory(v, terms, scheme, step, steps, count))
        v = out[-1]
        j += count
    result = torch.fft.irfft(torch.stack(out, dim=1), n=n)
    if not torch.isfinite(result).all():
        raise InvalidInputError("the solution blew up; reduce dt")
    return result


def _check_parameters(eps, reaction, length, dt) -> tuple[float, float, float, float | None]:
    eps = _check_number("eps", eps, 0.0)
    reaction = _check_number("reaction", reaction, 0.0)
    length = _check_number("length", length, 0.0, low_open=True)
    if dt is not None:
        dt = _check_number("dt", dt, 0.0, low_open=True)
    return eps, reaction, length, dt


def trajectory(u0, times, eps: float = 1e-4, reaction: float = 5.0, *, length: float = 2.0,
               dt: float | None = None, device: str | torch.device | None = None):
    """The states of ``u_t = eps u_xx + reaction (u - u^3)`` at ``times``, from ``u0`` at time 0.

    Args:
        u0: ``(n,)`` or ``(B, n)`` initial values on periodic points ``x_i = x_0 + i length / n``
            (NumPy or PyTorch; the result has the same type).
        times: ``(T,)`` non-decreasing times ``>= 0`` (``0`` gives back ``u0``).
        eps: diffusion coefficient (``>= 0``; ``0`` is the pointwise ODE).
        reaction: reaction rate ``r`` (``>= 0``).
        length: the period.
        dt: largest time step (default :func:`auto_time_step`); each interval between consecutive
            times is split into a whole number of equal steps no larger than ``dt``.
        device: where to compute (default: ``u0``'s device, or CPU for NumPy input).
    Returns:
        ``(T, n)`` for ``(n,)`` input, ``(B, T, n)`` for ``(B, n)`` input, float64.
    """
    u, squeeze, is_numpy = _check_state(u0, device)
    eps, reaction, length, dt = _check_parameters(eps, reaction, length, dt)
    try:
        times_array = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError("times must be a 1D array of numbers") from None
    if times_array.ndim != 1 or times_array.size == 0:
        raise InvalidInputError(f"times must be a non-empty 1D array, got shape {times_array.shape}")
    if not np.isfinite(times_array).all() or times_array[0] < 0 or (np.diff(times_array) < 0).any():
        raise InvalidInputError("times must be finite, >= 0 and non-decreasing")
    out = _run(u, times_array.tolist(), eps, reaction, length, dt)
    out = out[0] if squeeze else out
    return out.cpu().numpy() if is_numpy else out


def solve(u0, eps: float = 1e-4, reaction: float = 5.0, t: float = 1.0, *, length: float = 2.0,
          dt: float | None = None, device: str | torch.device | None = None):
    """``u(., t)`` of ``u_t = eps u_xx + reaction (u - u^3)`` from ``u0`` on a periodic grid.

    Args:
        u0: ``(n,)`` or ``(B, n)`` initial values on periodic points ``x_i = x_0 + i length / n``
            (NumPy or PyTorch; the result has the same type).
        eps: diffusion coefficient (``>= 0``).
        reaction: reaction rate (``>= 0``).
        t: final time (``>= 0``).
        length: the period.
        dt: largest time step (default :func:`auto_time_step`), shrunk so that a whole number of
            equal steps reaches ``t``.
        device: where to compute (default: ``u0``'s device, or CPU for NumPy input).
    Returns:
        ``u(., t)`` with the shape and type of ``u0``, float64.
    """
    t = _check_number("t", t, 0.0)
    out = trajectory(u0, [t], eps, reaction, length=length, dt=dt, device=device)
    return out[0] if out.ndim == 2 else out[:, 0]

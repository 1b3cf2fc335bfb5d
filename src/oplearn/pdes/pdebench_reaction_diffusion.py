"""PDEBench's 1D diffusion-reaction problem (Takamoto et al. 2022).

``u_t = nu u_xx + rho u (1 - u)`` on the periodic unit interval, ``t`` in ``[0, 1]``, 1024 cell
centres and 101 stored times by default; initial conditions are PDEBench's sinusoid mixtures
(:func:`oplearn.pdes.pdebench_advection.initial_condition`) scaled to ``[0, 1]`` per sample.

Solved by Strang splitting of two exact flows: the logistic reaction
``u -> u e^(rho h) / (1 - u + u e^(rho h))`` at every point, and diffusion
``u_k -> u_k e^(-nu (2 pi k)^2 h)`` for every Fourier mode ``k``, in ``substeps`` steps between
stored times. The splitting is second order in the step (``tests/pdes/test_pdebench_reaction_diffusion.py`` measures
the order); each flow alone is exact. PDEBench itself splits an exact reaction step from a
second-order finite-volume diffusion step.
"""

from __future__ import annotations

import numpy as np

from oplearn.errors import InvalidInputError
from oplearn.pdes.pdebench_advection import initial_condition


def reaction(u: np.ndarray, rho: float, h: float) -> np.ndarray:
    """The logistic flow ``u' = rho u (1 - u)`` over time ``h``, exact (any ``u``, stable on [0, 1])."""
    grow = np.exp(rho * h)
    return u * grow / (1.0 - u + u * grow)


def diffusion(u: np.ndarray, nu: float, h: float) -> np.ndarray:
    """The periodic heat flow ``u' = nu u_xx`` on the unit interval over time ``h``, exact for the
    grid's Fourier modes (last axis)."""
    k = np.fft.rfftfreq(u.shape[-1], d=1.0 / u.shape[-1])
    return np.fft.irfft(np.fft.rfft(u, axis=-1) * np.exp(-nu * (2 * np.pi * k) ** 2 * h), n=u.shape[-1], axis=-1)


def evolve(u0: np.ndarray, nu: float, rho: float, times: np.ndarray, substeps: int = 20) -> np.ndarray:
    """``u0`` (..., X) at each of ``times`` (T,), ``times[0]`` being ``u0``'s own: (..., T, X)."""
    states, u = [u0], u0
    for start, stop in zip(times[:-1], times[1:], strict=True):
        h = (stop - start) / substeps
        for _ in range(substeps):
            u = reaction(diffusion(reaction(u, rho, h / 2), nu, h), rho, h / 2)
        states.append(u)
    return np.stack(states, axis=-2)


def solve(samples: int, nu: float, rho: float, *, resolution: int = 1024, steps: int = 101, t_end: float = 1.0,
          seed: int = 0, substeps: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``u`` (N, steps, resolution), cell centres ``x`` and times ``t`` (steps + 1,) as PDEBench
    stores them. Sample ``i`` draws its initial condition from ``default_rng([seed, i])``."""
    if (samples < 1 or resolution < 4 or steps < 2 or not np.isfinite(nu) or nu < 0 or not np.isfinite(rho)
            or t_end <= 0 or substeps < 1):
        raise InvalidInputError(f"need samples >= 1, resolution >= 4, steps >= 2, nu >= 0, finite rho, t_end > 0 "
                                f"and substeps >= 1; got {samples}, {resolution}, {steps}, {nu}, {rho}, {t_end}, {substeps}")
    x = (np.arange(resolution) + 0.5) / resolution
    dt = t_end / (steps - 1)
    t = np.arange(steps + 1) * dt
    u0 = np.stack([initial_condition(x, np.random.default_rng([seed, i])) for i in range(samples)])
    low, high = u0.min(axis=-1, keepdims=True), u0.max(axis=-1, keepdims=True)
    u0 = (u0 - low) / np.where(high > low, high - low, 1.0)
    return evolve(u0, nu, rho, t[:steps], substeps), x, t

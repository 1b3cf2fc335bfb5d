"""PDEBench's 1D advection problem (Takamoto et al. 2022), solved exactly.

``u_t + beta u_x = 0`` on the periodic unit interval, ``t`` in ``[0, 2]``, 1024 cell centres and
201 stored times ``0, 0.01, ..., 2`` by default. Initial conditions as PDEBench's ``init_multi``
draws them: ``u0(x) = sum_{n=1..4} A_n sin(k_n x + phi_n)`` with ``A_n ~ U[0, 1)``,
``phi_n ~ U[0, 2 pi)`` and ``k_n = 2 pi n s_n``, where ``s_n`` counts how often ``n`` came up in
two draws from ``{1, .., 4}`` (modes not drawn add the constant ``A_n sin(phi_n)``); then, with
probability 0.1, ``|u0|``; a random sign; with probability 0.1, the window
``(tanh((x - x_L) / 0.01) - tanh((x - x_R) / 0.01)) / 2``, ``x_L ~ U(0.1, 0.45)``,
``x_R ~ U(0.55, 0.9)``. One difference, on purpose: PDEBench divides ``k_n`` by ``1 - 1/1024``
(its first-to-last cell-centre distance), which makes its initial conditions not quite periodic;
here they are, so the solution is exactly ``u0((x - beta t) mod 1)``, where PDEBench's
second-order finite-volume solution carries its own discretisation error.
"""

from __future__ import annotations

import numpy as np

from oplearn.errors import InvalidInputError


def initial_condition(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One PDEBench-style initial condition as a function of ``x`` (any shape, 1-periodic)."""
    counts = np.bincount(rng.integers(1, 5, size=2), minlength=5)[1:]  # s_n for n = 1..4
    amplitude, phase = rng.uniform(0, 1, 4), rng.uniform(0, 2 * np.pi, 4)
    k = 2 * np.pi * np.arange(1, 5) * counts
    u = (amplitude * np.sin(np.multiply.outer(x, k) + phase)).sum(-1)
    if rng.uniform() < 0.1:
        u = np.abs(u)
    u = u * rng.choice([-1.0, 1.0])
    if rng.uniform() < 0.1:
        left, right = rng.uniform(0.1, 0.45), rng.uniform(0.55, 0.9)
        u = u * 0.5 * (np.tanh((x - left) / 0.01) - np.tanh((x - right) / 0.01))
    return u


def solve(samples: int, beta: float, *, resolution: int = 1024, steps: int = 201, t_end: float = 2.0,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``samples`` exact solutions: ``u`` (N, steps, resolution) float64 at the cell centres
    ``x`` (resolution,) and the times ``t`` (steps + 1,), stored as PDEBench stores them (one time
    beyond the last step). Sample ``i`` draws from ``numpy.random.default_rng([seed, i])``."""
    if samples < 1 or resolution < 2 or steps < 1 or not np.isfinite(beta) or t_end <= 0:
        raise InvalidInputError(f"need samples >= 1, resolution >= 2, steps >= 1, finite beta and t_end > 0; "
                                f"got {samples}, {resolution}, {steps}, {beta}, {t_end}")
    dx = 1.0 / resolution
    x = (np.arange(resolution) + 0.5) * dx
    dt = t_end / (steps - 1) if steps > 1 else 0.0
    t = np.arange(steps + 1) * dt
    shifted = np.mod(x[None, :] - beta * t[:steps, None], 1.0)  # (T, X): where each value came from
    u = np.stack([initial_condition(shifted, np.random.default_rng([seed, i])) for i in range(samples)])
    return u, x, t

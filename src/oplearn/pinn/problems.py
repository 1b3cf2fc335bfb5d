"""Shipped problems, each with an exact or an independent reference solution (each registers
itself; ``oplearn info --pinn`` lists them)."""

from __future__ import annotations

import math

import numpy as np
import torch

from oplearn.autodiff import axis_derivatives, laplacian
from oplearn.pinn.conditions import Dirichlet, Initial, Periodic
from oplearn.pinn.domains import Ball, Box, TimeDomain
from oplearn.pinn.problem import Problem, ProblemSpec, Unknown, register

PI = math.pi
BURGERS_NU = 0.01 / PI
ALLEN_CAHN_EPS, ALLEN_CAHN_RATE = 1e-4, 5.0


def _sin_sin(x: torch.Tensor, a: float, b: float) -> torch.Tensor:
    return torch.sin(a * PI * x[:, 0]) * torch.sin(b * PI * x[:, 1])


# --------------------------------------------------------------------------- 2D elliptic
def _poisson2d(dim, seed) -> Problem:
    return Problem(
        domain=Box((0.0, 0.0), (1.0, 1.0)),
        residual=lambda u, x: -laplacian(u, x) - 2 * PI ** 2 * _sin_sin(x, 1, 1),
        conditions=[Dirichlet(0.0)],
        exact=lambda x: _sin_sin(x, 1, 1),
        name="poisson2d")


HELMHOLTZ_K = 1.0


def _helmholtz2d(dim, seed) -> Problem:
    return Problem(
        domain=Box((0.0, 0.0), (1.0, 1.0)),
        residual=lambda u, x: (-laplacian(u, x) - HELMHOLTZ_K ** 2 * u(x)
                               - (17 * PI ** 2 - HELMHOLTZ_K ** 2) * _sin_sin(x, 1, 4)),
        conditions=[Dirichlet(0.0)],
        exact=lambda x: _sin_sin(x, 1, 4),
        name="helmholtz2d")


register(ProblemSpec(
    "poisson2d", "-Laplacian u = 2 pi^2 sin(pi x) sin(pi y) on the unit square, u = 0 on the boundary; "
    "exact u = sin(pi x) sin(pi y)", _poisson2d, fixed_dim=2,
    defaults={"optimizer": "gauss-newton", "steps": 300, "points": 1024, "width": 32, "depth": 2}))
register(ProblemSpec(
    "helmholtz2d", "-Laplacian u - k^2 u = f on the unit square, u = 0 on the boundary; "
    "exact u = sin(pi x) sin(4 pi y), k = 1", _helmholtz2d, fixed_dim=2,
    defaults={"optimizer": "gauss-newton", "steps": 300, "points": 1024, "width": 32, "depth": 2}))


# --------------------------------------------------------------------------- Burgers
def burgers_residual(u, x, nu):
    """``u_t + u u_x - nu u_xx`` at space-time points ``x`` ``(N, 2)`` (time last)."""
    value, first, second = axis_derivatives(u, x, (0, 1), order=2)  # one pass along x and t
    return first[:, 1] + value * first[:, 0] - nu * second[:, 0]


def _burgers_domain() -> TimeDomain:
    return TimeDomain(Box((-1.0,), (1.0,)), 0.0, 1.0)


def _burgers_reference():
    from oplearn.pinn.references import burgers_reference

    x, t, u = burgers_reference()
    return _grid_points(x, t, u)


def _grid_points(x: np.ndarray, t: np.ndarray, u: np.ndarray):
    """Points ``(nt * nx, 2)`` (x, t) and values ``(nt * nx,)`` of a space-time grid ``u (nt, nx)``."""
    tt, xx = np.meshgrid(t, x, indexing="ij")
    points = np.stack([xx.ravel(), tt.ravel()], axis=1)
    return torch.tensor(points, dtype=torch.float64), torch.tensor(u.ravel(), dtype=torch.float64)


def _burgers_conditions():
    return [Dirichlet(0.0), Initial(lambda x: -torch.sin(PI * x[:, 0]))]


BURGERS_SETTINGS = {"optimizer": "gauss-newton", "steps": 2400, "points": 2000, "width": 20, "depth": 3,
                    "resample": "rad", "resample_every": 50}


def _burgers(dim, seed) -> Problem:
    return Problem(
        domain=_burgers_domain(),
        residual=lambda u, x: burgers_residual(u, x, BURGERS_NU),
        conditions=_burgers_conditions(),
        reference=_burgers_reference,
        name="burgers")


register(ProblemSpec(
    "burgers", "u_t + u u_x = (0.01/pi) u_xx, x in [-1, 1], t in [0, 1], u0 = -sin(pi x), u(+-1) = 0; "
    "reference: oplearn.pdes.burgers (spectral, 8192 points)", _burgers, fixed_dim=2, label="1D + time",
    defaults=BURGERS_SETTINGS))


OBSERVATIONS, NOISE = 200, 0.01
# The data term's weight against the PDE's: at 1 the network bends towards the noise and the
# viscosity comes out several percent off (docs/pinn.md); at 0.1 the PDE holds the network to
# what the data say (it needs more steps: the viscosity then moves slowly).
OBSERVATION_WEIGHT = 0.1


def _burgers_viscosity(dim, seed) -> Problem:
    points, values = _burgers_reference()
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(points.shape[0], generator=gen)[:OBSERVATIONS]
    observed = values[pick]
    noise = NOISE * observed.pow(2).mean().sqrt() * torch.randn(OBSERVATIONS, generator=gen, dtype=observed.dtype)
    return Problem(
        domain=_burgers_domain(),
        residual=lambda u, x, p: burgers_residual(u, x, p["nu"]),
        conditions=_burgers_conditions(),
        reference=_burgers_reference,
        unknowns={"nu": Unknown(0.05)},
        observations=(points[pick], observed + noise),
        observation_weight=OBSERVATION_WEIGHT,
        true_unknowns={"nu": BURGERS_NU},
        name="burgers-viscosity")


register(ProblemSpec(
    "burgers-viscosity", "inverse: Burgers' viscosity (true 0.01/pi, initial guess 0.05) from 200 "
    "observations of the reference solution with 1% Gaussian noise", _burgers_viscosity, fixed_dim=2, label="1D + time",
    defaults={**BURGERS_SETTINGS, "steps": 1500}))


# --------------------------------------------------------------------------- Allen-Cahn
def _allen_cahn_reference():
    from oplearn.pinn.references import allen_cahn_reference

    x, t, u = allen_cahn_reference()
    return _grid_points(x, t, u)


def _allen_cahn_residual(u, x, eps: float, rate: float) -> torch.Tensor:
    """``u_t - eps u_xx + rate (u^3 - u)`` at space-time points ``x`` ``(N, 2)`` (time last)."""
    value, first, second = axis_derivatives(u, x, (0, 1), order=2)
    return first[:, 1] - eps * second[:, 0] + rate * (value ** 3 - value)


def _allen_cahn(dim, seed) -> Problem:
    eps, rate = ALLEN_CAHN_EPS, ALLEN_CAHN_RATE
    return Problem(
        domain=TimeDomain(Box((-1.0,), (1.0,)), 0.0, 1.0),
        residual=lambda u, x: _allen_cahn_residual(u, x, eps, rate),
        conditions=[Periodic((0,)), Initial(lambda x: x[:, 0] ** 2 * torch.cos(PI * x[:, 0]))],
        reference=_allen_cahn_reference,
        name="allen-cahn")


register(ProblemSpec(
    "allen-cahn", "u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0, x in [-1, 1] periodic, t in [0, 1], "
    "u0 = x^2 cos(pi x); reference: Fourier spectral + ETDRK4", _allen_cahn, fixed_dim=2, label="1D + time",
    defaults={"optimizer": "gauss-newton", "steps": 400, "points": 2000, "width": 32, "depth": 3,
              "causal": 1.0, "resample": "rad", "resample_every": 50}))


# --------------------------------------------------------------------------- two-body, any d
def two_body(x: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
    """``S(x) = sum_i c_i sin(phi_i)``, ``phi_i = x_i + cos(x_{i+1}) + x_{i+1} cos(x_i)``, and its
    closed-form Laplacian and ``x . grad S``, at points ``x`` ``(N, d)`` (``c`` ``(d - 1,)``)."""
    a, b = x[:, :-1], x[:, 1:]
    phi = a + torch.cos(b) + b * torch.cos(a)
    pa, pb = 1 - b * torch.sin(a), -torch.sin(b) + torch.cos(a)
    paa, pbb = -b * torch.cos(a), -torch.cos(b)
    s, co = torch.sin(phi), torch.cos(phi)
    return {"S": s @ c, "lap_S": (-s * (pa ** 2 + pb ** 2) + co * (paa + pbb)) @ c,
            "x_grad_S": (co * (a * pa + b * pb)) @ c}


def two_body_solution(x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact solution ``u = (1 - |x|^2) S(x)`` and its Laplacian
    ``(1 - |x|^2) Lap S - 4 x . grad S - 2 d S``: ``(N,)`` each."""
    parts = two_body(x, c)
    bubble = 1 - (x ** 2).sum(dim=1)
    u = bubble * parts["S"]
    lap = bubble * parts["lap_S"] - 4 * parts["x_grad_S"] - 2 * x.shape[1] * parts["S"]
    return u, lap


TWO_BODY_NONLINEARITY = {
    "poisson-twobody": ("Laplacian u = g", lambda u: torch.zeros_like(u)),
    "allen-cahn-twobody": ("Laplacian u + u - u^3 = g", lambda u: u - u ** 3),
    "sine-gordon-twobody": ("Laplacian u + sin(u) = g", torch.sin),
}
STDE_SAMPLES = 16


def _two_body_problem(name: str):
    nonlinearity = TWO_BODY_NONLINEARITY[name][1]

    def build(dim: int, seed: int) -> Problem:
        gen = torch.Generator().manual_seed(seed)
        c = torch.randn(dim - 1, generator=gen, dtype=torch.float64)
        cache: dict[torch.dtype, torch.Tensor] = {}

        def coefficients(x):
            if x.dtype not in cache:
                cache[x.dtype] = c.to(x.dtype)
            return cache[x.dtype].to(x.device)

        def source(x):
            u, lap = two_body_solution(x, coefficients(x))
            return lap + nonlinearity(u)

        def residual(u, x, p):
            estimate = laplacian(u, x, method="stde", num_samples=min(STDE_SAMPLES, dim),
                                 generator=p["generator"], estimator="sparse")
            return estimate + nonlinearity(u(x)) - source(x)

        return Problem(
            domain=Ball(dim), residual=residual, conditions=[Dirichlet(0.0)],
            exact=lambda x: two_body_solution(x, coefficients(x))[0],
            evaluation_sampling="radial", coefficients=c.numpy(), stochastic=True, name=name)

    return build


for _name, (_equation, _) in TWO_BODY_NONLINEARITY.items():
    register(ProblemSpec(
        _name, f"{_equation} on the unit ball in any --dim (default 1000), u = 0 on the sphere; exact "
        "u = (1 - |x|^2) sum_i c_i sin(x_i + cos(x_i+1) + x_i+1 cos(x_i)), c_i ~ N(0, 1) from --seed; "
        "STDE Laplacian", _two_body_problem(_name), default_dim=1000,
        defaults={"optimizer": "adam", "steps": 5000, "points": 100, "width": 128, "depth": 3,
                  "lr": 1e-3, "schedule": "cosine", "resample": "fresh", "resample_every": 1, "sampling": "radial",
                  "eval_points": 20000, "fit_output": True}))

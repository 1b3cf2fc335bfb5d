"""Shipped problems with exact solutions (each registers itself)."""

from __future__ import annotations

import math

import torch

from oplearn.pinn.domains import Box
from oplearn.pinn.problem import PinnProblem, laplacian_at, register

PI = math.pi


def _sin_sin(x: torch.Tensor, a: float, b: float) -> torch.Tensor:
    return torch.sin(a * PI * x[..., 0]) * torch.sin(b * PI * x[..., 1])


POISSON2D = register(PinnProblem(
    name="poisson2d",
    description="-Laplacian u = 2 pi^2 sin(pi x) sin(pi y) on the unit square, u = 0 on the boundary; "
                "u = sin(pi x) sin(pi y)",
    domain=Box((0.0, 0.0), (1.0, 1.0)),
    residual=lambda u, x: -laplacian_at(u, x) - 2 * PI ** 2 * _sin_sin(x, 1, 1),
    exact=lambda x: _sin_sin(x, 1, 1),
))

HELMHOLTZ_K = 1.0
HELMHOLTZ2D = register(PinnProblem(
    name="helmholtz2d",
    description="-Laplacian u - u = f on the unit square, u = 0 on the boundary; "
                "u = sin(pi x) sin(4 pi y) (k = 1)",
    domain=Box((0.0, 0.0), (1.0, 1.0)),
    residual=lambda u, x: (-laplacian_at(u, x) - HELMHOLTZ_K ** 2 * u(x)
                           - (17 * PI ** 2 - HELMHOLTZ_K ** 2) * _sin_sin(x, 1, 4)),
    exact=lambda x: _sin_sin(x, 1, 4),
))

"""The description of a PDE solved without data: domain, residual, boundary treatment, exact
solution; and the registry of shipped problems.

A problem is written per point, so that the same description serves first-order optimisers and
Gauss-Newton (whose parameter Jacobian of every residual comes from ``torch.func``)::

    def residual(u, x):            # u: (d,) -> scalar, the constrained network; x: (d,)
        return -laplacian_at(u, x) - f(x)

Dirichlet conditions are built into the network (``u = g + b(x) N(x)`` with ``b`` zero on the
boundary: a hard constraint, no penalty weight to tune).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.func import hessian

from oplearn.errors import InvalidInputError
from oplearn.pinn.domains import Box

PointFunction = Callable[[torch.Tensor], torch.Tensor]


def laplacian_at(u: PointFunction, x: torch.Tensor) -> torch.Tensor:
    """``sum_i d^2 u / dx_i^2`` of a scalar function of one point ``x`` ``(d,)`` (exact, by
    ``torch.func.hessian``; composable with ``vmap`` and ``jacrev``)."""
    return torch.diagonal(hessian(u)(x)).sum()


@dataclass(frozen=True)
class PinnProblem:
    """A PDE on ``domain`` with a hard Dirichlet constraint and a known solution.

    Attributes:
        name: registry name (``oplearn pinn NAME``).
        description: one line for ``oplearn info --pinn``.
        domain: where the PDE holds (collocation points are drawn in it).
        residual: ``(u, x) -> scalar``: the PDE's residual at one point ``x`` ``(d,)`` for a
            function ``u`` of one point.
        exact: ``x (N, d) -> (N,)``, the exact solution (evaluation and ``rel_l2``).
        boundary_value: ``x (d,) -> scalar``, the Dirichlet data ``g`` of ``u = g + b N``.
    """

    name: str
    description: str
    domain: Box
    residual: Callable[[PointFunction, torch.Tensor], torch.Tensor]
    exact: Callable[[torch.Tensor], torch.Tensor]
    boundary_value: Callable[[torch.Tensor], torch.Tensor] = lambda x: x.new_zeros(())

    @property
    def dim(self) -> int:
        return self.domain.dim

    def constrained(self, raw: PointFunction) -> PointFunction:
        """The solution ansatz ``u(x) = g(x) + b(x) raw(x)`` for a raw network of one point."""
        return lambda x: self.boundary_value(x) + self.domain.distance_factor(x) * raw(x)


_PROBLEMS: dict[str, PinnProblem] = {}


def register(problem: PinnProblem) -> PinnProblem:
    _PROBLEMS[problem.name] = problem
    return problem


def available() -> list[str]:
    """Names of the shipped physics-informed problems."""
    return sorted(_PROBLEMS)


def get(name: str) -> PinnProblem:
    if name not in _PROBLEMS:
        raise InvalidInputError(f"unknown physics-informed problem {name!r}; available: "
                                f"{', '.join(available())}")
    return _PROBLEMS[name]

"""Boundary and initial conditions of a physics-informed problem.

Each is either built into the network (``hard=True``: an ansatz ``u = offset + factor * N`` that
satisfies it for every parameter value, see :mod:`oplearn.pinn.network`) or a penalty term
``weight * mean(mismatch^2) / 2`` on ``points`` points drawn on the boundary (``hard=False``).

Values are numbers or functions of the points ``x`` ``(N, D)`` (all coordinates, time last in a
:class:`~oplearn.pinn.domains.TimeDomain`) returning ``(N,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from oplearn.errors import InvalidInputError

Value = float | Callable[[torch.Tensor], torch.Tensor]


def evaluate(value: Value, x: torch.Tensor) -> torch.Tensor:
    """``value`` at the points ``x`` ``(N, D)``: ``(N,)``."""
    if callable(value):
        out = value(x)
        if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0],):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise InvalidInputError(f"a condition's value must map (N, D) points to (N,), got {shape}")
        return out
    return torch.full((x.shape[0],), float(value), dtype=x.dtype, device=x.device)


def _check_common(kind: str, weight: float, points: int) -> None:
    if not weight > 0:
        raise InvalidInputError(f"{kind}: weight must be > 0, got {weight!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise InvalidInputError(f"{kind}: points must be a positive integer, got {points!r}")


@dataclass(frozen=True)
class Dirichlet:
    """``u = value`` on the spatial boundary (faces normal to ``axes`` for boxes; default all).
    A hard constraint needs ``value`` defined inside the domain too (any smooth extension)."""

    value: Value = 0.0
    hard: bool = True
    weight: float = 1.0
    points: int = 256
    axes: tuple[int, ...] | None = None

    def __post_init__(self):
        _check_common("Dirichlet", self.weight, self.points)


@dataclass(frozen=True)
class Neumann:
    """``du/dn = value`` (outward normal) on the spatial boundary; a penalty term."""

    value: Value = 0.0
    weight: float = 1.0
    points: int = 256
    axes: tuple[int, ...] | None = None

    def __post_init__(self):
        _check_common("Neumann", self.weight, self.points)


@dataclass(frozen=True)
class Periodic:
    """``u`` periodic along the box axes ``axes``. Hard: the network sees only ``cos`` and
    ``sin`` of those coordinates. Penalty: ``u`` and ``du/dx_a`` equal on opposite faces."""

    axes: tuple[int, ...] = (0,)
    hard: bool = True
    weight: float = 1.0
    points: int = 256

    def __post_init__(self):
        _check_common("Periodic", self.weight, self.points)
        if not self.axes:
            raise InvalidInputError("Periodic: give at least one axis")


@dataclass(frozen=True)
class Initial:
    """``u(x, t0) = value(x)`` in a time domain (``value`` sees points with time last)."""

    value: Value = 0.0
    hard: bool = True
    weight: float = 1.0
    points: int = 256

    def __post_init__(self):
        _check_common("Initial", self.weight, self.points)


Condition = Dirichlet | Neumann | Periodic | Initial

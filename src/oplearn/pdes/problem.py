"""The interface every PDE family offers to data generation, and its registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oplearn.errors import InvalidInputError

SampleFn = Callable[[np.random.Generator, int, dict[str, Any]], np.ndarray]
SolveFn = Callable[[np.ndarray, dict[str, Any]], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """A PDE family that can be sampled and solved.

    Attributes:
        name: registry name, e.g. ``"darcy"``.
        grid: ``"node"`` (Dirichlet, ``x_i = i/(s-1)``) or ``"periodic"`` (``x_i = i/s``).
        ndim: number of spatial dimensions.
        defaults: default parameters (stored as provenance with every dataset).
        sample_input: ``(rng, s, params) -> (C_in, *S)`` float64 input of one sample.
        solve_one: ``(input, params) -> (C_out, *S)`` float64 solution of one sample.
    """

    name: str
    grid: str
    ndim: int
    defaults: dict[str, Any]
    sample_input: SampleFn
    solve_one: SolveFn
    description: str = ""
    solvers: tuple[str, ...] = field(default=("auto",))

    def params(self, **overrides: Any) -> dict[str, Any]:
        """Defaults updated with ``overrides``; unknown keys raise."""
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise InvalidInputError(f"unknown parameter(s) for {self.name}: {sorted(unknown)}")
        return {**self.defaults, **overrides}


_REGISTRY: dict[str, Problem] = {}


def register(problem: Problem) -> Problem:
    _REGISTRY[problem.name] = problem
    return problem


def available() -> list[str]:
    """Names of all registered PDE families."""
    return sorted(_REGISTRY)


def get(name: str) -> Problem:
    """The registered problem called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown PDE {name!r}; available: {', '.join(available())}"
        ) from None

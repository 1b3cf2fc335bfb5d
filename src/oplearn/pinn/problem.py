"""The description of a PDE solved without data, and the registry of shipped problems.

A problem is a domain, a residual written with :mod:`oplearn.autodiff` operators on the network
``u`` (a function of points ``(N, D) -> (N,)``), boundary and initial conditions, and the exact
or a reference solution for evaluation::

    from oplearn import pinn
    from oplearn.autodiff import laplacian

    problem = pinn.Problem(
        domain=pinn.Box((0, 0), (1, 1)),
        residual=lambda u, x: -laplacian(u, x) - 1.0,        # -Laplacian u = 1
        conditions=[pinn.Dirichlet(0.0)],                      # hard: built into the network
    )

The residual is ``residual(u, x)``, or ``residual(u, x, p)`` where ``p`` maps each unknown
coefficient's name to its current value (inverse problems) and ``"generator"`` to the
``torch.Generator`` of random estimators (``laplacian(..., method="stde", generator=p["generator"])``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from oplearn.errors import InvalidInputError
from oplearn.pinn.conditions import Condition, Dirichlet, Initial, Neumann, Periodic
from oplearn.pinn.domains import Ball, Box, Domain, TimeDomain

Points = torch.Tensor  # (N, D)


@dataclass(frozen=True)
class Unknown:
    """An unknown scalar coefficient of an inverse problem, trained with the network.
    ``positive``: trained as ``exp(s)``, so it stays positive (viscosities, diffusivities)."""

    initial: float
    positive: bool = True

    def __post_init__(self):
        if self.positive and not self.initial > 0:
            raise InvalidInputError(f"a positive unknown needs a positive initial value, got {self.initial!r}")


@dataclass(frozen=True)
class Problem:
    """A PDE on ``domain`` with its conditions and known solution.

    Attributes:
        domain: :class:`Box`, :class:`Ball` or :class:`TimeDomain` (points ``(N, D)``, time last).
        residual: ``(u, x) -> (N,)`` or ``(u, x, p) -> (N,)`` (module docstring).
        conditions: :class:`Dirichlet`, :class:`Neumann`, :class:`Periodic`, :class:`Initial`.
        exact: ``x (N, D) -> (N,)``, the exact solution, for ``rel_l2``.
        reference: ``() -> (points (N, D), values (N,))``, a reference solution at fixed
            points (used when there is no ``exact``).
        unknowns: name -> :class:`Unknown`: coefficients recovered from ``observations``.
        observations: ``(points (M, D), values (M,))`` the solution is fitted to (weight
            ``observation_weight``), for inverse problems.
        true_unknowns: the true values, to report the recovery error.
        evaluation_sampling: how held-out evaluation points are drawn (``domain.sample``).
        coefficients: random coefficients of the exact solution (written to prediction.npz).
        stochastic: the residual uses a random estimator (its loss is an unbiased estimate):
            only first-order optimisers apply.
    """

    domain: Domain
    residual: Callable[..., torch.Tensor]
    conditions: Sequence[Condition] = ()
    exact: Callable[[Points], torch.Tensor] | None = None
    reference: Callable[[], tuple[torch.Tensor, torch.Tensor]] | None = None
    unknowns: dict[str, Unknown] = field(default_factory=dict)
    observations: tuple[torch.Tensor, torch.Tensor] | None = None
    observation_weight: float = 1.0
    true_unknowns: dict[str, float] = field(default_factory=dict)
    evaluation_sampling: str = "uniform"
    coefficients: np.ndarray | None = None
    stochastic: bool = False
    name: str = "custom"
    description: str = ""

    def __post_init__(self):
        check_problem(self)

    @property
    def dim(self) -> int:
        """Coordinates of a point (time included)."""
        return self.domain.dim

    @property
    def spatial_dim(self) -> int:
        return self.domain.spatial_dim

    @property
    def time_dependent(self) -> bool:
        return isinstance(self.domain, TimeDomain)

    @property
    def space(self) -> Box | Ball:
        """The spatial domain (the domain itself when there is no time)."""
        return self.domain.space if self.time_dependent else self.domain

    def residual_at(self, u, x: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
        return self.residual(u, x, p) if _takes_three(self.residual) else self.residual(u, x)


def _takes_three(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)


def check_problem(problem: Problem) -> None:
    """:class:`InvalidInputError` for a problem that cannot be solved as described."""
    if not isinstance(problem.domain, (Box, Ball, TimeDomain)):
        raise InvalidInputError(f"domain must be a Box, Ball or TimeDomain, got {type(problem.domain).__name__}")
    if not callable(problem.residual):
        raise InvalidInputError("residual must be a function (u, x) -> (N,)")
    kinds = [type(c) for c in problem.conditions]
    for c in problem.conditions:
        if not isinstance(c, (Dirichlet, Neumann, Periodic, Initial)):
            raise InvalidInputError(f"unknown condition {c!r}")
    if kinds.count(Initial) and not problem.time_dependent:
        raise InvalidInputError("an Initial condition needs a TimeDomain")
    if kinds.count(Initial) > 1 or kinds.count(Dirichlet) > 1:
        raise InvalidInputError("give at most one Initial and one Dirichlet condition")
    space = problem.space
    for c in problem.conditions:
        if isinstance(c, Periodic) and not isinstance(space, Box):
            raise InvalidInputError("Periodic conditions need a box (or a time domain over a box)")
        axes = getattr(c, "axes", None)
        if axes is not None and not all(0 <= a < space.dim for a in axes):
            raise InvalidInputError(f"{type(c).__name__}: axes {axes} out of range for {space.dim} spatial dimensions")
    if not (isinstance(problem.observation_weight, (int, float)) and problem.observation_weight > 0
            and problem.observation_weight < float("inf")):
        raise InvalidInputError(f"observation_weight must be a finite number > 0, got {problem.observation_weight!r}")
    samplings = ("uniform", "sobol") + (("radial",) if isinstance(space, Ball) else ())
    if problem.evaluation_sampling not in samplings:
        raise InvalidInputError(f"evaluation_sampling must be one of {', '.join(samplings)}, "
                                f"got {problem.evaluation_sampling!r}")
    periodic = {a for c in problem.conditions if isinstance(c, Periodic) and c.hard for a in c.axes}
    for c in problem.conditions:
        if isinstance(c, Dirichlet) and c.hard and isinstance(space, Box):
            axes = set(range(space.dim)) - periodic if c.axes is None else set(c.axes)
            if not axes:
                raise InvalidInputError("a hard Dirichlet condition needs a non-periodic axis")
            if axes & periodic:
                raise InvalidInputError(f"axes {sorted(axes & periodic)} are both periodic and Dirichlet")
    if problem.exact is None and problem.reference is None:
        raise InvalidInputError("give the exact solution (exact=) or a reference (reference=) to evaluate against")
    if problem.unknowns and problem.observations is None:
        raise InvalidInputError("unknown coefficients need observations to be recovered from")
    if problem.observations is not None:
        points, values = problem.observations
        if points.ndim != 2 or points.shape[1] != problem.dim or values.shape != (points.shape[0],):
            raise InvalidInputError(f"observations must be points (M, {problem.dim}) and values (M,), got "
                                    f"{tuple(points.shape)} and {tuple(values.shape)}")
        if not (torch.isfinite(points).all() and torch.isfinite(values).all()):
            raise InvalidInputError("observations contain NaN or infinite values")


@dataclass(frozen=True)
class ProblemSpec:
    """A shipped problem: ``build(dim, seed) -> Problem``; ``fixed_dim`` the coordinates of a
    problem that takes no ``--dim`` (else ``default_dim``); ``defaults``: its best measured
    settings (``PinnSettings`` fields), from ``benchmarks/pinn.py``."""

    name: str
    description: str
    build: Callable[[int | None, int], Problem]
    fixed_dim: int | None = None
    default_dim: int | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # e.g. "2D", "1D + time" (default: from the dimensions)

    def make(self, dim: int | None = None, seed: int = 0) -> Problem:
        if self.fixed_dim is not None and dim is not None:
            raise InvalidInputError(f"{self.name} is posed in {self.label or f'{self.fixed_dim}D'}; "
                                    "it takes no --dim")
        if self.fixed_dim is None:
            dim = self.default_dim if dim is None else dim
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
                raise InvalidInputError(f"--dim must be an integer >= 2 for {self.name}, got {dim!r}")
        return self.build(dim, seed)


_PROBLEMS: dict[str, ProblemSpec] = {}


def register(spec: ProblemSpec) -> ProblemSpec:
    _PROBLEMS[spec.name] = spec
    return spec


def available() -> list[str]:
    """Names of the shipped physics-informed problems."""
    return sorted(_PROBLEMS)


def spec(name: str) -> ProblemSpec:
    if name not in _PROBLEMS:
        raise InvalidInputError(f"unknown physics-informed problem {name!r}; available: "
                                f"{', '.join(available())}")
    return _PROBLEMS[name]


def get(name: str, dim: int | None = None, seed: int = 0) -> Problem:
    """The shipped problem ``name`` (at dimension ``dim`` for those that take one; random
    coefficients of the exact solution drawn from ``seed``)."""
    return spec(name).make(dim, seed)

"""The interface every PDE family offers to data generation, and its registry."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oplearn.errors import InvalidInputError
from oplearn.pdes.parameters import Choice, Integer, Parameter, check_parameters, defaults_of

SampleFn = Callable[[np.random.Generator, int, dict[str, Any]], np.ndarray]
SolveFn = Callable[[np.ndarray, dict[str, Any]], np.ndarray]
BatchSolveFn = Callable[[np.ndarray, dict[str, Any], str], np.ndarray]


@dataclass(frozen=True)
class Problem:
    """A PDE family that can be sampled and solved.

    Attributes:
        name: registry name, e.g. ``"darcy"``.
        grid: ``"node"`` (Dirichlet, ``x_i = i/(s-1)``) or ``"periodic"`` (``x_i = i/s``).
        ndim: number of spatial dimensions.
        parameters: every parameter with its default, type and range
            (:mod:`oplearn.pdes.parameters`); required, so that every problem checks every value
            before any work. The checked values are stored as provenance with every dataset.
        sample_input: ``(rng, s, params) -> (C_in, *S)`` float64 input of one sample.
        solve_one: ``(input, params) -> (C_out, *S)`` (or ``(T, C_out, *S)`` for time series)
            float64 solution of one sample.
        solve_batch: optional ``(inputs (B, C_in, *S), params, device) -> (B, ...)``: many samples
            at once, on ``device`` (``"cpu"``, ``"cuda"``); problems without it solve on the CPU,
            one sample at a time.
        restrict: for problems solved on a finer grid than they are stored on (``sample_input``
            then returns the fine input): ``(field, s) -> field`` at resolution ``s``, applied to
            input and solution. ``None``: inputs are sampled at the stored resolution.
        validate: ``(s, params) -> None`` raising :class:`InvalidInputError` for combinations
            of resolution and (already checked) parameters the solver cannot take; ``None`` where
            every resolution works.
        auto_solver: for problems with a ``solver`` parameter, ``(s, device, batch) -> name``:
            the solver ``"auto"`` means for ``batch`` samples solved together at ``s`` points per
            axis on ``device`` (the one rule that solving, generation and timing all follow;
            use it through :func:`choose_solver`).
        channels: ``params -> (C_in, C_out)`` of the stored data, with time steps of a time
            series counted as output channels (what a model trained on it sees).
    """

    name: str
    grid: str
    ndim: int
    parameters: dict[str, Parameter]
    sample_input: SampleFn
    solve_one: SolveFn
    description: str = ""
    solvers: tuple[str, ...] = field(default=("auto",))
    restrict: Callable[[np.ndarray, int], np.ndarray] | None = None
    validate: Callable[[int, dict[str, Any]], None] | None = None
    solve_batch: BatchSolveFn | None = None
    auto_solver: Callable[[int, str, int], str] | None = None
    channels: Callable[[dict[str, Any]], tuple[int, int]] = lambda params: (1, 1)

    def __post_init__(self) -> None:
        solver = self.parameters.get("solver")
        if solver is not None and (not isinstance(solver, Choice) or solver.choices != self.solvers
                                   or self.auto_solver is None):
            raise TypeError(f"{self.name}: a 'solver' parameter must be Choice(..., {self.solvers}) "
                            "with an auto_solver rule")

    @property
    def defaults(self) -> dict[str, Any]:
        """Default parameters."""
        return defaults_of(self.parameters)

    def sample_and_solve(self, rng: np.random.Generator, s: int, params: dict[str, Any]):
        """One ``(input, solution)`` pair at resolution ``s`` and the seconds the solve took."""
        x = self.sample_input(rng, s, params)
        start = time.perf_counter()
        y = self.solve_one(x, params)
        seconds = time.perf_counter() - start
        if self.restrict is not None:
            x, y = self.restrict(x, s), self.restrict(y, s)
        return x, y, seconds

    def sample_and_solve_many(self, rngs: list[np.random.Generator], s: int, params: dict[str, Any],
                              device: str = "cpu"):
        """``(inputs, solutions, seconds)`` for one sample per generator, batched where possible."""
        if self.solve_batch is None:
            if device != "cpu":
                raise InvalidInputError(f"{self.name} is solved on the CPU only; drop --device {device}")
            pairs = [self.sample_and_solve(rng, s, params) for rng in rngs]
            return (np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]),
                    sum(p[2] for p in pairs))
        x = np.stack([self.sample_input(rng, s, params) for rng in rngs])
        start = time.perf_counter()
        y = self.solve_batch(x, params, device)
        seconds = time.perf_counter() - start
        if self.restrict is not None:
            x, y = self.restrict(x, s), self.restrict(y, s)
        return x, y, seconds

    def params(self, **overrides: Any) -> dict[str, Any]:
        """Defaults updated with ``overrides``, each checked against its declaration; unknown
        keys and bad values raise :class:`InvalidInputError`."""
        return check_parameters(self.name, self.parameters, overrides)

    def check(self, s: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The checked parameters for data at resolution ``s``: every value against its
        declaration, then the resolution against ``validate``. Nothing is computed."""
        params = self.params(**(overrides or {}))
        s = Integer(3, low=3).check("--resolution", s)
        if self.validate is not None:
            self.validate(s, params)
        return params


def choose_solver(problem: str | Problem, s: int, device: str = "cpu", batch: int = 1) -> str | None:
    """The solver that ``solver="auto"`` means for ``batch`` samples of ``problem`` solved together
    at ``s`` points per axis on ``device``; ``None`` for problems without a choice of solver.
    Generation asks it with its chunk size, ``oplearn run``'s timing with the batch it times."""
    problem = get(problem) if isinstance(problem, str) else problem
    if problem.auto_solver is None:
        return None
    return problem.auto_solver(s, "cpu" if device == "cpu" else "cuda", batch)


def check_solver_resolution(name: str, s: int, fine: Any) -> None:
    """For periodic problems solved on a finer grid: ``fine`` is an integer >= 4 that ``s`` divides."""
    if not isinstance(fine, int) or fine < 4:
        raise InvalidInputError(f"solver_resolution must be an integer >= 4, got {fine!r}")
    if s < 4 or fine % s:
        raise InvalidInputError(f"{name} data are solved at solver_resolution={fine} points per axis and "
                                f"stored at every k-th one: the resolution must divide {fine}, got {s}")


def every_kth_point(ndim: int) -> Callable[[np.ndarray, int], np.ndarray]:
    """A ``restrict`` for periodic grids: every ``(n / s)``-th point along the last ``ndim`` axes."""

    def restrict(field: np.ndarray, s: int) -> np.ndarray:
        step = field.shape[-1] // s
        return field[(..., *(slice(None, None, step),) * ndim)]

    return restrict


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

"""Declared parameters of a PDE family: each with a default, a type and a range, checked together.

Every registered :class:`~oplearn.pdes.problem.Problem` declares all of its parameters this way,
so a bad value (``--param alpha=abc``, ``--param a_low=0``) is refused in one line before any work
or file, whatever the problem::

    PARAMETERS = {"nu": Number(0.1, low=0, low_open=True), "scheme": Choice("heun", ("heun", "euler"))}
    params = check_parameters("burgers", PARAMETERS, {"nu": 0.05})  # defaults filled in, checked
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oplearn.errors import InvalidInputError


@dataclass(frozen=True)
class Number:
    """A finite real number in ``[low, high]`` (either end open or absent); stored as ``float``."""

    default: float
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, key: str, value: Any) -> float:
        try:
            if isinstance(value, bool):
                raise TypeError
            out = float(value)  # strings too: YAML reads "1e-3" as one
        except (TypeError, ValueError):
            raise InvalidInputError(f"{key} must be a number, got {value!r}") from None
        low, high = self.low, self.high
        bad = (not math.isfinite(out)
               or (low is not None and (out <= low if self.low_open else out < low))
               or (high is not None and (out >= high if self.high_open else out > high)))
        if bad:
            raise InvalidInputError(f"{key} must be {self.rule()}, got {value!r}")
        return out

    def rule(self) -> str:
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        return " and ".join(part for part in (lo, hi) if part) or "finite"

    def invalid_examples(self) -> list[Any]:
        """Values this parameter refuses (for tests over every problem)."""
        out: list[Any] = ["abc", float("nan")]
        if self.low is not None:
            out.append(self.low if self.low_open else self.low - 1.0)
        if self.high is not None:
            out.append(self.high if self.high_open else self.high + 1.0)
        return out


@dataclass(frozen=True)
class Integer:
    """A whole number in ``[low, high]`` (``high`` optional); NumPy integers are accepted."""

    default: int
    low: int | None = None
    high: int | None = None

    def check(self, key: str, value: Any) -> int:
        try:
            if isinstance(value, bool):
                raise TypeError
            out = operator.index(value)
        except TypeError:
            raise InvalidInputError(f"{key} must be an integer, got {value!r}") from None
        if (self.low is not None and out < self.low) or (self.high is not None and out > self.high):
            raise InvalidInputError(f"{key} must be {self.rule()}, got {value!r}")
        return out

    def rule(self) -> str:
        parts = ([f">= {self.low}"] if self.low is not None else []) + (
            [f"<= {self.high}"] if self.high is not None else [])
        return "an integer " + " and ".join(parts) if parts else "an integer"

    def invalid_examples(self) -> list[Any]:
        out: list[Any] = ["abc", 2.5]
        if self.low is not None:
            out.append(self.low - 1)
        if self.high is not None:
            out.append(self.high + 1)
        return out


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    default: str
    choices: tuple[str, ...]

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise InvalidInputError(f"{key} must be {self.rule()}, got {value!r}")
        return value

    def rule(self) -> str:
        return "one of " + ", ".join(self.choices)

    def invalid_examples(self) -> list[Any]:
        return ["no-such-choice", 1.0]


Parameter = Number | Integer | Choice


def defaults_of(parameters: Mapping[str, Parameter]) -> dict[str, Any]:
    """``{name: default}`` of a parameter declaration."""
    return {key: spec.default for key, spec in parameters.items()}


def check_parameters(name: str, parameters: Mapping[str, Parameter], values: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """Defaults updated with ``values``, every one checked and normalised (``int`` -> ``float``
    for numbers). Raises :class:`InvalidInputError` naming the first unknown or bad parameter."""
    unknown = set(values) - set(parameters)
    if unknown:
        raise InvalidInputError(f"unknown parameter(s) for {name}: {', '.join(sorted(unknown))}; "
                                f"it takes {', '.join(parameters)}")
    merged = {**defaults_of(parameters), **values}
    return {key: parameters[key].check(key, value) for key, value in merged.items()}


def describe(parameters: Mapping[str, Parameter]) -> list[str]:
    """One line per parameter: ``name = default (rule)``."""
    return [f"{key} = {spec.default!r} ({spec.rule()})" for key, spec in parameters.items()]

"""Registry of neural operators by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from oplearn.errors import InvalidInputError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., nn.Module]
    description: str


_MODELS: dict[str, ModelEntry] = {}


def register(name: str, factory: Callable[..., nn.Module], description: str = "") -> None:
    """Make ``factory`` buildable as ``build(name, **kwargs)``."""
    _MODELS[name] = ModelEntry(name, factory, description)


def available() -> list[str]:
    """Registered model names."""
    return sorted(_MODELS)


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``.

    Raises:
        InvalidInputError: unknown name or an argument the model does not take.
    """
    if name not in _MODELS:
        raise InvalidInputError(f"unknown model {name!r}; available: {', '.join(available())}")
    try:
        return _MODELS[name].factory(**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"model {name!r}: {exc}") from None

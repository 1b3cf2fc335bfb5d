"""Registry of neural operators by name, with what each model claims to support."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from oplearn.errors import InvalidInputError


@dataclass(frozen=True)
class ModelEntry:
    """A registered model.

    Attributes:
        name: registry name (``--model NAME``).
        factory: builds the ``nn.Module``; takes ``in_channels``, ``out_channels``, ``ndim``,
            ``grid`` and the model's own keyword arguments, all with defaults.
        description: one line for ``oplearn info --models``.
        ndims: spatial dimensions the model runs in.
        resolution_invariant: whether the model is meant to be evaluated on grids other than its
            training grid (the zoo tests check that the error on a finer grid stays bounded).
    """

    name: str
    factory: Callable[..., nn.Module]
    description: str
    ndims: tuple[int, ...] = (1, 2)
    resolution_invariant: bool = True


_MODELS: dict[str, ModelEntry] = {}


def register(name: str, factory: Callable[..., nn.Module], description: str = "", *,
             ndims: tuple[int, ...] = (1, 2), resolution_invariant: bool = True) -> None:
    """Make ``factory`` buildable as ``build(name, **kwargs)``."""
    _MODELS[name] = ModelEntry(name, factory, description, tuple(ndims), resolution_invariant)


def available() -> list[str]:
    """Registered model names."""
    return sorted(_MODELS)


def entry(name: str) -> ModelEntry:
    """The registry entry of ``name`` (raises InvalidInputError for an unknown name)."""
    if name not in _MODELS:
        raise InvalidInputError(f"unknown model {name!r}; available: {', '.join(available())}")
    return _MODELS[name]


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``.

    Raises:
        InvalidInputError: unknown name, or an argument the model does not take.
    """
    factory = entry(name).factory
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"model {name!r}: {exc}") from None

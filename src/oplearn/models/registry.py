"""Registry of neural operators by name, with what each model claims to support."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
        extends: where the options of a factory's ``**kwargs`` go (e.g. ``local-fno`` passes
            them to :class:`~oplearn.models.fno.FNO`); read for :meth:`options`.
        aliases: the shared option vocabulary (``width``, ``n_layers``, ``modes``, ``padding``:
            the command line's ``--width/--layers/--modes/--padding``) mapped to this model's
            own names, e.g. ``{"width": "hidden"}``.
    """

    name: str
    factory: Callable[..., nn.Module]
    description: str
    ndims: tuple[int, ...] = (1, 2)
    resolution_invariant: bool = True
    extends: tuple[Callable[..., Any], ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        """The model's own options and their defaults (the data's ``in_channels``,
        ``out_channels``, ``ndim`` and ``grid`` left out); ``{}`` if they cannot be read."""
        out: dict[str, Any] = {}
        for source in (self.factory, *self.extends):
            try:
                parameters = inspect.signature(source).parameters.values()
            except (TypeError, ValueError):
                continue
            for p in parameters:
                if (p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in DATA_OPTIONS
                        and p.name not in out and p.name != "self"):
                    out[p.name] = None if p.default is inspect.Parameter.empty else p.default
        return out

    def takes_any_option(self) -> bool:
        """Whether the whole chain of factories ends in ``**kwargs`` (options then unchecked)."""
        chain = (self.factory, *self.extends)
        try:
            last = inspect.signature(chain[-1]).parameters.values()
        except (TypeError, ValueError):
            return True
        return any(p.kind is p.VAR_KEYWORD for p in last)

    def resolve(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``kwargs`` with shared names mapped to this model's own, each checked against
        :meth:`options`; an unknown option raises :class:`InvalidInputError` listing them."""
        out: dict[str, Any] = {}
        for key, value in kwargs.items():
            own = self.aliases.get(key, key)
            if own in out:
                raise InvalidInputError(f"model {self.name!r}: {key!r} and {own!r} are the same option; give one")
            out[own] = value
        options = self.options()
        unknown = [key for key in out if key not in options and key not in DATA_OPTIONS]
        if unknown and not self.takes_any_option():
            listing = ", ".join(f"{k}={v!r}" for k, v in options.items())
            raise InvalidInputError(f"model {self.name!r} has no option {unknown[0]!r}; its options: "
                                    f"{listing} (`oplearn info --models {self.name}`)")
        return out


DATA_OPTIONS = ("in_channels", "out_channels", "ndim", "grid")  # set from the data, not by users
# The shared option vocabulary and the command-line flag of each (ModelEntry.aliases maps them).
SHARED_OPTIONS = {"width": "--width", "n_layers": "--layers", "modes": "--modes", "padding": "--padding"}

_MODELS: dict[str, ModelEntry] = {}


def register(name: str, factory: Callable[..., nn.Module], description: str = "", *,
             ndims: tuple[int, ...] = (1, 2), resolution_invariant: bool = True,
             extends: tuple[Callable[..., Any], ...] = (), aliases: Mapping[str, str] | None = None
             ) -> None:
    """Make ``factory`` buildable as ``build(name, **kwargs)`` (see :class:`ModelEntry`)."""
    _MODELS[name] = ModelEntry(name, factory, description, tuple(ndims), resolution_invariant,
                               tuple(extends), dict(aliases or {}))


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

    Shared option names (``width``, ``n_layers``, ...) are mapped to the model's own
    (:attr:`ModelEntry.aliases`).

    Raises:
        InvalidInputError: unknown name, or an argument the model does not take (the message
            lists the model's options).
    """
    spec = entry(name)
    kwargs = spec.resolve(kwargs)
    try:
        return spec.factory(**kwargs)
    except (TypeError, ValueError, RuntimeError, ArithmeticError) as exc:  # a bad value, e.g. width=-1
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"model {name!r} cannot be built with {kwargs}: {message}") from None

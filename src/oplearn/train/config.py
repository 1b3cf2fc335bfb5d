"""Training configuration: defaults that train well, validated, loadable from YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from oplearn.errors import InvalidInputError

SCHEDULERS = ("cosine", "step", "none")


@dataclass
class TrainConfig:
    """Everything that determines a training run besides the data.

    Attributes:
        model: registry name (``oplearn.models.available()``).
        model_kwargs: options of that model (e.g. ``modes``, ``width``, ``n_layers``).
        epochs, batch_size: passes over the training set and samples per step.
        lr, weight_decay: AdamW's learning rate and decoupled weight decay.
        scheduler: ``"cosine"`` (to zero over ``epochs``), ``"step"`` (``gamma`` every
            ``step_size`` epochs) or ``"none"``.
        loss: ``"l2"`` or ``"h1"`` (relative, in physical units).
        seed: initialisation and shuffling seed.
        pushforward: for windows of trajectories (:func:`oplearn.train.rollout.windows`), the
            fraction of training windows per epoch whose newest snapshots are the model's own
            prediction from the window before, without gradient through it (the pushforward trick
            of Brandstetter et al. 2022); 0 is teacher forcing.
    """

    model: str = "fno"
    model_kwargs: dict[str, Any] = field(default_factory=lambda: {"modes": 12, "width": 32})
    epochs: int = 50
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "cosine"
    step_size: int = 100
    gamma: float = 0.5
    loss: str = "l2"
    seed: int = 0
    pushforward: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise InvalidInputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.scheduler not in SCHEDULERS:
            raise InvalidInputError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.loss not in ("l2", "h1"):
            raise InvalidInputError(f"loss must be 'l2' or 'h1', got {self.loss!r}")
        if isinstance(self.pushforward, bool) or not isinstance(self.pushforward, (int, float)) \
                or not 0 <= self.pushforward <= 1:
            raise InvalidInputError(f"pushforward must be a fraction from 0 to 1, got {self.pushforward!r}")
        if not isinstance(self.model_kwargs, dict):
            raise InvalidInputError("model_kwargs must be a mapping")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InvalidInputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; :class:`InvalidInputError` if missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such config file")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InvalidInputError(f"{path}: expected a mapping of options")
    return values

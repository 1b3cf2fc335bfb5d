"""The main job's rollout mode (``oplearn run PDE --preset rollout``): a time series generated
as usual, cut into windows of ``history`` snapshots followed by the next ``bundle``, a model
trained on them, rolled out over the test trajectories, and timed against the solver over the
same stretch of time.

The preset's ``rollout`` mapping: ``history``, ``bundle`` (default 1), ``initial`` (default
true: the trajectory starts with the input ``w0``; false: with the first stored snapshot, as the
FNO paper's Navier-Stokes files do) and ``space_time`` (default false; true: a model with time as
one more axis predicts all steps in one pass, the FNO paper's FNO-3D,
:func:`oplearn.train.rollout.space_time`). The pushforward trick is the ``train`` mapping's
``pushforward`` (:class:`oplearn.train.config.TrainConfig`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from oplearn.data.dataset import FieldDataset
from oplearn.data.trajectories import read_trajectories
from oplearn.errors import InvalidInputError
from oplearn.pdes.parameters import Integer
from oplearn.train.rollout import rollout, space_time, training_pairs
from oplearn.train.surrogate import Surrogate

KEYS = {"history", "bundle", "initial", "space_time"}
SPACE_TIME_PUSHFORWARD = ("pushforward trains a model that steps forward; a space-time model predicts every "
                          "step at once: drop one of them")


@dataclass(frozen=True)
class RolloutSettings:
    """The checked ``rollout`` mapping of a preset; ``steps``: snapshots per trajectory."""

    history: int
    bundle: int
    initial: bool
    steps: int
    space_time: bool = False


def rollout_settings(values: Any, params: dict[str, Any], channels: tuple[int, int]) -> RolloutSettings:
    """Check a preset's ``rollout`` mapping against the problem's time series; raises
    :class:`InvalidInputError`."""
    if not isinstance(values, dict) or set(values) - KEYS:
        raise InvalidInputError(f"preset value rollout must be a mapping of {', '.join(sorted(KEYS))}, got {values!r}")
    snapshots = params.get("snapshots")
    if not isinstance(snapshots, int) or channels[1] != snapshots * channels[0]:
        raise InvalidInputError("a rollout preset needs a problem whose data are time series (a 'snapshots' parameter)")
    history = Integer(1, low=1).check("rollout history", values.get("history"))
    bundle = Integer(1, low=1).check("rollout bundle", values.get("bundle", 1))
    initial, spacetime = values.get("initial", True), values.get("space_time", False)
    for key, value in (("initial", initial), ("space_time", spacetime)):
        if not isinstance(value, bool):
            raise InvalidInputError(f"rollout {key} must be true or false, got {value!r}")
    if spacetime and bundle != 1:
        raise InvalidInputError("a space-time model predicts every step at once: leave out rollout bundle")
    steps = snapshots + int(initial)
    if history + bundle > steps:
        raise InvalidInputError(f"trajectories of {steps} snapshots cannot give {history} input and {bundle} output steps")
    return RolloutSettings(history, bundle, initial, steps, spacetime)


def model_channels(settings: RolloutSettings, channels: tuple[int, int]) -> tuple[int, int]:
    """``(C_in, C_out)`` of the stepping model: ``history`` and ``bundle`` snapshots (a space-time
    model: ``history`` snapshots and one, along its time axis)."""
    return settings.history * channels[0], (1 if settings.space_time else settings.bundle) * channels[0]


def trajectories(path: Path, settings: RolloutSettings, subsample: int) -> tuple[torch.Tensor, str]:
    """The file's trajectories ``(N, T, C, *S)`` at every ``subsample``-th point, and their grid."""
    fields, grid, _ = read_trajectories(path, 1, subsample)
    return (fields if settings.initial else fields[:, 1:]), grid


def rollout_data(train_file: Path, test_file: Path, settings: RolloutSettings, train_subsample: int,
                 test_subsamples: list[int], pde: str) -> tuple[FieldDataset, dict[str, FieldDataset], torch.Tensor]:
    """Training windows, one-step test windows per test resolution, and the test trajectories at
    the training resolution (rolled out after training)."""
    train_traj, grid = trajectories(train_file, settings, train_subsample)
    provenance = {"pde": pde, "grid": grid, "initial": settings.initial}

    def pairs(traj: torch.Tensor) -> FieldDataset:
        return training_pairs(traj, settings.history, settings.bundle, settings.space_time,
                              {**provenance, "resolution": int(traj.shape[-1])})

    train_windows = pairs(train_traj)
    tests, rolled = {}, None
    for r in test_subsamples:
        traj, _ = trajectories(test_file, settings, r)
        tests[str(traj.shape[-1])] = pairs(traj)
        if r == train_subsample:
            rolled = traj
    if rolled is None:
        rolled, _ = trajectories(test_file, settings, train_subsample)
    return train_windows, tests, rolled


def time_rollout(surrogate: Surrogate, trajectories: torch.Tensor, settings: RolloutSettings, batch: int,
                 repeats: int = 3) -> float:
    """Seconds per trajectory of the model's rollout from ``history`` snapshots to the end, in
    batches of ``batch`` trajectories (the test trajectories repeated if there are fewer), warm."""
    steps = trajectories.shape[1] - settings.history
    start = trajectories.repeat(-(-batch // len(trajectories)), *(1,) * (trajectories.ndim - 1))[:batch]
    if settings.space_time:  # one pass; the inputs are made once, outside the clock
        inputs = space_time(start, settings.history).inputs

        def once():
            return surrogate.predict(inputs, batch_size=batch)
    else:
        start = start[:, :settings.history]

        def once():
            return rollout(lambda z: surrogate.predict(z, batch_size=batch), start, steps, settings.bundle)
    once()
    tick = time.perf_counter()
    for _ in range(repeats):
        once()
    return (time.perf_counter() - tick) / (repeats * batch)


def solver_span(params: dict[str, Any], settings: RolloutSettings) -> dict[str, Any]:
    """The solver's parameters for the stretch of time a rollout predicts: ``T - history``
    snapshots at the stored spacing ``t / snapshots``."""
    predicted = settings.steps - settings.history
    return {**params, "t": params["t"] / params["snapshots"] * predicted, "snapshots": predicted}

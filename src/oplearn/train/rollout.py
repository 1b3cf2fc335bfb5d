"""Autoregressive operators: windows of a trajectory as training pairs, and rollouts.

A model that steps forward maps the ``history`` latest snapshots, stacked as channels, to the next
``bundle`` snapshots (temporal bundling, Brandstetter et al. 2022). :func:`windows` cuts every
trajectory into such pairs, a :class:`~oplearn.data.dataset.FieldDataset` that
:func:`oplearn.train.train` trains any grid model on (teacher forcing: every input is true data).
:func:`rollout` then runs the model on its own predictions to the end of a trajectory, and
:func:`rollout_errors` gives the relative L2 error at every predicted step.

Layouts: trajectories ``(N, T, C, *S)``; window inputs ``(W, history * C, *S)`` and outputs
``(W, bundle * C, *S)``, time-major (the snapshots' channels one after the other). The space-time
form (:func:`space_time`, the FNO paper's FNO-3D) makes time one more axis instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from oplearn.data.dataset import FieldDataset
from oplearn.errors import InvalidInputError


def _check(trajectories: torch.Tensor, history: int, bundle: int) -> None:
    if trajectories.ndim < 4:
        raise InvalidInputError(f"expected trajectories (N, T, C, *S), got shape {tuple(trajectories.shape)}")
    if history < 1 or bundle < 1:
        raise InvalidInputError(f"history and bundle must be >= 1, got {history} and {bundle}")
    if trajectories.shape[1] < history + bundle:
        raise InvalidInputError(f"trajectories of {trajectories.shape[1]} steps cannot give {history} "
                                f"input and {bundle} output steps")


def windows(trajectories: torch.Tensor, history: int, bundle: int = 1, stride: int = 1,
            provenance: dict[str, Any] | None = None) -> FieldDataset:
    """Every window of ``history`` snapshots followed by ``bundle`` more, starting every
    ``stride`` steps, of every trajectory ``(N, T, C, *S)``: ``W = N * ceil((T - history - bundle + 1) / stride)``
    pairs (module notes)."""
    _check(trajectories, history, bundle)
    n, steps = trajectories.shape[:2]
    starts = range(0, steps - history - bundle + 1, stride)
    inputs = torch.stack([trajectories[:, s:s + history].flatten(1, 2) for s in starts], dim=1).flatten(0, 1)
    outputs = torch.stack([trajectories[:, s + history:s + history + bundle].flatten(1, 2) for s in starts],
                          dim=1).flatten(0, 1)
    record = {**(provenance or {}), "rollout": {"history": history, "bundle": bundle, "stride": stride,
                                                "windows_per_trajectory": len(starts)}}
    return FieldDataset(inputs.float().contiguous(), outputs.float().contiguous(), record)


def space_time(trajectories: torch.Tensor, history: int, provenance: dict[str, Any] | None = None) -> FieldDataset:
    """The space-time form of trajectories ``(N, T, C, *S)`` (the FNO paper's FNO-3D): time is one
    more axis, the first. Inputs ``(N, history * C, T - history, *S)``: the ``history`` given
    snapshots as channels, the same at every predicted time; outputs ``(N, C, T - history, *S)``:
    the predicted snapshots. A model of ``len(S) + 1`` dimensions maps one to the other in one
    pass (its grid embedding gives it the time coordinate)."""
    _check(trajectories, history, 1)
    steps = trajectories.shape[1] - history
    given = trajectories[:, :history].flatten(1, 2)
    inputs = given.unsqueeze(2).expand(given.shape[0], given.shape[1], steps, *given.shape[2:])
    outputs = trajectories[:, history:].transpose(1, 2)
    record = {**(provenance or {}), "space_time": {"history": history, "steps": steps}}
    return FieldDataset(inputs.float().contiguous(), outputs.float().contiguous(), record)


def training_pairs(trajectories: torch.Tensor, history: int, bundle: int = 1, spacetime: bool = False,
                   provenance: dict[str, Any] | None = None) -> FieldDataset:
    """The pairs a model learns from trajectories ``(N, T, C, *S)``: :func:`space_time` with
    ``spacetime`` (which predicts every step at once, no bundle), else :func:`windows`."""
    if spacetime:
        return space_time(trajectories, history, provenance=provenance)
    return windows(trajectories, history, bundle, provenance=provenance)


def from_space_time(predicted: torch.Tensor) -> torch.Tensor:
    """A space-time prediction ``(N, C, T', *S)`` as a rollout ``(N, T', C, *S)``."""
    return predicted.transpose(1, 2)


def pushforward_sources(provenance: dict[str, Any], count: int) -> torch.Tensor:
    """For each of the ``count`` windows that :func:`windows` cut, the window whose predicted
    bundle is its newest ``bundle`` snapshots (the one starting ``bundle`` steps earlier in the
    same trajectory), or -1 where there is none: ``(W,)`` long. Raises
    :class:`InvalidInputError` for data that are not such windows, or windows whose stride does
    not divide the bundle (then no window starts where the prediction would)."""
    layout = provenance.get("rollout") if isinstance(provenance, dict) else None
    if not isinstance(layout, dict) or "windows_per_trajectory" not in layout:
        raise InvalidInputError("pushforward trains on windows of trajectories: use --rollout "
                                "(oplearn.train.rollout.windows)")
    bundle, stride, per = layout["bundle"], layout["stride"], layout["windows_per_trajectory"]
    if bundle % stride:
        raise InvalidInputError(f"pushforward needs windows whose stride ({stride}) divides the bundle ({bundle})")
    if count % per:
        raise InvalidInputError(f"{count} windows are not whole trajectories of {per} windows each")
    shift = bundle // stride
    index = torch.arange(count)
    return torch.where(index % per >= shift, index - shift, torch.full_like(index, -1))


@torch.no_grad()
def push_forward(step: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, earlier: torch.Tensor
                 ) -> torch.Tensor:
    """``inputs`` ``(B, history * C, *S)`` with their newest snapshots replaced by ``step``'s
    prediction ``(B, bundle * C, *S)`` from the ``earlier`` windows ``(B, history * C, *S)``
    (all of them if ``history < bundle``); no gradient flows through the prediction."""
    predicted = step(earlier)
    n = min(inputs.shape[1], predicted.shape[1])
    return torch.cat([inputs[:, :inputs.shape[1] - n], predicted[:, predicted.shape[1] - n:]], dim=1)


@torch.no_grad()
def rollout(step: Callable[[torch.Tensor], torch.Tensor], initial: torch.Tensor, steps: int,
            bundle: int = 1) -> torch.Tensor:
    """Roll ``step`` forward from ``initial`` (N, history, C, *S) for ``steps`` snapshots.

    ``step`` maps ``(N, history * C, *S)`` to ``(N, bundle * C, *S)``: a model in evaluation
    mode, or a :class:`~oplearn.train.surrogate.Surrogate`'s ``predict``. Returns ``(N, steps, C, *S)``,
    the predictions only; a last bundle reaching past ``steps`` is cut.
    """
    if initial.ndim < 4 or steps < 1:
        raise InvalidInputError(f"need initial (N, history, C, *S) and steps >= 1; got {tuple(initial.shape)}, {steps}")
    history, channels = initial.shape[1], initial.shape[2]
    window, made = initial, []
    total = 0
    while total < steps:
        out = step(window.flatten(1, 2))
        if out.shape[0] != window.shape[0] or out.shape[1] != bundle * channels or out.shape[2:] != window.shape[3:]:
            raise InvalidInputError(f"the step returned {tuple(out.shape)}; a bundle of {bundle} snapshots of "
                                    f"{channels} channel(s) is ({window.shape[0]}, {bundle * channels}, "
                                    f"{', '.join(map(str, window.shape[3:]))})")
        nxt = out.unflatten(1, (bundle, channels))
        made.append(nxt)
        total += bundle
        window = torch.cat([window, nxt], dim=1)[:, -history:]
    return torch.cat(made, dim=1)[:, :steps]


def rollout_errors(predicted: torch.Tensor, truth: torch.Tensor) -> dict[str, Any]:
    """Relative L2 errors of a rollout ``(N, T, C, *S)``: at every step (mean over samples), over
    all predicted steps together (``rollout_rel_l2``, the FNO paper's metric: per sample, the
    norm over space, time and channels) and at the last step."""
    if predicted.shape != truth.shape:
        raise InvalidInputError(f"rollout {tuple(predicted.shape)} and truth {tuple(truth.shape)} differ")
    e, y = (predicted - truth).flatten(2), truth.flatten(2)  # (N, T, C * points)
    per_step = (e.norm(dim=-1) / y.norm(dim=-1)).mean(0)
    whole = (e.flatten(1).norm(dim=-1) / y.flatten(1).norm(dim=-1)).mean()
    return {"per_step_rel_l2": per_step.tolist(), "rollout_rel_l2": float(whole),
            "final_step_rel_l2": float(per_step[-1])}


def evaluate_rollouts(step: Callable[[torch.Tensor], torch.Tensor], trajectories: torch.Tensor, history: int,
                      bundle: int = 1, spacetime: bool = False) -> tuple[dict[str, Any], torch.Tensor]:
    """Roll ``step`` out over ``trajectories`` (N, T, C, *S) from their first ``history`` snapshots
    to the end: :func:`rollout_errors` with PDEBench's metrics of the predicted steps
    (``pdebench``, 1-D and 2-D fields), and the rollout (N, T - history, C, *S). With
    ``spacetime``, ``step`` is a space-time model (:func:`space_time`) that predicts every step
    in one pass."""
    from oplearn.train.pdebench_metrics import pdebench_metrics

    _check(trajectories, history, bundle)
    truth = trajectories[:, history:]
    if spacetime:
        predicted = from_space_time(step(space_time(trajectories, history).inputs)).to(truth.dtype)
    else:
        predicted = rollout(step, trajectories[:, :history], truth.shape[1], bundle).to(truth.dtype)
    report = rollout_errors(predicted, truth)
    if truth.ndim in (4, 5):
        report["pdebench"] = pdebench_metrics(predicted, truth)
    return report, predicted

"""A trained run rolled out over test trajectories: errors in the run's report and its figure
(``oplearn train --rollout`` and ``oplearn run PDE --preset rollout``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from oplearn.train.figures import plot_rollout
from oplearn.train.rollout import evaluate_rollouts
from oplearn.train.surrogate import Surrogate


def roll_out_run(surrogate: Surrogate, trajectories: torch.Tensor, history: int, bundle: int,
                 figure: str | Path | None = None, spacetime: bool = False) -> dict[str, Any]:
    """Roll ``surrogate`` out over ``trajectories`` ``(N, T, C, *S)`` from their first ``history``
    snapshots (``spacetime``: all steps in one pass of a space-time model): the report's
    ``rollout`` section (per-step, whole and last-step relative L2, PDEBench's metrics) and, with
    ``figure``, the error along the rollout and one sample's snapshots drawn there."""
    result, predicted = evaluate_rollouts(surrogate.predict, trajectories, history, bundle, spacetime)
    if figure is not None:
        plot_rollout(result["per_step_rel_l2"], trajectories[0, history:], predicted[0], history, figure)
    return {"history": history, "bundle": bundle, "space_time": spacetime,
            "test_trajectories": len(trajectories), **result}

"""Figures of a physics-informed run: the loss curve, and the solution and its error for
problems on two coordinates (2D, or 1D and time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _save(fig, path: Path) -> None:
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)


def plot_loss(path: Path, history: list[dict[str, Any]], title: str) -> None:
    """``loss`` against ``step`` (log scale) from ``metrics.jsonl`` rows."""
    steps = [row["step"] for row in history]
    loss = [row["loss"] for row in history]
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.semilogy(steps, loss)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"{title}: training loss")
    ax.grid(True, which="both", alpha=0.3)
    _save(fig, path)


def plot_solution(path: Path, points: np.ndarray, u: np.ndarray, reference: np.ndarray, title: str,
                  time_dependent: bool = False) -> None:
    """The network, the reference and ``|error|`` at the evaluation points ``(N, 2)``."""
    fig = Figure(figsize=(14, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    labels = ("t", "x") if time_dependent else ("x", "y")
    # a space-time field is drawn with time across, as in the PINN literature
    horizontal, vertical = (points[:, 1], points[:, 0]) if time_dependent else (points[:, 0], points[:, 1])
    for ax, values, name in ((axes[0], u, "network"), (axes[1], reference, "reference"),
                             (axes[2], np.abs(u - reference), "|error|")):
        im = ax.tricontourf(horizontal, vertical, values, levels=40)
        ax.set_title(f"{title}: {name}")
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        fig.colorbar(im, ax=ax)
    _save(fig, path)

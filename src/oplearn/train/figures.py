"""PNG figures of a run: test predictions and learning curves (matplotlib, no global state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure


def plot_predictions(inputs: torch.Tensor, truth: torch.Tensor, pred: torch.Tensor,
                     path: str | Path, title: str = "") -> None:
    """Rows of input, truth, prediction and absolute error for ``(n, C, H, W)`` samples
    (first input channel, last output channel: the final time of a time series). 1D fields are
    drawn as curves; 3D fields as their slice at the last index of the first axis (the final time
    of a space-time model, :func:`oplearn.train.rollout.space_time`)."""
    while inputs.ndim > 4:
        inputs, truth, pred = inputs[:, :, -1], truth[:, :, -1], pred[:, :, -1]
        title = f"{title} (slice at the last index of the first axis)".strip()
    n = inputs.shape[0]
    truth, pred = truth[:, -1:], pred[:, -1:]
    if inputs.ndim == 3:
        fig = Figure(figsize=(8, 2.2 * n), layout="constrained")
        axes = fig.subplots(n, 2, squeeze=False)
        for i in range(n):
            axes[i, 0].plot(inputs[i, 0].numpy())
            axes[i, 0].set_title("input")
            axes[i, 1].plot(truth[i, 0].numpy(), label="truth")
            axes[i, 1].plot(pred[i, 0].numpy(), "--", label="prediction")
            axes[i, 1].legend()
    else:
        fig = Figure(figsize=(13, 3 * n), layout="constrained")
        axes = fig.subplots(n, 4, squeeze=False)
        vmin, vmax = float(truth.min()), float(truth.max())
        label = "truth" if truth.shape[1] == 1 else "truth (last output channel)"
        for i in range(n):
            panels = [
                ("input", inputs[i, 0], "viridis", None, None),
                (label, truth[i, 0], "magma", vmin, vmax),
                ("prediction", pred[i, 0], "magma", vmin, vmax),
                ("|error|", (pred[i, 0] - truth[i, 0]).abs(), "Reds", None, None),
            ]
            for ax, (name, field, cmap, lo, hi) in zip(axes[i], panels, strict=False):
                image = ax.imshow(field.numpy().T, origin="lower", extent=(0, 1, 0, 1),
                                  cmap=cmap, vmin=lo, vmax=hi)
                ax.set_title(name)
                ax.set_xticks([])
                ax.set_yticks([])
                fig.colorbar(image, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=90)


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> None:
    """Training loss and test relative L2 (one line per test set) against epoch, log scale."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    epochs = [row["epoch"] for row in history]
    ax.semilogy(epochs, [row["train_loss"] for row in history], label="train loss")
    for key in history[0]["test_rel_l2"] if history else []:
        ax.semilogy(epochs, [row["test_rel_l2"][key] for row in history], label=f"test rel. L2, s={key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("relative error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=90)


def plot_rollout(per_step: list[float], truth: torch.Tensor, pred: torch.Tensor, first_step: int,
                 path: str | Path) -> None:
    """Relative L2 error against the step of a rollout, and truth against prediction for one
    sample ``(T, C, X)`` (1-D: space-time images) or ``(T, C, H, W)`` (2-D: four snapshots)."""
    fig = Figure(figsize=(12, 7), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.3])
    ax = top.subplots()
    steps = list(range(first_step, first_step + len(per_step)))
    ax.semilogy(steps, per_step, marker=".")
    ax.set_xlabel("time step")
    ax.set_ylabel("relative L2 error (mean over samples)")
    ax.set_title("error along the rollout")
    if truth.ndim == 3:  # (T, C, X): time on the vertical axis
        axes = bottom.subplots(1, 3)
        for axis, field, title in zip(axes, (truth[:, 0], pred[:, 0], (pred - truth)[:, 0].abs()),
                                      ("truth", "prediction", "|error|"), strict=True):
            image = axis.imshow(field.numpy(), aspect="auto", origin="lower",
                                extent=(0, field.shape[1], first_step, first_step + field.shape[0]))
            axis.set_title(title)
            axis.set_xlabel("x (grid points)")
            bottom.colorbar(image, ax=axis)
        axes[0].set_ylabel("time step")
    else:
        picks = sorted({0, truth.shape[0] // 3, 2 * truth.shape[0] // 3, truth.shape[0] - 1})
        axes = bottom.subplots(2, len(picks), squeeze=False)
        for j, t in enumerate(picks):
            for i, (field, label) in enumerate(((truth[t, 0], "truth"), (pred[t, 0], "prediction"))):
                axes[i, j].imshow(field.numpy(), origin="lower")
                axes[i, j].set_title(f"{label}, step {first_step + t}")
                axes[i, j].set_axis_off()
    fig.savefig(path, dpi=110)

"""Train any registered model on any field dataset, with exact resume and per-epoch evaluation.

A run directory holds ``checkpoint.pt`` (model, optimiser, scheduler, normalisers and RNG states,
written atomically after every epoch), ``metrics.jsonl`` (one line per epoch), ``report.json``
and PNG figures. ``resume=True`` continues from the checkpoint to the same result, bit for bit,
as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from oplearn import models
from oplearn.data.dataset import FieldDataset
from oplearn.errors import DataFileError, InvalidInputError, TrainingDivergedError
from oplearn.train.config import TrainConfig
from oplearn.train.figures import plot_curves, plot_predictions
from oplearn.train.io import save_json, save_jsonl, save_torch
from oplearn.train.losses import LOSSES, relative_l2
from oplearn.train.normalizer import ChannelNormalizer

CHECKPOINT = "checkpoint.pt"
DIVERGENCE_FACTOR = 1e3  # an epoch loss this many times the best so far counts as divergence


@dataclass
class Surrogate:
    """A trained model with its normalisers: maps physical inputs to physical outputs."""

    model: nn.Module
    normalizer_in: ChannelNormalizer
    normalizer_out: ChannelNormalizer

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """``(N, C_in, *S) -> (N, C_out, *S)`` in physical units, in evaluation mode, computed
        on the model's device and returned on the inputs' device."""
        self.model.eval()
        device = self.normalizer_in.mean.device
        outs = [self.normalizer_out.decode(self.model(self.normalizer_in.encode(x.to(device))))
                for x in inputs.split(batch_size)]
        return torch.cat(outs).to(inputs.device)

    def to(self, device: torch.device | str) -> Surrogate:
        for module in (self.model, self.normalizer_in, self.normalizer_out):
            module.to(device)
        return self


def _build(config: TrainConfig, data_spec: dict[str, Any]) -> nn.Module:
    kwargs = dict(config.model_kwargs)
    kwargs.update(in_channels=data_spec["in_channels"], out_channels=data_spec["out_channels"],
                  ndim=data_spec["ndim"], grid=data_spec["grid"])
    return models.build(config.model, **kwargs)


def _data_spec(data: FieldDataset) -> dict[str, Any]:
    return {"in_channels": data.inputs.shape[1], "out_channels": data.outputs.shape[1],
            "ndim": data.inputs.ndim - 2, "grid": data.grid, "resolution": data.resolution}


def _schedule(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def evaluate_rel_l2(surrogate: Surrogate, data: FieldDataset) -> float:
    """Mean relative L2 error of ``surrogate`` on ``data`` (physical units)."""
    pred = surrogate.predict(data.inputs)
    return float(relative_l2(pred, data.outputs))


def load_surrogate(run_dir: str | Path) -> tuple[Surrogate, dict[str, Any]]:
    """The model of a run directory and its checkpoint record."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise DataFileError(f"{run_dir}: no {CHECKPOINT} (not a training run directory)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        config = TrainConfig.from_dict(ckpt["config"])
        spec = ckpt["data_spec"]
        model = _build(config, spec)
        model.load_state_dict(ckpt["model"])
        norm_in = ChannelNormalizer(spec["in_channels"], spec["ndim"])
        norm_in.load_state_dict(ckpt["normalizer_in"])
        norm_out = ChannelNormalizer(spec["out_channels"], spec["ndim"])
        norm_out.load_state_dict(ckpt["normalizer_out"])
    except (KeyError, RuntimeError, EOFError, OSError) as exc:
        raise DataFileError(f"{path}: corrupt checkpoint ({type(exc).__name__})") from None
    return Surrogate(model, norm_in, norm_out), ckpt


def _check_test_sets(train: FieldDataset, tests: dict[str, FieldDataset]) -> None:
    spec = _data_spec(train)
    for label, data in tests.items():
        other = _data_spec(data)
        for key in ("in_channels", "out_channels", "ndim"):
            if other[key] != spec[key]:
                raise InvalidInputError(
                    f"test set {label}: {key} = {other[key]} but training data has {spec[key]}"
                )


def train(
    config: TrainConfig,
    train_data: FieldDataset,
    test_sets: dict[str, FieldDataset],
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    figures: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Train ``config.model`` on ``train_data``; evaluate on every test set each epoch.

    Args:
        config: model, optimiser and schedule.
        train_data: ``(N, C_in, *S)`` inputs and ``(N, C_out, *S)`` outputs.
        test_sets: label (usually the resolution) -> dataset; evaluated after every epoch.
        out_dir: run directory (created); holds checkpoint, metrics, report and figures.
        resume: continue from ``out_dir/checkpoint.pt`` (its configuration wins).
        device: where to train (``"cpu"``, ``"cuda"``, ``"auto"``); data move there once.
    Returns:
        The report, also written to ``out_dir/report.json``.
    Raises:
        TrainingDivergedError: the loss became non-finite or exploded; the last good
            checkpoint stays in ``out_dir``.
    """
    out_dir = Path(out_dir)
    _check_test_sets(train_data, test_sets)
    device = resolve_device(device)
    spec = _data_spec(train_data)
    ckpt = None
    if resume:
        if not (out_dir / CHECKPOINT).is_file():
            raise DataFileError(f"{out_dir}: no {CHECKPOINT} to resume from")
        _, ckpt = load_surrogate(out_dir)
        config = TrainConfig.from_dict(ckpt["config"])
        if ckpt["data_spec"] != spec or ckpt.get("train_samples", len(train_data)) != len(train_data):
            raise InvalidInputError(
                f"{out_dir} was trained on other data ({ckpt['data_spec']}); resume needs the same data"
            )

    torch.manual_seed(config.seed)
    model = _build(config, spec)
    norm_in = ChannelNormalizer.fit(train_data.inputs)
    norm_out = ChannelNormalizer.fit(train_data.outputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = _schedule(config, optimizer)
    shuffle = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    start_epoch, elapsed = 0, 0.0
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        norm_in.load_state_dict(ckpt["normalizer_in"])
        norm_out.load_state_dict(ckpt["normalizer_out"])
        scheduler.load_state_dict(ckpt["scheduler"])
        shuffle.set_state(ckpt["rng"]["shuffle"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        history, start_epoch, elapsed = ckpt["history"], ckpt["epoch"], ckpt["train_seconds"]
    surrogate = Surrogate(model, norm_in, norm_out).to(device)
    if ckpt is not None:  # optimiser state follows the parameters' device
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError:  # e.g. a model whose parameters changed since (MgNO's coarsest kernel)
            raise DataFileError(f"{out_dir}: the checkpoint's optimiser state does not match this "
                                "version's model parameters; train afresh instead of resuming") from None
    inputs, outputs = train_data.inputs.to(device), train_data.outputs.to(device)
    loss_fn = LOSSES[config.loss]
    loss_kwargs = {"grid": spec["grid"]} if config.loss == "h1" else {}
    n = len(train_data)
    best = math.inf if not history else min(row["train_loss"] for row in history)

    out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(range(start_epoch, config.epochs), initial=start_epoch, total=config.epochs,
               unit="epoch", disable=not progress, desc=f"train {config.model}")
    for epoch in bar:
        tick = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        for idx in torch.randperm(n, generator=shuffle).split(config.batch_size):
            idx = idx.to(device)
            x, y = inputs[idx], outputs[idx]
            pred = norm_out.decode(model(norm_in.encode(x)))
            loss = loss_fn(pred, y, **loss_kwargs)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"training diverged at epoch {epoch + 1} (loss {loss.item()}); {_kept(epoch, out_dir)}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)
        scheduler.step()
        train_loss = total / seen
        if train_loss > DIVERGENCE_FACTOR * best:
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch + 1} (loss {train_loss:.3g}, best {best:.3g}); "
                f"{_kept(epoch, out_dir)}"
            )
        best = min(best, train_loss)
        tests = {label: evaluate_rel_l2(surrogate, data) for label, data in test_sets.items()}
        elapsed += time.perf_counter() - tick
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_rel_l2": tests,
                        "lr": optimizer.param_groups[0]["lr"], "seconds": elapsed})
        save_torch({
            "config": config.to_dict(), "data_spec": spec, "train_samples": n, "epoch": epoch + 1,
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "normalizer_in": norm_in.state_dict(),
            "normalizer_out": norm_out.state_dict(), "history": history, "train_seconds": elapsed,
            "rng": {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()},
        }, out_dir / CHECKPOINT)
        save_jsonl(history, out_dir / "metrics.jsonl")
        bar.set_postfix(loss=f"{train_loss:.4f}", **{f"test{k}": f"{v:.4f}" for k, v in tests.items()})
    bar.close()

    final = history[-1] if history else {"test_rel_l2": {}, "train_loss": None}
    report = {
        "model": config.model,
        "config": config.to_dict(),
        "parameters": count_parameters(model),
        "epochs": config.epochs,
        "train_samples": n,
        "train_resolution": spec["resolution"],
        "train_loss": final["train_loss"],
        "test_rel_l2": final["test_rel_l2"],
        "train_seconds": elapsed,
        "device": str(device),
        "data": {k: train_data.provenance.get(k) for k in ("pde", "params", "seed", "source")
                 if k in train_data.provenance},
    }
    save_json(report, out_dir / "report.json")
    if figures:
        write_figures(surrogate, test_sets, history, out_dir)
    return report


def _kept(epochs_done: int, out_dir: Path) -> str:
    if epochs_done == 0:
        return "no checkpoint was written; lower the learning rate"
    return f"the last good checkpoint (epoch {epochs_done}) is in {out_dir}; lower the learning rate"


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; an unavailable CUDA is a clear error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError:
        raise InvalidInputError(f"unknown device {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda requested but no CUDA device is available")
    return device


def count_parameters(model: nn.Module) -> int:
    """Real-valued parameters (a complex entry counts twice)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())


def write_figures(surrogate: Surrogate, test_sets: dict[str, FieldDataset],
                  history: list[dict[str, Any]], out_dir: Path, samples: int = 3) -> None:
    """``predictions_s{label}.png`` per test set and ``curves.png``."""
    for label, data in test_sets.items():
        part = data.take(samples)
        pred = surrogate.predict(part.inputs)
        plot_predictions(part.inputs, part.outputs, pred, out_dir / f"predictions_s{label}.png",
                         title=f"test samples at s = {label}")
    if history:
        plot_curves(history, out_dir / "curves.png")

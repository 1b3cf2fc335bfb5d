"""Train any registered model (or one the user built) on any field dataset, with exact resume
and per-epoch evaluation.

A run directory holds ``checkpoint.pt`` (model, optimiser, scheduler, normalisers, RNG states of
the CPU and every CUDA device, and the training data's fingerprint, written atomically after
every epoch, as tensors and plain data only, so it loads with ``weights_only=True``),
``metrics.jsonl`` (one line per epoch), ``report.json`` and PNG figures. ``resume=True`` continues
from the checkpoint to the same result, bit for bit, as an uninterrupted run, and only on the
same training data (provenance and content hash).

:func:`train` is three steps that can be read and tested alone: :func:`plan_training` checks
everything and builds the model, :func:`execute_training` runs the epochs, :func:`assemble_report`
writes the report and figures.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from oplearn import models
from oplearn.data.dataset import FieldDataset
from oplearn.data.stream import LazyFields, StreamedDataset
from oplearn.errors import DataFileError, InvalidInputError, TrainingDivergedError
from oplearn.models.layers.spectral_conv import resolvable_modes
from oplearn.train import distributed
from oplearn.train.config import TrainConfig
from oplearn.train.figures import plot_curves, plot_predictions
from oplearn.train.io import (
    load_checkpoint,
    previous_checkpoint,
    save_checkpoint,
    save_json,
    save_jsonl,
)
from oplearn.train.losses import LOSSES, relative_l2
from oplearn.train.normalizer import ChannelNormalizer
from oplearn.train.rollout import push_forward, pushforward_sources
from oplearn.train.surrogate import Surrogate

CHECKPOINT = "checkpoint.pt"
CUSTOM_MODEL = "custom"  # config.model of a run whose model the user built and passed to train()
DIVERGENCE_FACTOR = 1e3  # an epoch loss this many times the best so far counts as divergence


def build_model(config: TrainConfig, data_spec: dict[str, Any]) -> nn.Module:
    """The registry model ``config.model`` with ``config.model_kwargs`` for data of
    ``data_spec`` (``in_channels``, ``out_channels``, ``ndim``, ``grid``); a bad name or option
    raises :class:`InvalidInputError` listing the model's options."""
    kwargs = dict(config.model_kwargs)
    for key in ("in_channels", "out_channels", "ndim", "grid"):
        if key in kwargs:
            raise InvalidInputError(f"model option {key!r} is set by the data; remove it")
    kwargs.update(in_channels=data_spec["in_channels"], out_channels=data_spec["out_channels"],
                  ndim=data_spec["ndim"], grid=data_spec["grid"])
    return models.build(config.model, **kwargs)


def fit_modes_to_grid(config: TrainConfig, spatial: tuple[int, ...]) -> TrainConfig:
    """``config`` with its model's Fourier ``modes`` (given or default) cut, axis by axis, to
    those the training grid ``spatial`` (with the model's domain padding) resolves
    (:func:`resolvable_modes`), with a warning that says so; unchanged for models
    without them and for patch models (whose modes count on the patches). A model trained at
    16 x 16 with 12 modes would otherwise carry weights no sample ever trained and use them on
    every finer grid."""
    spec = models.entry(config.model)
    kwargs, options = spec.resolve(config.model_kwargs), spec.options()
    own = spec.aliases.get("modes", "modes")  # the model's name for the shared option
    if own not in options or kwargs.get("patch_levels", options.get("patch_levels")):  # modes count on patches
        return config
    modes = kwargs.get(own, options[own])
    if modes is None:
        return config
    wanted = [modes] * len(spatial) if isinstance(modes, int) else list(modes)
    if len(wanted) != len(spatial):
        return config  # the model refuses it when built, with its own message
    padding = kwargs.get("padding", options.get("padding")) or 0.0  # the spectral layers see the padded grid
    padded = [n + math.ceil(padding * n) for n in spatial]
    fitted = [min(m, cap) for m, cap in zip(wanted, resolvable_modes(padded), strict=True)]
    if fitted == wanted:
        return config
    warnings.warn(f"{config.model}: modes {wanted} cut to {fitted}, the most a "
                  f"{' x '.join(map(str, padded))} grid resolves below its Nyquist frequency", stacklevel=2)
    model_kwargs = {k: v for k, v in config.model_kwargs.items() if spec.aliases.get(k, k) != own}
    model_kwargs[own] = fitted
    return TrainConfig.from_dict({**config.to_dict(), "model_kwargs": model_kwargs})


def _data_spec(data: FieldDataset) -> dict[str, Any]:
    return {"in_channels": data.inputs.shape[1], "out_channels": data.outputs.shape[1],
            "ndim": data.inputs.ndim - 2, "grid": data.grid, "resolution": data.resolution}


def data_fingerprint(data: FieldDataset) -> dict[str, Any]:
    """What identifies a training set: its provenance and the SHA-256 of its shapes and values."""
    digest = hashlib.sha256()
    for fields in (data.inputs, data.outputs):
        if isinstance(fields, torch.Tensor):
            array = fields.detach().cpu().contiguous().numpy()
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        else:  # read on demand: the same bytes, block by block
            digest.update(f"float32{tuple(fields.shape)}".encode())
            for block in fields.blocks():
                digest.update(block.numpy().tobytes())
    provenance = json.loads(json.dumps(data.provenance, sort_keys=True, default=str))
    return {"sha256": digest.hexdigest(), "samples": len(data), "provenance": provenance}


def _schedule(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def evaluate_rel_l2(surrogate: Surrogate, data: FieldDataset, precision: str = "float32") -> float:
    """Mean relative L2 error of ``surrogate`` on ``data`` (physical units), its matrix products
    in ``precision`` (:meth:`Surrogate.predict`)."""
    pred = surrogate.predict(data.inputs, precision=precision)
    return float(relative_l2(pred, data.outputs))


def _shared_rel_l2(surrogate: Surrogate, data: FieldDataset, procs: distributed.Processes,
                   device: torch.device) -> float:
    """:func:`evaluate_rel_l2` with the samples shared out among the processes (each takes
    every ``world``-th one) and the per-sample errors summed over them."""
    if not procs.distributed:
        return evaluate_rel_l2(surrogate, data)
    inputs, outputs = data.inputs[procs.rank::procs.world], data.outputs[procs.rank::procs.world]
    local = float(relative_l2(surrogate.predict(inputs), outputs, reduce=False).sum()) if len(inputs) else 0.0
    total, count = procs.sum([local, float(len(inputs))], device)
    return total / count


def read_checkpoint(path: str | Path, fall_back: bool = False) -> dict[str, Any]:
    """A checkpoint's record, loaded as data only (``weights_only=True``): a file holding any
    other object is refused without running it, and one whose content no longer matches its
    digest is corrupt. ``fall_back``: a missing or corrupt checkpoint gives way to the previous
    one (``checkpoint.prev.pt``, kept by every save), with a warning. Raises
    :class:`DataFileError`."""
    path = Path(path)
    if not path.is_file() and not (fall_back and previous_checkpoint(path).is_file()):
        raise DataFileError(f"{path.parent}: no {path.name} (not a training run directory)")
    ckpt = load_checkpoint(path, fall_back)
    if not isinstance(ckpt, dict) or not {"config", "data_spec", "model"} <= set(ckpt):
        raise DataFileError(f"{path}: not an oplearn checkpoint")
    return ckpt


def load_surrogate(run_dir: str | Path, model: nn.Module | None = None
                   ) -> tuple[Surrogate, dict[str, Any]]:
    """The model of a run directory and its checkpoint record.

    Args:
        run_dir: a directory written by :func:`train`.
        model: for a run whose model the user built, a module of the same architecture to load
            the weights into (registry models are rebuilt from the checkpoint's configuration).
    """
    path = Path(run_dir) / CHECKPOINT
    ckpt = read_checkpoint(path)
    try:
        config = TrainConfig.from_dict(ckpt["config"])
        spec = ckpt["data_spec"]
        if config.model == CUSTOM_MODEL and model is None:
            raise DataFileError(f"{run_dir} trained a model built by its user; pass that model "
                                "(model=...) to load it")
        model = model if model is not None else build_model(config, spec)
        model.load_state_dict(ckpt["model"])
        norm_in = ChannelNormalizer(spec["in_channels"], spec["ndim"])
        norm_in.load_state_dict(ckpt["normalizer_in"])
        norm_out = ChannelNormalizer(spec["out_channels"], spec["ndim"])
        norm_out.load_state_dict(ckpt["normalizer_out"])
    except (KeyError, RuntimeError, TypeError) as exc:
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


def _check_user_model(model: nn.Module, data: FieldDataset) -> None:
    """A user-built model must map one training input to one output of the data's shape."""
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise InvalidInputError("model has no trainable parameters")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # no batch-norm statistics updated, no dropout drawn by the check
    with torch.no_grad():
        try:
            out = model(data.inputs[:1].to(device))
        except Exception as exc:  # any failure of a user's forward on the data is a shape mismatch
            raise InvalidInputError(f"model fails on an input of shape {tuple(data.inputs[:1].shape)}: "
                                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                    ) from None
        finally:
            model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.shape != data.outputs[:1].shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidInputError(f"model maps {tuple(data.inputs[:1].shape)} to {shape}; the data's "
                                f"outputs are {tuple(data.outputs[:1].shape)}")


@dataclass
class TrainingPlan:
    """What :func:`execute_training` will do, checked: configuration, data spec and fingerprint,
    the (built) model, the device, and the checkpoint to resume from (``None``: a fresh run)."""

    config: TrainConfig
    spec: dict[str, Any]
    fingerprint: dict[str, Any]
    model: nn.Module
    device: torch.device
    out_dir: Path
    checkpoint: dict[str, Any] | None = None
    init: dict[str, Any] | None = None  # weights and normalisers of a trained run to start from
    init_dir: str | None = None


@dataclass
class TrainingState:
    """Everything that changes during training and is saved after every epoch."""

    surrogate: Surrogate
    optimizer: torch.optim.Optimizer
    scheduler: Any
    shuffle: torch.Generator
    history: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    elapsed: float = 0.0


def plan_training(config: TrainConfig, train_data: FieldDataset, test_sets: dict[str, FieldDataset],
                  out_dir: str | Path, *, model: nn.Module | None = None, resume: bool = False,
                  device: str | torch.device = "cpu", init: str | Path | None = None) -> TrainingPlan:
    """Check everything :func:`train` is given and build the model; writes nothing.

    On ``resume`` the checkpoint's configuration wins, and the checkpoint must have been written
    for the same training data (same fingerprint: provenance and content hash). With ``init``
    (and no resume), the architecture is that run's and training starts from its weights."""
    out_dir = Path(out_dir)
    _check_test_sets(train_data, test_sets)
    device = resolve_device(device)
    spec = _data_spec(train_data)
    fingerprint = data_fingerprint(train_data)
    ckpt = None
    if resume:
        ckpt = read_checkpoint(out_dir / CHECKPOINT, fall_back=True)
        config = TrainConfig.from_dict(ckpt["config"])
        if (config.model == CUSTOM_MODEL) != (model is not None):
            raise InvalidInputError(f"{out_dir} was trained with " + (
                "a model its user built: pass the same model to resume" if model is None
                else f"the registry model {config.model!r}: resume without model="))
        _check_same_data(ckpt, spec, fingerprint, out_dir)
        if init is not None and str(init) != ckpt.get("init"):
            raise InvalidInputError(f"{out_dir} was started from {ckpt.get('init') or 'scratch'}, not {init}: "
                                    "a resume continues from its own checkpoint; give the same --init or none")
    elif model is not None:
        if init is not None:
            raise InvalidInputError("init starts from a registry model's run; a model the user built loads its own weights")
        config = TrainConfig.from_dict({**config.to_dict(), "model": CUSTOM_MODEL, "model_kwargs": {}})
    elif init is not None:
        start = _init_checkpoint(init, spec)
        config = TrainConfig.from_dict({**config.to_dict(), "model": start["config"]["model"],
                                        "model_kwargs": start["config"]["model_kwargs"]})
    else:
        config = fit_modes_to_grid(config, tuple(train_data.inputs.shape[2:]))
    if config.pushforward:
        if not isinstance(train_data.inputs, torch.Tensor):
            raise InvalidInputError("pushforward needs the training windows in memory, not streamed")
        pushforward_sources(train_data.provenance, len(train_data))  # windows of trajectories only
    torch.manual_seed(config.seed)  # initialisation of a registry model, and any later draws
    if model is None:
        model = build_model(config, spec)
    else:
        _check_user_model(model, train_data)
    if ckpt is None and init is not None:
        return TrainingPlan(config, spec, fingerprint, model, device, out_dir, None,
                            {k: start[k] for k in ("model", "normalizer_in", "normalizer_out")}, str(init))
    return TrainingPlan(config, spec, fingerprint, model, device, out_dir, ckpt,
                        init_dir=ckpt.get("init") if ckpt is not None else None)


def _init_checkpoint(init: str | Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint of the trained run ``init`` to start from, checked against the data: the
    same channels in and out, the same number of dimensions and the same kind of grid."""
    start = read_checkpoint(Path(init) / CHECKPOINT)
    if start["config"].get("model") == CUSTOM_MODEL:
        raise InvalidInputError(f"{init} trained a model its user built; init starts from registry models only")
    theirs = start["data_spec"]
    for key in ("in_channels", "out_channels", "ndim", "grid"):
        if theirs.get(key) != spec[key]:
            raise InvalidInputError(f"{init}: its model was trained with {key} = {theirs.get(key)}, "
                                    f"these data have {spec[key]}; init needs the same channels, dimensions and grid")
    return start


def _check_same_data(ckpt: dict[str, Any], spec: dict[str, Any], fingerprint: dict[str, Any],
                     out_dir: Path) -> None:
    saved = ckpt.get("data_fingerprint")
    if saved is None:
        raise InvalidInputError(f"{out_dir}: its checkpoint records no fingerprint of its training "
                                "data (an older version wrote it), so a resume cannot be checked; "
                                "train afresh")
    if not isinstance(saved, dict) or not {"sha256", "samples", "provenance"} <= set(saved):
        raise DataFileError(f"{out_dir}: corrupt checkpoint (malformed data fingerprint)")
    if (ckpt["data_spec"] != spec or saved["sha256"] != fingerprint["sha256"]
            or saved["provenance"] != fingerprint["provenance"]):
        what = {k: saved["provenance"].get(k) for k in ("pde", "seed", "resolution") if k in saved["provenance"]}
        raise InvalidInputError(f"{out_dir} was trained on other data ({saved['samples']} samples, "
                                f"{what or 'no provenance'}, sha256 {saved['sha256'][:12]}; given "
                                f"{fingerprint['samples']} samples, sha256 {fingerprint['sha256'][:12]}); "
                                "resume needs the same data")


def _fit_normalizer(fields: torch.Tensor | LazyFields) -> ChannelNormalizer:
    """In memory, or in one streaming pass over fields read on demand (checked for NaN there)."""
    if isinstance(fields, torch.Tensor):
        return ChannelNormalizer.fit(fields)
    try:
        return ChannelNormalizer.fit_blocks(fields.blocks())
    except ValueError as exc:
        raise DataFileError(f"{fields.paths[0]}: {fields.name}: {exc}") from None


def _initial_state(plan: TrainingPlan, train_data: FieldDataset) -> TrainingState:
    config, model, ckpt = plan.config, plan.model, plan.checkpoint
    norm_in, norm_out = _fit_normalizer(train_data.inputs), _fit_normalizer(train_data.outputs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state = TrainingState(Surrogate(model, norm_in, norm_out), optimizer, _schedule(config, optimizer),
                          torch.Generator().manual_seed(config.seed))
    if ckpt is None and plan.init is not None:  # fine-tuning: the trained weights, in their normalisation
        try:
            model.load_state_dict(plan.init["model"])
            norm_in.load_state_dict(plan.init["normalizer_in"])
            norm_out.load_state_dict(plan.init["normalizer_out"])
        except RuntimeError:  # parameters of another version of the architecture
            raise InvalidInputError(f"{plan.init_dir}: its checkpoint's parameters do not fit the model it names "
                                    "(a checkpoint of an older version?); init needs a run of this version") from None
    if ckpt is not None:
        try:
            model.load_state_dict(ckpt["model"])
        except RuntimeError:  # other parameter names or shapes: another architecture or version
            raise InvalidInputError(f"{plan.out_dir}: the checkpoint's parameters do not fit the model "
                                    "this run builds (another architecture, or a checkpoint of an "
                                    "older version); train afresh instead of resuming") from None
        norm_in.load_state_dict(ckpt["normalizer_in"])
        norm_out.load_state_dict(ckpt["normalizer_out"])
        state.scheduler.load_state_dict(ckpt["scheduler"])
        state.shuffle.set_state(ckpt["rng"]["shuffle"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        cuda_states = ckpt["rng"].get("cuda", [])
        if cuda_states and torch.cuda.is_available():
            if len(cuda_states) != torch.cuda.device_count():
                warnings.warn(f"the checkpoint holds the random states of {len(cuda_states)} CUDA "
                              f"devices, this process sees {torch.cuda.device_count()}: the resumed "
                              "run draws other CUDA random numbers than an uninterrupted one", stacklevel=2)
            else:
                torch.cuda.set_rng_state_all(cuda_states)
        state.history, state.epoch, state.elapsed = ckpt["history"], ckpt["epoch"], ckpt["train_seconds"]
    state.surrogate.to(plan.device)
    if ckpt is not None:  # optimiser state follows the parameters' device
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError:  # e.g. a model whose parameters changed since (MgNO's coarsest kernel)
            raise DataFileError(f"{plan.out_dir}: the checkpoint's optimiser state does not match this "
                                "version's model parameters; train afresh instead of resuming") from None
    return state


def _cuda_in_use() -> bool:
    """Whether CUDA's generators exist in this process (never initialises CUDA to find out)."""
    return torch.cuda.is_available() and torch.cuda.is_initialized()


def _checkpoint(plan: TrainingPlan, state: TrainingState, samples: int) -> dict[str, Any]:
    """The record saved after every epoch: tensors and plain data only."""
    return {
        "config": plan.config.to_dict(), "data_spec": plan.spec, "data_fingerprint": plan.fingerprint,
        "train_samples": samples, "epoch": state.epoch,
        "model": state.surrogate.model.state_dict(), "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "normalizer_in": state.surrogate.normalizer_in.state_dict(),
        "normalizer_out": state.surrogate.normalizer_out.state_dict(),
        "history": state.history, "train_seconds": state.elapsed, "init": plan.init_dir,
        "rng": {"torch": torch.get_rng_state(), "shuffle": state.shuffle.get_state(),
                "cuda": torch.cuda.get_rng_state_all() if _cuda_in_use() else []},
    }


class _BatchReads(torch.utils.data.Dataset):
    """Item ``k``: the inputs and outputs of the ``k``-th batch of indices, read from files."""

    def __init__(self, data: StreamedDataset, batches: list[torch.Tensor]):
        self.data, self.batches = data, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data.inputs[self.batches[k]], self.data.outputs[self.batches[k]]


def _streamed_batches(data: StreamedDataset, batches: list[torch.Tensor], workers: int, device: torch.device):
    """The batches, read in order by ``workers`` background processes (0: this one), two ahead
    each, into pinned memory for a GPU."""
    if workers:  # the workers open their own handles; none inherited across the fork
        data.inputs.close()
        data.outputs.close()
    loader = torch.utils.data.DataLoader(_BatchReads(data, batches), batch_size=None, shuffle=False,
                                         num_workers=workers, prefetch_factor=2 if workers else None,
                                         pin_memory=device.type == "cuda")
    return iter(loader)


def execute_training(plan: TrainingPlan, state: TrainingState, train_data: FieldDataset,
                     test_sets: dict[str, FieldDataset], progress: bool = True,
                     stream_workers: int = 1) -> TrainingState:
    """Run the remaining epochs of ``plan`` from ``state``; after each, evaluate every test set
    and write the checkpoint and ``metrics.jsonl``. Training data read on demand
    (:class:`~oplearn.data.stream.StreamedDataset`) come through ``stream_workers`` reader
    processes. Raises :class:`TrainingDivergedError`."""
    config, device, out_dir = plan.config, plan.device, plan.out_dir
    model, surrogate = state.surrogate.model, state.surrogate
    streamed = not isinstance(train_data.inputs, torch.Tensor)
    if not streamed:
        inputs, outputs = train_data.inputs.to(device), train_data.outputs.to(device)
    loss_fn = LOSSES[config.loss]
    loss_kwargs = {"grid": plan.spec["grid"]} if config.loss == "h1" else {}
    n = len(train_data)
    procs = distributed.current()
    stepped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if procs.distributed else model  # averages the gradients of the processes' shares
    best = min((row["train_loss"] for row in state.history), default=math.inf)
    sources = pushforward_sources(train_data.provenance, n).to(device) if config.pushforward else None
    if procs.main:
        out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(range(state.epoch, config.epochs), initial=state.epoch, total=config.epochs,
               unit="epoch", disable=not progress or not procs.main, desc=f"train {config.model}")
    for epoch in bar:
        tick = time.perf_counter()
        model.train()
        total, seen = 0.0, 0
        shares = [procs.share(batch) for batch in torch.randperm(n, generator=state.shuffle).split(config.batch_size)]
        reads = _streamed_batches(train_data, [idx for idx, _ in shares], stream_workers, device) if streamed \
            else None
        pushed = _pushed_windows(config, epoch, sources)
        for idx, weight in shares:
            if streamed:
                x, y = (t.to(device, non_blocking=True) for t in next(reads))
            else:
                idx = idx.to(device)
                x, y = inputs[idx], outputs[idx]
                if pushed is not None and bool(pushed[idx].any()):
                    x = _pushed_inputs(surrogate, x, inputs, sources[idx], pushed[idx])
            pred = surrogate.apply(x, stepped)
            loss = loss_fn(pred, y, **loss_kwargs)
            finite = bool(torch.isfinite(loss))
            if procs.distributed:  # every process stops together
                finite = procs.sum([0.0 if finite else 1.0], device)[0] == 0
            if not finite:
                where = f"loss {loss.item()}" if not procs.distributed else "a process's loss is not finite"
                raise TrainingDivergedError(f"training diverged at epoch {epoch + 1} ({where}); {_kept(epoch, out_dir)}")
            state.optimizer.zero_grad(set_to_none=True)
            (loss * weight if procs.distributed else loss).backward()
            state.optimizer.step()
            if weight:
                total += loss.item() * len(idx)
                seen += len(idx)
        state.scheduler.step()
        total, seen = procs.sum([total, seen], device)
        train_loss = total / seen
        if train_loss > DIVERGENCE_FACTOR * best:
            raise TrainingDivergedError(
                f"training diverged at epoch {epoch + 1} (loss {train_loss:.3g}, best {best:.3g}); "
                f"{_kept(epoch, out_dir)}"
            )
        best = min(best, train_loss)
        tests = {label: _shared_rel_l2(surrogate, data, procs, device) for label, data in test_sets.items()}
        state.elapsed += time.perf_counter() - tick
        state.epoch = epoch + 1
        state.history.append({"epoch": epoch + 1, "train_loss": train_loss, "test_rel_l2": tests,
                              "lr": state.optimizer.param_groups[0]["lr"], "seconds": state.elapsed})
        if procs.main:
            save_checkpoint(_checkpoint(plan, state, n), out_dir / CHECKPOINT)
            save_jsonl(state.history, out_dir / "metrics.jsonl")
        bar.set_postfix(loss=f"{train_loss:.4f}", **{f"test{k}": f"{v:.4f}" for k, v in tests.items()})
    bar.close()
    return state


def _pushed_windows(config: TrainConfig, epoch: int, sources: torch.Tensor | None) -> torch.Tensor | None:
    """Which windows train on their own pushed-forward inputs this epoch ``(W,)`` bool: a
    ``config.pushforward`` fraction of those that have an earlier window, drawn from the seed
    and the epoch (a resumed run draws the same)."""
    if sources is None:
        return None
    draw = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    chosen = torch.rand(sources.shape[0], generator=draw) < config.pushforward
    return chosen.to(sources.device) & (sources >= 0)


def _pushed_inputs(surrogate: Surrogate, x: torch.Tensor, inputs: torch.Tensor, source: torch.Tensor,
                   use: torch.Tensor) -> torch.Tensor:
    """The batch ``x`` with the chosen windows' newest snapshots predicted by the model (in
    physical units, through the normalisers) from their earlier windows."""
    x = x.clone()
    x[use] = push_forward(surrogate.apply, x[use], inputs[source[use]])
    return x


def assemble_report(plan: TrainingPlan, state: TrainingState, train_data: FieldDataset,
                    test_sets: dict[str, FieldDataset], figures: bool = True) -> dict[str, Any]:
    """The run's report (also written to ``report.json``) and, with ``figures``, its PNGs."""
    final = state.history[-1] if state.history else {"test_rel_l2": {}, "train_loss": None}
    report = {
        "model": plan.config.model,
        "config": plan.config.to_dict(),
        "parameters": count_parameters(state.surrogate.model),
        "epochs": plan.config.epochs,
        "train_samples": len(train_data),
        "train_resolution": plan.spec["resolution"],
        "train_loss": final["train_loss"],
        "test_rel_l2": final["test_rel_l2"],
        "train_seconds": state.elapsed,
        "device": str(plan.device),
        "data": {k: train_data.provenance.get(k) for k in ("pde", "params", "seed", "source")
                 if k in train_data.provenance},
        "data_sha256": plan.fingerprint["sha256"],
    }
    if plan.init_dir is not None:
        report["init"] = plan.init_dir
    procs = distributed.current()
    if procs.distributed:
        report["processes"] = procs.world
    if procs.main:
        save_json(report, plan.out_dir / "report.json")
        if figures:
            write_figures(state.surrogate, test_sets, state.history, plan.out_dir)
    return report


def train(
    config: TrainConfig,
    train_data: FieldDataset,
    test_sets: dict[str, FieldDataset],
    out_dir: str | Path,
    *,
    model: nn.Module | None = None,
    resume: bool = False,
    progress: bool = True,
    figures: bool = True,
    device: str | torch.device = "cpu",
    stream_workers: int = 1,
    init: str | Path | None = None,
) -> dict[str, Any]:
    """Train on ``train_data``; evaluate on every test set each epoch.

    Args:
        config: model, optimiser and schedule.
        train_data: ``(N, C_in, *S)`` inputs and ``(N, C_out, *S)`` outputs, in memory or read
            on demand (:func:`oplearn.data.stream.open_streamed`, through ``stream_workers``
            reader processes).
        test_sets: label (usually the resolution) -> dataset; evaluated after every epoch.
        out_dir: run directory (created); holds checkpoint, metrics, report and figures.
        model: a model the user built, any ``nn.Module`` mapping ``(B, C_in, *S)`` to
            ``(B, C_out, *S)``, trained instead of the registry model ``config.model`` (whose
            options are then unused); load the run with ``load_surrogate(out_dir, model=...)``.
        resume: continue from ``out_dir/checkpoint.pt`` (its configuration wins; the training data
            must be the same).
        device: where to train (``"cpu"``, ``"cuda"``, ``"auto"``); data move there once.
        init: a trained run's directory to start from (fine-tuning): its architecture, weights and
            normalisers; ``config``'s optimiser, epochs and schedule. Its data must have the same
            channels, dimensions and kind of grid.
    Returns:
        The report, also written to ``out_dir/report.json``.
    Raises:
        InvalidInputError: a bad option, model or test set, or a resume on other data.
        TrainingDivergedError: the loss became non-finite or exploded; the last good
            checkpoint stays in ``out_dir``.
    """
    plan = plan_training(config, train_data, test_sets, out_dir, model=model, resume=resume,
                         device=device, init=init)
    state = _initial_state(plan, train_data)
    state = execute_training(plan, state, train_data, test_sets, progress, stream_workers)
    return assemble_report(plan, state, train_data, test_sets, figures)


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
    if device.type not in ("cpu", "cuda"):
        raise InvalidInputError(f"--device must be cpu, cuda or auto, got {device.type!r}")
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

"""Command line: ``oplearn generate | info | train | evaluate | run | pinn | data verify | data merge``.

Bad input (a missing or corrupt file, mismatched shapes, NaNs, an invalid option) prints one
line, ``oplearn: error: ...``, on stderr and exits with code 2; nothing partial is written.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import click
import yaml

from oplearn.errors import InvalidInputError, OplearnError, TrainingDivergedError

EXIT_BAD_INPUT = 2
SPACE_TIME_PADDING = 0.25  # fraction of each axis a space-time FNO pads (time is not periodic)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oplearn")
def cli() -> None:
    """oplearn: verified PDE data, neural operators and their evaluation."""


@cli.command()
@click.argument("pde")
@click.option("--samples", type=click.IntRange(min=1), required=True, help="Samples in the dataset (all shards).")
@click.option("--resolution", type=click.IntRange(min=3), required=True, help="Grid points per side.")
@click.option("--seed", type=int, default=0, show_default=True, help="Dataset seed.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="HDF5 file to write.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--shard", default="0/1", show_default=True, help="k/n: write only the k-th of n shards.")
@click.option("--solver", help="Linear solver of elliptic problems (default auto); each problem's "
              "choices: `oplearn info --pdes`.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True),
              help="Relative residual every linear solve must reach (default 1e-10).")
@click.option("--param", "param_items", multiple=True, metavar="KEY=VALUE",
              help="A parameter of the PDE (repeatable), e.g. --param nu=0.05 for burgers.")
@click.option("--device", default="cpu", show_default=True,
              help="cpu or cuda: where the batched PyTorch solvers run (burgers, navier-stokes, "
              "and the multigrid of darcy and high-contrast; `oplearn info --pdes`).")
@click.option("--chunk-size", type=click.IntRange(min=1),
              help="Samples a batched solver solves at once, one resumable part holds and one "
              "worker takes (default 8 on cpu, 128 on cuda; an unfinished run: the one it started with).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def generate(pde: str, samples: int, resolution: int, seed: int, out: Path, workers: int,
             shard: str, solver: str | None, tol: float | None, param_items: tuple[str, ...],
             device: str, chunk_size: int | None, quiet: bool) -> None:
    """Solve PDE for random inputs and write a dataset file (atomic, resumable).

    PDE is one of the names that `oplearn info --pdes` lists."""
    from oplearn.data.generation import generate as run_generation
    from oplearn.data.generation import parse_shard

    params = parse_params(param_items)
    params.update({k: v for k, v in (("solver", solver), ("tol", tol)) if v is not None})
    result = run_generation(pde, samples=samples, resolution=resolution, seed=seed, out=out,
                            workers=workers, shard=parse_shard(shard), params=params,
                            progress=not quiet, device=device, chunk_size=chunk_size)
    note = "already complete" if result.solved_now == 0 else f"{result.solved_now} solved now"
    click.echo(f"{result.path}: {result.samples} samples ({note})")


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are read as YAML scalars (numbers, booleans)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--param needs KEY=VALUE, got {item!r}")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InvalidInputError(f"--param {key}: cannot read the value {value!r}") from None
    return params


@cli.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--models", "list_models", is_flag=True,
              help="List the registered models instead; with model names, their options and defaults.")
@click.option("--pinn", "list_pinn", is_flag=True, help="List the physics-informed problems of `oplearn pinn`.")
@click.option("--pdes", "list_pdes", is_flag=True,
              help="List the PDE families of `oplearn generate` (solvers, devices) instead; with "
              "names, their parameters (--param KEY=VALUE) with defaults and ranges.")
def info(files: tuple[Path, ...], list_models: bool, list_pdes: bool, list_pinn: bool) -> None:
    """Print what dataset files hold (shapes, value ranges, provenance), the models or the PDEs.

    `oplearn info --models NAME...` shows each model's options with their defaults, `oplearn info
    --pdes NAME...` each problem's parameters, `oplearn info --pinn NAME...` each physics-informed
    problem's default settings."""
    from oplearn.data.dataset import load

    if sum((list_models, list_pdes, list_pinn)) > 1:
        raise InvalidInputError("give dataset files, --models, --pdes or --pinn, one of them")
    if list_pinn:
        from oplearn import pinn

        names = [str(n) for n in files] if files else pinn.available()
        for name in names:
            spec = pinn.spec(name)
            dims = (spec.label or f"{spec.fixed_dim}D") if spec.fixed_dim else f"any --dim (default {spec.default_dim})"
            click.echo(f"{name:<20} {dims:<24} {spec.description}")
            if files:
                defaults = ", ".join(f"{k}={v}" for k, v in spec.defaults.items())
                click.echo(f"  defaults: {defaults}")
        return
    if list_models and files:
        _describe_models([str(name) for name in files])
        return
    if list_pdes and files:
        _describe_pdes([str(name) for name in files])
        return
    if sum((list_pdes, list_models, bool(files))) > 1:
        raise InvalidInputError("give dataset files, --models or --pdes, one of them")
    if list_pdes:
        from oplearn import pdes

        for name in pdes.available():
            problem = pdes.get(name)
            devices = "cpu" if problem.solve_batch is None else (
                "cpu, cuda (mg)" if "mg" in problem.solvers else "cpu, cuda")
            solvers = ", ".join(problem.solvers) if "solver" in problem.defaults else "-"
            click.echo(f"{name:<20} {problem.ndim}D {problem.grid:<9} solver: {solvers:<22} "
                       f"device: {devices:<15} {problem.description}")
        return
    if list_models:
        from oplearn import models

        for name in models.available():
            spec = models.entry(name)
            dims = "/".join(f"{d}D" for d in spec.ndims)
            scope = "any resolution" if spec.resolution_invariant else "training grid"
            click.echo(f"{name:<22} {dims:<9} {scope:<15} {spec.description}")
        return
    if not files:
        raise InvalidInputError("give dataset files, or --models")
    from oplearn.data.pdebench import pdebench_layout

    for path in files:
        pdebench = pdebench_layout(path) if Path(path).is_file() else None
        if pdebench is not None:
            click.echo(f"{path}")
            click.echo(f"  PDEBench file, {pdebench['layout']} layout: trajectories (N, T, C, *S) = "
                       f"{pdebench['shape']} (read with oplearn.data.pdebench.read_pdebench; train with --rollout)")
            for key, value in sorted(pdebench["attrs"].items()):
                click.echo(f"  {key + ':':<11} {value}")
            continue
        data = load(path, allow_partial=True)  # a single shard is described as what it is
        click.echo(f"{path}")
        click.echo(f"  samples:    {len(data)}")
        for name, arr in (("inputs", data.inputs), ("outputs", data.outputs)):
            click.echo(f"  {name + ':':<11} {tuple(arr.shape)}  min {arr.min().item():.4g}  "
                       f"max {arr.max().item():.4g}  mean {arr.mean().item():.4g}")
        for key, value in sorted(data.provenance.items()):
            click.echo(f"  {key + ':':<11} {json.dumps(value, sort_keys=True)}")


def _describe_pdes(names: list[str]) -> None:
    """Each problem's description and parameters with defaults and allowed values."""
    from oplearn import pdes
    from oplearn.pdes.parameters import describe

    problems = [pdes.get(name) for name in names]  # every name checked before printing
    for problem in problems:
        click.echo(f"{problem.name}: {problem.description}")
        click.echo(f"  {problem.ndim}D, {problem.grid} grid; parameters (--param KEY=VALUE):")
        for line in describe(problem.parameters):
            click.echo(f"    {line}")


def _describe_models(names: list[str]) -> None:
    """Each model's description, dimensions and options with defaults (what --model-option sets)."""
    from oplearn import models
    from oplearn.models.registry import SHARED_OPTIONS

    specs = [models.entry(name) for name in names]  # every name checked before printing
    for spec in specs:
        options = spec.options()
        dims = "/".join(f"{d}D" for d in spec.ndims)
        scope = "any resolution" if spec.resolution_invariant else "its training grid only"
        click.echo(f"{spec.name}: {spec.description}")
        click.echo(f"  dimensions: {dims}; evaluated on {scope}")
        click.echo("  options (--model-option KEY=VALUE; defaults shown):")
        shared = {spec.aliases.get(name, name): flag for name, flag in SHARED_OPTIONS.items()}
        for key, default in options.items():
            flag = f"   also {shared[key]}" if key in shared else ""
            click.echo(f"    {key} = {default!r}{flag}")
        refused = [flag for own, flag in shared.items() if own not in options]
        if refused:
            click.echo(f"  not taken: {', '.join(refused)}")


def _train_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """Training options given on the command line (None = not given) as a config mapping."""
    names = {"model": "model", "epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
             "weight_decay": "weight_decay", "scheduler": "scheduler", "loss": "loss", "seed": "seed",
             "pushforward": "pushforward"}
    values = {key: options[opt] for opt, key in names.items() if options.get(opt) is not None}
    from oplearn.models.registry import SHARED_OPTIONS

    model_kwargs = {key: options[flag[2:]] for key, flag in SHARED_OPTIONS.items()
                    if options.get(flag[2:]) is not None}
    model_kwargs.update(parse_params(options.get("model_option") or ()))
    if model_kwargs:
        values["model_kwargs"] = model_kwargs
    return values


def _merge(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset's training options with the command line's on top. A different ``--model``
    starts from that model's own defaults, not the preset model's options."""
    merged = {**config, **{k: v for k, v in overrides.items() if k != "model_kwargs"}}
    same_model = overrides.get("model", config.get("model")) == config.get("model")
    base = config.get("model_kwargs", {}) if same_model else {}
    aliases = _model_aliases(merged.get("model", "fno"))  # --width 32 overrides a file's hidden: 64
    own = {aliases.get(k, k): v for k, v in overrides.get("model_kwargs", {}).items()}
    merged["model_kwargs"] = {**{aliases.get(k, k): v for k, v in base.items()}, **own}
    return merged


def _model_aliases(name: str) -> dict[str, str]:
    """The shared option names a registry model spells its own way ({} for an unknown name,
    which building the model then reports)."""
    from oplearn import models

    return dict(models.entry(name).aliases) if name in models.available() else {}


def _training_options(func):
    options = [
        click.option("--model", help="Model name (see `oplearn info --models`)."),
        click.option("--epochs", type=click.IntRange(min=1)),
        click.option("--batch-size", type=click.IntRange(min=1)),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="AdamW learning rate."),
        click.option("--weight-decay", type=click.FloatRange(min=0)),
        click.option("--scheduler", type=click.Choice(["cosine", "step", "none"])),
        click.option("--loss", type=click.Choice(["l2", "h1"])),
        click.option("--modes", type=click.IntRange(min=1), help="Fourier modes per axis."),
        click.option("--width", type=click.IntRange(min=1), help="Channels of the hidden layers."),
        click.option("--layers", type=click.IntRange(min=1), help="Number of operator layers."),
        click.option("--padding", type=click.FloatRange(min=0), help="Domain padding fraction."),
        click.option("--model-option", multiple=True, metavar="KEY=VALUE",
                     help="Any other option of the model (repeatable), e.g. factorization=cp."),
        click.option("--seed", type=int),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.option("--data", "data_files", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Training file (repeat for the shards of one dataset; .h5 or neuraloperator .pt).")
@click.option("--test-data", "test_files", multiple=True, type=click.Path(path_type=Path),
              help="Test file, repeatable (one per resolution). Default: hold out part of --data.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run directory.")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML training options.")
@click.option("--subsample", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train on every r-th grid point.")
@click.option("--train-samples", type=click.IntRange(min=1), help="Use only the first N training samples.")
@click.option("--holdout", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Fraction held out for testing when no --test-data is given.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--stream", is_flag=True, help="Read the training data from the files as training needs it "
              "(for data larger than memory; HDF5 files only).")
@click.option("--stream-workers", type=click.IntRange(min=0), default=1, show_default=True,
              help="With --stream: reader processes that prefetch batches (0: read in the training process).")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes on this machine (runs `torchrun --nproc-per-node N -m oplearn "
              "train ...`; --batch-size stays the global batch). For several machines call torchrun itself.")
@click.option("--rollout", metavar="HISTORY[:BUNDLE]",
              help="Train a model that steps forward in time: from HISTORY snapshots to the next BUNDLE "
              "(default 1), on every window of the trajectories in --data (a PDEBench file, or an oplearn time "
              "series whose input is its first snapshot); then "
              "roll it out over the test trajectories (report: rollout errors, PDEBench's metrics, figure).")
@click.option("--space-time", is_flag=True,
              help="With --rollout HISTORY: a model with time as one more axis predicts every later step in one "
              "pass (the FNO paper's FNO-3D) instead of stepping forward. Time is not periodic: an FNO or TFNO "
              "then pads its axes by a quarter unless --padding is given.")
@click.option("--init", "init_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Start from the trained run in this directory (fine-tuning): its architecture, weights and "
              "normalisers; the optimiser, epochs and schedule are this command's. Same channels and dimensions.")
@click.option("--pushforward", type=click.FloatRange(0, 1), metavar="FRACTION",
              help="With --rollout: this fraction of the training windows each epoch sees the model's own "
              "prediction as its newest snapshots, without gradient through it (PDEArena's pushforward "
              "trick; default 0, teacher forcing).")
@click.option("--time-stride", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --rollout: keep every k-th stored time (PDEBench's reduced_resolution_t).")
@click.option("--space-stride", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --rollout: keep every k-th grid point (PDEBench's reduced_resolution).")
@_training_options
def train(data_files, test_files, out, config_file, subsample, train_samples, holdout, resume,
          quiet, stream, stream_workers, nproc, rollout, time_stride, space_stride, space_time, init_dir,
          **options) -> None:
    """Train a model; evaluate it on every test set after each epoch."""
    import dataclasses

    import torch

    from oplearn.errors import InvalidInputError
    from oplearn.train import distributed
    from oplearn.train.config import TrainConfig, load_yaml
    from oplearn.train.trainer import CHECKPOINT, plan_training
    from oplearn.train.trainer import _initial_state as initial_state
    from oplearn.train.trainer import train as run_training

    launching = nproc > 1 and not distributed.launched_by_torchrun()
    if not launching:
        options["device"] = distributed.join_from_environment(options["device"])
    procs = distributed.current()
    if (out / CHECKPOINT).exists() and not resume and procs.main:
        raise InvalidInputError(f"{out} already holds a run; pass --resume or choose another --out")
    values = load_yaml(config_file) if config_file else {}
    config = TrainConfig.from_dict(_merge(values, _train_overrides(options)))
    plan_rollout = None
    if rollout is not None:
        if stream or subsample != 1:
            raise InvalidInputError("--rollout reads whole trajectories: use --space-stride, not --stream or --subsample")
        if space_time and config.pushforward:
            from oplearn.run_rollout import SPACE_TIME_PUSHFORWARD

            raise InvalidInputError(SPACE_TIME_PUSHFORWARD)
        if space_time:
            config = _space_time_padding(config, options)
        plan_rollout = _rollout_windows(rollout, data_files, test_files, train_samples, holdout, time_stride,
                                        space_stride, space_time)
        data, tests = plan_rollout["train"], plan_rollout["tests"]
    elif time_stride != 1 or space_stride != 1 or options.get("pushforward") or space_time:
        raise InvalidInputError("--time-stride, --space-stride, --space-time and --pushforward go with --rollout: "
                                "use --rollout")
    else:
        data, tests = _field_data(data_files, test_files, subsample, train_samples, holdout, stream)
    if launching:  # every check first, in this process (the data's NaN, a checkpoint's fit), then the processes
        plan = plan_training(config, data, tests, out, resume=resume, device=options["device"], init=init_dir)
        initial_state(dataclasses.replace(plan, device=torch.device("cpu")), data)  # no GPU held here
        del data, tests, plan, plan_rollout  # the processes load their own
        argv = (click.get_current_context().obj or {}).get("argv", sys.argv[1:])
        sys.exit(_launch(nproc, argv))
    try:
        report = run_training(config, data, tests, out, resume=resume, progress=not quiet,
                              device=options["device"], stream_workers=stream_workers, init=init_dir)
    finally:
        distributed.leave()
    if procs.main:
        if plan_rollout is not None:
            report = _roll_out(out, report, plan_rollout, options["device"])
        _print_summary(report, out)


def _field_data(data_files, test_files, subsample: int, train_samples: int | None, holdout: float,
                stream: bool) -> tuple[Any, dict[str, Any]]:
    """The training data (in memory or streamed) and the test sets: the --test-data files, or the
    held-out end of --data."""
    from oplearn.data.dataset import load
    from oplearn.errors import InvalidInputError

    if stream:
        from oplearn.data.stream import open_streamed

        data = open_streamed(data_files, subsample)
    else:
        data = load(data_files, subsample)
    if train_samples is not None:
        data = data.take(train_samples)
    tests = {}
    if test_files:
        for path in test_files:
            test = load(path)
            label = str(test.resolution)
            tests[label if label not in tests else f"{label}-{path.stem}"] = test
        return data, tests
    n_test = max(1, round(holdout * len(data)))
    if len(data) - n_test < 1:
        raise InvalidInputError(f"{len(data)} samples are too few to hold out a test set")
    data, held = data.split(len(data) - n_test)
    return data, {str(held.resolution): held.load() if stream else held}  # test sets live in memory


def _space_time_padding(config, options: dict[str, Any]):
    """A space-time FNO or TFNO pads its axes by a quarter unless ``--padding`` says otherwise:
    time is not periodic, and an unpadded Fourier layer would wrap the last time onto the first."""
    import dataclasses

    if config.model in ("fno", "tfno") and options.get("padding") is None and not config.model_kwargs.get("padding"):
        return dataclasses.replace(config, model_kwargs={**config.model_kwargs, "padding": SPACE_TIME_PADDING})
    return config


def _rollout_windows(spec: str, data_files, test_files, train_samples, holdout, time_stride: int,
                     space_stride: int, spacetime: bool = False) -> dict[str, Any]:
    """Training and test windows for ``--rollout HISTORY[:BUNDLE]`` from trajectory files
    (:func:`oplearn.data.trajectories.read_trajectories`), or their space-time form
    (``--space-time``), and the test trajectories to roll out after training."""
    import torch

    from oplearn.data.trajectories import read_trajectories
    from oplearn.errors import InvalidInputError
    from oplearn.train.rollout import training_pairs

    history, _, bundle = spec.partition(":")
    try:
        history, bundle = int(history), int(bundle or 1)
    except ValueError:
        raise InvalidInputError(f"--rollout takes HISTORY[:BUNDLE], e.g. 10 or 10:2; got {spec!r}") from None
    if spacetime and bundle != 1:
        raise InvalidInputError("--space-time predicts every step at once: give --rollout HISTORY without a bundle")
    if len(data_files) != 1:
        raise InvalidInputError("--rollout takes one --data file of trajectories")
    trajectories, grid, pde = read_trajectories(data_files[0], time_stride, space_stride)
    trajectories = trajectories[:train_samples] if train_samples else trajectories
    if test_files:
        parts = [read_trajectories(p, time_stride, space_stride)[0] for p in test_files]
        shapes = {tuple(part.shape[1:]) for part in parts} | {tuple(trajectories.shape[1:])}
        if len(shapes) > 1:
            raise InvalidInputError(f"--rollout needs test trajectories shaped like the training ones (T, C, *S); "
                                    f"got {sorted(shapes)}")
        test = torch.cat(parts)
    else:
        n_test = max(1, round(holdout * len(trajectories)))
        if len(trajectories) - n_test < 1:
            raise InvalidInputError(f"{len(trajectories)} trajectories are too few to hold out a test set")
        trajectories, test = trajectories[:-n_test], trajectories[-n_test:]
    provenance = {"pde": pde, "file": Path(data_files[0]).name, "grid": grid, "time_stride": time_stride,
                  "space_stride": space_stride, "resolution": int(trajectories.shape[-1])}
    train_windows, test_windows = (training_pairs(t, history, bundle, spacetime, provenance) for t in (trajectories, test))
    return {"train": train_windows, "tests": {str(test_windows.resolution): test_windows}, "trajectories": test,
            "history": history, "bundle": bundle, "space_time": spacetime}


def _roll_out(out: Path, report: dict[str, Any], plan: dict[str, Any], device: str) -> dict[str, Any]:
    """Roll the trained model out over the test trajectories, on the training device; add it to
    the report and draw it."""
    from oplearn.train.io import save_json
    from oplearn.train.rollout_report import roll_out_run
    from oplearn.train.trainer import load_surrogate, resolve_device

    surrogate = load_surrogate(out)[0].to(resolve_device(device))
    roll = roll_out_run(surrogate, plan["trajectories"], plan["history"], plan["bundle"], out / "rollout.png",
                        spacetime=plan["space_time"])
    report = {**report, "rollout": roll}
    save_json(report, out / "report.json")
    return report


def _launch(nproc: int, argv: list[str]) -> int:
    """Run this command line again under ``torchrun --standalone --nproc-per-node nproc`` (without
    ``--nproc``); its exit code."""
    import subprocess

    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            args.append(arg)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "oplearn", *args]
    return subprocess.run(command, check=False).returncode


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--data", "data_files", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Dataset to evaluate on (repeat for shards).")
@click.option("--subsample", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--precision", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True,
              help="Arithmetic of the model's matrix products (bfloat16: faster on CPUs with AVX-512 BF16 "
                   "and on GPUs; see docs/training.md).")
def evaluate(run_dir: Path, data_files: tuple[Path, ...], subsample: int, precision: str) -> None:
    """Relative L2 error of a trained run on a dataset (any resolution)."""
    from oplearn.data.dataset import load
    from oplearn.errors import InvalidInputError
    from oplearn.train.io import save_json
    from oplearn.train.trainer import evaluate_rel_l2, load_surrogate

    surrogate, ckpt = load_surrogate(run_dir)
    data = load(data_files, subsample, allow_partial=True)  # e.g. one shard of a test set
    spec = ckpt["data_spec"]
    if data.inputs.shape[1] != spec["in_channels"] or data.inputs.ndim - 2 != spec["ndim"]:
        raise InvalidInputError(
            f"data has {data.inputs.shape[1]} input channels in {data.inputs.ndim - 2}D; "
            f"the model takes {spec['in_channels']} in {spec['ndim']}D"
        )
    start = time.perf_counter()
    error = evaluate_rel_l2(surrogate, data, precision=precision)
    seconds = time.perf_counter() - start
    result = {"data": [str(p) for p in data_files], "resolution": data.resolution,
              "samples": len(data), "test_rel_l2": error, "shard": data.provenance.get("shard"),
              "precision": precision, "ms_per_sample": 1e3 * seconds / len(data)}
    suffix = "" if precision == "float32" else f"_{precision}"
    save_json(result, Path(run_dir) / f"evaluation_s{data.resolution}_{Path(data_files[0]).stem}{suffix}.json")
    click.echo(f"relative L2 at s = {data.resolution} over {len(data)} samples: {error:.5f} "
               f"({result['ms_per_sample']:.2f} ms/sample, {precision})")


@cli.group(name="data")
def data_group() -> None:
    """Dataset files: check that shards make one whole dataset, merge them into one file."""


@data_group.command(name="verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def data_verify(files: tuple[Path, ...]) -> None:
    """Check that FILES (the shards of `oplearn generate --shard k/n`, or one whole file) make one
    complete dataset: one provenance, contiguous samples from 0 to the total, no overlap, matching
    shapes, no NaN. Exit code 0 when they do, else one line and exit code 2."""
    from oplearn.data.shards import verify

    shards = verify(files)
    ranges = ", ".join(f"{p} [{a}, {b})" for p, (a, b) in zip(shards.paths, shards.ranges, strict=True))
    click.echo(f"ok: {shards.samples} samples of {shards.provenance.get('pde', 'a dataset')} in "
               f"{len(shards.paths)} file(s), no NaN: {ranges}")


@data_group.command(name="merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The merged dataset file (must not exist).")
def data_merge(files: tuple[Path, ...], out: Path) -> None:
    """Merge the shards FILES into one dataset file, after the checks of `oplearn data verify`;
    streams block by block and writes atomically (nothing at --out unless complete)."""
    from oplearn.data.shards import merge

    shards = merge(files, out)
    click.echo(f"wrote {out}: {shards.samples} samples from {len(shards.paths)} file(s)")


PDEBENCH_PROBLEMS = {"advection": ("beta",), "reaction-diffusion": ("nu", "rho")}


@data_group.command(name="pdebench")
@click.argument("name", type=click.Choice(sorted(PDEBENCH_PROBLEMS)))
@click.option("--samples", type=click.IntRange(min=1), required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="HDF5 file in PDEBench's single-file layout (tensor, x-coordinate, t-coordinate).")
@click.option("--param", multiple=True, metavar="KEY=VALUE",
              help="advection: beta (default 0.1); reaction-diffusion: nu, rho (default 0.5, 1.0).")
@click.option("--resolution", type=click.IntRange(min=4), default=1024, show_default=True)
@click.option("--steps", type=click.IntRange(min=2), help="Stored times (default 201 advection, 101 reaction-diffusion).")
@click.option("--seed", type=int, default=0, show_default=True)
def data_pdebench(name: str, samples: int, out: Path, param: tuple[str, ...], resolution: int,
                  steps: int | None, seed: int) -> None:
    """Generate PDEBench's 1D NAME problem and write it in PDEBench's own layout (readable by its
    scripts and by `oplearn.data.pdebench.read_pdebench`). Advection is solved exactly (a shift)."""
    from oplearn.data.pdebench import write_pdebench
    from oplearn.errors import InvalidInputError
    from oplearn.pdes import pdebench_advection, pdebench_reaction_diffusion

    values = {"beta": 0.1} if name == "advection" else {"nu": 0.5, "rho": 1.0}
    given = parse_params(param)
    unknown = set(given) - set(PDEBENCH_PROBLEMS[name])
    if unknown:
        raise InvalidInputError(f"{name} takes {', '.join(PDEBENCH_PROBLEMS[name])}; not {', '.join(sorted(unknown))}")
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInputError(f"--param {key}: a finite number, got {value!r}")
        values[key] = float(value)
    if out.exists():
        raise InvalidInputError(f"{out} exists; choose another --out or remove it")
    if not out.parent.is_dir():
        raise InvalidInputError(f"{out.parent}: no such directory")
    if name == "advection":
        u, x, t = pdebench_advection.solve(samples, values["beta"], resolution=resolution, steps=steps or 201,
                                           seed=seed)
    else:
        u, x, t = pdebench_reaction_diffusion.solve(samples, values["nu"], values["rho"], resolution=resolution,
                                                    steps=steps or 101, seed=seed)
    attrs = {"beta": values["beta"]} if name == "advection" else {"Nu": values["nu"], "rho": values["rho"]}
    write_pdebench(out, u, x, t, {**attrs, "generator": f"oplearn {name}", "seed": seed})
    click.echo(f"wrote {out}: {samples} samples, {u.shape[1]} times, {resolution} points ({name}, "
               + ", ".join(f"{k}={v:g}" for k, v in values.items()) + ")")


@cli.command(name="pinn")
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run directory (report.json, prediction.npz, metrics.jsonl, checkpoint.pt, figures).")
@click.option("--optimizer", help="gauss-newton (damped, in sample space), lbfgs or adam "
              "(default: the problem's best measured setting, `oplearn info --pinn NAME`).")
@click.option("--steps", type=int, help="Optimiser steps (L-BFGS: iterations).")
@click.option("--time-limit", type=float, help="Stop after this many seconds of training, even before --steps "
              "(the report's stop_reason says which limit ended it).")
@click.option("--points", type=int, help="PDE collocation points (per step when resampled).")
@click.option("--width", type=int, help="Hidden units per layer.")
@click.option("--depth", type=int, help="Hidden layers.")
@click.option("--lr", type=float, help="Adam's learning rate.")
@click.option("--schedule", help="Adam's learning rate over the steps: constant or cosine (to lr/100).")
@click.option("--dtype", help="float64 or float32.")
@click.option("--dim", type=int, help="Dimension, for problems that take one (the two-body problems).")
@click.option("--resample", help="none, fresh (new points) or rad (residual-based adaptive).")
@click.option("--resample-every", type=int, help="Steps between resamplings.")
@click.option("--causal", type=float, help="Causal weighting strength for time-dependent problems (0: off).")
@click.option("--fit-output/--no-fit-output", default=None,
              help="Fit the network's output layer by least squares before training (gives the solution's "
              "magnitude at once; default: on for the two-body problems).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Network, collocation points and the exact solution's random coefficients.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def pinn_command(name, out, dim, resume, quiet, **options) -> None:
    """Solve the PDE NAME without data (`oplearn info --pinn` lists them)."""
    from oplearn import pinn

    settings = pinn.PinnSettings(**options)
    report = pinn.solve(name, out, settings, progress=not quiet, dim=dim, resume=resume)  # checks first
    click.echo(f"{name}: relative L2 {report['rel_l2']:.3e} after {report['steps']} {report['optimizer']} "
               f"steps in {report['train_seconds']:.1f} s ({report['parameters']:,} parameters)")
    for key, value in report.get("unknowns", {}).items():
        true = report.get("unknowns_true", {}).get(key)
        click.echo(f"  recovered {key} = {value:.6g}" + (f" (true {true:.6g}, error "
                                                          f"{100 * abs(value - true) / abs(true):.2f}%)" if true else ""))
    click.echo(f"  stopped: {report['stop_reason']}")
    click.echo(f"  report: {out / 'report.json'}")


@cli.command(name="run")
@click.argument("pde")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory (data, checkpoint, report, figures); default runs/PDE.")
@click.option("--preset", default="default", show_default=True,
              help="default (laptop CPU, minutes) or paper (the FNO paper's setting, for a GPU); for "
              "navier-stokes also rollout (a model that steps forward, rolled out; CPU, about ten minutes), "
              "rollout-3d (the same with a space-time FNO-3D) and rollout-paper (the FNO paper's 10 -> 40 "
              "steps, for a GPU).")
@click.option("--train-samples", type=click.IntRange(min=1))
@click.option("--test-samples", type=click.IntRange(min=1))
@click.option("--workers", type=click.IntRange(min=1), help="Processes for data generation.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@_training_options
def run_command(pde, out, preset, train_samples, test_samples, workers, resume, quiet, **options):
    """Generate data, train, evaluate at training and finer resolutions, report."""
    from oplearn.run import run

    out = out if out is not None else Path("runs") / pde
    overrides: dict[str, Any] = {k: v for k, v in (("train_samples", train_samples),
                                                     ("test_samples", test_samples),
                                                     ("workers", workers)) if v is not None}
    train_overrides = _train_overrides(options)
    if train_overrides:
        from oplearn.run import load_preset

        overrides["train"] = _merge(load_preset(pde, preset)["train"], train_overrides)
    report = run(pde, out, preset=preset, overrides=overrides, resume=resume, progress=not quiet,
                 device=options["device"])
    _print_summary(report, out)


def _print_summary(report: dict[str, Any], out: Path) -> None:
    click.echo(f"model {report['model']}: {report['parameters']:,} parameters, "
               f"{report['epochs']} epochs on {report['train_samples']} samples at "
               f"s = {report['train_resolution']} in {report['train_seconds']:.1f} s")
    for label, error in report["test_rel_l2"].items():
        click.echo(f"  test relative L2 at s = {label}: {error:.4f}" + (" (one step, true inputs)" if "rollout" in report else ""))
    if "rollout" in report:
        roll = report["rollout"]
        click.echo(f"  rollout over {roll['test_trajectories']} test trajectories, {len(roll['per_step_rel_l2'])} steps "
                   f"from {roll['history']} given: relative L2 {roll['rollout_rel_l2']:.4f}, last step "
                   f"{roll['final_step_rel_l2']:.4f}" + (f", PDEBench nRMSE {roll['pdebench']['nrmse']:.4f}"
                                                          if "pdebench" in roll else ""))
    if "timing" in report:
        for line in timing_lines(report["timing"]):
            click.echo(f"  {line}")
    click.echo(f"  report: {out / 'report.json'}")


def timing_lines(timing: dict[str, Any]) -> list[str]:
    """The report's timing as two comparisons: one sample at a time, and equal batches."""
    model, unit = timing["model"], timing.get("unit", "sample")
    lines = []
    for mode, label in (("one_at_a_time", "one sample at a time"), ("batched", "in batches")):
        solver = timing["solver"][mode]
        if solver is None:
            lines.append(f"{label}: no batched solver (generation solves one sample at a time)")
            continue
        ratio = timing[f"speedup_{mode}"]
        verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
        lines.append(f"{label}: solver ({solver['solver']}, batch {solver['batch']}, {solver['resolution']} "
                     f"points/axis, {solver['device']}) {solver['seconds_per_sample'] * 1e3:.2f} ms/{unit}, "
                     f"model (batch {model[mode]['batch']}, s = {model['resolution']}, {model['device']}) "
                     f"{model[mode]['seconds_per_sample'] * 1e3:.3f} ms/{unit}: the model is {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every user error into one line and exit code 2."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        result = cli.main(args=argv, prog_name="oplearn", standalone_mode=False, obj={"argv": argv})
        return result if isinstance(result, int) else 0
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.ClickException as exc:
        click.echo(f"oplearn: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT
    except TrainingDivergedError as exc:
        click.echo(f"oplearn: error: {exc}", err=True)
        return 1
    except OplearnError as exc:
        click.echo(f"oplearn: error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("oplearn: interrupted", err=True)
        return 130


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s code."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()

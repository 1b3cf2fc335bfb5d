"""The main job: generate data with a verified solver, train a neural operator, evaluate it at
the training resolution and finer ones, and time the model against the solver.

Everything is checked before the first solve (:func:`plan_run`: the preset, every problem
parameter, the resolutions, the training options, and the model itself, built for the data's
channels), so a typo costs a second, not the data generation.

Timing (``report["timing"]``, one thread each): the solver one sample at a time and in batches
the way generation solved the data (``solver="auto"`` resolved by
:func:`oplearn.pdes.problem.choose_solver` for each), each at the grid it computes on; the model
at batch 1 and at the same batch size, on the finest test grid. The printed ratios compare
solver and model one at a time, and solver and model in equal batches.

A preset with a ``rollout`` mapping runs the rollout mode instead (:mod:`oplearn.run_rollout`): a
model that steps forward (or a space-time one), rolled out over the test trajectories and timed
against the solver over the same stretch of time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oplearn.data.dataset import check_subsample, load
from oplearn.data.generation import CHUNK_SIZE, GPU_CHUNK_SIZE, generate, plan_generation
from oplearn.data.generation import check_device as check_generation_device
from oplearn.errors import InvalidInputError
from oplearn.pdes import problem as problems
from oplearn.pdes.parameters import Integer
from oplearn.run_rollout import (
    SPACE_TIME_PUSHFORWARD,
    RolloutSettings,
    model_channels,
    rollout_data,
    rollout_settings,
    solver_span,
    time_rollout,
)
from oplearn.train.config import TrainConfig, load_yaml
from oplearn.train.io import save_json
from oplearn.train.rollout_report import roll_out_run
from oplearn.train.trainer import (
    CHECKPOINT,
    Surrogate,
    build_model,
    load_surrogate,
    resolve_device,
    train,
)

PRESET_KEYS = {"pde", "resolution", "train_samples", "test_samples", "train_subsample",
               "test_subsamples", "seed", "workers", "train", "params", "rollout"}


def preset_path(pde: str, preset: str) -> Path:
    name = pde.replace("-", "_") + ("" if preset == "default" else f"_{preset.replace('-', '_')}") + ".yaml"
    path = Path(str(resources.files("oplearn.configs").joinpath(name)))
    if not path.is_file():
        raise InvalidInputError(f"no preset {preset!r} for {pde!r}")
    return path


def load_preset(pde: str, preset: str = "default", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The preset for ``pde`` with top-level ``overrides`` (and ``train`` sub-keys) applied."""
    values = load_yaml(preset_path(pde, preset))
    for key, value in (overrides or {}).items():
        if key == "train":
            values["train"] = {**values.get("train", {}), **value}
        else:
            values[key] = value
    unknown = set(values) - PRESET_KEYS
    if unknown:
        raise InvalidInputError(f"unknown preset key(s): {', '.join(sorted(unknown))}")
    return values


@dataclass(frozen=True)
class RunPlan:
    """What :func:`run` will do, checked: the preset's values, the problem's checked parameters,
    the training configuration and where data are solved."""

    pde: str
    preset: str
    cfg: dict[str, Any]
    params: dict[str, Any]
    train_config: TrainConfig
    device: torch.device
    generation_device: str
    out_dir: Path
    rollout: RolloutSettings | None = None  # the preset's rollout mode (oplearn.run_rollout)


def plan_run(pde: str, out_dir: str | Path, *, preset: str = "default",
             overrides: dict[str, Any] | None = None, resume: bool = False,
             device: str = "cpu") -> RunPlan:
    """Check everything :func:`run` is given, the model included (built once for the data's
    channels and thrown away); writes nothing. Raises :class:`InvalidInputError`."""
    problem = problems.get(pde)
    cfg = load_preset(pde, preset, overrides)
    out_dir = Path(out_dir)
    if (out_dir / CHECKPOINT).exists() and not resume:
        raise InvalidInputError(f"{out_dir} already holds a run; pass --resume or choose another --out")
    for key, low in (("resolution", 3), ("train_samples", 1), ("test_samples", 1), ("workers", 1),
                     ("seed", 0)):
        Integer(low, low=low).check(f"preset value {key}", cfg.get(key))
    subsamples = cfg.get("test_subsamples")
    if not isinstance(subsamples, list) or not subsamples:
        raise InvalidInputError(f"preset value test_subsamples must be a list, got {subsamples!r}")
    s = cfg["resolution"]
    params = problem.check(s, cfg.get("params", {}))
    for r in [cfg.get("train_subsample"), *subsamples]:
        check_subsample(problem.grid, s, r)
    train_config = TrainConfig.from_dict(cfg["train"])
    c_in, c_out = problem.channels(params)
    rolling = None
    if "rollout" in cfg:
        rolling = rollout_settings(cfg["rollout"], params, (c_in, c_out))
        c_in, c_out = model_channels(rolling, (c_in, c_out))
        if rolling.space_time and train_config.pushforward:
            raise InvalidInputError(SPACE_TIME_PUSHFORWARD)
    elif train_config.pushforward:
        raise InvalidInputError("pushforward trains a model that steps forward: use a rollout preset")
    ndim = problem.ndim + int(rolling is not None and rolling.space_time)
    spec = {"in_channels": c_in, "out_channels": c_out, "ndim": ndim, "grid": problem.grid}
    build_model(train_config, spec)  # a bad model or option fails here, before any solve
    device = resolve_device(device)
    generation_device = device.type if problem.solve_batch is not None else "cpu"
    check_generation_device(pde, problem, generation_device)
    plan = RunPlan(pde, preset, cfg, params, train_config, device, generation_device, out_dir, rolling)
    if (out_dir / "data").is_dir():  # data of an earlier run: their settings must be this run's
        for name, samples, seed in _data_files(plan):
            plan_generation(pde, samples=samples, seed=seed, out=out_dir / "data" / name,
                            **_generation_options(plan))
    return plan


def _data_files(plan: RunPlan) -> list[tuple[str, int, int]]:
    """``(file name, samples, seed)`` of the run's training and test data."""
    cfg = plan.cfg
    return [("train.h5", cfg["train_samples"], cfg["seed"]),
            ("test.h5", cfg["test_samples"], cfg["seed"] + 1)]


def _generation_options(plan: RunPlan) -> dict[str, Any]:
    return {"resolution": plan.cfg["resolution"], "workers": plan.cfg["workers"],
            "params": plan.params, "device": plan.generation_device}


def time_solver(pde: str, resolution: int, params: dict[str, Any], *, batch: int = 1,
                samples: int = 5, device: str = "cpu", seed: int = 12345) -> dict[str, Any] | None:
    """Seconds per sample of the classical solver (warm, this process's threads).

    ``batch=1``: ``samples`` solves one at a time (``Problem.solve_one``). ``batch > 1``: one
    batch of ``batch`` samples through the batched solver generation uses (``solve_batch``),
    after a warm-up on one sample; ``None`` for problems that have none. ``solver="auto"`` is
    resolved for ``batch`` by :func:`oplearn.pdes.problem.choose_solver`. Returns the seconds,
    the solver, the batch and the grid the solver computes on (``solver_resolution`` for
    problems solved on a finer grid than stored)."""
    problem = problems.get(pde)
    params = problem.params(**params)
    if batch > 1 and problem.solve_batch is None:
        return None
    if params.get("solver") == "auto":
        params["solver"] = problems.choose_solver(problem, resolution, device, batch)
    count = samples if batch == 1 else batch
    inputs = np.stack([problem.sample_input(np.random.default_rng([seed, i]), resolution, params)
                       for i in range(count + 1)])
    if batch == 1:
        problem.solve_one(inputs[0], params)
        start = time.perf_counter()
        for x in inputs[1:]:
            problem.solve_one(x, params)
    else:
        problem.solve_batch(inputs[:1], params, device)
        start = time.perf_counter()
        problem.solve_batch(inputs[1:], params, device)
    seconds = (time.perf_counter() - start) / count
    return {"seconds_per_sample": seconds, "solver": params.get("solver", "-"), "batch": batch,
            "samples": count, "resolution": int(inputs.shape[-1]), "device": device}


def time_model(surrogate: Surrogate, inputs: torch.Tensor, batch: int = 16, repeats: int = 3,
               samples: int = 32) -> float:
    """Seconds per sample of inference (normalisation included) in batches of exactly ``batch``
    over ``max(samples, batch)`` inputs (``inputs`` repeated if there are fewer), after a warm-up
    on one full batch."""
    count = batch * max(1, -(-samples // batch))  # whole batches only
    inputs = inputs.repeat(-(-count // len(inputs)), *(1,) * (inputs.ndim - 1))[:count]
    surrogate.predict(inputs[:batch], batch_size=batch)
    start = time.perf_counter()
    for _ in range(repeats):
        surrogate.predict(inputs, batch_size=batch)
    return (time.perf_counter() - start) / (repeats * count)


def _timing(plan: RunPlan, params: dict[str, Any], seconds_per_model: Callable[[int], float], resolution: int,
            unit: str = "sample") -> dict[str, Any]:
    """The solver on ``params`` and the model (``seconds_per_model(batch)``: seconds per
    ``unit`` at that batch size, at ``resolution``) one at a time and in generation's batches
    (module notes)."""
    batch = CHUNK_SIZE if plan.generation_device == "cpu" else GPU_CHUNK_SIZE
    s = plan.cfg["resolution"]
    # One thread each, as generation workers run: intra-op threads on small FFTs and stencils
    # cost more than they give when the other cores are busy.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        solver_one = time_solver(plan.pde, s, params)
        solver_batched = time_solver(plan.pde, s, params, batch=batch, device=plan.generation_device)
        with torch.inference_mode():
            model_one, model_batched = seconds_per_model(1), seconds_per_model(batch)
    finally:
        torch.set_num_threads(threads)
    return {
        "threads": 1, "unit": unit,
        "solver": {"one_at_a_time": solver_one, "batched": solver_batched},
        "model": {"resolution": resolution, "device": str(plan.device),
                  "one_at_a_time": {"seconds_per_sample": model_one, "batch": 1},
                  "batched": {"seconds_per_sample": model_batched, "batch": batch}},
        "speedup_one_at_a_time": solver_one["seconds_per_sample"] / model_one,
        "speedup_batched": (solver_batched["seconds_per_sample"] / model_batched
                            if solver_batched else None),
    }


def run(pde: str, out_dir: str | Path, *, preset: str = "default",
        overrides: dict[str, Any] | None = None, resume: bool = False,
        progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Check everything (:func:`plan_run`), then generate train and test data, train, evaluate and
    time; write ``out_dir/report.json``."""
    plan = plan_run(pde, out_dir, preset=preset, overrides=overrides, resume=resume, device=device)
    cfg, out_dir = plan.cfg, plan.out_dir
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    train_file, test_file = (generate(pde, samples=samples, seed=seed, out=out_dir / "data" / name,
                                      progress=progress, **_generation_options(plan)).path
                             for name, samples, seed in _data_files(plan))
    if plan.rollout is not None:
        train_data, tests, test_trajectories = rollout_data(train_file, test_file, plan.rollout,
                                                            cfg["train_subsample"], cfg["test_subsamples"], pde)
    else:
        train_data = load(train_file, cfg["train_subsample"])
        tests = {}
        for r in cfg["test_subsamples"]:
            data = load(test_file, r)
            tests[str(data.resolution)] = data
    # A run stopped during data generation has no checkpoint yet: --resume then trains afresh.
    report = train(plan.train_config, train_data, tests, out_dir, progress=progress, device=plan.device,
                   resume=resume and (out_dir / CHECKPOINT).exists())

    surrogate = load_surrogate(out_dir)[0].to(plan.device)
    finest = max(tests.values(), key=lambda d: d.resolution)
    report.update({"pde": pde, "preset": preset, "data_resolution": cfg["resolution"]})
    if plan.rollout is not None:
        roll = roll_out_run(surrogate, test_trajectories, plan.rollout.history, plan.rollout.bundle,
                            out_dir / "rollout.png", spacetime=plan.rollout.space_time)
        report.update(rollout=roll, rollout_rel_l2=roll["rollout_rel_l2"], final_step_rel_l2=roll["final_step_rel_l2"],
                      timing=_timing(plan, solver_span(plan.params, plan.rollout),
                                     lambda b: time_rollout(surrogate, test_trajectories, plan.rollout, batch=b),
                                     int(test_trajectories.shape[-1]),
                                     f"rollout of {plan.rollout.steps - plan.rollout.history} steps"))
    else:
        report["timing"] = _timing(plan, plan.params, lambda b: time_model(surrogate, finest.inputs, batch=b),
                                   finest.resolution)
    report["data_files"] = {"train": str(train_file), "test": str(test_file)}
    save_json(report, out_dir / "report.json")
    return report

"""The main job: generate data with a verified solver, train a neural operator, evaluate it at
the training resolution and finer ones, and time the model against the solver."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oplearn.data.dataset import FieldDataset, load
from oplearn.data.generation import generate
from oplearn.errors import InvalidInputError
from oplearn.pdes import problem as problems
from oplearn.train.config import TrainConfig, load_yaml
from oplearn.train.io import save_json
from oplearn.train.trainer import Surrogate, load_surrogate, resolve_device, train

PRESET_KEYS = {"pde", "resolution", "train_samples", "test_samples", "train_subsample",
               "test_subsamples", "seed", "workers", "train", "params"}


def preset_path(pde: str, preset: str) -> Path:
    name = pde.replace("-", "_") + ("" if preset == "default" else f"_{preset}") + ".yaml"
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


def time_solver(pde: str, resolution: int, params: dict[str, Any], samples: int = 5,
                seed: int = 12345) -> float:
    """Seconds per sample of the classical solver at ``resolution`` (one process, warm)."""
    problem = problems.get(pde)
    params = problem.params(**params)
    inputs = [problem.sample_input(np.random.default_rng([seed, i]), resolution, params)
              for i in range(samples + 1)]
    problem.solve_one(inputs[0], params)
    start = time.perf_counter()
    for x in inputs[1:]:
        problem.solve_one(x, params)
    return (time.perf_counter() - start) / samples


def time_model(surrogate: Surrogate, data: FieldDataset, repeats: int = 3) -> float:
    """Seconds per sample of batched inference (normalisation included) on ``data``."""
    surrogate.predict(data.inputs[:2])
    start = time.perf_counter()
    for _ in range(repeats):
        surrogate.predict(data.inputs)
    return (time.perf_counter() - start) / (repeats * len(data))


def run(pde: str, out_dir: str | Path, *, preset: str = "default",
        overrides: dict[str, Any] | None = None, resume: bool = False,
        progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Generate train and test data, train, evaluate and time; write ``out_dir/report.json``."""
    cfg = load_preset(pde, preset, overrides)
    out_dir = Path(out_dir)
    if (out_dir / "checkpoint.pt").exists() and not resume:
        raise InvalidInputError(f"{out_dir} already holds a run; pass --resume or choose another --out")
    train_config = TrainConfig.from_dict(cfg["train"])  # validate before any work
    device = resolve_device(device)
    s, r_train = cfg["resolution"], cfg["train_subsample"]
    params = cfg.get("params", {})
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    batched = problems.get(pde).solve_batch is not None
    gen = {"resolution": s, "workers": cfg["workers"], "params": params, "progress": progress,
           "device": device.type if batched else "cpu"}  # batched PyTorch solvers follow --device
    train_file = generate(pde, samples=cfg["train_samples"], seed=cfg["seed"],
                          out=out_dir / "data" / "train.h5", **gen).path
    test_file = generate(pde, samples=cfg["test_samples"], seed=cfg["seed"] + 1,
                         out=out_dir / "data" / "test.h5", **gen).path
    train_data = load(train_file, r_train)
    tests = {}
    for r in cfg["test_subsamples"]:
        data = load(test_file, r)
        tests[str(data.resolution)] = data
    report = train(train_config, train_data, tests, out_dir, resume=resume, progress=progress,
                   device=device)

    surrogate = load_surrogate(out_dir)[0].to(device)
    finest = max(tests.values(), key=lambda d: d.resolution)
    # Solver and model are timed on one thread each, as generation workers run: intra-op threads
    # on small FFTs and stencils cost more than they give when the other cores are busy.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        solver_s = time_solver(pde, finest.resolution, params)
        with torch.inference_mode():
            model_s = time_model(surrogate, finest)
    finally:
        torch.set_num_threads(threads)
    report.update({
        "pde": pde,
        "preset": preset,
        "solver_resolution": s,
        "timing_resolution": finest.resolution,
        "timing_threads": 1,
        "solver_seconds_per_sample": solver_s,
        "model_seconds_per_sample": model_s,
        "speedup": solver_s / model_s,
        "data_files": {"train": str(train_file), "test": str(test_file)},
    })
    save_json(report, out_dir / "report.json")
    return report

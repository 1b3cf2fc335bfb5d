"""Scale-out and speed: processes, data-generation workers, streaming memory, inference switches,
and our training defaults against the `neuraloperator` package's example settings.

    python benchmarks/scaling.py                          # every group; writes benchmarks/results/scaling.json
    python benchmarks/scaling.py --only inference,defaults  # some groups (each replaces its section)

Groups (each a section of the results file, measured in one run of this script):

- ``processes``: `oplearn train` on the demo's Darcy data (1000 samples at 33 x 33, 5 epochs) with
  one process (all cores' threads) and with ``--nproc 2`` (torchrun, Gloo, one thread each):
  training samples per second from each run's ``train_seconds`` (which includes the per-epoch
  evaluation and checkpoint), the ratio, and both runs' final test errors.
- ``datagen``: `oplearn.data.generate("darcy")` of 1000 samples at 129 x 129 with 1 and 2 workers:
  samples per second (the whole generate call, worker start-up included) and the ratio.
- ``memory``: peak resident memory (``ru_maxrss`` over the child and its reader process: the larger one) of
  `oplearn train` on a 6000 x 129 x 129 dataset (about 800 MB of float32) read into memory and
  streamed (``--stream``), one epoch of a small FNO (width 8, 4 modes, one layer, projection 8,
  batch 20), whose activations are small next to the data.
- ``inference``: the demo's trained model (``runs/bench-darcy/default``, trained with
  `oplearn run darcy` there if absent) against the solver that generated its data, one thread,
  at 65 x 65: milliseconds per sample at batch 1, 16 and 100 (the solver one at a time at batch
  1 and batched multigrid at 16 and 100, as generation chooses); the model with each speed
  switch: ``plain`` (one model call per batch, as before), ``chunked`` (the default:
  `Surrogate.predict` splits CPU batches into cache-sized chunks), ``+bf16`` (bfloat16 autocast)
  and ``+compile`` (``torch.compile`` of the model); each with its test error at 65 (zero-shot)
  and 33.
- ``defaults``: Darcy at 16 x 16 (1000 training samples; tests at 16 and, zero-shot, 32; our
  generator, coefficients 3/12), 100 epochs, one thread: `oplearn train --model fno --epochs 100`
  as a new user types it, against the `neuraloperator` package's Darcy example settings
  (`neuralop_darcy_example.py`) and our FNO at those settings: errors, training seconds, ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from groups import chosen_groups
from machine import describe

from oplearn.data import generate, load
from oplearn.train import load_surrogate, relative_l2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "scaling.json"
DATA = ROOT / "benchmarks" / ".envs" / "data" / "scaling"
DEMO_RUN = ROOT / "runs" / "bench-darcy" / "default"
OPLEARN = [sys.executable, "-m", "oplearn"]


def _oplearn(args: list[str], threads: int | None = None) -> None:
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    subprocess.run(OPLEARN + args, check=True, env=env)


def _demo_data() -> tuple[Path, Path]:
    if not (DEMO_RUN / "checkpoint.pt").exists():
        from oplearn.run import run

        print(f"training the demo model in {DEMO_RUN} (oplearn run darcy) ...", flush=True)
        run("darcy", DEMO_RUN, progress=False)
    return DEMO_RUN / "data" / "train.h5", DEMO_RUN / "data" / "test.h5"


def processes() -> dict:
    train, test = _demo_data()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for nproc in (1, 2):
            out = Path(tmp) / f"n{nproc}"
            _oplearn(["train", "--data", str(train), "--test-data", str(test), "--subsample", "2",
                      "--epochs", "5", "--out", str(out), "--quiet",
                      "--nproc", str(nproc)])
            report = json.loads((out / "report.json").read_text())
            rows[f"{nproc} process" + ("es" if nproc > 1 else "")] = {
                "samples_per_second": 5 * report["train_samples"] / report["train_seconds"], "train_seconds": report["train_seconds"],
                "test_rel_l2": report["test_rel_l2"], "threads_per_process": torch.get_num_threads() if nproc == 1 else 1}
    one, two = (r["samples_per_second"] for r in rows.values())
    return {"rows": rows, "ratio_2_over_1": two / one}


def datagen() -> dict:
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            start = time.perf_counter()
            generate("darcy", samples=1000, resolution=129, seed=7, out=Path(tmp) / f"w{workers}.h5",
                     workers=workers, progress=False)
            seconds = time.perf_counter() - start
            rows[f"{workers} worker" + ("s" if workers > 1 else "")] = {"seconds": seconds, "samples_per_second": 1000 / seconds}
    one, two = (r["samples_per_second"] for r in rows.values())
    return {"rows": rows, "ratio_2_over_1": two / one, "samples": 1000, "resolution": 129}


def _peak_child_memory(args: list[str]) -> float:
    """Peak resident MB of ``oplearn ARGS`` run from a fresh wrapper process (so no other child counts)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *OPLEARN, *args], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def memory() -> dict:
    from oplearn.data.hdf5 import write_file

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "memory_6000x129.h5"
    n, s = 6000, 129
    if not path.exists():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 1, s, s), dtype=np.float32)
        write_file(path, x, np.cumsum(x, axis=-1) / s, {"pde": "synthetic", "params": {}, "grid": "node", "ndim": 2,
                                                       "resolution": s, "seed": 0, "samples_total": n})
        del x
    gigabytes = 2 * n * s * s * 4 / 1e9
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("in memory", []), ("streamed", ["--stream"])):
            args = ["train", "--data", str(path), "--out", str(Path(tmp) / label.replace(" ", "_")), "--epochs", "1",
                    "--batch-size", "20", "--width", "8", "--modes", "4", "--layers", "1",
                    "--model-option", "projection_channels=8", "--quiet", *extra]
            start = time.perf_counter()
            rows[label] = {"peak_mb": _peak_child_memory(args), "seconds": time.perf_counter() - start}
    return {"rows": rows, "dataset_gb": gigabytes, "samples": n, "resolution": s}


def _ms_per_sample(predict, inputs: torch.Tensor, batch: int, samples: int = 100) -> float:
    count = batch * max(1, samples // batch)
    x = inputs.repeat(-(-count // len(inputs)), 1, 1, 1)[:count]
    predict(x[:batch], batch)  # warm-up (and, compiled, compilation)
    start = time.perf_counter()
    predict(x, batch)
    return 1e3 * (time.perf_counter() - start) / count


def inference() -> dict:
    from oplearn.pdes import problem as problems
    from oplearn.run import time_solver

    _, test_file = _demo_data()
    tests = {str(d.resolution): d for d in (load(test_file, 1), load(test_file, 2))}
    finest = tests["65"]
    surrogate, _ = load_surrogate(DEMO_RUN)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    params = problems.get("darcy").params()
    solver = {}
    for batch in (1, 16, 100):
        facts = time_solver("darcy", 65, dict(params), batch=batch, samples=10)
        solver[str(batch)] = {"ms_per_sample": 1e3 * facts["seconds_per_sample"], "solver": facts["solver"]}
        print(f"solver batch {batch}: {solver[str(batch)]}", flush=True)
    eager = surrogate.model
    compiled = torch.compile(eager, dynamic=False)
    switches = {"plain": (eager, {"chunked": False}), "chunked": (eager, {}),
                "chunked+bf16": (eager, {"precision": "bfloat16"}), "chunked+compile": (compiled, {}),
                "chunked+bf16+compile": (compiled, {"precision": "bfloat16"})}
    rows = {}
    for name, (model, options) in switches.items():
        surrogate.model = model

        def predict(x, batch, options=options):
            return surrogate.predict(x, batch_size=batch, **options)

        with torch.inference_mode():
            ms = {str(b): _ms_per_sample(predict, finest.inputs, b) for b in (1, 16, 100)}
            sets = {"65": finest} if model is compiled else tests  # compiled: one input shape only
            errors = {label: float(relative_l2(predict(d.inputs, 100), d.outputs)) for label, d in sets.items()}
        speedup = {b: solver[b]["ms_per_sample"] / ms[b] for b in ms}
        rows[name] = {"ms_per_sample": ms, "solver_over_model": speedup, "test_rel_l2": errors}
        print(f"{name:>22}: ms/sample {ms}, solver/model {({b: round(v, 2) for b, v in speedup.items()})}, "
              f"errors {errors}", flush=True)
    surrogate.model = eager
    profile = {str(b): _time_by_operator(surrogate, finest.inputs, b) for b in (1, 100)}
    flops = _flops_per_sample(surrogate.model, finest.inputs[:1])
    print(f"model: {flops / 1e6:.0f} million floating-point operations per sample at 65 x 65", flush=True)
    print(f"where the plain model's time goes (share by operator): {profile}", flush=True)
    torch.set_num_threads(threads)
    return {"solver": solver, "model": rows, "plain_time_by_operator": profile, "model_flops_per_sample": flops,
            "threads": 1, "resolution": 65}


def _flops_per_sample(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Floating-point operations of one forward pass on one sample (matrix products, as
    `torch.utils.flop_counter` counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return float(counter.get_total_flops())


def _time_by_operator(surrogate, inputs: torch.Tensor, batch: int, top: int = 6) -> dict[str, float]:
    """Share of the plain model's CPU time (one call per batch) by PyTorch operator, largest first."""
    from torch.profiler import profile

    x = inputs[:batch].repeat(-(-batch // len(inputs)), 1, 1, 1)[:batch]
    with torch.inference_mode():
        surrogate.predict(x, batch_size=batch, chunked=False)
        with profile() as prof:
            for _ in range(max(1, 16 // batch)):
                surrogate.predict(x, batch_size=batch, chunked=False)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    ranked = sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]
    return {e.key: round(e.self_cpu_time_total / total, 3) for e in ranked}


def _darcy_16() -> dict[str, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    files = {"train": (16, 1000, 1), "16": (16, 100, 2), "32": (32, 100, 3)}
    paths = {}
    for label, (s, n, seed) in files.items():
        paths[label] = generate("darcy", samples=n, resolution=s, seed=seed, out=DATA / f"darcy_{label}_{s}.h5",
                                workers=2, progress=False).path
    return paths


def defaults(epochs: int = 100) -> dict:
    data = _darcy_16()
    tests = [arg for label in ("16", "32") for arg in ("--test-data", str(data[label]))]
    ours = {"oplearn defaults": ["--model", "fno"],
            "oplearn at the example's settings": ["--model", "fno", "--model-option", "modes=[4, 5]",
                                                  "--model-option", "projection_channels=64", "--lr", "0.008",
                                                  "--batch-size", "32", "--loss", "h1"]}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in ours.items():
            out = Path(tmp) / name.replace(" ", "_")
            _oplearn(["train", "--data", str(data["train"]), *tests, "--epochs", str(epochs), "--out", str(out),
                      "--quiet", *args], threads=1)
            report = json.loads((out / "report.json").read_text())
            rows[name] = {key: report[key] for key in ("train_seconds", "test_rel_l2", "parameters")}
            rows[name]["config"] = report["config"]
            print(f"{name}: {rows[name]['test_rel_l2']} in {report['train_seconds']:.1f} s", flush=True)
        out = Path(tmp) / "neuralop.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "neuralop_darcy_example.py"), "--train",
                        str(data["train"]), "--test", f"16={data['16']}", "--test", f"32={data['32']}",
                        "--epochs", str(epochs), "--out", str(out)], check=True)
        rows["neuraloperator example"] = json.loads(out.read_text())
        print(f"neuraloperator example: {rows['neuraloperator example']['test_rel_l2']} in "
              f"{rows['neuraloperator example']['train_seconds']:.1f} s", flush=True)
    rows["oplearn defaults, modes not cut (before)"] = _uncut_defaults(data, epochs)
    theirs = rows["neuraloperator example"]["train_seconds"]
    for row in rows.values():
        row["speed_over_neuraloperator"] = theirs / row["train_seconds"]
    return {"rows": rows, "epochs": epochs, "train_samples": 1000, "threads": 1,
            "note": "our train_seconds include evaluating both test sets and writing a checkpoint every "
                    "epoch; neuraloperator's include neither"}


def _uncut_defaults(data: dict[str, Path], epochs: int) -> dict:
    """Our defaults as they were before modes were cut to the grid: the FNO with 12 modes, passed
    to `train` as a model built outside the registry (which `train` leaves as it is)."""
    from oplearn.models import build
    from oplearn.train import TrainConfig, train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    config = TrainConfig(epochs=epochs)
    torch.manual_seed(config.seed)
    model = build("fno", **config.model_kwargs)
    with tempfile.TemporaryDirectory() as tmp:
        report = train(config, load(data["train"]), {label: load(data[label]) for label in ("16", "32")}, tmp,
                       model=model, progress=False, figures=False)
    torch.set_num_threads(threads)
    row = {key: report[key] for key in ("train_seconds", "test_rel_l2", "parameters")}
    print(f"oplearn defaults, modes not cut: {row['test_rel_l2']} in {row['train_seconds']:.1f} s", flush=True)
    return {**row, "config": {**config.to_dict(), "model_kwargs": {"modes": 12, "width": 32}}}


GROUPS = {"processes": processes, "datagen": datagen, "memory": memory, "inference": inference, "defaults": defaults}


def main() -> None:
    for group in chosen_groups(__doc__.split("\n\n")[0], GROUPS):
        print(f"== {group}", flush=True)
        section = GROUPS[group]()
        results = json.loads(OUT.read_text()) if OUT.exists() else {}
        results[group] = {**section, "machine": describe("cpu"), "date": time.strftime("%Y-%m-%d")}
        OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

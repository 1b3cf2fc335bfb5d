"""Every registered model, and the `neuraloperator` package's FNO and TFNO, on Darcy and Burgers.

One run, the same data and training budget for every model: the oplearn trainer (AdamW, lr 1e-3,
weight decay 1e-4, cosine schedule, relative L2 loss, the same epochs and batch size), each model
with its registry defaults. Reported per model and problem: parameters, seconds per epoch
(evaluation on the test sets included, as the trainer does), peak memory, and relative L2 test
error at the training resolution and zero-shot at a finer one (models that are not
resolution-invariant are evaluated there too, and marked).

    python benchmarks/zoo.py              # CPU-sized default (about half an hour on two cores)
    python benchmarks/zoo.py --full       # the FNO paper's data sizes and 500 epochs (a GPU)
    python benchmarks/zoo.py --models fno unet --problems darcy   # reruns (and replaces) those rows

The first run creates `benchmarks/.envs/neuraloperator` (see neuralop_env.py); `--no-neuraloperator`
leaves the two neuraloperator rows out. Each model trains in its own process, so its peak memory
is its own: on CPU the peak resident set size above the process's size once the data are loaded,
on a GPU `torch.cuda.max_memory_allocated`. Writes `benchmarks/results/zoo[_full].json` and
`zoo[_full].png` (error against parameters and against training time).
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

from neuralop_env import ensure_environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DATA = ROOT / "benchmarks" / ".envs" / "data" / "zoo"

# Problem settings. Darcy: solved at `resolution`, trained on every `train_subsample`-th point,
# tested at each of `test_subsamples`. Burgers likewise in 1D.
SETTINGS = {
    "default": {
        "darcy": {"resolution": 65, "params": {}, "train_subsample": 2, "test_subsamples": [2, 1],
                  "train_samples": 500, "test_samples": 100, "epochs": 10, "batch_size": 20},
        "burgers": {"resolution": 1024, "params": {"solver_resolution": 1024}, "train_subsample": 8,
                    "test_subsamples": [8, 4], "train_samples": 500, "test_samples": 100,
                    "epochs": 20, "batch_size": 20},
    },
    # The FNO paper (Li et al. 2021): Darcy 421 -> 85 (tested at 85 and 141), Burgers 8192 -> 1024
    # (tested at 1024 and 2048), 1000 training and 100 test samples, 500 epochs.
    "full": {
        "darcy": {"resolution": 421, "params": {}, "train_subsample": 5, "test_subsamples": [5, 3],
                  "train_samples": 1000, "test_samples": 100, "epochs": 500, "batch_size": 20},
        "burgers": {"resolution": 8192, "params": {"solver_resolution": 8192}, "train_subsample": 8,
                    "test_subsamples": [8, 4], "train_samples": 1000, "test_samples": 100,
                    "epochs": 500, "batch_size": 20},
    },
}
PDE = {"darcy": "darcy", "burgers": "burgers"}
NEURALOPERATOR_MODELS = ("neuralop-fno", "neuralop-tfno")
# Rows beyond the registry defaults, as "NAME:KEY=VALUE;KEY=VALUE" (values read as YAML): the local
# models with integral kernels only, since their differential kernels fail on rough inputs (README).
VARIANTS = ("local-no:kernels=[integral]", "local-fno:local_kernels=[integral]")


def parse_spec(spec: str) -> tuple[str, dict]:
    """``"NAME"`` or ``"NAME:KEY=VALUE;..."`` -> (registry name, model options)."""
    from oplearn.cli import parse_params

    name, _, options = spec.partition(":")
    return name, parse_params(tuple(filter(None, options.split(";"))))


def register_neuraloperator_models() -> None:
    """Register neuraloperator's FNO and TFNO under our interface, sized like our defaults."""
    from neuralop.models import FNO as TheirFNO
    from neuralop.models import TFNO as TheirTFNO

    from oplearn.models import build, entry
    from oplearn.models.registry import register

    ours = build("fno")
    modes = ours.spectral[0].modes[0]
    width = ours.lifting.linear.out_features
    layers = len(ours.spectral)
    tfno_rank = inspect.signature(entry("tfno").factory).parameters["rank"].default

    def n_modes(ndim):
        # ours keeps -m..m-1 on leading axes and 0..m-1 on the last; neuraloperator's n_modes
        # counts both signs on every axis and keeps n // 2 + 1 on the last
        return (2 * modes,) * (ndim - 1) + (2 * modes - 2,)

    def factory(cls, **extra):
        def make(in_channels=1, out_channels=1, *, ndim=2, grid="node"):
            del grid  # neuraloperator's grid embedding spans [0, 1] on every axis
            return cls(n_modes=n_modes(ndim), in_channels=in_channels, out_channels=out_channels,
                       hidden_channels=width, n_layers=layers, lifting_channel_ratio=0,
                       projection_channel_ratio=4, positional_embedding="grid",
                       use_channel_mlp=False, fno_skip="linear", domain_padding=None, **extra)
        return make

    register("neuralop-fno", factory(TheirFNO), "neuraloperator 2.0 FNO, sized as ours")
    register("neuralop-tfno", factory(TheirTFNO, factorization="Tucker", rank=tfno_rank),
             "neuraloperator 2.0 TFNO (Tucker), rank as ours")


def dataset(problem: str, setting: str, workers: int):
    """Train and test files of ``problem`` (generated once, reused by later runs)."""
    from oplearn.data import generate

    cfg = SETTINGS[setting][problem]
    folder = DATA / f"{problem}_{setting}"
    folder.mkdir(parents=True, exist_ok=True)
    common = {"resolution": cfg["resolution"], "workers": workers, "params": cfg["params"],
              "progress": True}
    train = generate(PDE[problem], samples=cfg["train_samples"], seed=500, out=folder / "train.h5",
                     **common).path
    test = generate(PDE[problem], samples=cfg["test_samples"], seed=501, out=folder / "test.h5",
                    **common).path
    return train, test


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_one(model: str, problem: str, setting: str, files, device: str, seed: int,
              with_neuraloperator: bool, queue) -> None:
    """Child process: train ``model`` on ``problem`` and put its row on ``queue``."""
    import torch

    from oplearn.data import load
    from oplearn.models import entry
    from oplearn.train.config import TrainConfig
    from oplearn.train.trainer import train

    if with_neuraloperator:
        register_neuraloperator_models()
    cfg = SETTINGS[setting][problem]
    name, model_kwargs = parse_spec(model)
    train_data = load(files[0], cfg["train_subsample"])
    tests = {str(d.resolution): d for d in (load(files[1], r) for r in cfg["test_subsamples"])}
    config = TrainConfig.from_dict({"model": name, "model_kwargs": model_kwargs, "epochs": cfg["epochs"],
                                    "batch_size": cfg["batch_size"], "lr": 1e-3,
                                    "weight_decay": 1e-4, "scheduler": "cosine", "loss": "l2",
                                    "seed": seed})
    base_mb = _rss_mb()
    out = DATA / "runs" / f"{problem}_{setting}_{model.replace(':', '_').replace(';', '_')}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    try:
        report = train(config, train_data, tests, out, progress=False, figures=False, device=device)
    except Exception as exc:  # a model that fails is a row that says so, not a lost run
        queue.put({"model": model, "problem": problem, "error": f"{type(exc).__name__}: {exc}"})
        return
    if device.startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_mb
    labels = [str(d.resolution) for d in tests.values()]
    spec = entry(name)
    queue.put({
        "model": model, "problem": problem, "parameters": report["parameters"],
        "epochs": cfg["epochs"], "train_seconds": report["train_seconds"],
        "seconds_per_epoch": report["train_seconds"] / cfg["epochs"],
        "peak_memory_mb": peak_mb, "memory_kind": "cuda allocated" if device.startswith("cuda")
        else "resident set above the loaded data",
        "train_resolution": labels[0], "fine_resolution": labels[-1],
        "rel_l2_train_resolution": report["test_rel_l2"][labels[0]],
        "rel_l2_fine_resolution": report["test_rel_l2"][labels[-1]],
        "resolution_invariant": spec.resolution_invariant, "threads": torch.get_num_threads(),
    })


def run_isolated(*args) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=train_one, args=(*args, queue))
    process.start()
    process.join()
    if process.exitcode != 0 and queue.empty():
        return {"model": args[0], "problem": args[1], "error": f"exit code {process.exitcode}"}
    return queue.get()


def table(rows: list[dict]) -> str:
    lines = ["| problem | model | parameters | s/epoch | peak MB | rel. L2 (train res.) | "
             "rel. L2 (finer, zero-shot) |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['problem']} | {r['model']} | failed: {r['error']} | | | | |")
            continue
        mark = "" if r["resolution_invariant"] else " (not res.-invariant)"
        lines.append(
            f"| {r['problem']} | {r['model']} | {r['parameters']:,} | {r['seconds_per_epoch']:.2f} | "
            f"{r['peak_memory_mb']:.0f} | {r['rel_l2_train_resolution']:.4f} at {r['train_resolution']} | "
            f"{r['rel_l2_fine_resolution']:.4f} at {r['fine_resolution']}{mark} |")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = sorted({r["problem"] for r in rows if "error" not in r})
    fig, axes = plt.subplots(len(problems), 2, figsize=(11, 4.2 * len(problems)), squeeze=False)
    for i, problem in enumerate(problems):
        good = [r for r in rows if r["problem"] == problem and "error" not in r]
        for j, (key, label) in enumerate((("parameters", "parameters"),
                                          ("train_seconds", "training time [s]"))):
            ax = axes[i, j]
            for r in good:
                ax.scatter(r[key], r["rel_l2_train_resolution"], s=30,
                           marker="s" if r["model"].startswith("neuralop") else "o")
                ax.annotate(r["model"], (r[key], r["rel_l2_train_resolution"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel(label)
            ax.set_ylabel(f"relative L2 at {good[0]['train_resolution']}" if good else "")
            ax.set_title(f"{problem}: error vs {label.split(' [')[0]}")
            ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the FNO paper's data sizes and epochs")
    parser.add_argument("--models", nargs="+",
                        help="registry names, or NAME:KEY=VALUE;... for other options "
                             "(default: all, plus the variants in VARIANTS)")
    parser.add_argument("--problems", nargs="+", choices=sorted(PDE), default=sorted(PDE))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=2, help="processes for data generation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-neuraloperator", action="store_true")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the figure and table from the JSON of an earlier run")
    args = parser.parse_args()
    if args.plot_only:
        suffix = "_full" if args.full else ""
        rows = json.loads((RESULTS / f"zoo{suffix}.json").read_text())["rows"]
        figure(rows, RESULTS / f"zoo{suffix}.png")
        print(table(rows))
        return
    if not args.no_neuraloperator:
        ensure_environment(__file__)
        register_neuraloperator_models()
    from oplearn.models import available

    setting = "full" if args.full else "default"
    models = args.models or [m for m in available() if m not in NEURALOPERATOR_MODELS] + list(VARIANTS)
    if not args.no_neuraloperator and not args.models:
        models += list(NEURALOPERATOR_MODELS)
    unknown = {parse_spec(m)[0] for m in models} - set(available())
    if unknown:
        sys.exit(f"unknown model(s): {', '.join(sorted(unknown))}")
    rows = []
    for problem in args.problems:
        files = dataset(problem, setting, args.workers)
        for model in models:
            start = time.perf_counter()
            row = run_isolated(model, problem, setting, files, args.device, args.seed,
                               not args.no_neuraloperator)
            rows.append(row)
            status = row.get("error") or (f"rel. L2 {row['rel_l2_train_resolution']:.4f} / "
                                          f"{row['rel_l2_fine_resolution']:.4f}, "
                                          f"{row['parameters']:,} parameters")
            print(f"{problem:8s} {model:22s} {time.perf_counter() - start:7.1f} s  {status}",
                  flush=True)
    suffix = "_full" if args.full else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"zoo{suffix}.json"
    if args.models or args.problems != sorted(PDE):  # a partial run updates its rows only
        old = json.loads(path.read_text())["rows"] if path.exists() else []
        fresh = {(r["model"], r["problem"]) for r in rows}
        rows = [r for r in old if (r["model"], r["problem"]) not in fresh] + rows
        rows.sort(key=lambda r: (r["problem"], r["model"].startswith("neuralop"), r["model"]))
    record = {"setting": setting, "settings": SETTINGS[setting], "device": args.device,
              "optimizer": "AdamW lr 1e-3 weight decay 1e-4, cosine, relative L2 loss",
              "rows": rows}
    path.write_text(json.dumps(record, indent=2))
    figure(rows, RESULTS / f"zoo{suffix}.png")
    print(table(rows))
    print(f"wrote {RESULTS / f'zoo{suffix}.json'} and {RESULTS / f'zoo{suffix}.png'}")


if __name__ == "__main__":
    main()

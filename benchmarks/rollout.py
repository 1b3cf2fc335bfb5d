"""Rollouts: PDEBench's 1D advection (beta = 0.1) and the reduced Navier-Stokes rollout.

    python benchmarks/rollout.py                       # both groups; writes benchmarks/results/rollout.json
    python benchmarks/rollout.py --only navier-stokes  # one group (the other's results stay)
    python benchmarks/rollout.py --train 200 --epochs 5  # a quick look at advection

Group navier-stokes: `oplearn run navier-stokes --preset rollout` (FNO-2D stepping forward, 10
snapshots -> the next, teacher forcing), the same with `--model unet` (the U-Net's own defaults),
`--preset rollout-3d` (FNO-3D, all 20 steps in one pass), all on the same generated data, and
exact DMD fitted on the same training trajectories (rolled out from the last given snapshot; at
rank 20 and at full numerical rank; `--only navier-stokes-dmd` refits them alone on the data the
last navier-stokes group generated):
relative L2 over the 20 predicted steps, at the last step, training seconds, and each model's
seconds per rollout against the solver's over the same stretch of time (one thread each, one
trajectory at a time; the run reports also hold the batched times).

Group advection, PDEBench's 1D advection (beta = 0.1) from our generator in PDEBench's layout:
PDEBench's FNO setting for this problem (`pdebench/models/config/args/config_Adv.yaml`): 1024 cells
and 201 times subsampled to 256 and 41, the first 10 times given, the other 31 predicted
autoregressively; FNO with 12 modes and width 20, Adam lr 1e-3, batch 50, 500 epochs on 9000
trajectories. Here, on two CPU cores: `--train` trajectories (default 1000) and `--epochs`
(default 20), teacher forcing on every window of 10 snapshots followed by the next one
(`oplearn.train.rollout.windows`), then a rollout of the 100 test trajectories from their first 10
times. Rows: our FNO, the same FNO trained with the pushforward trick on half the windows
(`TrainConfig(pushforward=0.5)`, PDEArena's one-step-unrolled training), exact DMD (`oplearn.models.dmd.ExactDMD`, fitted on the training
trajectories) and persistence (the last given snapshot held). Metrics: PDEBench's, on the predicted
times only (`oplearn.train.pdebench_metrics`), and the FNO paper's relative L2 over the rollout.
PDEBench's published FNO nRMSE for this problem, second-hand (we could not read its tables
ourselves): 7.7e-3 (arXiv v7, Table 6) and 9.3e-3 (NeurIPS 2022 supplement), on 9000 trajectories,
500 epochs, PDEBench's own autoregressive training, and its solver's data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from machine import describe

from oplearn.data.pdebench import read_pdebench, write_pdebench
from oplearn.data.trajectories import read_trajectories
from oplearn.models.dmd import ExactDMD
from oplearn.pdes import pdebench_advection
from oplearn.run import load_preset, run
from oplearn.train import TrainConfig, load_surrogate, train
from oplearn.train.pdebench_metrics import pdebench_metrics
from oplearn.train.rollout import rollout, rollout_errors, windows

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "rollout.json"
DATA = ROOT / "benchmarks" / ".envs" / "data" / "rollout"
HISTORY = 10  # PDEBench's initial_step


def _trajectories(samples: int, seed: int) -> torch.Tensor:
    """``samples`` advection trajectories written in PDEBench's layout, read back, subsampled as
    PDEBench's FNO script does (every 4th cell, every 5th time): (N, 41, 1, 256)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"1D_Advection_Sols_beta0.1_n{samples}_seed{seed}.hdf5"
    if not path.exists():
        u, x, t = pdebench_advection.solve(samples, 0.1, seed=seed)
        write_pdebench(path, u, x, t, {"beta": 0.1})
    return read_pdebench(path, time_stride=5, space_stride=4).fields


def _row(name: str, predicted: torch.Tensor, truth: torch.Tensor, seconds: float, **extra) -> dict:
    metrics = pdebench_metrics(predicted, truth)
    errors = rollout_errors(predicted, truth)
    print(f"{name:>12}: nRMSE {metrics['nrmse']:.2e}, rollout rel. L2 {errors['rollout_rel_l2']:.2e}, "
          f"last step {errors['final_step_rel_l2']:.2e} ({seconds:.1f} s)", flush=True)
    return {"model": name, **metrics, **errors, "seconds": seconds, **extra}


GROUPS = ("advection", "navier-stokes", "navier-stokes-dmd")
DMD_RANK = 20  # a truncation for the nonlinear Navier-Stokes data; the full rank is a row too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=1000, help="advection: training trajectories")
    parser.add_argument("--test", type=int, default=100, help="advection: test trajectories")
    parser.add_argument("--epochs", type=int, default=20, help="advection: epochs")
    parser.add_argument("--only", default=",".join(GROUPS), help="comma-separated groups")
    args = parser.parse_args()
    chosen = args.only.split(",")
    if set(chosen) - set(GROUPS):
        parser.error(f"unknown groups {sorted(set(chosen) - set(GROUPS))}; choose from {list(GROUPS)}")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    if "rows" in results:  # the file of an earlier version held the advection group alone
        results = {"advection": results}
    if "navier-stokes-dmd" in chosen and "navier-stokes" in chosen:
        chosen.remove("navier-stokes-dmd")  # the navier-stokes group has its DMD rows
    for group in chosen:
        if group == "navier-stokes-dmd":
            results["navier-stokes"] = navier_stokes_dmd(results)
        else:
            results[group] = advection(args) if group == "advection" else navier_stokes()
        results["machine"] = describe("cpu")
        OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


def advection(args) -> dict:
    train_traj, test_traj = _trajectories(args.train, seed=0), _trajectories(args.test, seed=1)
    truth = test_traj[:, HISTORY:]
    rows = []

    held = test_traj[:, HISTORY - 1:HISTORY].expand_as(truth)
    rows.append(_row("persistence", held, truth, 0.0))

    start = time.perf_counter()
    dmd = ExactDMD().fit(train_traj.double())
    predicted = dmd.rollout(test_traj[:, HISTORY - 1].double(), truth.shape[1]).float()
    rows.append(_row("exact DMD", predicted, truth, time.perf_counter() - start, rank=int(dmd.reduced.shape[0])))

    provenance = {"grid": "periodic", "pde": "pdebench-advection", "beta": 0.1}
    pairs = windows(train_traj, HISTORY, 1, provenance=provenance)
    tests = {"256": windows(test_traj, HISTORY, 1, provenance=provenance)}
    for name, pushforward in (("FNO", 0.0), ("FNO pushforward", 0.5)):
        config = TrainConfig(model="fno", model_kwargs={"modes": 12, "width": 20}, epochs=args.epochs,
                             batch_size=50, lr=1e-3, scheduler="cosine", pushforward=pushforward)
        with tempfile.TemporaryDirectory() as tmp:
            report = train(config, pairs, tests, tmp, progress=True, figures=False)
            surrogate, _ = load_surrogate(tmp)
            start = time.perf_counter()
            predicted = rollout(surrogate.predict, test_traj[:, :HISTORY], truth.shape[1])
            seconds = time.perf_counter() - start
        rows.append(_row(name, predicted, truth, report["train_seconds"], rollout_seconds=seconds,
                         one_step_test_rel_l2=report["test_rel_l2"]["256"], parameters=report["parameters"],
                         config=config.to_dict(), windows=len(pairs)))

    record = {"problem": "PDEBench 1D advection, beta = 0.1 (our exact generator)", "train_trajectories": args.train,
              "test_trajectories": args.test, "history": HISTORY, "predicted_steps": int(truth.shape[1]),
              "resolution": int(truth.shape[-1]), "rows": rows, "threads": torch.get_num_threads(),
              "published_fno_nrmse": {"arXiv v7 Table 6": 7.7e-3, "NeurIPS 2022 supplement": 9.3e-3,
                                      "source": "second-hand, module notes"},
              "date": time.strftime("%Y-%m-%d")}
    return record


def dmd_rows(data: Path, solver: float) -> list[dict]:
    """Exact DMD on the Navier-Stokes rollout data in ``data``: fitted on the training
    trajectories at rank 20 and at full numerical rank, rolled out from the last given snapshot,
    one trajectory at a time for the timing (``solver``: the solver's seconds per rollout)."""
    settings = load_preset("navier-stokes", "rollout")
    sub, history = settings["train_subsample"], settings["rollout"]["history"]
    train_traj = read_trajectories(data / "train.h5", 1, sub)[0][:, 1:].double()
    test_traj = read_trajectories(data / "test.h5", 1, sub)[0][:, 1:].double()
    truth = test_traj[:, history:]
    rows = []
    for rank in (DMD_RANK, None):
        start = time.perf_counter()
        dmd = ExactDMD(rank=rank).fit(train_traj)
        fit_seconds = time.perf_counter() - start
        dmd.rollout(test_traj[:1, history - 1], truth.shape[1])
        start = time.perf_counter()
        for k in range(len(test_traj)):
            dmd.rollout(test_traj[k:k + 1, history - 1], truth.shape[1])
        per_rollout = (time.perf_counter() - start) / len(test_traj)
        errors = rollout_errors(dmd.rollout(test_traj[:, history - 1], truth.shape[1]), truth)
        name = f"exact DMD, rank {int(dmd.reduced.shape[0])}" + ("" if rank else " (full numerical rank)")
        growth = float(torch.linalg.eigvals(dmd.reduced).abs().max())
        rows.append({"model": name, "rank": int(dmd.reduced.shape[0]), **errors, "train_seconds": fit_seconds,
                     "largest_eigenvalue_modulus": growth, "model_seconds_per_rollout": per_rollout,
                     "solver_seconds_per_rollout": solver, "speedup_one_at_a_time": solver / per_rollout})
        print(f"{name:>20}: rollout rel. L2 {errors['rollout_rel_l2']:.4f}, last step "
              f"{errors['final_step_rel_l2']:.4f} (largest |eigenvalue| {growth:.3f}, fit in {fit_seconds:.1f} s)",
              flush=True)
    return rows


def navier_stokes_dmd(results: dict) -> dict:
    """The DMD rows again, on the data the last navier-stokes group generated (kept in
    benchmarks/.envs/data/ns-rollout), in place of that group's DMD rows."""
    group = results["navier-stokes"]
    models = [r for r in group["rows"] if not r["model"].startswith("exact DMD")]
    solver = models[0]["solver_seconds_per_rollout"]
    return {**group, "rows": models + dmd_rows(DATA.parent / "ns-rollout", solver)}


def navier_stokes() -> dict:
    """The reduced Navier-Stokes rollout presets and a DMD baseline on their data (module notes)."""
    data = DATA.parent / "ns-rollout"
    shutil.rmtree(data, ignore_errors=True)  # generated afresh by the first run, shared by the others
    rows, solver = [], None
    runs = (("FNO-2D, recurrent", "rollout", {}), ("U-Net, recurrent", "rollout", {"model": "unet", "model_kwargs": {}}),
            ("FNO-3D, space-time", "rollout-3d", {}))
    for name, preset, changes in runs:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            data.mkdir(parents=True, exist_ok=True)
            out.mkdir()
            (out / "data").symlink_to(data, target_is_directory=True)  # every run shares one generated dataset
            overrides = {"train": {**load_preset("navier-stokes", preset)["train"], **changes}} if changes else None
            report = run("navier-stokes", out, preset=preset, overrides=overrides, progress=True)
        timing = report["timing"]
        solver = timing["solver"]["one_at_a_time"]["seconds_per_sample"]
        model = timing["model"]["one_at_a_time"]["seconds_per_sample"]
        rows.append({"model": name, "preset": preset, "config": report["config"], "parameters": report["parameters"],
                     "rollout_rel_l2": report["rollout_rel_l2"], "final_step_rel_l2": report["final_step_rel_l2"],
                     "per_step_rel_l2": report["rollout"]["per_step_rel_l2"], "train_seconds": report["train_seconds"],
                     "model_seconds_per_rollout": model, "solver_seconds_per_rollout": solver,
                     "speedup_one_at_a_time": timing["speedup_one_at_a_time"],
                     "speedup_batched": timing["speedup_batched"], "timing": timing})
        print(f"{name:>20}: rollout rel. L2 {report['rollout_rel_l2']:.4f}, last step {report['final_step_rel_l2']:.4f}, "
              f"trained in {report['train_seconds']:.0f} s; {model * 1e3:.1f} ms per rollout against the solver's "
              f"{solver * 1e3:.1f} ms", flush=True)
    rows += dmd_rows(data, solver)
    return {"setting": "oplearn run navier-stokes --preset rollout (and rollout-3d): nu = 1e-3, T = 30, "
                       "10 given, 20 predicted, 100 training and 20 test trajectories, 32 x 32",
            "rows": rows, "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}


if __name__ == "__main__":
    main()

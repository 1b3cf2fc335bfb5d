"""Rollouts on PDEBench's 1D advection problem (beta = 0.1), from our generator, in PDEBench's layout.

    python benchmarks/rollout.py                       # writes benchmarks/results/rollout.json
    python benchmarks/rollout.py --train 200 --epochs 5  # a quick look

PDEBench's FNO setting for this problem (`pdebench/models/config/args/config_Adv.yaml`): 1024 cells
and 201 times subsampled to 256 and 41, the first 10 times given, the other 31 predicted
autoregressively; FNO with 12 modes and width 20, Adam lr 1e-3, batch 50, 500 epochs on 9000
trajectories. Here, on two CPU cores: `--train` trajectories (default 1000) and `--epochs`
(default 20), teacher forcing on every window of 10 snapshots followed by the next one
(`oplearn.train.rollout.windows`), then a rollout of the 100 test trajectories from their first 10
times. Rows: our FNO, exact DMD (`oplearn.models.dmd.ExactDMD`, fitted on the training
trajectories) and persistence (the last given snapshot held). Metrics: PDEBench's, on the predicted
times only (`oplearn.train.pdebench_metrics`), and the FNO paper's relative L2 over the rollout.
PDEBench's published FNO nRMSE for this problem, second-hand (we could not read its tables
ourselves): 7.7e-3 (arXiv v7, Table 6) and 9.3e-3 (NeurIPS 2022 supplement), on 9000 trajectories,
500 epochs, PDEBench's own autoregressive training, and its solver's data.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from machine import describe

from oplearn.data.pdebench import read_pdebench, write_pdebench
from oplearn.models.dmd import ExactDMD
from oplearn.pdes import pdebench_advection
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=1000, help="training trajectories")
    parser.add_argument("--test", type=int, default=100, help="test trajectories")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

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
    config = TrainConfig(model="fno", model_kwargs={"modes": 12, "width": 20}, epochs=args.epochs, batch_size=50,
                         lr=1e-3, scheduler="cosine")
    with tempfile.TemporaryDirectory() as tmp:
        report = train(config, pairs, {"256": windows(test_traj, HISTORY, 1, provenance=provenance)}, tmp,
                       progress=True, figures=False)
        surrogate, _ = load_surrogate(tmp)
        start = time.perf_counter()
        predicted = rollout(surrogate.predict, test_traj[:, :HISTORY], truth.shape[1])
        seconds = time.perf_counter() - start
    rows.append(_row("FNO", predicted, truth, report["train_seconds"], rollout_seconds=seconds,
                     one_step_test_rel_l2=report["test_rel_l2"]["256"], parameters=report["parameters"],
                     config=config.to_dict(), windows=len(pairs)))

    record = {"problem": "PDEBench 1D advection, beta = 0.1 (our exact generator)", "train_trajectories": args.train,
              "test_trajectories": args.test, "history": HISTORY, "predicted_steps": int(truth.shape[1]),
              "resolution": int(truth.shape[-1]), "rows": rows, "threads": torch.get_num_threads(),
              "published_fno_nrmse": {"arXiv v7 Table 6": 7.7e-3, "NeurIPS 2022 supplement": 9.3e-3,
                                      "source": "second-hand, module notes"},
              "machine": describe("cpu"), "date": time.strftime("%Y-%m-%d")}
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""Pretrain once, fine-tune with few samples (issue 16, part 5): the sample-efficiency curve.

    python benchmarks/finetune.py            # writes benchmarks/results/finetune.json
    python benchmarks/finetune.py --quick    # a smaller look

An FNO that steps forward (10 snapshots -> the next, as `oplearn run navier-stokes --preset
rollout`: 2D Navier-Stokes with the FNO paper's forcing, 64 x 64 solves with dt = 1e-2, one
snapshot per time unit, trained at 32 x 32) is pretrained on trajectories at two viscosities,
nu = 1e-3 and 1e-4, then trained on a viscosity it has not seen, nu = 3e-4, with 8, 32 and 128
trajectories: once from the pretrained weights (`train(init=...)`, `oplearn train --init`) and
once from scratch, with the same epochs and learning rate. Each is rolled out over 20 test
trajectories at nu = 3e-4 from their first 10 snapshots: relative L2 over the 10 predicted steps
(the FNO paper's metric) and at the last. Training seconds are the optimisation alone; data
generation is timed apart.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from machine import describe

from oplearn.data.generation import generate
from oplearn.data.trajectories import read_trajectories
from oplearn.train import TrainConfig, load_surrogate, train
from oplearn.train.rollout import evaluate_rollouts, windows

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "finetune.json"
DATA = ROOT / "benchmarks" / ".envs" / "data" / "finetune"
HISTORY, SNAPSHOTS = 10, 20
MODEL = {"modes": 12, "width": 20, "n_layers": 4, "padding": 0.0}


def _trajectories(nu: float, samples: int, seed: int) -> torch.Tensor:
    """``samples`` Navier-Stokes trajectories at viscosity ``nu``: ``(N, 20, 1, 32, 32)``,
    w(1..20) (generated once into benchmarks/.envs)."""
    path = DATA / f"ns_nu{nu:g}_n{samples}_seed{seed}.h5"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        generate("navier-stokes", samples=samples, resolution=64, seed=seed, out=path, workers=2,
                 params={"solver_resolution": 64, "dt": 0.01, "t": float(SNAPSHOTS), "snapshots": SNAPSHOTS,
                         "nu": nu})
    return read_trajectories(path, 1, 2)[0][:, 1:]  # without w0, at 32 x 32


def _windows(traj: torch.Tensor, nu) -> object:
    return windows(traj, HISTORY, 1, provenance={"grid": "periodic", "pde": "navier-stokes", "nu": nu})


def _fit(traj: torch.Tensor, nu, epochs: int, out: Path, init: Path | None) -> dict:
    config = TrainConfig(model="fno", model_kwargs=MODEL, epochs=epochs, batch_size=20, lr=1e-3,
                         scheduler="cosine")
    return train(config, _windows(traj, nu), {}, out, progress=True, figures=False, init=init)


def _rolled_out(run: Path, test: torch.Tensor) -> dict:
    surrogate, _ = load_surrogate(run)
    result, _ = evaluate_rollouts(surrogate.predict, test, HISTORY)
    return {"rollout_rel_l2": result["rollout_rel_l2"], "final_step_rel_l2": result["final_step_rel_l2"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 pretraining trajectories, 5 epochs each")
    args = parser.parse_args()
    per_nu, pre_epochs, epochs = (32, 5, 5) if args.quick else (100, 15, 15)
    sizes = (8, 32) if args.quick else (8, 32, 128)

    tick = time.perf_counter()
    pretrain = torch.cat([_trajectories(nu, per_nu, seed) for nu, seed in ((1e-3, 0), (1e-4, 1))])
    target = _trajectories(3e-4, max(sizes), 2)
    test = _trajectories(3e-4, 20, 3)
    data_seconds = time.perf_counter() - tick

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pre = _fit(pretrain, "1e-3 and 1e-4", pre_epochs, tmp / "pretrained", None)
        zero_shot = _rolled_out(tmp / "pretrained", test)
        print(f"pretrained on {len(pretrain)} trajectories in {pre['train_seconds']:.0f} s; at nu = 3e-4 "
              f"without fine-tuning: rollout rel. L2 {zero_shot['rollout_rel_l2']:.4f}", flush=True)
        for n in sizes:
            for start, init in (("fine-tuned", tmp / "pretrained"), ("from scratch", None)):
                report = _fit(target[:n], 3e-4, epochs, tmp / f"{start}-{n}", init)
                errors = _rolled_out(tmp / f"{start}-{n}", test)
                rows.append({"trajectories": n, "start": start, "windows": report["train_samples"],
                             "epochs": epochs, "train_seconds": report["train_seconds"], **errors})
                print(f"{n:>4} trajectories, {start:>12}: rollout rel. L2 {errors['rollout_rel_l2']:.4f}, "
                      f"last step {errors['final_step_rel_l2']:.4f} ({report['train_seconds']:.0f} s)", flush=True)

    record = {"task": f"2D Navier-Stokes, {HISTORY} snapshots -> the next, rolled out {SNAPSHOTS - HISTORY} steps, "
                      "32 x 32", "pretraining": {"viscosities": [1e-3, 1e-4], "trajectories": len(pretrain),
                                                 "epochs": pre_epochs, "train_seconds": pre["train_seconds"],
                                                 "zero_shot_at_3e-4": zero_shot},
              "target_viscosity": 3e-4, "test_trajectories": len(test), "model": MODEL, "rows": rows,
              "data_seconds": data_seconds, "quick": args.quick, "threads": torch.get_num_threads(),
              "machine": describe("cpu"), "date": time.strftime("%Y-%m-%d")}
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

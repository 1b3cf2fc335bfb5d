"""The main job as a measurement: `oplearn run PDE` for a preset on a device, report saved.

    python benchmarks/main_job.py                              # darcy, default preset, CPU
    python benchmarks/main_job.py --pde burgers
    python benchmarks/main_job.py --preset paper --device cuda --workers 16

Writes `benchmarks/results/<pde>_<preset>_<device>.json`: the run's report (test relative L2 by
resolution, training seconds, the solver and the model timed one sample at a time and in
generation's batches, with the ratios of each pair), the whole run's wall-clock seconds (data generation, training, evaluation, figures) and the hardware it ran on. Solver and model are
timed on one thread; the batched solvers (Burgers, Navier-Stokes, Darcy's multigrid) and the model on `--device`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from machine import describe

from oplearn.cli import parse_params, timing_lines
from oplearn.run import load_preset, run

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pde", default="darcy")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None, help="data generation processes")
    parser.add_argument("--out", type=Path, default=None, help="default runs/bench-PDE")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override a problem parameter of the preset (repeatable); the result "
                             "file's name then ends in _KEY-VALUE")
    args = parser.parse_args()
    overrides = {"workers": args.workers} if args.workers else {}
    params = parse_params(tuple(args.param))
    if params:
        overrides["params"] = {**load_preset(args.pde, args.preset).get("params", {}), **params}
    tag = "".join(f"_{k}-{v}" for k, v in params.items())
    args.out = args.out or ROOT / "runs" / f"bench-{args.pde}{tag}"
    if not args.resume:  # a measurement starts from nothing
        shutil.rmtree(args.out / args.preset, ignore_errors=True)
    start = time.perf_counter()
    report = run(args.pde, args.out / args.preset, preset=args.preset, overrides=overrides,
                 resume=args.resume, device=args.device)
    wall_seconds = time.perf_counter() - start
    hardware = describe(report["device"])
    report["data_files"] = {k: Path(v).name for k, v in report["data_files"].items()}
    result = ROOT / "benchmarks" / "results" / f"{args.pde}_{args.preset}_{report['device'].split(':')[0]}{tag}.json"
    workers = args.workers or load_preset(args.pde, args.preset).get("workers", 1)
    record = {"report": report, "wall_seconds": wall_seconds, "resumed": args.resume,
              "workers": workers, "hardware": hardware}
    result.write_text(json.dumps(record, indent=2) + "\n")
    errors = ", ".join(f"s={k}: {v:.4f}" for k, v in report["test_rel_l2"].items())
    print(f"{args.pde} {args.preset} on {report['device']}: test rel. L2 {errors}; train "
          f"{report['train_seconds']:.1f} s; whole run {wall_seconds:.0f} s -> {result}")
    for line in timing_lines(report["timing"]):
        print(f"  {line}")


if __name__ == "__main__":
    main()

"""Data generation speed: Darcy linear solvers, Krylov recycling on sequences, Navier-Stokes stepping.

    python benchmarks/datagen.py                 # all parts, one CPU thread
    python benchmarks/datagen.py --part darcy --samples 50
    python benchmarks/datagen.py --part navier-stokes darcy --device cuda --sizes 257 513 --samples 16 --ns-batch 32

Parts (each writes its section of benchmarks/results/datagen.json and prints a table):

- ``darcy``: seconds per sample at 65, 129, 257, 421 (the FNO paper's grid, not a power of two) and
  513 points per side for
  SciPy's ``spsolve`` (the baseline), pyamg AMG-CG, our batched geometric multigrid (chunks of 8
  samples, as generation uses) and ``solver="auto"`` as generation picks it; CG iterations; the largest relative max-norm
  error against the direct solution. All iterative solves to relative residual ``--tol``.
- ``darcy-batch``: seconds per sample by batch size at 65 to 257 points per side: ``spsolve`` and
  AMG-CG one sample at a time, multigrid-CG on batches of 1, 2, 4 and 8 (where ``solver="auto"``
  switches from the direct solver to multigrid depends on the batch; ``--batch-samples`` per size).
- ``high-contrast``: seconds per sample at 129, 257 and 513 points per side for the direct solver,
  AMG-CG and batched multigrid-CG on high-contrast diffusion (gaussian and binary coefficients,
  contrast 1e4 and 1e6), with the error against the direct solution.
- ``sequence``: a sequence of Helmholtz systems with random wave numbers (``--k0``, default 30):
  GMRES(m) with an ILU preconditioner (SciPy), the same preconditioner with GCRO-DR recycling in
  input order and in similarity order (SKR), and the direct solver.
- ``navier-stokes``: seconds per simulated time unit per sample at 64 and 256 for a plain
  single-sample NumPy loop of the FNO paper's scheme (Crank-Nicolson + forward Euler, dt = 1e-4),
  our PyTorch solver with the same scheme, and our second-order scheme at dt = 1e-3; and the error
  of each against a fine reference at 64.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
import torch  # noqa: E402
from machine import describe  # noqa: E402

from oplearn.errors import SolverError  # noqa: E402
from oplearn.linalg.solve import choose_spd_solver  # noqa: E402
from oplearn.pdes import darcy  # noqa: E402
from oplearn.pdes import navier_stokes as ns  # noqa: E402
from oplearn.pdes.stencils import diffusion_stencil  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "datagen.json"


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _multigrid_in_chunks(coefficients: np.ndarray, tol: float, weighted: bool = False) -> tuple[np.ndarray, float]:
    """Multigrid-CG on ``-div(a grad u) = 1`` for ``(N, s, s)`` coefficients in chunks of 8 (as
    generation solves them): ``(N, s, s)`` solutions and the mean CG iterations. ``weighted``
    checks the Jacobi-weighted residual (high contrast)."""
    from oplearn.linalg import multigrid

    out, its = [], []
    for start in range(0, len(coefficients), 8):
        operator = diffusion_stencil(coefficients[start:start + 8])
        weight = operator[:, 1, 1].rsqrt() if weighted else None
        result = multigrid.solve(operator, torch.ones_like(operator[:, 1, 1]), tol=tol, residual_weight=weight)
        out.append(result.solution.numpy())
        its.append(result.iterations)
    return np.pad(np.concatenate(out), ((0, 0), (1, 1), (1, 1))), float(np.mean(its))


def _darcy_row(s: int, samples: int, tol: float, device: str = "cpu") -> dict:
    """One line of the Darcy table: every method on the same ``samples`` coefficients."""
    coefficients = np.stack([darcy.sample_coefficient(np.random.default_rng([s, i]), s) for i in range(samples)])
    ones = np.ones((s - 2) ** 2)
    direct, seconds = _timed(lambda c=coefficients: [spla.spsolve(darcy.assemble(a).tocsc(), ones)
                                                      for a in c])
    direct = np.stack(direct).reshape(samples, s - 2, s - 2)
    row = {"s": s, "samples": samples, "tol": tol, "methods": {}}
    row["methods"]["spsolve"] = {"seconds_per_sample": seconds / samples, "iterations": None, "error": 0.0}

    def error(u: np.ndarray) -> float:
        inner = u[:, 1:-1, 1:-1]
        return float(np.max(np.abs(inner - direct).max(axis=(1, 2)) / np.abs(direct).max(axis=(1, 2))))

    import pyamg

    def amg():
        out, its = [], []
        for a in coefficients:
            residuals: list[float] = []
            matrix = darcy.assemble(a)
            ml = pyamg.ruge_stuben_solver(matrix.tocsr())
            out.append(ml.solve(ones, tol=tol, accel="cg", maxiter=500, residuals=residuals))
            its.append(len(residuals) - 1)
        return np.stack(out).reshape(samples, s - 2, s - 2), its

    (u, its), seconds = _timed(amg)
    padded = np.pad(u, ((0, 0), (1, 1), (1, 1)))
    row["methods"]["amg-cg"] = {"seconds_per_sample": seconds / samples, "iterations": float(np.mean(its)),
                                "error": error(padded)}

    (u, its), seconds = _timed(lambda: _multigrid_in_chunks(coefficients, tol))
    row["methods"]["multigrid-cg (batch 8)"] = {"seconds_per_sample": seconds / samples,
                                                "iterations": its, "error": error(u)}
    if device != "cpu":  # the whole set in one batch; the first (warm-up) solve is not timed
        darcy.solve(coefficients[:2], solver="mg", device=device, tol=tol)
        u, seconds = _timed(lambda: darcy.solve(coefficients, solver="mg", device=device, tol=tol))
        row["methods"][f"multigrid-cg on {device} (batch {samples})"] = {
            "seconds_per_sample": seconds / samples, "iterations": None, "error": error(u)}
    chosen = choose_spd_solver(s, batch=8)
    u, seconds = _timed(lambda: np.concatenate([
        darcy.solve_batch(coefficients[i:i + 8, None], darcy.PROBLEM.params(tol=tol))[:, 0]  # generation's path
        for i in range(0, samples, 8)]))
    row["methods"][f"auto ({chosen})"] = {"seconds_per_sample": seconds / samples, "iterations": None,
                                          "error": error(u)}
    base = row["methods"]["spsolve"]["seconds_per_sample"]
    for method in row["methods"].values():
        method["speedup_vs_spsolve"] = base / method["seconds_per_sample"]
    print(f"s={s}: " + ", ".join(f"{name} {m['seconds_per_sample']:.4f} s ({m['speedup_vs_spsolve']:.1f}x, "
                                 f"err {m['error']:.1e})" for name, m in row["methods"].items()), flush=True)
    return row


def darcy_part(sizes: list[int], samples: int, tol: float, device: str = "cpu") -> list[dict]:
    return [_darcy_row(s, samples, tol, device) for s in sizes]


def darcy_batch_part(sizes: list[int], tol: float, samples: int = 16) -> list[dict]:
    """Seconds per sample of each solver on ``samples`` Darcy problems, by batch size (warm)."""
    rows = []
    for s in sizes:
        coefficients = np.stack([darcy.sample_coefficient(np.random.default_rng([s, i]), s)
                                 for i in range(samples)])
        for solver in ("direct", "amg", "mg"):  # warm-up: imports, first-call costs
            darcy.solve(coefficients[:1], solver=solver, tol=tol)
        seconds = {}
        for solver in ("direct", "amg"):
            _, sec = _timed(lambda c=coefficients, sv=solver: [darcy.solve(a, solver=sv, tol=tol) for a in c])
            seconds[f"{solver}, one at a time"] = sec / samples
        for batch in (1, 2, 4, 8):
            _, sec = _timed(lambda c=coefficients, b=batch: [darcy.solve(c[i:i + b], solver="mg", tol=tol)
                                                              for i in range(0, samples, b)])
            seconds[f"mg, batches of {batch}"] = sec / samples
        rows.append({"s": s, "samples": samples, "tol": tol, "seconds_per_sample": seconds,
                     "auto_one_at_a_time": choose_spd_solver(s, batch=1),
                     "auto_in_batches_of_8": choose_spd_solver(s, batch=8)})
        print(f"darcy-batch s={s}: " + ", ".join(f"{k} {v:.4f} s" for k, v in seconds.items()), flush=True)
    return rows


HIGH_CONTRAST_REFERENCE_TOL = 1e-8  # the reference direct solve where the checked one hits rounding


def _high_contrast_row(s: int, distribution: str, contrast: float, samples: int, tol: float) -> dict:
    """Direct, AMG-CG and batched multigrid-CG on the same high-contrast coefficients, with the
    Jacobi-scaled residual of :mod:`oplearn.pdes.high_contrast` checked against ``tol``. A method
    that misses ``tol`` is reported as failed; where the direct solve does (its rounding floor),
    the reference solution and timing come from the direct solve checked at 1e-8."""
    from oplearn.pdes import high_contrast as hc

    params = {"distribution": distribution, "contrast": contrast}
    coefficients = np.stack([hc.sample_coefficient(np.random.default_rng([s, i]), s, **params)
                             for i in range(samples)])
    runs = {"direct": lambda: (hc.solve(coefficients, solver="direct", tol=tol), None),
            "amg-cg": lambda: (hc.solve(coefficients, solver="amg", tol=tol), None),
            "multigrid-cg (batch 8)": lambda: _multigrid_in_chunks(coefficients, tol, weighted=True)}
    methods, solutions = {}, {}
    for name, run in runs.items():
        try:
            (solutions[name], iterations), seconds = _timed(run)
            methods[name] = {"seconds_per_sample": seconds / samples, "iterations": iterations}
        except SolverError as failure:
            methods[name] = {"failed": str(failure)}
    baseline = "direct"
    if "direct" not in solutions:
        baseline = f"direct (tol {HIGH_CONTRAST_REFERENCE_TOL:.0e})"
        solutions[baseline], seconds = _timed(
            lambda: hc.solve(coefficients, solver="direct", tol=HIGH_CONTRAST_REFERENCE_TOL))
        methods[baseline] = {"seconds_per_sample": seconds / samples, "iterations": None}
    reference = solutions[baseline]
    scale = np.abs(reference).max(axis=(1, 2))
    for name, u in solutions.items():
        methods[name]["error"] = float(np.max(np.abs(u - reference).max(axis=(1, 2)) / scale))
        methods[name]["speedup_vs_direct"] = (methods[baseline]["seconds_per_sample"]
                                              / methods[name]["seconds_per_sample"])
    print(f"high-contrast s={s} {distribution} {contrast:.0e}: " + ", ".join(
        f"{name} {m['seconds_per_sample']:.4f} s ({m['speedup_vs_direct']:.1f}x, its {m['iterations']}, "
        f"err {m['error']:.1e})" if "error" in m else f"{name} FAILED ({m['failed']})"
        for name, m in methods.items()), flush=True)
    return {"s": s, "distribution": distribution, "contrast": contrast, "samples": samples, "tol": tol,
            "baseline": baseline, "methods": methods}


def high_contrast_part(sizes: list[int], samples: int, tol: float) -> list[dict]:
    return [_high_contrast_row(s, distribution, contrast, samples, tol)
            for s in sizes for distribution in ("gaussian", "binary") for contrast in (1e4, 1e6)]


class NumpyFnoLoop:
    """The FNO paper's Navier-Stokes stepper, one sample, NumPy (the baseline): Crank-Nicolson
    diffusion, forward Euler advection, 2/3 dealiasing, four inverse and one forward FFT a step."""

    def __init__(self, s: int, nu: float, dt: float, forcing: np.ndarray):
        kx = 2 * np.pi * np.fft.fftfreq(s, 1 / s)[:, None]
        ky = 2 * np.pi * np.fft.rfftfreq(s, 1 / s)[None, :]
        self.k2 = kx ** 2 + ky ** 2
        self.inv = np.where(self.k2 > 0, 1 / np.where(self.k2 > 0, self.k2, 1), 0)
        self.ikx, self.iky = 1j * kx, 1j * ky
        keep = (np.abs(kx) < 2 * np.pi * s / 3) & (np.abs(ky) < 2 * np.pi * s / 3)
        self.keep, self.s, self.dt, self.nu = keep, s, dt, nu
        self.f_hat = np.fft.rfft2(forcing)

    def run(self, w0: np.ndarray, t: float) -> np.ndarray:
        s, dt, nu = self.s, self.dt, self.nu
        w_hat = np.fft.rfft2(w0)
        for _ in range(round(t / dt)):
            psi = w_hat * self.inv
            u = np.fft.irfft2(self.iky * psi, s=(s, s))
            v = np.fft.irfft2(-self.ikx * psi, s=(s, s))
            w_x = np.fft.irfft2(self.ikx * w_hat, s=(s, s))
            w_y = np.fft.irfft2(self.iky * w_hat, s=(s, s))
            advection = -np.fft.rfft2(u * w_x + v * w_y) * self.keep
            w_hat = ((1 - 0.5 * dt * nu * self.k2) * w_hat + dt * (advection + self.f_hat)) / (
                1 + 0.5 * dt * nu * self.k2)
        return np.fft.irfft2(w_hat, s=(s, s))


def navier_stokes_part(batch: int, device: str = "cpu") -> list[dict]:
    rows = []
    nu = 1e-3
    for s, t in ((64, 0.2), (256, 0.02)):
        forcing = ns.fno_forcing(s)
        w0 = np.stack([ns.sample_vorticity(np.random.default_rng([s, i]), s) for i in range(batch)])
        loop = NumpyFnoLoop(s, nu, 1e-4, forcing)
        _, numpy_seconds = _timed(lambda w=w0, lp=loop, tt=t: lp.run(w[0], tt))
        numpy_rate = numpy_seconds / t
        group = min(batch, max(1, ns.CPU_BATCH_POINTS // (s * s)))
        runs = {"numpy loop, FNO scheme, dt=1e-4": numpy_rate}
        _, sec = _timed(lambda w=w0, f=forcing, tt=t, g=group: ns.solve(w[:g], nu, tt, f, 1e-4, scheme="euler"))
        runs[f"oplearn, FNO scheme, dt=1e-4, batch {group}"] = sec / t / group
        _, sec = _timed(lambda w=w0, f=forcing, tt=t, g=group: ns.solve(w[:g], nu, tt, f, 1e-3, scheme="heun"))
        runs[f"oplearn, second order, dt=1e-3, batch {group}"] = sec / t / group
        if device != "cpu":  # every sample at once; a warm-up step first (CUDA context, FFT plans)
            ns.solve(w0[:1], nu, 1e-4, forcing, 1e-4, scheme="euler", device=device)
            for scheme, dt in (("euler", 1e-4), ("heun", 1e-3)):
                _, sec = _timed(lambda w=w0, f=forcing, tt=t, sc=scheme, d=dt: ns.solve(
                    w, nu, tt, f, d, scheme=sc, device=device))
                label = "FNO scheme, dt=1e-4" if scheme == "euler" else "second order, dt=1e-3"
                runs[f"oplearn on {device}, {label}, batch {batch}"] = sec / t / batch
        row = {"s": s, "simulated_time": t, "seconds_per_time_unit_per_sample": runs,
               "speedup_vs_numpy": {k: numpy_rate / v for k, v in runs.items()}}
        rows.append(row)
        print(f"navier-stokes s={s}: " + ", ".join(f"{k}: {v:.2f} s ({numpy_rate / v:.1f}x)" for k, v in runs.items()),
              flush=True)
    s, t = 64, 1.0
    forcing = ns.fno_forcing(s)
    w0 = ns.sample_vorticity(np.random.default_rng(0), s)
    reference = ns.solve(w0, nu, t, forcing, dt=t / 40000)
    scale = np.abs(reference).max()
    errors = {"numpy loop, FNO scheme, dt=1e-4": float(np.abs(NumpyFnoLoop(s, nu, 1e-4, forcing).run(w0, t)
                                                                 - reference).max() / scale),
              "oplearn, FNO scheme, dt=1e-4": float(np.abs(ns.solve(w0, nu, t, forcing, 1e-4, scheme="euler")
                                                           - reference).max() / scale),
              "oplearn, second order, dt=1e-3": float(np.abs(ns.solve(w0, nu, t, forcing, 1e-3)
                                                             - reference).max() / scale)}
    rows.append({"s": s, "t": t, "relative_max_error_vs_reference (second order, dt=2.5e-5)": errors})
    print(f"navier-stokes errors at s=64, t=1: {errors}", flush=True)
    return rows


def helmholtz_system(x: np.ndarray) -> tuple:
    """Matrix and right-hand side of one Helmholtz sample ``x = (k, f)``."""
    from oplearn.pdes.helmholtz import assemble

    k, f = x
    return assemble(k), np.ascontiguousarray(f[1:-1, 1:-1]).ravel()


def preconditioner(matrix, spec: str):
    """``"jacobi"`` (inverse diagonal) or ``"ilu:DROP"`` (SuperLU ILUTP with that drop tolerance)."""
    from oplearn.linalg.solve import ilu_preconditioner

    if spec == "jacobi":
        inverse_diagonal = 1.0 / matrix.diagonal()
        return lambda v: inverse_diagonal * v
    kind, _, drop = spec.partition(":")
    if kind != "ilu" or not drop:
        raise SystemExit(f"preconditioner must be 'jacobi' or 'ilu:DROP', got {spec!r}")
    return ilu_preconditioner(matrix, drop_tol=float(drop))


def scipy_gmres(matrix, rhs, prec, max_matvecs: int) -> tuple[np.ndarray, int]:
    """SciPy's restarted GMRES(GMRES_RESTART) to SEQUENCE_TOL; returns (x, iterations)."""
    from oplearn.linalg.solve import GMRES_RESTART

    count = [0]

    def callback(_):
        count[0] += 1

    m = None if prec is None else spla.LinearOperator(matrix.shape, prec, dtype=np.float64)
    x, _ = spla.gmres(matrix, rhs, M=m, rtol=SEQUENCE_TOL * 0.5, atol=0.0, restart=GMRES_RESTART,
                      maxiter=max_matvecs // GMRES_RESTART + 1, callback=callback,
                      callback_type="pr_norm")
    return x, count[0]


def sequence_part(samples: int, size: int, k0: float, spec: str, recycle: int,
                  max_matvecs: int) -> dict:
    """A sequence of Helmholtz systems: SciPy GMRES(50) with a preconditioner against the same
    with SKR (GCRO-DR with recycling, input and similarity order), SuperLU, and GMRES(50) with a
    strong ILU. Every row's seconds per system include building its preconditioner or factors."""
    from oplearn.linalg.recycling import RecyclingGMRES, similarity_order
    from oplearn.linalg.solve import GMRES_RESTART
    from oplearn.pdes import problem as problems

    problem = problems.get("helmholtz")
    params = problem.params(k0=k0)
    inputs = [problem.sample_input(np.random.default_rng([7, i]), size, params) for i in range(samples)]
    systems = [helmholtz_system(x) for x in inputs]
    order = similarity_order(np.stack([x.ravel() for x in inputs]))

    def krylov(solve_one, prec_spec):
        """(seconds per system, mean iterations, systems that missed the tolerance)."""
        start = time.perf_counter()
        its, missed = [], 0
        for matrix, rhs in systems:
            x, n = solve_one(matrix, rhs, preconditioner(matrix, prec_spec))
            its.append(n)
            missed += np.linalg.norm(rhs - matrix @ x) > SEQUENCE_TOL * 1.01 * np.linalg.norm(rhs)
        return (time.perf_counter() - start) / samples, float(np.mean(its)), int(missed)

    def recycled(sequence, k):
        solver = RecyclingGMRES(restart=GMRES_RESTART, recycle=k, tol=SEQUENCE_TOL,
                                max_matvecs=max_matvecs)
        start = time.perf_counter()
        matvecs, breakdowns, missed = [], 0, 0
        for i in sequence:
            matrix, rhs = systems[i]
            try:
                result = solver.solve(matrix, rhs, preconditioner(matrix, spec))
            except SolverError:
                missed += 1
                matvecs.append(max_matvecs)
                continue
            matvecs.append(result.matvecs)
            breakdowns += result.breakdowns
        return (time.perf_counter() - start) / samples, float(np.mean(matvecs)), missed, breakdowns

    def direct():
        start = time.perf_counter()
        for matrix, rhs in systems:
            spla.spsolve(matrix.tocsc(), rhs)
        return (time.perf_counter() - start) / samples, None, 0

    baseline = f"scipy gmres({GMRES_RESTART}) + {spec}"
    runs = {
        baseline: krylov(lambda m, b, p: scipy_gmres(m, b, p, max_matvecs), spec),
        f"GCRO-DR({GMRES_RESTART}, {recycle}) + {spec}, input order": recycled(range(samples), recycle),
        f"SKR: GCRO-DR({GMRES_RESTART}, {recycle}) + {spec}, similarity order": recycled(order, recycle),
        "spsolve (SuperLU)": direct(),
    }
    strong = f"scipy gmres({GMRES_RESTART}) + ilu:1e-3"
    if strong not in runs:  # with spec "ilu:1e-3" the baseline is this row already
        runs[strong] = krylov(lambda m, b, p: scipy_gmres(m, b, p, max_matvecs), "ilu:1e-3")
    base = runs[baseline][0]
    methods = {}
    for name, (seconds, its, missed, *rest) in runs.items():
        methods[name] = {"seconds_per_system": seconds, "iterations_or_matvecs": its,
                         "missed_tolerance": missed, "speedup_vs_gmres": base / seconds}
        if rest:
            methods[name]["recycling_breakdowns"] = rest[0]
    print(f"sequence helmholtz k0={k0} s={size} {samples} systems, preconditioner {spec}: " + "; ".join(
        f"{k}: {v['seconds_per_system']:.4f} s ({v['speedup_vs_gmres']:.2f}x, its "
        f"{v['iterations_or_matvecs']}, missed {v['missed_tolerance']})" for k, v in methods.items()),
        flush=True)
    return {"problem": "helmholtz", "k0": k0, "contrast": params["contrast"], "s": size,
            "samples": samples, "tol": SEQUENCE_TOL, "preconditioner": spec, "recycle": recycle,
            "max_matvecs": max_matvecs,
            "note": "seconds per system include building each system's preconditioner or factors; "
                    "iterations are SciPy's inner GMRES iterations or our operator applications; "
                    "missed = systems that did not reach the tolerance within max_matvecs",
            "methods": methods}


SEQUENCE_TOL = 1e-8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "darcy", "darcy-batch", "high-contrast", "sequence",
                                           "navier-stokes"],
                        nargs="+", default=["all"])
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[65, 129, 257, 421, 513])
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--batch-sizes-grid", type=int, nargs="+", default=[65, 97, 129, 193, 257],
                        help="points per side of the darcy-batch part")
    parser.add_argument("--batch-samples", type=int, default=16, help="samples per size of the darcy-batch part")
    parser.add_argument("--high-contrast-sizes", type=int, nargs="+", default=[129, 257, 513])
    parser.add_argument("--high-contrast-samples", type=int, default=16)
    parser.add_argument("--sequence-size", type=int, default=65)
    parser.add_argument("--sequence-samples", type=int, default=50)
    parser.add_argument("--k0", type=float, default=10.0, help="Helmholtz wave number of the sequence part")
    parser.add_argument("--preconditioner", nargs="+", default=["ilu:1e-1", "ilu:1e-3"],
                        help="preconditioners of the sequence part's GMRES and SKR rows (one run each): "
                             "jacobi or ilu:DROP")
    parser.add_argument("--recycle", type=int, default=20, help="recycled vectors of GCRO-DR")
    parser.add_argument("--max-matvecs", type=int, default=5000,
                        help="operator applications before a Krylov solve counts as missed")
    parser.add_argument("--device", default="cpu",
                        help="also time the PyTorch solvers (Darcy multigrid, Navier-Stokes) on this "
                             "device, e.g. cuda; results then go to datagen_<device>.json, CPU rows included")
    parser.add_argument("--ns-batch", type=int, default=8, help="Navier-Stokes samples per size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results_path = RESULTS if args.device == "cpu" else RESULTS.with_name(f"datagen_{args.device}.json")
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    if args.device != "cpu":
        results["device"] = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else args.device
    results["threads"] = 1
    results["machine"] = describe(args.device)
    if {"all", "darcy"} & set(args.part):
        rows = {row["s"]: row for row in results.get("darcy", [])}  # a partial run replaces its sizes
        rows.update({row["s"]: row for row in darcy_part(args.sizes, args.samples, args.tol, args.device)})
        results["darcy"] = [rows[s] for s in sorted(rows)]
    if {"all", "darcy-batch"} & set(args.part):
        results["darcy_batch"] = darcy_batch_part(args.batch_sizes_grid, args.tol, args.batch_samples)
    if {"all", "high-contrast"} & set(args.part):
        results["high_contrast"] = high_contrast_part(args.high_contrast_sizes, args.high_contrast_samples,
                                                      args.tol)
    if {"all", "navier-stokes"} & set(args.part):
        results["navier_stokes"] = navier_stokes_part(args.ns_batch, args.device)
    if {"all", "sequence"} & set(args.part):
        sequences = results.get("sequence", {})
        sequences = sequences if "problem" not in sequences else {}  # older single-entry layout
        for spec in args.preconditioner:
            sequences[spec] = sequence_part(args.sequence_samples, args.sequence_size, args.k0, spec,
                                            args.recycle, args.max_matvecs)
        results["sequence"] = sequences
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2))
    print(f"wrote {results_path}")


if __name__ == "__main__":
    main()

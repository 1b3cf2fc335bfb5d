"""Data generation speed: Darcy linear solvers, Krylov recycling on sequences, Navier-Stokes stepping.

    python benchmarks/datagen.py                 # all parts, one CPU thread
    python benchmarks/datagen.py --part darcy --samples 50

Parts (each writes its section of benchmarks/results/datagen.json and prints a table):

- ``darcy``: seconds per sample at 65, 129, 257 and 513 points per side (64 ... 512 intervals) for
  SciPy's ``spsolve`` (the baseline), pyamg AMG-CG, our batched geometric multigrid (chunks of 8
  samples, as generation uses) and ``solver="auto"``; CG iterations; the largest relative max-norm
  error against the direct solution. All iterative solves to relative residual ``--tol``.
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

from oplearn.linalg.solve import choose_spd_solver  # noqa: E402
from oplearn.pdes import darcy  # noqa: E402
from oplearn.pdes import navier_stokes as ns  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "datagen.json"


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _darcy_row(s: int, samples: int, tol: float) -> dict:
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

    def multigrid_chunks():
        from oplearn.linalg import multigrid

        out, its = [], []
        for start in range(0, samples, 8):
            chunk = coefficients[start:start + 8]
            rhs = torch.ones(len(chunk), s - 2, s - 2, dtype=torch.float64)
            result = multigrid.solve(darcy.stencil(chunk), rhs, tol=tol)
            out.append(result.solution.numpy())
            its.append(result.iterations)
        return np.pad(np.concatenate(out), ((0, 0), (1, 1), (1, 1))), its

    (u, its), seconds = _timed(multigrid_chunks)
    row["methods"]["multigrid-cg (batch 8)"] = {"seconds_per_sample": seconds / samples,
                                                "iterations": float(np.mean(its)), "error": error(u)}
    chosen = choose_spd_solver(s)
    u, seconds = _timed(lambda: np.concatenate([
        darcy.solve(coefficients[i:i + 8], solver="auto", tol=tol) for i in range(0, samples, 8)]))
    row["methods"][f"auto ({chosen})"] = {"seconds_per_sample": seconds / samples, "iterations": None,
                                          "error": error(u)}
    base = row["methods"]["spsolve"]["seconds_per_sample"]
    for method in row["methods"].values():
        method["speedup_vs_spsolve"] = base / method["seconds_per_sample"]
    print(f"s={s}: " + ", ".join(f"{name} {m['seconds_per_sample']:.4f} s ({m['speedup_vs_spsolve']:.1f}x, "
                                 f"err {m['error']:.1e})" for name, m in row["methods"].items()), flush=True)
    return row


def darcy_part(sizes: list[int], samples: int, tol: float) -> list[dict]:
    return [_darcy_row(s, samples, tol) for s in sizes]


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


def navier_stokes_part(batch: int) -> list[dict]:
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


def sequence_part(samples: int, size: int, k0: float, drop_tol: float) -> dict:
    from oplearn.linalg.recycling import RecyclingGMRES, similarity_order
    from oplearn.linalg.solve import GMRES_RESTART, ilu_preconditioner
    from oplearn.pdes import problem as problems

    problem = problems.get("helmholtz")
    params = problem.params(k0=k0)
    inputs = [problem.sample_input(np.random.default_rng([7, i]), size, params) for i in range(samples)]
    systems = [helmholtz_system(x) for x in inputs]
    preconditioners, ilu_seconds = _timed(lambda: [ilu_preconditioner(m, drop_tol=drop_tol) for m, _ in systems])

    def gmres_baseline():
        its = []
        for (matrix, rhs), prec in zip(systems, preconditioners, strict=True):
            count = [0]

            def callback(_, c=count):
                c[0] += 1

            x, _ = spla.gmres(matrix, rhs, M=prec, rtol=SEQUENCE_TOL * 0.5, atol=0.0, restart=GMRES_RESTART,
                              maxiter=2000, callback=callback, callback_type="pr_norm")
            assert np.linalg.norm(rhs - matrix @ x) <= SEQUENCE_TOL * 1.01 * np.linalg.norm(rhs)
            its.append(count[0])
        return its

    def recycled(order, recycle):
        solver = RecyclingGMRES(restart=GMRES_RESTART, recycle=recycle, tol=SEQUENCE_TOL)
        return [solver.solve(systems[i][0], systems[i][1], preconditioners[i]).matvecs for i in order]

    def direct():
        for matrix, rhs in systems:
            spla.spsolve(matrix.tocsc(), rhs)

    order = similarity_order(np.stack([x.ravel() for x in inputs]))
    runs = {}
    its, sec = _timed(gmres_baseline)
    runs["scipy gmres(50) + ILU"] = (sec / samples, float(np.mean(its)))
    its, sec = _timed(lambda: recycled(range(samples), 0))
    runs["oplearn gmres(50) + ILU (recycle 0)"] = (sec / samples, float(np.mean(its)))
    its, sec = _timed(lambda: recycled(range(samples), 10))
    runs["GCRO-DR(50, 10) + ILU, input order"] = (sec / samples, float(np.mean(its)))
    its, sec = _timed(lambda: recycled(order, 10))
    runs["SKR: GCRO-DR(50, 10) + ILU, similarity order"] = (sec / samples, float(np.mean(its)))
    _, sec = _timed(direct)
    runs["spsolve"] = (sec / samples, None)
    base = runs["scipy gmres(50) + ILU"][0]
    out = {"problem": "helmholtz", "k0": k0, "ilu_drop_tol": drop_tol, "contrast": params["contrast"], "s": size, "samples": samples, "tol": SEQUENCE_TOL,
           "ilu_seconds_per_system": ilu_seconds / samples,
           "note": "one ILU per system, built before the timed rows and shared by all Krylov rows "
                   "(add ilu_seconds_per_system to each); matvecs for our solvers, GMRES iterations for SciPy",
           "methods": {k: {"seconds_per_system": v[0], "iterations_or_matvecs": v[1], "speedup_vs_gmres": base / v[0]}
                       for k, v in runs.items()}}
    print(f"sequence helmholtz k0={k0} s={size} (ILU {ilu_seconds / samples:.4f} s/system, not included): " + ", ".join(
        f"{k}: {v[0]:.4f} s ({base / v[0]:.2f}x, its {v[1]})" for k, v in runs.items()), flush=True)
    return out


SEQUENCE_TOL = 1e-8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "darcy", "sequence", "navier-stokes"], default="all")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--sizes", type=int, nargs="+", default=[65, 129, 257, 513])
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--sequence-size", type=int, default=129)
    parser.add_argument("--k0", type=float, default=30.0, help="Helmholtz wave number of the sequence part")
    parser.add_argument("--drop-tol", type=float, default=1e-2, help="ILU drop tolerance of the sequence part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["threads"] = 1
    if args.part in ("all", "darcy"):
        results["darcy"] = darcy_part(args.sizes, args.samples, args.tol)
    if args.part in ("all", "navier-stokes"):
        results["navier_stokes"] = navier_stokes_part(batch=8)
    if args.part in ("all", "sequence"):
        results["sequence"] = sequence_part(args.samples, args.sequence_size, args.k0, args.drop_tol)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

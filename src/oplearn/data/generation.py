"""Sharded, resumable, bit-reproducible dataset generation.

Sample ``i`` of a dataset with seed ``K`` is drawn from ``numpy.random.default_rng([K, i])``, so
its value depends on neither the number of workers, nor the shard, nor interruptions. Finished
chunks of samples go to ``OUT.parts/`` (each file written atomically); when all are there they are
assembled into ``OUT`` (written to a temporary name, then renamed) and the parts are removed.
Killing the process at any moment and rerunning the same command therefore yields the same file,
byte for byte, as an uninterrupted run.

Problems with a batched solver (Burgers, Navier-Stokes, the multigrid of Darcy and high contrast)
solve each chunk of samples together, chunks aligned on multiples of the chunk size (default
``CHUNK_SIZE`` on a CPU, ``GPU_CHUNK_SIZE`` on a GPU). Batched FFTs may round differently from
single ones (observed: 2e-16), so a shard boundary that is not a multiple of the chunk size, or
another chunk size, can change a stored float32 value in its last bit, with a probability of order
1e-9 per value. The chunk size is also the size of each resumable part and the unit of work of
``workers``; an unfinished run resumes with the chunk size it started with.
"""

from __future__ import annotations

import json
import operator
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from oplearn import __version__
from oplearn.data.hdf5 import first_difference, read_provenance, write_file
from oplearn.errors import DataFileError, InvalidInputError
from oplearn.pdes import problem as problems
from oplearn.pdes.parameters import Integer

CHUNK_SIZE = 8  # samples solved together on a CPU (more leave the cache; see navier_stokes)
GPU_CHUNK_SIZE = 128  # on a GPU, where larger batches fill the device (benchmarks/generation_chunks.py)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate` did: the file, how many samples it solved now, and how fast."""

    path: Path
    samples: int
    solved_now: int
    solver_seconds_per_sample: float | None


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` -> ``(k, n)`` with ``0 <= k < n``."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise InvalidInputError(f"--shard must look like k/n (e.g. 0/4), got {text!r}") from None
    _check_shard(k, n)
    return k, n


def _check_shard(k: int, n: int) -> None:
    if n < 1 or not 0 <= k < n:
        raise InvalidInputError(f"--shard k/n needs 0 <= k < n, got {k}/{n}")


def _solve_chunk(name: str, params: dict[str, Any], resolution: int, seed: int,
                 indices: list[int], chunk_path: str, device: str = "cpu") -> float:
    """Sample and solve ``indices``; write them to ``chunk_path`` atomically; return solve time."""
    problem = problems.get(name)
    rngs = [np.random.default_rng([seed, index]) for index in indices]
    try:
        inputs, outputs, solve_seconds = problem.sample_and_solve_many(rngs, resolution, params, device)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError among them
        if device == "cpu" or "out of memory" not in str(exc):
            raise
        raise InvalidInputError(f"{device} ran out of memory solving {len(indices)} samples at once; "
                                "give a smaller --chunk-size") from None
    tmp = chunk_path + ".tmp.npz"
    np.savez(tmp, inputs=inputs.astype(np.float32), outputs=outputs.astype(np.float32))
    os.replace(tmp, chunk_path)
    return solve_seconds


def _checked_chunk_size(chunk_size: Any) -> int | None:
    """``None`` or a positive integer (NumPy integers too) as a plain ``int``."""
    if chunk_size is None:
        return None
    try:
        size = operator.index(chunk_size)
    except TypeError:
        size = 0
    if isinstance(chunk_size, bool) or size < 1:
        raise InvalidInputError(f"--chunk-size must be a positive integer, got {chunk_size!r}")
    return size


def _write_json_atomic(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True))
    os.replace(tmp, path)


@dataclass(frozen=True)
class GenerationPlan:
    """Everything :func:`generate` will do, decided and checked before anything is written.

    Attributes:
        name, params, resolution, seed: the problem, its checked parameters, the grid and seed.
        solve_params: ``params`` with ``solver="auto"`` resolved for this run's device and chunk
            size (:func:`oplearn.pdes.problem.choose_solver`); what the solver is given.
        provenance: the record the finished file carries.
        out, parts: the file, and the folder of finished chunks of an unfinished run.
        chunks: ``(start, stop)`` sample ranges, one resumable part each, aligned on multiples of
            ``chunk_size`` so that batched solvers see the same groups whatever the sharding.
        complete: ``out`` already holds exactly this data (nothing to do).
    """

    name: str
    params: dict[str, Any]
    solve_params: dict[str, Any]
    resolution: int
    seed: int
    provenance: dict[str, Any]
    out: Path
    parts: Path
    workers: int
    device: str
    chunk_size: int
    chunks: tuple[tuple[int, int], ...]
    complete: bool

    @property
    def samples(self) -> int:
        """Samples of this shard."""
        return self.chunks[-1][1] - self.chunks[0][0] if self.chunks else 0

    def chunk_path(self, index: int) -> Path:
        return self.parts / f"chunk_{index:06d}.npz"

    def missing_chunks(self) -> list[int]:
        return [c for c in range(len(self.chunks)) if not self.chunk_path(c).exists()]


def check_device(name: str, problem: problems.Problem, device: str) -> None:
    """``device`` is ``cpu`` or an available CUDA device that ``problem``'s solver can use."""
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InvalidInputError(f"--device must be cpu or cuda, got {device!r}")
    if device != "cpu" and problem.solve_batch is None:
        raise InvalidInputError(f"{name} is solved on the CPU only; drop --device {device}")
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise InvalidInputError(f"--device {device}: no CUDA device is available")


def _started_chunk_size(parts: Path, provenance: dict[str, Any], requested: int | None) -> int | None:
    """The chunk size of an unfinished run in ``parts`` (``None`` if there is none); refuses a run
    with other settings or another explicit chunk size."""
    meta_path = parts / "provenance.json"
    if not meta_path.exists():
        return None
    try:
        started = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        raise DataFileError(f"{meta_path}: unreadable record of an unfinished run; remove {parts}") from None
    # The parts' layout, not the data's provenance; runs from before it was recorded used 8.
    chunk_size = started.pop("chunk_size", CHUNK_SIZE)
    if started != provenance:
        key = first_difference(started, provenance)
        raise DataFileError(f"{parts} holds an unfinished run with different settings ({key}); remove it")
    if requested not in (None, chunk_size):
        raise DataFileError(f"{parts} holds an unfinished run with --chunk-size {chunk_size}; "
                            "resume it with that (or without --chunk-size) or remove it")
    return chunk_size


def plan_generation(
    name: str,
    *,
    samples: int,
    resolution: int,
    seed: int,
    out: str | os.PathLike,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    params: dict[str, Any] | None = None,
    device: str = "cpu",
    chunk_size: int | None = None,
) -> GenerationPlan:
    """Check every setting and decide what :func:`generate` will do; writes nothing.

    Arguments as for :func:`generate`. Raises :class:`InvalidInputError` for a bad setting and
    :class:`DataFileError` for an output that exists with other settings.
    """
    problem = problems.get(name)
    samples = Integer(1, low=1).check("--samples", samples)
    workers = Integer(1, low=1).check("--workers", workers)
    resolution = Integer(3, low=3).check("--resolution", resolution)
    seed = Integer(0, low=0).check("--seed", seed)
    params = problem.check(resolution, params)
    check_device(name, problem, device)
    requested_chunk_size = _checked_chunk_size(chunk_size)
    k, n = shard
    _check_shard(k, n)
    start, stop = k * samples // n, (k + 1) * samples // n
    if stop <= start:
        raise InvalidInputError(f"shard {k}/{n} of {samples} samples is empty")
    provenance = {
        "pde": name,
        "params": params,
        "grid": problem.grid,
        "ndim": problem.ndim,
        "resolution": resolution,
        "seed": seed,
        "samples_total": samples,
        "shard": {"index": k, "count": n, "start": start, "stop": stop},
        "rng": "numpy.random.default_rng([seed, sample_index])",
        "library": f"oplearn {__version__}",
    }
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    complete = False
    if out.exists():
        try:
            existing = read_provenance(out)
        except DataFileError as exc:
            raise DataFileError(f"{exc}; remove it or choose another --out") from None
        if existing != provenance:
            key = first_difference(existing, provenance)
            raise DataFileError(f"{out} exists with different settings ({key}: {existing.get(key)!r} there, "
                                f"{provenance.get(key)!r} now); remove it or choose another --out")
        complete = True
    elif not out.parent.is_dir():
        raise DataFileError(f"{out.parent}: output directory does not exist")
    started = None if complete else _started_chunk_size(parts, provenance, requested_chunk_size)
    size = started or requested_chunk_size or (CHUNK_SIZE if device == "cpu" else GPU_CHUNK_SIZE)
    edges = [start, *range((start // size + 1) * size, stop, size), stop]
    solve_params = dict(params)
    if params.get("solver") == "auto":
        solve_params["solver"] = problems.choose_solver(problem, resolution, device, batch=size)
    return GenerationPlan(name, params, solve_params, resolution, seed, provenance, out, parts,
                          workers, device, size, tuple(zip(edges[:-1], edges[1:], strict=True)), complete)


def execute_plan(plan: GenerationPlan, progress: bool = True) -> tuple[int, float]:
    """Solve the chunks that ``plan.parts`` lacks, each written atomically as it finishes.
    Returns ``(samples solved now, their solver seconds)``."""
    plan.parts.mkdir(exist_ok=True)
    meta_path = plan.parts / "provenance.json"
    if not meta_path.exists():
        _write_json_atomic(meta_path, {**plan.provenance, "chunk_size": plan.chunk_size})
    todo = plan.missing_chunks()
    jobs = [(plan.name, plan.solve_params, plan.resolution, plan.seed,
             list(range(*plan.chunks[c])), str(plan.chunk_path(c)), plan.device) for c in todo]
    done = plan.samples - sum(len(job[4]) for job in jobs)
    bar = tqdm(total=plan.samples, initial=done, unit="sample", disable=not progress,
               desc=f"{plan.name} s={plan.resolution}")
    solve_seconds, solved = 0.0, 0
    if plan.workers == 1 or len(jobs) <= 1:
        for job in jobs:
            solve_seconds += _solve_chunk(*job)
            solved += len(job[4])
            bar.update(len(job[4]))
    else:
        with _one_blas_thread(), ProcessPoolExecutor(plan.workers, mp_context=get_context("spawn")) as pool:
            futures = [(pool.submit(_solve_chunk, *job), len(job[4])) for job in jobs]
            for future, count in futures:
                solve_seconds += future.result()
                solved += count
                bar.update(count)
    bar.close()
    return solved, solve_seconds


def assemble(plan: GenerationPlan) -> Path:
    """Join the finished chunks of ``plan`` into ``plan.out`` (atomic) and remove the parts."""
    missing = plan.missing_chunks()
    if missing:
        raise DataFileError(f"{plan.parts}: {len(missing)} chunk(s) not yet solved; cannot assemble")
    loaded = [np.load(plan.chunk_path(c)) for c in range(len(plan.chunks))]
    inputs = np.concatenate([chunk["inputs"] for chunk in loaded])
    outputs = np.concatenate([chunk["outputs"] for chunk in loaded])
    write_file(plan.out, inputs, outputs, plan.provenance)
    shutil.rmtree(plan.parts, ignore_errors=True)
    return plan.out


@contextmanager
def _one_blas_thread():
    """Worker processes inherit one BLAS thread each (restored afterwards)."""
    saved = {var: os.environ.get(var) for var in _THREAD_VARS}
    os.environ.update({var: "1" for var in _THREAD_VARS})
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def generate(
    name: str,
    *,
    samples: int,
    resolution: int,
    seed: int,
    out: str | os.PathLike,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    params: dict[str, Any] | None = None,
    progress: bool = True,
    device: str = "cpu",
    chunk_size: int | None = None,
) -> GenerationResult:
    """Generate (or finish generating) shard ``shard`` of a dataset of ``samples`` samples:
    :func:`plan_generation` (check everything, write nothing), :func:`execute_plan` (solve the
    missing chunks) and :func:`assemble` (one atomic file).

    Args:
        name: registered PDE name (``oplearn.pdes.available()``).
        samples: total samples of the dataset (over all shards).
        resolution: points per axis ``s``.
        seed: dataset seed; sample ``i`` uses ``default_rng([seed, i])``.
        out: the HDF5 file to write (this shard's samples only).
        workers: processes, each with one BLAS thread.
        shard: ``(k, n)``: this file holds samples ``[k N / n, (k+1) N / n)``.
        params: overrides of the problem's default parameters (each checked first).
        device: ``"cpu"`` or ``"cuda"``, for problems with a batched PyTorch solver (the data do
            not depend on it beyond rounding; it is not part of the provenance).
        chunk_size: samples a batched solver solves at once, a resumable part holds and a worker
            takes as one job; default ``CHUNK_SIZE`` on a CPU, ``GPU_CHUNK_SIZE`` on a GPU, and
            for an unfinished run the size it started with (another explicit one is refused).
    """
    plan = plan_generation(name, samples=samples, resolution=resolution, seed=seed, out=out,
                           workers=workers, shard=shard, params=params, device=device,
                           chunk_size=chunk_size)
    if plan.complete:
        shutil.rmtree(plan.parts, ignore_errors=True)
        return GenerationResult(plan.out, plan.samples, 0, None)
    solved, solve_seconds = execute_plan(plan, progress)
    assemble(plan)
    return GenerationResult(plan.out, plan.samples, solved, solve_seconds / solved if solved else None)

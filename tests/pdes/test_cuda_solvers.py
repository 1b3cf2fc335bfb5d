"""The PyTorch solvers give the CPU's answer on a GPU: batched multigrid (Darcy, high contrast),
Navier-Stokes stepping, and generation with ``device="cuda"``. Skipped without a CUDA device."""

import numpy as np
import pytest
import torch

from oplearn.data.generation import generate
from oplearn.data.hdf5 import read_file
from oplearn.pdes import darcy
from oplearn.pdes import high_contrast as hc
from oplearn.pdes import navier_stokes as ns

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.parametrize("s", [65, 100])
def test_darcy_multigrid_on_cuda_matches_the_direct_solver(s):
    a = np.stack([darcy.sample_coefficient(np.random.default_rng([s, i]), s) for i in range(4)])
    u_gpu = darcy.solve(a, solver="mg", device="cuda", tol=1e-10)
    u_direct = darcy.solve(a, solver="direct")
    assert isinstance(u_gpu, np.ndarray) and u_gpu.dtype == np.float64 and u_gpu.shape == a.shape
    assert np.max(np.abs(u_gpu - u_direct)) < 1e-8 * np.max(np.abs(u_direct))


def test_auto_solver_on_cuda_uses_multigrid_and_matches_cpu():
    a = np.stack([darcy.sample_coefficient(np.random.default_rng([0, i]), 129) for i in range(2)])
    u_gpu = darcy.solve(a, device="cuda")
    u_cpu = darcy.solve(a, solver="mg")
    assert np.max(np.abs(u_gpu - u_cpu)) < 1e-8 * np.max(np.abs(u_cpu))


def test_high_contrast_multigrid_on_cuda_matches_the_direct_solver():
    a = np.stack([hc.sample_coefficient(np.random.default_rng([1, i]), 65, contrast=1e6,
                                        distribution="binary") for i in range(2)])
    u_gpu = hc.solve(a, solver="mg", device="cuda")
    u_direct = hc.solve(a, solver="direct")
    assert np.max(np.abs(u_gpu - u_direct)) < 1e-8 * np.max(np.abs(u_direct))


@pytest.mark.parametrize("scheme", ["euler", "heun"])
def test_navier_stokes_on_cuda_matches_cpu(scheme):
    s = 64
    w0 = np.stack([ns.sample_vorticity(np.random.default_rng([2, i]), s) for i in range(3)])
    forcing = ns.fno_forcing(s)
    w_cpu = ns.solve(w0, 1e-3, 0.05, forcing, 1e-3, scheme=scheme, snapshots=2)
    w_gpu = ns.solve(w0, 1e-3, 0.05, forcing, 1e-3, scheme=scheme, snapshots=2, device="cuda")
    assert isinstance(w_gpu, np.ndarray) and w_gpu.shape == (3, 2, s, s)
    assert np.max(np.abs(w_gpu - w_cpu)) < 1e-10 * np.max(np.abs(w_cpu))
    tensor = ns.solve(torch.as_tensor(w0, device="cuda"), 1e-3, 0.01, forcing, 1e-3, scheme=scheme)
    assert tensor.device.type == "cuda"  # tensor input stays on its device


@pytest.mark.parametrize("name, params", [("darcy", {"solver": "mg"}), ("high-contrast", {"solver": "mg"}),
                                          ("navier-stokes", {"t": 0.02, "dt": 1e-3, "snapshots": 2,
                                                             "solver_resolution": 32})])
def test_generation_on_cuda_writes_the_cpu_data(name, params, tmp_path):
    files = {device: generate(name, samples=10, resolution=32 if name == "navier-stokes" else 33, seed=0,
                              out=tmp_path / f"{device}.h5", params=params, progress=False,
                              device=device).path for device in ("cpu", "cuda")}
    (x_cpu, y_cpu, _), (x_gpu, y_gpu, _) = (read_file(files["cpu"]), read_file(files["cuda"]))
    np.testing.assert_array_equal(x_gpu, x_cpu)
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=0, atol=1e-6 * np.abs(y_cpu).max())


def test_generation_on_cuda_solves_chunks_of_the_gpu_size_by_default(tmp_path, monkeypatch):
    from oplearn.data import generation

    sizes, real = [], generation._solve_chunk
    monkeypatch.setattr(generation, "_solve_chunk", lambda *args: sizes.append(len(args[4])) or real(*args))
    params = {"solver_resolution": 128, "t": 0.1}
    samples = generation.GPU_CHUNK_SIZE + 8
    gpu = generate("burgers", samples=samples, resolution=64, seed=0, out=tmp_path / "gpu.h5", params=params,
                   progress=False, device="cuda").path
    assert sizes == [generation.GPU_CHUNK_SIZE, 8]
    cpu = generate("burgers", samples=samples, resolution=64, seed=0, out=tmp_path / "cpu.h5", params=params,
                   progress=False).path
    (x_gpu, y_gpu, _), (x_cpu, y_cpu, _) = read_file(gpu), read_file(cpu)
    np.testing.assert_array_equal(x_gpu, x_cpu)
    np.testing.assert_allclose(y_gpu, y_cpu, rtol=0, atol=1e-6 * np.abs(y_cpu).max())

"""Burgers solver against mathematics: Cole-Hopf, fourth-order time convergence, conservation."""

import numpy as np
import pytest
import torch

from oplearn.data.dataset import load
from oplearn.data.generation import generate
from oplearn.errors import InvalidInputError
from oplearn.pdes import burgers
from tests.pdes.manufactured import observed_orders


@pytest.mark.parametrize("nu, t, n", [(0.1, 1.0, 256), (0.1, 1.0, 1024), (0.02, 0.5, 1024)])
def test_matches_cole_hopf_to_1e8(nu, t, n):
    u0, exact = burgers.cole_hopf_sine(n, nu, t)
    assert np.abs(burgers.solve(u0, nu, t) - exact).max() < 1e-8


def test_time_stepping_convergence_order():
    """ETDRK4 is fourth order on smooth data (Cole-Hopf); on some random data (these two samples)
    the Cox-Matthews scheme shows its known stiff order reduction, to about three."""
    dts = (0.02, 0.01, 0.005)
    u0, exact = burgers.cole_hopf_sine(256, 0.1, 1.0)
    errors = [np.abs(burgers.solve(u0, 0.1, 1.0, dt=dt) - exact).max() for dt in dts]
    assert np.log2(errors[0] / errors[1]) > 3.3 and np.log2(errors[1] / errors[2]) > 3.5, errors
    u0 = np.stack([burgers.sample_initial(np.random.default_rng(i), 256) for i in range(2)])
    reference = burgers.solve(u0, 0.1, 1.0, dt=1e-4)
    errors = [np.abs(burgers.solve(u0, 0.1, 1.0, dt=dt) - reference).max() for dt in dts]
    orders = observed_orders(errors)
    assert orders.min() > 2.8, (errors, orders)


def test_batched_torch_and_conservation():
    u0 = np.stack([burgers.sample_initial(np.random.default_rng(i), 512) for i in range(3)])
    batched = burgers.solve(torch.from_numpy(u0), 0.1, 0.5, dt=5e-3)  # auto dt uses the batch max
    assert isinstance(batched, torch.Tensor) and batched.shape == (3, 512)
    one = burgers.solve(u0[1], 0.1, 0.5, dt=5e-3)
    np.testing.assert_allclose(batched[1].numpy(), one, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batched.numpy().mean(axis=1), u0.mean(axis=1), atol=1e-12)  # mass
    assert np.abs(batched.numpy()).max() <= np.abs(u0).max() + 1e-12  # maximum principle


def test_initial_condition_has_the_stated_spectrum():
    n, draws = 256, 400
    coeffs = np.stack([np.fft.rfft(burgers.sample_initial(np.random.default_rng(i), n)) / n
                       for i in range(draws)])
    m = np.arange(1, 40)
    expected = 625.0 * ((2 * np.pi * m) ** 2 + 25.0) ** -2.0  # variance of mode m
    observed = (np.abs(coeffs[:, 1:40]) ** 2).mean(axis=0)
    ratio = observed / expected
    assert np.all((ratio > 0.75) & (ratio < 1.3)), ratio
    assert abs((coeffs[:, 0].real ** 2).mean() / (625.0 / 625.0) - 1) < 0.2


def test_generation_stores_restricted_fine_solutions(tmp_path):
    params = {"solver_resolution": 512, "t": 0.5}
    path = generate("burgers", samples=3, resolution=128, seed=4, out=tmp_path / "b.h5",
                    params=params, progress=False).path
    data = load(path)
    assert data.inputs.shape == (3, 1, 128) and data.grid == "periodic"
    fine = burgers.sample_initial(np.random.default_rng([4, 1]), 512)
    np.testing.assert_allclose(data.inputs[1, 0].numpy(), fine[::4], atol=1e-6)
    np.testing.assert_allclose(data.outputs[1, 0].numpy(), burgers.solve(fine, 0.1, 0.5)[::4], atol=1e-6)


def test_bad_input(tmp_path):
    with pytest.raises(InvalidInputError, match="NaN"):
        burgers.solve(np.array([0.0, np.nan, 1.0, 2.0]))
    with pytest.raises(InvalidInputError, match="nu"):
        burgers.solve(np.zeros(8), nu=0.0)
    with pytest.raises(InvalidInputError, match=r"\(n,\)"):
        burgers.solve(np.zeros((2, 2, 8)))
    with pytest.raises(InvalidInputError, match="must divide"):
        generate("burgers", samples=2, resolution=100, seed=0, out=tmp_path / "x.h5", progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_1024_points_resolve_the_solution_of_8192():
    """The CPU preset solves at 1024 points: the same band-limited u0 solved at 8192 agrees."""
    u0 = burgers.sample_initial(np.random.default_rng(0), 1024)
    spectrum = np.zeros(8192 // 2 + 1, complex)
    spectrum[:513] = np.fft.rfft(u0) * 8
    fine = burgers.solve(np.fft.irfft(spectrum, 8192), 0.1, 1.0)[::8]
    assert np.abs(burgers.solve(u0, 0.1, 1.0) - fine).max() < 1e-12 * np.abs(fine).max()

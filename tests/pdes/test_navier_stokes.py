"""2D Navier-Stokes (vorticity form) against exact solutions, the advection term in closed form,
conservation laws and the observed order in time."""

import numpy as np
import pytest
import torch

from oplearn.data.dataset import load
from oplearn.data.generation import generate
from oplearn.errors import InvalidInputError
from oplearn.pdes import navier_stokes as ns
from tests.pdes.manufactured import observed_orders

TWO_PI = 2 * np.pi


def shell_vortex(s):
    """Two modes on the shell |k|^2 = 5 (in units of 4 pi^2): the advection term vanishes."""
    x, y = ns.grid(s)
    return np.sin(TWO_PI * (x + 2 * y)) + np.cos(TWO_PI * (2 * x - y))


def test_single_shell_vortex_decays_exactly():
    nu, t, dt, s = 0.01, 0.5, 1e-3, 32
    w0 = shell_vortex(s)
    w = ns.solve(w0, nu, t, dt=dt)
    rate = nu * 4 * np.pi ** 2 * 5
    cn_factor = ((1 - 0.5 * dt * rate) / (1 + 0.5 * dt * rate)) ** round(t / dt)
    assert np.abs(w - cn_factor * w0).max() < 1e-12  # the scheme's own amplification, to rounding
    errors = [np.abs(ns.solve(w0, nu, t, dt=h) - np.exp(-rate * t) * w0).max() for h in (4e-3, 2e-3, 1e-3)]
    orders = observed_orders(errors)
    assert errors[-1] < 1e-6 and np.all(np.abs(orders - 2) < 0.05)  # Crank-Nicolson: second order


def test_fno_forcing_steady_state_stays_put():
    s, nu = 32, 1e-3
    forcing = ns.fno_forcing(s)
    steady = forcing / (8 * np.pi ** 2 * nu)
    w = ns.solve(steady, nu, 1.0, forcing, dt=1e-2)
    assert np.abs(w - steady).max() < 1e-12 * np.abs(steady).max()


def test_advection_term_matches_closed_form():
    """-(u . grad w) for w = sum a cos(2 pi (m x + n y) + phase), psi and u from the same modes."""
    s = 32
    x, y = ns.grid(s)
    modes = [(1.0, 1, 0, 0.3), (0.5, 1, 2, 1.1), (-0.7, 2, -1, 0.0), (0.4, 0, 2, 2.0)]
    w = sum(a * np.cos(TWO_PI * (m * x + n * y) + p) for a, m, n, p in modes)

    def field(weight):
        return sum(a * weight(m, n) * np.sin(TWO_PI * (m * x + n * y) + p) for a, m, n, p in modes)

    w_x, w_y = field(lambda m, n: -TWO_PI * m), field(lambda m, n: -TWO_PI * n)
    psi_y = field(lambda m, n: -TWO_PI * n / (TWO_PI ** 2 * (m * m + n * n)))
    psi_x = field(lambda m, n: -TWO_PI * m / (TWO_PI ** 2 * (m * m + n * n)))
    exact = -(psi_y * w_x - psi_x * w_y)
    spectral = ns._Spectral(s, torch.device("cpu"))
    computed = torch.fft.irfft2(spectral.advection(torch.fft.rfft2(torch.from_numpy(w))[None]), s=(s, s))[0]
    assert np.abs(computed.numpy() - exact).max() < 1e-12 * np.abs(exact).max()
    assert np.abs(exact).max() > 1.0  # the test field really is nonlinear


def band_limited_vorticity(s, seed=0):
    w = ns.sample_vorticity(np.random.default_rng(seed), s)
    k = np.abs(np.fft.fftfreq(s, 1 / s))
    keep = (k[:, None] < s / 3) & (k[None, :] < s / 3)
    return np.fft.ifft2(np.fft.fft2(w) * keep).real * 20  # strong enough to advect visibly in t = 0.5


def test_inviscid_flow_conserves_energy_and_enstrophy():
    """The dealiased semi-discrete system conserves both exactly; what drifts is the time stepping,
    and it vanishes at least at second order in dt."""
    s = 32
    w0 = band_limited_vorticity(s)
    k2 = (np.fft.fftfreq(s, 1 / s)[:, None] ** 2 + np.fft.fftfreq(s, 1 / s)[None, :] ** 2)

    def energy(v):
        return np.sum(np.abs(np.fft.fft2(v)[k2 > 0]) ** 2 / k2[k2 > 0])

    def drifts(dt):
        w = ns.solve(w0, 0.0, 0.5, dt=dt)
        return np.array([abs(energy(w) / energy(w0) - 1), abs(np.sum(w ** 2) / np.sum(w0 ** 2) - 1)]), w

    coarse, _ = drifts(2e-3)
    fine, w = drifts(1e-3)
    assert np.abs(w - w0).max() > 0.1 * np.abs(w0).max()  # the flow moved
    assert np.all(fine < 1e-5) and np.all(coarse / fine > 3.9), (coarse, fine)
    assert abs(w.mean()) < 1e-14


def test_observed_order_in_time_on_random_data():
    s, nu, t = 32, 1e-3, 0.5
    w0 = band_limited_vorticity(s, seed=1) / 4
    forcing = ns.fno_forcing(s)
    reference = ns.solve(w0, nu, t, forcing, dt=t / 1024)
    for scheme, order in (("heun", 2), ("euler", 1)):
        errors = [np.abs(ns.solve(w0, nu, t, forcing, dt=t / n, scheme=scheme) - reference).max()
                  for n in (64, 128, 256)]
        observed = observed_orders(errors)
        assert np.all(np.abs(observed - order) < 0.1), (scheme, observed)


def test_batch_snapshots_and_types():
    s = 16
    rng = np.random.default_rng(3)
    w0 = np.stack([ns.sample_vorticity(rng, s) for _ in range(3)])
    forcing = ns.fno_forcing(s)
    trajectory = ns.solve(w0, 1e-3, 0.2, forcing, dt=1e-2, snapshots=4)
    assert trajectory.shape == (3, 4, s, s)
    one = ns.solve(w0[1], 1e-3, 0.1, forcing, dt=1e-2)
    assert np.abs(trajectory[1, 1] - one).max() < 1e-14
    tensor = ns.solve(torch.from_numpy(w0), 1e-3, 0.2, forcing, dt=1e-2)
    assert isinstance(tensor, torch.Tensor) and torch.allclose(tensor, torch.from_numpy(trajectory[:, -1]))


def test_initial_field_has_the_stated_spectrum():
    s, count, sigma, tau, alpha = 16, 4000, 7.0 ** 1.5, 7.0, 2.5
    rng = np.random.default_rng(0)
    coeffs = np.stack([np.fft.fft2(ns.sample_vorticity(rng, s)) / s ** 2 for _ in range(count)])
    k = np.fft.fftfreq(s, 1 / s)
    expected = 2 * sigma ** 2 * (4 * np.pi ** 2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau ** 2) ** -alpha
    measured = np.mean(np.abs(coeffs) ** 2, axis=0)
    for mode in ((1, 0), (0, 1), (1, 1), (2, 3)):
        assert abs(measured[mode] / expected[mode] - 1) < 0.1, mode
    assert np.abs(coeffs[:, 0, 0]).max() < 1e-15


@pytest.mark.parametrize("kwargs, message", [
    ({"w0": np.zeros((4, 5))}, "w0 must be"),
    ({"w0": np.full((8, 8), np.nan)}, "NaN"),
    ({"nu": -1.0}, "nu >= 0"),
    ({"scheme": "rk4"}, "scheme"),
    ({"forcing": np.zeros((4, 4))}, "forcing"),
    ({"snapshots": 0}, "snapshots"),
])
def test_bad_input(kwargs, message):
    args = {"w0": np.zeros((8, 8)), "nu": 1e-3, "t": 0.1, **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        ns.solve(args.pop("w0"), **args)


def test_generation_stores_time_series_at_the_coarse_resolution(tmp_path):
    params = {"solver_resolution": 32, "t": 0.2, "snapshots": 2, "dt": 1e-2}
    path = generate("navier-stokes", samples=3, resolution=16, seed=5, out=tmp_path / "ns.h5",
                    params=params, progress=False).path
    import h5py

    with h5py.File(path) as h5:
        assert h5["inputs"].shape == (3, 1, 16, 16) and h5["outputs"].shape == (3, 2, 1, 16, 16)
    w0 = ns.sample_vorticity(np.random.default_rng([5, 1]), 32, 7.0 ** 1.5, 7.0, 2.5)
    expected = ns.solve(w0, 1e-3, 0.2, ns.fno_forcing(32), dt=1e-2, snapshots=2)[:, ::2, ::2]
    data = load(path)
    assert data.outputs.shape == (3, 2, 16, 16) and data.provenance["time_steps"] == 2
    assert np.abs(data.outputs[1].numpy() - expected).max() < 1e-6
    assert np.abs(data.inputs[1, 0].numpy() - w0[::2, ::2]).max() < 1e-6


def test_generation_rejects_bad_settings(tmp_path):
    with pytest.raises(InvalidInputError, match="must divide"):
        generate("navier-stokes", samples=2, resolution=24, seed=0, out=tmp_path / "x.h5",
                 params={"solver_resolution": 32}, progress=False)
    with pytest.raises(InvalidInputError, match="no CUDA|cpu or cuda"):
        generate("navier-stokes", samples=2, resolution=16, seed=0, out=tmp_path / "x.h5",
                 params={"solver_resolution": 32}, progress=False,
                 device="cuda" if not torch.cuda.is_available() else "tpu")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("t, snapshots, dt, tolerance", [(2.0, 4, 1e-3, 1e-6), (30.0, 30, 1e-2, 3e-5)])
def test_cpu_presets_time_steps_agree_with_ten_times_smaller_ones(t, snapshots, dt, tolerance):
    """At 64 x 64, configs/navier_stokes.yaml's dt = 1e-3 to t = 2 (the paper: 1e-4) and
    configs/navier_stokes_rollout*.yaml's dt = 1e-2 to T = 30 agree with a ten times smaller step
    to ``tolerance`` times the field's largest value, at every point of every snapshot."""
    s = 64
    w0 = ns.sample_vorticity(np.random.default_rng(0), s)
    forcing = ns.fno_forcing(s)
    coarse = ns.solve(w0, 1e-3, t, forcing, dt=dt, snapshots=snapshots)
    fine = ns.solve(w0, 1e-3, t, forcing, dt=dt / 10, snapshots=snapshots)
    assert np.abs(coarse - fine).max() < tolerance * np.abs(fine).max()

"""Allen-Cahn solver against mathematics: fourth order in time, spectral in space, the exact ODE
solution without diffusion, exact heat decay without reaction, stationary kinks; input checks."""

import numpy as np
import pytest
import torch

from oplearn.errors import InvalidInputError
from oplearn.pdes import allen_cahn
from tests.pdes.manufactured import observed_orders


def grid(n, length=2.0):
    return -length / 2 + length * np.arange(n) / n


def smooth(x):
    return 0.5 * np.sin(np.pi * x) + 0.4 * np.cos(2 * np.pi * x)


@pytest.mark.parametrize("eps", [1e-2, 1e-3])
def test_fourth_order_in_time(eps):
    u0 = smooth(grid(64))
    reference = allen_cahn.solve(u0, eps, 5.0, 0.5, dt=1e-4)
    errors = [np.abs(allen_cahn.solve(u0, eps, 5.0, 0.5, dt=dt) - reference).max()
              for dt in (0.05, 0.025, 0.0125, 0.00625)]
    orders = observed_orders(errors)
    assert (orders > 3.85).all() and (orders < 4.3).all(), (errors, orders)  # measured 4.01 .. 4.15


def test_spectral_in_space():
    """``n`` and ``2n`` points agree at the common points, and the gap shrinks exponentially."""
    def gap(n):
        coarse = allen_cahn.solve(smooth(grid(n)), 1e-2, 5.0, 0.5, dt=5e-3)
        fine = allen_cahn.solve(smooth(grid(2 * n)), 1e-2, 5.0, 0.5, dt=5e-3)
        return np.abs(coarse - fine[::2]).max()

    gaps = [gap(n) for n in (64, 128)]  # measured 1.4e-5, 1.2e-10
    assert gaps[1] < 1e-9 and gaps[0] / gaps[1] > 1e4, gaps


def test_no_diffusion_is_the_exact_ode_solution():
    """``eps = 0``: ``u' = r (u - u^3)`` at each point, ``u = u0 e^{rt} / sqrt(1 - u0^2 + u0^2 e^{2rt})``."""
    u0 = np.random.default_rng(0).uniform(-1.5, 1.5, (3, 32))
    r, t = 5.0, np.array([0.1, 0.4, 0.5])
    out = allen_cahn.trajectory(u0, t, eps=0.0, reaction=r, dt=1e-3)
    e = np.exp(r * t)[None, :, None]
    exact = u0[:, None] * e / np.sqrt(1 - u0[:, None] ** 2 + u0[:, None] ** 2 * e ** 2)
    assert out.shape == (3, 3, 32)
    assert np.abs(out - exact).max() < 1e-9


def test_no_reaction_is_exact_heat_decay():
    """``reaction = 0``: mode ``m`` decays as ``e^{-eps k^2 t}``, ``k = 2 pi m / length``."""
    length, n, eps, t = 3.0, 64, 0.05, 0.7
    x = grid(n, length)
    k = 2 * np.pi / length
    u0 = 1.0 + np.sin(k * x) + 0.5 * np.cos(5 * k * x)
    exact = 1.0 + np.exp(-eps * k ** 2 * t) * np.sin(k * x) + 0.5 * np.exp(-eps * 25 * k ** 2 * t) * np.cos(5 * k * x)
    assert np.abs(allen_cahn.solve(u0, eps, 0.0, t, length=length) - exact).max() < 1e-13


def test_stationary_kinks_stay_put():
    """``tanh(x sqrt(r / (2 eps)))`` is stationary; two kinks a distance 1 apart on the circle
    interact as ``e^{-2 sqrt(r / (2 eps))}``, invisible here."""
    eps, r = 1e-3, 5.0
    s = np.sqrt(r / (2 * eps))
    x = grid(512)
    u0 = np.tanh(s * (x + 0.5)) - np.tanh(s * (x - 0.5)) - 1.0
    u = allen_cahn.solve(u0, eps, r, 1.0)
    assert np.abs(u - u0).max() < 1e-9
    # A kink of the wrong width is not stationary (the check above has teeth).
    wide = np.tanh(0.5 * s * (x + 0.5)) - np.tanh(0.5 * s * (x - 0.5)) - 1.0
    assert np.abs(allen_cahn.solve(wide, eps, r, 1.0) - wide).max() > 1e-2


def test_trajectory_shapes_types_and_consistency():
    u0 = smooth(grid(32))
    times = [0.0, 0.1, 0.1, 0.3]
    out = allen_cahn.trajectory(u0, times, 1e-2, 5.0, dt=0.01)
    assert out.shape == (4, 32) and out.dtype == np.float64
    np.testing.assert_allclose(out[0], u0, atol=1e-15)
    np.testing.assert_array_equal(out[1], out[2])
    np.testing.assert_allclose(out[3], allen_cahn.solve(u0, 1e-2, 5.0, 0.3, dt=0.01), atol=1e-13)
    batch = np.stack([u0, -u0])
    both = allen_cahn.trajectory(torch.as_tensor(batch), times, 1e-2, 5.0, dt=0.01)
    assert isinstance(both, torch.Tensor) and both.shape == (2, 4, 32)
    np.testing.assert_allclose(both[0].numpy(), out, atol=1e-14)
    np.testing.assert_allclose(both[1].numpy(), -out, atol=1e-14)  # u -> -u is a symmetry
    single = allen_cahn.solve(torch.as_tensor(batch), 1e-2, 5.0, 0.3, dt=0.01)
    assert single.shape == (2, 32)


@pytest.mark.parametrize("call", [
    lambda: allen_cahn.solve(np.zeros((2, 2, 8))),
    lambda: allen_cahn.solve(np.zeros(3)),
    lambda: allen_cahn.solve(np.array([0.0, np.nan, 0.0, 0.0])),
    lambda: allen_cahn.solve(np.zeros(8), eps=-1e-3),
    lambda: allen_cahn.solve(np.zeros(8), eps=float("nan")),
    lambda: allen_cahn.solve(np.zeros(8), reaction=-1.0),
    lambda: allen_cahn.solve(np.zeros(8), t=-0.1),
    lambda: allen_cahn.solve(np.zeros(8), length=0.0),
    lambda: allen_cahn.solve(np.zeros(8), dt=0.0),
    lambda: allen_cahn.solve(np.zeros(8), eps="a"),
    lambda: allen_cahn.trajectory(np.zeros(8), [0.2, 0.1]),
    lambda: allen_cahn.trajectory(np.zeros(8), []),
    lambda: allen_cahn.trajectory(np.zeros(8), [[0.1]]),
    lambda: allen_cahn.trajectory(np.zeros(8), [-0.1, 0.1]),
])
def test_invalid_input(call):
    with pytest.raises(InvalidInputError):
        call()


def test_blow_up_is_reported():
    with pytest.raises(InvalidInputError, match="blew up"):
        allen_cahn.solve(np.full(8, 10.0), 0.0, 5.0, 1.0, dt=0.5)

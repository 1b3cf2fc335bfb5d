"""Advection-diffusion solver against mathematics: manufactured solution for both schemes,
a divergence-free random velocity, and the discrete maximum principle of upwinding."""

import numpy as np
import pytest

from oplearn.data.generation import generate
from oplearn.data.hdf5 import read_file
from oplearn.errors import InvalidInputError
from oplearn.pdes import advection_diffusion as ad
from tests.pdes.manufactured import manufactured, observed_orders

SIZES = [17, 33, 65, 129]
EPS = 0.05  # Pe = max|b| / eps = 20 pi; mesh Peclet 1.96 at s = 17, 0.25 at s = 129


def _manufactured(s: int):
    """u = x sin(pi x) sin(2 pi y), b = curl(sin(pi x) sin(pi y)) (a cellular flow); f from the PDE."""
    m = manufactured(s)
    x, y, pi = m.x, m.y, np.pi
    b = np.stack([pi * np.sin(pi * x) * np.cos(pi * y), -pi * np.cos(pi * x) * np.sin(pi * y)])
    return -EPS * m.laplacian + b[0] * m.ux + b[1] * m.uy, b, m.u


@pytest.mark.parametrize("scheme, order", [("central", 1.9), ("upwind", 0.9)])
def test_manufactured_solution_converges_at_the_scheme_order(scheme, order):
    errors = []
    for s in SIZES:
        f, b, u = _manufactured(s)
        u_h = ad.solve(f, b, EPS, scheme=scheme, solver="direct")
        errors.append(np.linalg.norm(u_h - u) / np.linalg.norm(u))
    orders = observed_orders(errors)
    print(f"\nadvection-diffusion {scheme}: relative L2 errors {np.array(errors)}, "
          f"observed orders {orders}")
    assert errors[-1] < (1e-3 if scheme == "central" else 5e-2)
    assert orders.min() >= order, orders


def test_auto_scheme_follows_the_mesh_peclet_number():
    b = np.stack([np.full((17, 17), 1.0), np.zeros((17, 17))])  # h = 1/16
    assert ad.choose_scheme(b, 1.0 / 32) == "central"  # mesh Peclet exactly 1
    assert ad.choose_scheme(b, 1.0 / 33) == "upwind"
    f, b, _ = _manufactured(17)
    np.testing.assert_array_equal(ad.solve(f, b, EPS), ad.solve(f, b, EPS, scheme="upwind"))
    f, b, _ = _manufactured(129)
    np.testing.assert_array_equal(ad.solve(f, b, EPS, solver="direct"),
                                  ad.solve(f, b, EPS, scheme="central", solver="direct"))


def test_random_velocity_is_divergence_free_tangential_and_normalised():
    s = 65
    h = 1.0 / (s - 1)
    for seed in range(3):
        b = ad.sample_velocity(np.random.default_rng(seed), s)
        div = ((b[0, 2:, 1:-1] - b[0, :-2, 1:-1]) + (b[1, 1:-1, 2:] - b[1, 1:-1, :-2])) / (2 * h)
        gradient_scale = np.abs(np.diff(b[0], axis=0)).max() / h
        assert np.abs(div).max() < 1e-12 * gradient_scale
        assert np.all(b[0, 0] == 0) and np.all(b[0, -1] == 0)  # b . n = 0 on x = 0, 1
        assert np.all(b[1, :, 0] == 0) and np.all(b[1, :, -1] == 0)  # and on y = 0, 1
        assert abs(np.sqrt(b[0] ** 2 + b[1] ** 2).max() - 1.0) < 1e-14
    x = ad.sample_input(np.random.default_rng(0), 33, velocity="constant", angle=0.5)
    assert x.shape == (3, 33, 33)
    np.testing.assert_allclose(x[1:, 5, 7], [np.cos(0.5), np.sin(0.5)], rtol=0, atol=1e-15)


def test_upwind_obeys_the_maximum_principle_where_central_oscillates():
    f, b, eps = np.ones((33, 33)), np.array([1.0, 0.5]), 1e-4  # mesh Peclet 176
    u_up = ad.solve(f, b, eps)  # auto -> upwind
    assert u_up.min() >= 0.0 and u_up.max() <= 1.0 + 1e-12  # u <= x-travel time <= 1 / b_x
    u_c = ad.solve(f, b, eps, scheme="central")
    assert u_c.min() < -0.1  # the reason for upwinding


def test_direct_and_gmres_agree():
    x = ad.sample_input(np.random.default_rng(1), 65)
    u_direct = ad.solve(x[0], x[1:], 0.1, solver="direct")
    u_gmres = ad.solve(x[0], x[1:], 0.1, solver="gmres", tol=1e-12)
    assert np.max(np.abs(u_direct - u_gmres)) < 1e-8 * np.max(np.abs(u_direct))


def test_batched_solve_matches_single_solves():
    rng = np.random.default_rng(2)
    x = np.stack([ad.sample_input(rng, 17) for _ in range(3)])
    u = ad.solve(x[:, 0], x[:, 1:], 0.1)
    assert u.shape == (3, 17, 17)
    for i in range(3):
        np.testing.assert_allclose(u[i], ad.solve(x[i, 0], x[i, 1:], 0.1), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "f, b, eps, kwargs, message",
    [
        (np.ones((5, 6)), np.ones(2), 1.0, {}, r"f must be \(s, s\) or \(batch, s, s\) with s >= 3"),
        (np.ones((5, 5)), np.ones((2, 4, 4)), 1.0, {},
         r"velocity must be \(2,\), \(2, s, s\) or \(batch, 2, s, s\) matching f \(5, 5\), got \(2, 4, 4\)"),
        (np.ones((5, 5)), np.ones(3), 1.0, {}, r"velocity must be .* got \(3,\)"),
        (np.full((5, 5), np.nan), np.ones(2), 1.0, {}, "f contains NaN or inf"),
        (np.ones((5, 5)), np.array([np.nan, 1.0]), 1.0, {}, "velocity contains NaN or inf"),
        (np.ones((5, 5)), np.ones(2), 0.0, {}, "eps must be > 0, got 0.0"),
        (np.ones((5, 5)), np.ones(2), 1.0, {"scheme": "lax"},
         "scheme must be one of auto, central, upwind, got 'lax'"),
        (np.ones((5, 5)), np.ones(2), 1.0, {"solver": "amg"}, "solver must be"),
    ],
)
def test_bad_input_raises(f, b, eps, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        ad.solve(f, b, eps, **kwargs)


@pytest.mark.parametrize("params, message", [
    ({"peclet": -1.0}, "peclet must be > 0, got -1.0"),
    ({"velocity": "swirl"}, "velocity must be one of random, constant, got 'swirl'"),
    ({"scheme": "lax"}, "scheme must be one of auto, central, upwind, got 'lax'"),
])
def test_bad_parameters_raise_before_writing(params, message, tmp_path):
    with pytest.raises(InvalidInputError, match=message):
        generate("advection-diffusion", samples=2, resolution=17, seed=0, out=tmp_path / "x.h5",
                 params=params, progress=False)
    assert not list(tmp_path.iterdir())


def test_generation_stores_the_module_solution(tmp_path):
    path = generate("advection-diffusion", samples=2, resolution=17, seed=0, out=tmp_path / "x.h5",
                    progress=False).path
    inputs, outputs, provenance = read_file(path)
    assert inputs.shape == (2, 3, 17, 17) and outputs.shape == (2, 1, 17, 17)
    eps = 1.0 / provenance["params"]["peclet"]
    for i in range(2):
        x = ad.sample_input(np.random.default_rng([0, i]), 17)
        np.testing.assert_allclose(inputs[i], x, rtol=0, atol=1e-6 * np.abs(x).max())
        stored = inputs[i].astype(np.float64)
        u = ad.solve(stored[0], stored[1:], eps)
        np.testing.assert_allclose(outputs[i, 0], u, rtol=0, atol=1e-5 * np.abs(u).max())

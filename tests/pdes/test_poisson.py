"""Poisson solver against mathematics: manufactured solution, observed order, discrete equation."""

import numpy as np
import pytest

from oplearn.data.generation import generate
from oplearn.data.hdf5 import read_file
from oplearn.errors import InvalidInputError
from oplearn.pdes import get, poisson
from tests.pdes.manufactured import manufactured, observed_orders

SIZES = [17, 33, 65, 129]


def _manufactured(s: int):
    """u = x sin(pi x) sin(2 pi y) (zero on the boundary), f = -Laplacian u."""
    m = manufactured(s)
    return -m.laplacian, m.u


def test_manufactured_solution_converges_at_second_order():
    errors = []
    for s in SIZES:
        f, u = _manufactured(s)
        u_h = poisson.solve(f)
        errors.append(np.linalg.norm(u_h - u) / np.linalg.norm(u))
    orders = observed_orders(errors)
    print(f"\npoisson: relative L2 errors {np.array(errors)}, observed orders {orders}")
    assert errors[-1] < 2e-4
    assert orders.min() >= 1.9, orders


def test_solution_satisfies_the_five_point_equation():
    f = poisson.sample_source(np.random.default_rng(0), 33)
    u = poisson.solve(f)
    h2 = (1.0 / 32) ** 2
    lap = (u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2] - 4 * u[1:-1, 1:-1]) / h2
    np.testing.assert_allclose(-lap, f[1:-1, 1:-1], rtol=0, atol=1e-8 * np.abs(f).max())
    for edge in (u[0], u[-1], u[:, 0], u[:, -1]):
        assert np.all(edge == 0.0)


def test_source_is_reproducible_and_of_order_one():
    f = np.stack([poisson.sample_source(np.random.default_rng([3, i]), 33) for i in range(200)])
    np.testing.assert_array_equal(f[0], poisson.sample_source(np.random.default_rng([3, 0]), 33))
    assert 0.8 < f.std(axis=0).mean() < 1.2  # documented: about 0.99 averaged over the square
    assert 0.4 < f.std(axis=0)[16, 16] < 0.65  # and about 0.53 at the centre
    assert abs(f.mean()) < 0.1


def test_direct_and_amg_agree():
    f = poisson.sample_source(np.random.default_rng(1), 65)
    u_direct = poisson.solve(f, solver="direct")
    u_amg = poisson.solve(f, solver="amg", tol=1e-11)
    assert np.max(np.abs(u_direct - u_amg)) < 1e-8 * np.max(np.abs(u_direct))


def test_batched_solve_matches_single_solves():
    rng = np.random.default_rng(2)
    f = np.stack([poisson.sample_source(rng, 17) for _ in range(3)])
    u = poisson.solve(f)
    assert u.shape == f.shape
    for i in range(3):
        np.testing.assert_allclose(u[i], poisson.solve(f[i]), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    "f, kwargs, message",
    [
        (np.ones((5, 6)), {}, r"f must be \(s, s\) or \(batch, s, s\) with s >= 3, got shape \(5, 6\)"),
        (np.ones(5), {}, r"f must be .* got shape \(5,\)"),
        (np.ones((2, 2)), {}, "s >= 3"),
        (np.full((5, 5), np.nan), {}, "f contains NaN or inf"),
        (np.ones((5, 5)), {"solver": "magic"}, "solver must be"),
    ],
)
def test_bad_input_raises(f, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        poisson.solve(f, **kwargs)


@pytest.mark.parametrize("params, message", [
    ({"alpha": -1.0}, "alpha must be > 0, got -1.0"),
    ({"sigma": "big"}, "sigma must be a number, got 'big'"),
    ({"tau": float("nan")}, "tau must be >= 0"),
])
def test_bad_parameters_raise(params, message, tmp_path):
    with pytest.raises(InvalidInputError, match=message):
        poisson.sample_source(np.random.default_rng(0), 9, **params)
    with pytest.raises(InvalidInputError, match=message):
        generate("poisson", samples=2, resolution=9, seed=0, out=tmp_path / "x.h5", params=params,
                 progress=False)
    assert not list(tmp_path.iterdir())


def test_generation_stores_the_module_solution(tmp_path):
    path = generate("poisson", samples=2, resolution=17, seed=0, out=tmp_path / "x.h5",
                    progress=False).path
    inputs, outputs, provenance = read_file(path)
    assert inputs.shape == (2, 1, 17, 17) and outputs.shape == (2, 1, 17, 17)
    assert provenance["pde"] == "poisson" and provenance["params"] == get("poisson").defaults
    for i in range(2):
        f = poisson.sample_source(np.random.default_rng([0, i]), 17)
        np.testing.assert_allclose(inputs[i, 0], f, rtol=0, atol=1e-6 * np.abs(f).max())
        u = poisson.solve(inputs[i, 0].astype(np.float64))
        np.testing.assert_allclose(outputs[i, 0], u, rtol=0, atol=1e-6 * np.abs(u).max())

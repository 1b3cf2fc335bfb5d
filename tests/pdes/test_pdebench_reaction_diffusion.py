"""PDEBench's 1D diffusion-reaction solver: each split flow exact, the splitting second order."""

import math

import numpy as np
import pytest

from oplearn.errors import InvalidInputError
from oplearn.pdes import pdebench_reaction_diffusion as rd


def test_the_reaction_flow_solves_the_logistic_equation():
    u = np.linspace(0, 1, 11)
    rho, h, step = 5.0, 0.3, 1e-5
    rate = (rd.reaction(u, rho, h + step) - rd.reaction(u, rho, h - step)) / (2 * step)
    now = rd.reaction(u, rho, h)
    np.testing.assert_allclose(rate, rho * now * (1 - now), atol=1e-7)
    np.testing.assert_allclose(rd.reaction(rd.reaction(u, rho, 0.1), rho, 0.2), now, atol=1e-14)  # a flow


def test_the_diffusion_flow_decays_each_mode_exactly():
    x = (np.arange(64) + 0.5) / 64
    u = 1 + np.sin(2 * math.pi * 3 * x)
    nu, h = 0.01, 0.7
    np.testing.assert_allclose(rd.diffusion(u, nu, h), 1 + math.exp(-nu * (6 * math.pi) ** 2 * h) * (u - 1), atol=1e-13)


def test_the_splitting_is_second_order_and_keeps_u_in_the_unit_interval():
    times = np.array([0.0, 0.25])
    x = (np.arange(128) + 0.5) / 128
    u0 = 0.5 + 0.4 * np.sin(2 * math.pi * x) * np.cos(4 * math.pi * x)
    reference = rd.evolve(u0, 0.01, 5.0, times, substeps=512)[-1]
    errors = [np.abs(rd.evolve(u0, 0.01, 5.0, times, substeps=n)[-1] - reference).max() for n in (4, 8, 16)]
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:], strict=False)]
    assert all(1.9 < p < 2.1 for p in orders), (errors, orders)
    u, x, t = rd.solve(3, 0.5, 10.0, resolution=64, steps=11, t_end=0.1)
    assert u.shape == (3, 11, 64) and t.shape == (12,)
    assert u.min() >= 0 and u.max() <= 1 and u[:, 0].min() == 0 and u[:, 0].max() == 1  # scaled to [0, 1]


def test_bad_parameters_are_refused():
    for nu, rho in ((-1.0, 1.0), (float("nan"), 1.0), (0.5, float("inf"))):
        with pytest.raises(InvalidInputError, match="nu >= 0"):
            rd.solve(1, nu, rho)

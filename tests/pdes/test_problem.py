"""Every registered problem declares and checks all its parameters, states its channels, and has
one rule for what ``solver="auto"`` means."""

import numpy as np
import pytest

from oplearn import pdes
from oplearn.errors import InvalidInputError
from oplearn.pdes.parameters import Choice, Integer, Number, check_parameters
from oplearn.pdes.problem import Problem

# small settings under which every problem solves in well under a second
QUICK = {"burgers": {"solver_resolution": 64, "t": 0.01},
         "navier-stokes": {"solver_resolution": 16, "t": 0.01, "dt": 0.005, "snapshots": 2},
         "helmholtz": {"k0": 2.0}}


def test_parameter_kinds_check_type_and_range():
    assert Number(1.0, low=1.0).check("x", "1e4") == 1e4  # YAML reads 1e4 as a string
    with pytest.raises(InvalidInputError, match="x must be > 0 and < 1, got 1"):
        Number(0.5, low=0.0, high=1.0, low_open=True, high_open=True).check("x", 1)
    for bad in (True, "abc", None, float("nan"), float("inf")):
        with pytest.raises(InvalidInputError, match="x must be"):
            Number(1.0).check("x", bad)
    assert Integer(4, low=4).check("n", np.int64(8)) == 8
    for bad in (2.5, "8", True, 3):
        with pytest.raises(InvalidInputError, match="n must be an integer"):
            Integer(4, low=4).check("n", bad)
    with pytest.raises(InvalidInputError, match="s must be one of a, b, got 'c'"):
        Choice("a", ("a", "b")).check("s", "c")
    with pytest.raises(InvalidInputError, match="unknown parameter.*it takes x"):
        check_parameters("p", {"x": Number(1.0)}, {"y": 2})


@pytest.mark.parametrize("name", pdes.available())
def test_every_default_passes_and_every_invalid_example_fails(name):
    problem = pdes.get(name)
    assert problem.params() == problem.defaults
    for key, spec in problem.parameters.items():
        for bad in spec.invalid_examples():
            with pytest.raises(InvalidInputError, match=key):
                problem.params(**{key: bad})


def test_a_problem_without_a_solver_rule_cannot_be_registered():
    with pytest.raises(TypeError, match="auto_solver"):
        Problem(name="x", grid="node", ndim=2, parameters={"solver": Choice("auto", ("auto", "direct"))},
                sample_input=None, solve_one=None, solvers=("auto", "direct"))
    with pytest.raises(TypeError):  # parameters are required
        Problem(name="x", grid="node", ndim=2, sample_input=None, solve_one=None)


@pytest.mark.parametrize("name", pdes.available())
def test_declared_channels_are_those_of_the_data(name):
    problem = pdes.get(name)
    s = 16 if problem.grid == "periodic" else 9
    params = problem.check(s, QUICK.get(name, {}))
    x, y, _ = problem.sample_and_solve(np.random.default_rng(0), s, params)
    c_in, c_out = problem.channels(params)
    assert x.shape == (c_in, *(s,) * problem.ndim)
    assert (y.shape[0] * y.shape[1] if y.ndim == problem.ndim + 2 else y.shape[0]) == c_out


@pytest.mark.parametrize("name", [n for n in pdes.available() if "solver" in pdes.get(n).defaults])
def test_auto_is_one_of_the_problems_solvers_for_every_size_device_and_batch(name):
    problem = pdes.get(name)
    for s in (17, 65, 257):
        for device in ("cpu", "cuda"):
            for batch in (1, 8):
                chosen = pdes.choose_solver(name, s, device, batch)
                assert chosen in problem.solvers and chosen != "auto"
    assert pdes.choose_solver("burgers", 64) is None


def test_darcy_solves_with_the_solver_choose_solver_names(monkeypatch):
    """``solve(..., solver="auto")`` uses what ``choose_solver`` returns for its batch."""
    from oplearn.pdes import darcy

    used = []
    real = darcy.solve_diffusion_multigrid
    monkeypatch.setattr(darcy, "solve_diffusion_multigrid",
                        lambda a, *args, **kwargs: used.append(("mg", len(a))) or real(a, *args, **kwargs))
    monkeypatch.setattr(darcy, "solve_spd",
                        lambda *args, **kwargs: used.append(("direct", 1)) or np.zeros(args[1].shape))
    a = np.stack([darcy.sample_coefficient(np.random.default_rng(i), 65) for i in range(8)])
    for batch in (1, 3, 8):
        used.clear()
        darcy.solve(a[:batch])
        expected = pdes.choose_solver("darcy", 65, batch=batch)
        assert {name for name, _ in used} == {expected}, (batch, used)

"""GCRO-DR recycling and the similarity sort of SKR; general sparse solves with checked residuals."""

import numpy as np
import pytest
import scipy.sparse as sp

from oplearn.errors import InvalidInputError, SolverError
from oplearn.linalg.recycling import RecyclingGMRES, similarity_order
from oplearn.linalg.solve import ilu_preconditioner, solve_general


def convection_diffusion(n, c, shift=0.0):
    """Central-difference -Laplacian + c d/dy + shift I on an n x n grid (nonsymmetric)."""
    identity = sp.identity(n)
    second = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    first = sp.diags([-0.5, 0.5], [-1, 1], shape=(n, n))
    return (sp.kron(identity, second) + sp.kron(second, identity) + c * sp.kron(identity, first)
            + shift * sp.identity(n * n)).tocsr()


def test_recycling_solves_a_sequence_with_fewer_operator_applications():
    matrices = [convection_diffusion(30, c, shift=-0.05) for c in np.linspace(1.0, 1.2, 5)]
    rhs = np.random.default_rng(0).standard_normal(900)
    counts = {}
    for recycle in (0, 10):
        solver = RecyclingGMRES(restart=30, recycle=recycle, tol=1e-9, max_matvecs=20000)
        counts[recycle] = []
        for matrix in matrices:
            result = solver.solve(matrix, rhs)
            assert np.linalg.norm(rhs - matrix @ result.x) <= 1.01e-9 * np.linalg.norm(rhs)
            assert result.residual <= 1.01e-9
            counts[recycle].append(result.matvecs)
    assert sum(counts[10][1:]) < 0.6 * sum(counts[0][1:]), counts


def test_recycling_with_a_preconditioner_matches_the_direct_solution():
    matrix = convection_diffusion(20, 2.0)
    rhs = np.ones(400)
    solver = RecyclingGMRES(restart=20, recycle=5, tol=1e-10)
    first = solver.solve(matrix, rhs, ilu_preconditioner(matrix, drop_tol=1e-2))
    second = solver.solve(matrix, 2 * rhs, ilu_preconditioner(matrix, drop_tol=1e-2))
    exact = sp.linalg.spsolve(matrix.tocsc(), rhs)
    assert np.abs(first.x - exact).max() < 1e-8 * np.abs(exact).max()
    assert np.abs(second.x - 2 * exact).max() < 1e-8 * np.abs(exact).max()


def test_missed_tolerance_and_bad_settings_fail_loudly():
    with pytest.raises(SolverError, match="residual"):
        RecyclingGMRES(restart=5, recycle=2, tol=1e-12, max_matvecs=10).solve(convection_diffusion(20, 1.0), np.ones(400))
    with pytest.raises(InvalidInputError, match="recycle"):
        RecyclingGMRES(restart=5, recycle=5)


def test_similarity_order_visits_neighbours_first():
    points = np.array([[0.0], [10.0], [1.0], [11.0], [2.0]])
    assert similarity_order(points).tolist() == [0, 2, 4, 1, 3]


@pytest.mark.parametrize("solver", ["direct", "gmres"])
def test_general_solver_reaches_its_tolerance(solver):
    matrix = convection_diffusion(25, 3.0)
    rhs = np.random.default_rng(1).standard_normal(625)
    x = solve_general(matrix, rhs, solver=solver, tol=1e-10)
    assert np.linalg.norm(rhs - matrix @ x) <= 1.01e-10 * np.linalg.norm(rhs)
    with pytest.raises(InvalidInputError, match="solver must be"):
        solve_general(matrix, rhs, solver="magic")


def test_recycling_rescues_restarted_gmres_on_an_indefinite_helmholtz_sequence():
    """The SKR setting: a weak preconditioner leaves a few eigenvalues of the indefinite operator
    near zero; restarted GMRES(m) stalls on them, recycling their harmonic Ritz vectors does not."""
    from oplearn.pdes import problem as problems
    from oplearn.pdes.helmholtz import assemble

    problem = problems.get("helmholtz")
    params = problem.params(k0=10.0)
    systems = []
    for i in range(4):
        k, f = problem.sample_input(np.random.default_rng([7, i]), 33, params)
        systems.append((assemble(k), f[1:-1, 1:-1].ravel()))
    counts = {}
    for recycle in (0, 10):
        solver = RecyclingGMRES(restart=20, recycle=recycle, tol=1e-8, max_matvecs=20000)
        counts[recycle] = []
        for matrix, rhs in systems:
            try:
                result = solver.solve(matrix, rhs, ilu_preconditioner(matrix, drop_tol=1e-1))
            except SolverError:  # stalled through all its operator applications
                assert recycle == 0, "recycling must not stall"
                counts[recycle].append(solver.max_matvecs)
                continue
            assert np.linalg.norm(rhs - matrix @ result.x) <= 1.01e-8 * np.linalg.norm(rhs)
            counts[recycle].append(result.matvecs)
    assert sum(counts[10]) * 3 < sum(counts[0]), counts


def test_a_useless_recycled_subspace_does_not_stop_the_solve():
    """Five nearly identical random recycled vectors (dependent to 1e-13): the solve still reaches
    its tolerance; and a cycle whose residual is non-finite or grew counts as a breakdown."""
    matrix = convection_diffusion(20, 2.0, shift=-0.5)
    rhs = np.ones(400)
    solver = RecyclingGMRES(restart=20, recycle=5, tol=1e-9, max_matvecs=20000)
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((400, 1))
    solver.u = basis + 1e-13 * rng.standard_normal((400, 5))
    result = solver.solve(matrix, rhs)
    assert np.linalg.norm(rhs - matrix @ result.x) <= 1.01e-9 * np.linalg.norm(rhs)
    assert RecyclingGMRES._accept(np.array([np.nan]), 1.0, 1.0) is False
    assert RecyclingGMRES._accept(np.array([100.0]), 1.0, 1.0) is False
    assert RecyclingGMRES._accept(np.array([0.5]), 1.0, 1.0) is True

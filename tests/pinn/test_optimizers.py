"""Optimisers of physics-informed losses: the damped Gauss-Newton step against a dense solve, its
behaviour on a true least-squares problem and on non-finite values, and L-BFGS's stop reasons."""

import pytest
import torch
from torch.func import jacrev

from oplearn.pinn.network import FlatParameters, mlp
from oplearn.pinn.optimizers import DampedSystem, GaussNewton, damped_direction, lbfgs_stop_reason


def _tiny_residuals(points=12):
    """Residuals of a tiny network (10 parameters) fitting sin on ``points`` points: r(theta),
    nonlinear in theta."""
    torch.manual_seed(0)
    module = mlp(1, width=3, depth=1).double()
    flat = FlatParameters(module)
    x = torch.linspace(0, 1, points, dtype=torch.float64)[:, None]

    def residuals(theta):
        u = torch.func.functional_call(module, flat.unflatten(theta), (x,))[:, 0]
        return u - torch.sin(3 * x[:, 0])

    return residuals, flat.flatten()


@pytest.mark.parametrize("points", [6, 12])  # sample space (6 < 10 parameters), parameter space
@pytest.mark.parametrize("damping", [1e-1, 1e-4])
def test_damped_step_equals_the_dense_gauss_newton_solve(damping, points):
    residuals, theta = _tiny_residuals(points)
    r, J = residuals(theta), jacrev(residuals)(theta)
    U, s, Vh = torch.linalg.svd(J, full_matrices=False)  # an independent reference: V s/(s^2+l) U^T r
    reference = Vh.T @ (s / (s ** 2 + damping) * (U.T @ r))
    torch.testing.assert_close(damped_direction(J, r, damping), reference, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("points", [6, 12])
def test_one_gram_matrix_serves_every_damping_of_the_search(points):
    residuals, theta = _tiny_residuals(points)
    r, J = residuals(theta), jacrev(residuals)(theta)
    system = DampedSystem(J, r)
    U, s, Vh = torch.linalg.svd(J, full_matrices=False)
    for damping in (1.0, 1e-2, 1e-5):  # the order of a search that backs off and then tightens
        reference = Vh.T @ (s / (s ** 2 + damping) * (U.T @ r))
        torch.testing.assert_close(system.direction(damping), reference, rtol=1e-7, atol=1e-10)


def test_an_indefinite_system_falls_back_from_cholesky_to_a_general_solve():
    gen = torch.Generator().manual_seed(0)  # parameter space (12 residuals, 10 parameters), well conditioned
    J = torch.randn(12, 10, dtype=torch.float64, generator=gen)
    r = torch.randn(12, dtype=torch.float64, generator=gen)
    U, s, Vh = torch.linalg.svd(J, full_matrices=False)
    shift = -0.5 * float(s[-1] ** 2 + s[-2] ** 2)  # between the two smallest s^2: indefinite, invertible
    reference = Vh.T @ (s / (s ** 2 + shift) * (U.T @ r))
    torch.testing.assert_close(DampedSystem(J, r).direction(shift), reference, rtol=1e-6, atol=1e-9)


def test_vanishing_damping_gives_the_minimum_norm_gauss_newton_direction():
    residuals, theta = _tiny_residuals(6)
    r, J = residuals(theta), jacrev(residuals)(theta)
    smallest = float(torch.linalg.svdvals(J)[-1]) ** 2  # damping well below J's smallest s^2
    pinv = torch.linalg.pinv(J) @ r
    # J J^T has condition 1e11 here: the two solves agree to what float64 allows
    assert (damped_direction(J, r, 1e-9 * smallest) - pinv).norm() < 1e-5 * pinv.norm()


def test_gauss_newton_solves_a_linear_least_squares_problem_and_then_stops():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(20, 5, dtype=torch.float64, generator=gen)
    b = torch.randn(20, dtype=torch.float64, generator=gen)  # not in A's range: a true least squares
    best = torch.linalg.lstsq(A, b[:, None]).solution[:, 0]
    optimizer = GaussNewton(damping=1e-12)
    step = optimizer.step(lambda t: A @ t - b, lambda t: A, torch.zeros(5, dtype=torch.float64))
    assert step.accepted
    torch.testing.assert_close(step.theta, best, rtol=1e-9, atol=1e-10)
    for _ in range(20):  # rounding may still improve a little; then no damping decreases the loss
        again = optimizer.step(lambda t: A @ t - b, lambda t: A, step.theta)
        if not again.accepted:
            break
        step = again
    assert not again.accepted and torch.equal(again.theta, step.theta)


def _lbfgs_on_a_quartic(max_iter, max_eval, tolerance_grad, tolerance_change=0.0):
    x = torch.tensor([3.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                            tolerance_change=tolerance_change, line_search_fn="strong_wolfe")

    def objective():
        return (x[0] - 1) ** 2 + 10 * (x[1] + x[0] ** 2) ** 2

    def closure():
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    loss = objective()
    (grad,) = torch.autograd.grad(loss, x)
    return lbfgs_stop_reason(opt, max_iter, max_eval, grad, float(loss.detach()))


def test_lbfgs_says_why_it_stopped():
    assert _lbfgs_on_a_quartic(2, 100, 1e-12) == "reached the step limit (2 iterations)"
    assert _lbfgs_on_a_quartic(100, 5, 1e-12) == "reached the evaluation limit (5 evaluations)"
    assert _lbfgs_on_a_quartic(500, 5000, 1e-6).startswith("gradient below tolerance_grad=1e-06")
    assert _lbfgs_on_a_quartic(500, 5000, 1e-30, tolerance_change=1e-3).endswith("tolerance_change=0.001")


def test_a_non_finite_gauss_newton_step_is_divergence_not_convergence():
    from oplearn.errors import TrainingDivergedError

    A = torch.eye(3, dtype=torch.float64)
    with pytest.raises(TrainingDivergedError, match="not finite"):
        GaussNewton().step(lambda t: A @ t, lambda t: A * float("nan"), torch.ones(3, dtype=torch.float64))
    nan_trials = GaussNewton(tries=3).step(lambda t: A @ t if bool((t == 1).all()) else t * float("nan"),
                                           lambda t: A, torch.ones(3, dtype=torch.float64))
    assert not nan_trials.accepted and nan_trials.loss_after == 1.5  # rejected, not "decreased"

"""The output layer's least-squares fit: on a linear PDE it reaches the least-squares optimum in
the output layer (checked against a dense solve), it moves nothing else, it leaves the objective's
points and random generator as they were, and a two-body solve starts from the solution's
magnitude."""

import torch

from oplearn import pinn
from oplearn.pinn.objective import Objective, build_model, build_terms
from oplearn.pinn.output_fit import fit_output_layer, output_layer


def _objective(name: str, dim: int | None = None, points: int = 64, width: int = 8):
    problem = pinn.get(name, dim)
    torch.manual_seed(0)
    model = build_model(problem, width, 2).double()
    objective = Objective(problem, model, build_terms(problem, points, "uniform", 0, torch.float64))
    if problem.stochastic:
        objective.generator = torch.Generator().manual_seed(1)
    return objective


def test_linear_pde_reaches_the_least_squares_optimum_of_the_output_layer():
    objective = _objective("poisson2d")
    theta = objective.initial_theta()
    _, _, columns = output_layer(objective)
    points = objective.problem.domain.sample(200, "uniform", 5, torch.float64)
    fitted, fit = fit_output_layer(objective, theta, points, max_steps=50, tolerance=1e-12)

    objective.set_points(points)  # the dense reference: r is affine in the output layer
    r0, J = objective.residuals(theta), objective.jacobian(theta)[:, columns]
    step = torch.linalg.lstsq(J, r0[:, None]).solution[:, 0]
    optimum = 0.5 * float(((r0 - J @ step) ** 2).sum())
    assert fit.loss_after <= optimum * (1 + 1e-6)
    assert fit.loss_after < 1e-2 * fit.loss_before
    torch.testing.assert_close(objective.loss(fitted).item(), fit.loss_after, rtol=1e-9, atol=0)


def test_only_the_output_layer_moves_and_the_objective_is_left_as_it_was():
    objective = _objective("allen-cahn-twobody", dim=12)
    theta = objective.initial_theta()
    _, _, columns = output_layer(objective)
    assert columns.stop - columns.start == 8 + 1
    points_before, state_before = objective.terms[0].points.clone(), objective.generator.get_state()
    fitted, fit = fit_output_layer(objective, theta, objective.problem.domain.sample(300, "radial", 3))
    keep = torch.ones_like(theta, dtype=torch.bool)
    keep[columns] = False
    assert torch.equal(fitted[keep], theta[keep]) and not torch.equal(fitted[columns], theta[columns])
    assert torch.equal(objective.terms[0].points, points_before)
    assert torch.equal(objective.generator.get_state(), state_before)
    assert 1 <= fit.steps <= 10 and fit.loss_after < fit.loss_before


def test_two_body_solve_starts_from_the_solutions_magnitude(tmp_path):
    """At d = 2000 the exact solution is about C (1 - |x|^2) with |C| in the tens; the fit alone
    (one Adam step after it, at a tiny learning rate) already gets within a few percent."""
    settings = pinn.PinnSettings(steps=1, lr=1e-9, width=16, points=32, eval_points=500)
    without = pinn.solve("poisson-twobody", None, pinn.PinnSettings(**{**settings.__dict__, "fit_output": False}),
                         progress=False, dim=2000)
    report = pinn.solve("poisson-twobody", tmp_path / "run", settings, progress=False, dim=2000)
    assert without["rel_l2"] > 0.5
    assert report["rel_l2"] < 0.1
    assert report["output_fit"]["points"] == 8 * 17 and report["output_fit"]["loss_after"] < \
        1e-2 * report["output_fit"]["loss_before"]

"""Least-squares fit of the network's output layer before gradient training.

The ansatz ``u = offset + factor * (W h(x) + b)`` is linear in the output layer ``(W, b)``
(``width + 1`` numbers), so for a linear PDE the residual is affine in them and one Gauss-Newton
step in those parameters alone is their exact least-squares fit on the random hidden features
``h`` (the random-feature / extreme-learning-machine solve); for a nonlinear PDE a few damped
steps do it. The default damping makes it a ridge-regularised fit (short of that optimum when the
features are ill-conditioned), which keeps the output weights moderate for the training after it. Gradient methods start from there with the solution's magnitude already right:
Adam moves each weight by about its learning rate per step, so an output of magnitude ``M``
otherwise takes ``M / (width * lr)`` steps just to reach its size (the two-body problems at
``d >= 10^4`` have ``|u| ~ 100``: Adam's 3,000 steps left the error at 0.13).

Cyr et al. (2020) alternate such least-squares solves with gradient steps (LSGD); here it is done
once, at the start. Stochastic residuals (STDE) are fitted with common random numbers: the
generator is reset before every evaluation, so the fit sees one deterministic least-squares
problem on many more points than a training step uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import jacrev, vmap

from oplearn.pinn.objective import JACOBIAN_CHUNK, Objective
from oplearn.pinn.optimizers import GaussNewton

START_DAMPING = 0.1  # relative to the mean squared row of the Jacobian (see GaussNewton)


@dataclass
class OutputFit:
    """What the fit did: the loss on its points before and after, and the Gauss-Newton steps."""

    loss_before: float
    loss_after: float
    steps: int


def output_layer(objective: Objective) -> tuple[str, str, slice]:
    """The names of the network's last linear layer's weight ``(1, width)`` and bias ``(1,)``
    and their indices in ``theta`` (weight then bias)."""
    last = len(objective.model.net) - 1
    weight, bias = f"net.{last}.weight", f"net.{last}.bias"
    names, sizes = objective.flat.names, objective.flat.sizes
    return weight, bias, slice(sum(sizes[:names.index(weight)]), sum(sizes[:names.index(bias) + 1]))


def fit_output_layer(objective: Objective, theta: torch.Tensor, points: torch.Tensor,
                     max_steps: int = 10, tolerance: float = 1e-2) -> tuple[torch.Tensor, OutputFit]:
    """Fit the output layer of ``theta`` ``(P,)`` to the PDE residual at ``points`` ``(N, D)``
    (and to the penalty terms at their own points) by damped Gauss-Newton; the other parameters
    stay. Stops after ``max_steps`` or when a step lowers the loss by less than ``tolerance``
    of it. Returns the new ``theta`` and an :class:`OutputFit`; the objective's points and
    random generator are left as they were."""
    weight, bias, columns = output_layer(objective)
    theta = theta.detach()
    saved_points = objective.terms[0].points
    generator = objective.generator
    start_state = generator.get_state() if generator is not None else None

    def replace(sub: torch.Tensor) -> dict[str, torch.Tensor]:
        return {weight: sub[:-1].view(1, -1), bias: sub[-1:]}

    def reset() -> None:
        if generator is not None:
            generator.set_state(start_state)

    cache: dict[str, torch.Tensor] = {}

    def evaluate(sub: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if cache.get("sub") is not sub:  # a step asks for r and J at the same point: one pass
            cache["sub"] = sub
            cache["r"], cache["J"] = _values_and_jacobian(objective, theta, replace, sub, reset)
        return cache["r"], cache["J"]

    objective.set_points(points)
    try:
        optimizer, sub, first, steps = GaussNewton(start=START_DAMPING), theta[columns].clone(), None, 0
        residuals, jacobian = (lambda s: evaluate(s)[0]), (lambda s: evaluate(s)[1])
        while steps < max_steps:
            result = optimizer.step(residuals, jacobian, sub)
            steps += 1
            first = result.loss_before if first is None else first
            sub = result.theta
            if not result.accepted or result.loss_before - result.loss_after < tolerance * result.loss_before:
                break
    finally:
        objective.set_points(saved_points)
        reset()
    fitted = torch.cat([theta[:columns.start], sub, theta[columns.stop:]])
    return fitted, OutputFit(first, result.loss_after, steps)


def _values_and_jacobian(objective: Objective, theta: torch.Tensor, replace, sub: torch.Tensor,
                         reset) -> tuple[torch.Tensor, torch.Tensor]:
    """The scaled residual vector ``(sum N,)`` and its Jacobian in the output layer
    ``(sum N, width + 1)``, both from one pass with the same random draws."""
    reset()
    values, blocks = [], []
    for i, term in enumerate(objective.terms):
        def single(s, x, d, term=term):
            value = objective.term_values(theta, term, x[None], d[None], replace=replace(s))[0]
            return value, value

        J, r = vmap(jacrev(single, has_aux=True), in_dims=(None, 0, 0), chunk_size=JACOBIAN_CHUNK,
                    randomness="different")(sub, term.points, term.data)
        scale = objective._scales(i, term)
        values.append(scale * r)
        blocks.append(J * (scale[:, None] if isinstance(scale, torch.Tensor) else scale))
    return torch.cat(values).detach(), torch.cat(blocks).detach()

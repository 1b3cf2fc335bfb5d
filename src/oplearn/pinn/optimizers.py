"""Optimisers of a physics-informed loss ``L(theta) = |r(theta)|^2 / 2``: damped Gauss-Newton
in sample space (the energy natural gradient of Mueller & Zeinhofer 2023 for a linear PDE, made
robust by Levenberg-Marquardt damping), and the stop reason of PyTorch's L-BFGS, which says
nothing itself."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from oplearn.errors import TrainingDivergedError

Residuals = Callable[[torch.Tensor], torch.Tensor]  # theta (P,) -> r (N,)


def loss_of(r: torch.Tensor) -> torch.Tensor:
    """``|r|^2 / 2`` (the residual vector carries each term's weight, see :mod:`.objective`)."""
    return 0.5 * (r ** 2).sum()


@dataclass
class GaussNewtonStep:
    """One step: the new parameters, the loss before and after, and the damping it took
    (``accepted`` is false when no damping up to the limit decreased the loss)."""

    theta: torch.Tensor
    loss_before: float
    loss_after: float
    damping: float
    accepted: bool


class DampedSystem:
    """The damped Gauss-Newton (Levenberg-Marquardt) direction ``(J^T J + damping I)^-1 J^T r``
    ``(P,)`` for any damping, from one Gram matrix formed once: the search over the damping then
    costs a Cholesky solve per trial, not a new Gram matrix. With fewer residuals than parameters
    (``N <= P``, the usual case) it is solved in sample space, as
    ``J^T (J J^T + damping I)^-1 r`` (an ``N x N`` system), else in parameter space (``P x P``).
    As ``damping -> 0`` it tends to the minimum-norm direction ``J^+ r``."""

    def __init__(self, jacobian: torch.Tensor, r: torch.Tensor):
        n, p = jacobian.shape
        self.jacobian, self.sample_space = jacobian, n <= p
        self.gram = jacobian @ jacobian.T if self.sample_space else jacobian.T @ jacobian
        self.rhs = r if self.sample_space else jacobian.T @ r
        self.eye = torch.eye(self.gram.shape[0], dtype=r.dtype, device=r.device)

    def direction(self, damping: float) -> torch.Tensor:
        matrix = self.gram + damping * self.eye
        factor, info = torch.linalg.cholesky_ex(matrix)
        if int(info) == 0:
            x = torch.cholesky_solve(self.rhs[:, None], factor)[:, 0]
        else:  # numerically indefinite at a tiny damping: a general solve
            x = torch.linalg.solve(matrix, self.rhs)
        return self.jacobian.T @ x if self.sample_space else x


def damped_direction(jacobian: torch.Tensor, r: torch.Tensor, damping: float) -> torch.Tensor:
    """One damped Gauss-Newton direction ``(J^T J + damping I)^-1 J^T r`` ``(P,)``
    (see :class:`DampedSystem`)."""
    return DampedSystem(jacobian, r).direction(damping)


@dataclass
class GaussNewton:
    """Levenberg-Marquardt-damped Gauss-Newton for ``L = |r|^2 / 2``: each step tries
    ``theta - d(damping)`` and raises the damping 4x until the loss decreases (at most
    ``tries`` times), then lowers it 3x for the next step. For a linear PDE the Gauss-Newton
    matrix ``J^T J`` is the energy natural gradient's Gram matrix (Mueller & Zeinhofer 2023);
    the damping is the trust region that makes it robust far from the solution, where the plain
    pseudo-inverse step can be huge (it stalled on helmholtz2d when tried).

    Attributes:
        damping: current damping (``None``: ``start`` times the mean diagonal of ``J J^T`` at the
            first step); floor: the damping never falls below ``floor`` times that mean diagonal.
    """

    damping: float | None = None
    tries: int = 30
    floor: float = 1e-14
    start: float = 1e-3

    def step(self, residuals: Residuals, jacobian: Residuals, theta: torch.Tensor) -> GaussNewtonStep:
        """Raises :class:`TrainingDivergedError` if the loss or the Jacobian at ``theta`` is not
        finite; a trial with a non-finite loss counts as rejected."""
        r = residuals(theta)
        before = float(loss_of(r))
        J = jacobian(theta)
        if not math.isfinite(before) or not bool(torch.isfinite(J).all()):
            raise TrainingDivergedError(f"the loss ({before}) or its Jacobian is not finite; "
                                        "try float64 or another optimiser")
        scale = float((J * J).sum(dim=1).mean())
        damping = self.start * scale if self.damping is None else self.damping
        system = DampedSystem(J, r)
        for _ in range(self.tries):
            trial = theta - system.direction(damping)
            after = float(loss_of(residuals(trial)))
            if math.isfinite(after) and after < before:
                self.damping = max(damping / 3, self.floor * scale)
                return GaussNewtonStep(trial, before, after, damping, True)
            damping *= 4
        self.damping = damping
        return GaussNewtonStep(theta, before, before, damping, False)


def lbfgs_stop_reason(optimizer: torch.optim.LBFGS, max_iter: int, max_eval: int,
                      grad: torch.Tensor, loss: float) -> str:
    """Why ``torch.optim.LBFGS.step`` returned (it says nothing itself), from its state and the
    gradient and loss at the point it returned, checked in the order of its own tests."""
    group = optimizer.param_groups[0]
    state = optimizer.state[group["params"][0]]
    tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
    if state.get("n_iter", 0) >= max_iter:
        return f"reached the step limit ({max_iter} iterations)"
    if state.get("func_evals", 0) >= max_eval:
        return f"reached the evaluation limit ({max_eval} evaluations)"
    if grad.abs().max() <= tol_grad:
        return f"gradient below tolerance_grad={tol_grad:g}"
    d, t = state.get("d"), state.get("t")
    if d is not None and t is not None and (d * t).abs().max() <= tol_change:
        return f"step below tolerance_change={tol_change:g}"
    prev = state.get("prev_loss")
    if prev is not None and abs(loss - float(prev)) < tol_change:
        return f"loss change below tolerance_change={tol_change:g}"
    return f"no descent direction (directional derivative above -tolerance_change={tol_change:g})"

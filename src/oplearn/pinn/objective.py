"""What a physics-informed solve minimises: the constrained network, the loss terms and their
residual vector with its parameter Jacobian.

The loss is ``L(theta) = sum_terms weight * mean(r_term^2) / 2 = |r(theta)|^2 / 2`` with the
scaled residual vector ``r = [sqrt(weight / N) * s * r_term, ...]`` (``s``: causal weights of
the PDE term, 1 elsewhere). Gauss-Newton needs the Jacobian of ``r``: each row is the gradient of
one point's residual, computed by ``vmap(jacrev(...))`` over points, with the residual written
in batch form on :mod:`oplearn.autodiff` operators (Taylor mode runs under ``vmap``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from oplearn.autodiff import trace
from oplearn.autodiff.jet import directional_derivative
from oplearn.autodiff.series import Jet, Series
from oplearn.errors import InvalidInputError
from oplearn.pinn.conditions import Dirichlet, Initial, Neumann, Periodic, evaluate
from oplearn.pinn.domains import Box
from oplearn.pinn.network import Ansatz, FlatParameters, mlp
from oplearn.pinn.problem import Problem

TermFunction = Callable[[nn.Module, torch.Tensor, torch.Tensor, dict], torch.Tensor]
JACOBIAN_CHUNK = 512  # points per vmap chunk of the Jacobian (bounds memory)
JACOBIAN_ENTRIES = 2 ** 25  # points x parameters per chunk of the Gauss-Newton Jacobian


def jacobian_chunk(parameters: int) -> int:
    """Points per vmap chunk of a Jacobian in ``parameters`` unknowns: about 2^25 entries, at
    least :data:`JACOBIAN_CHUNK` points (a small network's whole Jacobian in one pass is 2x
    faster than chunks of 512 on burgers)."""
    return max(JACOBIAN_CHUNK, JACOBIAN_ENTRIES // max(1, parameters))


@dataclass
class Term:
    """One loss term: ``weight * mean(fn(u, points, data, p)^2) / 2``."""

    name: str
    points: torch.Tensor  # (N, D)
    data: torch.Tensor  # (N, k) per-point data (targets, normals, shifts)
    weight: float
    fn: TermFunction


class Product(nn.Module):
    """``a(x) * b(x)``, ``(B, D) -> (B,)``, with the product rule in Taylor mode."""

    def __init__(self, a: Callable, b: Callable):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) * self.b(x)

    def taylor(self, x: Jet, series: Series) -> Jet:
        return series.multiply(trace.run(self.a, x, series), trace.run(self.b, x, series))


class Offset(nn.Module):
    """``(B, D) -> (B,)``: ``fn(x)``, or the constant ``value`` (no derivatives)."""

    def __init__(self, fn: Callable | None = None, value: float = 0.0):
        super().__init__()
        self.fn, self.value = fn, float(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fn is None:
            return torch.full((x.shape[0],), self.value, dtype=x.dtype, device=x.device)
        return self.fn(x)

    def taylor(self, x: Jet, series: Series) -> Jet:
        if self.fn is None:
            value = torch.full(x.value.shape[:2], self.value, dtype=x.value.dtype, device=x.value.device)
            return Jet([value] + [None] * series.order)
        return trace.run(self.fn, x, series)


def build_model(problem: Problem, width: int, depth: int) -> Ansatz:
    """The network with the problem's hard conditions built in (module docstring of
    :mod:`oplearn.pinn.network`)."""
    space = problem.space
    periodic = [c for c in problem.conditions if isinstance(c, Periodic) and c.hard]
    periods = {a: space.high[a] - space.low[a] for c in periodic for a in c.axes}
    net = mlp(problem.dim, width, depth, periods or None)
    factor, offset_fns = None, []
    dirichlet = next((c for c in problem.conditions if isinstance(c, Dirichlet) and c.hard), None)
    initial = next((c for c in problem.conditions if isinstance(c, Initial) and c.hard), None)
    axes = None
    if dirichlet is not None:
        axes = dirichlet.axes
        if axes is None and isinstance(space, Box):
            axes = tuple(a for a in range(space.dim) if a not in periods)
        factor = problem.domain.distance_factor(axes)
    if initial is not None:
        time = problem.domain.time_factor()
        factor = time if factor is None else (
            factor.combined(time) if hasattr(factor, "combined") else Product(factor, time))
        offset_fns.append(initial.value)
        if dirichlet is not None and callable(dirichlet.value):
            g, t0 = dirichlet.value, problem.domain.t0
            offset_fns.append(lambda x: g(x) - g(torch.cat([x[:, :-1], x[:, -1:] * 0 + t0], 1)))
        if dirichlet is not None:
            _check_compatible(problem, dirichlet, initial, axes)
    elif dirichlet is not None:
        offset_fns.append(dirichlet.value)
    offset = _offset(offset_fns)
    return Ansatz(net, factor, offset)


def _offset(values: list) -> Offset | None:
    values = [v for v in values if callable(v) or float(v) != 0.0]
    if not values:
        return None
    if len(values) == 1:
        v = values[0]
        return Offset(v) if callable(v) else Offset(value=v)
    first, second = values
    return Offset(lambda x: evaluate(first, x) + evaluate(second, x))


def _check_compatible(problem: Problem, dirichlet: Dirichlet, initial: Initial, axes) -> None:
    """Hard Dirichlet and initial conditions must agree where they meet (the Dirichlet faces
    ``axes`` at t = t0)."""
    x, _ = problem.domain.sample_boundary(256, seed=0, axes=axes)
    x[:, -1] = problem.domain.t0
    g, u0 = evaluate(dirichlet.value, x), evaluate(initial.value, x)
    if not torch.allclose(g, u0, rtol=1e-8, atol=1e-8 * (1 + float(g.abs().max()))):
        raise InvalidInputError("the Dirichlet and initial values differ where they meet (t = t0 on the "
                                "boundary): make one of them a penalty (hard=False)")


def build_terms(problem: Problem, points: int, sampling: str, seed: int, dtype: torch.dtype) -> list[Term]:
    """The PDE term on ``points`` collocation points, then one term per penalty condition and
    the observations."""
    empty = lambda x: x.new_zeros(x.shape[0], 0)  # noqa: E731
    x = problem.domain.sample(points, sampling, seed, dtype)

    def pde(u, x, data, p):
        return problem.residual_at(u, x, p)

    terms = [Term("pde", x, empty(x), 1.0, pde)]
    space = problem.space
    for k, c in enumerate(problem.conditions, start=1):
        s = seed + 1000 * k
        if isinstance(c, Dirichlet) and not c.hard:
            xb, _ = problem.domain.sample_boundary(c.points, s, dtype, c.axes)
            terms.append(Term("dirichlet", xb, evaluate(c.value, xb)[:, None], c.weight, _value_mismatch))
        elif isinstance(c, Initial) and not c.hard:
            xi = problem.domain.sample_initial(c.points, "uniform", s, dtype)
            terms.append(Term("initial", xi, evaluate(c.value, xi)[:, None], c.weight, _value_mismatch))
        elif isinstance(c, Neumann):
            xb, normals = problem.domain.sample_boundary(c.points, s, dtype, c.axes)
            data = torch.cat([evaluate(c.value, xb)[:, None], normals], 1)
            terms.append(Term("neumann", xb, data, c.weight, _normal_mismatch))
        elif isinstance(c, Periodic) and not c.hard:
            for axis in c.axes:
                xb, _ = problem.domain.sample_boundary(c.points, s + axis, dtype, (axis,))
                xb[:, axis] = space.low[axis]
                shift = torch.zeros_like(xb)
                shift[:, axis] = space.high[axis] - space.low[axis]
                terms.append(Term(f"periodic{axis}", xb, shift, c.weight, _periodic_value))
                terms.append(Term(f"periodic{axis}_slope", xb, shift, c.weight, _periodic_slope(axis)))
    if problem.observations is not None:
        xo, values = problem.observations
        terms.append(Term("data", xo.to(dtype), values.to(dtype)[:, None], problem.observation_weight,
                          _value_mismatch))
    return terms


def _value_mismatch(u, x, data, p):
    return u(x) - data[:, 0]


def _normal_mismatch(u, x, data, p):
    return directional_derivative(u, x, data[:, None, 1:], 1)[:, 0] - data[:, 0]


def _periodic_value(u, x, data, p):
    return u(x) - u(x + data)


def _periodic_slope(axis: int) -> TermFunction:
    def slope(u, x, data, p):
        e = torch.tensor([axis], device=x.device)
        return directional_derivative(u, x, e, 1)[:, 0] - directional_derivative(u, x + data, e, 1)[:, 0]
    return slope


class _Evaluate(nn.Module):
    """Holds the model so that ``functional_call`` swaps its parameters for a term's call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.u = model

    def forward(self, fn: TermFunction, x: torch.Tensor, data: torch.Tensor, p: dict) -> torch.Tensor:
        return fn(self.u, x, data, p)


class Objective:
    """The residual vector ``r(theta)`` ``(sum N,)``, its Jacobian ``(sum N, P)`` and the loss
    ``|r|^2 / 2`` for ``theta = [network parameters, unknown coefficients (log if positive)]``."""

    def __init__(self, problem: Problem, model: Ansatz, terms: list[Term], causal: float = 0.0,
                 causal_chunks: int = 16):
        self.problem, self.model, self.terms = problem, model, terms
        self.wrapper = _Evaluate(model)
        self.flat = FlatParameters(model)
        self.names = list(problem.unknowns)
        self.causal, self.causal_chunks = causal, causal_chunks
        self.scale = torch.ones(terms[0].points.shape[0], dtype=terms[0].points.dtype,
                                device=terms[0].points.device)  # causal scale of the PDE points
        self.generator: torch.Generator | None = None
        if causal and not problem.time_dependent:
            raise InvalidInputError("causal weighting needs a time-dependent problem")

    # ------------------------------------------------------------------ parameters
    def initial_theta(self) -> torch.Tensor:
        raw = [math.log(u.initial) if u.positive else u.initial for u in self.problem.unknowns.values()]
        net = self.flat.flatten()
        return torch.cat([net, torch.tensor(raw, dtype=net.dtype, device=net.device)])

    def unknowns(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = theta[self.flat.size:]
        return {name: torch.exp(raw[i]) if u.positive else raw[i]
                for i, (name, u) in enumerate(self.problem.unknowns.items())}

    def _params(self, theta: torch.Tensor) -> tuple[dict, dict]:
        net = {f"u.{k}": v for k, v in self.flat.unflatten(theta[:self.flat.size]).items()}
        p: dict[str, Any] = dict(self.unknowns(theta))
        p["generator"] = self.generator
        return net, p

    # ------------------------------------------------------------------ values
    def term_values(self, theta: torch.Tensor, term: Term, x: torch.Tensor | None = None,
                    data: torch.Tensor | None = None, replace: dict[str, torch.Tensor] | None = None
                    ) -> torch.Tensor:
        """The term's unscaled residuals ``(N,)`` at its points (or at ``x`` with ``data``);
        ``replace`` maps network parameter names (``net.3.bias``) to tensors used instead of
        ``theta``'s (differentiating in them alone keeps the others out of the graph)."""
        net, p = self._params(theta)
        for name, value in (replace or {}).items():
            net[f"u.{name}"] = value
        x = term.points if x is None else x
        data = term.data if data is None else data
        return functional_call(self.wrapper, net, (term.fn, x, data, p))

    def _scales(self, index: int, term: Term) -> torch.Tensor | float:
        base = math.sqrt(term.weight / term.points.shape[0])
        return base * self.scale if index == 0 else base

    def residuals(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._scales(i, t) * self.term_values(theta, t) for i, t in enumerate(self.terms)])

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.residuals(theta) ** 2).sum()

    def jacobian(self, theta: torch.Tensor) -> torch.Tensor:
        blocks = []
        for i, term in enumerate(self.terms):
            def single(th, x, d, term=term):
                return self.term_values(th, term, x[None], d[None])[0]

            J = vmap(jacrev(single), in_dims=(None, 0, 0), chunk_size=jacobian_chunk(theta.numel()))(
                theta, term.points, term.data)
            scale = self._scales(i, term)
            blocks.append(J * (scale[:, None] if isinstance(scale, torch.Tensor) else scale))
        return torch.cat(blocks)

    def solution(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        net, _ = self._params(theta)
        with torch.no_grad():
            return functional_call(self.model, {k[2:]: v for k, v in net.items()}, (x,))

    # ------------------------------------------------------------------ causal weights
    def update_causal(self, theta: torch.Tensor) -> float:
        """Causal weights of the PDE points (Wang, Sankaran and Perdikaris 2022): time split in
        ``causal_chunks`` chunks, chunk ``i`` weighted ``exp(-causal * sum_{k<i} L_k)`` (``L_k``:
        the chunk's mean squared residual), so later times count once earlier ones are solved.
        Returns the smallest weight (near 1: causality respected everywhere)."""
        if not self.causal:
            return 1.0
        term = self.terms[0]
        with torch.no_grad():
            r2 = self.term_values(theta, term) ** 2
        t = term.points[:, -1]
        t0, t1 = self.problem.domain.t0, self.problem.domain.t1
        chunk = torch.clamp(((t - t0) / (t1 - t0) * self.causal_chunks).long(), 0, self.causal_chunks - 1)
        counts = torch.bincount(chunk, minlength=self.causal_chunks).to(r2.dtype)
        means = torch.zeros(self.causal_chunks, dtype=r2.dtype, device=r2.device).index_add(0, chunk, r2)
        means = means / counts.clamp(min=1)
        before = torch.cumsum(means, 0) - means
        weights = torch.exp(-self.causal * before)
        n = r2.shape[0]
        per_point = weights[chunk] * n / (self.causal_chunks * counts[chunk])
        self.scale = torch.sqrt(per_point)
        return float(weights.min())

    def set_points(self, points: torch.Tensor) -> None:
        """New collocation points of the PDE term (adaptive or fresh resampling)."""
        self.terms[0].points = points
        self.terms[0].data = points.new_zeros(points.shape[0], 0)
        self.scale = torch.ones(points.shape[0], dtype=points.dtype, device=points.device)



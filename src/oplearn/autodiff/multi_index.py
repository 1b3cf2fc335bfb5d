"""Mixed partial derivatives and linear differential operators given over multi-indices.

A term is a tuple of coordinate indices, repeated for powers: ``(0, 0, 1)`` is
``d^3 / dx_0^2 dx_1`` and ``()`` the identity. An operator is a mapping ``{term: coefficient}``,
e.g. ``{(0, 0): 1.0, (1, 1): 1.0, (0, 1): 0.5, (2,): -1.0}``.

Two ways to get a mixed partial of order ``k`` from univariate Taylor mode:

- interpolation (Griewank, Utke and Walther 2000): ``d^alpha u`` is a fixed linear combination of
  ``k``-th directional derivatives along integer directions ``beta`` on the support of ``alpha``
  (``|beta| = k``); the weights solve the small system ``D^k u[beta] = sum_alpha k!/alpha!
  beta^alpha d^alpha u``. All directions of all terms of one order go through one collapsed pass.
- the STDE paper's jet construction: put coordinate tangents at distinct orders ``s_i`` of the
  input jet so that the only Faa di Bruno term of the ``K``-th output coefficient is the wanted
  partial (e.g. ``d_ij u = d^5 u(x(t)) / 10`` with ``v_2 = e_i``, ``v_3 = e_j``). It needs
  higher orders than interpolation (order 14 for ``d_iijj``) and is offered for comparison.

``linear_operator(..., method="stde")`` samples ``V`` terms with probability proportional to
``|coefficient|`` and evaluates each exactly: an unbiased estimate whose cost does not grow
with the number of terms or with ``d``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from functools import lru_cache

import numpy as np
import torch

from oplearn.autodiff.jet import check_points, directional_derivative, jet
from oplearn.autodiff.laplacian import scalar_output
from oplearn.autodiff.series import SparseTangent
from oplearn.errors import InvalidInputError

Function = Callable[[torch.Tensor], torch.Tensor]
Term = tuple[int, ...]


def _support(term: Term) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Distinct coordinates of a term (sorted) and their multiplicities."""
    coords = sorted(set(term))
    return tuple(coords), tuple(term.count(c) for c in coords)


def _compositions(total: int, parts: int):
    """All tuples of ``parts`` nonnegative integers summing to ``total``."""
    for cuts in itertools.combinations(range(total + parts - 1), parts - 1):
        bounds = (-1, *cuts, total + parts - 1)
        yield tuple(bounds[i + 1] - bounds[i] - 1 for i in range(parts))


@lru_cache(maxsize=256)
def interpolation_rule(multiplicities: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], float], ...]:
    """Integer directions ``beta`` (over the support) and weights ``gamma`` with
    ``sum_beta gamma_beta D^k u[beta] = d^n u`` for the multiplicities ``n`` (``k = |n|``)."""
    order, parts = sum(multiplicities), len(multiplicities)
    betas = list(_compositions(order, parts))
    matrix = np.array([[math.factorial(order) / math.prod(math.factorial(a) for a in alpha)
                        * math.prod(float(b) ** a for b, a in zip(beta, alpha, strict=True))
                        for alpha in betas] for beta in betas])
    target = np.zeros(len(betas))
    target[betas.index(tuple(multiplicities))] = 1.0
    gamma = np.linalg.solve(matrix.T, target)
    return tuple((beta, float(g)) for beta, g in zip(betas, gamma, strict=True) if abs(g) > 1e-13)


@lru_cache(maxsize=256)
def jet_construction(multiplicities: tuple[int, ...], max_size: int = 16) -> tuple[tuple[int, ...], int, float]:
    """The STDE paper's tangents for ``d^n u``: distinct jet orders ``s_i`` for the support
    coordinates such that ``n`` is the only way to write ``K = sum n_i s_i``; returns ``(s, K,
    factor)`` with ``d^K/dt^K u(x(t)) = factor * d^n u`` (``factor = K! / prod s_i!^n_i n_i!``)."""
    best = None
    for sizes in itertools.permutations(range(1, max_size + 1), len(multiplicities)):
        order = sum(n * s for n, s in zip(multiplicities, sizes, strict=True))
        if best is not None and order >= best[1]:
            continue
        if _count_representations(order, sizes) == 1:
            best = (sizes, order)
    if best is None:
        raise InvalidInputError(f"no jet construction with orders <= {max_size} for {multiplicities}")
    sizes, order = best
    factor = math.factorial(order) / math.prod(math.factorial(s) ** n * math.factorial(n)
                                               for s, n in zip(sizes, multiplicities, strict=True))
    return sizes, order, factor


def _count_representations(total: int, sizes: tuple[int, ...]) -> int:
    ways = [1] + [0] * total
    for s in sizes:
        for t in range(s, total + 1):
            ways[t] += ways[t - s]
    return ways[total]


def _check_term(term: Term, dim: int) -> Term:
    if not isinstance(term, (tuple, list)) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in term):
        raise InvalidInputError(f"a term is a tuple of integer coordinates, e.g. (0, 1); got {term!r}")
    term = tuple(int(i) for i in term)
    if any(not 0 <= i < dim for i in term):
        raise InvalidInputError(f"term {term} has a coordinate outside 0..{dim - 1}")
    return term


def mixed_partial(f: Function, x: torch.Tensor, term: Term, method: str = "interpolation") -> torch.Tensor:
    """``d^term f`` ``(B,)`` (e.g. ``term=(0, 1)`` for ``d^2 f / dx_0 dx_1``); ``method`` is
    ``"interpolation"`` (fewest orders) or ``"jet"`` (the STDE paper's construction)."""
    check_points(x)
    term = _check_term(term, x.shape[1])
    if not term:
        return scalar_output(f(x), x.shape[0])
    coords, mult = _support(term)
    if method == "interpolation":
        tangent, weights = _directions([(term, 1.0)], x)
        total = directional_derivative(f, x, tangent, len(term), weights=weights, collapse=True)
        return scalar_output(total, x.shape[0])
    if method != "jet":
        raise InvalidInputError(f"method must be 'interpolation' or 'jet', got {method!r}")
    sizes, order, factor = jet_construction(mult)
    tangents: list = [None] * order
    for coord, size in zip(coords, sizes, strict=True):
        tangents[size - 1] = torch.tensor([coord], device=x.device)
    return scalar_output(jet(f, x, tangents)[-1][:, 0], x.shape[0]) / factor


def _directions(terms: list[tuple[Term, float]], x: torch.Tensor) -> tuple[SparseTangent, torch.Tensor]:
    """All interpolation directions of terms of one order, as one sparse tangent with weights."""
    indices, values, weights = [], [], []
    width = max(len(set(t)) for t, _ in terms)
    for term, coef in terms:
        coords, mult = _support(term)
        for beta, gamma in interpolation_rule(mult):
            pad = width - len(coords)
            indices.append(list(coords) + [coords[0]] * pad)
            values.append(list(beta) + [0] * pad)
            weights.append(coef * gamma)
    kw = {"device": x.device}
    return (SparseTangent(torch.tensor(indices, **kw), torch.tensor(values, dtype=x.dtype, **kw)),
            torch.tensor(weights, dtype=x.dtype, **kw))


def linear_operator(f: Function, x: torch.Tensor, terms: Mapping[Term, float], method: str = "exact",
                    num_samples: int = 16, generator: torch.Generator | None = None,
                    chunk_size: int | None = None) -> torch.Tensor:
    """``sum_term c_term d^term f`` ``(B,)`` for a scalar ``f``.

    ``method="exact"``: one collapsed Taylor pass per order over the interpolation directions
    of all its terms. ``method="stde"``: ``num_samples`` terms drawn with probability
    ``|c| / sum |c|`` (with ``generator``), each evaluated exactly; unbiased.
    """
    check_points(x)
    batch, dim = x.shape
    items = [(_check_term(t, dim), float(c)) for t, c in terms.items()]
    if not items or any(not math.isfinite(c) for _, c in items):
        raise InvalidInputError("terms must be a nonempty mapping {term: finite coefficient}")
    if method == "stde":
        if num_samples < 1:
            raise InvalidInputError(f"num_samples must be >= 1, got {num_samples}")
        magnitude = torch.tensor([abs(c) for _, c in items], dtype=torch.float64)
        total = float(magnitude.sum())
        if total == 0:  # the zero operator
            return torch.zeros(batch, dtype=x.dtype, device=x.device)
        picks = torch.multinomial(magnitude / total, num_samples, replacement=True, generator=generator)
        # c / (p V) with p = |c| / total: each draw weighs sign(c) * total / V
        items = [(items[i][0], math.copysign(total / num_samples, items[i][1])) for i in picks.tolist()]
    elif method != "exact":
        raise InvalidInputError(f"method must be 'exact' or 'stde', got {method!r}")
    result = torch.zeros(batch, dtype=x.dtype, device=x.device)
    by_order: dict[int, list[tuple[Term, float]]] = {}
    for term, coef in items:
        by_order.setdefault(len(term), []).append((term, coef))
    for order, group in sorted(by_order.items()):
        if order == 0:
            result = result + sum(c for _, c in group) * scalar_output(f(x), batch)
            continue
        tangent, weights = _directions(group, x)
        total_k = directional_derivative(f, x, tangent, order, weights=weights, collapse=True,
                                         chunk_size=chunk_size)
        result = result + scalar_output(total_k, batch)
    return result

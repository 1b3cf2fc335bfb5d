"""Truncated Taylor series arithmetic: the rules of Taylor mode, vectorised over directions.

A jet of a tensor ``y`` along a curve ``x(t)`` holds the normalised Taylor coefficients
``c_k = (1/k!) d^k/dt^k y(x(t))`` at ``t = 0`` for ``k = 0 .. K``. Layout: ``c_0`` is
``(B, 1, *F)`` and ``c_k`` is ``(B or 1, V, *F)`` for ``V`` directions; a batch size of 1 means
the coefficient is shared by every point (directions shared by the batch). ``None`` is a zero
coefficient and costs nothing.

Rules (``P(t) = sum_{j>=1} x_j t^j``):

    elementwise s(x):  y_k = sum_{m=1..k} s^(m)(x_0) / m! * [t^k] P(t)^m   (Faa di Bruno)
    product a * b:     c_k = sum_j a_j b_(k-j)                              (Cauchy)
    linear maps:       applied to every coefficient, a bias to c_0 only

Collapsed top order: when only ``sum_v w_v c_K`` is needed (a Laplacian, a weighted sum of
directional derivatives), every rule above is linear in the top coefficients of its inputs, so
``c_K`` can be carried already summed over directions (``V = 1``), and the products of lower
coefficients that feed it are summed as soon as they are formed. This halves the work of a
Laplacian and removes most of the top-order work of higher operators.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Coefficient = torch.Tensor | None
DerivativeRule = Callable[[torch.Tensor, int], list[torch.Tensor | None]]


@dataclass
class SparseTangent:
    """Directions with few nonzero coordinates, shared by the batch: direction ``v`` is
    ``sum_m value[v, m] e_{index[v, m]}``. ``index`` is ``(V, M)`` integers, ``value`` ``(V, M)``.
    A linear layer gathers ``V * M`` columns of its weight instead of multiplying by ``d``."""

    index: torch.Tensor
    value: torch.Tensor

    @classmethod
    def coordinates(cls, index: torch.Tensor, dtype: torch.dtype) -> SparseTangent:
        """Coordinate directions ``e_i`` for ``index`` ``(V,)``."""
        return cls(index[:, None], torch.ones(index.shape[0], 1, dtype=dtype, device=index.device))

    def dense(self, dim: int) -> torch.Tensor:
        """``(1, V, dim)`` dense directions."""
        out = torch.zeros(self.index.shape[0], dim, dtype=self.value.dtype, device=self.value.device)
        out.scatter_add_(1, self.index, self.value)
        return out[None]


class Jet:
    """Coefficients ``[c_0, ..., c_K]`` of one tensor (see the module docstring for shapes)."""

    __slots__ = ("coeffs",)

    def __init__(self, coeffs: list):
        self.coeffs = coeffs

    @property
    def value(self) -> torch.Tensor:
        return self.coeffs[0]


class Series:
    """One Taylor pass of order ``order``; with ``collapse`` the top coefficient is carried as
    ``sum_v weights[v] c_K`` (``weights`` ``(V,)`` or ``(B, V)``, ``None`` for a plain sum)."""

    def __init__(self, order: int, collapse: bool = False, weights: torch.Tensor | None = None):
        self.order = order
        self.collapse = collapse
        self.weights = weights

    # ------------------------------------------------------------------ helpers
    def reduce(self, term: torch.Tensor) -> torch.Tensor:
        """Sum a per-direction top-order term over directions (weighted): ``(B|1, 1, *F)``."""
        if self.weights is not None:
            w = self.weights if self.weights.ndim == 2 else self.weights[None]
            term = term * w.reshape(*w.shape, *([1] * (term.ndim - 2)))
        return term.sum(dim=1, keepdim=True)

    def _is_top(self, k: int) -> bool:
        return self.collapse and k == self.order

    def densify(self, jet: Jet) -> Jet:
        dim = jet.value.shape[-1]
        return Jet([dense(c, dim) for c in jet.coeffs])

    # ------------------------------------------------------------------ linear rules
    def linear(self, jet: Jet, weight: torch.Tensor, bias: torch.Tensor | None) -> Jet:
        """``y = x W^T + b`` on every coefficient; sparse directions gather columns of ``W``."""
        out = [torch.nn.functional.linear(jet.value, weight, bias)]
        for coeff in jet.coeffs[1:]:
            if coeff is None:
                out.append(None)
            elif isinstance(coeff, SparseTangent):
                cols = weight[:, coeff.index]  # (H, V, M)
                out.append(torch.einsum("hvm,vm->vh", cols, coeff.value)[None])
            else:
                out.append(coeff @ weight.T)
        return Jet(out)

    def map_linear(self, jet: Jet, fn: Callable[[torch.Tensor], torch.Tensor],
                   value_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Jet:
        """Apply a linear map ``fn`` to every coefficient (``value_fn`` to ``c_0`` if given)."""
        jet = self.densify(jet)
        head = (value_fn or fn)(jet.value)
        return Jet([head] + [None if c is None else fn(c) for c in jet.coeffs[1:]])

    def add(self, a: Jet, b: Jet, alpha: float = 1.0) -> Jet:
        a, b = self.densify(a), self.densify(b)
        out = []
        for ca, cb in zip(a.coeffs, b.coeffs, strict=True):
            if cb is None:
                out.append(ca)
            elif ca is None:
                out.append(alpha * cb)
            else:
                out.append(ca + alpha * cb)
        return Jet(out)

    # ------------------------------------------------------------------ nonlinear rules
    def multiply(self, a: Jet, b: Jet) -> Jet:
        """Cauchy product of two jets."""
        a, b = self.densify(a), self.densify(b)
        out = [a.value * b.value]
        for k in range(1, self.order + 1):
            inner = _sum_or_none(_mul(a.coeffs[j], b.coeffs[k - j]) for j in range(1, k))
            if inner is not None and self._is_top(k):
                inner = self.reduce(inner)
            ends = _sum_or_none([_mul(a.coeffs[0], b.coeffs[k]), _mul(a.coeffs[k], b.coeffs[0])])
            out.append(_sum_or_none([inner, ends]))
        return Jet(out)

    def elementwise(self, jet: Jet, rule: DerivativeRule) -> Jet:
        """``s(x)`` for an elementwise ``s`` whose derivatives ``[s, s', ..., s^(K)]`` at ``x_0``
        ``rule(x_0, K)`` returns (``None`` where a derivative is zero)."""
        jet = self.densify(jet)
        order = self.order
        derivs = rule(jet.value, order)
        x = jet.coeffs
        # powers[m][n] = [t^n] P(t)^m for n = m .. K
        powers: list[dict[int, Coefficient]] = [{}, {n: x[n] for n in range(1, order + 1)}]
        for m in range(2, order + 1):
            row = {}
            for n in range(m, order + 1):
                term = _sum_or_none(_mul(x[j], powers[m - 1].get(n - j)) for j in range(1, n - m + 2))
                if term is not None and self._is_top(n):
                    term = self.reduce(term)
                row[n] = term
            powers.append(row)
        out = [derivs[0]]
        for n in range(1, order + 1):
            terms = []
            for m in range(1, n + 1):
                if derivs[m] is None or powers[m].get(n) is None:
                    continue
                scale = derivs[m] if m == 1 else derivs[m] / math.factorial(m)
                terms.append(scale * powers[m][n])
            out.append(_sum_or_none(terms))
        return Jet(out)


def dense(coeff, dim: int):
    """A coefficient with sparse directions as a dense ``(1, V, dim)`` tensor; others as they are."""
    return coeff.dense(dim) if isinstance(coeff, SparseTangent) else coeff


def _mul(a: Coefficient, b: Coefficient) -> Coefficient:
    return None if a is None or b is None else a * b


def _sum_or_none(terms) -> Coefficient:
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total


# ---------------------------------------------------------------------- derivative rules
def _polynomial_rule(base: Callable[[torch.Tensor], torch.Tensor],
                     chain: Sequence[float]) -> DerivativeRule:
    """Derivatives of a function ``s`` with ``s' = q(s)`` for a polynomial ``q`` (coefficients
    ``chain``, lowest first): every ``s^(m)`` is a polynomial in ``s`` (tanh, sigmoid)."""

    def rule(x: torch.Tensor, order: int) -> list:
        s = base(x)
        poly = [0.0, 1.0]  # s itself
        out = [s]
        for _ in range(order):
            deriv = [i * c for i, c in enumerate(poly)][1:]  # d poly / ds
            poly = _poly_mul(deriv, list(chain))
            out.append(_horner(poly, s))
        return out

    return rule


def _poly_mul(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, ai in enumerate(a):
        for j, bj in enumerate(b):
            out[i + j] += ai * bj
    return out


def _horner(poly: list[float], s: torch.Tensor) -> torch.Tensor:
    acc = torch.full_like(s, poly[-1])
    for c in reversed(poly[:-1]):
        acc = acc * s + c
    return acc


tanh_rule = _polynomial_rule(torch.tanh, [1.0, 0.0, -1.0])     # tanh' = 1 - tanh^2
sigmoid_rule = _polynomial_rule(torch.sigmoid, [0.0, 1.0, -1.0])  # s' = s - s^2


def exp_rule(x: torch.Tensor, order: int) -> list:
    e = torch.exp(x)
    return [e] * (order + 1)


def _trig_rule(start: int) -> DerivativeRule:
    def rule(x: torch.Tensor, order: int) -> list:
        s, c = torch.sin(x), torch.cos(x)
        cycle = [s, c, -s, -c]
        return [cycle[(start + m) % 4] for m in range(order + 1)]
    return rule


sin_rule, cos_rule = _trig_rule(0), _trig_rule(1)


def softplus_rule(beta: float = 1.0) -> DerivativeRule:
    """``softplus(beta x) / beta``: its derivative is ``sigmoid(beta x)``."""

    def rule(x: torch.Tensor, order: int) -> list:
        sig = sigmoid_rule(beta * x, max(order - 1, 0))
        head = torch.nn.functional.softplus(x, beta=beta)
        return [head] + [beta ** (m - 1) * sig[m - 1] for m in range(1, order + 1)]

    return rule


def _product_with_x(inner: list, x: torch.Tensor) -> list:
    """Derivatives of ``x g(x)`` from those of ``g``: ``(x g)^(m) = x g^(m) + m g^(m-1)``."""
    return [x * inner[0]] + [x * inner[m] + m * inner[m - 1] for m in range(1, len(inner))]


def gelu_rule(x: torch.Tensor, order: int) -> list:
    """Exact GELU ``x Phi(x)``; ``Phi^(m) = (-1)^(m-1) He_(m-1)(x) phi(x)`` (Hermite)."""
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    hermite = [torch.ones_like(x), x]  # He_0, He_1
    for n in range(1, order):
        hermite.append(x * hermite[n] - n * hermite[n - 1])
    phi = [cdf] + [(-1) ** (m - 1) * hermite[m - 1] * pdf for m in range(1, order + 1)]
    return _product_with_x(phi, x)


def silu_rule(x: torch.Tensor, order: int) -> list:
    return _product_with_x(sigmoid_rule(x, order), x)


def power_rule(p: float) -> DerivativeRule:
    """``x ** p``; integer ``p >= 0`` has exact zero derivatives beyond order ``p``."""

    def rule(x: torch.Tensor, order: int) -> list:
        out, falling = [x ** p], 1.0
        for m in range(1, order + 1):
            falling *= p - m + 1
            integer_done = float(p).is_integer() and p >= 0 and m > p
            out.append(None if integer_done else falling * x ** (p - m))
        return out

    return rule


def log_rule(x: torch.Tensor, order: int) -> list:
    return [torch.log(x)] + [(-1) ** (m - 1) * math.factorial(m - 1) * x ** (-m)
                             for m in range(1, order + 1)]


def identity_rule(x: torch.Tensor, order: int) -> list:
    return [x, torch.ones_like(x)] + [None] * (order - 1)

"""Time stepping for semilinear systems with a diagonal stiff part: ``dv/dt = L v + N(v) + f``.

The spectral solvers (:mod:`oplearn.pdes.burgers`, :mod:`oplearn.pdes.navier_stokes`) work on Fourier
coefficients, where diffusion is a diagonal linear operator ``L`` and the rest (advection, a quadratic
flux) an explicit term ``N``. An equation hands over its :class:`SemilinearTerms`; a scheme is data,
not a loop: :class:`IMEXRungeKutta` is a pair of Butcher tableaux (implicit for ``L``, explicit for
``N``), :class:`ExponentialRungeKutta` a tableau whose entries are combinations of the phi-functions
of ``z = dt L``. One loop (:func:`trajectory`, :func:`integrate`) advances any equation with any scheme.

How: ``L`` is diagonal, so every stage value of either kind of scheme is
``Y_i = P_i v + sum_j Q_ij R_j`` with rates ``R_j = N(Y_j) + f`` and diagonal multipliers ``P_i``,
``Q_ij`` that depend on ``z`` and ``dt`` only. A scheme turns itself into these multipliers once
(:meth:`AbstractScheme.plan`; the implicit solves of an IMEX scheme are eliminated there, exactly),
and the loop applies them: per stage one product and one fused multiply-add per rate, no conversion
between real and complex (the multipliers are stored in the state's dtype), and a product ``P v``
shared by several stages computed once a step.

Schemes defined here: :data:`CRANK_NICOLSON_EULER` (first order), :data:`CRANK_NICOLSON_HEUN` (second
order) and :data:`ETDRK4` (fourth order, Cox and Matthews 2002, phi-functions by the contour integrals
of Kassam and Trefethen 2005).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

Multiplier = torch.Tensor | float
"""A diagonal multiplier: a tensor broadcastable to the state, or a plain number."""


@dataclass(frozen=True)
class SemilinearTerms:
    """The right-hand side ``dv/dt = L v + N(v) + f`` of a system in coefficient space.

    Attributes:
        linear: the diagonal ``L`` (units 1 / time), real or complex, broadcastable to the state,
            e.g. ``(K,)`` for a ``(B, K)`` state; integrated implicitly or exactly.
        nonlinear: ``N``, integrated explicitly: maps a state to a rate of the state's shape and dtype.
        forcing: a constant ``f`` broadcastable to the state (units state / time), or ``None``.
    """

    linear: torch.Tensor
    nonlinear: Callable[[torch.Tensor], torch.Tensor]
    forcing: torch.Tensor | None = None


@dataclass(frozen=True)
class Combination:
    """``P v + sum_k Q_k R_k``: ``state`` is ``P`` (``None`` for 1), ``rates`` the pairs ``(k, Q_k)``."""

    state: Multiplier | None
    rates: tuple[tuple[int, Multiplier], ...]


@dataclass(frozen=True)
class StepPlan:
    """One time step as diagonal multipliers.

    Stage ``i`` is ``Y_i = stages[i]`` applied to ``v`` and the rates ``R_0 .. R_{i-1}``, its rate is
    ``R_i = N(Y_i) + f``, and the new state is ``final`` applied to ``v`` and all rates.
    """

    stages: tuple[Combination, ...]
    final: Combination

    def to(self, dtype: torch.dtype) -> StepPlan:
        """The same plan with every tensor multiplier in ``dtype`` (the state's), equal ones shared."""
        if not dtype.is_complex and any(m.is_complex() for m in self._tensors()):
            raise ValueError("a complex linear part needs a complex state")
        converted: list[tuple[torch.Tensor, torch.Tensor]] = []

        def convert(m: Multiplier | None) -> Multiplier | None:
            if not isinstance(m, torch.Tensor):
                return m
            for original, new in converted:  # equal multipliers become one object (see _combine)
                if original.shape == m.shape and torch.equal(original, m):
                    return new
            converted.append((m, m.to(dtype)))
            return converted[-1][1]

        def combination(c: Combination) -> Combination:
            return Combination(convert(c.state), tuple((k, convert(q)) for k, q in c.rates))

        return StepPlan(tuple(combination(c) for c in self.stages), combination(self.final))

    def _tensors(self) -> list[torch.Tensor]:
        combos = (*self.stages, self.final)
        values = [c.state for c in combos] + [q for c in combos for _, q in c.rates]
        return [m for m in values if isinstance(m, torch.Tensor)]


class AbstractScheme(abc.ABC):
    """A one-step method for ``dv/dt = L v + N(v) + f``: it only has to produce its :class:`StepPlan`."""

    name: str
    order: int

    @abc.abstractmethod
    def plan(self, z: torch.Tensor, dt: float) -> StepPlan:
        """The multipliers of one step of size ``dt`` (time units) for ``z = dt L`` (shape of ``L``)."""


# A linear form in v and the rates: key -1 is v, key k >= 0 the rate R_k.
_Form = dict[int, Multiplier]


def _add_scaled(total: _Form, form: _Form, scale: Multiplier) -> None:
    for key, value in form.items():
        total[key] = total[key] + scale * value if key in total else scale * value


def _combination(form: _Form) -> Combination:
    state = form.get(-1, 0.0)
    return Combination(None if isinstance(state, float) and state == 1.0 else state,
                       tuple((k, q) for k, q in sorted(form.items()) if k >= 0))


@dataclass(frozen=True)
class IMEXRungeKutta(AbstractScheme):
    """An implicit-explicit Runge-Kutta method: ``L`` by the ``implicit`` tableau, ``N + f`` by the explicit.

    Stages ``Y_i = v + dt sum_j (explicit[i][j] (N(Y_j) + f) + implicit[i][j] L Y_j)`` (``explicit``
    strictly lower triangular, ``implicit`` lower triangular: diagonally implicit), and the step
    ``v + dt sum_j (explicit_weights[j] (N(Y_j) + f) + implicit_weights[j] L Y_j)``. When the weights
    are the last rows of the tableaux (stiffly accurate) the step is the last stage, computed as such.

    Attributes:
        name: a short name.
        order: the classical order of accuracy.
        explicit, implicit: ``s x s`` tableaux (rows of numbers).
        explicit_weights, implicit_weights: ``s`` weights each.
    """

    name: str
    order: int
    explicit: tuple[tuple[float, ...], ...]
    implicit: tuple[tuple[float, ...], ...]
    explicit_weights: tuple[float, ...]
    implicit_weights: tuple[float, ...]

    def __post_init__(self) -> None:
        s = len(self.explicit_weights)
        shapes = [len(row) for row in (*self.explicit, *self.implicit)] + [len(self.implicit_weights)]
        if len(self.explicit) != s or len(self.implicit) != s or any(n != s for n in shapes):
            raise ValueError(f"{self.name}: tableaux must be {s} x {s} with {s} weights")
        if any(self.explicit[i][j] != 0 for i in range(s) for j in range(i, s)):
            raise ValueError(f"{self.name}: the explicit tableau must be strictly lower triangular")
        if any(self.implicit[i][j] != 0 for i in range(s) for j in range(i + 1, s)):
            raise ValueError(f"{self.name}: the implicit tableau must be lower triangular")

    def plan(self, z: torch.Tensor, dt: float) -> StepPlan:
        s = len(self.explicit_weights)
        # Stages whose rate some combination uses; only those get evaluated in the loop.
        used = [j for j in range(s) if any(row[j] != 0 for row in self.explicit)
                or self.explicit_weights[j] != 0]
        rate_index = {j: k for k, j in enumerate(used)}
        stages: list[_Form] = []
        for i in range(s):
            form: _Form = {-1: 1.0}
            for j in range(i):
                if self.explicit[i][j] != 0:
                    _add_scaled(form, {rate_index[j]: dt}, self.explicit[i][j])
                if self.implicit[i][j] != 0:
                    _add_scaled(form, stages[j], self.implicit[i][j] * z)
            if self.implicit[i][i] != 0:
                inverse = 1.0 / (1.0 - self.implicit[i][i] * z)
                form = {key: value * inverse for key, value in form.items()}
            stages.append(form)
        if (self.explicit_weights == self.explicit[-1]
                and self.implicit_weights == self.implicit[-1]):
            final = stages[-1]  # stiffly accurate: no cancellation between v and L Y_s for stiff z
        else:
            final = {-1: 1.0}
            for j in range(s):
                if self.explicit_weights[j] != 0:
                    _add_scaled(final, {rate_index[j]: dt}, self.explicit_weights[j])
                if self.implicit_weights[j] != 0:
                    _add_scaled(final, stages[j], self.implicit_weights[j] * z)
        return StepPlan(tuple(_combination(stages[j]) for j in used), _combination(final))


PhiSum = tuple[tuple[float, int, float], ...]
"""``sum weight * phi_k(c z)`` over the triples ``(weight, k, c)``; ``()`` is zero."""


def _polynomial(coefficients: list[float], w: torch.Tensor) -> torch.Tensor | float:
    """``sum_m coefficients[m] w^m`` by Horner's rule."""
    value: torch.Tensor | float = coefficients[-1]
    for coefficient in reversed(coefficients[:-1]):
        value = value * w + coefficient
    return value


def _phi_sum(entry: PhiSum, w: torch.Tensor, exps: dict[float, torch.Tensor]) -> torch.Tensor:
    """``sum weight * phi_k(c w)`` elementwise as one fraction ``(sum_c e^{cw} P_c(w) + P(w)) / w^K``.

    ``phi_k(x) = (e^x - sum_{m<k} x^m / m!) / x^k``; the polynomials are summed exactly first, as
    in Kassam and Trefethen's formulas (``phi_1 - 3 phi_2 + 4 phi_3`` becomes
    ``(e^w (4 - 3w + w^2) - 4 - w) / w^3``), so terms of order ``1/w`` do not cancel in rounding
    when ``|w|`` is large. Accurate away from ``w = 0`` only: evaluated on contours around it.
    ``exps`` caches ``e^{cw}`` by ``c``.
    """
    top = max(k for _, k, _ in entry)
    with_exp: dict[float, list[float]] = {}
    plain = [0.0] * (top + 1)
    for weight, k, c in entry:
        scale = weight / c ** k
        with_exp.setdefault(c, [0.0] * (top + 1))[top - k] += scale
        for m in range(k):
            plain[top - k + m] -= scale * c ** m / math.factorial(m)
    numerator = _polynomial(plain, w)
    for c, coefficients in with_exp.items():
        if c not in exps:
            exps[c] = torch.exp(c * w)
        numerator = numerator + exps[c] * _polynomial(coefficients, w)
    return numerator / w ** top if top else numerator


@dataclass(frozen=True)
class ExponentialRungeKutta(AbstractScheme):
    """An exponential Runge-Kutta method: ``L`` integrated exactly, ``N + f`` by the tableau.

    Stages ``Y_i = exp(c_i z) v + dt sum_j a[i][j](z) (N(Y_j) + f)`` and the step
    ``exp(z) v + dt sum_j b[j](z) (N(Y_j) + f)`` with ``z = dt L``; each entry is a :data:`PhiSum`.
    The entries are evaluated as means over points on the circle of radius 1 around each ``z``
    (Kassam and Trefethen 2005), accurate to rounding also where ``z`` is near 0: ``contour_points``
    on the upper half circle for real ``z`` (the real part of their mean), twice as many on the
    whole circle for complex ``z``.

    Attributes:
        name: a short name.
        order: the classical (non-stiff) order of accuracy.
        c: the ``s`` nodes.
        a: ``s`` rows, row ``i`` holding ``i`` entries.
        b: ``s`` weights.
        contour_points: points of the contour integrals (on a half circle).
    """

    name: str
    order: int
    c: tuple[float, ...]
    a: tuple[tuple[PhiSum, ...], ...]
    b: tuple[PhiSum, ...]
    contour_points: int = 32

    def __post_init__(self) -> None:
        s = len(self.c)
        if len(self.b) != s or len(self.a) != s or any(len(row) != i for i, row in enumerate(self.a)):
            raise ValueError(f"{self.name}: need {s} nodes, {s} weights and rows of 0 .. {s - 1} entries")
        terms = [term for entry in (*self.b, *(e for row in self.a for e in row)) for term in entry]
        if any(k < 0 or c == 0 for _, k, c in terms):
            raise ValueError(f"{self.name}: phi-function terms need k >= 0 and c != 0")

    def plan(self, z: torch.Tensor, dt: float) -> StepPlan:
        s = len(self.c)
        # Real z: the upper half circle, whose mean's real part is the whole circle's (the values on
        # the lower half are the conjugates). Complex z: the whole circle, with twice the points.
        points = self.contour_points * (2 if z.is_complex() else 1)
        m = torch.arange(1, points + 1, dtype=torch.float64, device=z.device)
        roots = torch.exp(1j * math.pi * (m - 0.5) / self.contour_points)
        w = z.to(torch.complex128)[..., None] + roots  # the contour around every z
        exps_on_contour: dict[float, torch.Tensor] = {}
        exps: dict[float, Multiplier] = {}

        def contour_mean(entry: PhiSum) -> Multiplier:
            mean = _phi_sum(entry, w, exps_on_contour).mean(dim=-1)
            return dt * (mean if z.is_complex() else mean.real)

        def exp(c: float) -> Multiplier:
            if c not in exps:
                exps[c] = 1.0 if c == 0 else torch.exp(c * z)
            return exps[c]

        used = [j for j in range(s) if self.b[j] or any(row[j] for row in self.a[j + 1:])]
        rate_index = {j: k for k, j in enumerate(used)}

        def form(start: float, entries: tuple[PhiSum, ...]) -> _Form:
            out: _Form = {-1: exp(start)}
            out.update({rate_index[j]: contour_mean(entry) for j, entry in enumerate(entries) if entry})
            return out

        stages = [form(self.c[i], self.a[i]) for i in used]
        return StepPlan(tuple(_combination(f) for f in stages), _combination(form(1.0, self.b)))


CRANK_NICOLSON_EULER = IMEXRungeKutta(
    name="crank-nicolson-euler",
    order=1,
    explicit=((0.0, 0.0), (1.0, 0.0)),
    implicit=((0.0, 0.0), (0.5, 0.5)),
    explicit_weights=(1.0, 0.0),
    implicit_weights=(0.5, 0.5),
)
"""Crank-Nicolson on ``L``, forward Euler on ``N``: ``v' = ((1 + z/2) v + dt R(v)) / (1 - z/2)``."""

CRANK_NICOLSON_HEUN = IMEXRungeKutta(
    name="crank-nicolson-heun",
    order=2,
    explicit=((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.5, 0.5, 0.0)),
    implicit=((0.0, 0.0, 0.0), (0.5, 0.5, 0.0), (0.5, 0.0, 0.5)),
    explicit_weights=(0.5, 0.5, 0.0),
    implicit_weights=(0.5, 0.0, 0.5),
)
"""Crank-Nicolson on ``L``, Heun's predictor-corrector on ``N``: the predictor
``p = ((1 + z/2) v + dt R(v)) / (1 - z/2)`` (the Euler step), then
``v' = ((1 + z/2) v + dt (R(v) + R(p)) / 2) / (1 - z/2)``; ``R = N + f``."""

_HALF_PHI1 = ((0.5, 1, 0.5),)
ETDRK4 = ExponentialRungeKutta(
    name="etdrk4",
    order=4,
    c=(0.0, 0.5, 0.5, 1.0),
    a=(
        (),
        (_HALF_PHI1,),
        ((), _HALF_PHI1),
        (((1.0, 1, 1.0), (-1.0, 1, 0.5)), (), ((1.0, 1, 0.5),)),
    ),
    b=(
        ((1.0, 1, 1.0), (-3.0, 2, 1.0), (4.0, 3, 1.0)),
        ((2.0, 2, 1.0), (-4.0, 3, 1.0)),
        ((2.0, 2, 1.0), (-4.0, 3, 1.0)),
        ((-1.0, 2, 1.0), (4.0, 3, 1.0)),
    ),
)
"""Cox and Matthews' ETDRK4: ``a = e^{z/2} v + dt phi_1(z/2)/2 R(v)``, ``b = e^{z/2} v + dt phi_1(z/2)/2 R(a)``,
``c = e^{z/2} a + dt phi_1(z/2)/2 (2 R(b) - R(v))`` (that is ``a_41 = phi_1(z) - phi_1(z/2)``,
``a_43 = phi_1(z/2)``), ``v' = e^z v + dt ((phi_1 - 3 phi_2 + 4 phi_3) R(v) + (2 phi_2 - 4 phi_3) (R(a) + R(b))
+ (4 phi_3 - phi_2) R(c))``."""


def _combine(v: torch.Tensor, combination: Combination, rates: list[torch.Tensor],
             products: dict[int, torch.Tensor]) -> torch.Tensor:
    """``P v + sum_k Q_k R_k``; ``products`` caches ``P v`` by multiplier within one step."""
    p = combination.state
    if p is None:
        y = v
    elif isinstance(p, torch.Tensor):
        y = products.get(id(p))
        if y is None:
            y = products[id(p)] = p * v
    else:
        y = p * v
    for k, q in combination.rates:
        y = torch.addcmul(y, q, rates[k]) if isinstance(q, torch.Tensor) else torch.add(y, rates[k], alpha=q)
    return y


def step(v: torch.Tensor, plan: StepPlan, rate: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """One step: ``v`` -> the new state (same shape and dtype); ``rate`` is ``N + f``."""
    rates: list[torch.Tensor] = []
    products: dict[int, torch.Tensor] = {}
    for stage in plan.stages:
        rates.append(rate(_combine(v, stage, rates, products)))
    return _combine(v, plan.final, rates, products)


def trajectory(v: torch.Tensor, terms: SemilinearTerms, scheme: AbstractScheme, dt: float,
               steps: int, count: int = 1) -> Iterator[torch.Tensor]:
    """Yield the state after every ``steps`` steps of size ``dt``, ``count`` times.

    Args:
        v: the initial state, any shape ``terms`` broadcast against (e.g. ``(B, K)`` Fourier
            coefficients), real or complex; every yielded state has its shape and dtype.
        terms: ``L``, ``N`` and ``f``.
        scheme: e.g. :data:`CRANK_NICOLSON_HEUN` or :data:`ETDRK4`.
        dt: the time step (time units; ``0`` leaves the state as it is).
        steps: steps between yields (>= 0).
        count: number of yields.
    """
    plan = scheme.plan(dt * terms.linear, dt).to(v.dtype)
    nonlinear = terms.nonlinear
    if terms.forcing is None:
        rate = nonlinear
    else:
        forcing = terms.forcing.to(v.dtype)

        def rate(y: torch.Tensor) -> torch.Tensor:
            return nonlinear(y) + forcing

    for _ in range(count):
        for _ in range(steps):
            v = step(v, plan, rate)
        yield v


def integrate(v: torch.Tensor, terms: SemilinearTerms, scheme: AbstractScheme, dt: float,
              steps: int) -> torch.Tensor:
    """The state after ``steps`` steps of size ``dt`` from ``v`` (same shape and dtype; see :func:`trajectory`)."""
    return next(trajectory(v, terms, scheme, dt, steps))

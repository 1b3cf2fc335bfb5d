"""Taylor mode: derivatives of ``t -> f(x(t))`` up to any order in one pass.

The curve is ``x(t) = x + sum_k v_k t^k / k!`` with tangents ``v_1, ..., v_K`` (``v_1`` alone
gives the line ``x + t v`` and the directional derivatives ``d^k f[v, ..., v]``; higher tangents
build mixed partials, see :mod:`oplearn.autodiff.operators`). Every tangent is given for ``V``
directions at once in one of these layouts:

- ``(B, V, d)``: per point;
- ``(V, d)``: shared by the batch (a linear first layer costs ``V d H``, not ``B V d H``);
- integer ``(V,)``: coordinate directions ``e_i`` (the first layer gathers ``V`` weight columns);
- :class:`SparseTangent`: a few nonzero coordinates per direction, gathered the same way.

``f`` may be any function of a ``(B, d)`` tensor. ``nn.Sequential`` models of ``nn.Linear`` and
activations run layer by layer; other modules and functions are traced with ``torch.fx`` and
run on jets op by op; when an operation has no Taylor rule (or tracing fails), the derivatives
come from nested ``torch.func.jvp`` instead (same values, slower).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.func import jvp, vmap

from oplearn.autodiff import trace
from oplearn.autodiff.series import Jet, Series, SparseTangent, dense
from oplearn.errors import InvalidInputError

Directions = torch.Tensor | SparseTangent
ENGINES = ("auto", "taylor", "jvp")


def check_points(x: torch.Tensor) -> None:
    """Raise :class:`InvalidInputError` unless ``x`` is a floating ``(B, d)`` tensor."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidInputError(f"x must be a (B, d) tensor, got {shape}")
    if not x.dtype.is_floating_point:
        raise InvalidInputError(f"x must be floating point, got {x.dtype}")


def _readable(t: torch.Tensor) -> bool:
    """Whether ``t``'s values can be read (not under ``vmap``, where a random index is batched
    and its range is checked by the caller outside the transform)."""
    return not torch._C._functorch.is_functorch_wrapped_tensor(t)


def _as_coefficient(tangent: Directions | None, x: torch.Tensor):
    """A tangent in jet layout: ``(B|1, V, d)``, a :class:`SparseTangent`, or ``None``."""
    batch, dim = x.shape
    if tangent is None or isinstance(tangent, SparseTangent):
        if tangent is not None and (tangent.index.ndim != 2 or tangent.index.shape != tangent.value.shape):
            raise InvalidInputError("SparseTangent index and value must both be (V, M)")
        if tangent is not None and tangent.index.numel() and _readable(tangent.index) and (
                int(tangent.index.min()) < 0 or int(tangent.index.max()) >= dim):
            raise InvalidInputError(f"SparseTangent index out of range for d = {dim}")
        if tangent is not None and tangent.value.dtype != x.dtype:
            tangent = SparseTangent(tangent.index, tangent.value.to(x.dtype))
        return tangent
    if not isinstance(tangent, torch.Tensor):
        raise InvalidInputError(f"directions must be a tensor or SparseTangent, got {type(tangent).__name__}")
    if not tangent.dtype.is_floating_point:
        if tangent.ndim != 1:
            raise InvalidInputError(f"coordinate directions must be (V,), got {tuple(tangent.shape)}")
        if tangent.numel() and _readable(tangent) and (int(tangent.min()) < 0 or int(tangent.max()) >= dim):
            raise InvalidInputError(f"coordinate index out of range for d = {dim}")
        return SparseTangent.coordinates(tangent, x.dtype)
    tangent = tangent.to(x.dtype)
    if tangent.ndim == 2 and tangent.shape[1] == dim:
        return tangent[None]
    if tangent.ndim == 3 and tangent.shape[0] == batch and tangent.shape[2] == dim:
        return tangent
    raise InvalidInputError(f"directions must be (B, V, d) = ({batch}, V, {dim}), (V, d) or integer "
                            f"(V,); got {tuple(tangent.shape)}")


def _num_directions(coeff) -> int:
    return coeff.index.shape[0] if isinstance(coeff, SparseTangent) else coeff.shape[1]


def jet(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
        tangents: Sequence[Directions | None], *, collapse: bool = False,
        weights: torch.Tensor | None = None, engine: str = "auto") -> list[torch.Tensor]:
    """Derivatives of ``t -> f(x(t))`` at ``t = 0`` for ``x(t) = x + sum_k tangents[k-1] t^k / k!``.

    Args:
        f: function of ``(B, d)`` points returning ``(B, *out)``.
        x: ``(B, d)`` points.
        tangents: ``K`` tangents (``None`` for zero), each in a layout of the module docstring,
            all with the same number ``V`` of directions.
        collapse: return only ``sum_v weights[v] d^K`` at the top order (cheaper: the top
            coefficient is summed while it is propagated).
        weights: ``(V,)`` or ``(B, V)`` weights for ``collapse`` (``None``: all ones).
        engine: ``"auto"`` (Taylor mode, nested jvp where there is no rule), ``"taylor"`` (raise
            :class:`InvalidInputError` where there is no rule) or ``"jvp"``.
    Returns:
        ``K + 1`` tensors: ``f(x)`` ``(B, *out)``, then ``d^k/dt^k`` ``(B, V, *out)`` for
        ``k = 1 .. K``; with ``collapse`` the last one is the weighted sum ``(B, *out)``.
        Differentiable with respect to ``f``'s parameters and ``x``.
    """
    return _jet(f, x, tangents, collapse, weights, engine, top_only=False)


def _jet(f, x, tangents, collapse, weights, engine, top_only: bool) -> list:
    """:func:`jet`; with ``top_only`` the fallback computes only the top order (the other
    entries are then ``None``)."""
    check_points(x)
    if engine not in ENGINES:
        raise InvalidInputError(f"engine must be one of {ENGINES}, got {engine!r}")
    order = len(tangents)
    if order < 1:
        raise InvalidInputError("give at least one tangent")
    coeffs = [_as_coefficient(t, x) for t in tangents]
    sizes = {_num_directions(c) for c in coeffs if c is not None}
    if len(sizes) > 1:
        raise InvalidInputError(f"all tangents need the same number of directions, got {sorted(sizes)}")
    if not sizes:
        raise InvalidInputError("at least one tangent must be nonzero")
    n_dirs = sizes.pop()
    if n_dirs < 1:
        raise InvalidInputError("give at least one direction")
    if weights is not None:
        if not collapse:
            raise InvalidInputError("weights apply to the collapsed sum: pass collapse=True")
        if weights.ndim not in (1, 2) or weights.shape[-1] != n_dirs or (
                weights.ndim == 2 and weights.shape[0] != x.shape[0]):
            raise InvalidInputError(f"weights must be (V,) or (B, V) = ({x.shape[0]}, {n_dirs}), "
                                    f"got {tuple(weights.shape)}")
        weights = weights.to(x.dtype)
    if engine != "jvp":
        try:
            return _taylor(f, x, coeffs, collapse, weights, n_dirs)
        except trace.Unsupported as exc:
            if engine == "taylor":
                raise InvalidInputError(f"no Taylor-mode rule: {exc}") from exc
    return _nested_jvp(f, x, coeffs, collapse, weights, top_only)


def _normalised(coeff, k: int):
    scale = 1.0 / math.factorial(k)
    if coeff is None or scale == 1.0:
        return coeff
    if isinstance(coeff, SparseTangent):
        return SparseTangent(coeff.index, coeff.value * scale)
    return coeff * scale


def _taylor(f, x, coeffs, collapse, weights, n_dirs: int) -> list[torch.Tensor]:
    order = len(coeffs)
    series = Series(order, collapse=collapse, weights=weights)
    top = coeffs[-1]
    if collapse and top is not None:  # the input's own top coefficient, summed over directions
        coeffs = coeffs[:-1] + [series.reduce(dense(top, x.shape[1]))]
    inputs = Jet([x[:, None, :]] + [_normalised(c, k) for k, c in enumerate(coeffs, start=1)])
    out = trace.run(f, inputs, series)
    batch = x.shape[0]
    results = [out.value.squeeze(1)]
    for k, coeff in enumerate(out.coeffs[1:], start=1):
        top_summed = collapse and k == order
        if coeff is None:
            shape = (batch, *results[0].shape[1:]) if top_summed else \
                (batch, n_dirs, *results[0].shape[1:])
            results.append(torch.zeros(shape, dtype=x.dtype, device=x.device))
            continue
        coeff = coeff * float(math.factorial(k))
        if not top_summed and coeff.shape[1] != n_dirs:  # constant along the directions
            coeff = coeff.expand(coeff.shape[0], n_dirs, *coeff.shape[2:])
        coeff = coeff.expand(batch, *coeff.shape[1:])
        results.append(coeff.squeeze(1) if top_summed else coeff)
    return results


def _nested_jvp(f, x, coeffs, collapse, weights, top_only: bool) -> list:
    """The generic path: ``d^k/dt^k f(x(t))`` by ``k`` nested forward-mode passes, vectorised
    over directions."""
    batch, dim = x.shape
    order = len(coeffs)
    per_direction = []  # (V, B, d) or None for each order
    for c in coeffs:
        c = dense(c, dim)
        per_direction.append(None if c is None else c.expand(batch, *c.shape[1:]).transpose(0, 1))
    present = [k for k, c in enumerate(per_direction) if c is not None]
    stacked = [per_direction[k] for k in present]
    line = present == [0]  # x + t v: differentiate in x, so the points are not copied per direction

    def curve(t: torch.Tensor, *vs: torch.Tensor) -> torch.Tensor:
        point = x
        for k, v in zip(present, vs, strict=True):
            point = point + v * (t ** (k + 1) / math.factorial(k + 1))
        return f(point)

    def derivative(k: int, *vs: torch.Tensor) -> torch.Tensor:
        if line:
            fn, start, tangent = f, x, vs[0]
        else:
            fn = lambda t: curve(t, *vs)  # noqa: E731
            start = torch.zeros(batch, 1, dtype=x.dtype, device=x.device)
            tangent = torch.ones_like(start)
        for _ in range(k):
            fn = (lambda g: lambda y: jvp(g, (y,), (tangent,))[1])(fn)
        return fn(start)

    results = [None if top_only else f(x)]
    for k in range(1, order + 1):
        if top_only and k < order:
            results.append(None)
            continue
        values = vmap(lambda *vs, k=k: derivative(k, *vs))(*stacked)  # (V, B, *out)
        values = values.movedim(0, 1)
        if collapse and k == order:
            w = torch.ones(values.shape[1], dtype=x.dtype, device=x.device) if weights is None else weights
            w = w if w.ndim == 2 else w[None]
            values = (values * w.reshape(*w.shape, *([1] * (values.ndim - 2)))).sum(dim=1)
        results.append(values)
    return results


def directional_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                           directions: Directions, order: int, *, weights: torch.Tensor | None = None,
                           collapse: bool = False, chunk_size: int | None = None,
                           engine: str = "auto") -> torch.Tensor:
    """``d^K/dt^K f(x + t v)`` for every direction ``v``: ``(B, V, *out)``; with ``collapse``
    the weighted sum over directions ``(B, *out)``. ``chunk_size`` bounds how many directions
    are pushed at once (memory); chunks of a collapsed sum are added up."""
    check_points(x)
    if order < 1:
        raise InvalidInputError(f"order must be >= 1, got {order}")
    if chunk_size is not None and chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be >= 1, got {chunk_size}")
    if _num_directions(_as_coefficient(directions, x)) < 1:  # also one clear error for a bad layout
        raise InvalidInputError("give at least one direction")
    parts = []
    for chunk, w in _chunks(directions, weights, chunk_size):
        tangents = [chunk] + [None] * (order - 1)
        parts.append(_jet(f, x, tangents, collapse, w, engine, top_only=True)[-1])
    if collapse:
        return sum(parts[1:], parts[0])
    return torch.cat(parts, dim=1)


def _chunks(directions: Directions, weights: torch.Tensor | None, chunk_size: int | None):
    """Split directions (and their weights) along ``V``."""
    if isinstance(directions, SparseTangent):
        n_dirs = directions.index.shape[0]
        take = lambda s: SparseTangent(directions.index[s], directions.value[s])  # noqa: E731
    elif not directions.dtype.is_floating_point:
        n_dirs = directions.shape[0]
        take = lambda s: directions[s]  # noqa: E731
    else:
        n_dirs = directions.shape[-2]
        take = lambda s: directions[..., s, :]  # noqa: E731
    step = chunk_size or max(n_dirs, 1)
    for start in range(0, n_dirs, step):
        s = slice(start, start + step)
        yield take(s), None if weights is None else weights[..., s]

"""Gradient, divergence, time derivatives and the biharmonic operator of networks.

Each takes ``f`` as a function of ``(B, d)`` points (``nn.Module`` or plain function) and
``method="exact"`` or ``"stde"`` (unbiased random estimate, ``num_samples`` directions drawn
with ``generator``):

- :func:`gradient`: exact by one reverse-mode pass (the cheapest exact way for a scalar ``f``);
  STDE by ``V`` random coordinates ``(d / V) sum_j (d_i f) e_i``.
- :func:`divergence` of a vector field ``(B, d) -> (B, d)``: exact from ``d`` first-order
  coordinate directions; STDE by Hutchinson ``v^T J v`` (Rademacher) or sparse coordinates.
- :func:`time_derivative`: ``d^k u / dt^k`` along one coordinate, one Taylor pass of order ``k``.
- :func:`axis_derivatives`: ``u`` and its pure partials ``d^k u / dx_a^k`` along several axes,
  all orders from one Taylor pass (a residual such as Burgers' needs no more).
- :func:`biharmonic` ``sum_ij d_ii d_jj u``: exact by forward Hessian propagation for MLPs
  (:mod:`oplearn.autodiff.hessian_propagation`), otherwise from fourth-order directional
  derivatives along ``e_i`` and ``e_i +- e_j`` (``d^2`` directions); STDE from Gaussian
  directions (``E[d^4 u[v, v, v, v]] = 3 Lap^2 u`` for ``v ~ N(0, I)``) or random pairs ``(i, j)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from oplearn.autodiff import hessian_propagation
from oplearn.autodiff.jet import check_points, directional_derivative, jet
from oplearn.autodiff.laplacian import SPARSE_FROM_DIMENSION, scalar_output
from oplearn.autodiff.series import SparseTangent
from oplearn.errors import InvalidInputError

Function = Callable[[torch.Tensor], torch.Tensor]
METHODS = ("exact", "stde")
# sparse pairs push 4 directions per pair through the network: they only win when the first
# layer of the shared estimator (V d H) dominates, between d = 1e5 and 1e6 here
BIHARMONIC_SPARSE_FROM_DIMENSION = 500_000


def _check(method: str, num_samples: int) -> None:
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {METHODS}, got {method!r}")
    if num_samples < 1:
        raise InvalidInputError(f"num_samples must be >= 1, got {num_samples}")


def _auto(estimator: str, dim: int, allowed: tuple[str, ...]) -> str:
    if estimator == "auto":
        return "sparse" if dim >= SPARSE_FROM_DIMENSION else "dense"
    if estimator not in allowed:
        raise InvalidInputError(f"estimator must be one of {allowed} or 'auto', got {estimator!r}")
    return estimator


def gradient(f: Function, x: torch.Tensor, method: str = "exact", num_samples: int = 16,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """``grad f`` ``(B, d)`` of a scalar ``f: (B, d) -> (B,)``; differentiable (the graph is
    kept, so a loss on the gradient can be backpropagated to the parameters)."""
    check_points(x)
    _check(method, num_samples)
    batch, dim = x.shape
    if method == "exact":
        xg = x if x.requires_grad else x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(scalar_output(f(xg), batch).sum(), xg, create_graph=True)
        return grad
    idx = torch.randint(0, dim, (num_samples,), generator=generator, device=x.device)
    partials = directional_derivative(f, x, idx, 1)  # (B, V, *out)
    if partials.shape[2:] not in ((), (1,)):
        raise InvalidInputError(f"f must map (B, d) -> (B,) or (B, 1); got output {(batch, *partials.shape[2:])}")
    partials = partials.reshape(batch, num_samples)
    out = torch.zeros(batch, dim, dtype=x.dtype, device=x.device)
    return out.index_add(1, idx, partials) * (dim / num_samples)


def divergence(field: Function, x: torch.Tensor, method: str = "exact", num_samples: int = 16,
               generator: torch.Generator | None = None, estimator: str = "auto") -> torch.Tensor:
    """``div F = sum_i d_i F_i`` ``(B,)`` of a vector field ``F: (B, d) -> (B, d)``.

    ``estimator`` for STDE: ``"sparse"`` (random coordinates), ``"dense"`` (Rademacher per
    point, Hutchinson) or ``"auto"`` (sparse from ``d = 1000`` on)."""
    check_points(x)
    _check(method, num_samples)
    batch, dim = x.shape
    if method == "exact":
        jac_cols = directional_derivative(field, x, torch.arange(dim, device=x.device), 1)
        _check_field(jac_cols, batch, dim)
        return jac_cols.diagonal(dim1=1, dim2=2).sum(dim=1)
    estimator = _auto(estimator, dim, ("sparse", "dense"))
    if estimator == "sparse":
        idx = torch.randint(0, dim, (num_samples,), generator=generator, device=x.device)
        cols = directional_derivative(field, x, idx, 1)  # (B, V, d)
        _check_field(cols, batch, dim)
        return cols[:, torch.arange(num_samples), idx].sum(dim=1) * (dim / num_samples)
    signs = torch.randint(0, 2, (batch, num_samples, dim), generator=generator, device=x.device)
    v = (2 * signs - 1).to(x.dtype)
    jv = directional_derivative(field, x, v, 1)  # (B, V, d)
    _check_field(jv, batch, dim)
    return (jv * v).sum(dim=(1, 2)) / num_samples


def _check_field(values: torch.Tensor, batch: int, dim: int) -> None:
    if values.ndim != 3 or values.shape[-1] != dim:
        raise InvalidInputError(f"the field must map (B, d) -> (B, d) = ({batch}, {dim}); "
                                f"got output {tuple(values.shape[:1] + values.shape[2:])}")


def time_derivative(f: Function, x: torch.Tensor, order: int = 1, dim: int = -1) -> torch.Tensor:
    """``d^k f / d x_dim^k`` ``(B,)`` (``dim=-1``: time as the last coordinate), one Taylor pass
    of order ``k`` along ``e_dim``: exact and the cheapest way, so there is no STDE variant."""
    check_points(x)
    if not -x.shape[1] <= dim < x.shape[1]:
        raise InvalidInputError(f"dim {dim} out of range for d = {x.shape[1]}")
    coordinate = torch.tensor([dim % x.shape[1]], device=x.device)
    return scalar_output(directional_derivative(f, x, coordinate, order)[:, 0], x.shape[0])


def axis_derivatives(f: Function, x: torch.Tensor, axes: tuple[int, ...], order: int
                     ) -> list[torch.Tensor]:
    """``[u (B,), d u / dx_a (B, A), ..., d^order u / dx_a^order (B, A)]`` for the ``A`` axes
    ``a`` in ``axes`` (negative counts from the end: ``-1`` is time), from one Taylor pass of
    order ``order`` along ``e_a``: ``u``, ``u_x``, ``u_t`` and ``u_xx`` of a space-time residual
    cost one pass instead of four (2.5x faster on Burgers' network)."""
    check_points(x)
    if order < 1:
        raise InvalidInputError(f"order must be >= 1, got {order}")
    dim = x.shape[1]
    if not axes or any(not -dim <= a < dim for a in axes):
        raise InvalidInputError(f"axes must be a non-empty tuple of axes in [-{dim}, {dim}), got {axes}")
    coordinates = torch.tensor([a % dim for a in axes], device=x.device)
    values = jet(f, x, [coordinates] + [None] * (order - 1))
    u = scalar_output(values[0], x.shape[0])  # (B,) or (B, 1) only, so each v is (B, A[, 1])
    return [u] + [v.reshape(x.shape[0], len(axes)) for v in values[1:]]


def _pair_directions(first: torch.Tensor, second: torch.Tensor, dtype) -> SparseTangent:
    """Directions ``e_i + e_j``, ``e_i - e_j``, ``e_i``, ``e_j`` for each pair (4 per pair)."""
    plus = torch.stack([first, second], dim=1)
    index = torch.cat([plus, plus, plus, plus], dim=0)
    ones = torch.ones(len(first), dtype=dtype, device=first.device)
    zeros = torch.zeros_like(ones)
    value = torch.cat([torch.stack(p, dim=1) for p in
                       ((ones, ones), (ones, -ones), (ones, zeros), (zeros, ones))], dim=0)
    return SparseTangent(index, value)


def exact_biharmonic_directions(dim: int, dtype=torch.float64, device=None):
    """Directions and weights with ``sum_v w_v d^4 u[v^4] = Lap^2 u``: ``e_i`` with weight
    ``(4 - d) / 3`` and ``e_i +- e_j`` (``i < j``) with weight ``1 / 6``. (``sum_v w_v v^(x)4``
    equals the symmetrised ``delta (x) delta``, checked on ``|a|^4`` in the tests.)"""
    i, j = torch.triu_indices(dim, dim, offset=1, device=device)
    coords = torch.arange(dim, device=device)
    index = torch.cat([torch.stack([coords, coords], 1), torch.stack([i, j], 1), torch.stack([i, j], 1)])
    ones = torch.ones(len(i), dtype=dtype, device=device)
    value = torch.cat([torch.stack([torch.ones(dim, dtype=dtype, device=device),
                                    torch.zeros(dim, dtype=dtype, device=device)], 1),
                       torch.stack([ones, ones], 1), torch.stack([ones, -ones], 1)])
    weights = torch.cat([torch.full((dim,), (4 - dim) / 3, dtype=dtype, device=device),
                         torch.full((2 * len(i),), 1 / 6, dtype=dtype, device=device)])
    return SparseTangent(index, value), weights


def biharmonic(f: Function, x: torch.Tensor, method: str = "exact", num_samples: int = 16,
               generator: torch.Generator | None = None, estimator: str = "auto",
               chunk_size: int | None = 512) -> torch.Tensor:
    """``Lap^2 f = sum_ij d_ii d_jj f`` ``(B,)`` of a scalar ``f``.

    Args:
        method: ``"exact"`` (Hessian propagation for MLPs, else ``d^2`` fourth-order
            directions summed as they propagate) or ``"stde"``.
        estimator: for STDE: ``"dense"`` (Gaussian directions per point), ``"shared"``
            (Gaussian, shared by the batch), ``"sparse"`` (``V`` random pairs ``(i, j)``, each
            ``d_iijj`` from four coordinate-pair directions; cost independent of ``d``) or
            ``"auto"`` (dense below ``d = 1000``, shared below ``d = 500,000``, then sparse).
        chunk_size: directions pushed at once (memory of the direction-based paths).
    """
    check_points(x)
    _check(method, num_samples)
    batch, dim = x.shape
    if method == "exact":
        if hessian_propagation.supports(f):
            return scalar_output(hessian_propagation.biharmonic_mlp(f, x), batch)
        directions, weights = exact_biharmonic_directions(dim, x.dtype, x.device)
        total = directional_derivative(f, x, directions, 4, weights=weights, collapse=True,
                                       chunk_size=chunk_size)
        return scalar_output(total, batch)
    if estimator == "auto":  # the fastest in benchmarks/biharmonic.py at each d
        estimator = "dense" if dim < SPARSE_FROM_DIMENSION else \
            "shared" if dim < BIHARMONIC_SPARSE_FROM_DIMENSION else "sparse"
    estimator = _auto(estimator, dim, ("sparse", "shared", "dense"))
    if estimator == "sparse":
        first, second = torch.randint(0, dim, (2, num_samples), generator=generator, device=x.device)
        directions = _pair_directions(first, second, x.dtype)
        # d_iijj = (D(e_i+e_j) + D(e_i-e_j) - 2 D(e_i) - 2 D(e_j)) / 12, also right for i = j
        per_pair = torch.tensor([1 / 12, 1 / 12, -1 / 6, -1 / 6], dtype=x.dtype, device=x.device)
        weights = per_pair.repeat_interleave(num_samples) * (dim * dim / num_samples)
        total = directional_derivative(f, x, directions, 4, weights=weights, collapse=True,
                                       chunk_size=chunk_size)
        return scalar_output(total, batch)
    shape = (num_samples, dim) if estimator == "shared" else (batch, num_samples, dim)
    v = torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
    total = directional_derivative(f, x, v, 4, collapse=True, chunk_size=chunk_size)
    return scalar_output(total, batch) / (3 * num_samples)

"""The Laplacian of a network ``u: (B, d) -> (B,)``: exact, stochastic (STDE) or SDGD.

- ``method="exact"``: the trace of the Hessian as the sum of second derivatives along all ``d``
  coordinate directions, pushed through the network in one second-order Taylor pass
  (:mod:`oplearn.autodiff.taylor`) for MLPs, or with nested ``torch.func.jvp`` for any function.
- ``method="stde"`` (Stochastic Taylor Derivative Estimator): the same pass with ``V`` random
  directions; unbiased for every estimator below:

  * ``"sparse"``: ``V`` coordinates drawn uniformly with replacement, ``(d / V) sum_j d_jj u``;
    the first layer gathers ``V`` weight columns, so the cost does not grow with ``d``.
  * ``"shared"``: Rademacher vectors shared by the whole batch, ``(1 / V) sum_j v_j^T H v_j``.
  * ``"dense"``: Rademacher vectors drawn independently for every point.

- ``method="sdgd"``: the baseline of Stochastic Dimension Gradient Descent: ``V`` random
  coordinates, each second derivative by a reverse-mode pass over the first derivative.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import jvp, vmap

from oplearn.autodiff import taylor
from oplearn.errors import InvalidInputError

Function = Callable[[torch.Tensor], torch.Tensor]
ESTIMATORS = ("sparse", "shared", "dense")
SPARSE_FROM_DIMENSION = 1000  # below it dense directions cost little and vary less


def _flat(u: torch.Tensor, batch: int) -> torch.Tensor:
    if u.shape not in ((batch,), (batch, 1)):
        raise InvalidInputError(f"f must map (B, d) -> (B,) or (B, 1); got output {tuple(u.shape)}")
    return u.reshape(batch)


def _check_points(x: torch.Tensor) -> None:
    if x.ndim != 2:
        raise InvalidInputError(f"x must be (B, d), got {tuple(x.shape)}")


def _chunks(directions: torch.Tensor, chunk_size: int | None):
    """Split directions (``(B, V, d)``, ``(V, d)`` or ``(V,)`` indices) along ``V``."""
    coords = not directions.dtype.is_floating_point
    n_dirs = directions.shape[0] if coords else directions.shape[-2]
    step = chunk_size or n_dirs
    for start in range(0, n_dirs, step):
        yield directions[start:start + step] if coords else directions[..., start:start + step, :]


def _single_output(second: torch.Tensor) -> torch.Tensor:
    if second.shape[-1] != 1:
        raise InvalidInputError(f"f must have one output; got {second.shape[-1]}")
    return second[..., 0]


def second_directional(f: Function, x: torch.Tensor, directions: torch.Tensor,
                       chunk_size: int | None = None) -> torch.Tensor:
    """``v^T (Hess f)(x) v`` for each direction: ``(B, V)``.

    ``directions`` as in :func:`oplearn.autodiff.taylor.jet2`: ``(B, V, d)``, ``(V, d)`` or
    integer coordinates ``(V,)``. MLPs go through the Taylor pass; anything else through nested
    ``torch.func.jvp`` (vectorised over directions with ``vmap``). ``chunk_size`` bounds how
    many directions are pushed at once (memory).
    """
    _check_points(x)
    if taylor.supports(f):
        parts = [_single_output(taylor.jet2(f, x, c).second) for c in _chunks(directions, chunk_size)]
    else:
        parts = [_nested_jvp(f, x, c) for c in _chunks(directions, chunk_size)]
    return torch.cat(parts, dim=1)


def _summed_second(f: Function, x: torch.Tensor, directions: torch.Tensor,
                   chunk_size: int | None) -> torch.Tensor:
    """``sum_v v^T (Hess f) v`` ``(B,)``: the Taylor pass with summed second coefficients for
    MLPs (half the work of :func:`second_directional`), else the per-direction values summed."""
    if not taylor.supports(f):
        return second_directional(f, x, directions, chunk_size).sum(dim=1)
    return sum(_single_output(taylor.jet2(f, x, c, sum_second=True).second)
               for c in _chunks(directions, chunk_size))


def _nested_jvp(f: Function, x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    batch, dim = x.shape
    if not directions.dtype.is_floating_point:
        directions = torch.eye(dim, dtype=x.dtype, device=x.device)[directions]
    per_point = directions.ndim == 3
    dirs = directions.transpose(0, 1) if per_point else directions[:, None, :].expand(-1, batch, dim)

    def second(v: torch.Tensor) -> torch.Tensor:
        first = lambda y: jvp(lambda z: _flat(f(z), batch), (y,), (v,))[1]  # noqa: E731
        return jvp(first, (x,), (v,))[1]

    return vmap(second)(dirs).T  # (B, V)


def _sdgd(f: Function, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    u = _flat(f(x), x.shape[0])
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    cols = []
    for i in idx.tolist():
        (g2,) = torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)
        cols.append(g2[:, i])
    return torch.stack(cols, dim=1)


def sample_directions(kind: str, batch: int, dim: int, num_samples: int, *,
                      generator: torch.Generator | None = None, dtype=torch.float32,
                      device=None) -> torch.Tensor:
    """Random directions of an estimator: integer coordinates ``(V,)`` for ``"sparse"``,
    Rademacher ``(V, d)`` for ``"shared"`` and ``(B, V, d)`` for ``"dense"``."""
    if kind == "sparse":
        return torch.randint(0, dim, (num_samples,), generator=generator, device=device)
    shape = (num_samples, dim) if kind == "shared" else (batch, num_samples, dim)
    signs = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * signs - 1).to(dtype)


def laplacian(f: Function, x: torch.Tensor, method: str = "exact", num_samples: int = 16,
              generator: torch.Generator | None = None, estimator: str = "auto",
              chunk_size: int | None = None) -> torch.Tensor:
    """Laplacian of ``f`` at the points ``x``.

    Args:
        f: ``(B, d) -> (B,)`` or ``(B, 1)``; an ``nn.Sequential`` MLP takes the Taylor fast path.
        x: ``(B, d)`` points.
        method: ``"exact"``, ``"stde"`` (unbiased estimate) or ``"sdgd"`` (baseline estimate).
        num_samples: directions ``V`` per estimate.
        generator: random generator of the directions.
        estimator: for ``"stde"``: ``"sparse"``, ``"shared"``, ``"dense"`` or ``"auto"``
            (sparse from ``d = 1000`` on, dense below).
        chunk_size: push at most this many directions at once (bounds memory of ``"exact"``).
    Returns:
        ``(B,)`` Laplacian values; differentiable with respect to ``f``'s parameters.
    """
    _check_points(x)
    batch, dim = x.shape
    if num_samples < 1:
        raise InvalidInputError(f"num_samples must be >= 1, got {num_samples}")
    if method == "exact":
        coords = torch.arange(dim, device=x.device)
        return _summed_second(f, x, coords, chunk_size)
    if method == "sdgd":
        idx = torch.randint(0, dim, (num_samples,), generator=generator)
        return _sdgd(f, x, idx).sum(dim=1) * (dim / num_samples)
    if method != "stde":
        raise InvalidInputError(f"method must be 'exact', 'stde' or 'sdgd', got {method!r}")
    if estimator == "auto":
        estimator = "sparse" if dim >= SPARSE_FROM_DIMENSION else "dense"
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS} or 'auto', got {estimator!r}")
    directions = sample_directions(estimator, batch, dim, num_samples, generator=generator,
                                   dtype=x.dtype, device=x.device)
    scale = dim / num_samples if estimator == "sparse" else 1.0 / num_samples
    return _summed_second(f, x, directions, chunk_size) * scale


def estimator_variance(f: Function, x: torch.Tensor, estimator: str, *, trials: int = 64,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-point variance ``(B,)`` of a one-direction estimate of the Laplacian (``"sparse"``,
    ``"shared"``, ``"dense"`` or ``"sdgd"``), from ``trials`` draws. With ``V`` directions the
    variance is this divided by ``V``: choose ``num_samples`` for the accuracy you need."""
    if estimator == "sdgd":  # needs autograd for its second derivatives
        draws = [laplacian(f, x, "sdgd", 1, generator).detach() for _ in range(trials)]
    else:
        with torch.no_grad():
            draws = [laplacian(f, x, "stde", 1, generator, estimator) for _ in range(trials)]
    return torch.stack(draws).var(dim=0)

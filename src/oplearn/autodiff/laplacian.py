"""The Laplacian of a network ``u: (B, d) -> (B,)``: exact, stochastic (STDE) or SDGD.

- ``method="exact"``: the trace of the Hessian as the sum of second derivatives along all ``d``
  coordinate directions, pushed through the network in one second-order Taylor pass
  (:mod:`oplearn.autodiff.jet`) with the second coefficient summed over directions as it goes.
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

from collections.abc import Callable, Sequence

import torch

from oplearn.autodiff.jet import Directions, check_points, directional_derivative
from oplearn.errors import InvalidInputError

Function = Callable[[torch.Tensor], torch.Tensor]
ESTIMATORS = ("sparse", "shared", "dense")
SPARSE_FROM_DIMENSION = 1000  # below it dense directions cost little and vary less


def scalar_output(u: torch.Tensor, batch: int) -> torch.Tensor:
    """``u`` ``(B,)`` or ``(B, 1)`` as ``(B,)``; anything else is an error (scalar ``f`` only)."""
    if u.shape not in ((batch,), (batch, 1)):
        raise InvalidInputError(f"f must map (B, d) -> (B,) or (B, 1); got output {tuple(u.shape)}")
    return u.reshape(batch)


def second_directional(f: Function, x: torch.Tensor, directions: Directions,
                       chunk_size: int | None = None, engine: str = "auto") -> torch.Tensor:
    """``v^T (Hess f)(x) v`` for each direction: ``(B, V)``.

    ``directions`` as in :mod:`oplearn.autodiff.jet`: ``(B, V, d)``, ``(V, d)``, integer
    coordinates ``(V,)`` or a :class:`SparseTangent`. ``chunk_size`` bounds how many directions
    are pushed at once (memory).
    """
    values = directional_derivative(f, x, directions, 2, chunk_size=chunk_size, engine=engine)
    return _flat_directions(values, x.shape[0])


def _flat_directions(values: torch.Tensor, batch: int) -> torch.Tensor:
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim != 2:
        raise InvalidInputError(f"f must map (B, d) -> (B,) or (B, 1); got output {tuple(values.shape)}")
    return values


def _summed_second(f: Function, x: torch.Tensor, directions: Directions,
                   chunk_size: int | None) -> torch.Tensor:
    """``sum_v v^T (Hess f) v`` ``(B,)`` with the top coefficient summed while propagated."""
    total = directional_derivative(f, x, directions, 2, collapse=True, chunk_size=chunk_size)
    return scalar_output(total, x.shape[0])


def _sdgd(f: Function, x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    u = scalar_output(f(x), x.shape[0])
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
              chunk_size: int | None = None, dims: Sequence[int] | None = None) -> torch.Tensor:
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
        dims: the coordinates the Laplacian sums over (default all ``d``), e.g. the spatial
            Laplacian ``range(d - 1)`` of a space-time point with time last.
    Returns:
        ``(B,)`` Laplacian values; differentiable with respect to ``f``'s parameters.
    """
    check_points(x)
    batch, dim = x.shape
    if num_samples < 1:
        raise InvalidInputError(f"num_samples must be >= 1, got {num_samples}")
    coords = _coordinates(dims, dim, x.device)
    if method == "exact":
        return _summed_second(f, x, coords, chunk_size)
    if method == "sdgd":
        idx = coords[torch.randint(0, len(coords), (num_samples,), generator=generator)]
        return _sdgd(f, x, idx).sum(dim=1) * (len(coords) / num_samples)
    if method != "stde":
        raise InvalidInputError(f"method must be 'exact', 'stde' or 'sdgd', got {method!r}")
    if estimator == "auto":
        estimator = "sparse" if len(coords) >= SPARSE_FROM_DIMENSION else "dense"
    if estimator not in ESTIMATORS:
        raise InvalidInputError(f"estimator must be one of {ESTIMATORS} or 'auto', got {estimator!r}")
    if estimator == "sparse":
        pick = sample_directions("sparse", batch, len(coords), num_samples, generator=generator, device=x.device)
        return _summed_second(f, x, coords[pick], chunk_size) * (len(coords) / num_samples)
    directions = sample_directions(estimator, batch, len(coords), num_samples, generator=generator,
                                   dtype=x.dtype, device=x.device)
    if len(coords) < dim:  # Rademacher entries on the chosen coordinates, zero elsewhere
        full = directions.new_zeros(*directions.shape[:-1], dim)
        full[..., coords] = directions
        directions = full
    return _summed_second(f, x, directions, chunk_size) / num_samples


def _coordinates(dims: Sequence[int] | None, dim: int, device) -> torch.Tensor:
    """The coordinates of ``dims`` as an integer tensor (all ``dim`` when ``None``)."""
    if dims is None:
        return torch.arange(dim, device=device)
    picked = [int(i) for i in dims]
    if not picked or len(set(picked)) != len(picked) or not all(-dim <= i < dim for i in picked):
        raise InvalidInputError(f"dims must be distinct coordinates of d = {dim}, got {list(dims)}")
    return torch.tensor([i % dim for i in picked], device=device)

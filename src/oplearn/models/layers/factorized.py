"""Low-rank tensors as modules: Tucker, CP and tensor-train factors that rebuild a dense tensor.

Used by :class:`~oplearn.models.layers.spectral_conv.SpectralConv` (``factorization=...``) for the
tensorized FNO (TFNO; Kossaifi et al., "Multi-Grid Tensorized Fourier Neural Operator for
High-Resolution PDEs", 2023), where the spectral weight of shape ``(*mode_shape, C_in, 2 C_out)``
is stored as factors and rebuilt, as a dense tensor, at every call. Here each tensor is real: the
real and imaginary parts of the complex weight are the two halves of its last axis, so they share
the mode and input-channel factors. (The paper factorises complex tensors, and all layers jointly;
here each layer has its own factorisation, neuraloperator's default.)

For a tensor of shape ``(n_1, ..., n_d)``:

- Tucker, ranks ``(r_1, ..., r_d)``: ``W = G x_1 U_1 ... x_d U_d``, core ``G`` of shape
  ``(r_1, ..., r_d)``, factors ``U_k`` of shape ``(n_k, r_k)``;
  ``prod(r) + sum(n_k r_k)`` parameters.
- CP, rank ``R``: ``W[i_1..i_d] = sum_r prod_k A_k[i_k, r]``, factors ``A_k`` of shape ``(n_k, R)``;
  ``R sum(n)`` parameters.
- Tensor train, ranks ``(1, r_1, ..., r_{d-1}, 1)``: ``W[i_1..i_d] = G_1[i_1] ... G_d[i_d]``, a
  product of matrices, cores ``G_k`` of shape ``(r_{k-1}, n_k, r_k)``;
  ``sum(r_{k-1} n_k r_k)`` parameters.

``rank`` is either a Python ``float``, the fraction of the dense parameter count ``prod(n)`` to
use (the ranks are then the largest of the family's shape that fit, as neuraloperator's
``rank=0.1`` means about 10% of the dense parameters), or ``int`` / sequence of ``int``: explicit
ranks (CP: one ``int``; Tucker: one per axis; TT: the ``d - 1`` inner ranks; an ``int`` is used
for every axis and capped at what the shape allows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

FACTORIZATIONS = ("tucker", "cp", "tt")
Rank = float | int | Sequence[int]


def _fit(count: Callable[[float], int], target: float) -> float:
    """The largest ``alpha`` in ``[0, 1]`` with ``count(alpha) <= target`` (by bisection)."""
    low, high = 0.0, 1.0
    if count(high) <= target:
        return high
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if count(mid) <= target else (low, mid)
    return low


def tucker_ranks(shape: Sequence[int], rank: Rank) -> tuple[int, ...]:
    """Tucker ranks for ``shape``; a fraction scales every axis by the same factor."""
    if isinstance(rank, float):
        target = rank * math.prod(shape)

        def ranks(alpha: float) -> list[int]:
            return [min(n, max(1, round(alpha * n))) for n in shape]

        return tuple(ranks(_fit(lambda a: tucker_count(shape, ranks(a)), target)))
    ranks = [rank] * len(shape) if isinstance(rank, int) else list(rank)
    if len(ranks) != len(shape) or min(ranks) < 1:
        raise ValueError(f"Tucker ranks must be {len(shape)} positive ints, got {rank}")
    return tuple(min(r, n) for r, n in zip(ranks, shape, strict=True))


def cp_rank(shape: Sequence[int], rank: Rank) -> int:
    """CP rank for ``shape``; a fraction gives ``round(fraction prod(n) / sum(n))``."""
    if isinstance(rank, float):
        return max(1, round(rank * math.prod(shape) / sum(shape)))
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"CP rank must be a positive int or a float fraction, got {rank}")
    return rank


def tt_ranks(shape: Sequence[int], rank: Rank) -> tuple[int, ...]:
    """Inner TT ranks ``(r_1, ..., r_{d-1})``, each capped at ``min(prod(n[:k]), prod(n[k:]))``
    (the largest a TT of this shape needs); a fraction uses one common cap for all."""
    caps = [min(math.prod(shape[:k]), math.prod(shape[k:])) for k in range(1, len(shape))]
    if isinstance(rank, float):
        target = rank * math.prod(shape)

        def ranks(alpha: float) -> list[int]:
            return [min(c, max(1, round(alpha * max(caps)))) for c in caps]

        return tuple(ranks(_fit(lambda a: tt_count(shape, ranks(a)), target)))
    ranks = [rank] * len(caps) if isinstance(rank, int) else list(rank)
    if len(ranks) != len(caps) or (ranks and min(ranks) < 1):
        raise ValueError(f"TT inner ranks must be {len(caps)} positive ints, got {rank}")
    return tuple(min(r, c) for r, c in zip(ranks, caps, strict=True))


def tucker_count(shape: Sequence[int], ranks: Sequence[int]) -> int:
    return math.prod(ranks) + sum(n * r for n, r in zip(shape, ranks, strict=True))


def tt_count(shape: Sequence[int], ranks: Sequence[int]) -> int:
    full = [1, *ranks, 1]
    return sum(full[k] * n * full[k + 1] for k, n in enumerate(shape))


def _columns(matrix: torch.Tensor, r: int) -> torch.Tensor:
    """The first ``r`` columns of ``matrix``, zero-padded when it has fewer."""
    return torch.nn.functional.pad(matrix[:, :r], (0, max(0, r - matrix.shape[1])))


class TuckerTensor(nn.Module):
    """``() -> (*shape)``: a core tensor multiplied along every axis by a factor matrix.

    Args:
        shape: shape of the dense tensor.
        rank: see the module docstring.
        std: standard deviation of the entries of the initial dense tensor (zero mean).
    """

    def __init__(self, shape: Sequence[int], rank: Rank = 0.1, *, std: float = 1.0):
        super().__init__()
        self.shape = tuple(shape)
        self.ranks = tucker_ranks(self.shape, rank)
        # E[W^2] = var(core) * prod_k (r_k var(U_k)) = std^2 with var(U_k) = 1 / r_k
        self.core = nn.Parameter(std * torch.randn(*self.ranks))
        self.factors = nn.ParameterList(
            nn.Parameter(torch.randn(n, r) / math.sqrt(r))
            for n, r in zip(self.shape, self.ranks, strict=True))

    def forward(self) -> torch.Tensor:
        w = self.core
        for axis, u in enumerate(self.factors):  # mode product: axis of size r_k -> n_k
            w = torch.tensordot(u, w.movedim(axis, 0), dims=([1], [0])).movedim(0, axis)
        return w

    @classmethod
    def from_dense(cls, dense: torch.Tensor, rank: Rank) -> TuckerTensor:
        """Truncated higher-order SVD of ``dense`` (exact when every rank is full)."""
        out = cls(dense.shape, rank)
        core, factors = dense, []
        for axis, r in enumerate(out.ranks):
            unfolded = dense.movedim(axis, 0).reshape(dense.shape[axis], -1)
            u = _columns(torch.linalg.svd(unfolded, full_matrices=False)[0], r)
            factors.append(u)
            core = torch.tensordot(u.T, core.movedim(axis, 0), dims=([1], [0])).movedim(0, axis)
        _assign(out, [core, *factors])
        return out

    def extra_repr(self) -> str:
        return f"shape={self.shape}, ranks={self.ranks}"


class CPTensor(nn.Module):
    """``() -> (*shape)``: a sum of ``R`` outer products of one column of each factor.

    Args:
        shape: shape of the dense tensor.
        rank: see the module docstring.
        std: standard deviation of the entries of the initial dense tensor (zero mean).
    """

    def __init__(self, shape: Sequence[int], rank: Rank = 0.1, *, std: float = 1.0):
        super().__init__()
        self.shape = tuple(shape)
        self.rank = cp_rank(self.shape, rank)
        # E[W^2] = R * prod_k var(A_k) = std^2
        scale = (std**2 / self.rank) ** (1 / (2 * len(self.shape)))
        self.factors = nn.ParameterList(
            nn.Parameter(scale * torch.randn(n, self.rank)) for n in self.shape)

    def forward(self) -> torch.Tensor:
        # Khatri-Rao products of the first and second halves of the axes, then one matmul:
        # memory O((prod(left) + prod(right)) R) instead of O(prod(shape) R)
        half = max(1, len(self.shape) // 2)
        left, right = self._khatri_rao(self.factors[:half]), self._khatri_rao(self.factors[half:])
        return (left @ right.T).reshape(self.shape)

    @staticmethod
    def _khatri_rao(factors: Sequence[torch.Tensor]) -> torch.Tensor:
        """Column-wise Kronecker product ``(prod(n_k), R)``, the first factor's index slowest."""
        out = factors[0]
        for f in factors[1:]:
            out = (out[:, None, :] * f[None, :, :]).reshape(-1, out.shape[-1])
        return out

    @classmethod
    def from_dense(cls, dense: torch.Tensor, rank: Rank | None = None) -> CPTensor:
        """An exact CP decomposition of ``dense`` of rank ``prod(shape) / max(shape)``.

        The longest axis's factor holds the fibres along that axis, the other factors are unit
        vectors picking every index of the remaining axes. (A rank-``R`` CP approximation has no
        closed form, so lower ranks are refused.)
        """
        shape = tuple(dense.shape)
        axis = max(range(len(shape)), key=lambda k: shape[k])
        needed = math.prod(shape) // shape[axis]
        if rank is not None and cp_rank(shape, rank) != needed:
            raise ValueError(f"an exact CP of shape {shape} has rank {needed}, got {rank}")
        out = cls(shape, needed)
        others = [k for k in range(len(shape)) if k != axis]
        index = torch.cartesian_prod(*(torch.arange(shape[k]) for k in others)).reshape(needed, -1)
        factors = []
        for k in range(len(shape)):
            if k == axis:
                factors.append(dense.movedim(axis, -1).reshape(needed, shape[axis]).T)
            else:
                column = index[:, others.index(k)]
                factors.append(torch.nn.functional.one_hot(column, shape[k]).T.to(dense))
        _assign(out, factors)
        return out

    def extra_repr(self) -> str:
        return f"shape={self.shape}, rank={self.rank}"


class TTTensor(nn.Module):
    """``() -> (*shape)``: a tensor train, each entry a product of one matrix slice per core.

    Args:
        shape: shape of the dense tensor.
        rank: see the module docstring.
        std: standard deviation of the entries of the initial dense tensor (zero mean).
    """

    def __init__(self, shape: Sequence[int], rank: Rank = 0.1, *, std: float = 1.0):
        super().__init__()
        self.shape = tuple(shape)
        self.ranks = tt_ranks(self.shape, rank)
        full = [1, *self.ranks, 1]
        # E[W^2] = prod(inner ranks) * prod_k var(G_k) = std^2
        scale = (std**2 / math.prod(self.ranks)) ** (1 / (2 * len(self.shape)))
        self.cores = nn.ParameterList(
            nn.Parameter(scale * torch.randn(full[k], n, full[k + 1]))
            for k, n in enumerate(self.shape))

    def forward(self) -> torch.Tensor:
        w = self.cores[0].reshape(-1, self.cores[0].shape[-1])  # (n_1, r_1)
        for core in self.cores[1:]:
            w = (w @ core.reshape(core.shape[0], -1)).reshape(-1, core.shape[-1])
        return w.reshape(self.shape)

    @classmethod
    def from_dense(cls, dense: torch.Tensor, rank: Rank) -> TTTensor:
        """TT-SVD of ``dense``: successive truncated SVDs (exact when every rank is full)."""
        out = cls(dense.shape, rank)
        full = [1, *out.ranks, 1]
        rest, cores = dense.reshape(1, -1), []
        for k, n in enumerate(out.shape[:-1]):
            u, s, vh = torch.linalg.svd(rest.reshape(full[k] * n, -1), full_matrices=False)
            r = full[k + 1]
            cores.append(_columns(u, r).reshape(full[k], n, r))
            rest = _columns((s[:, None] * vh).T, r).T
        cores.append(rest.reshape(full[-2], out.shape[-1], 1))
        _assign(out, cores)
        return out

    def extra_repr(self) -> str:
        return f"shape={self.shape}, ranks={self.ranks}"


def _assign(module: nn.Module, tensors: list[torch.Tensor]) -> None:
    """Set ``module``'s parameters, in registration order, to copies of ``tensors``."""
    for param, value in zip(module.parameters(), tensors, strict=True):
        param.data = value.detach().clone()


def factorized_tensor(shape: Sequence[int], factorization: str, rank: Rank = 0.1, *,
                      std: float = 1.0) -> TuckerTensor | CPTensor | TTTensor:
    """A ``"tucker"``, ``"cp"`` or ``"tt"`` tensor of ``shape`` (see :class:`TuckerTensor` ...)."""
    classes = {"tucker": TuckerTensor, "cp": CPTensor, "tt": TTTensor}
    if factorization not in classes:
        raise ValueError(f"factorization must be one of {FACTORIZATIONS}, got {factorization!r}")
    return classes[factorization](shape, rank, std=std)

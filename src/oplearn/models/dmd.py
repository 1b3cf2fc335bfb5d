"""Exact dynamic mode decomposition (Schmid 2010; Tu et al. 2014) as a one-step model.

From snapshot pairs ``x_k -> x_{k+1}`` (each a whole field, flattened) it fits the best linear map
of rank ``r``: with the thin SVD ``X = U S V^T`` of the earlier snapshots, truncated to ``r``,
``A_r = U^T Y V S^-1`` is the map in the coordinates ``U``; its eigenvalues are the DMD
eigenvalues, and ``Y V S^-1 W`` (``W`` the eigenvectors of ``A_r``) the exact DMD modes. A step
is ``x -> U A_r U^T x``, real arithmetic throughout, batched over samples; a rollout repeats it.
The fit is a closed-form least-squares solve, not gradient descent.
"""

from __future__ import annotations

import torch
from torch import nn

from oplearn.errors import InvalidInputError


class ExactDMD(nn.Module):
    """``(B, C, *S) -> (B, C, *S)``: one step of the linear dynamics fitted by :meth:`fit`.

    Args:
        rank: SVD truncation ``r`` (``None``: every singular value above ``tol`` times the largest).
        tol: relative cut-off of singular values when ``rank`` is ``None``; ``None``: the numerical
            rank's usual ``max(n, m) * eps`` of the snapshots' dtype (``n`` values per snapshot,
            ``m`` pairs), so that float32 data do not fit their rounding noise.
    """

    def __init__(self, rank: int | None = None, tol: float | None = None):
        super().__init__()
        if rank is not None and (not isinstance(rank, int) or rank < 1):
            raise InvalidInputError(f"rank must be a positive integer or None, got {rank!r}")
        self.rank, self.tol = rank, tol
        self.register_buffer("basis", torch.empty(0))  # U: (n, r)
        self.register_buffer("reduced", torch.empty(0))  # A_r: (r, r)
        self.field_shape: tuple[int, ...] | None = None

    @torch.no_grad()
    def fit(self, trajectories: torch.Tensor) -> ExactDMD:
        """Fit on ``trajectories`` (N, T, C, *S): every consecutive pair of every trajectory."""
        if trajectories.ndim < 4 or trajectories.shape[1] < 2:
            raise InvalidInputError(f"expected (N, T >= 2, C, *S) trajectories, got shape {tuple(trajectories.shape)}")
        if not bool(torch.isfinite(trajectories).all()):
            raise InvalidInputError("trajectories hold NaN or infinite values")
        self.field_shape = tuple(trajectories.shape[2:])
        flat = trajectories.flatten(2)  # (N, T, n)
        earlier = flat[:, :-1].reshape(-1, flat.shape[-1]).T  # (n, m)
        later = flat[:, 1:].reshape(-1, flat.shape[-1]).T
        u, s, vh = torch.linalg.svd(earlier, full_matrices=False)
        tol = self.tol if self.tol is not None else max(earlier.shape) * torch.finfo(trajectories.dtype).eps
        keep = self.rank if self.rank is not None else int((s > tol * s[0]).sum())
        keep = min(keep, int((s > 0).sum()))
        u, s, vh = u[:, :keep], s[:keep], vh[:keep]
        self.basis = u
        self.reduced = u.T @ later @ vh.T / s  # (r, r): U^T Y V S^-1
        return self

    def get_extra_state(self) -> dict:
        return {"field_shape": self.field_shape}

    def set_extra_state(self, state: dict) -> None:
        shape = state.get("field_shape")
        self.field_shape = tuple(shape) if shape is not None else None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("basis", "reduced"):  # fitted sizes replace the empty placeholders
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def eigenvalues(self) -> torch.Tensor:
        """The DMD eigenvalues (r,) complex, of the one-step map."""
        self._check_fitted()
        return torch.linalg.eigvals(self.reduced)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_fitted()
        if tuple(x.shape[1:]) != self.field_shape:
            raise InvalidInputError(f"fitted on fields of shape {self.field_shape}, given {tuple(x.shape[1:])}")
        z = x.flatten(1).to(self.basis.dtype) @ self.basis  # (B, r)
        return (z @ self.reduced.T @ self.basis.T).to(x.dtype).view_as(x)

    def rollout(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """``(B, C, *S) -> (B, steps, C, *S)``: the next ``steps`` states from ``x``."""
        states = []
        for _ in range(steps):
            x = self(x)
            states.append(x)
        return torch.stack(states, dim=1)

    def _check_fitted(self) -> None:
        if self.field_shape is None:
            raise InvalidInputError("the DMD model is not fitted: call fit(trajectories) first")

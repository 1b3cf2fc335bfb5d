"""How noisy is an estimator? The per-point variance of a one-direction estimate, so users can
pick ``num_samples`` (the variance of a ``V``-direction estimate is this divided by ``V``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from oplearn.autodiff.laplacian import laplacian
from oplearn.autodiff.operators import biharmonic
from oplearn.errors import InvalidInputError

OPERATORS = ("laplacian", "biharmonic")


def estimator_variance(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, estimator: str, *,
                       trials: int = 64, generator: torch.Generator | None = None,
                       operator: str = "laplacian") -> torch.Tensor:
    """Per-point variance ``(B,)`` of a one-direction estimate of ``operator`` at ``x``, from
    ``trials`` draws. ``estimator``: ``"sparse"``, ``"shared"`` or ``"dense"`` (STDE), or
    ``"sdgd"`` (Laplacian only)."""
    if operator not in OPERATORS:
        raise InvalidInputError(f"operator must be one of {OPERATORS}, got {operator!r}")
    if trials < 2:
        raise InvalidInputError(f"trials must be >= 2, got {trials}")
    if estimator == "sdgd":
        if operator != "laplacian":
            raise InvalidInputError("sdgd estimates the Laplacian only")
        draws = [laplacian(f, x, "sdgd", 1, generator).detach() for _ in range(trials)]
    else:
        estimate = laplacian if operator == "laplacian" else biharmonic
        with torch.no_grad():
            draws = [estimate(f, x, "stde", 1, generator, estimator) for _ in range(trials)]
    return torch.stack(draws).var(dim=0)

"""Zero padding of non-periodic domains before Fourier layers, removed afterwards."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DomainPadding(nn.Module):
    """Pad the end of every spatial axis by ``ceil(fraction * s)`` points; :meth:`unpad` crops.

    Fourier layers assume periodicity; padding a non-periodic field lets them represent it
    without wrap-around artefacts. The fraction (not a fixed count) keeps the padded domain the
    same physical size at every resolution.
    """

    def __init__(self, fraction: float):
        super().__init__()
        if fraction < 0:
            raise ValueError(f"padding fraction must be >= 0, got {fraction}")
        self.fraction = fraction

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.fraction == 0:
            return x
        widths = [math.ceil(self.fraction * s) for s in x.shape[2:]]
        flat = []
        for w in reversed(widths):
            flat += [0, w]
        return F.pad(x, flat)

    def unpad(self, x: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
        """Crop ``x`` back to the original spatial shape ``spatial``."""
        if self.fraction == 0:
            return x
        return x[(Ellipsis, *(slice(0, s) for s in spatial))]


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "replicate"
                    ) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """Pad every spatial axis of ``(B, C, *S)`` to the next multiple of ``multiple``.

    The padding is split between the two ends (the extra point, if odd, at the end) and filled by
    ``mode`` (``"replicate"``, ``"reflect"``, ``"circular"`` or ``"constant"``, as
    :func:`torch.nn.functional.pad`). Returns the padded tensor and the index ``crop`` with
    ``padded[crop] == x``: ``(..., slice per axis)``.
    """
    flat, crop = [], []
    for s in x.shape[2:]:
        extra = -s % multiple
        before = extra // 2
        crop.append(slice(before, before + s))
        flat = [before, extra - before, *flat]  # F.pad lists the last axis first
    if not any(flat):
        return x, (Ellipsis, *crop)
    return F.pad(x, flat, mode=mode), (Ellipsis, *crop)

"""Truncated discrete Fourier transforms as real matrices, for transforms that keep few modes.

Keeping ``K`` of ``N`` modes with a matrix product costs ``O(N K)`` per axis against the FFT's
``O(N log N)``, but runs as one dense GEMM (forward and backward) instead of an FFT followed by a
gather; ``benchmarks/spectral_conv.py`` measures the layer both ways (1.3x to 2.4x on two CPU
cores at 33^2 to 85^2 points with 12 modes).

Complex numbers are carried as an axis of size 2 (real, imaginary). Frequencies along a leading
axis are laid out ``[0, .., k-1, -k, .., -1]``; along the last (real-input) axis ``[0, .., k-1]``.
Normalisation is ``"forward"``: the forward transform divides by ``N``, the inverse does not.
"""

from __future__ import annotations

import math

import torch


def leading_frequencies(n: int, k: int) -> torch.Tensor:
    """Integer frequencies kept along a leading axis of ``n`` points: ``0..k-1`` and ``-k..-1``."""
    return torch.cat([torch.arange(k), torch.arange(-k, 0)]).double()


def last_axis_matrices(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real-input transform along the last axis, keeping frequencies ``0..k-1``.

    Returns:
        forward ``(n, 2k)``: ``x @ forward = [Re X | Im X]``, divided by ``n``.
        inverse ``(2k, n)``: ``[Re X | Im X] @ inverse = x`` for Hermitian spectra (each kept
        positive frequency counted twice, the zero and Nyquist frequencies once).
    """
    angle = 2 * math.pi * torch.outer(torch.arange(n).double(), torch.arange(k).double()) / n
    forward = torch.cat([torch.cos(angle), -torch.sin(angle)], dim=1) / n
    weight = torch.full((k, 1), 2.0, dtype=torch.float64)
    weight[0] = 1.0
    if n % 2 == 0 and k == n // 2 + 1:
        weight[-1] = 1.0
    inverse = torch.cat([torch.cos(angle).T * weight, -torch.sin(angle).T * weight], dim=0)
    return forward, inverse


def leading_axis_matrices(n: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Complex transform along a leading axis, keeping ``2k`` frequencies.

    Returns:
        forward ``(2, 2k, 2, n)``: ``X[t, p] = sum_{r, j} forward[t, p, r, j] x[r, j]`` (``t``, ``r``
        index real/imaginary parts), divided by ``n``.
        inverse ``(2, n, 2, 2k)``: ``x[t, j] = sum_{r, p} inverse[t, j, r, p] X[r, p]``.
    """
    angle = 2 * math.pi * torch.outer(leading_frequencies(n, k), torch.arange(n).double()) / n
    cos, sin = torch.cos(angle), torch.sin(angle)  # (2k, n)
    forward = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)]) / n
    cos_t, sin_t = cos.T, sin.T
    inverse = torch.stack([torch.stack([cos_t, -sin_t], 1), torch.stack([sin_t, cos_t], 1)])
    return forward, inverse

"""PDEBench's error metrics (Takamoto et al. 2022), as its ``metric_func`` defines them.

Every metric is computed per sample, channel and time step over all grid points, reduced over
the samples (notes below), then averaged over channels and time steps. For predictions ``p``
and targets ``y`` of shape ``(N, T, C, *S)`` (``S`` one or two spatial axes), with ``e = p - y``:

- ``rmse``: ``sqrt(mean_x e^2)``, averaged over samples;
- ``nrmse``: ``sqrt(mean_x e^2) / sqrt(mean_x y^2)`` (the relative L2 error), averaged over samples;
- ``crmse`` (conserved quantity): ``sqrt(mean_n (sum_x p - sum_x y)^2) / (number of points)``;
- ``brmse`` (boundary): the RMS of ``e`` over the first and last point of every axis (in 2-D the
  four edges, corners counted twice, divided by ``2 Nx + 2 Ny``), averaged over samples;
- ``max``: the largest ``|e|`` over samples and points;
- ``frmse_low``, ``frmse_mid``, ``frmse_high``: the error's Fourier spectrum (unnormalised FFT)
  ``sqrt(mean_n |F(e)_k|^2) / (points) * L`` per mode ``k``, in 2-D summed over the shells
  ``floor(|k|)`` of the modes ``0 <= k_x < Nx/2, 0 <= k_y < Ny/2``, averaged over the modes
  ``k < 4``, ``4 <= k < 12`` and ``k >= 12`` (PDEBench's ``iLow = 4``, ``iHigh = 12``).

``first_step`` drops the steps a rollout was given rather than predicted (PDEBench's
``initial_step``, dropped since its October 2024 fix of its issue 41).

All samples are reduced at once, as PDEBench does with one test batch. PDEBench reduces each test
batch and averages the batches: the same for ``rmse``, ``nrmse`` and ``brmse`` (means), not quite
for ``crmse``, ``frmse`` (root mean squares over samples) and ``max`` (a maximum per batch).
"""

from __future__ import annotations

import math

import torch

from oplearn.errors import InvalidInputError

BANDS = (4, 12)  # PDEBench's iLow, iHigh: low = modes [0, 4), mid = [4, 12), high = [12, end)


def pdebench_metrics(pred: torch.Tensor, target: torch.Tensor, *, first_step: int = 0,
                     lengths: tuple[float, ...] | None = None, bands: tuple[int, int] = BANDS
                     ) -> dict[str, float | None]:
    """PDEBench's metrics of ``pred`` against ``target``, both ``(N, T, C, *S)`` with one or two
    spatial axes; ``lengths`` are the domain's side lengths (default 1 each, as PDEBench's
    training scripts use). Returns ``{name: value}`` (module notes); a Fourier band the grid has
    no modes in is ``None``."""
    if pred.shape != target.shape:
        raise InvalidInputError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.ndim not in (4, 5):
        raise InvalidInputError(f"expected (N, T, C, *S) with 1 or 2 spatial axes, got shape {tuple(pred.shape)}")
    if not 0 <= first_step < pred.shape[1]:
        raise InvalidInputError(f"first_step must be in [0, {pred.shape[1]}), got {first_step}")
    p, y = pred[:, first_step:].double(), target[:, first_step:].double()
    spatial = tuple(p.shape[3:])
    lengths = lengths or (1.0,) * len(spatial)
    points = math.prod(spatial)
    e = p - y
    flat_e, flat_y = e.flatten(3), y.flatten(3)  # (N, T, C, points)
    rmse = flat_e.square().mean(-1).sqrt()  # (N, T, C)
    metrics = {
        "rmse": rmse.mean(0),
        "nrmse": (rmse / flat_y.square().mean(-1).sqrt()).mean(0),
        "crmse": (p.flatten(3).sum(-1) - flat_y.sum(-1)).square().mean(0).sqrt() / points,
        "brmse": _boundary_rms(e).mean(0),
        "max": flat_e.abs().amax(dim=(0, -1)),
    }
    spectrum = _spectrum_error(e, lengths)  # (T, C, modes)
    low, high = bands
    for name, part in (("frmse_low", spectrum[..., :low]), ("frmse_mid", spectrum[..., low:high]),
                       ("frmse_high", spectrum[..., high:])):
        metrics[name] = part.mean(-1) if part.shape[-1] else None  # a grid too small for the band
    return {name: None if value is None else float(value.mean())  # over time steps and channels
            for name, value in metrics.items()}


def _boundary_rms(e: torch.Tensor) -> torch.Tensor:
    """``(N, T, C, *S) -> (N, T, C)``: RMS over the first and last point of each axis (2-D: the
    four edges, each with its corners)."""
    if e.ndim == 4:
        return ((e[..., 0].square() + e[..., -1].square()) / 2).sqrt()
    nx, ny = e.shape[-2:]
    edges = (e[..., 0, :].square().sum(-1) + e[..., -1, :].square().sum(-1)
             + e[..., :, 0].square().sum(-1) + e[..., :, -1].square().sum(-1))
    return (edges / (2 * nx + 2 * ny)).sqrt()


def _spectrum_error(e: torch.Tensor, lengths: tuple[float, ...]) -> torch.Tensor:
    """``(N, T, C, *S) -> (T, C, K)``: ``sqrt(mean_n |F(e)_k|^2) / points * prod(lengths)`` per
    mode (1-D) or per radial shell of the positive-frequency quadrant (2-D)."""
    points, scale = math.prod(e.shape[3:]), math.prod(lengths)
    if e.ndim == 4:
        power = torch.fft.rfft(e, dim=-1).abs().square()  # (N, T, C, X // 2 + 1)
    else:
        nx, ny = e.shape[-2:]
        full = torch.fft.fftn(e, dim=(-2, -1)).abs().square()[..., : nx // 2, : ny // 2]
        ix, iy = torch.meshgrid(torch.arange(nx // 2, device=e.device), torch.arange(ny // 2, device=e.device),
                                indexing="ij")
        shell = torch.floor(torch.sqrt((ix.square() + iy.square()).double())).long()
        count = min(nx // 2, ny // 2)
        keep = shell < count
        power = torch.zeros(*e.shape[:3], count, dtype=full.dtype, device=e.device)
        power.index_add_(3, shell[keep], full[..., keep])
    return power.mean(0).sqrt() / points * scale

"""Incompressible Navier-Stokes in 2D, vorticity form, the benchmark of the Fourier Neural Operator paper.

``w_t + u . grad w = nu Laplacian w + f`` on the periodic unit torus, with the velocity
``u = (psi_y, -psi_x)`` from the stream function ``-Laplacian psi = w``. The FNO paper's forcing is
``f = 0.1 (sin(2 pi (x + y)) + cos(2 pi (x + y)))`` and ``w0`` the Gaussian random field of the
paper's data generator: mode ``exp(2 pi i k . x)`` has variance ``2 sigma^2 (4 pi^2 |k|^2 + tau^2)^-alpha``
with ``sigma = 7^1.5, tau = 7, alpha = 2.5`` (the paper writes the covariance as
``7^1.5 (-Laplacian + 49 I)^-2.5``; its generator scales complex noise by ``sqrt(2) 7^1.5`` and keeps
the real part, which is the distribution used here, so the data match the published ones).

Solver: Fourier pseudo-spectral in space (real FFTs, 2/3-rule dealiasing of the advection term, the
Nyquist mode differentiated to zero), Crank-Nicolson for diffusion and the advection term explicit:
``scheme="heun"`` (default) is the second-order predictor-corrector (Heun) on it, ``scheme="euler"``
is the first-order forward Euler of the FNO paper's own generator (one advection evaluation a step).
Batched over samples in PyTorch (float64) on CPU or GPU. Grid ``x_i = i / s`` along axis ``-2``,
``y_j = j / s`` along axis ``-1``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from oplearn.errors import InvalidInputError, SolverError
from oplearn.pdes.parameters import Choice, Integer, Number, defaults_of
from oplearn.pdes.problem import Problem, check_solver_resolution, every_kth_point, register
from oplearn.pdes.time_stepping import (
    CRANK_NICOLSON_EULER,
    CRANK_NICOLSON_HEUN,
    SemilinearTerms,
    trajectory,
)

SCHEMES = ("heun", "euler")
CPU_BATCH_POINTS = 4 * 128 * 128
FORCINGS = ("fno", "none")
PARAMETERS = {
    "nu": Number(1e-3, low=0.0),
    "t": Number(50.0, low=0.0, low_open=True),
    "snapshots": Integer(50, low=1),
    "dt": Number(1e-4, low=0.0, low_open=True),
    "scheme": Choice("heun", SCHEMES),
    "solver_resolution": Integer(256, low=4),
    "forcing": Choice("fno", FORCINGS),
    "sigma": Number(7.0 ** 1.5, low=0.0, low_open=True),
    "tau": Number(7.0, low=0.0, low_open=True),
    "alpha": Number(2.5, low=0.0, low_open=True),
}
DEFAULTS: dict[str, Any] = defaults_of(PARAMETERS)


def grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)``, each ``(s, s)``: the periodic grid ``x_i = i / s`` (axis 0), ``y_j = j / s`` (axis 1)."""
    points = np.arange(s) / s
    return np.meshgrid(points, points, indexing="ij")


def fno_forcing(s: int) -> np.ndarray:
    """The FNO paper's forcing ``0.1 (sin(2 pi (x + y)) + cos(2 pi (x + y)))`` on ``s x s`` points."""
    x, y = grid(s)
    return 0.1 * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y)))


def sample_vorticity(rng: np.random.Generator, s: int, sigma: float = 7.0 ** 1.5, tau: float = 7.0,
                     alpha: float = 2.5) -> np.ndarray:
    """``w0 ~ N(0, 2 sigma^2 (-Laplacian + tau^2 I)^-alpha)`` on the periodic ``s x s`` grid, mean zero.

    Mode ``exp(2 pi i k . x)`` gets variance ``2 sigma^2 (4 pi^2 |k|^2 + tau^2)^-alpha`` (the FNO
    generator's; module docstring): white noise filtered in Fourier space, so the field is exactly
    real. Returns ``(s, s)`` float64.
    """
    k = np.fft.fftfreq(s, 1 / s)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    scale = np.sqrt(2) * sigma * (4 * np.pi ** 2 * k2 + tau ** 2) ** (-alpha / 2) * s
    scale[0, 0] = 0.0
    return np.fft.ifft2(np.fft.fft2(rng.standard_normal((s, s))) * scale).real


class _Spectral:
    """Wave numbers, the 2/3-rule mask and the advection term on an ``s x s`` real-FFT grid."""

    def __init__(self, s: int, device: torch.device):
        index_x = torch.fft.fftfreq(s, 1 / s, dtype=torch.float64, device=device)
        index_y = torch.fft.rfftfreq(s, 1 / s, dtype=torch.float64, device=device)
        kx, ky = 2 * math.pi * index_x[:, None], 2 * math.pi * index_y[None, :]
        self.k2 = kx ** 2 + ky ** 2  # |k|^2, (s, s//2 + 1)
        nyquist_x = index_x[:, None].abs() == s / 2
        nyquist_y = index_y[None, :] == s / 2
        # Multipliers are stored complex: mixing real and complex operands costs a conversion a call.
        self.ikx = (torch.where(nyquist_x, 0.0, kx) * 1j).expand_as(self.k2).contiguous()
        self.iky = (torch.where(nyquist_y, 0.0, ky) * 1j).expand_as(self.k2).contiguous()
        self.minus_ikx = -self.ikx
        keep = (index_x[:, None].abs() < s / 3) & (index_y[None, :] < s / 3)
        keep[0, 0] = False  # the advection term has mean zero
        self.minus_keep = torch.where(keep, -1.0, 0.0).to(torch.complex128)
        self.inv_k2 = torch.where(self.k2 > 0, 1.0 / torch.where(self.k2 > 0, self.k2, 1.0), 0.0
                                  ).to(torch.complex128)
        self.s = s

    def advection(self, w_hat: torch.Tensor) -> torch.Tensor:
        """``-(u . grad w)`` in Fourier space, dealiased; ``w_hat`` is ``(B, s, s//2 + 1)``."""
        psi_hat = w_hat * self.inv_k2
        shape = (self.s, self.s)
        # Four separate transforms: one stacked call was slower on a CPU at 256^2 when tried.
        u = torch.fft.irfft2(self.iky * psi_hat, s=shape)
        v = torch.fft.irfft2(self.minus_ikx * psi_hat, s=shape)
        w_x = torch.fft.irfft2(self.ikx * w_hat, s=shape)
        w_y = torch.fft.irfft2(self.iky * w_hat, s=shape)
        return self.minus_keep * torch.fft.rfft2(u * w_x + v * w_y)


def _as_batch(w0) -> tuple[torch.Tensor, bool]:
    w = torch.as_tensor(w0, dtype=torch.float64)
    if w.ndim not in (2, 3) or w.shape[-1] != w.shape[-2] or w.shape[-1] < 4:
        raise InvalidInputError(f"w0 must be (s, s) or (B, s, s) with s >= 4, got {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise InvalidInputError("w0 contains NaN or infinite values")
    return w.reshape(-1, *w.shape[-2:]), w.ndim == 2


def solve(w0, nu: float = 1e-3, t: float = 1.0, forcing=None, dt: float = 1e-4, *,
          snapshots: int | None = None, scheme: str = "heun",
          device: str | torch.device | None = None, progress: bool = False):
    """Vorticity of 2D incompressible Navier-Stokes at time ``t`` (or at ``snapshots`` times).

    Args:
        w0: ``(s, s)`` or ``(B, s, s)`` initial vorticity on the periodic grid (NumPy or PyTorch;
            the result has the same type).
        nu: viscosity (>= 0).
        t: final time (>= 0).
        forcing: ``(s, s)`` time-independent forcing, or ``None`` for none.
        dt: largest time step; shrunk so that a whole number of equal steps reaches every snapshot.
        snapshots: ``None``: return ``w(t)``, shaped like ``w0``. ``n``: return ``w`` at times
            ``t k / n``, ``k = 1..n``, shaped ``(n, s, s)`` or ``(B, n, s, s)``.
        scheme: ``"heun"`` (second order) or ``"euler"`` (first order, the FNO paper's generator).
        device: where to compute (default: ``w0``'s device, or CPU for NumPy input).
        progress: show a progress bar over time steps.
    """
    is_numpy = isinstance(w0, np.ndarray)
    w, squeeze = _as_batch(w0)
    w = w.to(device) if device is not None else w
    s = w.shape[-1]
    if not nu >= 0 or not t >= 0 or not dt > 0:
        raise InvalidInputError(f"need nu >= 0, t >= 0 and dt > 0, got nu={nu}, t={t}, dt={dt}")
    if scheme not in SCHEMES:
        raise InvalidInputError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if snapshots is not None and (not isinstance(snapshots, int) or snapshots < 1):
        raise InvalidInputError(f"snapshots must be a positive integer, got {snapshots!r}")
    spectral = _Spectral(s, w.device)
    f_hat = torch.zeros_like(spectral.inv_k2)
    if forcing is not None:
        f = torch.as_tensor(forcing, dtype=torch.float64, device=w.device)
        if f.shape != (s, s) or not torch.isfinite(f).all():
            raise InvalidInputError(f"forcing must be a finite ({s}, {s}) array, got {tuple(f.shape)}")
        f_hat = torch.fft.rfft2(f)
    count = snapshots or 1
    steps_per_snapshot = max(1, math.ceil(t / count / dt - 1e-9)) if t > 0 else 0
    step = t / (count * steps_per_snapshot) if t > 0 else 0.0
    # On a CPU, large batches ran slower per sample than small ones when tried (the FFTs leave
    # the cache): samples go through in groups of at most CPU_BATCH_POINTS grid points.
    group = w.shape[0] if w.device.type != "cpu" else max(1, CPU_BATCH_POINTS // (s * s))
    bar = tqdm(total=count * steps_per_snapshot * w.shape[0], disable=not progress,
               unit="sample-step", desc="navier-stokes")
    frames = torch.cat([_integrate(chunk, spectral, f_hat, nu, step, count, steps_per_snapshot,
                                   scheme, bar) for chunk in w.split(group)])
    bar.close()
    out = frames if snapshots is not None else frames[:, -1]
    if not torch.isfinite(out).all():
        raise SolverError("the solution blew up; reduce dt")
    out = out[0] if squeeze else out
    return out.cpu().numpy() if is_numpy else out


_SCHEMES = {"heun": CRANK_NICOLSON_HEUN, "euler": CRANK_NICOLSON_EULER}


def _integrate(w: torch.Tensor, spectral: _Spectral, f_hat: torch.Tensor, nu: float, step: float,
               count: int, steps_per_snapshot: int, scheme: str, bar) -> torch.Tensor:
    """``(B, s, s)`` -> ``(B, count, s, s)``: Crank-Nicolson diffusion, Heun or Euler advection.

    ``f_hat`` is the forcing's ``rfft2``, ``(s, s//2 + 1)``; ``step`` the time step; ``bar`` is
    advanced by ``steps_per_snapshot * B`` after each snapshot.
    """
    s = w.shape[-1]
    terms = SemilinearTerms(linear=-nu * spectral.k2, nonlinear=spectral.advection, forcing=f_hat)
    frames = []
    for w_hat in trajectory(torch.fft.rfft2(w), terms, _SCHEMES[scheme], step, steps_per_snapshot, count):
        bar.update(steps_per_snapshot * w.shape[0])
        frames.append(torch.fft.irfft2(w_hat, s=(s, s)))
    return torch.stack(frames, dim=1)


def _validate(s: int, params: dict[str, Any]) -> None:
    check_solver_resolution("Navier-Stokes", s, params["solver_resolution"])


def _sample_input(rng: np.random.Generator, s: int, params: dict[str, Any]) -> np.ndarray:
    """``w0`` on the solver grid, ``(1, solver_resolution, solver_resolution)``."""
    _validate(s, params)
    return sample_vorticity(rng, params["solver_resolution"], params["sigma"], params["tau"],
                            params["alpha"])[None]


def solve_batch(w0: np.ndarray, params: dict[str, Any], device: str = "cpu") -> np.ndarray:
    """``(B, 1, s, s)`` initial vorticities -> ``(B, snapshots, 1, s, s)`` trajectories."""
    s = w0.shape[-1]
    forcing = fno_forcing(s) if params["forcing"] == "fno" else None
    w = solve(w0[:, 0], params["nu"], params["t"], forcing, params["dt"], snapshots=params["snapshots"],
              scheme=params["scheme"], device=device)
    return w[:, :, None]


PROBLEM = register(
    Problem(
        name="navier-stokes",
        grid="periodic",
        ndim=2,
        parameters=PARAMETERS,
        sample_input=_sample_input,
        solve_one=lambda w0, params: solve_batch(w0[None], params)[0],
        solve_batch=solve_batch,
        restrict=every_kth_point(2),
        validate=_validate,
        channels=lambda params: (1, params["snapshots"]),
        description="2D vorticity w_t + u.grad w = nu Lap w + f on the torus, w0 -> w(t_1..t_n)",
    )
)

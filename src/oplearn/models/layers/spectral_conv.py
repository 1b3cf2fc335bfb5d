"""Spectral convolution: a learned linear map on the lowest Fourier modes (FNO's kernel)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from oplearn.models.layers import dft
from oplearn.models.layers.cache import GridCache
from oplearn.models.layers.factorized import Rank, factorized_tensor

# Above this many kept modes on an axis the FFT beats the dense truncated transform.
DFT_MAX_MODES = 32


def _kept_counts(spatial: Sequence[int], modes: Sequence[int]) -> list[int]:
    """Modes a grid resolves per axis: ``min(m, n // 2)`` each sign on leading axes, and
    ``min(m, n // 2 + 1)`` non-negative frequencies on the last (real-FFT) axis."""
    *lead, last = zip(spatial, modes, strict=True)
    return [min(m, n // 2) for n, m in lead] + [min(last[1], last[0] // 2 + 1)]


def resolvable_modes(spatial: Sequence[int]) -> tuple[int, ...]:
    """The most modes per axis a grid of ``spatial`` points holds strictly below its Nyquist
    frequency, counted as :class:`SpectralConv` counts them: ``(n - 1) // 2`` of each sign on
    leading axes, ``(n + 1) // 2`` non-negative ones on the last. A weight for a mode beyond these
    is never trained on that grid (or, at the Nyquist frequency, trained on two aliased modes at
    once), yet a finer grid would use it."""
    *lead, last = spatial
    return tuple((n - 1) // 2 for n in lead) + ((last + 1) // 2,)


def _take_low(x: torch.Tensor, dim: int, k: int, last: bool) -> torch.Tensor:
    """Along ``dim`` (laid out ``[0..m-1, -m..-1]`` on leading axes, ``[0..m-1]`` on the last),
    keep frequencies ``0..k-1`` (and ``-k..-1``)."""
    if last:
        return x.narrow(dim, 0, k)
    n = x.shape[dim]
    return torch.cat([x.narrow(dim, 0, k), x.narrow(dim, n - k, k)], dim=dim) if 2 * k < n else x


class SpectralConv(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: Fourier transform, multiply the kept modes by a learned
    complex ``C_in x C_out`` matrix per mode, inverse transform. Works at any resolution ``S``.

    Along every axis but the last, ``modes`` positive and ``modes`` negative frequencies are kept;
    along the last, ``modes`` non-negative ones (as ``rfftn``). A grid too coarse for all of them
    uses those it resolves, so a model trained at one resolution runs at every other.

    Implementation (both give the same numbers to rounding): with few kept modes the truncated
    transforms are dense real matrix products (:mod:`oplearn.models.layers.dft`), otherwise
    ``torch.fft``. The complex mode mixing is one real batched matmul of the stacked real and
    imaginary parts of the input against ``[Wr | Wi]`` instead of PyTorch's complex einsum
    (``benchmarks/spectral_conv.py`` compares the whole layer with the textbook one). The weight is stored as ``(*modes, C_in, 2 C_out)`` (real parts, then
    imaginary parts), so that product needs no copy of it.

    Args:
        in_channels, out_channels: channel counts.
        modes: Fourier modes kept per axis (an int for all axes, or one per axis).
        ndim: spatial dimensions (1, 2 or 3).
        method: ``"auto"``, ``"dft"`` (matrix products) or ``"fft"``.
        factorization: ``None`` for a dense weight, or ``"tucker"``, ``"cp"``, ``"tt"``: the weight
            tensor is then stored as low-rank factors (TFNO; :mod:`oplearn.models.layers.factorized`)
            and rebuilt at each call; ``self.weight`` is ``None`` and :meth:`dense_weight` gives it.
        rank: rank of the factorisation: a ``float`` fraction of the dense parameter count, or
            explicit ranks (see :mod:`oplearn.models.layers.factorized`).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int | Sequence[int], ndim: int,
                 method: str = "auto", factorization: str | None = None, rank: Rank = 0.1):
        super().__init__()
        modes = [modes] * ndim if isinstance(modes, int) else list(modes)
        if len(modes) != ndim or min(modes) < 1 or ndim not in (1, 2, 3):
            raise ValueError(f"modes must be {ndim} positive ints (ndim 1..3), got {modes}")
        if method not in ("auto", "dft", "fft"):
            raise ValueError(f"method must be 'auto', 'dft' or 'fft', got {method!r}")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.modes = tuple(modes)
        self.method = method
        mode_shape = [2 * m for m in modes[:-1]] + [modes[-1]]
        scale = 1.0 / (in_channels * out_channels)
        # (*mode_shape, C_in, [real C_out | imaginary C_out]): modes lead as the matmul batch
        shape = (*mode_shape, in_channels, 2 * out_channels)
        if factorization is None:
            self.weight = nn.Parameter(scale * torch.rand(*shape))
            self.factorized = None
        else:
            self.register_parameter("weight", None)
            self.factorized = factorized_tensor(shape, factorization, rank, std=scale)
        self._matrices: GridCache[tuple] = GridCache()

    def _mix(self, x_modes: torch.Tensor, kept: Sequence[int]) -> torch.Tensor:
        """``(M, 2, B, C_in) -> (M, B, 2, C_out)``: multiply each mode by its complex matrix.

        Axis 1 of the input and axis 2 of the output hold real and imaginary parts.
        """
        w = self.dense_weight()
        for axis, k in enumerate(kept):
            w = _take_low(w, axis, k, axis == self.ndim - 1)
        w = w.reshape(-1, self.in_channels, 2 * self.out_channels)
        n_modes, _, batch, _ = x_modes.shape
        y = torch.bmm(x_modes.reshape(n_modes, 2 * batch, self.in_channels), w)
        y = y.view(n_modes, 2, batch, 2, self.out_channels)  # (M, input part, B, weight part, O)
        real = y[:, 0, :, 0] - y[:, 1, :, 1]
        imag = y[:, 0, :, 1] + y[:, 1, :, 0]
        return torch.stack([real, imag], dim=2)

    def dense_weight(self) -> torch.Tensor:
        """The weight ``(*mode_shape, C_in, 2 C_out)``, rebuilt from its factors if factorised."""
        return self.weight if self.factorized is None else self.factorized()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = tuple(x.shape[2:])
        if len(spatial) != self.ndim:
            raise ValueError(f"expected {self.ndim} spatial dims, got input of shape {tuple(x.shape)}")
        kept = _kept_counts(spatial, self.modes)
        use_dft = self.method == "dft" or (self.method == "auto" and max(kept) <= DFT_MAX_MODES)
        return self._forward_dft(x, kept) if use_dft else self._forward_fft(x, kept)

    def _dft_matrices(self, spatial: tuple[int, ...], kept: Sequence[int], like: torch.Tensor):
        def build() -> tuple:
            cast = {"device": like.device, "dtype": like.dtype}
            last = [m.to(**cast) for m in dft.last_axis_matrices(spatial[-1], kept[-1])]
            lead = [[m.to(**cast) for m in dft.leading_axis_matrices(n, k)]
                    for n, k in zip(spatial[:-1], kept[:-1], strict=True)]
            return last, lead

        return self._matrices.get((spatial, tuple(kept), like.device, like.dtype), build)

    def _forward_dft(self, x: torch.Tensor, kept: Sequence[int]) -> torch.Tensor:
        batch, d = x.shape[0], self.ndim
        (last_fwd, last_inv), lead = self._dft_matrices(tuple(x.shape[2:]), kept, x)
        space, freq = "xyz"[: d - 1], "uvw"[: d - 1]  # einsum letters of leading axes
        # (B, C, *N_lead, N_last) -> (B, C, *N_lead, 2, K_last)
        a = (x @ last_fwd).unflatten(-1, (2, kept[-1]))
        axes = list(space)
        for i, (forward, _) in enumerate(lead):
            new = axes.copy()
            new[i] = freq[i]
            a = torch.einsum(f"t{freq[i]}r{space[i]},bc{''.join(axes)}rq->bc{''.join(new)}tq",
                             forward, a)
            axes = new
        mode_shape = (*a.shape[2 : 1 + d], a.shape[-1])
        n_modes = math.prod(mode_shape)
        # (B, C, *K_lead, 2, K_last) -> (*K_lead, K_last, 2, B, C) -> (M, 2, B, C)
        a = a.permute(*range(2, 1 + d), d + 2, d + 1, 0, 1).reshape(n_modes, 2, batch, -1)
        y = self._mix(a, kept).reshape(*mode_shape, batch, 2, self.out_channels)
        # (*K_lead, K_last, B, 2, O) -> (B, O, *K_lead, 2, K_last)
        y = y.permute(d, d + 2, *range(d - 1), d + 1, d - 1)
        for i in reversed(range(d - 1)):
            new = axes.copy()
            new[i] = space[i]
            y = torch.einsum(f"t{space[i]}r{freq[i]},bo{''.join(axes)}rq->bo{''.join(new)}tq",
                             lead[i][1], y)
            axes = new
        return y.flatten(-2) @ last_inv

    def _forward_fft(self, x: torch.Tensor, kept: Sequence[int]) -> torch.Tensor:
        spatial, batch = x.shape[2:], x.shape[0]
        last = 1 + self.ndim
        # transform axis by axis, truncating after each: cheaper than a full rfftn + selection
        x_ft = torch.fft.rfft(x, dim=last, norm="forward").narrow(last, 0, kept[-1])
        for axis in range(self.ndim - 1):
            x_ft = torch.fft.fft(x_ft, dim=2 + axis, norm="forward")
            x_ft = _take_low(x_ft, 2 + axis, kept[axis], False)
        mode_shape = x_ft.shape[2:]
        n_modes = math.prod(mode_shape)
        # (B, C, *modes) complex -> (M, 2, B, C) real
        xr = torch.view_as_real(x_ft.reshape(batch, self.in_channels, n_modes))  # (B, C, M, 2)
        yr = self._mix(xr.permute(2, 3, 0, 1), kept)  # (M, B, 2, O)
        y_ft = torch.view_as_complex(yr.permute(1, 3, 0, 2).contiguous())
        y_ft = y_ft.reshape(batch, self.out_channels, *mode_shape)
        # inverse, axis by axis: zero-fill the dropped modes of a leading axis and transform it
        for axis in reversed(range(self.ndim - 1)):
            dim, k, n = 2 + axis, kept[axis], spatial[axis]
            if 2 * k < n:
                shape = list(y_ft.shape)
                shape[dim] = n - 2 * k
                y_ft = torch.cat([y_ft.narrow(dim, 0, k), y_ft.new_zeros(shape),
                                  y_ft.narrow(dim, k, k)], dim=dim)
            y_ft = torch.fft.ifft(y_ft, dim=dim, norm="forward")
        return torch.fft.irfft(y_ft, n=spatial[-1], dim=last, norm="forward")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}, method={self.method!r}"

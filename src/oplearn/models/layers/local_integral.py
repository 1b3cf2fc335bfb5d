"""Local integral kernel: an integral operator whose kernel has a fixed physical radius.

Liu-Schiaffini et al., "Neural Operators with Localized Integral and Differential Kernels" (ICML
2024), after the discrete-continuous (DISCO) convolutions of Ocampo et al. (2023): the
kernel is a continuous function, a learned linear combination of fixed piecewise-linear basis
functions supported on a ball of radius ``r``, and the integral is discretised by quadrature on
whatever grid the input comes on. The learned parameters therefore define one integral operator,
which every resolution approximates (a CNN kernel instead shrinks with the grid spacing).

On a regular grid the quadrature is a convolution whose stencil covers the offsets inside the
ball; its number of points grows like ``(r / h)^d``, so large stencils are evaluated with FFTs
(the same sum to rounding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len
from torch import nn

from oplearn.models.layers.cache import GridCache
from oplearn.models.layers.grid import check_field, check_grid, check_ndim, grid_spacing

# Above this many stencil points the FFT evaluation beats the direct convolution on one CPU
# core (32 -> 32 channels, batch 20, forward + backward, node grids: 3 x 3 points at 17^2, direct
# 9 ms, FFT 19 ms; 7 x 7 at 17^2, 31 ms and 24 ms; 7 x 7 at 33^2, 130 ms and 79 ms; 15 x 15 at
# 65^2, 4 s and 0.36 s).
DIRECT_MAX_POINTS = 25


def n_basis(ndim: int, n_radial: int, n_angular: int) -> int:
    """Number of basis functions of :func:`hat_basis`: ``2 n_radial - 1`` in 1D (the two
    directions are the "angles"), ``1 + (n_radial - 1) n_angular`` in 2D."""
    return 1 + (n_radial - 1) * (2 if ndim == 1 else n_angular)


def hat_basis(offsets: torch.Tensor, radius: float, n_radial: int, n_angular: int) -> torch.Tensor:
    """Piecewise-linear basis functions on the ball ``|z| < radius``.

    Radial hats ``psi_j(rho) = max(0, 1 - |rho - j D| / D)``, ``D = radius / n_radial``,
    ``j = 0 .. n_radial - 1``, all zero for ``rho >= radius``. ``psi_0`` is the isotropic function;
    each ``psi_j`` with ``j >= 1`` (zero at the centre) is multiplied by each angular factor: in 1D
    the indicators of ``z > 0`` and ``z < 0``; in 2D periodic hats in ``theta = atan2(z_1, z_0)``,
    ``chi_l(theta) = max(0, 1 - |theta - 2 pi l / n| / (2 pi / n))`` (distance taken modulo
    ``2 pi``; ``chi_0 = 1`` when ``n = 1``). Every basis function is Lipschitz on the plane.

    Args:
        offsets: ``(..., d)`` offsets ``z`` in physical units, ``d`` = 1 or 2.
        radius, n_radial, n_angular: as above (``n_angular`` is ignored in 1D).

    Returns:
        ``(..., n_basis(d, n_radial, n_angular))``, ordered ``psi_0`` then, for ``j = 1 ..``, the
        angular factors of ``psi_j``.
    """
    d = offsets.shape[-1]
    if d not in (1, 2):
        raise ValueError(f"hat_basis is defined in 1 or 2 dimensions, got offsets of dim {d}")
    rho = offsets.norm(dim=-1)
    step = radius / n_radial
    centres = torch.arange(n_radial, dtype=offsets.dtype, device=offsets.device) * step
    radial = (1 - (rho[..., None] - centres).abs() / step).clamp(min=0)  # (..., n_radial)
    if d == 1:
        z = offsets[..., 0:1]
        angular = torch.cat([(z > 0).to(offsets.dtype), (z < 0).to(offsets.dtype)], dim=-1)
    elif n_angular == 1:
        angular = torch.ones_like(rho)[..., None]
    else:
        theta = torch.atan2(offsets[..., 1], offsets[..., 0])
        nodes = torch.arange(n_angular, dtype=offsets.dtype, device=offsets.device)
        nodes = nodes * (2 * math.pi / n_angular)
        gap = torch.remainder(theta[..., None] - nodes + math.pi, 2 * math.pi) - math.pi
        angular = (1 - gap.abs() / (2 * math.pi / n_angular)).clamp(min=0)
    outer = radial[..., 1:, None] * angular[..., None, :]  # (..., n_radial - 1, n_angles)
    return torch.cat([radial[..., :1], outer.flatten(-2)], dim=-1)


class LocalIntegralConv(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: a local integral operator with learned kernel.

        y_o(x) = sum_i int_{|z| < r} kappa_oi(z) u_i(x + z) dz,
        kappa_oi(z) = sum_k weight[o, i, k] phi_k(z)   (``phi_k`` from :func:`hat_basis`),

    discretised on the input grid as ``sum_i sum_m kappa_oi(m h) w(x + m h) u_i(x + m h)`` over the
    offsets ``m h`` inside the ball (``h`` per axis from :func:`grid_spacing`). Quadrature weights
    ``w``: ``prod_a h_a`` on periodic grids (the integral over the torus, spectrally accurate for
    smooth periodic integrands apart from the kernel's kinks); the trapezoidal rule on node-centred
    grids (half weight on boundary nodes), with ``u = 0`` outside ``[0, 1]^d``, i.e. the integral
    over the part of the ball inside the domain. Both converge at second order for smooth ``u``
    (``tests/models/test_local_kernels.py`` measures the order).

    Args:
        in_channels, out_channels: channel counts.
        ndim: spatial dimensions (1 or 2).
        grid: ``"node"`` or ``"periodic"``.
        radius: support radius ``r`` in physical units (below 0.5 on periodic grids).
        n_radial, n_angular: sizes of the basis (see :func:`hat_basis`).
        method: ``"auto"``, ``"direct"`` (a convolution) or ``"fft"``: the same sum, evaluated
            directly or by FFT; ``"auto"`` takes the FFT above ``DIRECT_MAX_POINTS`` stencil points.
    """

    def __init__(self, in_channels: int, out_channels: int, ndim: int, *, grid: str = "node",
                 radius: float = 0.125, n_radial: int = 2, n_angular: int = 4,
                 method: str = "auto"):
        super().__init__()
        check_ndim(ndim, (1, 2))
        self.grid = check_grid(grid)
        if not 0 < radius < (0.5 if grid == "periodic" else math.inf):
            raise ValueError(f"radius must be positive (and < 0.5 on periodic grids), got {radius}")
        if n_radial < 1 or n_angular < 1:
            raise ValueError(f"n_radial and n_angular must be >= 1, got {n_radial}, {n_angular}")
        if method not in ("auto", "direct", "fft"):
            raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.radius, self.n_radial, self.n_angular = radius, n_radial, n_angular
        self.method = method
        size = n_basis(ndim, n_radial, n_angular)
        # a kernel ~ 1 / |ball| gives an output of the size of the input at initialisation
        ball = 2 * radius if ndim == 1 else math.pi * radius**2
        bound = math.sqrt(3 * size / in_channels) / ball
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, size).uniform_(-bound, bound))
        self._basis: GridCache[torch.Tensor] = GridCache()

    def half_widths(self, spacing: Sequence[float]) -> tuple[int, ...]:
        """Stencil half-width per axis: the largest ``m`` with ``m h < r``."""
        return tuple(max(0, math.ceil(self.radius / h - 1e-9) - 1) for h in spacing)

    def offsets(self, spacing: Sequence[float], dtype=torch.float64, device=None) -> torch.Tensor:
        """``(2 p_0 + 1, .., d)``: the physical offsets ``m h`` of the stencil."""
        axes = [torch.arange(-p, p + 1, dtype=dtype, device=device) * h
                for p, h in zip(self.half_widths(spacing), spacing, strict=True)]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)

    def basis(self, spacing: Sequence[float], like: torch.Tensor) -> torch.Tensor:
        """``(n_basis, *stencil)``: the basis functions at the stencil offsets (cached)."""
        def build() -> torch.Tensor:
            z = self.offsets(spacing, torch.float64, like.device)
            return hat_basis(z, self.radius, self.n_radial, self.n_angular).movedim(-1, 0).to(like.dtype)

        return self._basis.get((tuple(spacing), like.dtype, like.device), build)

    def kernel(self, spacing: Sequence[float], like: torch.Tensor) -> torch.Tensor:
        """``(C_out, C_in, *stencil)``: ``kappa`` at the stencil offsets (no quadrature weight)."""
        weight = self.weight
        return torch.einsum("oik,k...->oi...", weight, self.basis(spacing, like))

    def quadrature(self, spatial: Sequence[int], spacing: Sequence[float],
                   like: torch.Tensor) -> torch.Tensor:
        """Quadrature weights on the grid, broadcastable to ``(*S)``."""
        cell = math.prod(spacing)
        if self.grid == "periodic":
            return torch.full((1,) * len(spatial), cell, dtype=like.dtype, device=like.device)
        w = torch.full(tuple(spatial), cell, dtype=like.dtype, device=like.device)
        for dim in range(len(spatial)):
            for end in (0, spatial[dim] - 1):
                w.narrow(dim, end, 1).mul_(0.5)
        return w

    def forward(self, x: torch.Tensor, spacing: Sequence[float] | None = None) -> torch.Tensor:
        """``x``: ``(B, C_in, *S)``; ``spacing``: ``h`` per axis, by default from ``S`` and ``grid``
        (pass it when ``x`` is a padded extension of the grid). Returns ``(B, C_out, *S)``."""
        check_field(x, self.in_channels, self.ndim)
        spatial = tuple(x.shape[2:])
        spacing = tuple(grid_spacing(spatial, self.grid) if spacing is None else spacing)
        x = x * self.quadrature(spatial, spacing, x)
        widths = self.half_widths(spacing)
        points = math.prod(2 * w + 1 for w in widths)
        if self.method == "direct" or (self.method == "auto" and points <= DIRECT_MAX_POINTS):
            return self._direct(x, self.kernel(spacing, x))
        return self._fft(x, spacing, widths)

    def _direct(self, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        widths = [k // 2 for k in kernel.shape[2:]]
        if self.grid == "periodic":  # r < 1/2, so the stencil is narrower than the grid
            x = F.pad(x, [w for w in reversed(widths) for _ in range(2)], mode="circular")
            widths = [0] * self.ndim
        conv = F.conv1d if self.ndim == 1 else F.conv2d
        return conv(x, kernel, padding=tuple(widths))

    def _basis_hat(self, spacing: tuple[float, ...], n: tuple[int, ...],
                   like: torch.Tensor) -> torch.Tensor:
        """``(n_basis, M, 2)``: conjugated real FFT of the basis placed on the ``n`` grid (offset
        ``m`` at index ``m mod n``), real and imaginary parts last; cached."""
        def build() -> torch.Tensor:
            placed = _periodise(self.basis(spacing, like)[None], n)[0]
            hat = torch.fft.rfftn(placed, dim=tuple(range(1, 1 + self.ndim))).conj().resolve_conj()  # correlation
            return torch.view_as_real(hat).flatten(1, -2)

        return self._basis.get(("fft", spacing, n, like.dtype, like.device), build)

    def _fft(self, x: torch.Tensor, spacing: tuple[float, ...],
             widths: Sequence[int]) -> torch.Tensor:
        batch, spatial = x.shape[0], x.shape[2:]
        if self.grid == "periodic":
            n = tuple(spatial)
        else:  # zero padding of at least p_a points turns the circular sum into the open one
            n = tuple(next_fast_len(max(s + w, 2 * w + 1), real=True)
                      for s, w in zip(spatial, widths, strict=True))
        dims = tuple(range(2, 2 + self.ndim))
        x_hat = torch.fft.rfftn(x, s=n, dim=dims)
        modes = x_hat.shape[2:]
        m = math.prod(modes)
        # per mode, [Re x | Im x] (B, 2 C_in) @ [[Re k, Im k], [-Im k, Re k]] (2 C_in, 2 C_out)
        xr = torch.view_as_real(x_hat).reshape(batch, self.in_channels, m, 2)
        xr = xr.permute(2, 0, 3, 1).reshape(m, batch, 2 * self.in_channels)
        k = torch.einsum("oib,bmt->mtio", self.weight, self._basis_hat(spacing, n, x))
        real, imag = k[:, 0], k[:, 1]  # (M, C_in, C_out)
        w = torch.cat([torch.cat([real, imag], 2), torch.cat([-imag, real], 2)], 1)
        y = torch.bmm(xr, w).view(m, batch, 2, self.out_channels).permute(1, 3, 0, 2)
        y_hat = torch.view_as_complex(y.contiguous()).view(batch, self.out_channels, *modes)
        y = torch.fft.irfftn(y_hat, s=n, dim=dims)
        return y[(Ellipsis, *(slice(0, s) for s in spatial))]

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, ndim={self.ndim}, radius={self.radius}, "
                f"basis=({self.n_radial}, {self.n_angular}), grid={self.grid!r}")


def _periodise(kernel: torch.Tensor, n: Sequence[int]) -> torch.Tensor:
    """``(C_out, C_in, *stencil) -> (C_out, C_in, *n)``: the value of offset ``m`` (``-p .. p`` per
    axis) at index ``m mod n``, summed where offsets coincide."""
    for dim, size in enumerate(n, start=2):
        w = kernel.shape[dim] // 2
        index = torch.arange(-w, w + 1, device=kernel.device) % size
        shape = list(kernel.shape)
        shape[dim] = size
        kernel = kernel.new_zeros(shape).index_add(dim, index, kernel)
    return kernel


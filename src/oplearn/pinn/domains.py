"""Domains of physics-informed problems: where collocation points are drawn, their boundaries
(with outward normals) and the factors of hard Dirichlet constraints.

- :class:`Box` ``[low_1, high_1] x ... x [low_d, high_d]`` (an interval for ``d = 1``);
- :class:`Ball` ``|x| <= radius`` in any dimension (also ``d = 10^6``);
- :class:`TimeDomain` ``space x [t0, t1]``: points ``(N, d + 1)`` with time as the last column.

Samplings: ``"uniform"`` (i.i.d.), ``"sobol"`` (scrambled Sobol, ``scipy.stats.qmc``: more even
for the same ``N``; boxes and time domains of boxes) and, for balls, ``"radial"`` (radius uniform
in ``[0, radius]`` times a uniform direction: the evaluation points of the STDE paper, denser
near the centre than ``"uniform"``, which is uniform in volume).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtri
from scipy.stats import qmc
from torch import nn

from oplearn.autodiff.series import Jet, Series, SparseTangent
from oplearn.errors import InvalidInputError

SAMPLINGS = ("uniform", "sobol", "radial")


def _unit_cube(n: int, dim: int, sampling: str, seed: int) -> np.ndarray:
    if sampling == "sobol":
        with warnings.catch_warnings():  # any n: a power of two balances best, others work
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(dim, scramble=True, seed=seed).random(n)
    return np.random.default_rng(seed).random((n, dim))


def _check_sampling(sampling: str, allowed: tuple[str, ...]) -> None:
    if sampling not in allowed:
        raise InvalidInputError(f"sampling must be one of {', '.join(allowed)}, got {sampling!r}")


@dataclass(frozen=True)
class Box:
    """The box ``[low_1, high_1] x ... x [low_d, high_d]`` (an interval for ``d = 1``)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "low", tuple(float(v) for v in self.low))
        object.__setattr__(self, "high", tuple(float(v) for v in self.high))
        if len(self.low) != len(self.high) or not self.low:
            raise InvalidInputError(f"Box needs low and high of the same length >= 1, got {self.low}, {self.high}")
        if any(not lo < hi for lo, hi in zip(self.low, self.high, strict=True)):
            raise InvalidInputError(f"Box needs low < high on every axis, got {self.low}, {self.high}")

    @property
    def dim(self) -> int:
        return len(self.low)

    @property
    def spatial_dim(self) -> int:
        return self.dim

    def sample(self, n: int, sampling: str = "sobol", seed: int = 0,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``(n, d)`` points inside the box (i.i.d. uniform or scrambled Sobol)."""
        _check_sampling(sampling, ("uniform", "sobol"))
        unit = _unit_cube(n, self.dim, sampling, seed)
        low, high = np.asarray(self.low), np.asarray(self.high)
        return torch.as_tensor(low + (high - low) * unit, dtype=dtype)

    def sample_boundary(self, n: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                        axes: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` points on the faces normal to ``axes`` (default all), faces chosen in proportion to
        their area, and the outward unit normals there: ``(points (n, d), normals (n, d))``."""
        axes = tuple(range(self.dim)) if axes is None else axes
        rng = np.random.default_rng(seed)
        low, high = np.asarray(self.low), np.asarray(self.high)
        widths = high - low
        areas = np.array([np.prod(np.delete(widths, a)) for a in axes for _ in (0, 1)])
        face = rng.choice(len(areas), size=n, p=areas / areas.sum())
        points = low + widths * rng.random((n, self.dim))
        normals = np.zeros((n, self.dim))
        for f in range(len(areas)):
            axis, upper = axes[f // 2], f % 2 == 1
            rows = face == f
            points[rows, axis] = high[axis] if upper else low[axis]
            normals[rows, axis] = 1.0 if upper else -1.0
        return torch.as_tensor(points, dtype=dtype), torch.as_tensor(normals, dtype=dtype)

    def distance_factor(self, axes: tuple[int, ...] | None = None) -> nn.Module:
        """``b(x) = prod_i (x_i - low_i)(high_i - x_i) / ((high_i - low_i) / 2)^2`` over ``axes``
        (default all): zero exactly on those faces, 1 at the centre; ``(B, d) -> (B,)``."""
        axes = tuple(range(self.dim)) if axes is None else axes
        return BoxFactor(tuple((a, self.low[a], self.high[a]) for a in axes), ())


@dataclass(frozen=True)
class Ball:
    """The ball ``|x| <= radius`` in ``dim`` dimensions."""

    dim: int
    radius: float = 1.0

    def __post_init__(self):
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise InvalidInputError(f"Ball dimension must be a positive integer, got {self.dim!r}")
        if not self.radius > 0:
            raise InvalidInputError(f"Ball radius must be > 0, got {self.radius!r}")

    @property
    def spatial_dim(self) -> int:
        return self.dim

    def sample(self, n: int, sampling: str = "uniform", seed: int = 0,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``(n, d)`` points: ``"uniform"`` in volume (radius ``R u^(1/d)``), ``"radial"`` (radius
        uniform in ``[0, R]``), both times a uniform direction (a normalised Gaussian), or
        ``"sobol"`` (uniform in volume from a scrambled Sobol sequence in ``d + 1`` dimensions:
        Gaussian directions by the inverse normal CDF; up to ``d = 21200``)."""
        _check_sampling(sampling, ("uniform", "radial", "sobol"))
        if sampling == "sobol":
            if self.dim + 1 > 21201:
                raise InvalidInputError("sobol sampling of a ball goes up to d = 21200; use uniform")
            unit = np.clip(_unit_cube(n, self.dim + 1, "sobol", seed), 1e-12, 1 - 1e-12)
            direction = torch.as_tensor(ndtri(unit[:, :-1]), dtype=dtype)
            u = torch.as_tensor(unit[:, -1:], dtype=dtype)
        else:
            gen = torch.Generator().manual_seed(seed)
            direction = torch.randn(n, self.dim, generator=gen, dtype=dtype)
            u = torch.rand(n, 1, generator=gen, dtype=dtype)
        direction = direction / direction.norm(dim=1, keepdim=True)
        radius = u if sampling == "radial" else u ** (1.0 / self.dim)
        return self.radius * radius * direction

    def sample_boundary(self, n: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                        axes=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` uniform points on the sphere and the outward normals there."""
        gen = torch.Generator().manual_seed(seed)
        normals = torch.randn(n, self.dim, generator=gen, dtype=dtype)
        normals /= normals.norm(dim=1, keepdim=True)
        return self.radius * normals, normals

    def distance_factor(self, axes=None) -> nn.Module:
        """``b(x) = 1 - |x|^2 / R^2``: zero on the sphere, 1 at the centre."""
        return BallFactor(self.radius)


@dataclass(frozen=True)
class TimeDomain:
    """``space x [t0, t1]``: points ``(N, d + 1)``, time last."""

    space: Box | Ball
    t0: float = 0.0
    t1: float = 1.0

    def __post_init__(self):
        if not self.t0 < self.t1:
            raise InvalidInputError(f"TimeDomain needs t0 < t1, got {self.t0}, {self.t1}")

    @property
    def dim(self) -> int:
        return self.space.dim + 1

    @property
    def spatial_dim(self) -> int:
        return self.space.dim

    def sample(self, n: int, sampling: str = "sobol", seed: int = 0,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
        if isinstance(self.space, Box):
            box = Box(self.space.low + (self.t0,), self.space.high + (self.t1,))
            return box.sample(n, sampling, seed, dtype)
        x = self.space.sample(n, sampling, seed, dtype)
        t = torch.as_tensor(_unit_cube(n, 1, "sobol" if sampling == "sobol" else "uniform", seed + 1), dtype=dtype)
        return torch.cat([x, self.t0 + (self.t1 - self.t0) * t], dim=1)

    def sample_boundary(self, n: int, seed: int = 0, dtype: torch.dtype = torch.float64,
                        axes: tuple[int, ...] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Points on the spatial boundary at uniform times, normals with a zero time component."""
        x, normals = self.space.sample_boundary(n, seed, dtype, axes)
        t = torch.as_tensor(_unit_cube(n, 1, "uniform", seed + 1), dtype=dtype)
        zero = torch.zeros(n, 1, dtype=dtype)
        return torch.cat([x, self.t0 + (self.t1 - self.t0) * t], 1), torch.cat([normals, zero], 1)

    def sample_initial(self, n: int, sampling: str = "sobol", seed: int = 0,
                       dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``(n, d + 1)`` points at ``t = t0``."""
        x = self.space.sample(n, sampling if isinstance(self.space, Box) else "uniform", seed, dtype)
        return torch.cat([x, torch.full((n, 1), self.t0, dtype=dtype)], dim=1)

    def distance_factor(self, axes: tuple[int, ...] | None = None) -> nn.Module:
        """The spatial domain's factor (time ignored)."""
        if isinstance(self.space, Ball):
            return BallFactor(self.space.radius, spatial=self.space.dim)
        return self.space.distance_factor(axes)

    def time_factor(self) -> nn.Module:
        """``(t - t0) / (t1 - t0)``: zero at the initial time."""
        return BoxFactor((), ((self.dim - 1, self.t0, self.t1 - self.t0),))


Domain = Box | Ball | TimeDomain


class BoxFactor(nn.Module):
    """``prod (x_a - lo)(hi - x_a) / ((hi - lo) / 2)^2`` over ``two_sided`` ``(a, lo, hi)`` times
    ``prod (x_a - lo) / scale`` over ``one_sided`` ``(a, lo, scale)``: ``(B, D) -> (B,)``.
    Written with slicing and products only, so Taylor mode traces it."""

    def __init__(self, two_sided: tuple, one_sided: tuple):
        super().__init__()
        self.two_sided, self.one_sided = tuple(two_sided), tuple(one_sided)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for axis, lo, hi in self.two_sided:
            scale = 4.0 / (hi - lo) ** 2
            term = (x[:, axis] - lo) * (hi - x[:, axis]) * scale
            out = term if out is None else out * term
        for axis, lo, scale in self.one_sided:
            term = (x[:, axis] - lo) * (1.0 / scale)
            out = term if out is None else out * term
        return out

    def combined(self, other: BoxFactor) -> BoxFactor:
        return BoxFactor(self.two_sided + other.two_sided, self.one_sided + other.one_sided)


class BallFactor(nn.Module):
    """``1 - |x_s|^2 / R^2`` of the first ``spatial`` coordinates (all when ``None``): ``(B, D) -> (B,)``.

    Its Taylor expansion is written out (:meth:`taylor`) so that STDE's sparse directions stay
    sparse: along ``x + t v``, ``|x + t v|^2 = |x|^2 + 2 t x.v + t^2 |v|^2``, which needs only
    ``x.v`` (a gather for coordinate directions), never a dense ``(B, V, d)`` tensor."""

    def __init__(self, radius: float = 1.0, spatial: int | None = None):
        super().__init__()
        self.radius, self.spatial = float(radius), spatial

    def _space(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.spatial is None else x[..., : self.spatial]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - (self._space(x) ** 2).sum(dim=-1) / self.radius ** 2

    def taylor(self, x: Jet, series: Series) -> Jet:
        """Coefficients of ``1 - |x(t)|^2 / R^2`` for the input jet ``x`` (Cauchy product of the
        curve with itself, reduced over directions at the collapsed top order)."""
        coeffs = [c if c is None else self._restrict(c) for c in x.coeffs]
        scale = -1.0 / self.radius ** 2
        out = [1.0 + scale * (coeffs[0] ** 2).sum(dim=-1)]
        for k in range(1, series.order + 1):
            inner = [_dot(coeffs[j], coeffs[k - j]) for j in range(1, k)]
            inner = [t for t in inner if t is not None]
            total = None
            if inner:
                total = sum(inner[1:], inner[0])
                if series.collapse and k == series.order:
                    total = series.reduce(total)
            ends = _dot(coeffs[0], coeffs[k])
            if ends is not None:
                ends = 2 * ends
                total = ends if total is None else total + ends
            out.append(None if total is None else scale * total)
        return Jet(out)

    def _restrict(self, c):
        if self.spatial is None:
            return c
        if isinstance(c, SparseTangent):
            keep = (c.index < self.spatial).to(c.value.dtype)
            return SparseTangent(torch.clamp(c.index, max=self.spatial - 1), c.value * keep)
        return c[..., : self.spatial]


def _dot(a, b):
    """``<a, b>`` over the last axis of two jet coefficients (dense ``(B|1, V|1, d)`` or sparse),
    ``(B|1, V|1)``; ``None`` if either is zero."""
    if a is None or b is None:
        return None
    if isinstance(a, SparseTangent) and isinstance(b, SparseTangent):
        same = a.index[:, :, None] == b.index[:, None, :]  # (V, M, M')
        return (a.value[:, :, None] * b.value[:, None, :] * same).sum(dim=(1, 2))[None]
    if isinstance(b, SparseTangent):
        a, b = b, a
    if isinstance(a, SparseTangent):  # b dense (B|1, V|1, d): gather b at a's coordinates
        rows = b.shape[0]
        gathered = torch.gather(b.expand(rows, a.index.shape[0], b.shape[-1]), 2,
                                a.index[None].expand(rows, -1, -1))
        return (gathered * a.value[None]).sum(dim=-1)
    return (a * b).sum(dim=-1)

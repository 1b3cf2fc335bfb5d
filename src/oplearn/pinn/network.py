"""The network of a physics-informed solve: an MLP (optionally periodic in some coordinates),
wrapped in the ansatz that builds hard constraints in, as a function of a flat parameter vector.

``u(x) = offset(x) + factor(x) * N(features(x))`` where ``factor`` vanishes where a Dirichlet or
initial condition is imposed and ``offset`` satisfies it: the condition then holds exactly for
every parameter value, with no penalty weight to tune. Periodic coordinates enter ``N`` only
through ``cos`` and ``sin`` of ``2 pi x / period``, so ``u`` is exactly periodic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from oplearn.autodiff import trace
from oplearn.autodiff.series import Jet, Series


class PeriodicFeatures(nn.Module):
    """``(B, D) -> (B, D + P)``: each periodic coordinate ``x_a`` (period ``L``) replaced by
    ``cos(2 pi x_a / L), sin(2 pi x_a / L)``; the other coordinates kept."""

    def __init__(self, dim: int, periods: dict[int, float]):
        super().__init__()
        self.dim = dim
        self.periods = dict(sorted(periods.items()))
        self.kept = [a for a in range(dim) if a not in self.periods]

    @property
    def out_features(self) -> int:
        return len(self.kept) + 2 * len(self.periods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x[:, a:a + 1] for a in self.kept]
        for axis, period in self.periods.items():
            angle = x[:, axis:axis + 1] * (2 * math.pi / period)
            parts += [torch.cos(angle), torch.sin(angle)]
        return torch.cat(parts, dim=1)


def mlp(dim: int, width: int = 32, depth: int = 2, periods: dict[int, float] | None = None,
        activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """``(B, dim) -> (B, 1)``: ``depth`` hidden layers of ``width`` units (tanh), behind
    :class:`PeriodicFeatures` when ``periods`` is given. An ``nn.Sequential``, so Taylor mode runs
    it layer by layer."""
    layers: list[nn.Module] = []
    features = dim
    if periods:
        layers.append(PeriodicFeatures(dim, periods))
        features = layers[0].out_features
    sizes = [features] + [width] * depth
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(sizes[-1], 1))
    return nn.Sequential(*layers)


class Ansatz(nn.Module):
    """``u(x) = offset(x) + factor(x) * net(x)``: ``(B, D) -> (B,)``.

    ``factor`` and ``offset`` map ``(B, D) -> (B,)`` (``None``: 1 and 0). :meth:`taylor` pushes
    jets through the three parts separately (the network layer by layer, the factor by its own
    rule where it has one), so every operator of :mod:`oplearn.autodiff` applies to ``u``."""

    def __init__(self, net: nn.Sequential, factor: Callable | None = None,
                 offset: Callable | None = None):
        super().__init__()
        self.net, self.factor, self.offset = net, factor, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)[:, 0]
        if self.factor is not None:
            out = self.factor(x) * out
        if self.offset is not None:
            out = self.offset(x) + out
        return out

    def taylor(self, x: Jet, series: Series) -> Jet:
        out = trace.run(self.net, x, series)
        out = series.map_linear(out, lambda c: c[..., 0])
        if self.factor is not None:
            out = series.multiply(trace.run(self.factor, x, series), out)
        if self.offset is not None:
            out = series.add(trace.run(self.offset, x, series), out)
        return out


class FlatParameters:
    """Maps a flat vector ``theta`` ``(P,)`` to a module's parameters (for ``torch.func``)."""

    def __init__(self, module: nn.Module):
        self.module = module
        named = list(module.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [math.prod(p.shape) for _, p in named]

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def flatten(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            out[name] = theta[start:start + size].view(shape)
            start += size
        return out

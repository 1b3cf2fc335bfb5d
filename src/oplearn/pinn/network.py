"""The network of a physics-informed solve, as a function of a flat parameter vector."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call


class MLP(nn.Module):
    """``(B, d) -> (B, 1)``: ``depth`` hidden layers of ``width`` tanh units."""

    def __init__(self, dim: int, width: int = 32, depth: int = 2):
        super().__init__()
        sizes = [dim] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class FlatParameters:
    """Maps a flat vector ``theta`` ``(P,)`` to the module's parameters and evaluates the module
    at one point with them (``torch.func.functional_call``), so that ``vmap`` over points and
    ``jacrev`` over ``theta`` compose."""

    def __init__(self, module: nn.Module):
        self.module = module
        named = list(module.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [math.prod(p.shape) for _, p in named]

    def flatten(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            out[name] = theta[start:start + size].view(shape)
            start += size
        return out

    def point_function(self, theta: torch.Tensor):
        """``x (d,) -> scalar``: the module at one point with parameters ``theta``."""
        params = self.unflatten(theta)
        return lambda x: functional_call(self.module, params, (x[None],))[0, 0]

"""Second-order Taylor mode: push a point and many directions through an MLP in one pass.

For ``x(t) = x0 + t v`` the pass returns ``u(x0)``, ``d/dt u = grad u . v`` and
``d^2/dt^2 u = v^T (Hess u) v`` for every direction ``v`` at once, carried as ``(B, V, H)``
tensors through the layers (value, first and second coefficient). Rules:

    linear:      y0 = W x0 + b,   y1 = W x1,   y2 = W x2
    activation:  y0 = s(x0),      y1 = s'(x0) x1,   y2 = s'(x0) x2 + s''(x0) x1^2

Directions can be per point ``(B, V, d)``, shared by the batch ``(V, d)`` (the first layer then
costs ``V d H`` instead of ``B V d H``) or coordinate vectors given by indices ``(V,)`` (the first
layer gathers ``V`` columns of its weight and never touches the other ``d - V``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Derivatives = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


class Sine(nn.Module):
    """``sin(x)``, the activation of sinusoidal PINNs, as a module that jets understand."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


def _tanh(x: torch.Tensor):
    t = torch.tanh(x)
    d1 = 1 - t * t
    return t, d1, -2 * t * d1


def _sigmoid(x: torch.Tensor):
    s = torch.sigmoid(x)
    d1 = s * (1 - s)
    return s, d1, d1 * (1 - 2 * s)


def _softplus(x: torch.Tensor):
    s = torch.sigmoid(x)
    return F.softplus(x), s, s * (1 - s)


def _gelu(x: torch.Tensor):
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    return x * cdf, cdf + x * pdf, pdf * (2 - x * x)


def _sine(x: torch.Tensor):
    s = torch.sin(x)
    return s, torch.cos(x), -s


def _silu(x: torch.Tensor):
    s = torch.sigmoid(x)
    d1 = s * (1 + x * (1 - s))
    return x * s, d1, s * (1 - s) * (2 + x * (1 - 2 * s))


def _identity(x: torch.Tensor):
    return x, torch.ones_like(x), torch.zeros_like(x)


_RULES: dict[type, Derivatives] = {nn.Tanh: _tanh, nn.Sigmoid: _sigmoid, nn.Softplus: _softplus,
                                  nn.GELU: _gelu, Sine: _sine, nn.SiLU: _silu, nn.Identity: _identity}


def _derivatives(module: nn.Module) -> Derivatives | None:
    """The ``(s, s', s'')`` rule of an activation module, or None if there is none."""
    if isinstance(module, nn.Softplus) and module.beta != 1:
        return None  # only beta = 1 has the closed form below (the same linear tail above 20)
    if isinstance(module, nn.GELU) and module.approximate != "none":
        return None
    return _RULES.get(type(module))


def supports(model: object) -> bool:
    """True if ``model`` is an ``nn.Sequential`` of ``nn.Linear`` and supported activations."""
    return isinstance(model, nn.Sequential) and len(model) > 0 and all(
        isinstance(m, nn.Linear) or _derivatives(m) is not None for m in model
    )


@dataclass
class Jet:
    """Value ``(B, H)``, first ``(B, V, H)`` or shared ``(V, H)``, second (same, or None = 0)."""

    value: torch.Tensor
    first: torch.Tensor
    second: torch.Tensor | None


def _first_linear(layer: nn.Linear, x0: torch.Tensor, directions: torch.Tensor) -> Jet:
    value = layer(x0)
    if directions.dtype in (torch.int32, torch.int64):  # coordinate directions e_i
        first = layer.weight.index_select(1, directions).T  # (V, H)
    else:
        first = directions @ layer.weight.T  # (B, V, H) or (V, H)
    return Jet(value, first, None)


def jet2(model: nn.Sequential, x0: torch.Tensor, directions: torch.Tensor,
         sum_second: bool = False) -> Jet:
    """Push ``x0`` ``(B, d)`` and ``directions`` through ``model`` to second order.

    Args:
        model: ``nn.Sequential`` of ``nn.Linear`` and activations (see :func:`supports`).
        x0: ``(B, d)`` points.
        directions: ``(B, V, d)`` per point, ``(V, d)`` shared, or ``(V,)`` integer coordinates.
        sum_second: carry only the sum over directions of the second coefficient, ``(B, H)``.
            The second-order rules are linear in it, so the sum is exact, and it saves half the
            work when only the sum is needed (a Laplacian, a trace estimate).
    Returns:
        :class:`Jet` of the output: ``value (B, out)``, ``first (B, V, out)`` and ``second``
        ``(B, V, out)``, or ``(B, out)`` with ``sum_second``.
    """
    modules = list(model)
    if isinstance(modules[0], nn.Linear):
        jet = _first_linear(modules[0], x0, directions)
        modules = modules[1:]
    else:
        if directions.dtype in (torch.int32, torch.int64):
            directions = torch.eye(x0.shape[1], dtype=x0.dtype, device=x0.device)[directions]
        jet = Jet(x0, directions, None)
    for module in modules:
        if isinstance(module, nn.Linear):
            second = None if jet.second is None else jet.second @ module.weight.T
            jet = Jet(module(jet.value), jet.first @ module.weight.T, second)
        else:
            s0, s1, s2 = _derivatives(module)(jet.value)
            d1, d2 = s1.unsqueeze(1), s2.unsqueeze(1)  # broadcast over directions
            if sum_second:
                second = s2 * jet.first.square().sum(dim=-2)
                if jet.second is not None:
                    second = second + s1 * jet.second
            else:
                second = d2 * jet.first.square()
                if jet.second is not None:
                    second = second + d1 * jet.second
            jet = Jet(s0, d1 * jet.first, second)
    batch = x0.shape[0]
    first = jet.first if jet.first.ndim == 3 else jet.first.expand(batch, *jet.first.shape)
    second = jet.second
    if sum_second:
        second = torch.zeros_like(jet.value) if second is None else second.expand_as(jet.value)
    elif second is None:
        second = torch.zeros_like(first)
    elif second.ndim == 2:
        second = second.expand(batch, *second.shape)
    return Jet(jet.value, first, second)

"""Fully connected networks on the last axis, with access to every hidden layer's output."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def activation_module(name: str) -> nn.Module:
    """A fresh activation module by name (``"gelu"``, ``"relu"``, ``"silu"`` or ``"tanh"``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """``(..., sizes[0]) -> (..., sizes[-1])``: ``len(sizes) - 1`` affine layers.

    Every layer but the last is followed by the activation; the last one too when
    ``final_activation`` is true. :meth:`hidden_states` returns each layer's output, which
    models that read several depths (MultiONet) use.

    Args:
        sizes: feature counts, input first, at least two entries.
        activation: name of the activation (see :data:`ACTIVATIONS`).
        final_activation: apply the activation after the last layer as well.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "gelu", final_activation: bool = False):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be at least two positive ints, got {sizes}")
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.activation = activation_module(activation)
        self.final_activation = final_activation

    def hidden_states(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of every layer (after its activation, if it has one), first layer first."""
        states = []
        last = len(self.linears) - 1
        for i, linear in enumerate(self.linears):
            x = linear(x)
            if i < last or self.final_activation:
                x = self.activation(x)
            states.append(x)
        return states

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(x)[-1]

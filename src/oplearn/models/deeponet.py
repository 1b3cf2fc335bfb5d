"""DeepONet (Lu et al., 2021) and MultiONet (Zang and Koutsourelakis, DGNO, 2025) on regular grids.

Both read the input field at fixed sensor points (branch net) and the output grid's coordinates
(trunk net), and combine the two by inner products, one per output channel. Evaluated at the
points of the input's grid, they map ``(B, C_in, *S) -> (B, C_out, *S)`` like every other model.
"""

from __future__ import annotations

import torch
from torch import nn

from oplearn.models.layers.grid import check_field, check_grid
from oplearn.models.layers.mlp import MLP
from oplearn.models.layers.sensors import SensorSampler, grid_points
from oplearn.models.registry import register


class DeepONet(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: ``G(u)_o(y) = sum_k b_ok(u) t_ok(y) + c_o``.

    The branch net maps the input's values at the sensors (:class:`SensorSampler`, ``C_in`` times
    ``(sensors + 1)^d`` numbers on node grids, ``sensors^d`` on periodic ones) to ``C_out x p``
    coefficients ``b``; the trunk net maps each output point's coordinates ``y`` to ``C_out x p``
    basis values ``t``. As in Lu et al., the branch net ends with a linear layer and the trunk net
    with an activation; the output of channel ``o`` pairs the ``o``-th groups of ``p`` (the
    "split both" multiple-output DeepONet of Lu et al. 2022) and adds a learned bias ``c_o``.

    The branch sees the same sensors at every resolution and the trunk is a function of the
    coordinates, so the model is defined at any resolution; the error on a finer grid stays that
    of the training grid whenever both contain the sensors (``s - 1``, resp. ``s``, a multiple of
    ``sensors``) and otherwise differs only by the interpolation error at the sensors.

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1, 2 or 3).
        grid: ``"node"`` or ``"periodic"``: sensor placement and trunk coordinates.
        sensors: sensor intervals per axis (spacing ``1 / sensors``).
        width: hidden features of branch and trunk nets.
        depth: hidden layers of branch and trunk nets.
        n_basis: ``p``, basis functions per output channel.
        activation: activation of both nets.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        sensors: int = 32,
        width: int = 256,
        depth: int = 3,
        n_basis: int = 64,
        activation: str = "gelu",
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.grid, self.n_basis = check_grid(grid), n_basis
        self.sampler = SensorSampler(ndim, grid, sensors)
        hidden = [width] * depth
        self.branch = MLP([in_channels * self.sampler.n_points, *hidden, out_channels * n_basis],
                          activation)
        self.trunk = MLP([ndim, *hidden, out_channels * n_basis], activation, final_activation=True)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        batch, spatial = x.shape[0], tuple(x.shape[2:])
        b = self.branch(self.sampler(x).flatten(1)).view(batch, self.out_channels, self.n_basis)
        t = self.trunk(grid_points(spatial, self.grid, x)).view(-1, self.out_channels, self.n_basis)
        y = torch.einsum("bok,nok->bon", b, t) + self.bias[:, None]
        return y.reshape(batch, self.out_channels, *spatial)


class MultiONet(nn.Module):
    """``(B, C_in, *S) -> (B, C_out, *S)``: DeepONet's inner product taken at ``L`` depths and averaged,

    ``G(u)_o(y) = (1/L) sum_l ( sum_k w_lok b^(l)_k(u) t^(l)_k(y) + c_lo )``,

    where ``b^(l)`` and ``t^(l)`` are the outputs of the ``l``-th hidden layer after the input
    layer of the branch and trunk nets (both of width ``width``, each with an activation), as in
    the MultiONet of the DGNO paper (Zang and Koutsourelakis 2025; their code pairs the layers that
    follow the input layer and averages ``w_l <b^(l), t^(l)> + c_l`` with scalars ``w_l = 1``,
    ``c_l = 0`` at the start). Here ``w_l`` is a vector per output channel, initialised to ones,
    so that output channels can differ; with one output channel it starts as the paper's model.
    With ``n_layers = 1`` the model is a DeepONet whose basis is the trunk's last hidden layer.

    Resolution behaviour as :class:`DeepONet` (same sensors, same trunk coordinates).

    Args:
        in_channels, out_channels: channels of input and output fields.
        ndim: spatial dimensions (1, 2 or 3).
        grid: ``"node"`` or ``"periodic"``: sensor placement and trunk coordinates.
        sensors: sensor intervals per axis (spacing ``1 / sensors``).
        width: features of every layer of branch and trunk nets (the inner products' length).
        n_layers: ``L``, layer pairs whose inner products are averaged.
        branch_activation, trunk_activation: activations of the two nets (tanh and ReLU, the
            defaults of the DGNO authors' code).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        ndim: int = 2,
        grid: str = "node",
        sensors: int = 32,
        width: int = 128,
        n_layers: int = 3,
        branch_activation: str = "tanh",
        trunk_activation: str = "relu",
    ):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.in_channels, self.out_channels, self.ndim = in_channels, out_channels, ndim
        self.grid, self.n_layers = check_grid(grid), n_layers
        self.sampler = SensorSampler(ndim, grid, sensors)
        layers = [width] * (n_layers + 1)  # the input layer, then the L paired layers
        self.branch = MLP([in_channels * self.sampler.n_points, *layers], branch_activation,
                          final_activation=True)
        self.trunk = MLP([ndim, *layers], trunk_activation, final_activation=True)
        self.weight = nn.Parameter(torch.ones(n_layers, out_channels, width))
        self.bias = nn.Parameter(torch.zeros(n_layers, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, self.in_channels, self.ndim)
        batch, spatial = x.shape[0], tuple(x.shape[2:])
        branch = self.branch.hidden_states(self.sampler(x).flatten(1))[1:]  # L x (B, width)
        trunk = self.trunk.hidden_states(grid_points(spatial, self.grid, x))[1:]  # L x (N, width)
        y = 0.0
        for b, t, w, c in zip(branch, trunk, self.weight, self.bias, strict=True):
            y = y + torch.einsum("bk,ok,nk->bon", b, w, t) + c[:, None]
        y = y / self.n_layers
        return y.reshape(batch, self.out_channels, *spatial)


register("deeponet", DeepONet,
         "DeepONet (Lu et al. 2021): branch net on fixed sensors, trunk net on coordinates",
         ndims=(1, 2, 3), resolution_invariant=True, aliases={"n_layers": "depth"})
register("multionet", MultiONet,
         "MultiONet (Zang & Koutsourelakis, DGNO 2025): DeepONet inner products averaged over depths",
         ndims=(1, 2, 3), resolution_invariant=True)

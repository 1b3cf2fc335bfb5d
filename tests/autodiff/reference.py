"""References for the autodiff tests: random float64 MLPs and derivatives by nested autograd."""

import torch
from torch import nn


def mlp(dim, activation=nn.Tanh, width=16, depth=3, seed=0, out=1):
    torch.manual_seed(seed)
    layers, fan_in = [], dim
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), activation()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, out)).double()


def partial(f, x, term):
    """``d^term f`` ``(B,)`` by nested reverse mode (term: tuple of coordinates)."""
    x = x.detach().requires_grad_(True)
    u = f(x).reshape(x.shape[0])
    for i in term:
        (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        u = grad[:, i]
    return u


def curve_derivatives(f, x, tangents, order):
    """``d^k/dt^k f(x + sum_j v_j t^j / j!)`` for k = 0..order by nested autograd in t.
    ``tangents``: list of (B, d) tensors or None. Returns a list of (B,) tensors."""
    t = torch.zeros(x.shape[0], 1, dtype=x.dtype, requires_grad=True)
    point = x
    factorial = 1
    for j, v in enumerate(tangents, start=1):
        factorial *= j
        if v is not None:
            point = point + v * t ** j / factorial
    u = f(point).reshape(x.shape[0])
    out = [u]
    for _ in range(order):
        (u,) = torch.autograd.grad(u.sum(), t, create_graph=True)
        u = u[:, 0]
        out.append(u)
    return out


def biharmonic(f, x):
    """``sum_ij d_ii d_jj f`` by nested autograd (the Laplacian of the Laplacian)."""
    x = x.detach().requires_grad_(True)
    dim = x.shape[1]

    def lap(u):
        (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        return sum(torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(dim))

    return lap(lap(f(x).reshape(x.shape[0])))

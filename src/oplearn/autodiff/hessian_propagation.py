"""The exact biharmonic of an MLP by forward propagation of Hessians.

Fourth-order Taylor mode needs ``d^2`` directions for ``sum_ij d_ii d_jj u`` and carries three
per-direction coefficients through every layer. For an MLP it is cheaper to carry, for every
hidden unit ``h``, its gradient ``g`` ``(d)``, Hessian ``S`` ``(d, d)``, Laplacian ``L``, the
gradient of its Laplacian ``gL`` ``(d)`` and its biharmonic ``Q`` (the forward Laplacian of
Li et al. taken two orders further). Linear layers act on each of them; an activation
``y = s(h)`` with ``s1 .. s4`` its derivatives at ``h`` gives, with ``q = |g|^2``,
``c = g . gL``, ``F = |S|_F^2`` and ``r = g^T S g``:

    g'  = s1 g                       S' = s1 S + s2 g g^T
    L'  = s1 L + s2 q                gL' = s1 gL + (s2 L + s3 q) g + 2 s2 S g
    Q'  = s1 Q + s2 (L^2 + 4 c + 2 F) + 2 s3 L q + s4 q^2 + 4 s3 r

One pass costs about one matrix product of ``(d^2, H) x (H, H)`` per layer and a few
elementwise operations on ``(d, d, H)`` per point, against ``d^2`` fourth-order directions.
Points are processed in chunks to bound memory.
"""

from __future__ import annotations

import torch
from torch import nn

from oplearn.autodiff.trace import activation_rule, plain


def supports(model: object) -> bool:
    """True for an ``nn.Sequential`` of ``nn.Linear`` and activations with Taylor rules that
    starts with a linear layer."""
    return (plain(model, nn.Sequential) and len(model) > 0 and plain(model[0], nn.Linear)
            and all(plain(m, nn.Linear) or activation_rule(m) is not None for m in model))


def _linear(t: torch.Tensor | None, weight: torch.Tensor) -> torch.Tensor | None:
    """Mix units: ``t`` is ``(B, H, *rest)``, the result ``(B, O, *rest)``."""
    if t is None:
        return None
    batch, units = t.shape[:2]
    mixed = torch.bmm(weight.expand(batch, -1, -1), t.reshape(batch, units, -1))  # no copy of t
    return mixed.reshape(batch, weight.shape[0], *t.shape[2:])


def _activation(state: dict, derivs: list) -> dict:
    """Layout: value, L, Q ``(B, H)``; g, gL ``(B, H, d)``; S ``(B, H, d, d)``."""
    s1, s2, s3, s4 = (d if d is not None else torch.zeros_like(derivs[0]) for d in derivs[1:5])
    g, hess, lap, grad_lap, bih = (state[k] for k in ("g", "S", "L", "gL", "Q"))
    q = g.square().sum(dim=-1)  # (B, H)
    dim = g.shape[-1]
    hess_shape = (*g.shape, dim)
    lap0 = torch.zeros_like(q) if lap is None else lap
    s2g = s2[..., None] * g
    rows, cols = s2g.reshape(-1, dim, 1), g.reshape(-1, 1, dim)
    if hess is None:
        new_hess = torch.bmm(rows, cols).reshape(hess_shape)
    else:  # s1 S + (s2 g) g^T as one batched rank-one update
        new_hess = s1[..., None, None] * hess
        new_hess.view(-1, dim, dim).baddbmm_(rows, cols)  # in place: no copy of the big tensor
    grad_new = (s2 * lap0 + s3 * q)[..., None] * g
    quartic = s2 * lap0.square() + 2 * s3 * lap0 * q + s4 * q.square()
    if hess is not None:
        hg = (hess @ g[..., None])[..., 0]  # S g per unit, (B, H, d)
        frobenius = torch.linalg.vector_norm(hess, dim=(-2, -1)).square()
        grad_new = grad_new + 2 * s2[..., None] * hg
        quartic = quartic + 2 * s2 * frobenius + 4 * s3 * (g * hg).sum(dim=-1)
    if grad_lap is not None:
        grad_new = grad_new + s1[..., None] * grad_lap
        quartic = quartic + 4 * s2 * (g * grad_lap).sum(dim=-1)
    return {"value": derivs[0], "g": s1[..., None] * g, "S": new_hess,
            "L": s2 * q if lap is None else s1 * lap + s2 * q, "gL": grad_new,
            "Q": quartic if bih is None else quartic + s1 * bih}


def biharmonic_mlp(model: nn.Sequential, x: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Exact ``Lap^2 u`` ``(B, out)`` of an MLP (see :func:`supports`) at ``x`` ``(B, d)``.
    ``chunk_size``: points per chunk (default: about 2^24 Hessian entries per chunk)."""
    batch, dim = x.shape
    first = model[0]
    step = chunk_size or max(1, (1 << 24) // max(1, dim * dim * first.out_features))
    return torch.cat([_run(model, x[start:start + step]) for start in range(0, batch, step)])


def _run(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    first = model[0]
    state = {"value": first(x), "g": first.weight.expand(x.shape[0], -1, -1),
             "S": None, "L": None, "gL": None, "Q": None}
    for module in list(model)[1:]:
        if plain(module, nn.Linear):
            value = module(state["value"])
            state = {k: _linear(v, module.weight) for k, v in state.items() if k != "value"}
            state["value"] = value
        else:
            state = _activation(state, activation_rule(module)(state["value"], 4))
    if state["Q"] is None:
        return torch.zeros_like(state["value"])
    return state["Q"]

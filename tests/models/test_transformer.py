"""Galerkin / Fourier Transformer: attention against its formula, linear cost, quadrature."""

from __future__ import annotations

import math

import pytest
import torch
from torch.profiler import profile

from oplearn.models import build
from oplearn.models.layers.attention import AttentionBlock, SoftmaxFreeAttention

NAMES = ["galerkin-transformer", "fourier-transformer"]


def _layer_norm(t: torch.Tensor, norm) -> torch.Tensor:
    """Layer norm over the last axis of ``(B, n, heads, c)`` with per-head affine, written out."""
    mean = t.mean(-1, keepdim=True)
    var = ((t - mean) ** 2).mean(-1, keepdim=True)
    return (t - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _reference_attention(layer: SoftmaxFreeAttention, x: torch.Tensor, pos) -> torch.Tensor:
    """Cao (2021), eqs. for the Fourier-type ``(Q~ K~^T) V / n`` and Galerkin-type
    ``Q (K~^T V~) / n`` attention, head by head, then the output projection."""
    batch, n, d = x.shape
    h = layer.heads
    w, b = layer.qkv.weight, layer.qkv.bias
    q, k, v = (torch.einsum("bnd,ed->bne", x, w[i * d:(i + 1) * d]) + b[i * d:(i + 1) * d]
               for i in range(3))
    q, k, v = (t.reshape(batch, n, h, d // h) for t in (q, k, v))
    if layer.kind == "galerkin":
        k, v = _layer_norm(k, layer.norms["k"]), _layer_norm(v, layer.norms["v"])
    else:
        q, k = _layer_norm(q, layer.norms["q"]), _layer_norm(k, layer.norms["k"])
    if pos is not None:
        p = pos[:, :, None, :].expand(batch, n, h, pos.shape[-1])
        q, k, v = (torch.cat([t, p], -1) for t in (q, k, v))
    if layer.kind == "galerkin":
        moments = torch.einsum("bjhc,bjhe->bhce", k, v) / n  # K~^T V~ / n per head
        y = torch.einsum("bihc,bhce->bihe", q, moments)
    else:
        scores = torch.einsum("bihc,bjhc->bhij", q, k) / n  # Q~ K~^T / n, an n x n matrix
        y = torch.einsum("bhij,bjhe->bihe", scores, v)
    y = y.reshape(batch, n, -1)
    return torch.einsum("bnc,ec->bne", y, layer.out.weight) + layer.out.bias


def _randomise(module: torch.nn.Module) -> None:
    """Move every parameter (layer-norm affines included) off its initial value."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))


@pytest.mark.parametrize("kind", ["galerkin", "fourier"])
@pytest.mark.parametrize("pos_dim", [0, 2])
@pytest.mark.parametrize("n", [5, 77])  # n below and above the head's channels (both orders)
@pytest.mark.parametrize("heads", [3, 12])  # heads fused into one product, or one by one
def test_attention_equals_its_formula(kind, pos_dim, n, heads):
    torch.manual_seed(0)
    layer = SoftmaxFreeAttention(24, heads=heads, kind=kind, pos_dim=pos_dim).double()
    _randomise(layer)
    x = torch.randn(2, n, 24, dtype=torch.float64)
    pos = torch.rand(2, n, pos_dim, dtype=torch.float64) if pos_dim else None
    torch.testing.assert_close(layer(x, pos), _reference_attention(layer, x, pos),
                               rtol=1e-12, atol=1e-12)


def _largest_tensor(fn) -> int:
    """Most elements of any tensor an operator received while ``fn()`` ran (forward and backward)."""
    with profile(record_shapes=True) as prof:
        fn()
    sizes = [math.prod(shape) for event in prof.events() for shape in event.input_shapes
             if shape and all(isinstance(s, int) for s in shape)]
    return max(sizes)


@pytest.mark.parametrize("kind", ["galerkin", "fourier"])
def test_attention_never_forms_an_n_by_n_matrix(kind):
    """At 256^2 = 65536 tokens an ``n x n`` float matrix would take 16 GiB; a forward and backward
    pass of a whole encoder layer touches nothing bigger than the ``n x 3d`` projections."""
    torch.manual_seed(0)
    n, d = 256 * 256, 32
    block = AttentionBlock(d, heads=4, kind=kind, pos_dim=2)
    x = torch.randn(1, n, d, requires_grad=True)
    pos = torch.rand(1, n, 2)
    largest = _largest_tensor(lambda: block(x, pos).square().mean().backward())
    assert largest <= n * 3 * d, largest
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # the recorder does see an n x n matrix when one is formed (the reference formula, small n)
    layer = SoftmaxFreeAttention(8, heads=1, kind="fourier")
    small = torch.randn(1, 300, 8)
    assert _largest_tensor(lambda: _reference_attention(layer, small, None)) >= 300 * 300


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("decoder", ["spectral", "pointwise"])
def test_constant_input_gives_the_same_constant_at_every_resolution(name, decoder):
    """Without coordinates all tokens of a constant field are equal and ``sum_j / n`` is exact, so
    the output is the same constant at every grid size (a softmax-free layer without the ``1/n``
    would scale with ``n``)."""
    torch.manual_seed(0)
    model = build(name, ndim=2, grid="node", decoder=decoder, positional_embedding=False).double()
    _randomise(model)
    outputs = [model(torch.full((1, 1, s, t), 0.7, dtype=torch.float64)) for s, t in
               [(5, 7), (17, 17), (33, 20)]]
    value = outputs[0][0, 0, 0, 0].item()
    for out in outputs:
        torch.testing.assert_close(out, torch.full_like(out, value), rtol=1e-11, atol=1e-11 * abs(value))


@pytest.mark.parametrize("name", NAMES)
def test_periodic_output_is_a_spectrally_accurate_quadrature(name):
    """On a periodic grid the ``1/n`` sums are trapezoidal rules of smooth periodic integrands,
    which converge geometrically: for a smooth input the output at 64 points already equals the
    512-point output at the shared points to near rounding (no coordinates: the periodic
    coordinate ``x = i / s`` is a discontinuous sawtooth)."""
    torch.manual_seed(0)
    model = build(name, ndim=1, grid="periodic", positional_embedding=False).double()

    def field(n: int) -> torch.Tensor:
        x = torch.arange(n, dtype=torch.float64) / n
        return (torch.sin(2 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x))[None, None]

    fine = model(field(512))
    errors = [((model(field(n)) - fine[..., :: 512 // n]).abs().max() / fine.abs().max()).item()
              for n in (16, 32, 64)]
    assert errors[0] > errors[1] > errors[2] or errors[2] < 1e-13, errors
    assert errors[2] < 1e-10, errors


def test_each_registry_name_fixes_its_attention():
    from oplearn.errors import InvalidInputError

    assert build("galerkin-transformer", ndim=1).attention == "galerkin"
    assert build("fourier-transformer", ndim=1).attention == "fourier"
    with pytest.raises(InvalidInputError, match="has no option .attention."):
        build("galerkin-transformer", attention="fourier")

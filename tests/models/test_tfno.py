"""TFNO: factorised tensors against their textbook formulas, exact at full rank, parameter counts,
and the full-rank TFNO equal to the dense FNO it was factorised from."""

from __future__ import annotations

import math

import pytest
import torch

from oplearn.models import FNO, build
from oplearn.models.layers.factorized import (
    CPTensor,
    TTTensor,
    TuckerTensor,
    factorized_tensor,
)
from oplearn.models.layers.spectral_conv import SpectralConv

SHAPE = (4, 3, 5, 6)


def _random(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_tucker_is_the_core_times_a_factor_along_each_axis():
    torch.manual_seed(0)
    t = TuckerTensor(SHAPE, (2, 3, 4, 2)).double()
    g, (u1, u2, u3, u4) = t.core, list(t.factors)
    expected = torch.zeros(SHAPE, dtype=torch.float64)
    for a, b, c, d in torch.cartesian_prod(*(torch.arange(r) for r in g.shape)).tolist():
        outer = torch.einsum("i,j,k,l->ijkl", u1[:, a], u2[:, b], u3[:, c], u4[:, d])
        expected += g[a, b, c, d] * outer
    torch.testing.assert_close(t(), expected, rtol=1e-12, atol=1e-12)


def test_cp_is_a_sum_of_rank_one_tensors():
    torch.manual_seed(0)
    t = CPTensor(SHAPE, 7).double()
    f = list(t.factors)
    expected = sum(torch.einsum("i,j,k,l->ijkl", *(a[:, r] for a in f)) for r in range(7))
    torch.testing.assert_close(t(), expected, rtol=1e-12, atol=1e-12)


def test_tensor_train_entries_are_products_of_core_slices():
    torch.manual_seed(0)
    t = TTTensor(SHAPE, (2, 3, 4)).double()
    cores = list(t.cores)
    dense = t()
    for index in [(0, 0, 0, 0), (3, 2, 4, 5), (1, 2, 0, 3), (2, 1, 3, 1)]:
        product = torch.eye(1, dtype=torch.float64)
        for core, i in zip(cores, index, strict=True):
            product = product @ core[:, i, :]
        torch.testing.assert_close(dense[index], product[0, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
def test_full_rank_factorisation_reproduces_an_arbitrary_dense_tensor(factorization):
    dense = _random(SHAPE)
    if factorization == "tucker":
        t = TuckerTensor.from_dense(dense, SHAPE)
    elif factorization == "tt":
        t = TTTensor.from_dense(dense, 10**6)  # capped at the full TT ranks (4, 12, 6)
        assert t.ranks == (4, 12, 6)
    else:
        t = CPTensor.from_dense(dense)
        assert t.rank == math.prod(SHAPE) // max(SHAPE)
    torch.testing.assert_close(t(), dense, rtol=1e-12, atol=1e-12)


def test_truncated_decompositions_recover_tensors_of_that_rank_exactly():
    tucker = TuckerTensor(SHAPE, (2, 2, 3, 2)).double()
    torch.testing.assert_close(TuckerTensor.from_dense(tucker(), (2, 2, 3, 2))(), tucker(),
                               rtol=1e-10, atol=1e-12)
    tt = TTTensor(SHAPE, (2, 3, 2)).double()
    torch.testing.assert_close(TTTensor.from_dense(tt(), (2, 3, 2))(), tt(), rtol=1e-10, atol=1e-12)


def test_explicit_rank_parameter_counts():
    n = SHAPE
    counts = {
        "tucker": (TuckerTensor(n, (2, 3, 4, 2)), 2 * 3 * 4 * 2 + 4 * 2 + 3 * 3 + 5 * 4 + 6 * 2),
        "cp": (CPTensor(n, 7), 7 * sum(n)),
        "tt": (TTTensor(n, (2, 3, 4)), 1 * 4 * 2 + 2 * 3 * 3 + 3 * 5 * 4 + 4 * 6 * 1),
    }
    for name, (t, expected) in counts.items():
        assert sum(p.numel() for p in t.parameters()) == expected, name


@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_a_fractional_rank_uses_about_that_fraction_of_dense_parameters(factorization, fraction):
    shape = (24, 12, 32, 64)  # the default 2D FNO's spectral weight
    t = factorized_tensor(shape, factorization, fraction)
    ratio = sum(p.numel() for p in t.parameters()) / math.prod(shape)
    assert 0.85 * fraction < ratio < 1.02 * fraction, ratio


def test_initial_tensor_has_the_requested_spread():
    for factorization in ("tucker", "cp", "tt"):
        torch.manual_seed(1)
        w = factorized_tensor((8, 6, 16, 32), factorization, 0.2, std=0.01)()
        assert 0.005 < w.std().item() < 0.02, (factorization, w.std().item())


def test_tfno_default_is_tucker_with_a_tenth_of_the_spectral_parameters():
    torch.manual_seed(0)
    dense = build("fno")
    tfno = build("tfno")

    def count(module):
        return sum(p.numel() for p in module.parameters())

    dense_spectral = count(dense.spectral[0])
    factorised_spectral = count(tfno.spectral[0])
    assert isinstance(tfno.spectral[0].factorized, TuckerTensor)
    assert tfno.spectral[0].weight is None
    assert 0.085 < factorised_spectral / dense_spectral <= 0.1
    assert count(dense) - count(tfno) == 4 * (dense_spectral - factorised_spectral)


@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
def test_full_rank_tfno_equals_the_dense_fno_it_was_factorised_from(factorization):
    torch.manual_seed(0)
    kwargs = {"ndim": 2, "modes": (3, 2), "width": 4, "n_layers": 2, "grid": "periodic"}
    fno = FNO(2, 1, **kwargs).double()
    tfno = build("tfno", in_channels=2, out_channels=1, factorization=factorization, rank=1,
                 **kwargs).double()
    for dense_layer, layer in zip(fno.spectral, tfno.spectral, strict=True):
        w = dense_layer.weight.detach()
        layer.factorized = {"tucker": lambda w: TuckerTensor.from_dense(w, w.shape),
                            "cp": CPTensor.from_dense,
                            "tt": lambda w: TTTensor.from_dense(w, 10**6)}[factorization](w)
    missing, unexpected = tfno.load_state_dict(fno.state_dict(), strict=False)
    assert all(".weight" in key for key in unexpected) and all("factorized" in k for k in missing)
    x = _random((3, 2, 11, 8), seed=1)
    torch.testing.assert_close(tfno(x), fno(x), rtol=1e-10, atol=1e-12)


def test_factorised_spectral_conv_gets_gradients_on_every_factor_and_runs_on_coarse_grids():
    layer = SpectralConv(3, 2, 6, ndim=2, factorization="tt", rank=0.5).double()
    for s in (5, 16):  # 5 points resolve fewer than the 6 modes kept
        x = _random((2, 3, s, s + 1))
        layer(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_unknown_factorization_raises():
    with pytest.raises(ValueError, match="factorization"):
        SpectralConv(2, 2, 4, ndim=1, factorization="svd")

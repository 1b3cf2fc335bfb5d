"""FNO: shapes at any resolution, the spectral layer against its definition, invariance, learning."""

import math

import pytest
import torch

from oplearn.errors import InvalidInputError
from oplearn.models import FNO, available, build
from oplearn.models.layers import SpectralConv
from tests.models.poisson import poisson_1d


@pytest.mark.parametrize("ndim, sizes", [(1, [16, 33, 64]), (2, [9, 16, 33]), (3, [8, 13])])
def test_fno_runs_at_any_resolution(ndim, sizes):
    torch.manual_seed(0)
    model = build("fno", in_channels=2, out_channels=3, ndim=ndim, modes=5, width=8, padding=0.1)
    for s in sizes:
        x = torch.randn(2, 2, *(s,) * ndim)
        assert model(x).shape == (2, 3, *(s,) * ndim)


def _reference_spectral_conv(layer: SpectralConv, x: torch.Tensor) -> torch.Tensor:
    """Textbook 2D definition: full rfft2, multiply the kept corner modes, irfft2."""
    s1, s2 = x.shape[-2:]
    m1, m2 = layer.modes
    k1, k2 = min(m1, s1 // 2), min(m2, s2 // 2 + 1)
    o = layer.out_channels
    w = torch.complex(layer.weight[..., :o], layer.weight[..., o:])  # (2 m1, m2, C_in, C_out)
    x_ft = torch.fft.rfft2(x)
    out = torch.zeros(x.shape[0], layer.out_channels, s1, s2 // 2 + 1, dtype=x_ft.dtype)
    for freq in list(range(k1)) + list(range(-k1, 0)):
        row = freq % s1
        w_row = freq if freq >= 0 else 2 * m1 + freq
        out[:, :, row, :k2] = torch.einsum("bik,kio->bok", x_ft[:, :, row, :k2], w[w_row, :k2])
    return torch.fft.irfft2(out, s=(s1, s2))


@pytest.mark.parametrize("method", ["dft", "fft"])
@pytest.mark.parametrize("size", [(32, 32), (17, 20), (6, 6), (10, 8)])
def test_spectral_conv_matches_its_definition(size, method):
    torch.manual_seed(0)
    layer = SpectralConv(3, 4, (5, 4), ndim=2, method=method).double()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(layer(x), _reference_spectral_conv(layer, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ndim, size", [(1, (40,)), (1, (9,)), (3, (10, 9, 12)), (3, (4, 5, 6))])
def test_dft_and_fft_paths_agree_in_1d_and_3d(ndim, size):
    torch.manual_seed(0)
    layer = SpectralConv(3, 2, 4, ndim=ndim, method="dft").double()
    x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    out_dft = layer(x)
    (grad_dft,) = torch.autograd.grad(out_dft.square().sum(), x)
    layer.method = "fft"
    out_fft = layer(x)
    (grad_fft,) = torch.autograd.grad(out_fft.square().sum(), x)
    torch.testing.assert_close(out_dft, out_fft, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_dft, grad_fft, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", ["dft", "fft"])
def test_spectral_conv_is_exactly_resolution_invariant_on_band_limited_fields(method):
    """A band-limited periodic field sampled at 32 and 96 points gives the same output where
    the grids coincide: the layer acts on the function, not on the grid."""
    torch.manual_seed(0)
    layer = SpectralConv(2, 2, 6, ndim=2, method=method).double()

    def field(s):
        t = torch.arange(s, dtype=torch.float64) / s
        x, y = torch.meshgrid(t, t, indexing="ij")
        f1 = torch.sin(2 * math.pi * (3 * x + y)) + torch.cos(2 * math.pi * 5 * y)
        f2 = torch.cos(2 * math.pi * (2 * x - 4 * y))
        return torch.stack([f1, f2])[None]

    coarse, fine = layer(field(32)), layer(field(96))
    torch.testing.assert_close(fine[..., ::3, ::3], coarse, rtol=0, atol=1e-12)


def test_fno_learns_the_1d_poisson_solution_operator_and_generalises_to_finer_grids():
    torch.manual_seed(0)
    model = FNO(1, 1, ndim=1, modes=10, width=16, n_layers=2, grid="periodic")
    f, u = poisson_1d(200, 64, seed=1)
    scale = u.std()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _step in range(300):
        idx = torch.randint(0, 200, (20,))
        loss = (model(f[idx]) * scale - u[idx]).square().mean() / u[idx].square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def rel_error(s):
        f_t, u_t = poisson_1d(50, s, seed=2)
        with torch.no_grad():
            pred = model(f_t) * scale
        return ((pred - u_t).norm(dim=-1) / u_t.norm(dim=-1)).mean().item()

    err_64, err_256 = rel_error(64), rel_error(256)
    assert err_64 < 0.05, err_64
    assert err_256 < 1.5 * err_64 + 0.01, (err_64, err_256)


def test_registry():
    assert "fno" in available()
    with pytest.raises(InvalidInputError, match="unknown model"):
        build("no-such-model")
    with pytest.raises(InvalidInputError, match="fno"):
        build("fno", colour="red")


def test_wrong_input_shape_raises():
    model = FNO(1, 1, ndim=2, modes=4, width=4)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("name", ["fno", "tfno", "mg-tfno", "local-fno"])
def test_coordinates_follow_one_rule_by_default(name):
    """One rule for every FNO-based model and the local models: ``positional_embedding=None``
    means coordinates, except on periodic grids for models with differential kernels (local-fno);
    given, it is obeyed."""
    options = {"ndim": 1, "modes": 4, "width": 8}

    def fno(model):
        return model.inner if name == "mg-tfno" else model  # MG-TFNO wraps the FNO in its patching

    for grid in ("node", "periodic"):
        default = not (grid == "periodic" and name == "local-fno")
        for requested, expected in ((None, default), (True, True), (False, False)):
            model = fno(build(name, grid=grid, positional_embedding=requested, **options))
            assert (model.embedding is not None) is expected, (grid, requested)
            lifted = model.lifting.linear.in_features - (model.in_channels)
            assert lifted == (1 if expected else 0), (grid, requested, lifted)
    integral_only = build("local-fno", grid="periodic", local_kernels=["integral"], **options)
    assert integral_only.embedding is not None  # no differential kernel, no spike: coordinates
    assert build("local-no", ndim=1, grid="periodic").embedding is None
    assert build("local-no", ndim=1, grid="periodic", kernels=["integral"]).embedding is not None


@pytest.mark.parametrize("ndim, size", [(1, (32,)), (2, (16, 12))])
def test_fno_without_coordinates_on_a_periodic_grid_commutes_with_shifts(ndim, size):
    """Spectral convolutions and pointwise maps commute with periodic shifts, so an FNO on a
    periodic grid without coordinates (and padding) is exactly shift-equivariant; the default,
    with coordinates that jump across the wrap, is not (it can see a fixed forcing's position)."""
    torch.manual_seed(0)
    x = torch.randn(2, 1, *size, dtype=torch.float64)
    shift = (3,) * ndim
    dims = tuple(range(2, 2 + ndim))
    model = build("fno", ndim=ndim, grid="periodic", modes=5, width=8, n_layers=2,
                  positional_embedding=False).double()
    with torch.no_grad():
        torch.testing.assert_close(model(torch.roll(x, shift, dims)), torch.roll(model(x), shift, dims),
                                   rtol=1e-12, atol=1e-12)
        model = build("fno", ndim=ndim, grid="periodic", modes=5, width=8, n_layers=2).double()
        gap = (model(torch.roll(x, shift, dims)) - torch.roll(model(x), shift, dims)).abs().max()
        assert gap > 1e-3 * model(x).abs().max()

"""Fourier modes cut to what the training grid resolves: every kept weight is trained there."""

import pytest
import torch

from oplearn.data import load
from oplearn.models.layers.spectral_conv import SpectralConv, resolvable_modes
from oplearn.train import TrainConfig, load_surrogate, train
from oplearn.train.trainer import fit_modes_to_grid


def _mode_gradients(n: int, modes: tuple[int, int]) -> torch.Tensor:
    """Gradient magnitude of each mode's weights (all channels) after one random n x n batch."""
    torch.manual_seed(0)
    conv = SpectralConv(2, 2, modes, 2, method="fft")
    conv(torch.randn(3, 2, n, n)).square().sum().backward()
    return conv.weight.grad.abs().sum(dim=(-2, -1))  # (2 m_lead, m_last)


@pytest.mark.parametrize("n", [8, 9, 16, 17])
def test_resolvable_modes_are_exactly_the_ones_a_grid_trains(n):
    """Every mode ``resolvable_modes`` keeps gets a gradient on an n x n grid. On odd grids one
    more mode per axis adds weights that get none; on even grids it would add the Nyquist mode,
    where one weight stands for two aliased frequencies."""
    lead, last = resolvable_modes((n, n))
    assert bool((_mode_gradients(n, (lead, last)) > 0).all())
    wider = _mode_gradients(n, (lead + 1, last + 1))
    if n % 2:
        assert bool((wider[lead] == 0).all()) and bool((wider[lead + 1] == 0).all())  # +lead, -(lead+1)
        assert bool((wider[:, last] == 0).all())
    else:  # the extra leading weight sits on the Nyquist frequency -n/2 = n/2, and is trained there
        assert 2 * lead + 2 == n and bool((wider[lead + 1] > 0).all())


@pytest.mark.filterwarnings("ignore:fno. modes")
def test_fno_modes_are_cut_to_the_grid_and_left_alone_where_they_fit():
    config = TrainConfig(model="fno", model_kwargs={"modes": 12, "width": 8})
    assert fit_modes_to_grid(config, (16, 16)).model_kwargs == {"modes": [7, 8], "width": 8}
    assert fit_modes_to_grid(config, (33, 33)) is config
    padded = TrainConfig(model="fno", model_kwargs={"modes": 12, "padding": 0.25})  # 16 -> 20 points
    with pytest.warns(UserWarning, match=r"cut to \[9, 10\].*20 x 20"):
        assert fit_modes_to_grid(padded, (16, 16)).model_kwargs["modes"] == [9, 10]
    assert fit_modes_to_grid(TrainConfig(model="fno", model_kwargs={}), (9,)).model_kwargs == {"modes": [5]}
    assert fit_modes_to_grid(TrainConfig(model="unet", model_kwargs={}), (16, 16)).model_kwargs == {}
    patches = TrainConfig(model="mg-tfno", model_kwargs={"modes": 12})
    assert fit_modes_to_grid(patches, (16, 16)) is patches


def test_a_run_at_coarse_resolution_records_and_reloads_the_cut_modes(tmp_path, make_h5):
    train_set, test_set = load(make_h5(n=12, s=9)).split(8)
    config = TrainConfig(epochs=1, batch_size=4, model_kwargs={"modes": 12, "width": 8, "n_layers": 1,
                                                               "projection_channels": 8})
    report = train(config, train_set, {"9": test_set}, tmp_path / "run", progress=False, figures=False)
    assert report["config"]["model_kwargs"]["modes"] == [4, 5]
    surrogate, _ = load_surrogate(tmp_path / "run")
    assert surrogate.predict(test_set.inputs).shape == test_set.outputs.shape

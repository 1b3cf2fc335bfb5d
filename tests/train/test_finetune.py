"""Fine-tuning (`train(init=RUN_DIR)`, `oplearn train --init`): a run starts from a trained run's
architecture, weights and normalisers, and refuses one trained on other channels."""

import pytest
import torch

from oplearn.data.dataset import FieldDataset
from oplearn.errors import DataFileError, InvalidInputError
from oplearn.train import TrainConfig, load_surrogate, train

SMALL = {"modes": 4, "width": 8, "n_layers": 1}


def _data(n=16, channels_in=1, seed=0):
    """Smooth periodic fields (wave numbers 1..3) and their shift by one point, doubled."""
    gen = torch.Generator().manual_seed(seed)
    grid = torch.arange(16) * 2 * torch.pi / 16
    a = torch.randn(n, channels_in, 3, 1, generator=gen)
    x = (a * torch.sin(torch.arange(1, 4)[:, None] * grid + a)).sum(2)
    return FieldDataset(x, 2 * x[:, :1].roll(1, dims=-1), {"grid": "periodic", "pde": "shift"})


def test_a_fine_tuned_run_starts_from_the_trained_weights_and_architecture(tmp_path):
    data, test = _data(), _data(8, seed=1)
    first = train(TrainConfig(epochs=30, batch_size=4, lr=1e-2, model_kwargs=SMALL), data, {"16": test}, tmp_path / "a",
                  progress=False, figures=False)
    # another width in the config: the architecture is the trained run's; a tiny lr leaves its weights
    tuned = train(TrainConfig(epochs=1, batch_size=8, lr=1e-12, model_kwargs={"modes": 4, "width": 32}),
                  _data(4, seed=2), {"16": test}, tmp_path / "b", progress=False, figures=False, init=tmp_path / "a")
    assert tuned["config"]["model_kwargs"] == first["config"]["model_kwargs"] and tuned["init"] == str(tmp_path / "a")
    assert tuned["test_rel_l2"]["16"] == pytest.approx(first["test_rel_l2"]["16"], rel=1e-5)
    a, _ = load_surrogate(tmp_path / "a")
    b, _ = load_surrogate(tmp_path / "b")
    assert torch.equal(a.normalizer_out.mean, b.normalizer_out.mean)  # the trained run's normalisation
    scratch = train(TrainConfig(epochs=1, batch_size=8, lr=1e-12, model_kwargs=SMALL), _data(4, seed=2),
                    {"16": test}, tmp_path / "c", progress=False, figures=False)
    assert first["test_rel_l2"]["16"] < 0.3 < scratch["test_rel_l2"]["16"]


def test_init_from_a_run_on_other_channels_or_no_run_is_refused(tmp_path):
    train(TrainConfig(epochs=1, batch_size=8, model_kwargs=SMALL), _data(), {}, tmp_path / "a", progress=False,
          figures=False)
    with pytest.raises(InvalidInputError, match="in_channels = 1, these data have 2"):
        train(TrainConfig(epochs=1), _data(channels_in=2), {}, tmp_path / "b", progress=False, init=tmp_path / "a")
    with pytest.raises(DataFileError, match="not a training run directory"):
        train(TrainConfig(epochs=1), _data(), {}, tmp_path / "c", progress=False, init=tmp_path / "nothing")
    node = _data()
    node.provenance["grid"] = "node"
    with pytest.raises(InvalidInputError, match="grid = periodic, these data have node"):
        train(TrainConfig(epochs=1), node, {}, tmp_path / "d", progress=False, init=tmp_path / "a")
    assert not any((tmp_path / name).exists() for name in ("b", "c", "d"))


def test_a_fine_tuning_run_resumes_from_its_own_checkpoint_only(tmp_path):
    config = TrainConfig(epochs=1, batch_size=8, model_kwargs=SMALL)
    train(config, _data(), {}, tmp_path / "a", progress=False, figures=False)
    train(config, _data(), {}, tmp_path / "other", progress=False, figures=False)
    tuned = TrainConfig(epochs=2, batch_size=8, model_kwargs=SMALL)
    train(TrainConfig(epochs=1, batch_size=8), _data(4, seed=2), {}, tmp_path / "b", progress=False, figures=False,
          init=tmp_path / "a")
    with pytest.raises(InvalidInputError, match="give the same --init or none"):
        train(tuned, _data(4, seed=2), {}, tmp_path / "b", resume=True, progress=False, init=tmp_path / "other")
    report = train(tuned, _data(4, seed=2), {}, tmp_path / "b", resume=True, progress=False, figures=False,
                   init=tmp_path / "a")
    assert report["init"] == str(tmp_path / "a") and report["epochs"] == 1  # the checkpoint's configuration wins

"""Trainer: outputs of a run, exact resume after an interruption, divergence handling."""

import json

import pytest
import torch

from oplearn.data import load
from oplearn.errors import InvalidInputError, TrainingDivergedError
from oplearn.train import TrainConfig, load_surrogate, train
from oplearn.train import trainer as trainer_module

SMALL = {"modes": 4, "width": 8, "n_layers": 2, "projection_channels": 16}


def _data(make_h5):
    data = load(make_h5(n=24, s=17))
    return data.split(16)


def test_run_directory_holds_checkpoint_metrics_report_and_figures(tmp_path, make_h5):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=3, batch_size=4, model_kwargs=SMALL)
    report = train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    saved = json.loads((run / "report.json").read_text())
    assert saved["test_rel_l2"].keys() == {"17"} and saved["parameters"] == report["parameters"] > 0
    assert saved["train_seconds"] > 0
    assert (run / "predictions_s17.png").stat().st_size > 0 and (run / "curves.png").exists()
    surrogate, ckpt = load_surrogate(run)
    assert ckpt["epoch"] == 3 and "optimizer" in ckpt and "scheduler" in ckpt and "rng" in ckpt
    # training on a smooth linear map must reduce the loss
    history = [json.loads(line) for line in lines]
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_resume_after_interruption_reaches_the_same_model(tmp_path, make_h5, monkeypatch):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=4, batch_size=4, model_kwargs=SMALL, scheduler="step", step_size=1)
    train(config, train_set, {"17": test_set}, tmp_path / "straight", progress=False, figures=False)

    calls = {"n": 0}
    real_save = trainer_module.save_jsonl

    def interrupt_after_two_epochs(rows, path):
        real_save(rows, path)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_jsonl", interrupt_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        train(config, train_set, {"17": test_set}, tmp_path / "resumed", progress=False, figures=False)
    monkeypatch.setattr(trainer_module, "save_jsonl", real_save)
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["epoch"] == 2
    train(config, train_set, {"17": test_set}, tmp_path / "resumed", resume=True, progress=False,
          figures=False)

    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path, make_h5, monkeypatch):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=5, batch_size=4, model_kwargs=SMALL)
    real_loss = trainer_module.LOSSES["l2"]
    calls = {"n": 0}

    def loss_turning_nan(pred, true, **kw):
        calls["n"] += 1
        value = real_loss(pred, true, **kw)
        return value * float("nan") if calls["n"] > 8 else value  # epoch 3 (4 batches per epoch)

    monkeypatch.setitem(trainer_module.LOSSES, "l2", loss_turning_nan)
    with pytest.raises(TrainingDivergedError, match="epoch 3"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_matches_the_cpu_surrogate(tmp_path, make_h5):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=2, batch_size=4, model_kwargs=SMALL)
    report = train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False,
                   figures=False, device="cuda")
    assert report["device"].startswith("cuda")
    surrogate, _ = load_surrogate(tmp_path / "run")
    cpu_pred = surrogate.predict(test_set.inputs)
    gpu_pred = surrogate.to("cuda").predict(test_set.inputs)
    assert gpu_pred.device.type == "cpu"
    torch.testing.assert_close(gpu_pred, cpu_pred, rtol=1e-3, atol=1e-4)


def test_resume_refuses_different_data(tmp_path, make_h5):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=1, batch_size=4, model_kwargs=SMALL)
    train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False, figures=False)
    with pytest.raises(InvalidInputError, match="other data"):
        train(config, train_set.take(8), {"17": test_set}, tmp_path / "run", resume=True,
              progress=False, figures=False)


def test_resume_with_optimiser_state_of_other_parameters_fails_clearly(tmp_path, make_h5):
    """A checkpoint whose optimiser state lists other parameters (a model that changed since,
    such as MgNO before its unused coarsest kernel was dropped) is refused in one line."""
    from oplearn.errors import DataFileError

    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=2, batch_size=4, model_kwargs=SMALL)
    train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False, figures=False)
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=False)
    ckpt["epoch"] = 1
    ckpt["optimizer"]["param_groups"][0]["params"].append(10_000)  # one parameter more than now
    torch.save(ckpt, path)
    with pytest.raises(DataFileError, match="optimiser state does not match"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False,
              figures=False)

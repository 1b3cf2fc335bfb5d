"""Trainer: outputs of a run, exact resume after an interruption, divergence handling."""

import json

import pytest
import torch

from oplearn.data import load
from oplearn.errors import InvalidInputError, TrainingDivergedError
from oplearn.train import TrainConfig, load_surrogate, train
from oplearn.train import trainer as trainer_module
from oplearn.train.io import load_checkpoint, save_checkpoint

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
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["epoch"] == 2
    train(config, train_set, {"17": test_set}, tmp_path / "resumed", resume=True, progress=False,
          figures=False)

    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
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
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
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
    ckpt = load_checkpoint(path)
    ckpt["epoch"] = 1
    ckpt["optimizer"]["param_groups"][0]["params"].append(10_000)  # one parameter more than now
    save_checkpoint(ckpt, path)  # with a matching digest: what an older model's run would have saved
    with pytest.raises(DataFileError, match="optimiser state does not match"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False,
              figures=False)


class _RunsCodeWhenUnpickled:
    """An object whose unpickling would create ``marker``: what a crafted checkpoint can hold."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_checkpoint_is_refused_without_running_its_code(tmp_path, make_h5):
    from oplearn.cli import main
    from oplearn.errors import DataFileError

    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=1, batch_size=4, model_kwargs=SMALL)
    train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False, figures=False)
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, weights_only=True)
    marker = tmp_path / "code_ran"
    ckpt["history"].append(_RunsCodeWhenUnpickled(marker))
    torch.save(ckpt, path)
    with pytest.raises(DataFileError, match="refused: it holds objects other than tensors"):
        load_surrogate(tmp_path / "run")
    with pytest.raises(DataFileError, match="refused"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False)
    assert main(["evaluate", str(tmp_path / "run"), "--data", str(make_h5(n=24, s=17))]) == 2
    assert not marker.exists()


def test_resume_refuses_other_data_of_the_same_shape(tmp_path, make_h5):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=1, batch_size=4, model_kwargs=SMALL)
    train(config, train_set, {"17": test_set}, tmp_path / "run", progress=False, figures=False)
    other = type(train_set)(train_set.inputs, train_set.outputs * 1.001, train_set.provenance)
    with pytest.raises(InvalidInputError, match="other data .* sha256"):
        train(config, other, {"17": test_set}, tmp_path / "run", resume=True, progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["data_fingerprint"]["sha256"] == trainer_module.data_fingerprint(train_set)["sha256"]
    del ckpt["data_fingerprint"], ckpt["content_sha256"]  # an older version's checkpoint: cannot be checked
    torch.save(ckpt, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(InvalidInputError, match="records no fingerprint"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False)


def test_checkpoint_keeps_and_restores_the_cuda_rng_states(tmp_path, make_h5, monkeypatch):
    """The CUDA generators' states are saved and restored with the CPU's (checked here with a
    stand-in for two CUDA devices; tests/pdes/test_cuda_solvers.py has no GPU trainer test)."""
    states = [torch.tensor([1, 2], dtype=torch.uint8), torch.tensor([3], dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: states)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=2, batch_size=4, model_kwargs=SMALL)
    train(config.__class__(**{**config.to_dict(), "epochs": 1}), train_set, {"17": test_set},
          tmp_path / "run", progress=False, figures=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert [t.tolist() for t in ckpt["rng"]["cuda"]] == [[1, 2], [3]]
    train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False,
          figures=False)
    assert [[t.tolist() for t in call] for call in restored] == [[[1, 2], [3]]]
    ckpt["epoch"] = 1
    torch.save(ckpt, tmp_path / "run" / "checkpoint.pt")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # resumed where fewer GPUs are seen
    with pytest.warns(UserWarning, match="random states of 2 CUDA devices, this process sees 1"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False,
              figures=False)
    assert len(restored) == 1


class _Pointwise(torch.nn.Module):
    """A user's own model: two pointwise convolutions."""

    def __init__(self, out_channels=1):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 1), torch.nn.GELU(),
                                       torch.nn.Conv2d(8, out_channels, 1))

    def forward(self, x):
        return self.net(x)


def test_train_takes_a_model_the_user_built(tmp_path, make_h5):
    from oplearn.errors import DataFileError

    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=2, batch_size=4)
    torch.manual_seed(0)
    report = train(config, train_set, {"17": test_set}, tmp_path / "run", model=_Pointwise(),
                   progress=False, figures=False)
    assert report["model"] == "custom" and report["parameters"] == 8 + 8 + 8 + 1
    with pytest.raises(DataFileError, match="pass that model"):
        load_surrogate(tmp_path / "run")
    surrogate, _ = load_surrogate(tmp_path / "run", model=_Pointwise())
    assert surrogate.predict(test_set.inputs).shape == test_set.outputs.shape
    with pytest.raises(InvalidInputError, match="pass the same model"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", resume=True, progress=False)
    with pytest.raises(InvalidInputError, match="parameters do not fit the model"):
        train(config, train_set, {"17": test_set}, tmp_path / "run", model=torch.nn.Conv2d(1, 1, 1),
              resume=True, progress=False)
    with pytest.raises(InvalidInputError, match=r"maps \(1, 1, 17, 17\) to \(1, 2, 17, 17\)"):
        train(config, train_set, {"17": test_set}, tmp_path / "bad", model=_Pointwise(2), progress=False)
    assert not (tmp_path / "bad").exists()


def test_training_plan_checks_and_builds_without_writing(tmp_path, make_h5):
    train_set, test_set = _data(make_h5)
    plan = trainer_module.plan_training(TrainConfig(epochs=1, batch_size=4, model_kwargs=SMALL),
                                        train_set, {"17": test_set}, tmp_path / "run")
    assert not (tmp_path / "run").exists() and plan.checkpoint is None
    assert trainer_module.count_parameters(plan.model) > 0 and plan.spec["in_channels"] == 1
    with pytest.raises(InvalidInputError, match="has no option 'colour'"):
        trainer_module.plan_training(TrainConfig(model_kwargs={"colour": 1}), train_set, {}, tmp_path / "r")
    with pytest.raises(InvalidInputError, match="set by the data"):
        trainer_module.plan_training(TrainConfig(model_kwargs={"ndim": 1}), train_set, {}, tmp_path / "r")
    state = trainer_module._initial_state(plan, train_set)
    state = trainer_module.execute_training(plan, state, train_set, {"17": test_set}, progress=False)
    assert state.epoch == 1 and (tmp_path / "run" / "checkpoint.pt").exists()
    assert not (tmp_path / "run" / "report.json").exists()
    report = trainer_module.assemble_report(plan, state, train_set, {"17": test_set}, figures=False)
    assert report["epochs"] == 1 and (tmp_path / "run" / "report.json").exists()


def test_an_interrupted_run_of_a_user_built_model_resumes_to_the_same_weights(tmp_path, make_h5,
                                                                             monkeypatch):
    train_set, test_set = _data(make_h5)
    config = TrainConfig(epochs=3, batch_size=4)
    torch.manual_seed(1)
    straight = _Pointwise()
    start = {k: v.clone() for k, v in straight.state_dict().items()}
    train(config, train_set, {"17": test_set}, tmp_path / "straight", model=straight, progress=False,
          figures=False)
    real_save = trainer_module.save_jsonl

    def interrupt_after_one_epoch(rows, path):
        real_save(rows, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_jsonl", interrupt_after_one_epoch)
    first = _Pointwise()
    first.load_state_dict(start)
    with pytest.raises(KeyboardInterrupt):
        train(config, train_set, {"17": test_set}, tmp_path / "resumed", model=first, progress=False)
    monkeypatch.setattr(trainer_module, "save_jsonl", real_save)
    train(config, train_set, {"17": test_set}, tmp_path / "resumed", model=_Pointwise(), resume=True,
          progress=False, figures=False)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert b["epoch"] == 3 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])

"""A training run survives what kills jobs on clusters: SIGKILL at any moment (resume reaches the
uninterrupted run's final metrics), and a checkpoint truncated or altered on disk (detected by its
digest; the previous one, always kept, is used instead)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from oplearn.data import load
from oplearn.errors import DataFileError
from oplearn.train import TrainConfig, train
from oplearn.train import trainer as trainer_module
from oplearn.train.io import content_digest, load_checkpoint, previous_checkpoint, save_checkpoint

SMALL = {"modes": 4, "width": 8, "n_layers": 2, "projection_channels": 16}


def _final(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)


def test_saves_keep_the_previous_checkpoint_and_detect_altered_bytes(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"epoch": 1, "w": torch.arange(1000.0)}, path)
    save_checkpoint({"epoch": 2, "w": torch.arange(1000.0) + 1}, path)
    assert load_checkpoint(path)["epoch"] == 2 and load_checkpoint(previous_checkpoint(path))["epoch"] == 1
    blob = bytearray(path.read_bytes())
    start = blob.index(torch.tensor(500.0 + 1).numpy().tobytes())  # a byte inside the tensor data
    blob[start] ^= 0x01
    path.write_bytes(bytes(blob))
    assert torch.load(path, weights_only=True)["epoch"] == 2  # torch itself loads it without a word
    with pytest.raises(DataFileError, match="does not match its digest"):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match="checkpoint.prev.pt"):
        assert load_checkpoint(path, fall_back=True)["epoch"] == 1
    assert content_digest({"a": 1, "b": [torch.ones(2)]}) == content_digest({"b": [torch.ones(2)], "a": 1})


def test_any_flipped_bit_in_the_record_structure_is_a_data_error_or_harmless(tmp_path):
    """Damaged pickle bytes fail in many ways inside the unpickler (IndexError, KeyError, ...);
    every one is reported as a corrupt checkpoint, so a resume can fall back."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"epoch": 1, "history": [{"loss": 0.5}], "w": torch.arange(4.0)}, path)
    blob = path.read_bytes()
    outcomes = set()
    for position in range(0, min(len(blob), 700)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x10
        path.write_bytes(bytes(damaged))
        try:
            load_checkpoint(path)
            outcomes.add("loaded")
        except DataFileError:
            outcomes.add("refused")
    assert "refused" in outcomes


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_resume_from_a_damaged_checkpoint_uses_the_previous_one_and_ends_the_same(tmp_path, make_h5, damage,
                                                                                   monkeypatch):
    train_set, test_set = load(make_h5(n=24, s=17)).split(16)
    config = TrainConfig(epochs=4, batch_size=4, model_kwargs=SMALL, scheduler="step", step_size=1)
    train(config, train_set, {"17": test_set}, tmp_path / "straight", progress=False, figures=False)
    run = tmp_path / "damaged"
    real_save = trainer_module.save_jsonl

    def stop_after_three_epochs(rows, path):
        real_save(rows, path)
        if len(rows) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_jsonl", stop_after_three_epochs)
    with pytest.raises(KeyboardInterrupt):
        train(config, train_set, {"17": test_set}, run, progress=False, figures=False)
    monkeypatch.setattr(trainer_module, "save_jsonl", real_save)
    blob = bytearray((run / "checkpoint.pt").read_bytes())  # epoch 3; the previous one holds epoch 2
    if damage == "truncated":
        blob = blob[: len(blob) // 2]
    else:
        weights = _final(run)["model"]
        key = next(k for k, v in weights.items() if v.numel() >= 4)
        blob[blob.index(weights[key].numpy().tobytes()[:16])] ^= 0x40
    (run / "checkpoint.pt").write_bytes(bytes(blob))
    with pytest.warns(UserWarning, match="corrupt checkpoint"):
        train(config, train_set, {"17": test_set}, run, resume=True, progress=False, figures=False)
    a, b = _final(tmp_path / "straight"), _final(run)
    assert b["epoch"] == 4 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [r["train_loss"] for r in a["history"]] == [r["train_loss"] for r in b["history"]]
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]


def test_sigkill_during_training_then_resume_reaches_the_same_final_metrics(tmp_path, make_h5):
    data = make_h5(n=40, s=17)
    command = [sys.executable, "-m", "oplearn.cli", "train", "--data", str(data), "--model", "fno",
               "--modes", "4", "--width", "8", "--layers", "2", "--epochs", "60", "--batch-size", "4",
               "--quiet", "--out"]
    subprocess.run(command + [str(tmp_path / "clean")], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    run = tmp_path / "killed"
    proc = subprocess.Popen(command + [str(run)], env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not previous_checkpoint(run / "checkpoint.pt").exists():
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = load_checkpoint(run / "checkpoint.pt", fall_back=True)["epoch"]
    assert 2 <= killed_at < 60 and not (run / "report.json").exists()
    subprocess.run(command + [str(run), "--resume"], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    clean, resumed = (json.loads((d / "report.json").read_text()) for d in (tmp_path / "clean", run))
    assert resumed["epochs"] == clean["epochs"] == 60
    assert resumed["test_rel_l2"] == clean["test_rel_l2"] and resumed["train_loss"] == clean["train_loss"]

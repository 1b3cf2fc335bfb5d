"""Data-parallel training with two Gloo processes on a CPU: the same optimisation as one process
(to float32 rounding), and a run whose processes are all killed resumes with another number of
processes to the same final metrics."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from oplearn.train.distributed import Processes
from oplearn.train.io import load_checkpoint, previous_checkpoint


@pytest.mark.parametrize("size", [1, 2, 5, 7])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_shares_cover_the_batch_once_and_weights_average_to_the_batch_mean(size, world):
    batch = torch.arange(100, 100 + size)
    shares = [Processes(rank, world).share(batch) for rank in range(world)]
    taken = torch.cat([idx for idx, weight in shares if weight])
    assert torch.equal(taken, batch)
    losses = torch.rand(size, dtype=torch.float64)  # per-sample losses: each share's mean, weighted
    averaged = sum(weight * float(losses[idx - 100].mean()) for idx, weight in shares) / world
    assert averaged == pytest.approx(float(losses.mean()), rel=1e-12)


def _command(data, epochs, *extra):
    return [sys.executable, "-m", "oplearn", "train", "--data", str(data), "--model", "fno", "--modes", "4",
            "--width", "8", "--layers", "2", "--epochs", str(epochs), "--batch-size", "5", "--lr", "1e-2",
            "--quiet", *extra]


def _running_with(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="ignore"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _run(command):
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]


def _assert_same_training(a_dir, b_dir):
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (a_dir, b_dir))
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-4, atol=1e-6)
    losses = [[row["train_loss"] for row in c["history"]] for c in (a, b)]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    assert losses[0][-1] < 0.9 * losses[0][0]  # it learned something: the comparison means something
    reports = [json.loads((d / "report.json").read_text()) for d in (a_dir, b_dir)]
    assert reports[0]["test_rel_l2"]["17"] == pytest.approx(reports[1]["test_rel_l2"]["17"], rel=1e-4)
    return reports


def test_two_processes_take_the_same_steps_as_one(tmp_path, make_h5):
    data = make_h5(n=41)
    _run(_command(data, 6, "--out", str(tmp_path / "one")))
    _run(_command(data, 6, "--out", str(tmp_path / "two"), "--nproc", "2"))
    one, two = _assert_same_training(tmp_path / "one", tmp_path / "two")
    assert two["processes"] == 2 and "processes" not in one
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.suffix != ".png") == \
        ["checkpoint.prev.pt", "checkpoint.pt", "metrics.jsonl", "report.json"]  # one writer


def test_all_processes_killed_then_resumed_with_one_reaches_the_same_end(tmp_path, make_h5):
    data = make_h5(n=41)
    epochs = 40
    _run(_command(data, epochs, "--out", str(tmp_path / "clean")))
    run = tmp_path / "killed"
    proc = subprocess.Popen(_command(data, epochs, "--out", str(run), "--nproc", "2"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not previous_checkpoint(run / "checkpoint.pt").exists():
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # oplearn and torchrun; the ranks, in sessions of their own, follow
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and _running_with(str(run)):
        time.sleep(0.05)
    assert not _running_with(str(run)), "ranks outlived their launcher"
    killed_at = load_checkpoint(run / "checkpoint.pt", fall_back=True)["epoch"]
    assert 2 <= killed_at < epochs and not (run / "report.json").exists()
    _run(_command(data, epochs, "--out", str(run), "--resume"))  # one process now
    _assert_same_training(tmp_path / "clean", run)

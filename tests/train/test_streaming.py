"""Training from data read on demand: the same run as from memory (the same fingerprint, so either
resumes the other), and a dataset far larger than the process's memory trains."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from oplearn.data import load
from oplearn.data.hdf5 import FORMAT, write_file
from oplearn.data.stream import open_streamed
from oplearn.errors import DataFileError
from oplearn.train import TrainConfig, train
from oplearn.train.normalizer import ChannelNormalizer
from oplearn.train.trainer import data_fingerprint

SMALL = {"modes": 4, "width": 8, "n_layers": 2, "projection_channels": 16}
BASE = {"pde": "toy", "params": {}, "grid": "node", "ndim": 2, "resolution": 17, "seed": 0}


def _shards(tmp_path, n=30, time_steps=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 1, 17, 17)).astype(np.float32)
    y = np.cumsum(x, axis=-1) / 17
    if time_steps:
        y = np.stack([y * (t + 1) for t in range(time_steps)], axis=1)  # (N, T, C, *S)
    cut = n // 3
    files = []
    for k, (a, b) in enumerate([(0, cut), (cut, n)]):
        path = tmp_path / f"s{k}.h5"
        write_file(path, x[a:b], y[a:b], {**BASE, "samples_total": n,
                                          "shard": {"index": k, "count": 2, "start": a, "stop": b}})
        files.append(path)
    return files


@pytest.mark.parametrize("time_steps", [None, 3])
def test_lazy_fields_read_what_load_reads(tmp_path, time_steps):
    files = _shards(tmp_path, time_steps=time_steps)
    whole, lazy = load(files, 2), open_streamed(files, 2)
    assert lazy.inputs.shape == tuple(whole.inputs.shape) and lazy.outputs.shape == tuple(whole.outputs.shape)
    assert lazy.provenance == whole.provenance
    idx = torch.tensor([25, 3, 3, 11, 0])  # unsorted, repeated, across both files
    assert torch.equal(lazy.inputs[idx], whole.inputs[idx]) and torch.equal(lazy.outputs[idx], whole.outputs[idx])
    head, tail = lazy.split(12)
    assert torch.equal(tail.outputs[torch.tensor([0, 17])], whole.outputs[torch.tensor([12, 29])])
    assert torch.equal(torch.cat(list(lazy.inputs.blocks(block_bytes=1000))), whole.inputs)
    assert data_fingerprint(lazy) == data_fingerprint(whole)
    fitted, streamed = ChannelNormalizer.fit(whole.outputs), ChannelNormalizer.fit_blocks(lazy.outputs.blocks(1000))
    torch.testing.assert_close(streamed.mean, fitted.mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(streamed.std, fitted.std, rtol=1e-5, atol=0)


def test_a_single_generated_file_has_the_fingerprint_of_its_load_and_nan_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 1, 9, 9)).astype(np.float32)
    shard = {"index": 0, "count": 1, "start": 0, "stop": 10}  # what `oplearn generate` records
    write_file(tmp_path / "one.h5", x, x, {**BASE, "resolution": 9, "samples_total": 10, "shard": shard})
    assert data_fingerprint(open_streamed(tmp_path / "one.h5")) == data_fingerprint(load(tmp_path / "one.h5"))
    x[9, 0, 4, 4] = np.nan  # in the part a run holds out for testing
    write_file(tmp_path / "nan.h5", x, x, {**BASE, "resolution": 9, "samples_total": 10})
    _, held = open_streamed(tmp_path / "nan.h5").split(9)
    with pytest.raises(DataFileError, match="NaN"):
        held.load()


def test_streamed_training_matches_training_from_memory(tmp_path):
    files = _shards(tmp_path)
    config = TrainConfig(epochs=3, batch_size=4, model_kwargs=SMALL)
    whole, lazy = load(files).split(24), open_streamed(files).split(24)
    a = train(config, whole[0], {"17": whole[1]}, tmp_path / "memory", progress=False, figures=False)
    b = train(config, lazy[0], {"17": lazy[1].load()}, tmp_path / "stream", progress=False, figures=False)
    assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    assert a["test_rel_l2"]["17"] == pytest.approx(b["test_rel_l2"]["17"], rel=1e-5)
    assert a["data_sha256"] == b["data_sha256"]


# VmHWM, the peak resident memory of this program since it started (ru_maxrss would also count
# the forked copy of the parent before exec: the whole pytest process)
MEASURE = """
import json, sys
from oplearn.cli import main
code = main(sys.argv[1:])
status = open("/proc/self/status").read()
print(json.dumps({"code": code, "peak_kb": int(status.split("VmHWM:")[1].split()[0])}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc/self/status")
def test_a_dataset_larger_than_the_process_memory_trains(tmp_path):
    """1.5 GB of training inputs (compressed on disk to a few MB); the training process, reading
    the batches itself, stays far below that in resident memory, where loading would need it all."""
    n, channels, s = 1536, 1024, 16
    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = FORMAT
        h5.attrs["provenance"] = json.dumps({**BASE, "resolution": s, "samples_total": n})
        inputs = h5.create_dataset("inputs", (n, channels, s, s), "f4", chunks=(4, channels, s, s),
                                   compression="gzip", compression_opts=1)
        outputs = h5.create_dataset("outputs", (n, 1, s, s), "f4", chunks=(4, 1, s, s), compression="gzip")
        levels = np.random.default_rng(0).standard_normal((n, channels)).astype(np.float32)
        for start in range(0, n, 128):
            block = np.broadcast_to(levels[start:start + 128, :, None, None], (min(128, n - start), channels, s, s))
            inputs[start:start + 128] = block
            outputs[start:start + 128] = block.mean(axis=1, keepdims=True)
    dataset_mb = n * channels * s * s * 4 / 2 ** 20
    assert path.stat().st_size < 0.05 * dataset_mb * 2 ** 20
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, "train", "--data", str(path), "--stream", "--model", "fno", "--modes", "4",
         "--width", "8", "--layers", "1", "--epochs", "1", "--batch-size", "16", "--stream-workers", "0", "--quiet", "--out", str(out)],
        check=True, capture_output=True, text=True)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["code"] == 0 and json.loads((out / "report.json").read_text())["train_samples"] > 1300
    peak_mb = measured["peak_kb"] / 1024  # one process: it reads the batches itself
    assert peak_mb < 0.6 * dataset_mb, (measured, dataset_mb)
    print(f"peak resident memory {peak_mb:.0f} MB, training inputs {dataset_mb:.0f} MB")

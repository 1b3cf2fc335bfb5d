"""Shards of independent generation jobs: `verify` accepts exactly the sets that make one whole
dataset, and `merge` writes the very file a single job writes (same bytes), streaming, atomically."""

import numpy as np
import pytest

from oplearn.cli import main
from oplearn.data import shards as shard_module
from oplearn.data.generation import generate
from oplearn.data.hdf5 import write_file
from oplearn.data.shards import merge, verify
from oplearn.errors import DataFileError, InvalidInputError

BASE = {"pde": "p", "params": {}, "grid": "node", "ndim": 2, "resolution": 4, "seed": 1, "samples_total": 6}


def _shard(path, x, k, n, start, stop, **changes):
    write_file(path, x[start:stop], 2 * x[start:stop],
               {**BASE, **changes, "shard": {"index": k, "count": n, "start": start, "stop": stop}})
    return path


@pytest.fixture
def parts(tmp_path):
    x = np.arange(6 * 16, dtype=np.float32).reshape(6, 1, 4, 4)
    return x, [_shard(tmp_path / "a.h5", x, 0, 3, 0, 2), _shard(tmp_path / "b.h5", x, 1, 3, 2, 4),
               _shard(tmp_path / "c.h5", x, 2, 3, 4, 6)]


def test_merge_of_generated_shards_is_the_file_one_job_writes(tmp_path, monkeypatch):
    whole = generate("darcy", samples=7, resolution=9, seed=0, out=tmp_path / "whole.h5", progress=False).path
    files = [generate("darcy", samples=7, resolution=9, seed=0, out=tmp_path / f"s{k}.h5", shard=(k, 3),
                      progress=False).path for k in (2, 0, 1)]  # any order
    monkeypatch.setattr(shard_module, "BLOCK_BYTES", 1)  # one sample per block: the streaming path
    result = merge(files, tmp_path / "merged.h5")
    assert result.samples == 7 and result.ranges == ((0, 2), (2, 4), (4, 7))
    assert (tmp_path / "merged.h5").read_bytes() == whole.read_bytes()
    again = generate("darcy", samples=7, resolution=9, seed=0, out=tmp_path / "merged.h5", progress=False)
    assert again.path == tmp_path / "merged.h5"  # generate sees the merged file as complete


def test_verify_accepts_a_whole_set_and_names_what_is_wrong_otherwise(tmp_path, parts):
    x, files = parts
    assert verify(files[::-1]).ranges == ((0, 2), (2, 4), (4, 6))
    with pytest.raises(DataFileError, match="samples 2..3 of 6 are missing"):
        verify([files[0], files[2]])
    with pytest.raises(DataFileError, match="samples 4..5 of 6 are missing"):
        verify(files[:2])
    with pytest.raises(DataFileError, match="overlap"):
        verify(files + [_shard(tmp_path / "d.h5", x, 1, 2, 3, 6)])
    with pytest.raises(DataFileError, match="seed differs"):
        verify([files[0], files[1], _shard(tmp_path / "e.h5", x, 2, 3, 4, 6, seed=2)])
    with pytest.raises(InvalidInputError, match="twice"):
        verify([files[0], files[0]])
    bad = x.copy()
    bad[5, 0, 1, 1] = np.nan
    with pytest.raises(DataFileError, match="c_nan.h5: inputs contain NaN"):
        verify(files[:2] + [_shard(tmp_path / "c_nan.h5", bad, 2, 3, 4, 6)])
    write_file(tmp_path / "grid.h5", x[4:], x[4:, :, :2, :2], {**BASE, "shard": {"index": 2, "count": 3, "start": 4,
                                                                          "stop": 6}})
    with pytest.raises(DataFileError, match="do not match"):
        verify(files[:2] + [tmp_path / "grid.h5"])
    truncated = tmp_path / "t.h5"
    truncated.write_bytes(files[2].read_bytes()[:500])
    with pytest.raises(DataFileError, match="t.h5"):
        verify(files[:2] + [truncated])


def test_a_failed_merge_leaves_no_file(tmp_path, parts):
    x, files = parts
    bad = x.copy()
    bad[4] = np.inf
    nan_shard = _shard(tmp_path / "inf.h5", bad, 2, 3, 4, 6)
    with pytest.raises(DataFileError, match="NaN or inf"):
        merge(files[:2] + [nan_shard], tmp_path / "out.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "c.h5", "inf.h5"]
    merge(files, tmp_path / "out.h5")
    with pytest.raises(InvalidInputError, match="exists"):
        merge(files, tmp_path / "out.h5")


def test_cli_verify_and_merge(tmp_path, capsys, parts):
    _, files = parts
    assert main(["data", "verify", *map(str, files)]) == 0
    assert "ok: 6 samples of p in 3 file(s)" in capsys.readouterr().out
    assert main(["data", "verify", str(files[0])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("oplearn: error:") and "missing" in err[0]
    out = tmp_path / "all.h5"
    assert main(["data", "merge", *map(str, files), "--out", str(out)]) == 0
    assert main(["data", "verify", str(out)]) == 0
    assert main(["data", "merge", str(files[0]), "--out", str(tmp_path / "x.h5")]) == 2
    assert not (tmp_path / "x.h5").exists()

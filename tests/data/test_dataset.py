"""Loading datasets: oplearn HDF5 (single and sharded), neuraloperator .pt, bad files."""

import numpy as np
import pytest
import torch

from oplearn.data import load, subsample
from oplearn.data.hdf5 import write_file
from oplearn.errors import DataFileError, InvalidInputError


def test_neuraloperator_darcy_file_maps_mask_to_coefficient(make_neuraloperator_pt):
    path = make_neuraloperator_pt()
    raw = torch.load(path)
    data = load(path)
    assert data.inputs.shape == (6, 1, 16, 16) and data.outputs.shape == (6, 1, 16, 16)
    assert set(torch.unique(data.inputs).tolist()) == {3.0, 12.0}
    torch.testing.assert_close(data.inputs[:, 0] == 12.0, raw["x"] == 1)
    torch.testing.assert_close(data.outputs[:, 0], raw["y"])


def test_neuraloperator_file_with_wrong_shapes_is_rejected(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"x": torch.zeros(4, 8, 8), "y": torch.zeros(4, 8, 9)}, path)
    with pytest.raises(DataFileError, match="must both be"):
        load(path)


def test_missing_corrupt_and_nan_files(tmp_path, make_h5):
    with pytest.raises(DataFileError, match="no such file"):
        load(tmp_path / "missing.h5")
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(DataFileError, match="corrupt|not"):
        load(corrupt)
    with pytest.raises(DataFileError, match="NaN"):
        load(make_h5("nan.h5", nan=True))


def test_truncated_file_is_rejected(tmp_path, make_h5):
    path = make_h5()
    blob = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError):
        load(truncated)


def test_shards_load_as_one_dataset_in_order(tmp_path):
    x = np.arange(6 * 5 * 5, dtype=np.float32).reshape(6, 1, 5, 5)
    base = {"pde": "p", "params": {}, "grid": "node", "ndim": 2, "resolution": 5, "seed": 1,
            "samples_total": 6}
    write_file(tmp_path / "b.h5", x[3:], x[3:], {**base, "shard": {"index": 1, "count": 2, "start": 3, "stop": 6}})
    write_file(tmp_path / "a.h5", x[:3], x[:3], {**base, "shard": {"index": 0, "count": 2, "start": 0, "stop": 3}})
    data = load([tmp_path / "b.h5", tmp_path / "a.h5"])
    np.testing.assert_array_equal(data.inputs.numpy(), x)
    write_file(tmp_path / "c.h5", x[3:], x[3:], {**base, "seed": 2, "shard": {"index": 1, "count": 2, "start": 3, "stop": 6}})
    with pytest.raises(DataFileError, match="seed"):
        load([tmp_path / "a.h5", tmp_path / "c.h5"])


def test_subsample_follows_the_node_grid_rule(make_h5):
    data = load(make_h5(s=17))
    assert subsample(data, 2).resolution == 9
    assert subsample(data, 4).resolution == 5
    torch.testing.assert_close(subsample(data, 2).inputs, data.inputs[..., ::2, ::2])
    with pytest.raises(InvalidInputError, match="cannot subsample"):
        subsample(data, 3)


def _write_shards(tmp_path, ranges, total=9, **changes):
    """Shards of one 9-sample dataset holding ``ranges`` (start, stop); returns their paths."""
    x = np.arange(total * 25, dtype=np.float32).reshape(total, 1, 5, 5)
    base = {"pde": "p", "params": {}, "grid": "node", "ndim": 2, "resolution": 5, "seed": 1,
            "samples_total": total, **changes}
    tmp_path.mkdir(exist_ok=True)
    paths = []
    for k, (start, stop) in enumerate(ranges):
        path = tmp_path / f"{changes.get('seed', 1)}_{start}_{stop}.h5"
        write_file(path, x[start:stop], x[start:stop],
                   {**base, "shard": {"index": k, "count": 3, "start": start, "stop": stop}})
        paths.append(path)
    return paths


def test_shards_with_a_gap_are_refused_naming_the_missing_samples(tmp_path):
    first, last = _write_shards(tmp_path, [(0, 3), (6, 9)])
    with pytest.raises(DataFileError, match=r"samples 3\.\.5 of 9 are missing"):
        load([first, last])
    with pytest.raises(DataFileError, match=r"samples 6\.\.8 of 9 are missing"):
        load(_write_shards(tmp_path, [(0, 3), (3, 6)]))
    with pytest.raises(DataFileError, match=r"samples 0\.\.2 of 9 are missing"):
        load(_write_shards(tmp_path, [(3, 6), (6, 9)]))
    part = load([first, last], allow_partial=True)  # asked for explicitly: marked as partial
    assert len(part) == 6 and part.provenance["shard"]["ranges"] == [[0, 3], [6, 9]]


def test_overlapping_shards_are_refused(tmp_path):
    paths = _write_shards(tmp_path, [(0, 3), (3, 6), (6, 9)])
    with pytest.raises(DataFileError, match=r"samples 0\.\.2 overlap"):
        load([*paths, paths[0]])
    with pytest.raises(DataFileError, match="overlap"):
        load([*paths, paths[1]], allow_partial=True)
    assert len(load(paths)) == 9


def test_shards_of_two_datasets_are_refused(tmp_path):
    a = _write_shards(tmp_path, [(0, 3), (6, 9)])
    b = _write_shards(tmp_path, [(3, 6)], seed=2)
    with pytest.raises(DataFileError, match="seed differs"):
        load([a[0], b[0], a[1]])
    c = _write_shards(tmp_path / "c", [(3, 6)], params={"nu": 0.5})  # the same seed, other parameters
    with pytest.raises(DataFileError, match="params differs"):
        load([a[0], c[0], a[1]])
    d = _write_shards(tmp_path / "d", [(3, 6)], library="oplearn 0.1.0")  # made by another version
    with pytest.raises(DataFileError, match="library differs"):
        load([a[0], d[0], a[1]])


def test_a_file_whose_sample_count_contradicts_its_shard_record_is_refused(tmp_path):
    x = np.zeros((2, 1, 5, 5), dtype=np.float32)
    prov = {"pde": "p", "params": {}, "grid": "node", "ndim": 2, "resolution": 5, "seed": 1,
            "samples_total": 9, "shard": {"index": 0, "count": 3, "start": 0, "stop": 3}}
    write_file(tmp_path / "short.h5", x, x, prov)
    with pytest.raises(DataFileError, match=r"holds 2 samples but its record says samples 0\.\.2"):
        load(tmp_path / "short.h5", allow_partial=True)
    write_file(tmp_path / "odd.h5", x, x, {**prov, "shard": "first third"})
    with pytest.raises(DataFileError, match="malformed shard record"):
        load(tmp_path / "odd.h5")

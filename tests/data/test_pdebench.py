"""PDEBench's files: both layouts read, the single-file layout round-trips, bad files are refused;
its 1D advection data are the exact shifts of their initial conditions."""

import h5py
import numpy as np
import pytest
import torch

from oplearn.data.pdebench import read_pdebench, write_pdebench
from oplearn.errors import DataFileError
from oplearn.pdes import pdebench_advection


def test_advection_is_an_exact_shift_of_the_initial_condition():
    # beta * dt = 0.1 * 0.01 = 1e-3 and dx = 1 / 1000: every step moves the field one cell right
    u, x, t = pdebench_advection.solve(6, 0.1, resolution=1000, steps=51, t_end=0.5, seed=3)
    assert u.shape == (6, 51, 1000) and x.shape == (1000,) and t.shape == (52,)
    for j in (1, 17, 50):
        np.testing.assert_allclose(u[:, j], np.roll(u[:, 0], j, axis=-1), rtol=0, atol=1e-12)
    assert not np.allclose(u[0, 0], u[1, 0])  # samples differ


def test_single_file_layout_round_trips(tmp_path):
    u, x, t = pdebench_advection.solve(4, 0.4, resolution=64, steps=11, t_end=0.1)
    path = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    write_pdebench(path, u, x, t, {"beta": 0.4})
    with h5py.File(path) as h5:  # PDEBench's own names and shapes
        assert h5["tensor"].shape == (4, 11, 64) and h5["t-coordinate"].shape == (12,)
    data = read_pdebench(path)
    assert data.fields.shape == (4, 11, 1, 64) and data.fields.dtype == torch.float32
    np.testing.assert_array_equal(data.fields[:, :, 0].numpy(), u.astype(np.float32))
    np.testing.assert_allclose(data.times, t[:11], rtol=1e-6)
    np.testing.assert_allclose(data.coordinates[0], x, rtol=1e-6)
    assert data.attrs["beta"] == pytest.approx(0.4)


def test_per_sample_group_layout_reads_as_samples_by_time_by_channel(tmp_path):
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((5, 6, 8, 2)).astype(np.float32) for _ in range(3)]  # (T, Ny, Nx, C)
    with h5py.File(path, "w") as h5:
        for i, data in enumerate(samples):
            group = h5.create_group(f"{i:04d}")
            group["data"] = data
            group["grid/x"], group["grid/y"] = np.linspace(-1, 1, 8), np.linspace(-1, 1, 6)
            group["grid/t"] = np.linspace(0, 5, 5)
    read = read_pdebench(path)
    assert read.fields.shape == (3, 5, 2, 6, 8)
    np.testing.assert_array_equal(read.fields[2, 4, 1].numpy(), samples[2][4, :, :, 1])
    assert [c.shape for c in read.coordinates] == [(6,), (8,)] and read.times[-1] == 5  # (y, x), as the axes
    cut = read_pdebench(path, samples=2, time_stride=2, space_stride=2)
    assert cut.fields.shape == (2, 3, 2, 3, 4) and [c.shape for c in cut.coordinates] == [(3,), (4,)]
    np.testing.assert_array_equal(cut.fields[1, 2, 0].numpy(), samples[1][4, ::2, ::2, 0])


def test_reading_part_of_a_single_file(tmp_path):
    u, x, t = pdebench_advection.solve(5, 0.1, resolution=32, steps=9, t_end=0.08)
    write_pdebench(tmp_path / "a.h5", u, x, t)
    part = read_pdebench(tmp_path / "a.h5", samples=3, time_stride=4, space_stride=8)
    assert part.fields.shape == (3, 3, 1, 4)
    np.testing.assert_array_equal(part.fields[:, :, 0].numpy(), u[:3, ::4, ::8].astype(np.float32))
    np.testing.assert_allclose(part.times, t[:9:4], rtol=1e-6)
    np.testing.assert_allclose(part.coordinates[0], x[::8], rtol=1e-6)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_pdebench(tmp_path / "missing.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["something"] = np.zeros(3)
    with pytest.raises(DataFileError, match="neither PDEBench layout"):
        read_pdebench(other)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataFileError, match="not a readable HDF5"):
        read_pdebench(tmp_path / "junk.h5")
    u = np.zeros((2, 3, 8))
    u[1, 2, 5] = np.nan
    write_pdebench(tmp_path / "nan.h5", u, np.arange(8.0), np.arange(4.0))
    with pytest.raises(DataFileError, match="NaN"):
        read_pdebench(tmp_path / "nan.h5")
    with h5py.File(tmp_path / "short.h5", "w") as h5:
        h5["tensor"], h5["x-coordinate"], h5["t-coordinate"] = np.zeros((2, 3, 8)), np.zeros(7), np.zeros(4)
    with pytest.raises(DataFileError, match="do not fit"):
        read_pdebench(tmp_path / "short.h5")


def test_the_command_line_writes_a_file_pdebench_reads_and_checks_first(tmp_path, capsys):
    from oplearn.cli import main

    out = tmp_path / "ReacDiff_Nu0.5_Rho2.0.hdf5"
    assert main(["data", "pdebench", "reaction-diffusion", "--samples", "2", "--resolution", "32", "--steps", "5",
                 "--param", "rho=2", "--out", str(out)]) == 0
    data = read_pdebench(out)
    assert data.fields.shape == (2, 5, 1, 32) and data.attrs["rho"] == 2.0 and data.attrs["Nu"] == 0.5
    capsys.readouterr()
    for args, message in ((["--param", "nu=1"], "advection takes beta"), ([], "exists"),
                          (["--param", "beta=abc"], "a finite number"), (["--param", "beta=.nan"], "a finite number")):
        target = out if message == "exists" else tmp_path / "a.h5"
        assert main(["data", "pdebench", "advection", "--samples", "1", "--out", str(target), *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.h5").exists()

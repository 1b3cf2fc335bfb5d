"""`oplearn train --rollout`: a time-stepping model trained on PDEBench trajectories and rolled out."""

import json

import pytest
from tests.cli.test_cli import assert_one_line_error, run_cli

from oplearn.cli import main


@pytest.fixture(scope="module")
def advection(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdebench")
    path = folder / "1D_Advection_Sols_beta0.4.hdf5"
    assert main(["data", "pdebench", "advection", "--samples", "24", "--resolution", "128", "--steps", "41",
                 "--param", "beta=0.4", "--out", str(path)]) == 0
    return path


def test_train_rollout_reports_the_rollout_and_draws_it(capsys, tmp_path, advection):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--data", advection, "--rollout", "3:2", "--time-stride", "2",
                             "--space-stride", "2", "--epochs", "8", "--lr", "3e-3", "--out", run, "--quiet",
                             "--modes", "12", "--width", "16", "--layers", "2")
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    roll = report["rollout"]
    assert roll["history"] == 3 and roll["bundle"] == 2 and roll["test_trajectories"] == 2  # 10% of 24, rounded
    assert len(roll["per_step_rel_l2"]) == 21 - 3 and roll["final_step_rel_l2"] == roll["per_step_rel_l2"][-1]
    assert set(roll["pdebench"]) >= {"nrmse", "crmse", "brmse", "frmse_low"}
    assert roll["rollout_rel_l2"] < 0.5  # persistence is about 1 on these data (tests/train/test_rollout.py)
    assert report["train_resolution"] == 64 and (run / "rollout.png").stat().st_size > 0
    assert "rollout over 2 test trajectories, 18 steps from 3 given" in out


def test_rollout_options_are_checked_first(capsys, tmp_path, advection, make_h5):
    coarse = tmp_path / "coarse.hdf5"
    assert main(["data", "pdebench", "advection", "--samples", "4", "--resolution", "64", "--steps", "41",
                 "--out", str(coarse)]) == 0
    capsys.readouterr()
    for args, message in ((["--data", advection, "--rollout", "three"], "HISTORY[:BUNDLE]"),
                          (["--data", advection, "--time-stride", "2"], "go with --rollout"),
                          (["--data", advection, "--rollout", "2", "--stream"], "not --stream"),
                          (["--data", make_h5(), "--rollout", "2"], "needs trajectories"),
                          (["--data", advection, "--rollout", "41"], "cannot give"),
                          (["--data", advection, "--test-data", coarse, "--rollout", "2"], "shaped like the training")):
        code, _, err = run_cli(capsys, "train", *args, "--out", tmp_path / "bad", "--quiet")
        assert_one_line_error(code, err, message)
    assert not (tmp_path / "bad").exists()


def test_info_describes_a_pdebench_file_without_reading_it(capsys, advection):
    code, out, _ = run_cli(capsys, "info", advection)
    assert code == 0 and "PDEBench file, single layout" in out and "(24, 41, 1, 128)" in out and "beta:" in out


def test_rollout_on_an_oplearn_navier_stokes_file(capsys, tmp_path):
    """The input w0 and the output's snapshots make the trajectories."""
    data = tmp_path / "ns.h5"
    assert main(["generate", "navier-stokes", "--samples", "10", "--resolution", "16", "--param", "snapshots=8",
                 "--param", "t=2", "--param", "solver_resolution=32", "--param", "dt=0.001", "--out", str(data),
                 "--quiet"]) == 0
    code, out, err = run_cli(capsys, "train", "--data", data, "--rollout", "2", "--epochs", "2", "--out",
                             tmp_path / "run", "--quiet", "--modes", "4", "--width", "8", "--layers", "1")
    assert code == 0, err
    text = (tmp_path / "run" / "report.json").read_text()
    roll = json.loads(text)["rollout"]
    assert roll["test_trajectories"] == 1 and len(roll["per_step_rel_l2"]) == 9 - 2
    assert "NaN" not in text and roll["pdebench"]["frmse_high"] is None  # 16 x 16 has no modes from 12 on
    code, _, err = run_cli(capsys, "train", "--data", data, "--rollout", "2", "--space-stride", "3", "--out",
                           tmp_path / "bad", "--quiet")
    assert_one_line_error(code, err, "cannot subsample a periodic grid of 16 points by 3")

"""`oplearn train --rollout`: a time-stepping model trained on PDEBench trajectories and rolled out."""

import json

import pytest
from tests.cli.test_cli import assert_one_line_error, run_cli

from oplearn.cli import main
from oplearn.errors import InvalidInputError


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
                             "--space-stride", "2", "--pushforward", "0.3", "--epochs", "8", "--lr", "3e-3", "--out", run, "--quiet",
                             "--modes", "12", "--width", "16", "--layers", "2")
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    roll = report["rollout"]
    assert roll["history"] == 3 and roll["bundle"] == 2 and roll["test_trajectories"] == 2  # 10% of 24, rounded
    assert len(roll["per_step_rel_l2"]) == 21 - 3 and roll["final_step_rel_l2"] == roll["per_step_rel_l2"][-1]
    assert set(roll["pdebench"]) >= {"nrmse", "crmse", "brmse", "frmse_low"}
    assert roll["rollout_rel_l2"] < 0.5  # persistence is about 1 on these data (tests/train/test_rollout.py)
    assert report["train_resolution"] == 64 and (run / "rollout.png").stat().st_size > 0
    assert report["config"]["pushforward"] == 0.3
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
                          (["--data", advection, "--pushforward", "0.5"], "use --rollout"),
                          (["--data", advection, "--space-time"], "use --rollout"),
                          (["--data", advection, "--rollout", "2:2", "--space-time"], "without a bundle"),
                          (["--data", advection, "--rollout", "2", "--space-time", "--pushforward", "0.5"],
                           "a space-time model predicts every step at once"),
                          (["--data", advection, "--rollout", "2", "--init", tmp_path / "none"], "not a training run"),
                          (["--data", advection, "--rollout", "2", "--pushforward", "2"], "0<=x<=1"),
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
    code, out, err = run_cli(capsys, "train", "--data", data, "--rollout", "2", "--space-time", "--epochs", "2",
                             "--out", tmp_path / "st", "--quiet", "--modes", "4", "--width", "8", "--layers", "1")
    assert code == 0, err
    roll = json.loads((tmp_path / "st" / "report.json").read_text())["rollout"]
    assert roll["space_time"] and len(roll["per_step_rel_l2"]) == 9 - 2


def test_run_navier_stokes_rollout_preset_reports_the_rollout_and_its_timing(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, err = run_cli(capsys, "run", "navier-stokes", "--preset", "rollout", "--out", out,
                              "--train-samples", "3", "--test-samples", "2", "--workers", "1", "--epochs", "1",
                              "--width", "8", "--layers", "1", "--quiet")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["preset"] == "rollout" and report["train_samples"] == 3 * 20  # 30 snapshots, 10 given
    assert len(report["rollout"]["per_step_rel_l2"]) == 20 and report["rollout"]["test_trajectories"] == 2
    assert report["rollout_rel_l2"] == report["rollout"]["rollout_rel_l2"] and report["final_step_rel_l2"] > 0
    timing = report["timing"]
    assert timing["unit"] == "rollout of 20 steps" and timing["model"]["resolution"] == 32
    assert timing["solver"]["one_at_a_time"]["seconds_per_sample"] > 0 and timing["speedup_batched"] > 0
    assert "ms/rollout of 20 steps" in text and (out / "rollout.png").stat().st_size > 0


def test_run_navier_stokes_space_time_preset_predicts_every_step_in_one_pass(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "navier-stokes", "--preset", "rollout-3d", "--out", out,
                           "--train-samples", "3", "--test-samples", "2", "--workers", "1", "--epochs", "1",
                           "--width", "4", "--modes", "4", "--layers", "1", "--quiet")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["rollout"]["space_time"] and report["train_samples"] == 3 and report["train_resolution"] == 32
    assert len(report["rollout"]["per_step_rel_l2"]) == 20 and (out / "predictions_s32.png").exists()


def test_rollout_presets_are_checked_before_any_solve(tmp_path):
    from oplearn.run import load_preset, plan_run

    paper = load_preset("navier-stokes", "rollout-paper")
    assert paper["params"]["t"] == 50 and paper["params"]["snapshots"] == 50 and paper["rollout"]["history"] == 10
    assert paper["train_samples"] == 1000 and paper["resolution"] == 64
    for overrides, message in (({"rollout": {"history": 30, "initial": False}}, "cannot give 30 input"),
                               ({"rollout": {"history": 2, "step": 1}}, "mapping of bundle, history, initial, space_time"),
                               ({"rollout": {"history": 0}}, "rollout history must be"),
                               ({"rollout": {"history": 2, "bundle": 2, "space_time": True}}, "leave out rollout bundle")):
        with pytest.raises(InvalidInputError, match=message):
            plan_run("navier-stokes", tmp_path / "bad", preset="rollout", overrides=overrides)
    with pytest.raises(InvalidInputError, match="time series"):
        plan_run("darcy", tmp_path / "bad", overrides={"rollout": {"history": 1}})
    with pytest.raises(InvalidInputError, match="rollout preset"):
        plan_run("darcy", tmp_path / "bad", overrides={"train": {"pushforward": 0.5}})
    with pytest.raises(InvalidInputError, match="a space-time model predicts every step at once"):
        plan_run("navier-stokes", tmp_path / "bad", preset="rollout-3d",
                 overrides={"train": {**load_preset("navier-stokes", "rollout-3d")["train"], "pushforward": 0.5}})
    assert not (tmp_path / "bad").exists()

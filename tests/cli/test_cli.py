"""The command line: help everywhere, one-line errors with exit code 2, a full small round trip."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from oplearn.cli import _merge, main
from oplearn.data.dataset import load
from oplearn.data.hdf5 import write_file
from oplearn.models import available
from oplearn.run import load_preset

SMALL_MODEL = ["--modes", "4", "--width", "8", "--layers", "2"]


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, match):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oplearn: error:"), err
    assert match in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["generate"], ["info"], ["train"], ["evaluate"], ["run"]])
def test_every_command_has_help(capsys, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0 and "Usage:" in out


def test_info_lists_every_pde_with_its_solvers_and_devices(capsys):
    from oplearn import pdes

    code, out, _ = run_cli(capsys, "info", "--pdes")
    rows = {line.split()[0]: line for line in out.strip().splitlines()}
    assert code == 0 and sorted(rows) == pdes.available()
    assert "solver: auto, direct, amg, mg" in rows["darcy"] and "cuda (mg)" in rows["darcy"]
    assert "device: cpu, cuda " in rows["navier-stokes"] and "cuda" not in rows["helmholtz"]
    assert "solver: - " in rows["burgers"]  # time-dependent problems take no --solver


def test_console_script_exit_code_and_single_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "oplearn.cli", "info", str(tmp_path / "nope.h5")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such file" in proc.stderr


@pytest.fixture(scope="module")
def darcy_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("darcy")
    for name, samples, seed in (("train.h5", 24, 0), ("test.h5", 6, 1)):
        assert main(["generate", "darcy", "--samples", str(samples), "--resolution", "17",
                     "--seed", str(seed), "--out", str(folder / name), "--quiet"]) == 0
    return folder


def test_generate_info_train_evaluate_round_trip(capsys, tmp_path, darcy_files):
    code, out, _ = run_cli(capsys, "info", darcy_files / "train.h5")
    assert code == 0 and "(24, 1, 17, 17)" in out and '"darcy"' in out
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--test-data",
                             darcy_files / "test.h5", "--test-data", darcy_files / "train.h5",
                             "--subsample", "2", "--epochs", "2", "--out", run, "--quiet",
                             *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    assert set(report["test_rel_l2"]) == {"17", "17-train"} and report["train_resolution"] == 9
    code, out, _ = run_cli(capsys, "evaluate", run, "--data", darcy_files / "test.h5")
    assert code == 0 and "s = 17" in out
    code, out, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--out", run,
                             "--epochs", "2")
    assert_one_line_error(code, err, "--resume")


def test_train_holds_out_part_of_the_data_and_reads_yaml_config(capsys, tmp_path, darcy_files):
    config = tmp_path / "config.yaml"
    config.write_text("epochs: 1\nbatch_size: 5\nmodel_kwargs: {modes: 3, width: 4}\n")
    code, _, err = run_cli(capsys, "train", "--data", darcy_files / "train.h5", "--config", config,
                           "--holdout", "0.25", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["train_samples"] == 18 and report["epochs"] == 1
    assert report["config"]["model_kwargs"] == {"modes": 3, "width": 4}


def test_trains_on_a_neuraloperator_file(capsys, tmp_path, make_neuraloperator_pt):
    code, _, err = run_cli(capsys, "train", "--data", make_neuraloperator_pt(n=10, s=16),
                           "--epochs", "1", "--out", tmp_path / "run", "--quiet", *SMALL_MODEL)
    assert code == 0, err


def _nan_file(path):
    x = np.ones((4, 1, 9, 9), dtype=np.float32)
    y = x.copy()
    y[1, 0, 3, 3] = np.nan
    write_file(path, x, y, {"pde": "darcy", "grid": "node", "resolution": 9})
    return path


def _three_channel_file(path):
    x = np.ones((4, 3, 17, 17), dtype=np.float32)
    write_file(path, x, x[:, :1], {"pde": "other", "grid": "node", "resolution": 17})
    return path


@pytest.mark.parametrize("case", ["missing", "corrupt", "nan", "channels", "epochs", "model",
                                  "shard", "pde", "config", "device", "chunk", "info"])
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(capsys, tmp_path, darcy_files, case):
    out = tmp_path / "out"
    train = ["train", "--data", darcy_files / "train.h5", "--out", out, "--quiet"]
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not an hdf5 file at all")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("epochs: [1\n")
    cases = {
        "missing": (["train", "--data", tmp_path / "none.h5", "--out", out], "no such file"),
        "corrupt": (["train", "--data", corrupt, "--out", out], "not a readable HDF5"),
        "nan": (["train", "--data", _nan_file(tmp_path / "nan.h5"), "--out", out], "NaN"),
        "channels": (train + ["--test-data", _three_channel_file(tmp_path / "c3.h5")], "in_channels"),
        "epochs": (train + ["--epochs", "0"], "--epochs"),
        "model": (train + ["--model", "nope"], "unknown model"),
        "shard": (["generate", "darcy", "--samples", "4", "--resolution", "9", "--shard", "3/2",
                   "--out", out / "x.h5"], "0 <= k < n"),
        "pde": (["generate", "nope", "--samples", "4", "--resolution", "9", "--out", tmp_path / "x.h5"],
                "unknown PDE"),
        "config": (train + ["--config", bad_yaml], "invalid YAML"),
        "device": (train + ["--device", "cuda"] if not torch.cuda.is_available()
                   else train + ["--device", "tpu9"], "device"),
        "chunk": (["generate", "darcy", "--samples", "4", "--resolution", "9", "--chunk-size", "0",
                   "--out", out / "x.h5"], "--chunk-size"),
        "info": (["info", "--pdes", "--models"], "one of them"),
    }
    args, match = cases[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, match)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_run_darcy_end_to_end_writes_the_report(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "run", "darcy", "--out", out, "--train-samples", "16",
                                "--test-samples", "4", "--workers", "1", "--epochs", "1",
                                "--quiet", *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    for key in ("test_rel_l2", "parameters", "train_seconds", "solver_seconds_per_sample",
                "model_seconds_per_sample"):
        assert key in report
    assert set(report["test_rel_l2"]) == {"33", "65"}
    assert report["solver_seconds_per_sample"] > 0 and report["model_seconds_per_sample"] > 0
    ratio = report["solver_seconds_per_sample"] / report["model_seconds_per_sample"]
    assert abs(report["speedup"] - ratio) < 1e-9 * ratio
    assert (f"the model is {ratio:.1f}x faster" if ratio >= 1 else f"the model is {1 / ratio:.1f}x slower") in stdout
    assert (out / "predictions_s65.png").exists() and (out / "data" / "train.h5").exists()


@pytest.mark.parametrize("pde, channels", [("poisson", 1), ("helmholtz", 2),
                                           ("advection-diffusion", 3), ("high-contrast", 1)])
def test_elliptic_presets_run_end_to_end(capsys, tmp_path, pde, channels):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", pde, "--out", out, "--train-samples", "8",
                           "--test-samples", "4", "--workers", "1", "--epochs", "1",
                           "--quiet", *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert set(report["test_rel_l2"]) == {"33", "65"}
    assert all(np.isfinite(v) for v in report["test_rel_l2"].values())
    assert load(out / "data" / "train.h5").inputs.shape[1:] == (channels, 65, 65)


def test_another_model_starts_from_its_own_defaults(capsys, tmp_path):
    """The preset's FNO options (modes, ...) are not passed to a model that lacks them."""
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "darcy", "--out", out, "--train-samples", "8",
                           "--test-samples", "4", "--workers", "1", "--epochs", "1", "--quiet",
                           "--model", "fno", "--model-option", "n_layers=1",
                           "--model-option", "width=4")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    kwargs = report["config"]["model_kwargs"]
    assert report["model"] == "fno" and kwargs["width"] == 4 and kwargs["n_layers"] == 1
    assert kwargs["modes"] == 12  # same model: the preset's other options stay
    preset = {"model": "fno", "model_kwargs": {"modes": 12}}
    assert _merge(preset, {"model": "unet"})["model_kwargs"] == {}
    assert _merge(preset, {"model_kwargs": {"width": 8}})["model_kwargs"] == {"modes": 12, "width": 8}
    code, text, _ = run_cli(capsys, "info", "--models")
    assert code == 0 and text.splitlines()[0].split()[0] in available()
    assert len(text.splitlines()) == len(available())


def test_paper_preset_is_the_fno_paper_setting():
    preset = load_preset("darcy", "paper")
    assert preset["resolution"] == 421 and (421 - 1) // preset["train_subsample"] + 1 == 85
    assert preset["train_samples"] == 1000 and preset["test_samples"] == 100
    train = preset["train"]
    assert train["epochs"] == 500 and train["model_kwargs"]["modes"] == 12
    assert train["model_kwargs"]["width"] == 32


def test_burgers_generate_and_run_in_one_dimension(capsys, tmp_path):
    out = tmp_path / "b.h5"
    code, _, err = run_cli(capsys, "generate", "burgers", "--samples", "24", "--resolution", "64",
                           "--out", out, "--param", "solver_resolution=256", "--param", "t=0.5", "--quiet")
    assert code == 0, err
    code, text, _ = run_cli(capsys, "info", out)
    assert code == 0 and "(24, 1, 64)" in text and '"t": 0.5' in text
    code, _, err = run_cli(capsys, "train", "--data", out, "--subsample", "2", "--epochs", "2",
                           "--out", tmp_path / "run", "--quiet", *SMALL_MODEL)
    assert code == 0, err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["train_resolution"] == 32 and (tmp_path / "run" / "predictions_s32.png").exists()


@pytest.mark.parametrize("args, match", [
    (["--resolution", "100"], "must divide"),
    (["--resolution", "64", "--param", "nu=-1"], "nu must be > 0"),
    (["--resolution", "64", "--param", "nu"], "KEY=VALUE"),
    (["--resolution", "64", "--param", "viscosity=1"], "unknown parameter"),
    (["--resolution", "64", "--solver", "amg"], "unknown parameter"),
])
def test_burgers_bad_settings_write_nothing(capsys, tmp_path, args, match):
    code, _, err = run_cli(capsys, "generate", "burgers", "--samples", "4", "--out", tmp_path / "b.h5",
                           "--quiet", *args)
    assert_one_line_error(code, err, match)
    assert list(tmp_path.iterdir()) == []

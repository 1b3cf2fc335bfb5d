"""The main job's promise: `oplearn run darcy` defaults reach relative L2 <= 0.03 (slow: ~4 min)."""

import json

import pytest

from oplearn.cli import main


@pytest.mark.slow
def test_default_darcy_run_reaches_three_percent(tmp_path):
    assert main(["run", "darcy", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["test_rel_l2"]["33"] <= 0.03
    assert report["train_seconds"] < 600

"""The ``alvh`` command line: exit codes, messages, summaries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gpu_alvh import __version__, open_results
from gpu_alvh.cli import main

BAD = sorted((Path(__file__).parent / "data" / "bad_scenarios").glob("*.yaml"))


def expected_field(path: Path) -> str:
    m = re.search(r"^# expect-field:\s*(\S+)", path.read_text(), re.M)
    assert m, f"{path.name} lacks an expect-field header"
    return m.group(1)


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and __version__ in r.output


@pytest.mark.parametrize("bad", BAD, ids=lambda p: p.stem)
def test_validate_bad_files_exit_2_naming_the_field(bad):
    r = CliRunner().invoke(main, ["scenarios", "validate", str(bad)])
    assert r.exit_code == 2, r.output
    assert bad.name in r.output
    assert expected_field(bad) in r.output
    assert "Traceback" not in r.output


def test_at_least_ten_bad_files():
    assert len(BAD) >= 10


def test_simulate_bad_file_exit_2():
    r = CliRunner().invoke(main, ["simulate", str(BAD[0]), "--paths", "10"])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_scenarios_list_show_validate(repo_root):
    r = invoke("scenarios", "list")
    assert r.exit_code == 0 and "base" in r.output and "volmageddon" in r.output
    r = invoke("scenarios", "show", "base")
    assert r.exit_code == 0 and "model: svcj" in r.output and "VIX floor" in r.output
    r = invoke("scenarios", "validate", *[str(p) for p in sorted((repo_root / "scenarios").glob("*.yaml"))])
    assert r.exit_code == 0 and r.output.count("ok:") >= 7


def test_unknown_library_name_exit_2():
    r = CliRunner().invoke(main, ["scenarios", "show", "no_such_scenario"])
    assert r.exit_code == 2 and "base" in r.output  # lists the library


def test_simulate_summary_and_store(tmp_path):
    out = tmp_path / "paths.zarr"
    r = invoke("simulate", "gap_1p8", "--paths", "300", "--seed", "2", "--backend", "numpy", "--out", str(out), "--no-progress")
    assert r.exit_code == 0, r.output
    assert "SPX(T)" in r.output and "VIX(T)" in r.output and "max VIX" in r.output and "path-steps/s" in r.output
    ds = open_results(out)
    assert ds.sizes["path"] == 300 and ds.attrs["seed"] == 2
    assert np.isfinite(ds["spx"].values).all()


def test_cupy_without_device_is_a_clear_error():
    from gpu_alvh.backend import cupy_status

    if cupy_status()[0]:
        pytest.skip("a CUDA device works here")
    r = CliRunner().invoke(main, ["simulate", "base", "--paths", "10", "--backend", "cupy"])
    assert r.exit_code == 2
    assert "pip install" in r.output and "cupy" in r.output


def test_console_script_runs():
    exe = Path(sys.executable).parent / "alvh"
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and __version__ in r.stdout


def test_run_default_scenario_prints_comparison_and_claims(tmp_path, monkeypatch):
    """``alvh run`` without a scenario runs the library's two-factor base_2f (on the coarse tables of
    tests/test_no_edge.py: its default tables take 2-3 minutes to build)."""
    from .test_two_factor import _coarse_two_factor_tables

    _coarse_two_factor_tables(monkeypatch)
    out = tmp_path / "r.zarr"
    r = invoke("run", "--paths", "12", "--backend", "numpy", "--out", str(out), "--no-progress")
    assert r.exit_code == 0, r.output
    for text in ("scenario base_2f ", "alvh", "ladder_unhedged", "single_45", "CVaR95", "C1", "C4", "claimed"):
        assert text in r.output
    ds = open_results(out)
    assert ds.sizes["path"] == 12 and "verdict" in ds


def test_run_bad_strategy_file_exit_2(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("short_delta: 0.9\n")
    r = CliRunner().invoke(main, ["run", "gap_1p8", "--paths", "5", "--strategy", str(bad)])
    assert r.exit_code == 2 and "short_delta" in r.output and "Traceback" not in r.output

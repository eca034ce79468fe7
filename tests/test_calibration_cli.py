"""``alvh calibrate`` and ``alvh scenarios check``: good runs and bad input (exit code 2, clear messages)."""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from gpu_alvh.calibration.moments import model_statistics
from gpu_alvh.cli import main
from gpu_alvh.data import load_history
from gpu_alvh.spec import load_scenario


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _write(path, text):
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def short_window(tmp_path_factory):
    """Shipped closes of 2013-2016 as the user's own CSV files."""
    folder = tmp_path_factory.mktemp("closes")
    files = {}
    for name in ("spx", "vix", "vix3m", "vix9d", "vvix"):
        s = load_history(name, "2013-01-01", "2016-12-31")
        files[name] = folder / f"{name}.csv"
        s.rename("close").rename_axis("date").to_frame().to_csv(files[name], date_format="%Y-%m-%d")
    return files


def _assert_exit_2(r, *needles):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for n in needles:
        assert n in r.output, (n, r.output)


def test_calibrate_writes_a_scenario_block_and_the_fit_table(short_window, tmp_path):
    out = tmp_path / "fit.yaml"
    f = short_window
    r = run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--vix3m", f["vix3m"], "--vix9d", f["vix9d"], "--vvix", f["vvix"],
            "--from", "2013-06-03", "--out", out, "--max-nfev", 2)
    assert r.exit_code == 0, r.output
    assert "VIX^2 - next-21-session realised variance" in r.output and f"wrote {out}" in r.output
    text = out.read_text()
    assert "# fitted by: alvh calibrate" in text and "# history: spx 2013-06-03.." in text
    block = yaml.safe_load(text)
    assert block["model"] == "svcj" and set(block) == {"model", "drift", "params", "pricing"}
    assert "sigma" in block["pricing"]  # VVIX given: the pricing vol of variance is fitted
    # the block is a valid scenario market, and the table's fitted column is that market's statistics
    market = {**block, "params": {**block["params"], "v0": 0.02}}
    spec = load_scenario({"name": "mine", **market, "spot": 2000.0, "start": "2016-12-30", "horizon": 5})
    m = model_statistics(spec.model_p(), spec.model_q(), spec.effective_drift())
    line = next(x for x in text.splitlines() if "VIX median" in x)
    fitted = float(line.split()[-2])
    assert fitted == pytest.approx(m["vix_p50"], abs=0.01)


def test_calibrate_prints_the_block_without_out(short_window):
    f = short_window
    r = run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--max-nfev", 1)
    assert r.exit_code == 0, r.output
    assert "params:" in r.output and "pricing:" in r.output
    assert "VIX3M/VIX" not in r.output  # no VIX3M file: no term-structure statistic


def test_calibrate_refuses_to_replace_a_file(short_window, tmp_path):
    out = _write(tmp_path / "keep.yaml", "mine\n")
    f = short_window
    r = run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--out", out, "--max-nfev", 1)
    _assert_exit_2(r, "--out", "exists", "--overwrite")
    assert out.read_text() == "mine\n"


@pytest.mark.parametrize(
    "content, needles",
    [
        ("Date,Price\n2020-01-02,1\n", ["columns", "close"]),
        ("date,close\n2020-01-02,100\n2020-13-01,101\n", ["line 3: date", "YYYY-MM-DD"]),
        ("date,close\n2020-01-02,-5\n", ["line 2: close", "positive"]),
        ("date,close\n2020-01-02,abc\n", ["line 2: close"]),
        ("date,close\n2020-01-02,100\n2020-01-02,101\n", ["line 3: date", "repeated"]),
        ("date,close\n", ["at least one data row"]),
        ("", ["<csv>"]),
    ],
    ids=["columns", "date", "negative", "text", "duplicate", "no-rows", "empty"],
)
def test_calibrate_bad_files_exit_2_naming_file_and_field(tmp_path, short_window, content, needles):
    bad = _write(tmp_path / "bad.csv", content)
    r = run("calibrate", "--spx", short_window["spx"], "--vix", bad)
    _assert_exit_2(r, "bad.csv", *needles)


def test_calibrate_bad_options_exit_2(tmp_path, short_window):
    f = short_window
    _assert_exit_2(run("calibrate", "--spx", tmp_path / "nope.csv", "--vix", f["vix"]), "--spx", "nope.csv")
    _assert_exit_2(run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--from", "2015-02-30"), "--from")
    _assert_exit_2(run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--from", "2016-01-01", "--to", "2015-01-01"), "--to")
    r = run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--from", "2016-01-01")
    _assert_exit_2(r, "at least 504")


def test_scenarios_check_prints_the_side_by_side_table():
    r = run("scenarios", "check", "base", "--paths", 60, "--years", 2, "--backend", "numpy")
    assert r.exit_code == 0, r.output
    assert "base: 60 paths x 504 sessions after 126 burn-in" in r.output
    rows = [x for x in r.output.splitlines() if re.search(r"\s-?\d+\.\d\d( \*)?$", x)]
    assert len(rows) >= 25
    assert "VVIX median" in r.output and "flagged" in r.output


def test_scenarios_check_bad_input_exit_2(tmp_path):
    _assert_exit_2(run("scenarios", "check", "base", "--years", 20), "--years")
    _assert_exit_2(run("scenarios", "check", "no_such_scenario"), "no library scenario by that name")
    assert run("scenarios", "check", "base", "--paths", 1).exit_code == 2


def test_calibrate_two_factor_writes_a_runnable_svcj2_block(short_window, tmp_path):
    """``--model svcj2`` fits by simulation: the block is a valid SVCJ2 market (both factors' parameters,
    P and Q) with its fit table and the command that made it."""
    out = tmp_path / "fit2.yaml"
    f = short_window
    r = run("calibrate", "--spx", f["spx"], "--vix", f["vix"], "--vix3m", f["vix3m"], "--vix9d", f["vix9d"], "--vvix", f["vvix"],
            "--model", "svcj2", "--paths", 20, "--max-nfev", 2, "--out", out)
    assert r.exit_code == 0, r.output
    block = yaml.safe_load(out.read_text())
    assert block["model"] == "svcj2" and {"kappa2", "theta2", "sigma2", "rho2"} <= set(block["params"])
    assert {"kappa2", "theta2", "sigma2"} <= set(block["pricing"])
    assert "VVIX 95th percentile" in out.read_text() and "--model svcj2" in out.read_text()
    spec = load_scenario({"name": "mine2", **block, "vix": 18.0, "spot": 2000.0, "start": "2016-12-30", "horizon": 5})
    assert spec.initial_vix() == pytest.approx(18.0, rel=1e-12)


def test_two_factor_drift_gives_the_target_growth():
    """``drift_for_growth``: the simulated mean log growth of SPX equals the asked growth within 4 standard
    errors (the formula's stationary means against the paths' own)."""
    from gpu_alvh.calibration.check import simulate_market
    from gpu_alvh.calibration.fit2 import START2, _scenario, drift_for_growth
    from gpu_alvh.models import SVCJ2

    p, q = START2["p"], START2["q"]
    drift = drift_for_growth(SVCJ2(**p), 0.05)
    stats = simulate_market(_scenario(p, q, drift, 6), n_paths=400, years=6, seed=4, backend="numpy", n_boot=100)
    g = stats["spx_log_growth"]
    assert abs(g.value - 5.0) < 4 * g.se, (g.value, g.se)

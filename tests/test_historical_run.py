"""Historical episodes through the book: real series and provenance in run datasets, the central path, the CLI summary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import gpu_alvh as ga
from gpu_alvh.cli import main
from gpu_alvh.data import load_history
from gpu_alvh.historical import central_path, floor_note
from gpu_alvh.spec import load_scenario

SHORT = {"historical.to": "2024-08-09"}  # yen_2024 through the 2024-08-05 gap, 28 sessions


def yen(d: float = 0.5):
    return load_scenario("yen_2024", overrides={"historical.dispersion": d, **SHORT})


def model_twin():
    """A model scenario with yen_2024's market (same pricing tables), not historical."""
    spec = yen()
    d = {k: v for k, v in spec.to_dict().items() if k not in ("historical", "name", "description", "source")}
    return {**d, "name": "twin", "start": "2024-07-01", "horizon": 10, "spot": 5475.09, "vix": 12.22}


@pytest.fixture(scope="module")
def two():
    return ga.run([yen(), model_twin()], n_paths=6, seed=1, backend="numpy")


def test_run_dataset_carries_the_real_closes(two):
    ds = two
    spx = load_history("spx", "2024-07-01", "2024-08-09").values
    vix = load_history("vix", "2024-07-01", "2024-08-09").values
    for k in ("real_spx", "real_vix"):
        assert ds[k].dims == ("scenario", "day") and ds[k].attrs["units"] == "index points" and ds[k].attrs["long_name"]
    np.testing.assert_array_equal(ds["real_spx"].sel(scenario="yen_2024").values, spx)
    np.testing.assert_array_equal(ds["real_vix"].sel(scenario="yen_2024").values, vix)
    assert np.isnan(ds["real_spx"].sel(scenario="twin").values).all() and np.isnan(ds["real_vix"].sel(scenario="twin").values).all()
    # the daily dates of the episode are its sessions
    dates = ds["date"].sel(scenario="yen_2024").values.astype("datetime64[D]")
    assert str(dates[0]) == "2024-07-01" and str(dates[-1]) == "2024-08-09"


def test_provenance_records_the_episode(two):
    rec = json.loads(two.attrs["historical"])
    assert set(rec) == {"yen_2024"}
    r = rec["yen_2024"]
    assert (r["episode"], r["first_session"], r["last_session"], r["sessions"]) == ("yen_2024", "2024-07-01", "2024-08-09", 29)
    assert r["implied_vol"] == "VIX" and r["dispersion"] == 0.5 and r["closes_below_floor"] == 0
    assert "vix.csv" in r["sources"]["vol"] and "spx.csv" in r["sources"]["spx"]
    assert r["worst_day"]["date"] == "2024-08-05" and r["worst_day"]["vol"] == [23.39, 38.57]
    spec_json = json.loads(two.attrs["spec_json"])
    assert spec_json["yen_2024"]["historical"]["to"] == "2024-08-09"
    paths = ga.simulate(yen(), n_paths=2, seed=0, backend="numpy")
    assert json.loads(paths.attrs["historical"])["sessions"] == 29


def test_central_path_is_the_book_on_the_real_path():
    res = central_path(yen(0.5), backend="numpy", seed=1)
    spec = yen(0.5)
    assert spec.session_dates()[res["day"]].isoformat() == "2024-08-05"
    # at dispersion 0 every path is the real one, so every path of a run books the central path's numbers
    ds = ga.run(yen(0.0), n_paths=3, seed=1, backend="numpy", save_paths=True).sel(scenario="yen_2024")
    nav = ds["nav_path"].values  # [strategy, day, path]
    assert list(ds["strategy"].values) == res["strategies"]
    for p in range(3):
        np.testing.assert_allclose(nav[:, res["day"], p] - nav[:, res["day"] - 1, p], res["day_pnl"], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(ds["final_pnl"].values[:, p], res["final_pnl"], rtol=1e-9, atol=1e-6)
    pnl = dict(zip(res["strategies"], res["day_pnl"]))
    assert pnl["ladder_unhedged"] < 0 and pnl["single_45"] < 0, "short-vol books lose on a -3% day with VIX +15 points"
    assert pnl["alvh"] > pnl["ladder_unhedged"], "the VIX overlay offsets part of the ladder's loss that day"


def test_cli_run_names_the_worst_real_day():
    r = CliRunner().invoke(main, ["run", "yen_2024", "--paths", "4", "--backend", "numpy", "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "worst real day 2024-08-05: SPX -3.00% (5346.56 -> 5186.33), VIX 23.39 -> 38.57" in r.output
    assert ("historical episode yen_2024: 2024-07-01 .. 2024-08-30 (44 sessions), VIX closes, dispersion 0.5; "
            "model VIX floor 11.79 (no close below it)") in r.output
    lines = r.output.splitlines()
    i = next(k for k, line in enumerate(lines) if "P&L that day $" in line)
    assert [lines[i + 1 + s].split()[0] for s in range(3)] == ["alvh", "ladder_unhedged", "single_45"]


def test_closes_below_the_model_floor_are_recorded_and_named():
    """volmageddon_2018: the January 2018 closes below the calibrated model's VIX floor, in the provenance
    and in the summary phrase of alvh run (central_path_lines prints floor_note, checked on yen_2024 above)."""
    spec = load_scenario("volmageddon_2018", overrides={"historical.to": "2018-02-09"})
    r = json.loads(ga.simulate(spec, n_paths=2, seed=0, backend="numpy").attrs["historical"])
    vix = load_history("vix", "2018-01-16", "2018-02-09")
    floor = spec.model_q().vix_floor()
    below = [d.date().isoformat() for d, v in vix.items() if v < floor]
    assert (r["model_vix_floor"], r["closes_below_floor"], r["dates_below_floor"]) == (floor, len(below), below)
    assert below == ["2018-01-16", "2018-01-19", "2018-01-22", "2018-01-23", "2018-01-24", "2018-01-25", "2018-01-26"]
    assert floor_note(r) == "model VIX floor 11.79: 7 VIX closes below it (2018-01-16 .. 2018-01-26), marked at the floor (variance 0)"

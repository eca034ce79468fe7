"""The ``historical:`` section: library episodes, the derived clock, data checks, user files, overrides and sweeps."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gpu_alvh import calendar as cal
from gpu_alvh.cli import main
from gpu_alvh.data import load_history
from gpu_alvh.errors import SpecError
from gpu_alvh.spec import apply_overrides, library_path, load_scenario, spec_hash
from gpu_alvh.spec.historical import EPISODES
from gpu_alvh.spec.loader import load_yaml
from gpu_alvh.spec.sweep import load_sweep, normalize_key

from .test_historical_paths import vix_bound

HESTON = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7}


def hist(section: dict | None = None, **top) -> dict:
    """A historical scenario dict (Heston) with the given ``historical`` section and top-level keys."""
    return {"name": "h", "model": "heston", "params": dict(HESTON), "historical": section or {"episode": "covid_2020"}, **top}


def issue_of(data, field: str) -> str:
    with pytest.raises(SpecError) as info:
        load_scenario(data)
    fields = [i.field for i in info.value.issues]
    assert field in fields, (fields, str(info.value))
    return str(info.value)


# --------------------------------------------------------------------------- library episodes
@pytest.mark.parametrize("name", list(EPISODES))
def test_library_episode_takes_its_clock_and_start_from_the_data(name):
    ep = EPISODES[name]
    raw = load_yaml(library_path(name))
    assert raw["historical"]["episode"] == name
    assert (raw["historical"]["from"], raw["historical"]["to"]) == (ep.first, ep.last)  # the file states the registry's dates
    assert not {"start", "horizon", "spot", "vix"} & set(raw), "derived from the data, so that sweeps can move the dates"
    spec = load_scenario(name)
    spx = load_history("spx", ep.first, ep.last)
    vol = load_history("vxo" if ep.first.year < 1990 else "vix", ep.first, ep.last)
    assert spec.start == spx.index[0].date() == cal.next_session(ep.first)
    assert spec.end_date == spx.index[-1].date() == cal.previous_session(ep.last, inclusive=True)
    assert spec.horizon == len(spx) - 1 == len(vol) - 1
    assert spec.spot == spx.iloc[0] and spec.vix == vol.iloc[0]
    assert spec.model == "svcj" and spec.shocks == ()
    # a few weeks of warm-up before the first shock, which lies inside the replay
    shock_day = spec.day_index(ep.shock)
    assert 12 <= shock_day <= 25
    q = spec.model_q()
    if spec.vix >= q.vix_floor():  # the model's VIX at v0 is the real day-0 close, to rounding
        assert abs(spec.initial_vix() - spec.vix) <= vix_bound(spec.vix, *q.vix2_coefficients())
    else:  # volmageddon_2018 starts at VIX 11.66, below the calibrated floor: v0 = 0, the model's lowest VIX
        assert name == "volmageddon_2018" and spec.v0() == 0.0 and spec.initial_vix() == q.vix_floor()
    assert str(ep.first) in spec.source and str(ep.last) in spec.source


def test_implied_vol_is_vxo_before_1990_and_vix_after():
    assert load_scenario("crash_1987").historical.window().vol_series == "VXO"
    assert load_scenario("gfc_2008").historical.window().vol_series == "VIX"
    # VXO can be asked for where both exist (until 2018-03-22): the closes are VXO's
    spec = load_scenario(hist({"from": "2008-10-01", "to": "2008-10-31", "implied_vol": "vxo"}))
    assert spec.vix == load_history("vxo", "2008-10-01", "2008-10-01").iloc[0] != load_history("vix", "2008-10-01", "2008-10-01").iloc[0]


# --------------------------------------------------------------------------- derived fields
def test_derived_fields_stay_out_of_dumps_and_follow_overrides():
    spec = load_scenario(hist({"episode": "covid_2020", "dispersion": 0.5}))
    assert spec.start == dt.date(2020, 1, 27) and spec.horizon == 66
    d = spec.to_dict()
    assert not {"start", "horizon", "spot", "vix"} & set(d)
    assert load_scenario(d) == spec
    moved = apply_overrides(spec, {"historical.from": "2020-02-03"})
    assert moved.start == dt.date(2020, 2, 3) and moved.horizon == 61
    assert moved.spot == load_history("spx", "2020-02-03", "2020-02-03").iloc[0]
    assert spec_hash(apply_overrides(spec, {"historical.dispersion": 1.0})) != spec_hash(spec)


def test_given_values_that_agree_with_the_data_are_kept():
    spec = load_scenario(hist(start="2020-01-27", horizon=66, spot=3243.63, vix=18.23))
    assert {"start", "horizon", "spot", "vix"} <= set(spec.to_dict())


def test_calendar_only_events_are_allowed():
    # the 2020 FOMC statements inside the replay (2020-03-15, a Sunday, was announced for the 2020-03-16 open)
    spec = load_scenario(hist(events=[{"kind": "fomc", "dates": ["2020-01-29", "2020-03-03", "2020-03-16", "2020-04-29", "2020-06-10"]}]))
    days = [spec.session_dates()[e.day_index] for e in spec.resolved_events()]
    assert days == [dt.date(2020, 1, 29), dt.date(2020, 3, 3), dt.date(2020, 3, 16), dt.date(2020, 4, 29)]

@pytest.mark.parametrize(
    "data, field, text",
    [
        (hist({"episode": "covid"}), "historical.episode", "covid_2020"),
        (hist({"from": "2020-03-01", "to": "2020-02-01"}), "historical.to", "on or after from (2020-03-01)"),
        (hist({"from": "1984-06-01", "to": "1985-03-01"}), "historical.from", "on or after 1985-01-02"),
        (hist({"from": "2026-07-01", "to": "2026-12-31"}), "historical.to", "on or before 2026-07-31"),
        (hist({"from": "2020-02-01", "to": "2020-02-02"}), "historical", "no NYSE session"),
        (hist({"from": "2020-02-07", "to": "2020-02-09"}), "historical", "only one NYSE session (2020-02-07)"),
        (hist({"from": "1989-11-01", "to": "1990-02-01", "implied_vol": "vix"}), "historical.from", "on or after 1990-01-02"),
        (hist({"from": "2018-03-01", "to": "2018-04-30", "implied_vol": "vxo"}), "historical.to", "on or before 2018-03-22"),
        (hist({"from": "1997-11-20", "to": "1997-12-05"}), "historical", "no close on the NYSE session(s) 1997-11-26"),
        (hist({"to": "2020-03-01"}), "historical.from", "required unless episode"),
        (hist({"episode": "covid_2020", "dispersion": -0.1}), "historical.dispersion", "[0, 10]"),
        (hist({"episode": "covid_2020", "dispersion": "0.5"}), "historical.dispersion", "quoted"),
        (hist({"episode": "covid_2020", "colour": 1}), "historical.colour", "unknown key"),
        (hist({"episode": "covid_2020", "implied_vol": "vix9d"}), "historical.implied_vol", "auto, vix, vxo"),
        (hist(shocks=[{"spx_return": -0.1, "day": 3}]), "shocks", "none with historical"),
        (hist(events=[{"kind": "fomc", "dates": ["2020-03-03"], "variance_crush": 0.2}]), "events[0].variance_crush", "only mark the calendar"),
        (hist(events=[{"kind": "cpi", "dates": ["2020-03-10"], "spx_jump": {"mean": -0.01}}]), "events[0].spx_jump", "only mark the calendar"),
        (hist(params={**HESTON, "v0": 0.04}), "params.v0", "VIX close of day 0 (18.23)"),
        (hist(start="2020-01-28"), "start", "2020-01-27 (the first session"),
        (hist(horizon=20), "horizon", "66 (the number of sessions"),
        (hist(spot=3250.0), "spot", "3243.63 (the SPX close of 2020-01-27)"),
        (hist(vix=19.0), "vix", "18.23 (the VIX close of 2020-01-27)"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_bad_historical_sections_name_the_field(data, field, text):
    msg = issue_of(data, field)
    assert text in msg, msg


def test_non_historical_scenarios_still_need_spot_start_and_horizon():
    d = {"name": "t", "model": "heston", "params": HESTON, "vix": 16.0}
    with pytest.raises(SpecError) as info:
        load_scenario(d)
    assert {i.field for i in info.value.issues} == {"spot", "start", "horizon"}


# --------------------------------------------------------------------------- user files
def _write_closes(path: Path, series: str, first: str, last: str, *, header="date,close", rows=None) -> None:
    s = load_history(series, first, last)
    lines = [header] + (rows if rows is not None else [f"{d.date().isoformat()},{v:.2f}" for d, v in s.items()])
    path.write_text("\n".join(lines) + "\n")


def _user_scenario(folder: Path, spx_rows=None, vix_rows=None, **section) -> Path:
    _write_closes(folder / "spx.csv", "spx", "2020-02-20", "2020-03-31", rows=spx_rows)
    _write_closes(folder / "vix.csv", "vix", "2020-02-20", "2020-03-31", rows=vix_rows)
    body = {"model": "heston", "params": HESTON,
            "historical": {"from": "2020-02-24", "to": "2020-03-20", "file": {"spx": "spx.csv", "vix": "vix.csv"}, **section}}
    path = folder / "mine.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_user_files_relative_to_the_scenario_file(tmp_path, monkeypatch):
    path = _user_scenario(tmp_path)
    monkeypatch.chdir(Path(os.sep))
    spec = load_scenario(str(path))
    win = spec.historical.window()
    ref = load_history("spx", "2020-02-24", "2020-03-20")
    assert [d for d in win.dates] == [ts.date() for ts in ref.index]
    assert list(win.spx) == pytest.approx(list(ref.values), abs=0.005)
    assert win.vol_series == "user file" and "sha256" in win.sources["spx"] and str(tmp_path) in win.sources["vix"]
    assert spec.start == dt.date(2020, 2, 24) and spec.vix == pytest.approx(25.03, abs=0.005)


def _rows(series="spx", first="2020-02-20", last="2020-03-31"):
    return [f"{d.date().isoformat()},{v:.2f}" for d, v in load_history(series, first, last).items()]


@pytest.mark.parametrize(
    "case, field, text",
    [
        ("missing_column", "historical.file.spx", "missing column(s) close"),
        ("non_positive", "historical.file.spx", "allowed: positive prices"),
        ("not_a_number", "historical.file.vix", "allowed: positive numbers"),
        ("gap", "historical.file.vix", "no close on the NYSE session(s) 2020-03-09"),
        ("outside_file", "historical.from", "on or after 2020-02-25, the first date of file"),
        ("duplicate", "historical.file.spx", "a second row for 2020-03-02"),
        ("bad_date", "historical.file.spx", "dates YYYY-MM-DD"),
        ("no_file", "historical.file.spx", "no file at"),
        ("implied_vol", "historical.implied_vol", "auto (the default) with file"),
    ],
)
def test_bad_user_files_name_the_field(tmp_path, case, field, text):
    spx, vix, section = _rows("spx"), _rows("vix"), {}
    if case == "missing_column":
        path = _user_scenario(tmp_path)
        (tmp_path / "spx.csv").write_text("date,price\n2020-02-24,3225.89\n")
    else:
        if case == "non_positive":
            spx = [r if not r.startswith("2020-03-02") else "2020-03-02,0" for r in spx]
        elif case == "not_a_number":
            vix = [r if not r.startswith("2020-03-02") else "2020-03-02,n/a" for r in vix]
        elif case == "gap":
            vix = [r for r in vix if not r.startswith("2020-03-09")]
        elif case == "outside_file":
            spx = [r for r in spx if r[:10] >= "2020-02-25"]
        elif case == "duplicate":
            spx = spx + ["2020-03-02,3000.00"]
        elif case == "bad_date":
            spx = ["03/02/2020,3090.23"] + spx
        elif case == "implied_vol":
            section = {"implied_vol": "vix"}
        path = _user_scenario(tmp_path, spx, vix, **section)
        if case == "no_file":
            (tmp_path / "spx.csv").unlink()
    msg = issue_of(str(path), field)
    assert text in msg, msg
    r = CliRunner().invoke(main, ["scenarios", "validate", str(path)])
    assert r.exit_code == 2 and field in r.output and "Traceback" not in r.output


def test_user_file_rows_on_exchange_holidays_are_ignored(tmp_path):
    spx = _rows("spx") + ["2020-04-10,2789.82"]  # Good Friday 2020: Cboe-style row on a day the NYSE was closed
    spec = load_scenario(str(_user_scenario(tmp_path, sorted(spx))))
    assert dt.date(2020, 4, 10) not in spec.historical.window().dates


# --------------------------------------------------------------------------- sweeps
def test_sweeps_can_vary_dispersion_and_the_start_date():
    sweep, _, _ = load_sweep({"scenarios": ["covid_2020"], "paths": 10,
                              "grid": {"scenario.historical.dispersion": [0.0, 0.5, 1.0], "scenario.historical.from": ["2020-01-27", "2020-02-10"]}})
    base = load_scenario("covid_2020")
    seen = set()
    for d in sweep.grid["scenario.historical.dispersion"]:
        for f in sweep.grid["scenario.historical.from"]:
            cell = apply_overrides(base, {normalize_key("scenario.historical.dispersion"): d, normalize_key("scenario.historical.from"): f})
            assert cell.name == base.name and cell.historical.dispersion == d
            assert cell.start.isoformat() == f and cell.end_date == base.end_date
            seen.add((d, cell.horizon))
    assert seen == {(d, h) for d in (0.0, 0.5, 1.0) for h in (66, 56)}

"""Scenario spec layer: validation messages, loading, overrides, hashing, immutability."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import math
import pickle
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpu_alvh import calendar as cal
from gpu_alvh.errors import SpecError
from gpu_alvh.models import get_model
from gpu_alvh.spec import (
    EventSpec,
    ScenarioSpec,
    ShockSpec,
    apply_overrides,
    canonical_json,
    list_library,
    load_scenario,
    spec_hash,
)
from gpu_alvh.spec.loader import load_yaml, load_yaml_text

DATA = Path(__file__).parent / "data"
BAD = sorted((DATA / "bad_scenarios").glob("*.yaml"))

HESTON = {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7}
SVCJ = {
    "kappa": 3.46,
    "theta": 0.008,
    "sigma": 0.14,
    "rho": -0.82,
    "jump_intensity": 0.47,
    "jump_mean": -0.086539,
    "jump_std": 0.0001,
    "var_jump_mean": 0.05,
    "jump_corr": -0.38,
}


def scenario(**changes) -> dict:
    """A valid scenario dict (Heston, 20 sessions from 2026-07-31) with changes applied."""
    d = {
        "name": "t",
        "model": "heston",
        "params": dict(HESTON),
        "spot": 7489.72,
        "vix": 15.99,
        "start": "2026-07-31",
        "horizon": 20,
    }
    d.update(changes)
    return d


def expectations(path: Path) -> tuple[str, str]:
    head = {}
    for line in path.read_text().splitlines():
        if line.startswith("# expect-"):
            key, _, value = line[len("# expect-") :].partition(":")
            head[key.strip()] = value.strip()
    return head["field"], head["value"]


# --------------------------------------------------------------------------- malformed files
def test_enough_bad_fixtures():
    assert len(BAD) >= 12


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_message_names_file_field_and_value(path: Path):
    field, value = expectations(path)
    given_as = str(path)
    with pytest.raises(SpecError) as info:
        load_scenario(given_as)
    err = info.value
    msg = str(err)
    assert err.source == given_as
    assert msg.startswith(given_as + ":")
    assert f"{field}:" in msg, msg
    assert field in [i.field for i in err.issues], [i.field for i in err.issues]
    assert value in msg, msg
    # every issue says what is wrong / allowed, not just "invalid"
    for issue in err.issues:
        assert issue.allowed and len(issue.allowed) > 10


def test_bad_files_also_fail_from_a_path_object():
    path = DATA / "bad_scenarios" / "negative_kappa.yaml"
    with pytest.raises(SpecError) as info:
        load_scenario(path)
    assert "negative_kappa.yaml" in str(info.value)


# --------------------------------------------------------------------------- field rules via dicts
@pytest.mark.parametrize(
    "changes, field, allowed_part",
    [
        ({"spot": -1.0}, "spot", "> 0"),
        ({"rate": 0.3}, "rate", "[-0.05, 0.25]"),
        ({"dividend_yield": -0.01}, "dividend_yield", "[0, 0.2]"),
        ({"drift": 3.0}, "drift", "[-2, 2]"),
        ({"horizon": 2521}, "horizon", "[1, 2520]"),
        ({"steps_per_day": 0}, "steps_per_day", "[1, 390]"),
        ({"paths": 0}, "paths", "[1, 1000000000]"),
        ({"seed": -1}, "seed", "[0, 4294967295]"),
        ({"model": "sabr"}, "model", "one of heston, bates, svcj"),
        ({"scheme": "milstein"}, "scheme", "one of qe, euler"),
        ({"vix": float("nan")}, "vix", "(0, 300]"),
        ({"horizon": 20.0}, "horizon", "integer"),
        ({"start": "31/07/2026"}, "start", "YYYY-MM-DD"),
        ({"start": "2026-02-30"}, "start", "YYYY-MM-DD"),
        ({"strategy": {"ladder": [7, 21]}}, "strategy.ladder", "unknown key"),
        ({"strategy": {"short_delta": 0.6}}, "strategy.short_delta", "(0, 0.5)"),
    ],
)
def test_field_rules(changes, field, allowed_part):
    with pytest.raises(SpecError) as info:
        load_scenario(scenario(**changes))
    err = info.value
    assert err.source == "<dict>"
    assert err.field == field
    assert allowed_part in str(err)


def test_missing_keys_say_what_they_are():
    d = scenario()
    del d["spot"], d["horizon"]
    with pytest.raises(SpecError) as info:
        load_scenario(d)
    fields = {i.field: str(i) for i in info.value.issues}
    assert set(fields) == {"spot", "horizon"}
    assert "missing; required (initial SPX level" in fields["spot"]
    assert "missing; required (number of trading days" in fields["horizon"]


def test_neither_vix_nor_v0_names_both():
    with pytest.raises(SpecError) as info:
        load_scenario(scenario(vix=None))
    assert info.value.field == "vix"
    assert "params.v0" in str(info.value)


def test_vix_floor_is_the_pricing_models():
    # pricing theta changes b and therefore the floor: the check must use Q
    q = get_model("heston").from_params({**HESTON, "theta": 0.09})
    floor_q = q.vix_floor()
    floor_p = get_model("heston").from_params(HESTON).vix_floor()
    assert floor_q > floor_p
    vix = 0.5 * (floor_p + floor_q)
    load_scenario(scenario(vix=vix))  # fine under P = Q
    with pytest.raises(SpecError) as info:
        load_scenario(scenario(vix=vix, pricing={"theta": 0.09}))
    assert info.value.field == "vix"
    assert f"{floor_q:.4g}" in str(info.value)


def test_several_problems_are_reported_together():
    with pytest.raises(SpecError) as info:
        load_scenario(scenario(params={"kappa": -1.0, "theta": 0.04, "sigma": 0.5, "rho": 2.0}))
    assert {i.field for i in info.value.issues} == {"params.kappa", "params.rho"}
    assert "2 problems" in str(info.value)


def test_pricing_may_not_change_the_state_and_inherits_missing_names():
    spec = load_scenario(scenario(pricing={"kappa": 1.0}))
    q, p = spec.model_q(), spec.model_p()
    assert q.kappa == 1.0 and p.kappa == HESTON["kappa"]
    assert q.theta == p.theta == HESTON["theta"]
    with pytest.raises(SpecError) as info:
        load_scenario(scenario(pricing={"kappa": 1.0, "foo": 2.0}))
    assert info.value.field == "pricing.foo"


def test_shock_needs_an_effect_and_the_right_timing():
    cases = [
        ([{"day": 3}], "shocks[0]", "exactly one effect"),
        ([{"spx_return": -0.01}], "shocks[0].day", "point effect"),
        ([{"correlation": 0.1, "day": 3}], "shocks[0]", "window effect"),
        ([{"correlation": 0.1, "start": 3}], "shocks[0].end", "start and end"),
        ([{"spx_return": -1.0, "day": 3}], "shocks[0].spx_return", "(-1, 1]"),
        ([{"spx_return": -0.01, "day": 0}], "shocks[0].day", ">= 1"),
        ([{"spx_return": -0.01, "day": True}], "shocks[0].day", "trading-day index"),
        ([{"spx_return": -0.01, "day": "2026-07-31"}], "shocks[0].day", "(2026-07-31, "),
        ([{"spx_return": -0.01, "day": 2}, {"spx_return": -0.01, "day": "2026-08-04"}], "shocks[1]", "only one spx_return"),
        ([{"vix_level": 30.0, "day": 2}, {"vix_change": 5.0, "day": 2}], "shocks[1]", "only one VIX shock"),
        ([{"correlation": 0.1, "start": "2026-08-10", "end": 4}], "shocks[0].end", "end >= start"),
    ]
    for shocks, field, text in cases:
        with pytest.raises(SpecError) as info:
            load_scenario(scenario(shocks=shocks))
        assert info.value.field == field, (shocks, str(info.value))
        assert text in str(info.value), (shocks, str(info.value))


def test_overlapping_multiplier_windows_are_allowed():
    spec = load_scenario(
        scenario(
            shocks=[
                {"vol_of_vol_multiplier": 2.0, "start": 2, "end": 10},
                {"vol_of_vol_multiplier": 1.5, "start": 5, "end": 12},
                {"correlation": 0.1, "start": 2, "end": 4},
                {"correlation": 0.2, "start": 5, "end": 6},
            ]
        )
    )
    assert [r.first_day for r in spec.resolved_shocks()] == [2, 5, 2, 5]


# --------------------------------------------------------------------------- resolution
def test_resolved_shocks_map_dates_to_session_indices():
    sessions = cal.sessions("2026-07-31", 20)
    d7 = sessions[7].date()
    spec = load_scenario(
        scenario(
            shocks=[
                {"spx_return": -0.02, "day": 3, "note": "gap"},
                {"vix_level": 30.0, "day": d7},
                {"correlation": 0.3, "start": sessions[2].date().isoformat(), "end": 9},
            ]
        )
    )
    r = spec.resolved_shocks()
    assert [x.kind for x in r] == ["spx_return", "vix_level", "correlation"]
    assert (r[0].first_day, r[0].last_day, r[0].value, r[0].note) == (3, 3, -0.02, "gap")
    assert (r[1].first_day, r[1].last_day) == (7, 7)
    assert (r[2].first_day, r[2].last_day) == (2, 9)
    assert spec.session_dates()[7] == d7
    assert spec.day_index(d7) == 7 == cal.session_index(spec.start, d7)
    assert spec.end_date == sessions[-1].date()
    assert len(spec.session_dates()) == spec.horizon + 1


def test_resolved_events_rules_dates_and_defaults():
    start, horizon = "2026-06-30", 50
    sessions = [d.date() for d in cal.sessions(start, horizon)]
    spec = load_scenario(
        scenario(
            start=start,
            horizon=horizon,
            events=[
                {"kind": "fomc", "dates": ["2026-09-16", "2026-07-29", "2026-06-17"], "spx_jump": {"std": 0.01}},
                {"kind": "cpi", "rule": {"every": "month", "day": 13}, "variance_bump": 0.2, "variance_crush": 0.3},
                {"kind": "ppi", "rule": {"every": "month", "weekday": "thu", "nth": 2}, "time": "10:00"},
                {"kind": "custom", "name": "earnings", "dates": ["2026-08-26", "2026-06-30"]},  # start day: ignored
            ],
        )
    )
    ev = spec.resolved_events()
    days = [e.day_index for e in ev]
    assert days == sorted(days)
    by_kind = {}
    for e in ev:
        by_kind.setdefault(e.kind, []).append(sessions[e.day_index])
    # FOMC 2026-06-17 is before start: ignored; 2026-09-16 is beyond the horizon end
    assert sessions[-1] < dt.date(2026, 9, 16)
    assert by_kind["fomc"] == [dt.date(2026, 7, 29)]
    # CPI: the 13th, rolled forward to a session (2026-09-13 is a Sunday -> outside anyway)
    expected_cpi = [cal.next_session(dt.date(2026, m, 13)) for m in (7, 8, 9)]
    assert by_kind["cpi"] == [d for d in expected_cpi if sessions[0] < d <= sessions[-1]]
    assert all(d.day >= 13 for d in by_kind["cpi"])
    # PPI: second Thursday of each month
    for d in by_kind["ppi"]:
        assert d.weekday() == 3 and 8 <= d.day <= 14
    assert by_kind["custom"] == [dt.date(2026, 8, 26)]
    times = {e.kind: e.time for e in ev}
    assert times == {"fomc": "14:00", "cpi": "08:30", "ppi": "10:00", "custom": "09:30"}
    fomc = next(e for e in ev if e.kind == "fomc")
    assert (fomc.name, fomc.jump_mean, fomc.jump_std, fomc.pre_days) == ("FOMC", 0.0, 0.01, 3)
    assert next(e for e in ev if e.kind == "custom").name == "earnings"


def test_event_rule_rolls_holidays_forward():
    # 2026-11-26 (Thanksgiving) is the 4th Thursday; the 26th of November rolls to the 27th
    spec = load_scenario(scenario(start="2026-11-02", horizon=30, events=[{"kind": "custom", "rule": {"every": "month", "day": 26}}]))
    dates = [spec.session_dates()[e.day_index] for e in spec.resolved_events()]
    assert dt.date(2026, 11, 27) in dates


def test_v0_or_vix():
    with_vix = load_scenario(scenario())
    q = with_vix.model_q()
    a, b = q.vix2_coefficients()
    # independent inversion of VIX^2 = a v + b
    assert with_vix.v0() == pytest.approx(((15.99 / 100) ** 2 - b) / a, rel=1e-12)
    with_v0 = load_scenario(scenario(vix=None, params={**HESTON, "v0": 0.03}))
    assert with_v0.v0() == 0.03
    assert with_v0.initial_vix() == pytest.approx(100 * math.sqrt(a * 0.03 + b), rel=1e-12)


def test_effective_drift():
    assert load_scenario(scenario(rate=0.04, dividend_yield=0.01)).effective_drift() == pytest.approx(0.03)
    assert load_scenario(scenario(rate=0.04, drift=0.1)).effective_drift() == 0.1


# --------------------------------------------------------------------------- round trips and immutability
def full_scenario() -> dict:
    return scenario(
        model="svcj",
        params=dict(SVCJ),
        pricing={"jump_intensity": 0.6},
        horizon=40,
        steps_per_day=2,
        rate=0.04,
        dividend_yield=0.012,
        drift=0.07,
        shocks=[{"spx_return": -0.018, "day": 5}, {"jump_intensity_multiplier": 3, "start": "2026-08-10", "end": 12}],
        events=[{"kind": "fomc", "dates": [dt.date(2026, 9, 16)], "spx_jump": {"mean": -0.001, "std": 0.008}, "variance_crush": 0.1}],
        description="d",
        source="s",
    )


def test_dict_round_trip():
    spec = load_scenario(full_scenario())
    d = spec.to_dict()
    json.dumps(d)  # JSON-compatible
    again = load_scenario(d)
    assert again == spec
    assert again.resolved_shocks() == spec.resolved_shocks()
    assert again.resolved_events() == spec.resolved_events()
    assert load_scenario(yaml.safe_load(spec.to_yaml())) == spec


def test_yaml_file_round_trip_and_default_name(tmp_path):
    spec = load_scenario(full_scenario())
    d = spec.to_dict()
    del d["name"]
    path = tmp_path / "My Stress-Case.yaml"
    path.write_text(yaml.safe_dump(d))
    loaded = load_scenario(str(path))
    assert loaded.name == "my_stress-case"
    assert apply_overrides(loaded, {"name": spec.name}) == spec


def test_immutable():
    spec = load_scenario(full_scenario())
    with pytest.raises(Exception):
        spec.spot = 1.0
    with pytest.raises(TypeError):
        spec.params["kappa"] = 1.0
    with pytest.raises(TypeError):
        spec.pricing.update(kappa=1.0)
    with pytest.raises(Exception):
        spec.shocks[0].day = 3
    assert isinstance(spec.shocks, tuple) and isinstance(spec.events[0].dates, tuple)
    hash(spec)  # frozen specs are hashable
    assert copy.deepcopy(spec) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec


def test_model_copy_is_validated():
    spec = load_scenario(full_scenario())
    assert spec.model_copy(update={"paths": 5}).paths == 5
    with pytest.raises(SpecError):
        spec.model_copy(update={"horizon": 3})  # the shock window reaches day 12


# --------------------------------------------------------------------------- overrides
def test_overrides_replace_values_and_revalidate():
    spec = load_scenario(full_scenario())
    new = apply_overrides(
        spec,
        {
            "spot": 5000.0,
            "params.kappa": 4.0,
            "pricing.kappa": 2.0,
            "shocks[0].spx_return": -0.05,
            "shocks[1].end": 15,
            "events[0].spx_jump.std": 0.02,
            "start": "2026-08-03",
            "paths": 123,
        },
    )
    assert new.spot == 5000.0 and spec.spot == 7489.72
    assert new.params["kappa"] == 4.0 and new.model_q().kappa == 2.0
    assert new.resolved_shocks()[0].value == -0.05
    assert new.resolved_shocks()[1].last_day == 15
    assert new.events[0].spx_jump.std == 0.02
    assert new.start == dt.date(2026, 8, 3) and new.paths == 123
    # untouched parts are unchanged
    assert new.params["theta"] == spec.params["theta"] and new.events[0].variance_crush == spec.events[0].variance_crush
    # None removes a key: switch from vix to v0
    v0 = apply_overrides(spec, {"vix": None, "params.v0": 0.02})
    assert v0.vix is None and v0.v0() == 0.02


@pytest.mark.parametrize(
    "key, listed",
    [
        ("spott", ["spot", "horizon", "shocks"]),
        ("events[0].spx_jump.sd", ["mean", "std"]),
        ("shocks[0].days", ["day", "start", "end"]),
        ("shocks[7].day", ["shocks[0] .. shocks[1]"]),
        ("params.kapa", ["kappa", "jump_corr"]),
        ("spot.x", ["single value"]),
        ("shocks.day", ["shocks[i]"]),
        ("params..kappa", ["malformed"]),
    ],
)
def test_bad_override_keys(key, listed):
    spec = load_scenario(full_scenario())
    with pytest.raises(SpecError) as info:
        apply_overrides(spec, {key: 1.0})
    msg = str(info.value)
    assert key in msg
    for word in listed:
        assert word in msg, msg


def test_override_values_are_validated_with_the_source_label():
    with pytest.raises(SpecError) as info:
        load_scenario("base", overrides={"params.rho": -1.5})
    assert info.value.field == "params.rho"
    assert info.value.source == "scenarios/base.yaml (overrides)"


# --------------------------------------------------------------------------- hashing
def test_hash_is_stable_across_spellings():
    a = load_scenario(full_scenario())
    d = full_scenario()
    d = dict(reversed(list(d.items())))  # other key order
    d["start"] = dt.date(2026, 7, 31)  # date object instead of string
    d["spot"] = 7489.72
    d["params"] = {k: SVCJ[k] for k in reversed(list(SVCJ))}
    d["horizon"] = 40
    d["events"] = [{**full_scenario()["events"][0], "dates": ["2026-09-16"]}]
    b = load_scenario(d)
    assert canonical_json(a) == canonical_json(b)
    assert spec_hash(a) == spec_hash(b) == hashlib.sha256(canonical_json(a).encode()).hexdigest()
    # an integer given for a float gives the same hash
    c = load_scenario({**full_scenario(), "spot": 7500})
    assert spec_hash(c) == spec_hash(load_scenario({**full_scenario(), "spot": 7500.0}))
    # any change changes the hash
    assert spec_hash(apply_overrides(a, {"seed": 1})) != spec_hash(a)
    assert spec_hash(apply_overrides(a, {"shocks[0].day": 6})) != spec_hash(a)


def test_canonical_json_is_sorted_and_uses_iso_dates():
    text = canonical_json(load_scenario(full_scenario()))
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["start"] == "2026-07-31"
    assert json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text


# --------------------------------------------------------------------------- loading
def test_unknown_name_lists_library(tmp_path):
    for bad in ("no_such_scenario", str(tmp_path / "missing.yaml")):
        with pytest.raises(SpecError) as info:
            load_scenario(bad)
        msg = str(info.value)
        for name in list_library():
            assert name in msg


def test_spec_instance_is_returned_as_is():
    spec = load_scenario(full_scenario())
    assert load_scenario(spec) is spec
    assert load_scenario(spec, overrides={"paths": 7}).paths == 7


def test_yaml_loader_rules(tmp_path):
    data = load_yaml_text("a: 14:00\nb: yes\nc: 1e4\nd: 010\ne: 2026-07-31\nf: 1_000\ng: off\n")
    assert data == {"a": "14:00", "b": "yes", "c": 1e4, "d": 10, "e": dt.date(2026, 7, 31), "f": 1000, "g": "off"}
    with pytest.raises(SpecError) as info:
        load_yaml_text("events:\n  - kind: cpi\n    rule: {every: month, day: 13, day: 14}\n", "x.yaml")
    assert info.value.field == "events[0].rule.day"
    assert "line 3" in str(info.value)
    with pytest.raises(SpecError) as info:
        load_yaml_text("- 1\n- 2\n", "list.yaml")
    assert "mapping" in str(info.value)
    with pytest.raises(SpecError):
        load_yaml_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(SpecError) as info:
        load_yaml(tmp_path / "nope.yaml")
    assert info.value.field == "<file>"


def test_event_time_unquoted_in_yaml(tmp_path):
    path = tmp_path / "ev.yaml"
    d = scenario(events=[{"kind": "custom", "dates": ["2026-08-05"]}])
    text = yaml.safe_dump(d) + ""
    text = text.replace("- dates:", "- time: 14:00\n  dates:")
    path.write_text(text)
    spec = load_scenario(str(path))
    assert spec.resolved_events()[0].time == "14:00"


def test_components_validate_on_their_own():
    ShockSpec(spx_return=-0.01, day=3)
    EventSpec(kind="cpi", rule={"every": "month", "day": 13})
    with pytest.raises(Exception):
        ShockSpec(spx_return=-0.01, vix_change=1.0, day=3)
    assert ScenarioSpec.model_fields["shocks"].default == ()


# --------------------------------------------------------------------------- properties
RULES = get_model("heston").RULES


def _in_rule(name):
    r = RULES[name]
    lo = r.low if not r.low_open else math.nextafter(r.low, math.inf)
    return st.floats(lo, r.high, allow_nan=False)


def test_degenerate_kappa_is_a_spec_error_not_a_crash():
    # kappa * tau underflows to 0 in the VIX formula: reported, never a ZeroDivisionError
    with pytest.raises(SpecError):
        load_scenario(scenario(params={**HESTON, "kappa": 5e-324}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kappa=st.floats(RULES["kappa"].low, RULES["kappa"].high), theta=_in_rule("theta"), sigma=_in_rule("sigma"), rho=_in_rule("rho"), v0=st.floats(0.0, 16.0))
def test_random_valid_params_validate(kappa, theta, sigma, rho, v0):
    params = {"kappa": kappa, "theta": theta, "sigma": sigma, "rho": rho, "v0": v0}
    spec = load_scenario(scenario(vix=None, params=params))
    assert dict(spec.params) == params
    assert spec.v0() == v0


@settings(max_examples=40, deadline=None)
@given(rho=st.one_of(st.floats(1.0, 1e6, exclude_min=True), st.floats(-1e6, -1.0, exclude_max=True)))
def test_random_invalid_rho_rejected(rho):
    with pytest.raises(SpecError) as info:
        load_scenario(scenario(params={**HESTON, "rho": rho}))
    assert info.value.field == "params.rho"
    assert "[-1, 1]" in str(info.value)


@settings(max_examples=30, deadline=None)
@given(horizon=st.integers(1, 60), day=st.integers(-5, 70))
def test_shock_day_inside_horizon_iff_valid(horizon, day):
    d = scenario(horizon=horizon, shocks=[{"vix_change": 1.0, "day": day}])
    if 1 <= day <= horizon:
        r = load_scenario(d).resolved_shocks()[0]
        assert r.first_day == r.last_day == day
    else:
        with pytest.raises(SpecError) as info:
            load_scenario(d)
        assert info.value.field == "shocks[0].day"


@settings(max_examples=30, deadline=None)
@given(offset=st.integers(0, 60))
def test_shock_dates_resolve_like_the_calendar(offset):
    date = dt.date(2026, 7, 31) + dt.timedelta(days=offset)
    d = scenario(horizon=30, shocks=[{"spx_return": 0.01, "day": date.isoformat()}])
    sessions = [x.date() for x in cal.sessions("2026-07-31", 30)]
    if date in sessions[1:]:
        assert load_scenario(d).resolved_shocks()[0].first_day == sessions.index(date)
    else:
        with pytest.raises(SpecError):
            load_scenario(d)

"""The built-in scenario library (scenarios/*.yaml)."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import math
from importlib import resources

import pytest

from gpu_alvh import calendar as cal
from gpu_alvh.spec import library_path, list_library, load_scenario
from gpu_alvh.spec.historical import EPISODES
from gpu_alvh.spec.loader import load_yaml

REQUIRED = {"base", "gap_1p8", "volmageddon", "vol_expansion", "melt_up", "expiry_pin", "fomc_cpi_month"}
NAMES = list_library()
TAU = 30.0 / 365.0


def vix_points(model: str, p: dict, v: float, v2: float = 0.0) -> float:
    """Model VIX from SPEC section 3, written out independently of gpu_alvh.models (svcj2: the slow factor
    adds ``a2 v2 + theta2 (1 - a2)``, ``a2`` of ``kappa2``)."""
    k, th = p["kappa"], p["theta"]
    a = (1.0 - math.exp(-k * TAU)) / (k * TAU)
    lam = p.get("jump_intensity", 0.0)
    mu, d = p.get("jump_mean", 0.0), p.get("jump_std", 0.0)
    mu_v, rho_j = p.get("var_jump_mean", 0.0), p.get("jump_corr", 0.0)
    if model in ("svcj", "svcj2"):
        m = math.exp(mu + 0.5 * d * d) / (1.0 - rho_j * mu_v) - 1.0
        b = (th + lam * mu_v / k) * (1.0 - a) + 2.0 * lam * (m - (mu + rho_j * mu_v))
    elif model == "bates":
        b = th * (1.0 - a) + 2.0 * lam * (math.exp(mu + 0.5 * d * d) - 1.0 - mu)
    else:
        b = th * (1.0 - a)
    if model == "svcj2":
        k2 = p["kappa2"]
        a2 = (1.0 - math.exp(-k2 * TAU)) / (k2 * TAU)
        return 100.0 * math.sqrt(a * v + a2 * v2 + b + p["theta2"] * (1.0 - a2))
    return 100.0 * math.sqrt(a * v + b)


def test_required_scenarios_present():
    assert REQUIRED <= set(NAMES)


def test_library_is_package_data():
    root = resources.files("gpu_alvh.library")
    for name in NAMES:
        assert root.joinpath(f"{name}.yaml").is_file()
        assert library_path(name).read_text(encoding="utf-8")


def test_a_source_checkout_not_installed_reads_its_scenarios_folder(monkeypatch):
    """On PYTHONPATH alone (the lent GPU machine runs the tree so) ``gpu_alvh.library`` does not exist: the
    library is the checkout's ``scenarios/`` folder, the same names and files."""
    from gpu_alvh.spec import loader

    real = resources.files
    base = real("gpu_alvh.library").joinpath("base.yaml").read_text(encoding="utf-8")

    def files(package):
        if package == loader.LIBRARY_PACKAGE:
            raise ModuleNotFoundError(f"No module named {package!r}")
        return real(package)

    monkeypatch.setattr(loader.resources, "files", files)
    assert list_library() == NAMES
    assert load_scenario("base").name == "base"
    assert library_path("base").read_text(encoding="utf-8") == base


@pytest.mark.parametrize("name", NAMES)
def test_library_file_loads_and_is_documented(name):
    spec = load_scenario(name)
    assert spec.name == name
    assert spec.source.strip() and len(spec.source) > 80, "each file says where its numbers come from"
    assert spec.description.strip()
    assert cal.is_session(spec.start)
    raw = load_yaml(library_path(name))
    assert ("historical" in raw) == (name in EPISODES)  # the replays of real episodes (tests/test_historical*.py)
    # the model VIX at t = 0 is the file's vix
    q = {**spec.params, **(spec.pricing or {})}
    assert spec.vix is not None
    if name in EPISODES and spec.vix < spec.model_q().vix_floor():  # a real close below the model's floor
        return  # (volmageddon_2018, day 0 VIX 11.66: v0 = 0; tests/test_historical_spec.py)
    assert vix_points(spec.model, q, spec.v0(), spec.v2_0()) == pytest.approx(spec.vix, rel=1e-10)
    assert spec.initial_vix() == pytest.approx(spec.vix, rel=1e-10)
    assert spec.v0() > 0


@functools.lru_cache(maxsize=2)
def _read_closes(folder: str) -> dict[str, dict[str, float]]:
    out = {}
    for series in ("spx", "vix", "vxo"):
        with open(f"{folder}/data/{series}_daily.csv", newline="") as fh:
            out[series] = {row["date"]: float(row["close"]) for row in csv.DictReader(fh)}
    return out


@pytest.fixture
def closes(shared_dir):
    """Daily closes from shared/data (the test skips when the folder is absent)."""
    if not (shared_dir / "data" / "spx_daily.csv").exists():
        pytest.skip("shared/data not available")
    return _read_closes(str(shared_dir))


@pytest.mark.parametrize("name", NAMES)
def test_spot_and_vix_are_the_real_closes_of_the_start_date(name, closes):
    spec = load_scenario(name)
    day = spec.start.isoformat()
    vol = "vxo" if spec.historical is not None and spec.historical.window().vol_series == "VXO" else "vix"
    assert closes["spx"][day] == pytest.approx(spec.spot, abs=0.005)
    assert closes[vol][day] == pytest.approx(spec.vix, abs=0.005)


def test_base_is_calm_and_one_year():
    spec = load_scenario("base")
    assert spec.horizon == 252 and spec.paths >= 1000
    assert spec.shocks == () and spec.events == ()
    # a variance risk premium: pricing long-run VIX above the realised long-run vol of the paths
    q, p = spec.model_q(), spec.model_p()
    assert q.theta > p.theta


def test_gap_1p8_is_the_seed_example():
    spec = load_scenario("gap_1p8")
    kinds = {(r.kind, r.first_day): r.value for r in spec.resolved_shocks()}
    assert kinds[("spx_return", 5)] == -0.018
    assert 0 < kinds[("vix_change", 5)] < 10
    base = load_scenario("base")
    # same market as base so the two compare on common random numbers
    assert (spec.model, dict(spec.params), spec.start, spec.spot, spec.vix, spec.seed) == (
        base.model,
        dict(base.params),
        base.start,
        base.spot,
        base.vix,
        base.seed,
    )


def test_volmageddon_day(closes):
    spec = load_scenario("volmageddon")
    assert spec.model == "svcj"
    r = {x.kind: x for x in spec.resolved_shocks()}
    day = spec.session_dates()[r["spx_return"].first_day]
    assert day == dt.date(2018, 2, 5) == spec.session_dates()[r["vix_level"].first_day]
    assert r["spx_return"].value == pytest.approx(closes["spx"]["2018-02-05"] / closes["spx"]["2018-02-02"] - 1, abs=5e-4)
    assert r["vix_level"].value == pytest.approx(closes["vix"]["2018-02-05"], abs=0.005)
    assert round(spec.vix, 1) == 17.3


def test_expiry_pin_ends_on_an_expiration_near_a_strike():
    spec = load_scenario("expiry_pin")
    assert spec.steps_per_day == 13
    end = spec.end_date
    assert end == cal.third_friday(end.year, end.month)
    assert abs(spec.spot - 5 * round(spec.spot / 5)) < 2.5


def test_fomc_cpi_month_has_real_fomc_and_rules():
    spec = load_scenario("fomc_cpi_month")
    ev = spec.resolved_events()
    kinds = {e.kind for e in ev}
    assert kinds == {"fomc", "cpi", "ppi"}
    fomc = [spec.session_dates()[e.day_index] for e in ev if e.kind == "fomc"]
    assert fomc == [dt.date(2026, 7, 29)]
    assert all(e.time == "14:00" for e in ev if e.kind == "fomc")
    assert any(e.variance_bump > 0 and e.variance_crush > 0 for e in ev)
    assert spec.events[1].rule is not None and spec.events[2].rule is not None


def test_melt_up_and_vol_expansion_shapes():
    melt = load_scenario("melt_up")
    assert melt.effective_drift() > 0.2
    kinds = [r.kind for r in melt.resolved_shocks()]
    assert "correlation" in kinds and all(r.value > 0 for r in melt.resolved_shocks() if r.kind == "correlation")
    assert sum(r.value for r in melt.resolved_shocks() if r.kind == "vix_change") < 0
    vol = load_scenario("vol_expansion")
    kinds = {r.kind for r in vol.resolved_shocks()}
    assert {"vol_of_vol_multiplier", "jump_intensity_multiplier", "vix_change"} <= kinds
    assert sum(r.value for r in vol.resolved_shocks() if r.kind == "vix_change") > 0

"""The report (``alvh report``, ``alvh run --report``, ``gpu_alvh.report``) built from small real runs and sweeps.

Stores: one real run (volmageddon, 32 paths, through ``alvh run --out --report``); a two-scenario store
derived from it with the real 2018 SPX/VIX closes attached to one scenario, a claim row added and
optional variables removed (schema growth); a real sweep (volmageddon shortened to 10 days, 2 x 2 x 2
strategy grid, 16 paths, two passes) and the partial store its first shard left behind.  Captions are
checked against numbers read from the stores, and ``index.html`` is rendered in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html import escape
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr
import yaml
from click.testing import CliRunner

import gpu_alvh
from gpu_alvh.cli import main
from gpu_alvh.data import load_history
from gpu_alvh.errors import SpecError
from gpu_alvh.report import common, dist
from gpu_alvh.report import sweep as sweep_figs
from gpu_alvh.report.claims import fmt_claim
from gpu_alvh.report.common import RC, Sink, num, usd
from gpu_alvh.report.output import MARKER, check_out, publish, staging_dir
from gpu_alvh.report.sweep import marginal_means, pair_grid
from gpu_alvh.spec import load_scenario
from gpu_alvh import sweep

RUN_FIGURES = ("nav_fan", "final_pnl", "drawdown", "worst_day", "attribution", "greeks", "hedge_cost_payoff", "claims")


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def html_of(out: Path) -> str:
    return (out / "index.html").read_text(encoding="utf-8")


def figure_files(html: str) -> list[str]:
    return re.findall(r'href="([^"]+\.(?:png|svg))"', html)


# ------------------------------------------------------------------------------------ stores
@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    """``alvh run volmageddon --out S --report R``: (store, report dir, CLI output)."""
    tmp = tmp_path_factory.mktemp("run")
    store, out = tmp / "vm.zarr", tmp / "report"
    r = cli("run", "volmageddon", "--paths", "32", "--backend", "numpy", "--out", str(store), "--report", str(out), "--no-progress")
    assert r.exit_code == 0, r.output
    return store, out, r.output


def _with_history(ds: xr.Dataset) -> xr.Dataset:
    """Two scenarios: the run as is, and a copy carrying the real closes of its dates (a historical episode),
    one more claim row (no data) and without the optional per-path and greek variables."""
    a = ds.isel(scenario=[0])
    both = xr.concat([a, a.assign_coords(scenario=["volmageddon_2018"])], dim="scenario")
    dates = np.asarray(a["date"].values).astype("datetime64[D]").astype("datetime64[ns]")
    real = {n: load_history(n).reindex(dates).to_numpy() for n in ("spx", "vix")}
    for n, v in real.items():
        both[f"real_{n}"] = (("scenario", "day"), np.vstack([np.full_like(v, np.nan), v]), {"units": "index points", "source": f"gpu_alvh.data {n}"})
    both.attrs["historical_json"] = json.dumps({"volmageddon_2018": {"from": "2018-02-02", "to": "2018-04-04", "dispersion": 1.0}})
    claim_vars = [k for k in both.data_vars if both[k].dims[-1:] == ("claim",)]
    new = both[claim_vars].isel(claim=[0]).assign_coords(claim=["C9_new"])
    for k in claim_vars:
        fill = {"verdict": "n/a", "claim_text": "a claim added after this report was written"}.get(k)
        kind = new[k].dtype.kind
        blank = np.nan if kind == "f" else False if kind == "b" else ""
        new[k] = new[k].copy(data=np.full(new[k].shape, blank if fill is None else fill))
    grown = xr.concat([both[claim_vars], new], dim="claim")
    dropped = ["layer_pnl", "final_pnl", "max_drawdown", "worst_day", "hedge_premium", "hedge_payoff",
               "mean_delta", "mean_gamma", "mean_vega", "mean_theta"]
    return both.drop_dims("claim").merge(grown).drop_vars(dropped)


@pytest.fixture(scope="module")
def hist_report(run_report, tmp_path_factory):
    store, _, _ = run_report
    tmp = tmp_path_factory.mktemp("hist")
    ds = _with_history(gpu_alvh.open_results(store).load())
    for v in ds.variables.values():
        v.encoding = {}  # written afresh, as the engine writes a new store
    ds.to_zarr(tmp / "hist.zarr", consolidated=False, zarr_format=2)
    r = cli("report", str(tmp / "hist.zarr"), "--out", str(tmp / "report"))
    assert r.exit_code == 0, r.output
    return ds, tmp / "report", r.output


@pytest.fixture(scope="module")
def sweeps(run_report, tmp_path_factory):
    """(full store, partial store): a 2 x 2 x 2 sweep in two passes; the partial store is a copy taken after shard 0/2."""
    tmp = tmp_path_factory.mktemp("sweep")
    scen = load_scenario("volmageddon").to_dict()
    scen.update(name="vm10", horizon=10)
    spec = {"name": "report_test", "scenarios": [scen], "paths": 16, "seed": 5, "batch_size": 16, "variants_per_pass": 4,
            "grid": {"strategy.short_delta": [0.10, 0.16], "strategy.hedge.budget_pct": [0, 3], "strategy.profit_target": [0.5, 0.8]}}
    (tmp / "s.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    full, part = tmp / "full.zarr", tmp / "part.zarr"
    sweep(tmp / "s.yaml", out=full, backend="numpy", shard="0/2")
    shutil.copytree(full, part)
    sweep(tmp / "s.yaml", out=full, backend="numpy", shard="1/2")
    return full, part


@pytest.fixture(scope="module")
def sweep_reports(sweeps, tmp_path_factory):
    """The partial store's report (kept as a copy), then the full store's report written over it with the CLI."""
    full, part = sweeps
    tmp = tmp_path_factory.mktemp("sweep_reports")
    rep = gpu_alvh.report(str(part), tmp / "report")
    assert rep.index == tmp / "report" / "index.html" and all(p.parent == tmp / "report" for p in rep.figures)
    shutil.copytree(tmp / "report", tmp / "partial")
    r = cli("report", str(full), "--out", str(tmp / "report"))  # a new report into the directory of the previous one
    assert r.exit_code == 0, r.output
    return tmp / "report", tmp / "partial", r.output


# ------------------------------------------------------------------------------------ files and HTML
def assert_complete(out: Path) -> str:
    """Every figure file present, non-empty, a real PNG/SVG, and linked from index.html; the marker lists them."""
    html = html_of(out)
    files = figure_files(html)
    assert files, "no figure linked from index.html"
    on_disk = sorted(p.name for p in out.iterdir() if p.suffix in (".png", ".svg"))
    assert sorted(files) == on_disk
    for f in files:
        data = (out / f).read_bytes()
        assert len(data) > 2000, f
        assert data.startswith(b"\x89PNG") if f.endswith(".png") else b"<svg" in data[:2000], f
    stems = {f.rsplit(".", 1)[0] for f in files}
    assert {f"{s}.{e}" for s in stems for e in ("png", "svg")} == set(files)  # each figure in both formats
    assert html.count("data:image/png;base64,") == len(stems)  # and embedded
    assert set(json.loads((out / MARKER).read_text())["files"]) == set(files) | {"index.html"}
    return html


def assert_offline(html: str) -> None:
    """Nothing the page loads comes from a network: no script, stylesheet link, import or remote URL."""
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I)
    assert not re.search(r"<script|<link|<iframe|@import|url\(", html, re.I)
    for src in re.findall(r'src="([^"]*)"', html):
        assert src.startswith("data:image/png;base64,"), src[:40]
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith("#") or re.fullmatch(r"[A-Za-z0-9._-]+\.(png|svg)", href), href


def caption(html: str, stem: str) -> str:
    m = re.search(rf'<figure id="{re.escape(stem)}">.*?<figcaption>(.*?)</figcaption>', html, re.S)
    assert m, f"no figure {stem}"
    return m.group(1).replace("&#x27;", "'").replace("&amp;", "&")


def test_run_report_has_every_figure_and_says_where_it_is(run_report):
    store, out, output = run_report
    html = assert_complete(out)
    assert_offline(html)
    for name in RUN_FIGURES:
        assert f'<figure id="s0_volmageddon_{name}">' in html, name
    assert '<figure id="overview_hedge_cost_payoff">' in html
    assert output.strip().splitlines()[-1].startswith(f"report: {out / 'index.html'}")
    ds = gpu_alvh.open_results(store)
    for key in ("gpu_alvh_version", "git_revision", "spec_hash", "seed", "backend", "device", "created", "history (creation time and command line)"):
        assert f"<td>{key}</td>" in html, key
    for key in ("git_revision", "backend", "device", "created", "history"):
        assert escape(str(ds.attrs[key])) in html, key
    assert json.loads(ds.attrs["spec_hash"])["volmageddon"] in html


def test_captions_carry_the_numbers_of_the_store(run_report):
    store, out, _ = run_report
    html = html_of(out)
    d = gpu_alvh.open_results(store).sel(scenario="volmageddon").load()
    pnl = caption(html, "s0_volmageddon_final_pnl")
    fan = caption(html, "s0_volmageddon_nav_fan")
    for s in d["strategy"].values:
        r = d.sel(strategy=s)
        assert f"{s}: mean {usd(float(r.final_pnl.mean()))}, VaR95 {usd(float(r.var95))}, CVaR95 {usd(float(r.cvar95))}" in pnl
        assert f"{s}: final NAV median {usd(float(r.nav_band.isel(day=-1).sel(quantile=0.5)))}" in fan
        wd = np.quantile(r.worst_day.values, 0.05)
        assert f"{s}: median {usd(float(np.median(r.worst_day.values)))}, 5% quantile {usd(float(wd))}" in caption(html, "s0_volmageddon_worst_day")
    att = caption(html, "s0_volmageddon_attribution")
    alvh = d.sel(strategy="alvh")
    assert f"alvh: total {usd(float(alvh.final_pnl.mean()))} = 7-DTE {usd(float(alvh.layer_pnl.sel(layer=7).mean()))}" in att
    assert f"VIX overlay {usd(float(alvh.hedge_pnl.mean()))}" in att
    claims = caption(html, "s0_volmageddon_claims")
    for c in d["claim"].values:
        r = d.sel(claim=c)
        assert f"{c} {fmt_claim(float(r.measured), str(r.claim_units.values))} vs claimed" in claims
        assert f"<td>{c}</td><td>{escape(str(r.claim_text.values))}</td>" in html
    n_paths = int(d.sizes["path"])
    assert f"{n_paths} paths" in html


def test_several_scenarios_history_and_schema_growth(hist_report):
    ds, out, output = hist_report
    html = assert_complete(out)
    assert_offline(html)
    assert "Scenario volmageddon</h2>" in html and "Scenario volmageddon_2018</h2>" in html
    # the historical figure only where the store has the real path
    assert '<figure id="s1_volmageddon_2018_historical">' in html and "s0_volmageddon_historical" not in html
    cap = caption(html, "s1_volmageddon_2018_historical")
    d = ds.sel(scenario="volmageddon_2018")
    real = d["real_vix"].values
    band = d["vix_band"]
    last = str(d["date"].values[-1])[:10]
    assert f"VIX: real {num(real[-1], 5)} on {last}" in cap and abs(real[1] - 37.32) < 1e-9  # 2018-02-05 close
    lo, hi = band.sel(quantile=0.05).values[1:], band.sel(quantile=0.95).values[1:]
    outside = int(((real[1:] < lo) | (real[1:] > hi)).sum())
    assert f"outside the simulated 5-95% band on {outside} of {real.size - 1} days after the start" in cap
    assert "historical_json: from=2018-02-02, to=2018-04-04, dispersion=1.0" in cap
    # a claim the report never heard of, with no data, is a row like the others
    assert "<td>C9_new</td>" in html and "C9_new n/a vs claimed" in caption(html, "s1_volmageddon_2018_claims")
    # missing optional variables skip their figures with a note, never an error
    for label, var in (("P&L attribution", "final_pnl"), ("final P&L distribution", "final_pnl"), ("drawdown distribution", "max_drawdown"),
                       ("mean greeks per layer", "mean greeks"), ("hedge cost vs payoff", "hedge_premium")):
        assert f"{escape(label)} not drawn: the store has no {var}" in html
        assert f"note: Scenario volmageddon: {label} not drawn" in output
    assert not list(out.glob("*attribution*")) and not list(out.glob("*greeks*"))


def test_sweep_reports_show_heatmaps_tornado_status_and_missing_cells(sweeps, sweep_reports):
    full, part = sweeps
    out_full, out_part, _ = sweep_reports
    for out in (out_full, out_part):
        html = assert_complete(out)
        assert_offline(html)
        names = {f.rsplit(".", 1)[0] for f in figure_files(html)}
        assert {"sweep_status", "sweep_tornado_0"} <= names
        assert {f"sweep_heatmap_0_{a}_{b}" for a, b in (("short_delta", "budget_pct"), ("short_delta", "profit_target"),
                                                         ("budget_pct", "profit_target"))} <= names
    ds = gpu_alvh.open_results(part).load()
    done = ds["cell_status"] == 1
    assert 0 < int(done.sum()) < int(ds["cell_status"].size)  # really partial
    html = html_of(out_part)
    n_missing = int((ds["cell_status"] == 0).sum())
    assert f"{int(done.sum())} done, {n_missing} missing, 0 failed" in caption(html, "sweep_status")
    # a heatmap square is the mean over the done cells of the other swept dims, NaN (drawn 'missing') where none is done
    empty = 0
    for a, b, other in (("short_delta", "budget_pct", "profit_target"), ("short_delta", "profit_target", "budget_pct"),
                        ("budget_pct", "profit_target", "short_delta")):
        grid, ndone, _, _ = pair_grid(ds, "vm10", "pnl_mean", "alvh", a, b)
        ref = ds["pnl_mean"].sel(scenario="vm10", strategy="alvh").where(done.sel(scenario="vm10")).mean(other).transpose(b, a)
        np.testing.assert_allclose(grid, ref.values, rtol=1e-12, equal_nan=True)
        assert not np.isnan(grid).all()
        svg = (out_part / f"sweep_heatmap_0_{a}_{b}.svg").read_text()
        assert svg.count(">missing<") == 2 * int(np.isnan(grid).sum())  # both panels, every empty square labelled, no number
        empty += int(np.isnan(grid).sum())
    assert empty > 0
    full_ds = gpu_alvh.open_results(full).load()
    assert bool((full_ds["cell_status"] == 1).all())
    assert not any(">missing<" in p.read_text() for p in out_full.glob("sweep_heatmap_*.svg"))
    marg = marginal_means(full_ds, "vm10", "cvar95", "alvh")
    cv = full_ds["cvar95"].sel(scenario="vm10", strategy="alvh")
    np.testing.assert_allclose(marg["budget_pct"], cv.mean(["short_delta", "profit_target"]).values, rtol=1e-12)
    tor = caption(html_of(out_full), "sweep_tornado_0")
    m = cv.mean(["short_delta", "profit_target"]).values
    assert f"cvar95: strategy.hedge.budget_pct moves it from {usd(m.min())}" in tor


def test_single_parameter_sweep_and_sampled_distributions(sweeps, run_report, tmp_path, monkeypatch):
    """A sweep over one parameter gets a scenario x parameter heatmap; a store with more paths than MAX_PATHS
    draws its distributions from the first MAX_PATHS paths and says so."""
    full, _ = sweeps
    ds = gpu_alvh.open_results(full).isel(short_delta=0, profit_target=0, drop=True).load()
    sink = Sink(tmp_path)
    with matplotlib.rc_context(RC):
        sweep_figs.heatmaps(sink, ds, None, 0, "hm")
        sweep_figs.tornado(sink, ds, "vm10", 0, "tor")
        monkeypatch.setattr(common, "MAX_PATHS", 10)
        d = gpu_alvh.open_results(run_report[0]).isel(scenario=0)
        dist.worst_day(sink, d, "volmageddon", "wd")
    hm, tor, wd = sink.figures
    v = ds["pnl_mean"].sel(strategy="alvh").values
    assert hm.key == "hm_budget_pct" and f"pnl_mean from {usd(v.min())} to {usd(v.max())}" in hm.caption
    lo, hi = np.argmin(v[0]), np.argmax(v[0])
    assert f"strategy.hedge.budget_pct moves it from {usd(v[0, lo])}" in tor.caption and f"to {usd(v[0, hi])}" in tor.caption
    first = d["worst_day"].sel(strategy="alvh").values[:10]
    assert "first 10 of 32 paths" in wd.caption and f"alvh: median {usd(float(np.median(first)))}" in wd.caption
    assert all(f.png.stat().st_size > 2000 and f.svg.stat().st_size > 2000 for f in sink.figures)


# ------------------------------------------------------------------------------------ the output directory
def test_report_refuses_bad_stores_and_foreign_directories(tmp_path, run_report):
    store, _, _ = run_report
    r = cli("report", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "r"))
    assert r.exit_code == 2 and "nope.zarr" in r.output and "does not exist" in r.output
    (tmp_path / "notzarr").mkdir()
    (tmp_path / "notzarr" / "x.txt").write_text("x")
    r = cli("report", str(tmp_path / "notzarr"), "--out", str(tmp_path / "r"))
    assert r.exit_code == 2 and "notzarr" in r.output and "Traceback" not in r.output
    xr.Dataset({"spx": (("path", "step"), np.ones((2, 3)))}).to_zarr(tmp_path / "paths.zarr", zarr_format=2, consolidated=False)
    r = cli("report", str(tmp_path / "paths.zarr"), "--out", str(tmp_path / "r"))
    assert r.exit_code == 2 and "not a gpu_alvh run or sweep store" in r.output
    assert not (tmp_path / "r").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "index.html").write_text("my page")
    r = cli("report", str(store), "--out", str(foreign))
    assert r.exit_code == 2 and str(foreign) in r.output and "holds no gpu_alvh report" in r.output
    assert [p.name for p in foreign.iterdir()] == ["index.html"] and (foreign / "index.html").read_text() == "my page"
    (tmp_path / "afile").write_text("x")
    assert cli("report", str(store), "--out", str(tmp_path / "afile")).exit_code == 2
    r = cli("run", "volmageddon", "--paths", "4", "--report", str(foreign))  # refused before the run starts
    assert r.exit_code == 2 and "holds no gpu_alvh report" in r.output and "scenario volmageddon" not in r.output
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_previous_report_is_replaced_and_nothing_else(tmp_path):
    out = tmp_path / "rep"

    def stage(names: dict[str, str]) -> list[str]:
        st = staging_dir(out)
        for n, text in names.items():
            (st / n).write_text(text)
        publish(st, out, list(names), "test")
        return sorted(names)

    stage({"index.html": "v1", "a.png": "1", "old.svg": "1"})
    (out / "notes.txt").write_text("mine")  # the user's own file beside the report
    check_out(out)
    stage({"index.html": "v2", "a.png": "2"})
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.png", "index.html", "notes.txt"]
    assert (out / "index.html").read_text() == "v2" and (out / "notes.txt").read_text() == "mine"
    with pytest.raises(SpecError, match="notes.txt, which the previous report did not write"):
        stage({"index.html": "v3", "notes.txt": "ours"})
    assert (out / "notes.txt").read_text() == "mine" and (out / "index.html").read_text() == "v2"
    (out / MARKER).write_text("{not json")
    with pytest.raises(SpecError, match="holds no gpu_alvh report"):
        check_out(out)
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_rerun_into_the_same_directory(sweep_reports):
    out_full, out_part, output = sweep_reports
    assert {p.name for p in out_full.iterdir()} == {p.name for p in out_part.iterdir()}  # replaced, nothing left over
    assert output.strip().splitlines()[-1].startswith(f"report: {out_full / 'index.html'}")
    assert "squares have no done cell (hatched)" in html_of(out_part) and "squares have no done cell" not in html_of(out_full)
    assert "8 done, 0 missing, 0 failed" in caption(html_of(out_full), "sweep_status")
    assert not list(out_full.parent.glob(".*.tmp-*"))


# ------------------------------------------------------------------------------------ rendering in a browser
def _chromium() -> str | None:
    for name in (os.environ.get("ALVH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def test_index_renders_in_headless_chromium(run_report, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("headless Chromium not found (Debian package `chromium`; .ci/run installs it when it runs as root with apt)")
    _, out, _ = run_report
    shot = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1400,3000", (out / "index.html").absolute().as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), p.stderr[-2000:]
    from matplotlib.image import imread

    img = imread(shot)[..., :3]
    assert img.shape[:2] == (3000, 1400)
    share_ink = float((img.min(axis=2) < 0.94).mean())
    assert share_ink > 0.15, share_ink  # a blank or text-only page has far less
    alvh_blue = np.array([0x1F, 0x5F, 0xBF]) / 255.0
    assert int((np.abs(img - alvh_blue).max(axis=2) < 0.06).sum()) > 2000  # the embedded figures were drawn

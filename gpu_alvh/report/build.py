"""``gpu_alvh.report(ds_or_path, out_dir)``: the report of a run store or a sweep store.

Run store (``gpu_alvh.run`` output): an overview (summary statistics of every scenario and
strategy, hedge cost vs payoff per scenario), then one section per scenario - NAV fan charts with
the SPX / VIX bands, the real path of a historical episode when the store carries ``real_spx`` /
``real_vix``, final P&L / drawdown / worst-day distributions, P&L attribution by layer, mean greeks
per layer, hedge cost vs payoff per path, the claims forest plot and table - and the provenance.

Sweep store (``alvh sweep run`` output, recognised by ``cell_status``): the status counts, the
summary table of every cell, and per scenario the heatmaps of each pair of swept parameters and the
tornado chart (see :mod:`gpu_alvh.report.sweep` for the aggregation), and the provenance.

What the store lacks is skipped with a note on the page, never an error; iteration is over what
is present (claims, strategies, scenarios, greeks, summary variables).
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from pathlib import Path

import dask
import matplotlib
import numpy as np
import xarray as xr

from .. import __version__
from ..errors import SpecError
from ..spec.base import Shown
from . import claims, dist, fan, layers, sweep
from .common import RC, Figure, Sink, Skip, slug, values
from .html import Section, claims_table, page, provenance_table, summary_table, table
from .output import check_out, publish, staging_dir

__all__ = ["report", "Report", "open_store"]


@dataclass(frozen=True)
class Report:
    """What :func:`report` wrote: the page, the figure files (PNG and SVG) and the notes on skipped figures."""

    index: Path
    figures: tuple[Path, ...]
    notes: tuple[str, ...]

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.index, *self.figures)


def open_store(ds_or_path) -> tuple[xr.Dataset, str, Path | None]:
    """``(dataset, kind, path)``; kind ``"run"`` or ``"sweep"``; :class:`SpecError` for anything else."""
    path = None
    if isinstance(ds_or_path, xr.Dataset):
        ds = ds_or_path
        where = "<dataset>"
    else:
        path = Path(ds_or_path)
        where = str(path)
        if not path.is_dir():
            raise SpecError.single(where, "STORE", Shown(where), "does not exist or is not a directory; allowed: a Zarr store written by "
                                   "`alvh run --out` or `alvh sweep run`")
        try:
            ds = xr.open_zarr(path, consolidated=False, chunks={})
        except Exception as exc:  # noqa: BLE001 - any reader failure means: not a store we can read
            raise SpecError.single(where, "STORE", Shown(where), f"is not a readable Zarr store ({type(exc).__name__}: {exc}); allowed: a store "
                                   "written by `alvh run --out` or `alvh sweep run`") from None
    if "cell_status" in ds.variables and "scenario" in ds["cell_status"].dims:
        return ds, "sweep", path
    if "scenario" in ds.dims and any(v in ds.variables for v in ("final_pnl", "nav_band")):
        return ds, "run", path
    found = ", ".join(list(ds.data_vars)[:6]) or "no variables"
    raise SpecError.single(where, "STORE", Shown(where), f"is not a gpu_alvh run or sweep store (it has {found}); allowed: a store written by "
                           "`alvh run --out` (with final_pnl / nav_band over scenario) or `alvh sweep run` (with cell_status)")


#: figure function -> what its note calls it
_LABELS = {"nav_fan": "NAV fan chart", "history_paths": "historical episode", "final_pnl": "final P&L distribution",
           "drawdown": "drawdown distribution", "worst_day": "worst-day distribution", "attribution": "P&L attribution",
           "greeks": "mean greeks per layer", "hedge_scatter": "hedge cost vs payoff", "hedge_overview": "hedge cost vs payoff per scenario",
           "forest": "claims forest plot", "status_figure": "sweep status", "heatmaps": "heatmaps", "tornado": "tornado chart"}


class _Builder:
    """Runs figure functions into sections, turning :class:`Skip` into notes."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.notes: list[str] = []

    def add(self, sec: Section, fn, *args) -> object:
        before = len(self.sink.figures)
        try:
            out = fn(self.sink, *args)
        except Skip as why:
            note = f"{_LABELS.get(fn.__name__, fn.__name__)} not drawn: {why}"
            self.notes.append(f"{sec.title}: {note}")
            sec.note(note)
            return None
        for f in self.sink.figures[before:]:
            sec.figure(f)
        return out


def _run_sections(b: _Builder, ds: xr.Dataset) -> list[Section]:
    scenarios = [str(s) for s in ds["scenario"].values]
    over = Section("Overview: all scenarios and strategies", "overview")
    over.html(summary_table(ds))
    b.add(over, layers.hedge_overview, ds, scenarios, "overview_hedge_cost_payoff")
    out = [over]
    for i, scen in enumerate(scenarios):
        d = ds.isel(scenario=i)
        sec = Section(f"Scenario {scen}", f"scenario-{i}-{slug(scen)}")
        p = f"s{i}_{slug(scen)}"
        b.add(sec, fan.nav_fan, d, scen, f"{p}_nav_fan")
        if fan.has_history(d):
            b.add(sec, fan.history_paths, d, scen, f"{p}_historical", ds.attrs)
        b.add(sec, dist.final_pnl, d, scen, f"{p}_final_pnl")
        b.add(sec, dist.drawdown, d, scen, f"{p}_drawdown")
        b.add(sec, dist.worst_day, d, scen, f"{p}_worst_day")
        b.add(sec, layers.attribution, d, scen, f"{p}_attribution")
        b.add(sec, layers.greeks, d, scen, f"{p}_greeks")
        b.add(sec, layers.hedge_scatter, d, scen, f"{p}_hedge_cost_payoff")
        rows = b.add(sec, claims.forest, d, scen, f"{p}_claims")
        if rows:
            sec.html(claims_table(rows))
        out.append(sec)
    return out


def _cells_table(ds: xr.Dataset, limit: int = 500) -> str:
    """One row per cell of the sweep (status, then mean P&L and CVaR95 of every strategy), at most ``limit`` rows."""
    params = sweep.sweep_params(ds)
    dims = ["scenario", *(p["dim"] for p in params)]
    st = values(ds["cell_status"].transpose(*dims)).astype(int)
    flags = sweep.flags(ds)
    strategies = [str(s) for s in ds["strategy"].values]
    metrics = [m for m, _, _ in sweep.METRICS if m in ds.variables]
    data = {m: values(ds[m].transpose(*dims, "strategy")) for m in metrics}
    coords = [[str(v) for v in ds[x].values] for x in dims]
    rows, in_sweep = [], 0
    for idx in np.ndindex(st.shape):
        state = flags.get(int(st[idx]), str(st[idx]))
        if state == "not_in_sweep":
            continue
        in_sweep += 1
        if len(rows) < limit:
            cells = [coords[k][i] for k, i in enumerate(idx)] + [state]
            for m in metrics:
                cells += [f"{x:,.0f}" if np.isfinite(x) else "-" for x in data[m][idx]]
            rows.append(cells)
    heads = [*dims[:1], *(p["key"] for p in params), "status"] + [f"{m} {s} (USD)" for m in metrics for s in strategies]
    tail = f'<div class="note">{in_sweep - len(rows)} more cells not listed</div>' if in_sweep > len(rows) else ""
    return table(heads, rows, [False] * (len(dims) + 1) + [True] * (len(heads) - len(dims) - 1)) + tail


def _sweep_sections(b: _Builder, ds: xr.Dataset, path: Path | None) -> list[Section]:
    over = Section("Sweep status and cells", "status")
    b.add(over, sweep.status_figure, ds, "sweep_status")
    total, per = sweep.status_counts(ds)
    states = sweep.ordered(total)
    counts = [[s, *(c[k] for k in states)] for s, c in per.items()] + [["all", *(total[k] for k in states)]]
    over.html(table(["scenario", *(k.replace("_", " ") for k in states)], counts, [False] + [True] * len(states)))
    if path is not None and total.get("failed"):
        from ..sweeps import sweep_status

        st = sweep_status(path)
        failed = [[st.describe(i), f"{r.get('error')}: {r.get('message')}"] for i, r in st.failures.items()]
        if failed:
            over.html(table(["failed cell", "error (from .sweep/failed/)"], failed))
    params = sweep.sweep_params(ds)
    over.html(_cells_table(ds))
    out = [over]
    if len(params) == 1:
        b.add(over, sweep.heatmaps, ds, None, 0, "sweep_heatmap")
    for i, scen in enumerate(ds["scenario"].values):
        sec = Section(f"Scenario {scen}: parameter effects", f"sweep-{i}-{slug(scen)}")
        if len(params) > 1:
            b.add(sec, sweep.heatmaps, ds, scen, i, "sweep_heatmap")
        b.add(sec, sweep.tornado, ds, scen, i, "sweep_tornado")
        out.append(sec)
    return out


def report(ds_or_path, out_dir: str | os.PathLike) -> Report:
    """Write the HTML report of a run or sweep store (a path or an open Dataset) into ``out_dir``.

    ``out_dir`` must be new, empty or hold a previous report (see :mod:`gpu_alvh.report.output`);
    otherwise, or when the input is not a gpu_alvh store, :class:`SpecError` is raised and nothing
    is written.  Returns the paths of ``index.html`` and the figure files (each figure as PNG and SVG).
    """
    out = check_out(out_dir)
    ds, kind, path = open_store(ds_or_path)
    staging = staging_dir(out)
    try:
        sink = Sink(staging)
        b = _Builder(sink)
        # synchronous dask: small reads, and np.errstate covers them (all-NaN slices of layers a strategy does not hold)
        with matplotlib.rc_context(RC), dask.config.set(scheduler="synchronous"), np.errstate(invalid="ignore", divide="ignore"):
            sections = _sweep_sections(b, ds, path) if kind == "sweep" else _run_sections(b, ds)
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        prov = Section("Provenance", "provenance")
        prov.html(provenance_table(dict(ds.attrs), {"report written": now, "report by": f"gpu_alvh {__version__}",
                                                     "source store": str(path) if path else "in-memory dataset"}))
        sections.append(prov)
        scen = ", ".join(str(s) for s in ds["scenario"].values)
        what = "sweep" if kind == "sweep" else "run"
        title = f"gpu_alvh {what} report: {ds.attrs.get('sweep_name', scen) if kind == 'sweep' else scen}"
        lead = (f"{what} store {path or '(in-memory dataset)'}; scenarios: {scen}; strategies: {', '.join(str(s) for s in ds['strategy'].values)}; "
                f"{ds.attrs.get('n_paths', ds.sizes.get('path', '?'))} paths; created {ds.attrs.get('created', 'unknown')}; "
                f"{len(sink.figures)} figures (PNG and SVG beside this page).")
        (staging / "index.html").write_text(page(title, lead, sections), encoding="utf-8")
        names = ["index.html"] + [p.name for f in sink.figures for p in (f.png, f.svg)]
        figures: list[Figure] = list(sink.figures)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = publish(staging, out, names, str(path) if path else "<dataset>")
    return Report(final / "index.html", tuple(final / p.name for f in figures for p in (f.png, f.svg)), tuple(b.notes))

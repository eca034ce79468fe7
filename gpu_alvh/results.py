"""Results: the one device->host boundary, xarray datasets, provenance, Zarr I/O.

Everything that leaves the device goes through :func:`to_host`.  Datasets carry
``units`` and ``long_name`` on every variable and CF-style provenance in the
global attributes (package version, git revision, spec JSON and hash, seed, RNG,
backend, device, library versions, path count, creation time, ``history``).
Stores are written with xarray/Zarr; nothing is pickled.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .backend import Backend

__all__ = ["to_host", "paths_dataset", "provenance", "write_zarr", "open_results", "git_revision", "VAR_META"]

RNG_NAME = "Philox4x32-10 (counter: path, step, block; key: seed, crc32(scenario)); Box-Muller normals"

#: units and long names of the variables written by gpu_alvh.
VAR_META: dict[str, tuple[str, str]] = {
    "spx": ("index points", "S&P 500 index level"),
    "variance": ("1/year", "instantaneous variance state v (decimal, annualised)"),
    "vix": ("index points", "model-implied VIX, 100*sqrt(a*v + b) under the pricing model (+ a2*v2 for two factors)"),
    "slow_variance": ("1/year", "slow variance state v2 of a two-factor model (decimal, annualised)"),
}


def to_host(backend: Backend, a) -> np.ndarray:
    """Copy a device array to a host NumPy array (the only device->host copy)."""
    return np.asarray(backend.to_host(a))


#: The revision of a copy of the tree without ``.git`` (bench/gpu_check.sh sets it on a lent GPU machine).
REVISION_ENV = "ALVH_GIT_REVISION"


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Git revision the package comes from (``-dirty`` when modified), if known.

    A source tree (an editable install) asks git.  Without ``.git``: ``$ALVH_GIT_REVISION`` when set (a
    copied tree may hold an ignored ``_build_info.py`` of an older build: the H200 records of 2026-12-04,
    measured on c02f260, named 46578a1 so), else the revision ``setup.py`` recorded when the package was
    built (``gpu_alvh/_build_info.py``).
    """
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        if os.environ.get(REVISION_ENV):
            return os.environ[REVISION_ENV]
        try:
            from ._build_info import GIT_REVISION
        except ImportError:
            return None
        return GIT_REVISION or None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("-dirty" if dirty else "")) or None


def _command_line() -> str:
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0]) or "python", *sys.argv[1:]])


def provenance(*, backend: Backend, seed: int, n_paths: int, specs: dict[str, Any] | None = None, dtype=None, extra: dict | None = None) -> dict[str, Any]:
    """Global attributes recording how a dataset was made (JSON-safe scalars/strings)."""
    from . import __version__
    from .spec import canonical_json, spec_hash

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    attrs: dict[str, Any] = {
        "title": "gpu_alvh Monte Carlo results",
        "gpu_alvh_version": __version__,
        "git_revision": git_revision() or "unknown",
        "seed": int(seed),
        "rng": RNG_NAME,
        "backend": backend.name,
        "device": backend.device,
        "library_versions": json.dumps(backend.versions, sort_keys=True),
        "n_paths": int(n_paths),
        "created": now,
        "history": f"{now} {_command_line()}",
        "Conventions": "CF-1.10",
    }
    if dtype is not None:
        attrs["dtype"] = np.dtype(dtype).name
    if specs:
        attrs["spec_json"] = json.dumps({k: json.loads(canonical_json(s)) for k, s in specs.items()}, sort_keys=True)
        attrs["spec_hash"] = json.dumps({k: spec_hash(s) for k, s in specs.items()}, sort_keys=True)
    if extra:
        attrs.update(extra)
    return attrs


def paths_dataset(compiled, host: dict[str, np.ndarray], *, backend: Backend, seed: int, elapsed: float | None = None) -> xr.Dataset:
    """Dataset of simulated paths ``(path, step)`` from host arrays."""
    n_paths, n1 = next(iter(host.values())).shape
    data_vars = {}
    for k, a in host.items():
        units, long_name = VAR_META[k]
        data_vars[k] = xr.Variable(("path", "step"), a, attrs={"units": units, "long_name": long_name})
    coords = {
        "path": ("path", np.arange(n_paths, dtype=np.int64), {"long_name": "global path index"}),
        "step": ("step", np.arange(n1, dtype=np.int64), {"long_name": "simulation step (0 = start close)"}),
        "time": ("step", compiled.times, {"long_name": "step end time, New York local"}),
        "day": ("step", compiled.day.astype(np.int64), {"long_name": "trading-day index (0 = start)", "units": "1"}),
    }
    extra = {"scenario": compiled.name, "model": compiled.model_p.name, "scheme": compiled.scheme, "steps_per_day": int(compiled.steps_per_day)}
    if elapsed is not None:
        extra["elapsed_seconds"] = float(elapsed)
    if compiled.spec.historical is not None:
        extra["historical"] = json.dumps(_historical_attr(compiled.spec), sort_keys=True)
    attrs = provenance(backend=backend, seed=seed, n_paths=n_paths, specs={compiled.name: compiled.spec}, dtype=compiled.dtype, extra=extra)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _historical_attr(spec) -> dict:
    from .historical import provenance as episode_provenance

    return episode_provenance(spec)


#: Zarr format of the stores: version 2 specifies the fixed-length strings our labels use
#: (version 3 has no stable string type yet) and is read by every Zarr implementation.
ZARR_FORMAT = 2


def write_zarr(ds: xr.Dataset, path: str | os.PathLike, *, kind: str | None = None, overwrite: bool = False,
               chunks: dict | None = None) -> Path:
    """Write a dataset to a Zarr store (format 2, no consolidated metadata), atomically.

    ``kind`` is ``"run"`` or ``"paths"`` (default: ``"paths"`` for :func:`paths_dataset`
    output, else ``"run"``).  The store is written to a temporary sibling and moved into
    place when complete; an existing store at ``path`` is replaced only if it is a store of
    the same kind and ``overwrite`` is true (:func:`gpu_alvh.stores.write_store`); anything
    else raises :class:`~gpu_alvh.errors.SpecError` and leaves the path untouched.
    """
    from .stores import KIND_ATTR, write_store

    if kind is None:
        kind = "paths" if "spx" in ds.data_vars and "final_pnl" not in ds.data_vars else "run"
    if chunks:
        ds = ds.chunk(chunks)
    ds = ds.copy(deep=False)
    ds.attrs = {**ds.attrs, KIND_ATTR: kind}
    return write_store(lambda tmp: ds.to_zarr(tmp, mode="w-", consolidated=False, zarr_format=ZARR_FORMAT), path, kind, overwrite=overwrite)


def open_results(path: str | os.PathLike) -> xr.Dataset:
    """Open a results store (run, paths or sweep) lazily (dask-backed).

    Raises :class:`~gpu_alvh.errors.SpecError` for a path that is not a gpu_alvh store, or a
    run / paths store whose write did not complete.
    """
    from .stores import check_readable

    check_readable(path)
    return xr.open_zarr(Path(path), consolidated=False, chunks={})


# =============================================================================== run results
#: units and long names of the variables of a run dataset
RUN_META: dict[str, tuple[str, str]] = {
    "final_pnl": ("USD", "final P&L (NAV_T - NAV_0)"),
    "excess_pnl": ("USD", "final P&L in excess of cash: NAV_T - NAV_0 - NAV_0 (exp(rate x calendar days / 365) - 1), what NAV_0 would have "
                          "earned at the rate over the horizon"),
    "final_nav": ("USD", "final net asset value"),
    "annualized_return": ("1/year", "annualised return (NAV_T/NAV_0)^(1/years) - 1"),
    "max_drawdown": ("1", "maximum drawdown of NAV from its running peak (fraction)"),
    "worst_day": ("USD", "worst one-day NAV change"),
    "min_nav": ("USD", "lowest NAV over the horizon"),
    "n_stops": ("count", "iron condors closed by the stop rule"),
    "n_rolls": ("count", "cascade rolls of a tested side"),
    "n_entries": ("count", "iron condors opened"),
    "hedge_premium": ("USD", "gross hedge premium spent (purchases incl. costs; futures: costs + carry)"),
    "hedge_pnl": ("USD", "P&L of the VIX hedge overlay (realised + final mark)"),
    "hedge_payoff": ("USD", "value returned by the hedges (hedge P&L + premium spent)"),
    "interest": ("USD", "interest earned on cash"),
    "costs": ("USD", "commissions and half-spreads paid"),
    "peak_gamma": ("shares/point", "peak |gamma| of the book ($ delta change per index point)"),
    "peak_gamma_near_expiry": ("shares/point", "peak |book gamma| while the front layer is within 2 days of expiry"),
    "margin_peak": ("USD", "peak Reg-T margin of the ladder (wider wing x 100 - credit per condor)"),
    "time_under_water": ("1", "share of days with NAV below its running peak"),
    "sharpe": ("1", "annualised Sharpe ratio of daily NAV returns"),
    "sortino": ("1", "annualised Sortino ratio of daily NAV returns"),
    "ruined": ("1", "1 if NAV fell below 50% of NAV_0"),
    "layer_pnl": ("USD", "P&L of each ladder layer (realised + final mark)"),
    "layer_stops": ("count", "condor lives of each ladder layer ended by the stop rule"),
    "layer_targets": ("count", "condor lives of each ladder layer ended at the profit target"),
    "layer_time_exits": ("count", "condor lives of each ladder layer ended by the time exit"),
    "layer_settled": ("count", "condor lives of each ladder layer held to expiry and cash-settled"),
    "layer_rolls": ("count", "cascade rolls of a tested side of each ladder layer (a roll continues the condor's life)"),
    "layer_rolled_targets": ("count", "rolled condor lives (at least one cascade roll) ended at the profit target"),
    "layer_rolled_stops": ("count", "rolled condor lives ended by the stop rule"),
    "layer_rolled_time_exits": ("count", "rolled condor lives ended by the time exit"),
    "layer_rolled_settled": ("count", "rolled condor lives held to expiry and cash-settled"),
    "layer_stop_multiple": ("1", "sum over the path's stopped lives of each layer of the mid loss at the stop's mark / entry credit "
                                 "(costs excluded; the quantity the rule compares with stop_multiple)"),
    "layer_stop_multiple_net": ("1", "sum over the path's stopped lives of each layer of the life's cash loss incl. costs / entry credit"),
    "stop_multiple_mean": ("1", "realised stop multiple per layer: mean over stopped lives (all paths) of mid loss at the stop / entry credit "
                                "(the rule's trigger is stop_multiple; stops are checked at each step's marks)"),
    "stop_multiple_ci_low": ("1", "95% confidence interval of stop_multiple_mean, lower end (ratio estimator over paths)"),
    "stop_multiple_ci_high": ("1", "95% confidence interval of stop_multiple_mean, upper end"),
    "stop_multiple_net_mean": ("1", "mean over stopped lives of the life's cash loss incl. costs / entry credit"),
    "stopped_lives": ("count", "stopped condor lives per layer, all paths (the count behind stop_multiple_mean)"),
    "layer_peak_gamma": ("shares/point", "peak |gamma| per ladder layer"),
    "spx_final": ("index points", "SPX at the end of the horizon"),
    "vix_final": ("index points", "model VIX at the end of the horizon"),
    "nav_band": ("USD", "daily NAV quantiles across paths"),
    "spx_band": ("index points", "daily SPX quantiles across paths"),
    "vix_band": ("index points", "daily model VIX quantiles across paths"),
    "mean_delta": ("shares", "mean dollar delta per index point of each layer"),
    "mean_gamma": ("shares/point", "mean gamma of each layer"),
    "mean_vega": ("USD per vol", "mean vega of each layer (per 1.00 of volatility)"),
    "mean_theta": ("USD/trading day", "mean theta of each layer: the one-session change of its marks at unchanged market state, at the day close"),
    "pnl_mean": ("USD", "mean final P&L"),
    "excess_pnl_mean": ("USD", "mean final P&L in excess of cash (NAV_0 at the rate over the horizon)"),
    "pnl_std": ("USD", "standard deviation of the final P&L"),
    "pnl_quantile": ("USD", "quantiles of the final P&L"),
    "var95": ("USD", "95% value at risk of the final P&L (loss, positive)"),
    "cvar95": ("USD", "95% conditional value at risk (expected shortfall)"),
    "var99": ("USD", "99% value at risk of the final P&L"),
    "cvar99": ("USD", "99% conditional value at risk"),
    "prob_loss": ("1", "probability of a final loss"),
    "sharpe_mean": ("1", "mean annualised Sharpe ratio over paths"),
    "sortino_mean": ("1", "mean annualised Sortino ratio over paths"),
    "time_under_water_mean": ("1", "mean share of days under water"),
    "max_drawdown_mean": ("1", "mean maximum drawdown"),
    "hedge_drag_bp": ("bp/year", "hedge cost drag: -mean hedge P&L / NAV_0 per year"),
    "ruin_fraction": ("1", "share of paths with NAV below 50% of NAV_0"),
    "ann_return_mean": ("1/year", "mean annualised return"),
    "measured": ("claim units", "measured value of the claim"),
    "ci_low": ("claim units", "95% confidence interval, lower end"),
    "ci_high": ("claim units", "95% confidence interval, upper end"),
    "claimed_low": ("claim units", "claimed value (low end of the claimed range)"),
    "claimed_high": ("claim units", "claimed value (high end of the claimed range)"),
    "verdict": ("1", "holds / exceeds / not supported / n/a (confidence interval vs claimed range)"),
    "claim_text": ("1", "definition of the measured quantity"),
    "claim_units": ("1", "units of the claim"),
    "claim_estimator": ("1", "estimator and how its 95% confidence interval is computed"),
    "claim_note": ("1", "what the measured value rests on (days, windows, annualisation)"),
    "annualised": ("1", "true where the claim's value is scaled to a year from the run's horizon"),
    "nav_path": ("USD", "daily NAV of every path (--save-paths)"),
    "spx_path": ("index points", "daily SPX close of every path (--save-paths)"),
    "vix_path": ("index points", "daily model VIX of every path (--save-paths)"),
    "real_spx": ("index points", "real S&P 500 close of the replayed episode (NaN when the scenario is not historical)"),
    "real_vix": ("index points", "real implied-vol close of the episode: VIX, or VXO before 1990 (see attrs historical; NaN when not historical)"),
}

PER_PATH = ("final_pnl", "excess_pnl", "final_nav", "min_nav", "max_drawdown", "worst_day", "n_stops", "n_rolls", "n_entries", "hedge_premium", "hedge_pnl",
            "interest", "costs", "peak_gamma", "peak_gamma_near_expiry", "margin_peak")


PER_LAYER = ("layer_pnl", "layer_stops", "layer_peak_gamma", "layer_targets", "layer_time_exits", "layer_settled", "layer_rolls",
             "layer_rolled_targets", "layer_rolled_stops", "layer_rolled_time_exits", "layer_rolled_settled", "layer_stop_multiple",
             "layer_stop_multiple_net")


def _stop_multiples(pp: dict, held: np.ndarray) -> dict[str, np.ndarray]:
    """Realised stop multiples ``[S, L]``: mean over stopped lives of loss / entry credit (ratio of sums
    over paths, delta-method 95% CI with paths as the units); NaN without stops."""
    from .metrics import ratio_ci

    S, L = held.shape
    out = {k: np.full((S, L), np.nan) for k in ("stop_multiple_mean", "stop_multiple_ci_low", "stop_multiple_ci_high", "stop_multiple_net_mean")}
    out["stopped_lives"] = np.where(held, pp["layer_stops"].sum(axis=-1), np.nan)
    for s in range(S):
        for j in range(L):
            n = pp["layer_stops"][s, j]
            if not held[s, j] or not n.sum() > 0:
                continue
            m, lo, hi = ratio_ci(pp["layer_stop_multiple"][s, j], n)
            out["stop_multiple_mean"][s, j], out["stop_multiple_ci_low"][s, j], out["stop_multiple_ci_high"][s, j] = m, lo, hi
            out["stop_multiple_net_mean"][s, j] = pp["layer_stop_multiple_net"][s, j].sum() / n.sum()
    return out


def _combine(parts: list[dict]) -> tuple[dict, dict, dict | None]:
    """Concatenate per-path arrays along paths (in path order) and add sums (a part's ``sums`` may be
    ``None``: its bands are in another part's, as in a run whose batches share one set)."""
    parts = sorted(parts, key=lambda p: p["start"])
    pp = {}
    for k in parts[0]["per_path"]:
        pp[k] = np.concatenate([p["per_path"][k] for p in parts], axis=-1)
    have = [p["sums"] for p in parts if p["sums"] is not None]
    sums = {k: sum(h[k] for h in have) for k in have[0]}
    paths = None
    if parts[0]["paths"] is not None:
        paths = {k: np.concatenate([p["paths"][k] for p in parts], axis=-1) for k in parts[0]["paths"]}
    return pp, sums, paths


def _select_rows(pp: dict, sums: dict, paths, rows: list[int]):
    """Keep strategy rows ``rows`` (in that order) of combined per-path arrays and sums."""
    out = {}
    for k, a in pp.items():
        out[k] = a if k in ("spx_final", "vix_final") else a[rows]
    s2 = dict(sums)
    s2["nav_hist"] = sums["nav_hist"][rows]
    s2["greek_sums"] = sums["greek_sums"][:, rows]
    p2 = None
    if paths is not None:
        p2 = dict(paths)
        p2["nav"] = paths["nav"][rows]
    return out, s2, p2


def cell_dataset(out: dict, rows: list[int], strategy=None) -> xr.Dataset:
    """Dataset of the strategy rows ``rows`` of a multi-row run (one sweep cell)."""
    return scenario_dataset(out, rows=rows, strategy=strategy)


def scenario_dataset(out: dict, rows: list[int] | None = None, strategy=None) -> xr.Dataset:
    """Dataset of one scenario's run (no ``scenario`` dim yet); ``rows`` selects strategy rows."""
    from .metrics import CLAIMS, QUANTILES, claims_table, hist_quantiles, per_path_metrics, summary_statistics
    from .strategy.engine import GREEKS, NAV_BINS, SPX_BINS, VIX_BINS

    book, compiled = out["book"], out["compiled"]
    pp, sums, paths = _combine(out["parts"])
    labels = list(book.labels)
    nav0 = np.asarray(book.strat_params["nav"], dtype=float)
    held = np.zeros((len(labels), len(book.layer_dtes)), dtype=bool)
    held[book.slot_strategy, book.slot_layer] = True
    if rows is not None:
        pp, sums, paths = _select_rows(pp, sums, paths, rows)
        labels = [labels[i].split("#")[0] for i in rows]
        nav0, held = nav0[rows], held[rows]
    years = out["parts"][0]["years"]
    n_days = compiled.horizon
    derived = per_path_metrics(pp, nav0, years, n_days)
    summ = summary_statistics(pp["final_pnl"], derived, pp, nav0, years)
    claims = claims_table(pp, derived, labels, years=years, n_days=n_days, nav0=nav0)
    S, P = pp["final_pnl"].shape
    day_idx = np.arange(n_days + 1)
    eod = np.flatnonzero(book.end_of_day)
    dates = compiled.times[eod]
    q = np.asarray(QUANTILES)
    V = lambda dims, data, name: xr.Variable(dims, data, attrs={"units": RUN_META[name][0], "long_name": RUN_META[name][1]})  # noqa: E731
    dv: dict[str, xr.Variable] = {}
    for k in PER_PATH:
        dv[k] = V(("strategy", "path"), pp[k], k)
    for k in ("annualized_return", "time_under_water", "sharpe", "sortino", "ruined", "hedge_payoff"):
        dv[k] = V(("strategy", "path"), derived[k], k)
    # layers a strategy does not hold are NaN, not 0
    for k in PER_LAYER:
        dv[k] = V(("strategy", "layer", "path"), np.where(held[:, :, None], pp[k], np.nan), k)
    for k, a in _stop_multiples(pp, held).items():
        dv[k] = V(("strategy", "layer"), a, k)
    dv["spx_final"] = V(("path",), pp["spx_final"], "spx_final")
    dv["vix_final"] = V(("path",), pp["vix_final"], "vix_final")
    nav_q = hist_quantiles(sums["nav_hist"], NAV_BINS) * nav0[:, None, None]
    dv["nav_band"] = V(("strategy", "day", "quantile"), nav_q, "nav_band")
    dv["spx_band"] = V(("day", "quantile"), hist_quantiles(sums["spx_hist"], SPX_BINS) * compiled.spot, "spx_band")
    dv["vix_band"] = V(("day", "quantile"), hist_quantiles(sums["vix_hist"], VIX_BINS), "vix_band")
    gs = sums["greek_sums"] / P
    for gi, g in enumerate(GREEKS):
        arr = np.where(held[:, :, None], gs[gi], np.nan).transpose(0, 2, 1)  # [S, D+1, L]
        dv[f"mean_{g}"] = V(("strategy", "day", "layer"), arr, f"mean_{g}")
    dv["excess_pnl_mean"] = V(("strategy",), pp["excess_pnl"].mean(axis=1), "excess_pnl_mean")
    for k in ("pnl_mean", "pnl_std", "var95", "cvar95", "var99", "cvar99", "prob_loss", "max_drawdown_mean", "hedge_drag_bp", "ruin_fraction", "ann_return_mean"):
        dv[k] = V(("strategy",), summ[k], k)
    dv["sharpe_mean"] = V(("strategy",), summ["sharpe"], "sharpe_mean")
    dv["sortino_mean"] = V(("strategy",), summ["sortino"], "sortino_mean")
    dv["time_under_water_mean"] = V(("strategy",), summ["time_under_water"], "time_under_water_mean")
    dv["pnl_quantile"] = V(("strategy", "quantile"), summ["pnl_quantile"], "pnl_quantile")
    for k in ("measured", "ci_low", "ci_high", "claimed_low", "claimed_high"):
        dv[k] = V(("claim",), claims[k], k)
    dv["verdict"] = V(("claim",), claims["verdict"].astype(str), "verdict")
    dv["claim_text"] = V(("claim",), np.asarray([c.text for c in CLAIMS]), "claim_text")
    dv["claim_units"] = V(("claim",), np.asarray([c.units for c in CLAIMS]), "claim_units")
    dv["claim_estimator"] = V(("claim",), np.asarray([c.estimator for c in CLAIMS]), "claim_estimator")
    dv["claim_note"] = V(("claim",), claims["note"].astype(str), "claim_note")
    dv["annualised"] = V(("claim",), claims["annualised"], "annualised")
    from .historical import real_series

    dv["real_spx"], dv["real_vix"] = (V(("day",), a, k) for k, a in zip(("real_spx", "real_vix"), real_series(compiled, n_days)))
    if paths is not None:
        dv["nav_path"] = V(("strategy", "day", "path"), paths["nav"], "nav_path")
        dv["spx_path"] = V(("day", "path"), paths["spx"], "spx_path")
        dv["vix_path"] = V(("day", "path"), paths["vix"], "vix_path")
    coords = {
        "strategy": ("strategy", np.asarray(labels), {"long_name": "strategy (ALVH and baselines on the same paths)"}),
        "path": ("path", np.arange(P, dtype=np.int64), {"long_name": "global path index"}),
        "day": ("day", day_idx, {"long_name": "trading-day index (0 = start)", "units": "1"}),
        "date": ("day", dates.astype("datetime64[ns]"), {"long_name": "session close, New York local"}),
        "layer": ("layer", np.asarray(book.layer_dtes, dtype=np.int64), {"long_name": "ladder layer (DTE at entry)", "units": "days"}),
        "quantile": ("quantile", q, {"long_name": "quantile level", "units": "1"}),
        "claim": ("claim", np.asarray([c.key for c in CLAIMS]), {"long_name": "seed claim (SPEC section 7)"}),
    }
    return xr.Dataset(dv, coords=coords)


def run_dataset(outs: list[dict]) -> xr.Dataset:
    """Stack per-scenario datasets along ``scenario`` and attach provenance."""
    dss = [scenario_dataset(o) for o in outs]
    names = [o["spec"].name for o in outs]
    if len(dss) == 1:
        ds = dss[0].expand_dims(scenario=names)
    else:
        ds = xr.concat([d.expand_dims(scenario=[n]) for d, n in zip(dss, names)], dim="scenario", coords="different", join="outer", compat="equals")
    for k in list(ds.data_vars):
        if "scenario" not in ds[k].dims:
            ds[k] = ds[k].expand_dims(scenario=names)
    ds["scenario"].attrs["long_name"] = "scenario id"
    o0 = outs[0]
    specs = {o["spec"].name: o["spec"] for o in outs}
    extra = {
        "strategy_json": json.dumps({o["spec"].name: o["strategy"].to_dict() for o in outs}, sort_keys=True),
        "elapsed_seconds": float(sum(o["elapsed"] for o in outs)),
        "table_build_seconds": float(sum(o["table_seconds"] for o in outs)),
    }
    episodes = {o["spec"].name: _historical_attr(o["spec"]) for o in outs if o["spec"].historical is not None}
    if episodes:
        extra["historical"] = json.dumps(episodes, sort_keys=True)
    ds.attrs.update(provenance(backend=o0["backend"], seed=o0["seed"], n_paths=o0["n_paths"], specs=specs, dtype=o0["compiled"].dtype, extra=extra))
    return ds

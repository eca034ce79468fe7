"""Where the P&L comes from: per-layer attribution, mean greeks per layer over time, and the VIX
overlay's cost against its payoff.

Means over paths are dask reductions over the whole store (chunk by chunk, never loaded at
once); their 95% intervals are ``mean +/- 1.96 sd / sqrt(n)``.  The attribution follows the
engine's bookkeeping: ``final P&L = sum of layer P&L + hedge P&L + interest`` (costs are inside
the layers and hedges); a residual bar appears only if the stored parts do not add up.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .common import Sink, Skip, compact_axis, date_axis, need, num, pct, sample_paths, strategy_colors, usd, usd_axis, values, x_dates

__all__ = ["attribution", "greeks", "hedge_scatter", "hedge_overview"]

Z95 = 1.959963984540054
_SCATTER_MAX = 4000
_GREEK_ORDER = ("mean_delta", "mean_gamma", "mean_vega", "mean_theta")


def _mean_ci(da: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``path`` and the 95% half-width (NaN paths ignored)."""
    st = xr.Dataset({"m": da.mean("path"), "sd": da.std("path", ddof=1), "n": da.count("path")}).compute()  # one pass over the chunks
    with np.errstate(invalid="ignore", divide="ignore"):
        return values(st["m"]), Z95 * values(st["sd"]) / np.sqrt(values(st["n"]))


def attribution(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """Grouped bars: mean P&L of each ladder layer, the VIX overlay and interest, and the total, per strategy."""
    need(d, "final_pnl", "layer_pnl", dims=("strategy", "path"))
    names = [str(s) for s in d["strategy"].values]
    colors = strategy_colors(names)
    layers = [int(x) for x in d["layer"].values]
    lm, lh = _mean_ci(d["layer_pnl"].transpose("strategy", "layer", "path"))
    comps: list[tuple[str, np.ndarray, np.ndarray]] = [(f"{L}-DTE layer", lm[:, j], lh[:, j]) for j, L in enumerate(layers)]
    parts_sum = np.nansum(lm, axis=1)
    for var, label in (("hedge_pnl", "VIX overlay"), ("interest", "interest on cash")):
        if var in d.variables:
            m, h = _mean_ci(d[var].transpose("strategy", "path"))
            comps.append((label, m, h))
            parts_sum = parts_sum + np.nan_to_num(m)
    tm, th = _mean_ci(d["final_pnl"].transpose("strategy", "path"))
    resid = tm - parts_sum
    if np.nanmax(np.abs(resid)) > 1.0:
        comps.append(("residual (not attributed)", resid, np.zeros_like(resid)))
    comps.append(("total (final P&L)", tm, th))
    fig = sink.new(13, 5.0)
    ax = fig.subplots()
    width = 0.8 / len(names)
    xs = np.arange(len(comps))
    for k, s in enumerate(names):
        m = np.array([c[1][k] for c in comps])
        h = np.array([c[2][k] for c in comps])
        ok = np.isfinite(m)
        ax.bar(xs[ok] + (k - (len(names) - 1) / 2) * width, m[ok], width, yerr=np.nan_to_num(h[ok]), color=colors[s], label=s,
               capsize=2, error_kw={"lw": 0.8})
    ax.axhline(0, color="k", lw=0.7)
    ax.axvline(len(comps) - 1.5, color="k", lw=0.5, ls=":")
    ax.set_xticks(xs, [c[0] for c in comps])
    ax.set_ylabel("mean P&L per path (USD)")
    ax.set_title("P&L attribution: mean over paths, whiskers 95% CI (missing bar: the strategy does not hold that piece)", loc="left")
    usd_axis(ax)
    ax.legend(loc="best")
    parts = []
    for k, s in enumerate(names):
        held = [f"{c[0].replace(' layer', '')} {usd(c[1][k])}" for c in comps[:-1] if np.isfinite(c[1][k])]
        parts.append(f"{s}: total {usd(tm[k])} = " + " + ".join(held))
    caption = "Mean final P&L per path split by source (ladder layers by DTE at entry, the VIX overlay, interest). " + "; ".join(parts) + "."
    sink.save(fig, stem, f"{scen}: P&L attribution by layer", caption)


def greeks(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """Mean greeks of each ladder layer over time (rows: greeks, columns: strategies)."""
    found = [n for n in d.data_vars if n.startswith("mean_") and set(d[n].dims) == {"strategy", "day", "layer"}]
    gnames = [n for n in _GREEK_ORDER if n in found] + sorted(n for n in found if n not in _GREEK_ORDER)
    if not gnames:
        raise Skip("the store has no mean greeks per layer (mean_delta / mean_gamma / mean_vega / mean_theta)")
    names = [str(s) for s in d["strategy"].values]
    layers = [int(x) for x in d["layer"].values]
    x, xlabel, valid = x_dates(d)
    x = x[valid]
    lcol = dict(zip(layers, ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"] * 3))
    height = 2.5 * len(gnames) + 1.2
    fig = sink.new(4.4 * len(names) + 1, height, layout=None)  # fixed layout: constrained is slow with a grid of axes
    fig.subplots_adjust(left=0.08, right=0.985, top=1 - 0.6 / height, bottom=1.05 / height, hspace=0.12, wspace=0.06)
    axes = fig.subplots(len(gnames), len(names), sharex=True, sharey="row", squeeze=False)
    parts = []
    for r, g in enumerate(gnames):
        arr = values(d[g].transpose("strategy", "day", "layer"))[:, valid]
        units = d[g].attrs.get("units", "")
        for c, s in enumerate(names):
            ax = axes[r, c]
            for j, L in enumerate(layers):
                if np.isfinite(arr[c, :, j]).any():
                    ax.plot(x, arr[c, :, j], color=lcol[L], lw=1.4, label=f"{L}-DTE")
            ax.axhline(0, color="k", lw=0.5)
            if r == 0:
                ax.set_title(s, loc="left")
            if c == 0:
                ax.set_ylabel(f"{g[5:]} ({units})")
            compact_axis(ax)
            if r == len(gnames) - 1:
                ax.set_xlabel(xlabel)
                date_axis(ax, x)
        for j, L in enumerate(layers):
            if np.isfinite(arr[0, :, j]).any():
                i = int(np.nanargmax(np.abs(arr[0, :, j])))
                parts.append(f"{names[0]} {L}-DTE {g[5:]} largest in magnitude {num(arr[0, i, j], 3)} {units} on {x[i]}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(layers), title="ladder layer (DTE at entry)")
    caption = ("Mean over paths of each ladder layer's greeks by day (delta in shares of SPX, gamma in shares per point, vega per "
               "1.00 of volatility, theta per year; a strategy shows only the layers it holds). " + "; ".join(parts[:8]) + ".")
    sink.save(fig, stem, f"{scen}: mean greeks per layer over time", caption)


def _hedgers(d: xr.Dataset) -> list[int]:
    need(d, "hedge_premium", "hedge_payoff", dims=("strategy", "path"))
    spent = values(d["hedge_premium"].mean("path"))
    out = [k for k, v in enumerate(spent) if np.isfinite(v) and v > 0]
    if not out:
        raise Skip("no strategy in this store spends hedge premium")
    return out


def hedge_scatter(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """Per path: hedge premium spent against what the hedges returned, for each hedging strategy."""
    ks = _hedgers(d)
    names = [str(s) for s in d["strategy"].values]
    colors = strategy_colors(names)
    prem, used, total = sample_paths(d["hedge_premium"].transpose("strategy", "path"))
    pay, _, _ = sample_paths(d["hedge_payoff"].transpose("strategy", "path"))
    step = max(1, used // _SCATTER_MAX)
    fig = sink.new(8.5, 6.5)
    ax = fig.subplots()
    parts = []
    top = 0.0
    for k in ks:
        p, q = prem[k], pay[k]
        ax.scatter(p[::step], q[::step], s=9, alpha=0.5, color=colors[names[k]], label=f"{names[k]} (paths)", linewidths=0)
        ax.plot([np.mean(p)], [np.mean(q)], marker="X", ms=15, mfc="white", mec=colors[names[k]], mew=2.2, ls="", label=f"{names[k]} mean")
        top = max(top, float(np.nanmax(p)))
        parts.append(f"{names[k]}: mean premium {usd(float(np.mean(p)))}, mean payoff {usd(float(np.mean(q)))} "
                     f"({num(float(np.mean(q) / np.mean(p)), 3)}x), payoff above premium on {pct(float((q > p).mean()))} of paths")
    ax.plot([0, 1.1 * top], [0, 1.1 * top], color="k", lw=0.8, ls="--", label="break-even (payoff = premium)")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("hedge premium spent per path (USD)")
    ax.set_ylabel("hedge payoff per path (USD, value returned)")
    ax.set_title("VIX overlay: cost against payoff per path", loc="left")
    usd_axis(ax, "x")
    usd_axis(ax)
    ax.legend(loc="upper left")
    shown = f" {len(range(0, used, step)):,} paths shown." if step > 1 else ""
    caption = ("Each point is a path: gross premium spent on the VIX overlay and the value it returned (hedge P&L + premium); above the "
               "dashed line the hedges paid for themselves. " + "; ".join(parts) + "." + shown)
    sink.save(fig, stem, f"{scen}: hedge cost vs payoff", caption)


def hedge_overview(sink: Sink, ds: xr.Dataset, scenarios: list[str], stem: str) -> None:
    """Mean hedge premium and payoff per scenario (bars, 95% CI) for each hedging strategy."""
    need(ds, "hedge_premium", "hedge_payoff", dims=("scenario", "strategy", "path"))
    names = [str(s) for s in ds["strategy"].values]
    colors = strategy_colors(names)
    pm, ph = _mean_ci(ds["hedge_premium"].transpose("scenario", "strategy", "path"))
    qm, qh = _mean_ci(ds["hedge_payoff"].transpose("scenario", "strategy", "path"))
    ks = [k for k in range(len(names)) if np.nanmax(np.nan_to_num(pm[:, k])) > 0]
    if not ks:
        raise Skip("no strategy in this store spends hedge premium")
    fig = sink.new(max(8.0, 2.2 * len(scenarios) + 3), 4.8)
    ax = fig.subplots()
    n = 2 * len(ks)
    width = 0.8 / n
    xs = np.arange(len(scenarios))
    parts = []
    for i, k in enumerate(ks):
        c = colors[names[k]]
        ax.bar(xs + (2 * i - (n - 1) / 2) * width, pm[:, k], width, yerr=np.nan_to_num(ph[:, k]), color=c, alpha=0.45, hatch="//",
               edgecolor=c, label=f"{names[k]} premium spent", capsize=2)
        ax.bar(xs + (2 * i + 1 - (n - 1) / 2) * width, qm[:, k], width, yerr=np.nan_to_num(qh[:, k]), color=c, label=f"{names[k]} payoff", capsize=2)
        parts += [f"{scenarios[j]} {names[k]}: {usd(pm[j, k])} spent, {usd(qm[j, k])} returned" for j in range(len(scenarios))]
    ax.set_xticks(xs, scenarios)
    ax.set_ylabel("mean per path (USD)")
    ax.set_title("VIX overlay per scenario: premium spent (hatched) and value returned (solid), 95% CI", loc="left")
    usd_axis(ax)
    ax.legend(loc="best")
    sink.save(fig, stem, "Hedge cost vs payoff per scenario", "Mean gross hedge premium and hedge payoff per path. " + "; ".join(parts) + ".")

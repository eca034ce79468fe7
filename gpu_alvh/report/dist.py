"""Distributions of per-path metrics across paths, one curve per strategy on the same paths:
final P&L (histogram and ECDF with VaR/CVaR 95 marked), maximum drawdown, worst day.

Per-path values come from :func:`~gpu_alvh.report.common.sample_paths` (the first
``MAX_PATHS`` paths of a large store).  ECDF curves are drawn through 1,000 quantiles of
the sample above 2,000 paths (exact steps below), so a figure's size does not grow with the path count.  VaR/CVaR markers are
the stored summary values (computed by the engine on all paths): ``VaR95 = -q_5%(P&L)``,
``CVaR95 = -E[P&L | P&L <= q_5%]``, losses as positive dollars.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .common import Sink, need, pct, sample_note, sample_paths, strategy_colors, usd, usd_axis, values

__all__ = ["final_pnl", "drawdown", "worst_day"]

_LEVELS = np.linspace(0.0, 1.0, 1001)


def _ecdf(ax, v: np.ndarray, color: str, label: str) -> None:
    """Empirical CDF: the exact step function up to 2,000 values, else through 1,001 sample quantiles."""
    v = v[np.isfinite(v)]
    if not v.size:
        return
    if v.size <= 2000:
        x = np.sort(v)
        ax.step(np.r_[x[0], x], np.r_[0.0, np.arange(1, x.size + 1) / x.size], where="post", color=color, lw=1.6, label=label)
    else:
        ax.plot(np.quantile(v, _LEVELS), _LEVELS, color=color, lw=1.6, label=label)


def _per_strategy(d: xr.Dataset, name: str) -> tuple[list[str], np.ndarray, str]:
    need(d, name, dims=("strategy", "path"))
    v, used, total = sample_paths(d[name].transpose("strategy", "path"))
    return [str(s) for s in d["strategy"].values], v, sample_note(used, total)


def _stored(d: xr.Dataset, name: str, k: int, fallback: float) -> tuple[float, bool]:
    if name in d.variables and d[name].dims == ("strategy",):
        return float(values(d[name])[k]), True
    return fallback, False


def final_pnl(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """Histogram and ECDF of the final P&L per strategy, VaR95 / CVaR95 marked."""
    names, v, note = _per_strategy(d, "final_pnl")
    colors = strategy_colors(names)
    fig = sink.new(13, 4.8)
    ax_h, ax_c = fig.subplots(1, 2)
    pooled = v[np.isfinite(v)]
    lo, hi = np.quantile(pooled, [0.001, 0.999]) if pooled.size else (-1.0, 1.0)
    n_bins = int(np.clip(2 * np.sqrt(v.shape[1]), 10, 80))
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, n_bins + 1)
    parts, computed = [], False
    for k, s in enumerate(names):
        x = v[k][np.isfinite(v[k])]
        if not x.size:
            continue
        c = colors[s]
        ax_h.hist(np.clip(x, bins[0], bins[-1]), bins=bins, weights=np.full(x.size, 1.0 / x.size), histtype="step", lw=1.6, color=c, label=s)
        q05 = float(np.quantile(x, 0.05))
        var, ok1 = _stored(d, "var95", k, -q05)
        cvar, ok2 = _stored(d, "cvar95", k, float(-x[x <= q05].mean()))
        computed |= not (ok1 and ok2)
        _ecdf(ax_c, x, c, s)
        ax_c.axvline(-var, color=c, lw=1.1, ls="--", label=f"{s} VaR95 {usd(var)}")
        ax_c.axvline(-cvar, color=c, lw=1.1, ls=":", label=f"{s} CVaR95 {usd(cvar)}")
        ax_h.axvline(float(np.mean(x)), color=c, lw=0.9, ls="-.")
        parts.append(f"{s}: mean {usd(float(np.mean(x)))}, VaR95 {usd(var)}, CVaR95 {usd(cvar)}, P(loss) {pct(float((x < 0).mean()))}")
    ax_h.axvline(0, color="k", lw=0.7)
    ax_h.set_title("final P&L per path (dash-dot: mean; tails clipped to the 0.1% / 99.9% quantiles)", loc="left")
    ax_h.set_xlabel("final P&L (USD)")
    ax_h.set_ylabel("share of paths per bin")
    usd_axis(ax_h, "x")
    ax_h.legend(loc="upper left")
    ax_c.axhline(0.05, color="k", lw=0.6, ls="--")
    ax_c.set_title("ECDF of final P&L (dashed: -VaR95, dotted: -CVaR95)", loc="left")
    ax_c.set_xlabel("final P&L (USD)")
    ax_c.set_ylabel("share of paths with P&L <= x")
    usd_axis(ax_c, "x")
    ax_c.legend(loc="upper left", fontsize=7.5)
    src = " VaR/CVaR computed from the sample (the store has no var95/cvar95)." if computed else " VaR/CVaR are the stored values (all paths)."
    caption = ("Final P&L (NAV at the horizon minus NAV at the start) across paths, strategies on the same paths. "
               + "; ".join(parts) + "." + src + note)
    sink.save(fig, stem, f"{scen}: final P&L distribution", caption)


def drawdown(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """ECDF of the maximum drawdown per path (percent of the running NAV peak)."""
    names, v, note = _per_strategy(d, "max_drawdown")
    colors = strategy_colors(names)
    fig = sink.new(11, 4.5)
    ax = fig.subplots()
    parts = []
    for k, s in enumerate(names):
        x = 100.0 * v[k][np.isfinite(v[k])]
        if not x.size:
            continue
        _ecdf(ax, x, colors[s], s)
        q50, q95 = np.quantile(x, [0.5, 0.95])
        ax.plot([q95], [0.95], "o", color=colors[s], ms=5)
        parts.append(f"{s}: mean {x.mean():.1f}%, median {q50:.1f}%, 95% quantile {q95:.1f}%")
    ax.axhline(0.95, color="k", lw=0.6, ls="--")
    ax.set_xlabel("maximum drawdown from the running NAV peak (%)")
    ax.set_ylabel("share of paths with drawdown <= x")
    ax.set_title("ECDF of the maximum drawdown per path (dots: 95% quantile)", loc="left")
    ax.legend(loc="best")
    sink.save(fig, stem, f"{scen}: maximum drawdown distribution", "Maximum drawdown of NAV per path. " + "; ".join(parts) + "." + note)


def worst_day(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """ECDF of the worst one-day NAV change per path."""
    names, v, note = _per_strategy(d, "worst_day")
    colors = strategy_colors(names)
    fig = sink.new(11, 4.5)
    ax = fig.subplots()
    parts = []
    for k, s in enumerate(names):
        x = v[k][np.isfinite(v[k])]
        if not x.size:
            continue
        _ecdf(ax, x, colors[s], s)
        q05, q50 = np.quantile(x, [0.05, 0.5])
        ax.plot([q05], [0.05], "o", color=colors[s], ms=5)
        parts.append(f"{s}: median {usd(q50)}, 5% quantile {usd(q05)}, worst {usd(float(x.min()))}")
    ax.axhline(0.05, color="k", lw=0.6, ls="--")
    ax.set_xlabel("worst one-day NAV change over the horizon (USD)")
    ax.set_ylabel("share of paths with worst day <= x")
    ax.set_title("ECDF of the worst day per path (dots: 5% quantile)", loc="left")
    usd_axis(ax, "x")
    ax.legend(loc="best")
    sink.save(fig, stem, f"{scen}: worst-day distribution", "Worst one-day NAV change per path. " + "; ".join(parts) + "." + note)

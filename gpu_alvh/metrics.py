"""Per-path metrics, summary statistics and the seeds' claims (SPEC section 7).

Inputs are host arrays gathered over all paths of a scenario (``[S, P]`` per
strategy and path) plus the histograms / sums of the daily bands.

Summary statistics per strategy (dollar P&L unless stated):

* mean, stdev and quantiles of the final P&L; ``VaR_a = -q_{1-a}(P&L)`` and
  ``CVaR_a = -E[P&L | P&L <= q_{1-a}]`` at 95% and 99%; probability of loss;
* Sharpe / Sortino: per path from daily NAV returns (annualised with
  sqrt(252)), averaged over paths;
* time under water (share of days below the running peak), mean max drawdown;
* hedge cost drag, bp of starting NAV per year: ``-mean(hedge P&L) / NAV_0 / years``;
* ruin: share of paths whose NAV fell below 50% of the start.

Claims: :mod:`gpu_alvh.claims` (re-exported here).
"""

from __future__ import annotations

import math
import numpy as np

from .claims import CLAIMS, TOO_FEW, Z95, Claim, claims_table, mean_ci, ratio_ci, verdict  # noqa: F401 - re-exported

__all__ = ["CLAIMS", "Claim", "QUANTILES", "per_path_metrics", "summary_statistics", "claims_table", "hist_quantiles", "ratio_ci", "mean_ci",
           "verdict"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def per_path_metrics(pp: dict[str, np.ndarray], nav0: np.ndarray, years: float, n_days: int) -> dict[str, np.ndarray]:
    """Derived per-path metrics ``[S, P]`` from the engine's accumulators."""
    nav0 = nav0[:, None]
    final = pp["final_nav"]
    with np.errstate(invalid="ignore", divide="ignore"):
        growth = np.where(final > 0, final / nav0, 0.0)
        ann = np.where(growth > 0, growth ** (1.0 / max(years, 1e-9)) - 1.0, -1.0)
        nd = max(n_days, 1)
        mean_r = pp["sum_r"] / nd
        var_r = np.maximum(pp["sum_r2"] / nd - mean_r**2, 0.0)
        sharpe = np.where(var_r > 0, mean_r / np.sqrt(var_r) * math.sqrt(252.0), np.nan)
        down = np.sqrt(pp["sum_neg2"] / nd)
        sortino = np.where(down > 0, mean_r / down * math.sqrt(252.0), np.nan)
    return {
        "annualized_return": ann,
        "sharpe": sharpe,
        "sortino": sortino,
        "time_under_water": pp["under_water_days"] / nd,
        "ruined": (pp["min_nav"] < 0.5 * nav0).astype(float),
        "hedge_payoff": pp["hedge_pnl"] + pp["hedge_premium"],
    }


def _cvar(x: np.ndarray, alpha: float) -> tuple[float, float]:
    q = np.quantile(x, 1.0 - alpha)
    tail = x[x <= q]
    return float(-q), float(-tail.mean()) if tail.size else float(-q)


def summary_statistics(pnl: np.ndarray, derived: dict[str, np.ndarray], pp: dict[str, np.ndarray], nav0: np.ndarray, years: float) -> dict[str, np.ndarray]:
    """Summary statistics per strategy ``[S]`` (and ``[S, Q]`` for quantiles)."""
    S = pnl.shape[0]
    out: dict[str, list] = {k: [] for k in ("pnl_mean", "pnl_std", "var95", "cvar95", "var99", "cvar99", "prob_loss", "sharpe", "sortino",
                                             "time_under_water", "max_drawdown_mean", "hedge_drag_bp", "ruin_fraction", "ann_return_mean", "pnl_quantile")}
    for s in range(S):
        x = pnl[s]
        out["pnl_mean"].append(x.mean())
        out["pnl_std"].append(x.std(ddof=1) if x.size > 1 else 0.0)
        v95, c95 = _cvar(x, 0.95)
        v99, c99 = _cvar(x, 0.99)
        out["var95"].append(v95)
        out["cvar95"].append(c95)
        out["var99"].append(v99)
        out["cvar99"].append(c99)
        out["prob_loss"].append(float((x < 0).mean()))
        out["sharpe"].append(float(np.nanmean(derived["sharpe"][s])) if np.isfinite(derived["sharpe"][s]).any() else np.nan)
        out["sortino"].append(float(np.nanmean(derived["sortino"][s])) if np.isfinite(derived["sortino"][s]).any() else np.nan)
        out["time_under_water"].append(float(derived["time_under_water"][s].mean()))
        out["max_drawdown_mean"].append(float(pp["max_drawdown"][s].mean()))
        out["hedge_drag_bp"].append(float(-pp["hedge_pnl"][s].mean() / nav0[s] / max(years, 1e-9) * 1e4))
        out["ruin_fraction"].append(float(derived["ruined"][s].mean()))
        out["ann_return_mean"].append(float(derived["annualized_return"][s].mean()))
        out["pnl_quantile"].append(np.quantile(x, QUANTILES))
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def hist_quantiles(hist: np.ndarray, bins: tuple[float, float, int], qs=QUANTILES) -> np.ndarray:
    """Quantiles from histograms ``[..., B]`` (linear inside a bin); ``[..., Q]``; NaN where empty."""
    lo, hi, nb = bins
    width = (hi - lo) / nb
    cum = np.cumsum(hist, axis=-1)
    out = np.full(hist.shape[:-1] + (len(qs),), np.nan)
    flat_c = cum.reshape(-1, nb)
    flat_h = hist.reshape(-1, nb)
    flat_o = out.reshape(-1, len(qs))
    for r in range(flat_c.shape[0]):
        n = flat_c[r, -1]
        if n <= 0:
            continue
        for j, q in enumerate(qs):
            target = q * n
            b = int(np.searchsorted(flat_c[r], target, side="left"))
            b = min(b, nb - 1)
            before = flat_c[r, b - 1] if b > 0 else 0
            inside = flat_h[r, b]
            frac = (target - before) / inside if inside > 0 else 0.5
            flat_o[r, j] = lo + (b + min(max(frac, 0.0), 1.0)) * width
    return out

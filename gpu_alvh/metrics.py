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

Claims (each a defined, measured quantity with a 95% confidence interval,
reported next to the seeds' number; ratio estimators ``R = sum(num)/sum(den)``
over paths with delta-method standard errors ``sd(num - R den) / (sqrt(n) mean(den))``):

* C1 migration: share of the front layers' (DTE <= 30) daily losses offset by
  same-day gains of the back layers (DTE > 30), ALVH book - claimed 35-55%;
* C2 rescue: 45-DTE layer P&L per $1 of 7-DTE loss over the first 9 days of
  each losing 7-DTE position - claimed 0.42;
* C3 butterflies: migration capture without the overlay (unhedged ladder) and
  with it (back layers plus hedges, ALVH) - claimed 42% -> 61%;
* C4 IRR drag: annualised return of ALVH minus the unhedged ladder, paired by
  path, bp/yr - claimed +240;
* C5 gamma: ``1 - mean peak |book gamma| near expiry (front layer within 2
  days) of ALVH / unhedged`` - claimed 40-60% lower;
* C6 delta offset: probe-equivalent SPX delta of the first hedge layer over the
  ladder's negative delta (days with negative delta) - claimed 40-60%;
* C7 events: C1 restricted to days within one day of FOMC (claimed ~30%) and to
  the 3 days starting with a CPI/PPI day on which SPX fell ("hot print"; claimed ~60%).

Verdict: ``holds`` when the confidence interval overlaps the claimed range,
``exceeds`` when it lies entirely above (better for the strategy than claimed),
``not supported`` when it lies entirely below, ``n/a`` when there is no data
(e.g. no front-layer losses, or no baseline to compare with), ``n/a: too few
paths`` when there is a value but too few paths (one) for an interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CLAIMS", "Claim", "QUANTILES", "per_path_metrics", "summary_statistics", "claims_table", "hist_quantiles"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: verdict of a claim measured without a confidence interval (a single path)
TOO_FEW = "n/a: too few paths"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    units: str
    low: float
    high: float


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "migration: share of front-layer losses offset by same-day back-layer gains", "fraction", 0.35, 0.55),
    Claim("C2", "rescue: 45-DTE gain per $1 of 7-DTE loss in its first 9 days", "$ per $", 0.42, 0.42),
    Claim("C3_without", "migration capture without the VIX overlay (unhedged ladder)", "fraction", 0.42, 0.42),
    Claim("C3_with", "migration capture with the VIX overlay (back layers + hedges)", "fraction", 0.61, 0.61),
    Claim("C4", "annualised return of ALVH minus the unhedged ladder", "bp/yr", 240.0, 240.0),
    Claim("C5", "peak |book gamma| near expiry: reduction vs the unhedged ladder", "fraction", 0.40, 0.60),
    Claim("C6", "share of the ladder's negative delta offset by the first hedge layer", "fraction", 0.40, 0.60),
    Claim("C7_fomc", "migration within one day of FOMC", "fraction", 0.30, 0.30),
    Claim("C7_cpi", "migration in the 3 days after a hot CPI/PPI print", "fraction", 0.60, 0.60),
)


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


def ratio_ci(num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
    """Ratio estimator ``sum(num)/sum(den)`` over paths with a delta-method 95% CI."""
    n = num.size
    total = den.sum()
    if n == 0 or not total > 0:
        return math.nan, math.nan, math.nan
    r = num.sum() / total
    if n < 2:
        return float(r), math.nan, math.nan
    z = num - r * den
    se = z.std(ddof=1) / math.sqrt(n) / (total / n)
    return float(r), float(r - Z95 * se), float(r + Z95 * se)


def mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(n))
    return m, m - Z95 * se, m + Z95 * se


def verdict(measured: float, lo: float, hi: float, claim: Claim) -> str:
    """``holds`` (CI overlaps the claimed range), ``exceeds`` (CI entirely above it: the
    strategy does better than claimed), ``not supported`` (CI entirely below), ``n/a`` (no data),
    ``n/a: too few paths`` (a measured value but no confidence interval: fewer than 2 paths).
    Every claim is stated so that larger values favour the strategy."""
    if not math.isfinite(measured):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):  # one path: a value, but no interval to judge it by
        return TOO_FEW
    if hi >= claim.low and lo <= claim.high:
        return "holds"
    return "exceeds" if lo > claim.high else "not supported"


def claims_table(pp: dict[str, np.ndarray], derived: dict[str, np.ndarray], labels: list[str], main: str = "alvh") -> dict[str, np.ndarray]:
    """Claims C1..C7 for the ``main`` strategy vs its baselines: arrays over :data:`CLAIMS`."""
    idx = {lab: i for i, lab in enumerate(labels)}
    a = idx.get(main, 0)
    u = idx.get("ladder_unhedged")
    res: dict[str, tuple[float, float, float]] = {}
    res["C1"] = ratio_ci(pp["c1_off"][a], pp["c1_loss"][a])
    res["C2"] = ratio_ci(pp["c2_num"][a], pp["c2_den"][a])
    res["C3_without"] = ratio_ci(pp["c1_off"][u], pp["c1_loss"][u]) if u is not None else (math.nan,) * 3
    res["C3_with"] = ratio_ci(pp["c3_off"][a], pp["c1_loss"][a])
    if u is not None:
        diff = (derived["annualized_return"][a] - derived["annualized_return"][u]) * 1e4
        res["C4"] = mean_ci(diff)
        r, lo, hi = ratio_ci(pp["peak_gamma_near_expiry"][a], pp["peak_gamma_near_expiry"][u])
        res["C5"] = (1.0 - r, 1.0 - hi, 1.0 - lo) if math.isfinite(r) else (math.nan,) * 3
    else:
        res["C4"] = res["C5"] = (math.nan,) * 3
    res["C6"] = ratio_ci(pp["c6_num"][a], pp["c6_den"][a])
    res["C7_fomc"] = ratio_ci(pp["c7f_off"][a], pp["c7f_loss"][a])
    res["C7_cpi"] = ratio_ci(pp["c7c_off"][a], pp["c7c_loss"][a])
    out = {k: [] for k in ("measured", "ci_low", "ci_high", "claimed_low", "claimed_high", "verdict")}
    for c in CLAIMS:
        m, lo, hi = res[c.key]
        out["measured"].append(m)
        out["ci_low"].append(lo)
        out["ci_high"].append(hi)
        out["claimed_low"].append(c.low)
        out["claimed_high"].append(c.high)
        out["verdict"].append(verdict(m, lo, hi, c))
    return {k: np.asarray(v, dtype=object if k == "verdict" else float) for k, v in out.items()}


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

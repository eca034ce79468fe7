"""Market statistics of daily SPX / VIX histories, real or simulated, with sampling errors.

The same definitions serve the shipped history (:func:`history_statistics`) and simulated
paths (:func:`path_statistics`), so a model is compared with the market statistic by
statistic.  Inputs are daily closes; a **unit** is an independent piece of history: one
simulated path, or one block of 252 consecutive sessions of the real history (per-day
quantities such as forward realised variance are computed on the whole series first, so
they cross block boundaries as they should).

Per-day quantities (day ``t``, ``S`` = SPX, ``V`` = VIX, ``V9``/``V3`` = VIX9D/VIX3M, points):

.. code-block:: text

    r_t   = ln(S_t / S_{t-1})                       daily log return
    R_t   = 100 (S_t / S_{t-1} - 1)                 daily simple return, percent
    RV^n_t = (252 / n) sum_{i=1..n} r_{t+i}^2        realised variance of the next n sessions
                                                    (annualised, decimal, not demeaned)

Statistics (``STATISTICS`` has label and unit of each; sums run over the days where every
input is defined):

* ``vrp_var_{9,30,93}`` - mean of ``(V9/100)^2 - RV^6``, ``(V/100)^2 - RV^21``, ``(V3/100)^2 - RV^63``, x1e4;
* ``vrp_vol_{9,30,93}`` - mean of ``V9 - 100 sqrt(RV^6)`` etc., vol points;
* ``vix_dlog_sd`` - stdev of ``ln(V_t / V_{t-1})``, percent;
* ``vix_move10`` / ``vix_move20`` - share of days with ``|V_t / V_{t-1} - 1| > 10%`` / ``> 20%``, percent;
* ``vix_beta`` - OLS slope of ``V_t - V_{t-1}`` on ``R_t`` (VIX points per 1% SPX move);
  ``vix_spx_corr`` - their correlation;
* ``vix_p5`` / ``vix_p50`` / ``vix_p95`` - quantiles of ``V_t``;
* ``spx_vol`` - ``100 sqrt(252) stdev(r_t)``; ``spx_log_growth`` - ``100 * 252 mean(r_t)``, %/yr;
* ``spx_down4`` / ``spx_down8`` / ``spx_up4`` - days per 252 sessions with ``R_t < -4``, ``< -8``, ``> +4``;
* ``ts_ratio_p50`` / ``ts9_ratio_p50`` - medians of ``V3/V`` and ``V9/V``;
* ``ts_contango`` - share of days with ``V3 - V > 1`` point, percent;
* ``ts_inversion`` - the VIX at which the OLS line of ``V3 - V`` on ``V`` crosses zero (points);
* ``vix_half_life`` - ``ln(1/2) / ln(phi)``, sessions, ``phi`` the pooled OLS slope of ``ln V_t``
  on ``ln V_{t-1}`` (all days);
* ``vix_half_life_252`` - the same with ``phi`` the mean of the OLS slopes fitted separately
  in consecutive, non-overlapping 252-session windows (a within-year measure: it carries the
  estimator's small-sample bias, identically for history and model);
* ``vvix_p5`` / ``vvix_p50`` / ``vvix_p95`` - quantiles of VVIX (for a model: its 30-day
  model-free VVIX, see :mod:`gpu_alvh.calibration.moments`).

Sampling errors: every statistic is a smooth function of per-unit sums (a quantile ``q`` of
the pooled sample through its Bahadur linearisation ``q + (F(q) - F_b(q)) / f(q)``, ``F`` and
``F_b`` the pooled and resampled CDFs, ``f`` a kernel density), so the
units are resampled with replacement (``n_boot`` replicates; for history a non-overlapping
block bootstrap with one-year blocks) and the standard deviation of the replicates is the
standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Statistic", "STATISTICS", "StatValue", "MarketStats", "history_statistics", "path_statistics", "BLOCK"]

#: Sessions per block of the real history (and per window of ``vix_half_life_252``).
BLOCK = 252
QUANTILES = {"p5": 0.05, "p50": 0.50, "p95": 0.95}
RV_WINDOWS = {"9": ("vix9d", 6), "30": ("vix", 21), "93": ("vix3m", 63)}


class Statistic(NamedTuple):
    """Label, unit and printing format of one statistic."""

    label: str
    unit: str
    fmt: str = ".3g"


STATISTICS: dict[str, Statistic] = {
    "vrp_var_9": Statistic("VIX9D^2 - next-6-session realised variance", "x1e-4", ".1f"),
    "vrp_var_30": Statistic("VIX^2 - next-21-session realised variance", "x1e-4", ".1f"),
    "vrp_var_93": Statistic("VIX3M^2 - next-63-session realised variance", "x1e-4", ".1f"),
    "vrp_vol_9": Statistic("mean VIX9D - next-6-session realised vol", "pts", ".2f"),
    "vrp_vol_30": Statistic("mean VIX - next-21-session realised vol", "pts", ".2f"),
    "vrp_vol_93": Statistic("mean VIX3M - next-63-session realised vol", "pts", ".2f"),
    "vix_dlog_sd": Statistic("daily VIX log-change stdev", "%", ".2f"),
    "vix_move10": Statistic("days with |dVIX/VIX| > 10%", "%", ".2f"),
    "vix_move20": Statistic("days with |dVIX/VIX| > 20%", "%", ".2f"),
    "vix_beta": Statistic("VIX points per 1% SPX move (OLS)", "pts/%", ".3f"),
    "vix_spx_corr": Statistic("correlation of daily VIX and SPX moves", "", ".3f"),
    "vix_p5": Statistic("VIX 5th percentile", "pts", ".2f"),
    "vix_p50": Statistic("VIX median", "pts", ".2f"),
    "vix_p95": Statistic("VIX 95th percentile", "pts", ".2f"),
    "spx_vol": Statistic("SPX realised vol (daily log returns)", "%/yr", ".2f"),
    "spx_log_growth": Statistic("SPX mean log growth", "%/yr", ".2f"),
    "spx_down4": Statistic("SPX days below -4%", "per yr", ".3f"),
    "spx_down8": Statistic("SPX days below -8%", "per yr", ".3f"),
    "spx_up4": Statistic("SPX days above +4%", "per yr", ".3f"),
    "ts_ratio_p50": Statistic("VIX3M/VIX median", "", ".4f"),
    "ts_contango": Statistic("days with VIX3M - VIX > 1 pt", "%", ".1f"),
    "ts_inversion": Statistic("VIX where VIX3M - VIX crosses 0 (OLS line)", "pts", ".1f"),
    "ts9_ratio_p50": Statistic("VIX9D/VIX median", "", ".4f"),
    "vix_half_life": Statistic("VIX half-life, AR(1) of ln VIX, all days", "sessions", ".1f"),
    "vix_half_life_252": Statistic("VIX half-life, mean AR(1) within 252-session windows", "sessions", ".1f"),
    "vvix_p5": Statistic("VVIX 5th percentile", "pts", ".1f"),
    "vvix_p50": Statistic("VVIX median", "pts", ".1f"),
    "vvix_p95": Statistic("VVIX 95th percentile", "pts", ".1f"),
}


class StatValue(NamedTuple):
    """One measured statistic: value, standard error (NaN when not estimable) and observations."""

    value: float
    se: float
    n: int


@dataclass(frozen=True)
class MarketStats:
    """Statistics of one market (history or model) with their sampling errors.

    ``values`` holds only the statistics the inputs allow (no VIX3M: no ``ts_*``, ...);
    ``window`` describes the data (dates, paths x sessions).
    """

    values: dict[str, StatValue]
    window: str
    units: int
    extra: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> StatValue:
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def value(self, key: str) -> float:
        return self.values[key].value


# --------------------------------------------------------------------------- per-day quantities
def _lag(a: np.ndarray) -> np.ndarray:
    out = np.full_like(a, np.nan)
    out[:, 1:] = a[:, :-1]
    return out


def _forward_rv(r: np.ndarray, n: int) -> np.ndarray:
    """``(252/n) sum_{i=1..n} r_{t+i}^2`` [unit, day]; NaN where the window leaves the data."""
    r2 = np.where(np.isfinite(r), r * r, np.nan)
    bad = ~np.isfinite(r2)
    cs = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(np.where(bad, 0.0, r2), axis=1)], axis=1)
    cb = np.concatenate([np.zeros((r.shape[0], 1)), np.cumsum(bad, axis=1)], axis=1)
    out = np.full(r.shape, np.nan)
    T = r.shape[1]
    if T > n:
        # window t+1..t+n  <->  cs[t+n+1] - cs[t+1]
        tot = cs[:, n + 1 :] - cs[:, 1 : T - n + 1]
        nbad = cb[:, n + 1 :] - cb[:, 1 : T - n + 1]
        out[:, : T - n] = np.where(nbad == 0, tot * 252.0 / n, np.nan)
    return out


def _window_slopes(lv: np.ndarray, length: int) -> np.ndarray:
    """OLS slope of ``x_t`` on ``x_{t-1}`` in each complete window of ``length`` days (over the pairs
    with both values), stored at the window's first day (NaN elsewhere) [unit, day]."""
    U, T = lv.shape
    out = np.full(lv.shape, np.nan)
    k = T // length
    if k == 0:
        return out
    w = lv[:, : k * length].reshape(U, k, length)
    x, y = w[..., :-1], w[..., 1:]
    m = np.isfinite(x) & np.isfinite(y)
    n = m.sum(-1, keepdims=True)
    x, y = np.where(m, x, 0.0), np.where(m, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm, ym = x.sum(-1, keepdims=True) / n, y.sum(-1, keepdims=True) / n
        slope = (m * (x - xm) * (y - ym)).sum(-1) / (m * (x - xm) ** 2).sum(-1)
    out[:, : k * length : length] = np.where(n[..., 0] >= length // 2, slope, np.nan)
    return out


def _terms(spx, vix, vix9d, vix3m, vvix, window: int) -> dict[str, np.ndarray]:
    """Per-day quantities [unit, day] (NaN where undefined)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.log(spx) - np.log(_lag(spx))
        t = {
            "r": r,
            "R": 100.0 * (spx / _lag(spx) - 1.0),
            "vix": vix,
            "lv": np.log(vix),
            "lv_prev": np.log(_lag(vix)),
            "dvix": vix - _lag(vix),
        }
        t["dlv"] = t["lv"] - t["lv_prev"]
        t["rel"] = vix / _lag(vix) - 1.0
        t["ar_window"] = _window_slopes(t["lv"], window)
        for key, (name, n) in RV_WINDOWS.items():
            iv = {"vix": vix, "vix9d": vix9d, "vix3m": vix3m}[name]
            if iv is not None:
                t[f"rv{key}"] = _forward_rv(r, n)
                t[f"iv{key}"] = iv
        if vix3m is not None:
            t["ratio3"] = vix3m / vix
            t["spread3"] = vix3m - vix
        if vix9d is not None:
            t["ratio9"] = vix9d / vix
        if vvix is not None:
            t["vvix"] = vvix
    return t


# --------------------------------------------------------------------------- sums -> statistics
def _both(*arrays):
    m = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        m &= np.isfinite(a)
    return m


def _bandwidth(x: np.ndarray) -> float:
    """Silverman's rule ``0.9 min(sd, IQR/1.34) n^(-1/5)`` on the finite values of ``x``."""
    x = x[np.isfinite(x)]
    sd = float(np.std(x))
    q75, q25 = np.quantile(x, [0.75, 0.25])
    s = min(sd, (q75 - q25) / 1.34) or sd
    return 0.9 * s * x.size ** (-0.2)


class _Sums:
    """Per-unit sums [unit, K] by name, and the statistic formulas on them."""

    def __init__(self):
        self.cols: dict[str, np.ndarray] = {}
        self.formulas: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]] = {}
        self.counts: dict[str, str] = {}

    def add(self, name: str, values: np.ndarray, mask: np.ndarray) -> None:
        self.cols[name] = np.where(mask, values, 0.0).sum(axis=1)

    def mean_stat(self, key: str, x: np.ndarray, mask: np.ndarray, scale: float = 1.0) -> None:
        self.add(f"{key}.n", np.ones_like(x), mask)
        self.add(f"{key}.s", x, mask)
        self.formulas[key] = lambda S, k=key, c=scale: c * S[f"{k}.s"] / S[f"{k}.n"]
        self.counts[key] = f"{key}.n"

    def share_stat(self, key: str, event: np.ndarray, mask: np.ndarray, scale: float) -> None:
        self.mean_stat(key, event.astype(float), mask, scale)

    def ols(self, key: str, x: np.ndarray, y: np.ndarray) -> None:
        m = _both(x, y)
        for name, v in (("n", np.ones_like(x)), ("x", x), ("y", y), ("xy", x * y), ("xx", x * x), ("yy", y * y)):
            self.add(f"{key}.{name}", v, m)
        self.counts[key] = f"{key}.n"

    def quantile_stat(self, key: str, x: np.ndarray, p: float) -> None:
        m = np.isfinite(x)
        pooled = x[m]
        if pooled.size < 2:
            return
        q = float(np.quantile(pooled, p))
        h = _bandwidth(pooled)
        self.add(f"{key}.n", np.ones_like(x), m)
        self.counts[key] = f"{key}.n"
        dens = (np.count_nonzero(pooled <= q + h) - np.count_nonzero(pooled <= q - h)) / (2.0 * h * pooled.size) if h > 0 else 0.0
        if not (math.isfinite(dens) and dens > 0.0):  # a (numerically) constant series: the quantile is exact
            self.formulas[key] = lambda S, k=key, q=q: q + 0.0 * S[f"{k}.n"]
            return
        F = np.count_nonzero(pooled <= q) / pooled.size  # = p unless q sits on an atom (e.g. the VIX floor)
        self.add(f"{key}.c", (x <= q).astype(float), m)
        self.formulas[key] = lambda S, k=key, q=q, d=dens, F=F: q + (F - S[f"{k}.c"] / S[f"{k}.n"]) / d

    def evaluate(self, S: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            return {k: np.asarray(f(S), dtype=float) for k, f in self.formulas.items()}


def _slope(S, k):
    n = S[f"{k}.n"]
    return (S[f"{k}.xy"] - S[f"{k}.x"] * S[f"{k}.y"] / n) / (S[f"{k}.xx"] - S[f"{k}.x"] ** 2 / n)


def _corr(S, k):
    n = S[f"{k}.n"]
    sxy = S[f"{k}.xy"] - S[f"{k}.x"] * S[f"{k}.y"] / n
    return sxy / np.sqrt((S[f"{k}.xx"] - S[f"{k}.x"] ** 2 / n) * (S[f"{k}.yy"] - S[f"{k}.y"] ** 2 / n))


def _half_life(phi):
    phi = np.asarray(phi, dtype=float)
    return np.where((phi > 0) & (phi < 1), math.log(0.5) / np.log(np.clip(phi, 1e-300, 1 - 1e-16)), np.nan)


def _build_sums(t: dict[str, np.ndarray]) -> _Sums:
    s = _Sums()
    for key in RV_WINDOWS:
        if f"iv{key}" in t:
            iv, rv = t[f"iv{key}"], t[f"rv{key}"]
            m = _both(iv, rv)
            with np.errstate(invalid="ignore"):
                s.mean_stat(f"vrp_var_{key}", (iv / 100.0) ** 2 - rv, m, 1e4)
                s.mean_stat(f"vrp_vol_{key}", iv - 100.0 * np.sqrt(rv), m)
    d = t["dlv"]
    md = np.isfinite(d)
    s.add("dlv.n", np.ones_like(d), md)
    s.add("dlv.s", d, md)
    s.add("dlv.ss", d * d, md)
    s.formulas["vix_dlog_sd"] = lambda S: 100.0 * np.sqrt(np.maximum(S["dlv.ss"] / S["dlv.n"] - (S["dlv.s"] / S["dlv.n"]) ** 2, 0.0))
    s.counts["vix_dlog_sd"] = "dlv.n"
    mr = np.isfinite(t["rel"])
    with np.errstate(invalid="ignore"):
        s.share_stat("vix_move10", np.abs(t["rel"]) > 0.10, mr, 100.0)
        s.share_stat("vix_move20", np.abs(t["rel"]) > 0.20, mr, 100.0)
    s.ols("beta", t["R"], t["dvix"])
    s.formulas["vix_beta"] = lambda S: _slope(S, "beta")
    s.formulas["vix_spx_corr"] = lambda S: _corr(S, "beta")
    s.counts["vix_beta"] = s.counts["vix_spx_corr"] = "beta.n"
    for name, p in QUANTILES.items():
        s.quantile_stat(f"vix_{name}", t["vix"], p)
    r = t["r"]
    mr = np.isfinite(r)
    s.add("r.n", np.ones_like(r), mr)
    s.add("r.s", r, mr)
    s.add("r.ss", r * r, mr)
    s.formulas["spx_vol"] = lambda S: 100.0 * np.sqrt(252.0 * np.maximum(S["r.ss"] / S["r.n"] - (S["r.s"] / S["r.n"]) ** 2, 0.0))
    s.formulas["spx_log_growth"] = lambda S: 100.0 * 252.0 * S["r.s"] / S["r.n"]
    s.counts["spx_vol"] = s.counts["spx_log_growth"] = "r.n"
    R = t["R"]
    mR = np.isfinite(R)
    with np.errstate(invalid="ignore"):
        s.share_stat("spx_down4", R < -4.0, mR, 252.0)
        s.share_stat("spx_down8", R < -8.0, mR, 252.0)
        s.share_stat("spx_up4", R > 4.0, mR, 252.0)
    if "ratio3" in t:
        s.quantile_stat("ts_ratio_p50", t["ratio3"], 0.5)
        sp = t["spread3"]
        with np.errstate(invalid="ignore"):
            s.share_stat("ts_contango", sp > 1.0, np.isfinite(sp), 100.0)
        s.ols("inv", t["vix"], sp)
        s.formulas["ts_inversion"] = lambda S: -(S["inv.y"] / S["inv.n"] - _slope(S, "inv") * S["inv.x"] / S["inv.n"]) / _slope(S, "inv")
        s.counts["ts_inversion"] = "inv.n"
    if "ratio9" in t:
        s.quantile_stat("ts9_ratio_p50", t["ratio9"], 0.5)
    s.ols("ar", t["lv_prev"], t["lv"])
    s.formulas["vix_half_life"] = lambda S: _half_life(_slope(S, "ar"))
    s.counts["vix_half_life"] = "ar.n"
    aw = t["ar_window"]
    mw = np.isfinite(aw)
    if mw.any():
        s.add("arw.n", np.ones_like(aw), mw)
        s.add("arw.s", aw, mw)
        s.formulas["vix_half_life_252"] = lambda S: _half_life(S["arw.s"] / S["arw.n"])
        s.counts["vix_half_life_252"] = "arw.n"
    if "vvix" in t:
        for name, p in QUANTILES.items():
            s.quantile_stat(f"vvix_{name}", t["vvix"], p)
    return s


def _statistics(t: dict[str, np.ndarray], *, n_boot: int, seed: int) -> dict[str, StatValue]:
    s = _build_sums(t)
    names = list(s.cols)
    M = np.stack([s.cols[k] for k in names], axis=1)  # [unit, K]
    U = M.shape[0]
    point = s.evaluate({k: M[:, i].sum() for i, k in enumerate(names)})
    if U > 1 and n_boot > 1:
        rng = np.random.default_rng(seed)
        W = rng.multinomial(U, np.full(U, 1.0 / U), size=n_boot).astype(float)  # [B, U]
        boot = s.evaluate({k: v for k, v in zip(names, (W @ M).T)})
    else:
        boot = None
    out = {}
    for key in STATISTICS:
        if key not in point:
            continue
        n = int(M[:, names.index(s.counts[key])].sum())
        val = float(point[key])
        if not math.isfinite(val) or n == 0:
            continue
        se = float(np.nanstd(boot[key], ddof=1)) if boot is not None else math.nan
        out[key] = StatValue(val, se, n)
    return out


# --------------------------------------------------------------------------- entry points
def history_statistics(frame: pd.DataFrame, *, block: int = BLOCK, n_boot: int = 1000, seed: int = 0) -> MarketStats:
    """Statistics of a daily history.

    Parameters
    ----------
    frame : DataFrame indexed by session date (ascending) with columns ``spx`` and ``vix``
        and optionally ``vix9d``, ``vix3m``, ``vvix`` (closes; NaN where a series has no row).
    block : sessions per bootstrap block (and per ``vix_half_life_252`` window), counted
        from the first row.
    n_boot, seed : bootstrap replicates and their seed.
    """
    arrays = {k: (frame[k].to_numpy(dtype=float)[None, :] if k in frame else None) for k in ("spx", "vix", "vix9d", "vix3m", "vvix")}
    t = _terms(arrays["spx"], arrays["vix"], arrays["vix9d"], arrays["vix3m"], arrays["vvix"], block)
    T = len(frame)
    nb = -(-T // block)
    pad = nb * block - T
    blocks = {k: np.concatenate([v[0], np.full(pad, np.nan)]).reshape(nb, block) for k, v in t.items()}
    parts = []
    for k in ("spx", "vix", "vix9d", "vix3m", "vvix"):
        if k in frame:
            idx = frame.index[frame[k].notna()]
            parts.append(f"{k} {idx[0].date()}..{idx[-1].date()}")
    stats = _statistics(blocks, n_boot=n_boot, seed=seed)
    return MarketStats(stats, "; ".join(parts), nb, {"block": block})


def path_statistics(spx, vix, vix9d=None, vix3m=None, vvix=None, *, n_boot: int = 500, seed: int = 0, window: str = "") -> MarketStats:
    """Statistics of simulated daily paths, each path an independent unit.

    Parameters
    ----------
    spx, vix : arrays [path, day] of SPX levels and VIX (points) at daily closes.
    vix9d, vix3m, vvix : optional arrays [path, day] (model VIX9D / VIX3M / VVIX, points).
    n_boot, seed : bootstrap over paths.
    """
    spx = np.atleast_2d(np.asarray(spx, dtype=float))
    arr = [None if a is None else np.atleast_2d(np.asarray(a, dtype=float)) for a in (vix, vix9d, vix3m, vvix)]
    t = _terms(spx, arr[0], arr[1], arr[2], arr[3], BLOCK)
    stats = _statistics(t, n_boot=n_boot, seed=seed)
    label = window or f"{spx.shape[0]} paths x {spx.shape[1] - 1} sessions"
    return MarketStats(stats, label, spx.shape[0])

"""The seeds' claims (SPEC section 7) as measured quantities with 95% confidence intervals.

Definitions, formulas and the seed sentence each one reads: ``docs/claims.md``.  Every estimator is a
smooth function of per-path sums (paths are independent, so the path is the sampling unit); its
interval is ``estimate +- 1.96 se`` with the delta-method standard error ``se = sd(psi) / sqrt(n)`` of
its per-path influence values ``psi``:

* ratio ``R = sum(num) / sum(den)``: ``psi = (num - R den) / mean(den)``;
* mean ``m = mean(x)``: ``psi = x - m``;
* difference ``A - B`` on common paths: ``psi_A - psi_B``; ratio ``A / B``: ``(A / B)(psi_A / A - psi_B / B)``;
  ``1 - A``: ``-psi_A``; ``-A``: ``-psi_A``.

A regression through the origin pooled over paths, ``beta = sum Sxy / sum Sxx``, is a ratio of per-path
sums, so it gets the same (cluster-by-path) interval.

Verdicts (:func:`verdict`): ``holds`` (interval overlaps the claimed range), ``exceeds`` / ``not
supported`` (entirely above / below, for claims where larger values favour the strategy); for claims
that state a value (``direction="value"``) an interval entirely outside the range is ``not supported``
either way; ``n/a`` (no data: no losses in the window, no baseline row), ``n/a: too few paths`` (fewer
than 2 paths), ``no claim`` (a reported line the seeds put no number on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Claim", "CLAIMS", "Estimate", "ratio_ci", "mean_ci", "verdict", "claims_table", "TOO_FEW", "NO_CLAIM", "Z95"]

TOO_FEW = "n/a: too few paths"
NO_CLAIM = "no claim"
Z95 = 1.959963984540054
_NAN = math.nan
# C7: the seed's event figures (30%, 60%) against its baseline 35-55% (C1)
_C1_LO, _C1_HI = 0.35, 0.55


@dataclass(frozen=True)
class Claim:
    """A claim row: key, definition, units, claimed range, estimator, and how to read a miss."""

    key: str
    text: str
    units: str
    low: float
    high: float
    estimator: str = "ratio of sums over paths, delta method"
    direction: str = "higher"  # "higher": larger values favour the strategy; "value": a stated value


CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "migration: share of front-layer (7/21) daily losses offset by same-day back-layer (45/90) gains, clipped", "fraction", 0.35, 0.55),
    Claim("C1_life", "migration per front-position life: back-layer P&L (signed) per $ lost by losing front positions", "fraction", 0.35, 0.55),
    Claim("C2", "rescue: 45-DTE gain per $1 of 7-DTE loss in its first 9 days", "$ per $", 0.42, 0.42),
    Claim("C3_without", "migration capture of the unhedged ladder (clipped same-day, C1)", "fraction", 0.42, 0.42, direction="value"),
    Claim("C3_with", "migration capture with a VIX call-butterfly-only overlay (butterfly_only: back layers + butterflies)", "fraction", 0.61, 0.61),
    Claim("C3_lift", "capture with butterflies minus without, paired by path", "fraction", 0.19, 0.19, "difference of ratios, delta method"),
    Claim("C3_alvh", "migration capture with the full ALVH overlay (back layers + all hedges)", "fraction", _NAN, _NAN),
    Claim("C4", "cascade roll: P&L of ALVH minus alvh_no_cascade, bp of NAV per year, paired by path", "bp/yr", 240.0, 240.0, "paired mean"),
    Claim("C4_overlay", "overlay: P&L of ALVH minus ladder_unhedged, bp of NAV per year, paired by path", "bp/yr", _NAN, _NAN, "paired mean"),
    Claim("C5", "peak |ladder + overlay SPX-equivalent gamma| near expiry: reduction vs the unhedged ladder", "fraction", 0.40, 0.60, "1 - ratio, delta method"),
    Claim("C5_loss", "worst near-expiry daily NAV loss: reduction vs the unhedged ladder", "fraction", 0.40, 0.60, "1 - ratio, delta method"),
    Claim("C6", "signed realised hedge ratio of the first hedge layer on the ladder's down-move delta losses", "fraction", 0.40, 0.60,
          "regression through the origin pooled over paths, delta method"),
    Claim("C6_up", "the same on up-move delta losses (the call wing of seed 003's example)", "fraction", 0.40, 0.60,
          "regression through the origin pooled over paths, delta method"),
    Claim("C6_probe", "secondary: probe-equivalent delta of the first hedge layer over the ladder's negative delta", "fraction", 0.40, 0.60),
    Claim("C7_fomc", "migration (C1) within one trading day of FOMC", "fraction", 0.30, 0.30, direction="value"),
    Claim("C7_fomc_rel", "C7_fomc relative to C1", "ratio", 0.30 / _C1_HI, 0.30 / _C1_LO, "ratio of ratios, delta method", "value"),
    Claim("C7_cpi", "migration (C1) in the 3 days from a CPI/PPI day on which the VIX futures curve steepens", "fraction", 0.60, 0.60,
          direction="value"),
    Claim("C7_cpi_rel", "C7_cpi relative to C1", "ratio", 0.60 / _C1_HI, 0.60 / _C1_LO, "ratio of ratios, delta method", "value"),
)


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its per-path influence values (``None``: no interval)."""

    value: float
    psi: np.ndarray | None

    @staticmethod
    def ratio(num: np.ndarray, den: np.ndarray) -> "Estimate":
        n, total = num.size, float(den.sum())
        if n == 0 or not total > 0:
            return Estimate(_NAN, None)
        r = float(num.sum()) / total
        return Estimate(r, (num - r * den) / (total / n))

    @staticmethod
    def mean(x: np.ndarray) -> "Estimate":
        if x.size == 0:
            return Estimate(_NAN, None)
        m = float(x.mean())
        return Estimate(m, x - m)

    def __sub__(self, other: "Estimate") -> "Estimate":
        psi = None if self.psi is None or other.psi is None else self.psi - other.psi
        return Estimate(self.value - other.value, psi)

    def __truediv__(self, other: "Estimate") -> "Estimate":
        if not (math.isfinite(self.value) and math.isfinite(other.value)) or self.value == 0.0 or other.value == 0.0:
            return Estimate(_NAN, None)
        q = self.value / other.value
        psi = None if self.psi is None or other.psi is None else q * (self.psi / self.value - other.psi / other.value)
        return Estimate(q, psi)

    def scaled(self, a: float, b: float = 0.0) -> "Estimate":
        """``b + a x`` (e.g. ``1 - x``: ``scaled(-1, 1)``)."""
        return Estimate(b + a * self.value, None if self.psi is None else a * self.psi)

    def ci(self) -> tuple[float, float, float]:
        if not math.isfinite(self.value):
            return _NAN, _NAN, _NAN
        if self.psi is None or self.psi.size < 2:
            return self.value, _NAN, _NAN
        se = float(self.psi.std(ddof=1)) / math.sqrt(self.psi.size)
        return self.value, self.value - Z95 * se, self.value + Z95 * se


_NONE = Estimate(_NAN, None)


def ratio_ci(num: np.ndarray, den: np.ndarray) -> tuple[float, float, float]:
    """Ratio estimator ``sum(num)/sum(den)`` over paths with a delta-method 95% CI."""
    return Estimate.ratio(num, den).ci()


def mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    """Mean over paths with a 95% CI (``mean +- 1.96 sd / sqrt(n)``)."""
    return Estimate.mean(x).ci()


def verdict(measured: float, lo: float, hi: float, claim: Claim) -> str:
    """Verdict of a measured claim (module docstring)."""
    if not math.isfinite(claim.low):
        return NO_CLAIM if math.isfinite(measured) else "n/a"
    if not math.isfinite(measured):
        return "n/a"
    if not (math.isfinite(lo) and math.isfinite(hi)):  # one path: a value, but no interval to judge it by
        return TOO_FEW
    if hi >= claim.low and lo <= claim.high:
        return "holds"
    if claim.direction == "value":
        return "not supported"
    return "exceeds" if lo > claim.high else "not supported"


def claims_table(pp: dict[str, np.ndarray], derived: dict[str, np.ndarray], labels: list[str], main: str = "alvh", *,
                 years: float | None = None, n_days: int | None = None, nav0: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Claims of :data:`CLAIMS` for the ``main`` strategy vs its baselines (rows ``labels`` of ``pp``).

    ``pp``: per-path arrays ``[S, P]``; ``years`` (calendar years of the horizon) and ``nav0`` (``[S]``)
    annualise C4; ``n_days`` (trading days) goes into its note.  Returns arrays over :data:`CLAIMS`:
    ``measured, ci_low, ci_high, claimed_low, claimed_high`` (float), ``verdict``, ``note`` (str),
    ``annualised`` (bool).  ``derived`` is accepted for the callers' convenience and not read.
    """
    del derived
    idx = {lab: i for i, lab in enumerate(labels)}
    a = idx.get(main, 0)
    u, nc, bf = idx.get("ladder_unhedged"), idx.get("alvh_no_cascade"), idx.get("butterfly_only")
    ratio = lambda n, d, s: Estimate.ratio(pp[n][s], pp[d][s]) if s is not None else _NONE  # noqa: E731
    est: dict[str, Estimate] = {}
    note: dict[str, str] = {}
    est["C1"] = ratio("c1_off", "c1_loss", a)
    est["C1_life"] = ratio("c1l_num", "c1l_den", a)
    est["C2"] = ratio("c2_num", "c2_den", a)
    est["C3_without"] = ratio("c1_off", "c1_loss", u)
    est["C3_with"] = ratio("c3_off", "c1_loss", bf)
    est["C3_lift"] = est["C3_with"] - est["C3_without"]
    est["C3_alvh"] = ratio("c3_off", "c1_loss", a)
    yrs = float(years) if years is not None else _NAN
    scale = 1e4 / yrs if yrs > 0 else _NAN

    def paired(b):
        if b is None or nav0 is None or not math.isfinite(scale):
            return _NONE
        return Estimate.mean((pp["final_nav"][a] / nav0[a] - pp["final_nav"][b] / nav0[b]) * scale)

    est["C4"], est["C4_overlay"] = paired(nc), paired(u)
    days = f"{int(n_days)} trading days" if n_days is not None else "the horizon"
    ann = (f"annualised x 1/{yrs:.3g} yr from {days}" + ("; horizon under a quarter: the per-year figure extrapolates" if yrs < 0.25 else "")
           if math.isfinite(scale) else "")
    note["C4"] = note["C4_overlay"] = ann
    for key, name in (("C5", "c5_peak_net"), ("C5_loss", "c5_worst_loss")):  # ALVH over the unhedged ladder, paired by path
        est[key] = Estimate.ratio(pp[name][a], pp[name][u]).scaled(-1.0, 1.0) if u is not None else _NONE
    est["C6"] = ratio("c6_sxy", "c6_sxx", a).scaled(-1.0)
    est["C6_up"] = ratio("c6u_sxy", "c6u_sxx", a).scaled(-1.0)
    est["C6_probe"] = ratio("c6_num", "c6_den", a)
    note["C6"] = f"{int(pp['c6_n'][a].sum())} path-days"
    note["C6_up"] = f"{int(pp['c6u_n'][a].sum())} path-days"
    note["C6_probe"] = "sizing probe's view, not a realised ratio"
    est["C7_fomc"] = ratio("c7f_off", "c7f_loss", a)
    est["C7_cpi"] = ratio("c7c_off", "c7c_loss", a)
    est["C7_fomc_rel"] = est["C7_fomc"] / est["C1"]
    est["C7_cpi_rel"] = est["C7_cpi"] / est["C1"]
    note["C7_cpi"] = note["C7_cpi_rel"] = f"{int(pp['c7c_windows'][a].sum())} steepening CPI/PPI windows"
    out: dict[str, list] = {k: [] for k in ("measured", "ci_low", "ci_high", "claimed_low", "claimed_high", "verdict", "note", "annualised")}
    for c in CLAIMS:
        m, lo, hi = est[c.key].ci()
        out["measured"].append(m)
        out["ci_low"].append(lo)
        out["ci_high"].append(hi)
        out["claimed_low"].append(c.low)
        out["claimed_high"].append(c.high)
        out["verdict"].append(verdict(m, lo, hi, c))
        out["note"].append(note.get(c.key, ""))
        out["annualised"].append(c.key.startswith("C4"))
    return {k: np.asarray(v, dtype=object if k in ("verdict", "note") else (bool if k == "annualised" else float)) for k, v in out.items()}

"""Fit the simulation (P) and pricing (Q) parameters of an SVCJ market to daily history.

Method (a minimum-distance fit on semi-closed-form moments; no simulation inside the objective):

1. ``targets``: the history's statistics and standard errors (:func:`~gpu_alvh.calibration.stats.history_statistics`).
2. Stage 1 - :func:`scipy.optimize.least_squares` (trust-region reflective, bounds :data:`BOUNDS`,
   one run from each of :data:`STARTS`, the lowest cost kept) over the nine P parameters and the Q overrides ``kappa, theta, jump_intensity, jump_mean,
   var_jump_mean`` (``sigma, rho, jump_std, jump_corr`` shared by both measures) of the residuals

   .. code-block:: text

       (model_i - target_i) / max(se_i, 1% |target_i|)          for each statistic in FIT_TARGETS present
       (ln x_j - ln x0_j) / 2   (or (x_j - x0_j) / scale_j)       weak priors toward START

   with the model statistics of :func:`~gpu_alvh.calibration.moments.model_statistics`.  The priors
   only matter for parameters the data at hand cannot identify (e.g. the Q term-structure
   parameters without VIX3M / VIX9D).
3. ``drift`` solves the SPX mean log growth exactly (the model's growth is ``g(0) + drift``).
4. Stage 2 (when VVIX is given) - the Q vol of variance ``sigma`` solves model VVIX median =
   history VVIX median (Brent; ``sigma`` enters no stage-1 statistic under Q).  Without VVIX,
   Q keeps the P ``sigma``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..models import SVCJ
from .moments import model_statistics, stationary_law, vvix_curve
from .stats import STATISTICS, MarketStats

__all__ = ["FIT_TARGETS", "START", "STARTS", "BOUNDS", "P_FREE", "Q_FREE", "FitResult", "calibrate", "model_vvix_median"]

#: Statistics the fit matches (all have semi-closed forms).
FIT_TARGETS = (
    "vrp_var_9", "vrp_var_30", "vrp_var_93", "vix_dlog_sd", "vix_move10", "vix_move20", "vix_beta", "vix_spx_corr",
    "vix_p5", "vix_p50", "vix_p95", "spx_vol", "spx_down4", "spx_down8", "spx_up4",
    "ts_ratio_p50", "ts_contango", "ts_inversion", "ts9_ratio_p50", "vix_half_life",
)
P_FREE = ("kappa", "theta", "sigma", "rho", "jump_intensity", "jump_mean", "jump_std", "var_jump_mean", "jump_corr")
Q_FREE = ("kappa", "theta", "jump_intensity", "jump_mean", "var_jump_mean")
#: Prior centre and first starting point: P then Q overrides (a calm-market SVCJ with a jump and
#: variance risk premium; the prior is weak, see the module docstring).
START = {
    "p": {"kappa": 5.0, "theta": 0.025, "sigma": 0.6, "rho": -0.7, "jump_intensity": 3.0, "jump_mean": -0.02,
          "jump_std": 0.02, "var_jump_mean": 0.02, "jump_corr": -1.0},
    "q": {"kappa": 2.5, "theta": 0.05, "jump_intensity": 5.0, "jump_mean": -0.05, "var_jump_mean": 0.04},
}
#: Starting points of the least-squares runs (the best fit wins): START, frequent small co-jumps,
#: rare large ones - the fit has local minima along the jump frequency / size trade-off.
STARTS = (
    START,
    {"p": {"kappa": 4.0, "theta": 0.01, "sigma": 0.6, "rho": -0.9, "jump_intensity": 8.0, "jump_mean": -0.002,
           "jump_std": 0.01, "var_jump_mean": 0.01, "jump_corr": -1.0},
     "q": {"kappa": 1.2, "theta": 0.03, "jump_intensity": 2.5, "jump_mean": -0.03, "var_jump_mean": 0.03}},
    {"p": {"kappa": 5.0, "theta": 0.02, "sigma": 0.55, "rho": -0.85, "jump_intensity": 1.5, "jump_mean": -0.03,
           "jump_std": 0.03, "var_jump_mean": 0.04, "jump_corr": -0.5},
     "q": {"kappa": 1.5, "theta": 0.04, "jump_intensity": 2.0, "jump_mean": -0.05, "var_jump_mean": 0.05}},
)
#: (low, high) per free parameter (P, then Q).
BOUNDS = {
    "p": {"kappa": (0.2, 60.0), "theta": (1e-4, 0.5), "sigma": (0.05, 5.0), "rho": (-0.99, 0.5), "jump_intensity": (0.0, 100.0),
          "jump_mean": (-0.5, 0.2), "jump_std": (1e-4, 0.3), "var_jump_mean": (1e-4, 0.5), "jump_corr": (-10.0, 10.0)},
    "q": {"kappa": (0.2, 60.0), "theta": (1e-4, 0.8), "jump_intensity": (0.0, 200.0), "jump_mean": (-0.5, 0.2), "var_jump_mean": (1e-4, 0.8)},
}
_LINEAR = {"rho": 0.5, "jump_mean": 0.05, "jump_corr": 2.0}  # prior scales of the signed parameters
_LOG_PRIOR = 2.0
_SE_FLOOR = 0.01
_SIGMA_Q = (0.05, 5.0)
_SOLVED = {"spx_log_growth": "solved by drift", "vvix_p50": "solved by the Q sigma"}


@dataclass
class FitResult:
    """Fitted market: ``params`` (P), ``pricing`` (Q overrides), ``drift``, and the fit table."""

    params: dict[str, float]
    pricing: dict[str, float]
    drift: float
    targets: MarketStats
    fitted: dict[str, float]
    used: tuple[str, ...]
    cost: float
    nfev: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    model: type = SVCJ  #: the fitted model class (SVCJ here, SVCJ2 for :mod:`gpu_alvh.calibration.fit2`)

    def model_p(self):
        return self.model(**self.params)

    def model_q(self):
        return self.model(**{**self.params, **self.pricing})

    def rows(self):
        """``(key, label, unit, target, se, fitted, z, used)`` for every statistic with a target and a fitted value."""
        out = []
        for key, st in STATISTICS.items():
            if key in self.targets and key in self.fitted:
                t = self.targets[key]
                z = (self.fitted[key] - t.value) / _scale(t) if math.isfinite(t.se) else math.nan
                out.append((key, st.label, st.unit, t.value, t.se, self.fitted[key], z, key in self.used))
        return out

    def table(self) -> str:
        """Plain-text fit table (target +- se, fitted, z = (fitted - target) / max(se, 1%))."""
        lines = [f"{'statistic':54s} {'unit':>8s} {'history':>9s} {'+-se':>8s} {'fitted':>9s} {'z':>6s}"]
        for key, label, unit, t, se, f, z, used in self.rows():
            fmt = STATISTICS[key].fmt
            mark = "" if used else f"  ({_SOLVED.get(key, 'not fitted')})"
            lines.append(f"{label:54s} {unit:>8s} {t:9{fmt}} {se:8{fmt}} {f:9{fmt}} {z:6.2f}{mark}")
        return "\n".join(lines)

    def yaml_block(self, command: str = "") -> str:
        """A scenario ``drift`` / ``params`` / ``pricing`` block (YAML), the fit table as comments."""
        head = [f"# fitted by: {command}" if command else "# fitted by gpu_alvh.calibration.calibrate",
                f"# history: {self.targets.window}",
                f"# cost {self.cost:.3f} ({self.nfev} evaluations, {self.seconds:.0f} s)"]
        head += [f"# {line}" for line in self.table().splitlines()]
        head += [f"# note: {n}" for n in self.notes]
        body = [f"model: {self.model.name}", f"drift: {_num(self.drift)}", "params:"]
        body += [f"  {k}: {_num(v)}" for k, v in self.params.items()]
        body += ["pricing:"] + [f"  {k}: {_num(v)}" for k, v in self.pricing.items()]
        return "\n".join(head + body) + "\n"


def _num(x: float) -> str:
    return f"{float(x):.6g}"


def _scale(t) -> float:
    se = t.se if math.isfinite(t.se) else 0.0
    return max(se, _SE_FLOOR * abs(t.value), 1e-12)


def _unpack(x: np.ndarray) -> tuple[dict, dict]:
    p = {k: float(v) for k, v in zip(P_FREE, x[: len(P_FREE)])}
    q = {k: float(v) for k, v in zip(Q_FREE, x[len(P_FREE):])}
    return p, q


def _vector(part: dict) -> np.ndarray:
    return np.array([part["p"][k] for k in P_FREE] + [part["q"][k] for k in Q_FREE], dtype=float)


def _priors(x: np.ndarray, x0: np.ndarray) -> np.ndarray:
    names = list(P_FREE) + list(Q_FREE)
    out = []
    for name, xi, x0i in zip(names, x, x0):
        if name in _LINEAR:
            out.append((xi - x0i) / _LINEAR[name])
        else:
            out.append((math.log(max(xi, 1e-12)) - math.log(x0i)) / _LOG_PRIOR)
    return np.array(out)


def _models(p: dict, q: dict) -> "tuple[SVCJ, SVCJ] | None":
    if p["jump_corr"] * p["var_jump_mean"] >= 0.99 or p["jump_corr"] * q["var_jump_mean"] >= 0.99:
        return None
    return SVCJ(**p), SVCJ(**{**p, **q})


def _drift_for(p_model, q_model, growth: float, **kw) -> float:
    """P drift giving the model mean log growth ``growth`` (%/yr): growth is ``g(0) + 100 drift``."""
    g0 = model_statistics(p_model, q_model, 0.0, **kw)["spx_log_growth"]
    return (growth - g0) / 100.0


def model_vvix_median(q_model, p_model, n_nodes: int = 15) -> float:
    """Median of the model VVIX over the stationary law of ``v`` under ``p_model`` (points)."""
    st = stationary_law(p_model, n_cells=200)
    probs = np.linspace(0.005, 0.995, n_nodes)
    nodes = st.quantile(probs)
    vv, _ = vvix_curve(q_model, nodes)
    values = np.interp(st.particles, nodes, vv)
    order = np.argsort(values)
    c = np.cumsum(st.weights[order])
    return float(np.interp(0.5, c - 0.5 * st.weights[order], values[order]))


def calibrate(targets: MarketStats, *, fit: tuple[str, ...] = FIT_TARGETS, starts: tuple = STARTS, max_nfev: int = 60,
              n_cells: int = 200, nodes: int = 16, progress=None) -> FitResult:
    """Fit SVCJ P and Q parameters to the statistics ``targets`` (see module docstring).

    ``fit`` lists the statistics to match (those missing from ``targets`` are skipped);
    ``starts`` are the starting points (one least-squares run each, the lowest cost wins; the
    prior is centred on :data:`START` in every run); ``max_nfev`` bounds each run's iterations;
    ``n_cells`` / ``nodes`` set the accuracy of the moments inside the objective (the reported
    fitted values use finer settings).  ``progress(n_evaluations, cost)`` is called now and then.
    """
    t0 = time.perf_counter()
    used = tuple(k for k in fit if k in targets)
    if not used:
        raise ValueError("no fit statistic is available in the targets")
    tv = np.array([targets.value(k) for k in used])
    ts = np.array([_scale(targets[k]) for k in used])
    prior = _vector(START)
    lo = _vector({"p": {k: BOUNDS["p"][k][0] for k in P_FREE}, "q": {k: BOUNDS["q"][k][0] for k in Q_FREE}})
    hi = _vector({"p": {k: BOUNDS["p"][k][1] for k in P_FREE}, "q": {k: BOUNDS["q"][k][1] for k in Q_FREE}})
    bad = np.full(len(used) + prior.size, 1e3)
    count = [0]
    # drift inside the objective: growth + half the variance (the solved drift differs by ~1e-3/yr,
    # which moves the daily return tails by far less than their errors)
    growth = targets.value("spx_log_growth") if "spx_log_growth" in targets else 8.0
    vol = targets.value("spx_vol") if "spx_vol" in targets else 18.0
    drift0 = growth / 100.0 + 0.5 * (vol / 100.0) ** 2

    def residuals(x):
        count[0] += 1
        pair = _models(*_unpack(x))
        if pair is None:
            return bad
        try:
            m = model_statistics(*pair, drift0, n_cells=n_cells, nodes=nodes)
        except (FloatingPointError, ValueError, np.linalg.LinAlgError):
            return bad
        r = np.concatenate([(np.array([m[k] for k in used]) - tv) / ts, _priors(x, prior)])
        r = np.where(np.isfinite(r), r, 1e3)
        if progress is not None and count[0] % 25 == 0:
            progress(count[0], 0.5 * float(r @ r))
        return r

    runs = []
    with np.errstate(all="ignore"):
        for start in starts:
            x0 = np.clip(_vector(start), lo, hi)
            runs.append(optimize.least_squares(residuals, x0, bounds=(lo, hi), x_scale=np.abs(x0) + 0.01, diff_step=1e-3,
                                               max_nfev=max_nfev, method="trf"))
    res = min(runs, key=lambda r: r.cost)
    p, q = _unpack(res.x)
    mp, mq = _models(p, q)
    drift = _drift_for(mp, mq, growth)
    notes = [f"least squares from {len(runs)} starts, costs {', '.join(f'{r.cost:.2f}' for r in runs)}: {res.message}"]
    pricing = dict(q)
    if "vvix_p50" in targets:
        goal = targets.value("vvix_p50")

        def gap(s):
            return model_vvix_median(SVCJ(**{**p, **q, "sigma": s}), mp) - goal

        a, b = _SIGMA_Q
        if gap(a) * gap(b) < 0:
            pricing["sigma"] = float(optimize.brentq(gap, a, b, xtol=1e-4))
        else:
            notes.append(f"VVIX median {goal:.1f} is out of reach for Q sigma in [{a}, {b}]; Q keeps the P sigma")
    mq = SVCJ(**{**p, **pricing})
    fitted = model_statistics(mp, mq, drift)
    if "vvix_p50" in targets:
        fitted["vvix_p50"] = model_vvix_median(mq, mp)
    pricing = {k: pricing[k] for k in ("kappa", "theta", "sigma", "jump_intensity", "jump_mean", "var_jump_mean") if k in pricing}
    return FitResult(p, pricing, drift, targets, fitted, used, float(res.cost), count[0], time.perf_counter() - t0, notes)

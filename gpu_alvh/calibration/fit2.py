"""Fit the two-factor SVCJ2 market (P and Q) to daily history by simulation.

The one-factor fit (:mod:`gpu_alvh.calibration.fit`) reads its statistics off a Markov chain of the one
variance state; two states would square its size, so this fit simulates instead.  Method:

1. ``targets``: the history's statistics (:func:`~gpu_alvh.calibration.stats.history_statistics`).
2. The objective simulates the candidate market exactly as ``alvh scenarios check`` does
   (:func:`~gpu_alvh.calibration.check.simulate_market`: the scenario's own path kernel, QE, one step a
   session, after a 126-session burn-in) on ``n_paths`` x ``years`` with *common random numbers* (the
   same seed at every evaluation, so the objective is smooth in the parameters apart from counting
   statistics), and returns the residuals

   .. code-block:: text

       (model_i - target_i) / sqrt(se_i^2 + se_model_i^2)     for every statistic of scenarios check
       (x_j - x0_j) / 10                                     weak priors toward the start (log scale for
                                                             positive parameters)

   with ``se_model`` from the first evaluation's bootstrap.  ``scipy.optimize.least_squares``
   (trust-region reflective, bounds :data:`BOUNDS2`, finite differences of relative step 3%) moves the 13 P
   parameters and the 9 Q overrides of :data:`P_FREE2` / :data:`Q_FREE2` (``rho``, ``rho2``,
   ``jump_std`` and ``jump_corr`` shared by both measures).
3. ``drift`` gives the history's mean log growth exactly: ``growth = drift - (theta_eff + theta2)/2 -
   lambda (E[e^J] - 1 - E[J])`` per year under P (:func:`drift_for_growth`), at every evaluation.

The start and prior centre :data:`START2` is the library's fit (``scenarios/base_2f.yaml``); the
slow factor starts each path at its mean (``v2_0 = theta2``) and the fast one at its own.
"""

from __future__ import annotations

import datetime as _dt
import math
import time

import numpy as np
from scipy import optimize

from ..models import SVCJ2
from .check import BURN_IN, simulate_market
from .fit import FitResult
from .stats import STATISTICS, MarketStats

__all__ = ["P_FREE2", "Q_FREE2", "START2", "BOUNDS2", "calibrate_two_factor", "drift_for_growth"]

P_FREE2 = ("kappa", "theta", "sigma", "rho", "jump_intensity", "jump_mean", "jump_std", "var_jump_mean", "jump_corr",
           "kappa2", "theta2", "sigma2", "rho2")
Q_FREE2 = ("kappa", "theta", "sigma", "jump_intensity", "jump_mean", "var_jump_mean", "kappa2", "theta2", "sigma2")
#: The library's two-factor market (scenarios/base_2f.yaml): start and prior centre.
START2 = {
    "p": {"kappa": 18.6393, "theta": 0.00348489, "sigma": 0.995746, "rho": -0.956713, "jump_intensity": 7.74066,
          "jump_mean": -0.00328849, "jump_std": 0.00264843, "var_jump_mean": 0.011922, "jump_corr": -1.00111,
          "kappa2": 1.04464, "theta2": 0.0175713, "sigma2": 0.307294, "rho2": -0.901782},
    "q": {"kappa": 4.66829, "theta": 0.0202466, "sigma": 0.935263, "jump_intensity": 1.91965, "jump_mean": -0.0320924,
          "var_jump_mean": 0.029224, "kappa2": 0.118546, "theta2": 0.040387, "sigma2": 0.387727},
}
_SIGNED = {"rho": (-0.99, 0.3), "rho2": (-0.99, 0.3), "jump_mean": (-0.3, 0.1), "jump_corr": (-5.0, 5.0)}
_LOG_RANGE = 3.0  # positive parameters move within e^{+-3} of the start
#: (low, high) per free parameter, P then Q: the signed ones absolute, the positive ones around the start.
BOUNDS2 = {side: {k: _SIGNED.get(k, (START2[side][k] * math.exp(-_LOG_RANGE), START2[side][k] * math.exp(_LOG_RANGE)))
                  for k in START2[side]} for side in ("p", "q")}
_KEYS = [("p", k) for k in P_FREE2] + [("q", k) for k in Q_FREE2]
_SKIP = ("spx_log_growth",)  # solved by the drift
_PRIOR_SCALE = 10.0


class _Budget(Exception):
    """The evaluation budget is spent (raised inside the objective, caught by the fit)."""


def drift_for_growth(model_p, growth: float) -> float:
    """P drift (arithmetic, per year) whose mean log growth is ``growth`` (decimal per year): the growth plus
    half the stationary mean variance of both factors plus the jumps' convexity ``lambda (E[e^J] - 1 - E[J])``."""
    return growth + 0.5 * (model_p.effective_theta() + model_p.theta2) + 0.5 * model_p.jump_qv_term()


def _vector(start) -> np.ndarray:
    return np.array([start[s][k] if k in _SIGNED else math.log(start[s][k]) for s, k in _KEYS])


def _unpack(x) -> tuple[dict, dict]:
    p, q = {}, {}
    for (side, k), xi in zip(_KEYS, x):
        (p if side == "p" else q)[k] = float(xi if k in _SIGNED else math.exp(xi))
    return p, q


def _scenario(p: dict, q: dict, drift: float, years: float) -> dict:
    model = SVCJ2(**p)
    return {"name": "fit2", "model": "svcj2", "params": {**p, "v0": model.effective_theta(), "v2_0": p["theta2"]}, "pricing": q,
            "spot": 100.0, "rate": 0.0, "dividend_yield": 0.0, "drift": drift, "start": _dt.date(2000, 1, 3),
            "horizon": BURN_IN + int(round(252 * years))}


def calibrate_two_factor(targets: MarketStats, *, start: dict = START2, n_paths: int = 600, years: float = 9.0, seed: int = 21,
                         max_nfev: int = 250, progress=None) -> FitResult:
    """Fit SVCJ2 P and Q parameters to the statistics ``targets`` by simulation (module docstring).

    ``n_paths`` x ``years`` per evaluation (common random numbers, ``seed``); ``max_nfev`` bounds the
    simulations, the finite differences of the Jacobian included (the best point so far is returned);
    ``progress(n_evaluations, cost)`` is called after each improvement.  The fit table's ``fitted`` values are those of the best evaluation.
    """
    t0 = time.perf_counter()
    growth = targets.value("spx_log_growth") / 100.0 if "spx_log_growth" in targets else 0.08
    keys = [k for k in STATISTICS if k in targets and k not in _SKIP and math.isfinite(targets[k].se)]
    x0 = _vector(start)
    lo = _vector({s: {k: BOUNDS2[s][k][0] for k in start[s]} for s in ("p", "q")})
    hi = _vector({s: {k: BOUNDS2[s][k][1] for k in start[s]} for s in ("p", "q")})
    x0 = np.clip(x0, lo, hi)
    model_se: dict[str, float] = {}
    best = {"cost": math.inf, "x": x0, "stats": None}
    count = [0]
    bad = np.full(len(keys) + x0.size, 30.0)

    def residuals(x):
        if count[0] >= max_nfev:
            raise _Budget
        count[0] += 1
        p, q = _unpack(x)
        try:
            mp = SVCJ2(**p)
            SVCJ2(**{**p, **q})
            stats = simulate_market(_scenario(p, q, drift_for_growth(mp, growth), years), n_paths=n_paths, years=years, seed=seed,
                                    backend="numpy", n_boot=40 if not model_se else 2, atm=False)
        except Exception:  # noqa: BLE001 - a candidate outside what the model can simulate is a bad point, not an error
            return bad
        if not model_se:
            model_se.update({k: stats[k].se for k in keys if k in stats})
        z = np.array([(stats.value(k) - targets.value(k)) / math.sqrt(targets[k].se ** 2 + model_se.get(k, 0.0) ** 2) if k in stats else 30.0
                      for k in keys])
        r = np.concatenate([np.where(np.isfinite(z), z, 30.0), (x - x0) / _PRIOR_SCALE])
        cost = float(z @ z)
        if cost < best["cost"]:
            best.update(cost=cost, x=np.array(x), stats=stats)
            if progress is not None:
                progress(count[0], cost)
        return r

    with np.errstate(all="ignore"):
        try:
            message = optimize.least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.03, method="trf").message
        except _Budget:
            message = f"stopped after the budget of {max_nfev} evaluations (finite differences included)"
    p, q = _unpack(best["x"])
    stats = best["stats"]
    fitted = {k: stats.value(k) for k in STATISTICS if stats is not None and k in stats}
    notes = [f"simulated fit: {n_paths} paths x {years:g} years per evaluation, seed {seed}; least squares: {message}"]
    return FitResult(p, q, drift_for_growth(SVCJ2(**p), growth), targets, fitted, tuple(keys), 0.5 * best["cost"], count[0],
                     time.perf_counter() - t0, notes, model=SVCJ2)

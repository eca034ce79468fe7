"""Compile a scenario spec into arrays: the only place that turns specs into arrays.

A :class:`CompiledScenario` holds everything the simulator needs, as host
NumPy arrays indexed by step (``t = 1..n_steps``; index ``t-1``):

* the clock: ``times`` [n_steps+1] datetime64 (New York, tz-naive; step 0 =
  the close of ``start``), ``day`` [n_steps+1] trading-day index,
  ``dt = 1 / (252 * steps_per_day)`` years of trading (variance) time per step,
  ``dcal`` [n_steps] years of calendar time per step (``days / 365``; a weekend's step is 3 days).
  **One clock** (SPEC section 3): variance, diffusion and jumps accrue in trading time (``dt`` per
  step, nothing over weekends and holidays), and every option and VIX-derivative price uses the same
  variance time to expiry (sessions to expiry / 252); the equity drift, the carry, discounting and cash
  interest accrue in calendar time (``dcal``);
* regime schedules [n_steps]: ``sigma`` (vol of vol after multipliers),
  ``rho`` (correlation after overrides), ``jump_intensity`` (after multipliers) of the paths, and
  ``sigma2``, ``rho2`` of the slow variance factor of a two-factor model (zeros for one-factor
  models; a window's vol-of-vol factor and correlation act on both factors); ``v2_0`` its start;
* pricing regimes: ``pricing_models`` (tuple; ``[0]`` is ``model_q``) and ``regime`` [n_steps+1]
  (int; which of them prices the state at the end of each step, :func:`pricing_regimes`);
  ``regime_models_p``: the paths' model as the same regime changes it (what the strategy's
  model-based sizing assumes).  A window effect without ``surprise`` applies to the pricing model
  too (Q ``sigma`` and ``jump_intensity`` multiplied by the window's factor, Q ``rho`` replaced by
  its value), so the closes that price the window's sessions do it in the regime's market, believed
  to persist (docs/scenarios.md, "Regimes and prices"); with ``surprise: true`` only the paths change;
* shock schedules [n_steps] (NaN = none): ``spx_return`` (replaces the step's
  price move: with one step per day the day's close-to-close return is exactly
  the shock on every path; with intraday steps it is the opening gap),
  ``vix_level`` and ``vix_change`` (VIX points, applied at the end of the step);
* event schedules [n_steps]: ``event_mean`` / ``event_std`` of the log jump
  (NaN = no event), ``var_mult`` (multiplicative variance bump / crush, 1 = none);
* ``historical``: for a replay of a real episode, its compiled
  :class:`~gpu_alvh.historical.ReplayPath` (per-step real closes and anchors;
  the simulator then runs :func:`~gpu_alvh.historical.replay_step` instead of
  the model), else None.

The dtype of the simulation is fixed here.  Per-step scalars stay on the host:
the time loop reads them as Python floats, which needs no device round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


from .models import AffineModel
from .rng import scenario_key

__all__ = ["CompiledScenario", "compile_scenario", "TRADING_DAYS_PER_YEAR", "resolve_dtype"]

TRADING_DAYS_PER_YEAR = 252.0
_DTYPES = {"float64": np.float64, "float32": np.float32}


def resolve_dtype(dtype: Any) -> np.dtype:
    """``"float64"`` / ``"float32"`` (or the NumPy types) to a NumPy dtype; ``ValueError`` otherwise."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype.lower()
    if key not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; allowed: float64, float32")
    return np.dtype(_DTYPES[key])


@dataclass(frozen=True, eq=False)
class CompiledScenario:
    """A scenario ready to simulate (see module docstring for the fields)."""

    name: str
    key: int
    spec: Any
    model_p: AffineModel
    model_q: AffineModel
    scheme: str
    spot: float
    v0: float
    rate: float
    dividend_yield: float
    drift: float
    steps_per_day: int
    dt: float
    times: np.ndarray
    day: np.ndarray
    sigma: np.ndarray
    rho: np.ndarray
    jump_intensity: np.ndarray
    spx_return: np.ndarray
    vix_level: np.ndarray
    vix_change: np.ndarray
    event_mean: np.ndarray
    event_std: np.ndarray
    var_mult: np.ndarray
    regime: np.ndarray
    pricing_models: tuple
    regime_models_p: tuple
    dtype: np.dtype = field(default=np.dtype(np.float64))
    historical: Any = None
    v2_0: float = 0.0
    sigma2: Any = None
    rho2: Any = None

    @property
    def n_factors(self) -> int:
        """Variance factors of the paths' model (1, or 2 for :class:`~gpu_alvh.models.SVCJ2`)."""
        return int(self.model_p.n_factors)

    @property
    def n_steps(self) -> int:
        return int(self.sigma.shape[0])

    @property
    def dcal(self) -> np.ndarray:
        """Calendar years of each step ``[n_steps]`` (``(times[t] - times[t-1]) / 365 days``)."""
        return np.diff(self.times).astype("timedelta64[ns]").astype(np.int64) / (365.0 * 86_400e9)

    @property
    def tv(self) -> np.ndarray:
        """Variance (trading) time of each step since the start close, years ``[n_steps+1]``: ``t dt``."""
        return np.arange(self.n_steps + 1) * self.dt

    @property
    def horizon(self) -> int:
        """Trading days simulated."""
        return int(self.day[-1])

    def describe(self) -> str:
        return (
            f"{self.name}: {self.model_p.name}/{self.scheme}, {self.horizon} trading days x "
            f"{self.steps_per_day} steps, S0={self.spot:g}, VIX0={float(self.pricing_models[self.regime[0]].vix_from_state(self.v0, self.v2_0)):.2f}"
        )


def compile_scenario(spec, dtype="float64") -> CompiledScenario:
    """Compile a :class:`~gpu_alvh.spec.ScenarioSpec` (or anything
    :func:`~gpu_alvh.spec.load_scenario` accepts) into arrays."""
    from . import calendar as cal
    from .spec import load_scenario

    spec = load_scenario(spec)
    dt_np = resolve_dtype(dtype)
    spd = int(spec.steps_per_day)
    times = cal.step_times(spec.start, spec.horizon, spd)
    n = spec.horizon * spd
    day = np.concatenate([[0], np.repeat(np.arange(1, spec.horizon + 1), spd)])
    first_step = lambda d: (d - 1) * spd + 1  # noqa: E731 - step index of day d's first step

    model_p = spec.model_p()
    model_q = spec.model_q()
    sigma = np.full(n, model_p.sigma)
    rho = np.full(n, model_p.rho)
    two = model_p.n_factors == 2
    sigma2 = np.full(n, model_p.sigma2 if two else 0.0)
    rho2 = np.full(n, model_p.rho2 if two else 0.0)
    lam = np.full(n, model_p.jump_intensity)
    spx_ret = np.full(n, np.nan)
    vix_lvl = np.full(n, np.nan)
    vix_chg = np.full(n, np.nan)
    for sh in spec.resolved_shocks():
        if sh.kind in ("spx_return", "vix_level", "vix_change"):
            target = {"spx_return": spx_ret, "vix_level": vix_lvl, "vix_change": vix_chg}[sh.kind]
            # price gaps land on the day's first step; VIX moves at the day's last step (its close)
            t = first_step(sh.first_day) if sh.kind == "spx_return" else sh.first_day * spd
            target[t - 1] = sh.value
            continue
        sl = slice(first_step(sh.first_day) - 1, sh.last_day * spd)
        if sh.kind == "vol_of_vol_multiplier":
            sigma[sl] *= sh.value
            sigma2[sl] *= sh.value
        elif sh.kind == "jump_intensity_multiplier":
            lam[sl] *= sh.value
        elif sh.kind == "correlation":
            rho[sl] = sh.value
            if two:
                rho2[sl] = sh.value
        else:  # pragma: no cover - the spec layer rejects unknown kinds
            raise ValueError(f"unknown shock kind {sh.kind!r}")
    regime, pricing_models, regime_models_p = pricing_regimes(spec, model_q, model_p)
    ev_mean = np.full(n, np.nan)
    ev_std = np.full(n, np.nan)
    var_mult = np.ones(n)
    for ev in spec.resolved_events():
        t = cal.step_at(times, ev.day_index, ev.time)
        ev_mean[t - 1] = ev.jump_mean if np.isnan(ev_mean[t - 1]) else ev_mean[t - 1] + ev.jump_mean
        ev_std[t - 1] = ev.jump_std if np.isnan(ev_std[t - 1]) else float(np.hypot(ev_std[t - 1], ev.jump_std))
        if ev.variance_crush:
            var_mult[t - 1] *= 1.0 - ev.variance_crush
        if ev.variance_bump:
            step_up = (1.0 + ev.variance_bump) ** (1.0 / ev.pre_days)
            for d in range(ev.day_index - ev.pre_days, ev.day_index):
                if d >= 1:
                    var_mult[d * spd - 1] *= step_up  # at the close of each of the pre-event days
    return CompiledScenario(
        name=spec.name,
        key=scenario_key(spec.name),
        spec=spec,
        model_p=model_p,
        model_q=model_q,
        scheme=spec.scheme,
        spot=float(spec.spot),
        v0=float(spec.v0()),
        rate=float(spec.rate),
        dividend_yield=float(spec.dividend_yield),
        drift=float(spec.effective_drift()),
        steps_per_day=spd,
        dt=1.0 / (TRADING_DAYS_PER_YEAR * spd),
        times=np.asarray(times, dtype="datetime64[ns]"),
        day=day,
        sigma=sigma,
        rho=rho,
        jump_intensity=lam,
        spx_return=spx_ret,
        vix_level=vix_lvl,
        vix_change=vix_chg,
        event_mean=ev_mean,
        event_std=ev_std,
        var_mult=var_mult,
        regime=regime,
        pricing_models=pricing_models,
        regime_models_p=regime_models_p,
        dtype=dt_np,
        historical=_compile_historical(spec, model_p, model_q),
        v2_0=float(spec.v2_0()),
        sigma2=sigma2,
        rho2=rho2,
    )


def pricing_regimes(spec, model_q, model_p) -> tuple[np.ndarray, tuple, tuple]:
    """``(regime [n_steps+1], Q models, P models)``: the distinct pricing regimes of the steps, base first.

    Regime ``j`` is ``model_q`` (and ``model_p``) changed by key ``j`` of
    :meth:`~gpu_alvh.spec.ScenarioSpec.pricing_keys` (:func:`~gpu_alvh.spec.scenario.regime_model`);
    ``j = 0`` is the unchanged pair.  ``regime[t]``
    indexes the regime that prices the state at the end of step ``t``: that of step ``t + 1``'s day (the
    market prices the dynamics that follow, so a window's first session is priced from the close
    before it and its last close is priced for the session after it), and for the last step its own.
    """
    from .spec.scenario import regime_model

    spd, horizon = int(spec.steps_per_day), int(spec.horizon)
    keys = spec.pricing_keys()
    index = {k: j for j, k in enumerate(keys)}
    day_regime = np.array([index[spec.pricing_key(d)] for d in range(1, horizon + 1)], dtype=np.int64)
    steps = np.arange(horizon * spd + 1)
    regime = day_regime[np.minimum(steps // spd + 1, horizon) - 1]
    return regime, tuple(regime_model(model_q, k) for k in keys), tuple(regime_model(model_p, k) for k in keys)


def _compile_historical(spec, model_p, model_q):
    """Historical replay branch (gpu_alvh.historical); None for model scenarios."""
    if spec.historical is None:
        return None
    from .historical import compile_replay

    return compile_replay(spec, model_p, model_q)

"""Simulated market statistics of a scenario, side by side with the history.

:func:`simulate_market` runs :func:`gpu_alvh.simulate` on the scenario with its horizon set
to ``BURN_IN + 252 * years`` sessions, drops the first :data:`BURN_IN` sessions (the start from
the scenario's VIX is forgotten after a few half-lives), takes the daily closes and computes
:func:`~gpu_alvh.calibration.stats.path_statistics` with every path an independent unit.
VIX9D and VIX3M are the pricing model's ``100 sqrt(a(tau) v + b(tau))`` at ``tau = 9/365`` and
``93/365``; VVIX and the ATM 30-day VIX-option implied vol come from the pricing layer
(:func:`~gpu_alvh.calibration.moments.vvix_curve`) on 24 variance nodes, interpolated linearly
in ``v`` for every day; for a two-factor model VIX9D / VIX3M take ``+ a2(tau) v2`` and VVIX comes from
the Laplace transform of VIX^2 (:func:`gpu_alvh.pricing.vix_laplace.vvix`) on 24 x 12 nodes of
``(v, v2)``, interpolated bilinearly, and the ATM VIX-option vol from its Bromwich inversion on 8 x 4 nodes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..compile import TRADING_DAYS_PER_YEAR, compile_scenario
from ..errors import SpecError, SpecIssue
from ..paths import simulate
from ..spec import apply_overrides, load_scenario
from scipy.interpolate import RegularGridInterpolator

from ..pricing.black import implied_vol
from ..pricing.vix_laplace import vix_calls, vix_future
from ..pricing.vix_laplace import vvix as vvix_laplace
from .moments import TENORS, vvix_curve
from .stats import STATISTICS, MarketStats, path_statistics

__all__ = ["BURN_IN", "MAX_HORIZON", "simulate_market", "Comparison", "compare"]

#: Sessions simulated and discarded before the statistics start.
BURN_IN = 126
#: Longest scenario horizon (sessions), from the scenario schema.
MAX_HORIZON = 2520


def simulate_market(scenario, *, n_paths: int, years: float, seed=None, backend="auto", progress: bool = False,
                    n_boot: int = 500, atm: bool = True) -> MarketStats:
    """Statistics of ``n_paths`` simulated paths of ``years`` x 252 sessions (after the burn-in);
    ``n_boot`` bootstrap replicates over paths give the standard errors; ``atm=False`` skips the ATM
    VIX-option vol of a two-factor model (seconds; the fits do not use it).

    ``extra`` of the result holds ``atm_iv_p50`` (median model ATM 30-day VIX-option vol, points).
    """
    spec = load_scenario(scenario)
    sessions = int(round(TRADING_DAYS_PER_YEAR * years))
    longest = (MAX_HORIZON - BURN_IN) / TRADING_DAYS_PER_YEAR
    if sessions < 2 * 252 or BURN_IN + sessions > MAX_HORIZON:
        raise SpecError("--years", SpecIssue("--years", years, f"allowed: 2 to {longest:.2f} years ({BURN_IN} burn-in sessions + the years must fit a {MAX_HORIZON}-session horizon)"))
    spec = apply_overrides(spec, {"horizon": BURN_IN + sessions}, source=f"{spec.name} (check)")
    compiled = compile_scenario(spec)
    ds = simulate(compiled, n_paths=n_paths, seed=seed, backend=backend, progress=progress)
    spd = int(spec.steps_per_day)
    closes = slice(BURN_IN * spd, None, spd)  # last step of each day after the burn-in
    spx = np.asarray(ds["spx"])[:, closes]
    v = np.asarray(ds["variance"])[:, closes]
    vix = np.asarray(ds["vix"])[:, closes]
    two = compiled.n_factors == 2
    v2 = np.asarray(ds["slow_variance"])[:, closes] if two else np.zeros_like(v)
    # VIX9D, VIX3M and VVIX through the pricing model of each close (a priced window regime has its own)
    on_regime = np.broadcast_to(compiled.regime[closes], v.shape)
    nodes = np.unique(np.quantile(v, np.linspace(0.0, 1.0, 24)))
    nodes2 = np.unique(np.quantile(v2, np.linspace(0.0, 1.0, 12))) if two else None
    vix9d, vix3m, vvix, atm_v = (np.empty_like(v) for _ in range(4))
    for j, m in enumerate(compiled.pricing_models):
        on = on_regime == j
        if not on.any():
            continue
        vix9d[on] = m.vix_from_state(v[on], v2[on], tau=TENORS["9"])
        vix3m[on] = m.vix_from_state(v[on], v2[on], tau=TENORS["93"])
        if two:  # VVIX from the Laplace transform of VIX^2 on a (v, v2) grid, bilinear; ATM vol on a coarser one
            pts = np.stack([v[on], v2[on]], axis=-1)
            grid = vvix_laplace(m, np.repeat(nodes, nodes2.size), np.tile(nodes2, nodes.size)).reshape(nodes.size, nodes2.size)
            vvix[on] = RegularGridInterpolator((nodes, nodes2), grid)(pts)
            atm_v[on] = np.nan
            if atm:
                coarse = (np.unique(np.quantile(v, np.linspace(0.0, 1.0, 8))), np.unique(np.quantile(v2, np.linspace(0.0, 1.0, 4))))
                grid = np.array([[_atm_vol(m, a_, b_, spec.rate) for b_ in coarse[1]] for a_ in coarse[0]])
                atm_v[on] = RegularGridInterpolator(coarse, grid)(pts)
        else:
            vv, atm = vvix_curve(m, nodes, rate=spec.rate)
            vvix[on], atm_v[on] = np.interp(v[on], nodes, vv), np.interp(v[on], nodes, atm)
    label = f"{spec.name}: {n_paths} paths x {sessions} sessions after {BURN_IN} burn-in, seed {ds.attrs['seed']}"
    out = path_statistics(spx, vix, vix9d, vix3m, vvix, window=label, n_boot=n_boot)
    out.extra["atm_iv_p50"] = float(np.median(atm_v))
    return out


def _atm_vol(q, v: float, v2: float, rate: float, tau: float = TENORS["30"]) -> float:
    """Black-76 implied vol (points) of the 30-day VIX call struck at its future, two-factor model
    (:func:`gpu_alvh.pricing.vix_laplace.vix_calls`)."""
    F = float(vix_future(q, tau, [v], [v2])[0])
    disc = math.exp(-rate * tau)
    return 100.0 * float(implied_vol(disc * vix_calls(q, tau, v, v2, [F])[0], F, F, tau, discount=disc, backend="numpy"))


class Comparison(NamedTuple):
    """One statistic of a model next to the history: ``z = (model - history) / sqrt(se_m^2 + se_h^2)``."""

    key: str
    label: str
    unit: str
    history: float
    history_se: float
    model: float
    model_se: float
    z: float


def compare(model: MarketStats, history: MarketStats) -> list[Comparison]:
    """Rows for the statistics both sides have, in :data:`STATISTICS` order."""
    rows = []
    for key, st in STATISTICS.items():
        if key in model and key in history:
            m, h = model[key], history[key]
            se = math.hypot(m.se if math.isfinite(m.se) else 0.0, h.se if math.isfinite(h.se) else 0.0)
            z = (m.value - h.value) / se if se > 0 else math.nan
            rows.append(Comparison(key, st.label, st.unit, h.value, h.se, m.value, m.se, z))
    return rows

"""Historical replay: the real episode as the central path, with Monte Carlo dispersion around it.

A scenario with a ``historical:`` section (:mod:`gpu_alvh.spec.historical`) replays
real daily closes.  Day ``k = 0..N`` is the ``k``-th session of the range; its
real SPX close is ``S^h_k`` and its implied-vol close (VIX, or VXO before 1990)
is ``VIX^h_k``.  The central path is

.. code-block:: text

    x^h_k = ln(S^h_k / S^h_0),     v^h_k = max(((VIX^h_k / 100)^2 - b) / a, 0)

with ``VIX^2 = a v + b`` the **pricing** model's VIX formula (SPEC section 3), so
that option and VIX-derivative marks on the central path are the model's prices
at the real VIX.  A close below the model's VIX floor ``100 sqrt(b)`` (the
model's lowest VIX, at ``v = 0``) gives ``v^h = 0``: the marks that day are the
model's at its floor, not at the real close (the days and the floor are in the
provenance and the ``alvh run`` summary; :func:`provenance`).

Each step ``t`` of day ``k`` (``j = 1..m`` with ``m = steps_per_day``,
``dt = 1 / (252 m)``) moves a path's state ``(x, v)`` and two deviation
scalars ``(e, w)`` (log price and variance away from the real path; both start
at 0) by :func:`replay_step`:

.. code-block:: text

    vbar  = (v^h_{k-1} + v^h_k) / 2                      historical variance rate of day k
    v^h(t) = (1 - j/m) v^h_{k-1} + (j/m) v^h_k           anchor, linear inside the day (exact at closes)
    n     = m - j + 1                                    steps left to the close, this one included
    y     = x - e                                        the path's historical component
    y'    = x^h_k                                          if n = 1 (the close)
          = y + (x^h_k - y)/n + sqrt(vbar dt (1 - 1/n)) z_b   otherwise (Brownian bridge to the close)
    s     = d sqrt(vbar dt)                              d = historical.dispersion
    w'    = w e^{-kappa dt} + sigma s z_v
    e'    = e + s (rho z_v + sqrt(1 - rho^2) z_s)
    x'    = y' + e',    v' = F(v^h(t), w')

    F(vh, w) = vh + w              w >= 0
             = vh exp(w / vh)      w < 0, vh > 0
             = 0                   w < 0, vh = 0

``kappa, sigma, rho`` are the scenario's physical (P) parameters.

**Why these dynamics.**  Let the paths follow the model's variance diffusion
``dv = kappa (theta - v) dt + d sigma sqrt(v) dW`` (the real path supplying the
rest of the drift and the jumps: the episode's jumps are the real ones, none is
added).  Around the real path, ``v = v^h + delta`` with ``delta = O(d)``, and to
first order in ``d``: ``d delta = -kappa delta dt + d sigma sqrt(v^h) dW``, the
Ornstein-Uhlenbeck recursion of ``w`` above (the model's CIR noise at the real
variance, pulled back at the model's speed ``kappa``, correlated with the price
noise by ``rho``).  ``F`` turns the deviation into a positive variance without a
floor: it is C^1 at ``w = 0`` (``F = v^h``, ``dF/dw = 1``), so
``v = v^h + w + O(w^2)`` and the local dynamics are the model's to first order;
above the real path ``F`` is the tangent itself; below it,
``ln(v / v^h) = w / v^h`` is a log-variance deviation (step sd
``d sigma sqrt(dt / v^h)`` to first order, CIR's relative noise), which never
reaches 0 where ``v^h > 0``.  Where ``v^h = 0`` (real closes below the model's
VIX floor) the paths below the real one are at the model's lowest variance
(``F``'s limit), the paths above it at ``w``.  The deviation is transported
additively (``w``), not multiplicatively: a log-variance state
``v = v^h exp(omega)`` would carry a deviation gathered on a calm day (relative
variance noise ``sigma / sqrt(v^h)``: 23 per sqrt(year) at the VIX 12 of
2024-07-02) over to the spike, where SVCJ's variance jumps and mean reversion
act additively (yen_2024 at ``d = 0.5``: the 5-95% band of ``v`` on 2024-08-05
would be ``[0.021, 0.94]``, VIX 18.5 to 95.3, instead of ``[0.127, 0.157]``,
VIX 36.7 to 40.5; the real close was 38.57).

**Laws** (``d > 0``; at the close of day ``k``, whatever ``m`` for ``e``):

* ``e_k ~ N(0, d^2 sum_{i<=k} vbar_i / 252)`` exactly, so the median SPX path is
  the real path and the quantile bands are ``S^h_k exp(d z_q sqrt(sum vbar_i / 252))``;
* ``w`` is Gaussian, centred, ``Var w' = e^{-2 kappa dt} Var w + sigma^2 s^2``,
  ``Cov(e', w') = e^{-kappa dt} Cov(e, w) + rho sigma s^2`` (leverage);
* ``F`` is increasing in ``w``: the ``q``-quantile of ``v_k`` is
  ``F(v^h_k, z_q sqrt(Var w_k))``, so the **median** variance path is the real
  one, exactly (no centring constant is needed); the mean is above it,
  ``E v = v^h/2 + sqrt(W/(2 pi)) + v^h e^{W/(2 v^h^2)} Phi(-sqrt(W)/v^h)`` with
  ``W = Var w`` (``v^h/2 + sqrt(W/(2 pi))`` at ``v^h = 0``);
* ``e`` and ``w`` are linear in ``d`` (bit for bit when the ratio is a power of
  2), and ``|v - v^h|`` increases with ``d`` on every path.

``d = 0``: ``e = w = 0``; every path hits every real close exactly (SPX to
rounding; the model VIX is the real close wherever it is above the floor, the
floor below it).  Intraday steps (``m > 1``) are a Brownian bridge of the log
price between the real closes with the day's historical variance, always random
(nothing is known about the real intraday path), and the variance is
interpolated.

Random numbers, keyed ``(seed, scenario, path, step)`` as everywhere
(:mod:`gpu_alvh.rng`): ``(z_v, z_s)`` = the two normals of ``Block.BRIDGE``
(drawn only when ``d > 0``), ``z_b`` = the first normal of ``Block.DIFFUSION``
(the model diffusion does not run in a replay; drawn only on steps before a
day's close).  Paths do not depend on the batching.

:func:`replay_step` is the per-path scalar form (plain ``math``: no allocation,
no exception), compiled into the fused market kernel
(:func:`gpu_alvh.kernels.market.replay_move`); :func:`replay_step_xp` is the same
arithmetic on arrays, used by :class:`gpu_alvh.paths.PathStepper`, the kernel's
reference (``tests/test_historical_kernel.py``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

__all__ = [
    "replay_step",
    "replay_step_xp",
    "ReplayPath",
    "compile_replay",
    "real_series",
    "below_floor",
    "provenance",
    "worst_real_day",
    "floor_note",
    "central_path",
    "central_path_lines",
]


# --------------------------------------------------------------------------- the step
def replay_step(x, e, w, x_close, v_anchor, v_day, n_left, dispersion, kappa, sigma, rho, dt, z_b, z_v, z_s):
    """One replay step of one path (module docstring); returns ``(x', v', e', w')``.

    Parameters (floats; ``n_left`` an integer >= 1)
    ----------
    x, e, w : path state: ``ln(S/S_0)``, log-price deviation, variance deviation ``w`` (decimal; the
        variance is ``F(v^h, w)``, not ``v^h + w``)
    x_close : ``x^h_k``, real log close of the step's day
    v_anchor : ``v^h(t)``, historical variance at the end of the step (>= 0)
    v_day : ``vbar``, historical variance rate of the day
    n_left : steps left to the day's close, this one included (1 = the close)
    dispersion : ``d >= 0``
    kappa, sigma, rho : physical model parameters
    dt : years of trading time per step
    z_b, z_v, z_s : standard normals (bridge, variance, price)
    """
    y = x - e
    if n_left > 1:
        inv = 1.0 / n_left
        y = y + (x_close - y) * inv + math.sqrt(v_day * dt * (1.0 - inv)) * z_b
    else:
        y = x_close
    s = dispersion * math.sqrt(v_day * dt)
    w = w * math.exp(-kappa * dt) + (sigma * s) * z_v
    e = e + s * (rho * z_v + math.sqrt(1.0 - rho * rho) * z_s)
    if w >= 0.0:  # F(v^h, w): the tangent above the real path, the log-variance deviation below it
        v = v_anchor + w
    elif v_anchor > 0.0:
        v = v_anchor * math.exp(w / v_anchor)
    else:  # the limit of v^h e^{w/v^h} at v^h = 0 (a close below the model's VIX floor)
        v = 0.0
    return y + e, v, e, w


def replay_step_xp(x, e, w, x_close, v_anchor, v_day, n_left, dispersion, kappa, sigma, rho, dt, z_b, z_v, z_s, xp):
    """:func:`replay_step` on arrays: ``x, e, w`` and the normals ``[paths]`` (normals may be 0.0 when unused);
    the historical values and constants are host floats.  Same operations in the same order (``F`` is
    evaluated on both branches and selected; ``w / v^h`` with ``w`` clipped at 0 above the real path)."""
    y = x - e
    if n_left > 1:
        inv = 1.0 / n_left
        y = y + (x_close - y) * inv + math.sqrt(v_day * dt * (1.0 - inv)) * z_b
    else:
        y = x_close
    s = dispersion * math.sqrt(v_day * dt)
    w = w * math.exp(-kappa * dt) + (sigma * s) * z_v
    e = e + s * (rho * z_v + math.sqrt(1.0 - rho * rho) * z_s)
    below = v_anchor * xp.exp(xp.minimum(w, 0.0) / v_anchor) if v_anchor > 0.0 else xp.zeros_like(w)
    return y + e, xp.where(w >= 0.0, v_anchor + w, below), e, w


# --------------------------------------------------------------------------- compiled replay
@dataclass(frozen=True, eq=False)
class ReplayPath:
    """The compiled replay of a scenario (host float64 arrays).

    Daily ``[N+1]``: ``dates``, ``spx`` and ``vol`` (real closes), ``variance`` (``v^h``), ``below_floor``
    (real close below the model's VIX floor ``vix_floor``: ``v^h = 0``).  Per step ``[n_steps]`` (index ``t-1``): ``x_close``, ``v_anchor``,
    ``v_day``, ``n_left`` (see the module docstring).  Constants: ``dispersion``, P ``kappa, sigma, rho``.
    """

    episode: Optional[str]
    dates: tuple
    spx: np.ndarray
    vol: np.ndarray
    vol_series: str
    sources: dict
    variance: np.ndarray
    below_floor: np.ndarray
    vix_floor: float
    x_close: np.ndarray
    v_anchor: np.ndarray
    v_day: np.ndarray
    n_left: np.ndarray
    dispersion: float
    kappa: float
    sigma: float
    rho: float


def compile_replay(spec, model_p, model_q) -> ReplayPath:
    """Per-step historical values of a validated historical scenario ``spec``."""
    h = spec.historical
    win = h.window()
    m = int(spec.steps_per_day)
    vh = np.asarray(model_q.variance_from_vix(win.vol), dtype=np.float64)
    xh = np.log(win.spx / win.spx[0])
    k = np.repeat(np.arange(1, win.horizon + 1), m)
    f = np.tile(np.arange(1, m + 1), win.horizon) / m
    return ReplayPath(
        episode=h.episode,
        dates=win.dates,
        spx=win.spx,
        vol=win.vol,
        vol_series=win.vol_series,
        sources=dict(win.sources),
        variance=vh,
        below_floor=below_floor(win.vol, model_q.vix_floor()),
        vix_floor=float(model_q.vix_floor()),
        x_close=xh[k],
        v_anchor=(1.0 - f) * vh[k - 1] + f * vh[k],  # = v^h_k exactly at the close (f = 1)
        v_day=0.5 * (vh[k - 1] + vh[k]),
        n_left=(m - np.tile(np.arange(1, m + 1), win.horizon) + 1).astype(np.int64),
        dispersion=float(h.dispersion),
        kappa=float(model_p.kappa),
        sigma=float(model_p.sigma),
        rho=float(model_p.rho),
    )


# --------------------------------------------------------------------------- results
def below_floor(vol, floor: float) -> np.ndarray:
    """``[N+1]`` bool: real implied-vol closes below the model's VIX floor (points), marked at the floor (``v^h = 0``)."""
    return np.asarray(vol, dtype=np.float64) < floor


def real_series(compiled, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Real SPX and implied-vol closes ``[n_days + 1]`` of a compiled scenario (NaN when not historical)."""
    r = getattr(compiled, "historical", None)
    if r is None:
        return np.full(n_days + 1, np.nan), np.full(n_days + 1, np.nan)
    return r.spx.astype(np.float64), r.vol.astype(np.float64)


def worst_real_day(spx) -> int:
    """Day ``k >= 1`` with the lowest real SPX close-to-close return."""
    spx = np.asarray(spx, dtype=np.float64)
    return int(np.argmin(spx[1:] / spx[:-1])) + 1


def provenance(spec) -> Optional[dict[str, Any]]:
    """JSON-safe record of a scenario's episode (dates, data sources, implied-vol series, floor hits); None if not historical."""
    h = spec.historical
    if h is None:
        return None
    from .spec.historical import EPISODES

    win = h.window()
    q = spec.model_q()
    floor = float(q.vix_floor())
    floored = [d.isoformat() for d, below in zip(win.dates, below_floor(win.vol, floor)) if below]
    k = worst_real_day(win.spx)
    return {
        "episode": h.episode,
        "title": EPISODES[h.episode].title if h.episode else "",
        "from": h.first_date.isoformat(),
        "to": h.last_date.isoformat(),
        "first_session": win.dates[0].isoformat(),
        "last_session": win.dates[-1].isoformat(),
        "sessions": len(win.dates),
        "dispersion": float(h.dispersion),
        "implied_vol": win.vol_series,
        "sources": dict(win.sources),
        "model_vix_floor": floor,
        "closes_below_floor": len(floored),
        "dates_below_floor": floored,
        "worst_day": {"date": win.dates[k].isoformat(), "spx_return": float(win.spx[k] / win.spx[k - 1] - 1.0),
                      "spx": [float(win.spx[k - 1]), float(win.spx[k])], "vol": [float(win.vol[k - 1]), float(win.vol[k])]},
    }


def floor_note(p: dict) -> str:
    """The model VIX floor and the real closes below it, from a :func:`provenance` record (one phrase)."""
    n, dates = p["closes_below_floor"], p["dates_below_floor"]
    if not n:
        return f"model VIX floor {p['model_vix_floor']:.2f} (no close below it)"
    span = dates[0] if n == 1 else f"{dates[0]} .. {dates[-1]}"
    return (f"model VIX floor {p['model_vix_floor']:.2f}: {n} {p['implied_vol']} close{'s' if n > 1 else ''} below it ({span}), "
            f"marked at the floor (variance 0)")


def central_path(spec, *, strategy=None, backend="numpy", dtype="float64", seed: int | None = None) -> dict[str, Any]:
    """The book on the central path: one path of ``spec`` with ``dispersion`` forced to 0.

    Returns ``{"provenance", "day", "strategies", "day_pnl", "max_drawdown", "final_pnl"}``: per
    strategy (USD, fraction) the NAV change on the worst real day (close to close), the max drawdown
    and the final P&L.  With ``steps_per_day > 1`` the intraday bridge is path 0's.
    """
    from .results import scenario_dataset
    from .runner import run_scenario

    spec0 = spec.with_overrides({"historical.dispersion": 0.0}) if spec.historical.dispersion else spec
    out = run_scenario(spec0, n_paths=1, seed=seed, backend=backend, dtype=dtype, save_paths=True, strategy=strategy, batch_size=1)
    ds = scenario_dataset(out)
    k = worst_real_day(spec.historical.window().spx)
    nav = ds["nav_path"].isel(path=0).values  # [strategy, day]
    return {
        "provenance": provenance(spec),
        "day": k,
        "strategies": [str(s) for s in ds["strategy"].values],
        "day_pnl": nav[:, k] - nav[:, k - 1],
        "max_drawdown": ds["max_drawdown"].isel(path=0).values,
        "final_pnl": ds["final_pnl"].isel(path=0).values,
    }


def central_path_lines(ds, name: str, *, backend="numpy") -> list[str]:
    """Summary lines of a run dataset's historical scenario ``name`` (empty when it is not historical):
    the episode, its worst real day and what each strategy lost on it on the central path."""
    from .spec import load_strategy
    from .spec.scenario import scenario_from_dict

    spec_data = json.loads(ds.attrs["spec_json"])[name]
    if "historical" not in spec_data:
        return []
    spec = scenario_from_dict(spec_data, source=f"scenario {name}")
    strat = json.loads(ds.attrs.get("strategy_json", "{}")).get(name)
    res = central_path(spec, strategy=load_strategy(strat) if strat else None, backend=backend, dtype=ds.attrs.get("dtype", "float64"),
                       seed=int(ds.attrs["seed"]))
    p = res["provenance"]
    wd = p["worst_day"]
    lines = [
        f"historical episode {p['episode'] or name}: {p['first_session']} .. {p['last_session']} ({p['sessions']} sessions), "
        f"{p['implied_vol']} closes, dispersion {p['dispersion']:g}; {floor_note(p)}",
        f"worst real day {wd['date']}: SPX {wd['spx_return']:+.2%} ({wd['spx'][0]:.2f} -> {wd['spx'][1]:.2f}), "
        f"{p['implied_vol']} {wd['vol'][0]:.2f} -> {wd['vol'][1]:.2f}; central path (dispersion 0):",
        f"  {'strategy':16s}{'P&L that day $':>17s}{'max drawdown':>15s}{'final P&L $':>15s}",
    ]
    for i, s in enumerate(res["strategies"]):
        lines.append(f"  {s:16s}{res['day_pnl'][i]:>17,.0f}{res['max_drawdown'][i]:>15.1%}{res['final_pnl'][i]:>15,.0f}")
    return lines

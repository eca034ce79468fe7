"""Compile strategy specs into the arrays the engine runs on.

Several strategy rows (ALVH, its baselines, and sweep variants) run in one time
loop on the same paths.  Their ladder layers are flattened into **slots**:
slot ``k`` is layer ``layer_of[k]`` of strategy ``strategy_of[k]``; slots of a
strategy are contiguous and ordered by DTE, so "the next layer" of slot ``k``
is slot ``k+1`` when it belongs to the same strategy.  Hedge layers are
flattened the same way into **hedge slots** (only for rows whose overlay is on).
Per-slot parameters become columns ``[slots, 1]`` that broadcast over paths;
per-strategy parameters become ``[strategies, 1]``.

Rows may differ in any numeric parameter; hedge layers of different rows that
share a position in the list must use the same instrument and condition shape
(the sweep driver groups other rows into separate runs).

Calendar tables, built once on the host (days are calendar days since the
scenario's start close):

* ``now_days[t]`` - time of step ``t``;
* ``spx_expiry_v[t, j]`` / ``vix_expiry_v_for(range)[t]`` - the same expiries in variance time (years
  of trading sessions since the start close: an SPX expiry at a session's close is ``sessions / 252``, a
  VIX expiry at the 09:30 open counts the sessions before it), the clock of every price (SPEC section 3);
* ``spx_expiry[t, j]`` - expiry (16:00, or the early close) of a new SPX
  position opened at step ``t`` with DTE ``dtes[j]``: the session nearest
  ``date(t) + DTE``, the later one on a tie (SPX has daily expiries);
* ``vix_expiry_for(range)[t]`` - the listed VIX expiry (09:30 AM settlement)
  whose DTE at step ``t`` is inside ``[lo, hi]`` and nearest to the middle (the
  nearest DTE outside the range when none is inside);
* ``days_to_event[t]`` - trading days to the next event day (999 if none);
  ``event_day[t]`` - the step falls on an event day;
* ``growth[t]`` - cash growth ``exp(r * calendar days / 365)`` over step ``t``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from .. import calendar as cal
from ..compile import CompiledScenario
from ..spec.strategy import StrategySpec
from .instruments import SPX_STRIKE_GRID
from .signals import compile_condition

__all__ = ["StrategyRow", "Book", "compile_book", "baseline_rows"]

DAY_NS = 86_400 * 10**9
TRADING_DAYS = 252.0
NO_EVENT = 999.0


@dataclass(frozen=True)
class StrategyRow:
    """One strategy of a run: a label (``strategy`` coordinate) and its spec."""

    label: str
    spec: StrategySpec


def baseline_rows(spec: StrategySpec, label: str = "alvh") -> list[StrategyRow]:
    """ALVH plus the baselines its spec asks for, on the same paths (common random numbers).

    * ``ladder_unhedged``: the same ladder, overlay off;
    * ``single_45``: one 45-DTE iron condor managed by the same rules, overlay off.
    """
    rows = [StrategyRow(label, spec)]
    off = spec.hedge.model_copy(update={"enabled": False})
    if "ladder_unhedged" in spec.baselines:
        rows.append(StrategyRow("ladder_unhedged", spec.model_copy(update={"hedge": off})))
    if "single_45" in spec.baselines:
        exit45 = None
        if spec.time_exit_dte is not None and 45 in spec.layers:
            exit45 = (spec.time_exit_dte[spec.layers.index(45)],)
        rows.append(StrategyRow("single_45", spec.model_copy(update={"hedge": off, "layers": (45,), "time_exit_dte": exit45})))
    return rows


@dataclass(eq=False)
class Book:
    """Compiled structure and parameters (host NumPy; the engine moves them to the device)."""

    rows: list[StrategyRow]
    labels: list[str]
    layer_dtes: list[int]  # union of ladder DTEs (the ``layer`` coordinate)
    # ladder slots
    slot_strategy: np.ndarray  # [K] int
    slot_layer: np.ndarray  # [K] index into layer_dtes
    slot_dte: np.ndarray  # [K] float
    slot_front: np.ndarray  # [K] bool: lowest-DTE layer of its strategy
    slot_params: dict[str, np.ndarray]  # name -> [K]
    strat_params: dict[str, np.ndarray]  # name -> [S]
    # hedge slots
    hedge_strategy: np.ndarray  # [J]
    hedge_index: np.ndarray  # [J] position in the hedge layer list
    hedge_instrument: list[str]  # [J]
    hedge_params: dict[str, np.ndarray]  # name -> [J]
    hedge_conditions: list  # [H] compiled conditions (values [J_h] arrays)
    hedge_names: list[str]  # [H]
    # calendar tables
    now_days: np.ndarray
    spx_expiry: np.ndarray  # [n_steps+1, n_dtes]
    dte_index: np.ndarray  # [K] column of spx_expiry
    spx_expiry_v: np.ndarray = None  # type: ignore[assignment]  # [n_steps+1, n_dtes], variance years
    vix_expiry_v: dict = field(default_factory=dict)  # range -> [n_steps+1] variance years
    next_close: np.ndarray = None  # type: ignore[assignment]  # [n_steps+1] calendar days of the next day close
    vix_expiry_tables: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    days_to_event: np.ndarray = None  # type: ignore[assignment]
    event_day: np.ndarray = None  # type: ignore[assignment]
    event_kind_day: dict[str, np.ndarray] = field(default_factory=dict)
    growth: np.ndarray = None  # type: ignore[assignment]
    end_of_day: np.ndarray = None  # type: ignore[assignment]

    @property
    def n_strategies(self) -> int:
        return len(self.rows)

    @property
    def n_slots(self) -> int:
        return int(self.slot_strategy.size)

    @property
    def n_hedge_slots(self) -> int:
        return int(self.hedge_strategy.size)

    def hedge_slots_of(self, h: int) -> np.ndarray:
        return np.flatnonzero(self.hedge_index == h)


def _days_since(times: np.ndarray, t0: np.datetime64) -> np.ndarray:
    return (times - t0).astype("timedelta64[ns]").astype(np.int64) / DAY_NS


def _spx_expiry_days(date: _dt.date, dte: int, t0: np.datetime64, start: _dt.date | None = None):
    """Expiry of a new DTE-``dte`` position: the session nearest ``date + dte`` (ties: the later one).

    Returns its close in calendar days since ``t0``, and (with ``start``) in variance years since the
    start close (``sessions / 252``)."""
    target = date + _dt.timedelta(days=int(dte))
    if cal.is_session(target):
        d = target
    else:
        before, after = cal.previous_session(target), cal.next_session(target)
        d = before if (target - before) < (after - target) else after
        if d <= date:
            d = after
    close = cal.session_bounds(d)[1]
    days = float((np.datetime64(close, "ns") - t0) / np.timedelta64(1, "D"))
    if start is None:
        return days
    return days, cal.session_index(start, d) / TRADING_DAYS


def _vix_expiry_table(dates: list[_dt.date], now_days: np.ndarray, t0: np.datetime64, lo: int, hi: int):
    """``(calendar days, variance years)`` of the new-position VIX expiry at every step (see module doc)."""
    first, last = dates[0], dates[-1] + _dt.timedelta(days=hi + 60)
    exps = [e for e in cal.vix_expiries(first, last) if e > dates[0]]
    exp_days = np.array([float((np.datetime64(f"{e.isoformat()}T09:30", "ns") - t0) / np.timedelta64(1, "D")) for e in exps])
    exp_v = np.array([(cal.session_index(dates[0], e) - 1) / TRADING_DAYS for e in exps])
    mid = 0.5 * (lo + hi)
    out = np.empty(now_days.size)
    out_v = np.empty(now_days.size)
    for t, now in enumerate(now_days):
        dte = exp_days - now
        inside = (dte >= lo) & (dte <= hi)
        if inside.any():
            cand = np.where(inside, np.abs(dte - mid), np.inf)
        else:
            cand = np.where(dte > 0.5, np.minimum(np.abs(dte - lo), np.abs(dte - hi)), np.inf)
        j = int(np.argmin(cand))
        out[t] = exp_days[j]
        out_v[t] = exp_v[j]
    return out, out_v


def compile_book(rows: list[StrategyRow], compiled: CompiledScenario) -> Book:
    """Slots, parameters and calendar tables for ``rows`` on the scenario ``compiled``."""
    if not rows:
        raise ValueError("at least one strategy row is needed")
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        raise ValueError(f"strategy labels must be unique: {labels}")
    layer_dtes = sorted({int(d) for r in rows for d in r.spec.layers})
    # ------------------------------------------------------------------ ladder slots
    s_of, l_of, dte_of, front = [], [], [], []
    sp: dict[str, list] = {k: [] for k in ("short_delta", "wing_width", "wing_delta", "use_wing_delta", "max_loss_pct", "profit_target", "stop_multiple", "exit_dte", "cascade_fraction", "cascade_depth", "cascade_on")}
    for s, r in enumerate(rows):
        spec = r.spec
        exits = spec.exit_dtes()
        for j, dte in enumerate(spec.layers):
            s_of.append(s)
            l_of.append(layer_dtes.index(int(dte)))
            dte_of.append(float(dte))
            front.append(j == 0)
            sp["short_delta"].append(spec.short_delta)
            width = spec.wing_width if spec.wing_width is not None else SPX_STRIKE_GRID
            sp["wing_width"].append(max(SPX_STRIKE_GRID, round(width / SPX_STRIKE_GRID) * SPX_STRIKE_GRID))
            sp["wing_delta"].append(spec.wing_delta if spec.wing_delta is not None else 0.0)
            sp["use_wing_delta"].append(spec.wing_delta is not None)
            sp["max_loss_pct"].append(spec.max_loss_pct)
            sp["profit_target"].append(spec.profit_target)
            sp["stop_multiple"].append(spec.stop_multiple)
            sp["exit_dte"].append(exits[j])
            sp["cascade_fraction"].append(spec.cascade.fraction)
            sp["cascade_depth"].append(spec.cascade.depth)
            sp["cascade_on"].append(spec.cascade.enabled)
    slot_params = {k: np.asarray(v, dtype=bool if k in ("use_wing_delta", "cascade_on") else float) for k, v in sp.items()}
    stp: dict[str, list] = {k: [] for k in ("nav", "hedge_on", "budget_rate", "budget_lead", "target_fraction", "probe_spx", "probe_vix",
                                             "ramp_sd", "ramp_dist_gain", "ramp_dte_gain", "ramp_max", "band", "time_shift_dte",
                                             "underhedge", "event_window", "mon_multiple", "mon_vix", "mon_fraction", "contango",
                                             "spx_comm", "spx_hs_pts", "spx_hs_pct", "vix_comm", "vix_hs_pts", "vix_hs_pct",
                                             "fut_comm", "fut_hs_pts", "fut_hs_pct")}
    for r in rows:
        spec, h, c = r.spec, r.spec.hedge, r.spec.costs
        vals = [spec.nav, h.enabled and bool(h.layers), h.budget_pct / 100.0 * spec.nav, h.budget_lead_years, h.target_fraction,
                h.probe.spx_return, h.probe.vix_change, h.ramp.distance_sd, h.ramp.distance_gain, h.ramp.dte_gain, h.ramp.max_fraction,
                h.rebalance_band, h.time_shift_dte, h.event_underhedge, float(h.event_window_days), h.monetize.value_multiple,
                h.monetize.vix_above, h.monetize.fraction, h.contango_threshold,
                c.spx.commission, c.spx.half_spread_points, c.spx.half_spread_pct, c.vix.commission, c.vix.half_spread_points,
                c.vix.half_spread_pct, c.vix_future.commission, c.vix_future.half_spread_points, c.vix_future.half_spread_pct]
        for k, v in zip(stp, vals):
            stp[k].append(v)
    strat_params = {k: np.asarray(v, dtype=bool if k == "hedge_on" else float) for k, v in stp.items()}
    # ------------------------------------------------------------------ hedge slots
    hedged = [s for s, r in enumerate(rows) if r.spec.hedge.enabled and r.spec.hedge.layers]
    H = max((len(rows[s].spec.hedge.layers) for s in hedged), default=0)
    h_s, h_i, h_inst = [], [], []
    hp: dict[str, list] = {k: [] for k in ("weight", "offset", "width", "tenor_lo", "tenor_hi", "auto", "underhedge_flag")}
    names: list[str] = []
    for h in range(H):
        ref = None
        for s in hedged:
            layers = rows[s].spec.hedge.layers
            if h >= len(layers):
                continue
            lay = layers[h]
            if ref is None:
                ref = lay
                names.append(lay.name)
            elif lay.instrument != ref.instrument or _shape(lay.when) != _shape(ref.when):
                raise ValueError(f"hedge layer {h} differs in instrument or condition shape between strategies; run them separately")
            h_s.append(s)
            h_i.append(h)
            h_inst.append(lay.instrument)
            hp["weight"].append(lay.weight)
            hp["offset"].append(lay.strike_offset)
            hp["width"].append(lay.width)
            auto = lay.tenor == "auto"
            lo, hi = (0, 0) if auto else lay.tenor
            hp["tenor_lo"].append(lo)
            hp["tenor_hi"].append(hi)
            hp["auto"].append(auto)
            hp["underhedge_flag"].append(lay.event_underhedge)
    hedge_params = {k: np.asarray(v, dtype=bool if k in ("auto", "underhedge_flag") else float) for k, v in hp.items()}
    h_s_arr, h_i_arr = np.asarray(h_s, dtype=np.int64), np.asarray(h_i, dtype=np.int64)
    conditions = []
    for h in range(H):
        members = np.flatnonzero(h_i_arr == h)
        specs = [rows[h_s[j]].spec.hedge.layers[h].when for j in members]
        conditions.append(_compile_vector_condition(specs))
    # ------------------------------------------------------------------ calendar tables
    times = compiled.times
    t0 = times[0]
    now_days = _days_since(times, t0)
    dates = [_dt.date.fromisoformat(str(t)[:10]) for t in times.astype("datetime64[D]")]
    uniq_dtes = sorted(set(dte_of))
    both = np.array([[_spx_expiry_days(d, int(dte), t0, dates[0]) for dte in uniq_dtes] for d in dates])  # [T+1, n_dtes, 2]
    spx_expiry, spx_expiry_v = both[..., 0], both[..., 1]
    dte_index = np.asarray([uniq_dtes.index(d) for d in dte_of], dtype=np.int64)
    ranges = set()
    for s in hedged:
        spec_h = rows[s].spec.hedge
        for lay in spec_h.layers:
            if lay.tenor == "auto":
                ranges.add(tuple(spec_h.tenor_contango))
                ranges.add(tuple(spec_h.tenor_backwardation))
            else:
                ranges.add(tuple(lay.tenor))
    vix_both = {rg: _vix_expiry_table(dates, now_days, t0, rg[0], rg[1]) for rg in sorted(ranges)}
    vix_tables = {rg: b[0] for rg, b in vix_both.items()}
    vix_tables_v = {rg: b[1] for rg, b in vix_both.items()}
    # the next day close after each step (calendar days): one trading day ahead for theta
    close_days = np.array([float((np.datetime64(cal.session_bounds(d)[1], "ns") - t0) / np.timedelta64(1, "D")) for d in
                           sorted(set(dates))])
    after = cal.next_session(dates[-1], inclusive=False)
    close_days = np.append(close_days, float((np.datetime64(cal.session_bounds(after)[1], "ns") - t0) / np.timedelta64(1, "D")))
    next_close = close_days[np.searchsorted(close_days, now_days + 1e-9, side="left")]
    day = compiled.day
    spd = compiled.steps_per_day
    events = compiled.spec.resolved_events() if compiled.spec is not None else ()
    ev_days = np.array(sorted({e.day_index for e in events}), dtype=float)
    dte_ev = np.full(day.size, NO_EVENT)
    for t, d in enumerate(day):
        later = ev_days[ev_days > d] if t % spd == 0 or t == 0 else ev_days[ev_days >= d]
        if later.size:
            dte_ev[t] = later[0] - d
    event_day = np.isin(day, ev_days)
    kinds = {}
    for kind in ("fomc", "cpi", "ppi"):
        kd = np.array(sorted({e.day_index for e in events if e.kind == kind}), dtype=float)
        kinds[kind] = np.isin(day, kd)
    dt_cal = np.diff(now_days, prepend=now_days[0])
    growth = np.exp(compiled.rate * dt_cal / 365.0)
    end_of_day = np.zeros(day.size, dtype=bool)
    end_of_day[0] = True
    end_of_day[spd::spd] = True
    return Book(
        rows=list(rows),
        labels=labels,
        layer_dtes=layer_dtes,
        slot_strategy=np.asarray(s_of, dtype=np.int64),
        slot_layer=np.asarray(l_of, dtype=np.int64),
        slot_dte=np.asarray(dte_of, dtype=float),
        slot_front=np.asarray(front, dtype=bool),
        slot_params=slot_params,
        strat_params=strat_params,
        hedge_strategy=h_s_arr,
        hedge_index=h_i_arr,
        hedge_instrument=h_inst,
        hedge_params=hedge_params,
        hedge_conditions=conditions,
        hedge_names=names,
        now_days=now_days,
        spx_expiry=spx_expiry,
        dte_index=dte_index,
        spx_expiry_v=spx_expiry_v,
        vix_expiry_v=vix_tables_v,
        next_close=next_close,
        vix_expiry_tables=vix_tables,
        days_to_event=dte_ev,
        event_day=event_day,
        event_kind_day=kinds,
        growth=growth,
        end_of_day=end_of_day,
    )


def _shape(group) -> object:
    """Condition structure without thresholds (signals, ops, nesting)."""
    if group is None:
        return None
    d = group.as_dict()

    def strip(node):
        (mode, items), = node.items()
        return (mode, tuple(strip(i) if "signal" not in i else (i["signal"], i["op"]) for i in items))

    return strip(d)


def _compile_vector_condition(groups: list):
    """One condition for a hedge layer across its slots; thresholds become ``[J_h, 1]`` columns."""
    if groups[0] is None:
        return compile_condition(None)
    dicts = [g.as_dict() for g in groups]

    def value_at(path, _v):
        vals = []
        for d in dicts:
            node = d
            for mode, i in _pairs(path):
                node = node[mode][i]
            vals.append(float(node["value"]))
        return np.asarray(vals, dtype=float)[:, None]

    return compile_condition(dicts[0], value_at)


def _pairs(path: tuple):
    return [(path[i], path[i + 1]) for i in range(0, len(path), 2)]


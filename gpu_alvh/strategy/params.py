"""Typed parameter records of the fused book, built once per run from a compiled :class:`~.book.Book`.

Everything the per-path program reads but never writes, as NumPy structured arrays (records accessed
``rec[i]["field"]`` in the kernel) and plain arrays:

* ``strat[s]`` (:data:`STRAT`) - one row per strategy: NAV, overlay switches, budget, probe, ramp, event
  under-hedge, contango threshold, SPX costs, and where its ladder slots and hedge slots start;
* ``slots[k]`` (:data:`SLOT_P`) - one per ladder slot (strategy x layer): delta targets, wings, sizing,
  exits, cascade, DTE, calendar column;
* ``hedges[j]`` (:data:`HEDGE_P`) - one per hedge slot (strategy x hedge layer): instrument legs, weight,
  strikes, tenor columns, rebalancing, monetisation, VIX costs, and its activation condition as a postfix
  program in ``cond`` (:data:`COND`);
* ``cal[t]`` (:data:`CAL`) - one per step ``t = 0..n_steps``: time (calendar days since the start close),
  variance time ``tv`` (years of trading sessions: the clock of every price), calendar years to the next
  day close (theta) and that close (calendar days since the start close: the time exit), cash growth, end of day, trading days to the next event, event flags;
* ``spx_expiry[t, c]`` / ``vix_expiry[t, c]`` - expiry (calendar days) of a new SPX position of DTE column
  ``c`` / of a new VIX hedge of tenor column ``c`` opened at step ``t``; ``spx_expiry_v`` / ``vix_expiry_v``
  the same expiries in variance years.

Index conventions: slots of strategy ``s`` are ``strat[s].slot0 .. slot0 + n_slots - 1`` in DTE order;
hedge slots ``strat[s].hedge0 .. hedge0 + n_hedge - 1`` in hedge-layer order (the order the budget is
spent in).  At most :data:`MAX_LAYERS` ladder layers and :data:`MAX_HEDGE` hedge layers per strategy
(the spec's limits) - the per-path state arrays have those sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instruments import INSTRUMENTS, SPX_STRIKE_GRID
from .signals import SIGNALS, Condition

__all__ = ["STRAT", "SLOT_P", "HEDGE_P", "CAL", "COND", "MAX_LAYERS", "MAX_HEDGE", "MAX_LEGS", "MAX_COND", "BookParams",
           "build_params", "OP_CODES", "FRONT_MAX_DTE", "C2_WINDOW_DAYS", "SIGNAL_INDEX", "FUT_SLOPE_TENORS", "NEAR_EXPIRY_DAYS",
           "ROWS_PER_THREAD"]

MAX_LAYERS = 8
MAX_HEDGE = 8
#: Strategy rows one kernel thread runs on its path, per target (the rows of a thread share the market
#: step and the marks of the sides they hold in common, :func:`gpu_alvh.strategy.ladder.twin`; a CUDA
#: thread runs one row: a thread's state is ~7 kB of local memory per row, and a GPU has paths enough
#: to fill it one row per thread).
ROWS_PER_THREAD = {"cpu": 8, "cuda": 1}
MAX_LEGS = 3
MAX_COND = 64
#: Layers with DTE up to this are "front" (claims C1/C3/C7); longer ones are "back".
FRONT_MAX_DTE = 30
C2_WINDOW_DAYS = 9.0
#: "Near expiry" (claim C5): the front layer open with at most this many calendar days left.
NEAR_EXPIRY_DAYS = 2.0
#: Tenors (variance years: trading sessions / 252) of the VIX futures whose difference is the futures
#: curve slope of claim C7 (``F(3 months) - F(1 month)``).
FUT_SLOPE_TENORS = (21.0 / 252.0, 63.0 / 252.0)
SIGNAL_INDEX = {name: i for i, name in enumerate(SIGNALS)}
#: Condition program opcodes: terms compare a signal with a value; groups combine the last ``n`` results.
OP_CODES = {"<": 0, "<=": 1, ">": 2, ">=": 3, "crosses_above": 4, "crosses_below": 5, "all": 10, "any": 11}

f8, i8, b1 = np.float64, np.int64, np.bool_

STRAT = np.dtype([
    ("nav", f8), ("hedge_on", b1), ("budget_rate", f8), ("budget_lead", f8), ("target_fraction", f8),
    ("probe_spx", f8), ("probe_vix", f8), ("ramp_sd", f8), ("ramp_dist_gain", f8), ("ramp_dte_gain", f8), ("ramp_max", f8),
    ("underhedge", f8), ("event_window", f8), ("contango", f8),
    ("spx_comm", f8), ("spx_hs_pts", f8), ("spx_hs_pct", f8),
    ("slot0", i8), ("n_slots", i8), ("hedge0", i8), ("n_hedge", i8),
    ("slot7", i8), ("slot45", i8),  # C2: local index of the first layer with DTE <= 7 / of the 45-DTE layer, -1 if none
], align=True)

SLOT_P = np.dtype([
    ("short_delta", f8), ("wing_width", f8), ("wing_delta", f8), ("use_wing_delta", b1), ("max_loss_pct", f8),
    ("profit_target", f8), ("stop_multiple", f8), ("exit_dte", f8), ("cascade_fraction", f8), ("cascade_depth", i8),
    ("cascade_on", b1), ("dte", f8), ("dte_col", i8), ("layer", i8), ("front", b1), ("entry_key", i8),
], align=True)
#: The :data:`SLOT_P` fields a condor's entry reads (its strikes and their marks): slots with equal values
#: enter alike at the same step (``entry_key``, by which rows of a thread reuse each other's entries,
#: :func:`gpu_alvh.strategy.ladder.enter`).
ENTRY_FIELDS = ("short_delta", "wing_width", "wing_delta", "use_wing_delta", "dte_col")

HEDGE_P = np.dtype([
    ("layer", i8), ("is_future", b1), ("multiplier", f8), ("n_legs", i8),
    ("leg_step0", f8), ("leg_step1", f8), ("leg_step2", f8), ("leg_w0", f8), ("leg_w1", f8), ("leg_w2", f8), ("abs_weight", f8),
    ("weight", f8), ("offset", f8), ("width", f8), ("underhedge_flag", b1), ("band", f8), ("time_shift", f8),
    ("mon_multiple", f8), ("mon_vix", f8), ("mon_fraction", f8), ("comm", f8), ("hs_pts", f8), ("hs_pct", f8),
    ("col_contango", i8), ("col_backwardation", i8), ("cond0", i8), ("cond_n", i8), ("price_key", i8),
], align=True)
#: The :data:`HEDGE_P` fields a hedge's unit value and half-spread read: slots with equal values price alike
#: at equal strike and expiry (``price_key``, by which rows of a thread reuse each other's VIX marks,
#: :func:`gpu_alvh.strategy.hedge.twin`).
PRICE_FIELDS = ("is_future", "n_legs", "leg_step0", "leg_step1", "leg_step2", "leg_w0", "leg_w1", "leg_w2", "width", "hs_pts", "hs_pct")

COND = np.dtype([("op", i8), ("arg", i8), ("value", f8)], align=True)  # term: arg = signal index; group: arg = count

CAL = np.dtype([
    ("now", f8), ("tv", f8), ("dcal_next", f8), ("next_close", f8), ("growth", f8), ("end_of_day", b1), ("day", i8), ("days_to_event", f8),
    ("near_fomc", b1), ("cpi_ppi", b1),
], align=True)


@dataclass(frozen=True)
class BookParams:
    """The arrays of the module docstring (host NumPy)."""

    strat: np.ndarray
    slots: np.ndarray
    hedges: np.ndarray
    cond: np.ndarray
    cal: np.ndarray
    spx_expiry: np.ndarray
    vix_expiry: np.ndarray
    spx_expiry_v: np.ndarray
    vix_expiry_v: np.ndarray
    n_layers: int  # union of layer DTEs (the ``layer`` coordinate)

    @property
    def n_strategies(self) -> int:
        return int(self.strat.shape[0])


def _postfix(cond: Condition, j: int, out: list) -> None:
    """Append the postfix program of ``cond`` for hedge slot ``j`` (thresholds are ``[J_h, 1]`` arrays or floats)."""
    for it in cond.items:
        if isinstance(it, Condition):
            _postfix(it, j, out)
        else:
            val = it.value
            v = float(np.asarray(val).reshape(-1)[j]) if isinstance(val, np.ndarray) else float(val)
            out.append((OP_CODES[it.op], SIGNAL_INDEX[it.signal], v))
    out.append((OP_CODES[cond.mode], len(cond.items), 0.0))


def _keys(records: np.ndarray, fields: tuple, out: str) -> None:
    """``records[out]``: one integer per distinct tuple of ``fields`` (equal values, equal key; first seen, 0)."""
    seen: dict = {}
    for r in records:
        r[out] = seen.setdefault(tuple(r[f].item() for f in fields), len(seen))


def build_params(book, compiled) -> BookParams:
    """Parameter records for the fused engine from a compiled book (see module docstring)."""
    S, K, J = book.n_strategies, book.n_slots, book.n_hedge_slots
    sp, tp, hp = book.slot_params, book.strat_params, book.hedge_params
    ks = book.slot_strategy
    strat = np.zeros(S, STRAT)
    for name in ("nav", "hedge_on", "budget_rate", "budget_lead", "target_fraction", "probe_spx", "probe_vix", "ramp_sd", "ramp_dist_gain",
                 "ramp_dte_gain", "ramp_max", "underhedge", "event_window", "contango", "spx_comm", "spx_hs_pts", "spx_hs_pct"):
        strat[name] = tp[name]
    for s in range(S):
        mine = np.flatnonzero(ks == s)
        if mine.size > MAX_LAYERS or mine.size == 0 or np.any(np.diff(mine) != 1):
            raise ValueError(f"strategy {book.labels[s]}: 1..{MAX_LAYERS} contiguous ladder slots needed, got {mine.tolist()}")
        strat[s]["slot0"], strat[s]["n_slots"] = mine[0], mine.size
        h = np.flatnonzero(book.hedge_strategy == s)
        if h.size > MAX_HEDGE or (h.size and np.any(np.diff(h) != 1)):
            raise ValueError(f"strategy {book.labels[s]}: at most {MAX_HEDGE} contiguous hedge slots, got {h.tolist()}")
        strat[s]["hedge0"], strat[s]["n_hedge"] = (h[0] if h.size else 0), h.size
        dtes = book.slot_dte[mine]
        s7, s45 = np.flatnonzero(dtes <= 7), np.flatnonzero(dtes == 45)
        ok = s7.size > 0 and s45.size > 0
        strat[s]["slot7"] = s7[0] if ok else -1
        strat[s]["slot45"] = s45[0] if ok else -1
    slots = np.zeros(K, SLOT_P)
    for name in ("short_delta", "wing_width", "wing_delta", "use_wing_delta", "max_loss_pct", "profit_target", "stop_multiple", "exit_dte",
                 "cascade_fraction", "cascade_depth", "cascade_on"):
        slots[name] = sp[name]
    slots["dte"] = book.slot_dte
    slots["dte_col"] = book.dte_index
    slots["layer"] = book.slot_layer
    slots["front"] = book.slot_dte <= FRONT_MAX_DTE
    _keys(slots, ENTRY_FIELDS, "entry_key")
    # hedge slots
    hedges = np.zeros(J, HEDGE_P)
    cond_rows: list = []
    ranges = sorted(book.vix_expiry_tables)
    col_of = {rg: i for i, rg in enumerate(ranges)}
    for j in range(J):
        s = int(book.hedge_strategy[j])
        h = int(book.hedge_index[j])
        inst = INSTRUMENTS[book.hedge_instrument[j]]
        if len(inst.legs) > MAX_LEGS:
            raise ValueError(f"instrument {inst.name} has more than {MAX_LEGS} legs")
        r = hedges[j]
        r["layer"] = h
        r["is_future"] = inst.is_future
        r["multiplier"] = inst.multiplier
        r["n_legs"] = len(inst.legs)
        for i, (step, w) in enumerate(inst.legs):
            r[f"leg_step{i}"] = step
            r[f"leg_w{i}"] = w
        r["abs_weight"] = inst.abs_weight()
        for name, key in (("weight", "weight"), ("offset", "offset"), ("width", "width"), ("underhedge_flag", "underhedge_flag")):
            r[name] = hp[key][j]
        for name, key in (("band", "band"), ("time_shift", "time_shift_dte"), ("mon_multiple", "mon_multiple"), ("mon_vix", "mon_vix"),
                          ("mon_fraction", "mon_fraction")):
            r[name] = tp[key][s]
        pre = "fut" if inst.is_future else "vix"
        r["comm"], r["hs_pts"], r["hs_pct"] = tp[f"{pre}_comm"][s], tp[f"{pre}_hs_pts"][s], tp[f"{pre}_hs_pct"][s]
        spec_h = book.rows[s].spec.hedge
        if bool(hp["auto"][j]):
            r["col_contango"] = col_of[tuple(spec_h.tenor_contango)]
            r["col_backwardation"] = col_of[tuple(spec_h.tenor_backwardation)]
        else:
            c = col_of[(int(hp["tenor_lo"][j]), int(hp["tenor_hi"][j]))]
            r["col_contango"] = r["col_backwardation"] = c
        # activation condition: the layer's compiled condition, thresholds of this slot
        prog: list = []
        cond = book.hedge_conditions[j]
        if cond.items:
            _postfix(cond, 0, prog)
        if len(prog) > MAX_COND:
            raise ValueError(f"hedge layer {book.hedge_names[h]}: condition has {len(prog)} nodes (at most {MAX_COND})")
        r["cond0"], r["cond_n"] = len(cond_rows), len(prog)
        cond_rows += prog
    _keys(hedges, PRICE_FIELDS, "price_key")
    cond_arr = np.zeros(max(len(cond_rows), 1), COND)
    for i, (op, arg, val) in enumerate(cond_rows):
        cond_arr[i] = (op, arg, val)
    # calendar
    n1 = book.now_days.size
    cal = np.zeros(n1, CAL)
    cal["now"] = book.now_days
    cal["tv"] = compiled.tv
    cal["dcal_next"] = (book.next_close - book.now_days) / 365.0
    cal["next_close"] = book.next_close
    cal["growth"] = book.growth
    cal["end_of_day"] = book.end_of_day
    cal["day"] = compiled.day
    cal["days_to_event"] = book.days_to_event
    spd = compiled.steps_per_day
    fomc = book.event_kind_day["fomc"]
    for t in range(n1):
        cal[t]["near_fomc"] = bool(fomc[max(t - spd, 0): t + spd + 1].any())
    cal["cpi_ppi"] = book.event_kind_day["cpi"] | book.event_kind_day["ppi"]
    def stack(tables):
        return np.ascontiguousarray(np.stack([tables[rg] for rg in ranges], axis=1) if ranges else np.zeros((n1, 1)), dtype=f8)

    assert SPX_STRIKE_GRID == 5.0
    return BookParams(strat=strat, slots=slots, hedges=hedges, cond=cond_arr, cal=cal, spx_expiry=np.ascontiguousarray(book.spx_expiry, dtype=f8),
                      vix_expiry=stack(book.vix_expiry_tables), spx_expiry_v=np.ascontiguousarray(book.spx_expiry_v, dtype=f8),
                      vix_expiry_v=stack(book.vix_expiry_v), n_layers=len(book.layer_dtes))

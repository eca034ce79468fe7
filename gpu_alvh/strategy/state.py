"""The named per-path state of the fused book (record dtypes of the kernel's local arrays).

One thread runs a group of strategy rows on one path (:func:`gpu_alvh.strategy.engine.run_path`) and
keeps, per row and for the whole horizon,

* ``L[k]`` (:data:`SLOT`, ``k < MAX_LAYERS``) - one iron condor per ladder layer: strikes (index
  points), contracts per side, mid credits per contract (points), expiry and entry time (calendar days
  since the start close; ``expiry_v``: the expiry in variance years, the clock of its price), realised cash flows and costs ($), re-entry flags, side values at the last mark
  (points per contract), position greeks ($ delta per point etc.), the layer P&L at the last day close;
  and the current *life* of the slot's condor (from its entry to its close; a cascade roll continues it):
  ``credit0`` its entry mid credit and ``life_mid`` its mid cash so far (mid credits received minus mid
  debits paid, points x contracts), ``life_start`` the slot's realised $ before it opened, ``life_rolls``
  its cascade rolls, ``rolled`` (a roll this step) and ``outcome`` (how it ended this step, :data:`OUTCOMES`);
  and the slot's last entry candidate - the entry key of its parameters
  (:data:`~gpu_alvh.strategy.params.SLOT_P` ``entry_key``), the step (``t_enter``, -1 before the first)
  and the four strikes (``e_kps`` ...), whose marks the legs hold for the rest of that step, booked or not -
  by which the other rows of the thread reuse it (:func:`gpu_alvh.strategy.ladder.enter`);
* ``legs[k, leg, f]`` - marks of the four legs (short put, long put, short call, long call): ``f`` =
  price, delta, gamma, vega (:data:`LEG_PRICE` ...), per option, no multiplier; the leg's price at the
  next day close at an unchanged state (:data:`LEG_NEXT`, for theta) and under the stress probe
  (:data:`LEG_PROBE`); and the steps at which those three were last computed (:data:`LEG_T_MARK`,
  :data:`LEG_T_NEXT`, :data:`LEG_T_PROBE`, -1 before the first), by which the other rows of the thread
  reuse them (:func:`gpu_alvh.strategy.ladder.twin`);
* ``H[j]`` (:data:`HSLOT`, ``j < MAX_HEDGE``) - one VIX hedge position per hedge layer: contracts, first
  strike (VIX points), expiry, futures entry price, cost basis ($), realised flows and costs, probe
  coverage to re-buy after a time-shift, unit value and probe gain per contract at the last cycle,
  the monetised flag; the slot's price key (:data:`~gpu_alvh.strategy.params.HEDGE_P` ``price_key``),
  the unit value under the stress probe, and the steps at which the unit value (with its half-spread) and
  the probe unit value were last computed for the held strike and expiry (``t_mark``, ``t_probe``; -1
  before the first), by which the other rows of the thread reuse them
  (:func:`gpu_alvh.strategy.hedge.twin`);
* ``R[0]`` (:data:`ROW`) - cash, interest, hedge premium spent, counters, NAV at the end of the last
  step, the previous close, the signal recursions (Wilder RSI and MACD of SPX and VIX, term slope) and
  the day's stress-probe state (spot, fast and slow variance), and the step and value of the last
  front-strike distance signal (``front_t``, ``front_dist``: the other rows of the thread reuse it,
  :func:`gpu_alvh.strategy.engine._front_distance`);
* ``sig[0, i]`` / ``sig[1, i]`` - today's and the previous overlay day's value of signal ``i``
  (registry order of :data:`gpu_alvh.strategy.signals.SIGNALS`);
* ``ctx[0]`` (:data:`CTX`) - the step's observations handed to the accumulators
  (:mod:`gpu_alvh.strategy.accumulators`), which own ``acc``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SLOT", "HSLOT", "ROW", "CTX", "N_LEG_FIELDS", "LEG_PRICE", "LEG_DELTA", "LEG_GAMMA", "LEG_VEGA", "OUTCOMES", "OUT_TARGET",
           "OUT_STOP", "OUT_TIME", "OUT_EXPIRY", "local_state", "reset_slots", "reset_hedges", "SLOT_START", "LEG_NEXT", "LEG_PROBE",
           "LEG_T_MARK", "LEG_T_NEXT", "LEG_T_PROBE"]

f8, i8, b1 = np.float64, np.int64, np.bool_

LEG_PRICE, LEG_DELTA, LEG_GAMMA, LEG_VEGA, LEG_NEXT, LEG_PROBE, LEG_T_MARK, LEG_T_NEXT, LEG_T_PROBE = range(9)
N_LEG_FIELDS = 9
#: How a condor's life ended (``L[k].outcome`` at the step it closed; 0 = no close this step).
OUTCOMES = ("target", "stop", "time", "expiry")
OUT_TARGET, OUT_STOP, OUT_TIME, OUT_EXPIRY = 1, 2, 3, 4

SLOT = np.dtype([
    ("kps", f8), ("kpl", f8), ("kcs", f8), ("kcl", f8), ("n_put", f8), ("n_call", f8), ("cr_put", f8), ("cr_call", f8),
    ("expiry", f8), ("expiry_v", f8), ("entry_time", f8), ("realized", f8), ("costs", f8), ("reopen", b1), ("reopen_next", b1),
    ("val_put", f8), ("val_call", f8), ("delta", f8), ("gamma", f8), ("vega", f8), ("theta", f8),
    ("prev_pnl", f8), ("stopped", b1),
    ("credit0", f8), ("life_mid", f8), ("life_start", f8), ("life_rolls", f8), ("outcome", i8), ("rolled", b1),
    ("e_key", i8), ("t_enter", i8), ("e_kps", f8), ("e_kpl", f8), ("e_kcs", f8), ("e_kcl", f8),
], align=True)

HSLOT = np.dtype([
    ("n", f8), ("k1", f8), ("expiry", f8), ("expiry_v", f8), ("entry_px", f8), ("basis", f8), ("realized", f8), ("costs", f8),
    ("roll_cover", f8), ("unit", f8), ("hs", f8), ("gain", f8), ("monetized", b1), ("active", b1),
    ("key", i8), ("p_unit", f8), ("t_mark", i8), ("t_probe", i8),
], align=True)

ROW = np.dtype([
    ("cash", f8), ("interest", f8), ("spent", f8), ("nav", f8), ("n_stops", f8), ("n_rolls", f8), ("n_entries", f8),
    ("prev_nav", f8), ("prev_spot", f8), ("prev_hedge_pnl", f8), ("peak_nav", f8), ("term_slope", f8), ("have_prev_sig", b1),
    ("rsi_s_prev", f8), ("rsi_s_gain", f8), ("rsi_s_loss", f8), ("rsi_v_prev", f8), ("rsi_v_gain", f8), ("rsi_v_loss", f8),
    ("macd_s_fast", f8), ("macd_s_slow", f8), ("macd_s_sig", f8), ("macd_s_hist", f8),
    ("macd_v_fast", f8), ("macd_v_slow", f8), ("macd_v_sig", f8), ("macd_v_hist", f8),
    ("probe_loss", f8), ("target_fraction", f8), ("underhedge", f8), ("allowance", f8),
    ("probe_spot", f8), ("probe_v", f8), ("probe_v2", f8), ("front_t", i8), ("front_dist", f8),
], align=True)

CTX = np.dtype([
    ("t", i8), ("day", i8), ("now", f8), ("spot", f8), ("vix", f8), ("nav", f8), ("prev_nav", f8), ("nav0", f8),
    ("gamma", f8), ("front_open", b1), ("front_left", f8), ("margin", f8),
    ("day_front", f8), ("day_back", f8), ("day_hedge", f8), ("near_fomc", b1), ("cpi_ppi", b1), ("prev_spot", f8),
    ("entry7", f8), ("dl7", f8), ("dl45", f8), ("c2_ok", b1),
    ("overlay_day", b1), ("ladder_delta", f8), ("hedge0_delta", f8),
    # claims (appended): first hedge slot's P&L before / after the day's overlay and whether it was held
    # at the previous close (C6); the SPX-equivalent gamma of the hedges (C5); the VIX futures slope
    # F(3m) - F(1m) (C7); slot counts (C1 per-life)
    ("h0_pre", f8), ("h0_post", f8), ("h0_held", b1), ("hedge_gamma", f8), ("fut_slope", f8), ("n_slots", i8), ("n_front", i8),
], align=True)


#: Start values of the :data:`SLOT` fields other than 0 / False: the strikes at the start spot (a slot
#: with no position reads as at the money), and a due re-entry.
SLOT_START = {"kps": "spot0", "kpl": "spot0", "kcs": "spot0", "kcl": "spot0", "reopen": True, "e_key": -1, "t_enter": -1}


def _resetter(name: str, dtype: np.dtype, start: dict):
    """A jitable ``name(A, spot0)`` that sets every record of ``A`` to its start: ``start[field]`` (a value,
    or ``"spot0"``), else 0 / False.  Generated from the dtype, so a new field needs no line in the engine
    (a CUDA device function cannot loop over record fields)."""
    from ..kernels.floats import jitable

    lines = [f"def {name}(A, spot0):", "    for i in range(A.shape[0]):"]
    for f in dtype.names:
        kind = dtype[f].kind
        val = start.get(f, False if kind == "b" else (0 if kind == "i" else 0.0))
        lines.append(f"        A[i][{f!r}] = {val if isinstance(val, str) else repr(val)}")
    namespace: dict = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - source generated from the dtype above
    fn = namespace[name]
    fn.__doc__ = f"Every record of ``A`` ({dtype.names[0]}, ...) to its start value (generated by ``_resetter``)."
    return jitable(fn)


reset_slots = _resetter("reset_slots", SLOT, SLOT_START)
#: Start values of the :data:`HSLOT` fields other than 0 / False: no price key (set from the slot's
#: parameters when the row starts) and no marks yet.
HSLOT_START = {"key": -1, "t_mark": -1, "t_probe": -1}
reset_hedges = _resetter("reset_hedges", HSLOT, HSLOT_START)


def local_state(rows: int | None = None):
    """Host (NumPy) versions of the per-thread local arrays: ``L, legs, H, R, sig, ctx, acc`` of one row
    (``rows=None``: ``L`` [MAX_LAYERS], ``legs`` [MAX_LAYERS, 4, N_LEG_FIELDS], ... as the row functions
    take them), or of a group of ``rows`` rows (a leading ``rows`` axis, as
    :func:`gpu_alvh.strategy.engine.run_path` takes them; the kernel entries allocate the same shapes in
    registers / local memory, see :mod:`gpu_alvh.kernels.templates`)."""
    from .accumulators import N_ACC
    from .params import MAX_HEDGE, MAX_LAYERS
    from .signals import SIGNALS

    g = () if rows is None else (int(rows),)
    return (np.zeros(g + (MAX_LAYERS,), SLOT), np.zeros(g + (MAX_LAYERS, 4, N_LEG_FIELDS)), np.zeros(g + (MAX_HEDGE,), HSLOT),
            np.zeros(g + (1,) if rows is None else g, ROW), np.zeros(g + (2, len(SIGNALS))), np.zeros(g + (1,) if rows is None else g, CTX),
            np.zeros(g + (N_ACC,)))

"""The fused book: strategy rows on one path through the whole horizon (per-path code).

:func:`run_path` is the program every kernel thread runs (thread ``i``: row group ``i // P`` - strategies
``G (i // P) ..`` up to ``G`` of them, ``G`` rows per thread - path ``p = i % P``, global path ``start + p``).
Each step ``t = 1..n_steps`` the path generator moves ``(x, v)`` once (:mod:`gpu_alvh.kernels.market`;
the same random numbers for every strategy of a path: common random numbers), then each row of the
thread, in order, takes the step (:func:`_row_step`):

1. cash earns the rate over the step's calendar time;
2. the ladder is marked, expired condors settle, profit targets / stops / time exits close, stops roll
   the next layers (cascade), due layers re-open sized on NAV (:mod:`gpu_alvh.strategy.ladder`; a side
   an earlier row of the thread holds too is not priced again, :func:`gpu_alvh.strategy.ladder.twin`);
3. at a trading day's close: the signal recursions update, the VIX overlay runs
   (:mod:`gpu_alvh.strategy.hedge`), the accumulators observe the day
   (:mod:`gpu_alvh.strategy.accumulators`) and the daily bands are histogrammed.

The state lives in the thread's local records (:mod:`gpu_alvh.strategy.state`); nothing leaves the
thread inside the time loop except scatter-adds into the greek sums and the counts of the band histograms
(:func:`gpu_alvh.kernels.target.scatter_add`, :func:`~gpu_alvh.kernels.target.hist_add`; on the CPU the
counts are noted in ``hb`` and added when the path ends).  At the end the thread writes its per-path
outputs: ``core[f, s, p]`` (:data:`CORE`) and ``accs[a, s, p]`` (the accumulator fields).

Money in dollars, prices in index points, time in calendar days since the start close (``/365`` for
option expiries), variance in decimal per year.
"""

from __future__ import annotations

import math

from ..kernels.floats import jitable as register_jitable
from ..kernels.floats import jitable_inline

from ..kernels import market
from ..kernels.target import hist_add, hist_flush, scatter_add
from . import hedge, ladder, marks
from .accumulators import acc_day, acc_final, acc_init, acc_step
from .params import FUT_SLOPE_TENORS, MAX_LAYERS, NEAR_EXPIRY_DAYS
from .signals import condition_holds, macd_update, rsi_update, rsi_value
from .state import LEG_T_MARK, reset_hedges, reset_slots
from .tracing import trace_point

__all__ = ["run_path", "CORE", "N_CORE", "NAV_BINS", "SPX_BINS", "VIX_BINS", "GREEKS", "CORE_INDEX"]

#: Histogram bins of the daily bands: NAV / NAV_0 in [0, 2] (0.1% steps), SPX / S_0 in [0, 3]
#: (0.15% steps), VIX in [0, 200] (0.1-point steps); values outside land in the end bins.
NAV_BINS = (0.0, 2.0, 2000)
SPX_BINS = (0.0, 3.0, 2000)
VIX_BINS = (0.0, 200.0, 2000)
GREEKS = ("delta", "gamma", "vega", "theta")
#: Per-path outputs of the core state (``core[f, s, p]``); ``layer_pnl`` takes MAX_LAYERS rows.
CORE = ("final_nav", "interest", "hedge_premium", "hedge_pnl", "costs", "n_stops", "n_rolls", "n_entries", "spx_final", "vix_final", "layer_pnl")
CORE_INDEX = {name: i for i, name in enumerate(CORE)}
N_CORE = len(CORE) - 1 + MAX_LAYERS

_NAV_LO, _NAV_HI, _NAV_N = NAV_BINS
_SPX_LO, _SPX_HI, _SPX_N = SPX_BINS
_VIX_LO, _VIX_HI, _VIX_N = VIX_BINS
_LAYER_PNL = CORE_INDEX["layer_pnl"]
M = 100.0


@register_jitable
def _bin(x, lo, hi, nb):
    if not math.isfinite(x):
        return nb - 1
    b = math.floor((x - lo) / (hi - lo) * nb)
    return int(min(max(b, 0.0), nb - 1.0))


@register_jitable
def _nav(R, L, nk, H, nh, hp, h0):
    return R[0]["cash"] - ladder.value(L, nk) + hedge.position_value(H, nh, hp, h0)


@register_jitable
def _hedge_pnl(H, nh, hp, h0):
    total = 0.0
    for j in range(nh):
        total += H[j]["realized"]
    return total + hedge.position_value(H, nh, hp, h0)


@register_jitable
def _term_slope(vs, vix, kq):
    """Model VIX3M minus VIX, points: ``100 sqrt(a3 v + a3_2 v2 + b3) - VIX`` (``vs = (v, v2)``)."""
    return 100.0 * math.sqrt(max(kq[2] * vs[0] + kq[8] * vs[1] + kq[3], 0.0)) - vix


@register_jitable
def _fut_slope(vx, vs):
    """The VIX futures curve slope ``F(3 months) - F(1 month)``, points (claim C7; the market's, shared by
    the rows of a thread)."""
    return marks.vix_future(vx, vs, FUT_SLOPE_TENORS[1]) - marks.vix_future(vx, vs, FUT_SLOPE_TENORS[0])


@register_jitable
def _probe_state(vix_p, vs, kq):
    """The stress probe's pricing state: the fast variance with model VIX ``vix_p`` points at the current
    slow variance, ``(max(((vix_p/100)^2 - b - a2 v2) / a, 0), v2)``."""
    return market.variance_from_vix(vix_p, kq[0], kq[1] + kq[7] * vs[1]), vs[1]


@register_jitable
def _front_distance(Lg, Rg, r, t, now, tv, spot, vs, rate, q, spx):
    """Signal ``strike_distance`` of row ``r`` at step ``t``: the nearer short strike of its front condor,
    ``min(ln(S / K_put) / (iv_put sd), ln(K_call / S) / (iv_call sd))`` with ``sd = sqrt(tau_v)`` (99 when
    the front layer holds nothing).  It depends on the market and the front condor (strikes, expiry) only,
    so a row whose front condor is an earlier row's at this step takes that row's value (``R.front_t`` /
    ``R.front_dist``; the strikes and expiry are read from its slot 0, which nothing changes after the signals)."""
    L = Lg[r]
    is_open = L[0]["n_put"] > 0.0 or L[0]["n_call"] > 0.0
    for rr in range(r):
        o = Lg[rr, 0]
        if Rg[rr]["front_t"] == t and (o["n_put"] > 0.0 or o["n_call"] > 0.0) == is_open and o["kps"] == L[0]["kps"] and o["kcs"] == L[0]["kcs"] \
                and o["expiry"] == L[0]["expiry"] and o["expiry_v"] == L[0]["expiry_v"]:
            return Rg[rr]["front_dist"]
    dist = 99.0
    if is_open:
        tau = max(L[0]["expiry"] - now, 0.0) / 365.0
        tau_v = max(L[0]["expiry_v"] - tv, 0.0)
        fwd = spot * math.exp((rate - q) * tau)
        sd = math.sqrt(max(tau_v, 1e-8))
        kps, kcs = max(L[0]["kps"], 1.0), max(L[0]["kcs"], 1.0)
        ctx = marks.iv_ctx(spx, vs, tau_v)  # one slice for both strikes
        iv_p = marks.iv_at(spx, ctx, math.log(kps / fwd))
        iv_c = marks.iv_at(spx, ctx, math.log(kcs / fwd))
        dist = min(math.log(spot / kps) / (iv_p * sd), math.log(kcs / spot) / (iv_c * sd))
    return dist


@register_jitable
def _signals(sig, Lg, Rg, r, t, st, now, tv, spot, vs, vix, nav, peak, dte_ev, rate, q, spx):
    """Today's value of every registered signal (order of ``signals.SIGNALS``) into ``sig[0, :]``."""
    L, R = Lg[r], Rg[r:r + 1]
    dist = _front_distance(Lg, Rg, r, t, now, tv, spot, vs, rate, q, spx)
    R[0]["front_t"], R[0]["front_dist"] = t, dist
    delta = 0.0
    for k in range(st["n_slots"]):
        delta += L[k]["delta"]
    sig[0, 0] = rsi_value(R[0]["rsi_s_gain"], R[0]["rsi_s_loss"])
    sig[0, 1] = rsi_value(R[0]["rsi_v_gain"], R[0]["rsi_v_loss"])
    sig[0, 2] = R[0]["macd_s_hist"]
    sig[0, 3] = R[0]["macd_v_hist"]
    sig[0, 4] = R[0]["term_slope"]
    sig[0, 5] = vix
    sig[0, 6] = dte_ev
    sig[0, 7] = dist
    sig[0, 8] = delta * spot * 0.01 / (nav if nav > 0 else 1.0)
    sig[0, 9] = 1.0 - nav / max(peak, 1e-9)
    return delta


@register_jitable
def _overlay(t, r, Lg, legsg, Rg, Hg, sig, st, sp, hp, cond, cal, vix_expiry, vix_expiry_v, spot, vs, vix, nav, kq, rate, q, spx, vx):
    """Signals, activation conditions, probe, ramp and the overlay's day of row ``r``; returns the cash flow."""
    nk, nh, h0 = st["n_slots"], st["n_hedge"], st["hedge0"]
    L, R, H = Lg[r], Rg[r:r + 1], Hg[r]
    now, tv = cal[t]["now"], cal[t]["tv"]
    peak = max(R[0]["peak_nav"], nav)
    _signals(sig, Lg, Rg, r, t, st, now, tv, spot, vs, vix, nav, peak, cal[t]["days_to_event"], rate, q, spx)
    if not R[0]["have_prev_sig"]:
        for i in range(sig.shape[1]):
            sig[1, i] = sig[0, i]
    for j in range(nh):
        H[j]["active"] = condition_holds(cond, hp[h0 + j]["cond0"], hp[h0 + j]["cond_n"], sig)
    for i in range(sig.shape[1]):
        sig[1, i] = sig[0, i]
    R[0]["have_prev_sig"] = True
    loss = 0.0
    if st["hedge_on"]:
        loss = ladder.probe_loss(Lg, legsg, Rg, r, nk, t, spot * (1.0 + st["probe_spx"]), _probe_state(vix + st["probe_vix"], vs, kq), now, tv, spx)
    # ramp on the front layer's strike distance and remaining DTE
    dist = sig[0, 7]
    x_d = min(max((st["ramp_sd"] - dist) / st["ramp_sd"], 0.0), 1.0)
    x_t = 0.0
    if L[0]["n_put"] > 0.0 or L[0]["n_call"] > 0.0:
        x_t = min(max(1.0 - (L[0]["expiry"] - now) / sp[st["slot0"]]["dte"], 0.0), 1.0)
    tf = 0.0
    if st["hedge_on"]:
        tf = min(st["target_fraction"] * (1.0 + st["ramp_dist_gain"] * x_d + st["ramp_dte_gain"] * x_t), st["ramp_max"])
    under = st["underhedge"] if cal[t]["days_to_event"] <= st["event_window"] else 0.0
    allowance = st["budget_rate"] * max(now / 365.0, st["budget_lead"])
    probe_vs = _probe_state(vix + st["probe_vix"], vs, kq)
    R[0]["probe_loss"], R[0]["target_fraction"], R[0]["underhedge"], R[0]["allowance"] = loss, tf, under, allowance
    R[0]["probe_v"], R[0]["probe_v2"] = probe_vs  # (probe_loss set the same; read by hedge.twin)
    flow, spent = hedge.daily(Hg, Rg, r, nh, hp, h0, t, now, tv, vs, vix, probe_vs, loss, tf, under, allowance, R[0]["term_slope"], st["contango"],
                              R[0]["spent"], vx, vix_expiry, vix_expiry_v)
    R[0]["spent"] = spent
    return flow


@register_jitable
def _day_close(t, s, p, r, Lg, legsg, Rg, Hg, sig, ctx, acc, st, hp, cond, cal, vix_expiry, vix_expiry_v, spot, vs, vix, fut_slope, nav, spot0, kq, rate, q,
               spx, vx, run_has_hedges, n_layers, sp, h_nav, h_spx, h_vix, g_sums, hb, sv_nav, sv_spx, sv_vix):
    """Row ``r`` (strategy ``s``) of the thread at the close of day ``cal[t].day``: signals, overlay,
    accumulators, bands; returns NAV.  ``fut_slope``: the market's VIX futures slope (:func:`_fut_slope`)."""
    nk, nh, h0, g = st["n_slots"], st["n_hedge"], st["hedge0"], st["slot0"]
    L, R, H = Lg[r], Rg[r:r + 1], Hg[r]
    d = cal[t]["day"]
    now = cal[t]["now"]
    if t > 0:
        R[0]["rsi_s_prev"], R[0]["rsi_s_gain"], R[0]["rsi_s_loss"] = rsi_update(R[0]["rsi_s_prev"], R[0]["rsi_s_gain"], R[0]["rsi_s_loss"], spot)
        R[0]["rsi_v_prev"], R[0]["rsi_v_gain"], R[0]["rsi_v_loss"] = rsi_update(R[0]["rsi_v_prev"], R[0]["rsi_v_gain"], R[0]["rsi_v_loss"], vix)
        R[0]["macd_s_fast"], R[0]["macd_s_slow"], R[0]["macd_s_sig"], R[0]["macd_s_hist"] = macd_update(
            R[0]["macd_s_fast"], R[0]["macd_s_slow"], R[0]["macd_s_sig"], spot)
        R[0]["macd_v_fast"], R[0]["macd_v_slow"], R[0]["macd_v_sig"], R[0]["macd_v_hist"] = macd_update(
            R[0]["macd_v_fast"], R[0]["macd_v_slow"], R[0]["macd_v_sig"], vix)
        R[0]["term_slope"] = _term_slope(vs, vix, kq)
    c = ctx[0]
    c["overlay_day"] = run_has_hedges
    c["h0_held"] = nh > 0 and H[0]["n"] > 0.0
    c["h0_pre"] = hedge.slot_pnl(H, 0, hp[h0]) if nh > 0 else 0.0
    c["fut_slope"] = fut_slope
    if nh > 0:
        R[0]["cash"] += _overlay(t, r, Lg, legsg, Rg, Hg, sig, st, sp, hp, cond, cal, vix_expiry, vix_expiry_v, spot, vs, vix, nav, kq, rate, q, spx, vx)
        nav = _nav(R, L, nk, H, nh, hp, h0)
    delta = 0.0
    for k in range(nk):
        delta += L[k]["delta"]
    c["ladder_delta"] = delta
    c["hedge0_delta"] = hedge.coverage(H, 0) / (spot * abs(st["probe_spx"])) if nh > 0 else 0.0
    c["h0_post"] = hedge.slot_pnl(H, 0, hp[h0]) if nh > 0 else 0.0
    # daily P&L of the front / back layers and the hedges (claims)
    front = 0.0
    back = 0.0
    s7, s45 = st["slot7"], st["slot45"]
    c["dl7"] = 0.0
    c["dl45"] = 0.0
    for k in range(nk):
        pnl = L[k]["realized"] - M * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])
        dl = pnl - L[k]["prev_pnl"]
        if t > 0:
            if sp[g + k]["front"]:
                front += dl
            else:
                back += dl
            if k == s7:
                c["dl7"] = dl
            if k == s45:
                c["dl45"] = dl
            L[k]["prev_pnl"] = pnl
    hp_now = _hedge_pnl(H, nh, hp, h0)
    c["c2_ok"] = s7 >= 0
    c["entry7"] = L[s7]["entry_time"] if s7 >= 0 else 0.0
    c["day_front"], c["day_back"], c["day_hedge"] = front, back, hp_now - R[0]["prev_hedge_pnl"]
    if t > 0:
        R[0]["prev_hedge_pnl"] = hp_now
    c["t"], c["day"], c["now"], c["spot"], c["vix"] = t, d, now, spot, vix
    c["nav"], c["prev_nav"] = nav, R[0]["prev_nav"]
    c["near_fomc"], c["cpi_ppi"] = cal[t]["near_fomc"], cal[t]["cpi_ppi"]
    c["prev_spot"] = R[0]["prev_spot"]
    acc_day(acc, ctx, L, H)
    R[0]["peak_nav"] = max(R[0]["peak_nav"], nav)
    R[0]["prev_nav"] = nav
    R[0]["prev_spot"] = spot
    R[0]["nav"] = nav
    # daily bands and mean greeks (theta: the one-day change of the marks at an unchanged state)
    ladder.theta_day(Lg, legsg, r, nk, t, spot, vs, now, cal[t]["tv"], cal[t]["dcal_next"], spx)
    n_days1 = cal[cal.shape[0] - 1]["day"] + 1
    hist_add(hb, r, d, h_nav, s * n_days1 + d, _bin(nav / st["nav"], _NAV_LO, _NAV_HI, _NAV_N))
    if s == 0:
        hist_add(hb, hb.shape[0] - 2, d, h_spx, d, _bin(spot / spot0, _SPX_LO, _SPX_HI, _SPX_N))
        hist_add(hb, hb.shape[0] - 1, d, h_vix, d, _bin(vix, _VIX_LO, _VIX_HI, _VIX_N))
    n_str = g_sums.shape[2] // (4 * n_layers)
    for k in range(nk):
        row = s * n_layers + sp[g + k]["layer"]
        scatter_add(g_sums, d, row, L[k]["delta"])
        scatter_add(g_sums, d, n_str * n_layers + row, L[k]["gamma"])
        scatter_add(g_sums, d, 2 * n_str * n_layers + row, L[k]["vega"])
        scatter_add(g_sums, d, 3 * n_str * n_layers + row, L[k]["theta"])
    if sv_nav.shape[0] > 0:
        sv_nav[s, d, p] = nav
        if s == 0:
            sv_spx[d, p] = spot
            sv_vix[d, p] = vix
    return nav


@register_jitable
def _regime(j, spx, vx, kq):
    """The pricing of regime ``j``: one-element views of its SPX and VIX table records (the tables' arrays
    are shared) and its row of ``kq`` as a tuple."""
    return (spx[0][j:j + 1], spx[1]), (vx[0][j:j + 1], vx[1]), (kq[j, 0], kq[j, 1], kq[j, 2], kq[j, 3], kq[j, 4], kq[j, 5], kq[j, 6], kq[j, 7], kq[j, 8], kq[j, 9])


@register_jitable
def _row_init(s, p, r, Lg, legsg, Hg, Rg, sigg, ctxg, accg, strat, sp, hp, cond, cal, spx_expiry, vix_expiry, spx_expiry_v, vix_expiry_v,
              spot, vs, vix, fut_slope, spot0, kq_j, rate, q, spx_j, vx_j, seeds, run_has_hedges, n_layers, h_nav, h_spx, h_vix, g_sums, hb, sv_nav,
              sv_spx, sv_vix):
    """Row ``r`` of the thread (strategy ``s``) at the start close: state reset, the ladder opened, the first
    hedge decision and day close."""
    st = strat[s]
    nk, nh, g, h0 = st["n_slots"], st["n_hedge"], st["slot0"], st["hedge0"]
    L, legs, H, R, ctx, acc = Lg[r], legsg[r], Hg[r], Rg[r:r + 1], ctxg[r:r + 1], accg[r]
    reset_slots(L, spot0)
    reset_hedges(H, spot0)
    for k in range(MAX_LAYERS):
        for leg in range(4):
            for f in range(legs.shape[2]):
                legs[k, leg, f] = -1.0 if f >= LEG_T_MARK else 0.0
    r0 = R[0]
    nav0 = st["nav"]
    r0["cash"], r0["interest"], r0["spent"], r0["nav"] = nav0, 0.0, 0.0, nav0
    r0["n_stops"], r0["n_rolls"], r0["n_entries"] = 0.0, 0.0, 0.0
    r0["peak_nav"], r0["have_prev_sig"] = nav0, False
    r0["rsi_s_prev"], r0["rsi_s_gain"], r0["rsi_s_loss"] = spot, seeds[0], seeds[0]
    r0["rsi_v_prev"], r0["rsi_v_gain"], r0["rsi_v_loss"] = vix, seeds[1], seeds[1]
    r0["macd_s_fast"], r0["macd_s_slow"], r0["macd_s_sig"], r0["macd_s_hist"] = spot, spot, 0.0, 0.0
    r0["macd_v_fast"], r0["macd_v_slow"], r0["macd_v_sig"], r0["macd_v_hist"] = vix, vix, 0.0, 0.0
    r0["term_slope"] = _term_slope(vs, vix, kq_j)
    r0["probe_loss"], r0["target_fraction"], r0["underhedge"], r0["allowance"] = 0.0, 0.0, 0.0, 0.0
    r0["probe_spot"], r0["probe_v"], r0["probe_v2"] = 0.0, 0.0, 0.0
    r0["front_t"], r0["front_dist"] = -1, 99.0
    # ---- day 0: open the ladder, first hedge decision
    flow, entries = ladder.enter(Lg, legsg, r, nk, spot, vs, 0, 0.0, 0.0, nav0, sp, g, st, spx_j, spx_expiry, spx_expiry_v)
    r0["n_entries"] += entries
    r0["cash"] += flow
    for k in range(nk):
        ladder.derive(L, legs, k)
    for j in range(nh):
        H[j]["key"] = hp[h0 + j]["price_key"]
    hedge.mark_all(Hg, Rg, r, nh, hp, h0, 0, vs, 0.0, 0.0, vx_j)
    nav = _nav(R, L, nk, H, nh, hp, h0)
    r0["prev_nav"], r0["prev_spot"] = nav, spot
    r0["prev_hedge_pnl"] = _hedge_pnl(H, nh, hp, h0)
    for k in range(nk):
        L[k]["prev_pnl"] = L[k]["realized"] - M * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])
    c = ctx[0]
    c["nav0"] = nav0
    c["t"] = 0
    n_front = 0
    for k in range(nk):
        if sp[g + k]["front"]:
            n_front += 1
    c["n_slots"], c["n_front"] = nk, n_front
    c["front_open"] = L[0]["n_put"] > 0.0 or L[0]["n_call"] > 0.0
    c["front_left"] = L[0]["expiry"]
    c["gamma"], c["hedge_gamma"], c["margin"] = 0.0, 0.0, 0.0
    c["entry7"] = L[st["slot7"]]["entry_time"] if st["slot7"] >= 0 else 0.0
    acc_init(acc, ctx, L, H)
    nav = _day_close(0, s, p, r, Lg, legsg, Rg, Hg, sigg[r], ctx, acc, st, hp, cond, cal, vix_expiry, vix_expiry_v, spot, vs, vix, fut_slope, nav, spot0, kq_j,
                     rate, q, spx_j, vx_j, run_has_hedges, n_layers, sp, h_nav, h_spx, h_vix, g_sums, hb, sv_nav, sv_spx, sv_vix)
    r0["nav"] = nav
    trace_point(1, 0, 0.0, L, legs, H, R, sigg[r], spot, vix, nav)


@jitable_inline
def _row_step(t, s, p, r, S, P, B, spot, vs, vix, fut_slope, spot0, kq_j, rate, q, spx_j, vx_j, run_has_hedges, n_layers):
    """Row ``r`` of the thread (strategy ``s``) through step ``t`` (the market has moved to ``spot, vs``).

    ``S``, ``P``, ``B``: the thread's state arrays, the parameter and calendar records, the band outputs, as
    :func:`run_path` packs them - few enough arguments for Numba to inline this function into the step
    loop on the CPU (CPython passes a call of more than 30 arguments as ``*args``, which Numba's inliner
    refuses; as a call, its ~280 scalars cost ~5% of the book, measured side by side)."""
    Lg, legsg, Hg, Rg, sigg, ctxg, accg = S
    strat, sp, hp, cond, cal, spx_expiry, vix_expiry, spx_expiry_v, vix_expiry_v = P
    h_nav, h_spx, h_vix, g_sums, hb, sv_nav, sv_spx, sv_vix = B
    st = strat[s]
    nk, nh, g, h0 = st["n_slots"], st["n_hedge"], st["slot0"], st["hedge0"]
    L, legs, H, R, ctx, acc = Lg[r], legsg[r], Hg[r], Rg[r:r + 1], ctxg[r:r + 1], accg[r]
    r0 = R[0]
    c = ctx[0]
    now, tv = cal[t]["now"], cal[t]["tv"]
    gr = cal[t]["growth"]
    r0["interest"] += r0["cash"] * (gr - 1.0)
    r0["cash"] = r0["cash"] * gr
    ladder.mark_all(Lg, legsg, r, nk, t, spot, vs, now, tv, spx_j)
    hedge.mark_all(Hg, Rg, r, nh, hp, h0, t, vs, now, tv, vx_j)
    trace_point(0, t, now, L, legs, H, R, sigg[r], spot, vix, r0["nav"])
    flow, stops = ladder.settle_and_exit(L, legs, nk, now, cal[t]["next_close"], sp, g, st)
    r0["n_stops"] += stops
    if stops > 0.0:
        f2, rolls = ladder.cascade(L, legs, nk, t, spot, vs, now, tv, sp, g, st, spx_j)
        flow += f2
        r0["n_rolls"] += rolls
    nav_pre = (r0["cash"] + flow) - ladder.value(L, nk) + hedge.position_value(H, nh, hp, h0)
    f3, entries = ladder.enter(Lg, legsg, r, nk, spot, vs, t, now, tv, nav_pre, sp, g, st, spx_j, spx_expiry, spx_expiry_v)
    flow += f3
    r0["n_entries"] += entries
    r0["cash"] += flow
    gamma = 0.0
    for k in range(nk):
        ladder.derive(L, legs, k)
        gamma += L[k]["gamma"]
    nav = _nav(R, L, nk, H, nh, hp, h0)
    c["t"], c["now"], c["gamma"], c["margin"] = t, now, gamma, ladder.margin(L, nk)
    c["front_open"] = L[0]["n_put"] > 0.0 or L[0]["n_call"] > 0.0
    c["front_left"] = L[0]["expiry"] - now
    near = c["front_open"] and c["front_left"] <= NEAR_EXPIRY_DAYS
    c["hedge_gamma"] = hedge.spx_gamma(H, nh, hp, h0, vs, now, tv, vx_j, spot, kq_j) if (near and nh > 0) else 0.0
    acc_step(acc, ctx, L, H)
    if cal[t]["end_of_day"]:
        nav = _day_close(t, s, p, r, Lg, legsg, Rg, Hg, sigg[r], ctx, acc, st, hp, cond, cal, vix_expiry, vix_expiry_v, spot, vs, vix, fut_slope, nav, spot0,
                         kq_j, rate, q, spx_j, vx_j, run_has_hedges, n_layers, sp, h_nav, h_spx, h_vix, g_sums, hb, sv_nav, sv_spx, sv_vix)
    r0["nav"] = nav
    trace_point(1, t, now, L, legs, H, R, sigg[r], spot, vix, nav)


@register_jitable
def _row_final(s, p, r, Lg, Hg, Rg, ctxg, accg, strat, hp, spot, vix, core, accs):
    """Row ``r``'s per-path outputs: ``core[:, s, p]`` and ``accs[:, s, p]``."""
    st = strat[s]
    nk, nh, h0 = st["n_slots"], st["n_hedge"], st["hedge0"]
    L, H, r0, acc = Lg[r], Hg[r], Rg[r], accg[r]
    acc_final(acc, ctxg[r:r + 1], L, H)
    core[0, s, p] = r0["nav"]
    core[1, s, p] = r0["interest"]
    core[2, s, p] = r0["spent"]
    core[3, s, p] = _hedge_pnl(H, nh, hp, h0)
    costs = 0.0
    for k in range(nk):
        costs += L[k]["costs"]
    for j in range(nh):
        costs += H[j]["costs"]
    core[4, s, p] = costs
    core[5, s, p] = r0["n_stops"]
    core[6, s, p] = r0["n_rolls"]
    core[7, s, p] = r0["n_entries"]
    core[8, s, p] = spot
    core[9, s, p] = vix
    for k in range(MAX_LAYERS):
        core[_LAYER_PNL + k, s, p] = (L[k]["realized"] - M * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])) if k < nk else 0.0
    for a in range(acc.shape[0]):
        accs[a, s, p] = acc[a]


@register_jitable
def run_path(i, rows, n_paths, start, seed, key, mk, steps, strat, sp, hp, cond, cal, spx_expiry, vix_expiry, spx_expiry_v, vix_expiry_v, spx, vx,
             kq, rate, q, spot0, v0, seeds, run_has_hedges, n_layers, Lg, legsg, Hg, Rg, sigg, ctxg, accg, core, accs, h_nav, h_spx, h_vix,
             g_sums, hb, sv_nav, sv_spx, sv_vix):
    """Run strategies ``rows g .. rows g + rows - 1`` (``g = i // n_paths``, those below ``strat.shape[0]``)
    on path ``start + i % n_paths`` (see the module docstring): the market moves once per step, then each
    row takes the step in order.

    ``Lg, legsg, Hg, Rg, sigg, ctxg, accg``: the thread's state, a leading axis of at least ``rows`` rows
    (:func:`gpu_alvh.strategy.state.local_state`); ``hb`` [rows + 2, days + 1] int32 the histogram bins the
    CPU notes per row and day close (the last two rows SPX and VIX; all -1 between paths), a dummy on CUDA
    (:func:`gpu_alvh.kernels.target.hist_add`).  ``spx = (rec, nu)``, ``vx = (rec, data)``: the SPX and
    VIX tables of every pricing regime (a record per regime); ``kq`` [n_regimes, 10]: per regime ``(a, b,
    a3, b3, rho sigma, lambda E[Z_v J], lambda E[J^2], a2, a3_2, rho2 sigma2)``, the pricing model's
    ``VIX^2 = a v + a2 v2 + b`` at 30 and 93 days, the P model's variance/price co-movement terms
    (:func:`gpu_alvh.strategy.hedge.vix_beta`) and its slow factor's.  The pricing state is ``vs = (v,
    v2)`` (``v2 = 0`` for one-factor models).  Step ``t`` runs in the regime ``steps[t - 1]["regime"]``
    (:func:`_regime`), the start close in ``mk[0]["regime"]``; ``seeds`` = (RSI seed move of SPX, of VIX):
    Wilder's averages start at the model's expected absolute daily move.
    """
    grp = i // n_paths
    p = i - grp * n_paths
    s0 = grp * rows
    nr = min(rows, strat.shape[0] - s0)
    path = start + p
    m = mk[0]
    j_now = m["regime"]
    spx_j, vx_j, kq_j = _regime(j_now, spx, vx, kq)
    x, v_state, v2_state = market.market_init(m, 0.0)  # v2: a two-factor model's slow variance (0 for one factor)
    e_dev, w_dev = 0.0, 0.0  # historical replay deviations
    spot, vs, vix = market.spot(x, m), (market.variance(v_state), market.variance(v2_state)), market.model_vix(v_state, v2_state, m, m)
    fut_slope = _fut_slope(vx_j, vs)
    for r in range(nr):
        _row_init(s0 + r, p, r, Lg, legsg, Hg, Rg, sigg, ctxg, accg, strat, sp, hp, cond, cal, spx_expiry, vix_expiry, spx_expiry_v, vix_expiry_v,
                  spot, vs, vix, fut_slope, spot0, kq_j, rate, q, spx_j, vx_j, seeds, run_has_hedges, n_layers, h_nav, h_spx, h_vix, g_sums, hb, sv_nav, sv_spx, sv_vix)
    n_steps = cal.shape[0] - 1
    slow = n_steps if m["factors"] == 2 else 0
    S = (Lg, legsg, Hg, Rg, sigg, ctxg, accg)
    P = (strat, sp, hp, cond, cal, spx_expiry, vix_expiry, spx_expiry_v, vix_expiry_v)
    B = (h_nav, h_spx, h_vix, g_sums, hb, sv_nav, sv_spx, sv_vix)
    for t in range(1, n_steps + 1):
        s_t = steps[t - 1]
        x, v_state, v2_state, e_dev, w_dev = market.advance(t, path, x, v_state, v2_state, e_dev, w_dev, m, s_t, steps[slow + t - 1], seed, key)
        spot, vs, vix = market.spot(x, m), (market.variance(v_state), market.variance(v2_state)), market.model_vix(v_state, v2_state, m, s_t)
        if s_t["regime"] != j_now:  # new views only when the regime changes
            j_now = s_t["regime"]
            spx_j, vx_j, kq_j = _regime(j_now, spx, vx, kq)
        fut_slope = _fut_slope(vx_j, vs) if cal[t]["end_of_day"] else 0.0  # read at day closes only
        for r in range(nr):
            _row_step(t, s0 + r, p, r, S, P, B, spot, vs, vix, fut_slope, spot0, kq_j, rate, q, spx_j, vx_j, run_has_hedges, n_layers)
    n_days1 = cal[n_steps]["day"] + 1
    for r in range(nr):
        _row_final(s0 + r, p, r, Lg, Hg, Rg, ctxg, accg, strat, hp, spot, vix, core, accs)
        hist_flush(hb, r, h_nav, (s0 + r) * n_days1)
    if s0 == 0:
        hist_flush(hb, hb.shape[0] - 2, h_spx, 0)
        hist_flush(hb, hb.shape[0] - 1, h_vix, 0)

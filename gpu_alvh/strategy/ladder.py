"""The iron-condor ladder of one strategy on one path: marks, exits, cascade, re-entry (per-path code).

State: ``L[k]`` and ``legs[k, leg, field]`` (:mod:`gpu_alvh.strategy.state`), ``k < n`` local slots of
the row (DTE order); parameters ``sp[g + k]`` (:data:`gpu_alvh.strategy.params.SLOT_P`) and the row's
``st`` (:data:`~gpu_alvh.strategy.params.STRAT`: SPX costs).  Each slot holds one iron condor as two
verticals (put side: short ``kps`` / long ``kpl``; call side: short ``kcs`` / long ``kcl``) with their
own contract counts and mid credits per contract (index points).

Rules (SPEC section 6), checked on mid marks at every step.  A condor's *life* runs from its entry to
its close; a cascade roll of one side continues it (same entry credit, its P&L carried on).  Its mid
P&L is ``life_mid - value`` (mid credits received minus mid debits paid over the life, minus the mid
value of what is open) and it is judged against its **entry credit** ``credit0`` (points x contracts):

* profit target: ``P&L >= profit_target credit0`` (without a roll: ``value <= (1 - profit_target) credit``);
* stop: ``-P&L >= stop_multiple credit0`` (without a roll: ``value - credit >= stop_multiple credit``);
* time exit: on the last step at or before the exit DTE - ``DTE <= exit_dte``, or the next session's close
  is already past it (``expiry - next close < exit_dte``: a Monday or post-holiday expiry exits at the
  session before the gap); cash settlement at expiry (intrinsic value, no costs);
* a closed layer re-opens on the next step at its DTE (``reopen_next`` -> ``reopen``; a layer whose
  sizing gives no contract stays due); sizing ``floor(max_loss_pct% NAV / ((max wing - credit) 100))``;
* cascade: a stopped slot rolls the tested side (short strike nearer the spot in log-moneyness) of the
  next ``depth`` slots back to the target delta, same expiry and width; ``fraction`` of its contracts is
  re-opened, the rest closed (a roll that leaves the slot empty ends its life, counted in no outcome).

Each close records its outcome (``L[k].outcome``: target, stop, time, expiry) for the accumulators.

Costs are quoted per vertical, as a package: half-spread ``hs = hs_short + hs_long`` with
``hs_leg = half_spread_points + half_spread_pct |leg price|``, and the package quote kept inside the
vertical's bounds ``[0, width]``: a vertical is bought back at ``min(mid + hs, width)`` and sold at
``max(mid - hs, 0)`` (mids themselves clipped to ``[0, width]``).  Closing a condor therefore never
costs more than ``100 width`` per contract plus commissions, however deep in the money its legs are.
Cash flows per vertical contract: open ``100 bid - 2 commission``, close ``-100 ask - 2 commission``,
settlement ``-100 intrinsic``.  Every flow goes into ``realized`` so a layer's P&L is
``realized - 100 (n_put val_put + n_call val_call)`` and NAV balances exactly.  Legs of sides with no
contracts are not marked (their marks are never read).

Rows of one thread (:func:`gpu_alvh.strategy.engine.run_path`) see the same market, so a side that an
earlier row of the thread holds too - same expiry, same strikes - has the same marks, one-day prices and
probe prices: :func:`twin` finds it by the step stamps of its legs, and the row copies the numbers
instead of pricing them again (bit for bit what it would compute; the ladders of ALVH and of most of its
baselines coincide strike for strike until a cascade or a sizing of zero sets them apart).  A slot due
for entry likewise takes the candidate (strikes and their marks) an earlier row's slot of the same
entry key computed at the step (:func:`enter`).
"""

from __future__ import annotations

import math

from ..kernels.floats import jitable as register_jitable
from ..kernels.floats import jitable_inline

from . import marks
from .state import (LEG_DELTA, LEG_GAMMA, LEG_NEXT, LEG_PRICE, LEG_PROBE, LEG_T_MARK, LEG_T_NEXT, LEG_T_PROBE, LEG_VEGA, OUT_EXPIRY, OUT_STOP,
                    OUT_TARGET, OUT_TIME)

__all__ = ["mark_all", "derive", "value", "settle_and_exit", "cascade", "enter", "margin", "probe_loss", "theta_day", "twin"]

M = 100.0  # SPX multiplier
GRID = 5.0  # SPX strike grid


@register_jitable
def _tau(L, k, now):
    """Calendar years to the slot's expiry (discounting, carry)."""
    return max(L[k]["expiry"] - now, 0.0) / 365.0


@register_jitable
def _tau_v(L, k, tv):
    """Variance years to the slot's expiry (the clock of the price: sessions left / 252)."""
    return max(L[k]["expiry_v"] - tv, 0.0)


@register_jitable
def _vertical(legs, k, a, width):
    """Mid value of the vertical short leg ``a`` / long leg ``a + 1`` (points), inside ``[0, width]``."""
    return min(max(legs[k, a, LEG_PRICE] - legs[k, a + 1, LEG_PRICE], 0.0), max(width, 0.0))


@register_jitable
def derive(L, legs, k):
    """Side values (points per contract) and position delta, gamma, vega ($ per point etc.) from the leg marks
    (theta: :func:`theta_day`, at day closes)."""
    L[k]["val_put"] = _vertical(legs, k, 0, L[k]["kps"] - L[k]["kpl"])
    L[k]["val_call"] = _vertical(legs, k, 2, L[k]["kcl"] - L[k]["kcs"])
    npt, nc = L[k]["n_put"], L[k]["n_call"]
    L[k]["delta"] = M * (npt * (legs[k, 1, LEG_DELTA] - legs[k, 0, LEG_DELTA]) + nc * (legs[k, 3, LEG_DELTA] - legs[k, 2, LEG_DELTA]))
    L[k]["gamma"] = M * (npt * (legs[k, 1, LEG_GAMMA] - legs[k, 0, LEG_GAMMA]) + nc * (legs[k, 3, LEG_GAMMA] - legs[k, 2, LEG_GAMMA]))
    L[k]["vega"] = M * (npt * (legs[k, 1, LEG_VEGA] - legs[k, 0, LEG_VEGA]) + nc * (legs[k, 3, LEG_VEGA] - legs[k, 2, LEG_VEGA]))


@register_jitable
def twin(Lg, legsg, r, k, a, f_t, t):
    """An earlier row's copy of a side: ``(rr, kk)`` with ``rr < r`` whose slot ``kk`` holds the side ``a``
    (0: put, 2: call) of row ``r``'s slot ``k`` - same expiry (calendar and variance clock), same two
    strikes - with leg field ``f_t`` (:data:`LEG_T_MARK`, :data:`LEG_T_NEXT` or :data:`LEG_T_PROBE`) at
    step ``t``: its legs ``a, a + 1`` then hold the numbers row ``r`` would compute.  ``(-1, -1)`` if none.

    ``Lg`` [rows, MAX_LAYERS], ``legsg`` [rows, MAX_LAYERS, 4, N_LEG_FIELDS]: the thread's group."""
    e, ev = Lg[r, k]["expiry"], Lg[r, k]["expiry_v"]
    k1 = Lg[r, k]["kcs"] if a == 2 else Lg[r, k]["kps"]
    k2 = Lg[r, k]["kcl"] if a == 2 else Lg[r, k]["kpl"]
    for rr in range(r):
        for kk in range(Lg.shape[1]):
            if legsg[rr, kk, a, f_t] == t and Lg[rr, kk]["expiry_v"] == ev and Lg[rr, kk]["expiry"] == e:
                if (Lg[rr, kk]["kcs"] if a == 2 else Lg[rr, kk]["kps"]) == k1 and (Lg[rr, kk]["kcl"] if a == 2 else Lg[rr, kk]["kpl"]) == k2:
                    return rr, kk
    return -1, -1


@jitable_inline
def _stamp(legs, k, a, f_t, t):
    legs[k, a, f_t] = t
    legs[k, a + 1, f_t] = t


@jitable_inline  # inlined on the CPU: called per side, several times a step; a call passing arrays costs more than its work
def _copy(legs, k, a, src, kk, f0, f1):
    """Leg fields ``f0 .. f1 - 1`` of legs ``a, a + 1`` from ``src[kk]`` (another row's legs)."""
    for leg in range(a, a + 2):
        for f in range(f0, f1):
            legs[k, leg, f] = src[kk, leg, f]


@register_jitable
def _from_twins(Lg, legsg, r, k, f_t, f0, f1, t):
    """Copy leg fields ``f0 .. f1 - 1`` of each open side of row ``r``'s slot ``k`` from an earlier row's
    twin (:func:`twin`, stamp field ``f_t`` at step ``t``); returns ``(put, call)``: the open sides left to price."""
    legs = legsg[r]
    put, call = Lg[r, k]["n_put"] > 0.0, Lg[r, k]["n_call"] > 0.0
    if put:
        rp, kp = twin(Lg, legsg, r, k, 0, f_t, t)
        if rp >= 0:
            _copy(legs, k, 0, legsg[rp], kp, f0, f1)
            put = False
    if call:
        rc, kc = twin(Lg, legsg, r, k, 2, f_t, t)
        if rc >= 0:
            _copy(legs, k, 2, legsg[rc], kc, f0, f1)
            call = False
    return put, call


@register_jitable
def mark_all(Lg, legsg, r, n, t, spot, vs, now, tv, spx):
    """Mark the open sides of every slot of row ``r`` at mid (IV table + Black-Scholes; a side an earlier
    row holds too is copied, :func:`twin`), then derive (the exit rules read the side values; after the
    step's trades the engine derives every slot again)."""
    L, legs = Lg[r], legsg[r]
    for k in range(n):
        put, call = _from_twins(Lg, legsg, r, k, LEG_T_MARK, LEG_PRICE, LEG_VEGA + 1, t)
        if put or call:
            ctx = marks.spx_ctx(spx, spot, vs, _tau(L, k, now), _tau_v(L, k, tv))
            if put:
                marks.mark_leg(spx, ctx, L[k]["kps"], False, legs, k, 0)
                marks.mark_leg(spx, ctx, L[k]["kpl"], False, legs, k, 1)
            if call:
                marks.mark_leg(spx, ctx, L[k]["kcs"], True, legs, k, 2)
                marks.mark_leg(spx, ctx, L[k]["kcl"], True, legs, k, 3)
        if L[k]["n_put"] > 0.0:
            _stamp(legs, k, 0, LEG_T_MARK, t)
        if L[k]["n_call"] > 0.0:
            _stamp(legs, k, 2, LEG_T_MARK, t)
        derive(L, legs, k)


@register_jitable
def value(L, n):
    """Liability of the ladder at mid, $ (>= 0)."""
    total = 0.0
    for k in range(n):
        total += M * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])
    return total


@register_jitable
def _hs(legs, k, leg, pts, pct):
    return pts + pct * abs(legs[k, leg, LEG_PRICE])


@register_jitable
def _close(L, legs, k, put, call, settle, st):
    """Close the masked sides of slot ``k`` at the package ask (or settle at intrinsic); returns the $ flow."""
    comm = st["spx_comm"]
    npt, nc = L[k]["n_put"], L[k]["n_call"]
    vp, vc = L[k]["val_put"], L[k]["val_call"]
    if settle:
        fp = -M * npt * vp
        fc = -M * nc * vc
    else:
        pts, pct = st["spx_hs_pts"], st["spx_hs_pct"]
        ask_p = min(vp + _hs(legs, k, 0, pts, pct) + _hs(legs, k, 1, pts, pct), max(L[k]["kps"] - L[k]["kpl"], vp))
        ask_c = min(vc + _hs(legs, k, 2, pts, pct) + _hs(legs, k, 3, pts, pct), max(L[k]["kcl"] - L[k]["kcs"], vc))
        fp = -M * npt * ask_p - 2.0 * comm * npt
        fc = -M * nc * ask_c - 2.0 * comm * nc
        if put:
            L[k]["costs"] += M * npt * (ask_p - vp) + 2.0 * comm * npt
        if call:
            L[k]["costs"] += M * nc * (ask_c - vc) + 2.0 * comm * nc
    flow = (fp if put else 0.0) + (fc if call else 0.0)
    L[k]["realized"] += flow
    if put:
        L[k]["life_mid"] -= npt * vp
        L[k]["n_put"] = 0.0
    if call:
        L[k]["life_mid"] -= nc * vc
        L[k]["n_call"] = 0.0
    return flow


@register_jitable
def settle_and_exit(L, legs, n, now, next_close, sp, g, st):
    """Settle expired slots, then apply profit target / stop / time exit (module docstring); sets
    ``L[k].stopped`` and ``L[k].outcome`` (``next_close``: the next day close after this step, calendar days).

    Returns ``(cash flow $, number of stops)``."""
    flow = 0.0
    stops = 0.0
    for k in range(n):
        L[k]["stopped"] = False
        L[k]["rolled"] = False
        L[k]["outcome"] = 0
        if not (L[k]["n_put"] > 0.0 or L[k]["n_call"] > 0.0):
            continue
        if L[k]["expiry"] <= now + 1e-9:
            flow += _close(L, legs, k, True, True, True, st)
            L[k]["reopen_next"] = True
            L[k]["outcome"] = OUT_EXPIRY
            continue
        p = sp[g + k]
        credit = L[k]["credit0"]
        pnl = L[k]["life_mid"] - (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])
        take = pnl >= p["profit_target"] * credit
        stop = (not take) and (-pnl >= p["stop_multiple"] * credit)
        left = L[k]["expiry"] - now
        timed = (not take) and (not stop) and (left <= p["exit_dte"] + 1e-9 or L[k]["expiry"] - next_close < p["exit_dte"] - 1e-9)
        if take or stop or timed:
            flow += _close(L, legs, k, True, True, False, st)
            L[k]["reopen_next"] = True
            L[k]["outcome"] = OUT_TARGET if take else (OUT_STOP if stop else OUT_TIME)
            if stop:
                L[k]["stopped"] = True
                stops += 1.0
    return flow, stops


@register_jitable
def _open_side(L, legs, k, is_call, spot, vs, tau, tau_v, delta, width, ncon, st, spx, t):
    """Open ``ncon`` verticals on one side of slot ``k`` at step ``t``: short at |delta| ``delta``, long
    ``width`` further out (``width < 0``: keep the slot's current width); returns the $ flow (credit net of
    costs)."""
    ks = marks.strike_for_delta(spx, spot, vs, tau, tau_v, delta, is_call)
    if is_call:
        kl = ks + (max(L[k]["kcl"] - L[k]["kcs"], GRID) if width < 0.0 else width)
        a = 2
    else:
        kl = max(ks - (max(L[k]["kps"] - L[k]["kpl"], GRID) if width < 0.0 else width), GRID)
        a = 0
    ctx = marks.spx_ctx(spx, spot, vs, tau, tau_v)
    marks.mark_leg(spx, ctx, ks, is_call, legs, k, a)
    marks.mark_leg(spx, ctx, kl, is_call, legs, k, a + 1)
    _stamp(legs, k, a, LEG_T_MARK, t)
    return _book_side(L, legs, k, is_call, ks, kl, ncon, st)


@register_jitable
def _book_side(L, legs, k, is_call, ks, kl, ncon, st):
    """Sell ``ncon`` verticals (short ``ks``, long ``kl``) at the package bid; returns the $ flow."""
    a = 2 if is_call else 0
    pts, pct, comm = st["spx_hs_pts"], st["spx_hs_pct"], st["spx_comm"]
    cr = _vertical(legs, k, a, abs(kl - ks))
    bid = max(cr - _hs(legs, k, a, pts, pct) - _hs(legs, k, a + 1, pts, pct), 0.0)
    if is_call:
        L[k]["kcs"], L[k]["kcl"], L[k]["cr_call"], L[k]["n_call"] = ks, kl, cr, ncon
    else:
        L[k]["kps"], L[k]["kpl"], L[k]["cr_put"], L[k]["n_put"] = ks, kl, cr, ncon
    L[k]["costs"] += M * ncon * (cr - bid) + 2.0 * comm * ncon
    L[k]["life_mid"] += ncon * cr
    flow = M * ncon * bid - 2.0 * comm * ncon
    L[k]["realized"] += flow
    return flow


@register_jitable
def cascade(L, legs, n, t, spot, vs, now, tv, sp, g, st, spx):
    """After stops at step ``t``: roll the tested side of the next ``depth`` open, unstopped slots; returns
    the $ flow and the number of rolls."""
    flow = 0.0
    rolls = 0.0
    for k in range(1, n):
        hit = False
        for src in range(k):
            p = sp[g + src]
            if L[src]["stopped"] and p["cascade_on"] and k - src <= p["cascade_depth"]:
                hit = True
        if not hit or L[k]["stopped"] or not (L[k]["n_put"] > 0.0 or L[k]["n_call"] > 0.0):
            continue
        put_t = math.log(spot / max(L[k]["kps"], 1e-12)) <= math.log(max(L[k]["kcs"], 1e-12) / spot) and L[k]["n_put"] > 0.0
        call_t = (not put_t) and L[k]["n_call"] > 0.0
        if not (put_t or call_t):
            continue
        old = L[k]["n_put"] if put_t else L[k]["n_call"]
        flow += _close(L, legs, k, put_t, call_t, False, st)
        p = sp[g + k]
        n_new = math.floor(p["cascade_fraction"] * old + 1e-9)
        flow += _open_side(L, legs, k, call_t, spot, vs, _tau(L, k, now), _tau_v(L, k, tv), p["short_delta"], -1.0, n_new, st, spx, t)
        rolls += 1.0
        L[k]["rolled"] = True
        L[k]["life_rolls"] += 1.0
        if not (L[k]["n_put"] > 0.0 or L[k]["n_call"] > 0.0):  # nothing re-opened: the roll ended the life
            L[k]["reopen_next"] = True
    return flow, rolls


@register_jitable
def _entry_twin(Lg, r, key, t):
    """An earlier row's entry candidate ``(rr, kk)``, ``rr < r``, of entry key ``key`` at step ``t`` (its
    strikes ``e_k*`` and, in its legs, their marks: the numbers row ``r`` would compute); ``(-1, -1)`` if none."""
    for rr in range(r):
        for kk in range(Lg.shape[1]):
            if Lg[rr, kk]["t_enter"] == t and Lg[rr, kk]["e_key"] == key:
                return rr, kk
    return -1, -1


@register_jitable
def enter(Lg, legsg, r, n, spot, vs, t, now, tv, nav, sp, g, st, spx, spx_expiry, spx_expiry_v):
    """Open a new condor on every slot of row ``r`` due for (re-)entry (sized on ``nav``), then roll the
    flags.  The candidate - strikes at the target deltas and their marks - depends on the market and the
    slot's entry parameters only, so a slot takes an earlier row's candidate of the same entry key at this
    step (:func:`_entry_twin`) instead of searching and pricing it again.

    Returns ``(cash flow $, entries)``."""
    L, legs = Lg[r], legsg[r]
    flow = 0.0
    entries = 0.0
    for k in range(n):
        if L[k]["reopen"] and nav > 0.0:
            p = sp[g + k]
            expiry = spx_expiry[t, p["dte_col"]]
            expiry_v = spx_expiry_v[t, p["dte_col"]]
            # the slot is empty (a due slot was closed on both sides), so its leg marks can be overwritten
            rr, kk = _entry_twin(Lg, r, p["entry_key"], t)
            if rr >= 0:
                src = Lg[rr, kk]
                kps, kpl, kcs, kcl = src["e_kps"], src["e_kpl"], src["e_kcs"], src["e_kcl"]
                _copy(legs, k, 0, legsg[rr], kk, LEG_PRICE, LEG_VEGA + 1)
                _copy(legs, k, 2, legsg[rr], kk, LEG_PRICE, LEG_VEGA + 1)
            else:
                tau = (expiry - now) / 365.0
                tau_v = expiry_v - tv
                d = p["short_delta"]
                kps = marks.strike_for_delta(spx, spot, vs, tau, tau_v, d, False)
                kcs = marks.strike_for_delta(spx, spot, vs, tau, tau_v, d, True)
                w = p["wing_width"]
                kpl, kcl = kps - w, kcs + w
                if p["use_wing_delta"]:
                    kpl = min(marks.strike_for_delta(spx, spot, vs, tau, tau_v, p["wing_delta"], False), kps - GRID)
                    kcl = max(marks.strike_for_delta(spx, spot, vs, tau, tau_v, p["wing_delta"], True), kcs + GRID)
                kpl = max(kpl, GRID)
                ctx = marks.spx_ctx(spx, spot, vs, tau, tau_v)
                marks.mark_leg(spx, ctx, kps, False, legs, k, 0)
                marks.mark_leg(spx, ctx, kpl, False, legs, k, 1)
                marks.mark_leg(spx, ctx, kcs, True, legs, k, 2)
                marks.mark_leg(spx, ctx, kcl, True, legs, k, 3)
            L[k]["e_key"], L[k]["t_enter"] = p["entry_key"], t
            L[k]["e_kps"], L[k]["e_kpl"], L[k]["e_kcs"], L[k]["e_kcl"] = kps, kpl, kcs, kcl
            # the legs now hold the marks of strikes the slot may not take (no contract): stamped only if booked
            _stamp(legs, k, 0, LEG_T_MARK, -1.0)
            _stamp(legs, k, 2, LEG_T_MARK, -1.0)
            credit = _vertical(legs, k, 0, kps - kpl) + _vertical(legs, k, 2, kcl - kcs)
            max_loss = M * (max(kps - kpl, kcl - kcs) - credit)
            budget = p["max_loss_pct"] / 100.0 * nav
            ncon = math.floor(max(budget, 0.0) / max(max_loss, 1.0))
            if ncon > 0.0:
                L[k]["life_start"] = L[k]["realized"]
                L[k]["life_mid"] = 0.0
                L[k]["life_rolls"] = 0.0
                flow += _book_side(L, legs, k, False, kps, kpl, ncon, st)
                flow += _book_side(L, legs, k, True, kcs, kcl, ncon, st)
                L[k]["credit0"] = L[k]["life_mid"]
                _stamp(legs, k, 0, LEG_T_MARK, t)
                _stamp(legs, k, 2, LEG_T_MARK, t)
                L[k]["expiry"] = expiry
                L[k]["expiry_v"] = expiry_v
                L[k]["entry_time"] = now
                L[k]["reopen"] = False
                entries += 1.0
        L[k]["reopen"] = L[k]["reopen"] or L[k]["reopen_next"]
        L[k]["reopen_next"] = False
    return flow, entries


@register_jitable
def _price_next(Lg, legsg, r, k, a, ctx, spx):
    """One-day prices (:data:`LEG_NEXT`) of side ``a`` (0: put, 2: call) of row ``r``'s slot ``k`` in ``ctx``
    (the slot's state one day later)."""
    legs = legsg[r]
    is_call = a == 2
    legs[k, a, LEG_NEXT] = marks.leg_price(spx, ctx, Lg[r, k]["kcs"] if is_call else Lg[r, k]["kps"], is_call)
    legs[k, a + 1, LEG_NEXT] = marks.leg_price(spx, ctx, Lg[r, k]["kcl"] if is_call else Lg[r, k]["kpl"], is_call)


@register_jitable
def theta_day(Lg, legsg, r, n, t, spot, vs, now, tv, dcal_next, spx):
    """Position theta of every slot of row ``r``, $ per trading day: the change of its mark from now to the
    next day close (``dcal_next`` calendar years, 1/252 variance years later) at unchanged spot and
    variance state - the one-day change of the mark on a day with no move, by construction, smile
    roll-down included.  A side an earlier row holds too takes that row's one-day prices (:func:`twin`);
    the slice of the later state is computed only for a slot with a side to price."""
    L, legs = Lg[r], legsg[r]
    for k in range(n):
        npt, nc = L[k]["n_put"], L[k]["n_call"]
        if not (npt > 0.0 or nc > 0.0):
            L[k]["theta"] = 0.0
            continue
        put, call = _from_twins(Lg, legsg, r, k, LEG_T_NEXT, LEG_NEXT, LEG_NEXT + 1, t)
        if put or call:
            ctx = marks.spx_ctx(spx, spot, vs, max(_tau(L, k, now) - dcal_next, 0.0), max(_tau_v(L, k, tv) - 1.0 / 252.0, 0.0))
            if put:
                _price_next(Lg, legsg, r, k, 0, ctx, spx)
            if call:
                _price_next(Lg, legsg, r, k, 2, ctx, spx)
        d = 0.0
        if npt > 0.0:
            _stamp(legs, k, 0, LEG_T_NEXT, t)
            d += npt * ((legs[k, 1, LEG_NEXT] - legs[k, 1, LEG_PRICE]) - (legs[k, 0, LEG_NEXT] - legs[k, 0, LEG_PRICE]))
        if nc > 0.0:
            _stamp(legs, k, 2, LEG_T_NEXT, t)
            d += nc * ((legs[k, 3, LEG_NEXT] - legs[k, 3, LEG_PRICE]) - (legs[k, 2, LEG_NEXT] - legs[k, 2, LEG_PRICE]))
        L[k]["theta"] = M * d


@register_jitable
def margin(L, n):
    """Reg-T margin of the ladder, $: per condor wider wing x 100 - credit, both sides paired."""
    total = 0.0
    for k in range(n):
        wide = max(L[k]["n_put"] * (L[k]["kps"] - L[k]["kpl"]), L[k]["n_call"] * (L[k]["kcl"] - L[k]["kcs"]))
        total += max(M * (wide - L[k]["n_put"] * L[k]["cr_put"] - L[k]["n_call"] * L[k]["cr_call"]), 0.0)
    return total


@register_jitable
def _probe_twin(Lg, legsg, Rg, r, k, a, t):
    """:func:`twin` for probe prices, from a row whose probe state (``R.probe_*``) is row ``r``'s."""
    rr, kk = twin(Lg, legsg, r, k, a, LEG_T_PROBE, t)
    if rr >= 0 and Rg[rr]["probe_spot"] == Rg[r]["probe_spot"] and Rg[rr]["probe_v"] == Rg[r]["probe_v"] and Rg[rr]["probe_v2"] == Rg[r]["probe_v2"]:
        return rr, kk
    return -1, -1


@register_jitable
def probe_loss(Lg, legsg, Rg, r, n, t, spot_p, vs_p, now, tv, spx):
    """Loss of row ``r``'s ladder under a probe state (spot_p, vs_p) at the current time: probe value -
    value, $.  The probe prices go to :data:`LEG_PROBE` (a side an earlier row holds under the same probe
    state takes that row's, :func:`twin`)."""
    L, legs = Lg[r], legsg[r]
    Rg[r]["probe_spot"], Rg[r]["probe_v"], Rg[r]["probe_v2"] = spot_p, vs_p[0], vs_p[1]
    total = 0.0
    for k in range(n):
        put, call = L[k]["n_put"] > 0.0, L[k]["n_call"] > 0.0
        if not (put or call):
            continue
        price_p, price_c = put, call
        if put:
            rp, kp = _probe_twin(Lg, legsg, Rg, r, k, 0, t)
            if rp >= 0:
                _copy(legs, k, 0, legsg[rp], kp, LEG_PROBE, LEG_PROBE + 1)
                price_p = False
        if call:
            rc, kc = _probe_twin(Lg, legsg, Rg, r, k, 2, t)
            if rc >= 0:
                _copy(legs, k, 2, legsg[rc], kc, LEG_PROBE, LEG_PROBE + 1)
                price_c = False
        if price_p or price_c:
            ctx = marks.spx_ctx(spx, spot_p, vs_p, _tau(L, k, now), _tau_v(L, k, tv))
            if price_p:
                legs[k, 0, LEG_PROBE] = marks.leg_price(spx, ctx, L[k]["kps"], False)
                legs[k, 1, LEG_PROBE] = marks.leg_price(spx, ctx, L[k]["kpl"], False)
            if price_c:
                legs[k, 2, LEG_PROBE] = marks.leg_price(spx, ctx, L[k]["kcs"], True)
                legs[k, 3, LEG_PROBE] = marks.leg_price(spx, ctx, L[k]["kcl"], True)
        vp = 0.0
        vc = 0.0
        if put:
            _stamp(legs, k, 0, LEG_T_PROBE, t)
            vp = min(max(legs[k, 0, LEG_PROBE] - legs[k, 1, LEG_PROBE], 0.0), L[k]["kps"] - L[k]["kpl"])
        if call:
            _stamp(legs, k, 2, LEG_T_PROBE, t)
            vc = min(max(legs[k, 2, LEG_PROBE] - legs[k, 3, LEG_PROBE], 0.0), L[k]["kcl"] - L[k]["kcs"])
        total += M * (L[k]["n_put"] * vp + L[k]["n_call"] * vc) - M * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])
    return total

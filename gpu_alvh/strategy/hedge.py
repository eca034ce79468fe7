"""The adaptive VIX hedge overlay of one strategy on one path, run at each day close (per-path code).

State ``H[j]`` (:data:`gpu_alvh.strategy.state.HSLOT`), ``j < n`` local hedge slots of the row in hedge-layer
order; parameters ``hp[h0 + j]`` (:data:`gpu_alvh.strategy.params.HEDGE_P`): the instrument as weighted legs
(VIX calls at ``k1 + step * width``, or the future), weight, strike offset, width, tenor columns,
rebalancing band, time-shift, monetisation, costs.

Each day, per hedge layer in order:

1. **settle** at expiry (options at intrinsic on the step's VIX, futures at ``VIX - entry``);
2. **time-shift**: below ``time_shift_dte`` sell, and remember the probe coverage to re-buy at the next
   expiry (the notional migrates);
3. **monetise**: sell ``fraction`` once when worth ``value_multiple`` x cost or VIX above ``vix_above``;
4. **size and buy**: target ``weight f max(probe loss, 0)`` (``f`` the ramped target fraction, cut by
   the event under-hedge for flagged layers); an active layer (condition true, VIX not above the
   monetisation level) whose probe coverage is below ``(1 - band)`` x target buys up to it - at the open
   position's strikes, or a new position at the regime's tenor (contango: term slope above the
   threshold) and strike ``round(F (1 + offset))``; a time-shifted layer re-buys its coverage even when
   inactive.  Purchases are capped by the strategy's premium allowance (costs included; futures count
   costs plus the contango carry ``max(F - VIX, 0) x 1000``), shared by the layers in list order.

Costs per unit: ``multiplier x sum |w| (points + pct |leg price|) + commission x sum |w|``.
"""

from __future__ import annotations

import math

from ..kernels.floats import jitable as register_jitable

from . import marks

__all__ = ["unit_value", "mark_all", "position_value", "daily", "coverage", "slot_pnl", "vix_beta", "spx_gamma"]

VIX_GRID = 1.0
FD_VAR_FLOOR = 1e-3  # smallest variance step of the hedges' SPX-equivalent gamma (decimal variance)


@register_jitable
def _leg_price(vx, ctx, p, i, k1):
    """Price of leg ``i`` (index points) in the slice ``ctx``: a VIX call at ``k1 + step_i width``, or the future."""
    if p["is_future"]:
        return ctx[0]
    step = p["leg_step0"] if i == 0 else (p["leg_step1"] if i == 1 else p["leg_step2"])
    return marks.vix_price(vx, ctx, k1 + step * p["width"], True)


@register_jitable
def _weight(p, i):
    return p["leg_w0"] if i == 0 else (p["leg_w1"] if i == 1 else p["leg_w2"])


@register_jitable
def _unit_and_hs(vx, p, v, tau, tau_v, k1):
    """Value per unit (futures: the futures price) and half-spread per unit (index points); ``tau``
    calendar years (discounting), ``tau_v`` variance years (the law of the VIX at expiry)."""
    u = 0.0
    hs = 0.0
    ctx = marks.vix_ctx(vx, v, tau, tau_v)
    for i in range(p["n_legs"]):
        px = _leg_price(vx, ctx, p, i, k1)
        w = _weight(p, i)
        u = px * w if i == 0 else u + w * px
        term = abs(w) * (p["hs_pts"] + p["hs_pct"] * abs(px))
        hs = term if i == 0 else hs + term
    return u, hs


@register_jitable
def unit_value(vx, p, v, tau, tau_v, k1):
    """Value per unit (index points; futures: the futures price) at variance ``v``, expiry ``tau`` (calendar
    years) / ``tau_v`` (variance years)."""
    return _unit_and_hs(vx, p, v, tau, tau_v, k1)[0]


@register_jitable
def _payoff(p, vix, k1):
    if p["is_future"]:
        return vix
    total = 0.0
    for i in range(p["n_legs"]):
        step = p["leg_step0"] if i == 0 else (p["leg_step1"] if i == 1 else p["leg_step2"])
        c = max(vix - (k1 + step * p["width"]), 0.0)
        total = _weight(p, i) * c if i == 0 else total + _weight(p, i) * c
    return total


@register_jitable
def _cost(p, hs, ncon):
    """Half-spread plus commission for trading ``ncon`` units, $."""
    return ncon * (p["multiplier"] * hs + p["comm"] * p["abs_weight"])


@register_jitable
def mark_all(H, n, hp, h0, v, now, tv, vx):
    """Unit values and half-spreads of the open positions at the current state (the day's overlay cycle,
    at the same state, reuses them)."""
    for j in range(n):
        if H[j]["n"] > 0.0:
            H[j]["unit"], H[j]["hs"] = _unit_and_hs(vx, hp[h0 + j], v, max(H[j]["expiry"] - now, 0.0) / 365.0,
                                                    max(H[j]["expiry_v"] - tv, 0.0), H[j]["k1"])


@register_jitable
def position_value(H, n, hp, h0):
    """Mark-to-market of the hedges, $ (futures against their entry price)."""
    total = 0.0
    for j in range(n):
        p = hp[h0 + j]
        if p["is_future"]:
            total += H[j]["n"] * p["multiplier"] * (H[j]["unit"] - H[j]["entry_px"])
        else:
            total += H[j]["n"] * p["multiplier"] * H[j]["unit"]
    return total


@register_jitable
def slot_pnl(H, j, p):
    """P&L of hedge slot ``j`` so far, $: realised flows plus the mark of the open position (futures
    against their entry price) at its last marks."""
    mark = H[j]["unit"] - H[j]["entry_px"] if p["is_future"] else H[j]["unit"]
    return H[j]["realized"] + (H[j]["n"] * p["multiplier"] * mark if H[j]["n"] > 0.0 else 0.0)


@register_jitable
def vix_beta(v, kq):
    """The model's own regression of the variance move on the log-SPX move over an instant,
    ``beta(v) = d<v, x> / d<x, x> = (rho sigma v + lambda E[Z_v J]) / (v + lambda E[J^2])`` (decimal variance
    per unit log return; ``kq[4:7] = (rho sigma, lambda E[Z_v J], lambda E[J^2])`` of the P model)."""
    return (kq[4] * v + kq[5]) / max(v + kq[6], 1e-12)


@register_jitable
def spx_gamma(H, n, hp, h0, v, now, tv, vx, spot, kq):
    """SPX-equivalent gamma of the open hedges, $ per index point^2 (the ladder's gamma units).

    Along the model's regression line ``dv = beta dlog S`` (:func:`vix_beta`, beta held at the current
    state) the hedges' value ``V(v)`` moves with SPX as ``dV/dS = V_v beta / S`` and
    ``d^2V/dS^2 = (V_vv beta^2 - V_v beta) / S^2``; ``V_v``, ``V_vv`` by central differences of the table
    values at ``v_c +- h``, ``h = max(0.1 v, 1e-3)``, ``v_c = max(v, h)`` (a variance near 0 is read one
    step up: the table's kinks make smaller steps noise)."""
    beta = vix_beta(v, kq)
    h = max(0.1 * v, FD_VAR_FLOOR)
    v = max(v, h)
    up = 0.0
    mid = 0.0
    dn = 0.0
    for j in range(n):
        if H[j]["n"] > 0.0:
            p = hp[h0 + j]
            tau = max(H[j]["expiry"] - now, 0.0) / 365.0
            tau_v = max(H[j]["expiry_v"] - tv, 0.0)
            w = H[j]["n"] * p["multiplier"]
            up += w * unit_value(vx, p, v + h, tau, tau_v, H[j]["k1"])
            mid += w * unit_value(vx, p, v, tau, tau_v, H[j]["k1"])
            dn += w * unit_value(vx, p, v - h, tau, tau_v, H[j]["k1"])
    d1 = (up - dn) / (2.0 * h)
    d2 = (up - 2.0 * mid + dn) / (h * h)
    return (d2 * beta * beta - d1 * beta) / (spot * spot)


@register_jitable
def coverage(H, j):
    """Probe gain of hedge slot ``j`` at the last daily cycle, $."""
    return H[j]["n"] * max(H[j]["gain"], 0.0)


@register_jitable
def daily(H, n, hp, h0, t, now, tv, v, vix, probe_v, probe_loss, tf, under, allowance, term_slope, contango, st_spent, vx, vix_expiry,
          vix_expiry_v):
    """One day of the overlay for one strategy; ``H[j].active`` holds each layer's condition.

    Returns ``(cash flow $, premium spent so far $)``."""
    flow = 0.0
    spent = st_spent
    for j in range(n):
        p = hp[h0 + j]
        mult = p["multiplier"]
        fut = p["is_future"]
        nj = H[j]["n"]
        k1 = H[j]["k1"]
        tau = max(H[j]["expiry"] - now, 0.0) / 365.0
        tau_v = max(H[j]["expiry_v"] - tv, 0.0)
        # the step's marks (mark_all ran at this state); an empty slot's old position is never read
        unit, hs = (H[j]["unit"], H[j]["hs"]) if nj > 0.0 else (0.0, 0.0)
        f = 0.0
        # 1. settlement
        if nj > 0.0 and H[j]["expiry"] <= now + 1e-9:
            pay = _payoff(p, vix, k1)
            f = mult * nj * (pay - H[j]["entry_px"] if fut else pay)
            nj = 0.0
        # 2. time-shift
        gain = mult * (unit_value(vx, p, probe_v, tau, tau_v, k1) - unit) if nj > 0.0 else 0.0
        H[j]["roll_cover"] = 0.0
        if nj > 0.0 and tau * 365.0 < p["time_shift"]:
            cost_n = _cost(p, hs, nj)
            H[j]["roll_cover"] = nj * max(gain, 0.0)
            f += mult * nj * (unit - H[j]["entry_px"] if fut else unit) - cost_n
            H[j]["costs"] += cost_n
            nj = 0.0
        # 3. monetisation
        value_pc = mult * (unit - H[j]["entry_px"] if fut else unit)
        if nj > 0.0 and not H[j]["monetized"]:
            basis_pc = H[j]["basis"] / max(nj, 1.0)
            rich = (value_pc >= p["mon_multiple"] * basis_pc) and basis_pc > 0.0 and not fut
            if rich or vix > p["mon_vix"]:
                n_sell = min(math.floor(p["mon_fraction"] * nj + 0.5), nj)
                c_sell = _cost(p, hs, n_sell)
                f = f + n_sell * value_pc - c_sell
                H[j]["costs"] += c_sell
                H[j]["basis"] = H[j]["basis"] * (1.0 - n_sell / max(nj, 1.0))
                H[j]["monetized"] = True
                nj = nj - n_sell
        if not nj > 0.0:
            H[j]["basis"] = 0.0
            H[j]["monetized"] = False
        # 4. sizing and purchase
        target = p["weight"] * tf * max(probe_loss, 0.0)
        if p["underhedge_flag"]:
            target = target * (1.0 - under)
        cover = nj * max(gain, 0.0)
        roll = H[j]["roll_cover"] > 0.0
        act = H[j]["active"] and vix <= p["mon_vix"]
        goal = target if act else min(H[j]["roll_cover"], target)
        want = (act or roll) and not H[j]["monetized"] and cover < (1.0 - p["band"]) * goal
        fresh = not nj > 0.0
        unit_b, gain_b, hs_b, k1_new, new_exp, new_exp_v = unit, gain, hs, 0.0, 0.0, 0.0
        if want and fresh:
            col = p["col_contango"] if term_slope > contango else p["col_backwardation"]
            new_exp = vix_expiry[t, col]
            new_exp_v = vix_expiry_v[t, col]
            tau_new = max(new_exp - now, 0.0) / 365.0
            tau_new_v = max(new_exp_v - tv, 0.0)
            fwd = marks.vix_future(vx, v, tau_new_v)
            k1_new = max(math.floor(fwd * (1.0 + p["offset"]) / VIX_GRID + 0.5) * VIX_GRID, VIX_GRID)
            unit_b, hs_b = _unit_and_hs(vx, p, v, tau_new, tau_new_v, k1_new)
            gain_b = mult * (unit_value(vx, p, probe_v, tau_new, tau_new_v, k1_new) - unit_b)
        mid_pc = 0.0 if fut else mult * unit_b
        price_pc = mid_pc + _cost(p, hs_b, 1.0)
        budget_pc = price_pc + (mult * max(unit_b - vix, 0.0) if fut else 0.0)
        n_buy = 0.0
        if want and gain_b > 1e-6:
            # contracts to close the gap; the 1e-9 keeps rounding noise (a coverage of 1e-11 $ left by a
            # worthless position's time-shift) from buying a contract
            n_need = math.ceil(max(goal - cover, 0.0) / max(gain_b, 1e-9) - 1e-9)
            remaining = max(allowance - spent, 0.0)
            n_buy = min(n_need, math.floor(remaining / max(budget_pc, 1e-9)))
        if n_buy > 0.0:
            spent = spent + n_buy * budget_pc
            H[j]["costs"] += n_buy * (price_pc - mid_pc)
            if fresh:
                H[j]["k1"] = k1_new
                H[j]["expiry"] = new_exp
                H[j]["expiry_v"] = new_exp_v
                H[j]["monetized"] = False
                unit, gain = unit_b, gain_b
            if fut:
                H[j]["entry_px"] = (nj * H[j]["entry_px"] + n_buy * unit_b) / max(nj + n_buy, 1.0)
            H[j]["basis"] = H[j]["basis"] + n_buy * price_pc
            f = f - n_buy * price_pc
        H[j]["realized"] += f
        flow += f
        H[j]["n"] = nj + n_buy
        H[j]["roll_cover"] = 0.0
        H[j]["unit"] = unit
        H[j]["gain"] = gain
    return flow, spent

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

Rows of one thread (:func:`gpu_alvh.strategy.engine.run_path`) see the same market, so a position an
earlier row holds or has just bought - same price key (:data:`gpu_alvh.strategy.params.PRICE_FIELDS`),
strike and expiry - has the same unit value and half-spread, and under the same probe state the same
probe value: :func:`twin` finds it by the step stamps ``t_mark`` / ``t_probe``, and the row copies the
numbers instead of pricing them again (bit for bit what it would compute).
"""

from __future__ import annotations

import math

from ..kernels.floats import jitable as register_jitable

from . import marks

__all__ = ["unit_value", "mark_all", "position_value", "daily", "coverage", "slot_pnl", "vix_beta", "spx_gamma", "twin"]

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
def _unit_and_hs(vx, p, vs, tau, tau_v, k1):
    """Value per unit (futures: the futures price) and half-spread per unit (index points); ``tau``
    calendar years (discounting), ``tau_v`` variance years (the law of the VIX at expiry)."""
    u = 0.0
    hs = 0.0
    ctx = marks.vix_ctx(vx, vs, tau, tau_v)
    for i in range(p["n_legs"]):
        px = _leg_price(vx, ctx, p, i, k1)
        w = _weight(p, i)
        u = px * w if i == 0 else u + w * px
        term = abs(w) * (p["hs_pts"] + p["hs_pct"] * abs(px))
        hs = term if i == 0 else hs + term
    return u, hs


@register_jitable
def unit_value(vx, p, vs, tau, tau_v, k1):
    """Value per unit (index points; futures: the futures price) at the pricing state ``vs = (v, v2)``, expiry ``tau`` (calendar
    years) / ``tau_v`` (variance years)."""
    return _unit_and_hs(vx, p, vs, tau, tau_v, k1)[0]


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
def twin(Hg, Rg, r, key, k1, expiry, expiry_v, probe, t):
    """An earlier row's hedge slot ``(rr, jj)``, ``rr < r``, with price key ``key`` at strike ``k1`` and
    expiry ``expiry`` / ``expiry_v`` whose unit value and half-spread (``probe`` False: stamp ``t_mark``)
    or probe unit value (``probe`` True: stamp ``t_probe``, and the row's probe state ``Rg[rr]``
    ``probe_v, probe_v2`` that of row ``r``) were computed at step ``t``: they are the numbers row ``r``
    would compute.  ``(-1, -1)`` if none.  ``Hg`` [rows, MAX_HEDGE], ``Rg`` [rows]: the thread's group."""
    for rr in range(r):
        if probe and (Rg[rr]["probe_v"] != Rg[r]["probe_v"] or Rg[rr]["probe_v2"] != Rg[r]["probe_v2"]):
            continue
        for jj in range(Hg.shape[1]):
            h = Hg[rr, jj]
            if (h["t_probe"] if probe else h["t_mark"]) == t and h["key"] == key and h["k1"] == k1 and h["expiry"] == expiry \
                    and h["expiry_v"] == expiry_v:
                return rr, jj
    return -1, -1


@register_jitable
def _mark(Hg, Rg, r, p, key, k1, expiry, expiry_v, t, vs, now, tv, vx):
    """``(unit, hs)`` of an instrument at the current state: an earlier row's (:func:`twin`), or priced."""
    rr, jj = twin(Hg, Rg, r, key, k1, expiry, expiry_v, False, t)
    if rr >= 0:
        return Hg[rr, jj]["unit"], Hg[rr, jj]["hs"]
    return _unit_and_hs(vx, p, vs, max(expiry - now, 0.0) / 365.0, max(expiry_v - tv, 0.0), k1)


@register_jitable
def _probe_unit(Hg, Rg, r, p, key, k1, expiry, expiry_v, t, probe_v, now, tv, vx):
    """Unit value of an instrument under the stress probe: an earlier row's (:func:`twin`), or priced."""
    rr, jj = twin(Hg, Rg, r, key, k1, expiry, expiry_v, True, t)
    if rr >= 0:
        return Hg[rr, jj]["p_unit"]
    return unit_value(vx, p, probe_v, max(expiry - now, 0.0) / 365.0, max(expiry_v - tv, 0.0), k1)


@register_jitable
def mark_all(Hg, Rg, r, n, hp, h0, t, vs, now, tv, vx):
    """Unit values and half-spreads of row ``r``'s open positions at the current state (the day's overlay
    cycle, at the same state, reuses them; a position an earlier row holds too is copied, :func:`twin`)."""
    H = Hg[r]
    for j in range(n):
        if H[j]["n"] > 0.0:
            H[j]["unit"], H[j]["hs"] = _mark(Hg, Rg, r, hp[h0 + j], H[j]["key"], H[j]["k1"], H[j]["expiry"], H[j]["expiry_v"], t, vs, now, tv, vx)
            H[j]["t_mark"] = t


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
def vix_beta(vs, kq):
    """The model's own regressions of the variance moves on the log-SPX move over an instant, per factor:
    ``(beta, beta2)`` with ``beta = d<v, x> / d<x, x> = (rho sigma v + lambda E[Z_v J]) / (v + v2 + lambda E[J^2])``
    and ``beta2 = d<v2, x> / d<x, x> = rho2 sigma2 v2 / (v + v2 + lambda E[J^2])`` (decimal variance per unit
    log return; ``vs = (v, v2)``; ``kq[4:7] = (rho sigma, lambda E[Z_v J], lambda E[J^2])`` and
    ``kq[9] = rho2 sigma2`` of the P model; ``beta2 = 0`` for one-factor models, where ``v2 = 0``)."""
    v, v2 = vs
    den = max(v + v2 + kq[6], 1e-12)
    return (kq[4] * v + kq[5]) / den, kq[9] * v2 / den


@register_jitable
def spx_gamma(H, n, hp, h0, vs, now, tv, vx, spot, kq):
    """SPX-equivalent gamma of the open hedges, $ per index point^2 (the ladder's gamma units).

    Along the model's regression line ``(dv, dv2) = (beta, beta2) dlog S`` (:func:`vix_beta`, held at the
    current state) the hedges' value moves with SPX as ``dV/dS = g'(0) / S`` and
    ``d^2V/dS^2 = (g''(0) - g'(0)) / S^2``, ``g(e) = V(v + beta e, v2 + beta2 e)``.  The derivatives are
    central differences along that line, stepped on the factor with the larger beta (the lead, ``l``;
    the fast one for one-factor models): lead steps ``+-h``, ``h = max(0.1 v_l, 1e-3)``, the other factor
    ``+-r h``, ``r = beta_other / beta_l``, about centres raised to ``max(v_l, h)`` and
    ``max(v_other, |r| h)`` (a variance near 0 is read one step up: the table's kinks make smaller steps
    noise); then ``g' = beta_l D1``, ``g'' = beta_l^2 D2`` with ``D1``, ``D2`` the differences per unit of
    the lead variance."""
    b1, b2 = vix_beta(vs, kq)
    slow_leads = abs(b2) > abs(b1)
    lead, other = (b2, b1) if slow_leads else (b1, b2)
    vl, vo = (vs[1], vs[0]) if slow_leads else (vs[0], vs[1])
    r = other / lead if lead != 0.0 else 0.0
    h = max(0.1 * vl, FD_VAR_FLOOR)
    vl = max(vl, h)
    ho = r * h
    vo = max(vo, abs(ho))
    if slow_leads:
        s_up, s_mid, s_dn = (vo + ho, vl + h), (vo, vl), (vo - ho, vl - h)
    else:
        s_up, s_mid, s_dn = (vl + h, vo + ho), (vl, vo), (vl - h, vo - ho)
    up = 0.0
    mid = 0.0
    dn = 0.0
    for j in range(n):
        if H[j]["n"] > 0.0:
            p = hp[h0 + j]
            tau = max(H[j]["expiry"] - now, 0.0) / 365.0
            tau_v = max(H[j]["expiry_v"] - tv, 0.0)
            w = H[j]["n"] * p["multiplier"]
            up += w * unit_value(vx, p, s_up, tau, tau_v, H[j]["k1"])
            mid += w * unit_value(vx, p, s_mid, tau, tau_v, H[j]["k1"])
            dn += w * unit_value(vx, p, s_dn, tau, tau_v, H[j]["k1"])
    d1 = (up - dn) / (2.0 * h)
    d2 = (up - 2.0 * mid + dn) / (h * h)
    return (d2 * lead * lead - d1 * lead) / (spot * spot)


@register_jitable
def coverage(H, j):
    """Probe gain of hedge slot ``j`` at the last daily cycle, $."""
    return H[j]["n"] * max(H[j]["gain"], 0.0)


@register_jitable
def daily(Hg, Rg, r, n, hp, h0, t, now, tv, vs, vix, probe_v, probe_loss, tf, under, allowance, term_slope, contango, st_spent, vx, vix_expiry,
          vix_expiry_v):
    """One day of the overlay for row ``r`` (``Hg[r]``; ``Rg[r]`` ``probe_v, probe_v2`` hold ``probe_v``);
    ``H[j].active`` holds each layer's condition.

    Returns ``(cash flow $, premium spent so far $)``."""
    H = Hg[r]
    flow = 0.0
    spent = st_spent
    for j in range(n):
        p = hp[h0 + j]
        mult = p["multiplier"]
        fut = p["is_future"]
        nj = H[j]["n"]
        k1 = H[j]["k1"]
        tau = max(H[j]["expiry"] - now, 0.0) / 365.0
        # the step's marks (mark_all ran at this state); an empty slot's old position is never read
        unit, hs = (H[j]["unit"], H[j]["hs"]) if nj > 0.0 else (0.0, 0.0)
        f = 0.0
        # 1. settlement
        if nj > 0.0 and H[j]["expiry"] <= now + 1e-9:
            pay = _payoff(p, vix, k1)
            f = mult * nj * (pay - H[j]["entry_px"] if fut else pay)
            nj = 0.0
        # 2. time-shift
        gain = 0.0
        if nj > 0.0:
            pu = _probe_unit(Hg, Rg, r, p, H[j]["key"], k1, H[j]["expiry"], H[j]["expiry_v"], t, probe_v, now, tv, vx)
            H[j]["p_unit"], H[j]["t_probe"] = pu, t
            gain = mult * (pu - unit)
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
        unit_b, gain_b, hs_b, pu_b, k1_new, new_exp, new_exp_v = unit, gain, hs, 0.0, 0.0, 0.0, 0.0
        if want and fresh:
            col = p["col_contango"] if term_slope > contango else p["col_backwardation"]
            new_exp = vix_expiry[t, col]
            new_exp_v = vix_expiry_v[t, col]
            fwd = marks.vix_future(vx, vs, max(new_exp_v - tv, 0.0))
            k1_new = max(math.floor(fwd * (1.0 + p["offset"]) / VIX_GRID + 0.5) * VIX_GRID, VIX_GRID)
            unit_b, hs_b = _mark(Hg, Rg, r, p, H[j]["key"], k1_new, new_exp, new_exp_v, t, vs, now, tv, vx)
            pu_b = _probe_unit(Hg, Rg, r, p, H[j]["key"], k1_new, new_exp, new_exp_v, t, probe_v, now, tv, vx)
            gain_b = mult * (pu_b - unit_b)
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
            if fresh:  # the new position's marks and probe unit value at this step
                H[j]["k1"] = k1_new
                H[j]["expiry"] = new_exp
                H[j]["expiry_v"] = new_exp_v
                H[j]["monetized"] = False
                unit, gain = unit_b, gain_b
                H[j]["hs"], H[j]["p_unit"], H[j]["t_mark"], H[j]["t_probe"] = hs_b, pu_b, t, t
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

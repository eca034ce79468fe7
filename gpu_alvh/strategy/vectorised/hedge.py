"""The adaptive VIX hedge overlay (SPEC section 6), run at the close of each trading day.

State arrays are ``[J, P]`` (hedge slots x paths); hedge slots of one hedge
layer are contiguous rows.  Each slot holds one position: contracts ``n``,
first strike ``k1`` (VIX points, 1-point grid), expiry (calendar days since the
start close; 09:30 AM settlement), futures entry price, cost basis ($ paid,
costs included) and a ``monetized`` flag.

Order of operations each day:

1. **settle** positions at expiry (options at intrinsic on the step's VIX,
   futures at VIX - entry);
2. **time-shift**: a position with DTE below ``time_shift_dte`` is sold and
   its probe coverage is re-bought at the next expiry (the notional migrates);
3. **monetise**: sell ``fraction`` once when worth ``value_multiple`` x cost or
   VIX above ``vix_above``;
4. **size and buy**: the layer's target offset is
   ``weight * f * max(probe loss of the ladder, 0)``, with
   ``f = min(target_fraction * (1 + distance_gain x_d + dte_gain x_t), max_fraction)``
   (ramp as the front layer's short strike is approached and its DTE falls),
   cut by ``event_underhedge`` for flagged layers within ``event_window_days``
   of an event.  An active layer (its condition holds) whose probe coverage is
   below ``(1 - band)`` x target buys up to the target, at the existing strikes
   or - with no position - at the regime's tenor (contango: term_slope above
   the threshold) and strike ``round(F (1 + offset))``.  No buying while VIX is
   above the monetisation level.

Budget: the strategy's gross premium spent (purchases incl. costs; futures:
costs plus the contango carry ``max(F - VIX, 0) x 1000``) never exceeds
``budget_pct% x NAV_0 x max(t_years, budget_lead_years)``; hedge layers buy in
list order against the shared allowance.
"""

from __future__ import annotations

from ..instruments import INSTRUMENTS, VIX_STRIKE_GRID

__all__ = ["Overlay"]


class Overlay:
    """Hedge slots of one batch."""

    def __init__(self, eng):
        self.e = eng
        xp, J, P, dt = eng.xp, eng.J, eng.P, eng.dtype
        z = lambda: xp.zeros((J, P), dtype=dt)  # noqa: E731
        self.n, self.k1, self.expiry, self.entry_px, self.basis = z(), z(), z(), z(), z()
        self.realized, self.costs = z(), z()
        self.roll_cover = z()
        self.unit = z()  # value per unit (index points) at the last mark
        self.gain = z()  # probe gain per contract ($) at the last daily cycle
        self.monetized = xp.zeros((J, P), dtype=bool)
        self.spent = xp.zeros((eng.S, P), dtype=dt)
        # layers as row slices
        self.layers = []
        book = eng.book
        for h in range(len(book.hedge_names)):
            rows = book.hedge_slots_of(h)
            if rows.size:
                self.layers.append((h, slice(int(rows[0]), int(rows[-1]) + 1), INSTRUMENTS[book.hedge_instrument[int(rows[0])]]))

    # ------------------------------------------------------------------ valuation
    def position_value(self):
        """Mark-to-market of every slot, $ ``[J, P]`` (futures against their entry)."""
        out = self.e.xp.zeros_like(self.n)
        for _, rows, inst in self.layers:
            if inst.is_future:
                out[rows] = self.n[rows] * inst.multiplier * (self.unit[rows] - self.entry_px[rows])
            else:
                out[rows] = self.n[rows] * inst.multiplier * self.unit[rows]
        return out

    def mark(self, v, now: float):
        """Update unit values at the current state; returns the $ value ``[J, P]``."""
        xp = self.e.xp
        for _, rows, inst in self.layers:
            tau = xp.maximum(self.expiry[rows] - now, 0.0) / 365.0
            self.unit[rows] = inst.value(self.e.vix_table, v, tau, self.k1[rows], self.e.h_width[rows])
        return self.position_value()

    def _cost(self, inst, legs, rows, n):
        """Half-spread plus commission for trading ``n`` units, $."""
        e, xp = self.e, self.e.xp
        if inst.is_future:
            pts, pct, comm = e.h_fut_hs_pts[rows], e.h_fut_hs_pct[rows], e.h_fut_comm[rows]
        else:
            pts, pct, comm = e.h_vix_hs_pts[rows], e.h_vix_hs_pct[rows], e.h_vix_comm[rows]
        return n * (inst.multiplier * inst.half_spread(legs, pts, pct, xp) + comm * inst.abs_weight())

    # ------------------------------------------------------------------ daily cycle
    def daily(self, t: int, spot, v, vix, probe_v, ladder_probe_loss, tf_eff, underhedge, active, nav0_allowance):
        """One day of the overlay.  Returns the cash flow per strategy ``[S, P]``.

        ``ladder_probe_loss`` and ``tf_eff`` are ``[S, P]``; ``active`` is a list
        (per hedge layer) of boolean ``[J_h, P]``; ``underhedge`` is ``[S, P]``
        (fraction removed, 0 outside event windows); ``nav0_allowance`` is the
        budget allowance ``[S, 1]`` at this step.
        """
        e, xp = self.e, self.e.xp
        book = e.book
        now = float(book.now_days[t])
        flow = xp.zeros_like(self.n)
        for h, rows, inst in self.layers:
            pv = probe_v[rows]
            n = self.n[rows]
            width = e.h_width[rows]
            tau = xp.maximum(self.expiry[rows] - now, 0.0) / 365.0
            table = e.vix_table
            legs = inst.leg_prices(table, v, tau, self.k1[rows], width)
            unit = inst.combine(legs)
            # 1. settlement
            expired = (n > 0) & (self.expiry[rows] <= now + 1e-9)
            pay = inst.payoff(vix, self.k1[rows], width, xp)
            settle = inst.multiplier * n * (pay - self.entry_px[rows] if inst.is_future else pay)
            f = xp.where(expired, settle, 0.0)
            n = xp.where(expired, 0.0, n)
            # 2. time-shift: sell and remember the probe coverage to re-buy
            shift = (n > 0) & (tau * 365.0 < e.h_time_shift[rows])
            unit_p = inst.value(table, pv, tau, self.k1[rows], width)
            gain = inst.multiplier * (unit_p - unit)
            cost_n = self._cost(inst, legs, rows, n)
            sale = inst.multiplier * n * (unit - self.entry_px[rows] if inst.is_future else unit) - cost_n
            self.roll_cover[rows] = xp.where(shift, n * xp.maximum(gain, 0.0), 0.0)
            f = f + xp.where(shift, sale, 0.0)
            self.costs[rows] += xp.where(shift, cost_n, 0.0)
            n = xp.where(shift, 0.0, n)
            # 3. monetisation
            basis_pc = self.basis[rows] / xp.maximum(n, 1.0)
            value_pc = inst.multiplier * (unit - self.entry_px[rows] if inst.is_future else unit)
            rich = (value_pc >= e.h_mon_multiple[rows] * basis_pc) & (basis_pc > 0) & (not inst.is_future)
            mon = (n > 0) & ~self.monetized[rows] & (rich | (vix > e.h_mon_vix[rows]))
            n_sell = xp.where(mon, xp.minimum(xp.floor(e.h_mon_fraction[rows] * n + 0.5), n), 0.0)
            c_sell = self._cost(inst, legs, rows, n_sell)
            f = f + n_sell * value_pc - c_sell
            self.costs[rows] += c_sell
            self.basis[rows] = xp.where(mon, self.basis[rows] * (1.0 - n_sell / xp.maximum(n, 1.0)), self.basis[rows])
            self.monetized[rows] = self.monetized[rows] | mon
            n = n - n_sell
            self.basis[rows] = xp.where(n > 0, self.basis[rows], 0.0)
            self.monetized[rows] = self.monetized[rows] & (n > 0)
            self.n[rows] = n
            flow[rows] = flow[rows] + f
            # 4. sizing and purchase
            s_idx = e.h_strategy_dev[rows]
            loss = ladder_probe_loss[s_idx]
            target = e.h_weight[rows] * tf_eff[s_idx] * xp.maximum(loss, 0.0)
            target = xp.where(e.h_underhedge_flag[rows], target * (1.0 - underhedge[s_idx]), target)
            cover = n * xp.maximum(gain, 0.0)
            roll = self.roll_cover[rows] > 0
            act = active[h] & (vix <= e.h_mon_vix[rows])
            goal = xp.where(act, target, xp.minimum(self.roll_cover[rows], target))
            want = (act | roll) & ~self.monetized[rows] & (cover < (1.0 - e.h_band[rows]) * goal) & e.h_on[rows]
            # instrument to buy: the open position, else a new one at the regime's tenor.  A fresh
            # position is priced only where one is wanted (all elements on a GPU, gathered on a CPU).
            fresh = n <= 0
            new_exp = e.hedge_new_expiry(h, rows, t)
            tau_new = xp.maximum(new_exp - now, 0.0) / 365.0
            k1_new = xp.zeros_like(unit)
            legs_b = list(legs)
            unit_b, gain_b = unit, gain
            sel = e.select(want & fresh)
            if not sel.empty:
                V, PV, TN = sel.take(v), sel.take(pv), sel.take(tau_new)
                fut = table.future(V, TN)
                k1 = xp.maximum(xp.floor(fut * (1.0 + sel.take(e.h_offset[rows])) / VIX_STRIKE_GRID + 0.5) * VIX_STRIKE_GRID, VIX_STRIKE_GRID)
                w = sel.take(width)
                new_legs = inst.leg_prices(table, V, TN, k1, w)
                u_new = inst.combine(new_legs)
                g_new = inst.multiplier * (inst.value(table, PV, TN, k1, w) - u_new)
                sel.put(k1_new, k1)
                legs_b = [xp.array(a, copy=True) for a in legs]
                for a, b_new in zip(legs_b, new_legs):
                    sel.put(a, b_new)
                unit_b, gain_b = xp.array(unit, copy=True), xp.array(gain, copy=True)
                sel.put(unit_b, u_new)
                sel.put(gain_b, g_new)
            price_pc = (0.0 if inst.is_future else inst.multiplier * unit_b) + self._cost(inst, legs_b, rows, 1.0)
            budget_pc = price_pc + (inst.multiplier * xp.maximum(unit_b - vix, 0.0) if inst.is_future else 0.0)
            n_need = xp.ceil(xp.maximum(goal - cover, 0.0) / xp.maximum(gain_b, 1e-9) - 1e-9)
            n_need = xp.where(want & (gain_b > 1e-6), n_need, 0.0)
            remaining = xp.maximum(nav0_allowance[s_idx] - self.spent[s_idx], 0.0)
            n_buy = xp.minimum(n_need, xp.floor(remaining / xp.maximum(budget_pc, 1e-9)))
            bought = n_buy > 0
            spend = n_buy * budget_pc
            cash_out = n_buy * price_pc
            # per-strategy spend (slots of one layer belong to distinct strategies)
            self.spent[s_idx] = self.spent[s_idx] + spend
            self.costs[rows] += n_buy * (price_pc - (0.0 if inst.is_future else inst.multiplier * unit_b))
            new_pos = bought & fresh
            self.k1[rows] = xp.where(new_pos, k1_new, self.k1[rows])
            self.expiry[rows] = xp.where(new_pos, new_exp, self.expiry[rows])
            if inst.is_future:
                # average entry price of the futures position
                self.entry_px[rows] = xp.where(bought, (n * self.entry_px[rows] + n_buy * unit_b) / xp.maximum(n + n_buy, 1.0), self.entry_px[rows])
            self.monetized[rows] = xp.where(new_pos, False, self.monetized[rows])
            self.n[rows] = n + n_buy
            self.basis[rows] = self.basis[rows] + n_buy * price_pc
            flow[rows] = flow[rows] - cash_out
            self.roll_cover[rows] = 0.0
            self.unit[rows] = xp.where(bought & fresh, unit_b, unit)
            self.gain[rows] = xp.where(bought & fresh, gain_b, gain)
        self.realized += flow
        return flow

    def probe_coverage(self, rows):
        """Probe gain of the positions of one layer at the last daily cycle, $ ``[J_h, P]``."""
        return self.n[rows] * self.e.xp.maximum(self.gain[rows], 0.0)



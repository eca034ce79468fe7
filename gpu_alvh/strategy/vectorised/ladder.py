"""The iron-condor ladder: state, marking, exits, cascade and re-entry.

State arrays are ``[K, P]`` (ladder slots x paths).  Each slot holds one iron
condor as two verticals (put side: short ``kps`` / long ``kpl``; call side:
short ``kcs`` / long ``kcl``) with their own contract counts (``n_put``,
``n_call``) and mid credits per contract (``cr_put``, ``cr_call``, index
points), one expiry (calendar days since the start close) and a pending
re-entry flag.

Rules (SPEC section 6), checked on mid marks:

* profit target: ``value <= (1 - profit_target) * credit`` (whole condor);
* stop: ``value - credit >= stop_multiple * credit`` (loss reaches 2.2 x credit);
* time exit: ``DTE <= exit_dte``; cash settlement when expiry is reached;
* a closed layer re-opens on the next step at its DTE (``reopen_next`` becomes
  ``reopen`` after the step's entries; a layer whose sizing gives no contract
  stays due and tries again each step); sizing:
  ``floor(max_loss_pct% * NAV / ((max wing width - credit) * 100))`` contracts;
* cascade: when a slot is stopped, the next ``depth`` slots of the same
  strategy roll their tested side (the side whose short strike is nearer the
  spot in log-moneyness) back to the target delta, same expiry and width;
  ``fraction`` of its contracts is re-opened, the rest closed.

Cash flows per contract: open ``100 (credit_mid - hs_short - hs_long) - 2 commission``,
close ``-100 (value_mid + hs_short + hs_long) - 2 commission``, settlement
``-100 intrinsic`` (no costs).  Every flow is added to ``realized[k]`` so layer
P&L = realized - 100 n value_mid, and NAV bookkeeping balances exactly.
"""

from __future__ import annotations

from ..instruments import SPX_MULTIPLIER, SPX_STRIKE_GRID

__all__ = ["Ladder"]

M = SPX_MULTIPLIER
LEG_FIELDS = ("price", "delta", "gamma", "vega", "theta")


class Ladder:
    """Iron-condor slots of one batch (see module docstring)."""

    def __init__(self, eng):
        self.e = eng
        xp, K, P, dt = eng.xp, eng.K, eng.P, eng.dtype
        z = lambda: xp.zeros((K, P), dtype=dt)  # noqa: E731
        # empty slots keep harmless strikes (the starting spot) so marking them never divides by zero
        self.kps, self.kpl, self.kcs, self.kcl = (z() + eng.c.spot for _ in range(4))
        self.n_put, self.n_call = z(), z()
        self.cr_put, self.cr_call = z(), z()
        self.expiry = z()
        self.entry_time = z()
        self.realized = z()
        self.costs = z()
        self.reopen = xp.ones((K, P), dtype=bool)  # due for (re-)entry this step
        self.reopen_next = xp.zeros((K, P), dtype=bool)  # closed this step: due from the next step
        # per-leg marks of the current step [4, K, P]: price, delta, gamma, vega, theta
        self.leg = {name: xp.zeros((4, K, P), dtype=dt) for name in LEG_FIELDS}
        self.val_put = z()
        self.val_call = z()
        self.greeks = None

    # ------------------------------------------------------------------ helpers
    def strikes(self):
        return self.e.xp.stack([self.kps, self.kpl, self.kcs, self.kcl])

    def tau(self, now: float):
        return self.e.xp.maximum(self.expiry - now, 0.0) / 365.0

    @property
    def is_open(self):
        return (self.n_put > 0) | (self.n_call > 0)

    def value(self):
        """Liability of each slot at mid, $ ``[K, P]`` (>= 0)."""
        return M * (self.n_put * self.val_put + self.n_call * self.val_call)

    def _price4(self, spot, v, tau, strikes):
        """Prices and greeks of the four legs ``[4, K, P]`` (puts, puts, calls, calls)."""
        e = self.e
        g = e.spx.price_greeks(spot, strikes, v, tau, e.is_call4)
        return g

    # ------------------------------------------------------------------ marking
    def mark(self, spot, v, now: float):
        """Mark every leg at mid (IV table + Black-Scholes); returns the liability ``[K, P]``."""
        g = self._price4(spot, v, self.tau(now), self.strikes())
        for name in LEG_FIELDS:
            self.leg[name] = getattr(g, name)
        return self.derive()

    def derive(self):
        """Side values and position greeks from the leg marks (cheap; after entries too)."""
        xp = self.e.xp
        p = self.leg["price"]
        self.legs = p
        self.val_put = xp.maximum(p[0] - p[1], 0.0)
        self.val_call = xp.maximum(p[2] - p[3], 0.0)

        def pos(a):  # short the short legs, long the wings, per contract x multiplier
            return M * (self.n_put * (a[1] - a[0]) + self.n_call * (a[3] - a[2]))

        self.greeks = {k: pos(self.leg[k]) for k in ("delta", "gamma", "vega", "theta")}
        return self.value()

    def _store_legs(self, sel, g, put_mask, call_mask):
        """Write the marks of newly opened legs ``g`` (selected elements) into the leg arrays."""
        xp = self.e.xp
        side = xp.stack([put_mask, put_mask, call_mask, call_mask])
        for name in LEG_FIELDS:
            sel.put_legs(self.leg[name], xp.where(side, getattr(g, name), sel.take_legs(self.leg[name])))

    def probe_value(self, spot, v, now: float, rows=slice(None)):
        """Liability of slots ``rows`` ``[K_r, P]`` under a probe state (spot, v) at the current time."""
        xp = self.e.xp
        g = self.e.spx.price_greeks(spot, self.strikes()[:, rows], v, self.tau(now)[rows], self.e.is_call4)
        vp = xp.maximum(g.price[0] - g.price[1], 0.0)
        vc = xp.maximum(g.price[2] - g.price[3], 0.0)
        return M * (self.n_put[rows] * vp + self.n_call[rows] * vc)

    def _half_spreads(self):
        e = self.e
        hs = e.half_spread(self.legs, e.spx_hs_pts_k, e.spx_hs_pct_k)
        return hs[0] + hs[1], hs[2] + hs[3]

    # ------------------------------------------------------------------ closing
    def _close(self, mask_put, mask_call, settle: bool):
        """Close sides where masked, at mid plus costs (or settle at intrinsic); returns $ flow per slot."""
        xp = self.e.xp
        comm = self.e.spx_comm_k
        if settle:
            flow_p = -M * self.n_put * self.val_put
            flow_c = -M * self.n_call * self.val_call
        else:
            hs_p, hs_c = self._half_spreads()
            flow_p = -M * self.n_put * (self.val_put + hs_p) - 2.0 * comm * self.n_put
            flow_c = -M * self.n_call * (self.val_call + hs_c) - 2.0 * comm * self.n_call
            self.costs += xp.where(mask_put, M * self.n_put * hs_p + 2.0 * comm * self.n_put, 0.0)
            self.costs += xp.where(mask_call, M * self.n_call * hs_c + 2.0 * comm * self.n_call, 0.0)
        flow = xp.where(mask_put, flow_p, 0.0) + xp.where(mask_call, flow_c, 0.0)
        self.realized += flow
        self.n_put = xp.where(mask_put, 0.0, self.n_put)
        self.n_call = xp.where(mask_call, 0.0, self.n_call)
        return flow

    def settle_and_exit(self, now: float):
        """Settle expired slots, then apply profit target / stop / time exit.

        Returns ``(cash_flow [K, P], stopped [K, P], closed [K, P])``.
        """
        e = self.e
        open_ = self.is_open
        expired = open_ & (self.expiry <= now + 1e-9)
        flow = self._close(expired, expired, settle=True)
        open_ = open_ & ~expired
        credit = self.n_put * self.cr_put + self.n_call * self.cr_call
        value = self.n_put * self.val_put + self.n_call * self.val_call
        take = open_ & (value <= (1.0 - e.profit_target_k) * credit)
        stop = open_ & ~take & (value - credit >= e.stop_multiple_k * credit)
        dte_left = self.expiry - now
        timed = open_ & ~take & ~stop & (dte_left <= e.exit_dte_k + 1e-9)
        close = take | stop | timed
        flow = flow + self._close(close, close, settle=False)
        closed = expired | close
        self.reopen_next = self.reopen_next | closed
        return flow, stop, closed

    # ------------------------------------------------------------------ cascade
    def cascade(self, stopped, spot, v, now: float):
        """Roll the tested side of the next ``depth`` slots after a stop; returns $ flow [K, P]."""
        e, xp = self.e, self.e.xp
        if e.K < 2 or not e.cascade_any:
            return xp.zeros_like(self.realized)
        # slots to roll: the next `depth` slots of the same strategy of every stopped slot
        src_on = stopped & e.cascade_on_k
        target = xp.zeros_like(stopped)
        for src_idx, dst_idx in e.cascade_pairs:
            target[dst_idx] = target[dst_idx] | src_on[src_idx]
        target = target & self.is_open & ~stopped
        logm_put = xp.log(spot / xp.maximum(self.kps, 1e-12))
        logm_call = xp.log(xp.maximum(self.kcs, 1e-12) / spot)
        put_tested = target & (logm_put <= logm_call) & (self.n_put > 0)
        call_tested = target & ~put_tested & (self.n_call > 0)
        n_put_old, n_call_old = self.n_put, self.n_call
        flow = self._close(put_tested, call_tested, settle=False)
        tau = self.tau(now)
        frac = e.cascade_fraction_k
        n_new_put = xp.floor(frac * n_put_old + 1e-9)
        n_new_call = xp.floor(frac * n_call_old + 1e-9)
        flow = flow + self._open_sides(spot, v, tau, put_tested, call_tested, n_new_put, n_new_call, keep_width=True)
        e.n_rolls += e.to_strategy(put_tested | call_tested)
        return flow

    # ------------------------------------------------------------------ opening
    def _select_strikes(self, spot, v, tau, delta, is_call):
        return self.e.spx.strike_for_delta(spot, v, tau, delta, is_call, grid=SPX_STRIKE_GRID)

    def _quote(self, sel, S, V, T, keep_width: bool):
        """New condors on the selected elements: target-delta shorts, wings, leg marks.

        Wings are ``wing_width`` beyond the shorts (or at ``wing_delta``, at least
        one strike away); ``keep_width`` reuses the widths of the positions being
        rolled.  Returns ``(strikes [4, m], greeks [4, m], half_spreads [4, m])``.
        """
        e, xp = self.e, self.e.xp
        grid = SPX_STRIKE_GRID
        short_d = sel.take(e.short_delta_k)
        kps = self._select_strikes(S, V, T, short_d, False)
        kcs = self._select_strikes(S, V, T, short_d, True)
        if keep_width:
            kpl = kps - xp.maximum(sel.take(self.kps - self.kpl), grid)
            kcl = kcs + xp.maximum(sel.take(self.kcl - self.kcs), grid)
        else:
            width = sel.take(e.wing_width_k)
            kpl, kcl = kps - width, kcs + width
            if e.any_wing_delta:
                use_wd, wing_d = sel.take(e.use_wing_delta_k), sel.take(e.wing_delta_k)
                kpl = xp.where(use_wd, xp.minimum(self._select_strikes(S, V, T, wing_d, False), kps - grid), kpl)
                kcl = xp.where(use_wd, xp.maximum(self._select_strikes(S, V, T, wing_d, True), kcs + grid), kcl)
        strikes = xp.stack([kps, xp.maximum(kpl, grid), kcs, kcl])
        g = e.spx.price_greeks(S, strikes, V, T, e.is_call4.reshape(4, 1) if sel.sparse else e.is_call4)
        hs = e.half_spread(g.price, sel.take(e.spx_hs_pts_k), sel.take(e.spx_hs_pct_k))
        return strikes, g, hs

    def _book(self, sel, strikes, g, hs, pm, cm, n_put, n_call):
        """Record opened sides (``pm``/``cm`` masks over the selection) with their contract
        counts; returns the cash flow ``[K, P]`` (credits net of half-spreads and commissions)."""
        e, xp = self.e, self.e.xp
        p = g.price
        cr_p = xp.maximum(p[0] - p[1], 0.0)
        cr_c = xp.maximum(p[2] - p[3], 0.0)
        comm = sel.take(e.spx_comm_k)
        NP, NC = xp.where(pm, n_put, 0.0), xp.where(cm, n_call, 0.0)
        cost = M * NP * (hs[0] + hs[1]) + 2.0 * comm * NP + M * NC * (hs[2] + hs[3]) + 2.0 * comm * NC
        flow = M * NP * (cr_p - hs[0] - hs[1]) + M * NC * (cr_c - hs[2] - hs[3]) - 2.0 * comm * (NP + NC)
        self._store_legs(sel, g, pm, cm)
        for arr, new, m in ((self.kps, strikes[0], pm), (self.kpl, strikes[1], pm), (self.kcs, strikes[2], cm), (self.kcl, strikes[3], cm),
                            (self.cr_put, cr_p, pm), (self.cr_call, cr_c, cm), (self.n_put, NP, pm), (self.n_call, NC, cm)):
            sel.put(arr, xp.where(m, new, sel.take(arr)))
        full_flow = xp.zeros_like(self.realized)
        sel.put(full_flow, flow)
        self.realized += full_flow
        full_cost = xp.zeros_like(self.realized)
        sel.put(full_cost, cost)
        self.costs += full_cost
        return full_flow

    def _open_sides(self, spot, v, tau, put_mask, call_mask, n_put, n_call, keep_width: bool):
        """Open verticals where masked with the given contract counts (target-delta shorts)."""
        e, xp = self.e, self.e.xp
        sel = e.select(put_mask | call_mask)
        if sel.empty:
            return xp.zeros_like(self.realized)
        strikes, g, hs = self._quote(sel, sel.take(spot), sel.take(v), sel.take(tau), keep_width)
        return self._book(sel, strikes, g, hs, sel.take(put_mask), sel.take(call_mask), sel.take(n_put), sel.take(n_call))

    def _roll_flags(self):
        """Slots closed this step become due from the next step."""
        self.reopen = self.reopen | self.reopen_next
        self.reopen_next = self.e.xp.zeros_like(self.reopen_next)

    def enter(self, spot, v, now_idx: int, nav_slots):
        """Open new condors on slots flagged ``reopen`` (sized on NAV); returns $ flow [K, P]."""
        e, xp = self.e, self.e.xp
        want = self.reopen & e.enabled_nav(nav_slots)
        sel = e.select(want)
        if sel.empty:
            self._roll_flags()
            return xp.zeros_like(self.realized)
        now = float(e.book.now_days[now_idx])
        expiry = xp.broadcast_to(e.spx_expiry_k(now_idx), want.shape)  # [K, P]
        strikes, g, hs = self._quote(sel, sel.take(spot), sel.take(v), sel.take((expiry - now) / 365.0), keep_width=False)
        kps, kpl, kcs, kcl = strikes
        credit = xp.maximum(g.price[0] - g.price[1], 0.0) + xp.maximum(g.price[2] - g.price[3], 0.0)
        max_loss = M * (xp.maximum(kps - kpl, kcl - kcs) - credit)
        budget = sel.take(e.max_loss_pct_k) / 100.0 * sel.take(nav_slots)
        n = xp.floor(xp.maximum(budget, 0.0) / xp.maximum(max_loss, 1.0))
        opened = n > 0
        flow = self._book(sel, strikes, g, hs, opened, opened, n, n)
        sel.put(self.expiry, xp.where(opened, sel.take(expiry), sel.take(self.expiry)))
        sel.put(self.entry_time, xp.where(opened, now, sel.take(self.entry_time)))
        sel.put(self.reopen, ~opened)
        self._roll_flags()
        e.n_entries += e.to_strategy(want & self.is_open)
        return flow

    # ------------------------------------------------------------------ margin
    def margin(self):
        """Reg-T margin per slot, $: wider wing x 100 - credit, both sides paired."""
        xp = self.e.xp
        wide = xp.maximum(self.n_put * (self.kps - self.kpl), self.n_call * (self.kcl - self.kcs))
        return xp.maximum(M * (wide - self.n_put * self.cr_put - self.n_call * self.cr_call), 0.0)

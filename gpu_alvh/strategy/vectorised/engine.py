"""The strategy engine: one time loop over a batch of paths for several strategies.

For a batch of ``P`` paths and ``S`` strategy rows (ALVH, baselines, sweep
variants) on the same paths, each step ``t`` does:

1. market: the path stepper moves SPX / variance / VIX;
2. cash earns the rate over the calendar time of the step;
3. the ladder is marked (IV table + Black-Scholes), expired condors settle,
   profit targets / stops / time exits close, stops trigger the cascade roll,
   and layers closed on the previous step re-open (sized on NAV);
4. at the close of each trading day: signals update, the hedge overlay runs,
   metrics and claim accumulators advance, daily bands are histogrammed.

Everything stays on the device; per-step scalars (calendar, events) are host
floats.  At the end of the batch, :meth:`BatchEngine.result` copies per-path
metrics, histograms and sums to the host once (through
:func:`gpu_alvh.results.to_host`).

Shapes: ladder slots ``[K, P]``, hedge slots ``[J, P]``, strategies ``[S, P]``,
paths ``[P]``.  Money in dollars; prices in index points.
"""

from __future__ import annotations

import numpy as np

from ...compile import CompiledScenario
from ...errors import NonFiniteError
from ...paths import PathStepper
from ..book import Book
from .hedge import Overlay
from ..instruments import half_spread
from .ladder import Ladder
from ..signals import Macd, WilderRsi, neutral_seed_move

__all__ = ["BatchEngine", "NAV_BINS", "SPX_BINS", "VIX_BINS", "GREEKS", "FRONT_MAX_DTE"]

#: Histogram bins of the daily bands: NAV / NAV_0 in [0, 2] (0.1% steps), SPX / S_0 in [0, 3]
#: (0.15% steps), VIX in [0, 200] (0.1-point steps); values outside land in the end bins.
NAV_BINS = (0.0, 2.0, 2000)
SPX_BINS = (0.0, 3.0, 2000)
VIX_BINS = (0.0, 200.0, 2000)
GREEKS = ("delta", "gamma", "vega", "theta")
#: Layers with DTE up to this are "front" (claims C1/C3/C7); longer ones are "back".
FRONT_MAX_DTE = 30
VIX3M_TAU = 93.0 / 365.0
C2_WINDOW_DAYS = 9.0


class Selection:
    """Elements of ``[K, P]`` arrays to work on: all of them with a mask (GPU),
    or gathered by index (CPU, where only a few elements change per step)."""

    def __init__(self, mask, dense: bool, xp):
        self.xp = xp
        self.mask = mask
        self.shape = mask.shape
        self.sparse = not dense
        if dense:
            self.empty = False
        else:
            flat = xp.flatnonzero(mask)
            self.empty = flat.size == 0
            self.rows, self.cols = xp.divmod(flat, self.shape[1])

    def take(self, a):
        b = self.xp.broadcast_to(a, self.shape)
        return b if not self.sparse else b[self.rows, self.cols]

    def put(self, target, values):
        if self.sparse:
            target[self.rows, self.cols] = values
        else:
            target[...] = self.xp.where(self.mask, values, target)

    def take_legs(self, a):
        """Like :meth:`take` for ``[4, K, P]`` leg arrays -> ``[4, ...]``."""
        return a if not self.sparse else a[:, self.rows, self.cols]

    def put_legs(self, target, values):
        if self.sparse:
            target[:, self.rows, self.cols] = values
        else:
            target[...] = self.xp.where(self.mask, values, target)


class BatchEngine:
    """Run the book over one batch of paths (see module docstring)."""

    def __init__(self, book: Book, compiled: CompiledScenario, spx_table, vix_table, backend, start: int, count: int, seed: int, *,
                 save_paths: bool = False, trace=None, audit: bool = False):
        self.book, self.c, self.b = book, compiled, backend
        self.xp = xp = backend.xp
        self.spx, self.vix_table = spx_table, vix_table
        self.dtype = compiled.dtype
        self.dense = backend.is_gpu
        self.start, self.P, self.seed = start, count, seed
        self.S, self.K, self.J = book.n_strategies, book.n_slots, book.n_hedge_slots
        self.save_paths = save_paths
        self.trace_paths = None if trace is None else np.asarray([p - start for p in trace if start <= p < start + count], dtype=np.int64)
        self.audit = audit
        self.tracer = self.auditor = None
        self._day_info: dict = {}
        dt = self.dtype
        col = lambda a: xp.asarray(np.asarray(a, dtype=float)[:, None], dtype=dt)  # noqa: E731
        bcol = lambda a: xp.asarray(np.asarray(a, dtype=bool)[:, None])  # noqa: E731
        sp, tp, hp = book.slot_params, book.strat_params, book.hedge_params
        ks = book.slot_strategy
        self.short_delta_k = col(sp["short_delta"])
        self.wing_width_k = col(sp["wing_width"])
        self.wing_delta_k = col(sp["wing_delta"])
        self.use_wing_delta_k = bcol(sp["use_wing_delta"])
        self.any_wing_delta = bool(sp["use_wing_delta"].any())
        self.max_loss_pct_k = col(sp["max_loss_pct"])
        self.profit_target_k = col(sp["profit_target"])
        self.stop_multiple_k = col(sp["stop_multiple"])
        self.exit_dte_k = col(sp["exit_dte"])
        self.cascade_fraction_k = col(sp["cascade_fraction"])
        self.cascade_on_k = bcol(sp["cascade_on"])
        self.cascade_any = bool(sp["cascade_on"].any())
        self.spx_comm_k = col(tp["spx_comm"][ks])
        self.spx_hs_pts_k = col(tp["spx_hs_pts"][ks])
        self.spx_hs_pct_k = col(tp["spx_hs_pct"][ks])
        pairs = []
        depth = sp["cascade_depth"].astype(int)
        for d in range(1, int(depth.max(initial=1)) + 1):
            src = [k for k in range(self.K) if k + d < self.K and ks[k + d] == ks[k] and depth[k] >= d]
            if src:
                pairs.append((xp.asarray(np.asarray(src)), xp.asarray(np.asarray(src) + d)))
        self.cascade_pairs = pairs
        self.is_call4 = xp.asarray(np.array([False, False, True, True])[:, None, None])
        agg = np.zeros((self.S, self.K))
        agg[ks, np.arange(self.K)] = 1.0
        self._agg = xp.asarray(agg, dtype=dt)
        self.slot_strategy_dev = xp.asarray(ks)
        hagg = np.zeros((self.S, max(self.J, 1)))
        hagg[book.hedge_strategy, np.arange(self.J)] = 1.0
        self._hagg = xp.asarray(hagg[:, : self.J], dtype=dt)
        self.spx_expiry_dev = xp.asarray(book.spx_expiry[:, book.dte_index], dtype=dt)  # [T+1, K]
        self.slot_dte_col = col(book.slot_dte)
        # strategy columns [S, 1]
        for name in ("nav", "budget_rate", "budget_lead", "target_fraction", "probe_spx", "probe_vix", "ramp_sd", "ramp_dist_gain",
                     "ramp_dte_gain", "ramp_max", "underhedge", "event_window", "contango"):
            setattr(self, f"s_{name}", col(tp[name]))
        self.s_hedge_on = bcol(tp["hedge_on"])
        self.nav0 = self.s_nav
        # hedge columns [J, 1]
        hs = book.hedge_strategy
        self.h_strategy_dev = xp.asarray(hs)
        self.h_weight, self.h_offset, self.h_width = col(hp.get("weight", [])), col(hp.get("offset", [])), col(hp.get("width", []))
        self.h_underhedge_flag = bcol(hp.get("underhedge_flag", []))
        for name, key in (("h_band", "band"), ("h_time_shift", "time_shift_dte"), ("h_mon_multiple", "mon_multiple"), ("h_mon_vix", "mon_vix"),
                          ("h_mon_fraction", "mon_fraction"), ("h_vix_comm", "vix_comm"), ("h_vix_hs_pts", "vix_hs_pts"), ("h_vix_hs_pct", "vix_hs_pct"),
                          ("h_fut_comm", "fut_comm"), ("h_fut_hs_pts", "fut_hs_pts"), ("h_fut_hs_pct", "fut_hs_pct")):
            setattr(self, name, col(tp[key][hs]))
        self.h_on = bcol(tp["hedge_on"][hs])
        # new-position expiry per hedge slot: contango / backwardation tables [T+1, J]
        T1 = book.now_days.size
        exp_c = np.zeros((T1, self.J))
        exp_b = np.zeros((T1, self.J))
        for j in range(self.J):
            spec_h = book.rows[int(hs[j])].spec.hedge
            if bool(hp["auto"][j]):
                exp_c[:, j] = book.vix_expiry_tables[tuple(spec_h.tenor_contango)]
                exp_b[:, j] = book.vix_expiry_tables[tuple(spec_h.tenor_backwardation)]
            else:
                tab = book.vix_expiry_tables[(int(hp["tenor_lo"][j]), int(hp["tenor_hi"][j]))]
                exp_c[:, j] = tab
                exp_b[:, j] = tab
        self.h_exp_c = xp.asarray(exp_c, dtype=dt)
        self.h_exp_b = xp.asarray(exp_b, dtype=dt)
        # conditions: thresholds to the device
        self.conditions = [_to_device(cond, xp, dt) for cond in book.hedge_conditions]
        # front / 45-DTE / 7-DTE slots per strategy (C2)
        self.front_slot = np.array([int(np.flatnonzero((ks == s) & book.slot_front)[0]) for s in range(self.S)])
        self.front_slot_dev = xp.asarray(self.front_slot)
        self.front_mask_k = col((book.slot_dte <= FRONT_MAX_DTE).astype(float))
        self.back_mask_k = col((book.slot_dte > FRONT_MAX_DTE).astype(float))
        s7 = [np.flatnonzero((ks == s) & (book.slot_dte <= 7)) for s in range(self.S)]
        s45 = [np.flatnonzero((ks == s) & (book.slot_dte == 45)) for s in range(self.S)]
        self.c2_ok = np.array([a.size > 0 and b.size > 0 for a, b in zip(s7, s45)])
        self.c2_slot7 = xp.asarray(np.array([a[0] if a.size else 0 for a in s7]))
        self.c2_slot45 = xp.asarray(np.array([b[0] if b.size else 0 for b in s45]))
        self.c2_ok_dev = xp.asarray(self.c2_ok[:, None])
        self.layer_matrix = self._layer_matrix()
        hedged = np.flatnonzero(book.strat_params["hedge_on"][ks])
        # slots of hedged strategies are contiguous (slots are grouped by strategy)
        self.hedged_slots = slice(int(hedged[0]), int(hedged[-1]) + 1) if hedged.size else slice(0, 0)
        if hedged.size and hedged.size != hedged[-1] - hedged[0] + 1:
            raise ValueError("hedged strategies must be contiguous in the strategy rows")
        self.vix_a3, self.vix_b3 = compiled.model_q.vix2_coefficients(VIX3M_TAU)
        self.vix_a, self.vix_b = compiled.model_q.vix2_coefficients()

    # ------------------------------------------------------------------ small helpers
    def _layer_matrix(self):
        """``[S * L, K]`` 0/1 matrix mapping slots to (strategy, layer label)."""
        L = len(self.book.layer_dtes)
        m = np.zeros((self.S * L, self.K))
        for k in range(self.K):
            m[self.book.slot_strategy[k] * L + self.book.slot_layer[k], k] = 1.0
        return self.xp.asarray(m, dtype=self.dtype)

    def select(self, mask) -> Selection:
        return Selection(mask, self.dense, self.xp)

    def half_spread(self, price, pts, pct):
        return half_spread(price, pts, pct, self.xp)

    def to_strategy(self, x):
        """Sum slot values ``[K, P]`` per strategy -> ``[S, P]``."""
        return self._agg @ x.astype(self.dtype, copy=False)

    def to_slots(self, x):
        """Strategy values ``[S, P]`` -> ``[K, P]``."""
        return x[self.slot_strategy_dev]

    def enabled_nav(self, nav_slots):
        return nav_slots > 0

    def spx_expiry_k(self, t: int):
        return self.spx_expiry_dev[t][:, None]

    def hedge_new_expiry(self, h: int, rows: slice, t: int):
        contango = self.term_slope[None, :] > self.s_contango[self.h_strategy_dev[rows]]
        return self.xp.where(contango, self.h_exp_c[t][rows][:, None], self.h_exp_b[t][rows][:, None])

    def _variance_for_vix(self, vix):
        return self.xp.maximum(((vix / 100.0) ** 2 - self.vix_b) / self.vix_a, 0.0)

    # ------------------------------------------------------------------ run
    def run(self):
        xp, c, book, dt = self.xp, self.c, self.book, self.dtype
        S, P = self.S, self.P
        n_days = c.horizon
        st = PathStepper(c, self.b, self.start, P, self.seed)
        self.ladder = lad = Ladder(self)
        self.overlay = ov = Overlay(self)
        if self.trace_paths is not None and self.trace_paths.size:
            from .trace import Tracer

            self.tracer = Tracer(self, self.trace_paths)
        if self.audit:
            from .trace import Auditor

            self.auditor = Auditor(self)
        zs = lambda: xp.zeros((S, P), dtype=dt)  # noqa: E731
        self.cash = xp.broadcast_to(self.nav0, (S, P)).astype(dt)
        self.interest = zs()
        self.n_stops, self.n_rolls, self.n_entries = zs(), zs(), zs()
        self.n_stops_layer = xp.zeros((S * len(book.layer_dtes), P), dtype=dt)
        nav = self.cash.copy()
        # ---- accumulators
        acc = {k: zs() for k in ("sum_r", "sum_r2", "sum_neg2", "under_water", "peak_gamma", "peak_gamma0", "margin_peak",
                                 "c1_loss", "c1_off", "c3_off", "c7f_loss", "c7f_off", "c7c_loss", "c7c_off", "c2_num", "c2_den",
                                 "c6_num", "c6_den", "hedge_spent")}
        acc["peak_nav"] = nav.copy()
        acc["min_nav"] = nav.copy()
        acc["max_dd"] = zs()
        acc["worst_day"] = xp.full((S, P), np.inf, dtype=dt)
        acc["peak_gamma_layer"] = xp.zeros((S * len(book.layer_dtes), P), dtype=dt)
        bad_day = xp.full((S, P), -1, dtype=xp.int64)
        # daily bands and mean greeks
        self.hists = (xp.zeros((S, n_days + 1, NAV_BINS[2]), dtype=xp.int64), xp.zeros((n_days + 1, SPX_BINS[2]), dtype=xp.int64),
                      xp.zeros((n_days + 1, VIX_BINS[2]), dtype=xp.int64))
        self.greek_sums = xp.zeros((len(GREEKS), S * len(book.layer_dtes), n_days + 1), dtype=xp.float64)
        self.saved = {"nav": [], "spx": [], "vix": []} if self.save_paths else None
        self.acc, self.bad_day = acc, bad_day
        # ---- day 0: open the ladder, mark, first hedge decision
        spot, v, vix = st.spot, st.variance, st.vix
        self._signals_init(spot, vix, v)
        lad.mark(spot, v, 0.0)
        flow = lad.enter(spot, v, 0, self.to_slots(nav))
        self.cash = self.cash + self.to_strategy(flow)
        lad.derive()
        if self.J:
            ov.mark(v, 0.0)
        nav = self._nav()
        self.prev = {"nav": nav, "layer_pnl": lad.realized - lad.value(), "hedge_pnl": self._hedge_pnl(), "spot": spot}
        self.c2 = {"cum7": zs(), "cum45": zs(), "entry": lad.entry_time[self.c2_slot7]}
        self.hot_left = xp.zeros(P, dtype=dt)
        nav = self._day_close(0, spot, v, vix, nav)
        self._observe(0, nav)
        # ---- time loop
        for t in range(1, c.n_steps + 1):
            st.step()
            spot, v, vix = st.spot, st.variance, st.vix
            now = float(book.now_days[t])
            g = float(book.growth[t])
            self.interest = self.interest + self.cash * (g - 1.0)
            self.cash = self.cash * g
            lad.mark(spot, v, now)
            if self.J:
                ov.mark(v, now)
            if self.tracer is not None:
                self.tracer.snap("marked", t, {"spot": spot, "vix": vix})
            flow, stopped, _closed = lad.settle_and_exit(now)
            self.n_stops = self.n_stops + self.to_strategy(stopped)
            self.n_stops_layer = self.n_stops_layer + self.layer_matrix @ stopped.astype(dt)
            flow = flow + lad.cascade(stopped, spot, v, now)
            nav_pre = self._nav(cash=self.cash + self.to_strategy(flow))
            flow = flow + lad.enter(spot, v, t, self.to_slots(nav_pre))
            self.cash = self.cash + self.to_strategy(flow)
            lad.derive()
            nav = self._nav()
            # per-step gamma peaks
            gam = self.to_strategy(lad.greeks["gamma"])
            acc["peak_gamma"] = xp.maximum(acc["peak_gamma"], xp.abs(gam))
            acc["peak_gamma_layer"] = xp.maximum(acc["peak_gamma_layer"], xp.abs(self.layer_matrix @ lad.greeks["gamma"]))
            front_left = lad.expiry[self.front_slot_dev] - now
            near0 = (front_left <= 2.0) & lad.is_open[self.front_slot_dev]
            acc["peak_gamma0"] = xp.where(near0, xp.maximum(acc["peak_gamma0"], xp.abs(gam)), acc["peak_gamma0"])
            acc["margin_peak"] = xp.maximum(acc["margin_peak"], self.to_strategy(lad.margin()))
            if book.end_of_day[t]:
                nav = self._day_close(t, spot, v, vix, nav)
            self._day_info["stopped"] = stopped
            self._observe(t, nav, spot=spot, vix=vix)
        self._finalize_c2(final=True)
        self.nav = nav
        self.final_spot, self.final_vix = spot, vix
        return self

    def _observe(self, t: int, nav, spot=None, vix=None) -> None:
        """Tracer snapshot and audit at the end of step ``t``."""
        if self.auditor is not None:
            self.auditor.check(nav, self._day_info.get("allowance"))
        if self.tracer is not None:
            extra = {"nav": nav}
            if spot is not None:
                extra.update(spot=spot, vix=vix)
            extra.update({k: v for k, v in self._day_info.items() if k != "active"})
            for h, a in enumerate(self._day_info.get("active", [])):
                if a is not None:
                    extra[f"active_{h}"] = a
            self.tracer.snap("end", t, extra)

    # ------------------------------------------------------------------ NAV
    def _hedge_pnl(self):
        ov = self.overlay
        return self._hedge_to_strategy(ov.realized + ov.position_value())

    def _hedge_to_strategy(self, x, rows=slice(None)):
        """Sum hedge-slot values ``[J_rows, P]`` per strategy -> ``[S, P]``."""
        if not self.J:
            return self.xp.zeros((self.S, self.P), dtype=self.dtype)
        return self._hagg[:, rows] @ x
    def _nav(self, cash=None):
        """NAV = cash - ladder liability (mid) + hedge value (mid, the step's marks), ``[S, P]``."""
        cash = self.cash if cash is None else cash
        lad = self.ladder.value()
        return cash - self.to_strategy(lad) + self._hedge_to_strategy(self.overlay.position_value())

    # ------------------------------------------------------------------ signals
    def _signals_init(self, spot, vix, v):
        xp = self.xp
        v0 = float(self.c.v0)
        self.rsi_spx = WilderRsi(14, spot, neutral_seed_move(self.c.spot, v0), xp)
        self.rsi_vix = WilderRsi(14, vix, neutral_seed_move(float(self.c.model_q.vix_from_variance(v0)), max(self.c.model_p.sigma**2 / max(v0, 1e-6), 0.25)), xp)
        self.macd_spx = Macd(spot)
        self.macd_vix = Macd(vix)
        self.term_slope = self._term_slope(v, vix)
        self.prev_signals = None

    def _term_slope(self, v, vix):
        xp = self.xp
        vix3m = 100.0 * xp.sqrt(xp.maximum(self.vix_a3 * v + self.vix_b3, 0.0))
        return vix3m - vix

    def _signal_values(self, t, spot, v, vix, nav, peak_nav):
        """Every registered signal: path-level ``[P]`` or strategy-level ``[S, P]``."""
        xp, lad = self.xp, self.ladder
        now = float(self.book.now_days[t])
        f = self.front_slot_dev
        tau = lad.tau(now)[f]
        fwd = spot * xp.exp((self.c.rate - self.c.dividend_yield) * tau)
        sd = xp.sqrt(xp.maximum(tau, 1e-8))
        kps, kcs = lad.kps[f], lad.kcs[f]
        iv_p = self.spx.iv(xp.log(xp.maximum(kps, 1.0) / fwd), v, tau)
        iv_c = self.spx.iv(xp.log(xp.maximum(kcs, 1.0) / fwd), v, tau)
        d_put = xp.log(spot / xp.maximum(kps, 1.0)) / (iv_p * sd)
        d_call = xp.log(xp.maximum(kcs, 1.0) / spot) / (iv_c * sd)
        open_f = lad.is_open[f]
        dist = xp.where(open_f, xp.minimum(d_put, d_call), 99.0)
        delta = self.to_strategy(lad.greeks["delta"])
        return {
            "spx_rsi14": self.rsi_spx.value,
            "vix_rsi14": self.rsi_vix.value,
            "spx_macd_hist": self.macd_spx.hist,
            "vix_macd_hist": self.macd_vix.hist,
            "term_slope": self.term_slope,
            "vix": vix,
            "days_to_event": float(self.book.days_to_event[t]),
            "front_strike_distance_sd": dist,
            "ladder_delta": delta * spot * 0.01 / xp.where(nav > 0, nav, 1.0),
            "drawdown": 1.0 - nav / xp.maximum(peak_nav, 1e-9),
        }

    def _for_layer(self, value, rows):
        """A signal gathered to the hedge slots of one layer ``[J_h, P]`` (or broadcastable)."""
        if isinstance(value, float):
            return value
        if value.ndim == 2:
            return value[self.h_strategy_dev[rows]]
        return value[None, :]

    # ------------------------------------------------------------------ end of day
    def _day_close(self, t, spot, v, vix, nav):
        """Signals, hedge overlay, metrics, claims and bands at the close of a trading day."""
        xp, book, lad, ov, dt = self.xp, self.book, self.ladder, self.overlay, self.dtype
        acc, prev, c2, hot_left, bad_day = self.acc, self.prev, self.c2, self.hot_left, self.bad_day
        nav_hist, spx_hist, vix_hist = self.hists
        greek_sums, saved = self.greek_sums, self.saved
        d = int(self.c.day[t])
        now = float(book.now_days[t])
        if t > 0:
            self.rsi_spx.update(spot)
            self.rsi_vix.update(vix)
            self.macd_spx.update(spot)
            self.macd_vix.update(vix)
            self.term_slope = self._term_slope(v, vix)
        peak = xp.maximum(acc["peak_nav"], nav)
        # ---- hedge overlay
        if self.J:
            values = self._signal_values(t, spot, v, vix, nav, peak)
            prev_vals = self.prev_signals or values
            active = []
            for h, cond in enumerate(self.conditions):
                rows = _rows_of(ov, h)
                if rows is None:
                    active.append(None)
                    continue
                vals = {k: self._for_layer(values[k], rows) for k in cond.signals()}
                pvals = {k: self._for_layer(prev_vals[k], rows) for k in cond.signals()}
                a = cond.evaluate(vals, pvals, xp)
                active.append(xp.broadcast_to(xp.asarray(a), (rows.stop - rows.start, self.P)))
            self.prev_signals = values
            # probe state per slot / hedge slot
            # probe loss of the ladder, repriced only on the slots of hedged strategies
            hs = self.hedged_slots
            vix_k = vix[None, :] + self.s_probe_vix[self.slot_strategy_dev[hs]]
            spot_k = spot[None, :] * (1.0 + self.s_probe_spx[self.slot_strategy_dev[hs]])
            delta_k = lad.probe_value(spot_k, self._variance_for_vix(vix_k), now, rows=hs) - lad.value()[hs]
            loss = self._agg[:, hs] @ delta_k
            # ramp on the front layer's strike distance and remaining DTE
            dist = values["front_strike_distance_sd"]
            x_d = xp.clip((self.s_ramp_sd - dist) / self.s_ramp_sd, 0.0, 1.0)
            f = self.front_slot_dev
            x_t = xp.clip(1.0 - (lad.expiry[f] - now) / self.slot_dte_col[f], 0.0, 1.0)
            x_t = xp.where(lad.is_open[f], x_t, 0.0)
            tf = xp.minimum(self.s_target_fraction * (1.0 + self.s_ramp_dist_gain * x_d + self.s_ramp_dte_gain * x_t), self.s_ramp_max)
            tf = xp.where(self.s_hedge_on, tf, 0.0)
            under = xp.where(float(book.days_to_event[t]) <= self.s_event_window, self.s_underhedge, 0.0) * xp.ones((1, self.P), dtype=dt)
            years = now / 365.0
            allowance = self.s_budget_rate * xp.maximum(years, self.s_budget_lead)
            probe_v_h = self._variance_for_vix(vix[None, :] + self.s_probe_vix[self.h_strategy_dev])
            self._day_info.update(active=active, under=under, allowance=allowance, probe_loss=loss, target_fraction=tf,
                                  days_to_event=float(book.days_to_event[t]), **{f"signal_{k}": val for k, val in values.items()})
            flow_h = ov.daily(t, spot, v, vix, probe_v_h, loss, tf, under, active, allowance)
            self.cash = self.cash + self._hedge_to_strategy(flow_h)
            nav = self._nav()
            # C6: first hedge layer's probe-equivalent delta vs the ladder's negative delta
            if ov.layers:
                _, rows0, _ = ov.layers[0]
                cov = ov.probe_coverage(rows0)
                hedge_delta = self._hedge_to_strategy(cov, rows0) / (spot * xp.abs(self.s_probe_spx))
                ld = self.to_strategy(lad.greeks["delta"])
                neg = ld < 0
                acc["c6_num"] += xp.where(neg, xp.minimum(hedge_delta, -ld), 0.0)
                acc["c6_den"] += xp.where(neg, -ld, 0.0)
            acc["hedge_spent"] = ov.spent
        # ---- metrics
        if t > 0:
            r = nav / xp.where(prev["nav"] > 0, prev["nav"], 1.0) - 1.0
            acc["sum_r"] += r
            acc["sum_r2"] += r * r
            acc["sum_neg2"] += xp.minimum(r, 0.0) ** 2
            acc["worst_day"] = xp.minimum(acc["worst_day"], nav - prev["nav"])
            # claims: daily P&L of layers (front / back) and hedges
            layer_pnl = lad.realized - lad.value()
            dl = layer_pnl - prev["layer_pnl"]
            front = self.to_strategy(dl * self.front_mask_k)
            back = self.to_strategy(dl * self.back_mask_k)
            hpnl = self._hedge_pnl()
            dh = hpnl - prev["hedge_pnl"]
            loss_f = xp.maximum(-front, 0.0)
            off_b = xp.minimum(xp.maximum(back, 0.0), loss_f)
            off_bh = xp.minimum(xp.maximum(back + dh, 0.0), loss_f)
            acc["c1_loss"] += loss_f
            acc["c1_off"] += off_b
            acc["c3_off"] += off_bh
            kinds = book.event_kind_day
            near_fomc = bool(kinds["fomc"][max(t - self.c.steps_per_day, 0): t + self.c.steps_per_day + 1].any())
            if near_fomc:
                acc["c7f_loss"] += loss_f
                acc["c7f_off"] += off_b
            if kinds["cpi"][t] or kinds["ppi"][t]:
                hot = spot < prev["spot"]
                hot_left[...] = xp.where(hot, 3.0, hot_left)
            inwin = hot_left > 0
            acc["c7c_loss"] += xp.where(inwin, loss_f, 0.0)
            acc["c7c_off"] += xp.where(inwin, off_b, 0.0)
            hot_left[...] = xp.maximum(hot_left - 1.0, 0.0)
            # C2: 45-DTE gain per $ of 7-DTE loss in the first 9 days of each 7-DTE position
            entry7 = lad.entry_time[self.c2_slot7]
            self._finalize_c2(new_position=entry7 != c2["entry"])
            c2["entry"] = entry7
            young = (now - entry7) <= C2_WINDOW_DAYS + 1e-9
            c2["cum7"] += xp.where(young & self.c2_ok_dev, dl[self.c2_slot7], 0.0)
            c2["cum45"] += xp.where(young & self.c2_ok_dev, dl[self.c2_slot45], 0.0)
            prev["layer_pnl"], prev["hedge_pnl"] = layer_pnl, hpnl
        acc["peak_nav"] = xp.maximum(acc["peak_nav"], nav)
        acc["min_nav"] = xp.minimum(acc["min_nav"], nav)
        acc["max_dd"] = xp.maximum(acc["max_dd"], 1.0 - nav / xp.maximum(acc["peak_nav"], 1e-9))
        acc["under_water"] += (nav < acc["peak_nav"] * (1.0 - 1e-12)).astype(dt)
        bad_day[...] = xp.where((bad_day < 0) & ~xp.isfinite(nav), d, bad_day)
        prev["nav"], prev["spot"] = nav, spot
        # daily bands and mean greeks
        _hist_add(nav_hist[:, d], nav / self.nav0, NAV_BINS, xp)
        _hist_add(spx_hist[d][None], (spot / self.c.spot)[None], SPX_BINS, xp)
        _hist_add(vix_hist[d][None], vix[None], VIX_BINS, xp)
        for gi, name in enumerate(GREEKS):
            greek_sums[gi, :, d] += (self.layer_matrix @ lad.greeks[name]).sum(axis=1).astype(xp.float64)
        if saved is not None:
            saved["nav"].append(nav.copy())
            saved["spx"].append(spot.copy())
            saved["vix"].append(vix.copy())
        return nav

    def _finalize_c2(self, new_position=None, final: bool = False):
        """Close the C2 accumulators of 7-DTE positions that ended (or all, at the end)."""
        xp, c2, acc = self.xp, self.c2, self.acc
        done = xp.ones_like(c2["cum7"], dtype=bool) if final else new_position
        lost = done & (c2["cum7"] < 0)
        acc["c2_num"] += xp.where(lost, c2["cum45"], 0.0)
        acc["c2_den"] += xp.where(lost, -c2["cum7"], 0.0)
        c2["cum7"] = xp.where(done, 0.0, c2["cum7"])
        c2["cum45"] = xp.where(done, 0.0, c2["cum45"])

    # ------------------------------------------------------------------ result
    def result(self):
        """Host copies of everything the run reports for this batch (the device->host boundary)."""
        from ...results import to_host

        xp, b, c, book, lad = self.xp, self.b, self.c, self.book, self.ladder
        S, P = self.S, self.P
        L = len(book.layer_dtes)
        bad = to_host(b, self.bad_day)
        if (bad >= 0).any():
            s, p = np.argwhere(bad >= 0)[np.argmin(bad[bad >= 0])]
            day = int(bad[s, p])
            step = int(np.searchsorted(c.day, day))
            raise NonFiniteError(c.name, f"NAV of strategy {book.labels[s]}", self.start + int(p), step, str(c.times[step])[:19])
        acc = self.acc
        nav = self.nav
        years = float(book.now_days[-1]) / 365.0
        n_days = c.horizon
        layer_pnl = (self.layer_matrix @ (lad.realized - lad.value())).reshape(S, L, P)
        hedge_pnl = self._hedge_pnl()
        ov = self.overlay
        per_path = {
            "final_pnl": nav - self.nav0,
            "final_nav": nav,
            "min_nav": acc["min_nav"],
            "max_drawdown": acc["max_dd"],
            "worst_day": acc["worst_day"],
            "n_stops": self.n_stops,
            "n_rolls": self.n_rolls,
            "n_entries": self.n_entries,
            "hedge_premium": acc["hedge_spent"] if self.J else xp.zeros((S, P), dtype=self.dtype),
            "hedge_pnl": hedge_pnl,
            "interest": self.interest,
            "costs": self.to_strategy(lad.costs) + (self._hedge_to_strategy(ov.costs) if self.J else 0.0),
            "peak_gamma": acc["peak_gamma"],
            "peak_gamma_near_expiry": acc["peak_gamma0"],
            "margin_peak": acc["margin_peak"],
            "under_water_days": acc["under_water"],
            "sum_r": acc["sum_r"],
            "sum_r2": acc["sum_r2"],
            "sum_neg2": acc["sum_neg2"],
        }
        for k in ("c1_loss", "c1_off", "c3_off", "c7f_loss", "c7f_off", "c7c_loss", "c7c_off", "c2_num", "c2_den", "c6_num", "c6_den"):
            per_path[k] = acc[k]
        host = {k: to_host(b, xp.asarray(v, dtype=xp.float64) if not hasattr(v, "dtype") else v).astype(np.float64) for k, v in per_path.items()}
        host["layer_pnl"] = to_host(b, layer_pnl).astype(np.float64)
        host["layer_stops"] = to_host(b, self.n_stops_layer.reshape(S, L, P)).astype(np.float64)
        host["layer_peak_gamma"] = to_host(b, acc["peak_gamma_layer"].reshape(S, L, P)).astype(np.float64)
        host["spx_final"] = to_host(b, self.final_spot).astype(np.float64)
        host["vix_final"] = to_host(b, self.final_vix).astype(np.float64)
        nav_hist, spx_hist, vix_hist = self.hists
        sums = {
            "nav_hist": to_host(b, nav_hist),
            "spx_hist": to_host(b, spx_hist),
            "vix_hist": to_host(b, vix_hist),
            "greek_sums": to_host(b, self.greek_sums).reshape(len(GREEKS), S, L, n_days + 1),
        }
        paths = None
        if self.saved is not None:
            paths = {
                "nav": to_host(b, xp.stack(self.saved["nav"], axis=1)),  # [S, D+1, P]
                "spx": to_host(b, xp.stack(self.saved["spx"], axis=0)),  # [D+1, P]
                "vix": to_host(b, xp.stack(self.saved["vix"], axis=0)),
            }
        out = {"per_path": host, "sums": sums, "paths": paths, "years": years, "count": P, "start": self.start}
        if self.tracer is not None:
            out["trace"] = {"paths": (self.trace_paths + self.start).tolist(), "records": self.tracer.records}
        if self.auditor is not None:
            out["audit"] = self.auditor.report()
        return out


def _rows_of(ov: Overlay, h: int):
    for hh, rows, _ in ov.layers:
        if hh == h:
            return rows
    return None


def _hist_add(hist, x, bins, xp):
    """Add counts of ``x`` [R, P] into ``hist`` [R, B] (values clipped into the end bins)."""
    lo, hi, nb = bins
    x = xp.where(xp.isfinite(x), x, hi)  # non-finite values land in the top bin (the run then stops anyway)
    idx = xp.clip(xp.floor((x - lo) / (hi - lo) * nb), 0, nb - 1).astype(xp.int64)
    R = idx.shape[0]
    flat = (idx + xp.arange(R, dtype=xp.int64)[:, None] * nb).ravel()
    hist += xp.bincount(flat, minlength=R * nb).reshape(R, nb)


def _to_device(cond, xp, dt):
    """Move a compiled condition's threshold arrays to the device."""
    from dataclasses import replace

    from ..signals import Condition

    items = []
    for it in cond.items:
        if isinstance(it, Condition):
            items.append(_to_device(it, xp, dt))
        else:
            val = it.value
            items.append(replace(it, value=xp.asarray(val, dtype=dt) if isinstance(val, np.ndarray) else val))
    return Condition(cond.mode, tuple(items))


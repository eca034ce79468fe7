"""The claim accumulator units against hand computations on tiny deterministic day sequences.

Each unit's hooks are plain Python callables (the same source the kernels compile); they are fed
hand-built observations ``ctx`` and ladder slots ``L`` day by day and their sums are compared with the
formulas of docs/claims.md evaluated here independently.
"""

import math

import numpy as np
import pytest

from gpu_alvh.strategy.accumulators import c1_life, c5_gamma, c6_delta, c7_events
from gpu_alvh.strategy.params import MAX_LAYERS, NEAR_EXPIRY_DAYS
from gpu_alvh.strategy.state import CTX, HSLOT, SLOT


def _acc(unit):
    a = np.zeros(sum(s for _, s, _ in unit.FIELDS))
    off = 0
    for _, size, init in unit.FIELDS:
        a[off:off + size] = float(init) if not isinstance(init, str) else 0.0
        off += size
    return a


def _field(unit, a, name):
    off = 0
    for fname, size, _ in unit.FIELDS:
        if fname == name:
            return a[off] if size == 1 else a[off:off + size]
        off += size
    raise KeyError(name)


def _ctx(**kw):
    c = np.zeros(1, CTX)
    for k, v in kw.items():
        c[0][k] = v
    return c


def test_c6_regression_sums_by_side():
    # day t: ladder delta at the close ($/pt), spot, first-hedge P&L before / after the overlay, held at the previous close
    delta = [50.0, 80.0, -40.0, 30.0, 60.0, 10.0]
    spot = [100.0, 98.0, 97.0, 99.0, 95.0, 96.0]
    pre = [0.0, 150.0, 100.0, -20.0, 400.0, 380.0]
    post = [0.0, 140.0, 100.0, -20.0, 390.0, 380.0]
    held = [False, True, True, False, True, True]
    unit, a, L, H = c6_delta, _acc(c6_delta), np.zeros(MAX_LAYERS, SLOT), np.zeros(8, HSLOT)
    for t in range(len(spot)):
        c = _ctx(t=t, overlay_day=True, ladder_delta=delta[t], spot=spot[t], prev_spot=spot[t - 1] if t else spot[0],
                 h0_pre=pre[t], h0_post=post[t], h0_held=held[t], hedge0_delta=5.0)
        unit.on_day(a, 0, c, L, H)
    # by hand: x_t = delta_{t-1} (S_t - S_{t-1}), y_t = pre_t - post_{t-1}
    # t=1: x = 50 * -2 = -100 (down), y = 150 -> in;  t=2: x = 80 * -1 = -80 (down), y = 100 - 140 = -40 -> in
    # t=3: x = -40 * 2 = -80 (up), not held -> out;   t=4: x = 30 * -4 = -120 (down), y = 400 + 20 = 420 -> in
    # t=5: x = 60 * 1 = 60 > 0 -> out
    xs, ys = np.array([-100.0, -80.0, -120.0]), np.array([150.0, -40.0, 420.0])
    assert _field(unit, a, "c6_sxy") == pytest.approx(float(xs @ ys))
    assert _field(unit, a, "c6_sxx") == pytest.approx(float(xs @ xs))
    assert _field(unit, a, "c6_syy") == pytest.approx(float(ys @ ys))
    assert _field(unit, a, "c6_n") == 3.0
    assert _field(unit, a, "c6u_n") == 0.0
    # the probe line: days t >= 1 with a negative ladder delta (t = 2): min(5, 40)
    assert _field(unit, a, "c6_num") == 5.0 and _field(unit, a, "c6_den") == 40.0
    # the up side: held, x < 0 from an up move
    a2 = _acc(unit)
    for t, (d, s, h) in enumerate([(-10.0, 100.0, False), (-20.0, 103.0, True), (0.0, 104.0, True)]):
        unit.on_day(a2, 0, _ctx(t=t, overlay_day=True, ladder_delta=d, spot=s, prev_spot=[100.0, 100.0, 103.0][t], h0_pre=[0, -30.0, -50.0][t],
                                h0_post=[0, -30.0, -50.0][t], h0_held=h), L, H)
    # t=1: x = -10 * 3 = -30, y = -30; t=2: x = -20 * 1 = -20, y = -20
    assert _field(unit, a2, "c6u_sxy") == pytest.approx(900.0 + 400.0)
    assert _field(unit, a2, "c6u_sxx") == pytest.approx(900.0 + 400.0)
    assert _field(unit, a2, "c6u_n") == 2.0


def test_c5_peak_net_gamma_and_worst_near_expiry_loss():
    unit, a, L, H = c5_gamma, _acc(c5_gamma), np.zeros(MAX_LAYERS, SLOT), np.zeros(8, HSLOT)
    # (front_left at the close, ladder gamma, hedge gamma, NAV at the close)
    days = [(5.0, -10.0, 0.0, 1000.0), (3.0, -20.0, 1.0, 990.0), (2.0, -30.0, 4.0, 970.0), (1.0, -50.0, 8.0, 900.0),
            (7.0, -5.0, 0.0, 950.0), (6.0, -6.0, 0.0, 800.0)]
    for t, (left, g, hg, nav) in enumerate(days):
        c = _ctx(t=t, front_open=True, front_left=left, gamma=g, hedge_gamma=hg, nav=nav, prev_nav=days[t - 1][3] if t else nav)
        unit.on_step(a, 0, c, L, H)
        unit.on_day(a, 0, c, L, H)
    # near expiry (left <= 2): t = 2, 3 -> peak |g + hg| = max(26, 42)
    assert NEAR_EXPIRY_DAYS == 2.0
    assert _field(unit, a, "c5_peak_net") == 42.0
    # days whose previous close was near expiry: t = 3 (970 -> 900: loss 70), t = 4 (900 -> 950: gain)
    assert _field(unit, a, "c5_worst_loss") == 70.0 and _field(unit, a, "c5_days") == 2.0


def _slot_day(L, k, realized, n, val, entry):
    L[k]["realized"], L[k]["n_put"], L[k]["n_call"], L[k]["val_put"], L[k]["val_call"], L[k]["entry_time"] = realized, n, n, val, 0.0, entry


def test_c1_per_life_signed_offset():
    unit, a, L, H = c1_life, _acc(c1_life), np.zeros(MAX_LAYERS, SLOT), np.zeros(8, HSLOT)
    # one front slot; P&L = realized - 100 n val.  Life 1 (entry 0): days 0..3, loses; life 2 (entry 4): days 4..6, wins
    seq = [  # (realized, n, val, entry, back P&L of the day)
        (200.0, 1, 2.0, 0.0, 0.0),  # day 0: open, pnl 0
        (200.0, 1, 3.0, 0.0, 40.0),  # pnl -100
        (200.0, 1, 5.0, 0.0, -10.0),  # pnl -300
        (-300.0, 0, 0.0, 0.0, 25.0),  # closed: pnl -300 (flat) -> life 1 ends with F = -300, B = 55
        (-100.0, 1, 2.0, 4.0, 5.0),  # new life, pnl -300 (starts here)
        (-100.0, 1, 1.0, 4.0, -7.0),  # pnl -200: +100
        (-100.0, 1, 0.5, 4.0, 3.0),  # pnl -150: +50 -> a winning life at the horizon, not counted
    ]
    for t, (re, n, val, entry, back) in enumerate(seq):
        _slot_day(L, 0, re, n, val, entry)
        unit.on_day(a, 0, _ctx(t=t, n_front=1, day_back=back), L, H)
    unit.on_final(a, 0, _ctx(n_front=1), L, H)
    assert _field(unit, a, "c1l_den") == pytest.approx(300.0)
    assert _field(unit, a, "c1l_num") == pytest.approx(40.0 - 10.0 + 25.0)
    assert _field(unit, a, "c1l_lives") == 1.0
    # a losing life still open at the horizon counts, with its P&L to date
    a2 = _acc(unit)
    for t, (val, back) in enumerate([(2.0, 0.0), (4.0, -30.0)]):
        _slot_day(L, 0, 200.0, 1, val, 0.0)
        unit.on_day(a2, 0, _ctx(t=t, n_front=1, day_back=back), L, H)
    unit.on_final(a2, 0, _ctx(n_front=1), L, H)
    assert _field(unit, a2, "c1l_den") == pytest.approx(200.0) and _field(unit, a2, "c1l_num") == pytest.approx(-30.0)


def test_c7_cpi_window_needs_a_steepening_curve():
    unit, a, L, H = c7_events, _acc(c7_events), np.zeros(MAX_LAYERS, SLOT), np.zeros(8, HSLOT)
    # (cpi day, futures slope, front P&L, back P&L)
    days = [(False, 1.0, 0.0, 0.0), (True, 0.5, -10.0, 4.0),  # CPI, curve flattens: no window
            (False, 0.6, -10.0, 20.0), (True, 0.9, -8.0, 2.0),  # CPI, steepens: window of 3 days from here
            (False, 0.9, -6.0, 10.0), (False, 0.9, 5.0, 1.0), (False, 0.9, -4.0, 4.0)]
    for t, (cpi, slope, f, b) in enumerate(days):
        unit.on_day(a, 0, _ctx(t=t, cpi_ppi=cpi, fut_slope=slope, day_front=f, day_back=b, near_fomc=False), L, H)
    # window days 3, 4, 5: losses 8, 6, 0; offsets min(2, 8), min(10, 6), 0
    assert _field(unit, a, "c7c_loss") == pytest.approx(14.0)
    assert _field(unit, a, "c7c_off") == pytest.approx(8.0)
    assert _field(unit, a, "c7c_windows") == 1.0


def test_model_beta_terms_match_simulated_jump_moments():
    from gpu_alvh.models import get_model
    from gpu_alvh.strategy.launch import vix_beta_terms

    heston = get_model("heston")(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7)
    assert vix_beta_terms(heston) == pytest.approx((-0.35, 0.0, 0.0))
    m = get_model("svcj")(kappa=3.0, theta=0.02, sigma=0.4, rho=-0.6, jump_intensity=2.0, jump_mean=-0.03, jump_std=0.04, var_jump_mean=0.05,
                  jump_corr=-0.5)
    rho_sigma, lzj, lj2 = vix_beta_terms(m)
    assert rho_sigma == pytest.approx(-0.24)
    rng = np.random.default_rng(3)
    n = 400_000
    z = rng.exponential(0.05, n)
    j = -0.03 - 0.5 * z + 0.04 * rng.standard_normal(n)
    for got, sample in ((lzj, 2.0 * z * j), (lj2, 2.0 * j * j)):
        se = sample.std() / math.sqrt(n)
        assert abs(got - sample.mean()) <= 4 * se


def test_hedge_spx_gamma_is_the_second_derivative_along_the_model_beta():
    """``spx_gamma`` (central differences in v) against a second difference in S of the hedge value
    along ``v(S) = v0 + beta ln(S / S0)`` (beta held at the state, as in its definition)."""
    from gpu_alvh.backend import get_backend
    from gpu_alvh.compile import compile_scenario
    from gpu_alvh.pricing.vix import VixTable
    from gpu_alvh.spec import load_scenario
    from gpu_alvh.strategy import hedge, marks
    from gpu_alvh.strategy.book import baseline_rows, compile_book
    from gpu_alvh.strategy.launch import vix_beta_terms
    from gpu_alvh.strategy.params import build_params

    sp = load_scenario("base", overrides={"horizon": 5})
    c = compile_scenario(sp)
    book = compile_book(baseline_rows(sp.strategy_spec())[:1], c)
    hp = build_params(book, c).hedges
    table = VixTable.build(c.model_q, rate=c.rate, backend=get_backend("numpy"), dtype="float64", max_days=60.0)
    vx = tuple(np.asarray(x) for x in marks.vix_arrays(table))
    kq = (0.0, 0.0, 0.0, 0.0, *vix_beta_terms(c.model_p), 0.0, 0.0, 0.0)
    H = np.zeros(8, HSLOT)
    H["n"][:2], H["k1"][:2], H["expiry"][:2], H["expiry_v"][:2] = (40.0, 15.0), (18.0, 22.0), (20.0, 45.0), (14 / 252, 31 / 252)
    v0, s0 = 0.03, 6000.0
    g = hedge.spx_gamma(H, 2, hp, 0, (v0, 0.0), 0.0, 0.0, vx, s0, kq)
    beta, beta2 = hedge.vix_beta((v0, 0.0), kq)
    assert beta2 == 0.0

    def value(s):
        v = v0 + beta * math.log(s / s0)
        return sum(H["n"][j] * hp[j]["multiplier"] * hedge.unit_value(vx, hp[j], (v, 0.0), H["expiry"][j] / 365, H["expiry_v"][j], H["k1"][j]) for j in range(2))

    ds = s0 * 0.1 * v0 / abs(beta)  # the same variance step as spx_gamma's (10% of v)
    want = (value(s0 + ds) - 2 * value(s0) + value(s0 - ds)) / ds**2
    assert g > 0.0  # long VIX calls: positive SPX-equivalent gamma (V_v > 0, beta < 0)
    # the two second differences agree to the size of the step's curvature error (relative 5%)
    assert g == pytest.approx(want, rel=0.05)


def test_hedge_spx_gamma_of_two_factors_is_the_second_derivative_along_both_betas():
    """Two factors: ``spx_gamma`` against a second difference in S of the hedge value along
    ``(v, v2)(S) = (v0, v2_0) + (beta, beta2) ln(S / S0)`` (both betas held at the state), on a small
    two-factor VIX table of ``base_2f``; the S step is the lead factor's variance step (10% of it)."""
    from gpu_alvh.backend import get_backend
    from gpu_alvh.compile import compile_scenario
    from gpu_alvh.pricing.vix import VixTable
    from gpu_alvh.spec import load_scenario
    from gpu_alvh.strategy import hedge, marks
    from gpu_alvh.strategy.book import baseline_rows, compile_book
    from gpu_alvh.strategy.launch import regime_constants
    from gpu_alvh.strategy.params import build_params

    sp = load_scenario("base_2f", overrides={"horizon": 5})
    c = compile_scenario(sp)
    book = compile_book(baseline_rows(sp.strategy_spec())[:1], c)
    hp = build_params(book, c).hedges
    table = VixTable.build(c.model_q, rate=c.rate, backend=get_backend("numpy"), dtype="float64", max_days=60.0, n_v=21, n_tau=10, n_v2=9)
    vx = tuple(np.asarray(x) for x in marks.vix_arrays(table))
    kq = tuple(float(x) for x in regime_constants(c)[0])
    assert kq[9] == pytest.approx(c.model_p.rho2 * c.model_p.sigma2)
    H = np.zeros(8, HSLOT)
    H["n"][:2], H["k1"][:2], H["expiry"][:2], H["expiry_v"][:2] = (40.0, 15.0), (18.0, 22.0), (20.0, 45.0), (14 / 252, 31 / 252)
    s0 = 6000.0
    for v0, v20 in ((0.02, 0.015), (0.002, 0.04)):  # the fast factor leads, then the slow one
        state = (v0, v20)
        g = hedge.spx_gamma(H, 2, hp, 0, state, 0.0, 0.0, vx, s0, kq)
        beta, beta2 = hedge.vix_beta(state, kq)
        assert beta < 0.0 and beta2 < 0.0

        def value(s):
            x = math.log(s / s0)
            st_ = (v0 + beta * x, v20 + beta2 * x)
            return sum(H["n"][j] * hp[j]["multiplier"] * hedge.unit_value(vx, hp[j], st_, H["expiry"][j] / 365, H["expiry_v"][j], H["k1"][j])
                       for j in range(2))

        lead, v_lead = (beta2, v20) if abs(beta2) > abs(beta) else (beta, v0)
        ds = s0 * max(0.1 * v_lead, hedge.FD_VAR_FLOOR) / abs(lead)
        want = (value(s0 + ds) - 2 * value(s0) + value(s0 - ds)) / ds**2
        assert g == pytest.approx(want, rel=0.05), (state, g, want)

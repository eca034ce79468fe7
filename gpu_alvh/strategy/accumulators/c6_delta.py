"""C6 delta offset: the first hedge layer's signed realised hedge ratio against the ladder's delta P&L.

Day ``d`` (overlay days, ``d >= 1``): the ladder's delta P&L ``x_d = Delta_{d-1} (S_d - S_{d-1})`` ($; the
ladder's dollar delta per point at the previous close) and the first hedge slot's P&L over the day
``y_d`` ($; its realised flows plus the change of its mark, before the day's overlay trades), on days
it was held at the previous close and ``x_d < 0``.  Per path, sums for the regression through the origin
``y = beta x`` on each side: **down** (``S_d < S_{d-1}``: a loss from a down move, the side a long-VIX
hedge covers) and **up** (a loss from an up move: the call wing of seed 003's example)::

    Sxy += x y,  Sxx += x^2,  Syy += y^2,  n += 1

pooled over paths as ``beta = sum Sxy / sum Sxx``; the hedge ratio is ``-beta`` (hedge gain per $ of the
ladder's delta loss).  Secondary (probe-based, the sizing's own view): the probe-equivalent SPX delta of
the first layer over the ladder's negative delta, ``num += min(hedge_delta, -delta)``, ``den += -delta``.
"""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c6_num", 1, 0.0), ("c6_den", 1, 0.0),
          ("c6_sxy", 1, 0.0), ("c6_sxx", 1, 0.0), ("c6_syy", 1, 0.0), ("c6_n", 1, 0.0),
          ("c6u_sxy", 1, 0.0), ("c6u_sxx", 1, 0.0), ("c6u_syy", 1, 0.0), ("c6u_n", 1, 0.0),
          ("c6_prev_delta", 1, 0.0), ("c6_prev_h0", 1, 0.0))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if not c["overlay_day"]:
        return
    if c["t"] > 0:
        ld = c["ladder_delta"]
        if ld < 0.0:
            a[o] += min(c["hedge0_delta"], -ld)
            a[o + 1] += -ld
        ds = c["spot"] - c["prev_spot"]
        x = a[o + 10] * ds
        y = c["h0_pre"] - a[o + 11]
        if c["h0_held"] and x < 0.0:
            b = o + 2 if ds < 0.0 else o + 6
            a[b] += x * y
            a[b + 1] += x * x
            a[b + 2] += y * y
            a[b + 3] += 1.0
    a[o + 10] = c["ladder_delta"]
    a[o + 11] = c["h0_post"]

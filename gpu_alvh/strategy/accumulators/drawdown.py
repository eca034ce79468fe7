"""Running peak, trough, maximum drawdown and days under water of NAV (every day close, day 0 included).

``max_drawdown = max_t 1 - NAV_t / max_{u<=t} NAV_u`` (the peak starts at the NAV before day 0's entry
costs); a day ``t = 1..N`` is under water when ``NAV_t < peak_t (1 - 1e-12)``, so ``under_water_days / N``
is a share in [0, 1] (day 0 is the start, not a day held).
"""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("peak_nav", 1, "nav0"), ("min_nav", 1, "nav0"), ("max_drawdown", 1, 0.0), ("under_water_days", 1, 0.0))


@register_jitable
def on_day(a, o, ctx, L, H):
    nav = ctx[0]["nav"]
    a[o] = max(a[o], nav)
    a[o + 1] = min(a[o + 1], nav)
    a[o + 2] = max(a[o + 2], 1.0 - nav / max(a[o], 1e-9))
    if ctx[0]["day"] > 0 and nav < a[o] * (1.0 - 1e-12):
        a[o + 3] += 1.0

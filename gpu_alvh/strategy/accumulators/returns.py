"""Daily NAV returns (for Sharpe / Sortino) and the worst one-day NAV change.

``r_d = NAV_d / NAV_{d-1} - 1`` (``NAV_{d-1} <= 0`` counts as 1): sums of ``r``, ``r^2`` and
``min(r, 0)^2``; ``worst_day = min_d (NAV_d - NAV_{d-1})`` in dollars.
"""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("sum_r", 1, 0.0), ("sum_r2", 1, 0.0), ("sum_neg2", 1, 0.0), ("worst_day", 1, "inf"))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] == 0:
        return
    prev = c["prev_nav"]
    r = c["nav"] / (prev if prev > 0.0 else 1.0) - 1.0
    a[o] += r
    a[o + 1] += r * r
    neg = min(r, 0.0)
    a[o + 2] += neg * neg
    a[o + 3] = min(a[o + 3], c["nav"] - prev)

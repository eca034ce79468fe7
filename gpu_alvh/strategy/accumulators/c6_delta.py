"""C6 delta offset: the first hedge layer's probe-equivalent SPX delta (probe coverage / (S |probe|))
over the ladder's negative delta, on overlay days when the ladder's delta is negative:
``num += min(hedge_delta, -delta)``, ``den += -delta``."""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c6_num", 1, 0.0), ("c6_den", 1, 0.0))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if not c["overlay_day"]:
        return
    ld = c["ladder_delta"]
    if ld < 0.0:
        a[o] += min(c["hedge0_delta"], -ld)
        a[o + 1] += -ld

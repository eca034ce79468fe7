"""C2 rescue: 45-DTE layer P&L per $1 of 7-DTE loss over the first 9 days of each 7-DTE position.

For every 7-DTE position (a new entry time of the first layer with DTE <= 7), the daily P&L of that layer
and of the 45-DTE layer are summed over days with ``now - entry <= 9``; when the position ends, a losing
one adds ``cum45`` to the numerator and ``-cum7`` to the denominator."""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c2_num", 1, 0.0), ("c2_den", 1, 0.0), ("c2_cum7", 1, 0.0), ("c2_cum45", 1, 0.0), ("c2_entry", 1, 0.0))


@register_jitable
def _close(a, o):
    if a[o + 2] < 0.0:
        a[o] += a[o + 3]
        a[o + 1] += -a[o + 2]
    a[o + 2] = 0.0
    a[o + 3] = 0.0


@register_jitable
def on_init(a, o, ctx, L, H):
    a[o + 4] = ctx[0]["entry7"]


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] == 0:
        return
    if c["entry7"] != a[o + 4]:
        _close(a, o)
    a[o + 4] = c["entry7"]
    if c["c2_ok"] and (c["now"] - c["entry7"]) <= 9.0 + 1e-9:
        a[o + 2] += c["dl7"]
        a[o + 3] += c["dl45"]


@register_jitable
def on_final(a, o, ctx, L, H):
    _close(a, o)

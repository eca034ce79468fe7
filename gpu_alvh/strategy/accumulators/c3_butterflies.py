"""C3 with the overlay: front-layer daily losses offset by the back layers plus the hedges,
``min(max(back_d + hedge_d, 0), loss_d)`` (the 'without' side is C1 of the unhedged ladder)."""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c3_off", 1, 0.0),)


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] == 0:
        return
    loss = max(-c["day_front"], 0.0)
    a[o] += min(max(c["day_back"] + c["day_hedge"], 0.0), loss)

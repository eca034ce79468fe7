"""Peak |gamma| of the book (every step after day 0), near the front expiry, and per ladder slot.

Book gamma: the sum of the slots' position gammas ($ delta change per index point).
``peak_gamma_near_expiry`` only counts steps where the front layer is open within 2 calendar days of
its expiry.
"""

from ...kernels.floats import jitable as register_jitable

from ..params import MAX_LAYERS, NEAR_EXPIRY_DAYS

FIELDS = (("peak_gamma", 1, 0.0), ("peak_gamma_near_expiry", 1, 0.0), ("layer_peak_gamma", MAX_LAYERS, 0.0))


@register_jitable
def on_step(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] == 0:
        return
    g = abs(c["gamma"])
    a[o] = max(a[o], g)
    if c["front_open"] and c["front_left"] <= NEAR_EXPIRY_DAYS:
        a[o + 1] = max(a[o + 1], g)
    for k in range(MAX_LAYERS):
        a[o + 2 + k] = max(a[o + 2 + k], abs(L[k]["gamma"]))

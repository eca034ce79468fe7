"""C7 events: C1 restricted to days within one trading day of an FOMC decision, and to the 3 days
starting with a CPI/PPI day on which SPX fell ("hot print")."""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c7f_loss", 1, 0.0), ("c7f_off", 1, 0.0), ("c7c_loss", 1, 0.0), ("c7c_off", 1, 0.0), ("c7_hot_left", 1, 0.0))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] == 0:
        return
    loss = max(-c["day_front"], 0.0)
    off = min(max(c["day_back"], 0.0), loss)
    if c["near_fomc"]:
        a[o] += loss
        a[o + 1] += off
    if c["cpi_ppi"] and c["spx_fell"]:
        a[o + 4] = 3.0
    if a[o + 4] > 0.0:
        a[o + 2] += loss
        a[o + 3] += off
    a[o + 4] = max(a[o + 4] - 1.0, 0.0)

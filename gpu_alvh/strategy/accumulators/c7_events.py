"""C7 events: the same-day migration of C1 restricted to event windows.

* FOMC: days within one trading day of an FOMC decision (``near_fomc``);
* CPI/PPI with a steepening VIX futures curve: the 3 days starting with a CPI/PPI day at whose close
  the futures slope ``F(3m) - F(1m)`` (``fut_slope``, model futures at 63 and 21 sessions) is above the
  previous close's.

Per window, ``loss_d = max(-front_d, 0)`` and ``offset_d = min(max(back_d, 0), loss_d)`` are summed.
"""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c7f_loss", 1, 0.0), ("c7f_off", 1, 0.0), ("c7c_loss", 1, 0.0), ("c7c_off", 1, 0.0), ("c7_hot_left", 1, 0.0),
          ("c7_prev_slope", 1, 0.0), ("c7c_windows", 1, 0.0))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] > 0:
        loss = max(-c["day_front"], 0.0)
        off = min(max(c["day_back"], 0.0), loss)
        if c["near_fomc"]:
            a[o] += loss
            a[o + 1] += off
        if c["cpi_ppi"] and c["fut_slope"] > a[o + 5]:
            a[o + 4] = 3.0
            a[o + 6] += 1.0
        if a[o + 4] > 0.0:
            a[o + 2] += loss
            a[o + 3] += off
        a[o + 4] = max(a[o + 4] - 1.0, 0.0)
    a[o + 5] = c["fut_slope"]

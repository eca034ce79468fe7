"""C1 per front-position life, signed: the back layers' P&L over each losing front position's life.

A life of front slot ``k`` (``k < n_front``: DTE <= 30) runs from the day close at which a position
with a new entry time is open to the day close at which it is flat or replaced (that day's P&L,
settlement or close included, belongs to the ending life).  Over the life, ``F`` sums the slot's daily
P&L and ``B`` the back layers' daily P&L (``day_back``, signed: a back-layer loss counts against).  At
its end (or at the horizon) a losing life (``F < 0``) adds ``B`` to ``c1l_num`` and ``-F`` to
``c1l_den``; C1 per life = ``sum c1l_num / sum c1l_den`` (paths pooled).
"""

from ...kernels.floats import jitable as register_jitable

from ..params import MAX_LAYERS

M = 100.0
FIELDS = (("c1l_num", 1, 0.0), ("c1l_den", 1, 0.0), ("c1l_lives", 1, 0.0),
          ("c1l_cumf", MAX_LAYERS, 0.0), ("c1l_cumb", MAX_LAYERS, 0.0), ("c1l_entry", MAX_LAYERS, 0.0),
          ("c1l_open", MAX_LAYERS, 0.0), ("c1l_prev", MAX_LAYERS, 0.0))


@register_jitable
def _close(a, o, k):
    f, b = a[o + 3 + k], a[o + 3 + MAX_LAYERS + k]
    if a[o + 3 + 3 * MAX_LAYERS + k] > 0.0 and f < 0.0:
        a[o] += b
        a[o + 1] += -f
        a[o + 2] += 1.0
    a[o + 3 + k] = 0.0
    a[o + 3 + MAX_LAYERS + k] = 0.0
    a[o + 3 + 3 * MAX_LAYERS + k] = 0.0


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    cf, cb, ce, co, cp = o + 3, o + 3 + MAX_LAYERS, o + 3 + 2 * MAX_LAYERS, o + 3 + 3 * MAX_LAYERS, o + 3 + 4 * MAX_LAYERS
    for k in range(c["n_front"]):
        pnl = L[k]["realized"] - M * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"])
        is_open = L[k]["n_put"] > 0.0 or L[k]["n_call"] > 0.0
        if c["t"] > 0 and a[co + k] > 0.0:
            a[cf + k] += pnl - a[cp + k]
            a[cb + k] += c["day_back"]
            if (not is_open) or L[k]["entry_time"] != a[ce + k]:
                _close(a, o, k)
        a[cp + k] = pnl
        if is_open and not a[co + k] > 0.0:
            a[co + k] = 1.0
            a[ce + k] = L[k]["entry_time"]
            a[cf + k] = 0.0
            a[cb + k] = 0.0


@register_jitable
def on_final(a, o, ctx, L, H):
    for k in range(ctx[0]["n_front"]):
        _close(a, o, k)

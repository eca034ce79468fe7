"""How each ladder layer's condor lives end, its cascade rolls, and the realised stop multiples.

A life runs from a condor's entry to its close (a cascade roll continues it; :mod:`..ladder`).  Per
ladder slot, counted at the step a life closes (``L[k].outcome``): lives ending at the profit target, at
the time exit, at expiry (settlement) - stops are ``layer_stops`` - and the same four outcomes for lives
that were rolled at least once; every roll of the slot (``layer_rolls``); and, over stopped lives, the
sums of the realised stop multiples

* ``layer_stop_multiple``: mid loss of the life at the mark the stop fired on / its entry credit
  (``-life_mid / credit0``: what the rule compares with ``stop_multiple``, costs excluded);
* ``layer_stop_multiple_net``: the life's cash loss, costs included / its entry credit in dollars
  (``-(realized - life_start) / (100 credit0)``).

Lives still open at the end of the horizon are not counted.
"""

from ...kernels.floats import jitable as register_jitable

from ..params import MAX_LAYERS
from ..state import OUT_EXPIRY, OUT_STOP, OUT_TARGET, OUT_TIME

FIELDS = (("layer_targets", MAX_LAYERS, 0.0), ("layer_time_exits", MAX_LAYERS, 0.0), ("layer_settled", MAX_LAYERS, 0.0),
          ("layer_rolls", MAX_LAYERS, 0.0), ("layer_rolled_targets", MAX_LAYERS, 0.0), ("layer_rolled_stops", MAX_LAYERS, 0.0),
          ("layer_rolled_time_exits", MAX_LAYERS, 0.0), ("layer_rolled_settled", MAX_LAYERS, 0.0),
          ("layer_stop_multiple", MAX_LAYERS, 0.0), ("layer_stop_multiple_net", MAX_LAYERS, 0.0))

_N = MAX_LAYERS


@register_jitable
def on_step(a, o, ctx, L, H):
    for k in range(_N):
        if L[k]["rolled"]:
            a[o + 3 * _N + k] += 1.0
        oc = L[k]["outcome"]
        if oc == 0:
            continue
        rolled = L[k]["life_rolls"] > 0.0
        if oc == OUT_TARGET:
            a[o + k] += 1.0
            if rolled:
                a[o + 4 * _N + k] += 1.0
        elif oc == OUT_STOP:
            if rolled:
                a[o + 5 * _N + k] += 1.0
            cr = L[k]["credit0"]
            if cr > 0.0:
                a[o + 8 * _N + k] += -L[k]["life_mid"] / cr
                a[o + 9 * _N + k] += -(L[k]["realized"] - L[k]["life_start"]) / (100.0 * cr)
        elif oc == OUT_TIME:
            a[o + _N + k] += 1.0
            if rolled:
                a[o + 6 * _N + k] += 1.0
        elif oc == OUT_EXPIRY:
            a[o + 2 * _N + k] += 1.0
            if rolled:
                a[o + 7 * _N + k] += 1.0

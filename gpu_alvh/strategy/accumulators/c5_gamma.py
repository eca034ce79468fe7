"""C5 near-expiry gamma and loss, the overlay included.

* ``c5_peak_net``: peak over steps (``t >= 1``) with the front layer open and at most
  ``NEAR_EXPIRY_DAYS`` calendar days from its expiry of ``|Gamma_ladder + Gamma_hedge|`` ($ per index
  point^2), ``Gamma_hedge`` the hedges' SPX-equivalent gamma at the model's own variance/SPX beta
  (:func:`gpu_alvh.strategy.hedge.spx_gamma`; 0 without an overlay);
* ``c5_worst_loss``: the worst daily NAV loss ``max(NAV_{d-1} - NAV_d, 0)`` ($) over days whose previous
  close had the front layer open within ``NEAR_EXPIRY_DAYS`` of its expiry; ``c5_days`` counts those days.
"""

from ...kernels.floats import jitable as register_jitable

from ..params import NEAR_EXPIRY_DAYS

FIELDS = (("c5_peak_net", 1, 0.0), ("c5_worst_loss", 1, 0.0), ("c5_days", 1, 0.0), ("c5_near_prev", 1, 0.0))


@register_jitable
def _near(c):
    return c["front_open"] and c["front_left"] <= NEAR_EXPIRY_DAYS


@register_jitable
def on_step(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] > 0 and _near(c):
        a[o] = max(a[o], abs(c["gamma"] + c["hedge_gamma"]))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] > 0 and a[o + 3] > 0.0:
        a[o + 1] = max(a[o + 1], c["prev_nav"] - c["nav"])
        a[o + 2] += 1.0
    a[o + 3] = 1.0 if _near(c) else 0.0

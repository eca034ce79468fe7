"""Peak Reg-T margin of the ladder: per condor ``100 max(n_put (K_ps - K_pl), n_call (K_cl - K_cs)) -
100 (n_put cr_put + n_call cr_call)``, floored at 0, summed over slots (every step after day 0)."""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("margin_peak", 1, 0.0),)


@register_jitable
def on_step(a, o, ctx, L, H):
    if ctx[0]["t"] > 0:
        a[o] = max(a[o], ctx[0]["margin"])

"""Stops per ladder slot (condors closed by the stop rule)."""

from ...kernels.floats import jitable as register_jitable

from ..params import MAX_LAYERS

FIELDS = (("layer_stops", MAX_LAYERS, 0.0),)


@register_jitable
def on_step(a, o, ctx, L, H):
    for k in range(MAX_LAYERS):
        if L[k]["stopped"]:
            a[o + k] += 1.0

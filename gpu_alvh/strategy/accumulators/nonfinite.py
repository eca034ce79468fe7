"""First day on which NAV was not finite (-1 if never): the run stops and names the path and day."""

import math

from ...kernels.floats import jitable as register_jitable

FIELDS = (("bad_day", 1, -1.0),)


@register_jitable
def on_day(a, o, ctx, L, H):
    if a[o] < 0.0 and not math.isfinite(ctx[0]["nav"]):
        a[o] = float(ctx[0]["day"])

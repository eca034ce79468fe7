"""C1 migration: the front layers' (DTE <= 30) daily losses and the same-day gains of the back layers
that offset them: ``loss_d = max(-front_d, 0)``, ``offset_d = min(max(back_d, 0), loss_d)``;
C1 = sum(offset) / sum(loss) over days and paths."""

from ...kernels.floats import jitable as register_jitable

FIELDS = (("c1_loss", 1, 0.0), ("c1_off", 1, 0.0))


@register_jitable
def on_day(a, o, ctx, L, H):
    c = ctx[0]
    if c["t"] == 0:
        return
    loss = max(-c["day_front"], 0.0)
    a[o] += loss
    a[o + 1] += min(max(c["day_back"], 0.0), loss)

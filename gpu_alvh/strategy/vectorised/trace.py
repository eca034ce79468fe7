"""Step-by-step state of selected paths, and invariant audits (debugging and tests).

:class:`Tracer` copies the book's state of a few paths to the host twice per
step: after the ladder is marked (``stage = "marked"``: the marks the exit rules
see) and at the end of the step (``stage = "end"``: after exits, cascade,
entries and - at a day's close - the hedge overlay).  It is off unless asked
for, because every snapshot is a device->host copy.

:class:`Auditor` checks, at every step and for every path, that

* NAV balances: ``NAV - NAV_0 = sum(layer P&L) + hedge P&L + interest``
  (layer P&L = realised cash flows - mark; costs included) - to the cent;
* each vertical's mark lies in ``[0, width]`` per contract;
* hedge premium spent never exceeds the budget allowance;

and records the worst deviations (reported, and asserted by the tests).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Tracer", "Auditor", "LADDER_FIELDS", "HEDGE_FIELDS"]

LADDER_FIELDS = ("kps", "kpl", "kcs", "kcl", "n_put", "n_call", "cr_put", "cr_call", "expiry", "entry_time", "val_put", "val_call", "realized", "reopen", "reopen_next")
HEDGE_FIELDS = ("n", "k1", "expiry", "entry_px", "basis", "monetized", "unit", "gain")


class Tracer:
    """Host snapshots of the state of the paths ``local`` (indices inside the batch)."""

    def __init__(self, eng, local: np.ndarray):
        self.e = eng
        self.local = np.asarray(local, dtype=np.int64)
        self.idx = eng.xp.asarray(self.local)
        self.records: list[dict] = []

    def _h(self, a):
        from ...results import to_host

        return to_host(self.e.b, a[..., self.idx]).copy()

    def snap(self, stage: str, t: int, extra: dict | None = None) -> None:
        e = self.e
        lad, ov = e.ladder, e.overlay
        rec = {"stage": stage, "t": t, "now": float(e.book.now_days[t])}
        for f in LADDER_FIELDS:
            rec[f] = self._h(getattr(lad, f))
        rec["leg_price"] = self._h(lad.leg["price"])
        rec["short_put_delta"] = self._h(lad.leg["delta"][0])
        rec["short_call_delta"] = self._h(lad.leg["delta"][2])
        if e.J:
            for f in HEDGE_FIELDS:
                rec["h_" + f] = self._h(getattr(ov, f))
            rec["spent"] = self._h(ov.spent)
        rec["cash"] = self._h(e.cash)
        rec["interest"] = self._h(e.interest)
        for k, v in (extra or {}).items():
            if hasattr(v, "shape") and getattr(v, "ndim", 0) >= 1 and v.shape[-1] == e.P:
                rec[k] = self._h(v)
            else:
                rec[k] = np.asarray(e.b.to_host(v) if hasattr(v, "shape") else v).copy()
        self.records.append(rec)


class Auditor:
    """Worst violation of the bookkeeping invariants over the run (see module docstring)."""

    def __init__(self, eng):
        self.e = eng
        self.nav_error = 0.0  # $, max |NAV - (NAV_0 + components)|
        self.value_excess = 0.0  # index points beyond [0, width]
        self.budget_excess = 0.0  # $ spent beyond the allowance

    def check(self, nav, allowance=None) -> None:
        e, xp = self.e, self.e.xp
        lad = e.ladder
        comp = e.nav0 + e.to_strategy(lad.realized - lad.value()) + e._hedge_pnl() + e.interest
        self.nav_error = max(self.nav_error, float(xp.abs(nav - comp).max()))
        wp = lad.kps - lad.kpl
        wc = lad.kcl - lad.kcs
        over = xp.maximum(xp.maximum(-lad.val_put, lad.val_put - wp), xp.maximum(-lad.val_call, lad.val_call - wc))
        open_ = lad.is_open
        self.value_excess = max(self.value_excess, float(xp.where(open_, over, 0.0).max()) if open_.size else 0.0)
        if allowance is not None and e.J:
            self.budget_excess = max(self.budget_excess, float((e.overlay.spent - allowance).max()))

    def report(self) -> dict:
        return {"nav_error": self.nav_error, "value_excess": self.value_excess, "budget_excess": self.budget_excess}


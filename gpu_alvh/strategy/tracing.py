"""Step-by-step state of chosen paths, and bookkeeping audits (debugging and tests).

The per-path program calls :func:`trace_point` twice per step: after the ladder and hedges are marked
(``stage = 0``, recorded as ``"marked"``: the marks the exit rules see) and at the end of the step
(``stage = 1``, ``"end"``: after
exits, cascade, entries and - at a day's close - the overlay).  Compiled (CPU or CUDA) it is a no-op;
run as plain Python (:func:`trace`), it records copies of the state records.  The recorder also audits
every ``"end"`` snapshot:

* NAV balances: ``NAV - NAV_0 = sum(layer P&L) + hedge P&L + interest`` (layer P&L = realised cash flows
  - mark, costs included) - to the cent;
* each open vertical's mark lies in ``[0, width]`` per contract;
* hedge premium spent never exceeds the budget allowance.
"""

from __future__ import annotations

import threading

import numpy as np
from numba.extending import overload

__all__ = ["trace_point", "Recorder", "LADDER_FIELDS", "HEDGE_FIELDS", "EXTRA_FIELDS"]

LADDER_FIELDS = ("kps", "kpl", "kcs", "kcl", "n_put", "n_call", "cr_put", "cr_call", "expiry", "entry_time", "val_put", "val_call", "realized",
                 "reopen", "reopen_next", "stopped", "credit0", "life_mid", "life_start", "life_rolls", "outcome", "rolled")
HEDGE_FIELDS = ("n", "k1", "expiry", "entry_px", "basis", "monetized", "unit", "gain", "active")
EXTRA_FIELDS = ("probe_loss", "target_fraction", "underhedge", "allowance")

STAGES = ("marked", "end")
_LOCAL = threading.local()


class Recorder:
    """Collects snapshots of one (strategy, path) run (installed for the duration of that run)."""

    def __init__(self, n_slots: int, n_hedge: int, nav0: float, hedge_params):
        self.n_slots, self.n_hedge, self.nav0 = n_slots, n_hedge, nav0
        self.hedge_params = hedge_params  # HEDGE_P records of the row's hedge slots
        self.records: list[dict] = []
        self.nav_error = 0.0
        self.value_excess = 0.0
        self.budget_excess = 0.0

    def __enter__(self):
        _LOCAL.recorder = self
        return self

    def __exit__(self, *exc):
        _LOCAL.recorder = None

    def snap(self, stage, t, now, L, legs, H, R, sig, spot, vix, nav):
        nk, nh = self.n_slots, self.n_hedge
        stage = STAGES[int(stage)]
        rec = {"stage": stage, "t": int(t), "now": float(now), "spot": float(spot), "vix": float(vix), "nav": float(nav)}
        for f in LADDER_FIELDS:
            rec[f] = np.array([L[k][f] for k in range(nk)])
        rec["leg_price"] = np.array(legs[:nk, :, 0]).T.copy()  # [4, slots]
        rec["short_put_delta"] = np.array(legs[:nk, 0, 1])
        rec["short_call_delta"] = np.array(legs[:nk, 2, 1])
        for f in HEDGE_FIELDS:
            rec["h_" + f] = np.array([H[j][f] for j in range(nh)])
        for f in ("cash", "interest", "spent"):
            rec[f] = float(R[0][f])
        for f in EXTRA_FIELDS:
            rec[f] = float(R[0][f])
        rec["signals"] = np.array(sig[0]).copy()
        self.records.append(rec)
        if stage == "end":
            lad = sum(L[k]["realized"] - 100.0 * (L[k]["n_put"] * L[k]["val_put"] + L[k]["n_call"] * L[k]["val_call"]) for k in range(nk))
            hedge = sum(H[j]["realized"] for j in range(nh)) + self._hedge_value(H, nh)
            rec["hedge_pnl"] = float(hedge)
            comp = self.nav0 + lad + hedge + float(R[0]["interest"])
            self.nav_error = max(self.nav_error, abs(nav - comp))
            for k in range(nk):
                for side, (hi, lo) in (("put", ("kps", "kpl")), ("call", ("kcl", "kcs"))):
                    if L[k][f"n_{side}"] > 0:
                        width = abs(L[k][hi] - L[k][lo])
                        val = L[k][f"val_{side}"]
                        self.value_excess = max(self.value_excess, val - width, -val)
            self.budget_excess = max(self.budget_excess, float(R[0]["spent"]) - float(R[0]["allowance"]) if R[0]["allowance"] > 0 else 0.0)

    def _hedge_value(self, H, nh):
        total = 0.0
        for j in range(nh):
            p = self.hedge_params[j]
            if p["is_future"]:
                total += H[j]["n"] * p["multiplier"] * (H[j]["unit"] - H[j]["entry_px"])
            else:
                total += H[j]["n"] * p["multiplier"] * H[j]["unit"]
        return total


def trace_point(stage, t, now, L, legs, H, R, sig, spot, vix, nav):
    """Record a snapshot when a :class:`Recorder` is installed (plain-Python runs only)."""
    rec = getattr(_LOCAL, "recorder", None)
    if rec is not None:
        rec.snap(stage, t, now, L, legs, H, R, sig, spot, vix, nav)


@overload(trace_point, target="cpu")
def _trace_point_cpu(stage, t, now, L, legs, H, R, sig, spot, vix, nav):
    return lambda stage, t, now, L, legs, H, R, sig, spot, vix, nav: None


@overload(trace_point, target="cuda")
def _trace_point_cuda(stage, t, now, L, legs, H, R, sig, spot, vix, nav):
    return lambda stage, t, now, L, legs, H, R, sig, spot, vix, nav: None

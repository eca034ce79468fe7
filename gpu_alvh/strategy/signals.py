"""Signals along each path, and activation conditions written as data.

Signals (SPEC section 6), each evaluated at the close of every trading day:

========================== ================================================ ============
name                       definition                                       units
========================== ================================================ ============
``spx_rsi14``              Wilder RSI(14) of SPX daily closes                 0..100
``vix_rsi14``              Wilder RSI(14) of VIX daily closes                 0..100
``spx_macd_hist``          MACD(12, 26, 9) histogram of SPX closes            index points
``vix_macd_hist``          MACD(12, 26, 9) histogram of VIX closes            VIX points
``term_slope``             model VIX3M - VIX (93-day minus 30-day implied)    VIX points
``vix``                    model VIX                                          VIX points
``days_to_event``          trading days to the next FOMC/CPI/PPI event        days (999 = none)
``front_strike_distance_sd`` distance of spot to the nearer short strike of the front layer, in standard deviations ``K/S - 1`` over ``IV sqrt(tau)``   sd
``ladder_delta``           ladder dollar delta per 1% SPX move / NAV          1/%
``drawdown``               1 - NAV / running peak NAV                         fraction
========================== ================================================ ============

Indicators start neutral: RSI at 50 (Wilder averages seeded with the model's
expected absolute daily move), MACD lines at the starting level.

A condition is ``{all: [...]}`` / ``{any: [...]}`` over terms
``{signal, op, value}`` (nested groups allowed); ``op`` is one of ``< <= > >=``
or ``crosses_above`` / ``crosses_below`` (true on the day the signal moves from
one side of ``value`` to the other).  Conditions compile to :class:`Condition`
trees (thresholds may differ per strategy variant) and then to postfix programs
(:func:`gpu_alvh.strategy.params.build_params`) that the per-path program runs
with :func:`condition_holds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..kernels.floats import jitable as register_jitable

__all__ = ["SIGNALS", "SignalInfo", "Condition", "compile_condition", "rsi_update", "rsi_value", "macd_update", "condition_holds",
           "neutral_seed_move"]


@dataclass(frozen=True)
class SignalInfo:
    """Registry entry: units and a one-line definition."""

    units: str
    doc: str


#: Signal registry (name -> info).  Values are produced by the engine's
#: signal context; adding a signal is one entry here plus its value there.
SIGNALS: dict[str, SignalInfo] = {
    "spx_rsi14": SignalInfo("0..100", "Wilder RSI(14) of SPX daily closes"),
    "vix_rsi14": SignalInfo("0..100", "Wilder RSI(14) of VIX daily closes"),
    "spx_macd_hist": SignalInfo("index points", "MACD(12,26,9) histogram of SPX closes"),
    "vix_macd_hist": SignalInfo("VIX points", "MACD(12,26,9) histogram of VIX closes"),
    "term_slope": SignalInfo("VIX points", "model VIX3M minus VIX (contango > 0)"),
    "vix": SignalInfo("VIX points", "model VIX"),
    "days_to_event": SignalInfo("trading days", "trading days to the next scheduled event (999 if none)"),
    "front_strike_distance_sd": SignalInfo("sd", "spot distance to the front layer's nearer short strike in IV standard deviations"),
    "ladder_delta": SignalInfo("1/%", "ladder dollar delta per 1% SPX move divided by NAV"),
    "drawdown": SignalInfo("fraction", "1 - NAV / running peak NAV"),
}


@dataclass(frozen=True)
class Term:
    signal: str
    op: str
    value: Any  # float or array [strategy, 1]


@dataclass(frozen=True)
class Condition:
    """A compiled ``all``/``any`` tree.  ``mode`` is ``"all"`` or ``"any"``;
    ``items`` are :class:`Term` or nested :class:`Condition`; an empty ``all``
    is always true."""

    mode: str
    items: tuple

    def signals(self) -> set[str]:
        out: set[str] = set()
        for it in self.items:
            out |= it.signals() if isinstance(it, Condition) else {it.signal}
        return out


def compile_condition(spec: dict | None, value_of: Callable[[tuple, float], Any] = lambda path, v: v, path: tuple = ()) -> Condition:
    """Compile a validated condition dict into a :class:`Condition`.

    ``value_of(path, value)`` may replace each threshold (e.g. by a per-strategy
    array); ``path`` locates the term inside the tree.  ``None`` compiles to an
    always-true condition.
    """
    if spec is None:
        return Condition("all", ())
    (mode, items), = spec.items()
    out = []
    for i, item in enumerate(items):
        if "signal" in item:
            out.append(Term(item["signal"], item["op"], value_of(path + (mode, i), float(item["value"]))))
        else:
            out.append(compile_condition(item, value_of, path + (mode, i)))
    return Condition(mode, tuple(out))


def neutral_seed_move(level: float, variance: float, dt: float = 1.0 / 252.0) -> float:
    """Expected absolute daily move of a level with lognormal vol ``sqrt(variance)``:
    ``E|N(0, s^2)| = s sqrt(2/pi)`` with ``s = level sqrt(variance dt)``; seeds Wilder's averages."""
    return float(level * np.sqrt(max(variance, 1e-12) * dt) * np.sqrt(2.0 / np.pi))


# --------------------------------------------------------------------------- per-path recursions
# Scalar functions of the per-path program.  State lives in the row record (``state.ROW``); conditions
# are postfix programs (``params.COND``) over the signal vector ``sig[0, :]`` (today) / ``sig[1, :]``
# (the previous overlay day).  Indicators start neutral: RSI at 50 (Wilder averages seeded with the
# model's expected absolute daily move, :func:`neutral_seed_move`), MACD lines at the starting level.

RSI_N = 14.0
EMA_FAST, EMA_SLOW, EMA_SIGNAL = 2.0 / 13.0, 2.0 / 27.0, 2.0 / 10.0


@register_jitable
def rsi_update(prev, gain, loss, x):
    """One Wilder step: returns ``(prev, gain, loss)`` after close ``x``."""
    d = x - prev
    k = 1.0 / RSI_N
    gain = gain + k * (max(d, 0.0) - gain)
    loss = loss + k * (max(-d, 0.0) - loss)
    return x * 1.0, gain, loss


@register_jitable
def rsi_value(gain, loss):
    total = gain + loss
    return 100.0 * gain / total if total > 0 else 50.0


@register_jitable
def macd_update(fast, slow, signal, x):
    """One MACD(12, 26, 9) step: returns ``(fast, slow, signal, hist)``."""
    fast = fast + EMA_FAST * (x - fast)
    slow = slow + EMA_SLOW * (x - slow)
    line = fast - slow
    signal = signal + EMA_SIGNAL * (line - signal)
    return fast, slow, signal, line - signal


@register_jitable
def condition_holds(cond, c0, n, sig):
    """Evaluate the postfix condition ``cond[c0 : c0 + n]`` on ``sig`` (empty: true).

    Terms push ``sig[0, i] op value`` (crossings also read ``sig[1, i]``); a group node pops its ``arg``
    results and pushes their conjunction (``all``, opcode 10) or disjunction (``any``, 11).  The stack
    is a bit mask (programs have at most 62 nodes)."""
    if n == 0:
        return True
    stack = 0
    sp = 0
    for q in range(c0, c0 + n):
        op = cond[q]["op"]
        arg = cond[q]["arg"]
        if op >= 10:
            res = op == 10
            for _ in range(arg):
                sp -= 1
                bit = (stack >> sp) & 1
                if op == 10:
                    res = res and bit == 1
                else:
                    res = res or bit == 1
        else:
            x = sig[0, arg]
            v = cond[q]["value"]
            if op == 0:
                res = x < v
            elif op == 1:
                res = x <= v
            elif op == 2:
                res = x > v
            elif op == 3:
                res = x >= v
            elif op == 4:
                res = sig[1, arg] <= v and x > v
            else:
                res = sig[1, arg] >= v and x < v
        if res:
            stack |= 1 << sp
        else:
            stack &= ~(1 << sp)
        sp += 1
    return (stack & 1) == 1

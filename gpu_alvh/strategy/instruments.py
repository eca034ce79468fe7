"""Instruments of the book: iron-condor legs and the VIX hedge registry.

A VIX hedge instrument is a set of legs ``(kind, strike offset in units of
width, weight)`` on one expiry, valued from the VIX table:

==============  ==========================================  =============
name            legs (K = first strike, w = width)          multiplier
==============  ==========================================  =============
``call``        +C(K)                                       100
``call_spread`` +C(K) - C(K+w)                              100
``butterfly``   +C(K) - 2 C(K+w) + C(K+2w)                  100
``future``      +F (marked against its entry price)         1000
==============  ==========================================  =============

Adding an instrument is one :class:`VixInstrument` entry in :data:`INSTRUMENTS`.
Costs: per contract and per trade, ``commission x legs`` plus, per leg,
``half_spread_points + half_spread_pct x |leg price|`` times the multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["VixInstrument", "INSTRUMENTS", "VIX_STRIKE_GRID", "SPX_STRIKE_GRID", "SPX_MULTIPLIER", "half_spread"]

SPX_MULTIPLIER = 100.0
SPX_STRIKE_GRID = 5.0
VIX_STRIKE_GRID = 1.0


@dataclass(frozen=True)
class VixInstrument:
    """A VIX instrument as weighted legs; ``legs = ((strike_step, weight), ...)``."""

    name: str
    legs: tuple[tuple[int, float], ...]
    multiplier: float
    is_future: bool = False

    def leg_prices(self, table, v, tau, k1, width, v2=0.0):
        """Per-leg prices (index points): VIX calls at ``k1 + step * width``, or the future (``v2``: the slow
        variance of a two-factor table)."""
        if self.is_future:
            return [table.future(v, tau, v2=v2)]
        return [table.option(v, tau, k1 + step * width, True, v2=v2) for step, _ in self.legs]

    def combine(self, legs):
        """Value per unit from leg prices (futures: the futures price)."""
        if self.is_future:
            return legs[0]
        total = None
        for (_, weight), price in zip(self.legs, legs):
            total = weight * price if total is None else total + weight * price
        return total

    def half_spread(self, legs, points, pct, xp):
        """Half-spread of one unit, index points: ``sum |w| (points + pct |leg price|)``."""
        hs = None
        for (_, weight), price in zip(self.legs, legs):
            term = abs(weight) * (points + pct * xp.abs(price))
            hs = term if hs is None else hs + term
        return hs

    def value(self, table, v, tau, k1, width, xp=None, v2=0.0):
        """Value per unit at variance ``v`` (and slow variance ``v2``), expiry ``tau``, first strike ``k1``
        (futures: the futures price)."""
        return self.combine(self.leg_prices(table, v, tau, k1, width, v2))

    def payoff(self, vix, k1, width, xp):
        """Value at expiry given the settlement VIX (futures: the VIX itself)."""
        if self.is_future:
            return vix
        total = None
        for step, weight in self.legs:
            c = xp.maximum(vix - (k1 + step * width), 0.0)
            total = weight * c if total is None else total + weight * c
        return total

    def abs_weight(self) -> float:
        return float(sum(abs(w) for _, w in self.legs))


#: VIX hedge instruments by name (the strategy spec's ``instrument``).
INSTRUMENTS: dict[str, VixInstrument] = {
    "call": VixInstrument("call", ((0, 1.0),), 100.0),
    "call_spread": VixInstrument("call_spread", ((0, 1.0), (1, -1.0)), 100.0),
    "butterfly": VixInstrument("butterfly", ((0, 1.0), (1, -2.0), (2, 1.0)), 100.0),
    "future": VixInstrument("future", ((0, 1.0),), 1000.0, is_future=True),
}


def half_spread(price, points: float, pct: float, xp):
    """Half bid/ask spread of one leg, index points: ``points + pct * |price|``."""
    return points + pct * xp.abs(price)

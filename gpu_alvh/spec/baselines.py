"""Baseline strategies: the comparison rows run beside ALVH on the same paths (common random numbers).

A baseline is a name, a one-line definition and a function ``derive(spec) -> StrategySpec`` that turns
the ALVH spec into the baseline's spec; :data:`BASELINES` (the names a strategy's ``baselines:`` list may
use, and the ``strategy`` coordinate labels) derives from the registry :data:`REGISTRY`.  Adding a
baseline is one function and one registry entry.

==================== ==================================================================== ===========
name                 definition                                                           claim
==================== ==================================================================== ===========
``ladder_unhedged``  the same ladder, overlay off                                         C3, C4, C5
``single_45``        one 45-DTE iron condor managed by the same rules, overlay off        -
``alvh_no_cascade``  ALVH with the cascade roll off (overlay on)                          C4
``butterfly_only``   the same ladder with a VIX call-butterfly overlay only (2-5% of NAV) C3
==================== ==================================================================== ===========

``butterfly_only`` reads seed 000 ("combining the ladder with selective ALVH overlays - using 2-5% of
portfolio in VIX call butterflies - can lift overall migration capture from 42% to 61%"): one hedge layer,
the ALVH overlay's butterfly (strikes, width, tenor of its ``layer_three``, or the defaults' when the spec
has none) with weight 1 and no activation condition, sized by the same probe target and ramp, and a
premium budget of 3.5% of NAV per year (the middle of 2-5%) of which a whole year is available up front,
so that up to 3.5% of the portfolio can be in butterflies at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Baseline", "REGISTRY", "BASELINES", "BUTTERFLY_BUDGET_PCT"]

#: premium budget of ``butterfly_only``, % of NAV per year (the middle of the seed's 2-5%)
BUTTERFLY_BUDGET_PCT = 3.5


@dataclass(frozen=True)
class Baseline:
    """Registry entry: name, definition, and the spec transformation."""

    name: str
    doc: str
    derive: Callable


def _ladder_unhedged(spec):
    return spec.model_copy(update={"hedge": spec.hedge.model_copy(update={"enabled": False})})


def _single_45(spec):
    exit45 = None
    if spec.time_exit_dte is not None and 45 in spec.layers:
        exit45 = (spec.time_exit_dte[spec.layers.index(45)],)
    off = spec.hedge.model_copy(update={"enabled": False})
    return spec.model_copy(update={"hedge": off, "layers": (45,), "time_exit_dte": exit45})


def _alvh_no_cascade(spec):
    return spec.model_copy(update={"cascade": spec.cascade.model_copy(update={"enabled": False})})


def _butterfly_only(spec):
    from .strategy import HedgeLayerSpec, default_strategy

    flies = [lay for lay in spec.hedge.layers if lay.instrument == "butterfly"]
    ref = flies[0] if flies else next(lay for lay in default_strategy().hedge.layers if lay.instrument == "butterfly")
    fly = HedgeLayerSpec(name="butterfly", instrument="butterfly", weight=1.0, strike_offset=ref.strike_offset, width=ref.width,
                         tenor=ref.tenor, event_underhedge=ref.event_underhedge, when=None)
    hedge = spec.hedge.model_copy(update={"enabled": True, "layers": (fly,), "budget_pct": BUTTERFLY_BUDGET_PCT, "budget_lead_years": 1.0})
    return spec.model_copy(update={"hedge": hedge})


REGISTRY: dict[str, Baseline] = {b.name: b for b in (
    Baseline("ladder_unhedged", "the same ladder, overlay off", _ladder_unhedged),
    Baseline("single_45", "one 45-DTE iron condor managed by the same rules, overlay off", _single_45),
    Baseline("alvh_no_cascade", "ALVH with the cascade roll off", _alvh_no_cascade),
    Baseline("butterfly_only", f"the ladder with a VIX call-butterfly overlay only ({BUTTERFLY_BUDGET_PCT:g}% of NAV)", _butterfly_only),
)}
#: Baseline names (registry order: the order of the ``strategy`` coordinate after ``alvh``).
BASELINES = tuple(REGISTRY)

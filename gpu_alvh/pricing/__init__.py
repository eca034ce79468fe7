"""Pricing layer (SPEC section 5).

* :func:`price_options` - European SPX options by the COS method (Heston, Bates, SVCJ);
* :func:`price_vix` - VIX futures and options from the law of the variance state;
* :class:`SpxTable` - implied-vol table per scenario; legs priced by Black-Scholes
  from the interpolated vol (with greeks) and strikes from delta targets;
* :class:`VixTable` - VIX futures / options table, arbitrage-free between nodes;
* :mod:`~gpu_alvh.pricing.black` - Black-Scholes / Black-76 and implied vols.

Everything runs on the array namespace of a :class:`~gpu_alvh.backend.Backend`
(NumPy or CuPy, same code).  See ``docs/pricing.md``.
"""

from __future__ import annotations

from .api import VixPrices, price_options, price_vix
from .black import Greeks, black76, black_scholes, implied_vol
from .cos import CosSettings, cos_price
from .tables import SpxTable
from .vix import VixTable, vix_prices

__all__ = [
    "price_options",
    "price_vix",
    "VixPrices",
    "SpxTable",
    "VixTable",
    "Greeks",
    "black_scholes",
    "black76",
    "implied_vol",
    "cos_price",
    "CosSettings",
    "vix_prices",
]

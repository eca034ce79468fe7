"""Daily market history shipped with the package (closes only), for calibration and historical replays.

Series (``date,close`` CSV files beside this module, derived from the project's ``shared/data`` by
``scripts/build_history_data.py``; sources and licence notes in ``SOURCES.md`` here):

=========  =============================================  ==========  ==========
name       series                                         first       last
=========  =============================================  ==========  ==========
``spx``    S&P 500 index close (S&P DJI via Yahoo)        1985-01-02  2026-08-21
``vix``    Cboe VIX close (30-day implied vol, points)    1990-01-02  2026-07-31
``vix3m``  Cboe VIX3M close (93-day)                      2009-09-18  2026-07-22
``vix9d``  Cboe VIX9D close (9-day)                       2011-01-04  2026-07-22
``vvix``   Cboe VVIX close (vol of VIX)                   2006-03-06  2026-07-22
``vxo``    Cboe VXO close (S&P 100, pre-1990 implied vol) 1986-01-02  2018-03-22
=========  =============================================  ==========  ==========

Every VIX date is an SPX session (Cboe's holiday rows are dropped); nothing is filled or spliced.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["SERIES", "load_history", "history_frame"]

#: Registry of the shipped series: name -> one-line description.
SERIES: dict[str, str] = {
    "spx": "S&P 500 index close (S&P DJI via Yahoo Finance)",
    "vix": "Cboe VIX close, 30-day implied volatility (points)",
    "vix3m": "Cboe VIX3M close, 93-day implied volatility (points)",
    "vix9d": "Cboe VIX9D close, 9-day implied volatility (points)",
    "vvix": "Cboe VVIX close, implied volatility of VIX (points)",
    "vxo": "Cboe VXO close, S&P 100 30-day implied volatility (points; before VIX existed)",
}


@lru_cache(maxsize=None)
def _read(name: str) -> pd.Series:
    with resources.files(__name__).joinpath(f"{name}.csv").open("r") as fh:
        s = pd.read_csv(fh, parse_dates=["date"], index_col="date")["close"].astype(float)
    s.name = name
    return s


def load_history(name: str, start=None, end=None) -> pd.Series:
    """Daily closes of a shipped series as a float ``pandas.Series`` indexed by date (ascending).

    ``start`` / ``end`` (dates or ISO strings, inclusive) cut the range.  Unknown names raise
    ``ValueError`` listing the valid ones.
    """
    if name not in SERIES:
        raise ValueError(f"unknown history series {name!r}; valid series: {', '.join(SERIES)}")
    s = _read(name)
    return s.loc[slice(pd.Timestamp(start) if start is not None else None, pd.Timestamp(end) if end is not None else None)].copy()


def history_frame(names=("spx", "vix"), start=None, end=None, how: str = "inner") -> pd.DataFrame:
    """Several series joined on date (``how="inner"``: dates present in all of them)."""
    return pd.concat([load_history(n, start, end) for n in names], axis=1, join=how).sort_index()

"""Derive the packaged daily history (``gpu_alvh/data/*.csv``) from ``../shared/data``.

Each output is ``date,close`` (ISO dates, ascending, 2 decimals), one file per series, so the package
carries only what the engine uses (closes) and stays small.  Rules:

* SPX: rows from 1985-01-02 on (full OHLC era; covers the 1987 replay);
* VIX: rows on dates when SPX did not trade (Cboe extended-hours values on exchange holidays) are dropped,
  so every VIX date is an SPX session;
* VIX3M, VIX9D, VVIX, VXO: closes as published (VVIX is close-only by design);
* nothing is filled or spliced: a date missing in a source stays missing.

Run from the repository root:  ``python scripts/build_history_data.py [SHARED_DATA_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "gpu_alvh" / "data"
FILES = {"spx": "spx_daily.csv", "vix": "vix_daily.csv", "vix3m": "vix3m_daily.csv", "vix9d": "vix9d_daily.csv",
         "vvix": "vvix_daily.csv", "vxo": "vxo_daily.csv"}


def main(shared: Path) -> None:
    frames = {k: pd.read_csv(shared / f, parse_dates=["date"]).set_index("date")["close"].dropna() for k, f in FILES.items()}
    spx = frames["spx"]
    frames["spx"] = spx[spx.index >= "1985-01-02"]
    frames["vix"] = frames["vix"][frames["vix"].index.isin(spx.index)]
    for name, s in frames.items():
        s = s.sort_index()
        assert s.index.is_unique and (s > 0).all(), name
        out = s.round(2).rename("close").to_frame()
        out.index.name = "date"
        out.to_csv(OUT / f"{name}.csv", date_format="%Y-%m-%d", float_format="%.2f")
        print(f"{name}: {len(s)} rows {s.index[0].date()} .. {s.index[-1].date()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")

"""The ``historical:`` section of a scenario: replay a real episode (SPEC section 4).

.. code-block:: yaml

    historical:
      episode: covid_2020          # a name of EPISODES: sets from / to (either may be given to change it)
      from: 2020-01-27             # day 0 = the first NYSE session on or after this date
      to: 2020-04-30               # last day = the last NYSE session on or before this date
      dispersion: 0.5              # 0 = every path is the real sequence (see gpu_alvh.historical)
      implied_vol: auto            # auto | vix | vxo: the implied-vol series that sets the variance
      file: {spx: spx.csv, vix: vix.csv}   # optional: your own date,close CSV files instead of the shipped data

The clock of a historical scenario is the real one: ``start`` is the first
session of the range and ``horizon`` the number of sessions after it; ``spot``
and ``vix`` are the day-0 closes.  All four are derived (a file may state them,
and then they must agree with the data).

Data: the closes shipped in :mod:`gpu_alvh.data` (SPX from 1985, VIX from
1990, VXO 1986-2018) or the user's files.  ``implied_vol: auto`` takes VIX
where the shipped VIX covers the whole range and VXO (the S&P 100 implied vol
Cboe published before VIX existed) otherwise; one series per range, never
spliced.  Every session of the range must have a close in both series: a gap
is an error, not a fill.  Rows of user files on days the NYSE did not trade
(Cboe publishes some holidays) are ignored.

Everything here is validation: ``spec.historical.window()`` gives the closes of
a validated section (cached); the replay maths live in :mod:`gpu_alvh.historical`.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple, Optional

import numpy as np
from pydantic import Field, create_model, model_validator

from .. import calendar as cal
from .base import MISSING, FrozenModel, Shown, SpecDate, raise_issues, show_date

__all__ = ["Episode", "EPISODES", "IMPLIED_VOL", "HistoricalSpec", "HistoricalFiles", "EpisodeWindow", "MAX_FILE_BYTES"]

#: Largest user CSV file read (bounded work on hostile input).
MAX_FILE_BYTES = 64 * 2**20


class Episode(NamedTuple):
    """A library episode: replay range (``first`` .. ``last``), its first shock and a one-line title."""

    first: _dt.date
    last: _dt.date
    shock: _dt.date
    title: str


_d = _dt.date.fromisoformat
#: Named episodes (SPEC section 4).  Each starts three to four weeks before its first shock so that the
#: ladder has aged positions on every layer when the shock hits.
EPISODES: dict[str, Episode] = {
    "crash_1987": Episode(_d("1987-09-21"), _d("1987-11-30"), _d("1987-10-14"), "October 1987: Black Monday 1987-10-19, SPX -20.5%, VXO 150"),
    "gfc_2008": Episode(_d("2008-08-25"), _d("2008-11-28"), _d("2008-09-15"), "Lehman and the October-November 2008 crash, VIX 80.9"),
    "downgrade_2011": Episode(_d("2011-07-05"), _d("2011-09-30"), _d("2011-08-04"), "US debt-ceiling crisis and S&P downgrade, 2011-08-08 SPX -6.7%"),
    "china_2015": Episode(_d("2015-07-27"), _d("2015-09-30"), _d("2015-08-20"), "China devaluation sell-off, 2015-08-24 SPX -3.9%, VIX 40.7"),
    "volmageddon_2018": Episode(_d("2018-01-16"), _d("2018-03-29"), _d("2018-02-02"), "Volmageddon: 2018-02-05 SPX -4.1%, VIX 17.31 -> 37.32"),
    "covid_2020": Episode(_d("2020-01-27"), _d("2020-04-30"), _d("2020-02-24"), "COVID crash: 2020-03-16 SPX -12.0%, VIX 82.7"),
    "yen_2024": Episode(_d("2024-07-01"), _d("2024-08-30"), _d("2024-07-24"), "Yen carry unwind: 2024-08-05 SPX -3.0%, VIX 38.6"),
    "tariffs_2025": Episode(_d("2025-03-14"), _d("2025-05-30"), _d("2025-04-03"), "Tariff shock: 2025-04-03/04 SPX -4.8% and -6.0%, VIX 52.3"),
}

#: ``implied_vol`` choices.
IMPLIED_VOL: dict[str, str] = {
    "auto": "VIX where the shipped VIX covers the whole range, else VXO",
    "vix": "Cboe VIX (shipped from 1990-01-02)",
    "vxo": "Cboe VXO, S&P 100 30-day implied vol (shipped 1986-01-02 .. 2018-03-22)",
}

_SHIPPED_LABEL = {"spx": "S&P 500", "vix": "VIX", "vxo": "VXO"}


@dataclass(frozen=True, eq=False)
class EpisodeWindow:
    """The real closes of a replay: sessions ``dates[k]``, ``k = 0..horizon`` (day 0 = the start).

    ``spx`` and ``vol`` are float64 arrays ``[horizon + 1]`` (index points; implied vol in points);
    ``vol_series`` names the implied-vol series (``"VIX"``, ``"VXO"``, or ``"user file"``);
    ``sources`` says where each series comes from (shipped file or user file with its SHA-256).
    """

    dates: tuple
    spx: np.ndarray
    vol: np.ndarray
    vol_series: str
    sources: dict

    @property
    def horizon(self) -> int:
        return len(self.dates) - 1


class HistoricalFiles(FrozenModel):
    """User data: two CSV files with ``date`` (YYYY-MM-DD) and ``close`` columns."""

    spx: str = Field(strict=True, min_length=1, description="CSV file of SPX closes (columns date, close)")
    vix: str = Field(strict=True, min_length=1, description="CSV file of implied-vol (VIX) closes (columns date, close)")


class _HistoricalBase(FrozenModel):
    """Checks of the ``historical:`` section (fields added by :func:`pydantic.create_model`: ``from`` is a keyword)."""

    @property
    def first_date(self) -> _dt.date:
        """The ``from`` date (the episode's when not given)."""
        d = getattr(self, "from")
        return d if d is not None else EPISODES[self.episode].first

    @property
    def last_date(self) -> _dt.date:
        """The ``to`` date (the episode's when not given)."""
        d = self.to
        return d if d is not None else EPISODES[self.episode].last

    def window(self) -> EpisodeWindow:
        """The real closes of this (validated) section; cached."""
        w, issues = _window(self)
        if issues:  # pragma: no cover - a validated section has a window
            raise ValueError(issues)
        return w

    @model_validator(mode="after")
    def _check(self):
        issues: list[tuple[str, Any, str]] = []
        first, last = getattr(self, "from"), self.to
        if self.episode is not None and self.episode not in EPISODES:
            issues.append(("episode", self.episode, f"allowed: a library episode, one of {', '.join(EPISODES)} (or give from and to)"))
        elif self.episode is None:
            for key, val in (("from", first), ("to", last)):
                if val is None:
                    issues.append((key, MISSING, "required unless episode is given: a date YYYY-MM-DD (day 0 is the first session on or after from)"))
        if self.file is not None and self.implied_vol != "auto":
            issues.append(("implied_vol", self.implied_vol, "allowed: auto (the default) with file: the implied vol is the file.vix series"))
        raise_issues(issues)
        first, last = self.first_date, self.last_date
        if first > last:
            raise_issues([("to", show_date(last), f"allowed: a date on or after from ({first.isoformat()})")])
        _, issues = _window(self)
        raise_issues(issues)
        return self


def _make_spec():
    fields: dict[str, Any] = {
        "episode": (Optional[str], Field(None, strict=True, description="library episode name: sets from and to")),
        "from": (Optional[SpecDate], Field(None, description="first date: day 0 is the first NYSE session on or after it")),
        "to": (Optional[SpecDate], Field(None, description="last date: the last day is the last NYSE session on or before it")),
        "dispersion": (float, Field(0.0, ge=0.0, le=10.0, strict=True, description="Monte Carlo dispersion around the real path (0 = the real path)")),
        "implied_vol": (Literal[tuple(IMPLIED_VOL)], Field("auto", description=f"implied-vol series: {', '.join(IMPLIED_VOL)}")),
        "file": (Optional[HistoricalFiles], Field(None, description="user CSV files {spx, vix} with date,close columns")),
    }
    return create_model("HistoricalSpec", __base__=_HistoricalBase, __module__=__name__, **fields)


#: The validated ``historical:`` section (fields ``episode, from, to, dispersion, implied_vol, file``).
HistoricalSpec = _make_spec()
HistoricalSpec.__doc__ = "Replay of a real episode (see the module docstring); ``from`` is read with ``getattr(spec, 'from')``."


# --------------------------------------------------------------------------- data
def _stat_key(path: str) -> tuple:
    try:
        st = os.stat(path)
        return (st.st_mtime_ns, st.st_size)
    except OSError:
        return (None, None)


def _window(h) -> tuple[Optional[EpisodeWindow], list]:
    files = None if h.file is None else ((h.file.spx, _stat_key(h.file.spx)), (h.file.vix, _stat_key(h.file.vix)))
    return _window_cached(h.first_date, h.last_date, h.implied_vol, files)


@lru_cache(maxsize=128)
def _window_cached(first: _dt.date, last: _dt.date, implied_vol: str, files) -> tuple[Optional[EpisodeWindow], list]:
    s0 = cal.next_session(first)
    s1 = cal.previous_session(last, inclusive=True)
    if s1 <= s0:
        got = "no NYSE session" if s1 < s0 else f"only one NYSE session ({s0.isoformat()})"
        return None, [("", Shown(f"{{from: {first.isoformat()}, to: {last.isoformat()}}}"),
                       f"the range has {got}; allowed: a range with at least two sessions (day 0 and day 1)")]
    sessions = tuple(ts.date() for ts in cal.sessions(s0, cal.session_index(s0, s1)))
    if files is None:
        return _shipped_window(sessions, first, last, implied_vol)
    series, sources, issues = {}, {}, []
    for key, (path, _) in zip(("spx", "vix"), files):
        closes, problem = _read_csv(path)
        if problem:
            issues.append((f"file.{key}", path, problem))
            continue
        issues += _coverage(closes, sessions, first, last, key, f"file.{key}", f"file {path}")
        series[key] = closes
        sources[key] = f"user file {os.path.abspath(path)} (sha256 {_sha256(path)})"
    if issues:
        return None, issues
    spx = np.array([series["spx"][d] for d in sessions])
    vol = np.array([series["vix"][d] for d in sessions])
    return EpisodeWindow(sessions, spx, vol, "user file", sources), []


def _shipped_window(sessions, first, last, implied_vol):
    from ..data import SERIES

    as_dict = {k: _shipped_closes(k) for k in ("spx", "vix", "vxo")}
    vol_key = implied_vol if implied_vol != "auto" else ("vxo" if sessions[0] < min(as_dict["vix"]) else "vix")
    issues = []
    for key, field_key in (("spx", None), (vol_key, "implied_vol" if implied_vol != "auto" else None)):
        issues += _coverage(as_dict[key], sessions, first, last, key, field_key, f"the shipped {_SHIPPED_LABEL[key]} closes")
    if issues:
        return None, issues
    spx = np.array([as_dict["spx"][d] for d in sessions])
    vol = np.array([as_dict[vol_key][d] for d in sessions])
    sources = {"spx": f"gpu_alvh/data/spx.csv: {SERIES['spx']}", "vol": f"gpu_alvh/data/{vol_key}.csv: {SERIES[vol_key]}"}
    return EpisodeWindow(sessions, spx, vol, vol_key.upper(), sources), []


@lru_cache(maxsize=None)
def _shipped_closes(name: str) -> dict:
    from ..data import load_history

    return {ts.date(): float(v) for ts, v in load_history(name).items()}


def _coverage(closes: dict, sessions, first, last, key: str, field: Optional[str], what: str) -> list:
    """Issues when ``closes`` (date -> close) does not cover every session of the range."""
    dates = sorted(closes)
    if not dates:
        return [(field or "", Shown(what), "allowed: a series with at least one row")]
    lo, hi = dates[0], dates[-1]
    if sessions[0] < lo:
        return [("from", show_date(first), f"allowed: on or after {lo.isoformat()}, the first date of {what}")]
    if sessions[-1] > hi:
        return [("to", show_date(last), f"allowed: on or before {hi.isoformat()}, the last date of {what}")]
    missing = [d for d in sessions if d not in closes]
    if missing:
        shown = ", ".join(d.isoformat() for d in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        where = Shown(f"{{from: {first.isoformat()}, to: {last.isoformat()}}}")
        return [(field or "", where, f"{what} have no close on the NYSE session(s) {shown} of the range; every session needs a close "
                                     "(nothing is filled): choose another range or complete the data")]
    return []


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_csv(path: str) -> tuple[dict, Optional[str]]:
    """``date -> close`` of a user CSV, or the first problem found (bounded work)."""
    p = Path(path)
    if not p.is_file():
        return {}, f"no file at {p}; allowed: a CSV file with date,close columns (a relative path is relative to the scenario file)"
    if p.stat().st_size > MAX_FILE_BYTES:
        return {}, f"the file is larger than {MAX_FILE_BYTES >> 20} MiB; allowed: a CSV of daily closes"
    out: dict[_dt.date, float] = {}
    seen: set = set()
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            if "date" not in header or "close" not in header:
                return {}, f"missing column(s) {', '.join(c for c in ('date', 'close') if c not in header)} (header: {','.join(header) or 'empty'}); allowed: a CSV with a header row naming date and close"
            i_date, i_close = header.index("date"), header.index("close")
            for line, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) <= max(i_date, i_close):
                    return {}, f"line {line} has {len(row)} field(s); allowed: every row has a date and a close"
                text = row[i_date].strip()
                try:
                    d = _dt.date.fromisoformat(text)
                    if len(text) != 10:
                        raise ValueError
                except ValueError:
                    return {}, f"line {line}: date {text!r}; allowed: dates YYYY-MM-DD"
                try:
                    c = float(row[i_close])
                except ValueError:
                    return {}, f"line {line} ({text}): close {row[i_close].strip()!r}; allowed: positive numbers"
                if not (math.isfinite(c) and c > 0.0):
                    return {}, f"line {line} ({text}): close {c!r}; allowed: positive prices (every close > 0)"
                if d in seen:
                    return {}, f"line {line}: a second row for {text}; allowed: one row per date"
                seen.add(d)
                if cal.is_session(d):
                    out[d] = c
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return {}, f"cannot read the file ({exc}); allowed: a UTF-8 CSV file with date,close columns"
    if not out:
        return {}, "no rows on NYSE sessions; allowed: a CSV of daily closes"
    return out, None

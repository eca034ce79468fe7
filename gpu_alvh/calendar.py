"""NYSE trading calendar, the simulation clock and VIX expirations.

Every holiday, special closure and early close comes from ``exchange_calendars``
(calendar ``XNYS``); nothing here hand-rolls holiday rules.  Calendars are
built once per range and cached; the range always starts at the first date
``exchange_calendars`` knows for XNYS (1885) and reaches at least to 2100, so
1987 and dates years ahead both work.

The simulation clock (SPEC section 3):

* trading day ``0`` is the scenario's ``start`` session; day ``k`` (``k = 1..horizon``)
  is the ``k``-th session after it;
* step ``0`` is the close of ``start``; trading day ``k`` has ``steps_per_day``
  steps at ``open + j (close - open) / steps_per_day`` for ``j = 1..steps_per_day``,
  so the last step of a day is its close (13:00 on early-close days);
* all times are New York wall-clock time, tz-naive ``datetime64[ns]``.

Example
-------
>>> from gpu_alvh import calendar as cal
>>> cal.next_session("2026-11-26")          # Thanksgiving
datetime.date(2026, 11, 27)
>>> t = cal.step_times("2026-11-25", 1, 2)  # early close on 2026-11-27
>>> [str(x) for x in t]
['2026-11-25T16:00:00.000000000', '2026-11-27T11:15:00.000000000', '2026-11-27T13:00:00.000000000']
"""

from __future__ import annotations

import calendar as _stdcal
import datetime as _dt
import hashlib
import os
import re
import warnings
import zipfile
from functools import lru_cache
from typing import Union

import numpy as np
import pandas as pd

__all__ = [
    "EXCHANGE",
    "TIMEZONE",
    "DateLike",
    "to_date",
    "is_session",
    "next_session",
    "previous_session",
    "sessions",
    "session_index",
    "session_bounds",
    "is_early_close",
    "step_times",
    "step_day_index",
    "first_step_of_day",
    "step_at",
    "parse_hhmm",
    "third_friday",
    "vix_expiry",
    "vix_expiries",
]

#: exchange_calendars code of the New York Stock Exchange.
EXCHANGE = "XNYS"
#: Time zone of every wall-clock time returned by this module (tz-naive values).
TIMEZONE = "America/New_York"

_FIRST_DAY = pd.Timestamp("1885-01-01")  # first day exchange_calendars knows for XNYS
_MIN_LAST_YEAR = 2100

DateLike = Union[_dt.date, _dt.datetime, str, pd.Timestamp, np.datetime64]


# --------------------------------------------------------------------------- helpers
def to_date(d: DateLike) -> _dt.date:
    """Convert a date-like value (``date``, ISO string, Timestamp, datetime64) to ``datetime.date``.

    A ``datetime``/``Timestamp`` must be at midnight (a date, not an instant).
    """
    if isinstance(d, pd.Timestamp):
        ts = d
    elif isinstance(d, _dt.datetime):
        ts = pd.Timestamp(d)
    elif isinstance(d, _dt.date):
        return d
    elif isinstance(d, (str, np.datetime64)):
        try:
            ts = pd.Timestamp(d)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a date: {d!r} (expected YYYY-MM-DD)") from exc
    else:
        raise TypeError(f"not a date: {d!r} (expected a date or a YYYY-MM-DD string)")
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"not a date: {d!r}")
    if ts.tz is not None:
        ts = ts.tz_localize(None)
    if ts != ts.normalize():
        raise ValueError(f"expected a date without a time of day, got {d!r}")
    return ts.date()


def _ts(d: DateLike) -> pd.Timestamp:
    return pd.Timestamp(to_date(d))


@lru_cache(maxsize=8)
def _calendar(last_year: int):
    """XNYS calendar covering 1885-01-01 .. 31 Dec ``last_year`` (cached)."""
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.x reads tz-aware Series.values, deprecated in pandas 3.1 (not our code)
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar(EXCHANGE, start=_FIRST_DAY, end=pd.Timestamp(f"{last_year}-12-31"))


def _year_for(*dates: pd.Timestamp, extra_days: int = 0) -> int:
    """Last year of a calendar whose range contains every date (plus ``extra_days`` of sessions after)."""
    if not dates:
        return _MIN_LAST_YEAR
    lo = min(dates)
    if lo < _FIRST_DAY:
        raise ValueError(f"{lo.date()} is before the first date of the {EXCHANGE} calendar ({_FIRST_DAY.date()})")
    hi = max(dates) + pd.Timedelta(days=int(extra_days * 7 / 5) + 31)
    year = max(_MIN_LAST_YEAR, hi.year + 1)
    return ((year + 49) // 50) * 50  # few distinct cache entries


def _sessions_path(last_year: int):
    """``<cache dir>/calendar/XNYS-<last_year>-<versions>.npz``: keyed by the versions of the libraries
    that make the sessions (a new release of their holiday rules never reads a stale file)."""
    from importlib.metadata import version

    from .kernels.build import cache_dir

    tag = hashlib.sha256(f"{version('exchange_calendars')}|{pd.__version__}|{_FIRST_DAY}".encode()).hexdigest()[:16]
    return cache_dir() / "calendar" / f"{EXCHANGE}-{last_year}-{tag}.npz"


def _build_session_arrays(last_year: int):
    cal = _calendar(last_year)
    opens = cal.opens.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
    closes = cal.closes.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
    return tuple(np.ascontiguousarray(a.values.astype("datetime64[ns]").astype(np.int64)) for a in (cal.sessions, opens, closes))


@lru_cache(maxsize=8)
def _session_arrays(last_year: int):
    """Sessions and local-time opens/closes as int64 ns arrays (for vectorised lookups) of the calendar
    ending 31 Dec ``last_year``.  Building them from ``exchange_calendars`` takes about a second, so they
    are kept on disk (:func:`_sessions_path`, written to a temporary file and renamed into place, read
    back with ``allow_pickle=False``); a file that cannot be read, or reads as anything but three int64
    arrays of equal length with increasing sessions, is rebuilt and replaced.  ``ALVH_TABLE_CACHE=0``
    turns the disk part off."""
    use_disk = os.environ.get("ALVH_TABLE_CACHE", "1") != "0"
    path = _sessions_path(last_year) if use_disk else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                out = tuple(np.ascontiguousarray(z[k]) for k in ("sessions", "opens", "closes"))
            if all(a.dtype == np.int64 and a.ndim == 1 and a.size == out[0].size for a in out) and out[0].size > 1 \
                    and bool(np.all(np.diff(out[0]) > 0)):
                return out
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable (truncated, foreign): rebuilt and replaced below
    out = _build_session_arrays(last_year)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                np.savez(fh, sessions=out[0], opens=out[1], closes=out[2])
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache directory only costs the next process a rebuild
    return out


def _arrays_for(*dates: pd.Timestamp, extra_days: int = 0):
    return _session_arrays(_year_for(*dates, extra_days=extra_days))


# --------------------------------------------------------------------------- sessions
def is_session(d: DateLike) -> bool:
    """True when the NYSE trades on date ``d`` (full or early-close session)."""
    ts = _ts(d)
    sess, _, _ = _arrays_for(ts)
    i = np.searchsorted(sess, ts.value)
    return bool(i < sess.size and sess[i] == ts.value)


def next_session(d: DateLike, inclusive: bool = True) -> _dt.date:
    """First session on or after ``d`` (``inclusive=True``) or strictly after ``d``."""
    ts = _ts(d)
    sess, _, _ = _arrays_for(ts)
    i = np.searchsorted(sess, ts.value, side="left" if inclusive else "right")
    return pd.Timestamp(sess[i]).date()


def previous_session(d: DateLike, inclusive: bool = False) -> _dt.date:
    """Last session before ``d`` (or on/before ``d`` with ``inclusive=True``)."""
    ts = _ts(d)
    sess, _, _ = _arrays_for(ts)
    i = np.searchsorted(sess, ts.value, side="right" if inclusive else "left") - 1
    if i < 0:
        raise ValueError(f"no {EXCHANGE} session before {ts.date()}")
    return pd.Timestamp(sess[i]).date()


def _start_index(start: DateLike, horizon: int):
    ts = _ts(start)
    if int(horizon) < 0:
        raise ValueError(f"horizon must be >= 0, got {horizon}")
    sess, opens, closes = _arrays_for(ts, extra_days=int(horizon))
    i = int(np.searchsorted(sess, ts.value))
    if i >= sess.size or sess[i] != ts.value:
        raise ValueError(f"{ts.date()} is not an {EXCHANGE} session; the next session is {next_session(ts)}")
    if i + int(horizon) >= sess.size:  # pragma: no cover - the range is extended above
        raise ValueError("horizon reaches beyond the calendar range")
    return i, sess, opens, closes


def sessions(start: DateLike, horizon: int) -> pd.DatetimeIndex:
    """``start`` and the next ``horizon`` sessions: ``horizon + 1`` dates (tz-naive midnight).

    ``sessions(start, h)[k]`` is trading day ``k`` of a scenario starting on ``start``.
    Raises ``ValueError`` when ``start`` is not a session.
    """
    i, sess, _, _ = _start_index(start, horizon)
    return pd.DatetimeIndex(sess[i : i + int(horizon) + 1].astype("datetime64[ns]"))


def session_index(start: DateLike, d: DateLike) -> int:
    """Trading-day index of session ``d`` counted from session ``start`` (0 for ``start``).

    Raises ``ValueError`` when either date is not a session or ``d`` is before ``start``.
    """
    ts, td = _ts(start), _ts(d)
    if td < ts:
        raise ValueError(f"{td.date()} is before {ts.date()}")
    sess, _, _ = _arrays_for(ts, td)
    i, j = (int(x) for x in np.searchsorted(sess, [ts.value, td.value]))
    for k, when in ((i, ts), (j, td)):
        if k >= sess.size or sess[k] != when.value:
            raise ValueError(f"{when.date()} is not an {EXCHANGE} session; the next session is {next_session(when)}")
    return j - i


def session_bounds(d: DateLike) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Open and close of session ``d`` (New York wall-clock time, tz-naive)."""
    i, sess, opens, closes = _start_index(d, 0)
    return pd.Timestamp(opens[i]), pd.Timestamp(closes[i])


def is_early_close(d: DateLike) -> bool:
    """True when session ``d`` closes before 16:00 New York time (e.g. the day after Thanksgiving)."""
    _, close = session_bounds(d)
    return (close.hour, close.minute) < (16, 0)


# --------------------------------------------------------------------------- the clock
def step_times(start: DateLike, horizon: int, steps_per_day: int = 1) -> np.ndarray:
    """Wall-clock time of every simulation step.

    Returns
    -------
    numpy.ndarray
        ``[horizon * steps_per_day + 1]`` ``datetime64[ns]``, New York local time,
        tz-naive, strictly increasing.  Element 0 is the close of ``start``; the steps
        of trading day ``k`` are ``open_k + j (close_k - open_k) / steps_per_day``,
        ``j = 1..steps_per_day`` (integer nanoseconds, rounded down).
    """
    spd = int(steps_per_day)
    if spd < 1:
        raise ValueError(f"steps_per_day must be >= 1, got {steps_per_day}")
    h = int(horizon)
    i, _, opens, closes = _start_index(start, h)
    o = opens[i + 1 : i + h + 1]
    c = closes[i + 1 : i + h + 1]
    j = np.arange(1, spd + 1, dtype=np.int64)
    steps = o[:, None] + ((c - o)[:, None] * j[None, :]) // spd
    out = np.empty(h * spd + 1, dtype=np.int64)
    out[0] = closes[i]
    out[1:] = steps.ravel()
    return out.astype("datetime64[ns]")


def step_day_index(horizon: int, steps_per_day: int = 1) -> np.ndarray:
    """Trading-day index of every step: ``[horizon * steps_per_day + 1]`` int64, 0 for step 0.

    Steps ``(k - 1) * steps_per_day + 1 .. k * steps_per_day`` belong to day ``k``.
    """
    spd = int(steps_per_day)
    return np.concatenate([[0], np.repeat(np.arange(1, int(horizon) + 1, dtype=np.int64), spd)]).astype(np.int64)


def first_step_of_day(day_index, steps_per_day: int = 1):
    """Index of the first step of trading day ``day_index`` (0 for day 0); int or int64 array."""
    d = np.asarray(day_index, dtype=np.int64)
    out = np.where(d <= 0, 0, (d - 1) * int(steps_per_day) + 1)
    return int(out) if out.ndim == 0 else out


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(hhmm: str | _dt.time) -> _dt.time:
    """``"HH:MM"`` (24-hour clock) or a ``datetime.time`` -> ``datetime.time``."""
    if isinstance(hhmm, _dt.time):
        return hhmm
    m = _HHMM.match(str(hhmm))
    if not m:
        raise ValueError(f"not a time of day: {hhmm!r} (expected HH:MM, 24-hour clock)")
    return _dt.time(int(m.group(1)), int(m.group(2)))


def step_at(times: np.ndarray, day_index: int, hhmm: str | _dt.time) -> int:
    """Step of trading day ``day_index`` at which an event released at ``hhmm`` has happened.

    The first step of that day whose time is ``>=`` the release time: a pre-open
    release (08:30 CPI) maps to the day's first step, a 14:00 FOMC statement to the
    14:00 step (or the close with one step per day).  A release after the day's
    last step (an after-hours release, or 14:00 on a 13:00 early close) maps to the
    day's close: the event belongs to the day it is dated on.

    Parameters
    ----------
    times
        Output of :func:`step_times` (``datetime64``, step 0 = close of day 0).
    day_index
        Trading day, ``1 .. horizon``.
    """
    t = np.asarray(times).astype("datetime64[ns]")
    dates = t.astype("datetime64[D]")
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])  # first step of day 0, 1, ...
    n_days = starts.size - 1
    k = int(day_index)
    if not 1 <= k <= n_days:
        raise ValueError(f"day_index must be in [1, {n_days}], got {day_index}")
    lo = int(starts[k])
    hi = int(starts[k + 1]) if k + 1 < starts.size else t.size
    rel = parse_hhmm(hhmm)
    release = dates[lo] + np.timedelta64(rel.hour * 60 + rel.minute, "m")
    after = np.flatnonzero(t[lo:hi] >= release)
    return lo + int(after[0]) if after.size else hi - 1


# --------------------------------------------------------------------------- VIX expirations
def third_friday(year: int, month: int) -> _dt.date:
    """Third Friday of ``year``-``month`` (the standard monthly SPX expiration date)."""
    first_weekday, _ = _stdcal.monthrange(int(year), int(month))  # Monday = 0
    first_friday = 1 + (4 - first_weekday) % 7
    return _dt.date(int(year), int(month), first_friday + 14)


def vix_expiry(year: int, month: int) -> _dt.date:
    """Final settlement date of the VIX future / monthly VIX option of contract month ``year-month``.

    Cboe rule: the Wednesday 30 calendar days before the third Friday of the
    following month.  If that Friday is an exchange holiday, 30 days before the
    business day preceding that Friday (so usually a Tuesday, e.g. 2014-03-18,
    Good Friday 2014-04-18); if the resulting day is itself a holiday, the
    business day preceding it (e.g. 2024-06-18, Juneteenth on Wednesday 2024-06-19).
    NYSE (XNYS) holidays stand in for Cboe holidays.
    """
    y, m = (int(year), int(month) + 1) if int(month) < 12 else (int(year) + 1, 1)
    friday = third_friday(y, m)
    if not is_session(friday):
        friday = previous_session(friday)
    exp = friday - _dt.timedelta(days=30)
    if not is_session(exp):
        exp = previous_session(exp)
    return exp


def vix_expiries(first: DateLike, last: DateLike) -> list[_dt.date]:
    """All monthly VIX expirations in ``[first, last]`` (ascending ``datetime.date``)."""
    lo, hi = to_date(first), to_date(last)
    if hi < lo:
        return []
    y, m = (lo.year, lo.month - 1) if lo.month > 1 else (lo.year - 1, 12)
    out: list[_dt.date] = []
    while (y, m) <= (hi.year, hi.month):
        e = vix_expiry(y, m)
        if lo <= e <= hi:
            out.append(e)
        y, m = (y, m + 1) if m < 12 else (y + 1, 1)
    return out

"""Daily closes for calibration: the shipped history, or the user's own CSV files, validated.

A user file is a CSV with a header naming (case-insensitively, other columns ignored) a ``date``
column (ISO ``YYYY-MM-DD``) and a ``close`` column (positive numbers); rows may come in any
order, dates must be unique.  Problems are :class:`~gpu_alvh.errors.SpecError` naming the file,
the row (its line number) and the column, so the CLI exits with code 2 and one clear message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data import load_history
from ..errors import SpecError, SpecIssue

__all__ = ["SERIES_ORDER", "MIN_SESSIONS", "read_closes", "build_frame", "shipped_frame", "window_dates"]

#: Columns of a calibration frame, in order (``spx`` and ``vix`` required).
SERIES_ORDER = ("spx", "vix", "vix9d", "vix3m", "vvix")
#: Fewest sessions with both SPX and VIX a fit accepts (two years: every statistic needs a few
#: 252-session blocks for its error).
MIN_SESSIONS = 504
_MAX_ISSUES = 5


def read_closes(path, name: str) -> pd.Series:
    """Read ``date, close`` rows of one series from a CSV file (``name`` labels the series)."""
    src = str(path)
    p = Path(path)
    if not p.is_file():
        raise SpecError(src, SpecIssue(f"--{name}", src, "allowed: an existing CSV file with a header and columns date, close"))
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SpecError(src, SpecIssue("<csv>", str(exc).splitlines()[0][:120], "allowed: a comma-separated file with a header line and columns date, close")) from None
    cols = {str(c).strip().lower(): c for c in raw.columns}
    missing = [c for c in ("date", "close") if c not in cols]
    if missing:
        raise SpecError(src, SpecIssue("columns", list(map(str, raw.columns)), f"missing column(s) {', '.join(missing)}; allowed: a header with columns date and close (others are ignored)"))
    dates = pd.to_datetime(raw[cols["date"]].str.strip(), format="%Y-%m-%d", errors="coerce")
    close = pd.to_numeric(raw[cols["close"]].str.strip(), errors="coerce")
    issues: list[SpecIssue] = []
    line = np.arange(len(raw)) + 2  # header is line 1
    for i in np.flatnonzero(dates.isna().to_numpy())[:_MAX_ISSUES]:
        issues.append(SpecIssue(f"line {line[i]}: date", raw[cols["date"]].iloc[i], "allowed: an ISO date YYYY-MM-DD"))
    ok = close.notna().to_numpy() & np.isfinite(close.to_numpy(dtype=float, na_value=np.nan)) & (close.to_numpy(dtype=float, na_value=np.nan) > 0)
    for i in np.flatnonzero(~ok)[:_MAX_ISSUES]:
        issues.append(SpecIssue(f"line {line[i]}: close", raw[cols["close"]].iloc[i], "allowed: a positive finite number (index points)"))
    dup = dates.duplicated(keep="first").to_numpy() & dates.notna().to_numpy()
    for i in np.flatnonzero(dup)[:_MAX_ISSUES]:
        issues.append(SpecIssue(f"line {line[i]}: date", raw[cols["date"]].iloc[i], "allowed: each date once (this date is repeated)"))
    if issues:
        raise SpecError(src, issues)
    if len(raw) == 0:
        raise SpecError(src, SpecIssue("<rows>", 0, "allowed: at least one data row"))
    s = pd.Series(close.to_numpy(dtype=float), index=pd.DatetimeIndex(dates), name=name).sort_index()
    return s


def build_frame(series: dict[str, pd.Series], *, start=None, end=None, source: str = "--from/--to") -> pd.DataFrame:
    """Align the series on the SPX sessions from the first VIX date, inside ``[start, end]``.

    ``series`` maps names of :data:`SERIES_ORDER` (``spx``, ``vix`` required) to closes.  Rows of
    the other series on dates that are not SPX sessions are dropped.  Fewer than
    :data:`MIN_SESSIONS` sessions with both SPX and VIX is an error.
    """
    spx, vix = series["spx"], series["vix"]
    lo = max(spx.index[0], vix.index[0])
    if start is not None:
        lo = max(lo, pd.Timestamp(start))
    hi = spx.index[-1] if end is None else min(spx.index[-1], pd.Timestamp(end))
    idx = spx.index[(spx.index >= lo) & (spx.index <= hi)]
    frame = pd.DataFrame({"spx": spx.reindex(idx)})
    for name in SERIES_ORDER[1:]:
        if name in series and series[name] is not None:
            frame[name] = series[name].reindex(idx)
    both = int((frame["spx"].notna() & frame["vix"].notna()).sum())
    if both < MIN_SESSIONS:
        span = f"{idx[0].date()}..{idx[-1].date()}" if len(idx) else "empty"
        raise SpecError(source, SpecIssue("window", span, f"{both} sessions with both SPX and VIX; allowed: at least {MIN_SESSIONS} (two years) inside the window"))
    return frame


def shipped_frame(start=None, end=None) -> pd.DataFrame:
    """The package's daily history (:mod:`gpu_alvh.data`) as a calibration frame."""
    series = {name: load_history(name) for name in SERIES_ORDER}
    return build_frame(series, start=start, end=end)


def _check_date(text, option: str):
    if text is None:
        return None
    try:
        return pd.Timestamp(str(text)).normalize()
    except (ValueError, TypeError):
        raise SpecError(option, SpecIssue(option, text, "allowed: an ISO date YYYY-MM-DD")) from None


def window_dates(start, end) -> tuple:
    """Validated ``--from`` / ``--to`` dates (``None`` passes through)."""
    a, b = _check_date(start, "--from"), _check_date(end, "--to")
    if a is not None and b is not None and not a < b:
        raise SpecError("--from/--to", SpecIssue("--to", str(b.date()), f"allowed: a date after --from ({a.date()})"))
    return a, b

"""NYSE calendar, simulation clock and VIX expirations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gpu_alvh import calendar as cal

D = dt.date


# --------------------------------------------------------------------------- sessions
@pytest.mark.parametrize(
    "day, expected",
    [
        (D(2026, 8, 1), False),  # Saturday
        (D(2026, 8, 2), False),  # Sunday
        (D(2026, 7, 31), True),
        (D(2026, 11, 26), False),  # Thanksgiving
        (D(2026, 11, 27), True),  # early close, still a session
        (D(2026, 4, 3), False),  # Good Friday
        (D(2026, 7, 3), False),  # Independence Day observed (July 4 is a Saturday)
        (D(2026, 6, 19), False),  # Juneteenth
        (D(2025, 1, 9), False),  # national day of mourning (President Carter)
        (D(2001, 9, 10), True),
        (D(2001, 9, 11), False),
        (D(2001, 9, 12), False),
        (D(2001, 9, 13), False),
        (D(2001, 9, 14), False),
        (D(2001, 9, 17), True),
        (D(1987, 10, 19), True),  # Black Monday traded
        (D(2012, 10, 29), False),  # Hurricane Sandy
    ],
)
def test_is_session(day, expected):
    assert cal.is_session(day) is expected
    assert cal.is_session(day.isoformat()) is expected


def test_next_and_previous_session():
    assert cal.next_session("2026-11-26") == D(2026, 11, 27)
    assert cal.next_session("2026-11-27") == D(2026, 11, 27)
    assert cal.next_session("2026-11-27", inclusive=False) == D(2026, 11, 30)
    assert cal.next_session("2001-09-11") == D(2001, 9, 17)
    assert cal.next_session("2025-01-09") == D(2025, 1, 10)
    assert cal.previous_session("2026-08-03") == D(2026, 7, 31)
    assert cal.previous_session("2026-08-03", inclusive=True) == D(2026, 8, 3)


def test_sessions_skip_weekends_and_holidays():
    s = cal.sessions("2026-11-25", 3)
    assert [d.date() for d in s] == [D(2026, 11, 25), D(2026, 11, 27), D(2026, 11, 30), D(2026, 12, 1)]
    s = cal.sessions("2001-09-07", 2)
    assert [d.date() for d in s] == [D(2001, 9, 7), D(2001, 9, 10), D(2001, 9, 17)]
    s = cal.sessions("1987-10-16", 3)
    assert [d.date() for d in s] == [D(1987, 10, 16), D(1987, 10, 19), D(1987, 10, 20), D(1987, 10, 21)]
    assert isinstance(s, pd.DatetimeIndex) and s.tz is None


def test_sessions_many_years_ahead():
    s = cal.sessions("2026-07-31", 2520)
    assert len(s) == 2521
    assert s.is_monotonic_increasing and s.is_unique
    assert all(d.weekday() < 5 for d in s)
    far = cal.sessions(cal.next_session("2095-01-03"), 2520)
    assert far[-1].year >= 2104


def test_sessions_start_must_be_a_session():
    with pytest.raises(ValueError, match="2026-08-03"):
        cal.sessions("2026-08-01", 5)


def test_session_index():
    assert cal.session_index("2026-07-31", "2026-07-31") == 0
    assert cal.session_index("2026-11-25", "2026-11-30") == 2
    with pytest.raises(ValueError):
        cal.session_index("2026-11-25", "2026-11-26")


def test_early_closes():
    for day in ("2026-11-27", "2026-12-24", "2025-07-03"):
        open_, close = cal.session_bounds(day)
        assert (open_.hour, open_.minute) == (9, 30)
        assert (close.hour, close.minute) == (13, 0)
        assert cal.is_early_close(day)
    open_, close = cal.session_bounds("2026-07-31")
    assert (close.hour, close.minute) == (16, 0)
    assert not cal.is_early_close("2026-07-31")


# --------------------------------------------------------------------------- the clock
@pytest.mark.parametrize("start, horizon, spd", [("2026-07-31", 20, 1), ("2026-11-20", 10, 13), ("1987-10-16", 3, 2), ("2026-07-31", 5, 7)])
def test_step_times_shape_and_order(start, horizon, spd):
    t = cal.step_times(start, horizon, spd)
    assert t.dtype == np.dtype("datetime64[ns]")
    assert t.shape == (horizon * spd + 1,)
    assert np.all(np.diff(t) > np.timedelta64(0, "ns"))
    sessions = cal.sessions(start, horizon)
    day = cal.step_day_index(horizon, spd)
    assert day.shape == t.shape and day[0] == 0
    # every step lies on its session's date, the last step of each day is the close
    np.testing.assert_array_equal(t.astype("datetime64[D]"), sessions.values.astype("datetime64[D]")[day])
    for k in range(horizon + 1):
        close = cal.session_bounds(sessions[k])[1]
        last = t[cal.first_step_of_day(k + 1, spd) - 1] if k < horizon else t[-1]
        assert pd.Timestamp(last) == close
    # step 0 is the close of the start session; day k's first step index
    assert cal.first_step_of_day(0, spd) == 0
    np.testing.assert_array_equal(cal.first_step_of_day(np.arange(1, horizon + 1), spd), np.flatnonzero(np.diff(day)) + 1)


def test_step_times_intraday_grid():
    t = cal.step_times("2026-07-30", 1, 13)  # 2026-07-31 is a full day: 30-minute steps
    assert str(t[0]) == "2026-07-30T16:00:00.000000000"
    np.testing.assert_array_equal(np.diff(t[1:]), np.full(12, np.timedelta64(30, "m")))
    assert pd.Timestamp(t[1]) == pd.Timestamp("2026-07-31 10:00")
    # the day after Thanksgiving closes at 13:00: 13 steps of 3.5 hours / 13
    t = cal.step_times("2026-11-25", 1, 13)
    assert pd.Timestamp(t[-1]) == pd.Timestamp("2026-11-27 13:00")
    step = (pd.Timestamp("2026-11-27 13:00") - pd.Timestamp("2026-11-27 09:30")) / 13
    assert abs(pd.Timestamp(t[1]) - (pd.Timestamp("2026-11-27 09:30") + step)) < pd.Timedelta(1, "us")


def test_step_times_one_step_per_day_are_closes():
    t = cal.step_times("2026-11-24", 4, 1)
    assert [str(pd.Timestamp(x)) for x in t] == [
        "2026-11-24 16:00:00",
        "2026-11-25 16:00:00",
        "2026-11-27 13:00:00",
        "2026-11-30 16:00:00",
        "2026-12-01 16:00:00",
    ]


def test_step_at():
    t13 = cal.step_times("2026-07-31", 5, 13)
    t1 = cal.step_times("2026-07-31", 5, 1)
    for day in (1, 3, 5):
        first = cal.first_step_of_day(day, 13)
        # pre-open release (CPI 08:30): first step of the day
        assert cal.step_at(t13, day, "08:30") == first
        assert cal.step_at(t13, day, "09:30") == first
        # FOMC 14:00: the 14:00 step
        i = cal.step_at(t13, day, "14:00")
        assert pd.Timestamp(t13[i]).time() == dt.time(14, 0)
        assert pd.Timestamp(t13[i - 1]).time() < dt.time(14, 0)
        # release at 14:10: the next step (14:30)
        assert pd.Timestamp(t13[cal.step_at(t13, day, "14:10")]).time() == dt.time(14, 30)
        # after the close: the day's close
        assert cal.step_at(t13, day, "17:00") == first + 12
        # one step a day: always the close step of that day
        assert cal.step_at(t1, day, "08:30") == cal.step_at(t1, day, "14:00") == day
    # early close (13:00): a 14:00 release maps to the close step
    te = cal.step_times("2026-11-25", 2, 13)
    i = cal.step_at(te, 1, "14:00")
    assert pd.Timestamp(te[i]) == pd.Timestamp("2026-11-27 13:00")
    with pytest.raises(ValueError):
        cal.step_at(t13, 0, "14:00")
    with pytest.raises(ValueError):
        cal.step_at(t13, 6, "14:00")
    with pytest.raises(ValueError):
        cal.step_at(t13, 1, "2pm")


# --------------------------------------------------------------------------- VIX expirations
def test_third_friday():
    for year in (1990, 2014, 2026, 2031):
        for month in range(1, 13):
            d = cal.third_friday(year, month)
            assert d.weekday() == 4 and 15 <= d.day <= 21 and (d.year, d.month) == (year, month)


@pytest.mark.parametrize(
    "expiry",
    [
        D(2024, 2, 14),  # the Wednesday 30 days before Friday 2024-03-15
        D(2024, 3, 20),
        D(2025, 1, 22),
        D(2014, 3, 18),  # Tuesday: 2014-04-18 was Good Friday (Cboe "settles Tuesday March 18th")
        D(2022, 3, 15),  # Tuesday: 2022-04-15 was Good Friday
        D(2025, 3, 18),  # Tuesday: 2025-04-18 was Good Friday
        D(2024, 6, 18),  # Tuesday: Wednesday 2024-06-19 was Juneteenth
        D(2026, 5, 19),  # Tuesday: Friday 2026-06-19 is Juneteenth
    ],
)
def test_known_vix_expiries(expiry):
    assert expiry in cal.vix_expiries(expiry - dt.timedelta(days=40), expiry + dt.timedelta(days=40))


def test_vix_expiry_rule():
    exps = cal.vix_expiries("2010-01-01", "2030-12-31")
    assert len(exps) == 21 * 12  # one per month
    assert exps == sorted(exps)
    for e in exps:
        assert cal.is_session(e)
        y, m = (e.year, e.month + 1) if e.month < 12 else (e.year + 1, 1)
        friday = cal.third_friday(y, m)
        regular = friday - dt.timedelta(days=30)
        if cal.is_session(friday) and cal.is_session(regular):
            assert e == regular and e.weekday() == 2
        else:
            assert e < regular and e.weekday() in (0, 1)
    assert cal.vix_expiries("2026-07-23", "2026-07-21") == []


def test_to_date():
    assert cal.to_date("2026-07-31") == D(2026, 7, 31)
    assert cal.to_date(pd.Timestamp("2026-07-31")) == D(2026, 7, 31)
    assert cal.to_date(np.datetime64("2026-07-31")) == D(2026, 7, 31)
    with pytest.raises(ValueError):
        cal.to_date("2026-07-31 10:00")


def test_session_arrays_are_kept_on_disk_and_a_bad_copy_is_rebuilt(monkeypatch, tmp_path):
    """The session arrays are built once from exchange_calendars and read back from the cache directory
    by the next process (here: a cleared in-process cache with exchange_calendars made unusable); a
    truncated file is rebuilt and replaced, never read."""
    from gpu_alvh import calendar as cal_mod

    monkeypatch.setenv("ALVH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ALVH_TABLE_CACHE", raising=False)
    cal_mod._session_arrays.cache_clear()
    try:
        built = cal_mod._session_arrays(cal_mod._MIN_LAST_YEAR)
        path = cal_mod._sessions_path(cal_mod._MIN_LAST_YEAR)
        assert path.exists() and path.parent.parent == tmp_path
        xnys = cal_mod._calendar(cal_mod._MIN_LAST_YEAR)
        np.testing.assert_array_equal(built[0], xnys.sessions.values.astype("datetime64[ns]").astype(np.int64))

        def unusable(last_year):
            raise AssertionError("exchange_calendars was asked again")

        cal_mod._session_arrays.cache_clear()
        monkeypatch.setattr(cal_mod, "_calendar", unusable)
        read = cal_mod._session_arrays(cal_mod._MIN_LAST_YEAR)
        for a, b in zip(read, built):
            np.testing.assert_array_equal(a, b)
        assert cal.is_session("2026-11-27") and not cal.is_session("2026-11-26")  # from the disk copy

        path.write_bytes(path.read_bytes()[:100])  # truncated
        cal_mod._session_arrays.cache_clear()
        monkeypatch.undo()
        monkeypatch.setenv("ALVH_CACHE_DIR", str(tmp_path))
        again = cal_mod._session_arrays(cal_mod._MIN_LAST_YEAR)
        np.testing.assert_array_equal(again[2], built[2])
        with np.load(path, allow_pickle=False) as z:  # replaced by a good copy
            np.testing.assert_array_equal(z["opens"], built[1])
    finally:
        cal_mod._session_arrays.cache_clear()

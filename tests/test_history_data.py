"""The packaged daily history equals the project's shared/data closes it is derived from."""

from __future__ import annotations

import pandas as pd
import pytest

from gpu_alvh.data import SERIES, history_frame, load_history

from .conftest import SHARED

FILES = {"spx": "spx_daily.csv", "vix": "vix_daily.csv", "vix3m": "vix3m_daily.csv", "vix9d": "vix9d_daily.csv",
         "vvix": "vvix_daily.csv", "vxo": "vxo_daily.csv"}


@pytest.mark.parametrize("name", list(SERIES))
def test_series_match_shared_data(name):
    path = SHARED / "data" / FILES[name]
    if not path.exists():
        pytest.skip(f"{path} not present")
    src = pd.read_csv(path, parse_dates=["date"], index_col="date")["close"].dropna()
    ours = load_history(name)
    assert ours.index.is_monotonic_increasing and ours.index.is_unique and (ours > 0).all()
    common = src.reindex(ours.index)
    assert common.notna().all(), "every shipped date exists in the source"
    assert (common - ours).abs().max() < 0.005
    if name == "vix":  # only the exchange-holiday rows are dropped
        spx = pd.read_csv(SHARED / "data" / FILES["spx"], parse_dates=["date"], index_col="date").index
        assert set(src.index) - set(ours.index) == set(src.index[~src.index.isin(spx)])


def test_spot_checks():
    f = history_frame(("spx", "vix"), "1990-01-01")
    assert f.loc["2020-03-16", "vix"] == 82.69 and f.loc["2020-03-16", "spx"] == 2386.13
    assert f.loc["2018-02-05", "vix"] == 37.32 and f.loc["2018-02-02", "vix"] == 17.31
    spx = load_history("spx", "1987-10-16", "1987-10-19")
    assert abs(spx.iloc[-1] / spx.iloc[0] - 1 + 0.2047) < 5e-4
    assert load_history("vxo", "1987-10-19", "1987-10-19").iloc[0] == 150.19
    with pytest.raises(ValueError, match="valid series"):
        load_history("nope")

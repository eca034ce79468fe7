"""Pricing tables from the disk cache equal a fresh build bit for bit; a stale or broken file is never read."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_alvh.models import Heston
from gpu_alvh.pricing import cache
from gpu_alvh.pricing.tables import SpxTable
from gpu_alvh.pricing.vix import VixTable

M = Heston(kappa=3.0, theta=0.04, sigma=0.6, rho=-0.7)
SMALL = {"SpxTable": dict(rate=0.04, dividend_yield=0.01, max_days=60.0, n_z=21, n_v=11, n_tau=8),
         "VixTable": dict(rate=0.04, max_days=60.0)}
ARRAYS = {"SpxTable": ("nu",), "VixTable": ("xi", "sig", "fut", "cn", "c_first", "c_last", "slope_last")}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVH_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ALVH_TABLE_CACHE", raising=False)
    cache._MEMO.clear()
    yield
    cache._MEMO.clear()


def files(tmp_path):
    return sorted((tmp_path / "tables").glob("*.npz")) if (tmp_path / "tables").exists() else []


@pytest.mark.parametrize("cls", [SpxTable, VixTable])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cached_equals_a_fresh_build_after_a_reload_from_disk(cls, dtype, tmp_path, monkeypatch):
    kw = SMALL[cls.__name__]
    ref = cls.build(M, backend="numpy", dtype=dtype, **kw)
    first = cache.cached_table(cls, M, backend="numpy", dtype=dtype, **kw)
    assert len(files(tmp_path)) == 1
    cache._MEMO.clear()  # a new process: only the file is left

    def no_build(*a, **k):
        raise AssertionError("rebuilt although the file was there")

    monkeypatch.setattr(cls, "build", classmethod(no_build))
    again = cache.cached_table(cls, M, backend="numpy", dtype=dtype, **kw)
    for t in (first, again):
        assert t.dtype == np.dtype(dtype)
        for name in ARRAYS[cls.__name__]:
            got, want = getattr(t, name), getattr(ref, name)
            assert got.dtype == want.dtype and np.array_equal(got, want), name
    for f in ("rate", "v_scale", "st_axis"):
        if hasattr(ref, f):
            assert getattr(again, f) == getattr(ref, f)
    if cls is SpxTable:  # and the lookups agree
        args = (7000.0, np.array([6300.0, 7000.0, 7400.0]), 0.05, 0.08, False)
        np.testing.assert_array_equal(again.price_greeks(*args).price, ref.price_greeks(*args).price)


def test_another_market_or_setting_gets_another_file(tmp_path):
    kw = SMALL["SpxTable"]
    cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", **kw)
    cache.cached_table(SpxTable, M.replace(sigma=0.5), backend="numpy", dtype="float64", **kw)
    cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", **{**kw, "max_days": 90.0})
    assert len(files(tmp_path)) == 3


def test_a_broken_file_is_rebuilt_and_replaced(tmp_path):
    kw = SMALL["SpxTable"]
    ref = cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", **kw)
    (path,) = files(tmp_path)
    path.write_bytes(path.read_bytes()[:100])  # truncated, e.g. a full disk
    cache._MEMO.clear()
    again = cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", **kw)
    assert np.array_equal(again.nu, ref.nu)
    with np.load(path, allow_pickle=False) as z:  # replaced by a readable file
        assert np.array_equal(z["nu"], ref.nu)


def test_the_disk_part_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVH_TABLE_CACHE", "0")
    cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", **SMALL["SpxTable"])
    assert files(tmp_path) == []


def test_a_build_is_announced_and_a_read_is_not(tmp_path):
    """``on_build`` (the run's progress note) is called once per table actually built: not for the
    process memo, not for the file a later process reads."""
    said = []
    kw = SMALL["SpxTable"]
    cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", on_build=said.append, **kw)
    cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", on_build=said.append, **kw)
    cache._MEMO.clear()
    cache.cached_table(SpxTable, M, backend="numpy", dtype="float64", on_build=said.append, **kw)
    assert len(said) == 1 and "building the SpxTable of Heston" in said[0] and str(tmp_path / "tables") in said[0]

"""CuPy (real CUDA) against NumPy (CPU) for what the other ``gpu`` tests leave out: the fused SPX / VIX
leg kernels and the full book.  Skipped without a working CUDA device (``pytest -m gpu`` runs them;
``bench/gpu_check.sh`` on a lent machine).

Same source on both targets (:mod:`gpu_alvh.kernels.build`), so the results differ only by rounding:
fused multiply-adds and the libdevice math functions (a few ulps, :data:`tests.rounding.ULPS`).

* legs: every leg's price + greeks sum agrees to ``1e-9`` relative (the kernels' condition numbers are far
  below ``1e-9 / 2^-53``, so any gap above that is a different program, not rounding);
* full book (a Volmageddon fortnight: shocks, ladder, overlay): a path's discrete outcomes (entries,
  exits, counts) can only differ where a comparison sits within rounding of its threshold; every path
  whose integer outputs agree has its float outputs within ``1e-9`` relative, and at least 95% of the
  paths agree (the share :func:`tests.test_kernel_market.test_cuda_equals_cpu_within_rounding` asks
  of the market paths); the histograms count the same paths x days.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

RTOL = 1e-9
N_SLICES, N_PATHS = 512, 256


@pytest.mark.parametrize("name", ["spx", "vix"])
def test_fused_legs_cuda_equal_cpu(gpu_backend, name):
    from gpu_alvh.backend import get_backend
    from gpu_alvh.benchmarks.common import HESTON_BOOK, Suite
    from gpu_alvh.benchmarks.pricing import condor_legs, leg_kernel, tables_for
    from gpu_alvh.kernels.spx import spx_kernel_data
    from gpu_alvh.kernels.vix import vix_kernel_data

    out = []
    for b in (get_backend("numpy"), gpu_backend):
        compiled, spx, vix, *_ = tables_for(Suite(None, log=None), b, HESTON_BOOK)
        h = condor_legs(N_SLICES, float(compiled.spot), seed=3)
        d = {k: b.xp.asarray(v) for k, v in h.items()}
        res = b.xp.zeros(N_SLICES)
        if name == "spx":
            k = spx_kernel_data(spx)
            leg_kernel("spx", b.kernel_target)(k.rec, k.nu, d["S"], d["V"], d["T"], d["K"], res)
        else:
            k = vix_kernel_data(vix)
            leg_kernel("vix", b.kernel_target)(k.rec, k.data, d["S"], d["V"], d["T"], d["Kv"], res)
        b.synchronize()
        out.append(res.get() if hasattr(res, "get") else np.asarray(res))
    cpu, gpu = out
    assert np.isfinite(cpu).all() and np.abs(cpu).max() > 0
    np.testing.assert_allclose(gpu, cpu, rtol=RTOL, atol=RTOL * np.abs(cpu).max())


def test_full_book_cuda_equals_cpu(gpu_backend):
    from gpu_alvh.results import _combine
    from gpu_alvh.runner import run_scenario
    from gpu_alvh.spec import load_scenario

    n = N_PATHS
    spec = load_scenario("volmageddon", overrides={"horizon": 12})
    cpu = run_scenario(spec, n_paths=n, seed=11, backend="numpy")
    gpu = run_scenario(spec, n_paths=n, seed=11, backend=gpu_backend)
    pc, sc, _ = _combine(cpu["parts"])
    pg, sg, _ = _combine(gpu["parts"])
    assert set(pc) == set(pg)
    same = np.ones(n, bool)
    for k, a in pc.items():
        if a.dtype.kind in "iub":
            same &= (np.asarray(pg[k]) == a).reshape(-1, n).all(axis=0)
    assert same.mean() >= 0.95, f"{(~same).sum()} of {n} paths took another branch"
    assert pc["n_entries"].sum() > 0  # the ladder traded
    for k, a in pc.items():
        if a.dtype.kind == "f":
            g = np.asarray(pg[k])[..., same]
            c = a[..., same]
            scale = np.nanmax(np.abs(c)) if np.isfinite(c).any() else 1.0
            np.testing.assert_allclose(g, c, rtol=RTOL, atol=RTOL * max(scale, 1.0), err_msg=k)
    for k in ("nav_hist", "spx_hist", "vix_hist"):
        assert np.asarray(sg[k]).sum() == np.asarray(sc[k]).sum(), k

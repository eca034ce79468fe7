"""The fused book on its three targets: CPU (Numba), the CUDA compilation in Numba's simulator, PTX.

* the CUDA kernels (run as Python threads by the simulator) give the CPU kernels' results - per-path
  outputs, band histograms and greek sums;
* a batch split after an out-of-memory error gives the unsplit results;
* a CPU thread running every strategy row of its path (the rows share the market step and the marks of
  the sides they hold in common) gives, bit for bit, the results of a thread per row;
* the CUDA entry compiles to PTX for sm_90 (when the CUDA toolchain is installed).
"""

from __future__ import annotations

import numpy as np
import pytest

from gpu_alvh.runner import run_scenario
from gpu_alvh.spec.baselines import BASELINES
from gpu_alvh.spec import load_scenario


def _spec():
    return load_scenario("vol_expansion", overrides={"horizon": 30})


def _same(a, b, rtol=1e-12, atol=1e-8):
    pa, pb = a["parts"], b["parts"]
    from gpu_alvh.results import _combine

    ca, sa, _ = _combine(pa)
    cb, sb, _ = _combine(pb)
    for k in ca:
        np.testing.assert_allclose(cb[k], ca[k], rtol=rtol, atol=atol, err_msg=k)
    for k in ("nav_hist", "spx_hist", "vix_hist"):
        np.testing.assert_array_equal(sb[k], sa[k], err_msg=k)
    np.testing.assert_allclose(sb["greek_sums"], sa["greek_sums"], rtol=rtol, atol=1e-6)


def test_cuda_kernels_in_the_simulator_equal_the_cpu_kernels():
    spec = load_scenario("volmageddon", overrides={"horizon": 12})
    cpu = run_scenario(spec, n_paths=5, seed=11, backend="numpy")
    sim = run_scenario(spec, n_paths=5, seed=11, backend="cudasim")
    _same(cpu, sim)
    assert cpu["parts"][0]["per_path"]["n_entries"].sum() > 0


def test_out_of_memory_splits_the_batch_and_gives_the_same_results(monkeypatch):
    from gpu_alvh.strategy import launch

    spec = _spec()
    whole = run_scenario(spec, n_paths=12, seed=4, backend="numpy", batch_size=12)
    orig = launch.run_batch
    seen = []

    def tight(inp, start, count, seed, **kw):
        seen.append(count)
        if count > 4:
            raise MemoryError("batch too large for the test's pretend device")
        return orig(inp, start, count, seed, **kw)

    monkeypatch.setattr(launch, "run_batch", tight)
    split = run_scenario(spec, n_paths=12, seed=4, backend="numpy", batch_size=12)
    assert seen == [12, 6, 3, 3, 6, 3, 3] and [p["count"] for p in split["parts"]] == [3, 3, 3, 3]  # halved until it fits
    _same(whole, split, rtol=0, atol=0)


@pytest.mark.parametrize("name, horizon", [("volmageddon", 60), ("vol_expansion", 45)])
def test_rows_sharing_a_thread_give_the_results_of_a_thread_per_row(monkeypatch, name, horizon):
    """Rows of one thread copy each other's marks, one-day prices and probe prices where they hold the same
    side (:func:`gpu_alvh.strategy.ladder.twin`): the results must be those of rows run alone - per-path
    outputs, histograms and greek sums, exactly - on scenarios with stops, cascade rolls and hedges."""
    from gpu_alvh.strategy import launch

    spec = load_scenario(name, overrides={"horizon": horizon})
    grouped = run_scenario(spec, n_paths=24, seed=3, backend="numpy", batch_size=24)
    orig = launch.run_batch
    seen = []

    def alone(inp, start, count, seed, **kw):
        seen.append(inp.S)
        return orig(inp, start, count, seed, rows_per_thread=1, **kw)

    monkeypatch.setattr(launch, "run_batch", alone)
    single = run_scenario(spec, n_paths=24, seed=3, backend="numpy", batch_size=24)
    assert seen == [1 + len(BASELINES)]
    _same(grouped, single, rtol=0, atol=0)
    pp = grouped["parts"][0]["per_path"]
    assert pp["n_rolls"].sum() > 0 and pp["hedge_premium"][0].sum() > 0 and pp["n_entries"].sum() > 0


def test_book_kernel_compiles_for_cuda(monkeypatch, ptx_sm90):
    """The CUDA entry of the book compiles to PTX for sm_90 (the device functions ask a device for its
    compute capability, which a fake device answers)."""
    import numba

    from gpu_alvh.backend import get_backend
    from gpu_alvh.kernels import build
    from gpu_alvh.strategy import launch

    captured = {}

    def capture(name, target, n, *args):
        captured["args"] = args

    monkeypatch.setattr(build, "launch", capture)
    monkeypatch.setattr(launch, "per_path_outputs", lambda *a, **k: {"bad_day": np.full((1, 1), -1.0)})
    try:
        run_scenario(_spec(), n_paths=2, seed=1, backend=get_backend("numpy"), batch_size=2)
    except Exception:  # noqa: BLE001 - only the launch arguments are wanted
        pass
    sig = tuple(numba.typeof(a) for a in captured["args"])
    ptx, _ = ptx_sm90.compile_ptx(build.cuda_entry("book"), sig, cc=(9, 0))
    assert ".entry" in ptx and "book_cuda" in ptx


@pytest.mark.parametrize("horizon, steps", [(252, 1), (21, 13)])
def test_cpu_batches_are_small_enough_for_a_prompt_interrupt(monkeypatch, horizon, steps):
    """Ctrl-C is answered between batches (Numba does not look at signals): on the CPU a batch is at most
    ~75,000 row-path-steps (about 0.4 s on base, 1.4 s on base_2f, on 2 cores), so the
    wait is bounded whatever the path count; the progress bar moves once per batch."""
    import importlib

    runner = importlib.import_module("gpu_alvh.runner")

    seen = {}

    class Stop(Exception):
        pass

    def capture(task, n_paths, **kw):
        seen.update(kw, n_paths=n_paths)
        raise Stop

    monkeypatch.setattr(runner, "run_batches", capture)
    spec = load_scenario("base", overrides={"horizon": horizon, "steps_per_day": steps})
    with pytest.raises(Stop):
        run_scenario(spec, n_paths=50_000, seed=0, backend="numpy")
    b = seen["batch_size"]
    rows = 1 + len(BASELINES)
    assert 64 <= b and b * horizon * steps * rows <= runner.CPU_BATCH_WORK + 64 * horizon * steps * rows
    # at most ~11 us of CPU per row-path-day on base (before rows shared a thread), ~2.6x on base_2f: under 2 s a batch on 2 cores
    assert runner.CPU_BATCH_WORK <= 100_000
    assert seen["work_per_path"] == horizon  # progress in path-days


_WINGS = {"wing_delta": 0.05, "wing_width": None}


@pytest.mark.parametrize("first, change", [({}, {"short_delta": 0.10}), ({}, {"wing_width": 25.0}), (_WINGS, {"wing_delta": 0.03}),
                                           ({}, {"layers": (7, 21, 30, 90)})])
def test_rows_that_enter_differently_share_no_entry(monkeypatch, first, change):
    """Rows of one thread reuse each other's entry candidates only where the entry parameters agree
    (``ENTRY_FIELDS``): variants of the strategy that differ in one of them, run as rows of one thread,
    must give the results of a thread per row, exactly."""
    from gpu_alvh.runner import _cell_rows
    from gpu_alvh.strategy import launch

    spec = load_scenario("vol_expansion", overrides={"horizon": 30})
    base = spec.strategy_spec().model_copy(update={"baselines": (), **first})
    rows, _ = _cell_rows([base, base.model_copy(update=change)])
    assert len(rows) == 2
    grouped = run_scenario(spec, rows=rows, n_paths=12, seed=5, backend="numpy", batch_size=12)
    orig = launch.run_batch
    monkeypatch.setattr(launch, "run_batch", lambda inp, start, count, seed, **kw: orig(inp, start, count, seed, rows_per_thread=1, **kw))
    single = run_scenario(spec, rows=rows, n_paths=12, seed=5, backend="numpy", batch_size=12)
    _same(grouped, single, rtol=0, atol=0)
    pp = grouped["parts"][0]["per_path"]
    assert not np.array_equal(pp["final_nav"][0], pp["final_nav"][1])  # the variants trade differently

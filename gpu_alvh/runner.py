"""``gpu_alvh.runner``: the ALVH book and its baselines over joint SPX/VIX paths (``gpu_alvh.run`` is its function :func:`run`).

Pipeline per scenario: spec -> compiled scenario -> strategy rows (ALVH +
baselines on the same paths) -> compiled book -> pricing tables (built once) ->
batches of paths through the fused per-path program (:mod:`gpu_alvh.strategy.engine`) ->
per-path metrics, daily bands, summaries and claims -> one ``xarray.Dataset``
(SPEC section 8).  Several scenarios are stacked along ``scenario``.
"""

from __future__ import annotations

import sys
import time as _time
from typing import Any

import numpy as np
import xarray as xr

from .backend import get_backend
from .batching import run_batches
from .compile import compile_scenario
from .spec import load_scenario, load_strategy
from .strategy.book import baseline_rows, compile_book
from .strategy.params import FUT_SLOPE_TENORS

__all__ = ["run", "run_scenario", "run_cells", "build_tables", "trace", "DEFAULT_SCENARIO"]

#: What ``alvh run`` and :func:`run` run without a scenario: the two-factor market fitted to 1990-2026
#: (docs/scenarios.md "Two variance factors": it matches the history where one-factor ``base`` cannot).
DEFAULT_SCENARIO = "base_2f"


def build_tables(compiled, book, backend, progress: bool = False, on_build=None):
    """SPX implied-vol tables and VIX tables for a compiled scenario and its book: ``(spx, vix)``, two
    tuples with one table per pricing regime (``compiled.pricing_models``; one for a scenario whose
    windows are all ``surprise`` or that has none).

    Tables depend only on the pricing model, rates and the expiry range: built once on the host in
    float64 and kept on disk (:mod:`gpu_alvh.pricing.cache`), then cast to the run's dtype and moved
    to its backend, cached per process (sweep cells and repeated runs of one scenario share them).
    ``progress``: say on stderr when a table is built rather than read; ``on_build``: called with that
    message instead (the benchmarks tell a build from a read so).
    """
    max_spx = float(max(book.slot_dte)) + 10.0
    max_vix = 365.0 * FUT_SLOPE_TENORS[1] + 1.0  # the futures slope of claim C7 reads F(3 months)
    for r in book.rows:
        h = r.spec.hedge
        if h.enabled:
            max_vix = max(max_vix, h.tenor_contango[1], h.tenor_backwardation[1], *[lay.tenor[1] for lay in h.layers if lay.tenor != "auto"])
    # round the ranges up so that small changes of the book share a table
    max_spx = float(np.ceil(max_spx / 30.0) * 30.0)
    max_vix = float(np.ceil((max_vix + 45.0) / 30.0) * 30.0)
    spx, vix = [], []
    for model in compiled.pricing_models:
        key = (type(model).__name__, tuple(sorted(model.to_dict().items())), compiled.rate, compiled.dividend_yield,
               compiled.dtype.name, max_spx, max_vix, backend.name, backend.device)
        s, v = _cached_tables(key, model, backend, on_build or (_say if progress else None))
        spx.append(s)
        vix.append(v)
    return tuple(spx), tuple(vix)


_TABLE_CACHE: "dict[tuple, tuple]" = {}
_TABLE_CACHE_SIZE = 8


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cached_tables(key, model, backend, on_build=None):
    from .pricing.cache import cached_table
    from .pricing.tables import SpxTable
    from .pricing.vix import VixTable

    if key in _TABLE_CACHE:
        return _TABLE_CACHE[key]
    _, _, rate, q, dtype, max_spx, max_vix, _, _ = key
    spx = cached_table(SpxTable, model, backend=backend, dtype=dtype, rate=rate, dividend_yield=q, max_days=max_spx, on_build=on_build)
    vix = cached_table(VixTable, model, backend=backend, dtype=dtype, rate=rate, max_days=max_vix, on_build=on_build)
    while len(_TABLE_CACHE) >= _TABLE_CACHE_SIZE:
        _TABLE_CACHE.pop(next(iter(_TABLE_CACHE)))
    _TABLE_CACHE[key] = (spx, vix)
    return spx, vix


def run_scenario(scenario, *, n_paths: int | None = None, seed: int | None = None, backend="auto", dtype="float64",
                 save_paths: bool = False, strategy=None, batch_size: int | None = None, max_memory: int | None = None,
                 progress: bool = False, rows=None, tables=None, compiled=None) -> dict[str, Any]:
    """Run one scenario; returns host arrays (per path, sums) and metadata (no Dataset yet).

    The book runs as the fused per-path program on the backend's kernel target (CPU, CUDA or the CUDA
    simulator); step-by-step traces: :func:`trace`.
    """
    b = get_backend(backend)
    spec = load_scenario(scenario)
    strat = load_strategy(strategy) if strategy is not None else spec.strategy_spec()
    compiled = compiled if compiled is not None else compile_scenario(spec, dtype=dtype)
    rows = rows if rows is not None else baseline_rows(strat)
    book = compile_book(rows, compiled)
    n_paths = int(spec.paths if n_paths is None else n_paths)
    seed = int(spec.seed if seed is None else seed)
    if n_paths < 1:
        raise ValueError(f"n_paths must be >= 1, got {n_paths}")
    t0 = _time.perf_counter()
    spx, vix = tables if tables is not None else build_tables(compiled, book, b, progress=progress)
    t_tables = _time.perf_counter() - t0
    t1 = _time.perf_counter()
    parts = _run_fused(book, compiled, spx, vix, b, n_paths, seed, save_paths=save_paths, batch_size=batch_size,
                       max_memory=max_memory, progress=progress, desc=f"run {spec.name}")
    elapsed = _time.perf_counter() - t1
    return {
        "spec": spec,
        "strategy": strat,
        "compiled": compiled,
        "book": book,
        "parts": parts,
        "n_paths": n_paths,
        "seed": seed,
        "backend": b,
        "elapsed": elapsed,
        "table_seconds": t_tables,
    }


#: row-path-steps per CPU batch (see :func:`_run_fused`)
CPU_BATCH_WORK = 75_000


def _bytes_per_path(book, n_days: int = 0, save_paths: bool = False) -> int:
    """Host bytes per path of the fused engine: ~64 float64 per-path outputs per strategy row, plus
    3 saved float64 series of ``n_days + 1`` day closes per row with ``save_paths`` (the per-path state
    lives in registers / local memory and the daily bands are summed on the device)."""
    return int(book.n_strategies * 8 * 64 + (3 * (n_days + 1) * 8 * book.n_strategies if save_paths else 0))


def _run_fused(book, compiled, spx, vix, b, n_paths, seed, *, save_paths, batch_size, max_memory, progress, desc):
    """Batches of the fused engine: on the CPU ~75,000 row-path-steps (strategy rows x paths x steps; ~0.4 s
    on 2 cores at ~11 us of CPU per row and path-day of base's 5 rows, ~1.4 s on base_2f, measured before a
    thread ran all its path's rows, which made base 1.6x faster: Ctrl-C is answered between batches, and the
    progress bar moves per batch; batches twice as large measured 6% faster), on a GPU as many paths as fit."""
    from .errors import NonFiniteError
    from .kernels import build
    from .strategy.launch import band_outputs, band_sums, prepare, run_batch
    from .strategy.params import build_params

    if progress and not build.on_disk("book", b.kernel_target):
        took = "about 3 minutes: Numba to PTX, then ptxas" if b.kernel_target == "cuda" else "a minute or two"
        _say(f"compiling the fused book for {b.kernel_target} (the first run of this code: {took}; kept on disk in {build.cache_dir()})")

    inp = prepare(book, build_params(book, compiled), compiled, spx, vix, b)
    n_days = max(compiled.horizon, 1)
    per_path = _bytes_per_path(book, n_days, save_paths)
    if batch_size is None and not b.is_gpu:
        batch_size = int(min(max(CPU_BATCH_WORK // (n_days * compiled.steps_per_day * book.n_strategies), 64), 8192))
        if b.kernel_target == "cudasim":
            batch_size = 32

    bands = band_outputs(inp)  # every batch adds its daily bands here; reduced once, below

    def task(start: int, count: int):
        out = run_batch(inp, start, count, seed, save_paths=save_paths, bands=bands)
        bad = out.pop("bad_day")
        if (bad >= 0).any():
            s, p = np.argwhere(bad >= 0)[np.argmin(bad[bad >= 0])]
            day = int(bad[s, p])
            step = int(np.searchsorted(compiled.day, day))
            raise NonFiniteError(compiled.name, f"NAV of strategy {book.labels[s]}", start + int(p), step, str(compiled.times[step])[:19])
        return out

    parts = run_batches(task, n_paths, backend=b.with_workers(1), bytes_per_path=per_path, batch_size=batch_size, max_memory=max_memory,
                        progress=progress, desc=desc, work_per_path=n_days)
    parts[0]["sums"] = band_sums(inp, bands)  # the run's; the other parts carry None
    return parts


def run(scenarios=None, *, n_paths: int | None = None, seed: int | None = None, backend="auto", dtype="float64",
        save_paths: bool = False, strategy=None, batch_size: int | None = None, max_memory: int | None = None,
        progress: bool = False) -> xr.Dataset:
    """Run the ALVH book and its baselines on one or several scenarios.

    Parameters
    ----------
    scenarios
        A scenario (spec, YAML path, dict or library name) or a list of them;
        default: the built-in ``base_2f`` scenario (:data:`DEFAULT_SCENARIO`).
    n_paths, seed
        Default to each scenario's ``paths`` / ``seed``.
    backend, dtype
        Array backend (``auto``/``numpy``/``cupy``) and float type.
    save_paths
        Also return daily NAV / SPX / VIX of every path (small runs only).
    strategy
        A strategy spec, mapping or YAML path replacing the scenarios' own.

    Returns
    -------
    xarray.Dataset
        SPEC section 8 schema: dims ``scenario, strategy, path, day, layer,
        quantile, claim``; every variable has ``units`` and ``long_name``.
    """
    from .results import run_dataset

    if scenarios is None:
        scenarios = [DEFAULT_SCENARIO]
    elif not isinstance(scenarios, (list, tuple)):
        scenarios = [scenarios]  # one spec, mapping, path or library name
    outs = [run_scenario(s, n_paths=n_paths, seed=seed, backend=backend, dtype=dtype, save_paths=save_paths, strategy=strategy,
                         batch_size=batch_size, max_memory=max_memory, progress=progress) for s in scenarios]
    names = [o["spec"].name for o in outs]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique in one run: {names}")
    return run_dataset(outs)



def trace(scenario, paths, *, n_paths: int | None = None, seed: int | None = None, backend="numpy", dtype="float64", strategy=None,
          audit: bool = True, overrides: dict | None = None) -> dict[str, Any]:
    """Step-by-step state of selected paths (debugging; the numbers behind a path's P&L).

    The fused per-path program runs as plain Python on the chosen paths (the same code the kernels
    compile) and records its state twice per step (:mod:`gpu_alvh.strategy.tracing`).  Returns
    ``{"labels", "layers", "slot_strategy", "slot_dte", "hedge_names", "hedge_strategy", "paths",
    "records", "audit", "result"}``: ``records`` is a list (per step and stage) of host arrays over
    ``[slot, traced path]`` / ``[hedge slot, traced path]`` / ``[strategy, traced path]``; ``audit`` the
    worst bookkeeping deviations (NAV balance $, vertical mark outside ``[0, width]``, budget excess $);
    ``result["parts"][0]`` the traced paths' outputs.  Paths are keyed by their global index, so a traced
    path is the same path a full run has (``n_paths`` is accepted for compatibility and ignored).
    """
    from .results import _combine
    from .strategy.launch import prepare, trace_paths
    from .strategy.params import build_params

    del n_paths, audit  # every trace is audited; paths do not depend on the batch
    paths = sorted(int(p) for p in paths)
    spec = load_scenario(scenario, overrides=overrides) if overrides else load_scenario(scenario)
    strat = load_strategy(strategy) if strategy is not None else spec.strategy_spec()
    compiled = compile_scenario(spec, dtype=dtype)
    b = get_backend(backend)
    book = compile_book(baseline_rows(strat), compiled)
    spx, vix = build_tables(compiled, book, b)
    seed = int(spec.seed if seed is None else seed)
    out = trace_paths(prepare(book, build_params(book, compiled), compiled, spx, vix, b), paths, seed)
    pp, sums, _ = _combine(out["parts"])
    part = {"per_path": pp, "sums": sums, "paths": None, "start": paths[0], "count": len(paths), "years": out["parts"][0]["years"]}
    return {
        "labels": book.labels,
        "layers": book.layer_dtes,
        "slot_strategy": book.slot_strategy,
        "slot_dte": book.slot_dte,
        "hedge_names": book.hedge_names,
        "hedge_strategy": book.hedge_strategy,
        "paths": paths,
        "records": out["records"],
        "audit": out["audit"],
        "result": {"parts": [part], "book": book, "compiled": compiled, "spec": spec},
    }


def _cell_rows(strategies) -> tuple[list, list[list[int]]]:
    """Unique strategy rows for several ALVH variants and, per variant, its row indices.

    Rows are ordered with every hedged row first (the engine keeps hedged slots
    contiguous); identical rows (same spec) are run once - exact, since every
    row sees the same paths.
    """
    from .spec import spec_hash
    from .strategy.book import StrategyRow

    per_cell = [baseline_rows(s) for s in strategies]
    unique: dict[tuple[bool, str, str], int] = {}
    order: list[tuple[bool, str, str, object]] = []
    for rows in per_cell:
        for r in rows:
            key = (not r.spec.hedge.enabled, r.label, spec_hash(r.spec))
            if key not in unique:
                unique[key] = len(order)
                order.append((*key, r.spec))
    ranked = sorted(range(len(order)), key=lambda i: (order[i][0], i))
    position = {i: j for j, i in enumerate(ranked)}
    rows_out = [StrategyRow(f"{order[i][1]}#{j}", order[i][3]) for j, i in enumerate(ranked)]
    maps = []
    for rows in per_cell:
        maps.append([position[unique[(not r.spec.hedge.enabled, r.label, spec_hash(r.spec))]] for r in rows])
    return rows_out, maps


def run_cells(scenario, strategies, *, n_paths: int | None = None, seed: int | None = None, backend="auto", dtype="float64",
              batch_size: int | None = None, max_memory: int | None = None, progress: bool = False, save_paths: bool = False):
    """Run several strategy variants of one scenario in one pass over the same paths.

    Parameters
    ----------
    scenario
        Anything :func:`~gpu_alvh.spec.load_scenario` accepts.
    strategies
        List of :class:`~gpu_alvh.spec.StrategySpec` (or mappings / paths); each
        is run with its own baselines.

    Returns
    -------
    list of xarray.Dataset
        One per strategy, each exactly what :func:`run` gives for that scenario
        and strategy alone (without the ``scenario`` dimension), but computed in
        one engine pass: identical rows are shared, every row sees the same paths.
    """
    from .results import cell_dataset

    b = get_backend(backend)
    spec = load_scenario(scenario)
    strategies = [load_strategy(s) for s in strategies]
    rows, maps = _cell_rows(strategies)
    out = run_scenario(spec, n_paths=n_paths, seed=seed, backend=b, dtype=dtype, batch_size=batch_size, max_memory=max_memory,
                       progress=progress, rows=rows, save_paths=save_paths)
    return [cell_dataset(out, idx, strat) for idx, strat in zip(maps, strategies)]

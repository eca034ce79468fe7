"""The unit of work of a sweep: one engine pass, run where it is scheduled, writing its own cells.

:func:`run_pass` is what every driver executes - in-process, as a Dask task on
a (CUDA) worker, or inside an array-job shard.  It takes a plain-JSON task
(scenario and strategy specs as dicts: nothing pickled but builtins), runs the
variants of the pass together with :func:`gpu_alvh.runner.run_cells` (one engine
run on shared paths), and for each cell that is not done yet writes its region
and then its status (see :mod:`gpu_alvh.sweeps.store`).  It returns a small
summary dict.

Batch size is a deterministic function of the sweep file, the backend and
``--max-memory`` (:func:`pass_batch_size`), never of free device memory, so
the float sums behind the mean greeks have the same layout in every run and
an interrupted sweep ends with the same bytes as an uninterrupted one.  On
CuPy an out-of-memory error still splits the batch and retries
(:mod:`gpu_alvh.batching`); only then can the last bits of the mean greeks
differ from an unsplit run.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from types import SimpleNamespace
from typing import Any


from ..errors import AlvhError
from .plan import STATUS

__all__ = ["run_pass", "probe_schema", "probe_task", "pass_batch_size", "pass_bytes_per_path", "DEFAULT_CPU_BATCH", "DEFAULT_GPU_BATCH_BYTES"]

#: paths per batch on the CPU when the sweep file gives no batch_size
DEFAULT_CPU_BATCH = 4096
#: bytes of engine state per batch on a GPU when neither batch_size nor --max-memory is given
DEFAULT_GPU_BATCH_BYTES = 12 << 30
PROBE_PATHS = 2

_LAYOUTS: dict[tuple[str, str], Any] = {}


def pass_bytes_per_path(strategies) -> int:
    """Host bytes per path of a pass (``gpu_alvh.runner._bytes_per_path`` of its book, without compiling it)."""
    from ..runner import _bytes_per_path, _cell_rows

    rows, _ = _cell_rows(strategies)
    return _bytes_per_path(SimpleNamespace(n_strategies=len(rows)))


def pass_batch_size(n_paths: int, bytes_per_path: int, *, is_gpu: bool, batch_size: int | None = None, max_memory: int | None = None) -> int:
    """Paths per batch of a pass: a pure function of the sweep file, the backend kind and ``max_memory``.

    * ``batch_size`` from the sweep file when given;
    * otherwise 4096 on the CPU, and on a GPU as many paths as fit in
      ``max_memory`` (default 12 GiB) of engine state, rounded down to a
      multiple of 1024;
    * ``max_memory`` (bytes per batch) caps the result in every case.
    """
    bpp = max(int(bytes_per_path), 1)
    if batch_size:
        size = int(batch_size)
    elif is_gpu:
        size = int(max_memory or DEFAULT_GPU_BATCH_BYTES) // bpp
        if size > 1024:
            size -= size % 1024
    else:
        size = DEFAULT_CPU_BATCH
    if max_memory:
        size = min(size, int(max_memory) // bpp)
    return int(max(1, min(size, n_paths)))


def _backend(name: str, cpu_threads: int | None):
    from ..backend import get_backend

    b = get_backend(name)
    if cpu_threads and not b.is_gpu:
        b = b.with_workers(int(cpu_threads))
    return b


def probe_schema(scenario: dict, strategy: dict, *, seed: int, dtype: str, backend: str = "auto", cpu_threads: int | None = None) -> dict:
    """Schema of a cell's results from a 2-path run of ``scenario`` (same process: its pricing tables stay cached).

    Returns :func:`~gpu_alvh.sweeps.store.schema_from_dataset` plus the backend
    that ran it (``{"backend": {name, device, versions}}``).  Falls back to a
    small built-in Heston scenario if the probe fails (e.g. a non-finite value).
    """
    from ..runner import run_cells
    from .store import schema_from_dataset

    b = _backend(backend, cpu_threads)
    try:
        ds = run_cells(scenario, [strategy], n_paths=PROBE_PATHS, seed=seed, backend=b, dtype=dtype, batch_size=PROBE_PATHS)[0]
    except AlvhError:
        fallback = {"name": "sweep_probe", "model": "heston", "spot": 100.0, "vix": 20.0, "start": "2026-07-31", "horizon": 2,
                    "params": {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7}}
        ds = run_cells(fallback, [strategy], n_paths=PROBE_PATHS, seed=seed, backend=b, dtype=dtype, batch_size=PROBE_PATHS)[0]
    schema = schema_from_dataset(ds)
    schema["backend"] = {"name": b.name, "device": b.device, "versions": dict(b.versions)}
    return schema


def probe_task(scenario: dict, strategy: dict, **kw) -> dict:
    """:func:`probe_schema` for a Dask task: errors come back as ``{"error": "Type: message"}`` (picklable)."""
    try:
        return probe_schema(scenario, strategy, **kw)
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}


def _layout(out: str, sweep_hash: str):
    from .store import StoreLayout, check_store_hash

    key = (os.path.abspath(out), sweep_hash)
    if key not in _LAYOUTS:
        check_store_hash(out, sweep_hash)
        _LAYOUTS[key] = StoreLayout(out)
    return _LAYOUTS[key]


def run_pass(task: dict) -> dict:
    """Run one pass and write its cells that are not done yet.

    ``task`` (plain JSON): ``out``, ``hash``, ``pass``, ``scenario`` (spec
    dict), ``cells`` (list of ``{"index", "pos", "strategy"}``), ``n_paths``,
    ``seed``, ``dtype``, ``batch_size``, ``max_memory``, ``backend``,
    ``cpu_threads``.  Returns ``{"pass", "done", "failed", "skipped",
    "seconds", "backend", "device", "batch_size", "pid", "host"}``.
    """
    from ..runner import run_cells
    from ..spec import load_scenario, load_strategy
    from .store import clear_failure, read_status, record_event, record_failure, write_cell, write_status

    from ..errors import SpecError

    t0 = time.perf_counter()
    out = task["out"]
    try:
        layout = _layout(out, task["hash"])
    except SpecError as exc:  # returned, not raised: SpecError does not survive pickling through Dask
        return {"pass": task["pass"], "refused": exc.issues[0].allowed, "done": [], "failed": {}, "skipped": []}
    status = read_status(out)
    cells = task["cells"]
    todo = [c for c in cells if int(status[tuple(c["pos"])]) != STATUS["done"]]
    summary: dict[str, Any] = {"pass": task["pass"], "done": [], "failed": {}, "skipped": [c["index"] for c in cells if c not in todo],
                               "pid": os.getpid(), "host": socket.gethostname()}
    if not todo:
        summary["seconds"] = time.perf_counter() - t0
        return summary
    b = _backend(task["backend"], task.get("cpu_threads"))
    scenario = load_scenario(task["scenario"])
    strategies = [load_strategy(c["strategy"]) for c in cells]  # the whole pass: same composition on every run
    bs = pass_batch_size(int(task["n_paths"]), pass_bytes_per_path(strategies), is_gpu=b.is_gpu,
                         batch_size=task.get("batch_size"), max_memory=task.get("max_memory"))
    summary.update(backend=b.name, device=b.device, batch_size=bs)
    kw = dict(n_paths=int(task["n_paths"]), seed=int(task["seed"]), backend=b, dtype=task["dtype"], batch_size=bs)

    results: dict[int, Any] = {}
    try:
        dss = run_cells(scenario, strategies, **kw)
        results = {c["index"]: ds for c, ds in zip(cells, dss)}
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a failing engine run marks cells failed, it does not stop the sweep
        if len(cells) == 1:
            results = {cells[0]["index"]: exc}
        else:  # isolate the variant(s) that fail: each pending one on its own
            for c, s in zip(cells, strategies):
                if c in todo:
                    try:
                        results[c["index"]] = run_cells(scenario, [s], **kw)[0]
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except BaseException as exc2:  # noqa: BLE001
                        results[c["index"]] = exc2
    seconds = time.perf_counter() - t0
    for c in todo:
        pos = tuple(c["pos"])
        res = results[c["index"]]
        if isinstance(res, BaseException):
            info = {"pass": task["pass"], "pid": os.getpid(), "host": socket.gethostname(), "backend": b.name, **_failure_info_of(res)}
            record_failure(out, c["index"], info)
            write_status(layout, pos, STATUS["failed"])
            record_event(out, "failed", c["index"], error=info["error"], message=info["message"])
            summary["failed"][c["index"]] = f"{info['error']}: {info['message']}"
            continue
        write_cell(layout, pos, res)
        write_status(layout, pos, STATUS["done"])
        clear_failure(out, c["index"])
        record_event(out, "done", c["index"], **{"pass": task["pass"], "backend": b.name, "device": b.device, "batch_size": bs,
                                                 "pass_seconds": seconds, "cells_in_pass": len(cells)})
        summary["done"].append(c["index"])
    summary["seconds"] = time.perf_counter() - t0
    return summary


def _failure_info_of(exc: BaseException) -> dict:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
    return {"error": type(exc).__name__, "message": str(exc), "traceback": tb}

"""Sweep drivers: in-process, Dask (``LocalCluster`` / ``LocalCUDACluster`` / an existing scheduler), array-job shards.

All drivers do the same three things: resolve the sweep (validating every
cell), make sure the store holds this sweep's template
(:func:`~gpu_alvh.sweeps.store.ensure_template`), and run the passes that
still have cells to do with :func:`~gpu_alvh.sweeps.worker.run_pass`, where
they are scheduled.  There is no scheduler of our own:

* ``workers=0``: passes run one after another in this process;
* ``workers=N``: a ``distributed.LocalCluster`` of N single-threaded worker
  processes bound to 127.0.0.1 (or, with ``backend="cupy"``, several GPUs and
  ``dask-cuda`` installed, a ``LocalCUDACluster`` with one worker per GPU);
* ``scheduler="tcp://host:8786"``: the passes go to an existing Dask cluster
  (the workers need gpu_alvh and the store path on a shared file system);
* ``shard=(I, N)``: this process runs the passes with ``pass % N == I``; N
  independent processes (an array job) together run the sweep.

One Dask task = one pass (the strategy variants of one scenario point that
share paths): the paths are simulated once per pass and the variants are
batched together on the device, which a task per cell would give up.
Rerunning any driver skips done cells; passes with a missing or failed cell
are recomputed whole (so every cell is always computed in the same pass
composition) and only the cells not done are written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from ..errors import AlvhError, SpecError
from ..spec.base import Shown
from .plan import STATUS, SweepPass, SweepPlan, resolve_sweep
from .checks import check_memory, check_scheduler, check_sweep_out
from .lease import WriterLease, lock_stale_after
from .store import STALE_AFTER, build_template, ensure_template, read_status

__all__ = ["sweep", "parse_shard", "parse_size", "SweepFailedError", "SHARD_ENV", "pass_task"]

#: environment variables holding an array job's index, in the order they are tried by ``--shard auto/N``
SHARD_ENV = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "BATCH_TASK_INDEX")
_SHARD_ALLOWED = ("allowed: I/N with integers 0 <= I < N (e.g. 0/4), or auto/N to read I from "
                  + ", ".join(f"${v}" for v in SHARD_ENV))


class SweepFailedError(AlvhError):
    """Some cells of a sweep failed (the others are in the store; ``alvh sweep status`` lists them)."""

    def __init__(self, out: Path, failed: dict[int, str], describe: Callable[[int], str], n_total: int):
        self.out = Path(out)
        self.failed = dict(failed)
        first = next(iter(self.failed.items()))
        super().__init__(f"{len(self.failed)} of {n_total} cells failed (first: c{first[0]:06d} {describe(first[0])}: {first[1]}); "
                         f"the other cells are in {self.out}; see `alvh sweep status {self.out}`; rerunning retries the failed cells")


def parse_shard(shard: Any, environ: dict | None = None) -> tuple[int, int]:
    """``"I/N"``, ``"auto/N"`` or ``(I, N)`` -> ``(I, N)``; :class:`SpecError` (field ``--shard``) otherwise."""
    environ = os.environ if environ is None else environ
    if isinstance(shard, (tuple, list)) and len(shard) == 2:
        i, n = shard
    else:
        m = re.fullmatch(r"\s*(auto|\d+)\s*/\s*(\d+)\s*", str(shard))
        if not m:
            raise SpecError.single("--shard", "--shard", shard, _SHARD_ALLOWED)
        i, n = m.group(1), int(m.group(2))
        if i == "auto":
            var = next((v for v in SHARD_ENV if environ.get(v, "").strip() != ""), None)
            if var is None:
                raise SpecError.single("--shard", "--shard", shard, "auto needs one of " + ", ".join(f"${v}" for v in SHARD_ENV)
                                       + " to be set (Kubernetes Indexed Job, AWS Batch array, GCP Batch); none is set")
            text = environ[var].strip()
            if not text.isdigit():
                raise SpecError.single("--shard", f"${var}", text, "allowed: a non-negative integer index")
            i = int(text)
        else:
            i = int(i)
    try:
        i, n = int(i), int(n)
    except (TypeError, ValueError):
        raise SpecError.single("--shard", "--shard", shard, _SHARD_ALLOWED) from None
    if n < 1 or not 0 <= i < n:
        raise SpecError.single("--shard", "--shard", f"{i}/{n}", _SHARD_ALLOWED)
    return i, n


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(value: Any) -> int | None:
    """``None``, bytes, or ``"512MiB"`` / ``"8GB"`` / ``"2.5GiB"`` -> bytes; :class:`SpecError` otherwise."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise SpecError.single("--max-memory", "--max-memory", value, "allowed: a size such as 8GiB, 512MiB, 16GB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def pass_task(plan: SweepPlan, sp: SweepPass, out: Path, *, backend: str, max_memory: int | None, cpu_threads: int | None) -> dict:
    """Plain-JSON task of one pass (what a worker receives)."""
    return {
        "out": str(out),
        "hash": plan.hash,
        "pass": sp.index,
        "scenario": plan.pass_scenario(sp).to_dict(),
        "cells": [{"index": i, "pos": [int(x) for x in plan.cells[i].pos], "strategy": plan.cells[i].spec.strategy_spec().to_dict()}
                  for i in sp.cells],
        "n_paths": plan.n_paths,
        "seed": plan.seed,
        "dtype": plan.dtype,
        "batch_size": plan.spec.batch_size,
        "max_memory": max_memory,
        "backend": backend,
        "cpu_threads": cpu_threads,
    }


def _probe_args(plan: SweepPlan, passes: list[SweepPass]) -> tuple[dict, dict]:
    sp = passes[0] if passes else plan.passes[0]
    return plan.pass_scenario(sp).to_dict(), plan.cells[sp.cells[0]].spec.strategy_spec().to_dict()


def _attrs(plan: SweepPlan, schema: dict, mode: str) -> dict:
    from ..results import provenance
    from ..stores import KIND_ATTR

    be = schema.get("backend", {})
    fake = SimpleNamespace(name=be.get("name", "unknown"), device=be.get("device", "unknown"), versions=be.get("versions", {}))
    extra = {
        "title": "gpu_alvh sweep results",
        KIND_ATTR: "sweep",
        "sweep_name": plan.name,
        "sweep_hash": plan.hash,
        "sweep_json": plan.canonical_json(),
        "sweep_source": plan.source,
        "sweep_dims": json.dumps([{"dim": p.dim, "key": p.key, "level": p.level} for p in plan.params]),
        "sweep_mode": mode,
        "cell_status_note": "cell_status: -1 not part of the sweep, 0 missing, 1 done, 2 failed (messages in .sweep/failed/)",
    }
    return provenance(backend=fake, seed=plan.seed, n_paths=plan.n_paths, specs={s.name: s for s in plan.scenarios}, dtype=plan.dtype, extra=extra)


def _pending(plan: SweepPlan, out: Path, passes: list[SweepPass]) -> tuple[list[SweepPass], int]:
    status = read_status(out)
    todo, n_cells = [], 0
    for sp in passes:
        k = sum(1 for i in sp.cells if int(status[plan.cells[i].pos]) != STATUS["done"])
        if k:
            todo.append(sp)
            n_cells += k
    return todo, n_cells


class _Bar:
    def __init__(self, total: int, desc: str, enabled: bool):
        self.bar = None
        if enabled and total:
            import sys

            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="cell", file=sys.stderr)

    def update(self, summary: dict) -> None:
        if self.bar is not None:
            self.bar.update(len(summary.get("done", ())) + len(summary.get("failed", {})))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# The local workers' own log level.  CRITICAL, not ERROR: on Ctrl-C the whole process group gets SIGINT, and
# a worker whose scheduler has already gone logs its failed heartbeat as an ERROR with a traceback.  Nothing
# is hidden by it: a pass that raises, or a worker that dies, reaches the client as the future's exception.
_WORKER_LOGS = logging.CRITICAL


def _local_cluster(n: int, backend: str, log: Callable[[str], None]):
    """``LocalCUDACluster`` (one worker per GPU) for CuPy with several GPUs, else ``LocalCluster``; both on 127.0.0.1."""
    from distributed import LocalCluster

    if backend == "cupy":
        try:  # optional: not a dependency of gpu_alvh
            from dask_cuda import LocalCUDACluster
            from dask_cuda.utils import get_n_gpus
        except ImportError:
            LocalCUDACluster = None  # noqa: N806
        if LocalCUDACluster is not None:
            n_gpus = int(get_n_gpus())
            if n_gpus > 1:
                k = min(n, n_gpus)
                log(f"LocalCUDACluster: {k} workers on {n_gpus} GPUs")
                return LocalCUDACluster(n_workers=k, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                                        silence_logs=_WORKER_LOGS)
        else:
            log("dask-cuda is not installed: all local workers share the current GPU (pip install dask-cuda for one worker per GPU)")
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                        silence_logs=_WORKER_LOGS)


def sweep(sweep: Any, *, out: str | os.PathLike, workers: int = 0, scheduler: str | None = None, shard: Any = None,
          backend: str = "auto", dtype: str | None = None, max_memory: Any = None, progress: bool = False,
          cpu_threads: int | None = None, stale_after: float = STALE_AFTER, overwrite: bool = False, lock_timeout: float | None = None,
          scheduler_timeout: float | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Run a sweep into one Zarr store; resumable; returns the store path.

    Parameters
    ----------
    sweep
        A sweep YAML path, a mapping, a :class:`~gpu_alvh.spec.sweep.SweepSpec`
        or a resolved :class:`~gpu_alvh.sweeps.plan.SweepPlan`.
    out
        Store path (created; an existing store of the same sweep is resumed).
    workers
        0: run in this process; N > 0: a local Dask cluster of N worker processes.
    scheduler
        Address of an existing Dask scheduler (``tcp://10.0.0.5:8786``) instead.
    shard
        ``"I/N"``, ``"auto/N"`` or ``(I, N)``: run one shard of an array job.
    backend, dtype
        ``auto``/``numpy``/``cupy``; ``dtype`` overrides the sweep file's.
    max_memory
        Bytes (or ``"8GiB"``) of engine state per batch; caps the batch size.
    progress
        Progress bar over cells on stderr.
    cpu_threads
        NumPy threads per worker (default: all CPUs in-process and for shards,
        CPUs / N for a local cluster, the worker's default on a remote cluster).
    overwrite
        Replace a store of *another* sweep at ``out`` (the same sweep is always
        resumed; anything that is not a sweep store is never replaced).
    lock_timeout
        Seconds without a heartbeat after which another writer's lease no longer
        counts (default ``$ALVH_SWEEP_LOCK_STALE`` or 60; see :mod:`.lease`).
    scheduler_timeout
        Seconds to wait for ``scheduler`` to answer (default
        ``$ALVH_SCHEDULER_TIMEOUT`` or 5).

    Raises
    ------
    SpecError
        Bad sweep file or options; ``out`` is not a place for this sweep (a
        file, a folder that is not a sweep store, a store of another sweep
        without ``overwrite``); another live run is writing ``out``; the
        scheduler does not answer.
    SweepFailedError
        Some cells failed; the rest are written (rerun to retry).
    KeyboardInterrupt
        Interrupted: the cluster is shut down; rerunning resumes.
    """
    log = log or (lambda msg: None)
    if workers is None or not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise SpecError.single("argument", "--workers", workers, "allowed: an integer >= 0 (0 = run in this process)")
    modes = [workers > 0, scheduler is not None, shard is not None]
    if sum(bool(m) for m in modes) > 1:
        raise SpecError.single("argument", "--workers/--scheduler/--shard", Shown(f"--workers {workers} --scheduler {scheduler} --shard {shard}"),
                               "allowed: at most one of --workers N (N > 0), --scheduler ADDRESS and --shard I/N")
    mem = parse_size(max_memory)
    lease = {"stale_after": lock_stale_after(lock_timeout)}
    if scheduler is not None:
        scheduler_timeout = check_scheduler(scheduler, scheduler_timeout)
    shard_in = parse_shard(shard) if shard is not None else None
    plan = resolve_sweep(sweep, dtype=dtype)
    if scheduler is None:  # passes run on this machine: their results must fit in its memory
        check_memory(plan, backend, mem, max(int(workers or 0), 1))
    out, replace = check_sweep_out(plan, out, overwrite=bool(overwrite), stale_after=lease["stale_after"])
    if shard_in is not None:
        i, n = shard_in
        passes = [sp for sp in plan.passes if sp.index % n == i]
        return _run_local(plan, out, passes, backend=backend, mem=mem, progress=progress, cpu_threads=cpu_threads, stale_after=stale_after,
                          log=log, mode=f"shard {i}/{n}", replace=replace, lease=dict(lease, shard=(i, n)))
    if scheduler is None and not workers:
        return _run_local(plan, out, list(plan.passes), backend=backend, mem=mem, progress=progress, cpu_threads=cpu_threads,
                          stale_after=stale_after, log=log, mode="in-process", replace=replace, lease=lease)
    return _run_dask(plan, out, workers=int(workers or 0), scheduler=scheduler, backend=backend, mem=mem, progress=progress,
                     cpu_threads=cpu_threads, stale_after=stale_after, log=log, replace=replace, lease=lease,
                     scheduler_timeout=scheduler_timeout)


@contextmanager
def _sigint_ignored():
    """Ignore Ctrl-C for a moment (main thread only): processes started meanwhile inherit it and
    leave the interrupt to this one, and a second Ctrl-C cannot cut a shutdown short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _checked(summary: dict, out: Path) -> dict:
    """A worker that refused to write (store of another sweep) -> SpecError here (SpecError does not survive pickling)."""
    if "refused" in summary:
        raise SpecError.single(str(out), "<store>", Shown(str(out)), summary["refused"])
    return summary


def _finish(plan: SweepPlan, out: Path, failed: dict[int, str], n_total: int) -> Path:
    if failed:
        raise SweepFailedError(out, failed, plan.describe_cell, n_total)
    return out


def _run_local(plan: SweepPlan, out: Path, passes: list[SweepPass], *, backend: str, mem, progress: bool, cpu_threads, stale_after,
               log, mode: str, replace: bool = False, lease: dict | None = None) -> Path:
    from ..backend import get_backend
    from .worker import probe_schema, run_pass

    b = get_backend(backend)

    def make():
        scen, strat = _probe_args(plan, passes)
        schema = probe_schema(scen, strat, seed=plan.seed, dtype=plan.dtype, backend=b.name, cpu_threads=cpu_threads)
        return build_template(plan, schema, _attrs(plan, schema, mode))

    made = ensure_template(plan, out, make, stale_after=stale_after, on_wait=lambda o: log(f"waiting for the template (lock held by {o})"),
                           replace=replace)
    log(f"{'wrote' if made == 'created' else 'found'} the template of sweep {plan.name} ({plan.hash[:12]}) at {out}")
    failed: dict[int, str] = {}
    with WriterLease(out, mode=mode, **(lease or {})):
        todo, n_cells = _pending(plan, out, passes)
        log(f"{mode}: {len(todo)} of {len(passes)} passes to run ({n_cells} cells) on {b.name}")
        bar = _Bar(n_cells, f"sweep {plan.name}", progress)
        try:
            for sp in todo:
                summary = _checked(run_pass(pass_task(plan, sp, out, backend=b.name, max_memory=mem, cpu_threads=cpu_threads)), out)
                failed.update({int(k): v for k, v in summary["failed"].items()})
                bar.update(summary)
        finally:
            bar.close()
    return _finish(plan, out, failed, len(plan.cells))


def _run_dask(plan: SweepPlan, out: Path, *, workers: int, scheduler: str | None, backend: str, mem, progress: bool, cpu_threads,
              stale_after, log, replace: bool = False, lease: dict | None = None, scheduler_timeout: float = 5.0) -> Path:
    from distributed import Client, as_completed

    from .worker import probe_task, run_pass

    cluster = None
    if scheduler is None:
        from ..backend import get_backend

        bname = get_backend(backend).name  # local cluster: same machine, resolve here
        if cpu_threads is None and bname == "numpy":
            from cpu_fallback.numpy_backend import cpu_count

            cpu_threads = max(1, cpu_count() // workers)
        # the worker processes inherit "ignore Ctrl-C" (the interrupt is this process's to handle) and the filter that
        # silences multiprocessing's note about the semaphores of workers stopped mid-task (its tracker removes them)
        if _TRACKER_NOTE not in os.environ.get("PYTHONWARNINGS", ""):
            os.environ["PYTHONWARNINGS"] = ",".join(x for x in (os.environ.get("PYTHONWARNINGS"), _TRACKER_NOTE) if x)
        with _sigint_ignored():
            cluster = _local_cluster(workers, bname, log)
        client = Client(cluster)
        mode = f"LocalCluster({workers})"
    else:
        bname = backend
        try:
            client = Client(scheduler, timeout=f"{scheduler_timeout}s")
        except (OSError, TimeoutError) as exc:
            raise SpecError.single("command line", "--scheduler", scheduler,
                                   f"no Dask scheduler answered within {scheduler_timeout:g} s ({type(exc).__name__}: {exc}); allowed: the address of "
                                   "a running scheduler (check host, port and firewall; wait longer with --scheduler-timeout SECONDS or "
                                   "$ALVH_SCHEDULER_TIMEOUT)") from None
        mode = f"scheduler {scheduler}"
    try:
        log(f"{mode}: scheduler {client.scheduler.address}, {len(client.scheduler_info().get('workers', {}))} workers")

        def make():
            scen, strat = _probe_args(plan, list(plan.passes))
            fut = client.submit(probe_task, scen, strat, seed=plan.seed, dtype=plan.dtype, backend=bname, cpu_threads=cpu_threads, pure=False,
                                key=f"alvh-probe-{plan.hash[:12]}-{os.getpid()}")
            schema = fut.result()
            if "error" in schema:
                raise AlvhError(f"the probe run on the cluster failed: {schema['error']}")
            return build_template(plan, schema, _attrs(plan, schema, mode))

        made = ensure_template(plan, out, make, stale_after=stale_after, on_wait=lambda o: log(f"waiting for the template (lock held by {o})"),
                               replace=replace)
        log(f"{'wrote' if made == 'created' else 'found'} the template of sweep {plan.name} ({plan.hash[:12]}) at {out}")
        failed: dict[int, str] = {}
        errors: list[str] = []
        with WriterLease(out, mode=mode, **(lease or {})):
            todo, n_cells = _pending(plan, out, list(plan.passes))
            log(f"{mode}: {len(todo)} of {len(plan.passes)} passes to run ({n_cells} cells)")
            futures = [client.submit(run_pass, pass_task(plan, sp, out, backend=bname, max_memory=mem, cpu_threads=cpu_threads), pure=False,
                                     key=f"alvh-pass-{plan.hash[:12]}-{sp.index}-{os.getpid()}") for sp in todo]
            bar = _Bar(n_cells, f"sweep {plan.name}", progress)
            try:
                for fut in as_completed(futures):
                    try:
                        summary = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a task that raised (I/O error, lost worker): report, keep going
                        errors.append(f"{fut.key}: {type(exc).__name__}: {exc}")
                        continue
                    _checked(summary, out)
                    failed.update({int(k): v for k, v in summary["failed"].items()})
                    bar.update(summary)
            except BaseException:  # interrupted (or refused): no more tasks for the cluster
                with _sigint_ignored():
                    client.cancel(futures)
                raise
            finally:
                bar.close()
        if errors:
            raise AlvhError(f"{len(errors)} of {len(futures)} passes raised (their cells stay missing; rerun to retry): " + "; ".join(errors[:3]))
        return _finish(plan, out, failed, len(plan.cells))
    finally:
        with _sigint_ignored(), _quiet_dask():
            client.close()
            if cluster is not None:
                cluster.close()


_TRACKER_NOTE = "ignore:resource_tracker:UserWarning"


@contextmanager
def _quiet_dask():
    """No log lines from distributed while a (possibly interrupted) cluster shuts down."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)

"""Split work over paths into batches that fit the device, and run them.

* Batch size: explicit, or sized so that ``bytes_per_path * batch`` stays under
  a fraction of free device memory (GPU) / under ``max_memory``; on the CPU
  batches are kept small enough to stay in cache and to feed every thread.
* CPU: batches run on ``backend.workers`` threads (NumPy releases the GIL).
  GPU: batches run one after another on the current stream.
* Out of memory (``backend.oom_errors``): the batch is split in two and each
  half retried, down to one path.
* Random numbers are keyed by global path index, so the batching never changes
  the results.
"""

from __future__ import annotations

import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable

from .backend import Backend

__all__ = ["run_batches", "plan_batches", "choose_batch_size", "CPU_BATCH"]

#: Default CPU batch: ~16k paths keeps a step's working set in L2 cache.
CPU_BATCH = 16384
GPU_MEMORY_FRACTION = 0.6


def choose_batch_size(n_paths: int, backend: Backend, bytes_per_path: int, max_memory: int | None = None) -> int:
    """Paths per batch for this backend and per-path footprint (bytes)."""
    bytes_per_path = max(int(bytes_per_path), 1)
    if backend.is_gpu:
        budget = int(backend.free_memory() * GPU_MEMORY_FRACTION)
        if max_memory:
            budget = min(budget, int(max_memory))
        size = budget // bytes_per_path
    else:
        size = CPU_BATCH
        per_worker = -(-n_paths // max(backend.workers, 1))
        size = min(size, max(per_worker, 1024))
        if max_memory:
            size = min(size, int(max_memory) // max(backend.workers, 1) // bytes_per_path)
    return int(max(1, min(size, n_paths)))


def plan_batches(n_paths: int, batch_size: int, start: int = 0) -> list[tuple[int, int]]:
    """``[(start, count), ...]`` covering ``start .. start+n_paths-1``."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    return [(s, min(batch_size, start + n_paths - s)) for s in range(start, start + n_paths, batch_size)]


def _run_one(task: Callable[[int, int], Any], start: int, count: int, backend: Backend) -> list[Any]:
    """Run ``task(start, count)``, splitting on out-of-memory; returns results in path order."""
    try:
        return [task(start, count)]
    except backend.oom_errors:
        if count <= 1:
            raise
        _release_memory(backend)
        half = count // 2
        return _run_one(task, start, half, backend) + _run_one(task, start + half, count - half, backend)


def _release_memory(backend: Backend) -> None:
    if backend.is_gpu:
        try:
            backend.xp.get_default_memory_pool().free_all_blocks()
        except Exception:  # pragma: no cover - best effort
            pass


def run_batches(
    task: Callable[[int, int], Any],
    n_paths: int,
    *,
    backend: Backend,
    bytes_per_path: int,
    batch_size: int | None = None,
    max_memory: int | None = None,
    progress: bool = False,
    desc: str = "",
    start: int = 0,
    work_per_path: int = 1,
) -> list[Any]:
    """Run ``task(start, count)`` over batches of ``n_paths`` paths.

    The progress bar counts ``work_per_path`` units per path (path-days for the book), updated as each
    batch ends.

    Returns the task results in path order (a batch split after an
    out-of-memory error contributes several results).
    """
    size = batch_size or choose_batch_size(n_paths, backend, bytes_per_path, max_memory)
    batches = plan_batches(n_paths, size, start)
    bar = _progress_bar(n_paths * work_per_path, desc, progress, unit="path" if work_per_path == 1 else "path-day")
    results: dict[int, list[Any]] = {}
    try:
        if backend.is_gpu or backend.workers <= 1 or len(batches) == 1:
            for j, (s, n) in enumerate(batches):
                results[j] = _run_one(task, s, n, backend)
                bar.update(n * work_per_path)
        else:
            pool = ThreadPoolExecutor(max_workers=backend.workers, thread_name_prefix="alvh")
            try:
                futures = {pool.submit(_run_one, task, s, n, backend): (j, n) for j, (s, n) in enumerate(batches)}
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        j, n = futures[f]
                        results[j] = f.result()
                        bar.update(n * work_per_path)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return [r for j in range(len(batches)) for r in results[j]]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, desc: str, enabled: bool, unit: str = "path"):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, leave=False)

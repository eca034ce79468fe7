"""Benchmark records: timing, the JSON record, where records are written and found, the table.

A record is one JSON file (one measurement)::

    {benchmark, backend, device, dtype, sizes, median_seconds, throughput, throughput_unit,
     git_revision, timestamp, host, load_average, label, extra}

``load_average`` is ``os.getloadavg()`` when the measurement ended (1, 5 and 15 minutes) and ``label``
free text from ``alvh bench --label`` (say when the machine was shared with other work).  File name:
``<benchmark>-<backend>-<dtype>-<UTC stamp>[-n].json``.  Benchmarks measure; no test asserts a time.

Folders (:func:`results_dir` writes, :func:`search_dirs` is what ``alvh sweep plan`` reads):

* ``$ALVH_BENCH_RESULTS`` when set (both);
* else, in a source checkout (the package imported from a git tree with ``bench/results/``), that folder;
* else the user folder ``$XDG_DATA_HOME/gpu_alvh/bench_results`` (default
  ``~/.local/share/gpu_alvh/bench_results``); the search also reads the records shipped inside the
  package (``gpu_alvh.bench_records``: the repository's ``run_alvh`` records).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable

__all__ = ["median_time", "make_record", "save_record", "results_dir", "search_dirs", "source_results_dir", "user_results_dir",
           "git_revision", "load_average", "format_table", "fmt", "read_records", "RESULTS_ENV"]

RESULTS_ENV = "ALVH_BENCH_RESULTS"


def median_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time (s) of ``fn()`` over ``repeats`` runs after ``warmup`` untimed runs, and every time."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(int(repeats), 1)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def source_results_dir() -> Path | None:
    """``bench/results`` of the source checkout the package is imported from, or None (an installed package)."""
    import gpu_alvh

    root = Path(gpu_alvh.__file__).resolve().parents[1]
    folder = root / "bench" / "results"
    return folder if (root / "pyproject.toml").is_file() and (folder / "__init__.py").is_file() else None


def user_results_dir() -> Path:
    """The per-user folder for records of an installed package (``$XDG_DATA_HOME/gpu_alvh/bench_results``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "gpu_alvh" / "bench_results"


def results_dir(out: str | os.PathLike | None = None) -> Path:
    """Folder new records go to: ``out``, else ``$ALVH_BENCH_RESULTS``, else the checkout's, else the user folder."""
    if out is not None:
        return Path(out).expanduser()
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env).expanduser()
    return source_results_dir() or user_results_dir()


def search_dirs() -> list[Path]:
    """Existing folders to read records from, newest record wins (see the module docstring)."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return [Path(env).expanduser()]
    dirs = [d for d in (source_results_dir(), user_results_dir()) if d is not None]
    try:
        shipped = Path(str(resources.files("gpu_alvh.bench_records")))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - a build without the records
        shipped = None
    if shipped is not None and shipped.is_dir() and shipped.resolve() not in [d.resolve() for d in dirs if d.exists()]:
        dirs.append(shipped)
    existing = [d for d in dirs if d.is_dir()]
    return existing or dirs[:1]


def git_revision() -> str:
    """Revision of the code measured (:func:`gpu_alvh.results.git_revision`: git, ``$ALVH_GIT_REVISION`` or
    the build's record), else ``"unknown"``."""
    from ..results import git_revision as rev

    return rev() or "unknown"


def load_average() -> list[float]:
    """``os.getloadavg()`` (1, 5, 15 minutes), or ``[]`` where the platform has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):  # pragma: no cover - not POSIX
        return []


def make_record(benchmark: str, *, backend: str, device: str, dtype: str | None, sizes: dict, median_seconds: float,
                throughput: float | None, throughput_unit: str, label: str = "", extra: dict | None = None) -> dict:
    """One record (see the module docstring); not written (:func:`save_record`)."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    return {
        "benchmark": benchmark,
        "backend": backend,
        "device": device,
        "dtype": dtype,
        "sizes": dict(sizes),
        "median_seconds": float(median_seconds),
        "throughput": None if throughput is None else float(throughput),
        "throughput_unit": throughput_unit,
        "git_revision": git_revision(),
        "timestamp": now.isoformat(),
        "host": {"machine": platform.machine(), "python": platform.python_version(), "node": platform.node(), "cpus": os.cpu_count()},
        "load_average": load_average(),
        "label": label,
        "extra": dict(extra or {}),
    }


def save_record(rec: dict, folder: str | os.PathLike) -> Path:
    """Write ``rec`` as a new file in ``folder`` (created), never replacing one; returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.fromisoformat(rec["timestamp"]).strftime("%Y%m%dT%H%M%SZ")
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{rec['benchmark']}-{rec['backend']}-{rec.get('dtype') or 'na'}-{stamp}")
    text = json.dumps({k: v for k, v in rec.items() if not k.startswith("_")}, indent=2, sort_keys=True) + "\n"
    n = 0
    while True:
        path = folder / (f"{stem}.json" if n == 0 else f"{stem}-{n}.json")
        try:
            with open(path, "x", encoding="utf-8") as fh:  # exclusive: a concurrent writer takes the next name
                fh.write(text)
            return path
        except FileExistsError:
            n += 1


def read_records(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Records from JSON files: each file one record or a list of records (what ``bench/gpu_check.sh`` returns)."""
    out: list[dict] = []
    for p in paths:
        try:
            data = json.loads(Path(p).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{p}: not a JSON file of benchmark records ({exc})") from None
        items = data if isinstance(data, list) else [data]
        for i, rec in enumerate(items):
            if not isinstance(rec, dict) or not {"benchmark", "backend", "timestamp"} <= set(rec):
                raise ValueError(f"{p}: entry {i} is not a benchmark record (needs benchmark, backend, timestamp): {str(rec)[:80]}")
            try:
                _dt.datetime.fromisoformat(str(rec["timestamp"]))
            except ValueError:
                raise ValueError(f"{p}: entry {i}: timestamp {str(rec['timestamp'])[:40]!r} is not an ISO date and time") from None
            out.append(rec)
    return out


def fmt(x: Any) -> str:
    """A table cell: 4 significant digits, exponent form from 1e5 on, blank for None."""
    if x is None:
        return ""
    if isinstance(x, float):
        if x != x:  # NaN
            return "n/a"
        return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"
    return str(x)


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Rows (dicts) as an aligned text table; ``columns`` = ``[(key, header), ...]``; text left, numbers right."""
    cells = [[h for _, h in columns]] + [[fmt(r.get(k)) for k, _ in columns] for r in rows]
    numeric = [all(isinstance(r.get(k), (int, float)) or r.get(k) is None for r in rows) for k, _ in columns]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = []
    for j, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

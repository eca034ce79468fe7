"""The benchmark suite behind ``alvh bench``: every group on every backend, the SPEC section 11 table.

Groups (registry :data:`GROUPS`, in table order): ``paths`` (:mod:`.paths`), ``pricing``
(:mod:`.pricing`), ``book`` (:mod:`.book`), ``sweep`` (:mod:`.sweep`).  GPU backends run first (on a lent
machine the GPU numbers matter most if time runs out), then the CPU.  A group that fails is reported
and the suite goes on; :func:`run_suite` returns the rows, and ``alvh bench`` exits 1 if any group failed.

When a GPU and a CPU backend both ran, every GPU row gets ``GPU/CPU`` = its rate over the CPU row of
the same key (throughput, path-days/s for sweeps, 1 / seconds for timed runs).  Besides one record per
row, a ``bench_suite`` record holds the whole table, the ratios and the notes.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace
from pathlib import Path

from .book import run_book
from .common import Row, Suite, sizes_for
from .paths import run_paths
from .pricing import run_pricing
from .records import format_table, load_average, make_record, save_record
from .sweep import run_sweep_scaling

__all__ = ["GROUPS", "run_suite", "table_text", "gpu_cpu_ratios"]

#: Benchmark groups by name, in the table's order: ``fn(suite, backend, sizes)``.
GROUPS = {"paths": run_paths, "pricing": run_pricing, "book": run_book, "sweep": run_sweep_scaling}

COLUMNS = [("what", "benchmark"), ("backend", "backend"), ("dtype", "dtype"), ("size", "size"), ("seconds", "median s"),
           ("throughput", "throughput"), ("unit", "unit"), ("gpu_cpu", "GPU/CPU"), ("reference", "vs reference / target")]


def gpu_cpu_ratios(rows: list[Row]) -> dict[str, float]:
    """Set ``row.gpu_cpu`` on every GPU row that has a CPU (``numpy``) row of the same key; ``{key: ratio}``."""
    cpu = {r.key: r for r in rows if r.backend == "numpy"}
    out = {}
    for r in rows:
        c = cpu.get(r.key)
        if r.backend == "cupy" and c is not None and r.rate and c.rate:
            r.gpu_cpu = r.rate / c.rate
            out[r.key] = r.gpu_cpu
    return out


def table_text(suite: Suite) -> str:
    """The SPEC section 11 table of a suite, grouped, with the notes under it."""
    order = {g: i for i, g in enumerate(("path generation", "leg pricing", "full book", "sweep scaling"))}
    first: dict[str, int] = {}
    for i, r in enumerate(suite.rows):
        first.setdefault(r.key, i)
    rows = sorted(suite.rows, key=lambda r: (order.get(r.group, 99), first[r.key], r.backend != "cupy"))
    shown = [{"what": r.what, "backend": r.backend, "dtype": r.dtype, "size": r.size, "seconds": r.seconds, "throughput": r.throughput,
              "unit": r.unit, "gpu_cpu": None if r.gpu_cpu is None else float(f"{r.gpu_cpu:.3g}"), "reference": r.reference} for r in rows]
    columns = COLUMNS if any(r.gpu_cpu is not None for r in rows) else [c for c in COLUMNS if c[0] != "gpu_cpu"]
    lines = [format_table(shown, columns)] if shown else ["(no measurements)"]
    lines += [f"note: {n}" for n in suite.notes]
    return "\n".join(lines)


def run_suite(backends, *, quick: bool = False, groups=None, out: Path | None = None, label: str = "", log=None,
              fresh_process: bool = True) -> Suite:
    """Run ``groups`` (default all) on each backend; records go to ``out`` (None: not written).

    ``fresh_process=False`` leaves out the default ``alvh run`` in two new processes (cold and warm kernel
    cache: minutes of compilation on a cold cache), as ``quick`` does.

    ``backends``: :class:`~gpu_alvh.backend.Backend` objects (resolved by the caller).  Returns the
    :class:`~gpu_alvh.benchmarks.common.Suite`; ``suite.failed`` lists ``(backend, group, message)``.
    """
    import sys

    suite = Suite(out, label=label, mode="quick" if quick else "full", log=sys.stderr if log is None else log)
    names = list(GROUPS) if not groups else [g for g in GROUPS if g in set(groups)]
    t0 = time.perf_counter()
    for b in sorted(backends, key=lambda b: not b.is_gpu):
        sizes = sizes_for(b.is_gpu, quick)
        if not fresh_process:
            sizes = replace(sizes, first_process=False)
        suite.say(f"backend {b.name}: {b.device} ({'quick' if quick else 'full'} sizes; load average {load_average()})")
        for g in names:
            try:
                GROUPS[g](suite, b, sizes)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one failed group must not lose the others' numbers
                msg = f"{type(exc).__name__}: {exc}"
                suite.failed.append((b.name, g, msg))
                suite.note(f"{g} on {b.name} failed: {msg}")
                suite.say(traceback.format_exc(limit=6))
    ratios = gpu_cpu_ratios(suite.rows)
    if suite.rows:
        rec = make_record("bench_suite", backend="+".join(b.name for b in backends), device="; ".join(sorted({b.device for b in backends})),
                          dtype=None, sizes={"groups": names, "mode": suite.mode}, median_seconds=time.perf_counter() - t0, throughput=None,
                          throughput_unit="s", label=label,
                          extra={"gpu_cpu": ratios, "notes": suite.notes, "failed": suite.failed,
                                 "rows": [{k: getattr(r, k) for k in ("key", "what", "backend", "dtype", "size", "seconds", "throughput", "unit",
                                                                      "rate", "gpu_cpu", "reference")} for r in suite.rows]})
        if out is not None:
            suite.saved.append(save_record(rec, out))
    return suite

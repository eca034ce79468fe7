"""The pieces every benchmark shares: a table row, the sizes of a run, and the suite that collects them.

A :class:`Row` is one line of the SPEC section 11 table; :meth:`Suite.add` prints it (stderr, as it
is measured), turns it into a JSON record (:mod:`.records`) and writes that at once, so an interrupted
run keeps every record it finished.  :func:`sizes_for` gives the problem sizes for a backend kind and
mode (``--quick``: a smoke run on :data:`HESTON_BOOK`, well under a minute on 2 CPU cores once the
kernels are compiled; the full sizes take several minutes).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .records import make_record, save_record

__all__ = ["Row", "Sizes", "Suite", "sizes_for", "HESTON_BOOK", "scenario_name"]

#: The ``--quick`` book (pricing tables, legs, full book and sweep): a Heston market with one VIX shock.
#: Its pricing tables build in about a third of the time of ``base``'s SVCJ tables and are built once per
#: process (:func:`gpu_alvh.runner.build_tables` caches them by pricing model), then shared by every group.
HESTON_BOOK = {
    "name": "bench_heston_book",
    "model": "heston",
    "params": {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7},
    "spot": 5000.0,
    "vix": 18.0,
    "rate": 0.03,
    "start": "2026-07-31",
    "horizon": 63,  # the benchmarks set their own (book_days, sweep_days >= 5: the shock's day)
    "shocks": [{"vix_level": 40.0, "day": 5}],
}


def scenario_name(scenario) -> str:
    """Name of a benchmark scenario: a library name or a mapping's ``name``."""
    return scenario["name"] if isinstance(scenario, dict) else str(scenario)


@dataclass
class Row:
    """One measurement as the table shows it.

    ``key`` identifies the benchmark across backends (``paths.terminal.float64``): rows of a GPU and a
    CPU backend with the same key get a GPU/CPU ratio of ``rate`` (``throughput``, or the path-days/s
    of a sweep, or ``1 / seconds`` for a timed first run).
    """

    key: str
    group: str
    what: str
    backend: str
    dtype: str | None
    size: str
    seconds: float
    throughput: float | None
    unit: str
    reference: str = ""
    rate: float | None = None
    gpu_cpu: float | None = None
    record: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.rate is None:
            self.rate = self.throughput if self.throughput else (1.0 / self.seconds if self.seconds and self.seconds > 0 else None)


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one backend's benchmarks."""

    scenario: Any = "base"  # pricing tables, legs, full book: a library name or a mapping (HESTON_BOOK)
    steps: int = 252  # path generation: steps per path
    repeats: int = 3  # timed repeats (median)
    paths: int = 1 << 18  # fused generator, terminal state
    paths_store: int = 1 << 15  # fused generator, every step stored
    ql_paths: int = 20_000  # QuantLib
    legs: int = 1 << 20  # leg pricing: legs per batch
    book_paths: int = 4000  # full book
    book_days: int = 252
    book_repeats: int = 1
    book_probe_paths: int = 0  # > 0: a timed run of this many paths first; book_paths then shrinks to fit book_budget_s
    book_budget_s: float = 60.0  # the full-book row's timed runs together, projected from the probe
    first_process: bool = True  # the default `alvh run` in fresh processes (cold and warm cache)
    first_paths: int = 4000
    sweep_cells: int = 8  # sweep scaling: cells (one per pass), paths per cell, days
    sweep_paths: int = 1000
    sweep_days: int = 42
    sweep_workers: tuple = (1, 2)  # Dask worker processes compared; 0: in this process (a GPU, --quick)


_CPU = Sizes()
_CPU_QUICK = Sizes(scenario=HESTON_BOOK, repeats=1, paths=1 << 15, paths_store=1 << 12, ql_paths=2000, legs=1 << 16, book_paths=500,
                   book_days=42, first_process=False, sweep_cells=4, sweep_paths=200, sweep_days=21, sweep_workers=(0,))
_GPU = Sizes(paths=1 << 24, paths_store=1 << 20, legs=1 << 24, book_paths=1 << 20, book_repeats=3, book_probe_paths=1 << 16,
             sweep_cells=4, sweep_paths=1 << 16,
             sweep_days=252, sweep_workers=(0,))
_GPU_QUICK = replace(_GPU, scenario=HESTON_BOOK, repeats=1, paths=1 << 22, paths_store=1 << 18, legs=1 << 22, book_paths=1 << 18,
                     book_days=42, book_repeats=1, first_process=False, sweep_cells=4, sweep_paths=1 << 14, sweep_days=21)


def sizes_for(is_gpu: bool, quick: bool) -> Sizes:
    """Default sizes: CPU or GPU, full or ``--quick``."""
    return (_GPU_QUICK if quick else _GPU) if is_gpu else (_CPU_QUICK if quick else _CPU)


class Suite:
    """Rows, notes and records of one ``alvh bench`` run.

    ``out``: folder the records are written to (None: records are made but not written);
    ``label``: stored in every record; ``shared``: values one benchmark leaves for another
    (the QuantLib rate, the CPU sweep's scale); ``log``: a stream for progress lines (None: silent).
    """

    def __init__(self, out: Path | None, label: str = "", mode: str = "full", log=sys.stderr):
        self.out, self.label, self.mode, self.log = out, label, mode, log
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.saved: list[Path] = []
        self.shared: dict[str, Any] = {}
        self.failed: list[tuple[str, str, str]] = []  # (backend, group, message)

    def say(self, msg: str) -> None:
        if self.log is not None:
            print(msg, file=self.log, flush=True)

    def note(self, msg: str) -> None:
        """A line printed under the table (what was skipped and why)."""
        if msg not in self.notes:
            self.notes.append(msg)
            self.say(f"note: {msg}")

    def add(self, row: Row, *, benchmark: str, device: str, sizes: dict, extra: dict | None = None) -> Row:
        """Record ``row`` (written at once when ``out`` is set) and keep it for the table."""
        rec = make_record(benchmark, backend=row.backend, device=device, dtype=row.dtype, sizes=sizes, median_seconds=row.seconds,
                          throughput=row.throughput, throughput_unit=row.unit, label=self.label,
                          extra={"what": row.what, "key": row.key, "mode": self.mode, "reference": row.reference, **(extra or {})})
        row.record = rec
        if self.out is not None:
            self.saved.append(save_record(rec, self.out))
        self.rows.append(row)
        thr = f"{row.throughput:.3e} {row.unit}" if row.throughput else f"{row.seconds:.2f} s"
        self.say(f"  {row.backend:8s} {row.what} [{row.dtype or '-'}; {row.size}]: {thr}" + (f"  ({row.reference})" if row.reference else ""))
        return row

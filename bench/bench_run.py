"""Benchmark: the full ALVH run (4-layer ladder + VIX overlay + both baselines) per path-day.

Runs ``gpu_alvh.run_scenario`` on the base scenario for N paths x 252 days on the
chosen backend (pricing tables built once, outside the timed part, and reported
separately), prints a table and appends JSON records ``run_alvh-<backend>-...``
to ``bench/results/`` with ``throughput`` in path-days/s (all three strategies
of a path-day count once).  ``alvh sweep plan`` reads the newest record to
estimate device-hours.

    python bench/bench_run.py [--backend auto|numpy|cupy] [--paths N] [--days 252] [--repeats 1]

GPU target (issue 4): 1M paths x 252 days under 1 s on an H100.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import median_time, print_table, record  # noqa: E402
from gpu_alvh.backend import get_backend  # noqa: E402
from gpu_alvh.compile import compile_scenario  # noqa: E402
from gpu_alvh.run import build_tables, run_scenario  # noqa: E402
from gpu_alvh.spec import default_strategy, load_scenario  # noqa: E402
from gpu_alvh.strategy.book import baseline_rows, compile_book  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--scenario", default="base")
    ap.add_argument("--paths", type=int, default=None, help="paths [CPU 4000, GPU 1048576]")
    ap.add_argument("--days", type=int, default=252)
    ap.add_argument("--dtype", default="float64")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    b = get_backend(args.backend)
    n = args.paths or (1 << 20 if b.is_gpu else 4000)
    spec = load_scenario(args.scenario, overrides={"horizon": args.days})
    compiled = compile_scenario(spec, dtype=args.dtype)
    book = compile_book(baseline_rows(spec.strategy_spec() or default_strategy()), compiled)
    t0 = time.perf_counter()
    tables = build_tables(compiled, book, b)
    t_tables = time.perf_counter() - t0

    def go():
        run_scenario(spec, n_paths=n, seed=1, backend=b, dtype=args.dtype, tables=tables, compiled=compiled)
        b.synchronize()

    med, times = median_time(go, repeats=args.repeats, warmup=0 if not b.is_gpu else 1)
    rate = n * args.days / med
    rows = [{"scenario": spec.name, "backend": b.name, "dtype": args.dtype, "paths": n, "days": args.days, "seconds": med,
             "path_days_per_s": rate, "tables_s": t_tables}]
    print(f"device: {b.device}")
    print_table(rows, [("scenario", "scenario"), ("backend", "backend"), ("dtype", "dtype"), ("paths", "paths"), ("days", "days"),
                       ("seconds", "median s"), ("path_days_per_s", "path-days/s"), ("tables_s", "table build s")])
    record("run_alvh", backend=b.name, device=b.device, dtype=args.dtype,
           sizes={"paths": n, "days": args.days, "strategies": book.n_strategies, "ladder_slots": book.n_slots, "hedge_slots": book.n_hedge_slots,
                  "workers": b.workers},
           median_seconds=med, throughput=rate, throughput_unit="path-days/s",
           extra={"times": times, "table_build_seconds": t_tables, "scenario": spec.name}, save=not args.no_save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

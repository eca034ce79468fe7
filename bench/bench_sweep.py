"""Benchmark: sweep scaling (cells/min on 1 and 2 local Dask workers; in-process on a GPU).

``alvh bench --only sweep`` (:mod:`gpu_alvh.benchmarks.sweep`); options as ``alvh bench`` (see bench/common.py).

    python bench/bench_sweep.py [--backend numpy|cupy] [--quick] [--label TEXT] [--out DIR]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import main  # noqa: E402

if __name__ == "__main__":
    main("sweep")

"""Benchmark: the full book (ALVH + 2 baselines, path-days/s; the default alvh run cold and warm).

``alvh bench --only book`` (:mod:`gpu_alvh.benchmarks.book`); options as ``alvh bench`` (see bench/common.py).

    python bench/bench_run.py [--backend numpy|cupy] [--quick] [--label TEXT] [--out DIR]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import main  # noqa: E402

if __name__ == "__main__":
    main("book")

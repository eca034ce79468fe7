"""Benchmark: path generation (fused Heston QE vs QuantLib's MCEuropeanHestonEngine in the same run).

``alvh bench --only paths`` (:mod:`gpu_alvh.benchmarks.paths`); options as ``alvh bench`` (see bench/common.py).

    python bench/bench_paths.py [--backend numpy|cupy] [--quick] [--label TEXT] [--out DIR]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import main  # noqa: E402

if __name__ == "__main__":
    main("paths")

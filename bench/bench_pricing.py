"""Benchmark: leg pricing (fused SPX legs with greeks, VIX legs, against the array layer; the table build).

``alvh bench --only pricing`` (:mod:`gpu_alvh.benchmarks.pricing`); options as ``alvh bench`` (see bench/common.py).

    python bench/bench_pricing.py [--backend numpy|cupy] [--quick] [--label TEXT] [--out DIR]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import main  # noqa: E402

if __name__ == "__main__":
    main("pricing")

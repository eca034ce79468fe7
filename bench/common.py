"""What the ``bench/*.py`` scripts share: each is ``alvh bench --only GROUP`` (:mod:`gpu_alvh.benchmarks`
is the one implementation; the scripts keep the old entry points of a source checkout working).

    python bench/bench_paths.py   [alvh bench options]   # = alvh bench --only paths
    python bench/bench_pricing.py [...]                  # = alvh bench --only pricing
    python bench/bench_run.py     [...]                  # = alvh bench --only book
    python bench/bench_sweep.py   [...]                  # = alvh bench --only sweep

Options: ``--backend numpy|cupy`` (repeatable), ``--quick``, ``--label TEXT``, ``--out DIR``,
``--no-save`` (``alvh bench --help``).  Records go to ``bench/results/`` of the checkout unless
``--out`` or ``$ALVH_BENCH_RESULTS`` says otherwise.
"""

from __future__ import annotations

import sys


def main(group: str) -> None:
    """Run ``alvh bench --only group`` with this script's arguments (exit code as ``alvh``'s)."""
    from gpu_alvh.cli import main as alvh

    alvh.main(args=["bench", "--only", group, *sys.argv[1:]], prog_name="alvh")

"""Benchmarks (SPEC section 11): ``alvh bench``, and the thin ``bench/*.py`` scripts of a source checkout.

* :func:`~gpu_alvh.benchmarks.suite.run_suite` - every group on every backend, the table
  (:func:`~gpu_alvh.benchmarks.suite.table_text`) and the GPU/CPU ratios;
* groups: :mod:`.paths` (path generation vs QuantLib / 5e10), :mod:`.pricing` (fused legs vs the array
  layer), :mod:`.book` (the full book; the default ``alvh run`` cold and warm), :mod:`.sweep` (cells/min,
  1 vs 2 workers);
* :mod:`.records` - the JSON record, where records are written and found.

Benchmarks are not tests: they measure and record; no test asserts a time.
"""

from .records import results_dir, search_dirs
from .suite import GROUPS, run_suite, table_text

__all__ = ["run_suite", "table_text", "GROUPS", "results_dir", "search_dirs"]

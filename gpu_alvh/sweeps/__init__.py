"""Sweeps at scale: grids of scenario/strategy parameters into one resumable Zarr store (SPEC section 10).

Public API:

* :func:`sweep` - run a sweep (in-process, local Dask cluster, existing Dask
  scheduler, or one shard of an array job); resumable; returns the store path;
* :func:`resolve_sweep` - validate a sweep file and expand it into cells and passes;
* :func:`plan_report` / :func:`format_report` - ``alvh sweep plan``;
* :func:`sweep_status` - ``alvh sweep status``;
* open a finished (or partial) store with :func:`gpu_alvh.open_results`.

Modules: :mod:`.plan` (grid expansion, passes, identity), :mod:`.store`
(template, lock, regions, sidecars), :mod:`.worker` (one pass),
:mod:`.driver` (drivers), :mod:`.checks` (``--out``, scheduler and memory,
before any work), :mod:`.lease` (live writers), :mod:`.status`, :mod:`.estimate`.
See ``docs/sweeps.md``.
"""

from __future__ import annotations

from ..spec.sweep import SweepSpec, load_sweep
from .driver import SHARD_ENV, SweepFailedError, parse_shard, parse_size, sweep
from .estimate import format_report, plan_report
from .plan import STATUS, SweepPlan, resolve_sweep
from .status import SweepStatus, sweep_status

__all__ = [
    "sweep",
    "resolve_sweep",
    "load_sweep",
    "plan_report",
    "format_report",
    "sweep_status",
    "SweepSpec",
    "SweepPlan",
    "SweepStatus",
    "SweepFailedError",
    "STATUS",
    "SHARD_ENV",
    "parse_shard",
    "parse_size",
]

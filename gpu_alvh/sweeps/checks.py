"""What a sweep checks before it starts: ``--out``, ``--scheduler`` and memory (all exit code 2 when wrong).

Nothing is computed or written before these pass (:func:`gpu_alvh.sweeps.driver.sweep` calls them
right after resolving the sweep file).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..spec.base import Shown
from .plan import SweepPlan

__all__ = ["check_sweep_out", "check_scheduler", "check_memory"]


def check_memory(plan: SweepPlan, backend: str, mem: int | None, workers: int) -> None:
    """Refuse a sweep whose largest pass cannot fit in this machine's memory (``alvh sweep plan``'s estimate)."""
    from ..limits import check_memory
    from .estimate import plan_report

    r = plan_report(plan, backend=backend, max_memory=mem, workers=workers)
    worst = max(r["pass_detail"], key=lambda d: d["peak_bytes"])
    host = worst["peak_bytes"] if r["backend"] != "cupy" else worst["result_bytes"] + worst["hist_bytes"]
    check_memory(host * min(workers, len(plan.passes)), f"{plan.n_paths:,} paths x {worst['days']:,} days x {worst['rows']} strategy rows per pass"
                 + (f" on {workers} workers" if workers > 1 else ""), option="paths", source=plan.source)


#: the forms of a Dask scheduler address we accept
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}|inproc://\S+")


def check_scheduler(address: str, timeout: float | None) -> float:
    """Validate ``--scheduler`` and return the connect timeout in seconds (``$ALVH_SCHEDULER_TIMEOUT``, default 5)."""
    if not isinstance(address, str) or not _ADDRESS.fullmatch(address.strip()):
        raise SpecError.single("command line", "--scheduler", address, "allowed: the address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    if timeout is None:
        text = os.environ.get("ALVH_SCHEDULER_TIMEOUT", "").strip()
        try:
            timeout = float(text) if text else 5.0
        except ValueError:
            raise SpecError.single("environment", "$ALVH_SCHEDULER_TIMEOUT", text, "allowed: a number of seconds > 0") from None
    if not (isinstance(timeout, (int, float)) and 0 < timeout < float("inf")):
        raise SpecError.single("command line", "--scheduler-timeout", timeout, "allowed: a number of seconds > 0")
    return float(timeout)


def check_sweep_out(plan: SweepPlan, out: Any, *, overwrite: bool, stale_after: float) -> tuple[Path, bool]:
    """Check ``out`` before any work: ``(absolute path, whether a store of another sweep is to be replaced)``.

    A new path, an empty folder or a store of this sweep (resumed) are fine; a store of
    another sweep needs ``overwrite`` and no live writer; anything else is refused
    (:func:`gpu_alvh.stores.inspect_out`).
    """
    from ..stores import inspect_out
    from .lease import describe_lease, live_leases
    from .store import check_store, read_meta

    target = inspect_out(out, "sweep")
    if not target.exists:
        return target.path, False
    meta = read_meta(target.path)
    if meta is not None and meta.get("hash") == plan.hash:
        return target.path, False
    if not overwrite:
        try:
            check_store(target.path, plan)
        except SpecError as exc:
            issue = exc.issues[0]
            raise SpecError.single(exc.source, issue.field, issue.value, issue.allowed + "; or pass --overwrite to replace it") from None
    live = live_leases(target.path, stale_after)
    if live:
        raise SpecError.single(str(target.path), "--out", Shown(str(target.path)),
                               f"is being written by another `alvh sweep run`: {describe_lease(live[0])}; --overwrite does not replace a store "
                               "while it is written")
    return target.path, True

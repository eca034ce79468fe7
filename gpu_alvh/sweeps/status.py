"""``alvh sweep status``: done / missing / failed cells of a sweep store (read-only).

Reads ``cell_status`` and the ``.sweep/`` sidecars (plain JSON); never writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..spec.base import Shown
from .lease import live_leases
from .plan import STATUS
from .store import read_events, read_failures, read_meta, read_status

__all__ = ["SweepStatus", "sweep_status"]


@dataclass
class SweepStatus:
    """State of a sweep store.

    ``status`` is ``cell_status`` over ``(scenario, *params)``; ``failures``
    maps a flat cell index to its failure record (``error``, ``message``...).
    """

    out: Path
    meta: dict
    status: np.ndarray
    failures: dict[int, dict] = field(default_factory=dict)
    writers: list[dict] = field(default_factory=list)  # live writer leases (see .lease)

    @property
    def dims(self) -> list[dict]:
        return self.meta["dims"]

    def cells(self, which: str) -> list[int]:
        """Flat indices of the cells in state ``which`` (``done``, ``missing``, ``failed``, ``not_in_sweep``)."""
        return [int(i) for i in np.flatnonzero(self.status.ravel() == STATUS[which])]

    @property
    def counts(self) -> dict[str, int]:
        flat = self.status.ravel()
        return {k: int((flat == v).sum()) for k, v in STATUS.items()}

    @property
    def n_cells(self) -> int:
        return int((self.status.ravel() != STATUS["not_in_sweep"]).sum())

    @property
    def complete(self) -> bool:
        c = self.counts
        return c["missing"] == 0 and c["failed"] == 0

    def coords_of(self, index: int) -> dict[str, Any]:
        pos = np.unravel_index(index, self.status.shape)
        return {d["dim"]: d["values"][int(i)] for d, i in zip(self.dims, pos)}

    def describe(self, index: int) -> str:
        return " ".join(f"{k}={v}" for k, v in self.coords_of(index).items())

    def events(self, kind: str | None = None) -> list[dict]:
        return read_events(self.out, kind)

    def to_dict(self, limit: int | None = None) -> dict:
        def listing(which: str) -> list[dict]:
            idx = self.cells(which)
            idx = idx if limit is None else idx[:limit]
            rows = []
            for i in idx:
                row = {"cell": i, "id": f"c{i:06d}", **self.coords_of(i)}
                if which == "failed" and i in self.failures:
                    row["error"] = self.failures[i].get("error")
                    row["message"] = self.failures[i].get("message")
                rows.append(row)
            return rows

        return {
            "store": str(self.out),
            "sweep": self.meta.get("name"),
            "hash": self.meta.get("hash"),
            "source": self.meta.get("source"),
            "created": self.meta.get("created"),
            "dims": {d["dim"]: len(d["values"]) for d in self.dims},
            "cells": self.n_cells,
            **self.counts,
            "complete": self.complete,
            "writers": [dict(w) for w in self.writers],
            "failed_cells": listing("failed"),
            "missing_cells": listing("missing"),
        }


def sweep_status(out: str | os.PathLike) -> SweepStatus:
    """Read the state of the sweep store at ``out``; :class:`SpecError` when it is not one."""
    out = Path(out)
    meta = read_meta(out) if out.exists() else None
    if meta is None:
        raise SpecError.single(str(out), "STORE", Shown(str(out)), "allowed: a sweep store written by `alvh sweep run` (with a .sweep/sweep.json)")
    return SweepStatus(out=out, meta=meta, status=read_status(out), failures=read_failures(out), writers=live_leases(out))

"""Writer leases: who is writing a sweep store right now (see "Concurrent writers" in ``docs/sweeps.md``).

Every ``alvh sweep run`` process that drives a sweep - the in-process driver, the driver of a
Dask cluster, or one shard of an array job - holds a *lease* while it runs: a small JSON file
``.sweep/writers/<host>-<pid>-<id>.json`` with its host, pid, mode (``in-process``, a Dask
cluster, ``shard I/N``), start time and a heartbeat that a background thread refreshes every
``heartbeat`` seconds (default: a quarter of ``stale_after``).

* A lease is **live** while its heartbeat is younger than ``stale_after`` seconds (default 60,
  ``$ALVH_SWEEP_LOCK_STALE``, ``--lock-timeout``) and, on the same host, while its process exists.
  A writer killed with ``kill -9`` therefore blocks nobody on its own host, and nobody anywhere
  after ``stale_after`` seconds.
* **Shards cooperate**: leases of shards ``I/N`` and ``J/N`` of one array job (same ``N``,
  ``I != J``) run disjoint passes and are compatible.  Every other pair is a **conflict** - a
  second in-process or cluster run, the same shard twice, shards of different ``N``, a shard
  beside a whole-sweep run: both would compute the same cells.
* **Who gives way**: a process writes its lease first and then reads the others; of two
  conflicting live leases the younger (later start; ties: the larger id) refuses with a
  :class:`~gpu_alvh.errors.SpecError` (exit code 2) naming the live writer, and removes its
  lease.  Each of two processes starting together reads after it wrote, so each sees the
  other and exactly one goes on (assuming the hosts' clocks agree to better than the start
  gap; if they do not, both may run - cells are idempotent, so the store stays correct).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ..errors import SpecError
from ..spec.base import Shown
from ..stores import pid_alive

__all__ = ["WriterLease", "live_leases", "describe_lease", "lock_stale_after", "DEFAULT_STALE_AFTER", "LEASE_DIR"]

LEASE_DIR = "writers"
#: seconds without a heartbeat after which a writer's lease no longer counts
DEFAULT_STALE_AFTER = 60.0
STALE_ENV = "ALVH_SWEEP_LOCK_STALE"


def lock_stale_after(value: float | None = None) -> float:
    """``value`` if given, else ``$ALVH_SWEEP_LOCK_STALE``, else 60 s; :class:`SpecError` if not a positive number."""
    if value is None:
        text = os.environ.get(STALE_ENV, "").strip()
        if not text:
            return DEFAULT_STALE_AFTER
        try:
            value = float(text)
        except ValueError:
            raise SpecError.single("environment", f"${STALE_ENV}", text, "allowed: a number of seconds > 0") from None
    if not value > 0 or value != value or value == float("inf"):
        raise SpecError.single("argument", "--lock-timeout", value, "allowed: a number of seconds > 0")
    return float(value)


def _folder(out: Path) -> Path:
    return Path(out) / ".sweep" / LEASE_DIR


def _read(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and "id" in d else None


def _is_live(lease: dict, now: float, stale_after: float) -> bool:
    if lease.get("host") == socket.gethostname() and not pid_alive(int(lease.get("pid", -1))):
        return False
    return now - float(lease.get("heartbeat", 0.0)) <= stale_after


def live_leases(out: str | os.PathLike, stale_after: float | None = None) -> list[dict]:
    """Live leases of the sweep store ``out`` (oldest first)."""
    stale_after = lock_stale_after(stale_after)
    folder = _folder(Path(out))
    now = time.time()
    found = [d for p in (sorted(folder.glob("*.json")) if folder.is_dir() else []) if (d := _read(p)) is not None]
    return sorted((d for d in found if _is_live(d, now, stale_after)), key=lambda d: (d["started"], d["id"]))


def describe_lease(lease: dict) -> str:
    age = max(0.0, time.time() - float(lease.get("heartbeat", 0.0)))
    started = _dt.datetime.fromtimestamp(float(lease.get("started", 0.0)), _dt.timezone.utc).isoformat(timespec="seconds")
    return f"{lease.get('mode')} (pid {lease.get('pid')} on {lease.get('host')}, started {started}, last heartbeat {age:.0f} s ago)"


def _compatible(a: dict, b: dict) -> bool:
    sa, sb = a.get("shard"), b.get("shard")
    return bool(sa) and bool(sb) and sa[1] == sb[1] and sa[0] != sb[0]


class WriterLease:
    """Context manager holding this process's lease on the sweep store ``out`` (see the module docstring).

    Raises :class:`SpecError` on entry when a conflicting live writer holds the store.
    """

    def __init__(self, out: str | os.PathLike, *, mode: str, shard: tuple[int, int] | None = None, stale_after: float | None = None,
                 heartbeat: float | None = None):
        self.out = Path(out)
        self.stale_after = lock_stale_after(stale_after)
        self.interval = float(heartbeat) if heartbeat else min(self.stale_after / 4.0, 15.0)
        now = time.time()
        self.record = {"id": uuid.uuid4().hex, "pid": os.getpid(), "host": socket.gethostname(), "mode": mode,
                       "shard": list(shard) if shard else None, "started": now, "heartbeat": now}
        self.path = _folder(self.out) / f"{self.record['host']}-{self.record['pid']}-{self.record['id'][:8]}.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        self.record["heartbeat"] = time.time()
        part = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.partial")
        part.write_text(json.dumps(self.record, sort_keys=True), encoding="utf-8")
        os.replace(part, self.path)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._write()
            except OSError:  # a full or unmounted file system: the next beat retries
                pass

    def __enter__(self) -> "WriterLease":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write()
        now = time.time()
        me = (self.record["started"], self.record["id"])
        for p in self.path.parent.glob("*.json"):  # leases of writers that are gone: remove
            d = _read(p)
            if d is not None and d["id"] != self.record["id"] and not _is_live(d, now, self.stale_after):
                p.unlink(missing_ok=True)
        older = [d for d in live_leases(self.out, self.stale_after)
                 if d["id"] != self.record["id"] and not _compatible(self.record, d) and (d["started"], d["id"]) < me]
        if older:
            self.path.unlink(missing_ok=True)
            raise SpecError.single(
                str(self.out), "--out", Shown(str(self.out)),
                f"is being written by another `alvh sweep run`: {describe_lease(older[0])}; running both would compute the same cells "
                f"twice. Wait for it to finish (or stop it) and rerun; a writer that was killed stops counting {self.stale_after:.0f} s "
                f"after its last heartbeat (at once on the same host; --lock-timeout / ${STALE_ENV}). Shards I/N of one array job may "
                "run together")
        self._thread = threading.Thread(target=self._beat, name="alvh-sweep-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.path.unlink(missing_ok=True)

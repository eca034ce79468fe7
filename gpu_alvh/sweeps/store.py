"""The sweep store: one Zarr (format 2) store per sweep, written as a template once, then by regions.

Layout
------
* dims: ``scenario``, one per swept key (see :func:`~gpu_alvh.sweeps.plan.dim_names`),
  then the per-cell dims of a run (``strategy, path, day, layer, quantile, claim``);
* every results variable of :func:`gpu_alvh.runner.run_cells` with the cell dims
  in front: ``final_pnl (scenario, short_delta, ..., strategy, path)``; chunks
  of size 1 along ``scenario`` and the swept dims and whole along the others,
  so a cell is a set of whole chunks that only its writer touches;
* ``cell_status (scenario, *params)`` int8: -1 not part of the sweep (explicit
  cell lists), 0 missing, 1 done, 2 failed (CF ``flag_values``/``flag_meanings``);
* coordinates: ``scenario``, each swept dim (attrs ``key``: the dotted key),
  ``strategy, path, day, layer, quantile, claim`` and ``date (scenario[, start/horizon
  dims], day)``: session closes, NaT past a shorter scenario's horizon.  Days
  past a scenario's horizon and layers a cell does not hold are NaN;
* ``.sweep/`` (an empty Zarr group holding plain JSON files; Zarr readers see a
  group without arrays): ``sweep.json`` (identity
  hash and canonical sweep JSON, dims, cells), ``failed/<cell>.json``
  (error type and message of failed cells, plain JSON), ``events/`` (one small
  JSON file per template/cell write: who, when, how long).

Protocol
--------
1. **Template, once.**  The first process takes the lock (``os.mkdir`` of
   ``STORE.lock`` beside the store: atomic on POSIX file systems), writes the
   whole template - metadata, coordinates, ``cell_status``, ``.sweep/sweep.json``
   - into ``STORE.tmp-<pid>-<id>`` and renames it to ``STORE`` (atomic); the
   store path therefore only ever holds a complete template.  Others wait for
   the store to appear; a lock whose owner died (same host, no such process) or
   that is older than ``stale_after`` seconds is broken and the template is
   written again.  Even with a broken lock only one rename can succeed.
2. **Identity.**  Every process compares the sweep hash with ``sweep.json``
   before writing anything; a different sweep is refused (:class:`SpecError`,
   exit code 2).
3. **Cells.**  A worker writes a cell's data variables into its region
   (``to_zarr(region=..., mode="r+")``: whole chunks, no metadata), then, in a
   second region write, ``cell_status = 1``.  Zarr's local store writes each
   chunk to a temporary file and renames it, so a chunk is either old or new;
   the status chunk is written last, so ``done`` implies the data is there.
   A kill at any point leaves the cell ``missing`` (or a stale ``failed``) and
   the next run rewrites it with the same values.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

from ..errors import SpecError
from ..results import ZARR_FORMAT
from ..stores import pid_alive
from ..spec.base import Shown
from .plan import STATUS, SweepPlan

__all__ = [
    "META_DIR",
    "read_meta",
    "check_store",
    "check_store_hash",
    "ensure_template",
    "build_template",
    "schema_from_dataset",
    "read_status",
    "StoreLayout",
    "write_cell",
    "write_status",
    "record_event",
    "record_failure",
    "clear_failure",
    "read_failures",
    "read_events",
]

META_DIR = ".sweep"
META_FILE = "sweep.json"
LOCK_SUFFIX = ".lock"
TMP_INFIX = ".tmp-"
STALE_AFTER = 900.0  # seconds after which a template lock is considered abandoned
_DATE_KEYS = ("start", "horizon", "steps_per_day")
_MIN_STR = 256


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ identity
def read_meta(out: str | os.PathLike) -> dict | None:
    """``.sweep/sweep.json`` of a store, or ``None`` when there is none."""
    p = Path(out) / META_DIR / META_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _absent(out: Path) -> bool:
    """No store yet: the path does not exist or is an empty directory."""
    if not out.exists():
        return True
    return out.is_dir() and not any(out.iterdir())


def check_store(out: str | os.PathLike, plan: SweepPlan) -> dict:
    """Metadata of the store at ``out`` after checking it was made by ``plan``'s sweep.

    Raises :class:`SpecError` (exit code 2) when the path is not a sweep store
    or holds another sweep.
    """
    out = Path(out)
    meta = read_meta(out)
    if meta is None:
        raise SpecError.single(str(out), "--out", Shown(str(out)),
                               "exists and is not a gpu_alvh sweep store (no .sweep/sweep.json); allowed: a new path, an empty directory "
                               "or a store made by this sweep file")
    if meta.get("hash") != plan.hash:
        theirs = meta.get("identity", {})
        differs = sorted(k for k in set(theirs) | set(plan.identity) if theirs.get(k) != plan.identity.get(k))
        raise SpecError.single(
            plan.source, "<store>", Shown(str(out)),
            f"the store was made by a different sweep (sweep {meta.get('name')!r} from {meta.get('source')}, hash {str(meta.get('hash'))[:12]}; "
            f"this sweep has hash {plan.hash[:12]}; they differ in: {', '.join(differs) or 'unknown'}); refusing to write. "
            "allowed: the same sweep file (same scenarios, grid or cells, paths, seed, dtype, batch_size, variants_per_pass) or a new --out")
    return meta


def check_store_hash(out: str | os.PathLike, sweep_hash: str) -> None:
    """Refuse to write into a store that is not the template of sweep ``sweep_hash`` (workers call this)."""
    meta = read_meta(out)
    if meta is None or meta.get("hash") != sweep_hash:
        found = "no sweep store" if meta is None else f"sweep {meta.get('name')!r} (hash {str(meta.get('hash'))[:12]})"
        raise SpecError.single(str(out), "<store>", Shown(str(out)),
                               f"holds {found}, not the template of sweep hash {sweep_hash[:12]}; refusing to write")


# ------------------------------------------------------------------------------------ schema
def schema_from_dataset(ds: xr.Dataset) -> dict:
    """JSON-able description of a cell dataset (variables, dims, dtypes, attrs; claim/quantile coords).

    Taken from a tiny probe run (:func:`gpu_alvh.sweeps.worker.probe_schema`),
    so the template follows whatever :func:`gpu_alvh.runner.run_cells` returns.
    Strings get twice the probe's width and at least 256 characters: their length follows the data
    (a claim's note counts its days), and a longer string in a later cell is refused, never cut.
    """
    out: dict[str, Any] = {"vars": {}, "coords": {}}
    for name, v in ds.data_vars.items():
        dt = np.dtype(v.dtype)
        if dt.kind == "U":
            dt = np.dtype(f"<U{max(2 * (dt.itemsize // 4), _MIN_STR)}")
        out["vars"][name] = {"dims": list(v.dims), "dtype": dt.str, "attrs": _jsonable(v.attrs)}
    for name in ("strategy", "path", "day", "date", "layer", "quantile", "claim"):
        if name in ds.coords:
            c = ds.coords[name]
            entry: dict[str, Any] = {"attrs": _jsonable(c.attrs), "dtype": np.dtype(c.dtype).str}
            if name in ("quantile", "claim"):
                entry["values"] = [x.item() if hasattr(x, "item") else x for x in c.values]
            out["coords"][name] = entry
    return out


def _jsonable(attrs: dict) -> dict:
    return json.loads(json.dumps(dict(attrs), default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _dates(plan: SweepPlan) -> tuple[tuple[str, ...], np.ndarray]:
    """``date`` coordinate: session closes per scenario (and per swept start/horizon)."""
    from .. import calendar as cal

    date_params = [j for j, p in enumerate(plan.params) if p.level == "scenario" and p.target in _DATE_KEYS]
    dims = ("scenario", *(plan.params[j].dim for j in date_params), "day")
    shape = (len(plan.scenarios), *(len(plan.params[j].values) for j in date_params), plan.n_days + 1)
    arr = np.full(shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    filled: set[tuple] = set()
    for c in plan.cells.values():
        key = (c.pos[0], *(c.pos[1 + j] for j in date_params))
        if key in filled:
            continue
        s = c.spec
        times = cal.step_times(s.start, s.horizon, s.steps_per_day)[:: s.steps_per_day]
        arr[key][: len(times)] = np.asarray(times, dtype="datetime64[ns]")
        filled.add(key)
    return dims, arr


def build_template(plan: SweepPlan, schema: dict, attrs: dict) -> tuple[xr.Dataset, dict]:
    """The template dataset (lazy dask data variables, real coordinates and status) and its encoding."""
    import dask.array as da

    lead = plan.dims
    lead_shape = plan.shape
    sizes = {"strategy": len(plan.strategy_labels), "path": plan.n_paths, "day": plan.n_days + 1, "layer": len(plan.layers),
             "quantile": len(schema["coords"]["quantile"]["values"]), "claim": len(schema["coords"]["claim"]["values"])}
    cattrs = {k: v.get("attrs", {}) for k, v in schema["coords"].items()}
    coords: dict[str, Any] = {"scenario": ("scenario", np.asarray([s.name for s in plan.scenarios]), {"long_name": "scenario id"})}
    for p in plan.params:
        coords[p.dim] = (p.dim, p.coord(), {"long_name": f"swept parameter {p.key}", "key": p.key, "field": p.target, "level": p.level,
                                            "units": "as in the scenario/strategy file"})
    coords["strategy"] = ("strategy", np.asarray(plan.strategy_labels), cattrs.get("strategy", {}))
    coords["path"] = ("path", np.arange(plan.n_paths, dtype=np.int64), cattrs.get("path", {}))
    coords["day"] = ("day", np.arange(plan.n_days + 1, dtype=np.int64), cattrs.get("day", {}))
    coords["layer"] = ("layer", np.asarray(plan.layers, dtype=np.int64), cattrs.get("layer", {}))
    coords["quantile"] = ("quantile", np.asarray(schema["coords"]["quantile"]["values"], dtype=np.float64), cattrs.get("quantile", {}))
    coords["claim"] = ("claim", np.asarray(schema["coords"]["claim"]["values"]), cattrs.get("claim", {}))
    ddims, dates = _dates(plan)
    coords["date"] = (ddims, dates, {**cattrs.get("date", {}), "long_name": "session close, New York local (NaT past the scenario's horizon)"})

    data_vars: dict[str, Any] = {}
    encoding: dict[str, dict] = {}
    for name, meta in schema["vars"].items():
        dims = (*lead, *meta["dims"])
        shape = (*lead_shape, *(sizes[d] for d in meta["dims"]))
        data_vars[name] = (dims, da.empty(shape, dtype=np.dtype(meta["dtype"]), chunks=shape), meta["attrs"])
        encoding[name] = {"chunks": (*(1 for _ in lead), *(sizes[d] for d in meta["dims"]))}
    status = np.where(plan.included(), STATUS["missing"], STATUS["not_in_sweep"]).astype(np.int8)
    data_vars["cell_status"] = (lead, status, {
        "long_name": "sweep cell status", "units": "1",
        "flag_values": np.asarray([-1, 0, 1, 2], dtype=np.int8), "flag_meanings": "not_in_sweep missing done failed",
    })
    encoding["cell_status"] = {"chunks": tuple(1 for _ in lead), "_FillValue": None}
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    return ds, encoding


# ------------------------------------------------------------------------------------ template + lock
def _lock_owner(lock: Path) -> dict | None:
    try:
        return json.loads((lock / "owner.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, NotADirectoryError):
        return None


def _lock_is_stale(lock: Path, stale_after: float) -> bool:
    owner = _lock_owner(lock)
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if owner is None:
        return age > 30.0  # owner file not written: the creator died right after mkdir
    if owner.get("host") == socket.gethostname() and not pid_alive(int(owner.get("pid", -1))):
        return True
    return age > stale_after


def _break_lock(lock: Path) -> None:
    grave = lock.with_name(f"{lock.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(lock, grave)
    except OSError:
        return  # someone else broke or released it
    shutil.rmtree(grave, ignore_errors=True)


def ensure_template(plan: SweepPlan, out: str | os.PathLike, make: Callable[[], tuple[xr.Dataset, dict]], *,
                    stale_after: float = STALE_AFTER, poll: float = 0.2, on_wait: Callable[[dict | None], None] | None = None,
                    replace: bool = False) -> str:
    """Make sure the store at ``out`` holds this sweep's template; write it if nobody has.

    ``make()`` returns ``(template dataset, encoding)``; it is only called by
    the process that writes the template.  Returns ``"created"`` or ``"found"``.
    Raises :class:`SpecError` when ``out`` holds something else - unless
    ``replace`` is true and it holds a store of another sweep: the new template
    then takes its place once complete (:func:`gpu_alvh.stores` exchange).
    """
    from ..stores import move_into_place, store_kind

    out = Path(out)
    lock = out.with_name(out.name + LOCK_SUFFIX)
    waited = False

    def other_sweep() -> bool:
        meta = read_meta(out)
        return replace and store_kind(out) == "sweep" and (meta is None or meta.get("hash") != plan.hash)

    while True:
        if not _absent(out) and not other_sweep():
            check_store(out, plan)
            return "found"
        try:
            os.mkdir(lock)
        except FileExistsError:
            if _lock_is_stale(lock, stale_after):
                _break_lock(lock)
                continue
            if on_wait is not None and not waited:
                on_wait(_lock_owner(lock))
            waited = True
            time.sleep(poll)
            continue
        try:
            _write_json_atomic(lock / "owner.json", {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()})
            if not _absent(out) and not other_sweep():  # finished by another process between our check and the mkdir
                continue
            for old in out.parent.glob(out.name + TMP_INFIX + "*"):  # left by a writer that died
                shutil.rmtree(old, ignore_errors=True)
            tmp = out.with_name(f"{out.name}{TMP_INFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                _write_template(plan, tmp, make)
                if not _absent(out) and other_sweep():
                    move_into_place(tmp, out, "sweep")
                    return "created"
                if out.exists() and out.is_dir() and not any(out.iterdir()):
                    os.rmdir(out)
                try:
                    os.rename(tmp, out)
                except OSError:
                    if _absent(out):
                        raise
                    check_store(out, plan)  # another writer won (broken lock): use theirs
                    return "found"
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return "created"
        finally:
            try:
                (lock / "owner.json").unlink(missing_ok=True)
                os.rmdir(lock)
            except OSError:
                pass


def _write_template(plan: SweepPlan, tmp: Path, make: Callable[[], tuple[xr.Dataset, dict]]) -> None:
    ds, encoding = make()
    ds.to_zarr(tmp, mode="w-", compute=False, consolidated=False, zarr_format=ZARR_FORMAT, encoding=encoding)
    meta = {
        "format": plan.identity["format"],
        "hash": plan.hash,
        "name": plan.name,
        "source": plan.source,
        "created": _now(),
        "identity": plan.identity,
        "dims": [{"dim": "scenario", "values": [s.name for s in plan.scenarios]}]
        + [{"dim": p.dim, "key": p.key, "field": p.target, "level": p.level, "values": list(p.values)} for p in plan.params],
        "shape": list(plan.shape),
        "n_cells": len(plan.cells),
        "n_passes": len(plan.passes),
        "template_writer": {"pid": os.getpid(), "host": socket.gethostname()},
    }
    _write_json_atomic(tmp / META_DIR / META_FILE, meta)
    # an empty Zarr group, so that Zarr readers listing the store see a group (and look no further) instead of
    # warning about an unknown object; the bookkeeping inside is plain JSON
    _write_json_atomic(tmp / META_DIR / ".zgroup", {"zarr_format": 2})
    _write_json_atomic(tmp / META_DIR / ".zattrs", {"description": "gpu_alvh sweep bookkeeping: sweep.json, failed/*.json, events/*.json (plain JSON, not arrays)"})
    (tmp / META_DIR / "failed").mkdir(exist_ok=True)
    record_event(tmp, "template", hash=plan.hash)


# ------------------------------------------------------------------------------------ status
def read_status(out: str | os.PathLike) -> np.ndarray:
    """``cell_status`` as an int8 array over ``(scenario, *params)`` (see the module docstring)."""
    import zarr

    arr = zarr.open_array(store=str(Path(out) / "cell_status"), mode="r", zarr_format=ZARR_FORMAT)
    return np.asarray(arr[...], dtype=np.int8)


class StoreLayout:
    """What a worker needs to write cells: the template's dims, dtypes and coordinates (read once)."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        ds = xr.open_zarr(self.out, consolidated=False, chunks=None, decode_times=False, mask_and_scale=False)
        self.lead = tuple(ds["cell_status"].dims)
        self.vars = {k: (tuple(v.dims), np.dtype(v.dtype)) for k, v in ds.data_vars.items() if k != "cell_status"}
        self.days = np.asarray(ds["day"].values)
        self.layers = np.asarray(ds["layer"].values)
        self.strategies = [str(s) for s in ds["strategy"].values]
        self.n_paths = int(ds.sizes["path"])
        ds.close()

    def region(self, pos: tuple[int, ...]) -> dict[str, slice]:
        return {d: slice(int(i), int(i) + 1) for d, i in zip(self.lead, pos)}

    def cell_region_dataset(self, cell: xr.Dataset, pos: tuple[int, ...]) -> xr.Dataset:
        """The cell's results shaped like its region of the template (padded days/layers are NaN)."""
        labels = [str(s) for s in cell["strategy"].values]
        if labels != self.strategies:
            raise ValueError(f"cell strategies {labels} differ from the store's {self.strategies}")
        if int(cell.sizes["path"]) != self.n_paths:
            raise ValueError(f"cell has {cell.sizes['path']} paths, the store {self.n_paths}")
        missing = sorted(set(self.vars) - set(cell.data_vars))
        if missing:
            raise ValueError(f"cell results lack variables {missing} of the store")
        cell = cell.drop_vars([c for c in ("date",) if c in cell.coords])
        cell = cell.reindex(day=self.days, layer=self.layers)
        k = len(self.lead)
        data = {}
        for name, (dims, dtype) in self.vars.items():
            v = cell[name].transpose(*dims[k:])
            arr = np.asarray(v.values)
            if dtype.kind == "U":
                width = dtype.itemsize // 4
                if arr.size and max(len(str(x)) for x in arr.ravel()) > width:
                    raise ValueError(f"{name}: a string is longer than the store's {width} characters")
            arr = arr.astype(dtype, copy=False)
            data[name] = (dims, arr.reshape((1,) * k + arr.shape))
        return xr.Dataset(data)


def write_cell(layout: StoreLayout, pos: tuple[int, ...], cell: xr.Dataset) -> None:
    """Write one cell's data variables into its region (whole chunks; ``mode="r+"``; no metadata)."""
    region_ds = layout.cell_region_dataset(cell, pos)
    region_ds.to_zarr(layout.out, region=layout.region(pos), mode="r+", consolidated=False, zarr_format=ZARR_FORMAT)


def write_status(layout: StoreLayout, pos: tuple[int, ...], code: int) -> None:
    """Set one cell's ``cell_status`` (one whole chunk)."""
    k = len(layout.lead)
    ds = xr.Dataset({"cell_status": (layout.lead, np.full((1,) * k, code, dtype=np.int8))})
    ds.to_zarr(layout.out, region=layout.region(pos), mode="r+", consolidated=False, zarr_format=ZARR_FORMAT)


# ------------------------------------------------------------------------------------ sidecars
def record_event(out: str | os.PathLike, kind: str, cell: int | None = None, **info: Any) -> None:
    """One JSON file per event in ``.sweep/events/`` (unique names: no appends, no contention)."""
    pid = os.getpid()
    stem = f"{kind}-{cell:06d}" if cell is not None else kind
    path = Path(out) / META_DIR / "events" / f"{stem}-{pid}-{time.time_ns()}.json"
    _write_json_atomic(path, {"kind": kind, "cell": cell, "pid": pid, "host": socket.gethostname(), "time": _now(), **info})


def read_events(out: str | os.PathLike, kind: str | None = None) -> list[dict]:
    """All events of a store (optionally of one kind), oldest first."""
    folder = Path(out) / META_DIR / "events"
    events = []
    for p in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            ev = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if kind is None or ev.get("kind") == kind:
            events.append(ev)
    return sorted(events, key=lambda e: e.get("time", ""))


def record_failure(out: str | os.PathLike, cell: int, info: dict) -> None:
    _write_json_atomic(Path(out) / META_DIR / "failed" / f"c{cell:06d}.json", {"cell": cell, "time": _now(), **info})


def clear_failure(out: str | os.PathLike, cell: int) -> None:
    (Path(out) / META_DIR / "failed" / f"c{cell:06d}.json").unlink(missing_ok=True)


def read_failures(out: str | os.PathLike) -> dict[int, dict]:
    folder = Path(out) / META_DIR / "failed"
    found = {}
    for p in sorted(folder.glob("c*.json")) if folder.exists() else []:
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            found[int(d["cell"])] = d
        except (OSError, json.JSONDecodeError, KeyError, ValueError):
            continue
    return found

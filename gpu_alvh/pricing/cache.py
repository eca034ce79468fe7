"""Pricing tables built once per pricing market and kept on disk.

A table (:class:`~gpu_alvh.pricing.tables.SpxTable`, :class:`~gpu_alvh.pricing.vix.VixTable`) depends
only on the pricing model's parameters, the rates and the build settings, and takes seconds to minutes
of COS pricing to build; a run reads it in milliseconds.  :func:`cached_table` therefore

1. builds every table on the host (NumPy, float64), whatever the run's backend and dtype, so float32
   runs, the CUDA simulator and a GPU read the *same* node values (cast and uploaded: the only
   differences between backends are the lookups' own roundings);
2. keeps that host build in the process and writes it to
   ``<cache dir>/tables/<class>-<key>.npz`` (:func:`gpu_alvh.kernels.build.cache_dir`; ``$ALVH_CACHE_DIR``),
   written to a temporary file and renamed into place, read back with ``allow_pickle=False``.

The key hashes the class, the model class and parameters, the build arguments and the source of the
pricing and model modules, so a code change or another market never reads a stale table; a file that
cannot be read (truncated, foreign) is rebuilt and replaced.  ``ALVH_TABLE_CACHE=0`` turns the disk
part off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import Backend, get_backend
from .interp import UniformAxis

__all__ = ["cached_table", "table_key"]

_PACKAGE = Path(__file__).resolve().parents[1]
_MEMO: dict[str, Any] = {}
_MEMO_SIZE = 16


@lru_cache(maxsize=1)
def _code_hash() -> str:
    h = hashlib.sha256()
    for folder in ("pricing", "models"):
        for path in sorted((_PACKAGE / folder).glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def table_key(cls, model, kwargs: dict) -> str:
    """Hex key of one build: class, model class and parameters, build arguments, code."""
    doc = {"table": cls.__name__, "model": type(model).__name__, "params": model.to_dict(),
           "kwargs": {k: kwargs[k] for k in sorted(kwargs)}, "code": _code_hash()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=repr).encode()).hexdigest()[:24]


def _path(cls, key: str) -> Path:
    from ..kernels.build import cache_dir

    return cache_dir() / "tables" / f"{cls.__name__}-{key}.npz"


def _plain(o):
    return o.tolist() if hasattr(o, "tolist") else list(o)


def _save(table, path: Path) -> None:
    arrays, meta = {}, {}
    for f in dataclasses.fields(table):
        v = getattr(table, f.name)
        if f.name in ("backend", "model", "dtype"):
            continue
        if isinstance(v, np.ndarray):
            arrays[f.name] = v
        elif isinstance(v, UniformAxis):
            meta[f.name] = {"axis": [v.start, v.step, v.n]}
        else:
            meta[f.name] = {"value": v}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, __meta__=np.array(json.dumps(meta, default=_plain)), **arrays)
    os.replace(tmp, path)


def _load(cls, path: Path, model, host):
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        kw = {k: z[k] for k in z.files if k != "__meta__"}
    for name, m in meta.items():
        kw[name] = UniformAxis(float(m["axis"][0]), float(m["axis"][1]), int(m["axis"][2])) if "axis" in m else m["value"]
    if "order" in kw and isinstance(kw["order"], list):
        kw["order"] = tuple(kw["order"])
    names = {f.name for f in dataclasses.fields(cls)}
    if set(kw) | {"backend", "model", "dtype"} != names:
        raise ValueError(f"{path}: fields {sorted(kw)} do not match {cls.__name__}")
    return cls(backend=host, model=model, dtype=np.dtype("float64"), **kw)


def _host_table(cls, model, kwargs: dict, on_build=None):
    key = table_key(cls, model, kwargs)
    if key in _MEMO:
        return _MEMO[key]
    host = get_backend("numpy")
    use_disk = os.environ.get("ALVH_TABLE_CACHE", "1") != "0"
    table = None
    if use_disk:
        path = _path(cls, key)
        if path.exists():
            try:
                table = _load(cls, path, model, host)
            except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
                table = None  # unreadable (truncated, foreign): rebuilt and replaced below
    if table is None:
        if on_build is not None:
            on_build(f"building the {cls.__name__} of {type(model).__name__} {model.to_dict()} (once per pricing model; kept on disk"
                     f"{' in ' + str(_path(cls, key).parent) if use_disk else ''})")
        table = cls.build(model, backend=host, dtype="float64", **kwargs)
        if use_disk:
            try:
                _save(table, _path(cls, key))
            except OSError:
                pass  # a read-only cache directory only costs the next process a rebuild
    while len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = table
    return table


def cached_table(cls, model, *, backend, dtype, on_build=None, **kwargs):
    """``cls.build(model, backend=backend, dtype=dtype, **kwargs)``, from the host float64 build cached in
    the process and on disk: its arrays cast to ``dtype`` and moved to ``backend``.  ``on_build(message)``
    is called before a table is actually built (seconds to a minute of COS pricing)."""
    host = _host_table(cls, model, kwargs, on_build)
    be = backend if isinstance(backend, Backend) else get_backend(backend)
    dt = np.dtype(dtype)
    changes = {f.name: be.xp.asarray(getattr(host, f.name).astype(dt)) for f in dataclasses.fields(host)
               if isinstance(getattr(host, f.name), np.ndarray)}
    return dataclasses.replace(host, backend=be, dtype=dt, **changes)

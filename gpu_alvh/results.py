"""Results: the one device->host boundary, xarray datasets, provenance, Zarr I/O.

Everything that leaves the device goes through :func:`to_host`.  Datasets carry
``units`` and ``long_name`` on every variable and CF-style provenance in the
global attributes (package version, git revision, spec JSON and hash, seed, RNG,
backend, device, library versions, path count, creation time, ``history``).
Stores are written with xarray/Zarr; nothing is pickled.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .backend import Backend

__all__ = ["to_host", "paths_dataset", "provenance", "write_zarr", "open_results", "git_revision", "VAR_META"]

RNG_NAME = "Philox4x32-10 (counter: path, step, block; key: seed, crc32(scenario)); Box-Muller normals"

#: units and long names of the variables written by gpu_alvh.
VAR_META: dict[str, tuple[str, str]] = {
    "spx": ("index points", "S&P 500 index level"),
    "variance": ("1/year", "instantaneous variance state v (decimal, annualised)"),
    "vix": ("index points", "model-implied VIX, 100*sqrt(a*v + b) under the pricing model"),
}


def to_host(backend: Backend, a) -> np.ndarray:
    """Copy a device array to a host NumPy array (the only device->host copy)."""
    return np.asarray(backend.to_host(a))


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """Git revision of the source tree the package runs from, if any (``-dirty`` when modified)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("-dirty" if dirty else "")) or None


def _command_line() -> str:
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0]) or "python", *sys.argv[1:]])


def provenance(*, backend: Backend, seed: int, n_paths: int, specs: dict[str, Any] | None = None, dtype=None, extra: dict | None = None) -> dict[str, Any]:
    """Global attributes recording how a dataset was made (JSON-safe scalars/strings)."""
    from . import __version__
    from .spec import canonical_json, spec_hash

    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    attrs: dict[str, Any] = {
        "title": "gpu_alvh Monte Carlo results",
        "gpu_alvh_version": __version__,
        "git_revision": git_revision() or "unknown",
        "seed": int(seed),
        "rng": RNG_NAME,
        "backend": backend.name,
        "device": backend.device,
        "library_versions": json.dumps(backend.versions, sort_keys=True),
        "n_paths": int(n_paths),
        "created": now,
        "history": f"{now} {_command_line()}",
        "Conventions": "CF-1.10",
    }
    if dtype is not None:
        attrs["dtype"] = np.dtype(dtype).name
    if specs:
        attrs["spec_json"] = json.dumps({k: json.loads(canonical_json(s)) for k, s in specs.items()}, sort_keys=True)
        attrs["spec_hash"] = json.dumps({k: spec_hash(s) for k, s in specs.items()}, sort_keys=True)
    if extra:
        attrs.update(extra)
    return attrs


def paths_dataset(compiled, host: dict[str, np.ndarray], *, backend: Backend, seed: int, elapsed: float | None = None) -> xr.Dataset:
    """Dataset of simulated paths ``(path, step)`` from host arrays."""
    n_paths, n1 = next(iter(host.values())).shape
    data_vars = {}
    for k, a in host.items():
        units, long_name = VAR_META[k]
        data_vars[k] = xr.Variable(("path", "step"), a, attrs={"units": units, "long_name": long_name})
    coords = {
        "path": ("path", np.arange(n_paths, dtype=np.int64), {"long_name": "global path index"}),
        "step": ("step", np.arange(n1, dtype=np.int64), {"long_name": "simulation step (0 = start close)"}),
        "time": ("step", compiled.times, {"long_name": "step end time, New York local"}),
        "day": ("step", compiled.day.astype(np.int64), {"long_name": "trading-day index (0 = start)", "units": "1"}),
    }
    extra = {"scenario": compiled.name, "model": compiled.model_p.name, "scheme": compiled.scheme, "steps_per_day": int(compiled.steps_per_day)}
    if elapsed is not None:
        extra["elapsed_seconds"] = float(elapsed)
    attrs = provenance(backend=backend, seed=seed, n_paths=n_paths, specs={compiled.name: compiled.spec}, dtype=compiled.dtype, extra=extra)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def write_zarr(ds: xr.Dataset, path: str | os.PathLike, *, mode: str = "w", chunks: dict | None = None) -> Path:
    """Write a dataset to a Zarr store (format 3, no consolidated metadata)."""
    path = Path(path)
    if chunks:
        ds = ds.chunk(chunks)
    ds.to_zarr(path, mode=mode, consolidated=False)
    return path


def open_results(path: str | os.PathLike) -> xr.Dataset:
    """Open a results store lazily (dask-backed)."""
    path = Path(path)
    if not path.exists():
        from .errors import SpecError

        raise SpecError.single("argument", "path", str(path), "allowed: an existing Zarr store written by gpu_alvh")
    return xr.open_zarr(path, consolidated=False, chunks={})

"""gpu_alvh: GPU Monte Carlo stress tests of the ALVH (Adaptive Layered VIX Hedge) strategy.

Public API (see the README):

* :func:`get_backend` - array backend (``"auto"``, ``"numpy"``, ``"cupy"``);
* :func:`load_scenario` - validated, immutable scenario spec from YAML / dict / library name;
* :func:`simulate` - joint SPX / variance / VIX paths as an ``xarray.Dataset``;
* :func:`run` - the ALVH book and its baselines, metrics and claims (``xarray.Dataset``);
* :func:`trace` - the step-by-step state of chosen paths, with a bookkeeping audit;
* :func:`price_options` / :func:`price_vix` - Fourier (COS) SPX option prices, VIX futures and options;
* :func:`sweep` - parameter grids x scenarios into one Zarr store (local, Dask, array-job shards; resumable);
* :func:`open_results` - open a results store (or a sweep) lazily;
* :func:`report` - the HTML report (figures as PNG and SVG) of a run or sweep store.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gpu-alvh")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

from ._lazy import exports
from .report import report  # eager: the subpackage gpu_alvh.report would otherwise shadow the function (cheap)

#: Public name -> the submodule that defines it (imported on first use: :mod:`gpu_alvh._lazy`).
_EXPORTS = {
    "Backend": ".backend", "get_backend": ".backend",
    "AlvhError": ".errors", "BackendUnavailableError": ".errors", "NonFiniteError": ".errors", "SpecError": ".errors",
    "simulate": ".paths", "price_options": ".pricing", "price_vix": ".pricing",
    "open_results": ".results", "run": ".runner", "trace": ".runner", "load_scenario": ".spec", "sweep": ".sweeps",
}
__getattr__, __dir__ = exports(__name__, _EXPORTS)

__all__ = [
    "__version__",
    "Backend",
    "get_backend",
    "load_scenario",
    "simulate",
    "run",
    "trace",
    "sweep",
    "price_options",
    "price_vix",
    "open_results",
    "report",
    "AlvhError",
    "SpecError",
    "NonFiniteError",
    "BackendUnavailableError",
]

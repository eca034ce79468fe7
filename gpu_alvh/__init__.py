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

from .backend import Backend, get_backend
from .errors import AlvhError, BackendUnavailableError, NonFiniteError, SpecError
from .paths import simulate
from .pricing import price_options, price_vix
from .report import report
from .results import open_results
from .runner import run, trace
from .spec import load_scenario
from .sweeps import sweep

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

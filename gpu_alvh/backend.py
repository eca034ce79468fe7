"""Array backends: one engine, written once against an array namespace ``xp``.

A :class:`Backend` bundles what the engine needs from an array library:

* ``xp`` - the array namespace (``numpy`` or ``cupy``);
* ``special`` - ``ndtr``/``ndtri``/``erf`` ufuncs (``scipy.special`` or
  ``cupyx.scipy.special``);
* ``to_host`` - the single device->host copy used by :mod:`gpu_alvh.results`;
* ``oom_errors`` - exceptions meaning "batch too large", so callers can split
  a batch and retry;
* ``workers`` - CPU threads that run independent path batches concurrently
  (NumPy ufuncs release the GIL); 1 on a GPU.

This is the **only** module that imports CuPy.  The NumPy backend itself lives
in :mod:`cpu_fallback.numpy_backend`; backends are resolved by name through the
registry :data:`BACKENDS`, xarray-style: :func:`get_backend` takes a name, a
:class:`Backend` or ``None`` (= ``"auto"``), and its error lists valid names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import BackendUnavailableError

__all__ = ["Backend", "get_backend", "BACKENDS", "available_backends", "cupy_status"]

CUPY_INSTALL_HINT = ("pip install 'gpu-alvh[cuda12]' or 'gpu-alvh[cuda13]'  (installs cupy-cuda12x / cupy-cuda13x; "
                     "needs an NVIDIA driver for that CUDA version)")


@dataclass(frozen=True)
class Backend:
    """An array backend.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"cupy"`` or ``"cudasim"``.
    xp : module
        Array namespace.
    special : object
        Namespace with ``ndtr``, ``ndtri``, ``erf``, ``log_ndtr`` ufuncs.
    device : str
        Human-readable device name (CPU model or GPU name).
    is_gpu : bool
        True when arrays live in GPU memory.
    workers : int
        Number of host threads used to run path batches concurrently.
    oom_errors : tuple of exception types
        Raised by the library when a batch does not fit in memory.
    versions : dict
        Library versions recorded in result provenance.
    kernel_target : str
        Where the fused per-path kernels run: ``"cpu"`` (Numba, ``prange``), ``"cuda"`` (numba-cuda
        on CuPy arrays) or ``"cudasim"`` (the CUDA kernels in Numba's simulator, on NumPy arrays).
    """

    name: str
    xp: Any
    special: Any
    device: str
    is_gpu: bool = False
    workers: int = 1
    oom_errors: tuple = (MemoryError,)
    versions: dict = field(default_factory=dict)
    kernel_target: str = "cpu"
    _to_host: Callable[[Any], Any] | None = field(default=None, repr=False, compare=False)
    _synchronize: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    _free_memory: Callable[[], int] | None = field(default=None, repr=False, compare=False)

    def asarray(self, a, dtype=None):
        """Move host data (or a scalar) onto this backend."""
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a):
        """Copy an array to a host NumPy array (identity on the NumPy backend)."""
        return a if self._to_host is None else self._to_host(a)

    def synchronize(self) -> None:
        """Wait until queued device work is done (no-op on the CPU)."""
        if self._synchronize is not None:
            self._synchronize()

    def free_memory(self) -> int:
        """Bytes of device (or host) memory currently available."""
        if self._free_memory is not None:
            return int(self._free_memory())
        return _host_free_memory()

    def with_workers(self, workers: int) -> "Backend":
        """Copy of this backend that runs ``workers`` host threads."""
        from dataclasses import replace

        return replace(self, workers=max(1, int(workers)))


def _host_free_memory() -> int:
    try:
        import psutil  # optional

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover - psutil missing
        try:
            pages = os.sysconf("SC_AVPHYS_PAGES")
            return int(pages * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 4 << 30


# --------------------------------------------------------------------------- CuPy
_CUPY_STATUS: tuple[bool, str] | None = None


def cupy_status() -> tuple[bool, str]:
    """Whether CuPy can run a kernel on a CUDA device, and why not if it cannot.

    The check runs a tiny reduction on the device, so a CuPy that imports but has
    no usable driver or device is reported as unavailable.  Cached per process.
    """
    global _CUPY_STATUS
    if _CUPY_STATUS is None:
        try:
            import cupy  # noqa: F401 - the one import of CuPy in the package

            n = cupy.cuda.runtime.getDeviceCount()
            if n < 1:
                raise RuntimeError("no CUDA device found")
            probe = float((cupy.arange(4, dtype=cupy.float64) * 2.0).sum().get())
            if probe != 12.0:
                raise RuntimeError(f"device arithmetic check failed ({probe} != 12)")
            _CUPY_STATUS = (True, "ok")
        except ImportError as exc:
            _CUPY_STATUS = (False, f"CuPy is not installed ({exc})")
        except Exception as exc:  # driver / runtime errors come in many types
            _CUPY_STATUS = (False, f"CuPy is installed but no CUDA device works ({type(exc).__name__}: {exc})")
    return _CUPY_STATUS


def _make_cupy_backend() -> Backend:
    ok, why = cupy_status()
    if not ok:
        raise BackendUnavailableError(f"backend 'cupy' is not available: {why}. Install it with: {CUPY_INSTALL_HINT}")
    import cupy
    import cupyx.scipy.special as cspecial

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])

    def free_memory() -> int:
        free, _total = cupy.cuda.runtime.memGetInfo()
        pool = cupy.get_default_memory_pool()
        return int(free + pool.free_bytes())

    versions = {
        "cupy": cupy.__version__,
        "cuda_runtime": str(cupy.cuda.runtime.runtimeGetVersion()),
        "cuda_driver": str(cupy.cuda.runtime.driverGetVersion()),
    }
    return Backend(
        name="cupy",
        xp=cupy,
        special=cspecial,
        device=name,
        is_gpu=True,
        workers=1,
        oom_errors=(cupy.cuda.memory.OutOfMemoryError, MemoryError),
        versions=versions,
        kernel_target="cuda",
        _to_host=cupy.asnumpy,
        _synchronize=cupy.cuda.get_current_stream().synchronize,
        _free_memory=free_memory,
    )


def _make_numpy_backend() -> Backend:
    from cpu_fallback.numpy_backend import make_backend

    return make_backend()


def _make_cudasim_backend() -> Backend:
    """NumPy arrays, with the fused kernels compiled for CUDA and run in Numba's CUDA simulator.

    A slow check (Python threads execute the GPU kernels' logic): for tests and for users without a GPU
    who want to see the CUDA code path run.  Use a few dozen paths."""
    from dataclasses import replace

    import numba

    base = _make_numpy_backend()
    return replace(base, name="cudasim", device="Numba CUDA simulator (on the CPU)", workers=1, kernel_target="cudasim",
                   versions={**base.versions, "numba": numba.__version__})


#: Registry of backend factories by name.  Adding a backend is one entry here.
BACKENDS: dict[str, Callable[[], Backend]] = {
    "numpy": _make_numpy_backend,
    "cupy": _make_cupy_backend,
    "cudasim": _make_cudasim_backend,
}

_CACHE: dict[str, Backend] = {}


def available_backends() -> list[str]:
    """Names of the backends that work on this machine."""
    names = ["numpy", "cudasim"]
    if cupy_status()[0]:
        names.append("cupy")
    return names


def get_backend(backend: "str | Backend | None" = "auto") -> Backend:
    """Resolve a backend from a name, an instance or ``None``.

    ``"auto"`` (or ``None``) picks CuPy only when a CUDA device actually runs a
    kernel, otherwise NumPy.  Asking for ``"cupy"`` on a machine without a
    working device raises :class:`BackendUnavailableError` with the install
    command.  Unknown names raise ``ValueError`` listing the valid ones.
    """
    if isinstance(backend, Backend):
        return backend
    name = "auto" if backend is None else str(backend).lower()
    if name == "auto":
        name = "cupy" if cupy_status()[0] else "numpy"
    if name not in BACKENDS:
        valid = ", ".join(["auto", *BACKENDS])
        raise ValueError(f"unknown backend {backend!r}; valid backends: {valid}")
    if name not in _CACHE:
        _CACHE[name] = BACKENDS[name]()
    return _CACHE[name]

"""Kernel entry points for every target, compiled once per process and cached on disk.

The per-path programs live in ordinary modules (``register_jitable`` functions).  Their entry points -
the CPU ``prange`` loops, the CUDA kernels, the local-array allocations - live in one small module that
this file *generates* into a cache directory and imports:

* its name carries a hash of every source file of the package that can reach a kernel (all but the
  host-only command line, results, reports, sweeps, calibration and benchmarks: :data:`_HOST_ONLY`), of
  Numba's version and of Python's, so a cached compilation can never be stale (Numba's own
  ``cache=True`` only watches the file of the cached function, not the files of the functions it calls);
* registries become code there: :data:`gpu_alvh.strategy.accumulators.UNITS` turns into straight-line
  dispatch functions, so adding an accumulator is one new file plus one registry line.

Targets (see :mod:`gpu_alvh.kernels`):

* ``"cpu"`` - ``entry.<name>_cpu(*args)``: ``njit(parallel=True, cache=True)``, compiled with LLVM's inlining
  threshold raised (:data:`CPU_INLINE_THRESHOLD`);
* ``"cuda"`` - ``numba.cuda.jit(entry.<name>_cuda)`` (:func:`cuda_entry`), launched on a 1-D grid sized from the device;
* ``"cudasim"`` - the same CUDA kernel in Numba's simulator (``numba.cuda.simulator.jit``).

Cache directory: ``$ALVH_CACHE_DIR``, else ``$XDG_CACHE_HOME/gpu_alvh``, else ``~/.cache/gpu_alvh``
(a temporary directory when none is writable).  Old generated modules are pruned.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numba

__all__ = ["entry_module", "cpu_kernel", "cuda_entry", "cuda_kernel", "launch", "cache_dir", "sources_hash", "TARGETS", "on_disk"]

TARGETS = ("cpu", "cuda", "cudasim")
_PACKAGE = Path(__file__).resolve().parents[1]
_KEEP = 12  # generated modules kept in the cache directory
_LOCK = threading.Lock()
#: LLVM's inlining threshold while the CPU entries compile (Numba leaves LLVM's -O3 default, 250, which
#: keeps the per-path program's row step, day close and overlay as calls: each passes some 40 arrays,
#: i.e. ~280 scalars, and LLVM optimises neither side across it).  Measured on base's book (one thread,
#: 1,000 paths; compilation of the book from scratch, one core): 250: 3.60 s, compiled in 65 s; 5,000:
#: 3.19 s / 72 s; 10,000: 2.58 s / 96 s; 100,000: 2.45 s / ~175 s; results bit for bit the same at every
#: threshold (inlining does not change IEEE arithmetic).
CPU_INLINE_THRESHOLD = 10_000
_LLVM_O3_THRESHOLD = 250


def cache_dir() -> Path:
    """Directory for generated entry modules and Numba's cache files (created on demand)."""
    for cand in (os.environ.get("ALVH_CACHE_DIR"), os.environ.get("XDG_CACHE_HOME") and str(Path(os.environ["XDG_CACHE_HOME"]) / "gpu_alvh"),
                 str(Path.home() / ".cache" / "gpu_alvh")):
        if not cand:
            continue
        path = Path(cand)
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return path
        except OSError:
            continue
    path = Path(tempfile.gettempdir()) / f"gpu_alvh-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    path.mkdir(parents=True, exist_ok=True)
    return path


#: host-only parts of the package (command line, results, reports, sweeps, calibration, benchmarks):
#: nothing in them is compiled into a kernel, so editing them does not recompile the entries
_HOST_ONLY = frozenset({"cli.py", "cli_sweep.py", "results.py", "metrics.py", "claims.py", "stores.py", "limits.py",
                        "runner.py", "run.py", "report", "sweeps", "calibration", "benchmarks", "data"})


@lru_cache(maxsize=1)
def sources_hash() -> str:
    """Hash of the ``.py`` files that can reach a kernel (all but :data:`_HOST_ONLY`) plus the Numba and
    Python versions (16 hex digits)."""
    h = hashlib.sha256()
    h.update(f"numba {numba.__version__} python {sys.version_info[:3]}".encode())
    for path in sorted(_PACKAGE.rglob("*.py")):
        if path.relative_to(_PACKAGE).parts[0] in _HOST_ONLY:
            continue
        h.update(str(path.relative_to(_PACKAGE)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _render() -> str:
    from . import templates

    return templates.render(sources_hash())


def _prune(directory: Path, keep: Path) -> None:
    olds = sorted(directory.glob("alvh_entry_*.py"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in olds[_KEEP:]:
        if p != keep:
            try:
                p.unlink()
            except OSError:
                pass


@lru_cache(maxsize=1)
def entry_module():
    """The generated entry module for the current sources (written once, then imported)."""
    with _LOCK:
        directory = cache_dir()
        path = directory / f"alvh_entry_{sources_hash()}.py"
        if not path.exists():
            text = _render()
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)  # atomic: concurrent processes write identical text
            _prune(directory, path)
        name = f"gpu_alvh_entry_{sources_hash()}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module


def on_disk(name: str, target: str) -> bool:
    """Whether entry ``name`` for ``target`` ("cpu" or "cuda") has a disk-cache index for the current
    sources (some process compiled it before; the simulator compiles nothing)."""
    if target == "cudasim":
        return True
    suffix = "cpu" if target == "cpu" else "cuda"
    return any((cache_dir() / "__pycache__").glob(f"alvh_entry_{sources_hash()}.{name}_{suffix}-*.nbi"))


def cpu_kernel(name: str):
    """The CPU entry ``<name>_cpu`` (a Numba dispatcher; compiled and disk-cached on first call)."""
    return getattr(entry_module(), f"{name}_cpu")


_CUDA_KERNELS: dict[tuple[str, bool], object] = {}


def cuda_entry(name: str):
    """The Python body ``<name>_cuda`` of the entry module, ready for a CUDA compilation (numba-cuda's
    ``cuda.jit`` / ``compile_ptx``, or the simulator): its global ``cuda`` set to ``numba.cuda`` (the
    simulator swaps it for its own while a kernel runs) and the CUDA forms of the target layer registered
    (:func:`gpu_alvh.kernels.target.register_cuda`).  A CPU process never comes here, so it never imports
    Numba's CUDA target."""
    from .target import register_cuda

    cuda = register_cuda()
    module = entry_module()
    module.cuda = cuda
    return getattr(module, f"{name}_cuda")


def cuda_kernel(name: str, simulator: bool = False):
    """The CUDA entry ``<name>_cuda`` compiled by numba-cuda, or wrapped by the CUDA simulator."""
    key = (name, simulator)
    if key not in _CUDA_KERNELS:
        fn = cuda_entry(name)
        if simulator:
            from numba.cuda import simulator as sim

            _CUDA_KERNELS[key] = sim.jit(fn)
        else:
            from numba import cuda

            _CUDA_KERNELS[key] = cuda.jit(fn, cache=True)
    return _CUDA_KERNELS[key]


def _grid(kernel, n: int, simulator: bool) -> tuple[int, int]:
    """(blocks, threads per block) for ``n`` threads: from the device (occupancy), or small in the simulator."""
    if simulator:
        threads = 32
    else:
        from numba import cuda

        dev = cuda.get_current_device()
        threads = int(min(256, dev.MAX_THREADS_PER_BLOCK))
        try:  # the compiled kernel's own limit (registers)
            spec = next(iter(kernel.overloads.values()))
            threads = int(min(threads, spec.max_threads_per_block))
        except Exception:  # noqa: BLE001 - not compiled yet, or attribute missing: keep the device default
            pass
        threads = max(32, threads // 32 * 32)
    return max(1, -(-n // threads)), threads


@contextmanager
def _inlining(threshold: int):
    """LLVM's ``-inline-threshold`` set to ``threshold`` for the compilations inside (a process-wide LLVM
    option, so it is set and put back under Numba's compiler lock, which every compilation holds; put
    back as the -O3 default, which is what Numba compiles with)."""
    from llvmlite import binding as llvm
    from numba.core.compiler_lock import global_compiler_lock

    with global_compiler_lock:
        llvm.set_option("gpu_alvh", f"-inline-threshold={int(threshold)}")
        try:
            yield
        finally:
            llvm.set_option("gpu_alvh", f"-inline-threshold={_LLVM_O3_THRESHOLD}")


def _cpu_call(kernel, args) -> None:
    """Call the CPU dispatcher ``kernel``; a signature it has not compiled (nor loaded from the disk
    cache) in this process is compiled first with :data:`CPU_INLINE_THRESHOLD`."""
    sig = tuple(kernel.typeof_pyval(a) for a in args)
    if sig not in kernel.overloads:
        with _inlining(CPU_INLINE_THRESHOLD):
            kernel.compile(sig)
    kernel(*args)


def launch(name: str, target: str, n: int, *args) -> None:
    """Run entry ``name`` over ``n`` threads (paths x rows) on ``target`` with ``args``."""
    if target == "cpu":
        _cpu_call(cpu_kernel(name), args)
        return
    if target not in TARGETS:
        raise ValueError(f"unknown kernel target {target!r}; valid targets: {', '.join(TARGETS)}")
    simulator = target == "cudasim"
    kernel = cuda_kernel(name, simulator)
    blocks, threads = _grid(kernel, n, simulator)
    kernel[blocks, threads](*args)

"""Shared fixtures: one test body runs on every available backend.

``backend`` / ``xp`` are parametrised over NumPy and CuPy; the CuPy cases carry
the ``gpu`` marker and are skipped unless a CUDA device actually runs a kernel
(checked by :func:`gpu_alvh.backend.cupy_status`, not by the import alone).
Run only the GPU cases with ``pytest -m gpu``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gpu_alvh.backend import cupy_status, get_backend

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ALVH_SHARED", REPO.parent / "shared"))

BACKEND_PARAMS = ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)]


def pytest_configure(config):
    """On the xdist controller (before any worker starts), compile the book and path programs once, in
    two processes (``tests/_warmup.py``): otherwise both workers compile each of them at the same time.
    ``ALVH_NO_WARMUP=1`` skips it; so does a run without workers."""
    opt = config.option
    if hasattr(config, "workerinput") or os.environ.get("ALVH_NO_WARMUP") or not getattr(opt, "numprocesses", None) or opt.collectonly:
        return
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "tests._warmup", part], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for part in ("book", "paths")]
    for p in procs:
        p.wait()


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """A :class:`~gpu_alvh.backend.Backend`; CuPy cases skip without a working device."""
    if request.param == "cupy":
        ok, why = cupy_status()
        if not ok:
            pytest.skip(f"cupy backend unavailable: {why}")
    return get_backend(request.param)


@pytest.fixture
def xp(backend):
    """Array namespace of :func:`backend`."""
    return backend.xp


@pytest.fixture
def gpu_backend():
    """The CuPy backend, or skip."""
    ok, why = cupy_status()
    if not ok:
        pytest.skip(f"cupy backend unavailable: {why}")
    return get_backend("cupy")


def to_numpy(a):
    """Host copy of a NumPy or CuPy array (tests only)."""
    get = getattr(a, "get", None)
    return np.asarray(get() if callable(get) else a)


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


def _empty_kernel(a):
    pass


@pytest.fixture
def ptx_sm90(monkeypatch):
    """PTX compilation for sm_90 without a GPU: device functions ask a device for its compute capability,
    which a fake device answers; skipped (with the reason) where the CUDA toolchain (NVRTC, libNVVM:
    ``pip install nvidia-cuda-nvrtc``) is missing.  Returns ``numba.cuda``."""
    import numba.cuda.dispatcher as dispatcher

    from gpu_alvh.kernels.target import register_cuda

    cuda = register_cuda()  # numba.cuda as the package compiles with it (NumPy 2.5 made acceptable)

    class FakeDevice:
        compute_capability = (9, 0)

    monkeypatch.setattr(dispatcher, "get_current_device", lambda: FakeDevice)
    try:
        cuda.compile_ptx(_empty_kernel, "void(float64[:])", cc=(9, 0))
    except Exception as exc:  # noqa: BLE001 - any missing piece of the CUDA toolchain
        pytest.skip(f"CUDA compilation not checked: {type(exc).__name__}: {exc}")
    return cuda


def vix_spec_errors(price, ref, F, K, T, is_call, rate):
    """Errors of VIX option prices against reference prices ``ref`` in units of SPEC section 5's
    tolerance ``max(0.02 points, 0.5% of ref)``, over its region: ``|delta| >= 0.01`` (Black-76 delta at
    the reference's implied vol, futures ``F``, expiry ``T`` years, discount at ``rate``).  Returns the
    errors of the points in the region (1-D)."""
    import math

    from scipy.special import ndtr

    from gpu_alvh.pricing.black import implied_vol

    K, ref, price = np.asarray(K, float), np.asarray(ref, float), np.asarray(price, float)
    iv = np.asarray(implied_vol(ref, F, K, T, discount=math.exp(-rate * T), is_call=is_call, backend="numpy"))
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(F / K) + 0.5 * iv * iv * T) / (iv * math.sqrt(T))
    delta = ndtr(d1) if is_call else ndtr(d1) - 1.0
    keep = np.isfinite(iv) & (iv > 0.0) & (np.abs(delta) >= 0.01)
    return (np.abs(price - ref) / np.maximum(0.02, 0.005 * ref))[keep]

"""Scalar special functions of the kernels against SciPy, compiled (CPU) and in the CUDA simulator."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc

from gpu_alvh.kernels.special import erfcx, ndtr, ndtri

from .kernel_harness import map_kernel


def _rel(a, b):
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


@pytest.mark.parametrize("target", ["cpu", "cudasim"])
def test_special_functions_match_scipy(target):
    rng = np.random.default_rng(3)
    n = 4000 if target == "cpu" else 300
    # uniforms like the engine's: (k + 1/2) 2^-53, over the whole range, both tails
    u = np.concatenate([rng.random(n), 10.0 ** -rng.uniform(1, 15.9, n // 4), 1.0 - 10.0 ** -rng.uniform(1, 15.9, n // 4), [2.0**-54]])
    z = ndtri_k = map_kernel(ndtri, target, u)
    ref = sc.ndtri(u)
    assert np.max(np.abs(ndtri_k - ref) / np.maximum(np.abs(ref), 1.0)) < 2e-15
    x = np.concatenate([rng.normal(0, 3, n), np.linspace(-37, 9, n // 4)])
    # erfc at a rounded argument: relative conditioning ~ x^2 eps in the far left tail
    assert np.all(_rel(map_kernel(ndtr, target, x), sc.ndtr(x)) < 1e-15 * (1.0 + x * x))
    y = np.concatenate([rng.normal(0, 6, n), np.linspace(-26.5, 400, n // 2), [11.999999, 12.0, 1e6]])
    got, want = map_kernel(erfcx, target, y), sc.erfcx(y)
    # for x < -5 SciPy rounds x*x before exp (relative error ~ 2 x^2 eps); the reference there is
    # 2 exp(x^2) in extended precision (erfcx(-x) < 1e-11 of it)
    neg = y < -5.0
    want[neg] = (2.0 * np.exp(np.longdouble(y[neg]) ** 2) - sc.erfcx(-y[neg])).astype(float)
    assert np.max(_rel(got, want)) < 1e-14, y[np.argmax(_rel(got, want))]
    assert np.isinf(map_kernel(erfcx, target, np.array([-27.0]))).all()
    assert np.isfinite(z).all()


def test_the_kernel_cache_key_skips_only_host_code():
    """The entry modules' hash leaves out the host-only parts of the package; none of them holds kernel
    code (``jitable`` functions) or is imported by the modules that do, so leaving them out cannot make a
    cached compilation stale."""
    import re
    from pathlib import Path

    from gpu_alvh.kernels import build

    pkg = Path(build.__file__).resolve().parents[1]
    host = [p for p in pkg.rglob("*.py") if p.relative_to(pkg).parts[0] in build._HOST_ONLY]
    assert host
    for p in host:
        if p.relative_to(pkg).parts[0] == "benchmarks":
            continue  # its own micro-kernels, compiled by Numba's cache next to them, not through the entries
        assert not re.search(r"\bjitable\b|\bnumba\b", p.read_text()), p
    names = {n.removesuffix(".py") for n in build._HOST_ONLY}
    for p in pkg.rglob("*.py"):
        if p.relative_to(pkg).parts[0] in build._HOST_ONLY:
            continue
        for m in re.finditer(r"^\s*from \.+(\w+)", p.read_text(), re.M):
            if re.search(r"\bjitable\b", p.read_text()):
                assert m.group(1) not in names, (p, m.group(1))

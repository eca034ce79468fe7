"""CPU entries compile with LLVM's inlining threshold raised, and the process-wide option is put back.

``gpu_alvh.kernels.build._cpu_call`` compiles a signature the dispatcher lacks inside ``_inlining``
(``llvmlite.binding.set_option("-inline-threshold=...")`` under Numba's compiler lock) and restores the
-O3 default afterwards, also when the compilation fails; a signature already compiled sets nothing.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from llvmlite import binding as llvm

from gpu_alvh.kernels import build


@pytest.fixture
def options(monkeypatch):
    """The ``-inline-threshold`` values set, in order (the real option is set too)."""
    seen: list[int] = []
    real = llvm.set_option

    def record(name, option):
        if option.startswith("-inline-threshold="):
            seen.append(int(option.split("=", 1)[1]))
        real(name, option)

    monkeypatch.setattr(llvm, "set_option", record)
    return seen


def test_a_new_signature_compiles_under_the_raised_threshold_then_it_is_put_back(options):
    @numba.njit(cache=False)
    def fill(o, x):
        o[0] = 2.0 * x

    during = []
    compile_ = fill.compile

    def spy(sig):
        during.append(list(options))
        return compile_(sig)

    fill.compile = spy
    out = np.zeros(1)
    build._cpu_call(fill, (out, 1.5))
    assert out[0] == 3.0
    assert during == [[build.CPU_INLINE_THRESHOLD]]  # compiled while the threshold was raised
    assert options == [build.CPU_INLINE_THRESHOLD, build._LLVM_O3_THRESHOLD]
    build._cpu_call(fill, (out, 2.0))  # compiled already: nothing set again
    assert out[0] == 4.0
    assert during == [[build.CPU_INLINE_THRESHOLD]]
    assert options == [build.CPU_INLINE_THRESHOLD, build._LLVM_O3_THRESHOLD]


def test_a_failed_compilation_puts_the_threshold_back(options):
    @numba.njit(cache=False)
    def bad(o, x):
        o[0] = x.no_such_attribute

    with pytest.raises(numba.core.errors.TypingError):
        build._cpu_call(bad, (np.zeros(1), 1.0))
    assert options == [build.CPU_INLINE_THRESHOLD, build._LLVM_O3_THRESHOLD]

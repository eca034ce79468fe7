"""Compile the big Numba entries once, before the test workers start (``conftest.pytest_configure``).

Run by the xdist controller as ``python -m tests._warmup PART`` (two parts in parallel, one per core):
the workers then read the compiled entries from the on-disk cache instead of each compiling its own
copy at the same moment.  Nothing here is a test; a failure only costs the time saved.

* ``book``: the book program (``gpu_alvh.run`` on ``base``, CPU float64) and ``base``'s pricing tables;
* ``paths``: the path program, float64 and float32 (``gpu_alvh.simulate``).
"""

from __future__ import annotations

import sys


def main(part: str) -> None:
    import gpu_alvh

    if part == "book":
        gpu_alvh.run("base", n_paths=2, seed=1, backend="numpy")
    elif part == "paths":
        for dtype in ("float64", "float32"):
            gpu_alvh.simulate("base", n_paths=8, seed=1, backend="numpy", dtype=dtype)
    else:
        raise SystemExit(f"unknown warm-up part {part!r}: book or paths")


if __name__ == "__main__":
    main(sys.argv[1])

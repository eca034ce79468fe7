"""Compile the CUDA entries (filling the kernel cache) and report what each costs the chip: registers and
local memory per thread, the block size the launch uses, and the occupancy that leaves (bench/gpu_check.sh,
on a lent GPU machine).

    python bench/gpu_kernels.py [--only book|paths|replay ...]

Each run goes through the CuPy backend, so that its entries are compiled (or loaded from the kernel cache):
``book`` the book (``base``, 256 paths); ``paths`` the path program, float64 and float32; ``replay`` a
historical replay (``covid_2020``, 64 paths).  The seconds of each run are printed as it ends (the first
run of an entry is its compilation: on the H200 machine of 2026-12-04 the book's took over 160 s, more
than any stage of that gpu_check gave it), then numba-cuda's resource report of each compiled overload.
A register count near 255 or any local memory per thread means spilled state: the first thing to look at
when the book's rate is far from its target.  Exit code 1 if a run failed (its error is printed), else 0.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

RUNS = ("book", "paths", "replay")


def _runs(names):
    import gpu_alvh
    from gpu_alvh.runner import run_scenario

    table = {"book": [("book base", lambda: run_scenario("base", n_paths=256, seed=1, backend="cupy"))],
             "paths": [("paths float64", lambda: gpu_alvh.simulate("base", n_paths=256, seed=1, backend="cupy")),
                       ("paths float32", lambda: gpu_alvh.simulate("base", n_paths=256, seed=1, backend="cupy", dtype="float32"))],
             "replay": [("replay covid_2020", lambda: run_scenario("covid_2020", n_paths=64, seed=1, backend="cupy"))]}
    return [r for name in names for r in table[name]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=RUNS, help="run only these (repeat); default all")
    args = ap.parse_args(argv)

    from gpu_alvh.kernels import build
    from gpu_alvh.kernels.target import register_cuda

    cuda = register_cuda()
    dev = cuda.get_current_device()
    regs_per_sm = int(getattr(dev, "MAX_REGISTERS_PER_MULTIPROCESSOR", 65536))
    threads_per_sm = int(getattr(dev, "MAX_THREADS_PER_MULTI_PROCESSOR", 2048))
    print(f"device {dev.name.decode() if isinstance(dev.name, bytes) else dev.name}: compute capability {dev.compute_capability}, "
          f"{int(dev.MULTIPROCESSOR_COUNT)} SMs, {regs_per_sm} registers and {threads_per_sm} threads per SM", flush=True)
    failed = 0
    for what, fn in _runs(args.only or RUNS):
        t0 = time.perf_counter()
        try:
            fn()
            print(f"{what}: {time.perf_counter() - t0:.1f} s (compilation or cache load, and the run)", flush=True)
        except Exception:  # noqa: BLE001 - report every failure, go on with the others
            failed = 1
            print(f"{what}: FAILED after {time.perf_counter() - t0:.1f} s\n{traceback.format_exc()}", flush=True)
    print(f"{'entry':24s} {'regs':>5s} {'local B':>8s} {'shared B':>9s} {'max thr/blk':>11s} {'block':>6s} {'occupancy':>9s}")
    for (name, simulator), disp in sorted(build._CUDA_KERNELS.items()):
        if simulator:
            continue
        for sig, k in disp.overloads.items():
            try:
                regs, local = int(k.regs_per_thread), int(k.local_mem_per_thread)
                shared, max_t = int(k.shared_mem_per_block), int(k.max_threads_per_block)
                block = build._grid(disp, 1 << 20, False)[1]
                resident = min(threads_per_sm // block, regs_per_sm // max(regs * block, 1)) * block
                print(f"{name:24s} {regs:5d} {local:8d} {shared:9d} {max_t:11d} {block:6d} {resident / threads_per_sm:9.0%}"
                      f"   {', '.join(str(t) for t in sig)[:160]}")
            except Exception as exc:  # noqa: BLE001 - an attribute this numba-cuda lacks: say so, go on
                failed = 1
                print(f"{name:24s} resources unreadable: {type(exc).__name__}: {exc}")
    return failed


if __name__ == "__main__":
    sys.exit(main())

"""The per-path programs, written once and compiled for three targets.

The engine's hot loop is one program per path (or per path x strategy row) that keeps its state in
locals for the whole horizon: the market step, the book's marks and rules, the hedge overlay, the
signals and every accumulator.  The same source is compiled

* for the CPU by Numba (``njit(parallel=True, cache=True)``, paths over ``prange``): the ``numpy`` backend;
* for CUDA by numba-cuda (one thread per path, arrays from CuPy through the CUDA array interface):
  the ``cupy`` backend;
* for Numba's CUDA simulator (the CUDA kernels run as Python threads): the ``cudasim`` backend, a slow
  check that runs the GPU kernels' logic on machines without a GPU (CI).

Conventions for per-path code (every module of this package and ``gpu_alvh.strategy.program``):

* functions are plain Python decorated with :func:`numba.extending.register_jitable`, so they compile
  inside a CPU or a CUDA kernel and run unchanged as Python in the simulator;
* scalar arithmetic with the :mod:`math` module; arrays only indexed (no NumPy calls, no allocation: a
  CUDA device function cannot return an array - local arrays are allocated by the kernel entry points
  in :mod:`gpu_alvh.kernels.build` and passed down);
* records (NumPy structured dtypes) are accessed as ``rec[i]["field"]`` (works compiled and in Python);
* unsigned 32-bit words of Philox are held in ``uint64`` and every integer constant mixed with them is a
  ``np.uint64`` (Numba turns ``uint64 op int64`` into float64);
* no exceptions inside kernels: a kernel reports problems through status outputs;
* the only target-specific operations (scatter-adds into shared outputs) are in
  :mod:`gpu_alvh.kernels.target`.
"""

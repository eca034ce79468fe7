"""CPU fallback: the NumPy backend of gpu_alvh and loop-level reference
implementations that the vectorised (and, on a GPU, fused) kernels are checked
against.  Not a second engine: the engine in :mod:`gpu_alvh` runs on NumPy
through :mod:`cpu_fallback.numpy_backend`."""

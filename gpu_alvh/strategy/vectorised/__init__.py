"""The vectorised (array-at-a-time) book engine: the oracle the fused per-path engine is checked against.

It runs the same rules on whole ``[slot, path]`` arrays with one library call per operation.  It is kept
only while the fused engine (:mod:`gpu_alvh.strategy.engine`) is proven equal to it on the library
scenarios; then it is retired.
"""

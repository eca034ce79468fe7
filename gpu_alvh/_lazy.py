"""Lazy package exports (PEP 562): a package names its public objects and the submodules that define them,
and a submodule is imported on the first access of one of its names.

``import gpu_alvh`` (and with it every ``alvh`` command, ``alvh --help`` included) then imports only what
the command uses; importing the whole API eagerly costs about 1.5 s (xarray, dask, scipy's interpolation,
Numba's CUDA target), mostly for commands that never need it.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["exports"]


def exports(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__)`` of ``package``, whose public name ``n`` lives in the submodule ``names[n]``
    (relative, e.g. ``".runner"``); any other name raises ``AttributeError``, as for a module."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        setattr(sys.modules[package], name, value)  # later accesses do not come here
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__

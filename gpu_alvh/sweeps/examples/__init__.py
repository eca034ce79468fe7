"""Example sweeps shipped with the package: ``alvh sweep examples``, ``alvh sweep run NAME``, ``alvh sweep plan NAME``.

One YAML file per example in this folder (package data); the file stem is its name, and a name is
accepted wherever a sweep file is (:func:`gpu_alvh.spec.sweep.load_sweep`; a file of that name in the
working directory wins).  Each runs in about a minute or less at its default ``paths`` on 2 CPU cores once
the kernels are compiled; copy one (``alvh sweep examples`` prints where it is) to start your own.

* ``delta_budget`` - the README's grid: short delta x hedge budget on ``base`` and ``volmageddon``;
* ``hedge_instruments`` - call / call spread / butterfly / future in the first hedge layer;
* ``stress_ladder`` - volmageddon's VIX close of the gap day (``shocks[1].vix_level``) from 25 to 80;
* ``covid_dispersion`` - ``historical.dispersion`` of the COVID crash replay.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["list_examples", "example_path", "describe_examples", "PACKAGE"]

PACKAGE = __name__


def _root():
    return resources.files(PACKAGE)


def list_examples() -> list[str]:
    """Names of the example sweeps (file stems), sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _root().iterdir() if p.name.endswith(".yaml") and p.is_file())


def example_path(name: str):
    """The file of example ``name`` (``.yaml`` optional), an ``importlib.resources`` traversable (a path in
    normal installs); ``None`` when there is no example by that name."""
    stem = str(name)[:-5] if str(name).endswith(".yaml") else str(name)
    return _root().joinpath(f"{stem}.yaml") if stem in list_examples() else None


def describe_examples(backend: str = "numpy") -> list[dict]:
    """Per example: ``name``, ``description``, ``scenarios``, ``cells``, ``passes``, ``paths``, ``path_days``,
    ``seconds`` (the ``alvh sweep plan`` estimate for ``backend`` from the newest benchmark record, or None)
    and ``file``."""
    from ..estimate import plan_report
    from ..plan import resolve_sweep

    out = []
    for name in list_examples():
        plan = resolve_sweep(name)
        rep = plan_report(plan, backend=backend)
        out.append({"name": name, "description": " ".join(plan.spec.description.split()), "scenarios": [s.name for s in plan.scenarios],
                    "cells": rep["cells"], "passes": rep["passes"], "paths": plan.n_paths, "path_days": rep["path_days"],
                    "seconds": rep.get("wall_seconds_estimate"), "benchmark": rep.get("benchmark"), "file": str(example_path(name))})
    return out

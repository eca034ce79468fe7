"""Per-path accumulators of the fused book: metrics and claims as small units in a registry.

A unit is a module of this package with

* ``FIELDS`` - ``((name, size, init), ...)``: its slice of the per-path accumulator array ``a``
  (``init``: a number, ``"nav0"`` for the starting NAV or ``"inf"``); ``size > 1`` fields are per ladder
  slot (``MAX_LAYERS``) and are reported per layer;
* any of ``on_init``, ``on_step``, ``on_day``, ``on_final`` - ``register_jitable`` functions
  ``f(a, o, ctx, L, H)`` called after day 0's entries, at the end of every step, at every day close
  (after the hedge overlay) and once at the end; ``o`` is the offset of the unit's first field in ``a``,
  ``ctx[0]`` the step's observations (:data:`gpu_alvh.strategy.state.CTX`), ``L`` / ``H`` the ladder and
  hedge slot records (:mod:`gpu_alvh.strategy.state`).

The registry is :data:`UNITS` (module names, in call order).  Adding a metric or claim is one new file
plus one name there; :func:`dispatch` turns the registry into four straight-line functions
(``acc_init`` ... ``acc_final``) that the per-path program calls, so a unit costs nothing where it is
not used.  Every field reaches the host by name (``per_path[name]``, ``[strategy, path]``; per-slot
fields ``[strategy, layer, path]``), where :mod:`gpu_alvh.metrics` turns them into metrics and claims.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

from ...kernels.floats import jitable as register_jitable

__all__ = ["UNITS", "FIELD", "Field", "layout", "dispatch", "N_ACC"]

#: The registry: accumulator modules in call order.
UNITS = ("drawdown", "returns", "gamma", "margin", "layer_stops", "layer_lives", "nonfinite",
         "c1_migration", "c2_rescue", "c3_butterflies", "c6_delta", "c7_events", "c5_gamma", "c1_life")

_HOOKS = ("on_init", "on_step", "on_day", "on_final")


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    size: int
    init: object
    unit: str


def _modules():
    return [importlib.import_module(f"{__name__}.{u}") for u in UNITS]


def layout() -> dict[str, Field]:
    """Fields of every unit by name, with their offsets in the accumulator array."""
    out: dict[str, Field] = {}
    off = 0
    for name, mod in zip(UNITS, _modules()):
        for fname, size, init in mod.FIELDS:
            if fname in out:
                raise ValueError(f"accumulator field {fname!r} defined twice (unit {name})")
            out[fname] = Field(fname, off, int(size), init, name)
            off += int(size)
    return out


FIELD = layout()
N_ACC = sum(f.size for f in FIELD.values())


def _render() -> str:
    lines = []
    offsets = {}
    off = 0
    for name, mod in zip(UNITS, _modules()):
        offsets[name] = off
        off += sum(int(s) for _, s, _ in mod.FIELDS)
    body = {h: [] for h in _HOOKS}
    for f in FIELD.values():
        val = "ctx[0]['nav0']" if f.init == "nav0" else ("math.inf" if f.init == "inf" else repr(float(f.init)))
        for i in range(f.size):
            body["on_init"].append(f"    a[{f.offset + i}] = {val}")
    for name, mod in zip(UNITS, _modules()):
        for h in _HOOKS:
            if hasattr(mod, h):
                body[h].append(f"    _u_{name}.{h}(a, {offsets[name]}, ctx, L, H)")
    for h in _HOOKS:
        fn = "acc_" + h[3:]
        lines.append(f"def {fn}(a, ctx, L, H):")
        lines += body[h] or ["    return"]
        lines.append("")
    return "\n".join(lines)


def dispatch() -> dict:
    """``{"acc_init": f, "acc_step": f, "acc_day": f, "acc_final": f}`` generated from the registry."""
    ns = {"math": math, **{f"_u_{n}": m for n, m in zip(UNITS, _modules())}}
    exec(compile(_render(), f"<{__name__} dispatch>", "exec"), ns)
    return {k: register_jitable(ns[k]) for k in ("acc_init", "acc_step", "acc_day", "acc_final")}


_D = dispatch()
acc_init, acc_step, acc_day, acc_final = _D["acc_init"], _D["acc_step"], _D["acc_day"], _D["acc_final"]

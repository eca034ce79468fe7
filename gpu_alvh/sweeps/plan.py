"""Grid expansion: a sweep spec -> cells, dimensions, engine passes and an identity hash.

* **Cells.**  The store has one dimension per scenario and per swept key; a
  cell is one point ``(scenario, v_1, ..., v_k)``.  Cells are numbered by their
  flat (C-order) index in that array; the id is ``c%06d``.  With a full grid
  every point is a cell; with an explicit ``cells:`` list the dimensions hold
  the sorted unique values of each key and points not listed are *not part of
  the sweep* (status -1).
* **Validation.**  Every cell is applied to its scenario with
  :func:`~gpu_alvh.spec.apply_overrides` (full re-validation) before anything
  runs; problems are reported on the sweep file's field
  (``grid.strategy.short_delta[1]``, ``cells[3]``).
* **Passes.**  Cells of one scenario whose *scenario-level* values (keys not
  under ``strategy.``) are equal run on the same paths; they are cut, in cell
  order, into passes of at most ``variants_per_pass`` strategy variants.  One
  pass = one call of :func:`gpu_alvh.runner.run_cells` = one engine run in which
  the variants share the simulated paths.  Random numbers are keyed by (seed,
  scenario name, path, step), so every cell of a scenario sees the same paths
  whatever the pass, shard or worker (common random numbers).  The pass
  layout is a pure function of the sweep file; it is part of the identity.
* **Identity.**  :attr:`SweepPlan.hash` is the SHA-256 of the canonical JSON
  of everything that determines the stored values (scenarios as loaded, minus
  their free-text fields and their own ``paths``/``seed``; keys, values, cells,
  ``paths``, ``seed``, ``dtype``, ``batch_size``, ``variants_per_pass``).  A
  store remembers it; a different sweep refuses to write into it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import limits
from ..errors import SpecError, SpecIssue
from ..spec import ScenarioSpec, apply_overrides, load_scenario
from ..spec.base import Shown, parse_key
from ..spec.loader import describe_non_file, list_library
from ..spec.sweep import SweepSpec, load_sweep, normalize_key

__all__ = ["SweepPlan", "SweepParam", "SweepCell", "SweepPass", "resolve_sweep", "RESERVED_DIMS", "STATUS"]

#: dimension / variable names a parameter dimension may not take
RESERVED_DIMS = frozenset({"scenario", "strategy", "path", "day", "layer", "quantile", "claim", "date", "cell_status"})

#: cell status codes stored in ``cell_status``
STATUS = {"not_in_sweep": -1, "missing": 0, "done": 1, "failed": 2}

IDENTITY_FORMAT = "gpu_alvh-sweep/1"
_FREE_TEXT = ("description", "source")


@dataclass(frozen=True)
class SweepParam:
    """One swept key: its dimension name, the scenario field it sets and its values."""

    key: str  # as written in the sweep file
    target: str  # field path applied to the ScenarioSpec (``scenario.`` prefix removed)
    dim: str  # dimension name in the store
    values: tuple  # coordinate values, in dimension order
    level: str  # "strategy" (same paths) or "scenario" (different paths)

    def coord(self) -> np.ndarray:
        """Coordinate array: int64, float64, bool or fixed-width unicode."""
        vals = list(self.values)
        if all(isinstance(v, bool) for v in vals):
            return np.asarray(vals, dtype=bool)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            return np.asarray(vals, dtype=np.int64)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return np.asarray(vals, dtype=np.float64)
        return np.asarray([str(v) for v in vals])


@dataclass(frozen=True)
class SweepCell:
    """One cell: position in ``(scenario, *params)``, its scenario spec (overrides applied)."""

    index: int
    pos: tuple[int, ...]
    scenario: str
    values: tuple  # one value per parameter
    spec: ScenarioSpec = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"c{self.index:06d}"


@dataclass(frozen=True)
class SweepPass:
    """Cells that run in one engine pass (same scenario-level values, same paths)."""

    index: int
    cells: tuple[int, ...]  # flat cell indices, in order


@dataclass(eq=False)
class SweepPlan:
    """A resolved sweep: dims, cells, passes and identity (see the module docstring)."""

    spec: SweepSpec
    source: str
    scenarios: tuple[ScenarioSpec, ...]
    params: tuple[SweepParam, ...]
    cells: dict[int, SweepCell]
    passes: tuple[SweepPass, ...]
    strategy_labels: tuple[str, ...]
    layers: tuple[int, ...]
    n_days: int  # longest horizon (the ``day`` dimension has n_days + 1 entries)
    hash: str
    identity: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.scenarios), *(len(p.values) for p in self.params))

    @property
    def dims(self) -> tuple[str, ...]:
        return ("scenario", *(p.dim for p in self.params))

    @property
    def n_grid(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_paths(self) -> int:
        return int(self.spec.paths)

    @property
    def seed(self) -> int:
        return int(self.spec.seed)

    @property
    def dtype(self) -> str:
        return str(self.spec.dtype)

    def included(self) -> np.ndarray:
        """Boolean array over ``(scenario, *params)``: the cells that are part of the sweep."""
        inc = np.zeros(self.n_grid, dtype=bool)
        inc[list(self.cells)] = True
        return inc.reshape(self.shape)

    def coords_of(self, index: int) -> dict[str, Any]:
        """``{dim: value}`` of a flat cell index."""
        pos = np.unravel_index(index, self.shape)
        out: dict[str, Any] = {"scenario": self.scenarios[pos[0]].name}
        for p, i in zip(self.params, pos[1:]):
            out[p.dim] = p.values[i]
        return out

    def describe_cell(self, index: int) -> str:
        return " ".join(f"{k}={v}" for k, v in self.coords_of(index).items())

    def pass_strategies(self, sp: SweepPass) -> list:
        return [self.cells[i].spec.strategy_spec() for i in sp.cells]

    def pass_scenario(self, sp: SweepPass) -> ScenarioSpec:
        return self.cells[sp.cells[0]].spec

    def canonical_json(self) -> str:
        return _canonical(self.identity)


# ------------------------------------------------------------------------------------ helpers
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _identity_scenario(spec: ScenarioSpec) -> dict:
    d = spec.to_dict()
    for k in (*_FREE_TEXT, "paths", "seed"):
        d.pop(k, None)
    return d


def _load_scenarios(spec: SweepSpec, source: str, folder: Path | None) -> tuple[ScenarioSpec, ...]:
    out: list[ScenarioSpec] = []
    where: dict[str, int] = {}
    for i, ref in enumerate(spec.scenarios):
        field_ = f"scenarios[{i}]"
        if isinstance(ref, str):
            candidates = []
            p = Path(ref).expanduser()
            if not p.is_absolute() and folder is not None:
                candidates.append(folder / p)
            candidates.append(p)
            target = next((c for c in candidates if c.is_file()), None)
            if target is not None:
                sc = load_scenario(target)
            elif "/" not in ref and ref.removesuffix(".yaml") in list_library():
                sc = load_scenario(ref.removesuffix(".yaml"))
            else:
                odd = next(((c, w) for c in candidates if (w := describe_non_file(c))), None)
                looked = ", ".join(str(c) for c in candidates)
                problem = f"{odd[0]} is {odd[1]}, not a scenario file" if odd else f"no such scenario file (looked at {looked})"
                raise SpecError.single(source, field_, ref, f"{problem} and no library scenario by that name; "
                                       f"library scenarios: {', '.join(list_library())}")
        else:
            try:
                sc = load_scenario(dict(ref))
            except SpecError as exc:
                raise SpecError(source, [SpecIssue(f"{field_}.{i.field}" if i.field != "<top level>" else field_, i.value, i.allowed) for i in exc.issues]) from None
        if sc.name in where:
            raise SpecError.single(source, field_, Shown(repr(sc.name)), f"duplicate scenario name (also scenarios[{where[sc.name]}]); scenario names must be unique in a sweep")
        where[sc.name] = i
        out.append(sc)
    return tuple(out)


def _key_tokens(target: str) -> list[str]:
    """``layers[0].when.any[1].value`` -> ``["layers0", "when", "any1", "value"]``."""
    tokens: list[str] = []
    for part in parse_key(target):
        if isinstance(part, int):
            tokens[-1] = f"{tokens[-1]}{part}"
        else:
            tokens.append(part)
    return tokens


def dim_names(keys: list[str], reserved: frozenset[str] | set[str] = RESERVED_DIMS) -> list[str]:
    """Dimension names for swept keys: the last component, longer where names clash.

    ``strategy.short_delta`` -> ``short_delta``; ``scenario.shocks[0].vix_level``
    and ``scenario.shocks[1].vix_level`` -> ``shocks0_vix_level``,
    ``shocks1_vix_level``.  Reserved names (``scenario``, ``strategy``, the
    results' variable names...) are lengthened the same way.
    """
    from ..results import RUN_META

    taken = set(reserved) | set(RUN_META)
    full = [_key_tokens(normalize_key(k)) for k in keys]
    depth = [1] * len(keys)
    while True:
        names = ["_".join(full[i][-depth[i]:]) for i in range(len(keys))]
        clash = [i for i, n in enumerate(names) if n in taken or names.count(n) > 1]
        if not clash:
            return names
        grown = False
        for i in clash:
            if depth[i] < len(full[i]):
                depth[i] += 1
                grown = True
        if not grown:  # pragma: no cover - keys are unique after normalisation
            raise ValueError(f"cannot name the dimensions of {keys}")


def _sort_values(values: list) -> tuple:
    if all(isinstance(v, bool) for v in values):
        return tuple(sorted(set(values)))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        uniq: dict[float, Any] = {}
        for v in values:
            uniq.setdefault(float(v), v)
        return tuple(uniq[k] for k in sorted(uniq))
    return tuple(sorted(set(str(v) for v in values)))


def _value_index(values: tuple, v: Any) -> int:
    for i, x in enumerate(values):
        if isinstance(x, bool) or isinstance(v, bool):
            if type(x) is type(v) and x == v:
                return i
        elif isinstance(x, str) or isinstance(v, str):
            if str(x) == str(v):
                return i
        elif float(x) == float(v):
            return i
    raise KeyError(v)  # pragma: no cover


def _remap(exc: SpecError, source: str, scenario: str, n_scenarios: int, *, whole: str, shown: Any,
           per_key: list[tuple[str, str, Any]]) -> SpecError:
    """A SpecError of apply_overrides re-labelled with the sweep file's field paths.

    ``per_key`` holds ``(target, sweep_field, value)``: an issue on that target
    field is reported on ``sweep_field``; any other issue (a cross-field check)
    on ``whole`` with the cell shown as the value.
    """
    where = f" (scenario {scenario!r})" if n_scenarios > 1 else ""
    issues = []
    for i in exc.issues:
        inner = i.field if i.field != "<top level>" else ""
        hit = next(((f, v) for t, f, v in per_key if inner == t or inner.startswith((t + ".", t + "["))), None)
        if hit is not None:
            detail = i.allowed if inner in [t for t, _, _ in per_key] else f"{inner}: {i.allowed}"
            issues.append(SpecIssue(hit[0], hit[1], detail + where))
        else:
            issues.append(SpecIssue(whole, shown, (f"{inner}: " if inner else "") + i.allowed + where))
    return SpecError(source, issues)


def _check_cell_count(spec: SweepSpec, source: str) -> None:
    """Refuse a sweep with more cells than ``$ALVH_MAX_CELLS`` - counted, never enumerated."""
    n_scen = len(spec.scenarios)
    if spec.grid is not None:
        sizes = [len(v) for v in spec.grid.values()]
        n, field_ = n_scen * math.prod(sizes), "grid"
        found = f"{n:,} cells ({n_scen} scenario{'s' if n_scen > 1 else ''} x {len(sizes)} swept keys)"
    else:
        n, field_ = n_scen * len(spec.cells or ()), "cells"
        found = f"up to {n:,} cells ({n_scen} scenarios x {len(spec.cells or ())} cells)"
    if n > limits.limit("cells"):
        raise limits.exceeded(source, field_, "cells", found)


# ------------------------------------------------------------------------------------ resolve
def resolve_sweep(obj: Any, *, dtype: str | None = None) -> SweepPlan:
    """Load a sweep (file, mapping, :class:`SweepSpec` or :class:`SweepPlan`) and resolve it.

    ``dtype`` overrides the file's ``dtype`` (it is part of the identity).

    Raises
    ------
    SpecError
        Anything wrong with the sweep file or one of its cells, naming the
        sweep file's field (``grid.<key>[i]``, ``cells[i]``, ``scenarios[i]``).
    """
    if isinstance(obj, SweepPlan):
        if dtype is None or dtype == obj.dtype:
            return obj
        obj = obj.spec
    spec, source, folder = load_sweep(obj)
    if dtype is not None and dtype != spec.dtype:
        spec = apply_overrides(spec, {"dtype": dtype}, source=f"{source} (--dtype)")
    _check_cell_count(spec, source)
    scenarios = _load_scenarios(spec, source, folder)
    names = [s.name for s in scenarios]
    keys = list(spec.keys)
    dims = dim_names(keys)
    targets = [normalize_key(k) for k in keys]
    levels = ["strategy" if t.startswith("strategy.") else "scenario" for t in targets]

    # ---- parameter values and the list of (scenario index, value indices)
    if spec.grid is not None:
        values = [tuple(spec.grid[k]) for k in keys]
        points = [(si, combo) for si in range(len(scenarios)) for combo in itertools.product(*[range(len(v)) for v in values])]
        # unknown keys / indices first, with the key's own field path
        for sc in scenarios:
            for k, t, vals in zip(keys, targets, values):
                try:
                    apply_overrides(sc, {t: vals[0]})
                except SpecError as exc:
                    bad = [x for x in exc.issues if x.allowed.startswith(("unknown key", "index out of range")) or " is a " in x.allowed
                           or "has no sub-keys" in x.allowed]
                    if bad:
                        where = f" (scenario {sc.name!r})" if len(scenarios) > 1 else ""
                        raise SpecError(source, [SpecIssue(f"grid.{k}", Shown(repr(k)), x.allowed + where) for x in bad]) from None
        cell_fields = None
    else:
        cells_in = list(spec.cells or ())
        values = [_sort_values([c[k] for c in cells_in]) for k in keys]
        points = []
        seen: dict[tuple, int] = {}
        cell_fields = {}
        for ci, c in enumerate(cells_in):
            if "scenario" in c:
                if c["scenario"] not in names:
                    raise SpecError.single(source, f"cells[{ci}].scenario", c["scenario"], f"allowed: one of the sweep's scenarios: {', '.join(names)}")
                sis = [names.index(c["scenario"])]
            else:
                sis = list(range(len(scenarios)))
            combo = tuple(_value_index(values[j], c[k]) for j, k in enumerate(keys))
            for si in sis:
                if (si, combo) in seen:
                    raise SpecError.single(source, f"cells[{ci}]", dict(c), f"duplicate cell (same as cells[{seen[(si, combo)]}] for scenario {names[si]!r})")
                seen[(si, combo)] = ci
                points.append((si, combo))
                cell_fields[(si, combo)] = ci
        points.sort()
    params = tuple(SweepParam(k, t, d, tuple(v), lv) for k, t, d, v, lv in zip(keys, targets, dims, values, levels))
    shape = (len(scenarios), *(len(v) for v in values))

    # ---- every cell, fully validated
    cells: dict[int, SweepCell] = {}
    labels: tuple[str, ...] | None = None
    label_cell = ""
    layers: set[int] = set()
    n_days = 0
    from ..strategy.book import baseline_rows

    for si, combo in points:
        sc = scenarios[si]
        vals = tuple(values[j][i] for j, i in enumerate(combo))
        overrides = {t: v for t, v in zip(targets, vals)}
        index = int(np.ravel_multi_index((si, *combo), shape))
        shown = Shown("{" + ", ".join(f"{k}: {v!r}" for k, v in zip(keys, vals)) + "}")
        if cell_fields is None:
            f = "grid"
            per_key = [(t, f"grid.{k}[{vi}]", v) for t, k, vi, v in zip(targets, keys, combo, vals)]
        else:
            f = f"cells[{cell_fields[(si, combo)]}]"
            per_key = [(t, f"{f}.{k}", v) for t, k, v in zip(targets, keys, vals)]
        try:
            cell_spec = apply_overrides(sc, overrides)
        except SpecError as exc:
            raise _remap(exc, source, sc.name, len(scenarios), whole=f, shown=shown, per_key=per_key) from None
        rows = baseline_rows(cell_spec.strategy_spec())
        lab = tuple(r.label for r in rows)
        if labels is None:
            labels, label_cell = lab, f"{sc.name} {shown!r}"
        elif lab != labels:
            raise SpecError.single(source, f, shown, f"this cell's strategies {list(lab)} differ from {list(labels)} of cell {label_cell}; "
                                   "every cell must run the same strategies (do not sweep strategy.name or strategy.baselines)")
        layers.update(int(d) for r in rows for d in r.spec.layers)
        n_days = max(n_days, int(cell_spec.horizon))
        cells[index] = SweepCell(index, (si, *combo), sc.name, vals, cell_spec)
        limits.WORK["sweep_cells"] += 1

    # ---- passes: same scenario + same scenario-level values -> same paths
    groups: dict[tuple, list[int]] = {}
    for index in sorted(cells):
        c = cells[index]
        gkey = (c.pos[0], *(c.pos[1 + j] for j, lv in enumerate(levels) if lv == "scenario"))
        groups.setdefault(gkey, []).append(index)
    passes: list[SweepPass] = []
    for gkey in sorted(groups, key=lambda g: groups[g][0]):
        members = groups[gkey]
        for start in range(0, len(members), spec.variants_per_pass):
            passes.append(SweepPass(len(passes), tuple(members[start:start + spec.variants_per_pass])))

    identity = {
        "format": IDENTITY_FORMAT,
        "scenarios": [_identity_scenario(s) for s in scenarios],
        "keys": keys,
        "dims": dims,
        "values": [list(v) for v in values],
        "cells": sorted(cells),
        "paths": int(spec.paths),
        "seed": int(spec.seed),
        "dtype": spec.dtype,
        "batch_size": spec.batch_size,
        "variants_per_pass": int(spec.variants_per_pass),
    }
    digest = hashlib.sha256(_canonical(identity).encode("utf-8")).hexdigest()
    return SweepPlan(spec=spec, source=source, scenarios=scenarios, params=params, cells=cells, passes=tuple(passes),
                     strategy_labels=labels or (), layers=tuple(sorted(layers)), n_days=n_days, hash=digest, identity=identity)

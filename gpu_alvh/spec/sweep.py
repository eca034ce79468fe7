"""Sweep spec: scenarios x a grid over dotted parameter keys (SPEC section 10).

A sweep file names scenarios (library names, scenario files relative to the
sweep file, or inline mappings), a grid over dotted keys (or an explicit list
of cells), ``paths`` and ``seed``.  Loading gives an immutable, validated
:class:`SweepSpec`; :func:`gpu_alvh.sweeps.resolve_sweep` then applies every
grid point to every scenario (full validation) and plans the engine passes.

Example
-------
.. code-block:: yaml

    name: delta_budget
    scenarios: [base, my/crash.yaml]
    grid:
      strategy.short_delta: [0.10, 0.16, 0.20]
      strategy.hedge.budget_pct: [0, 2, 5]
      scenario.shocks[0].vix_level: [30, 50, 80]
    paths: 100000
    seed: 7

Keys
----
``strategy.<field>`` changes the strategy section of every scenario;
``scenario.<field>`` (or a bare scenario field such as ``params.kappa``)
changes the scenario.  Keys are field paths exactly as in the files
(``strategy.hedge.layers[0].when.any[0].value``); values are scalars
(numbers, strings, ``true``/``false``; YAML dates become ISO strings).
``name``, ``paths`` and ``seed`` cannot be swept (the scenario name keys the
random numbers; ``paths`` and ``seed`` are the sweep's own).

Same conventions as the other spec files (frozen models, strict numbers,
errors naming the file, the field path - ``grid.strategy.short_delta[1]`` -
the bad value and what is allowed).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, Field, field_validator, model_validator

from ..errors import SpecError, SpecIssue
from .base import FrozenDict, FrozenModel, Shown, check_id, parse_key, raise_issues, validate_spec, value_error
from .loader import load_yaml

__all__ = ["SweepSpec", "load_sweep", "normalize_key", "RESERVED_KEYS", "Scalar"]

Scalar = Union[bool, int, float, str]

#: Keys that cannot be swept, with the reason shown in the error.
RESERVED_KEYS: dict[str, str] = {
    "name": "the scenario name keys the random numbers and the scenario coordinate; it cannot vary inside a sweep",
    "paths": "paths is the sweep's own top-level key (every cell runs the same paths)",
    "seed": "seed is the sweep's own top-level key (every cell runs on the same random numbers)",
    "strategy.name": "the strategy name labels the strategy coordinate; it cannot vary inside a sweep",
    "strategy.baselines": "the baselines define the strategy coordinate; they cannot vary inside a sweep",
}

_SCALAR_ALLOWED = "allowed: a scalar value (a number, a string or true/false; YAML dates are turned into ISO strings)"


def normalize_key(key: str) -> str:
    """Key as applied to a :class:`~gpu_alvh.spec.ScenarioSpec`: ``scenario.`` prefix removed.

    ``"scenario.shocks[0].vix_level"`` -> ``"shocks[0].vix_level"``;
    ``"strategy.short_delta"`` is already a scenario field path.
    """
    key = str(key).strip()
    return key[len("scenario."):] if key.startswith("scenario.") else key


def _scalar(value: Any) -> Any:
    """Check one grid value; dates become ISO strings.  Raises a field error otherwise."""
    if isinstance(value, _dt.datetime):
        raise value_error(_SCALAR_ALLOWED + " (a date, not a date and time)")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise value_error(_SCALAR_ALLOWED + " (finite numbers only)")
        return value
    raise value_error(_SCALAR_ALLOWED)


def _iso(value: Any) -> Any:
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def _freeze_grid(grid: dict[str, Any]) -> FrozenDict:
    return FrozenDict({k: tuple(v) if isinstance(v, list) else v for k, v in grid.items()})


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _check_key(key: Any) -> str | None:
    """Problem with a sweep key, or ``None``."""
    if not isinstance(key, str) or not key.strip():
        return "allowed: a dotted field path such as strategy.short_delta or scenario.shocks[0].vix_level"
    try:
        parse_key(normalize_key(key))
    except ValueError as exc:
        return f"allowed: a dotted field path such as strategy.short_delta or scenario.shocks[0].vix_level ({exc})"
    norm = normalize_key(key)
    if norm in RESERVED_KEYS:
        return f"not sweepable: {RESERVED_KEYS[norm]}"
    if norm in ("strategy", "scenario") or key.strip() == "scenario":
        return "allowed: a field inside the section, e.g. strategy.short_delta (whole sections cannot be swept)"
    return None


class SweepSpec(FrozenModel):
    """A validated, immutable sweep file (SPEC section 10); see the module docstring and ``docs/sweeps.md``."""

    name: str = Field(
        strict=True,
        max_length=100,
        description="sweep id (defaults to the file name)",
        json_schema_extra={"allowed": "an id of lower-case letters, digits, '_', '.', '-' starting with a letter or digit"},
    )
    description: str = Field("", strict=True, description="free text")
    scenarios: tuple[Union[str, dict[str, Any]], ...] = Field(
        min_length=1,
        description="scenarios: library names, scenario files (relative to the sweep file) or inline mappings",
        json_schema_extra={"allowed": "a non-empty list of library scenario names, scenario file paths or inline scenario mappings"},
    )
    grid: Optional[Annotated[dict[str, Any], AfterValidator(_freeze_grid)]] = Field(None, description="dotted key -> list of values; every combination is a cell")
    cells: Optional[tuple[Annotated[dict[str, Any], AfterValidator(FrozenDict)], ...]] = Field(None, description="explicit cells instead of a full grid")
    paths: int = Field(ge=1, le=10**9, strict=True, description="Monte Carlo paths per cell")
    seed: int = Field(0, ge=0, le=2**32 - 1, strict=True, description="random seed")
    dtype: Literal["float64", "float32"] = Field("float64", description="float type of the engine")
    batch_size: Optional[int] = Field(
        None, ge=1, le=2**26, strict=True, description="paths per batch (default: 4096 on the CPU, sized from --max-memory on a GPU)"
    )
    variants_per_pass: int = Field(8, ge=1, le=1024, strict=True, description="strategy variants run together in one engine pass")

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        return check_id(v)

    @field_validator("scenarios", mode="before")
    @classmethod
    def _check_scenarios(cls, v: Any) -> Any:
        if isinstance(v, str):  # a single name: be helpful, it is a list
            raise value_error(f"allowed: a list of scenarios, e.g. [{v}]")
        return v

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        # dates -> ISO strings;
        # anything malformed is left alone for the checks below to report with its field path
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        grid = data.get("grid")
        if isinstance(grid, Mapping):
            data["grid"] = {k: [_iso(v) for v in vals] if isinstance(vals, (list, tuple)) else vals for k, vals in grid.items()}
        cells = data.get("cells")
        if isinstance(cells, (list, tuple)):
            data["cells"] = [{k: _iso(v) for k, v in c.items()} if isinstance(c, Mapping) else c for c in cells]
        return data

    @model_validator(mode="after")
    def _check_sweep(self) -> "SweepSpec":
        issues: list[tuple[str, Any, str]] = []
        for i, s in enumerate(self.scenarios):
            if isinstance(s, str) and not s.strip():
                issues.append((f"scenarios[{i}]", s, "allowed: a library scenario name, a scenario file path or an inline mapping"))
        if self.grid is None and self.cells is None:
            issues.append(("grid", SpecIssue.MISSING, "required: give a grid (dotted key -> list of values) or an explicit list of cells"))
        elif self.grid is not None and self.cells is not None:
            issues.append(("cells", Shown(f"{len(self.cells)} cells"), "give either grid or cells, not both"))
        elif self.grid is not None:
            issues += _grid_issues(self.grid)
        else:
            issues += _cells_issues(self.cells or ())
        raise_issues(issues)
        return self

    @property
    def keys(self) -> tuple[str, ...]:
        """The swept keys as written, in file order (grid keys, or the first cell's keys)."""
        if self.grid is not None:
            return tuple(self.grid)
        return tuple(k for k in (self.cells or ({},))[0] if k != "scenario")


def _grid_issues(grid: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    issues: list[tuple[str, Any, str]] = []
    if not grid:
        return [("grid", Shown("an empty grid"), "allowed: at least one dotted key with a non-empty list of values")]
    seen: dict[str, str] = {}
    for key, values in grid.items():
        field = f"grid.{key}"
        problem = _check_key(key)
        if problem:
            issues.append((field, Shown(repr(key)), problem))
            continue
        norm = normalize_key(key)
        if norm in seen:
            issues.append((field, Shown(repr(key)), f"the same field as grid.{seen[norm]}; give each key once"))
            continue
        seen[norm] = key
        if not isinstance(values, (list, tuple)):
            issues.append((field, values, "allowed: a non-empty list of values, e.g. [0.10, 0.16]"))
            continue
        if not values:
            issues.append((field, Shown("[] (an empty list)"), "allowed: a non-empty list of values (an empty list gives an empty grid)"))
            continue
        issues += _value_list_issues(field, values)
    return issues


def _value_list_issues(field: str, values: list | tuple) -> list[tuple[str, Any, str]]:
    issues: list[tuple[str, Any, str]] = []
    normed = []
    for i, v in enumerate(values):
        try:
            normed.append(_scalar(v))
        except Exception:
            issues.append((f"{field}[{i}]", v, _SCALAR_ALLOWED))
    if issues:
        return issues
    kinds = {_kind(v) for v in normed}
    if len(kinds) > 1:
        return [(field, list(values), f"allowed: values of one kind (all numbers, all strings or all true/false); found {', '.join(sorted(kinds))}")]
    seen: dict[Any, int] = {}
    for i, v in enumerate(normed):
        k = (type(v) is bool, v)
        if k in seen:
            issues.append((f"{field}[{i}]", v, f"duplicate value (also {field}[{seen[k]}]); each value may appear once"))
        else:
            seen[k] = i
    return issues


def _cells_issues(cells: tuple[dict[str, Any], ...]) -> list[tuple[str, Any, str]]:
    issues: list[tuple[str, Any, str]] = []
    if not cells:
        return [("cells", Shown("an empty list"), "allowed: a non-empty list of cells, e.g. [{strategy.short_delta: 0.1}]")]
    ref_keys: list[str] | None = None
    seen_norm: dict[str, str] = {}
    for i, cell in enumerate(cells):
        keys = [k for k in cell if k != "scenario"]
        if "scenario" in cell and not isinstance(cell["scenario"], str):
            issues.append((f"cells[{i}].scenario", cell["scenario"], "allowed: the name of one of the sweep's scenarios"))
        if not keys:
            issues.append((f"cells[{i}]", dict(cell), "allowed: a mapping of dotted keys to values, e.g. {strategy.short_delta: 0.1}"))
            continue
        for key in keys:
            field = f"cells[{i}].{key}"
            problem = _check_key(key)
            if problem:
                issues.append((field, Shown(repr(key)), problem))
                continue
            norm = normalize_key(key)
            if norm in seen_norm and seen_norm[norm] != key:
                issues.append((field, Shown(repr(key)), f"the same field as {seen_norm[norm]}; spell each key the same way in every cell"))
            seen_norm.setdefault(norm, key)
            try:
                _scalar(cell[key])
            except Exception:
                issues.append((field, cell[key], _SCALAR_ALLOWED))
        if ref_keys is None:
            ref_keys = keys
        elif set(keys) != set(ref_keys):
            missing = sorted(set(ref_keys) - set(keys))
            extra = sorted(set(keys) - set(ref_keys))
            what = "; ".join(x for x in (f"missing {', '.join(missing)}" if missing else "", f"extra {', '.join(extra)}" if extra else "") if x)
            issues.append((f"cells[{i}]", dict(cell), f"every cell must give the same keys as cells[0] ({', '.join(ref_keys)}): {what}"))
    if issues:
        return issues
    assert ref_keys is not None
    for key in ref_keys:
        kinds = {_kind(_scalar(c[key])) for c in cells}
        if len(kinds) > 1:
            issues.append((f"cells[*].{key}", Shown(", ".join(sorted(kinds))), "allowed: values of one kind per key (all numbers, all strings or all true/false)"))
    return issues


def load_sweep(obj: Any) -> tuple[SweepSpec, str, Path | None]:
    """Load and validate a sweep.

    Parameters
    ----------
    obj
        A :class:`SweepSpec`, a mapping, a YAML file path, or the name of an example sweep shipped with
        the package (``"delta_budget"``: :func:`gpu_alvh.sweeps.examples.list_examples`; a file of that
        name wins).

    Returns
    -------
    (spec, source, folder)
        The spec, the label used in errors (the path as given, ``<dict>`` or
        ``<spec>``) and the folder scenario file paths are relative to
        (the sweep file's folder; ``None`` = the working directory).

    Raises
    ------
    SpecError
        File, YAML and validation problems, each naming the field path.
    """
    if isinstance(obj, SweepSpec):
        return obj, "<spec>", None
    if isinstance(obj, Mapping):
        data = dict(obj)
        data.setdefault("name", "sweep")
        return validate_spec(SweepSpec, data, source="<dict>"), "<dict>", None
    if isinstance(obj, (str, os.PathLike)):
        path = Path(os.fspath(obj))
        source = os.fspath(obj)
        if not path.is_file():
            example = _example(obj, path)
            if example is not None:
                return example
        data = load_yaml(path, source=source)
        if "name" not in data:
            stem = re.sub(r"[^a-z0-9_.-]+", "_", path.stem.lower()).strip("_.-") or "sweep"
            data = {"name": stem, **data}
        return validate_spec(SweepSpec, data, source=source), source, path.resolve().parent
    raise SpecError.single("argument", "<sweep>", obj, "allowed: a SweepSpec, a mapping or the path of a sweep YAML file")


def _example(obj: Any, path: Path) -> tuple[SweepSpec, str, Path] | None:
    """The example sweep named ``obj`` (a bare name, no path separator, nothing of that name on disk), or
    None (``obj`` is a path: the file loader reports it); a bare name that is not an example raises, listing
    the examples."""
    from ..sweeps.examples import example_path, list_examples

    text = os.fspath(obj)
    if not isinstance(obj, str) or "/" in text or os.sep in text or os.path.lexists(path):
        return None  # a path (load_yaml says it is missing), or a directory, a FIFO ...: load_yaml names what it is
    found = example_path(text)
    if found is not None:
        source = f"examples/{found.name}"
        data = load_yaml(found, source=source)
        data = {"name": found.name[: -len(".yaml")], **data} if "name" not in data else data
        return validate_spec(SweepSpec, data, source=source), source, Path(str(found)).parent
    names = ", ".join(list_examples())
    raise SpecError(text, SpecIssue("<file>", Shown(text), f"file not found and no example sweep by that name; allowed: a sweep YAML file "
                                                           f"or an example sweep name: {names} (alvh sweep examples)"))

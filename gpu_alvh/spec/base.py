"""Shared machinery of the spec layer: frozen pydantic models, strict field
types, error conversion, dotted overrides and canonical hashing.

Specs are immutable, validated data (ARCHITECTURE habit 4).  Every problem a
user can cause surfaces as one :class:`~gpu_alvh.errors.SpecError` naming the
source (file path or ``<dict>``), the field path in the spelling the user wrote
(``shocks[2].vix_level``), the bad value and what is allowed.

Conventions of all spec models:

* ``frozen=True``, ``extra="forbid"``: unknown keys are errors that list the
  allowed keys; NaN and infinities are rejected;
* numbers are strict: ``"1.5"`` (a string) and ``true`` (a boolean) are not
  numbers; an integer is accepted where a float is expected, not the reverse;
* dates accept YAML dates (unquoted ``2026-07-31``) and ISO strings
  (``"2026-07-31"``), nothing else;
* cross-field validators report problems with :func:`raise_issues`, which keeps
  their exact field paths through pydantic (see :func:`spec_error_from_validation`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import types
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, ValidationError, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from ..errors import Shown, SpecError, SpecIssue  # Shown: re-exported for the spec code

__all__ = [
    "FrozenModel",
    "FrozenDict",
    "SpecDate",
    "Shown",
    "MISSING",
    "parse_date",
    "check_id",
    "ID_ALLOWED",
    "raise_issues",
    "value_error",
    "join_path",
    "format_loc",
    "spec_error_from_validation",
    "validate_spec",
    "apply_overrides",
    "parse_key",
    "canonical_json",
    "spec_hash",
]

MISSING: Any = SpecIssue.MISSING  # type: ignore[attr-defined]


class FrozenModel(BaseModel):
    """Base of every spec model: immutable, no unknown keys, finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (dates as ISO strings, ``None`` values left out).

        Feeding it back to the spec's validator gives an equal spec.
        """
        return self.model_dump(mode="json", exclude_none=True)


class FrozenDict(dict):
    """A ``dict`` that cannot be changed after construction (and is hashable)."""

    __slots__ = ()

    def _immutable(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} is immutable; use apply_overrides() to change a spec")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable  # type: ignore[assignment]
    __ior__ = _immutable  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def __reduce__(self):
        return (type(self), (dict(self),))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self) -> str:
        return dict.__repr__(self)


def show_date(d: _dt.date) -> Shown:
    """``2026-08-01 (a Saturday)`` for error messages."""
    return Shown(f"{d.isoformat()} (a {d.strftime('%A')})")


# --------------------------------------------------------------------------- issues through pydantic
def raise_issues(issues: list[tuple[str, Any, str]] | list[SpecIssue]) -> None:
    """Raise the problems found by a validator, keeping their field paths.

    ``issues`` holds ``(relative_field, value, allowed)`` triples (or
    :class:`SpecIssue`); ``relative_field`` is relative to the model being
    validated (``""`` for the model itself, ``"vix"``, ``"params.kappa"``,
    ``"[2]"``).  Does nothing when ``issues`` is empty.
    """
    if not issues:
        return
    triples = [(i.field if i.field != "<top level>" else "", i.value, i.allowed) if isinstance(i, SpecIssue) else tuple(i) for i in issues]
    summary = "; ".join(str(SpecIssue(f or "<here>", v, a)) for f, v, a in triples)
    raise PydanticCustomError("spec_issues", "{summary}", {"summary": summary, "issues": triples})


def value_error(allowed: str) -> PydanticCustomError:
    """Error for a single field value; ``allowed`` is the full "allowed: ..." text."""
    return PydanticCustomError("spec_value", "{allowed}", {"allowed": allowed})


def join_path(base: str, rel: str) -> str:
    """``join_path("shocks[1]", "day") == "shocks[1].day"``; ``"[0]"`` appends without a dot."""
    if not base:
        return rel
    if not rel:
        return base
    return base + rel if rel.startswith("[") else f"{base}.{rel}"


def format_loc(loc: tuple) -> str:
    """pydantic ``loc`` -> field path: ``('shocks', 2, 'vix_level')`` -> ``shocks[2].vix_level``."""
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = join_path(out, str(part))
    return out


# --------------------------------------------------------------------------- ids
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
ID_ALLOWED = "allowed: an id of lower-case letters, digits, '_', '.', '-' starting with a letter or digit"


def check_id(value: str) -> str:
    """Validate a scenario / sweep id (used in results coordinates and RNG keys)."""
    if not _ID.match(value):
        raise value_error(ID_ALLOWED)
    return value


# --------------------------------------------------------------------------- dates
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_ALLOWED = "allowed: a date YYYY-MM-DD (unquoted YAML date or ISO string)"


def parse_date(value: Any) -> _dt.date:
    """Accept a ``date``, a midnight ``datetime`` or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, _dt.datetime):
        if value.time() != _dt.time(0) or value.tzinfo is not None:
            raise value_error(DATE_ALLOWED + " (a date, not a date and time)")
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            raise value_error(DATE_ALLOWED + " (no such calendar day)") from None
    raise value_error(DATE_ALLOWED)


#: A date field: YAML dates and ISO strings in, ISO strings out (JSON).
SpecDate = Annotated[
    _dt.date,
    PlainValidator(parse_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date"}),
]


# --------------------------------------------------------------------------- describing what is allowed
def _fmt_num(x: Any) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return str(x)


def _unwrap(tp: Any) -> tuple[Any, list, bool]:
    """Strip ``Annotated`` and ``Optional``; return (type, metadata, nullable)."""
    meta: list = []
    nullable = False
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            tp, meta = args[0], meta + list(args[1:])
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) < len(get_args(tp)):
                nullable = True
            if len(args) == 1:
                tp = args[0]
                continue
        return tp, meta, nullable


def _bounds(meta: list) -> str:
    lo = hi = None
    lo_open = hi_open = False
    for m in meta:
        for attr, is_lo, is_open in (("gt", True, True), ("ge", True, False), ("lt", False, True), ("le", False, False)):
            v = getattr(m, attr, None)
            if v is None:
                continue
            if is_lo:
                lo, lo_open = v, is_open
            else:
                hi, hi_open = v, is_open
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{_fmt_num(lo)}, {_fmt_num(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {_fmt_num(lo)}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {_fmt_num(hi)}"
    return ""


def describe_type(tp: Any, meta: list | None = None) -> str:
    """Plain-English description of a field type, e.g. ``a number in (0, 300]``."""
    tp, inner_meta, _ = _unwrap(tp)
    meta = list(meta or []) + inner_meta
    for m in meta:
        if isinstance(m, dict) and "allowed" in m:
            return m["allowed"]
    origin = get_origin(tp)
    if origin is Literal:
        text = "one of " + ", ".join(str(a) for a in get_args(tp))
    elif tp is bool:
        text = "true or false"
    elif tp is int:
        text = "an integer" + _bounds(meta)
    elif tp is float:
        text = "a number" + _bounds(meta)
    elif tp is str:
        text = "a string"
    elif tp is _dt.date:
        text = "a date YYYY-MM-DD"
    elif origin in (tuple, list):
        args = get_args(tp)
        if args and Ellipsis not in args and origin is tuple:  # fixed length, e.g. tuple[int, int]
            same = all(a == args[0] for a in args)
            text = f"a list of {len(args)} {_plural(args[0])}" if same else "a list [" + ", ".join(describe_type(a) for a in args) + "]"
        else:
            lo, hi = _length(meta)
            count = f"{lo} to {hi} " if lo and hi else f"at least {lo} " if lo else f"at most {hi} " if hi else ""
            text = ("a non-empty list" if lo == 1 and not hi else "a list") + (f" of {'' if lo == 1 and not hi else count}{_plural(args[0])}"
                                                                            if args else "")
    elif origin in (dict, Mapping) or tp is dict:
        text = "a mapping"
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        text = f"a mapping with keys {', '.join(tp.model_fields)}"
    elif origin in (Union, types.UnionType):
        text = " or ".join(describe_type(a) for a in get_args(tp) if a is not type(None))
    elif tp is Any:
        text = "a value as documented"
    else:
        text = "a value of the documented form"
    return text


def _length(meta: list) -> tuple[int | None, int | None]:
    """(min_length, max_length) of a list field's metadata (``annotated_types.MinLen/MaxLen``)."""
    lo = hi = None
    for m in meta:
        lo = getattr(m, "min_length", lo)
        hi = getattr(m, "max_length", hi)
    return lo, hi


def _plural(tp: Any) -> str:
    """Plural phrase for the items of a list: ``integers in [1, 365]``, ``mappings (keys: ...)``."""
    tp, meta, _ = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"mappings (keys: {', '.join(tp.model_fields)})"
    if get_origin(tp) in (Union, types.UnionType):
        models = [a for a in get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
        if models and len(models) == len([a for a in get_args(tp) if a is not type(None)]):
            return "mappings (" + "; or ".join(f"keys {', '.join(m.model_fields)}" for m in models) + ")"
        return "values that are each " + describe_type(tp)
    if get_origin(tp) is Literal:
        return "values out of " + ", ".join(str(a) for a in get_args(tp))
    if tp is _dt.date:
        return "dates YYYY-MM-DD"
    if tp is float:
        return "numbers" + _bounds(meta)
    if tp is int:
        return "integers" + _bounds(meta)
    if tp is str:
        return "strings"
    if tp is bool:
        return "true/false values"
    if get_origin(tp) in (tuple, list):
        return "lists"
    if get_origin(tp) in (dict, Mapping) or tp is dict:
        return "mappings"
    return "values of the documented form"


def describe_field(info: FieldInfo | None, tp: Any = None) -> str:
    """What a field allows (``json_schema_extra={"allowed": ...}`` overrides the generated text)."""
    if info is not None:
        extra = info.json_schema_extra
        if isinstance(extra, dict) and "allowed" in extra:
            return str(extra["allowed"])
        return describe_type(info.annotation, list(info.metadata))
    if tp is not None:
        return describe_type(tp)
    return "see the documentation of this section"


def _resolve_loc(model: type[BaseModel], loc: tuple) -> tuple[FieldInfo | None, Any, type[BaseModel] | None]:
    """Walk ``loc`` through the model's annotations.

    Returns ``(field_info, type, parent_model)``: the field (when the last part
    names a model field), its type, and the model that owns the last key (for
    unknown keys).
    """
    tp: Any = model
    info: FieldInfo | None = None
    parent: type[BaseModel] | None = None
    for part in loc:
        base, _, _ = _unwrap(tp)
        if isinstance(base, type) and issubclass(base, BaseModel):
            parent = base
            if isinstance(part, str) and part in base.model_fields:
                info = base.model_fields[part]
                tp = info.annotation
                continue
            return None, None, base
        origin = get_origin(base)
        info = None
        if origin in (tuple, list) and isinstance(part, int):
            tp = get_args(base)[0]
            continue
        if origin is dict or base is dict:
            args = get_args(base)
            tp = args[1] if len(args) == 2 else Any
            continue
        return None, None, None
    return info, tp, parent


def _hint(err_type: str, value: Any) -> str:
    if err_type in ("float_type", "int_type", "finite_number") and isinstance(value, str):
        return " (numbers must not be quoted)"
    if err_type in ("float_type", "int_type") and isinstance(value, bool):
        return " (true/false is not a number)"
    if err_type == "int_type" and isinstance(value, float) and value.is_integer():
        return " (write an integer without a decimal point or exponent)"
    return ""


def spec_error_from_validation(exc: ValidationError, model: type[BaseModel], source: str) -> SpecError:
    """Convert a pydantic ``ValidationError`` into one :class:`SpecError`.

    Field paths are spelled as in the file (``shocks[2].vix_level``); each issue
    names the bad value and what is allowed; unknown keys list the allowed keys;
    missing keys say what they are (the field's ``description``).
    """
    issues: list[SpecIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        typ = err.get("type", "")
        ctx = err.get("ctx") or {}
        path = format_loc(loc)
        value = err.get("input")
        if typ == "spec_issues":
            new = [SpecIssue(join_path(path, rel), v, allowed) for rel, v, allowed in ctx["issues"]]
        elif typ == "spec_value":
            new = [SpecIssue(path, value, ctx["allowed"])]
        else:
            info, tp, parent = _resolve_loc(model, loc)
            if typ == "extra_forbidden":
                keys = ", ".join(parent.model_fields) if parent is not None else "see the documentation"
                new = [SpecIssue(path, value, f"unknown key; allowed keys: {keys}")]
            elif typ == "missing":
                what = info.description if info is not None and info.description else ""
                new = [SpecIssue(path, MISSING, f"required ({what})" if what else "required")]
            elif typ in ("model_type", "model_attributes_type", "dict_type") and tp is not None:
                new = [SpecIssue(path, value, f"allowed: {describe_field(info, tp)}")]
            else:
                what = describe_field(info, tp)
                if info is not None and info.description and get_origin(_unwrap(info.annotation)[0]) in (tuple, list) and "(" not in what:
                    what += f" ({info.description})"
                new = [SpecIssue(path, value, f"allowed: {what}{_hint(typ, value)}")]
        for issue in new:
            key = (issue.field, issue.allowed)
            if key not in seen:
                seen.add(key)
                issues.append(issue)
    if not issues:  # pragma: no cover - pydantic always reports at least one error
        issues = [SpecIssue("", MISSING, str(exc))]
    return SpecError(source, issues)


def validate_spec(model: type[BaseModel], data: Any, *, source: str = "<dict>"):
    """Validate ``data`` (a mapping) into ``model``; raise :class:`SpecError` on any problem."""
    if not isinstance(data, Mapping):
        keys = ", ".join(model.model_fields)
        raise SpecError(source, SpecIssue("", data, f"allowed: a mapping with keys {keys}"))
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise spec_error_from_validation(exc, model, source) from None


# --------------------------------------------------------------------------- overrides
_KEY_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def parse_key(key: str) -> list[str | int]:
    """``"events[1].spx_jump.std"`` -> ``["events", 1, "spx_jump", "std"]``.

    Raises ``ValueError`` when the key is not a dotted path of names and ``[i]`` indices.
    """
    parts: list[str | int] = []
    pos = 0
    text = str(key).strip()
    expect_name = True
    while pos < len(text):
        if text[pos] == "." and parts and not expect_name:
            pos += 1
            expect_name = True
            continue
        m = _KEY_PART.match(text, pos)
        if not m or (m.group(1) and not expect_name) or (m.group(2) is not None and not parts):
            raise ValueError(f"malformed key {key!r} (expected e.g. params.kappa or shocks[0].vix_level)")
        parts.append(m.group(1) if m.group(1) else int(m.group(2)))
        expect_name = False
        pos = m.end()
    if not parts or expect_name:
        raise ValueError(f"malformed key {key!r} (expected e.g. params.kappa or shocks[0].vix_level)")
    return parts


def _set_path(data: dict, parts: list, value: Any, model: type[BaseModel], key: str, source: str) -> None:
    """Set ``value`` at ``parts`` inside ``data`` (a dump of ``model``), checking names and indices."""
    node: Any = data
    tp: Any = model
    done = ""
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        base, _, _ = _unwrap(tp)
        if get_origin(base) in (Union, types.UnionType) and isinstance(part, str):
            # a union of models (e.g. a condition term or group): the member that has this key
            members = [a for a in get_args(base) if isinstance(a, type) and issubclass(a, BaseModel)]
            base = next((m for m in members if part in m.model_fields), members[0] if members else base)
        if isinstance(base, type) and issubclass(base, BaseModel):
            if not isinstance(part, str) or part not in base.model_fields:
                where = f" under {done}" if done else ""
                raise SpecError.single(source, key, value, f"unknown key {part!r}{where}; valid keys there: {', '.join(base.model_fields)}")
            tp = base.model_fields[part].annotation
        elif get_origin(base) in (tuple, list):
            if not isinstance(part, int):
                raise SpecError.single(source, key, value, f"{done} is a list; address an entry as {done}[i]")
            size = len(node) if isinstance(node, list) else 0
            if part >= size:
                valid = f"{done}[0] .. {done}[{size - 1}]" if size else "none (the list is empty)"
                raise SpecError.single(source, key, value, f"index out of range; {done} has {size} entries, valid: {valid}")
            tp = get_args(base)[0]
        elif get_origin(base) is dict or base is dict:
            if not isinstance(part, str):
                raise SpecError.single(source, key, value, f"{done} is a mapping; address an entry as {done}.name")
            args = get_args(base)
            tp = args[1] if len(args) == 2 else Any
        else:
            raise SpecError.single(source, key, value, f"{done} is a single value and has no sub-keys")
        done = join_path(done, f"[{part}]" if isinstance(part, int) else part)
        if last and isinstance(value, (bool, int, float, str)) and get_origin(_unwrap(tp)[0]) in (tuple, list):
            info = base.model_fields.get(part) if isinstance(base, type) and issubclass(base, BaseModel) and isinstance(part, str) else None
            what = describe_field(info, tp) + (f": {info.description}" if info is not None and info.description else "")
            raise SpecError.single(source, key, value, f"{done} is a list ({what}), not a single value; set one entry at a time with "
                                   f"{key}[i], e.g. {key}[0]")
        if last:
            if isinstance(node, list):
                node[part] = value
            elif value is None:
                node.pop(part, None)
            else:
                node[part] = value
            return
        child = node[part] if isinstance(node, list) else node.get(part)
        if child is None:
            child = _default_dump(base, part, tp)
            node[part] = child
        node = child


def _default_dump(owner: Any, name: Any, tp: Any) -> Any:
    """JSON dump of the default of field ``name`` of model ``owner`` (field type ``tp``), so that a key can
    address what the file left out, e.g. ``strategy.hedge.layers[0].instrument`` of a scenario without a
    strategy section (its default: ``StrategySpec()``).  A ``None`` default of a model type is that model's
    defaults when it has them; otherwise an empty list or mapping."""
    inner = _unwrap(tp)[0]
    empty: Any = [] if get_origin(inner) in (tuple, list) else {}
    value = None
    if isinstance(owner, type) and issubclass(owner, BaseModel) and isinstance(name, str) and name in owner.model_fields:
        value = owner.model_fields[name].get_default(call_default_factory=True)
    if value is None and isinstance(inner, type) and issubclass(inner, BaseModel):
        try:
            value = inner()
        except ValidationError:  # required fields: nothing to start from
            value = None
    if value is None:
        return empty
    from pydantic import TypeAdapter

    dumped = TypeAdapter(Any).dump_python(value, mode="json", exclude_none=True)
    return dumped if isinstance(dumped, type(empty)) else empty


def apply_overrides(spec: BaseModel, overrides: Mapping[str, Any] | None, *, source: str = "<overrides>"):
    """Return a new, validated spec with dotted keys replaced.

    Keys are field paths as in the file: ``spot``, ``params.kappa``,
    ``shocks[0].vix_level``, ``events[1].spx_jump.std``.  A value of ``None``
    removes the key (e.g. ``{"vix": None, "params.v0": 0.04}`` switches from an
    initial VIX to an initial variance).  Overrides are applied in order, then
    the whole spec is validated again (cross-field checks included).

    Raises :class:`SpecError` naming the key and listing the valid keys at that
    level for an unknown name or index, or the usual validation errors.
    """
    if not overrides:
        return spec
    model = type(spec)
    data = spec.model_dump(mode="json", exclude_none=True)
    for key, value in overrides.items():
        try:
            parts = parse_key(key)
        except ValueError as exc:
            raise SpecError.single(source, str(key), value, str(exc)) from None
        _set_path(data, parts, value, model, str(key), source)
    return validate_spec(model, data, source=source)


# --------------------------------------------------------------------------- provenance
def canonical_json(spec: BaseModel) -> str:
    """Canonical JSON text of a spec: sorted keys, ISO dates, no whitespace, ``None`` left out.

    Equal specs give identical text, whatever key order or date spelling the
    file used; used for provenance (results attrs) and :func:`spec_hash`.
    """
    data = spec.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def spec_hash(spec: BaseModel) -> str:
    """SHA-256 hex digest of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


"""Safe YAML loading for spec files, and access to the built-in scenario library.

The loader is a :class:`yaml.SafeLoader` (no object construction) with three
changes that make spec files less surprising:

* **duplicate keys are errors** (PyYAML silently keeps the last one), reported
  with the key's field path and both line numbers;
* **YAML 1.2 scalars**: only ``true``/``false`` are booleans (``yes``, ``no``,
  ``on``, ``off`` stay strings); no base-60 numbers, so ``time: 14:00`` is the
  string ``"14:00"``, not the integer 840; ``1e4`` is a float and ``010`` is 10;
* syntax errors become a :class:`~gpu_alvh.errors.SpecError` on field ``<yaml>``
  with the line and column;
* **bounded work** (:mod:`gpu_alvh.limits`): the file size, the number of aliases,
  the number of values after alias expansion (no "billion laughs"), the nesting
  depth and the length of a number are limited; recursive aliases are refused.
  Each limit is checked while the file is read or composed, before anything
  large is built, and its error says how to raise it.

Unquoted dates (``2026-07-31``) load as ``datetime.date``.
"""

from __future__ import annotations

import os
import re
import stat
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .. import limits
from ..errors import SpecError, SpecIssue
from .base import Shown

__all__ = ["SpecLoader", "load_yaml", "load_yaml_text", "describe_non_file", "list_library", "library_path", "LIBRARY_PACKAGE"]

#: Package holding the scenario library (the repository's ``scenarios/`` folder).
LIBRARY_PACKAGE = "gpu_alvh.library"

_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"


class _LimitHit(Exception):
    """A limit of :mod:`gpu_alvh.limits` reached while composing (turned into a SpecError with the position)."""

    def __init__(self, name: str, found: str, mark):
        super().__init__(name)
        self.name, self.found, self.mark = name, found, mark


class SpecLoader(yaml.SafeLoader):
    """Safe loader with YAML 1.2 core scalars and bounded composition (see the module docstring)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._max_depth = limits.limit("yaml_depth")
        self._max_aliases = limits.limit("yaml_aliases")
        self._max_number = limits.limit("number_chars")

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self._max_aliases:
                raise _LimitHit("yaml_aliases", f"more than {self._max_aliases:,} aliases", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        limits.WORK["yaml_nodes"] += 1
        if self._depth > self._max_depth:
            raise _LimitHit("yaml_depth", f"nesting deeper than {self._max_depth:,} levels", self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


SpecLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in (_TAG_BOOL, _TAG_INT, _TAG_FLOAT)]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(_TAG_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
SpecLoader.add_implicit_resolver(
    _TAG_INT, re.compile(r"^(?:[-+]?[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$"), list("-+0123456789")
)
SpecLoader.add_implicit_resolver(
    _TAG_FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


def _number_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    text = str(loader.construct_scalar(node))
    cap = getattr(loader, "_max_number", None)
    if cap is not None and len(text) > cap:
        raise _LimitHit("number_chars", f"a number of {len(text):,} characters", node.start_mark)
    return text


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = _number_text(loader, node).replace("_", "")
    if text.startswith("0x"):
        return int(text[2:], 16)
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 10)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    _number_text(loader, node)
    return yaml.SafeLoader.construct_yaml_float(loader, node)


def _construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A YAML date; an impossible one (``2026-02-30``) stays a string for the field's own check to name."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return str(loader.construct_scalar(node))


SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
SpecLoader.add_constructor(_TAG_INT, _construct_int)
SpecLoader.add_constructor(_TAG_FLOAT, _construct_float)
SpecLoader.add_constructor(_TAG_BOOL, _construct_bool)


def _expanded_size(root: yaml.Node) -> int:
    """Number of values the document stands for once every alias is expanded.

    Memoised per node, so it costs one visit per distinct node; raises
    :class:`_LimitHit` beyond the ``yaml_nodes`` limit and for a recursive alias
    (a collection that contains itself).
    """
    cap = limits.limit("yaml_nodes")
    size: dict[int, int] = {}
    open_: set[int] = set()

    def visit(node: yaml.Node) -> int:
        key = id(node)
        if key in size:
            return size[key]
        if key in open_:
            raise _LimitHit("", "a recursive alias (a collection that contains itself)", node.start_mark)
        open_.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(visit(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(visit(k) + visit(v) for k, v in node.value)
        open_.discard(key)
        if total > cap:
            raise _LimitHit("yaml_nodes", f"aliases that expand to more than {cap:,} values", node.start_mark)
        size[key] = total
        return total

    return visit(root)


def _key_label(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"<{node.tag}>"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _find_duplicates(node: yaml.Node, path: str = "", seen_nodes: set | None = None) -> SpecIssue | None:
    """First duplicate mapping key in the node tree, as a SpecIssue (or None)."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # anchors/aliases: visit each node once
        return None
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            label = _key_label(key_node)
            line = key_node.start_mark.line + 1
            if label in first_line:
                return SpecIssue(
                    _join(path, label),
                    Shown(f"a second {label!r} key at line {line}"),
                    f"duplicate key (first given at line {first_line[label]}); each key may appear only once",
                )
            first_line[label] = line
            found = _find_duplicates(value_node, _join(path, label), seen_nodes)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found = _find_duplicates(item, _join(path, i), seen_nodes)
            if found:
                return found
    return None


def load_yaml_text(text: str, source: str = "<yaml>") -> dict[str, Any]:
    """Parse YAML ``text`` (one document) into a dict; see :func:`load_yaml`."""
    if len(text) > limits.limit("yaml_bytes"):
        raise limits.exceeded(source, "<file>", "yaml_bytes", f"{len(text):,} characters")
    loader = SpecLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _expanded_size(node)
            dup = _find_duplicates(node)
            if dup is not None:
                raise SpecError(source, dup)
        data = loader.construct_document(node) if node is not None else None
    except _LimitHit as hit:
        where = f"<yaml> line {hit.mark.line + 1}, column {hit.mark.column + 1}" if hit.mark is not None else "<yaml>"
        if not hit.name:
            raise SpecError(source, SpecIssue(where, Shown(hit.found), "allowed: aliases of values defined before them, not of a collection inside itself")) from None
        raise limits.exceeded(source, where, hit.name, hit.found) from None
    except RecursionError:
        raise limits.exceeded(source, "<yaml>", "yaml_depth", "nesting too deep for the parser") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = str(exc.context) if exc.context else ""
        if context and exc.context_mark is not None and exc.context_mark is not mark:
            context += f" (opened at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        problem = ": ".join(x for x in (context, str(exc.problem) if exc.problem else "") if x) or "invalid YAML"
        if mark is not None:
            lines = text.splitlines()
            shown = lines[mark.line].strip() if 0 <= mark.line < len(lines) else ""
            where = f"line {mark.line + 1}, column {mark.column + 1}"
        else:  # pragma: no cover - PyYAML always marks syntax errors
            shown, where = "", "unknown position"
        raise SpecError(
            source,
            SpecIssue("<yaml>", Shown(repr(shown) if shown else "(end of file)"), f"YAML syntax error at {where}: {problem}; allowed: valid YAML"),
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(source, SpecIssue("<yaml>", Shown("(file)"), f"YAML error: {exc}; allowed: valid YAML")) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        shown = Shown("an empty document") if data is None else data
        raise SpecError(source, SpecIssue("", shown, "allowed: a YAML mapping of keys to values at the top level"))
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise SpecError(source, SpecIssue(str(bad_keys[0]), bad_keys[0], "allowed: keys are names (strings)"))
    return data


def load_yaml(path: str | os.PathLike | Any, *, source: str | None = None) -> dict[str, Any]:
    """Load one YAML spec file safely into a dict.

    Parameters
    ----------
    path
        File path (or an ``importlib.resources`` traversable).
    source
        Label used in errors; default: the path as given.

    Raises
    ------
    SpecError
        File missing or unreadable (field ``<file>``), YAML syntax error (field
        ``<yaml>`` with line and column), duplicate key (its field path and
        lines), or a top level that is not a mapping.
    """
    label = str(path) if source is None else source
    cap = limits.limit("yaml_bytes")
    try:
        if isinstance(path, (str, os.PathLike)):
            info = os.stat(path)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(path)
            if not stat.S_ISREG(info.st_mode):  # a FIFO would block the read; a device may never end
                raise SpecError(label, SpecIssue("<file>", Shown(str(path)), f"is {_file_kind(info.st_mode)}, not a file; allowed: a regular YAML file"))
            if info.st_size > cap:
                raise limits.exceeded(label, "<file>", "yaml_bytes", f"a file of {info.st_size:,} bytes")
            with open(path, "rb") as fh:
                raw = fh.read(cap + 1)
        else:  # an importlib.resources traversable (the library)
            raw = path.read_bytes()
        limits.WORK["yaml_bytes"] += len(raw)
        if len(raw) > cap:
            raise limits.exceeded(label, "<file>", "yaml_bytes", f"a file of more than {cap:,} bytes")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise SpecError(label, SpecIssue("<file>", Shown(str(path)), "file not found")) from None
    except IsADirectoryError:
        raise SpecError(label, SpecIssue("<file>", Shown(str(path)), "is a directory; allowed: a YAML file")) from None
    except UnicodeDecodeError as exc:
        raise SpecError(label, SpecIssue("<file>", Shown(str(path)), f"not UTF-8 text ({exc.reason}); allowed: a UTF-8 YAML file")) from None
    except OSError as exc:
        raise SpecError(label, SpecIssue("<file>", Shown(str(path)), f"cannot be read ({exc.strerror})")) from None
    return load_yaml_text(text, label)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def describe_non_file(path: str | os.PathLike) -> str | None:
    """What ``path`` is when it exists but is not a regular file (``"a directory"``, ``"a FIFO (named pipe)"``), else ``None``.

    Uses ``stat`` only: never opens (and so never blocks on) a FIFO.
    """
    try:
        info = os.stat(path)
    except OSError:
        return None
    if stat.S_ISREG(info.st_mode):
        return None
    return "a directory" if stat.S_ISDIR(info.st_mode) else _file_kind(info.st_mode)


# --------------------------------------------------------------------------- library
def _library_root():
    """The installed package :data:`LIBRARY_PACKAGE`, else (a source checkout on ``PYTHONPATH``, not
    installed: the package exists only through ``pyproject.toml``'s package-dir mapping) the checkout's
    ``scenarios/`` folder."""
    try:
        return resources.files(LIBRARY_PACKAGE)
    except ModuleNotFoundError:
        folder = Path(__file__).resolve().parents[2] / "scenarios"
        if (folder / "__init__.py").is_file():
            return folder
        raise


def list_library() -> list[str]:
    """Names of the built-in scenarios (file stems of ``scenarios/*.yaml``), sorted."""
    names = [p.name[: -len(".yaml")] for p in _library_root().iterdir() if p.name.endswith(".yaml") and p.is_file()]
    return sorted(names)


def library_path(name: str):
    """Path (an ``importlib.resources`` traversable; a ``pathlib.Path`` for normal installs) of library scenario ``name``.

    Raises :class:`SpecError` listing the library names when there is none by that name.
    """
    stem = str(name)[:-5] if str(name).endswith(".yaml") else str(name)
    names = list_library()
    if stem not in names:
        raise SpecError(str(name), SpecIssue("<scenario>", stem, f"no library scenario by that name; library scenarios: {', '.join(names)}"))
    return _library_root().joinpath(f"{stem}.yaml")

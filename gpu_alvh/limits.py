"""Limits that keep hostile or mistaken input cheap to refuse.

A file of junk, a YAML "billion laughs" bomb, a 64-million-cell grid or a run that cannot fit
in memory is refused in well under a second, before any real work, with a
:class:`~gpu_alvh.errors.SpecError` (exit code 2) that names the limit and the environment
variable that raises it:

=============================================  ====================  ==========================
limit                                          default               raise it with
=============================================  ====================  ==========================
size of one YAML file (scenario/strategy/sweep) 4 MiB                 ``ALVH_MAX_YAML_BYTES``
aliases (``*name``) in one YAML file           100                   ``ALVH_MAX_YAML_ALIASES``
values after alias expansion, one file         1,000,000             ``ALVH_MAX_YAML_NODES``
nesting depth of one YAML file                 64                    ``ALVH_MAX_YAML_DEPTH``
characters of one number                       100                   ``ALVH_MAX_NUMBER_CHARS``
cells of one sweep                             100,000               ``ALVH_MAX_CELLS``
host memory of one run's results               90% of available      ``ALVH_MAX_MEMORY``
=============================================  ====================  ==========================

:data:`WORK` counts what the checked stages did (bytes read, YAML nodes composed, sweep
cells built), so tests can assert that a hostile input was refused after bounded work.
"""

from __future__ import annotations

import os
import re
from collections import Counter

from .errors import SpecError, SpecIssue

__all__ = ["LIMITS", "WORK", "limit", "exceeded", "available_memory", "memory_limit", "check_memory", "format_bytes"]

#: name -> (environment variable, default, what it limits)
LIMITS: dict[str, tuple[str, int, str]] = {
    "yaml_bytes": ("ALVH_MAX_YAML_BYTES", 4 << 20, "bytes per YAML file"),
    "yaml_aliases": ("ALVH_MAX_YAML_ALIASES", 100, "aliases (*name) per YAML file"),
    "yaml_nodes": ("ALVH_MAX_YAML_NODES", 1_000_000, "values per YAML file after alias expansion"),
    "yaml_depth": ("ALVH_MAX_YAML_DEPTH", 64, "levels of nesting per YAML file"),
    "number_chars": ("ALVH_MAX_NUMBER_CHARS", 100, "characters per number"),
    "cells": ("ALVH_MAX_CELLS", 100_000, "cells per sweep"),
}

#: work done by the checked stages (see the module docstring)
WORK: Counter = Counter()

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*", re.I)
_UNIT = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
         "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30, "ti": 2**40, "tib": 2**40}


def _parse_env(var: str, text: str) -> int:
    m = _SIZE.fullmatch(text)
    if not m or float(m.group(1)) <= 0:
        raise SpecError("environment", SpecIssue(f"${var}", text, "allowed: a positive integer (sizes may end in KiB, MiB, GiB, e.g. 16GiB)"))
    return int(float(m.group(1)) * _UNIT[(m.group(2) or "").lower()])


def limit(name: str) -> int:
    """Current value of limit ``name`` (its environment variable, else the default)."""
    var, default, _ = LIMITS[name]
    text = os.environ.get(var, "").strip()
    return _parse_env(var, text) if text else default


def exceeded(source: str, field: str, name: str, found: str) -> SpecError:
    """The error for input over limit ``name`` (``found`` says what was found): which limit, and how to raise it."""
    var, _, what = LIMITS[name]
    return SpecError(source, SpecIssue(field, _Text(found), f"limit: at most {limit(name):,} {what}; set {var} to a larger number to raise it"))


class _Text:
    """A value shown as written (``1,048,577 aliases``), not as its repr."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def format_bytes(n: float) -> str:
    for unit, k in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{int(n)} B"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit() -> tuple[int | None, str]:
    """(bytes a run may hold, where that number comes from)."""
    text = os.environ.get("ALVH_MAX_MEMORY", "").strip()
    if text:
        return _parse_env("ALVH_MAX_MEMORY", text), "ALVH_MAX_MEMORY"
    avail = available_memory()
    if avail is None:
        return None, "unknown"
    return int(avail * 0.9), f"90% of the {format_bytes(avail)} of memory available now"


def check_memory(nbytes: int, request: str, *, option: str = "--paths", source: str = "command line") -> None:
    """Refuse work whose host arrays (``nbytes``) cannot fit in memory.

    ``request`` describes the work (``"10,000,000 paths x 253 steps"``); the error names
    ``option`` and says how to raise the limit.
    """
    cap, origin = memory_limit()
    if cap is None or nbytes <= cap:
        return
    raise SpecError(source, SpecIssue(option, _Text(request),
                                      f"its results need ~{format_bytes(nbytes)} of memory; limit: {format_bytes(cap)} of host memory "
                                      f"({origin}); use fewer paths or days, or set ALVH_MAX_MEMORY (e.g. ALVH_MAX_MEMORY=64GiB) to raise the limit"))

"""Frozen, validated specs and their YAML loading (no arrays here).

Public API:

* :class:`ScenarioSpec` (with :class:`ShockSpec`, :class:`EventSpec`) and
  :func:`load_scenario` - scenario from a YAML file, a dict, or a library name;
* :func:`list_library` / :func:`library_path` - the built-in scenarios;
* :func:`apply_overrides` - new validated spec with dotted keys replaced;
* :func:`spec_hash` / :func:`canonical_json` - provenance.
"""

from __future__ import annotations

from .base import apply_overrides, canonical_json, spec_hash
from .loader import library_path, list_library, load_yaml
from .strategy import HedgeLayerSpec, HedgeSpec, StrategySpec, default_strategy, load_strategy
from .scenario import (
    EventRule,
    EventSpec,
    JumpSpec,
    ResolvedEvent,
    ResolvedShock,
    ScenarioSpec,
    ShockSpec,
    load_scenario,
)

__all__ = [
    "ScenarioSpec",
    "ShockSpec",
    "EventSpec",
    "EventRule",
    "JumpSpec",
    "ResolvedShock",
    "ResolvedEvent",
    "load_scenario",
    "StrategySpec",
    "HedgeSpec",
    "HedgeLayerSpec",
    "default_strategy",
    "load_strategy",
    "list_library",
    "library_path",
    "load_yaml",
    "apply_overrides",
    "canonical_json",
    "spec_hash",
]

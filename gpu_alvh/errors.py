"""Error types of gpu_alvh.

Every error a user can cause by bad input is a :class:`SpecError`: it names the
file (or ``<dict>`` for in-memory specs), the field path in the same spelling the
user wrote it (``shocks[2].vix_level``), the bad value and what is allowed.  The
CLI turns a :class:`SpecError` into exit code 2 and prints its message, never a
traceback.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = [
    "AlvhError",
    "SpecError",
    "SpecIssue",
    "BackendUnavailableError",
    "NonFiniteError",
]


class AlvhError(Exception):
    """Base class of the errors raised on purpose by gpu_alvh."""


class SpecIssue:
    """One problem in a spec: where it is, what was found and what is allowed."""

    __slots__ = ("field", "value", "allowed")

    def __reduce__(self):
        return (SpecIssue, (self.field, self.value, self.allowed))

    def __init__(self, field: str, value: Any, allowed: str):
        self.field = field or "<top level>"
        self.value = value
        self.allowed = allowed

    def __str__(self) -> str:
        if self.value is _MISSING:
            return f"{self.field}: missing; {self.allowed}"
        return f"{self.field}: {_short_repr(self.value)} is not allowed; {self.allowed}"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SpecIssue({self.field!r}, {self.value!r}, {self.allowed!r})"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
SpecIssue.MISSING = _MISSING  # type: ignore[attr-defined]


class Shown:
    """A value shown verbatim in error messages (``repr`` returns ``text``)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 8, 8, 6, 6
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 80, 80, 40


def _short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters, with bounded work for huge values (``reprlib``); a value the
    code chose to show verbatim (``spec.base.Shown``: a path, a date) keeps up to 1,000 characters."""
    if isinstance(value, Shown):
        text, limit = value.text, 1000
        return text if len(text) <= limit else text[: limit - 3] + "..."
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: issues listed in the message of one SpecError (all of them stay in ``SpecError.issues``)
MAX_LISTED = 8


class SpecError(AlvhError, ValueError):
    """Invalid user input (scenario, strategy or sweep file, or API argument).

    Parameters
    ----------
    source
        File path, or a short label such as ``"<dict>"`` or ``"argument"``.
    issues
        One or more :class:`SpecIssue`; the message lists each on its own line.
    """

    def __init__(self, source: str, issues: list[SpecIssue] | SpecIssue):
        if isinstance(issues, SpecIssue):
            issues = [issues]
        if not issues:
            raise ValueError("SpecError needs at least one issue")
        self.source = str(source)
        self.issues = list(issues)
        super().__init__(self._format())

    def __reduce__(self):  # picklable (crosses Dask workers)
        return (type(self), (self.source, self.issues))

    @classmethod
    def single(cls, source: str, field: str, value: Any, allowed: str) -> "SpecError":
        """Shortcut for an error with one issue."""
        return cls(source, [SpecIssue(field, value, allowed)])

    @property
    def field(self) -> str:
        """Field path of the first issue (handy in tests)."""
        return self.issues[0].field

    def _format(self) -> str:
        if len(self.issues) == 1:
            return f"{self.source}: {self.issues[0]}"
        lines = [f"{self.source}: {len(self.issues):,} problems"]
        lines += [f"  - {issue}" for issue in self.issues[:MAX_LISTED]]
        if len(self.issues) > MAX_LISTED:
            lines.append(f"  ... and {len(self.issues) - MAX_LISTED:,} more")
        return "\n".join(lines)


class BackendUnavailableError(AlvhError, RuntimeError):
    """The requested array backend cannot run on this machine."""


class NonFiniteError(AlvhError, FloatingPointError):
    """A NaN or infinity appeared inside the engine.

    The run stops and reports the scenario, the path and the step (with its
    date) where the first non-finite value appeared, and in which variable.
    """

    def __init__(self, scenario: str, variable: str, path: int, step: int, when: Any = None):
        self.scenario = scenario
        self.variable = variable
        self.path = int(path)
        self.step = int(step)
        self.when = when
        at = f"step {self.step}" + (f" ({when})" if when is not None else "")
        self._args = (scenario, variable, path, step, when)
        super().__init__(
            f"non-finite {variable} in scenario {scenario!r}, path {self.path}, {at}; "
            "the parameters drive the model outside its numerically safe range"
        )

    def __reduce__(self):  # picklable (crosses Dask workers)
        return (type(self), self._args)

"""Scenario spec: market model, stress shocks and event calendar (SPEC section 4).

A scenario is one YAML file (the library lives in ``scenarios/``); loading it
gives an immutable, validated :class:`ScenarioSpec`.  The field names are a
contract read by the compiler (``compile.py``); ``docs/scenarios.md`` documents
every key with units, defaults and examples.

Example
-------
>>> from gpu_alvh.spec import load_scenario
>>> spec = load_scenario({
...     "name": "demo", "model": "heston", "spot": 5000.0, "vix": 18.0,
...     "params": {"kappa": 2.0, "theta": 0.04, "sigma": 0.5, "rho": -0.7},
...     "start": "2026-07-31", "horizon": 10,
...     "shocks": [{"spx_return": -0.03, "day": 2}],
... })
>>> spec.resolved_shocks()[0]
ResolvedShock(kind='spx_return', value=-0.03, first_day=2, last_day=2, note='', surprise=False)
>>> round(float(spec.model_q().vix_from_variance(spec.v0())), 10)
18.0

Trading days: day 0 is ``start`` (an NYSE session); day ``k`` is the ``k``-th
session after it, ``k = 1..horizon``.  Shocks and events address days either by
index or by session date.
"""

from __future__ import annotations

import calendar as _stdcal
import dataclasses
import datetime as _dt
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Optional, Union

from pydantic import AfterValidator, Field, PlainSerializer, PlainValidator, PrivateAttr, WithJsonSchema, field_validator, model_validator

from .. import calendar as cal
from ..errors import SpecError, SpecIssue
from ..models import MODELS, AffineModel, get_model
from .base import (
    check_id,
    MISSING,
    FrozenDict,
    FrozenModel,
    Shown,
    SpecDate,
    apply_overrides,
    parse_date,
    raise_issues,
    show_date,
    validate_spec,
    value_error,
)
from .historical import HistoricalSpec
from .loader import describe_non_file, library_path, list_library, load_yaml
from .strategy import StrategySpec, default_strategy

__all__ = [
    "ScenarioSpec",
    "ShockSpec",
    "EventSpec",
    "EventRule",
    "JumpSpec",
    "ResolvedShock",
    "ResolvedEvent",
    "POINT_EFFECTS",
    "WINDOW_EFFECTS",
    "DEFAULT_EVENT_TIMES",
    "load_scenario",
    "scenario_from_dict",
]

# --------------------------------------------------------------------------- field types
def _day_ref(value: Any) -> Union[int, _dt.date]:
    """A trading-day reference: an int index (>= 1) or a date."""
    if isinstance(value, bool):
        raise value_error("allowed: a trading-day index (integer >= 1) or a session date YYYY-MM-DD")
    if isinstance(value, int):
        if value < 1:
            raise value_error("allowed: a trading-day index >= 1 (day 1 is the first session after start) or a session date")
        return value
    if isinstance(value, (_dt.date, str)):
        try:
            return parse_date(value)
        except Exception:
            pass
    raise value_error("allowed: a trading-day index (integer >= 1) or a session date YYYY-MM-DD")


#: Day 1..horizon, or a session date inside the horizon.
DayRef = Annotated[
    Union[int, _dt.date],
    PlainValidator(_day_ref),
    PlainSerializer(lambda d: d if isinstance(d, int) else d.isoformat(), when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "format": "date"}]}),
]


def _freeze_params(value: dict[str, Any]) -> dict[str, Any]:
    # numbers (not booleans) become floats; anything else is kept for check_params to report
    return FrozenDict({k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in value.items()})


ParamDict = Annotated[dict[str, Any], AfterValidator(_freeze_params)]

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

#: Shock effects applied at one step (take ``day``).
POINT_EFFECTS: dict[str, str] = {
    "spx_return": "SPX gap: S is multiplied by (1 + spx_return) on that day; -0.041 = -4.1%",
    "vix_level": "VIX set to this level (points) by moving the variance through the VIX formula",
    "vix_change": "VIX moved by this many points (variance moved through the VIX formula; floored at v = 0)",
}
#: Shock effects applied over a window of days (take ``start`` and ``end``).
WINDOW_EFFECTS: dict[str, str] = {
    "vol_of_vol_multiplier": "sigma (vol of variance) multiplied by this factor inside the window (paths and, unless surprise, prices)",
    "jump_intensity_multiplier": "jump intensity multiplied by this factor inside the window (paths and, unless surprise, prices; no effect without jumps)",
    "correlation": "price/variance correlation rho replaced by this value inside the window (paths and, unless surprise, prices)",
}
EFFECTS = {**POINT_EFFECTS, **WINDOW_EFFECTS}

#: Default release time (New York) by event kind.
DEFAULT_EVENT_TIMES: dict[str, str] = {"fomc": "14:00", "cpi": "08:30", "ppi": "08:30", "custom": "09:30"}
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
#: State entries of ``params`` (not model parameters): the initial variance(s).
_STATE = ("v0", "v2_0")


# --------------------------------------------------------------------------- resolved records
class ResolvedShock(NamedTuple):
    """One shock mapped to trading days (``first_day == last_day`` for point shocks)."""

    kind: str
    value: float
    first_day: int
    last_day: int
    note: str
    surprise: bool = False


class ResolvedEvent(NamedTuple):
    """One event occurrence on a trading day of the horizon."""

    kind: str
    name: str
    day_index: int
    time: str
    jump_mean: float
    jump_std: float
    variance_bump: float
    pre_days: int
    variance_crush: float


# --------------------------------------------------------------------------- shocks
class ShockSpec(FrozenModel):
    """One deterministic overlay applied to every path (one entry = one effect).

    Point effects (``spx_return``, ``vix_level``, ``vix_change``) take ``day``;
    window effects (``vol_of_vol_multiplier``, ``jump_intensity_multiplier``,
    ``correlation``) take ``start`` and ``end`` (inclusive).  Days are trading-day
    indices ``1..horizon`` or session dates inside the horizon.
    """

    spx_return: Optional[float] = Field(None, gt=-1.0, le=1.0, strict=True, description="SPX gap as a simple return (-0.041 = -4.1%)")
    vix_level: Optional[float] = Field(None, gt=0.0, le=300.0, strict=True, description="VIX level to set, points")
    vix_change: Optional[float] = Field(None, ge=-100.0, le=300.0, strict=True, description="VIX move, points")
    vol_of_vol_multiplier: Optional[float] = Field(None, ge=0.0, le=20.0, strict=True, description="factor on sigma")
    jump_intensity_multiplier: Optional[float] = Field(None, ge=0.0, le=1000.0, strict=True, description="factor on the jump intensity")
    correlation: Optional[float] = Field(None, ge=-1.0, le=1.0, strict=True, description="rho inside the window")
    day: Optional[DayRef] = Field(None, description="day of a point effect: index 1..horizon or session date")
    start: Optional[DayRef] = Field(None, description="first day of a window effect")
    end: Optional[DayRef] = Field(None, description="last day of a window effect (inclusive)")
    surprise: Optional[bool] = Field(
        None, strict=True, description="window effects: true = only the paths change, the prices keep the base pricing model (default false)"
    )
    note: Optional[str] = Field(None, strict=True, description="free text")

    @model_validator(mode="after")
    def _check_shape(self) -> "ShockSpec":
        given = {k: getattr(self, k) for k in EFFECTS if getattr(self, k) is not None}
        effect_keys = ", ".join(EFFECTS)
        if not given:
            raise_issues([("", Shown("no effect key"), f"allowed: exactly one effect key per entry: {effect_keys}")])
        if len(given) > 1:
            raise_issues([("", given, f"allowed: exactly one effect per entry (got {' and '.join(given)}; write one entry per effect)")])
        (kind,) = given
        timing = {k: getattr(self, k) for k in ("day", "start", "end") if getattr(self, k) is not None}
        if kind in POINT_EFFECTS:
            if "start" in timing or "end" in timing:
                wrong = {k: v for k, v in timing.items() if k in ("start", "end")}
                raise_issues(
                    [
                        (
                            "",
                            _show_timing(wrong),
                            f"{kind} is a point effect: it takes day (one trading day), not start/end (those are for {', '.join(WINDOW_EFFECTS)})",
                        )
                    ]
                )
            if "day" not in timing:
                raise_issues([("day", MISSING, f"required: {kind} is a point effect and needs day (index 1..horizon or session date)")])
            if self.surprise is not None:
                raise_issues([("surprise", self.surprise, f"allowed: only on window effects ({', '.join(WINDOW_EFFECTS)}); {kind} moves the state, and prices follow the state")])
        else:
            if "day" in timing:
                raise_issues(
                    [
                        (
                            "",
                            _show_timing({"day": timing["day"]}),
                            f"{kind} is a window effect: it takes start and end (inclusive), not day (day is for {', '.join(POINT_EFFECTS)})",
                        )
                    ]
                )
            missing = [k for k in ("start", "end") if k not in timing]
            if missing:
                raise_issues([(k, MISSING, f"required: {kind} is a window effect and needs start and end (inclusive)") for k in missing])
            s, e = timing["start"], timing["end"]
            if type(s) is type(e) and e < s:
                raise_issues([("end", _show_day(e), f"allowed: end >= start ({_show_day(s)!r}); windows are inclusive")])
        return self

    @property
    def kind(self) -> str:
        """The effect key of this entry (``"spx_return"``, ``"correlation"``, ...)."""
        return next(k for k in EFFECTS if getattr(self, k) is not None)

    @property
    def value(self) -> float:
        """The effect's value."""
        return float(getattr(self, self.kind))


def _show_day(d: Any) -> Any:
    return show_date(d) if isinstance(d, _dt.date) else d


def _show_timing(timing: dict[str, Any]) -> Shown:
    return Shown("{" + ", ".join(f"{k}: {d.isoformat() if isinstance(d, _dt.date) else d}" for k, d in timing.items()) + "}")


# --------------------------------------------------------------------------- events
class JumpSpec(FrozenModel):
    """Normal log-return jump added to S on the event step."""

    mean: float = Field(0.0, ge=-1.0, le=1.0, strict=True, description="mean log return of the event jump")
    std: float = Field(0.0, ge=0.0, le=1.0, strict=True, description="standard deviation of the event log-return jump")


class EventRule(FrozenModel):
    """Monthly recurrence: ``{every: month, day: 13}`` or ``{every: month, weekday: wed, nth: 2}``.

    A date that is not a session rolls forward to the next session.  ``day``
    beyond the month's length means the month's last day; a month without an
    ``nth`` weekday (e.g. a fifth Friday) has no event.
    """

    every: Literal["month"] = Field(description="recurrence period (only month for now)")
    day: Optional[int] = Field(None, ge=1, le=31, strict=True, description="day of the month")
    weekday: Optional[Literal["mon", "tue", "wed", "thu", "fri"]] = Field(None, description="weekday, with nth")
    nth: Optional[int] = Field(None, ge=1, le=5, strict=True, description="which weekday of the month (1 = first), with weekday")

    @model_validator(mode="after")
    def _check_shape(self) -> "EventRule":
        by_day = self.day is not None
        by_weekday = self.weekday is not None or self.nth is not None
        if by_day and by_weekday:
            raise_issues([("", self.to_dict(), "allowed: either day (day of month) or weekday + nth, not both")])
        if not by_day and not by_weekday:
            raise_issues([("", self.to_dict(), "allowed: {every: month, day: 1..31} or {every: month, weekday: mon..fri, nth: 1..5}")])
        if by_weekday:
            if self.weekday is None:
                raise_issues([("weekday", MISSING, "required with nth: one of mon, tue, wed, thu, fri")])
            if self.nth is None:
                raise_issues([("nth", MISSING, "required with weekday: 1..5 (1 = first such weekday of the month)")])
        return self

    def dates(self, first: _dt.date, last: _dt.date) -> list[_dt.date]:
        """Session dates the rule gives for the months from ``first`` to ``last`` (rolled forward)."""
        out: list[_dt.date] = []
        y, m = first.year, first.month
        while (y, m) <= (last.year, last.month):
            n_days = _stdcal.monthrange(y, m)[1]
            if self.day is not None:
                d: Optional[_dt.date] = _dt.date(y, m, min(self.day, n_days))
            else:
                wd = _WEEKDAYS.index(self.weekday)  # type: ignore[arg-type]
                first_wd = (wd - _dt.date(y, m, 1).weekday()) % 7 + 1
                dom = first_wd + 7 * (int(self.nth) - 1)  # type: ignore[arg-type]
                d = _dt.date(y, m, dom) if dom <= n_days else None
            if d is not None:
                out.append(cal.next_session(d))
            y, m = (y, m + 1) if m < 12 else (y + 1, 1)
        return out


class EventSpec(FrozenModel):
    """A scheduled macro event (FOMC / CPI / PPI / custom) on explicit dates or by rule.

    On the event step S gets a normal log-return jump ``spx_jump``; over the
    ``pre_days`` sessions before the event the variance is multiplied by
    ``(1 + variance_bump) ** (1 / pre_days)`` per session (implied-variance
    build-up); at the event step, after the jump, it is multiplied by
    ``1 - variance_crush``.  Occurrences outside ``(start, end of horizon]`` are
    ignored.
    """

    kind: Literal["fomc", "cpi", "ppi", "custom"] = Field(description="event type: fomc, cpi, ppi or custom")
    name: Optional[str] = Field(None, strict=True, description="label (default: the kind in capitals)")
    dates: Optional[tuple[SpecDate, ...]] = Field(None, min_length=1, description="explicit session dates")
    rule: Optional[EventRule] = Field(None, description="monthly recurrence rule")
    time: Optional[str] = Field(
        None,
        strict=True,
        description="release time HH:MM, New York",
        json_schema_extra={"allowed": "a time HH:MM (24-hour clock, New York time), e.g. 08:30 or 14:00"},
    )
    spx_jump: JumpSpec = Field(default_factory=JumpSpec, description="event-day log-return jump {mean, std}")
    variance_bump: float = Field(0.0, ge=0.0, le=5.0, strict=True, description="fractional variance increase before the event")
    pre_days: int = Field(3, ge=1, le=20, strict=True, description="sessions over which the bump builds")
    variance_crush: float = Field(0.0, ge=0.0, le=0.95, strict=True, description="fractional variance drop at the event")

    @model_validator(mode="before")
    @classmethod
    def _default_time(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("time") is None and data.get("kind") in DEFAULT_EVENT_TIMES:
            data = {**data, "time": DEFAULT_EVENT_TIMES[data["kind"]]}
        return data

    @field_validator("time")
    @classmethod
    def _check_time(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not _HHMM.match(v):
            raise value_error("allowed: a time HH:MM (24-hour clock, New York time), e.g. 08:30 or 14:00")
        return v

    @field_validator("dates")
    @classmethod
    def _check_dates(cls, v: Optional[tuple[_dt.date, ...]]) -> Optional[tuple[_dt.date, ...]]:
        if v is None:
            return None
        raise_issues(
            [
                (f"[{k}]", show_date(d), f"allowed: NYSE session dates; the next session is {cal.next_session(d).isoformat()}")
                for k, d in enumerate(v)
                if not cal.is_session(d)
            ]
        )
        return tuple(sorted(set(v)))  # canonical order (hash); the order of occurrences comes from the dates

    @model_validator(mode="after")
    def _check_shape(self) -> "EventSpec":
        if (self.dates is None) == (self.rule is None):
            given = "both" if self.dates is not None else "neither"
            raise_issues(
                [
                    (
                        "",
                        Shown(f"{given} of dates and rule"),
                        "allowed: exactly one of dates (a list of session dates) and rule ({every: month, day: 13} or {every: month, weekday: wed, nth: 2})",
                    )
                ]
            )
        return self

    @property
    def label(self) -> str:
        return self.name or self.kind.upper()


# --------------------------------------------------------------------------- scenario
def _name_from(stem: str) -> str:
    text = re.sub(r"[^a-z0-9_.-]+", "_", stem.lower()).strip("_.-")
    return text or "scenario"


def regime_model(model: AffineModel, key: tuple[float, float, float]) -> AffineModel:
    """``model`` in a window regime ``key = (sigma factor, jump-intensity factor, rho or inf)``: ``sigma``
    and the jump intensity multiplied, ``rho`` replaced (when finite) - for a two-factor model ``sigma2``
    and ``rho2`` too; ``model`` itself for ``(1, 1, inf)``.
    A plain copy (:func:`dataclasses.replace`, not re-validated: a window may take a parameter beyond
    the range a scenario file may set, as it does on the paths)."""
    ms, ml, rho = key
    if (ms, ml) == (1.0, 1.0) and not math.isfinite(rho):
        return model
    changes: dict[str, float] = {"sigma": model.sigma * ms}
    two = model.n_factors == 2  # both variance factors take the window's vol of vol and correlation
    if two:
        changes["sigma2"] = model.sigma2 * ms
    if "jump_intensity" in model.to_dict():
        changes["jump_intensity"] = model.jump_intensity * ml
    if math.isfinite(rho):
        changes["rho"] = rho
        if two:
            changes["rho2"] = rho
    return dataclasses.replace(model, **changes)


class ScenarioSpec(FrozenModel):
    """A validated, immutable scenario (SPEC section 4).

    Parameters are documented per key in ``docs/scenarios.md``.  Units: ``spot``
    in index points; ``vix`` in VIX points; ``params``/``pricing`` as in
    :mod:`gpu_alvh.models` (decimal variance, per-year rates); ``rate``,
    ``dividend_yield`` and ``drift`` continuously compounded per year;
    ``horizon`` in trading days.
    """

    name: str = Field(
        strict=True,
        max_length=100,
        description="scenario id used in results",
        json_schema_extra={"allowed": "an id of lower-case letters, digits, '_', '.', '-' starting with a letter or digit"},
    )
    description: str = Field("", strict=True, description="free text")
    source: str = Field("", strict=True, description="where the numbers come from")
    model: Literal[tuple(MODELS)] = Field(description=f"market model: {', '.join(MODELS)} (the model registry)")  # type: ignore[valid-type]
    scheme: Literal["qe", "euler"] = Field("qe", description="simulation scheme")
    params: ParamDict = Field(description="physical (P) model parameters, e.g. {kappa, theta, sigma, rho}")
    pricing: Optional[ParamDict] = Field(None, description="pricing (Q) parameter overrides")
    spot: Optional[float] = Field(None, gt=0.0, strict=True, description="initial SPX level, index points")
    vix: Optional[float] = Field(None, gt=0.0, le=300.0, strict=True, description="initial VIX, points")
    rate: float = Field(0.0, ge=-0.05, le=0.25, strict=True, description="risk-free rate, continuous, per year")
    dividend_yield: float = Field(0.0, ge=0.0, le=0.2, strict=True, description="dividend yield, continuous, per year")
    drift: Optional[float] = Field(None, ge=-2.0, le=2.0, strict=True, description="P equity drift per year (default rate - dividend_yield)")
    start: Optional[SpecDate] = Field(None, description="start date, an NYSE session (day 0)")
    horizon: Optional[int] = Field(None, ge=1, le=2520, strict=True, description="number of trading days simulated")
    steps_per_day: int = Field(1, ge=1, le=390, strict=True, description="simulation steps per trading day")
    shocks: tuple[ShockSpec, ...] = Field((), description="deterministic overlays")
    events: tuple[EventSpec, ...] = Field((), description="scheduled macro events")
    paths: int = Field(10000, ge=1, le=10**9, strict=True, description="number of Monte Carlo paths")
    seed: int = Field(0, ge=0, le=2**32 - 1, strict=True, description="random seed")
    historical: Optional[HistoricalSpec] = Field(None, description="replay of a real episode {episode | from, to; dispersion, implied_vol, file}")
    strategy: Optional[StrategySpec] = Field(None, description="strategy section (inline mapping or a YAML file path); default: SPEC section 6 defaults")

    _sessions: tuple = PrivateAttr(default=())
    _shocks: tuple = PrivateAttr(default=())
    _events: tuple = PrivateAttr(default=())
    _derived: tuple = PrivateAttr(default=())  # fields set from the historical data (left out of dumps)

    # ----------------------------------------------------------------- field checks
    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        return check_id(v)

    # ----------------------------------------------------------------- cross-field checks
    @model_validator(mode="after")
    def _check_scenario(self) -> "ScenarioSpec":
        issues: list[tuple[str, Any, str]] = []
        if self.historical is not None:
            issues += self._derive_from_history()
        else:
            for key in ("spot", "start", "horizon"):
                if getattr(self, key) is None:
                    issues.append((key, MISSING, f"required ({type(self).model_fields[key].description})"))
        mcls = get_model(self.model)
        p_issues = mcls.check_params(dict(self.params), allow_state=True, required=True)
        issues += [(_prefix("params", i.field), i.value, i.allowed) for i in p_issues]
        q_ok = not p_issues
        if self.pricing is not None:
            q_issues = mcls.check_params(dict(self.pricing), allow_state=False, required=False)
            issues += [(_prefix("pricing", i.field), i.value, i.allowed) for i in q_issues]
            if not p_issues and not q_issues:
                merged = {k: v for k, v in {**self.params, **self.pricing}.items() if k not in _STATE}
                joint = mcls.check_params(merged, allow_state=False, required=True)
                issues += [(_prefix("pricing", i.field), i.value, i.allowed + " (P parameters merged with the pricing overrides)") for i in joint]
                q_ok = not joint
            else:
                q_ok = False

        floor = None
        if q_ok:
            try:
                floor = self.model_q().vix_floor()
            except ArithmeticError as exc:  # e.g. kappa so small that kappa * tau underflows
                section = "pricing" if self.pricing else "params"
                issues.append(
                    (
                        section,
                        Shown(f"{self.model} parameters"),
                        f"the model's VIX formula cannot be evaluated ({exc}); use parameters of realistic magnitude",
                    )
                )
        has_v0 = "v0" in self.params
        if self.vix is None and not has_v0:
            issues.append(
                (
                    "vix",
                    MISSING,
                    "required: give exactly one of vix (initial VIX, points) and params.v0 (initial variance, decimal)",
                )
            )
        elif self.vix is not None and has_v0:
            issues.append(
                (
                    "vix",
                    self.vix,
                    f"give exactly one of vix and params.v0, not both (params.v0 = {self.params['v0']!r} is also given)",
                )
            )
        elif self.vix is not None and floor is not None and not self.vix > floor and self.historical is None:
            issues.append(
                (
                    "vix",
                    self.vix,
                    f"allowed: a VIX above {floor:.4g}, the pricing model's floor (its VIX at zero variance); a lower VIX needs a negative v0",
                )
            )

        if mcls.n_factors == 2 and q_ok and not has_v0 and "v2_0" in self.params and self.vix is not None and floor is not None and self.vix > floor:
            v2_0 = float(self.params["v2_0"])
            low = float(self.model_q().vix_from_state(0.0, v2_0))
            if not self.vix > low:
                issues.append(("vix", self.vix, f"allowed: a VIX above {low:.4g}, the pricing model's VIX with no fast variance at the slow variance "
                                                f"params.v2_0 = {v2_0:g}; give a lower params.v2_0 or leave it out"))
        if mcls.n_factors == 2 and self.historical is not None:
            one = ", ".join(k for k, m in MODELS.items() if m.n_factors == 1)
            issues.append(("model", self.model, f"allowed with historical: a one-factor model ({one}); the replay anchors one variance to the VIX close"))

        sessions: Optional[list[_dt.date]] = None
        if self.start is None or self.horizon is None:
            pass  # reported above
        elif not cal.is_session(self.start):
            issues.append(
                (
                    "start",
                    show_date(self.start),
                    f"allowed: an NYSE trading session; the next session is {cal.next_session(self.start).isoformat()}",
                )
            )
        else:
            sessions = [ts.date() for ts in cal.sessions(self.start, self.horizon)]

        shocks, shock_issues = _resolve_shocks(self.shocks, sessions, self.start, self.horizon or 0)
        issues += shock_issues
        if floor is not None and len(shocks) == len(self.shocks):
            # priced jump-intensity windows lift the floor of the closes they price (the day before them on)
            self._shocks = tuple(shocks)
            checks = [(f"shocks[{i}].vix_level", sh.vix_level, r.first_day) for i, (sh, r) in enumerate(zip(self.shocks, shocks)) if sh.vix_level is not None]
            if self.vix is not None and not has_v0 and self.historical is None and self.vix > floor:
                checks.append(("vix", self.vix, 0))
            for field, level, day in checks:
                key = self.pricing_key(min(day + 1, self.horizon or 1))
                if key[1] == 1.0 and field == "vix":
                    continue  # checked against the base floor above
                day_floor = floor if key[1] == 1.0 else regime_model(self.model_q(), key).vix_floor()
                if not level > day_floor:
                    where = "" if key[1] == 1.0 else f" at the close of trading day {day}, priced for a jump-intensity window (x{key[1]:g})"
                    issues.append((field, level, f"allowed: a VIX above {day_floor:.4g}, the pricing model's floor{where} (its VIX at zero variance)"))

        raise_issues(issues)

        self._sessions = tuple(sessions or ())
        self._shocks = tuple(shocks)
        self._events = _resolve_events(self.events, self._sessions)
        return self

    # ----------------------------------------------------------------- historical replay
    def _derive_from_history(self) -> list[tuple[str, Any, str]]:
        """Set ``start``, ``horizon``, ``spot`` and ``vix`` from the episode's closes (given ones must agree).

        Shocks are refused (the real moves are the shocks; ``dispersion`` gives variations); events may
        only mark the calendar (``days_to_event`` for the strategy), without market effects.
        """
        w = self.historical.window()
        issues: list[tuple[str, Any, str]] = []
        rng = f"historical {w.dates[0].isoformat()} .. {w.dates[-1].isoformat()}"
        derived = {"start": w.dates[0], "horizon": w.horizon, "spot": float(w.spx[0])}
        if "v0" in self.params:
            issues.append(("params.v0", self.params["v0"], f"not allowed with historical: v0 comes from the {w.vol_series} close of day 0 ({w.vol[0]:g}); remove params.v0"))
        else:
            derived["vix"] = float(w.vol[0])
        why = {"start": f"the first session of the {rng}", "horizon": f"the number of sessions after start in the {rng}",
               "spot": f"the SPX close of {w.dates[0].isoformat()}", "vix": f"the {w.vol_series} close of {w.dates[0].isoformat()}"}
        for key, value in derived.items():
            given = getattr(self, key)
            if given is None:
                continue
            ok = abs(given - value) <= 0.005 + 1e-9 * abs(value) if key in ("spot", "vix") else given == value
            if not ok:
                shown = show_date(given) if key == "start" else given
                real = value.isoformat() if key == "start" else f"{value:g}"
                issues.append((key, shown, f"allowed: {real} ({why[key]}) or leave {key} out: a historical scenario takes it from the data"))
        if self.shocks:
            issues.append(("shocks", Shown(f"{len(self.shocks)} shock(s)"), "allowed: none with historical (the real moves are the episode's; vary them with historical.dispersion)"))
        for i, ev in enumerate(self.events):
            for key, val in (("spx_jump", ev.spx_jump.mean != 0.0 or ev.spx_jump.std != 0.0), ("variance_bump", ev.variance_bump), ("variance_crush", ev.variance_crush)):
                if val:
                    issues.append((f"events[{i}].{key}", getattr(ev, key).to_dict() if key == "spx_jump" else getattr(ev, key),
                                   "allowed: 0 with historical (events only mark the calendar for the strategy; the market moves are the real ones)"))
        missing = tuple(k for k in derived if getattr(self, k) is None)
        for key in missing:
            object.__setattr__(self, key, derived[key])  # frozen model: set once, during validation
        self._derived = missing
        return issues

    def model_dump(self, **kwargs):  # type: ignore[override]
        """Pydantic's dump without the fields derived from the historical data (they follow from ``historical``)."""
        data = super().model_dump(**kwargs)
        for key in self._derived:
            data.pop(key, None)
        return data

    # ----------------------------------------------------------------- models and state
    def model_p(self) -> AffineModel:
        """Physical-measure model (drives the paths), from ``params``."""
        return get_model(self.model).from_params({k: v for k, v in self.params.items() if k not in _STATE}, source=f"scenario {self.name}")

    def model_q(self) -> AffineModel:
        """Pricing-measure model: ``params`` overridden by ``pricing``."""
        merged = {k: v for k, v in {**self.params, **(self.pricing or {})}.items() if k not in _STATE}
        return get_model(self.model).from_params(merged, source=f"scenario {self.name}")

    def v0(self) -> float:
        """Initial variance (decimal): ``params.v0``, or the variance whose VIX is ``vix`` under the pricing
        model of the start close (:meth:`close_pricing_model`; for a two-factor model see :meth:`v2_0`)."""
        return self._start_states()[0]

    def v2_0(self) -> float:
        """Initial slow variance of a two-factor model (decimal), 0 for one-factor models.

        ``params.v2_0`` when given (``v0`` then comes from ``vix`` at that ``v2``).  Otherwise one VIX level
        cannot tell the two factors apart, and both start at the same fraction ``f`` of their long-run means
        under the paths' model, ``v0 = f theta_eff``, ``v2_0 = f theta2``, with ``f`` from the start VIX through
        the pricing model's ``VIX^2 = a v + a2 v2 + b`` (or from ``params.v0``)."""
        return self._start_states()[1]

    def _start_states(self) -> tuple[float, float]:
        q = self.close_pricing_model(0)
        if get_model(self.model).n_factors == 1:
            v0 = self.params["v0"] if "v0" in self.params else q.variance_from_vix(float(self.vix))  # type: ignore[arg-type]
            return float(v0), 0.0
        p = self.model_p()
        if "v2_0" in self.params:
            v2 = float(self.params["v2_0"])
            v0 = self.params["v0"] if "v0" in self.params else q.fast_variance_from_vix(float(self.vix), v2)  # type: ignore[arg-type]
            return float(v0), v2
        if "v0" in self.params:
            f = float(self.params["v0"]) / p.effective_theta()
        else:
            a, a2, b = q.vix2_terms()
            f = max(((float(self.vix) / 100.0) ** 2 - b) / (a * p.effective_theta() + a2 * p.theta2), 0.0)  # type: ignore[arg-type]
        return (float(self.params["v0"]) if "v0" in self.params else f * p.effective_theta()), f * p.theta2

    def initial_vix(self) -> float:
        """Model VIX at t = 0 (points), from :meth:`v0` (and :meth:`v2_0`) through the pricing model of the start close."""
        return float(self.close_pricing_model(0).vix_from_state(self.v0(), self.v2_0()))

    # ----------------------------------------------------------------- pricing regimes
    def pricing_key(self, day: int) -> tuple[float, float, float]:
        """``(sigma factor, jump-intensity factor, rho)`` of the priced windows (no ``surprise``) covering
        trading day ``day`` (``rho = inf``: the model's own); ``(1, 1, inf)`` outside every window."""
        ms, ml, rho = 1.0, 1.0, math.inf
        for r in self._shocks:
            if r.surprise or not r.first_day <= day <= r.last_day:
                continue
            if r.kind == "vol_of_vol_multiplier":
                ms *= r.value
            elif r.kind == "jump_intensity_multiplier":
                ml *= r.value
            elif r.kind == "correlation":
                rho = r.value
        return ms, ml, rho

    def pricing_keys(self) -> list[tuple[float, float, float]]:
        """The distinct :meth:`pricing_key` of the horizon's sessions, the base ``(1, 1, inf)`` first, then in
        order of first appearance: the order of the scenario's pricing regimes."""
        return list(dict.fromkeys([(1.0, 1.0, math.inf)] + [self.pricing_key(d) for d in range(1, int(self.horizon or 0) + 1)]))

    def pricing_models(self) -> list[AffineModel]:
        """The pricing model of each regime of :meth:`pricing_keys`: ``model_q`` first, then one per priced
        window regime (each needs its own pricing tables)."""
        return [regime_model(self.model_q(), k) for k in self.pricing_keys()]

    def close_pricing_model(self, day: int) -> AffineModel:
        """The pricing model of the close of trading day ``day`` (0..horizon): the regime of the next
        session, ``day + 1`` (the market prices the dynamics that follow; the last close: its own day's)
        - ``model_q`` changed by :meth:`pricing_key` (:func:`regime_model`; docs/scenarios.md, "Regimes
        and prices")."""
        return regime_model(self.model_q(), self.pricing_key(min(day + 1, max(int(self.horizon or 1), 1))))

    def effective_drift(self) -> float:
        """P equity drift per year: ``drift``, or ``rate - dividend_yield`` when not given."""
        return float(self.rate - self.dividend_yield if self.drift is None else self.drift)

    def strategy_spec(self) -> StrategySpec:
        """The scenario's strategy, or the SPEC section 6 defaults when it has none."""
        return self.strategy if self.strategy is not None else default_strategy()

    # ----------------------------------------------------------------- calendar
    def session_dates(self) -> tuple[_dt.date, ...]:
        """Trading day ``k`` -> date, ``k = 0..horizon`` (``horizon + 1`` sessions)."""
        return self._sessions

    @property
    def end_date(self) -> _dt.date:
        """Last session of the horizon (trading day ``horizon``)."""
        return self._sessions[-1]

    def day_index(self, d: Any) -> int:
        """Trading-day index of session ``d`` (0 for ``start``); ``ValueError`` outside the horizon."""
        dd = cal.to_date(d)
        try:
            return self._sessions.index(dd)
        except ValueError:
            raise ValueError(f"{dd} is not a session of scenario {self.name!r} ({self.start} .. {self.end_date})") from None

    def step_times(self):
        """``[horizon * steps_per_day + 1]`` datetime64[ns] step times (see :func:`gpu_alvh.calendar.step_times`)."""
        return cal.step_times(self.start, self.horizon, self.steps_per_day)

    # ----------------------------------------------------------------- shocks and events
    def resolved_shocks(self) -> tuple[ResolvedShock, ...]:
        """Every shock mapped to trading-day indices, in file order."""
        return self._shocks

    def resolved_events(self) -> tuple[ResolvedEvent, ...]:
        """Every event occurrence inside ``(start, end]``, sorted by (day, time, file order)."""
        return self._events

    # ----------------------------------------------------------------- conversions
    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict` (keys in field order)."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str = "<overrides>") -> "ScenarioSpec":
        """Same as :func:`~gpu_alvh.spec.apply_overrides`."""
        return apply_overrides(self, overrides, source=source)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> "ScenarioSpec":  # type: ignore[override]
        """Copy; ``update`` is validated like an override (the spec stays consistent)."""
        if not update:
            return self
        return apply_overrides(self, dict(update), source="<model_copy>")


def _prefix(section: str, field: str) -> str:
    return section if field in ("", "<top level>") else f"{section}.{field}"


def _resolve_shocks(
    shocks: tuple[ShockSpec, ...], sessions: Optional[list[_dt.date]], start: _dt.date, horizon: int
) -> tuple[list[ResolvedShock], list[tuple[str, Any, str]]]:
    """Map shock days to indices and run the cross-shock checks."""
    issues: list[tuple[str, Any, str]] = []
    index = {d: k for k, d in enumerate(sessions)} if sessions else {}
    end = sessions[-1] if sessions else None
    where = f"a trading-day index in [1, {horizon}]" + (f" or a session date in ({start.isoformat()}, {end.isoformat()}]" if end else "")
    out: list[ResolvedShock] = []
    ok = True
    for i, sh in enumerate(shocks):
        days: dict[str, Optional[int]] = {}
        for key in ("day", "start", "end"):
            ref = getattr(sh, key)
            if ref is None:
                continue
            field = f"shocks[{i}].{key}"
            if isinstance(ref, int):
                if not 1 <= ref <= horizon:
                    issues.append((field, ref, f"allowed: {where}"))
                    days[key] = None
                else:
                    days[key] = ref
            elif sessions is None:
                days[key] = None  # start is invalid; reported on its own
            elif not cal.is_session(ref):
                issues.append(
                    (
                        field,
                        show_date(ref),
                        f"allowed: {where}; it is not a session (next session: {cal.next_session(ref).isoformat()})",
                    )
                )
                days[key] = None
            elif ref not in index or index[ref] < 1:
                issues.append((field, show_date(ref), f"allowed: {where}"))
                days[key] = None
            else:
                days[key] = index[ref]
        if any(v is None for v in days.values()):
            ok = False
            continue
        first = days.get("day", days.get("start"))
        last = days.get("day", days.get("end"))
        if last < first:  # type: ignore[operator]
            issues.append(
                (
                    f"shocks[{i}].end",
                    _show_day(sh.end),
                    f"allowed: end >= start (start is trading day {first}); windows are inclusive",
                )
            )
            ok = False
            continue
        out.append(ResolvedShock(sh.kind, sh.value, int(first), int(last), sh.note or "", bool(sh.surprise)))  # type: ignore[arg-type]
    if not ok:
        return out, issues
    # cross-shock checks (out is aligned with shocks here)
    seen_return: dict[int, int] = {}
    seen_vix: dict[int, int] = {}
    corr_windows: list[tuple[int, int, int]] = []
    for i, r in enumerate(out):
        if r.kind == "spx_return":
            if r.first_day in seen_return:
                j = seen_return[r.first_day]
                issues.append(
                    (
                        f"shocks[{i}]",
                        _day_shown(shocks[i]),
                        f"only one spx_return per day; shocks[{j}] already moves SPX on trading day {r.first_day} (combine them: (1 + a)(1 + b) - 1)",
                    )
                )
            seen_return.setdefault(r.first_day, i)
        elif r.kind in ("vix_level", "vix_change"):
            if r.first_day in seen_vix:
                j = seen_vix[r.first_day]
                issues.append(
                    (
                        f"shocks[{i}]",
                        _day_shown(shocks[i]),
                        f"only one VIX shock (vix_level or vix_change) per day; shocks[{j}] already moves VIX on trading day {r.first_day}",
                    )
                )
            seen_vix.setdefault(r.first_day, i)
        elif r.kind == "correlation":
            for j, a, b in corr_windows:
                if r.first_day <= b and a <= r.last_day:
                    issues.append(
                        (
                            f"shocks[{i}]",
                            _day_shown(shocks[i]),
                            f"correlation windows must not overlap; shocks[{j}] sets the correlation on trading days {a}..{b}",
                        )
                    )
                    break
            corr_windows.append((i, r.first_day, r.last_day))
    return out, issues


def _day_shown(sh: ShockSpec) -> Shown:
    timing = {k: getattr(sh, k) for k in ("day", "start", "end") if getattr(sh, k) is not None}
    body = ", ".join([f"{sh.kind}: {sh.value:g}"] + [f"{k}: {v.isoformat() if isinstance(v, _dt.date) else v}" for k, v in timing.items()])
    return Shown("{" + body + "}")


def _resolve_events(events: tuple[EventSpec, ...], sessions: tuple[_dt.date, ...]) -> tuple[ResolvedEvent, ...]:
    if not sessions:
        return ()
    index = {d: k for k, d in enumerate(sessions)}
    found: list[tuple[int, str, int, ResolvedEvent]] = []
    for i, ev in enumerate(events):
        candidates = ev.dates if ev.dates is not None else ev.rule.dates(sessions[0], sessions[-1])  # type: ignore[union-attr]
        days = sorted({index[d] for d in candidates if d in index and index[d] >= 1})
        time = ev.time or DEFAULT_EVENT_TIMES[ev.kind]
        for k in days:
            rec = ResolvedEvent(
                ev.kind, ev.label, k, time, ev.spx_jump.mean, ev.spx_jump.std, ev.variance_bump, ev.pre_days, ev.variance_crush
            )
            found.append((k, time, i, rec))
    found.sort(key=lambda t: t[:3])
    return tuple(rec for *_, rec in found)


# --------------------------------------------------------------------------- loading
def scenario_from_dict(data: Mapping[str, Any], *, source: str = "<dict>", default_name: Optional[str] = None) -> ScenarioSpec:
    """Validate a mapping into a :class:`ScenarioSpec` (``default_name`` fills a missing ``name``)."""
    if isinstance(data, Mapping) and default_name is not None and "name" not in data:
        data = {"name": _name_from(default_name), **data}
    return validate_spec(ScenarioSpec, data, source=source)


def _inline_strategy_file(data: Any, folder: Path, source: str) -> Any:
    """Replace ``strategy: other.yaml`` (a path relative to the scenario file) by that file's mapping."""
    if not isinstance(data, Mapping) or not isinstance(data.get("strategy"), str):
        return data
    ref = Path(data["strategy"])
    target = ref if ref.is_absolute() else folder / ref
    if not target.is_file():
        what = describe_non_file(target)
        found = f"{target} is {what}" if what else f"no file at {target}"
        raise SpecError(source, SpecIssue("strategy", data["strategy"], f"allowed: a strategy mapping or the path of a strategy YAML file (relative to {folder}); {found}"))
    sub = load_yaml(target, source=str(target))
    if isinstance(sub, Mapping) and set(sub) == {"strategy"}:
        sub = sub["strategy"]
    return {**data, "strategy": sub}


def _absolute_data_files(data: Any, folder: Path) -> Any:
    """``historical.file`` paths relative to the scenario file become absolute (they are read from there)."""
    hist = data.get("historical") if isinstance(data, Mapping) else None
    files = hist.get("file") if isinstance(hist, Mapping) else None
    if not isinstance(files, Mapping):
        return data
    fixed = {k: (str(folder / v) if isinstance(v, str) and v and not Path(v).is_absolute() else v) for k, v in files.items()}
    return {**data, "historical": {**hist, "file": fixed}}


def load_scenario(obj: Any, *, overrides: Optional[Mapping[str, Any]] = None) -> ScenarioSpec:
    """Load and validate a scenario.

    Parameters
    ----------
    obj
        A :class:`ScenarioSpec` (returned as is), a mapping (errors say
        ``<dict>``), a path to a YAML file (errors name the path as given; the
        name defaults to the file stem), or a library name such as ``"base"``
        (see :func:`list_library`).
    overrides
        Dotted keys to replace after loading (``{"paths": 1000, "params.kappa": 3.0}``),
        see :func:`~gpu_alvh.spec.apply_overrides`.

    Raises
    ------
    SpecError
        On any invalid input: unknown file or name (listing the library), YAML
        errors, and every validation problem with its field path.
    """
    if isinstance(obj, ScenarioSpec):
        spec, source = obj, "<spec>"
    elif isinstance(obj, Mapping):
        spec, source = scenario_from_dict(obj, source="<dict>"), "<dict>"
    elif isinstance(obj, (str, os.PathLike)):
        text = os.fspath(obj)
        path = Path(text)
        if path.is_file():
            source = text
            data = _absolute_data_files(_inline_strategy_file(load_yaml(path, source=source), path.parent, source), path.parent)
            spec = scenario_from_dict(data, source=source, default_name=path.stem)
        elif isinstance(obj, str) and "/" not in text and os.sep not in text and text.removesuffix(".yaml") in list_library():
            stem = text.removesuffix(".yaml")
            source = f"scenarios/{stem}.yaml"
            data = _inline_strategy_file(load_yaml(library_path(stem), source=source), library_path(stem).parent, source)
            spec = scenario_from_dict(data, source=source, default_name=stem)
        else:
            what = describe_non_file(path)
            problem = f"is {what}, not a scenario file" if what else "no such file and no library scenario by that name"
            raise SpecError(
                text,
                SpecIssue("<scenario>", Shown(repr(text)), f"{problem}; allowed: a scenario YAML file or a library scenario name: {', '.join(list_library())}"),
            )
    else:
        raise SpecError(
            "argument",
            SpecIssue("<scenario>", obj, "allowed: a ScenarioSpec, a mapping, a YAML file path or a library scenario name"),
        )
    if overrides:
        spec = apply_overrides(spec, overrides, source=f"{source} (overrides)")
    return spec

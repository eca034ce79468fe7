"""Strategy spec: the ALVH ladder, its VIX hedge overlay and trading costs (SPEC section 6).

A scenario file may carry a ``strategy:`` section (inline mapping, or the path of
a separate YAML file relative to the scenario file); without one the defaults
below are used.  Every default is SPEC section 6's (bracketed values); the
seeds' ranges are quoted where the SPEC gives them.  Validated exactly like
scenarios: unknown keys and bad values raise one
:class:`~gpu_alvh.errors.SpecError` naming the field path
(``strategy.hedge.layers[1].when.all[0].value``).

Units: NAV in dollars; deltas as absolute values in (0, 1); widths and strikes
in index points (SPX) or VIX points; DTE in calendar days; percentages as
percent (``max_loss_pct: 5`` = 5% of NAV); fractions as fractions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Optional, Union

from pydantic import Field, ValidationError, field_validator, model_validator

from ..errors import SpecError
from .base import FrozenModel, Shown, raise_issues, spec_error_from_validation, validate_spec
from .baselines import BASELINES  # the baseline registry (names the ``baselines:`` list may use)

__all__ = [
    "StrategySpec",
    "HedgeSpec",
    "HedgeLayerSpec",
    "CascadeSpec",
    "CostSpec",
    "CostsSpec",
    "ProbeSpec",
    "RampSpec",
    "MonetizeSpec",
    "TermSpec",
    "GroupSpec",
    "INSTRUMENT_NAMES",
    "SIGNAL_NAMES",
    "CONDITION_OPS",
    "BASELINES",
    "default_strategy",
    "load_strategy",
]

#: VIX hedge instruments (registry in :mod:`gpu_alvh.strategy.instruments`).
INSTRUMENT_NAMES = ("call", "call_spread", "butterfly", "future")
#: Signals a condition may use (registry in :mod:`gpu_alvh.strategy.signals`).
SIGNAL_NAMES = (
    "spx_rsi14",
    "vix_rsi14",
    "spx_macd_hist",
    "vix_macd_hist",
    "term_slope",
    "vix",
    "days_to_event",
    "front_strike_distance_sd",
    "ladder_delta",
    "drawdown",
)
CONDITION_OPS = ("<", "<=", ">", ">=", "crosses_above", "crosses_below")


# --------------------------------------------------------------------------- conditions
class TermSpec(FrozenModel):
    """``{signal, op, value}``: compare a signal with a threshold."""

    signal: Literal[SIGNAL_NAMES] = Field(description="signal name")  # type: ignore[valid-type]
    op: Literal[CONDITION_OPS] = Field(description="comparison")  # type: ignore[valid-type]
    value: float = Field(strict=True, description="threshold, in the signal's units")


def _validate_items(items: Any) -> tuple:
    """Validate the entries of an ``all``/``any`` list, keeping exact field paths."""
    if not isinstance(items, (list, tuple)) or not items:
        raise_issues([("", items, "allowed: a non-empty list of {signal, op, value} terms or nested {all: [...]} / {any: [...]} groups")])
    out, issues = [], []
    for i, item in enumerate(items):
        if isinstance(item, (TermSpec, GroupSpec)):
            out.append(item)
            continue
        model = TermSpec if isinstance(item, Mapping) and "signal" in item else GroupSpec
        try:
            out.append(model.model_validate(dict(item)) if isinstance(item, Mapping) else model.model_validate(item))
        except ValidationError as exc:
            err = spec_error_from_validation(exc, model, "")
            issues += [(f"[{i}]" + ("" if f.field in ("", "<top level>") else f".{f.field}"), f.value, f.allowed) for f in err.issues]
    raise_issues(issues)
    return tuple(out)


class GroupSpec(FrozenModel):
    """``{all: [...]}`` or ``{any: [...]}`` over terms and nested groups."""

    all: Optional[tuple[Union[TermSpec, "GroupSpec"], ...]] = Field(None, description="every entry must hold")
    any: Optional[tuple[Union[TermSpec, "GroupSpec"], ...]] = Field(None, description="at least one entry must hold")

    @field_validator("all", "any", mode="before")
    @classmethod
    def _items(cls, v: Any) -> Any:
        return None if v is None else _validate_items(v)

    @model_validator(mode="after")
    def _one(self) -> "GroupSpec":
        if (self.all is None) == (self.any is None):
            raise_issues([("", Shown("both all and any" if self.all is not None else "neither all nor any"), "allowed: exactly one of all: [...] and any: [...]")])
        return self

    def as_dict(self) -> dict:
        """Plain nested dict (``{"all": [{"signal":..., "op":..., "value":...}, ...]}``)."""
        mode = "all" if self.all is not None else "any"
        items = self.all if self.all is not None else self.any
        return {mode: [it.to_dict() if isinstance(it, TermSpec) else it.as_dict() for it in items]}

    def to_dict(self) -> dict[str, Any]:  # nested Any fields need an explicit dump
        return self.as_dict()


GroupSpec.model_rebuild()


# --------------------------------------------------------------------------- ladder pieces
class CascadeSpec(FrozenModel):
    """Cascade roll: when a front layer is stopped, roll the tested side of the next layer(s) back to target delta."""

    enabled: bool = Field(True, strict=True, description="cascade on/off")
    fraction: float = Field(1.0, gt=0.0, le=1.0, strict=True, description="share of the tested side re-opened at target delta (the rest is closed)")
    depth: int = Field(1, ge=1, le=8, strict=True, description="how many following layers are rolled")


class CostSpec(FrozenModel):
    """Per-contract commission and per-leg half-spread ``half_spread_points + half_spread_pct * price``."""

    commission: float = Field(ge=0.0, le=100.0, strict=True, description="$ per contract per trade")
    half_spread_points: float = Field(ge=0.0, le=50.0, strict=True, description="fixed half-spread per leg, index points")
    half_spread_pct: float = Field(ge=0.0, le=0.5, strict=True, description="half-spread per leg as a fraction of the leg's price")


class CostsSpec(FrozenModel):
    """Trading costs, SPX and VIX separately (applied to every trade, not to cash settlement).

    Defaults: SPX $1.20 per contract (commission + exchange fees) and a half-spread
    of 0.05 points + 0.3% of the leg price (a 40-point option: 0.17 points, a
    0.35-point-wide market); VIX options $1.00 and 0.025 points + 2% (a 1.50
    call: 0.055); VIX futures $2.00 and 0.025 points (half a tick).
    """

    spx: CostSpec = Field(default_factory=lambda: CostSpec(commission=1.2, half_spread_points=0.05, half_spread_pct=0.003))
    vix: CostSpec = Field(default_factory=lambda: CostSpec(commission=1.0, half_spread_points=0.025, half_spread_pct=0.02))
    vix_future: CostSpec = Field(default_factory=lambda: CostSpec(commission=2.0, half_spread_points=0.025, half_spread_pct=0.0))


# --------------------------------------------------------------------------- hedge pieces
class ProbeSpec(FrozenModel):
    """Stress probe used for hedge sizing: instantaneous SPX move and VIX move."""

    spx_return: float = Field(-0.05, gt=-0.9, lt=0.0, strict=True, description="SPX simple return of the probe")
    vix_change: float = Field(15.0, gt=0.0, le=200.0, strict=True, description="VIX points added in the probe")


class RampSpec(FrozenModel):
    """Target-fraction ramp: ``base * (1 + distance_gain * x_d + dte_gain * x_t)``, capped at ``max_fraction``.

    ``x_d = clip((distance_sd - d) / distance_sd, 0, 1)`` with ``d`` the front layer's
    short-strike distance in standard deviations; ``x_t = clip(1 - dte_left / dte, 0, 1)``.
    """

    distance_sd: float = Field(2.0, gt=0.0, le=10.0, strict=True)
    distance_gain: float = Field(0.5, ge=0.0, le=10.0, strict=True)
    dte_gain: float = Field(0.3, ge=0.0, le=10.0, strict=True)
    max_fraction: float = Field(1.0, gt=0.0, le=3.0, strict=True)


class MonetizeSpec(FrozenModel):
    """Sell ``fraction`` of a hedge once when it is worth ``value_multiple`` x its cost or VIX > ``vix_above``."""

    value_multiple: float = Field(3.0, gt=1.0, le=100.0, strict=True)
    vix_above: float = Field(35.0, gt=0.0, le=300.0, strict=True)
    fraction: float = Field(0.5, gt=0.0, le=1.0, strict=True)


class HedgeLayerSpec(FrozenModel):
    """One hedge layer: an instrument, its share of the hedge target, tenor, strikes and activation."""

    name: str = Field(strict=True, min_length=1, max_length=40, description="label")
    instrument: Literal[INSTRUMENT_NAMES] = Field(description="call, call_spread, butterfly or future")  # type: ignore[valid-type]
    weight: float = Field(gt=0.0, le=1.0, strict=True, description="share of the hedge target this layer covers")
    strike_offset: float = Field(0.10, ge=-0.5, le=3.0, strict=True, description="first strike = VIX future x (1 + offset), on the 1-point grid")
    width: float = Field(5.0, gt=0.0, le=100.0, strict=True, description="VIX points between strikes (spread, butterfly)")
    tenor: Union[Literal["auto"], tuple[int, int]] = Field(
        "auto", description="auto (by term-structure regime) or [min_dte, max_dte]", json_schema_extra={"allowed": "auto or a list [min_dte, max_dte] of calendar days in [1, 200]"}
    )
    event_underhedge: bool = Field(False, strict=True, description="reduce this layer's target before FOMC/CPI/PPI days")
    when: Optional[GroupSpec] = Field(None, description="activation condition {all|any: [{signal, op, value}]}; none = always active")

    @field_validator("tenor")
    @classmethod
    def _tenor(cls, v: Any) -> Any:
        if v != "auto":
            lo, hi = v
            if not (1 <= lo <= hi <= 200):
                raise_issues([("", list(v), "allowed: auto or [min_dte, max_dte] with 1 <= min_dte <= max_dte <= 200")])
        return v


def _default_hedge_layers() -> tuple[HedgeLayerSpec, ...]:
    """The seeds' three layers (seed 003: short-term VIX calls/futures; mid-term VIX options;
    rule-triggered structures - here the 2-5% VIX call butterfly of seed 000, switched on by
    "RSI below 40 while VIX futures are in backwardation")."""
    return (
        HedgeLayerSpec(
            name="layer_one",
            instrument="call_spread",
            weight=0.5,
            strike_offset=0.10,
            width=10.0,
            tenor="auto",
            when=GroupSpec(any=(TermSpec(signal="vix_macd_hist", op=">", value=0.0), TermSpec(signal="front_strike_distance_sd", op="<", value=1.5))),
        ),
        HedgeLayerSpec(name="layer_two", instrument="call", weight=0.3, strike_offset=0.25, tenor=(30, 60), event_underhedge=True),
        HedgeLayerSpec(
            name="layer_three",
            instrument="butterfly",
            weight=0.2,
            strike_offset=0.20,
            width=7.0,
            tenor="auto",
            when=GroupSpec(all=(TermSpec(signal="spx_rsi14", op="<", value=40.0), TermSpec(signal="term_slope", op="<", value=0.0))),
        ),
    )


class HedgeSpec(FrozenModel):
    """The adaptive VIX hedge overlay."""

    enabled: bool = Field(True, strict=True, description="overlay on/off")
    budget_pct: float = Field(3.0, ge=0.0, le=50.0, strict=True, description="premium budget, % of starting NAV per year (seeds: 2-5)")
    budget_lead_years: float = Field(0.25, ge=0.0, le=5.0, strict=True, description="allowance available up front, in years of budget")
    target_fraction: float = Field(0.5, ge=0.0, le=3.0, strict=True, description="share of the probe loss to offset (seeds: 0.4-0.6)")
    probe: ProbeSpec = Field(default_factory=ProbeSpec)
    ramp: RampSpec = Field(default_factory=RampSpec)
    rebalance_band: float = Field(0.25, ge=0.0, le=1.0, strict=True, description="buy only when coverage < (1 - band) x target")
    time_shift_dte: float = Field(7.0, ge=0.0, le=60.0, strict=True, description="roll a hedge to the next expiry below this DTE")
    event_underhedge: float = Field(0.2, ge=0.0, le=1.0, strict=True, description="target cut before events (seeds: 0.15-0.25)")
    event_window_days: int = Field(2, ge=0, le=20, strict=True, description="trading days before an event that count as 'before'")
    monetize: MonetizeSpec = Field(default_factory=MonetizeSpec)
    contango_threshold: float = Field(1.0, ge=-20.0, le=20.0, strict=True, description="term_slope above this (VIX points) = contango")
    tenor_contango: tuple[int, int] = Field((60, 90), description="DTE range of 'auto' layers in contango")
    tenor_backwardation: tuple[int, int] = Field((7, 30), description="DTE range of 'auto' layers when flat or inverted")
    layers: tuple[HedgeLayerSpec, ...] = Field(default_factory=_default_hedge_layers, max_length=8, description="hedge layers")

    @model_validator(mode="after")
    def _check(self) -> "HedgeSpec":
        issues = []
        for key in ("tenor_contango", "tenor_backwardation"):
            lo, hi = getattr(self, key)
            if not (1 <= lo <= hi <= 200):
                issues.append((key, list(getattr(self, key)), "allowed: [min_dte, max_dte] with 1 <= min_dte <= max_dte <= 200"))
        names = [layer.name for layer in self.layers]
        for i, n in enumerate(names):
            if names.index(n) != i:
                issues.append((f"layers[{i}].name", n, "allowed: unique layer names"))
        total = sum(layer.weight for layer in self.layers)
        if self.layers and total > 1.0 + 1e-9:
            issues.append(("layers", Shown(f"weights summing to {total:g}"), "allowed: layer weights summing to at most 1"))
        raise_issues(issues)
        return self


# --------------------------------------------------------------------------- strategy
class StrategySpec(FrozenModel):
    """The ALVH book: iron-condor ladder + VIX hedge overlay + costs (SPEC section 6 defaults)."""

    name: str = Field("alvh", strict=True, min_length=1, max_length=40, description="label of the strategy")
    nav: float = Field(1_000_000.0, gt=0.0, le=1e12, strict=True, description="starting NAV, $")
    layers: tuple[int, ...] = Field((7, 21, 45, 90), min_length=1, max_length=8, description="DTE of each ladder layer, strictly increasing")
    short_delta: float = Field(0.16, gt=0.0, lt=0.5, strict=True, description="|delta| of the short put and call")
    wing_width: Optional[float] = Field(50.0, gt=0.0, le=1000.0, strict=True, description="long strikes this many points beyond the shorts")
    wing_delta: Optional[float] = Field(None, gt=0.0, lt=0.5, strict=True, description="|delta| of the long wings (instead of wing_width)")
    max_loss_pct: float = Field(5.0, gt=0.0, le=100.0, strict=True, description="sizing: a layer's max loss at entry, % of NAV")
    profit_target: float = Field(0.5, gt=0.0, le=1.0, strict=True, description="close at this share of the entry credit captured")
    stop_multiple: float = Field(2.2, gt=0.0, le=50.0, strict=True, description="close when the loss reaches this multiple of the entry credit")
    time_exit_dte: Optional[tuple[float, ...]] = Field(None, description="exit DTE per layer (default: 1 for DTE <= 7, DTE/3 otherwise)")
    cascade: CascadeSpec = Field(default_factory=CascadeSpec)
    hedge: HedgeSpec = Field(default_factory=HedgeSpec)
    costs: CostsSpec = Field(default_factory=CostsSpec)
    baselines: tuple[Literal[BASELINES], ...] = Field(BASELINES, description="baselines run on the same paths (registry: gpu_alvh.spec.baselines)")  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _wing_choice(cls, data: Any) -> Any:
        # wing_delta given without wing_width switches the default width off
        if isinstance(data, Mapping) and data.get("wing_delta") is not None and "wing_width" not in data:
            data = {**data, "wing_width": None}
        return data

    @model_validator(mode="after")
    def _check(self) -> "StrategySpec":
        issues = []
        if any(d < 1 or d > 365 for d in self.layers):
            issues.append(("layers", list(self.layers), "allowed: DTEs in [1, 365] calendar days"))
        elif any(b <= a for a, b in zip(self.layers, self.layers[1:])):
            issues.append(("layers", list(self.layers), "allowed: strictly increasing DTEs, e.g. [7, 21, 45, 90]"))
        if (self.wing_width is None) == (self.wing_delta is None):
            issues.append(("wing_width", self.wing_width, "allowed: exactly one of wing_width (points) and wing_delta (|delta| of the long wings)"))
        if self.wing_delta is not None and self.wing_delta >= self.short_delta:
            issues.append(("wing_delta", self.wing_delta, f"allowed: a |delta| below short_delta ({self.short_delta})"))
        if self.time_exit_dte is not None:
            if len(self.time_exit_dte) != len(self.layers):
                issues.append(("time_exit_dte", list(self.time_exit_dte), f"allowed: one exit DTE per layer ({len(self.layers)} values)"))
            else:
                for i, (x, d) in enumerate(zip(self.time_exit_dte, self.layers)):
                    if not 0 <= x < d:
                        issues.append((f"time_exit_dte[{i}]", x, f"allowed: a DTE in [0, {d}) for the {d}-DTE layer"))
        raise_issues(issues)
        return self

    def exit_dtes(self) -> tuple[float, ...]:
        """Time-exit DTE of each layer: given, or 1 for DTE <= 7 and DTE/3 otherwise (SPEC section 6)."""
        if self.time_exit_dte is not None:
            return tuple(float(x) for x in self.time_exit_dte)
        return tuple(1.0 if d <= 7 else d / 3.0 for d in self.layers)

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["hedge"]["layers"] = [
            {**{k: v for k, v in layer.to_dict().items() if k != "when"}, **({"when": layer.when.as_dict()} if layer.when is not None else {})}
            for layer in self.hedge.layers
        ]
        return d


def default_strategy() -> StrategySpec:
    """The SPEC section 6 defaults."""
    return StrategySpec()


def load_strategy(obj: Any, *, source: str = "<dict>") -> StrategySpec:
    """A :class:`StrategySpec` from a spec, a mapping, ``None`` (defaults) or a YAML file path."""
    if obj is None:
        return default_strategy()
    if isinstance(obj, StrategySpec):
        return obj
    if isinstance(obj, Mapping):
        return validate_spec(StrategySpec, obj, source=source)
    from pathlib import Path

    from .loader import describe_non_file, load_yaml

    path = Path(str(obj))
    if not path.is_file():
        what = describe_non_file(path)
        raise SpecError.single(str(obj) if what else source, "strategy", str(obj),
                               f"is {what}, not a file; allowed: the path of a strategy YAML file" if what
                               else "allowed: a strategy mapping or the path of a strategy YAML file (no such file)")
    data = load_yaml(path, source=str(path))
    if isinstance(data, Mapping) and set(data) == {"strategy"}:
        data = data["strategy"]
    return validate_spec(StrategySpec, data, source=str(path))

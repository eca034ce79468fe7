"""Fan charts: NAV quantile bands per strategy with the SPX and VIX bands under them, and the real
path of a historical episode against the simulated bands.

Inputs are the stored daily bands (``nav_band (strategy, day, quantile)``, ``spx_band`` and
``vix_band (day, quantile)``) of one scenario - never per-path arrays.  Bands are drawn between
symmetric quantile pairs ``(q, 1 - q)`` present in the store: shaded for ``q >= 5%`` (the 5-95% and
25-75% bands), thin dotted lines for the more extreme pairs (1% / 99%), the median as a solid line.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .common import Sink, Skip, date_axis, need, num, strategy_colors, usd, usd_axis, values, x_dates

__all__ = ["nav_fan", "history_paths", "has_history"]


def _pairs(qs: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int | None]:
    """Indices of (shaded pairs, line pairs, median) among quantile levels ``qs``."""
    shaded, lines = [], []
    for i, q in enumerate(qs):
        if q < 0.5:
            j = np.flatnonzero(np.isclose(qs, 1.0 - q))
            if j.size:
                (shaded if q >= 0.05 - 1e-9 else lines).append((i, int(j[0])))
    med = np.flatnonzero(np.isclose(qs, 0.5))
    return sorted(shaded, key=lambda p: qs[p[0]]), lines, (int(med[0]) if med.size else None)


def _band(ax, x, band: np.ndarray, qs: np.ndarray, color: str, label: str) -> None:
    """Draw quantile bands ``band [day, quantile]`` over ``x``."""
    shaded, lines, med = _pairs(qs)
    for k, (i, j) in enumerate(shaded):
        alpha = 0.18 + 0.22 * k / max(len(shaded) - 1, 1)
        ax.fill_between(x, band[:, i], band[:, j], color=color, alpha=alpha, linewidth=0,
                        label=f"{label} {qs[i]:.0%}-{qs[j]:.0%}")
    for i, j in lines:
        ax.plot(x, band[:, i], color=color, lw=0.8, ls=":", label=f"{label} {qs[i]:.0%} / {qs[j]:.0%}")
        ax.plot(x, band[:, j], color=color, lw=0.8, ls=":")
    if med is not None:
        ax.plot(x, band[:, med], color=color, lw=1.8, label=f"{label} median")


def _q(qs: np.ndarray, level: float) -> int | None:
    i = np.flatnonzero(np.isclose(qs, level))
    return int(i[0]) if i.size else None


def _real(d: xr.Dataset, name: str, valid: np.ndarray) -> np.ndarray | None:
    if name not in d.variables or d[name].dims != ("day",):
        return None
    r = values(d[name])[valid]
    return r if np.isfinite(r).any() else None


def has_history(d: xr.Dataset) -> bool:
    """Whether the scenario carries a real historical path (``real_spx`` / ``real_vix`` not all NaN)."""
    _, _, valid = x_dates(d)
    return any(_real(d, n, valid) is not None for n in ("real_spx", "real_vix"))


def nav_fan(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> None:
    """NAV fan per strategy (one row each, same dollar scale), SPX and VIX bands under them."""
    need(d, "nav_band", dims=("strategy", "day", "quantile"))
    x, xlabel, valid = x_dates(d)
    x = x[valid]
    qs = values(d["quantile"])
    strategies = [str(s) for s in d["strategy"].values]
    colors = strategy_colors(strategies)
    nav = values(d["nav_band"].transpose("strategy", "day", "quantile"))[:, valid]
    under = [n for n in ("spx_band", "vix_band") if n in d.variables and d[n].dims == ("day", "quantile")]
    rows = len(strategies) + len(under)
    height = 2.3 * rows + 0.9
    fig = sink.new(13.5, height, layout=None)  # fixed layout (legends outside on the right): much faster than constrained
    fig.subplots_adjust(left=0.075, right=0.83, top=1 - 0.6 / height, bottom=0.65 / height, hspace=0.32)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    lo_all, hi_all = np.nanmin(nav), np.nanmax(nav)
    i05, i95, imed = _q(qs, 0.05), _q(qs, 0.95), _q(qs, 0.5)
    notes = []
    for k, s in enumerate(strategies):
        ax = axes[k]
        _band(ax, x, nav[k], qs, colors[s], "NAV")
        ax.axhline(nav[k, 0, imed if imed is not None else 0], color="k", lw=0.7, ls="--", label="NAV at start")
        ax.set_ylim(lo_all - 0.03 * (hi_all - lo_all), hi_all + 0.03 * (hi_all - lo_all))
        ax.set_title(f"{s}: NAV quantiles across paths", loc="left")
        ax.set_ylabel("NAV (USD)")
        usd_axis(ax)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
        if imed is not None and i05 is not None and i95 is not None:
            worst = int(np.nanargmin(nav[k, :, i05]))
            notes.append(f"{s}: final NAV median {usd(nav[k, -1, imed])} (5-95% {usd(nav[k, -1, i05])} to {usd(nav[k, -1, i95])}); "
                         f"lowest 5% quantile {usd(nav[k, worst, i05])} on {x[worst]}")
    for k, n in enumerate(under):
        ax = axes[len(strategies) + k]
        band = values(d[n].transpose("day", "quantile"))[valid]
        label = "SPX" if n == "spx_band" else "VIX"
        _band(ax, x, band, qs, "#555555" if label == "SPX" else "#8e44ad", f"simulated {label}")
        real = _real(d, "real_spx" if label == "SPX" else "real_vix", valid)
        if real is not None:
            ax.plot(x, real, color="k", lw=1.6, label=f"real {label} (historical)")
        ax.set_title(f"{label} quantiles across paths (model {'VIX' if label == 'VIX' else 'index'})", loc="left")
        ax.set_ylabel(f"{label} (index points)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
        if imed is not None and i95 is not None:
            if label == "VIX":
                pk = int(np.nanargmax(band[:, imed]))
                notes.append(f"VIX median peaks at {num(band[pk, imed], 4)} on {x[pk]} (95% quantile {num(band[pk, i95], 4)})")
            elif i05 is not None:
                notes.append(f"final SPX median {num(band[-1, imed], 5)} (5-95% {num(band[-1, i05], 5)} to {num(band[-1, i95], 5)})")
    if not under:
        notes.append("the store has no spx_band / vix_band: market panels omitted")
    axes[-1].set_xlabel(xlabel)
    date_axis(axes[-1], x)
    caption = ("Daily quantiles of NAV across paths for each strategy (shaded 5-95% and 25-75%, dotted 1%/99%, line median; "
               "same dollar scale in every row), with the simulated SPX and VIX bands of the same paths under them. "
               + "; ".join(notes) + ".")
    sink.save(fig, stem, f"{scen}: NAV fan charts with SPX and VIX", caption)


def _rank(real: float, band_row: np.ndarray, qs: np.ndarray) -> str:
    """Approximate quantile of ``real`` within one day's simulated quantiles."""
    if not np.isfinite(real) or not np.isfinite(band_row).all():
        return "n/a"
    if real < band_row[0]:
        return f"below the {qs[0]:.0%} quantile"
    if real > band_row[-1]:
        return f"above the {qs[-1]:.0%} quantile"
    return f"at the ~{np.interp(real, band_row, qs):.0%} quantile"


def _episode(d: xr.Dataset, attrs: dict) -> str:
    """What the store says about the episode: attrs of ``real_spx`` / ``real_vix`` and global attrs naming
    ``historical`` / ``episode`` (a JSON mapping keyed by scenario is narrowed to this scenario)."""
    parts = []
    for n in ("real_spx", "real_vix"):
        if n in d.variables:
            parts += [f"{k}={v}" for k, v in d[n].attrs.items() if k not in ("units", "long_name")]
    for k, v in attrs.items():
        if "historical" in k or "episode" in k:
            try:
                v = json.loads(v) if isinstance(v, str) else v
                v = v.get(str(d["scenario"].values), v) if isinstance(v, dict) and "scenario" in d.coords else v
            except (ValueError, TypeError):
                pass
            parts.append(f"{k}: " + (", ".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else str(v)))
    return ("Episode: " + "; ".join(str(p) for p in parts) + ".") if parts else ""


def history_paths(sink: Sink, d: xr.Dataset, scen: str, stem: str, attrs: dict) -> None:
    """The real SPX / VIX path of a historical episode against the simulated daily bands."""
    if not has_history(d):
        raise Skip("not a historical episode (no real_spx / real_vix in the store for this scenario)")
    x, xlabel, valid = x_dates(d)
    x = x[valid]
    qs = values(d["quantile"])
    i05, i95 = _q(qs, 0.05), _q(qs, 0.95)
    panels = [(lab, band, real) for lab, band, real in (("SPX", "spx_band", "real_spx"), ("VIX", "vix_band", "real_vix"))
              if _real(d, real, valid) is not None and band in d.variables]
    if not panels:
        raise Skip("real paths present but no spx_band / vix_band to compare them with")
    fig = sink.new(13.5, 3.2 * len(panels) + 0.6)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    notes = []
    for ax, (lab, bname, rname) in zip(axes, panels):
        band = values(d[bname].transpose("day", "quantile"))[valid]
        real = _real(d, rname, valid)
        _band(ax, x, band, qs, "#555555" if lab == "SPX" else "#8e44ad", f"simulated {lab}")
        ax.plot(x, real, color="k", lw=1.8, marker=".", ms=3, label=f"real {lab} close")
        ax.set_ylabel(f"{lab} (index points)")
        ax.set_title(f"real {lab} against the simulated bands", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
        ok = np.isfinite(real)
        last = int(np.flatnonzero(ok)[-1])
        note = f"{lab}: real {num(real[last], 5)} on {x[last]}, {_rank(real[last], band[last], qs)} of the simulation"
        if i05 is not None and i95 is not None:
            after = ok.copy()
            after[0] = False  # day 0 is the common start of every path
            out = int(((real < band[:, i05]) | (real > band[:, i95]))[after].sum())
            note += f"; outside the simulated 5-95% band on {out} of {int(after.sum())} days after the start"
        notes.append(note)
    axes[-1].set_xlabel(xlabel)
    date_axis(axes[-1], x)
    caption = "Real closes of the historical episode (black) over the simulated quantile bands. " + "; ".join(notes) + ". " + _episode(d, attrs)
    sink.save(fig, stem, f"{scen}: historical episode vs simulation", caption.strip())

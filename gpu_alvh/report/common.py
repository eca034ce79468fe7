"""Shared pieces of the report: figure records and saving, colours, formatting, lazy data access.

Figures are drawn with :class:`matplotlib.figure.Figure` directly (no ``pyplot``):
PNG through the Agg renderer, SVG through matplotlib's SVG renderer.  Nothing
touches the user's global backend or opens a window.

Per-path values of a large store are never loaded wholesale: distributions use
the first :data:`MAX_PATHS` paths (paths are i.i.d. across the index, so this is
an unbiased sample; the caption says when it happens), and means over paths are
dask reductions computed chunk by chunk.
"""

from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
import matplotlib.dates as mdates
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import FuncFormatter

__all__ = ["Figure", "Sink", "Skip", "need", "strategy_colors", "VERDICT_COLORS", "usd", "usd_axis", "pct", "num",
           "sample_paths", "sample_note", "MAX_PATHS", "x_dates", "date_axis", "compact_axis", "slug", "values", "RC"]

#: at most this many paths per strategy enter a distribution figure (first paths of the store)
MAX_PATHS = 200_000

#: matplotlib settings of every figure (applied with ``matplotlib.rc_context``)
RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9, "axes.grid": True,
      "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "gpu_alvh-report",
      "svg.fonttype": "none", "text.parse_math": False, "figure.dpi": 100}

_KNOWN = {"alvh": "#1f5fbf", "ladder_unhedged": "#e07b00", "single_45": "#2a9d45"}
_MORE = ["#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d35400", "#2c3e50"]
VERDICT_COLORS = {"holds": "#2a9d45", "exceeds": "#1f5fbf", "not supported": "#c0392b", "n/a": "#9a9a9a"}


class Skip(Exception):
    """A figure cannot be drawn from this store (the message goes into the report as a note)."""


@dataclass
class Figure:
    """One saved figure: file stem, title, caption (plain text) and its files."""

    key: str
    title: str
    caption: str
    png: Path
    svg: Path
    png_b64: str = field(repr=False)


class Sink:
    """Saves figures as ``<stem>.png`` and ``<stem>.svg`` in ``folder`` and keeps their records."""

    def __init__(self, folder: Path, dpi: int = 100):
        self.folder = Path(folder)
        self.dpi = dpi
        self.figures: list[Figure] = []
        self._stems: set[str] = set()

    @staticmethod
    def new(width: float, height: float, layout: str | None = "constrained") -> MplFigure:
        """A figure of ``width x height`` inches (constrained layout unless ``layout=None``)."""
        return MplFigure(figsize=(width, height), layout=layout)

    def save(self, fig: MplFigure, stem: str, title: str, caption: str) -> Figure:
        stem = slug(stem)
        base, k = stem, 2
        while stem in self._stems:
            stem, k = f"{base}_{k}", k + 1
        self._stems.add(stem)
        if title and not fig.get_suptitle():
            fig.suptitle(title, fontsize=12, fontweight="bold", y=0.995 if fig.get_layout_engine() is None else None)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=self.dpi)
        fig.set_layout_engine("none")  # keep the positions found for the PNG (the layout is the slow part)
        png, svg = self.folder / f"{stem}.png", self.folder / f"{stem}.svg"
        png.write_bytes(buf.getvalue())
        fig.savefig(svg, format="svg", metadata={"Date": None})
        rec = Figure(stem, title, caption, png, svg, base64.b64encode(buf.getvalue()).decode("ascii"))
        self.figures.append(rec)
        return rec


def need(d: xr.Dataset, *names: str, dims: tuple[str, ...] = ()) -> None:
    """Raise :class:`Skip` unless every variable in ``names`` is present (with ``dims`` among its dims)."""
    missing = [n for n in names if n not in d.variables]
    if missing:
        raise Skip(f"the store has no {', '.join(missing)}")
    for n in names:
        lacking = [x for x in dims if x not in d[n].dims]
        if lacking:
            raise Skip(f"{n} has dims {d[n].dims}, not {', '.join(lacking)}")


def values(da: xr.DataArray) -> np.ndarray:
    """Host values of a (possibly dask-backed) array, as float where numeric."""
    v = np.asarray(da.values)
    return v.astype(float) if v.dtype.kind in "iuf" else v


def sample_paths(da: xr.DataArray) -> tuple[np.ndarray, int, int]:
    """Values of ``da`` over its first ``MAX_PATHS`` paths; returns ``(values, used, total)``."""
    total = int(da.sizes["path"])
    used = min(total, MAX_PATHS)
    return values(da.isel(path=slice(0, used))), used, total


def sample_note(used: int, total: int) -> str:
    return "" if used == total else f" Distribution drawn from the first {used:,} of {total:,} paths (i.i.d. across the index)."


def strategy_colors(names) -> dict[str, str]:
    """Stable colour per strategy label (ALVH blue, unhedged ladder orange, single 45-DTE green, others after)."""
    out, k = {}, 0
    for n in names:
        n = str(n)
        base = n.split("#")[0]
        if base in _KNOWN and _KNOWN[base] not in out.values():
            out[n] = _KNOWN[base]
        else:
            out[n] = _MORE[k % len(_MORE)]
            k += 1
    return out


def usd(x: float, signed: bool = False) -> str:
    """``$1,234`` / ``-$12.3k`` / ``$1.25M`` (compact above $100k); ``n/a`` for NaN."""
    if x is None or not math.isfinite(x):
        return "n/a"
    sign = "-" if x < 0 else ("+" if signed and x > 0 else "")
    a = abs(x)
    if a >= 1e6:
        body = f"{a / 1e6:.3g}M"
    elif a >= 1e5:
        body = f"{a / 1e3:.0f}k"
    elif a >= 1e4:
        body = f"{a / 1e3:.1f}k"
    else:
        body = f"{a:,.0f}"
    return f"{sign}${body}"


def usd_axis(ax, axis: str = "y") -> None:
    """Format an axis in dollars (k / M)."""
    f = FuncFormatter(lambda v, _p: usd(v))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


def compact(x: float) -> str:
    """``-150k``, ``1.2M``, ``0.35``: short tick labels for quantities of any size."""
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    return f"{x:.4g}"


def compact_axis(ax, axis: str = "y") -> None:
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(lambda v, _p: compact(v)))


def date_axis(ax, x: np.ndarray) -> None:
    """Concise date ticks on the x axis when ``x`` holds dates."""
    if np.issubdtype(np.asarray(x).dtype, np.datetime64):
        loc = mdates.AutoDateLocator(minticks=4, maxticks=9)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def x_dates(d: xr.Dataset) -> tuple[np.ndarray, str, np.ndarray]:
    """x values for daily series: session dates when the store has them, else day indices.

    Returns ``(x, axis label, valid)`` where ``valid`` marks days inside the horizon (a
    sweep store pads shorter scenarios with NaT).
    """
    n = int(d.sizes["day"])
    if "date" in d.coords and d["date"].dims == ("day",):
        x = np.asarray(d["date"].values).astype("datetime64[ns]")
        valid = ~np.isnat(x)
        if valid.any():
            x = x.astype("datetime64[D]")
            return x, "session date (New York close)", valid
    return np.arange(n), "trading day", np.ones(n, dtype=bool)


def slug(text: str) -> str:
    """File-name-safe version of ``text`` (letters, digits, ``._-``)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")
    return s[:80] or "x"

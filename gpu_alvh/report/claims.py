"""The seeds' claims as a forest plot: for each row of the ``claim`` dim, the measured value with its
95% confidence interval next to the claimed range, coloured by the verdict, with the claim's
definition beside it.

Rows are whatever the store holds (``claim`` coordinate; ``measured`` required, the other claim
variables optional).  Claims have different units, so every row has its own x axis; a row whose
measured value is NaN is drawn as ``n/a`` with only the claimed range.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import xarray as xr

from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .common import VERDICT_COLORS, Sink, need, values

__all__ = ["claim_rows", "forest", "fmt_claim", "claimed_text"]

_CLAIMED = "#e6b422"


def fmt_claim(x: float, units: str, unit: bool = True) -> str:
    """A claim value in its units: fractions as percent, bp with no decimals, others 3 significant digits
    (``unit=False``: without the unit, for the ends of an interval)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if units == "fraction":
        return f"{100 * x:.1f}%"
    body = f"{x:,.0f}" if units.startswith("bp") else f"{x:.3g}"
    return body + (f" {units}" if unit and units and units != "1" else "")


def _opt(d: xr.Dataset, name: str, n: int, fill) -> np.ndarray:
    if name in d.variables and d[name].dims == ("claim",):
        return values(d[name])
    return np.full(n, fill, dtype=object if isinstance(fill, str) else float)


def claim_rows(d: xr.Dataset) -> list[dict]:
    """One dict per claim of a scenario: key, text, units, measured, ci_low, ci_high, claimed_low, claimed_high, verdict."""
    need(d, "measured", dims=("claim",))
    keys = [str(k) for k in d["claim"].values]
    n = len(keys)
    cols = {k: _opt(d, k, n, math.nan) for k in ("measured", "ci_low", "ci_high", "claimed_low", "claimed_high")}
    text, units, verdict = _opt(d, "claim_text", n, ""), _opt(d, "claim_units", n, ""), _opt(d, "verdict", n, "")
    rows = []
    for i, k in enumerate(keys):
        row = {"key": k, "text": str(text[i]), "units": str(units[i]), "verdict": str(verdict[i]) or "n/a"}
        row.update({c: float(v[i]) for c, v in cols.items()})
        if not math.isfinite(row["measured"]):
            row["verdict"] = row["verdict"] or "n/a"
        rows.append(row)
    return rows


def _limits(r: dict) -> tuple[float, float]:
    pts = [r[c] for c in ("measured", "ci_low", "ci_high", "claimed_low", "claimed_high") if math.isfinite(r[c])]
    if not pts:
        return -1.0, 1.0
    lo, hi = min(pts), max(pts)
    pad = 0.12 * (hi - lo) if hi > lo else max(abs(lo) * 0.2, 0.05 if r["units"] == "fraction" else 1.0)
    return lo - pad, hi + pad


def forest(sink: Sink, d: xr.Dataset, scen: str, stem: str) -> list[dict]:
    """Draw the forest plot of one scenario's claims; returns the rows (for the HTML table)."""
    rows = claim_rows(d)
    n = len(rows)
    height = 0.85 * n + 1.6
    fig = sink.new(14, height, layout=None)  # fixed layout: constrained layout is slow with 2n text blocks
    fig.subplots_adjust(left=0.37, right=0.79, top=1 - 0.55 / height, bottom=1.05 / height, hspace=1.1)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for i, r in enumerate(rows):
        ax = axes[i]
        box = ax.get_position()
        y = box.y0 + box.height
        fig.text(0.008, y, r["key"], fontweight="bold", va="top", ha="left")
        fig.text(0.008, y - 0.3 / height, textwrap.fill(r["text"] or "(no definition stored)", 68), va="top", ha="left", fontsize=8.5)
        ax.grid(False)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlim(*_limits(r))
        ax.set_ylim(-1, 1)
        u = r["units"]
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p, u=u: f"{100 * v:.0f}%" if u == "fraction" else f"{v:g}"))
        cl, ch = r["claimed_low"], r["claimed_high"]
        if math.isfinite(cl) and math.isfinite(ch):
            if ch > cl:
                ax.axvspan(cl, ch, color=_CLAIMED, alpha=0.45)
            else:
                ax.axvline(cl, color=_CLAIMED, lw=3, alpha=0.9)
        color = VERDICT_COLORS.get(r["verdict"], "#8e44ad")
        m = r["measured"]
        if math.isfinite(m):
            if math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]):
                ax.plot([r["ci_low"], r["ci_high"]], [0, 0], color=color, lw=2.4, solid_capstyle="butt")
                ax.plot([r["ci_low"], r["ci_high"]], [0, 0], "|", color=color, ms=12, mew=2)
            ax.plot([m], [0], "o", color=color, ms=8, mec="k", mew=0.6)
        else:
            ax.text(0.03, 0.5, "n/a: no data for this claim in this scenario", ha="left", va="center", color="#555555", style="italic",
                    fontsize=9, transform=ax.transAxes, bbox={"fc": "white", "ec": "#bbbbbb", "boxstyle": "round,pad=0.2"})
        ax.tick_params(axis="x", labelsize=8, pad=1)
        ax.set_xlabel(u if u and u != "fraction" else ("share" if u else ""), fontsize=7.5, labelpad=0)
        ci = f", CI [{fmt_claim(r['ci_low'], u, False)}, {fmt_claim(r['ci_high'], u, False)}]" if math.isfinite(r["ci_low"]) else ""
        fig.text(0.80, y, r["verdict"], color=color, fontweight="bold", va="top")
        fig.text(0.80, y - 0.28 / height, f"measured {fmt_claim(m, u)}{ci}", fontsize=8, va="top")
        fig.text(0.80, y - 0.5 / height, f"claimed {claimed_text(r)}", fontsize=8, va="top", color="#7a5c00")
    handles = [Line2D([], [], marker="o", ls="", color=c, mec="k", label=k) for k, c in VERDICT_COLORS.items()]
    handles.append(Patch(color=_CLAIMED, alpha=0.45, label="claimed range / value"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), title="measured value and 95% CI, coloured by verdict", fontsize=9)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    listed = "; ".join(f"{r['key']} {fmt_claim(r['measured'], r['units'])} vs claimed {claimed_text(r)} ({r['verdict']})" for r in rows)
    caption = (f"Each claim of the seed articles as a measured quantity (dot: estimate on the ALVH book and its baselines, bar: 95% "
               f"confidence interval) against the claimed range (yellow); each row has its own axis in the claim's units. {n} claims: "
               f"{summary}. {listed}.")
    sink.save(fig, stem, f"{scen}: claims vs measurement", caption)
    return rows


def claimed_text(r: dict) -> str:
    """The claimed value or range of a claim row, in its units."""
    lo, hi, u = r["claimed_low"], r["claimed_high"], r["units"]
    return fmt_claim(lo, u) if not (math.isfinite(hi) and hi != lo) else f"{fmt_claim(lo, u)} to {fmt_claim(hi, u)}"

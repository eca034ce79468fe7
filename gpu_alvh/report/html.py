"""The report page: one self-contained ``index.html`` (inline CSS, figures as base64 PNG, no script,
no external URL), tables built from the store, and the provenance block.

Every figure is also linked to its PNG and SVG files beside the page (relative links).
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import xarray as xr

from .claims import claimed_text, fmt_claim
from .common import VERDICT_COLORS, Figure, values

__all__ = ["Section", "page", "table", "provenance_table", "summary_table"]

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0 auto;max-width:1500px;padding:0 24px 48px;color:#1d1d1d;background:#fff}
h1{font-size:26px;margin:24px 0 4px}h2{font-size:20px;border-bottom:2px solid #1f5fbf;padding-bottom:4px;margin-top:40px}
h3{font-size:16px;margin:24px 0 6px}p.lead{color:#444;margin:4px 0 16px}
figure{margin:18px 0 28px}figure img{max-width:100%;border:1px solid #e3e3e3}
figcaption{font-size:13.5px;color:#333;max-width:1400px;line-height:1.45;margin-top:6px}
figcaption a{margin-left:6px;font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:8px 0 18px}th,td{border:1px solid #d6d6d6;padding:3px 8px;vertical-align:top}
th{background:#f2f4f8;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:6px 10px;font-size:13px;margin:8px 0}
nav ul{columns:3;font-size:13px}pre{white-space:pre-wrap;font-size:12px;background:#f7f7f7;padding:8px;max-height:420px;overflow:auto}
.v{font-weight:bold}.tw{overflow-x:auto;max-width:100%}
"""

_PERCENT = {"max_drawdown_mean", "prob_loss", "ruin_fraction", "time_under_water_mean", "ann_return_mean"}
_PREFERRED = ("pnl_mean", "pnl_std", "var95", "cvar95", "var99", "cvar99", "prob_loss", "max_drawdown_mean", "ann_return_mean",
              "sharpe_mean", "sortino_mean", "time_under_water_mean", "hedge_drag_bp", "ruin_fraction")
_PROV_FIRST = ("gpu_alvh_version", "git_revision", "created", "history", "seed", "rng", "backend", "device", "dtype", "n_paths",
               "library_versions", "spec_hash", "sweep_name", "sweep_hash", "sweep_source", "sweep_mode", "elapsed_seconds",
               "table_build_seconds")
_LONG = 400

esc = html.escape


@dataclass
class Section:
    """A titled part of the page; ``blocks`` are figures, HTML fragments (tables) and notes."""

    title: str
    anchor: str
    blocks: list = field(default_factory=list)

    def figure(self, f: Figure) -> None:
        self.blocks.append(("figure", f))

    def html(self, fragment: str) -> None:
        self.blocks.append(("html", fragment))

    def note(self, text: str) -> None:
        self.blocks.append(("note", text))


def _render(block) -> str:
    kind, x = block
    if kind == "figure":
        return (f'<figure id="{esc(x.key)}"><img alt="{esc(x.title)}" src="data:image/png;base64,{x.png_b64}">'
                f"<figcaption><b>{esc(x.title)}.</b> {esc(x.caption)}"
                f'<a href="{esc(x.png.name)}">PNG</a><a href="{esc(x.svg.name)}">SVG</a></figcaption></figure>')
    if kind == "note":
        return f'<div class="note">{esc(x)}</div>'
    return x


def page(title: str, lead: str, sections: list[Section]) -> str:
    """The whole HTML document."""
    toc = "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>' + "".join(_render(b) for b in s.blocks) + "</section>"
                   for s in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body><h1>{esc(title)}</h1><p class=\"lead\">{esc(lead)}</p>"
            f"<nav><ul>{toc}</ul></nav>{body}</body></html>\n")


def table(headers: Iterable[str], rows: Iterable[Iterable], numeric: Iterable[bool] | None = None, titles: Iterable[str] | None = None) -> str:
    """An HTML table; cells are escaped text unless given as ``("html", fragment)``."""
    headers = list(headers)
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    titles = list(titles) if titles is not None else [""] * len(headers)
    head = "".join(f'<th title="{esc(t)}">{esc(h)}</th>' for h, t in zip(headers, titles))
    out = []
    for r in rows:
        cells = []
        for v, isnum in zip(r, numeric):
            content = v[1] if isinstance(v, tuple) and v and v[0] == "html" else esc(str(v))
            cells.append(f'<td class="n">{content}</td>' if isnum else f"<td>{content}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(out)}</tbody></table></div>'


def fmt_value(name: str, x: float, units: str) -> str:
    if not math.isfinite(x):
        return "n/a"
    if name in _PERCENT:
        return f"{100 * x:.2f}%"
    if units == "USD":
        return f"{x:,.0f}"
    if units.startswith("bp"):
        return f"{x:,.0f}"
    return f"{x:.4g}"


def summary_table(ds: xr.Dataset, lead_dims: tuple[str, ...] = ("scenario", "strategy")) -> str:
    """Every variable with exactly ``lead_dims`` (preferred ones first), one row per combination."""
    names = [n for n in ds.data_vars if set(ds[n].dims) == set(lead_dims)]
    names = [n for n in _PREFERRED if n in names] + sorted(n for n in names if n not in _PREFERRED)
    if not names:
        return '<div class="note">the store has no summary statistics per scenario and strategy</div>'
    data = {n: values(ds[n].transpose(*lead_dims)) for n in names}
    labels = [[str(v) for v in ds[d].values] for d in lead_dims]
    rows = []
    for idx in np.ndindex(*(len(x) for x in labels)):
        rows.append([labels[k][i] for k, i in enumerate(idx)] + [fmt_value(n, float(data[n][idx]), ds[n].attrs.get("units", "")) for n in names])
    heads = list(lead_dims) + [f"{n} ({ds[n].attrs.get('units', '')})" if n not in _PERCENT else n for n in names]
    tips = [""] * len(lead_dims) + [ds[n].attrs.get("long_name", n) for n in names]
    return table(heads, rows, [False] * len(lead_dims) + [True] * len(names), tips)


def claims_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        u = r["units"]
        ci = f"[{fmt_claim(r['ci_low'], u, False)}, {fmt_claim(r['ci_high'], u, False)}]" if math.isfinite(r["ci_low"]) else "n/a"
        verdict = f'<span class="v" style="color:{VERDICT_COLORS.get(r["verdict"], "#8e44ad")}">{esc(r["verdict"])}</span>'
        body.append([r["key"], r["text"], fmt_claim(r["measured"], u), ci, claimed_text(r), ("html", verdict)])
    heads = ["claim", "definition (measured quantity)", "measured", "95% CI", "claimed", "verdict"]
    return table(heads, body, [False, False, True, True, True, False])


def _pretty(v) -> tuple[str, bool]:
    """Attribute value as text; JSON strings pretty-printed; ``True`` when long."""
    s = v if isinstance(v, str) else json.dumps(v.tolist() if hasattr(v, "tolist") else v, default=str)
    try:
        parsed = json.loads(s) if isinstance(s, str) and s[:1] in "{[" else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and len(s) <= _LONG:
        return "\n".join(f"{k}: {w}" for k, w in parsed.items()), False
    if parsed is not None and len(s) > _LONG:
        return json.dumps(parsed, indent=1, sort_keys=True), True
    return s, len(s) > _LONG


def provenance_table(attrs: dict, extra: dict) -> str:
    """All global attributes of the store (provenance first), then the report's own record."""
    keys = [k for k in _PROV_FIRST if k in attrs] + sorted(k for k in attrs if k not in _PROV_FIRST)
    rows = []
    for k in keys:
        text, long = _pretty(attrs[k])
        label = "history (creation time and command line)" if k == "history" else k
        if long:
            cell = f"<details><summary>{len(text):,} characters (click to show)</summary><pre>{esc(text)}</pre></details>"
        else:
            cell = f"<pre style='margin:0;padding:2px;background:none'>{esc(text)}</pre>"
        rows.append([label, ("html", cell)])
    rows += [[k, v] for k, v in extra.items()]
    return table(["attribute", "value"], rows)

"""Sweep figures: cell status counts, a heatmap per pair of swept parameters and a tornado chart of
each parameter's effect, for the mean final P&L and the CVaR95 of one strategy (``alvh`` when
the store has it, else the first strategy).

Only the small summary variables ``pnl_mean`` / ``cvar95 (scenario, *params, strategy)`` and
``cell_status (scenario, *params)`` are read.  Scenarios are never averaged together (one set of
figures per scenario).  Aggregation over the other swept parameters:

* heatmap of ``(a, b)``: each square is the mean over the *done* cells of the other swept
  parameters at that ``(a, b)``; ``*`` marks a square averaging only some of them; a square with
  no done cell is drawn hatched grey (missing) or hatched red (failed), never as a number;
* tornado of parameter ``p``: for each value of ``p`` the mean over the done cells of all other
  parameters (the marginal mean); the bar spans the lowest to the highest marginal mean, the
  vertical line is the mean over all done cells, and bars are sorted by their mean-P&L span.
* with a single swept parameter the heatmap is scenario x parameter.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Patch, Rectangle

from .common import Sink, Skip, need, usd, values

__all__ = ["sweep_params", "flags", "ordered", "status_counts", "status_figure", "heatmaps", "tornado", "main_strategy", "pair_grid",
           "marginal_means", "METRICS"]

#: (variable, label, colormap) of the sweep figures; CVaR is a loss (positive = worse)
METRICS = (("pnl_mean", "mean final P&L (USD)", "RdYlGn"), ("cvar95", "CVaR95 of final P&L (USD loss)", "YlOrRd"))
_DEFAULT_FLAGS = {-1: "not_in_sweep", 0: "missing", 1: "done", 2: "failed"}
_MISSING_PATCHES = [Patch(facecolor="#eeeeee", edgecolor="#888888", hatch="///", label="no done cell (missing)"),
                    Patch(facecolor="#eeeeee", edgecolor="#c0392b", hatch="xx", label="no done cell (failed)")]
_STATE_COLORS = {"done": "#2a9d45", "missing": "#9a9a9a", "failed": "#c0392b", "not_in_sweep": "#dddddd"}


def sweep_params(ds: xr.Dataset) -> list[dict]:
    """Swept dims in order: ``[{"dim", "key", "values"}]`` (from ``sweep_dims`` attrs, else ``cell_status``'s dims)."""
    need(ds, "cell_status")
    dims = [x for x in ds["cell_status"].dims if x != "scenario"]
    keys = {}
    try:
        keys = {e["dim"]: e.get("key", e["dim"]) for e in json.loads(ds.attrs.get("sweep_dims", "[]"))}
    except (ValueError, TypeError, KeyError):
        pass
    return [{"dim": x, "key": keys.get(x, ds[x].attrs.get("key", x)), "values": list(ds[x].values)} for x in dims]


def flags(ds: xr.Dataset) -> dict[int, str]:
    """``cell_status`` value -> state name, from its CF ``flag_values`` / ``flag_meanings``."""
    a = ds["cell_status"].attrs
    try:
        return dict(zip((int(v) for v in a["flag_values"]), str(a["flag_meanings"]).split()))
    except (KeyError, TypeError, ValueError):
        return dict(_DEFAULT_FLAGS)


def status_counts(ds: xr.Dataset) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Cell counts per state, in all and per scenario."""
    st = values(ds["cell_status"].transpose("scenario", ...)).astype(int)
    names = flags(ds)
    total = {name: int((st == v).sum()) for v, name in names.items()}
    per = {str(s): {name: int((st[i] == v).sum()) for v, name in names.items()} for i, s in enumerate(ds["scenario"].values)}
    return total, per


def ordered(states) -> list[str]:
    """States in the order of ``alvh sweep status``: done, missing, failed, not in the sweep, then any other."""
    known = list(_STATE_COLORS)
    return sorted(states, key=lambda k: known.index(k) if k in known else len(known))


def status_figure(sink: Sink, ds: xr.Dataset, stem: str) -> None:
    """Stacked bars: cells done / missing / failed / not in the sweep, per scenario."""
    total, per = status_counts(ds)
    scen = list(per)
    fig = sink.new(10, 1.8 + 0.5 * len(scen))
    ax = fig.subplots()
    left = np.zeros(len(scen))
    for state in ordered(total):
        w = np.array([per[s][state] for s in scen], dtype=float)
        if w.sum() == 0:
            continue
        ax.barh(scen, w, left=left, color=_STATE_COLORS.get(state, "#8e44ad"), label=f"{state.replace('_', ' ')} ({int(w.sum())})")
        for y, (l0, wi) in enumerate(zip(left, w)):
            if wi:
                ax.text(l0 + wi / 2, y, str(int(wi)), ha="center", va="center", fontsize=9, color="k")
        left += w
    ax.set_xlabel("cells")
    ax.set_ylabel("scenario")
    fig.legend(loc="outside lower center", ncol=4)
    ax.set_title("sweep cells by status (as `alvh sweep status` counts them)", loc="left")
    summary = ", ".join(f"{total[k]} {k.replace('_', ' ')}" for k in ordered(total))
    sink.save(fig, stem, "Sweep status", f"Cells of the sweep store by status: {summary}.")


def main_strategy(ds: xr.Dataset) -> str:
    names = [str(s) for s in ds["strategy"].values]
    return "alvh" if "alvh" in names else names[0]


def _metric_cube(ds: xr.Dataset, scen, var: str, strat: str, dims: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, done mask, failed mask) over ``dims`` for one scenario; values NaN where not done."""
    need(ds, var, dims=("scenario", "strategy", *dims))
    st = ds["cell_status"].sel(scenario=scen).transpose(*dims)
    code = {name: v for v, name in flags(ds).items()}
    s = values(st).astype(int)
    done, failed = s == code.get("done", 1), s == code.get("failed", 2)
    v = values(ds[var].sel(scenario=scen, strategy=strat).transpose(*dims))
    return np.where(done, v, np.nan), done, failed


def pair_grid(ds: xr.Dataset, scen, var: str, strat: str, dim_a: str, dim_b: str) -> tuple[np.ndarray, ...]:
    """Heatmap of ``var`` over ``(dim_b, dim_a)`` in one scenario: the mean over the done cells of the other
    swept dims; returns ``(grid, n_done, n_cells, n_failed)``, ``grid`` NaN where no cell is done."""
    others = [x for x in (p["dim"] for p in sweep_params(ds)) if x not in (dim_a, dim_b)]
    v, done, failed = _metric_cube(ds, scen, var, strat, [dim_b, dim_a, *others])
    red = tuple(range(2, v.ndim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: squares without a done cell
        grid = np.nanmean(v, axis=red) if red else v
    ndone, nfail = done.sum(axis=red), failed.sum(axis=red)
    nall = np.full(ndone.shape, int(np.prod([v.shape[k] for k in red])))
    return np.where(ndone > 0, grid, np.nan), ndone, nall, nfail


def marginal_means(ds: xr.Dataset, scen, var: str, strat: str) -> dict[str, np.ndarray]:
    """For each swept dim, the mean of ``var`` over the done cells at each of its values (NaN: none done)."""
    dims = [p["dim"] for p in sweep_params(ds)]
    cube = _metric_cube(ds, scen, var, strat, dims)[0]
    out = {}
    for k, dim in enumerate(dims):
        other = tuple(x for x in range(len(dims)) if x != k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # values without a done cell
            out[dim] = np.nanmean(cube, axis=other) if other else cube
    return out


def _square_grid(ax, grid: np.ndarray, ndone: np.ndarray, nall: np.ndarray, nfail: np.ndarray, cmap: str, label: str, fig) -> bool:
    """Draw a heatmap; squares without a done cell hatched (never a number).  Returns whether any was."""
    finite = grid[np.isfinite(grid)]
    norm = None
    if cmap == "RdYlGn" and finite.size and finite.min() < 0 < finite.max():
        norm = TwoSlopeNorm(0.0, finite.min(), finite.max())
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto", origin="lower")
    fig.colorbar(im, ax=ax, label=label, format=lambda v, _p: usd(v))
    for (i, j), x in np.ndenumerate(grid):
        if np.isfinite(x):
            mark = "*" if ndone[i, j] < nall[i, j] else ""
            ax.text(j, i, usd(x) + mark, ha="center", va="center", fontsize=8.5,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.6, "lw": 0})
        else:
            failed = nfail[i, j] > 0
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#eeeeee", edgecolor="#c0392b" if failed else "#888888",
                                   hatch="xx" if failed else "///", lw=0))
            ax.text(j, i, "failed" if failed else "missing", ha="center", va="center", fontsize=9, color="#333333")
    ax.grid(False)
    return not np.isfinite(grid).all()


def _labels(vals) -> list[str]:
    return [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in vals]


def heatmaps(sink: Sink, ds: xr.Dataset, scen, si: int, stem: str) -> None:
    """One figure per pair of swept parameters of scenario ``scen`` (mean P&L and CVaR95 side by side);
    with a single swept parameter (``scen`` None): one scenario x parameter figure."""
    params = sweep_params(ds)
    strat = main_strategy(ds)
    dims = [p["dim"] for p in params]
    if len(dims) == 1:
        _heatmap_one(sink, ds, params[0], strat, stem)
        return
    for a in range(len(dims)):
        for b in range(a + 1, len(dims)):
            fig = sink.new(14, 5.4, layout=None)  # fixed layout: constrained layout with colorbars is slow
            fig.subplots_adjust(left=0.09, right=0.97, top=0.87, bottom=0.2, wspace=0.3)
            axes = fig.subplots(1, 2)
            notes, others, hatched = [], [d for k, d in enumerate(dims) if k not in (a, b)], False
            for ax, (var, label, cmap) in zip(axes, METRICS):
                if var not in ds.variables:
                    ax.set_axis_off()
                    ax.text(0.5, 0.5, f"the store has no {var}", ha="center", transform=ax.transAxes)
                    continue
                grid, ndone, nall, nfail = pair_grid(ds, scen, var, strat, dims[a], dims[b])
                hatched |= _square_grid(ax, grid, ndone, nall, nfail, cmap, label, fig)
                ax.set_xticks(range(len(params[a]["values"])), _labels(params[a]["values"]))
                ax.set_yticks(range(len(params[b]["values"])), _labels(params[b]["values"]))
                ax.set_xlabel(params[a]["key"])
                ax.set_ylabel(params[b]["key"])
                ax.set_title(f"{strat}: {label}", loc="left")
                if np.isfinite(grid).any():
                    i, j = np.unravel_index(np.nanargmax(grid), grid.shape)
                    best = "highest" if var == "pnl_mean" else "largest loss"
                    notes.append(f"{var} {best} {usd(grid[i, j])} at {params[a]['key']}={_labels([params[a]['values'][j]])[0]}, "
                                 f"{params[b]['key']}={_labels([params[b]['values'][i]])[0]}")
                missing = int((ndone == 0).sum())
                if missing and var == "pnl_mean":
                    notes.append(f"{missing} of {grid.size} squares have no done cell (hatched)")
            if hatched:
                fig.legend(handles=_MISSING_PATCHES, loc="lower center", ncol=2)
            else:
                fig.subplots_adjust(bottom=0.12)
            avg = (f" Other swept parameters ({', '.join(others)}) averaged over their done cells; * marks squares averaging "
                   "only some of them.") if others else ""
            caption = (f"Scenario {scen}, strategy {strat}: mean final P&L and CVaR95 (loss) over the grid of "
                       f"{params[a]['key']} x {params[b]['key']}. " + "; ".join(notes) + "." + avg)
            sink.save(fig, f"{stem}_{si}_{dims[a]}_{dims[b]}", f"{scen}: {dims[a]} x {dims[b]}", caption)


def _heatmap_one(sink: Sink, ds: xr.Dataset, p: dict, strat: str, stem: str) -> None:
    """Scenario x parameter heatmap (a sweep over a single parameter)."""
    scen = [str(s) for s in ds["scenario"].values]
    fig = sink.new(14, 1.8 + 0.6 * len(scen))
    axes = fig.subplots(1, 2)
    notes = []
    for ax, (var, label, cmap) in zip(axes, METRICS):
        if var not in ds.variables:
            ax.set_axis_off()
            continue
        rows = [_metric_cube(ds, s, var, strat, [p["dim"]]) for s in scen]
        grid = np.array([r[0] for r in rows])
        ndone = np.array([r[1] for r in rows]).astype(int)
        nfail = np.array([r[2] for r in rows]).astype(int)
        if _square_grid(ax, grid, ndone, np.ones_like(ndone), nfail, cmap, label, fig) and ax is axes[0]:
            fig.legend(handles=_MISSING_PATCHES, loc="outside lower center", ncol=2)
        ax.set_xticks(range(len(p["values"])), _labels(p["values"]))
        ax.set_yticks(range(len(scen)), scen)
        ax.set_xlabel(p["key"])
        ax.set_ylabel("scenario")
        ax.set_title(f"{strat}: {label}", loc="left")
        if np.isfinite(grid).any():
            notes.append(f"{var} from {usd(np.nanmin(grid))} to {usd(np.nanmax(grid))}")
    sink.save(fig, f"{stem}_{p['dim']}", f"scenario x {p['dim']}",
              f"Strategy {strat}: mean final P&L and CVaR95 per scenario and value of {p['key']}; " + "; ".join(notes) + ".")


def tornado(sink: Sink, ds: xr.Dataset, scen, si: int, stem: str) -> None:
    """Each swept parameter's range of marginal means of mean P&L and CVaR95 in scenario ``scen``."""
    params = sweep_params(ds)
    strat = main_strategy(ds)
    dims = [p["dim"] for p in params]
    metrics = [m for m in METRICS if m[0] in ds.variables]
    if not metrics:
        raise Skip("the store has no pnl_mean / cvar95")
    cubes = {var: _metric_cube(ds, scen, var, strat, dims)[0] for var, _, _ in metrics}
    if not np.isfinite(cubes[metrics[0][0]]).any():
        raise Skip(f"no done cell in scenario {scen}")
    marg = {var: marginal_means(ds, scen, var, strat) for var, _, _ in metrics}
    spans = {k: {var: marg[var][dims[k]] for var in marg} for k in range(len(dims))}
    order = sorted(range(len(dims)), key=lambda k: np.nan_to_num(np.nanmax(spans[k][metrics[0][0]]) - np.nanmin(spans[k][metrics[0][0]])))
    fig = sink.new(14, 1.6 + 0.7 * len(dims))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    notes = []
    for ax, (var, label, _cmap) in zip(axes, metrics):
        centre = float(np.nanmean(cubes[var]))
        for y, k in enumerate(order):
            m = spans[k][var]
            ok = np.isfinite(m)
            if not ok.any():
                continue
            vals = _labels(params[k]["values"])
            lo, hi = int(np.nanargmin(m)), int(np.nanargmax(m))
            ax.barh(y, m[hi] - m[lo], left=m[lo], color="#1f5fbf" if var == "pnl_mean" else "#e07b00", alpha=0.75, height=0.55)
            ax.text(m[lo], y, f"{vals[lo]} ", ha="right", va="center", fontsize=8.5)
            ax.text(m[hi], y, f" {vals[hi]}", ha="left", va="center", fontsize=8.5)
            notes.append(f"{var}: {params[k]['key']} moves it from {usd(m[lo])} ({vals[lo]}) to {usd(m[hi])} ({vals[hi]})")
        ax.axvline(centre, color="k", lw=0.8, ls="--")
        ax.set_yticks(range(len(order)), [params[k]["key"] for k in order])
        ax.set_xlabel(label)
        ax.set_title(f"{strat}: {var} (dashed: mean over done cells {usd(centre)})", loc="left")
        ax.xaxis.set_major_formatter(lambda v, _p: usd(v))
        ax.use_sticky_edges = False  # bars would pin the axis to their ends, hiding the end labels
        ax.margins(x=0.18)
    caption = (f"Scenario {scen}, strategy {strat}: range of the marginal mean (other swept parameters averaged over done cells) "
               f"over each parameter's values; bar ends are labelled with the parameter value. " + "; ".join(notes) + ".")
    sink.save(fig, f"{stem}_{si}", f"{scen}: parameter effects (tornado)", caption)

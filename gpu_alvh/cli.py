"""The ``alvh`` command line.

Exit codes: 0 ok; 2 bad input (a scenario/strategy/sweep file or an option:
one message naming the file, the field, the value and what is allowed); 1 an
internal error (message only; ``ALVH_DEBUG=1`` shows the traceback); 130 when
interrupted; 141 (quietly) when the reader of the output went away, as in
``alvh price base | head``.

``--out`` is checked before any computation (:func:`gpu_alvh.stores.check_out`)
and written atomically; it only ever replaces a store of the command's own kind,
and only with ``--overwrite``.
"""

from __future__ import annotations

import os
import sys
import time
import traceback

import click
import numpy as np

from . import __version__
from .errors import AlvhError, BackendUnavailableError, NonFiniteError, SpecError

BACKEND_CHOICE = click.Choice(["auto", "numpy", "cupy"], case_sensitive=False)
DTYPE_CHOICE = click.Choice(["float64", "float32"], case_sensitive=False)


class AlvhGroup(click.Group):
    """Click group that maps gpu_alvh errors to exit codes and one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (SpecError, BackendUnavailableError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except NonFiniteError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `alvh ... | head`: the reader is gone; say nothing more
            _quiet_stdout()
            ctx.exit(141)
        except AlvhError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            if os.environ.get("ALVH_DEBUG"):
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc} (set ALVH_DEBUG=1 for the traceback)", err=True)
            ctx.exit(1)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (e.g. captured output)
        pass


def _load_specs(scenarios) -> list:
    """Scenario specs of the command line, loaded (and checked for distinct names) before any work."""
    from .errors import SpecIssue
    from .spec import load_scenario
    from .spec.base import Shown

    specs = [load_scenario(s) for s in scenarios]
    first: dict[str, str] = {}
    for arg, spec in zip(scenarios, specs):
        if spec.name in first:
            raise SpecError("command line", SpecIssue("SCENARIO", Shown(repr(arg)), f"has the same name {spec.name!r} as {first[spec.name]!r}; "
                                                      "allowed: scenarios with distinct names in one run (the `name:` key, else the file name)"))
        first[spec.name] = arg
    return specs


def _check_run_memory(specs, strategy, n_paths, save_paths: bool) -> None:
    """Refuse a run whose per-path results cannot fit in memory (estimate: twice the stored arrays)."""
    from .limits import check_memory

    total, largest = 0, (0, "")
    for spec in specs:
        strat = strategy if strategy is not None else spec.strategy_spec()
        n = int(spec.paths if n_paths is None else n_paths)
        rows, layers, days = 1 + len(strat.baselines), len(strat.layers), int(spec.horizon) + 1
        per_path = rows * 8 * (21 + 3 * layers) + 16 + (8 * days * (rows + 2) if save_paths else 0)
        total += 2 * n * per_path
        largest = max(largest, (n * per_path, f"{n:,} paths x {days - 1:,} days of {spec.name}"))
    check_memory(total, largest[1] + (" with --save-paths" if save_paths else ""), option="--paths")


@click.group(cls=AlvhGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="alvh")
def main() -> None:
    """gpu_alvh: Monte Carlo stress tests of the ALVH iron-condor ladder with a VIX hedge overlay."""


def _progress_default() -> bool:
    return sys.stderr.isatty()


# ---------------------------------------------------------------------------- scenarios
@main.group("scenarios")
def scenarios_group() -> None:
    """List, show, validate and check scenario files."""


@scenarios_group.command("list")
def scenarios_list() -> None:
    """List the built-in scenario library."""
    from .spec import list_library, load_scenario

    for name in list_library():
        spec = load_scenario(name)
        desc = (spec.description or "").strip().splitlines()[0] if spec.description else ""
        click.echo(f"{name:18s} {spec.model:7s} {spec.horizon:5d}d  {desc}")


@scenarios_group.command("show")
@click.argument("scenario")
def scenarios_show(scenario: str) -> None:
    """Show a scenario (library name or file) as validated YAML, with derived values."""
    import yaml

    from .spec import load_scenario
    from .spec.scenario import regime_model

    spec = load_scenario(scenario)
    click.echo(yaml.safe_dump(spec.to_dict(), sort_keys=False).rstrip())
    mq = spec.model_q()

    def formula(m) -> str:
        a, a2, b = m.vix2_terms()
        slow = f" + {a2:.7f} v2" if m.n_factors == 2 else ""
        return f"VIX^2 = {a:.7f} v{slow} + {b:.7f}  VIX floor={m.vix_floor():.2f}"

    start = f"v0={spec.v0():.6g}" + (f"  v2_0={spec.v2_0():.6g}" if mq.n_factors == 2 else "")
    click.echo(f"# derived: {start}  {formula(mq)}")
    for j, m in enumerate(spec.pricing_models()[1:], start=1):  # priced window regimes (docs/scenarios.md, "Regimes and prices")
        days = [d for d in range(1, spec.horizon + 1) if regime_model(mq, spec.pricing_key(d)) == m]
        click.echo(f"# pricing regime {j} (sessions {days[0]}..{days[-1]}, priced from the close of day {days[0] - 1}): "
                   f"sigma={m.sigma:.6g} rho={m.rho:.6g} jump_intensity={m.jump_intensity:.6g}  {formula(m)}")
    if spec.historical is not None:  # the clock and start of a replay come from the data
        click.echo(f"# historical: start {spec.start}  horizon {spec.horizon}  spot {spec.spot:g}  {spec.historical.window().vol_series} {spec.vix:g}")


@scenarios_group.command("validate")
@click.argument("files", nargs=-1, required=True)
def scenarios_validate(files: tuple[str, ...]) -> None:
    """Validate scenario files; exit 2 at the first invalid one."""
    from .spec import load_scenario

    for f in files:
        spec = load_scenario(f)
        click.echo(f"ok: {f} ({spec.name}: {spec.model}, {spec.horizon} trading days)")


# ---------------------------------------------------------------------------- simulate
@main.command("simulate")
@click.argument("scenario")
@click.option("--paths", "n_paths", type=click.IntRange(min=1), default=None, help="Number of paths [scenario's paths].")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Random seed [scenario's seed].")
@click.option("--backend", type=BACKEND_CHOICE, default="auto", show_default=True)
@click.option("--dtype", type=DTYPE_CHOICE, default="float64", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Paths per batch [sized to the device].")
@click.option("--out", type=click.Path(dir_okay=True, writable=True), default=None, help="Write the paths to this Zarr store.")
@click.option("--overwrite", is_flag=True, help="Replace the paths store already at --out (never anything else).")
@click.option("--progress/--no-progress", default=None, help="Progress bar [on when stderr is a terminal].")
def simulate_cmd(scenario, n_paths, seed, backend, dtype, batch_size, out, overwrite, progress) -> None:
    """Simulate joint SPX/VIX paths of SCENARIO (file or library name) and summarise them."""
    from .limits import check_memory
    from .paths import simulate
    from .results import write_zarr
    from .stores import check_out

    spec = _load_specs([scenario])[0]
    if out is not None:
        check_out(out, "paths", overwrite=overwrite)
    n = int(spec.paths if n_paths is None else n_paths)
    steps = int(spec.horizon) * int(spec.steps_per_day)
    check_memory(3 * n * (steps + 1) * (8 if dtype == "float64" else 4), f"{n:,} paths x {steps:,} steps", option="--paths")
    progress = _progress_default() if progress is None else progress
    t0 = time.perf_counter()
    ds = simulate(spec, n_paths=n_paths, seed=seed, backend=backend, dtype=dtype, batch_size=batch_size, progress=progress)
    elapsed = time.perf_counter() - t0
    n_p, n1 = ds.sizes["path"], ds.sizes["step"]
    _print_paths_summary(ds, elapsed)
    click.echo(f"throughput: {n_p * (n1 - 1) / ds.attrs['elapsed_seconds']:.3g} path-steps/s on {ds.attrs['backend']} ({ds.attrs['device']}); total {elapsed:.2f} s")
    if out is not None:
        write_zarr(ds, out, kind="paths", overwrite=overwrite, chunks={"path": min(n_p, 20000)})
        click.echo(f"wrote {out}")


def _print_paths_summary(ds, elapsed: float) -> None:
    qs = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]
    spx_T = np.asarray(ds["spx"].isel(step=-1))
    vix_T = np.asarray(ds["vix"].isel(step=-1))
    vix_max = np.asarray(ds["vix"]).max()
    t_end = str(ds["time"].values[-1])[:10]
    click.echo(f"scenario {ds.attrs['scenario']}: {ds.sizes['path']} paths x {ds.sizes['step'] - 1} steps ({ds.attrs['model']}/{ds.attrs['scheme']}), horizon end {t_end}")
    header = "          " + " ".join(f"{'q' + format(q * 100, 'g'):>9s}" for q in qs)
    click.echo(header)
    click.echo("SPX(T)    " + " ".join(f"{v:9.2f}" for v in np.quantile(spx_T, qs)))
    click.echo("VIX(T)    " + " ".join(f"{v:9.2f}" for v in np.quantile(vix_T, qs)))
    click.echo(f"max VIX over all paths and steps: {vix_max:.2f}")


# ---------------------------------------------------------------------------- run
@main.command("run")
@click.argument("scenarios", nargs=-1)
@click.option("--paths", "n_paths", type=click.IntRange(min=1), default=None, help="Paths per scenario [the scenario's paths].")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Random seed [the scenario's seed].")
@click.option("--backend", type=BACKEND_CHOICE, default="auto", show_default=True)
@click.option("--dtype", type=DTYPE_CHOICE, default="float64", show_default=True)
@click.option("--strategy", "strategy", type=click.Path(exists=True, dir_okay=False), default=None, help="Strategy YAML replacing the scenarios' own.")
@click.option("--out", type=click.Path(dir_okay=True, writable=True), default=None, help="Write the results to this Zarr store.")
@click.option("--overwrite", is_flag=True, help="Replace the run store already at --out (never anything else).")
@click.option("--save-paths", is_flag=True, help="Also keep daily NAV/SPX/VIX of every path (small runs).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Paths per batch [sized to the device].")
@click.option("--progress/--no-progress", default=None, help="Progress bar [on when stderr is a terminal].")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default=None, help="Also write the HTML report into this directory.")
def run_cmd(scenarios, n_paths, seed, backend, dtype, strategy, out, overwrite, save_paths, batch_size, progress, report_dir) -> None:
    """Run the ALVH book and its baselines on SCENARIO(s) [default: the built-in base_2f scenario, the two-factor market fitted to 1990-2026]."""
    from .report.cli import check_report_dir, write_report
    from .results import write_zarr
    from .runner import DEFAULT_SCENARIO, run
    from .spec import load_strategy
    from .stores import check_out

    specs = _load_specs(list(scenarios) or [DEFAULT_SCENARIO])
    strat = load_strategy(strategy) if strategy is not None else None
    if out is not None:
        check_out(out, "run", overwrite=overwrite)
    check_report_dir(report_dir)
    _check_run_memory(specs, strat, n_paths, save_paths)
    progress = _progress_default() if progress is None else progress
    t0 = time.perf_counter()
    ds = run(specs, n_paths=n_paths, seed=seed, backend=backend, dtype=dtype, strategy=strat,
             save_paths=save_paths, batch_size=batch_size, progress=progress)
    elapsed = time.perf_counter() - t0
    from .historical import central_path_lines

    for name in ds["scenario"].values:
        _print_run_summary(ds.sel(scenario=name))
        for line in central_path_lines(ds, str(name), backend=backend):  # historical episodes: the worst real day
            click.echo(line)
    n = int(ds.attrs["n_paths"])
    steps = int(ds.sizes["day"]) - 1
    click.echo(f"{n} paths x {steps} days x {ds.sizes['strategy']} strategies per scenario on {ds.attrs['backend']} ({ds.attrs['device']}): "
               f"{elapsed:.1f} s total, pricing tables {ds.attrs['table_build_seconds']:.1f} s")
    if out is not None:
        write_zarr(ds, out, kind="run", overwrite=overwrite)
        click.echo(f"wrote {out}  (open with gpu_alvh.open_results)")
    if report_dir:
        write_report(out or ds, report_dir)


def _print_run_summary(ds) -> None:
    click.echo(f"\nscenario {str(ds['scenario'].values)}  (NAV_0 ${float(ds['final_nav'].isel(strategy=0, path=0) - ds['final_pnl'].isel(strategy=0, path=0)):,.0f})")
    cols = [("pnl_mean", "mean P&L $"), ("excess_pnl_mean", "over cash $"), ("pnl_std", "stdev $"), ("cvar95", "CVaR95 $"), ("cvar99", "CVaR99 $"),
            ("max_drawdown_mean", "max DD"), ("prob_loss", "P(loss)"), ("hedge_drag_bp", "hedge drag bp/yr"), ("ruin_fraction", "ruin")]
    header = f"{'strategy':16s}" + "".join(f"{h:>17s}" for _, h in cols)
    click.echo(header)
    for s in ds["strategy"].values:
        row = ds.sel(strategy=s)
        cells = []
        for k, _ in cols:
            x = float(row[k])
            cells.append(f"{x:>17.1%}" if k in ("max_drawdown_mean", "prob_loss", "ruin_fraction") else f"{x:>17,.0f}" if k != "hedge_drag_bp" else f"{x:>17.0f}")
        click.echo(f"{str(s):16s}" + "".join(cells))
    _print_layer_table(ds)
    click.echo("claims (ALVH vs its baselines, 95% CI; definitions: docs/claims.md):")
    for c in ds["claim"].values:
        r = ds.sel(claim=c)
        m, lo, hi = float(r["measured"]), float(r["ci_low"]), float(r["ci_high"])
        cl, ch = float(r["claimed_low"]), float(r["claimed_high"])
        claimed = f"{cl:.3g}" if cl == ch else f"{cl:.3g}-{ch:.3g}"
        meas = "n/a" if not np.isfinite(m) else (f"{m:.3g} [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) and np.isfinite(hi) else f"{m:.3g} [no CI]")
        claimed = "-" if not np.isfinite(cl) else claimed
        note = str(r["claim_note"].values) if "claim_note" in r else ""
        click.echo(f"  {str(c):11s} {meas:>28s}  claimed {claimed:>9s}  {str(r['verdict'].values):14s} {str(r['claim_text'].values)}"
                   + (f" [{note}]" if note else ""))


#: the per-layer table: (variable, header); counts are means per path
_LAYER_COLS = (("layer_pnl", "P&L $"), ("layer_targets", "targets"), ("layer_stops", "stops"), ("layer_time_exits", "time exits"),
               ("layer_settled", "settled"), ("layer_rolls", "rolls"), ("layer_rolled_targets", "rolled>tgt"), ("layer_rolled_stops", "rolled>stop"),
               ("layer_rolled_time_exits", "rolled>time"), ("layer_rolled_settled", "rolled>exp"))


def _print_layer_table(ds) -> None:
    """Per strategy and layer: mean P&L and lives per path by outcome, rolls, and the realised stop multiple."""
    if "layer_targets" not in ds:
        return
    click.echo("layers (means per path; 'rolled>': lives rolled at least once, by how they ended; realised stop multiple: "
               "mean loss / entry credit of stopped lives [95% CI] (n), stops checked at each step's marks):")
    click.echo(f"{'strategy':16s}{'layer':>6s}" + "".join(f"{h:>12s}" for _, h in _LAYER_COLS) + f"{'stop multiple':>30s}")
    for s in ds["strategy"].values:
        for lay in ds["layer"].values:
            row = ds.sel(strategy=s, layer=lay)
            if not np.isfinite(float(row["layer_pnl"].isel(path=0))):
                continue  # a layer this strategy does not hold
            cells = [f"{float(row[k].mean()):>12,.0f}" if k == "layer_pnl" else f"{float(row[k].mean()):>12.2f}" for k, _ in _LAYER_COLS]
            m, lo, hi, n = (float(row[k]) for k in ("stop_multiple_mean", "stop_multiple_ci_low", "stop_multiple_ci_high", "stopped_lives"))
            sm = "n/a" if not np.isfinite(m) else (f"{m:.2f} [{lo:.2f}, {hi:.2f}] ({n:.0f})" if np.isfinite(lo) else f"{m:.2f} ({n:.0f})")
            click.echo(f"{str(s):16s}{int(lay):>6d}" + "".join(cells) + f"{sm:>30s}")


from .pricing.cli import price_command  # noqa: E402 - commands that live in their own modules

from .cli_sweep import sweep_group  # noqa: E402
from .report.cli import report_command  # noqa: E402

from .calibration.cli import calibrate_command, check_command  # noqa: E402
from .benchmarks.cli import bench_command  # noqa: E402

main.add_command(price_command, "price")
main.add_command(sweep_group, "sweep")
main.add_command(report_command, "report")
main.add_command(calibrate_command, "calibrate")
main.add_command(bench_command, "bench")
scenarios_group.add_command(check_command, "check")


if __name__ == "__main__":  # pragma: no cover
    main()

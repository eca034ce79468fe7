"""``alvh calibrate`` and ``alvh scenarios check`` (registered by :mod:`gpu_alvh.cli`).

* ``alvh calibrate --spx FILE --vix FILE [--vix3m FILE --vix9d FILE --vvix FILE] [--from D --to D]
  [--model svcj|svcj2] [--out FILE [--overwrite]]`` fits SVCJ P and Q parameters to the user's daily closes
  (:func:`gpu_alvh.calibration.calibrate`; ``svcj2``: the two-factor model by simulation,
  :func:`gpu_alvh.calibration.fit2.calibrate_two_factor`), prints the fit table and writes (or prints) a
  scenario ``model`` / ``drift`` / ``params`` / ``pricing`` block with the table as comments.
* ``alvh scenarios check NAME [--paths N --years Y --seed S]`` simulates a scenario and prints its
  market statistics beside the shipped history's (the library's fit data), with standard errors
  and ``z = (model - history) / sqrt(se_m^2 + se_h^2)``; ``*`` marks ``|z| > 2``.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from pathlib import Path

import click

from ..errors import SpecError, SpecIssue

__all__ = ["calibrate_command", "check_command", "Z_FLAG"]

#: ``scenarios check`` marks rows whose |z| exceeds this (two combined standard errors).
Z_FLAG = 2.0
#: Models ``alvh calibrate`` fits: by moments (svcj, :mod:`.fit`) or by simulation (svcj2, :mod:`.fit2`).
CALIBRATED = ("svcj", "svcj2")


def _command_line(ctx: click.Context) -> str:
    """The command as given (options in declaration order, defaults left out)."""
    words = ["alvh", ctx.info_name or "calibrate"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or value is False or value == param.default:
            continue
        flag = param.opts[0]
        words += [flag] if value is True else [flag, shlex.quote(str(value))]
    return " ".join(words)


def _write_atomic(path: str, text: str, overwrite: bool) -> None:
    target = Path(path)
    if target.exists() and not overwrite:
        raise SpecError("--out", SpecIssue("--out", path, "exists; allowed: a new file, or add --overwrite to replace it"))
    if target.exists() and not target.is_file():
        raise SpecError("--out", SpecIssue("--out", path, "is not a regular file; allowed: a file path"))
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise SpecError("--out", SpecIssue("--out", path, f"allowed: a file in an existing folder ({folder} does not exist)"))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command("calibrate")
@click.option("--spx", "spx", required=True, help="CSV of daily SPX closes (columns date, close).")
@click.option("--vix", "vix", required=True, help="CSV of daily VIX closes.")
@click.option("--vix3m", default=None, help="CSV of daily VIX3M closes (term structure, 93-day premium).")
@click.option("--vix9d", default=None, help="CSV of daily VIX9D closes (9-day premium).")
@click.option("--vvix", default=None, help="CSV of daily VVIX closes (sets the pricing vol of variance).")
@click.option("--from", "start", default=None, help="First date used (YYYY-MM-DD) [first VIX date].")
@click.option("--to", "end", default=None, help="Last date used [last SPX date].")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the YAML block here [print it].")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--max-nfev", type=click.IntRange(min=1), default=None, help="Least-squares budget [svcj: 60 iterations per start; svcj2: 250 simulations, finite differences included].")
@click.option("--model", "model", type=click.Choice(CALIBRATED), default="svcj", show_default=True,
              help="Model to fit: svcj (moments, ~25 s) or the two-factor svcj2 (by simulation, minutes).")
@click.option("--paths", "n_paths", type=click.IntRange(min=20), default=600, show_default=True,
              help="svcj2: simulated paths of 9 years per evaluation.")
def calibrate_command(spx, vix, vix3m, vix9d, vvix, start, end, out, overwrite, max_nfev, model, n_paths) -> None:
    """Fit simulation (P) and pricing (Q) parameters of SVCJ (or SVCJ2) to daily closes; print the fit table."""
    from .fit import calibrate
    from .fit2 import calibrate_two_factor
    from .history import build_frame, read_closes, window_dates
    from .stats import history_statistics

    a, b = window_dates(start, end)
    files = {"spx": spx, "vix": vix, "vix9d": vix9d, "vix3m": vix3m, "vvix": vvix}
    series = {k: read_closes(f, k) for k, f in files.items() if f is not None}
    frame = build_frame(series, start=a, end=b)
    targets = history_statistics(frame)
    click.echo(f"history: {targets.window} ({targets.units} blocks of 252 sessions)", err=True)

    def progress(n, cost):
        click.echo(f"  ... {n} evaluations, cost {cost:.2f}", err=True)

    if model == "svcj2":
        result = calibrate_two_factor(targets, n_paths=n_paths, max_nfev=max_nfev or 250, progress=progress)
    else:
        result = calibrate(targets, max_nfev=max_nfev or 60, progress=progress)
    click.echo(result.table())
    for note in result.notes:
        click.echo(f"note: {note}")
    block = result.yaml_block(_command_line(click.get_current_context()))
    if out:
        _write_atomic(out, block, overwrite)
        click.echo(f"wrote {out}")
    else:
        click.echo(block.rstrip())


@click.command("check")
@click.argument("scenario")
@click.option("--paths", "n_paths", type=click.IntRange(min=2), default=1000, show_default=True, help="Simulated paths.")
@click.option("--years", type=float, default=9.0, show_default=True, help="Years of 252 sessions per path (after a 126-session burn-in).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Random seed [the scenario's seed].")
@click.option("--backend", type=click.Choice(["auto", "numpy", "cupy"], case_sensitive=False), default="auto", show_default=True)
def check_command(scenario, n_paths, years, seed, backend) -> None:
    """Simulate SCENARIO and print its market statistics beside the shipped history's."""
    from .check import compare, simulate_market
    from .history import shipped_frame
    from .stats import STATISTICS, history_statistics

    hist = history_statistics(shipped_frame())
    model = simulate_market(scenario, n_paths=n_paths, years=years, seed=seed, backend=backend, progress=sys.stderr.isatty())
    click.echo(f"model:   {model.window}")
    click.echo(f"history: {hist.window}")
    click.echo(f"{'statistic':54s} {'unit':>8s} {'history':>9s} {'+-se':>7s} {'model':>9s} {'+-se':>7s} {'z':>6s}")
    flagged = 0
    for r in compare(model, hist):
        fmt = STATISTICS[r.key].fmt
        mark = " *" if abs(r.z) > Z_FLAG else ""
        flagged += bool(mark)
        click.echo(f"{r.label:54s} {r.unit:>8s} {r.history:9{fmt}} {r.history_se:7{fmt}} {r.model:9{fmt}} {r.model_se:7{fmt}} {r.z:6.2f}{mark}")
    click.echo(f"model ATM 30-day VIX-option implied vol, median over days: {model.extra['atm_iv_p50']:.1f} (no history series; compare VVIX)")
    click.echo(f"* : |z| > {Z_FLAG:g}, z = (model - history) / sqrt(se_model^2 + se_history^2); {flagged} flagged")

"""``alvh sweep examples|plan|run|status`` (registered on ``alvh`` as ``main.add_command(sweep_group, "sweep")``).

Errors follow the ``alvh`` conventions (the ``alvh`` group maps them): a bad
sweep file, option, a store of another sweep (without ``--overwrite``), an
``--out`` that is not a sweep store, a store another live run is writing, or a
scheduler that does not answer -> exit 2 with one message naming the file, the
field, the value and what is allowed; failed cells -> exit 1 (the other cells
are written; rerun to retry them); Ctrl-C -> one line and exit 130 (the cluster
is shut down; rerun to resume).
"""

from __future__ import annotations

import json
import sys

import click

__all__ = ["sweep_group"]

_BACKEND = click.Choice(["auto", "numpy", "cupy"], case_sensitive=False)
_DTYPE = click.Choice(["float64", "float32"], case_sensitive=False)


@click.group("sweep")
def sweep_group() -> None:
    """Parameter sweeps: plan, run (locally, on a Dask cluster or as array-job shards), status."""


@sweep_group.command("examples")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def examples_cmd(as_json) -> None:
    """List the example sweeps shipped with the package (run one with `alvh sweep run NAME --out STORE`)."""
    import textwrap

    from .sweeps.examples import describe_examples

    rows = describe_examples(backend="numpy")
    if as_json:
        click.echo(json.dumps(rows, indent=1, default=str))
        return
    click.echo(f"{'name':18s} {'cells':>5s} {'passes':>6s} {'paths':>6s} {'CPU time*':>9s}  scenarios")
    for r in rows:
        est = "?" if r["seconds"] is None else f"~{r['seconds']:.0f} s"
        click.echo(f"{r['name']:18s} {r['cells']:5d} {r['passes']:6d} {r['paths']:6d} {est:>9s}  {', '.join(r['scenarios'])}")
        for line in textwrap.wrap(r["description"], 100):
            click.echo(f"    {line}")
        click.echo(f"    file: {r['file']}")
    bench = next((r["benchmark"] for r in rows if r["benchmark"]), None)
    src = f"{bench['file']} ({bench['device']})" if bench else "no CPU benchmark record found"
    click.echo(f"* alvh sweep plan's estimate for the numpy backend, kernels compiled, from {src}")
    click.echo("run one: alvh sweep run NAME --out STORE.zarr   (alvh sweep plan NAME for its plan; --paths is the file's)")


@sweep_group.command("plan")
@click.argument("sweep_file", metavar="SWEEP.yaml")
@click.option("--backend", type=_BACKEND, default="auto", show_default=True, help="Backend the estimate is for (its newest benchmark record).")
@click.option("--dtype", type=_DTYPE, default=None, help="Override the sweep file's dtype.")
@click.option("--max-memory", default=None, metavar="SIZE", help="Bytes of engine state per batch (e.g. 8GiB); caps the batch size.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Workers the wall-time estimate assumes.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_cmd(sweep_file, backend, dtype, max_memory, workers, as_json) -> None:
    """Cells, passes, paths, memory per cell and estimated device-hours of SWEEP.yaml or an example name (runs nothing)."""
    from .sweeps import format_report, parse_size, plan_report, resolve_sweep

    plan = resolve_sweep(sweep_file, dtype=dtype)
    report = plan_report(plan, backend=backend, max_memory=parse_size(max_memory), workers=workers)
    if as_json:
        click.echo(json.dumps(report, indent=1, default=str))
    else:
        click.echo(format_report(report))


@sweep_group.command("run")
@click.argument("sweep_file", metavar="SWEEP.yaml")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Zarr store of the sweep (created, or resumed).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="0: run in this process; N: a local Dask cluster of N worker processes (one per GPU with --backend cupy and dask-cuda).")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Send the passes to an existing Dask scheduler (tcp://host:8786).")
@click.option("--shard", default=None, metavar="I/N", help="Run shard I of N of an array job; auto/N reads I from the job's index variable.")
@click.option("--backend", type=_BACKEND, default="auto", show_default=True)
@click.option("--dtype", type=_DTYPE, default=None, help="Override the sweep file's dtype (part of the sweep's identity).")
@click.option("--max-memory", default=None, metavar="SIZE", help="Bytes of engine state per batch (e.g. 8GiB); caps the batch size.")
@click.option("--cpu-threads", type=click.IntRange(min=1), default=None, help="NumPy threads per worker [all CPUs; CPUs/N for --workers N].")
@click.option("--progress/--no-progress", default=None, help="Progress bar over cells [on when stderr is a terminal].")
@click.option("--overwrite", is_flag=True, help="Replace a store of ANOTHER sweep at --out (the same sweep is always resumed; nothing else is replaced).")
@click.option("--lock-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Seconds without a heartbeat after which another writer's lock no longer counts [$ALVH_SWEEP_LOCK_STALE or 60].")
@click.option("--scheduler-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Seconds to wait for --scheduler to answer [$ALVH_SCHEDULER_TIMEOUT or 5].")
@click.option("-q", "--quiet", is_flag=True, help="No log lines on stderr.")
@click.pass_context
def run_cmd(ctx, sweep_file, out, workers, scheduler, shard, backend, dtype, max_memory, cpu_threads, progress, overwrite, lock_timeout,
            scheduler_timeout, quiet) -> None:
    """Run SWEEP.yaml (or an example name: alvh sweep examples) into the store OUT; rerunning the same command resumes."""
    from .sweeps import sweep, sweep_status

    progress = sys.stderr.isatty() if progress is None else progress
    log = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    try:
        path = sweep(sweep_file, out=out, workers=workers, scheduler=scheduler, shard=shard, backend=backend, dtype=dtype, max_memory=max_memory,
                     progress=progress, cpu_threads=cpu_threads, overwrite=overwrite, lock_timeout=lock_timeout,
                     scheduler_timeout=scheduler_timeout, log=log)
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        ctx.exit(130)
    st = sweep_status(path)
    c = st.counts
    click.echo(f"{path}: {c['done']}/{st.n_cells} cells done, {c['missing']} missing, {c['failed']} failed"
               + ("" if st.complete else " (other shards or a rerun complete it)") + "; open with gpu_alvh.open_results")


@sweep_group.command("status")
@click.argument("store", metavar="STORE")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Cells listed per state (missing / failed).")
@click.option("--check", is_flag=True, help="Exit with code 1 unless every cell is done.")
def status_cmd(store, as_json, limit, check) -> None:
    """Done / missing / failed cells of a sweep STORE (failed cells with their error), and who writes it now."""
    from .sweeps import sweep_status
    from .sweeps.lease import describe_lease

    st = sweep_status(store)
    if as_json:
        click.echo(json.dumps(st.to_dict(limit=None), indent=1, default=str))
    else:
        c = st.counts
        m = st.meta
        dims = " x ".join(f"{d['dim']}({len(d['values'])})" for d in st.dims)
        click.echo(f"store {st.out}: sweep {m.get('name')} (hash {str(m.get('hash'))[:12]}, from {m.get('source')}, created {m.get('created')})")
        click.echo(f"dims {dims}; {st.n_cells} cells in the sweep" + (f", {c['not_in_sweep']} grid points not part of it" if c["not_in_sweep"] else ""))
        click.echo(f"done {c['done']}  missing {c['missing']}  failed {c['failed']}" + ("  -- complete" if st.complete else ""))
        for w in st.writers:
            click.echo(f"being written now by {describe_lease(w)}")
        for which in ("failed", "missing"):
            idx = st.cells(which)
            if not idx:
                continue
            click.echo(f"{which}:")
            for i in idx[:limit]:
                line = f"  c{i:06d} {st.describe(i)}"
                if which == "failed" and i in st.failures:
                    f = st.failures[i]
                    line += f"  {f.get('error')}: {f.get('message')}"
                click.echo(line)
            if len(idx) > limit:
                click.echo(f"  ... and {len(idx) - limit} more (--limit, --json)")
    if check and not st.complete:
        raise SystemExit(1)

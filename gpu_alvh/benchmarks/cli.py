"""``alvh bench`` (registered on ``alvh`` as ``main.add_command(bench_command, "bench")``)."""

from __future__ import annotations

import click

__all__ = ["bench_command"]


@click.command("bench")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["auto", "numpy", "cupy"], case_sensitive=False),
              help="Backend to measure; repeat for several [numpy, plus cupy when a CUDA device works].")
@click.option("--quick", is_flag=True, help="Small sizes: a smoke run (about a minute of measurement on 2 CPU cores, kernels cached).")
@click.option("--only", "groups", multiple=True, type=click.Choice(["paths", "pricing", "book", "sweep"]),
              help="Run only this group; repeat for several [all].")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the JSON records [$ALVH_BENCH_RESULTS, else bench/results of a source checkout, "
                   "else ~/.local/share/gpu_alvh/bench_results].")
@click.option("--label", default="", help="Stored in every record, e.g. 'machine shared with other jobs'.")
@click.option("--no-save", is_flag=True, help="Print the table only; write no records.")
@click.option("--no-fresh-process", is_flag=True,
              help="Leave out the default `alvh run` in two new processes (cold / warm kernel cache); --quick leaves it out too.")
@click.option("--import", "imports", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Store the records of FILE (e.g. gpu_check-records.json from bench/gpu_check.sh) one file per record in the "
                   "records folder, and measure nothing.")
def bench_command(backends, quick, groups, out, label, no_save, no_fresh_process, imports) -> None:
    """Run the benchmark suite and print the SPEC section 11 table (GPU/CPU ratio when both ran).

    Groups: path generation (the fused Heston QE generator, and QuantLib's MCEuropeanHestonEngine in the
    same run when QuantLib is installed), leg pricing, the full book (ALVH + ladder_unhedged + single_45 through
    gpu_alvh.run) and sweep scaling; one JSON record per row is written as it is measured.
    """
    from ..backend import cupy_status, get_backend
    from .records import read_records, results_dir, save_record
    from .suite import run_suite, table_text

    folder = None if no_save else results_dir(out)
    if folder is not None and folder.exists() and not folder.is_dir():
        raise click.BadParameter(f"{folder} exists and is not a folder", param_hint="--out")
    if imports:
        if folder is None:
            raise click.BadParameter("--import stores records: leave out --no-save", param_hint="--import")
        try:
            recs = read_records(imports)
        except ValueError as exc:  # not records, or not JSON
            raise click.BadParameter(str(exc), param_hint="--import") from None
        for rec in recs:
            save_record(rec, folder)
        click.echo(f"{len(recs)} records from {', '.join(imports)} written to {folder}")
        return
    names = [b.lower() for b in backends] or (["numpy", "cupy"] if cupy_status()[0] else ["numpy"])
    resolved = []
    for name in names:
        b = get_backend(name)  # cupy without a device: BackendUnavailableError -> exit 2
        if b.name not in [r.name for r in resolved]:
            resolved.append(b)
    if "cupy" not in [b.name for b in resolved]:
        click.echo(f"note: GPU not measured ({cupy_status()[1]})", err=True)
    suite = run_suite(resolved, quick=quick, groups=groups, out=folder, label=label, fresh_process=not no_fresh_process)
    click.echo(table_text(suite))
    if folder is not None and suite.saved:
        click.echo(f"{len(suite.saved)} records written to {folder}")
    if suite.failed:
        raise SystemExit(1)

"""``alvh report STORE --out DIR``: write the HTML report of a run or sweep store."""

from __future__ import annotations

import click

__all__ = ["report_command", "check_report_dir", "write_report"]


@click.command("report")
@click.argument("store", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, dir_okay=True),
              help="Report directory: new, empty, or holding a previous report (only its files are replaced).")
def report_command(store: str, out: str) -> None:
    """Write index.html (self-contained) and every figure as PNG and SVG for STORE (a run or sweep store)."""
    write_report(store, out)


def write_report(store, out: str) -> None:
    """Write the report of ``store`` (a path or a Dataset) and say where it is (the last line printed)."""
    from .build import report

    rep = report(store, out)
    for note in rep.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"report: {rep.index}  ({len(rep.figures) // 2} figures, each as PNG and SVG beside it; open {rep.index.absolute().as_uri()})")


def check_report_dir(path: str | None) -> None:
    """Refuse a bad ``--report DIR`` before a run spends any time (:class:`SpecError`, exit code 2)."""
    if path:
        from .output import check_out

        check_out(path)

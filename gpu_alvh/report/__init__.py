"""The report a risk engineer reads first: ``alvh report STORE --out DIR`` / :func:`report`.

One self-contained ``index.html`` (figures embedded as PNG, no network needed) plus every figure
as PNG and SVG beside it, from a run store or a sweep store.  Modules: :mod:`.build` (sections,
the report itself), :mod:`.fan` (NAV / SPX / VIX fan charts, historical episodes), :mod:`.dist`
(distributions), :mod:`.layers` (attribution, greeks, hedge cost vs payoff), :mod:`.claims`
(forest plot), :mod:`.sweep` (status, heatmaps, tornado), :mod:`.html` (page, tables,
provenance), :mod:`.output` (where a report may be written), :mod:`.cli` (the command).

matplotlib is imported only when a report is written, so ``import gpu_alvh`` stays light.
"""

from __future__ import annotations

__all__ = ["report"]


def report(ds_or_path, out_dir):
    """Write the HTML report of a run or sweep store (a path or an open Dataset) into ``out_dir``.

    Returns a :class:`gpu_alvh.report.build.Report` (``index``, ``figures``, ``notes``); see
    :func:`gpu_alvh.report.build.report` for the rules on ``out_dir``.
    """
    from .build import report as _report

    return _report(ds_or_path, out_dir)

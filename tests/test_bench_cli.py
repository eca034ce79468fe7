"""``alvh bench``: every group prints its rows and writes its records; ``--import`` stores a bundle.

The suite runs at tiny sizes (``sizes_for`` replaced): the test checks the table and the records, never
a time.  Throughputs are checked against the sizes and the median seconds the same record states.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from gpu_alvh.benchmarks import common, suite
from gpu_alvh.benchmarks.book import TARGET_BASELINES
from gpu_alvh.cli import main

TINY = common.Sizes(scenario=common.HESTON_BOOK, steps=8, repeats=1, paths=512, paths_store=64, ql_paths=64, legs=256, book_paths=16,
                    book_days=5, first_process=False, sweep_cells=2, sweep_paths=8, sweep_days=5, sweep_workers=(0,))
ROW_WHATS = ["fused Heston QE, terminal state", "fused Heston QE, every step stored", "pricing tables (SPX implied vol + VIX), bench_heston_book",
             "array layer SpxTable.price_greeks", "fused SPX legs, price + greeks (4 per slice)", "fused SPX legs: the table lookups alone (vol)",
             "fused SPX legs: Black-Scholes alone (price + greeks)", "array layer VixTable.option",
             "fused VIX legs (4 per slice)", "full book: alvh + ladder_unhedged + single_45 (bench_heston_book)", "sweep, in this process (numpy)"]
RECORD_KEYS = {"benchmark", "backend", "device", "dtype", "sizes", "median_seconds", "throughput", "throughput_unit", "git_revision",
               "timestamp", "host", "load_average", "label", "extra"}


def _quantlib() -> bool:
    try:
        import QuantLib  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """``alvh bench --quick --backend numpy --out DIR`` at the TINY sizes: (result, DIR)."""
    out = tmp_path_factory.mktemp("bench")
    mp = pytest.MonkeyPatch()
    mp.setattr(suite, "sizes_for", lambda is_gpu, quick: TINY)
    try:
        res = CliRunner().invoke(main, ["bench", "--quick", "--backend", "numpy", "--out", str(out), "--label", "test"])
    finally:
        mp.undo()
    return res, out


def test_quick_prints_every_row(quick_run):
    res, _ = quick_run
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("benchmark"))
    for col in ("backend", "dtype", "size", "median s", "throughput", "unit", "vs reference / target"):
        assert col in lines[header]
    assert "GPU/CPU" not in lines[header]  # one backend: no ratio column
    body = lines[header + 2:]
    for what in ROW_WHATS:
        assert sum(line.startswith(what) for line in body) == (2 if what.startswith("fused Heston QE, terminal") else 1), what
    for line in body:
        if line.startswith("fused Heston QE, terminal"):
            assert ("float64" in line) != ("float32" in line)
    if _quantlib():
        ql = [line for line in body if line.startswith("QuantLib MCEuropeanHestonEngine")]
        assert len(ql) == 1 and "quantlib" in ql[0]
        assert "x QuantLib (target 5x)" in next(line for line in body if line.startswith("fused Heston QE, terminal") and "float64" in line)
    else:
        assert "note: QuantLib is not installed" in res.output
    assert "note: the default `alvh run` in fresh processes" in res.output


def test_quick_writes_one_record_per_row(quick_run):
    res, out = quick_run
    files = sorted(out.glob("*.json"))
    recs = [json.loads(p.read_text()) for p in files]
    rows = [r for r in recs if r["benchmark"] != "bench_suite"]
    (summary,) = [r for r in recs if r["benchmark"] == "bench_suite"]
    assert f"{len(files)} records written to {out}" in res.output
    assert len(rows) == len(ROW_WHATS) + 1 + _quantlib() == len(summary["extra"]["rows"])
    for r in recs:
        assert RECORD_KEYS <= set(r) and r["label"] == "test" and r["extra"].get("mode", "quick") == "quick"
    assert {r["extra"]["what"] for r in rows} >= set(ROW_WHATS)
    for r in rows:
        s = r["sizes"]
        if r["throughput_unit"] == "path-steps/s":  # the rate is the sizes over the stated median
            assert r["throughput"] == pytest.approx(s["paths"] * s["steps"] / r["median_seconds"], rel=1e-9)
        elif r["throughput_unit"] == "path-days/s":
            assert r["benchmark"] == "run_alvh" and s["strategies"] == 1 + len(TARGET_BASELINES) and r["sizes"]["days"] == TINY.book_days
            assert r["throughput"] == pytest.approx(s["paths"] * s["days"] / r["median_seconds"], rel=1e-9)
        elif r["throughput_unit"] == "legs/s":
            assert r["throughput"] == pytest.approx(s["legs"] / r["median_seconds"], rel=1e-9)
    sweep = next(r for r in rows if r["benchmark"] == "sweep_cells")
    assert sweep["sizes"]["cells"] == TINY.sweep_cells and sweep["sizes"]["mode"] == "in-process"
    # the fused SPX legs' two parts: the lookups' vols priced by Black-Scholes alone give the full legs' checksum
    parts = [r for r in rows if r["benchmark"] in ("pricing_fused_spx_lookups", "pricing_fused_spx_black_scholes")]
    assert len(parts) == 2 and all(r["extra"]["parts_equal"] is True and r["extra"]["share_of_leg"] > 0 for r in parts)


def test_import_stores_a_bundle_and_refuses_junk(quick_run, tmp_path):
    _, out = quick_run
    recs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    bundle = tmp_path / "gpu_check-records.json"
    bundle.write_text(json.dumps(recs))
    dest = tmp_path / "records"
    res = CliRunner().invoke(main, ["bench", "--import", str(bundle), "--out", str(dest)])
    assert res.exit_code == 0, res.output
    got = sorted((json.loads(p.read_text()) for p in dest.glob("*.json")), key=json.dumps)
    assert got == sorted(recs, key=json.dumps)
    res = CliRunner().invoke(main, ["bench", "--import", str(bundle), "--out", str(dest)])  # again: new files, nothing replaced
    assert res.exit_code == 0 and len(list(dest.glob("*.json"))) == 2 * len(recs)
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps([{**recs[0], "benchmark": "../../escape"}]))
    assert CliRunner().invoke(main, ["bench", "--import", str(hostile), "--out", str(dest)]).exit_code == 0
    assert not list(tmp_path.glob("*escape*")) and len(list(dest.glob("*escape*"))) == 1
    for text, where in (("{not json", "not a JSON file"), (json.dumps([{"benchmark": "x"}]), "entry 0 is not a benchmark record"),
                        (json.dumps({**recs[0], "timestamp": "yesterday"}), "not an ISO date")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        res = CliRunner().invoke(main, ["bench", "--import", str(bad), "--out", str(dest)])
        assert res.exit_code == 2 and where in res.output, res.output


def test_gpu_cpu_ratio_is_the_rate_over_the_cpu_rate():
    rows = [common.Row("k", "full book", "x", "numpy", "float64", "n", 2.0, 100.0, "path-days/s"),
            common.Row("k", "full book", "x", "cupy", "float64", "n", 0.5, 4000.0, "path-days/s"),
            common.Row("t", "leg pricing", "tables", "cupy", "float64", "n", 0.5, None, "s"),
            common.Row("t", "leg pricing", "tables", "numpy", "float64", "n", 4.0, None, "s")]
    assert suite.gpu_cpu_ratios(rows) == {"k": 40.0, "t": 8.0}  # throughputs; 1 / seconds for a timed step
    s = common.Suite(None, log=None)
    s.rows = rows
    text = suite.table_text(s)
    head, _, *body = text.splitlines()
    col = head.index("GPU/CPU")
    # table order: leg pricing before the full book, the GPU row above the CPU row, CPU rows blank
    assert [line[col:col + 7].strip() for line in body] == ["8", "", "40", ""]
    assert [line.split()[1] for line in body] == ["cupy", "numpy", "cupy", "numpy"]


def test_quick_sizes_share_one_scenario_across_backends():
    """--quick measures one scenario on both backends, so that every GPU row finds its CPU row."""
    cpu, gpu = common.sizes_for(False, True), common.sizes_for(True, True)
    assert cpu.scenario == gpu.scenario == common.HESTON_BOOK and not cpu.first_process and cpu.sweep_workers == gpu.sweep_workers == (0,)
    assert replace(common.sizes_for(False, False)).scenario == common.sizes_for(True, False).scenario == "base"


@pytest.mark.parametrize("probe_s, expect", [(0.5, (1 << 20, 3)),   # 8 s a run: three fit 60 s
                                             (4.0, (1 << 19, 1)),   # 64 s a run: over 60, halved to 2^19 (32 s), one run
                                             (60.0, (1 << 16, 1))])  # the probe alone fills the budget: never below it
def test_a_slow_device_shrinks_the_full_book_to_its_budget(monkeypatch, probe_s, expect):
    """The GPU sizes time 2^16 paths first and project 2^20 linearly; repeats, then paths, give way to the budget."""
    from gpu_alvh.benchmarks import book

    clock = iter([100.0, 100.0 + probe_s])
    monkeypatch.setattr(book.time, "perf_counter", lambda: next(clock))
    calls = []
    sizes = common.sizes_for(True, False)
    assert (sizes.book_paths, sizes.book_repeats, sizes.book_probe_paths, sizes.book_budget_s) == (1 << 20, 3, 1 << 16, 60.0)
    s = common.Suite(None, log=None)
    backend = type("B", (), {"name": "cupy", "synchronize": lambda self: None})()
    n, repeats, probe = book._fit_to_budget(s, sizes, lambda *a, **k: calls.append(k["n_paths"]), None, backend, None, None)
    assert (n, repeats) == expect and calls == [1 << 16]
    assert probe == {"paths": 1 << 16, "seconds": probe_s, "projected_seconds": probe_s * 16}
    assert bool(s.notes) == (n != 1 << 20)  # a shrunk row says so under the table
    assert common.sizes_for(False, False).book_probe_paths == 0  # the CPU sizes run as given


def test_the_revision_gpu_check_sets_wins_over_a_stale_build_record(tmp_path):
    """A copy of the tree without .git (the lent GPU machine's) may hold an ignored _build_info.py of another
    build: it named 46578a1 in the H200 records measured on c02f260.  There ``$ALVH_GIT_REVISION`` (which
    bench/gpu_check.sh exports) comes first, for the benchmark records and the datasets' provenance alike."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import gpu_alvh

    copy = tmp_path / "tree"
    shutil.copytree(Path(gpu_alvh.__file__).parent, copy / "gpu_alvh", ignore=shutil.ignore_patterns("__pycache__", "_build_info.py"))
    (copy / "gpu_alvh" / "_build_info.py").write_text('GIT_REVISION = "46578a1-stale"\n')
    code = ("from gpu_alvh.results import git_revision; from gpu_alvh.benchmarks.records import git_revision as rec; "
            "print(git_revision(), rec())")
    env = {k: v for k, v in os.environ.items() if k != "ALVH_GIT_REVISION"}
    run = lambda **extra: subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "PYTHONPATH": str(copy), **extra},  # noqa: E731
                                         capture_output=True, text=True, timeout=120)
    r = run(ALVH_GIT_REVISION="c02f260")
    assert r.stdout.split() == ["c02f260", "c02f260"], r.stderr[-2000:]
    r = run()
    assert r.stdout.split() == ["46578a1-stale", "46578a1-stale"], r.stderr[-2000:]


def test_a_table_read_from_the_cache_is_not_reported_as_a_build(quick_run):
    """The tables row says whether it timed a build or a read (the H200 run of 2026-12-04 reported a 0.02 s
    read as the build), and the book record keeps a read's seconds out of ``table_build_seconds``."""
    from gpu_alvh.backend import get_backend
    from gpu_alvh.benchmarks.pricing import tables_for

    _, out = quick_run
    recs = {json.loads(p.read_text())["benchmark"]: json.loads(p.read_text()) for p in out.glob("*.json")}
    tab, book = recs["pricing_tables"]["extra"], recs["run_alvh"]["extra"]
    assert isinstance(tab["built"], bool) and tab["reference"] == ("built" if tab["built"] else "read from the cache: no build timed")
    assert book["tables_built"] == tab["built"] and (book["table_build_seconds"] is None) == (not tab["built"])
    *_, built = tables_for(common.Suite(None, log=None), get_backend("numpy"), common.HESTON_BOOK)
    assert built is False  # this process holds them now: a read


def test_gpu_check_fits_one_ten_minute_call_and_compiles_first():
    """bench/gpu_check.sh is the one prepared command of a lent GPU machine: its stages' limits must fit one
    call (600 s, with time for the transfers), and the compile stage must come before every stage that
    runs a kernel (on the H200 of 2026-12-04 each stage that met the book's CUDA compile cold ran out)."""
    import re
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.sh"
    r = subprocess.run(["bash", str(script), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    stages = re.findall(r"^\[dry-run\] (\w+) \(timeout (\d+)s\)", r.stdout, re.M)
    assert [name for name, _ in stages] == ["install", "compile", "bench", "pytest"], r.stdout
    assert sum(int(s) for _, s in stages) <= 580
    assert "--backend cupy --backend numpy" in r.stdout  # GPU rows first, then the CPU rows of the GPU/CPU column

"""Sweep files: validation (field-named errors, exit code 2), grid expansion, dims, passes, identity, plan, shards.

Nothing here runs the engine; see ``test_sweep_run.py`` for the drivers.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gpu_alvh.cli import main
from gpu_alvh.errors import SpecError
from gpu_alvh.spec import apply_overrides, load_scenario
from gpu_alvh.spec.baselines import BASELINES
from gpu_alvh.sweeps import STATUS, parse_shard, parse_size, plan_report, resolve_sweep
from gpu_alvh.sweeps.plan import dim_names
from gpu_alvh.sweeps.store import _lock_is_stale, ensure_template
from gpu_alvh.sweeps.worker import DEFAULT_GPU_BATCH_BYTES, pass_batch_size

DATA = Path(__file__).resolve().parent / "data" / "sweeps"
SMALL = DATA / "small.yaml"
BAD = sorted((DATA / "bad").glob("*.yaml"))


def _expect(path: Path) -> tuple[str, str]:
    text = path.read_text()
    field = re.search(r"^# expect-field: (.+)$", text, re.M).group(1).strip()
    part = re.search(r"^# expect-text: (.+)$", text, re.M).group(1).strip()
    return field, part


# ------------------------------------------------------------------------------------ bad files
def test_bad_files_exist():
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_sweep_file_api(path):
    field, part = _expect(path)
    with pytest.raises(SpecError) as info:
        resolve_sweep(path)
    fields = [i.field for i in info.value.issues]
    assert field in fields, (fields, str(info.value))
    assert part in str(info.value)
    assert str(path) in str(info.value) or "calm.yaml" in str(info.value)


@pytest.mark.parametrize("path", [p for p in BAD if p.stem in ("unknown_strategy_key", "empty_grid", "quoted_number", "mixed_kinds",
                                                                 "paths_string", "value_out_of_range", "cells_different_keys")],
                         ids=lambda p: p.stem)
def test_bad_sweep_file_cli_exit_2(path, tmp_path):
    field, part = _expect(path)
    runner = CliRunner()
    for args in (["sweep", "plan", str(path)], ["sweep", "run", str(path), "--out", str(tmp_path / "s.zarr"), "--no-progress"]):
        res = runner.invoke(main, args)
        assert res.exit_code == 2, res.output
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert lines[0].startswith("error: ") and str(path) in lines[0]
        assert field in res.output and part in res.output
        assert "Traceback" not in res.output
    assert not (tmp_path / "s.zarr").exists()  # nothing written for a bad file


def test_unknown_key_lists_valid_keys():
    with pytest.raises(SpecError) as info:
        resolve_sweep(DATA / "bad" / "unknown_strategy_key.yaml")
    msg = str(info.value)
    assert "short_delta" in msg and "wing_width" in msg  # the valid keys at that level


def test_cross_field_problem_names_the_cell():
    # wing_delta must stay below short_delta: only some combinations are bad
    spec = {"scenarios": [str(DATA / "calm.yaml")], "paths": 4,
            "grid": {"strategy.short_delta": [0.10, 0.20], "strategy.wing_delta": [0.15], "strategy.wing_width": [10.0]}}
    with pytest.raises(SpecError) as info:
        resolve_sweep(spec)
    msg = str(info.value)
    assert info.value.source == "<dict>"
    assert "wing" in msg


# ------------------------------------------------------------------------------------ expansion
def test_grid_expansion_and_dims():
    plan = resolve_sweep(SMALL)
    assert plan.dims == ("scenario", "short_delta", "vix_level")
    assert plan.shape == (2, 2, 3)
    assert len(plan.cells) == 12 and plan.included().all()
    assert [s.name for s in plan.scenarios] == ["calm", "shock"]
    assert plan.params[0].level == "strategy" and plan.params[1].level == "scenario"
    assert plan.params[1].target == "shocks[0].vix_level" and plan.params[1].key == "scenario.shocks[0].vix_level"
    assert plan.params[1].coord().dtype == np.int64 and plan.params[0].coord().dtype == np.float64
    # passes: same scenario + same vix_level share the paths; the short_delta variants ride together
    assert len(plan.passes) == 6
    for sp in plan.passes:
        coords = [plan.coords_of(i) for i in sp.cells]
        assert len({(c["scenario"], c["vix_level"]) for c in coords}) == 1
        assert sorted(c["short_delta"] for c in coords) == [0.10, 0.16]
    # each cell's spec is the scenario with the overrides applied (and re-validated)
    c = plan.cells[int(np.ravel_multi_index((1, 1, 2), plan.shape))]
    assert c.scenario == "shock" and c.spec.shocks[0].vix_level == 60 and c.spec.strategy_spec().short_delta == 0.16
    assert c.spec.name == "shock"  # the name keys the random numbers: unchanged
    ref = apply_overrides(load_scenario(DATA / "shock.yaml"), {"shocks[0].vix_level": 60, "strategy.short_delta": 0.16})
    assert c.spec == ref
    assert plan.n_days == 12 and plan.layers == (7, 21, 45)
    assert plan.strategy_labels == ("alvh", *BASELINES)


def test_variants_per_pass_cuts_groups():
    plan = resolve_sweep({"scenarios": [str(DATA / "calm.yaml")], "paths": 4, "variants_per_pass": 2,
                          "grid": {"strategy.short_delta": [0.1, 0.12, 0.14, 0.16, 0.18]}})
    assert [len(p.cells) for p in plan.passes] == [2, 2, 1]
    assert [c for p in plan.passes for c in p.cells] == list(range(5))


def test_identity_hash():
    a = resolve_sweep(SMALL)
    b = resolve_sweep(SMALL)
    assert a.hash == b.hash and len(a.hash) == 64
    data = {"scenarios": [str(DATA / "calm.yaml"), str(DATA / "shock.yaml")], "paths": 24, "seed": 11, "batch_size": 8,
            "grid": {"strategy.short_delta": [0.10, 0.16], "scenario.shocks[0].vix_level": [30, 45, 60]}}
    assert resolve_sweep(data).hash == a.hash  # same content as the file (name/description/source do not count)
    assert resolve_sweep({**data, "seed": 12}).hash != a.hash
    assert resolve_sweep({**data, "paths": 25}).hash != a.hash
    assert resolve_sweep(data, dtype="float32").hash != a.hash
    assert resolve_sweep({**data, "grid": {"strategy.short_delta": [0.10, 0.16], "scenario.shocks[0].vix_level": [30, 45, 61]}}).hash != a.hash


def test_explicit_cells():
    plan = resolve_sweep({
        "scenarios": [str(DATA / "calm.yaml"), str(DATA / "shock.yaml")], "paths": 4,
        "cells": [{"strategy.short_delta": 0.16, "strategy.hedge.budget_pct": 2},
                  {"scenario": "calm", "strategy.short_delta": 0.10, "strategy.hedge.budget_pct": 5.5}],
    })
    assert plan.dims == ("scenario", "short_delta", "budget_pct")
    assert plan.params[0].values == (0.10, 0.16) and plan.params[1].values == (2, 5.5)
    assert plan.params[1].coord().dtype == np.float64
    inc = plan.included()
    assert inc.sum() == 3 and len(plan.cells) == 3
    assert inc[0, 1, 0] and inc[1, 1, 0] and inc[0, 0, 1]
    assert not inc[1, 0, 1] and not inc[0, 0, 0]


def test_duplicate_cells_rejected():
    with pytest.raises(SpecError) as info:
        resolve_sweep({"scenarios": [str(DATA / "calm.yaml")], "paths": 4,
                       "cells": [{"strategy.short_delta": 0.16}, {"strategy.short_delta": 0.16}]})
    assert info.value.field == "cells[1]" and "duplicate cell" in str(info.value)


def test_dim_names_clash_and_reserved():
    assert dim_names(["strategy.short_delta", "strategy.hedge.budget_pct"]) == ["short_delta", "budget_pct"]
    assert dim_names(["scenario.shocks[0].vix_level", "scenario.shocks[1].vix_level"]) == ["shocks0_vix_level", "shocks1_vix_level"]
    assert dim_names(["strategy.hedge.layers[0].when.any[0].value", "strategy.hedge.layers[1].when.all[0].value"]) == ["any0_value", "all0_value"]
    assert dim_names(["strategy.hedge.layers[0].weight", "strategy.hedge.layers[1].weight", "strategy.hedge.budget_pct"]) == [
        "layers0_weight", "layers1_weight", "budget_pct"]
    # reserved names (dims and result variables) get a longer name
    assert dim_names(["strategy.costs.spx.commission", "x.claim", "a.final_pnl"]) == ["commission", "x_claim", "a_final_pnl"]
    for names in (dim_names(["strategy.hedge.layers[0].when.any[0].value", "strategy.hedge.layers[1].when.any[0].value"]),):
        assert all(n.isidentifier() for n in names) and len(set(names)) == 2


def test_grid_over_dates_and_strings():
    plan = resolve_sweep({"scenarios": [str(DATA / "calm.yaml")], "paths": 4,
                          "grid": {"scenario.start": ["2026-07-31", "2026-08-03"], "strategy.hedge.layers[1].instrument": ["call", "call_spread"]}})
    assert plan.dims == ("scenario", "start", "instrument")
    assert plan.params[0].coord().dtype.kind == "U"
    assert plan.cells[3].spec.start.isoformat() == "2026-08-03"


# ------------------------------------------------------------------------------------ plan
def _fake_record(folder: Path, backend: str, throughput: float, stamp: str, dtype: str = "float64") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"run_alvh-{backend}-{dtype}-{stamp}.json"
    p.write_text(json.dumps({"benchmark": "run_alvh", "backend": backend, "device": "test device", "dtype": dtype,
                             "sizes": {"paths": 100, "days": 252, "strategies": 3}, "median_seconds": 1.0, "throughput": throughput,
                             "throughput_unit": "path-days/s", "timestamp": stamp, "extra": {"table_build_seconds": 2.0}}))
    return p


def test_plan_estimate_from_newest_record(tmp_path, monkeypatch):
    folder = tmp_path / "bench"
    _fake_record(folder, "numpy", 10.0, "2026-01-01T00:00:00+00:00")
    _fake_record(folder, "numpy", 1000.0, "2026-02-01T00:00:00+00:00")  # newest: used
    _fake_record(folder, "cupy", 1e9, "2026-03-01T00:00:00+00:00")  # other backend: ignored
    monkeypatch.setenv("ALVH_BENCH_RESULTS", str(folder))
    r = plan_report(resolve_sweep(SMALL), backend="numpy")
    assert r["cells"] == 12 and r["passes"] == 6 and r["paths"] == 24
    # each pass: 2 variants -> 10 strategy rows (alvh and its 4 baselines per short_delta); 24 paths
    # calm 10 days (3 passes), shock 12 days (3 passes): 24 * 10 / (3 * 1000) * (3 * 10 + 3 * 12) s
    assert r["seconds_compute"] == pytest.approx(24 * 10 / 3000 * 66)
    assert r["benchmark"]["throughput"] == 1000.0
    d = r["pass_detail"][0]
    # 64 float64 per-path outputs per row (the fused engine's state stays in registers / local memory)
    assert d["rows"] == 10 and d["bytes_per_path"] == 64 * 8 * 10
    assert d["batch"] == 8 and d["batches"] == 3
    assert d["hist_bytes"] == (10 + 2) * 11 * 2000 * 8
    res = CliRunner().invoke(main, ["sweep", "plan", str(SMALL), "--backend", "numpy"])
    assert res.exit_code == 0, res.output
    assert "cells: 12" in res.output and "passes: 6" in res.output and "device-hours" in res.output
    assert "1e+03 path-days/s" in res.output


def test_plan_without_record_estimates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("ALVH_BENCH_RESULTS", str(tmp_path / "empty"))
    r = plan_report(resolve_sweep(SMALL), backend="numpy")
    assert r["benchmark"] is None and "seconds_compute" not in r and "no run_alvh-numpy" in r["benchmark_missing"]
    res = CliRunner().invoke(main, ["sweep", "plan", str(SMALL), "--backend", "numpy", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.output)["benchmark"] is None


def test_gpu_batch_size_is_deterministic():
    # no free-memory query anywhere: the same inputs give the same batch
    assert pass_batch_size(10**6, 10_000, is_gpu=True) == min(10**6, DEFAULT_GPU_BATCH_BYTES // 10_000)
    b = pass_batch_size(10**6, 10_000, is_gpu=True, max_memory=1 << 30)
    assert b == (1 << 30) // 10_000 - ((1 << 30) // 10_000) % 1024 and b * 10_000 <= 1 << 30
    assert pass_batch_size(10**6, 10_000, is_gpu=False) == 4096
    assert pass_batch_size(10**6, 10_000, is_gpu=False, max_memory=10_000 * 100) == 100
    assert pass_batch_size(50, 10_000, is_gpu=True, batch_size=64) == 50
    assert pass_batch_size(10**6, 10_000, is_gpu=True, batch_size=64) == 64


# ------------------------------------------------------------------------------------ options
def test_parse_shard():
    assert parse_shard("1/3") == (1, 3)
    assert parse_shard((2, 4)) == (2, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "3"}) == (3, 4)
    assert parse_shard("auto/4", {"AWS_BATCH_JOB_ARRAY_INDEX": "2"}) == (2, 4)
    assert parse_shard("auto/4", {"BATCH_TASK_INDEX": "0"}) == (0, 4)
    for bad, env in (("3/3", {}), ("x/3", {}), ("1", {}), ("auto/2", {}), ("auto/2", {"BATCH_TASK_INDEX": "5"}),
                     ("auto/2", {"JOB_COMPLETION_INDEX": "a"})):
        with pytest.raises(SpecError) as info:
            parse_shard(bad, env)
        assert info.value.source == "--shard"


def test_parse_size():
    assert parse_size("8GiB") == 8 << 30 and parse_size("512MiB") == 512 << 20 and parse_size("2GB") == 2 * 10**9
    assert parse_size(1234) == 1234 and parse_size(None) is None
    with pytest.raises(SpecError):
        parse_size("lots")


def test_cli_option_errors_exit_2(tmp_path):
    runner = CliRunner()
    out = str(tmp_path / "s.zarr")
    res = runner.invoke(main, ["sweep", "run", str(SMALL), "--out", out, "--workers", "2", "--shard", "0/2"])
    assert res.exit_code == 2 and "at most one of" in res.output
    res = runner.invoke(main, ["sweep", "run", str(SMALL), "--out", out, "--shard", "4/2"])
    assert res.exit_code == 2 and "--shard" in res.output
    res = runner.invoke(main, ["sweep", "run", str(SMALL), "--out", out, "--max-memory", "much"])
    assert res.exit_code == 2 and "--max-memory" in res.output
    res = runner.invoke(main, ["sweep", "status", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "sweep store" in res.output
    assert not Path(out).exists()


# ------------------------------------------------------------------------------------ template lock
def test_lock_staleness(tmp_path):
    lock = tmp_path / "s.zarr.lock"
    lock.mkdir()
    me = socket.gethostname()
    (lock / "owner.json").write_text(json.dumps({"pid": os.getpid(), "host": me}))
    assert not _lock_is_stale(lock, 900)  # alive
    dead = _dead_pid()
    (lock / "owner.json").write_text(json.dumps({"pid": dead, "host": me}))
    assert _lock_is_stale(lock, 900)  # same host, process gone
    (lock / "owner.json").write_text(json.dumps({"pid": dead, "host": me + "-elsewhere"}))
    assert not _lock_is_stale(lock, 900)  # other host, recent: wait
    old = time.time() - 1000
    os.utime(lock, (old, old))
    assert _lock_is_stale(lock, 900)  # other host, too old: abandoned


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_lock_and_leftover_tmp_are_recovered(tmp_path):
    """A template writer killed mid-write leaves a lock and a tmp dir; the next process takes over."""
    plan = resolve_sweep(SMALL)
    out = tmp_path / "s.zarr"
    lock = tmp_path / "s.zarr.lock"
    lock.mkdir()
    (lock / "owner.json").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    leftover = tmp_path / "s.zarr.tmp-1-deadbeef"
    (leftover / "junk").mkdir(parents=True)
    calls = []

    def make():
        calls.append(1)
        import xarray as xr

        status = np.zeros(plan.shape, dtype=np.int8)
        return xr.Dataset({"cell_status": (plan.dims, status)}), {"cell_status": {"_FillValue": None}}

    assert ensure_template(plan, out, make, poll=0.01) == "created"
    assert calls == [1] and not lock.exists() and not leftover.exists()
    assert (out / ".sweep" / "sweep.json").exists()
    assert ensure_template(plan, out, make, poll=0.01) == "found" and calls == [1]
    other = resolve_sweep({**_small_dict(), "seed": 99})
    with pytest.raises(SpecError) as info:
        ensure_template(other, out, make, poll=0.01)
    assert "different sweep" in str(info.value) and "seed" in str(info.value)


def test_existing_non_sweep_directory_is_refused(tmp_path):
    plan = resolve_sweep(SMALL)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(SpecError) as info:
        ensure_template(plan, out, lambda: None, poll=0.01)
    assert "not a gpu_alvh sweep store" in str(info.value)
    assert (out / "precious.txt").read_text() == "keep me"


def _small_dict() -> dict:
    return {"scenarios": [str(DATA / "calm.yaml"), str(DATA / "shock.yaml")], "paths": 24, "seed": 11, "batch_size": 8,
            "grid": {"strategy.short_delta": [0.10, 0.16], "scenario.shocks[0].vix_level": [30, 45, 60]}}


def test_status_codes():
    assert STATUS == {"not_in_sweep": -1, "missing": 0, "done": 1, "failed": 2}


def test_the_estimate_counts_every_cells_pricing_models(tmp_path):
    """A swept window factor makes a pricing model per value (each needs its tables), and so does
    ``surprise``'s absence; a swept strategy field does not; the table time is the cold build's when the
    benchmark read its tables from disk."""
    import yaml

    from gpu_alvh.sweeps import plan_report, resolve_sweep
    from gpu_alvh.sweeps.estimate import COLD_TABLE_SECONDS

    sc = yaml.safe_load((Path(__file__).parent / "data" / "sweeps" / "calm.yaml").read_text())
    sc["shocks"].append({"vol_of_vol_multiplier": 1.5, "start": 2, "end": 4})
    (tmp_path / "windowed.yaml").write_text(yaml.safe_dump(sc))
    base = {"name": "regimes", "scenarios": [str(tmp_path / "windowed.yaml")], "paths": 8, "seed": 1}
    cases = (({"strategy.short_delta": [0.10, 0.16]}, 2),  # the base market and the window's regime
             ({"scenario.shocks[1].vol_of_vol_multiplier": [1.5, 2.0, 3.0]}, 4),  # one regime per factor
             ({"scenario.shocks[1].surprise": [True]}, 1))  # a surprise window is not priced
    per_model = set()
    for grid, models in cases:
        r = plan_report(resolve_sweep({**base, "grid": grid}), backend="numpy")
        if r.get("benchmark") is None:
            pytest.skip("no benchmark record to estimate from")
        assert r["pricing_models"] == models, grid
        per_model.add(round(r["seconds_tables_per_worker"] / models, 9))
    (t,) = per_model  # the table time is per pricing model: the record's build, or a cold one if it read from disk
    recorded = float(json.loads(Path(r["benchmark"]["file"]).read_text()).get("extra", {}).get("table_build_seconds") or 0.0)
    assert t == pytest.approx(recorded if recorded >= 1.0 else COLD_TABLE_SECONDS, rel=1e-9)

"""Sweep drivers end to end: in-process, LocalCluster, array-job shards, a real dask scheduler,
SIGKILL + resume, failed cells, explicit cells; every store compared value for value.

The sweep (``tests/data/sweeps/small.yaml``): two small Heston scenarios (10 and 12 days) x
short_delta (2) x shocks[0].vix_level (3) = 12 cells in 6 passes, 24 paths, batches of 8.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import gpu_alvh
from gpu_alvh.cli import main
from gpu_alvh.spec.baselines import BASELINES
from gpu_alvh.errors import NonFiniteError, SpecError
from gpu_alvh.spec import load_scenario
from gpu_alvh.sweeps import STATUS, SweepFailedError, sweep, sweep_status
from gpu_alvh.sweeps.store import read_events, read_status

DATA = Path(__file__).resolve().parent / "data" / "sweeps"
SMALL = DATA / "small.yaml"
N_CELLS = 12
CHILD_ENV = {**os.environ, "ALVH_CPU_THREADS": "1", "PYTHONWARNINGS": "ignore"}


# ------------------------------------------------------------------------------------ helpers
def _load(path) -> xr.Dataset:
    return gpu_alvh.open_results(path).load()


def differing(a: xr.Dataset, b: xr.Dataset) -> list[str]:
    """Names of variables/coordinates whose values (or dims) differ; NaN == NaN, NaT == NaT."""
    bad = sorted(set(a.variables) ^ set(b.variables))
    for k in set(a.variables) & set(b.variables):
        x, y = a[k], b[k]
        if x.dims != y.dims or x.shape != y.shape or x.dtype != y.dtype:
            bad.append(k)
            continue
        xv, yv = x.values, y.values
        if xv.dtype.kind in "fcmM":
            same = np.array_equal(xv, yv, equal_nan=True)
        else:
            same = np.array_equal(xv, yv)
        if not same:
            bad.append(k)
    return sorted(bad)


def done_events(store) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for ev in read_events(store, "done"):
        out.setdefault(int(ev["cell"]), []).append(ev)
    return out


def cli(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gpu_alvh.cli", *args], env=env or CHILD_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """(a) the uninterrupted in-process run every other store is compared with."""
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    logs: list[str] = []
    assert sweep(SMALL, out=out, backend="numpy", log=logs.append) == out.absolute()
    assert any("wrote the template" in m for m in logs)
    return out


# ------------------------------------------------------------------------------------ (a) in-process
def test_in_process_store(reference):
    st = sweep_status(reference)
    assert st.counts["done"] == N_CELLS and st.complete
    ds = gpu_alvh.open_results(reference)
    assert ds["final_pnl"].chunks is not None  # lazy, dask-backed
    assert ds["final_pnl"].dims == ("scenario", "short_delta", "vix_level", "strategy", "path")
    assert ds["final_pnl"].data.chunksize == (1, 1, 1, 1 + len(BASELINES), 24)  # a cell is whole chunks
    assert ds["short_delta"].attrs["key"] == "strategy.short_delta"
    assert ds["vix_level"].attrs["key"] == "scenario.shocks[0].vix_level"
    assert ds.attrs["sweep_hash"] == st.meta["hash"] and "sweep_json" in ds.attrs and ds.attrs["seed"] == 11
    cell = ds.sel(short_delta=0.16, scenario="calm")
    assert cell["final_pnl"].dims == ("vix_level", "strategy", "path")
    assert cell["mean_delta"].sizes["day"] == 13
    # every variable keeps units and long_name
    for k, v in ds.data_vars.items():
        assert "units" in v.attrs and "long_name" in v.attrs, k
    # shorter scenario padded with NaN / NaT past its horizon
    calm = ds.sel(scenario="calm")
    assert np.isnat(calm["date"].values[11:]).all() and not np.isnat(calm["date"].values[:11]).any()
    assert np.isnan(calm["nav_band"].values[..., 11:, :]).all() and np.isfinite(calm["nav_band"].values[..., :11, :]).all()
    # every grid point ran on the same paths as the others of its scenario: the shock level changes the paths
    # only from its day on, the strategy parameter not at all
    shock = ds.sel(scenario="shock")
    spx = shock["spx_final"].values  # (short_delta, vix_level, path)
    assert np.array_equal(spx[0], spx[1])
    assert np.array_equal(shock["spx_band"].values[:, :, :2], shock["spx_band"].values[:1, :1, :2].repeat(2, 0).repeat(3, 1))


def test_cell_equals_run(reference):
    """A sweep cell holds exactly what gpu_alvh.run gives for that scenario with the overrides applied."""
    from gpu_alvh.runner import run

    spec = load_scenario(DATA / "calm.yaml", overrides={"shocks[0].vix_level": 45, "strategy.short_delta": 0.16})
    direct = run(spec, n_paths=24, seed=11, backend="numpy", batch_size=8).sel(scenario="calm", drop=True)
    cell = _load(reference).sel(scenario="calm", short_delta=0.16, vix_level=45, drop=True).isel(day=slice(0, 11))
    cell = cell.drop_vars(["cell_status"])
    direct = direct.reindex(layer=cell["layer"].values)
    for k in direct.data_vars:
        x, y = direct[k].values, cell[k].values
        if x.dtype.kind == "f":
            assert np.array_equal(x, y, equal_nan=True), k
        else:
            assert np.array_equal(x.astype(str), y.astype(str)), k
    assert np.array_equal(direct["date"].values, cell["date"].values)


def test_rerun_skips_done_cells(reference):
    before = done_events(reference)
    res = CliRunner().invoke(main, ["sweep", "run", str(SMALL), "--out", str(reference), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "0 of 6 passes to run" in res.output
    assert done_events(reference) == before


# ------------------------------------------------------------------------------------ (b) LocalCluster
def test_local_cluster_two_workers(reference, tmp_path):
    out = tmp_path / "lc.zarr"
    logs: list[str] = []
    sweep(SMALL, out=out, workers=2, backend="numpy", log=logs.append)
    assert any("tcp://127.0.0.1:" in m for m in logs), logs  # the scheduler binds to loopback
    assert differing(_load(reference), _load(out)) == []
    ev = done_events(out)
    assert sorted(ev) == list(range(N_CELLS)) and all(len(v) == 1 for v in ev.values())
    assert os.getpid() not in {e["pid"] for v in ev.values() for e in v}  # computed in the worker processes


# ------------------------------------------------------------------------------------ (c) shards
def test_three_shards_started_together(reference, tmp_path):
    out = tmp_path / "shards.zarr"
    envs = [CHILD_ENV, {**CHILD_ENV, "JOB_COMPLETION_INDEX": "1"}, {**CHILD_ENV, "AWS_BATCH_JOB_ARRAY_INDEX": "2"}]
    shards = ["0/3", "auto/3", "auto/3"]
    procs = [cli("sweep", "run", str(SMALL), "--out", str(out), "--shard", s, "--no-progress", env=e) for s, e in zip(shards, envs)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (so, se) in zip(procs, results):
        assert p.returncode == 0, se
    errs = [se for _, se in results]
    assert sum("wrote the template" in e for e in errs) == 1, errs  # written once
    assert sum("found the template" in e for e in errs) == 2
    assert len(read_events(out, "template")) == 1
    for k, e in enumerate(errs):
        assert f"shard {k}/3: 2 of 2 passes" in e, e
    assert differing(_load(reference), _load(out)) == []
    ev = done_events(out)
    assert sorted(ev) == list(range(N_CELLS)) and all(len(v) == 1 for v in ev.values())
    assert len({e["pid"] for v in ev.values() for e in v}) == 3
    # no metadata written after the template: every .zarray/.zattrs is older than every data chunk
    meta_t = [p.stat().st_mtime_ns for p in out.rglob(".z*") if ".sweep" not in p.parts]
    chunk_t = [p.stat().st_mtime_ns for v in ("final_pnl", "mean_delta", "verdict") for p in (out / v).iterdir() if not p.name.startswith(".")]
    assert len(chunk_t) == 3 * N_CELLS and max(meta_t) < min(chunk_t)


def test_shard_refuses_store_of_another_sweep(reference, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text(SMALL.read_text().replace("seed: 11", "seed: 12").replace("scenarios: [calm.yaml, shock.yaml]",
                                                                               f"scenarios: [{DATA / 'calm.yaml'}, {DATA / 'shock.yaml'}]"))
    status_before = read_status(reference).copy()
    n_events = len(read_events(reference))
    p = cli("sweep", "run", str(other), "--out", str(reference), "--shard", "1/3", "--no-progress")
    so, se = p.communicate(timeout=120)
    assert p.returncode == 2, se
    assert "different sweep" in se and "seed" in se and "refusing to write" in se and str(other) in se
    assert np.array_equal(read_status(reference), status_before) and len(read_events(reference)) == n_events


# ------------------------------------------------------------------------------------ dask scheduler
def test_existing_dask_scheduler_two_workers(reference, tmp_path):
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    sfile = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(sfile)],
                              env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.time() + 60
        while not sfile.exists() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(sfile.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(sfile), "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                                           "--no-dashboard"], env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=60)
        out = tmp_path / "sched.zarr"
        res = CliRunner().invoke(main, ["sweep", "run", str(SMALL), "--out", str(out), "--scheduler", address, "--backend", "numpy", "--no-progress"])
        assert res.exit_code == 0, res.output
        assert f"{N_CELLS}/{N_CELLS} cells done" in res.output
        assert differing(_load(reference), _load(out)) == []
        pids = {e["pid"] for v in done_events(out).values() for e in v}
        worker_pids = {p.pid for p in procs[1:]}
        assert pids <= worker_pids and pids
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ------------------------------------------------------------------------------------ SIGKILL + resume
KILLER = r"""
import os, signal, sys
point, n, sweep_file, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
count = [0]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if point == "torn_chunk":
    import zarr.storage._local as L
    orig_put = L._put
    def _put(path, value, exclusive=False):
        p = str(path)
        if ".tmp-" not in p and "/cell_status/" not in p and path.name[:1].isdigit():
            count[0] += 1
            if count[0] == n:  # half a chunk at its final name (worse than Zarr's write-and-rename can produce)
                path.write_bytes(value.to_bytes()[: max(1, len(value.to_bytes()) // 2)])
                path.with_name(path.name + ".0123abcd.partial").write_bytes(b"x")  # and a temporary file left behind
                die()
        return orig_put(path, value, exclusive)
    L._put = _put
elif point in ("before_status", "after_status"):
    from gpu_alvh.sweeps import store as S
    orig = S.write_status
    def write_status(layout, pos, code):
        count[0] += 1
        if point == "before_status" and count[0] == n:
            die()
        orig(layout, pos, code)
        if point == "after_status" and count[0] == n:
            die()
    S.write_status = write_status
elif point == "template":
    from gpu_alvh.sweeps import store as S
    def _write_template(plan, tmp, make):
        tmp.mkdir()
        (tmp / ".zgroup").write_text("{")  # a template half written into STORE.tmp-*, the lock held
        die()
    S._write_template = _write_template
from gpu_alvh.cli import main
main(["sweep", "run", sweep_file, "--out", out, "--no-progress"])
"""


def _killer(point: str, n: int, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILLER, point, str(n), str(SMALL), str(out)], env=CHILD_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(out: Path) -> set[int]:
    return {int(i) for i in np.flatnonzero(read_status(out).ravel() == STATUS["done"])} if out.exists() else set()


def test_sigkill_at_several_points_then_resume(reference, tmp_path):
    """kill -9 while the template is written, mid chunk write, between a cell's data and its status,
    after a status write (in a resumed run) and from outside at an arbitrary moment; rerun; compare."""
    ref = _load(reference)
    stores = {p: tmp_path / f"{p}.zarr" for p in ("template", "torn_chunk", "before_status", "external")}
    torn = 5 * (len(ref) - 1) // 2  # half-way through cell 3: each cell writes one chunk per variable (all but cell_status)
    procs = {"template": _killer("template", 1, stores["template"]), "torn_chunk": _killer("torn_chunk", torn, stores["torn_chunk"]),
             "before_status": _killer("before_status", 3, stores["before_status"]),
             "external": cli("sweep", "run", str(SMALL), "--out", str(stores["external"]), "--no-progress")}
    ext = procs["external"]
    deadline = time.time() + 240
    while time.time() < deadline:  # SIGKILL from outside once the store shows two done cells
        if (stores["external"] / "cell_status").exists() and len(_done(stores["external"])) >= 2:
            ext.send_signal(signal.SIGKILL)
            break
        assert ext.poll() is None, "the sweep finished before it could be killed"
        time.sleep(0.02)
    for point, p in procs.items():
        p.communicate(timeout=240)
        assert p.returncode == -signal.SIGKILL, (point, p.returncode)
    assert not stores["template"].exists() and (tmp_path / "template.zarr.lock").exists()
    assert list(tmp_path.glob("template.zarr.tmp-*"))
    assert len(_done(stores["torn_chunk"])) == 2 and list(stores["torn_chunk"].rglob("*.partial"))  # killed in cell 3
    assert len(_done(stores["before_status"])) == 2
    assert 2 <= len(_done(stores["external"])) < N_CELLS

    history: dict[str, list[tuple[int, set[int]]]] = {p: [] for p in stores}  # (pid of a rerun, cells done before it)
    # the external store: a rerun in a new process, itself killed right after its second status write
    history["external"].append((0, _done(stores["external"])))
    again = _killer("after_status", 2, stores["external"])
    history["external"][-1] = (again.pid, history["external"][-1][1])
    # meanwhile: rerun the same command (in this process: pricing tables cached) in the other stores
    for point in ("template", "torn_chunk", "before_status"):
        history[point].append((os.getpid(), _done(stores[point])))
        res = CliRunner().invoke(main, ["sweep", "run", str(SMALL), "--out", str(stores[point]), "--no-progress"])
        assert res.exit_code == 0, (point, res.output)
    again.communicate(timeout=240)
    assert again.returncode == -signal.SIGKILL
    assert len(_done(stores["external"])) == len(history["external"][0][1]) + 2
    history["external"].append((os.getpid(), _done(stores["external"])))
    res = CliRunner().invoke(main, ["sweep", "run", str(SMALL), "--out", str(stores["external"]), "--no-progress"])
    assert res.exit_code == 0, res.output

    for point, out in stores.items():
        assert differing(ref, _load(out)) == [], point
        st = sweep_status(out)
        assert st.complete and st.counts["done"] == N_CELLS
        ev = done_events(out)
        assert all(len(v) == 1 for v in ev.values()), (point, {k: len(v) for k, v in ev.items()})  # no cell done twice
        for pid, before in history[point]:
            assert {c for c, v in ev.items() if v[0]["pid"] == pid}.isdisjoint(before), point  # done cells were skipped
        assert len(read_events(out, "template")) == 1
    assert not (tmp_path / "template.zarr.lock").exists() and not list(tmp_path.glob("template.zarr.tmp-*"))


# ------------------------------------------------------------------------------------ failed cells
def test_failed_cells_are_reported_and_retried(reference, tmp_path, monkeypatch):
    import importlib

    run_mod = importlib.import_module("gpu_alvh.runner")
    real = run_mod.run_cells

    def flaky(scenario, strategies, **kw):
        spec = load_scenario(scenario)
        if spec.name == "shock" and spec.shocks[0].vix_level == 60 and any(s.short_delta == 0.16 for s in strategies):
            raise NonFiniteError("shock", "variance", 7, 3)
        return real(scenario, strategies, **kw)

    monkeypatch.setattr(run_mod, "run_cells", flaky)
    out = tmp_path / "f.zarr"
    res = CliRunner().invoke(main, ["sweep", "run", str(SMALL), "--out", str(out), "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "1 of 12 cells failed" in res.output and "NonFiniteError" not in res.output.split("error:")[0]
    st = sweep_status(out)
    bad = int(np.ravel_multi_index((1, 1, 2), st.status.shape))
    assert st.cells("failed") == [bad] and st.counts["done"] == 11
    assert st.failures[bad]["error"] == "NonFiniteError" and "path 7" in st.failures[bad]["message"]
    res = CliRunner().invoke(main, ["sweep", "status", str(out), "--check"])
    assert res.exit_code == 1
    assert "failed 1" in res.output and "scenario=shock short_delta=0.16 vix_level=60  NonFiniteError: non-finite variance" in res.output
    js = json.loads(CliRunner().invoke(main, ["sweep", "status", str(out), "--json"]).output)
    assert js["failed"] == 1 and js["failed_cells"][0]["cell"] == bad and js["failed_cells"][0]["short_delta"] == 0.16
    # the other variant of the failing pass was computed on its own: still the reference values
    part = _load(out).sel(scenario="shock", vix_level=60, short_delta=0.10)
    assert differing(_load(reference).sel(scenario="shock", vix_level=60, short_delta=0.10), part) == []
    with pytest.raises(SweepFailedError):
        sweep(SMALL, out=out)
    # fixed: the rerun retries the failed cell only
    monkeypatch.setattr(run_mod, "run_cells", real)
    assert sweep(SMALL, out=out) == out.absolute()
    st = sweep_status(out)
    assert st.complete and st.failures == {}
    assert differing(_load(reference), _load(out)) == []
    assert sorted(done_events(out)) == list(range(N_CELLS))


# ------------------------------------------------------------------------------------ explicit cells
def test_explicit_cells_store(reference, tmp_path):
    spec = {"name": "picked", "scenarios": [str(DATA / "calm.yaml"), str(DATA / "shock.yaml")], "paths": 24, "seed": 11, "batch_size": 8,
            "cells": [{"strategy.short_delta": 0.16, "scenario.shocks[0].vix_level": 45},
                      {"scenario": "calm", "strategy.short_delta": 0.10, "scenario.shocks[0].vix_level": 60}]}
    out = tmp_path / "cells.zarr"
    sweep(spec, out=out)
    st = sweep_status(out)
    assert st.counts == {"not_in_sweep": 5, "missing": 0, "done": 3, "failed": 0} and st.complete
    ds, ref = _load(out), _load(reference)
    for sc, sd, vl in (("calm", 0.16, 45), ("shock", 0.16, 45), ("calm", 0.10, 60)):
        assert differing(ref.sel(scenario=sc, short_delta=sd, vix_level=vl).drop_vars("date"),
                         ds.sel(scenario=sc, short_delta=sd, vix_level=vl).drop_vars("date")) == []
    assert np.isnan(ds["final_pnl"].sel(scenario="shock", short_delta=0.10, vix_level=60).values).all()
    assert int(ds["cell_status"].sel(scenario="shock", short_delta=0.10, vix_level=60)) == STATUS["not_in_sweep"]
    res = CliRunner().invoke(main, ["sweep", "status", str(out)])
    assert res.exit_code == 0 and "5 grid points not part of it" in res.output and "complete" in res.output


def test_status_of_partial_store_lists_missing(tmp_path):
    out = tmp_path / "part.zarr"
    sweep(SMALL, out=out, shard="0/3")
    st = sweep_status(out)
    assert st.counts["done"] == 4 and st.counts["missing"] == 8 and not st.complete
    res = CliRunner().invoke(main, ["sweep", "status", str(out), "--limit", "3"])
    assert res.exit_code == 0
    assert "missing 8" in res.output and "... and 5 more" in res.output
    ds = gpu_alvh.open_results(out)
    assert int((ds["cell_status"] == STATUS["done"]).sum()) == 4
    with pytest.raises(SpecError):
        sweep(SMALL, out=out, shard="3/3")


def test_worker_refuses_a_store_of_another_sweep(reference):
    """A task whose sweep hash is not the store's writes nothing (checked on the worker too, not only by the driver)."""
    from gpu_alvh.sweeps import resolve_sweep
    from gpu_alvh.sweeps.driver import pass_task
    from gpu_alvh.sweeps.worker import run_pass

    plan = resolve_sweep(SMALL)
    task = pass_task(plan, plan.passes[0], reference, backend="numpy", max_memory=None, cpu_threads=None)
    status = read_status(reference).copy()
    task["hash"] = "0" * 64
    summary = run_pass(task)
    assert "refusing to write" in summary["refused"] and summary["done"] == []
    assert np.array_equal(read_status(reference), status)
    task["hash"] = plan.hash  # the right sweep: all its cells are done, nothing to do
    summary = run_pass(task)
    assert "refused" not in summary and sorted(summary["skipped"]) == sorted(plan.passes[0].cells) and summary["done"] == []


def test_string_columns_leave_room_for_longer_values_than_the_probe():
    """The template's string widths come from a 2-path probe, but a claim's note counts its days (its length
    follows the data): the store leaves twice the probe's width and at least 256 characters."""
    import xarray as xr

    from gpu_alvh.sweeps.store import schema_from_dataset

    ds = xr.Dataset({"claim_note": (("claim",), np.array(["[7 path-days]", ""])), "x": (("claim",), np.zeros(2))},
                    coords={"claim": ["C6", "C7"]})
    width = np.dtype(schema_from_dataset(ds)["vars"]["claim_note"]["dtype"]).itemsize // 4
    assert width >= 256 and len("[70546 path-days] " * 10) < width

"""Issue 8, data loss: `--out` never deletes what gpu_alvh did not write, stores are written atomically,
and `open_results` refuses foreign or incomplete stores (SPEC section 9).

Every refusal is checked to happen *before* any computation: the engine entry points are replaced by
functions that fail the test if called.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

import gpu_alvh
from gpu_alvh.cli import main
from gpu_alvh.errors import SpecError
from gpu_alvh.stores import COMPLETE_ATTR, KIND_ATTR, check_out, store_kind, write_store

CALM = Path(__file__).resolve().parent / "data" / "sweeps" / "calm.yaml"  # Heston, 10 days: a cheap scenario
CHILD_ENV = {**os.environ, "ALVH_CPU_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def no_compute(monkeypatch):
    """Make any engine run fail the test: refusals must come before computing."""
    def boom(*a, **k):
        raise AssertionError("computed before refusing")

    monkeypatch.setattr(importlib.import_module("gpu_alvh.runner"), "run", boom)
    monkeypatch.setattr(importlib.import_module("gpu_alvh.paths"), "simulate", boom)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def paths_store(path: Path, n: int = 4, seed: int = 1, *extra) -> xr.Dataset:
    r = invoke("simulate", CALM, "--paths", n, "--seed", seed, "--backend", "numpy", "--no-progress", "--out", path, *extra)
    assert r.exit_code == 0, r.output
    return gpu_alvh.open_results(path).load()


def refused(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, (w, r.output)


# ------------------------------------------------------------------------------------ the reported disasters
def test_run_out_dot_deletes_nothing(tmp_path, monkeypatch, no_compute):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "code.py").write_text("x = 1")
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    for cmd in (["run", CALM], ["simulate", CALM]):
        r = invoke(*cmd, "--paths", 2, "--out", ".")
        refused(r, "'.'", "working directory")
    r = invoke("run", CALM, "--paths", 2, "--out", ".", "--overwrite")  # not even with --overwrite
    refused(r, "working directory")
    r = invoke("run", CALM, "--paths", 2, "--out", "..")
    refused(r, "working directory")
    assert snapshot(tmp_path) == before


def test_out_on_a_folder_with_a_file_keeps_it(tmp_path, no_compute):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "old.csv").write_text("1,2,3")
    for cmd in (["run", CALM], ["simulate", CALM]):
        for extra in ([], ["--overwrite"]):
            r = invoke(*cmd, "--paths", 2, "--out", folder, *extra)
            refused(r, str(folder), "not a gpu_alvh store", "old.csv")
    assert (folder / "old.csv").read_text() == "1,2,3" and len(list(folder.iterdir())) == 1


def test_out_on_a_sweep_store_is_refused(tmp_path, no_compute):
    store = tmp_path / "sweep.zarr"  # a sweep store, as recognised by its metadata
    (store / ".sweep").mkdir(parents=True)
    (store / ".sweep" / "sweep.json").write_text(json.dumps({"hash": "x", "name": "s"}))
    (store / ".zattrs").write_text(json.dumps({KIND_ATTR: "sweep"}))
    before = snapshot(store)
    for cmd in (["run", CALM], ["simulate", CALM]):
        r = invoke(*cmd, "--paths", 2, "--out", store, "--overwrite")
        refused(r, "sweep store", "alvh sweep run")
    assert snapshot(store) == before


def test_out_on_the_home_folder_is_refused(tmp_path, monkeypatch, no_compute):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine")
    monkeypatch.setenv("HOME", str(home))
    r = invoke("run", CALM, "--out", "~", "--overwrite")
    refused(r, "not a gpu_alvh store", ".bashrc")
    assert (home / ".bashrc").read_text() == "# mine"


@pytest.mark.parametrize("case", ["file", "parent_missing", "read_only_fs", "symlink", "empty"])
def test_bad_out_paths_exit_2_before_computing(tmp_path, case, no_compute):
    target, words = {
        "file": (tmp_path / "a.txt", ["is a file"]),
        "parent_missing": (tmp_path / "no" / "such" / "r.zarr", ["does not exist"]),
        "read_only_fs": (Path("/sys/alvh.zarr"), ["not writable"]),
        "symlink": (tmp_path / "link.zarr", ["symbolic link"]),
        "empty": ("", ["empty path"]),
    }[case]
    if case == "file":
        target.write_text("keep")
    if case == "symlink":
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    if case == "read_only_fs" and not Path("/sys").is_dir():  # pragma: no cover - not Linux
        pytest.skip("no /sys here")
    for cmd in (["run", CALM], ["simulate", CALM]):
        refused(invoke(*cmd, "--paths", 2, "--out", target), "--out", *words)
    if case == "file":
        assert target.read_text() == "keep"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders (the /sys case covers root)")
def test_read_only_folder(tmp_path, no_compute):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        refused(invoke("run", CALM, "--out", ro / "r.zarr"), "not writable")
    finally:
        ro.chmod(0o755)


def test_duplicate_scenario_names_exit_2_before_computing(tmp_path, no_compute):
    copy = tmp_path / "calm.yaml"
    copy.write_text(CALM.read_text())
    refused(invoke("run", CALM, copy, "--paths", 2), "SCENARIO", "same name", "calm")
    refused(invoke("run", "base", "base", "--paths", 2), "same name 'base'")


# ------------------------------------------------------------------------------------ replacing a store of the same kind
def test_existing_store_of_the_same_kind_needs_overwrite(tmp_path, monkeypatch):
    out = tmp_path / "paths.zarr"
    first = paths_store(out, 4, 1)
    assert first.attrs[KIND_ATTR] == "paths" and first.attrs[COMPLETE_ATTR]
    with monkeypatch.context() as m:  # without --overwrite: refused before computing
        m.setattr(importlib.import_module("gpu_alvh.paths"), "simulate", lambda *a, **k: pytest.fail("computed"))
        refused(invoke("simulate", CALM, "--paths", 5, "--out", out), "--overwrite", "paths store", str(out.name))
    assert gpu_alvh.open_results(out).sizes["path"] == 4
    second = paths_store(out, 5, 2, "--overwrite")
    assert second.sizes["path"] == 5 and second.attrs["seed"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name != "paths.zarr"]  # no temporary siblings left


def test_run_store_overwrite_and_kind_checks(tmp_path):
    out = tmp_path / "r.zarr"
    r = invoke("run", CALM, "--paths", 3, "--backend", "numpy", "--no-progress", "--out", out)
    assert r.exit_code == 0, r.output
    assert store_kind(out) == "run"
    refused(invoke("simulate", CALM, "--paths", 2, "--out", out, "--overwrite"), "run store", "alvh simulate")
    refused(invoke("run", CALM, "--paths", 2, "--out", out), "--overwrite")
    r = invoke("run", CALM, "--paths", 2, "--backend", "numpy", "--no-progress", "--out", out, "--overwrite")
    assert r.exit_code == 0, r.output
    ds = gpu_alvh.open_results(out)
    assert ds.sizes["path"] == 2 and ds.attrs[KIND_ATTR] == "run"


def test_an_empty_folder_may_be_used(tmp_path):
    out = tmp_path / "new"
    out.mkdir()
    assert paths_store(out).sizes["path"] == 4


# ------------------------------------------------------------------------------------ interrupted writes
def test_a_failing_writer_leaves_the_old_store(tmp_path):
    out = tmp_path / "p.zarr"
    old = paths_store(out, 4, 1)
    new = gpu_alvh.simulate(CALM, n_paths=6, seed=9, backend="numpy").assign_attrs({KIND_ATTR: "paths"})

    def dies_half_way(tmp):
        new[["spx"]].to_zarr(tmp, mode="w-", consolidated=False, zarr_format=2)  # one of three variables
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_store(dies_half_way, out, "paths", overwrite=True)
    back = gpu_alvh.open_results(out).load()
    assert back.sizes["path"] == 4 and np.array_equal(back["vix"].values, old["vix"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zarr"]


KILLER = r"""
import os, signal, sys
import zarr.storage._local as L
n, scen, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
count = [0]
orig = L._put
def _put(path, value, exclusive=False):
    count[0] += 1
    if count[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the store's write
    return orig(path, value, exclusive)
L._put = _put
from gpu_alvh.cli import main
main(["simulate", scen, "--paths", "6", "--seed", "9", "--backend", "numpy", "--no-progress", "--out", out, "--overwrite"])
"""


def test_kill_9_during_the_write_leaves_the_old_store(tmp_path):
    out = tmp_path / "p.zarr"
    old = paths_store(out, 4, 1)
    p = subprocess.run([sys.executable, "-c", KILLER, "12", str(CALM), str(out)], env=CHILD_ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr
    back = gpu_alvh.open_results(out).load()  # the old store, complete and unchanged
    assert back.sizes["path"] == 4 and np.array_equal(back["spx"].values, old["spx"].values)
    partial = [q for q in tmp_path.iterdir() if q.name != "p.zarr"]
    assert len(partial) == 1 and partial[0].name.startswith(".p.zarr.alvh-tmp-")
    with pytest.raises(SpecError, match="incomplete paths store"):
        gpu_alvh.open_results(partial[0])  # what the killed writer left is refused
    assert paths_store(out, 5, 3, "--overwrite").sizes["path"] == 5  # the next write cleans up after the killed one
    assert sorted(q.name for q in tmp_path.iterdir()) == ["p.zarr"]


def test_a_store_changed_meanwhile_is_not_replaced(tmp_path):
    out = tmp_path / "p.zarr"
    paths_store(out)
    ds = gpu_alvh.simulate(CALM, n_paths=2, seed=1, backend="numpy").assign_attrs({KIND_ATTR: "paths"})

    def write_while_someone_replaces_the_store(tmp):
        ds.to_zarr(tmp, mode="w-", consolidated=False, zarr_format=2)
        os.rename(out, tmp_path / "moved.zarr")  # meanwhile the user puts their own folder there
        out.mkdir()
        (out / "mine.txt").write_text("mine")

    with pytest.raises(SpecError, match="changed while"):
        write_store(write_while_someone_replaces_the_store, out, "paths", overwrite=True)
    assert (out / "mine.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------ open_results
def test_open_results_refuses_foreign_and_incomplete_stores(tmp_path):
    with pytest.raises(SpecError, match="no such store"):
        gpu_alvh.open_results(tmp_path / "nothing.zarr")
    plain = tmp_path / "plain.zarr"
    xr.Dataset({"x": ("i", np.arange(3))}).to_zarr(plain, zarr_format=2, consolidated=False)
    with pytest.raises(SpecError, match="not a gpu_alvh store"):
        gpu_alvh.open_results(plain)
    half = tmp_path / "half.zarr"
    xr.Dataset({"x": ("i", np.arange(3))}, attrs={KIND_ATTR: "run"}).to_zarr(half, zarr_format=2, consolidated=False)
    with pytest.raises(SpecError, match="incomplete run store"):
        gpu_alvh.open_results(half)
    with pytest.raises(SpecError, match="not a gpu_alvh store"):
        gpu_alvh.open_results(CALM)  # a file


def test_check_out_api(tmp_path, monkeypatch):
    assert check_out(tmp_path / "new.zarr", "run") == tmp_path / "new.zarr"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="working directory"):
        check_out(".", "paths", overwrite=True)

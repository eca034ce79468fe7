"""Issue 8 for sweeps: `--out` checks and `--overwrite`, live-writer leases, Ctrl-C with a Dask cluster,
an unreachable scheduler.

The tiny sweep here (one 10-day Heston scenario x 2 short deltas, 4 paths) keeps the stores cheap; the
interrupt test uses ``tests/data/sweeps/small.yaml`` so that a pass is still running when Ctrl-C comes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gpu_alvh.cli import main
from gpu_alvh.errors import SpecError
from gpu_alvh.stores import KIND_ATTR, root_attrs
from gpu_alvh.sweeps import sweep, sweep_status
from gpu_alvh.sweeps.lease import WriterLease, live_leases
from gpu_alvh.sweeps.store import read_events, read_meta

DATA = Path(__file__).resolve().parent / "data" / "sweeps"
SMALL = DATA / "small.yaml"
CHILD_ENV = {**os.environ, "ALVH_CPU_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def tiny(tmp_path: Path, seed: int = 3) -> Path:
    f = tmp_path / f"tiny{seed}.yaml"
    f.write_text(f"scenarios: [{DATA / 'calm.yaml'}]\ngrid:\n  strategy.short_delta: [0.10, 0.16]\npaths: 4\nbatch_size: 4\nseed: {seed}\n")
    return f


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, Path]:
    """(sweep file, a complete store of it)."""
    folder = tmp_path_factory.mktemp("sw")
    f = tiny(folder)
    out = folder / "tiny.zarr"
    sweep(f, out=out, backend="numpy")
    return f, out


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(r, *words):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, (w, r.output)


def n_done_events(out: Path) -> int:
    return len(read_events(out, "done"))


# ------------------------------------------------------------------------------------ --out
def test_sweep_store_carries_its_kind(store):
    _, out = store
    assert root_attrs(out)[KIND_ATTR] == "sweep"


def test_run_and_simulate_refuse_a_sweep_store(store):
    _, out = store
    before = n_done_events(out), read_meta(out)["hash"]
    refused(invoke("run", DATA / "calm.yaml", "--paths", 2, "--out", out, "--overwrite"), "sweep store")
    refused(invoke("simulate", DATA / "calm.yaml", "--paths", 2, "--out", out, "--overwrite"), "sweep store")
    assert (n_done_events(out), read_meta(out)["hash"]) == before and sweep_status(out).complete


@pytest.mark.parametrize("case", ["folder_with_file", "run_store", "parent_missing", "working_dir"])
def test_sweep_out_checked_before_any_work(tmp_path, case, monkeypatch):
    f = tiny(tmp_path)
    target = {"folder_with_file": tmp_path / "data", "run_store": tmp_path / "r.zarr", "parent_missing": tmp_path / "x" / "s.zarr",
              "working_dir": Path(".")}[case]
    if case == "folder_with_file":
        target.mkdir()
        (target / "keep.txt").write_text("keep")
    if case == "run_store":
        target.mkdir()
        (target / ".zattrs").write_text(json.dumps({KIND_ATTR: "run"}))
    monkeypatch.chdir(tmp_path)
    import gpu_alvh.sweeps.worker as W

    monkeypatch.setattr(W, "probe_schema", lambda *a, **k: pytest.fail("computed before refusing"))
    r = invoke("sweep", "run", f, "--out", target, "--overwrite")
    refused(r, "--out", {"folder_with_file": "keep.txt", "run_store": "run store", "parent_missing": "does not exist",
                         "working_dir": "working directory"}[case])
    if case == "folder_with_file":
        assert (target / "keep.txt").read_text() == "keep"


def test_same_sweep_resumes_without_overwrite(store):
    f, out = store
    before = n_done_events(out)
    r = invoke("sweep", "run", f, "--out", out, "--no-progress")
    assert r.exit_code == 0, r.output
    assert "2/2 cells done" in r.output and n_done_events(out) == before  # nothing recomputed


def test_store_of_another_sweep_needs_overwrite(tmp_path):
    a, b = tiny(tmp_path, 3), tiny(tmp_path, 4)
    out = tmp_path / "s.zarr"
    sweep(a, out=out, backend="numpy")
    hash_a = read_meta(out)["hash"]
    r = invoke("sweep", "run", b, "--out", out, "--no-progress")
    refused(r, "different sweep", "--overwrite")
    assert read_meta(out)["hash"] == hash_a
    r = invoke("sweep", "run", b, "--out", out, "--no-progress", "--overwrite")
    assert r.exit_code == 0, r.output
    st = sweep_status(out)
    assert st.meta["hash"] != hash_a and st.complete and st.meta["identity"]["seed"] == 4
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".s.zarr", "s.zarr."))) == []  # no leftovers


# ------------------------------------------------------------------------------------ leases
def test_lease_conflicts_and_cooperating_shards(tmp_path):
    out = tmp_path / "s.zarr"
    (out / ".sweep").mkdir(parents=True)
    with WriterLease(out, mode="in-process"):
        for mode, shard in (("in-process", None), ("shard 0/2", (0, 2)), ("LocalCluster(2)", None)):
            with pytest.raises(SpecError, match=f"being written by another `alvh sweep run`: in-process \\(pid {os.getpid()}"):
                WriterLease(out, mode=mode, shard=shard).__enter__()
    assert live_leases(out) == []  # released, and the refused ones removed theirs
    with WriterLease(out, mode="shard 0/2", shard=(0, 2)), WriterLease(out, mode="shard 1/2", shard=(1, 2)):
        assert len(live_leases(out)) == 2  # shards of one array job cooperate
        for shard in ((0, 2), (1, 3)):  # the same shard twice, or another layout: refused
            with pytest.raises(SpecError, match="shard 0/2"):
                WriterLease(out, mode=f"shard {shard[0]}/{shard[1]}", shard=shard).__enter__()
        with pytest.raises(SpecError, match="being written"):
            WriterLease(out, mode="in-process").__enter__()


def _fake_lease(out: Path, pid: int, host: str, age: float, **kw) -> Path:
    now = time.time()
    rec = {"id": f"fake{pid}{host}", "pid": pid, "host": host, "mode": "in-process", "shard": None, "started": now - age - 1,
           "heartbeat": now - age, **kw}
    p = out / ".sweep" / "writers" / f"{host}-{pid}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(rec))
    return p


def test_stale_and_dead_writers_do_not_block(tmp_path):
    out = tmp_path / "s.zarr"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    here = socket.gethostname()
    a = _fake_lease(out, dead.pid, here, 0.0)  # killed writer on this host: at once
    b = _fake_lease(out, 12345, "elsewhere", 120.0)  # another host, no heartbeat for 2 minutes (> 60 s)
    with WriterLease(out, mode="in-process"):
        pass
    assert not a.exists() and not b.exists()
    _fake_lease(out, 12345, "elsewhere", 10.0)  # another host, heartbeat 10 s ago: live
    with pytest.raises(SpecError, match="elsewhere"):
        WriterLease(out, mode="in-process").__enter__()
    with WriterLease(out, mode="in-process", stale_after=5.0):  # --lock-timeout 5: that heartbeat is too old
        pass


def test_heartbeat_advances(tmp_path):
    out = tmp_path / "s.zarr"
    with WriterLease(out, mode="in-process", heartbeat=0.05) as lease:
        first = json.loads(lease.path.read_text())["heartbeat"]
        deadline = time.time() + 10
        while json.loads(lease.path.read_text())["heartbeat"] == first and time.time() < deadline:
            time.sleep(0.05)
        assert json.loads(lease.path.read_text())["heartbeat"] > first


SLOW_WRITER = r"""
import sys, time
import gpu_alvh.sweeps.worker as W
orig = W.run_pass
def run_pass(task):  # a writer that takes its time: it holds its lease all along
    time.sleep(600)
    return orig(task)
W.run_pass = run_pass
from gpu_alvh.cli import main
main(["sweep", "run", sys.argv[1], "--out", sys.argv[2], "--no-progress"])
"""


def test_sweep_run_refuses_a_store_a_live_run_is_writing(tmp_path):
    """The reported case: a second `sweep run` into a store another run is writing.  The first is a real
    `alvh sweep run` process (slowed down inside its first pass), killed with -9 afterwards - after
    which it blocks nobody."""
    f = tiny(tmp_path)
    out = tmp_path / "s.zarr"
    first = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(f), str(out)], env=CHILD_ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not live_leases(out) and time.time() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        r = invoke("sweep", "run", f, "--out", out, "--no-progress")
        refused(r, "being written by another `alvh sweep run`", f"pid {first.pid}", "heartbeat")
        assert n_done_events(out) == 0  # and it computed nothing
        st = CliRunner().invoke(main, ["sweep", "status", str(out)])
        assert f"being written now by in-process (pid {first.pid}" in st.output
        refused(invoke("sweep", "run", f, "--out", out, "--shard", "0/2"), "being written")  # a shard beside a whole run
    finally:
        first.kill()
        first.communicate()
    r = invoke("sweep", "run", f, "--out", out, "--no-progress")  # the killed writer does not block the resume
    assert r.exit_code == 0, r.output
    assert sweep_status(out).complete and live_leases(out) == []


# ------------------------------------------------------------------------------------ interrupts, scheduler
def _group(pgid: int) -> list[int]:
    alive = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(d))
    return alive


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to follow the worker processes")
def _ctrl_c_as_in_a_terminal():
    """In the child: the default SIGINT handling a shell gives a command (a test runner's worker process may
    ignore SIGINT, and an ignored signal stays ignored across exec, so the command would never see it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_with_two_workers(tmp_path):
    # the test sweep with enough paths that it cannot finish before the interrupt, whatever is cached
    for f in ("calm.yaml", "shock.yaml"):
        (tmp_path / f).write_text((SMALL.parent / f).read_text())
    long = tmp_path / "long.yaml"
    long.write_text(SMALL.read_text().replace("paths: 24", "paths: 2000").replace("batch_size: 8", "batch_size: 256"))
    assert "paths: 2000" in long.read_text()
    out = tmp_path / "s.zarr"
    p = subprocess.Popen([sys.executable, "-m", "gpu_alvh.cli", "sweep", "run", str(long), "--out", str(out), "--workers", "2", "--no-progress"],
                         env=CHILD_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=_ctrl_c_as_in_a_terminal)
    lines = []
    deadline = time.time() + 240
    while time.time() < deadline:  # wait for the passes to be on the cluster
        line = p.stderr.readline()
        assert line, ("exited early", p.wait(), lines)
        lines.append(line)
        if "passes to run" in line:
            break
    time.sleep(1.0)
    workers = [pid for pid in _group(p.pid) if pid != p.pid]
    assert len(workers) >= 2  # the Dask worker processes (and their nannies' children)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
    rest = p.communicate(timeout=120)[1]
    err = "".join(lines) + rest
    assert p.returncode == 130, err
    assert rest.strip().splitlines() == ["interrupted; rerun the same command to resume"], rest
    assert "Traceback" not in err
    deadline = time.time() + 30
    while _group(p.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert _group(p.pid) == []  # the cluster is shut down
    assert live_leases(out) == []


def test_unreachable_scheduler_times_out_with_exit_2(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "s.zarr"
    r = invoke("sweep", "run", tiny(tmp_path), "--out", out, "--scheduler", f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "1")
    refused(r, "--scheduler", "no Dask scheduler answered within 1 s", "--scheduler-timeout")
    assert not out.exists()
    refused(invoke("sweep", "run", tiny(tmp_path), "--out", out, "--scheduler", "not an address"), "--scheduler", "tcp://")

"""Issue 8: a corpus of bad and hostile inputs - scenario, strategy and sweep files and the options of every
command - each run through the CLI.

Every case must end with exit code 2 (130 for the interrupt cases), print no traceback, name what was wrong
(the file and field, or the option) and do bounded work: the engine entry points are replaced by functions
that fail the case if called (every refusal comes before any computation), and the counters of
:data:`gpu_alvh.limits.WORK` (bytes read, YAML nodes composed, sweep cells built) must stay small - a
hostile input that slipped past its limit would blow through them (or hit the per-test timeout).

Files: ``tests/data/bad_inputs/{scenarios,strategies,sweeps}/*.yaml`` (headers ``# expect-field:`` and
``# expect-text:``), the older ``tests/data/bad_scenarios`` (run through ``alvh run`` here) and
``tests/data/sweeps/bad``; hostile files too large or too odd for the repository (a FIFO, a directory, a
character device, multi-megabyte files) are made in a temporary folder.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from gpu_alvh import limits
from gpu_alvh.cli import main

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad_inputs"
CALM = DATA / "sweeps" / "calm.yaml"
SMALL = DATA / "sweeps" / "small.yaml"
#: per case, at most this much work (a hostile input refused late would exceed it)
WORK_BOUNDS = {"yaml_bytes": 2 * (4 << 20) + 2, "yaml_nodes": 200_000, "sweep_cells": 50}


def _headers(path: Path) -> tuple[str, str]:
    head = path.read_bytes()[:400].decode("ascii", "replace")
    fld = re.search(r"^# expect-field:\s*(.+?)\s*$", head, re.M)
    text = re.search(r"^# expect-text:\s*(.+?)\s*$", head, re.M)
    assert fld, f"{path} lacks an expect-field header"
    return fld.group(1), text.group(1) if text else ""


@dataclass
class Case:
    id: str
    argv: list[str]
    words: list[str]
    code: int = 2
    setup: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    interrupt: str | None = None  # engine entry point that raises KeyboardInterrupt


def _file_cases() -> list[Case]:
    cases = []
    for f in sorted((BAD / "scenarios").glob("*.yaml")):
        fld, text = _headers(f)
        cases.append(Case(f"scenario/{f.stem}", ["scenarios", "validate", str(f)], [f.name, fld, text]))
    for f in sorted((DATA / "bad_scenarios").glob("*.yaml")):  # through `alvh run` (test_cli checks `validate`)
        fld, _ = _headers(f)
        cases.append(Case(f"run/{f.stem}", ["run", str(f), "--paths", "2"], [f.name, fld]))
    for f in sorted((BAD / "strategies").glob("*.yaml")):
        fld, text = _headers(f)
        cases.append(Case(f"strategy/{f.stem}", ["run", str(CALM), "--strategy", str(f), "--paths", "2"], [f.name, fld, text]))
    for f in sorted((BAD / "sweeps").glob("*.yaml")) + sorted((DATA / "sweeps" / "bad").glob("*.yaml")):
        fld, text = _headers(f)
        cases.append(Case(f"sweep/{f.stem}", ["sweep", "plan", str(f)], [f.name, fld, text]))
    return cases


def _mkfifo(t: Path) -> None:
    os.mkfifo(t / "pipe.yaml")


def _junk(t: Path) -> None:  # 5 MB of junk keys (the reported 873,775-line error)
    with open(t / "junk.yaml", "w") as fh:
        for i in range(280_000):
            fh.write(f"key_{i}: {i}\n")


def _many_unknown_keys(t: Path) -> None:  # a valid-size file whose every key is wrong: the report stays short
    with open(t / "keys.yaml", "w") as fh:
        for i in range(3000):
            fh.write(f"key_{i}: {i}\n")


def _sparse(t: Path) -> None:  # 1 GB that is never read
    with open(t / "huge.yaml", "wb") as fh:
        fh.truncate(1 << 30)


def _store_dirs(t: Path) -> None:
    (t / "data").mkdir()
    (t / "data" / "keep.txt").write_text("keep")
    (t / "file.txt").write_text("keep")
    (t / "scen").mkdir()


def _billion_paths(t: Path) -> None:
    (t / "big.yaml").write_text(f"scenarios: [{CALM}]\ngrid:\n  strategy.short_delta: [0.1, 0.16]\npaths: 1000000000\n")


S = str(CALM)
OPTION_CASES = [
    # ---- alvh run
    Case("run/paths_zero", ["run", S, "--paths", "0"], ["--paths"]),
    Case("run/paths_negative", ["run", S, "--paths", "-5"], ["--paths"]),
    Case("run/paths_word", ["run", S, "--paths", "many"], ["--paths", "many"]),
    Case("run/paths_float", ["run", S, "--paths", "1.5"], ["--paths"]),
    Case("run/paths_memory", ["run", S, "--paths", "1000000000000"], ["--paths", "ALVH_MAX_MEMORY", "host memory"]),
    Case("run/paths_memory_limit_env", ["run", S, "--paths", "100000"], ["--paths", "ALVH_MAX_MEMORY"], env={"ALVH_MAX_MEMORY": "1MiB"}),
    Case("run/memory_env_malformed", ["run", S, "--paths", "10"], ["$ALVH_MAX_MEMORY", "lots"], env={"ALVH_MAX_MEMORY": "lots"}),
    Case("run/save_paths_memory", ["run", S, "--paths", "300000000", "--save-paths"], ["--paths", "--save-paths"]),
    Case("run/seed_negative", ["run", S, "--seed", "-1"], ["--seed"]),
    Case("run/seed_too_big", ["run", S, "--seed", str(2**32)], ["--seed"]),
    Case("run/seed_word", ["run", S, "--seed", "lucky"], ["--seed"]),
    Case("run/backend_unknown", ["run", S, "--backend", "tpu"], ["--backend", "tpu"]),
    Case("run/dtype_unknown", ["run", S, "--dtype", "float16"], ["--dtype", "float16"]),
    Case("run/batch_size_zero", ["run", S, "--batch-size", "0"], ["--batch-size"]),
    Case("run/strategy_missing", ["run", S, "--strategy", "no_such.yaml"], ["--strategy", "no_such.yaml"]),
    Case("run/strategy_directory", ["run", S, "--strategy", "{tmp}/scen"], ["--strategy", "directory"], setup=_store_dirs),
    Case("run/strategy_fifo", ["run", S, "--strategy", "{tmp}/pipe.yaml"], ["pipe.yaml", "FIFO"], setup=_mkfifo),
    Case("run/strategy_char_device", ["run", S, "--strategy", "/dev/zero"], ["/dev/zero", "character device"]),
    Case("run/scenario_missing", ["run", "no_such_scenario"], ["no_such_scenario", "no such file", "base"]),
    Case("run/scenario_directory", ["run", "{tmp}/scen"], ["scen", "is a directory"], setup=_store_dirs),
    Case("run/scenario_fifo", ["run", "{tmp}/pipe.yaml"], ["pipe.yaml", "FIFO (named pipe)"], setup=_mkfifo),
    Case("run/scenario_dev_zero", ["run", "/dev/zero"], ["/dev/zero", "character device"]),
    Case("run/scenario_junk_5mb", ["run", "{tmp}/junk.yaml"], ["junk.yaml", "<file>", "ALVH_MAX_YAML_BYTES"], setup=_junk),
    Case("run/scenario_sparse_1gb", ["run", "{tmp}/huge.yaml"], ["huge.yaml", "1,073,741,824 bytes", "ALVH_MAX_YAML_BYTES"], setup=_sparse),
    Case("run/scenario_many_unknown_keys", ["scenarios", "validate", "{tmp}/keys.yaml"], ["keys.yaml", "3,002 problems", "... and 2,994 more"],
         setup=_many_unknown_keys),
    Case("run/yaml_limit_env_malformed", ["run", S], ["$ALVH_MAX_YAML_BYTES"], env={"ALVH_MAX_YAML_BYTES": "-3"}),
    Case("run/duplicate_names", ["run", "base", "base", "--paths", "2"], ["SCENARIO", "same name"]),
    Case("run/out_dot", ["run", S, "--out", "."], ["--out", "working directory"]),
    Case("run/out_folder_with_file", ["run", S, "--out", "{tmp}/data"], ["--out", "keep.txt"], setup=_store_dirs),
    Case("run/out_file", ["run", S, "--out", "{tmp}/file.txt"], ["--out", "is a file"], setup=_store_dirs),
    Case("run/out_parent_missing", ["run", S, "--out", "{tmp}/a/b/c.zarr"], ["--out", "does not exist"]),
    Case("run/out_read_only", ["run", S, "--out", "/sys/x.zarr"], ["--out", "not writable"]),
    Case("run/unknown_option", ["run", S, "--pathz", "3"], ["--pathz"]),
    Case("run/missing_option_value", ["run", S, "--paths"], ["--paths"]),
    Case("run/interrupted", ["run", S, "--paths", "2"], ["interrupted"], code=130, interrupt="run"),
    # ---- alvh simulate
    Case("simulate/no_scenario", ["simulate"], ["SCENARIO"]),
    Case("simulate/paths_zero", ["simulate", S, "--paths", "0"], ["--paths"]),
    Case("simulate/paths_memory", ["simulate", S, "--paths", "100000000000"], ["--paths", "ALVH_MAX_MEMORY"]),
    Case("simulate/backend_unknown", ["simulate", S, "--backend", "opencl"], ["--backend"]),
    Case("simulate/out_dot", ["simulate", S, "--out", "."], ["--out", "working directory"]),
    Case("simulate/out_folder_with_file", ["simulate", S, "--out", "{tmp}/data", "--overwrite"], ["--out", "keep.txt"], setup=_store_dirs),
    Case("simulate/scenario_fifo", ["simulate", "{tmp}/pipe.yaml"], ["pipe.yaml", "FIFO"], setup=_mkfifo),
    Case("simulate/interrupted", ["simulate", S, "--paths", "2"], ["interrupted"], code=130, interrupt="simulate"),
    # ---- alvh price
    Case("price/dte_word", ["price", S, "--dte", "abc"], ["--dte", "abc", "(0, 3650]"]),
    Case("price/dte_zero", ["price", S, "--dte", "0"], ["--dte", "(0, 3650]"]),
    Case("price/dte_negative", ["price", S, "--dte", "7,-21"], ["--dte"]),
    Case("price/dte_too_far", ["price", S, "--dte", "5000"], ["--dte", "3650"]),
    Case("price/dte_empty", ["price", S, "--dte", ""], ["--dte"]),
    Case("price/dte_nan", ["price", S, "--dte", "nan"], ["--dte"]),
    Case("price/dte_inf", ["price", S, "--dte", "inf"], ["--dte"]),
    Case("price/dte_too_many", ["price", S, "--dte", ",".join(["7"] * 100000)], ["--dte", "up to 20"]),
    Case("price/dte_huge_number", ["price", S, "--dte", "9" * 5000], ["--dte"]),
    Case("price/backend_unknown", ["price", S, "--backend", "quantum"], ["--backend"]),
    Case("price/scenario_missing", ["price", "nope.yaml"], ["nope.yaml"]),
    Case("price/scenario_fifo", ["price", "{tmp}/pipe.yaml"], ["pipe.yaml", "FIFO"], setup=_mkfifo),
    # ---- alvh scenarios
    Case("scenarios/validate_nothing", ["scenarios", "validate"], ["FILES"]),
    Case("scenarios/validate_directory", ["scenarios", "validate", "{tmp}/scen"], ["scen", "directory"], setup=_store_dirs),
    Case("scenarios/show_missing", ["scenarios", "show", "crash_of_2099"], ["crash_of_2099", "base"]),
    Case("scenarios/show_fifo", ["scenarios", "show", "{tmp}/pipe.yaml"], ["pipe.yaml", "FIFO"], setup=_mkfifo),
    Case("scenarios/unknown_subcommand", ["scenarios", "delete"], ["delete"]),
    # ---- alvh sweep plan
    Case("plan/missing_file", ["sweep", "plan", "no_sweep.yaml"], ["no_sweep.yaml", "file not found"]),
    Case("plan/fifo", ["sweep", "plan", "{tmp}/pipe.yaml"], ["pipe.yaml", "FIFO"], setup=_mkfifo),
    Case("plan/directory", ["sweep", "plan", "{tmp}/scen"], ["scen", "directory"], setup=_store_dirs),
    Case("plan/max_memory_word", ["sweep", "plan", str(SMALL), "--max-memory", "lots"], ["--max-memory", "lots"]),
    Case("plan/max_memory_zero", ["sweep", "plan", str(SMALL), "--max-memory", "0"], ["--max-memory"]),
    Case("plan/max_memory_unit", ["sweep", "plan", str(SMALL), "--max-memory", "8XB"], ["--max-memory"]),
    Case("plan/workers_zero", ["sweep", "plan", str(SMALL), "--workers", "0"], ["--workers"]),
    Case("plan/dtype_unknown", ["sweep", "plan", str(SMALL), "--dtype", "int8"], ["--dtype"]),
    Case("plan/cells_env_malformed", ["sweep", "plan", str(SMALL)], ["$ALVH_MAX_CELLS"], env={"ALVH_MAX_CELLS": "many"}),
    Case("plan/cells_limit_lowered", ["sweep", "plan", str(SMALL)], ["grid", "12 cells", "ALVH_MAX_CELLS"], env={"ALVH_MAX_CELLS": "5"}),
    # ---- alvh sweep run
    Case("sweep_run/no_out", ["sweep", "run", str(SMALL)], ["--out"]),
    Case("sweep_run/shard_reversed", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--shard", "3/2"], ["--shard", "3/2"]),
    Case("sweep_run/shard_word", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--shard", "half"], ["--shard", "half"]),
    Case("sweep_run/shard_zero_n", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--shard", "0/0"], ["--shard"]),
    Case("sweep_run/shard_auto_no_env", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--shard", "auto/4"],
         ["--shard", "JOB_COMPLETION_INDEX"], env={"JOB_COMPLETION_INDEX": "", "AWS_BATCH_JOB_ARRAY_INDEX": "", "BATCH_TASK_INDEX": ""}),
    Case("sweep_run/shard_auto_bad_env", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--shard", "auto/4"],
         ["$JOB_COMPLETION_INDEX", "x7"], env={"JOB_COMPLETION_INDEX": "x7"}),
    Case("sweep_run/workers_negative", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--workers", "-1"], ["--workers"]),
    Case("sweep_run/workers_and_shard", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--workers", "2", "--shard", "0/2"],
         ["--workers/--scheduler/--shard"]),
    Case("sweep_run/scheduler_malformed", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--scheduler", "my laptop"], ["--scheduler"]),
    Case("sweep_run/scheduler_timeout_zero", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--scheduler", "tcp://127.0.0.1:9",
                                              "--scheduler-timeout", "0"], ["--scheduler-timeout"]),
    Case("sweep_run/scheduler_timeout_env", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--scheduler", "tcp://127.0.0.1:9"],
         ["$ALVH_SCHEDULER_TIMEOUT"], env={"ALVH_SCHEDULER_TIMEOUT": "soon"}),
    Case("sweep_run/lock_timeout_zero", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--lock-timeout", "0"], ["--lock-timeout"]),
    Case("sweep_run/lock_env_malformed", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr"], ["$ALVH_SWEEP_LOCK_STALE"],
         env={"ALVH_SWEEP_LOCK_STALE": "forever"}),
    Case("sweep_run/max_memory_word", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--max-memory", "big"], ["--max-memory"]),
    Case("sweep_run/cpu_threads_zero", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--cpu-threads", "0"], ["--cpu-threads"]),
    Case("sweep_run/out_file", ["sweep", "run", str(SMALL), "--out", "{tmp}/file.txt"], ["file.txt"], setup=_store_dirs),
    Case("sweep_run/out_folder_with_file", ["sweep", "run", str(SMALL), "--out", "{tmp}/data", "--overwrite"], ["--out", "keep.txt"],
         setup=_store_dirs),
    Case("sweep_run/out_dot", ["sweep", "run", str(SMALL), "--out", "."], ["--out", "working directory"]),
    Case("sweep_run/out_parent_missing", ["sweep", "run", str(SMALL), "--out", "{tmp}/x/y.zarr"], ["--out", "does not exist"]),
    Case("sweep_run/bad_sweep_file", ["sweep", "run", str(BAD / "sweeps" / "grid_64m_cells.yaml"), "--out", "{tmp}/s.zarr"],
         ["grid_64m_cells.yaml", "ALVH_MAX_CELLS"]),
    Case("sweep_run/paths_memory", ["sweep", "run", "{tmp}/big.yaml", "--out", "{tmp}/s.zarr"], ["big.yaml", "paths", "ALVH_MAX_MEMORY"],
         setup=_billion_paths),
    Case("sweep_run/interrupted", ["sweep", "run", str(SMALL), "--out", "{tmp}/s.zarr", "--no-progress"],
         ["interrupted; rerun the same command to resume"], code=130, interrupt="sweep"),
    # ---- alvh sweep status
    Case("status/missing", ["sweep", "status", "{tmp}/none.zarr"], ["none.zarr", "STORE"]),
    Case("status/not_a_store", ["sweep", "status", "{tmp}/data"], ["data", "STORE"], setup=_store_dirs),
    Case("status/limit_negative", ["sweep", "status", "{tmp}/data", "--limit", "-1"], ["--limit"], setup=_store_dirs),
    # ---- the group
    Case("alvh/unknown_command", ["simulat", S], ["simulat"]),
]

CASES = _file_cases() + OPTION_CASES


def test_corpus_is_large_enough():
    assert len(CASES) >= 130, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.fixture
def engine_forbidden(monkeypatch):
    """Any engine run fails the case: bad input is refused before computing."""
    def computed(*a, **k):
        raise AssertionError("the engine ran on bad input")

    targets = {
        "run": (sys.modules["gpu_alvh.runner"], "run"),
        "simulate": (sys.modules["gpu_alvh.paths"], "simulate"),
        "sweep": (sys.modules["gpu_alvh.sweeps.worker"], "probe_schema"),
        "run_pass": (sys.modules["gpu_alvh.sweeps.worker"], "run_pass"),
        "price": (sys.modules["gpu_alvh.pricing.cli"], "chain_rows"),
    }
    for mod, name in targets.values():
        monkeypatch.setattr(mod, name, computed)
    return targets


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path, monkeypatch, engine_forbidden):
    if case.setup is not None:
        case.setup(tmp_path)
    for k, v in case.env.items():
        if v:
            monkeypatch.setenv(k, v)
        else:
            monkeypatch.delenv(k, raising=False)
    if case.interrupt:
        def interrupted(*a, **k):
            raise KeyboardInterrupt

        mod, name = engine_forbidden[case.interrupt]
        monkeypatch.setattr(mod, name, interrupted)
    monkeypatch.chdir(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in case.argv]
    before = dict(limits.WORK)
    r = CliRunner().invoke(main, argv)
    out = r.output
    assert r.exit_code == case.code, (r.exit_code, out[-3000:], r.exc_info)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    assert "Traceback" not in out and "internal error" not in out, out[-3000:]
    for w in case.words:
        assert w in out, (w, out[-3000:])
    assert len(out.splitlines()) <= 20, out[-3000:]  # capped ("... and N more"), never a wall of text
    for k, bound in WORK_BOUNDS.items():
        assert limits.WORK[k] - before.get(k, 0) <= bound, (k, limits.WORK[k] - before.get(k, 0))

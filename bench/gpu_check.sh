#!/usr/bin/env bash
# The one prepared check for a lent GPU machine (issue 10 item 7): install, compile, `alvh bench`, `pytest -m gpu`.
#
#   bash bench/gpu_check.sh [--dry-run] [--backend cupy|numpy] [--quick]
#
# Runs from the repository root of a copy of the tree, in one call that fits 10 minutes:
#   1. install  - the wheels in $WHEELS (default .whl/, made here by bench/fetch_wheels.sh: what the
#                 project needs beyond the machine's image) with `pip install --no-index --no-deps
#                 --target`, then the project itself from the tree (PYTHONPATH, no build, no network);
#                 checks that every runtime dependency imports;
#   2. compile  - every CUDA entry and the CPU entries the parity tests compare with, each in its own process,
#                 all at once (Numba compiles on one core): bench/gpu_kernels.py --only book / paths / replay
#                 (the seconds of each, then registers, local memory and occupancy of each CUDA entry) and
#                 tests/_warmup.py book / paths.  They fill the kernel cache the later stages load.  First,
#                 because the book's CUDA compilation is the long pole: on the H200 of 2026-12-04 it took
#                 over 160 s, and every stage that met it cold ran out of time;
#   3. bench    - `alvh bench --backend cupy --backend numpy --only paths --only pricing --only book
#                 --no-fresh-process` (the GPU rows, then the machine's CPU rows for the GPU/CPU column while
#                 the stage lasts; every row's record is written as it is measured; $BENCH_ARGS replaces
#                 those arguments, e.g. to add the sweep group), records to a scratch folder;
#   4. pytest   - `pytest -m gpu -v` (CuPy vs NumPy parity: RNG integers, paths, pricing, the full book), one
#                 line per test as it ends, so that a stage cut short still says which tests passed.
# Every stage has its own `timeout` (SIGINT first, so Python reports what it did; seconds: $COMPILE_S,
# $BENCH_S, $PYTEST_S) and the script goes on after a failed stage.  What comes back, all under $OUT (default
# bench/results/), at most 8 files: gpu_check-install.log, gpu_check-compile.log, gpu_check-bench.log,
# gpu_check-pytest.log, gpu_check-summary.txt (stages, exit codes, seconds, the device) and
# gpu_check-records.json (every benchmark record, a JSON list; store them one file per record with
# `alvh bench --import gpu_check-records.json`).
# The machine has no network: nothing here downloads; without a GPU, `--backend numpy` runs the bench on the
# CPU (the CUDA compile runs and `pytest -m gpu` then fail or skip) and `--dry-run` prints the commands only.
# Exit code: 0 when every stage passed, else 1.  Stage limits: install 30 s, compile $COMPILE_S (300), bench
# $BENCH_S (140), pytest $PYTEST_S (110): 580 s at most.  On the lent machine (device tool): first
# `bash bench/fetch_wheels.sh` here, then run `bash bench/gpu_check.sh` with carry [".whl"] and timeout_s 600;
# afterwards `alvh bench --import <files_at>/gpu_check-records.json` stores the records in bench/results/.
set -uo pipefail

DRY=0
BACKENDS=()
QUICK=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --backend) BACKENDS+=(--backend "$2"); shift ;;
    --quick) QUICK=(--quick) ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument $1 (allowed: --dry-run, --backend cupy|numpy, --quick)" >&2; exit 2 ;;
  esac
  shift
done
[ ${#BACKENDS[@]} -eq 0 ] && BACKENDS=(--backend cupy --backend numpy)  # the GPU rows first; the CPU rows, if time is left, give the GPU/CPU column

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
DEST=${OUT:-$ROOT/bench/results}
WHEELS=${WHEELS:-$ROOT/.whl}
SITE=${SITE:-/tmp/alvh-site}
PY=${PYTHON:-python3}
COMPILE_S=${COMPILE_S:-300}
BENCH_S=${BENCH_S:-140}
PYTEST_S=${PYTEST_S:-110}
PYTEST_WORKERS=${PYTEST_WORKERS:-6}  # test files run side by side (their kernels come from the cache by then)
RECORDS=/tmp/alvh-records-$$
[ $DRY -eq 1 ] || mkdir -p "$DEST" "$RECORDS" || exit 2
SUMMARY="$DEST/gpu_check-summary.txt"
export WHEELS SITE PY PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}" ALVH_BENCH_RESULTS="$RECORDS"
# the tree travels without .git: the revision fetch_wheels.sh wrote beside the wheels
if [ -z "${ALVH_GIT_REVISION:-}" ] && [ -f "$WHEELS/REVISION" ]; then export ALVH_GIT_REVISION=$(cat "$WHEELS/REVISION"); fi

FAILED=0
stage() {  # stage NAME SECONDS CMD...: run with a timeout, log to $DEST/gpu_check-NAME.log, note it in the summary
  local name=$1 secs=$2; shift 2
  local log="$DEST/gpu_check-$name.log" t0 rc
  if [ $DRY -eq 1 ]; then echo "[dry-run] $name (timeout ${secs}s): $*"; return 0; fi
  echo "== $name (timeout ${secs}s): $*" | tee -a "$SUMMARY"
  t0=$(date +%s)
  timeout --signal=INT --kill-after=15 "$secs" "$@" >"$log" 2>&1
  rc=$?
  tail -n 40 "$log"
  echo "   $name: exit $rc after $(( $(date +%s) - t0 )) s$([ $rc -eq 124 ] && echo ' (timed out)')" | tee -a "$SUMMARY"
  [ $rc -eq 0 ] || FAILED=1
  return $rc
}

install() {
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl || return 1
  else
    echo "no wheels in $WHEELS (bench/fetch_wheels.sh makes them): using what is installed"
  fi
  "$PY" - <<'EOF'
import importlib, sys
missing = []
for mod in ("numpy", "scipy", "pandas", "xarray", "zarr", "dask", "distributed", "click", "yaml", "pydantic", "exchange_calendars",
            "tqdm", "numba", "matplotlib", "pytest", "hypothesis", "gpu_alvh.cli"):
    try:
        importlib.import_module(mod)
    except Exception as exc:  # noqa: BLE001 - report every missing module at once
        missing.append(f"{mod}: {type(exc).__name__}: {exc}")
for mod in ("cupy", "numba", "numba_cuda", "llvmlite", "numpy", "QuantLib"):
    try:
        m = importlib.import_module(mod)
        print(f"{mod} {getattr(m, '__version__', '')}")
    except Exception as exc:  # noqa: BLE001
        print(f"{mod}: not importable ({type(exc).__name__}: {exc})")
from gpu_alvh.backend import cupy_status
print("cupy status:", cupy_status())
if missing:
    sys.exit("missing: " + "; ".join(missing))
EOF
}

[ $DRY -eq 1 ] || { : >"$SUMMARY"; echo "gpu_check $(date -u +%FT%TZ) revision ${ALVH_GIT_REVISION:-(git)} on $(hostname)" >>"$SUMMARY";
                    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >>"$SUMMARY" 2>&1 || echo "no nvidia-smi" >>"$SUMMARY"; }
compile_all() {  # the compile stage: one process per entry group, side by side; each one's lines prefixed
  set -o pipefail  # a run's failure, not sed's success, is the subshell's status
  local pids=() rc=0 p
  for part in book paths replay; do
    ( "$PY" bench/gpu_kernels.py --only "$part" 2>&1 | sed -u "s/^/[cuda $part] /" ) & pids+=($!)
  done
  for part in book paths; do
    ( t0=$(date +%s); "$PY" -m tests._warmup "$part" 2>&1 | sed -u "s/^/[cpu $part] /"; r=${PIPESTATUS[0]}
      echo "[cpu $part] exit $r after $(( $(date +%s) - t0 )) s"; exit "$r" ) & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

export -f install compile_all
stage install 30 bash -c install
stage compile "$COMPILE_S" bash -c compile_all
if [ -n "${BENCH_ARGS:-}" ]; then read -r -a BARGS <<<"$BENCH_ARGS"; else BARGS=("${BACKENDS[@]}" --only paths --only pricing --only book); fi
stage bench "$BENCH_S" "$PY" -m gpu_alvh.cli bench "${BARGS[@]}" "${QUICK[@]}" --no-fresh-process --label "gpu_check.sh on $(hostname)"
export ALVH_NO_WARMUP=1  # the compile stage did the warm-up
stage pytest "$PYTEST_S" "$PY" -m pytest -m gpu -v -rfE --durations=10 -p no:cacheprovider -n "$PYTEST_WORKERS" \
  --timeout=$((PYTEST_S - 10)) tests

if [ $DRY -eq 0 ]; then
  "$PY" - "$RECORDS" "$DEST/gpu_check-records.json" <<'EOF'
import json, sys
from pathlib import Path
from gpu_alvh.benchmarks.records import read_records
recs = read_records(sorted(Path(sys.argv[1]).glob("*.json")))
Path(sys.argv[2]).write_text(json.dumps(recs, indent=1, sort_keys=True) + "\n")
print(f"{len(recs)} records -> {sys.argv[2]}")
EOF
  [ $? -eq 0 ] || FAILED=1
  rm -rf "$RECORDS"
  echo "gpu_check: $([ $FAILED -eq 0 ] && echo 'every stage passed' || echo 'a stage FAILED') (summary: $SUMMARY)" | tee -a "$SUMMARY"
fi
exit $FAILED

"""Issue 8, "small truths": the docs' VIX floor, the git revision of an installed build, the benchmark
records `sweep plan` needs in any install, build outputs ignored, verdicts without an interval, the
`gpu_alvh.sweeps` package name, and a quiet exit when the reader of the output goes away.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import gpu_alvh
from gpu_alvh.cli import main
from gpu_alvh.claims import NO_CLAIM
from gpu_alvh.metrics import TOO_FEW, Claim, verdict
from gpu_alvh.models.heston import Heston
from gpu_alvh.spec import list_library, load_scenario

REPO = Path(__file__).resolve().parents[1]
CALM = REPO / "tests" / "data" / "sweeps" / "calm.yaml"


# ------------------------------------------------------------------------------------ VIX floor
def test_docs_vix_floor_numbers_are_true():
    """Every floor the docs quote is a floor some model really has; the library's come from `scenarios show`."""
    text = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    quoted = re.findall(r"floor\b[^.\n|]*?(\d+\.\d+)", text)  # a number quoted after "floor" in the same sentence
    assert quoted  # (the Heston example)
    true_floors = [Heston(kappa=2.0, theta=0.04, sigma=0.5, rho=-0.7).vix_floor()]
    true_floors += [load_scenario(n).model_q().vix_floor() for n in list_library()]
    for q in quoted:
        tol = 0.5 * 10 ** -len(q.split(".")[1]) + 1e-9
        assert any(abs(float(q) - f) <= tol for f in true_floors), (q, true_floors)
    assert "alvh scenarios show" in text[text.index("*floor*"):][:600]
    r = CliRunner().invoke(main, ["scenarios", "show", "base"])
    shown = float(re.search(r"VIX floor=(\d+\.\d+)", r.output).group(1))
    assert math.isclose(shown, load_scenario("base").model_q().vix_floor(), abs_tol=0.005)


# ------------------------------------------------------------------------------------ verdicts
def test_verdict_without_interval_is_too_few_paths():
    claim = Claim("X", "x", "1", 0.35, 0.55)
    assert verdict(0.4, math.nan, math.nan, claim) == TOO_FEW == "n/a: too few paths"
    assert verdict(0.1, math.nan, math.nan, claim) == TOO_FEW  # no "not supported" from one path
    assert verdict(0.4, 0.3, 0.5, claim) == "holds"


def test_one_path_prints_no_verdict(tmp_path):
    r = CliRunner().invoke(main, ["run", str(CALM), "--paths", "1", "--backend", "numpy", "--no-progress", "--out", str(tmp_path / "r.zarr")])
    assert r.exit_code == 0, r.output
    claims = r.output[r.output.index("claims ("):].splitlines()[1:10]
    assert claims and all(" claimed " in line for line in claims)
    for line in claims:
        assert not re.search(r"claimed\s+\S+\s+(holds|exceeds|not supported)\b", line), line
        assert "nan" not in line
    assert "n/a: too few paths" in r.output
    ds = gpu_alvh.open_results(tmp_path / "r.zarr")
    assert set(str(v) for v in ds["verdict"].values.ravel()) <= {"n/a", TOO_FEW, NO_CLAIM}  # no claim: a reported line, no number to judge


# ------------------------------------------------------------------------------------ package names
def test_sweep_function_does_not_shadow_a_module():
    assert callable(gpu_alvh.sweep) and gpu_alvh.sweep.__module__ == "gpu_alvh.sweeps.driver"
    assert importlib.import_module("gpu_alvh.sweeps").sweep is gpu_alvh.sweep
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("gpu_alvh.sweep")
    assert not (REPO / "gpu_alvh" / "sweep").exists()


def test_the_public_names_resolve_lazily_and_the_cli_help_imports_no_engine():
    for name in gpu_alvh.__all__:
        assert getattr(gpu_alvh, name) is not None and name in dir(gpu_alvh)
    assert callable(gpu_alvh.report) and gpu_alvh.report.__module__ == "gpu_alvh.report"
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        gpu_alvh.not_a_name  # noqa: B018
    import gpu_alvh.calibration as calibration
    assert calibration.calibrate.__module__ == "gpu_alvh.calibration.fit" and "compare" in dir(calibration)
    code = ("import sys; from click.testing import CliRunner; from gpu_alvh.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0 and 'run' in r.output, r.output; "
            "print(sorted(m for m in ('xarray', 'numba', 'scipy.interpolate', 'dask', 'gpu_alvh.runner') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_run_function_does_not_shadow_a_module_and_the_documented_trace_works():
    assert callable(gpu_alvh.run) and gpu_alvh.run.__module__ == "gpu_alvh.runner"
    assert importlib.import_module("gpu_alvh.runner").run is gpu_alvh.run
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("gpu_alvh.run")
    readme = (REPO / "README.md").read_text()
    call = re.search(r"`(gpu_alvh\.[\w.]+)\(scenario, paths=\[0, 7\]\)`", readme)
    assert call and call.group(1) == "gpu_alvh.trace"  # the README's call, as written there
    tr = gpu_alvh.trace("gap_1p8", paths=[0, 7], overrides={"horizon": 6})
    assert list(tr["paths"]) == [0, 7] and tr["records"]
    assert max(abs(float(v)) for v in tr["audit"].values() if isinstance(v, (int, float))) < 0.01  # NAV balances to the cent


# ------------------------------------------------------------------------------------ closed pipes
@pytest.mark.parametrize("args", [["price", "base", "--dte", "7,21,45,90,120,180"], ["scenarios", "show", "base"],
                                  ["sweep", "plan", str(REPO / "tests" / "data" / "sweeps" / "small.yaml")]])
def test_output_into_a_closed_pipe_exits_quietly(args):
    p = subprocess.Popen([sys.executable, "-m", "gpu_alvh.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env={**os.environ, "ALVH_CPU_THREADS": "1"})
    p.stdout.close()  # like `| head -0`: the reader is gone before the first line (any later write fails the same way)
    err = p.stderr.read().decode()
    p.wait(timeout=300)
    assert p.returncode == 141, (p.returncode, err)
    assert err == "", err


# ------------------------------------------------------------------------------------ a real (non-editable) install
@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The working tree committed in a scratch repository, built into a wheel and installed with --target."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (REPO / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / f, src / f)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=src, check=True)
    subprocess.run([*git, "add", "-A"], cwd=src, check=True)
    subprocess.run([*git, "commit", "-qm", "build test"], cwd=src, check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, check=True).stdout.strip()
    b = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "wheels"), str(src)], cwd=src,
                       capture_output=True, text=True, timeout=600)
    if b.returncode != 0 and ("No matching distribution" in b.stderr or "Could not find a version" in b.stderr):
        pytest.skip(f"no build backend available offline: {b.stderr[-300:]}")
    assert b.returncode == 0, b.stderr
    wheel = next((tmp / "wheels").glob("gpu_alvh-*.whl"))
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    return {"src": src, "rev": rev, "site": site, "wheel": wheel}


@pytest.mark.slow
def test_pip_install_leaves_nothing_to_commit(installed):
    src = installed["src"]
    assert (src / "build").is_dir() or list(src.glob("*.egg-info"))  # the build did leave its outputs in the tree ...
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=src, capture_output=True, text=True).stdout
    assert status == ""  # ... and git ignores them
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.startswith("build/") or ".egg-info" in f or f.endswith("_build_info.py")]


@pytest.mark.slow
def test_installed_build_knows_its_revision_and_benchmark_records(installed, tmp_path):
    probe = ("import json, gpu_alvh; from gpu_alvh.results import git_revision; from gpu_alvh.sweeps.estimate import newest_run_record;"
             "rec, path = newest_run_record('numpy');"
             "print(json.dumps({'file': gpu_alvh.__file__, 'rev': git_revision(), 'record': str(path), 'throughput': (rec or {}).get('throughput')}))")
    env = {k: v for k, v in os.environ.items() if k != "ALVH_BENCH_RESULTS"}
    env["PYTHONPATH"] = str(installed["site"])
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")  # no records of this user's own `alvh bench` runs
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["file"].startswith(str(installed["site"]))  # the installed copy, not the source tree
    assert got["rev"] == installed["rev"]  # not "unknown"
    assert got["record"].startswith(str(installed["site"])) and got["throughput"] > 0
    plan = subprocess.run([sys.executable, "-m", "gpu_alvh.cli", "sweep", "plan", str(REPO / "tests" / "data" / "sweeps" / "small.yaml"),
                           "--backend", "numpy"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr
    assert "device-hours" in plan.stdout and "estimate: none" not in plan.stdout


NUMPY_2_5 = "import numpy as np\nif hasattr(np, 'row_stack'):\n    del np.row_stack  # what NumPy 2.5 removed\n"


@pytest.mark.parametrize("shim, ok", [("", False), ("from gpu_alvh.kernels.target import register_cuda\nregister_cuda()\n", True)])
def test_numba_cuda_compiles_beside_numpy_2_5(shim, ok):
    """numba-cuda 0.30's CUDA target overloads ``np.row_stack`` as it starts; NumPy 2.5 has none (the lent
    H200's image: every CUDA test failed so).  Through :func:`~gpu_alvh.kernels.target.register_cuda`, the
    way every CUDA compilation of the package starts, the target loads; without it, it does not."""
    code = NUMPY_2_5 + shim + "import numba.cuda.cudaimpl\nprint(np.row_stack is np.vstack)\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr[-2000:]
    else:  # the failure the shim exists for (if a numba-cuda release stops needing it, this says so)
        assert r.returncode != 0 and "row_stack" in r.stderr, (r.stdout, r.stderr[-2000:])

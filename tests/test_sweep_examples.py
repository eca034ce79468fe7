"""The example sweeps shipped with the package: listed, planned by name, one run end to end at tiny paths.

A name is accepted wherever a sweep file is; a file of that name on disk wins; an unknown bare name is
a SpecError (exit 2) that lists the examples.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import gpu_alvh
from gpu_alvh.cli import main
from gpu_alvh.sweeps import resolve_sweep, sweep_status
from gpu_alvh.sweeps.examples import example_path, list_examples

REQUIRED = {"delta_budget", "hedge_instruments", "stress_ladder", "covid_dispersion"}


def test_the_required_examples_are_shipped():
    assert REQUIRED <= set(list_examples())
    for name in list_examples():
        assert Path(str(example_path(name))).is_file() and example_path(name + ".yaml") == example_path(name)
    assert example_path("nosuch") is None


def test_sweep_examples_lists_every_example():
    res = CliRunner().invoke(main, ["sweep", "examples"])
    assert res.exit_code == 0, res.output
    names = [line.split()[0] for line in res.output.splitlines() if line and not line.startswith((" ", "*", "name", "run one"))]
    assert names == list_examples()
    for name in list_examples():
        desc = " ".join(resolve_sweep(name).spec.description.split())
        assert desc[:40] in " ".join(res.output.split())  # the description, wrapped


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_plan_by_name(name):
    res = CliRunner().invoke(main, ["sweep", "plan", name, "--backend", "numpy", "--json"])
    assert res.exit_code == 0, res.output
    plan = resolve_sweep(name)
    assert plan.spec.name == name and plan.n_paths == yaml.safe_load(Path(str(example_path(name))).read_text())["paths"]


def test_example_grids_are_what_the_issue_asks():
    def values(name, key):
        return list(resolve_sweep(name).spec.grid[key])

    assert values("stress_ladder", "scenario.shocks[1].vix_level")[0] == 25 and values("stress_ladder", "scenario.shocks[1].vix_level")[-1] == 80
    ladder = resolve_sweep("stress_ladder")
    assert [c.spec.shocks[1].vix_level for c in ladder.cells.values()] == values("stress_ladder", "scenario.shocks[1].vix_level")
    assert set(values("hedge_instruments", "strategy.hedge.layers[0].instrument")) == {"call", "call_spread", "butterfly", "future"}
    assert values("covid_dispersion", "scenario.historical.dispersion")[0] == 0.0
    assert set(resolve_sweep("delta_budget").spec.grid) == {"strategy.short_delta", "strategy.hedge.budget_pct"}


def test_unknown_name_exits_2_naming_the_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cmd in ("plan", "run"):
        args = ["sweep", cmd, "delta_budgte"] + (["--out", str(tmp_path / "s.zarr")] if cmd == "run" else [])
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, res.output
        assert "no example sweep by that name" in res.output and all(n in res.output for n in list_examples())
    assert not (tmp_path / "s.zarr").exists()
    res = CliRunner().invoke(main, ["sweep", "plan", "./nosuch.yaml"])  # a path: just "not found"
    assert res.exit_code == 2 and "file not found" in res.output and "example" not in res.output


def test_a_file_of_that_name_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calm.yaml").write_text((Path(__file__).parent / "data" / "sweeps" / "calm.yaml").read_text())
    (tmp_path / "delta_budget").write_text("scenarios: [calm.yaml]\ngrid: {strategy.short_delta: [0.11]}\npaths: 4\nseed: 1\n")
    plan = resolve_sweep("delta_budget")
    assert plan.n_paths == 4 and list(plan.spec.grid["strategy.short_delta"]) == [0.11]


def test_hedge_instruments_runs_end_to_end_at_tiny_paths(tmp_path):
    """The shipped file with paths: 12 (the sweep CLI has no --paths): every cell done, one per instrument."""
    data = yaml.safe_load(Path(str(example_path("hedge_instruments"))).read_text())
    small = tmp_path / "hedge_instruments.yaml"
    small.write_text(yaml.safe_dump({**data, "paths": 12}))
    out = tmp_path / "h.zarr"
    res = CliRunner().invoke(main, ["sweep", "run", str(small), "--out", str(out), "--backend", "numpy", "--no-progress", "-q"])
    assert res.exit_code == 0, res.output
    st = sweep_status(out)
    assert st.complete and st.counts["done"] == 4
    ds = gpu_alvh.open_results(out)
    dim = next(d for d in ds.dims if "instrument" in d)
    assert list(ds[dim].values) == data["grid"]["strategy.hedge.layers[0].instrument"]
    assert ds.sizes["path"] == 12


def test_a_key_into_default_lists_of_a_scenario_without_strategy():
    """``strategy.hedge.layers[0].instrument`` on volmageddon (no strategy section): the other layers and
    fields keep their defaults, as if the file had spelled the default strategy out."""
    from gpu_alvh.spec import default_strategy, load_scenario, spec_hash

    spec = load_scenario("volmageddon", overrides={"strategy.hedge.layers[0].instrument": "future"})
    d = default_strategy()
    assert spec.strategy.hedge.layers[0].instrument == "future"
    assert spec.strategy.hedge.layers[1:] == d.hedge.layers[1:] and spec.strategy.short_delta == d.short_delta
    spelled = d.to_dict()
    spelled["hedge"]["layers"][0]["instrument"] = "future"
    assert spec_hash(spec) == spec_hash(load_scenario("volmageddon", overrides={"strategy": spelled}))
    assert spec_hash(load_scenario("volmageddon", overrides={"strategy.short_delta": 0.1})) == spec_hash(
        load_scenario("volmageddon", overrides={"strategy": {"short_delta": 0.1}}))

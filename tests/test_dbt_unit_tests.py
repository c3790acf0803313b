"""dbt's unit tests (the `unit_tests:` of the models' YAML: made-up rows in, the rows a
model must give out) check the models' logic, not the data, so a pipeline run leaves them
out (pipeline.transform) and this test runs every one of them on a built warehouse."""

import json

from memberdw import pipeline
from memberdw.generate import generate
from test_marts import memberdw_run


def _results(warehouse):
    target = warehouse / pipeline.DBT_TARGET / "run_results.json"
    return json.loads(target.read_text())["results"]


def test_a_run_leaves_the_unit_tests_out_and_they_all_pass(tmp_path):
    generate(tmp_path / "landing", members=150, days=3, seed=5, quiet=True)
    run = memberdw_run(tmp_path / "landing", tmp_path / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    built = [r["unique_id"] for r in _results(tmp_path / "wh")]
    assert any(u.startswith("model.") for u in built)
    assert not [u for u in built if u.startswith("unit_test.")]

    pipeline.transform(tmp_path / "wh", select="test_type:unit", command="test")
    results = _results(tmp_path / "wh")
    unit = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    others = [r["unique_id"] for r in results if not r["unique_id"].startswith(("unit_test.", "operation."))]
    assert len(unit) >= 16 and not others, others
    assert set(unit.values()) == {"pass"}, unit

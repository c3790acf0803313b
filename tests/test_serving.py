"""The serving file as a BI tool on DuckDB 1.x sees it.

BI tools reach DuckDB through JDBC/ODBC drivers that lag the Python package, and no 1.x
release opens a file in DuckDB 2.0's own storage format. So the serving file is opened
here, read-only, by a real DuckDB 1.x in a virtual environment of its own: it must list
the marts, read the rows DuckDB 2.0 reads (counts for every table, every value for two
marts), and show the dbt YAML descriptions as table and column comments.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from memberdw import pipeline
from memberdw.generate import generate
from test_marts import memberdw_run

REPO = Path(__file__).resolve().parents[1]
MEMBERS, DAYS, SEED = 150, 3, 13
# The newest 1.x release on PyPI, what a current 1.x driver reads; docs/serving.md says
# which older releases read the file too.
DUCKDB1 = "1.5.6"
DESCRIBED = {  # mart: the YAML file that documents it
    "fct_orders": "models/marts/core/_core__models.yml",
    "dim_members": "models/marts/members/_members__models.yml",
}

# Every value of a table as text, one line a row, in one digest: cast column by column, as
# a struct's text form differs between releases.
DIGEST = """select md5(string_agg(line, chr(10) order by line)) from (select concat_ws(chr(31),
    coalesce(columns(*)::varchar, chr(0))) as line from "{table}")"""

READER = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
digest, digested = sys.argv[2], sys.argv[3:]
tables = [t for (t,) in con.execute(
    "select table_name from duckdb_tables() where schema_name = 'main' order by 1").fetchall()]
print(json.dumps({
    "version": duckdb.__version__,
    "tables": tables,
    "rows": {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables},
    "digests": {t: con.execute(digest.format(table=t)).fetchone()[0] for t in digested},
    "table_comments": dict(con.execute(
        "select table_name, comment from duckdb_tables() where schema_name = 'main'").fetchall()),
    "column_comments": [list(r) for r in con.execute(
        "select table_name, column_name, comment from duckdb_columns()"
        " where schema_name = 'main' and not internal").fetchall()],
    # as text: a timestamptz would need pytz in this environment
    "publication": list(con.execute("select columns(*)::varchar from publication").fetchone()),
}))
"""


def duckdb1_python() -> Path:
    """The Python of a virtual environment holding only duckdb==DUCKDB1, made once per
    version and interpreter and kept under ~/.cache/memberdw-test (MEMBERDW_TEST_CACHE)."""
    cache = Path(os.environ.get("MEMBERDW_TEST_CACHE", Path.home() / ".cache" / "memberdw-test"))
    venv = cache / f"duckdb-{DUCKDB1}-py{sys.version_info.major}{sys.version_info.minor}"
    python = venv / "bin" / "python"
    if python.exists():
        return python
    cache.mkdir(parents=True, exist_ok=True)
    building = cache / f".{venv.name}.{os.getpid()}"
    for step in ([sys.executable, "-m", "venv", str(building)],
                 [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", f"duckdb=={DUCKDB1}"]):
        done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout}\n{done.stderr}"
    try:
        building.rename(venv)  # whole or not at all; a concurrent run may have won
    except OSError:
        shutil.rmtree(building)
    return python


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    base = tmp_path_factory.mktemp("serving")
    generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED)
    run = memberdw_run(base / "landing", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return base / "wh"


@pytest.fixture(scope="module")
def seen_by_duckdb1(published):
    python = duckdb1_python()
    read = subprocess.run([str(python), "-c", READER, str(published / pipeline.SERVING_FILE),
                           DIGEST, *DESCRIBED], capture_output=True, text=True, timeout=300)
    assert read.returncode == 0, (f"DuckDB {DUCKDB1} cannot read the serving file:\n"
                                  f"{read.stderr[-3000:]}")
    return json.loads(read.stdout)


def test_duckdb_1x_opens_the_serving_file_and_lists_every_mart(published, seen_by_duckdb1):
    assert seen_by_duckdb1["version"] == DUCKDB1
    con = duckdb.connect(str(published / "warehouse.duckdb"), read_only=True)
    try:
        marts = {t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
            " and table_catalog = current_database()").fetchall()}
    finally:
        con.close()
    assert set(DESCRIBED) <= marts
    assert set(seen_by_duckdb1["tables"]) == marts | {"publication"}


def test_duckdb_1x_reads_the_rows_duckdb_2_reads(published, seen_by_duckdb1):
    con = duckdb.connect(str(published / pipeline.SERVING_FILE), read_only=True)
    try:
        rows = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0]
                for t in seen_by_duckdb1["tables"]}
        digests = {t: con.execute(DIGEST.format(table=t)).fetchone()[0] for t in DESCRIBED}
    finally:
        con.close()
    assert seen_by_duckdb1["rows"] == rows
    assert all(rows[t] > 0 for t in DESCRIBED)
    assert seen_by_duckdb1["digests"] == digests


def test_duckdb_1x_reads_the_publication_row(published, seen_by_duckdb1):
    row = pipeline.publication(published)
    assert seen_by_duckdb1["publication"][1:3] == [
        None if row[column] is None else str(row[column]) for column in ("run_id", "as_of_date")]


@pytest.mark.parametrize("mart", sorted(DESCRIBED))
def test_duckdb_1x_shows_the_yaml_descriptions_as_comments(seen_by_duckdb1, mart):
    models = yaml.safe_load((REPO / DESCRIBED[mart]).read_text())["models"]
    model = next(m for m in models if m["name"] == mart)
    assert seen_by_duckdb1["table_comments"][mart] == model["description"]
    comments = {column: comment for table, column, comment in seen_by_duckdb1["column_comments"]
                if table == mart}
    described = {c["name"]: c["description"] for c in model["columns"] if c.get("description")}
    assert described, f"{mart} has no column descriptions to check"
    assert {c: comments.get(c) for c in described} == described
    # a column the YAML leaves undescribed gets no comment (no empty strings for BI to show)
    assert all(comments[c] is None for c in comments if c not in described)

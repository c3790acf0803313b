"""Never publish a worse truth silently.

A landing root holding no source folders stops the run before anything runs; marts that
shrink sharply against the serving file are not published unless ``--force``; either way
the serving file stays as it was, byte for byte. A run with an earlier ``--as-of`` on a
warehouse that already holds later deliveries builds the marts a fresh load up to that
date builds.
"""

import csv
import io
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta

import duckdb
import pytest

from memberdw import pipeline
from memberdw.generate import generate

MEMBERS, DAYS, SEED = 300, 8, 5
START = date(2026, 10, 1)
END = START + timedelta(days=DAYS - 1)
REWIND = END - timedelta(days=3)


def memberdw_run(landing, warehouse, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run([sys.executable, "-m", "memberdw.cli", "run", "--landing",
                           str(landing), "--warehouse", str(warehouse), *extra],
                          env=env, capture_output=True, text=True, timeout=900)


def copy_warehouse(source, target):
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("airflow"))
    return target


def serving_bytes(warehouse):
    return (warehouse / "marts.duckdb").read_bytes()


def published(warehouse, sql):
    con = duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def working(warehouse, sql):
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """All DAYS days loaded and published."""
    base = tmp_path_factory.mktemp("guard")
    generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED, start=START)
    run = memberdw_run(base / "landing", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return base / "landing", base / "wh"


# ------------------------------------------------------------- 1. no source folders

@pytest.mark.parametrize("where", ["empty", "a level too deep"])
def test_a_landing_root_without_source_folders_stops_before_publishing(loaded, tmp_path, where):
    landing, wh = loaded
    if where == "empty":
        root = tmp_path / "landing"
        root.mkdir()
    else:
        root = landing / "crm"
    before = serving_bytes(wh)

    result = memberdw_run(root, wh)

    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"landing root {root}" in result.stderr
    assert "none of the contract's source folders (crm, pos, miniapp, marketing, stores, points)" \
        in result.stderr
    assert "Nothing was loaded or published" in result.stderr
    if where == "a level too deep":
        assert f"did you mean its parent {landing}?" in result.stderr
    assert "ingest_crm" not in result.stdout  # stopped before any DAG ran
    assert serving_bytes(wh) == before


def test_the_transform_dag_checks_the_landing_root_too(loaded, tmp_path):
    """Under the scheduler the check runs in the publish task (pipeline.publish)."""
    landing, wh = loaded
    before = serving_bytes(wh)
    with pytest.raises(pipeline.PipelineError, match="none of the contract's source folders"):
        pipeline.publish(wh, run_id="guard-test", landing_root=landing / "crm")
    assert serving_bytes(wh) == before


# ------------------------------------------------------------- 2. shrinking marts

def erase_members(landing, share: float) -> int:
    """A CRM delivery on the day after the data that erases ``share`` of the members."""
    first = sorted((landing / "crm" / "members").glob("dt=*/*.csv"))[0]
    rows = list(csv.DictReader(io.StringIO(first.read_text(encoding="utf-8-sig"))))
    rows = [r for r in rows if r["member_id"] and r["mobile"].isdigit()]
    erased = rows[: int(len(rows) * share)]
    day = END + timedelta(days=1)
    folder = landing / "crm" / "members" / f"dt={day}"
    folder.mkdir()
    with open(folder / f"members_{day:%Y%m%d}.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in erased:
            writer.writerow({**r, "deleted": "1", "updated_at": f"{day} 23:00:00"})
    (folder / "_SUCCESS").touch()
    return len(erased)


def test_marts_shrinking_sharply_are_not_published_unless_forced(loaded, tmp_path):
    landing, wh = loaded
    shutil.copytree(landing, tmp_path / "landing")
    wh = copy_warehouse(wh, tmp_path / "wh")
    (members_before,) = published(wh, "select count(*) from dim_members")[0]
    erase_members(tmp_path / "landing", 0.5)
    before = serving_bytes(wh)

    refused = memberdw_run(tmp_path / "landing", wh)

    assert refused.returncode == 3, refused.stdout[-2000:] + refused.stderr[-3000:]
    assert "memberdw run: NOT PUBLISHED: publication refused: members in dim_members would" \
        f" fall from {members_before} to " in refused.stderr
    assert "threshold -20%" in refused.stderr
    assert "total GMV" not in refused.stderr  # erased members' orders still count in GMV
    assert "the serving file marts.duckdb is unchanged" in refused.stderr
    assert "--force" in refused.stderr
    assert serving_bytes(wh) == before
    (members_now,) = working(wh, "select count(*) from marts.dim_members")[0]
    assert members_now < 0.8 * members_before  # built, audited, only not published

    forced = memberdw_run(tmp_path / "landing", wh, "--force")

    assert forced.returncode == 0, forced.stdout[-2000:] + forced.stderr[-3000:]
    assert published(wh, "select count(*) from dim_members") == [(members_now,)]
    ((is_forced, note),) = published(wh, "select forced, guard_note from publication")
    assert is_forced and note.startswith("forced: members in dim_members would fall from")
    assert "published: " in forced.stdout and "(forced: members in dim_members" in forced.stdout


def shrink_working_marts(wh, table: str, keep: float) -> None:
    con = duckdb.connect(str(wh / "warehouse.duckdb"))
    try:
        (n,) = con.execute(f"select count(*) from marts.{table}").fetchone()
        key = "member_id" if table == "dim_members" else "order_id"
        con.execute(f"delete from marts.{table} where {key} not in (select {key} from"
                    f" marts.{table} order by {key} limit {round(n * keep)})")
    finally:
        con.close()


def test_gmv_shrinking_sharply_is_refused_and_a_small_dip_is_not(loaded, tmp_path):
    _, wh = loaded
    wh = copy_warehouse(wh, tmp_path / "wh")
    before = serving_bytes(wh)
    (gmv,) = published(wh, "select sum(gmv_amount) from fct_orders")[0]
    shrink_working_marts(wh, "fct_orders", 0.5)

    with pytest.raises(pipeline.PublishRefused) as refused:
        pipeline.publish(wh, run_id="guard-test")
    assert f"total GMV in fct_orders would fall from {gmv} to " in str(refused.value)
    assert "members in dim_members" not in str(refused.value)
    assert serving_bytes(wh) == before

    pipeline.publish(wh, run_id="guard-forced", force=True)
    assert published(wh, "select run_id, forced from publication") == [("guard-forced", True)]

    wh2 = copy_warehouse(loaded[1], tmp_path / "wh2")
    shrink_working_marts(wh2, "dim_members", 0.9)  # -10%: within the -20% threshold
    pipeline.publish(wh2, run_id="small-dip")
    assert published(wh2, "select run_id, forced, guard_note from publication") == [
        ("small-dip", False, None)]


def test_the_threshold_is_a_dbt_var():
    assert pipeline.dbt_vars()["publish_shrink_threshold"] == -0.2


# ------------------------------------------------------------- 3. an earlier as-of

def marts_content(wh) -> dict:
    con = duckdb.connect(str(wh / "warehouse.duckdb"), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
            " order by 1").fetchall()]
        # the erasure log says when each pass ran: the same passes, at other times
        columns = {"mart_erasure_log": "* exclude (run_id, ran_at)"}
        return {t: con.execute(f"select {columns.get(t, '*')} from marts.{t} order by all")
                .fetchall() for t in tables}
    finally:
        con.close()


def future_flags(wh) -> list:
    return working(wh, "select dataset, rule, record_key from intermediate.int_quality_flags"
                       " where rule like 'future_date%' order by all")


def test_an_earlier_as_of_on_a_later_warehouse_gives_the_marts_of_a_fresh_load(loaded, tmp_path):
    landing, wh = loaded
    wh = copy_warehouse(wh, tmp_path / "rewound")
    ((published_as_of,),) = published(wh, "select as_of_date from publication")
    assert published_as_of > REWIND

    rewound = memberdw_run(landing, wh, "--as-of", REWIND.isoformat())
    fresh = memberdw_run(landing, tmp_path / "fresh", "--as-of", REWIND.isoformat())

    assert rewound.returncode == 0, rewound.stdout[-2000:] + rewound.stderr[-3000:]
    assert fresh.returncode == 0, fresh.stdout[-2000:] + fresh.stderr[-3000:]
    # the warehouse still holds the later deliveries; staging does not see them
    assert working(wh, "select max(_dt) from raw.pos__order_lines") == [(END,)]
    assert working(tmp_path / "fresh", "select max(_dt) from raw.pos__order_lines") == [(REWIND,)]
    expected, got = marts_content(tmp_path / "fresh"), marts_content(wh)
    assert set(got) == set(expected)
    for table in ("dim_members", "member_id_map", "fct_orders", "fct_order_lines",
                  "mart_member_rfm"):
        assert len(expected[table]) > 0, table
    for table in expected:  # every mart, row for row
        assert got[table] == expected[table], table
    assert future_flags(wh) == future_flags(tmp_path / "fresh") == []
    # an intentional rewind is published, and says the shrink check did not apply
    assert published(wh, "select as_of_date, forced from publication") == [(REWIND, False)]
    assert (f"(shrink check skipped: as of {REWIND} is earlier than the published"
            f" {published_as_of})"
            in rewound.stdout)

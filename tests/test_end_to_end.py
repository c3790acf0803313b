"""`memberdw run` on generated data, reconciled with the generator's truth file.

Every file is in the ledger with its sha256, bytes and encoding; rows read = loaded +
quarantined per file; every planted malformed row is in quarantine at its file, line and
reason; the duplicate file loaded nothing; the incomplete folder was skipped and reported;
a second run changes nothing; a replay of the deliveries day by day picks up the late
file and ends with the same raw tables as the all-at-once run.
"""

import duckdb
import hashlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from memberdw.contract import ENTITIES
from memberdw.generate import generate

MEMBERS, DAYS, SEED = 400, 10, 11
LINEAGE = ("_load_id", "_loaded_at")


def memberdw_run(landing: Path, warehouse: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run([sys.executable, "-m", "memberdw.cli", "run", "--landing", str(landing),
                           "--warehouse", str(warehouse), *extra],
                          env=env, capture_output=True, text=True, timeout=900)


def query(warehouse: Path, sql: str, params=()):
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def raw_fingerprint(warehouse: Path) -> dict:
    """Content of every raw and meta table, minus what differs by run (ids, load times)."""
    out = {}
    for entity in ENTITIES:
        cols = [c.name for c in entity.columns] + ["_dt", "_source_file", "_source_line"]
        select = ", ".join(f'"{c}"' for c in cols)
        rows = query(warehouse, f"select {select} from raw.{entity.raw_table} order by all")
        out[entity.key] = hashlib.sha256(repr(rows).encode()).hexdigest(), len(rows)
    out["quarantine"] = query(warehouse, "select source_file, source_line, reason, column_name,"
                                         " raw_record from meta.quarantine order by all")
    out["ledger"] = query(warehouse, "select file_path, sha256, status, rows_read, rows_loaded,"
                                     " rows_rejected, duplicate_of from meta.load_ledger order by all")
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    landing = base / "landing"
    truth = generate(landing, members=MEMBERS, days=DAYS, seed=SEED)
    first = memberdw_run(landing, base / "wh")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    return landing, base / "wh", truth, first


def test_every_delivered_file_is_in_the_ledger_reconciled_to_the_byte_and_row(demo):
    landing, wh, truth, _ = demo
    incomplete = set(truth["incomplete_folders"])
    ledger = {r[0]: r for r in query(wh, "select file_path, sha256, size_bytes, encoding, status,"
                                         " rows_read, rows_loaded, rows_rejected, duplicate_of"
                                         " from meta.load_ledger")}
    malformed = Counter(m["path"] for m in truth["malformed_rows"])
    expected_paths = set()
    for f in truth["files"]:
        if f["path"].rsplit("/", 1)[0] in incomplete:
            continue
        expected_paths.add(f["path"])
        path, sha, size, encoding, status, read, loaded, rejected, dup_of = ledger[f["path"]]
        assert (sha, size) == (f["sha256"], f["bytes"]), path
        if f["duplicate_of"]:
            assert (status, dup_of, read) == ("duplicate", f["duplicate_of"], 0), path
            continue
        assert (status, encoding) == ("loaded", f["encoding"]), path
        assert read == f["rows"] == loaded + rejected, path
        assert rejected == malformed[path], path
    assert set(ledger) == expected_paths


def test_every_planted_malformed_row_is_quarantined_at_its_line_with_its_reason(demo):
    _, wh, truth, _ = demo
    quarantined = query(wh, "select source_file, source_line, reason, column_name"
                            " from meta.quarantine order by all")
    planted = sorted((m["path"], m["line"], m["reason"], m["column"])
                     for m in truth["malformed_rows"])
    assert quarantined == planted


def test_each_entity_loads_exactly_its_loadable_rows(demo):
    _, wh, truth, _ = demo
    for entity in ENTITIES:
        (count,) = query(wh, f"select count(*) from raw.{entity.raw_table}")[0]
        assert count == truth["expected"][entity.key]["loadable"], entity.key


def test_incomplete_folder_is_skipped_and_reported(demo):
    _, wh, truth, first = demo
    for folder in truth["incomplete_folders"]:
        assert f"skipped (not loaded): {folder} (incomplete_no_success_marker)" in first.stdout
        assert query(wh, "select count(*) from meta.load_ledger where file_path like ?",
                     [folder + "/%"]) == [(0,)]


def test_summary_reconciles_rows(demo):
    _, wh, truth, first = demo
    read = sum(f["rows"] for f in truth["files"] if not f["duplicate_of"]
               and f["path"].rsplit("/", 1)[0] not in set(truth["incomplete_folders"]))
    bad = len(truth["malformed_rows"])
    assert f"rows: {read} read = {read - bad} loaded + {bad} quarantined" in first.stdout


def test_staging_is_built_with_personal_data_hashed(demo):
    _, wh, truth, _ = demo
    members = query(wh, "select count(*), count(distinct member_id) from staging.stg_crm__members")
    assert members[0][0] == members[0][1] > 0
    columns = {r[0] for r in query(wh, "select column_name from information_schema.columns"
                                       " where table_schema = 'staging'")}
    assert not {"mobile", "name", "openid", "unionid", "shared_by_openid"} & columns
    (orders, versions) = query(wh, "select (select count(*) from staging.stg_miniapp__orders),"
                                   " (select count(*) from raw.miniapp__orders)")[0]
    assert orders < versions  # re-sent orders collapse to their newest version


def test_second_run_changes_nothing(demo):
    landing, wh, _, _ = demo
    before = raw_fingerprint(wh)
    again = memberdw_run(landing, wh)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "files: no new files" in again.stdout
    assert raw_fingerprint(wh) == before


def test_day_by_day_replay_picks_up_late_files_and_ends_identical(demo, tmp_path):
    landing, wh, truth, _ = demo
    late = truth["late_files"][0]
    replay = tmp_path / "landing"

    def deliver_until(day: str) -> None:
        for f in truth["files"]:
            if f["arrival_date"] <= day and not (replay / f["path"]).exists():
                (replay / f["path"]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(landing / f["path"], replay / f["path"])
        for m in truth["success_markers"]:
            if m["arrival_date"] <= day:
                (replay / m["folder"]).mkdir(parents=True, exist_ok=True)
                (replay / m["folder"] / "_SUCCESS").touch()

    day_before_late = sorted(f["arrival_date"] for f in truth["files"]
                             if f["arrival_date"] < late["arrival_date"])[-1]
    deliver_until(day_before_late)
    assert memberdw_run(replay, tmp_path / "wh").returncode == 0
    assert query(tmp_path / "wh", "select count(*) from meta.load_ledger where file_path = ?",
                 [late["path"]]) == [(0,)]

    deliver_until("9999-12-31")
    second = memberdw_run(replay, tmp_path / "wh")
    assert second.returncode == 0, second.stderr[-3000:]
    assert query(tmp_path / "wh", "select status from meta.load_ledger where file_path = ?",
                 [late["path"]]) == [("loaded",)]
    loaded_second = query(tmp_path / "wh", "select min(_dt) from raw.pos__order_lines r"
                                           " join meta.load_ledger l on r._load_id = l.load_id"
                                           " where l.file_path = ?", [late["path"]])
    assert loaded_second == [(__import__("datetime").date.fromisoformat(late["dt"]),)]
    replayed, at_once = raw_fingerprint(tmp_path / "wh"), raw_fingerprint(wh)
    for key in [e.key for e in ENTITIES] + ["quarantine"]:
        assert replayed[key] == at_once[key], key


def test_a_failing_run_exits_non_zero_and_names_the_dag(tmp_path, demo):
    landing = demo[0]
    blocked = tmp_path / "wh"
    blocked.mkdir()
    (blocked / "warehouse.duckdb").write_text("not a duckdb file")
    result = memberdw_run(landing, blocked)
    assert result.returncode == 1
    assert "memberdw run FAILED in DAG ingest_crm" in result.stderr


def test_a_missing_landing_root_is_a_clear_error(tmp_path):
    result = memberdw_run(tmp_path / "nowhere", tmp_path / "wh")
    assert result.returncode == 2
    assert "landing root" in result.stderr and "does not exist" in result.stderr

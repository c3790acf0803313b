"""The PII key: HMAC-SHA256 under a key from the environment (or a key file, or an Airflow
Variable inside Airflow), never a default; the key in no file the pipeline writes; a new key
changes every hash, and a rotation run publishes old and new hashes side by side."""

from __future__ import annotations

import base64
import csv
import hmac
import io
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from memberdw import pii
from memberdw.generate import generate
from test_marts import memberdw_run

KEY_VARIABLES = ("MEMBERDW_PII_KEY", "MEMBERDW_PII_KEY_FILE", "MEMBERDW_PII_KEY_PREVIOUS",
                 "MEMBERDW_PII_KEY_PREVIOUS_FILE")
MOBILE_RE = re.compile(r"(\+?86)?1[3-9]\d{9}")  # memberdw.parsing's mobile rule


def without_key(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AIRFLOW") and k not in KEY_VARIABLES}
    return env | extra


def cli_run(landing, warehouse, env):
    return subprocess.run([sys.executable, "-m", "memberdw.cli", "run", "--landing",
                           str(landing), "--warehouse", str(warehouse)],
                          env=env, capture_output=True, text=True, timeout=120)


# --- no key, no run ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_landing(tmp_path_factory):
    landing = tmp_path_factory.mktemp("pii_landing") / "landing"
    generate(landing, members=150, days=3, seed=5)
    return landing


def test_memberdw_run_without_a_key_stops_before_anything_exit_2(small_landing, tmp_path):
    warehouse = tmp_path / "wh"
    run = cli_run(small_landing, warehouse, without_key())
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout == ""
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("memberdw run: no PII key: set MEMBERDW_PII_KEY")
    assert "MEMBERDW_PII_KEY_FILE" in line and "no default" in line
    assert not warehouse.exists()  # nothing created, nothing loaded


def test_a_short_key_is_refused_without_being_echoed(small_landing, tmp_path):
    short = "too-short-" + secrets.token_hex(4)
    run = cli_run(small_landing, tmp_path / "wh", without_key(MEMBERDW_PII_KEY=short))
    assert run.returncode == 2
    assert f"is {len(short)} bytes; it needs at least {pii.MIN_KEY_BYTES}" in run.stderr
    assert short not in run.stderr + run.stdout
    assert not (tmp_path / "wh").exists()


def test_dbt_refuses_to_hash_without_a_key(tmp_path):
    """The DAG tasks run dbt without the CLI: the plugin stops the build itself."""
    code = ("from memberdw import pipeline\n"
            f"pipeline.transform({str(tmp_path)!r}, select='stg_crm__members')\n")
    done = subprocess.run([sys.executable, "-c", code], env=without_key(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode != 0
    assert "PipelineError: dbt build failed" in done.stderr
    assert "no PII key: set MEMBERDW_PII_KEY" in done.stderr


# --- where the key comes from ----------------------------------------------------------------

def test_key_from_the_environment_or_a_key_file_never_both(monkeypatch, tmp_path):
    key = secrets.token_urlsafe(32)
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(pii.PiiKeyError, match="no PII key"):
        pii.current_key()
    assert pii.previous_key() is None
    monkeypatch.setenv("MEMBERDW_PII_KEY", key)
    assert pii.current_key() == key.encode()
    assert pii.pii_hash("13800138000") == \
        hmac.new(key.encode(), b"13800138000", "sha256").hexdigest()
    key_file = tmp_path / "pii.key"
    key_file.write_text(f"{key}-from-a-file\n")
    monkeypatch.setenv("MEMBERDW_PII_KEY_FILE", str(key_file))
    with pytest.raises(pii.PiiKeyError, match="not both"):
        pii.current_key()
    monkeypatch.delenv("MEMBERDW_PII_KEY")
    assert pii.current_key() == f"{key}-from-a-file".encode()  # the newline is not the key
    monkeypatch.setenv("MEMBERDW_PII_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(pii.PiiKeyError, match="cannot be read"):
        pii.current_key()


def test_key_from_an_airflow_variable_inside_airflow():
    """Inside Airflow the key may be the Variable memberdw_pii_key, from any secrets backend;
    AIRFLOW_VAR_* is the environment backend. Outside Airflow the Variable is not asked."""
    key = secrets.token_urlsafe(32)
    code = ("import sys\n"
            "from memberdw import pii\n"
            "try:\n"
            "    pii.current_key()\n"
            "    sys.exit('found a key outside Airflow')\n"
            "except pii.PiiKeyError as exc:\n"
            "    assert 'Airflow' not in str(exc), exc\n"
            "import airflow.sdk\n"
            "print(pii.current_key().decode())\n")
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env | {"AIRFLOW_VAR_MEMBERDW_PII_KEY": key}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == key


# --- a run, its files, its hashes ------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(small_landing, tmp_path_factory):
    """Run 1 under key A; run 2 on the same warehouse under key B with A as the previous key.
    Returns the keys, the warehouse and what each run published."""
    warehouse = tmp_path_factory.mktemp("pii_runs") / "wh"
    key_a = "pii-test-key-a-" + secrets.token_hex(24)
    key_b = "pii-test-key-b-" + secrets.token_hex(24)
    published = []
    for env in ({"MEMBERDW_PII_KEY": key_a},
                {"MEMBERDW_PII_KEY": key_b, "MEMBERDW_PII_KEY_PREVIOUS": key_a}):
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            run = memberdw_run(small_landing, warehouse)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        published.append(hashes(warehouse))
    return {"keys": (key_a, key_b), "warehouse": warehouse, "landing": small_landing,
            "published": published}


def hashes(warehouse: Path) -> dict:
    """Every hash a run leaves, by where it is: staging (working file) and marts (serving)."""
    out = {}
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        for member_id, *values in con.execute(
                "select member_id, mobile_hash, unionid_hash, openid_hash"
                " from staging.stg_crm__members").fetchall():
            for column, value in zip(("mobile", "unionid", "openid"), values):
                out[("stg_crm__members", column, member_id)] = value
        for *line, value in con.execute(
                "select store_code, order_no, line_number, mobile_hash"
                " from staging.stg_pos__order_lines").fetchall():
            out[("stg_pos__order_lines", "mobile", tuple(line))] = value
        for order_id, *values in con.execute(
                "select order_id, openid_hash, unionid_hash from staging.stg_miniapp__orders"
                ).fetchall():
            for column, value in zip(("openid", "unionid"), values):
                out[("stg_miniapp__orders", column, order_id)] = value
    finally:
        con.close()
    con = duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True)
    try:
        for member_id, value in con.execute(
                "select member_id, mobile_hash from dim_members").fetchall():
            out[("dim_members", "mobile", member_id)] = value
        out["rotation"] = con.execute(
            "select pii_kind, previous_hash, current_hash from mart_pii_key_rotation").fetchall()
        out["member_groups"] = dict(con.execute(
            "select member_id, count(*) from member_id_map group by member_id").fetchall())
    finally:
        con.close()
    return out


def key_forms(key: str) -> set[bytes]:
    raw = key.encode()
    return {raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw),
            base64.urlsafe_b64encode(raw)}


def test_no_file_the_pipeline_writes_holds_the_key(runs):
    warehouse = runs["warehouse"]
    files = [p for p in warehouse.rglob("*") if p.is_file()]
    names = {p.relative_to(warehouse).parts[0] for p in files}
    # what the grep covers: DuckDB files, dbt target and logs, gx Data Docs, Airflow's home
    assert {"warehouse.duckdb", "marts.duckdb", "dbt", "gx", "airflow"} <= names
    assert any(p.suffix == ".html" for p in (warehouse / "gx").rglob("*"))
    assert any(p.name == "manifest.json" for p in files)
    forms = set().union(*(key_forms(k) for k in runs["keys"]))
    hits = [str(p) for p in files if any(form in p.read_bytes() for form in forms)]
    assert hits == []
    # the grep finds what is there: the warehouse path is in dbt's log
    assert str(warehouse).encode() in (warehouse / "dbt" / "logs" / "dbt.log").read_bytes()
    # DuckDB compresses strings on disk, so also ask the files for every text value
    for name in ("warehouse.duckdb", "marts.duckdb"):
        con = duckdb.connect(str(warehouse / name), read_only=True)
        try:
            columns = con.execute(
                "select table_schema, table_name, column_name from information_schema.columns"
                " where table_catalog = current_database()"
                " and data_type in ('VARCHAR', 'JSON')").fetchall()
            assert len(columns) > 50
            for schema, table, column in columns:
                for key in runs["keys"]:
                    (n,) = con.execute(f'select count(*) from "{schema}"."{table}"'
                                       f' where contains(cast("{column}" as varchar), ?)',
                                       [key]).fetchone()
                    assert n == 0, (name, schema, table, column)
        finally:
            con.close()


def landing_mobiles(landing: Path) -> dict[str, set[str | None]]:
    """Each CRM member_id's mobiles as delivered, normalised as landing does (spaces and dashes
    dropped, the last 11 digits); None for one that rule rejects."""
    truth = json.loads((landing / "_truth.json").read_text())
    mobiles: dict[str, set[str | None]] = {}
    for f in truth["files"]:
        if f["entity"] != "crm/members":
            continue
        text = (landing / f["path"]).read_bytes().decode(f["encoding"])
        for row in csv.DictReader(io.StringIO(text)):
            if not row.get("member_id") or not row.get("mobile"):
                continue
            compact = re.sub(r"[ -]", "", row["mobile"])
            mobiles.setdefault(row["member_id"], set()).add(
                compact[-11:] if MOBILE_RE.fullmatch(compact) else None)
    return mobiles


def test_published_mobile_hashes_are_hmac_sha256_of_the_normalised_mobile(runs):
    key = runs["keys"][0].encode()
    first = runs["published"][0]
    delivered = landing_mobiles(runs["landing"])
    every_hash = {pii.pii_hash(m, key) for ms in delivered.values() for m in ms if m}
    published = {k[2]: v for k, v in first.items() if k[:2] == ("dim_members", "mobile")}
    assert published and set(published.values()) - {None} <= every_hash
    # a member who is no one else and always had the same valid mobile: exactly its hash
    checked = 0
    for member_id, value in published.items():
        mobiles = delivered.get(member_id, set())
        if first["member_groups"].get(member_id) == 1 and len(mobiles) == 1 and None not in mobiles:
            assert value == pii.pii_hash(next(iter(mobiles)), key), member_id
            assert re.fullmatch(r"[0-9a-f]{64}", value)
            checked += 1
    assert checked >= 50


def test_a_new_key_changes_every_hash_and_the_rotation_run_maps_old_to_new(runs):
    first, second = runs["published"]
    key_a, key_b = (k.encode() for k in runs["keys"])
    assert first["rotation"] == []  # no previous key, no crosswalk
    places = [k for k in first if isinstance(k, tuple)]
    assert set(places) == {k for k in second if isinstance(k, tuple)}
    assert {k[0] for k in places} == {"stg_crm__members", "stg_pos__order_lines",
                                      "stg_miniapp__orders", "dim_members"}
    changed = [k for k in places if first[k] is not None]
    assert len(changed) > 300
    for k in places:
        assert (first[k] is None) == (second[k] is None), k
        assert first[k] is None or first[k] != second[k], k
    # the crosswalk: every old hash with its new one, computed from the same values
    crosswalk = {(kind, old): new for kind, old, new in second["rotation"]}
    assert {kind for kind, _ in crosswalk} == {"mobile", "unionid", "openid"}
    for k in changed:
        assert crosswalk[(k[1], first[k])] == second[k], k
    delivered = landing_mobiles(runs["landing"])
    for m in [m for ms in delivered.values() for m in ms if m][:20]:
        assert crosswalk[("mobile", pii.pii_hash(m, key_a))] == pii.pii_hash(m, key_b)

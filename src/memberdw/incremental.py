"""When the transform may build its incremental models incrementally, and when it must
rebuild them from everything (dbt ``--full-refresh``).

An incremental staging model rebuilds only the keys that rows loaded since its last build
touch (macro ``touched_keys_only``), which is right only while everything else it was
built from is as it was. ``full_refresh_reason`` compares that with what the last staging
build recorded in ``meta.build_state`` and names what changed:

- no build recorded, or the last one did not finish (its state is written after dbt);
- the code or the libraries (a model's logic may have changed);
- a PII key (every keyed hash changes);
- the as-of date (``delivered_by_as_of`` admits other deliveries, including rows loaded
  before the last build);
- the run asked for it (``memberdw run --full-refresh``).

The marts layer's order facts (macro ``order_facts_incremental``) rebuild only the orders
that changed since the last finished marts build (``int_orders_touched``): ``begin_marts``
hands dbt that build's position (``marts_watermark``: when it started, so every row loaded
since is newer; ``marts_dq_run``: the validation run whose flags it read) and forgets it
while the build runs, so a build killed half-way leaves none and the next one is full.

An erasure does not make a build full: it changes raw rows in place and stamps them
``_erased_at``, and the incremental models rebuild them as they do new loads (macros
touched_keys_only, delete_erased_members). It makes the next publication a whole new
serving file (``built_from`` None): a file copied and added to would keep the erased
values in its freed blocks.

A full refresh gives the same tables an incremental run would (tests/test_incremental.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from memberdw import warehouse

DDL = """create table if not exists meta.build_state (
    layer varchar primary key, inputs varchar not null, erasure_passes bigint not null,
    full_refresh_reason varchar,            -- null: the last build was incremental
    built_at timestamptz not null default current_timestamp)"""
# where the next incremental build starts from (JSON; the marts: begin_marts)
CARRY_DDL = "alter table meta.build_state add column if not exists carry varchar"


def _inputs(as_of: str | None) -> dict:
    from memberdw import runner

    inputs = runner.transform_inputs("", as_of=as_of or None, clv_calibration_end=None,
                                     force=False)
    return {name: inputs[name] for name in ("as_of", "code", "libraries", "pii_keys")}


def _erasure_passes(con) -> int:
    return con.execute("select count(*) from meta.erasure_passes").fetchone()[0]


def full_refresh_reason(warehouse_dir: Path, layer: str, as_of: str | None,
                        asked: bool = False) -> str | None:
    """Why ``layer``'s next build must be a full refresh, or None if it may be incremental."""
    if asked:
        return "asked for (--full-refresh)"
    con = warehouse.connect(Path(warehouse_dir))
    try:
        con.execute(DDL)
        con.execute(CARRY_DDL)
        row = con.execute("select inputs from meta.build_state where layer = ?",
                          [layer]).fetchone()
    finally:
        con.close()
    if row is None:
        return "no finished build to add to"
    built, now = json.loads(row[0]), _inputs(as_of)
    changed = [name for name in now if built.get(name) != now[name]]
    if changed:
        return "changed since the last build: " + ", ".join(changed)
    return None


def record(warehouse_dir: Path, layer: str, as_of: str | None,
           full_refresh_reason: str | None, carry: dict | None = None) -> None:
    """After ``layer`` was built: what it was built from, why it was a full refresh, and
    where the next incremental build starts (``carry``)."""
    con = warehouse.connect(Path(warehouse_dir))
    try:
        con.execute(DDL)
        con.execute(CARRY_DDL)
        con.execute("insert or replace into meta.build_state (layer, inputs, erasure_passes,"
                    " full_refresh_reason, carry) values (?, ?, ?, ?, ?)",
                    [layer, json.dumps(_inputs(as_of), sort_keys=True), _erasure_passes(con),
                     full_refresh_reason, json.dumps(carry, sort_keys=True) if carry else None])
    finally:
        con.close()


def marts_position(con) -> dict:
    """What the last finished marts build recorded (``begin_marts``' position: watermark,
    dq_run, built_from, erased) and its ``full_refresh_reason``; {} when there is none."""
    import duckdb

    try:
        row = con.execute("select full_refresh_reason, carry from meta.build_state"
                          " where layer = 'marts'").fetchone()
    except duckdb.CatalogException:  # no build recorded yet
        return {}
    if not row or not row[1]:
        return {}
    return {**json.loads(row[1]), "full_refresh_reason": row[0]}


def begin_marts(warehouse_dir: Path, as_of: str | None,
                asked: bool = False) -> tuple[str | None, dict, dict]:
    """Before the marts build: (why it must be a full refresh or None, the dbt vars of an
    incremental one, the position to ``record`` once it finished). The last build's state
    is forgotten here: a build that does not finish leaves none, and the next is full."""
    from memberdw import quality

    reason = full_refresh_reason(warehouse_dir, "marts", as_of, asked)
    con = warehouse.connect(Path(warehouse_dir))
    try:
        (carry, passes) = con.execute("select carry, erasure_passes from meta.build_state"
                                      " where layer = 'marts'").fetchone() or (None, None)
        erased = passes != _erasure_passes(con)
        newest = quality.newest_run_id(con)
        (now,) = con.execute("select cast(now() as varchar)").fetchone()
        con.execute("delete from meta.build_state where layer = 'marts'")
    finally:
        con.close()
    if reason is None and not carry:
        reason = "no position recorded by the last build"
    run_vars = {}
    if reason is None:
        before = json.loads(carry)
        run_vars = {"marts_watermark": before["watermark"], "marts_dq_run": before["dq_run"] or ""}
    # built_from: the build this one adds to, for publish's delta (None: a full build, or
    # an erasure since the last one: the serving file is written anew)
    # erased: the build ran after an erasure (memberdw.erasure.compact then empties its lists
    # of what it rebuilt, which name rows as they were before)
    return reason, run_vars, {"watermark": now, "dq_run": newest, "erased": erased,
                              "built_from": None if erased else run_vars.get("marts_watermark")}

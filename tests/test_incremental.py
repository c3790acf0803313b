"""Incremental staging: a warehouse that got its last day (with a late correction of an
earlier day's ticket line) by an incremental run holds the same staging, facts and marts as
one built from everything at once; memberdw.incremental says when a run must start over."""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pytest

from memberdw import incremental
from memberdw.generate import generate
from test_marts import memberdw_run

MEMBERS, DAYS, SEED, START = 400, 6, 11, date(2026, 9, 1)
LAST = (START + timedelta(days=DAYS - 1)).isoformat()
# what differs between two warehouses that hold the same data: when and by which load
# each row arrived, and the run that built or published a table
RUN_COLUMNS = {"_loaded_at", "_load_id", "load_id", "run_id", "published_at", "built_at", "loaded_at",
               "published_run_id", "recorded_at", "validated_at", "flagged_at", "marts_build",
               "delta_of"}
# one row per erasure pass that changed something: a history of runs, not of the data; what
# an incremental run rebuilt (orders and their changes, snapshots, members, store-days,
# mini-program dates and visitors, campaigns and their members: empty on a full build)
RUN_TABLES = {"mart_erasure_log", "int_orders_touched", "int_order_changes",
              "int_quality_flags_changed",
              "int_rfm_snapshots_touched", "int_members_touched", "int_store_dates_touched",
              "int_miniapp_event_dates_touched", "int_miniapp_visitors_touched",
              "int_miniapp_daily_dates_touched", "int_campaigns_touched",
              "int_member_attributes_touched"}


def ok(run):
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def build_state(warehouse, layer="staging"):
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute("select full_refresh_reason from meta.build_state"
                           " where layer = ?", [layer]).fetchone()
    finally:
        con.close()


def hold_back_last_day(landing, held, last=LAST):
    """Move the last day's delivery folders out of the landing root; returns ``held``."""
    for folder in sorted(landing.glob(f"*/*/dt={last}")):
        target = held / folder.relative_to(landing)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
    return held


def bring_back(landing, held):
    """The held-back day arrives."""
    for folder in sorted(held.glob("*/*/dt=*")):
        folder.rename(landing / folder.relative_to(held))


def built_up_to_the_last_day(tmp_path_factory, name, days=DAYS, generated_days=None):
    """A generated landing root and the warehouse ``inc`` a run built from every day but
    the last, which then arrives (not yet run): (base, landing, that run). With
    ``generated_days`` (more than ``days``), the days after ``days`` are generated and left
    out (the generator plants its erasure request on its last day)."""
    base = tmp_path_factory.mktemp(name)
    landing = base / "landing"
    generate(landing, members=MEMBERS, days=generated_days or days, seed=SEED, start=START,
             quiet=True)
    for extra in range(days, generated_days or days):
        hold_back_last_day(landing, base / "left_out",
                           (START + timedelta(days=extra)).isoformat())
    last = (START + timedelta(days=days - 1)).isoformat()
    held = hold_back_last_day(landing, base / "held", last)
    run = ok(memberdw_run(landing, base / "inc"))
    bring_back(landing, held)
    return base, landing, run


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base, landing, first = built_up_to_the_last_day(tmp_path_factory, "incremental")
    first_state = build_state(base / "inc")
    # a late correction of the first day's first ticket line, delivered with the last day
    day_one = sorted((landing / "pos" / "order_lines" / f"dt={START}").glob("*.csv"))[0]
    header, line = day_one.read_text(encoding="utf-8").splitlines()[:2]
    fields = dict(zip(header.split(","), line.split(",")))
    fields["paid_amount"] = "1.23"
    correction = (landing / "pos" / "order_lines" / f"dt={LAST}"
                  / f"pos_{fields['store_code']}_{START:%Y%m%d}_correction.csv")
    correction.write_text(header + "\n" + ",".join(fields.values()) + "\n", encoding="utf-8")
    second = ok(memberdw_run(landing, base / "inc"))
    ok(memberdw_run(landing, base / "full"))
    yield base, fields, first, first_state, second


def test_the_first_run_is_full_and_the_daily_one_incremental(built):
    base, _, _, first_state, _ = built
    assert first_state == ("no finished build to add to",)
    assert build_state(base / "inc") == (None,)
    assert build_state(base / "full") == ("no finished build to add to",)


def test_the_daily_marts_build_rebuilds_only_the_orders_it_touched(built):
    base, fields, *_ = built
    assert build_state(base / "inc", "marts") == (None,)
    assert build_state(base / "full", "marts") == ("no finished build to add to",)
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        touched, orders, days = con.execute(
            "select (select count(distinct order_id) from intermediate.int_orders_touched),"
            " (select count(*) from intermediate.int_orders_unioned),"
            " (select count(distinct order_date) from intermediate.int_orders_unioned"
            "  where order_id in (select order_id from intermediate.int_orders_touched))"
        ).fetchone()
        corrected = con.execute("select count(*) from intermediate.int_orders_touched"
                                " where store_code = ? and order_no = ?",
                                [fields["store_code"], fields["order_no"]]).fetchone()[0]
    finally:
        con.close()
    # the last day's orders, the corrected first-day ticket and what they touch; not all
    assert 0 < touched < orders / 2, (touched, orders)
    assert corrected == 1
    assert days >= 2  # the last day and the corrected ticket's first day


def test_the_late_correction_reaches_the_facts(built):
    base, fields, *_ = built
    con = duckdb.connect(str(base / "inc" / "marts.duckdb"), read_only=True)
    try:
        (paid,) = con.execute(
            "select paid_amount from fct_order_lines where order_id = ? and line_number = ?",
            [f"pos:{fields['store_code']}:{fields['order_no']}", int(fields["line_no"])]
        ).fetchone()
    finally:
        con.close()
    assert float(paid) == 1.23


def _tables(con, schemas):
    return [(s, t) for s, t in con.execute(
        "select schema_name, table_name from duckdb_tables() where schema_name in"
        f" ({', '.join(repr(s) for s in schemas)}) order by 1, 2").fetchall()]


def _differences(con, schema, table):
    columns = [c for (c,) in con.execute(
        "select column_name from duckdb_columns() where database_name = 'inc' and"
        " schema_name = ? and table_name = ? order by column_index", [schema, table]).fetchall()
        if c not in RUN_COLUMNS]
    cols = ", ".join(f'"{c}"' for c in columns)
    a, b = f'inc."{schema}"."{table}"', f'full_build."{schema}"."{table}"'
    return con.execute(f"select (select count(*) from (select {cols} from {a} except all"
                       f" select {cols} from {b})), (select count(*) from (select {cols} from"
                       f" {b} except all select {cols} from {a}))").fetchone()


@pytest.mark.parametrize("file,schemas", [
    ("warehouse.duckdb", ("staging", "intermediate")),
    ("marts.duckdb", ("main",)),
])
def test_incremental_equals_a_full_build(built, file, schemas):
    base, *_ = built
    tables, differing = compare_with_full_build(base, file, schemas)
    assert len(tables) > 10
    assert differing == {}


def compare_with_full_build(base, file, schemas):
    """The tables of ``schemas`` in ``base``/inc/``file`` and, by name, those whose rows
    differ from ``base``/full/``file`` (rows only in one, rows only in the other)."""
    con = duckdb.connect()
    con.execute(f"attach '{base / 'inc' / file}' as inc (read_only)")
    con.execute(f"attach '{base / 'full' / file}' as full_build (read_only)")
    try:
        con.execute("use inc")
        tables = _tables(con, schemas)
        return {t for _, t in tables}, {f"{s}.{t}": d for s, t in tables if t not in RUN_TABLES
                                        and (d := _differences(con, s, t)) != (0, 0)}
    finally:
        con.close()


def test_the_daily_publication_adds_to_the_serving_file_and_duckdb_1_reads_it(built):
    """The daily run's serving file was a copy of the last one with the touched orders
    replaced (publication.delta_of; the rows are a full build's: test above); the full build
    copied every table. A file changed in place stays in the storage version DuckDB 1.x
    reads."""
    import json
    import subprocess

    from test_serving import duckdb1_python

    base, *_ = built
    publications = {}
    for name in ("inc", "full"):
        con = duckdb.connect(str(base / name / "marts.duckdb"), read_only=True)
        try:
            publications[name] = con.execute("select marts_build, delta_of from publication"
                                             ).fetchone()
        finally:
            con.close()
    built_at, delta_of = publications["inc"]
    assert built_at and delta_of and delta_of < built_at
    assert publications["full"][0] and publications["full"][1] is None
    read = subprocess.run(
        [str(duckdb1_python()), "-c", "import duckdb, json, sys; con = duckdb.connect(sys.argv[1],"
         " read_only=True); print(json.dumps(con.execute('select count(*), count(distinct"
         " order_id) from fct_order_lines').fetchone()))", str(base / "inc" / "marts.duckdb")],
        capture_output=True, text=True, timeout=120)
    assert read.returncode == 0, read.stderr
    lines, orders = json.loads(read.stdout)
    assert lines > 0 and orders > 0


def test_a_run_with_nothing_new_rebuilds_only_the_current_snapshot(built):
    base, *_ = built
    shutil.copy(base / "inc" / "marts.duckdb", base / "marts_before.duckdb")
    ok(memberdw_run(base / "landing", base / "inc", "--rebuild"))  # not skipped: built again
    assert build_state(base / "inc", "marts") == (None,)
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        touched = con.execute("select count(*) from intermediate.int_orders_touched").fetchone()
        snapshots = con.execute("select d.is_current from intermediate.int_rfm_snapshots_touched"
                                " join intermediate.int_rfm_snapshot_dates d using (as_of_date)"
                                ).fetchall()
        (all_snapshots,) = con.execute("select count(*) from intermediate.int_rfm_snapshot_dates"
                                       ).fetchone()
    finally:
        con.close()
    assert touched == (0,)
    assert snapshots == [(True,)] and all_snapshots > 1
    con = duckdb.connect()
    con.execute(f"attach '{base / 'inc' / 'marts.duckdb'}' as inc (read_only)")
    con.execute(f"attach '{base / 'marts_before.duckdb'}' as full_build (read_only)")
    try:
        con.execute("use inc")
        differing = {t: d for s, t in _tables(con, ("main",)) if t not in RUN_TABLES
                     and (d := _differences(con, s, t)) != (0, 0)}
    finally:
        con.close()
    assert differing == {}  # the same marts as before the run


def test_full_refresh_when_asked(built):
    base, *_ = built
    landing = base / "landing"
    ok(memberdw_run(landing, base / "inc", "--full-refresh"))
    assert build_state(base / "inc") == ("asked for (--full-refresh)",)


def test_a_marts_build_that_does_not_finish_makes_the_next_one_full(built, tmp_path):
    """begin_marts forgets the last build's position before dbt runs: killed half-way, the
    order facts may hold some touched orders rebuilt and others not, so only a full build
    may follow."""
    from memberdw import incremental

    base, *_ = built
    shutil.copy(base / "inc" / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    reason, run_vars, position = incremental.begin_marts(tmp_path, None)
    assert reason is None and set(run_vars) == {"marts_watermark", "marts_dq_run"}
    assert position["watermark"] > run_vars["marts_watermark"]
    assert build_state(tmp_path, "marts") is None  # as a build killed now leaves it
    assert incremental.begin_marts(tmp_path, None)[:2] == ("no finished build to add to", {})


# The sales reconciliation marts keep the store-days no change reaches;
# int_store_dates_touched lists those a run recomputes.
RECONCILIATION = ("mart_sales_reconciliation_reasons", "mart_sales_reconciliation")


def test_a_late_correction_recomputes_only_the_store_days_it_reaches(built, tmp_path):
    """Another correction of the first day's ticket line, delivered alone: the daily run
    recomputes some store-days, the corrected ticket's first day among them, not all; the
    reconciliation marts equal what a full build of them gives."""
    from memberdw import pipeline

    base, fields, *_ = built
    landing, warehouse = tmp_path / "landing", tmp_path / "inc"
    shutil.copytree(base / "landing", landing)
    shutil.copytree(base / "inc", warehouse)
    fields = dict(fields, paid_amount="2.34")
    correction = (landing / "pos" / "order_lines" / f"dt={LAST}"
                  / f"pos_{fields['store_code']}_{START:%Y%m%d}_correction_2.csv")
    correction.write_text(",".join(fields) + "\n" + ",".join(fields.values()) + "\n",
                          encoding="utf-8")
    ok(memberdw_run(landing, warehouse))
    assert build_state(warehouse, "marts") == (None,)
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        touched = set(con.execute("select channel, store_code, business_date"
                                  " from intermediate.int_store_dates_touched").fetchall())
        store_days = set(con.execute("select channel, store_code, business_date"
                                     " from marts.mart_sales_reconciliation").fetchall())
        (ticket_day,) = con.execute(
            "select order_date from marts.fct_orders where order_id = ?",
            [f"pos:{fields['store_code']}:{fields['order_no']}"]).fetchone()
    finally:
        con.close()
    assert ticket_day == START
    assert ("pos", fields["store_code"], ticket_day) in touched
    assert touched < store_days, (len(touched), len(store_days))
    shutil.copy(warehouse / "warehouse.duckdb", tmp_path / "incremental.duckdb")
    pipeline.transform(warehouse, select=" ".join(RECONCILIATION), full_refresh=True)
    con = duckdb.connect()
    con.execute(f"attach '{tmp_path / 'incremental.duckdb'}' as inc (read_only)")
    con.execute(f"attach '{warehouse / 'warehouse.duckdb'}' as full_build (read_only)")
    try:
        differing = {t: d for t in RECONCILIATION if (d := _differences(con, "marts", t)) != (0, 0)}
        (superseded,) = con.execute(
            "select superseded_rows from inc.marts.mart_sales_reconciliation where channel = 'pos'"
            " and store_code = ? and business_date = ?", [fields["store_code"], START]).fetchone()
    finally:
        con.close()
    assert differing == {}
    assert superseded >= 2  # the ticket line's first version and the first correction


# Mini-program KPIs by touched date (int_miniapp_visitor_days, mart_miniapp_daily)
EARLY = START + timedelta(days=1)
LATE_EVENT_ID = "EVLATE0000001"


def _day_events(landing, day):
    """The day's events as delivered (the generator plants some broken lines: left out)."""
    import json

    events = []
    for file in sorted((landing / "miniapp" / "events" / f"dt={day}").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return [event for event in events if isinstance(event, dict)]


@pytest.fixture(scope="module")
def late_events(tmp_path_factory):
    """The last day arrives with a late mini-program events file for the second day: a new
    event of a visitor whose first visit was later (their first visit moves back to the
    second day), and a re-delivery moving an event of the third day to the second (its
    earlier version's day changes too)."""
    import json

    base, landing, _ = built_up_to_the_last_day(tmp_path_factory, "late_events")
    first_day = {}
    for offset in range(DAYS - 1):
        for event in _day_events(landing, START + timedelta(days=offset)):
            if event.get("openid"):
                first_day.setdefault(event["openid"], offset)
    visitor = next(openid for openid, offset in first_day.items() if offset >= 3)
    late = {**next(e for e in _day_events(landing, START + timedelta(days=first_day[visitor]))
                   if e.get("openid") == visitor),
            "event_id": LATE_EVENT_ID, "event_time": f"{EARLY}T10:00:00+08:00",
            "event_name": "page_view"}
    moved = {**next(e for e in _day_events(landing, START + timedelta(days=2)) if e.get("openid")),
             "event_time": f"{EARLY}T11:00:00+08:00"}
    late_file = (landing / "miniapp" / "events" / f"dt={LAST}" / f"events_{EARLY:%Y%m%d}_late.jsonl")
    late_file.write_text(json.dumps(late) + "\n" + json.dumps(moved) + "\n", encoding="utf-8")
    ok(memberdw_run(landing, base / "inc"))
    ok(memberdw_run(landing, base / "full"))
    yield base


def test_a_late_events_file_rebuilds_only_the_dates_it_reaches(late_events):
    base = late_events
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        event_dates = {d for (d,) in con.execute(
            "select event_date from intermediate.int_miniapp_event_dates_touched").fetchall()}
        daily_dates = {d for (d,) in con.execute(
            "select activity_date from intermediate.int_miniapp_daily_dates_touched").fetchall()}
        order_dates = {d for (d,) in con.execute(
            "select built_order_date from intermediate.int_orders_touched where order_id like"
            " 'mp:%' union select order_date from intermediate.int_orders_unioned where"
            " channel = 'miniapp' and order_id in (select order_id from"
            " intermediate.int_orders_touched)").fetchall() if d is not None}
        first_visits = con.execute(
            "select count(*), min(first_visit_date), max(first_visit_date), min(event_date)"
            " from intermediate.int_miniapp_visitor_days where openid_hash = (select openid_hash"
            " from staging.stg_miniapp__events where event_id = ?)", [LATE_EVENT_ID]).fetchone()
        moved = con.execute("select first_visit_date, built_first_visit_date from"
                            " intermediate.int_miniapp_visitors_touched where openid_hash ="
                            " (select openid_hash from staging.stg_miniapp__events"
                            " where event_id = ?)", [LATE_EVENT_ID]).fetchone()
    finally:
        con.close()
    days = [START + timedelta(days=offset) for offset in range(DAYS)]
    # the late file's day, the day the re-delivered event was on before, the last day
    assert event_dates == {days[1], days[2], days[-1]}
    # the dates whose trailing 30 days hold one (every date from the late day on) and those
    # of touched mini-program orders; the first day only if an order of it changed
    assert daily_dates == set(days[1:]) | order_dates
    # the visitor's first visit moved back to the late day, on all their days
    assert first_visits[0] >= 2 and first_visits[1:] == (days[1], days[1], days[1])
    assert moved[0] == days[1] and moved[1] > days[2]


@pytest.mark.parametrize("file,schemas", [
    ("warehouse.duckdb", ("staging", "intermediate")),
    ("marts.duckdb", ("main",)),
])
def test_a_late_events_file_builds_what_a_full_build_does(late_events, file, schemas):
    tables, differing = compare_with_full_build(late_events, file, schemas)
    assert {"int_miniapp_visitor_days", "mart_miniapp_daily"} & tables
    assert differing == {}


def deliver_member_version(landing, member_id, day, name, **changes):
    """A CRM file ``name`` delivered on ``day`` with a new version of ``member_id``: its
    newest delivered record with ``changes``, updated at 09:00 that day."""
    import csv

    versions = [row for path in sorted(landing.glob("crm/members/dt=*/*.csv"))
                for row in csv.DictReader(path.open(encoding="utf-8-sig"))
                if row.get("member_id") == member_id and None not in row]
    record = versions[-1]
    with (landing / "crm" / "members" / f"dt={day}" / name).open("w", encoding="utf-8",
                                                                  newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(record))
        writer.writeheader()
        writer.writerow({**record, **changes, "updated_at": f"{day} 09:00:00"})


# ------------------------------------------- campaign outcomes: closed campaigns keep their rows

CAMPAIGN_DAYS = 9  # the generator's first campaigns end by the 7th and 8th day


@pytest.fixture(scope="module")
def member_moved(tmp_path_factory):
    """The last day (the 9th of 10 generated: no erasure request) brings a new CRM version
    of a member assigned to the campaign that ended first: registered at another store, in
    another region. That campaign's window closed before every order the day brings."""
    base, landing, _ = built_up_to_the_last_day(tmp_path_factory, "member_moved", CAMPAIGN_DAYS,
                                                generated_days=CAMPAIGN_DAYS + 1)
    last = (START + timedelta(days=CAMPAIGN_DAYS - 1)).isoformat()
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        campaign_id, member_id, store_code, region = con.execute(
            "select o.campaign_id, o.member_id, o.store_code, o.region"
            " from intermediate.int_campaign_member_outcomes as o"
            " join intermediate.int_campaign_windows using (campaign_id)"
            " join staging.stg_crm__members as m on o.member_id = m.member_id"
            " where o.arm in ('treatment', 'control') and o.region <> 'unknown'"
            " and not m.is_deleted order by end_date, o.campaign_id, o.member_id limit 1"
        ).fetchone()
        (new_store,) = con.execute(
            "select min(store_code) from staging.stg_stores__stores where region <> ?",
            [region]).fetchone()
    finally:
        con.close()
    deliver_member_version(landing, member_id, last, "member_moved.csv",
                           register_store_code=new_store)
    ok(memberdw_run(landing, base / "inc"))
    ok(memberdw_run(landing, base / "full"))
    yield base, campaign_id, member_id, new_store


def test_a_closed_campaign_recomputes_only_the_members_whose_record_changed(member_moved):
    base, campaign_id, member_id, new_store = member_moved
    assert build_state(base / "inc", "marts") == (None,)
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        campaigns = {c for (c,) in con.execute(
            "select campaign_id from intermediate.int_campaigns_touched").fetchall()}
        members = {m for (m,) in con.execute(
            "select member_id from intermediate.int_member_attributes_touched").fetchall()}
        all_campaigns = {c for (c,) in con.execute(
            "select campaign_id from intermediate.int_campaign_windows").fetchall()}
        row = con.execute("select store_code from intermediate.int_campaign_member_outcomes"
                          " where campaign_id = ? and member_id = ?",
                          [campaign_id, member_id]).fetchone()
        # no erasure that day: the build's change lists are kept (an erasure's build
        # empties them)
        assert not incremental.marts_position(con).get("erased")
    finally:
        con.close()
    assert campaign_id in all_campaigns - campaigns  # kept, but for the changed members
    assert member_id in members
    assert row == (new_store,)


@pytest.mark.parametrize("file,schemas", [
    ("warehouse.duckdb", ("staging", "intermediate")),
    ("marts.duckdb", ("main",)),
])
def test_campaign_outcomes_built_incrementally_equal_a_full_build(member_moved, file, schemas):
    tables, differing = compare_with_full_build(member_moved[0], file, schemas)
    assert {"int_campaign_member_outcomes", "mart_campaign_retrospective"} & tables
    assert differing == {}


# ------------------------------------------------------------------ an erasure, incrementally

@pytest.fixture(scope="module")
def erased(tmp_path_factory):
    """The last day brings the CRM's erasure request (deleted = 1) for the member with the
    most POS lines before it: the daily run stays incremental."""
    base, landing, _ = built_up_to_the_last_day(tmp_path_factory, "erased")
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        (member_id,) = con.execute(
            "select member_id from staging.stg_pos__order_lines where member_id in (select"
            " member_id from staging.stg_crm__members where not is_deleted) group by 1"
            " order by count(*) desc, 1 limit 1").fetchone()
    finally:
        con.close()
    deliver_member_version(landing, member_id, LAST, "erasure_request.csv", deleted="1")
    ok(memberdw_run(landing, base / "inc"))
    ok(memberdw_run(landing, base / "full"))
    yield base, member_id


def test_an_erasure_leaves_the_daily_run_incremental_and_the_serving_file_new(erased):
    base, member_id = erased
    assert build_state(base / "inc") == (None,)
    assert build_state(base / "inc", "marts") == (None,)
    con = duckdb.connect(str(base / "inc" / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from meta.erasure_log where member_id = ?",
                           [member_id]).fetchone() == (1,)
        # gone under their key from every staging table keyed by a member
        for table in ("stg_crm__members", "stg_marketing__campaign_audience",
                      "stg_marketing__campaign_touches", "stg_pos__order_lines"):
            assert con.execute(f"select count(*) from staging.{table} where member_id = ?",
                               [member_id]).fetchone() == (0,), table
        # the lists of what the build rebuilt named the member as they were: emptied
        lists = [t for (t,) in con.execute("select table_name from duckdb_tables()"
                                           " where table_name like 'int%touched'").fetchall()]
        rows = {t: con.execute(f"select count(*) from intermediate.{t}").fetchone()[0]
                for t in lists}
    finally:
        con.close()
    assert "int_orders_touched" in rows and set(rows.values()) == {0}, rows
    serving = duckdb.connect(str(base / "inc" / "marts.duckdb"), read_only=True)
    try:  # written anew, not a copy with the erased values in its freed blocks
        assert serving.execute("select delta_of from publication").fetchone() == (None,)
    finally:
        serving.close()


@pytest.mark.parametrize("file,schemas", [
    ("warehouse.duckdb", ("staging", "intermediate")),
    ("marts.duckdb", ("main",)),
])
def test_an_erasure_built_incrementally_equals_a_full_build(erased, file, schemas):
    base, _ = erased
    tables, differing = compare_with_full_build(base, file, schemas)
    assert len(tables) > 10
    assert differing == {}

"""Erasure reaches everything: a member with orders (by card, by typed mobile, in the
mini-program), coupons, campaign audience and touches, points, events, a referral and two
rejected rows is published by a first run; the CRM then asks for their erasure, with a late
POS file for them in the same delivery; a third run brings one more late file. After it,
no file under the warehouse (the DuckDB files, dbt's target and logs, Great Expectations'
stores and Data Docs, the audit page, the Airflow metadata database and logs) holds their
name, their mobile in any contract format, their unionid, openid or any keyed hash of
them, and no table holds their member_id except the erasure log; their facts stay, on the
tombstone member_id, and every total still reconciles. A second member's erasure request
is itself rejected (an impossible birthday): it is carried out all the same.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from memberdw import erasure, pii, warehouse
from memberdw.generate import generate
from test_marts import memberdw_run

MEMBERS, DAYS, SEED = 300, 10, 11
START = date(2026, 10, 1)
END = START + timedelta(days=DAYS - 1)
TOMBSTONE = "ERASED"

MEMBER_ID = "M9900001"
NAME = "欧阳抹除"
MOBILE = "13977712345"
UNIONID = "oUerasureTestUnionid000000001"
OPENID = "oMerasureTestOpenid0000000001"
REFERRED_ID = "M9900002"  # a live member the erased one referred
# A second member, whose erasure request is itself rejected (an impossible birthday): a
# request all the same.
SECOND = {"member_id": "M9900003", "name": "司马清除", "mobile": "13977754321",
          "unionid": "oUerasureTestUnionid000000003", "openid": "oMerasureTestOpenid0000000003"}


def formats(mobile: str) -> list[str]:
    return [mobile, f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}",
            f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", f"86{mobile}", f"+86{mobile}"]


def needles() -> dict[str, bytes]:
    """Every form of the two people's data a file could hold."""
    found = {}
    for person in ({"name": NAME, "mobile": MOBILE, "unionid": UNIONID, "openid": OPENID},
                   SECOND):
        found |= {f"mobile {m}": m.encode() for m in formats(person["mobile"])}
        found |= {f"name {person['name']}": person["name"].encode("utf-8"),
                  f"name {person['name']} (GB18030)": person["name"].encode("gb18030")}
        for kind in ("mobile", "unionid", "openid"):
            found[f"{kind} {person[kind]}"] = person[kind].encode()
            found[f"{kind} hash of {person[kind]}"] = pii.pii_hash(person[kind]).encode()
    return found


def append_csv(folder: Path, name: str, rows: list[dict]) -> None:
    """A new file beside the generator's in ``folder`` (a dt folder), same header."""
    folder.mkdir(parents=True, exist_ok=True)
    header = next(csv.reader((next(folder.parent.glob("dt=*/*.csv"))).open(encoding="utf-8")))
    with (folder / name).open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows)
    (folder / "_SUCCESS").touch()


def append_jsonl(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                               encoding="utf-8")
    (folder / "_SUCCESS").touch()


def crm_record(**changes) -> dict:
    return {"member_id": MEMBER_ID, "mobile": "139-7771-2345", "unionid": UNIONID,
            "openid": OPENID, "name": NAME, "gender": "女", "birthday": "1990-05-17",
            "province": "上海市", "city": "上海市", "register_time": "2026-01-05 10:00:00",
            "register_channel": "miniapp", "register_store_code": "", "referrer_member_id": "",
            "tier": "gold", "points_balance": "120", "sms_opt_in": "1",
            "updated_at": "2026-01-05 10:00:00", "deleted": "0", **changes}


def pos_line(store: str, order_no: str, day: date, **changes) -> dict:
    return {"store_code": store, "order_no": order_no, "line_no": "1",
            "order_time": f"{day} 15:00:00", "member_id": MEMBER_ID, "mobile": "",
            "sku_code": "SKU10001", "category": "T恤", "quantity": "1", "unit_price": "199",
            "discount_amount": "20", "paid_amount": "179.00", "coupon_code": "",
            "payment_method": "wechat_pay", "order_type": "sale", "original_order_no": "",
            **changes}


def plant_member(landing: Path) -> dict:
    """The member and their facts, delivered with the generator's data."""
    first = f"dt={START}"
    store = next(csv.DictReader(next((landing / "stores/stores").glob("dt=*/*.csv"))
                                .open(encoding="utf-8")))["store_code"]
    template = next(csv.DictReader(next((landing / "marketing/coupon_templates")
                                        .glob("dt=*/*.csv")).open(encoding="utf-8")))
    campaign = next(csv.DictReader(next((landing / "marketing/campaigns").glob("dt=*/*.csv"))
                                   .open(encoding="utf-8")))["campaign_id"]
    referred = crm_record(member_id=REFERRED_ID, mobile="13977700000",
                          unionid="oUerasureTestReferred00000001",
                          openid="oMerasureTestReferred00000001", name="钱多多",
                          referrer_member_id=MEMBER_ID)
    second = crm_record(**(SECOND | {"mobile": formats(SECOND["mobile"])[1]}))
    append_csv(landing / "crm/members" / first, "planted.csv", [
        crm_record(), referred, second,
        crm_record(birthday="1990-13-45", updated_at="2026-01-06 10:00:00"),  # rejected
    ])
    day = START + timedelta(days=2)
    coupon = "CQERASE00001"
    append_csv(landing / "pos/order_lines" / f"dt={day}", f"planted_{store}.csv", [
        pos_line(store, "ERASE-0001", day, coupon_code=coupon),
        pos_line(store, "ERASE-0002", day, member_id="", mobile="+86 139 7771 2345"),
        pos_line(store, "ERASE-0003", day, quantity="x", mobile="8613977712345"),  # rejected
        pos_line(store, "ERASE-0006", day, member_id=SECOND["member_id"]),
    ])
    append_csv(landing / "marketing/coupon_issues" / first, "planted.csv", [{
        "coupon_code": coupon, "template_id": template["template_id"], "member_id": MEMBER_ID,
        "campaign_id": campaign, "issued_at": f"{START}T09:00:00+08:00",
        "claimed_at": f"{START}T10:00:00+08:00", "channel": "sms",
        "expires_at": f"{START + timedelta(days=30)}T09:00:00+08:00"}])
    append_csv(landing / "marketing/coupon_redemptions" / f"dt={day}", "planted.csv", [{
        "coupon_code": coupon, "member_id": MEMBER_ID, "redeemed_at": f"{day}T15:00:00+08:00",
        "order_ref": "ERASE-0001", "store_code": store, "discount_amount": "20"}])
    append_csv(landing / "marketing/campaign_audience" / first, "planted.csv", [{
        "campaign_id": campaign, "member_id": MEMBER_ID, "group": "treatment",
        "assigned_at": f"{START}T08:00:00+08:00"}])
    append_csv(landing / "marketing/campaign_touches" / first, "planted.csv", [{
        "campaign_id": campaign, "member_id": MEMBER_ID, "channel": "sms",
        "sent_at": f"{START}T10:00:00+08:00", "delivered": "1", "opened_at": "",
        "clicked_at": ""}])
    append_csv(landing / "points/ledger" / first, "planted.csv", [{
        "entry_id": "PLERASE00001", "member_id": MEMBER_ID, "occurred_at": f"{START} 12:00:00",
        "points": "50", "reason": "campaign_bonus", "campaign_id": campaign, "gift_sku": "",
        "gift_cost": ""}])
    paid = f"{day}T20:00:00+08:00"
    append_jsonl(landing / "miniapp/orders" / f"dt={day}", "planted.jsonl", [{
        "order_id": "MOERASE000001", "openid": OPENID, "unionid": UNIONID, "member_id": None,
        "store_code": store, "created_at": paid, "paid_at": paid, "updated_at": paid,
        "status": "paid", "items": [{"sku_code": "SKU10002", "category": "T恤", "quantity": 1,
                                     "unit_price": "99", "paid_amount": "99.00"}],
        "coupon_codes": [], "total_paid": "99.00", "shared_by_openid": OPENID}])
    append_jsonl(landing / "miniapp/events" / f"dt={day}", "planted.jsonl", [
        {"event_id": "EVERASE0000001", "openid": OPENID, "unionid": UNIONID,
         "event_time": paid, "event_name": "share", "page": "product_detail"},
        {"event_id": "EVERASE0000002", "openid": "oMsomeoneElse000000000000001",
         "event_time": paid, "event_name": "page_view", "page": "product_detail",
         "shared_by_openid": OPENID},
    ])
    return {"store": store}


def erasure_request(landing: Path, store: str) -> None:
    """The CRM's erasure (deleted = 1, the record still filled in) and, in the same
    delivery, a POS file from a till that was offline."""
    day = END + timedelta(days=1)
    append_csv(landing / "crm/members" / f"dt={day}", "erasure.csv", [
        crm_record(updated_at=f"{day} 09:00:00", deleted="1"),
        crm_record(**SECOND, birthday="1990-02-30", updated_at=f"{day} 09:00:00", deleted="1"),
    ])
    append_csv(landing / "pos/order_lines" / f"dt={day}", f"late_{store}.csv",
               [pos_line(store, "ERASE-0004", END, mobile="13977712345")])


def late_file(landing: Path, store: str) -> None:
    day = END + timedelta(days=2)
    append_csv(landing / "pos/order_lines" / f"dt={day}", f"late_{store}.csv",
               [pos_line(store, "ERASE-0005", END)])


def query(path: Path, sql: str, params=()):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def text_hits(path: Path, values: list[str]) -> list[tuple]:
    """(schema.table, column, value) for every text value of every table in a DuckDB file
    that contains one of ``values``: what a byte search cannot see through compression."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where data_type in ('VARCHAR', 'JSON') and table_catalog = current_database()"
        ).fetchall()
        hits = []
        for schema, table, column in columns:
            for value in values:
                (n,) = con.execute(f'select count(*) from "{schema}"."{table}"'
                                   f' where contains("{column}"::varchar, ?)', [value]).fetchone()
                if n:
                    hits.append((f"{schema}.{table}", column, value))
        return hits
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("erasure")
    landing, wh = base / "landing", base / "wh"
    generate(landing, members=MEMBERS, days=DAYS, seed=SEED, start=START)
    planted = plant_member(landing)
    results = {"store": planted["store"]}
    for step in ("live", "erased", "late"):
        if step == "erased":
            erasure_request(landing, planted["store"])
        if step == "late":
            late_file(landing, planted["store"])
        with pytest.MonkeyPatch.context() as env:  # the working file rewritten at once
            env.setenv(erasure.COMPACT_AFTER_VARIABLE, "0")
            run = memberdw_run(landing, wh)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        serving = wh / "marts.duckdb"
        results[step] = {
            "stdout": run.stdout,
            "gmv": query(serving, "select sum(gmv_amount), count(*) from fct_orders")[0],
            "quarantined": query(wh / "warehouse.duckdb",
                                 "select reason, count(*) from meta.quarantine group by 1"
                                 " order by 1"),
            "dim": query(serving, "select count(*) from dim_members")[0][0],
        }
        if step == "live":
            results["live_hits"] = text_hits(serving, [pii.pii_hash(MOBILE)])
            results["live_member"] = query(
                serving, "select count(*) from fct_orders where member_id = ?", [MEMBER_ID])
    return wh, results


def test_the_planted_member_was_published_before_the_erasure(runs):
    _, results = runs
    assert results["live_hits"], "the planted mobile's hash should be in dim_members"
    assert results["live_member"][0][0] == 3  # two POS tickets and the mini-program order


def test_no_file_under_the_warehouse_holds_the_person(runs):
    wh, _ = runs
    files = [p for p in wh.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in files}
    assert {".duckdb", ".json", ".html", ".db", ".log"} <= kinds, kinds  # all were searched
    hits = [(str(p.relative_to(wh)), label) for p in files
            for label, needle in needles().items() if needle in p.read_bytes()]
    assert hits == []


def test_no_table_holds_the_person_or_points_at_them(runs):
    wh, _ = runs
    values = [n.decode("utf-8") for label, n in needles().items() if "GB18030" not in label]
    ids = [MEMBER_ID, SECOND["member_id"]]
    assert text_hits(wh / "marts.duckdb", values + ids) == []
    assert text_hits(wh / "warehouse.duckdb", values) == []
    # the member_ids are left only where the requests are recorded
    assert sorted(text_hits(wh / "warehouse.duckdb", ids)) == [
        ("meta.erasure_log", "member_id", i) for i in ids]


def test_their_facts_stay_on_the_tombstone_and_totals_reconcile(runs):
    wh, results = runs
    serving = wh / "marts.duckdb"
    store = results["store"]
    orders = dict(query(serving, "select order_id, member_id from fct_orders"
                                 " where order_id like '%ERASE%'"))
    # card sales on the tombstone; sales linked by a typed mobile or an openid only are sales
    # to no member, as for every erased member
    assert orders == {**{f"pos:{store}:ERASE-000{n}": TOMBSTONE for n in (1, 4, 5, 6)},
                      f"pos:{store}:ERASE-0002": None, "mp:MOERASE000001": None}
    # the erasure moved no yuan: GMV grew by exactly the two late tickets (179.00 each)
    live, erased, late = (results[s]["gmv"] for s in ("live", "erased", "late"))
    assert erased[0] - live[0] == 179 and late[0] - erased[0] == 179
    assert (erased[1] - live[1], late[1] - erased[1]) == (1, 1)
    assert results["erased"]["dim"] == results["live"]["dim"] - 2
    assert query(serving, "select sum(unexplained_amount) from mart_sales_reconciliation") \
        == [(0,)]
    working = wh / "warehouse.duckdb"
    for table in ("stg_marketing__coupon_issues", "stg_marketing__coupon_redemptions",
                  "stg_marketing__campaign_touches", "stg_points__ledger"):
        assert query(working, f"select count(*) from staging.{table} where member_id = ?",
                     [TOMBSTONE])[0][0] >= 1, table
    # a member the erased one referred stays, referred by the tombstone
    assert query(working, "select referrer_member_id from staging.stg_crm__members"
                          " where member_id = ?", [REFERRED_ID]) == [(TOMBSTONE,)]


def test_quarantine_keeps_the_rejected_rows_masked(runs):
    wh, results = runs
    live, erased, late = (dict(results[s]["quarantined"]) for s in ("live", "erased", "late"))
    assert late == erased == live | {"invalid_date": live.get("invalid_date", 0) + 1}
    rows = [r for (r,) in query(wh / "warehouse.duckdb",
                                "select raw_record from meta.quarantine"
                                " where contains(raw_record, 'ERASE-0003')"
                                " or contains(raw_record, '1990-13-45')"
                                " or contains(raw_record, '1990-02-30')")]
    assert len(rows) == 3
    for row in rows:
        assert "[erased]" in row and TOMBSTONE in row


def test_the_erasure_log_says_what_was_done_without_personal_data(runs):
    wh, results = runs
    working = wh / "warehouse.duckdb"
    logged = query(working, "select member_id, requested_at is not null,"
                            " erased_at <= compacted_at from meta.erasure_log"
                            " where member_id in (?, ?) order by 1",
                   [MEMBER_ID, SECOND["member_id"]])
    assert logged == [(MEMBER_ID, True, True), (SECOND["member_id"], True, True)]
    published = query(wh / "marts.duckdb",
                      "select run_id, members_erased, table_name, column_name, rows_changed"
                      " from mart_erasure_log order by ran_at, table_name, column_name")
    by_run = {}
    for run_id, members, table, column, rows in published:
        by_run.setdefault(run_id, {"members": members, "changes": {}})
        if table:
            by_run[run_id]["changes"][f"{table}.{column}"] = rows
    first, erasure, late = by_run.values()  # one pass per run
    assert (erasure["members"], late["members"]) == (2, 0)
    for column in ("raw.crm__members.personal_fields", "raw.crm__members.member_id",
                   "raw.crm__members.referrer_member_id", "raw.pos__order_lines.member_id",
                   "raw.pos__order_lines.mobile", "raw.miniapp__orders.openid",
                   "raw.miniapp__orders.unionid", "raw.miniapp__orders.shared_by_openid",
                   "raw.miniapp__events.openid", "raw.miniapp__events.unionid",
                   "raw.miniapp__events.shared_by_openid",
                   "raw.marketing__coupon_issues.member_id",
                   "raw.marketing__coupon_redemptions.member_id",
                   "raw.marketing__campaign_audience.member_id",
                   "raw.marketing__campaign_touches.member_id", "raw.points__ledger.member_id",
                   "meta.quarantine.raw_record"):
        assert erasure["changes"].get(column, 0) >= 1, (column, erasure["changes"])
    # the third run re-keyed the late line only
    assert late["changes"] == {"raw.pos__order_lines.member_id": 1}
    # and the run summaries said so
    assert "erased: 2 member(s) on request, " in results["erased"]["stdout"]
    assert "erased: 0 member(s) on request, 1 rows re-keyed or cleared" \
        in results["late"]["stdout"]


def test_the_rewrite_waits_until_the_oldest_erasure_is_due(tmp_path, monkeypatch):
    """The working file is rewritten once the oldest erasure not yet compacted is
    MEMBERDW_COMPACT_AFTER_DAYS old (default 7), not on every day that brings one."""
    con = warehouse.connect(tmp_path)
    try:
        con.execute("insert into meta.erasure_log (member_id, requested_at, request_file,"
                    " erased_at, run_id) values ('M1', now(), 'a.csv', now() - interval 3 day,"
                    " 'r1'), ('M2', now(), 'b.csv', now(), 'r2')")
    finally:
        con.close()

    def pending():
        return query(tmp_path / "warehouse.duckdb", "select count(*) from meta.erasure_log"
                                                    " where compacted_at is null")[0][0]

    monkeypatch.delenv(erasure.COMPACT_AFTER_VARIABLE, raising=False)
    assert erasure.compact(tmp_path) is False and pending() == 2
    monkeypatch.setenv(erasure.COMPACT_AFTER_VARIABLE, "2.5")  # the oldest is 3 days old
    assert erasure.compact(tmp_path) is True and pending() == 0
    monkeypatch.setenv(erasure.COMPACT_AFTER_VARIABLE, "0")
    assert erasure.compact(tmp_path) is False  # nothing pending
    monkeypatch.setenv(erasure.COMPACT_AFTER_VARIABLE, "soon")
    with pytest.raises(ValueError, match="MEMBERDW_COMPACT_AFTER_DAYS"):
        erasure.compact(tmp_path)

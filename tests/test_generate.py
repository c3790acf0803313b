"""The demo-data generator: deterministic, follows the landing contract to the letter, and
its truth file describes exactly what is on disk (including every planted defect)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from memberdw.contract import BY_KEY, ENTITIES
from memberdw.generate import generate

MEMBERS, DAYS, SEED = 800, 10, 11
START = date(2026, 10, 1)

MONEY = re.compile(r"-?\d+(\.\d{1,2})?")
INT = re.compile(r"-?\d+")
LOCAL_TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
ISO_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|\+08:00)")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
FLAG = re.compile(r"[01]")
MOBILE = re.compile(r"(\+?86)?1[3-9]\d{9}")
MOBILE_FORMATS = {
    "plain": re.compile(r"1[3-9]\d{9}"),
    "spaced": re.compile(r"\+86 1[3-9]\d \d{4} \d{4}"),
    "hyphen": re.compile(r"1[3-9]\d-\d{4}-\d{4}"),
    "cc": re.compile(r"861[3-9]\d{9}"),
}
TS_KIND_BY_SOURCE = {"crm": "local_ts", "pos": "local_ts", "points": "local_ts",
                     "miniapp": "iso_ts", "marketing": "iso_ts", "stores": None}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing")
    truth = generate(out, members=MEMBERS, days=DAYS, seed=SEED, start=START)
    return out, truth


@pytest.fixture(scope="module")
def data(landing):
    """Every delivered row, parsed: {entity: [(path, line, row_dict | None, raw)]}."""
    root, truth = landing
    rows = defaultdict(list)
    for rec in truth["files"]:
        for line, row, raw in read_rows(root, rec):
            rows[rec["entity"]].append((rec["path"], line, row, raw))
    return rows


def read_text(root: Path, rec: dict) -> str:
    data = (root / rec["path"]).read_bytes()
    if rec["encoding"] == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
        return data[3:].decode("utf-8")
    return data.decode(rec["encoding"])


def read_rows(root: Path, rec: dict):
    """(line number, parsed row or None when it cannot be parsed, raw) per data record."""
    text = read_text(root, rec)
    ent = BY_KEY[rec["entity"]]
    if ent.format == "jsonl":
        for i, line in enumerate(text.split("\n")[:-1], start=1):
            try:
                yield i, json.loads(line), line
            except json.JSONDecodeError:
                yield i, None, line
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    for record in reader:
        line = reader.line_num
        row = dict(zip(header, record)) if len(record) == len(header) else None
        yield line, row, record


def malformed_index(truth) -> dict:
    return {(m["path"], m["line"]): m for m in truth["malformed_rows"]}


def valid(kind: str, value, source: str) -> bool:
    if value is None or value == "":
        return True
    if kind == "text":
        return True
    if kind in ("local_ts", "iso_ts", "any_ts"):
        want = TS_KIND_BY_SOURCE[source] if kind == "any_ts" else kind
        pattern = LOCAL_TS if want == "local_ts" else ISO_TS
        if not pattern.fullmatch(value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    if kind == "mobile":
        return bool(MOBILE.fullmatch(value.replace(" ", "").replace("-", "")))
    if kind == "json_list":
        return isinstance(value, list)
    if kind == "order_items":
        return isinstance(value, list) and all(
            isinstance(it["quantity"], int) and isinstance(it["unit_price"], str)
            and MONEY.fullmatch(it["unit_price"]) and MONEY.fullmatch(it["paid_amount"])
            for it in value)
    pattern = {"int": INT, "money": MONEY, "date": DATE, "month": MONTH, "flag": FLAG}[kind]
    return bool(pattern.fullmatch(value))


def row_problem(entity_key: str, row: dict | None) -> tuple[str, str | None] | None:
    """The loader's verdict on one parsed row: None if it loads, else (reason, column)."""
    ent = BY_KEY[entity_key]
    if row is None:
        return ("invalid_json", None) if ent.format == "jsonl" else ("csv", None)
    for col in ent.columns:
        v = row.get(col.name)
        if col.required and (v is None or v == ""):
            return "missing_required", col.name
        if not valid(col.kind, v, ent.source):
            reason = {"int": "invalid_integer", "money": "invalid_money",
                      "local_ts": "invalid_timestamp", "iso_ts": "invalid_timestamp",
                      "any_ts": "invalid_timestamp", "mobile": "invalid_mobile",
                      "month": "invalid_month"}.get(col.kind, "invalid")
            return reason, col.name
    return None


def good_rows(data, truth, entity: str, complete_only: bool = True) -> list[dict]:
    bad = malformed_index(truth)
    skip = set(truth["incomplete_folders"]) if complete_only else set()
    dups = {d["path"] for d in truth["duplicate_files"]}
    return [row for path, line, row, _ in data[entity]
            if (path, line) not in bad and path.rsplit("/", 1)[0] not in skip and path not in dups]


def local_time(value: str) -> datetime:
    """Asia/Shanghai wall time of a contract timestamp."""
    if "T" not in value:
        return datetime.fromisoformat(value)
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (t - t.utcoffset() + timedelta(hours=8)).replace(tzinfo=None)


def to_cents(value: str) -> int:
    neg = value.startswith("-")
    whole, _, frac = value.lstrip("-").partition(".")
    cents = int(whole) * 100 + int((frac + "00")[:2])
    return -cents if neg else cents


# ----------------------------------------------------------------------------- layout

def test_every_entity_is_delivered_in_the_contract_layout(landing):
    root, truth = landing
    entities = {rec["entity"] for rec in truth["files"]}
    assert entities == {e.key for e in ENTITIES}
    end = START + timedelta(days=DAYS - 1)
    assert truth["start_date"] == START.isoformat() and truth["end_date"] == end.isoformat()
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                     if p.is_file() and p.name not in ("_SUCCESS", "_truth.json"))
    assert on_disk == sorted(rec["path"] for rec in truth["files"])
    for rec in truth["files"]:
        src, ent, folder, name = rec["path"].split("/")
        assert f"{src}/{ent}" == rec["entity"] and folder == f"dt={rec['dt']}"
        assert START <= date.fromisoformat(rec["dt"]) <= end
        suffix = ".jsonl" if BY_KEY[rec["entity"]].format == "jsonl" else ".csv"
        assert name.endswith(suffix)
        if rec["entity"] == "pos/order_lines" and not rec["duplicate_of"]:
            store, day = re.fullmatch(r"pos_(S\d{3})_(\d{8})\.csv", name).groups()
            assert day == rec["dt"].replace("-", "")
    # every day has a folder for the daily entities; files are never empty and never
    # byte-identical, except the planted resend
    for key in ("crm/members", "miniapp/orders", "miniapp/events", "points/ledger",
                "pos/order_lines", "marketing/coupon_issues", "marketing/campaign_touches",
                "marketing/campaign_audience", "marketing/coupon_redemptions"):
        assert len(list((root / key).glob("dt=*"))) == DAYS
    assert all(rec["rows"] > 0 for rec in truth["files"])
    shas = Counter(rec["sha256"] for rec in truth["files"])
    assert [n for n in shas.values() if n > 1] == [2]


def test_success_markers_and_the_incomplete_folder(landing):
    root, truth = landing
    folders = {p.relative_to(root).as_posix() for p in root.glob("*/*/dt=*")}
    assert {rec["path"].rsplit("/", 1)[0] for rec in truth["files"]} <= folders
    markers = {m["folder"] for m in truth["success_markers"]}
    assert len(truth["incomplete_folders"]) == 1
    incomplete = truth["incomplete_folders"][0]
    assert markers == folders - {incomplete}
    for folder in folders:
        marker = root / folder / "_SUCCESS"
        if folder == incomplete:
            assert not marker.exists()
        else:
            assert marker.read_bytes() == b""
    for m in truth["success_markers"]:
        dt = date.fromisoformat(m["folder"].rsplit("dt=", 1)[1])
        assert m["arrival_date"] == (dt + timedelta(days=1)).isoformat()


def test_truth_describes_every_file_on_disk(landing):
    root, truth = landing
    assert truth["files"] == sorted(truth["files"], key=lambda r: r["path"])
    for rec in truth["files"]:
        data = (root / rec["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rec["sha256"]
        assert len(data) == rec["bytes"]
        text = read_text(root, rec)
        if rec["encoding"] == "gb18030":
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
        elif rec["encoding"] == "utf-8":
            assert not data.startswith(b"\xef\xbb\xbf")
        ent = BY_KEY[rec["entity"]]
        if ent.format == "csv":
            assert ("\r\n" in text) == (rec["line_ending"] == "\r\n")
            if rec["line_ending"] == "\n":
                assert "\r" not in text
            lines = text.split(rec["line_ending"])
            assert lines[-1] == ""
            assert len(lines) - 2 == rec["rows"]
            header = next(csv.reader([lines[0]]))
            assert sorted(header) == sorted(ent.column_names)
            assert (header != ent.column_names) == rec["header_shuffled"]
        else:
            assert rec["line_ending"] == "\n" and not rec["header_shuffled"]
            assert text.count("\n") == rec["rows"] and (text == "" or text.endswith("\n"))


def test_defect_files_gb18030_bom_crlf_shuffled(landing):
    root, truth = landing
    by_path = {rec["path"]: rec for rec in truth["files"]}
    assert truth["gb18030_files"] and truth["bom_files"]
    for path in truth["gb18030_files"]:
        rec = by_path[path]
        assert rec["entity"] == "pos/order_lines" and rec["encoding"] == "gb18030"
        text = (root / path).read_bytes().decode("gb18030")
        assert re.search(r"[\u4e00-\u9fff]", text)
    for path in truth["bom_files"]:
        assert by_path[path]["encoding"] == "utf-8-sig"
    assert {r["path"] for r in truth["files"] if r["encoding"] == "gb18030"} == set(truth["gb18030_files"])
    assert {r["path"] for r in truth["files"] if r["encoding"] == "utf-8-sig"} == set(truth["bom_files"])
    assert any(r["line_ending"] == "\r\n" for r in truth["files"])
    assert any(r["header_shuffled"] for r in truth["files"])


def test_duplicate_file_is_the_same_bytes_under_another_name(landing):
    root, truth = landing
    assert len(truth["duplicate_files"]) == 1
    dup = truth["duplicate_files"][0]
    by_path = {rec["path"]: rec for rec in truth["files"]}
    a, b = by_path[dup["path"]], by_path[dup["duplicate_of"]]
    assert a["duplicate_of"] == b["path"] and b["duplicate_of"] is None
    assert a["path"] != b["path"] and a["entity"] == b["entity"] and a["dt"] >= b["dt"]
    assert (root / a["path"]).read_bytes() == (root / b["path"]).read_bytes()
    assert a["arrival_date"] > b["arrival_date"]
    assert [r["path"] for r in truth["files"] if r["duplicate_of"]] == [dup["path"]]


def test_late_file_arrives_days_after_its_folder_is_complete(landing):
    root, truth = landing
    assert len(truth["late_files"]) == 1
    late = truth["late_files"][0]
    rec = next(r for r in truth["files"] if r["path"] == late["path"])
    dt = date.fromisoformat(late["dt"])
    arrival = date.fromisoformat(late["arrival_date"])
    assert rec["arrival_date"] == late["arrival_date"] and 2 <= (arrival - dt).days <= 4
    assert rec["rows"] > 0 and not rec["duplicate_of"]
    # its rows are new: its store has no other file that day
    folder = late["path"].rsplit("/", 1)[0]
    store = re.search(r"pos_(S\d{3})_", late["path"]).group(1)
    same = [r for r in truth["files"] if r["path"].startswith(folder) and f"_{store}_" in r["path"]]
    assert same == [rec]
    # replay the deliveries: the folder is complete the next day, the file comes later
    arrived = lambda day: {r["path"] for r in truth["files"] if r["arrival_date"] <= day}  # noqa: E731
    marker = next(m for m in truth["success_markers"] if m["folder"] == folder)
    assert marker["arrival_date"] == (dt + timedelta(days=1)).isoformat()
    assert late["path"] not in arrived(marker["arrival_date"])
    assert late["path"] in arrived(late["arrival_date"])
    others = [r for r in truth["files"] if r["path"] not in (late["path"],) and not r["duplicate_of"]]
    assert all(date.fromisoformat(r["arrival_date"]) == date.fromisoformat(r["dt"]) + timedelta(days=1)
               for r in others)


# ----------------------------------------------------------------------------- content

def test_every_value_follows_the_contract_except_the_planted_rows(landing, data):
    root, truth = landing
    bad = malformed_index(truth)
    seen = set()
    for entity, rows in data.items():
        ent = BY_KEY[entity]
        for path, line, row, raw in rows:
            problem = row_problem(entity, row)
            planted = bad.get((path, line))
            if planted is None:
                assert problem is None, (path, line, problem, raw)
                if ent.format == "jsonl":
                    assert set(row) <= set(ent.column_names), (path, line)
                continue
            seen.add((path, line))
            reason, column = planted["reason"], planted["column"]
            if reason.startswith("csv_"):
                assert row is None and column is None
                header_len = len(next(csv.reader([read_text(root, next(
                    r for r in truth["files"] if r["path"] == path)).splitlines()[0]])))
                assert (len(raw) > header_len) == (reason == "csv_too_many_columns"), raw
            else:
                assert problem == (reason, column), (path, line, problem)
    assert seen == set(bad)


def test_malformed_rows_cover_every_reason_code(landing):
    _, truth = landing
    reasons = Counter(m["reason"] for m in truth["malformed_rows"])
    assert set(reasons) == {"csv_too_many_columns", "csv_missing_columns", "invalid_money",
                            "invalid_timestamp", "invalid_integer", "invalid_mobile",
                            "missing_required", "invalid_json", "invalid_month"}
    for m in truth["malformed_rows"]:
        assert (m["column"] is None) == (m["reason"].startswith("csv_") or m["reason"] == "invalid_json")
        assert m["path"].rsplit("/", 1)[0] not in truth["incomplete_folders"]
    # never two defects on one line
    assert len({(m["path"], m["line"]) for m in truth["malformed_rows"]}) == len(truth["malformed_rows"])


def test_expected_counts_match_the_files(landing):
    _, truth = landing
    incomplete = set(truth["incomplete_folders"])
    for key, exp in truth["expected"].items():
        recs = [r for r in truth["files"] if r["entity"] == key and not r["duplicate_of"]
                and r["path"].rsplit("/", 1)[0] not in incomplete]
        paths = {r["path"] for r in recs}
        malformed = sum(1 for m in truth["malformed_rows"] if m["path"] in paths)
        assert exp["rows_in_complete_folders"] == sum(r["rows"] for r in recs)
        assert exp["malformed"] == malformed
        assert exp["loadable"] == exp["rows_in_complete_folders"] - malformed
    incomplete_rows = sum(r["rows"] for r in truth["files"]
                          if r["path"].rsplit("/", 1)[0] in incomplete)
    assert incomplete_rows > 0


def test_money_is_decimal_text_in_mixed_styles(data, landing):
    _, truth = landing
    styles = Counter()
    for entity in ("pos/order_lines", "marketing/coupon_redemptions"):
        ent = BY_KEY[entity]
        money_cols = [c.name for c in ent.columns if c.kind == "money"]
        for row in good_rows(data, truth, entity):
            for c in money_cols:
                v = row[c]
                if v:
                    assert MONEY.fullmatch(v)
                    styles["." not in v and "0" or len(v.partition(".")[2])] += 1
    assert styles["0"] and styles[1] and styles[2]
    for row in good_rows(data, truth, "miniapp/orders"):
        assert isinstance(row["total_paid"], str) and MONEY.fullmatch(row["total_paid"])


def test_timestamps_fall_in_their_dt_and_use_both_offsets(data, landing):
    _, truth = landing
    offsets = Counter()
    checks = {"pos/order_lines": "order_time", "crm/members": "updated_at",
              "miniapp/events": "event_time", "miniapp/orders": "updated_at",
              "points/ledger": "occurred_at"}
    bad = malformed_index(truth)
    dups = {d["path"] for d in truth["duplicate_files"]}
    for entity, col in checks.items():
        for path, line, row, _ in data[entity]:
            if (path, line) in bad or path in dups:
                continue
            dt = path.split("dt=")[1][:10]
            value = row[col]
            offsets["Z" if value.endswith("Z") else "+08:00" if "+08:00" in value else "local"] += 1
            if entity == "crm/members" and dt == START.isoformat():
                # the first day's export carries every existing member (older updated_at)
                assert local_time(value).date() <= START
                continue
            assert local_time(value).date().isoformat() == dt, (path, line, value)
    assert offsets["Z"] and offsets["+08:00"] and offsets["local"]


def test_pos_lines_add_up_and_returns_point_at_real_tickets(data, landing):
    _, truth = landing
    rows = good_rows(data, truth, "pos/order_lines", complete_only=False)
    tickets = {(r["store_code"], r["order_no"]) for r in rows if r["order_type"] == "sale"}
    returns = set()
    non_member = typed = 0
    for r in rows:
        qty = int(r["quantity"])
        assert to_cents(r["paid_amount"]) == qty * to_cents(r["unit_price"]) - to_cents(r["discount_amount"])
        if r["order_type"] == "return":
            assert qty < 0 and to_cents(r["paid_amount"]) < 0
            assert (r["store_code"], r["original_order_no"]) in tickets
            returns.add((r["store_code"], r["order_no"]))
        else:
            assert qty > 0 and r["original_order_no"] == ""
        non_member += r["member_id"] == ""
        typed += r["member_id"] == "" and r["mobile"] != ""
        if r["coupon_code"]:
            assert to_cents(r["discount_amount"]) > 0
    assert len(returns) == truth["pos_returns"] > 0
    assert non_member and typed


def test_skewed_spend(data, landing):
    """Pareto-like: the top 20 % of members by GMV carry most of it."""
    _, truth = landing
    gmv = Counter()
    for r in good_rows(data, truth, "pos/order_lines"):
        if r["member_id"]:
            gmv[r["member_id"]] += to_cents(r["paid_amount"])
    members = np.sort(np.r_[np.array(list(gmv.values()), dtype=float),
                            np.zeros(MEMBERS - len(gmv))])[::-1]
    assert members[: MEMBERS // 5].sum() / members.sum() > 0.5
    buyers = np.sort(np.array([v for v in gmv.values() if v > 0], dtype=float))[::-1]
    assert buyers[: len(buyers) // 5].sum() / buyers.sum() > 0.4


def test_weekends_and_national_day_sell_more(data, landing):
    _, truth = landing
    per_day = Counter()
    for r in good_rows(data, truth, "pos/order_lines", complete_only=False):
        per_day[r["order_time"][:10]] += 1
    holiday = np.mean([per_day[f"2026-10-0{d}"] for d in (1, 2, 3)])
    normal = np.mean([per_day[f"2026-10-{d:02d}"] for d in (8, 9)])  # Thu, Fri
    assert holiday > 1.3 * normal


def test_planted_amount_outliers_are_the_only_3_sigma_orders(data, landing):
    _, truth = landing
    orders = Counter()
    for r in good_rows(data, truth, "pos/order_lines", complete_only=False):
        if r["order_type"] == "sale":
            orders[(r["store_code"], r["order_time"][:7], r["order_no"])] += to_cents(r["paid_amount"])
    groups = defaultdict(list)
    for (store, month, no), cents in orders.items():
        groups[(store, month)].append((no, cents))
    flagged = set()
    for (store, _), items in groups.items():
        values = np.array([c for _, c in items], dtype=float)
        if len(values) < 2 or values.std(ddof=1) == 0:
            continue
        z = (values - values.mean()) / values.std(ddof=1)
        flagged |= {(store, no) for (no, _), zz in zip(items, z) if abs(zz) > 3}
    planted = {(o["store_code"], o["order_no"]) for o in truth["amount_outliers"]}
    assert planted and flagged == planted


def test_duplicate_persons_share_one_normalised_mobile_or_unionid(data, landing):
    _, truth = landing
    latest = {}
    for r in good_rows(data, truth, "crm/members"):
        if r["member_id"] not in latest or r["updated_at"] >= latest[r["member_id"]]["updated_at"]:
            latest[r["member_id"]] = r
    by_mobile, by_union = defaultdict(set), defaultdict(set)
    formats = set()
    for mid, r in latest.items():
        if r["mobile"]:
            compact = r["mobile"].replace(" ", "").replace("-", "")
            by_mobile[compact[-11:]].add(mid)
            formats |= {name for name, p in MOBILE_FORMATS.items() if p.fullmatch(r["mobile"])}
        if r["unionid"]:
            by_union[r["unionid"]].add(mid)
    found = sorted([{"member_ids": sorted(ids), "via": via}
                    for via, groups in (("mobile", by_mobile), ("unionid", by_union))
                    for ids in groups.values() if len(ids) > 1],
                   key=lambda g: g["member_ids"])
    assert found == truth["duplicate_persons"]
    assert {g["via"] for g in found} == {"mobile", "unionid"}
    assert formats == set(MOBILE_FORMATS)
    for g in found:
        if g["via"] == "mobile":
            assert len({latest[i]["mobile"] for i in g["member_ids"]}) == len(g["member_ids"])
        else:
            assert any(latest[i]["mobile"] == "" for i in g["member_ids"])


def test_incomplete_profiles_deleted_members_and_gender_forms(data, landing):
    _, truth = landing
    key = ["mobile", "unionid", "name", "gender", "birthday", "city", "register_time",
           "register_channel", "register_store_code", "tier"]
    rows = good_rows(data, truth, "crm/members")
    incomplete = {r["member_id"] for r in rows if sum(r[k] == "" for k in key) > 2}
    assert sorted(incomplete) == truth["incomplete_profiles"] and incomplete
    assert sorted({r["member_id"] for r in rows if r["deleted"] == "1"}) == truth["deleted_members"]
    assert truth["deleted_members"]
    assert {r["gender"] for r in rows} == {"M", "F", "U", "男", "女", ""}
    assert all(re.fullmatch(r"M\d{7}", r["member_id"]) for r in rows)
    # every member appears, some more than once with a newer updated_at
    versions = Counter(r["member_id"] for r in rows)
    assert len(versions) == MEMBERS and max(versions.values()) >= 2
    for r in rows:
        assert r["name"] == "" or re.fullmatch(r"[\u4e00-\u9fff]{2,3}", r["name"])


def test_miniapp_orders_are_resent_on_every_status_change(data, landing):
    _, truth = landing
    by_order = defaultdict(list)
    for r in good_rows(data, truth, "miniapp/orders"):
        by_order[r["order_id"]].append(r)
    versions = sum(len(v) for v in by_order.values())
    assert truth["miniapp_order_versions"] == {"orders": len(by_order), "versions": versions}
    assert versions > len(by_order)
    allowed = {"created": {"paid", "cancelled"}, "paid": {"shipped", "refunded"},
               "shipped": {"completed", "refunded"}, "completed": {"refunded"},
               "cancelled": set(), "refunded": set()}
    refunded = 0
    for vs in by_order.values():
        vs.sort(key=lambda r: local_time(r["updated_at"]))
        for a, b in zip(vs, vs[1:]):
            assert b["status"] in allowed[a["status"]]
        refunded += vs[-1]["status"] == "refunded"
        assert all(v["items"] == vs[0]["items"] for v in vs)
    assert refunded == truth["miniapp_refunds"] > 0
    names = Counter(r["event_name"] for r in good_rows(data, truth, "miniapp/events"))
    assert set(names) == {"page_view", "product_view", "add_to_cart", "checkout_start",
                          "order_paid", "share", "coupon_claim"}
    assert names["product_view"] > names["add_to_cart"] > names["checkout_start"]


def test_coupon_redemptions_point_at_real_orders_and_coupons(data, landing):
    _, truth = landing
    pos = {r["order_no"] for r in good_rows(data, truth, "pos/order_lines", complete_only=False)}
    mini = {r["order_id"] for r in good_rows(data, truth, "miniapp/orders")}
    issued = {r["coupon_code"] for r in good_rows(data, truth, "marketing/coupon_issues")}
    reds = good_rows(data, truth, "marketing/coupon_redemptions")
    assert reds
    refs = Counter()
    for r in reds:
        assert r["coupon_code"] in issued
        refs["pos" if r["order_ref"] in pos else "mini" if r["order_ref"] in mini
             else "empty" if r["order_ref"] == "" else "unknown"] += 1
    assert refs["unknown"] == 0 and refs["pos"] and refs["mini"]
    audience = good_rows(data, truth, "marketing/campaign_audience")
    groups = defaultdict(set)
    for r in audience:
        groups[r["campaign_id"]].add(r["group"])
    assert any(g == {"treatment"} for g in groups.values())
    assert any(g == {"treatment", "control"} for g in groups.values())


def test_stores_snapshot(data, landing):
    _, truth = landing
    rows = good_rows(data, truth, "stores/stores")
    last = max(r for r in {p.split("dt=")[1][:10] for p, *_ in data["stores/stores"]})
    current = [r for p, _, r, _ in data["stores/stores"] if f"dt={last}" in p]
    assert 20 <= len(current) <= 40
    assert len({r["region"] for r in current}) >= 4
    assert any(r["store_type"] == "franchise" for r in current)
    assert sum(r["closed_on"] != "" for r in current) == 1
    assert rows


# ----------------------------------------------------------------------------- determinism

def test_same_arguments_give_identical_bytes(landing, tmp_path):
    _, truth = landing
    again = generate(tmp_path / "again", members=MEMBERS, days=DAYS, seed=SEED, start=START)
    assert again == truth
    assert json.loads((tmp_path / "again" / "_truth.json").read_text()) == truth
    other = generate(tmp_path / "other", members=MEMBERS, days=DAYS, seed=SEED + 1, start=START)
    assert {r["sha256"] for r in other["files"]} != {r["sha256"] for r in truth["files"]}
    changed = {r["path"] for r in other["files"]} & {r["path"] for r in truth["files"]}
    a = {r["path"]: r["sha256"] for r in truth["files"]}
    differ = sum(a[r["path"]] != r["sha256"] for r in other["files"] if r["path"] in changed)
    assert differ > len(changed) // 2


def test_output_does_not_depend_on_the_process(landing, tmp_path):
    """Another interpreter with another str hash seed writes the same bytes."""
    _, truth = landing
    code = ("import sys; from datetime import date; from pathlib import Path;"
            "from memberdw.generate import generate;"
            f"generate(Path(sys.argv[1]), {MEMBERS}, {DAYS}, {SEED}, date.fromisoformat('{START}'))")
    env = {**os.environ, "PYTHONHASHSEED": "12345",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "sub")], check=True, env=env)
    assert json.loads((tmp_path / "sub" / "_truth.json").read_text(encoding="utf-8")) == truth


def test_json_nulls_are_written_as_null_or_left_out(data, landing):
    _, truth = landing
    for entity in ("miniapp/orders", "miniapp/events"):
        rows = good_rows(data, truth, entity)
        keys = BY_KEY[entity].column_names
        assert any(None in row.values() for row in rows)
        assert any(set(row) < set(keys) for row in rows)


# ----------------------------------------------------------------------------- campaigns

def _by_campaign(rows, key="campaign_id"):
    out = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def test_campaign_truth_counts_match_the_files(data, landing):
    _, truth = landing
    camps = truth["campaigns"]
    audience = _by_campaign(good_rows(data, truth, "marketing/campaign_audience"))
    touches = _by_campaign(good_rows(data, truth, "marketing/campaign_touches"))
    assert set(audience) <= set(camps)
    for cid, c in camps.items():
        treat = {r["member_id"] for r in audience[cid] if r["group"] == "treatment"}
        ctrl = {r["member_id"] for r in audience[cid] if r["group"] == "control"}
        assert c["targeted_count"] == len(treat) and c["control_count"] == len(ctrl), cid
        assert c["has_control"] == bool(ctrl), cid
        t = touches[cid]
        assert c["reached_count"] == len({r["member_id"] for r in t if r["delivered"] == "1"})
        assert c["opened_count"] == len({r["member_id"] for r in t if r["opened_at"]})
        assert c["clicked_count"] == len({r["member_id"] for r in t if r["clicked_at"]})
        assert c["targeted_count"] >= c["reached_count"] >= c["opened_count"] >= c["clicked_count"]
        assert abs(c["expected_incremental_gmv_amount"]
                   - c["expected_incremental_gmv_per_member"] * c["targeted_count"]) < 0.05
    # no audience holds a later member_id of a duplicate person
    secondary = {i for g in truth["duplicate_persons"] for i in g["member_ids"][1:]}
    assert not secondary & {r["member_id"] for rows in audience.values() for r in rows}
    assert sum(not c["has_control"] for c in camps.values()) == 1
    zero = [c for c in camps.values() if c["uplift"] == 0]
    assert len(zero) == 1 and zero[0]["has_control"] and zero[0]["template_ids"] == []
    assert zero[0]["expected_conversion_lift"] == 0 and zero[0]["expected_incremental_gmv_amount"] == 0
    for c in camps.values():
        if c["uplift"] > 0 and c["targeted_count"]:
            assert c["expected_conversion_lift"] > 0 and c["expected_incremental_gmv_per_member"] > 0
    points = [c for c in camps.values() if c["scenario"] == "points"]
    assert len(points) == 1


def test_points_campaign_truth_matches_the_ledger(data, landing):
    _, truth = landing
    (cid, c), = [(k, v) for k, v in truth["campaigns"].items() if v["scenario"] == "points"]
    dup = {i: g["member_ids"][0] for g in truth["duplicate_persons"] for i in g["member_ids"]}
    gifts = [r for r in good_rows(data, truth, "points/ledger")
             if r["reason"] == "gift_redemption" and r["campaign_id"] == cid
             and c["start_date"] <= r["occurred_at"][:10] <= c["end_date"]]
    assert c["gifts_redeemed_count"] == len(gifts)
    assert c["gift_cost_amount"] == pytest.approx(sum(to_cents(r["gift_cost"]) for r in gifts) / 100)
    assert c["redeeming_member_count"] == len({dup.get(r["member_id"], r["member_id"]) for r in gifts})


def test_coupon_template_truth_matches_the_files(data, landing):
    _, truth = landing
    tpls = truth["coupon_templates"]
    end = datetime.fromisoformat(truth["end_date"]) + timedelta(days=1)
    issues = good_rows(data, truth, "marketing/coupon_issues")
    reds = good_rows(data, truth, "marketing/coupon_redemptions")
    tpl_of = {r["coupon_code"]: r["template_id"] for r in issues}
    issued, claimed, expires = defaultdict(set), defaultdict(set), {}
    for r in issues:
        issued[r["template_id"]].add(r["coupon_code"])
        if r["claimed_at"]:
            claimed[r["template_id"]].add(r["coupon_code"])
        expires[r["coupon_code"]] = local_time(r["expires_at"])
    rows = defaultdict(list)
    for r in reds:
        rows[tpl_of[r["coupon_code"]]].append(r)
    redeemed = {r["coupon_code"] for r in reds}
    for tid, t in tpls.items():
        assert t["issued_count"] == len(issued[tid]), tid
        assert t["claimed_count"] == len(claimed[tid]), tid
        assert t["redeemed_count"] == len({r["coupon_code"] for r in rows[tid]}), tid
        assert t["redemption_rows"] == len(rows[tid]), tid
        n_codes = Counter(r["coupon_code"] for r in rows[tid])
        assert t["duplicate_redemption_rows"] == sum(v - 1 for v in n_codes.values()), tid
        assert t["no_order_ref_rows"] == sum(r["order_ref"] == "" for r in rows[tid]), tid
        assert t["expired_unused_count"] == sum(
            1 for code in issued[tid] if code not in redeemed and expires[code] < end), tid
    assert sum(t["duplicate_redemption_rows"] for t in tpls.values()) >= 1
    faces = sorted((t["face_value"], t["claim_probability"], t["usage_probability"], t["campaign_id"])
                   for t in tpls.values() if t["coupon_type"] == "no_threshold" and t["campaign_id"]
                   and t["name"].startswith("周年庆"))
    assert [f[:3] for f in faces] == [(5.0, 0.5, 0.3), (10.0, 0.55, 0.4), (20.0, 0.6, 0.5)]
    assert len({f[3] for f in faces}) == 1
    assert truth["campaigns"][faces[0][3]]["has_control"]


def test_double_logged_redemptions_repeat_a_code_later_without_order_ref(data, landing):
    _, truth = landing
    reds = good_rows(data, truth, "marketing/coupon_redemptions")
    pos = {r["order_no"]: r["store_code"]
           for r in good_rows(data, truth, "pos/order_lines", complete_only=False)}
    by_code = defaultdict(list)
    for r in reds:
        by_code[r["coupon_code"]].append(r)
        if r["order_ref"] in pos:
            assert r["store_code"] == pos[r["order_ref"]]
    repeats = [sorted(v, key=lambda r: local_time(r["redeemed_at"])) for v in by_code.values()
               if len(v) > 1]
    assert repeats and len(repeats) <= max(1, round(0.03 * len(reds)))
    for first, again in repeats:
        gap = local_time(again["redeemed_at"]) - local_time(first["redeemed_at"])
        assert timedelta(minutes=1) <= gap <= timedelta(days=1)
        assert again["order_ref"] == "" and again["member_id"] == first["member_id"]
        assert again["discount_amount"] == first["discount_amount"]
    empty = sum(r["order_ref"] == "" for r in reds) - len(repeats)
    assert 0 < empty < 0.15 * len(reds)


def test_campaigns_at_size_have_big_control_groups_and_planted_claim_rates(tmp_path):
    truth = generate(tmp_path, members=2000, days=40, seed=7, start=START)
    camps = truth["campaigns"]
    big = [c for c in camps.values() if c["control_count"] >= 100 and c["targeted_count"] >= 100]
    assert len(big) >= 2
    zero = [c for c in camps.values() if c["uplift"] == 0]
    assert zero[0]["control_count"] >= 100 and zero[0]["targeted_count"] >= 100
    for t in truth["coupon_templates"].values():
        if t["campaign_id"] and t["name"].startswith("周年庆"):
            n, p = t["issued_count"], t["claim_probability"]
            assert n >= 50
            assert abs(t["claimed_count"] / n - p) < 4 * (p * (1 - p) / n) ** 0.5
            assert t["redeemed_count"] <= t["claimed_count"]


# ----------------------------------------------------------------------------- at scale

def test_bytes_do_not_depend_on_the_render_block_size(landing, tmp_path, monkeypatch):
    """Files are rendered in blocks of rows (bounded memory); any block size, the same bytes."""
    from memberdw.generate import render
    _, truth = landing
    monkeypatch.setattr(render, "RENDER_ROWS", 7)
    again = generate(tmp_path / "small_blocks", members=MEMBERS, days=DAYS, seed=SEED, start=START)
    assert again == truth


def test_progress_goes_to_stderr_only_when_asked_or_a_terminal(tmp_path, capfd):
    generate(tmp_path / "a", members=60, days=2, seed=3, start=START)  # stderr: not a tty
    assert capfd.readouterr().err == ""
    generate(tmp_path / "b", members=60, days=2, seed=3, start=START, quiet=False)
    err = capfd.readouterr().err
    assert "files" in err and "rows/s" in err
    generate(tmp_path / "c", members=60, days=2, seed=3, start=START, quiet=True)
    assert capfd.readouterr().err == ""


def test_byte_formatters_match_python_formatting():
    from memberdw.generate import text as X
    rng = np.random.default_rng(5)
    v = np.r_[rng.integers(-10**9, 10**9, 500), rng.integers(-150, 150, 300), 0, -1, 10**12]
    assert X.assemble([X.ints(v), X.const("\n")], len(v)).decode().split("\n")[:-1] == \
        [str(x) for x in v.tolist()]
    z = np.abs(v)
    assert X.assemble([X.ints(z, zero_width=7), X.const("\n")], len(z)).decode().split("\n")[:-1] \
        == [f"{x:07d}" for x in z.tolist()]
    short = rng.random(len(v)) < 0.5
    got = X.assemble(X.money(v, short) + [X.const("\n")], len(v)).decode().split("\n")[:-1]
    for cents, s, text in zip(v.tolist(), short.tolist(), got):
        sign = "-" if cents < 0 else ""
        y, c = divmod(abs(cents), 100)
        two = f"{sign}{y}.{c:02d}"
        want = (f"{sign}{y}" if c == 0 else f"{sign}{y}.{c // 10}" if c % 10 == 0 else two) if s else two
        assert text == want
    nums = np.array([13800138000, 0, 19912345678, 15000000001], dtype=np.int64)
    got = X.assemble(X.mobile(nums, np.array([1, 2, 2, 3])) + [X.const("\n")], 4).decode()
    assert got.split("\n")[:-1] == ["+86 138 0013 8000", "", "199-1234-5678", "8615000000001"]

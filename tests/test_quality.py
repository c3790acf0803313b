"""Data quality (memberdw.quality + expectations) on a hand-built warehouse and on
generated data.

The hand-built warehouse has the staging tables the suites read, with a few clean rows
each and one planted row (two for a duplicate key) per rule. Every planted row must come
back in meta.dq_row_flags under its rule, action, record key and source line, and nothing
else may; meta.dq_results must hold one row per expectation with GE's counts. The raw
CRM table holds a plain mobile number and name that staging never had: neither may reach
Data Docs, GE's stored results or the dq tables.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb
import pytest

from memberdw import quality, warehouse
from expectations import DATASETS
from memberdw.quality import QualityError

AS_OF = date(2026, 10, 31)
FUTURE = "2030-01-01 10:00:00"
RAW_ONLY_MOBILE = "13912345678"
RAW_ONLY_NAME = "欧阳锋"

# ---------------------------------------------------------------------------- the warehouse
# Each table: (DDL columns, rows). A row is (values..., planted) where planted is None for
# a clean row or the (dataset, rule) it must be flagged under. _source_file is
# "<table>.csv" and _source_line the row's position + 2 (header = 1).

TABLES: dict[str, tuple[str, list]] = {}


def table(name: str, columns: str, rows: list) -> None:
    TABLES[name] = (columns, rows)


table("stg_stores__stores",
      "store_code varchar, store_type varchar, opened_on date, closed_on date", [
          ("S001", "direct", "2020-01-01", None, None),
          ("S002", "franchise", "2021-01-01", "2026-12-31", None),
          ("S003", "direct", "2022-01-01", None, ("stores", "duplicate_key")),
          ("S003", "direct", "2022-01-01", None, ("stores", "duplicate_key")),
          ("S004", "popup", "2022-01-01", None, ("stores", "invalid_enum:store_type")),
          ("S005", "direct", "2022-05-01", "2022-04-30", ("stores", "invalid_date_range")),
      ])

table("stg_crm__members",
      "member_id varchar, mobile_hash varchar, unionid_hash varchar, name_masked varchar,"
      " gender varchar, birth_month bigint, city varchar, registered_at timestamp,"
      " register_channel varchar, register_store_code varchar, tier varchar,"
      " is_deleted boolean", [
          ("M001", "h1", "u1", "张*", "F", 3, "上海市", "2024-01-01 10:00:00", "store", "S001",
           "gold", False, None),
          ("M002", "h2", None, "李*", "M", 4, "上海市", "2024-02-01 10:00:00", "miniapp", None,
           "normal", False, None),  # two key fields missing: 20 %, not more
          ("M003", "h3", "u3", "王*", "U", 5, "北京市", "2024-03-01 10:00:00", "wecom", "S002",
           "silver", None, None),
          ("M004", None, None, None, "F", None, "上海市", "2024-04-01 10:00:00", "store", "S001",
           "normal", False, ("members", "incomplete_profile")),  # 4 of 10 missing
          ("M005", None, None, None, None, None, "上海市", "2024-05-01 10:00:00", "store",
           "S001", "normal", True, None),  # erased: not an incomplete profile
          ("M006", "h6", "u6", "赵*", "X", 6, "上海市", "2024-06-01 10:00:00", "store", "S001",
           "normal", False, ("members", "invalid_enum:gender")),
          ("M007", "h7", "u7", "钱*", "F", 7, "上海市", "2024-07-01 10:00:00", "tiktok", "S001",
           "normal", False, ("members", "invalid_enum:register_channel")),
          ("M008", "h8", "u8", "孙*", "F", 8, "上海市", "2024-08-01 10:00:00", "store", "S001",
           "diamond", False, ("members", "invalid_enum:tier")),
          ("M009", "h9", "u9", "周*", "F", 9, "上海市", FUTURE, "store", "S001",
           "normal", False, ("members", "future_date:registered_at")),
          ("M010", "h10", "u10", "吴*", "F", 10, "上海市", "2024-10-01 10:00:00", "store", "S999",
           "normal", False, ("members", "unknown_register_store")),
          ("M011", "h11", "u11", "郑*", "F", 11, "上海市", "2024-11-01 10:00:00", "store", "S001",
           "normal", False, ("members", "duplicate_in_delivery")),
          ("M011", "h11", "u11", "郑*", "F", 11, "上海市", "2024-11-01 10:00:00", "store", "S001",
           "normal", False, ("members", "duplicate_in_delivery")),
      ])

_POS = ("store_code varchar, order_no varchar, line_number bigint, ordered_at timestamp,"
        " member_id varchar, quantity bigint, paid_amount decimal(18,2),"
        " payment_method varchar, order_type varchar")
_normal_tickets = [("S002", f"B{i:02d}", 1, f"2026-10-{i:02d} 12:00:00", None, 1,
                    f"{90 + i}.00", "cash", "sale", None) for i in range(1, 16)]
table("stg_pos__order_lines", _POS, [
    ("S001", "P01", 1, "2026-10-01 10:00:00", "M001", 2, "100.00", "wechat_pay", "sale", None),
    ("S001", "P01", 2, "2026-10-01 10:00:00", "M001", 1, "50.00", "wechat_pay", "sale", None),
    ("S001", "R01", 1, "2026-10-03 10:00:00", "M001", -1, "-50.00", "alipay", "return", None),
    ("S001", "P02", 1, "2026-10-02 10:00:00", None, 1, "0.00", "points", "sale",
     ("pos_order_lines", "zero_price_line")),
    ("S001", "P03", 1, "2026-10-02 11:00:00", None, 1, "30.00", "cash", "sale",
     ("pos_order_lines", "duplicate_in_delivery")),
    ("S001", "P03", 1, "2026-10-02 11:00:00", None, 1, "30.00", "cash", "sale",
     ("pos_order_lines", "duplicate_in_delivery")),
    ("S001", "P10", 1, "2026-10-02 17:00:00", None, 0, "0.00", "cash", "sale",
     ("pos_order_lines", "zero_quantity")),
    ("S001", "P10", 2, "2026-10-02 17:00:00", None, 0, "3.00", "cash", "sale",
     ("pos_order_lines", "price_adjustment")),
    ("S001", "P04", 1, "2026-10-02 12:00:00", None, 1, "30.00", "cash", "exchange",
     ("pos_order_lines", "invalid_enum:order_type")),
    ("S001", "P05", 1, "2026-10-02 13:00:00", None, 1, "30.00", "bitcoin", "sale",
     ("pos_order_lines", "invalid_enum:payment_method")),
    ("S001", "R02", 1, "2026-10-04 10:00:00", None, 1, "-30.00", "cash", "return",
     ("pos_order_lines", "quantity_sign_mismatch")),
    ("S001", "P06", 1, "2026-10-02 14:00:00", None, 1, "-5.00", "cash", "sale",
     ("pos_order_lines", "amount_sign_mismatch")),
    ("S999", "P07", 1, "2026-10-02 15:00:00", None, 1, "30.00", "cash", "sale",
     ("pos_order_lines", "unknown_store")),
    ("S001", "P08", 1, "2026-10-02 16:00:00", "M404", 1, "30.00", "cash", "sale",
     ("pos_order_lines", "unknown_member")),
    ("S001", "P09", 1, FUTURE, None, 1, "30.00", "cash", "sale",
     ("pos_order_lines", "future_date:ordered_at")),
    *_normal_tickets,
    ("S002", "B16", 1, "2026-10-16 12:00:00", None, 100, "10000.00", "card", "sale",
     ("order_amounts", "amount_outlier")),
])

table("stg_miniapp__orders",
      "order_id varchar, member_id varchar, store_code varchar, created_at timestamp,"
      " status varchar, total_paid_amount decimal(18,2)", [
          ("O01", "M001", "S001", "2026-10-01 09:00:00", "completed", "88.00", None),
          ("O02", None, None, "2026-10-01 09:30:00", "created", None, None),
          ("O03", "M002", "S001", "2026-10-02 09:00:00", "paid", "20.00",
           ("miniapp_orders", "duplicate_in_delivery")),
          ("O03", "M002", "S001", "2026-10-02 09:00:00", "paid", "20.00",
           ("miniapp_orders", "duplicate_in_delivery")),
          ("O04", "M002", "S001", "2026-10-02 10:00:00", "lost", "20.00",
           ("miniapp_orders", "invalid_enum:status")),
          ("O05", "M002", "S999", "2026-10-02 11:00:00", "shipped", "20.00",
           ("miniapp_orders", "unknown_store")),
          ("O06", "M404", "S001", "2026-10-02 12:00:00", "completed", "20.00",
           ("miniapp_orders", "unknown_member")),
          ("O07", "M002", "S001", FUTURE, "paid", "20.00",
           ("miniapp_orders", "future_date:created_at")),
      ])

table("stg_marketing__coupon_templates", "template_id varchar, coupon_type varchar", [
    ("T1", "threshold", None),
    ("T2", "gift", ("coupon_templates", "duplicate_key")),
    ("T2", "gift", ("coupon_templates", "duplicate_key")),
    ("T3", "bogo", ("coupon_templates", "invalid_enum:coupon_type")),
])

table("stg_marketing__coupon_issues",
      "coupon_code varchar, template_id varchar, member_id varchar, issued_at timestamp", [
          ("C1", "T1", "M001", "2026-10-01 08:00:00", None),
          ("C2", "T1", "M002", "2026-10-01 08:00:00", None),
          ("C3", "T1", "M003", "2026-10-01 08:00:00",
           ("coupon_issues", "duplicate_in_delivery")),
          ("C3", "T1", "M003", "2026-10-01 08:00:00",
           ("coupon_issues", "duplicate_in_delivery")),
          ("C4", "T404", "M001", "2026-10-01 08:00:00", ("coupon_issues", "unknown_template")),
          ("C5", "T1", "M404", "2026-10-01 08:00:00", ("coupon_issues", "unknown_member")),
          ("C6", "T1", "M001", FUTURE, ("coupon_issues", "future_date:issued_at")),
      ])

table("stg_marketing__coupon_redemptions",
      "coupon_code varchar, member_id varchar, redeemed_at timestamp, order_ref varchar", [
          ("C1", "M001", "2026-10-01 10:00:00", "P01", None),
          ("C2", "M002", "2026-10-02 10:00:00", "O03",
           ("coupon_redemptions", "coupon_redeemed_twice")),
          ("C2", "M002", "2026-10-05 10:00:00", None,
           ("coupon_redemptions", "coupon_redeemed_twice")),
          ("C404", "M001", "2026-10-03 10:00:00", None,
           ("coupon_redemptions", "unknown_coupon")),
          ("C5", "M002", FUTURE, None, ("coupon_redemptions", "future_date:redeemed_at")),
      ])

table("stg_marketing__campaigns",
      "campaign_id varchar, scenario varchar, channel varchar, start_date date,"
      " end_date date", [
          ("CP1", "birthday", "sms", "2026-10-01", "2026-10-07", None),
          ("CP2", "recall", "ai_call", "2026-10-01", "2026-10-01",
           ("campaigns", "duplicate_key")),
          ("CP2", "recall", "ai_call", "2026-10-01", "2026-10-01",
           ("campaigns", "duplicate_key")),
          ("CP3", "xmas", "sms", "2026-10-01", "2026-10-07",
           ("campaigns", "invalid_enum:scenario")),
          ("CP4", "holiday", "fax", "2026-10-01", "2026-10-07",
           ("campaigns", "invalid_enum:channel")),
          ("CP5", "holiday", "sms", "2026-10-07", "2026-10-01",
           ("campaigns", "invalid_date_range")),
      ])

table("stg_marketing__campaign_audience",
      "campaign_id varchar, member_id varchar, audience_group varchar", [
          ("CP1", "M001", "treatment", None),
          ("CP1", "M002", "control", None),
          ("CP1", "M003", "both", ("campaign_audience", "invalid_enum:group")),
          ("CP404", "M001", "treatment", ("campaign_audience", "unknown_campaign")),
          ("CP1", "M404", "treatment", ("campaign_audience", "unknown_member")),
      ])

table("stg_marketing__campaign_touches",
      "campaign_id varchar, member_id varchar, channel varchar, sent_at timestamp", [
          ("CP1", "M001", "sms", "2026-10-01 09:00:00", None),
          ("CP1", "M002", "pigeon", "2026-10-01 09:00:00",
           ("campaign_touches", "invalid_enum:channel")),
          ("CP404", "M001", "sms", "2026-10-01 09:00:00",
           ("campaign_touches", "unknown_campaign")),
          ("CP1", "M404", "sms", "2026-10-01 09:00:00", ("campaign_touches", "unknown_member")),
          ("CP1", "M003", "sms", FUTURE, ("campaign_touches", "future_date:sent_at")),
      ])

table("stg_marketing__acquisition_costs",
      "cost_month varchar, register_channel varchar, store_code varchar,"
      " cost_amount decimal(18,2)", [
          ("2026-10", "miniapp", None, "1200.00", None),
          ("2026-10", "store", "S001", "300.00", None),
          ("2026-10", "store", "S002", "0.00", None),
          ("2026-10", "tiktok", None, "10.00",
           ("acquisition_costs", "invalid_enum:register_channel")),
          ("2026-10", "store", "S999", "10.00", ("acquisition_costs", "unknown_store")),
          ("2026-10", "wecom", None, "-5.00", ("acquisition_costs", "negative_cost")),
          # the month starts on the first instant after the as-of day
          ("2026-11", "store", "S001", "10.00", ("acquisition_costs", "future_date:cost_month")),
          ("2026-10", "referral", None, "20.00",
           ("acquisition_costs", "duplicate_in_delivery")),
          ("2026-10", "referral", None, "20.00",
           ("acquisition_costs", "duplicate_in_delivery")),
      ])

table("stg_points__ledger",
      "entry_id varchar, member_id varchar, occurred_at timestamp, points bigint,"
      " reason varchar", [
          ("E1", "M001", "2026-10-01 10:00:00", 150, "purchase", None),
          ("E2", "M001", "2026-10-01 10:00:00", 10, "adjustment",
           ("points_ledger", "duplicate_in_delivery")),
          ("E2", "M001", "2026-10-01 10:00:00", 10, "adjustment",
           ("points_ledger", "duplicate_in_delivery")),
          ("E3", "M001", "2026-10-01 10:00:00", 10, "bonus",
           ("points_ledger", "invalid_enum:reason")),
          ("E4", "M404", "2026-10-01 10:00:00", 10, "purchase",
           ("points_ledger", "unknown_member")),
          ("E5", "M001", FUTURE, 10, "purchase", ("points_ledger", "future_date:occurred_at")),
      ])

# Staging counts the copies of a key within one delivered file; each table here is one file.
_COPIES_OF = {"stg_crm__members": 1, "stg_pos__order_lines": 3, "stg_miniapp__orders": 1,
              "stg_marketing__coupon_issues": 1, "stg_points__ledger": 1,
              "stg_marketing__acquisition_costs": 3}  # key columns

_KEY = {  # how each dataset spells a row's record key, from the row's values
    "stg_stores__stores": lambda r: r[0],
    "stg_crm__members": lambda r: r[0],
    "stg_pos__order_lines": lambda r: f"{r[0]}|{r[1]}|{r[2]}",
    "stg_miniapp__orders": lambda r: r[0],
    "stg_marketing__coupon_templates": lambda r: r[0],
    "stg_marketing__coupon_issues": lambda r: r[0],
    "stg_marketing__coupon_redemptions": lambda r: f"{r[0]}|{r[2]}|{r[3] or ''}",
    "stg_marketing__campaigns": lambda r: r[0],
    "stg_marketing__campaign_audience": lambda r: f"{r[0]}|{r[1]}",
    "stg_marketing__campaign_touches": lambda r: f"{r[0]}|{r[1]}|{r[2]}|{r[3]}",
    "stg_points__ledger": lambda r: r[0],
    "stg_marketing__acquisition_costs": lambda r: f"{r[0]}|{r[1]}|{r[2] or ''}",
}


def build_warehouse(directory: Path, planted: bool = True) -> dict:
    """Create the staging tables (and a raw CRM row holding plain personal data); return
    the expected flags: (dataset, rule) -> {(record_key, source_file, source_line)}."""
    expected: dict[tuple, set] = defaultdict(set)
    con = warehouse.connect(directory)
    try:
        con.execute("create schema if not exists staging")
        for name, (columns, rows) in TABLES.items():
            rows = rows if planted else [r for r in rows if r[-1] is None]
            copies = ", _copies_in_delivery bigint" if name in _COPIES_OF else ""
            con.execute(f"create or replace table staging.{name} ({columns}{copies},"
                        f" _source_file varchar, _source_line bigint)")
            source_file = f"{name}.csv"
            key_width = _COPIES_OF.get(name)
            for position, row in enumerate(rows):
                *values, flag = row
                line = position + 2
                extra = ([sum(r[:key_width] == tuple(values[:key_width]) for r in rows)]
                         if key_width else [])
                con.execute(f"insert into staging.{name} values "
                            f"({', '.join('?' for _ in range(len(values) + len(extra) + 2))})",
                            [*values, *extra, source_file, line])
                if flag:
                    key = _KEY[name](values)
                    if flag[0] == "order_amounts":
                        key = f"pos:{values[0]}:{values[1]}"  # fct_orders.order_id
                    expected[flag].add((key, source_file, line))
        # Personal data only raw has: staging hashes and masks it, the checks never read raw.
        con.execute("insert into raw.crm__members (member_id, mobile, name, updated_at)"
                    " values ('M001', ?, ?, now())", [RAW_ONLY_MOBILE, RAW_ONLY_NAME])
    finally:
        con.close()
    return dict(expected)


def query(directory: Path, sql: str, params=()):
    # Not read_only: dbt (in-process, in the generated-data fixture) may still hold the file
    # open read-write, and DuckDB refuses a second connection with another configuration.
    con = duckdb.connect(str(directory / "warehouse.duckdb"))
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def flags_by_rule(directory: Path, run_id: str) -> dict[tuple, set]:
    out: dict[tuple, set] = defaultdict(set)
    for dataset, rule, key, source_file, line in query(
            directory, "select dataset, rule, record_key, source_file, source_line"
                       " from meta.dq_row_flags where run_id = ?", [run_id]):
        out[(dataset, rule)].add((key, source_file, line))
    return dict(out)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dq_planted")
    expected = build_warehouse(directory)
    result = quality.validate(directory, "run-1", as_of=AS_OF)
    return directory, expected, result


# ---------------------------------------------------------------------------- registry

def test_every_rule_has_a_severity_and_an_action_and_becomes_one_ge_expectation():
    from memberdw.quality import _suite

    for dataset in DATASETS.values():
        rules = dataset.checked_rules()
        suite = _suite(dataset, "2026-11-01 00:00:00")
        assert rules and len(suite.expectations) == len(rules), dataset.name
        for rule, expectation in zip(rules, suite.expectations):
            assert rule.severity in ("error", "warn") and rule.action in (
                "quarantine", "review", None), (dataset.name, rule)
            assert expectation.meta == {"rule": rule.name, "severity": rule.severity,
                                        "action": rule.action}
            assert rule.name in expectation.description
            assert rule.condition("2026-11-01 00:00:00") in expectation.unexpected_rows_query
        if "duplicate_key" in {r.name for r in rules}:
            assert next(r for r in rules if r.name == "duplicate_key").severity == "error"


def test_the_suites_have_one_home_and_the_dbt_registry_is_generated_from_them():
    import importlib.util

    import expectations

    assert importlib.util.find_spec("memberdw.expectations") is None  # no second copy
    assert expectations.DBT_REGISTRY.read_text(encoding="utf-8") == \
        expectations.render_dbt_registry(), "run `python -m expectations`"
    registry = expectations.registry()
    assert registry["pos_order_lines"]["rules"]["zero_quantity"] == "review"
    assert registry["members"]["rules"]["incomplete_profile"] == "quarantine"


def test_a_stale_dbt_registry_stops_validation(tmp_path, monkeypatch):
    import expectations

    stale = tmp_path / "dq_registry.sql"
    stale.write_text(expectations.render_dbt_registry().replace("zero_quantity", "zero_qty"))
    monkeypatch.setattr(expectations, "DBT_REGISTRY", stale)
    with pytest.raises(RuntimeError, match="stale"):
        quality.validate(tmp_path / "wh", "x")


def test_planted_warehouse_covers_every_rule(planted):
    """The fixture itself: one planted row (or pair) for every rule of every suite."""
    _, expected, _ = planted
    rules = {(d.name, r.name) for d in DATASETS.values() for r in d.checked_rules()}
    assert set(expected) == rules


# ---------------------------------------------------------------------------- row flags

def test_each_planted_row_is_flagged_with_its_rule_key_and_source_line(planted):
    directory, expected, _ = planted
    assert flags_by_rule(directory, "run-1") == expected


def test_flags_carry_action_severity_and_member(planted):
    directory, _, _ = planted
    rows = query(directory, "select dataset, rule, severity, action, record_key, member_id"
                            " from meta.dq_row_flags where run_id = 'run-1'")
    by = {(d, r, k): (s, a, m) for d, r, s, a, k, m in rows}
    assert by[("members", "incomplete_profile", "M004")] == ("warn", "quarantine", "M004")
    assert by[("members", "duplicate_in_delivery", "M011")] == ("warn", "review", "M011")
    assert by[("members", "invalid_enum:tier", "M008")] == ("warn", "review", "M008")
    assert by[("pos_order_lines", "unknown_member", "S001|P08|1")] == ("warn", "review", "M404")
    assert by[("pos_order_lines", "unknown_store", "S999|P07|1")] == ("warn", "quarantine", None)
    assert by[("pos_order_lines", "zero_quantity", "S001|P10|1")] == ("warn", "review", None)
    assert by[("order_amounts", "amount_outlier", "pos:S002:B16")] == ("warn", "review", None)
    assert by[("coupon_redemptions", "coupon_redeemed_twice", "C2|2026-10-05 10:00:00|")] == (
        "warn", "review", "M002")
    assert by[("stores", "duplicate_key", "S003")] == ("error", "quarantine", None)
    # the erased member with an empty profile is not flagged incomplete
    assert not [k for d, r, k in by if k == "M005"]


# ---------------------------------------------------------------------------- audit table

def test_audit_has_one_row_per_rule_with_ge_counts(planted):
    """GE's counts, evaluated in DuckDB, equal the planted rows: this fails if GE's SQL
    path on DuckDB breaks (e.g. without the persisted connection)."""
    directory, expected, _ = planted
    rows = query(directory, "select dataset, rule, suite, expectation, severity,"
                            " action, success, element_count, unexpected_count,"
                            " unexpected_percent, exception_message"
                            " from meta.dq_results where run_id = 'run-1'")
    by_rule = {(r[0], r[1]): r for r in rows}
    assert len(by_rule) == len(rows) == sum(len(d.checked_rules()) for d in DATASETS.values())
    row_counts = {d.name: query(directory, f"select count(*) from ({d.query})")[0][0]
                  for d in DATASETS.values()}
    for (dataset, rule), row in by_rule.items():
        (_, _, suite, expectation, severity, action, success, elements, unexpected,
         percent, exception) = row
        assert exception is None, row
        assert suite == dataset and expectation == "unexpected_rows_expectation"
        assert success is False, row  # every rule has a planted row
        assert unexpected == len(expected[(dataset, rule)]), row
        assert elements == row_counts[dataset], row
        assert percent == pytest.approx(100 * unexpected / elements)
    assert by_rule[("stores", "duplicate_key")][4:6] == ("error", "quarantine")
    assert by_rule[("order_amounts", "amount_outlier")][4:6] == ("warn", "review")
    # the outlier rule sees orders: 25 POS sale tickets (P04 'exchange' and the returns are
    # not sales) and 6 paid mini-program order rows (O02 'created' and O04 'lost' are not)
    assert by_rule[("order_amounts", "amount_outlier")][7] == 31


# ---------------------------------------------------------------------------- outcome

def test_failed_error_rule_fails_the_run_without_raising(planted):
    _, _, result = planted
    assert result.passed is False
    failed = {(o.dataset, o.rule) for o in result.failed_error_rules}
    assert failed == {(d, "duplicate_key") for d in ("coupon_templates", "campaigns", "stores")}
    assert result.warn_counts["members/incomplete_profile"] == 1
    assert result.rows_flagged["members/duplicate_in_delivery"] == 2
    assert result.rows_flagged["order_amounts/amount_outlier"] == 1
    with pytest.raises(QualityError, match=r"stores: duplicate_key failed on 2 of 6 rows"):
        result.raise_for_errors()
    json.dumps(result.to_dict())


def test_clean_warehouse_passes(tmp_path):
    assert build_warehouse(tmp_path, planted=False) == {}
    result = quality.validate(tmp_path, "clean", as_of=AS_OF)
    assert result.passed and not result.failed_error_rules and not result.warn_counts
    result.raise_for_errors()
    assert all(o.success for o in result.outcomes)
    assert query(tmp_path, "select count(*) from meta.dq_row_flags")[0][0] == 0


def test_future_dates_are_relative_to_as_of(tmp_path):
    build_warehouse(tmp_path, planted=False)
    result = quality.validate(tmp_path, "early", as_of=date(2026, 10, 2),
                              datasets=["pos_order_lines"])
    late = {k for (k,) in query(tmp_path, "select record_key from meta.dq_row_flags"
                                          " where rule = 'future_date:ordered_at'")}
    # tickets dated after 2026-10-02 (B03 ... B15, R01) are in the future for that as-of
    assert "S001|R01|1" in late and "S002|B03|1" in late and "S002|B02|1" not in late
    assert result.passed


# ---------------------------------------------------------------------------- audit face

def test_validation_refreshes_the_audit_page(planted):
    """The page (memberdw.audit_page) is rebuilt by every validation: the failed error rule
    as failed, a failed warn rule as a warning, the flagged keys listed."""
    directory, _, _ = planted
    page = (directory / "audit" / "index.html").read_text(encoding="utf-8")
    assert '<code>duplicate_key</code></td><td><span class="status failed">' in page
    assert '<code>incomplete_profile</code></td><td><span class="status warning">' in page
    assert "<code>M004</code>" in page and "<code>S001|P08|1</code>" in page
    assert RAW_ONLY_MOBILE not in page and RAW_ONLY_NAME not in page


def test_data_docs_are_built_and_hold_no_plain_personal_data(planted):
    directory, _, result = planted
    index = result.data_docs_path
    assert index == directory / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert index.is_file() and "run-1" in index.read_text(encoding="utf-8")
    for path in (directory / "gx").rglob("*"):
        if path.suffix in (".html", ".json", ".yml"):
            text = path.read_text(encoding="utf-8")
            assert RAW_ONLY_MOBILE not in text and RAW_ONLY_NAME not in text, path
    for tbl in ("dq_results", "dq_row_flags"):
        dump = repr(query(directory, f"select * from meta.{tbl}"))
        assert RAW_ONLY_MOBILE not in dump and RAW_ONLY_NAME not in dump


def test_stored_results_carry_rules_and_counts_not_values(planted):
    """Result format BASIC: GE keeps each rule's SQL and count, never a row."""
    directory, _, _ = planted
    stored = list((directory / "gx" / "uncommitted" / "validations" / "members").rglob("*.json"))
    assert len(stored) == 1
    text = stored[0].read_text(encoding="utf-8")
    assert "invalid_enum:tier" in text and "tier not in" in text
    assert "diamond" not in text and "M008" not in text


# ---------------------------------------------------------------------------- idempotence

def test_running_twice_with_the_same_run_id_is_idempotent(tmp_path):
    build_warehouse(tmp_path)
    quality.validate(tmp_path, "manual__2026-10-14T02:00:00+08:00", as_of=AS_OF)
    first = query(tmp_path, "select * exclude (flagged_at) from meta.dq_row_flags order by all")
    first_results = query(tmp_path, "select * exclude (validated_at) from meta.dq_results"
                                    " order by all")
    quality.validate(tmp_path, "manual__2026-10-14T02:00:00+08:00", as_of=AS_OF)
    assert query(tmp_path, "select * exclude (flagged_at) from meta.dq_row_flags"
                           " order by all") == first
    assert query(tmp_path, "select * exclude (validated_at) from meta.dq_results"
                           " order by all") == first_results
    assert query(tmp_path, "select count(distinct validated_at) from meta.dq_results")[0][0] == 1
    stored = list((tmp_path / "gx" / "uncommitted" / "validations" / "members").rglob("*.json"))
    assert len(stored) == 1  # GE's store, too, keeps one result per suite and run_id
    # another run with a new store appends; a run of one dataset replaces only its rows
    add_store(tmp_path, "S006")
    quality.validate(tmp_path, "run-b", as_of=AS_OF, datasets=["stores"])
    assert query(tmp_path, "select run_id, count(distinct dataset) from meta.dq_results"
                           " group by all order by all") == [
        ("manual__2026-10-14T02:00:00+08:00", len(DATASETS)), ("run-b", 1)]


def add_store(directory: Path, store_code: str) -> None:
    """One more clean store: something new to validate."""
    con = warehouse.connect(directory)
    try:
        con.execute("insert into staging.stg_stores__stores values"
                    " (?, 'direct', '2023-01-01', null, 'late.csv', 2)", [store_code])
    finally:
        con.close()


def stored_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in (directory / "gx").rglob("*")
                  if p.is_file())


def test_a_run_with_nothing_new_reuses_the_newest_results_and_adds_no_pages(tmp_path):
    """Nothing new since the newest run (whose flags int_quality_flags hands the models):
    no GE run, no rows, no files; its results stand, error rules included."""
    build_warehouse(tmp_path)
    first = quality.validate(tmp_path, "run-1", as_of=AS_OF)
    files = stored_files(tmp_path)
    results = query(tmp_path, "select * from meta.dq_results order by all")
    flags = query(tmp_path, "select * from meta.dq_row_flags order by all")

    again = quality.validate(tmp_path, "run-2", as_of=AS_OF)
    assert again.reused_from == "run-1" and first.reused_from is None
    assert stored_files(tmp_path) == files
    assert query(tmp_path, "select * from meta.dq_results order by all") == results
    assert query(tmp_path, "select * from meta.dq_row_flags order by all") == flags
    assert sorted(again.outcomes, key=lambda o: (o.dataset, o.rule)) == sorted(
        first.outcomes, key=lambda o: (o.dataset, o.rule))
    assert again.rows_flagged == first.rows_flagged and again.passed is False
    with pytest.raises(QualityError, match="stores: duplicate_key failed on 2 of 6 rows"):
        again.raise_for_errors()
    assert json.loads(json.dumps(again.to_dict()))["reused_from"] == "run-1"

    add_store(tmp_path, "S006")  # something new: validated again, pages added
    third = quality.validate(tmp_path, "run-3", as_of=AS_OF)
    assert third.reused_from is None
    assert len(stored_files(tmp_path)) > len(files)
    assert query(tmp_path, "select distinct run_id from meta.dq_results order by 1") == [
        ("run-1",), ("run-3",)]


def add_member(directory: Path, member_id: str) -> None:
    """A member the CRM delivers later, complete and clean."""
    con = warehouse.connect(directory)
    try:
        con.execute("insert into staging.stg_crm__members values (?, 'h', 'u', '陈*', 'F', 1,"
                    " '上海市', '2026-10-20 10:00:00', 'store', 'S001', 'normal', false, 1,"
                    " 'late.csv', 3)", [member_id])
    finally:
        con.close()


def test_only_new_or_changed_rows_are_validated_with_the_flags_of_a_whole_validation(tmp_path):
    """The second day brings store S999 and member M404: the lines and the member that
    pointed at them change (their reference is known now), the rest is as the first run
    judged it. Great Expectations evaluates those rows only; the flags and results equal a
    validation of every row of the same data."""
    scoped, whole = tmp_path / "scoped", tmp_path / "whole"
    for directory in (scoped, whole):
        directory.mkdir()
        build_warehouse(directory)
    first = quality.validate(scoped, "day-1", as_of=AS_OF)
    assert {o.validated_rows for o in first.outcomes if o.dataset == "pos_order_lines"} == {
        len(TABLES["stg_pos__order_lines"][1])}  # the first validation sees every row
    for directory in (scoped, whole):
        add_store(directory, "S999")
        add_member(directory, "M404")
    second = quality.validate(scoped, "day-2", as_of=AS_OF)
    quality.validate(whole, "day-2", as_of=AS_OF)

    validated = {o.dataset: o.validated_rows for o in second.outcomes}
    # P07 at S999, P08 of M404, and P09: a row a future-date rule picks is judged again on
    # every run (the bound moves with the as-of date)
    assert validated["pos_order_lines"] == 3
    assert validated["members"] == 3  # M010 registered at S999, M404, and M009 (future)
    assert validated["stores"] == 1 and validated["campaigns"] == 0
    checked = {o.dataset: o.element_count for o in second.outcomes}
    assert checked["pos_order_lines"] == len(TABLES["stg_pos__order_lines"][1])
    flags = ("select dataset, rule, severity, action, record_key, member_id, source_file,"
             " source_line from meta.dq_row_flags where run_id = 'day-2' order by all")
    assert query(scoped, flags) == query(whole, flags)
    results = ("select * exclude (validated_at, validated_rows) from meta.dq_results"
               " where run_id = 'day-2' order by all")
    assert query(scoped, results) == query(whole, results)
    assert flags_by_rule(scoped, "day-2").get(("pos_order_lines", "unknown_store")) is None
    assert ("S001|P08|1", "stg_pos__order_lines.csv", 15) in flags_by_rule(
        scoped, "day-1")[("pos_order_lines", "unknown_member")]
    assert ("pos_order_lines", "unknown_member") not in flags_by_rule(scoped, "day-2")
    # the flags that stand were carried over as the first run set them
    carried = ("select flagged_at from meta.dq_row_flags where run_id = ? and rule ="
               " 'invalid_enum:order_type'")
    assert query(scoped, carried, ["day-2"]) == query(scoped, carried, ["day-1"])
    assert second.rows_flagged == quality.validate(whole, "day-2", as_of=AS_OF).rows_flagged


def test_reuse_follows_the_rows_the_future_rules_pick_not_the_clock(tmp_path):
    """Without an as-of the bound is now: it moves every run, the rows past it do not. An
    as-of that moves rows across the bound is new."""
    build_warehouse(tmp_path)
    quality.validate(tmp_path, "now-1")
    assert quality.validate(tmp_path, "now-2").reused_from == "now-1"
    early = quality.validate(tmp_path, "early", as_of=date(2026, 10, 2))
    assert early.reused_from is None
    late = {k for (k,) in query(tmp_path, "select record_key from meta.dq_row_flags"
                                          " where run_id = 'early'"
                                          " and rule = 'future_date:ordered_at'")}
    assert "S002|B03|1" in late


def test_stored_names_are_portable(tmp_path, monkeypatch):
    """No folder GE's stores or Data Docs make holds a character Windows refuses; results
    stored before run names were portable are moved under the portable name."""
    unportable = set('<>:"|?*')
    build_warehouse(tmp_path)
    with monkeypatch.context() as m:  # as the store was before: the run id as it is
        m.setattr(quality, "portable_name", lambda name: name)
        quality.validate(tmp_path, "manual__2026-10-14T02:00:00+08:00", as_of=AS_OF)
    assert any(unportable & set(name) for name in stored_files(tmp_path))

    add_store(tmp_path, "S006")
    quality.validate(tmp_path, "scheduled__2026-10-15T02:00:00+08:00", as_of=AS_OF)
    names = stored_files(tmp_path) + [
        str(p.relative_to(tmp_path)) for p in (tmp_path / "audit").rglob("*")]
    assert not [n for n in names if unportable & set(n)]
    members = {p.parts[-3] for p in
               (tmp_path / "gx" / "uncommitted" / "validations" / "members").rglob("*.json")}
    assert members == {"manual__2026-10-14T02-00-00+08-00", "scheduled__2026-10-15T02-00-00+08-00"}
    index = (tmp_path / quality.DATA_DOCS_INDEX).read_text(encoding="utf-8")
    assert "manual__2026-10-14T02-00-00+08-00" in index


def test_portable_name():
    assert quality.portable_name("manual__2026-12-02T10:00:00+00:00") == \
        "manual__2026-12-02T10-00-00+00-00"
    assert quality.portable_name('a<b>c:d"e/f\\g|h?i*j\x01.') == "a-b-c-d-e-f-g-h-i-j-"
    assert quality.portable_name("run-1") == "run-1"


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        quality.validate(tmp_path, "x", datasets=["nope"])


# ---------------------------------------------------------------------------- generated data

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from memberdw import ingest, pipeline
    from memberdw.contract import SOURCES
    from memberdw.generate import generate

    base = tmp_path_factory.mktemp("dq_generated")
    truth = generate(base / "landing", members=300, days=5, seed=2)
    con = warehouse.connect(base / "wh")
    try:
        for source in SOURCES:
            ingest.land_source(con, base / "landing", source, run_id="load")
    finally:
        con.close()
    before = os.environ.get("MEMBERDW_WAREHOUSE_DIR")
    try:
        pipeline.transform(base / "wh", select="staging")  # sets MEMBERDW_WAREHOUSE_DIR
    finally:
        if before is None:
            os.environ.pop("MEMBERDW_WAREHOUSE_DIR", None)
        else:
            os.environ["MEMBERDW_WAREHOUSE_DIR"] = before
    result = quality.validate(base / "wh", "gen")
    return base / "wh", truth, result


def test_generated_incomplete_profiles_are_exactly_the_flags(generated):
    directory, truth, result = generated
    flagged = {k for (k,) in query(directory, "select record_key from meta.dq_row_flags where"
                                              " run_id = 'gen' and rule = 'incomplete_profile'")}
    assert truth["incomplete_profiles"] and flagged == set(truth["incomplete_profiles"])


def test_generated_amount_outliers_are_flagged(generated):
    directory, truth, result = generated
    flagged = {k for (k,) in query(directory, "select record_key from meta.dq_row_flags where"
                                              " run_id = 'gen' and rule = 'amount_outlier'")}
    planted = {f"pos:{o['store_code']}:{o['order_no']}" for o in truth["amount_outliers"]}
    assert planted and planted <= flagged
    extra = sorted(flagged - planted)  # natural outliers; reported, not asserted
    print(f"amount_outlier: {len(planted)} planted, {len(extra)} natural: {extra}")


def test_generated_data_passes(generated):
    _, _, result = generated
    assert result.passed, [o.describe() for o in result.failed_error_rules]


def test_missing_staging_model_names_the_dataset(tmp_path):
    warehouse.connect(tmp_path).close()
    with pytest.raises(RuntimeError, match=r"dataset stores \(staging.stg_stores__stores\)"):
        quality.validate(tmp_path, "x", datasets=["stores"])

"""Quality rules at the right grain, followed from a planted POS delivery into the marts.

A generated landing root gets one more POS file with tickets built to hit the rules: a
ticket with a normal line, a zero-quantity line, a free gift, a price adjustment and one
line of an unknown order type; a ticket dated in the future; a card the CRM does not know;
an incomplete-profile member's ticket; a line delivered twice in the file. The run must
quarantine only the lines that cannot be trusted, keep and flag the odd but real ones, and
keep every other line of their tickets.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal

import duckdb
import pytest

from memberdw.contract import BY_KEY
from memberdw.generate import generate

DT = "2026-10-03"
AT = "2026-10-03 15:00:00"


def _lines(store: str, incomplete_member: str) -> list[dict]:
    def line(order_no, line_no, qty, paid, order_type="sale", member="", at=AT):
        return {"store_code": store, "order_no": order_no, "line_no": line_no,
                "order_time": at, "member_id": member, "mobile": "", "sku_code": "SKU1",
                "category": "grocery", "quantity": qty, "unit_price": "50.00",
                "discount_amount": "", "paid_amount": paid, "coupon_code": "",
                "payment_method": "cash", "order_type": order_type, "original_order_no": ""}

    return [
        line("PLANT1", 1, 2, "100.00"),
        line("PLANT1", 2, 0, "0.00"),                 # zero_quantity: review
        line("PLANT1", 3, 1, "0.00"),                 # zero_price_line (gift): review
        line("PLANT1", 4, 0, "-5.00"),                # price_adjustment: review
        line("PLANT1", 5, 1, "30.00", "exchange"),    # invalid_enum:order_type: quarantine
        line("PLANT2", 1, 1, "40.00", at="2027-01-01 10:00:00"),  # future_date: quarantine
        line("PLANT3", 1, 1, "60.00", member="M_NOT_IN_CRM"),     # unknown_member: review
        line("PLANT4", 1, 1, "70.00", member=incomplete_member),  # kept in store sales
        line("PLANT5", 1, 1, "20.00"),                # delivered twice in the file
        line("PLANT5", 1, 1, "20.00"),
        line("PLANT6", 1, 3, "90.00"),                # clean
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("line_grain")
    truth = generate(base / "landing", members=300, days=6, seed=5)
    stores_dir = base / "landing" / "stores" / "stores" / "dt=2026-10-01"
    with next(stores_dir.glob("*.csv")).open(encoding="utf-8-sig") as f:
        store = next(csv.DictReader(f))["store_code"]
    incomplete = sorted(truth["incomplete_profiles"])[0]
    planted = _lines(store, incomplete)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=BY_KEY["pos/order_lines"].column_names,
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(planted)
    folder = base / "landing" / "pos" / "order_lines" / f"dt={DT}"
    (folder / "pos_PLANTED_20261003.csv").write_text(out.getvalue(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    run = subprocess.run([sys.executable, "-m", "memberdw.cli", "run", "--landing",
                          str(base / "landing"), "--warehouse", str(base / "wh")],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    con = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    yield con, store, incomplete, run.stdout
    con.close()


def _order(store, order_no):
    return f"pos:{store}:{order_no}"


def test_a_quarantined_line_leaves_only_itself_out_of_its_ticket(built):
    con, store, _, _ = built
    lines = con.execute("select line_number, paid_amount, is_needs_review from"
                        " marts.fct_order_lines where order_id = ? order by 1",
                        [_order(store, "PLANT1")]).fetchall()
    assert lines == [(1, Decimal("100.00"), False), (2, Decimal("0.00"), True),
                     (3, Decimal("0.00"), True), (4, Decimal("-5.00"), True)]
    (gmv, review, items) = con.execute(
        "select gmv_amount, is_needs_review, item_quantity from marts.fct_orders"
        " where order_id = ?", [_order(store, "PLANT1")]).fetchone()
    assert gmv == Decimal("95.00") and review is True and items == 3
    # the future-dated ticket had one line: it is gone, and listed
    assert con.execute("select count(*) from marts.fct_orders where order_id = ?",
                       [_order(store, "PLANT2")]).fetchone()[0] == 0


def test_every_planted_line_is_flagged_under_its_rule_and_action(built):
    con, store, _, _ = built
    flags = set(con.execute(
        "select record_key, rule, action from intermediate.int_quality_flags"
        " where dataset = 'pos_order_lines' and record_key like ?",
        [f"{store}|PLANT%"]).fetchall())
    assert flags == {
        (f"{store}|PLANT1|2", "zero_quantity", "review"),
        (f"{store}|PLANT1|3", "zero_price_line", "review"),
        (f"{store}|PLANT1|4", "price_adjustment", "review"),
        (f"{store}|PLANT1|4", "amount_sign_mismatch", "review"),
        (f"{store}|PLANT1|5", "invalid_enum:order_type", "quarantine"),
        (f"{store}|PLANT2|1", "future_date:ordered_at", "quarantine"),
        (f"{store}|PLANT3|1", "unknown_member", "review"),
        (f"{store}|PLANT5|1", "duplicate_in_delivery", "review"),
    }


def test_odd_but_real_tickets_stay_in_sales(built):
    con, store, incomplete, _ = built
    rows = dict(con.execute(
        "select order_id, gmv_amount from marts.fct_orders where order_id in (?, ?, ?, ?)",
        [_order(store, n) for n in ("PLANT3", "PLANT4", "PLANT5", "PLANT6")]).fetchall())
    assert rows == {_order(store, "PLANT3"): Decimal("60.00"),
                    _order(store, "PLANT4"): Decimal("70.00"),
                    _order(store, "PLANT5"): Decimal("20.00"),   # the copy counts once
                    _order(store, "PLANT6"): Decimal("90.00")}
    # the unknown card belongs to no member; the incomplete profile left dim_members
    # but its ticket stays in store sales, credited to no member of dim_members
    (member,) = con.execute("select member_id from marts.fct_orders where order_id = ?",
                            [_order(store, "PLANT3")]).fetchone()
    assert member is None
    assert con.execute("select count(*) from marts.dim_members where member_id = ?",
                       [incomplete]).fetchone()[0] == 0
    assert con.execute("select source_member_id from marts.fct_orders where order_id = ?",
                       [_order(store, "PLANT4")]).fetchone()[0] == incomplete
    assert con.execute("select is_needs_review from marts.fct_orders where order_id = ?",
                       [_order(store, "PLANT6")]).fetchone()[0] is False


def test_store_day_sales_equal_the_till_less_only_the_quarantined_lines(built):
    con, store, _, _ = built
    (delivered,) = con.execute(
        "select sum(paid_amount) from raw.pos__order_lines r where store_code = ?"
        " and cast(order_time at time zone 'Asia/Shanghai' as date) = ?"
        " and not exists (select 1 from raw.pos__order_lines later"  # the copy delivered twice
        "   where later.store_code = r.store_code and later.order_no = r.order_no"
        "   and later.line_no = r.line_no and later._source_file = r._source_file"
        "   and later._source_line > r._source_line)",
        [store, DT]).fetchone()
    (published,) = con.execute(
        "select sum(gmv_amount) from marts.fct_orders where store_code = ? and order_date = ?",
        [store, DT]).fetchone()
    assert delivered - published == Decimal("30.00")  # PLANT1 line 5; PLANT2 is dated 2027

"""The sales reconciliation (marts.mart_sales_reconciliation, memberdw.audit) on generated
data with planted corrections and quarantined rows: the identity holds to the cent on every
store-day, published matches fct_orders, delivered matches a recomputation from the landed
files and raw + quarantine (pandas, not the mart's SQL), and a sale lost between staging
and the marts makes check_reconciliation fail naming its store and date."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from memberdw import audit, pipeline
from memberdw.generate import generate

AS_OF = "2026-10-10"
SALE_STATUSES = ("paid", "shipped", "completed", "refunded")
CORRECTION = Decimal("10.00")
EXCHANGE_AMOUNT = Decimal("55.50")
UNKNOWN_STORE_AMOUNT = Decimal("77.70")


def memberdw_run(landing, warehouse, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return subprocess.run([sys.executable, "-m", "memberdw.cli", "run", "--landing",
                           str(landing), "--warehouse", str(warehouse), *extra],
                          env=env, capture_output=True, text=True)


def _utf8_csv(path: Path):
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    header = text.splitlines()[0].split(",")
    return header, rows


def plant(landing: Path) -> dict:
    """A late correction file for one POS ticket (a corrected line, an added line with an
    order type GE quarantines), a line at a store nobody knows, and a newer version of a
    paid mini-program order credited to an unknown store."""
    planted = {}
    for path in sorted((landing / "pos/order_lines/dt=2026-10-09").glob("*.csv")):
        parsed = _utf8_csv(path)
        if not parsed:
            continue
        header, rows = parsed
        by_ticket = {}
        for row in rows:
            if row["order_type"] == "sale" and row["quantity"] not in ("", "0"):
                by_ticket.setdefault(row["order_no"], []).append(row)
        tickets = [t for t, lines in by_ticket.items()
                   if len(lines) >= 2 and len({r["order_time"] for r in lines}) == 1]
        if tickets:
            break
    else:
        raise AssertionError("no multi-line POS ticket in a UTF-8 file")
    lines = by_ticket[tickets[0]]
    first = lines[0]
    corrected = dict(first, paid_amount=str(Decimal(first["paid_amount"]) + CORRECTION))
    exchange = dict(first, line_no=str(max(int(r["line_no"]) for r in lines) + 1),
                    order_type="exchange", quantity="1", paid_amount=str(EXCHANGE_AMOUNT),
                    coupon_code="", discount_amount="0")
    stranger = dict(first, store_code="S999", order_no="S999-20261009-0001", line_no="1",
                    member_id="", mobile="", coupon_code="", quantity="1",
                    paid_amount=str(UNKNOWN_STORE_AMOUNT), discount_amount="0")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows([corrected, exchange, stranger])
    target = landing / "pos/order_lines/dt=2026-10-10"
    assert (target / "_SUCCESS").exists()
    (target / "pos_correction_20261010.csv").write_text(out.getvalue(), encoding="utf-8")
    planted["pos"] = {"store_code": first["store_code"], "order_no": first["order_no"],
                      "line_no": int(first["line_no"]),
                      "superseded_amount": Decimal(first["paid_amount"]),
                      "ticket_lines": len(lines)}

    newest = {}
    for path in sorted((landing / "miniapp/orders").glob("dt=*/*.jsonl")):
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                order = json.loads(text)
                updated = datetime.fromisoformat(order["updated_at"])
            except (ValueError, KeyError, TypeError):
                continue
            if order["order_id"] not in newest or updated > newest[order["order_id"]][0]:
                newest[order["order_id"]] = (updated, order)
    sold = sorted((o for _, o in newest.values() if o["status"] in ("shipped", "completed")
                   and o.get("total_paid")), key=lambda o: o["order_id"])
    order = dict(sold[0], store_code="S999")
    updated = datetime.fromisoformat(order["updated_at"]) + timedelta(minutes=1)
    order["updated_at"] = updated.isoformat()
    target = landing / "miniapp/orders/dt=2026-10-10"
    assert (target / "_SUCCESS").exists()
    (target / "orders_late_20261010.jsonl").write_text(
        json.dumps(order, ensure_ascii=False) + "\n", encoding="utf-8")
    planted["miniapp"] = {"order_id": order["order_id"], "amount": Decimal(order["total_paid"])}
    return planted


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("reconciliation")
    generate(base / "landing", members=300, days=10, seed=11)
    planted = plant(base / "landing")
    run = memberdw_run(base / "landing", base / "wh", "--as-of", AS_OF)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    con = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    yield con, planted, base
    con.close()


def frame(con, sql):
    return con.execute(sql).df()


def mart(con):
    return frame(con, "select * from marts.mart_sales_reconciliation")


def money(series) -> pd.Series:
    return series.map(lambda v: Decimal("0.00") if pd.isna(v) else Decimal(str(v)))


def test_the_identity_holds_on_every_store_day_with_nothing_unexplained(built):
    con, _, _ = built
    rows = mart(con)
    assert len(rows) > 50
    for column in ("delivered_amount", "published_amount", "superseded_amount",
                   "quarantined_amount", "unexplained_amount"):
        rows[column] = money(rows[column])
    explained = (rows.published_amount + rows.superseded_amount + rows.quarantined_amount
                 + rows.unexplained_amount)
    assert (rows.delivered_amount == explained).all()
    assert (rows.unexplained_amount == Decimal("0.00")).all(), rows[rows.unexplained_amount != 0]
    assert (rows.delivered_rows == rows.published_source_rows + rows.parse_rejected_rows
            + rows.superseded_rows + rows.quarantined_rows + rows.not_a_sale_rows
            + rows.unexplained_rows).all()
    assert (rows.unexplained_rows == 0).all()
    assert rows.is_reconciled.all()
    assert (rows.loaded_rows == rows.delivered_rows - rows.parse_rejected_rows).all()


def test_published_per_store_day_is_fct_orders_to_the_cent(built):
    con, _, _ = built
    got = {(r.channel, r.store_code, pd.Timestamp(r.business_date).date()):
           (Decimal(str(r.published_amount)), r.published_order_rows)
           for r in mart(con).itertuples() if r.published_order_rows}
    expected = {(c, s, d): (a, n) for c, s, d, a, n in con.execute(
        "select channel, coalesce(store_code, 'unknown'), order_date, sum(gmv_amount), count(*)"
        " from marts.fct_orders group by all").fetchall()}
    assert got == expected


def pos_delivered(con) -> dict:
    lines = frame(con, f"select store_code, order_time, paid_amount from raw.pos__order_lines"
                       f" where _dt <= date '{AS_OF}'")
    lines["business_date"] = lines.order_time.dt.tz_convert("Asia/Shanghai").dt.date
    lines["paid_amount"] = money(lines.paid_amount)
    return {("pos", s, d): a for (s, d), a in
            lines.groupby(["store_code", "business_date"]).paid_amount.sum().items()}


def miniapp_delivered(con) -> dict:
    versions = frame(con, f"select order_id, store_code, status, total_paid, created_at, paid_at,"
                          f" updated_at, _dt, _loaded_at, _source_line from raw.miniapp__orders"
                          f" where _dt <= date '{AS_OF}'")
    versions = versions.sort_values(["order_id", "updated_at", "_dt", "_loaded_at", "_source_line"])
    newest = versions.groupby("order_id").tail(1)
    sales = newest[newest.status.isin(SALE_STATUSES)].copy()
    sales["store_code"] = sales.store_code.fillna("unknown")
    sales["amount"] = money(sales.total_paid)
    local = lambda s: s.dt.tz_convert("Asia/Shanghai").dt.date  # noqa: E731
    sales["sale_date"] = local(sales.paid_at.fillna(sales.created_at))
    sales["refund_date"] = local(sales.updated_at)
    out = {}
    for row in sales.itertuples():
        key = ("miniapp", row.store_code, row.sale_date)
        out[key] = out.get(key, Decimal("0.00")) + row.amount
        if row.status == "refunded":
            key = ("miniapp", row.store_code, row.refund_date)
            out[key] = out.get(key, Decimal("0.00")) - row.amount
    return out


def test_delivered_matches_an_independent_recomputation(built):
    con, _, base = built
    rows = mart(con)
    got = {(r.channel, r.store_code, pd.Timestamp(r.business_date).date()):
           Decimal(str(r.delivered_amount)) for r in rows.itertuples()}
    expected = {**pos_delivered(con), **miniapp_delivered(con)}
    got = {k: v for k, v in got.items() if v != 0}
    assert got == {k: v for k, v in expected.items() if v != 0}

    # Rows: every record of every file the ledger loaded, counted in the files themselves.
    files = con.execute(
        "select file_path, source, encoding from meta.load_ledger where status = 'loaded'"
        f" and dt <= date '{AS_OF}' and ((source = 'pos' and entity = 'order_lines')"
        " or (source = 'miniapp' and entity = 'orders'))").fetchall()
    counted = {"pos": 0, "miniapp": 0}
    for file_path, source, _ in files:
        data = (base / "landing" / file_path).read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            text = data.decode("utf-8", errors="replace")
        if source == "pos":
            counted[source] += len(list(csv.reader(io.StringIO(text, newline="")))) - 1
        else:
            counted[source] += sum(1 for line in text.splitlines() if line.strip())
    delivered = rows.groupby("channel").delivered_rows.sum().to_dict()
    assert delivered == counted
    in_tables = dict(con.execute(
        f"select source, count(*) from (select 'pos' as source from raw.pos__order_lines"
        f" where _dt <= date '{AS_OF}' union all select 'miniapp' from raw.miniapp__orders"
        f" where _dt <= date '{AS_OF}' union all select q.source from meta.quarantine q"
        f" join meta.load_ledger l using (load_id) where l.dt <= date '{AS_OF}' and"
        f" q.entity in ('order_lines', 'orders') and q.source in ('pos', 'miniapp'))"
        f" group by source").fetchall())
    assert delivered == in_tables


def test_planted_corrections_and_quarantines_are_named(built):
    con, planted, _ = built
    reasons = frame(con, "select channel, store_code, outcome, reason,"
                         " sum(row_count) as row_count, sum(paid_amount) as paid_amount"
                         " from marts.mart_sales_reconciliation_reasons group by all")

    def one(**where):
        sel = reasons
        for column, value in where.items():
            sel = sel[sel[column] == value]
        assert len(sel) == 1, (where, sel)
        return sel.iloc[0]

    pos = planted["pos"]
    superseded = one(channel="pos", outcome="superseded")
    assert superseded.row_count == 1 and superseded.reason == "newer_version"
    assert Decimal(str(superseded.paid_amount)) == pos["superseded_amount"]
    exchange = one(channel="pos", outcome="quarantined", reason="invalid_enum:order_type")
    assert (exchange.row_count, Decimal(str(exchange.paid_amount))) == (1, EXCHANGE_AMOUNT)
    stranger = one(channel="pos", outcome="quarantined", reason="unknown_store")
    assert stranger.store_code == "S999"
    assert Decimal(str(stranger.paid_amount)) == UNKNOWN_STORE_AMOUNT
    order = one(channel="miniapp", outcome="quarantined", reason="unknown_store")
    assert order.store_code == "S999" and order.row_count == 1
    assert Decimal(str(order.paid_amount)) == planted["miniapp"]["amount"]
    parse_rejected = reasons[reasons.outcome == "parse_rejected"]
    assert len(parse_rejected) and parse_rejected.paid_amount.isna().all()

    # Line grain: the quarantined exchange line leaves only itself out of its ticket.
    order_id = f"pos:{pos['store_code']}:{pos['order_no']}"
    (published_lines,) = con.execute("select count(*) from marts.fct_order_lines"
                                     " where order_id = ?", [order_id]).fetchone()
    assert published_lines == pos["ticket_lines"]


def test_check_reconciliation_totals_and_summary(built):
    _, planted, base = built
    totals = audit.check_reconciliation(base / "wh")
    assert totals["unexplained_amount"] == Decimal("0.00")
    assert totals["failed_store_days"] == 0
    assert totals["delivered_amount"] == (totals["published_amount"]
                                          + totals["superseded_amount"]
                                          + totals["quarantined_amount"])
    assert totals["quarantined_by_rule"]["unknown_store"]["amount"] == (
        UNKNOWN_STORE_AMOUNT + planted["miniapp"]["amount"])
    assert totals["quarantined_by_rule"]["invalid_enum:order_type"]["rows"] == 1
    assert totals["parse_rejected_rows"] == sum(
        v["rows"] for v in totals["parse_rejected_by_reason"].values())
    lines = audit.format_summary(totals)
    assert lines[0].startswith("sales: delivered ") and "+ unexplained 0.00" in lines[0]
    assert "unknown_store" in lines[0] and "invalid_enum:order_type" in lines[0]
    assert any(line.startswith("sales rows: delivered ") and "rejected at parsing" in line
               for line in lines)


def test_the_threshold_is_a_dbt_var_read_by_the_audit():
    config = yaml.safe_load((pipeline.DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert config["vars"]["reconciliation_max_unexplained_share"] == 0.005
    assert audit.max_unexplained_share() == Decimal("0.005")


def copy_warehouse(base: Path, name: str) -> Path:
    target = base / name
    target.mkdir()
    shutil.copy(base / "wh" / "warehouse.duckdb", target / "warehouse.duckdb")
    return target


def test_a_difference_within_the_share_passes_and_beyond_it_fails(built):
    con, _, base = built
    store, day, delivered = con.execute(
        "select store_code, business_date, delivered_amount from marts.mart_sales_reconciliation"
        " where channel = 'pos' order by delivered_amount desc limit 1").fetchone()
    copy = copy_warehouse(base, "wh_threshold")
    with duckdb.connect(str(copy / "warehouse.duckdb")) as writer:
        writer.execute("update marts.mart_sales_reconciliation set unexplained_amount = 0.01,"
                       " is_reconciled = false where channel = 'pos' and store_code = ?"
                       " and business_date = ?", [store, day])
    totals = audit.check_reconciliation(copy)
    assert totals["unreconciled_store_days"] == 1
    assert any("not reconciled: 1" in line for line in audit.format_summary(totals))
    with pytest.raises(audit.ReconciliationError) as failure:
        audit.check_reconciliation(copy, max_share=0)
    assert f"pos {store} {day}" in str(failure.value)
    assert failure.value.failures[0]["store_code"] == store


def test_a_sale_lost_before_the_marts_fails_naming_its_store(built):
    con, _, base = built
    order_id, store, day, gmv = con.execute(
        "select order_id, store_code, order_date, gmv_amount from marts.fct_orders"
        " where channel = 'pos' and order_type = 'sale' and gmv_amount > 100"
        " order by order_id limit 1").fetchone()
    copy = copy_warehouse(base, "wh_fault")
    with duckdb.connect(str(copy / "warehouse.duckdb")) as writer:
        writer.execute("delete from marts.fct_orders where order_id = ?", [order_id])
    pipeline.transform(copy, select="mart_sales_reconciliation", as_of=AS_OF)
    with pytest.raises(audit.ReconciliationError) as failure:
        audit.check_reconciliation(copy)
    message = str(failure.value)
    assert store in message and str(day) in message, message
    (lost,) = failure.value.failures
    assert (lost["store_code"], lost["channel"]) == (store, "pos")
    assert lost["unexplained_amount"] == gmv

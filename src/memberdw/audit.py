"""The sales reconciliation as a run step: what the sources delivered against what the
marts publish, read from ``marts.mart_sales_reconciliation`` in the working warehouse.

``check_reconciliation(warehouse_dir)`` returns the totals for the run summary (delivered,
published, superseded, quarantined and unexplained amounts, rows, and the breakdown by
reason from ``marts.mart_sales_reconciliation_reasons``) and raises ``ReconciliationError``
naming the channel, store and date of every store-day whose unexplained amount exceeds
the dbt var ``reconciliation_max_unexplained_share`` (its one home: dbt_project.yml) of
that store-day's delivered amount. ``format_summary(totals)`` turns the totals into lines.

The identity the mart holds per channel, store and business date (see its docs):
delivered = published + superseded + quarantined + unexplained (amounts; rows rejected at
parsing have no known amount and are counted in rows only).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from memberdw import pipeline, warehouse
from memberdw.pipeline import PipelineError

MART = "marts.mart_sales_reconciliation"
REASONS = "marts.mart_sales_reconciliation_reasons"
SHARE_VAR = "reconciliation_max_unexplained_share"
CHANNELS = ("pos", "miniapp")

# Columns of the mart summed into the totals (and per channel).
TOTAL_COLUMNS = (
    "delivered_rows", "delivered_amount", "loaded_rows", "parse_rejected_rows",
    "superseded_rows", "superseded_amount", "quarantined_rows", "quarantined_amount",
    "not_a_sale_rows", "review_rows", "review_amount", "published_order_rows",
    "published_source_rows", "published_amount", "unexplained_rows", "unexplained_amount",
)
MAX_NAMED = 20  # store-days named in the error; the rest are counted


class ReconciliationError(PipelineError):
    """Some store-days lost sales that no recorded reason explains."""

    def __init__(self, message: str, failures: list[dict], totals: dict):
        super().__init__(message)
        self.failures = failures
        self.totals = totals


def max_unexplained_share() -> Decimal:
    """The dbt var, read from dbt_project.yml (``pipeline.dbt_vars``), its one home."""
    return Decimal(str(pipeline.dbt_vars()[SHARE_VAR]))


def check_reconciliation(warehouse_dir: str | Path,
                         max_share: Decimal | float | str | None = None) -> dict:
    """Totals of the reconciliation mart; raises ``ReconciliationError`` when a store-day's
    |unexplained_amount| exceeds ``max_share`` (default: the dbt var) of its
    |delivered_amount| (a store-day with nothing delivered tolerates no difference)."""
    share = max_unexplained_share() if max_share is None else Decimal(str(max_share))
    path = warehouse.working_path(Path(warehouse_dir))
    if not path.exists():
        raise PipelineError(f"no working warehouse at {path}")
    con = _connect(path)
    try:
        try:
            rows = _dicts(con, f"select * from {MART}")
        except duckdb.CatalogException as error:
            raise PipelineError(f"{MART} is missing: build the marts first ({error})") from None
        reasons = _dicts(con, f"select outcome, reason, sum(row_count) as row_count,"
                              f" sum(paid_amount) as paid_amount from {REASONS}"
                              f" where outcome not in ('kept')"
                              f" group by outcome, reason order by outcome, reason")
    finally:
        con.close()

    totals = _sum(rows)
    totals["by_channel"] = {c: _sum([r for r in rows if r["channel"] == c]) for c in CHANNELS}
    for outcome, key in (("parse_rejected", "parse_rejected_by_reason"),
                         ("superseded", "superseded_by_reason"),
                         ("quarantined", "quarantined_by_rule"),
                         ("not_a_sale", "not_a_sale_by_status"),
                         ("review", "review_by_rule")):
        totals[key] = {r["reason"]: {"rows": int(r["row_count"] or 0),
                                     "amount": r["paid_amount"]}
                       for r in reasons if r["outcome"] == outcome}
    totals["store_days"] = len(rows)
    totals["unreconciled_store_days"] = sum(1 for r in rows if not r["is_reconciled"])
    totals["max_unexplained_share"] = share

    failures = [
        {"channel": r["channel"], "store_code": r["store_code"],
         "business_date": r["business_date"], "delivered_amount": r["delivered_amount"],
         "unexplained_amount": r["unexplained_amount"], "unexplained_rows": r["unexplained_rows"]}
        for r in sorted(rows, key=lambda r: (r["business_date"], r["channel"], r["store_code"]))
        if abs(r["unexplained_amount"]) > share * abs(r["delivered_amount"])
    ]
    totals["failed_store_days"] = len(failures)
    if failures:
        raise ReconciliationError(_failure_message(failures, share), failures, totals)
    return totals


def format_summary(totals: dict) -> list[str]:
    """Lines for the run summary: the amount identity overall and per channel, the rows,
    and what is kept for review."""
    lines = [f"sales: {_amount_identity(totals, totals.get('quarantined_by_rule', {}))}"]
    for channel in CHANNELS:
        part = totals.get("by_channel", {}).get(channel)
        if part and part["delivered_rows"]:
            lines.append(f"  {channel}: {_amount_identity(part)}")
    rejected = totals.get("parse_rejected_by_reason", {})
    lines.append(
        f"sales rows: delivered {_n(totals['delivered_rows'])}"
        f" = published {_n(totals['published_source_rows'])}"
        f" + rejected at parsing {_n(totals['parse_rejected_rows'])}"
        + (f" (amount unknown; {_by_reason(rejected, 'rows')})" if rejected else "")
        + f" + superseded {_n(totals['superseded_rows'])}"
        f" + quarantined {_n(totals['quarantined_rows'])}"
        f" + not a sale {_n(totals['not_a_sale_rows'])}"
        f" + unexplained {_n(totals['unexplained_rows'])}")
    review = totals.get("review_by_rule", {})
    if totals["review_rows"]:
        lines.append(f"sales kept for review: {_n(totals['review_rows'])} rows,"
                     f" {_money(totals['review_amount'])} ({_by_reason(review, 'amount')})")
    if totals.get("unreconciled_store_days"):
        lines.append(f"sales store-days not reconciled: {totals['unreconciled_store_days']}"
                     f" of {totals['store_days']} (within"
                     f" {_percent(totals['max_unexplained_share'])} each; see {MART})")
    return lines


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Read-only, unless this process already holds the file open for writing (a task run
    in-process after dbt): DuckDB refuses a second connection to one file with another
    configuration, so then join the writer's configuration (and only read)."""
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.ConnectionException:
        return duckdb.connect(str(path))


def _dicts(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _sum(rows: list[dict]) -> dict:
    out = {}
    for column in TOTAL_COLUMNS:
        if column.endswith("_amount"):
            out[column] = sum((r[column] for r in rows), Decimal("0.00"))
        else:
            out[column] = int(sum(r[column] for r in rows))
    return out


def _amount_identity(part: dict, by_rule: dict | None = None) -> str:
    rules = f" ({_by_reason(by_rule, 'amount')})" if by_rule else ""
    return (f"delivered {_money(part['delivered_amount'])}"
            f" = published {_money(part['published_amount'])}"
            f" + superseded {_money(part['superseded_amount'])}"
            f" + quarantined {_money(part['quarantined_amount'])}{rules}"
            f" + unexplained {_money(part['unexplained_amount'])}")


def _by_reason(by_reason: dict, what: str) -> str:
    if what == "rows":
        return ", ".join(f"{reason} {_n(v['rows'])}" for reason, v in by_reason.items())
    return ", ".join(f"{reason} {_money(v['amount'])}" for reason, v in by_reason.items())


def _failure_message(failures: list[dict], share: Decimal) -> str:
    named = "; ".join(
        f"{f['channel']} {f['store_code']} {f['business_date']}: unexplained"
        f" {_money(f['unexplained_amount'])} of delivered {_money(f['delivered_amount'])}"
        for f in failures[:MAX_NAMED])
    more = f"; and {len(failures) - MAX_NAMED} more" if len(failures) > MAX_NAMED else ""
    stores = ", ".join(sorted({f["store_code"] for f in failures}))
    return (f"sales reconciliation failed: {len(failures)} store-day(s) lost more than"
            f" {_percent(share)} of their delivered amount without a recorded reason"
            f" (stores {stores}): {named}{more}. Every row is in {MART}; its reasons in"
            f" {REASONS}.")


def _money(value) -> str:
    return f"{Decimal(value or 0):,.2f}"


def _n(value) -> str:
    return f"{int(value or 0):,}"


def _percent(share: Decimal) -> str:
    return f"{Decimal(share) * 100:g}%"

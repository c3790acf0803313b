"""Parsing rules of the landing contract, as DuckDB SQL expressions.

Every column kind of ``memberdw.contract`` has one rule here: a check that the delivered
text is valid and a cast to the warehouse type. Ingestion builds its typed SELECT from
these, so a rule lives in exactly one place and runs vectorised inside DuckDB.
"""

from __future__ import annotations

from memberdw.contract import Entity

MONEY_RE = r"-?\d{1,16}(\.\d{1,2})?"
INT_RE = r"-?\d{1,18}"
LOCAL_TS_RE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
ISO_TS_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})"
DATE_RE = r"\d{4}-\d{2}-\d{2}"
MONTH_RE = r"\d{4}-(0[1-9]|1[0-2])"
# 13800138000 / +86 138 0013 8000 / 138-0013-8000 / 8613800138000, once spaces and
# hyphens are gone.
MOBILE_RE = r"(\+?86)?1[3-9]\d{9}"
BUSINESS_TZ = "Asia/Shanghai"

# Reason codes for a kind that fails to parse; ``missing_required`` for an empty
# required column; ``csv_*``, ``invalid_json``, ``undecodable_bytes`` and
# ``header_mismatch`` come from the reader (see ``memberdw.ingest``).
REASON_BY_KIND = {
    "int": "invalid_integer",
    "money": "invalid_money",
    "local_ts": "invalid_timestamp",
    "iso_ts": "invalid_timestamp",
    "any_ts": "invalid_timestamp",
    "date": "invalid_date",
    "month": "invalid_month",
    "flag": "invalid_flag",
    "mobile": "invalid_mobile",
    "json_list": "invalid_json_list",
    "order_items": "invalid_order_items",
}

SQL_TYPE_BY_KIND = {
    "text": "VARCHAR",
    "int": "BIGINT",
    "money": "DECIMAL(18,2)",
    "local_ts": "TIMESTAMPTZ",
    "iso_ts": "TIMESTAMPTZ",
    "any_ts": "TIMESTAMPTZ",
    "date": "DATE",
    "month": "VARCHAR",
    "flag": "BOOLEAN",
    "mobile": "VARCHAR",
    "json_list": "JSON",
    "order_items": "JSON",
}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'



def typed_and_check(kind: str, v: str) -> tuple[str, str]:
    """(typed expression, validity expression) for a non-NULL text value ``v``.

    The validity expression is only evaluated where ``v`` is not NULL.
    """
    def matches(pattern: str, expr: str = v) -> str:
        return f"regexp_full_match({expr}, '{pattern}')"

    if kind == "text":
        return v, "true"
    if kind == "int":
        typed = f"try_cast({v} as BIGINT)"
        return typed, f"{matches(INT_RE)} and {typed} is not null"
    if kind == "money":
        typed = f"try_cast({v} as DECIMAL(18,2))"
        return typed, f"{matches(MONEY_RE)} and {typed} is not null"
    if kind == "local_ts":
        typed = f"timezone('{BUSINESS_TZ}', try_strptime({v}, '%Y-%m-%d %H:%M:%S'))"
        return typed, f"{matches(LOCAL_TS_RE)} and {typed} is not null"
    if kind == "iso_ts":
        typed = f"try_cast({v} as TIMESTAMPTZ)"
        return typed, f"{matches(ISO_TS_RE)} and {typed} is not null"
    if kind == "any_ts":
        local, local_ok = typed_and_check("local_ts", v)
        iso, iso_ok = typed_and_check("iso_ts", v)
        typed = f"(case when contains({v}, 'T') then {iso} else {local} end)"
        return typed, f"(case when contains({v}, 'T') then {iso_ok} else {local_ok} end)"
    if kind == "date":
        typed = f"cast(try_strptime({v}, '%Y-%m-%d') as DATE)"
        return typed, f"{matches(DATE_RE)} and {typed} is not null"
    if kind == "month":
        return v, matches(MONTH_RE)
    if kind == "flag":
        return f"({v} = '1')", matches("[01]")
    if kind == "mobile":
        compact = f"regexp_replace({v}, '[ -]', '', 'g')"
        return f"right({compact}, 11)", matches(MOBILE_RE, compact)
    if kind == "json_list":
        typed = f"try(cast({v} as JSON))"
        return typed, f"coalesce(json_type({typed}) = 'ARRAY', false)"
    if kind == "order_items":
        typed = f"try(cast({v} as JSON))"

        def field_matches(field: str, pattern: str) -> str:
            return matches(pattern, f"coalesce(json_extract_string(x, '$.{field}'), '')")

        item_ok = (
            "lambda x: json_type(x) = 'OBJECT'"
            f" and {field_matches('quantity', INT_RE)}"
            f" and {field_matches('unit_price', MONEY_RE)}"
            f" and {field_matches('paid_amount', MONEY_RE)}"
        )
        items = f"json_extract({typed}, '$[*]')"
        return typed, (
            f"coalesce(json_type({typed}) = 'ARRAY', false)"
            f" and coalesce(list_bool_and(list_transform({items}, {item_ok})), true)"
        )
    raise ValueError(f"unknown column kind {kind!r}")


def typed_select(entity: Entity, text_of) -> tuple[list[str], str, str]:
    """SQL pieces turning text columns into typed ones for ``entity``.

    ``text_of(column)`` gives the SQL expression of the column's delivered text.
    Returns (typed select items, reason expression, failing-column expression); the
    reason is NULL for a row that parses, else the first failing rule in column order.
    """
    items, reason_whens, column_whens = [], [], []
    for col in entity.columns:
        raw = f"nullif(trim({text_of(col)}), '')"
        typed, ok = typed_and_check(col.kind, raw)
        items.append(f"{typed} as {quote(col.name)}")
        if col.required:
            reason_whens.append(f"when {raw} is null then 'missing_required'")
            column_whens.append(f"when {raw} is null then '{col.name}'")
        if col.kind != "text":
            bad = f"{raw} is not null and not coalesce({ok}, false)"
            reason_whens.append(f"when {bad} then '{REASON_BY_KIND[col.kind]}'")
            column_whens.append(f"when {bad} then '{col.name}'")
    reason = f"(case {' '.join(reason_whens)} end)" if reason_whens else "null"
    failing = f"(case {' '.join(column_whens)} end)" if column_whens else "null"
    return items, reason, failing


def raw_columns_ddl(entity: Entity) -> str:
    return ", ".join(f"{quote(c.name)} {SQL_TYPE_BY_KIND[c.kind]}" for c in entity.columns)

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
        # Each item is parsed once for its three fields; an item that is not an object has
        # none of them, and an empty quantity fails its rule.
        fields = "lambda x: json_extract_string(x, ['$.quantity', '$.unit_price', '$.paid_amount'])"
        quantity, price, paid = (f"coalesce(f[{i}], '')" for i in (1, 2, 3))
        item_ok = (f"lambda f: {matches(INT_RE, quantity)} and {matches(MONEY_RE, price)}"
                   f" and {matches(MONEY_RE, paid)}")
        items = f"list_transform(json_extract({typed}, '$[*]'), {fields})"
        return typed, (
            f"coalesce(json_type({typed}) = 'ARRAY', false)"
            f" and coalesce(list_bool_and(list_transform({items}, {item_ok})), true)"
        )
    raise ValueError(f"unknown column kind {kind!r}")


def typed_select(entity: Entity, raw_of) -> tuple[list[str], str, str, str]:
    """SQL pieces turning text columns into typed ones for ``entity``.

    ``raw_of(column)`` gives the SQL of the column's delivered text, trimmed, NULL if empty
    (``raw_text``): computed once per row, it is read by every piece. Returns (typed select
    items, validity expression, reason expression, failing-column expression). The validity
    is true (never NULL) exactly where the reason is NULL, a row that parses; the reason is
    otherwise the first failing rule in column order.
    """
    items, valid, reason_whens, column_whens = [], [], [], []
    for col in entity.columns:
        raw = raw_of(col)
        typed, ok = typed_and_check(col.kind, raw)
        items.append(f"{typed} as {quote(col.name)}")
        if col.required:
            valid.append(f"{raw} is not null")
            reason_whens.append(f"when {raw} is null then 'missing_required'")
            column_whens.append(f"when {raw} is null then '{col.name}'")
        if col.kind != "text":
            valid.append(f"({raw} is null or coalesce({ok}, false))")
            bad = f"{raw} is not null and not coalesce({ok}, false)"
            reason_whens.append(f"when {bad} then '{REASON_BY_KIND[col.kind]}'")
            column_whens.append(f"when {bad} then '{col.name}'")
    reason = f"(case {' '.join(reason_whens)} end)" if reason_whens else "null"
    failing = f"(case {' '.join(column_whens)} end)" if column_whens else "null"
    return items, " and ".join(valid) or "true", reason, failing


def raw_text(text: str) -> str:
    """A column's delivered text as the rules read it: trimmed, NULL if empty."""
    return f"nullif(trim({text}), '')"


def raw_columns_ddl(entity: Entity) -> str:
    return ", ".join(f"{quote(c.name)} {SQL_TYPE_BY_KIND[c.kind]}" for c in entity.columns)

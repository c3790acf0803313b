"""Mini-program orders (``staging.stg_miniapp__orders``, newest version of each order)."""

from __future__ import annotations

import great_expectations.expectations as gxe

from memberdw.expectations.base import (
    ENUMS, ERROR, FUTURE_BOUND, QUARANTINE, WARN, Dataset, check, known, known_reference,
)

QUERY = f"""
select
    order_id as record_key,
    member_id,
    order_id,
    store_code,
    status,
    created_at,
    {known('store_code', 'staging.stg_stores__stores')} as is_known_store,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_miniapp__orders
"""


def expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="order_id",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="order_id identifies one order (staging keeps its newest version)."),
        check(gxe.ExpectColumnValuesToBeInSet, column="status",
              value_set=ENUMS["miniapp_status"],
              rule="invalid_enum:status", severity=WARN, action=QUARANTINE,
              why="status is one of the contract's order states; with another one it is "
                  "unknown whether the order counts as paid."),
        known_reference("store", severity=WARN, action=QUARANTINE,
              why="store_code is empty or a store of the current store list."),
        known_reference("member", severity=WARN, action=QUARANTINE,
              why="member_id, when given, is a CRM member."),
        check(gxe.ExpectColumnValuesToBeBetween, column="created_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:created_at", severity=WARN, action=QUARANTINE,
              why="An order is not created after the run's as-of date."),
    ]


DATASETS = [Dataset("miniapp_orders", "staging.stg_miniapp__orders", QUERY, expectations)]

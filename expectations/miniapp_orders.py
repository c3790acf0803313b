"""Mini-program orders (``staging.stg_miniapp__orders``, newest version of each order).

An order whose state or store cannot be read leaves the facts (it is unknown whether or
where it counts); an order for a member id the CRM does not know stays in sales, flagged.
"""

from __future__ import annotations

from expectations.base import (
    ENUMS, QUARANTINE, REVIEW, Dataset, in_set, known, known_reference, not_after_as_of,
    once_per_delivery,
)

RECORD_KEY = "order_id"

QUERY = f"""
select
    {RECORD_KEY} as record_key,
    member_id,
    status,
    created_at,
    _copies_in_delivery,
    {known('store_code', 'staging.stg_stores__stores')} as is_known_store,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_miniapp__orders
"""


def rules():
    return [
        in_set("status", ENUMS["miniapp_status"], action=QUARANTINE,
               why="status is one of the contract's order states; with another one it is "
                   "unknown whether the order counts as paid."),
        known_reference("store", action=QUARANTINE,
                        why="store_code is empty or a store of the current store list."),
        not_after_as_of("created_at", action=QUARANTINE,
                        why="An order is not created after the run's as-of date."),
        known_reference("member", action=REVIEW,
                        why="member_id, when given, is a CRM member; the order is kept and "
                            "credited through unionid/openid, or to no member."),
        once_per_delivery(why="An order version (order_id, updated_at) comes once per file."),
    ]


DATASETS = [Dataset("miniapp_orders", "staging.stg_miniapp__orders", RECORD_KEY, QUERY,
                    rules)]

"""Acquisition costs (``staging.stg_marketing__acquisition_costs``): what the brand spent
per month and register channel, tied to a store or channel-wide (store_code null).

A channel the CRM does not know stays (it is money spent) and is listed for review; a cost
tied to a store the warehouse does not know, a negative cost and a month after the as-of
date cannot be attributed or trusted, and leave mart_acquisition_monthly.
"""

from __future__ import annotations

from expectations.base import (
    ENUMS, FUTURE_BOUND, QUARANTINE, REVIEW, Dataset, in_set, known, known_reference,
    once_per_delivery, rule,
)

RECORD_KEY = "concat_ws('|', cost_month, register_channel, coalesce(store_code, ''))"

QUERY = f"""
select
    {RECORD_KEY} as record_key,
    null::varchar as member_id,
    register_channel,
    cost_amount,
    cast(cost_month || '-01' as timestamp) as cost_month_start,
    _copies_in_delivery,
    {known('store_code', 'staging.stg_stores__stores')} as is_known_store,
    _source_file,
    _source_line
from staging.stg_marketing__acquisition_costs
"""


def rules():
    return [
        in_set("register_channel", ENUMS["register_channel"], action=REVIEW,
               why="register_channel is one of crm/members' register channels; a cost for "
                   "another channel matches no member."),
        known_reference("store", action=QUARANTINE,
                        why="A store-tied cost names a store of the current store list."),
        rule("negative_cost", "cost_amount < 0", action=QUARANTINE,
             why="A cost is what the brand spent: zero or more."),
        rule("future_date:cost_month", f"cost_month_start >= timestamp '{FUTURE_BOUND}'",
             action=QUARANTINE, why="A cost is not for a month after the run's as-of date."),
        once_per_delivery(why="A month, channel and store come once per file."),
    ]


DATASETS = [Dataset("acquisition_costs", "staging.stg_marketing__acquisition_costs",
                    RECORD_KEY, QUERY, rules)]

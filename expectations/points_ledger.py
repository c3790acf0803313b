"""Points ledger (``staging.stg_points__ledger``)."""

from __future__ import annotations

from expectations.base import (
    ENUMS, QUARANTINE, REVIEW, Dataset, in_set, known, known_reference, not_after_as_of,
    once_per_delivery,
)

RECORD_KEY = "entry_id"

QUERY = f"""
select
    {RECORD_KEY} as record_key,
    member_id,
    reason,
    occurred_at,
    _copies_in_delivery,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_points__ledger
"""


def rules():
    return [
        in_set("reason", ENUMS["points_reason"], action=REVIEW,
               why="reason is one of the contract's ledger reasons."),
        known_reference("member", action=QUARANTINE, why="member_id is a CRM member."),
        not_after_as_of("occurred_at", action=QUARANTINE,
                        why="An entry does not occur after the run's as-of date."),
        once_per_delivery(why="entry_id comes once per file."),
    ]


DATASETS = [Dataset("points_ledger", "staging.stg_points__ledger", RECORD_KEY, QUERY, rules)]

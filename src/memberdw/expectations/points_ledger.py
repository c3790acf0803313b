"""Points ledger (``staging.stg_points__ledger``)."""

from __future__ import annotations

import great_expectations.expectations as gxe

from memberdw.expectations.base import (
    ENUMS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset, check, known, known_reference,
)

QUERY = f"""
select
    entry_id as record_key,
    member_id,
    entry_id,
    reason,
    occurred_at,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_points__ledger
"""


def expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="entry_id",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="entry_id identifies one ledger entry."),
        check(gxe.ExpectColumnValuesToBeInSet, column="reason",
              value_set=ENUMS["points_reason"],
              rule="invalid_enum:reason", severity=WARN, action=REVIEW,
              why="reason is one of the contract's ledger reasons."),
        known_reference("member", severity=WARN, action=QUARANTINE,
              why="member_id is a CRM member."),
        check(gxe.ExpectColumnValuesToBeBetween, column="occurred_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:occurred_at", severity=WARN, action=QUARANTINE,
              why="An entry does not occur after the run's as-of date."),
    ]


DATASETS = [Dataset("points_ledger", "staging.stg_points__ledger", QUERY, expectations)]

"""CRM members (``staging.stg_crm__members``): completeness, validity, uniqueness.

Completeness (metrics.md): a member missing more than 20 % of the ten key fields of
landing.md is quarantined as ``incomplete_profile`` -- out of member-level marts, still
counted in store and channel sales. In staging the key fields are mobile_hash,
unionid_hash, name_masked, gender, birth_month, city, registered_at, register_channel,
register_store_code and tier. Members with an erasure request (``is_deleted``) are left
out of it: a profile emptied by an erasure is not a data-quality defect, and those members
leave the member-level marts anyway.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
from great_expectations.expectations.row_conditions import Column

from memberdw.expectations.base import (
    ENUMS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset, check, dbt_vars, known,
)

KEY_FIELDS = ["mobile_hash", "unionid_hash", "name_masked", "gender", "birth_month", "city",
              "registered_at", "register_channel", "register_store_code", "tier"]
MAX_MISSING_SHARE = dbt_vars()["incomplete_profile_max_missing_share"]

QUERY = f"""
select
    member_id as record_key,
    member_id,
    gender,
    register_channel,
    register_store_code,
    tier,
    registered_at,
    coalesce(is_deleted, false) as is_deleted,
    ({' + '.join(f'({c} is null)::integer' for c in KEY_FIELDS)}) as missing_key_fields,
    ({' + '.join(f'({c} is null)::integer' for c in KEY_FIELDS)}) / {len(KEY_FIELDS)}.0
        as missing_key_field_share,
    {known('register_store_code', 'staging.stg_stores__stores', 'store_code')}
        as is_known_register_store,
    _source_file,
    _source_line
from staging.stg_crm__members
"""


def expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="member_id",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="member_id identifies one member."),
        check(gxe.ExpectColumnValuesToBeBetween, column="missing_key_field_share",
              max_value=MAX_MISSING_SHARE,
              row_condition=Column("is_deleted") == False,  # noqa: E712 (builds a condition)
              rule="incomplete_profile", severity=WARN, action=QUARANTINE,
              why="A member missing more than 20% of the 10 key fields of landing.md "
                  "(erased members aside) leaves member-level marts."),
        check(gxe.ExpectColumnValuesToBeInSet, column="gender", value_set=ENUMS["gender"],
              rule="invalid_enum:gender", severity=WARN, action=REVIEW,
              why="gender is M, F, U or empty."),
        check(gxe.ExpectColumnValuesToBeInSet, column="register_channel",
              value_set=ENUMS["register_channel"],
              rule="invalid_enum:register_channel", severity=WARN, action=REVIEW,
              why="register_channel is one of the contract's channels."),
        check(gxe.ExpectColumnValuesToBeInSet, column="tier", value_set=ENUMS["tier"],
              rule="invalid_enum:tier", severity=WARN, action=REVIEW,
              why="tier is normal, silver, gold or platinum."),
        check(gxe.ExpectColumnValuesToBeBetween, column="registered_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:registered_at", severity=WARN, action=REVIEW,
              why="A member cannot register after the run's as-of date."),
        check(gxe.ExpectColumnValuesToBeInSet, column="is_known_register_store", value_set=[True],
              rule="unknown_store", severity=WARN, action=REVIEW,
              why="register_store_code, when given, is a store of the current store list."),
    ]


DATASETS = [Dataset("members", "staging.stg_crm__members", QUERY, expectations)]

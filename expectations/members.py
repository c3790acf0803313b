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

from expectations.base import (
    ENUMS, QUARANTINE, REVIEW, Dataset, dbt_vars, in_set, known, known_reference,
    not_after_as_of, once_per_delivery, rule,
)

RECORD_KEY = "member_id"
KEY_FIELDS = ["mobile_hash", "unionid_hash", "name_masked", "gender", "birth_month", "city",
              "registered_at", "register_channel", "register_store_code", "tier"]
MAX_MISSING_SHARE = dbt_vars()["incomplete_profile_max_missing_share"]

QUERY = f"""
select
    {RECORD_KEY} as record_key,
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
    _copies_in_delivery,
    _source_file,
    _source_line
from staging.stg_crm__members
"""


def rules():
    return [
        rule("incomplete_profile",
             f"not is_deleted and missing_key_field_share > {MAX_MISSING_SHARE}",
             action=QUARANTINE,
             why="A member missing more than 20% of the 10 key fields of landing.md "
                 "(erased members aside) leaves member-level marts; their orders stay in "
                 "store and channel sales."),
        in_set("gender", ENUMS["gender"], action=REVIEW, why="gender is M, F, U or empty."),
        in_set("register_channel", ENUMS["register_channel"], action=REVIEW,
               why="register_channel is one of the contract's channels."),
        in_set("tier", ENUMS["tier"], action=REVIEW,
               why="tier is normal, silver, gold or platinum."),
        not_after_as_of("registered_at", action=REVIEW,
                        why="A member cannot register after the run's as-of date."),
        known_reference("register_store", action=REVIEW,
                        why="register_store_code, when given, is a store of the current "
                            "store list."),
        once_per_delivery(why="A member version (member_id, updated_at) comes once per "
                              "file; staging keeps the last copy."),
    ]


DATASETS = [Dataset("members", "staging.stg_crm__members", RECORD_KEY, QUERY, rules)]

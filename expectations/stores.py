"""Stores (``staging.stg_stores__stores``, the current snapshot)."""

from __future__ import annotations

from expectations.base import (
    ENUMS, REVIEW, Dataset, copies, in_set, rule, unique_key,
)

RECORD_KEY = "store_code"

QUERY = f"""
select
    {RECORD_KEY} as record_key,
    null::varchar as member_id,
    store_type,
    opened_on,
    closed_on,
    {copies('store_code')} as key_copies,
    _source_file,
    _source_line
from staging.stg_stores__stores
"""


def rules():
    return [
        unique_key(why="store_code identifies one store in the current snapshot."),
        in_set("store_type", ENUMS["store_type"], action=REVIEW,
               why="store_type is direct or franchise."),
        rule("invalid_date_range", "closed_on < opened_on", action=REVIEW,
             why="A store closes on or after the day it opened."),
    ]


DATASETS = [Dataset("stores", "staging.stg_stores__stores", RECORD_KEY, QUERY, rules)]

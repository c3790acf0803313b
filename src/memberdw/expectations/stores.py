"""Stores (``staging.stg_stores__stores``, the current snapshot)."""

from __future__ import annotations

import great_expectations.expectations as gxe

from memberdw.expectations.base import (
    ENUMS, ERROR, QUARANTINE, REVIEW, WARN, Dataset, check,
)

QUERY = """
select
    store_code as record_key,
    null::varchar as member_id,
    store_code,
    store_type,
    opened_on,
    closed_on,
    _source_file,
    _source_line
from staging.stg_stores__stores
"""


def expectations():
    return [
        check(gxe.ExpectColumnValuesToBeUnique, column="store_code",
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="store_code identifies one store in the current snapshot."),
        check(gxe.ExpectColumnValuesToBeInSet, column="store_type",
              value_set=ENUMS["store_type"],
              rule="invalid_enum:store_type", severity=WARN, action=REVIEW,
              why="store_type is direct or franchise."),
        check(gxe.ExpectColumnPairValuesAToBeGreaterThanB, column_A="closed_on",
              column_B="opened_on", or_equal=True, ignore_row_if="either_value_is_missing",
              rule="invalid_date_range", severity=WARN, action=REVIEW,
              why="A store closes on or after the day it opened."),
    ]


DATASETS = [Dataset("stores", "staging.stg_stores__stores", QUERY, expectations)]

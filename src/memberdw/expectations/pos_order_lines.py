"""POS ticket lines (``staging.stg_pos__order_lines``): validity, references, uniqueness.

A line that cannot be read as a sale or a return, or that points at an unknown store or
member, is quarantined: it would put money in the wrong place. An unknown payment method
only makes the line worth a look.
"""

from __future__ import annotations

import great_expectations.expectations as gxe

from memberdw.expectations.base import (
    ENUMS, ERROR, FUTURE_BOUND, QUARANTINE, REVIEW, WARN, Dataset, check, known, known_reference,
)



def _sign(column: str) -> str:
    """The sign of ``column`` as a word, on sale and return lines only (NULL elsewhere, so
    the sign rules skip lines invalid_enum:order_type already quarantines). Not a GE
    row_condition: in GE 1.24 a row_condition on a column-pair expectation filters the row
    count but not the unexpected rows (pandas), and the result fails its own validation."""
    return (f"case when order_type not in ('sale', 'return') then null"
            f" when {column} > 0 then 'positive' when {column} < 0 then 'negative'"
            f" when {column} = 0 then 'zero' end")


QUERY = f"""
select
    concat_ws('|', store_code, order_no, line_number::varchar) as record_key,
    member_id,
    store_code,
    order_no,
    line_number,
    order_type,
    payment_method,
    ordered_at,
    {_sign('quantity')} as quantity_sign,
    {_sign('paid_amount')} as paid_amount_sign,
    {known('store_code', 'staging.stg_stores__stores')} as is_known_store,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_pos__order_lines
"""


def expectations():
    return [
        check(gxe.ExpectCompoundColumnsToBeUnique,
              column_list=["store_code", "order_no", "line_number"],
              rule="duplicate_key", severity=ERROR, action=QUARANTINE,
              why="(store_code, order_no, line_number) identifies one ticket line."),
        check(gxe.ExpectColumnValuesToBeInSet, column="order_type",
              value_set=ENUMS["order_type"],
              rule="invalid_enum:order_type", severity=WARN, action=QUARANTINE,
              why="order_type is sale or return; anything else cannot be signed into GMV."),
        check(gxe.ExpectColumnValuesToBeInSet, column="payment_method",
              value_set=ENUMS["payment_method"],
              rule="invalid_enum:payment_method", severity=WARN, action=REVIEW,
              why="payment_method is one of the contract's methods."),
        check(gxe.ExpectColumnPairValuesToBeInSet, column_A="order_type",
              column_B="quantity_sign",
              value_pairs_set=[("sale", "positive"), ("return", "negative")],
              ignore_row_if="either_value_is_missing",
              rule="quantity_sign_mismatch", severity=WARN, action=QUARANTINE,
              why="Sale lines have a positive quantity, return lines a negative one."),
        check(gxe.ExpectColumnPairValuesToBeInSet, column_A="order_type",
              column_B="paid_amount_sign",
              value_pairs_set=[("sale", "positive"), ("sale", "zero"),
                               ("return", "negative"), ("return", "zero")],
              ignore_row_if="either_value_is_missing",
              rule="amount_sign_mismatch", severity=WARN, action=QUARANTINE,
              why="A sale line is not paid a negative amount, a return line not a positive one."),
        known_reference("store", severity=WARN, action=QUARANTINE,
              why="store_code is a store of the current store list."),
        known_reference("member", severity=WARN, action=QUARANTINE,
              why="member_id, when given, is a CRM member."),
        check(gxe.ExpectColumnValuesToBeBetween, column="ordered_at",
              max_value={"$PARAMETER": FUTURE_BOUND}, strict_max=True,
              rule="future_date:ordered_at", severity=WARN, action=QUARANTINE,
              why="A ticket is not dated after the run's as-of date."),
    ]


DATASETS = [Dataset("pos_order_lines", "staging.stg_pos__order_lines", QUERY, expectations)]

"""POS ticket lines (``staging.stg_pos__order_lines``): validity, references, delivery.

Every rule judges one line, and a quarantined line leaves only itself out of the facts
(never the rest of its ticket). A line is quarantined only when the fact cannot be trusted
at all: its type is neither sale nor return, its store is unknown, or it is dated after the
as-of day. Everything odd but real is kept and flagged for review: tills emit zero-quantity
lines (weighed goods), zero-price gift lines and price adjustments (quantity 0, an amount),
lines whose signs do not match the ticket type (exchanges), unknown payment methods and
member cards the CRM does not know (the sale is real; it just belongs to no known member).
"""

from __future__ import annotations

from expectations.base import (
    ENUMS, QUARANTINE, REVIEW, Dataset, in_set, known, known_reference, not_after_as_of,
    once_per_delivery, rule,
)

RECORD_KEY = "concat_ws('|', store_code, order_no, cast(line_number as varchar))"

QUERY = f"""
select
    {RECORD_KEY} as record_key,
    member_id,
    order_type,
    payment_method,
    ordered_at,
    quantity,
    paid_amount,
    _copies_in_delivery,
    {known('store_code', 'staging.stg_stores__stores')} as is_known_store,
    {known('member_id', 'staging.stg_crm__members')} as is_known_member,
    _source_file,
    _source_line
from staging.stg_pos__order_lines
"""


def rules():
    return [
        in_set("order_type", ENUMS["order_type"], action=QUARANTINE,
               why="order_type is sale or return; anything else cannot be signed into GMV."),
        known_reference("store", action=QUARANTINE,
                        why="store_code is a store of the current store list."),
        not_after_as_of("ordered_at", action=QUARANTINE,
                        why="A ticket is not dated after the run's as-of date."),
        in_set("payment_method", ENUMS["payment_method"], action=REVIEW,
               why="payment_method is one of the contract's methods."),
        known_reference("member", action=REVIEW,
                        why="member_id, when given, is a CRM member; the sale is kept and "
                            "counts for no member."),
        rule("zero_quantity", "quantity = 0 and paid_amount = 0", action=REVIEW,
             why="A line with quantity 0 and nothing paid (weighed goods, voided scans) is "
                 "real till output; kept."),
        rule("price_adjustment", "quantity = 0 and paid_amount <> 0", action=REVIEW,
             why="A line with quantity 0 and an amount is a price adjustment; its money is "
                 "real and stays in GMV."),
        rule("zero_price_line", "quantity <> 0 and paid_amount = 0", action=REVIEW,
             why="A line sold for nothing (a free gift) is real; kept."),
        rule("quantity_sign_mismatch",
             "(order_type = 'sale' and quantity < 0) or (order_type = 'return' and quantity > 0)",
             action=REVIEW,
             why="Sale lines have a positive quantity, return lines a negative one; "
                 "an exchange breaks this and is real."),
        rule("amount_sign_mismatch",
             "(order_type = 'sale' and paid_amount < 0) or (order_type = 'return' and paid_amount > 0)",
             action=REVIEW,
             why="A sale line is not paid a negative amount, a return line not a positive "
                 "one; the amount paid is what the till took and stays in GMV."),
        once_per_delivery(why="(store_code, order_no, line_number) came once in its file; "
                              "staging keeps the last copy."),
    ]


DATASETS = [Dataset("pos_order_lines", "staging.stg_pos__order_lines", RECORD_KEY, QUERY,
                    rules)]

"""Order amount outliers: an order whose amount lies more than 3 sigma from the mean of its
store and calendar month is flagged ``amount_outlier`` and kept (metrics.md: needs_review;
the review list is ``meta.dq_row_flags`` with action ``review``).

Orders are POS sale tickets (the paid amounts of a ticket's sale lines, per store_code and
order_no) and mini-program orders that were paid (status paid, shipped, completed or
refunded; total_paid_amount), together, per store_code and month of ordered_at /
created_at (Asia/Shanghai). The z-score uses the sample standard deviation; a store-month
of one order, or of equal amounts, has none (NULL, not checked). With n orders in a group
|z| cannot exceed (n-1)/sqrt(n), so groups of ten orders or fewer never flag.

The record key is the order, spelled as ``fct_orders.order_id`` spells it (the marts join
the flags on it): ``pos:<store_code>:<order_no>`` or ``mp:<order_id>``; a ticket's source
line is that of its first line.
"""

from __future__ import annotations

from expectations.base import REVIEW, Dataset, dbt_vars, rule

MAX_SIGMA = dbt_vars()["outlier_sigma"]

QUERY = """
with

pos_tickets as (
    select
        'pos:' || store_code || ':' || order_no as record_key,
        max(member_id) as member_id,
        'pos' as channel,
        store_code,
        min(ordered_at) as ordered_at,
        sum(paid_amount)::double as paid_amount,
        arg_min(_source_file, line_number) as _source_file,
        arg_min(_source_line, line_number) as _source_line
    from staging.stg_pos__order_lines
    where order_type = 'sale'
    group by store_code, order_no
),

miniapp_orders as (
    select
        'mp:' || order_id as record_key,
        member_id,
        'miniapp' as channel,
        store_code,
        created_at as ordered_at,
        total_paid_amount::double as paid_amount,
        _source_file,
        _source_line
    from staging.stg_miniapp__orders
    where status in ('paid', 'shipped', 'completed', 'refunded')
),

orders as (
    select * from pos_tickets
    union all
    select * from miniapp_orders
),

scored as (
    select
        record_key,
        member_id,
        channel,
        store_code,
        date_trunc('month', ordered_at)::date as order_month,
        paid_amount,
        count(paid_amount) over store_month as orders_in_store_month,
        -- rounded: the last bits of a sum over doubles depend on the order threads meet
        -- the rows, and a row whose figures differ is validated again (memberdw.quality)
        round(avg(paid_amount) over store_month, 6) as store_month_mean,
        round(stddev_samp(paid_amount) over store_month, 6) as store_month_stddev,
        round((paid_amount - avg(paid_amount) over store_month)
            / nullif(stddev_samp(paid_amount) over store_month, 0), 9) as amount_z,
        _source_file,
        _source_line
    from orders
    window store_month as (partition by store_code, date_trunc('month', ordered_at))
)

select * from scored
"""


def rules():
    return [
        rule("amount_outlier", f"abs(amount_z) > {MAX_SIGMA}", action=REVIEW,
             why="An order's amount lies within 3 sample standard deviations of the mean "
                 "of its store and calendar month (POS sale tickets and paid mini-program "
                 "orders); outliers are kept and listed for review (needs_review)."),
    ]


DATASETS = [Dataset("order_amounts",
                    "staging.stg_pos__order_lines (sale tickets) + staging.stg_miniapp__orders",
                    "order_id", QUERY, rules)]

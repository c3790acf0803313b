-- RFM as of the as-of date: the current snapshot of int_member_rfm.
with

rfm as (select * from {{ ref('int_member_rfm') }}),

final as (
    select
        as_of_date,
        member_id,
        recency_days,
        frequency,
        monetary_amount,
        r_score,
        f_score,
        m_score,
        rfm_segment,
        rfm_segment_cn,
        value_group,
        lifecycle_stage
    from rfm
    where is_current
)

select * from final

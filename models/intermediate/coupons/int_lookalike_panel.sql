-- The members a coupon's diff-in-diff lookalike arm is drawn from (int_coupon_effect_members):
-- every member while there are at most var lookalike_panel_size of them, otherwise that many,
-- a fixed pseudo-random panel (the first by a hash of member_id, which says nothing about how
-- a member buys). Without it the arm is every never-issued member once per wave (a wave per
-- issue day): 4.2M rows at 100,000 members and 30 days, billions at a national chain's scale.
-- A panel estimates each stratum's mean just as a census would, with a wider interval that
-- the estimate's variance carries (its member counts are the panel's). panel_rank (1, 2, ...
-- in that hash order) lets int_coupon_effect_members take a smaller prefix of the panel per
-- wave when waves x panel exceeds var lookalike_row_budget.
with

members as (select member_id from {{ ref('int_members_resolved') }}),

ranked as (
    select
        member_id,
        row_number() over (order by {{ dbt.hash('member_id') }}, member_id) as panel_rank
    from members
),

final as (
    select
        member_id,
        panel_rank
    from ranked
    where panel_rank <= {{ var('lookalike_panel_size') }}
)

select * from final

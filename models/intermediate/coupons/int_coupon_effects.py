"""Incremental GMV of each coupon template (memberdw.stats.coupon_effects) from the
sufficient statistics in int_coupon_arm_stats: against the campaign's control group where
it has one (effect_method control_group), else a difference in differences against
never-issued members of the same wave and pre-period RFM segment (diff_in_diff). One row
per template_id; min_group_size as in int_campaign_effects (read its note on config)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from memberdw.stats import coupon_effects

    stats = dbt.ref("int_coupon_arm_stats").df()
    return coupon_effects(stats, int(dbt.config.get("min_group_size", 100)))

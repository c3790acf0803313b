"""Incremental GMV of each coupon template with a control group (int_coupon_arm_stats),
by the same estimators as the campaigns (memberdw.stats.campaign_effects): one row per
template_id."""


def model(dbt, session):
    dbt.config(materialized="table")
    from memberdw.stats import campaign_effects

    stats = dbt.ref("int_coupon_arm_stats").df().rename(columns={"template_id": "campaign_id"})
    effects = campaign_effects(stats, int(dbt.config.get("min_group_size", 100)))
    return effects.rename(columns={"campaign_id": "template_id"})

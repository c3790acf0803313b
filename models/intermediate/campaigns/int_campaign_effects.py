"""Campaign effect estimates (memberdw.stats.campaign_effects) from the per-arm, per-stratum
sufficient statistics in int_campaign_arm_stats: conversion lift, incremental GMV (raw and
CUPED) and the pre-period balance check, one row per campaign.

min_group_size (model config, default 100): below it in either arm the lift, p-value and
incremental columns are null. dbt finds the config keys a Python model reads by parsing its
code and passes only those, and only from a dbt.config.get("key", ...) call its parser
reaches: keep the call a direct argument or an assignment (inside `x or 100` it is missed
and the model silently gets the default).
"""


def model(dbt, session):
    dbt.config(materialized="table")
    from memberdw.stats import campaign_effects

    stats = dbt.ref("int_campaign_arm_stats").df()
    return campaign_effects(stats, int(dbt.config.get("min_group_size", 100)))

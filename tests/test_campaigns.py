"""Campaign retrospectives and coupon effect against the generator's planted truth: funnel
and coupon counts exact, planted lifts inside the reported 95% intervals, the zero-effect
campaign without a significant lift, and the marts' figures recomputed from the warehouse's
own member-level tables."""

from __future__ import annotations

import math
import subprocess
import sys

import duckdb
import pytest

from memberdw.generate import generate
from test_marts import memberdw_run

MEMBERS, DAYS, SEED = 2000, 40, 7


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("campaigns")
    truth = generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED)
    run = memberdw_run(base / "landing", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    con = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    yield con, truth, base
    con.close()


def rows(con, sql) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def retrospective(con) -> dict:
    return {r["campaign_id"]: r for r in rows(con, "select * from marts.mart_campaign_retrospective")}


def test_every_planted_campaign_has_a_row(built):
    con, truth, _ = built
    assert set(retrospective(con)) == set(truth["campaigns"])


@pytest.mark.parametrize("column", ["targeted_count", "control_count", "reached_count",
                                    "opened_count", "clicked_count"])
def test_funnel_counts_equal_the_truth(built, column):
    con, truth, _ = built
    mart = retrospective(con)
    got = {cid: mart[cid][column] for cid in truth["campaigns"]}
    want = {cid: t[column] for cid, t in truth["campaigns"].items()}
    assert got == want


def test_converted_is_reached_members_who_bought_in_the_window(built):
    """Recomputed from staging and the orders, not from the campaign models; a sale
    returned in full after the window still converted (nothing after the window leaks)."""
    con, _, _ = built
    recomputed = dict(con.execute("""
        with reached as (
            select distinct t.campaign_id, coalesce(m.member_id, t.member_id) as member_id
            from staging.stg_marketing__campaign_touches t
            left join intermediate.int_member_id_map m on t.member_id = m.source_member_id
            where t.is_delivered
        ),
        treated as (
            select distinct a.campaign_id, coalesce(m.member_id, a.member_id) as member_id
            from staging.stg_marketing__campaign_audience a
            left join intermediate.int_member_id_map m on a.member_id = m.source_member_id
            where a.audience_group = 'treatment'
        )
        select c.campaign_id, count(distinct r.member_id)
        from staging.stg_marketing__campaigns c
        join reached r on r.campaign_id = c.campaign_id
        join treated t2 on t2.campaign_id = r.campaign_id and t2.member_id = r.member_id
        join intermediate.int_orders_unioned o on o.member_id = r.member_id
            and o.order_date between c.start_date and c.end_date
            and o.order_type = 'sale' and o.gmv_amount > 0
            and (o.returned_in_full_date is null or o.returned_in_full_date > c.end_date)
        group by c.campaign_id
    """).fetchall())
    mart = retrospective(con)
    assert {cid: r["converted_count"] for cid, r in mart.items() if r["converted_count"]} \
        == recomputed


def lift_campaigns(con):
    return [r for r in retrospective(con).values() if r["conversion_lift"] is not None]


def test_planted_conversion_lift_lies_inside_the_interval(built):
    con, truth, _ = built
    estimated = lift_campaigns(con)
    assert len(estimated) >= 3, "too few campaigns with groups of min_group_size"
    for r in estimated:
        planted = truth["campaigns"][r["campaign_id"]]["expected_conversion_lift"]
        assert r["conversion_lift_ci_low"] <= planted <= r["conversion_lift_ci_high"], (
            r["campaign_id"], planted, r["conversion_lift_ci_low"], r["conversion_lift_ci_high"])


@pytest.mark.parametrize("kind", ["", "_cuped"])
def test_planted_incremental_gmv_lies_inside_the_interval(built, kind):
    con, truth, _ = built
    for r in lift_campaigns(con):
        planted = truth["campaigns"][r["campaign_id"]]["expected_incremental_gmv_amount"]
        low, high = r[f"incremental_gmv{kind}_ci_low"], r[f"incremental_gmv{kind}_ci_high"]
        assert float(low) <= planted <= float(high), (r["campaign_id"], planted, low, high)


def test_the_zero_effect_campaign_shows_no_significant_lift(built):
    con, truth, _ = built
    nulls = [cid for cid, t in truth["campaigns"].items() if t["uplift"] == 0 and t["has_control"]]
    assert nulls
    mart = retrospective(con)
    for cid in nulls:
        r = mart[cid]
        assert r["conversion_lift"] is not None, "the null campaign must be big enough to test"
        assert r["conversion_lift_ci_low"] <= 0 <= r["conversion_lift_ci_high"]
        assert r["conversion_lift_p_value"] > 0.05
        assert float(r["incremental_gmv_ci_low"]) <= 0 <= float(r["incremental_gmv_ci_high"])


def test_a_campaign_without_control_is_compared_with_lookalikes(built):
    con, truth, _ = built
    mart = retrospective(con)
    no_control = [cid for cid, t in truth["campaigns"].items() if not t["has_control"]]
    assert len(no_control) == 1
    assert mart[no_control[0]]["natural_rate_source"] == "lookalike"
    assert all(r["natural_rate_source"] == "control_group"
               for cid, r in mart.items() if cid not in no_control)


def test_itt_rates_match_the_member_level_outcomes(built):
    con, _, _ = built
    for r in lift_campaigns(con):
        if r["natural_rate_source"] != "control_group":
            continue
        (t_rate, c_rate), = con.execute("""
            select avg(case when arm = 'treatment' then has_purchase::int end),
                   avg(case when arm = 'control' then has_purchase::int end)
            from intermediate.int_campaign_member_outcomes where campaign_id = ?""",
            [r["campaign_id"]]).fetchall()
        assert math.isclose(r["treatment_conversion_rate"], t_rate)
        assert math.isclose(r["natural_conversion_rate"], c_rate)
        assert math.isclose(r["conversion_lift"], t_rate - c_rate)


def test_campaign_cuts_add_up_to_the_funnel(built):
    con, _, _ = built
    mart = retrospective(con)
    sums = rows(con, """select campaign_id, cut, sum(targeted_count) as targeted,
                        sum(reached_count) as reached, sum(converted_count) as converted
                        from marts.mart_campaign_cuts where cut <> 'group' group by all""")
    assert {s["cut"] for s in sums} == {"region", "store", "channel", "value_group"}
    for s in sums:
        r = mart[s["campaign_id"]]
        assert (s["targeted"], s["reached"], s["converted"]) == (
            r["targeted_count"], r["reached_count"], r["converted_count"]), s


COUPON_COUNTS = ["issued_count", "claimed_count", "redeemed_count", "redemption_rows",
                 "expired_unused_count"]


@pytest.mark.parametrize("column", COUPON_COUNTS)
def test_coupon_counts_equal_the_truth(built, column):
    con, truth, _ = built
    mart = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    assert set(mart) == set(truth["coupon_templates"])
    assert {t: mart[t][column] for t in mart} == \
        {t: v[column] for t, v in truth["coupon_templates"].items()}


def test_every_redemption_is_matched_or_shown_unmatched(built):
    con, _, _ = built
    for r in rows(con, "select * from marts.mart_coupon_effect"):
        assert r["matched_by_ref_count"] + r["matched_nearest_count"] \
            + r["unmatched_redemption_count"] == r["redeemed_count"], r["template_id"]
    # a counted redemption without order_ref found its order only through the nearest purchase
    (bad,), = con.execute("""select count(*) from intermediate.int_coupon_redemptions_matched
                             where order_ref is null and match_method = 'order_ref'""").fetchall()
    assert bad == 0


def test_coupon_cuts_add_up(built):
    con, _, _ = built
    mart = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    cuts = rows(con, """select template_id, cut, sum(issued_count) as issued,
                        sum(redeemed_count) as redeemed from marts.mart_coupon_cuts group by all""")
    assert {c["cut"] for c in cuts} == {"campaign", "store", "channel", "rfm_segment",
                                        "value_group", "member_type"}
    for c in cuts:
        m = mart[c["template_id"]]
        assert (c["issued"], c["redeemed"]) == (m["issued_count"], m["redeemed_count"])


@pytest.mark.parametrize("column", ["issued_count", "claimed_count", "redeemed_count",
                                    "expired_unused_count"])
def test_coupon_counts_per_campaign_equal_the_truth(built, column):
    con, truth, _ = built
    got = dict(con.execute(f"""select cut_value, sum({column}) from marts.mart_coupon_cuts
                               where cut = 'campaign' group by cut_value""").fetchall())
    expected = {}
    for t in truth["coupon_templates"].values():
        key = t["campaign_id"] or "none"
        expected[key] = expected.get(key, 0) + t[column]
    assert got == expected


def effect_members(con, template_id):
    return rows(con, f"""select * from intermediate.int_coupon_effect_members
                         where template_id = '{template_id}'""")


def test_coupons_without_a_control_group_get_a_difference_in_differences(built):
    con, truth, _ = built
    mart = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    with_control = {cid for cid, t in truth["campaigns"].items() if t["has_control"]}
    for tid, t in truth["coupon_templates"].items():
        expected = "control_group" if t["campaign_id"] in with_control else "diff_in_diff"
        assert mart[tid]["effect_method"] == expected, tid
    # the campaign without a control group: its coupon's estimate covers the planted
    # increment per issued member (every targeted member was issued it)
    (campaign_id, planted), = [(cid, c) for cid, c in truth["campaigns"].items()
                               if not c["has_control"]]
    (tid,) = planted["template_ids"]
    r = mart[tid]
    members = effect_members(con, tid)
    treated = [m for m in members if m["arm"] == "treatment"]
    assert len({m["member_id"] for m in treated}) == len(treated) == planted["targeted_count"]
    compared = sum(m["stratum"] != "unmatched" for m in treated)
    assert r["unmatched_issued_count"] == len(treated) - compared
    per_member = planted["expected_incremental_gmv_per_member"]
    assert float(r["incremental_gmv_ci_low"]) <= per_member * compared \
        <= float(r["incremental_gmv_ci_high"]), (r, per_member, compared)
    assert r["incremental_gmv_ci_low"] < r["incremental_gmv_amount"] < r["incremental_gmv_ci_high"]


def test_difference_in_differences_recomputed_from_the_compared_members(built):
    """Σ_s w_s·(mean(y − x) of issued − of never-issued) × issued, over the strata holding
    both; comparison members never issued the template, once per wave, with a whole
    pre-period; the new-member coupon (issued at registration) has no pre-period at all."""
    con, truth, _ = built
    mart = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    estimated = [t for t, r in mart.items()
                 if r["effect_method"] == "diff_in_diff" and r["incremental_gmv_amount"] is not None]
    assert estimated
    for tid in estimated:
        members = effect_members(con, tid)
        issued = {m["member_id"] for m in members if m["arm"] == "treatment"}
        assert not issued & {m["member_id"] for m in members if m["arm"] == "lookalike"}
        strata = {}
        for m in members:
            strata.setdefault(m["stratum"], {}).setdefault(m["arm"], []).append(
                float(m["gmv_amount"] - m["pre_gmv_amount"]))
        both = {s: g for s, g in strata.items() if len(g) == 2}
        n_t = sum(len(g["treatment"]) for g in both.values())
        diff = sum(len(g["treatment"]) / n_t * (sum(g["treatment"]) / len(g["treatment"])
                                                - sum(g["lookalike"]) / len(g["lookalike"]))
                   for g in both.values())
        assert float(mart[tid]["incremental_gmv_amount"]) == pytest.approx(diff * n_t, abs=0.01)
        assert mart[tid]["comparison_member_count"] == sum(len(g["lookalike"]) for g in both.values())
    new_member_gift = [t for t, v in truth["coupon_templates"].items() if v["name"] == "新人礼券"]
    for tid in new_member_gift:
        assert mart[tid]["incremental_gmv_amount"] is None
        assert mart[tid]["unmatched_issued_count"] == len(
            [m for m in effect_members(con, tid) if m["arm"] == "treatment"])


def test_face_values_of_one_type_answer_in_one_query(built):
    con, truth, _ = built
    faces = rows(con, """select face_value_amount, usage_rate from marts.mart_coupon_face_value
                         where coupon_type = 'no_threshold' order by face_value_amount""")
    assert {float(f["face_value_amount"]) for f in faces} >= {5.0, 10.0, 20.0}


def test_report_pages_for_every_campaign(built):
    con, truth, base = built
    out = base / "reports"
    done = subprocess.run([sys.executable, "-m", "memberdw.cli", "report", "--warehouse",
                           str(base / "wh"), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p.name for p in out.glob("report_*.html")} == \
        {f"report_{cid}.html" for cid in truth["campaigns"]}


def test_a_lookalike_panel_smaller_than_the_members_still_covers_the_planted_effect(
        built, tmp_path):
    """int_lookalike_panel: with var lookalike_panel_size below the member count, the
    lookalike arm holds only the panel (the first members by md5 of member_id), and the
    planted increment of the campaign without a control group stays inside the interval."""
    import hashlib
    import os
    import shutil

    from dbt.cli.main import dbtRunner

    from memberdw import pipeline

    _, truth, base = built
    size = MEMBERS // 4
    shutil.copy(base / "wh" / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    os.environ["MEMBERDW_WAREHOUSE_DIR"] = str(tmp_path)
    result = dbtRunner().invoke([
        "run", "--select", "int_lookalike_panel+", "--vars",
        f'{{"lookalike_panel_size": {size}}}', "--project-dir", str(pipeline.DBT_PROJECT_DIR),
        "--profiles-dir", str(pipeline.DBT_PROJECT_DIR), "--target-path",
        str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--quiet"])
    pipeline._release_dbt_connection()
    assert result.success, result.exception
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        members = [r[0] for r in con.execute(
            "select member_id from intermediate.int_members_resolved").fetchall()]
        panel = {r[0] for r in con.execute(
            "select member_id from intermediate.int_lookalike_panel").fetchall()}
        lookalike = {r["member_id"] for r in rows(con, """
            select member_id from intermediate.int_coupon_effect_members
            where arm = 'lookalike'""")}
        mart = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    finally:
        con.close()
    first = sorted(members, key=lambda m: (hashlib.md5(m.encode()).hexdigest(), m))[:size]
    assert len(members) > size and panel == set(first)
    assert lookalike and lookalike <= panel
    (planted,) = [c for c in truth["campaigns"].values() if not c["has_control"]]
    (tid,) = planted["template_ids"]
    r = mart[tid]
    compared = planted["targeted_count"] - r["unmatched_issued_count"]
    per_member = planted["expected_incremental_gmv_per_member"]
    assert float(r["incremental_gmv_ci_low"]) <= per_member * compared \
        <= float(r["incremental_gmv_ci_high"]), (r, per_member, compared)


def test_a_lookalike_row_budget_bounds_the_arm_and_still_covers_the_planted_effect(
        built, tmp_path):
    """int_coupon_effect_members: with var lookalike_row_budget below waves x panel, each
    wave's lookalike arm holds only the panel members whose panel_rank is at most budget /
    waves, so the arm has at most budget rows, and the planted increment of the campaign
    without a control group stays inside the interval."""
    import os
    import shutil

    from dbt.cli.main import dbtRunner

    from memberdw import pipeline

    _, truth, base = built
    shutil.copy(base / "wh" / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        (waves, full), = con.execute("""
            select count(distinct (template_id, window_start_date, window_end_date)),
                   count(*) filter (where arm = 'lookalike')
            from intermediate.int_coupon_effect_members
            where effect_method = 'diff_in_diff'""").fetchall()
    finally:
        con.close()
    budget = waves * (MEMBERS // 4)  # a quarter of the panel per wave
    assert full > budget
    os.environ["MEMBERDW_WAREHOUSE_DIR"] = str(tmp_path)
    result = dbtRunner().invoke([
        "run", "--select", "int_coupon_effect_members+", "--vars",
        f'{{"lookalike_row_budget": {budget}}}', "--project-dir", str(pipeline.DBT_PROJECT_DIR),
        "--profiles-dir", str(pipeline.DBT_PROJECT_DIR), "--target-path",
        str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--quiet"])
    pipeline._release_dbt_connection()
    assert result.success, result.exception
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        (lookalike_rows, worst_rank), = con.execute("""
            select count(*), max(panel.panel_rank)
            from intermediate.int_coupon_effect_members as members
            inner join intermediate.int_lookalike_panel as panel using (member_id)
            where members.arm = 'lookalike'""").fetchall()
        mart = {r["template_id"]: r for r in rows(con, "select * from marts.mart_coupon_effect")}
    finally:
        con.close()
    assert 0 < lookalike_rows <= budget and worst_rank <= MEMBERS // 4
    (planted,) = [c for c in truth["campaigns"].values() if not c["has_control"]]
    (tid,) = planted["template_ids"]
    r = mart[tid]
    assert r["incremental_gmv_amount"] is not None
    compared = planted["targeted_count"] - r["unmatched_issued_count"]
    per_member = planted["expected_incremental_gmv_per_member"]
    assert float(r["incremental_gmv_ci_low"]) <= per_member * compared \
        <= float(r["incremental_gmv_ci_high"]), (r, per_member, compared)

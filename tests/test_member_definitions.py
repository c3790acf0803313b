"""metrics.md's member definitions on generated data, six weeks so that RFM has a month end
and a mid-month as-of date: purchases (a sale returned or refunded in full is none), the
value groups as a roll-up of the eight segments, migration between the snapshots the data
covers, promo_unknown and the frequency x value quadrant. Expectations come from the raw
rows or from the contract's own tables here, not from the SQL."""

from datetime import date
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from memberdw.generate import generate
from test_marts import (frame, latest_members, memberdw_run, merged_ids, order_owners,
                        orders_from_raw, purchases_as_of)

AS_OF = date(2026, 11, 14)
VALUE_GROUP = {  # metrics.md, "Member lifecycle and value"
    "important_value": "high_value",
    "important_develop": "potential", "general_value": "potential", "general_develop": "potential",
    "important_retain": "general", "general_retain": "general",
    "important_winback": "churn_risk", "general_winback": "churn_risk",
}
GROUP_ORDER = ["none", "churn_risk", "general", "potential", "high_value"]  # low to high


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    base = tmp_path_factory.mktemp("members")
    generate(base / "landing", members=300, days=45, seed=5)
    run = memberdw_run(base / "landing", base / "wh", "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    connection = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def orders(con):
    members = latest_members(con)
    orders = orders_from_raw(con)
    orders["member_id"] = orders.order_id.map(order_owners(con, merged_ids(members), members))
    orders["is_purchase"] = purchases_as_of(orders, AS_OF)
    return orders[orders.order_date <= AS_OF]


def test_a_sale_is_a_purchase_only_if_its_own_returns_leave_something(con, orders):
    flagged = dict(con.execute("select order_id, is_purchase from intermediate.int_orders_unioned"
                               " where order_type = 'sale'").fetchall())
    expected = orders[orders.order_id.isin(flagged)].set_index("order_id").is_purchase
    assert expected.to_dict() == {k: flagged[k] for k in expected.index}
    # both kinds of sale that is no purchase are in the data, and sales returned in part
    lost = orders[(orders.order_type == "sale") & ~orders.is_purchase]
    assert {"pos", "miniapp"} <= set(lost.channel)
    assert set(orders.returns.dropna()) & set(orders[orders.is_purchase].order_id)


def test_lifetime_purchases_leave_out_sales_returned_in_full(con, orders):
    profile = frame(con, "select member_id, lifetime_purchase_count, days_since_last_purchase"
                         " from marts.mart_member_profile").set_index("member_id")
    bought = orders[orders.is_purchase & orders.member_id.isin(profile.index)]
    counts = bought.groupby("member_id").order_id.nunique()
    last = bought.groupby("member_id").order_date.max().map(lambda d: (AS_OF - d).days)
    assert profile.lifetime_purchase_count.to_dict() == counts.reindex(profile.index).fillna(0).astype(int).to_dict()
    assert profile.days_since_last_purchase.dropna().astype(int).to_dict() == last.to_dict()


def test_every_segment_rolls_up_to_its_one_value_group(con):
    pairs = con.execute("select rfm_segment, value_group, count(*) from intermediate.int_member_rfm"
                        " group by all").fetchall()
    assert {(s, g) for s, g, _ in pairs} <= set(VALUE_GROUP.items())
    assert len({s for s, _, _ in pairs}) >= 6, pairs  # most of the eight occur
    assert con.execute("select count(*) from marts.mart_member_rfm where value_group is null"
                       ).fetchone() == (0,)


def test_migration_pairs_only_snapshots_the_data_covers_and_flags_downgrades(con):
    first_order = con.execute("select min(order_date) from intermediate.int_orders_unioned").fetchone()[0]
    moves = frame(con, "select * from marts.mart_member_migration")
    steps = moves[["from_date", "to_date", "is_to_month_end"]].drop_duplicates()
    assert [(r.from_date.date(), r.to_date.date(), r.is_to_month_end) for r in steps.itertuples()] == [
        (date(2026, 10, 31), AS_OF, False)], first_order  # no step from 2026-09-30: before the data
    # each member's segment at either end, 'none' without a purchase by then
    rfm = frame(con, "select as_of_date, member_id, rfm_segment from intermediate.int_member_rfm")
    at = {(r.as_of_date.date(), r.member_id): r.rfm_segment for r in rfm.itertuples()}
    for r in moves.itertuples():
        assert r.from_segment == at.get((r.from_date.date(), r.member_id), "none")
        assert r.to_segment == at.get((r.to_date.date(), r.member_id), "none")
        assert r.from_value_group == VALUE_GROUP.get(r.from_segment, "none")
        assert r.to_value_group == VALUE_GROUP.get(r.to_segment, "none")
        assert r.is_downgrade == (GROUP_ORDER.index(r.to_value_group)
                                  < GROUP_ORDER.index(r.from_value_group)), r
    assert moves.is_downgrade.any() and not moves.is_downgrade.all()
    # the segment-pair mart is the member-level one, counted
    keys = ["from_date", "to_date", "from_segment", "to_segment"]
    rolled = moves.groupby(keys).agg(member_count=("member_id", "count"),
                                     gmv_amount=("gmv_amount", "sum"),
                                     is_downgrade=("is_downgrade", "max")).reset_index()
    pairs = frame(con, "select from_date, to_date, from_segment, to_segment, member_count,"
                       " gmv_amount, is_downgrade from marts.mart_rfm_migration")
    pd.testing.assert_frame_equal(pairs.sort_values(keys).reset_index(drop=True),
                                  rolled.sort_values(keys).reset_index(drop=True),
                                  check_dtype=False)


def test_promo_unknown_below_three_purchases_and_quadrant_at_the_buyers_median(con):
    profile = frame(con, "select member_id, lifetime_purchase_count as n, aov_amount,"
                         " promotion_sensitivity, frequency_value_quadrant"
                         " from marts.mart_member_profile")
    assert ((profile.n < 3) == (profile.promotion_sensitivity == "promo_unknown")).all()
    assert (profile.n >= 3).any() and (profile.n < 3).any()
    buyers = profile[profile.n > 0].copy()
    assert profile[profile.n == 0].frequency_value_quadrant.isna().all()
    n_median = buyers.n.median()
    aov = buyers.aov_amount.map(Decimal)
    aov_median = Decimal(str(aov.median()))
    clear = (aov - aov_median).abs() > Decimal("0.01")  # the mart compares unrounded AOVs
    expected = (buyers.n.ge(n_median).map({True: "high_frequency", False: "low_frequency"})
                + aov.ge(aov_median).map({True: "_high_value", False: "_low_value"}))
    assert (buyers.frequency_value_quadrant[clear] == expected[clear]).all()
    assert buyers.frequency_value_quadrant.nunique() == 4

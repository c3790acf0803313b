"""Acquisition costs end to end: the generator's monthly cost files, their landing (rows in =
loaded + quarantined), staging to the cent of the truth file, and mart_acquisition_monthly
against a recomputation from the landing files themselves: cost per month, new members
counted as persons the way dim_members counts them (merged ids, erasures and incomplete
profiles left out), attributed by the mart's rule, CAC and first-90-day GMV."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from memberdw.contract import BY_KEY
from memberdw.generate import generate
from test_marts import memberdw_run, persons

MEMBERS, DAYS, SEED = 800, 70, 5
ENTITY = "marketing/acquisition_costs"
KEY_FIELDS = ("mobile", "unionid", "name", "gender", "birthday", "city", "register_time",
              "register_channel", "register_store_code", "tier")
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("acquisition")
    truth = generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED)
    # as of the last generated day: "not in the future" does not depend on today's date
    run = memberdw_run(base / "landing", base / "wh", "--as-of", truth["end_date"])
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    con = duckdb.connect(str(base / "wh" / "warehouse.duckdb"), read_only=True)
    yield con, truth, base / "landing"
    con.close()


def landed_rows(root, truth, entity: str) -> list[tuple[str, int, dict]]:
    """(path, line, row) of every row a complete folder delivered, the planted malformed
    lines and the resent duplicate left out: what the contract says must load."""
    bad = {(m["path"], m["line"]) for m in truth["malformed_rows"]}
    skip = set(truth["incomplete_folders"])
    out = []
    for rec in truth["files"]:
        if rec["entity"] != entity or rec["duplicate_of"] or rec["path"].rsplit("/", 1)[0] in skip:
            continue
        text = (root / rec["path"]).read_bytes().decode(
            "utf-8-sig" if rec["encoding"] == "utf-8-sig" else rec["encoding"])
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        for record in reader:
            if (rec["path"], reader.line_num) not in bad:
                out.append((rec["path"], reader.line_num,
                            {k: (v.strip() or None) for k, v in zip(header, record)}))
    return out


def cost_rows(root, truth) -> dict[tuple, Decimal]:
    """(month, register_channel, store_code or None) -> cost, from the landing files."""
    out = {}
    for _, _, r in landed_rows(root, truth, ENTITY):
        key = (r["month"], r["register_channel"], r["store_code"])
        assert key not in out  # every month is delivered once
        out[key] = Decimal(r["cost"])
    return out


def rows(con, sql) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def mart(con) -> dict[tuple, dict]:
    return {(r["acquisition_month"].strftime("%Y-%m"), r["register_channel"], r["store_code"]): r
            for r in rows(con, "select * from marts.mart_acquisition_monthly")}


# ----------------------------------------------------------------------------- delivery

def test_one_cost_file_per_month_delivered_after_the_month_or_month_to_date(built):
    _, truth, root = built
    files = [f for f in truth["files"] if f["entity"] == ENTITY]
    start, end = date.fromisoformat(truth["start_date"]), date.fromisoformat(truth["end_date"])
    months = sorted({(start + timedelta(days=d)).strftime("%Y-%m") for d in range(DAYS)})
    assert len(months) >= 3
    want = []
    for month in months:
        first = date.fromisoformat(month + "-01")
        nxt = (first + timedelta(days=32)).replace(day=1)
        dt = nxt if nxt <= end else end
        want.append(f"{ENTITY}/dt={dt.isoformat()}/acquisition_costs_{month.replace('-', '')}.csv")
    assert sorted(f["path"] for f in files) == want
    costs = cost_rows(root, truth)
    assert {m for m, _, _ in costs} == set(months)
    # online channels are channel-wide, store registrations cost per store; `other` is free
    for (_, channel, store), cost in costs.items():
        assert channel != "other" and cost >= 0
        if channel == "store":
            assert store is not None
        elif channel != "wecom":
            assert store is None
    # wecom: channel-wide, and the new store's own sign-up drive beside it
    assert {st is None for _, ch, st in costs if ch == "wecom"} == {True, False}


def test_truth_lists_the_valid_cost_rows_and_the_planted_defective_ones(built):
    _, truth, root = built
    acq = truth["acquisition_costs"]
    costs = cost_rows(root, truth)
    assert {(r["month"], r["register_channel"], r["store_code"] or None): Decimal(r["cost"])
            for r in acq["rows"]} == costs
    by_month = defaultdict(Decimal)
    for (month, _, _), cost in costs.items():
        by_month[month] += cost
    assert {m: Decimal(v["total"]) for m, v in acq["by_month"].items()} == by_month
    assert Decimal(acq["total"]) == sum(costs.values())
    planted = [m for m in truth["malformed_rows"] if m["path"].startswith(ENTITY + "/")]
    assert acq["defective_rows"] == planted
    assert {m["reason"] for m in planted} == {"invalid_money", "invalid_month"}


# ----------------------------------------------------------------------------- landing

def test_rows_in_equal_rows_loaded_plus_quarantined(built):
    con, truth, _ = built
    files = {f["path"]: f for f in truth["files"] if f["entity"] == ENTITY}
    ledger = con.execute("select file_path, rows_read, rows_loaded, rows_rejected from"
                         " meta.load_ledger where source = 'marketing'"
                         " and entity = 'acquisition_costs'").fetchall()
    assert {p for p, *_ in ledger} == set(files)
    for path, read, loaded, rejected in ledger:
        assert read == files[path]["rows"] == loaded + rejected, path
    quarantined = con.execute("select source_file, source_line, reason, column_name"
                              " from meta.quarantine where entity = 'acquisition_costs'"
                              " order by all").fetchall()
    assert quarantined == [(d["path"], d["line"], d["reason"], d["column"])
                           for d in truth["acquisition_costs"]["defective_rows"]]
    (raw,) = con.execute("select count(*) from raw.marketing__acquisition_costs").fetchone()
    assert raw == sum(loaded for _, _, loaded, _ in ledger) == \
        truth["expected"][ENTITY]["loadable"] == len(truth["acquisition_costs"]["rows"])


def test_staging_costs_equal_the_truth_to_the_cent(built):
    con, truth, _ = built
    staged = {(m, ch, st): cost for m, ch, st, cost in con.execute(
        "select cost_month, register_channel, store_code, cost_amount"
        " from staging.stg_marketing__acquisition_costs").fetchall()}
    assert staged == {(r["month"], r["register_channel"], r["store_code"] or None):
                      Decimal(r["cost"]) for r in truth["acquisition_costs"]["rows"]}
    (dtype,) = con.execute("select data_type from information_schema.columns where"
                           " table_name = 'stg_marketing__acquisition_costs'"
                           " and column_name = 'cost_amount'").fetchone()
    assert dtype == "DECIMAL(18,2)"
    assert con.execute("select count(*) from meta.dq_row_flags"
                       " where dataset = 'acquisition_costs'").fetchone() == (0,)


# ----------------------------------------------------------------------------- the mart

def test_mart_costs_per_month_equal_the_landing_files(built):
    con, truth, root = built
    costs = cost_rows(root, truth)
    got = mart(con)
    per_month = defaultdict(Decimal)
    for (month, _, _), r in got.items():
        per_month[month] += r["acquisition_cost_amount"] or 0
    want = defaultdict(Decimal)
    for (month, _, _), cost in costs.items():
        want[month] += cost
    assert per_month == want
    # every cost row is one mart row, with its scope; the rest carry new members only
    assert {k: r["acquisition_cost_amount"] for k, r in got.items()
            if r["cost_scope"] != "none"} == costs
    for (_, _, store), r in got.items():
        if r["cost_scope"] == "none":
            assert r["acquisition_cost_amount"] is None and r["new_member_count"] > 0
        else:
            assert r["cost_scope"] == ("channel" if store is None else "store")


def crm_persons(root, truth) -> list[dict]:
    """Persons from the landing crm/members files, by the project's rules: the newest
    record of a member_id wins; erased members leave (and never merge); member_ids sharing
    a normalised mobile or a unionid are one person (transitively), named by the smallest
    id; records missing more than 2 of the 10 key fields are incomplete profiles and leave;
    registration is the person's earliest remaining record."""
    newest = {}
    for path, line, r in landed_rows(root, truth, "crm/members"):
        rank = (r["updated_at"], path.split("dt=")[1][:10], line)
        if r["member_id"] not in newest or rank > newest[r["member_id"]][0]:
            newest[r["member_id"]] = (rank, r)
    records = {mid: r for mid, (_, r) in newest.items() if r["deleted"] != "1"}
    person_of = persons({mid: ((r["mobile"] or "").replace(" ", "").replace("-", "")[-11:] or None,
                               r["unionid"] or None) for mid, r in records.items()})
    incomplete = {mid for mid, r in records.items() if sum(not r[f] for f in KEY_FIELDS) > 2}
    assert incomplete == set(truth["incomplete_profiles"])
    earliest = {}
    for mid, r in records.items():
        if mid in incomplete:
            continue
        person = person_of[mid]
        rank = (r["register_time"], mid)
        if person not in earliest or rank < earliest[person][0]:
            earliest[person] = (rank, r)
    return [{"member_id": person, "register_date": date.fromisoformat(r["register_time"][:10]),
             "register_channel": r["register_channel"],
             "register_store_code": r["register_store_code"]}
            for person, (_, r) in sorted(earliest.items())]


def attribute(persons: list[dict], costs: dict, as_of: date) -> dict[str, tuple]:
    """member_id -> mart key, by the rule the mart's YAML states."""
    months = {m for m, _, _ in costs}
    out = {}
    for p in persons:
        month = p["register_date"].strftime("%Y-%m")
        if month not in months or p["register_date"] > as_of:
            continue
        channel, store = p["register_channel"], p["register_store_code"]
        if (month, channel, store) in costs and store is not None:
            out[p["member_id"]] = (month, channel, store)
        elif (month, channel, None) in costs:
            out[p["member_id"]] = (month, channel, None)
        else:
            out[p["member_id"]] = (month, channel, store)
    return out


def test_new_members_are_persons_recomputed_from_the_crm_files(built):
    con, truth, root = built
    as_of = date.fromisoformat(truth["end_date"])
    persons = crm_persons(root, truth)
    assert len(persons) == con.execute("select count(*) from marts.dim_members").fetchone()[0]
    merged = {g["member_ids"][0] for g in truth["duplicate_persons"]}
    assert merged <= {p["member_id"] for p in persons}
    keys = attribute(persons, cost_rows(root, truth), as_of)
    want = Counter(keys.values())
    got = mart(con)
    assert {k: r["new_member_count"] for k, r in got.items() if r["new_member_count"]} == want
    assert sum(want.values()) > 100
    # every month's new members, whatever row they are in
    per_month = Counter(k[0] for k in keys.values())
    mart_month = Counter()
    for k, r in got.items():
        mart_month[k[0]] += r["new_member_count"]
    assert mart_month == per_month and len(per_month) >= 3
    # the channel-wide rule at work: wecom members of other stores in the channel-wide row
    assert any(k[1] == "wecom" and k[2] is None and n for k, n in want.items())


def test_cac_is_cost_over_new_members(built):
    con, _, _ = built
    checked = 0
    for key, r in mart(con).items():
        n, cost = r["new_member_count"], r["acquisition_cost_amount"]
        if n and cost is not None:
            assert r["cac_amount"] == (cost / n).quantize(CENT, ROUND_HALF_UP), key
            checked += 1
        else:
            assert r["cac_amount"] is None, key
    assert checked > 20
    # a store where nobody registered still spent its base: a cost without CAC
    assert any(r["new_member_count"] == 0 and r["acquisition_cost_amount"]
               for r in mart(con).values())


def test_first_90_day_gmv_is_the_new_members_orders_in_their_window(built):
    con, truth, root = built
    as_of = date.fromisoformat(truth["end_date"])
    persons = {p["member_id"]: p for p in crm_persons(root, truth)}
    keys = attribute(list(persons.values()), cost_rows(root, truth), as_of)
    gmv = defaultdict(Decimal)
    for member_id, order_date, amount in con.execute(
            "select member_id, order_date, gmv_amount from marts.fct_orders"
            " where member_id is not null").fetchall():
        if member_id in keys:
            reg = persons[member_id]["register_date"]
            if reg <= order_date < reg + timedelta(days=90) and order_date <= as_of:
                gmv[keys[member_id]] += amount
    got = mart(con)
    assert {k: r["first_90d_gmv_amount"] for k, r in got.items()
            if r["first_90d_gmv_amount"]} == {k: v for k, v in gmv.items() if v}
    # 70 days of data: nobody's 90 days are over
    assert all(r["complete_90d_member_count"] == 0 and not r["is_first_90d_complete"]
               and r["as_of_date"] == as_of for r in got.values())


def test_the_contract_declares_the_entity_as_the_landing_contract_does():
    ent = BY_KEY[ENTITY]
    assert (ent.format, ent.snapshot) == ("csv", False)
    assert [(c.name, c.kind, c.required) for c in ent.columns] == [
        ("month", "month", True), ("register_channel", "text", True),
        ("store_code", "text", False), ("cost", "money", True)]

"""Store and mini-program KPI marts (mart_store_*, mart_region_*, mart_miniapp_*,
mart_fission*) against a recomputation in plain Python from the landing files themselves
(the CSV and JSON Lines the generator wrote, read as landing.md describes them: complete
dt folders only, each content once, UTF-8/BOM/GB18030, any column order, unparsable rows
out), never from the warehouse's own tables. The recomputation applies the documented
rules the pipeline applies: newest version per key, the quarantine rules of
expectations/pos_order_lines.py and miniapp_orders.py, identity merges (shared mobile or
unionid), metrics.md's purchase. On top of the generator's planted defects the fixture
plants a corrected POS line, an exchange line and a line of an unknown store (both
quarantined), a ticket dated after the as-of day (quarantined) and a mini-program order
re-credited to an unknown store (quarantined). Every mart is read from the serving file
marts.duckdb, so the marts are also checked to be published."""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from memberdw.contract import BY_KEY
from memberdw.generate import generate
from memberdw.pii import pii_hash
from memberdw.pipeline import dbt_vars
from test_marts import memberdw_run, persons

MEMBERS, DAYS, SEED = 800, 35, 11
START = date(2026, 10, 1)
AS_OF = START + timedelta(days=DAYS - 1)
TZ = ZoneInfo("Asia/Shanghai")
ORDER_TYPES = {"sale", "return"}
ORDER_STATUSES = {"created", "paid", "shipped", "completed", "cancelled", "refunded"}
SALE_STATUSES = {"paid", "shipped", "completed", "refunded"}
FUNNEL = ("product_view", "add_to_cart", "checkout_start", "order_paid")
CORRECTION = Decimal("10.00")
UNKNOWN_STORE = "S999"
KPI_MARTS = ("mart_store_daily", "mart_store_monthly", "mart_region_daily",
             "mart_region_monthly", "mart_miniapp_daily", "mart_miniapp_retention",
             "mart_fission", "mart_fission_monthly")


# ------------------------------------------------------------------ the landing, as delivered

MONEY = re.compile(r"-?\d+(\.\d{1,2})?")
INTEGER = re.compile(r"-?\d+")
LOCAL_TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
ISO_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MOBILE = re.compile(r"(\+?86)?1[3-9]\d{9}")


def parse(kind: str, value):
    """The typed value of one delivered field, or ValueError (the row is quarantined)."""
    if kind in ("json_list", "order_items"):
        if not isinstance(value, list):
            raise ValueError(kind)
        if kind == "order_items":
            for item in value:
                if not (isinstance(item, dict) and INTEGER.fullmatch(str(item.get("quantity", "")))
                        and MONEY.fullmatch(str(item.get("unit_price", "")))
                        and MONEY.fullmatch(str(item.get("paid_amount", "")))):
                    raise ValueError(kind)
        return value
    if not isinstance(value, str):
        raise ValueError(kind)
    if kind == "text":
        return value
    if kind == "money" and MONEY.fullmatch(value):
        return Decimal(value)
    if kind == "int" and INTEGER.fullmatch(value):
        return int(value)
    if kind == "local_ts" and LOCAL_TS.fullmatch(value):
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")  # Shanghai wall time
    if kind == "iso_ts" and ISO_TS.fullmatch(value):
        aware = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return aware.astimezone(TZ).replace(tzinfo=None)
    if kind == "any_ts":
        return parse("iso_ts" if "T" in value else "local_ts", value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "month" and MONTH.fullmatch(value):
        return value
    if kind == "flag" and value in ("0", "1"):
        return value == "1"
    if kind == "mobile":
        compact = re.sub(r"[ -]", "", value)
        if MOBILE.fullmatch(compact):
            return compact[-11:]
    raise ValueError(kind)


def decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def records(root: Path, entity_key: str, as_of: date = AS_OF) -> list[dict]:
    """Typed rows of an entity: complete dt folders (with _SUCCESS) up to `as_of`, each
    file content once (a resend under another name is the same delivery), rows that do not
    parse left out. `_dt` and `_seq` (delivery order) rank versions."""
    entity = BY_KEY[entity_key]
    seen, rows, seq = set(), [], 0
    for folder in sorted((root / entity_key).glob("dt=*")):
        dt = date.fromisoformat(folder.name[3:])
        if dt > as_of or not (folder / "_SUCCESS").exists():
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != "_SUCCESS"):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            text = decode(data)
            if entity.format == "csv":
                reader = csv.reader(io.StringIO(text, newline=""))
                header = [h.strip() for h in next(reader)]
                delivered = [dict(zip(header, fields)) for fields in reader
                             if len(fields) == len(header)]
            else:
                delivered = []
                for line in text.splitlines():
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict):
                        delivered.append({k: v if v is None or isinstance(v, (list, dict))
                                          else str(v) for k, v in obj.items()})
            for raw in delivered:
                seq += 1
                row = {"_dt": dt, "_seq": seq}
                try:
                    for col in entity.columns:
                        value = raw.get(col.name)
                        if isinstance(value, str):
                            value = value.strip() or None
                        if value is None:
                            if col.required:
                                raise ValueError("missing_required")
                            row[col.name] = None
                        else:
                            row[col.name] = parse(col.kind, value)
                except ValueError:
                    continue
                rows.append(row)
    return rows


def newest(rows: list[dict], key, rank) -> dict:
    """The newest version of each key: the highest `rank(row)`."""
    out = {}
    for row in rows:
        k = key(row)
        if k not in out or rank(row) > rank(out[k]):
            out[k] = row
    return out


# ------------------------------------------------------------------ the warehouse recomputed

MAX_MISSING = dbt_vars()["incomplete_profile_max_missing_share"]
KEY_FIELDS = ("mobile", "unionid", "name", "gender", "birthday", "city", "register_time",
              "register_channel", "register_store_code", "tier")


@dataclass
class Order:
    order_id: str
    channel: str
    store_code: str | None
    member_id: str | None
    order_date: date
    order_type: str
    gmv: Decimal
    items: int
    returns: str | None = None  # the sale a return or refund gives money back on
    shared_by: str | None = None  # plain openid of the sharer (mini-program sales)
    buyer_openid: str | None = None
    is_purchase: bool = False


@dataclass
class World:
    members: dict  # member_id -> newest CRM row
    merged: dict  # member_id -> merged member_id
    resolved: set  # merged members of dim_members
    incomplete: set
    stores: dict  # store_code -> region
    targets: dict  # (store_code, month start) -> Decimal
    orders: list
    events: list
    by_openid: dict
    crm_openids: set = field(default_factory=set)


def union_find(members: dict) -> dict:
    """Members sharing a normalised mobile or a unionid are one person, transitively; the
    smallest member_id names it. Erased members never merge."""
    return persons({m: (None, None) if row["deleted"] else (row["mobile"], row["unionid"])
                    for m, row in members.items()})


def first_of_month(d: date) -> date:
    return d.replace(day=1)


def recompute(root: Path) -> World:
    bound = datetime.combine(AS_OF + timedelta(days=1), datetime.min.time())
    members = newest(records(root, "crm/members"), lambda r: r["member_id"],
                     lambda r: (r["updated_at"], r["_dt"], r["_seq"]))
    merged = union_find(members)
    incomplete = {m for m, r in members.items()
                  if not r["deleted"]
                  and sum(r[f] is None for f in KEY_FIELDS) / len(KEY_FIELDS) > MAX_MISSING}
    resolved = {merged[m] for m, r in members.items() if not r["deleted"] and m not in incomplete}

    def by(key):
        out = {}
        for m, r in members.items():
            if r[key] is not None and not r["deleted"]:
                out[r[key]] = min(out.get(r[key], merged[m]), merged[m])
        return out

    by_mobile, by_unionid, by_openid = by("mobile"), by("unionid"), by("openid")

    store_rows = records(root, "stores/stores")
    current = max(r["_dt"] for r in store_rows)
    stores = {r["store_code"]: r["region"] for r in store_rows if r["_dt"] == current}
    targets = {(k[0], date.fromisoformat(k[1] + "-01")): r["sales_target"] for k, r in newest(
        records(root, "stores/targets"), lambda r: (r["store_code"], r["month"]),
        lambda r: (r["_dt"], r["_seq"])).items()}

    # POS: newest delivery of each line; a quarantined line leaves only itself out
    lines = newest(records(root, "pos/order_lines"),
                   lambda r: (r["store_code"], r["order_no"], r["line_no"]),
                   lambda r: (r["_dt"], r["_seq"])).values()
    tickets = defaultdict(list)
    for line in lines:
        if (line["order_type"] in ORDER_TYPES and line["store_code"] in stores
                and line["order_time"] < bound):
            tickets[(line["store_code"], line["order_no"])].append(line)
    orders = []
    for (store, order_no), ticket in tickets.items():
        card = max((x["member_id"] for x in ticket if x["member_id"]), default=None)
        mobile = max((x["mobile"] for x in ticket if x["mobile"]), default=None)
        order_type = max(x["order_type"] for x in ticket)
        original = max((x["original_order_no"] for x in ticket if x["original_order_no"]),
                       default=None)
        orders.append(Order(
            f"pos:{store}:{order_no}", "pos", store,
            merged.get(card) if card else by_mobile.get(mobile),
            min(x["order_time"] for x in ticket).date(), order_type,
            sum(x["paid_amount"] for x in ticket), sum(x["quantity"] for x in ticket),
            returns=f"pos:{store}:{original}" if order_type == "return" and original else None))

    # mini-program: the newest version of each order is its state
    versions = newest(records(root, "miniapp/orders"), lambda r: r["order_id"],
                      lambda r: (r["updated_at"], r["_dt"], r["_seq"]))
    for o in versions.values():
        if (o["status"] not in ORDER_STATUSES or o["created_at"] >= bound
                or (o["store_code"] is not None and o["store_code"] not in stores)):
            continue  # quarantined
        if o["status"] not in SALE_STATUSES:
            continue
        member = merged.get(o["member_id"]) or by_unionid.get(o["unionid"]) \
            or by_openid.get(o["openid"])
        items = sum(int(i["quantity"]) for i in o["items"] or [])
        sale_id = "mp:" + o["order_id"]
        orders.append(Order(sale_id, "miniapp", o["store_code"], member,
                            (o["paid_at"] or o["created_at"]).date(), "sale", o["total_paid"],
                            items, shared_by=o["shared_by_openid"], buyer_openid=o["openid"]))
        if o["status"] == "refunded":
            orders.append(Order(sale_id + ":refund", "miniapp", o["store_code"], member,
                                o["updated_at"].date(), "refund", -o["total_paid"], -items,
                                returns=sale_id))
    returned = defaultdict(Decimal)
    for o in orders:
        if o.returns:
            returned[o.returns] += o.gmv
    for o in orders:
        o.is_purchase = o.order_type == "sale" and o.gmv + returned[o.order_id] > 0

    events = [e for e in newest(records(root, "miniapp/events"), lambda r: r["event_id"],
                                lambda r: (r["_dt"], r["_seq"])).values()
              if e["openid"] is not None]
    return World(members, merged, resolved, incomplete, stores, targets, orders, events,
                 by_openid, {r["openid"] for r in members.values() if r["openid"]})


# ------------------------------------------------------------------ KPIs recomputed

def sales_kpis(orders, key) -> dict:
    acc = {}
    for o in orders:
        k = key(o)
        if k is None:
            continue
        a = acc.setdefault(k, {"gmv": Decimal("0"), "orders": 0, "items": 0, "stores": set(),
                               "member_gmv": Decimal("0"), "pos": Decimal("0"),
                               "miniapp": Decimal("0"), "purchases": Counter()})
        a["gmv"] += o.gmv
        a["items"] += o.items
        a["stores"].add(o.store_code)
        a[o.channel] += o.gmv
        if o.member_id is not None:
            a["member_gmv"] += o.gmv
        if o.is_purchase:
            a["orders"] += 1
            if o.member_id is not None:
                a["purchases"][o.member_id] += 1
    for a in acc.values():
        a["buyers"] = len(a["purchases"])
        a["repeat_buyers"] = sum(1 for n in a["purchases"].values() if n >= 2)
    return acc


NO_SALES = {"gmv": Decimal("0"), "orders": 0, "items": 0, "member_gmv": Decimal("0"),
            "pos": Decimal("0"), "miniapp": Decimal("0"), "buyers": 0, "repeat_buyers": 0}


def rate(n, d):
    return None if not d else float(n) / float(d)


def rows(con, sql) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def keyed(con, table: str, *key: str) -> dict:
    return {tuple(r[k] for k in key): r for r in rows(con, f"select * from {table}")}


def close(got, want, rel=1e-9):
    if want is None or got is None:
        return got is None and want is None
    return got == pytest.approx(want, rel=rel, abs=1e-12)


def cents(got, exact) -> bool:
    """A money figure rounded to the cent: within half a cent of the exact value."""
    if exact is None or got is None:
        return got is None and exact is None
    return abs(Decimal(got) - Decimal(exact)) <= Decimal("0.005") + Decimal("1e-9")


def check_sales_row(row: dict, a: dict) -> list[str]:
    """What differs between a mart row and the recomputed figures of its grain."""
    errors = []
    exact = {"gmv_amount": a["gmv"], "member_gmv_amount": a["member_gmv"],
             "pos_gmv_amount": a["pos"], "miniapp_gmv_amount": a["miniapp"]}
    for column, want in exact.items():
        if row[column] != want:
            errors.append(f"{column} {row[column]} != {want}")
    counts = {"order_count": a["orders"], "item_quantity": a["items"], "buyer_count": a["buyers"],
              "repeat_buyer_count": a["repeat_buyers"]}
    for column, want in counts.items():
        if row[column] != want:
            errors.append(f"{column} {row[column]} != {want}")
    if not close(row["attach_rate"], rate(a["items"], a["orders"])):
        errors.append(f"attach_rate {row['attach_rate']}")
    if not cents(row["aov_amount"], a["gmv"] / a["orders"] if a["orders"] else None):
        errors.append(f"aov_amount {row['aov_amount']}")
    if not close(row["member_gmv_share"], rate(a["member_gmv"], a["gmv"])):
        errors.append(f"member_gmv_share {row['member_gmv_share']}")
    if "repurchase_rate" in row and not close(row["repurchase_rate"],
                                              rate(a["repeat_buyers"], a["buyers"])):
        errors.append(f"repurchase_rate {row['repurchase_rate']}")
    return errors


# ------------------------------------------------------------------ planted defects

def plant(landing: Path) -> dict:
    """Deliveries the rules must judge: a later file correcting one line of a multi-line
    POS sale (+10.00) and adding an exchange line to it (order type neither sale nor
    return: quarantined) and a line at a store nobody knows (quarantined); a ticket dated
    the day after the as-of day (quarantined); a newer version of a paid mini-program
    order credited to an unknown store (the whole order quarantined)."""
    day = START + timedelta(days=19)
    lines = [r for r in records(landing, "pos/order_lines")
             if r["_dt"] == day and r["order_type"] == "sale" and r["quantity"] > 0]
    tickets = defaultdict(list)
    for r in lines:
        tickets[(r["store_code"], r["order_no"])].append(r)
    (store, order_no), ticket = min((k, v) for k, v in tickets.items() if len(v) >= 2)
    first = min(ticket, key=lambda r: r["line_no"])
    columns = BY_KEY["pos/order_lines"].column_names

    def text(row: dict) -> dict:
        out = {}
        for c in columns:
            v = row.get(c)
            out[c] = ("" if v is None else v.strftime("%Y-%m-%d %H:%M:%S")
                      if isinstance(v, datetime) else str(v))
        return out

    corrected = dict(first, paid_amount=first["paid_amount"] + CORRECTION)
    exchange = dict(first, line_no=max(r["line_no"] for r in ticket) + 1, order_type="exchange",
                    quantity=1, paid_amount=Decimal("55.50"), coupon_code=None,
                    discount_amount=Decimal("0"))
    stranger = dict(first, store_code=UNKNOWN_STORE, order_no=f"{UNKNOWN_STORE}-0001", line_no=1,
                    member_id=None, mobile=None, coupon_code=None, quantity=1,
                    paid_amount=Decimal("77.70"), discount_amount=Decimal("0"))
    future = dict(first, order_no=f"{store}-FUTURE-0001", line_no=1, coupon_code=None,
                  order_time=datetime.combine(AS_OF + timedelta(days=1), datetime.min.time())
                  + timedelta(hours=10), paid_amount=Decimal("66.60"), quantity=1)

    def write(folder: Path, name: str, rows_: list[dict]) -> None:
        assert (folder / "_SUCCESS").exists(), folder
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(text(r) for r in rows_)
        (folder / name).write_text(out.getvalue(), encoding="utf-8")

    pos = landing / "pos/order_lines"
    write(pos / f"dt={day + timedelta(days=1)}", "pos_correction.csv",
          [corrected, exchange, stranger])
    write(pos / f"dt={AS_OF}", "pos_future.csv", [future])

    versions = newest(records(landing, "miniapp/orders"), lambda r: r["order_id"],
                      lambda r: (r["updated_at"], r["_dt"], r["_seq"]))
    raw = {}
    for path in sorted((landing / "miniapp/orders").glob("dt=*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            v = versions.get(obj.get("order_id"))
            if v is not None and parse("iso_ts", obj["updated_at"]) == v["updated_at"]:
                raw[obj["order_id"]] = obj
    sold = sorted(o for o, v in versions.items() if v["status"] == "completed"
                  and v["updated_at"].date() < day and o in raw)
    moved = dict(raw[sold[0]], store_code=UNKNOWN_STORE)
    moved["updated_at"] = (versions[sold[0]]["updated_at"] + timedelta(minutes=1)) \
        .replace(tzinfo=TZ).isoformat()
    folder = landing / f"miniapp/orders/dt={day}"
    assert (folder / "_SUCCESS").exists()
    (folder / "orders_moved.jsonl").write_text(json.dumps(moved, ensure_ascii=False) + "\n",
                                              encoding="utf-8")
    return {"pos_order_id": f"pos:{store}:{order_no}", "pos_store": store,
            "pos_date": first["order_time"].date(),
            "pos_paid": sum(r["paid_amount"] for r in ticket),
            "future_order_id": f"pos:{store}:{store}-FUTURE-0001",
            "miniapp_order_id": "mp:" + sold[0]}


# ------------------------------------------------------------------ the fixture

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("kpis")
    truth = generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED)
    planted = plant(base / "landing")
    run = memberdw_run(base / "landing", base / "wh", "--as-of", AS_OF.isoformat())
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    world = recompute(base / "landing")
    con = duckdb.connect(str(base / "wh" / "marts.duckdb"), read_only=True)
    yield con, world, truth, planted
    con.close()


# ------------------------------------------------------------------ the tests

def test_the_kpi_marts_are_published_as_of_the_run(built):
    con, *_ = built
    published = {t for (t,) in con.execute(
        "select table_name from information_schema.tables").fetchall()}
    assert set(KPI_MARTS) <= published
    for table in KPI_MARTS:
        assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
    assert con.execute("select as_of_date from publication").fetchone()[0] == AS_OF


def test_the_recomputation_applies_the_quarantine_rules(built):
    """The landing read as the pipeline must read it: the generator's planted incomplete
    profiles, the corrected line, and nothing the rules quarantine."""
    con, world, truth, planted = built
    assert world.incomplete == set(truth["incomplete_profiles"])
    mine = {o.order_id: o for o in world.orders}
    assert mine[planted["pos_order_id"]].gmv == planted["pos_paid"] + CORRECTION
    assert planted["future_order_id"] not in mine
    assert planted["miniapp_order_id"] not in mine
    assert not any(o.store_code == UNKNOWN_STORE for o in world.orders)
    published = {r["order_id"]: r["gmv_amount"] for r in rows(con, f"""
        select order_id, gmv_amount from fct_orders where order_id in
        ('{planted["pos_order_id"]}', '{planted["future_order_id"]}',
         '{planted["miniapp_order_id"]}')""")}
    assert published == {planted["pos_order_id"]: planted["pos_paid"] + CORRECTION}


def test_store_day_gmv_is_fct_orders_to_the_cent(built):
    con, *_ = built
    fct = {(r["store_code"], r["order_date"]): r["gmv"] for r in rows(con, """
        select store_code, order_date, sum(gmv_amount) as gmv from fct_orders
        where store_code is not null group by all""")}
    mart = {(r["store_code"], r["sales_date"]): r["gmv_amount"]
            for r in rows(con, "select * from mart_store_daily")}
    assert len(mart) > 300
    assert mart == fct
    region = {(r["region"], r["sales_date"]): r["gmv_amount"]
              for r in rows(con, "select * from mart_region_daily")}
    assert sum(region.values()) == sum(fct.values())
    monthly = {(r["store_code"], r["sales_month"]): r["gmv_amount"]
               for r in rows(con, "select * from mart_store_monthly")}
    per_month = defaultdict(Decimal)
    for (store, day), gmv in fct.items():
        per_month[(store, first_of_month(day))] += gmv
    assert {k: v for k, v in monthly.items() if k in per_month} == per_month


def test_every_store_day_agrees_with_the_landing_to_the_cent(built):
    con, world, _, planted = built
    expected = sales_kpis(world.orders, lambda o: (o.store_code, o.order_date)
                          if o.store_code else None)
    mart = keyed(con, "mart_store_daily", "store_code", "sales_date")
    # the data holds what the definitions are about
    orders = {o.order_id: o for o in world.orders}
    later = [o for o in world.orders
             if o.returns in orders and o.order_date > orders[o.returns].order_date]
    assert later, "no return or refund dated after its sale"
    assert any(o.order_type == "sale" and not o.is_purchase for o in world.orders)
    assert sum(a["repeat_buyers"] for a in expected.values()) > 0
    assert sum(a["miniapp"] != 0 for a in expected.values()) > 10
    assert set(mart) == set(expected)
    errors = {k: e for k, r in mart.items() if (e := check_sales_row(r, expected[k]))}
    assert not errors, list(errors.items())[:5]
    for k, r in mart.items():
        assert r["region"] == (world.stores.get(k[0]) or "unknown")
    total = sum((a["gmv"] for a in expected.values()), Decimal("0"))
    assert sum((r["gmv_amount"] for r in mart.values()), Decimal("0")) == total
    day = mart[(planted["pos_store"], planted["pos_date"])]
    assert day["gmv_amount"] == expected[(planted["pos_store"], planted["pos_date"])]["gmv"]


def test_every_region_day_agrees_with_the_landing(built):
    con, world, *_ = built
    expected = sales_kpis(world.orders, lambda o: (world.stores.get(o.store_code) or "unknown",
                                                   o.order_date) if o.store_code else None)
    mart = {(r["region"], r["sales_date"]): r for r in rows(con, "select * from mart_region_daily")}
    assert set(mart) == set(expected)
    errors = {k: e for k, r in mart.items() if (e := check_sales_row(r, expected[k]))}
    assert not errors, list(errors.items())[:5]
    assert {k: r["store_count"] for k, r in mart.items()} == \
        {k: len(a["stores"]) for k, a in expected.items()}
    # a member buying at two stores of a region is one buyer: not the sum of the stores'
    stores = sales_kpis(world.orders,
                        lambda o: (o.store_code, o.order_date) if o.store_code else None)
    summed = sum(a["buyers"] for a in stores.values())
    assert sum(r["buyer_count"] for r in mart.values()) <= summed


def month_calendar(month: date) -> tuple[int, int]:
    days = calendar.monthrange(month.year, month.month)[1]
    elapsed = max(0, min(days, (AS_OF - month).days + 1))
    return days, elapsed


def test_every_store_month_agrees_with_the_landing_and_its_target(built):
    con, world, *_ = built
    expected = sales_kpis(world.orders, lambda o: (o.store_code, first_of_month(o.order_date))
                          if o.store_code else None)
    mart = keyed(con, "mart_store_monthly", "store_code", "sales_month")
    assert set(mart) == set(expected) | set(world.targets)
    assert any(not r["is_complete_month"] for r in mart.values())
    assert sum(r["target_amount"] is not None for r in mart.values()) > 10
    for k, r in mart.items():
        a = expected.get(k, NO_SALES)
        assert not check_sales_row(r, a), (k, check_sales_row(r, a))
        days, elapsed = month_calendar(k[1])
        assert (r["days_in_month"], r["days_elapsed"], r["is_complete_month"],
                r["as_of_date"]) == (days, elapsed, elapsed == days, AS_OF), k
        target = world.targets.get(k)
        assert r["target_amount"] == target, k
        assert close(r["achievement_rate"], rate(a["gmv"], target)), k
        mtd = None if target is None else target * elapsed / days
        assert cents(r["mtd_target_amount"], mtd), k
        assert close(r["mtd_achievement_rate"], rate(a["gmv"], r["mtd_target_amount"]), rel=1e-6), k
        if elapsed == days and target is not None:
            assert close(r["mtd_achievement_rate"], r["achievement_rate"]), k


def test_every_region_month_agrees_with_the_landing(built):
    con, world, *_ = built
    region = lambda store: world.stores.get(store) or "unknown"  # noqa: E731
    expected = sales_kpis(world.orders, lambda o: (
        (region(o.store_code), first_of_month(o.order_date)) if o.store_code else None))
    store_months = {(r["store_code"], r["sales_month"]): r
                    for r in rows(con, "select * from mart_store_monthly")}
    mart = keyed(con, "mart_region_monthly", "region", "sales_month")
    assert set(mart) == {(region(s), m) for s, m in store_months}
    for k, r in mart.items():
        a = expected[k]
        assert not check_sales_row(r, a), (k, check_sales_row(r, a))
        targets = [t for (s, m), t in world.targets.items() if (region(s), m) == k]
        target = sum(targets) if targets else None
        assert r["target_amount"] == target, k
        assert close(r["achievement_rate"], rate(a["gmv"], target)), k
        mtd = [sm["mtd_target_amount"] for (s, m), sm in store_months.items()
               if (region(s), m) == k and sm["mtd_target_amount"] is not None]
        assert r["mtd_target_amount"] == (sum(mtd) if mtd else None), k
        assert close(r["mtd_achievement_rate"], rate(a["gmv"], r["mtd_target_amount"])), k


def visitor_days(world: World) -> dict:
    days = defaultdict(set)
    for e in world.events:
        days[(e["openid"], e["event_time"].date())].add(e["event_name"])
    return days


def test_miniapp_daily_active_users_funnel_and_sales_agree_with_the_landing(built):
    con, world, truth, _ = built
    vd = visitor_days(world)
    dates_by_visitor = defaultdict(set)
    for (openid, d) in vd:
        dates_by_visitor[openid].add(d)
    first_visit = {v: min(ds) for v, ds in dates_by_visitor.items()}
    first_event = min(first_visit.values())
    events_per_day = Counter(e["event_time"].date() for e in world.events)
    miniapp = [o for o in world.orders if o.channel == "miniapp"]
    dates = {d for _, d in vd} | {o.order_date for o in miniapp}
    mart = {r["activity_date"]: r for r in rows(con, "select * from mart_miniapp_daily")}
    assert set(mart) == dates
    skipped = date.fromisoformat(truth["incomplete_folders"][0].split("dt=")[1])
    assert not mart[skipped]["has_event_data"] and mart[skipped]["dau"] == 0
    for d, r in mart.items():
        today = [(v, names) for (v, day), names in vd.items() if day == d]
        window = {v for (v, day) in vd if d - timedelta(days=29) <= day <= d}
        steps = []
        for k in range(len(FUNNEL)):
            steps.append(sum(1 for _, names in today if set(FUNNEL[:k + 1]) <= names))
        want = {
            "has_event_data": events_per_day[d] > 0, "event_count": events_per_day[d],
            "dau": len(today), "mau": len(window),
            "is_mau_window_complete": d - timedelta(days=29) >= first_event,
            "new_visitor_count": sum(1 for v, _ in today if first_visit[v] == d),
            "product_view_user_count": steps[0], "add_to_cart_user_count": steps[1],
            "checkout_start_user_count": steps[2], "order_paid_user_count": steps[3],
            "order_count": sum(1 for o in miniapp if o.order_date == d and o.is_purchase),
            "gmv_amount": sum((o.gmv for o in miniapp if o.order_date == d), Decimal("0")),
        }
        assert {c: r[c] for c in want} == want, d
        rates = {"stickiness": rate(len(today), len(window)) if today else None,
                 "view_to_cart_rate": rate(steps[1], steps[0]),
                 "cart_to_checkout_rate": rate(steps[2], steps[1]),
                 "checkout_to_paid_rate": rate(steps[3], steps[2]),
                 "view_to_paid_rate": rate(steps[3], steps[0])}
        for c, want_rate in rates.items():
            assert close(r[c], want_rate), (d, c, r[c], want_rate)
    assert sum(r["order_paid_user_count"] for r in mart.values()) > 50
    assert any(r["is_mau_window_complete"] for r in mart.values())


def test_weekly_retention_cohorts_agree_with_the_landing(built):
    con, world, *_ = built
    dates_by_visitor = defaultdict(set)
    for (openid, d) in visitor_days(world):
        dates_by_visitor[openid].add(d)
    cohorts = defaultdict(lambda: [0, 0, 0])
    for dates in dates_by_visitor.values():
        first = min(dates)
        c = cohorts[first - timedelta(days=first.weekday())]
        c[0] += 1
        c[1] += any(1 <= (d - first).days <= 7 for d in dates)
        c[2] += any(30 <= (d - first).days <= 59 for d in dates)
    mart = {r["cohort_week"]: r for r in rows(con, "select * from mart_miniapp_retention")}
    assert set(mart) == set(cohorts)
    for week, (size, r7, rm) in cohorts.items():
        r = mart[week]
        complete_7d = week + timedelta(days=13) <= AS_OF
        complete_m = week + timedelta(days=65) <= AS_OF
        assert (r["cohort_user_count"], r["retained_7d_count"], r["retained_next_month_count"],
                r["is_7d_window_complete"], r["is_next_month_window_complete"],
                r["as_of_date"]) == (size, r7, rm, complete_7d, complete_m, AS_OF), week
        assert close(r["retention_7d_rate"], rate(r7, size) if complete_7d else None), week
        assert close(r["retention_next_month_rate"], rate(rm, size) if complete_m else None), week
    assert sum(r["is_7d_window_complete"] for r in mart.values()) >= 3
    assert sum(r["retained_next_month_count"] for r in mart.values()) > 0


def fission_facts(world: World) -> list[tuple]:
    """(sharer_key, sharer_member_id, month, activity, visitor, gmv) per fission fact."""

    def sharer(openid):
        member = world.by_openid.get(openid)
        return (member or pii_hash(openid)), member

    facts = []
    for e in world.events:
        month = first_of_month(e["event_time"].date())
        if e["event_name"] == "share":
            facts.append((*sharer(e["openid"]), month, "share", None, None))
        if e["event_name"] == "page_view" and e["shared_by_openid"]:
            facts.append((*sharer(e["shared_by_openid"]), month, "click", e["openid"], None))
    for o in world.orders:
        if o.shared_by and o.is_purchase:
            facts.append((*sharer(o.shared_by), first_of_month(o.order_date), "order",
                          o.buyer_openid, o.gmv))
    referred = {}
    for m, r in world.members.items():
        if r["referrer_member_id"] and not r["deleted"]:
            rank = (r["register_time"] is None, r["register_time"] or datetime.min, m)
            person = world.merged[m]
            if person not in referred or rank < referred[person][0]:
                referred[person] = (rank, r["referrer_member_id"])
    for person, (_, referrer) in referred.items():
        if person not in world.resolved:
            continue
        registered = [r["register_time"] for m, r in world.members.items()
                      if world.merged[m] == person and not r["deleted"]
                      and m not in world.incomplete and r["register_time"] is not None]
        referrer_member = world.merged.get(referrer)
        key = referrer_member or referrer
        if registered and key != person:
            facts.append((key, referrer_member, first_of_month(min(registered).date()),
                          "new_member", None, None))
    return facts


def test_fission_per_sharer_agrees_with_the_landing(built):
    con, world, *_ = built
    expected = {}
    for key, member, month, activity, visitor, gmv in fission_facts(world):
        a = expected.setdefault((key, month), {
            "sharer_member_id": None, "share_count": 0, "click_count": 0, "visitors": set(),
            "order_count": 0, "gmv_amount": Decimal("0"), "new_member_count": 0})
        a["sharer_member_id"] = a["sharer_member_id"] or member
        a[f"{activity}_count"] += 1
        if activity == "click":
            a["visitors"].add(visitor)
        if activity == "order":
            a["gmv_amount"] += gmv
    mart = keyed(con, "mart_fission", "sharer_key", "activity_month")
    assert set(mart) == set(expected)
    for k, a in expected.items():
        r = mart[k]
        want = {"sharer_member_id": a["sharer_member_id"],
                "is_member": a["sharer_member_id"] is not None,
                "share_count": a["share_count"], "click_count": a["click_count"],
                "clicked_visitor_count": len(a["visitors"]), "order_count": a["order_count"],
                "gmv_amount": a["gmv_amount"], "new_member_count": a["new_member_count"]}
        assert {c: r[c] for c in want} == want, k
        assert close(r["click_per_share_rate"], rate(a["click_count"], a["share_count"])), k
        assert close(r["order_per_click_rate"], rate(a["order_count"], a["click_count"])), k
    totals = Counter()
    for a in expected.values():
        for c in ("share_count", "click_count", "order_count", "new_member_count"):
            totals[c] += a[c]
    assert min(totals.values()) > 5, totals


def test_fission_months_and_k_factor_agree_with_the_landing(built):
    con, world, *_ = built
    active = defaultdict(set)
    for e in world.events:
        active[first_of_month(e["event_time"].date())].add(e["openid"])
    months = defaultdict(lambda: {"sharers": set(), "share": 0, "click": 0, "visitors": set(),
                                  "order": 0, "gmv": Decimal("0"), "new_member": 0,
                                  "referrers": set()})
    for key, _, month, activity, visitor, gmv in fission_facts(world):
        m = months[month]
        m[activity] += 1
        if activity == "share":
            m["sharers"].add(key)
        if activity == "click":
            m["visitors"].add(visitor)
        if activity == "order":
            m["gmv"] += gmv
        if activity == "new_member":
            m["referrers"].add(key)
    mart = {r["activity_month"]: r for r in rows(con, "select * from mart_fission_monthly")}
    assert set(mart) == set(months) | set(active)
    for month, r in mart.items():
        m, users = months[month], len(active.get(month, ()))
        want = {"active_visitor_count": users, "sharer_count": len(m["sharers"]),
                "share_count": m["share"], "click_count": m["click"],
                "clicked_visitor_count": len(m["visitors"]), "order_count": m["order"],
                "gmv_amount": m["gmv"], "new_member_count": m["new_member"],
                "referrer_count": len(m["referrers"])}
        assert {c: r[c] for c in want} == want, month
        rates = {"click_per_share_rate": rate(m["click"], m["share"]),
                 "order_per_click_rate": rate(m["order"], m["click"]),
                 "new_members_per_referrer": rate(m["new_member"], len(m["referrers"])),
                 "shares_per_active_visitor": rate(m["share"], users),
                 "new_members_per_share": rate(m["new_member"], m["share"]),
                 "k_factor": rate(m["new_member"], users)}
        for c, want_rate in rates.items():
            assert close(r[c], want_rate), (month, c, r[c], want_rate)
    october = mart[START]
    assert october["k_factor"] > 0
    assert close(october["k_factor"],
                 october["shares_per_active_visitor"] * october["new_members_per_share"])


def test_no_plain_openid_leaves_staging(built):
    con, world, *_ = built
    plain = world.crm_openids | {e["openid"] for e in world.events} \
        | {e["shared_by_openid"] for e in world.events if e["shared_by_openid"]}
    assert len(plain) > 100
    found = set()
    for table in KPI_MARTS:
        for (column,) in con.execute(
                "select column_name from information_schema.columns where table_name = ?"
                " and data_type = 'VARCHAR'", [table]).fetchall():
            values = {v for (v,) in con.execute(
                f"select distinct {column} from {table}").fetchall()}
            found |= values & plain
    assert not found

"""bench/pandas_part.py (issue 11's analyst-in-pandas RFM) against mart_member_rfm, row for
row, on a small generated landing with extra defects planted on top of the generator's:
the rows memberdw's Great Expectations rules quarantine (unknown store, invalid order type,
future dates, unknown mini-program status), a late correction, a duplicate key in one
file, quoted CSV, mobiles typed in other formats, card-less tickets, an erasure requested
by a rejected CRM record, a deleted flag left empty, an incomplete profile, a merge through
a changed mobile and a store dropped from the newest store list."""

import csv
import importlib.util
import io
import json
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from memberdw.generate import generate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_marts import memberdw_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
POS = ["store_code", "order_no", "line_no", "order_time", "member_id", "mobile", "sku_code",
       "category", "quantity", "unit_price", "discount_amount", "paid_amount", "coupon_code",
       "payment_method", "order_type", "original_order_no"]


def load_pandas_part():
    spec = importlib.util.spec_from_file_location("pandas_part", REPO / "bench" / "pandas_part.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("pandas_part", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))
    (folder / "_SUCCESS").touch()


def _csv(header, rows, quote=csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=quote)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _line(store, order_no, line_no, when, member="", mobile="", paid="100.00",
          order_type="sale", original="", quantity="1", category="T恤"):
    return {"store_code": store, "order_no": order_no, "line_no": str(line_no),
            "order_time": when, "member_id": member, "mobile": mobile, "sku_code": "SKU10001",
            "category": category, "quantity": quantity, "unit_price": paid,
            "discount_amount": "0", "paid_amount": paid, "coupon_code": "",
            "payment_method": "wechat_pay", "order_type": order_type,
            "original_order_no": original}


def plant(root: Path) -> dict:
    """Defects on top of the generator's, as new files; returns the members they touch."""
    first = sorted((root / "crm" / "members" / "dt=2026-09-01").glob("*.csv"))[0]
    crm = list(csv.DictReader(first.open(encoding="utf-8-sig")))
    crm_header = list(crm[0])
    m = [r for r in crm if r["mobile"] and r["unionid"] and r["deleted"] == "0"][:12]
    ids = [r["member_id"] for r in m]
    pos = root / "pos" / "order_lines"
    # a late correction: the first line of an early file, re-sent days later with another
    # amount (the newest dt wins), and the same key twice in one file (the later line wins)
    fixed = next(r for early in sorted((pos / "dt=2026-09-03").glob("*.csv"))
                 for r in list(csv.DictReader(early.open(encoding="utf-8-sig")))[4:]
                 if r["member_id"])  # a member's line, on line 6 or later of its file
    fixed = dict(fixed, paid_amount="1.00", unit_price="1.00", quantity="1")
    twice = [dict(fixed, paid_amount="2.00"), dict(fixed, paid_amount="3.00")]
    _write(pos / "dt=2026-09-09", f"pos_{fixed['store_code']}_fix.csv",
           _csv(POS, [[r[c] for c in POS] for r in twice]))
    lines = [
        # quarantined: unknown store, order type, future date
        _line("S002", "S002-20260904-9000", 1, "2026-09-04 10:00:00", ids[0], paid="50"),
        _line("S999", "S999-20260905-0001", 1, "2026-09-05 10:00:00", ids[0], paid="500"),
        _line("S002", "S002-20260905-9001", 1, "2026-09-05 11:00:00", ids[0],
              order_type="exchange", paid="700"),
        _line("S002", "S002-20260905-9002", 1, "2099-03-01 10:00:00", ids[1], paid="900"),
        # card-less tickets credited by the typed mobile, in other formats; one ticket with
        # two mobiles (max(mobile_hash) picks)
        _line("S002", "S002-20260905-9003", 1, "2026-09-05 12:00:00",
              mobile="+86 " + m[2]["mobile"][-11:-8] + " " + m[2]["mobile"][-8:-4] + " "
              + m[2]["mobile"][-4:], paid="321.50"),
        _line("S002", "S002-20260905-9004", 1, "2026-09-05 13:00:00",
              mobile=m[2]["mobile"][-11:], paid="10"),
        _line("S002", "S002-20260905-9004", 2, "2026-09-05 13:00:00",
              mobile=m[3]["mobile"][-11:], paid="20"),
        # a sale returned in full the next day: no purchase, nothing in M
        _line("S002", "S002-20260906-9005", 1, "2026-09-06 10:00:00", ids[5], paid="88.80"),
        _line("S002", "S002-20260907-9006", 1, "2026-09-07 10:00:00", ids[5], paid="-88.80",
              order_type="return", original="S002-20260906-9005", quantity="-1"),
        # a line with an invalid mobile: rejected at parsing
        _line("S002", "S002-20260905-9007", 1, "2026-09-05 14:00:00", ids[4], mobile="12345",
              paid="999"),
    ]
    _write(pos / "dt=2026-09-05", "pos_S002_planted.csv",
           _csv(POS, [[r[c] for c in POS] for r in lines]))
    # quoted CSV, CRLF, a spaced value
    quoted = [_line("S003", "S003-20260906-9001", 1, "2026-09-06 15:00:00", f" {ids[4]} ",
                    paid="66.60", category="裤装, 男")]
    text = _csv(POS, [[r[c] for c in POS] for r in quoted], quote=csv.QUOTE_ALL)
    _write(pos / "dt=2026-09-06", "pos_S003_quoted.csv", text.replace("\n", "\r\n"))
    # a GB18030 file
    gb = [_line("S004", "S004-20260907-9001", 1, "2026-09-07 16:00:00", ids[6], paid="45",
                category="鞋履")]
    _write(pos / "dt=2026-09-07", "pos_S004_gbk.csv", _csv(POS, [[r[c] for c in POS] for r in gb]),
           encoding="gb18030")

    mini = root / "miniapp" / "orders"
    sample = json.loads(next(iter(sorted(mini.glob("dt=2026-09-05/*.jsonl")))).open(
        encoding="utf-8").readline())

    def order(order_id, **fields):
        defaults = {"coupon_codes": [], "created_at": "2026-09-05T10:00:00+08:00",
                    "paid_at": "2026-09-05T10:01:00+08:00",
                    "updated_at": "2026-09-05T10:01:00+08:00", "status": "paid",
                    "total_paid": "250.00"}
        return json.dumps({**sample, **defaults, "order_id": order_id, **fields},
                          ensure_ascii=False)

    orders = [
        order("MOPLANT01", member_id=ids[0], unionid=None, openid=None, status="lost"),
        order("MOPLANT02", member_id=ids[0], unionid=None, openid=None, store_code="S999"),
        order("MOPLANT03", member_id=ids[0], unionid=None, openid=None,
              created_at="2099-02-01T10:00:00Z", paid_at=None),
        order("MOPLANT04", member_id=None, unionid=m[1]["unionid"], openid=None,
              total_paid="77.7"),
        order("MOPLANT05", member_id="M9999999", unionid=None, openid=m[7]["openid"] or None,
              total_paid="12"),
        order("MOPLANT06", member_id=ids[8], unionid=None, openid=None, status="refunded",
              updated_at="2026-09-08T01:00:00Z"),
        "not json",
        "",
    ]
    _write(mini / "dt=2026-09-05", "orders_planted.jsonl", "\n".join(orders) + "\n")

    # CRM: an erasure asked by a record rejected at parsing, a deleted flag left empty, an
    # incomplete profile, a merge through a changed mobile (member_id with spaces)
    later = "2026-09-12 09:00:00"
    rows = [
        dict(m[9], birthday="1990-13-01", deleted="1", updated_at=later),
        dict(m[10], deleted="", updated_at=later),
        dict(m[11], mobile="", unionid="", name="", birthday="", city="", tier="",
             register_store_code="", updated_at=later),
        dict(m[6], member_id=f" {ids[6]} ", mobile=m[5]["mobile"], updated_at=later),
    ]
    _write(root / "crm" / "members" / "dt=2026-09-12", "members_planted.csv",
           _csv(crm_header, [[r[c] for c in crm_header] for r in rows]))

    # a newer store list drops a store: its lines leave the facts as unknown
    stores = root / "stores" / "stores"
    newest = sorted(stores.glob("dt=*"))[-1]
    snapshot = sorted(newest.glob("*.csv"))[0]
    kept = snapshot.read_text(encoding="utf-8-sig").splitlines()
    dropped = [r for r in kept if ",S017," in r or r.startswith("S017,") or r.endswith(",S017")]
    _write(stores / "dt=2026-09-21", "stores_20260921.csv",
           "\n".join(r for r in kept if r not in dropped) + "\n")
    return {"members": ids, "dropped_store_rows": len(dropped)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("pandas_part")
    generate(base / "landing", members=1500, days=20, seed=11, start=date(2026, 9, 1), quiet=True)
    planted = plant(base / "landing")
    run = memberdw_run(base / "landing", base / "wh")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    yield base, planted


def test_pandas_rfm_equals_the_mart_row_for_row(built):
    base, _ = built
    pandas_part = load_pandas_part()
    con = duckdb.connect(str(base / "wh" / "marts.duckdb"), read_only=True)
    (as_of,) = con.execute("select max(as_of_date) from publication").fetchone()
    con.close()
    result = pandas_part.rfm(base / "landing", as_of.isoformat())
    report = pandas_part.compare(result, base / "wh")
    assert report["mart_rows"] > 300
    assert report["rows_differing"] == 0, report
    assert pandas_part.rfm(base / "landing", "auto")["as_of_date"].iloc[0] == as_of


def test_run_reports_seconds_members_and_memory(built):
    base, _ = built
    out = load_pandas_part().run(base / "landing", "2026-09-20")
    assert out["members"] > 300 and out["seconds"] > 0 and out["peak_mb"] > 0

"""A corpus of malformed deliveries, generated here, one test case per delivery.

For every bad file: rows read (what a person counts: the data lines after the header, or
the records where a quoted field legitimately spans lines) = rows loaded + rows
quarantined, each quarantined row with its record number and a specific reason (or the
file's reason in the ledger note when it has no rows), and a good file beside it in the
same batch loads all its rows. For every bad folder: a specific skip reason, and the good
deliveries beside it still load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import pytest

from memberdw import ingest, warehouse
from memberdw.contract import BY_KEY, SOURCES

DT = "2026-10-01"

DEFAULTS = {
    "pos/order_lines": dict(
        store_code="S001", order_no="A1", line_no="1", order_time="2026-10-01 10:00:00",
        member_id="M1", mobile="138-0013-8000", sku_code="K1", category="饮品", quantity="2",
        unit_price="10", discount_amount="0", paid_amount="20.00", coupon_code="",
        payment_method="cash", order_type="sale", original_order_no=""),
    "crm/members": dict(
        member_id="M1", mobile="13800138000", unionid="U1", openid="O1", name="张三",
        gender="M", birthday="1990-01-01", province="上海", city="上海",
        register_time="2026-01-01 10:00:00", register_channel="store",
        register_store_code="S001", referrer_member_id="", tier="normal",
        points_balance="10", sms_opt_in="1", updated_at="2026-10-01 10:00:00", deleted="0"),
    "stores/targets": dict(store_code="S001", month="2026-10", sales_target="1000"),
    "marketing/acquisition_costs": dict(month="2026-10", register_channel="store",
                                        store_code="S001", cost="1200.5"),
    "points/ledger": dict(entry_id="E1", member_id="M1", occurred_at="2026-10-01 10:00:00",
                          points="10", reason="purchase", campaign_id="", gift_sku="",
                          gift_cost=""),
    "miniapp/orders": dict(
        order_id="O1", created_at="2026-10-01T10:00:00+08:00",
        updated_at="2026-10-01T10:05:00+08:00", status="paid",
        items=[{"sku_code": "K1", "category": "饮品", "quantity": 1, "unit_price": "9.9",
                "paid_amount": "9.90"}],
        coupon_codes=["C1"], total_paid="9.90"),
    "miniapp/events": dict(event_id="e1", event_time="2026-10-01T10:00:00+08:00",
                           event_name="share"),
}
KEY_COLUMN = {"pos/order_lines": "order_no", "crm/members": "member_id",
              "stores/targets": "store_code", "points/ledger": "entry_id",
              "marketing/acquisition_costs": "store_code",
              "miniapp/orders": "order_id", "miniapp/events": "event_id"}


def row(entity: str, key: str, **values) -> dict:
    return {**DEFAULTS[entity], KEY_COLUMN[entity]: key, **values}


def csv_line(entity: str, r: dict, columns=None) -> str:
    return ",".join(str(r[c]) for c in columns or BY_KEY[entity].column_names)


def csv_file(entity: str, rows: list[str], eol="\n", header=None, final_eol=True) -> str:
    header = header if header is not None else ",".join(BY_KEY[entity].column_names)
    return eol.join([header] + rows) + (eol if final_eol else "")


def pos_rows(n=8, prefix="A", **values) -> list[str]:
    return [csv_line("pos/order_lines", row("pos/order_lines", f"{prefix}{i}", **values))
            for i in range(1, n + 1)]


def jsonl(entity: str, n=3, prefix="J", eol="\n", **values) -> str:
    return "".join(json.dumps(row(entity, f"{prefix}{i}", **values), ensure_ascii=False) + eol
                   for i in range(1, n + 1))


def replace_row(rows: list[str], i: int, text: str) -> list[str]:
    return rows[:i] + [text] + rows[i + 1:]


@dataclass
class FileCase:
    id: str
    entity: str
    data: bytes
    rows: int  # what a person counts
    quarantined: list[tuple[int, str]] = field(default_factory=list)  # (record, reason)
    note: str | None = None  # the ledger note starts with this reason code
    status: str = "loaded"
    encoding: str | None = "utf-8"
    name: str = ""

    def file_name(self) -> str:
        return self.name or ("bad.jsonl" if BY_KEY[self.entity].format == "jsonl" else "bad.csv")


POS = "pos/order_lines"
P8 = pos_rows()
HEADER = ",".join(BY_KEY[POS].column_names)
MIXED = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate([HEADER] + P8))


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


def all_lines(reason: str, n=8, first=2) -> list[tuple[int, str]]:
    return [(line, reason) for line in range(first, first + n)]


def bad_value(entity: str, record: int, reason: str, id_="", **values) -> FileCase:
    """A file of three rows whose second row breaks one parsing rule."""
    if BY_KEY[entity].format == "jsonl":
        text = jsonl(entity, 1) + jsonl(entity, 1, prefix="X", **values) + jsonl(entity, 1, "Z")
    else:
        rows = [csv_line(entity, row(entity, "R1")), csv_line(entity, row(entity, "R2", **values)),
                csv_line(entity, row(entity, "R3"))]
        text = csv_file(entity, rows)
    column = next(iter(values))
    return FileCase(f"value-{reason}-{entity.replace('/', '-')}-{column}{id_}", entity,
                    utf8(text), 3, [(record, reason)])


FRAMING = [
    FileCase("unterminated-quote", POS, utf8(csv_file(POS, replace_row(
        P8, 2, P8[2].replace(",K1,", ',"K1,')))), 8, [(4, "csv_unterminated_quote")]),
    FileCase("unterminated-quote-on-last-row", POS, utf8(csv_file(POS, replace_row(
        P8, 7, P8[7].replace(",K1,", ',"K1,')))), 8, [(9, "csv_unterminated_quote")]),
    FileCase("unterminated-quote-then-a-quoted-field", POS, utf8(csv_file(POS, replace_row(
        replace_row(P8, 1, P8[1].replace(",K1,", ',"K1,')), 5, P8[5].replace(",K1,", ',"K1",')))),
        8, [(3, "csv_unquoted_value")]),
    FileCase("text-after-closing-quote", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",K1,", ',"K1"x,')))), 8, [(5, "csv_unquoted_value")]),
    FileCase("quote-inside-unquoted-field-is-text", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",K1,", ',K"1,')))), 8),
    FileCase("quoted-fields-with-escaped-quotes", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",K1,", ',"K""1, big",')))), 8),
    FileCase("mixed-lf-and-crlf", POS, utf8(MIXED), 8),
    FileCase("mixed-lf-and-crlf-with-a-short-row", POS,
             utf8(MIXED + "S001,short\r\n" + P8[0].replace("A1", "B1") + "\n"),
             10, [(10, "csv_missing_columns")]),
    FileCase("crlf", POS, utf8(csv_file(POS, P8, eol="\r\n")), 8),
    FileCase("bare-cr-line-ends", POS, utf8(csv_file(POS, P8, eol="\r")), 8,
             all_lines("bare_cr_line_ends"), note="bare_cr_line_ends"),
    FileCase("one-bare-cr-line-end", POS, utf8(csv_file(POS, P8[:3]) + P8[3] + "\r"
                                               + "\n".join(P8[4:]) + "\n"), 8,
             all_lines("bare_cr_line_ends"), note="bare_cr_line_ends"),
    FileCase("bare-cr-inside-a-quoted-field", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",饮品,", ',"饮\r品",')))), 8),
    FileCase("embedded-newline-in-quoted-field", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",饮品,", ',"饮\n品",')))), 8),
    FileCase("embedded-crlf-in-quoted-field-of-crlf-file", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",饮品,", ',"饮\r\n品",')), eol="\r\n")), 8),
    FileCase("embedded-newline-then-too-many-columns", POS, utf8(csv_file(POS, replace_row(
        P8, 3, P8[3].replace(",饮品,", ',"饮\n品",')) + [P8[0] + ",x"])), 9,
        [(10, "csv_too_many_columns")]),
    FileCase("blank-line-in-the-middle", POS, utf8(csv_file(POS, P8[:3] + [""] + P8[3:])), 9,
             [(5, "blank_line")]),
    FileCase("blank-line-after-header", POS, utf8(csv_file(POS, [""] + P8)), 9,
             [(2, "blank_line")]),
    FileCase("blank-lines-at-the-end", POS, utf8(csv_file(POS, P8) + "\n\n"), 10,
             [(10, "blank_line"), (11, "blank_line")]),
    FileCase("blank-crlf-line", POS, utf8(csv_file(POS, P8[:3] + [""] + P8[3:], eol="\r\n")), 9,
             [(5, "blank_line")]),
    FileCase("whitespace-only-line", POS, utf8(csv_file(POS, P8[:3] + ["   "] + P8[3:])), 9,
             [(5, "csv_missing_columns")]),
    FileCase("trailing-delimiter-on-every-row", POS, utf8(csv_file(POS, [r + "," for r in P8])),
             8, all_lines("csv_too_many_columns")),
    FileCase("trailing-delimiter-on-one-row", POS, utf8(csv_file(POS, replace_row(
        P8, 0, P8[0] + ","))), 8, [(2, "csv_too_many_columns")]),
    FileCase("trailing-delimiter-on-header-and-rows", POS, utf8(csv_file(
        POS, [r + "," for r in P8], header=HEADER + ",")), 8, all_lines("header_mismatch"),
        note="header_mismatch"),
    FileCase("too-many-columns", POS, utf8(csv_file(POS, replace_row(P8, 4, P8[4] + ",x,y"))),
             8, [(6, "csv_too_many_columns")]),
    FileCase("too-few-columns", POS, utf8(csv_file(POS, replace_row(
        P8, 4, P8[4].rsplit(",", 3)[0]))), 8, [(6, "csv_missing_columns")]),
    FileCase("empty-file", POS, b"", 0, status="rejected", note="empty_file", encoding="utf-8"),
    FileCase("bom-only-file", POS, b"\xef\xbb\xbf", 0, status="rejected", note="empty_file",
             encoding="utf-8-sig"),
    FileCase("header-only", POS, utf8(HEADER + "\n"), 0),
    FileCase("header-only-without-newline", POS, utf8(HEADER), 0),
    FileCase("no-trailing-newline", POS, utf8(csv_file(POS, P8, final_eol=False)), 8),
    FileCase("no-trailing-newline-crlf", POS, utf8(csv_file(POS, P8, eol="\r\n",
                                                                final_eol=False)), 8),
    FileCase("quoted-header-names", POS, utf8(csv_file(POS, P8, header=",".join(
        f'"{c}"' for c in BY_KEY[POS].column_names))), 8),
    FileCase("jsonl-bare-cr-line-ends", "miniapp/events", utf8(jsonl("miniapp/events", 4,
                                                                    eol="\r")), 4,
             all_lines("bare_cr_line_ends", 4, first=1), note="bare_cr_line_ends"),
    FileCase("jsonl-crlf-and-lf", "miniapp/events", utf8(jsonl("miniapp/events", 2, eol="\r\n")
                                                        + jsonl("miniapp/events", 2, "K")), 4),
    FileCase("jsonl-blank-line", "miniapp/events", utf8(jsonl("miniapp/events", 2) + "\n"
                                                       + jsonl("miniapp/events", 2, "K")), 5,
             [(3, "blank_line")]),
    FileCase("jsonl-no-trailing-newline", "miniapp/events",
             utf8(jsonl("miniapp/events", 3).rstrip("\n")), 3),
    FileCase("jsonl-empty-file", "miniapp/events", b"", 0),
]

GB_TEXT = csv_file(POS, pos_rows(category="烘焙"))
ENCODINGS = [
    FileCase("utf-16-le-with-bom", POS, csv_file(POS, P8).encode("utf-16"), 8,
             all_lines("unsupported_encoding"), note="unsupported_encoding", encoding="utf-16-le"),
    FileCase("utf-16-be-with-bom", POS, b"\xfe\xff" + csv_file(POS, P8).encode("utf-16-be"), 8,
             all_lines("unsupported_encoding"), note="unsupported_encoding", encoding="utf-16-be"),
    FileCase("utf-16-le-without-bom", POS, csv_file(POS, P8).encode("utf-16-le"), 8,
             all_lines("unsupported_encoding"), note="unsupported_encoding", encoding="utf-16-le"),
    FileCase("utf-16-be-without-bom", POS, csv_file(POS, P8).encode("utf-16-be"), 8,
             all_lines("unsupported_encoding"), note="unsupported_encoding", encoding="utf-16-be"),
    FileCase("utf-16-crlf", POS, csv_file(POS, P8, eol="\r\n").encode("utf-16"), 8,
             all_lines("unsupported_encoding"), note="unsupported_encoding", encoding="utf-16-le"),
    FileCase("utf-32-with-bom", POS, csv_file(POS, P8).encode("utf-32"), 8,
             all_lines("unsupported_encoding"), note="unsupported_encoding", encoding="utf-32-le"),
    FileCase("jsonl-utf-16", "miniapp/events", jsonl("miniapp/events", 3).encode("utf-16"), 3,
             all_lines("unsupported_encoding", 3, first=1), note="unsupported_encoding",
             encoding="utf-16-le"),
    FileCase("gb18030", POS, GB_TEXT.encode("gb18030"), 8, encoding="gb18030"),
    FileCase("gb18030-four-byte-characters", POS, csv_file(POS, pos_rows(
        category="𠀀饮品")).encode("gb18030"), 8, encoding="gb18030"),
    FileCase("gb18030-with-its-bom", POS, "\ufeff".encode("gb18030") + GB_TEXT.encode("gb18030"),
             8, encoding="gb18030"),
    FileCase("gb18030-crlf", POS, csv_file(POS, pos_rows(category="烘焙"), eol="\r\n").encode(
        "gb18030"), 8, encoding="gb18030"),
    FileCase("invalid-utf8-and-gb18030", POS, utf8(csv_file(POS, P8[:4])) + b"S001,\xff\xfe,\x81\n"
             + utf8("\n".join(P8[5:]) + "\n"), 8, all_lines("undecodable_bytes"),
             note="undecodable_bytes", encoding="undecodable"),
    FileCase("utf8-with-a-truncated-character", POS, utf8(csv_file(POS, P8)).replace(
        "饮品".encode(), "饮".encode() + "品".encode()[:2], 1), 8, all_lines("undecodable_bytes"),
        note="undecodable_bytes", encoding="undecodable"),
    FileCase("latin-1", POS, csv_file(POS, pos_rows(category="café")).encode("latin-1"), 8,
             all_lines("undecodable_bytes"), note="undecodable_bytes", encoding="undecodable"),
    FileCase("utf8-bom", POS, b"\xef\xbb\xbf" + utf8(csv_file(POS, P8)), 8, encoding="utf-8-sig"),
    FileCase("utf8-bom-crlf-mixed", POS, b"\xef\xbb\xbf" + utf8(MIXED), 8, encoding="utf-8-sig"),
    FileCase("utf8-bom-twice", POS, b"\xef\xbb\xbf\xef\xbb\xbf" + utf8(csv_file(POS, P8)), 8,
             all_lines("header_mismatch"), note="header_mismatch", encoding="utf-8-sig"),
    FileCase("jsonl-utf8-bom", "miniapp/events", b"\xef\xbb\xbf" + utf8(jsonl("miniapp/events")),
             3, encoding="utf-8-sig"),
    FileCase("nul-byte", POS, utf8(csv_file(POS, replace_row(P8, 2, P8[2].replace("K1", "K\0")))),
             8, all_lines("nul_bytes"), note="nul_bytes"),
    FileCase("jsonl-nul-byte", "miniapp/events",
             utf8(jsonl("miniapp/events", 3).replace("share", "sh\0are")), 3,
             all_lines("nul_bytes", 3, first=1), note="nul_bytes"),
]

COLUMNS = BY_KEY[POS].column_names
HEADERS = [
    FileCase("missing-column", POS, utf8(csv_file(POS, [r.rsplit(",", 1)[0] for r in P8],
                                                   header=",".join(COLUMNS[:-1]))), 8,
             all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("extra-column", POS, utf8(csv_file(POS, [r + ",x" for r in P8],
                                                header=HEADER + ",note")), 8,
             all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("duplicated-column", POS, utf8(csv_file(POS, [r + ",S001" for r in P8],
                                                     header=HEADER + ",store_code")), 8,
             all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("duplicated-column-replacing-one", POS, utf8(csv_file(
        POS, P8, header=HEADER.replace("coupon_code", "store_code"))), 8,
        all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("reordered-columns", POS, utf8(csv_file(POS, [csv_line(
        POS, row(POS, f"A{i}"), COLUMNS[::-1]) for i in range(8)], header=",".join(COLUMNS[::-1]))),
        8),
    FileCase("case-changed-columns", POS, utf8(csv_file(POS, P8, header=HEADER.upper())), 8,
             all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("spaces-around-column-names", POS, utf8(csv_file(POS, P8,
                                                              header=HEADER.replace(",", ", "))),
             8, all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("header-with-an-unterminated-quote", POS, utf8(csv_file(POS, P8,
                                                                     header='"' + HEADER)), 8,
             all_lines("header_mismatch"), note="header_mismatch"),
    FileCase("no-header-row", POS, utf8("\n".join(P8) + "\n"), 7,
             all_lines("header_mismatch", 7), note="header_mismatch"),
]

VALUES = [
    bad_value(POS, 3, "invalid_money", paid_amount="12.345"),
    bad_value(POS, 3, "invalid_money", unit_price="¥10"),
    bad_value(POS, 3, "invalid_timestamp", order_time="2026/10/01 10:00:00"),
    bad_value(POS, 3, "invalid_timestamp", order_time="2026-02-30 10:00:00", id_="-no-such-day"),
    bad_value(POS, 3, "invalid_integer", quantity="1.5"),
    bad_value(POS, 3, "invalid_mobile", mobile="12345"),
    bad_value(POS, 3, "missing_required", store_code=""),
    bad_value(POS, 3, "missing_required", paid_amount="  "),
    bad_value("crm/members", 3, "invalid_date", birthday="1990-02-30"),
    bad_value("crm/members", 3, "invalid_flag", sms_opt_in="yes"),
    bad_value("crm/members", 3, "invalid_integer", points_balance="ten"),
    bad_value("stores/targets", 3, "invalid_month", month="2026-13"),
    bad_value("stores/targets", 3, "invalid_money", sales_target="1e3"),
    bad_value("marketing/acquisition_costs", 3, "invalid_month", month="2026-1"),
    bad_value("marketing/acquisition_costs", 3, "invalid_month", month="2026-10-01",
              id_="-a-date"),
    bad_value("marketing/acquisition_costs", 3, "invalid_money", cost="¥1200"),
    bad_value("marketing/acquisition_costs", 3, "invalid_money", cost="12.345", id_="-3-places"),
    bad_value("marketing/acquisition_costs", 3, "missing_required", register_channel=""),
    bad_value("marketing/acquisition_costs", 3, "missing_required", cost=""),
    bad_value("points/ledger", 3, "invalid_timestamp", occurred_at="2026-10-01T10:00:00"),
    bad_value("miniapp/orders", 2, "invalid_timestamp", created_at="2026-10-01 10:00:00"),
    bad_value("miniapp/orders", 2, "invalid_json_list", coupon_codes="C1"),
    bad_value("miniapp/orders", 2, "invalid_order_items", items=[{"quantity": "x"}]),
    bad_value("miniapp/orders", 2, "invalid_money", total_paid="9.999"),
    bad_value("miniapp/events", 2, "missing_required", event_id=None),
    FileCase("value-invalid_json-miniapp-events", "miniapp/events", utf8(
        jsonl("miniapp/events", 1) + '{"event_id": "x", "event_ti\n' + jsonl("miniapp/events", 1,
                                                                            "Z")), 3,
        [(2, "invalid_json")]),
    FileCase("value-invalid_json-not-an-object", "miniapp/events", utf8(
        jsonl("miniapp/events", 1) + "[1, 2]\n"), 2, [(2, "invalid_json")]),
]

FILE_CASES = FRAMING + ENCODINGS + HEADERS + VALUES


def good_file(entity: str) -> tuple[str, bytes, int]:
    if BY_KEY[entity].format == "jsonl":
        return "good.jsonl", utf8(jsonl(entity, 3, prefix="G")), 3
    rows = [csv_line(entity, row(entity, f"G{i}")) for i in range(1, 4)]
    return "good.csv", utf8(csv_file(entity, rows)), 3


def deliver(root, entity: str, name: str, data: bytes, dt=DT, complete=True):
    folder = root / entity / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    if complete:
        (folder / "_SUCCESS").touch()
    return folder / name


@pytest.fixture
def con(tmp_path):
    con = warehouse.connect(tmp_path / "wh")
    yield con
    con.close()


def ledger_of(con, path: str):
    return con.execute("select status, encoding, rows_read, rows_loaded, rows_rejected, note"
                       " from meta.load_ledger where file_path = ?", [path]).fetchone()


def quarantined(con, path: str):
    return con.execute("select source_line, reason from meta.quarantine where source_file = ?"
                       " order by source_line", [path]).fetchall()


def test_the_corpus_is_large_and_its_ids_unique():
    ids = [c.id for c in FILE_CASES] + [c[0] for c in FOLDER_CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 40


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.id)
def test_a_bad_file_is_accounted_for_row_by_row_and_its_neighbour_loads(con, tmp_path, case):
    root = tmp_path / "l"
    deliver(root, case.entity, case.file_name(), case.data)
    good_name, good_data, good_rows = good_file(case.entity)
    deliver(root, case.entity, good_name, good_data)

    report = ingest.land_source(con, root, BY_KEY[case.entity].source, run_id="t")

    path = f"{case.entity}/dt={DT}/{case.file_name()}"
    status, encoding, read, loaded, rejected, note = ledger_of(con, path)
    assert read == case.rows == loaded + rejected
    assert quarantined(con, path) == case.quarantined
    assert rejected == len(case.quarantined)
    assert (status, encoding) == (case.status, case.encoding)
    assert (note or "").split(":")[0] == (case.note or "")
    assert ledger_of(con, f"{case.entity}/dt={DT}/{good_name}")[:5] == (
        "loaded", "utf-8", good_rows, good_rows, 0)
    (raw_rows,) = con.execute(f"select count(*) from raw.{BY_KEY[case.entity].raw_table}"
                              ).fetchone()
    assert raw_rows == loaded + good_rows == report.rows_loaded
    assert report.rows_read == report.rows_loaded + report.rows_rejected


def test_every_bad_file_in_one_batch_still_reconciles_file_by_file(con, tmp_path):
    root = tmp_path / "l"
    cases = [c for c in FILE_CASES if c.entity == POS]
    for i, case in enumerate(cases):
        deliver(root, POS, f"{i:03d}.csv", case.data)
    ingest.land_source(con, root, "pos", run_id="t")
    for i, case in enumerate(cases):
        path = f"{POS}/dt={DT}/{i:03d}.csv"
        status, _, read, loaded, rejected, _ = ledger_of(con, path)
        if status == "duplicate":  # same bytes as an earlier case (header-only files)
            continue
        assert (read, rejected) == (case.rows, len(case.quarantined)), case.id
        assert quarantined(con, path) == case.quarantined, case.id


def test_a_file_duckdb_cannot_read_is_quarantined_and_the_batch_goes_on(con, tmp_path,
                                                                      monkeypatch):
    # Mixed line ends with a short row made DuckDB's reader fail; pretend the file looked
    # regular so it reaches DuckDB as delivered.
    monkeypatch.setattr(ingest, "_regular_csv", lambda text, columns: True)
    root = tmp_path / "l"
    deliver(root, POS, "bad.csv", utf8(MIXED + "S001,short\r\n" + P8[0] + "\n"))
    deliver(root, POS, "good.csv", good_file(POS)[1])
    ingest.land_source(con, root, "pos", run_id="t")
    status, _, read, loaded, rejected, note = ledger_of(con, f"{POS}/dt={DT}/bad.csv")
    assert (status, read, loaded, rejected) == ("loaded", 10, 0, 10)
    assert note.startswith("csv_unreadable: ")
    assert {r for _, r in quarantined(con, f"{POS}/dt={DT}/bad.csv")} == {"csv_unreadable"}
    assert ledger_of(con, f"{POS}/dt={DT}/good.csv")[2:5] == (3, 3, 0)


def no_success(root):
    deliver(root, POS, "s.csv", good_file(POS)[1].replace(b"G", b"N"), dt="2026-10-02",
            complete=False)
    return "pos/order_lines/dt=2026-10-02", "incomplete_no_success_marker"


def bad_dt(name):
    def build(root):
        folder = root / POS / name
        folder.mkdir(parents=True)
        (folder / "s.csv").write_bytes(good_file(POS)[1].replace(b"G", b"N"))
        (folder / "_SUCCESS").touch()
        return f"{POS}/{name}", "bad_folder_name"
    return build


def unknown_source(root):
    folder = root / "erp" / "orders" / f"dt={DT}"
    folder.mkdir(parents=True)
    (folder / "orders.csv").write_text("a,b\n1,2\n")
    (folder / "_SUCCESS").touch()
    return "erp", "unknown_source"


def unknown_entity(root):
    folder = root / "pos" / "refunds" / f"dt={DT}"
    folder.mkdir(parents=True)
    (folder / "r.csv").write_text("a,b\n1,2\n")
    return "pos/refunds", "unknown_entity"


def file_at(rel):
    def build(root):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(good_file(POS)[1])
        return rel, "file_outside_dt_folder"
    return build


def directory_named_like_a_file(root):
    folder = root / POS / f"dt={DT}" / "S001.csv"
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_bytes(good_file(POS)[1].replace(b"G", b"N"))
    (root / POS / f"dt={DT}" / "_SUCCESS").touch()
    return f"{POS}/dt={DT}/S001.csv", "unexpected_directory"


FOLDER_CASES = [
    ("no-success-marker", no_success),
    ("dt-not-a-date", bad_dt("dt=2026-13-01")),
    ("dt-without-dashes", bad_dt("dt=20261001")),
    ("date-without-dt-prefix", bad_dt("2026-10-01")),
    ("dt-with-a-suffix", bad_dt("dt=2026-10-01_v2")),
    ("unknown-source", unknown_source),
    ("unknown-entity", unknown_entity),
    ("file-in-entity-folder", file_at("pos/order_lines/S001.csv")),
    ("file-in-source-folder", file_at("pos/S001.csv")),
    ("file-in-landing-root", file_at("S001.csv")),
    ("directory-named-like-a-data-file", directory_named_like_a_file),
]


@pytest.mark.parametrize("build", [c[1] for c in FOLDER_CASES], ids=[c[0] for c in FOLDER_CASES])
def test_a_bad_folder_is_recorded_and_good_deliveries_beside_it_load(con, tmp_path, build):
    root = tmp_path / "l"
    deliver(root, POS, "good.csv", good_file(POS)[1])
    folder, reason = build(root)
    reports = [ingest.land_source(con, root, source, run_id="t") for source in SOURCES]
    recorded = con.execute("select folder, reason from meta.skipped_folders").fetchall()
    assert recorded == [(folder, reason)]
    assert sum(r.skipped_folders.count((folder, reason)) for r in reports) == 1
    assert ledger_of(con, f"{POS}/dt={DT}/good.csv")[2:5] == (3, 3, 0)
    assert con.execute("select count(*) from raw.pos__order_lines").fetchone() == (3,)
    # A rerun records the skip again under its own run id and loads nothing new.
    again = [ingest.land_source(con, root, source, run_id="t2") for source in SOURCES]
    assert sum(r.rows_read for r in again) == 0
    assert con.execute("select folder, reason from meta.skipped_folders where run_id = 't2'"
                       ).fetchall() == [(folder, reason)]


@pytest.mark.parametrize("name", ["S001.xlsx", "S001.csv.gz", "S001.txt", ".S001.csv",
                                  "_S001.csv", ".DS_Store"])
def test_stray_file_types_in_a_dt_folder_are_rejected_in_the_ledger(con, tmp_path, name):
    root = tmp_path / "l"
    deliver(root, POS, "good.csv", good_file(POS)[1])
    deliver(root, POS, name, b"\x00\x01 not a delivery")
    ingest.land_source(con, root, "pos", run_id="t")
    status, _, read, _, _, note = ledger_of(con, f"{POS}/dt={DT}/{name}")
    assert (status, read, note.split(":")[0]) == ("rejected", 0, "unexpected_file_type")
    assert ledger_of(con, f"{POS}/dt={DT}/good.csv")[2:5] == (3, 3, 0)
    ingest.land_source(con, root, "pos", run_id="t2")
    assert con.execute("select count(*) from meta.load_ledger").fetchone() == (2,)


def test_same_bytes_under_other_names_and_days_load_once(con, tmp_path):
    root = tmp_path / "l"
    data = good_file(POS)[1]
    deliver(root, POS, "a.csv", data)
    deliver(root, POS, "b.csv", data)
    deliver(root, POS, "a.csv", data, dt="2026-10-03")
    ingest.land_source(con, root, "pos", run_id="t")
    ingest.land_source(con, root, "pos", run_id="t2")
    rows = con.execute("select file_path, status, rows_read, duplicate_of from meta.load_ledger"
                       " order by file_path").fetchall()
    first = f"{POS}/dt={DT}/a.csv"
    assert rows == [(first, "loaded", 3, None), (f"{POS}/dt={DT}/b.csv", "duplicate", 0, first),
                    (f"{POS}/dt=2026-10-03/a.csv", "duplicate", 0, first)]
    assert con.execute("select count(*) from raw.pos__order_lines").fetchone() == (3,)


def test_a_file_changed_in_place_is_rejected_and_the_old_rows_stay(con, tmp_path):
    root = tmp_path / "l"
    path = deliver(root, POS, "a.csv", good_file(POS)[1])
    ingest.land_source(con, root, "pos", run_id="t")
    path.write_bytes(good_file(POS)[1].replace(b"G1", b"H1"))
    report = ingest.land_source(con, root, "pos", run_id="t2")
    assert (report.files_rejected, report.rows_read) == (1, 0)
    note = con.execute("select note from meta.load_ledger where status = 'rejected'").fetchone()
    assert note[0].startswith("changed_in_place")
    assert con.execute("select count(*) from raw.pos__order_lines").fetchone() == (3,)


def landed(con):
    """Everything a load wrote, without its ids and times."""
    tables = [f"raw.{BY_KEY[e].raw_table}" for e in {c.entity for c in FILE_CASES}]
    out = {t: con.execute(f"select * exclude (_load_id, _loaded_at) from {t} order by all"
                          ).fetchall() for t in tables}
    out["quarantine"] = con.execute(
        "select * exclude (load_id, quarantined_at) from meta.quarantine order by all").fetchall()
    out["ledger"] = con.execute(
        "select * exclude (load_id, content_load_id, run_id, recorded_at) from meta.load_ledger"
        " order by all").fetchall()
    return out


def land_corpus(tmp_path, name):
    root = tmp_path / "l"
    if not root.exists():
        for i, case in enumerate(FILE_CASES):
            deliver(root, case.entity, f"{i:03d}-{case.file_name()}", case.data)
            deliver(root, case.entity, *good_file(case.entity)[:2])
    con = warehouse.connect(tmp_path / name)
    for source in SOURCES:
        ingest.land_source(con, root, source, run_id="t")
    out = landed(con)
    con.close()
    return out


def test_the_fast_path_lands_exactly_what_the_careful_path_lands(tmp_path, monkeypatch):
    fast = land_corpus(tmp_path, "fast")
    assert sum(len(rows) for rows in fast.values()) > 200
    monkeypatch.setattr(ingest, "_fast_verdict", lambda data, entity: None)
    assert land_corpus(tmp_path, "careful") == fast


def test_files_go_the_careful_way_if_the_fast_statement_fails(tmp_path, monkeypatch):
    expected = land_corpus(tmp_path, "fast")
    type_rows = ingest.type_rows

    def failing(con, entity, source, text_of, record_sql, table, *args):
        if table.startswith("typed_csv_"):
            raise duckdb.IOException("the disk went away")
        return type_rows(con, entity, source, text_of, record_sql, table, *args)

    monkeypatch.setattr(ingest, "type_rows", failing)
    assert land_corpus(tmp_path, "fallback") == expected

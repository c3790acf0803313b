"""Parsing rules of the landing contract (memberdw.parsing), run inside DuckDB."""

from datetime import datetime, timezone
from decimal import Decimal

import duckdb
import pytest

from memberdw import ingest, parsing


def parse(kind: str, value: str):
    """(typed value, is valid) of one delivered text under a column kind."""
    typed, ok = parsing.typed_and_check(kind, "v")
    return duckdb.connect().execute(f"select {typed}, {ok} from (select ?::varchar as v)",
                                    [value]).fetchone()


@pytest.mark.parametrize("text", ["13800138000", "+86 138 0013 8000", "138-0013-8000",
                                  "8613800138000", "+8613800138000"])
def test_every_contract_mobile_format_normalises_to_eleven_digits(text):
    assert parse("mobile", text) == ("13800138000", True)


@pytest.mark.parametrize("text", ["12345", "23800138000", "138001380001", "+1 650 555 0100",
                                  "138OO138000", "0086 138 0013 8000"])
def test_other_mobiles_are_invalid(text):
    assert parse("mobile", text)[1] is False


@pytest.mark.parametrize("text, amount", [("199", "199.00"), ("199.9", "199.90"),
                                          ("199.90", "199.90"), ("-35.5", "-35.50"),
                                          ("0", "0.00")])
def test_money_is_exact_decimal(text, amount):
    value, ok = parse("money", text)
    assert ok and value == Decimal(amount)


@pytest.mark.parametrize("text", ["12.345", "abc", "1e3", "1,000.00", "¥10", "10."])
def test_money_with_more_than_two_places_or_not_a_number_is_invalid(text):
    assert parse("money", text)[1] is False


def test_local_wall_time_is_asia_shanghai():
    value, ok = parse("local_ts", "2026-10-05 08:30:00")
    assert ok and value == datetime(2026, 10, 5, 0, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["2026-10-05T08:30:00+08:00", "2026-10-05T00:30:00Z",
                                  "2026-10-05T00:30:00.000Z", "2026-10-04T20:30:00-04:00"])
def test_iso_timestamps_with_any_offset_are_the_same_instant(text):
    value, ok = parse("iso_ts", text)
    assert ok and value == datetime(2026, 10, 5, 0, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("kind, text", [("iso_ts", "2026-10-05T08:30:00"),  # no offset
                                        ("iso_ts", "2026-10-05 08:30:00+08:00"),
                                        ("local_ts", "2026-10-05T08:30:00+08:00"),
                                        ("local_ts", "2026/10/05 08:30:00"),
                                        ("local_ts", "2026-02-30 08:30:00"),
                                        ("local_ts", "2026-10-05 25:61:00")])
def test_timestamps_outside_their_source_format_are_invalid(kind, text):
    assert parse(kind, text)[1] is False


def test_any_ts_accepts_both_forms():
    assert parse("any_ts", "2026-10-05 08:30:00") == parse("iso_ts", "2026-10-05T08:30:00+08:00")


@pytest.mark.parametrize("kind, text, valid", [
    ("int", "-3", True), ("int", "two", False), ("int", "1.0", False),
    ("date", "2026-10-05", True), ("date", "2026-13-01", False),
    ("month", "2026-10", True), ("month", "2026-13", False),
    ("flag", "1", True), ("flag", "yes", False),
    ("json_list", '["C1", "C2"]', True), ("json_list", '"C1"', False),
    ("order_items", '[{"sku_code": "K1", "quantity": 2, "unit_price": "9.9", '
                    '"paid_amount": "19.80"}]', True),
    ("order_items", '[{"sku_code": "K1", "quantity": 2, "unit_price": "9.9", '
                    '"paid_amount": 19.801}]', False),
    ("order_items", '[{"sku_code": "K1", "quantity": "x", "unit_price": "9.9", '
                    '"paid_amount": "1"}]', False),
])
def test_other_kinds(kind, text, valid):
    assert parse(kind, text)[1] is valid


def test_decode_detects_utf8_bom_and_gb18030_and_refuses_garbage():
    text = "store_code,category\nS001,饮品\n"
    assert ingest.decode(text.encode("utf-8")).encoding == "utf-8"
    assert ingest.decode(b"\xef\xbb\xbf" + text.encode("utf-8")).encoding == "utf-8-sig"
    decoded = ingest.decode(text.encode("gb18030"))
    assert (decoded.encoding, decoded.text) == ("gb18030", text)
    assert ingest.decode(b"a,b\n\xff\xfe\xff\n") is None

"""File-level behaviour of the loader on small hand-made landing roots."""

from pathlib import Path

import pytest

from memberdw import ingest, warehouse
from memberdw.contract import BY_KEY

POS = BY_KEY["pos/order_lines"]
EVENTS = BY_KEY["miniapp/events"]
POS_HEADER = ",".join(POS.column_names)


def pos_line(order_no="A1", line_no="1", paid="20.00", category="饮品", time="2026-10-01 10:00:00"):
    return (f"S001,{order_no},{line_no},{time},M1,138-0013-8000,K1,{category},2,10,0,{paid},,"
            "cash,sale,")


def deliver(root: Path, entity, dt: str, name: str, data: bytes, complete=True) -> Path:
    folder = root / entity.source / entity.name / f"dt={dt}"
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


def land(con, root, source="pos"):
    return ingest.land_source(con, root, source, run_id="test")


def ledger(con):
    return con.execute("select file_path, status, encoding, rows_read, rows_loaded, rows_rejected,"
                       " duplicate_of from meta.load_ledger order by recorded_at, file_path").fetchall()


def quarantine(con):
    return con.execute("select source_file, source_line, reason, column_name from meta.quarantine"
                       " order by source_file, source_line").fetchall()


def test_rows_read_equal_rows_loaded_plus_quarantined_with_lines_and_reasons(con, tmp_path):
    rows = [POS_HEADER, pos_line("A1"), pos_line("A2", paid="12.345"),
            '"S001","A3","1","2026-10-01 10:00:00","M1","","K1","多行\n描述",1,1,0,1,,cash,sale,',
            "S001,A4,1,2026-10-01 10:00:00,M1", pos_line("A5", time="2026/10/01 10:00:00"),
            pos_line("A6") + ",extra", pos_line("A7", line_no="two"), pos_line("A8")]
    deliver(tmp_path / "l", POS, "2026-10-01", "s.csv", ("\r\n".join(rows) + "\r\n").encode())

    report = land(con, tmp_path / "l")

    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (8, 3, 5)
    path = "pos/order_lines/dt=2026-10-01/s.csv"
    assert quarantine(con) == [(path, 3, "invalid_money", "paid_amount"),
                               (path, 5, "csv_missing_columns", None),
                               (path, 6, "invalid_timestamp", "order_time"),
                               (path, 7, "csv_too_many_columns", None),
                               (path, 8, "invalid_integer", "line_no")]
    loaded = con.execute("select order_no, _source_line, category, mobile, paid_amount::varchar"
                         " from raw.pos__order_lines order by _source_line").fetchall()
    assert loaded == [("A1", 2, "饮品", "13800138000", "20.00"),
                      ("A3", 4, "多行\n描述", None, "1.00"),
                      ("A8", 9, "饮品", "13800138000", "20.00")]
    assert ledger(con) == [(path, "loaded", "utf-8", 8, 3, 5, None)]


def test_line_numbers_follow_the_file_on_a_large_file(con, tmp_path):
    n = 60_000
    lines = [POS_HEADER] + [
        pos_line(f"N{i}", line_no=str(i + 2), paid="bad" if i % 997 == 0 else "1.5")
        if i % 1009 else "broken,row" for i in range(n)]
    deliver(tmp_path / "l", POS, "2026-10-01", "big.csv", ("\n".join(lines) + "\n").encode())
    report = land(con, tmp_path / "l")
    assert report.rows_read == n
    # line_no carries the record number the row was written at
    mismatched = con.execute("select count(*) from raw.pos__order_lines"
                             " where line_no <> _source_line").fetchone()[0]
    assert mismatched == 0 and report.rows_loaded > 0.99 * n - 200
    bad = con.execute("select count(*) from meta.quarantine q where reason = 'invalid_money'"
                      " and json_extract_string(raw_record, '$.line_no')::int <> source_line"
                      ).fetchone()[0]
    assert bad == 0


def test_gb18030_and_bom_files_are_detected_and_recorded(con, tmp_path):
    text = "\n".join([POS_HEADER, pos_line("A1", category="烘焙")]) + "\n"
    deliver(tmp_path / "l", POS, "2026-10-01", "gbk.csv", text.encode("gb18030"))
    deliver(tmp_path / "l", POS, "2026-10-01", "bom.csv",
            b"\xef\xbb\xbf" + text.replace("A1", "B1").encode("utf-8"))
    land(con, tmp_path / "l")
    assert [(r[0].rsplit("/", 1)[1], r[2], r[4]) for r in ledger(con)] == [
        ("bom.csv", "utf-8-sig", 1), ("gbk.csv", "gb18030", 1)]
    assert con.execute("select order_no, category from raw.pos__order_lines order by 1"
                       ).fetchall() == [("A1", "烘焙"), ("B1", "烘焙")]


def test_undecodable_file_is_quarantined_whole_never_replaced(con, tmp_path):
    data = (POS_HEADER + "\n" + pos_line("A1") + "\n").encode() + b"S001,\xff\xfe,\x81\n"
    deliver(tmp_path / "l", POS, "2026-10-01", "bad.csv", data)
    report = land(con, tmp_path / "l")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (2, 0, 2)
    assert {r[2] for r in quarantine(con)} == {"undecodable_bytes"}
    assert ledger(con)[0][2] == "undecodable"


def test_same_bytes_under_another_name_load_once_and_reruns_change_nothing(con, tmp_path):
    data = ("\n".join([POS_HEADER, pos_line("A1")]) + "\n").encode()
    deliver(tmp_path / "l", POS, "2026-10-01", "s.csv", data)
    deliver(tmp_path / "l", POS, "2026-10-03", "s_resend.csv", data)
    land(con, tmp_path / "l")
    land(con, tmp_path / "l")
    assert [(r[1], r[3], r[6]) for r in ledger(con)] == [
        ("loaded", 1, None), ("duplicate", 0, "pos/order_lines/dt=2026-10-01/s.csv")]
    assert con.execute("select count(*) from raw.pos__order_lines").fetchone() == (1,)


def test_incomplete_folder_is_skipped_and_loaded_once_complete(con, tmp_path):
    root = tmp_path / "l"
    path = deliver(root, POS, "2026-10-02", "s.csv",
                   ("\n".join([POS_HEADER, pos_line("A1")]) + "\n").encode(), complete=False)
    report = land(con, root)
    assert report.rows_read == 0
    assert report.skipped_folders == [("pos/order_lines/dt=2026-10-02",
                                       "incomplete_no_success_marker")]
    (path.parent / "_SUCCESS").touch()
    assert land(con, root).rows_loaded == 1


def test_late_file_in_an_old_folder_is_picked_up(con, tmp_path):
    root = tmp_path / "l"
    deliver(root, POS, "2026-10-01", "s1.csv", ("\n".join([POS_HEADER, pos_line("A1")]) + "\n").encode())
    land(con, root)
    deliver(root, POS, "2026-10-01", "s2.csv", ("\n".join([POS_HEADER, pos_line("B1")]) + "\n").encode())
    assert land(con, root).rows_loaded == 1
    assert con.execute("select count(*) from raw.pos__order_lines").fetchone() == (2,)


def test_as_of_leaves_later_folders_for_later_runs(con, tmp_path):
    root = tmp_path / "l"
    for dt in ("2026-10-01", "2026-10-02"):
        deliver(root, POS, dt, "s.csv", ("\n".join([POS_HEADER, pos_line(dt)]) + "\n").encode())
    from datetime import date
    assert ingest.land_source(con, root, "pos", as_of=date(2026, 10, 1)).rows_loaded == 1
    assert ingest.land_source(con, root, "pos").rows_loaded == 1


def test_a_file_changed_in_place_is_rejected_not_loaded(con, tmp_path):
    root = tmp_path / "l"
    path = deliver(root, POS, "2026-10-01", "s.csv", ("\n".join([POS_HEADER, pos_line("A1")]) + "\n").encode())
    land(con, root)
    path.write_bytes(("\n".join([POS_HEADER, pos_line("A9")]) + "\n").encode())
    report = land(con, root)
    assert (report.files_rejected, report.rows_loaded) == (1, 0)
    assert "changed_in_place" in con.execute(
        "select note from meta.load_ledger where status = 'rejected'").fetchone()[0]


def test_header_with_missing_or_unknown_columns_rejects_every_row(con, tmp_path):
    header = POS_HEADER.replace("coupon_code", "coupon")
    deliver(tmp_path / "l", POS, "2026-10-01", "s.csv",
            ("\n".join([header, pos_line("A1"), pos_line("A2")]) + "\n").encode())
    report = land(con, tmp_path / "l")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (2, 0, 2)
    assert [r[1:3] for r in quarantine(con)] == [(2, "header_mismatch"), (3, "header_mismatch")]
    note = con.execute("select note from meta.load_ledger").fetchone()[0]
    assert "missing ['coupon_code']" in note and "unexpected ['coupon']" in note


def test_csv_columns_are_matched_by_name_not_position(con, tmp_path):
    names = POS.column_names[::-1]
    values = dict(zip(POS.column_names, pos_line("A1").split(",")))
    deliver(tmp_path / "l", POS, "2026-10-01", "s.csv",
            (",".join(names) + "\n" + ",".join(values[n] for n in names) + "\n").encode())
    land(con, tmp_path / "l")
    assert con.execute("select store_code, order_no, paid_amount::varchar from raw.pos__order_lines"
                       ).fetchall() == [("S001", "A1", "20.00")]


def test_jsonl_lines_typed_or_quarantined(con, tmp_path):
    lines = ['{"event_id": "e1", "event_time": "2026-10-01T10:00:00+08:00", "event_name": "share"}',
             '{"event_id": "e2", "event_time": "2026-10-01T10:00:00", "event_name": "share"}',
             '{"event_id": "e3", "event_ti',
             '{"event_id": null, "event_time": "2026-10-01T02:00:00Z", "event_name": "share"}',
             '[1, 2]',
             '{"event_id": "e6", "event_time": "2026-10-01T02:00:00Z", "event_name": "new_kind",'
             ' "page": "home", "extra_key": 1}']
    deliver(tmp_path / "l", EVENTS, "2026-10-01", "e.jsonl", ("\n".join(lines) + "\n").encode())
    report = ingest.land_source(con, tmp_path / "l", "miniapp")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 2, 4)
    assert [r[1:] for r in quarantine(con)] == [
        (2, "invalid_timestamp", "event_time"), (3, "invalid_json", None),
        (4, "missing_required", "event_id"), (5, "invalid_json", None)]
    assert con.execute("select event_id, page, _source_line from raw.miniapp__events order by 1"
                       ).fetchall() == [("e1", None, 1), ("e6", "home", 6)]


def test_a_killed_load_leaves_nothing_and_the_rerun_loads_the_file(con, tmp_path, monkeypatch):
    root = tmp_path / "l"
    deliver(root, POS, "2026-10-01", "s.csv", ("\n".join([POS_HEADER, pos_line("A1")]) + "\n").encode())

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed half-way")

    monkeypatch.setattr(warehouse, "insert_ledger", killed)
    with pytest.raises(KeyboardInterrupt):
        land(con, root)
    assert con.execute("select count(*) from raw.pos__order_lines").fetchone() == (0,)
    assert con.execute("select count(*) from meta.quarantine").fetchone() == (0,)
    monkeypatch.undo()
    assert land(con, root).rows_loaded == 1


def test_files_with_different_column_orders_load_in_one_run(con, tmp_path):
    root = tmp_path / "l"
    values = dict(zip(POS.column_names, pos_line("A1").split(",")))
    for name, names in (("a.csv", POS.column_names), ("b.csv", POS.column_names[::-1])):
        rows = [",".join(names), ",".join(values[n] for n in names),
                ",".join(values[n] if n != "order_no" else "B1" for n in names)]
        deliver(root, POS, "2026-10-01", name, ("\n".join(rows) + "\n").encode())
    report = land(con, root)
    assert (report.files_loaded, report.rows_loaded) == (2, 4)
    assert con.execute("select _source_file, _source_line, order_no, paid_amount::varchar"
                       " from raw.pos__order_lines order by 1, 2").fetchall() == [
        ("pos/order_lines/dt=2026-10-01/a.csv", 2, "A1", "20.00"),
        ("pos/order_lines/dt=2026-10-01/a.csv", 3, "B1", "20.00"),
        ("pos/order_lines/dt=2026-10-01/b.csv", 2, "A1", "20.00"),
        ("pos/order_lines/dt=2026-10-01/b.csv", 3, "B1", "20.00")]


def test_batch_size_does_not_change_what_lands(tmp_path, monkeypatch):
    def land_all(batch_bytes):
        monkeypatch.setattr(ingest, "BATCH_BYTES", batch_bytes)
        con = warehouse.connect(tmp_path / f"wh{batch_bytes}")
        ingest.land_source(con, root, "pos", run_id="test")
        rows = con.execute("select _source_file, _source_line, order_no from raw.pos__order_lines"
                           " union all select source_file, source_line, reason"
                           " from meta.quarantine order by all").fetchall()
        con.close()
        return rows

    root = tmp_path / "l"
    for day in range(1, 6):
        rows = [POS_HEADER, pos_line(f"A{day}"), pos_line(f"B{day}", paid="x"), "S001,short"]
        deliver(root, POS, f"2026-10-0{day}", "s.csv", ("\n".join(rows) + "\n").encode())
    one_batch = land_all(1 << 30)
    assert len(one_batch) == 15
    assert land_all(1) == one_batch


def test_unknown_entities_and_stray_files_are_reported_not_loaded(con, tmp_path):
    root = tmp_path / "l"
    (root / "pos" / "refunds" / "dt=2026-10-01").mkdir(parents=True)
    (root / "pos" / "order_lines").mkdir(parents=True)
    (root / "pos" / "order_lines" / "stray.csv").write_text(POS_HEADER + "\n")
    (root / "pos" / "order_lines" / "dt=2026-13-01").mkdir()
    report = land(con, root)
    assert sorted(report.skipped_folders) == [
        ("pos/order_lines/dt=2026-13-01", "bad_folder_name"),
        ("pos/order_lines/stray.csv", "file_outside_dt_folder"),
        ("pos/refunds", "unknown_entity")]
    assert con.execute("select count(*) from meta.skipped_folders").fetchone() == (3,)


def test_acquisition_costs_land_typed_with_channel_wide_rows_and_bad_rows_quarantined(con, tmp_path):
    costs = BY_KEY["marketing/acquisition_costs"]
    # column order is not guaranteed; store_code empty: a channel-wide cost
    rows = ["cost,month,store_code,register_channel",
            "1200.5,2026-10,,miniapp", "300,2026-10,S001,store", "88.00,2026-10,S002,store",
            "12.345,2026-10,S003,store", "50,2026-13,,wecom", "70,2026-10,,", "9,2026-10"]
    deliver(tmp_path / "l", costs, "2026-11-01", "acquisition_costs_202610.csv",
            ("\n".join(rows) + "\n").encode())
    report = ingest.land_source(con, tmp_path / "l", "marketing")
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (7, 3, 4)
    path = "marketing/acquisition_costs/dt=2026-11-01/acquisition_costs_202610.csv"
    assert quarantine(con) == [(path, 5, "invalid_money", "cost"),
                               (path, 6, "invalid_month", "month"),
                               (path, 7, "missing_required", "register_channel"),
                               (path, 8, "csv_missing_columns", None)]
    assert con.execute("select month, register_channel, store_code, cost::varchar, _dt::varchar"
                       " from raw.marketing__acquisition_costs order by _source_line").fetchall() == [
        ("2026-10", "miniapp", None, "1200.50", "2026-11-01"),
        ("2026-10", "store", "S001", "300.00", "2026-11-01"),
        ("2026-10", "store", "S002", "88.00", "2026-11-01")]
    assert ledger(con) == [(path, "loaded", "utf-8", 7, 3, 4, None)]

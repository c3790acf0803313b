"""CRM members read from the real MariaDB by (updated_at, member_id) watermark."""

import uuid

import pymysql
import pytest

from memberdw import crm_mysql, warehouse

pytestmark = pytest.mark.mariadb

DDL = """
create table members (
    member_id varchar(32) not null, mobile varchar(32), unionid varchar(64),
    openid varchar(64), name varchar(64), gender varchar(4), birthday date,
    province varchar(32), city varchar(32), register_time datetime,
    register_channel varchar(32), register_store_code varchar(16),
    referrer_member_id varchar(32), tier varchar(16), points_balance int,
    sms_opt_in tinyint, updated_at datetime not null, deleted tinyint not null default 0,
    primary key (member_id)
) default charset = utf8mb4
"""
INSERT = ("insert into members values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
          " %s, %s, %s, %s, %s)")


def row(member_id, updated_at, mobile="13800138000", tier="normal"):
    return (member_id, mobile, "u" + member_id, None, "张三", "男", "1990-05-01", "广东", "深圳",
            "2026-10-01 09:00:00", "miniapp", "S001", None, tier, 10, 1, updated_at, 0)


@pytest.fixture
def crm_db():
    name = f"memberdw_test_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                            autocommit=True, charset="utf8mb4")
    with admin.cursor() as cur:
        cur.execute(f"create database {name}")
        cur.execute(f"use {name}")
        cur.execute(DDL)
    try:
        yield admin, crm_mysql.MySQLSource("127.0.0.1", 3306, "root", "", name, batch_rows=2)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop database {name}")
        admin.close()


def test_reads_changed_rows_once_by_watermark(crm_db, tmp_path):
    admin, source = crm_db
    with admin.cursor() as cur:
        cur.executemany(INSERT, [row("M1", "2026-10-01 10:00:00"),
                                 row("M2", "2026-10-01 10:00:00", mobile="+86 139 0013 9000"),
                                 row("M3", "2026-10-01 11:00:00", mobile="12345")])
    con = warehouse.connect(tmp_path)

    first = crm_mysql.land_members(con, source, run_id="r1")
    assert (first.rows_read, first.rows_loaded, first.rows_rejected) == (3, 2, 1)
    assert con.execute("select reason, column_name, source_line from meta.quarantine"
                       ).fetchall() == [("invalid_mobile", "mobile", 1)]
    assert con.execute("select member_id, mobile from raw.crm__members order by 1"
                       ).fetchall() == [("M1", "13800138000"), ("M2", "13900139000")]

    again = crm_mysql.land_members(con, source, run_id="r2")
    assert again.rows_read == 0

    with admin.cursor() as cur:
        cur.execute("update members set tier = 'gold', updated_at = '2026-10-02 08:00:00'"
                    " where member_id = 'M1'")
    third = crm_mysql.land_members(con, source, run_id="r3")
    assert (third.rows_read, third.rows_loaded) == (1, 1)
    versions = con.execute("select tier, updated_at::varchar from raw.crm__members"
                           " where member_id = 'M1' order by updated_at").fetchall()
    assert [v[0] for v in versions] == ["normal", "gold"]
    ledger = con.execute("select sum(rows_read), sum(rows_loaded), sum(rows_rejected),"
                         " count(*) from meta.load_ledger").fetchone()
    assert ledger == (4, 3, 1, 3)  # batches of two rows: 2 + 1, then 1


def test_contract_text_of_mysql_values():
    import datetime as dt
    import decimal
    assert crm_mysql.as_contract_text(None) == ""
    assert crm_mysql.as_contract_text(dt.datetime(2026, 10, 1, 9, 5, 7)) == "2026-10-01 09:05:07"
    assert crm_mysql.as_contract_text(dt.date(1990, 5, 1)) == "1990-05-01"
    assert crm_mysql.as_contract_text(decimal.Decimal("12.50")) == "12.50"
    assert crm_mysql.as_contract_text(1) == "1"

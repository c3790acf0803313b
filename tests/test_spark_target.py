"""The dbt models on Apache Spark (dbt-spark, method session; memberdw.spark_build) build the
same marts as on DuckDB: on a small landing root, `memberdw run` builds the DuckDB
warehouse, then the Spark target builds every model from its Parquet raw zone (one Spark
build for the module), and each table of schema marts (the audit marts are there too) must
have the same columns, of the same kind, and the same multiset of rows. Only
representation is normalised: DuckDB reads both sides (Spark's tables through their
Parquet files) in one session set to UTC, so an integer is an integer whatever its width
and a TIMESTAMPTZ the same instant; a decimal must equal its decimal, a double its double,
exactly (no tolerance).

Needs pyspark and dbt-spark (requirements-dev.lock, ./scripts/install --dev) and Java 17
(.ci/run installs Debian's openjdk-17-jre-headless when `java` is missing). Without them
the tests fail, saying what is missing; MEMBERDW_SKIP_SPARK_TESTS=1 skips them instead,
on purpose, where no Java can be had.
"""

import os
from datetime import date

import duckdb
import pytest

from memberdw import spark_build
from memberdw.generate import generate
from test_marts import memberdw_run

# Every mart gets rows: campaign and coupon arms of at least min_group_size (100) members,
# month ends to migrate between, and (purchase days drawn from a BG/NBD process, as in
# test_clv_marts) a CLV fit: 100 repeat buyers over a calibration period of 90 days or more.
MEMBERS, DAYS, SEED = 1000, 120, 7
START = "2026-04-15"
CALIBRATION_END = "2026-07-31"
PREVIOUS_KEY = "memberdw-tests-previous-key-0123456789abcdef"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    missing = spark_build.java_missing()
    if missing:
        if os.environ.get("MEMBERDW_SKIP_SPARK_TESTS") == "1":
            pytest.skip(f"MEMBERDW_SKIP_SPARK_TESTS=1 and {missing}")
        pytest.fail(f"the Spark target cannot run: {missing}; set MEMBERDW_SKIP_SPARK_TESTS=1"
                    " to skip these tests on purpose", pytrace=False)
    base = tmp_path_factory.mktemp("spark")
    # a key rotation in progress, so mart_pii_key_rotation (memberdw_pii_hash_previous) has rows
    saved = os.environ.get("MEMBERDW_PII_KEY_PREVIOUS")
    os.environ["MEMBERDW_PII_KEY_PREVIOUS"] = PREVIOUS_KEY
    try:
        generate(base / "landing", members=MEMBERS, days=DAYS, seed=SEED,
                 start=date.fromisoformat(START), purchase_process="bgnbd")
        run = memberdw_run(base / "landing", base / "wh", "--clv-calibration-end", CALIBRATION_END)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        result = spark_build.build(base / "wh", spark_dir=base / "spark",
                                   clv_calibration_end=CALIBRATION_END)
        spark = spark_build.session(base / "spark")
        con = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{base / 'wh' / 'warehouse.duckdb'}' as duck (read_only)")
        marts = [t for (t,) in con.execute(
            "select table_name from information_schema.tables"
            " where table_catalog = 'duck' and table_schema = 'marts' order by 1").fetchall()]
        spark_marts = spark_build.attach_spark_tables(con, spark, "marts")
        yield con, marts, spark_marts, result, spark
        con.close()
        spark.stop()  # now, not from py4j's finalisers after pytest closed its log streams
    finally:
        if saved is None:
            os.environ.pop("MEMBERDW_PII_KEY_PREVIOUS", None)
        else:
            os.environ["MEMBERDW_PII_KEY_PREVIOUS"] = saved


def test_the_spark_build_ran_every_model_and_test(built):
    *_, result, _ = built
    assert result.success
    assert len(result.models) >= 74  # 70 SQL models and the 4 Python models
    assert result.tests.get("pass", 0) >= 250 and set(result.tests) <= {"pass"}, result.tests


def test_spark_builds_every_mart_duckdb_does(built):
    con, marts, spark_marts, *_ = built
    assert spark_marts == marts
    assert len(marts) >= 30


def test_every_mart_has_rows_here(built):
    """The landing root is big enough that no comparison below is of two empty tables."""
    con, marts, *_ = built
    empty = [t for t in marts if con.execute(f"select count(*) from duck.marts.{t}").fetchone()[0] == 0]
    assert empty == []


def test_every_mart_equals_duckdbs_row_for_row(built):
    con, marts, spark_marts, *_ = built
    unequal = {}
    for table in marts:
        duck, spark = f"duck.marts.{table}", f'"spark_{table}"'
        duck_columns = spark_build.column_kinds(con, duck)
        spark_columns = spark_build.column_kinds(con, spark)
        if duck_columns != spark_columns:
            unequal[table] = {"duckdb": [c for c in duck_columns if c not in spark_columns],
                              "spark": [c for c in spark_columns if c not in duck_columns]}
            continue
        missing, extra = spark_build.row_differences(con, duck, spark)
        if missing or extra:
            unequal[table] = f"{missing} rows only in DuckDB's, {extra} only in Spark's"
    assert unequal == {}


def test_the_comparison_catches_a_planted_difference(built):
    """One cent more on one row of fct_orders, one row fewer, and a double's last bit: the
    comparison says so each time (the changed row is on both sides of the difference, the
    deleted one only on Spark's)."""
    con, *_ = built
    con.execute("create temp table planted as select * from duck.marts.fct_orders")
    assert spark_build.row_differences(con, "planted", '"spark_fct_orders"') == (0, 0)
    con.execute("update planted set gmv_amount = gmv_amount + 0.01"
                " where order_id = (select min(order_id) from planted)")
    assert spark_build.row_differences(con, "planted", '"spark_fct_orders"') == (1, 1)
    con.execute("delete from planted where order_id = (select max(order_id) from planted)")
    assert spark_build.row_differences(con, "planted", '"spark_fct_orders"') == (1, 2)
    con.execute("create temp table planted_fit as select * from duck.marts.mart_clv_model")
    con.execute("update planted_fit set gg_p = gg_p * (1 + 1e-15)")  # a few ulps
    assert spark_build.row_differences(con, "planted_fit", '"spark_mart_clv_model"') == (1, 1)

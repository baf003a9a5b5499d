"""lib.engine: the DuckDB engine passes through unchanged, the Spark engine binds values safely,
keeps DuckDB's result types and acts out the few statements metric code writes."""

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lib import engine
from lib.engine import DuckDBEngine, Engine, arrow_to_frame, normalise, table_columns, table_names
from tests.spark_capture import local_spark


@pytest.fixture
def duck():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a', TIMESTAMP '2024-01-31 10:00', 1.5), "
                "(2, NULL, NULL, NULL)) v(id, name, seen, x)")
    yield con
    con.close()


def test_duckdb_engine_returns_what_the_cursor_returns(duck):
    eng = DuckDBEngine(duck)
    assert isinstance(eng, Engine) and not isinstance(duck, Engine)
    want = duck.execute("SELECT * FROM t WHERE id >= ? ORDER BY id", [1]).df()
    got = eng.execute("SELECT * FROM t WHERE id >= ? ORDER BY id", [1]).df()
    pd.testing.assert_frame_equal(got, want)
    assert eng.execute("SELECT count(*) FROM t").fetchone() == (2,)
    assert eng.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]


def test_catalogue_helpers_on_a_raw_cursor_and_an_engine(duck):
    # DuckDB's own names for the types, in table order, whichever way the connection is held
    want = [("id", "INTEGER"), ("name", "VARCHAR"), ("seen", "TIMESTAMP"), ("x", "DECIMAL(2,1)")]
    assert table_columns(duck, "t") == want
    assert table_columns(DuckDBEngine(duck), "t") == want
    assert table_columns(duck, "missing") == []
    assert "t" in table_names(duck) and "t" in table_names(DuckDBEngine(duck))


def test_duckdb_engine_puts_a_frame_in_as_a_table(duck):
    eng = DuckDBEngine(duck)
    eng.put_frame("small", pd.DataFrame({"k": [3, 1], "v": ["x", "y"]}))
    assert eng.execute("SELECT sum(k), string_agg(v, '' ORDER BY v) FROM small").fetchone() == (4, "xy")
    eng.drop("small")
    assert "small" not in table_names(duck)


def test_normalise_gives_one_type_per_kind_of_value():
    frame = pd.DataFrame({
        "when": pd.Series(pd.to_datetime(["2024-01-01 00:00"]).tz_localize("Europe/Paris")),  # 23:00 UTC the day before
        "n": pd.Series([1], dtype="int32"), "k": pd.array([None], dtype="Int32"),
        "x": pd.Series([1.0], dtype="float32"), "ok": pd.array([None], dtype="boolean"),
        "d": pd.Series([dt.date(2024, 2, 29)], dtype=object)})
    out = normalise(frame)
    assert out["when"].dtype == "datetime64[ns]" and out["when"].iloc[0] == pd.Timestamp("2023-12-31 23:00")
    assert out["n"].dtype == "int64" and out["k"].dtype == "Int64" and out["x"].dtype == "float64"
    assert out["ok"].dtype == "boolean" and out["d"].iloc[0] == pd.Timestamp("2024-02-29")


def test_arrow_results_look_like_duckdb_df(duck):
    # the same query through Arrow and through DuckDB's .df(): same dtypes, same values
    sql = "SELECT id, name, seen, CAST(x AS DECIMAL(4,2)) AS x, id > 1 AS big, [id] AS ids FROM t ORDER BY id"
    want = duck.execute(sql).df()
    got = arrow_to_frame(duck.execute(sql).to_arrow_table())
    assert list(got.dtypes.astype(str)) == list(want.dtypes.astype(str))[:5] + ["object"]
    pd.testing.assert_frame_equal(got.drop(columns="ids"), want.drop(columns="ids"))
    assert list(got["ids"].iloc[0]) == [1]


def test_spark_values_are_plain_python():
    assert engine._spark_param(np.int64(3)) == 3 and type(engine._spark_param(np.int64(3))) is int
    assert engine._spark_param(pd.Timestamp("2024-03-01 12:00", tz="Europe/Paris")) == dt.datetime(2024, 3, 1, 11)
    assert engine._spark_param([np.float64(0.5), "a"]) == [0.5, "a"]
    with pytest.raises(TypeError):
        engine._spark_param(object())


# ------------------------------------------------------------------ Spark (local, needs Java)

@pytest.fixture(scope="module")
def spark():
    return local_spark()


def test_spark_binds_values_and_never_pastes_them(spark):
    spark.put_frame("people", pd.DataFrame({"name": ["O'Brien", "x"], "n": [1, 2]}))
    # a value that would break (or inject into) the SQL text if it were pasted in
    assert spark.execute("SELECT n FROM people WHERE name = ?", ["O'Brien"]).fetchall() == [(1,)]
    assert spark.execute("SELECT count(*) FROM people WHERE name = ?", ["x' OR '1'='1"]).fetchone() == (0,)
    with pytest.raises(ValueError, match="2 values"):
        spark.execute("SELECT n FROM people WHERE name = ?", ["a", "b"])


def test_spark_results_have_duckdb_types(spark, duck):
    spark.put_frame("t", duck.execute("SELECT * FROM t").to_arrow_table())
    sql = "SELECT id, name, seen, CAST(x AS DOUBLE) AS x, id > 1 AS big FROM t ORDER BY id"
    want, got = duck.execute(sql).df(), spark.execute(sql).df()
    assert list(got.dtypes.astype(str)) == ["int32", "str", "datetime64[us]", "float64", "bool"]
    pd.testing.assert_frame_equal(normalise(got), normalise(want))
    assert table_columns(spark, "t") == [("id", "INTEGER"), ("name", "VARCHAR"), ("seen", "TIMESTAMP"),
                                         ("x", "DECIMAL(2,1)")]
    # times are UTC and naive: a bound time compares with the column as written
    assert spark.execute("SELECT id FROM t WHERE seen = ?", [pd.Timestamp("2024-01-31 10:00")]).fetchall() == [(1,)]


def test_spark_acts_out_the_statements_metric_code_writes(spark):
    spark.execute("CREATE TABLE IF NOT EXISTS sig (scores_table VARCHAR, signature VARCHAR)")
    spark.execute("INSERT INTO sig VALUES (?, ?)", ["a", "1"])
    spark.execute("INSERT INTO sig VALUES (?, ?)", ["b", "2"])
    spark.execute("DELETE FROM sig WHERE scores_table = ?", ["a"])
    assert spark.execute("SELECT * FROM sig").fetchall() == [("b", "2")]
    spark.execute("CREATE TABLE IF NOT EXISTS sig (scores_table VARCHAR, signature VARCHAR)")  # kept
    assert spark.execute("SELECT count(*) FROM sig").fetchone() == (1,)
    spark.register("_incoming", pd.DataFrame({"v": [1, 2, 3]}))
    spark.execute('CREATE OR REPLACE TABLE "my table" AS SELECT * FROM _incoming WHERE v > ?', [1])
    spark.unregister("_incoming")  # the new table holds its rows, not a view of the dropped frame
    assert spark.execute('SELECT sum(v) FROM "my table"').fetchone() == (5,)
    assert [c for c, _ in spark.execute('DESCRIBE "my table"').fetchall()] == ["v"]
    assert {"sig", "my table"} <= set(table_names(spark))
    spark.execute('DROP TABLE IF EXISTS "my table"')
    assert "my table" not in table_names(spark)

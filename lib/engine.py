"""One execution interface for the metric SQL: DuckDB (the embedded default) or Spark (issue #21).

Metric functions take a connection and call `con.execute(sql, params)` then `.df()`,
`.fetchall()` or `.fetchone()`. An `Engine` keeps exactly that shape, so the same functions run on
the session's DuckDB cursor (`DuckDBEngine`, unchanged behaviour) or on a Spark session
(`SparkEngine`: the DuckDB SQL is transpiled by sqlglot and run by Spark, and only the small result
frames come back). The metric SQL stays readable DuckDB SQL — it is what "Show SQL" shows — and is
restricted to what means the same on both engines (tests/test_spark_conformance.py keeps it so).

Besides `execute`, an engine can run a query straight to a frame with normalised types (`query`),
list a table's columns (`columns`), put a small frame in as a table (`put_frame`) and drop one.
`table_columns(con, table)` and `table_names(con)` work on an engine or a raw DuckDB cursor,
so metric code never reads DuckDB's catalogue (information_schema, DESCRIBE, duckdb_tables()).

pyspark and sqlglot are imported only when a SparkEngine is made: a laptop user never needs them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import logging
from collections import OrderedDict
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa

from lib.errors import BoundaryError
from lib.sql import quote_ident


@runtime_checkable
class Engine(Protocol):
    """What a metric function may do with its connection."""

    name: str

    def execute(self, sql: str, params: list | None = None) -> "Engine": ...
    def df(self) -> pd.DataFrame: ...
    def fetchall(self) -> list[tuple]: ...
    def fetchone(self) -> tuple | None: ...
    def query(self, sql: str, params: list | None = None) -> pd.DataFrame: ...
    def columns(self, table: str) -> list[tuple[str, str]]: ...
    def tables(self) -> list[str]: ...
    def put_frame(self, name: str, frame: pd.DataFrame) -> None: ...
    def drop(self, name: str) -> None: ...
    def cursor(self) -> "Engine": ...


# ------------------------------------------------------------------ types

def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with one type per kind of value, whichever engine made it: dates and times
    datetime64[ns] (naive, UTC), whole numbers int64 (Int64 when there are blanks), other numbers and
    decimals float64, true/false bool (boolean with blanks), text and the rest as they are."""
    out = {}
    for name in frame.columns:
        s = frame[name]
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            s = s.astype("datetime64[ns]")
        elif pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype("boolean" if s.isna().any() else bool)
        elif pd.api.types.is_integer_dtype(s.dtype):
            s = s.astype("Int64" if s.isna().any() else "int64")
        elif pd.api.types.is_float_dtype(s.dtype):
            s = s.astype("float64")
        elif s.dtype == object and len(s.dropna()) and all(isinstance(v, decimal.Decimal) for v in s.dropna()):
            s = s.astype("float64")
        elif s.dtype == object and len(s.dropna()) and all(isinstance(v, (dt.date, dt.datetime)) for v in s.dropna()):
            s = pd.to_datetime(s).astype("datetime64[ns]")
        out[name] = s
    return pd.DataFrame(out, index=frame.index)


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as DuckDB's `.df()` gives it (so callers see the same frame from either
    engine): integers as wide as their SQL type (float64 with NaN where blank), decimals float64, times datetime64[us] naive UTC,
    true/false bool (boolean with blanks), lists as Python lists."""
    data = []
    for column in table.columns:
        t = column.type
        if pa.types.is_integer(t):  # the width kept, as DuckDB keeps it (INTEGER → int32)
            # with blanks: float64 and NaN, as DuckDB gives its sums (HUGEINT), which Spark types as
            # BIGINT — code written for DuckDB's frames then reads a blank sum the same way
            data.append(column.cast(pa.float64()).to_numpy(zero_copy_only=False) if column.null_count
                        else column.to_numpy())
        elif pa.types.is_decimal(t) or pa.types.is_floating(t):
            data.append(column.cast(pa.float64()).to_numpy(zero_copy_only=False))
        elif pa.types.is_timestamp(t) or pa.types.is_date(t):
            s = column.to_pandas()
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                s = s.dt.tz_convert("UTC").dt.tz_localize(None)
            data.append(pd.to_datetime(s).astype("datetime64[us]").to_numpy())
        elif pa.types.is_boolean(t):
            data.append(pd.array(column.to_pylist(), dtype="boolean") if column.null_count
                        else column.to_numpy(zero_copy_only=False).astype(bool))
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            data.append(pd.array(column.to_pylist(), dtype="str"))
        else:
            data.append(pd.Series(column.to_pylist(), dtype=object).to_numpy())
    # built by position: DuckDB allows two output columns with the same name, and so does this
    frame = pd.DataFrame(dict(enumerate(data)), index=range(table.num_rows))
    frame.columns = table.column_names
    return frame


# ------------------------------------------------------------------ catalogue helpers

def table_columns(con, table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type name) of `table`, in order, on an Engine or a raw DuckDB cursor;
    [] when there is no such table."""
    if isinstance(con, Engine):
        return con.columns(table)
    return [(r[0], r[1]) for r in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "ORDER BY ordinal_position", [table]).fetchall()]


def table_names(con) -> list[str]:
    """The tables and views of the session, on an Engine or a raw DuckDB cursor."""
    if isinstance(con, Engine):
        return con.tables()
    return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]


# ------------------------------------------------------------------ DuckDB

class DuckDBEngine:
    """The session's DuckDB cursor as an Engine: every call passes straight through."""

    name = "duckdb"

    def __init__(self, con) -> None:
        self.con = con

    def execute(self, sql: str, params: list | None = None) -> "DuckDBEngine":
        self.con.execute(sql, params) if params is not None else self.con.execute(sql)
        return self

    def df(self) -> pd.DataFrame:
        return self.con.df()

    def fetchall(self) -> list[tuple]:
        return self.con.fetchall()

    def fetchone(self) -> tuple | None:
        return self.con.fetchone()

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return normalise(self.execute(sql, params).df())

    def columns(self, table: str) -> list[tuple[str, str]]:
        return table_columns(self.con, table)

    def tables(self) -> list[str]:
        return table_names(self.con)

    def put_frame(self, name: str, frame: pd.DataFrame) -> None:
        with self.con.cursor() as cur:
            cur.register("_engine_incoming", frame)
            cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM _engine_incoming")
            cur.unregister("_engine_incoming")

    def drop(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")

    # DuckDB's own names for a registered frame, used by a few metric functions
    def register(self, name: str, frame) -> None:
        self.con.register(name, frame)

    def unregister(self, name: str) -> None:
        self.con.unregister(name)

    def cursor(self) -> "DuckDBEngine":
        return DuckDBEngine(self.con.cursor())

    def close(self) -> None:
        self.con.close()


# ------------------------------------------------------------------ Spark

# Spark type (simpleString) → the DuckDB name metric code compares against
_SPARK_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT",
                "tinyint": "TINYINT", "double": "DOUBLE", "float": "FLOAT", "boolean": "BOOLEAN",
                "timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP", "date": "DATE", "binary": "BLOB"}

# Set on every session the engine is given, so results match DuckDB's: times are UTC and naive
# (TIMESTAMP_NTZ); ANSI mode, so that a bad cast or an overflow is an error as on DuckDB rather than a
# silent NULL or wrap-around (a division by zero is an error too, where DuckDB gives inf: metric SQL
# divides by NULLIF(…, 0)).
# Retries of a Spark Connect call before it fails (the client's default waits up to ten minutes).
CONNECT_RETRIES = 3

SPARK_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.timestampType": "TIMESTAMP_NTZ",
              "spark.sql.ansi.enabled": "true"}


class EngineUnavailable(BoundaryError):
    """The Spark server stopped answering, or no longer accepts the session's token."""


# gRPC outcomes that mean the server is gone or the session's credentials expired (an EMR token lasts
# an hour), not that a query is wrong: said in plain words instead of a traceback.
_LOST = ("StatusCode.UNAVAILABLE", "StatusCode.UNAUTHENTICATED", "StatusCode.DEADLINE_EXCEEDED",
         "RETRIES_EXCEEDED")


def _unavailable(exc: Exception) -> EngineUnavailable | None:
    if not type(exc).__module__.startswith("pyspark") or not any(m in str(exc) for m in _LOST):
        return None
    return EngineUnavailable("The Spark server stopped answering (or no longer accepts this session's token). "
                             "Open “Connect to Spark” and connect again, or press Disconnect there to go back "
                             "to this server's own data.")


def _spark_param(value: Any) -> Any:
    """A bound value as Spark's parameterised query accepts it (plain Python types)."""
    if value is None or isinstance(value, (bool, str, int, float, decimal.Decimal)):
        return value
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC").tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    if isinstance(value, (list, tuple)):
        return [_spark_param(v) for v in value]
    raise TypeError(f"cannot bind a {type(value).__name__} to a Spark query")


class SparkEngine:
    """A Spark session as an Engine. Each statement is transpiled from DuckDB to Spark SQL by
    sqlglot (anything it cannot express raises rather than guessing); `?` values are bound by
    Spark's parameterised `spark.sql(query, args=[…])`, never written into the text. Tables the
    metric code creates (CREATE TABLE … AS, registered frames) become temporary views over a
    materialised result, so they live as long as the session and read their rows only once.

    Results are cached (the last `CACHE_SIZE` distinct query texts and values, shared by the
    engine's cursors): a page's rerun asks the same questions again, and each is a cluster job.
    Any table the engine writes or drops empties the cache; `clear_cache()` does too (new data
    landed in the lake)."""

    name = "spark"
    CACHE_SIZE = 256

    def __init__(self, spark, _cache: OrderedDict | None = None) -> None:
        self.spark = spark
        if _cache is None:  # a new engine, not one of its cursors
            for key, value in SPARK_CONF.items():
                spark.conf.set(key, value)
        self._result = None
        self._key: tuple | None = None
        self._cache: OrderedDict = _cache if _cache is not None else OrderedDict()
        self.last_sql: str | None = None  # the Spark SQL last run ("Show SQL" on a cluster)

    def clear_cache(self) -> None:
        self._cache.clear()

    @classmethod
    def connect(cls, url: str, retries: int = CONNECT_RETRIES) -> "SparkEngine":
        """A Spark Connect server, e.g. sc://host:15002 or a Databricks sc://…;token=… URL.

        A new session every time (`create`, not `getOrCreate`): each browser session gets its own
        server-side session, so one user's temporary views are never another's. A server that does
        not answer fails after `retries` short retries (seconds) instead of the client's default
        ten minutes; the caller says so in plain words (lib.remote.connect)."""
        from pyspark.sql.connect.client.retries import DefaultPolicy
        from pyspark.sql.connect.session import SparkSession  # not pyspark.sql's, which would mark the
        # whole process "Connect only" (SPARK_CONNECT_MODE_ENABLED) and so stop `local` from starting

        session = SparkSession.builder.remote(url).create()
        session.client.set_retry_policies([DefaultPolicy(max_retries=retries, initial_backoff=200,
                                                         max_backoff=2000)])
        return cls(session)

    @classmethod
    def local(cls, cores: int = 2) -> "SparkEngine":
        """An in-process Spark (needs Java) for tests and the benchmark: UI off, small shuffles."""
        from pyspark.sql import SparkSession

        builder = (SparkSession.builder.master(f"local[{cores}]").appName("boundary")
                   .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", str(cores))
                   .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "1g"))
        for key, value in SPARK_CONF.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("FATAL")  # a failing query raises; its stack need not be logged too
        try:
            from pyspark.logger import PySparkLogger

            for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
                PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
        except ImportError:
            pass
        return cls(session)

    # -------------------------------------------------------------- SQL

    @staticmethod
    def transpile(sql: str, pretty: bool = False) -> str:
        """DuckDB SQL as Spark SQL, at sqlglot's strictest level (unsupported → error); `pretty`
        breaks it into lines (what "Show SQL" shows: the same statement the engine runs)."""
        return _transpile(sql, pretty)

    def _bind(self, expression, params: list) -> tuple[str, list]:
        from sqlglot.errors import ErrorLevel

        text = _for_spark(expression).sql("spark", unsupported_level=ErrorLevel.RAISE)
        self.last_sql = text
        n = len(list(expression.find_all(_placeholder())))
        if n != len(params):
            raise ValueError(f"the query has {n} ? markers but {len(params)} values were given")
        return text, [_spark_param(v) for v in params]

    def _frame(self, expression, params: list):
        text, args = self._bind(expression, params)
        return self.spark.sql(text, args=args) if args else self.spark.sql(text)

    def execute(self, sql: str, params: list | None = None) -> "SparkEngine":
        try:
            return self._execute(sql, params)
        except Exception as exc:
            lost = _unavailable(exc)
            if lost is not None:
                raise lost from None
            raise

    def _execute(self, sql: str, params: list | None = None) -> "SparkEngine":
        import sqlglot
        from sqlglot import exp

        params = list(params or [])
        tree = sqlglot.parse_one(sql, read="duckdb")
        self._result, self._key = None, None
        if isinstance(tree, exp.Create) and tree.args.get("kind") in ("TABLE", "VIEW"):
            name = tree.this.this.name if isinstance(tree.this, exp.Schema) else tree.this.name
            if tree.args.get("exists") and self.has_table(name):
                return self
            if tree.expression is not None:
                self._store(name, self._frame(tree.expression, params))
            else:  # CREATE TABLE t (column TYPE, …): an empty table
                columns = ", ".join(f"CAST(NULL AS {c.args['kind'].sql('spark')}) AS {c.this.sql('spark')}"
                                    for c in tree.this.expressions)
                self._store(name, self.spark.sql(f"SELECT {columns}").limit(0))
        elif isinstance(tree, exp.Drop):
            for table in tree.args.get("tables") or [tree.this]:
                self.drop(table.name)
        elif isinstance(tree, exp.Insert):  # INSERT INTO t VALUES / SELECT …: t ∪ the new rows
            name = tree.this.name
            current = self.spark.table(quote_spark(name))
            added = self._frame(tree.expression, params)
            self._store(name, current.union(added.toDF(*current.columns)))
        elif isinstance(tree, exp.Delete):  # DELETE FROM t WHERE c: keep the rows where c is not true
            name = tree.this.name
            where = tree.args["where"].this
            kept = exp.select("*").from_(exp.to_table(quote_spark(name), dialect="spark")).where(
                exp.Not(this=exp.Coalesce(this=exp.Paren(this=where), expressions=[exp.false()])))
            self._store(name, self._frame(kept, params))
        elif isinstance(tree, exp.Describe):
            name = tree.this.name
            rows = self.columns(name)
            self._result = self.spark.createDataFrame(
                pd.DataFrame({"column_name": [r[0] for r in rows], "column_type": [r[1] for r in rows]}))
        else:
            text, args = self._bind(tree, params)
            self._key = (text, repr(args))
            if self._key not in self._cache:
                self._result = self.spark.sql(text, args=args) if args else self.spark.sql(text)
        return self

    # -------------------------------------------------------------- results

    def _arrow(self) -> pa.Table:
        try:
            return self._fetch()
        except Exception as exc:
            lost = _unavailable(exc)
            if lost is not None:
                raise lost from None
            raise

    def _fetch(self) -> pa.Table:
        if self._key is not None and self._key in self._cache:
            self._cache.move_to_end(self._key)
            return self._cache[self._key]
        if self._result is None:
            return pa.table({})
        table = self._result.toArrow()
        if self._key is not None:
            self._cache[self._key] = table
            while len(self._cache) > self.CACHE_SIZE:
                self._cache.popitem(last=False)
        return table

    def df(self) -> pd.DataFrame:
        return arrow_to_frame(self._arrow())

    def fetchall(self) -> list[tuple]:
        table = self._arrow()
        columns = [c.to_pylist() for c in table.columns]
        return [tuple(row) for row in zip(*columns)] if columns else []

    def fetchone(self) -> tuple | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        return normalise(self.execute(sql, params).df())

    # -------------------------------------------------------------- tables

    def _store(self, name: str, frame) -> None:
        frame.localCheckpoint().createOrReplaceTempView(quote_spark(name))
        self._cache.clear()

    def columns(self, table: str) -> list[tuple[str, str]]:
        if not self.has_table(table):
            return []
        out = []
        for field in self.spark.table(quote_spark(table)).schema.fields:
            kind = field.dataType.simpleString()
            out.append((field.name, _SPARK_TYPES.get(kind, kind.upper())))
        return out

    def has_table(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(quote_spark(name)))

    def tables(self) -> list[str]:
        return [t.name for t in self.spark.catalog.listTables()]

    def put_frame(self, name: str, frame) -> None:
        """A pandas frame or Arrow table as a table called `name` (a temporary view)."""
        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
        self._store(name, self.spark.createDataFrame(_spark_arrow(table)))

    register = put_frame

    def drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)  # a view name as it is, not SQL
        self._cache.clear()

    unregister = drop

    def cursor(self) -> "SparkEngine":
        return SparkEngine(self.spark, self._cache)

    def close(self) -> None:
        pass  # the session outlives one metric call; whoever made it stops it (`stop`)

    def stop(self) -> None:
        """End a Spark Connect session (the server then frees its temporary views). An in-process
        session (`local`, tests, the benchmark) is left to whoever made it: it is shared."""
        if not type(self.spark).__module__.startswith("pyspark.sql.connect"):
            return
        try:
            self.spark.stop()
        except Exception:  # noqa: BLE001 — a server already gone has nothing left to free
            pass


def quote_spark(name: str) -> str:
    """A table name as Spark reads it (backticks, doubled inside)."""
    return "`" + str(name).replace("`", "``") + "`"


def _spark_arrow(table: pa.Table) -> pa.Table:
    """Arrow types Spark reads as DuckDB wrote them: string views and large strings as strings,
    times to microseconds, naive (UTC)."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
            t = pa.string()
        elif pa.types.is_timestamp(t):
            t = pa.timestamp("us")
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))


def _placeholder():
    from sqlglot import exp

    return exp.Placeholder


def _for_spark(tree):
    """Where sqlglot's Spark SQL would mean something else than the DuckDB SQL, the Spark form:
    - `LAG(x) OVER w - x`: Spark reads a window called "w - x"; the window call is parenthesised.
    - quantile_cont(x, q) (DuckDB's exact, interpolated quantile) is Spark's percentile(x, q), not
      PERCENTILE_CONT(x, q) (Spark's takes one argument and a WITHIN GROUP).
    - quantile_disc(x, q) and DuckDB's quantile(x, q) (the same thing) are Spark's
      percentile_disc(q) WITHIN GROUP (ORDER BY x), not percentile(x, q) (which interpolates).
    - A number with a decimal point in arithmetic (`count(*) / 7.0`) is a DOUBLE: Spark would keep
      it DECIMAL and round the quotient to 6 places, where DuckDB divides in doubles."""
    from sqlglot import exp

    arithmetic = (exp.Add, exp.Sub, exp.Mul, exp.Div)

    def operands(node):
        number = node.this if isinstance(node, exp.Neg) else node
        if (isinstance(number, exp.Literal) and not number.is_string and "." in number.name
                and isinstance(node.parent, arithmetic)):
            return exp.Cast(this=node.copy(), to=exp.DataType.build("DOUBLE"))
        if isinstance(node, exp.Window) and isinstance(node.parent, exp.Binary):
            return exp.Paren(this=node.copy())
        if isinstance(node, exp.Bracket):
            raise ValueError("list indexing [ … ][i] counts from 1 on DuckDB and from 0 on Spark: use CASE")
        return node

    def functions(node):  # after `operands`, whose changes the copies below keep
        if isinstance(node.parent, exp.WithinGroup):
            return node
        if isinstance(node, exp.PercentileCont) and node.expression is not None:
            return exp.Anonymous(this="percentile", expressions=[node.this.copy(), node.expression.copy()])
        if isinstance(node, (exp.PercentileDisc, exp.Quantile)):
            q = node.expression if isinstance(node, exp.PercentileDisc) else node.args.get("quantile")
            if q is not None:
                return exp.WithinGroup(this=exp.Anonymous(this="percentile_disc", expressions=[q.copy()]),
                                       expression=exp.Order(expressions=[exp.Ordered(this=node.this.copy())]))
        return node

    return tree.copy().transform(operands).transform(functions)


@functools.lru_cache(maxsize=1024)  # "Show SQL" on a Spark workspace transpiles the same texts on every rerun
def _transpile(sql: str, pretty: bool = False) -> str:
    import sqlglot
    from sqlglot.errors import ErrorLevel

    return _for_spark(sqlglot.parse_one(sql, read="duckdb")).sql("spark", unsupported_level=ErrorLevel.RAISE,
                                                                  pretty=pretty)

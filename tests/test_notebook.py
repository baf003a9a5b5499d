"""The SQL notebook runs read-only SQL only, inside the session's sandbox, and bounds runaway queries."""

import os
import tracemalloc

import duckdb
import pandas as pd
import pytest

from lib import notebook
from lib.errors import SqlError
from lib.notebook import run_user_sql

CSV = b"Title,Send Date,Total Recipients,Unique Opens,Unique Clicks\nA,2025-01-06,1000,250,40\nB,2025-01-13,800,100,20\n"


@pytest.fixture
def loaded(ws):
    ws.load("c.csv", CSV)
    return ws


def test_select_over_loaded_table(loaded):
    result = run_user_sql(loaded.con, 'SELECT sum(sent) AS sent FROM email_campaigns;')
    assert result.frame["sent"].tolist() == [1800] and not result.truncated


def test_rows_are_capped(loaded):
    result = run_user_sql(loaded.con, "SELECT * FROM range(100)", max_rows=10)
    assert len(result.frame) == 10 and result.truncated


@pytest.mark.parametrize("sql,message", [
    ("DROP TABLE email_campaigns", "not DROP\\."),
    ("INSERT INTO email_campaigns (campaign) VALUES ('x')", "not INSERT\\."),
    ("CREATE TABLE x AS SELECT 1", "not CREATE\\."),
    ("SET memory_limit = '20GB'", "not SET\\."),
    ("ATTACH '/tmp/x.db'", "not ATTACH\\."),
    ("COPY email_campaigns TO '/tmp/out.csv'", "not COPY\\."),
    ("INSTALL httpfs", "not LOAD\\."),
    ("SELECT 1; SELECT 2", "one statement at a time (this cell has 2)"),
    ("", "Write a SELECT query first."),
    ("SELEC 1", "does not parse"),
])
def test_non_read_only_sql_is_refused(loaded, sql, message):
    before = _state(loaded)
    with pytest.raises(SqlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_user_sql(loaded.con, sql)
    assert loaded.con.execute("SELECT count(*) FROM email_campaigns").fetchone()[0] == 2
    assert _state(loaded) == before


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM 'sample_data/deals.csv'",
])
def test_file_access_is_refused_even_in_a_select(loaded, sql):
    with pytest.raises(SqlError, match="The query failed"):
        run_user_sql(loaded.con, sql)


def test_runaway_query_is_interrupted(loaded):
    with pytest.raises(SqlError, match="ran longer than 0.5 s and was stopped"):
        run_user_sql(loaded.con, "SELECT count(*) FROM range(100000000000) a", timeout_s=0.5)
    # the connection is still usable afterwards
    assert run_user_sql(loaded.con, "SELECT 42 AS x").frame["x"].tolist() == [42]


# ----------------------------------------------------------- attacks from issue #17

def _state(ws):
    """Everything a notebook statement must leave as it was: the table's rows, what a built-in
    function returns, and the user-made functions, views and tables of the session."""
    con = ws.con
    return (con.execute("SELECT * FROM email_campaigns ORDER BY _row").fetchall(),
            con.execute("SELECT round(2.5), round(2.345, 2)").fetchall(),
            con.execute("SELECT function_name, function_type FROM duckdb_functions() "
                        "WHERE NOT internal ORDER BY ALL").fetchall(),
            con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY ALL").fetchall(),
            con.execute("SELECT table_name FROM duckdb_tables() ORDER BY ALL").fetchall(),
            con.execute("SELECT database_name FROM duckdb_databases() ORDER BY ALL").fetchall())


@pytest.mark.parametrize("sql,message", [
    # writes hidden in a CTE pass the statement-type check: the read-only transaction stops them
    ("WITH d AS (DELETE FROM email_campaigns RETURNING *) SELECT count(*) FROM d", "notebook is read-only"),
    ("WITH d AS (UPDATE email_campaigns SET sent = 0 RETURNING *) SELECT count(*) FROM d", "notebook is read-only"),
    ("WITH d AS (INSERT INTO email_campaigns SELECT * FROM email_campaigns RETURNING *) SELECT count(*) FROM d",
     "notebook is read-only"),
    # EXPLAIN ANALYZE runs what it explains
    ("EXPLAIN ANALYZE DROP TABLE email_campaigns", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE ALTER TABLE email_campaigns RENAME TO x", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE CREATE VIEW v AS SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE CREATE MACRO round(x, d := 0) AS 42", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN (ANALYZE) CREATE MACRO round(x) AS 42", "EXPLAIN ANALYZE runs the statement"),
    ("explain analyse CREATE TEMP MACRO round(x) AS 42", "EXPLAIN ANALYZE runs the statement"),
    ("EXPLAIN ANALYZE WITH d AS (DELETE FROM email_campaigns RETURNING *) SELECT 1", "EXPLAIN ANALYZE runs"),
    # a statement kind the Python client cannot name raised ValueError (a traceback on the page)
    ("UPDATE EXTENSIONS", "Only read-only queries"),
])
def test_hidden_writes_are_refused_and_change_nothing(loaded, sql, message):
    before = _state(loaded)
    with pytest.raises(SqlError, match=message):
        run_user_sql(loaded.con, sql)
    assert _state(loaded) == before
    assert loaded.con.execute("SELECT round(2.5)").fetchone()[0] == 3  # DuckDB rounds half away from zero


def test_explain_analyze_cannot_copy_into_the_spill_folder(loaded):
    spill = loaded._spill_dir
    with pytest.raises(SqlError, match="EXPLAIN ANALYZE"):
        run_user_sql(loaded.con, f"EXPLAIN ANALYZE COPY (SELECT * FROM range(10)) TO '{spill}/fill.csv'")
    assert os.listdir(spill) == []


@pytest.mark.parametrize("sql", [
    "DROP TABLE email_campaigns",
    "CREATE MACRO round(x) AS 42",
    "CREATE VIEW v AS SELECT 1",
    "UPDATE email_campaigns SET sent = 0",
])
def test_read_only_transaction_holds_without_the_statement_check(loaded, monkeypatch, sql):
    """The transaction is a layer of its own: with the statement check out of the way, writes still fail."""
    monkeypatch.setattr(notebook, "_checked_statement", lambda con, text: text)
    before = _state(loaded)
    with pytest.raises(SqlError, match="notebook is read-only"):
        run_user_sql(loaded.con, sql)
    assert _state(loaded) == before


def test_explain_without_analyze_still_shows_the_plan(loaded):
    result = run_user_sql(loaded.con, "EXPLAIN SELECT sum(sent) FROM email_campaigns")
    assert "physical_plan" in result.frame.iloc[:, 0].tolist()


def test_now_works(loaded):
    """A timestamp with time zone needs pytz on the Python side (it failed before pytz was pinned)."""
    value = run_user_sql(loaded.con, "SELECT now() AS t").frame["t"].iloc[0]
    assert value.tzinfo is not None


@pytest.mark.parametrize("sql", [
    "SELECT current_setting('temp_directory')",
    "SELECT system.main.current_setting('temp_directory')",
    "SELECT \"Current_Setting\"('temp_directory')",
    "SELECT 'temp_directory'.current_setting()",
    "SELECT * FROM duckdb_settings()",
    "SELECT value FROM duckdb_settings() WHERE name = 'allowed_directories'",
    "SELECT * FROM pg_catalog.pg_settings",
    "SELECT * FROM duckdb_temporary_files()",
    "SELECT * FROM duckdb_extensions()",
    "SELECT * FROM query('SELECT current_' || 'setting(''temp_directory'')')",
    "SELECT * FROM query_table('pg_' || 'settings')",
    "SELECT json_serialize_plan('SELECT current_' || 'setting(''temp_directory'')', optimize := true)",
    "EXPLAIN SELECT current_setting('temp_directory')",
    "SHOW temp_directory",
    "SELECT * FROM (SHOW \"Allowed_Directories\")",
])
def test_server_settings_and_folders_are_not_shown(loaded, sql):
    before = _state(loaded)
    with pytest.raises(SqlError, match="not available in the notebook") as refused:
        run_user_sql(loaded.con, sql)
    assert loaded._spill_dir not in str(refused.value)
    assert _state(loaded) == before


def test_a_column_named_query_and_show_tables_still_work(loaded):
    result = run_user_sql(loaded.con, "SELECT 'x' AS query, 'current_setting' AS s")
    assert result.frame.columns.tolist() == ["query", "s"]
    assert "email_campaigns" in run_user_sql(loaded.con, "SHOW TABLES").frame["name"].tolist()


def test_server_folders_in_duckdb_errors_are_hidden():
    error = duckdb.PermissionException('Permission Error: Cannot access directory "/root/.duckdb/extensions" - '
                                       'file system operations are disabled by configuration')
    assert "/root" not in notebook._plain(error, "SELECT 1")
    typed = duckdb.PermissionException('Permission Error: Cannot access file "/etc/passwd" - disabled')
    assert "/etc/passwd" in notebook._plain(typed, "SELECT * FROM read_csv('/etc/passwd')")


def test_workspace_caps_spill_and_turns_off_python_replacements(ws):
    """Set before the configuration lock (the notebook cannot read them back, so ask the connection)."""
    spill_limit, replacements = ws.con.execute(
        "SELECT current_setting('max_temp_directory_size'), current_setting('python_enable_replacements')"
    ).fetchone()
    assert spill_limit == "1.8 GiB"  # "2GB" = 2·10⁹ bytes = 1.86 GiB, shown to one decimal
    assert replacements is False
    secret = pd.DataFrame({"x": [1]})  # noqa: F841 — a replacement scan would read it by name
    with pytest.raises(SqlError, match="The query failed"):
        run_user_sql(ws.con, "SELECT * FROM secret")


def test_spill_cap_is_enforced(monkeypatch):
    """A sort too big for memory spills; past the cap it stops with a plain message instead of
    filling the disk. Small limits stand in for the real ones (2GB memory, 2GB spill)."""
    from lib import datasets

    monkeypatch.setattr(datasets, "SESSION_MEMORY_LIMIT", "30MB")
    monkeypatch.setattr(datasets, "SESSION_THREADS", 1)
    monkeypatch.setattr(datasets, "SESSION_SPILL_LIMIT", "5MB")
    workspace = datasets.Workspace()
    try:
        with pytest.raises(SqlError, match=r"more memory and spill space.*\(4\.\d MiB/4\.7 MiB used\)"):
            # 1,000,000 md5 strings of 32 characters: about 40 MB to sort, over 30 MB of memory + 5 MB
            run_user_sql(workspace.con, "SELECT md5(i::VARCHAR) AS s FROM range(1000000) t(i) ORDER BY s")
        spilled = sum(os.stat(os.path.join(workspace._spill_dir, f)).st_blocks * 512
                      for f in os.listdir(workspace._spill_dir))
        assert spilled <= 5_000_000
    finally:
        workspace.close()


# ----------------------------------------------------------- result budget and deadline

def test_result_over_the_byte_budget_is_refused(loaded):
    # A 1,000-character text counts 1,000 + 8 (its offset) = 1,008 bytes, so a 50,000-byte budget is
    # passed at row 50 (50 × 1,008 = 50,400); batches of 1, 2, 4, 8, 16, 32 rows end at row 63.
    with pytest.raises(SqlError, match=r"larger than 50,000 bytes.*\(reached by row 63\); add a LIMIT"):
        run_user_sql(loaded.con, "SELECT repeat('x', 1000) AS s FROM range(100)", max_bytes=50_000)


def test_result_within_the_budget_reports_its_size(loaded):
    result = run_user_sql(loaded.con, "SELECT repeat('x', 1000) AS s FROM range(10)", max_bytes=50_000)
    assert len(result.frame) == 10 and result.bytes == 10 * 1_008  # see the test above


def test_an_ordinary_wide_result_fits_the_real_budget(loaded):
    """50,000 rows (the row cap) of 10 whole numbers, 10 short texts, a timestamp and a date count
    50,000 × (10 × 8 + 10 × (10 + 8) + 8 + 8) = 50,000 × 276 = 13.8 MB with 'name 12345' texts;
    they must come back truncated, not refused."""
    columns = ", ".join(f"i * {k} AS n{k}, 'name ' || (10000 + i % 90000) AS s{k}" for k in range(10))
    result = run_user_sql(loaded.con, f"SELECT {columns}, now() AS t, DATE '2025-01-01' AS d "
                                      "FROM range(60000) r(i)")
    assert len(result.frame) == 50_000 and result.truncated
    assert result.bytes == 50_001 * 276  # the row cap + 1 rows are fetched to know more exist


def test_a_few_huge_values_are_refused_after_the_first(loaded):
    """The issue's attack, scaled down: three 60 MB strings against the real 50 MB budget. The first
    fetch holds one row, so Python copies one string (60 MB), not all three (180 MB)."""
    tracemalloc.start()
    try:
        with pytest.raises(SqlError, match=r"larger than 50 MB.*\(reached by row 1\)"):
            run_user_sql(loaded.con, "SELECT repeat('x', 60000000) FROM range(3)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100_000_000


def test_the_deadline_covers_fetching(loaded, monkeypatch):
    """Fetching rows into Python cannot be interrupted by DuckDB, so the deadline is checked between
    batches: a clock that jumps 30 s per reading passes a 20 s limit at the first fetch."""
    ticks = iter(range(0, 10_000, 30))
    monkeypatch.setattr(notebook, "_clock", lambda: next(ticks))
    with pytest.raises(SqlError, match="ran longer than 20 s"):
        run_user_sql(loaded.con, "SELECT * FROM range(10)", timeout_s=20)

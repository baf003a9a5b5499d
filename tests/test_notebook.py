"""The SQL notebook runs read-only SQL only, inside the session's sandbox, and bounds runaway queries."""

import pytest

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
    with pytest.raises(SqlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_user_sql(loaded.con, sql)
    assert loaded.con.execute("SELECT count(*) FROM email_campaigns").fetchone()[0] == 2


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

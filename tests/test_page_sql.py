"""The SQL notebook page runs a query over the sample data and refuses writes, in AppTest."""

from tests.apptest import sample_page


def test_sql_page_runs_query_and_refuses_drop():
    at = sample_page("app_pages/sql.py")
    at.text_area(key="sql_text_0").set_value("SELECT count(*) AS n FROM deals").run()
    at.button(key="sql_run_0").click().run()
    assert not at.exception
    n = at.session_state["workspace"].con.execute("SELECT count(*) FROM deals").fetchone()[0]
    assert at.dataframe[0].value["n"].tolist() == [n]
    at.text_area(key="sql_text_0").set_value("DROP TABLE deals").run()
    at.button(key="sql_run_0").click().run()
    assert "not DROP" in at.error[0].value
    assert at.session_state["workspace"].get("deals") is not None


def _error(at) -> str:
    """The first error as the page shows it (markdown escapes such as read\\-only taken out)."""
    return at.error[0].value.replace("\\", "")


def _run(at, sql, cell=0):
    at.text_area(key=f"sql_text_{cell}").set_value(sql).run()
    at.button(key=f"sql_run_{cell}").click().run()
    assert not at.exception, at.exception


def test_sql_page_refuses_hidden_writes_and_keeps_the_figures():
    at = sample_page("app_pages/sql.py")
    con = at.session_state["workspace"].con
    rows = con.execute("SELECT * FROM email_campaigns ORDER BY _row").fetchall()
    _run(at, "WITH d AS (DELETE FROM email_campaigns RETURNING *) SELECT count(*) FROM d")
    assert "notebook is read-only" in _error(at)
    _run(at, "EXPLAIN ANALYZE CREATE MACRO round(x, d := 0) AS 0")
    assert "EXPLAIN ANALYZE runs the statement" in _error(at)
    assert con.execute("SELECT * FROM email_campaigns ORDER BY _row").fetchall() == rows
    assert con.execute("SELECT round(2.5)").fetchone()[0] == 3
    assert "sql_result_0" not in at.session_state


def test_sql_page_refuses_an_oversized_result_and_keeps_nothing():
    at = sample_page("app_pages/sql.py")
    _run(at, "SELECT 1 AS small")
    assert "sql_result_0" in at.session_state
    _run(at, "SELECT repeat('x', 60000000) AS s FROM range(3)")  # 3 × 60 MB against the 50 MB budget
    assert "larger than 50 MB" in _error(at) and "add a LIMIT" in _error(at)
    assert "sql_result_0" not in at.session_state  # neither the refused result nor the one before
    assert not at.dataframe


def test_sql_page_keeps_one_budget_of_results_across_cells(monkeypatch):
    """Each cell may hold up to the budget, but not all of them at once: running a cell clears other
    cells' results that no longer fit, and says so."""
    import lib.notebook

    monkeypatch.setattr(lib.notebook, "DEFAULT_MAX_BYTES", 30_000)
    at = sample_page("app_pages/sql.py")
    _run(at, "SELECT repeat('x', 1000) AS s FROM range(20)")  # 20 × (1,000 + 8) = 20,160 bytes
    at.button(key="sql_add").click().run()
    _run(at, "SELECT repeat('y', 1000) AS s FROM range(20)", cell=1)  # 20,160 + 20,160 > 30,000
    assert "sql_result_0" not in at.session_state and "sql_result_1" in at.session_state
    at.run()
    assert any("cleared to make room" in c.value for c in at.caption)

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

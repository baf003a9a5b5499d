"""Issue #17, through the page: a curious user types a write hidden in a CTE and a `round` macro made
through EXPLAIN ANALYZE into the SQL notebook on the sample data. Both get a plain refusal, `round`
still rounds, and the Email page shows the same figures as before."""

import pytest

from tests.browser.conftest import open_page, page_url, wait_idle

pytestmark = pytest.mark.browser


def _goto(page, title: str, path: str) -> None:
    """The sidebar link keeps this session (and its data); a new URL would start an empty one."""
    page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
    page.wait_for_url(page_url(path))
    wait_idle(page)


def _tiles(page) -> dict[str, str]:
    """Every metric tile on the page, label → displayed value."""
    page.locator("[data-testid='stMetric']").first.wait_for()
    tiles = {}
    for tile in page.locator("[data-testid='stMetric']").all():
        label = tile.locator("[data-testid='stMetricLabel']").inner_text().strip()
        tiles[label] = tile.locator("[data-testid='stMetricValue']").inner_text().strip()
    return tiles


def _run_cell(page, sql: str) -> None:
    box = page.locator("[data-testid='stTextArea'] textarea").first
    box.fill(sql)
    box.press("Control+Enter")  # commits the text to the app before Run is pressed
    wait_idle(page)
    page.get_by_role("button", name="Run").first.click()
    wait_idle(page)


def _error(page) -> str:
    alert = page.locator("[data-testid='stAlertContentError']").first
    alert.wait_for()
    return alert.inner_text()


def test_notebook_attacks_are_refused_and_figures_stay(page, app_url):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    page.get_by_text("Sample data loaded").first.wait_for()
    wait_idle(page)
    _goto(page, "Email", "email")
    before = _tiles(page)
    assert len(before) >= 4, before

    _goto(page, "SQL notebook", "sql")
    _run_cell(page, "WITH d AS (DELETE FROM email_campaigns RETURNING *) SELECT count(*) AS n FROM d")
    assert "The notebook is read-only" in _error(page)
    _run_cell(page, "EXPLAIN ANALYZE CREATE MACRO round(x, d := 0) AS 42")
    assert "EXPLAIN ANALYZE runs the statement it explains" in _error(page)
    assert page.locator("[data-testid='stException']").count() == 0

    # round still rounds (DuckDB rounds half away from zero: 2.5 → 3), and no row went missing
    _run_cell(page, "SELECT round(2.5) AS r, (SELECT count(*) FROM email_campaigns) AS n")
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.locator("[role='gridcell']").first.wait_for(state="attached")
    cells = grid.locator("[role='gridcell']").all_inner_texts()
    assert cells[0].strip() == "3", cells
    assert int(cells[1].replace(",", "")) > 0, cells

    _goto(page, "Email", "email")
    assert _tiles(page) == before

"""Workspaces in the browser: the sample survives a reload (the id rides in the URL), and a saved
.boundary file opens in a fresh browser with the same figures."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import open_page, upload, wait_idle

pytestmark = pytest.mark.browser


def workspace_id(page) -> str:
    page.wait_for_function("() => new URLSearchParams(location.search).get('w')")
    return parse_qs(urlparse(page.url).query)["w"][0]


def figures(page) -> list[str]:
    """Every tile (label and value) as the reader sees it."""
    page.locator("[data-testid='stMetric']").first.wait_for()  # a loaded machine renders late
    wait_idle(page)
    return page.locator("[data-testid='stMetric']").all_inner_texts()


# every page with tiles; the report's tiles are the flag counts
PAGES = ("NPS", "Email", "NCVG", "In-app", "Voice of customer", "Funnel", "Cohorts", "Boundary report")


def go(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    wait_idle(page)


def test_reload_keeps_the_sample_and_its_figures(page, app_url):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page)
    wid = workspace_id(page)
    seen = {}
    for title in PAGES:
        go(page, title)
        assert workspace_id(page) == wid  # put back in the URL after the page switch
        seen[title] = figures(page)
    for title in PAGES:
        go(page, title)
        assert workspace_id(page) == wid  # the address a reload (or a bookmark) uses
        page.reload()
        wait_idle(page)
        assert page.get_by_text("Nothing loaded here yet").count() == 0
        assert figures(page) == seen[title], title
        assert workspace_id(page) == wid


def test_saved_file_opens_in_a_fresh_browser(page, browser, app_url, tmp_path):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page)
    before = {}
    for title in PAGES:
        go(page, title)
        before[title] = figures(page)
    go(page, "Home")
    with page.expect_download() as download:
        page.get_by_role("button", name="Save workspace").click()
    path = tmp_path / "client.boundary"
    download.value.save_as(path)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = context.new_page()
    other.set_default_timeout(30_000)
    open_page(other, app_url)
    upload(other, path)
    other.get_by_text("Opened client.boundary").wait_for()
    wait_idle(other)
    assert workspace_id(other) != workspace_id(page)  # a copy of its own, saved under a new id
    for title in PAGES:
        go(other, title)
        assert figures(other) == before[title], title
    context.close()
    # opened in a tab that has a saved workspace: a workspace of its own, the tab's earlier one kept
    go(page, "Home")
    mine = workspace_id(page)
    upload(page, path)
    page.get_by_text("Opened client.boundary").wait_for()
    assert workspace_id(page) != mine
    open_page(page, app_url, f"nps?w={mine}")
    assert figures(page) == before["NPS"]


def test_a_server_restart_keeps_the_workspace(browser):
    from tests.browser.conftest import running_app

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    with running_app() as url:  # saves to the tests' BOUNDARY_DATA_DIR (tests/conftest.py)
        open_page(page, url)
        page.get_by_role("button", name="Load sample data").click()
        wait_idle(page)
        go(page, "NPS")
        wid = workspace_id(page)
        before = figures(page)
    with running_app() as url:  # a new server process: nothing of the old one in memory
        open_page(page, url, f"nps?w={wid}")
        assert figures(page) == before
    context.close()


def _set_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def _choose(page, label: str, option: str) -> None:
    """Pick an option of the selectbox with this label."""
    page.get_by_label(label, exact=True).first.click()
    page.keyboard.type(option)  # the list filters to it (long lists render only what is in view)
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def _editor(page, column: str):
    """The data editor with this column header."""
    editor = page.locator("[data-testid='stDataFrame']").filter(has=page.locator(f"text={column}")).first
    editor.scroll_into_view_if_needed()
    editor.hover()
    return editor


def _type_a_row(page, column: str, text: str) -> None:
    """Add a row to the data editor with this column and type `text` into its first cell."""
    wait_idle(page)
    editor = _editor(page, column)
    editor.get_by_role("button", name="Add row").first.click()
    page.wait_for_timeout(500)
    box = editor.bounding_box()
    page.mouse.dblclick(box["x"] + 120, box["y"] + box["height"] - 20)  # the new row, at the bottom
    cell = page.locator("textarea.gdg-input").first  # the grid's editor for that cell
    cell.fill(text)
    cell.press("Enter")
    page.wait_for_timeout(1000)  # the edit reaches the server a moment later
    wait_idle(page)


def _cells_with(page, column: str, text: str) -> list[str]:
    editor = _editor(page, column)
    page.mouse.wheel(0, 5000)  # the grid lists only the rows in view: scroll to the end
    page.wait_for_timeout(500)
    return [c.inner_text() for c in editor.locator("[role='gridcell']").all() if text in c.inner_text()]


def test_typed_work_survives_a_reload_and_a_restart(browser):
    """The issue's list: the sample, a column fix, a threshold, a page choice, a typed table row, a
    notebook cell — after a reload and after a server restart, the same tiles and choices on every page."""
    from tests.browser.conftest import running_app

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    seen = {}
    with running_app() as url:
        open_page(page, url)
        page.get_by_role("button", name="Load sample data").click()
        wait_idle(page)
        wid = workspace_id(page)
        go(page, "NPS")
        page.get_by_text("Columns", exact=True).first.click()  # a column fix: the comment left out
        _choose(page, "Comment", "— not in file —")
        _choose(page, "Period", "quarter")  # a page choice
        seen["NPS"] = figures(page)
        go(page, "Email")
        page.get_by_text("Thresholds", exact=False).first.click()
        label = page.locator("[data-testid='stNumberInput'] label").first.inner_text()
        _set_number(page, label, "0.1")  # a threshold
        seen["Email"] = figures(page)
        go(page, "NCVG")
        _type_a_row(page, "Incident date", "cus_typed_by_hand")  # a typed incident (same as a calendar row)
        assert _cells_with(page, "Incident date", "cus_typed_by_hand") == ["cus_typed_by_hand"]
        go(page, "SQL notebook")
        cell = page.locator("[data-testid='stTextArea'] textarea").first
        cell.fill("SELECT count(*) AS answers FROM nps_responses")
        cell.press("Control+Enter")
        wait_idle(page)
        page.get_by_role("button", name="Add cell").click()
        wait_idle(page)
        page.locator("[data-testid='stTextArea'] textarea").nth(1).wait_for()

        page.reload()
        wait_idle(page)
        assert workspace_id(page) == wid
        assert [c.input_value() for c in page.locator("[data-testid='stTextArea'] textarea").all()] == [
            "SELECT count(*) AS answers FROM nps_responses", "SELECT "]
        for title in ("NPS", "Email"):
            go(page, title)
            assert figures(page) == seen[title], title
        go(page, "NCVG")
        assert _cells_with(page, "Incident date", "cus_typed_by_hand") == ["cus_typed_by_hand"]
    with running_app() as url:  # a new server process
        open_page(page, url, f"nps?w={wid}")
        assert figures(page) == seen["NPS"]
        assert page.get_by_label("Period", exact=True).first.input_value() == "quarter"
        go(page, "Email")
        assert figures(page) == seen["Email"]
        go(page, "NCVG")
        assert _cells_with(page, "Incident date", "cus_typed_by_hand") == ["cus_typed_by_hand"]
    context.close()

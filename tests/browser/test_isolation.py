"""Two people on one server at once: each browser context is its own Streamlit session with its own
Workspace (DuckDB), so neither sees the other's tables, flags, column-map fixes, SQL-notebook tables
or downloads.

A uploads the real Mailchimp export (62 campaigns, "Greenbiz …"); B, at the same time and on the same
page, the sample campaign report (246 campaigns, "… Newsletter (Oct 15 2024)"). Both files load into
a table with the same name (`email_campaigns`), so any sharing would show.
"""

from __future__ import annotations

import csv
import io

import pytest

from tests.browser.conftest import ROOT, open_page, page_url, wait_idle
from tests.conftest import real_file

pytestmark = pytest.mark.browser

A_FILE = real_file("mailchimp_campaigns_mydomino.csv")
B_FILE = ROOT / "sample_data" / "email_campaigns.csv"
B_ROWS = sum(1 for _ in B_FILE.open(encoding="utf-8")) - 1  # one send a line, after the header
A_MARK, B_MARK = "Greenbiz", "Newsletter (Oct 15 2024)"  # a campaign name found only in each file
NOT_IN_FILE = "— not in file —"


@pytest.fixture
def two(browser, app_url):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
                for _ in range(2)]
    pages = [c.new_page() for c in contexts]
    for p in pages:
        p.set_default_timeout(45_000)
    yield pages[0], pages[1], app_url
    for c in contexts:
        c.close()


def _main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def _goto(pages, title: str, path: str) -> None:
    """Navigate with the sidebar link (a full page load would start a new session); several pages
    are sent on their way before any is waited for, so the two sessions run at the same time."""
    pages = pages if isinstance(pages, tuple) else (pages,)
    for page in pages:
        page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
    for page in pages:
        page.wait_for_url(page_url(path))
        wait_idle(page)


def _download(page, button) -> str:
    with page.expect_download() as info:
        button.click()
    with open(info.value.path(), encoding="utf-8") as fh:
        return fh.read()


def _subject_mapping(page) -> str:
    """The file column the Columns panel shows for "Subject line"."""
    box = page.locator("[data-testid='stSelectbox']").filter(
        has=page.locator("label", has_text="Subject line")).first
    if not box.is_visible():
        page.locator("[data-testid='stExpander'] summary", has_text="Columns").first.click()
    box.wait_for()
    return box.locator("input[role='combobox']").input_value()


def _has_year(text: str, *years: int) -> bool:
    return any(f"{y}-" in text for y in years)


def test_two_sessions_at_once_see_only_their_own_data(two):
    a, b, app_url = two
    for page in (a, b):
        open_page(page, app_url)
    _goto((a, b), "Email", "email")
    # both uploads are in flight before either is waited for
    for page, path in ((a, A_FILE), (b, B_FILE)):
        page.locator("[data-testid='stFileUploader'] input[type='file']").first.set_input_files(str(path))
    for page in (a, b):
        page.wait_for_timeout(500)
        wait_idle(page)
        page.locator("[data-testid='stMetric']").first.wait_for()

    # tables: each page shows its own file and its own row count
    text_a, text_b = _main_text(a), _main_text(b)
    assert A_FILE.name in text_a and B_FILE.name not in text_a
    assert B_FILE.name in text_b and A_FILE.name not in text_b
    assert "62 rows" in text_a and f"{B_ROWS:,} rows" in text_b

    # mapping fixes: A takes "Subject line" out of its map (B is checked once it has run again)
    assert _subject_mapping(a) == _subject_mapping(b) == "Subject"
    a.locator("[data-testid='stSelectbox']").filter(
        has=a.locator("label", has_text="Subject line")).first.locator("input[role='combobox']").click()
    a.get_by_role("option", name=NOT_IN_FILE).click()
    wait_idle(a)
    assert _subject_mapping(a) == NOT_IN_FILE

    # flags: each report's flag list (downloaded) is about its own periods only —
    # A's campaigns were all sent in 2017, B's in 2024–2026
    _goto((a, b), "Boundary report", "report")
    flags_a = _download(a, a.get_by_role("button", name="Download CSV").first)
    flags_b = _download(b, b.get_by_role("button", name="Download CSV").first)
    assert _has_year(flags_a, 2017) and not _has_year(flags_a, 2024, 2025, 2026)
    assert _has_year(flags_b, 2024, 2025, 2026) and not _has_year(flags_b, 2017)
    assert B_FILE.name not in _main_text(a) and A_FILE.name not in _main_text(b)

    # SQL notebook: the same table name, each session's own rows; the result download too
    _goto((a, b), "SQL notebook", "sql")
    tables_a, tables_b = _main_text(a), _main_text(b)
    assert "mailchimp_campaigns_mydomino.csv, 62 rows" in tables_a and B_FILE.name not in tables_a
    assert f"email_campaigns.csv, {B_ROWS:,} rows" in tables_b and A_FILE.name not in tables_b
    for page in (a, b):
        page.get_by_role("button", name="Run").first.click()
    for page in (a, b):
        wait_idle(page)
        page.locator("[data-testid='stDataFrame']").first.wait_for()
    query_a = _download(a, a.get_by_role("button", name="Download CSV").first)
    query_b = _download(b, b.get_by_role("button", name="Download CSV").first)
    assert len(list(csv.DictReader(io.StringIO(query_a)))) == 62
    assert len(list(csv.DictReader(io.StringIO(query_b)))) == 100  # the default cell has LIMIT 100
    assert A_MARK in query_a and B_MARK not in query_a
    assert B_MARK in query_b and A_MARK not in query_b

    # downloads above, and B's column map is still its own after A's fix
    _goto(b, "Email", "email")
    assert _subject_mapping(b) == "Subject"
    for page in (a, b):
        assert page.locator("[data-testid='stException']").count() == 0

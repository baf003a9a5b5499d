"""A user uploads real exports in the browser and sees them recognised without a mapping step."""

import pytest

from tests.browser.conftest import open_page, upload, wait_idle
from tests.conftest import real_file

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path,file_name,kind_label", [
    ("email", "mailchimp_campaigns_mydomino.csv", "Email campaigns"),
    ("nps", "preppin_2021w23_nps_prep_air.csv", "NPS survey responses"),
    ("ncvg", "ravenstack_subscriptions.csv", "Subscriptions"),
    ("funnel", "olist_marketing_qualified_leads_dataset.csv", "Leads"),
])
def test_real_export_is_recognised(page, app_url, path, file_name, kind_label):
    open_page(page, app_url, path)
    upload(page, real_file(file_name))
    caption = page.get_by_text(file_name).first
    caption.wait_for()
    text = page.locator("[data-testid='stCaptionContainer']").filter(has_text=file_name).first.inner_text()
    assert kind_label in text
    assert page.locator("[data-testid='stException']").count() == 0


def test_home_sample_data_then_page(page, app_url):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page)
    page.get_by_text("Sample data loaded").wait_for()
    page.get_by_role("link", name="Email").first.click()
    wait_idle(page)
    assert page.locator("[data-testid='stException']").count() == 0
    assert "email_campaigns.csv" in page.content()


def test_first_visit_of_a_fresh_server_to_a_page_url_runs_the_app_frame(browser):
    """Regression: with a `pages/` folder, Streamlit's legacy discovery ran the page without app.py
    (no sign-in gate, raw file names in the sidebar) for the first visitor of a fresh server."""
    from tests.browser.conftest import running_app

    with running_app() as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        try:
            open_page(page, url, "in_app")
            assert page.locator("[data-testid='stMain'] h1").first.inner_text() == "In-app engagement"
            sidebar = page.locator("[data-testid='stSidebar']").inner_text()
            assert "Boundary report" in sidebar and "SQL notebook" in sidebar
            assert "in app" not in sidebar.lower().replace("in-app", "")
        finally:
            context.close()

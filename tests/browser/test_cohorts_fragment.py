"""The Cohorts page's group comparison runs in st.fragment (its widgets rerun that section alone): a
choice made there is still kept with the workspace, though the fragment's rerun never reaches the save
app.py makes after a full run (ui.workspaces.fragment saves at the fragment's end)."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import choose_option, open_page, selectbox_value, wait_idle

pytestmark = pytest.mark.browser


def test_a_group_choice_in_the_fragment_survives_a_reload(page, app_url):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Cohorts").first.click()
    wait_idle(page)
    page.locator(".st-key-coh_group").wait_for()
    before = selectbox_value(page, "coh_group")
    other = "Attended onboarding webinar" if before.startswith("Plan") else "Plan"
    choose_option(page, "coh_group", other)  # reruns the fragment alone: no full run saves after it
    assert selectbox_value(page, "coh_group").startswith(other)
    page.wait_for_function("() => new URLSearchParams(location.search).get('w')")
    wid = parse_qs(urlparse(page.url).query)["w"][0]
    # a reload is a new session: what it shows comes from the workspace saved on the server
    page.reload()
    wait_idle(page)
    assert parse_qs(urlparse(page.url).query)["w"][0] == wid
    page.locator(".st-key-coh_group").wait_for()
    assert selectbox_value(page, "coh_group").startswith(other)

"""The email page's section widgets run in st.fragment (a click reruns that section alone): a choice
made there is still kept with the workspace, though the fragment's rerun never reaches the save that
app.py makes after a full run (ui.workspaces.fragment saves at the fragment's end)."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import choose_option, open_page, selectbox_value, wait_idle

pytestmark = pytest.mark.browser


def test_a_choice_in_a_fragment_survives_a_reload(page, app_url):
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page)
    page.locator("[data-testid='stSidebarNav'] a", has_text="Email").first.click()
    wait_idle(page)
    assert selectbox_value(page, "email_time_rate") == "Open rate"
    assert selectbox_value(page, "email_ab_rate") == "Open rate"
    # each change reruns its fragment alone, so no full run saves the workspace after it
    choose_option(page, "email_time_rate", "Click rate")
    choose_option(page, "email_ab_rate", "Unsubscribe rate")
    assert selectbox_value(page, "email_time_rate") == "Click rate"
    page.wait_for_function("() => new URLSearchParams(location.search).get('w')")
    wid = parse_qs(urlparse(page.url).query)["w"][0]
    # a reload is a new session: what it shows comes from the workspace saved on the server
    page.reload()
    wait_idle(page)
    assert parse_qs(urlparse(page.url).query)["w"][0] == wid
    page.locator(".st-key-email_time_rate").wait_for()
    assert selectbox_value(page, "email_time_rate") == "Click rate"
    assert selectbox_value(page, "email_ab_rate") == "Unsubscribe rate"

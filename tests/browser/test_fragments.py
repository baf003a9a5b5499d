"""Sections that run in st.fragment (their widgets rerun that section alone: email's send-time and A/B
sections, cohorts' group comparison, funnel's breakdown by source or campaign): a choice made there is
still kept with the workspace, though the fragment's rerun never reaches the save app.py makes after a
full run (ui.workspaces.fragment saves at the fragment's end)."""

from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import choose_option, open_page, selectbox_value, wait_idle

pytestmark = pytest.mark.browser


def _sample_page(page, app_url: str, title: str) -> None:
    open_page(page, app_url)
    page.get_by_role("button", name="Load sample data").click()
    wait_idle(page)
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    wait_idle(page)


def _reload(page, key: str) -> None:
    """Reload once the workspace is saved: a new session, showing what was saved on the server."""
    page.wait_for_function("() => new URLSearchParams(location.search).get('w')")
    wid = parse_qs(urlparse(page.url).query)["w"][0]
    page.reload()
    wait_idle(page)
    assert parse_qs(urlparse(page.url).query)["w"][0] == wid
    page.locator(f".st-key-{key}").wait_for()


def test_email_choices_in_fragments_survive_a_reload(page, app_url):
    _sample_page(page, app_url, "Email")
    assert selectbox_value(page, "email_time_rate") == "Open rate"
    assert selectbox_value(page, "email_ab_rate") == "Open rate"
    # each change reruns its fragment alone, so no full run saves the workspace after it
    choose_option(page, "email_time_rate", "Click rate")
    choose_option(page, "email_ab_rate", "Unsubscribe rate")
    assert selectbox_value(page, "email_time_rate") == "Click rate"
    _reload(page, "email_time_rate")
    assert selectbox_value(page, "email_time_rate") == "Click rate"
    assert selectbox_value(page, "email_ab_rate") == "Unsubscribe rate"


def test_a_cohorts_group_choice_in_the_fragment_survives_a_reload(page, app_url):
    _sample_page(page, app_url, "Cohorts")
    page.locator(".st-key-coh_group").wait_for()
    before = selectbox_value(page, "coh_group")
    other = "Attended onboarding webinar" if before.startswith("Plan") else "Plan"
    choose_option(page, "coh_group", other)  # reruns the fragment alone: no full run saves after it
    assert selectbox_value(page, "coh_group").startswith(other)
    _reload(page, "coh_group")
    assert selectbox_value(page, "coh_group").startswith(other)


def test_a_funnel_breakdown_choice_in_the_fragment_survives_a_reload(page, app_url):
    _sample_page(page, app_url, "Funnel")
    page.locator(".st-key-funnel_by").wait_for()
    before = selectbox_value(page, "funnel_by")
    other = "Campaign" if before.startswith("Original Source") else "Original Source"
    choose_option(page, "funnel_by", other)  # reruns the fragment alone: no full run saves after it
    assert selectbox_value(page, "funnel_by").startswith(other)
    _reload(page, "funnel_by")
    assert selectbox_value(page, "funnel_by").startswith(other)

"""A marketing manager uploads a Mailchimp campaign export on /email and reads the headline tiles."""

import pytest

from tests.browser.conftest import metric_value, open_page, upload
from tests.conftest import real_file

pytestmark = pytest.mark.browser


def test_mailchimp_export_tiles(page, app_url):
    open_page(page, app_url, "email")
    upload(page, real_file("mailchimp_campaigns_mydomino.csv"))
    page.locator("[data-testid='stMetric']").first.wait_for()
    # Pooled over all 62 sends (worked out from the file's counts with DuckDB, see
    # tests/test_metrics_email.py::test_real_mailchimp_pooled_rates):
    # delivered 16,193 of 16,961 sent → 95.5%; opens 2,933 / 16,193 → 18.1%; clicks 169 / 2,933 → 5.8%;
    # unsubscribes 240 / 16,193 → 1.48%; complaints 0 → 0.00%.
    assert metric_value(page, "Delivery rate") == "95.5%"
    assert metric_value(page, "Open rate") == "18.1%"
    assert metric_value(page, "Click-to-open rate") == "5.8%"
    assert metric_value(page, "Unsubscribe rate") == "1.48%"
    assert metric_value(page, "Spam complaint rate") == "0.00%"
    assert page.locator("[data-testid='stException']").count() == 0
    # Mailchimp's own Open_Rate / Click_Rate columns agree with the counts in this file.
    page.get_by_text("0 differ by more than rounding").first.wait_for(timeout=30_000)
    # The tests explain themselves: false-discovery control, the correlation on changes beside levels,
    # trend slopes with their interval (the file has 8 weeks: enough for a slope, not for a topic split).
    page.get_by_text("adjusted by Benjamini–Hochberg over the weeks tested").first.wait_for(timeout=30_000)
    page.get_by_text("on the change from one week to the next").first.wait_for(timeout=30_000)
    page.get_by_text("pp per week (95% CI").first.wait_for(timeout=30_000)

"""A user uploads an Online Retail-shaped order-line file on /cohorts and reads the tiles."""

import pytest

from tests.browser.conftest import metric_value, open_page, upload
from tests.test_metrics_cohorts import online_retail_csv

pytestmark = pytest.mark.browser


def test_upload_order_lines_shows_cohort_tiles(page, app_url, tmp_path):
    path = tmp_path / "Online Retail.csv"
    path.write_bytes(online_retail_csv())  # blank CustomerIDs, C-invoices, dd/mm/yyyy hh:mm dates
    open_page(page, app_url, "cohorts")
    upload(page, path)
    page.get_by_text("Retention matrix").first.wait_for()
    # 3 customers in 2 monthly cohorts; month 1: 17850 of the Jan cohort {17850, 13047} came back
    # in Feb = 1/2; Feb's month 1 (March) is incomplete, so it is left out of the tile
    assert metric_value(page, "Users") == "3"
    assert metric_value(page, "Cohorts") == "2"
    assert metric_value(page, "Month 1 retention") == "50.0%"
    assert metric_value(page, "Month 3 retention") == "—"
    assert page.get_by_text("2 rows have no user id").count() == 1
    assert page.locator("[data-testid='stException']").count() == 0

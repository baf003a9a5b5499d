"""Browser test of the Funnel page: upload a HubSpot-shaped contacts export and read the tiles."""

import pandas as pd
import pytest

from tests.browser.conftest import metric_value, open_page, upload

pytestmark = pytest.mark.browser


def hubspot_contacts(path):
    """Eight contacts as HubSpot exports them (Record ID, Create Date, Became a … Date columns).

    Expected with the default 90-day window and the full date range:
    Leads 8 (every contact has a date); MQLs 5 (1, 2, 3, 4 by MQL date; 5 skipped MQL but has an SQL
    date, so counts); SQLs 4 (2, 3, 4, 5); Opportunities 2 (3, 4); Customers 1 (4; contact 6's
    customer date is 200 days after creation, outside the window); Lead → Customer 1/8 = 12.5%.
    """
    d = pd.Timestamp
    rows = [
        # id, created, mql, sql, opportunity, customer
        (1, d("2026-01-05"), d("2026-01-10"), None, None, None),
        (2, d("2026-01-06"), d("2026-01-08"), d("2026-01-20"), None, None),
        (3, d("2026-01-07"), d("2026-01-09"), d("2026-01-15"), d("2026-02-01"), None),
        (4, d("2026-02-01"), d("2026-02-03"), d("2026-02-10"), d("2026-02-20"), d("2026-03-01")),
        (5, d("2026-02-02"), None, d("2026-02-12"), None, None),
        (6, d("2026-02-03"), None, None, None, d("2026-08-22")),
        (7, d("2026-02-04"), None, None, None, None),
        (8, d("2026-02-05"), None, None, None, None),
    ]
    frame = pd.DataFrame(rows, columns=["Record ID", "Create Date", "Became a Marketing Qualified Lead Date",
                                        "Became a Sales Qualified Lead Date", "Became an Opportunity Date",
                                        "Became a Customer Date"])
    frame["Original Source"] = ["Paid Search", "Organic Search"] * 4
    frame["Campaign"] = ["Spring giveaway"] * 4 + ["Webinar"] * 4
    frame["Lead Status"] = ["Unqualified", "", "", "", "", "", "Unqualified", "New"]
    frame["Email opens"] = [3, 5, 8, 12, 0, 1, 0, 2]
    frame["Demo requested"] = ["No", "Yes", "Yes", "Yes", "No", "No", "No", "No"]
    frame.to_excel(path, index=False, sheet_name="Contacts")
    return path


def test_funnel_tiles_from_hubspot_export(page, app_url, tmp_path):
    open_page(page, app_url, "funnel")
    upload(page, hubspot_contacts(tmp_path / "hubspot-crm-exports-all-contacts.xlsx"))
    page.wait_for_selector("[data-testid='stMetric']")
    assert metric_value(page, "Leads") == "8"
    assert metric_value(page, "MQLs") == "5"
    assert metric_value(page, "SQLs") == "4"
    assert metric_value(page, "Opportunities") == "2"
    assert metric_value(page, "Customers") == "1"
    assert metric_value(page, "Lead → Customer") == "12.5%"
    assert page.get_by_text("Where do leads stall?").count() == 1

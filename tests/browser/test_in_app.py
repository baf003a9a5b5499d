"""A user uploads a Pendo-shaped in-app event log and reads the headline tiles in the browser."""

import pytest

from tests.browser.conftest import metric_value, open_page, upload
from tests.test_metrics_in_app import BRAZE_ROWS

pytestmark = pytest.mark.browser

PENDO_NAMES = {"impression": "guideSeen", "click": "guideActivity", "close": "guideDismissed", "mute": "guideSnoozed"}


def pendo_file(path):
    """The hand-worked Braze log of test_metrics_in_app with Pendo's headers and event names;
    dwell in ms without a unit in the header (median 700 > 120 → read as ms)."""
    lines = ["Visitor ID,Browser Time,Guide Name,Event Name,Message Type,Time on Screen"]
    for row in BRAZE_ROWS:
        cells = row.split(",")
        cells[3] = PENDO_NAMES[cells[3]]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_upload_pendo_events_shows_hand_worked_tiles(page, app_url, tmp_path):
    open_page(page, app_url, "in_app")
    upload(page, pendo_file(tmp_path / "pendo_guide_events.csv"))
    page.locator("[data-testid='stMetric']").first.wait_for()
    assert page.locator("[data-testid='stException']").count() == 0
    # March 2026 (hand-worked in tests/test_metrics_in_app.py): 1 of 5 impressions clicked, 1 dismissed,
    # 1 muted; 3 of 4 dwell times under 1 s; median of 0.2, 0.4, 0.6, 5.0 s = 0.5 s; 4 of 5 marketing.
    assert metric_value(page, "Engagement rate") == "20.0%"
    assert metric_value(page, "Dismiss rate") == "20.0%"
    assert metric_value(page, "Mute rate") == "20.0%"
    assert metric_value(page, "Dwell under 1s") == "75.0%"
    assert metric_value(page, "Median dwell") == "0.5 s"
    assert metric_value(page, "Marketing share") == "80.0%"
    assert "milliseconds (median value" in page.inner_text("body")

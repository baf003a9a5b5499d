"""A user uploads a Delighted-shaped .xlsx on the NPS page and reads the tiles in the browser."""

from datetime import datetime, timedelta

import pytest
from openpyxl import Workbook

from tests.browser.conftest import metric_value, open_page, upload

pytestmark = pytest.mark.browser


def delighted_export(path):
    """Delighted's 'Download responses' layout: Response ID, Email, Name, Score, Comment, Created, Plan.

    Valid scores: 12 tens + 8 nines = 20 promoters, 5 eights + 5 sevens = 10 passives, 8 detractors
    (0–6); invalid: one blank, 'ten', 6.5 and 11 — left out and counted.
    """
    scores = [10] * 12 + [9] * 8 + [8] * 5 + [7] * 5 + [6, 5, 4, 3, 2, 1, 0, 6] + [None, "ten", 6.5, 11]
    wb = Workbook()
    ws = wb.active
    ws.title = "Responses"
    ws.append(["Response ID", "Email", "Name", "Score", "Comment", "Created", "Plan"])
    start = datetime(2026, 3, 2, 9, 30)
    for i, score in enumerate(scores):
        when = (start + timedelta(days=i)).strftime("%Y-%m-%d %H:%M:%S -0800")
        comment = "Too many emails" if isinstance(score, int) and score <= 6 else "Great reports"
        ws.append([41200000 + i, f"user{i}@example.com", f"User {i}", score, comment, when,
                   "Pro" if i % 2 else "Starter"])
    wb.save(path)


def test_upload_delighted_xlsx_and_read_tiles(page, app_url, tmp_path):
    path = tmp_path / "delighted_responses.xlsx"
    delighted_export(path)
    open_page(page, app_url, "nps")
    upload(page, path)
    page.get_by_text("delighted_responses.xlsx").first.wait_for()
    assert page.locator("[data-testid='stException']").count() == 0
    # n = 38 valid; NPS = 100·(20 − 8)/38 = 31.58; var = 28/38 − (12/38)² = 0.736842 − 0.099723 = 0.637119
    # MoE = 195.9964·√(0.637119/38) = 195.9964·0.129485 = 25.38
    assert metric_value(page, "NPS") == "31.6"
    assert metric_value(page, "Responses") == "38"
    assert metric_value(page, "Promoters") == "52.6%"  # 20/38
    assert metric_value(page, "Passives") == "26.3%"  # 10/38
    assert metric_value(page, "Detractors") == "21.1%"  # 8/38
    assert metric_value(page, "Margin of error") == "±25.4"
    left_out = page.get_by_text("row(s) left out:").first.inner_text()
    assert "1 score blank" in left_out and "2 score not a whole number" in left_out \
        and "1 score outside 0–10" in left_out

"""A user uploads community posts on the Voice-of-customer page and reads the tiles."""

import pytest

from tests.browser.conftest import metric_value, open_page, upload

pytestmark = pytest.mark.browser

# Jan 2025: 1 negative of 4; Feb 2025: 2 negative of 4 (one a complaint about marketing);
# one text on 1 Mar makes March the incomplete month, so the tiles read February.
POSTS = """Posted At,User,Email,Channel,Body,Stars
2025-01-03,ann,ann@example.com,forum,"I love this product, great work!",5
2025-01-09,bob,,forum,This is terrible and broken.,1
2025-01-15,cy,,review,How do I export a report?,3
2025-01-20,dee,,review,"Thanks, support was amazing",5
2025-02-02,ann,ann@example.com,forum,Your newsletter is spam,1
2025-02-05,eve,,forum,The app crashes every day. Awful.,
2025-02-10,fay,,forum,How do I export a report?,
2025-02-20,gus,,forum,,
2025-02-21,hal,,forum,"I love this product, great work!",5
2025-03-01,ivy,,forum,How do I export a report?,
"""


def test_upload_posts_and_read_tiles(page, app_url, tmp_path):
    path = tmp_path / "community_export.csv"
    path.write_text(POSTS)
    open_page(page, app_url, "voice")
    upload(page, path)
    page.get_by_text("community_export.csv").first.wait_for()
    assert page.locator("[data-testid='stException']").count() == 0
    assert metric_value(page, "Texts") == "9"  # 10 rows, one blank text
    assert metric_value(page, "Share negative") == "50.0%"  # Feb: 2 of 4
    assert metric_value(page, "Complaints about marketing") == "1"
    assert "1 row(s) left out: 1 with a blank text." in page.content()

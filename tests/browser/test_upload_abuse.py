"""The upload endpoint cannot be used to fill the server's memory (ui.sessions).

Streamlit's `PUT /_stcore/upload_file/<session>/<file>` stores a file for any connected session that
sends the XSRF cookie back as a header — no uploader widget needed. These tests do what a hostile
page script could: take the tab's session id from the websocket's first message and PUT bytes
directly, then read the server's own count of held upload bytes (`/_stcore/metrics`).
Signed-out sessions are in test_auth.py; here sign-in is off and one session is capped at 1 MB.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.browser.conftest import open_page, page_url, running_app, wait_idle

pytestmark = pytest.mark.browser

_HELD = re.compile(r'cache_memory_bytes\{cache_type="UploadedFileManager",cache=""\} (\d+)')


def watch_session_id(page) -> list[str]:
    """Call before opening the app: fills with the session id from the server's NewSession message."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ids: list[str] = []

    def on_frame(frame) -> None:
        if isinstance(frame, bytes):
            msg = ForwardMsg.FromString(frame)
            if msg.WhichOneof("type") == "new_session":
                ids.append(msg.new_session.initialize.session_id)

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    return ids


def put_file(page, url: str, session_id: str, file_id: str, size: int):
    """The request the uploader widget makes, with the tab's own XSRF cookie as the header."""
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_streamlit_xsrf")
    return page.request.put(f"{url}/_stcore/upload_file/{session_id}/{file_id}",
                            headers={"X-Xsrftoken": xsrf},
                            multipart={"file": {"name": "big.csv", "mimeType": "text/csv", "buffer": b"x" * size}})


def held_upload_bytes(page, url: str) -> int:
    """Bytes in Streamlit's upload manager, all sessions (0 when it holds none)."""
    found = _HELD.search(page.request.get(f"{url}/_stcore/metrics").text())
    return int(found.group(1)) if found else 0


@pytest.fixture(scope="module")
def capped_url():
    with running_app(env={**os.environ, "BOUNDARY_SESSION_UPLOAD_MB": "1"}) as url:
        yield url


def test_one_session_cannot_hold_more_than_its_upload_cap(browser, capped_url):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    ids = watch_session_id(page)
    open_page(page, capped_url)
    session_id = ids[0]
    assert put_file(page, capped_url, session_id, "f1", 600_000).status == 204
    refused = put_file(page, capped_url, session_id, "f2", 600_000)  # 1.2 MB in all: over 1 MB
    assert refused.status == 413 and "at most 1 MB per session" in refused.text()
    assert put_file(page, capped_url, session_id, "f1", 700_000).status == 204  # replacing a file fits
    assert held_upload_bytes(page, capped_url) == 700_000
    # a real upload through the page's widget is refused the same way, and the page says why
    page.get_by_role("link", name="Email").first.click()
    page.wait_for_url(page_url("email"))
    wait_idle(page)
    with page.expect_response(lambda r: "/_stcore/upload_file/" in r.url and r.request.method == "PUT") as sent:
        page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
            {"name": "campaigns.csv", "mimeType": "text/csv", "buffer": b"a,b\n" + b"1,2\n" * 100_000})
    assert sent.value.status == 413  # the widget marks the file with an error icon: all it can say;
    page.get_by_role("link", name="NPS").first.click()    # the reason is shown on the next run of the session
    page.get_by_text("at most 1 MB per session").first.wait_for()
    assert held_upload_bytes(page, capped_url) == 700_000
    context.close()


def _text(locator) -> str:
    """The text a reader sees (the invisible word joiners that stop GFM's bare links taken out)."""
    return locator.inner_text().replace("\u2060", "")


def test_markdown_in_a_file_is_shown_as_text_not_fetched(browser, capped_url):
    """A file name, a column name and a bad cell holding image links (the review's attack: the
    browser fetched the image from an outside host). Streamlit's own renderer, in Chromium."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url) if "leak" in request.url else None)
    open_page(page, capped_url)
    page.get_by_role("link", name="Email").first.click()
    page.wait_for_url(page_url("email"))
    wait_idle(page)
    cell = "![cell](http://127.0.0.1:9/leak-cell.png)"
    emails = ("Campaign,Send date,Sent,Delivered,Opens,Clicks\nA,2025-01-06,100,98,20,3\n"
              f"B,2025-01-13,{cell},118,25,4\nC,2025-01-20,130,128,30,5\n").encode()
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        {"name": "![file](leak-file.png) [link](http:leak-link) :red[alarm] $x$ *b*.csv", "mimeType": "text/csv", "buffer": emails})
    main = page.locator("[data-testid='stMain']")
    main.get_by_text("leak-cell.png").first.wait_for()
    assert cell in _text(main)  # the bad-cell example, as text
    assert "![file](leak-file.png) [link](http:leak-link) :red[alarm] $x$ *b*.csv" in _text(main)
    page.get_by_role("link", name="NPS").first.click()
    page.wait_for_url(page_url("nps"))
    wait_idle(page)
    column = "![col](http://127.0.0.1:9/leak-col.png)"
    survey = (f"Date,Email,Score,{column},Comment\n2025-01-06,a@x.example,9,3,fine\n"
              "2025-01-07,b@x.example,4,8,meh\n2025-01-08,c@x.example,10,10,great\n").encode()
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        {"name": "survey.csv", "mimeType": "text/csv", "buffer": survey})
    main.get_by_text("leak-col.png").first.wait_for()
    assert f"Other 0–10 columns in this file: {column}" in _text(main)
    page.wait_for_timeout(1000)
    assert page.locator("img[src*='leak'], a[href*='leak']").count() == 0  # nor a bare-URL link (GFM)
    assert fetched == []
    context.close()

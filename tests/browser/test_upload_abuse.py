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

from tests.browser.conftest import open_page, running_app

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
    page.locator("[data-testid='stFileUploader'] input[type=file]").first.set_input_files(
        {"name": "campaigns.csv", "mimeType": "text/csv", "buffer": b"a,b\n" + b"1,2\n" * 100_000})
    page.get_by_text("status code 413").first.wait_for()  # all Streamlit's widget can say; the reason
    page.get_by_role("link", name="NPS").first.click()    # is shown on the next run of the session
    page.get_by_text("at most 1 MB per session").first.wait_for()
    assert held_upload_bytes(page, capped_url) == 700_000
    context.close()

"""Nothing a user loaded outlives the session: after the tab closes and Streamlit's reconnect window
(server.disconnectedSessionTTL) has passed, the session's Workspace is closed and its private spill
directory removed (ui.sessions). The server runs with a 2-second window and a fast sweeper, and its
temporary directory is a fresh folder, so the session's directory can be watched."""

from __future__ import annotations

import os
import time

import pytest

from tests.browser.conftest import open_page, running_app

pytestmark = pytest.mark.browser


@pytest.fixture
def short_lived_server(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "BOUNDARY_SESSION_SWEEP_S": "0.5",
           "BOUNDARY_SESSION_GRACE_S": "0.5",
           "BOUNDARY_WARMUP": "0"}  # the sample warm-up's own session would add a second spill directory
    with running_app("--server.disconnectedSessionTTL", "2", env=env) as url:
        yield url, tmp_path


def _spill_dirs(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("boundary-session-"))


def test_closed_tab_releases_its_workspace(browser, short_lived_server):
    url, tmp = short_lived_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(45_000)
    open_page(page, url)
    page.get_by_role("button", name="Load sample data").first.click()
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    assert len(_spill_dirs(tmp)) == 1  # this session's private DuckDB spill directory
    context.close()  # the tab closes: Streamlit parks the session for 2 s, then forgets it
    deadline = time.time() + 30
    while _spill_dirs(tmp) and time.time() < deadline:
        time.sleep(0.5)
    assert _spill_dirs(tmp) == []

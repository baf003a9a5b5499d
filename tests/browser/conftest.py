"""Browser tests: a real `streamlit run app.py` on a free loopback port, driven by Playwright in
the system Chromium. Skipped with a reason where Chromium is not installed (CI installs it)."""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.appserver import ServerDidNotStart, app_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BOUNDARY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]



@contextmanager
def running_app(*args: str, env: dict[str, str] | None = None, port: int | None = None):
    """`streamlit run app.py` on a loopback port (free by default), with extra `--option value` args and
    `env` as its whole environment (default this process's: the tests' workspace store). Yields its URL;
    the server is stopped on exit."""
    try:
        with app_server(*args, env=env, port=port, fresh_store=False) as server:
            yield server.url
    except ServerDidNotStart as exc:
        pytest.fail(f"streamlit did not start: {exc}")


@pytest.fixture(scope="session")
def app_url():
    with running_app() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"Chromium not found at {CHROMIUM}; install Debian's chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def open_page(page, app_url: str, path: str = "") -> None:
    """Open a page of the app and wait until Streamlit has finished running it."""
    page.goto(f"{app_url}/{path}")
    wait_idle(page)


def page_url(path: str) -> re.Pattern:
    """A page's URL, with or without the workspace id Boundary keeps in it (`/email?w=…`)."""
    return re.compile(rf"/{re.escape(path)}(\?.*)?$")


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app has rendered and no script run has been in progress for 1.5 s.

    Busy: Streamlit's status widget is shown, or the app's script state (`data-test-script-state`
    on stApp) is not "notRunning" — the widget alone missed long runs of a page's later sections.
    Either can lag the run's start by a moment, so the app must stay quiet a while.
    """
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout)
    page.evaluate("() => { window.__boundaryLastBusy = Date.now(); }")
    page.wait_for_function(
        """() => {
            const now = Date.now();
            const app = document.querySelector('[data-testid="stApp"]');
            const state = app && app.getAttribute('data-test-script-state');
            if (document.querySelector('[data-testid="stStatusWidget"]')
                || (state && state !== 'notRunning' && state !== 'initial')) {
                window.__boundaryLastBusy = now;
                return false;
            }
            return now - window.__boundaryLastBusy > 1500;
        }""", timeout=timeout, polling=100)


def upload(page, path: Path, index: int = 0) -> None:
    """Upload a file through the page's file uploader and wait for the rerun."""
    page.locator("[data-testid='stFileUploader'] input[type='file']").nth(index).set_input_files(str(path))
    page.wait_for_timeout(500)
    wait_idle(page)


def metric_value(page, label: str) -> str:
    """The displayed value of the st.metric tile with this exact label."""
    tile = page.locator("[data-testid='stMetric']").filter(
        has=page.locator("[data-testid='stMetricLabel']", has_text=label)).first
    return tile.locator("[data-testid='stMetricValue']").inner_text().strip()


def selectbox_value(page, key: str) -> str:
    """A selectbox's value as shown (Streamlit 1.67: a combobox input)."""
    return page.locator(f".st-key-{key} input[role='combobox']").input_value().strip()


def choose_option(page, key: str, option: str) -> None:
    """Pick `option` in the selectbox with this key, and wait for the rerun it causes."""
    page.locator(f".st-key-{key}").scroll_into_view_if_needed()
    for _ in range(3):  # a click may only focus the box: open it again
        page.locator(f".st-key-{key} button[aria-label='Open']").click()
        try:
            page.locator("[role='option']").first.wait_for(timeout=3000)
            break
        except Exception:  # noqa: BLE001 — playwright's TimeoutError
            page.keyboard.press("Escape")
    page.locator("[role='option']").filter(has_text=option).first.click()
    wait_idle(page)

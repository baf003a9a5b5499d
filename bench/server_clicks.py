"""Server CPU per click in a real server (`bench/interaction.py --server email`): what a widget inside
an `st.fragment` costs, which AppTest cannot show (it always reruns the whole script).

Starts `streamlit run app.py` (from `--app-dir`, default this checkout) on a free loopback port, opens
it in headless Chromium (Playwright), clicks "Load sample data", opens the page, and changes each
widget in turn to every option it did not show yet (each value computed once: a value seen before
would be a memo hit). For each change: the server process's CPU (user + system of all its threads,
from /proc/<pid>/stat) from before the click until the page is idle again and the server's CPU has
stopped moving — the click's whole cost on the server, transport to the browser included. Widgets
inside a fragment rerun the fragment alone; the others rerun the page.

The server's sample warm-up (ui.warmup) runs first and is waited out. The browser runs in other
processes, so its CPU is not in the figures. Run on purpose (a server and a browser: ~1 min).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.appserver import process_cpu  # noqa: E402

# page → (sidebar title, [(widget key, kind)]); on the email page the first four are in fragments
# (ui.email_sections) since session 5, the period reruns the page
SERVER_WIDGETS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "email": ("Email", [("email_history_rate", "selectbox"), ("email_time_rate", "selectbox"),
                        ("email_time_by", "radio"), ("email_ab_rate", "selectbox"),
                        ("email_grain_email_campaigns", "selectbox")]),
    # funnel: the breakdown is a fragment (ui.funnel_sections, session 6), the period reruns the page;
    # cohorts: the group attribute is a fragment (ui.cohorts_sections), grain and periods rerun the page
    "funnel": ("Funnel", [("funnel_by", "selectbox"), ("funnel_grain", "selectbox")]),
    "cohorts": ("Cohorts", [("coh_group", "selectbox"), ("coh_grain", "radio"), ("coh_mode", "radio")]),
}


def _settled(pid: int, quiet: float = 0.02, every: float = 0.5, timeout: float = 120) -> tuple[float, float]:
    """(the server's CPU, the monotonic time) once its CPU stops moving: under `quiet` s of CPU in
    `every` s of wall time; the interval that showed it quiet is not counted."""
    deadline = time.monotonic() + timeout
    last, at = process_cpu(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(every)
        now = process_cpu(pid)
        if now - last < quiet:
            return last, at
        last, at = now, time.monotonic()
    return last, at


def _idle(page) -> None:
    from tests.browser.conftest import wait_idle  # rendered, and no run in progress for 1.5 s

    page.wait_for_timeout(300)
    wait_idle(page, timeout=120_000)


# Streamlit 1.67's widgets in the page: a selectbox is a combobox (its value in the input, options in
# a listbox opened by its "Open" button), a radio a group of stRadioOption labels (data-selected).
def _open(page, box) -> None:
    """Open a selectbox's list (a second click when the first one only focused it)."""
    for _ in range(3):
        box.locator("button[aria-label='Open']").click()
        try:
            page.locator("[role='option']").first.wait_for(timeout=3000)
            return
        except Exception:  # noqa: BLE001 — playwright's TimeoutError: try again
            page.keyboard.press("Escape")
    page.locator("[role='option']").first.wait_for()


def _options(page, key: str, kind: str) -> list[str]:
    box = page.locator(f".st-key-{key}")
    if kind == "radio":
        return [t.strip() for t in box.locator("[data-testid='stRadioOption']").all_inner_texts()]
    _open(page, box)
    options = [t.strip() for t in page.locator("[role='option']").all_inner_texts()]
    page.keyboard.press("Escape")
    page.locator("[role='option']").first.wait_for(state="detached")  # closed before the next click
    return options


def _current(page, key: str, kind: str) -> str:
    box = page.locator(f".st-key-{key}")
    if kind == "radio":
        return box.locator("[data-testid='stRadioOption'][data-selected='true']").inner_text().strip()
    return box.locator("input[role='combobox']").input_value().strip()


def _choose(page, key: str, kind: str, option: str) -> None:
    box = page.locator(f".st-key-{key}")
    if kind == "radio":
        box.locator("[data-testid='stRadioOption']", has_text=option).first.click()
        return
    _open(page, box)
    page.locator("[role='option']").filter(has_text=option).first.click()


def measure_server(page_name: str = "email", app_dir: Path = ROOT) -> dict[str, list[float]]:
    """widget key → CPU seconds of each change to an option not shown before."""
    from playwright.sync_api import sync_playwright

    from bench.appserver import app_server
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    title, widgets = SERVER_WIDGETS[page_name]
    out: dict[str, list[float]] = {}
    with app_server(app_dir=app_dir, start_timeout=60) as server:
        proc, url = server.proc, server.url
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=120_000)
            _idle(page)
            _settled(proc.pid, timeout=300)  # the server's own sample warm-up
            idle_start, t0 = process_cpu(proc.pid), time.monotonic()
            time.sleep(3)
            idle = (process_cpu(proc.pid) - idle_start) / (time.monotonic() - t0)  # an idle server's CPU a second
            page.get_by_role("button", name="Load sample data").first.click()
            _idle(page)
            page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
            page.wait_for_selector(f".st-key-{widgets[0][0]}", timeout=120_000)
            _idle(page)
            _settled(proc.pid)
            for key, kind in widgets:
                name = key
                page.locator(f".st-key-{key}").scroll_into_view_if_needed()
                seen = {_current(page, key, kind)}
                for option in _options(page, key, kind):
                    if option in seen:
                        continue
                    seen.add(option)
                    before, start = process_cpu(proc.pid), time.monotonic()
                    _choose(page, key, kind, option)
                    _idle(page)
                    after, end = _settled(proc.pid)
                    out.setdefault(name, []).append(max(0.0, after - before - idle * (end - start)))
                    print(f"  {name} → {option}: {out[name][-1]:.3f} s", file=sys.stderr)
            browser.close()
    return out


def report_server(results: dict[str, list[float]], page_name: str) -> str:
    lines = [f"Server CPU seconds per click in a real server ({page_name}; each change to an option not shown "
             "before; /proc CPU of the server process until it settles):", "",
             f"{'widget':<48} {'median s':>9} {'min s':>7} {'changes':>8}"]
    for name, values in results.items():
        lines.append(f"{name:<48} {statistics.median(values):9.2f} {min(values):7.2f} {len(values):8d}")
    return "\n".join(lines)

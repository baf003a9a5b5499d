"""Load test: N simulated users at once on one `streamlit run app.py` (or on serve.py's N worker
processes with `--workers N`), on 127.0.0.1 only.

    .venv/bin/python bench/load.py [--users 20] [--ramp 10] [--deadline 900] [--client browser|ws] [--cold]
                                   [--workers N]

Starts the app on a free loopback port, then drives N browser contexts (one headless Chromium,
Playwright's async API — each context is its own Streamlit session) that each open the home page,
click "Load sample data" and visit every page through the sidebar, one after another.
`--client ws` drives the same N sessions without a browser (ui.stclient: Streamlit's own websocket
protocol, as the frontend speaks it; a click → page time ends when the server says the run
finished): the server's share measured on its own, since Chromium contexts on the same 2 cores
take most of the CPU. Before the users, the server is opened once and its sample warm-up
(ui/warmup.py) is waited for, as on a server that has been up a while; `--cold` starts the users at
once (the first of them starts the warm-up). `--workers N` runs `serve.py --workers N` instead (a
front process and N workers; the websocket clients keep no cookie, so the front spreads them over the
workers): the server's CPU and memory are then summed over the front and every worker, and the front's
own CPU is shown too. Reports:
errors (a page that showed an exception, an error box from a failed run, or did not render in time
— must be 0), p50/p95/max time from a click to the rendered page, and the server's peak memory
(resident set of the streamlit process, sampled every 0.25 s), and the CPU seconds the server and
the clients (Chromium and Playwright's driver; this process for --client ws) each used during the
run. Bounded: at most 50 users, one pass
each, a per-page timeout and an overall deadline after which everything is stopped. The browser runs
on the same 2 cores as the server, so the times include its rendering. Run on purpose; not part of
the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.appserver import ServerDidNotStart, app_server, descendants, process_cpu  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGES = ["Email", "In-app", "NPS", "Voice of customer", "NCVG", "Funnel", "Cohorts", "Boundary report",
         "SQL notebook"]
MAX_USERS = 50
IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


async def ws_user(n: int, url: str, delay: float, timeout_s: float, times: list, errors: list) -> None:
    """One user without a browser: the same steps as `user`, over Streamlit's websocket."""
    from ui.stclient import Session

    await asyncio.sleep(delay)
    step = "home"
    try:
        async with Session(url, timeout=timeout_s) as session:
            result = await session.run()
            times.append(("home", result.seconds))
            step = "sample data"
            result = await session.run(click="sample_home")
            times.append(("sample", result.seconds))
            for title in PAGES:
                step = title
                result = await session.run(page=title)
                times.append((title, result.seconds))
                errors.extend(f"user {n} {title}: {e}" for e in result.exceptions + result.errors)
    except Exception as exc:  # a timeout or a crash counts as an error for this user
        errors.append(f"user {n} at {step}: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}")


async def warm(url: str, log: Path, processes: int = 1, timeout_s: float = 300) -> str:
    """Open the app once (its first session starts the sample warm-up), wait for the warm-up's line
    from each server process (serve.py opens each of its workers itself)."""
    from ui.stclient import Session

    async with Session(url) as session:
        await session.run()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = [line for line in log.read_text(errors="replace").splitlines() if "Boundary: sample" in line]
        if len(lines) >= processes:
            return "; ".join(lines)
        await asyncio.sleep(0.5)
    return "no warm-up line from every server process"


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pids) -> float:
    """User + system CPU of these processes and of their children already ended (utime, stime, cutime,
    cstime from /proc): a Chromium renderer that closed is counted in its parent's cutime."""
    return sum(process_cpu(pid, children=True) for pid in pids)


async def wait_rendered(page, timeout_ms: float) -> None:
    await page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout_ms)
    await page.wait_for_timeout(300)
    await page.wait_for_function(IDLE_JS, timeout=timeout_ms)


async def problems(page) -> list[str]:
    found = []
    shown = page.locator("[data-testid='stException']")
    if await shown.count():
        text = (await shown.first.inner_text()).strip().splitlines()
        found.append("exception shown: " + " / ".join(text[:3])[:200])
    return found


async def user(n: int, browser, url: str, delay: float, timeout_ms: float, times: list, errors: list) -> None:
    await asyncio.sleep(delay)
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    step = "home"
    try:
        start = time.perf_counter()
        await page.goto(url, timeout=timeout_ms, wait_until="domcontentloaded")
        await wait_rendered(page, timeout_ms)
        times.append(("home", time.perf_counter() - start))
        step = "sample data"
        start = time.perf_counter()
        await page.get_by_role("button", name="Load sample data").first.click()
        await page.wait_for_timeout(300)
        await wait_rendered(page, timeout_ms)
        times.append(("sample", time.perf_counter() - start))
        for title in PAGES:
            step = title
            start = time.perf_counter()
            await page.locator("[data-testid='stSidebarNavLink']", has_text=title).first.click()
            await page.wait_for_timeout(300)
            await wait_rendered(page, timeout_ms)
            times.append((title, time.perf_counter() - start))
            for problem in await problems(page):
                errors.append(f"user {n} {title}: {problem}")
    except Exception as exc:  # a timeout or a crash counts as an error for this user
        errors.append(f"user {n} at {step}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    finally:
        await context.close()


async def run(args) -> int:
    from playwright.async_api import async_playwright

    peak = 0
    front_cpu, workers_cpu, front_peak = 0.0, [], 0
    try:
        with app_server(workers=args.workers, start_timeout=120) as server:
            url = server.url
            warmed = ("cold: the first user starts the warm-up" if args.cold
                      else await warm(url, server.log, args.workers or 1))
            warmed += f" (load average {os.getloadavg()[0]:.1f} as the users start)"  # the machine is shared
            pids = server.pids()  # the server's processes: streamlit, or serve.py's front and workers
            baseline = sum(rss_bytes(pid) for pid in pids)
            times: list[tuple[str, float]] = []
            errors: list[str] = []
            stop = asyncio.Event()

            async def sample_memory():
                nonlocal peak, pids, front_peak
                ticks = 0
                while not stop.is_set():
                    if args.workers and args.workers > 1 and ticks % 8 == 0:  # a worker started again has a new pid
                        pids = server.pids()
                    peak = max(peak, sum(rss_bytes(pid) for pid in pids))
                    front_peak = max(front_peak, rss_bytes(server.proc.pid))
                    ticks += 1
                    await asyncio.sleep(0.25)

            def worker_cpu() -> dict[int, float]:
                return {pid: process_cpu(pid, children=True) for pid in pids if pid != server.proc.pid}

            async def drive(make_user) -> tuple[float, float, float]:
                """Run the users; (wall s, server CPU s, clients' CPU s) over the run."""
                nonlocal front_cpu, workers_cpu
                sampler = asyncio.create_task(sample_memory())
                server_cpu0 = server.tree_cpu()
                front_cpu0, workers_cpu0 = process_cpu(server.proc.pid), worker_cpu()
                client_cpu0 = client_cpu()
                began = time.perf_counter()
                users = [make_user(i, i * args.ramp / max(args.users, 1)) for i in range(args.users)]
                try:
                    await asyncio.wait_for(asyncio.gather(*users), timeout=args.deadline)
                except TimeoutError:
                    errors.append(f"overall deadline of {args.deadline:.0f} s reached")
                wall = time.perf_counter() - began
                stop.set()
                await sampler
                front_cpu = process_cpu(server.proc.pid) - front_cpu0
                workers_cpu = [cpu - workers_cpu0.get(pid, 0.0) for pid, cpu in worker_cpu().items()]
                return wall, server.tree_cpu() - server_cpu0, client_cpu() - client_cpu0

            if args.client == "ws":
                # the clients are this process (asyncio + protobuf parsing), nothing else
                def client_cpu() -> float:
                    return time.process_time()

                wall, server_cpu, browser_cpu = await drive(
                    lambda i, delay: ws_user(i, url, delay, args.page_timeout, times, errors))
            else:
                # the browsers: Chromium and Playwright's driver, every process under this one but the
                # server, and this one (Playwright's client)
                def client_cpu() -> float:
                    return cpu_seconds([os.getpid(), *descendants(os.getpid(), server.proc.pid)])

                async with async_playwright() as p:
                    browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    wall, server_cpu, browser_cpu = await drive(
                        lambda i, delay: user(i, browser, url, delay, args.page_timeout * 1000, times, errors))
                    await browser.close()
    except ServerDidNotStart as exc:
        print(exc)
        return 1
    server_log = server.log_lines

    pages = sorted(t for name, t in times if name not in ("home", "sample"))
    loads = sorted(t for name, t in times if name == "sample")

    def pct(values, q):
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (
            values[0] if values else float("nan"))

    clients = "browser-free websocket clients" if args.client == "ws" else "Chromium contexts"
    print(f"users: {args.users} at once (ramp {args.ramp:g} s, {clients}), pages visited: {len(pages)} of "
          f"{args.users * len(PAGES)}, wall time {wall:.1f} s")
    print(f"before the users: {warmed}")
    print(f"errors: {len(errors)}")
    for line in errors[:20]:
        print("  " + line)
    if errors and server_log:  # what the server said (tracebacks land here)
        print("server log, last lines:\n  " + "\n  ".join(server_log[-25:]))
    print(f"time to a rendered page (click → page idle): p50 {pct(pages, 50):.2f} s, "
          f"p95 {pct(pages, 95):.2f} s, max {max(pages, default=float('nan')):.2f} s")
    print(f"'Load sample data' (all 12 files): p50 {pct(loads, 50):.2f} s, p95 {pct(loads, 95):.2f} s")
    cores = os.cpu_count() or 1
    who = "clients (this process)" if args.client == "ws" else "browsers"
    print(f"CPU during the run: server {server_cpu:.1f} s, {who} {browser_cpu:.1f} s "
          f"(of {wall * cores:.0f} core-seconds on {cores} cores: server {server_cpu / (wall * cores):.0%}, "
          f"{who} {browser_cpu / (wall * cores):.0%}; {who}' share of the CPU the two used: "
          f"{browser_cpu / max(server_cpu + browser_cpu, 1e-9):.0%}); server CPU per user "
          f"{server_cpu / max(args.users, 1):.2f} s; load average at the end {os.getloadavg()[0]:.1f}")
    if args.workers and args.workers > 1:
        print(f"server: serve.py, {args.workers} worker processes; the front's own CPU {front_cpu:.2f} s, the "
              f"workers' {' + '.join(f'{c:.1f}' for c in workers_cpu)} s; the front's peak memory "
              f"{front_peak / 2**20:.0f} MB (CPU and memory above: all summed)")
    print(f"server memory: {baseline / 2**20:.0f} MB at start, peak {peak / 2**20:.0f} MB "
          f"(≈{(peak - baseline) / 2**20 / max(args.users, 1):.0f} MB per session)")
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the users arrive")
    parser.add_argument("--page-timeout", type=float, default=180.0, help="seconds a page may take")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole run")
    parser.add_argument("--client", choices=["browser", "ws"], default="browser",
                        help="Chromium contexts (default) or browser-free websocket sessions (ui.stclient)")
    parser.add_argument("--workers", type=int, default=None,
                        help="run serve.py with this many worker processes (default: one `streamlit run`)")
    parser.add_argument("--cold", action="store_true",
                        help="start the users at once instead of after the server's sample warm-up")
    args = parser.parse_args()
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be 1–{MAX_USERS}")
    if args.workers is not None and not 1 <= args.workers <= 8:
        parser.error("--workers must be 1–8")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

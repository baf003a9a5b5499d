"""Server CPU per page and per widget change (issue #20), measured in-process with AppTest.

    .venv/bin/python bench/interaction.py [--pages email,nps] [--repeats 5] [--profile PAGE]

For each repeat: a fresh app (caches cleared), "Load sample data" on Home, then each page in turn:
(a) the first render of the page (the switch to it), (b) a plain rerun, (c) a rerun after each of the
page's main widget changes (period, threshold, a filter, "largest groups shown" …). Each figure is the
CPU seconds of this process (time.process_time: all threads, user + system) spent in that one
AppTest run — not wall time, so it is stable on a shared machine. AppTest runs the page script in a
thread of this process, so the figure is the server's work for that click, minus the websocket and
protobuf-to-browser transport, which AppTest skips. Prints the median over the repeats, the
issue's targets (widget change ≤ 0.2 s, first render ≤ 0.5 s) and the ratio to target.

Pages are visited in one session per repeat (the sample data is loaded once per repeat, not once
per page), so a later page's first render can reuse what an earlier page left in the shared caches.
Heavy libraries are imported before timing (a running server has them); the sample files are read
once per process (lib.sample), so "Load sample data" after the first repeat is a later visitor's.

--server runs a real `streamlit run app.py` instead (on a free loopback port) and drives sessions
over its websocket without a browser (ui.stclient): Home, "Load sample data", each page once, per
session; each step's figure is the server process's CPU (from /proc) over that one run — what
AppTest leaves out (the websocket and protobuf transport, Streamlit's session machinery) included.
The first session starts the sample warm-up (ui/warmup.py) and is timed cold unless
--server-warm waits for the warm-up first; every later session is an ordinary later visitor.

--profile PAGE runs cProfile over one rerun of PAGE (after its first render; with --profile-widget KEY,
the rerun after changing that widget) and prints the 25
functions with the largest cumulative time among the project's files and the main libraries
(duckdb, pandas, altair, streamlit serialisation). Run on purpose; not part of the test suite
(tests/test_bench_interaction.py runs one page once to keep it working).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.apptest import fresh_app  # noqa: E402

TARGET_WIDGET = 0.2  # s of server CPU per widget change (issue #20)
TARGET_FIRST = 0.5  # s of server CPU for a page's first render (issue #20)

# page name -> (script, [widget key or key prefix, …]); a prefix ends with "*" and matches the
# first widget whose key starts with it (keys that carry a source kind or a dataset digest).
PAGES: dict[str, tuple[str, list[str]]] = {
    "email": ("app_pages/email.py", ["email_grain_*", "email_lists_*", "email_topics_*"]),
    "in_app": ("app_pages/in_app.py", ["in_app_grain", "th_in_app_*", "in_app_change_weeks"]),
    "nps": ("app_pages/nps.py", ["nps_grain", "nps_segment_top", "nps_comment_cats"]),
    "voice": ("app_pages/voice.py", ["voice_grain", "voice_ch", "th_voice_*"]),
    "ncvg": ("app_pages/ncvg.py", ["ncvg_value", "ncvg_grain", "ncvg_window"]),
    "funnel": ("app_pages/funnel.py", ["funnel_grain", "funnel_by_top", "th_funnel_*"]),
    "cohorts": ("app_pages/cohorts.py", ["coh_grain", "coh_mode", "coh_group_top"]),
    "report": ("app_pages/report.py", ["report_severity", "corr_grain", "report_days"]),
}

# Widgets inside a panel a page builds only while it is open (a stateful expander): the panel's
# session-state key, set True before the change is measured (untimed) and False after it — a user
# changes a threshold with its panel open, and the panel is closed for the other clicks.
PANELS = {"th_in_app_": "in_app_thresholds", "th_voice_": "voice_thresholds", "th_funnel_": "funnel_thresholds",
          "th_nps_": "nps_thresholds", "th_ncvg_": "ncvg_thresholds", "th_email_": "email_thresholds",
          "th_report_": "report_thresholds"}

WIDGET_KINDS = ["selectbox", "radio", "number_input", "multiselect", "segmented_control", "slider",
                "checkbox", "pills"]

# Where a profile line's file must be to be printed: the project's own files and the main libraries.
PROFILE_KEEP = (str(ROOT / "lib"), str(ROOT / "ui"), str(ROOT / "app_pages"), "duckdb", "pandas/core/frame",
                "pandas/io", "altair/vegalite/v", "altair/utils", "streamlit/elements/arrow",
                "streamlit/dataframe_util", "streamlit/elements/vega_charts", "streamlit/elements/lib/column",
                "streamlit/runtime/caching", "pyarrow", "jsonschema")


def cpu() -> float:
    return time.process_time()


def timed_run(at) -> float:
    start = cpu()
    at.run()
    spent = cpu() - start
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].value}")
    return spent


def panel_of(spec: str) -> str | None:
    """The session-state key of the panel that holds widget `spec` only while open, or None."""
    return next((key for prefix, key in PANELS.items() if spec.startswith(prefix)), None)


def open_panel(at, spec: str, is_open: bool = True) -> None:
    """Open (or close) the panel holding `spec`, untimed; nothing for a widget that is always built."""
    panel = panel_of(spec)
    if panel is not None:
        at.session_state[panel] = is_open
        at.run()


def find_widget(at, spec: str):
    """The widget with key `spec` (or the first whose key starts with it, for 'prefix*'), or None."""
    for kind in WIDGET_KINDS:
        for w in getattr(at, kind):
            key = w.key or ""
            if (spec.endswith("*") and key.startswith(spec[:-1])) or key == spec:
                return w
    return None


def change(w) -> str:
    """Set `w` to a different value (the next option, +1 step, one more item); say what was done."""
    kind = type(w).__name__
    if kind == "NumberInput":
        w.increment()
        return "+1 step"
    if kind == "Slider":
        w.set_value(w.value + 1 if not isinstance(w.value, tuple) else w.value)
        return "+1"
    if kind == "Checkbox":
        w.set_value(not w.value)
        return "toggled"
    if kind == "Multiselect":
        extra = [o for o in w.options if o not in w.value]
        if extra:
            w.select(extra[0])
            return f"+{extra[0]!r}"
        w.unselect(w.value[0])
        return f"-{w.value[0]!r}"
    if kind == "Selectbox":
        i = (w.index or 0) + 1
        w.select_index(i % len(w.options))
        return f"→{w.options[i % len(w.options)]!r}"
    if kind == "Radio":
        i = ((w.index or 0) + 1) % len(w.options)
        w.set_value(w.options[i])
        return f"→{w.options[i]!r}"
    if kind == "ButtonGroup":  # segmented_control / pills
        current = w.value if isinstance(w.value, list) else [w.value]
        other = [o for o in w.options if getattr(o, "content", o) not in current]
        w.set_value(getattr(other[0], "content", other[0]))
        return f"→{getattr(other[0], 'content', other[0])!r}"
    raise TypeError(f"no change defined for {kind}")


def _named(steps: dict, key: str) -> str:
    """The step name given to widget `key` in the first repeat (it says which change was made)."""
    return next((n for n in steps if n.split(" (")[0] == key), key)


def warm_imports() -> None:
    """Import what a running server has already imported (scipy, statsmodels, Altair, the metric and
    chart modules): without this the first page measured pays ~1 s of one-off imports per process."""
    import importlib

    from lib.report import AREA_MODULES

    for name in ("scipy.stats", "statsmodels.api", "altair", "ui.cache", *AREA_MODULES.values(),
                 *(m.replace("lib.metrics.", "lib.charts.") for m in AREA_MODULES.values())):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    share_script_cache()
    wait_without_polling()
    # As the server does once its warm-up is done: what exists now stays out of Python's full garbage
    # collections, which would otherwise walk every library object on some clicks (~20 ms a click).
    from ui.warmup import freeze_startup_objects

    freeze_startup_objects()


def share_script_cache() -> None:
    """One compiled copy of app.py and each page for every AppTest run, as a server keeps one for every
    session and run (its Runtime's ScriptCache): AppTest makes a new cache per run, so each click would
    read, rewrite (Streamlit's "magic") and compile the page again — ~11 ms of an email click that a
    server does not spend."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = ScriptCache()
    for module in (app_test, local_script_runner):
        module.ScriptCache = lambda: shared


def wait_without_polling() -> None:
    """AppTest waits for a run by checking, every millisecond, whether its list of script events holds
    the end of the run — a list of one event per element sent (~500 on email), walked from the start
    each time, by a thread that has to take the GIL from the page's thread to do it: ~10 ms of an
    email click (paired runs, 48 clicks each) that is the test harness's, not the server's, whose
    event loop sleeps until a message is queued. Here the bench waits on the script's thread instead
    (AppTest joins it right after anyway); a run that outlasts the timeout fails as before."""
    from streamlit.testing.v1 import local_script_runner

    def wait(runner, timeout: float = 3) -> None:
        if runner._script_thread is not None:
            runner._script_thread.join(timeout)
        if not runner.script_stopped():
            runner.request_stop()
            runner.join()
            raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")

    local_script_runner.require_widgets_deltas = wait


def measure(pages: list[str], repeats: int) -> dict[str, dict[str, list[float]]]:
    """page -> {"first render": [s…], "rerun": [s…], "<widget key>": [s…]} over the repeats."""
    from ui.cache import SAMPLE_MEMO

    warm_imports()
    out: dict[str, dict[str, list[float]]] = {p: {} for p in pages}
    for r in range(repeats + 1):
        if r == repeats:  # a visitor who only opens each page, then one more, who finds the sample
            SAMPLE_MEMO.clear()  # figures the first left (ui.cache); the repeats changed thresholds
            for timed in (False, True):
                at = fresh_app()
                at.button(key="sample_home").click().run()
                for page in pages:
                    at.switch_page(PAGES[page][0])
                    spent = timed_run(at)
                    if timed:
                        out[page]["first render, a later visitor"] = [spent]
            break
        SAMPLE_MEMO.clear()  # each repeat is the server's first visitor: every figure computed
        at = fresh_app()
        at.button(key="sample_home").click()
        load = timed_run(at)
        out.setdefault("_load", {}).setdefault("Load sample data (Home)", []).append(load)
        for page in pages:
            script, widgets = PAGES[page]
            at.switch_page(script)
            out[page].setdefault("first render", []).append(timed_run(at))
            out[page].setdefault("rerun (no change)", []).append(timed_run(at))
            for spec in widgets:
                open_panel(at, spec)
                w = find_widget(at, spec)
                if w is None:
                    print(f"  [{page}] no widget {spec!r} on the page; skipped", file=sys.stderr)
                    continue
                what = change(w)
                spent = timed_run(at)
                out[page].setdefault(f"{w.key} ({what})" if r == 0 else _named(out[page], w.key), []).append(spent)
                open_panel(at, spec, False)
            print(f"  repeat {r + 1}/{repeats}: {page} done", file=sys.stderr)
    return out


def measure_reruns(pages: list[str], reruns: int) -> str:
    """The per-click floor: CPU of `reruns` reruns without change of each page (one session, after
    Load sample data and the page's first render): what every click pays before anything is computed."""
    warm_imports()
    at = fresh_app()
    at.button(key="sample_home").click()
    timed_run(at)
    lines = [f"Reruns without change, server CPU s (AppTest), {reruns} per page", f"{'page':<9} {'median':>7} {'min':>6}"]
    for page in pages:
        at.switch_page(PAGES[page][0])
        timed_run(at)
        spent = [timed_run(at) for _ in range(reruns)]
        lines.append(f"{page:<9} {statistics.median(spent):7.3f} {min(spent):6.3f}")
    return "\n".join(lines)


def measure_server(sessions: int, warm: bool) -> str:
    """Server CPU per step over `sessions` browser-free sessions on a real server (see --server)."""
    import asyncio

    from bench.appserver import app_server
    from ui.stclient import Session

    async def visit(server) -> dict[str, tuple[float, float]]:
        steps: dict[str, tuple[float, float]] = {}
        async with Session(server.url) as session:
            for name, kwargs in [("Home", {}), ("Load sample data", {"click": "sample_home"})]:
                before = server.cpu()
                result = await session.run(**kwargs)
                steps[name] = (server.cpu() - before, result.seconds)
            for title in list(session.pages)[1:]:
                before = server.cpu()
                result = await session.run(page=title)
                if result.exceptions:
                    raise RuntimeError(f"{title}: {result.exceptions[0]}")
                steps[title] = (server.cpu() - before, result.seconds)
        return steps

    async def wait_warmed(server) -> None:
        async with Session(server.url) as session:
            await session.run()
        while "Boundary: sample" not in server.log.read_text(errors="replace"):
            await asyncio.sleep(0.5)

    with app_server() as server:
        if warm:
            asyncio.run(wait_warmed(server))
        runs = [asyncio.run(visit(server)) for _ in range(sessions)]
    first, later = runs[0], runs[1:]
    lines = [f"Real server, browser-free sessions (ui.stclient): server CPU s (/proc, incl. transport) and "
             f"wall s per run; {sessions} session(s), one after another; the first "
             + ("after the warm-up." if warm else "cold (the warm-up starts with it and runs beside it)."),
             f"{'step':<20} {'1st CPU':>8} {'1st wall':>9} {'later CPU (median)':>19} {'later wall':>11} {'× 0.5 s':>8}"]
    for step in first:
        cpu_later = statistics.median(r[step][0] for r in later) if later else float("nan")
        wall_later = statistics.median(r[step][1] for r in later) if later else float("nan")
        ratio = "" if step in ("Home", "Load sample data") else f"{cpu_later / TARGET_FIRST:7.1f}×"
        lines.append(f"{step:<20} {first[step][0]:8.2f} {first[step][1]:9.2f} {cpu_later:19.2f} {wall_later:11.2f} {ratio:>8}")
    return "\n".join(lines)


def report(results: dict[str, dict[str, list[float]]], repeats: int) -> str:
    lines = [f"Server CPU seconds (time.process_time), median of {repeats} repeat(s); sample data.",
             f"Targets: widget change ≤ {TARGET_WIDGET} s (median over the page's widgets), "
             f"first render ≤ {TARGET_FIRST} s.", ""]
    lines.append(f"{'page':<9} {'step':<48} {'median s':>9} {'min s':>7} {'× target':>9}")
    for page, steps in results.items():
        widget_medians = []
        for step, values in steps.items():
            med = statistics.median(values)
            target = TARGET_FIRST if step.startswith(("first", "Load")) else TARGET_WIDGET
            if not step.startswith(("first", "rerun", "Load")):
                widget_medians.append(med)
            ratio = "" if step.startswith("Load") else f"{med / target:8.1f}×"
            lines.append(f"{page.strip('_'):<9} {step[:48]:<48} {med:9.2f} {min(values):7.2f} {ratio:>9}")
        if widget_medians:
            med = statistics.median(widget_medians)
            lines.append(f"{page:<9} {'= widget changes (median over widgets)':<48} {med:9.2f} {'':>7} "
                         f"{med / TARGET_WIDGET:8.1f}×")
        lines.append("")
    return "\n".join(lines)


def profile(page: str, widget: str | None = None, top: int = 25) -> str:
    """cProfile of one rerun of `page` (after Load sample data and its first render), or of the rerun
    after changing `widget` (a key or 'prefix*' as in PAGES)."""
    at = fresh_app()
    at.button(key="sample_home").click().run()
    at.switch_page(PAGES[page][0]).run()
    did = "rerun"
    if widget:
        open_panel(at, widget)
        w = find_widget(at, widget)
        if w is None:
            raise SystemExit(f"no widget {widget!r} on {page}")
        did = f"{w.key} {change(w)}"
    prof = cProfile.Profile()

    started = []

    def start_in_thread(*_):  # AppTest runs the script in a new thread: profile that thread only
        sys.setprofile(None)
        if not started and threading.current_thread().name != "MainThread":
            started.append(threading.current_thread().name)
            prof.enable()

    start = cpu()
    threading.setprofile(start_in_thread)
    try:
        at.run()
    finally:
        threading.setprofile(None)
        prof.disable()
    spent = cpu() - start
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative")
    # print_stats with a regex list: keep only the project's files and the main library calls
    pattern = "|".join(p.replace(".", r"\.") for p in PROFILE_KEEP)
    stats.print_stats(pattern, top)
    return (f"cProfile, {page}: {did} (thread {started[0] if started else '?'}): {spent:.2f} s CPU "
            "(profiling overhead included)\n"
            + by_package(stats) + buf.getvalue())


# Own time (tottime) summed by where the code lives: says how much is charts, tables, SQL, the page.
PACKAGES = [("altair + jsonschema (chart spec build/validate)", "altair"), ("", "jsonschema"),
            ("", "referencing"), ("", "narwhals"), ("duckdb (SQL)", "duckdb"), ("pandas", "pandas"),
            ("numpy/scipy/statsmodels", "numpy"), ("", "scipy"), ("", "statsmodels"),
            ("pyarrow (Arrow serialisation)", "pyarrow"), ("streamlit", "streamlit"),
            ("protobuf", "google/protobuf"), ("other libraries", "site-packages"),
            ("project lib/", str(ROOT / "lib")), ("project ui/ + app_pages/", str(ROOT / "ui")),
            ("", str(ROOT / "app_pages"))]


def by_package(stats: pstats.Stats) -> str:
    """Own time by package. Only the script thread is profiled: work DuckDB does on its own threads is
    in the CPU figures of the timing run but not here."""
    totals: dict[str, float] = {}
    for (filename, _, func), (_, _, tottime, _, _) in stats.stats.items():
        label = "other (stdlib, builtins)"
        current = ""
        for name, marker in PACKAGES:
            current = name or current
            if marker in filename or (filename == "~" and marker in func):
                label = current
                break
        totals[label] = totals.get(label, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    rows = [f"  {label:<55} {t:6.2f} s {t / whole:5.0%}" for label, t in
            sorted(totals.items(), key=lambda kv: -kv[1])]
    return "Own time by package (tottime, profiled):\n" + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default=",".join(PAGES), help=f"comma-separated, of: {', '.join(PAGES)}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", metavar="PAGE", choices=list(PAGES),
                        help="instead of timing, profile one rerun of PAGE and print the top 25")
    parser.add_argument("--profile-widget", metavar="KEY",
                        help="with --profile: profile the rerun after changing this widget (key or 'prefix*')")
    parser.add_argument("--reruns", type=int, metavar="N", default=0,
                        help="instead: N reruns without change per page, median and min (the per-click floor)")
    parser.add_argument("--no-memo", action="store_true",
                        help="without ui.cache's memo (every figure and chart computed on every run): "
                             "the same pages as they cost before it")
    parser.add_argument("--server", type=int, metavar="SESSIONS", default=0,
                        help="on a real server, SESSIONS browser-free sessions one after another (see above)")
    parser.add_argument("--server-warm", action="store_true", help="with --server: wait for the warm-up first")
    parser.add_argument("--server-clicks", metavar="PAGE", choices=["email", "funnel", "cohorts"],
                        help="CPU per widget click on a real server with a browser, fragments included "
                             "(bench/server_clicks.py)")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="with --server-clicks: the app to run")
    args = parser.parse_args(argv)
    if args.server_clicks:  # helper perf-email's mode: its own module
        from bench.server_clicks import measure_server as measure_clicks, report_server

        print(report_server(measure_clicks(args.server_clicks, args.app_dir.resolve()), args.server_clicks))
        return 0
    if args.server:
        print(measure_server(args.server, args.server_warm))
        return 0
    # Every AppTest session saves its workspace after each change: into a store of this run's own, never the
    # user's (~/.boundary/workspaces). There, a store grown past the quota fails every save, and a failed
    # save is tried again on every rerun (0.1–0.25 s of each figure).
    import os
    import shutil
    import tempfile

    os.environ["BOUNDARY_DATA_DIR"] = store = tempfile.mkdtemp(prefix="boundary-bench-workspaces-")
    try:
        return _measure_in_process(args, parser)
    finally:
        shutil.rmtree(store, ignore_errors=True)


def _measure_in_process(args, parser) -> int:
    if args.no_memo:
        import ui.cache

        ui.cache.session_memo = lambda: None
    if args.profile:
        print(profile(args.profile, args.profile_widget))
        return 0
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        parser.error(f"unknown page(s) {unknown}; choose from {list(PAGES)}")
    if args.reruns:
        print(measure_reruns(pages, args.reruns))
        return 0
    results = measure(pages, max(1, args.repeats))
    print(report({"_load": results.pop("_load"), **results}, max(1, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

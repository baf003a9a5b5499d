"""Warm the server-wide sample figures once per server (issue #20): every visitor's first render of a
page on the sample data then costs what a later visitor's does (0.1–0.25 s instead of 0.6–2.2 s).

How: the server's first session starts a daemon thread that visits the app itself, without a
browser, over its own websocket (ui.stclient; 127.0.0.1 unless server.address names one address):
Home, "Load sample data", then every page once with its default choices. That is an ordinary
session of the app, so its figures and chart specs land in ui.cache's SAMPLE_MEMO exactly as a
visitor's would — the same keys, the same Streamlit context, the same DuckDB cursors; nothing is run
outside a script thread.

Safety: the warm-up session holds only the bundled sample files (public); it is never saved to the
store and skips the sign-in gate (it is the server itself: the query string carries a random token
made per process, which never leaves it). It is polite: one page at a time, and before each page it
waits (at most WAIT_BUSY_S) while another session's script is running, so it uses idle time and
does not queue in front of a visitor. Streamlit runs no app code before a first session, hence the
first session starts it; BOUNDARY_WARMUP=0 turns it off. Under serve.py every worker process is a server
of its own: each warms itself, and serve.py opens each once as soon as it is up.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import os
import secrets
import sys
import threading
import time

PARAM = "boundary_warmup"
TOKEN = secrets.token_urlsafe(24)
WAIT_BUSY_S = 5.0  # most seconds to wait for other sessions' runs before each page
ENABLED = os.environ.get("BOUNDARY_WARMUP", "1") != "0"

_LOCK = threading.Lock()
_STARTED = False
DONE = threading.Event()
summary: dict[str, float] = {}  # page → wall seconds of its warm-up run, once done


def is_warmup_session() -> bool:
    """True in the warm-up's own session (its query string carries this process's token)."""
    import streamlit as st

    given = st.query_params.get(PARAM)
    return isinstance(given, str) and secrets.compare_digest(given, TOKEN)


def start() -> None:
    """Start the warm-up once per process (no-op outside a server run, or when turned off)."""
    global _STARTED
    if not ENABLED or _STARTED:
        return
    from streamlit import runtime
    from streamlit.runtime import Runtime

    # not outside a server, nor under AppTest (its Runtime is a stand-in, and the port in the
    # config may be another server's)
    if not runtime.exists() or type(runtime.get_instance()) is not Runtime:
        return
    with _LOCK:
        if _STARTED:
            return
        _STARTED = True
    threading.Thread(target=_run, name="boundary-sample-warmup", daemon=True).start()


def _url() -> str | None:
    from streamlit import config

    if config.get_option("server.sslCertFile"):
        return None  # https on a self-signed certificate: not worth a client here
    address = config.get_option("server.address") or "127.0.0.1"
    if address in ("0.0.0.0", "::"):
        address = "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{host}:{config.get_option('server.port')}" + (f"/{base}" if base else "")


def _others_running() -> bool:
    """Whether another session's script is running now (Streamlit's session manager; False if its
    internals moved)."""
    try:
        from streamlit import runtime
        from streamlit.runtime.app_session import AppSessionState

        sessions = runtime.get_instance()._session_mgr.list_active_sessions()
        return any(s.session._state == AppSessionState.APP_IS_RUNNING for s in sessions)
    except Exception:  # noqa: BLE001 — only a courtesy
        return False


async def _wait_idle() -> None:
    until = time.monotonic() + WAIT_BUSY_S
    while time.monotonic() < until and _others_running():
        await asyncio.sleep(0.1)


async def visit(url: str, query_string: str, before_each=None) -> dict[str, float]:
    """Home, "Load sample data", then every page once: page → wall seconds of its run."""
    from ui.stclient import Session

    out: dict[str, float] = {}
    async with Session(url, query_string=query_string) as session:
        await session.run()
        if before_each:
            await before_each()
        out["Load sample data"] = (await session.run(click="sample_home")).seconds
        for title in list(session.pages)[1:]:
            if before_each:
                await before_each()
            result = await session.run(page=title)
            if result.exceptions:
                raise RuntimeError(f"{title}: {result.exceptions[0]}")
            out[title] = result.seconds
    return out


def _run() -> None:
    time.sleep(1.0)  # let the first session's own run go first
    url = _url()
    started = time.monotonic()
    try:
        if url is None:
            return
        summary.update(asyncio.run(visit(url, f"{PARAM}={TOKEN}", _wait_idle)))
        print(f"Boundary: sample figures warmed in {time.monotonic() - started:.1f} s "
              f"({len(summary) - 1} pages)", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 — a failed warm-up only means visitors compute the figures
        print(f"Boundary: sample warm-up stopped ({type(exc).__name__}: {exc}); visitors compute the "
              "sample figures themselves", file=sys.stderr, flush=True)
    finally:
        freeze_startup_objects()
        DONE.set()


def freeze_startup_objects() -> None:
    """Leave what exists now — imported modules, the sample figures — out of Python's full garbage
    collections: they live as long as the server, and walking them (≈270,000 objects, 0.16 s of
    CPU) landed on a visitor's click every few clicks. Objects made later are collected as usual;
    at exit they are handed back so the interpreter can free them. Garbage is collected first, so
    none of it is kept for good. bench/interaction.py does the same after its imports."""
    gc.collect()
    gc.freeze()
    atexit.register(gc.unfreeze)

"""Release a browser session's Workspace when Streamlit is done with the session.

What Streamlit 1.67 does (read in streamlit/runtime/websocket_session_manager.py and
memory_session_storage.py): when a tab closes, its session is disconnected and parked in memory
for `server.disconnectedSessionTTL` seconds (default 120) so that a reconnect can resume it with
its state. After that the session is simply dropped from a TTL cache — `AppSession.shutdown()` is
not called. So its `st.session_state` (our Workspace: DuckDB connection, spill directory) is freed
only whenever the garbage collector gets to it, and the raw bytes of its uploads stay in the
runtime's in-memory upload manager for the life of the process.

Here: `release_with_session(ws)` records the current session's Workspace; a daemon thread looks
every few seconds which recorded sessions are no longer active (`Runtime.is_active_session`, safe
from any thread). Once a session has been inactive for longer than the TTL plus a grace period it
can no longer be resumed, so its Workspace is closed (connection closed, spill directory removed)
and its uploaded files are dropped. A session that reconnects in time keeps everything.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from lib.datasets import Workspace

SWEEP_SECONDS = float(os.environ.get("BOUNDARY_SESSION_SWEEP_S", "10"))
GRACE_SECONDS = float(os.environ.get("BOUNDARY_SESSION_GRACE_S", "30"))


@dataclass
class _Tracked:
    workspaces: list[weakref.ref] = field(default_factory=list)
    gone_since: float | None = None


_LOCK = threading.Lock()
_TRACKED: dict[str, _Tracked] = {}
_THREAD: threading.Thread | None = None


def release_with_session(ws: Workspace) -> None:
    """Close `ws` once the current browser session is gone for good (no-op outside a server run)."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return
    with _LOCK:
        _TRACKED.setdefault(ctx.session_id, _Tracked()).workspaces.append(weakref.ref(ws))
    _start_sweeper()


def sweep(now: float, is_active: Callable[[str], bool], ttl: float, grace: float = GRACE_SECONDS,
          on_release: Callable[[str], None] | None = None) -> list[str]:
    """One pass: close the Workspaces of sessions inactive for more than `ttl + grace` seconds.

    A session seen active again forgets when it went away. Returns the released session ids.
    """
    released = []
    with _LOCK:
        for session_id, tracked in list(_TRACKED.items()):
            tracked.workspaces = [r for r in tracked.workspaces if r() is not None]
            if is_active(session_id):
                tracked.gone_since = None
                continue
            if tracked.gone_since is None:
                tracked.gone_since = now
            if now - tracked.gone_since > ttl + grace:
                for ref in tracked.workspaces:
                    ws = ref()
                    if ws is not None:
                        ws.close()
                del _TRACKED[session_id]
                released.append(session_id)
    for session_id in released:
        if on_release is not None:
            on_release(session_id)
    return released


def tracked_sessions() -> list[str]:
    with _LOCK:
        return list(_TRACKED)


def _start_sweeper() -> None:
    global _THREAD
    with _LOCK:
        if _THREAD is not None:
            return
        _THREAD = threading.Thread(target=_sweep_forever, name="boundary-session-release", daemon=True)
        _THREAD.start()


def _sweep_forever() -> None:
    """Runs while sessions are tracked; the thread ends (and `_THREAD` is cleared) under the lock."""
    global _THREAD
    from streamlit import config, runtime

    while True:
        time.sleep(SWEEP_SECONDS)
        if runtime.exists():
            rt = runtime.get_instance()
            ttl = float(config.get_option("server.disconnectedSessionTTL"))
            try:
                sweep(time.monotonic(), rt.is_active_session, ttl,
                      on_release=rt.uploaded_file_mgr.remove_session_files)
            except Exception:  # noqa: BLE001 — never let the sweeper die; the next pass tries again
                pass
        with _LOCK:
            if not _TRACKED or not runtime.exists():
                _THREAD = None
                return

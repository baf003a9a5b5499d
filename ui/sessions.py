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

Uploads: Streamlit's upload endpoint (`PUT /_stcore/upload_file/<session>/<file>`, starlette_routes.py)
accepts a file for any connected session that shows the XSRF cookie — the sign-in screen's session
too — and stores it with `runtime.uploaded_file_mgr.add_file`. So app.py calls `track_session()`
before the sign-in check (every session is released once gone, signed in or not) and `allow_uploads()`
once the check is passed; `guard_uploads` wraps the manager's `add_file` so that a session that has
not passed it is refused (403) and one that would hold more than `SESSION_UPLOAD_MB` is refused
(413). A session sent back to the sign-in screen has its files dropped at once.
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
# Most upload bytes one session may hold at once, over all its uploaders (server.maxUploadSize caps
# one file). README "Limits and settings". Per session, so unchanged under serve.py's several server
# processes (a session and its uploads live in one); nothing here counts over the whole server.
SESSION_UPLOAD_MB = float(os.environ.get("BOUNDARY_SESSION_UPLOAD_MB", "500"))


@dataclass
class _Tracked:
    workspaces: list[weakref.ref] = field(default_factory=list)
    gone_since: float | None = None


_LOCK = threading.Lock()
_TRACKED: dict[str, _Tracked] = {}
_THREAD: threading.Thread | None = None
_UPLOADERS: set[str] = set()  # sessions that passed the sign-in check (all of them when it is off)
_UPLOAD_LOCK = threading.Lock()  # one check-and-store at a time, so two uploads can't both fit
_REFUSED: dict[str, str] = {}  # session → why its last upload was refused (the widget says only "413")


def _current_session() -> str | None:
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None and runtime.exists() else None


def track_session() -> None:
    """Release the current session once it is gone, whether or not it ever signs in, and guard the
    upload endpoint (no-op outside a server run). Call before the sign-in check."""
    from streamlit import runtime

    session_id = _current_session()
    if session_id is None:
        return
    guard_uploads(runtime.get_instance().uploaded_file_mgr)
    with _LOCK:
        _TRACKED.setdefault(session_id, _Tracked())
    _start_sweeper()


def allow_uploads(allowed: bool = True) -> None:
    """Let the current session upload (it passed the sign-in check) or not; refusing also drops the
    files it holds (a signed-out tab that uploaded from the sign-in screen)."""
    from streamlit import runtime

    session_id = _current_session()
    if session_id is None:
        return
    with _LOCK:
        (_UPLOADERS.add if allowed else _UPLOADERS.discard)(session_id)
    if not allowed:
        runtime.get_instance().uploaded_file_mgr.remove_session_files(session_id)


def held_bytes(mgr, session_id: str, except_file: str | None = None) -> int:
    """Upload bytes the session holds in Streamlit 1.67's MemoryUploadedFileManager (`file_storage`:
    session → file id → UploadedFileRec), leaving out a file about to be replaced."""
    with mgr._lock:
        files = mgr.file_storage.get(session_id) or {}
        return sum(len(rec.data) for file_id, rec in files.items() if file_id != except_file)


def check_upload(session_id: str, size: int, held: int) -> None:
    """Raise the HTTP refusal for an upload the session may not store (see module docstring)."""
    from starlette.exceptions import HTTPException

    with _LOCK:
        allowed = session_id in _UPLOADERS
    if not allowed:
        raise HTTPException(status_code=403, detail="Sign in to upload files.")
    if held + size > SESSION_UPLOAD_MB * 1024 * 1024:
        cap = f"at most {SESSION_UPLOAD_MB:,.0f} MB per session"
        if size > SESSION_UPLOAD_MB * 1024 * 1024:
            reason = (f"An upload of {size / 1e6:,.1f} MB was refused: uploads are kept up to {cap}. "
                      "Ask the person who runs Boundary to raise BOUNDARY_SESSION_UPLOAD_MB.")
        else:
            reason = (f"An upload of {size / 1e6:,.1f} MB was refused: this session already holds "
                      f"{held / 1e6:,.1f} MB of uploaded files, and uploads are kept up to {cap}. Remove a "
                      "file you no longer need (the × beside it), or open Boundary in a new tab.")
        with _LOCK:
            _REFUSED[session_id] = reason
        raise HTTPException(status_code=413, detail=reason)


def take_refusal() -> str | None:
    """Why the current session's last upload was refused, once (then forgotten)."""
    session_id = _current_session()
    with _LOCK:
        return _REFUSED.pop(session_id, None) if session_id else None


def guard_uploads(mgr) -> None:
    """Wrap the upload manager's `add_file` (called by the upload endpoint) with `check_upload`.

    The manager lives as long as the server; this module does not: when a source file changes,
    Streamlit imports the app's modules afresh. So who may upload (and why an upload was refused) is
    kept on the manager, shared by every import of this module, and the wrapper is replaced by the
    newest import's — otherwise an old wrapper checked an old, empty list and refused everyone (403).
    """
    global _UPLOADERS, _REFUSED
    shared = mgr.__dict__.setdefault("_boundary_uploaders", set())
    refused = mgr.__dict__.setdefault("_boundary_refused", {})
    if _UPLOADERS is not shared:
        shared |= _UPLOADERS
        _UPLOADERS = shared
    if _REFUSED is not refused:
        refused.update(_REFUSED)
        _REFUSED = refused
    if getattr(mgr, "_boundary_guard", None) is check_upload:
        return
    store = getattr(mgr.add_file, "original", mgr.add_file)  # after a reload: the manager's own, not a wrapper

    def add_file(session_id: str, file) -> None:
        with _UPLOAD_LOCK:
            check_upload(session_id, len(file.data), held_bytes(mgr, session_id, file.file_id))
            store(session_id=session_id, file=file)

    add_file.original = store
    mgr.add_file = add_file
    mgr._boundary_guard = check_upload


def release_with_session(ws: Workspace) -> None:
    """Close `ws` once the current browser session is gone for good (no-op outside a server run)."""
    session_id = _current_session()
    if session_id is None:
        return
    with _LOCK:
        _TRACKED.setdefault(session_id, _Tracked()).workspaces.append(weakref.ref(ws))
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
                _UPLOADERS.discard(session_id)
                _REFUSED.pop(session_id, None)
                released.append(session_id)
    for session_id in released:
        if on_release is not None:
            on_release(session_id)
    return released


def drop_unallowed_files(mgr) -> list[str]:
    """Drop the files of sessions not allowed to upload — stored before the guard was installed
    (the server's first script run) by a client that never ran the app. Returns those sessions."""
    with mgr._lock:
        holders = list(mgr.file_storage)
    with _LOCK:
        strays = [s for s in holders if s not in _UPLOADERS]
    for session_id in strays:
        mgr.remove_session_files(session_id)
    return strays


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
                drop_unallowed_files(rt.uploaded_file_mgr)
            except Exception:  # noqa: BLE001 — never let the sweeper die; the next pass tries again
                pass
        with _LOCK:
            if not _TRACKED or not runtime.exists():
                _THREAD = None
                return

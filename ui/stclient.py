"""A browser-free Streamlit client: one session over the app's websocket, as the frontend drives it.

Used by the sample warm-up (ui.warmup: the server visits its own pages once at start) and by
`bench/load.py --client ws` (the server's share of a load test, without 20 Chromium contexts on the
same cores). What the frontend does, and this does the same (Streamlit 1.67: its
starlette_websocket.py and the BackMsg/ForwardMsg protos):

- connect to ws://host:port/<base>/_stcore/stream with the subprotocol "streamlit";
- ask for a run with a BackMsg `rerun_script` holding a ClientState: the query string, the page's
  script hash ("" = the default page) and the widgets' states (a button click is its id with
  `trigger_value` set);
- read ForwardMsgs until `script_finished` with FINISHED_SUCCESSFULLY (FINISHED_EARLY_FOR_RERUN is
  an st.rerun: the server starts the next run by itself). Elements arrive as `delta.new_element`;
  the pages as `navigation.app_pages` (name, script hash).

No cached message hashes are sent, so the server sends every message in full (a browser would say
which it already holds). Nothing is drawn: the time measured is the server's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class RunResult:
    """What one run sent back: elements by kind, exceptions, error boxes, and wall seconds."""

    seconds: float = 0.0
    exceptions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # st.error boxes
    buttons: dict[str, str] = field(default_factory=dict)  # widget id → label
    headings: list[str] = field(default_factory=list)
    elements: int = 0


class Session:
    """One Streamlit session over a websocket (use with `async with`)."""

    def __init__(self, url: str, query_string: str = "", timeout: float = 180.0,
                 headers: dict[str, str] | None = None) -> None:
        base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.ws_url = base + "/_stcore/stream"
        self.query_string = query_string
        self.timeout = timeout
        self.headers = headers or {}  # e.g. a Cookie (serve.py routes a browser by its cookie)
        self.pages: dict[str, str] = {}  # page title → script hash
        self.page_hash = ""
        self._ws = None

    async def __aenter__(self) -> "Session":
        import websockets

        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                            open_timeout=self.timeout, ping_interval=None,
                                            additional_headers=self.headers)
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()

    async def run(self, page: str | None = None, click: str | None = None) -> RunResult:
        """One rerun: on `page` (a title from `self.pages`; None = stay), clicking the button whose
        key is `click` (None = no click). Returns when the run (and any st.rerun it asked for) ends."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if page is not None:
            self.page_hash = self.pages[page]
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query_string
        state.page_script_hash = self.page_hash
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        if click is not None:
            widget = state.widget_states.widgets.add()
            widget.id = self._button_id(click)
            widget.trigger_value = True
        result = RunResult()
        started = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        deadline = started + self.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no end of the run in {self.timeout:.0f} s")
            data = await asyncio.wait_for(self._ws.recv(), timeout=left)
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in fwd.navigation.app_pages}
                self.page_hash = fwd.navigation.page_script_hash or self.page_hash
            elif kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash or self.page_hash
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element, result)
            elif kind == "page_not_found":
                result.errors.append(f"page not found: {fwd.page_not_found.page_name}")
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
                if status == "FINISHED_EARLY_FOR_RERUN":
                    result = RunResult(buttons=result.buttons)  # the next run replaces this one's page
                    continue
                if status == "FINISHED_WITH_COMPILE_ERROR":
                    result.exceptions.append("compile error")
                result.seconds = time.perf_counter() - started
                self.last = result
                return result

    def _element(self, element, result: RunResult) -> None:
        result.elements += 1
        which = element.WhichOneof("type")
        if which == "exception":
            result.exceptions.append(f"{element.exception.type}: {element.exception.message[:200]}")
        elif which == "alert" and element.alert.format == element.alert.ERROR:
            result.errors.append(element.alert.body[:200])
        elif which == "button":
            result.buttons[element.button.id] = element.button.label
        elif which == "heading":
            result.headings.append(element.heading.body)

    def _button_id(self, key: str) -> str:
        found = [i for i in getattr(self, "last", RunResult()).buttons if i.endswith("-" + key)]
        if not found:
            raise LookupError(f"no button with key {key!r} on the page")
        return found[0]

"""The sample warm-up (ui/warmup.py) on a real `streamlit run app.py`, driven without a browser by
ui.stclient: the server's first session starts it; it visits every page on the sample data without
an error; it saves nothing to the store; and a visitor afterwards gets every page from the figures
it left (and their own session works as before: the sample loaded, every page drawn)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bench.appserver import app_server
from tests.conftest import run_async


def _visit(url: str) -> dict[str, object]:
    from ui.stclient import Session

    async def go():
        out = {}
        async with Session(url, timeout=120) as session:
            home = await session.run()
            out["home buttons"] = list(home.buttons.values())
            loaded = await session.run(click="sample_home")
            out["after load"] = loaded.headings
            for title in list(session.pages)[1:]:
                result = await session.run(page=title)
                out[title] = (result.headings[:1], result.exceptions, result.errors)
        return out

    return run_async(go())


def _open_home_and_wait_for_the_warm_up(url: str, log: Path):
    """A first session's Home (which starts the warm-up), then the server log once the warm-up ended."""
    from ui.stclient import Session

    async def open_home():
        async with Session(url) as session:
            return await session.run()

    first = run_async(open_home())
    deadline = time.time() + 300
    while time.time() < deadline and "Boundary: sample" not in log.read_text(errors="replace"):
        time.sleep(0.5)
    return first, log.read_text(errors="replace")


def test_the_warm_up_visits_every_page_saves_nothing_and_serves_the_next_visitor():
    with app_server() as server:
        url, store = server.url, server.store
        first, text = _open_home_and_wait_for_the_warm_up(url, server.log)
        assert "Load sample data" in first.buttons.values()
        assert "Boundary: sample figures warmed" in text, text[-2000:]
        assert not store.exists() or not any(store.iterdir())  # the warm-up saved no workspace

        visitor = _visit(url)
        assert "Loaded in this session" in visitor["after load"]
        pages = {k: v for k, v in visitor.items() if k not in ("home buttons", "after load")}
        warmed = re.search(r"warmed in [0-9.]+ s \((\d+) pages\)", text)
        assert warmed and int(warmed.group(1)) == len(pages) >= 9  # every page of the app (9 at the time)
        for title, (headings, exceptions, errors) in pages.items():
            assert headings and not exceptions and not errors, (title, headings, exceptions, errors)
        assert store.exists() and len(list(store.iterdir())) == 1  # the visitor's own workspace is saved


def test_with_sign_in_on_the_warm_up_runs_and_a_signed_out_visitor_still_sees_only_the_sign_in(tmp_path):
    """The warm-up passes the sign-in gate by its per-process token alone; nobody else does."""
    import secrets as tokens

    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:1/oauth2callback"\n'
        f'cookie_secret = "{tokens.token_hex(32)}"\n'
        'client_id = "boundary-test"\nclient_secret = "boundary-test-secret"\n'
        'server_metadata_url = "http://127.0.0.1:1/.well-known/openid-configuration"\n', encoding="utf-8")
    with app_server("--secrets.files", str(secrets_file)) as server:
        url, store = server.url, server.store
        first, text = _open_home_and_wait_for_the_warm_up(url, server.log)
        assert set(first.buttons.values()) == {"Sign in"}  # the first visitor: the sign-in screen only
        assert "Boundary: sample figures warmed" in text, text[-2000:]
        from ui import warmup
        from ui.stclient import Session

        async def guess():  # a made-up token is an ordinary signed-out visitor
            async with Session(url, query_string=f"{warmup.PARAM}=guessed") as session:
                return await session.run(), session.pages

        result, pages = run_async(guess())
        assert set(result.buttons.values()) == {"Sign in"} and set(pages) <= {"Sign in"}
        assert not store.exists() or not any(store.iterdir())


def test_no_warm_up_under_apptest():
    """AppTest stands in for the Runtime, and the configured port may be another server's."""
    from tests.apptest import fresh_app
    from ui import warmup

    fresh_app()
    assert not warmup._STARTED

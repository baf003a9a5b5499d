"""Two browsers upload a real export through serve.py's front with two worker processes: each is
sent to its own worker (the second arrives while the first holds a session), the upload (a PUT to
/_stcore/upload_file/<session>/<file>) reaches the worker that holds the browser's session, and the page
draws the file. Without the sticky cookie the upload would land on the other worker half the time and be
refused there (an unknown session)."""

from __future__ import annotations

import os

import pytest

from bench.appserver import ServerDidNotStart, app_server
from tests.browser.conftest import open_page, upload
from tests.browser.test_auth import oidc_url  # noqa: F401 — the offline OpenID provider fixture
from tests.conftest import real_file

pytestmark = pytest.mark.browser

FILE = "mailchimp_campaigns_mydomino.csv"


@pytest.fixture(scope="module")
def front_url():
    env = dict(os.environ, BOUNDARY_WARMUP="0")  # the warm-up is not what is tested: spare the CPU
    try:
        with app_server(workers=2, env=env, fresh_store=False, start_timeout=120) as server:
            yield server.url
    except ServerDidNotStart as exc:
        pytest.fail(f"serve.py did not start: {exc}")


def test_two_browsers_upload_a_real_file_through_the_front(browser, front_url):
    path = real_file(FILE)
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        pages = []
        for context in contexts:  # one after the other: the first holds its session when the second comes
            page = context.new_page()
            page.set_default_timeout(60_000)
            open_page(page, front_url, "email")
            pages.append(page)
        workers = [{c["name"]: c["value"] for c in context.cookies()}.get("boundary_worker") for context in contexts]
        assert sorted(workers) == ["1", "2"], workers  # each browser on its own worker
        for page in pages:
            upload(page, path)
            page.get_by_text(FILE).first.wait_for()
            text = page.locator("[data-testid='stCaptionContainer']").filter(has_text=FILE).first.inner_text()
            assert "Email campaigns" in text
            assert page.locator("[data-testid='stException']").count() == 0
            assert page.locator("[data-testid='stFileUploaderFileErrorMessage']").count() == 0
        # a reload keeps the browser on its worker
        open_page(pages[0], front_url, "email")
        assert {c["name"]: c["value"] for c in contexts[0].cookies()}["boundary_worker"] == workers[0]
    finally:
        for context in contexts:
            context.close()


def test_sign_in_through_the_front_and_on_either_worker(browser, oidc_url, tmp_path_factory):
    """st.login through the front: the provider's redirect comes back (/oauth2callback) to the worker
    that started it, and the identity cookie (signed with [auth] cookie_secret, which every worker
    reads) is good on the other worker too — a browser moved there (its worker restarted) stays signed in."""
    import secrets

    from bench.appserver import free_port
    from tests.browser.test_auth import ALLOWED, _sign_in

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secrets_file = tmp_path_factory.mktemp("serve_auth") / "secrets.toml"
    secrets_file.write_text(
        f'[auth]\nredirect_uri = "{url}/oauth2callback"\ncookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "boundary-test"\nclient_secret = "boundary-test-secret"\n'
        f'server_metadata_url = "{oidc_url}/.well-known/openid-configuration"\n'
        '\n[boundary]\nallowed_domains = ["agency.example"]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOUNDARY_ALLOWED_")}
    env["BOUNDARY_WARMUP"] = "0"
    with app_server("--secrets.files", str(secrets_file), workers=2, env=env, port=port, fresh_store=False,
                    start_timeout=120):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            _sign_in(page, url, ALLOWED)
            assert "Ana Analyst" in page.locator("[data-testid='stSidebar']").inner_text()
            mine = {c["name"]: c["value"] for c in context.cookies()}["boundary_worker"]
            other = "2" if mine == "1" else "1"
            context.add_cookies([{"name": "boundary_worker", "value": other, "url": url}])
            open_page(page, url, "email")
            assert {c["name"]: c["value"] for c in context.cookies()}["boundary_worker"] == other
            assert "Ana Analyst" in page.locator("[data-testid='stSidebar']").inner_text()
            assert page.locator("[data-testid='stFileUploader']").count() >= 1
        finally:
            context.close()

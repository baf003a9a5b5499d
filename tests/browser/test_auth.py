"""Sign-in end to end, offline: a real OpenID provider (oidc-provider-mock) on 127.0.0.1, the real app
under `streamlit run` with a temporary secrets.toml (passed with --secrets.files; nothing is written
to the repository), and Chromium signing in through the provider's form.

- a signed-out browser sees only the sign-in screen, at / and at a page URL such as /email;
- an allowed user (domain on the allow-list) signs in, sees their name and "Sign out" in the
  sidebar and reaches the pages; after signing out, /email is closed again;
- a user outside the allow-list sees only "Not allowed" with a sign-out button, at any URL;
- the upload endpoint refuses files from a signed-out tab (it used to keep them in memory for the
  life of the server) and from one outside the allow-list; a signed-in user's upload is accepted.
"""

from __future__ import annotations

import os
import secrets
import threading

import pytest

from bench.appserver import free_port
from tests.browser.conftest import open_page, page_url, running_app, wait_idle
from tests.browser.test_upload_abuse import held_upload_bytes, put_file, watch_session_id

pytestmark = pytest.mark.browser

ALLOWED = "ana@agency.example"
COLLEAGUE = "bob@agency.example"
OUTSIDER = "eve@elsewhere.example"


@pytest.fixture(scope="module")
def oidc_url():
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    from werkzeug.serving import make_server

    users = [oidc_provider_mock.User(sub=ALLOWED, claims={"email": ALLOWED, "email_verified": True,
                                                          "name": "Ana Analyst"}),
             oidc_provider_mock.User(sub=COLLEAGUE, claims={"email": COLLEAGUE, "email_verified": True,
                                                            "name": "Bob Colleague"}),
             oidc_provider_mock.User(sub=OUTSIDER, claims={"email": OUTSIDER, "email_verified": True,
                                                           "name": "Eve Outsider"})]
    server = make_server("127.0.0.1", 0, oidc_provider_mock.app(user_claims=users), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def auth_app_url(oidc_url, tmp_path_factory):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("auth_secrets")
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "boundary-test"\n'
        'client_secret = "boundary-test-secret"\n'
        f'server_metadata_url = "{oidc_url}/.well-known/openid-configuration"\n'
        "\n[boundary]\n"
        'allowed_domains = ["agency.example"]\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOUNDARY_ALLOWED_")}
    with running_app("--secrets.files", str(secrets_file), env=env, port=port) as app:
        yield app


def _new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    return context, pg


@pytest.fixture
def fresh(browser):
    """A new browser context per test: no cookies, nobody signed in."""
    context, pg = _new_page(browser)
    yield pg
    context.close()


@pytest.fixture
def colleague(browser):
    """A second browser context (another person's browser)."""
    context, pg = _new_page(browser)
    yield pg
    context.close()


def _heading(page) -> str:
    return page.locator("[data-testid='stMain'] h1").first.inner_text().strip()


def _assert_nothing_reachable(page) -> None:
    """No page ran: no uploader, no sample button, no navigation links."""
    assert page.locator("[data-testid='stFileUploader']").count() == 0
    assert page.get_by_role("button", name="Load sample data").count() == 0
    assert page.locator("[data-testid='stSidebarNav']").count() == 0
    assert page.locator("[data-testid='stSidebarNavLink']").count() == 0


def _sign_in(page, app_url: str, who: str) -> None:
    open_page(page, app_url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**")  # the provider's form
    page.get_by_role("button", name=who, exact=True).click()
    page.wait_for_url(f"{app_url}/**")
    wait_idle(page)


def test_signed_out_browser_gets_only_the_sign_in_screen(fresh, auth_app_url):
    for path in ("", "email", "sql", "report"):
        open_page(fresh, auth_app_url, path)
        assert _heading(fresh) == "Boundary"
        assert fresh.get_by_role("button", name="Sign in").is_visible()
        _assert_nothing_reachable(fresh)


def test_allowed_user_signs_in_reaches_pages_and_signs_out(fresh, auth_app_url):
    _sign_in(fresh, auth_app_url, ALLOWED)
    sidebar = fresh.locator("[data-testid='stSidebar']")
    assert "Ana Analyst" in sidebar.inner_text()
    assert sidebar.get_by_role("button", name="Sign out").is_visible()
    fresh.locator("[data-testid='stSidebarNavLink']", has_text="Email").first.click()
    fresh.wait_for_url(page_url("email"))
    wait_idle(fresh)
    assert fresh.locator("[data-testid='stFileUploader']").count() >= 1
    assert _heading(fresh) != "Boundary"
    # a direct page URL works too once signed in (the identity cookie is sent)
    open_page(fresh, auth_app_url, "sql")
    assert fresh.locator("[data-testid='stSidebarNavLink']").count() >= 5
    assert "Ana Analyst" in fresh.locator("[data-testid='stSidebar']").inner_text()

    fresh.locator("[data-testid='stSidebar']").get_by_role("button", name="Sign out").click()
    fresh.wait_for_url("**/end_session**")  # the provider's own sign-out (RP-initiated logout)
    open_page(fresh, auth_app_url, "email")
    assert _heading(fresh) == "Boundary"
    _assert_nothing_reachable(fresh)


def test_user_outside_the_allow_list_sees_only_not_allowed(fresh, auth_app_url):
    _sign_in(fresh, auth_app_url, OUTSIDER)
    assert _heading(fresh) == "Not allowed"
    assert OUTSIDER in fresh.locator("[data-testid='stMain']").inner_text()
    assert fresh.get_by_role("button", name="Sign out").is_visible()
    _assert_nothing_reachable(fresh)
    open_page(fresh, auth_app_url, "email")
    assert _heading(fresh) == "Not allowed"
    _assert_nothing_reachable(fresh)


def test_upload_endpoint_refuses_signed_out_and_outside_sessions(fresh, auth_app_url):
    ids = watch_session_id(fresh)
    open_page(fresh, auth_app_url)  # the sign-in screen: no uploader, but a live session
    refused = put_file(fresh, auth_app_url, ids[-1], "f1", 2_000_000)
    assert refused.status == 403
    assert held_upload_bytes(fresh, auth_app_url) == 0
    _sign_in(fresh, auth_app_url, OUTSIDER)
    assert put_file(fresh, auth_app_url, ids[-1], "f1", 2_000_000).status == 403
    assert held_upload_bytes(fresh, auth_app_url) == 0


def test_signed_in_user_can_upload(fresh, auth_app_url):
    ids = watch_session_id(fresh)
    _sign_in(fresh, auth_app_url, ALLOWED)
    assert put_file(fresh, auth_app_url, ids[-1], "f1", 2_000).status == 204


def test_a_workspace_is_private_until_shared_and_then_opens_read_only(fresh, colleague, auth_app_url):
    from tests.browser.test_workspace import figures, go, workspace_id

    _sign_in(fresh, auth_app_url, ALLOWED)
    fresh.get_by_role("button", name="Load sample data").click()
    wait_idle(fresh)
    wid = workspace_id(fresh)
    go(fresh, "NPS")
    ana_sees = figures(fresh)

    _sign_in(colleague, auth_app_url, COLLEAGUE)
    open_page(colleague, auth_app_url, f"nps?w={wid}")  # Bob has the link but it is not shared
    assert colleague.get_by_text("not yours or not shared").count() == 1
    assert colleague.locator("[data-testid='stMetric']").count() == 0
    go(colleague, "Home")
    assert "Load sample data" in colleague.locator("[data-testid='stMain']").inner_text()  # nothing of Ana's

    go(fresh, "Home")
    fresh.get_by_role("button", name="Share with the team").click()
    wait_idle(fresh)
    assert fresh.get_by_text(f"?w={wid}").count() >= 1  # the link to send

    open_page(colleague, auth_app_url, f"nps?w={wid}")
    assert colleague.get_by_text("read-only copy of a workspace shared by ana@agency.example").count() == 1
    assert figures(colleague) == ana_sees
    go(colleague, "Home")  # Bob's own list stays empty: the shared one is Ana's
    assert colleague.get_by_text("None saved yet").count() == 1

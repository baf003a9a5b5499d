"""The sign-in gate: `gate()` runs in app.py before any page.

- No `[auth]` section in `.streamlit/secrets.toml` → does nothing (a laptop user sees no login).
- `[auth]` configured, not signed in → a sign-in screen, then `st.stop()`: st.navigation is never
  reached, so no page runs — whatever URL was opened (`/email` included) — and no data is loaded.
- Signed in but not on the allow-list (`lib.access`) → a plain "not allowed" screen with a sign-out
  button, then `st.stop()`.
- Allowed → the user's name and "Sign out" in the sidebar, and the app runs.

Sign-in is Streamlit's OpenID Connect (`st.login`, `st.user`, `st.logout`); see the README's
"Host it for your team" for the secrets. A secrets file that exists but can't be read stops the app
with a message instead of silently running without sign-in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from lib.access import AllowList, email_from_claims
from lib.markup import escape_md
from ui.sessions import allow_uploads

_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")


class _UnreadableSecrets(Exception):
    pass


def _secrets_section(name: str) -> dict:
    """One section of secrets.toml as a plain dict; {} when there is no secrets file or no section."""
    try:
        if name not in st.secrets:
            return {}
        value = st.secrets[name]
    except FileNotFoundError as exc:  # Streamlit's "no secrets" (also raised when a file won't parse)
        if any(Path(p).is_file() for p in st.get_option("secrets.files")):
            raise _UnreadableSecrets(str(exc)) from exc
        return {}
    return _plain(value) if isinstance(value, Mapping) else {}


def _plain(value: Mapping) -> dict:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in value.items()}


def providers(auth: Mapping) -> list[str | None]:
    """Provider names to offer: the named `[auth.<name>]` sections, or [None] for the default one.

    >>> providers({"redirect_uri": "u", "cookie_secret": "s", "client_id": "c"})
    [None]
    >>> providers({"redirect_uri": "u", "cookie_secret": "s", "google": {"client_id": "c"}})
    ['google']
    """
    named = [k for k, v in auth.items() if isinstance(v, Mapping) and "client_id" in v]
    if any(k in auth for k in _PROVIDER_KEYS) or not named:
        return [None, *named]
    return named


def auth_configured() -> bool:
    """True when secrets.toml has an [auth] section — Streamlit's own test for enabling st.user."""
    return bool(_secrets_section("auth"))


def gate() -> None:
    """Stop the script unless sign-in is off or the signed-in user is allowed. See module docstring."""
    try:
        auth = _secrets_section("auth")
        settings = _secrets_section("boundary") if auth else {}
    except _UnreadableSecrets:
        st.title("Boundary can't start")
        st.error("The settings file `.streamlit/secrets.toml` exists but can't be read (is it valid "
                 "TOML?). Fix it and restart; until then nothing is shown.")
        st.stop()
    if not auth:
        return
    if not st.user.is_logged_in:
        _only(lambda: _sign_in_screen(providers(auth)), "Sign in")
    claims = st.user.to_dict()
    if not AllowList.from_settings(settings, os.environ).allows(claims):
        _only(lambda: _not_allowed_screen(claims), "Not allowed")
    _sidebar_user(claims)


def _only(screen, title: str) -> None:
    """Show this screen as the app's one and only page, then stop.

    Declaring it through st.navigation (hidden) keeps the sidebar empty of page links,
    so a signed-out browser sees no page names either; any URL lands on this screen. The session
    may not upload (its files, if any, are dropped): the upload endpoint takes any session's files.
    """
    allow_uploads(False)
    st.navigation([st.Page(screen, title=title, url_path="signin", default=True)], position="hidden").run()
    st.stop()


def _sign_in_screen(names: list[str | None]) -> None:
    st.title("Boundary")
    st.write("Sign in with your work account to continue.")
    for name in names:
        label = "Sign in" if name is None or len(names) == 1 else f"Sign in with {name.title()}"
        if st.button(label, key=f"auth_sign_in_{name or 'default'}", type="primary"):
            st.login(name)


def _not_allowed_screen(claims: Mapping) -> None:
    who = email_from_claims(claims) or claims.get("email") or claims.get("name") or "this account"
    st.title("Not allowed")
    st.write(f"You are signed in as **{escape_md(who)}**, which is not allowed to use this Boundary. "
             "Ask the person who runs it to add your address or domain, or sign in with another account.")
    if st.button("Sign out", key="auth_sign_out"):
        st.logout()


def _sidebar_user(claims: Mapping) -> None:
    name = claims.get("name") or claims.get("email") or "Signed in"
    with st.sidebar:
        st.caption(f"Signed in as **{escape_md(name)}**")  # names come from the provider: plain text
        if st.button("Sign out", key="auth_sign_out"):
            st.logout()

"""The allow-list (lib.access) and the session sweeper's bookkeeping (ui.sessions.sweep)."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lib.access import AllowList, email_from_claims, normalise_email
from lib.datasets import Workspace
from ui import sessions
from ui.auth import providers

SECTION = {"allowed_emails": ["Client.Lead@Client.Example"], "allowed_domains": ["agency.example"]}


def claims(email, **extra):
    return {"email": email, "email_verified": True, "is_logged_in": True, **extra}


@pytest.mark.parametrize("email, allowed", [
    ("ana@agency.example", True),            # domain listed
    ("ANA@Agency.Example", True),            # case does not matter
    ("client.lead@client.example", True),    # address listed
    ("other@client.example", False),         # same domain as a listed address is not enough
    ("ana@mail.agency.example", False),      # subdomain is a different domain
    ("ana@evilagency.example", False),       # suffix is not a domain match
    ("agency.example@evil.example", False),  # the domain in the local part does not count
    ("ana@agency.example.evil", False),
    ("not an address", False),
    ("", False),
])
def test_allow_list_matches_exact_addresses_and_domains(email, allowed):
    assert AllowList.from_settings(SECTION).allows(claims(email)) is allowed


def test_unverified_or_missing_email_is_refused():
    rules = AllowList.from_settings(SECTION)
    assert rules.allows(claims("ana@agency.example", email_verified=True))
    assert not rules.allows(claims("ana@agency.example", email_verified=False))
    assert not rules.allows(claims("ana@agency.example", email_verified="false"))
    assert not rules.allows({"is_logged_in": True, "name": "Ana", "preferred_username": "ana@agency.example"})
    assert email_from_claims({"email": " Ana@Agency.Example ", "email_verified": True}) == "ana@agency.example"


@pytest.mark.parametrize("verified, trusted", [
    (True, True), ("true", True), ("TRUE", True), ("True", True),
    (False, False), ("false", False),
    (0, False), ("0", False), ("no", False), (1, False), ("1", False), ("yes", False), ("", False),
    (None, False), ([True], False),
])
def test_only_a_true_email_verified_claim_verifies(verified, trusted):
    rules = AllowList.from_settings(SECTION)
    assert rules.allows(claims("ana@agency.example", email_verified=verified)) is trusted


def test_missing_email_verified_is_refused():
    """Multi-tenant Entra ID sends no email_verified: any tenant could name a user ana@agency.example."""
    assert email_from_claims({"email": "ana@agency.example"}) is None
    assert not AllowList.from_settings(SECTION).allows({"email": "ana@agency.example", "is_logged_in": True})


@pytest.mark.parametrize("extra,trusted", [
    ({"xms_edov": True}, True),  # Entra ID: the tenant owns agency.example (domain owner verified)
    ({"xms_edov": "true"}, True),
    ({"xms_edov": False}, False),  # any tenant may type this address into a user's mail attribute
    ({"xms_edov": 1}, False), ({"xms_edov": "1"}, False), ({"xms_edov": None}, False),
    ({"email_verified": False, "xms_edov": True}, False),  # a provider that says "not verified" is believed
    ({"email_verified": "no", "xms_edov": True}, False),
])
def test_entra_domain_owner_verified_claim_stands_in_only_for_a_missing_email_verified(extra, trusted):
    token = {"email": "ana@agency.example", "is_logged_in": True, **extra}
    assert AllowList.from_settings(SECTION).allows(token) is trusted


def test_addresses_that_change_under_nfkc_are_refused():
    kelvin = "\u212a"  # KELVIN SIGN: "K".lower() is "k", so it used to match a listed kim@
    rules = AllowList.from_settings({"allowed_emails": ["kim@client.example"], "allowed_domains": ["agency.example"]})
    assert rules.allows(claims("kim@client.example")) and rules.allows(claims("KIM@client.example"))
    assert not rules.allows(claims(f"{kelvin}im@client.example"))
    assert not rules.allows(claims(f"ana@agen\uff43y.example"))        # FULLWIDTH c in the domain
    assert not rules.allows(claims("ana@agency.exa\ufb00mple"))        # the ff ligature
    assert normalise_email(f"{kelvin}im@client.example") is None
    # a listed address typed with a compatibility character is read as NFKC would write it
    assert AllowList.from_settings({"allowed_domains": ["AGEN\uff23Y.example"]}).domains == {"agency.example"}


def test_nothing_listed_lets_nobody_in_and_star_lets_everyone_in():
    assert AllowList.from_settings({}, {}).empty
    assert not AllowList.from_settings({}, {}).allows(claims("ana@agency.example"))
    anyone = AllowList.from_settings({"allowed_domains": "*"})
    assert anyone.allows(claims("someone@anywhere.example"))
    assert not anyone.allows(claims("no-at-sign"))


def test_settings_and_environment_are_combined_and_strings_are_split():
    env = {"BOUNDARY_ALLOWED_EMAILS": "x@one.example; Y@Two.Example",
           "BOUNDARY_ALLOWED_DOMAINS": " @three.example , four.example "}
    rules = AllowList.from_settings({"allowed_domains": "agency.example five.example"}, env)
    assert rules.emails == {"x@one.example", "y@two.example"}
    assert rules.domains == {"three.example", "four.example", "agency.example", "five.example"}
    assert rules.allows(claims("z@four.example")) and rules.allows(claims("y@two.example"))
    assert not rules.allows(claims("z@one.example"))


def test_environment_alone_is_enough():
    rules = AllowList.from_settings(None, {"BOUNDARY_ALLOWED_DOMAINS": "agency.example"})
    assert rules.allows(claims("ana@agency.example"))


def test_normalise_email():
    assert normalise_email("  A@B.C ") == "a@b.c"
    assert normalise_email("a@b@c") is None
    assert normalise_email("@b.c") is None
    assert normalise_email("a@") is None
    assert normalise_email(None) is None


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_domain = st.builds(lambda parts: ".".join(parts), st.lists(_label, min_size=1, max_size=3))


@given(local=_label, domain=_domain, other=_domain)
def test_domain_rule_is_exact(local, domain, other):
    """A user is allowed by a domain rule exactly when their domain equals it (any case)."""
    rules = AllowList.from_settings({"allowed_domains": [domain.upper()]})
    assert rules.allows(claims(f"{local}@{other}")) is (other == domain)
    assert rules.allows(claims(f"{local}@{domain}"))


@given(emails=st.lists(st.builds(lambda a, d: f"{a}@{d}", _label, _domain), max_size=5),
       probe=st.builds(lambda a, d: f"{a}@{d}", _label, _domain))
def test_email_rule_allows_only_listed_addresses(emails, probe):
    rules = AllowList.from_settings({"allowed_emails": emails})
    assert rules.allows(claims(probe)) is (probe in emails)


def test_providers_default_and_named():
    assert providers({"redirect_uri": "u", "cookie_secret": "s", "client_id": "c",
                      "client_secret": "x", "server_metadata_url": "m"}) == [None]
    assert providers({"redirect_uri": "u", "cookie_secret": "s",
                      "google": {"client_id": "c"}, "microsoft": {"client_id": "d"}}) == ["google", "microsoft"]


# ----------------------------------------------------------- session release bookkeeping

@pytest.fixture
def clean_registry():
    with sessions._LOCK:
        saved = dict(sessions._TRACKED)
        sessions._TRACKED.clear()
    yield sessions._TRACKED
    with sessions._LOCK:
        sessions._TRACKED.clear()
        sessions._TRACKED.update(saved)


def test_sweep_releases_only_after_ttl_plus_grace_and_forgets_reconnects(clean_registry):
    import weakref

    ws_gone, ws_back = Workspace(), Workspace()
    spill = ws_gone._spill_dir
    clean_registry["gone"] = sessions._Tracked([weakref.ref(ws_gone)])
    clean_registry["back"] = sessions._Tracked([weakref.ref(ws_back)])
    active = {"gone": False, "back": False}
    released: list[str] = []
    # ttl 120 + grace 30 = 150 s: first seen gone at t=0
    assert sessions.sweep(0, active.get, ttl=120, grace=30, on_release=released.append) == []
    active["back"] = True  # reconnected at t=100: its clock restarts
    assert sessions.sweep(100, active.get, ttl=120, grace=30) == []
    active["back"] = False
    assert sessions.sweep(150, active.get, ttl=120, grace=30) == []  # exactly 150 s: not yet
    assert sessions.sweep(151, active.get, ttl=120, grace=30, on_release=released.append) == ["gone"]
    assert released == ["gone"]
    assert not os.path.exists(spill)  # spill directory removed
    with pytest.raises(Exception):
        ws_gone.con.execute("SELECT 1")  # connection closed
    assert ws_back.con.execute("SELECT 1").fetchone() == (1,)  # 'back' went away at 150: kept
    assert sessions.sweep(301, active.get, ttl=120, grace=30) == ["back"]
    assert clean_registry == {}


# ----------------------------------------------------------- uploads: who may store, how much

def _rec(file_id: str, size: int):
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    return UploadedFileRec(file_id=file_id, name="f.csv", type="text/csv", data=b"x" * size)


@pytest.fixture
def upload_mgr(clean_registry, monkeypatch):
    """Streamlit 1.67's real in-memory upload manager with the guard installed, a 1 MB session cap."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    monkeypatch.setattr(sessions, "SESSION_UPLOAD_MB", 1)
    monkeypatch.setattr(sessions, "_UPLOADERS", set())
    monkeypatch.setattr(sessions, "_REFUSED", {})
    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    sessions.guard_uploads(mgr)
    sessions.guard_uploads(mgr)  # installing twice wraps once
    return mgr


def test_session_that_has_not_passed_sign_in_cannot_store_uploads(upload_mgr):
    from starlette.exceptions import HTTPException

    with pytest.raises(HTTPException) as refused:
        upload_mgr.add_file(session_id="signed-out", file=_rec("a", 50_000))
    assert refused.value.status_code == 403
    assert upload_mgr.get_files("signed-out", ["a"]) == [] and upload_mgr.get_stats() == {}
    sessions._UPLOADERS.add("signed-in")
    upload_mgr.add_file(session_id="signed-in", file=_rec("a", 50_000))
    assert len(upload_mgr.get_files("signed-in", ["a"])) == 1


def test_session_upload_bytes_are_capped_and_a_replaced_file_does_not_count_twice(upload_mgr):
    from starlette.exceptions import HTTPException

    sessions._UPLOADERS.update({"s1", "s2", "s3"})
    mb = 1024 * 1024
    upload_mgr.add_file(session_id="s1", file=_rec("a", 600_000))
    upload_mgr.add_file(session_id="s1", file=_rec("a", 700_000))  # same file id: replaces, 700 000 held
    with pytest.raises(HTTPException) as refused:
        upload_mgr.add_file(session_id="s1", file=_rec("b", mb - 700_000 + 1))  # one byte over 1 MB
    assert refused.value.status_code == 413 and "at most 1 MB per session" in refused.value.detail
    assert "already holds 0.7 MB" in refused.value.detail
    upload_mgr.add_file(session_id="s1", file=_rec("b", mb - 700_000))  # exactly 1 MB: fits
    upload_mgr.add_file(session_id="s2", file=_rec("a", 600_000))  # the cap is per session
    assert sessions.held_bytes(upload_mgr, "s1") == mb
    upload_mgr.remove_file("s1", "a")  # the × on a file frees its room
    upload_mgr.add_file(session_id="s1", file=_rec("c", 700_000))
    with pytest.raises(HTTPException) as alone:
        upload_mgr.add_file(session_id="s3", file=_rec("a", mb + 1))  # over the cap on its own
    assert "raise BOUNDARY_SESSION_UPLOAD_MB" in alone.value.detail and "already holds" not in alone.value.detail


def test_files_of_sessions_not_allowed_are_dropped_by_the_sweeper(upload_mgr):
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    sessions._UPLOADERS.add("ok")
    upload_mgr.add_file(session_id="ok", file=_rec("a", 10))
    # stored before the guard existed (straight into the manager, as on a fresh server)
    upload_mgr.file_storage["stray"]["x"] = UploadedFileRec("x", "f", "t", b"y" * 10)
    assert sessions.drop_unallowed_files(upload_mgr) == ["stray"]
    assert list(upload_mgr.file_storage) == ["ok"]


def test_sweep_releases_a_session_that_never_made_a_workspace(clean_registry):
    """The sign-in screen's session has no Workspace; it is tracked all the same and its files go."""
    clean_registry["signin"] = sessions._Tracked()
    released: list[str] = []
    assert sessions.sweep(0, lambda s: False, ttl=2, grace=1, on_release=released.append) == []
    assert sessions.sweep(4, lambda s: False, ttl=2, grace=1, on_release=released.append) == ["signin"]
    assert released == ["signin"] and clean_registry == {}


def test_upload_guard_survives_the_app_modules_being_imported_again(upload_mgr):
    # On a source change Streamlit imports ui.sessions afresh (a new module with empty globals) while
    # the upload manager lives on. The old wrapper checked the old, empty list: every upload got 403.
    import importlib.util

    sessions._UPLOADERS.add("before-reload")
    spec = importlib.util.spec_from_file_location("ui_sessions_reimported", sessions.__file__)
    fresh = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fresh  # dataclasses look their module up there
    try:
        spec.loader.exec_module(fresh)
    finally:
        del sys.modules[spec.name]
    fresh.guard_uploads(upload_mgr)  # app.py's track_session() on the next run
    fresh._UPLOADERS.add("after-reload")  # allow_uploads() in the new module
    upload_mgr.add_file(session_id="after-reload", file=_rec("a", 10))
    upload_mgr.add_file(session_id="before-reload", file=_rec("a", 10))
    assert len(upload_mgr.get_files("after-reload", ["a"])) == 1
    assert len(upload_mgr.get_files("before-reload", ["a"])) == 1

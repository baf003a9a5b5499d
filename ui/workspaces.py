"""Saved workspaces at the page edge (lib.store does the work).

- `open_from_url()` (app.py, first run of a session): `?w=<id>` restores that saved workspace.
- `save_if_changed()` (app.py, after the page ran): when the Workspace's state key changed (a load, a
  column fix, a threshold), it is saved to the store and its id put in the URL, so a reload or the
  same link tomorrow brings it back.
- `workspace_file_section()` (Home): "Save workspace" downloads a `.boundary` file; "Open workspace"
  restores one in this session.
- `my_workspaces_section()` (Home): the owner's saved workspaces (name, datasets, size, last save),
  to open, rename, share or delete.
- `keep_choices()` (app.py, before the page) and `save_if_changed()` keep each page's choices
  (period, range, filters: the widget keys PAGE_CHOICES names) with the workspace, so a reload or a
  saved file shows the page as it was left — and a choice survives a visit to another page.
- `typed_editor()`: an st.data_editor whose rows (typed costs, incidents, a calendar) are kept too.

Without sign-in the id is the key, and "My workspaces" lists every workspace saved on this server
without an owner. With sign-in the owner (the signed-in email) is written in the manifest and only
that user can open, list, rename, share or delete the id. A shared workspace's link opens a
read-only copy for any signed-in user who passes the allow-list: their changes stay in their tab
unless they keep a copy as their own.
"""

from __future__ import annotations

import re
import time
from datetime import date, datetime

import pandas as pd
import streamlit as st

from lib import store
from lib.access import email_from_claims
from lib.datasets import digest, inputs_json
from lib.errors import BoundaryError
from lib.markup import escape_md
from ui.auth import auth_configured
from ui.common import SAVED_KEY, WORKSPACE_KEY, presenting, show_table, workspace

WORKSPACE_ID = "workspace_id"  # session key: this session's saved workspace id
_URL_CHECKED = "workspace_url_checked"
_OPENED = "workspace_file_opened"  # digest of the .boundary file last opened (re-runs see it again)
_NOT_SAVED = "workspace_not_saved"  # the user deleted this session's saved copy: do not save it again
_SAVE_FAILED = "workspace_save_failed"  # (save key, when, error) of the last save that failed
SAVE_RETRY_S = 60.0  # a save that failed is tried again after this long even if nothing changed
_DELETED = "workspace_deleted_message"  # what the delete button's callback has to say, shown once
_MINE_MESSAGE = "my_workspaces_message"  # (ok, text) from a "My workspaces" button's callback, shown once
_CHOICE, _NEW_NAME = "my_workspaces_choice", "my_workspaces_new_name"  # widget keys
SHARED_BY = "workspace_shared_by"  # session key: the owner of the shared workspace shown read-only here
_SEEDS = "workspace_typed_seeds"  # name → (what the table started from, saved rows) for typed_editor

# The widgets whose choice is kept with the workspace (keys as the pages name them), by what their value
# is: a saved value of another shape (a crafted file) is not set, since a widget given one breaks.
# Buttons, uploads and data editors are never here: they refuse values set from Session State.
# tests/test_page_workspace.py checks every keyed widget on the pages against this table.
PAGE_CHOICES = {
    "text": re.compile(  # selectbox, radio, segmented control, text input: one str
        r"email_(source|grain_.+|history_rate|time_rate|time_by|ab_rate)|in_app_(grain|type_rate)"
        r"|nps_(grain|segment|segment_search|manual_how|manual_scores|outcome_key|referral_grain|referral_source|response_grain)"
        r"|voice_(grain|dtype|dgrain|basis|terms_grain|terms_period_.+)"
        r"|ncvg_(grain_c|source|currency_.+|value|grain|gaps_.+|segment|segment_search)"
        r"|funnel_(grain|by|by_search|score_from|target|who|value_col)|coh_(grain|by|mode|rule|matrix_value|group|group_search)"
        r"|corr_(first|second|grain)|lift_(table|b_col|b_cond|b_val|o_col|o_cond|o_val)"),
    "number": re.compile(  # number input, slider: int or float
        r"(nps|ncvg)_segment_top|nps_manual_(p|pa|d)|funnel_by_top|coh_group_top|in_app_change_weeks|ncvg_window"
        r"|voice_lag|report_days"),
    "flag": re.compile(r"nps_comment_mkt|ncvg_cents_.+|campaigns_\w+"),  # checkbox: bool
    "texts": re.compile(  # multiselect: a list of str
        r"email_(lists|topics)_.+|nps_(comment_cats|channels)|voice_ch|funnel_stages_.+|report_(areas|severity)"
        r"|campaign_channels_\w+"),
    "date": re.compile(r"ncvg_as_of_.+"),  # date input: one date
    "range": re.compile(r"email_dates_.+|funnel_range_.+|ncvg_range_.+"),  # date input: a (start, end) range
}
_CHOICE_SHAPES = {
    "text": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "flag": lambda v: isinstance(v, bool),
    "texts": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "date": lambda v: isinstance(v, date),
    "range": lambda v: isinstance(v, tuple) and 1 <= len(v) <= 2 and all(isinstance(x, date) for x in v),
}


def choice_kind(key) -> str | None:
    """What a kept widget's value is ("text", "number", …), or None when the key is not a kept choice."""
    if isinstance(key, str):
        for kind, pattern in PAGE_CHOICES.items():
            if pattern.fullmatch(key):
                return kind
    return None


def owner() -> str | None:
    """The signed-in user's email when sign-in is on; None on a laptop without sign-in."""
    if not auth_configured() or not st.user.is_logged_in:
        return None
    return email_from_claims(st.user.to_dict())


def open_from_url() -> None:
    """On a session's first run, restore the workspace named by `?w=<id>` (once)."""
    if st.session_state.get(_URL_CHECKED):
        return
    st.session_state[_URL_CHECKED] = True
    workspace_id = st.query_params.get("w")
    if not workspace_id:
        return
    try:
        _open(workspace_id)
    except BoundaryError as exc:
        st.warning(escape_md(exc) + " A new workspace starts here.")
        del st.query_params["w"]


def _open(workspace_id: str) -> None:
    """Make the saved workspace this session's: restore it, keep saving it under its id (in the URL)
    — or, when it is someone else's shared workspace, show it read-only (saved nowhere).
    Raises StoreError (not yours, damaged) and leaves the session as it was."""
    snap = store.Store().load(workspace_id, owner=owner())
    _restore(snap)
    shared_by = snap.body.get("shared_by")
    if shared_by:
        st.session_state[SHARED_BY] = shared_by
        st.session_state.pop(WORKSPACE_ID, None)
    else:
        st.session_state.pop(SHARED_BY, None)
        st.session_state[WORKSPACE_ID] = workspace_id
    st.session_state[SAVED_KEY] = workspace().save_key()
    st.session_state.pop(_NOT_SAVED, None)
    st.query_params["w"] = workspace_id


def _restore(snap) -> None:
    """Restore a snapshot into this session: datasets, thresholds, typed inputs, page choices."""
    ws = workspace()
    ws.restore(snap)
    if ws.pending_remote:  # its tables on a Spark cluster are not kept: read again on request (lib.remote)
        st.info(f"This workspace also read tables on the Spark server {escape_md(ws.pending_remote['url'])}, "
                "which are not kept with it: open “Connect to Spark” and press Connect to read them again.")
    # The restored choices, typed tables and notebook cells replace this tab's widgets' values.
    for key in [k for k in st.session_state if isinstance(k, str) and (
            choice_kind(k) or k.startswith(("typed_", "sql_text_")))]:
        del st.session_state[key]
    st.session_state.pop(_SEEDS, None)
    keep_choices()


# ------------------------------------------------------------------ page choices


def _to_json(value):
    """A widget's value as JSON (dates tagged so they come back as dates); None when not plain."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"v": value}
    if isinstance(value, (date, datetime)) and not isinstance(value, pd.Timestamp):
        return {"date": value.isoformat()[:10]}
    if isinstance(value, (list, tuple)):
        items = [_to_json(v) for v in value]
        return None if any(i is None for i in items) else {"list" if isinstance(value, list) else "tuple": items}
    return None


def _from_json(saved):
    if not isinstance(saved, dict) or len(saved) != 1:
        raise ValueError(saved)
    (tag, value), = saved.items()
    if tag == "v" and (isinstance(value, (bool, int, float, str)) or value is None):
        return value
    if tag == "date":
        return date.fromisoformat(value)
    if tag in ("list", "tuple") and isinstance(value, list):
        items = [_from_json(v) for v in value]
        return items if tag == "list" else tuple(items)
    raise ValueError(saved)


def keep_choices() -> None:
    """Before the page runs: every kept choice this session does not hold (a restored workspace, or a
    widget of a page not shown in the last run, which Streamlit forgets) is set from the workspace.
    A value a widget no longer offers (other data) falls back to the widget's default."""
    ws = st.session_state.get(WORKSPACE_KEY)
    if ws is None:
        return
    for key, saved in ws.choices.items():
        kind = choice_kind(key)
        if kind is None or key in st.session_state:
            continue
        try:
            value = _from_json(saved)
        except (ValueError, TypeError):
            continue  # a damaged choice in a saved file: the widget shows its default
        if _CHOICE_SHAPES[kind](value):
            st.session_state[key] = value


def _collect_choices(ws) -> None:
    """After the page ran: the choices of the widgets it showed, into the workspace."""
    choices = dict(ws.choices)
    for key in list(st.session_state):
        kind = choice_kind(key)
        if kind is not None and _CHOICE_SHAPES[kind](st.session_state[key]):
            saved = _to_json(st.session_state[key])
            if saved is not None:
                choices[key] = saved
    if choices != ws.choices:
        ws.choices = choices


# ------------------------------------------------------------------ typed tables


def typed_editor(name: str, start: pd.DataFrame, **editor_args) -> pd.DataFrame:
    """st.data_editor over `start` (an empty table, a loaded file, default rules) whose edited rows are
    kept with the workspace (ws.inputs["typed:<name>"]): a reload, a saved file or another page visit
    shows them again. When `start` changes (another file), the table starts again from it."""
    ws = workspace()
    start_key = digest(start.to_json(date_format="iso", orient="split").encode())[:16]
    seeds = st.session_state.setdefault(_SEEDS, {})
    if name not in seeds or seeds[name][0] != start_key:
        saved = ws.inputs.get("typed:" + name)
        rows = saved.get("rows") if isinstance(saved, dict) and saved.get("start") == start_key else None
        seeds[name] = (start_key, rows if isinstance(rows, list) else None)
    rows = seeds[name][1]
    shown = start if rows is None else _typed_frame(rows, start)
    # The editor's key changes whenever what it starts from does: its edits are relative to that.
    edited = st.data_editor(shown, key=f"typed_{name}_{start_key}", **editor_args)
    rows = edited.to_dict("records")
    if inputs_json(rows) == inputs_json(start.to_dict("records")):  # as JSON: a blank (NaN) equals a blank
        ws.inputs.pop("typed:" + name, None)  # untouched: nothing typed to keep (and the data key stays)
    else:
        ws.set_input("typed:" + name, {"start": start_key, "rows": rows})
    return edited


def _typed_frame(rows: list, like: pd.DataFrame) -> pd.DataFrame:
    """Saved rows as a table with `like`'s columns and types (cells that no longer fit become blank)."""
    frame = pd.DataFrame([r for r in rows if isinstance(r, dict)], columns=list(like.columns))
    for column, dtype in like.dtypes.items():
        try:
            if dtype.kind == "M":
                frame[column] = pd.to_datetime(frame[column], errors="coerce").astype(dtype)
            elif dtype.kind in "iuf":
                frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(dtype)
            else:
                frame[column] = frame[column].astype(dtype)
        except (TypeError, ValueError):
            frame[column] = pd.Series([None] * len(frame), dtype=dtype)
    return frame.reset_index(drop=True)


def save_if_changed() -> None:
    """Save this session's workspace when it changed since the last save; keep its id in the URL."""
    ws = st.session_state.get(WORKSPACE_KEY)
    if ws is None:
        return
    _collect_choices(ws)
    if st.session_state.get(_NOT_SAVED) or st.session_state.get(SHARED_BY):
        return  # deleted by the user, or someone else's shared workspace (read-only)
    workspace_id = st.session_state.get(WORKSPACE_ID)
    if not (workspace_id or ws.datasets or ws.inputs):
        return  # page choices alone (a visit without data) are not worth a saved workspace
    key = ws.save_key()
    if key != st.session_state.get(SAVED_KEY):
        failed = st.session_state.get(_SAVE_FAILED)
        # The same workspace failed a moment ago (a full disk, the owner's quota): say so again, but
        # try again only once it changes or a while has passed — every click paid for a doomed save.
        if failed is not None and failed[0] == key and time.monotonic() - failed[1] < SAVE_RETRY_S:
            problem = failed[2]
        else:
            try:
                workspace_id, problem = store.Store().save(ws.snapshot(), workspace_id, owner=owner()), None
            except Exception as exc:  # noqa: BLE001 — saving must never break the page it follows
                problem = str(exc)
                st.session_state[_SAVE_FAILED] = (key, time.monotonic(), problem)
        if problem is not None:
            # shown on every run while it fails (a run ended by st.rerun would lose a one-off warning)
            st.warning(f"This workspace could not be saved on the server ({escape_md(problem)}); it stays in this "
                       "session only. Use “Save workspace” on Home to keep a copy.")
            return
        st.session_state.pop(_SAVE_FAILED, None)
        st.session_state[WORKSPACE_ID] = workspace_id
        st.session_state[SAVED_KEY] = key
    if workspace_id:
        # Set on every run, even when st.query_params already holds it: after a page switch or an
        # st.rerun the server's copy can hold the id while the browser's address has lost it.
        st.query_params["w"] = workspace_id


def fragment(func):
    """`st.fragment(func)` that keeps its widgets' choices with the workspace: a widget change inside
    it reruns the fragment alone, which never reaches the `save_if_changed` app.py runs after the
    page, so the fragment saves at its own end on such a run (a full run leaves it to app.py)."""
    import functools

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            ctx = get_script_run_ctx()
            if ctx is not None and ctx.fragment_ids_this_run:  # this run reran fragments only
                save_if_changed()

    return st.fragment(run)


def saved_on_server() -> bool:
    """True while this session's workspace is being saved on the server (not after "Delete")."""
    return not st.session_state.get(_NOT_SAVED)


def _delete_saved() -> None:
    """The "Delete the saved copy" button: remove it from disk, stop saving this session."""
    try:
        store.Store().delete(st.session_state[WORKSPACE_ID], owner())
    except BoundaryError as exc:
        st.session_state[_DELETED] = escape_md(exc)
        return
    st.session_state[_NOT_SAVED] = True
    st.session_state.pop(WORKSPACE_ID, None)
    st.query_params.pop("w", None)
    st.session_state[_DELETED] = "The saved copy is deleted from the server. This tab keeps the data until it closes."


def workspace_file_section() -> None:
    """Home: download this workspace as a .boundary file, or open one."""
    if presenting():
        return
    ws = workspace()
    st.subheader("Workspace")
    left, right = st.columns(2)
    if ws.datasets:
        left.download_button(
            "Save workspace", data=lambda: store.pack(ws.snapshot(), owner(), _name()),  # packed only when clicked
            file_name=f"boundary-{date.today().isoformat()}.boundary", mime="application/zip",
            on_click="ignore", icon=":material/download:",
            help="One .boundary file with the loaded tables (Parquet), column fixes and thresholds — "
                 "open it on any Boundary with “Open workspace”.")
    else:
        left.caption("Load data first; then “Save workspace” downloads it as one .boundary file.")
    if st.session_state.get(WORKSPACE_ID):
        left.button("Delete the saved copy", key="delete_workspace", icon=":material/delete:",
                    on_click=_delete_saved,  # before the run, so nothing on the page still says "saved"
                    help="Removes this workspace from the server's disk at once; this tab keeps its data "
                         "until it closes and does not save it again.")
    deleted = st.session_state.pop(_DELETED, None)
    if deleted:
        (st.success if deleted.startswith("The saved copy") else st.error)(deleted)
    upload = right.file_uploader("Open workspace", type=["boundary"], key="open_workspace",
                                 help="A .boundary file saved from Boundary. It replaces what is loaded here.")
    if upload is None:
        st.session_state.pop(_OPENED, None)  # the same file, added again later, opens again
        return
    data = upload.getvalue()
    if st.session_state.get(_OPENED) == digest(data):
        return  # already opened; this is a later rerun
    try:
        _restore(store.unpack(data, upload.name))
    except BoundaryError as exc:
        st.error(escape_md(exc))
        return
    st.session_state[_OPENED] = digest(data)
    st.session_state.pop("samples_loaded", None)
    # A workspace of its own (a new id once saved): what this tab had saved stays in My workspaces.
    for key in (WORKSPACE_ID, SHARED_BY, _NOT_SAVED):
        st.session_state.pop(key, None)
    st.session_state[SAVED_KEY] = None
    st.query_params.pop("w", None)
    st.success(f"Opened {escape_md(upload.name)}: {len(ws.datasets)} dataset(s). Every page shows them now; it is "
               "saved on this server as a workspace of its own.")


def _name() -> str | None:
    """This tab's saved workspace's name, for the .boundary file (None when unnamed)."""
    workspace_id = st.session_state.get(WORKSPACE_ID)
    if workspace_id:
        for w in store.Store().list(owner()):
            if w["id"] == workspace_id:
                return w["name"]
    return None


def shared_banner() -> None:
    """On every page of a tab showing someone else's shared workspace: say it is read-only, and offer
    to keep a copy as one's own (saved from then on under a new id)."""
    shared_by = st.session_state.get(SHARED_BY)
    if not shared_by:
        return
    text, button = st.columns([5, 1], vertical_alignment="center")
    text.info(f"A read-only copy of a workspace shared by {escape_md(shared_by)}: what you change stays in this "
              "tab and is not saved for anyone.", icon=":material/visibility:")
    button.button("Keep a copy as mine", key="keep_shared_copy", on_click=_keep_copy,
                  help="Saves what this tab shows as your own workspace (a new link); the shared one is unchanged.")


def _keep_copy() -> None:
    st.session_state.pop(SHARED_BY, None)
    st.session_state.pop(WORKSPACE_ID, None)
    st.session_state[SAVED_KEY] = None  # saved after this run, under a new id
    st.query_params.pop("w", None)


def _share_chosen(workspace_id: str, shared: bool) -> None:
    try:
        store.Store().share(workspace_id, owner(), shared)
    except BoundaryError as exc:
        st.session_state[_MINE_MESSAGE] = (False, escape_md(exc))
        return
    st.session_state[_MINE_MESSAGE] = (True, "Shared: anyone signed in here who may use this Boundary opens a "
                                             "read-only copy with the link below." if shared else
                                       "No longer shared: the link opens only for you.")


def _open_chosen(workspace_id: str, name: str) -> None:
    """"Open": this tab now shows (and saves) the chosen workspace."""
    try:
        _open(workspace_id)
    except BoundaryError as exc:
        st.session_state[_MINE_MESSAGE] = (False, escape_md(exc))
        return
    st.session_state.pop("samples_loaded", None)
    st.session_state[_MINE_MESSAGE] = (True, f"Opened “{escape_md(name)}”. Every page shows its data now.")


def _rename_chosen(workspace_id: str) -> None:
    try:
        name = store.Store().rename(workspace_id, st.session_state.get(_NEW_NAME, ""), owner())
    except BoundaryError as exc:
        st.session_state[_MINE_MESSAGE] = (False, escape_md(exc))
        return
    st.session_state[_NEW_NAME] = ""  # in a callback, before the input is drawn again
    st.session_state[_MINE_MESSAGE] = (True, f"Renamed to “{escape_md(name)}”.")


def _delete_chosen(workspace_id: str, name: str) -> None:
    if workspace_id == st.session_state.get(WORKSPACE_ID):
        _delete_saved()  # this tab's own: the same as "Delete the saved copy" (stop saving it)
        message = st.session_state.pop(_DELETED, "")
        ok = message.startswith("The saved copy")
    else:
        try:
            store.Store().delete(workspace_id, owner())
            message, ok = f"“{escape_md(name)}” is deleted from the server.", True
        except BoundaryError as exc:
            message, ok = escape_md(exc), False
    st.session_state.pop(_CHOICE, None)
    st.session_state[_MINE_MESSAGE] = (ok, message)


def _when(saved_at: str | None) -> str:
    try:
        return datetime.fromisoformat(saved_at).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return "—"


def my_workspaces_section() -> None:
    """Home: the owner's saved workspaces — open, rename or delete one (not in presentation mode)."""
    if presenting():
        return
    who = owner()
    st.subheader("My workspaces")
    message = st.session_state.pop(_MINE_MESSAGE, None)
    if message:
        (st.success if message[0] else st.error)(message[1])
    try:
        mine = store.Store().list(who)
    except OSError as exc:  # an unreadable data folder must not break Home
        st.error(f"The saved workspaces can't be listed ({escape_md(exc)}).")
        return
    kept = f"Each is removed {store.RETENTION_DAYS:g} days after its last save."
    if who is None:
        st.caption("Every workspace saved on this server without an owner: without sign-in, everyone using "
                   f"this server sees these (and anyone with a workspace's link opens it). {kept}")
    else:
        st.caption(f"The workspaces saved while signed in as {escape_md(who)}; nobody else sees them. {kept}")
    if not mine:
        st.caption("None saved yet: load data and it is saved as you work.")
        return
    current = st.session_state.get(WORKSPACE_ID)
    show_table([{"Name": w["name"], "Last saved": _when(w["saved_at"]), "Size (MB)": round(w["bytes"] / 1e6, 2),
                 "In this tab": "✓" if w["id"] == current else "", "Shared": "✓" if w.get("shared") else "",
                 "Datasets": ", ".join(f for f in w["files"] if isinstance(f, str))} for w in mine],
               column_config={"Size (MB)": st.column_config.NumberColumn(format="%.2f")})
    by_id = {w["id"]: w for w in mine}
    chosen = st.selectbox("Workspace", list(by_id), key=_CHOICE,
                          format_func=lambda i: f"{by_id[i]['name']} · {_when(by_id[i]['saved_at'])}"
                                                + (" · in this tab" if i == current else ""))
    name = by_id[chosen]["name"]
    open_col, rename_col, button_col, delete_col = st.columns([1, 3, 1, 1], vertical_alignment="bottom")
    open_col.button("Open", key="my_workspaces_open", icon=":material/folder_open:", disabled=chosen == current,
                    on_click=_open_chosen, args=(chosen, name),
                    help="This tab shows the chosen workspace instead (what is loaded now stays saved).")
    rename_col.text_input("New name", key=_NEW_NAME, max_chars=store.NAME_MAX, placeholder=name)
    button_col.button("Rename", key="my_workspaces_rename", icon=":material/edit:",
                      on_click=_rename_chosen, args=(chosen,))
    delete_col.button("Delete", key="my_workspaces_delete", icon=":material/delete:", type="secondary",
                      on_click=_delete_chosen, args=(chosen, name),
                      help="Removes the chosen workspace from the server's disk at once.")
    if who is None:
        return  # without sign-in the link is the key: there is no one to share with by name
    shared = by_id[chosen].get("shared", False)
    share_col, link_col = st.columns([1, 4], vertical_alignment="bottom")
    share_col.button("Stop sharing" if shared else "Share with the team", key="my_workspaces_share",
                     icon=":material/share:", on_click=_share_chosen, args=(chosen, not shared),
                     help="Everyone signed in who may use this Boundary can open a read-only copy with the link; "
                          "nobody else can, whatever link they try.")
    if shared:
        link_col.code(f"{st.context.url.split('?')[0]}?w={chosen}", language=None)

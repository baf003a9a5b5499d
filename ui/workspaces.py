"""Saved workspaces at the page edge (lib.store does the work).

- `open_from_url()` (app.py, first run of a session): `?w=<id>` restores that saved workspace.
- `save_if_changed()` (app.py, after the page ran): when the Workspace's state key changed (a load, a
  column fix, a threshold), it is saved to the store and its id put in the URL, so a reload or the
  same link tomorrow brings it back.
- `workspace_file_section()` (Home): "Save workspace" downloads a `.boundary` file; "Open workspace"
  restores one in this session.
- `my_workspaces_section()` (Home): the owner's saved workspaces (name, datasets, size, last save),
  to open, rename or delete.

Without sign-in the id is the key, and "My workspaces" lists every workspace saved on this server
without an owner. With sign-in the owner (the signed-in email) is written in the manifest and only
that user can open, list, rename or delete the id; sharing comes later.
"""

from __future__ import annotations

from datetime import date, datetime

import streamlit as st

from lib import store
from lib.access import email_from_claims
from lib.datasets import digest
from lib.errors import BoundaryError
from lib.markup import escape_md
from ui.auth import auth_configured
from ui.common import SAVED_KEY, WORKSPACE_KEY, presenting, show_table, workspace

WORKSPACE_ID = "workspace_id"  # session key: this session's saved workspace id
_URL_CHECKED = "workspace_url_checked"
_OPENED = "workspace_file_opened"  # digest of the .boundary file last opened (re-runs see it again)
_NOT_SAVED = "workspace_not_saved"  # the user deleted this session's saved copy: do not save it again
_DELETED = "workspace_deleted_message"  # what the delete button's callback has to say, shown once
_MINE_MESSAGE = "my_workspaces_message"  # (ok, text) from a "My workspaces" button's callback, shown once
_CHOICE, _NEW_NAME = "my_workspaces_choice", "my_workspaces_new_name"  # widget keys


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
    """Make the saved workspace this session's: restore it, keep saving it under its id (in the URL).
    Raises StoreError (not yours, damaged) and leaves the session as it was."""
    snap = store.Store().load(workspace_id, owner=owner())
    ws = workspace()
    ws.restore(snap)
    st.session_state[WORKSPACE_ID] = workspace_id
    st.session_state[SAVED_KEY] = ws.state_key()
    st.session_state.pop(_NOT_SAVED, None)
    st.query_params["w"] = workspace_id


def save_if_changed() -> None:
    """Save this session's workspace when it changed since the last save; keep its id in the URL."""
    ws = st.session_state.get(WORKSPACE_KEY)
    if ws is None or st.session_state.get(_NOT_SAVED):
        return
    workspace_id = st.session_state.get(WORKSPACE_ID)
    key = ws.state_key()
    if key != st.session_state.get(SAVED_KEY):
        try:
            workspace_id = store.Store().save(ws.snapshot(), workspace_id, owner=owner())
        except Exception as exc:  # noqa: BLE001 — saving must never break the page it follows
            # tried again on the next run (a run ended by st.rerun would lose a one-off warning)
            st.warning(f"This workspace could not be saved on the server ({escape_md(exc)}); it stays in this "
                       "session only. Use “Save workspace” on Home to keep a copy.")
            return
        st.session_state[WORKSPACE_ID] = workspace_id
        st.session_state[SAVED_KEY] = key
    if workspace_id:
        # Set on every run, even when st.query_params already holds it: after a page switch or an
        # st.rerun the server's copy can hold the id while the browser's address has lost it.
        st.query_params["w"] = workspace_id


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
            "Save workspace", data=lambda: store.pack(ws.snapshot(), owner()),  # packed only when clicked
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
        ws.restore(store.unpack(data, upload.name))
    except BoundaryError as exc:
        st.error(escape_md(exc))
        return
    st.session_state[_OPENED] = digest(data)
    st.session_state.pop("samples_loaded", None)
    st.success(f"Opened {escape_md(upload.name)}: {len(ws.datasets)} dataset(s). Every page shows them now.")


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
    show_table([{"Name": w["name"], "Datasets": ", ".join(f for f in w["files"] if isinstance(f, str)),
                 "Size (MB)": round(w["bytes"] / 1e6, 2), "Last saved": _when(w["saved_at"]),
                 "In this tab": "✓" if w["id"] == current else ""} for w in mine],
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

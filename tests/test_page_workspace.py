"""Saved workspaces through the app (AppTest): the sample loaded and a threshold changed in one
session come back, with the same tiles and flags, in a new session opened with ?w=<id>."""

import ast
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib import store
from tests.apptest import APP, sample_page
from ui import workspaces
from ui.common import columns_key


def shown(at: AppTest) -> dict:
    """What a reader compares: the tiles, the flags table and every warning."""
    return {"tiles": {t.label: t.value for t in at.metric},
            # as CSV text, so that NaN cells compare equal; to 10 significant digits, because DuckDB's
            # parallel sums differ in the 16th from one run to the next (the same session's too)
            "tables": [d.value.to_csv(float_format="%.10g") for d in at.dataframe],
            "warnings": [w.value for w in at.warning]}


def test_a_new_session_with_the_id_shows_the_same_figures():
    at = sample_page("app_pages/email.py")
    wid = at.session_state["workspace_id"]
    assert store.valid_id(wid) and store.Store().load(wid).body["datasets"]
    at.session_state["email_thresholds"] = True  # the thresholds panel is built only when open
    at.run()
    threshold = at.number_input(key="th_email_email_unsubscribe_rate_max")
    threshold.set_value(threshold.value / 4).run()  # a stricter cut: more months flagged
    assert not at.exception, at.exception
    assert at.session_state["workspace_id"] == wid  # saved again under the same id
    email = shown(at)
    at.switch_page("app_pages/nps.py").run()
    nps = shown(at)
    assert email["tiles"] and nps["tiles"]

    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["w"] = wid
    again.run()
    assert not again.exception, again.exception
    assert again.session_state["workspace"].state_key() == at.session_state["workspace"].state_key()
    again.switch_page("app_pages/email.py")
    again.session_state["email_thresholds"] = True
    again.run()
    assert again.number_input(key="th_email_email_unsubscribe_rate_max").value == threshold.value
    assert shown(again) == email
    again.switch_page("app_pages/nps.py").run()
    assert shown(again) == nps


def test_an_unknown_id_starts_a_new_workspace_with_a_plain_message():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["w"] = store.new_id()
    at.run()
    assert not at.exception, at.exception
    assert any("not yours or not shared" in w.value for w in at.warning)
    assert not at.session_state["workspace"].datasets


def test_with_sign_in_only_the_owner_opens_the_id(monkeypatch):
    from lib.datasets import Workspace
    from lib.sample import load_samples
    from ui import workspaces

    ws = Workspace()
    load_samples(ws, kinds=["nps_responses"])
    wid = store.Store().save(ws.snapshot(), owner="ana@example.com")
    ws.close()
    for who, opens in [("bob@example.com", False), (None, False), ("ana@example.com", True)]:
        monkeypatch.setattr(workspaces, "owner", lambda who=who: who)  # as if signed in as `who`
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["w"] = wid
        at.run()
        assert not at.exception, at.exception
        assert list(at.session_state["workspace"].datasets) == (["nps_responses"] if opens else [])
        assert any("not yours or not shared" in w.value for w in at.warning) != opens


def test_a_column_fix_survives():
    at = sample_page("app_pages/nps.py")
    wid = at.session_state["workspace_id"]
    at.session_state[columns_key("nps", at.session_state["workspace"].datasets["nps_responses"])] = True
    at.run()  # the Columns panel is built only when open
    comment = next(s for s in at.selectbox if s.key and s.key.startswith("map_nps_nps_responses_")
                   and s.key.endswith("_comment"))
    comment.set_value("— not in file —").run()
    assert not at.exception, at.exception
    assert "comment" not in at.session_state["workspace"].datasets["nps_responses"].mapping

    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["w"] = wid
    again.run()
    again.switch_page("app_pages/nps.py").run()
    assert not again.exception, again.exception
    restored = again.session_state["workspace"].datasets["nps_responses"]
    assert "comment" not in restored.mapping
    assert {t.label: t.value for t in again.metric} == {t.label: t.value for t in at.metric}
    # and it can be fixed back in the new session (the upload's bytes came along)
    again.session_state[columns_key("nps", restored)] = True
    again.run()
    comment = next(s for s in again.selectbox if s.key and s.key.startswith("map_nps_nps_responses_")
                   and s.key.endswith("_comment"))
    comment.set_value("Comment").run()
    assert not again.exception, again.exception
    assert again.session_state["workspace"].datasets["nps_responses"].mapping["comment"] == "Comment"


def test_a_failing_save_is_one_plain_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(store.Store, "save", broken)
    at = sample_page("app_pages/nps.py")  # asserts no exception on the way
    assert "workspace_id" not in at.session_state
    assert [t.label for t in at.metric][:1] == ["NPS"]
    warnings = [w.value for w in at.warning if "could not be saved" in w.value]
    assert warnings == ["This workspace could not be saved on the server (No space left on device); it stays in "
                        "this session only. Use “Save workspace” on Home to keep a copy."]


def test_a_failing_save_is_not_tried_again_on_every_click(monkeypatch):
    # A hosted server whose store was over its quota retried the doomed save on every rerun of every
    # page (listing the whole store each time): the warning stays, the save waits for a change.
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise store.StoreError("over the 5,000 MB each person may keep")

    monkeypatch.setattr(store.Store, "save", broken)
    at = sample_page("app_pages/nps.py")
    tried = len(calls)
    assert tried >= 1
    for _ in range(3):
        at.run()
        assert not at.exception, at.exception
        assert any("could not be saved" in w.value for w in at.warning)
    assert len(calls) == tried  # nothing changed: not tried again
    grain = at.selectbox(key="nps_grain")
    grain.set_value(next(o for o in grain.options if o != grain.value)).run()  # a change: tried again
    assert len(calls) == tried + 1
    monkeypatch.setattr(workspaces, "SAVE_RETRY_S", 0.0)  # or, unchanged, a while later
    at.run()
    assert len(calls) == tried + 2
    monkeypatch.undo()  # the store answers again: saved (once tried again), and the warning is gone
    monkeypatch.setattr(workspaces, "SAVE_RETRY_S", 0.0)
    at.run()
    assert "workspace_id" in at.session_state
    assert not [w for w in at.warning if "could not be saved" in w.value]


def test_deleting_the_saved_copy_removes_it_and_stops_saving():
    at = sample_page("app_pages/home.py")
    wid = at.session_state["workspace_id"]
    at.button(key="delete_workspace").click().run()
    assert not at.exception, at.exception
    assert any("deleted from the server" in s.value for s in at.success)
    with pytest.raises(store.StoreError):
        store.Store().load(wid)
    at.switch_page("app_pages/email.py")
    at.session_state["email_thresholds"] = True  # the thresholds panel is built only when open
    at.run()
    threshold = at.number_input(key="th_email_email_unsubscribe_rate_max")
    threshold.set_value(threshold.value / 4).run()  # a change after deleting is not saved again
    assert not at.exception, at.exception
    assert "workspace_id" not in at.session_state and "w" not in at.query_params


def test_my_workspaces_on_home_lists_renames_deletes_and_opens():
    from lib.datasets import Workspace
    from lib.sample import load_samples

    saved = {}
    for kind in ["nps_responses", "email_campaigns"]:  # two workspaces saved earlier on this server
        ws = Workspace()
        load_samples(ws, kinds=[kind])
        saved[kind] = store.Store().save(ws.snapshot())
        ws.close()
    nps, email = saved["nps_responses"], saved["email_campaigns"]

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert any("everyone using this server sees these" in c.value for c in at.caption)
    table = next(d.value for d in at.dataframe if "Last saved" in d.value.columns)
    listed = dict(zip(table["Name"], table["Datasets"]))
    assert listed["nps_responses.xlsx"] == "nps_responses.xlsx"  # unnamed: called after its file
    assert listed["email_campaigns.csv"] == "email_campaigns.csv"
    # (other tests' workspaces without an owner are listed too: this server's test folder is shared)
    assert "nps_responses.xlsx · " in " ".join(at.selectbox(key="my_workspaces_choice").options)

    at.selectbox(key="my_workspaces_choice").set_value(nps).run()
    at.text_input(key="my_workspaces_new_name").input("Q3 *client* workshop").run()
    at.button(key="my_workspaces_rename").click().run()
    assert not at.exception, at.exception
    assert any("Renamed to “Q3 \\*client\\* workshop”" in s.value for s in at.success)  # shown as typed
    assert {w["id"]: w["name"] for w in store.Store().list()}[nps] == "Q3 *client* workshop"
    table = next(d.value for d in at.dataframe if "Last saved" in d.value.columns)
    assert "Q3 *client* workshop" in list(table["Name"])
    assert at.text_input(key="my_workspaces_new_name").value == ""

    at.selectbox(key="my_workspaces_choice").set_value(email).run()
    at.button(key="my_workspaces_delete").click().run()
    assert not at.exception, at.exception
    assert any("deleted from the server" in s.value for s in at.success)
    with pytest.raises(store.StoreError):
        store.Store().load(email)
    table = next(d.value for d in at.dataframe if "Last saved" in d.value.columns)
    assert "email_campaigns.csv" not in list(table["Datasets"])
    assert email not in {w["id"] for w in store.Store().list()}

    at.selectbox(key="my_workspaces_choice").set_value(nps).run()
    at.button(key="my_workspaces_open").click().run()
    assert not at.exception, at.exception
    assert any("Opened “Q3 \\*client\\* workshop”" in s.value for s in at.success)
    assert list(at.session_state["workspace"].datasets) == ["nps_responses"]
    assert at.session_state["workspace_id"] == nps and at.query_params["w"] == nps
    at.switch_page("app_pages/nps.py").run()  # the page shows it, and a change saves under the same id
    assert not at.exception, at.exception
    assert [t.label for t in at.metric][:1] == ["NPS"]
    assert at.session_state["workspace_id"] == nps


def test_my_workspaces_is_hidden_in_presentation_mode():
    for presenting in [False, True]:
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["presenting"] = presenting
        at.run()
        assert not at.exception, at.exception
        assert ("My workspaces" in [h.value for h in at.subheader]) != presenting


def test_page_choices_notebook_cells_and_typed_tables_come_back():
    at = sample_page("app_pages/nps.py")
    wid = at.session_state["workspace_id"]
    at.selectbox(key="nps_grain").set_value("quarter").run()
    at.switch_page("app_pages/cohorts.py").run()
    at.radio(key="coh_grain").set_value("week").run()
    at.switch_page("app_pages/nps.py").run()  # a choice outlives a visit to another page
    assert at.selectbox(key="nps_grain").value == "quarter"
    nps = shown(at)
    at.switch_page("app_pages/sql.py").run()
    at.text_area(key="sql_text_0").input("SELECT count(*) AS n FROM nps_responses").run()
    at.button(key="sql_add").click().run()
    assert not at.exception, at.exception
    ws = at.session_state["workspace"]
    assert ws.inputs["sql_cells"] == ["SELECT count(*) AS n FROM nps_responses", "SELECT "]
    # a typed table keeps nothing while untouched (AppTest can't type into it; the browser test does)
    at.switch_page("app_pages/ncvg.py").run()
    at.switch_page("app_pages/funnel.py").run()  # its scoring rules have blank caps (NaN ≠ NaN)
    assert not at.exception, at.exception
    assert not [k for k in ws.inputs if k.startswith("typed:")]
    assert store.Store().load(wid).body["choices"]["nps_grain"] == {"v": "quarter"}

    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params["w"] = wid
    again.run()
    again.switch_page("app_pages/nps.py").run()
    assert not again.exception, again.exception
    assert again.selectbox(key="nps_grain").value == "quarter" and shown(again) == nps
    again.switch_page("app_pages/cohorts.py").run()
    assert again.radio(key="coh_grain").value == "week"
    again.switch_page("app_pages/sql.py").run()
    assert [a.value for a in again.text_area] == ["SELECT count(*) AS n FROM nps_responses", "SELECT "]
    assert again.session_state["workspace"].inputs == ws.inputs


def test_a_choice_the_data_no_longer_offers_falls_back_to_the_default():
    from lib.datasets import Workspace
    from lib.sample import load_samples

    ws = Workspace()
    load_samples(ws, kinds=["nps_responses"])
    ws.choices = {"nps_grain": {"v": "fortnight"}, "nps_segment_top": {"v": 10_000}, "nps_comment_cats": {"v": 3},
                  "sample_home": {"v": True}}  # not a kept choice (a button refuses values from Session State)
    wid = store.Store().save(ws.snapshot())
    ws.close()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["w"] = wid
    at.run()
    assert not at.exception, at.exception  # the Home button was not given a value (it would refuse it)
    at.switch_page("app_pages/nps.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="nps_grain").value == "month"


def test_a_shared_workspace_opens_read_only_and_a_copy_can_be_kept(monkeypatch):
    from lib.datasets import Workspace
    from lib.sample import load_samples
    from ui import workspaces

    ws = Workspace()
    load_samples(ws, kinds=["nps_responses"])
    wid = store.Store().save(ws.snapshot(), owner="ana@example.com")
    ws.close()
    monkeypatch.setattr(workspaces, "owner", lambda: "bob@example.com")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["w"] = wid
    at.run()
    assert any("not yours or not shared" in w.value for w in at.warning)  # not shared yet

    store.Store().share(wid, "ana@example.com")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["w"] = wid
    at.run()
    assert not at.exception, at.exception
    assert any("read-only copy of a workspace shared by ana@example.com" in i.value for i in at.info)
    at.switch_page("app_pages/nps.py").run()
    at.selectbox(key="nps_grain").set_value("quarter").run()
    assert "workspace_id" not in at.session_state  # nothing saved: Ana's copy is unchanged
    assert "nps_grain" not in store.Store().load(wid, "ana@example.com").body["choices"]
    at.button(key="keep_shared_copy").click().run()
    assert not at.exception, at.exception
    mine = at.session_state["workspace_id"]
    assert mine != wid and store.Store().load(mine, "bob@example.com").body["choices"]["nps_grain"] == {"v": "quarter"}
    assert not at.info or not any("read-only" in i.value for i in at.info)


def _keyed_widgets():
    """(file, widget function, a key as the page makes it, the call) for every keyed input widget."""
    root = Path(__file__).resolve().parents[1]
    widgets = {"selectbox", "radio", "multiselect", "number_input", "text_input", "date_input", "slider",
               "checkbox", "segmented_control", "toggle", "text_area", "select_slider", "pills"}
    for path in sorted([*root.glob("app_pages/*.py"), *root.glob("ui/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in widgets:
                key = next((k.value for k in node.keywords if k.arg == "key"), None)
                if key is None:
                    continue
                if isinstance(key, ast.JoinedStr):  # f"email_dates_{kind}" → "email_dates_x"
                    key = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in key.values)
                elif isinstance(key, ast.BinOp):  # "funnel_stages_" + "|".join(…)
                    key = (key.left.value if isinstance(key.left, ast.Constant) else "x") + "x"
                elif isinstance(key, ast.Constant):
                    key = key.value
                else:
                    key = ast.unparse(key)
                yield path.name, node.func.attr, key, node


# Keyed widgets deliberately not kept as page choices: thresholds (kept as thresholds), the Columns
# panel and sheet/kind pickers (kept as column fixes), the notebook (its cells are kept) and the
# "My workspaces" controls, the Spark connection (kept as the workspace's cluster refs, lib.remote).
NOT_KEPT = re.compile(r"th_.+|x?kind|x?x|sheet_.+|mark_x|x_x|y_x|sql_text_x|my_workspaces_.+|_CHOICE|_NEW_NAME|presenting"
                      r"|spark_.+")


def test_every_keyed_widget_is_kept_with_the_right_shape_or_deliberately_not():
    from ui.workspaces import choice_kind

    shapes = {"text": {"selectbox", "radio", "segmented_control", "text_input", "text_area"},
              "number": {"number_input", "slider"}, "flag": {"checkbox", "toggle"}, "texts": {"multiselect"},
              "date": {"date_input"}, "range": {"date_input"}}
    unclassified = []
    for file, widget, key, node in _keyed_widgets():
        kind = choice_kind(key)
        if kind is None:
            if not NOT_KEPT.fullmatch(key):
                unclassified.append(f"{file}: {widget} key={key!r}")
            continue
        assert widget in shapes[kind], f"{file}: {widget} {key!r} is kept as {kind}"
        if widget == "date_input":
            value = next((k.value for k in node.keywords if k.arg == "value"), node.args[1] if len(node.args) > 1 else None)
            assert (kind == "range") == isinstance(value, ast.Tuple), f"{file}: {key!r} is kept as {kind}"
    assert not unclassified, "add these to ui.workspaces.PAGE_CHOICES (or NOT_KEPT here): " + "; ".join(unclassified)

"""ui.cache: the per-session memo of figures and charts (issue #20).

Each test counts how often the memoised function really runs: a key that misses a change would show
as a stale result (fewer runs than changes), a key that changes for nothing as a run on every call."""

from contextlib import contextmanager

import altair as alt
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from lib.config import Thresholds
from lib.errors import MappingError
from ui.cache import Memo, memoised, session_cached

CSV = b"Campaign,Sent,Delivered,Opens,Clicks,Unsubscribes,Send Date\nA,100,90,30,5,1,2024-01-05\nB,200,180,50,9,2,2024-02-05\n"

CALLS: list[tuple] = []


def figure(con, table, grain="month", frame=None, thresholds=None, dataset=None, **extra):
    """Stands for a lib.metrics function: records that it ran, returns a frame."""
    CALLS.append((table, grain))
    return pd.DataFrame({"n": [len(CALLS)], "grain": [grain]})


def chart_of(frame):
    return alt.Chart(frame).mark_bar().encode(x="grain:N", y="n:Q")


@contextmanager
def two_sample_sessions(kinds=("email_campaigns",)):
    """Two sessions' Workspaces, each holding the untouched sample files of `kinds` (public state)."""
    from lib.datasets import Workspace
    from lib.sample import load_samples

    first, second = Workspace(), Workspace()
    try:
        for ws in (first, second):
            load_samples(ws, list(kinds))
        yield first, second
    finally:
        first.close()
        second.close()


@pytest.fixture
def memo_for(ws):
    CALLS.clear()
    memo = Memo()
    return memo, (lambda func: memoised(func, memo, workspace=lambda: ws))


def test_same_arguments_run_once_and_a_change_of_each_kind_runs_again(ws):
    ws.load("email_campaigns.csv", CSV, kind="email_campaigns")
    memo = Memo()
    f = memoised(figure, memo, workspace=lambda: ws)
    con = ws.con.cursor()
    frame = pd.DataFrame({"a": [1, 2]})
    dataset = ws.get("email_campaigns")
    args = dict(grain="month", frame=frame, thresholds=ws.thresholds, dataset=dataset)
    CALLS.clear()
    f(con, "email_campaigns", **args)
    f(ws.con.cursor(), "email_campaigns", **args)  # another cursor on the same session database: a hit
    f(con, "email_campaigns", **{**args, "frame": frame.copy()})  # an equal frame: a hit
    assert len(CALLS) == 1

    changes = [
        dict(args, grain="quarter"),  # a plain argument
        dict(args, frame=pd.DataFrame({"a": [1, 3]})),  # a frame's value
        dict(args, frame=pd.DataFrame({"b": [1, 2]})),  # a frame's column name
        dict(args, frame=pd.DataFrame({"a": [1.0, 2.0]})),  # a frame's dtype
        dict(args, thresholds=Thresholds().with_value("baseline_alpha", 0.01)),  # a threshold
        dict(args, extra=(1, 2)),  # a keyword argument more
    ]
    for n, changed in enumerate(changes, start=2):
        f(con, "email_campaigns", **changed)
        assert len(CALLS) == n, changed
        f(con, "email_campaigns", **changed)  # the same again: a hit
        assert len(CALLS) == n, changed

    # a threshold change on the Workspace: a connection cannot read thresholds (they come as arguments),
    # so a call with a connection still hits; a call given the Workspace itself runs again
    ws.thresholds = ws.thresholds.with_value("min_group_size", 31)
    f(con, "email_campaigns", **args)
    assert len(CALLS) == len(changes) + 1
    f(ws, "email_campaigns", **args)
    f(ws, "email_campaigns", **args)
    assert len(CALLS) == len(changes) + 2
    ws.thresholds = ws.thresholds.with_value("min_group_size", 32)
    f(ws, "email_campaigns", **args)
    assert len(CALLS) == len(changes) + 3
    # a column fix (re-mapping) changes the dataset's key and the session's
    ws.remap("email_campaigns", {"unsubscribes": None})
    f(con, "email_campaigns", **dict(args, dataset=ws.get("email_campaigns")))
    assert len(CALLS) == len(changes) + 4
    # new data under the same name
    ws.load("email_campaigns.csv", CSV.replace(b"100,90", b"101,90"), kind="email_campaigns")
    f(con, "email_campaigns", **dict(args, dataset=ws.get("email_campaigns")))
    assert len(CALLS) == len(changes) + 5
    # a typed input (in-app event roles, typed tables) changes what the connection's tables mean
    ws.set_input("in_app_roles", {"x": {"open": "impression"}})
    f(con, "email_campaigns", **dict(args, dataset=ws.get("email_campaigns")))
    assert len(CALLS) == len(changes) + 6
    # what a page hangs on the Workspace is part of its key
    ws.extra_note = {"x": 1}
    f(con, "email_campaigns", **dict(args, dataset=ws.get("email_campaigns")))
    assert len(CALLS) == len(changes) + 7


def test_a_returned_frame_changed_by_the_page_does_not_change_the_memo(ws):
    memo = Memo()
    f = memoised(figure, memo, workspace=lambda: ws)
    CALLS.clear()
    first = f(ws.con, "t")
    first.loc[0, "n"] = 999
    first["extra"] = 1
    again = f(ws.con, "t")
    assert len(CALLS) == 1
    assert again["n"].tolist() == [1] and list(again.columns) == ["n", "grain"]


def test_a_result_holding_frames_is_handed_out_so_changes_stay_with_the_page(ws):
    from lib.result import MetricResult

    def result(con, table):
        CALLS.append(table)
        return MetricResult(pd.DataFrame({"n": [1, 2]}), "SELECT 1", [], {"blank": 1})

    f = memoised(result, Memo(), workspace=lambda: ws)
    CALLS.clear()
    first = f(ws.con, "t")
    first.frame.loc[0, "n"] = 99  # in place, on the handed-out frame
    first.frame["m"] = 0
    first.excluded["blank"] = 5
    again = f(ws.con, "t")
    assert len(CALLS) == 1
    assert again.frame.to_dict("list") == {"n": [1, 2]} and again.excluded == {"blank": 1}


def test_an_error_is_raised_again_not_remembered(ws):
    runs = []

    def failing(con, table):
        runs.append(table)
        raise MappingError(f"{table}: no column found for Sent.")

    f = memoised(failing, Memo(), workspace=lambda: ws)
    for _ in range(2):
        with pytest.raises(MappingError, match="no column found for Sent"):
            f(ws.con, "t")
    assert runs == ["t", "t"]


def test_bounded_by_entries_and_bytes_least_recently_used_first(ws):
    memo = Memo(max_entries=3)
    f = memoised(figure, memo, workspace=lambda: ws)
    CALLS.clear()
    for grain in ["a", "b", "c"]:
        f(ws.con, "t", grain)
    f(ws.con, "t", "a")  # used again: now the most recent
    f(ws.con, "t", "d")  # evicts "b", the least recently used
    assert len(memo) == 3 and len(CALLS) == 4
    f(ws.con, "t", "a")
    f(ws.con, "t", "c")
    assert len(CALLS) == 4
    f(ws.con, "t", "b")
    assert len(CALLS) == 5

    big = pd.DataFrame({"x": range(100_000)})  # ~1.6 MB by the estimate (8 bytes a cell and an index)
    small_budget = Memo(max_bytes=2_000_000)
    g = memoised(lambda frame, i: frame, small_budget, workspace=lambda: ws)
    g_named = memoised(_identity, small_budget, workspace=lambda: ws)
    for i in range(3):
        g_named(big, i)
    assert len(small_budget) == 1 and small_budget.bytes <= 2_000_000
    too_big = pd.DataFrame({"x": range(200_000)})
    g_named(too_big, 0)  # larger than the whole budget: not stored, nothing evicted for it
    assert len(small_budget) == 1
    assert g is not None


def _identity(frame, i):
    return frame


def test_a_chart_spec_is_sized_by_its_datasets():
    from ui.cache import _spec_size, chart_spec

    small = chart_of(pd.DataFrame({"n": [1], "grain": ["month"]}))
    big = chart_of(pd.DataFrame({"n": range(50_000), "grain": ["month"] * 50_000}))
    small_size, big_size = _spec_size(chart_spec(small)), _spec_size(chart_spec(big))
    assert 20_000 < small_size < 22_000  # the fixed share and a few hundred bytes of Arrow
    assert big_size - small_size > 400_000  # 50,000 rows of 8-byte numbers (and their text, dictionary-coded)


def test_a_long_list_is_sized_by_its_first_items_scaled(monkeypatch):
    import ui.cache as cache

    frames = [pd.DataFrame({"x": range(10 * (i % 3 + 1))}) for i in range(300)]
    exact = 56 + sum(cache._size(f, 1) for f in frames)
    sized = []
    real = cache._size
    monkeypatch.setattr(cache, "_size", lambda v, depth=0: (sized.append(depth), real(v, depth))[1])
    estimate = cache._size(frames)
    assert len(sized) == 1 + cache._SIZE_SAMPLE  # the list and its first items, not all 300
    assert abs(estimate - exact) / exact < 0.05  # alike items: close to the whole walk
    assert cache._size(frames[:cache._SIZE_SAMPLE]) == 56 + sum(real(f, 1) for f in frames[:cache._SIZE_SAMPLE])


def test_what_it_cannot_key_by_content_is_not_memoised(ws):
    f = memoised(figure, Memo(), workspace=lambda: ws)
    CALLS.clear()
    f(ws.con, "t", frame=lambda x: x)  # a lambda: its closure is unseen
    f(ws.con, "t", frame=lambda x: x)
    f(ws.con, "t", frame=object())  # an unknown object
    f(ws.con, "t", frame=object())
    assert len(CALLS) == 4


def test_a_session_table_that_is_not_a_dataset_is_keyed_by_its_contents(ws):
    # typed incidents: a temporary table on the page's cursor, which state_key does not see
    f = memoised(figure, Memo(), workspace=lambda: ws)
    CALLS.clear()
    con = ws.con.cursor()
    con.execute("CREATE TEMP TABLE ncvg_incidents AS SELECT 'c1' AS customer_id")
    f(con, "ncvg_incidents")
    con.execute("CREATE OR REPLACE TEMP TABLE ncvg_incidents AS SELECT 'c1' AS customer_id")  # same rows again
    f(con, "ncvg_incidents")
    assert len(CALLS) == 1
    con.execute("INSERT INTO ncvg_incidents VALUES ('c2')")  # one more typed row: runs again
    f(con, "ncvg_incidents")
    assert len(CALLS) == 2
    f(con, "other_name")  # not a table at all: an ordinary text argument
    f(con, "other_name")
    assert len(CALLS) == 3


def test_a_module_memoises_its_public_functions_only():
    import lib.metrics.ncvg as ncvg

    cached = session_cached(ncvg, memo=Memo())
    assert cached.incident_churn.__wrapped__ is ncvg.incident_churn
    assert cached.store_incidents.__wrapped__ is ncvg.store_incidents  # a writer runs every time (not memoised)
    assert cached.INCIDENT_TABLE == ncvg.INCIDENT_TABLE  # constants and classes are the module's own
    assert cached.Basis is ncvg.Basis


def test_outside_a_streamlit_session_nothing_is_memoised(ws):
    f = session_cached(figure)
    CALLS.clear()
    f(ws.con, "t")
    f(ws.con, "t")
    assert len(CALLS) == 2


def _two_session_script():
    import test_cache

    from ui.cache import session_cached, show_chart

    f = session_cached(test_cache.figure)
    make_chart = session_cached(test_cache.chart_of)
    from ui.common import workspace

    frame = f(workspace().con, "t")
    show_chart(make_chart(frame), width="stretch")
    import streamlit as st
    st.altair_chart(test_cache.chart_of(frame), width="stretch")


def test_two_sessions_never_share_and_a_chart_spec_is_what_altair_chart_sends():
    CALLS.clear()
    first, second = AppTest.from_function(_two_session_script), AppTest.from_function(_two_session_script)
    first.run()
    first.run()  # a rerun in the same session: memoised
    assert not first.exception, first.exception
    assert len(CALLS) == 1
    second.run()  # another browser session: computes its own
    assert not second.exception, second.exception
    assert len(CALLS) == 2
    charts = first.get("vega_lite_chart")
    assert len(charts) == 2
    shown, plain = (c.proto for c in charts)
    assert shown.spec == plain.spec and shown.datasets == plain.datasets and shown.theme == plain.theme


def test_figures_of_the_untouched_sample_data_are_computed_once_per_server():
    with two_sample_sessions(("email_campaigns", "deals")) as (first, second):
        shared = Memo()
        f1 = memoised(figure, Memo(), workspace=lambda: first, shared=shared)
        f2 = memoised(figure, Memo(), workspace=lambda: second, shared=shared)
        CALLS.clear()
        f1(first.con, "email_campaigns", "month")
        f2(second.con, "email_campaigns", "month")  # the same public state: computed once for both
        assert len(CALLS) == 1 and len(shared) == 1

        # anything of the user's own ends it for that session: an upload …
        second.load("my_campaigns.csv", CSV, kind="campaign_calendar")
        f2(second.con, "email_campaigns", "month")
        assert len(CALLS) == 2 and len(shared) == 1
        second.remove("campaign_calendar")
        # … a typed table …
        second.inputs = {"typed:ncvg_incidents": {"rows": [{"customer_id": "c1"}]}}
        f2(second.con, "email_campaigns", "quarter")
        assert len(CALLS) == 3 and len(shared) == 1
        second.inputs = {"in_app_roles": {"d": {"open": "impression"}}}  # a choice over the file's events: still public
        f2(second.con, "email_campaigns", "quarter")
        assert len(CALLS) == 4 and len(shared) == 2
        second.inputs = {}
        # … or what a page hangs on the Workspace (event roles, as pages once kept them)
        second.in_app_roles = {"x": {"open": "impression"}}
        f2(second.con, "email_campaigns", "week")
        assert len(CALLS) == 5 and len(shared) == 2
        # while the untouched session still shares
        f1(first.con, "email_campaigns", "month")
        assert len(CALLS) == 5 and len(shared) == 2


# ---- keys reused within a session (issue #20, the per-click floor): never stale

def _rows(con, frame):
    """Stands for a chart or flag function given a frame the page got from another figure."""
    CALLS.append(("rows", len(frame)))
    return frame.to_dict("list")


FRAME_CHANGES = {  # each changes what a frame holds in place, as a page might
    "loc": lambda f: f.loc.__setitem__((0, "n"), 99),
    "iloc": lambda f: f.iloc.__setitem__((1, 0), 98),
    "at": lambda f: f.at.__setitem__((2, "grain"), "week"),
    "a column replaced": lambda f: f.__setitem__("n", [7, 8, 9]),
    "a column added": lambda f: f.__setitem__("extra", 1),
    "a column dropped": lambda f: f.__delitem__("grain"),
    "columns renamed": lambda f: f.rename(columns={"n": "m"}, inplace=True),
    "columns set": lambda f: setattr(f, "columns", ["a", "b"]),
    "index set": lambda f: setattr(f, "index", [10, 11, 12]),
    "rows dropped": lambda f: f.drop(index=0, inplace=True),
    "replace in place": lambda f: f.replace(1, 100, inplace=True),
    "where in place": lambda f: (f.where(f != 1, other=0, inplace=True),),
    "update": lambda f: f.update(pd.DataFrame({"n": [5, 5, 5]})),
}


@pytest.mark.parametrize("change", FRAME_CHANGES)
def test_a_handed_out_frame_passed_back_is_hashed_once_and_again_once_the_page_changes_it(ws, monkeypatch, change):
    import ui.cache as cache

    hashed = []
    real_digest = cache._frame_digest
    monkeypatch.setattr(cache, "_frame_digest", lambda obj: hashed.append(len(obj)) or real_digest(obj))

    def three(con, table):
        CALLS.append(("three", table))
        return pd.DataFrame({"n": [1, 2, 3], "grain": ["month", "month", "quarter"]})

    memo = Memo()
    make, rows = memoised(three, memo, workspace=lambda: ws), memoised(_rows, memo, workspace=lambda: ws)
    CALLS.clear()
    frame = make(ws.con, "t")
    assert rows(ws.con, frame) == {"n": [1, 2, 3], "grain": ["month", "month", "quarter"]}
    assert len(hashed) == 0  # keyed by the call that made it (provenance), not hashed
    again = make(ws.con, "t")  # a later rerun: another copy of the same memoised frame, not hashed
    rows(ws.con, again)
    rows(ws.con, frame)
    assert len(hashed) == 0 and len(CALLS) == 2

    FRAME_CHANGES[change](again)  # the page changes its copy: hashed, and the figure is its own
    assert rows(ws.con, again) == again.to_dict("list")
    assert len(hashed) == 1 and len(CALLS) == 3
    assert rows(ws.con, frame) == {"n": [1, 2, 3], "grain": ["month", "month", "quarter"]}  # the other copy: as it was
    assert len(CALLS) == 3


def test_a_handed_out_frame_is_checked_even_after_the_memo_dropped_it(ws):
    # the record of a hand-out keeps the memo's frame alive: a write to the copy still copies first
    memo = Memo(max_entries=2)
    make, rows = memoised(figure, memo, workspace=lambda: ws), memoised(_rows, memo, workspace=lambda: ws)
    CALLS.clear()
    frame = make(ws.con, "t")
    rows(ws.con, frame)
    for grain in ("a", "b", "c"):  # push both entries out
        make(ws.con, "t", grain)
    frame.iloc[0, 0] = 41
    assert rows(ws.con, frame) == {"n": [41], "grain": ["month"]}


def test_a_series_handed_out_is_keyed_by_its_current_name(ws):
    def series(con, table):
        CALLS.append(table)
        return pd.Series([1, 2], name="opens")

    memo = Memo()
    make, use = memoised(series, memo, workspace=lambda: ws), memoised(lambda_free_name, memo, workspace=lambda: ws)
    CALLS.clear()
    s = make(ws.con, "t")
    assert use(s) == "opens"
    s.name = "clicks"  # not data: the digest is reused, the name is read again
    assert use(s) == "clicks"
    s.iloc[0] = 5
    assert use(s) == "clicks" and len(CALLS) == 4


def lambda_free_name(series):
    CALLS.append(series.name)
    return series.name


def store_typed(con, rows):
    """Stands for a writer (funnel.store_typed_costs, ncvg.store_incidents): a session table."""
    con.execute("CREATE OR REPLACE TABLE typed_x AS SELECT * FROM range(?) t(i)", [rows])
    return "typed_x"


def _scored(con, table):
    """Stands for voice's scoring: a memoised figure that creates a session table as it computes."""
    con.execute(f"CREATE OR REPLACE TABLE {table}_scores AS SELECT 1 AS s")
    return f"{table}_scores"


@pytest.fixture
def one_run(monkeypatch):
    """Every call in the test runs in one and the same script run (the table names may be reused);
    calling the returned function starts the next run."""
    import ui.cache as cache

    runs = [{}]
    monkeypatch.setattr(cache, "_run_marker", lambda: runs[-1])
    return lambda: runs.append({})


def test_table_names_read_once_a_run_are_read_again_after_any_write(ws, one_run):
    memo = Memo()
    f = memoised(figure, memo, workspace=lambda: ws)
    store = session_cached(store_typed, memo=memo)
    scored = memoised(_scored, memo, workspace=lambda: ws)
    con = ws.con
    CALLS.clear()
    f(con, "typed_x")  # not a table yet: a plain text argument
    f(con, "other")  # computing (a miss) may write: the names are read again for the next key
    assert memo._catalogue is None
    f(con, "typed_x")
    catalogue = memo._catalogue
    f(con, "other")
    assert catalogue is not None and memo._catalogue is catalogue and len(CALLS) == 2  # hits: read once for both

    store(con, 2)  # a writer through session_cached, in the same run: the names are read again
    f(con, "typed_x")
    assert len(CALLS) == 3
    store(con, 3)
    f(con, "typed_x")
    f(con, "typed_x")
    assert len(CALLS) == 4

    name = scored(con, "texts")  # a memoised figure that creates a table as it computes
    f(con, "texts_scores")
    con.execute("INSERT INTO texts_scores VALUES (2)")  # outside any hook, so only in a later run …
    one_run()
    f(con, "texts_scores")  # … where the names and the table's contents are read again
    assert name == "texts_scores" and len(CALLS) == 6


def test_a_call_without_a_connection_leaves_the_table_names_as_read(ws, one_run):
    # a chart or display frame computed (a miss) cannot write a table: the names read this run stay
    memo = Memo()
    f = memoised(figure, memo, workspace=lambda: ws)
    label = memoised(lambda_free_name, memo, workspace=lambda: ws)
    con = ws.con
    f(con, "typed_x")
    f(con, "typed_x")
    catalogue = memo._catalogue
    label(pd.Series([1], name="clicks"))  # computed: no connection, no Workspace among its arguments
    f(con, "typed_x")
    assert catalogue is not None and memo._catalogue is catalogue
    f(con, "other")  # a miss given a connection may write: read again
    assert memo._catalogue is None


def test_a_table_made_inside_a_memoised_call_is_seen_by_the_calls_inside_it(ws, one_run):
    memo = Memo()
    f = memoised(figure, memo, workspace=lambda: ws)

    def outer(con, rows):
        con.execute("CREATE OR REPLACE TABLE typed_x AS SELECT * FROM range(?) t(i)", [rows])
        return f(con, "typed_x")["n"].tolist()

    g = memoised(outer, memo, workspace=lambda: ws)
    CALLS.clear()
    f(ws.con, "typed_x")  # read the names before the table exists
    g(ws.con, 1)
    g(ws.con, 2)  # the same text argument, other rows: f runs again inside
    assert len(CALLS) == 3


def three_rows(con, table):
    CALLS.append(table)
    return pd.DataFrame({"n": [1, 2, 3], "share_rate": [0.25, 0.5, 0.125]})


def _table_script():
    import streamlit as st
    import test_cache

    from ui.cache import session_cached
    from ui.common import show_table, workspace

    frame = session_cached(test_cache.three_rows)(workspace().con, "t")
    if st.session_state.get("change"):
        frame.loc[0, "n"] = 99  # the page changes its copy: converted again
    show_table(frame)
    st.dataframe(frame, hide_index=True)  # what st.dataframe sends for the same frame


def test_a_table_of_a_memoised_frame_is_converted_once_and_again_when_the_page_changes_it():
    from ui.cache import MEMO_KEY

    CALLS.clear()
    app = AppTest.from_function(_table_script)
    for change, first in ((False, 1), (False, 1), (True, 99), (False, 1), (True, 99)):
        app.session_state["change"] = change
        app.run()
        assert not app.exception, app.exception
        kept, plain = app.dataframe
        assert kept.proto.arrow_data.data == plain.proto.arrow_data.data  # the same Arrow bytes as st.dataframe's
        assert kept.value["n"].tolist() == [first, 2, 3] and "percent" in kept.proto.columns  # share_rate's format
    memo = app.session_state[MEMO_KEY]
    shown = [key for key in memo._entries if key[0] == "shown table"]
    assert len(CALLS) == 1 and len(shown) == 1  # only the unchanged frame's table is kept


def test_public_sample_frames_are_hashed_once_per_server_and_the_public_state_follows_an_upload(monkeypatch, one_run):
    import ui.cache as cache

    hashed = []
    real_digest = cache._frame_digest
    monkeypatch.setattr(cache, "_frame_digest", lambda obj: hashed.append(len(obj)) or real_digest(obj))
    with two_sample_sessions() as (first, second):
        shared = Memo()
        sessions = [(ws, Memo()) for ws in (first, second)]
        make = [memoised(figure, memo, workspace=lambda ws=ws: ws, shared=shared) for ws, memo in sessions]
        rows = [memoised(_rows, memo, workspace=lambda ws=ws: ws, shared=shared) for ws, memo in sessions]
        CALLS.clear()
        for i, (ws, _) in enumerate(sessions):
            frame = make[i](ws.con, "email_campaigns")
            rows[i](ws.con, frame)
        # the second session reuses the first's figures; the frame is keyed by provenance, not hashed
        assert len(CALLS) == 2 and len(hashed) == 0

        frame = make[1](second.con, "email_campaigns")
        frame.loc[0, "n"] = 7  # a change to the second session's copy: hashed, computed for it alone
        assert rows[1](second.con, frame) == {"n": [7], "grain": ["month"]}
        assert len(hashed) == 1 and len(CALLS) == 3

        # an upload in the same run ends the public state at once (it is worked out once a run otherwise)
        second.load("my_campaigns.csv", CSV, kind="campaign_calendar")
        before = len(shared)
        make[1](second.con, "email_campaigns", "quarter")
        assert len(shared) == before


def _flags(con, table):
    from lib.result import Flag

    CALLS.append(("flags", table))
    return [Flag("email", "Unsubscribe rate", s, 0.01 * i, 0.005, "threshold", "high", ("Why?",),
                 pd.Timestamp("2026-01-01")) for i, s in enumerate(["March", "typed_x", "April"])]


def _subjects(flags):
    CALLS.append(("subjects", len(flags)))
    return [(f.subject, f.value) for f in flags]


LIST_CHANGES = {  # each changes a handed-out list of flags in place
    "a field": lambda fl: setattr(fl[0], "value", 0.5),
    "a field set to an equal copy": lambda fl: setattr(fl[0], "subject", "".join(["Ma", "rch"])),
    "an element added": lambda fl: fl.append(fl[0]),
    "an element replaced": lambda fl: fl.__setitem__(1, fl[2]),
    "an element removed": lambda fl: fl.pop(),
    "reordered": lambda fl: fl.reverse(),
}


@pytest.mark.parametrize("change", LIST_CHANGES)
def test_a_handed_out_list_of_flags_is_keyed_once_and_again_once_the_page_changes_it(ws, monkeypatch, change):
    import ui.cache as cache

    keyed = []
    real_key = cache._key
    monkeypatch.setattr(cache, "_key", lambda v, ctx: (keyed.append(type(v).__name__), real_key(v, ctx))[1])
    memo = Memo()
    make, use = memoised(_flags, memo, workspace=lambda: ws), memoised(_subjects, memo, workspace=lambda: ws)
    CALLS.clear()
    flags = make(ws.con, "t")
    use(flags)
    first = keyed.count("Flag")
    again = make(ws.con, "t")  # another copy, as on a rerun: not keyed flag by flag either
    use(again)
    assert first == 0 and keyed.count("Flag") == 0 and len(CALLS) == 2  # keyed by provenance

    LIST_CHANGES[change](again)
    assert use(again) == [(f.subject, f.value) for f in again]
    assert keyed.count("Flag") == len(again)  # a changed list is keyed by its contents
    assert len(CALLS) == 3  # a new key, even for an equal value (a miss computed again, never a wrong hit)
    assert use(flags) == [("March", 0.0), ("typed_x", 0.01), ("April", 0.02)]  # the other copy: as it was


def test_a_handed_out_list_naming_a_session_table_is_keyed_by_its_contents(ws, one_run):
    memo = Memo()
    make, store = memoised(_flags, memo, workspace=lambda: ws), session_cached(store_typed, memo=memo)

    def count_rows(con, flags):
        CALLS.append("count")
        return con.execute("SELECT count(*) FROM typed_x").fetchone()[0]

    count = memoised(count_rows, memo, workspace=lambda: ws)
    CALLS.clear()
    store(ws.con, 2)
    flags = make(ws.con, "t")  # one flag's subject is "typed_x": the table's name
    assert count(ws.con, flags) == 2
    store(ws.con, 5)
    assert count(ws.con, make(ws.con, "t")) == 5


def test_a_list_or_frame_handed_out_unchanged_is_keyed_by_the_call_that_made_it(ws):
    memo = Memo()
    make, use = memoised(_flags, memo, workspace=lambda: ws), memoised(_subjects, memo, workspace=lambda: ws)
    rows = memoised(_rows, memo, workspace=lambda: ws)
    CALLS.clear()
    flags, frame = make(ws.con, "t"), memoised(figure, memo, workspace=lambda: ws)(ws.con, "t")
    use(flags), rows(ws.con, frame)
    keys = [k for k in memo._entries if k[1] in ("_subjects", "_rows")]
    assert [k[3][-1][:2] for k in keys] == [("from", k) for k in memo._entries if k[1] in ("_flags", "figure")]
    # inside a result: a dict's value, a dataclass's field, a list's item each keyed by their place
    from lib.result import MetricResult

    def nested(con):
        return {"flags": _flags(con, "t"), "result": MetricResult(frame=pd.DataFrame({"n": [1]}), sql="q"),
                "frames": [pd.DataFrame({"n": [2]}), pd.DataFrame({"n": [2]})]}

    out = memoised(nested, memo, workspace=lambda: ws)(ws.con)
    CALLS.clear()
    assert use(out["flags"]) == [("March", 0.0), ("typed_x", 0.01), ("April", 0.02)]
    assert rows(ws.con, out["result"].frame) == {"n": [1]}
    assert rows(ws.con, out["frames"][0]) == rows(ws.con, out["frames"][1]) == {"n": [2]}
    assert len(CALLS) == 4  # two equal frames at two places: two keys, each computed once
    places = [k[3][-1][2] for k in memo._entries if k[1] in ("_subjects", "_rows") and k[3][-1][0] == "from"
              and k[3][-1][2]]
    assert places == [(("key", "flags"),), (("key", "result"), "frame"), (("key", "frames"), 0),
                      (("key", "frames"), 1)]


def test_two_producers_of_equal_lists_and_frames_each_get_the_right_result(ws):
    memo = Memo()
    use, rows = memoised(_subjects, memo, workspace=lambda: ws), memoised(_rows, memo, workspace=lambda: ws)

    def other_flags(con, table):
        return _flags(con, table)

    def changed_flags(con, table):
        flags = _flags(con, table)
        flags[0].value = 0.5
        return flags

    CALLS.clear()
    equal = [memoised(f, memo, workspace=lambda: ws)(ws.con, "t") for f in (_flags, other_flags)]
    assert use(equal[0]) == use(equal[1]) == [("March", 0.0), ("typed_x", 0.01), ("April", 0.02)]
    changed = memoised(changed_flags, memo, workspace=lambda: ws)(ws.con, "t")
    assert use(changed)[0] == ("March", 0.5)  # same length and subjects, another producer: its own result
    assert use(equal[0])[0] == ("March", 0.0)
    frames = [memoised(figure, memo, workspace=lambda: ws)(ws.con, t) for t in ("a", "b")]  # n = 1 then 2
    assert [rows(ws.con, f)["n"] for f in frames] == [[frames[0]["n"][0]], [frames[1]["n"][0]]]
    assert frames[0]["n"][0] != frames[1]["n"][0]
    # the same producer with the same arguments (a rerun): one key, computed once
    n = len(CALLS)
    rows(ws.con, memoised(figure, memo, workspace=lambda: ws)(ws.con, "a"))
    assert len(CALLS) == n


def test_public_sample_lists_and_frames_have_the_same_key_in_every_session(monkeypatch):
    import ui.cache as cache

    keyed, hashed = [], []
    real_key, real_digest = cache._key, cache._frame_digest
    monkeypatch.setattr(cache, "_key", lambda v, ctx: (keyed.append(type(v).__name__), real_key(v, ctx))[1])
    monkeypatch.setattr(cache, "_frame_digest", lambda obj: hashed.append(len(obj)) or real_digest(obj))
    with two_sample_sessions() as (first, second):
        shared = Memo()
        sessions = [(ws, Memo()) for ws in (first, second)]
        CALLS.clear()
        for ws, memo in sessions:
            flags = memoised(_flags, memo, workspace=lambda ws=ws: ws, shared=shared)(ws.con, "t")
            frame = memoised(figure, memo, workspace=lambda ws=ws: ws, shared=shared)(ws.con, "t")
            assert memoised(_subjects, memo, workspace=lambda ws=ws: ws, shared=shared)(flags)[0] == ("March", 0.0)
            assert memoised(_rows, memo, workspace=lambda ws=ws: ws, shared=shared)(ws.con, frame)["grain"] == ["month"]
        # each figure computed once for both sessions: the second found the first's under the same keys
        assert [c[0] for c in CALLS] == ["flags", "t", "subjects", "rows"]
        assert keyed.count("Flag") == 0 and not hashed
        assert {k for k in sessions[0][1]._entries} == {k for k in sessions[1][1]._entries} == set(shared._entries)

"""The per-session Workspace: typed tables, bad cells named by row, mapping fixes, isolation."""

import pytest

from lib.datasets import Workspace
from tests.conftest import real_file

CAMPAIGNS = (b"Title,Send Date,Total Recipients,Unique Opens,Unique Clicks,Unsubscribes\n"
             b"A,2025-01-06,1000,250,40,2\n"
             b"B,2025-01-13,lots,300,50,1\n"
             b"C,not a date,1200,310,52,0\n")


def test_typed_table_with_row_numbers_and_bad_cells(ws):
    dataset = ws.load("c.csv", CAMPAIGNS)
    assert dataset.kind == "email_campaigns" and dataset.ready
    rows = ws.con.execute('SELECT _row, campaign, sent, send_date FROM "email_campaigns" ORDER BY _row').fetchall()
    assert [r[0] for r in rows] == [2, 3, 4]  # file rows: header is row 1
    assert rows[1][2] is None  # 'lots' is not a number
    assert dataset.bad_values["sent"].count == 1 and dataset.bad_values["sent"].rows == [3]
    assert dataset.bad_values["send_date"].rows == [4]
    lines = dataset.bad_value_lines()
    assert any(line.startswith("Total Recipients (Sent (recipients)): 1 cell(s) not readable as whole numbers — rows 3")
               for line in lines)


def test_missing_required_column_names_file_columns_and_way_out(ws):
    dataset = ws.load("c.csv", b"Title,Send Date,Total Recipients\nA,2025-01-06,10\n", kinds=["email_campaigns"])
    assert not dataset.ready and ws.get("email_campaigns") is None
    assert dataset.missing_message() == (
        "c.csv: no column found for Unique opens, Unique clicks (Email campaigns (one row per send)). "
        "Columns are: Title, Send Date, Total Recipients. Pick the right column under “Columns” below.")


def test_mapping_fix_is_kept_for_the_file(ws):
    data = b"Name,When,Audience,Opened,Clicked\nA,2025-01-06,100,20,3\n"
    dataset = ws.load("x.csv", data, kinds=["email_campaigns"])
    assert dataset.missing == ["send_date", "sent or delivered"]
    fixed = ws.remap("email_campaigns", {"sent": "Audience", "send_date": "When"})
    assert fixed.ready and fixed.mapping["sent"] == "Audience"
    # a re-upload of the same bytes keeps the fix; another file does not get it
    ws.remove("email_campaigns")
    again = ws.load("x.csv", data, kinds=["email_campaigns"])
    assert again.ready and again.mapping["sent"] == "Audience"


def test_same_bytes_reload_is_a_no_op(ws):
    first = ws.load("c.csv", CAMPAIGNS)
    assert ws.load("c.csv", CAMPAIGNS) is first


def test_change_kind_moves_the_table(ws):
    data = b"Campaign,Start Date,Channel\nSpring,2025-03-01,email\n"
    dataset = ws.load("cal.csv", data)
    assert dataset.kind == "campaign_calendar"
    moved = ws.change_kind("campaign_calendar", "texts")
    assert moved.kind == "texts" and ws.get("campaign_calendar") is None
    tables = {r[0] for r in ws.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "campaign_calendar" not in tables


def test_two_workspaces_never_share_tables():
    a, b = Workspace(), Workspace()
    try:
        a.load("c.csv", CAMPAIGNS)
        assert b.get("email_campaigns") is None
        tables = b.con.execute("SELECT count(*) FROM information_schema.tables").fetchone()[0]
        assert tables == 0
    finally:
        a.close()
        b.close()


def test_close_releases_connection_and_spill_dir():
    import os

    ws = Workspace()
    spill = ws._spill_dir
    assert os.path.isdir(spill)
    ws.close()
    assert not os.path.exists(spill)


@pytest.mark.parametrize("name,kind,rows", [
    ("mailchimp_campaigns_mydomino.csv", "email_campaigns", 62),
    ("olist_marketing_qualified_leads_dataset.csv", "leads", 8000),
    ("olist_closed_deals_dataset.csv", "leads", 842),
    ("preppin_2021w23_nps_prep_air.csv", "nps_responses", 184),
    ("ravenstack_accounts.csv", "customers", 500),
    ("ravenstack_subscriptions.csv", "subscriptions", 5000),
])
def test_real_exports_load_without_mapping(ws, name, kind, rows):
    dataset = ws.load(name, real_file(name).read_bytes())
    assert (dataset.kind, dataset.ready, dataset.rows_read) == (kind, True, rows)
    assert not dataset.bad_values, dataset.bad_value_lines()
    count = ws.con.execute(f'SELECT count(*) FROM "{dataset.table}"').fetchone()[0]
    assert count == rows


@pytest.mark.parametrize("sql,error", [
    ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    ("SET memory_limit = '50GB'", "Cannot change configuration option"),
    ("SET enable_external_access = true", "Cannot change configuration option"),
    ("LOAD httpfs", "disabled"),
])
def test_session_connection_is_sandboxed(ws, sql, error):
    import duckdb

    with pytest.raises(duckdb.Error, match=error):
        ws.con.execute(sql)


def test_state_key_changes_with_data_maps_and_thresholds(ws):
    empty = ws.state_key()
    ws.load("c.csv", CAMPAIGNS)
    loaded = ws.state_key()
    assert loaded != empty and ws.state_key() == loaded
    ws.thresholds = ws.thresholds.with_value("email_open_rate_min", 0.2)
    assert ws.state_key() != loaded


def test_each_thread_gets_its_own_cursor_on_the_same_tables(ws):
    import threading

    ws.load("c.csv", CAMPAIGNS)
    seen = {}

    def work(name):
        seen[name] = (ws.con, ws.con.execute("SELECT count(*) FROM email_campaigns").fetchall()[0][0])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0][1] == seen[1][1] == 3
    assert seen[0][0] is not seen[1][0] and ws.con is ws.con
    with pytest.raises(Exception, match="file system operations are disabled"):
        seen[0][0].execute("SELECT * FROM read_csv('/etc/passwd')")


def test_unfinished_result_does_not_block_loading(ws):
    ws.load("c.csv", CAMPAIGNS)
    ws.con.execute("SELECT * FROM email_campaigns").fetchone()  # leaves the result open
    assert ws.load("cal.csv", b"Campaign,Start Date\nSpring,2025-03-01\n").ready


def test_user_can_pick_another_sheet(ws):
    from tests.test_ingest import xlsx_bytes

    data = xlsx_bytes({
        "2025": [["Email", "Score", "Comment"], ["a@x.com", 10, "love it"], ["b@x.com", 3, "meh"]],
        "2024": [["Email", "Score", "Comment"], ["c@x.com", 8, "fine"]],
    })
    first = ws.load("nps.xlsx", data, kinds=["nps_responses"])
    assert first.sheet == "2025" and first.sheets == ["2025", "2024"] and first.rows_read == 2
    other = ws.change_sheet("nps_responses", "2024")
    assert other.sheet == "2024" and other.rows_read == 1
    assert ws.con.execute("SELECT respondent FROM nps_responses").fetchall() == [("c@x.com",)]


def test_unmapped_column_mixing_numbers_and_text_is_kept(ws):
    # A free-form Excel column (numbers in some cells, words in others) cannot be one Arrow type;
    # the table still gets it, every cell readable as text.
    from tests.test_ingest import xlsx_bytes

    data = xlsx_bytes({"Sheet1": [["Email", "Score", "Note"], ["a@x.com", 10, 42], ["b@x.com", 3, "call back"],
                                  ["c@x.com", 8, 2.5]]})
    assert ws.load("nps.xlsx", data, kinds=["nps_responses"]).ready
    notes = ws.con.execute("SELECT CAST(note AS VARCHAR) FROM nps_responses ORDER BY _row").fetchall()
    assert [n for (n,) in notes] == ["42", "call back", "2.5"]


def test_integer_counts_keep_their_values_and_blanks():
    from lib.values import parse_integer
    import pandas as pd

    parsed = parse_integer(pd.Series([3, 0, 12], dtype="int64"))
    assert parsed.values.tolist() == [3, 0, 12] and str(parsed.values.dtype) == "Int64" and not parsed.bad.any()
    mixed = parse_integer(pd.Series([3.0, None, 6.5]))
    assert mixed.values.isna().tolist() == [False, True, True] and mixed.bad.tolist() == [False, False, True]


def test_a_column_arrow_cannot_type_is_stored_through_pandas(ws):
    import pandas as pd

    from lib.datasets import _as_arrow

    frame = pd.DataFrame({"n": [1, 2, 3], "mixed": pd.Series([42, "call back", 2.5], dtype=object)})
    assert _as_arrow(frame) is frame  # Arrow refuses int + str + float in one column
    ws.con.register("_t", _as_arrow(frame))
    assert ws.con.execute("SELECT count(*) FROM _t").fetchone()[0] == 3
    assert type(_as_arrow(frame[["n"]])).__name__ == "Table"


def _data_key_afresh(ws: Workspace) -> str:
    """data_key's formula computed anew every time (the Workspace reuses its last digest)."""
    from lib.datasets import digest, inputs_json

    parts = [(k, d.digest, d.sheet, d.table, sorted(d.mapping.items())) for k, d in sorted(ws.datasets.items())]
    return digest(repr((parts, inputs_json(ws.inputs))).encode())


def test_data_key_follows_every_change_made_in_place(ws):
    keys = [ws.data_key()]
    ws.load("c.csv", CAMPAIGNS)
    keys.append(ws.data_key())
    dataset = ws.get("email_campaigns")
    column = next(iter(dataset.mapping))
    dataset.mapping[column] = None  # a column map edited in place
    keys.append(ws.data_key())
    ws.inputs["email_costs"] = [{"a": 1}]
    keys.append(ws.data_key())
    ws.inputs["email_costs"][0]["a"] = 2  # a typed table edited in place
    keys.append(ws.data_key())
    dataset.sheet = "Sheet2"
    keys.append(ws.data_key())
    assert len(set(keys)) == len(keys)
    assert ws.data_key() == _data_key_afresh(ws) == keys[-1]
    del ws.inputs["email_costs"]
    dataset.sheet = None
    assert ws.data_key() == _data_key_afresh(ws)

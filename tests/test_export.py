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

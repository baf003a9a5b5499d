"""Reading real-world exports: title rows, sheets, encodings, delimiters, bad files."""

import io

import openpyxl
import pandas as pd
import pytest

from lib.errors import FileReadError
from lib.ingest import detect_encoding, find_header_row, read_table, sniff_delimiter
from lib.schemas import recognise
from lib.values import parse_date, parse_number
from tests.conftest import real_file

HEADER = "Campaign,Send Date,Total Recipients,Unique Opens,Unique Clicks"


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


# ------------------------------------------------------------------ CSV

def test_title_and_metadata_rows_above_header_are_skipped():
    text = ("Campaign performance report\nDate range: Jan 1 2025 - Mar 31 2025\n\n"
            f"{HEADER}\nSpring,2025-03-01,1000,250,40\nSummer,2025-03-08,1200,300,50\n")
    table = read_table("report.csv", csv_bytes(text))
    assert list(table.frame.columns) == HEADER.split(",")
    assert len(table.frame) == 2
    # header is on line 4 of the file; the first data row is row 5
    assert table.header_row == 4
    assert table.file_row(table.frame.index[0]) == 5


def test_semicolon_decimal_comma_european_dates():
    text = "Kampagne;Datum;Betrag\nA;24.02.2025;1.234,50\nB;13.03.2025;0,75\n"
    table = read_table("export.csv", csv_bytes(text))
    # '1.234,50' has a thousands dot, so the column stays text until it is typed by lib.values
    assert parse_number(table.frame["Betrag"]).values.tolist() == [1234.5, 0.75]
    assert parse_date(table.frame["Datum"]).values.dt.strftime("%Y-%m-%d").tolist() == ["2025-02-24", "2025-03-13"]
    only_decimals = read_table("e.csv", csv_bytes("Name;Wert\nA;0,5\nB;12,25\n"))
    assert only_decimals.frame["Wert"].tolist() == [0.5, 12.25]
    assert "Semicolon-separated values." in table.notes and "Decimal commas." in table.notes


def test_tab_separated_utf16_with_bom():
    text = "Name\tScore\tComment\nAnna\t9\tGreat — thanks\nBen\t3\tToo many emails\n"
    table = read_table("survey.txt", text.encode("utf-16"))
    assert list(table.frame.columns) == ["Name", "Score", "Comment"]
    assert table.frame["Comment"].tolist() == ["Great — thanks", "Too many emails"]


def test_utf8_bom_does_not_leak_into_first_header():
    table = read_table("bom.csv", b"\xef\xbb\xbf" + b"Title,Sent\nA,1\n")
    assert list(table.frame.columns) == ["Title", "Sent"]


def test_cp1252_text_is_decoded():
    text = "Title,Subject,Sent\nCafé news,Save 10 € now,100\n"
    table = read_table("cp.csv", text.encode("cp1252"))
    assert table.frame.loc[0, "Title"] == "Café news"
    assert table.frame.loc[0, "Subject"] == "Save 10 € now"
    assert "Read as cp1252 text." in table.notes


def test_blank_trailing_rows_and_columns_are_dropped():
    text = "Title,Sent,,\nA,10,,\nB,20,,\n,,,\n,,,\n"
    table = read_table("t.csv", csv_bytes(text))
    assert list(table.frame.columns) == ["Title", "Sent"]
    assert len(table.frame) == 2


def test_duplicate_headers_become_unique():
    table = read_table("d.csv", csv_bytes("Date,Date,Value\n2025-01-01,2025-01-02,1\n"))
    assert list(table.frame.columns) == ["Date", "Date (2)", "Value"]


def test_real_mailchimp_export_reads_all_rows():
    table = read_table("mailchimp.csv", real_file("mailchimp_campaigns_mydomino.csv").read_bytes())
    assert table.frame.shape == (62, 20)
    assert recognise(list(table.frame.columns)).kind == "email_campaigns"


@pytest.mark.parametrize("data,expected", [
    (b"", "is empty"),
    (b"Title,Sent\n", "has a header but no data rows"),
    (b"\n\n  \n", "has no text"),
])
def test_empty_and_header_only_files(data, expected):
    with pytest.raises(FileReadError, match=expected):
        read_table("x.csv", data)


def test_wrong_extension_names_the_supported_types():
    with pytest.raises(FileReadError, match=r"x\.pdf: files of type '\.pdf' cannot be read\. Upload one of: "):
        read_table("x.pdf", b"%PDF-1.4")


@pytest.mark.parametrize("lines,expected", [
    (["a,b,c", "1,2,3"], ","),
    (["a;b;c", "1;2,5;3"], ";"),
    (["a\tb\tc", "1\t2\t3"], "\t"),
    (["a|b|c", "1|2|3"], "|"),
])
def test_sniff_delimiter(lines, expected):
    assert sniff_delimiter(lines) == expected


@pytest.mark.parametrize("data,expected", [
    ("héllo".encode("utf-8"), "utf-8"),
    ("héllo".encode("cp1252"), "cp1252"),
    ("héllo".encode("utf-16"), "utf-16"),
    ("ab,cd\n".encode("utf-16-le"), "utf-16-le"),
    (b"\xef\xbb\xbfx", "utf-8-sig"),
])
def test_detect_encoding(data, expected):
    assert detect_encoding(data) == expected


def test_find_header_row_skips_report_titles():
    rows = [["Delighted export"], ["Generated", "2025-01-01"], [],
            ["Response ID", "Email", "Score", "Comment"], [1, "a@x.com", 9, "ok"]]
    assert find_header_row(rows) == 3


# ------------------------------------------------------------------ Excel

def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_xlsx_with_title_rows_and_datetime_cells():
    import datetime as dt

    data = xlsx_bytes({"Export": [["NPS export — Acme"], [None], ["Email", "Score", "Created"],
                                  ["a@x.com", 9, dt.datetime(2025, 5, 1, 10)],
                                  ["b@x.com", 3, dt.datetime(2025, 5, 2, 11)]]})
    table = read_table("nps.xlsx", data)
    assert list(table.frame.columns) == ["Email", "Score", "Created"]
    assert table.header_row == 3
    assert table.frame["Score"].tolist() == [9, 3]
    assert pd.api.types.is_datetime64_any_dtype(table.frame["Created"])


def test_xlsx_picks_the_sheet_that_matches_and_lets_user_choose():
    data = xlsx_bytes({
        "Notes": [["This workbook was exported from Delighted"], ["Read me first"]],
        "Responses": [["Email", "Score", "Comment"], ["a@x.com", 10, "love it"]],
    })

    def nps_score(columns):
        return recognise(columns, ["nps_responses"]).score

    table = read_table("nps.xlsx", data, score_header=nps_score)
    assert table.sheet == "Responses" and table.sheets == ["Notes", "Responses"]
    chosen = read_table("nps.xlsx", data, sheet="Notes")
    assert chosen.sheet == "Notes"
    with pytest.raises(FileReadError, match="has no sheet 'Other'. Sheets are: Notes, Responses"):
        read_table("nps.xlsx", data, sheet="Other")


def test_xlsm_extension_reads_like_xlsx():
    data = xlsx_bytes({"Data": [["Title", "Sent"], ["A", 5]]})
    assert read_table("macro.xlsm", data).frame["Sent"].tolist() == [5]


def test_mixed_column_keeps_text_so_bad_scores_are_counted_not_dropped():
    data = xlsx_bytes({"S": [["Score"], *[[9]] * 1500, ["ten"], [6.5]]})
    frame = read_table("s.xlsx", data).frame
    assert len(frame) == 1502
    assert "ten" in frame["Score"].astype(str).tolist()


def test_password_protected_workbook_says_how_to_fix():
    protected = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    with pytest.raises(FileReadError, match="password-protected"):
        read_table("secret.xlsx", protected)


def test_corrupt_workbook_is_a_plain_error():
    with pytest.raises(FileReadError, match="not a valid Excel workbook"):
        read_table("broken.xlsx", b"PK\x03\x04 this is not really a zip")
    with pytest.raises(FileReadError, match="could not be opened as a spreadsheet"):
        read_table("broken.xls", b"garbage bytes that are not a workbook")


def test_empty_sheet_and_header_only_sheet():
    with pytest.raises(FileReadError, match="has a header but no data rows"):
        read_table("h.xlsx", xlsx_bytes({"S": [["Email", "Score"]]}))


def test_legacy_xls_with_title_row():
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Report")
    sheet.write(0, 0, "Campaign report (exported)")
    for c, name in enumerate(["Title", "Send Date", "Total Recipients", "Unique Opens", "Unique Clicks"]):
        sheet.write(2, c, name)
    for r, row in enumerate([["A", "2025-01-06", 1000, 250, 40], ["B", "2025-01-13", 800, 100, 20]], start=3):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    buf = io.BytesIO()
    book.save(buf)
    table = read_table("old.xls", buf.getvalue())
    assert table.header_row == 3 and table.frame["Total Recipients"].tolist() == [1000, 800]


def test_ods_spreadsheet():
    frame = pd.DataFrame({"Email": ["a@x.com", "b@x.com"], "Score": [10, 2]})
    buf = io.BytesIO()
    frame.to_excel(buf, engine="odf", index=False)
    table = read_table("survey.ods", buf.getvalue())
    assert table.frame["Score"].tolist() == [10, 2]


def test_cp1252_byte_far_past_the_sniffed_start_is_still_decoded():
    body = "".join(f"Campaign {i},{i}\n" for i in range(8000))  # > 64 KB of plain ASCII
    data = ("Title,Sent\n" + body + "Café €,5\n").encode("cp1252")
    table = read_table("late.csv", data)
    assert table.frame["Title"].iloc[-1] == "Café €"
    assert "Read as cp1252 text." in table.notes


@pytest.mark.parametrize("block_bytes", [1 << 12, 1 << 16])
def test_quoted_line_breaks_cut_by_a_parse_block_are_read_whole(monkeypatch, block_bytes):
    # Notes with line breaks inside quotes (deal notes, community posts); small blocks make the
    # fast parse cut some of them, so the careful parse must take over and lose or split nothing.
    import lib.ingest as ingest

    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", block_bytes)
    lines = ["deal_id,note,amount"]
    for i in range(3000):
        note = f'"call {i}:\nasked about ""pricing""\r\nfollow up"' if i % 7 == 0 else f"note {i}"
        lines.append(f"{i},{note},{i * 10}")
    frame = read_table("notes.csv", ("\n".join(lines) + "\n").encode()).frame
    assert len(frame) == 3000 and frame["amount"].sum() == 10 * sum(range(3000))
    assert frame["note"][7] == 'call 7:\nasked about "pricing"\r\nfollow up'
    assert frame["note"][8] == "note 8"

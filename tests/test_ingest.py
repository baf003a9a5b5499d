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


# ------------------------------------------------------------------ Excel: safety (issue #17, #18)

import collections  # noqa: E402
import zipfile  # noqa: E402

import lib.ingest as ingest  # noqa: E402
from tests.nasty import Error, sheet_xml, understated, workbook, zip_bomb  # noqa: E402


@pytest.fixture
def unpacked(monkeypatch):
    """Bytes unpacked from each part of a zip, counted as the reader asks for them."""
    counts: collections.Counter = collections.Counter()
    original = zipfile.ZipExtFile.read

    def read(self, n=-1):
        data = original(self, n)
        counts[self.name] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return counts


def test_zip_bomb_is_refused_from_the_zip_directory_without_unpacking(unpacked):
    data = zip_bomb(2 * 10**9)  # ~7 MB that unpacks to 2 GB of sheet XML
    unpacked.clear()
    with pytest.raises(FileReadError, match=r"^bomb\.xlsx would unpack from [\d.]+ MB to 2 GB — \d+ times its "
                                            r"packed size.*it was not opened\. If it is a real export, save it as CSV"):
        read_table("bomb.xlsx", data)
    assert unpacked["xl/worksheets/sheet1.xml"] == 0


def test_workbook_over_the_unpacked_limit_is_refused(monkeypatch):
    monkeypatch.setattr(ingest, "ZIP_MAX_UNPACKED", 10_000)
    data = workbook({"S": [["Email", "Score"]] + [[f"u{i}@x.com", i % 11] for i in range(500)]})
    with pytest.raises(FileReadError, match=r"big\.xlsx would unpack from .* more than Boundary reads from one "
                                            r"workbook; it was not opened"):
        read_table("big.xlsx", data)


def test_part_that_understates_its_size_is_refused_as_damaged(unpacked):
    rows = [["Email", "Score"]] + [[f"u{i}@x.com", i % 11] for i in range(20000)]
    data = understated(workbook({"S": rows}), "xl/worksheets/sheet1.xml", claimed=1000)
    unpacked.clear()
    with pytest.raises(FileReadError, match=r"^lie\.xlsx is damaged: .* could not be unpacked\. Open it in Excel"):
        read_table("lie.xlsx", data)
    # Python's zip reader stops at the stated size, so the part is never unpacked past it
    assert unpacked["xl/worksheets/sheet1.xml"] <= 1000


def test_sheets_that_share_one_part_are_refused_before_any_is_read(unpacked):
    rows = [["Email", "Score"]] + [[f"u{i}@x.com", i % 11] for i in range(5000)]
    one = "worksheets/sheet1.xml"
    data = workbook({"A": rows, "B": rows, "C": rows}, parts={"A": one, "B": one, "C": one}, dimension=None)
    unpacked.clear()
    with pytest.raises(FileReadError, match=r"^shared\.xlsx: sheets 'A' and 'B' point to the same data inside "
                                            r"the file.*Open it in Excel, save it again as \.xlsx"):
        read_table("shared.xlsx", data)
    assert unpacked["xl/worksheets/sheet1.xml"] == 0


def test_sheets_without_dimension_are_previewed_from_their_first_rows_only(unpacked):
    # Without <dimension> the old preview parsed each sheet whole in Python (42 kB took 15 s).
    rows = [["Email", "Score", "Sent"]] + [[f"u{i}@x.com", i % 11, i] for i in range(20000)]
    data = workbook({"A": rows, "B": rows, "C": rows}, dimension=None)
    sizes = {i.filename: i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()}
    unpacked.clear()
    table = read_table("nodim.xlsx", data, score_header=lambda cols: recognise(cols, ["nps_responses"]).score)
    assert table.sheet == "A" and len(table.frame) == 20000
    for part in ("xl/worksheets/sheet2.xml", "xl/worksheets/sheet3.xml"):
        # one 64 KB chunk holds the first 30 rows; the part is ~1 MB
        assert unpacked[part] <= ingest._XML_CHUNK < sizes[part] / 10


def test_only_the_first_sheets_are_previewed_and_the_page_says_so(unpacked):
    sheets = {f"S{i}": [["Email", "Score"], [f"u{i}@x.com", i % 11]] for i in range(ingest.PREVIEW_SHEETS + 5)}
    table = read_table("many.xlsx", workbook(sheets), score_header=lambda cols: 1.0)
    assert table.sheet == "S0" and len(table.sheets) == ingest.PREVIEW_SHEETS + 5
    assert unpacked[f"xl/worksheets/sheet{ingest.PREVIEW_SHEETS + 1}.xml"] == 0
    assert f"Only the first {ingest.PREVIEW_SHEETS} of {ingest.PREVIEW_SHEETS + 5} sheets were looked at" in " ".join(table.notes)
    assert read_table("many.xlsx", workbook(sheets), sheet="S24").frame["Score"].tolist() == [24 % 11]


def test_several_matching_sheets_read_the_first_and_say_the_others_match():
    # Issue #18: the full order lines on the first sheet (its <dimension> wrongly 'A1', as some
    # tools write it, which cut the old preview to one column), a pilot on the third.
    header = ["order_id", "user_id", "event_time", "revenue"]
    full = [header] + [[i, f"u{i % 40}", f"2025-01-{1 + i % 28:02d}", 10.5] for i in range(400)]
    sheets = {"Orders": sheet_xml(full, dimension="A1"), "Read me": [["Exported from the shop"]],
              "Pilot": full[:21], "Lookup": [["code", "name"], [1, "a"]]}
    table = read_table("orders.xlsx", workbook(sheets), score_header=lambda cols: recognise(cols, ["activity"]).score)
    assert table.sheet == "Orders" and len(table.frame) == 400
    assert ("Read sheet 'Orders' of 4, the first whose columns match; 'Pilot' matches too — pick another "
            "under Columns → Sheet.") in table.notes


def test_excel_error_cells_are_read_blank_and_counted_with_their_rows():
    # Some errors made the reader refuse the whole sheet (#SPILL!, a #NAME? among numbers);
    # the others became blanks that nobody counted.
    rows = [["Email", "Score", "Sent", "Campaign"],
            ["a@x.com", 9, 100, "Spring"],                           # row 2
            ["b@x.com", Error("#N/A"), 100, "Spring"],               # row 3
            ["c@x.com", 7, Error("#DIV/0!"), Error("#VALUE!")],      # row 4
            ["d@x.com", Error("#NAME?"), 80, "Summer"],              # row 5
            ["e@x.com", Error("#SPILL!"), Error("#REF!"), "Summer"],  # row 6
            [None, Error("#CALC!"), None, None]]                     # row 7: only an error
    table = read_table("errors.xlsx", workbook({"Survey": rows}))
    assert len(table.frame) == 6  # the row holding only an error is kept, so its cell is counted
    assert table.frame["Score"].tolist()[:1] == [9] and table.frame["Score"].isna().tolist() == [False, True, False, True, True, True]
    assert {c: {table.file_row(i): t for i, t in cells.items()} for c, cells in table.unreadable.items()} == {
        "Score": {3: "#N/A", 5: "#NAME?", 6: "#SPILL!", 7: "#CALC!"},
        "Sent": {4: "#DIV/0!", 6: "#REF!"}, "Campaign": {4: "#VALUE!"}}
    note = next(n for n in table.notes if "could not be read" in n)
    assert note.startswith("7 cell(s) could not be read and count as missing — Score: 4 (rows 3, 5, 6, 7; ")
    assert "Sent: 2 (rows 4, 6; #DIV/0!, #REF!)" in note and "Campaign: 1 (row 4; #VALUE!)" in note


def test_error_cells_in_a_big_sheet_are_found_without_parsing_it_in_python():
    rows = [["Email", "Score"]] + [[f"u{i}@x.com", Error("#N/A") if i % 997 == 0 else i % 11] for i in range(30000)]
    table = read_table("big_errors.xlsx", workbook({"S": rows}))
    assert sorted(table.unreadable["Score"]) == list(range(0, 30000, 997))


def test_error_cells_reach_the_page_as_unreadable_cells_of_their_column(ws):
    rows = [["Email", "Score", "Date"], ["a@x.com", 9, "2025-01-01"], ["b@x.com", Error("#N/A"), "2025-01-02"],
            ["c@x.com", 3, "2025-01-03"], ["d@x.com", Error("#DIV/0!"), "2025-01-04"]]
    dataset = ws.load("nps.xlsx", workbook({"Responses": rows}), kinds=["nps_responses"])
    assert dataset.ready and dataset.rows_read == 4
    bad = dataset.bad_values["score"]
    assert (bad.count, bad.rows, bad.examples) == (2, [3, 5], ["#N/A", "#DIV/0!"])
    assert ws.con.execute("SELECT count(score) FROM nps_responses").fetchone()[0] == 2
    assert any(line.startswith("Score (Score 0–10): 2 cell(s) not readable") for line in dataset.bad_value_lines())


# ------------------------------------------------------------------ CSV: ragged rows, long headers

def test_row_with_an_extra_field_is_left_out_counted_and_named_by_its_row():
    # The fallback reader used to drop such rows with only a log warning.
    text = "Title,Sent,Opens\nA,10,5\nB,20,6,EXTRA\nC,30\nD,40,7\n"
    table = read_table("ragged.csv", csv_bytes(text))
    assert table.frame["Title"].tolist() == ["A", "C", "D"]
    assert table.left_out == [3]  # file row 3: 'B,20,6,EXTRA'
    assert [table.file_row(i) for i in table.frame.index] == [2, 4, 5]  # row numbers stay the file's
    assert ("1 row(s) left out: they have more fields than the header (row 3). Check the separators and quotes "
            "in those rows.") in table.notes
    # a short row is kept, its missing cells blank, and said so
    assert table.frame.loc[table.frame["Title"] == "C", "Opens"].isna().all()
    assert "1 row(s) have fewer fields than the header; their missing cells are blank (row 4)." in table.notes


def test_ragged_rows_below_title_rows_keep_their_file_row_numbers(ws):
    text = "Campaign report\n\nTitle,Send Date,Total Recipients,Unique Opens,Unique Clicks\n" + "".join(
        f"C{i},2025-01-{i:02d},100,{i},1{',9' if i in (4, 7) else ''}\n" for i in range(1, 11))
    dataset = ws.load("report.csv", csv_bytes(text), kinds=["email_campaigns"])
    assert dataset.ready and dataset.rows_read == 8
    assert any("2 row(s) left out" in n and "(rows 7, 10)" in n for n in dataset.notes)
    rows = ws.con.execute("SELECT _row FROM email_campaigns ORDER BY _row").fetchall()
    assert [r[0] for r in rows] == [4, 5, 6, 8, 9, 11, 12, 13]


def test_a_trailing_separator_on_every_row_loses_nothing():
    table = read_table("trailing.csv", csv_bytes("Title,Sent,Opens\nA,10,5,\nB,20,6,\n"))
    assert list(table.frame.columns) == ["Title", "Sent", "Opens"] and len(table.frame) == 2
    assert table.left_out == [] and not any("left out" in n for n in table.notes)


def test_a_quote_never_closed_is_said_with_its_row():
    table = read_table("quote.csv", csv_bytes('Title,Sent,Opens\nA,10,5\nB,"20,6\nC,30,7\nD,40,8\n'))
    assert table.frame["Title"].tolist() == ["A"] and table.left_out == [3]
    assert ("Row 3 left out: it opens a quote that is never closed, so the 2 line(s) after it were read into "
            "it. Check the quotes in that row.") in table.notes


def test_a_type_change_far_down_keeps_every_row(monkeypatch):
    monkeypatch.setattr(ingest, "CSV_BLOCK_BYTES", 1 << 12)  # the fast parse types a column from its first block
    text = "Title,Sent\n" + "".join(f"C{i},{i}\n" for i in range(2000)) + "Z,lots\n"
    table = read_table("late.csv", csv_bytes(text))
    assert len(table.frame) == 2001 and table.frame["Sent"].iloc[-1] == "lots" and table.left_out == []


def test_header_longer_than_the_sniffed_start_is_read():
    # A survey with hundreds of question columns: its header passed 64 KB and the file was
    # refused as "has no text".
    questions = [f"On a scale of 0 to 10; how would you rate session {i} of the conference?" for i in range(1200)]
    text = ",".join(questions) + "\n" + ",".join(str(i % 11) for i in range(1200)) + "\n"
    assert len(text.split("\n")[0]) > 64 * 1024
    table = read_table("survey.csv", csv_bytes(text))
    assert list(table.frame.columns) == questions and table.frame.iloc[0, 1200 - 1] == 1199 % 11


def test_a_file_without_any_line_break_is_refused_in_plain_words():
    with pytest.raises(FileReadError, match=r"^blob\.csv: its first 16 MB hold no line break, so it is not a table"):
        read_table("blob.csv", b"x" * (ingest.MAX_LINE_BYTES + 10))


def test_header_strings_far_into_the_shared_strings_are_found():
    # A workbook edited over time: 200,000 strings before the ones its sheet uses.
    old = [f"old note {i}" for i in range(200_000)]
    rows = [["Email", "Score", "Comment"]] + [[f"u{i}@x.com", i % 11, "ok"] for i in range(50)]
    data = workbook({"Responses": rows}, shared_strings=old)
    table = read_table("strings.xlsx", data, score_header=lambda cols: recognise(cols, ["nps_responses"]).score)
    assert list(table.frame.columns) == ["Email", "Score", "Comment"] and table.frame["Email"].iloc[49] == "u49@x.com"


def test_the_preview_of_all_sheets_has_one_byte_budget(monkeypatch, unpacked):
    monkeypatch.setattr(ingest, "PEEK_TOTAL_BYTES", 3 * ingest._XML_CHUNK)
    wide = [[f"question {c}" for c in range(3000)]] + [[c % 11 for c in range(3000)] for _ in range(5)]
    sheets = {f"S{i}": wide for i in range(6)}  # each sheet's first rows: ~300 KB of XML
    table = read_table("wide.xlsx", workbook(sheets))
    assert table.sheet == "S0"
    assert sum(unpacked[f"xl/worksheets/sheet{i}.xml"] for i in range(2, 7)) <= 3 * ingest._XML_CHUNK
    assert any(n.startswith("Only the first") for n in table.notes)

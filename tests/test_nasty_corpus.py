"""A corpus of nasty files through the page's loading path (Workspace.load: bytes → typed DuckDB
table), each made here in memory. Every file must end in one of two ways:
- a BoundaryError whose message is plain (names the file, no traceback, class name or server path);
- figures: a table whose row count is the rows read, with every data row of the file either
  loaded or counted as left out (rows in = rows loaded + rows left out), and unreadable cells
  counted per column.
Issues #17 and #18: "a corpus test runs a few dozen nasty files through the loading path".
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import random
import re
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import openpyxl
import pandas as pd
import pytest

from lib.errors import BoundaryError
from lib.sql import quote_ident
from tests.nasty import Error, sheet_xml, understated, workbook, zip_bomb

EMAIL = "Campaign,Send Date,Total Recipients,Unique Opens,Unique Clicks"
NPS = "Email,Score,Date"


def email_rows(n: int, sep: str = ",") -> list[str]:
    return [sep.join([f"Campaign {i}", f"2025-01-{1 + i % 28:02d}", str(1000 + i), str(200 + i), str(20 + i)])
            for i in range(n)]


def nps_rows(n: int) -> list[str]:
    return [f"person{i}@example.com,{i % 11},2025-02-{1 + i % 28:02d}" for i in range(n)]


def lines(*parts: str | list[str], end: str = "\n") -> bytes:
    out: list[str] = []
    for part in parts:
        out += part if isinstance(part, list) else [part]
    return (end.join(out) + end).encode()


def xlsx_openpyxl(rows: list[list[object]], title: str = "Data") -> bytes:
    book = openpyxl.Workbook()
    book.active.title = title
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def xls_bytes() -> bytes:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Report")
    sheet.write(0, 0, "Campaign report (exported)")
    for r, row in enumerate([EMAIL.split(","), *[line.split(",") for line in email_rows(6)]], start=2):
        for c, value in enumerate(row):
            sheet.write(r, c, int(value) if value.isdigit() else value)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def ods_bytes() -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"Email": ["a@x.com", "b@x.com", "c@x.com"], "Score": [10, 2, 7]}).to_excel(buf, engine="odf", index=False)
    return buf.getvalue()


@dataclass
class Case:
    name: str
    make: Callable[[], bytes]
    kinds: list[str] | None = None
    refused: str | None = None  # the plain message must match this
    rows_in: int | None = None  # data rows in the file, counted by hand
    ready: bool | None = None  # True: the page gets figures
    bad: dict[str, int] = field(default_factory=dict)  # canonical column → unreadable cells
    left_out: int | None = None  # rows left out, counted by hand
    xfail: str | None = None  # being fixed elsewhere (lib/values.py) in parallel


def _utf16_no_bom() -> bytes:
    return lines(NPS, nps_rows(20)).decode().encode("utf-16-le")


def _mixed_line_endings() -> bytes:
    rows = [NPS, *nps_rows(20)]
    return "".join(row + ["\r\n", "\n", "\r"][i % 3] for i, row in enumerate(rows)).encode()


def _unbalanced_quote() -> bytes:
    rows = email_rows(10)
    rows[4] = rows[4].replace("Campaign 4", '"Campaign 4')  # the quote swallows rows 5-9 of the data
    return lines(EMAIL, rows)


def _ragged() -> bytes:
    rows = email_rows(10)
    rows[2] += ",extra"  # file row 4
    rows[7] += ",extra,more"  # file row 9
    return lines(EMAIL, rows)


def _short_rows() -> bytes:
    rows = email_rows(10)
    rows[3] = ",".join(rows[3].split(",")[:3])  # no opens or clicks
    return lines(EMAIL, rows)


def _one_mb_cell() -> bytes:
    long = "This product is great but the export is slow. " * (1_048_576 // 47 + 1)
    return lines("Date,Text,Author", f"2025-01-01,\"{long}\",ann", "2025-01-02,Works fine,bob", "2025-01-03,Bad,cy")


def _wide_header() -> bytes:
    questions = [f"On a scale of 0 to 10; how would you rate session {i} of the conference?" for i in range(1200)]
    return lines("Timestamp," + ",".join(questions),
                 *[f"2025-03-0{d}," + ",".join(str((i + d) % 11) for i in range(1200)) for d in range(1, 4)])


def _very_wide() -> bytes:
    return lines(",".join(f"col{i}" for i in range(3000)), *[",".join(str(i * r) for i in range(3000)) for r in range(5)])


def _nul_bytes() -> bytes:
    rows = nps_rows(20)
    rows[5] = rows[5].replace("@", "\x00@")
    return lines(NPS, rows)


def _garbage() -> bytes:
    return random.Random(7).randbytes(4096)


def _pdf_named_csv() -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + random.Random(3).randbytes(2048)


def _truncated_xlsx() -> bytes:
    data = xlsx_openpyxl([NPS.split(","), *[r.split(",") for r in nps_rows(50)]])
    return data[: len(data) // 2]


def _error_cells_xlsx() -> bytes:
    rows: list[list[object]] = [["Email", "Score", "Date"]]
    for i in range(12):
        score: object = Error(["#N/A", "#DIV/0!", "#VALUE!"][i % 3]) if i % 4 == 0 else i % 11
        rows.append([f"p{i}@example.com", score, f"2025-02-{i + 1:02d}"])
    return workbook({"Responses": rows})


def _pilot_xlsx() -> bytes:
    header = ["User ID", "Timestamp", "Event", "Revenue"]
    full = [header] + [[f"u{i % 30}", f"2025-01-{1 + i % 28:02d} 10:00", "order", 12.5] for i in range(300)]
    return workbook({"Orders": sheet_xml(full, dimension="A1"), "Read me": [["From the shop"]],
                     "Pilot": full[:16], "Codes": [["code", "name"], [1, "a"]]})


def _sentinel_dates_xlsx() -> bytes:
    rows = [["Customer ID", "Start Date", "End Date", "MRR"]]
    rows += [[f"c{i}", dt.datetime(2024, 1 + i % 12, 1), dt.datetime(9999, 12, 31) if i % 2 else dt.datetime(2025, 6, 1), 100]
             for i in range(10)]
    return xlsx_openpyxl(rows)


def _replace_part(data: bytes, part: str, text: bytes | None) -> bytes:
    """The zip `data` with `part` replaced by `text` (None: removed)."""
    source, buf = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename != part:
                out.writestr(info.filename, source.read(info))
            elif text is not None:
                out.writestr(part, text)
    return buf.getvalue()


def _entity_expansion_xlsx() -> bytes:
    data = workbook({"S": [["Email", "Score"], ["a@x.com", 9]]})
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>')
    book = zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml").split(b"?>", 1)[1]
    return _replace_part(data, "xl/workbook.xml", laughs + book.replace(b'name="S"', b'name="&lol2;"'))


def _encrypted_entries_xlsx() -> bytes:
    """Every entry flagged as encrypted (ZipCrypto), as a workbook 'protected' by a zip tool is."""
    data = bytearray(workbook({"S": [["Email", "Score"], ["a@x.com", 9]]}))
    for info in zipfile.ZipFile(io.BytesIO(bytes(data))).infolist():
        data[info.header_offset + 6] |= 1
    at = bytes(data).find(b"PK\x01\x02")
    while at != -1:
        data[at + 8] |= 1
        at = bytes(data).find(b"PK\x01\x02", at + 4)
    return bytes(data)


CASES = [
    # ---- empty and almost empty
    Case("empty.csv", lambda: b"", refused=r"^empty\.csv is empty \(0 bytes\)"),
    Case("header_only.csv", lambda: lines(EMAIL), refused=r"^header_only\.csv has a header but no data rows"),
    Case("bom_only.csv", lambda: codecs.BOM_UTF8, refused=r"^bom_only\.csv has no text in it"),
    Case("blank_lines.csv", lambda: b"\n\r\n   \n\t\n", refused=r"^blank_lines\.csv has no"),
    Case("only_separators.csv", lambda: b",,,\n,,,\n;;\n", refused=r"^only_separators\.csv has (no|a header but no data)"),
    # two lines of text: the first is taken as a one-column header, the page asks for the columns
    Case("title_rows_only.csv", lambda: lines("Campaign report", "Generated 2025-01-01"), rows_in=1, ready=False),
    # ---- not a CSV at all
    Case("garbage.csv", _garbage),
    Case("pdf_named.csv", _pdf_named_csv, refused=r"^pdf_named\.csv is a PDF document, not a text file"),
    # gzip writes the time into its header: some runs read as one garbled row, some as a bare header
    Case("gzipped.csv", lambda: gzip.compress(lines(EMAIL, email_rows(20))),
         refused=r"^gzipped\.csv is compressed with gzip, not a text file"),
    Case("no_line_break.csv", lambda: b"x," * 9_000_000, refused=r"^no_line_break\.csv: its first 16 MB hold no line break"),
    # ---- encodings and bytes
    Case("utf16_without_bom.csv", _utf16_no_bom, ["nps_responses"], rows_in=20, ready=True),
    Case("utf16_with_bom.txt", lambda: lines(NPS.replace(",", "\t"), [r.replace(",", "\t") for r in nps_rows(8)]).decode().encode("utf-16"),
         ["nps_responses"], rows_in=8, ready=True),
    Case("cp1252.csv", lambda: lines(EMAIL, [r.replace("Campaign", "Café €") for r in email_rows(6)]).decode().encode("cp1252"),
         ["email_campaigns"], rows_in=6, ready=True),
    Case("nul_bytes.csv", _nul_bytes, ["nps_responses"], rows_in=20, ready=True),
    Case("mixed_line_endings.csv", _mixed_line_endings, ["nps_responses"], rows_in=20, ready=True),
    Case("bom_semicolons_decimal_comma.csv",
         lambda: codecs.BOM_UTF8 + lines("Customer ID;Start Date;MRR", "c1;01.02.2025;1.234,50", "c2;15.03.2025;99,90"),
         ["subscriptions"], rows_in=2, ready=True),
    Case("one_column.csv", lambda: lines("Comment", "Great", "Slow export", "", "Fine"), rows_in=3),
    Case("tabs_quoted.txt", lambda: lines("Date\tText\tAuthor", '2025-01-01\t"tab\there"\tann',
                                                           "2025-01-02\tplain\tbob"), ["texts"], rows_in=2, ready=True),
    Case("emoji_and_rtl_headers.csv", lambda: lines("Email 📧,Score ⭐,تاريخ", "a@x.com,9,2025-01-01", "b@x.com,3,2025-01-02"),
         rows_in=2),
    # ---- rows and quotes
    Case("ragged_rows.csv", _ragged, ["email_campaigns"], rows_in=10, ready=True, left_out=2),
    Case("short_rows.csv", _short_rows, ["email_campaigns"], rows_in=10, ready=True, left_out=0),
    Case("trailing_separators.csv", lambda: lines(EMAIL, [r + "," for r in email_rows(8)]), ["email_campaigns"],
         rows_in=8, ready=True, left_out=0),
    # the quote opened in data row 5 swallows rows 6-10: the file holds 5 records, 1 left out
    Case("unbalanced_quote.csv", _unbalanced_quote, ["email_campaigns"], rows_in=5, ready=True, left_out=1),
    Case("quote_inside_field.csv", lambda: lines(EMAIL, [r.replace("Campaign 3", 'Campaign "3" spring') for r in email_rows(6)]),
         ["email_campaigns"], rows_in=6, ready=True),
    Case("one_mb_cell.csv", _one_mb_cell, ["texts"], rows_in=3, ready=True),
    Case("duplicate_headers.csv", lambda: lines(EMAIL + ",Send Date,Unique Opens", [r + ",x,y" for r in email_rows(5)]),
         ["email_campaigns"], rows_in=5, ready=True),
    Case("blank_headers.csv", lambda: lines("Campaign,,Send Date,Total Recipients,,Unique Opens,Unique Clicks",
                                            [f"C{i},note,2025-01-0{i + 1},100,,{i},1" for i in range(5)]),
         ["email_campaigns"], rows_in=5, ready=True),
    Case("header_over_64kb.csv", _wide_header, rows_in=3),
    Case("three_thousand_columns.csv", _very_wide, rows_in=5),
    # ---- values the parsers must count, not crash on
    Case("sentinel_dates.csv", lambda: lines("Customer ID,Start Date,End Date,MRR",
                                             [f"c{i},2024-0{1 + i % 9}-01,{'9999-12-31' if i % 2 else '2025-06-01'},100" for i in range(10)]),
         ["subscriptions"], rows_in=10, ready=True),
    Case("inf_in_counts.csv", lambda: lines(EMAIL, [r.rsplit(",", 2)[0] + f",{v},5" for r, v in
                                                    zip(email_rows(6), ["inf", "1e400", "-inf", "NaN", "130", "140"])]),
         ["email_campaigns"], rows_in=6, ready=True, bad={"unique_opens": 3}),  # 'NaN' is a blank, not a bad cell
    Case("excel_serial_dates.csv", lambda: lines("User ID,Timestamp,Event", [f"u{i},{45291.5 + i},login" for i in range(8)]),
         ["activity"], rows_in=8, ready=True, bad={}),
    Case("negative_counts.csv", lambda: lines(EMAIL, [r.rsplit(",", 1)[0] + ",-5" for r in email_rows(4)]),
         ["email_campaigns"], rows_in=4, ready=True),
    # ---- workbooks
    Case("header_only.xlsx", lambda: workbook({"S": [["Email", "Score"]]}), refused=r"^header_only\.xlsx.*has a header but no data rows"),
    Case("empty_sheets.xlsx", lambda: workbook({"A": [], "B": []}), refused=r"^empty_sheets\.xlsx: sheet 'A' is empty"),
    Case("error_cells.xlsx", _error_cells_xlsx, ["nps_responses"], rows_in=12, ready=True, bad={"score": 3}),
    Case("zip_bomb.xlsx", lambda: zip_bomb(2 * 10**9), refused=r"^zip_bomb\.xlsx would unpack from .* it was not opened"),
    Case("not_a_zip.xlsx", lambda: lines(EMAIL, email_rows(3)), refused=r"^not_a_zip\.xlsx is not a valid Excel workbook"),
    Case("truncated.xlsx", _truncated_xlsx, refused=r"^truncated\.xlsx (is not a valid Excel workbook|is damaged)"),
    Case("password.xlsx", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024, refused=r"^password\.xlsx is password-protected"),
    Case("web_page.xls", lambda: b"<html><body><table><tr><td>Email</td><td>Score</td></tr></table></body></html>",
         refused=r"^web_page\.xls is a web page \(HTML or XML\) with an \.xls name"),
    Case("sheets_share_a_part.xlsx", lambda: workbook({"A": [["Email", "Score"], ["a@x.com", 9]], "B": []},
                                                      parts={"A": "worksheets/s.xml", "B": "worksheets/s.xml"}),
         refused=r"^sheets_share_a_part\.xlsx: sheets 'A' and 'B' point to the same data"),
    Case("understated_size.xlsx", lambda: understated(workbook({"S": [["Email", "Score"]] + [[f"u{i}", i % 11] for i in range(3000)]}),
                                                      "xl/worksheets/sheet1.xml"),
         refused=r"^understated_size\.xlsx is damaged"),
    Case("entity_expansion.xlsx", _entity_expansion_xlsx, refused=r"^entity_expansion\.xlsx: its xl/workbook\.xml declares XML entities"),
    Case("encrypted_entries.xlsx", _encrypted_entries_xlsx, refused=r"^encrypted_entries\.xlsx is damaged"),
    Case("unknown_encoding.xlsx", lambda: _replace_part(workbook({"S": [["Email", "Score"], ["a@x.com", 9]]}), "xl/workbook.xml",
                                                        zipfile.ZipFile(io.BytesIO(workbook({"S": []}))).read("xl/workbook.xml")
                                                        .replace(b'encoding="UTF-8"', b'encoding="Ut6"')),
         refused=r"^unknown_encoding\.xlsx is damaged"),
    Case("sheet_part_missing.xlsx", lambda: _replace_part(workbook({"S": [["Email", "Score"], ["a@x.com", 9]]}),
                                                          "xl/worksheets/sheet1.xml", None),
         refused=r"^sheet_part_missing\.xlsx is damaged: sheet 'S' has no data in the file"),
    Case("odd_sheet_names.xlsx", lambda: workbook({"Q1 'Sales' & <returns>": [["Email", "Score"], ["a@x.com", 9]],
                                                   "Données été": [["Email", "Score"], ["b@x.com", 3], ["c@x.com", 10]]}),
         ["nps_responses"], rows_in=1, ready=True),
    Case("no_dimension.xlsx", lambda: workbook({n: [["Email", "Score"]] + [[f"u{i}@x.com", i % 11] for i in range(2000)] for n in "ABC"},
                                               dimension=None), ["nps_responses"], rows_in=2000, ready=True),
    Case("pilot_on_third_sheet.xlsx", _pilot_xlsx, ["activity"], rows_in=300, ready=True),
    Case("twenty_five_sheets.xlsx", lambda: workbook({f"S{i}": [["Email", "Score"], [f"u{i}@x.com", i % 11]] for i in range(25)}),
         ["nps_responses"], rows_in=1, ready=True),
    Case("sentinel_dates.xlsx", _sentinel_dates_xlsx, ["subscriptions"], rows_in=10, ready=True),
    Case("legacy.xls", xls_bytes, ["email_campaigns"], rows_in=6, ready=True),
    Case("survey.ods", ods_bytes, ["nps_responses"], rows_in=3, ready=True),
    Case("csv_named.xls", lambda: lines(EMAIL, email_rows(3)), refused=r"^csv_named\.xls could not be opened as a spreadsheet"),
]

_NOT_PLAIN = re.compile(r"Traceback|File \"|site-packages|/work/|/tmp/|\b\w+(?:Error|Exception)\b(?<!BoundaryError)|"
                        r"ArrowInvalid|Calamine|<class ")


def assert_plain(message: str, file_name: str | None = None) -> None:
    assert message and len(message) < 2000, message
    assert not _NOT_PLAIN.search(message), f"not plain: {message}"
    if file_name is not None:
        assert file_name in message, f"does not name the file: {message}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.xfail, strict=False)]
                                               if c.xfail else []) for c in CASES])
def test_nasty_file_gets_a_plain_message_or_figures(case: Case, ws):
    data = case.make()
    try:
        dataset = ws.load(case.name, data, kinds=case.kinds)
    except BoundaryError as exc:  # any other exception type fails the test
        assert_plain(str(exc), case.name)
        assert case.refused is not None, f"refused: {exc}"
        assert re.search(case.refused, str(exc)), str(exc)
        return
    assert case.refused is None, f"expected a refusal matching {case.refused!r}, got {dataset}"
    if not dataset.ready:
        assert_plain(dataset.missing_message(), case.name)
    for line in [*dataset.notes, *dataset.bad_value_lines()]:
        assert_plain(line)
    table = ws._tables[dataset.kind]  # the file as read (the Workspace keeps it for re-mapping)
    if case.rows_in is not None:
        assert dataset.rows_read + len(table.left_out) == case.rows_in, (dataset.rows_read, table.left_out)
    if case.left_out is not None:
        assert len(table.left_out) == case.left_out
        if case.left_out:
            assert any("left out" in note for note in dataset.notes)
    if case.ready is not None:
        assert dataset.ready == case.ready, dataset.missing_message()
    if dataset.ready:
        count = ws.con.execute(f"SELECT count(*) FROM {quote_ident(dataset.table)}").fetchone()[0]
        assert count == dataset.rows_read
        assert {c: b.count for c, b in dataset.bad_values.items() if c in case.bad or case.bad == {}} == case.bad


def _mutants(base: bytes, seed: int, count: int, alphabet: bytes):
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(base)
        if rng.random() < 0.2:
            yield bytes(data[:rng.randrange(len(data))])
            continue
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i:i + rng.randint(0, 4)] = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        yield bytes(data)


def _xml_mutants(base: bytes, seed: int, count: int):
    """The workbook with bytes of its XML parts changed (the zip itself stays valid)."""
    rng = random.Random(seed)
    source = zipfile.ZipFile(io.BytesIO(base))
    for _ in range(count):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as out:
            for info in source.infolist():
                text = bytearray(source.read(info))
                if rng.random() < 0.5:
                    i = rng.randrange(len(text))
                    text[i:i + rng.randint(0, 10)] = bytes(rng.choice(b'<>/"= tre0123456789&;:') for _ in range(rng.randint(0, 6)))
                out.writestr(info.filename, bytes(text))
        yield buf.getvalue()


def test_mutated_files_end_in_a_plain_message_or_a_table():
    # Seeded mutations of a real-shaped workbook and CSV: bytes flipped, cut short, XML broken.
    # Before, these raised RuntimeError (an entry flagged encrypted), NotImplementedError (zip
    # version), LookupError (an unknown XML encoding) and KeyError from the reader.
    from lib.ingest import read_table

    book = xlsx_openpyxl([NPS.split(","), *[r.split(",") for r in nps_rows(30)]])
    errors = workbook({"S": [["Email", "Score"]] + [[f"u{i}", Error("#N/A") if i % 5 == 0 else i] for i in range(30)]},
                      shared_strings=["x"])
    csv = lines("Campaign report", "", EMAIL, [f'"{r}' if i == 7 else r for i, r in enumerate(email_rows(60))])
    files = [*(("m.xlsx", d) for d in _mutants(book, 1, 150, bytes(range(256)))),
             *(("m.xlsx", d) for d in _xml_mutants(errors, 2, 150)),
             *(("m.csv", d) for d in _mutants(csv, 3, 150, b',;\t|"\r\n\x00\xff\xef\xbb\xbf abc019.-e#'))]
    outcomes = {"table": 0, "refused": 0}
    for name, data in files:
        try:
            read_table(name, data)
            outcomes["table"] += 1
        except BoundaryError as exc:  # any other exception type fails the test
            assert_plain(str(exc), name)
            outcomes["refused"] += 1
    assert outcomes["table"] > 0 and outcomes["refused"] > 0

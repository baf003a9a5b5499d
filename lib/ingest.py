"""Read an uploaded export (xlsx, xlsm, xls, ods, csv, tsv, txt) into a pandas frame, as exported.

What real exports contain and how it is handled:
- title / metadata rows above the header: the header row is found in the first rows
  (`find_header_row`); Qualtrics' second and third header rows are recognised;
- several sheets: the caller may name one; otherwise `choose_sheet` scores each sheet's header
  (the first PREVIEW_SHEETS sheets; of sheets that match equally, the first, and the notes say
  which others match);
- .xlsx safety: the zip's directory is checked before anything is unpacked (total size, packing
  ratio: a "zip bomb" is refused in plain words); sheets sharing one part are refused; a sheet's
  first rows are streamed from its XML and the parse stops there (a missing or wrong <dimension>
  no longer makes it read the whole sheet); parts the fast reader unpacks are first unpacked here
  to check their real size;
- Excel error cells (#N/A, #DIV/0!, #SPILL!, …) are read as blanks and listed in
  `Table.unreadable` with their rows, so they are counted, never dropped silently;
- CSV: encoding (BOM → UTF-8/UTF-16; not valid UTF-8 → cp1252), delimiter (, ; tab |), decimal
  comma, all sniffed from the first 64 KB (more when the header line is longer), then parsed with
  pyarrow (fast), or row by row as text when that refuses the file: a row with more fields than
  the header is left out and listed by its row number in `Table.left_out` and the notes, a
  shorter one kept with blank cells — never dropped unsaid;
- blank trailing rows and columns are dropped; duplicate header names are made unique.
Values stay as read; `lib.values` types them once the columns are mapped.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Callable

import pandas as pd

from lib.errors import FileReadError

EXCEL_EXTENSIONS = {".xlsx", ".xlsm", ".xls", ".ods"}
TEXT_EXTENSIONS = {".csv", ".tsv", ".txt"}
SUPPORTED = sorted(EXCEL_EXTENSIONS | TEXT_EXTENSIONS)
PEEK_ROWS = 30
SNIFF_BYTES = 64 * 1024
MAX_LINE_BYTES = 16_000_000  # a first line longer than this is not a table's header
CSV_BLOCK_BYTES = 16 << 20  # pyarrow parses a CSV in blocks of this size, one per thread at a time
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class Table:
    """A file as read: the frame (header applied) and how it was read."""

    frame: pd.DataFrame
    file_name: str
    header_row: int  # 1-based row number of the header line in the file / sheet
    sheet: str | None = None
    sheets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Cells that held something unreadable (an Excel error such as #N/A): column → {frame index:
    # the cell as shown in Excel}. They are blank in `frame`; lib.datasets counts them as bad cells.
    unreadable: dict[str, dict[int, str]] = field(default_factory=dict)
    unreadable_elsewhere: int = 0  # such cells in a column without a header or data
    left_out: list[int] = field(default_factory=list)  # file rows not read (a CSV row with extra fields)

    def file_row(self, index: int) -> int:
        """Row number in the file (1-based, as a spreadsheet shows it) of frame row `index`."""
        return self.header_row + 1 + int(index)


def extension(file_name: str) -> str:
    return PurePath(file_name).suffix.lower()


def read_table(file_name: str, data: bytes, sheet: str | None = None,
               score_header: Callable[[list[str]], float] | None = None) -> Table:
    """Read `data` (the bytes of `file_name`) into a Table.

    `sheet` picks a worksheet by name; without it, the sheet whose header scores best by
    `score_header(columns)` is taken (the first sheet when no scorer is given).
    Raises FileReadError with a plain message for empty, corrupt, protected or unsupported files.
    """
    ext = extension(file_name)
    if not data:
        raise FileReadError(f"{file_name} is empty (0 bytes). Export the file again and upload it.")
    if ext in EXCEL_EXTENSIONS:
        table = _read_excel(file_name, data, ext, sheet, score_header)
    elif ext in TEXT_EXTENSIONS:
        _refuse_packed_text(file_name, data)
        table = _read_text(file_name, data)
    else:
        raise FileReadError(
            f"{file_name}: files of type '{ext or 'without extension'}' cannot be read. "
            f"Upload one of: {', '.join(SUPPORTED)}.")
    _tidy(table)
    _note_unreadable(table)
    if table.frame.shape[1] == 0:
        raise FileReadError(f"{file_name} has no columns with a header. Check that the export has a header row.")
    if table.frame.empty:
        where = f" (sheet '{table.sheet}')" if table.sheet else ""
        raise FileReadError(f"{file_name}{where} has a header but no data rows. Export it again with data.")
    return table


# Signatures of packed or binary files that arrive with a text file's name (read as text, their
# bytes became one garbled "row" or a header without data).
_PACKED = {b"\x1f\x8b": "compressed with gzip", b"PK\x03\x04": "a zip archive (or a workbook)",
           b"%PDF": "a PDF document", b"\xfd7zXZ": "compressed with xz"}


def _refuse_packed_text(file_name: str, data: bytes) -> None:
    """Refuse a .csv/.txt whose bytes are a packed or binary file, saying what it is.

    >>> _refuse_packed_text("a.csv", b"%PDF-1.7 ...")
    Traceback (most recent call last):
    lib.errors.FileReadError: a.csv is a PDF document, not a text file. Unpack it (or export it again as CSV) and upload the .csv inside.
    """
    for magic, what in _PACKED.items():
        if data.startswith(magic):
            raise FileReadError(f"{file_name} is {what}, not a text file. Unpack it (or export it again as "
                                "CSV) and upload the .csv inside.")


# ---------------------------------------------------------------- header detection

def find_header_row(rows: list[list[object]]) -> int:
    """Index (0-based) of the header among the first rows of a sheet or CSV.

    The header is the first row that fills most of the table's width (the widest row seen) with
    text rather than numbers or dates; rows above it (titles, 'Date range: …') fill one or two
    cells.
    >>> find_header_row([['Campaign report'], [], ['Name', 'Sent', 'Opens'], ['A', 10, 5]])
    2
    >>> find_header_row([['Name', 'Sent'], ['A', 1]])
    0
    """
    filled = [[c for c in row if not _blank_cell(c)] for row in rows]
    width = max((len(f) for f in filled), default=0)
    if width == 0:
        return 0
    for i, cells in enumerate(filled):
        if len(cells) >= max(2, 0.6 * width) or (width == 1 and cells):
            texts = sum(1 for c in cells if isinstance(c, str) and not _looks_numeric(c))
            if texts >= 0.6 * len(cells):
                return i
    return 0


def _blank_cell(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace(",", "").replace("%", "").strip())
        return True
    except ValueError:
        return False


def _is_qualtrics_import_row(row: list[object]) -> bool:
    return any(isinstance(c, str) and c.startswith('{"ImportId"') for c in row)


# ---------------------------------------------------------------- Excel

# An .xlsx (.xlsm, .ods) is a zip of XML parts. Real exports' sheet XML packs 6–10× (measured on the
# real exports saved by openpyxl and xlsxwriter); a "zip bomb" packs 300–1000× and unpacks to gigabytes.
# Both limits are checked from the zip's own directory, before anything is unpacked.
ZIP_MAX_UNPACKED = 1 << 30  # bytes of XML in the whole workbook (Excel's 1M rows × 20 columns ≈ 0.8 GB)
ZIP_MAX_RATIO = 100  # unpacked ÷ packed size of one part…
ZIP_RATIO_FROM = 1 << 20  # …once it unpacks to more than this
ZIP_MAX_PARTS = 10_000
PREVIEW_SHEETS = 20  # sheets whose first rows are read to choose one; the others can still be picked
PEEK_XML_BYTES = 4 << 20  # most sheet XML read for one sheet's first rows…
PEEK_TOTAL_BYTES = 16 << 20  # …and for all the sheets' (Python parses ~4 MB a second)
PEEK_STRINGS_BYTES = 32 << 20  # most shared-strings XML read for the strings those rows use
_SMALL_PART_BYTES = 16 << 20  # workbook.xml and its relationships are small in any real file
_XML_CHUNK = 64 * 1024
_ERROR_MARKS = (b't="e"', b"t='e'")  # an Excel error cell (#N/A, #DIV/0!, …) in sheet XML


# What Python's zip reader raises for a damaged, encrypted or unsupported (e.g. Deflate64) part.
_UNREADABLE_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)


def _damaged(file_name: str, what: str = "it") -> FileReadError:
    return FileReadError(f"{file_name} is damaged: {what} could not be unpacked. Open it in Excel, save it "
                         "again as .xlsx, and upload it again.")


def _read_excel(file_name: str, data: bytes, ext: str, sheet: str | None,
                score_header: Callable[[list[str]], float] | None) -> Table:
    if ext in {".xlsx", ".xlsm"}:
        if data[:8] == _OLE_MAGIC:
            raise FileReadError(
                f"{file_name} is password-protected (encrypted). Open it in Excel, remove the "
                "password (File → Info → Protect Workbook), save, and upload it again.")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise FileReadError(f"{file_name} is not a valid Excel workbook (it may be damaged or "
                                "renamed). Open it in Excel, save it as .xlsx, and upload it again.")
        return _read_xlsx(file_name, data, _open_package(file_name, data), sheet, score_header)
    if ext == ".xls" and data.lstrip()[:64].lower().startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
        raise FileReadError(f"{file_name} is a web page (HTML or XML) with an .xls name, as some tools export. "
                            "Open it in Excel, save it as .xlsx or CSV, and upload that.")
    if ext == ".ods" and zipfile.is_zipfile(io.BytesIO(data)):
        package = _open_package(file_name, data)
        _unpack_check(file_name, package, package.namelist())  # the reader unpacks content.xml whole
    return _read_other_excel(file_name, data, sheet, score_header)


def _read_other_excel(file_name: str, data: bytes, sheet: str | None,
                      score_header: Callable[[list[str]], float] | None) -> Table:
    """.xls and .ods, through the fast reader (an .xls holds at most 65,536 rows a sheet)."""
    import fastexcel

    try:
        reader = fastexcel.read_excel(data)
        names = list(reader.sheet_names)
    except Exception as exc:  # the reader's own errors name nothing a user can act on
        raise FileReadError(f"{file_name} could not be opened as a spreadsheet ({_short(exc)}). "
                            "Open it in Excel, save it again as .xlsx, and upload it again.") from exc
    if not names:
        raise FileReadError(f"{file_name} has no worksheets.")
    if sheet is not None and sheet not in names:
        raise FileReadError(f"{file_name} has no sheet '{sheet}'. Sheets are: {', '.join(names)}.")
    peeks = {}
    for name in [sheet] if sheet else names[:PREVIEW_SHEETS]:
        try:
            frame = reader.load_sheet(name, header_row=None, n_rows=PEEK_ROWS).to_pandas()
            peeks[name] = (0, frame.astype(object).where(frame.notna(), None).values.tolist())
        except Exception:
            peeks[name] = (0, [])
    chosen, notes = _pick_sheet(peeks, names, sheet, score_header)
    offset, rows = peeks[chosen]
    header, skip_after = _header_of(file_name, chosen, rows, notes)
    try:
        loaded = reader.load_sheet(chosen, header_row=offset + header, schema_sample_rows=None,
                                   skip_rows=skip_after or None)
        frame = loaded.to_pandas()
    except Exception as exc:
        raise FileReadError(f"{file_name}: sheet '{chosen}' could not be read ({_short(exc)}). Open it in "
                            "Excel, save it as .xlsx, and upload it again.") from exc
    frame.columns = [_header_text(c) for c in frame.columns]
    return Table(frame, file_name, offset + header + 1 + skip_after, chosen, names, notes)


def _header_of(file_name: str, sheet: str, rows: list[list[object]], notes: list[str]) -> tuple[int, int]:
    """(header index among `rows`, rows to skip after it); Qualtrics' ImportId row is skipped."""
    if not any(any(not _blank_cell(c) for c in row) for row in rows):
        raise FileReadError(f"{file_name}: sheet '{sheet}' is empty. Pick the sheet with the data.")
    header = find_header_row(rows)
    skip_after = 0
    if len(rows) > header + 2 and _is_qualtrics_import_row(rows[header + 2]):
        header, skip_after = header + 1, 1  # Qualtrics: use the question-text row, drop ImportIds
        notes.append("Qualtrics export: used the question-text header row.")
    if header:
        notes.append(f"Skipped {header} row(s) above the header.")
    return header, skip_after


def _pick_sheet(peeks: dict[str, tuple[int, list[list[object]]]], names: list[str], sheet: str | None,
                score_header: Callable[[list[str]], float] | None) -> tuple[str, list[str]]:
    """The sheet to read and the notes that say which one it is and why."""
    notes: list[str] = []
    if sheet is not None:
        if len(names) > 1:
            notes.append(f"Read sheet '{sheet}' of {len(names)}.")
        return sheet, notes
    chosen, also = choose_sheet({name: rows for name, (_, rows) in peeks.items()}, score_header)
    if also:
        listed = ", ".join(f"'{n}'" for n in also)
        notes.append(f"Read sheet '{chosen}' of {len(names)}, the first whose columns match; "
                     f"{listed} match{'es' if len(also) == 1 else ''} too — pick another under Columns → Sheet.")
    elif len(names) > 1:
        notes.append(f"Read sheet '{chosen}' of {len(names)}.")
    if len(names) > len(peeks):
        notes.append(f"Only the first {len(peeks)} of {len(names)} sheets were looked at to choose one; "
                     "pick another under Columns → Sheet.")
    return chosen, notes


def choose_sheet(peeks: dict[str, list[list[object]]],
                 score_header: Callable[[list[str]], float] | None) -> tuple[str, list[str]]:
    """The sheet to read, from each sheet's first rows, and the other sheets that match as well.

    Without a scorer: the first sheet with something in it. With one: the best-scoring header;
    sheets that tie (a workbook with the full data and a pilot in the same columns) go to the
    first, and the others are returned so the page can say they match too.
    >>> choose_sheet({'Notes': [['read me']], 'Data': [['a', 'b']], 'Pilot': [['a', 'b']]}, len)
    ('Data', ['Pilot'])
    """
    names = list(peeks)
    filled = [n for n in names if any(any(not _blank_cell(c) for c in r) for r in peeks[n])]
    if score_header is None or len(filled) <= 1:
        return (filled or names)[0], []

    def score(name: str) -> float:
        rows = peeks[name]
        header = rows[find_header_row(rows)]
        return score_header([_header_text(c) for c in header if not _blank_cell(c)])

    scores = {name: score(name) for name in filled}
    best = max(scores.values())
    tied = [n for n in filled if scores[n] >= best - 1e-9]
    return tied[0], tied[1:] if best > 0 else []


def _header_text(value: object) -> str:
    text = "" if _blank_cell(value) else str(value).strip()
    return "" if text.startswith("__UNNAMED__") else text


# ----------------------------------------------------------- xlsx: the package

def _open_package(file_name: str, data: bytes) -> zipfile.ZipFile:
    """The zip, after checking from its directory alone that it unpacks to a sane size."""
    try:
        package = zipfile.ZipFile(io.BytesIO(data))
        infos = package.infolist()
    except _UNREADABLE_ZIP as exc:
        raise _damaged(file_name) from exc
    if len(infos) > ZIP_MAX_PARTS:
        raise FileReadError(f"{file_name} holds {len(infos):,} parts, far more than a workbook; it was not "
                            "opened. Save the data as .xlsx or CSV from Excel and upload that.")
    unpacked = sum(i.file_size for i in infos)
    bomb = next((i for i in infos if i.file_size > ZIP_RATIO_FROM
                 and i.file_size > ZIP_MAX_RATIO * max(i.compress_size, 1)), None)
    if unpacked > ZIP_MAX_UNPACKED or bomb is not None:
        raise FileReadError(
            f"{file_name} would unpack from {_size(len(data))} to {_size(unpacked)} — "
            + ("more than Boundary reads from one workbook" if bomb is None else
               f"{bomb.file_size // max(bomb.compress_size, 1):,} times its packed size, which no real export does")
            + "; it was not opened. If it is a real export, save it as CSV (or split it) and upload that.")
    return package


def _unpack_check(file_name: str, package: zipfile.ZipFile, names: list[str],
                  scan: str | None = None) -> bool:
    """Unpack `names` without keeping them, so a part whose directory entry understates its size
    is refused (Python's zip reader stops at the stated size and then fails the checksum) before
    the fast reader, which trusts no stated size, unpacks it. True when the part `scan` holds an
    Excel error cell."""
    marked = False
    for name in names:
        info = package.getinfo(name)
        if info.is_dir():
            continue
        try:
            with package.open(info) as part:
                tail = b""
                while chunk := part.read(1 << 20):
                    if name == scan and not marked:
                        marked = any(m in chunk or m in tail + chunk[:8] for m in _ERROR_MARKS)
                        tail = chunk[-8:]
        except _UNREADABLE_ZIP as exc:
            raise _damaged(file_name, f"its part {name}") from exc
    return marked


def _small_xml(file_name: str, package: zipfile.ZipFile, part: str) -> ET.Element:
    try:
        info = package.getinfo(part)
    except KeyError:
        raise FileReadError(f"{file_name} is not a complete Excel workbook ({part} is missing). Open it in "
                            "Excel, save it as .xlsx, and upload it again.") from None
    if info.file_size > _SMALL_PART_BYTES:
        raise FileReadError(f"{file_name}: its {part} is {_size(info.file_size)}, far more than Excel writes; "
                            "it was not opened. Open it in Excel, save it again, and upload it.")
    try:
        text = package.read(info)
    except _UNREADABLE_ZIP as exc:
        raise _damaged(file_name, f"its part {part}") from exc
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise FileReadError(f"{file_name}: its {part} declares XML entities, which Excel never writes; it was "
                            "not opened. Open it in Excel, save it again, and upload it.")
    try:
        return ET.fromstring(text)
    except (ET.ParseError, LookupError) as exc:  # LookupError: an unknown encoding declared
        raise _damaged(file_name, f"its part {part}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rels(file_name: str, package: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id → (type, part name) of a part, from its _rels file."""
    folder, name = posixpath.split(part)
    rels = _small_xml(file_name, package, posixpath.join(folder, "_rels", name + ".rels"))
    out = {}
    for rel in rels:
        if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id", "")] = (rel.get("Type", ""), path)
    return out


def _xlsx_sheets(file_name: str, package: zipfile.ZipFile) -> tuple[dict[str, str], str | None]:
    """Worksheet name → its XML part, in workbook order, and the shared-strings part.

    Refuses a workbook whose sheets share a part: Excel never writes one, and every sheet of it
    would be read again in full."""
    main = next((p for t, p in _rels(file_name, package, "").values() if t.endswith("/officeDocument")),
                "xl/workbook.xml")
    book = _small_xml(file_name, package, main)
    targets = _rels(file_name, package, main)
    present = {n.lower(): n for n in package.namelist()}
    sheets: dict[str, str] = {}
    owner: dict[str, str] = {}
    for element in book.iter():
        if _local(element.tag) != "sheet":
            continue
        rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), "")
        kind, part = targets.get(rid, ("", ""))
        if not kind.endswith("/worksheet"):
            continue  # chart sheets and dialog sheets hold no table
        name = element.get("name", "")
        part = present.get(part.lower(), part)
        if part not in package.NameToInfo:
            raise FileReadError(f"{file_name} is damaged: sheet '{name}' has no data in the file. Open it in "
                                "Excel, save it again as .xlsx, and upload it.")
        if part in owner:
            raise FileReadError(
                f"{file_name}: sheets '{owner[part]}' and '{name}' point to the same data inside the file, "
                "which Excel never writes (the file was altered by hand or by a tool). Open it in Excel, save "
                "it again as .xlsx, and upload it.")
        owner[part] = name
        sheets[name] = part
    shared = next((p for t, p in targets.values() if t.endswith("/sharedStrings")), None)
    return sheets, present.get(shared.lower()) if shared else None


# ----------------------------------------------------------- xlsx: reading

@dataclass(frozen=True)
class _Shared:
    """A cell holding entry `index` of the shared-strings part, resolved after the peeks."""

    index: int


def _xml_events(package: zipfile.ZipFile, part: str, limit: int, used: list[int] | None = None):
    """(event, element) of a part, parsed in chunks; stops after `limit` bytes of XML. The bytes
    read are added to `used[0]`."""
    parser = ET.XMLPullParser(events=("end",))
    read = 0
    with package.open(part) as stream:
        while read < limit:
            chunk = stream.read(_XML_CHUNK)
            if not chunk:
                break
            if read == 0 and (b"<!DOCTYPE" in chunk or b"<!ENTITY" in chunk):
                return  # Excel never writes a DTD; such a sheet previews as empty
            read += len(chunk)
            if used is not None:
                used[0] += len(chunk)
            parser.feed(chunk)
            yield from parser.read_events()


def _cell_index(ref: str | None) -> tuple[int, int] | None:
    """(row, column), 1-based row and 0-based column, of a reference such as 'B12'."""
    if not ref:
        return None
    letters = ref.rstrip("0123456789")
    digits = ref[len(letters):]
    if not letters.isalpha() or not digits:
        return None
    column = 0
    for ch in letters.upper():
        column = column * 26 + ord(ch) - 64
    return int(digits), column - 1


def _cell_value(cell: ET.Element) -> object:
    kind = cell.get("t", "n")
    value = None
    for child in cell:
        tag = _local(child.tag)
        if tag == "v":
            value = child.text
        elif tag == "is":  # inline string: its text runs, without phonetic guides
            value = "".join(t.text or "" for t in _runs(child))
    if value is None:
        return None
    if kind == "s":
        return _Shared(int(value)) if value.strip().isdigit() else None
    if kind in {"inlineStr", "str", "e", "d"}:
        return value
    if kind == "b":
        return value.strip() == "1"
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _runs(text: ET.Element):
    """The <t> elements of an inline or shared string: its own text and its rich-text runs, not
    its phonetic guides."""
    for child in text:
        tag = _local(child.tag)
        if tag == "t":
            yield child
        elif tag == "r":
            yield from (t for t in child if _local(t.tag) == "t")


def _peek_xlsx_sheet(package: zipfile.ZipFile, part: str, limit: int = PEEK_XML_BYTES,
                     used: list[int] | None = None) -> tuple[int, list[list[object]]]:
    """(rows above the first row with a value, the first PEEK_ROWS rows from there).

    Streams the sheet's XML and stops after those rows (or PEEK_XML_BYTES): a sheet without a
    <dimension> element, or with a wrong one, is neither parsed whole nor cut to its first column."""
    rows: dict[int, list[object]] = {}
    first = None
    number = 0
    for _, element in _xml_events(package, part, limit, used=used):
        if _local(element.tag) != "row":
            continue
        number = int(element.get("r") or number + 1)
        cells: list[object] = []
        column = -1
        for cell in element:
            if _local(cell.tag) != "c":
                continue
            where = _cell_index(cell.get("r"))
            column = where[1] if where else column + 1
            value = _cell_value(cell)
            if value is not None and column < 16384:
                cells += [None] * (column + 1 - len(cells))
                cells[column] = value
        element.clear()
        if first is None and any(isinstance(c, _Shared) or not _blank_cell(c) for c in cells):
            first = number
        if first is None:
            continue
        if number >= first + PEEK_ROWS:
            break
        rows[number] = cells
    if first is None:
        return 0, []
    return first - 1, [rows.get(n, []) for n in range(first, max(rows) + 1)]


_SI_START = re.compile(rb"<(?:[\w.-]+:)?si[\s>/]")
_SI_END = re.compile(rb"</(?:[\w.-]+:)?si\s*>|<(?:[\w.-]+:)?si\s*/>")
_PHONETIC = re.compile(rb"<((?:[\w.-]+:)?)rPh\b.*?</\1rPh\s*>", re.S)
_TEXT = re.compile(rb"<(?:[\w.-]+:)?t(?:\s[^>]*)?>(.*?)</(?:[\w.-]+:)?t\s*>", re.S)


def _after_last_entry(xml: bytes) -> int:
    """Where the last whole shared-string entry in `xml` ends (0 when none does)."""
    end = xml.rfind(b"</si>")
    if end >= 0:
        return end + 5
    tail = max(0, len(xml) - 65536)  # a prefixed closing tag (</x:si>) among the last bytes
    ends = [m.end() for m in re.finditer(rb"</[\w.-]+:si\s*>", xml[tail:])]
    return tail + ends[-1] if ends else 0


def _shared_strings(package: zipfile.ZipFile, part: str | None, wanted: set[int]) -> dict[int, str]:
    """The entries `wanted` of the shared-strings part, read up to the last one needed (or
    PEEK_STRINGS_BYTES). Entries are counted in C (bytes.count); only the wanted ones are parsed."""
    if not part or not wanted:
        return {}
    found: dict[int, str] = {}
    last = max(wanted)
    seen = 0  # entries before the current segment
    pending = b""
    read = 0
    with package.open(part) as stream:
        while seen <= last and read < PEEK_STRINGS_BYTES:
            chunk = stream.read(1 << 20)
            read += len(chunk)
            pending += chunk
            cut = _after_last_entry(pending) if chunk else len(pending)
            segment, pending = pending[:cut], pending[cut:]
            count = segment.count(b"<si>") + segment.count(b"<si ") + segment.count(b"<si/>")
            if not count:  # entries written with a namespace prefix (<x:si>)
                count = len(_SI_START.findall(segment))
            if any(seen <= i < seen + count for i in wanted):
                for index, start in enumerate(_SI_START.finditer(segment), start=seen):
                    if index in wanted:
                        close = _SI_END.search(segment, start.start())
                        entry = _PHONETIC.sub(b"", segment[start.start():close.end() if close else len(segment)])
                        found[index] = html.unescape(b"".join(_TEXT.findall(entry)).decode("utf-8", "replace"))
            seen += count
            if not chunk:
                break
    return found


_EMPTY_SHEET = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                '<sheetData/></worksheet>')
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c\s*>")
_ERROR_TYPE = re.compile(rb"\s+t\s*=\s*(?:\"e\"|'e')")
_ERROR_MARK = re.compile(rb"\st\s*=\s*(?:\"e\"|'e')")


def _blank_error_cells(package: zipfile.ZipFile, part: str, others: set[str]
                       ) -> tuple[bytes, list[tuple[int, int, str]]]:
    """The workbook with the error cells of `part` made blank, and each one's (row, column, text).

    The fast reader refuses a whole sheet over some error values (#SPILL!, #CALC!, a #NAME? among
    numbers) and turns the others into blanks without saying where; blanking them first, with
    their places noted, lets every error be counted as an unreadable cell. Only the error cells
    are looked at (found by their t="e"), so this costs one pass of unpacking and packing; the
    `others` sheets, which are not read now, are left empty in the copy."""
    errors: list[tuple[int, int, str]] = []
    out = io.BytesIO()
    # Packed again fast; a sheet under 256 MB is stored as it is, which the reader opens fastest.
    method = zipfile.ZIP_STORED if package.getinfo(part).file_size < 256 << 20 else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method, compresslevel=1) as new:
        for info in package.infolist():
            if info.filename in others:
                new.writestr(info.filename, _EMPTY_SHEET)
                continue
            if info.filename != part:
                new.writestr(info.filename, package.read(info))
                continue
            with package.open(info) as source, new.open(info.filename, "w", force_zip64=True) as target:
                pending = b""
                while chunk := source.read(1 << 20):
                    pending += chunk
                    cut = max(pending.rfind(b"</row>"), pending.rfind(b":row>"))
                    if cut > 0:  # a cell never spans rows: rewrite up to a row's end
                        cut = pending.index(b">", cut) + 1
                        target.write(_blank_errors_in(pending[:cut], errors))
                        pending = pending[cut:]
                target.write(_blank_errors_in(pending, errors))
    return out.getvalue(), errors


def _blank_errors_in(xml: bytes, errors: list[tuple[int, int, str]]) -> bytes:
    pieces, done = [], 0
    for hit in _ERROR_MARK.finditer(xml):
        if hit.start() < done:
            continue
        start, close = xml.rfind(b"<", done, hit.start()), xml.find(b">", hit.end())
        tag = xml[start:close + 1] if start >= 0 and close >= 0 else b""
        name = re.match(rb"<((?:[\w.-]+:)?c)\s", tag)
        if not name:  # not a cell's start tag
            continue
        if tag.endswith(b"/>"):
            end, inner = close + 1, b""
        else:
            closing = _CELL_END.search(xml, close)
            end = closing.end() if closing else len(xml)
            inner = xml[close + 1:closing.start() if closing else len(xml)]
        attrs = _ERROR_TYPE.sub(b"", tag[name.end() - 1:].rstrip(b"/>"), count=1)
        ref = re.search(rb"(?:^|\s)r\s*=\s*[\"']([A-Za-z]+\d+)[\"']", attrs)
        value = re.search(rb"<(?:[\w.-]+:)?v>(.*?)</", inner, re.S)
        where = _cell_index(ref.group(1).decode()) if ref else None
        errors.append((*(where or (0, -1)), value.group(1).decode("utf-8", "replace").strip() if value else "#ERROR"))
        pieces += [xml[done:start], b"<", name.group(1), attrs, b"/>"]
        done = end
    pieces.append(xml[done:])
    return b"".join(pieces)


def _read_xlsx(file_name: str, data: bytes, package: zipfile.ZipFile, sheet: str | None,
               score_header: Callable[[list[str]], float] | None) -> Table:
    import fastexcel

    parts, strings_part = _xlsx_sheets(file_name, package)
    names = list(parts)
    if not names:
        raise FileReadError(f"{file_name} has no worksheets.")
    if sheet is not None and sheet not in parts:
        raise FileReadError(f"{file_name} has no sheet '{sheet}'. Sheets are: {', '.join(names)}.")
    try:
        raw, used = {}, [0]
        for name in [sheet] if sheet else names[:PREVIEW_SHEETS]:
            if used[0] >= PEEK_TOTAL_BYTES:
                break  # a workbook whose first rows are this big: the sheets after are not looked at
            raw[name] = _peek_xlsx_sheet(package, parts[name], min(PEEK_XML_BYTES, PEEK_TOTAL_BYTES - used[0]), used)
        wanted = {c.index for _, rows in raw.values() for row in rows for c in row if isinstance(c, _Shared)}
        strings = _shared_strings(package, strings_part, wanted)
    except (*_UNREADABLE_ZIP, KeyError, ET.ParseError, LookupError) as exc:
        raise _damaged(file_name) from exc
    peeks = {name: (offset, [[strings.get(c.index) if isinstance(c, _Shared) else c for c in row] for row in rows])
             for name, (offset, rows) in raw.items()}
    chosen, notes = _pick_sheet(peeks, names, sheet, score_header)
    offset, rows = peeks[chosen]
    header, skip_after = _header_of(file_name, chosen, rows, notes)
    header_row = offset + header + 1 + skip_after  # 1-based, as Table.header_row
    # What the fast reader unpacks (all but the other sheets) must really be the size it claims.
    others = {p for n, p in parts.items() if n != chosen}
    errors: list[tuple[int, int, str]] = []
    if _unpack_check(file_name, package, [n for n in package.namelist() if n not in others], scan=parts[chosen]):
        data, errors = _blank_error_cells(package, parts[chosen], others)
    try:
        loaded = fastexcel.read_excel(data).load_sheet(
            chosen, header_row=offset + header, schema_sample_rows=None, skip_rows=skip_after or None)
        batch, dropped = loaded.to_arrow_with_errors()
        frame = batch.to_pandas()
        positions = {c.absolute_index: i for i, c in enumerate(loaded.selected_columns)}
    except Exception as exc:
        raise FileReadError(f"{file_name}: sheet '{chosen}' could not be read ({_short(exc)}). Open it in "
                            "Excel, save it again as .xlsx, and upload it again.") from exc
    frame.columns = [_header_text(c) for c in frame.columns]
    table = Table(frame, file_name, header_row, chosen, names, notes)
    unplaced = 0
    for row, column, text in errors:
        if row <= header_row:
            continue  # above the data: the header cell of that column is read as blank
        if column not in positions:
            unplaced += 1
            continue
        table.unreadable.setdefault(positions[column], {})[row - header_row - 1] = text
    last = max((i for cells in table.unreadable.values() for i in cells), default=-1)
    if last >= len(frame):  # trailing rows that held only errors are past the reader's range
        table.frame = frame.reindex(range(last + 1))
    for error in (dropped.errors if dropped else []):
        index, position = error.offset_position
        got = re.search(r"got '(.*)'", error.detail)
        table.unreadable.setdefault(position, {})[index] = got.group(1) if got else error.detail
    table.unreadable_elsewhere = unplaced
    return table


# ---------------------------------------------------------------- CSV / text

def detect_encoding(data: bytes, prefix: bool = False) -> str:
    """'utf-8-sig', 'utf-16', 'utf-8' or 'cp1252' from the BOM and a strict UTF-8 check.

    `prefix=True` checks the first bytes of a longer file (a character cut at the end is fine).

    >>> detect_encoding('é'.encode('cp1252'))
    'cp1252'
    >>> detect_encoding(b'\\xef\\xbb\\xbfa')
    'utf-8-sig'
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:4096]
    if head and head.count(b"\x00") > len(head) // 4:
        return "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=not prefix)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def sniff_delimiter(lines: list[str]) -> str:
    """The delimiter that splits the sample lines into the most columns, consistently.

    >>> sniff_delimiter(['a;b;c', '1;2,5;3'])
    ';'
    """
    best, best_score = ",", 0.0
    for delim in [",", ";", "\t", "|"]:
        counts = [len(r) for r in csv.reader(lines, delimiter=delim) if r]
        if not counts:
            continue
        tail = counts[len(counts) // 2:] or counts
        mode = max(set(tail), key=tail.count)
        share = sum(1 for c in counts if c == mode) / len(counts)
        score = (mode - 1) * share
        if mode > 1 and score > best_score:
            best, best_score = delim, score
    return best


def _decimal_comma(rows: list[list[str]], delimiter: str) -> bool:
    if delimiter == ",":
        return False
    import re

    pattern = re.compile(r"^-?[\d.\s]*\d,\d+\s*%?$")
    return any(pattern.match(c.strip()) for row in rows for c in row)


def _read_text(file_name: str, data: bytes) -> Table:
    # Only the start is checked here; a non-UTF-8 byte further on shows up as a binary column
    # after parsing, and the file is then decoded as cp1252 and parsed again (see _parse_csv).
    encoding = detect_encoding(data[:SNIFF_BYTES], prefix=len(data) > SNIFF_BYTES)
    notes = []
    if encoding not in {"utf-8", "utf-8-sig"}:
        data = _to_utf8(data, encoding)
        notes.append(f"Read as {encoding} text.")
    elif encoding == "utf-8-sig":
        data = data[3:]
    # The sample must hold the header line whole: a header over 64 KB (hundreds of survey
    # questions) widens it, up to MAX_LINE_BYTES.
    size = SNIFF_BYTES
    while size < len(data) and not re.search(rb"[\r\n]", data[:size]):
        if size >= MAX_LINE_BYTES:
            raise FileReadError(
                f"{file_name}: its first {_size(MAX_LINE_BYTES)} hold no line break, so it is not a table "
                "of rows (or not a text file). Export the data again as CSV and upload it.")
        size = min(size * 4, MAX_LINE_BYTES)
    sample = data[:size].decode("utf-8", errors="ignore")
    lines = sample.splitlines()
    if len(data) > size and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut mid-way
    if not any(line.strip() for line in lines):
        raise FileReadError(f"{file_name} has no text in it. Export the file again and upload it.")
    delimiter = sniff_delimiter(lines[:200])
    rows = list(csv.reader(lines[:PEEK_ROWS], delimiter=delimiter))
    header = find_header_row(rows)
    decimal = "," if _decimal_comma(rows[header + 1:], delimiter) else "."
    if delimiter != ",":
        notes.append({";": "Semicolon", "\t": "Tab", "|": "Pipe"}[delimiter] + "-separated values.")
    if decimal == ",":
        notes.append("Decimal commas.")
    if header:
        notes.append(f"Skipped {header} row(s) above the header.")
    # Columns for the careful parse: the header's, or more when the data rows have more (a
    # trailing separator on every row), so that no value is lost to a short header.
    widths = [len(r) for r in rows[header + 1:] if any(c.strip() for c in r)]
    width = max(len(rows[header]) if rows else 1, max(set(widths), key=widths.count) if widths else 0)
    parsed = _parse_csv(file_name, data, delimiter, header, decimal, width)
    if parsed is None:  # bytes that are not UTF-8 past the sniffed start
        parsed = _parse_csv(file_name, _to_utf8(data, "cp1252"), delimiter, header, decimal, width)
        notes.append("Read as cp1252 text.")
    frame, ragged = parsed
    table = Table(frame, file_name, header + 1, None, [], notes)
    table.left_out = [table.file_row(i) for i in ragged.left_out]
    notes += ragged.notes(table)
    return table


def _to_utf8(data: bytes, encoding: str) -> bytes:
    # cp1252 has five undefined bytes; replace them rather than refuse the file.
    return data.decode(encoding, errors="replace").encode("utf-8")


_NULLS = ["", "NA", "N/A", "NULL", "null", "NaN", "nan", "#N/A"]


@dataclass
class _Ragged:
    """Rows whose number of fields differs from the header's (frame indexes)."""

    too_long: list[int] = field(default_factory=list)  # more fields than the columns: left out
    unclosed: dict[int, int] = field(default_factory=dict)  # a quote never closed: left out; lines swallowed
    padded: list[int] = field(default_factory=list)  # fewer fields: kept, the missing cells blank

    @property
    def left_out(self) -> list[int]:
        return sorted([*self.too_long, *self.unclosed])

    def notes(self, table: Table) -> list[str]:
        def rows(indexes: list[int]) -> str:
            shown = ", ".join(str(table.file_row(i)) for i in indexes[:5])
            return f"row{'s' if len(indexes) > 1 else ''} {shown}{'…' if len(indexes) > 5 else ''}"

        out = []
        if self.too_long:
            out.append(f"{len(self.too_long):,} row(s) left out: they have more fields than the header "
                       f"({rows(self.too_long)}). Check the separators and quotes in those rows.")
        for index, lines in self.unclosed.items():
            out.append(f"Row {table.file_row(index)} left out: it opens a quote that is never closed, so the "
                       f"{lines:,} line(s) after it were read into it. Check the quotes in that row.")
        if self.padded:
            out.append(f"{len(self.padded):,} row(s) have fewer fields than the header; their missing cells are "
                       f"blank ({rows(self.padded)}).")
        return out


def _parse_csv(file_name: str, data: bytes, delimiter: str, skip: int, decimal: str,
               width: int) -> tuple[pd.DataFrame, _Ragged] | None:
    """pyarrow, fast and multi-threaded; the careful parse (`_parse_csv_rows`) when it refuses the
    file (rows with more or fewer fields than the header, a column whose type changes far down).

    None when the bytes are not valid UTF-8 (pyarrow then types text columns as binary).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def read(newlines_in_values: bool):
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(skip_rows=skip, block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values),
            convert_options=pacsv.ConvertOptions(
                decimal_point=decimal, strings_can_be_null=True, null_values=_NULLS,
                timestamp_parsers=[pacsv.ISO8601]),
        )

    try:
        try:
            # Splitting blocks at any line end is ~30% faster. Quoted line breaks inside one block
            # still parse right; one cut by a block boundary makes pyarrow stop ("parser got out of
            # sync with chunker") rather than misread, and the file is then parsed the careful way.
            table = read(newlines_in_values=False)
        except pa.ArrowInvalid:
            table = read(newlines_in_values=True)
        if any(pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type) for f in table.schema):
            return None
        return table.to_pandas(date_as_object=False), _Ragged()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _parse_csv_rows(file_name, data, delimiter, skip, width)


def _parse_csv_rows(file_name: str, data: bytes, delimiter: str, skip: int,
                    width: int) -> tuple[pd.DataFrame, _Ragged] | None:
    """Every column as text (lib.values types it), one thread, so that each row that does not
    fit is known by its number: a row with more fields than `width` is left out, unless the extra
    fields are blank; a shorter one is kept with blank cells. Nothing is dropped unsaid.

    Row numbers are pyarrow's: records from the top of the file, blank lines not counted — the
    same numbering as the frame index of the fast parse (Table.file_row)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"f{i}" for i in range(width)]
    odd: dict[int, list[str] | None] = {}  # row number → its fields (kept) or None (left out)
    unclosed: dict[int, int] = {}

    def on_invalid(row) -> str:
        number = row.number if row.number is not None else -len(odd) - 1
        fields = next(csv.reader(io.StringIO(row.text), delimiter=delimiter), [])
        if row.actual_columns > width and any(f.strip() for f in fields[width:]):
            odd[number] = None
        elif "\n" in row.text and row.text.count('"') % 2:
            odd[number] = None
            unclosed[number] = row.text.count("\n")
        else:
            odd[number] = (fields + [None] * width)[:width]
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(skip_rows=skip, column_names=names, use_threads=False,
                                           block_size=CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=True, null_values=_NULLS))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            return None
        raise FileReadError(f"{file_name} could not be read as a table of rows ({_short(exc)}). Check that it "
                            "is a CSV export and upload it again.") from exc
    first = skip + 1  # the header's number
    numbers = [n for n in range(first, first + table.num_rows + len(odd)) if n not in odd]
    frame = table.to_pandas()
    frame.index = pd.Index(numbers) - first - 1
    kept = {n: f for n, f in odd.items() if f is not None}
    if kept:
        extra = pd.DataFrame(list(kept.values()), columns=frame.columns, index=pd.Index(list(kept)) - first - 1)
        frame = pd.concat([frame, extra]).sort_index()
    if -1 not in frame.index:
        raise FileReadError(f"{file_name}: its header row could not be read. Check the file's first rows.")
    header = ["" if pd.isna(v) else str(v) for v in frame.loc[-1]]
    frame = frame.drop(index=-1)
    frame.columns = header
    ragged = _Ragged(sorted(n - first - 1 for n, f in odd.items() if f is None and n not in unclosed),
                     {n - first - 1: lines for n, lines in unclosed.items()},
                     sorted(n - first - 1 for n in kept if n != first))
    return frame, ragged


# ---------------------------------------------------------------- tidying

def _tidy(table: Table) -> None:
    """Drop blank trailing rows/columns and unnamed empty columns; make header names unique.

    Before this, `table.unreadable` is keyed by column position; after, by the column's name. A
    row or column whose only content was unreadable cells is kept, so those cells stay counted."""
    frame = table.frame
    names = [_header_text(c) if not str(c).startswith("Unnamed: ") else "" for c in frame.columns]
    frame = frame.set_axis(range(frame.shape[1]), axis=1)
    keep = [i for i, name in enumerate(names) if name or frame[i].notna().any() or table.unreadable.get(i)]
    frame = frame[keep]
    frame.columns = _unique([names[i] or f"Column {i + 1}" for i in keep])
    table.unreadable = {frame.columns[keep.index(i)]: cells for i, cells in table.unreadable.items() if i in keep}
    marked = {index for cells in table.unreadable.values() for index in cells}
    blank_rows = frame.isna().all(axis=1) & ~frame.index.isin(marked)
    # Keep the original index: it gives each row's number in the file (Table.file_row).
    table.frame = frame[~blank_rows] if blank_rows.any() else frame


def _note_unreadable(table: Table) -> None:
    """Say which cells could not be read, by column with their rows, e.g. 'Score: rows 3, 5 (#N/A)'."""
    count = sum(len(cells) for cells in table.unreadable.values()) + table.unreadable_elsewhere
    if not count:
        return
    parts = []
    for column, cells in table.unreadable.items():
        rows = sorted(cells)
        shown = ", ".join(str(table.file_row(i)) for i in rows[:5]) + ("…" if len(rows) > 5 else "")
        texts = ", ".join(t for t, _ in Counter(cells.values()).most_common(3))
        parts.append(f"{column}: {len(rows):,} (row{'s' if len(rows) > 1 else ''} {shown}; {texts})")
    if table.unreadable_elsewhere:
        parts.append(f"{table.unreadable_elsewhere:,} in columns without a header")
    table.notes.append(f"{count:,} cell(s) could not be read and count as missing — " + "; ".join(parts) + ".")


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            out.append(f"{name} ({seen[name]})")
        else:
            seen[name] = 1
            out.append(name)
    return out


def _size(n: int) -> str:
    """'42 kB', '1.3 GB' (decimal units, as file managers show them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]

"""Read an uploaded export (xlsx, xlsm, xls, ods, csv, tsv, txt) into a pandas frame, as exported.

What real exports contain and how it is handled:
- title / metadata rows above the header: the header row is found in the first rows
  (`find_header_row`); Qualtrics' second and third header rows are recognised;
- several sheets: the caller may name one; otherwise `choose_sheet` scores each sheet's header;
- CSV: encoding (BOM → UTF-8/UTF-16; not valid UTF-8 → cp1252), delimiter (, ; tab |), decimal
  comma, all sniffed from the first 64 KB, then parsed with pyarrow (fast) or pandas (fallback);
- blank trailing rows and columns are dropped; duplicate header names are made unique.
Values stay as read; `lib.values` types them once the columns are mapped.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
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
        table = _read_text(file_name, data)
    else:
        raise FileReadError(
            f"{file_name}: files of type '{ext or 'without extension'}' cannot be read. "
            f"Upload one of: {', '.join(SUPPORTED)}.")
    table.frame = _tidy(table.frame)
    if table.frame.shape[1] == 0:
        raise FileReadError(f"{file_name} has no columns with a header. Check that the export has a header row.")
    if table.frame.empty:
        where = f" (sheet '{table.sheet}')" if table.sheet else ""
        raise FileReadError(f"{file_name}{where} has a header but no data rows. Export it again with data.")
    return table


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

def _read_excel(file_name: str, data: bytes, ext: str, sheet: str | None,
                score_header: Callable[[list[str]], float] | None) -> Table:
    import fastexcel

    if ext in {".xlsx", ".xlsm"}:
        if data[:8] == _OLE_MAGIC:
            raise FileReadError(
                f"{file_name} is password-protected (encrypted). Open it in Excel, remove the "
                "password (File → Info → Protect Workbook), save, and upload it again.")
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise FileReadError(f"{file_name} is not a valid Excel workbook (it may be damaged or "
                                "renamed). Open it in Excel, save it as .xlsx, and upload it again.")
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

    peeks = {name: _peek_excel(reader, data, ext, name) for name in ([sheet] if sheet else names)}
    if sheet is None:
        sheet = _choose_sheet(peeks, score_header)
    rows = peeks[sheet]
    if not any(any(not _blank_cell(c) for c in row) for row in rows):
        raise FileReadError(f"{file_name}: sheet '{sheet}' is empty. Pick the sheet with the data.")
    header = find_header_row(rows)
    notes = []
    skip_after = 0
    if len(rows) > header + 2 and _is_qualtrics_import_row(rows[header + 2]):
        header, skip_after = header + 1, 1  # Qualtrics: use the question-text row, drop ImportIds
        notes.append("Qualtrics export: used the question-text header row.")
    if header:
        notes.append(f"Skipped {header} row(s) above the header.")
    try:
        loaded = reader.load_sheet(sheet, header_row=header, schema_sample_rows=None,
                                   skip_rows=skip_after or None)
        frame = loaded.to_pandas()
    except Exception as exc:
        raise FileReadError(f"{file_name}: sheet '{sheet}' could not be read ({_short(exc)}).") from exc
    frame.columns = [_header_text(c) for c in frame.columns]
    if len(names) > 1:
        notes.append(f"Read sheet '{sheet}' of {len(names)}.")
    return Table(frame, file_name, header + 1 + skip_after, sheet, names, notes)


def _peek_excel(reader, data: bytes, ext: str, sheet: str) -> list[list[object]]:
    """The first rows of a sheet; streamed with openpyxl for xlsx so a big sheet is not parsed."""
    if ext in {".xlsx", ".xlsm"}:
        try:
            import openpyxl

            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                return [list(r) for r in book[sheet].iter_rows(max_row=PEEK_ROWS, values_only=True)]
            finally:
                book.close()
        except Exception:
            pass  # fall back to the fast reader
    frame = reader.load_sheet(sheet, header_row=None, n_rows=PEEK_ROWS).to_pandas()
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def _choose_sheet(peeks: dict[str, list[list[object]]],
                  score_header: Callable[[list[str]], float] | None) -> str:
    names = list(peeks)
    if score_header is None or len(names) == 1:
        return next((n for n in names if any(any(not _blank_cell(c) for c in r) for r in peeks[n])), names[0])

    def score(name: str) -> float:
        rows = peeks[name]
        if not rows:
            return -1.0
        header = rows[find_header_row(rows)]
        return score_header([_header_text(c) for c in header if not _blank_cell(c)])

    return max(names, key=score)


def _header_text(value: object) -> str:
    text = "" if _blank_cell(value) else str(value).strip()
    return "" if text.startswith("__UNNAMED__") else text


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
    sample = data[:SNIFF_BYTES].decode("utf-8", errors="ignore")
    lines = sample.splitlines()
    if len(data) > SNIFF_BYTES and lines:
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
    frame = _parse_csv(data, delimiter, header, decimal)
    if frame is None:  # bytes that are not UTF-8 past the sniffed start
        frame = _parse_csv(_to_utf8(data, "cp1252"), delimiter, header, decimal)
        notes.append("Read as cp1252 text.")
    return Table(frame, file_name, header + 1, None, [], notes)


def _to_utf8(data: bytes, encoding: str) -> bytes:
    # cp1252 has five undefined bytes; replace them rather than refuse the file.
    return data.decode(encoding, errors="replace").encode("utf-8")


def _parse_csv(data: bytes, delimiter: str, skip: int, decimal: str) -> pd.DataFrame | None:
    """pyarrow (fast, multi-threaded); pandas' C engine when pyarrow refuses the file.

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
                decimal_point=decimal, strings_can_be_null=True,
                null_values=["", "NA", "N/A", "NULL", "null", "NaN", "nan", "#N/A"],
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
        return table.to_pandas(date_as_object=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        if detect_encoding(data) != "utf-8":
            return None
        return pd.read_csv(io.BytesIO(data), sep=delimiter, skiprows=skip, decimal=decimal,
                           encoding="utf-8", encoding_errors="replace", skip_blank_lines=True,
                           on_bad_lines="warn", low_memory=False)


# ---------------------------------------------------------------- tidying

def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop blank trailing rows/columns and unnamed empty columns; make header names unique."""
    names = [_header_text(c) if not str(c).startswith("Unnamed: ") else "" for c in frame.columns]
    frame = frame.set_axis(range(frame.shape[1]), axis=1)
    keep = [i for i, name in enumerate(names) if name or frame[i].notna().any()]
    frame = frame[keep]
    names = [names[i] or f"Column {i + 1}" for i in keep]
    frame.columns = _unique(names)
    blank_rows = frame.isna().all(axis=1)
    # Keep the original index: it gives each row's number in the file (Table.file_row).
    return frame[~blank_rows] if blank_rows.any() else frame


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


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]

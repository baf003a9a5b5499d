"""Nasty files, made in memory for the tests (nothing binary is committed).

`workbook` writes an .xlsx package by hand, so a test can make what Excel never writes: sheets
without a <dimension> (or with a wrong one), sheets that share one part, error cells of every
kind. `zip_bomb` makes a small .xlsx whose sheet unpacks to gigabytes without ever holding them.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                 '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
                 'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                 '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                 'officedocument.spreadsheetml.sheet.main+xml"/>{sheets}</Types>')
ROOT_RELS = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}"><Relationship Id="rId1" '
             f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')


class Error(str):
    """An Excel error cell, e.g. Error('#N/A')."""


def column_letters(index: int) -> str:
    """0 → 'A', 26 → 'AA'."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(row: int, col: int, value: object, strings: dict[str, int] | None = None) -> str:
    ref = f"{column_letters(col)}{row}"
    if value is None:
        return ""
    if strings is not None and isinstance(value, str) and not isinstance(value, Error):
        return f'<c r="{ref}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>'
    if isinstance(value, Error):
        return f'<c r="{ref}" t="e"><f>1/0</f><v>{_escape(value)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{_escape(str(value))}</t></is></c>'


def sheet_xml(rows: list[list[object]], dimension: str | None = "auto", strings: dict[str, int] | None = None) -> str:
    """A worksheet part. `dimension`: 'auto' (the true range), None (no element), or a ref such as
    'A1' (wrong, as some tools write it). With `strings`, text cells refer to shared strings
    (added to the dict: text → index)."""
    body = "".join(f'<row r="{r}">' + "".join(_cell(r, c, v, strings) for c, v in enumerate(row)) + "</row>"
                   for r, row in enumerate(rows, start=1))
    if dimension == "auto":
        width = max((len(r) for r in rows), default=1)
        dimension = f"A1:{column_letters(max(width, 1) - 1)}{max(len(rows), 1)}"
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">{dim}<sheetData>{body}</sheetData></worksheet>'


def workbook(sheets: dict[str, list[list[object]] | str], parts: dict[str, str] | None = None,
             dimension: str | None = "auto", shared_strings: list[str] | None = None) -> bytes:
    """An .xlsx: `sheets` maps a sheet name to its rows (or to ready-made sheet XML); `parts` maps
    a sheet name to its part under xl/ — give two sheets one part to make them share it.
    `shared_strings`: text cells go to a shared-strings part, after these entries (as Excel
    keeps strings of a workbook edited over time)."""
    strings = None if shared_strings is None else {text: i for i, text in enumerate(shared_strings)}
    names = list(sheets)
    parts = parts or {name: f"worksheets/sheet{i + 1}.xml" for i, name in enumerate(names)}
    book = (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            + "".join(f'<sheet name="{_escape(n)}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(names))
            + "</sheets></workbook>")
    rels = (f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
            + "".join(f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" Target="{parts[n]}"/>'
                      for i, n in enumerate(names))
            + (f'<Relationship Id="rIdS" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>' if strings is not None else "")
            + "</Relationships>")
    overrides = "".join(f'<Override PartName="/xl/{p}" ContentType="application/vnd.openxmlformats-officedocument.'
                        f'spreadsheetml.worksheet+xml"/>' for p in sorted(set(parts.values())))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES.format(sheets=overrides))
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", book)
        z.writestr("xl/_rels/workbook.xml.rels", rels)
        written = set()
        for name in names:
            if parts[name] in written:
                continue
            written.add(parts[name])
            content = sheets[name]
            z.writestr("xl/" + parts[name], content if isinstance(content, str) else sheet_xml(content, dimension, strings))
        if strings is not None:
            entries = "".join(f"<si><t>{_escape(text)}</t></si>" for text in strings)
            z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" '
                                               f'count="{len(strings)}" uniqueCount="{len(strings)}">{entries}</sst>')
    return buf.getvalue()


def _deflate_repeated(head: bytes, block: bytes, times: int, tail: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of head + block × times + tail, its CRC-32 and size, without building the text:
    after a full flush the compressor starts afresh, so each block packs to the same bytes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = packer.compress(head) + packer.flush(zlib.Z_FULL_FLUSH)
    packed_block = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.compress(tail) + packer.flush()
    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    return start + packed_block * times + end, crc, len(head) + len(block) * times + len(tail)


def _raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip from already-deflated members: (name, raw deflate bytes, crc, unpacked size)."""
    out, central = io.BytesIO(), io.BytesIO()
    for name, packed, crc, size in members:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(packed), size, len(encoded), 0))
        out.write(encoded + packed)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(packed), size,
                                  len(encoded), 0, 0, 0, 0, 0, offset))
        central.write(encoded)
    start = out.tell()
    out.write(central.getvalue())
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central.getvalue()), start, 0))
    return out.getvalue()


def zip_bomb(unpacked_bytes: int = 3 * 10**9) -> bytes:
    """A ~3 MB .xlsx whose one sheet unpacks to `unpacked_bytes` of honest, repetitive XML."""
    base = zipfile.ZipFile(io.BytesIO(workbook({"Data": [["Email", "Score"], ["a@x.com", 9]]})))
    members = []
    for info in base.infolist():
        text = base.read(info)
        if info.filename == "xl/worksheets/sheet1.xml":
            head, tail = text.split(b"</sheetData>")[0], b"</sheetData></worksheet>"
            block = b'<row><c t="inlineStr"><is><t>a@x.com</t></is></c><c><v>9</v></c></row>' * 16384
            members.append(("xl/worksheets/sheet1.xml", *_deflate_repeated(head, block, unpacked_bytes // len(block), tail)))
        else:
            packer = zlib.compressobj(9, zlib.DEFLATED, -15)
            members.append((info.filename, packer.compress(text) + packer.flush(), zlib.crc32(text), len(text)))
    return _raw_zip(members)


def understated(data: bytes, part: str, claimed: int = 1000) -> bytes:
    """The zip `data` with `part`'s unpacked size understated as `claimed` in both directory entries
    (a crafted file: a reader that trusts no stated size unpacks it all)."""
    data = bytearray(data)
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part)
    struct.pack_into("<I", data, info.header_offset + 22, claimed)
    at = bytes(data).find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46:at + 46 + length]) == part.encode():
            struct.pack_into("<I", data, at + 24, claimed)
        at = bytes(data).find(b"PK\x01\x02", at + 4)
    return bytes(data)

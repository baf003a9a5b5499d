"""The SQL notebook: an analyst's own read-only SQL over the session's tables.

Safety comes in layers, each covering what the others let through:
1. The session's connection (lib.datasets.Workspace) has file access, extensions, Python
   replacement scans and settings changes switched off, a capped spill folder, and its
   configuration locked. DuckDB still allows its own spill folder as a file path, and attaching an
   in-memory database is no file access: layer 2 refuses COPY and ATTACH and hides the folder's name.
2. Here, a cell must hold one SELECT-like statement (SELECT, WITH … SELECT, EXPLAIN, SHOW …), so
   ATTACH, COPY, SET, CREATE … are refused by kind. EXPLAIN ANALYZE is refused because it runs the
   statement it explains (DROP, CREATE MACRO, COPY … TO the spill folder all ran through it), and
   so are the functions, views and SHOW <setting> that would print the server's settings and
   folders; folders in DuckDB's own error messages are blanked unless the user wrote them.
3. The statement runs in a cursor of its own inside a READ ONLY transaction that is always rolled
   back, then closed: a write hidden in a CTE (`WITH d AS (DELETE … RETURNING *) SELECT …`) fails,
   and anything temporary ends with the cursor (the transaction alone does not refuse CREATE TEMP
   or ATTACH; layer 2 does). The loaded tables and built-in functions stay as they were.
4. The time limit covers running and fetching: the query is interrupted at the deadline (DuckDB
   notices between chunks of up to 2,048 rows, so one enormous chunk still runs to its end), and
   rows are fetched in batches that start at one row and double, each checked against the deadline,
   `max_rows` and a byte budget, so an oversized result is refused before it is all in Python.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

import duckdb
import pandas as pd

from lib.errors import SqlError

READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_ROWS = 50_000
# The largest result a cell may hold in the server's memory (estimated from the fetched values,
# see _value_bytes); pages keep results between reruns, and the browser is sent all of it.
DEFAULT_MAX_BYTES = 50_000_000
_LARGEST_BATCH = 2048  # rows per fetch once the first ones were small; batches start at 1 row
_clock = time.monotonic

# Functions and views whose output names server folders (the spill folder, the home and
# extension directories), or that run SQL given as a string and so would hide one of them.
_SERVER_READERS = {
    "current_setting", "duckdb_settings", "pg_settings", "duckdb_extensions",
    "duckdb_extension_repositories", "duckdb_temporary_files", "duckdb_secrets", "which_secret",
    "duckdb_external_file_cache", "query_table", "json_execute_serialized_sql", "json_serialize_plan",
}
_SERVER_READER_CALLS = {"query"}  # only as a function: `query` is a common column name


@dataclass
class QueryResult:
    frame: pd.DataFrame
    truncated: bool  # more rows existed than were fetched
    sql: str
    bytes: int = 0  # estimated size of the fetched values


def run_user_sql(con: duckdb.DuckDBPyConnection, sql: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS, max_bytes: int = DEFAULT_MAX_BYTES) -> QueryResult:
    """Run one read-only statement; raise SqlError with a plain message otherwise.

    >>> con = duckdb.connect()
    >>> run_user_sql(con, "SELECT 1 + 1 AS two").frame["two"].tolist()
    [2]
    """
    text = _checked_statement(con, sql)
    deadline = _clock() + timeout_s
    too_long = SqlError(f"The query ran longer than {timeout_s:g} s and was stopped. "
                        "Add a LIMIT or filter, or aggregate before joining.")
    cursor = con.cursor()  # its own connection: a temporary object made in it ends with it
    timer = threading.Timer(timeout_s, cursor.interrupt)
    timer.start()
    try:
        cursor.execute("BEGIN TRANSACTION READ ONLY")
        cursor.execute(text)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        rows, size = _fetch(cursor, max_rows, max_bytes, deadline, too_long)
    except duckdb.InterruptException as exc:
        raise too_long from exc
    except duckdb.TransactionException as exc:
        if "read-only" not in str(exc):
            raise SqlError(f"The query failed: {_plain(exc, text)}") from exc
        raise SqlError("The notebook is read-only: this query would change the session's tables, "
                       "so it was not run. Nothing was changed.") from exc
    except duckdb.OutOfMemoryException as exc:
        raise SqlError("The query needed more memory and spill space than a session has "
                       f"({_plain(exc, text)}). Filter or aggregate before sorting or joining, "
                       "or add a LIMIT.") from exc
    except duckdb.Error as exc:
        raise SqlError(f"The query failed: {_plain(exc, text)}") from exc
    finally:
        timer.cancel()
        try:
            cursor.execute("ROLLBACK")
        except duckdb.Error:
            pass  # an interrupted or failed transaction; closing the cursor ends it too
        cursor.close()
    truncated = len(rows) > max_rows
    frame = pd.DataFrame(rows[:max_rows], columns=_unique(columns))
    return QueryResult(frame, truncated, text, size)


def _checked_statement(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The cell's one statement, or SqlError saying why it cannot run here."""
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SqlError("Write a SELECT query first.")
    try:
        statements = con.extract_statements(text)
        kinds = [s.type.name for s in statements]
    except duckdb.Error as exc:
        raise SqlError(f"The SQL does not parse: {_plain(exc, text)}") from exc
    except ValueError as exc:  # a statement kind the Python client has no name for (UPDATE EXTENSIONS)
        raise SqlError("Only read-only queries (SELECT, WITH … SELECT, EXPLAIN) can run here. "
                       "The loaded tables cannot be changed from the notebook.") from exc
    if len(statements) != 1:
        raise SqlError(f"Run one statement at a time (this cell has {len(statements)}).")
    kind = kinds[0]
    if kind not in READ_ONLY_TYPES:
        raise SqlError(f"Only read-only queries (SELECT, WITH … SELECT, EXPLAIN) can run here, not {kind}. "
                       "The loaded tables cannot be changed from the notebook.")
    words = _words(text)
    if kind == "EXPLAIN" and any(w in ("analyze", "analyse") for w, _ in words):
        raise SqlError("EXPLAIN ANALYZE runs the statement it explains, so it cannot be used here; "
                       "use EXPLAIN without ANALYZE to see the plan.")
    with con.cursor() as cursor:  # SHOW <setting> reads a setting as current_setting does
        rows = cursor.execute("SELECT name FROM duckdb_settings()").fetchall()
    settings = {name.lower() for (name,) in rows}
    for i, (word, _) in enumerate(words):
        following = words[i + 1][0] if i + 1 < len(words) else ""
        if word in _SERVER_READERS or (word in _SERVER_READER_CALLS and following == "(") \
                or (word == "show" and following in settings):
            shown = f"SHOW {following}" if word == "show" else word
            raise SqlError(f"{shown} is not available in the notebook: it can show the server's settings "
                           "and folders. Query the loaded tables instead.")
    return text


def _words(text: str) -> list[tuple[str, str]]:
    """(lower-case word, token type) of every token outside strings and comments; quoted names unquoted."""
    tokens = duckdb.tokenize(text)
    out = []
    for (start, kind), (end, _) in zip(tokens, tokens[1:] + [(len(text), None)]):
        if kind.name in ("string_const", "comment"):
            continue
        word = text[start:end].strip()
        if word.startswith('"') and word.endswith('"') and len(word) > 1:
            word = word[1:-1].replace('""', '"')
        out.append((word.lower(), kind.name))
    return out


def _fetch(cursor: duckdb.DuckDBPyConnection, max_rows: int, max_bytes: int, deadline: float,
           too_long: SqlError) -> tuple[list[tuple], int]:
    """Up to max_rows + 1 rows and their estimated size, refusing past the budget or the deadline.

    Batches start at one row and double, so a result of a few huge values is refused after its
    first row instead of after all of them have been copied into Python.
    """
    rows: list[tuple] = []
    size = 0
    batch = 1
    while len(rows) <= max_rows:
        if _clock() > deadline:
            raise too_long
        chunk = cursor.fetchmany(min(batch, max_rows + 1 - len(rows)))
        if not chunk:
            break
        size += sum(_value_bytes(v) for row in chunk for v in row)
        if size > max_bytes:
            raise SqlError(f"The result is larger than {_megabytes(max_bytes)}, the notebook's limit "
                           f"(reached by row {len(rows) + len(chunk):,}); add a LIMIT or aggregate, "
                           "or select fewer or shorter columns.")
        rows.extend(chunk)
        batch = min(batch * 2, _LARGEST_BATCH)
    if _clock() > deadline:
        raise too_long
    return rows, size


def _value_bytes(value: object) -> int:
    """About what a fetched value adds to the result: text its length plus an 8-byte offset, a
    number, date or missing value one 8-byte cell, a list or struct its items plus 8.

    It counts what the kept frame and the browser get, not the Python objects met while fetching
    (several times larger, but freed once the frame is built), so 50,000 rows of 20 ordinary
    columns (about 15 MB) fit well within the budget.
    """
    if isinstance(value, (str, bytes, bytearray)):
        return len(value) + 8
    if isinstance(value, (list, tuple)):
        return 8 + sum(_value_bytes(v) for v in value)
    if isinstance(value, dict):
        return 8 + sum(_value_bytes(k) + _value_bytes(v) for k, v in value.items())
    return 8


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n:,} bytes"


def _unique(columns: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
        out.append(c if seen[c] == 1 else f"{c}_{seen[c]}")
    return out


_QUOTED_PATH = re.compile(r'"(/[^"]*)"')


def _plain(exc: Exception, text: str) -> str:
    """The error's first line, with server folders the user did not write replaced (a DuckDB
    message can name e.g. the extension directory under the server's home)."""
    line = str(exc).strip().splitlines()[0][:300]
    return _QUOTED_PATH.sub(lambda m: m.group(0) if m.group(1) in text else '"(a server folder)"', line)

"""The SQL notebook: an analyst's own read-only SQL over the session's tables.

Safety comes in layers: the session's connection already has file access, extensions and
settings switched off (lib.datasets.Workspace); here only a single SELECT-like statement is
accepted (so the loaded tables cannot be changed), a query running longer than the time limit is
interrupted, and at most `max_rows` rows are fetched.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
import pandas as pd

from lib.errors import SqlError

READ_ONLY_TYPES = {"SELECT", "EXPLAIN"}
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MAX_ROWS = 50_000


@dataclass
class QueryResult:
    frame: pd.DataFrame
    truncated: bool  # more rows existed than were fetched
    sql: str


def run_user_sql(con: duckdb.DuckDBPyConnection, sql: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 max_rows: int = DEFAULT_MAX_ROWS) -> QueryResult:
    """Run one read-only statement; raise SqlError with a plain message otherwise.

    >>> con = duckdb.connect()
    >>> run_user_sql(con, "SELECT 1 + 1 AS two").frame["two"].tolist()
    [2]
    """
    text = sql.strip().rstrip(";").strip()
    if not text:
        raise SqlError("Write a SELECT query first.")
    try:
        statements = con.extract_statements(text)
    except duckdb.Error as exc:
        raise SqlError(f"The SQL does not parse: {_first_line(exc)}") from exc
    if len(statements) != 1:
        raise SqlError(f"Run one statement at a time (this cell has {len(statements)}).")
    kind = statements[0].type.name
    if kind not in READ_ONLY_TYPES:
        raise SqlError(f"Only read-only queries (SELECT, WITH … SELECT, EXPLAIN) can run here, not {kind}. "
                       "The loaded tables cannot be changed from the notebook.")
    cursor = con.cursor()
    timer = threading.Timer(timeout_s, cursor.interrupt)
    timer.start()
    try:
        cursor.execute(text)
        rows = cursor.fetchmany(max_rows + 1)
        columns = [d[0] for d in cursor.description] if cursor.description else []
    except duckdb.InterruptException as exc:
        raise SqlError(f"The query ran longer than {timeout_s:g} s and was stopped. "
                       "Add a LIMIT or filter, or aggregate before joining.") from exc
    except duckdb.Error as exc:
        raise SqlError(f"The query failed: {_first_line(exc)}") from exc
    finally:
        timer.cancel()
        cursor.close()
    truncated = len(rows) > max_rows
    frame = pd.DataFrame(rows[:max_rows], columns=_unique(columns))
    return QueryResult(frame, truncated, text)


def _unique(columns: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
        out.append(c if seen[c] == 1 else f"{c}_{seen[c]}")
    return out


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]

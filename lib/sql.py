"""SQL helpers: one way to quote identifiers; values are always bound parameters."""

from __future__ import annotations

import re


def quote_ident(name: str) -> str:
    """Quote a DuckDB identifier (table or column name), doubling embedded quotes.

    >>> quote_ident('Open Rate')
    '"Open Rate"'
    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + str(name).replace('"', '""') + '"'


def safe_name(text: str, fallback: str = "column") -> str:
    """snake_case ASCII name for a table or column taken from user text.

    >>> safe_name('How likely are you to recommend us?')
    'how_likely_are_you_to_recommend_us'
    >>> safe_name('  ')
    'column'
    """
    name = re.sub(r"[^0-9a-zA-Z]+", "_", str(text)).strip("_").lower()
    if not name:
        return fallback
    if name[0].isdigit():
        name = "c_" + name
    return name


def values_cte(name: str, columns: list[str], rows: list[tuple], types: list[str] | None = None) -> tuple[str, list]:
    """A small lookup table as a CTE of bound values, `name(a, b) AS (VALUES (?, ?), …)`, and its
    parameters. It means the same on DuckDB and Spark (lib.engine), which a pair of `unnest()`
    calls does not: Spark reads two generators in one SELECT as a cross product. No rows: an empty
    table of `types` (text by default).

    >>> values_cte('roles', ['event', 'role'], [('open', 'impression'), ('tap', 'click')])
    ('roles(event, role) AS (VALUES (?, ?), (?, ?))', ['open', 'impression', 'tap', 'click'])
    >>> values_cte('roles', ['event', 'role'], [])[0]
    'roles(event, role) AS (SELECT CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR) WHERE FALSE)'
    """
    head = f"{name}({', '.join(columns)})"
    if not rows:
        nulls = ", ".join(f"CAST(NULL AS {t})" for t in (types or ["VARCHAR"] * len(columns)))
        return f"{head} AS (SELECT {nulls} WHERE FALSE)", []
    one = "(" + ", ".join("?" for _ in columns) + ")"
    return f"{head} AS (VALUES {', '.join(one for _ in rows)})", [v for row in rows for v in row]

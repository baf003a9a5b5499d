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

"""Breakdowns by a segment column, for any page: which of a file's columns can be a segment, which
one to offer first, and the largest groups plus "Other" so the groups still add up to the total.

Any text column can be a segment, however many values it has (a survey over a hundred companies
breaks down by company); a column of numbers or dates only when it has a few values (a plan tier
coded 1–3), otherwise it is a measure. A column whose every value is different is an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.engine import table_columns
from lib.sql import quote_ident

MAX_LEVELS = 30  # a number or date column with more distinct values is a measure, not a segment
BLANK = "(blank)"
OTHER = "Other"
TEXT_TYPES = ("VARCHAR",)


@dataclass(frozen=True)
class SegmentColumn:
    """A column a breakdown can use, with what a reader needs to choose it."""

    column: str  # the table's column
    label: str  # the file's column name
    levels: int  # distinct values, blank counted as one value
    rows: int
    readable_rows: int  # rows in groups of at least `min_n` rows

    @property
    def readable_share(self) -> float:
        return self.readable_rows / self.rows if self.rows else 0.0


def group_sql(column_sql: str) -> str:
    """SQL for a segment value: the text trimmed, blank and NULL as '(blank)' (its own group, so
    the groups add up to the total)."""
    return f"coalesce(nullif(trim(CAST({column_sql} AS VARCHAR)), ''), '{BLANK}')"


def segment_columns(con, table: str, columns: dict[str, str], min_n: int = 30) -> list[SegmentColumn]:
    """The columns of `columns` (table column → file column name) usable as a segment, in the
    file's order: text columns with any number of values, other columns with at most MAX_LEVELS;
    never a column whose every value is different in a file of more than one row (an identifier),
    one with a single value throughout (nothing to compare: Prep Air's Airline) or one that is blank
    throughout. `min_n` only feeds `readable_rows`."""
    types = dict(table_columns(con, table))
    t = quote_ident(table)
    out = []
    for column, label in columns.items():
        if column not in types:
            continue
        value = group_sql(quote_ident(column))
        levels, rows, readable, filled = con.execute(f"""WITH g AS (
    SELECT {value} AS v, count(*) AS k FROM {t} GROUP BY 1
)
SELECT count(*), coalesce(sum(k), 0), coalesce(sum(k) FILTER (WHERE k >= ?), 0),
    count(*) FILTER (WHERE v <> ?)
FROM g""", [int(min_n), BLANK]).fetchall()[0]
        text = types[column] in TEXT_TYPES
        identifier = rows > 1 and levels == rows
        if filled and levels > 1 and not identifier and (text or levels <= MAX_LEVELS):
            out.append(SegmentColumn(column, label, int(levels), int(rows), int(readable)))
    return out


def default_segment(candidates: list[SegmentColumn]) -> SegmentColumn | None:
    """The column to offer first: the one whose groups of at least `min_n` rows hold the most rows
    (a breakdown that can be read), then the one with fewer values, then the file's order.

    >>> cols = [SegmentColumn("name", "Name", 700, 1500, 0), SegmentColumn("company", "Company", 100, 1500, 1200),
    ...         SegmentColumn("plan", "Plan", 3, 1500, 1500), SegmentColumn("region", "Region", 4, 1500, 1500)]
    >>> default_segment(cols).label
    'Plan'
    """
    if not candidates:
        return None
    return min(candidates, key=lambda c: (-c.readable_rows, c.levels, candidates.index(c)))


def top_groups(frame: pd.DataFrame, label: str, counts: list[str], max_groups: int = 20, search: str = "",
               other: str = OTHER) -> pd.DataFrame:
    """The `max_groups` largest groups (by the first of `counts`, then by name) and one row for the
    rest, so the rows still add up to the total.

    `frame` has one row per group: `label` and summable count columns `counts`; other columns are
    kept for the shown groups and left empty on the rest's row. `search` (case-insensitive, part of
    a name) keeps only the groups whose name contains it before taking the largest; the groups it
    leaves out go into the rest too. Adds `groups` (1 per group; the number merged on the rest's row)
    and `other` (True on the rest's row, labelled "Other (k groups)"). No rest row when nothing is left.

    >>> f = pd.DataFrame({"company": ["Acme", "Bolt", "Core", "Dyno"], "n": [50, 20, 40, 5]})
    >>> top_groups(f, "company", ["n"], 2)[["company", "n", "groups"]].values.tolist()
    [['Acme', 50, 1], ['Core', 40, 1], ['Other (2 groups)', 25, 2]]
    >>> top_groups(f, "company", ["n"], 2, search="o")[["company", "n"]].values.tolist()
    [['Core', 40], ['Bolt', 20], ['Other (2 groups)', 55]]
    """
    ordered = frame.assign(_name=frame[label].astype(str)).sort_values([counts[0], "_name"],
                                                                        ascending=[False, True], kind="stable")
    wanted = ordered["_name"].str.contains(search.strip(), case=False, regex=False) if search.strip() \
        else pd.Series(True, index=ordered.index)
    shown = ordered[wanted].head(max(0, int(max_groups)))
    rest = ordered.drop(index=shown.index)
    shown = shown.drop(columns="_name").assign(groups=1, other=False)
    if rest.empty:
        return shown.reset_index(drop=True)
    row = {c: rest[c].sum() for c in counts}
    row.update({label: f"{other} ({len(rest):,} group{'s' if len(rest) != 1 else ''})", "groups": len(rest),
                "other": True})
    out = pd.concat([shown, pd.DataFrame([row])], ignore_index=True)
    for c in counts:
        out[c] = out[c].astype(frame[c].dtype)
    return out

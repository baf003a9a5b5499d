"""Periods: one way to turn a date column and a grain into SQL, used by every page.

Weeks start on Monday (ISO) unless `week_start='sunday'`. A period is *incomplete* when the data
ends before the period's last day; pages mark it so a partial month is not read as a drop.
"""

from __future__ import annotations

import datetime  # noqa: F401  (named in a doctest)

import numpy as np
import pandas as pd

from lib.errors import BoundaryError

GRAINS = ("day", "week", "month", "quarter", "year")
_OFFSETS = {
    "day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1),
    "quarter": pd.DateOffset(months=3), "year": pd.DateOffset(years=1),
}


def _check(grain: str) -> None:
    if grain not in GRAINS:
        raise BoundaryError(f"Unknown period '{grain}'. Choose one of: {', '.join(GRAINS)}.")


def period_sql(column_sql: str, grain: str, week_start: str = "monday") -> str:
    """SQL expression for the start of the period containing `column_sql` (an already quoted column).

    >>> print(period_sql('"send_date"', 'month'))
    CAST(date_trunc('month', "send_date") AS DATE)
    >>> print(period_sql('"d"', 'week', 'sunday'))
    CAST(date_trunc('week', "d" + INTERVAL 1 DAY) - INTERVAL 1 DAY AS DATE)
    """
    _check(grain)
    if grain == "week" and week_start == "sunday":
        return f"CAST(date_trunc('week', {column_sql} + INTERVAL 1 DAY) - INTERVAL 1 DAY AS DATE)"
    return f"CAST(date_trunc('{grain}', {column_sql}) AS DATE)"


def period_start(when: pd.Timestamp, grain: str, week_start: str = "monday") -> pd.Timestamp:
    """Python twin of period_sql for one timestamp (used for ranges and labels).

    >>> period_start(pd.Timestamp('2025-03-19 10:00'), 'quarter')
    Timestamp('2025-01-01 00:00:00')
    >>> period_start(pd.Timestamp('2025-03-19'), 'week')
    Timestamp('2025-03-17 00:00:00')
    """
    _check(grain)
    day = pd.Timestamp(when).normalize()
    if grain == "day":
        return day
    if grain == "week":
        shift = (day.dayofweek + (1 if week_start == "sunday" else 0)) % 7
        return day - pd.Timedelta(days=shift)
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)
    return day.replace(month=1, day=1)


def period_start_column(when: pd.Series, grain: str, week_start: str = "monday") -> pd.Series:
    """`period_start` for a whole column of times at once (numpy day and month units; NaT stays NaT):
    the same starts, in the column's own datetime64 unit, index and name. A column that is not a plain
    datetime64 one (time zones, objects) is mapped through `period_start` one distinct value at a time.

    >>> when = pd.Series(pd.to_datetime(["2025-03-19 10:00", "2025-12-31 00:00", None]))
    >>> period_start_column(when, "quarter").dt.strftime("%Y-%m-%d").tolist()
    ['2025-01-01', '2025-10-01', nan]
    >>> period_start_column(when, "week", "sunday").dt.strftime("%Y-%m-%d").tolist()
    ['2025-03-16', '2025-12-28', nan]
    """
    _check(grain)
    if not (pd.api.types.is_datetime64_dtype(when.dtype) and isinstance(when.dtype, np.dtype)):
        starts = {d: period_start(d, grain, week_start) for d in when.dropna().drop_duplicates()}
        return when.map(starts).astype(when.dtype)
    values = when.to_numpy()
    blank = np.isnat(values)
    if grain in ("day", "week"):
        days = values.astype("datetime64[D]")
        if grain == "week":  # 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) mod 7
            number = days.astype("int64")
            shift = (number + 3 + (1 if week_start == "sunday" else 0)) % 7
            days = np.where(blank, days, (number - shift).astype("datetime64[D]"))
        starts = days
    else:
        months = values.astype("datetime64[M]")
        if grain == "quarter":  # months since 1970-01: a quarter starts at a multiple of 3
            number = months.astype("int64")
            months = np.where(blank, months, (number - number % 3).astype("datetime64[M]"))
        starts = months.astype("datetime64[Y]") if grain == "year" else months
    return pd.Series(starts.astype(when.dtype), index=when.index, name=when.name)


def period_end(start: pd.Timestamp, grain: str) -> pd.Timestamp:
    """First instant after the period that starts at `start`."""
    _check(grain)
    return pd.Timestamp(start) + _OFFSETS[grain]


def period_starts(first: pd.Timestamp, last: pd.Timestamp, grain: str, week_start: str = "monday") -> list[pd.Timestamp]:
    """Every period start from the period holding `first` to the one holding `last`, gaps included:
    a calendar built here and put in the SQL as values (lib.sql.values_cte), so that it means the
    same on every engine (DuckDB's generate_series and range() do not transpile to Spark).

    >>> [f"{p:%d %b}" for p in period_starts(pd.Timestamp('2025-01-31'), pd.Timestamp('2025-03-02'), 'month')]
    ['01 Jan', '01 Feb', '01 Mar']
    >>> period_starts(pd.Timestamp('2025-03-02'), pd.Timestamp('2025-01-31'), 'week')
    []
    """
    start, stop, out = period_start(first, grain, week_start), period_start(last, grain, week_start), []
    while start <= stop:
        out.append(start)
        start = period_end(start, grain)
    return out


def is_incomplete(start: pd.Timestamp, grain: str, data_end: pd.Timestamp) -> bool:
    """True when the data ends before the last day of the period starting at `start`.

    >>> is_incomplete(pd.Timestamp('2025-10-01'), 'month', pd.Timestamp('2025-10-15 23:00'))
    True
    >>> is_incomplete(pd.Timestamp('2025-09-01'), 'month', pd.Timestamp('2025-09-30 08:00'))
    False
    """
    last_day = period_end(start, grain) - pd.Timedelta(days=1)
    return pd.Timestamp(data_end).normalize() < last_day


def period_label(start: pd.Timestamp, grain: str) -> str:
    """Short human label: '2025-03-17' (day/week), 'Mar 2025', 'Q1 2025', '2025'."""
    start = pd.Timestamp(start)
    if grain in ("day", "week"):
        return start.strftime("%Y-%m-%d")
    if grain == "month":
        return start.strftime("%b %Y")
    if grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return str(start.year)


def range_sql(column_sql: str, start=None, end=None) -> tuple[list[str], list]:
    """WHERE clauses and bound parameters selecting `start <= column < end` (either end open).

    >>> range_sql('"created_date"', pd.Timestamp('2025-01-01'), None)
    (['"created_date" >= ?'], [datetime.datetime(2025, 1, 1, 0, 0)])
    """
    clauses, params = [], []
    if start is not None:
        clauses.append(f"{column_sql} >= ?")
        params.append(pd.Timestamp(start).to_pydatetime())
    if end is not None:
        clauses.append(f"{column_sql} < ?")
        params.append(pd.Timestamp(end).to_pydatetime())
    return clauses, params


def previous_range(start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The range of equal length just before [start, end) — for tiles' deltas.

    >>> previous_range(pd.Timestamp('2025-03-01'), pd.Timestamp('2025-04-01'))
    (Timestamp('2025-01-29 00:00:00'), Timestamp('2025-03-01 00:00:00'))
    """
    length = pd.Timestamp(end) - pd.Timestamp(start)
    return pd.Timestamp(start) - length, pd.Timestamp(start)

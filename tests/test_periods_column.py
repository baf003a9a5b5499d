"""Issue #20 (helper pages7): lib.periods.period_start_column is lib.periods.period_start for a whole column.

Checked element by element against the scalar function for every grain and both week starts over every day of
two centuries (before and after 1970, where numpy's day and month numbers are negative), at midnight and late in
the day, in microsecond and nanosecond columns, with blanks; a time-zone column takes the scalar path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.errors import BoundaryError
from lib.periods import GRAINS, period_start, period_start_column


def scalar(column: pd.Series, grain: str, week_start: str) -> pd.Series:
    return pd.Series([period_start(v, grain, week_start) if pd.notna(v) else pd.NaT for v in column],
                     index=column.index, name=column.name).astype(column.dtype)


def test_every_day_of_two_centuries():
    days = pd.Series(pd.date_range("1899-11-15", "2101-02-03", freq="D"))
    late = days + pd.Timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999)
    for grain, week_start in [(g, "monday") for g in GRAINS] + [("week", "sunday")]:
        want = scalar(days, grain, week_start)  # a time late in the day has its day's period
        for unit in ("us", "ns"):
            column = pd.concat([days, late, pd.Series([pd.NaT])], ignore_index=True).astype(f"datetime64[{unit}]")
            column.index, column.name = column.index * 3 + 7, "day"  # an index and name of its own, kept
            expected = pd.concat([want, want, pd.Series([pd.NaT])], ignore_index=True).astype(column.dtype)
            expected.index, expected.name = column.index, "day"
            pd.testing.assert_series_equal(period_start_column(column, grain, week_start), expected, check_exact=True)


def test_time_zones_and_objects_take_the_scalar_path():
    column = pd.Series(pd.date_range("2024-12-28 22:00", periods=30, freq="17h", tz="Europe/Paris"))
    for grain in GRAINS:
        pd.testing.assert_series_equal(period_start_column(column, grain), scalar(column, grain, "monday"))


def test_a_hand_worked_week_and_quarter():
    # 2025-03-19 is a Wednesday: its Monday week starts 17 March, its Sunday week 16 March; Q1 starts 1 January
    column = pd.Series(pd.to_datetime(["2025-03-19 10:00", "1969-12-31 23:00"]))
    assert period_start_column(column, "week").tolist() == [pd.Timestamp("2025-03-17"), pd.Timestamp("1969-12-29")]
    assert period_start_column(column, "week", "sunday").tolist() == [pd.Timestamp("2025-03-16"),
                                                                      pd.Timestamp("1969-12-28")]
    assert period_start_column(column, "quarter").tolist() == [pd.Timestamp("2025-01-01"), pd.Timestamp("1969-10-01")]
    with pytest.raises(BoundaryError):
        period_start_column(column, "fortnight")

"""Typing exported cells: numbers, percents, dates, booleans — hand cases and properties."""

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.values import parse_bool, parse_date, parse_integer, parse_number, parse_percent


@pytest.mark.parametrize("raw,expected", [
    ("1,234", 1234.0), ("1,234.56", 1234.56), ("$1,200", 1200.0), ("€ 99", 99.0),
    ("(300)", -300.0), ("12 500", 12500.0), ("-7.5", -7.5), ("24%", 24.0), ("USD 10", 10.0),
])
def test_parse_number_cases(raw, expected):
    assert parse_number(pd.Series([raw])).values.tolist() == [expected]


def test_parse_number_blank_is_missing_text_is_bad():
    parsed = parse_number(pd.Series(["", "N/A", "-", "abc", None, "5"]))
    assert parsed.values.isna().tolist() == [True, True, True, True, True, False]
    assert parsed.bad.tolist() == [False, False, False, True, False, False]


def test_parse_integer_flags_fractions_and_text():
    parsed = parse_integer(pd.Series(["10", "6.5", "ten", "", "0"]))
    assert parsed.values.tolist()[0] == 10 and parsed.values.tolist()[4] == 0
    assert parsed.bad.tolist() == [False, True, True, False, False]


@pytest.mark.parametrize("raw,expected", [
    (["24.1%", "3%"], [0.241, 0.03]),
    (["24,1 %"], [0.241]),
    ([41.09, 29.66], [0.4109, 0.2966]),  # Mailchimp writes percent points without a sign
    ([0.2, 0.05], [0.2, 0.05]),  # already ratios
])
def test_parse_percent(raw, expected):
    assert parse_percent(pd.Series(raw)).values.round(6).tolist() == expected


@pytest.mark.parametrize("raw,expected", [
    (["2/24/17 11:29", "12/31/17 9:05"], ["2017-02-24 11:29", "2017-12-31 09:05"]),  # Mailchimp
    (["24/02/2025", "13/03/2025"], ["2025-02-24 00:00", "2025-03-13 00:00"]),  # day first (13 > 12)
    (["24.02.2025 10:00", "01.03.2025 09:30"], ["2025-02-24 10:00", "2025-03-01 09:30"]),
    (["2025-06-03 14:22:10 -0700"], ["2025-06-03 21:22"]),  # Delighted, converted to UTC
    (["2025-06-04T10:00:00Z", "2025-06-04T12:00:00+02:00"], ["2025-06-04 10:00", "2025-06-04 10:00"]),
    (["Feb 3, 2025", "Mar 13, 2025"], ["2025-02-03 00:00", "2025-03-13 00:00"]),
    ([45000, 45001.5], ["2023-03-15 00:00", "2023-03-16 12:00"]),  # Excel serials
    (["45000"], ["2023-03-15 00:00"]),  # Excel serial as text
    ([1700000000], ["2023-11-14 22:13"]),  # Unix seconds
])
def test_parse_date_formats(raw, expected):
    got = parse_date(pd.Series(raw)).values.dt.strftime("%Y-%m-%d %H:%M").tolist()
    assert got == expected


def test_parse_date_mixed_formats_and_bad_cells():
    parsed = parse_date(pd.Series(["2025-01-05", "5 Jan 2025", "", "not a date"]))
    assert parsed.values.dt.strftime("%Y-%m-%d").tolist()[:2] == ["2025-01-05", "2025-01-05"]
    assert parsed.bad.tolist() == [False, False, False, True]


def test_parse_date_keeps_datetime_cells():
    parsed = parse_date(pd.Series([dt.datetime(2025, 1, 1, 8), None]))
    assert parsed.values.iloc[0] == pd.Timestamp("2025-01-01 08:00") and not parsed.bad.any()


def test_parse_bool():
    parsed = parse_bool(pd.Series(["TRUE", "False", "yes", "N", "1", "", "maybe"]))
    assert parsed.values.tolist() == [True, False, True, False, True, pd.NA, pd.NA]
    assert parsed.bad.tolist() == [False] * 6 + [True]


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_formatted_numbers_round_trip(value):
    number = float(value)
    us = f"{number:,.2f}"  # 1,234,567.89
    eu = us.replace(",", "_").replace(".", ",").replace("_", ".")  # 1.234.567,89
    assert parse_number(pd.Series([us])).values.iloc[0] == pytest.approx(number)
    assert parse_number(pd.Series([eu, "0,5"])).values.iloc[0] == pytest.approx(number)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=20))
def test_percent_strings_land_in_unit_interval(points):
    parsed = parse_percent(pd.Series([f"{p:.2f}%" for p in points]))
    assert parsed.values.between(0, 1).all()


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2060, 12, 31)))
def test_dates_round_trip_through_common_formats(day):
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        assert parse_date(pd.Series([day.strftime(fmt)])).values.iloc[0] == pd.Timestamp(day)


# ---- nasty cells from real exports (issue 18) --------------------------------------------------------

@pytest.mark.parametrize("raw,shown", [
    (["2024-01-01", "9999-12-31", "9999-12-31"], "9999-12-31"),  # the ERP/billing "no end" marker
    (["2024-01-01", "9999-12-31 23:59:59", ""], "9999-12-31 23:59:59"),
    (["1/1/2024", "12/31/9999", ""], "9999-12-31"),  # month-first text
    ([dt.datetime(2024, 1, 1), dt.datetime(9999, 12, 31), None], "9999-12-31"),  # a datetime cell
    (["2024-01-01", "1900-01-01", ""], "1900-01-01"),  # SQL Server's zero date
])
def test_no_date_markers_are_read_as_no_date_and_counted(raw, shown):
    parsed = parse_date(pd.Series(raw))
    assert parsed.values.iloc[0] == pd.Timestamp("2024-01-01")
    assert parsed.values.iloc[1:].isna().all() and not parsed.bad.any()
    n = sum(1 for v in raw[1:] if v not in ("", None))
    assert parsed.notes == [f"{n} cell{'s' if n > 1 else ''} held {shown}, a common “no date” marker: "
                            "read as no date."]


def test_far_dates_stay_dates_and_unstorable_dates_are_bad_cells():
    parsed = parse_date(pd.Series(["2099-12-31", "3000-01-01", "2024-05-01"]))
    # 2099-12-31 may be a real contract end; 3000-01-01 is beyond what a timestamp holds (2262)
    assert parsed.values.iloc[0] == pd.Timestamp("2099-12-31") and parsed.values.iloc[1] is pd.NaT
    assert parsed.bad.tolist() == [False, True, False] and parsed.notes == []


@pytest.mark.parametrize("raw", [
    ["5", "inf", "-inf", "1e400", "NaN"],  # text as a CSV holds it
    [5.0, float("inf"), float("-inf"), float("inf"), float("nan")],  # read as numbers (1e400 → inf)
])
def test_infinities_and_nan_text_are_unreadable_counts(raw):
    parsed = parse_integer(pd.Series(raw))
    assert parsed.values.iloc[0] == 5 and parsed.values.iloc[1:].isna().all()
    # a NaN read as a number is a blank cell; the text 'NaN' is a value the tool failed to compute
    assert parsed.bad.tolist() == [False, True, True, True, isinstance(raw[4], str)]


def test_number_too_big_for_a_count_is_unreadable():
    parsed = parse_integer(pd.Series(["1e20", "12"]))
    assert parsed.bad.tolist() == [True, False] and parsed.values.iloc[1] == 12
    assert parse_number(pd.Series(["1e400"])).bad.tolist() == [True]


@pytest.mark.parametrize("raw,expected", [
    ([45291.5, 45292.25], ["2023-12-31 12:00", "2024-01-01 06:00"]),
    (["45291,5", "45292,25"], ["2023-12-31 12:00", "2024-01-01 06:00"]),  # decimal comma
    (["2024-01-03", "45291.5"], ["2024-01-03 00:00", "2023-12-31 12:00"]),  # serial among text dates
    (["01/02/2024", "45291.5"], ["2024-01-02 00:00", "2023-12-31 12:00"]),
])
def test_excel_serials_in_a_csv_are_dates(raw, expected):
    parsed = parse_date(pd.Series(raw))
    assert parsed.values.dt.strftime("%Y-%m-%d %H:%M").tolist() == expected and not parsed.bad.any()
    assert any("read as Excel day numbers" in note for note in parsed.notes)


def test_a_serial_column_with_a_stray_number_keeps_its_dates():
    # 10 serials, Excel's 0 for an empty date cell (a zero date: no date), and a stray 12 (bad):
    # 10 of 12 numbers (83 %) in range is below 90 %, so add 10 more serials → 20 of 22 = 91 %.
    parsed = parse_date(pd.Series([45000.0 + i for i in range(20)] + [0, 12]))
    assert parsed.values.iloc[0] == pd.Timestamp("2023-03-15") and parsed.values.iloc[-2:].isna().all()
    assert parsed.bad.tolist() == [False] * 21 + [True]
    assert "1 cell held 1899-12-30" in parsed.notes[-1]


def test_day_first_dashes_with_time():
    # Social-listening exports (tweet_created): dd-mm-yyyy HH:MM; 03-02 is 3 February, as 24-02 shows
    parsed = parse_date(pd.Series(["24-02-2015 11:35", "03-02-2015 09:05"]))
    assert parsed.values.dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2015-02-24 11:35", "2015-02-03 09:05"]

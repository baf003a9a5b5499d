"""Turn exported cell values into typed columns: numbers, percents, dates, booleans.

Each parser takes a pandas Series as read (text, numbers or datetimes) and returns
`Parsed(values, bad, notes)`: the typed Series, a boolean mask of cells that held something but
could not be parsed, and plain sentences about cells read in a way the user should know of (a
"no end" marker read as no date, numbers read as Excel dates). Blank cells are missing, not bad.
Callers count and report the bad cells and show the notes.

Edge cases decided here (each has a test in tests/test_values.py):
- Numbers: 'inf', '-inf', '1e400' (too large for a number) and the text 'NaN' are unreadable
  cells, not values; so is a whole number beyond 2**53 (no count is that big, and it could not be
  stored exactly).
- Dates: year 9999 (9999-12-31, 9999-12-31 23:59:59 — the "no end" marker of ERP/CRM/billing
  exports) and the zero dates 1900-01-01 00:00 (SQL Server), 1899-12-30 and 1899-12-31 (Excel's
  day 0) and 0001-01-01 (.NET) are read as *no date*, counted in a note, not as bad cells. A real
  far date such as 2099-12-31 stays a date. Other dates that cannot be held as a timestamp
  (before 1677-09-22 or after 2262-04-11, e.g. a typo like 20224-01-05) are unreadable cells.
- Excel serial day numbers (days since 1899-12-30; 45291.5 = 2023-12-31 12:00) are read as dates
  in a column mapped as a date when at least 90 % of its numbers lie in 20000..80000 (1954..2119);
  numbers outside that range in such a column are unreadable cells. Serials mixed with text dates
  (a CSV saved from a sheet where only some cells were formatted as dates) and serials with a
  decimal comma ('45291,5') are read too. Unix seconds (1e9..4e9) and milliseconds are read the
  same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BLANKS = {"", "-", "--", "n/a", "na", "null", "none", "nan", "nat", "#n/a"}
_CURRENCY = re.compile(r"[\$€£¥₹]|\b(?:USD|EUR|GBP|CAD|AUD|BRL|R\$)\b", re.IGNORECASE)
# Excel stores dates as days since 1899-12-30; 20000..80000 covers 1954..2119.
EXCEL_SERIAL_RANGE = (20000, 80000)
UNIX_SECONDS_RANGE = (1e9, 4e9)  # 2001..2096
UNIX_MS_RANGE = (1e12, 4e12)
# Share of a date column's numbers that must lie in one of those ranges for it to be read that way.
SERIAL_SHARE = 0.9
# Whole numbers beyond this cannot be held exactly as floats: no count is that large.
MAX_WHOLE = 2 ** 53
_NOT_A_NUMBER = {"nan", "-nan", "+nan"}
# Dates that mean "no date": the end-of-time year and the zero dates of common systems.
SENTINEL_YEAR = 9999
ZERO_DATES = (pd.Timestamp("1900-01-01"), pd.Timestamp("1899-12-30"), pd.Timestamp("1899-12-31"),
              pd.Timestamp("0001-01-01"))
# What a nanosecond timestamp (pandas' and the pages' date type) can hold.
_FIRST_DATE, _LAST_DATE = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")


@dataclass
class Parsed:
    values: pd.Series
    bad: pd.Series  # True where a non-blank cell could not be parsed
    notes: list[str] = field(default_factory=list)  # cells read in a special way, in plain words


def blank_mask(series: pd.Series) -> pd.Series:
    """True where a cell is missing or holds only a blank marker ('', '-', 'N/A'…)."""
    if not _is_text(series):
        return series.isna()
    text = series.astype("string").str.strip().str.lower()
    return text.isna() | text.isin(BLANKS)


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) or series.dtype == object


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").str.strip()


def parse_number(series: pd.Series) -> Parsed:
    """Numbers from text like '1,234.5', '1.234,5', '$1,200', '(300)', '12 500', '24%'→24.

    Decimal comma vs thousands separator is decided per column: if any value has a comma followed
    by other than exactly three digits (or the last separator is a comma after a dot), commas are
    decimal points. A trailing '%' is dropped (use parse_percent for ratios).
    >>> parse_number(pd.Series(['1,234.5', '$2,000', '(300)', 'x'])).values.tolist()
    [1234.5, 2000.0, -300.0, nan]
    >>> parse_number(pd.Series(['1.234,5', '0,5'])).values.tolist()
    [1234.5, 0.5]
    """
    blank = blank_mask(series)
    if pd.api.types.is_bool_dtype(series):
        values = series.astype("Float64").astype(float)
        return Parsed(values, pd.Series(False, index=series.index))
    if pd.api.types.is_numeric_dtype(series):
        values = series.astype(float)
        infinite = pd.Series(np.isinf(values.to_numpy()), index=series.index)
        return Parsed(values.mask(infinite), infinite)
    # 'NaN' written as text is a value some tool failed to compute, not a blank: report it.
    not_a_number = _text(series).str.lower().isin(_NOT_A_NUMBER).fillna(False)
    blank = blank & ~not_a_number
    text = _text(series).mask(blank)
    text = text.str.replace(_CURRENCY, "", regex=True).str.replace("%", "", regex=False)
    text = text.str.replace(r"[\s\u00a0\u202f']", "", regex=True)
    negative = text.str.match(r"^\(.*\)$", na=False)
    text = text.str.replace(r"^\((.*)\)$", r"\1", regex=True)
    if _decimal_comma(text.dropna()):
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        text = text.str.replace(",", "", regex=False)
    values = pd.to_numeric(text, errors="coerce").astype(float)
    values = values.where(~negative.fillna(False), -values)
    values = values.mask(np.isinf(values.to_numpy()) | not_a_number.to_numpy())  # 'inf', '1e400', 'NaN'
    bad = values.isna() & ~blank
    return Parsed(values, bad)


def _decimal_comma(text: pd.Series) -> bool:
    sample = text.head(5000)
    with_comma = sample[sample.str.contains(",", regex=False)]
    if with_comma.empty:
        return False
    # 1.234,56 or 0,5 or 12,5: a comma not followed by exactly three digits at the end of a group.
    decimal_like = with_comma.str.contains(r",\d{1,2}$|,\d{4,}$", regex=True)
    dot_then_comma = with_comma.str.contains(r"\.\d{3},", regex=True)
    return bool(decimal_like.any() or dot_then_comma.any())


def parse_integer(series: pd.Series) -> Parsed:
    """Whole numbers (counts). A fractional value such as 6.5 is bad, not rounded; so is a number
    beyond 2**53 (see the module notes).

    >>> parse_integer(pd.Series(['12', '6.5', 'inf', '1e400', '1e20'])).bad.tolist()
    [False, True, True, True, True]
    """
    if pd.api.types.is_integer_dtype(series):  # read as integers already: nothing to check
        return Parsed(series.astype("Int64"), pd.Series(False, index=series.index))
    parsed = parse_number(series)
    wrong = parsed.values.notna() & ((parsed.values != np.floor(parsed.values))
                                     | (parsed.values.abs() > MAX_WHOLE))
    values = parsed.values.where(~wrong).astype("Int64") if len(parsed.values) else parsed.values
    return Parsed(values.astype("Int64"), parsed.bad | wrong)


def parse_percent(series: pd.Series) -> Parsed:
    """Ratios in 0..1 from '24.1%', '24,1 %', 24.1 or 0.241.

    A column is read as percent points when any cell carries '%' or any value is above 1;
    otherwise the values are already ratios.
    >>> parse_percent(pd.Series(['24.1%', '3%'])).values.round(3).tolist()
    [0.241, 0.03]
    >>> parse_percent(pd.Series([0.2, 0.5])).values.tolist()
    [0.2, 0.5]
    """
    parsed = parse_number(series)
    has_sign = _is_text(series) and bool(_text(series).str.contains("%", regex=False).any())
    points = has_sign or bool((parsed.values.abs() > 1).any())
    return Parsed(parsed.values / 100 if points else parsed.values, parsed.bad)


_TRUE = {"true", "t", "yes", "y", "1", "1.0", "x", "✓", "ja", "oui", "si", "sí", "wahr"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "nein", "non", "falsch"}


def parse_bool(series: pd.Series) -> Parsed:
    """Booleans from True/False, TRUE/FALSE, yes/no, y/n, 1/0.

    >>> parse_bool(pd.Series(['TRUE', 'no', '', 'maybe'])).values.tolist()
    [True, False, <NA>, <NA>]
    """
    if pd.api.types.is_bool_dtype(series):
        return Parsed(series.astype("boolean"), pd.Series(False, index=series.index))
    blank = blank_mask(series)
    text = _text(series).str.lower()
    values = pd.Series(pd.NA, index=series.index, dtype="boolean")
    values[text.isin(_TRUE).fillna(False)] = True
    values[text.isin(_FALSE).fillna(False)] = False
    return Parsed(values, values.isna() & ~blank)


# Formats tried in order for text dates; the first that parses (nearly) every value wins.
_DATE_FORMATS = [
    "ISO8601",
    "%m/%d/%y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%y", "%m/%d/%Y",
    "%d/%m/%y %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%y", "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%m-%d-%Y %H:%M", "%m-%d-%Y",
    "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z",
    "%b %d, %Y %I:%M %p", "%b %d, %Y %H:%M", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y",
    "%d %b %Y %H:%M", "%a, %d %b %Y %H:%M:%S %z",
]


def parse_date(series: pd.Series) -> Parsed:
    """Timestamps (naive; values with a time zone are converted to UTC) from any common form.

    Accepts datetime cells, Excel serial numbers, Unix seconds/milliseconds, and text in the
    formats above. Day-first vs month-first is decided per column by which format parses every
    value (a 13 in the first field settles it); if both do, month-first (US tools) is taken —
    except with dashes (24-02-2015 11:35), a European form, where day-first is tried first.
    "No date" markers and unstorable dates are handled as the module notes say.
    >>> parse_date(pd.Series(['2/24/17 11:29', '3/1/17 9:05'])).values.dt.strftime('%Y-%m-%d').tolist()
    ['2017-02-24', '2017-03-01']
    >>> parse_date(pd.Series(['24.02.2017', '13.03.2017'])).values.dt.day.tolist()
    [24, 13]
    >>> parse_date(pd.Series(['2024-01-01', '9999-12-31'])).notes
    ['1 cell held 9999-12-31, a common “no date” marker: read as no date.']
    """
    blank = blank_mask(series)
    notes: list[str] = []
    if pd.api.types.is_datetime64_any_dtype(series):
        values = _naive(series)
    elif pd.api.types.is_numeric_dtype(series):
        values = _from_number(series.astype(float), notes)
    else:
        values = _from_text(_text(series).mask(blank), notes)
    return _finish(series, values, blank, notes)


def _from_text(text: pd.Series, notes: list[str]) -> pd.Series:
    numeric = _numbers_in_text(text)
    if numeric.notna().sum() == text.notna().sum() and text.notna().any():
        return _from_number(numeric, notes)
    # Excel serials among text dates (a sheet where only some cells were formatted as dates).
    low, high = EXCEL_SERIAL_RANGE
    serial = numeric.between(low, high)
    dates = text.mask(serial)
    sample = dates.dropna().head(2000)
    best, best_ok = None, -1
    for fmt in _DATE_FORMATS:
        ok = _parse_with(sample, fmt).notna().sum()
        if ok > best_ok:
            best, best_ok = fmt, ok
        if ok == len(sample):
            break
    values = _parse_with(dates, best) if best else pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    if best_ok < len(sample):
        # Mixed formats: fill what the best format missed with pandas' per-value inference.
        rest = values.isna() & dates.notna()
        if rest.any():
            values = values.copy()
            values[rest] = _parse_with(dates[rest], "mixed")
    if serial.any():
        values = values.copy()
        values[serial] = _from_number(numeric[serial], notes)
    return values


def _numbers_in_text(text: pd.Series) -> pd.Series:
    """Cells that are a plain number ('45291', '45291.5', '45291,5', '1.7e9'), as floats; else NaN."""
    plain = text.where(text.str.fullmatch(r"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?", na=False))
    return pd.to_numeric(plain.str.replace(",", ".", regex=False), errors="coerce").astype(float)


def _parse_with(text: pd.Series, fmt: str) -> pd.Series:
    try:
        if fmt == "mixed":
            out = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        else:
            out = pd.to_datetime(text, errors="coerce", format=fmt, utc=True)
    except (ValueError, TypeError, OverflowError):
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    return _naive(out)


def _naive(values: pd.Series) -> pd.Series:
    """UTC, without a time zone, in microseconds (wide enough to hold 9999-12-31 until _finish) — also
    what pandas parsed to nanoseconds (times with 7–9 decimals): one unit for every part of a column, or
    putting 9999-12-31 or 0001-01-01 beside them raised OutOfBoundsDatetime. DuckDB keeps microseconds."""
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[us]")


_SERIAL_KINDS = (  # (range, unit, origin, note)
    (EXCEL_SERIAL_RANGE, "D", "1899-12-30", "read as Excel day numbers (days since 1899-12-30)"),
    (UNIX_SECONDS_RANGE, "s", "unix", "read as Unix time (seconds since 1970-01-01 UTC)"),
    (UNIX_MS_RANGE, "ms", "unix", "read as Unix time (milliseconds since 1970-01-01 UTC)"),
)


def _from_number(numbers: pd.Series, notes: list[str]) -> pd.Series:
    """Numbers as dates when at least SERIAL_SHARE of them lie in one serial range; the others NaT."""
    finite = numbers[np.isfinite(numbers.to_numpy())]
    for (low, high), unit, origin, how in _SERIAL_KINDS:
        inside = numbers.between(low, high)
        if len(finite) and inside.sum() >= SERIAL_SHARE * len(finite):
            if unit == "D":  # Excel's day 0 and 1, an empty date cell: read as zero dates (no date)
                inside |= numbers.isin([0, 1])
            values = pd.to_datetime(numbers.where(inside), unit=unit, origin=origin, errors="coerce")
            first = numbers[inside].iloc[0]
            notes.append(f"{int(inside.sum()):,} number(s) {how}, e.g. {first:g} = "
                         f"{values[inside].iloc[0]:%Y-%m-%d %H:%M}.")
            return values.astype("datetime64[us]")
    return pd.Series(pd.NaT, index=numbers.index, dtype="datetime64[us]")


def _finish(series: pd.Series, values: pd.Series, blank: pd.Series, notes: list[str]) -> Parsed:
    """Sentinels → no date (noted), unstorable dates → bad, the rest as datetime64[ns]."""
    sentinel = values.notna() & ((values.dt.year == SENTINEL_YEAR) | values.isin(ZERO_DATES))
    outside = values.notna() & ~sentinel & ((values < _FIRST_DATE) | (values > _LAST_DATE))
    if sentinel.any():
        shown = sorted({f"{v.year:04d}-{v.month:02d}-{v.day:02d}" + ("" if v == v.normalize() else f" {v:%H:%M:%S}")
                        for v in values[sentinel].head(50)})[:3]
    values = values.mask(sentinel | outside).astype("datetime64[ns]")
    if sentinel.any():
        n = int(sentinel.sum())
        notes.append(f"{n:,} cell{'s' if n > 1 else ''} held {' / '.join(shown)}, a common “no date” marker: "
                     "read as no date.")
    return Parsed(values, values.isna() & ~blank & ~sentinel, notes)


def parse_text(series: pd.Series) -> Parsed:
    """Text, stripped; blank markers become missing. Numbers read from Excel lose a trailing '.0'."""
    blank = blank_mask(series)
    whole = series.dropna()
    if pd.api.types.is_float_dtype(series) and ((whole % 1 == 0) & (whole.abs() <= MAX_WHOLE)).all():
        series = series.astype("Int64")
    values = series.astype("string").str.strip().mask(blank)
    return Parsed(values, pd.Series(False, index=series.index))


PARSERS = {
    "text": parse_text,
    "integer": parse_integer,
    "number": parse_number,
    "percent": parse_percent,
    "date": parse_date,
    "bool": parse_bool,
}

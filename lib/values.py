"""Turn exported cell values into typed columns: numbers, percents, dates, booleans.

Each parser takes a pandas Series as read (text, numbers or datetimes) and returns
`Parsed(values, bad)`: the typed Series and a boolean mask of cells that held something but could
not be parsed. Blank cells are missing, not bad. Callers count and report the bad cells.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

BLANKS = {"", "-", "--", "n/a", "na", "null", "none", "nan", "nat", "#n/a"}
_CURRENCY = re.compile(r"[\$€£¥₹]|\b(?:USD|EUR|GBP|CAD|AUD|BRL|R\$)\b", re.IGNORECASE)
# Excel stores dates as days since 1899-12-30; 20000..80000 covers 1954..2119.
EXCEL_SERIAL_RANGE = (20000, 80000)


@dataclass
class Parsed:
    values: pd.Series
    bad: pd.Series  # True where a non-blank cell could not be parsed


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
        return Parsed(values, pd.Series(False, index=series.index))
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
    """Whole numbers (counts). A fractional value such as 6.5 is bad, not rounded."""
    if pd.api.types.is_integer_dtype(series):  # read as integers already: nothing to check
        return Parsed(series.astype("Int64"), pd.Series(False, index=series.index))
    parsed = parse_number(series)
    fractional = parsed.values.notna() & (parsed.values != np.floor(parsed.values))
    values = parsed.values.where(~fractional).astype("Int64") if len(parsed.values) else parsed.values
    return Parsed(values.astype("Int64"), parsed.bad | fractional)


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
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y", "%m-%d-%Y",
    "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z",
    "%b %d, %Y %I:%M %p", "%b %d, %Y %H:%M", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y",
    "%d %b %Y %H:%M", "%a, %d %b %Y %H:%M:%S %z",
]


def parse_date(series: pd.Series) -> Parsed:
    """Timestamps (naive; values with a time zone are converted to UTC) from any common form.

    Accepts datetime cells, Excel serial numbers, Unix seconds/milliseconds, and text in the
    formats above. Day-first vs month-first is decided per column by which format parses every
    value (a 13 in the first field settles it); if both do, month-first (US tools) is taken.
    >>> parse_date(pd.Series(['2/24/17 11:29', '3/1/17 9:05'])).values.dt.strftime('%Y-%m-%d').tolist()
    ['2017-02-24', '2017-03-01']
    >>> parse_date(pd.Series(['24.02.2017', '13.03.2017'])).values.dt.day.tolist()
    [24, 13]
    """
    blank = blank_mask(series)
    if pd.api.types.is_datetime64_any_dtype(series):
        return Parsed(_naive(series), pd.Series(False, index=series.index))
    if pd.api.types.is_numeric_dtype(series):
        return _from_number(series, blank)
    text = _text(series).mask(blank)
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().sum() == text.notna().sum() and text.notna().any():
        return _from_number(numeric, blank)
    sample = text.dropna().head(2000)
    best, best_ok = None, -1
    for fmt in _DATE_FORMATS:
        ok = _parse_with(sample, fmt).notna().sum()
        if ok > best_ok:
            best, best_ok = fmt, ok
        if ok == len(sample):
            break
    values = _parse_with(text, best) if best else pd.Series(pd.NaT, index=series.index)
    if best_ok < len(sample):
        # Mixed formats: fill what the best format missed with pandas' per-value inference.
        rest = values.isna() & text.notna()
        if rest.any():
            values = values.copy()
            values[rest] = _parse_with(text[rest], "mixed")
    values = values.astype("datetime64[ns]") if len(values) else values
    return Parsed(values, values.isna() & ~blank)


def _parse_with(text: pd.Series, fmt: str) -> pd.Series:
    try:
        if fmt == "mixed":
            out = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        else:
            out = pd.to_datetime(text, errors="coerce", format=fmt, utc=True)
    except (ValueError, TypeError):
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    return _naive(out)


def _naive(values: pd.Series) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.astype("datetime64[ns]")


def _from_number(numbers: pd.Series, blank: pd.Series) -> Parsed:
    numbers = numbers.astype(float)
    low, high = EXCEL_SERIAL_RANGE
    if numbers.dropna().between(low, high).all():
        values = pd.to_datetime(numbers, unit="D", origin="1899-12-30", errors="coerce")
    elif numbers.dropna().between(1e9, 4e9).all():
        values = pd.to_datetime(numbers, unit="s", errors="coerce")
    elif numbers.dropna().between(1e12, 4e12).all():
        values = pd.to_datetime(numbers, unit="ms", errors="coerce")
    else:
        values = pd.Series(pd.NaT, index=numbers.index, dtype="datetime64[ns]")
    values = values.astype("datetime64[ns]")
    return Parsed(values, values.isna() & ~blank)


def parse_text(series: pd.Series) -> Parsed:
    """Text, stripped; blank markers become missing. Numbers read from Excel lose a trailing '.0'."""
    blank = blank_mask(series)
    if pd.api.types.is_float_dtype(series) and (series.dropna() % 1 == 0).all():
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

"""The Excel workbook a consultant hands over: Flags, a sheet per area, Definitions.

Cells keep real types (dates as dates, numbers as numbers, rates as percentages). Text from
uploaded files that starts with = + - @ (or a tab/CR), headers included, is neutralised with a
leading apostrophe so the workbook cannot run a formula smuggled in through the data; the CSV
downloads (`csv_bytes`) go through the same `neutralise_frame`. Tables longer than Excel's row
limit are cut at the limit with a warning — never silently.
"""

from __future__ import annotations

import io
import re

import pandas as pd

from lib.config import THRESHOLDS, Thresholds
from lib.result import column_label

EXCEL_MAX_ROWS = 1_048_576
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_RATE_NAME = re.compile(r"rate|share|retention|conversion|percent|pct|%|ctor|stickiness", re.IGNORECASE)

DEFINITIONS: list[tuple[str, str]] = [
    ("Delivery rate", "delivered / sent (delivered = sent − bounces when only bounces are given)"),
    ("Open rate", "unique opens / delivered; inflated by Apple Mail Privacy Protection after Sept 2021"),
    ("Click-to-open rate (CTOR)", "unique clicks / unique opens"),
    ("Click rate (CTR)", "unique clicks / delivered"),
    ("Unsubscribe rate", "unsubscribes / delivered"),
    ("Spam complaint rate", "spam complaints / delivered"),
    ("Pooled rate", "sum of numerators / sum of denominators over the campaigns in a period"),
    ("NPS", "100 × (promoters [9–10] − detractors [0–6]) / valid responses [whole numbers 0–10]"),
    ("NPS margin of error", "1.96 × 100 × √((p_P + p_D − (p_P − p_D)²) / n), 95%"),
    ("Own-baseline test", "two-proportion z-test of a period's rate against the pooled rate of the "
                          "trailing baseline periods"),
    ("Wilson interval", "95% score interval for a proportion; used where n is small"),
    ("NCVG", "new customers (count and value) − lost customers (count and value), per period"),
    ("Retention (period N)", "users of a cohort active in period N / users in the cohort"),
    ("Average retention curve", "chained: retention(N − 1) × Σ retained in N / Σ retained in N − 1 over the "
                                "cohorts complete at both N − 1 and N"),
    ("Trial not converted", "no payment within the conversion window after the trial ends (new-customer "
                            "trials; trials of paying customers apart)"),
    ("Cost per MQL", "program cost in the range (a period partly in the range by its share of days) / MQLs"),
    ("Flag families", "tests of one metric over periods or groups, Benjamini–Hochberg adjusted; "
                      "'high' needs Bonferroni-level evidence"),
    ("Stickiness", "DAU / MAU and WAU / MAU"),
    ("Repeat purchase (N days)", "customers whose second order came within N days of their first / customers "
                                 "whose first order is at least N days before the data ends"),
    ("Program MQL rate", "a program's leads reaching MQL within the conversion window / its leads; value per "
                         "cost = its customers' value / its cost in the range"),
]


def neutralise(value: object) -> object:
    """Prefix text that a spreadsheet would read as a formula with an apostrophe.

    >>> neutralise('=HYPERLINK("http://x")'), neutralise('ok'), neutralise(-5)
    ('\\'=HYPERLINK("http://x")', 'ok', -5)
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell and every header neutralised (numbers and dates untouched:
    -5 stays the number -5; only the text "-5" gains the apostrophe)."""
    out = frame.copy()
    out.columns = [neutralise(c) for c in out.columns]
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype(object)
        if pd.api.types.is_string_dtype(values) or values.dtype == object:
            out.isetitem(i, values.map(neutralise, na_action="ignore"))
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as the UTF-8 CSV every "Download CSV" button gives: formulas neutralised as in the
    workbook (OWASP "CSV injection": a cell starting = + - @ tab or CR is prefixed with ').

    Lines end in CRLF (RFC 4180), so a cell holding a bare CR is quoted: with pandas' default "\n"
    it was not, and a spreadsheet that breaks rows at CR would start a new cell after it, unneutralised.
    """
    return neutralise_frame(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _is_rate(frame: pd.DataFrame, column: str) -> bool:
    values = frame[column]
    return (pd.api.types.is_float_dtype(values) and bool(_RATE_NAME.search(str(column)))
            and bool(values.dropna().between(-1, 1).all()))


def build_workbook(sections: dict[str, dict[str, pd.DataFrame]], flags: pd.DataFrame,
                   thresholds: Thresholds) -> tuple[bytes, list[str]]:
    """The workbook bytes and the warnings to show (tables cut at Excel's row limit)."""
    import xlsxwriter

    buf = io.BytesIO()
    warnings: list[str] = []
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_urls": False, "nan_inf_to_errors": True})
    fmt = {
        "title": book.add_format({"bold": True, "font_size": 13}),
        "header": book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1, "text_wrap": True}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
        "pct": book.add_format({"num_format": "0.00%"}),
        "num": book.add_format({"num_format": "#,##0.##"}),
    }
    _write_sheet(book, "Flags", {"Red flags": flags}, fmt, warnings)
    for area, tables in sections.items():
        _write_sheet(book, area[:31], tables, fmt, warnings)
    definitions = pd.DataFrame(DEFINITIONS, columns=["Metric", "Definition"])
    settings = pd.DataFrame([{"Threshold": t.label, "Value": thresholds[t.key], "Default": t.default,
                              "Area": t.area, "Source": t.source} for t in THRESHOLDS])
    used = {"Definitions": definitions, "Thresholds used": settings}
    if len(per_topic := topic_thresholds(thresholds)):
        used["Per-topic thresholds used"] = per_topic
    _write_sheet(book, "Definitions", used, fmt, warnings)
    book.close()
    return buf.getvalue(), warnings


def topic_thresholds(thresholds: Thresholds) -> pd.DataFrame:
    """One row per topic that has its own value of a threshold, beside the general value it replaces
    (the flags of that topic were held against it)."""
    rows = [{"Threshold": t.label, "Topic": topic, "Value": value, "General value": thresholds[t.key]}
            for t in THRESHOLDS if t.per_topic
            for topic, value in sorted(thresholds.topic_values(t.key).items())]
    return pd.DataFrame(rows, columns=["Threshold", "Topic", "Value", "General value"])


def _write_sheet(book, name: str, tables: dict[str, pd.DataFrame], fmt: dict, warnings: list[str]) -> None:
    sheet = book.add_worksheet(name)
    row = 0
    widths: dict[int, int] = {}
    for title, frame in tables.items():
        frame = neutralise_frame(frame.reset_index(drop=True))
        sheet.write(row, 0, title, fmt["title"])
        row += 1
        room = EXCEL_MAX_ROWS - row - 1
        if len(frame) > room:
            warnings.append(f"Sheet '{name}', table '{title}': {len(frame):,} rows; only the first "
                            f"{room:,} fit in Excel. Download the full table as CSV on its page.")
            frame = frame.head(room)
        header_row = row
        for c, column in enumerate(frame.columns):
            header = str(neutralise(column_label(str(column))))  # as on the page, e.g. "% of start"
            sheet.write(row, c, header, fmt["header"])
            widths[c] = max(widths.get(c, 8), min(len(header) + 2, 40))
        row += 1
        for c, column in enumerate(frame.columns):
            values = frame[column]
            cell_fmt = None
            if pd.api.types.is_datetime64_any_dtype(values):
                cell_fmt = fmt["date"]
                values = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
            elif _is_rate(frame, column):
                cell_fmt = fmt["pct"]
            elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                cell_fmt = fmt["num"]
            for r, value in enumerate(values.tolist()):
                if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
                    continue
                if isinstance(value, pd.Timedelta):
                    value = value.total_seconds() / 86400  # days, as a number
                if isinstance(value, pd.Timestamp):
                    sheet.write_datetime(row + r, c, value.to_pydatetime(), cell_fmt)
                elif isinstance(value, str):
                    sheet.write_string(row + r, c, value)
                    widths[c] = max(widths[c], min(len(value) + 2, 60))
                else:
                    sheet.write(row + r, c, value, cell_fmt)
        _maybe_chart(book, sheet, name, title, frame, header_row)
        row += len(frame) + 2
    for c, width in widths.items():
        sheet.set_column(c, c, width)
    sheet.freeze_panes(2, 0)


def _maybe_chart(book, sheet, sheet_name: str, title: str, frame: pd.DataFrame, header_row: int) -> None:
    """A native line chart for a time table (date first column, a few numeric columns)."""
    if frame.empty or len(frame) < 3 or not pd.api.types.is_datetime64_any_dtype(frame.iloc[:, 0]):
        return
    numeric = [i for i, c in enumerate(frame.columns) if i > 0 and pd.api.types.is_float_dtype(frame[c])
               and _is_rate(frame, c)][:3]
    if not numeric:
        return
    chart = book.add_chart({"type": "line"})
    first, last = header_row + 1, header_row + len(frame)
    for i in numeric:
        chart.add_series({"name": [sheet_name, header_row, i], "categories": [sheet_name, first, 0, last, 0],
                          "values": [sheet_name, first, i, last, i]})
    chart.set_title({"name": title})
    chart.set_y_axis({"num_format": "0%", "name": "Rate"})
    chart.set_x_axis({"date_axis": True, "num_format": "yyyy-mm", "name": frame.columns[0]})
    sheet.insert_chart(header_row, len(frame.columns) + 1, chart, {"x_scale": 1.4, "y_scale": 1.1})

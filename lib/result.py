"""The shapes that cross module lines: a metric's result and a red flag."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class MetricResult:
    """What a metric function returns: the frame, the SQL behind it, and the rows it left out.

    `excluded` maps a plain reason ("score blank") to the number of rows left out for it.
    """

    frame: pd.DataFrame
    sql: str
    params: list[Any] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def n_excluded(self) -> int:
        return sum(self.excluded.values())

    def excluded_text(self) -> str:
        """'12 rows left out: 7 score blank, 5 score not 0–10.' or '' when none."""
        if not self.n_excluded:
            return ""
        parts = ", ".join(f"{n:,} {reason}" for reason, n in self.excluded.items() if n)
        return f"{self.n_excluded:,} row(s) left out: {parts}."


SEVERITIES = ("high", "medium", "low")
AREA_LABELS = {"email": "Email", "in_app": "In-app", "nps": "NPS", "voice": "Voice of customer",
               "ncvg": "NCVG", "funnel": "Funnel", "cohorts": "Cohorts"}


@dataclass
class Flag:
    """One red flag, rendered the same way on every page and in the report."""

    area: str  # email, in_app, nps, ncvg, funnel, cohorts, voice
    metric: str
    subject: str  # the campaign, period or segment flagged
    value: float
    reference: float  # the threshold or baseline it was held against
    test: str  # "threshold" or the statistical test used, with n, e.g. "p-chart, n=12,400"
    severity: str
    questions: tuple[str, ...] = ()
    period: pd.Timestamp | None = None
    unit: str = "ratio"
    period_end: pd.Timestamp | None = None  # first instant after the flagged period, when known

    def as_row(self) -> dict[str, Any]:
        return {
            "Area": AREA_LABELS.get(self.area, self.area), "Metric": self.metric, "Subject": self.subject,
            "Value": self.value, "Threshold / baseline": self.reference, "Test": self.test,
            "Severity": self.severity, "Period": self.period,
            "Questions to ask": " • ".join(self.questions),
        }


# Words a column name spells in lower case that read better otherwise in a table header.
_HEADER_WORDS = {"pct": "%", "n": "n", "id": "ID", "mrr": "MRR", "arr": "ARR", "nps": "NPS", "grr": "GRR",
                 "nrr": "NRR", "mql": "MQL", "sql": "SQL", "csv": "CSV", "url": "URL", "utc": "UTC", "ci": "CI",
                 "ctor": "CTOR",
                 "p10": "10th pct", "p25": "25th pct", "p50": "median", "p75": "75th pct", "p90": "90th pct"}


def column_label(name: str) -> str:
    """A table header for a snake_case column name; other names are kept as they are.

    >>> column_label("pct_of_start"), column_label("p25_days"), column_label("customer_id")
    ('% of start', '25th pct days', 'Customer ID')
    >>> column_label("Campaign Name"), column_label("n")
    ('Campaign Name', 'n')
    """
    if name != name.lower() or " " in name:
        return name
    words = [_HEADER_WORDS.get(w, w) for w in name.split("_") if w]
    if not words:
        return name
    first = words[0]
    if first == first.lower() and name.split("_")[0] not in _HEADER_WORDS:
        words[0] = first[:1].upper() + first[1:]
    return " ".join(words)


_RATIO_WORDS = {"share", "rate", "retention", "conversion", "grr", "nrr"}


def column_format(name: str, values: pd.Series) -> str | None:
    """A display format (Streamlit NumberColumn) for a float column nobody formatted, or None.

    Ratios by name (share, rate, retention, conversion…) within ±1 → percent; percent points (a
    "%" or "pct" in the name) and averages ("per", "mean", "median"…) → two decimals; other floats:
    whole numbers with thousands separators, and two decimals from 10 up (money). Other small
    non-whole values (p-values, z, ratios of ratios) and id/year columns keep their digits.

    >>> s = pd.Series
    >>> column_format("share_of_value", s([0.0456, 0.5])), column_format("customers", s([30.0, 1200.0]))
    ('percent', '%,d')
    >>> column_format("unit_value", s([24.1667, 65.8])), column_format("p", s([0.0312])), column_format("ids", s(["a"]))
    ('%,.2f', None, None)
    >>> column_format("Detractors %", s([19.0])), column_format("emails_per_recipient_week", s([2.8907]))
    ('%,.2f', '%,.2f')
    """
    if not pd.api.types.is_float_dtype(values):
        return None
    words = set(str(name).lower().replace(" ", "_").split("_"))
    # on the plain array (a table's every float column, every click: pandas' dropna/abs/round cost ~10x)
    array = values.to_numpy(dtype=float, na_value=np.nan)
    finite = array[~np.isnan(array)]
    if not finite.size or words & {"id", "year"}:
        return None
    top = float(np.abs(finite).max())
    if words & _RATIO_WORDS and top <= 1.0:
        return "percent"
    in_points = "%" in str(name) or bool(words & {"pct", "percent"})  # 19 beside 40.20 reads as a count
    if (finite == np.round(finite)).all() and not in_points:
        return "%,d"
    average = bool(words & {"per", "avg", "average", "mean", "median"})  # 2.89 emails per recipient
    return "%,.2f" if top >= 10 or in_points or average else None


def format_value(value: float, unit: str) -> str:
    """A flag's value as people read it: ratios as percentages, points and counts as numbers.

    >>> format_value(0.00234, "ratio"), format_value(-12.5, "points"), format_value(1234, "count")
    ('0.23%', '-12.5', '1,234')
    """
    if value is None or pd.isna(value):
        return "—"
    if unit == "ratio":
        return f"{value:.2%}"
    if unit == "points":
        return f"{value:.1f}"
    if unit == "count":
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return f"{value:,.2f} {unit}".strip()


def flags_frame(flags: list[Flag], formatted: bool = False) -> pd.DataFrame:
    """Flags as a table sorted by severity then period (newest first).

    `formatted` turns Value and Threshold / baseline into display text by each flag's unit (for
    screens); the export keeps numbers.
    """
    columns = list(Flag("", "", "", 0, 0, "", "low").as_row())
    if not flags:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame([f.as_row() for f in flags], columns=columns)
    if formatted:
        frame["Value"] = [format_value(f.value, f.unit) for f in flags]
        frame["Threshold / baseline"] = [format_value(f.reference, f.unit) for f in flags]
    frame["_rank"] = frame["Severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    frame = frame.sort_values(["_rank", "Period"], ascending=[True, False], na_position="last")
    return frame.drop(columns="_rank").reset_index(drop=True)

"""The Boundary report: every area's red flags in one list, and which flags follow a campaign."""

from __future__ import annotations

import importlib

import pandas as pd

from lib.errors import BoundaryError
from lib.result import Flag

# Area → module providing area_flags(ws) and area_tables(ws); the order is the report's order.
AREA_MODULES: dict[str, str] = {
    "email": "lib.metrics.email",
    "in_app": "lib.metrics.in_app",
    "nps": "lib.metrics.nps",
    "voice": "lib.metrics.voice",
    "ncvg": "lib.metrics.ncvg",
    "funnel": "lib.metrics.funnel",
    "cohorts": "lib.metrics.cohorts",
}
AREA_LABELS = {"email": "Email", "in_app": "In-app", "nps": "NPS", "voice": "Voice of customer",
               "ncvg": "NCVG", "funnel": "Funnel", "cohorts": "Cohorts"}


def area_module(area: str):
    return importlib.import_module(AREA_MODULES[area])


def gather_flags(ws) -> tuple[list[Flag], list[str]]:
    """Every area's flags on the session's loaded data, with the session's thresholds.

    Returns the flags and one plain note per area whose data could not be analysed.
    """
    flags: list[Flag] = []
    notes: list[str] = []
    for area in AREA_MODULES:
        try:
            flags.extend(area_module(area).area_flags(ws))
        except BoundaryError as exc:
            notes.append(f"{AREA_LABELS[area]}: {exc}")
    return flags, notes


def gather_tables(ws) -> dict[str, dict[str, pd.DataFrame]]:
    """Every area's main tables ({sheet name → {table name → frame}}), for the Excel export."""
    out = {}
    for area in AREA_MODULES:
        try:
            tables = area_module(area).area_tables(ws)
        except BoundaryError:
            continue  # the same problem is already listed by gather_flags
        if tables:
            out[AREA_LABELS[area]] = tables
    return out


def flags_after_campaigns(flags: list[Flag], calendar: pd.DataFrame, days: int) -> pd.DataFrame:
    """Pairs (flag, campaign) where the flag's period follows the campaign's start.

    A flag follows a campaign when the flagged period starts 0..`days` days after the campaign
    started, or the campaign started inside the flagged period (when the period's end is known).
    `calendar` needs columns campaign and start_date (and optionally channel).
    >>> cal = pd.DataFrame({"campaign": ["Spring"], "start_date": [pd.Timestamp("2025-03-10")]})
    >>> f = Flag("nps", "NPS", "Apr 2025", 5, 20, "threshold", "high", period=pd.Timestamp("2025-04-01"))
    >>> flags_after_campaigns([f], cal, 30)["Campaign"].tolist()
    ['Spring']
    >>> flags_after_campaigns([f], cal, 10).empty
    True
    """
    columns = ["Area", "Metric", "Subject", "Severity", "Period", "Campaign", "Channel",
               "Campaign start", "Days after campaign start"]
    rows = []
    if calendar.empty:
        return pd.DataFrame(columns=columns)
    for flag in flags:
        if flag.period is None or pd.isna(flag.period):
            continue
        period = pd.Timestamp(flag.period)
        for _, campaign in calendar.iterrows():
            start = pd.Timestamp(campaign["start_date"])
            if pd.isna(start):
                continue
            lag = (period - start).days
            inside = flag.period_end is not None and period <= start < pd.Timestamp(flag.period_end)
            if 0 <= lag <= days or inside:
                rows.append([AREA_LABELS.get(flag.area, flag.area), flag.metric, flag.subject,
                             flag.severity, period, campaign["campaign"], campaign.get("channel"),
                             start, max(lag, 0)])
    return pd.DataFrame(rows, columns=columns)

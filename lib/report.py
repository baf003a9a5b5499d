"""The Boundary report: every area's red flags in one list, and which flags follow a campaign."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.errors import BoundaryError
from lib.result import AREA_LABELS, SEVERITIES, Flag

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


def table_columns(con, tables: tuple[str, ...]) -> dict[str, list[tuple[str, str]]]:
    """{table → [(column, type), …]} of the given tables without the internal `_row` column: what the
    lift section offers (one catalogue query a table; the page keeps the answer per data version)."""
    from lib.engine import table_columns as columns_of

    return {t: [(c, kind) for c, kind in columns_of(con, t) if c != "_row"] for t in tables}


def calendar_rows(con, table: str = "campaign_calendar") -> pd.DataFrame:
    """The loaded campaign calendar's rows as stored (the input of flags_after_campaigns)."""
    from lib.sql import quote_ident

    return con.execute(f"SELECT * FROM {quote_ident(table)}").df()


def flags_summary(flags: list[Flag]) -> pd.DataFrame:
    """One row per area and metric: how many flags, by severity, and the latest flagged period.

    >>> f = [Flag("email", "Open rate", "Jan", .1, .15, "threshold", "high", period=pd.Timestamp("2025-01-01")),
    ...      Flag("email", "Open rate", "Feb", .1, .15, "threshold", "low", period=pd.Timestamp("2025-02-01"))]
    >>> [int(v) for v in flags_summary(f).iloc[0][["Flags", "high", "low"]]]
    [2, 1, 1]
    """
    columns = ["Area", "Metric", "Flags", *SEVERITIES, "Latest period"]
    if not flags:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame({"Area": [AREA_LABELS.get(f.area, f.area) for f in flags],
                          "Metric": [f.metric for f in flags], "Severity": [f.severity for f in flags],
                          "Period": pd.to_datetime([f.period for f in flags])})
    counts = pd.crosstab([frame["Area"], frame["Metric"]], frame["Severity"])
    counts = counts.reindex(columns=list(SEVERITIES), fill_value=0)
    summary = counts.assign(Flags=counts.sum(axis=1),
                            **{"Latest period": frame.groupby(["Area", "Metric"])["Period"].max()})
    summary = summary.reset_index().sort_values(["high", "Flags"], ascending=False)
    return summary[columns].reset_index(drop=True)


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
    dated = [f for f in flags if f.period is not None and not pd.isna(f.period)]
    if calendar.empty or not dated:
        return pd.DataFrame(columns=columns)
    left = pd.DataFrame({
        "Area": [AREA_LABELS.get(f.area, f.area) for f in dated], "Metric": [f.metric for f in dated],
        "Subject": [f.subject for f in dated], "Severity": [f.severity for f in dated],
        "Period": pd.to_datetime([f.period for f in dated]),
        "_end": pd.to_datetime([f.period_end for f in dated]),
    })
    right = pd.DataFrame({
        "Campaign": calendar["campaign"], "Campaign start": pd.to_datetime(calendar["start_date"]),
        "Channel": calendar["channel"] if "channel" in calendar else None,
    }).dropna(subset=["Campaign start"])
    pairs = left.merge(right, how="cross")
    lag = (pairs["Period"] - pairs["Campaign start"]).dt.days
    inside = (pairs["Period"] <= pairs["Campaign start"]) & (pairs["Campaign start"] < pairs["_end"])
    pairs = pairs[lag.between(0, days) | inside.fillna(False)].copy()
    pairs["Days after campaign start"] = lag[pairs.index].clip(lower=0)
    return pairs[columns].reset_index(drop=True)


# A calendar so full that this share of flags would follow a campaign by chance cannot tell anything.
DENSE_CALENDAR_SHARE = 0.8


@dataclass(frozen=True)
class CampaignBaseRate:
    """How often flags follow a campaign, against how often they would by the calendar alone."""

    flagged: int  # dated flagged periods (one per area, metric and period)
    following: int  # of those, how many follow a campaign
    expected_share: float  # mean share over every shift of the calendar through the span
    p_value: float  # share of shifts with at least as many following (one-sided)
    shifts: int

    @property
    def share(self) -> float:
        return self.following / self.flagged if self.flagged else math.nan


def campaign_base_rate(flags: list[Flag], calendar: pd.DataFrame, days: int) -> CampaignBaseRate:
    """Do flags follow campaigns more often than the calendar alone would make them?

    With a campaign every few weeks and a 30-day window, most periods "follow a campaign" whatever
    happens. The test shifts the whole calendar by every whole day through the span of the flagged
    periods (circularly, keeping the gaps between campaigns) and counts, for each shift, the flagged
    periods that follow a shifted campaign by the same rule as `flags_after_campaigns` (period start
    0..days after a start, or a start inside the period). Expected share = the mean over shifts;
    p = share of shifts with at least the observed count (a calendar-shift permutation test).
    Flags are counted once per (area, metric, period).

    Worked example: flags in Jan, Feb and Mar 2025 (monthly), one campaign on 10 Jan, window 10 days →
    only January follows it (the campaign started inside January). The span runs from 22 Dec (10
    days before the first period) to 31 Mar: 100 days. Every shift puts the campaign inside or
    just before some month, so at least 1 of 3 follows one whatever the calendar: p = 1.0.
    >>> f = [Flag("nps", "NPS", m, 5, 20, "t", "low", period=pd.Timestamp(f"2025-0{i}-01"),
    ...           period_end=pd.Timestamp(f"2025-0{i + 1}-01")) for i, m in [(1, "Jan"), (2, "Feb"), (3, "Mar")]]
    >>> cal = pd.DataFrame({"campaign": ["Winter"], "start_date": [pd.Timestamp("2025-01-10")]})
    >>> r = campaign_base_rate(f, cal, 10)
    >>> (r.flagged, r.following, r.p_value)
    (3, 1, 1.0)
    """
    dated = {(f.area, f.metric, pd.Timestamp(f.period)): f for f in flags
             if f.period is not None and not pd.isna(f.period)}
    starts = pd.to_datetime(calendar["start_date"], errors="coerce").dropna() if not calendar.empty else pd.Series([])
    if not dated or starts.empty:
        return CampaignBaseRate(len(dated), 0, math.nan, math.nan, 0)
    day = np.timedelta64(1, "D")
    period = np.array([k[2].to_datetime64() for k in dated], dtype="datetime64[ns]")
    end = np.array([pd.Timestamp(f.period_end).to_datetime64() if f.period_end is not None and not pd.isna(f.period_end)
                    else k[2].to_datetime64() for k, f in dated.items()], dtype="datetime64[ns]")
    span_start = period.min() - days * day
    span_days = max(1, math.ceil((end.max() - span_start) / day))  # period ends are exclusive
    offsets = (starts.to_numpy(dtype="datetime64[ns]") - span_start) / day  # days into the span, may fall outside

    def following(shift: np.ndarray) -> np.ndarray:
        """Flags following some campaign, per shift (rows: shifts)."""
        shifted = span_start + (((offsets[None, :] + shift[:, None]) % span_days) * day).astype("timedelta64[ns]")
        lag = (period[None, :, None] - shifted[:, None, :]) / day
        inside = (period[None, :, None] <= shifted[:, None, :]) & (shifted[:, None, :] < end[None, :, None])
        return (((lag >= 0) & (lag <= days)) | inside).any(axis=2).sum(axis=1)

    offsets = offsets[(offsets >= 0) & (offsets < span_days)]  # campaigns outside the span follow no flag
    if offsets.size == 0:
        return CampaignBaseRate(len(dated), 0, math.nan, math.nan, 0)
    observed = int(following(np.array([0.0]))[0])
    counts = following(np.arange(span_days, dtype=float))
    n = len(dated)
    return CampaignBaseRate(n, observed, float(counts.mean() / n), float((counts >= observed).mean()), span_days)

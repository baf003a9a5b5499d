"""Across pages: any two time series side by side with their correlation, and lift.

Series are simple aggregates over the canonical tables, so they mean the same as on the pages:
pooled rates (sum of numerators / sum of denominators), NPS over valid 0–10 scores, counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lib.errors import BoundaryError
from lib.periods import is_incomplete, period_sql
from lib.result import MetricResult
from lib.sql import quote_ident
from lib.stats import TrendAwareCorrelation, correlation_with_changes, two_proportion_test, wilson_interval


@dataclass(frozen=True)
class Series:
    name: str
    kind: str
    date_column: str
    value_sql: str  # aggregate over the kind's canonical columns
    needs: tuple[str, ...] = ()
    where_sql: str = "TRUE"
    unit: str = "count"  # "ratio", "points" or "count"


_DELIVERED = "{delivered}"  # filled per file by delivered_sql: files carry different columns
SERIES: tuple[Series, ...] = (
    Series("Email sends (campaigns)", "email_campaigns", "send_date", "count(*)"),
    Series("Emails delivered", "email_campaigns", "send_date", f"sum({_DELIVERED})"),
    Series("Email unsubscribe rate", "email_campaigns", "send_date",
           f"sum(unsubscribes) / NULLIF(sum({_DELIVERED}), 0)", ("unsubscribes",), unit="ratio"),
    Series("Email spam complaint rate", "email_campaigns", "send_date",
           f"sum(spam_complaints) / NULLIF(sum({_DELIVERED}), 0)", ("spam_complaints",), unit="ratio"),
    Series("Email open rate", "email_campaigns", "send_date",
           f"sum(unique_opens) / NULLIF(sum({_DELIVERED}), 0)", unit="ratio"),
    Series("NPS", "nps_responses", "response_date",
           "100.0 * (count(*) FILTER (score >= 9) - count(*) FILTER (score <= 6)) / NULLIF(count(*), 0)",
           where_sql="score BETWEEN 0 AND 10", unit="points"),
    Series("NPS responses", "nps_responses", "response_date", "count(*)", where_sql="score BETWEEN 0 AND 10"),
    Series("Campaigns started", "campaign_calendar", "start_date", "count(*)"),
    Series("Community posts / reviews", "texts", "date", "count(*)"),
    Series("New subscriptions", "subscriptions", "start_date", "count(*)"),
    Series("Subscriptions ended", "subscriptions", "end_date", "count(*)", ("end_date",)),
    Series("Active users", "activity", "event_time", "count(DISTINCT user_id)"),
    Series("In-app events", "in_app_events", "event_time", "count(*)"),
    Series("New leads", "leads", "created_date", "count(*)", ("created_date",)),
    Series("Deals closed", "deals", "close_date", "count(*)", ("close_date",)),
)


def delivered_sql(mapping: dict[str, str]) -> str:
    """Delivered emails from the columns a file has: delivered, else sent − bounces, else sent.

    >>> delivered_sql({"sent": "a", "bounces": "b"})
    'sent - COALESCE(bounces, 0)'
    """
    fallback = "sent - COALESCE(bounces, 0)" if "bounces" in mapping else "sent"
    if "delivered" in mapping:
        return f"COALESCE(delivered, {fallback})" if "sent" in mapping else "delivered"
    return fallback


def available_series(ws) -> list[Series]:
    """The series whose data is loaded (kind ready, date and needed columns mapped)."""
    out = []
    for series in SERIES:
        dataset = ws.get(series.kind)
        if dataset and series.date_column in dataset.mapping and all(c in dataset.mapping for c in series.needs):
            out.append(series)
    return out


def series_by_period(con, series: Series, grain: str, mapping: dict[str, str]) -> MetricResult:
    """One series per period: period start and the aggregate. Rows without a date are left out.

    The last period is dropped when the data end before it does (a part-month of sends would read as
    a drop): the frame's `incomplete` attribute then names it.
    """
    date = quote_ident(series.date_column)
    value = series.value_sql.format(delivered=delivered_sql(mapping))
    sql = (f"SELECT {period_sql(date, grain)} AS period, {value} AS value "
           f"FROM {quote_ident(series.kind)} WHERE {date} IS NOT NULL AND ({series.where_sql}) "
           "GROUP BY ALL ORDER BY period")
    frame = con.execute(sql).df()
    missing, data_end = con.execute(f"SELECT count(*) FILTER ({date} IS NULL), max({date}) "
                                    f"FROM {quote_ident(series.kind)}").fetchone()
    incomplete = None
    if not frame.empty and data_end is not None and is_incomplete(frame["period"].iloc[-1], grain, data_end):
        incomplete = (f"{series.name}: the last {grain} is left out, the data end on "
                      f"{pd.Timestamp(data_end):%d %b %Y}")
        frame = frame.iloc[:-1].copy()
    frame.attrs["incomplete"] = incomplete
    return MetricResult(frame, sql, [], {f"{series.name}: no date": int(missing)} if missing else {})


@dataclass(frozen=True)
class TimeCorrelation:
    joined: pd.DataFrame  # complete periods that both series have
    corr: TrendAwareCorrelation
    result: MetricResult  # both queries' SQL and the rows without a date
    incomplete: tuple[str, ...]  # last periods left out, one note per series


def correlate(ws, first: Series, second: Series, grain: str) -> TimeCorrelation:
    """Both series on the complete periods they share (periods where either is missing are not paired).

    Pearson's r on the levels and on period-to-period changes: two series that both drift correlate
    on levels without moving together (`corr.shared_trend_only`). A change is only taken between
    neighbouring periods that both series have.
    """
    a = series_by_period(ws.con, first, grain, ws.get(first.kind).mapping)
    b = series_by_period(ws.con, second, grain, ws.get(second.kind).mapping)
    both = a.frame.merge(b.frame, on="period", how="outer", suffixes=("_a", "_b")).sort_values("period")
    both = both.rename(columns={"value_a": first.name, "value_b": second.name})
    corr = correlation_with_changes(both[first.name].astype(float).tolist(), both[second.name].astype(float).tolist())
    result = MetricResult(both, a.sql + ";\n\n" + b.sql + ";", [], {**a.excluded, **b.excluded})
    notes = tuple(n for n in (a.frame.attrs.get("incomplete"), b.frame.attrs.get("incomplete")) if n)
    return TimeCorrelation(both.dropna().reset_index(drop=True), corr, result, notes)


@dataclass(frozen=True)
class Lift:
    did_n: int
    did_rate: float
    did_low: float
    did_high: float
    not_n: int
    not_rate: float
    not_low: float
    not_high: float
    difference: float  # did − did not, in rate points (ratio)
    p_value: float

    @property
    def ratio(self) -> float:
        return self.did_rate / self.not_rate if self.not_rate else float("nan")


CONDITIONS = {"is at least": ">=", "equals": "=", "is yes / not empty": "truthy"}


# Columns a lift question usually starts from (something a customer did) and ends at (an outcome),
# best first; canonical names, so they match whatever the vendor called them.
LIFT_BEHAVIOURS = ("webinars_attended", "demo_requested", "email_clicks", "page_views", "email_opens")
LIFT_OUTCOMES = ("customer_date", "opportunity_date", "sql_date", "mql_date")


def suggest_lift(tables: dict[str, list[tuple[str, str]]]) -> dict | None:
    """A first lift question from the loaded tables: the first table (in the order given) with a
    known behaviour and outcome column, e.g. leads: webinars attended ≥ 1 → became a customer.

    `tables` maps table name → [(column, DuckDB type)]. Numeric behaviours are tested with
    'is at least' 1, text ones (Yes/No) and dates with 'is yes / not empty'. None when no table fits.

    >>> suggest_lift({"leads": [("lead_id", "VARCHAR"), ("webinars_attended", "DOUBLE"),
    ...                         ("customer_date", "TIMESTAMP")]})["behaviour"]
    ('webinars_attended', 'is at least', '1')
    """
    for table, columns in tables.items():
        types = dict(columns)
        behaviour = next((c for c in LIFT_BEHAVIOURS if c in types), None)
        outcome = next((c for c in LIFT_OUTCOMES if c in types), None)
        if behaviour and outcome:
            numeric = any(t in types[behaviour].upper() for t in ("INT", "DOUBLE", "DECIMAL", "FLOAT", "REAL"))
            return {"table": table,
                    "behaviour": (behaviour, "is at least", "1") if numeric else (behaviour, "is yes / not empty", ""),
                    "outcome": (outcome, "is yes / not empty", "")}
    return None


def condition_sql(column: str, condition: str, value: str | float | None) -> tuple[str, list]:
    """SQL test for a behaviour or outcome on one column, with its bound parameter."""
    col = quote_ident(column)
    if condition not in CONDITIONS:
        raise BoundaryError(f"Unknown condition '{condition}'. Choose: {', '.join(CONDITIONS)}.")
    if CONDITIONS[condition] == "truthy":
        text = f"lower(trim(CAST({col} AS VARCHAR)))"
        return (f"({col} IS NOT NULL AND {text} NOT IN ('', '0', 'false', 'no', 'n', 'f', 'none'))", [])
    if CONDITIONS[condition] == ">=":
        return f"(TRY_CAST({col} AS DOUBLE) >= ?)", [float(value)]
    return f"(lower(CAST({col} AS VARCHAR)) = lower(?))", [str(value)]


def lift(con, table: str, behaviour: tuple[str, str, object], outcome: tuple[str, str, object]) -> tuple[Lift, MetricResult]:
    """Outcome rate for rows that did the behaviour vs rows that did not, with Wilson intervals.

    rate(did) = rows with behaviour and outcome / rows with behaviour; likewise for the rest.
    Rows where the behaviour column is empty count as 'did not' only for the truthy condition;
    for comparisons a missing value is left out and counted.
    """
    b_sql, b_params = condition_sql(*behaviour)
    o_sql, o_params = condition_sql(*outcome)
    b_col = quote_ident(behaviour[0])
    sql = (f"SELECT COALESCE({b_sql}, FALSE) AS did, count(*) AS n, "
           f"count(*) FILTER (WHERE COALESCE({o_sql}, FALSE)) AS outcome "
           f"FROM {quote_ident(table)} "
           f"WHERE {b_col} IS NOT NULL OR ? = 'truthy' GROUP BY ALL ORDER BY did DESC")
    params = b_params + o_params + [CONDITIONS[behaviour[1]]]
    frame = con.execute(sql, params).df()
    left_out = 0
    if CONDITIONS[behaviour[1]] != "truthy":
        left_out = con.execute(f"SELECT count(*) FROM {quote_ident(table)} WHERE {b_col} IS NULL").fetchone()[0]
    rows = {bool(r.did): (int(r.n), int(r.outcome)) for r in frame.itertuples()}
    did_n, did_x = rows.get(True, (0, 0))
    not_n, not_x = rows.get(False, (0, 0))
    test = two_proportion_test(did_x, did_n, not_x, not_n)
    did_ci = wilson_interval(did_x, did_n)
    not_ci = wilson_interval(not_x, not_n)
    result = Lift(did_n, did_x / did_n if did_n else float("nan"), *did_ci,
                  not_n, not_x / not_n if not_n else float("nan"), *not_ci,
                  (did_x / did_n - not_x / not_n) if did_n and not_n else float("nan"), test.p_value)
    excluded = {f"{behaviour[0]} empty": int(left_out)} if left_out else {}
    return result, MetricResult(frame, sql, params, excluded)

"""Funnel metrics (SPEC §5, §9): stages reached, conversion, drop-off, time between stages,
breakdowns, cohorts by created month, nurture counts, cost per MQL and campaign quality.

Definitions used by every function here (the page says them next to the numbers):

- **Stages** are an ordered list of labels (default `lib.config.DEFAULT_FUNNEL_STAGES`). In a wide
  leads file each stage reads its date column (`STAGE_CATALOGUE`); in a long (lead, stage, date)
  table a stage matches the stage names in its `aliases` (case-insensitive), or its own label.
- **Recorded date** d_k: the lead's earliest date recorded for stage k (NULL when none).
- **Reached** stage k: the lead has a recorded date at stage k *or any later stage* — a skipped
  stage (e.g. no SQL date but an opportunity date) still counts as reached. The **reach date**
  r_k = LEAST(d_k, …, d_last): the first date the lead was known to be at k or beyond. So
  r_0 ≤ r_1 ≤ … and counts can never increase down the stages.
- **Entered** = r_0, the earliest recorded date of any chosen stage (normally the created date).
  The **date range** [start, end) selects leads by when they *entered*; a lead counts at stage k
  when r_k ≤ entered + window days (the **conversion window**), even if that is after `end`.
- **Time between stages** uses adjacent stages whose dates are both recorded and in order
  (d_{k-1} ≤ d_k). Out-of-order pairs (d_k < d_{k-1}) are counted, shown, and left out of the days.
- Leads without an ID are left out and counted; leads with no date at any chosen stage are left out
  and counted ("reached none of the chosen stages").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import duckdb
import numpy as np
import pandas as pd

from lib import segments
from lib.config import DEFAULT_FUNNEL_STAGES
from lib.datasets import Dataset
from lib.errors import BoundaryError
from lib.periods import is_incomplete, period_end, period_sql, period_start_column, range_sql
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.engine import table_columns
from lib.sql import quote_ident as q
from lib.stats import adjust_family, adjust_p_values, two_proportion_test, wilson_interval


@dataclass(frozen=True)
class Stage:
    label: str
    column: str  # the date column of this stage in a wide "leads" table
    aliases: tuple[str, ...]  # stage names in a long table / HubSpot lifecycle values (lower case)


STAGE_CATALOGUE: dict[str, Stage] = {s.label: s for s in (
    Stage("Lead", "created_date", ("lead", "leads", "new lead", "subscriber", "contact")),
    Stage("MQL", "mql_date", ("mql", "marketing qualified lead", "marketingqualifiedlead",
                              "marketing qualified")),
    Stage("SQL", "sql_date", ("sql", "sales qualified lead", "salesqualifiedlead", "sales qualified")),
    Stage("Opportunity", "opportunity_date", ("opportunity", "opp", "deal", "converted")),
    Stage("Customer", "customer_date", ("customer", "closed won", "won", "closedwon")),
)}
assert tuple(STAGE_CATALOGUE) == DEFAULT_FUNNEL_STAGES
TILE_LABELS = {"Lead": "Leads", "MQL": "MQLs", "SQL": "SQLs", "Opportunity": "Opportunities",
               "Customer": "Customers"}
# A lead counts as disqualified when it has a disqualified date or its status is one of these.
DISQUALIFIED_STATUSES = ("unqualified", "disqualified", "junk", "bad fit", "not a fit", "bad data", "spam",
                         "bad contact info")
# Time between stages shown as a distribution over these bins (upper edges in days).
DURATION_BINS = ((1, "< 1 day"), (7, "1–7 days"), (14, "7–14 days"), (30, "14–30 days"),
                 (60, "30–60 days"), (90, "60–90 days"), (180, "90–180 days"), (None, "180+ days"))
TOP_GROUPS = 10  # breakdowns show this many groups, the rest as "Other" (so groups sum to the total)
_DAYS = "date_diff('second', {a}, {b}) / 86400.0"


@dataclass(frozen=True)
class FunnelSource:
    """Where the per-lead stage dates come from: a wide leads table or a long stage table,
    optionally with a second wide table (e.g. closed deals) joined on lead ID."""

    table: str
    kind: str  # "leads" (wide) or "lead_stages" (long)
    columns: frozenset[str]  # canonical columns present in `table`
    closed_table: str | None = None
    closed_columns: frozenset[str] = field(default_factory=frozenset)


def source_for(dataset: Dataset, closed: Dataset | None = None) -> FunnelSource:
    """FunnelSource for a loaded leads / lead_stages dataset (and an optional closed-deals table)."""
    if dataset.kind not in ("leads", "lead_stages"):
        raise BoundaryError(f"{dataset.file_name} is {dataset.label}, not leads: the funnel needs a leads "
                            "export or a lead stage history.")
    return FunnelSource(dataset.table, dataset.kind, frozenset(dataset.mapping),
                        closed.table if closed and closed.ready else None,
                        frozenset(closed.mapping) if closed and closed.ready else frozenset())


def available_stages(con: duckdb.DuckDBPyConnection, src: FunnelSource) -> list[str]:
    """Stage labels this source can place leads in, in funnel order.

    Wide: the catalogue stages whose date column is in the file (or in the closed-deals table).
    Long: catalogue stages whose aliases occur, then other stage names by their median date.
    """
    if src.kind == "leads":
        present = src.columns | src.closed_columns
        return [s.label for s in STAGE_CATALOGUE.values() if s.column in present]
    rows = con.execute(
        f"SELECT trim(CAST(stage AS VARCHAR)) AS s, median(stage_date) AS m FROM {q(src.table)} "
        "WHERE stage IS NOT NULL AND trim(CAST(stage AS VARCHAR)) <> '' GROUP BY 1 ORDER BY m, s").fetchall()
    names = [r[0] for r in rows]
    known = [s.label for s in STAGE_CATALOGUE.values()
             if any(n.lower() in s.aliases or n.lower() == s.label.lower() for n in names)]
    others = [n for n in names if not any(n.lower() in STAGE_CATALOGUE[k].aliases or n.lower() == k.lower()
                                          for k in STAGE_CATALOGUE)]
    return known + list(dict.fromkeys(others))


def default_stages(available: list[str]) -> list[str]:
    """The default funnel (Lead → … → Customer) restricted to what the file has; else all available."""
    chosen = [s for s in DEFAULT_FUNNEL_STAGES if s in available]
    return chosen or list(available)


def _aliases(label: str) -> list[str]:
    stage = STAGE_CATALOGUE.get(label)
    return list(dict.fromkeys([label.strip().lower(), *(stage.aliases if stage else ())]))


def _check_stages(stages: list[str]) -> None:
    if not stages:
        raise BoundaryError("Pick at least one funnel stage.")
    if len(set(stages)) != len(stages):
        raise BoundaryError("Each funnel stage can appear only once in the list.")


def per_lead_sql(src: FunnelSource, stages: list[str], segment: str | None = None) -> tuple[str, list]:
    """CTEs `per_lead_raw` and `per_lead`: one row per lead with recorded dates d0..dN-1, reach
    dates r0..rN-1 (r_k = LEAST(d_k..d_last)), `entered` = r0, source, campaign, status, disqualified;
    and `segment`, the lead's value of that other column of the table (its first row's), when given.

    Returns the text of `WITH …` (without the final SELECT) and its bound parameters, in order.
    """
    _check_stages(stages)
    n = len(stages)
    params: list = []
    if src.kind == "leads":
        def text(col: str) -> str:
            return f"arg_min({q(col)}, _ord)" if col in src.columns else "NULL::VARCHAR"
        dates = []
        for label in stages:
            col = STAGE_CATALOGUE[label].column if label in STAGE_CATALOGUE else None
            if col is None:
                raise BoundaryError(f"Stage “{label}” has no date column in a leads file; the stages of a "
                                    f"leads file are {', '.join(DEFAULT_FUNNEL_STAGES)}.")
            dates.append(f"MIN({q(col)})" if col in src.columns | src.closed_columns else "NULL::TIMESTAMP")
        main = f"SELECT *, 0 AS _src, _row AS _ord FROM {q(src.table)}"
        stacked = main
        if src.closed_table:
            closed_cols = [c for c in src.closed_columns if c.endswith("_date") or c == "lead_id"]
            stacked = (f"{main} UNION ALL BY NAME SELECT {', '.join(q(c) for c in closed_cols)}, 1 AS _src, "
                       f"_row + 1000000000 AS _ord FROM {q(src.closed_table)} WHERE trim(CAST(lead_id AS VARCHAR)) "
                       f"IN (SELECT trim(CAST(lead_id AS VARCHAR)) FROM {q(src.table)})")
        disq = "MIN(disqualified_date)" if "disqualified_date" in src.columns else "NULL::TIMESTAMP"
        raw = (f"SELECT trim(CAST(lead_id AS VARCHAR)) AS lead_id, "
               + ", ".join(f"{d} AS d{i}" for i, d in enumerate(dates))
               + f", {text('source')} AS source, {text('campaign')} AS campaign, {text('status')} AS status, "
               + (f"arg_min({q(segment)}, _ord) AS segment, " if segment else "")
               + f"{disq} AS disqualified_date FROM ({stacked}) "
               "WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NOT NULL GROUP BY 1")
    else:
        parts = []
        for i, label in enumerate(stages):
            names = _aliases(label)
            parts.append(f"MIN(stage_date) FILTER (WHERE lower(trim(CAST(stage AS VARCHAR))) IN "
                         f"({', '.join('?' * len(names))})) AS d{i}")
            params.extend(names)
        source = "arg_min(source, _row)" if "source" in src.columns else "NULL::VARCHAR"
        raw = (f"SELECT trim(CAST(lead_id AS VARCHAR)) AS lead_id, {', '.join(parts)}, {source} AS source, "
               + (f"arg_min({q(segment)}, _row) AS segment, " if segment else "")
               + "NULL::VARCHAR AS campaign, NULL::VARCHAR AS status, NULL::TIMESTAMP AS disqualified_date "
               f"FROM {q(src.table)} WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NOT NULL GROUP BY 1")
    reach = ", ".join(f"{_least([f'd{j}' for j in range(k, n)])} AS r{k}" for k in range(n))
    first = _least([f"d{j}" for j in range(n)])
    sql = (f"WITH per_lead_raw AS (\n  {raw}\n),\nper_lead AS (\n  SELECT *, {reach}, "
           f"{first} AS entered\n  FROM per_lead_raw\n"
           f"  WHERE {first} IS NOT NULL\n)")
    return sql, params


def _least(parts: list[str]) -> str:
    """The smallest of SQL expressions, ignoring blanks (LEAST of a single value is DuckDB-only SQL).

    >>> _least(['d0']), _least(['d0', 'd1'])
    ('d0', 'LEAST(d0, d1)')
    """
    return parts[0] if len(parts) == 1 else f"LEAST({', '.join(parts)})"


def cohort_sql(src: FunnelSource, stages: list[str], start=None, end=None,
               window_days: float | None = None, segment: str | None = None) -> tuple[str, list]:
    """`per_lead` plus CTE `cohort`: leads that entered in [start, end), with in0..inN-1 = reached
    stage k within the window (r_k ≤ entered + window days; no window → ever reached); `segment` as
    in `per_lead_sql`."""
    sql, params = per_lead_sql(src, stages, segment)
    flags = []
    for k in range(len(stages)):
        if window_days is None:
            flags.append(f"(r{k} IS NOT NULL) AS in{k}")
        else:
            flags.append(f"(r{k} IS NOT NULL AND r{k} <= entered + ? * INTERVAL 1 DAY) AS in{k}")
            params.append(float(window_days))
    where, range_params = range_sql("entered", start, end)
    params += range_params
    sql += (f",\ncohort AS (\n  SELECT *, {', '.join(flags)}\n  FROM per_lead"
            f"{' WHERE ' + ' AND '.join(where) if where else ''}\n)")
    return sql, params


def cohort_frame(con, src: FunnelSource, stages: list[str], start=None, end=None,
                 window_days: float | None = None, reach: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of `cohort_sql`'s `cohort` (lead_id, entered, in0..inN-1; one row per lead that entered
    in the range), which `funnel_by_cohort` and `still_in_window` count and lead scoring's figures join
    in pandas to the scores they read once per rules (`lead_scoring.rule_leads`, `lead_bands`,
    `lead_touches`). One query per window and range; with `reach` (`reach_frame` of the same source and
    stages) and a whole-day window, none — the same rows, in lead ID order."""
    if _from_reach(reach, window_days):
        rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
        out = pd.DataFrame({"lead_id": rows["lead_id"], "entered": rows["entered"]})
        for k, flag in enumerate(flags):
            out[f"in{k}"] = flag
        return out
    sql, params = cohort_sql(src, stages, start, end, window_days)
    flags = ", ".join(f"in{k}" for k in range(len(stages)))
    return con.execute(f"{sql}\nSELECT lead_id, entered, {flags} FROM cohort", params).df()


def reach_sql(src: FunnelSource, stages: list[str]) -> tuple[str, list]:
    """`per_lead` with what the window-dependent figures count, none of it depending on the window or
    the range: lead_id, entered, d0..dN-1, r0..rN-1; dd1..ddN-1 = days d_{k-1} → d_k and rd0..rdN-1 =
    days entered → r_k (as the figures compute them, NULL when a date is); g_source, g_campaign = the
    lead's source / campaign as a group (lib.segments.group_sql); disq = disqualified (as
    `campaign_quality`; NULL without a status or disqualified date column); campaign, p_key and p_name = its
    program's key and name (as `program_comparison`). In lead ID order."""
    sql, params = per_lead_sql(src, stages)
    n = len(stages)
    disq, disq_params = _disqualified_sql(src)
    cols = (["lead_id", "entered"] + [f"d{k}" for k in range(n)] + [f"r{k}" for k in range(n)]
            + [f"{_DAYS.format(a=f'd{k - 1}', b=f'd{k}')} AS dd{k}" for k in range(1, n)]
            + [f"{_DAYS.format(a='entered', b=f'r{k}')} AS rd{k}" for k in range(n)]
            + [f"{segments.group_sql(q(g))} AS g_{g}" for g in GROUPINGS]
            + [f"({disq or 'NULL::BOOLEAN'}) AS disq", "campaign",  # a program: program_comparison's key and name
               "COALESCE(lower(NULLIF(trim(campaign), '')), '') AS p_key", "NULLIF(trim(campaign), '') AS p_name"])
    return sql + f"\nSELECT {', '.join(cols)} FROM per_lead ORDER BY lead_id", params + disq_params


def reach_frame(con, src: FunnelSource, stages: list[str]) -> pd.DataFrame:
    """Each lead's stage and reach dates (`reach_sql`): read once per source and stages, so a window or
    range change counts the funnel's figures from it in pandas (`reach=`) instead of a query each."""
    sql, params = reach_sql(src, stages)
    return con.execute(sql, params).df()


def lead_groups(con, src: FunnelSource, stages: list[str], by: str) -> pd.DataFrame:
    """lead_id and grp (the lead's value of column `by` as a group, lib.segments.group_sql, its first
    row's) for the leads of `reach_frame`, in the same order: read once per column, so a window change
    breaks the funnel down by it without a query (`funnel_by_group(groups=)`)."""
    segment = _segment_arg(con, src, by)
    if segment is None:
        raise BoundaryError(f"{by} is in the funnel's own frame (reach_frame's g_{by}); no group query is needed.")
    sql, params = per_lead_sql(src, stages, segment)
    return con.execute(sql + f"\nSELECT lead_id, {segments.group_sql(q('segment'))} AS grp FROM per_lead "
                       "ORDER BY lead_id", params).df()


def lead_values(con, table: str, column: str) -> pd.DataFrame:
    """Each lead's value (lead_id, value: Σ of the column's numbers over its rows of `table`, as
    `program_comparison`'s `vals`): read once per value column, so a window change values the customers
    without a query (`program_comparison(values=)`)."""
    return con.execute(f"SELECT trim(CAST(lead_id AS VARCHAR)) AS lead_id, SUM(TRY_CAST(CAST({q(column)} AS VARCHAR) "
                       f"AS DOUBLE)) AS value FROM {q(table)} WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') "
                       "IS NOT NULL GROUP BY 1").df()


def _from_reach(reach: pd.DataFrame | None, window_days: float | None) -> bool:
    """Whether a figure can count from `reach`: given, and no window or a whole number of days (a part of a
    day keeps the query, whose interval arithmetic it would have to copy)."""
    return reach is not None and (window_days is None or float(window_days).is_integer())


class _Rows:
    """Columns of the reach frame's rows in a cohort, as numpy arrays (`_cohort_rows`)."""

    def __init__(self, reach: pd.DataFrame, pos) -> None:
        self.reach, self.pos = reach, pos

    def __getitem__(self, column: str) -> np.ndarray:
        return self.reach[column].to_numpy()[self.pos]

    def flag(self, column: str) -> np.ndarray:
        """A true/false/blank column as booleans (blank counts as false, as in FILTER)."""
        return self.reach[column].fillna(False).to_numpy(dtype=bool)[self.pos]

    def take(self, values: pd.Series) -> np.ndarray:
        """Another column of the same leads (e.g. `lead_groups`' grp), for these rows."""
        return values.to_numpy()[self.pos]


def _cohort_rows(reach: pd.DataFrame, n: int, start, end, window_days) -> tuple[_Rows, list]:
    """The rows of `reach` that entered in [start, end) and their in0..inN-1 flags as numpy booleans:
    `cohort_sql`'s cohort (r_k ≤ entered + window days; no window → r_k recorded). Dates compare as numpy
    datetimes, where a blank (NaT) is neither before nor after anything, as NULL in SQL."""
    entered = reach["entered"].to_numpy()
    keep = np.ones(len(entered), dtype=bool)
    for bound, after in ((start, True), (end, False)):
        if bound is not None:  # the whole microseconds range_sql binds
            at = np.datetime64(pd.Timestamp(bound).floor("us").to_pydatetime(), "us")
            keep &= (entered >= at) if after else (entered < at)
    pos = np.flatnonzero(keep)
    entered = entered[pos]
    limit = entered + np.timedelta64(int(window_days) * 86_400_000_000, "us") if window_days is not None else None
    flags = []
    for k in range(n):
        r = reach[f"r{k}"].to_numpy()[pos]
        flags.append(r <= limit if limit is not None else ~np.isnat(r))
    return _Rows(reach, pos), flags


def _quantile_cont(values, q: float) -> float:
    """DuckDB's quantile_cont of the numbers in `values` (NaN ignored; NaN when none): the sorted values'
    position RN = (n − 1)·q between lo and hi, then lo·(1 − d) + hi·d with d = RN − ⌊RN⌋, rounded as the
    running DuckDB rounds it (`_fused`); numpy's linear percentile rounds differently."""
    v = np.sort(np.asarray(values, dtype="float64"))
    v = v[~np.isnan(v)]
    if not len(v):
        return math.nan
    rn = (len(v) - 1) * q
    i, j = math.floor(rn), math.ceil(rn)
    if i == j:
        return float(v[i])
    lo, hi, d = float(v[i]), float(v[j]), rn - i
    if _fused():  # lo·(1 − d) + (hi·d) in one rounding, as a fused multiply-add gives
        return float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d))
    return lo * (1.0 - d) + hi * d


@functools.cache
def _fused() -> bool:
    """Whether this DuckDB build interpolates quantile_cont with a fused multiply-add (its compiler's
    choice, so it can differ by platform): asked once per process on two values where the roundings
    differ (1.1990495247623814 and 4.449483241620811 at q = 0.25: 2.011657953976989 fused,
    2.0116579539769885 not)."""
    lo, hi = 1.1990495247623814, 4.449483241620811
    with duckdb.connect() as probe:
        got = probe.execute("SELECT quantile_cont(x, 0.25) FROM (SELECT unnest(?) AS x)", [[lo, hi]]).fetchall()[0][0]
    return got != lo * 0.75 + hi * 0.25


def _exclusions(con, src: FunnelSource, stages: list[str]) -> dict[str, int]:
    """Rows without a lead ID and leads with no date at any chosen stage (and closed-deal rows whose
    lead ID is not in the leads file): one query, as every funnel figure says them. Figures take them
    as `excluded=` from a caller that has them (`exclusions`, read once per source and stages: a window
    change need not count them again)."""
    sql, params = per_lead_sql(src, stages)
    n = len(stages)
    counts = [f"SELECT COUNT(*) FROM {q(src.table)} WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NULL",
              f"SELECT COUNT(*) FROM per_lead_raw WHERE {_least([f'd{j}' for j in range(n)])} IS NULL"]
    reasons = ["rows without a lead ID", "leads with no date at any chosen stage"]
    if src.closed_table:
        counts.append(f"SELECT COUNT(*) FROM {q(src.closed_table)} WHERE trim(CAST(lead_id AS VARCHAR)) NOT IN "
                      f"(SELECT trim(CAST(lead_id AS VARCHAR)) FROM {q(src.table)} WHERE lead_id IS NOT NULL)")
        reasons.append("closed-deal rows whose lead ID is not in the leads file")
    row = con.execute(sql + "\nSELECT " + ", ".join(f"({c})" for c in counts), params).fetchall()[0]
    return {reason: int(v) for reason, v in zip(reasons, row) if v}


def funnel_stages(con, src: FunnelSource, stages: list[str], start=None, end=None,
                  window_days: float | None = None, excluded: dict | None = None,
                  reach: pd.DataFrame | None = None) -> MetricResult:
    """Leads reaching each stage, with conversion, drop-off, skipped/out-of-order counts and days.

    Per stage k (leads = those that entered in [start, end)):
    - leads_k = #leads with r_k ≤ entered + window (reached k or a later stage in the window);
    - pct_of_start = leads_k / leads_0; pct_of_previous (step conversion) = leads_k / leads_{k-1};
      both ratios 0–1, NaN when the denominator is 0;
    - drop_off = leads_{k-1} − leads_k (leads), drop_off_pct = drop_off / leads_{k-1};
    - skipped = leads counted at k with no date recorded for k;
    - out_of_order = leads counted at k with d_k < d_{k-1} (left out of the days);
    - days_n, median_days, p25/p75/p90_days: days d_{k-1} → d_k over ordered pairs
      (both recorded, d_{k-1} ≤ d_k), in days (fractional). NaN for the first stage.
    `reach`: `reach_frame` of the same source and stages — counted from it in pandas (whole-day windows),
    the same frame and SQL.
    """
    sql, params = cohort_sql(src, stages, start, end, window_days)
    parts = []
    for k, label in enumerate(stages):
        params.append(label)
        if k == 0:
            parts.append(f"SELECT {k} AS step, ? AS stage, COUNT(*) FILTER (WHERE in0) AS leads, "
                         "COUNT(*) FILTER (WHERE in0 AND d0 IS NULL) AS skipped, 0 AS out_of_order, 0 AS days_n, "
                         "NULL::DOUBLE AS median_days, NULL::DOUBLE AS p25_days, NULL::DOUBLE AS p75_days, "
                         "NULL::DOUBLE AS p90_days FROM cohort")
            continue
        days = _DAYS.format(a=f"d{k - 1}", b=f"d{k}")
        ok = f"in{k} AND d{k - 1} <= d{k}"
        parts.append(
            f"SELECT {k}, ?, COUNT(*) FILTER (WHERE in{k}), COUNT(*) FILTER (WHERE in{k} AND d{k} IS NULL), "
            f"COUNT(*) FILTER (WHERE in{k} AND d{k} < d{k - 1}), COUNT(*) FILTER (WHERE {ok}), "
            + ", ".join(f"quantile_cont({days}, {p}) FILTER (WHERE {ok})" for p in (0.5, 0.25, 0.75, 0.9))
            + " FROM cohort")
    sql += (",\nsteps AS (\n  " + "\n  UNION ALL ".join(parts) + "\n)\n"
            "SELECT step + 1 AS step, stage, leads,\n"
            "  leads / NULLIF(FIRST_VALUE(leads) OVER w, 0) AS pct_of_start,\n"
            "  leads / NULLIF(LAG(leads) OVER w, 0) AS pct_of_previous,\n"
            "  LAG(leads) OVER w - leads AS drop_off,\n"
            "  (LAG(leads) OVER w - leads) / NULLIF(LAG(leads) OVER w, 0) AS drop_off_pct,\n"
            "  skipped, out_of_order, days_n, median_days, p25_days, p75_days, p90_days\n"
            "FROM steps WINDOW w AS (ORDER BY step) ORDER BY step")
    frame = _stages_frame(reach, stages, start, end, window_days) if _from_reach(reach, window_days) \
        else con.execute(sql, params).df()
    return MetricResult(frame, sql, params, dict(excluded) if excluded is not None else _exclusions(con, src, stages))


def _stages_frame(reach: pd.DataFrame, stages: list[str], start, end, window_days) -> pd.DataFrame:
    """`funnel_stages`' frame counted from `reach_frame` (the query's steps and window functions)."""
    rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
    out = {c: [] for c in ("leads", "skipped", "out_of_order", "days_n", "median_days", "p25_days", "p75_days",
                           "p90_days")}
    for k, flag in enumerate(flags):
        d = rows[f"d{k}"]
        out["leads"].append(int(flag.sum()))
        out["skipped"].append(int((flag & np.isnat(d)).sum()))
        if k == 0:
            out["out_of_order"].append(0), out["days_n"].append(0)
            for p in ("median_days", "p25_days", "p75_days", "p90_days"):
                out[p].append(math.nan)
            continue
        before = rows[f"d{k - 1}"]
        out["out_of_order"].append(int((flag & (d < before)).sum()))
        ok = flag & (before <= d)
        out["days_n"].append(int(ok.sum()))
        days = rows[f"dd{k}"].astype("float64")[ok]
        for p, name in ((0.5, "median_days"), (0.25, "p25_days"), (0.75, "p75_days"), (0.9, "p90_days")):
            out[name].append(_quantile_cont(days, p))
    leads = np.array(out["leads"], dtype="int64")
    prev = pd.array([None] + list(leads[:-1]), dtype="Int64")
    first = leads[0] if len(leads) else 0

    def ratio(a, b):
        return [x / y if y is not None and not pd.isna(y) and y else math.nan for x, y in zip(a, b)]

    drop = prev - pd.array(leads, dtype="Int64")
    return pd.DataFrame({
        "step": np.arange(1, len(stages) + 1, dtype="int32"), "stage": pd.array(stages, dtype="str"),
        "leads": leads, "pct_of_start": ratio(leads, [first] * len(leads)),
        "pct_of_previous": ratio(leads, list(prev)), "drop_off": drop,
        "drop_off_pct": ratio(list(drop), list(prev)),
        # one stage: the query's literal 0s alone (INTEGER); else with the counts (BIGINT)
        **{c: np.array(out[c], dtype="int64" if c == "skipped" or len(stages) > 1 else "int32")
           for c in ("skipped", "out_of_order", "days_n")},
        **{p: np.array(out[p], dtype="float64") for p in ("median_days", "p25_days", "p75_days", "p90_days")}})


def stage_duration_distribution(con, src: FunnelSource, stages: list[str], start=None, end=None,
                                window_days: float | None = None, reach: pd.DataFrame | None = None) -> MetricResult:
    """Distribution of days between adjacent stages: pairs per bin and share of the step's pairs.

    Pairs are ordered (d_{k-1} ≤ d_k, both recorded) for leads counted at stage k in the window.
    share = pairs in bin / pairs of the step (0–1). Bins: `DURATION_BINS` (lower edge inclusive).
    `reach`: `reach_frame` of the same source and stages — counted from it (whole-day windows), the same
    frame and SQL.
    """
    sql, params = cohort_sql(src, stages, start, end, window_days)
    if len(stages) < 2:
        return MetricResult(pd.DataFrame(columns=["step", "pair", "bin", "bin_order", "pairs", "share"]), sql, params)
    pairs = []
    for k in range(1, len(stages)):
        params.append(f"{stages[k - 1]} → {stages[k]}")
        pairs.append(f"SELECT {k} AS step, ? AS pair, {_DAYS.format(a=f'd{k - 1}', b=f'd{k}')} AS days "
                     f"FROM cohort WHERE in{k} AND d{k - 1} <= d{k}")
    cases = []
    for i, (edge, label) in enumerate(DURATION_BINS):
        if edge is None:
            cases.append(f"ELSE {i}")
        else:
            cases.append(f"WHEN days < ? THEN {i}")
            params.append(float(edge))
    labels = " ".join(f"WHEN {i} THEN '{label}'" for i, (_, label) in enumerate(DURATION_BINS))  # constants here
    sql += (",\npairs AS (\n  " + "\n  UNION ALL ".join(pairs) + "\n),\nbinned AS (\n"
            f"  SELECT step, pair, CASE {' '.join(cases)} END AS bin_order FROM pairs\n)\n"
            f"SELECT step, pair, CASE bin_order {labels} END AS bin, bin_order, COUNT(*) AS pairs,\n"
            "  COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY step) AS share\n"
            "FROM binned GROUP BY step, pair, bin_order ORDER BY step, bin_order")
    if _from_reach(reach, window_days):
        return MetricResult(_durations_frame(reach, stages, start, end, window_days), sql, params)
    return MetricResult(con.execute(sql, params).df(), sql, params)


def _durations_frame(reach: pd.DataFrame, stages: list[str], start, end, window_days) -> pd.DataFrame:
    """`stage_duration_distribution`'s frame counted from `reach_frame`."""
    rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
    edges = np.array([edge for edge, _ in DURATION_BINS if edge is not None], dtype="float64")
    parts = []
    for k in range(1, len(stages)):
        ok = flags[k] & (rows[f"d{k - 1}"] <= rows[f"d{k}"])
        days = rows[f"dd{k}"].astype("float64")[ok]
        order = (days[:, None] >= edges[None, :]).sum(axis=1)  # the first bin whose edge is above the days
        counts = np.bincount(order, minlength=len(DURATION_BINS))
        for i in np.flatnonzero(counts):
            parts.append((k, f"{stages[k - 1]} → {stages[k]}", DURATION_BINS[i][1], i, counts[i], counts[i] / len(days)))
    frame = pd.DataFrame(parts, columns=["step", "pair", "bin", "bin_order", "pairs", "share"])
    text = "str" if parts else "object"  # as DuckDB hands over text columns, of an empty result too
    return frame.astype({"step": "int32", "pair": text, "bin": text, "bin_order": "int32", "pairs": "int64",
                         "share": "float64"})


def _group_columns(frame: pd.DataFrame, stages: list[str]) -> pd.DataFrame:
    """Add overall conversion (first → last stage) with its Wilson interval and the small-group mark."""
    first, last = stages[0], stages[-1]
    rate, low, high = [], [], []
    for n, x in zip(frame[first], frame[last]):
        n, x = int(n), int(x)
        rate.append(x / n if n else math.nan)
        lo, hi = wilson_interval(x, n)
        low.append(lo)
        high.append(hi)
    frame["conversion"] = rate
    frame["conversion_low"] = low
    frame["conversion_high"] = high
    return frame


GROUPINGS = ("source", "campaign")  # the canonical columns a funnel breaks down by


def _segment_arg(con, src: FunnelSource, by: str) -> str | None:
    """None for source/campaign (already per lead), else `by` once it is a column of the table."""
    if by in GROUPINGS:
        if by not in src.columns:
            raise BoundaryError(f"The leads file has no {by} column, so there is no breakdown by {by}. "
                                "Map it under “Columns” if the file has one.")
        return None
    names = {name for name, _ in table_columns(con, src.table)}
    if by not in names or by in ("_row", "lead_id"):
        raise BoundaryError(f"The leads file has no column '{by}' to break the funnel down by.")
    return by


def segment_choices(con, src: FunnelSource, labels: dict[str, str], min_n: int = 30) -> list[segments.SegmentColumn]:
    """Columns the funnel can break down by (lib.segments.segment_columns): source and campaign when
    mapped, then the file's other columns (`labels`: table column → file column name, e.g. country,
    industry, owner), any text column however many values, never one that differs on every row."""
    wanted = {c: labels.get(c, c) for c in GROUPINGS if c in src.columns}
    wanted.update({c: name for c, name in labels.items() if c not in src.columns and c not in ("_row", "lead_id")})
    return segments.segment_columns(con, src.table, wanted, min_n)


def funnel_by_group(con, src: FunnelSource, stages: list[str], by: str, start=None, end=None,
                    window_days: float | None = None, top_n: int = TOP_GROUPS,
                    min_group: int = 30, search: str = "", excluded: dict | None = None,
                    reach: pd.DataFrame | None = None, groups: pd.DataFrame | None = None) -> MetricResult:
    """Funnel counts per source, campaign or other column of the leads file (a lead's value is its
    first row's): one row per group, a column of leads per stage.

    The `top_n` groups with most leads (then by name) whose name contains `search` (any case; all
    when empty) are kept by name, the rest merged into one "Other (k groups)" row and blanks into
    "(blank)", so the groups sum to the funnel's total (lib.segments.top_groups: ``groups`` = 1 or k,
    ``other`` marks the merged row). conversion = leads at the last stage / leads at the first
    (ratio 0–1) with a 95% Wilson interval; `small` marks groups with fewer than `min_group` leads.
    `reach` (`reach_frame`) and, for a column other than source and campaign, `groups` (`lead_groups` of
    that column): counted from them in pandas (whole-day windows) — the same frame and SQL.
    """
    frame, sql, params = _by_group(con, src, stages, by, start, end, window_days, top_n, min_group, search,
                                   reach, groups)
    return MetricResult(frame, sql, params, dict(excluded) if excluded is not None else _exclusions(con, src, stages))


def _by_group(con, src: FunnelSource, stages: list[str], by: str, start, end, window_days, top_n: int,
              min_group: int = 30, search: str = "", reach: pd.DataFrame | None = None,
              groups: pd.DataFrame | None = None) -> tuple[pd.DataFrame, str, list]:
    """`funnel_by_group`'s frame, SQL and parameters, without the rows left out (conversion_tests
    needs the counts only)."""
    segment = _segment_arg(con, src, by)
    sql, params = cohort_sql(src, stages, start, end, window_days, segment)
    counts = ", ".join(f"COUNT(*) FILTER (WHERE in{k}) AS {q(label)}" for k, label in enumerate(stages))
    sql += (f",\ng AS (SELECT *, {segments.group_sql(q('segment' if segment else by))} AS grp FROM cohort WHERE in0)\n"
            f"SELECT grp AS \"group\", {counts}\nFROM g GROUP BY 1 ORDER BY COUNT(*) DESC, 1")
    if _from_reach(reach, window_days) and (segment is None or groups is not None):
        grp = reach[f"g_{by}"] if segment is None else groups["grp"]
        every = _group_counts(reach, grp, stages, start, end, window_days)
    else:
        every = con.execute(sql, params).df()
    frame = _group_columns(segments.top_groups(every, "group", list(stages), top_n, search), stages)
    frame["small"] = frame[stages[0]] < min_group
    return frame, sql, params


def _group_counts(reach: pd.DataFrame, grp: pd.Series, stages: list[str], start, end, window_days) -> pd.DataFrame:
    """Leads per group and stage in the window (`_by_group`'s query) from `reach_frame` and each lead's group
    (`grp`, aligned with it): the groups by leads, most first, then by name (code point order, as DuckDB's
    byte order of UTF-8 text)."""
    if len(grp) != len(reach):
        raise ValueError("the groups must be read for the same leads as the reach frame")
    rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
    in0 = flags[0]
    codes, names = pd.factorize(rows.take(grp)[in0], sort=True)
    counts = {label: np.bincount(codes[flag[in0]], minlength=len(names)).astype("int64")
              for label, flag in zip(stages, flags)}
    order = np.lexsort((np.arange(len(names)), -counts[stages[0]]))  # names sorted: ties stay by name
    every = pd.DataFrame({"group": np.asarray(names, dtype=object)[order],
                          **{label: c[order] for label, c in counts.items()}})
    every["group"] = every["group"].astype("str" if len(every) else "object")
    return every


def exclusions(con, src: FunnelSource, stages: list[str]) -> dict[str, int]:
    """The rows every funnel figure leaves out (`_exclusions`), for a page to read once per source and
    stages and hand to the figures as `excluded=`."""
    return _exclusions(con, src, stages)


def data_end(con, src: FunnelSource, stages: list[str]) -> pd.Timestamp | None:
    """The latest recorded date at any chosen stage: where the data stops."""
    sql, params = per_lead_sql(src, stages)
    n = len(stages)
    value = con.execute(sql + f"\nSELECT MAX(GREATEST({', '.join(f'd{j}' for j in range(n))})) FROM per_lead",
                        params).fetchall()[0][0]
    return None if value is None else pd.Timestamp(value)


def still_in_window(con, src: FunnelSource, stages: list[str], start=None, end=None,
                    window_days: float | None = None, last: pd.Timestamp | None = None,
                    cohort: pd.DataFrame | None = None) -> int:
    """Leads in range whose conversion window has not ended when the data stops (they may still convert).
    `last`: `data_end` of the same source and stages, when the caller has it; `cohort`: `cohort_frame` of
    the same arguments, counted in pandas instead of a query (whole-day windows)."""
    last = last if last is not None else data_end(con, src, stages)
    if window_days is None or last is None:
        return 0
    if cohort is not None and float(window_days).is_integer():
        in0 = cohort["in0"].fillna(False).astype(bool)
        return int((in0 & (cohort["entered"] + pd.Timedelta(days=float(window_days)) > last)).sum())
    sql, params = cohort_sql(src, stages, start, end, window_days)
    params.append(float(window_days))
    params.append(last.to_pydatetime())
    return int(con.execute(sql + "\nSELECT COUNT(*) FROM cohort WHERE in0 AND "
                           "entered + ? * INTERVAL 1 DAY > ?", params).fetchall()[0][0])


def funnel_by_cohort(con, src: FunnelSource, stages: list[str], grain: str = "month", start=None, end=None,
                     window_days: float | None = None, excluded: dict | None = None,
                     last: pd.Timestamp | None = None, cohort: pd.DataFrame | None = None) -> MetricResult:
    """Cohorted funnel: leads grouped by the period they entered, a column of leads per stage, plus
    overall conversion (last / first, Wilson 95%) and `window_open`: True when the data ends before
    the cohort's last lead's window closes (period end + window > data end), so its conversion may
    still rise. Periods come from lib.periods (weeks start Monday). `cohort`: `cohort_frame` of the same
    arguments, counted per period in pandas (`period_start_column`, the twin of `period_sql`) instead of a
    query — the same frame and SQL."""
    sql, params = cohort_sql(src, stages, start, end, window_days)
    counts = ", ".join(f"COUNT(*) FILTER (WHERE in{k}) AS {q(label)}" for k, label in enumerate(stages))
    sql += f"\nSELECT {period_sql('entered', grain)} AS cohort, {counts}\nFROM cohort WHERE in0 GROUP BY 1 ORDER BY 1"
    in0 = cohort["in0"].fillna(False).astype(bool) if cohort is not None else None
    if in0 is not None and in0.any():
        entered = cohort[in0]
        per = pd.DataFrame({label: entered[f"in{k}"].fillna(False).astype(bool).to_numpy()
                            for k, label in enumerate(stages)})
        per.insert(0, "cohort", period_start_column(entered["entered"], grain).to_numpy())
        frame = per.groupby("cohort", sort=True).sum().reset_index().astype({label: "int64" for label in stages})
    else:  # no leads: the query's own empty frame
        frame = con.execute(sql, params).df()
    frame = _group_columns(frame, stages)
    last = last if last is not None else data_end(con, src, stages)
    frame["cohort"] = pd.to_datetime(frame["cohort"])
    window = pd.Timedelta(days=window_days) if window_days is not None else pd.Timedelta(0)
    frame["window_open"] = [last is not None and period_end(c, grain) + window > last for c in frame["cohort"]]
    return MetricResult(frame, sql, params, dict(excluded) if excluded is not None else _exclusions(con, src, stages))


def stage_entries_by_period(con, src: FunnelSource, stages: list[str], grain: str = "month",
                            start=None, end=None, days: MetricResult | None = None,
                            last: pd.Timestamp | None = None) -> MetricResult:
    """Leads reaching each stage per period (new leads = stage 1, MQLs per period = the MQL stage).

    A lead counts in the period of its reach date r_k (the first date it was known to be at k or
    beyond), once per stage; [start, end) filters on that date. Unit: leads. `incomplete` marks the
    last period when the data stops before its end.

    `days` (`stage_entry_days` for the same source, stages and range) and `last` (`data_end`): the
    periods are then its days summed per period in pandas, without a query — the same frame (a
    period is whole days, lib.periods.period_start the twin of period_sql); the SQL returned is the
    per-period query either way, what the page shows.
    """
    sql, params = _entries_sql(src, stages, grain, start, end)
    if days is None:
        frame = con.execute(sql, params).df()
        frame["period"] = pd.to_datetime(frame["period"])
        last, excluded = data_end(con, src, stages), _exclusions(con, src, stages)
    else:
        daily = days.frame
        periods = period_start_column(daily["period"], grain)  # period_start for the whole column
        frame = (daily.assign(period=periods).groupby(["period", "step", "stage"], as_index=False, sort=True)["leads"]
                 .sum())
        excluded = days.excluded
    frame["incomplete"] = [last is not None and is_incomplete(p, grain, last) for p in frame["period"]]
    return MetricResult(frame, sql, params, excluded)


def stage_entry_days(con, src: FunnelSource, stages: list[str], start=None, end=None) -> MetricResult:
    """`stage_entries_by_period` per day (period = the day): what every grain sums, read once per
    source, stages and range, so a change of grain runs no query."""
    sql, params = _entries_sql(src, stages, "day", start, end)
    frame = con.execute(sql, params).df()
    frame["period"] = pd.to_datetime(frame["period"])
    return MetricResult(frame, sql, params, _exclusions(con, src, stages))


def _entries_sql(src: FunnelSource, stages: list[str], grain: str, start, end) -> tuple[str, list]:
    sql, params = per_lead_sql(src, stages)
    parts = []
    for k, label in enumerate(stages):
        parts.append(f"SELECT {k} AS step, ? AS stage, r{k} AS reached_at FROM per_lead WHERE r{k} IS NOT NULL")
        params.append(label)
    where = []
    clauses, range_params = range_sql("reached_at", start, end)
    where += clauses
    params += range_params
    sql += (",\nreached AS (\n  " + "\n  UNION ALL ".join(parts) + "\n)\n"
            f"SELECT {period_sql('reached_at', grain)} AS period, step + 1 AS step, stage, COUNT(*) AS leads\n"
            f"FROM reached{' WHERE ' + ' AND '.join(where) if where else ''}\nGROUP BY ALL ORDER BY period, step")
    return sql, params


def reopened_leads(con, src: FunnelSource, stages: list[str], grain: str = "month",
                   start=None, end=None) -> MetricResult:
    """Re-opened (recycled leads that engaged again), per period of re-engagement.

    - Leads file: a lead with a disqualified date that later has a stage date (any chosen stage
      after the disqualified date); dated at the first such stage date.
    - Stage history: a lead sent back to an earlier stage that then moves forward again — an event
      whose stage index is above the previous event's and not above the highest reached before it;
      dated at that event (first one per lead).
    Unit: leads; each lead counts once. Empty frame when the file has neither.
    """
    empty = pd.DataFrame(columns=["period", "reopened"])
    if src.kind == "leads":
        if "disqualified_date" not in src.columns:
            return MetricResult(empty, "-- the leads file has no disqualified date column", [])
        sql, params = per_lead_sql(src, stages)
        later = _least([f"CASE WHEN d{k} > disqualified_date THEN d{k} END" for k in range(len(stages))])
        sql += f",\nreopen AS (SELECT lead_id, {later} AS reached_at FROM per_lead WHERE disqualified_date IS NOT NULL)"
    else:
        _check_stages(stages)
        cases, params = [], []
        for k, label in enumerate(stages):
            names = _aliases(label)
            cases.append(f"WHEN lower(trim(CAST(stage AS VARCHAR))) IN ({', '.join('?' * len(names))}) THEN {k}")
            params.extend(names)
        sql = (f"WITH ev AS (SELECT trim(CAST(lead_id AS VARCHAR)) AS lead_id, stage_date AS reached_at, "
               f"CASE {' '.join(cases)} END AS idx, _row FROM {q(src.table)} WHERE stage_date IS NOT NULL "
               "AND NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NOT NULL),\n"
               "seq AS (SELECT *, LAG(idx) OVER w AS prev_idx, MAX(idx) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING "
               "AND 1 PRECEDING) AS prev_max FROM ev WHERE idx IS NOT NULL WINDOW w AS (PARTITION BY lead_id "
               "ORDER BY reached_at, _row)),\n"
               "reopen AS (SELECT lead_id, MIN(reached_at) AS reached_at FROM seq WHERE idx > prev_idx AND idx <= prev_max GROUP BY 1)")
    where = ["reached_at IS NOT NULL"]
    clauses, range_params = range_sql("reached_at", start, end)
    where += clauses
    params += range_params
    sql += (f"\nSELECT {period_sql('reached_at', grain)} AS period, COUNT(DISTINCT lead_id) AS reopened FROM reopen "
            f"WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY 1")
    frame = con.execute(sql, params).df()
    frame["period"] = pd.to_datetime(frame["period"])
    return MetricResult(frame, sql, params)


def cost_grain(con, cost_table: str) -> str | None:
    """What one dated cost row covers, read from its dates: 'month' when every dated row falls on
    a month's first day (a monthly cost sheet), 'week' when they all fall on one weekday and no two
    dates are under 7 days apart (a weekly sheet), else 'day' (each row is that day's spend).
    None when the table has no period column or no dated row."""
    cols = {name for name, _ in table_columns(con, cost_table)}
    if "period" not in cols:
        return None
    n, firsts, weekdays, gap = con.execute(
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE day(period) = 1), COUNT(DISTINCT dayofweek(period)), "
        f"MIN(date_diff('day', prev, d)) FROM (SELECT period, CAST(period AS DATE) AS d, LAG(CAST(period AS DATE)) OVER "
        f"(ORDER BY period) AS prev FROM (SELECT DISTINCT CAST(period AS DATE) AS period FROM {q(cost_table)} "
        "WHERE period IS NOT NULL))").fetchall()[0]
    if not n:
        return None
    if firsts == n:
        return "month"
    if weekdays == 1 and (gap is None or gap >= 7):
        return "week"
    return "day"


def cost_rule(grain: str | None, start=None, end=None) -> str:
    """The rule by which cost rows enter cost per MQL, in one plain sentence for under the table."""
    undated = "Cost rows without a period always count in full."
    if grain is None:
        return "The cost table has no period column: every cost row counts in full, whatever the range. "
    if start is None and end is None:
        return f"Every cost row counts in full (no date range). {undated}"
    covers = {"month": "its whole calendar month (every date is the 1st)",
              "week": "the 7 days from its date (all dates fall on one weekday)",
              "day": "that day only"}[grain]
    return (f"Each cost row is read as covering {covers}; a row whose {grain} lies partly in the range counts "
            f"in proportion to its days inside the range (e.g. a month with 17 of its 31 days in the range "
            f"counts 17/31 of its cost), and a row wholly outside counts nothing. {undated}")


def cost_per_mql(con, src: FunnelSource, stages: list[str], cost_table: str, mql_stage: str,
                 start=None, end=None, window_days: float | None = None, reach: pd.DataFrame | None = None,
                 cost_rows: MetricResult | None = None, grain: str | None = "?") -> MetricResult:
    """Cost per MQL = program cost in the range / MQLs, per campaign (currency per lead).

    cost = Σ over the campaign's cost rows of cost × (days of the row's period inside [start, end)
    ÷ days of the period), the period being what a row covers (`cost_grain`: its month, its week or
    its day); undated rows count whole, and without a range every row counts whole. So a range from
    15 Jan to 28 Feb keeps 17/31 of January's cost (not none of it, as when a row dated 1 Jan was
    compared with the range start) and all of February's; a range ending 10 Mar takes 10/31 of March.
    leads = leads of the campaign that entered in [start, end); MQLs = those reaching `mql_stage`
    within the window; customers = those reaching the last stage.
    Campaign names match after trimming and ignoring case. cost_per_lead / cost_per_mql /
    cost_per_customer are NaN when the count is 0. Cost rows with a blank or unreadable cost are
    left out and counted, so are dated rows wholly outside the range; leads with no campaign are
    not in this table. `cost_rule(cost_grain(...), start, end)` says the rule in words.
    `reach` (`reach_frame`), `cost_rows` (`campaign_costs` of the same cost table and range) and `grain`
    (`cost_grain` of the table, when the caller has it): the leads counted from the reach frame and joined
    to the costs in pandas (whole-day windows) — the same frame, SQL and rows left out.
    """
    if "campaign" not in src.columns:
        raise BoundaryError("The leads file has no campaign column, so costs cannot be matched to leads. "
                            "Map the campaign / program column under “Columns”.")
    if mql_stage not in stages:
        raise BoundaryError(f"Stage “{mql_stage}” is not in the funnel; pick the MQL stage from the funnel's stages.")
    k, last = stages.index(mql_stage), len(stages) - 1
    sql, params = cohort_sql(src, stages, start, end, window_days)
    grain, valid, share, share_params = _cost_share(con, cost_table, start, end, grain)
    sql += (f",\n{_COSTS_SQL.format(share=share, table=q(cost_table), valid=valid)},\n"
            "lead_counts AS (SELECT lower(trim(campaign)) AS key, arg_min(trim(campaign), campaign) AS campaign, "
            f"COUNT(*) AS leads, COUNT(*) FILTER (WHERE in{k}) AS mqls, COUNT(*) FILTER (WHERE in{last}) AS customers "
            "FROM cohort WHERE NULLIF(trim(campaign), '') IS NOT NULL GROUP BY 1)\n"
            "SELECT COALESCE(c.campaign, l.campaign) AS campaign, c.cost, COALESCE(l.leads, 0) AS leads,\n"
            "  COALESCE(l.mqls, 0) AS mqls, COALESCE(l.customers, 0) AS customers,\n"
            "  c.cost / NULLIF(l.leads, 0) AS cost_per_lead, c.cost / NULLIF(l.mqls, 0) AS cost_per_mql,\n"
            "  c.cost / NULLIF(l.customers, 0) AS cost_per_customer\n"
            "FROM costs c FULL OUTER JOIN lead_counts l USING (key)\n"
            "ORDER BY c.cost IS NULL, cost_per_mql DESC NULLS FIRST, campaign")
    params += share_params
    if _from_reach(reach, window_days) and cost_rows is not None:
        return MetricResult(_cost_frame(reach, stages, start, end, window_days, k, cost_rows.frame), sql, params,
                            dict(cost_rows.excluded))
    frame = con.execute(sql, params).df()
    return MetricResult(frame, sql, params, _cost_excluded(con, cost_table, valid, share, share_params))


# a cost table's cost per campaign key in the range: `cost_per_mql`'s CTEs cost_rows and costs
_COSTS_SQL = ("cost_rows AS (SELECT *, {share} AS share FROM {table} WHERE {valid}),\n"
              "costs AS (SELECT lower(trim(CAST(campaign AS VARCHAR))) AS key, arg_min(trim(CAST(campaign AS VARCHAR)), "
              "campaign) AS campaign, SUM(CAST(cost AS DOUBLE) * share) AS cost FROM cost_rows WHERE share > 0 "
              "GROUP BY 1)")


def campaign_costs(con, cost_table: str, start=None, end=None, grain: str | None = "?") -> MetricResult:
    """Each campaign's cost in [start, end) (key, campaign, cost: `cost_per_mql`'s costs) and the cost rows
    left out: read once per cost table and range, so a window change joins them to the leads in pandas."""
    grain, valid, share, share_params = _cost_share(con, cost_table, start, end, grain)
    sql = f"WITH {_COSTS_SQL.format(share=share, table=q(cost_table), valid=valid)}\nSELECT key, campaign, cost FROM costs"
    return MetricResult(con.execute(sql, share_params).df(), sql, share_params,
                        _cost_excluded(con, cost_table, valid, share, share_params))


def _cost_share(con, cost_table: str, start, end, grain: str | None = "?") -> tuple[str | None, str, str, list]:
    """A cost table's grain, the SQL of a valid cost row, of a row's share in [start, end) and its parameters."""
    grain = cost_grain(con, cost_table) if grain == "?" else grain
    valid = "cost IS NOT NULL AND NULLIF(trim(CAST(campaign AS VARCHAR)), '') IS NOT NULL"
    lo = pd.Timestamp(start).normalize().to_pydatetime() if start is not None else None
    hi = pd.Timestamp(end).to_pydatetime() if end is not None else None
    if grain is None or (lo is None and hi is None):
        share, share_params = "1.0", []
    else:
        step = {"month": "INTERVAL 1 MONTH", "week": "INTERVAL 7 DAY", "day": "INTERVAL 1 DAY"}[grain]
        p0 = "CAST(date_trunc('month', period) AS TIMESTAMP)" if grain == "month" else "CAST(CAST(period AS DATE) AS TIMESTAMP)"
        # share of the row's period inside [lo, hi): overlap days / period days (undated rows: 1)
        share = (f"CASE WHEN period IS NULL THEN 1.0 ELSE GREATEST(0, date_diff('second', "
                 f"GREATEST({p0}, COALESCE(CAST(? AS TIMESTAMP), {p0})), "
                 f"LEAST({p0} + {step}, COALESCE(CAST(? AS TIMESTAMP), {p0} + {step})))) "
                 f"/ date_diff('second', {p0}, {p0} + {step}) END")
        share_params = [lo, hi]
    return grain, valid, share, share_params


def _cost_excluded(con, cost_table: str, valid: str, share: str, share_params: list) -> dict[str, int]:
    """Cost rows with a blank or unreadable cost or campaign, and dated rows wholly outside the range."""
    bad = con.execute(f"SELECT COUNT(*) FROM {q(cost_table)} WHERE NOT ({valid})").fetchall()[0][0]
    excluded = {"cost rows with a blank or unreadable cost or campaign": int(bad)} if bad else {}
    if share_params:
        outside = con.execute(f"SELECT COUNT(*) FROM {q(cost_table)} WHERE {valid} AND {share} <= 0",
                              share_params).fetchall()[0][0]
        if outside:
            excluded["cost rows whose period lies wholly outside the range"] = int(outside)
    return excluded


def _cost_frame(reach: pd.DataFrame, stages: list[str], start, end, window_days, k: int,
                costs: pd.DataFrame) -> pd.DataFrame:
    """`cost_per_mql`'s frame from the reach frame's cohort and `campaign_costs`: leads, MQLs and customers
    per campaign key (its name: the trimmed campaign of its smallest campaign text, as arg_min), joined to
    the costs on the key both ways (FULL OUTER JOIN), in the query's order."""
    rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
    keys = rows["p_key"]
    filled = keys != ""
    codes, uniq = pd.factorize(keys[filled])
    raw, name = rows["campaign"][filled], rows["p_name"][filled]
    leads = {}
    for i, key in enumerate(uniq):
        m = codes == i
        leads[key] = (name[m][np.argmin(raw[m])], int(m.sum()), int(flags[k][filled][m].sum()),
                      int(flags[-1][filled][m].sum()))
    cost = {key: (c, v) for key, c, v in zip(costs["key"], costs["campaign"], costs["cost"])}
    out = []
    for key in list(cost) + [key for key in leads if key not in cost]:
        c_name, c_cost = cost.get(key, (None, math.nan))
        l_name, n, mqls, cust = leads.get(key, (None, 0, 0, 0))
        per = [c_cost / x if x else math.nan for x in (n, mqls, cust)]
        out.append((c_name if key in cost else l_name, c_cost, n, mqls, cust, *per))
    out.sort(key=lambda r: (math.isnan(r[1]), not math.isnan(r[6]), -r[6] if not math.isnan(r[6]) else 0, r[0]))
    frame = pd.DataFrame(out, columns=["campaign", "cost", "leads", "mqls", "customers", "cost_per_lead",
                                       "cost_per_mql", "cost_per_customer"])
    return frame.astype({"campaign": "str" if out else "object", "cost": "float64", "leads": "int64",
                         "mqls": "int64", "customers": "int64", "cost_per_lead": "float64", "cost_per_mql": "float64",
                         "cost_per_customer": "float64"})


def _disqualified_sql(src: FunnelSource) -> tuple[str | None, list]:
    conds, params = [], []
    if "disqualified_date" in src.columns:
        conds.append("disqualified_date IS NOT NULL")
    if "status" in src.columns:
        conds.append(f"lower(trim(status)) IN ({', '.join('?' * len(DISQUALIFIED_STATUSES))})")
        params.extend(DISQUALIFIED_STATUSES)
    return (" OR ".join(conds) if conds else None), params


def campaign_quality(con, src: FunnelSource, stages: list[str], by: str = "campaign", start=None, end=None,
                     window_days: float | None = None, alpha: float = 0.05, min_group: int = 30,
                     slow_ratio: float = 1.5, top_n: int = TOP_GROUPS,
                     excluded: dict | None = None, reach: pd.DataFrame | None = None) -> MetricResult:
    """Campaigns whose leads disqualify more often or move slower than all leads.

    Per group (top `top_n` by leads, the rest as "Other"; blanks as "(blank)"):
    - disq_rate = disqualified leads / leads (disqualified: a disqualified date, or a status in
      DISQUALIFIED_STATUSES); rest_rate = the same over all other leads; `two_proportion_test`
      (pooled z, Fisher's exact when a cell expects under 5) for groups with ≥ `min_group` leads
      (and other leads), p_value blank otherwise; the tested groups are one family: p_bh
      (Benjamini–Hochberg), p_bonferroni; disq_flag when disq_rate > rest_rate and p_bh < `alpha`.
    - median_days_next = median days entered → reached the second stage (r_1 − r_0) over leads that
      reached it in the window (n = next_n); all_median_days_next over all leads; slow_ratio =
      group / all; slow_flag when slow_ratio > `slow_ratio` and next_n ≥ `min_group`.
    - median_days_last = median days entered → last stage over leads that reached it (last_n).
    `reach`: `reach_frame` of the same source and stages — the groups counted from it in pandas
    (whole-day windows), the same frame and SQL.
    """
    if by not in src.columns:
        raise BoundaryError(f"The leads file has no {by} column: campaign quality needs one.")
    disq, disq_params = _disqualified_sql(src)
    sql, params = cohort_sql(src, stages, start, end, window_days)
    last = len(stages) - 1
    nxt = min(1, last)
    # With a single stage there is no "next" stage: the days are NULL rather than a meaningless 0.
    d_next = _DAYS.format(a="entered", b=f"r{nxt}") if last else "NULL::DOUBLE"
    d_last = _DAYS.format(a="entered", b=f"r{last}") if last else "NULL::DOUBLE"
    sql += (",\ng AS (SELECT *, COALESCE(NULLIF(trim(CAST(" + by + " AS VARCHAR)), ''), '(blank)') AS grp, "
            f"({disq or 'NULL'}) AS disq FROM cohort WHERE in0),\n")
    params += disq_params
    sql += ("ranked AS (SELECT grp, ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, grp) AS rn FROM g GROUP BY grp),\n"
            "h AS (SELECT g.*, rn, CASE WHEN rn <= ? THEN g.grp ELSE 'Other' END AS \"group\" FROM g JOIN ranked USING (grp))\n"
            "SELECT \"group\", COUNT(*) AS leads, COUNT(*) FILTER (WHERE disq) AS disqualified,\n"
            f"  COUNT(*) FILTER (WHERE in{nxt}) AS next_n, quantile_cont({d_next}, 0.5) FILTER (WHERE in{nxt}) AS median_days_next,\n"
            f"  COUNT(*) FILTER (WHERE in{last}) AS last_n, quantile_cont({d_last}, 0.5) FILTER (WHERE in{last}) AS median_days_last,\n"
            f"  MIN(rn) AS _rank\nFROM h GROUP BY 1\n"
            f"UNION ALL SELECT '(all leads)', COUNT(*), COUNT(*) FILTER (WHERE disq), COUNT(*) FILTER (WHERE in{nxt}),\n"
            f"  quantile_cont({d_next}, 0.5) FILTER (WHERE in{nxt}), COUNT(*) FILTER (WHERE in{last}),\n"
            f"  quantile_cont({d_last}, 0.5) FILTER (WHERE in{last}), 1000000000 FROM h\nORDER BY _rank")
    params.append(int(top_n))
    if _from_reach(reach, window_days) and by in GROUPINGS:
        frame = _quality_counts(reach, by, stages, start, end, window_days, int(top_n), disq is not None)
    else:
        frame = con.execute(sql, params).df().drop(columns="_rank")
    total = frame[frame["group"] == "(all leads)"].iloc[0] if len(frame) else None
    rows = []
    for _, r in frame.iterrows():
        leads, bad = int(r["leads"]), int(r["disqualified"])
        if disq is None or total is None or r["group"] == "(all leads)":
            rate = bad / leads if disq is not None and leads else math.nan
            rows.append((rate, math.nan, math.nan))
            continue
        rest_n, rest_x = int(total["leads"]) - leads, int(total["disqualified"]) - bad
        test = two_proportion_test(bad, leads, rest_x, rest_n)
        # groups under min_group leads (or against fewer other leads) are shown, not tested
        tested = leads >= min_group and rest_n >= min_group
        rows.append((bad / leads if leads else math.nan, test.baseline, test.p_value if tested else math.nan))
    frame["disq_rate"], frame["rest_rate"], frame["p_value"] = ([r[i] for r in rows] for i in range(3))
    # one family: every group tested on this page
    frame["p_bh"] = adjust_p_values(frame["p_value"], "fdr_bh")
    frame["p_bonferroni"] = adjust_p_values(frame["p_value"], "bonferroni")
    frame["disq_flag"] = ((frame["disq_rate"] > frame["rest_rate"]) & (frame["p_bh"] < alpha)).astype(bool)
    all_next = float(total["median_days_next"]) if total is not None and pd.notna(total["median_days_next"]) else math.nan
    if disq is None:
        frame["disqualified"] = pd.NA
    frame["all_median_days_next"] = all_next
    frame["slow_ratio"] = frame["median_days_next"] / all_next if all_next and not math.isnan(all_next) else math.nan
    frame["slow_flag"] = ((frame["slow_ratio"] > slow_ratio) & (frame["next_n"] >= min_group)
                          & (frame["group"] != "(all leads)")).fillna(False).astype(bool)
    excluded = dict(excluded if excluded is not None else _exclusions(con, src, stages))
    if disq is None:
        excluded["(no status or disqualified date column: disqualification not measured)"] = 0
    return MetricResult(frame, sql, params, excluded)


def _quality_counts(reach: pd.DataFrame, by: str, stages: list[str], start, end, window_days, top_n: int,
                    has_disq: bool) -> pd.DataFrame:
    """`campaign_quality`'s query counted from `reach_frame`: per group (the `top_n` largest by leads, then
    by name; the rest one "Other" row) and for all leads, leads, disqualified, next_n / last_n and the
    median days entered → the second / last stage (DuckDB's quantile_cont)."""
    rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
    last = len(stages) - 1
    nxt = min(1, last)
    in0 = flags[0]
    grp = rows[f"g_{by}"][in0]
    disq = rows.flag("disq")[in0] if has_disq else np.zeros(int(in0.sum()), bool)
    at_next, at_last = flags[nxt][in0], flags[last][in0]
    d_next = rows[f"rd{nxt}"].astype("float64")[in0] if last else np.full(len(grp), math.nan)
    d_last = rows[f"rd{last}"].astype("float64")[in0] if last else np.full(len(grp), math.nan)
    sizes = pd.Series(grp, dtype="object").value_counts(sort=False)
    ranked = sorted(sizes.items(), key=lambda gn: (-gn[1], gn[0]))
    rank = {g: i + 1 for i, (g, _) in enumerate(ranked)}
    label = np.array([g if rank[g] <= top_n else "Other" for g in grp], dtype=object)
    out, seen = [], {}
    for g, _ in ranked:  # groups in rank order; "Other" where its first (smallest-rank) member falls
        name = g if rank[g] <= top_n else "Other"
        if name in seen:
            continue
        seen[name] = rank[g]
        m = label == name
        out.append((name, int(m.sum()), int((disq & m).sum()), int((at_next & m).sum()),
                    _quantile_cont(d_next[at_next & m], 0.5), int((at_last & m).sum()),
                    _quantile_cont(d_last[at_last & m], 0.5)))
    out.append(("(all leads)", len(grp), int(disq.sum()), int(at_next.sum()), _quantile_cont(d_next[at_next], 0.5),
                int(at_last.sum()), _quantile_cont(d_last[at_last], 0.5)))
    frame = pd.DataFrame(out, columns=["group", "leads", "disqualified", "next_n", "median_days_next", "last_n",
                                       "median_days_last"])
    return frame.astype({"group": "str", "leads": "int64", "disqualified": "int64", "next_n": "int64",
                         "median_days_next": "float64", "last_n": "int64", "median_days_last": "float64"})


def entry_range(con, src: FunnelSource, stages: list[str]) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """First and last entry date (r0) over all leads: the bounds of the page's date range."""
    sql, params = per_lead_sql(src, stages)
    lo, hi = con.execute(sql + "\nSELECT MIN(entered), MAX(entered) FROM per_lead", params).fetchall()[0]
    return (None if lo is None else pd.Timestamp(lo), None if hi is None else pd.Timestamp(hi))


CLOSED_TABLE = "funnel_closed_deals"


def attach_closed_deals(ws, file_name: str, data: bytes) -> Dataset:
    """Read a second leads-shaped file (e.g. Olist closed deals: mql_id, won_date) into the session's
    table `funnel_closed_deals`, to be joined to the leads file on lead ID. It must have a lead ID
    and at least one stage date; its stage dates fill the leads' missing ones (the earliest wins)."""
    from lib import schemas
    from lib.datasets import build_dataset_frame, digest
    from lib.ingest import read_table

    table = read_table(file_name, data)
    columns = list(table.frame.columns)
    mapping = schemas.map_columns("leads", columns)
    dates = [s.column for s in STAGE_CATALOGUE.values() if s.column in mapping]
    if "lead_id" not in mapping or not dates:
        raise BoundaryError(f"{file_name}: to join it to the leads, it needs a lead ID column and a stage date "
                            f"(e.g. won date). Columns are: {', '.join(map(str, columns))}.")
    frame, bad, extra = build_dataset_frame(table, "leads", mapping)
    cur = ws.con.cursor()  # a cursor: never blocked by an unfinished result on the main connection
    try:
        cur.register("_closed_incoming", frame)
        cur.execute(f"CREATE OR REPLACE TABLE {q(CLOSED_TABLE)} AS SELECT * FROM _closed_incoming")
        cur.unregister("_closed_incoming")
    finally:
        cur.close()
    return Dataset(file_name, digest(data), "leads", columns, mapping, [], CLOSED_TABLE, len(frame),
                   extra_columns=extra, bad_values=bad)


TYPED_COSTS_TABLE = "funnel_typed_costs"


def store_typed_costs(ws, frame: pd.DataFrame) -> str:
    """Costs typed on the page (campaign, cost) → the session's table `funnel_typed_costs`.

    Costs that are not numbers become blank (and are counted as left out by `cost_per_mql`)."""
    clean = pd.DataFrame({"campaign": frame.get("campaign", pd.Series(dtype="str")).astype("string"),
                          "cost": pd.to_numeric(frame.get("cost", pd.Series(dtype="float")), errors="coerce")})
    cur = ws.con.cursor()
    try:
        cur.register("_typed_costs", clean)
        cur.execute(f"CREATE OR REPLACE TABLE {q(TYPED_COSTS_TABLE)} AS "
                    "SELECT CAST(campaign AS VARCHAR) AS campaign, CAST(cost AS DOUBLE) AS cost FROM _typed_costs")
        cur.unregister("_typed_costs")
    finally:
        cur.close()
    return TYPED_COSTS_TABLE


def quality_flags(frame: pd.DataFrame, by: str, stages: list[str], thresholds) -> list[Flag]:
    """Flags from a `campaign_quality` frame: disqualifying more often, or moving slower, than all leads."""
    flags = []
    alpha = thresholds["baseline_alpha"]
    for _, r in frame.iterrows():
        if r["disq_flag"]:
            family = int(frame["p_value"].notna().sum())
            flags.append(Flag("funnel", "Disqualification rate", f"{by}: {r['group']}", float(r["disq_rate"]),
                              float(r["rest_rate"]), f"two-proportion test vs other leads, n={int(r['leads'])}, "
                              f"{_p(r['p_value'])}; Benjamini–Hochberg over {family} {by}s {_p(r['p_bh'])}",
                              "high" if r["p_bonferroni"] < alpha else "medium",
                              questions_for("funnel", "Disqualification rate")))
        if r["slow_flag"]:
            flags.append(Flag("funnel", f"Median days to {stages[min(1, len(stages) - 1)]}",
                              f"{by}: {r['group']}", float(r["median_days_next"]), float(r["all_median_days_next"]),
                              f"threshold {thresholds['funnel_slow_ratio_max']:g}× all leads, n={int(r['next_n'])}",
                              "medium", questions_for("funnel", "Days to next stage"), unit="days"))
    return flags


def conversion_tests(con, src: FunnelSource, stages: list[str], groupings: list[str], start=None, end=None,
                     window_days: float | None = None, alpha: float = 0.05, min_group: int = 30,
                     top_n: int = TOP_GROUPS, reach: pd.DataFrame | None = None) -> pd.DataFrame:
    """Step conversion of each source/campaign group against all other leads, as one family.

    For each grouping in `groupings` ('source', 'campaign'), each group of `funnel_by_group` (top
    `top_n`, the rest as "Other (k groups)"; it and "(blank)" are mixes and not tested) and each step
    k−1 → k: rate = the group's leads at k ÷ its leads at k−1 (within the window), rest = the same
    over all other leads; `two_proportion_test` (Fisher's exact when a cell expects under 5) when the
    group and the rest both have ≥ `min_group` leads at k−1. The family is every (grouping, group,
    step) tested: p_bh (Benjamini–Hochberg), p_bonferroni; flagged = below the rest with
    p_bh < `alpha`; severity 'high' when p_bonferroni < `alpha` too, else 'medium'.
    Columns: by, group, step, from_n, to_n, rate, rest_from, rest_to, rest_rate, p_value, p_bh,
    p_bonferroni, flagged, severity. `reach`: `reach_frame`, the groups counted from it (no query).
    """
    rows = []
    for by in groupings:
        frame = _by_group(con, src, stages, by, start, end, window_days, top_n, reach=reach)[0]
        totals = frame[stages].sum()
        for _, r in frame.iterrows():
            if r["other"] or r["group"] == segments.BLANK:
                continue
            for k in range(1, len(stages)):
                n, x = int(r[stages[k - 1]]), int(r[stages[k]])
                rest_n, rest_x = int(totals[stages[k - 1]]) - n, int(totals[stages[k]]) - x
                if n < min_group or rest_n < min_group:
                    continue
                test = two_proportion_test(x, n, rest_x, rest_n)
                rows.append({"by": by, "group": r["group"], "step": f"{stages[k - 1]} → {stages[k]}",
                             "from_n": n, "to_n": x, "rate": test.rate, "rest_from": rest_n, "rest_to": rest_x,
                             "rest_rate": test.baseline, "p_value": test.p_value})
    out = pd.DataFrame(rows, columns=["by", "group", "step", "from_n", "to_n", "rate", "rest_from", "rest_to",
                                      "rest_rate", "p_value"])
    out["p_bh"], out["p_bonferroni"], out["flagged"], out["severity"] = adjust_family(
        out["p_value"], out["rate"] < out["rest_rate"], alpha)
    out["flagged"] = out["flagged"].astype(bool)
    return out


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def conversion_flags(tests: pd.DataFrame) -> list[Flag]:
    """Flags from `conversion_tests`: a source or campaign converting worse than all other leads at a
    step. A campaign whose leads at the step are a flagged source's (the same counts) is reported
    once, by its source."""
    family = len(tests)
    flagged = tests[tests["flagged"]]
    by_source = {(r.step, r.from_n, r.to_n) for r in flagged.itertuples(index=False) if r.by == "source"}
    return [Flag("funnel", f"{r.step} conversion", f"{r.by}: {r.group}", float(r.rate), float(r.rest_rate),
                 f"two-proportion test vs other leads, {r.to_n:,} of {r.from_n:,} vs {r.rest_to:,} of {r.rest_from:,}, "
                 f"{_p(r.p_value)}; Benjamini–Hochberg over {family} group-steps {_p(r.p_bh)}", r.severity,
                 questions_for("funnel", "Conversion"))
            for r in flagged.itertuples(index=False)
            if not (r.by == "campaign" and (r.step, r.from_n, r.to_n) in by_source)]


# ------------------------------------------------------------------ area contract

def _area_source(ws) -> tuple[FunnelSource, list[str]] | None:
    dataset = ws.get("leads") or ws.get("lead_stages")
    if dataset is None:
        return None
    src = source_for(dataset)
    stages = default_stages(available_stages(ws.con, src))
    return (src, stages) if stages else None


def area_flags(ws) -> list[Flag]:
    """Campaigns (or sources) whose leads disqualify more often or move slower than all leads
    (`campaign_quality`), and sources and campaigns converting worse than all other leads at a step
    (`conversion_tests`); each test family adjusted by Benjamini–Hochberg, 'high' at Bonferroni level."""
    found = _area_source(ws)
    if found is None:
        return []
    src, stages = found
    by = "campaign" if "campaign" in src.columns else "source" if "source" in src.columns else None
    if by is None:
        return []
    th = ws.thresholds
    window, alpha, min_group = th["funnel_conversion_window_days"], th["baseline_alpha"], int(th["min_group_size"])
    result = campaign_quality(ws.con, src, stages, by, window_days=window, alpha=alpha, min_group=min_group,
                              slow_ratio=th["funnel_slow_ratio_max"])
    flags = quality_flags(result.frame, by, stages, th)
    if len(stages) > 1:
        groupings = [g for g in ("source", "campaign") if g in src.columns]
        flags += conversion_flags(conversion_tests(ws.con, src, stages, groupings, window_days=window,
                                                   alpha=alpha, min_group=min_group))
    return flags


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """The funnel, its breakdowns, monthly cohorts, campaign quality and nurture programs with default settings."""
    found = _area_source(ws)
    if found is None:
        return {}
    src, stages = found
    window = ws.thresholds["funnel_conversion_window_days"]
    tables = {"Funnel": funnel_stages(ws.con, src, stages, window_days=window).frame,
              "Funnel by created month": funnel_by_cohort(ws.con, src, stages, "month", window_days=window).frame}
    for by in ("source", "campaign"):
        if by in src.columns:
            tables[f"Funnel by {by}"] = funnel_by_group(ws.con, src, stages, by, window_days=window).frame
    by = "campaign" if "campaign" in src.columns else "source" if "source" in src.columns else None
    if by:
        tables["Campaign quality"] = campaign_quality(ws.con, src, stages, by, window_days=window).frame
    if "campaign" in src.columns:  # nurture programs side by side, with a loaded cost table (issue 22)
        costs = ws.get("campaign_costs")
        mql = next((s for s in stages if s == "MQL"), stages[min(1, len(stages) - 1)])
        tables["Nurture programs"] = program_comparison(ws.con, src, stages, mql, costs.table if costs else None,
                                                        window_days=window).frame
    return tables


# ------------------------------------------------------------------ nurture programs side by side (issue 22)

NO_PROGRAM = "(no program)"
VALUE_WORDS = ("revenue", "value", "amount", "mrr", "arr", "ltv", "deal size", "contract")


def value_columns(con, datasets: list[Dataset]) -> list[tuple[str, str, str]]:
    """Columns that can hold a customer's value: (table, table column, "file: column") for each
    unmapped column of the given leads-shaped datasets (the leads file, the joined closed deals)
    whose header names money (`VALUE_WORDS`) and that holds at least one number."""
    from lib.schemas import normalise_header

    out = []
    for ds in datasets:
        for col, header in ds.extra_columns.items():
            if not any(w in normalise_header(header) for w in VALUE_WORDS):
                continue
            n = con.execute(f"SELECT COUNT(*) FROM {q(ds.table)} WHERE TRY_CAST(CAST({q(col)} AS VARCHAR) AS DOUBLE) "
                            "IS NOT NULL").fetchall()[0][0]
            if n:
                out.append((ds.table, col, f"{ds.file_name}: {header}"))
    return out


def program_comparison(con, src: FunnelSource, stages: list[str], mql_stage: str, cost_table: str | None = None,
                       start=None, end=None, window_days: float | None = None,
                       value: tuple[str, str] | None = None, top_n: int = TOP_GROUPS,
                       costs: MetricResult | None = None, excluded: dict | None = None,
                       reach: pd.DataFrame | None = None, values: pd.DataFrame | None = None) -> MetricResult:
    """Nurture programs side by side: MQL rate, time to MQL, cost per MQL and the customers' value.

    One row per program (the leads' campaign, matched after trimming and ignoring case; leads with no
    campaign in one row "(no program)"; the `top_n` programs with most leads by name, the rest in one row
    "Other (k programs)" — a mix, its cost the sum of theirs — so programs add up to the funnel's leads),
    over leads that entered in [start, end):
    - leads; mqls = leads reaching `mql_stage` within the window; mql_rate = mqls / leads (ratio 0–1)
      with its 95% Wilson interval (mql_low, mql_high).
    - median_days_to_mql = median of (reach date of `mql_stage` − entered) in days over the mqls.
    - customers = leads reaching the last stage within the window.
    - cost = the program's cost in the range, as `cost_per_mql` prorates it (blank without a cost
      table or a row for the program); cost_per_mql = cost / mqls (blank when 0 MQLs).
    - With `value` = (table, column) — a leads-shaped table joined on lead ID (the leads file or the
      joined closed deals): a customer's value = Σ of the column over its rows there (numbers only);
      customer_value = Σ over the program's customers, valued_customers = customers with a value,
      value_per_customer = customer_value / valued_customers, value_per_cost = customer_value / cost
      (money back per unit of program cost; blank without cost).
    Cost rows and leads left out are counted as in `cost_per_mql` / `funnel_stages`; the SQL returned is
    the per-program query (the costs come from `cost_per_mql`'s own SQL). `costs`: that `cost_per_mql`
    result for the same arguments when the caller has it (the page shows it above), so it is not run twice.
    `reach` (`reach_frame`) and, with `value`, `values` (`lead_values` of it): the programs counted from them
    in pandas (whole-day windows) — the same frame and SQL; with values that are not all whole numbers the
    query sums them (a sum of fractions depends on the order DuckDB adds them in).
    """
    if "campaign" not in src.columns:
        raise BoundaryError("Comparing nurture programs needs a campaign / program column in the leads file. "
                            "Map it under “Columns”.")
    if mql_stage not in stages:
        raise BoundaryError(f"Stage “{mql_stage}” is not in the funnel; pick the MQL stage from the funnel's stages.")
    k, last = stages.index(mql_stage), len(stages) - 1
    sql, params = cohort_sql(src, stages, start, end, window_days)
    days = _DAYS.format(a="entered", b=f"r{k}")
    if value:
        v_table, v_col = value
        sql += (",\nvals AS (SELECT trim(CAST(lead_id AS VARCHAR)) AS lead_id, "
                f"SUM(TRY_CAST(CAST({q(v_col)} AS VARCHAR) AS DOUBLE)) AS value FROM {q(v_table)} "
                "WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NOT NULL GROUP BY 1)")
        join, value_sql = "LEFT JOIN vals v USING (lead_id)", "v.value"
    else:
        join, value_sql = "", "NULL::DOUBLE"
    sql += (",\nkeyed AS (SELECT c.*, COALESCE(lower(NULLIF(trim(c.campaign), '')), '') AS key, "
            f"{value_sql} AS lead_value FROM cohort c {join} WHERE in0)")
    fast = _from_reach(reach, window_days) and (not value or (values is not None and _exact_sums(values["value"])))
    if fast:
        rows, flags = _cohort_rows(reach, len(stages), start, end, window_days)
        in0 = flags[0]
        keys = rows["p_key"][in0]
        named, n = np.unique(keys[keys != ""], return_counts=True)
        sizes = list(zip(named.tolist(), n.tolist()))
    else:  # the largest programs by name, picked first, so the figure's SQL names them as bound values
        sizes = con.execute(sql + "\nSELECT key, COUNT(*) AS n FROM keyed WHERE key <> '' GROUP BY key", params).df()
        sizes = list(zip(sizes["key"], sizes["n"]))
    ranked = sorted(sizes, key=lambda kn: (-int(kn[1]), kn[0]))
    top, rest = [kn[0] for kn in ranked[:int(top_n)]], [kn[0] for kn in ranked[int(top_n):]]
    named = f"key = '' OR key IN ({', '.join('?' * len(top))})" if top else "key = ''"
    sql += (f",\ngrouped AS (SELECT *, CASE WHEN {named} THEN key ELSE '~other' END AS gkey FROM keyed)\n"
            "SELECT gkey AS key, arg_min(NULLIF(trim(campaign), ''), campaign) AS program, COUNT(*) AS leads,\n"
            f"  COUNT(*) FILTER (WHERE in{k}) AS mqls,\n"
            f"  quantile_cont({days}, 0.5) FILTER (WHERE in{k}) AS median_days_to_mql,\n"
            f"  COUNT(*) FILTER (WHERE in{last}) AS customers,\n"
            f"  SUM(lead_value) FILTER (WHERE in{last}) AS customer_value,\n"
            f"  COUNT(lead_value) FILTER (WHERE in{last}) AS valued_customers\n"
            "FROM grouped GROUP BY gkey")
    params += top
    if fast:
        lead_value = None
        if value:  # each lead's value, blank without a row (the query's LEFT JOIN)
            at = pd.Index(values["lead_id"]).get_indexer(reach["lead_id"])
            lead_value = pd.Series(np.where(at >= 0, values["value"].to_numpy(dtype="float64", na_value=np.nan)[at],
                                            np.nan))
        frame = _program_counts(rows, flags, keys, set(top), k, lead_value)
    else:
        frame = con.execute(sql, params).df()
    other = f"Other ({len(rest)} program{'' if len(rest) == 1 else 's'})"
    frame["program"] = [NO_PROGRAM if key == "" else other if key == "~other" else name
                        for key, name in zip(frame["key"], frame["program"])]
    frame["keys"] = [rest if key == "~other" else [key] for key in frame["key"]]
    frame["_last"] = [(key == "~other") + 2 * (key == "") for key in frame["key"]]  # named, then Other, then none
    frame = frame.sort_values(["_last", "leads", "program"], ascending=[True, False, True]).reset_index(drop=True)
    bounds = [wilson_interval(int(x), int(n)) for x, n in zip(frame["mqls"], frame["leads"])]
    frame["mql_rate"] = [x / n if n else math.nan for x, n in zip(frame["mqls"], frame["leads"])]
    frame["mql_low"], frame["mql_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    excluded = dict(excluded if excluded is not None else _exclusions(con, src, stages))
    frame["cost"] = math.nan
    if cost_table:
        if costs is None:
            costs = cost_per_mql(con, src, stages, cost_table, mql_stage, start, end, window_days)
        by_key = {str(c).strip().lower(): v for c, v in zip(costs.frame["campaign"], costs.frame["cost"])
                  if c is not None and pd.notna(c)}
        frame["cost"] = [math.nan if key == "" else sum(by_key[k] for k in keys if k in by_key)
                         if any(k in by_key for k in keys) else math.nan for key, keys in zip(frame["key"], frame["keys"])]
        excluded.update({r: n for r, n in costs.excluded.items() if r not in excluded})
    frame["cost_per_mql"] = [c / m if m else math.nan for c, m in zip(frame["cost"], frame["mqls"])]
    frame["value_per_customer"] = [v / n if n else math.nan
                                   for v, n in zip(frame["customer_value"], frame["valued_customers"])]
    frame["value_per_cost"] = [v / c if c and pd.notna(v) and pd.notna(c) else math.nan
                               for v, c in zip(frame["customer_value"], frame["cost"])]
    if not value:
        frame = frame.drop(columns=["customer_value", "valued_customers", "value_per_customer", "value_per_cost"])
    columns = ["program", "leads", "mqls", "mql_rate", "mql_low", "mql_high", "median_days_to_mql", "customers",
               "cost", "cost_per_mql", "customer_value", "valued_customers", "value_per_customer", "value_per_cost"]
    return MetricResult(frame[[c for c in columns if c in frame.columns]], sql, params, excluded)


def _exact_sums(values: pd.Series) -> bool:
    """Whether every sum of these values is exact in floating point, whatever the order: whole numbers whose
    absolute total stays below 2^53."""
    v = values.dropna().to_numpy(dtype="float64")
    return bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)) and np.abs(v).sum() < 2.0 ** 53)


def _program_counts(rows: _Rows, flags: list, keys: np.ndarray, top: set, k: int,
                    lead_value: pd.Series | None) -> pd.DataFrame:
    """`program_comparison`'s per-program query counted from the reach frame's cohort rows: per gkey (the
    program's key, '' for none, '~other' for the rest) its name (the trimmed campaign of its smallest
    campaign text, as arg_min), leads, MQLs, median days to MQL, customers and their value."""
    in0 = flags[0]
    keys = np.asarray(keys, dtype=object)
    gkey = np.where((keys == "") | np.isin(keys, list(top)), keys, "~other").astype(object)
    raw, name = rows["campaign"][in0], rows["p_name"][in0]
    at_k, at_last = flags[k][in0], flags[-1][in0]
    days = rows[f"rd{k}"].astype("float64")[in0]
    value = rows.take(lead_value)[in0].astype("float64") if lead_value is not None else np.full(len(gkey), np.nan)
    out = []
    codes, uniq = pd.factorize(gkey)
    for i, g in enumerate(uniq):
        m = codes == i
        # a named program's campaigns are all filled in; the others' names are replaced by the caller
        program = name[m][np.argmin(raw[m])] if g not in ("", "~other") else None
        cust = m & at_last
        vals = value[cust]
        vals = vals[~np.isnan(vals)]
        out.append((g, program, int(m.sum()), int((m & at_k).sum()), _quantile_cont(days[m & at_k], 0.5),
                    int(cust.sum()), float(vals.sum()) if len(vals) else math.nan, len(vals)))
    frame = pd.DataFrame(out, columns=["key", "program", "leads", "mqls", "median_days_to_mql", "customers",
                                       "customer_value", "valued_customers"])
    return frame.astype({"key": "str" if out else "object", "program": "object", "leads": "int64", "mqls": "int64",
                         "median_days_to_mql": "float64", "customers": "int64", "customer_value": "float64",
                         "valued_customers": "int64"})

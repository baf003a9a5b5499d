"""Cohort retention, revenue retention, active users and group comparison over an activity table.

Input: the ``activity`` table (``user_id``, ``event_time`` and optionally ``revenue``, ``quantity``,
``unit_price``, ``order_id``, ``signup_date`` plus the file's other columns as user attributes).

Definitions (SPEC §6, §9 "retention definitions are explicit and switchable"):

- **Usable event**: a row with a user id and a readable event time that is not a cancellation.
  A *cancellation* is an order id shaped like Online Retail's ``C536379`` (a ``C`` then a digit),
  a negative quantity, or a negative amount. Cancellations are not activity (a returned order is
  not a return visit) and their negative amounts are not revenue: revenue is gross sales. Every
  left-out row is counted by reason.
- **Revenue of a row** = ``revenue`` when the file has it, else ``quantity × unit_price`` when both
  exist; blank amounts count as 0.
- **Cohort** = the calendar month/week (weeks start Monday) of the user's *anchor*: the user's first
  usable event (default) or their signup date (the earliest one given for the user).
- **Period N** of a user: *calendar* (default) — the N-th calendar month/week after the cohort's
  (month 0 = the cohort's own month); *rolling* — the N-th 30-day (month) or 7-day (week) window
  after the user's own anchor time.
- **Retained in N**: *returned in period N* (default) — a usable event in period N;
  *in N or later* — a usable event in period N or any later period ("unbounded" retention).
- **Retention(c, N)** = retained users of cohort c in N / users in cohort c. By-signup cohorts
  need not be 100% in period 0; events before the signup's period are left out and counted.
- **A cell is complete** when the data runs to the end of its period (calendar) or to the end of
  every member's window N (rolling). Incomplete cells are marked, never read as a drop.
- **Average retention(N)** = Σ retained in N / Σ cohort size, over the cohorts whose period N is
  complete (weighted by cohort size: a 5-user cohort does not count as much as a 5,000-user one).
"""

from __future__ import annotations

import hashlib
import math
import weakref
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pandas as pd

from lib import segments
from lib.errors import BoundaryError
from lib.periods import period_label, period_sql
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.engine import table_columns
from lib.sql import quote_ident
from lib.stats import Z95, adjust_family, normal_cdf, overdispersion, two_proportion_test, wilson_interval

GRAINS = ("month", "week")
MODES = ("calendar", "rolling")
RULES = ("in", "on_or_after")
COHORT_BY = ("first_activity", "signup")
ROLLING_DAYS = {"month": 30, "week": 7}
MAX_GROUPS = 8  # largest groups shown by name; the rest are summed as "Other" so groups add up
OTHER, BLANK = "Other", "(blank)"


@dataclass(frozen=True)
class CohortOptions:
    """The retention definition in force. Defaults: monthly calendar cohorts by first activity,
    counting users who returned *in* period N."""

    grain: str = "month"
    mode: str = "calendar"
    rule: str = "in"
    cohort_by: str = "first_activity"

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.grain, GRAINS, "period"), (self.mode, MODES, "period type"),
                                     (self.rule, RULES, "counting rule"), (self.cohort_by, COHORT_BY, "cohort by")):
            if value not in allowed:
                raise BoundaryError(f"Unknown {what} '{value}'. Choose one of: {', '.join(allowed)}.")

    @property
    def unit(self) -> str:
        return "Month" if self.grain == "month" else "Week"

    def describe(self) -> str:
        """One plain sentence of the definition, shown next to the numbers."""
        cohort = "first activity" if self.cohort_by == "first_activity" else "signup date"
        if self.mode == "calendar":
            period = f"calendar {self.grain}s ({self.unit.lower()} 0 = the cohort's own {self.grain})"
        else:
            period = (f"rolling {ROLLING_DAYS[self.grain]}-day windows from each user's own "
                      f"{'first activity' if self.cohort_by == 'first_activity' else 'signup'}")
        rule = ("returned in that period" if self.rule == "in" else "active in that period or any later one")
        return (f"Cohorts by {self.grain} of {cohort}; periods are {period}; a user counts as retained "
                f"in period N when {rule}.")


@dataclass(frozen=True)
class _Source:
    """Which optional columns the table has, and the SQL built from them."""

    amount_sql: str | None
    cancel_sql: str
    has_signup: bool
    columns: tuple[str, ...]
    # the table's version when this was read (_table_version): one figure's stored results are looked up with it
    # instead of reading the catalogue again for each (~0.7 ms a read, 4 per figure)
    version: str | None = field(default=None, compare=False)


# each cursor's _Source per (table, version): the catalogue query costs ~3 ms and a click asks 3–5 times;
# keyed weakly on the session's own cursor (never shared between sessions), dropped with it
_SOURCES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _source(con, table: str) -> _Source:
    version = _table_version(con, table)
    if version is not None:
        kept = _SOURCES.get(con, {}).get(table)
        if kept is not None and kept[0] == version:
            return kept[1]
    src = replace(_read_source(con, table), version=version)
    if version is not None:
        try:
            _SOURCES.setdefault(con, {})[table] = (version, src)  # the latest version only
        except TypeError:  # a connection that cannot be weakly referenced: not kept
            pass
    return src


def _read_source(con, table: str) -> _Source:
    cols = tuple(name for name, _ in table_columns(con, table))
    if not {"user_id", "event_time"} <= set(cols):
        raise BoundaryError(f"Table {table} has no user and event-time columns; map them under “Columns”.")
    amount = None
    if "revenue" in cols:
        amount = 'CAST("revenue" AS DOUBLE)'
    elif "quantity" in cols and "unit_price" in cols:
        amount = 'CAST("quantity" AS DOUBLE) * CAST("unit_price" AS DOUBLE)'
    cancel = []
    if "order_id" in cols:
        cancel.append("""regexp_matches(CAST("order_id" AS VARCHAR), '^[Cc][0-9]')""")
    if "quantity" in cols:
        cancel.append('"quantity" < 0')
    if amount:
        cancel.append(f"{amount} < 0")
    cancel_sql = "COALESCE(" + " OR ".join(cancel) + ", FALSE)" if cancel else "FALSE"
    return _Source(amount, cancel_sql, "signup_date" in cols, cols)


# Period numbers 0…9999 for the grids below, as a table every engine reads alike (DuckDB's range()
# table function has no Spark twin): 9999 weeks are 190 years, 9999 days 27.
_NUMBERS = """digits(d) AS (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)),
numbers(n) AS (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d FROM digits a, digits b, digits c, digits e)"""


# ------------------------------------------------------------------ result cache

CACHE_PREFIX = "_cohorts_cache_"  # result tables in the session's own database, one per query and table version


def _table_version(con, table: str) -> str | None:
    """Changes whenever `table` is replaced or rows are added or removed: DuckDB gives every created
    table a new catalog oid (never reused within a database) and tracks its row count. The
    Workspace only ever replaces a dataset's table (CREATE OR REPLACE), and the notebook is
    read-only, so oid + row count identify the dataset's contents. None when there is no such table,
    and on another engine (lib.engine: Spark keeps its own results), which is then queried directly."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    row = con.execute("SELECT table_oid, estimated_size FROM duckdb_tables() WHERE table_name = ? "
                      "AND schema_name = current_schema() AND NOT temporary", [table]).fetchall()
    return f"{row[0][0]}_{row[0][1]}" if len(row) == 1 else None


def _cache_stem(table: str) -> str:
    return CACHE_PREFIX + hashlib.sha1(table.encode()).hexdigest()[:10] + "_"


_UNREAD = object()  # _cached's version not given: read it


def _cached(con, table: str, sql: str, params: list | None = None, version=_UNREAD) -> pd.DataFrame:
    """The result of `sql` (which reads only `table`) as a frame, computed once per version of
    `table` and kept as a small table in the session's database, so a Streamlit rerun (any widget
    click) reads the stored result instead of scanning the events again.

    The cache table's name holds the source table's version and a hash of the SQL and its
    parameters; when the source table changes, the old version's results are dropped as the first
    new one is stored. Results live in the session's own database (never shared between sessions)
    and are dropped with it. If storing fails (another thread of the same session stored the same
    result at the same moment), the query runs directly. `version`: the table's version when the
    caller has just read it (`_Source.version`), else it is read here.
    """
    params = list(params or [])
    if version is _UNREAD:
        version = _table_version(con, table)
    if version is None:
        return con.execute(sql, params).df()
    stem = _cache_stem(table)
    key = hashlib.sha1(repr((sql, params)).encode()).hexdigest()[:16]
    name = quote_ident(f"{stem}{version}_{key}")
    try:
        return con.execute(f"SELECT * FROM {name}").df()
    except duckdb.CatalogException:
        pass
    try:
        con.execute(f"CREATE TABLE {name} AS {sql}", params)
        frame = con.execute(f"SELECT * FROM {name}").df()
    except duckdb.Error:
        return con.execute(sql, params).df()
    stale = con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?) "
                        "AND NOT starts_with(table_name, ?)", [stem, f"{stem}{version}_"]).fetchall()
    for (old,) in stale:
        try:
            con.execute(f"DROP TABLE IF EXISTS {quote_ident(old)}")
        except duckdb.Error:
            pass  # another thread dropped it meanwhile
    return frame


def clear_cache(con) -> int:
    """Drop every stored cohort result in this database; returns how many tables were dropped."""
    names = con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?)",
                        [CACHE_PREFIX]).fetchall()
    for (name,) in names:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    return len(names)


def has_revenue(con, table: str) -> bool:
    """True when the table has a revenue column or both quantity and unit price."""
    return _source(con, table).amount_sql is not None


def has_signup(con, table: str) -> bool:
    return _source(con, table).has_signup


def data_end(con, table: str) -> pd.Timestamp | None:
    """Time of the last usable event (the data's end), None when there is none."""
    src = _source(con, table)
    value = _cached(con, table, f"SELECT MAX(event_time) AS data_end FROM {quote_ident(table)} "
                                f"WHERE user_id IS NOT NULL AND NOT {src.cancel_sql}", version=src.version).iloc[0, 0]
    return None if pd.isna(value) else pd.Timestamp(value)


def _period_key(column_sql: str, grain: str) -> str:
    """SQL for the calendar period of `column_sql` as a cheap grouping key, exactly the periods of
    lib.periods.period_sql: months as the integer year × 12 + month − 1 (computing it is ~5× cheaper
    than date_trunc on 10M timestamps), ISO weeks (Monday) as period_sql's DATE (already cheap)."""
    if grain == "month":
        return f"(year({column_sql}) * 12 + month({column_sql}) - 1)"
    return period_sql(column_sql, grain)


def _key_date(key_sql: str, grain: str) -> str:
    """The period's first day (a DATE, as period_sql gives it) from a _period_key value."""
    if grain == "month":
        return f"make_date(CAST(({key_sql}) // 12 AS BIGINT), CAST(({key_sql}) % 12 + 1 AS BIGINT), 1)"
    return key_sql


def _key_diff(from_sql: str, to_sql: str, grain: str) -> str:
    """Whole periods from one _period_key value to another (N of the later one)."""
    if grain == "month":
        return f"(({to_sql}) - ({from_sql}))"
    return f"CAST(date_diff('day', {from_sql}, {to_sql}) / 7 AS BIGINT)"


def _core_ctes(src: _Source, table: str, opts: CohortOptions, group_col: str | None = None
               ) -> tuple[str, list]:
    """CTEs usable → users → cohort_users → event_periods → user_periods (one row per user per
    active period N, with its revenue) and last_periods (each user's last active N ≥ 0).

    Calendar periods first shrink the events to one row per user per calendar period (``um``:
    10M events are ~3M user-months, keyed by an integer month), so every later step works on
    that: ``users`` groups ``um`` once per user for the anchor, the group value and the last active
    period (a GROUP BY and a join measured ~25% cheaper in CPU than a MIN() OVER (PARTITION BY
    user) window plus a second per-user GROUP BY for the last period); rolling windows need each
    event's exact time and join the events themselves. ``event_periods.events`` counts the file
    rows behind each row, so rows left out (before signup) are counted in rows either way.
    """
    t = quote_ident(table)
    amount = src.amount_sql or "0.0"
    g = quote_ident(group_col) if group_col is not None else None
    usable_cols = ["user_id", "event_time", f"COALESCE({amount}, 0.0) AS amount"]
    if opts.cohort_by == "signup":
        usable_cols.append("signup_date")
    if g is not None:
        usable_cols.append(f"CAST({g} AS VARCHAR) AS g")
    params: list = []
    usable = f"""
usable AS (  -- rows with a user and a time that are not cancellations
    SELECT {', '.join(usable_cols)}
    FROM {t}
    WHERE user_id IS NOT NULL AND event_time IS NOT NULL AND NOT {src.cancel_sql}
),"""
    if opts.mode == "calendar":
        # only aggregate what the figure needs: sums cost time on 10M rows
        um_cols = [f"{_period_key('event_time', opts.grain)} AS p",
                   "SUM(amount) AS amount" if src.amount_sql else "0.0 AS amount",
                   "COUNT(*) AS events" if opts.cohort_by == "signup" else "1 AS events"]
        user_cols = ["MIN(p) AS first_p", "MAX(p) AS last_p"]
        if opts.cohort_by == "signup":
            um_cols.append("MIN(signup_date) AS signup")
            user_cols.append("MIN(signup) AS anchor_time")
        else:
            user_cols.append(f"{_key_date('MIN(p)', opts.grain)} AS anchor_time")
        if g is not None:
            um_cols += ["arg_min(g, event_time) FILTER (WHERE g IS NOT NULL) AS g",
                        "MIN(event_time) FILTER (WHERE g IS NOT NULL) AS g_time"]
            user_cols.append(f"COALESCE(arg_min(g, g_time) FILTER (WHERE g IS NOT NULL), '{BLANK}') AS grp")
        else:
            user_cols.append(f"'{BLANK}' AS grp")
        cohort_p = "first_p" if opts.cohort_by == "first_activity" else _period_key("anchor_time", opts.grain)
        body = f"""
um AS (  -- one row per user per calendar period with activity (p: the period as an integer key)
    SELECT user_id, {', '.join(um_cols)}
    FROM usable GROUP BY user_id, p
),
users AS (  -- one row per user: the anchor (first activity or signup), group value, last active period
    SELECT user_id, {', '.join(user_cols)}
    FROM um GROUP BY user_id
),
cohort_users AS (
    SELECT user_id, anchor_time, grp, {period_sql("anchor_time", opts.grain)} AS cohort,
           {cohort_p} AS cohort_p, last_p
    FROM users WHERE anchor_time IS NOT NULL
),
event_periods AS (  -- each user-period with its user's cohort and its period index N
    SELECT user_id, u.grp, u.cohort, {_key_diff('u.cohort_p', 'm.p', opts.grain)} AS n, m.amount, m.events
    FROM um m JOIN cohort_users u USING (user_id)
),
user_periods AS (  -- one row per user per period N with activity, and its revenue
    SELECT user_id, grp, cohort, n, amount AS revenue
    FROM event_periods WHERE n >= 0
),
last_periods AS (  -- each user's last period N with activity (users with none from N = 0 on: left out)
    SELECT user_id, grp, cohort, {_key_diff('cohort_p', 'last_p', opts.grain)} AS n
    FROM cohort_users WHERE last_p >= cohort_p
)"""
    else:
        anchor = "MIN(event_time)" if opts.cohort_by == "first_activity" else "MIN(signup_date)"
        grp = "arg_min(g, event_time) FILTER (WHERE g IS NOT NULL)" if g is not None else "NULL"
        params.append(ROLLING_DAYS[opts.grain] * 86400)
        body = f"""
users AS (  -- one row per user: the anchor (first activity or signup) and the group value
    SELECT user_id, {anchor} AS anchor_time, COALESCE({grp}, '{BLANK}') AS grp
    FROM usable GROUP BY user_id
),
cohort_users AS (
    SELECT user_id, anchor_time, grp, {period_sql("anchor_time", opts.grain)} AS cohort
    FROM users WHERE anchor_time IS NOT NULL
),
event_periods AS (  -- each usable event with its user's cohort and its rolling window index N
    SELECT e.user_id, u.grp, u.cohort,
           CAST(floor(date_diff('second', u.anchor_time, e.event_time) / ?) AS BIGINT) AS n,
           e.amount, 1 AS events
    FROM usable e JOIN cohort_users u USING (user_id)
),
user_periods AS (  -- one row per user per window N with activity, and its revenue
    SELECT user_id, grp, cohort, n, SUM(amount) AS revenue
    FROM event_periods WHERE n >= 0
    GROUP BY user_id, grp, cohort, n
),
last_periods AS (  -- each user's last window N with activity
    SELECT user_id, grp, cohort, MAX(n) AS n FROM user_periods GROUP BY user_id, grp, cohort
)"""
    return usable + body, params


def _age_expr(opts: CohortOptions) -> tuple[str, list]:
    """Last period index N that has started for a cohort, given the data's end."""
    end_period = period_sql("span.data_end", opts.grain)
    if opts.mode == "calendar":
        if opts.grain == "month":
            return f"date_diff('month', s.cohort, {end_period})", []
        return f"CAST(date_diff('day', s.cohort, {end_period}) / 7 AS BIGINT)", []
    return ("CAST(floor(date_diff('second', s.first_anchor, span.data_end) / ?) AS BIGINT)",
            [ROLLING_DAYS[opts.grain] * 86400])


def _cells_sql(src: _Source, table: str, opts: CohortOptions, group_col: str | None) -> tuple[str, list]:
    core, params = _core_ctes(src, table, opts, group_col)
    age, age_params = _age_expr(opts)
    sql = f"""WITH {core}, {_NUMBERS},
span AS (SELECT MIN(event_time) AS data_start, MAX(event_time) AS data_end FROM usable),
sizes AS (
    SELECT grp, cohort, COUNT(*) AS cohort_size,
           MIN(anchor_time) AS first_anchor, MAX(anchor_time) AS last_anchor
    FROM cohort_users GROUP BY grp, cohort
),
cells AS (
    SELECT grp, cohort, n, COUNT(*) AS users_in, SUM(revenue) AS revenue
    FROM user_periods GROUP BY grp, cohort, n
),
last_active AS (  -- users by the last period N in which they were active
    SELECT grp, cohort, n, COUNT(*) AS k FROM last_periods GROUP BY grp, cohort, n
),
grid AS (  -- every (cohort, N) that has started by the end of the data
    SELECT s.grp, s.cohort, g.n
    FROM sizes s CROSS JOIN span JOIN numbers g ON g.n <= {age}
)
SELECT g.grp, g.cohort, g.n AS period, s.cohort_size,
       COALESCE(c.users_in, 0) AS users_in,
       SUM(COALESCE(l.k, 0)) OVER (PARTITION BY g.grp, g.cohort ORDER BY g.n DESC) AS users_on_or_after,
       COALESCE(c.revenue, 0.0) AS revenue,
       s.first_anchor, s.last_anchor, span.data_start, span.data_end
FROM grid g
JOIN sizes s USING (grp, cohort)
CROSS JOIN span
LEFT JOIN cells c USING (grp, cohort, n)
LEFT JOIN last_active l USING (grp, cohort, n)
ORDER BY g.grp, g.cohort, g.n"""
    return sql, params + age_params


def excluded_rows(con, table: str, opts: CohortOptions = CohortOptions(), src: _Source | None = None
                  ) -> dict[str, int]:
    """Rows left out of every cohort figure, by reason (each row counted under its first reason).
    `src`: the table's _source when the caller has it (reading the catalogue again costs ~3 ms)."""
    src = src or _source(con, table)
    t = quote_ident(table)
    reasons = [("no user id", "user_id IS NULL"),
               ("event time blank or unreadable", "event_time IS NULL"),
               ("cancellations / returns (invoice starting with C, negative quantity or amount)", src.cancel_sql)]
    parts = []
    seen = "FALSE"
    for i, (_, cond) in enumerate(reasons):
        parts.append(f"COUNT(*) FILTER (WHERE ({cond}) AND NOT ({seen})) AS r{i}")
        seen = f"{seen} OR ({cond})"
    row = _cached(con, table, f"SELECT {', '.join(parts)} FROM {t}", version=src.version).iloc[0].tolist()
    out = {reason: int(v) for (reason, _), v in zip(reasons, row)}
    if opts.cohort_by == "signup":
        core, params = _core_ctes(src, table, opts)
        no_signup, before = _cached(con, table, f"""WITH {core}
SELECT (SELECT COUNT(*) FROM usable JOIN users USING (user_id) WHERE users.anchor_time IS NULL) AS no_signup,
       (SELECT COALESCE(SUM(events), 0) FROM event_periods WHERE n < 0) AS before""", params,
                                     src.version).iloc[0].tolist()
        out["rows of users with no signup date"] = int(no_signup)
        out["events before the user's signup period"] = int(before)
    return {k: v for k, v in out.items() if v}


def retention_matrix(con, table: str, opts: CohortOptions = CohortOptions(), via: str | None = None
                     ) -> MetricResult:
    """Retention matrix: one row per (cohort, period N) that has started by the end of the data.

    retention = retained users of the cohort in N / users in the cohort (ratio 0–1), where
    "retained" is ``users_in`` (returned in period N, default) or ``users_on_or_after`` (active in
    N or later) by ``opts.rule``. revenue = Σ revenue of the cohort's usable events in period N
    (money, always "in N"); revenue_per_user = revenue / cohort size; revenue_retention = revenue in
    N / revenue in period 0 (blank when period 0 had no revenue).
    ``complete`` is False while the data ends before the cell's period (or some member's rolling
    window) ends. Period 0 of a first-activity cohort is 100% by construction.
    Edge cases: no usable rows → empty frame; a cohort with no period 0 activity (signup cohorts)
    has 0% in period 0.

    Frame columns: cohort, cohort_label, period, cohort_size, users_in, users_on_or_after, users,
    retention, revenue, revenue_per_user, revenue_retention, complete.

    `via`: a group column whose cells the page computes anyway (`group_retention`, the same options):
    the matrix is then the sum of those cells over the groups (`_sum_groups`), so one pass over the
    events gives both, the same frame to the last bit. Only when that holds whatever the order of
    addition (`_whole_amounts`: every amount a whole number, their sum below 2⁵³ — a sum of cents is
    not), and not for rolling signup cohorts (a group's members may all sign up after the data ends,
    leaving that group out of the grouped cells); otherwise the matrix is computed directly.
    """
    src = _source(con, table)
    sql, params = _cells_sql(src, table, opts, None)
    if opts.cohort_by == "signup" and not src.has_signup:
        raise BoundaryError("This file has no signup date column: cohorts can only be by first activity. "
                            "Map a signup column under “Columns” to use signup cohorts.")
    if (via is not None and via in src.columns and not (opts.mode == "rolling" and opts.cohort_by == "signup")
            and _whole_amounts(con, table, src)):
        raw = _sum_groups(_cached(con, table, *_cells_sql(src, table, opts, via), src.version))
    else:
        raw = _cached(con, table, sql, params, src.version)
    frame = _finish(raw, opts, src.amount_sql is not None)
    return MetricResult(frame.drop(columns=["grp"]), sql, params, excluded_rows(con, table, opts, src))


def _whole_amounts(con, table: str, src: _Source) -> bool:
    """True when every usable row's amount is a whole number and Σ |amount| < 2⁵³ (or the table has no
    amounts): then every partial sum of them is exact, so revenue summed in any order — per group then
    over groups, or at once — is the same float."""
    if src.amount_sql is None:
        return True
    row = _cached(con, table, f"""SELECT SUM(CASE WHEN a <> floor(a) THEN 1 ELSE 0 END) AS fractional,
       SUM(abs(a)) AS total
FROM (SELECT COALESCE({src.amount_sql}, 0.0) AS a FROM {quote_ident(table)}
      WHERE user_id IS NOT NULL AND event_time IS NOT NULL AND NOT {src.cancel_sql})""", version=src.version).iloc[0]
    total = row["total"]
    return bool(not row["fractional"] and (pd.isna(total) or total < 2.0 ** 53))


def _sum_groups(raw: pd.DataFrame) -> pd.DataFrame:
    """The ungrouped query's cells (grp "(blank)") from a grouped query's, same options.

    Per cohort: cohort_size = Σ over its groups' sizes, first_anchor = min, last_anchor = max (so the
    rolling grid runs to the oldest member's age, the largest group's); per (cohort, N):
    users_in, users_on_or_after and revenue = Σ over the groups that have the cell — a group whose grid
    stops earlier has no user active or last active beyond it (every member's windows start at or after
    the group's first anchor), so it adds 0 there."""
    if raw.empty:
        return raw.iloc[:0].copy()
    # by integer codes with numpy (pandas' groupby cost ~6 ms here); sums of whole numbers, so exact
    cohorts, c_at = np.unique(raw["cohort"].to_numpy(), return_inverse=True)
    periods, p_at = np.unique(raw["period"].to_numpy(), return_inverse=True)
    cell = c_at * len(periods) + p_at
    cells, at = np.unique(cell, return_inverse=True)
    firsts = ~raw.duplicated(["grp", "cohort"]).to_numpy()  # one row per (group, cohort): its size and anchors
    size = np.bincount(c_at[firsts], weights=raw["cohort_size"].to_numpy()[firsts], minlength=len(cohorts))
    first_anchor = pd.Series(raw["first_anchor"].to_numpy()[firsts]).groupby(c_at[firsts]).min().to_numpy()
    last_anchor = pd.Series(raw["last_anchor"].to_numpy()[firsts]).groupby(c_at[firsts]).max().to_numpy()
    row = cells // len(periods)
    out = pd.DataFrame({
        "grp": BLANK, "cohort": cohorts[row], "period": periods[cells % len(periods)],
        "cohort_size": size[row].astype(raw["cohort_size"].dtype),
        "users_in": np.bincount(at, weights=raw["users_in"].to_numpy(dtype=float)).astype(raw["users_in"].dtype),
        "users_on_or_after": np.bincount(at, weights=raw["users_on_or_after"].to_numpy(dtype=float)).astype(
            raw["users_on_or_after"].dtype),
        "revenue": np.bincount(at, weights=raw["revenue"].to_numpy(dtype=float)),
        "first_anchor": first_anchor[row], "last_anchor": last_anchor[row],
        "data_start": raw["data_start"].iloc[0], "data_end": raw["data_end"].iloc[0]})
    return out[list(raw.columns)]


def _finish(raw: pd.DataFrame, opts: CohortOptions, with_revenue: bool) -> pd.DataFrame:
    columns = ["grp", "cohort", "cohort_label", "period", "cohort_size", "users_in", "users_on_or_after",
               "users", "retention", "revenue", "revenue_per_user", "revenue_retention", "complete"]
    if raw.empty:
        return pd.DataFrame(columns=columns)
    # the columns computed apart and the frame built once (a copy of the raw frame and a column set per
    # figure cost ~2 ms of ~5, twice a click)
    cohort = pd.to_datetime(raw["cohort"])
    period, size, users_in, on_or_after = (raw[col].astype("int64") for col in
                                            ("period", "cohort_size", "users_in", "users_on_or_after"))
    users = users_in if opts.rule == "in" else on_or_after
    data_end = pd.to_datetime(raw["data_end"])
    if opts.mode == "calendar":
        # the period after N starts at cohort + (N + 1) steps; whole columns at once (a DateOffset per
        # cell cost more than the rest of the figure): N + 1 weeks are 7·(N + 1) days, and a cohort on
        # the 1st of a month at midnight (as period_sql cuts them) is N + 1 months on, on the 1st
        k = period + 1
        if opts.grain == "week":
            ends = cohort + pd.to_timedelta(7 * k, unit="D")
        elif ((cohort.dt.day == 1) & (cohort == cohort.dt.normalize())).all():
            months = cohort.dt.year * 12 + cohort.dt.month - 1 + k
            ends = pd.to_datetime(pd.DataFrame({"year": months // 12, "month": months % 12 + 1, "day": 1}))
        else:  # any other start: the calendar's own month arithmetic, once per distinct (cohort, N)
            cells = list(zip(cohort, period))
            end_of = {cell: cell[0] + pd.DateOffset(months=int(cell[1]) + 1) for cell in set(cells)}
            ends = pd.to_datetime(pd.Series([end_of[cell] for cell in cells], index=raw.index))
        complete = data_end.dt.normalize() >= ends - pd.Timedelta(days=1)
    else:
        window = pd.to_timedelta(ROLLING_DAYS[opts.grain], unit="D")
        complete = pd.to_datetime(raw["last_anchor"]) + window * (period + 1) <= data_end
    if with_revenue:
        # each row's period-0 revenue of its (group, cohort), placed by integer codes (a MultiIndex reindex
        # cost ~3 ms); a (group, cohort) without a period-0 row gets nan, as the reindex gave
        revenue = raw["revenue"]
        g_codes, _ = pd.factorize(raw["grp"], use_na_sentinel=False)
        c_codes, c_uniques = pd.factorize(cohort, use_na_sentinel=False)
        key = g_codes.astype("int64") * len(c_uniques) + c_codes
        first = period.to_numpy() == 0
        if pd.Index(key[first]).has_duplicates:
            raise ValueError("cannot reindex on an axis with duplicate labels")
        base = np.full(int(key.max()) + 1, np.nan)
        base[key[first]] = revenue.to_numpy(dtype=float)[first]
        base_of = pd.Series(base[key], index=raw.index)
        per_user, rev_retention = revenue / size, (revenue / base_of).where(base_of > 0)
    else:
        revenue = per_user = rev_retention = np.full(len(raw), np.nan)
    codes, starts = pd.factorize(cohort)  # one label per distinct cohort
    labels = [period_label(c, opts.grain) for c in starts]
    return pd.DataFrame({"grp": raw["grp"], "cohort": cohort, "cohort_label": [labels[i] for i in codes],
                         "period": period, "cohort_size": size, "users_in": users_in,
                         "users_on_or_after": on_or_after, "users": users, "retention": users / size,
                         "revenue": revenue, "revenue_per_user": per_user, "revenue_retention": rev_retention,
                         "complete": complete}, index=raw.index).reset_index(drop=True)


def average_retention(matrix: MetricResult, opts: CohortOptions = CohortOptions()) -> MetricResult:
    """Average retention curve, chained over the cohorts old enough at each step (life-table style).

    Which cohorts are complete changes with N: the youngest drop out first. Averaging each N over
    its own set (Σ retained(N) ÷ Σ size) mixes sets, and the curve can rise only because a large
    old cohort with low retention left the average. So the curve is chained:
    retention(0) = Σ_c retained(c, 0) ÷ Σ_c size(c) over the cohorts whose period 0 is complete;
    retention(N) = retention(N − 1) × Σ_{c∈S_N} retained(c, N) ÷ Σ_{c∈S_N} retained(c, N − 1),
    with S_N the cohorts complete at both N − 1 and N (ratio 0–1; a step over the same cohorts is
    exactly their weighted average, so while no cohort drops out the two agree). When every
    cohort's own retention falls (always under "in N or later"), every step is ≤ 1 and the curve
    never rises. ``pooled`` = Σ_{S_N} retained(c, N) ÷ Σ_{S_N} size(c), the plain weighted average
    of the same cells; ``cohorts``/``base_users``/``users`` say which cells stand behind the point;
    ``set_changed`` marks an N where fewer cohorts stand behind the step than behind the one before.
    ``lo``/``hi``: 95% interval on the log scale with Greenwood's variance Σ (n − r) / (n · r)
    over the steps (n = retained at N − 1, r = retained at N; steps with r ≥ n add 0), plus the
    Wilson width of period 0 — an approximation (a "returned in N" user need not have been
    retained at N − 1). revenue_retention(N) (÷ period 0) is chained the same way from
    Σ revenue(c, N) ÷ Σ revenue(c, N − 1) (nan when period 0 had no revenue);
    revenue_per_user(N) = Σ_{S_N} revenue(c, N) ÷ Σ_{S_N} size(c), money per cohort user over the
    same cohorts, not chained. A period with no complete cohort is left out.
    """
    frame = _weighted_curve(matrix.frame.assign(grp="All"))
    return MetricResult(frame.drop(columns=["grp"]), matrix.sql, matrix.params, matrix.excluded)


CURVE_COLUMNS = ["grp", "period", "cohorts", "base_users", "users", "retention", "lo", "hi", "pooled",
                 "set_changed", "revenue_per_user", "revenue_retention"]


def _unique_cells(done: pd.DataFrame) -> dict | None:
    """`_weighted_curve`'s arrays per group — periods (ascending), users and revenue (cohort × period,
    NaN where absent; a blank revenue is 0), cohort sizes — placed by integer codes when each
    (grp, cohort, period) is one row (a matrix's cells, or the lumped groups'), where the groupby's
    sums are the values themselves; None otherwise (duplicate cells, blank groups or counts: the
    groupby path). The groupby cost more than the arithmetic on a weekly matrix."""
    if (done["grp"].isna().any() or not pd.api.types.is_integer_dtype(done["users"])
            or not pd.api.types.is_integer_dtype(done["cohort_size"])):
        return None
    g_at, groups = pd.factorize(done["grp"])
    c_vals, c_at = np.unique(done["cohort"].to_numpy(), return_inverse=True)
    p_vals, p_at = np.unique(done["period"].to_numpy(), return_inverse=True)
    key = (g_at.astype("int64") * len(c_vals) + c_at) * len(p_vals) + p_at
    if len(np.unique(key)) != len(key):
        return None
    users_all = done["users"].to_numpy(dtype=float)
    revenue_all = np.nan_to_num(done["revenue"].to_numpy(dtype=float), nan=0.0) + 0.0  # as a sum: 0 for blank, +0.0
    size_all = done["cohort_size"].to_numpy()
    out = {}
    for i, grp in enumerate(groups):
        rows = np.flatnonzero(g_at == i)
        cohorts, first = np.unique(c_at[rows], return_index=True)  # first row of each cohort: its size
        periods = np.unique(p_at[rows])
        r, k = np.searchsorted(cohorts, c_at[rows]), np.searchsorted(periods, p_at[rows])
        users = np.full((len(cohorts), len(periods)), np.nan)
        revenue = users.copy()
        users[r, k], revenue[r, k] = users_all[rows], revenue_all[rows]
        out[grp] = (list(p_vals[periods]), users, revenue, size_all[rows[first]])
    return out


def _weighted_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """Chained curve per group (see `average_retention`) from matrix cells with grp, cohort, period,
    cohort_size, users, revenue, complete."""
    done = matrix.loc[matrix["complete"].astype(bool)] if len(matrix) else matrix
    if done.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    # Each group's cells as cohort × period arrays (cohorts and periods ascending; NaN where a cell is
    # absent), from one groupby over every group: the sums a pivot_table per group took (a blank revenue
    # sums to 0), in the same order, so every figure is the same float — without two pivots and dozens
    # of .loc lookups per group, which cost more than the arithmetic.
    fast = _unique_cells(done)
    if fast is None:
        sums = done.groupby(["grp", "cohort", "period"], sort=True)[["users", "revenue"]].sum()
        sizes = done.groupby(["grp", "cohort"], sort=True)["cohort_size"].first()
    rows = []
    for grp in done["grp"].dropna().drop_duplicates():
        if fast is not None:
            periods, users, revenue, size = fast[grp]
            if 0 not in periods:
                continue
        else:
            cell = sums.xs(grp, level="grp", drop_level=True)
            cohorts = cell.index.get_level_values("cohort").unique()  # ascending (sorted groupby)
            periods = sorted(cell.index.get_level_values("period").unique())
            if 0 not in periods:
                continue
            at_row = cohorts.get_indexer(cell.index.get_level_values("cohort"))
            at_col = np.searchsorted(np.asarray(periods), cell.index.get_level_values("period"))
            users = np.full((len(cohorts), len(periods)), np.nan)
            revenue = users.copy()
            users[at_row, at_col] = cell["users"].to_numpy(dtype=float)
            revenue[at_row, at_col] = cell["revenue"].to_numpy(dtype=float)
            size = sizes.xs(grp, level="grp").reindex(cohorts).to_numpy()
        has = ~np.isnan(users)
        c0 = periods.index(0)
        s0 = has[:, c0]
        u0, n0 = float(users[s0, c0].sum()), float(size[s0].sum())
        r0 = u0 / n0
        lo0, hi0 = wilson_interval(u0, n0)
        var = ((1 - r0) / (r0 * n0)) if 0 < r0 < 1 else 0.0
        rpu = float(revenue[s0, c0].sum()) / n0
        rr = 1.0 if revenue[s0, c0].sum() > 0 else math.nan
        rows.append((grp, 0, int(s0.sum()), int(n0), int(u0), r0, lo0, hi0, r0, False, rpu, rr))
        level, prev_count = r0, int(s0.sum())
        for n in sorted(c for c in periods if c > 0):
            if n - 1 not in periods:
                break
            j, k = periods.index(n), periods.index(n - 1)
            step = has[:, j] & has[:, k]
            count = int(step.sum())
            if not count:
                break
            num, den = float(users[step, j].sum()), float(users[step, k].sum())
            level = level * num / den if den > 0 else (0.0 if num == 0 else math.nan)
            if 0 < num < den:
                var += (den - num) / (den * num)
            rev_num, rev_den = float(revenue[step, j].sum()), float(revenue[step, k].sum())
            ratio = rev_num / rev_den if rev_den > 0 else (0.0 if rev_num == 0 else math.nan)
            rr = rr * ratio
            # money per cohort user is no survival share: averaged over the cohorts at N, not chained
            # (period 0 often has no revenue at all — sign-ups — and a chain from 0 stays 0 or nan)
            base = int(size[step].sum())
            rpu = rev_num / float(base)
            half = Z95 * math.sqrt(var)
            lo, hi = ((level * math.exp(-half), min(1.0, level * math.exp(half))) if level > 0
                      else (0.0, 0.0) if level == 0 else (math.nan, math.nan))
            rows.append((grp, n, count, base, int(num), level, lo, hi, num / base, count < prev_count, rpu, rr))
            prev_count = count
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def period_retention(curve: pd.DataFrame, n: int) -> tuple[float, int]:
    """(weighted retention at period n, users behind it) from an average curve; (nan, 0) if absent."""
    row = curve.loc[curve["period"] == n]
    if row.empty:
        return math.nan, 0
    return float(row["retention"].iloc[0]), int(row["base_users"].iloc[0])


# ------------------------------------------------------------------ groups


def group_choices(con, table: str, labels: dict[str, str] | None = None,
                  min_n: int = 30) -> list[segments.SegmentColumn]:
    """Columns other than the canonical ones that can split users into groups, in table order
    (lib.segments.segment_columns): any text column however many values it has (a plan, a company
    among a hundred), a number or date column only with a few; never one that differs on every row
    (an id) or is blank throughout. `labels` maps table column → file column name."""
    src = _source(con, table)
    canonical = {"_row", "user_id", "event_time", "event", "revenue", "quantity", "unit_price",
                 "order_id", "signup_date"}
    labels = labels or {}
    candidates = {c: labels.get(c, c) for c in src.columns if c not in canonical}
    return segments.segment_columns(con, table, candidates, min_n) if candidates else []


def group_attributes(con, table: str) -> list[str]:
    """The columns of `group_choices`, in table order."""
    return [c.column for c in group_choices(con, table)]


def group_retention(con, table: str, attribute: str, opts: CohortOptions = CohortOptions(),
                    max_groups: int = MAX_GROUPS, search: str = "") -> MetricResult:
    """Average retention curve per group of users, groups by `attribute` (a file column).

    A user's group is the attribute's value on their first event that has one (a value that
    changes later does not move the user; ``varying_users`` in the frame counts such users);
    users with no value form "(blank)". The `max_groups` largest groups (by users, then name) whose
    name contains `search` (any case; all when empty) are kept by name, the rest summed as one
    "Other (k groups)" row (lib.segments.top_groups) so groups add up to all users; ``groups`` is 1
    per named group, k on the Other row (``other`` True; listed last however large), and
    ``all_groups`` the column's number of groups.
    retention(g, N) = Σ retained(c, N) / Σ size(c) over group g's cohorts with period N complete;
    ``group_users`` = users in the group; ``lo``/``hi`` Wilson 95%.
    """
    src = _source(con, table)
    if attribute not in src.columns:
        raise BoundaryError(f"Column '{attribute}' is not in the loaded activity file.")
    sql, params = _cells_sql(src, table, opts, attribute)
    raw = _cached(con, table, sql, params, src.version)
    matrix = _finish(raw, opts, src.amount_sql is not None)
    columns = ["group", "group_users", "groups", "other", "all_groups", "period", "cohorts", "base_users", "users",
               "retention", "lo", "hi", "small", "varying_users"]
    if matrix.empty:
        return MetricResult(pd.DataFrame(columns=columns), sql, params, excluded_rows(con, table, opts, src))
    sizes = matrix.loc[matrix["period"] == 0].groupby("grp", as_index=False)["cohort_size"].sum()
    top = segments.top_groups(sizes, "grp", ["cohort_size"], max_groups, search)
    named = set(top.loc[~top["other"], "grp"])
    other_label = top.loc[top["other"], "grp"]
    matrix["grp"] = matrix["grp"].where(matrix["grp"].isin(named), other_label.iloc[0] if len(other_label) else OTHER)
    lumped = _lump(matrix)
    curve = _weighted_curve(lumped).rename(columns={"grp": "group"})
    group_users = lumped.loc[lumped["period"] == 0].groupby("grp")["cohort_size"].sum()
    curve["group_users"] = curve["group"].map(group_users).astype("int64")
    curve["groups"] = curve["group"].map(top.set_index("grp")["groups"]).astype("int64")
    curve["all_groups"] = len(sizes)
    varying = _varying_users(con, table, attribute, src.version)
    curve["varying_users"] = varying
    curve["small"] = False  # set by the page/flags from thresholds; see mark_small
    curve["other"] = curve["group"].map(top.set_index("grp")["other"]).astype(bool)
    return MetricResult(curve.sort_values(["other", "group_users", "group", "period"],
                                          ascending=[True, False, True, True])[columns].reset_index(drop=True),
                        sql, params, excluded_rows(con, table, opts, src))


def _lump(matrix: pd.DataFrame) -> pd.DataFrame:
    """The cells summed per (grp, cohort, period) — sizes, users and revenue summed, complete the first —
    sorted by them. When every cell is one row already (no "Other" of two groups or more), the sums are
    the values (a blank revenue 0) and the frame is only sorted: the groupby cost ~5 ms."""
    keys, cols = ["grp", "cohort", "period"], ["cohort_size", "users", "revenue", "complete"]
    if (matrix["grp"].isna().any() or matrix["complete"].isna().any() or matrix.duplicated(keys).any()
            or not all(pd.api.types.is_integer_dtype(matrix[c]) for c in ("cohort_size", "users"))):
        return matrix.groupby(keys, as_index=False).agg(
            cohort_size=("cohort_size", "sum"), users=("users", "sum"), revenue=("revenue", "sum"),
            complete=("complete", "first"))
    out = matrix[keys + cols].sort_values(keys, kind="stable").reset_index(drop=True)
    out["revenue"] = out["revenue"].astype(float).fillna(0.0) + 0.0
    return out


def group_table(curve: pd.DataFrame, periods: tuple[int, ...], unit: str = "Month") -> pd.DataFrame:
    """One row per group of a `group_retention` frame, largest first (Other last): Group, Users
    (n, the group's users), and for each period N in `periods` the retention and its 95% interval
    (the curve's lo/hi). A period a group has not reached yet is left empty; one no group has
    reached is left out."""
    if (len(curve) and not curve["group"].isna().any() and pd.api.types.is_integer_dtype(curve["group_users"])
            and not curve["other"].isna().any() and not curve.duplicated(["group", "period"]).any()):
        # one row per (group, period): each value placed by the group's code, the order sorted once — the
        # reindexes and sorts below cost ~7 ms a click for a table of a few rows
        codes, _ = pd.factorize(curve["group"])
        first = np.unique(codes, return_index=True)[1]  # each group's first row, groups in order of appearance
        names, users = curve["group"].to_numpy()[first], curve["group_users"].to_numpy()[first]
        other = curve["other"].to_numpy(dtype=bool)[first]
        order = (sorted(np.flatnonzero(~other), key=lambda i: (-int(users[i]), names[i]))
                 + list(np.flatnonzero(other)))
        rows = first[order]
        cells = {"Group": curve["group"].iloc[rows].reset_index(drop=True),
                 "Users": curve["group_users"].iloc[rows].reset_index(drop=True)}
        period = curve["period"].to_numpy()
        for n in periods:
            at = period == n
            for col, name in (("retention", f"{unit} {n} retention"), ("lo", f"{unit} {n} low (95%)"),
                              ("hi", f"{unit} {n} high (95%)")):
                value = np.full(len(first), np.nan)
                value[codes[at]] = curve[col].to_numpy(dtype=float)[at]
                if not np.isnan(value).all():
                    cells[name] = value[order]
        return pd.DataFrame(cells)
    base = curve.drop_duplicates("group")[["group", "group_users", "other"]].set_index("group")
    out = base.rename(columns={"group_users": "Users"})
    for n in periods:
        at = curve.loc[curve["period"] == n].set_index("group")
        for col, name in (("retention", f"{unit} {n} retention"), ("lo", f"{unit} {n} low (95%)"),
                          ("hi", f"{unit} {n} high (95%)")):
            out[name] = at[col].reindex(out.index).astype(float)
    out = out.dropna(axis=1, how="all")
    out = out.reset_index().rename(columns={"group": "Group"})
    other = out.pop("other").astype(bool)
    return pd.concat([out[~other].sort_values(["Users", "Group"], ascending=[False, True]), out[other]],
                     ignore_index=True)


def mark_small(frame: pd.DataFrame, min_size: float) -> pd.DataFrame:
    """Mark group points whose base (users behind the point) is under `min_size` (a threshold)."""
    out = frame.copy()
    out["small"] = out["base_users"] < min_size
    return out


def _varying_users(con, table: str, attribute: str, version=_UNREAD) -> int:
    a = quote_ident(attribute)
    return int(_cached(con, table, f"SELECT COUNT(*) AS k FROM (SELECT user_id FROM {quote_ident(table)} "
                                   f"WHERE user_id IS NOT NULL GROUP BY user_id HAVING COUNT(DISTINCT {a}) > 1)",
                       version=version).iloc[0, 0])


# ------------------------------------------------------------------ active users


def active_users(con, table: str) -> MetricResult:
    """DAU, WAU, MAU and stickiness per calendar day from the first to the last day of data.

    DAU(d) = distinct users with a usable event on day d; WAU(d) = distinct users active in the 7
    days ending on d; MAU(d) = the same over 30 days. dau_mau(d) = mean DAU over the 30 days ending
    on d / MAU(d) (the share of monthly users active on an average day; DAU alone swings with the
    weekday); wau_mau(d) = WAU(d) / MAU(d). ``full_window`` is False for the first 29 days, whose
    30-day window starts before the data does (MAU there is too low). Ratios are blank when MAU is 0.
    Computed in one pass: each active day a of a user extends that user's coverage to a+W−1, so a
    user counts once per day however many events they had.
    """
    src = _source(con, table)
    t = quote_ident(table)
    sql = f"""WITH usable AS (
    SELECT user_id, event_time FROM {t}
    WHERE user_id IS NOT NULL AND event_time IS NOT NULL AND NOT {src.cancel_sql}
), {_NUMBERS},
days AS (SELECT DISTINCT user_id, CAST(event_time AS DATE) AS d FROM usable),
seq AS (SELECT user_id, d, LAG(d) OVER (PARTITION BY user_id ORDER BY d) AS prev FROM days),
deltas AS (  -- +1 where a user's coverage starts, -1 the day after it ends (W = 7 and 30)
    SELECT day, SUM(dw) AS dw, SUM(dm) AS dm FROM (
        SELECT CASE WHEN prev IS NULL THEN d ELSE GREATEST(d, prev + 7) END AS day, 1 AS dw, 0 AS dm FROM seq
        UNION ALL SELECT d + 7, -1, 0 FROM seq
        UNION ALL SELECT CASE WHEN prev IS NULL THEN d ELSE GREATEST(d, prev + 30) END, 0, 1 FROM seq
        UNION ALL SELECT d + 30, 0, -1 FROM seq
    ) GROUP BY day
),
dau AS (SELECT d AS day, COUNT(*) AS dau FROM days GROUP BY d),
cal AS (  -- every day from the first to the last
    SELECT b.lo + g.n AS day
    FROM (SELECT MIN(d) AS lo, MAX(d) AS hi FROM days) b JOIN numbers g ON g.n <= date_diff('day', b.lo, b.hi)
),
series AS (
    SELECT c.day, COALESCE(a.dau, 0) AS dau,
           SUM(COALESCE(x.dw, 0)) OVER w AS wau, SUM(COALESCE(x.dm, 0)) OVER w AS mau
    FROM cal c LEFT JOIN dau a USING (day) LEFT JOIN deltas x USING (day)
    WINDOW w AS (ORDER BY c.day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
SELECT day, dau, wau, mau,
       AVG(dau) OVER (ORDER BY day ROWS BETWEEN 29 PRECEDING AND CURRENT ROW) AS dau_avg30,
       AVG(dau) OVER (ORDER BY day ROWS BETWEEN 29 PRECEDING AND CURRENT ROW) / NULLIF(mau, 0) AS dau_mau,
       wau / NULLIF(mau, 0) AS wau_mau,
       day >= MIN(day) OVER () + 29 AS full_window
FROM series ORDER BY day"""
    frame = _cached(con, table, sql, version=src.version)
    if not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"])
        for col in ("dau", "wau", "mau"):
            frame[col] = frame[col].astype("int64")
    return MetricResult(frame, sql, [], excluded_rows(con, table, src=src))


# ------------------------------------------------------------------ report contract


def _dataset(ws):
    dataset = ws.get("activity")
    return dataset if dataset is not None and dataset.table else None


def cohort_tests(matrix: pd.DataFrame, thresholds, period: int = 1) -> pd.DataFrame:
    """Each cohort's retention in `period` against the pooled trailing baseline, as one family.

    For each complete cell (c, period), baseline = Σ retained / Σ size over the previous
    `baseline_periods` cohorts with that cell complete; `two_proportion_test` (Fisher's exact when a
    cell expects under 5) gives p. Tested when the cohort and its baseline both have at least
    `min_group_size` users. The family is every tested cohort: p_bh (Benjamini–Hochberg) and
    p_bonferroni (`stats.adjust_family`); flagged = below its baseline with p_bh < `baseline_alpha`.
    Cohorts differ by season and mix far more than their users' coin flips: φ = `overdispersion` of
    all complete cells (Pearson χ² / (k − 1), at least 1) widens the test for the severity:
    p_wide = 2·(1 − Φ(|z| / √φ)); 'high' when p_wide is significant after Bonferroni over the
    family, else 'medium' — a high flag holds even against the cohorts' usual spread.
    Columns: cohort, cohort_label, users, cohort_size, rate, base_users, base_size, baseline,
    prior, z, p_value, p_bh, phi, p_wide, p_bonferroni, flagged, severity.
    """
    cells = matrix.loc[(matrix["period"] == period) & matrix["complete"].astype(bool)].sort_values("cohort")
    k, alpha, min_n = int(thresholds["baseline_periods"]), thresholds["baseline_alpha"], thresholds["min_group_size"]
    # the four columns read as lists (the values itertuples gave) — itertuples over every column cost ~2 ms
    rows, users, sizes = [], cells["users"].tolist(), cells["cohort_size"].tolist()
    cohorts, labels = cells["cohort"].tolist(), cells["cohort_label"].tolist()
    phi = overdispersion(users, sizes)
    for i in range(len(users)):
        prior = range(max(0, i - k), i)
        x2, n2 = sum(users[j] for j in prior), sum(sizes[j] for j in prior)
        if not prior or sizes[i] < min_n or n2 < min_n:
            continue
        test = two_proportion_test(users[i], sizes[i], x2, n2)
        rows.append({"cohort": pd.Timestamp(cohorts[i]), "cohort_label": labels[i], "users": int(users[i]),
                     "cohort_size": int(sizes[i]), "rate": test.rate, "base_users": int(x2),
                     "base_size": int(n2), "baseline": test.baseline, "prior": len(prior), "z": test.z,
                     "p_value": test.p_value})
    frame = pd.DataFrame(rows, columns=["cohort", "cohort_label", "users", "cohort_size", "rate", "base_users",
                                        "base_size", "baseline", "prior", "z", "p_value"])
    frame["phi"] = phi
    frame["p_wide"] = [2 * (1 - normal_cdf(abs(z) / math.sqrt(phi))) for z in frame["z"]]
    frame["p_bh"], frame["p_bonferroni"], frame["flagged"], frame["severity"] = adjust_family(
        frame["p_value"], frame["rate"] < frame["baseline"], alpha, strict_p_values=frame["p_wide"])
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


def cohort_flags(matrix: pd.DataFrame, thresholds, period: int = 1) -> list[Flag]:
    """Cohorts whose retention in `period` is significantly below the pooled trailing baseline,
    after adjusting for the number of cohorts tested (`cohort_tests`)."""
    tests = cohort_tests(matrix, thresholds, period)
    return [Flag("cohorts", f"Period {period} retention", f"Cohort {row.cohort_label}", row.rate, row.baseline,
                 f"two-proportion z={row.z:.2f}, n={row.cohort_size:,} vs {row.base_size:,} in the {row.prior} prior "
                 f"cohorts, p={row.p_value:.2g}; Benjamini–Hochberg over {len(tests)} cohorts p={row.p_bh:.2g}; "
                 f"cohorts spread φ={row.phi:.2f}× binomial",
                 row.severity, questions_for("cohorts", "Retention"), row.cohort)
            for row in tests[tests["flagged"]].itertuples(index=False)]


def area_flags(ws) -> list[Flag]:
    """Cohorts with month-1 retention significantly below the trailing cohorts; [] without data."""
    dataset = _dataset(ws)
    if dataset is None:
        return []
    matrix = retention_matrix(ws.con, dataset.table).frame
    if matrix.empty:
        return []
    flags = cohort_flags(matrix, ws.thresholds, 1)
    for f in flags:
        f.metric = "Month 1 retention"
    return flags


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """Retention matrix (users and %), the average curve, daily active users and repeat purchase (for order
    lines), for the export."""
    dataset = _dataset(ws)
    if dataset is None:
        return {}
    matrix = retention_matrix(ws.con, dataset.table)
    tables = {
        "Cohort retention": matrix.frame.drop(columns=["cohort_label"]),
        "Retention matrix (%)": wide(matrix.frame, "retention"),
        "Retention matrix (users)": wide(matrix.frame, "users"),
        "Average retention": average_retention(matrix).frame,
        "Active users": active_users(ws.con, dataset.table).frame,
    }
    if has_orders(ws.con, dataset.table):  # issue 22: repeat purchase within the threshold's days
        tables["Repeat purchase"] = repeat_purchase(ws.con, dataset.table, ws.thresholds["cohorts_repeat_days"]).frame
    return tables


def wide(matrix: pd.DataFrame, value: str, prefix: str = "") -> pd.DataFrame:
    """The matrix as a table: one row per cohort (with its size), one column per period N.

    Cells not yet started are blank; incomplete cells keep their value (marked in the charts).
    """
    if matrix.empty:
        return pd.DataFrame(columns=["Cohort", "Users"])
    cohorts, row_at = np.unique(matrix["cohort"].to_numpy(), return_inverse=True)
    periods, col_at = np.unique(matrix["period"].to_numpy(), return_inverse=True)
    if (matrix[value].dtype == "float64" and not matrix[["cohort_label", "cohort_size"]].isna().to_numpy().any()
            and len(np.unique(row_at * len(periods) + col_at)) == len(matrix)):
        # a float column placed by position, each cohort's label and size from its first row: the pivot,
        # groupby and join cost ~4 ms on a weekly matrix (the CSV of revenue is built on every click)
        grid = np.full((len(cohorts), len(periods)), np.nan)
        grid[row_at, col_at] = matrix[value].to_numpy()
        first = np.unique(row_at, return_index=True)[1]
        cells = {"Cohort": matrix["cohort_label"].to_numpy()[first], "Users": matrix["cohort_size"].to_numpy()[first]}
        cells.update({f"{prefix}{int(p)}": grid[:, j] for j, p in enumerate(periods)})
        return pd.DataFrame(cells)
    table = matrix.pivot(index="cohort", columns="period", values=value)
    table.columns = [f"{prefix}{int(c)}" for c in table.columns]
    heads = matrix.groupby("cohort")[["cohort_label", "cohort_size"]].first()
    table = heads.join(table).sort_index().reset_index(drop=True)
    return table.rename(columns={"cohort_label": "Cohort", "cohort_size": "Users"})


# ------------------------------------------------------------------ repeat purchase (issue 22)

def has_orders(con, table: str) -> bool:
    """True when the table can tell orders: an order id column, or revenue (or quantity × unit price)."""
    src = _source(con, table)
    return "order_id" in src.columns or src.amount_sql is not None


def repeat_purchase(con, table: str, days: float) -> MetricResult:
    """Share of customers who order again within `days` days of their first order.

    - An **order line** is a usable row (user id, readable time, not a cancellation) that is an order:
      with an order id column, a row with an order id; otherwise a row with a positive amount
      (revenue, or quantity × unit price). An **order** is one order id per customer (its time: its
      earliest line), or without order ids one order time per customer.
    - A customer's first order t1 and second order t2 (the next order by time; a second order id at the
      same time counts). Repeat within N days: t2 − t1 ≤ N days.
    - **Eligible**: customers whose first order is at least N days before the data's end (the last
      usable event of the file), so each had the whole N days to order again; the others are left out
      and counted (too_recent).
    - share = repeaters / eligible customers (ratio 0–1) with its 95% Wilson interval (low, high).
    One row: customers, eligible, too_recent, repeaters, share, low, high, median_days_to_second
    (median t2 − t1 in days over the repeaters), orders (all orders counted), data_end, days.
    Raises BoundaryError when the table has neither order ids nor amounts.
    """
    src = _source(con, table)
    if not has_orders(con, table):
        raise BoundaryError(f"Repeat purchase needs order lines: an order / invoice ID column or a revenue "
                            f"(or quantity and unit price) column. The activity table has: "
                            f"{', '.join(c for c in src.columns if not c.startswith('_'))}. Map one under “Columns”.")
    if not days or days <= 0:
        raise BoundaryError("Repeat purchase: the number of days must be above 0.")
    t = quote_ident(table)
    if "order_id" in src.columns:
        line = "NULLIF(trim(CAST(order_id AS VARCHAR)), '') IS NOT NULL"
        order_key = "trim(CAST(order_id AS VARCHAR))"
    else:
        line = f"COALESCE({src.amount_sql}, 0) > 0"
        order_key = "CAST(event_time AS VARCHAR)"
    sql = f"""WITH usable AS (
    SELECT * FROM {t} WHERE user_id IS NOT NULL AND event_time IS NOT NULL AND NOT {src.cancel_sql}
),
data_end AS (SELECT MAX(event_time) AS data_end FROM usable),
orders AS (  -- one row per customer and order: its earliest line
    SELECT CAST(user_id AS VARCHAR) AS user_id, {order_key} AS order_key, MIN(event_time) AS t
    FROM usable WHERE {line} GROUP BY 1, 2
),
ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY t, order_key) AS k FROM orders),
customers AS (
    SELECT user_id, MIN(t) FILTER (WHERE k = 1) AS t1, MIN(t) FILTER (WHERE k = 2) AS t2, COUNT(*) AS orders
    FROM ranked GROUP BY 1
),
marked AS (
    SELECT *, t1 <= data_end - ? * INTERVAL 1 DAY AS eligible,
           date_diff('second', t1, t2) / 86400.0 AS gap_days
    FROM customers CROSS JOIN data_end
)
SELECT COUNT(*) AS customers, COUNT(*) FILTER (WHERE eligible) AS eligible,
       COUNT(*) FILTER (WHERE NOT eligible) AS too_recent,
       COUNT(*) FILTER (WHERE eligible AND gap_days <= ?) AS repeaters,
       quantile_cont(gap_days, 0.5) FILTER (WHERE eligible AND gap_days <= ?) AS median_days_to_second,
       COALESCE(SUM(orders), 0) AS orders, MAX(data_end) AS data_end
FROM marked"""
    params = [float(days)] * 3
    frame = con.execute(sql, params).df()
    row = frame.iloc[0]
    eligible, repeaters = int(row["eligible"]), int(row["repeaters"])
    frame["share"] = repeaters / eligible if eligible else math.nan
    frame["low"], frame["high"] = wilson_interval(repeaters, eligible)
    frame["days"] = float(days)
    # rows left out as everywhere on the page; customers too recent to judge are in the frame (too_recent)
    return MetricResult(frame, sql, params, excluded_rows(con, table, src=src))

"""Email boundaries (SPEC §1): pooled rates, frequency, topic mix, list growth, own-history tests, flags.

Every rate is *pooled*: Σ numerator / Σ denominator over the campaigns in scope, never an average
of per-campaign rates (a 100-recipient send must not weigh as much as a 10,000-recipient one).

| rate                 | numerator             | denominator   |
|----------------------|-----------------------|---------------|
| delivery rate        | delivered             | sent          |
| open rate            | unique opens          | delivered     |
| click-to-open (CTOR) | unique clicks         | unique opens  |
| click rate (CTR)     | unique clicks         | delivered     |
| unsubscribe rate     | unsubscribes          | delivered     |
| spam complaint rate  | spam complaints       | delivered     |

delivered = sent − bounces when only bounces are given; sent = delivered + bounces when only
delivered and bounces are given (bounces = soft + hard when only those are given).

Input is either an `email_campaigns` table (one row per send) or an `email_events` table (one row per
recipient event), which `lib.metrics.email_events` aggregates to the same shape. `email_data()`
builds that common shape once (an `EmailData`: SQL + params + rows left out), and every metric here
starts from it. A row is left out — counted by reason, shown on the page — when it has no send date,
no delivered count (or 0 delivered), a blank count cell, a negative count, or impossible counts
(delivered > sent, opens > delivered, clicks > opens, unsubscribes or complaints > delivered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from lib import stats
from lib.config import EMAIL_MPP_START, Thresholds
from lib.metrics import email_rows
from lib.metrics.email_events import events_campaign_sql, events_excluded
from lib.periods import period_end, period_label, period_sql, period_start, period_starts, previous_range
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.engine import table_columns
from lib.sql import quote_ident, values_cte

AREA = "email"
KINDS = ("email_campaigns", "email_events")
NO_TOPIC, NO_LIST, OTHER = "(no topic)", "(no list)", "Other"
# Vendors print rates with two decimals of a percent: a difference under 0.01 percentage point is
# rounding, not a different definition.
VENDOR_ROUNDING = 0.0001


@dataclass(frozen=True)
class Rate:
    key: str
    label: str
    numerator: str  # SQL over the common shape's columns (constants of this module, never user text)
    denominator: str
    direction: str  # "below": lower is worse; "above": higher is worse
    threshold_key: str | None
    definition: str


RATES: tuple[Rate, ...] = (
    Rate("delivery_rate", "Delivery rate", "delivered", "sent", "below", "email_delivery_rate_min",
         "delivered ÷ sent"),
    Rate("open_rate", "Open rate", "opens", "delivered", "below", "email_open_rate_min",
         "unique opens ÷ delivered"),
    Rate("ctor", "Click-to-open rate", "clicks", "opens", "below", "email_ctor_min",
         "unique clicks ÷ unique opens"),
    Rate("click_rate", "Click rate", "clicks", "delivered", "below", "email_click_rate_min",
         "unique clicks ÷ delivered"),
    Rate("unsubscribe_rate", "Unsubscribe rate", "unsubscribes", "delivered", "above",
         "email_unsubscribe_rate_max", "unsubscribes ÷ delivered"),
    Rate("spam_rate", "Spam complaint rate", "complaints", "delivered", "above", "email_spam_rate_max",
         "spam complaints ÷ delivered"),
)
# Rates with machine activity taken out (only when the export or log says how much there was).
HUMAN_RATES: tuple[Rate, ...] = (
    Rate("open_rate_human", "Open rate without machine opens", "opens - machine_opens", "delivered",
         "below", None, "(unique opens − machine opens) ÷ delivered"),
    Rate("click_rate_human", "Click rate without scanner clicks", "clicks - scanner_clicks", "delivered",
         "below", None, "(unique clicks − scanner clicks) ÷ delivered"),
)
RATE_BY_KEY = {r.key: r for r in RATES + HUMAN_RATES}
_GRAIN_STEP = {"week": (7, "days"), "month": (1, "months"), "quarter": (3, "months"), "day": (1, "days"),
               "year": (12, "months")}
_COUNTS = ("sent", "delivered", "bounces", "opens", "machine_opens", "clicks", "scanner_clicks",
           "unsubscribes", "scanner_unsubscribes", "complaints")


# --------------------------------------------------------------------------- the common shape

@dataclass
class EmailData:
    """One row per campaign send in a common shape, as SQL (`sql` + `params`), whatever the input.

    Columns: _row, campaign, send_date, subject, topic, list_name, sent, delivered, bounces, opens,
    machine_opens, clicks, scanner_clicks, unsubscribes, scanner_unsubscribes, complaints, list_size,
    vendor_open_rate, vendor_click_rate, _problem (NULL for usable rows, else the reason).
    `available` names the optional measures the file has (sent, unsubscribes, complaints,
    machine_opens, scanner_clicks, list_size, vendor_open_rate, vendor_click_rate, topic, list_name).
    """

    table: str
    kind: str
    sql: str
    params: list
    excluded: dict[str, int]
    available: frozenset[str]
    first_send: pd.Timestamp | None = None
    last_send: pd.Timestamp | None = None
    columns: frozenset[str] = frozenset()  # the table's own columns when this was built (empty: not read)

    def has(self, name: str) -> bool:
        return name in self.available

    def cte(self) -> tuple[str, list]:
        """'WITH raw AS (…), base AS (usable rows)' and its params, for metrics to extend."""
        return (f"WITH raw AS ({self.sql}\n),\nbase AS (SELECT * FROM raw WHERE _problem IS NULL)",
                list(self.params))

    def usable_rates(self) -> tuple[Rate, ...]:
        """The rates this file can give (no delivery rate without sent/bounces, and so on)."""
        need = {"sent": "sent", "unsubscribes": "unsubscribes", "complaints": "complaints",
                "machine_opens": "machine_opens", "scanner_clicks": "scanner_clicks"}
        out = []
        for rate in RATES + HUMAN_RATES:
            used = {w for w in (rate.numerator + " " + rate.denominator).replace("-", " ").split()}
            if all(self.has(need[w]) for w in used if w in need):
                out.append(rate)
        return tuple(out)


@dataclass(frozen=True)
class Filters:
    """What the user picked: sends from `start` (inclusive) to `end` (exclusive), lists, topics."""

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    lists: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()

    def previous(self) -> "Filters":
        """The range of equal length just before this one (for tile deltas)."""
        if self.start is None or self.end is None:
            raise ValueError("previous() needs a start and an end")
        start, end = previous_range(self.start, self.end)
        return replace(self, start=start, end=end)

    def where(self, dates: bool = True) -> tuple[str, list]:
        """SQL condition over the common shape, with its params; `dates=False` ignores the range."""
        parts, params = ["TRUE"], []
        if dates and self.start is not None:
            parts.append("send_date >= ?")
            params.append(pd.Timestamp(self.start).to_pydatetime())
        if dates and self.end is not None:
            parts.append("send_date < ?")
            params.append(pd.Timestamp(self.end).to_pydatetime())
        if self.lists:
            parts.append("list_name IN (SELECT unnest(CAST(? AS VARCHAR[])))")
            params.append(list(self.lists))
        if self.topics:
            parts.append("topic IN (SELECT unnest(CAST(? AS VARCHAR[])))")
            params.append(list(self.topics))
        return " AND ".join(parts), params


def _table_columns(con, table: str) -> set[str]:
    return {name for name, _ in table_columns(con, table)}


def _campaigns_sql(table: str, cols: set[str]) -> str:
    """The email_campaigns table in the common shape (derivations of sent/delivered/bounces)."""
    def col(name: str, sql_type: str = "BIGINT") -> str:
        return quote_ident(name) if name in cols else f"CAST(NULL AS {sql_type})"

    bounces = col("bounces")
    if "soft_bounces" in cols and "hard_bounces" in cols:
        bounces = f"COALESCE({bounces}, soft_bounces + hard_bounces)"
    text = lambda name: f"NULLIF(trim({quote_ident(name)}), '')" if name in cols else "CAST(NULL AS VARCHAR)"
    return f"""
    SELECT _row, {text('campaign')} AS campaign, send_date, {text('subject')} AS subject,
           {text('topic')} AS topic, {text('list_name')} AS list_name,
           COALESCE({col('sent')}, {col('delivered')} + {bounces}) AS sent,
           COALESCE({col('delivered')}, {col('sent')} - {bounces}) AS delivered,
           COALESCE({bounces}, {col('sent')} - {col('delivered')}) AS bounces,
           unique_opens AS opens, {col('machine_opens')} AS machine_opens, unique_clicks AS clicks,
           CAST(NULL AS BIGINT) AS scanner_clicks, {col('unsubscribes')} AS unsubscribes,
           CAST(NULL AS BIGINT) AS scanner_unsubscribes, {col('spam_complaints')} AS complaints,
           {col('list_size')} AS list_size, {col('vendor_open_rate', 'DOUBLE')} AS vendor_open_rate,
           {col('vendor_click_rate', 'DOUBLE')} AS vendor_click_rate
    FROM {quote_ident(table)}"""


def email_data(con, table: str, scanner_seconds: float = 10.0) -> EmailData:
    """Build the common one-row-per-send shape for an email_campaigns or email_events table.

    Derivations (campaign reports): sent = delivered + bounces when sent is blank; delivered =
    sent − bounces when delivered is blank; bounces = soft + hard when total bounces are missing.
    Event logs are aggregated by `email_events.events_campaign_sql` (unique recipients per event;
    first opens/clicks/unsubscribes within `scanner_seconds` of delivery counted as machine activity).
    """
    cols = _table_columns(con, table)
    is_events = "event" in cols and "recipient" in cols
    excluded: dict[str, int] = {}
    if is_events:
        inner, params = events_campaign_sql(table, cols, scanner_seconds)
        excluded.update(events_excluded(con, table))
        available = {"sent", "unsubscribes", "complaints", "machine_opens", "scanner_clicks"}
        available |= {c for c in ("topic", "list_name") if c in cols}
        checks = []
    else:
        inner, params = _campaigns_sql(table, cols), []
        has_bounces = "bounces" in cols or {"soft_bounces", "hard_bounces"} <= cols
        available = {c for c in ("machine_opens", "list_size", "vendor_open_rate", "vendor_click_rate",
                                 "topic", "list_name") if c in cols}
        if "sent" in cols or ("delivered" in cols and has_bounces):
            available.add("sent")
        if "unsubscribes" in cols:
            available.add("unsubscribes")
        if "spam_complaints" in cols:
            available.add("complaints")
        checks = [(f"{c} IS NULL", f"{label} blank or unreadable") for c, label in
                  (("unsubscribes", "unsubscribes"), ("complaints", "spam complaints"))
                  if c in available]
    problem = [
        ("send_date IS NULL", "send date blank or unreadable"),
        ("delivered IS NULL", "no delivered or sent count"),
        ("least(COALESCE(sent, 0), delivered, COALESCE(bounces, 0), COALESCE(opens, 0), COALESCE(clicks, 0), "
         "COALESCE(unsubscribes, 0), COALESCE(complaints, 0), COALESCE(machine_opens, 0)) < 0",
         "negative count"),
        ("delivered = 0", "0 delivered (no denominator)"),
        ("opens IS NULL", "unique opens blank or unreadable"),
        ("clicks IS NULL", "unique clicks blank or unreadable"),
        *checks,
        ("delivered > sent", "delivered more than sent"),
        ("opens > delivered", "unique opens more than delivered"),
        ("clicks > opens", "unique clicks more than unique opens"),
        ("unsubscribes > delivered OR complaints > delivered", "unsubscribes or complaints more than delivered"),
        ("machine_opens > opens", "machine opens more than unique opens"),
    ]
    case = "CASE " + " ".join(f"WHEN {cond} THEN '{reason}'" for cond, reason in problem) + " END"
    sql = f"""
SELECT _row, COALESCE(campaign, '(unnamed, row ' || _row || ')') AS campaign, send_date, subject,
       COALESCE(topic, '{NO_TOPIC}') AS topic, COALESCE(list_name, '{NO_LIST}') AS list_name,
       {', '.join(_COUNTS)}, list_size, vendor_open_rate, vendor_click_rate, {case} AS _problem
FROM ({inner}
) AS shaped"""
    data = EmailData(table, "email_events" if is_events else "email_campaigns", sql, params, excluded,
                     frozenset(available), columns=frozenset(cols))
    cte, p = data.cte()
    rows = con.execute(f"{cte} SELECT _problem, COUNT(*) FROM raw WHERE _problem IS NOT NULL GROUP BY 1 "
                       "ORDER BY 2 DESC", p).fetchall()
    data.excluded.update({reason: int(n) for reason, n in rows})
    first, last = con.execute(f"{cte} SELECT MIN(send_date), MAX(send_date) FROM base", p).fetchone()
    data.first_send = pd.Timestamp(first) if first is not None else None
    data.last_send = pd.Timestamp(last) if last is not None else None
    return data


def base_rows(con, data: EmailData) -> pd.DataFrame:
    """The usable sends of `data`, read once per dataset: what the figures below take as `rows` to be
    computed in pandas instead of a query each (`lib.metrics.email_rows`)."""
    return email_rows.base_rows(con, data)


def choices(con, data: EmailData, column: str) -> list[str]:
    """Distinct lists or topics (for the filters), biggest by delivered first."""
    if column not in ("list_name", "topic"):
        raise ValueError(column)
    cte, params = data.cte()
    rows = con.execute(f"{cte} SELECT {column}, SUM(delivered) d FROM base GROUP BY 1 ORDER BY d DESC, 1",
                       params).fetchall()
    return [r[0] for r in rows]


def default_grain(first: pd.Timestamp | None, last: pd.Timestamp | None) -> str:
    """Week for under six months of sends, month up to three years, quarter beyond.

    >>> default_grain(pd.Timestamp('2017-02-24'), pd.Timestamp('2017-04-11'))
    'week'
    >>> default_grain(pd.Timestamp('2024-10-14'), pd.Timestamp('2026-10-15'))
    'month'
    """
    if first is None or last is None:
        return "month"
    days = (pd.Timestamp(last) - pd.Timestamp(first)).days
    return "week" if days < 183 else "month" if days <= 3 * 366 else "quarter"


# --------------------------------------------------------------------------- pooled rates

def _sums_sql(rates: tuple[Rate, ...] = RATES + HUMAN_RATES, count_as: str = "sends") -> str:
    """Aggregates over base rows: sends, count sums, and x/n per rate (rows where both are known)."""
    parts = [f"COUNT(*) AS {count_as}"] + [f"SUM({c}) AS {c}" for c in _COUNTS]
    for r in rates:
        known = f"({r.numerator}) IS NOT NULL AND ({r.denominator}) IS NOT NULL"
        parts.append(f"SUM(CASE WHEN {known} THEN {r.numerator} END) AS {r.key}_x")
        parts.append(f"SUM(CASE WHEN {known} THEN {r.denominator} END) AS {r.key}_n")
    return ",\n       ".join(parts)


def _rates_sql(rates: tuple[Rate, ...] = RATES + HUMAN_RATES) -> str:
    return ", ".join(f"CAST({r.key}_x AS DOUBLE) / NULLIF({r.key}_n, 0) AS {r.key}" for r in rates)


# "Promo | Combo 1" and "Promo | Combo 2" are an A/B split: simultaneous halves of one audience.
VARIANT_SUFFIX = r"\s*\|[^|]*$"


def _sends_cte(rates: tuple[Rate, ...] = RATES + HUMAN_RATES, period: bool = True) -> str:
    """'sends' CTE over a `scoped` CTE: one row per send, the variants of an A/B split merged.

    Variants = rows to the same list, of the same topic, on the same day, whose campaign names
    are equal once a trailing ' | …' label is cut off. They share the send's subject, time and
    audience, so they are one subject for tests and flags and one cluster for intervals.
    Columns: _row (first row), campaign ('Promo (2 variants)' when merged), send_date (first),
    period, topic, list_name, variants, the count sums, `<rate>_x`, `<rate>_n`.
    Its one parameter is VARIANT_SUFFIX.
    """
    return f"""sends AS (
    SELECT MIN(_row) AS _row,
           CASE WHEN COUNT(*) = 1 THEN MIN(campaign) ELSE MIN(stem) || ' (' || COUNT(*) || ' variants)' END
               AS campaign,
           MIN(send_date) AS send_date, {'MIN(period) AS period, ' if period else ''}topic, list_name,
           MAX(list_size) AS list_size,
           {_sums_sql(rates, "variants")}
    FROM (SELECT *, regexp_replace(campaign, ?, '') AS stem FROM scoped) AS v
    GROUP BY list_name, topic, stem, CAST(send_date AS DATE)
)"""


def _resum_sql(rates: tuple[Rate, ...] = RATES + HUMAN_RATES) -> str:
    """Aggregates over `sends` rows: rows in the file (sends), count sums, x/n per rate."""
    parts = ["SUM(variants) AS sends"] + [f"SUM({c}) AS {c}" for c in _COUNTS]
    parts += [f"SUM({r.key}_x) AS {r.key}_x, SUM({r.key}_n) AS {r.key}_n" for r in rates]
    return ",\n       ".join(parts)


def sends(con, data: EmailData, filters: Filters, grain: str = "month", rows: pd.DataFrame | None = None) -> MetricResult:
    """One row per send in range (A/B variants merged, see `_sends_cte`) with its rates and period.

    The unit of the per-send flags and own-history tests, and the cluster of the pooled intervals.
    `rows`: `base_rows(con, data)`; the frame is then computed from it in pandas without a query (the
    same frame, `lib.metrics.email_rows`); the SQL returned is the query either way (what "Show SQL" shows).
    """
    cte, params = data.cte()
    where, wp = filters.where()
    sql = f"""{cte},
scoped AS (SELECT *, {period_sql("send_date", grain)} AS period FROM base WHERE {where}),
{_sends_cte()}
SELECT *, {_rates_sql()} FROM sends ORDER BY send_date, _row"""
    all_params = params + wp + [VARIANT_SUFFIX]
    frame = (email_rows.sends(rows, filters, grain, RATES + HUMAN_RATES, _COUNTS) if rows is not None
             else con.execute(sql, all_params).df())
    frame["period"] = pd.to_datetime(frame["period"])
    return MetricResult(frame, sql, all_params, dict(data.excluded))


def cluster_intervals(send_rows: pd.DataFrame, by: str, key: str, z: float = stats.Z95) -> pd.DataFrame:
    """Pooled `key` rate per `by` group with its cluster-robust 95 % interval (one cluster per send,
    `lib.stats.cluster_rate_interval`; a group of one send gets its exact binomial interval, the
    only one there is). `z` sets the level (1.96 → 95 %). Columns: by, rate, low, high, clusters."""
    # Groups in order of first appearance (groupby(sort=False)), each from plain arrays: a pandas
    # filter per group cost more than the interval; one-send groups' exact intervals in one call.
    codes, values = pd.factorize(send_rows[by], sort=False)
    xs, ns = send_rows[f"{key}_x"].to_numpy(dtype=float, na_value=np.nan), \
        send_rows[f"{key}_n"].to_numpy(dtype=float, na_value=np.nan)
    usable = (codes >= 0) & ~np.isnan(ns) & (ns > 0)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))
    rows, single = [], []
    for i, value in enumerate(values):
        members = order[bounds[i]:bounds[i + 1]]
        members = members[usable[members]]
        if len(members) == 0:
            rows.append({by: value, "rate": math.nan, "low": math.nan, "high": math.nan, "clusters": 0})
            continue
        rate, low, high = stats.cluster_rate_interval(xs[members], ns[members], z)
        if len(members) == 1:
            single.append((len(rows), members[0]))
        rows.append({by: value, "rate": rate, "low": low, "high": high, "clusters": len(members)})
    if single:
        at = [m for _, m in single]
        lows, highs = stats.exact_intervals(xs[at], ns[at], 2 * (1 - stats.normal_cdf(z)))
        for (row, _), low, high in zip(single, lows.tolist(), highs.tolist()):
            rows[row]["low"], rows[row]["high"] = low, high
    return pd.DataFrame(rows, columns=[by, "rate", "low", "high", "clusters"])


def _group_intervals(pairs: list, groups: int, z: float = stats.Z95) -> tuple[np.ndarray, np.ndarray]:
    """`cluster_intervals`' low and high for groups 0 … groups − 1 from (group, x, n) of their sends with
    n > 0, in group order (NaN for a group without one): the same calls on the same arrays, no frames."""
    low, high = np.full(groups, math.nan), np.full(groups, math.nan)
    if not pairs:
        return low, high
    g, xs, ns = (np.array(v) for v in zip(*pairs))
    bounds = np.searchsorted(g, np.arange(groups + 1))
    single = []
    for i in range(groups):
        if bounds[i] == bounds[i + 1]:
            continue
        # copies, as a group's members were: numpy's float sums may differ in the last bit with the alignment
        part = slice(bounds[i], bounds[i + 1])
        _, low[i], high[i] = stats.cluster_rate_interval(xs[part].copy(), ns[part].copy(), z)
        if bounds[i + 1] - bounds[i] == 1:
            single.append(i)
    if single:  # one send: its exact binomial interval, all in one call
        at = bounds[single]
        low[single], high[single] = stats.exact_intervals(xs[at], ns[at], 2 * (1 - stats.normal_cdf(z)))
    return low, high


def pooled_rates(con, data: EmailData, filters: Filters = Filters(), rows: pd.DataFrame | None = None) -> MetricResult:
    """One row of pooled rates over the sends in `filters`: Σ numerator ÷ Σ denominator per rate.

    Columns: sends, the count sums, `<rate>_x` / `<rate>_n` (numerator and denominator actually
    used) and `<rate>` (a ratio 0–1, NULL when the denominator is 0 or the file lacks the measure).
    Unit: ratios; counts are recipients. No sends in range → one row with sends = 0 and NULL rates.
    `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`).
    """
    cte, params = data.cte()
    where, wp = filters.where()
    sql = f"""{cte},
sums AS (
SELECT {_sums_sql()}
FROM base WHERE {where}
)
SELECT *, {_rates_sql()} FROM sums"""
    frame = (email_rows.pooled_rates(rows, filters, RATES + HUMAN_RATES, _COUNTS) if rows is not None
             else con.execute(sql, params + wp).df())
    return MetricResult(frame, sql, params + wp, dict(data.excluded))


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    delta: str | None
    help: str
    delta_color: str  # "normal" (up is good) or "inverse" (up is bad)


def pct(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "—"
    return f"{100 * value:.{digits}f}%"


def rate_digits(rate: Rate) -> int:
    """Unsubscribe and spam rates live around 0.1%: show two decimals for them, one for others."""
    return 2 if rate.key in ("unsubscribe_rate", "spam_rate") else 1


def headline_tiles(current: pd.DataFrame, previous: pd.DataFrame) -> list[Tile]:
    """The six tiles: pooled value, delta in percentage points vs the previous equal-length range.

    >>> cur = pd.DataFrame([{'delivery_rate_x': 95, 'delivery_rate_n': 100, 'delivery_rate': 0.95}])
    >>> prev = pd.DataFrame([{'delivery_rate_x': 97, 'delivery_rate_n': 100, 'delivery_rate': 0.97}])
    >>> t = headline_tiles(cur, prev)[0]
    >>> t.label, t.value, t.delta
    ('Delivery rate', '95.0%', '-2.0 pp')
    """
    tiles = []
    cur, prev = current.iloc[0], previous.iloc[0] if len(previous) else None
    for rate in RATES:
        value = cur.get(rate.key)
        before = prev.get(rate.key) if prev is not None else None
        digits = rate_digits(rate)
        delta = None
        if value is not None and before is not None and not pd.isna(value) and not pd.isna(before):
            delta = f"{100 * (value - before):+.{digits}f} pp"
        x, n = cur.get(f"{rate.key}_x"), cur.get(f"{rate.key}_n")
        counts = f"{int(x):,} ÷ {int(n):,}" if x is not None and n is not None and not pd.isna(n) else "not in file"
        tiles.append(Tile(rate.label, pct(value, digits), delta,
                          f"{rate.definition} = {counts}, pooled over the campaigns in range. "
                          "Delta: percentage points vs the previous range of equal length.",
                          "normal" if rate.direction == "below" else "inverse"))
    return tiles


# --------------------------------------------------------------------------- by period / group

def _step(grain: str, periods: int) -> str:
    """Interval string for `periods` periods of `grain`, bound as a parameter.

    >>> _step('week', 8), _step('quarter', 2)
    ('56 days', '6 months')
    """
    size, unit = _GRAIN_STEP[grain]
    return f"{size * int(periods)} {unit}"


def rates_by_period(con, data: EmailData, filters: Filters, grain: str, by: str | None = None,
                    rows: pd.DataFrame | None = None) -> MetricResult:
    """Pooled rates per period (and per topic or list when `by` is 'topic' / 'list_name').

    Adds frequency measures: sends (campaigns sent), recipients_est = Σ over lists of the list size
    (the file's list size when given, else the largest send to that list in the period, the halves
    of an A/B split added up first — assumes lists do not overlap), covered_days = the period's days inside [range start, min(range end,
    day after the last send)), weeks = covered_days ÷ 7, emails_per_recipient_week =
    sent ÷ recipients_est ÷ weeks (emails a list member received per week). Dividing by the covered
    days, not the whole period, keeps a rise in the last, half-covered month from showing as a drop.
    `incomplete` marks a period the range or the data does not cover to its end (covered_days <
    period_days); correlations leave such periods out. `rows`: `base_rows(con, data)`, to compute it
    without a query (as `sends`).
    """
    if by not in (None, "topic", "list_name"):
        raise ValueError(by)
    cte, params = data.cte()
    where, wp = filters.where()
    per = period_sql("send_date", grain)
    group = f", {by}" if by else ""
    sql = f"""{cte},
scoped AS (SELECT *, {per} AS period FROM base WHERE {where}),
{_sends_cte()},
list_size AS (
    SELECT period{group}, SUM(size) AS recipients_est FROM (
        SELECT period{group}, list_name, COALESCE(MAX(list_size), MAX(sent)) AS size
        FROM sends GROUP BY ALL) GROUP BY ALL
),
sums AS (
    SELECT period{group}, {_sums_sql()}, COUNT(DISTINCT list_name) AS lists
    FROM scoped GROUP BY ALL
),
covered AS (
    SELECT s.*, {_rates_sql()}, l.recipients_est,
           date_diff('day', s.period, s.period + CAST(? AS INTERVAL)) AS period_days,
           date_diff('day', greatest(s.period, COALESCE(CAST(? AS TIMESTAMP), s.period)),
                     least(s.period + CAST(? AS INTERVAL), CAST(? AS TIMESTAMP))) AS covered_days
    FROM sums s JOIN list_size l ON l.period = s.period {''.join(f' AND l.{by} = s.{by}' for _ in [0] if by)}
)
SELECT *, CAST(covered_days AS DOUBLE) / 7 AS weeks,  -- a double: Spark would round a decimal
       sent / NULLIF(recipients_est, 0) / (CAST(covered_days AS DOUBLE) / 7) AS emails_per_recipient_week,
       covered_days < period_days AS incomplete
FROM covered
ORDER BY period{group}"""
    step = _step(grain, 1)
    # The data covers days up to the last send's; the range may stop earlier.
    data_end = (pd.Timestamp(data.last_send).normalize() + pd.Timedelta(days=1)) if data.last_send is not None \
        else pd.Timestamp(filters.end or "2262-01-01")
    covered_end = min(data_end, pd.Timestamp(filters.end)) if filters.end is not None else data_end
    covered_start = pd.Timestamp(filters.start).to_pydatetime() if filters.start is not None else None
    all_params = params + wp + [VARIANT_SUFFIX, step, covered_start, step, covered_end.to_pydatetime()]
    frame = (email_rows.rates_by_period(rows, filters, grain, by, RATES + HUMAN_RATES, _COUNTS, covered_end)
             if rows is not None else con.execute(sql, all_params).df())
    frame["period"] = pd.to_datetime(frame["period"])
    frame["incomplete"] = frame["incomplete"].astype(bool)
    frame["period_label"] = [period_label(p, grain) for p in frame["period"]]
    return MetricResult(frame, sql, all_params, dict(data.excluded))


def rates_by_group(con, data: EmailData, filters: Filters, by: str = "topic", top: int = 8,
                   min_n: int = 30, rows: pd.DataFrame | None = None) -> MetricResult:
    """Pooled rates per topic or list over the range, biggest `top` groups by delivered, the rest
    summed in one row 'Other (k groups)'.

    Groups sum to the total (the Other row keeps the rest). Adds 95 % intervals for open rate,
    CTOR and unsubscribe rate (`<rate>_low`, `<rate>_high`) that are cluster-robust by send
    (`lib.stats.cluster_rate_interval` over the group's sends, A/B variants merged — the SQL lists
    each send's numerator and denominator): recipients of one send share its subject line and day,
    so rates vary from send to send far more than independent recipients would, and a Wilson
    interval over the pooled recipients would be several times too narrow. A group of one send
    gets its exact binomial interval. `small` = delivered < `min_n`. `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`).
    """
    if by not in ("topic", "list_name"):
        raise ValueError(by)
    cte, params = data.cte()
    where, wp = filters.where()
    keys = ("open_rate", "ctor", "unsubscribe_rate")
    lists = ", ".join(f"list(s.{k}_x) AS {k}_send_x, list(s.{k}_n) AS {k}_send_n" for k in keys)
    sql = f"""{cte},
scoped AS (SELECT * FROM base WHERE {where}),
{_sends_cte(period=False)},
ranked AS (
    SELECT {by} AS grp, ROW_NUMBER() OVER (ORDER BY SUM(delivered) DESC, {by}) AS rk
    FROM sends GROUP BY {by}
),
sums AS (
    SELECT CASE WHEN r.rk <= ? THEN s.{by} ELSE '{OTHER}' END AS {by}, MIN(r.rk) AS rk,
           count(DISTINCT s.{by}) AS groups, {_resum_sql()}, {lists}
    FROM sends s JOIN ranked r ON r.grp = s.{by} GROUP BY 1
)
SELECT *, {_rates_sql()} FROM sums ORDER BY rk"""
    all_params = params + wp + [VARIANT_SUFFIX, int(top)]
    frame = (email_rows.rates_by_group(rows, filters, by, int(top), RATES + HUMAN_RATES, _COUNTS, OTHER)
             if rows is not None else con.execute(sql, all_params).df().drop(columns="rk"))
    sent = {c: frame[c].to_numpy(dtype=object) for key in keys for c in (f"{key}_send_x", f"{key}_send_n")}
    frame = frame.drop(columns=list(sent))  # at once, not a column at a time
    for key in keys:
        # every group's sends, `g` = the group's row: `cluster_intervals` on arrays (the same intervals)
        pairs = [(g, float(x), float(n)) for g, (xs, ns) in
                 enumerate(zip(sent[f"{key}_send_x"], sent[f"{key}_send_n"]))
                 for x, n in zip(xs, ns) if pd.notna(x) and pd.notna(n) and n > 0]
        frame[f"{key}_low"], frame[f"{key}_high"] = _group_intervals(pairs, len(frame))
    frame["small"] = frame["delivered"] < min_n
    # the merged row says how many groups it holds, like every page's breakdown ("Other (12 groups)")
    merged = frame[by] == OTHER
    frame.loc[merged, by] = [f"{OTHER} ({k} group{'' if k == 1 else 's'})" for k in frame.loc[merged, "groups"]]
    return MetricResult(frame.drop(columns="groups"), sql, all_params, dict(data.excluded))


def campaign_table(con, data: EmailData, filters: Filters, rows: pd.DataFrame | None = None) -> MetricResult:
    """One row per send in range with its rates, and the vendor's rate columns beside ours.

    vendor_open_diff = vendor open rate − unique opens ÷ delivered (ratio; NULL without a vendor
    column); vendor_click_diff likewise for click rate. A |diff| above 0.0001 (0.01 pp, the
    vendor's rounding) means the vendor used another definition — `vendor_note` says which when
    the vendor's open rate matches unique opens ÷ sent (delivered + bounces) instead. `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`).
    """
    cte, params = data.cte()
    where, wp = filters.where()
    row_sums = [f"{r.numerator} AS {r.key}_x, {r.denominator} AS {r.key}_n" for r in RATES + HUMAN_RATES]
    sql = f"""{cte},
rows AS (
    SELECT _row, campaign, send_date, topic, list_name, subject, {', '.join(_COUNTS)}, list_size,
           vendor_open_rate, vendor_click_rate, {', '.join(row_sums)}
    FROM base WHERE {where}
)
SELECT *, {_rates_sql()},
       vendor_open_rate - CAST(opens AS DOUBLE) / delivered AS vendor_open_diff,
       vendor_click_rate - CAST(clicks AS DOUBLE) / delivered AS vendor_click_diff,
       CASE WHEN abs(vendor_open_rate - CAST(opens AS DOUBLE) / delivered) > ?
                 AND abs(vendor_open_rate - CAST(opens AS DOUBLE) / NULLIF(sent, 0)) <= ?
            THEN 'vendor open rate = unique opens ÷ sent (delivered + bounces)'
            WHEN abs(vendor_open_rate - CAST(opens AS DOUBLE) / delivered) > ?
                 OR abs(vendor_click_rate - CAST(clicks AS DOUBLE) / delivered) > ?
            THEN 'vendor rate differs from counts' END AS vendor_note
FROM rows ORDER BY send_date, campaign"""
    all_params = params + wp + [VENDOR_ROUNDING] * 4
    frame = (email_rows.campaign_table(rows, filters, RATES + HUMAN_RATES, _COUNTS, VENDOR_ROUNDING) if rows is not None
             else con.execute(sql, all_params).df())
    return MetricResult(frame, sql, all_params, dict(data.excluded))


def vendor_rate_summary(campaigns: pd.DataFrame) -> dict[str, int]:
    """How many sends carry vendor rates and how many of those differ from our recomputation.

    >>> f = pd.DataFrame({'vendor_open_rate': [0.41, None, 0.3], 'vendor_note': [None, None, 'x']})
    >>> vendor_rate_summary(f)
    {'with_vendor_rates': 2, 'differ': 1}
    """
    if "vendor_open_rate" not in campaigns:
        return {"with_vendor_rates": 0, "differ": 0}
    has = campaigns["vendor_open_rate"].notna()
    if "vendor_click_rate" in campaigns:
        has = has | campaigns["vendor_click_rate"].notna()
    return {"with_vendor_rates": int(has.sum()), "differ": int(campaigns["vendor_note"].notna().sum())}


# --------------------------------------------------------------------------- own history

def _z_of_upper_p(p: float) -> float:
    """Φ⁻¹(1 − p): the normal z whose upper tail is p (±10 at the extremes).

    >>> round(_z_of_upper_p(0.025), 4), round(_z_of_upper_p(0.975), 4)
    (1.96, -1.96)
    """
    p = min(max(p, 1e-300), 1 - 1e-12)
    if p == 0.5:
        return 0.0
    z = stats.z_for_alpha(2 * p) if p < 0.5 else -stats.z_for_alpha(2 * (1 - p))
    return max(-10.0, min(10.0, z))


def _exact_z(x: float, n: float, base_x: float, base_n: float, direction: str) -> float:
    """One-sided Fisher's exact test in the rate's bad direction, as a signed z (z > 0: rate above
    baseline): P = fisher_exact(greater) for 'above', (less) for 'below'; z_bad = Φ⁻¹(1 − P).

    Worked example: one complaint in 481 against none in 8,299 → P = 481/8,780 = 0.054784 (the one
    complaint fell among these 481 of 8,780 by chance) → z = Φ⁻¹(0.945216) = 1.600 (scipy
    norm.isf(0.054784) = 1.6001).
    >>> round(_exact_z(1, 481, 0, 8299, 'above'), 4)
    1.6001
    """
    if n <= 0 or base_n <= 0 or x * base_n == base_x * n:
        return 0.0  # the same rate: no evidence either way
    p = stats.fisher_exact_test(x, n - x, base_x, base_n - base_x,
                                alternative="greater" if direction == "above" else "less")
    z_bad = _z_of_upper_p(p)
    return z_bad if direction == "above" else -z_bad


def _exact_z_array(rows: pd.DataFrame) -> np.ndarray:
    """`_exact_z` for every row of `rows` (columns x, n, base_x, base_n, direction) in two scipy calls."""
    x, n, bx, bn = (rows[c].to_numpy(dtype=float) for c in ("x", "n", "base_x", "base_n"))
    return _exact_z_values(x, n, bx, bn, (rows["direction"] == "above").to_numpy())


def _exact_z_values(x: np.ndarray, n: np.ndarray, bx: np.ndarray, bn: np.ndarray, above: np.ndarray) -> np.ndarray:
    """`_exact_z_array` of the columns as arrays (`above`: the rate's bad direction is up)."""
    p = np.empty(len(x))  # each row's tail in its own direction only (the other is as costly, and unused)
    for side, alternative in ((above, "greater"), (~above, "less")):
        if side.any():
            p[side] = stats.fisher_one_sided_array(x[side], (n - x)[side], bx[side], (bn - bx)[side], alternative)
    z_bad = stats.z_of_upper_p_array(p)
    z = np.where(above, z_bad, -z_bad)
    return np.where((n <= 0) | (bn <= 0) | (x * bn == bx * n), 0.0, z)  # the same rate: no evidence


def log_odds_ratio(x: float, n: float, base_x: float, base_n: float) -> tuple[float, float]:
    """log odds ratio of x/n against base_x/base_n and its Woolf variance Σ 1/cell; 0.5 is added to
    every cell when one is 0 (Haldane–Anscombe). Rates vary from send to send multiplicatively (a
    send with three times the usual unsubscribes is as common as one with a third), so their
    spread is near-normal on this scale and skewed on the rate scale.

    Worked example: 30/1000 vs 20/1000 → ln((30·980)/(970·20)) = ln(1.515464) = 0.415722,
    variance 1/30 + 1/970 + 1/20 + 1/980 = 0.085385 (statsmodels 0.15 Table2x2 log_oddsratio and
    log_oddsratio_se² agree).
    >>> [round(v, 6) for v in log_odds_ratio(30, 1000, 20, 1000)]
    [0.415722, 0.085385]
    """
    cells = [x, n - x, base_x, base_n - base_x]
    if min(cells) <= 0:
        cells = [c + 0.5 for c in cells]
    a, b, c, d = cells
    return math.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


# E[min(X, 4)] for X ~ χ²₁ = F_χ²₃(4) + 4·(1 − F_χ²₁(4)) (scipy.stats.chi2; numerical integration agrees).
WINSOR_AT = 4.0
CHI2_1_MEDIAN = 0.454936423119572  # scipy.stats.chi2(1).median()
MIN_SUBJECTS = 8  # fewer subjects with history: too few to estimate how much they differ
CHI2_1_WINSORIZED_MEAN = 0.9205369256363232


def capped_null_mean(n: float, rate: float, variance: float) -> float:
    """E[min((X/n − rate)² ÷ variance, 4)] for X ~ Poisson(n·rate): what one Pearson term averages when
    the subject has no extra spread. Rare counts sit below χ²₁'s 0.9205 (mean 0.5 events: 0.82), so
    `between_variance` compares rare rates with these instead. Large means (n·rate > 50) → 0.9205.

    Worked example: n·rate = 0.5 → the term is 0.5 at X = 0 or 1 (P = 0.6065, 0.3033) and capped at
    4 from X = 2 on (P = 0.0902): 0.5·0.9098 + 4·0.0902 = 0.8157 (scipy.stats.poisson pmf agree).
    >>> round(capped_null_mean(1000, 0.0005, 0.0005 / 1000), 4)
    0.8157
    """
    lam = n * rate
    if not (lam > 0 and variance > 0):
        return CHI2_1_WINSORIZED_MEAN
    if lam > 50:
        return CHI2_1_WINSORIZED_MEAN
    total, pmf, k = 0.0, math.exp(-lam), 0
    while k <= lam + 12 * math.sqrt(lam) + 20:
        total += pmf * min((k / n - rate) ** 2 / variance, WINSOR_AT)
        k += 1
        pmf *= lam / k
    return total


def between_variance(diffs, variances, factors=None, targets=None, median: bool = False) -> float:
    """τ²: how much a rate varies between subjects (sends or periods) beyond binomial chance.

    Model: a subject's difference from its baseline d = rate − baseline ~ N(0, v + c·τ²), with v its
    binomial variance and c its factor (1 + 1/m for a baseline pooled over m units, whose own
    spread adds τ²/m). τ² solves mean(min(d² ÷ (v + c·τ²), 4)) = E[min(χ²₁, 4)] = 0.92054, and is
    0 when the binomial alone already explains the spread (Laney's σ_z floored at 1). `targets`
    replaces 0.92054 per subject (`capped_null_mean`, for rare counts). `median=True` solves
    median(d² ÷ (v + c·τ²)) = 0.454936 (the median of χ²₁, scipy chi2(1).median()) instead: it
    breaks down only when half the subjects are off, where the capped mean gives way sooner (a
    two-month blitz also sits in the baselines of the months after it: 8 of 23 terms) — used
    where events are plenty (the log-odds path); with a few events a median collapses.
    Why this estimator: an additive τ² (instead of Laney's one σ_z for all) keeps a
    20,000-recipient send, whose rate moves mostly by send-to-send variation, and a 300-recipient
    send, mostly chance, both honest; a *mean* of Pearson terms is right for rare counts too,
    where a median or moving range collapses (with 3 complaints expected per send, half the sends
    sit within one count of it: median 0.33, not χ²₁'s 0.45; the capped mean is 0.899 against
    0.921); capping each term at 4 (|z| = 2) keeps a few real changes from hiding themselves (one
    month in 24, however far out, adds at most 4/24 to the mean). A/B halves are merged before (see
    `_sends_cte`), so their near-equal rates no longer pass for "no extra variation".
    Fewer than 8 usable subjects → 0 (the binomial test alone): with a handful, one real change
    would be taken for the normal spread and hide itself.

    Worked example: v = 1 (×8, c = 1), d = 0, 0, 1, 1, 1, 1, 1, 4 → terms 0, 0, 1, 1, 1, 1, 1, 16
    (capped 4): mean 9/8 = 1.125 > 0.9205. With the last term still capped,
    (5 ÷ (1 + τ²) + 4) ÷ 8 = 0.920537 → 1 + τ² = 5 ÷ (8·0.920537 − 4) = 1.486195 → τ² = 0.486195
    (and 16 ÷ 1.486 = 10.8 > 4: capped, as assumed).
    >>> round(between_variance([0, 0, 1, 1, 1, 1, 1, 4], [1] * 8), 6)
    0.486195
    """
    d = np.asarray(list(diffs), dtype=float)
    v = np.asarray(list(variances), dtype=float)
    c = np.ones_like(d) if factors is None else np.asarray(list(factors), dtype=float)
    g = np.full_like(d, CHI2_1_WINSORIZED_MEAN) if targets is None else np.asarray(list(targets), dtype=float)
    ok = np.isfinite(d) & np.isfinite(v) & np.isfinite(c) & (v > 0) & (c > 0) & np.isfinite(g)
    d, v, c, g = d[ok], v[ok], c[ok], g[ok]
    if len(d) < MIN_SUBJECTS:
        return 0.0
    target = CHI2_1_MEDIAN if median else float(np.mean(g))

    middle = [(len(d) - 1) // 2, len(d) // 2]  # the median's one or two middle terms

    def mean_term(tau2: float) -> float:
        if median:  # np.median's own steps (partition, mean of the middle), without its overhead per call
            mid = np.partition(d * d / (v + c * tau2), middle)[middle]
            return float(mid[0]) if middle[0] == middle[1] else float((mid[0] + mid[1]) / 2)
        return float(np.mean(np.minimum(d * d / (v + c * tau2), WINSOR_AT)))

    if mean_term(0.0) <= target:
        return 0.0
    # at hi every term is ≤ its d²/(c·hi) ≤ the target, so the root lies in [0, hi]
    lo, hi = 0.0, float(np.max(d * d / c)) / target + 1e-300
    above = _last_above(mean_term, d * d, v, c, median, middle, target, hi)
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):  # neighbouring doubles: every further step returns this same mid
            break
        if (mid <= above) if above is not None else mean_term(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _last_above(mean_term, dd: np.ndarray, v: np.ndarray, c: np.ndarray, median: bool, middle: list[int],
                target: float, hi: float) -> float | None:
    """The largest double τ² in [0, hi) whose `mean_term` is above `target`, found with few evaluations,
    or None (then `between_variance` evaluates each bisection step). `mean_term` is non-increasing in τ²
    in floating point too — v + c·τ², d² ÷ it, the cap, a sum in a fixed order (or an order statistic)
    and ÷ count are each monotone when rounded — so a bisection step's verdict (`mean_term(mid) >
    target`) is `mid ≤` this double: the same steps, and the same τ², as evaluating every midpoint."""
    from scipy.optimize import brentq

    if not np.isfinite(dd).all():
        return None
    try:  # a root to within a few doubles, then the neighbouring pair around it from one array call
        root = brentq(lambda t: mean_term(t) - target, 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps)
    except (ValueError, RuntimeError):
        return None
    window = (np.array([root]).view(np.int64) + np.arange(-24, 25)).view(np.float64)
    window = window[(window >= 0) & (window < hi)]
    q = dd / (v + c * window[:, None])
    if median:
        mid = np.partition(q, middle, axis=1)[:, middle]
        terms = mid[:, 0] if middle[0] == middle[1] else (mid[:, 0] + mid[:, 1]) / 2
    else:  # np.mean's own steps per row: a pairwise sum along the row ÷ the count
        terms = np.add.reduce(np.minimum(q, WINSOR_AT), axis=1) / len(dd)
    over = terms > target
    if not over.any() or over.all() or not over[:np.argmin(over)].all():
        return None  # the change from above to not above is not inside the window
    return float(window[np.argmin(over) - 1])


def _window(left: str, right: str) -> str:
    return f"{right}.period >= {left}.period - CAST(? AS INTERVAL) AND {right}.period < {left}.period"


def _read(wide, name: str, dtype=None) -> np.ndarray:
    """A column of `wide` (the query's frame, or `email_rows.baseline_columns`' arrays) as an array."""
    v = wide[name]
    if isinstance(v, pd.Series):
        return v.to_numpy(dtype=float, na_value=np.nan) if dtype is float else v.to_numpy(dtype=dtype)
    return np.asarray(v, dtype=dtype)


def _long_tests(wide, rates: tuple[Rate, ...], by: str) -> dict[str, np.ndarray] | None:
    """`baseline_tests`' long form before its tests, as arrays by column name (None without a row; `_at`
    and `_rate`: each row's place in `wide` and in `rates`): one row per subject × rate with a denominator
    (n > 0), in subject order, then rate order. Per row: x, n, rate = x ÷ n; with history (base_n > 0)
    baseline (the topic-mix one for periods, else base_x ÷ base_n), base_x = baseline · base_n, pooled
    p̂ = (x + base_x) ÷ (n + base_n), `exact` when a cell expects under 5 (min of n·p̂, n·(1 − p̂),
    base_n·p̂, base_n·(1 − p̂)), d and v = `log_odds_ratio`, null_v = (1/n + 1/base_n) ÷ (p̂(1 − p̂)),
    pearson_v = p̂(1 − p̂)(1/n + 1/base_n), z = d ÷ √v (exact rows: later). Periods add h = Σn² ÷ (Σn)².
    Built column by column from arrays (a dict per row cost more than the tests); the same values as
    the row loop it replaced, to the last bit (math.log per element, the same operations in order)."""
    def grid(suffix: str) -> np.ndarray:  # wide rows × rates
        cols = [_read(wide, f"{r.key}_{suffix}", float) if f"{r.key}_{suffix}" in wide
                else np.full(size, np.nan) for r in rates]
        return np.column_stack(cols) if cols else np.empty((size, 0))

    size = len(wide["subject"])

    n_all = grid("n")
    with np.errstate(invalid="ignore"):
        ii, jj = np.nonzero(~np.isnan(n_all) & (n_all > 0))  # row-major: subjects, then rates
    if len(ii) == 0:  # no sends in the selection: no rows (`_no_tests`)
        return None
    x, n = grid("x")[ii, jj], n_all[ii, jj]
    bn, bx_raw, mix = grid("base_n")[ii, jj], grid("base_x")[ii, jj], grid("mix")[ii, jj]
    with np.errstate(invalid="ignore", divide="ignore"):
        has = ~np.isnan(bn) & (bn > 0)
        baseline = np.where(np.isnan(mix), bx_raw / bn, mix)
    nan = np.full(len(ii), np.nan)
    base_x, pooled_all = nan.copy(), nan.copy()
    d, v, null_v, pearson_v, z = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    exact = np.zeros(len(ii), dtype=bool)
    if has.any():
        hx, hn, hbn = x[has], n[has], bn[has]
        hbx = baseline[has] * hbn
        pooled = (hx + hbx) / (hn + hbn)
        expected = np.minimum(np.minimum(np.minimum(hn * pooled, hn * (1 - pooled)), hbn * pooled), hbn * (1 - pooled))
        cells = [hx, hn - hx, hbx, hbn - hbx]
        zero = np.minimum(np.minimum(np.minimum(cells[0], cells[1]), cells[2]), cells[3]) <= 0
        a, b, c, e = (np.where(zero, cell + 0.5, cell) for cell in cells)  # Haldane–Anscombe, as log_odds_ratio
        hd = np.fromiter(map(math.log, (a * e / (b * c)).tolist()), dtype=float, count=len(a))
        hv = 1 / a + 1 / b + 1 / c + 1 / e
        inside = (0 < pooled) & (pooled < 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            hnull = np.where(inside, (1 / hn + 1 / hbn) / (pooled * (1 - pooled)), math.inf)
        hexact = expected < 5
        base_x[has], exact[has], d[has], v[has], null_v[has] = hbx, hexact, hd, hv, hnull
        pearson_v[has] = pooled * (1 - pooled) * (1 / hn + 1 / hbn)
        z[has] = np.where(hexact, np.nan, hd / np.sqrt(hv))  # exact z: in baseline_tests, in one call
    out = {"subject": _read(wide, "subject", object)[ii],
           "period": _read(wide, "period")[ii],
           "metric": np.array([r.label for r in rates], dtype=object)[jj],
           "key": np.array([r.key for r in rates], dtype=object)[jj],
           "direction": np.array([r.direction for r in rates], dtype=object)[jj],
           "x": x, "n": n, "rate": x / n,
           # without any history the old row loop left base_x all None (an object column): kept so
           "base_x": base_x if has.any() else np.full(len(ii), None, dtype=object),
           "base_n": np.where(has, bn, np.nan),
           "base_units": _read(wide, "base_units").astype(np.int64)[ii],
           "baseline": np.where(has, baseline, np.nan),
           "base_periods": _read(wide, "base_periods").astype(np.int64)[ii],
           "exact": exact, "z": z, "d": d, "v": v, "null_v": null_v, "pearson_v": pearson_v}
    if by == "campaign":
        out.update(topic=_read(wide, "topic", object)[ii], send_date=_read(wide, "send_date")[ii],
                   variants=_read(wide, "variants").astype(np.int64)[ii])
    else:  # the period's sends' weights: Σn² ÷ (Σn)² (1 ÷ the effective number of sends)
        out["h"] = grid("n2")[ii, jj] / n ** 2
    out["_at"], out["_rate"] = ii, jj
    return out


def _no_tests(by: str, alpha: float) -> pd.DataFrame:
    """`baseline_tests`' frame without a row, with the columns and types the frame of no rows got
    through its pandas steps before (object columns, floats where it converted them)."""
    columns = ["subject", "period", "metric", "key", "direction", "x", "n", "rate", "base_x", "base_n",
               "base_units", "baseline", "base_periods", "exact", "z", "d", "v", "null_v", "pearson_v"]
    frame = pd.DataFrame([], columns=columns + ([] if by == "campaign" else ["h"]))
    for col in ("z", "d", "v", "null_v", "pearson_v", "baseline", "base_n", *(["h"] if by == "period" else [])):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["exact"] = frame["exact"].astype(bool)
    for col in ("tau2", "df", "sigma_z", "z_adj", "p_value", "se_test", "p_adjusted", "p_bonferroni"):
        frame[col] = np.empty(0)
    frame["worse"] = frame["p_adjusted"].lt(alpha)
    frame["high"] = frame["worse"] & (frame["p_bonferroni"] < alpha)
    return frame.drop(columns=["d", "v", "null_v", "pearson_v", "h"], errors="ignore")


def _adjusted(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`stats.adjust_p_values(p, "fdr_bh")` and `(p, "bonferroni")` (statsmodels' multipletests) with
    its own steps on the p that are not nan — BH: sorted p ÷ (rank ÷ m), the running minimum from the
    largest down, capped at 1; Bonferroni: p · m capped at 1 — the same values without its overhead per
    call (tests/test_email_tests_fast8.py compares them with statsmodels')."""
    bh, bonferroni = np.full(p.shape, np.nan), np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    values = p[ok]
    m = len(values)
    if m:
        order = np.argsort(values)
        ranked = np.take(values, order) / (np.arange(1, m + 1) / float(m))
        running = np.minimum.accumulate(ranked[::-1])[::-1]
        running[running > 1] = 1
        unsorted = np.empty_like(running)
        unsorted[order] = running
        bh[ok] = unsorted
        times = values * float(m)
        times[times > 1] = 1
        bonferroni[ok] = times
    return bh, bonferroni


def baseline_tests(con, data: EmailData, filters: Filters, grain: str, periods: int, alpha: float,
                   by: str = "period", rows: pd.DataFrame | None = None, _tau2_only: bool = False) -> MetricResult:
    """Each period (or send) against the sender's own trailing baseline, per rate.

    Baseline: the pooled rate of the `periods` calendar periods just before the subject's period.
    - campaign: one row per send (A/B variants merged, `_sends_cte`) against sends of the *same
      topic* in those periods (a promo is held against promos);
    - period: each topic's trailing rate re-weighted to this period's topic mix
      (Σ_t n(period, t) · rate_t(trailing) ÷ n(period); a topic without history uses the overall
      trailing rate), so a month heavy in promos is not called a decline for being promo-heavy.
    Test, per subject: x/n against base_x/base_n (base_x = baseline · base_n) on the log-odds
    scale, where send-to-send variation is near-normal (rates vary multiplicatively):
    d = `log_odds_ratio`, v its Woolf variance, τ² the rate's `between_variance` of the log odds
    over all subjects with history (the median form, from the subjects with enough events for
    the normal model; with under 10 of those, the capped mean of Pearson terms on the rate scale
    against each subject's Poisson expectation), c = 1 + 1/m (m = sends or periods
    in the baseline, whose own spread counts too) — with fewer than 8 periods with history, the
    send-to-send τ² (from the campaign-level tests) times Σn²/(Σn)² of the period's sends; z = d ÷ √v, sigma_z = √((v + c·τ²) ÷ v) ≥ 1,
    z_adj = z ÷ sigma_z. When a cell expects under 5 events (`exact`): one-sided Fisher's exact
    test as a z (`_exact_z`), shrunk by the same share, sigma_z = √(1 + c·τ² ÷ v₀) with v₀ the
    null log-odds variance (1/n + 1/base_n) ÷ (p̂(1−p̂)). p_value = one-sided p of z_adj in the
    rate's bad direction ("worse than its own history" is a one-sided claim), on Student's t with
    G − 1 df when τ² > 0 was estimated from G subjects (df, inf otherwise); se_test = the
    rate-scale standard error the verdict implies, |rate − baseline| ÷ |z_adj| (the band uses it).
    Many tests: p_adjusted = Benjamini–Hochberg over the rate's subjects in range (false-discovery
    rate `alpha`), p_bonferroni = p × their number. `worse` when p_adjusted < `alpha` in the rate's
    bad direction; `high` when also p_bonferroni < `alpha`.
    History before the date range counts; list/topic filters apply to both sides. Subjects without
    history (base_n = 0) get no test (p NULL). Long form: one row per subject × rate, with x, n,
    base_x, base_n, base_units (m), baseline, exact, z, tau2, sigma_z, z_adj, se_test, p_value,
    p_adjusted, p_bonferroni, worse, high. `rows`: `base_rows(con, data)`, to read the counts without a
    query (as `sends`; the topic-mix baseline's float sum may differ from DuckDB's in the last bits).
    """
    if by not in ("period", "campaign"):
        raise ValueError(by)
    cte, params = data.cte()
    where_all, wp_all = filters.where(dates=False)
    per = period_sql("send_date", grain)
    rates = data.usable_rates()
    step = _step(grain, periods)
    hist = ", ".join(f"SUM(b.{r.key}_x) AS {r.key}_base_x, SUM(b.{r.key}_n) AS {r.key}_base_n" for r in rates)
    if by == "period":
        cur = ", ".join(f"p.{r.key}_n AS {r.key}_cur_n" for r in rates)
        topic_hist = ", ".join(f"SUM(b.{r.key}_x) AS {r.key}_tx, SUM(b.{r.key}_n) AS {r.key}_tn" for r in rates)
        mix = ", ".join(
            f"SUM(h.{r.key}_cur_n * COALESCE(CAST(h.{r.key}_tx AS DOUBLE) / NULLIF(h.{r.key}_tn, 0), "
            f"CAST(a.{r.key}_base_x AS DOUBLE) / NULLIF(a.{r.key}_base_n, 0))) / NULLIF(SUM(h.{r.key}_cur_n), 0) "
            f"AS {r.key}_mix" for r in rates)
        n2 = ", ".join(f"SUM(CASE WHEN ({r.numerator}) IS NOT NULL AND ({r.denominator}) IS NOT NULL "
                       f"THEN CAST({r.denominator} AS DOUBLE) * ({r.denominator}) END) AS {r.key}_n2" for r in rates)
        sql = f"""{cte},
scoped AS (SELECT *, {per} AS period FROM base WHERE {where_all}),
per AS (SELECT period, {_sums_sql(rates)}, {n2} FROM scoped GROUP BY period),
per_topic AS (SELECT period, topic, {_sums_sql(rates)} FROM scoped GROUP BY period, topic),
hist_all AS (SELECT p.period, {hist}, COUNT(b.period) AS base_periods, COUNT(b.period) AS base_units
             FROM per p LEFT JOIN per b ON {_window('p', 'b')} GROUP BY p.period),
hist_topic AS (SELECT p.period, p.topic, {cur}, {topic_hist}
               FROM per_topic p LEFT JOIN per_topic b ON b.topic = p.topic AND {_window('p', 'b')}
               GROUP BY ALL),
mix AS (SELECT h.period, {mix} FROM hist_topic h JOIN hist_all a USING (period) GROUP BY h.period)
SELECT p.*, CAST(p.period AS VARCHAR) AS subject, a.* EXCLUDE (period), m.* EXCLUDE (period)
FROM per p JOIN hist_all a USING (period) JOIN mix m USING (period)
ORDER BY p.period"""
        all_params = params + wp_all + [step, step]
    else:
        row_sums = ", ".join(f"{r.key}_x, {r.key}_n" for r in rates)
        sql = f"""{cte},
scoped AS (SELECT *, {per} AS period FROM base WHERE {where_all}),
per AS (SELECT period, topic, {_sums_sql(rates)} FROM scoped GROUP BY period, topic),
{_sends_cte(rates)},
camp AS (SELECT _row, campaign AS subject, send_date, period, topic, variants, {row_sums} FROM sends)
SELECT c.*, {hist}, COUNT(b.period) AS base_periods, COALESCE(SUM(b.sends), 0) AS base_units
FROM camp c LEFT JOIN per b ON b.topic = c.topic AND {_window('c', 'b')}
GROUP BY ALL ORDER BY c.send_date, c._row"""
        all_params = params + wp_all + [VARIANT_SUFFIX, step]
    if rows is not None:  # the query's columns as arrays (email_rows.baseline_wide without its frame)
        wide = email_rows.baseline_columns(rows, filters, grain, periods, rates, _COUNTS, by)
        when = wide["period"] if by == "period" else wide["send_date"]  # datetime64[us], as the frame's
        bounds = [None if t is None else np.datetime64(pd.Timestamp(t).to_datetime64()) for t in (
            period_start(filters.start, grain) if by == "period" and filters.start is not None else filters.start,
            filters.end)]
    else:
        wide = con.execute(sql, all_params).df()
        wide["period"] = pd.to_datetime(wide["period"])
        when = wide["period"] if by == "period" else pd.to_datetime(wide["send_date"])
        lo = period_start(filters.start, grain) if by == "period" and filters.start is not None else filters.start
        bounds = [None if t is None else pd.Timestamp(t) for t in (lo, filters.end)]
    keep = np.ones(len(when), dtype=bool)
    if bounds[0] is not None:
        keep &= np.asarray(when >= bounds[0], dtype=bool)
    if bounds[1] is not None:
        keep &= np.asarray(when < bounds[1], dtype=bool)
    out = _long_tests(wide, rates, by)
    if out is None:  # no sends in the selection
        return {} if _tau2_only else MetricResult(_no_tests(by, alpha), sql, all_params, dict(data.excluded))
    # the tests on plain arrays, in the long form's row order (pandas steps per column cost more than the tests)
    at_wide, jj = out.pop("_at"), out.pop("_rate")
    rate_keys = [r.key for r in rates]
    groups = {rate_keys[j]: np.flatnonzero(jj == j)  # key → its rows, keys sorted (as a groupby's indices)
              for j in sorted(set(jj.tolist()), key=lambda j: rate_keys[j])}
    exact = out["exact"]
    z, d, v, null_v, pearson_v, baseline, rate, n_col, base_n = (
        out[col] for col in ("z", "d", "v", "null_v", "pearson_v", "baseline", "rate", "n", "base_n"))
    c = 1 + 1 / np.maximum(out["base_units"], 1)
    # τ² of the log odds: from the subjects with enough events for the normal log-odds model (no
    # exact test); with under 10 of those (complaints are rare everywhere), from Pearson terms on
    # the rate scale, which stay right for small counts: rate variance = τ²·(b(1−b))² (delta method).
    scale = (baseline * (1 - baseline)) ** 2
    tau2_of, df_of = {}, {}
    for key, at in groups.items():
        normal = at[~exact[at] & ~np.isnan(v[at])]
        if len(normal) >= 10:
            tau2_of[key], used = between_variance(d[normal], v[normal], c[normal], median=True), len(normal)
        else:
            known = at[~np.isnan(baseline[at])]
            targets = [capped_null_mean(a, b, w) for a, b, w in
                       zip(n_col[known].tolist(), baseline[known].tolist(), pearson_v[known].tolist())]
            tau2_of[key] = between_variance(rate[known] - baseline[known], pearson_v[known], c[known] * scale[known],
                                            targets)
            used = len(known)
        # τ² estimated from `used` subjects: read z on Student's t with used − 1 df
        df_of[key] = used - 1 if tau2_of[key] > 0 else math.inf
    if by == "campaign" and rows is not None:  # for `_send_tau2` of the period tests of the same selection
        email_rows.memo(rows)[_tau2_key(filters, grain, periods, alpha, rates)] = dict(tau2_of)
    if _tau2_only:  # `_send_tau2`: τ² reads neither the exact tests' z nor the dates
        return tau2_of
    # the subjects in the date range: a row's own period (send date) is in it exactly when some kept
    # subject has that period (send date), as it is that value that is kept
    when_of_row = out["period" if by == "period" else "send_date"]
    if np.issubdtype(when_of_row.dtype, np.datetime64):
        in_range = keep[at_wide]
    else:
        in_range = pd.Series(when_of_row).isin(set(pd.Series(when)[keep])).to_numpy(dtype=bool)
    above = np.array([r.direction == "above" for r in rates])[jj]
    x_col = out["x"]
    # `_exact_z` for every exact row at once (tests/test_stats_arrays.py), but for the rows left out
    # below (out of range) and those it gives 0 without a test (the same rate as the baseline)
    tested = exact & in_range & (x_col * base_n != out["base_x"].astype(float) * n_col)
    if tested.any():
        z[tested] = _exact_z_values(x_col[tested], n_col[tested], out["base_x"][tested].astype(float),
                                    base_n[tested], above[tested])
    z[exact & ~tested] = 0.0
    tau2 = np.array([tau2_of.get(k, math.nan) for k in rate_keys], dtype=float)[jj]
    df = np.array([df_of.get(k, math.nan) for k in rate_keys], dtype=float)[jj]
    extra = c * tau2
    few = [key for key, at in groups.items() if (base_n[at] > 0).sum() < MIN_SUBJECTS]
    if by == "period" and few:
        # Too few periods to see how much they differ: borrow the send-to-send spread (estimated
        # over the sends) and scale it to each period by its sends' weights, τ²_send · Σn²/(Σn)².
        sends_tau2 = _send_tau2(con, data, filters, grain, periods, alpha, rows)
        borrow = np.isin(jj, [rate_keys.index(k) for k in few])
        borrowed = np.array([sends_tau2.get(k, math.nan) for k in rate_keys], dtype=float)[jj[borrow]]
        tau2[borrow] = np.where(np.isnan(borrowed), 0.0, borrowed)
        df[borrow] = math.inf  # the send-level τ² rests on many sends
        extra = np.where(borrow, c * tau2 * out["h"], extra)
    # Normal path: the log odds ratio over its binomial + between-subject variance. Exact path:
    # Fisher's z shrunk by the same between-subject share of the variance (null log-odds variance).
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_z = np.where(~exact, ((v + extra) / v) ** 0.5, (1 + extra / null_v) ** 0.5)
        z_adj = z / sigma_z
    bad = np.where(above, 1.0, -1.0)
    p_value = stats.student_t_upper_array(z_adj * bad, df)
    diff = rate - baseline
    # the rate-scale SE the verdict implies (the band is drawn from it): |rate − baseline| over the
    # normal z of the same one-sided p (on Student's t the p is not Φ of z_adj); delta method at z = 0
    z_eq = stats.z_of_upper_p_array(p_value)
    delta_se = (v + extra) ** 0.5 * baseline * (1 - baseline)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_test = np.where((np.abs(z_eq) > 1e-9) & (np.abs(diff) > 0), np.abs(diff) / np.abs(z_eq), delta_se)
    for col in ("d", "v", "null_v", "pearson_v", "h"):  # not shown
        out.pop(col, None)
    out.update(tau2=tau2, df=df, sigma_z=sigma_z, z_adj=z_adj, p_value=p_value, se_test=se_test)
    if in_range.all():
        frame = pd.DataFrame(out)
    else:  # built whole, then filtered, so each column keeps the type it had
        frame = pd.DataFrame(out)[in_range].reset_index(drop=True)
        jj, p_value = jj[in_range], p_value[in_range]
    p_adjusted, p_bonferroni = np.full(len(frame), math.nan), np.full(len(frame), math.nan)
    for j in set(jj.tolist()):  # per rate, over its subjects in range
        at = np.flatnonzero(jj == j)
        p_adjusted[at], p_bonferroni[at] = _adjusted(p_value[at])
    worse = p_adjusted < alpha
    frame["p_adjusted"], frame["p_bonferroni"], frame["worse"], frame["high"] = (
        p_adjusted, p_bonferroni, worse, worse & (p_bonferroni < alpha))
    return MetricResult(frame, sql, all_params, dict(data.excluded))


def _tau2_key(filters: Filters, grain: str, periods: int, alpha: float, rates) -> tuple:
    """What the send-level τ² reads besides the frame: lists, topics, grain, baseline, rates (not the dates)."""
    return ("send_tau2", filters.lists, filters.topics, grain, int(periods), alpha, tuple(r.key for r in rates))


def _send_tau2(con, data: EmailData, filters: Filters, grain: str, periods: int, alpha: float,
               rows: pd.DataFrame | None = None) -> dict[str, float]:
    """The send-to-send τ² per rate that `baseline_tests` by period borrows when it has too few periods:
    `baseline_tests(…, "campaign")`'s tau2 over every send of the lists and topics (each rate's value,
    the same for all its rows), without the send-level exact tests, which τ² does not read. With `rows`,
    the campaign tests of the same lists, topics, grain and baseline (any dates) computed it already when
    they ran first on that frame (ui.email_sections.figures runs them first)."""
    if rows is not None:
        known = email_rows.memo(rows).get(_tau2_key(filters, grain, periods, alpha, data.usable_rates()))
        if known is not None:
            return dict(known)
    return baseline_tests(con, data, replace(filters, start=None, end=None), grain, periods, alpha, "campaign", rows,
                          _tau2_only=True)


def baseline_limits(tests: pd.DataFrame, key: str, alpha: float) -> pd.DataFrame:
    """One rate's period tests with the band a period must leave to be called a change.

    The band is baseline ± z_cut · se_test: the test's own standard error (binomial and
    send-to-send variation, see `baseline_tests`), and z_cut the one-sided normal z of Benjamini–
    Hochberg's cut-off k·alpha/m (k periods called worse, at least 1; m tested): every p it called
    worse is at or under k·alpha/m and every other p above it, so a point is outside the band on
    the bad side exactly when the verdict calls it worse. `status`: 'worse', 'better' (outside the band on the
    good side), 'within noise', 'no history'.
    """
    part = tests[tests["key"] == key].copy()
    p_adjusted = part["p_adjusted"].to_numpy(dtype=float, na_value=np.nan)[part["p_value"].notna().to_numpy()]
    k = int((p_adjusted < alpha).sum())
    z = _z_of_upper_p(max(k, 1) * alpha / max(len(p_adjusted), 1))
    # column by column (a fragment's rate click built a dict per period): the same floats as Python's
    # max(0.0, b − h) and min(1.0, b + h), which keep 0 and 1 when h is NaN
    baseline = part["baseline"].to_numpy(dtype=float, na_value=np.nan)
    half = z * part["se_test"].to_numpy(dtype=float, na_value=np.nan)
    rate = part["rate"].to_numpy(dtype=float, na_value=np.nan)
    low, high = baseline - half, baseline + half
    history = ~np.isnan(baseline)
    good_side = np.where(part["direction"].to_numpy(dtype=object) == "above", rate < low, rate > high)
    status = np.where(~history, "no history", np.where(part["worse"].to_numpy(dtype=bool), "worse",
                                                       np.where(good_side, "better", "within noise")))
    part["low"] = np.where(history, np.where(low > 0.0, low, 0.0), np.nan).tolist()
    part["high"] = np.where(history, np.where(high < 1.0, high, 1.0), np.nan).tolist()
    part["status"] = status.tolist()
    return part


# --------------------------------------------------------------------------- other questions

def _on_calendar(frame: pd.DataFrame, grain: str) -> pd.DataFrame:
    """`frame` (one row per period) on the full calendar from its first to its last period: periods
    without a row come back as all-NaN rows, so a change is only taken between neighbours."""
    if frame.empty:
        return frame
    periods, cur = [], pd.Timestamp(frame["period"].min())
    while cur <= frame["period"].max():
        periods.append(cur)
        cur = period_end(cur, grain)
    return frame.set_index("period").reindex(pd.DatetimeIndex(periods, name="period")).reset_index()


def frequency_vs_unsubscribes(periods: pd.DataFrame, grain: str = "month") -> stats.TrendAwareCorrelation:
    """Pearson r between emails per recipient per week and the unsubscribe rate across periods, on
    the levels and on the period-to-period changes (`lib.stats.correlation_with_changes`).

    Only complete periods count (an incomplete one is not comparable), on the full calendar, so a
    change is taken between neighbouring periods only. Two series that both drift (a list that
    grows while unsubscribes creep up) correlate on the levels by their shared trend alone; r on
    the changes asks whether a week with more email than the last also lost more people than the
    last — `shared_trend_only` when the levels correlate and the changes do not.
    """
    if "unsubscribe_rate" not in periods or periods.empty:
        return stats.correlation_with_changes([], [])
    use = periods[~periods["incomplete"].astype(bool)] if "incomplete" in periods else periods
    use = use[["period", "emails_per_recipient_week", "unsubscribe_rate"]]
    if use.empty:
        return stats.correlation_with_changes([], [])
    at = _calendar_positions(use["period"], grain)
    if at is None:  # not plain period starts: the calendar built one period at a time
        use = _on_calendar(use, grain)
        return stats.correlation_with_changes(use["emails_per_recipient_week"].astype(float).tolist(),
                                              use["unsubscribe_rate"].astype(float).tolist())
    series = []
    for col in ("emails_per_recipient_week", "unsubscribe_rate"):  # NaN where the calendar has no period
        values = np.full(at.max() + 1, np.nan)
        values[at] = use[col].astype(float).to_numpy()
        series.append(values.tolist())
    return stats.correlation_with_changes(*series)


def _calendar_positions(period: pd.Series, grain: str) -> np.ndarray | None:
    """Each period's place on the calendar from the first (`_on_calendar`'s row of it), by numpy month or
    day arithmetic; None unless every value is a distinct plain datetime64 period start of `grain`."""
    if not (isinstance(period.dtype, np.dtype) and period.dtype.kind == "M") or period.empty:
        return None
    values = period.to_numpy()
    if np.isnat(values).any() or len(np.unique(values)) != len(values):
        return None
    if grain in ("month", "quarter", "year"):
        months = values.astype("datetime64[M]")
        if (months.astype(values.dtype) != values).any():
            return None
        steps, step = months.astype(np.int64), {"month": 1, "quarter": 3, "year": 12}[grain]
    elif grain in ("week", "day"):
        days = values.astype("datetime64[D]")
        if (days.astype(values.dtype) != values).any():
            return None
        steps, step = days.astype(np.int64), 7 if grain == "week" else 1
    else:
        return None
    offset = steps - steps.min()
    if (offset % step).any():
        return None
    return offset // step


def correlation_text(c: stats.Correlation, what: str) -> str:
    """'r = 0.42, 95% CI 0.05 to 0.69, n = 24 months', or why there is no r.

    >>> correlation_text(stats.pearson([1, 2, 3], [1, 2, 4]), 'weeks')
    'r = 0.98, n = 3 weeks'
    """
    if pd.isna(c.r):
        return f"too few {what} to correlate (n = {c.n})"
    ci = f", 95% CI {c.low:.2f} to {c.high:.2f}" if pd.notna(c.low) else ""
    return f"r = {c.r:.2f}{ci}, n = {c.n} {what}"


def slope_text(t: stats.TrendSlope, grain: str) -> str:
    """A slope in percentage points per period with its interval, and 'within noise' when it spans 0.

    >>> slope_text(stats.TrendSlope(-0.002, -0.005, 0.001, 0.2, 12), 'month')
    '-0.20 pp per month (95% CI -0.50 to +0.10 — within noise)'
    """
    noise = " — within noise" if t.within_noise else ""
    return f"{100 * t.slope:+.2f} pp per {grain} (95% CI {100 * t.low:+.2f} to {100 * t.high:+.2f}{noise})"


def topic_mix_effect(con, data: EmailData, filters: Filters, grain: str, rows: pd.DataFrame | None = None) -> MetricResult:
    """Actual open rate per period beside the open rate the topic mix alone would give.

    expected_open_rate(period) = Σ_topic delivered(period, topic) × open rate(topic, whole range)
    ÷ Σ_topic delivered(period, topic). If the actual line follows the expected one, the trend is
    explained by which topics were sent; a gap that grows is a within-topic change (fatigue).
    `promo_share`… generalised: `top_topic_share` is the delivered share of the range's largest topic.
    `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`).
    """
    cte, params = data.cte()
    where, wp = filters.where()
    per = period_sql("send_date", grain)
    sql = f"""{cte},
scoped AS (SELECT *, {per} AS period FROM base WHERE {where}),
topic_rate AS (SELECT topic, CAST(SUM(opens) AS DOUBLE) / NULLIF(SUM(delivered), 0) AS topic_open_rate,
                      SUM(delivered) AS topic_delivered FROM scoped GROUP BY topic),
top_topic AS (SELECT topic FROM topic_rate ORDER BY topic_delivered DESC, topic LIMIT 1),
cell AS (SELECT period, topic, SUM(opens) AS opens, SUM(delivered) AS delivered FROM scoped GROUP BY ALL)
SELECT c.period, CAST(SUM(c.opens) AS DOUBLE) / SUM(c.delivered) AS open_rate,
       SUM(c.delivered * t.topic_open_rate) / SUM(c.delivered) AS expected_open_rate,
       SUM(c.delivered) AS delivered,
       CAST(SUM(c.delivered) FILTER (WHERE c.topic = (SELECT topic FROM top_topic)) AS DOUBLE)
           / SUM(c.delivered) AS top_topic_share,
       (SELECT topic FROM top_topic) AS top_topic
FROM cell c JOIN topic_rate t USING (topic)
GROUP BY c.period ORDER BY c.period"""
    frame = email_rows.topic_mix(rows, filters, grain) if rows is not None else con.execute(sql, params + wp).df()
    frame["period"] = pd.to_datetime(frame["period"])
    frame["top_topic_share"] = frame["top_topic_share"].fillna(0.0)
    return MetricResult(frame, sql, params + wp, dict(data.excluded))


def open_rate_trends(mix: pd.DataFrame, grain: str) -> dict[str, stats.TrendSlope]:
    """Slopes per `grain` period of the actual open rate, of the rate the topic mix alone predicts,
    and of what is left (actual − expected, the change within topics), each with a 95 % interval
    robust to neighbouring periods being alike (`lib.stats.trend_slope`: OLS, Newey–West errors,
    t-based). x = periods since the first (calendar months ÷ 1, 3, 12; days ÷ 7 or 1 — a gap
    counts). A slope
    whose interval spans 0 is `within_noise`: the series may not be trending at all.
    """
    actual = mix["open_rate"].to_numpy(dtype=float, na_value=np.nan)
    keep = ~np.isnan(actual)
    when = mix["period"].to_numpy()[keep]
    if not keep.any():
        nan = stats.trend_slope([], [])
        return {"actual": nan, "expected": nan, "within": nan}
    # x in numpy month or day units (the mix's periods are plain datetime64 starts, without NaT)
    if grain in ("month", "quarter", "year"):  # calendar months differ in days: count months
        months = when.astype("datetime64[M]").astype(np.int64)
        x = ((months - months.min()) / {"month": 1, "quarter": 3, "year": 12}[grain]).tolist()
    else:
        days = (when - when.min()) // np.timedelta64(1, "D")  # whole days, as Timedelta.days
        x = (days / (7 if grain == "week" else 1)).tolist()
    actual, expected = actual[keep], mix["expected_open_rate"].to_numpy(dtype=float, na_value=np.nan)[keep]
    return {"actual": stats.trend_slope(x, actual.tolist()), "expected": stats.trend_slope(x, expected.tolist()),
            "within": stats.trend_slope(x, (actual - expected).tolist())}


def list_growth(con, data: EmailData, filters: Filters, grain: str, rows: pd.DataFrame | None = None) -> MetricResult:
    """Per period and list: sends, recipients (largest send, or the file's list size) and whether the
    list was new that period (its first send in the whole file, not only the range; lists already
    there in the file's first period are not new). `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`)."""
    cte, params = data.cte()
    where, wp = filters.where()
    per = period_sql("send_date", grain)
    sql = f"""{cte},
first_seen AS (SELECT list_name, MIN({per}) AS first_period FROM base GROUP BY list_name),
scoped AS (SELECT *, {per} AS period FROM base WHERE {where})
SELECT s.period, s.list_name, COUNT(*) AS sends, COALESCE(MAX(s.list_size), MAX(s.sent)) AS recipients,
       SUM(s.delivered) AS delivered, CAST(SUM(s.opens) AS DOUBLE) / NULLIF(SUM(s.delivered), 0) AS open_rate,
       CAST(SUM(s.unsubscribes) AS DOUBLE) / NULLIF(SUM(s.delivered), 0) AS unsubscribe_rate,
       f.first_period,
       s.period = f.first_period AND f.first_period > (SELECT MIN(first_period) FROM first_seen) AS is_new
FROM scoped s JOIN first_seen f USING (list_name)
GROUP BY ALL ORDER BY s.period, recipients DESC"""
    frame = email_rows.list_growth(rows, filters, grain) if rows is not None else con.execute(sql, params + wp).df()
    for c in ("period", "first_period"):
        frame[c] = pd.to_datetime(frame[c])
    return MetricResult(frame, sql, params + wp, dict(data.excluded))


def lists_behind_declines(growth: pd.DataFrame, declined: list[pd.Timestamp], grain: str,
                          lookback: int = 1) -> pd.DataFrame:
    """Lists first sent to in a declined period or in the `lookback` periods before it.

    One row per (declined period, new list) with the list's first period and its recipients then.
    """
    rows = []
    is_new = growth["is_new"].to_numpy(dtype=bool)
    if len(declined) and is_new.any():
        new = growth[is_new]
        started = new["period"]
        cells = None
        for period in sorted(set(pd.to_datetime(declined))):
            earliest = period
            for _ in range(lookback):
                earliest = period_start(earliest - pd.Timedelta(days=1), grain)
            hit = np.flatnonzero(((started >= earliest) & (started <= period)).to_numpy())
            if len(hit) and cells is None:  # the new lists' cells as to_dict("records") gives them, once
                cells = new[["list_name", "period", "recipients", "open_rate", "unsubscribe_rate"]].to_dict("records")
            for i in hit.tolist():
                rec = cells[i]
                rows.append({"declined_period": period, "new_list": rec["list_name"],
                             "first_sent": rec["period"], "recipients": rec["recipients"],
                             "open_rate": rec["open_rate"], "unsubscribe_rate": rec["unsubscribe_rate"]})
    return pd.DataFrame(rows, columns=["declined_period", "new_list", "first_sent", "recipients",
                                       "open_rate", "unsubscribe_rate"])


def program_changes(con, data: EmailData, filters: Filters, grain: str, periods: int,
                    jump_ratio: float, alpha: float = 0.05, rows: pd.DataFrame | None = None) -> MetricResult:
    """Changes in the program per period: new topic, new list, volume jump or drop.

    Volume jump: sends in the period ≥ `jump_ratio` × the average sends of the `periods` periods
    before (calendar periods; a period with no sends counts as 0) *and* beyond Poisson noise
    (P(X ≥ sends | mean = average) < `alpha`); a drop is ≤ average ÷ ratio with P(X ≤ sends) < alpha.
    Needs at least one earlier period. In a period the data covers only in part (the last one), the
    average is scaled to the days covered, so a month cut off on the 15th is not a drop.
    New topic / list = its first send in the whole file.
    Columns: period, change ('new topic', 'new list', 'volume jump', 'volume drop'), detail, sends,
    baseline_sends. `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`).
    """
    cte, params = data.cte()
    where_all, wp_all = filters.where(dates=False)
    per = period_sql("send_date", grain)
    step_one, step_k = _step(grain, 1), _step(grain, periods)
    scoped = f"scoped AS (SELECT *, {per} AS period FROM base WHERE {where_all})"
    if rows is not None:  # the scoped rows' first and last period, without a query
        when = email_rows.arrays(rows, (), (), filters, dates=False)["day"]
        lo, hi = (period_start(pd.Timestamp(when.min()), grain), pd.Timestamp(when.max())) if len(when) else (None, None)
    else:
        lo, hi = con.execute(f"{cte},\n{scoped}\nSELECT MIN(period), MAX(period) FROM scoped", params + wp_all).fetchone()
    # every period from the first send's to the last's, so a period with no sends counts as 0
    days = period_starts(pd.Timestamp(lo), pd.Timestamp(hi), grain) if lo is not None else []
    calendar, calendar_params = values_cte("calendar", ["period"], [(d.date(),) for d in days], ["DATE"])
    sql = f"""{cte},
{scoped},
bounds AS (SELECT MIN(period) AS lo, MAX(period) AS hi FROM scoped),
{calendar},
volume AS (SELECT c.period, COUNT(s.period) AS sends FROM calendar c LEFT JOIN scoped s USING (period)
           GROUP BY c.period),
trail AS (
    -- the trailing average scaled to the share of the period the data covers (a last period cut
    -- off on the 15th expects half the sends, not all of them)
    SELECT *, raw_baseline * covered AS baseline_sends,
           CASE WHEN covered < 1 THEN ' expected in the days covered' ELSE ' a period before' END AS basis
    FROM (SELECT v.period, v.sends, AVG(b.sends) AS raw_baseline, COUNT(b.period) AS base_periods,
                 date_diff('day', v.period, least(v.period + CAST(? AS INTERVAL), CAST(? AS DATE)))
                     / date_diff('day', v.period, v.period + CAST(? AS INTERVAL)) AS covered
          FROM volume v LEFT JOIN volume b ON b.period >= v.period - CAST(? AS INTERVAL) AND b.period < v.period
          GROUP BY v.period, v.sends) AS t
),
first_topic AS (SELECT topic, MIN(period) AS period, COUNT(*) AS n FROM scoped GROUP BY topic),
first_list AS (SELECT list_name, MIN(period) AS period, MAX(sent) AS n FROM scoped GROUP BY list_name)
SELECT period, 'volume jump' AS change,
       sends || ' sends vs ' || round(baseline_sends, 1) || basis AS detail, sends, baseline_sends
FROM trail WHERE base_periods > 0 AND baseline_sends > 0 AND sends >= ? * baseline_sends
UNION ALL
SELECT period, 'volume drop', sends || ' sends vs ' || round(baseline_sends, 1) || basis,
       sends, baseline_sends
FROM trail WHERE base_periods > 0 AND baseline_sends > 0 AND sends <= baseline_sends / ?
UNION ALL
SELECT period, 'new topic', topic, NULL, NULL FROM first_topic
WHERE period > (SELECT lo FROM bounds) AND topic <> '{NO_TOPIC}'
UNION ALL
SELECT period, 'new list', list_name || ' (' || n || ' recipients)', NULL, NULL FROM first_list
WHERE period > (SELECT lo FROM bounds) AND list_name <> '{NO_LIST}'
ORDER BY period, change, detail"""
    data_end = (pd.Timestamp(data.last_send).normalize() + pd.Timedelta(days=1)).date() if data.last_send is not None \
        else pd.Timestamp("2262-01-01").date()
    all_params = params + wp_all + calendar_params + [step_one, data_end, step_one, step_k, float(jump_ratio),
                                                      float(jump_ratio)]
    frame = (email_rows.program_changes(rows, filters, grain, periods, float(jump_ratio), data_end, days, NO_TOPIC, NO_LIST)
             if rows is not None else con.execute(sql, all_params).df())
    frame["period"] = pd.to_datetime(frame["period"])
    noise = [poisson_tail(k, m, upper=c == "volume jump") if c.startswith("volume") else 0.0
             for c, k, m in zip(frame["change"], frame["sends"], frame["baseline_sends"])]
    frame = frame[pd.Series([p < alpha for p in noise], index=frame.index, dtype=bool)]
    if filters.start is not None:
        frame = frame[frame["period"] >= period_start(filters.start, grain)]
    if filters.end is not None:
        frame = frame[frame["period"] < pd.Timestamp(filters.end)]
    return MetricResult(frame.reset_index(drop=True), sql, all_params, dict(data.excluded))


# --------------------------------------------------------------------------- flags

def period_subject(start, grain: str) -> str:
    """How a period is named in a flag: 'week of 2026-03-02', 'Mar 2026', 'Q1 2026'.

    >>> period_subject(pd.Timestamp('2026-03-02'), 'week'), period_subject(pd.Timestamp('2026-03-01'), 'month')
    ('week of 2026-03-02', 'Mar 2026')
    """
    label = period_label(pd.Timestamp(start), grain)
    return f"{grain} of {label}" if grain in ("day", "week") else label


def _beyond(low: float, high: float, limit: float, direction: str) -> bool:
    """True when the whole interval [low, high] lies on the bad side of the threshold."""
    if low is None or pd.isna(low) or pd.isna(high):
        return False
    return low > limit if direction == "above" else high < limit


def threshold_flags(frame: pd.DataFrame, subject_col: str, when_col: str, thresholds: Thresholds,
                    rates: tuple[Rate, ...], mpp_note: bool, level: str,
                    intervals: dict[str, pd.DataFrame] | None = None, floats=None) -> list[Flag]:
    """A flag for each row × rate whose rate is beyond its threshold by more than chance.

    Per send (`intervals` None): the send's exact (Clopper–Pearson) 95 % interval must clear the
    threshold — one complaint in 400 (0.25 %, interval 0.006 %–1.4 %) is no evidence of a rate
    above 0.1 %; exact rather than Wilson, which is too narrow for a few events at the strict
    level. Per period (`intervals` = {rate key: frame of `cluster_intervals` by period at 95 % and
    `<…>_strict`}): the cluster-robust interval by send must clear it, since sends, not
    recipients, vary. The threshold is the row's `<rate>_limit` column when the frame has one (a
    topic's own value, `with_topic_limits`), else the general value. Severity 'high' when the interval at the
    Bonferroni level (alpha ÷ m, m = rows with that rate) clears it too, 'medium' otherwise,
    'low' when n < min_group_size. `floats`: a `_float_columns` reader of `frame` (its conversions shared).
    """
    flags: list[Flag] = []
    floats = floats or _float_columns(frame)
    min_n, alpha = thresholds["min_group_size"], thresholds["baseline_alpha"]
    columns: dict[str, np.ndarray] = {}  # the cells read, column by column as Python objects (as to_dict
    # gives them): a dict per row of a wide frame cost more than the tests

    def cell(name: str, i: int):
        if name not in columns:
            columns[name] = frame[name].to_numpy(dtype=object)
        return columns[name][i]

    todo = []  # the rates some row crosses: (rate, its general line, the crossing rows, m)
    for rate in rates:
        if rate.threshold_key is None or rate.key not in frame:
            continue
        general = thresholds[rate.threshold_key]
        past = _crossed(frame, rate, general, floats)
        if not len(past):  # the loop below would skip every row
            continue
        m = int(np.count_nonzero(floats(f"{rate.key}_n") > 0))  # rows with n > 0
        stats.z_for_alpha(alpha / max(m, 1))  # (checks alpha)
        todo.append((rate, general, past, m))
    if intervals is None and todo:  # the crossing sends' exact intervals (each row's own), every rate at
        # 95 % and at alpha ÷ m, in one call (each element is its own scipy computation)
        x_all = np.concatenate([floats(f"{r.key}_x")[past] for r, _, past, _ in todo] * 2)
        n_all = np.concatenate([floats(f"{r.key}_n")[past] for r, _, past, _ in todo] * 2)
        levels = np.concatenate([np.full(len(past), 0.05) for _, _, past, _ in todo]
                                + [np.full(len(past), alpha / max(m, 1)) for _, _, past, m in todo])
        lows, highs = (side.tolist() for side in stats.exact_intervals(x_all, n_all, levels))
        half, start, exact_of = len(lows) // 2, 0, {}
        for r, _, past, _ in todo:
            at = past.tolist()
            end = start + len(at)
            exact_of[r.key] = (dict(zip(at, zip(lows[start:end], highs[start:end]))),
                               dict(zip(at, zip(lows[half + start:half + end], highs[half + start:half + end]))))
            start = end
    for rate, general, past, m in todo:
        if intervals is None:
            exact95, exact_strict = exact_of[rate.key]
        by_when = None
        if intervals is not None:
            iv = intervals[rate.key]  # per period: its intervals (plain dicts: iterrows cost more than the tests)
            names = ("low", "high", "low_strict", "high_strict", "clusters")
            by_when = {pd.Timestamp(k): dict(zip(names, v)) for k, v in
                       zip(iv[when_col], zip(*(iv[c].to_numpy(dtype=float).tolist() for c in names)))}
        own_limit, questions = f"{rate.key}_limit" in frame, questions_for(AREA, rate.label)  # the same every row
        for i in past.tolist():
            value, x, n = cell(rate.key, i), cell(f"{rate.key}_x", i), cell(f"{rate.key}_n", i)
            if value is None or pd.isna(value) or pd.isna(n) or n <= 0:
                continue
            limit = float(cell(f"{rate.key}_limit", i) if own_limit else general)
            crossed = value > limit if rate.direction == "above" else value < limit
            if not crossed:
                continue
            when = pd.Timestamp(cell(when_col, i))
            if by_when is None:
                lo, hi = exact95[i]
                strict = _beyond(*exact_strict[i], limit, rate.direction)
                how = "exact 95%"
            else:
                ci = by_when[when]
                lo, hi = float(ci["low"]), float(ci["high"])
                strict = _beyond(ci["low_strict"], ci["high_strict"], limit, rate.direction)
                how = (f"95% cluster-robust over {int(ci['clusters'])} sends" if ci["clusters"] > 1
                       else "exact 95%, one send")
            if not _beyond(lo, hi, limit, rate.direction):
                continue
            severity = "low" if n < min_n else "high" if strict else "medium"
            own = "" if limit == general else " (this topic's own)" if level == "send" else " (topic mix's own)"
            note = f"threshold {'≤' if rate.direction == 'above' else '≥'} {pct(limit, 2)}{own}; " \
                   f"{level}: {rate.definition} = {int(x):,} ÷ {int(n):,} ({how} {pct(lo, 2)}–{pct(hi, 2)}, " \
                   f"clear of the threshold{'; also at the Bonferroni level over ' + str(m) if strict else ''})"
            if rate.key == "open_rate" and mpp_note and when >= pd.Timestamp(EMAIL_MPP_START):
                note += "; opens inflated by Apple Mail Privacy Protection — check click rate"
                severity = "low" if severity == "medium" else "medium" if severity == "high" else severity
            if n < min_n:
                note += f"; small sample (n < {int(min_n)})"
            flags.append(Flag(AREA, rate.label, str(cell(subject_col, i)), float(value), float(limit), note,
                              severity, questions, when))
    return flags


def _cells(frame: pd.DataFrame, name: str, at: np.ndarray) -> np.ndarray:
    """`frame[name].to_numpy(dtype=object)[at]` (cells as Python objects, as `_records` has them),
    converting only the rows at `at`."""
    column = frame[name]
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":  # numpy numbers: the same objects
        return column.to_numpy()[at].astype(object)
    return column.iloc[at].to_numpy(dtype=object)


def _records(frame: pd.DataFrame) -> list[dict]:
    """`frame.to_dict("records")` (cells as Python objects) built column by column: pandas' own walks
    the wide frames here row by row and cost more than the flags made from them."""
    columns = [(name, frame[name].to_numpy(dtype=object)) for name in frame.columns]
    return [{name: values[i] for name, values in columns} for i in range(len(frame))]


def _float_columns(frame: pd.DataFrame):
    """A reader of `frame`'s columns as floats (NaN where missing), each column converted once (read only)."""
    done: dict[str, np.ndarray] = {}

    def read(name: str) -> np.ndarray:
        if name not in done:
            done[name] = frame[name].to_numpy(dtype=float, na_value=np.nan)
        return done[name]
    return read


def _crossed(frame: pd.DataFrame, rate: Rate, general: float, floats=None) -> np.ndarray:
    """Positions of the rows whose `rate` is past its line (the row's `<rate>_limit`, else `general`) on
    the bad side, with a denominator: the rows `threshold_flags` goes on to test. `floats`: a
    `_float_columns` reader of `frame`, to share its conversions."""
    floats = floats or _float_columns(frame)
    value = floats(rate.key)
    n = floats(f"{rate.key}_n")
    limit = (floats(f"{rate.key}_limit") if f"{rate.key}_limit" in frame
             else np.full(len(frame), float(general)))
    with np.errstate(invalid="ignore"):
        past = value > limit if rate.direction == "above" else value < limit
        return np.flatnonzero(past & ~np.isnan(n) & (n > 0))


def period_intervals(send_rows: pd.DataFrame, rates: tuple[Rate, ...], alpha: float) -> dict[str, pd.DataFrame]:
    """Per rate: the period's pooled rate with its cluster-robust interval by send at 95 % (low, high)
    and at the Bonferroni level alpha ÷ m over the m periods (low_strict, high_strict)."""
    out = {}
    m = max(send_rows["period"].nunique(), 1) if len(send_rows) else 1
    z_strict = stats.z_for_alpha(alpha / m)
    todo = [rate for rate in rates if f"{rate.key}_n" in send_rows]
    if not todo:
        return out
    # `cluster_intervals` by period at both levels: the periods grouped once, each period's rate and
    # standard error computed once (`stats.cluster_rate_interval`'s steps), one-send periods' exact
    # intervals at both levels in one call
    codes, values = pd.factorize(send_rows["period"], sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(values) + 1))
    levels = (stats.Z95, z_strict)
    for rate in todo:
        xs = send_rows[f"{rate.key}_x"].to_numpy(dtype=float, na_value=np.nan)
        ns = send_rows[f"{rate.key}_n"].to_numpy(dtype=float, na_value=np.nan)
        usable = (codes >= 0) & ~np.isnan(ns) & (ns > 0)
        nan = [math.nan] * len(values)
        pooled, clusters, single = list(nan), [0] * len(values), []
        bands = [(list(nan), list(nan)) for _ in levels]  # (low, high) per level
        for i in range(len(values)):
            members = order[bounds[i]:bounds[i + 1]]
            members = members[usable[members]]
            if len(members) == 0:
                continue
            clusters[i] = len(members)
            x, n = xs[members], ns[members]
            if n.sum() <= 0:
                continue
            p = float(x.sum() / n.sum())
            pooled[i] = p
            g = len(n)
            if g < 2:
                single.append((i, members[0]))
                continue
            se = math.sqrt(g / (g - 1) * float(np.sum((x - p * n) ** 2))) / float(n.sum())
            for (low, high), z in zip(bands, levels):
                low[i], high[i] = max(0.0, p - z * se), min(1.0, p + z * se)
        if single:
            at = [s for _, s in single] * len(levels)
            alphas = np.repeat([2 * (1 - stats.normal_cdf(z)) for z in levels], len(single))
            lows, highs = (side.tolist() for side in stats.exact_intervals(xs[at], ns[at], alphas))
            for k, (low, high) in enumerate(bands):
                for j, (i, _) in enumerate(single):
                    low[i], high[i] = lows[k * len(single) + j], highs[k * len(single) + j]
        out[rate.key] = pd.DataFrame({"period": list(values), "rate": pooled, "low": bands[0][0], "high": bands[0][1],
                                      "clusters": clusters, "low_strict": bands[1][0], "high_strict": bands[1][1]},
                                     columns=["period", "rate", "low", "high", "clusters", "low_strict", "high_strict"])
    return out


def history_flags(tests: pd.DataFrame, alpha: float, level: str, periods: int,
                  file_tests: int | None = None) -> list[Flag]:
    """Flags for subjects significantly worse than their trailing baseline (`worse` of `baseline_tests`:
    Benjamini–Hochberg over the rate's subjects). 'high' when it also survives Bonferroni over
    `file_tests` — every own-history test of the file, all rates, periods and sends (default: the
    rate's own `high`, Bonferroni over its subjects)."""
    flags: list[Flag] = []
    if tests.empty:
        return flags
    keys = tests["key"].to_numpy(dtype=object)
    m: dict = {}  # tests per rate (p not nan)
    for key in keys[~np.isnan(tests["p_value"].to_numpy(dtype=float, na_value=np.nan))].tolist():
        m[key] = m.get(key, 0) + 1
    worse = np.flatnonzero(tests["worse"].to_numpy(dtype=bool))
    if not len(worse):
        return flags
    read = ["exact", "x", "n", "baseline", "base_n", "sigma_z", "p_value", "p_adjusted", "key", "high", "metric",
            "rate", "subject", "send_date" if level == "campaign" else "period"]
    columns = {name: _cells(tests, name, worse) for name in read if name in tests}
    for i in range(len(worse)):
        rec = {name: values[i] for name, values in columns.items()}
        basis = "same-topic sends in the" if level == "campaign" else "the"
        mix = "" if level == "campaign" else " (re-weighted to this period's topic mix)"
        name = "one-sided Fisher's exact test" if rec["exact"] else "log odds ratio test"
        units = "sends" if level == "campaign" else f"{level}s"
        test = (f"{name} vs {basis} {periods} {'periods' if level == 'campaign' else level + 's'} before{mix}: "
                f"{int(rec['x']):,}/{int(rec['n']):,} vs {pct(rec['baseline'], 2)} of {int(rec['base_n']):,}; "
                f"send-to-send variation widens the SE ×{rec['sigma_z']:.1f}; p={rec['p_value']:.2g}, "
                f"Benjamini–Hochberg over {m.get(rec['key'], 1)} {units} p={rec['p_adjusted']:.2g}"
                + (f"; Bonferroni over the file's {file_tests:,} own-history tests p={min(1.0, rec['p_value'] * file_tests):.2g}"
                   if file_tests else ""))
        high = rec["high"] if not file_tests else rec["p_value"] * file_tests < alpha
        when = pd.Timestamp(rec.get("send_date") if level == "campaign" else rec["period"])
        subject = rec["subject"] if level == "campaign" else period_subject(when, level)
        flags.append(Flag(AREA, f"{rec['metric']} (own history)", subject, float(rec["rate"]),
                          float(rec["baseline"]), test, "high" if high else "medium",
                          questions_for(AREA, rec["metric"]), when))
    return flags


_SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}


def strongest_per_subject(flags: list[Flag]) -> list[Flag]:
    """One flag per subject and rate: the threshold flag and the own-history flag of the same send
    or period become one row, the more severe one (own history on a tie: a tested change), with
    the other's evidence appended to its test text. Order of first appearance is kept.

    >>> t = Flag('email', 'Unsubscribe rate', 'A', 0.003, 0.001, 'threshold …', 'medium')
    >>> h = Flag('email', 'Unsubscribe rate (own history)', 'A', 0.003, 0.0005, 'z-test …', 'high')
    >>> [(f.metric, f.severity, f.test) for f in strongest_per_subject([t, h])]
    [('Unsubscribe rate (own history)', 'high', 'z-test …; also: threshold …')]
    """
    groups: dict[tuple, list[Flag]] = {}
    for flag in flags:
        groups.setdefault((flag.subject, flag.metric.removesuffix(" (own history)"), flag.unit), []).append(flag)
    out = []
    for group in groups.values():
        best = max(group, key=lambda f: (_SEVERITY_RANK.get(f.severity, 0), f.metric.endswith("(own history)")))
        others = [f.test for f in group if f is not best]
        out.append(replace(best, test="; also: ".join([best.test, *others])) if others else best)
    return out


def scanner_flags(campaigns: pd.DataFrame) -> list[Flag]:
    """A flag per campaign whose clicks or unsubscribes came within seconds of delivery (scanners)."""
    flags = []
    if "scanner_clicks" not in campaigns:
        return flags
    some = np.zeros(len(campaigns), dtype=bool)  # the loop below skips every other row
    for col in ("scanner_clicks", "scanner_unsubscribes"):
        if col in campaigns:
            some |= campaigns[col].to_numpy(dtype=float, na_value=np.nan) > 0
    for rec in _records(campaigns[some]) if some.any() else []:
        for col, total, label in (("scanner_clicks", "clicks", "clicks"),
                                  ("scanner_unsubscribes", "unsubscribes", "unsubscribes")):
            k, n = rec.get(col), rec.get(total)
            if k is None or pd.isna(k) or k <= 0 or not n:
                continue
            share = float(k) / float(n)
            flags.append(Flag(AREA, f"Scanner-like {label}", str(rec["campaign"]), share, 0.0,
                              f"{int(k)} of {int(n)} recipients' first {label[:-1]} came within seconds of "
                              "delivery — likely a security scanner, not a person",
                              "high" if share >= 0.1 else "medium",
                              ("Which domains do these recipients share (a company mail gateway)?",
                               "Does the click rate still hold without them?"),
                              pd.Timestamp(rec["send_date"]), "ratio"))
    return flags


def poisson_tail(k: float, mean: float, upper: bool = True) -> float:
    """P(X ≥ k) (upper) or P(X ≤ k) for X ~ Poisson(mean).

    Worked: mean 0.5, k 1 → 1 − e^−0.5 = 0.3935.
    >>> round(poisson_tail(1, 0.5), 4), round(poisson_tail(0, 2.0, upper=False), 4)
    (0.3935, 0.1353)
    """
    k = int(k)
    if mean <= 0:
        return 1.0 if (upper and k <= 0) or not upper else 0.0
    term, cdf = math.exp(-mean), 0.0
    for i in range(k if upper else k + 1):
        cdf += term
        term *= mean / (i + 1)
    return max(0.0, 1.0 - cdf) if upper else min(1.0, cdf)


def volume_flags(changes: pd.DataFrame, jump_ratio: float, grain: str) -> list[Flag]:
    """A flag per period whose sends jumped to ≥ jump_ratio × the trailing average."""
    flags = []
    jumps = np.flatnonzero((changes["change"] == "volume jump").to_numpy(dtype=bool)) if len(changes) else []
    columns = {name: changes[name].to_numpy(dtype=object)[jumps]  # the cells as `to_dict("records")` gives them
               for name in ("period", "sends", "baseline_sends", "detail")} if len(jumps) else {}
    for i in range(len(jumps)):
        rec = {name: values[i] for name, values in columns.items()}
        flags.append(Flag(AREA, "Send volume", period_subject(rec["period"], grain),
                          float(rec["sends"]), float(rec["baseline_sends"]),
                          f"sends ≥ {jump_ratio:g}× the trailing average ({rec['detail']})", "medium",
                          questions_for(AREA, "Unsubscribe rate"), pd.Timestamp(rec["period"]), "sends"))
    return flags


def with_topic_limits(send_rows: pd.DataFrame, periods: pd.DataFrame, thresholds: Thresholds,
                      rates: tuple[Rate, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add `<rate>_limit` columns where some topic has its own threshold (`Thresholds.for_topic`).

    A send is held to its topic's value. A period mixes topics, so it is held to their mix:
    limit = Σ_topic n_topic · limit_topic ÷ Σ_topic n_topic, n = the rate's denominator summed
    over the period's sends of that topic (the rate the period would have if every topic sat
    exactly on its own line). Worked: 1,000 delivered welcome at 30 % and 3,000 promo at the
    general 15 % → (1000·0.30 + 3000·0.15) ÷ 4000 = 18.75 %.
    """
    send_rows, periods = send_rows.copy(), periods.copy()
    for rate in rates:
        key = rate.threshold_key
        if key is None or not thresholds.topic_values(key) or f"{rate.key}_n" not in send_rows:
            continue
        limits = send_rows["topic"].map(lambda t: thresholds.for_topic(key, t)).astype(float)
        send_rows[f"{rate.key}_limit"] = limits
        n = send_rows[f"{rate.key}_n"].fillna(0).astype(float)
        weighted = (n * limits).groupby(send_rows["period"]).sum() / n.groupby(send_rows["period"]).sum()
        mixed = pd.to_datetime(periods["period"]).map(weighted)
        periods[f"{rate.key}_limit"] = mixed.fillna(thresholds[key]).to_numpy()
    return send_rows, periods


def email_flags(con, data: EmailData, filters: Filters, grain: str, thresholds: Thresholds) -> list[Flag]:
    """All email flags for the selection, one row per subject and rate (`strongest_per_subject`):
    thresholds per send (A/B variants merged) and per period, own history per period and send,
    send-volume jumps, scanner bursts, gaps in sending — `flags_from` the figures they rest on."""
    alpha, k = thresholds["baseline_alpha"], int(thresholds["baseline_periods"])
    jump = thresholds["email_volume_jump"]
    return flags_from(data, grain, thresholds, sends(con, data, filters, grain).frame,
                      rates_by_period(con, data, filters, grain).frame,
                      baseline_tests(con, data, filters, grain, k, alpha, "period").frame,
                      baseline_tests(con, data, filters, grain, k, alpha, "campaign").frame,
                      program_changes(con, data, filters, grain, k, jump, alpha).frame,
                      campaign_table(con, data, filters).frame,
                      sending_gaps(con, data, filters, thresholds["email_gap_multiple"],
                                   thresholds["email_gap_min_days"], jump).frame)


def flags_from(data: EmailData, grain: str, thresholds: Thresholds, send_rows: pd.DataFrame,
               periods: pd.DataFrame, period_tests: pd.DataFrame, campaign_tests: pd.DataFrame,
               changes: pd.DataFrame, campaigns: pd.DataFrame, gaps: pd.DataFrame) -> list[Flag]:
    """`email_flags` from the frames it rests on, for the selection and `grain`: `sends`,
    `rates_by_period`, `baseline_tests` by period and by campaign (with the thresholds' alpha and
    periods), `program_changes` (their volume jump), `campaign_table` and `sending_gaps` (their gap
    thresholds). The page passes the frames it shows, so each is computed once per click."""
    alpha, k = thresholds["baseline_alpha"], int(thresholds["baseline_periods"])
    rates = data.usable_rates()
    mpp = not data.has("machine_opens")
    send_rows, periods = with_topic_limits(send_rows, periods, thresholds, rates)
    flags = threshold_flags(send_rows, "campaign", "send_date", thresholds, rates, mpp, "send")
    periods["subject"] = [period_subject(p, grain) for p in periods["period"]]
    # intervals only for the rates some period crosses (the others' are never read)
    floats = _float_columns(periods)
    crossing = tuple(r for r in rates if r.threshold_key is not None and r.key in periods
                     and len(_crossed(periods, r, thresholds[r.threshold_key], floats)))
    flags += threshold_flags(periods, "subject", "period", thresholds, rates, mpp, grain,
                             period_intervals(send_rows, crossing, alpha), floats)
    tested = int(period_tests["p_value"].notna().sum() + campaign_tests["p_value"].notna().sum())
    flags += history_flags(period_tests, alpha, grain, k, tested) + history_flags(campaign_tests, alpha, "campaign", k,
                                                                                  tested)
    flags = strongest_per_subject(flags)
    flags += volume_flags(changes, thresholds["email_volume_jump"], grain)
    flags += scanner_flags(campaigns)
    flags += gap_flags(gaps, thresholds["email_gap_multiple"])
    return flags


def flag_counts(flags: list[Flag]) -> pd.DataFrame:
    """Flags counted by metric and severity (the summary above the flag table)."""
    if not flags:
        return pd.DataFrame(columns=["Metric", "high", "medium", "low"])
    # counted in plain Python: the frame a pivot_table gave (metrics sorted, columns named "Severity")
    counts: dict[tuple[str, str], int] = {}
    for f in flags:
        counts[(f.metric, f.severity)] = counts.get((f.metric, f.severity), 0) + 1
    metrics = sorted({f.metric for f in flags})
    out = pd.DataFrame({"Metric": pd.array(metrics, dtype="str"),
                        **{s: np.array([counts.get((m, s), 0) for m in metrics], dtype=np.int64)
                           for s in ("high", "medium", "low")}})
    out.columns = pd.Index(list(out.columns), dtype="str", name="Severity")
    return out


# --------------------------------------------------------------------------- report contract

def _datasets(ws):
    for kind in KINDS:
        dataset = ws.get(kind)
        if dataset is not None:
            yield dataset


def area_flags(ws) -> list[Flag]:
    """Email red flags for the report: every loaded email dataset, whole range, no filters, by month
    (by week when the data spans under six months)."""
    flags: list[Flag] = []
    con = ws.con.cursor()  # a cursor: the page's own run may still use ws.con
    for dataset in _datasets(ws):
        data = email_data(con, dataset.table, ws.thresholds["email_scanner_seconds"])
        grain = default_grain(data.first_send, data.last_send)
        if data.first_send is not None:
            flags += email_flags(con, data, Filters(), grain, ws.thresholds)
    return flags


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """Per-campaign and per-period tables of each loaded email dataset, and its A/B tests when it has
    any, for the Excel export."""
    tables: dict[str, pd.DataFrame] = {}
    con = ws.con.cursor()
    for dataset in _datasets(ws):
        data = email_data(con, dataset.table, ws.thresholds["email_scanner_seconds"])
        grain = default_grain(data.first_send, data.last_send)
        prefix = "Email campaigns" if data.kind == "email_campaigns" else "Email events"
        tables[f"{prefix} – per send"] = campaign_table(con, data, Filters()).frame
        tables[f"{prefix} – per {grain}"] = rates_by_period(con, data, Filters(), grain).frame
        ab = ab_tests(con, data, Filters(), "open_rate", ws.thresholds["baseline_alpha"]).frame
        if len(ab):
            tables[f"{prefix} – A/B tests (open rate)"] = ab
    return tables


def period_range(first: pd.Timestamp, last: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first day, day after last) — the whole data range as Filters bounds."""
    return pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize() + pd.Timedelta(days=1)


__all__ = ["declined_periods", "campaign_display", "history_display", "RATES", "HUMAN_RATES", "EmailData", "Filters", "email_data", "pooled_rates", "headline_tiles",
           "rates_by_period", "rates_by_group", "campaign_table", "baseline_tests", "baseline_limits",
           "frequency_vs_unsubscribes", "topic_mix_effect", "open_rate_trends", "list_growth", "lists_behind_declines",
           "program_changes", "email_flags", "area_flags", "area_tables", "period_end"]


# --------------------------------------------------------------------------- tables for people

def declined_periods(tests: pd.DataFrame) -> list[pd.Timestamp]:
    """Periods significantly worse than own history on any rate (from period-level baseline_tests)."""
    if tests.empty:
        return []
    return sorted(set(pd.to_datetime(tests.loc[tests["worse"], "period"])))


def campaign_display(campaigns: pd.DataFrame) -> pd.DataFrame:
    """The per-send table with readable headers (rates stay ratios 0–1 for sorting and export)."""
    names = {"send_date": "Sent", "campaign": "Campaign", "topic": "Topic", "list_name": "List",
             "sent": "Sent to", "delivered": "Delivered", "opens": "Unique opens", "clicks": "Unique clicks",
             "unsubscribes": "Unsubscribes", "complaints": "Spam complaints",
             **{r.key: r.label for r in RATES + HUMAN_RATES},
             "vendor_open_rate": "Vendor open rate", "vendor_click_rate": "Vendor click rate",
             "vendor_note": "Vendor vs counts", "scanner_clicks": "Scanner-like clicks", "_row": "File row"}
    present = [c for c in names if c in campaigns]
    filled = campaigns[present].notna().any().to_numpy()  # one frame-wide check, not a Series a column
    out = campaigns[[c for c, some in zip(present, filled) if some]]
    if len(out.columns):  # a new frame: named in place (rename ~0.3 ms; no columns: rename keeps their type)
        out.columns = [names[c] for c in out.columns]
    return out


def history_display(limits: pd.DataFrame) -> pd.DataFrame:
    """A rate's period tests as a table: the counts behind each test, the band and the verdict."""
    cols = {"period": "Period", "x": "Numerator", "n": "Denominator (n)", "rate": "Rate",
            "baseline": "Baseline", "base_n": "Baseline n", "low": "Band low", "high": "Band high",
            "z": "z", "sigma_z": "σz", "p_value": "p (one-sided)", "p_adjusted": "p (BH)", "status": "Verdict"}
    out = limits[[c for c in cols if c in limits]]
    if len(out.columns):  # a new frame: named in place (rename ~0.3 ms; no columns: rename keeps their type)
        out.columns = [cols[c] for c in out.columns]
    out["Period"] = pd.to_datetime(out["Period"]).dt.date
    return out


def percent_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of a table that hold ratios 0–1 (shown as percentages on the page).

    >>> percent_columns(pd.DataFrame(columns=['Rate', 'open_rate_low', 'sends', 'Baseline', 'Open rate']))
    ['Rate', 'open_rate_low', 'Baseline', 'Open rate']
    """
    names = {"baseline", "band low", "band high", "ctor", "top_topic_share"}
    return [c for c in frame.columns if "rate" in str(c).lower() and not str(c).endswith(("_x", "_n"))
            or str(c).lower() in names or str(c).endswith(("_low", "_high"))]


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetime columns that hold only midnights become plain dates (periods read '2026-03-01')."""
    out = frame.copy(deep=False)  # copy-on-write: the columns set below never reach `frame`
    for col, dtype in frame.dtypes.items():
        if isinstance(dtype, np.dtype) and dtype.kind == "M":  # naive: midnights on the column's integers
            values = frame[col].to_numpy()  # (~20 µs, not the ~0.3 ms of dropna, normalize and compare)
            ticks = values[~np.isnat(values)].view(np.int64)
            day = np.timedelta64(1, "D") // np.timedelta64(1, np.datetime_data(dtype)[0])
            if len(ticks) and not (ticks % day).any():  # floored: before 1970 too
                out[col] = out[col].dt.date
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            values = out[col].dropna()
            if len(values) and (values == values.dt.normalize()).all():
                out[col] = out[col].dt.date
    return out


# --------------------------------------------------------------------------- send time (issue #22)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEND_TIME_RATES = ("open_rate", "click_rate", "unsubscribe_rate")


def has_send_hours(send_dates) -> bool:
    """False when every send is at 00:00 — a file of dates without times, which has no hour of send."""
    when = pd.to_datetime(pd.Series(send_dates)).dropna()
    return bool(len(when)) and bool((when != when.dt.normalize()).any())


def send_time_rows(con, data: EmailData, filters: Filters, send_rows: MetricResult | None = None) -> MetricResult:
    """One row per send (A/B variants merged, `sends`) with the `weekday` (Monday…Sunday) and `hour`
    (0–23) of its send time as the file writes it; `hour` is missing for every send when the file
    gives dates only (`has_send_hours`). `send_rows`: `sends` of the same selection at any grain, which
    the page has already (the same sends; only their `period` column differs), instead of a query."""
    result = sends(con, data, filters, "day") if send_rows is None else send_rows
    frame = result.frame.copy()
    when = pd.to_datetime(frame["send_date"])
    frame["weekday"] = when.dt.day_name().astype(object)
    frame["hour"] = when.dt.hour.astype("Int64") if has_send_hours(when) else pd.array([pd.NA] * len(frame), "Int64")
    return replace(result, frame=frame)


def send_time_rates(rows: pd.DataFrame, by: str, key: str) -> pd.DataFrame:
    """The pooled `key` rate per weekday or hour of send, with its cluster-robust 95 % interval.

    rate = Σ numerator ÷ Σ denominator over the group's sends (e.g. open rate = Σ unique opens ÷
    Σ delivered); interval by send (`cluster_intervals`: sends, not recipients, vary; a group of
    one send gets its exact binomial interval). Columns: `by`, sends, x, n, rate, low, high.
    Weekdays in calendar order, hours ascending; only groups with sends.
    """
    if by not in ("weekday", "hour"):
        raise ValueError(by)
    rows = rows[rows[by].notna() & (rows[f"{key}_n"].fillna(0) > 0)]
    cols = [by, "sends", "x", "n", "rate", "low", "high"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.assign(**{by: rows[by].astype(object) if by == "weekday" else rows[by].astype(int)})
    # groups in order of first appearance, as cluster_intervals takes them; sums by integer codes (whole
    # numbers: the same floats as a groupby's) — a pandas named aggregation cost more than the intervals
    codes, values = pd.factorize(rows[by], sort=False)
    ci = cluster_intervals(rows, by, key)
    x = np.bincount(codes, weights=rows[f"{key}_x"].to_numpy(dtype=float, na_value=np.nan), minlength=len(values))
    n = np.bincount(codes, weights=rows[f"{key}_n"].to_numpy(dtype=float, na_value=np.nan), minlength=len(values))
    out = pd.DataFrame({by: values.to_numpy(dtype=object if by == "weekday" else np.int64),
                        "sends": np.bincount(codes, minlength=len(values)).astype(np.int64), "x": x, "n": n,
                        "rate": ci["rate"].to_numpy(dtype=float), "low": ci["low"].to_numpy(dtype=float),
                        "high": ci["high"].to_numpy(dtype=float)})
    order = [WEEKDAYS.index(v) for v in out[by]] if by == "weekday" else out[by].to_numpy()
    return out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


@dataclass(frozen=True)
class GroupDifference:
    """Quasi-binomial F test of one rate across groups of sends (see `rate_differs_test`)."""

    statistic: float  # F
    df_groups: int  # G − 1
    df_resid: int  # N − G (sends − groups)
    p_value: float
    dispersion: float  # φ, at least 1
    chi2: float  # the plain Pearson chi-square on recipients, before the dispersion


def rate_differs_test(rows: pd.DataFrame, by: str, key: str) -> GroupDifference:
    """Does the `key` rate differ across weekdays (or hours) by more than sends differ anyway?

    With sends i in groups g (x_i of n_i), p̂ the pooled rate and p̂_g each group's:
      X² = Σ_g (x_g − n_g·p̂)² ÷ (n_g·p̂·(1 − p̂))  — Pearson's chi-square of the G×2 table of
           groups × (yes, no) on recipients (scipy.stats.chi2_contingency, no correction);
      φ  = Σ_i (x_i − n_i·p̂_g)² ÷ (n_i·p̂_g·(1 − p̂_g)) ÷ (N − G) — how much sends of one group
           differ beyond binomial chance (the Pearson χ² of a binomial GLM with one rate per group
           ÷ its residual df), taken as at least 1;
      F  = (X² ÷ (G − 1)) ÷ φ on (G − 1, N − G) degrees of freedom (the quasi-binomial F test).
    A chi-square on recipients alone would call every weekday different, because a send's
    recipients share its subject and audience. NaN when there are under 2 groups or no send to spare.
    """
    from scipy import stats as sps

    rows = rows[rows[by].notna() & (rows[f"{key}_n"].fillna(0) > 0)]
    x, n = rows[f"{key}_x"].astype(float).to_numpy(), rows[f"{key}_n"].astype(float).to_numpy()
    groups = rows[by].astype(str).to_numpy()
    labels = sorted(set(groups))
    g, total = len(labels), len(x)
    if g < 2 or total - g < 1 or n.sum() <= 0:
        return GroupDifference(math.nan, max(g - 1, 0), max(total - g, 0), math.nan, math.nan, math.nan)
    p = x.sum() / n.sum()
    xg = np.array([x[groups == lab].sum() for lab in labels])
    ng = np.array([n[groups == lab].sum() for lab in labels])
    chi2 = float(np.sum((xg - ng * p) ** 2 / (ng * p * (1 - p)))) if 0 < p < 1 else 0.0
    pg = dict(zip(labels, xg / ng))
    pi = np.array([pg[lab] for lab in groups])
    var = n * pi * (1 - pi)
    resid = np.divide((x - n * pi) ** 2, var, out=np.zeros_like(var), where=var > 0)
    phi = max(1.0, float(resid.sum()) / (total - g))
    f = chi2 / (g - 1) / phi
    return GroupDifference(f, g - 1, total - g, float(sps.f.sf(f, g - 1, total - g)), phi, chi2)


# --------------------------------------------------------------------------- A/B tests (issue #22)

VARIANT_LABEL = r"\|\s*([^|]*?)\s*$"
# A file column naming each row's A/B variant (kept as an unmapped column under one of these names).
VARIANT_COLUMNS = ("variant", "ab_variant", "a_b_variant", "test_variant", "ab_test_variant", "combo", "combination")


def variant_column(con, data: EmailData) -> str | None:
    """The campaign table's A/B variant column, if the file has one (`VARIANT_COLUMNS`)."""
    if data.kind != "email_campaigns":
        return None
    cols = data.columns or _table_columns(con, data.table)  # read with the data: no catalogue query per click
    return next((c for c in VARIANT_COLUMNS if c in cols), None)


def newcombe_interval(x1: float, n1: float, x2: float, n2: float, z: float = stats.Z95) -> tuple[float, float]:
    """95 % interval of p1 − p2 from the two Wilson intervals (Newcombe's hybrid score, method 10):
    low = d − √((p1 − l1)² + (u2 − p2)²), high = d + √((u1 − p1)² + (p2 − l2)²), d = p1 − p2.

    Worked: 60/500 vs 40/500 → d = 0.04; Wilson 0.09437–0.15142 and 0.05930–0.10711;
    low = 0.04 − √(0.02563² + 0.02711²) = 0.0027, high = 0.04 + √(0.03142² + 0.02070²) = 0.0776
    (statsmodels confint_proportions_2indep(60, 500, 40, 500, method="newcomb"): 0.0027, 0.0776).
    >>> [round(v, 4) for v in newcombe_interval(60, 500, 40, 500)]
    [0.0027, 0.0776]
    """
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = stats.wilson_interval(x1, n1, z)
    l2, u2 = stats.wilson_interval(x2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def ab_tests(con, data: EmailData, filters: Filters, key: str = "open_rate", alpha: float = 0.05,
             rows: pd.DataFrame | None = None) -> MetricResult:
    """One row per A/B test: the variants of one send ("Promo | Combo 1", "Promo | Combo 2": same
    list, topic and day, names equal once the trailing ' | …' is cut) compared on the `key` rate.
    A file with a variant column (`variant_column`) names the variants there instead: rows of one
    campaign, list, topic and day with different variants are one test.

    Each variant's rate = its numerator ÷ denominator (open rate: unique opens ÷ delivered). The
    winner is the variant with the higher rate (lower for unsubscribe and spam rates), compared with
    the runner-up: difference = winner − runner-up in rate (percentage points ÷ 100), its 95 %
    Newcombe interval, and the two-sided two-proportion test (`lib.stats.two_proportion_test`:
    pooled z, Fisher's exact when a cell expects under 5). `p_adjusted`: Benjamini–Hochberg over the
    tests in the table; `significant` when it is under `alpha`. `differs` says what differed
    between the two: subject, send time, both, or neither (content or sender, not in the file).
    `rows`: `base_rows(con, data)`, to read the variants without a query (as `sends`) when the file has
    no variant column.
    """
    rate = RATE_BY_KEY[key]
    cte, params = data.cte()
    where, wp = filters.where()
    column = variant_column(con, data)
    own = (f"NULLIF(trim(CAST((SELECT t.{quote_ident(column)} FROM {quote_ident(data.table)} AS t "
           "WHERE t._row = base._row) AS VARCHAR)), '')") if column else "CAST(NULL AS VARCHAR)"
    sql = f"""{cte},
variants AS (
    SELECT _row, campaign, regexp_replace(campaign, ?, '') AS test,
           COALESCE({own}, regexp_extract(campaign, ?, 1)) AS variant,
           send_date, subject, topic, list_name, ({rate.numerator}) AS x, ({rate.denominator}) AS n
    FROM base WHERE {where} AND ({own} IS NOT NULL OR regexp_matches(campaign, ?))
)
SELECT * FROM variants ORDER BY send_date, test, variant, _row"""
    all_params = params + [VARIANT_SUFFIX, VARIANT_LABEL] + wp + [VARIANT_SUFFIX]
    rows = (email_rows.ab_rows(rows, filters, rate) if rows is not None and column is None
            else con.execute(sql, all_params).df())
    cols = ["sent", "test", "list_name", "topic", "differs", "winner", "winner_subject", "winner_x", "winner_n",
            "winner_rate", "runner_up", "runner_up_subject", "runner_up_x", "runner_up_n", "runner_up_rate",
            "difference", "difference_low", "difference_high", "method", "p_value", "p_adjusted", "significant",
            "variants"]
    out = []
    rows = rows[rows["n"].fillna(0) > 0]
    # One test per (test, topic, list, day) in order of first appearance, rows with a blank key left out (a
    # groupby's groups); its variants by rate, best first, ties and blank rates as a stable sort leaves them.
    # Plain arrays and a dict of groups: a pandas group, sort and row per test cost more than the tests.
    cells = {c: rows[c].to_numpy(dtype=object) for c in ("test", "topic", "list_name", "variant", "subject")}
    x, n = rows["x"].to_numpy(dtype=object), rows["n"].to_numpy(dtype=object)
    rates = (rows["x"] / rows["n"]).to_numpy(dtype=float, na_value=np.nan)
    sent = rows["send_date"]
    groups: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(cells["test"].tolist(), cells["topic"].tolist(), cells["list_name"].tolist(),
                                sent.dt.date.tolist())):
        if not any(pd.isna(k) for k in key):
            groups.setdefault(key, []).append(i)
    when = list(sent)  # Timestamps, as a row of the frame gives them
    for members in groups.values():
        if len(members) < 2:
            continue
        # sorted() is stable both ways, as pandas' stable sort_values: ties stay in row order; NaN last
        ranked = sorted((i for i in members if not np.isnan(rates[i])), key=rates.__getitem__,
                        reverse=rate.direction != "above") + [i for i in members if np.isnan(rates[i])]
        w, r = ranked[0], ranked[1]
        test = stats.two_proportion_test(float(x[w]), float(n[w]), float(x[r]), float(n[r]))
        low, high = newcombe_interval(float(x[w]), float(n[w]), float(x[r]), float(n[r]))
        expected = (x[w] + x[r]) / (n[w] + n[r])
        small = min(n[w] * expected, n[w] * (1 - expected), n[r] * expected, n[r] * (1 - expected)) < 5
        subj = (cells["subject"][w] or "") != (cells["subject"][r] or "")
        time = pd.Timestamp(when[w]) != pd.Timestamp(when[r])
        out.append({"sent": pd.Timestamp(min(when[i] for i in members)), "test": cells["test"][w],
                    "list_name": cells["list_name"][w], "topic": cells["topic"][w],
                    "differs": "subject and send time" if subj and time else "subject" if subj
                    else "send time" if time else "neither subject nor time (content?)",
                    "winner": cells["variant"][w], "winner_subject": cells["subject"][w], "winner_x": int(x[w]),
                    "winner_n": int(n[w]), "winner_rate": float(rates[w]), "runner_up": cells["variant"][r],
                    "runner_up_subject": cells["subject"][r], "runner_up_x": int(x[r]), "runner_up_n": int(n[r]),
                    "runner_up_rate": float(rates[r]), "difference": float(rates[w] - rates[r]),
                    "difference_low": low, "difference_high": high,
                    "method": "Fisher's exact" if small else "two-proportion z",
                    "p_value": test.p_value, "variants": len(members)})
    frame = pd.DataFrame(out, columns=cols)
    if len(frame):
        frame["p_adjusted"] = stats.adjust_p_values(frame["p_value"].tolist())
        frame["significant"] = frame["p_adjusted"] < alpha
    return MetricResult(frame, sql, all_params, dict(data.excluded))


# --------------------------------------------------------------------------- consistency (issue #22)

MIN_SEND_DAYS = 8  # fewer send days: too few intervals to say what "usual" is


def send_days(con, data: EmailData, filters: Filters, rows: pd.DataFrame | None = None) -> MetricResult:
    """Days with at least one send in range: day, sends (rows in the file that day), in date order.
    `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`)."""
    cte, params = data.cte()
    where, wp = filters.where()
    sql = f"""{cte}
SELECT CAST(send_date AS DATE) AS day, COUNT(*) AS sends FROM base WHERE {where} GROUP BY 1 ORDER BY 1"""
    frame = email_rows.send_days(rows, filters) if rows is not None else con.execute(sql, params + wp).df()
    frame["day"] = pd.to_datetime(frame["day"])
    return MetricResult(frame, sql, params + wp, dict(data.excluded))


def sending_gaps(con, data: EmailData, filters: Filters, multiple: float, min_days: float,
                 jump: float = 1.5) -> MetricResult:
    """Breaks in sending: a silence longer than `multiple` × the usual interval (and at least
    `min_days`), then the sending that resumed.

    Send days = distinct calendar days with at least one send in range; interval = days between
    consecutive send days; usual interval = the median interval (a few long breaks cannot move it).
    A gap is flagged when interval > multiple × median and interval ≥ min_days. After it:
    sends_after = sends in the 7 days from the first send back; usual_per_week = sends per send day ×
    7 ÷ the median interval (the gaps themselves do not lower it); `burst` when sends_after ≥ jump ×
    usual_per_week. Nothing with under
    MIN_SEND_DAYS send days. Columns: last_send, resumed, gap_days, usual_gap_days, times_usual,
    sends_after, usual_per_week, burst.
    """
    return gaps_from_days(send_days(con, data, filters), multiple, min_days, jump)


def gaps_from_days(days: MetricResult, multiple: float, min_days: float, jump: float = 1.5) -> MetricResult:
    """`sending_gaps` from `send_days`' result (the page shows both: one query for the two)."""
    excluded = days.excluded
    days, sql, params = days.frame, days.sql, days.params
    cols = ["last_send", "resumed", "gap_days", "usual_gap_days", "times_usual", "sends_after", "usual_per_week",
            "burst"]
    if len(days) < MIN_SEND_DAYS:
        return MetricResult(pd.DataFrame(columns=cols), sql, params, dict(excluded))
    day = days["day"]
    gaps = day.diff().dt.days
    usual = float(gaps.median())
    per_week = float(days["sends"].sum()) / len(days) * 7 / usual
    out = []
    # sends in the 7 days from each send day on: a difference of running totals (days are in order)
    running = np.concatenate([[0], np.cumsum(days["sends"].to_numpy(dtype=np.int64))])
    week_end = np.searchsorted(day.to_numpy(), (day + pd.Timedelta(days=7)).to_numpy(), side="left")
    for i in np.flatnonzero((gaps > multiple * usual) & (gaps >= min_days)):
        after = int(running[week_end[i]] - running[i])
        out.append({"last_send": day.iloc[i - 1], "resumed": day.iloc[i], "gap_days": int(gaps.iloc[i]),
                    "usual_gap_days": usual, "times_usual": float(gaps.iloc[i]) / usual, "sends_after": after,
                    "usual_per_week": per_week, "burst": after >= jump * per_week})
    return MetricResult(pd.DataFrame(out, columns=cols), sql, params, dict(excluded))


def gap_flags(gaps: pd.DataFrame, multiple: float) -> list[Flag]:
    """A flag per break in sending (`sending_gaps`): medium when a burst followed, low otherwise."""
    flags = []
    columns = {name: gaps[name].to_numpy(dtype=object) for name in  # the cells as `to_dict("records")` gives them
               ("last_send", "resumed", "gap_days", "usual_gap_days", "times_usual", "sends_after", "usual_per_week",
                "burst")} if len(gaps) else {}
    for i in range(len(gaps)):
        rec = {name: values[i] for name, values in columns.items()}
        burst = (f"then {rec['sends_after']} sends in 7 days (usual {rec['usual_per_week']:.1f} a week)"
                 if rec["burst"] else f"then {rec['sends_after']} send(s) in 7 days")
        flags.append(Flag(AREA, "Gap in sending", f"no sends {rec['last_send']:%Y-%m-%d} → {rec['resumed']:%Y-%m-%d}",
                          float(rec["gap_days"]), float(multiple * rec["usual_gap_days"]),
                          f"{rec['gap_days']} days between send days, {rec['times_usual']:.1f}× the usual "
                          f"{rec['usual_gap_days']:g} (median interval; flagged above {multiple:g}×); {burst}",
                          "medium" if rec["burst"] else "low", questions_for(AREA, "Gap in sending"),
                          pd.Timestamp(rec["resumed"]), "days"))
    return flags

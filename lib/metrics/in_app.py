"""In-app engagement (SPEC §2): is in-app marketing eroding the product experience?

Two input shapes, one measure:
- ``in_app_events`` — one row per event (user, time, message, event, type, dwell). Each file event
  name has a *role* (impression, click, dismiss, mute, other; see ``DEFAULT_ROLE_WORDS``). Every
  click/dismiss/mute event is attached to the same user's latest impression of the same message at
  or before it (the latest impression in a window over both, in time order); an impression is *engaged* / *dismissed* / *muted* when at least one
  such event is attached. Rates are therefore shares of impressions, always in [0, 1]; outcome events
  with no earlier impression are left out and counted.
- ``in_app_messages`` — one row per message per day with counts, as Braze, Intercom, Pendo or
  Appcues export them. Rates are summed counts over summed impressions (the vendor's counts, so a
  tool that logs several clicks per impression can exceed 100%); dwell is a daily median, so the
  share under 1 s is not available, and reach is the sum of daily unique impressions.

Every figure comes from the same ``base`` relation (one row per impression, or per message-day with
an impression weight), so a tile, the trend and the campaign table agree on the same number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.config import Thresholds
from lib.errors import BoundaryError
from lib.periods import is_incomplete, period_label, period_sql
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.sql import quote_ident, values_cte
from lib.stats import (adjust_p_values, baseline_rate_test, baseline_rate_test_arrays, rate_clears_threshold,
                       two_proportion_test, z_for_alpha)

AREA = "in_app"
ROLES = ("impression", "click", "dismiss", "mute", "other")
EVENTS, MESSAGES = "in_app_events", "in_app_messages"

# Default vocabulary: normalised event name → role (vendor names, then generic words).
# Braze: impression, click, close (Currents: users.messages.inappmessage.Impression/Click).
# Appcues: flow_started / step_seen, step_interacted, flow_skipped / flow_dismissed.
# Pendo: guideSeen, guideActivity, guideDismissed, guideSnoozed.
# Intercom: received / seen, clicked, dismissed.
DEFAULT_ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "impression": ("impression", "impressions", "shown", "show", "view", "viewed", "seen", "displayed",
                   "display", "flow_started", "step_seen", "step_started", "guide_seen", "received"),
    "click": ("click", "clicked", "clicks", "tap", "tapped", "cta", "cta_click", "button_click",
              "button_clicked", "body_click", "step_interacted", "guide_activity", "interaction",
              "interacted"),
    "dismiss": ("close", "closed", "dismiss", "dismissed", "flow_skipped", "flow_dismissed",
                "guide_dismissed", "skip", "skipped", "hide", "hidden"),
    "mute": ("mute", "muted", "opt_out", "opted_out", "optout", "unsubscribe", "unsubscribed",
             "guide_snoozed", "snooze", "snoozed"),
}
_WORD_ROLE = {word: role for role, words in DEFAULT_ROLE_WORDS.items() for word in words}
# A lower-level impression event that would double-count when its higher-level twin is also logged:
# Appcues logs flow_started once and step_seen per step; Intercom logs received before seen.
SECONDARY_IMPRESSIONS = {"step_seen": "flow_started", "step_started": "flow_started", "received": "seen"}

# Message type text → marketing / product / service; anything else keeps its own (lower-cased) name.
TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "marketing": ("marketing", "promo", "promotion", "promotional", "campaign", "upsell", "cross-sell",
                  "offer", "newsletter", "advertising", "sales"),
    "product": ("product", "feature", "onboarding", "tour", "release", "release notes", "education",
                "tip", "tips", "guide", "walkthrough"),
    "service": ("service", "transactional", "billing", "maintenance", "security", "support", "system",
                "operational", "account", "status"),
}
NO_TYPE = "(no type)"
DWELL_MS_MEDIAN_ABOVE = 120  # a median dwell above 120 is not seconds (two minutes on a banner) → ms
MIN_BASELINE_PERIODS = 3  # a period is tested against its own trailing baseline only with ≥ 3 periods
RECENT_WEEKS = 4  # "lately" = the last 4 complete weeks …
BEFORE_WEEKS = 8  # … against the 8 complete weeks before them
CHANGE_WINDOW_WEEKS = 8  # "what changed recently": the last 8 weeks (Monday-aligned, the last one may be partial)
VOLUME_JUMP = 1.5  # a campaign's weekly impressions ×1.5 (or ÷1.5) between the windows is listed


# ----------------------------------------------------------------------------- roles and units

def normalise_event(name: str) -> str:
    """Fold an event name for the vocabulary: vendor prefix dropped, camelCase split, snake_case.

    >>> normalise_event('users.messages.inappmessage.Impression')
    'impression'
    >>> normalise_event('appcues:flow_started'), normalise_event('guideSeen'), normalise_event('Opt-Out')
    ('flow_started', 'guide_seen', 'opt_out')
    """
    text = re.split(r"[.:/]", str(name).strip())[-1]
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def default_role(name: str) -> str:
    """Role of one event name from the vocabulary: the whole name, else its last word
    ('In-App Message Clicked' → click; 'page_view_ended' stays other).

    >>> [default_role(n) for n in ['guideSnoozed', 'In-App Message Clicked', 'flow_completed']]
    ['mute', 'click', 'other']
    """
    norm = normalise_event(name)
    if norm in _WORD_ROLE:
        return _WORD_ROLE[norm]
    return _WORD_ROLE.get(norm.split("_")[-1], "other")


def default_roles(names: list[str]) -> dict[str, str]:
    """Roles for a file's distinct event names; a secondary impression event (step_seen, received)
    is 'other' when its primary twin (flow_started, seen) is in the same file, so nothing is counted twice.

    >>> default_roles(['flow_started', 'step_seen', 'step_interacted'])
    {'flow_started': 'impression', 'step_seen': 'other', 'step_interacted': 'click'}
    """
    present = {normalise_event(n) for n in names}
    roles = {}
    for name in names:
        role = default_role(name)
        if role == "impression" and SECONDARY_IMPRESSIONS.get(normalise_event(name)) in present:
            role = "other"
        roles[name] = role
    return roles


def event_role_table(con, table: str, roles: dict[str, str] | None = None) -> MetricResult:
    """The file's distinct event names with their row counts and role (the user's choice, else the default).

    Frame: event, rows, role. Blank event cells are not listed (they are left out of every figure).
    """
    sql = (f"SELECT event, count(*) AS rows FROM {quote_ident(table)} WHERE event IS NOT NULL "
           "GROUP BY event ORDER BY rows DESC, event")
    frame = con.execute(sql).df()
    chosen = {**default_roles(frame["event"].tolist()), **(roles or {})}
    frame["role"] = [chosen.get(e, "other") for e in frame["event"]]
    return MetricResult(frame, sql)


@dataclass(frozen=True)
class DwellUnit:
    """How dwell values become seconds: seconds = value × scale."""

    unit: str  # "ms" or "s"
    scale: float
    reason: str


def dwell_unit(con, table: str, column: str, file_column: str) -> DwellUnit:
    """Milliseconds or seconds, from the file's column name (…ms, …_millis, …seconds) or, without a
    hint, from the values: a median above 120 is read as milliseconds (nobody dwells 2 min on a banner).

    >>> dwell_unit(None, 't', 'dwell', 'Dwell Ms').unit
    'ms'
    """
    words = normalise_event(file_column).split("_")
    if {"ms", "millis", "milliseconds", "msec"} & set(words) or file_column.lower().endswith("ms"):
        return DwellUnit("ms", 0.001, f"milliseconds (column name “{file_column}”)")
    if {"s", "sec", "secs", "seconds", "second"} & set(words):
        return DwellUnit("s", 1.0, f"seconds (column name “{file_column}”)")
    median = con.execute(f"SELECT median({quote_ident(column)}) FROM {quote_ident(table)} "
                         f"WHERE {quote_ident(column)} >= 0").fetchone()[0]
    if median is not None and median > DWELL_MS_MEDIAN_ABOVE:
        return DwellUnit("ms", 0.001, f"milliseconds (median value {median:,.0f} > {DWELL_MS_MEDIAN_ABOVE})")
    return DwellUnit("s", 1.0, "seconds (median value "
                     + ("n/a" if median is None else f"{median:,.2f}") + f" ≤ {DWELL_MS_MEDIAN_ABOVE})")


@dataclass(frozen=True)
class InAppSource:
    """What every metric here needs to know about the loaded in-app table."""

    table: str
    kind: str  # in_app_events or in_app_messages
    file_name: str
    columns: frozenset[str]  # canonical columns present
    roles: tuple[tuple[str, str], ...] = ()  # event name → role (events only)
    dwell: DwellUnit | None = None

    @property
    def has_users(self) -> bool:
        return self.kind == EVENTS


def in_app_source(con, dataset, roles: dict[str, str] | None = None) -> InAppSource:
    """Describe a loaded dataset for the metrics: roles (user's over defaults) and dwell unit.

    Raises BoundaryError when no event is an impression (nothing to divide by).
    """
    columns = frozenset(dataset.mapping)
    dwell_col = "dwell" if dataset.kind == EVENTS else "median_dwell"
    unit = (dwell_unit(con, dataset.table, dwell_col, dataset.mapping[dwell_col])
            if dwell_col in columns else None)
    chosen: tuple[tuple[str, str], ...] = ()
    if dataset.kind == EVENTS:
        table = event_role_table(con, dataset.table, roles).frame
        bad = sorted({r for r in table["role"] if r not in ROLES})
        if bad:
            raise BoundaryError(f"Unknown event role(s) {', '.join(bad)}. Choose one of: {', '.join(ROLES)}.")
        if not (table["role"] == "impression").any():
            raise BoundaryError(
                f"{dataset.file_name}: no event is counted as an impression, so no rate can be computed. "
                f"Events are: {', '.join(table['event'].astype(str).head(12))}. "
                "Set the impression event in the “Event roles” table.")
        chosen = tuple(zip(table["event"].astype(str), table["role"]))
    return InAppSource(dataset.table, dataset.kind, dataset.file_name, columns, chosen, unit)


# ----------------------------------------------------------------------------- the base relation

def _types_cte() -> tuple[str, list]:
    """The message-type words (word → purpose) as a lookup table of bound values."""
    return values_cte("types", ["word", "purpose"], [(w, p) for p, words in TYPE_WORDS.items() for w in words])


def _type_sql(src: InAppSource, alias: str) -> tuple[str, str]:
    """(expression, join) giving marketing / product / service, the file's own word, or '(no type)'."""
    if "message_type" not in src.columns:
        return f"'{NO_TYPE}'", ""
    col = f"{alias}.message_type"
    return (f"CASE WHEN {col} IS NULL OR trim({col}) = '' THEN '{NO_TYPE}' "
            f"ELSE coalesce(ty.purpose, lower(trim({col}))) END",
            f"LEFT JOIN types ty ON ty.word = lower(trim({col}))")


def _col(src: InAppSource, name: str, alias: str, sql_type: str) -> str:
    return f"{alias}.{quote_ident(name)}" if name in src.columns else f"CAST(NULL AS {sql_type})"


def _base_sql(src: InAppSource) -> tuple[str, list]:
    """CTEs ending in ``base``: unit, user_id, message, message_type, t, dwell_s (seconds),
    impressions (weight), clicks, dismissals, mutes, reach."""
    table = quote_ident(src.table)
    scale = src.dwell.scale if src.dwell else 1.0
    if src.kind == EVENTS:
        type_sql, type_join = _type_sql(src, "e")
        dwell = _col(src, "dwell", "e", "DOUBLE")
        roles_cte, role_params = values_cte("roles", ["event", "role"], list(src.roles))
        types_cte, type_params = _types_cte()
        sql = f"""WITH {roles_cte}, {types_cte},
ev AS (
    SELECT e._row AS unit, e.user_id, e.message, e.event_time AS t, coalesce(r.role, 'other') AS role,
           {type_sql} AS message_type,
           CASE WHEN {dwell} >= 0 THEN {dwell} * ? END AS dwell_s
    FROM {table} e LEFT JOIN roles r ON r.event = e.event {type_join}
    WHERE e.user_id IS NOT NULL AND e.event_time IS NOT NULL AND e.message IS NOT NULL AND e.event IS NOT NULL
),
imp AS (SELECT * FROM ev WHERE role = 'impression'),
-- each outcome belongs to the same user's latest impression of the same message at or before it:
-- impressions and outcomes in one time order per user and message (an impression first at the same
-- time), each outcome taking the last impression seen so far
ordered AS (
    SELECT role, dwell_s, last_value(CASE WHEN role = 'impression' THEN unit END IGNORE NULLS) OVER (
               PARTITION BY user_id, message ORDER BY t, role <> 'impression', unit
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS imp_unit
    FROM ev WHERE role IN ('impression', 'click', 'dismiss', 'mute')
),
linked AS (SELECT role, dwell_s, imp_unit FROM ordered WHERE role <> 'impression'),
per_imp AS (
    SELECT imp_unit, max((role = 'click')::INT) AS clicked, max((role = 'dismiss')::INT) AS dismissed,
           max((role = 'mute')::INT) AS muted, max(dwell_s) AS outcome_dwell
    FROM linked WHERE imp_unit IS NOT NULL GROUP BY imp_unit
),
base AS (
    SELECT i.unit, i.user_id, i.message, i.message_type, i.t,
           coalesce(i.dwell_s, p.outcome_dwell) AS dwell_s,  -- some tools log dwell on the close event
           1 AS impressions, coalesce(p.clicked, 0) AS clicks, coalesce(p.dismissed, 0) AS dismissals,
           coalesce(p.muted, 0) AS mutes, CAST(NULL AS BIGINT) AS reach
    FROM imp i LEFT JOIN per_imp p ON p.imp_unit = i.unit
)"""
        return sql, [*role_params, *type_params, scale]
    type_sql, type_join = _type_sql(src, "m")
    dwell = _col(src, "median_dwell", "m", "DOUBLE")
    counts = {c: _col(src, c, "m", "BIGINT") for c in ("clicks", "dismissals", "mutes", "unique_impressions")}
    types_cte, type_params = _types_cte()
    sql = f"""WITH {types_cte},
base AS (
    SELECT m._row AS unit, CAST(NULL AS VARCHAR) AS user_id, m.message, {type_sql} AS message_type,
           m."date" AS t, CASE WHEN {dwell} >= 0 THEN {dwell} * ? END AS dwell_s, m.impressions,
           CASE WHEN {counts['clicks']} >= 0 THEN {counts['clicks']} END AS clicks,
           CASE WHEN {counts['dismissals']} >= 0 THEN {counts['dismissals']} END AS dismissals,
           CASE WHEN {counts['mutes']} >= 0 THEN {counts['mutes']} END AS mutes,
           {counts['unique_impressions']} AS reach
    FROM {table} m {type_join}
    WHERE m.message IS NOT NULL AND m."date" IS NOT NULL AND m.impressions >= 0
)"""
    return sql, [*type_params, scale]


def _exclusions(con, src: InAppSource) -> dict[str, int]:
    """Rows every figure leaves out, by reason (the first reason that applies to a row)."""
    table = quote_ident(src.table)
    if src.kind == EVENTS:
        row = con.execute(f"""SELECT
            count(*) FILTER (WHERE user_id IS NULL),
            count(*) FILTER (WHERE user_id IS NOT NULL AND event_time IS NULL),
            count(*) FILTER (WHERE user_id IS NOT NULL AND event_time IS NOT NULL AND message IS NULL),
            count(*) FILTER (WHERE user_id IS NOT NULL AND event_time IS NOT NULL AND message IS NOT NULL
                             AND event IS NULL)
            FROM {table}""").fetchone()
        base, params = _base_sql(src)
        orphans = con.execute(base + " SELECT count(*) FROM linked WHERE imp_unit IS NULL", params).fetchone()[0]
        reasons = ["user blank", "time blank or unreadable", "message blank", "event blank",
                   "click/dismiss/mute with no earlier impression of that message by that user"]
        return {r: int(n) for r, n in zip(reasons, [*row, orphans]) if n}
    row = con.execute(f"""SELECT count(*) FILTER (WHERE message IS NULL),
        count(*) FILTER (WHERE message IS NOT NULL AND "date" IS NULL),
        count(*) FILTER (WHERE message IS NOT NULL AND "date" IS NOT NULL AND (impressions IS NULL OR impressions < 0))
        FROM {table}""").fetchone()
    reasons = ["message blank", "date blank or unreadable", "impressions blank or negative"]
    return {r: int(n) for r, n in zip(reasons, row) if n}


_RATES = (  # (rate column, numerator, denominator)
    ("engagement_rate", "clicks", "click_base"),
    ("dismiss_rate", "dismissals", "dismiss_base"),
    ("mute_rate", "mutes", "mute_base"),
    ("dwell_under_1s", "under_1s", "dwell_known"),
    ("marketing_share", "marketing_impressions", "typed_impressions"),
)


def _aggregate(con, src: InAppSource, keys: dict[str, str]) -> tuple[pd.DataFrame, str, list]:
    """Counts and rates per group of ``keys`` (name → SQL over base); one query, returned with its SQL."""
    base, params = _base_sql(src)
    keys = keys or {"_all": "1"}
    names = ", ".join(quote_ident(k) for k in keys)
    # a key that is already a column of base is not added again (two columns of one name: ambiguous on Spark)
    key_cols = "".join(f", {expr} AS {quote_ident(k)}" for k, expr in keys.items() if expr != k)
    if src.kind == EVENTS:
        under = "count(*) FILTER (WHERE dwell_s < 1)"
        reach = "count(DISTINCT user_id)"
        median = "median(dwell_s) AS median_dwell"
    else:
        under, reach, median = "CAST(NULL AS BIGINT)", "sum(reach)", "CAST(NULL AS DOUBLE) AS _m"
    rates = ", ".join(f"{num} / nullif({den}, 0) AS {rate}" for rate, num, den in _RATES)
    sql = f"""{base},
g AS (SELECT *{key_cols} FROM base),
agg AS (
    SELECT {names},
           sum(impressions) AS impressions, {reach} AS reach,
           sum(clicks) AS clicks, sum(impressions) FILTER (WHERE clicks IS NOT NULL) AS click_base,
           sum(dismissals) AS dismissals, sum(impressions) FILTER (WHERE dismissals IS NOT NULL) AS dismiss_base,
           sum(mutes) AS mutes, sum(impressions) FILTER (WHERE mutes IS NOT NULL) AS mute_base,
           {under} AS under_1s, sum(impressions) FILTER (WHERE dwell_s IS NOT NULL) AS dwell_known,
           {median},
           sum(impressions) FILTER (WHERE message_type = 'marketing') AS marketing_impressions,
           sum(impressions) FILTER (WHERE message_type <> '{NO_TYPE}') AS typed_impressions,
           min(t) AS first_seen, max(t) AS last_seen
    FROM g GROUP BY {names}
)"""
    if src.kind == MESSAGES:
        # dwell is a daily median per message: the median over message-days weighted by impressions
        sql += f""",
wm AS (
    SELECT {names}, dwell_s,
           sum(impressions) OVER (PARTITION BY {names} ORDER BY dwell_s ROWS UNBOUNDED PRECEDING) AS cum,
           sum(impressions) OVER (PARTITION BY {names}) AS total
    FROM g WHERE dwell_s IS NOT NULL AND impressions > 0
),
wmed AS (SELECT {names}, min(dwell_s) FILTER (WHERE cum >= total / 2.0) AS median_dwell FROM wm GROUP BY {names})
SELECT agg.* EXCLUDE (_m), wmed.median_dwell, {rates}
FROM agg LEFT JOIN wmed USING ({names}) ORDER BY {names}"""
    else:
        sql += f"\nSELECT agg.*, {rates} FROM agg ORDER BY {names}"
    frame = con.execute(sql, params).df()
    for rate, _, _ in _RATES:
        frame[rate] = frame[rate].astype(float)
    frame["median_dwell"] = frame["median_dwell"].astype(float)
    return frame.drop(columns=[c for c in ("_all",) if c in frame]), sql, params


def _data_span(con, src: InAppSource) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    base, params = _base_sql(src)
    lo, hi = con.execute(base + " SELECT min(t), max(t) FROM base", params).fetchone()
    return (pd.Timestamp(lo), pd.Timestamp(hi)) if lo is not None else None


def data_facts(con, src: InAppSource) -> tuple:
    """(span, excluded): the data's first and last time (``_data_span``) and the rows every figure
    leaves out, by reason (``_exclusions``) — what each per-period figure reads besides its own query,
    which depends on the file and its roles alone. The page computes it once and hands it to every
    figure (``facts=``), so a period or window change runs each figure's own query only."""
    return _data_span(con, src), _exclusions(con, src)


def _facts(con, src: InAppSource, facts: tuple | None) -> tuple:
    span, excluded = data_facts(con, src) if facts is None else facts
    return span, dict(excluded)  # each result its own dict


def _mark_periods(frame: pd.DataFrame, grain: str, span) -> pd.DataFrame:
    frame["period"] = pd.to_datetime(frame["period"])
    frame["label"] = [period_label(p, grain) for p in frame["period"]]
    if span is None:
        frame["incomplete"] = pd.Series(dtype=bool)
        return frame
    start, end = span
    frame["incomplete"] = [bool(is_incomplete(p, grain, end) or p < start.normalize()) for p in frame["period"]]
    return frame


# ----------------------------------------------------------------------------- metrics

def rates_by_period(con, src: InAppSource, grain: str = "month", facts: tuple | None = None) -> MetricResult:
    """Engagement, dismiss, mute, dwell-under-1 s and marketing share per period (week starts Monday).

    - engagement rate = impressions with ≥ 1 click / impressions (events) or Σ clicks / Σ impressions
      (daily aggregates); the same for dismiss rate (dismissals) and mute rate (mutes). Unit: ratio.
    - dwell under 1 s = impressions with dwell < 1 s / impressions with a dwell value (events only).
    - median dwell, seconds: median over impressions (events); impression-weighted median of the daily
      medians (aggregates).
    - marketing share = marketing impressions / impressions with a message type.
    Edge cases: a rate with a zero denominator is NaN (shown as —); ``incomplete`` marks a period the
    data only partly covers (first or last); rows left out are in ``excluded``. ``facts``: the
    page's ``data_facts(con, src)`` (read here when not given).
    """
    keys = {"period": period_sql("t", grain)}
    frame, sql, params = _aggregate(con, src, keys)
    span, excluded = _facts(con, src, facts)
    frame = _mark_periods(frame, grain, span)
    return MetricResult(frame, sql, params, excluded)


def totals(con, src: InAppSource) -> MetricResult:
    """The same counts and rates as ``rates_by_period`` over the whole file (one row)."""
    frame, sql, params = _aggregate(con, src, {})
    return MetricResult(frame, sql, params, _exclusions(con, src))


def dwell_quantiles(con, src: InAppSource, grain: str = "month", facts: tuple | None = None) -> MetricResult:
    """Dwell time quantiles (seconds) per period over impressions with a dwell value: p10, p25,
    median (p50), p75, p90 (continuous quantiles), n = impressions with dwell, and the share under 1 s.

    Events only (aggregated exports carry a daily median, not a distribution): empty frame otherwise.
    Impressions without a dwell value are left out and counted.
    """
    base, params = _base_sql(src)
    qs = ", ".join(f"quantile_cont(dwell_s, {q}) AS p{round(q * 100)}" for q in (0.1, 0.25, 0.5, 0.75, 0.9))
    sql = (f"{base}\nSELECT {period_sql('t', grain)} AS period, count(*) AS n, {qs},\n"
           "       count(*) FILTER (WHERE dwell_s < 1) / count(*) AS dwell_under_1s\n"
           "FROM base WHERE dwell_s IS NOT NULL GROUP BY period ORDER BY period")
    if src.kind != EVENTS or "dwell" not in src.columns:
        return MetricResult(pd.DataFrame(columns=["period", "n", "p10", "p25", "p50", "p75", "p90"]), sql, params)
    frame = con.execute(sql, params).df()
    span, excluded = _facts(con, src, facts)
    frame = _mark_periods(frame, grain, span)
    missing = con.execute(base + " SELECT count(*) FROM base WHERE dwell_s IS NULL", params).fetchone()[0]
    excluded = {**excluded, **({"impressions without a dwell value": int(missing)} if missing else {})}
    return MetricResult(frame, sql, params, excluded)


def weekly_frequency(con, src: InAppSource) -> MetricResult:
    """Messages per active user per week (weeks start Monday), by message type, with engagement.

    messages_per_user = impressions in the week / active users in the week, where an active user has
    any event (any role) that week. Per type: that type's impressions / the same active users, so the
    types add up to the total. Events only (aggregated exports have no users): empty frame otherwise.
    ``incomplete`` marks weeks the data only partly covers; they are not used for comparisons.
    """
    cols = ["week", "active_users", "impressions", "clicks", "messages_per_user", "engagement_rate"]
    if src.kind != EVENTS:
        return MetricResult(pd.DataFrame(columns=cols), "-- needs user-level events", [])
    base, params = _base_sql(src)
    sql = f"""{base},
active AS (SELECT {period_sql('t', 'week')} AS week, count(DISTINCT user_id) AS active_users FROM ev GROUP BY week),
shown AS (
    SELECT {period_sql('t', 'week')} AS week, sum(impressions) AS impressions, sum(clicks) AS clicks,
           sum(impressions) FILTER (WHERE message_type = 'marketing') AS marketing,
           sum(impressions) FILTER (WHERE message_type = 'product') AS product,
           sum(impressions) FILTER (WHERE message_type = 'service') AS service,
           sum(impressions) FILTER (WHERE message_type NOT IN ('marketing', 'product', 'service')) AS other
    FROM base GROUP BY week
)
SELECT a.week, a.active_users, coalesce(s.impressions, 0) AS impressions, coalesce(s.clicks, 0) AS clicks,
       coalesce(s.impressions, 0) / a.active_users AS messages_per_user,
       coalesce(s.marketing, 0) / a.active_users AS marketing_per_user,
       coalesce(s.product, 0) / a.active_users AS product_per_user,
       coalesce(s.service, 0) / a.active_users AS service_per_user,
       coalesce(s.other, 0) / a.active_users AS other_per_user,
       s.clicks / nullif(s.impressions, 0) AS engagement_rate
FROM active a LEFT JOIN shown s USING (week) ORDER BY a.week"""
    frame = con.execute(sql, params).df()
    frame = frame.rename(columns={"week": "period"})
    frame = _mark_periods(frame, "week", _data_span(con, src)).rename(columns={"period": "week"})
    frame["engagement_rate"] = frame["engagement_rate"].astype(float)
    return MetricResult(frame, sql, params, _exclusions(con, src))


@dataclass(frozen=True)
class FrequencyChange:
    """Messages per active user per week: the last `recent_weeks` complete weeks vs the ones before."""

    recent: float  # mean of the recent weekly values
    before: float  # mean of the earlier weekly values
    change: float  # recent − before, messages per user per week
    relative: float  # change / before
    z: float  # change / √(s²/k_recent + s²/k_before), s = sd of the earlier weekly values
    beyond_noise: bool
    recent_weeks: int
    before_weeks: int
    recent_start: pd.Timestamp
    before_start: pd.Timestamp

    def sentence(self) -> str:
        word = "rose" if self.change > 0 else "fell"
        noise = "beyond" if self.beyond_noise else "within"
        return (f"Messages per active user per week {word} from {self.before:.2f} (the {self.before_weeks} weeks "
                f"from {self.before_start:%d %b %Y}) to {self.recent:.2f} (the last {self.recent_weeks} complete "
                f"weeks): {self.change:+.2f} per user per week ({self.relative:+.0%}), {noise} week-to-week noise "
                f"(z = {self.z:.1f}).")


def frequency_change(weekly: pd.DataFrame, alpha: float, recent: int = RECENT_WEEKS,
                     before: int = BEFORE_WEEKS, column: str = "messages_per_user") -> FrequencyChange | None:
    """Last ``recent`` complete weeks vs up to ``before`` complete weeks just before them.

    change = mean(recent weekly values) − mean(earlier weekly values); relative = change / earlier mean.
    Noise: z = change / (s·√(1/k_recent + 1/k_before)) with s the standard deviation of the earlier
    weekly values; beyond noise when |z| exceeds the two-sided critical value for ``alpha``.
    None when there are fewer than ``recent`` + 3 complete weeks or the earlier mean is 0.
    """
    complete = weekly[~weekly["incomplete"].astype(bool)].sort_values("week")
    if len(complete) < recent + 3:
        return None
    last = complete.tail(recent)
    prior = complete.iloc[:-recent].tail(before)
    m_recent, m_before = float(last[column].mean()), float(prior[column].mean())
    if m_before == 0:
        return None
    sd = float(prior[column].std(ddof=1))
    se = sd * math.sqrt(1 / len(last) + 1 / len(prior))
    diff = m_recent - m_before
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    return FrequencyChange(m_recent, m_before, diff, diff / m_before, z, abs(z) > z_for_alpha(alpha),
                           len(last), len(prior), pd.Timestamp(last["week"].iloc[0]),
                           pd.Timestamp(prior["week"].iloc[0]))


def _pandas_sum(values: np.ndarray) -> float:
    """Σ values with blanks as 0, summed as pandas' Series.sum does (the same float, bit for bit)."""
    return float(np.where(np.isnan(values), 0.0, values).sum())


def _pandas_mean(values: np.ndarray) -> float:
    """Mean of the non-blank values, as pandas' Series.mean takes it (nan when all are blank)."""
    known = int((~np.isnan(values)).sum())
    return _pandas_sum(values) / float(known) if known else math.nan


FREQUENCY_THRESHOLDS = ("baseline_periods", "baseline_alpha", "in_app_frequency_rise_max")  # all it reads


def frequency_relevance(weekly: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """Per complete week: frequency vs its trailing baseline and engagement vs its trailing baseline.

    - too_frequent: messages_per_user > baseline mean × (1 + in_app_frequency_rise_max), baseline =
      mean of the previous ``baseline_periods`` complete weeks (at least 3) whose engagement was not
      clearly low (p under ``baseline_alpha`` / weeks tested so far; those stay out of later baselines).
    - less_relevant: engagement significantly below the pooled trailing engagement
      (``stats.baseline_rate_test``, widened by the trailing weeks' over-dispersion; n = impressions),
      at ``baseline_alpha`` after Benjamini–Hochberg over the weeks tested (``engagement_p_adjusted``).
    - both_wrong: both in the same week — the worst case (SPEC §2).
    """
    frame = weekly.sort_values("week").reset_index(drop=True).copy()
    window = int(thresholds["baseline_periods"])
    rise, alpha = thresholds["in_app_frequency_rise_max"], thresholds["baseline_alpha"]
    out = {"frequency_baseline": [], "engagement_baseline": [], "too_frequent": [], "less_relevant": [],
           "engagement_p": []}
    complete = ~frame["incomplete"].astype(bool)
    # plain arrays, not a frame row and .loc per week (the pandas calls cost more than the tests); sums
    # and means as pandas takes them (blanks as 0 in a sum, left out of a mean's count)
    per_user, clicks_of, imps_of = (frame[c].to_numpy(dtype=float, na_value=math.nan)
                                    for c in ("messages_per_user", "clicks", "impressions"))
    done = complete.to_numpy(dtype=bool)
    usable = []  # complete weeks whose engagement was not itself worse: a bad week does not lower the bar
    tested_so_far = 0
    for i in range(len(frame)):
        prior = usable[-window:]
        ok = bool(done[i]) and len(prior) >= MIN_BASELINE_PERIODS
        f_base = _pandas_mean(per_user[prior]) if ok else math.nan
        clicks, imps = _pandas_sum(clicks_of[prior]), _pandas_sum(imps_of[prior])
        test = baseline_rate_test(clicks_of[i], imps_of[i], clicks_of[prior], imps_of[prior]) if ok and imps else None
        out["frequency_baseline"].append(f_base)
        out["engagement_baseline"].append(clicks / imps if ok and imps else math.nan)
        out["too_frequent"].append(bool(ok and per_user[i] > f_base * (1 + rise)))
        out["less_relevant"].append(bool(test and test.z < 0))
        out["engagement_p"].append(test.p_value if test else math.nan)
        tested_so_far += test is not None and pd.notna(test.p_value)
        if done[i] and not (test and test.z < 0 and test.p_value < alpha / max(1, tested_so_far)):
            usable.append(i)
    for key, values in out.items():
        frame[key] = values
    # one test per week: significant only after Benjamini–Hochberg over the weeks tested
    frame["engagement_p_adjusted"] = adjust_p_values(frame["engagement_p"])
    frame["less_relevant"] = frame["less_relevant"] & (frame["engagement_p_adjusted"] < alpha)
    frame["both_wrong"] = frame["too_frequent"] & frame["less_relevant"]
    return frame


TREND_METRICS = (  # (label, rate, numerator, denominator, direction: which way is worse)
    ("Engagement rate", "engagement_rate", "clicks", "click_base", "below"),
    ("Dismiss rate", "dismiss_rate", "dismissals", "dismiss_base", "above"),
    ("Mute rate", "mute_rate", "mutes", "mute_base", "above"),
    ("Dwell under 1s", "dwell_under_1s", "under_1s", "dwell_known", "above"),
)


def _trend_batch(records, start, usable, window, num, den, nums0, dens0, complete) -> dict:
    """``baseline_rate_test`` for the periods from ``start`` on, in one array call, each against the
    baseline it gets if every later complete period joins the baseline pool (the usual case). A period
    kept out (clearly worse) changes the later baselines: ``trend_flags`` then misses the key and asks
    for a new batch from there, so every test it uses is run on its real baseline."""
    pool, keys, xs, ns, pxs, pns = list(usable), [], [], [], [], []
    for j in range(start, len(records)):
        n = records[j][den]
        if pd.isna(n) or n == 0:
            continue
        prior = pool[-window:]
        if len(prior) >= MIN_BASELINE_PERIODS and dens0[prior].sum() > 0:
            keys.append((j, tuple(prior)))
            xs.append(float(0 if pd.isna(records[j][num]) else records[j][num]))
            ns.append(float(n))
            pxs.append(nums0[prior])
            pns.append(dens0[prior])
        if complete[j]:
            pool.append(j)
    _, base, z, p = baseline_rate_test_arrays(xs, ns, pxs, pns)
    return {key: (float(base[k]), float(p[k]), float(z[k])) for k, key in enumerate(keys)}


def trend_flags(periods: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """Each period's rates against its own trailing baseline: long frame, one row per period × metric.

    baseline = Σ numerator / Σ denominator over the previous ``baseline_periods`` complete periods (at
    least 3) that were not themselves clearly worse than their baseline (p under ``baseline_alpha``
    divided by the periods tested so far — a bad month does not lower the bar for the next, and a
    chance low does not lock the bar high); test = ``stats.baseline_rate_test`` (two-proportion, Fisher's exact when counts are
    small, widened by the baseline periods' over-dispersion φ). The p-values of each metric's periods
    are adjusted together (Benjamini–Hochberg, ``p_adjusted``): a period is flagged when significantly
    worse at ``baseline_alpha`` after adjustment (engagement lower; dismiss, mute, dwell-under-1 s
    higher) and it has at least ``min_group_size`` impressions; ``bonferroni_p`` (× every period and
    metric tested) decides "high". Dwell under 1 s is also flagged above
    ``in_app_dwell_under_1s_max`` when its 95 % interval clears the threshold. Columns: period, label,
    metric, value, n, baseline, p_value, p_adjusted, bonferroni_p, flagged, reason, incomplete.
    """
    window, alpha = int(thresholds["baseline_periods"]), thresholds["baseline_alpha"]
    small = thresholds["min_group_size"]
    frame = periods.sort_values("period").reset_index(drop=True)
    complete = (~frame["incomplete"].astype(bool)).to_numpy()
    rows = []
    # plain arrays and dicts, not a frame row and lookup per period (the pandas calls cost more
    # than the tests); the records once for every metric
    records = frame.to_dict("records")
    for label, rate, num, den, direction in TREND_METRICS:
        usable = []  # indexes of complete periods fit for later baselines
        metric_rows = []
        tested_before = 0  # periods of this metric with a p-value so far
        # blanks count as 0 in a baseline, as fillna(0) did
        nums0, dens0 = (frame[c].fillna(0).to_numpy(dtype=float, na_value=0.0) for c in (num, den))
        tested = {}  # (period index, its baseline periods) → (baseline, p, z), filled a batch at a time
        for i, row in enumerate(records):
            n = row[den]
            if pd.isna(n) or n == 0:
                continue
            prior = usable[-window:]
            p_value, baseline, worse = math.nan, math.nan, False
            if len(prior) >= MIN_BASELINE_PERIODS and dens0[prior].sum() > 0:
                if (i, tuple(prior)) not in tested:
                    tested.update(_trend_batch(records, i, usable, window, num, den, nums0, dens0, complete))
                baseline, p_value, z = tested[(i, tuple(prior))]
                worse = z > 0 if direction == "above" else z < 0
            if complete[i] and not (worse and p_value < alpha / (tested_before + 1)):
                usable.append(i)
            tested_before += pd.notna(p_value)
            above = (rate == "dwell_under_1s" and n >= small and pd.notna(row[num])
                     and rate_clears_threshold(float(row[num]), float(n), thresholds["in_app_dwell_under_1s_max"], "above"))
            metric_rows.append({"period": row["period"], "label": row["label"], "metric": label, "value": row[rate],
                                "n": int(n), "baseline": baseline, "p_value": p_value, "worse": worse,
                                "above": above, "incomplete": bool(row["incomplete"])})
        if not metric_rows:
            continue
        for rec, adjusted in zip(metric_rows, adjust_p_values([r["p_value"] for r in metric_rows])):
            rec["p_adjusted"] = adjusted
            reasons = []
            if rec["n"] >= small and rec["worse"] and rec["p_adjusted"] < alpha:
                reasons.append(f"{'below' if direction == 'below' else 'above'} own baseline")
            if rec["above"]:
                reasons.append("above threshold")
            rows.append({**rec, "flagged": bool(reasons), "reason": ", ".join(reasons)})
    columns = ["period", "label", "metric", "value", "n", "baseline", "p_value", "p_adjusted", "bonferroni_p",
               "flagged", "reason", "incomplete"]
    out = pd.DataFrame(rows, columns=columns)
    out["bonferroni_p"] = adjust_p_values(out["p_value"], "bonferroni") if len(out) else []
    return out[columns]


def campaign_table(con, src: InAppSource) -> MetricResult:
    """One row per message/campaign: type (its most frequent), first and last seen, impressions, reach,
    engagement, dismiss and mute rates, share of impressions under 1 s, median dwell (s).

    reach = distinct users shown the message (events) or the sum of daily unique impressions
    (aggregates, which counts a user again on each day). Rates as in ``rates_by_period``.
    """
    frame, sql, params = _aggregate(con, src, {"message": "message"})
    base, bparams = _base_sql(src)
    types = con.execute(base + " SELECT message, mode(message_type) AS message_type FROM base GROUP BY message",
                        bparams).df()
    frame = frame.merge(types, on="message", how="left").sort_values("impressions", ascending=False)
    return MetricResult(frame.reset_index(drop=True), sql, params, _exclusions(con, src))


def type_split(con, src: InAppSource, grain: str = "month", facts: tuple | None = None) -> MetricResult:
    """Impressions by message type per period and each type's share of the period's impressions
    (types, including '(no type)', add up to 100% of every period), with the type's engagement rate."""
    frame, sql, params = _aggregate(con, src, {"period": period_sql("t", grain), "message_type": "message_type"})
    frame["share"] = frame["impressions"] / frame.groupby("period")["impressions"].transform("sum")
    span, excluded = _facts(con, src, facts)
    frame = _mark_periods(frame, grain, span)
    return MetricResult(frame, sql, params, excluded)


def recent_changes(con, src: InAppSource, weeks: int = CHANGE_WINDOW_WEEKS,
                   facts: tuple | None = None) -> MetricResult:
    """What changed in the last ``weeks`` weeks: the window starts on the Monday ``weeks`` − 1 weeks
    before the week of the last event (so the last, possibly partial, week is one of them).

    Per message: first/last seen, impressions per week before and inside the window, and the change:
    'new campaign' (first seen inside the window), 'new message type' (its type first seen inside the
    window), 'stopped' (shown in the ``weeks`` weeks before the window, none inside it), 'volume ×r'
    when the weekly rate moved by ≥ ×1.5 or ÷1.5. Per-week rates divide by the weeks each side of the
    window covers (the data's span, not the message's own). Only messages with a change are listed.
    """
    base, params = _base_sql(src)
    sql = f"""{base},
span AS (SELECT max(t) AS last_t, min(t) AS first_t,
                 CAST(date_trunc('week', max(t)) AS TIMESTAMP) - CAST((? - 1) * 7 AS INTEGER) * INTERVAL 1 DAY AS cut FROM base),
type_first AS (SELECT message_type, min(t) AS type_first_seen FROM base GROUP BY message_type),
per AS (
    SELECT b.message, mode(b.message_type) AS message_type, min(b.t) AS first_seen, max(b.t) AS last_seen,
           sum(b.impressions) FILTER (WHERE b.t < s.cut) AS before_impressions,
           sum(b.impressions) FILTER (WHERE b.t >= s.cut) AS recent_impressions,
           any_value(s.cut) AS cut, any_value(s.first_t) AS first_t, any_value(s.last_t) AS last_t
    FROM base b CROSS JOIN span s GROUP BY b.message
)
SELECT p.*, tf.type_first_seen,
       coalesce(before_impressions, 0) / greatest(date_diff('second', first_t, cut) / 604800.0, 1) AS before_per_week,
       coalesce(recent_impressions, 0) / greatest(date_diff('second', cut, last_t) / 604800.0, 1) AS recent_per_week
FROM per p LEFT JOIN type_first tf ON tf.message_type = p.message_type ORDER BY first_seen DESC"""
    all_params = [*params, weeks]
    frame = con.execute(sql, all_params).df()
    changes = []
    for row in frame.itertuples():
        what = []
        if row.first_seen >= row.cut:
            what.append("new campaign")
        if pd.notna(row.type_first_seen) and row.type_first_seen >= row.cut and row.message_type != NO_TYPE:
            what.append(f"new message type ({row.message_type})")
        if not row.recent_impressions or pd.isna(row.recent_impressions):
            if row.last_seen >= row.cut - pd.Timedelta(weeks=weeks):
                what.append("stopped")
        elif row.first_seen < row.cut and row.before_per_week > 0:
            ratio = row.recent_per_week / row.before_per_week
            if ratio >= VOLUME_JUMP or ratio <= 1 / VOLUME_JUMP:
                what.append(f"volume ×{ratio:.1f}")
        changes.append(", ".join(what))
    frame["change"] = changes
    frame = frame[frame["change"] != ""].reset_index(drop=True)
    return MetricResult(frame[["message", "message_type", "change", "first_seen", "last_seen", "before_per_week",
                               "recent_per_week", "cut"]], sql, all_params,
                        _exclusions(con, src) if facts is None else dict(facts[1]))


# ----------------------------------------------------------------------------- tiles

TILES = (  # label, rate column, kind of number, which way is better, help (numerator / denominator)
    ("Engagement rate", "engagement_rate", "ratio", "normal",
     "Impressions with a click or interaction ÷ impressions (aggregates: clicks ÷ impressions)."),
    ("Dismiss rate", "dismiss_rate", "ratio", "inverse",
     "Impressions closed or dismissed ÷ impressions (aggregates: dismissals ÷ impressions)."),
    ("Mute rate", "mute_rate", "ratio", "inverse",
     "Impressions followed by a mute / opt-out ÷ impressions (aggregates: mutes ÷ impressions)."),
    ("Dwell under 1s", "dwell_under_1s", "ratio", "inverse",
     "Impressions with dwell < 1 s ÷ impressions with a dwell time (needs event-level data)."),
    ("Median dwell", "median_dwell", "seconds", "normal",
     "Median time a message was on screen, seconds (aggregates: impression-weighted median of daily medians)."),
    ("Marketing share", "marketing_share", "ratio", "off",
     "Marketing impressions ÷ impressions with a message type."),
)


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    delta: str | None
    delta_color: str
    help: str


def _fmt(value: float, unit: str) -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{value:.1%}" if unit == "ratio" else f"{value:.1f} s"


def tiles(periods: pd.DataFrame) -> tuple[list[Tile], str]:
    """Headline tiles from ``rates_by_period``: the last complete period, delta vs the period before
    (percentage points for rates, seconds for dwell). Returns the tiles and a caption naming both periods.
    With only one period there is no delta; with no complete period the last one is used and said so.
    """
    if periods.empty:
        return [Tile(lbl, "—", None, "off", hlp) for lbl, _, _, _, hlp in TILES], "No impressions."
    frame = periods.sort_values("period").reset_index(drop=True)
    complete = frame.index[~frame["incomplete"].astype(bool)]
    at = int(complete[-1]) if len(complete) else len(frame) - 1
    cur, prev = frame.iloc[at], (frame.iloc[at - 1] if at > 0 else None)
    out = []
    for label, column, unit, colour, hlp in TILES:
        value, delta = cur[column], None
        if prev is not None and pd.notna(value) and pd.notna(prev[column]):
            diff = value - prev[column]
            delta = f"{diff * 100:+.1f} pp" if unit == "ratio" else f"{diff:+.1f} s"
        n = cur["impressions"]
        out.append(Tile(label, _fmt(value, unit), delta, colour, f"{hlp} {cur['label']}: n = {n:,.0f} impressions."))
    caption = f"Tiles: {cur['label']}" + (" (incomplete — no complete period yet)" if cur["incomplete"] else "")
    caption += f", change against {prev['label']}." if prev is not None else " (no earlier period to compare)."
    return out, caption


# ----------------------------------------------------------------------------- flags and export

def roles_for(ws, dataset) -> dict[str, str] | None:
    """The user's event roles for this file, kept with the Workspace (see ``remember_roles``); None
    when none are kept (or a saved copy's are not event → role names)."""
    kept = ws.inputs.get("in_app_roles")
    roles = kept.get(dataset.digest) if isinstance(kept, dict) else None
    if not isinstance(roles, dict) or not all(isinstance(k, str) and v in ROLES for k, v in roles.items()):
        return None
    return roles


def remember_roles(ws, dataset, roles: dict[str, str]) -> None:
    """Keep the user's event roles for this file with the Workspace's typed inputs, so the report, the
    export, a reload and a saved workspace use the same roles as the page."""
    kept = ws.inputs.get("in_app_roles")
    kept = dict(kept) if isinstance(kept, dict) else {}
    if kept.get(dataset.digest) != roles:
        kept[dataset.digest] = dict(roles)
        ws.set_input("in_app_roles", kept)


def _dataset(ws):
    return ws.get(EVENTS) or ws.get(MESSAGES)


def _flag(metric: str, subject: str, value: float, reference: float, test: str, severity: str,
          period=None, unit: str = "ratio") -> Flag:
    return Flag(AREA, metric, subject, float(value), float(reference), test, severity,
                questions_for(AREA, metric), period, unit)


def flags_from(periods: pd.DataFrame, weekly: pd.DataFrame, thresholds: Thresholds,
               trend: pd.DataFrame | None = None, both: pd.DataFrame | None = None) -> list[Flag]:
    """Flags from the period trend (own baseline, dwell threshold), the 4-vs-8-week frequency change,
    and the weeks where frequency rose and engagement fell at once. ``trend`` and ``both``: the
    page's own ``trend_flags(periods, thresholds)`` and ``frequency_relevance(weekly, thresholds)``,
    so they are not computed twice (computed here when not given)."""
    flags: list[Flag] = []
    trend = trend_flags(periods, thresholds) if trend is None else trend
    for row in trend[trend["flagged"]].itertuples():
        above = "above threshold" in row.reason
        reference = thresholds["in_app_dwell_under_1s_max"] if above and pd.isna(row.baseline) else row.baseline
        test = (f"vs trailing baseline (over-dispersion allowed), p={row.p_value:.3g}, "
                f"BH-adjusted p={row.p_adjusted:.3g} over the periods tested, n={row.n:,}"
                if "own baseline" in row.reason else f"95% interval above the threshold, n={row.n:,}")
        severity = "high" if above or (pd.notna(row.bonferroni_p) and row.bonferroni_p < thresholds["baseline_alpha"]) \
            else "medium"
        flags.append(_flag(row.metric, f"{row.label}{' (incomplete)' if row.incomplete else ''}", row.value,
                           reference, test, severity, pd.Timestamp(row.period)))
    if not weekly.empty:
        change = frequency_change(weekly, thresholds["baseline_alpha"])
        if change and change.beyond_noise and change.relative > thresholds["in_app_frequency_rise_max"]:
            flags.append(_flag("Messages per active user per week", "last 4 complete weeks vs the 8 before",
                               change.recent, change.before,
                               f"mean of weekly values, z={change.z:.1f}, n={change.recent_weeks}+{change.before_weeks} weeks",
                               "high", change.recent_start, "count"))
        both = frequency_relevance(weekly, thresholds) if both is None else both
        for row in both[both["both_wrong"]].itertuples():
            flags.append(_flag("Frequency up and engagement down", f"week of {row.week:%Y-%m-%d}",
                               row.engagement_rate, row.engagement_baseline,
                               f"{row.messages_per_user:.2f} messages/user vs {row.frequency_baseline:.2f}; "
                               f"engagement p={row.engagement_p:.3g} (BH-adjusted {row.engagement_p_adjusted:.3g}), "
                               f"n={row.impressions:,}",
                               "high", pd.Timestamp(row.week)))
    return flags


def area_flags(ws, grain: str = "month") -> list[Flag]:
    """The in-app red flags on the loaded data with the session's thresholds; [] when nothing is loaded."""
    dataset = _dataset(ws)
    if dataset is None:
        return []
    con = ws.con.cursor()  # a cursor: the page's own run may still be using ws.con
    try:
        src = in_app_source(con, dataset, roles_for(ws, dataset))
    except BoundaryError:
        return []
    return flags_from(rates_by_period(con, src, grain).frame, weekly_frequency(con, src).frame, ws.thresholds)


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """Main in-app tables for the Excel export: monthly rates, weekly frequency, campaigns, type split."""
    dataset = _dataset(ws)
    if dataset is None:
        return {}
    con = ws.con.cursor()
    try:
        src = in_app_source(con, dataset, roles_for(ws, dataset))
    except BoundaryError:
        return {}
    tables = {
        "In-app by month": rates_by_period(con, src, "month").frame,
        "In-app campaigns": campaign_table(con, src).frame,
        "In-app message types": type_split(con, src, "month").frame,
    }
    weekly = weekly_frequency(con, src).frame
    if not weekly.empty:
        tables["In-app weekly frequency"] = weekly
    return tables


# ----------------------------------------------------------------------------- trend per message type (issue 22)

def type_periods(con, src: InAppSource, grain: str = "month", facts: tuple | None = None,
                 split: MetricResult | None = None) -> MetricResult:
    """The counts and rates of ``rates_by_period`` per period and message type (the input of
    ``type_trends_from``): the data's part of ``type_trends``, which a threshold does not change.
    ``split``: the page's ``type_split(con, src, grain)`` — the same query, so its frame is taken
    without its share column instead of running it again.
    Raises BoundaryError when the file has no message type column."""
    if "message_type" not in src.columns:
        raise BoundaryError(f"{src.file_name}: engagement per message type needs a message type column "
                            "(marketing, product, service, announcement…). Map it under “Columns”.")
    if split is not None:
        return MetricResult(split.frame.drop(columns="share"), split.sql, split.params, dict(split.excluded))
    frame, sql, params = _aggregate(con, src, {"period": period_sql("t", grain), "message_type": "message_type"})
    span, excluded = _facts(con, src, facts)
    return MetricResult(_mark_periods(frame, grain, span), sql, params, excluded)


def type_trends(con, src: InAppSource, thresholds: Thresholds, grain: str = "month") -> MetricResult:
    """``type_trends_from(type_periods(con, src, grain), thresholds)``: see there."""
    return type_trends_from(type_periods(con, src, grain), thresholds)


def type_trends_from(periods: MetricResult, thresholds: Thresholds) -> MetricResult:
    """The in-app rates per message type and period, each type against its own trailing baseline
    (``periods``: ``type_periods``' result).

    Message type = marketing / product / service (``TYPE_WORDS``), or the file's own word (e.g.
    'announcement'), or '(no type)'. For each type, ``trend_flags`` runs on that type's periods alone
    (the same rates, numerators and denominators as ``rates_by_period``: engagement rate = engaged
    impressions / impressions, dismiss and mute rate likewise, dwell under 1 s = impressions under 1 s /
    impressions with a dwell). One family per metric across every type and period: p_adjusted is
    Benjamini–Hochberg over all of that metric's tests (more types = more tests, so the bar rises);
    flagged = worse than the baseline, p_adjusted < ``baseline_alpha`` and n ≥ ``min_group_size`` (or the
    dwell threshold cleared, as in ``trend_flags``). low, high = the value's 95% Wilson interval (n =
    the rate's denominator; blank when a vendor's counts exceed it). Columns: message_type, period,
    label, metric, value, low, high, n, baseline, p_value, p_adjusted, flagged, reason, incomplete.
    """
    from lib.stats import wilson_interval  # only this figure needs it
    frame, sql, params = periods.frame, periods.sql, periods.params
    directions = {label: direction for label, _, _, _, direction in TREND_METRICS}
    parts = []
    for kind, part in frame.groupby("message_type", sort=True):
        trend = trend_flags(part.drop(columns="message_type"), thresholds)
        if len(trend):
            parts.append(trend.assign(message_type=kind))
    columns = ["message_type", "period", "label", "metric", "value", "low", "high", "n", "baseline", "p_value",
               "p_adjusted", "flagged", "reason", "incomplete"]
    if not parts:
        return MetricResult(pd.DataFrame(columns=columns), sql, params, dict(periods.excluded))
    out = pd.concat(parts, ignore_index=True)
    alpha, small = thresholds["baseline_alpha"], thresholds["min_group_size"]
    for metric, rows in out.groupby("metric").groups.items():  # one family per metric over all types
        out.loc[rows, "p_adjusted"] = adjust_p_values(out.loc[rows, "p_value"])
    worse = [(v < b) if directions[m] == "below" else (v > b) for v, b, m in zip(out["value"], out["baseline"], out["metric"])]
    own = [bool(w and q < alpha and n >= small) for w, q, n in zip(worse, out["p_adjusted"], out["n"])]
    above = out["reason"].str.contains("above threshold", regex=False)
    out["reason"] = [", ".join(r for r, on in ((f"{'below' if directions[m] == 'below' else 'above'} own baseline", o),
                                               ("above threshold", a)) if on)
                     for m, o, a in zip(out["metric"], own, above)]
    out["flagged"] = out["reason"] != ""
    bounds = [wilson_interval(round(v * n), n) if pd.notna(v) and 0 <= v <= 1 else (math.nan, math.nan)
              for v, n in zip(out["value"], out["n"])]
    out["low"], out["high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return MetricResult(out[columns].sort_values(["message_type", "metric", "period"]).reset_index(drop=True),
                        sql, params, dict(periods.excluded))

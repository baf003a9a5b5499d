"""Expansion deals from sales/CS: win rate, qualification rate, cycle time and their dips and jumps.

Every figure reads the session's `deals` table (canonical columns of lib.schemas KINDS["deals"]; a
column the file lacks is read as NULL). Exported outcomes and deal types differ by CRM, so both are
normalised through the tables below — declared once, bound as parameters, used by every query:
the key is the exported value folded to lower-case letters only ("Closed Won" → "closedwon").

A deal's period is the period of its *created* date by default (the cohort of deals opened then,
which is what a marketing push changes), or of its close date (`basis="closed"`, how CRM win-rate
reports count). Own-baseline flags hold each complete period against the pooled trailing
`baseline_periods` periods before it (lib.stats.two_proportion_test; for cycle time, Mood's median
test: the share of deals slower than the baseline median, period vs baseline).
"""

from __future__ import annotations

import math
import re

import pandas as pd

from lib.periods import is_incomplete, period_label, period_sql
from lib.result import Flag, MetricResult
from lib import engine
from lib.sql import quote_ident
from lib.stats import adjust_family, two_proportion_test_arrays, wilson_interval

# ---- normalisation tables (key = exported value, lower-case, letters only) -----------------------
OUTCOMES: dict[str, str] = {
    # HubSpot internal stage ids, Salesforce / Zoho / Pipedrive labels, plain words
    "closedwon": "won", "won": "won", "win": "won", "closedwin": "won", "wonclosed": "won",
    "dealwon": "won", "signed": "won", "booked": "won",
    "closedlost": "lost", "lost": "lost", "loss": "lost", "lostclosed": "lost", "deallost": "lost",
    "closedlostdisqualified": "lost", "disqualified": "lost", "closeddisqualified": "lost",
    "closednodecision": "lost", "nodecision": "lost", "churned": "lost",
}
"""Outcome classes: 'won', 'lost'; any other non-blank stage ('qualifiedtobuy', 'Negotiation/Review',
'open') is an open deal; a blank outcome is unknown and left out of the win rate."""

DEAL_TYPES: dict[str, str] = {
    # HubSpot: newbusiness / existingbusiness; Salesforce: New Customer, Existing Customer - Upgrade …
    "newbusiness": "new", "new": "new", "newcustomer": "new", "newlogo": "new", "newdeal": "new",
    "acquisition": "new", "newsales": "new",
    "existingbusiness": "expansion", "expansion": "expansion", "upsell": "expansion",
    "upsale": "expansion", "crosssell": "expansion", "upgrade": "expansion", "addon": "expansion",
    "existingcustomerupgrade": "expansion", "existingcustomerexpansion": "expansion",
    "existingcustomerupsell": "expansion", "seatexpansion": "expansion", "expand": "expansion",
    "renewal": "renewal", "renew": "renewal", "existingcustomerrenewal": "renewal",
    "contractrenewal": "renewal",
}
"""Deal classes: 'new', 'expansion', 'renewal'; another non-blank type is 'other', a blank one
'unknown'. HubSpot's "existingbusiness" counts as expansion (it has no separate upsell type)."""

DEAL_CLASSES = ("expansion", "new", "renewal", "other", "unknown")
COLUMNS = ("deal_id", "created_date", "close_date", "outcome", "deal_type", "amount", "qualified",
           "source_campaign", "notes", "customer_id", "lead_id", "segment")
_TYPES = {"created_date": "TIMESTAMP", "close_date": "TIMESTAMP", "amount": "DOUBLE",
          "qualified": "BOOLEAN"}
# k periods back, as SQL of one bound k (a number times an interval means the same on DuckDB and Spark)
GRAIN_INTERVAL = {"day": "(CAST(? AS INTEGER) * INTERVAL 1 DAY)", "week": "(CAST(? AS INTEGER) * INTERVAL 7 DAY)",
                  "month": "(CAST(? AS INTEGER) * INTERVAL 1 MONTH)", "quarter": "(CAST(? AS INTEGER) * INTERVAL 3 MONTH)",
                  "year": "(CAST(? AS INTEGER) * INTERVAL 1 YEAR)"}
BASES = ("created", "closed")


def normalise_key(value: object) -> str:
    """The lookup key of an exported value: lower-case ASCII letters only (SQL twin in the queries).

    >>> normalise_key('Closed Won'), normalise_key('Existing Customer - Upgrade')
    ('closedwon', 'existingcustomerupgrade')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return re.sub(r"[^a-z]", "", str(value).lower())


def outcome_class(value: object) -> str | None:
    """'won', 'lost', 'open' or None (blank). Python twin of the SQL.

    >>> [outcome_class(v) for v in ['closedwon', 'Closed Lost', 'contractsent', ' ']]
    ['won', 'lost', 'open', None]
    """
    if value is None or not str(value).strip() or (isinstance(value, float) and math.isnan(value)):
        return None
    return OUTCOMES.get(normalise_key(value), "open")


def deal_class(value: object) -> str:
    """'new', 'expansion', 'renewal', 'other' or 'unknown' (blank). Python twin of the SQL.

    >>> [deal_class(v) for v in ['existingbusiness', 'Cross-sell', 'Renewal', 'Partner', None]]
    ['expansion', 'expansion', 'renewal', 'other', 'unknown']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or not str(value).strip():
        return "unknown"
    return DEAL_TYPES.get(normalise_key(value), "other")


def table_columns(con, table: str) -> set[str]:
    return {name for name, _ in engine.table_columns(con, table)}


def normalised_deals_sql(con, table: str) -> tuple[str, list]:
    """CTEs `outcome_map`, `type_map`, `src` and `d` (one row per deal, classes resolved).

    `d` columns: _row, the canonical columns (NULL when the file lacks them), outcome_class,
    deal_class, cycle_days (close − created in days, only for won/lost deals with both dates and
    close ≥ created), cycle_negative (close before created).
    """
    present = table_columns(con, table)
    cols = []
    for c in COLUMNS:
        if c in present:
            cols.append(f"{quote_ident(c)} AS {c}" if c not in _TYPES
                        else f"TRY_CAST({quote_ident(c)} AS {_TYPES[c]}) AS {c}")
        else:
            cols.append(f"CAST(NULL AS {_TYPES.get(c, 'VARCHAR')}) AS {c}")
    params: list = []
    outcome_values = ", ".join("(?, ?)" for _ in OUTCOMES)
    for k, v in OUTCOMES.items():
        params += [k, v]
    type_values = ", ".join("(?, ?)" for _ in DEAL_TYPES)
    for k, v in DEAL_TYPES.items():
        params += [k, v]
    sql = f"""outcome_map(key, outcome_class) AS (VALUES {outcome_values}),
type_map(key, deal_class) AS (VALUES {type_values}),
src AS (SELECT _row, {', '.join(cols)} FROM {quote_ident(table)}),
d AS (
  SELECT src.*,
    CASE WHEN nullif(trim(CAST(src.outcome AS VARCHAR)), '') IS NULL THEN NULL
         ELSE coalesce(om.outcome_class, 'open') END AS outcome_class,
    CASE WHEN nullif(trim(CAST(src.deal_type AS VARCHAR)), '') IS NULL THEN 'unknown'
         ELSE coalesce(tm.deal_class, 'other') END AS deal_class,
    CASE WHEN coalesce(om.outcome_class, '') IN ('won', 'lost') AND src.close_date >= src.created_date
         THEN date_diff('second', src.created_date, src.close_date) / 86400.0 END AS cycle_days,
    coalesce(src.close_date < src.created_date, false) AS cycle_negative
  FROM src
  LEFT JOIN outcome_map om ON om.key = regexp_replace(lower(CAST(src.outcome AS VARCHAR)), '[^a-z]', '', 'g')
  LEFT JOIN type_map tm ON tm.key = regexp_replace(lower(CAST(src.deal_type AS VARCHAR)), '[^a-z]', '', 'g')
)"""
    return sql, params


def _check(basis: str, deal_type: str | None) -> None:
    from lib.errors import BoundaryError

    if basis not in BASES:
        raise BoundaryError(f"Unknown date basis '{basis}'. Choose 'created' or 'closed'.")
    if deal_type is not None and deal_type not in DEAL_CLASSES:
        raise BoundaryError(f"Unknown deal type '{deal_type}'. Choose one of: {', '.join(DEAL_CLASSES)}.")


def deal_type_counts(con, table: str) -> MetricResult:
    """Deals per normalised class and exported value, so the user sees how types were read."""
    base, params = normalised_deals_sql(con, table)
    sql = f"""WITH {base}
SELECT deal_class, coalesce(CAST(deal_type AS VARCHAR), '(blank)') AS exported_type, count(*) AS deals
FROM d GROUP BY ALL ORDER BY deal_class, deals DESC"""
    return MetricResult(con.execute(sql, params).df(), sql, params)


def deal_rates_by_period(con, table: str, grain: str = "quarter", deal_type: str | None = "expansion",
                         basis: str = "created", baseline_periods: int = 8) -> MetricResult:
    """Win rate, qualification rate and median cycle time per period, with the trailing baseline.

    For the deals of `deal_type` (None = all) whose `basis` date ('created' or 'closed') falls in
    the period:
    - win rate = won / (won + lost)            — unit: ratio; open and blank-outcome deals left out
    - qualification rate = qualified / deals with a yes/no qualified value — ratio; blanks left out
    - median cycle time = median(close − created) in days over won and lost deals with both dates;
      deals closed before they were created are left out and counted.
    Wilson 95% intervals come with both rates (`win_low/high`, `qual_low/high`).
    Baseline columns pool the `baseline_periods` calendar periods before each period (fewer at the
    start, none for the first): base_won / base_closed, base_qualified / base_qual_known,
    base_median_cycle, and for Mood's median test `slow` = this period's cycles above the baseline
    median, `base_slow` = baseline cycles above it, `base_cycle_n`.
    `incomplete` marks a period the data ends inside (the latest date in the table).
    Edge cases: no deals → empty frame; a period with no closed deals has NaN win rate.
    """
    _check(basis, deal_type)
    base, params = normalised_deals_sql(con, table)
    date_col = "created_date" if basis == "created" else "close_date"
    period = period_sql(date_col, grain)
    type_filter = "TRUE" if deal_type is None else "deal_class = ?"
    type_params = [] if deal_type is None else [deal_type]
    sql = f"""WITH {base},
f AS (SELECT *, {period} AS period FROM d WHERE {type_filter} AND {date_col} IS NOT NULL),
agg AS (
  SELECT period, count(*) AS deals,
    count(*) FILTER (WHERE outcome_class = 'won') AS won,
    count(*) FILTER (WHERE outcome_class = 'lost') AS lost,
    count(*) FILTER (WHERE outcome_class = 'open') AS open,
    count(*) FILTER (WHERE outcome_class IS NULL) AS outcome_blank,
    count(qualified) AS qual_known,
    count(*) FILTER (WHERE qualified) AS qualified,
    count(cycle_days) AS cycle_n,
    median(cycle_days) AS median_cycle_days,
    quantile_cont(cycle_days, 0.25) AS cycle_p25,
    quantile_cont(cycle_days, 0.75) AS cycle_p75
  FROM f GROUP BY period
),
base AS (
  SELECT a.period,
    sum(b.won) AS base_won, sum(b.won + b.lost) AS base_closed,
    sum(b.qualified) AS base_qualified, sum(b.qual_known) AS base_qual_known
  FROM agg a JOIN agg b ON b.period < a.period AND b.period >= a.period - {GRAIN_INTERVAL[grain]}
  GROUP BY a.period
),
base_cycle AS (
  SELECT a.period, median(c.cycle_days) AS base_median_cycle, count(c.cycle_days) AS base_cycle_n
  FROM agg a JOIN f c ON c.period < a.period AND c.period >= a.period - {GRAIN_INTERVAL[grain]}
  GROUP BY a.period
),
slow AS (
  SELECT bc.period,
    count(*) FILTER (WHERE c.period = bc.period AND c.cycle_days > bc.base_median_cycle) AS slow,
    count(*) FILTER (WHERE c.period < bc.period AND c.cycle_days > bc.base_median_cycle) AS base_slow
  FROM base_cycle bc JOIN f c ON c.period <= bc.period AND c.period >= bc.period - {GRAIN_INTERVAL[grain]}
  WHERE c.cycle_days IS NOT NULL
  GROUP BY bc.period
)
SELECT agg.*, coalesce(base.base_won, 0) AS base_won, coalesce(base.base_closed, 0) AS base_closed,
  coalesce(base.base_qualified, 0) AS base_qualified, coalesce(base.base_qual_known, 0) AS base_qual_known,
  base_cycle.base_median_cycle, coalesce(base_cycle.base_cycle_n, 0) AS base_cycle_n,
  coalesce(slow.slow, 0) AS slow, coalesce(slow.base_slow, 0) AS base_slow,
  (SELECT max(greatest(created_date, coalesce(close_date, created_date))) FROM d) AS data_end
FROM agg LEFT JOIN base USING (period) LEFT JOIN base_cycle USING (period) LEFT JOIN slow USING (period)
ORDER BY period"""
    all_params = params + type_params + [baseline_periods] * 3
    frame = con.execute(sql, all_params).df()
    frame = _add_rates(frame, grain)
    excluded = _excluded(con, base, params, date_col, type_filter, type_params)
    return MetricResult(frame, sql, all_params, excluded)


def _add_rates(frame: pd.DataFrame, grain: str) -> pd.DataFrame:
    frame = frame.copy()
    if frame.empty:
        for c in ("win_rate", "win_low", "win_high", "qualification_rate", "qual_low", "qual_high",
                  "base_win_rate", "base_qualification_rate", "label", "incomplete"):
            frame[c] = pd.Series(dtype=float)
        return frame
    frame["period"] = pd.to_datetime(frame["period"])
    closed = frame["won"] + frame["lost"]
    frame["win_rate"] = (frame["won"] / closed.where(closed > 0)).astype(float)
    frame["qualification_rate"] = (frame["qualified"] / frame["qual_known"].where(frame["qual_known"] > 0)).astype(float)
    win_ci = [wilson_interval(w, n) for w, n in zip(frame["won"], closed)]
    qual_ci = [wilson_interval(q, n) for q, n in zip(frame["qualified"], frame["qual_known"])]
    frame["win_low"], frame["win_high"] = [c[0] for c in win_ci], [c[1] for c in win_ci]
    frame["qual_low"], frame["qual_high"] = [c[0] for c in qual_ci], [c[1] for c in qual_ci]
    frame["base_win_rate"] = (frame["base_won"] / frame["base_closed"].where(frame["base_closed"] > 0)).astype(float)
    frame["base_qualification_rate"] = (frame["base_qualified"]
                                        / frame["base_qual_known"].where(frame["base_qual_known"] > 0)).astype(float)
    data_end = pd.to_datetime(frame["data_end"]).max()
    frame["incomplete"] = [bool(pd.notna(data_end) and is_incomplete(p, grain, data_end)) for p in frame["period"]]
    frame["label"] = [period_label(p, grain) for p in frame["period"]]
    return frame.drop(columns="data_end")


def _excluded(con, base: str, params: list, date_col: str, type_filter: str, type_params: list) -> dict[str, int]:
    sql = f"""WITH {base}
SELECT count(*) FILTER (WHERE NOT ({type_filter})) AS other_type,
  count(*) FILTER (WHERE ({type_filter}) AND {date_col} IS NULL) AS no_date,
  count(*) FILTER (WHERE ({type_filter}) AND {date_col} IS NOT NULL AND outcome_class IS NULL) AS outcome_blank,
  count(*) FILTER (WHERE ({type_filter}) AND {date_col} IS NOT NULL AND outcome_class = 'open') AS open,
  count(*) FILTER (WHERE ({type_filter}) AND {date_col} IS NOT NULL AND qualified IS NULL) AS qual_blank,
  count(*) FILTER (WHERE ({type_filter}) AND {date_col} IS NOT NULL AND cycle_negative) AS negative_cycle
FROM d"""
    row = con.execute(sql, params + type_params * 6).fetchone()
    date_word = "created" if date_col == "created_date" else "close"
    reasons = {
        "of other deal types": row[0],
        f"without a {date_word} date": row[1],
        "with a blank outcome (left out of win rate)": row[2],
        "still open (left out of win rate and cycle time)": row[3],
        "with a blank qualified value (left out of qualification rate)": row[4],
        "closed before they were created (left out of cycle time)": row[5],
    }
    return {k: int(v) for k, v in reasons.items() if v}


def baseline_flag_rows(frame: pd.DataFrame, x: str, n: str, base_x: str, base_n: str, direction: str,
                       alpha: float, min_n: float) -> pd.DataFrame:
    """Two-proportion test of x/n against base_x/base_n per row; adds `z`, `p_value`, `flagged`.

    A row is flagged when both n and base_n reach `min_n`, the period is complete (column
    `incomplete` False when present), and the rate is significantly worse in `direction`
    ('above' = higher is worse, 'below' = lower is worse) at level `alpha`.
    """
    frame = frame.copy()
    # one array call for the column (the same numbers as two_proportion_test per row, to the last bit)
    _, _, z, p = two_proportion_test_arrays(frame[x], frame[n], frame[base_x], frame[base_n])
    frame["z"], frame["p_value"] = z, p
    complete = ~frame["incomplete"].astype(bool) if "incomplete" in frame else True
    enough = (frame[n] >= min_n) & (frame[base_n] >= min_n)
    side = (z > 0) if direction == "above" else (z < 0)  # False where z is nan, as ProportionTest.worse
    worse = pd.Series(side & (p < alpha), index=frame.index, dtype=bool)
    frame["tested"] = (enough & complete).astype(bool)
    frame["worse_side"] = side.tolist()
    frame["flagged"] = worse & enough & complete
    return frame


def family_flags(frame: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Adjust a `baseline_flag_rows` frame for the number of rows it tests (one family: the periods,
    or the campaigns, of one metric): p_bh = Benjamini–Hochberg and p_bonferroni over the tested rows
    (blank for the rest); flagged = tested, on the worse side and p_bh < `alpha`; severity 'high'
    when p_bonferroni < `alpha` too, else 'medium'.

    >>> f = pd.DataFrame({"p_value": [0.01, 0.02, 0.03, 0.5], "tested": True, "worse_side": True})
    >>> family_flags(f, 0.05)["p_bh"].round(2).tolist()
    [0.04, 0.04, 0.04, 0.5]
    """
    frame = frame.copy()
    tested = frame["tested"].astype(bool)
    frame["p_bh"], frame["p_bonferroni"], frame["flagged"], frame["severity"] = adjust_family(
        frame["p_value"].where(tested), tested & frame["worse_side"].astype(bool), alpha)
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


def deal_flag_frames(result: MetricResult, alpha: float, min_n: float) -> dict[str, pd.DataFrame]:
    """Per metric, the period frame with its test columns: win rate dips, qualification dips,
    cycle-time jumps (Mood's median test: share of deals slower than the baseline median). Each
    metric's periods are one family (`family_flags`: Benjamini–Hochberg, 'high' at Bonferroni)."""
    frame = result.frame.assign(closed=result.frame["won"] + result.frame["lost"])
    return {
        "win_rate": family_flags(baseline_flag_rows(frame, "won", "closed", "base_won", "base_closed", "below",
                                                    alpha, min_n), alpha),
        "qualification_rate": family_flags(baseline_flag_rows(frame, "qualified", "qual_known", "base_qualified",
                                                              "base_qual_known", "below", alpha, min_n), alpha),
        "cycle": family_flags(baseline_flag_rows(frame, "slow", "cycle_n", "base_slow", "base_cycle_n", "above",
                                                 alpha, min_n), alpha),
    }


def deal_flags(result: MetricResult, alpha: float, min_n: float, grain: str, label: str = "Expansion",
               frames: dict[str, pd.DataFrame] | None = None) -> list[Flag]:
    """Flags for periods whose win or qualification rate dipped, or cycle time jumped, vs baseline.
    ``frames``: the page's own ``deal_flag_frames(result, alpha, min_n)``, so the tests are not run
    twice (run here when not given)."""
    from lib.questions import questions_for

    flags: list[Flag] = []
    frames = deal_flag_frames(result, alpha, min_n) if frames is None else frames
    specs = {
        "win_rate": (f"{label} win rate", "win_rate", "base_win_rate", "closed", "base_closed", "ratio"),
        "qualification_rate": (f"{label} qualification rate", "qualification_rate", "base_qualification_rate",
                               "qual_known", "base_qual_known", "ratio"),
        "cycle": (f"{label} median cycle time", "median_cycle_days", "base_median_cycle", "cycle_n",
                  "base_cycle_n", "days"),
    }
    for key, (metric, value, ref, n, base_n, unit) in specs.items():
        for row in frames[key][frames[key]["flagged"]].itertuples(index=False):
            row = row._asdict()
            test = ("two-proportion z-test" if key != "cycle" else "Mood's median test (share slower than baseline median)")
            flags.append(Flag(
                "voice", metric, f"deals created {period_label(row['period'], grain)}", float(row[value]),
                float(row[ref]), f"{test} vs trailing baseline, n={int(row[n])} vs {int(row[base_n])}, "
                f"p={row['p_value']:.3g}; Benjamini–Hochberg over {int(frames[key]['tested'].sum())} periods "
                f"p={row['p_bh']:.3g}", row["severity"],
                questions_for("voice", metric.replace(label + " ", "").capitalize()),
                pd.Timestamp(row["period"]), unit))
    return flags


def campaign_deal_quality(con, table: str, deal_type: str | None = None) -> MetricResult:
    """Deals per source campaign against all other deals: do campaign-sourced deals disqualify more
    often or close slower than normal?

    Per campaign (non-blank source_campaign; deals of `deal_type`, None = all):
    - qualification rate = qualified / deals with a yes/no qualified value (ratio), and the same for
      all *other* deals (`others_qualified / others_qual_known`)
    - win rate = won / (won + lost)
    - median cycle time in days over won/lost deals; `slow` = this campaign's deals slower than the
      other deals' median, `others_slow` = other deals slower than it (Mood's median test).
    Deals without a campaign are the "(no campaign)" row and part of every campaign's "others".
    """
    _check("created", deal_type)
    base, params = normalised_deals_sql(con, table)
    type_filter = "TRUE" if deal_type is None else "deal_class = ?"
    type_params = [] if deal_type is None else [deal_type]
    sql = f"""WITH {base},
f AS (SELECT *, coalesce(nullif(trim(CAST(source_campaign AS VARCHAR)), ''), '(no campaign)') AS campaign
      FROM d WHERE {type_filter}),
camp AS (SELECT DISTINCT campaign FROM f),
others AS (
  SELECT c.campaign,
    count(o.qualified) AS others_qual_known, count(*) FILTER (WHERE o.qualified) AS others_qualified,
    count(*) FILTER (WHERE o.outcome_class = 'won') AS others_won,
    count(*) FILTER (WHERE o.outcome_class IN ('won', 'lost')) AS others_closed,
    median(o.cycle_days) AS others_median_cycle, count(o.cycle_days) AS others_cycle_n
  FROM camp c JOIN f o ON o.campaign <> c.campaign GROUP BY c.campaign
),
own AS (
  SELECT campaign, count(*) AS deals,
    count(qualified) AS qual_known, count(*) FILTER (WHERE qualified) AS qualified,
    count(*) FILTER (WHERE outcome_class = 'won') AS won,
    count(*) FILTER (WHERE outcome_class IN ('won', 'lost')) AS closed,
    median(cycle_days) AS median_cycle_days, count(cycle_days) AS cycle_n
  FROM f GROUP BY campaign
),
slow AS (
  SELECT o.campaign,
    count(*) FILTER (WHERE f.campaign = o.campaign AND f.cycle_days > o.others_median_cycle) AS slow,
    count(*) FILTER (WHERE f.campaign <> o.campaign AND f.cycle_days > o.others_median_cycle) AS others_slow
  FROM others o JOIN f ON f.cycle_days IS NOT NULL GROUP BY o.campaign
)
SELECT own.*, coalesce(others_qual_known, 0) AS others_qual_known, coalesce(others_qualified, 0) AS others_qualified,
  coalesce(others_won, 0) AS others_won, coalesce(others_closed, 0) AS others_closed,
  others_median_cycle, coalesce(others_cycle_n, 0) AS others_cycle_n,
  coalesce(slow.slow, 0) AS slow, coalesce(slow.others_slow, 0) AS others_slow
FROM own LEFT JOIN others USING (campaign) LEFT JOIN slow USING (campaign)
ORDER BY campaign = '(no campaign)', deals DESC, campaign"""
    frame = con.execute(sql, params + type_params).df()
    if not frame.empty:
        frame["qualification_rate"] = (frame["qualified"] / frame["qual_known"].where(frame["qual_known"] > 0)).astype(float)
        frame["others_qualification_rate"] = (frame["others_qualified"]
                                              / frame["others_qual_known"].where(frame["others_qual_known"] > 0)).astype(float)
        frame["win_rate"] = (frame["won"] / frame["closed"].where(frame["closed"] > 0)).astype(float)
        frame["others_win_rate"] = (frame["others_won"] / frame["others_closed"].where(frame["others_closed"] > 0)).astype(float)
    return MetricResult(frame, sql, params + type_params)


def campaign_flags(result: MetricResult, alpha: float, min_n: float) -> tuple[pd.DataFrame, list[Flag]]:
    """Campaigns whose deals qualify less often (two-proportion test) or close slower (Mood's median
    test) than all other deals; the '(no campaign)' row is never flagged. Returns the frame with
    `qual_flagged`, `slow_flagged`, `qual_p`, `slow_p` and the flags."""
    from lib.questions import questions_for

    frame = result.frame.copy()
    if frame.empty:
        return frame.assign(qual_flagged=[], slow_flagged=[], qual_p=[], slow_p=[]), []
    frame["incomplete"] = frame["campaign"] == "(no campaign)"  # never flag the no-campaign row
    q = family_flags(baseline_flag_rows(frame, "qualified", "qual_known", "others_qualified", "others_qual_known",
                                        "below", alpha, min_n), alpha)
    s = family_flags(baseline_flag_rows(frame, "slow", "cycle_n", "others_slow", "others_cycle_n", "above",
                                        alpha, min_n), alpha)
    frame["qual_flagged"], frame["qual_p"], frame["qual_p_bh"] = q["flagged"], q["p_value"], q["p_bh"]
    frame["slow_flagged"], frame["slow_p"], frame["slow_p_bh"] = s["flagged"], s["p_value"], s["p_bh"]
    frame["qual_severity"], frame["slow_severity"] = q["severity"], s["severity"]
    q_family, s_family = int(q["tested"].sum()), int(s["tested"].sum())
    frame = frame.drop(columns="incomplete")
    flags = []
    for row in frame.itertuples(index=False):
        if row.qual_flagged:
            flags.append(Flag("voice", "Campaign-sourced deals qualification rate", row.campaign,
                              float(row.qualification_rate), float(row.others_qualification_rate),
                              f"two-proportion test vs all other deals, n={row.qual_known} vs "
                              f"{row.others_qual_known}, p={row.qual_p:.3g}; Benjamini–Hochberg over {q_family} "
                              f"campaigns p={row.qual_p_bh:.3g}", row.qual_severity,
                              questions_for("voice", "Campaign-sourced deals")))
        if row.slow_flagged:
            flags.append(Flag("voice", "Campaign-sourced deals median cycle time", row.campaign,
                              float(row.median_cycle_days), float(row.others_median_cycle),
                              f"Mood's median test vs all other deals, n={row.cycle_n} vs {row.others_cycle_n}, "
                              f"p={row.slow_p:.3g}; Benjamini–Hochberg over {s_family} campaigns "
                              f"p={row.slow_p_bh:.3g}", row.slow_severity,
                              questions_for("voice", "Campaign-sourced deals"), unit="days"))
    return frame, flags

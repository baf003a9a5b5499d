"""Explainable lead scoring (SPEC §5, §9): points per behaviour plus a fit grade from profile.

Every lead's score is a **ledger**: one row per rule that added (or took away) points, with the
evidence it read; the score is the sum of its ledger rows (0 when no rule fires), so a score can
always be explained. Rules are data (a table the user edits on the page):

| Rule | Kind | Column | How | Value | Points | Cap |
- Kind "Behaviour": Column holds a count (or Yes/No). How "per occurrence" → points × min(count, Cap)
  (repeatable; no cap when Cap is blank or 0); "once" → points when count > 0.
- Kind "Fit": How "at least" → points when the column's number ≥ Value (first number in the cell,
  so "51-200" reads 51); "contains any" → points when the text contains any of the comma-separated
  words in Value; "is one of" → points when the text equals one of them (case-insensitive).
Count cells that are neither a number nor yes/no/true/false/blank score 0 and are counted.
Fit grade = fit points / the most fit points a lead can get (sum of positive fit rules):
A ≥ 75%, B ≥ 50%, C ≥ 25%, else D (`FIT_GRADES`). Score decay is not applied: exports carry
behaviour counts, not the dates of each behaviour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.datasets import Dataset
from lib.errors import BoundaryError
from lib.periods import period_sql, period_start_column, range_sql
from lib.result import MetricResult
from lib.schemas import normalise_header
from lib.sql import quote_ident as q
from lib.stats import adjust_p_values, two_proportion_test, wilson_interval

RULE_COLUMNS = ["Rule", "Kind", "Column", "How", "Value", "Points", "Cap"]
KINDS = ("Behaviour", "Fit")
HOWS = {"Behaviour": ("per occurrence", "once"), "Fit": ("at least", "contains any", "is one of")}

# Default behaviour points: (rule, words that find the column in the file's headers, how, points, cap).
# A demo counts for more than a page view (SPEC §5).
DEFAULT_BEHAVIOURS = (
    ("Email open", ("email open", "opens", "open"), "per occurrence", 1, 10),
    ("Email click", ("email click", "clicks", "click"), "per occurrence", 3, 10),
    ("Content download", ("download",), "per occurrence", 5, 5),
    ("Page view", ("page view", "pageview", "views"), "per occurrence", 1, 10),
    ("Webinar attended", ("webinar",), "per occurrence", 8, 3),
    ("Demo requested", ("demo",), "once", 20, None),
    ("Trial started", ("trial",), "once", 25, None),
)
# Default fit rules on the canonical profile columns: (rule, column, how, value, points).
DEFAULT_FIT = (
    ("Company of 50+ employees", "company_size", "at least", "50", 10),
    ("Marketing or growth role", "job_title", "contains any",
     "marketing, growth, crm, lifecycle, cmo, head of", 10),
    ("Student or intern", "job_title", "contains any", "student, intern", -15),
    ("Target industry", "industry", "is one of",
     "Computer Software, Marketing & Advertising, Information Technology & Services, E-Learning", 5),
)
FIT_GRADES = ((0.75, "A"), (0.50, "B"), (0.25, "C"))  # share of the best fit score; below → "D"
BAND_WIDTH = 10  # score bands 0–9, 10–19, …; scores ≥ BAND_TOP share the top band, < 0 one band
BAND_TOP = 100
_YES = ("yes", "true", "y", "x")
_NO = ("no", "false", "n", "")


@dataclass(frozen=True)
class Rule:
    label: str
    kind: str
    column: str  # the table column
    how: str
    value: str
    points: float
    cap: float | None


def default_rules(dataset: Dataset) -> pd.DataFrame:
    """The default rules that the file can support, as an editable table (file column names).

    Behaviours are matched to the file's unmapped columns whose header contains one of the rule's
    words (first match wins, each column used once); fit rules need their profile column mapped.
    """
    extras = list(dataset.extra_columns.values())
    used: set[str] = set()
    rows = []
    for label, words, how, points, cap in DEFAULT_BEHAVIOURS:
        for word in words:
            hit = next((c for c in extras if c not in used and word in normalise_header(c)), None)
            if hit:
                used.add(hit)
                rows.append([label, "Behaviour", hit, how, "", points, cap])
                break
    for label, column, how, value, points in DEFAULT_FIT:
        if column in dataset.mapping:
            rows.append([label, "Fit", dataset.mapping[column], how, value, points, None])
    frame = pd.DataFrame(rows, columns=RULE_COLUMNS)
    frame["Points"] = frame["Points"].astype("float64")
    frame["Cap"] = frame["Cap"].astype("float64")
    return frame


def scoring_columns(dataset: Dataset) -> list[str]:
    """File columns a rule may read: the mapped profile columns and every unmapped column."""
    profile = [dataset.mapping[c] for c in ("company_size", "industry", "job_title", "lifecycle_stage", "source",
                                            "campaign", "status") if c in dataset.mapping]
    return profile + list(dataset.extra_columns.values())


def resolve_rules(dataset: Dataset, rules: pd.DataFrame) -> list[Rule]:
    """Check the edited rule table and turn file column names into table columns.

    Raises BoundaryError naming the rule row and the way out. Blank rows are skipped.
    """
    to_table = {v: k for k, v in dataset.mapping.items()} | {v: k for k, v in dataset.extra_columns.items()}
    out = []
    for i, row in enumerate(rules.to_dict("records"), start=1):
        label = str(row.get("Rule") or "").strip()
        column = row.get("Column")
        points = row.get("Points")
        if not label and (column is None or (isinstance(column, float) and math.isnan(column))):
            continue
        where = f"Scoring rule {i} (“{label or 'unnamed'}”)"
        kind = row.get("Kind")
        if kind not in KINDS:
            raise BoundaryError(f"{where}: Kind must be {' or '.join(KINDS)}.")
        how = row.get("How")
        if how not in HOWS[kind]:
            raise BoundaryError(f"{where}: for a {kind} rule, How must be one of: {', '.join(HOWS[kind])}.")
        if column not in to_table:
            raise BoundaryError(f"{where}: column “{column}” is not in {dataset.file_name}. "
                                f"Pick one of: {', '.join(scoring_columns(dataset))}.")
        try:
            points = float(points)
        except (TypeError, ValueError):
            points = math.nan
        if math.isnan(points):
            raise BoundaryError(f"{where}: Points must be a number.")
        value = "" if row.get("Value") is None or (isinstance(row.get("Value"), float)
                                                     and math.isnan(row.get("Value"))) else str(row["Value"]).strip()
        if how == "at least":
            try:
                float(value.replace(",", ""))
            except ValueError:
                raise BoundaryError(f"{where}: “at least” needs a number in Value, not “{value}”.") from None
        if how in ("contains any", "is one of") and not _words(value):
            raise BoundaryError(f"{where}: list the words to look for in Value, separated by commas.")
        cap = row.get("Cap")
        cap = None if cap is None or (isinstance(cap, float) and math.isnan(cap)) or float(cap) <= 0 else float(cap)
        out.append(Rule(label or f"Rule {i}", kind, to_table[column], how, value, points, cap))
    return out


def _words(value: str) -> list[str]:
    return [w.strip().lower() for w in str(value).split(",") if w.strip()]


def _count_sql(col: str) -> str:
    """A behaviour cell read as a count: a number, yes/true/x → 1, no/false/blank → 0, else NULL."""
    text = f"lower(trim(CAST({col} AS VARCHAR)))"
    return (f"CASE WHEN TRY_CAST(CAST({col} AS VARCHAR) AS DOUBLE) IS NOT NULL "
            f"THEN GREATEST(TRY_CAST(CAST({col} AS VARCHAR) AS DOUBLE), 0) "
            f"WHEN {col} IS NULL OR {text} IN ({', '.join(repr(v) for v in _YES + _NO)}) "
            f"THEN CASE WHEN {text} IN ({', '.join(repr(v) for v in _YES)}) THEN 1 ELSE 0 END END")


def ledger_sql(table: str, rules: list[Rule]) -> tuple[str, list]:
    """CTEs `base` (one row per lead ID: the first row of the file for a repeated ID) and `ledger`
    (lead_id, rule, kind, evidence, points) — one row per rule that fired for a lead."""
    params: list = []
    parts = []
    for rule in rules:
        col = q(rule.column)
        text = f"lower(trim(CAST({col} AS VARCHAR)))"
        evidence = f"CAST({col} AS VARCHAR)"
        if rule.kind == "Behaviour":
            count = _count_sql(col)
            if rule.how == "once":
                points, values = "?", [rule.points]
            elif rule.cap is None:
                points, values = f"? * {count}", [rule.points]
            else:
                points, values = f"? * LEAST({count}, ?)", [rule.points, rule.cap]
            parts.append(f"SELECT lead_id, ? AS rule, ? AS kind, {evidence} AS evidence, "
                         f"CAST({points} AS DOUBLE) AS points FROM base WHERE {count} > 0")
            params.extend([rule.label, rule.kind, *values])
            continue
        if rule.how == "at least":
            fires = f"TRY_CAST(regexp_extract(replace(CAST({col} AS VARCHAR), ',', ''), '-?[0-9]+(\\.[0-9]+)?', 0) AS DOUBLE) >= ?"
            values = [float(rule.value.replace(",", ""))]
        elif rule.how == "contains any":
            words = _words(rule.value)
            fires = "(" + " OR ".join(f"contains({text}, ?)" for _ in words) + ")"
            values = words
        else:
            words = _words(rule.value)
            fires = f"{text} IN ({', '.join('?' * len(words))})"
            values = words
        parts.append(f"SELECT lead_id, ? AS rule, ? AS kind, {evidence} AS evidence, CAST(? AS DOUBLE) AS points "
                     f"FROM base WHERE {fires}")
        params.extend([rule.label, rule.kind, rule.points, *values])
    ledger = ("\n  UNION ALL ".join(parts) if parts else
              "SELECT NULL::VARCHAR AS lead_id, NULL::VARCHAR AS rule, NULL::VARCHAR AS kind, "
              "NULL::VARCHAR AS evidence, NULL::DOUBLE AS points WHERE FALSE")
    sql = (f"WITH base AS (\n  SELECT * EXCLUDE (lead_id), trim(CAST(lead_id AS VARCHAR)) AS lead_id FROM {q(table)}\n"
           "  WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NOT NULL\n"
           "  QUALIFY ROW_NUMBER() OVER (PARTITION BY trim(CAST(lead_id AS VARCHAR)) ORDER BY _row) = 1\n),\n"
           f"ledger AS (\n  {ledger}\n)")
    return sql, params


def _signed(x: str) -> str:
    """SQL writing a number with its sign and no needless decimals (+10, -2.5), the same on every
    engine (printf's %g is C's on DuckDB and Java's on Spark: +10 against +10.0000)."""
    return (f"CASE WHEN {x} >= 0 THEN '+' ELSE '' END || CASE WHEN {x} = floor({x}) "
            f"THEN CAST(CAST({x} AS BIGINT) AS VARCHAR) ELSE CAST({x} AS VARCHAR) END")


def _max_fit(rules: list[Rule]) -> float:
    return sum(r.points for r in rules if r.kind == "Fit" and r.points > 0)


def scores_sql(table: str, rules: list[Rule], use_file_score: bool = False) -> tuple[str, list]:
    """`ledger_sql` plus CTE `scores`: lead_id, behaviour_points, fit_points, score, fit_share,
    fit_grade, reasons ("Demo requested +20; Email open +7 …", largest first).

    score = Σ ledger points (0 with no rule fired); with `use_file_score` the score is the file's own
    lead score column instead (the ledger and fit still come from the rules)."""
    sql, params = ledger_sql(table, rules)
    max_fit = _max_fit(rules)
    grade = " ".join(f"WHEN fit_points / ? >= ? THEN '{g}'" for _, g in FIT_GRADES)  # grades are constants
    grade_params = [v for share, _ in FIT_GRADES for v in (max_fit, share)]
    score = "CAST(b.lead_score AS DOUBLE)" if use_file_score else "COALESCE(SUM(l.points), 0)"
    sql += (",\nscored AS (\n  SELECT b.lead_id, COALESCE(SUM(l.points) FILTER (WHERE l.kind = 'Behaviour'), 0) AS behaviour_points,\n"
            "    COALESCE(SUM(l.points) FILTER (WHERE l.kind = 'Fit'), 0) AS fit_points,\n"
            f"    {score if not use_file_score else 'ANY_VALUE(' + score + ')'} AS score,\n"
            f"    string_agg(l.rule || ' ' || {_signed('round(l.points, 2)')}, '; ' ORDER BY l.points DESC, l.rule) "
            "AS reasons\n"
            "  FROM base b LEFT JOIN ledger l USING (lead_id) GROUP BY b.lead_id\n),\n"
            "scores AS (\n  SELECT *, CASE WHEN ? > 0 THEN fit_points / ? END AS fit_share,\n"
            f"    CASE WHEN ? <= 0 THEN NULL {grade} ELSE 'D' END AS fit_grade FROM scored\n)")
    params += [max_fit, max_fit, max_fit, *grade_params]
    return sql, params


def _unreadable(con, table: str, rules: list[Rule]) -> dict[str, int]:
    """Cells of the behaviour columns not readable as a count, per column, and rows without a lead ID:
    one scan for all of them (a query per column cost ~4 ms each, on every figure that says them)."""
    cols = sorted({r.column for r in rules if r.kind == "Behaviour"})
    counts = [f"COUNT(*) FILTER (WHERE ({_count_sql(q(col))}) IS NULL)" for col in cols]
    counts.append("COUNT(*) FILTER (WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NULL)")
    row = con.execute(f"SELECT {', '.join(counts)} FROM {q(table)}").fetchall()[0]
    out = {f"cells of {col} not readable as a count (scored 0)": int(n) for col, n in zip(cols, row) if n}
    if row[-1]:
        out["rows without a lead ID"] = int(row[-1])
    return out


def score_ledger(con, table: str, rules: list[Rule], lead_id: str | None = None) -> MetricResult:
    """The ledger: lead_id, rule, kind, evidence (the cell read), points — optionally for one lead.

    Σ points per lead = that lead's score (`lead_scores`)."""
    sql, params = ledger_sql(table, rules)
    if lead_id is None:
        sql += "\nSELECT * FROM ledger ORDER BY lead_id, points DESC, rule"
    else:
        sql += "\nSELECT * FROM ledger WHERE lead_id = ? ORDER BY points DESC, rule"
        params.append(str(lead_id).strip())
    return MetricResult(con.execute(sql, params).df(), sql, params, _unreadable(con, table, rules))


def lead_scores(con, table: str, rules: list[Rule], threshold: float, use_file_score: bool = False) -> MetricResult:
    """Every lead's score with its reasons: lead_id, behaviour_points, fit_points, score, fit_share,
    fit_grade, reasons, qualifies (score ≥ `threshold`, points). Sorted by score, highest first."""
    sql, params = scores_sql(table, rules, use_file_score)
    sql += "\nSELECT *, score >= ? AS qualifies FROM scores ORDER BY score DESC NULLS LAST, lead_id"
    params.append(float(threshold))
    excluded = _unreadable(con, table, rules)
    frame = con.execute(sql, params).df()
    if use_file_score:
        blank = int(frame["score"].isna().sum())
        if blank:
            excluded["leads with a blank score in the file"] = blank
    return MetricResult(frame, sql, params, excluded)


def _band_sql(score: str) -> str:
    return (f"CASE WHEN {score} < 0 THEN -1 WHEN {score} >= {BAND_TOP} THEN {BAND_TOP} "
            f"ELSE CAST(floor({score} / {BAND_WIDTH}) * {BAND_WIDTH} AS INTEGER) END")


def band_label(band: int) -> str:
    """'< 0', '0–9', …, '100+' for the band starting at `band`."""
    if band < 0:
        return "< 0"
    if band >= BAND_TOP:
        return f"{BAND_TOP}+"
    return f"{band}–{band + BAND_WIDTH - 1}"


def score_distribution(con, table: str, rules: list[Rule], threshold: float,
                       use_file_score: bool = False) -> MetricResult:
    """Leads per score band (band, label, leads, share = leads / all scored leads, at_or_above =
    the band's lower edge ≥ threshold). Leads with no score (file score blank) are left out, counted."""
    sql, params = scores_sql(table, rules, use_file_score)
    sql += (f"\nSELECT {_band_sql('score')} AS band, COUNT(*) AS leads, COUNT(*) / SUM(COUNT(*)) OVER () AS share\n"
            "FROM scores WHERE score IS NOT NULL GROUP BY 1 ORDER BY 1")
    frame = con.execute(sql, params).df()
    frame["label"] = [band_label(int(b)) for b in frame["band"]]
    frame["at_or_above"] = frame["band"] >= threshold
    excluded = _unreadable(con, table, rules)
    if use_file_score:
        n = con.execute(f"SELECT COUNT(*) FROM {q(table)} WHERE lead_score IS NULL").fetchall()[0][0]
        if n:
            excluded["leads with a blank score in the file"] = int(n)
    return MetricResult(frame, sql, params, excluded)


SCORE_BAND_CAVEAT = (
    "Scores here are today's: the export holds each lead's behaviour counts as of now (opens, visits, "
    "webinars…), including what a lead did after it converted, not its score when it entered. So the "
    "bands show whether converted leads score high, which flatters the score; they are not a forecast "
    "for a new lead at that score.")


def conversion_by_score_band(con, funnel_cte: tuple[str, list], table: str, rules: list[Rule], target_stage: int,
                             threshold: float, use_file_score: bool = False, cohort: pd.DataFrame | None = None,
                             bands: MetricResult | None = None) -> MetricResult:
    """Conversion by score band: does the MQL threshold sit where conversion changes?

    `funnel_cte` is `lib.metrics.funnel.cohort_sql(...)` (leads entered in the range, reach flags
    in the window); `target_stage` the index of the stage that counts as converted.
    rate = leads in band reaching the target stage / leads in band (ratio 0–1), Wilson 95% interval.
    Leads in the funnel without a score are left out and counted. The score uses today's behaviour
    counts (the export's), not the counts when the lead entered: `SCORE_BAND_CAVEAT` says so on the page.

    `cohort` (`lib.metrics.funnel.cohort_frame` of the same funnel) and `bands` (`lead_bands` of the same
    table, rules and score): the counts are then made in pandas, without a query — the same frame, SQL and
    rows left out; a window change then reads no ledger.
    """
    f_sql, f_params = funnel_cte
    s_sql, s_params = scores_sql(table, rules, use_file_score)
    # Both are "WITH …" blocks: chain the second's CTEs after the first's.
    sql = f_sql + ",\n" + s_sql.removeprefix("WITH ")
    params = f_params + s_params
    # the funnel leads without a score come with every band (one scan of the scores: they cost ~50 ms a query)
    missing_sql = "SELECT COUNT(*) FROM cohort c LEFT JOIN scores s USING (lead_id) WHERE c.in0 AND s.score IS NULL"
    sql += (f"\nSELECT {_band_sql('s.score')} AS band, COUNT(*) AS leads, COUNT(*) FILTER (WHERE c.in{int(target_stage)}) "
            f"AS converted, ({missing_sql}) AS funnel_leads_without_score\nFROM cohort c JOIN scores s USING (lead_id)\n"
            "WHERE c.in0 AND s.score IS NOT NULL\nGROUP BY 1 ORDER BY 1")
    if cohort is not None and bands is not None:
        frame, missing = _band_counts(cohort, bands.frame, int(target_stage))
    else:
        frame = con.execute(sql, params).df()
        if len(frame):
            missing = int(frame["funnel_leads_without_score"].iloc[0])
        else:  # no band, so no row to carry the count
            missing = con.execute(f_sql + ",\n" + s_sql.removeprefix("WITH ") + "\n" + missing_sql,
                                  params).fetchall()[0][0]
        frame = frame.drop(columns="funnel_leads_without_score")
    frame["label"] = [band_label(int(b)) for b in frame["band"]]
    frame["rate"] = [c / n if n else math.nan for c, n in zip(frame["converted"], frame["leads"])]
    bounds = [wilson_interval(int(c), int(n)) for c, n in zip(frame["converted"], frame["leads"])]
    frame["rate_low"] = [b[0] for b in bounds]
    frame["rate_high"] = [b[1] for b in bounds]
    frame["at_or_above"] = frame["band"] >= threshold
    excluded = {"funnel leads without a score": int(missing)} if missing else {}
    return MetricResult(frame, sql, params, excluded)


def lead_bands(con, table: str, rules: list[Rule], use_file_score: bool = False) -> MetricResult:
    """Every lead's score band (lead_id, band; band blank when the score is): what
    `conversion_by_score_band` counts per band, read once per table, rules and score so a change of
    window or range reads no ledger."""
    sql, params = scores_sql(table, rules, use_file_score)
    sql += f"\nSELECT lead_id, {_band_sql('score')} AS band FROM scores"
    return MetricResult(con.execute(sql, params).df(), sql, params)


def _in_flags(cohort: pd.DataFrame, k: int) -> tuple[pd.Series, pd.Series]:
    """in0 and in`k` of a cohort frame as plain booleans (a blank flag counts as false, as in FILTER)."""
    return cohort["in0"].fillna(False).astype(bool), cohort[f"in{k}"].fillna(False).astype(bool)


def _band_counts(cohort: pd.DataFrame, bands: pd.DataFrame, k: int) -> tuple[pd.DataFrame, int]:
    """`conversion_by_score_band`'s query in pandas: leads and converted per band of the funnel's leads
    (in0), and the funnel's leads without a score."""
    in0, ink = _in_flags(cohort, k)
    funnel = pd.DataFrame({"lead_id": cohort["lead_id"][in0].to_numpy(), "converted": ink[in0].to_numpy()})
    joined = funnel.merge(bands[["lead_id", "band"]], on="lead_id", how="left")
    scored = joined[joined["band"].notna()]
    missing = len(joined) - len(scored)
    grouped = scored.groupby("band", sort=True)["converted"].agg(["size", "sum"])
    frame = pd.DataFrame({"band": grouped.index.to_numpy().astype("int32"),
                          "leads": grouped["size"].to_numpy().astype("int64"),
                          "converted": grouped["sum"].to_numpy().astype("int64")})
    return frame, int(missing)


def score_profile(con, table: str, rules: list[Rule], grain: str = "month", use_file_score: bool = False,
                  start=None, end=None, days: MetricResult | None = None) -> MetricResult:
    """Lead-score profile of new leads: per created period, leads per score band and their share
    of the period's new leads (0–1). Uses the lead's current score (exports hold today's score,
    not the score at each month end). Needs the created date; leads without one are left out, counted.

    `days` (`score_profile_days` for the same table, rules, score and range): the periods are then its
    days summed per period in pandas, without a query — the same frame (share = the same two counts
    divided); the SQL returned is the per-period query either way, what the page shows."""
    sql, params = _profile_sql(table, rules, grain, use_file_score, start, end)
    if days is None:
        frame = con.execute(sql, params).df()
        frame["period"] = pd.to_datetime(frame["period"])
        n = con.execute(f"SELECT COUNT(*) FROM {q(table)} WHERE created_date IS NULL").fetchall()[0][0]
        excluded = {"leads without a created date": int(n)} if n else {}
    else:
        daily = days.frame
        periods = period_start_column(daily["period"], grain)  # period_start for the whole column
        frame = daily.assign(period=periods).groupby(["period", "band"], as_index=False, sort=True)["leads"].sum()
        frame["share"] = frame["leads"] / frame.groupby("period")["leads"].transform("sum")
        excluded = days.excluded
    frame["label"] = [band_label(int(b)) for b in frame["band"]]
    return MetricResult(frame, sql, params, excluded)


def score_profile_days(con, table: str, rules: list[Rule], use_file_score: bool = False,
                       start=None, end=None) -> MetricResult:
    """`score_profile`'s leads per created day and score band (period = the day, no share): what every
    grain sums, read once per table, rules, score and range, so a change of grain runs no query."""
    sql, params = _profile_sql(table, rules, "day", use_file_score, start, end)
    frame = con.execute(sql, params).df().drop(columns="share")
    frame["period"] = pd.to_datetime(frame["period"])
    n = con.execute(f"SELECT COUNT(*) FROM {q(table)} WHERE created_date IS NULL").fetchall()[0][0]
    return MetricResult(frame, sql, params, {"leads without a created date": int(n)} if n else {})


def _profile_sql(table: str, rules: list[Rule], grain: str, use_file_score: bool, start, end) -> tuple[str, list]:
    sql, params = scores_sql(table, rules, use_file_score)
    where = ["b.created_date IS NOT NULL", "s.score IS NOT NULL"]
    clauses, range_params = range_sql("b.created_date", start, end)
    where += clauses
    params += range_params
    period = period_sql("b.created_date", grain)
    sql += (f"\nSELECT {period} AS period, {_band_sql('s.score')} AS band, COUNT(*) AS leads,\n"
            f"  COUNT(*) / SUM(COUNT(*)) OVER (PARTITION BY {period}) AS share\n"
            f"FROM base b JOIN scores s USING (lead_id)\nWHERE {' AND '.join(where)} GROUP BY 1, 2 ORDER BY 1, 2")
    return sql, params


def difference_interval(x1: float, n1: float, x0: float, n0: float) -> tuple[float, float]:
    """95% interval of p1 − p0 (p1 = x1/n1, p0 = x0/n0): Newcombe's hybrid score interval from the
    two Wilson intervals (l1, u1), (l0, u0): d − √((p1 − l1)² + (u0 − p0)²) to d + √((u1 − p1)² + (p0 − l0)²).
    (nan, nan) when either n is 0. statsmodels confint_proportions_2indep(30, 100, 20, 100,
    method='newcomb', compare='diff') = (−0.020249, 0.216734).
    >>> [round(v, 6) for v in difference_interval(30, 100, 20, 100)]
    [-0.020249, 0.216734]
    """
    if n1 <= 0 or n0 <= 0:
        return (math.nan, math.nan)
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1)
    l0, u0 = wilson_interval(x0, n0)
    d = p1 - p0
    return (d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))


RULE_IMPACT_CAVEAT = (
    "A rule's leads are compared with the leads it did not fire for: a difference says the behaviour or "
    "profile goes with converting, not that it causes it (a demo request is often a step of the sale itself). "
    "Counts are today's, as in the score bands.")


def _rule_per_sql(rules: list[Rule], labels: list[str], threshold: float) -> tuple[str, list]:
    """`rule_impact`'s CTEs after the scores: `per`, one row per rule and lead of the file (fired, changes)."""
    values = ", ".join("(?, ?)" for _ in labels)
    sql = (f"rule_list(rule, ord) AS (VALUES {values}),\n"
           "rule_points AS (SELECT lead_id, rule, SUM(points) AS points FROM ledger GROUP BY 1, 2),\n"
           "per AS (\n  SELECT r.rule, r.ord, s.lead_id, s.score, p.lead_id IS NOT NULL AS fired,\n"
           "    (s.score >= ?) <> (s.score - COALESCE(p.points, 0) >= ?) AS changes\n"
           "  FROM scores s CROSS JOIN rule_list r LEFT JOIN rule_points p ON p.lead_id = s.lead_id AND p.rule = r.rule\n)")
    return sql, [v for i, label in enumerate(labels) for v in (label, i)] + [float(threshold)] * 2


def rule_leads(con, table: str, rules: list[Rule], threshold: float) -> MetricResult:
    """Per rule and lead of the file (rule, ord, lead_id, fired, changes): what `rule_impact` counts,
    read once per table, rules and threshold so a change of window or range reads no ledger. The rows
    left out are `rule_impact`'s."""
    labels = list(dict.fromkeys(r.label for r in rules))
    s_sql, s_params = scores_sql(table, rules)
    per_sql, per_params = _rule_per_sql(rules, labels, threshold)
    sql = s_sql + ",\n" + per_sql + "\nSELECT rule, ord, lead_id, fired, changes FROM per"
    return MetricResult(con.execute(sql, s_params + per_params).df(), sql, s_params + per_params,
                        _unreadable(con, table, rules))


def _rule_counts(per: pd.DataFrame, cohort: pd.DataFrame, k: int) -> pd.DataFrame:
    """`rule_impact`'s query in pandas: per rule (in rule order) the counts over the file's leads and,
    with the funnel's flags looked up by lead ID (a lead not in the funnel counts in neither side), over
    the funnel's leads."""
    in0, ink = _in_flags(cohort, k)
    at = pd.Index(cohort["lead_id"]).get_indexer(per["lead_id"])  # -1: not in the funnel → the False appended
    c0 = np.append(in0.to_numpy(dtype=bool), False)[at]
    ck = np.append(ink.to_numpy(dtype=bool), False)[at]
    fired = per["fired"].fillna(False).astype(bool).to_numpy()
    changes = per["changes"].fillna(False).astype(bool).to_numpy()
    # per rule (its order number, one per rule) with bincount: a groupby over rules × leads rows was ~15 ms a click
    codes, ords = pd.factorize(per["ord"].to_numpy(), sort=True)
    first = np.full(len(ords), len(codes))
    np.minimum.at(first, codes, np.arange(len(codes)))  # each rule's first row, for its name
    counts = {name: np.bincount(codes[mask], minlength=len(ords)).astype("int64") for name, mask in (
        ("fired", fired), ("leads", np.ones(len(codes), bool)), ("mql_changed", changes), ("with_n", c0 & fired),
        ("with_converted", c0 & fired & ck), ("without_n", c0 & ~fired), ("without_converted", c0 & ~fired & ck))}
    return pd.DataFrame({"rule": per["rule"].iloc[first].reset_index(drop=True), **counts})


def rule_impact(con, funnel_cte: tuple[str, list], table: str, rules: list[Rule], target_stage: int,
                threshold: float, alpha: float = 0.05, min_group: int = 30, cohort: pd.DataFrame | None = None,
                per: MetricResult | None = None) -> MetricResult:
    """Per scoring rule: how many leads it fired for, conversion with vs without it, and whether it
    ever changes who qualifies. "Which activities raise scores, and which have no impact."

    `funnel_cte` is `lib.metrics.funnel.cohort_sql(...)`; `target_stage` the index of the stage that
    counts as converted. The score is always the rules' own (Σ ledger points), never the file's score.
    Per rule r (rules with the same name count as one):
    - fired = leads of the file (one per lead ID) for which r added points; fired_share = fired / leads
      of the file.
    - mql_changed = leads whose MQL status (score ≥ `threshold`) differs when r is removed (score − r's
      points); no_impact = mql_changed == 0: the rule never decides who qualifies.
    - Over the funnel's leads (entered in the range): with_n, with_converted = leads r fired for and
      those reaching the target stage in the window; with_rate = with_converted / with_n; the same
      without r (without_n, without_converted, without_rate); diff = with_rate − without_rate with
      Newcombe's 95% interval (diff_low, diff_high; `difference_interval`); p_value from
      `stats.two_proportion_test` (pooled z, Fisher's exact when a cell expects < 5) when both sides
      have ≥ `min_group` leads (blank otherwise); p_bh = Benjamini–Hochberg over the rules tested
      (one family); significant = p_bh < `alpha`. Rates are ratios 0–1; diff is in rate points.

    `cohort` (`lib.metrics.funnel.cohort_frame` of the same funnel) and `per` (`rule_leads` of the same
    table, rules and threshold): the counts are then made in pandas, without a query — the same frame,
    SQL and rows left out; a window change then reads no ledger.
    """
    f_sql, f_params = funnel_cte
    s_sql, s_params = scores_sql(table, rules)
    labels = list(dict.fromkeys(r.label for r in rules))
    kinds = {r.label: r.kind for r in rules}
    points = {}
    for r in rules:
        points[r.label] = points.get(r.label, "") + ("; " if r.label in points else "") + (
            f"{r.points:+g}" + (f"/occurrence (max {r.cap:g})" if r.how == "per occurrence" and r.cap else
                                "/occurrence" if r.how == "per occurrence" else ""))
    columns = ["rule", "kind", "points", "fired", "fired_share", "mql_changed", "no_impact", "with_n",
               "with_converted", "with_rate", "without_n", "without_converted", "without_rate", "diff",
               "diff_low", "diff_high", "p_value", "p_bh", "significant"]
    if not labels:
        return MetricResult(pd.DataFrame(columns=columns), "", [])
    k = int(target_stage)
    per_sql, per_params = _rule_per_sql(rules, labels, threshold)
    sql = (f_sql + ",\n" + s_sql.removeprefix("WITH ") + ",\n" + per_sql + "\n"
           "SELECT per.rule, COUNT(*) FILTER (WHERE fired) AS fired, COUNT(*) AS leads,\n"
           "  COUNT(*) FILTER (WHERE changes) AS mql_changed,\n"
           "  COUNT(*) FILTER (WHERE c.in0 AND fired) AS with_n,\n"
           f"  COUNT(*) FILTER (WHERE c.in0 AND fired AND c.in{k}) AS with_converted,\n"
           "  COUNT(*) FILTER (WHERE c.in0 AND NOT fired) AS without_n,\n"
           f"  COUNT(*) FILTER (WHERE c.in0 AND NOT fired AND c.in{k}) AS without_converted\n"
           "FROM per LEFT JOIN cohort c USING (lead_id)\nGROUP BY per.rule, per.ord ORDER BY per.ord")
    params = f_params + s_params + per_params
    if cohort is not None and per is not None:
        frame = _rule_counts(per.frame, cohort, k)
    else:
        frame = con.execute(sql, params).df()
    frame["kind"] = frame["rule"].map(kinds)
    frame["points"] = frame["rule"].map(points)
    frame["fired_share"] = [f / n if n else math.nan for f, n in zip(frame["fired"], frame["leads"])]
    frame["no_impact"] = frame["mql_changed"] == 0
    rates, tests = [], []
    for r in frame.itertuples(index=False):
        x1, n1, x0, n0 = int(r.with_converted), int(r.with_n), int(r.without_converted), int(r.without_n)
        low, high = difference_interval(x1, n1, x0, n0)
        p = two_proportion_test(x1, n1, x0, n0).p_value if n1 >= min_group and n0 >= min_group else math.nan
        rates.append((x1 / n1 if n1 else math.nan, x0 / n0 if n0 else math.nan, low, high, p))
    for i, name in enumerate(("with_rate", "without_rate", "diff_low", "diff_high", "p_value")):
        frame[name] = [row[i] for row in rates]
    frame["diff"] = frame["with_rate"] - frame["without_rate"]
    frame["p_bh"] = adjust_p_values(frame["p_value"], "fdr_bh")
    frame["significant"] = [bool(q < alpha) for q in frame["p_bh"]]  # nan < alpha is False
    excluded = dict(per.excluded) if cohort is not None and per is not None else _unreadable(con, table, rules)
    return MetricResult(frame[columns], sql, params, excluded)


TOUCH_BINS = ((0, "0"), (1, "1–4"), (5, "5–9"), (10, "10–19"), (20, "20–29"), (30, "30–39"), (40, "40–49"),
              (50, "50–59"), (60, "60–79"), (80, "80–99"), (100, "100+"))  # lower edges, touches per lead
TOUCHES_CAVEAT = (
    "Touches are the export's behaviour counts as of today, so a customer's count can include touches "
    "after they became a customer; the file does not date each touch.")


def touches_to_close(con, funnel_cte: tuple[str, list], table: str, rules: list[Rule],
                     target_stage: int, cohort: pd.DataFrame | None = None,
                     touches: MetricResult | None = None) -> MetricResult:
    """Marketing touches per lead of the funnel, to read the touches from first contact to customer.

    touches of a lead = Σ over the behaviour rules' columns of the cell read as a count (a number,
    yes → 1, no/blank → 0; no cap and no points: every email open, page view, webinar… counts once per
    occurrence; a column used by two rules counts once). One row per funnel lead (entered in the range):
    lead_id, converted (reached `target_stage` within the window), touches (count).
    `touch_distribution` and `touch_summary` read it. Cells not readable as a count add 0 and are counted.

    `cohort` (`lib.metrics.funnel.cohort_frame` of the same funnel) and `touches` (`lead_touches` of the
    same table and rules): the rows are then joined in pandas, without a query — the same frame, SQL and
    rows left out.
    """
    columns = sorted({r.column for r in rules if r.kind == "Behaviour"})
    if not columns:
        raise BoundaryError("Touches to close need activity counts (email opens, page views, webinars…): add a "
                            "Behaviour rule on such a column in the scoring rules.")
    f_sql, f_params = funnel_cte
    sql = (f_sql + ",\n" + _touched_sql(table, columns) + "\n"
           f"SELECT c.lead_id, c.in{int(target_stage)} AS converted, t.touches\n"
           "FROM cohort c JOIN rows_touched t ON t.lead_id = c.lead_id AND t.nth = 1 WHERE c.in0 ORDER BY c.lead_id")
    if cohort is not None and touches is not None:
        in0, ink = _in_flags(cohort, int(target_stage))
        funnel = pd.DataFrame({"lead_id": cohort["lead_id"][in0].to_numpy(), "converted": ink[in0].to_numpy()})
        frame = funnel.merge(touches.frame, on="lead_id").sort_values("lead_id", ignore_index=True)
        return MetricResult(frame, sql, f_params, dict(touches.excluded))
    frame = con.execute(sql, f_params).df()
    frame["converted"] = frame["converted"].astype(bool)
    return MetricResult(frame, sql, f_params, _unreadable(con, table, rules))


def _touched_sql(table: str, columns: list[str]) -> str:
    """CTE `rows_touched`: every row with a lead ID, its touches and its rank among its ID's rows."""
    total = " + ".join(f"COALESCE({_count_sql(q(c))}, 0)" for c in columns)
    # one row per lead ID (its first row in the file), as the ledger reads it
    return ("rows_touched AS (\n  SELECT trim(CAST(lead_id AS VARCHAR)) AS lead_id, "
            f"CAST({total} AS DOUBLE) AS touches,\n"
            "    ROW_NUMBER() OVER (PARTITION BY trim(CAST(lead_id AS VARCHAR)) ORDER BY _row) AS nth\n"
            f"  FROM {q(table)} WHERE NULLIF(trim(CAST(lead_id AS VARCHAR)), '') IS NOT NULL\n)")


def lead_touches(con, table: str, rules: list[Rule]) -> MetricResult:
    """Touches of every lead of the file (lead_id, touches; its first row): what `touches_to_close` joins
    to the funnel's leads, read once per table and rules so a change of window or range runs no query.
    The rows left out are `touches_to_close`'s. Raises as it does without a Behaviour rule."""
    columns = sorted({r.column for r in rules if r.kind == "Behaviour"})
    if not columns:
        raise BoundaryError("Touches to close need activity counts (email opens, page views, webinars…): add a "
                            "Behaviour rule on such a column in the scoring rules.")
    sql = "WITH " + _touched_sql(table, columns) + "\nSELECT lead_id, touches FROM rows_touched WHERE nth = 1"
    return MetricResult(con.execute(sql).df(), sql, [], _unreadable(con, table, rules))


def touch_distribution(per_lead: pd.DataFrame) -> pd.DataFrame:
    """Customers per bin of touches (`TOUCH_BINS`, lower edges): bin, label, customers (count), share =
    customers in the bin / all customers (ratio 0–1; nan with no customer). Every bin is listed."""
    touches = per_lead.loc[per_lead["converted"], "touches"]
    edges = [lo for lo, _ in TOUCH_BINS]
    counts = [int(((touches >= lo) & (touches < hi)).sum()) for lo, hi in zip(edges, edges[1:] + [math.inf])]
    total = sum(counts)
    return pd.DataFrame({"bin": edges, "label": [label for _, label in TOUCH_BINS], "customers": counts,
                         "share": [c / total if total else math.nan for c in counts]})


def touch_summary(per_lead: pd.DataFrame) -> dict:
    """Customers' touches: n, median, p25, p75 (linear quantiles); and the median of the funnel leads
    that did not convert (other_n, other_median), for reference. nan when a group is empty."""
    cust = per_lead.loc[per_lead["converted"], "touches"].astype(float)
    other = per_lead.loc[~per_lead["converted"], "touches"].astype(float)
    return {"n": len(cust), "median": cust.median() if len(cust) else math.nan,
            "p25": cust.quantile(0.25) if len(cust) else math.nan, "p75": cust.quantile(0.75) if len(cust) else math.nan,
            "other_n": len(other), "other_median": other.median() if len(other) else math.nan}


def rules_text(rules: list[Rule]) -> str:
    """One line per rule, for captions and exports."""
    return "; ".join(f"{r.label} {'+' if r.points >= 0 else ''}{r.points:g}"
                     + (f"/occurrence (max {r.cap:g})" if r.how == "per occurrence" and r.cap else "") for r in rules)


__all__ = ["default_rules", "resolve_rules", "score_ledger", "lead_scores", "score_distribution",
           "conversion_by_score_band", "score_profile", "score_profile_days", "band_label", "scoring_columns",
           "rule_impact", "difference_interval", "touches_to_close", "touch_distribution", "touch_summary",
           "lead_bands", "rule_leads", "lead_touches"]

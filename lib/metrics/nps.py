"""NPS: the score, its margin of error, trend with dips beyond the noise, segments, comments,
campaigns and referral candidates (SPEC.md §3, §9 "NPS validation").

Definitions used everywhere on this page:
- A *valid* response has a whole-number score from 0 to 10. Blank cells, cells that are not whole
  numbers (text such as "ten", decimals such as 6.5 — NULL in the table, counted at upload in
  `dataset.bad_values["score"]`) and whole numbers outside 0–10 (11, −1) are left out and counted.
- promoters score 9–10, passives 7–8, detractors 0–6.
- NPS = 100 × (promoters − detractors) / valid responses, in points from −100 to +100.
- Margin of error (95%): each respondent is an indicator x = +1 (promoter), 0 (passive),
  −1 (detractor); NPS = 100 × mean(x). With shares p_P, p_D:
      var(x) = p_P + p_D − (p_P − p_D)²        (E[x²] − E[x]²)
      MoE₉₅  = z × 100 × √(var(x) / n),  z = 1.959964 (two-sided 95%)
  Edge cases, decided here and stated on the page: n = 0 → NPS and MoE undefined (NaN); n = 1 →
  MoE undefined (NaN: one answer says nothing about spread); every response in one category
  (all promoters, all detractors or all passives, n ≥ 2) → var = 0 and the formula's MoE is 0 —
  reported as 0 but the sample-size warning (n below `nps_min_responses`) still applies, and the
  page says that ±0 is the formula's, not certainty.
- A dip: a period whose answers are unlikely to come from the mix of its trailing baseline (up to
  `baseline_periods` earlier periods, earlier dips left out): exact trinomial tail or score test
  with the baseline's variance (lib.stats.nps_dip_test), whichever p is larger; periods or
  baselines under `nps_min_responses` are not tested; Benjamini–Hochberg over the tested periods,
  "high" only when the Bonferroni-adjusted p also clears α/2 (see `dip_tests`).
- Periods follow UTC: the upload stores times in UTC, so a response at 22:00 on 31 March in
  New York (UTC−4) counts in April.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from lib import segments
from lib.datasets import Dataset
from lib.errors import BoundaryError
from lib.periods import is_incomplete, period_end, period_label, period_sql
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.engine import table_columns
from lib.sql import quote_ident
from lib.stats import (Z95, adjust_family, adjust_p_values, fisher_exact_test, normal_cdf, nps_dip_test,
                       two_proportion_test, wilson_interval, z_for_alpha)
from lib.text import complaint_about_marketing, distinguishing_terms, sentiment_scores

CATEGORIES = ("Detractor", "Passive", "Promoter")
EXCLUDED_BLANK = "score blank"
EXCLUDED_TEXT = "score not a whole number (text or decimal)"
EXCLUDED_MISSING = "score blank or not a whole number"
EXCLUDED_RANGE = "score outside 0–10"
EXCLUDED_NO_DATE = "response date blank"
EXCLUDED_UNANSWERED = "invitations not answered (a sent date, no score)"

# Column headers for tables shown or downloaded (internal name → what a reader sees).
LABELS = {
    "n": "Valid responses", "promoters": "Promoters", "passives": "Passives", "detractors": "Detractors",
    "missing": "Score blank or unreadable", "out_of_range": "Score outside 0–10",
    "pct_promoters": "Promoters %", "pct_passives": "Passives %", "pct_detractors": "Detractors %",
    "nps": "NPS", "moe": "± Margin of error (95%)", "low": "NPS low (95%)", "high": "NPS high (95%)",
    "label": "Period", "baseline_n": "Baseline responses", "baseline_nps": "Baseline NPS",
    "z": "z", "dip": "Dip beyond the noise", "p_value": "p (one-sided)", "p_adjusted": "p adjusted (BH)",
    "pair_p_adjusted": "p adjusted, with the period before (BH)", "reading": "Reading", "severity": "Severity",
    "incomplete": "Incomplete period", "segment": "Group",
    "too_small": "Too small to read", "rest_nps": "NPS of the rest", "differs": "Differs from the rest",
    "score": "Score", "responses": "Responses", "share": "% of valid responses", "category": "Category",
    "respondent": "Respondent", "response_date": "Response date", "comment": "Comment",
    "sentiment": "Sentiment (−1..+1)", "sentiment_label": "Sentiment", "about_marketing": "Complains about marketing",
    "campaign": "Campaign", "channel": "Channel", "start_date": "Start", "end_date": "End",
}


def labelled(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The listed columns (those present) under their reader-facing labels, numbers to 1 decimal
    (p-values to 3 significant digits: 0.00031 is not 0.0)."""
    out = frame[[c for c in columns if c in frame]].copy()
    for col in out.select_dtypes("float").columns:
        out[col] = (out[col].map(lambda v: float(f"{v:.3g}"), na_action="ignore") if "p_" in col
                    else out[col].round(1))
    return out.rename(columns=LABELS)


# ----------------------------------------------------------------- formulas on counts


def nps_from_counts(promoters: float, passives: float, detractors: float) -> float:
    """NPS = 100 × (promoters − detractors) / (promoters + passives + detractors); NaN when n = 0.

    Worked example: 5 promoters, 2 passives, 3 detractors → 100 × (5 − 3) / 10 = 20.0.
    >>> nps_from_counts(5, 2, 3)
    20.0
    """
    n = promoters + passives + detractors
    return math.nan if n <= 0 else 100.0 * (promoters - detractors) / n


def nps_margin_of_error(promoters: float, passives: float, detractors: float, z: float = Z95) -> float:
    """± points of the NPS at 95%: z × 100 × √((p_P + p_D − (p_P − p_D)²) / n).

    NaN when n < 2 (see the module docstring); 0.0 when every response is in one category.
    Worked example: 5/2/3 → p_P = 0.5, p_D = 0.3, var = 0.8 − 0.04 = 0.76,
    √(0.76/10) = 0.275681, × 100 × 1.959964 = 54.03.
    >>> round(nps_margin_of_error(5, 2, 3), 2)
    54.03
    """
    n = promoters + passives + detractors
    if n < 2:
        return math.nan
    p_p, p_d = promoters / n, detractors / n
    var = max(0.0, p_p + p_d - (p_p - p_d) ** 2)
    return z * 100.0 * math.sqrt(var / n)


WORST_VAR = 1.0  # half promoters, half detractors: the widest an NPS can spread


def indicator_variance(promoters: float, passives: float, detractors: float) -> float:
    """var(x) of the +1/0/−1 indicator: p_P + p_D − (p_P − p_D)²; NaN when n = 0.

    >>> indicator_variance(5, 2, 3)
    0.76
    """
    n = promoters + passives + detractors
    if n <= 0:
        return math.nan
    p_p, p_d = promoters / n, detractors / n
    return round(max(0.0, p_p + p_d - (p_p - p_d) ** 2), 12)


def margin_at(n: float, var: float, z: float = Z95) -> float:
    """± points at 95% for n responses with indicator variance var: z × 100 × √(var / n).

    At 30 responses: var 0.6 → 195.9964 × √0.02 = 27.72; the worst mix (var 1) → 35.78.
    >>> round(margin_at(30, 0.6), 2), round(margin_at(30, WORST_VAR), 2)
    (27.72, 35.78)
    """
    return math.nan if n <= 0 else z * 100.0 * math.sqrt(var / n)


def responses_for_margin(margin: float, var: float, z: float = Z95) -> int:
    """Fewest responses for a 95% margin of ±`margin` points: n = ⌈(z × 100 / margin)² × var⌉.

    ±15 points: (195.9964 / 15)² = 170.73 × var → 103 responses at var 0.6, 171 at the worst mix.
    >>> responses_for_margin(15, 0.6), responses_for_margin(15, WORST_VAR)
    (103, 171)
    """
    return max(1, math.ceil((z * 100.0 / margin) ** 2 * var - 1e-9))


def sample_size_text(promoters: int, passives: int, detractors: int, min_responses: int,
                     target: float = 15.0) -> str:
    """One sentence on how many responses an NPS needs, from the margin formula: the margin at
    `min_responses` and the responses a ±`target` margin needs, at this mix and at the worst mix."""
    var = indicator_variance(promoters, passives, detractors)
    worst = (f"±{margin_at(min_responses, WORST_VAR):.0f} at worst (half promoters, half detractors)")
    if math.isnan(var) or var == 0 or promoters + passives + detractors < 2:
        return (f"At {min_responses:,} responses the margin of error is up to {worst}; "
                f"±{target:g} points needs up to {responses_for_margin(target, WORST_VAR):,} responses.")
    return (f"At {min_responses:,} responses the margin of error is ±{margin_at(min_responses, var):.0f} points "
            f"with this mix of answers, {worst}; ±{target:g} points needs "
            f"{responses_for_margin(target, var):,} responses with this mix, "
            f"{responses_for_margin(target, WORST_VAR):,} at worst.")


def nps_reading(nps: float, healthy: float, good: float) -> str:
    """'good' above `good`, 'healthy' above `healthy`, else 'not healthy' (an NPS of exactly 0 is
    not above 0).

    >>> nps_reading(21.2, 0, 20), nps_reading(20, 0, 20), nps_reading(0, 0, 20)
    ('good (above 20)', 'healthy (above 0), not yet good (above 20)', 'not healthy (0 or below)')
    """
    if nps is None or math.isnan(nps):
        return "no valid responses"
    if nps > good:
        return f"good (above {good:g})"
    if nps > healthy:
        return f"healthy (above {healthy:g}), not yet good (above {good:g})"
    return f"not healthy ({healthy:g} or below)"


def category(score: int) -> str:
    """'Promoter' (9–10), 'Passive' (7–8), 'Detractor' (0–6) for a valid score.

    >>> category(9), category(7), category(6)
    ('Promoter', 'Passive', 'Detractor')
    """
    if not 0 <= score <= 10:
        raise ValueError(f"score {score} is outside 0–10")
    return "Promoter" if score >= 9 else "Passive" if score >= 7 else "Detractor"


@dataclass
class ManualNps:
    """NPS typed or pasted by hand (workshop mode)."""

    promoters: int
    passives: int
    detractors: int
    invalid: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def nps(self) -> float:
        return nps_from_counts(self.promoters, self.passives, self.detractors)

    @property
    def moe(self) -> float:
        return nps_margin_of_error(self.promoters, self.passives, self.detractors)


def parse_pasted_scores(text: str) -> ManualNps:
    """Count pasted scores. Values are separated by spaces, new lines, tabs, commas or semicolons
    (so a decimal must be written with a dot: "6.5"). Whole numbers 0–10 count; anything else is
    left out and counted as text, decimal or outside 0–10.

    >>> m = parse_pasted_scores("10 9, 8; 6\\nten 6.5 11")
    >>> (m.promoters, m.passives, m.detractors, m.invalid)
    (2, 1, 1, {'text': 1, 'decimal': 1, 'outside 0–10': 1})
    """
    promoters = passives = detractors = 0
    invalid = {"text": 0, "decimal": 0, "outside 0–10": 0}
    examples: list[str] = []
    for token in re.split(r"[\s,;]+", text or ""):
        if not token:
            continue
        try:
            value = float(token)
        except ValueError:
            reason = "text"
        else:
            if math.isnan(value) or value != math.floor(value):
                reason = "decimal"
            elif not 0 <= value <= 10:
                reason = "outside 0–10"
            else:
                kind = category(int(value))
                promoters += kind == "Promoter"
                passives += kind == "Passive"
                detractors += kind == "Detractor"
                continue
        invalid[reason] += 1
        if len(examples) < 5:
            examples.append(token)
    return ManualNps(promoters, passives, detractors, {k: v for k, v in invalid.items() if v}, examples)


# ----------------------------------------------------------------- SQL building blocks

def _counts(score: str = "score") -> str:
    return f"""count(*) FILTER (WHERE {score} BETWEEN 0 AND 10) AS n,
        count(*) FILTER (WHERE {score} BETWEEN 9 AND 10) AS promoters,
        count(*) FILTER (WHERE {score} BETWEEN 7 AND 8) AS passives,
        count(*) FILTER (WHERE {score} BETWEEN 0 AND 6) AS detractors,
        count(*) FILTER (WHERE {score} IS NULL) AS missing,
        count(*) FILTER (WHERE {score} < 0 OR {score} > 10) AS out_of_range"""


def _var(p: str = "promoters", d: str = "detractors", n: str = "n") -> str:
    """var(x) of the ±1/0 indicator from counts, as SQL (NULL when n = 0)."""
    return (f"greatest(0.0, ({p} + {d}) / nullif({n}, 0)::DOUBLE "
            f"- power(({p} - {d}) / nullif({n}, 0)::DOUBLE, 2))")


def _nps(p: str = "promoters", d: str = "detractors", n: str = "n") -> str:
    return f"100.0 * ({p} - {d}) / nullif({n}, 0)"


def _moe(p: str = "promoters", d: str = "detractors", n: str = "n") -> str:
    """z × 100 × √(var/n) with z bound as the next `?`; NULL when n < 2."""
    return f"CASE WHEN {n} >= 2 THEN ? * 100.0 * sqrt({_var(p, d, n)} / {n}) END"


def _with_stats(counts_sql: str, order: str) -> str:
    return f"""WITH counts AS (
    {counts_sql}
)
SELECT *,
    100.0 * promoters / nullif(n, 0) AS pct_promoters,
    100.0 * passives / nullif(n, 0) AS pct_passives,
    100.0 * detractors / nullif(n, 0) AS pct_detractors,
    {_nps()} AS nps,
    {_moe()} AS moe
FROM counts
ORDER BY {order}"""


def _add_band(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in ["n", "promoters", "passives", "detractors", "missing", "out_of_range"]:
        if col in frame:
            frame[col] = frame[col].fillna(0).astype("int64")
    for col in ["pct_promoters", "pct_passives", "pct_detractors", "nps", "moe"]:
        if col in frame:
            frame[col] = frame[col].astype(float)
    frame["low"] = (frame["nps"] - frame["moe"]).clip(lower=-100)
    frame["high"] = (frame["nps"] + frame["moe"]).clip(upper=100)
    return frame


def _has(con, table: str, column: str) -> bool:
    return column in {name for name, _ in table_columns(con, table)}


def _unanswered(con, table: str) -> str:
    """SQL: TRUE for an invitation nobody answered — a row with a survey-sent date but no score (and
    no response date when the file has one). FALSE when the file has no sent date: every row is then
    a response, and a blank score is a blank score."""
    if not _has(con, table, "sent_date"):
        return "FALSE"
    dated = " AND response_date IS NULL" if _has(con, table, "response_date") else ""
    return f"(score IS NULL AND sent_date IS NOT NULL{dated})"


def _require(con, table: str, column: str, what: str) -> None:
    if not _has(con, table, column):
        raise BoundaryError(f"The NPS responses have no {what} column. Pick it under “Columns” to see this.")


# ----------------------------------------------------------------- metrics

def nps_summary(con, table: str, unreadable: int = 0) -> MetricResult:
    """Headline NPS over all valid responses: n, promoters/passives/detractors (counts and % of n),
    NPS (points), MoE (± points, 95%), low/high (NPS ∓ MoE clipped to ±100).

    Numerator: promoters − detractors; denominator: valid responses n (scores 0–10).
    `unreadable` is the upload's count of score cells that were not whole numbers
    (`dataset.bad_values['score'].count`); they are NULL in the table, so the table's NULL count
    minus `unreadable` (and minus invitations nobody answered, when the file has a sent date) is the
    number of blank cells. Excluded: not answered, blank, not a whole number, outside 0–10.
    """
    t = quote_ident(table)
    sql = _with_stats(f"SELECT {_counts()}\n    FROM {t}", "n")
    frame = _add_band(con.execute(sql, [Z95]).df())
    row = frame.iloc[0]
    unreadable = min(int(unreadable), int(row["missing"]))
    unanswered = con.execute(f"SELECT count(*) FILTER (WHERE {_unanswered(con, table)}) FROM {t}").fetchall()[0][0]
    excluded = {EXCLUDED_UNANSWERED: int(unanswered), EXCLUDED_BLANK: int(row["missing"]) - unreadable - unanswered,
                EXCLUDED_TEXT: unreadable, EXCLUDED_RANGE: int(row["out_of_range"])}
    return MetricResult(frame, sql, [Z95], {k: v for k, v in excluded.items() if v})


def nps_by_period(con, table: str, grain: str = "month", baseline_periods: int = 8,
                  alpha: float = 0.05, min_responses: int = 30) -> MetricResult:
    """NPS per period with its 95% band and a dip test against the trailing baseline.

    Per period (start of week/month/… of `response_date`, in UTC): n, promoters, passives,
    detractors, nps, moe, low, high (SQL); then the dip test of `dip_tests` (baseline_n,
    baseline_nps, z, p_value, p_adjusted, tested, dip, severity, reading). Also label and
    incomplete (data ends before the period does). Excluded: response date blank, score
    blank/unreadable, score outside 0–10.
    """
    _require(con, table, "response_date", "response date")
    t = quote_ident(table)
    period = period_sql(quote_ident("response_date"), grain)
    sql = _with_stats(f"""SELECT {period} AS period, {_counts()}
    FROM {t}
    WHERE response_date IS NOT NULL
    GROUP BY ALL""", "period")
    params = [Z95]
    frame = con.execute(sql, params).df()
    no_date, unanswered = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT {_unanswered(con, table)}), count(*) FILTER (WHERE {_unanswered(con, table)}) "
        f"FROM {t} WHERE response_date IS NULL").fetchall()[0]
    if frame.empty:
        frame = frame.assign(low=[], high=[], label=[], incomplete=[], **{c: [] for c in DIP_COLUMNS})
        excluded = {EXCLUDED_NO_DATE: int(no_date), EXCLUDED_UNANSWERED: int(unanswered)}
        return MetricResult(frame, sql, params, {k: v for k, v in excluded.items() if v})
    frame = _add_band(frame)
    frame["period"] = pd.to_datetime(frame["period"])
    frame = pd.concat([frame, dip_tests(frame, baseline_periods, alpha, min_responses)], axis=1)
    data_end = con.execute(f"SELECT max(response_date) FROM {t}").fetchall()[0][0]
    frame["label"] = [period_label(p, grain) for p in frame["period"]]
    frame["incomplete"] = [is_incomplete(p, grain, data_end) for p in frame["period"]]
    excluded = {EXCLUDED_UNANSWERED: int(unanswered), EXCLUDED_NO_DATE: int(no_date),
                EXCLUDED_MISSING: int(frame["missing"].sum()),
                EXCLUDED_RANGE: int(frame["out_of_range"].sum())}
    return MetricResult(frame, sql, params, {k: v for k, v in excluded.items() if v})


DIP_COLUMNS = ("baseline_n", "baseline_nps", "z", "p_value", "p_adjusted", "tested", "pair_nps", "pair_z",
               "pair_p_value", "pair_p_adjusted", "dip", "severity", "reading")
READ_SMALL = "Too few responses to test"
READ_NO_BASELINE = "Too few earlier responses to compare"
READ_DIP = "Dip beyond the noise"
READ_DIP_PAIR = "Dip beyond the noise with a neighbouring period (the two together)"
READ_NOISE = "Within the noise"


def mix_p_value(promoters: int, passives: int, detractors: int,
                base_promoters: int, base_passives: int, base_detractors: int) -> tuple[float, float]:
    """(z, one-sided p) that answers drawn from the baseline mix give an NPS this low or lower.

    p is the larger of lib.stats.nps_dip_test's exact trinomial tail (the period's answers drawn
    from the baseline shares, exact for small n) and its score test Φ(z), whose variance also
    carries the baseline's own uncertainty, σ²₀(1/n + 1/n₀): the larger of the two, so neither a
    small period nor a small baseline is over-read. A baseline of one kind of answer has no spread;
    the period is then held against the period and baseline pooled. The upper tail (a rise) is
    the same call with promoters and detractors swapped.
    """
    base_n = base_promoters + base_passives + base_detractors
    if base_n and max(base_promoters, base_passives, base_detractors) == base_n:
        base_promoters += promoters
        base_passives += passives
        base_detractors += detractors
    test = nps_dip_test(promoters, passives, detractors, base_promoters, base_passives, base_detractors)
    return test.z, max(test.p_value, normal_cdf(test.z))


def dip_tests(counts: pd.DataFrame, baseline_periods: int = 8, alpha: float = 0.05,
              min_responses: int = 30) -> pd.DataFrame:
    """The dip test of each period (rows in time order with n, promoters, passives, detractors).

    - Baseline: promoters, passives and detractors pooled over up to `baseline_periods` earlier
      periods of at least `min_responses` answers (smaller periods between them add their answers
      without using up the length), leaving out earlier periods flagged as dips, so the second
      month of a two-month dip is not held against the first (the flags are worked out again
      without the flagged periods until they no longer change). baseline_nps = 100 × (P_b − D_b) / n_b.
    - Tested only when the period has at least `min_responses` answers and its baseline at least
      as many as the period (reading says why not otherwise): two answers, both detractors, are
      not a dip, and a baseline smaller than the period would mostly test the baseline's own
      noise — every later period would be held against the same few answers.
    - z and p_value (one-sided, "this low or lower by chance"): `mix_p_value`.
    - A dip that lasts: pair_nps, pair_z, pair_p_value test this period and the one before it
      (with responses) pooled against the earlier period's baseline — two months of 100 answers
      30 points down are z ≈ −4.5 together, −3.2 apart. A pair counts only when neither period is
      a dip alone and both are below their baseline.
    - Many periods, many chances: p_adjusted and pair_p_adjusted are Benjamini–Hochberg over every
      single and pair test; a period is a dip when its own test or a pair it belongs to has an
      adjusted p < α/2 (the lower tail of a two-sided test at α). Severity "high" when that test's
      Bonferroni-adjusted p (p × tests) is below α/20 — ten times the evidence a flag needs, after
      counting every test (a lone flag's BH and Bonferroni p are the same) —, "medium" otherwise.
    """
    flagged: set[int] = set()
    for _ in range(len(counts) + 1):  # flags only grow, so this ends
        out = _dip_pass(counts, baseline_periods, alpha, min_responses, flagged)
        now = flagged | {i for i, d in enumerate(out["dip"]) if d}
        if now == flagged:
            break
        flagged = now
    return out


def dip_episodes(periods: pd.DataFrame) -> list[pd.DataFrame]:
    """Runs of neighbouring dipped periods (rows of a `dip_tests` frame, in time order): one dip,
    however many periods it lasts, is one flag."""
    runs, current = [], []
    for position, dipped in enumerate(periods["dip"].tolist()):
        if dipped:
            current.append(position)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [periods.iloc[run] for run in runs]


def _last_periods(history: list[int], cells, periods: int, min_responses: int) -> list[int]:
    """The latest `periods` positions of `history` with at least `min_responses` answers, and the
    smaller periods between them (they add their answers without using up the baseline's length)."""
    if periods < 1:
        return []
    big = [i for i in history if cells[i][0] >= min_responses][-periods:]
    return [i for i in history if i >= big[0]] if big else history[-periods:]


def _dip_pass(counts: pd.DataFrame, baseline_periods: int, alpha: float, min_responses: int,
              left_out: set[int]) -> pd.DataFrame:
    rows, bases = [], []
    history: list[int] = []  # positions of earlier periods usable as baseline
    cells = counts[["n", "promoters", "passives", "detractors"]].astype("int64").to_numpy()
    for i, (n, p, pa, d) in enumerate(cells):
        window = cells[_last_periods(history, cells, int(baseline_periods), min_responses)]
        bn, bp, bpa, bd = (int(v) for v in window.sum(axis=0))
        bases.append((bn, bp, bpa, bd))
        row = {"baseline_n": bn, "baseline_nps": nps_from_counts(bp, bpa, bd), "z": math.nan,
               "p_value": math.nan, "tested": False, "pair_nps": math.nan, "pair_z": math.nan,
               "pair_p_value": math.nan,
               "reading": READ_SMALL if n < min_responses else READ_NO_BASELINE if bn < max(min_responses, n) else ""}
        if not row["reading"]:
            row["z"], row["p_value"] = mix_p_value(p, pa, d, bp, bpa, bd)
            row["tested"] = True
        both = n + cells[i - 1][0] if i else 0
        if i and n and cells[i - 1][0] and both >= min_responses and bases[i - 1][0] >= both:
            _, qp, qpa, qd = cells[i - 1] + cells[i]
            row["pair_nps"] = nps_from_counts(qp, qpa, qd)
            row["pair_z"], row["pair_p_value"] = mix_p_value(qp, qpa, qd, *bases[i - 1][1:])
        rows.append(row)
        if n > 0 and i not in left_out:
            history.append(i)
    out = pd.DataFrame(rows, index=counts.index)
    out["baseline_n"] = out["baseline_n"].astype("int64")
    out["tested"] = out["tested"].astype(bool)
    family = pd.concat([out["p_value"], out["pair_p_value"]], ignore_index=True)
    bh, bonf = adjust_p_values(family, "fdr_bh"), adjust_p_values(family, "bonferroni")
    k = len(out)
    out["p_adjusted"], out["pair_p_adjusted"] = bh[:k], bh[k:]
    own, pair = out["p_adjusted"].lt(alpha / 2), out["pair_p_adjusted"].lt(alpha / 2)  # NaN compares False
    # a pair speaks for a dip neither period shows alone, and only when both are below their baseline:
    # one deep month must not drag its neighbour into the flag
    nps = pd.Series([nps_from_counts(p, pa, d) for _, p, pa, d in cells], index=out.index)
    lower = nps < out["baseline_nps"]
    pair = pair & ~own & ~own.shift(1, fill_value=False) & lower & lower.shift(1, fill_value=False)
    with_next = pair.shift(-1, fill_value=False)
    out["dip"] = own | pair | with_next
    strongest = [min([b for b, hit in ((bonf[i], own.iloc[i]), (bonf[k + i], pair.iloc[i]),
                                       (bonf[k + i + 1] if i + 1 < k else math.nan, with_next.iloc[i])) if hit],
                     default=math.nan) for i in range(k)]
    out["severity"] = ["" if not d else "high" if s < alpha / 20 else "medium" for d, s in zip(out["dip"], strongest)]
    out["reading"] = [rd or (READ_DIP if o else READ_DIP_PAIR if pr or nx else READ_NOISE)
                      for rd, o, pr, nx in zip(out["reading"], own, pair, with_next)]
    return out[list(DIP_COLUMNS)]


def segment_columns(con, dataset: Dataset, min_group: int = 30) -> list[segments.SegmentColumn]:
    """The file's other columns usable as segments (lib.segments.segment_columns): any text column
    that is not an identifier, however many values it has, and number or date columns with a few."""
    if not dataset.ready:
        return []
    return segments.segment_columns(con, dataset.table, dataset.extra_columns, min_group)


def other_score_columns(con, dataset: Dataset) -> list[str]:
    """File columns besides the mapped score that also look like 0–10 answers (≥ 90% of their
    non-blank cells whole numbers 0–10), e.g. a second rating question — the user may switch."""
    if not dataset.ready:
        return []
    found = []
    t = quote_ident(dataset.table)
    for column, label in dataset.extra_columns.items():
        c = quote_ident(column)
        ok, filled = con.execute(
            f"SELECT count(*) FILTER (WHERE TRY_CAST(CAST({c} AS VARCHAR) AS DOUBLE) IN "
            f"(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)), count({c}) FROM {t}").fetchall()[0]
        if filled and ok >= 0.9 * filled and ok >= 1:
            found.append(label)
    return found


def nps_by_segment(con, table: str, column: str, min_group: int = 30, alpha: float = 0.05) -> MetricResult:
    """NPS per value of a segment column, every group (blank values are their own group "(blank)",
    so groups add up to the total): n, promoters/passives/detractors and their % of n, nps, moe,
    low, high (SQL); then `segment_tests` (too_small, rest_n, rest_nps, z, p_value, p_adjusted,
    tested, differs, severity). Largest groups first. `top_segments` keeps the largest for display.
    """
    _require(con, table, column, column)
    t = quote_ident(table)
    sql = _with_stats(f"""SELECT {segments.group_sql(quote_ident(column))} AS segment, {_counts()}
    FROM {t}
    WHERE NOT {_unanswered(con, table)}
    GROUP BY ALL""", "n DESC, segment")
    params = [Z95]
    frame = _add_band(con.execute(sql, params).df())
    frame = pd.concat([frame, segment_tests(frame, min_group, alpha)], axis=1)
    excluded = {EXCLUDED_MISSING: int(frame["missing"].sum()), EXCLUDED_RANGE: int(frame["out_of_range"].sum())}
    return MetricResult(frame, sql, params, {k: v for k, v in excluded.items() if v})


SEGMENT_TEST_COLUMNS = ("too_small", "rest_n", "rest_nps", "z", "p_value", "p_adjusted", "tested", "differs",
                        "severity")


def segment_tests(groups: pd.DataFrame, min_group: int = 30, alpha: float = 0.05) -> pd.DataFrame:
    """Each group (rows with n, promoters, passives, detractors) against all other valid responses.

    - rest = the column's totals minus the group; rest_nps = 100 × (P_r − D_r) / n_r.
    - Tested when the group and the rest both have at least `min_group` answers; too_small marks a
      group under `min_group` (shown, not read).
    - z and the two-sided p: the group's answers drawn from the rest's mix, `mix_p_value` each way
      (lower tail; upper tail with promoters and detractors swapped), p = min(1, 2 × the smaller).
    - Many groups, many chances: p_adjusted is Benjamini–Hochberg over the tested groups;
      differs when p_adjusted < α; severity "high" when the Bonferroni-adjusted p is below α/10,
      "medium" otherwise (`area_flags` adjusts again over every segment column it tests).
    """
    totals = groups[["promoters", "passives", "detractors"]].sum()
    rows = []
    for r in groups[["n", "promoters", "passives", "detractors"]].astype("int64").itertuples(index=False):
        rp, rpa, rd = (int(totals[c]) - int(getattr(r, c)) for c in ("promoters", "passives", "detractors"))
        rn = rp + rpa + rd
        row = {"too_small": r.n < min_group, "rest_n": rn, "rest_nps": nps_from_counts(rp, rpa, rd),
               "z": math.nan, "p_value": math.nan, "tested": r.n >= min_group and rn >= min_group}
        if row["tested"]:
            row["z"], low = mix_p_value(r.promoters, r.passives, r.detractors, rp, rpa, rd)
            high = mix_p_value(r.detractors, r.passives, r.promoters, rd, rpa, rp)[1]
            row["p_value"] = min(1.0, 2 * min(low, high))
        rows.append(row)
    out = pd.DataFrame(rows, index=groups.index, columns=["too_small", "rest_n", "rest_nps", "z", "p_value", "tested"])
    out = out.astype({"too_small": bool, "tested": bool, "rest_n": "int64"})
    out["p_adjusted"] = adjust_p_values(out["p_value"], "fdr_bh")
    strict = adjust_p_values(out["p_value"], "bonferroni")
    out["differs"] = out["p_adjusted"].lt(alpha)
    out["severity"] = ["" if not d else "high" if s < alpha / 10 else "medium" for d, s in zip(out["differs"], strict)]
    return out[list(SEGMENT_TEST_COLUMNS)]


def top_segments(frame: pd.DataFrame, max_groups: int = 20, search: str = "") -> pd.DataFrame:
    """The largest groups of an `nps_by_segment` frame and one "Other (k groups)" row for the rest
    (lib.segments.top_groups), with %, NPS and margin worked out again from the counts so the
    Other row reads like the others. The Other row is a mix of groups: it is not tested."""
    counts = ["n", "promoters", "passives", "detractors", "missing", "out_of_range"]
    out = segments.top_groups(frame, "segment", counts, max_groups, search)
    for share, col in (("pct_promoters", "promoters"), ("pct_passives", "passives"), ("pct_detractors", "detractors")):
        out[share] = [100.0 * v / n if n else math.nan for v, n in zip(out[col], out["n"])]
    out["nps"] = [nps_from_counts(p, pa, d) for p, pa, d in zip(out["promoters"], out["passives"], out["detractors"])]
    out["moe"] = [nps_margin_of_error(p, pa, d) for p, pa, d in zip(out["promoters"], out["passives"], out["detractors"])]
    out = _add_band(out)
    for flag in ("too_small", "tested", "differs"):
        out[flag] = out[flag].fillna(False).astype(bool)
    return out


def score_distribution(con, table: str) -> MetricResult:
    """Responses per score 0–10 (every score listed, zero when nobody gave it), with share
    (% of valid responses) and category. Excluded: blank/unreadable and outside 0–10."""
    t = quote_ident(table)
    sql = f"""WITH scores(score) AS (VALUES {', '.join(f'({s})' for s in range(11))}),
counted AS (
    SELECT score, count(*) AS responses FROM {t} WHERE score BETWEEN 0 AND 10 GROUP BY score
)
SELECT s.score, coalesce(c.responses, 0) AS responses,
    100 * CAST(coalesce(c.responses, 0) AS DOUBLE) / nullif(sum(coalesce(c.responses, 0)) OVER (), 0) AS share,
    CASE WHEN s.score >= 9 THEN 'Promoter' WHEN s.score >= 7 THEN 'Passive' ELSE 'Detractor' END AS category
FROM scores s LEFT JOIN counted c USING (score)
ORDER BY s.score"""
    frame = con.execute(sql).df()
    frame["score"] = frame["score"].astype("int64")
    frame["responses"] = frame["responses"].astype("int64")
    missing, out = con.execute(
        f"SELECT count(*) FILTER (WHERE score IS NULL AND NOT {_unanswered(con, table)}), "
        "count(*) FILTER (WHERE score < 0 OR score > 10) "
        f"FROM {t}").fetchall()[0]
    excluded = {EXCLUDED_MISSING: int(missing), EXCLUDED_RANGE: int(out)}
    return MetricResult(frame, sql, [], {k: v for k, v in excluded.items() if v})


def comments(con, table: str) -> MetricResult:
    """Non-blank comments of valid responses with score, category, VADER sentiment (compound
    −1..+1, label positive/neutral/negative) and about_marketing (a complaint about marketing; see
    lib/text.py). Newest first when dated.
    Excluded: comments of responses without a valid score."""
    _require(con, table, "comment", "comment")
    t = quote_ident(table)
    dated = _has(con, table, "response_date")
    who = "respondent" if _has(con, table, "respondent") else "CAST(_row AS VARCHAR)"
    sql = f"""SELECT _row, {who} AS respondent, {'response_date' if dated else 'NULL'} AS response_date, score,
    CASE WHEN score >= 9 THEN 'Promoter' WHEN score >= 7 THEN 'Passive' ELSE 'Detractor' END AS category,
    trim(comment) AS comment
FROM {t}
WHERE score BETWEEN 0 AND 10 AND nullif(trim(comment), '') IS NOT NULL
ORDER BY response_date DESC NULLS LAST, _row"""
    frame = con.execute(sql).df()
    unique = list(dict.fromkeys(frame["comment"].tolist()))  # each distinct text is scored once
    scores = sentiment_scores(unique).assign(comment=unique)
    scores["about_marketing"] = [complaint_about_marketing(c) for c in unique]
    scored = scores.set_index("comment")
    frame["sentiment"] = scored["compound"].reindex(frame["comment"]).to_numpy(dtype=float)
    frame["sentiment_label"] = scored["label"].reindex(frame["comment"]).to_numpy(dtype=object)
    frame["about_marketing"] = scored["about_marketing"].reindex(frame["comment"]).to_numpy(dtype=bool)
    invalid = con.execute(
        f"SELECT count(*) FROM {t} WHERE NOT coalesce(score BETWEEN 0 AND 10, false) "
        "AND nullif(trim(comment), '') IS NOT NULL").fetchall()[0][0]
    return MetricResult(frame, sql, [], {"comment with no valid score": int(invalid)} if invalid else {})


def sentiment_by_category(comment_frame: pd.DataFrame) -> pd.DataFrame:
    """Per category (Detractor, Passive, Promoter): comments, % negative / neutral / positive
    (of that category's comments) and the mean compound score."""
    rows = []
    for cat in CATEGORIES:
        part = comment_frame[comment_frame["category"] == cat]
        n = len(part)
        share = (lambda lab: 100.0 * (part["sentiment_label"] == lab).sum() / n if n else math.nan)
        rows.append({"category": cat, "comments": n, "pct_negative": share("negative"),
                     "pct_neutral": share("neutral"), "pct_positive": share("positive"),
                     "mean_sentiment": part["sentiment"].mean() if n else math.nan})
    return pd.DataFrame(rows)


def detractor_terms(comment_frame: pd.DataFrame, top: int = 10, min_texts: int = 3) -> pd.DataFrame:
    """Terms that separate detractors' comments (side 'Detractors') from promoters' ('Promoters');
    log odds ratio and z as in lib.text.distinguishing_terms. Passives are not used."""
    frame = distinguishing_terms(comment_frame.loc[comment_frame["category"] == "Detractor", "comment"],
                                 comment_frame.loc[comment_frame["category"] == "Promoter", "comment"],
                                 top=top, min_texts=min_texts)
    frame["side"] = frame["side"].map({"a": "Detractors", "b": "Promoters"})
    return frame.rename(columns={"texts_a": "detractor_comments", "texts_b": "promoter_comments",
                                 "share_a": "share_detractors", "share_b": "share_promoters"})


def _latest_answers_sql(con, table: str, extra: dict[str, str] | None, where: str, score_order: str) -> str:
    """Each respondent's latest valid answer (newest response date, then the last row in the file;
    without a respondent column every valid row) with respondent, score, date, comment and the `extra`
    columns (table column → label), kept where `where` holds (binds ?), sorted by `score_order`, date."""
    has_who, dated = _has(con, table, "respondent"), _has(con, table, "response_date")
    newest = "response_date DESC NULLS LAST, " if dated else ""
    cols = ["respondent" if has_who else "CAST(_row AS VARCHAR) AS respondent", "score"]
    cols += (["response_date"] if dated else []) + (["comment"] if _has(con, table, "comment") else [])
    cols += [f"{quote_ident(c)} AS {quote_ident(label)}" for c, label in (extra or {}).items()]
    latest = f"QUALIFY row_number() OVER (PARTITION BY respondent ORDER BY {newest}_row DESC) = 1" if has_who else ""
    return f"""WITH valid AS (
    SELECT * FROM {quote_ident(table)} WHERE score BETWEEN 0 AND 10 {'AND respondent IS NOT NULL' if has_who else ''}
    {latest}
)
SELECT {', '.join(cols)}
FROM valid
WHERE {where}
ORDER BY {score_order}, {newest}respondent"""


def referral_candidates(con, table: str, min_score: int = 9, extra: dict[str, str] | None = None) -> MetricResult:
    """Respondents whose latest valid score is ≥ `min_score` (0–10), with score, date, comment and
    the file's segment columns (`extra`: table column → file column). Latest = newest response
    date, then the last row in the file; without a respondent column every response counts."""
    if not 0 <= min_score <= 10:
        raise BoundaryError(f"The referral threshold must be a score from 0 to 10, not {min_score}.")
    sql = _latest_answers_sql(con, table, extra, "score >= ?", "score DESC")
    frame = con.execute(sql, [int(min_score)]).df()
    return MetricResult(frame, sql, [int(min_score)])


def campaign_effect(con, table: str, calendar: str, days: int = 14, channels: list[str] | None = None
                    ) -> tuple[MetricResult, MetricResult]:
    """NPS of responses within `days` days after a campaign vs all other dated responses.

    A response is "after a campaign" when start_date ≤ response_date < coalesce(end_date,
    start_date) + `days` days for at least one campaign (of `channels`, all when None).
    Returns (comparison, per_campaign): the comparison has two rows (n, nps, moe, low, high) plus
    the z of their difference (`difference_z`); per_campaign has each campaign's window n, nps
    and moe — campaigns with no response in their window are not listed.
    """
    _require(con, table, "response_date", "response date")
    t, cal = quote_ident(table), quote_ident(calendar)
    has_end = _has(con, calendar, "end_date")
    has_channel = _has(con, calendar, "channel")
    end = "coalesce(c.end_date, c.start_date)" if has_end else "c.start_date"
    chan = "c.channel" if has_channel else "NULL"
    # one bound value per channel (an array parameter does not transpile to Spark); none chosen: no campaign
    where_chan = ("" if channels is None else f" AND {chan} IN ({', '.join('?' for _ in channels)})" if channels
                  else " AND FALSE")
    window = f"""SELECT c.campaign, {chan} AS channel, c.start_date, {end} AS end_date
    FROM {cal} c WHERE c.start_date IS NOT NULL{where_chan}"""
    chan_params = list(channels) if channels is not None else []
    cmp_sql = f"""WITH campaigns AS (
    {window}
), tagged AS (
    SELECT r.score, EXISTS (
        SELECT 1 FROM campaigns c
        WHERE r.response_date >= c.start_date
          AND r.response_date < c.end_date + CAST(? AS INTEGER) * INTERVAL 1 DAY
    ) AS after_campaign
    FROM {t} r WHERE r.response_date IS NOT NULL
), counts AS (
    SELECT CASE WHEN after_campaign THEN 'Within ' || ? || ' days of a campaign' ELSE 'Other days' END AS responses,
        {_counts()}
    FROM tagged GROUP BY ALL
)
SELECT *, {_nps()} AS nps, {_moe()} AS moe, 100.0 * sqrt({_var()} / nullif(n, 0)) AS se
FROM counts ORDER BY responses DESC"""
    cmp_params = [*chan_params, int(days), str(int(days)), Z95]
    comparison = _add_band(con.execute(cmp_sql, cmp_params).df())
    per_sql = f"""WITH campaigns AS (
    {window}
)
SELECT c.campaign, c.channel, CAST(c.start_date AS DATE) AS start_date, CAST(c.end_date AS DATE) AS end_date,
    {_counts('r.score')}
FROM campaigns c JOIN {t} r
  ON r.response_date >= c.start_date AND r.response_date < c.end_date + CAST(? AS INTEGER) * INTERVAL 1 DAY
GROUP BY ALL"""
    per_sql = _with_stats(per_sql, "start_date, campaign")
    per_params = [*chan_params, int(days), Z95]
    per_campaign = _add_band(con.execute(per_sql, per_params).df())
    for column in ("start_date", "end_date"):
        per_campaign[column] = pd.to_datetime(per_campaign[column]).dt.date
    return (MetricResult(comparison, cmp_sql, cmp_params), MetricResult(per_campaign, per_sql, per_params))


def difference_z(frame: pd.DataFrame) -> float:
    """z of the NPS difference between the first two rows of a frame with nps and se columns."""
    if len(frame) < 2:
        return math.nan
    a, b = frame.iloc[0], frame.iloc[1]
    se = math.sqrt(a["se"] ** 2 + b["se"] ** 2) if pd.notna(a["se"]) and pd.notna(b["se"]) else math.nan
    return (a["nps"] - b["nps"]) / se if se and not math.isnan(se) else math.nan


@dataclass(frozen=True)
class DipsAfterCampaigns:
    """How many tested periods, and how many dips, fall in campaign windows (a base rate for
    "dips line up with campaigns")."""

    periods: int
    periods_in_window: int
    dips: int
    dips_in_window: int
    p_value: float  # Fisher's exact test, one-sided: dips more often in windows than other periods

    @property
    def share_periods(self) -> float:
        return self.periods_in_window / self.periods if self.periods else math.nan

    @property
    def share_dips(self) -> float:
        return self.dips_in_window / self.dips if self.dips else math.nan

    def sentence(self, grain: str, days: int, alpha: float) -> str:
        """The base rate in words, for the page."""
        where = f"{self.periods_in_window} of {self.periods} tested {grain}s"
        if not self.dips:
            return f"Dips and campaigns: no dip to compare; {where} fall within {days} days of a campaign."
        verdict = ("every tested period is in some window, so the calendar cannot set dips apart."
                   if self.periods_in_window == self.periods else
                   "dips fall in campaign windows more often than other periods." if self.p_value < alpha else
                   "no more often than other periods do, as far as these periods can tell.")
        return (f"Dips and campaigns: {where} ({self.share_periods:.0%}) fall within {days} days of a campaign; "
                f"of the {self.dips} dip(s), {self.dips_in_window} ({self.share_dips:.0%}). Fisher's exact test, "
                f"one-sided: p = {self.p_value:.2g} — {verdict}")


def dips_after_campaigns(periods: pd.DataFrame, calendar: pd.DataFrame, days: int, grain: str
                         ) -> DipsAfterCampaigns:
    """Share of all tested periods inside a campaign window beside the share of dipped ones.

    A period [start, next start) is inside a window when it overlaps [campaign start, campaign end
    + `days` days) of any campaign (calendar: start_date, end_date as from `campaigns`). Only
    tested periods count (`dip_tests`): an untested period can be neither a dip nor a non-dip.
    p: Fisher's exact test on [[dips in, dips out], [other in, other out]], alternative 'greater'
    (lib.stats.fisher_exact_test) — with 22 of 25 periods in some window, 3 of 3 dips there is no news.
    """
    tested = periods[periods["tested"]] if "tested" in periods else periods
    starts = pd.to_datetime(tested["period"])
    ends = [period_end(s, grain) for s in starts]
    cal = calendar.dropna(subset=["start_date"])
    c_start = pd.to_datetime(cal["start_date"])
    c_end = pd.to_datetime(cal["end_date"].fillna(cal["start_date"])) + pd.Timedelta(days=int(days))
    inside = [bool(((c_start < e) & (c_end > s)).any()) for s, e in zip(starts, ends)]
    dip = tested["dip"].astype(bool).tolist()
    a = sum(i and d for i, d in zip(inside, dip))
    b = sum(d and not i for i, d in zip(inside, dip))
    c = sum(i and not d for i, d in zip(inside, dip))
    d_ = len(dip) - a - b - c
    p = fisher_exact_test(a, b, c, d_, alternative="greater") if a + b else math.nan
    return DipsAfterCampaigns(len(dip), sum(inside), a + b, a, p)


def campaigns(con, calendar: str, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
              ) -> pd.DataFrame:
    """The campaign calendar as campaign, channel, start_date, end_date (end = start when blank),
    limited to campaigns that overlap [start, end) when given."""
    cal = quote_ident(calendar)
    last = "coalesce(end_date, start_date)" if _has(con, calendar, "end_date") else "start_date"
    chan = "channel" if _has(con, calendar, "channel") else "NULL"
    sql = f"""SELECT campaign, coalesce({chan}, '(blank)') AS channel, start_date, {last} AS end_date
FROM {cal}
WHERE start_date IS NOT NULL AND (? IS NULL OR {last} >= ?) AND (? IS NULL OR start_date < ?)
ORDER BY start_date, campaign"""
    lo = None if start is None else pd.Timestamp(start).to_pydatetime()
    hi = None if end is None else pd.Timestamp(end).to_pydatetime()
    return con.execute(sql, [lo, lo, hi, hi]).df()


# ----------------------------------------------------------------- flags and tables

def area_flags(ws) -> list[Flag]:
    """NPS red flags: overall NPS at or below `nps_healthy_min`; monthly dips beyond the noise against the
    trailing baseline; segments (n ≥ `min_group_size`) whose NPS is below the healthy line and
    significantly below the rest."""
    dataset = ws.get("nps_responses")
    if dataset is None:
        return []
    con, th = ws.con.cursor(), ws.thresholds  # a cursor: the page's own run may still use ws.con
    flags: list[Flag] = []
    bad = dataset.bad_values.get("score")
    summary = nps_summary(con, dataset.table, bad.count if bad else 0).frame.iloc[0]
    n, healthy = int(summary["n"]), th["nps_healthy_min"]
    if n and summary["nps"] <= healthy:  # healthy is *above* the line: 0 is not healthy
        # high only when the whole 95% interval is at or below the line; under the minimum sample, low
        severity = ("low" if n < th["nps_min_responses"] else "high" if summary["high"] <= healthy
                    else "medium")
        flags.append(Flag("nps", "NPS", "All responses", float(summary["nps"]), healthy,
                          f"threshold (healthy above {healthy:g}), n={n:,}, ±{summary['moe']:.1f} pts",
                          severity, questions_for("nps", "NPS"), unit="points"))
    if "response_date" in dataset.mapping:
        alpha = th["baseline_alpha"]
        periods = nps_by_period(con, dataset.table, "month", int(th["baseline_periods"]), alpha,
                                int(th["nps_min_responses"])).frame
        tests = int(periods["tested"].sum() + periods["pair_p_value"].notna().sum())
        for run in dip_episodes(periods):
            first, last = run.iloc[0], run.iloc[-1]
            subject = first["label"] if len(run) == 1 else f"{first['label']} – {last['label']}"
            strongest = run.loc[run[["p_adjusted", "pair_p_adjusted"]].min(axis=1).idxmin()]
            pair = pd.notna(strongest["pair_p_adjusted"]) and not strongest["p_adjusted"] <= strongest["pair_p_adjusted"]
            p_raw = strongest["pair_p_value"] if pair else strongest["p_value"]
            p_adj = strongest["pair_p_adjusted"] if pair else strongest["p_adjusted"]
            answers = int(run["n"].sum())
            flags.append(Flag(
                "nps", "NPS dip", subject, nps_from_counts(run["promoters"].sum(), run["passives"].sum(),
                                                           run["detractors"].sum()),
                float(first["baseline_nps"]),
                f"{'two months together' if pair else 'exact/score test'} vs trailing baseline, "
                f"p={p_raw:.2g} one-sided (BH-adjusted {p_adj:.2g} over {tests} tests), "
                f"n={answers:,} vs {int(first['baseline_n']):,}",
                "high" if (run["severity"] == "high").any() else "medium", questions_for("nps", "NPS dip"),
                period=first["period"], unit="points", period_end=period_end(last["period"], "month")))
    flags += segment_flags(con, dataset, th)
    if "response_date" in dataset.mapping:
        other = next((ws.get(k) for k in OUTCOME_KINDS if ws.get(k) is not None), None)
        if other is not None and other.ready:
            flags += leave_flags(con, dataset, other, th)
    return flags


def segment_flags(con, dataset: Dataset, th) -> list[Flag]:
    """Groups whose NPS is at or below the healthy line and below the rest beyond the noise, over
    every segment column at once: the two-sided p of each tested group (`segment_tests`, groups of
    at least `min_group_size`) is Benjamini–Hochberg adjusted over all groups of all columns (a
    file with a hundred companies is a hundred tests); flagged when the adjusted p < α, "high" when
    the Bonferroni-adjusted p is below α/10."""
    alpha, min_group, healthy = th["baseline_alpha"], int(th["min_group_size"]), th["nps_healthy_min"]
    parts = []
    for col in segment_columns(con, dataset, min_group):
        seg = nps_by_segment(con, dataset.table, col.column, min_group, alpha).frame
        parts.append(seg[seg["tested"]].assign(column_label=col.label))
    if not parts:
        return []
    tested = pd.concat(parts, ignore_index=True)
    tested["p_all"] = adjust_p_values(tested["p_value"], "fdr_bh")
    strict = adjust_p_values(tested["p_value"], "bonferroni")
    tested["severity"] = ["high" if s < alpha / 10 else "medium" for s in strict]
    hit = tested[(tested["p_all"] < alpha) & (tested["z"] < 0) & (tested["nps"] <= healthy)]
    return [Flag("nps", "NPS by segment", f"{row.column_label} = {row.segment}", float(row.nps), float(row.rest_nps),
                 f"exact/score test vs other respondents, p={row.p_value:.2g} two-sided (BH-adjusted "
                 f"{row.p_all:.2g} over {len(tested)} groups), n={row.n:,} vs {row.rest_n:,}",
                 row.severity, questions_for("nps", "NPS by segment"), unit="points")
            for row in hit.itertuples()]


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """Main NPS tables for the Excel export."""
    dataset = ws.get("nps_responses")
    if dataset is None:
        return {}
    con, th = ws.con.cursor(), ws.thresholds  # a cursor: the page's own run may still use ws.con
    bad = dataset.bad_values.get("score")
    tables = {"NPS summary": nps_summary(con, dataset.table, bad.count if bad else 0).frame,
              "NPS score distribution": score_distribution(con, dataset.table).frame}
    if "response_date" in dataset.mapping:
        tables["NPS by month"] = nps_by_period(con, dataset.table, "month", int(th["baseline_periods"]),
                                               th["baseline_alpha"], int(th["nps_min_responses"])).frame
    found = segment_columns(con, dataset, int(th["min_group_size"]))
    first = segments.default_segment(found)
    for col in found:  # every group; columns of many small groups (names, emails) only when offered first
        if col.levels <= segments.MAX_LEVELS or col.readable_rows or col is first:
            tables[f"NPS by {col.label}"[:31]] = nps_by_segment(con, dataset.table, col.column,
                                                                int(th["min_group_size"]), th["baseline_alpha"]).frame
    tables["NPS referral candidates"] = referral_candidates(
        con, dataset.table, int(th["nps_referral_min_score"]), {c.column: c.label for c in found}).frame
    tables["NPS detractors to call back"] = follow_up_list(con, dataset.table, 0, 6,
                                                           {c.column: c.label for c in found}).frame
    tables["NPS promoters to thank"] = follow_up_list(con, dataset.table, 9, 10, {c.column: c.label for c in found}).frame
    if response_rate_reason(con, dataset.table) is None:
        tables["NPS response rate by month"] = response_rate_by_period(con, dataset.table, "month").frame
    other = next((ws.get(k) for k in OUTCOME_KINDS if ws.get(k) is not None), None)
    if other is not None and "response_date" in dataset.mapping:
        try:
            keys = outcome_join_keys(con, dataset, other)
            if not keys.empty and keys.iloc[0]["matched"]:
                ctes, params, as_of = outcome_moves(con, other)
                tables["NPS outcomes after answering"] = outcomes_after_answer(
                    con, dataset.table, keys.iloc[0]["nps_column"], ctes, params, other.table,
                    keys.iloc[0]["other_column"], int(th["nps_outcome_window_days"]), as_of).frame
        except BoundaryError:
            pass  # the page says why; the workbook simply has no such sheet
    return tables


# ----------------------------------------------------------------- follow-up lists (issue #22)

def follow_up_list(con, table: str, low: int, high: int, extra: dict[str, str] | None = None) -> MetricResult:
    """Respondents whose latest valid score is from `low` to `high` (0–10) — every one of them,
    with or without a comment: score, response date, comment and the file's segment columns
    (`extra`: table column → file column). Latest = newest response date, then the last row in the
    file; without a respondent column each response is its own row. Detractors: 0–6; promoters: 9–10.
    Excluded: responses with no valid score (the count of `nps_summary`) and, when a respondent
    answered more than once, their earlier answers (counted here)."""
    if not 0 <= low <= high <= 10:
        raise BoundaryError(f"A follow-up list needs scores from 0 to 10, low before high (got {low}–{high}).")
    sql = _latest_answers_sql(con, table, extra, "score BETWEEN ? AND ?", "score")
    params = [int(low), int(high)]
    frame = con.execute(sql, params).df()
    excluded = {}
    t = quote_ident(table)
    if _has(con, table, "respondent"):
        earlier = con.execute(f"SELECT count(*) - count(DISTINCT respondent) FROM {t} "
                              "WHERE score BETWEEN 0 AND 10 AND respondent IS NOT NULL").fetchall()[0][0]
        if earlier:
            excluded["earlier answers of respondents who answered again (latest kept)"] = int(earlier)
    return MetricResult(frame, sql, params, excluded)


# ----------------------------------------------------------------- do detractors leave? (issue #22)

OUTCOMES = ("churned", "downgraded", "expanded")
# Which way is worse for detractors: more churn and downgrades, less expansion.
OUTCOME_WORSE = {"churned": "above", "downgraded": "above", "expanded": "below"}
OUTCOME_LABELS = {"churned": "Churned", "downgraded": "Downgraded", "expanded": "Expanded"}


def _key(expr: str) -> str:
    """The join key of a cell: text, trimmed, lower case; NULL when blank (emails match in any case)."""
    return f"nullif(lower(trim(CAST({expr} AS VARCHAR))), '')"


def key_columns(con, table: str, preferred: tuple[str, ...] = ()) -> list[str]:
    """Columns of `table` that can identify a person: the `preferred` canonical columns present, then
    any text or whole-number column whose non-blank values are mostly distinct (≥ half as many
    distinct values as filled cells) or whose name says email / id. Dates, scores and `_row` are not keys."""
    types = dict(table_columns(con, table))
    found = [c for c in preferred if c in types]
    t = quote_ident(table)
    for column, sql_type in types.items():
        if column in found or column.startswith("_") or column in ("score", "comment", "referred_by"):
            continue
        if not (sql_type == "VARCHAR" or sql_type in ("BIGINT", "INTEGER")):
            continue
        distinct, filled = con.execute(f"SELECT count(DISTINCT {_key(quote_ident(column))}), "
                                       f"count({_key(quote_ident(column))}) FROM {t}").fetchall()[0]
        named = "email" in column or column.endswith("_id") or column == "id"
        if filled and (named or distinct >= 0.5 * filled):
            found.append(column)
    return found


def join_keys(con, nps_table: str, other_table: str, nps_columns: list[str], other_columns: list[str]
              ) -> pd.DataFrame:
    """Every pair (NPS column, other file's column) with the number of distinct respondents' keys
    found in both (`matched`, keys compared trimmed and in lower case) and the NPS column's distinct
    keys (`keys`), over responses with a valid score (invitations nobody answered are not
    respondents); most matches first. The page offers the pairs and picks the first: the key that
    joins the most respondents, as a person would after trying each."""
    rows = []
    n, o = quote_ident(nps_table), quote_ident(other_table)
    valid = "WHERE score BETWEEN 0 AND 10" if _has(con, nps_table, "score") else ""
    for a in nps_columns:
        keys = con.execute(f"SELECT count(DISTINCT {_key(quote_ident(a))}) FROM {n} {valid}").fetchall()[0][0]
        for b in other_columns:
            matched = con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT {_key(quote_ident(a))} AS k FROM {n} {valid}) x "
                f"WHERE k IS NOT NULL AND k IN (SELECT {_key(quote_ident(b))} FROM {o})").fetchall()[0][0]
            rows.append({"nps_column": a, "other_column": b, "matched": int(matched), "keys": int(keys)})
    frame = pd.DataFrame(rows, columns=["nps_column", "other_column", "matched", "keys"])
    return frame.sort_values("matched", ascending=False, kind="stable").reset_index(drop=True)


def _category_sql(score: str = "score") -> str:
    return f"CASE WHEN {score} >= 9 THEN 'Promoter' WHEN {score} >= 7 THEN 'Passive' ELSE 'Detractor' END"


def outcomes_after_answer(con, nps_table: str, nps_key: str, moves_ctes: str, moves_params: list,
                          other_table: str, other_key: str, days: int, as_of: pd.Timestamp) -> MetricResult:
    """Do detractors leave? Per category (Detractor, Passive, Promoter) of each respondent's answer,
    the share of paying customers who churned, downgraded or expanded within `days` days after it.

    - One answer per respondent (one row per person, so no one counts twice): the latest valid answer
      (score 0–10, dated) whose `days`-day window has ended by the as-of date (answer day + days ≤
      as_of); respondents whose every answer is more recent are left out and counted.
    - Join: the respondent's key (`nps_key`, trimmed, lower case) = the other file's `other_key`,
      which names a customer_id (the lowest when a key names several).
    - Movements: `moves_ctes` end in a CTE `moves` (customer_id, day, n_after, movement) — NCVG's
      customer movements (lib.metrics.ncvg), so churn, downgrade (contraction) and expansion mean here
      what they mean on the NCVG page.
    - Denominator `paying`: matched respondents whose customer was paying on the answer day (the last
      movement on or before that day left them with ≥ 1 paying subscription).
    - churned / downgraded / expanded: paying respondents with at least one such movement on a day d
      with answer day < d ≤ answer day + days; rate = that count / paying, with a 95% Wilson interval.
    Columns: category, respondents, matched, paying, churned, downgraded, expanded, <outcome>_rate,
    <outcome>_low, <outcome>_high (rates 0–1).
    """
    n, o = quote_ident(nps_table), quote_ident(other_table)
    sql = f"""{moves_ctes},
ids AS (
  SELECT {_key(quote_ident(other_key))} AS key, min(NULLIF(trim(CAST(customer_id AS VARCHAR)), '')) AS customer_id
  FROM {o} WHERE {_key(quote_ident(other_key))} IS NOT NULL GROUP BY 1),
answers AS (
  SELECT _row, {_key(quote_ident(nps_key))} AS key, CAST(response_date AS DATE) AS day, score
  FROM {n} WHERE score BETWEEN 0 AND 10 AND response_date IS NOT NULL),
observed AS (
  SELECT * FROM answers
  WHERE key IS NOT NULL AND day + CAST(? AS INTEGER) * INTERVAL 1 DAY <= CAST(? AS DATE)
  QUALIFY row_number() OVER (PARTITION BY key ORDER BY day DESC, _row DESC) = 1),
per AS (
  SELECT a.key, {_category_sql('a.score')} AS category, i.customer_id,
    arg_max(m.n_after, m.day) FILTER (WHERE m.day <= a.day) AS paying_subscriptions,
    coalesce(bool_or(m.movement = 'churn' AND m.day > a.day AND m.day <= a.day + CAST(? AS INTEGER) * INTERVAL 1 DAY), false) AS churned,
    coalesce(bool_or(m.movement = 'contraction' AND m.day > a.day AND m.day <= a.day + CAST(? AS INTEGER) * INTERVAL 1 DAY), false) AS downgraded,
    coalesce(bool_or(m.movement = 'expansion' AND m.day > a.day AND m.day <= a.day + CAST(? AS INTEGER) * INTERVAL 1 DAY), false) AS expanded
  FROM observed a LEFT JOIN ids i USING (key) LEFT JOIN moves m ON m.customer_id = i.customer_id
  GROUP BY ALL)
SELECT category, count(*) AS respondents, count(customer_id) AS matched,
  count(*) FILTER (WHERE paying_subscriptions > 0) AS paying,
  count(*) FILTER (WHERE paying_subscriptions > 0 AND churned) AS churned,
  count(*) FILTER (WHERE paying_subscriptions > 0 AND downgraded) AS downgraded,
  count(*) FILTER (WHERE paying_subscriptions > 0 AND expanded) AS expanded
FROM per GROUP BY category"""
    d = int(days)
    params = [*moves_params, d, pd.Timestamp(as_of).date(), d, d, d]
    counts = con.execute(sql, params).df().set_index("category")
    frame = counts.reindex(list(CATEGORIES)).fillna(0).astype("int64").reset_index()
    for outcome in OUTCOMES:
        frame[f"{outcome}_rate"] = [x / p if p else math.nan for x, p in zip(frame[outcome], frame["paying"])]
        bounds = [wilson_interval(x, p) for x, p in zip(frame[outcome], frame["paying"])]
        frame[f"{outcome}_low"] = [b[0] for b in bounds]
        frame[f"{outcome}_high"] = [b[1] for b in bounds]
    recent, no_key = con.execute(f"""WITH answers AS (
  SELECT {_key(quote_ident(nps_key))} AS key, CAST(response_date AS DATE) AS day
  FROM {n} WHERE score BETWEEN 0 AND 10 AND response_date IS NOT NULL)
SELECT count(DISTINCT key) FILTER (WHERE key NOT IN (
         SELECT key FROM answers WHERE key IS NOT NULL AND day + CAST(? AS INTEGER) * INTERVAL 1 DAY <= CAST(? AS DATE))),
       count(*) FILTER (WHERE key IS NULL)
FROM answers""", [d, pd.Timestamp(as_of).date()]).fetchall()[0]
    unmatched = int(frame["respondents"].sum() - frame["matched"].sum())
    not_paying = int(frame["matched"].sum() - frame["paying"].sum())
    excluded = {f"respondents whose answers are all less than {d} days before the data ends ({pd.Timestamp(as_of):%d %b %Y})": int(recent or 0),
                "valid answers with a blank key": int(no_key or 0),
                "respondents not found in the other file": unmatched,
                "respondents found but not paying on the day they answered": not_paying}
    return MetricResult(frame, sql, params, {k: v for k, v in excluded.items() if v})


def outcome_tests(frame: pd.DataFrame, alpha: float = 0.05, min_group: int = 30) -> pd.DataFrame:
    """Detractors against promoters, one test per outcome (rows of `outcomes_after_answer`).

    Each outcome: lib.stats.two_proportion_test(detractors with it, paying detractors, promoters with
    it, paying promoters) — pooled z, or Fisher's exact when a cell expects < 5; two-sided p.
    Tested when both groups have at least `min_group` paying respondents. Three outcomes are three
    chances: `adjust_family` gives the Benjamini–Hochberg p over the tested outcomes (flagged when
    detractors do worse — more churn or downgrades, less expansion — and it is < α) and the
    Bonferroni p ('high' when < α too). Columns: outcome, detractor_rate, promoter_rate, difference
    (percentage points), z, p_value, p_adjusted, tested, flagged, severity.
    """
    rows = frame.set_index("category")
    det, pro = rows.loc["Detractor"], rows.loc["Promoter"]
    out = []
    for outcome in OUTCOMES:
        tested = det["paying"] >= min_group and pro["paying"] >= min_group
        test = two_proportion_test(det[outcome], det["paying"], pro[outcome], pro["paying"])
        worse = test.z > 0 if OUTCOME_WORSE[outcome] == "above" else test.z < 0
        out.append({"outcome": outcome, "detractor_rate": test.rate, "promoter_rate": test.baseline,
                    "difference": 100 * (test.rate - test.baseline), "z": test.z,
                    "p_value": test.p_value if tested else math.nan, "tested": bool(tested),
                    "worse": bool(tested and worse)})
    result = pd.DataFrame(out)
    p_bh, _, flagged, severity = adjust_family(result["p_value"], result["worse"], alpha)
    result["p_adjusted"], result["flagged"], result["severity"] = p_bh, flagged, severity
    return result.drop(columns="worse")


def outcome_flags(tests: pd.DataFrame, days: int, frame: pd.DataFrame) -> list[Flag]:
    """One flag per outcome where detractors do significantly worse than promoters (`outcome_tests`)."""
    rows = frame.set_index("category")
    flags = []
    for row in tests[tests["flagged"]].itertuples():
        flags.append(Flag(
            "nps", "Detractors leave", f"{OUTCOME_LABELS[row.outcome]} within {days} days of answering",
            float(row.detractor_rate), float(row.promoter_rate),
            f"detractors vs promoters, two-proportion test p={row.p_value:.2g} two-sided (BH-adjusted "
            f"{row.p_adjusted:.2g} over {int(tests['tested'].sum())} outcomes), n={int(rows.loc['Detractor', 'paying']):,} "
            f"vs {int(rows.loc['Promoter', 'paying']):,}", row.severity, questions_for("nps", "Detractors leave"),
            unit="ratio"))
    return flags


# ----------------------------------------------------------------- referrals, CX KPI 3 (issue #22)

REFERRAL_KINDS = ("subscriptions", "customers", "leads")
# Cells of a "referred by" column that say nobody referred the customer.
NOT_REFERRED = ["no", "none", "n/a", "na", "-", "false", "0", "direct", "nobody"]


def referral_column(dataset: Dataset | None) -> str | None:
    """The column that says who or what referred a customer: `referred_by` when mapped, else a
    customers/leads `source` column (referred when its value mentions "referr", e.g. "Referral");
    None when the file has neither."""
    if dataset is None or dataset.kind not in REFERRAL_KINDS:
        return None
    if "referred_by" in dataset.mapping:
        return "referred_by"
    return "source" if "source" in dataset.mapping and dataset.kind != "subscriptions" else None


def referred_sql(column: str) -> str:
    """SQL: TRUE when a row says the customer was referred. `referred_by`: any cell but blank or one
    of NOT_REFERRED (bound as the next `?`s, `_referred_params`); `source`: the value contains "referr"."""
    c = quote_ident(column)
    if column == "referred_by":
        words = ", ".join("?" for _ in NOT_REFERRED)  # one bound value each: portable SQL (no array parameter)
        return (f"coalesce(nullif(trim(CAST({c} AS VARCHAR)), '') IS NOT NULL "
                f"AND lower(trim(CAST({c} AS VARCHAR))) NOT IN ({words}), false)")
    return f"coalesce(lower(CAST({c} AS VARCHAR)) LIKE '%referr%', false)"


def _referred_params(column: str) -> list:
    return list(NOT_REFERRED) if column == "referred_by" else []


def referrals_by_period(con, dataset: Dataset, grain: str = "month", moves_ctes: str | None = None,
                        moves_params: list | None = None) -> MetricResult:
    """Referred customers per period and their value (CX KPI 3).

    - Subscriptions (with `moves_ctes`, NCVG's movements of one currency): new customers = NCVG's
      *new* movements (first paying day, the period of that day), their value = MRR on that day
      (`new_value`); referred = the customer has a row with a referral (`referred_sql`) —
      `referred_value` is the new value of those.
    - Customers: one per customer id, dated by the signup date; leads: by the became-customer date
      when the file has it (only leads that became customers count), else by the created date
      (then these are referred leads). No value column: values are blank.
    Per period: new_customers, referred_customers, share_referred = referred / new (0–1) with a
    95% Wilson interval (share_low, share_high), new_value, referred_value.
    """
    column = referral_column(dataset)
    if column is None:
        raise BoundaryError(f"{dataset.file_name} has no referral column: map a “Referred by” (who referred "
                            "the customer) or a source column with values such as “Referral” under “Columns”.")
    t, ref = quote_ident(dataset.table), referred_sql(column)
    if dataset.kind == "subscriptions":
        if moves_ctes is None:
            raise BoundaryError("Referrals from subscriptions need NCVG's customer movements.")
        sql = f"""{moves_ctes},
referred AS (
  SELECT NULLIF(trim(CAST(customer_id AS VARCHAR)), '') AS customer_id, bool_or({ref}) AS referred
  FROM {t} GROUP BY 1),
new AS (SELECT customer_id, day, value_change AS value FROM moves WHERE movement = 'new')
SELECT {period_sql('n.day', grain)} AS period, count(*) AS new_customers,
  count(*) FILTER (WHERE r.referred) AS referred_customers,
  sum(n.value) AS new_value, coalesce(sum(n.value) FILTER (WHERE r.referred), 0) AS referred_value
FROM new n LEFT JOIN referred r USING (customer_id)
GROUP BY ALL ORDER BY period"""
        params = [*(moves_params or []), *_referred_params(column)]
    else:
        id_col = "customer_id" if dataset.kind == "customers" else "lead_id"
        date_col = ("signup_date" if dataset.kind == "customers" else
                    "customer_date" if "customer_date" in dataset.mapping else "created_date")
        if date_col not in dataset.mapping:
            raise BoundaryError(f"{dataset.file_name} has no date to count referrals by: map a created or "
                                "became-customer date under “Columns”.")
        sql = f"""WITH people AS (
  SELECT NULLIF(trim(CAST({quote_ident(id_col)} AS VARCHAR)), '') AS id, min({quote_ident(date_col)}) AS day,
    bool_or({ref}) AS referred
  FROM {t} WHERE {quote_ident(date_col)} IS NOT NULL GROUP BY 1)
SELECT {period_sql('day', grain)} AS period, count(*) AS new_customers,
  count(*) FILTER (WHERE referred) AS referred_customers,
  CAST(NULL AS DOUBLE) AS new_value, CAST(NULL AS DOUBLE) AS referred_value
FROM people WHERE id IS NOT NULL
GROUP BY ALL ORDER BY period"""
        params = _referred_params(column)
    frame = con.execute(sql, params).df()
    frame["period"] = pd.to_datetime(frame["period"])
    for col in ("new_customers", "referred_customers"):
        frame[col] = frame[col].astype("int64")
    frame["share_referred"] = [r / n if n else math.nan for r, n in zip(frame["referred_customers"], frame["new_customers"])]
    bounds = [wilson_interval(r, n) for r, n in zip(frame["referred_customers"], frame["new_customers"])]
    frame["share_low"], frame["share_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    frame["label"] = [period_label(p, grain) for p in frame["period"]]
    return MetricResult(frame, sql, params)


REFERRAL_DATE_COLUMNS = ("start_date", "signup_date", "created_date")  # when a referred customer/lead arrived


def referral_date_column(con, table: str) -> str | None:
    """The column of a referral file that says when the referred customer or lead arrived."""
    return next((c for c in REFERRAL_DATE_COLUMNS if _has(con, table, c)), None)


def referrals_by_category(con, nps_table: str, nps_key: str, ref_table: str, ref_id: str) -> MetricResult:
    """Do promoters refer more? Per category of each respondent's latest valid answer: respondents,
    referrers (respondents named in the other file's `referred_by` column — key trimmed, lower case —
    by at least one customer who arrived on or after the day of that answer), referrals (those distinct
    customers, `ref_id`) and share_referring = referrers / respondents (0–1) with a 95% Wilson interval.
    A referral that came before the answer cannot follow from it, so it is not counted:
    referrals_before_answer counts them, and referrals_undated those that cannot be placed (no answer
    date or no arrival date — `referral_date_column`); when either file has no date column at all,
    every referral counts (`timed` is then False in the frame) and undated is 0. Only a "referred by"
    column holding the referrer's id or email can say who referred; a source like "Partner" cannot."""
    n, r = quote_ident(nps_table), quote_ident(ref_table)
    answered = _has(con, nps_table, "response_date")
    arrived = referral_date_column(con, ref_table)
    timed = answered and arrived is not None
    key = _key(quote_ident(nps_key))
    after = "f.day >= l.day" if timed else "TRUE"
    sql = f"""WITH latest AS (
  SELECT {key} AS key, score, {'CAST(response_date AS DATE)' if answered else 'CAST(NULL AS DATE)'} AS day FROM {n}
  WHERE score BETWEEN 0 AND 10 AND {key} IS NOT NULL
  QUALIFY row_number() OVER (PARTITION BY {key}
                             ORDER BY {'response_date DESC NULLS LAST, ' if answered else ''}_row DESC) = 1),
refs AS (
  SELECT {_key('referred_by')} AS key, {quote_ident(ref_id)} AS referral,
    {f'CAST({quote_ident(arrived)} AS DATE)' if arrived else 'CAST(NULL AS DATE)'} AS day
  FROM {r} WHERE {_key('referred_by')} IS NOT NULL),
per_respondent AS (
  SELECT l.key, l.score,
    count(DISTINCT CASE WHEN {after} THEN f.referral END) AS referrals,
    count(DISTINCT CASE WHEN {'f.day < l.day' if timed else 'FALSE'} THEN f.referral END) AS before,
    count(DISTINCT CASE WHEN {'f.day IS NULL OR l.day IS NULL' if timed else 'FALSE'} THEN f.referral END) AS undated
  FROM latest l LEFT JOIN refs f ON f.key = l.key
  GROUP BY l.key, l.score)
SELECT {_category_sql('score')} AS category, count(*) AS respondents,
  count(CASE WHEN referrals > 0 THEN 1 END) AS referrers, coalesce(sum(referrals), 0) AS referrals,
  coalesce(sum(before), 0) AS referrals_before_answer, coalesce(sum(undated), 0) AS referrals_undated
FROM per_respondent
GROUP BY 1"""
    counts = con.execute(sql).df().set_index("category")
    frame = counts.reindex(list(CATEGORIES)).fillna(0).astype("int64").reset_index()
    frame["share_referring"] = [x / k if k else math.nan for x, k in zip(frame["referrers"], frame["respondents"])]
    bounds = [wilson_interval(x, k) for x, k in zip(frame["referrers"], frame["respondents"])]
    frame["share_low"], frame["share_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    frame["timed"] = timed
    return MetricResult(frame, sql, [])


def promoters_refer_more(frame: pd.DataFrame):
    """Promoters against everyone else (passives and detractors together): lib.stats.two_proportion_test
    (referring promoters, promoters, referring others, others), two-sided."""
    rows = frame.set_index("category")
    others = rows.loc[["Passive", "Detractor"]].sum()
    return two_proportion_test(rows.loc["Promoter", "referrers"], rows.loc["Promoter", "respondents"],
                               others["referrers"], others["respondents"])


# ----------------------------------------------------------------- wiring for the page and the report

OUTCOME_KINDS = ("subscriptions", "customers")


def outcome_moves(con, dataset: Dataset) -> tuple[str, list, pd.Timestamp]:
    """(CTEs ending in `moves`, their parameters, as-of date) for `outcomes_after_answer`.

    Subscriptions: NCVG's customer movements (lib.metrics.ncvg) over every currency — churn, downgrade
    and expansion are read per customer, never summed across currencies — as of NCVG's as-of date.
    Customers: a customer pays from the signup date until the churn date; churn only (no value, so
    no downgrade or expansion), as of the latest signup or churn date."""
    if dataset.kind == "subscriptions":
        import dataclasses

        from lib.metrics import ncvg
        basis = dataclasses.replace(ncvg.make_basis(con, dataset), currency=None)
        ctes, params = ncvg._ctes(basis)
        return ctes, params, basis.as_of
    if dataset.kind != "customers" or "signup_date" not in dataset.mapping:
        raise BoundaryError(f"{dataset.file_name}: churn after an answer needs a subscriptions export or a "
                            "customers file with signup and churn dates.")
    t = quote_ident(dataset.table)
    has_churn = "churn_date" in dataset.mapping
    churn = (f"""
  UNION ALL
  SELECT NULLIF(trim(CAST(customer_id AS VARCHAR)), ''), CAST(churn_date AS DATE), 0, 'churn'
  FROM {t} WHERE churn_date IS NOT NULL""" if has_churn else "")
    ctes = f"""WITH moves AS (
  SELECT NULLIF(trim(CAST(customer_id AS VARCHAR)), '') AS customer_id, CAST(signup_date AS DATE) AS day,
    1 AS n_after, 'new' AS movement
  FROM {t} WHERE signup_date IS NOT NULL{churn})"""
    last = "greatest(max(signup_date), max(churn_date))" if has_churn else "max(signup_date)"
    as_of = con.execute(f"SELECT {last} FROM {t}").fetchall()[0][0]
    if as_of is None:
        raise BoundaryError(f"{dataset.file_name}: no readable signup dates.")
    return ctes, [], pd.Timestamp(as_of).normalize()


def outcome_join_keys(con, nps: Dataset, other: Dataset) -> pd.DataFrame:
    """`join_keys` between the NPS file's person columns (respondent first) and the other file's
    (customer id, email, then other id-like columns), most matched respondents first."""
    return join_keys(con, nps.table, other.table, key_columns(con, nps.table, ("respondent",)),
                     key_columns(con, other.table, ("customer_id", "email")))


def leave_flags(con, dataset: Dataset, other: Dataset, th) -> list[Flag]:
    """'Detractors leave' flags on the key that joins the most respondents (none when no key joins
    any, or the join cannot be made): `outcome_tests` at the session's α and smallest group."""
    try:
        keys = outcome_join_keys(con, dataset, other)
        if keys.empty or keys.iloc[0]["matched"] == 0:
            return []
        ctes, params, as_of = outcome_moves(con, other)
        days = int(th["nps_outcome_window_days"])
        result = outcomes_after_answer(con, dataset.table, keys.iloc[0]["nps_column"], ctes, params, other.table,
                                       keys.iloc[0]["other_column"], days, as_of)
    except BoundaryError:
        return []
    tests = outcome_tests(result.frame, th["baseline_alpha"], int(th["min_group_size"]))
    return outcome_flags(tests, days, result.frame)


def referral_moves(con, dataset: Dataset) -> tuple[str | None, list, str | None]:
    """(CTEs ending in `moves`, parameters, currency) for `referrals_by_period`: NCVG's movements in the
    currency with most rows (values are never summed across currencies) for a subscriptions export;
    (None, [], None) for customers and leads, which need none."""
    if dataset.kind != "subscriptions":
        return None, [], None
    from lib.metrics import ncvg
    basis = ncvg.make_basis(con, dataset)
    ctes, params = ncvg._ctes(basis)
    return ctes, params, basis.currency


# ----------------------------------------------------------------- survey response rate (issue #22)

def response_rate_reason(con, table: str) -> str | None:
    """None when the file can give a response rate; else, in plain words, why it cannot."""
    if not _has(con, table, "sent_date"):
        return ("This file cannot give a response rate: it has no survey-sent (invited) date. A response rate needs "
                "a row for every invitation — answered or not — with the date it was sent; map that column as "
                "“Survey sent / invited date” under “Columns”.")
    if not con.execute(f"SELECT count(*) FROM {quote_ident(table)} WHERE {_unanswered(con, table)}").fetchall()[0][0]:
        return ("Every row with a sent date was answered, so the file seems to hold answers only: the response rate "
                "would read 100%. It needs the unanswered invitations too (rows with a sent date and no score).")
    return None


def response_rate_by_period(con, table: str, grain: str = "month") -> MetricResult:
    """Survey response rate per period of the sent date: answered / sent (ratio 0–1) with a 95%
    Wilson interval (low, high).

    sent = rows with a sent date in the period (one row per invitation); answered = those with a score
    cell filled (even one that is not a valid 0–10 score: the person answered) or a response date.
    Rows without a sent date are left out and counted: they cannot be placed in a period.
    """
    _require(con, table, "sent_date", "survey-sent date")
    t = quote_ident(table)
    answered = f"NOT {_unanswered(con, table)}"
    sql = f"""SELECT {period_sql('sent_date', grain)} AS period, count(*) AS sent,
    count(*) FILTER (WHERE {answered}) AS answered
FROM {t}
WHERE sent_date IS NOT NULL
GROUP BY ALL ORDER BY period"""
    frame = con.execute(sql).df()
    frame["period"] = pd.to_datetime(frame["period"])
    frame["sent"], frame["answered"] = frame["sent"].astype("int64"), frame["answered"].astype("int64")
    frame["response_rate"] = [a / n if n else math.nan for a, n in zip(frame["answered"], frame["sent"])]
    bounds = [wilson_interval(a, n) for a, n in zip(frame["answered"], frame["sent"])]
    frame["low"], frame["high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    frame["label"] = [period_label(p, grain) for p in frame["period"]]
    end = con.execute(f"SELECT max(sent_date) FROM {t}").fetchall()[0][0]
    frame["incomplete"] = [bool(end is not None and is_incomplete(p, grain, end)) for p in frame["period"]]
    no_sent = con.execute(f"SELECT count(*) FROM {t} WHERE sent_date IS NULL").fetchall()[0][0]
    return MetricResult(frame, sql, [], {"rows without a sent date": int(no_sent)} if no_sent else {})

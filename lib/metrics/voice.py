"""Voice of customer: community posts, reviews and CS notes made countable, plus the deals signals.

Sentiment and complaint detection come from lib.text (VADER compound score, negative ≤ −0.05;
`complaint_about_marketing`). A texts file that carries its own sentiment label (listening tools,
hand-labelled sets: the canonical `sentiment_label`) is counted by that label instead, and
`label_agreement` shows how far the lexicon agrees with it. Scoring is per text in Python, once per
table content: the scores go into session tables `<table>_sentiment` (_row, compound, label,
lexicon_label, file_label, complaint) and `<table>_terms`
(_row, term), so every figure below is one SQL query that joins them — and an analyst can query
the same tables in the SQL notebook. Own-baseline tests pool the `baseline_periods` periods before
each period (lib.stats.two_proportion_test), as in lib.metrics.deals.
"""

from __future__ import annotations

import pandas as pd

from lib import text as textlib
from lib.metrics import deals as deals_metrics
from lib.metrics.deals import GRAIN_INTERVAL, baseline_flag_rows, family_flags, table_columns
from lib.periods import is_incomplete, period_label, period_sql
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from lib.engine import table_columns as column_types, table_names
from lib.sql import quote_ident
from lib.stats import two_proportion_test_arrays, wilson_interval

DEFAULT_TEXT_GRAIN = "month"
DEFAULT_DEAL_GRAIN = "quarter"
DEFAULT_LAG_DAYS = 14  # posts up to two weeks after a campaign ends still count towards it
DEFAULT_CAMPAIGN_CHANNELS = ("email", "in-app", "in_app", "inapp", "push", "sms", "notification")
TEXT_COLUMNS = ("text", "date", "author", "email", "source", "rating")
LABEL_COLUMN = "sentiment_label"  # the file's own sentiment label, when it carries one
_SIGNATURES = "_voice_scored"

# Tables that can name known customers, and which of their columns hold an email or a name.
# Columns are matched by table column name; any other column whose name contains "email" counts too.
KNOWN_CUSTOMER_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {"email": ("email",), "name": ("customer_name", "name", "full_name", "contact_name")},
    "subscriptions": {"email": ("customer_email", "email"), "name": ("customer_name", "name")},
    "nps_responses": {"email": ("respondent", "email"), "name": ("name", "respondent_name", "full_name")},
    "leads": {"email": ("email",), "name": ("name", "full_name", "contact_name")},
}


# ---- scoring ---------------------------------------------------------------------------------------

def ensure_scores(con, table: str, column: str, present: set | None = None) -> tuple[str, str]:
    """Score each non-blank `column` value of `table` once; returns (sentiment table, terms table).

    The sentiment table has, per text: compound (VADER), lexicon_label (VADER's call), file_label
    (the file's own `sentiment_label` read by lib.text.file_sentiment_labels; NULL when the file
    has none or the cell is blank/unreadable), label — the file's label where there is one, else
    the lexicon's: every figure counts `label` — and complaint.
    Re-scores only when the table's content changed (count and hash of _row, text and label differ
    from the last run). Blank texts get no row: they are unknown, not neutral.
    `present`: the table's `table_columns` when the caller has read them (~3 ms a read).
    """
    scores, terms_table = f"{table}_sentiment", f"{table}_terms"
    present = table_columns(con, table) if present is None else present
    col = quote_ident(column) if column in present else "CAST(NULL AS VARCHAR)"
    has_label = column == "text" and LABEL_COLUMN in present
    label_col = quote_ident(LABEL_COLUMN) if has_label else "CAST(NULL AS VARCHAR)"
    signature = "|".join(str(v) for v in con.execute(
        f"SELECT count(*), coalesce(sum(hash(_row, CAST({col} AS VARCHAR), CAST({label_col} AS VARCHAR))), 0) "
        f"FROM {quote_ident(table)}").fetchone())
    con.execute(f"CREATE TABLE IF NOT EXISTS {_SIGNATURES} (scores_table VARCHAR, signature VARCHAR)")
    done = con.execute(f"SELECT signature FROM {_SIGNATURES} WHERE scores_table = ?", [scores]).fetchone()
    if done and done[0] == signature and {scores, terms_table} <= _tables(con):
        return scores, terms_table
    rows = con.execute(f"SELECT _row, CAST({col} AS VARCHAR), CAST({label_col} AS VARCHAR) FROM {quote_ident(table)} "
                       f"WHERE nullif(trim(CAST({col} AS VARCHAR)), '') IS NOT NULL").fetchall()
    texts = [r[1] for r in rows]
    unique = list(dict.fromkeys(texts))
    scored = textlib.sentiment_scores(unique)
    by_text = {t: (c, lab, textlib.complaint_about_marketing(t), textlib.terms(t))
               for t, c, lab in zip(unique, scored["compound"], scored["label"])}
    lexicon = [by_text[t][1] for t in texts]
    from_file = textlib.file_sentiment_labels(r[2] for r in rows)
    sentiment = pd.DataFrame({
        "_row": pd.Series([r[0] for r in rows], dtype="int64"),
        "compound": pd.Series([by_text[t][0] for t in texts], dtype="float64"),
        "label": pd.Series([f or x for f, x in zip(from_file, lexicon)], dtype="string"),
        "lexicon_label": pd.Series(lexicon, dtype="string"),
        "file_label": pd.Series(from_file, dtype="string"),
        "complaint": pd.Series([by_text[t][2] for t in texts], dtype="bool"),
    })
    term_rows = [(r[0], term) for r in rows for term in sorted(by_text[r[1]][3])]
    terms_frame = pd.DataFrame({"_row": pd.Series([r[0] for r in term_rows], dtype="int64"),
                                "term": pd.Series([r[1] for r in term_rows], dtype="string")})
    for name, frame in ((scores, sentiment), (terms_table, terms_frame)):
        con.register("_voice_incoming", frame)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM _voice_incoming")
        finally:
            con.unregister("_voice_incoming")
    con.execute(f"DELETE FROM {_SIGNATURES} WHERE scores_table = ?", [scores])
    con.execute(f"INSERT INTO {_SIGNATURES} VALUES (?, ?)", [scores, signature])
    return scores, terms_table


def _tables(con) -> set[str]:
    return set(table_names(con))


def _texts_src(con, table: str, present: set | None = None) -> str:
    """SELECT of the texts table with every canonical column (NULL when the file lacks it); `present`: the
    table's `table_columns` when the caller has read them."""
    present = table_columns(con, table) if present is None else present
    types = {"date": "TIMESTAMP", "rating": "DOUBLE"}
    cols = [(f"{quote_ident(c)} AS {c}" if c in present else f"CAST(NULL AS {types.get(c, 'VARCHAR')}) AS {c}")
            for c in TEXT_COLUMNS]
    return f"SELECT _row, {', '.join(cols)} FROM {quote_ident(table)}"


def _excluded_texts(con, table: str, scores: str, present: set | None = None) -> dict[str, int]:
    row = con.execute(f"""WITH t AS ({_texts_src(con, table, present)})
SELECT count(*) FILTER (WHERE s._row IS NULL), count(*) FILTER (WHERE s._row IS NOT NULL AND t.date IS NULL)
FROM t LEFT JOIN {quote_ident(scores)} s USING (_row)""").fetchone()
    reasons = {"with a blank text": row[0], "without a readable date": row[1]}
    return {k: int(v) for k, v in reasons.items() if v}


# ---- texts -----------------------------------------------------------------------------------------

def _period_sentiment_sql(scored: str, interval: str) -> str:
    """Per-period counts and trailing-baseline sums over a CTE `scored(period, label, complaint, compound, d)`."""
    return f"""WITH {scored},
agg AS (
  SELECT period, count(*) AS texts,
    count(*) FILTER (WHERE label = 'negative') AS negative,
    count(*) FILTER (WHERE label = 'neutral') AS neutral,
    count(*) FILTER (WHERE label = 'positive') AS positive,
    count(*) FILTER (WHERE complaint) AS complaints,
    avg(compound) AS mean_compound
  FROM scored GROUP BY period
),
base AS (
  SELECT a.period, sum(b.texts) AS base_texts, sum(b.negative) AS base_negative,
    sum(b.complaints) AS base_complaints
  FROM agg a JOIN agg b ON b.period < a.period AND b.period >= a.period - {interval}
  GROUP BY a.period
)
SELECT agg.*, coalesce(base_texts, 0) AS base_texts, coalesce(base_negative, 0) AS base_negative,
  coalesce(base_complaints, 0) AS base_complaints, (SELECT max(d) FROM scored) AS data_end
FROM agg LEFT JOIN base USING (period) ORDER BY period"""


def sentiment_by_period(con, table: str, grain: str = DEFAULT_TEXT_GRAIN, baseline_periods: int = 8) -> MetricResult:
    """Texts, negative texts and complaints about marketing per period, with the trailing baseline.

    - share negative = negative texts / texts with a non-blank text (ratio), where negative is the
      file's own sentiment label when it carries one (`sentiment_label`; the lexicon's call for
      cells without a readable label), else VADER compound ≤ −0.05,
      with a Wilson 95% interval (`neg_low`, `neg_high`)
    - complaint share = complaints about marketing / texts (ratio)
    - mean compound: average VADER compound (−1..+1)
    Baseline columns pool the `baseline_periods` calendar periods before each period: base_texts,
    base_negative, base_complaints. Blank texts and texts without a date are left out and counted.
    """
    present = table_columns(con, table)  # read once for the three uses below
    scores, _ = ensure_scores(con, table, "text", present)
    scored = f"""scored AS (
  SELECT {period_sql('t.date', grain)} AS period, s.label, s.complaint, s.compound, t.date AS d
  FROM ({_texts_src(con, table, present)}) t JOIN {quote_ident(scores)} s USING (_row) WHERE t.date IS NOT NULL
)"""
    sql = _period_sentiment_sql(scored, GRAIN_INTERVAL[grain])
    frame = _text_rates(con.execute(sql, [baseline_periods]).df(), grain)
    return MetricResult(frame, sql, [baseline_periods], _excluded_texts(con, table, scores, present))


def _text_rates(frame: pd.DataFrame, grain: str) -> pd.DataFrame:
    frame = frame.copy()
    if frame.empty:
        for c in ("share_negative", "neg_low", "neg_high", "complaint_share", "base_share_negative",
                  "base_complaint_share", "incomplete", "label"):
            frame[c] = pd.Series(dtype=float)
        return frame.drop(columns="data_end")
    frame["period"] = pd.to_datetime(frame["period"])
    texts = frame["texts"].where(frame["texts"] > 0)
    frame["share_negative"] = (frame["negative"] / texts).astype(float)
    frame["complaint_share"] = (frame["complaints"] / texts).astype(float)
    ci = [wilson_interval(x, n) for x, n in zip(frame["negative"], frame["texts"])]
    frame["neg_low"], frame["neg_high"] = [c[0] for c in ci], [c[1] for c in ci]
    base = frame["base_texts"].where(frame["base_texts"] > 0)
    frame["base_share_negative"] = (frame["base_negative"] / base).astype(float)
    frame["base_complaint_share"] = (frame["base_complaints"] / base).astype(float)
    data_end = pd.to_datetime(frame["data_end"]).max()
    frame["incomplete"] = [bool(pd.notna(data_end) and is_incomplete(p, grain, data_end)) for p in frame["period"]]
    frame["label"] = [period_label(p, grain) for p in frame["period"]]
    return frame.drop(columns="data_end")


def text_flag_frames(result: MetricResult, alpha: float, min_n: float) -> dict[str, pd.DataFrame]:
    """Per period: share negative and complaint share tested against the trailing baseline (higher is worse).

    Each measure's periods are one family (`deals.family_flags`: flagged when Benjamini–Hochberg
    adjusted p < alpha, 'high' when Bonferroni adjusted p < alpha too)."""
    frame = result.frame
    return {
        "negative": family_flags(baseline_flag_rows(frame, "negative", "texts", "base_negative", "base_texts",
                                                    "above", alpha, min_n), alpha),
        "complaints": family_flags(baseline_flag_rows(frame, "complaints", "texts", "base_complaints", "base_texts",
                                                      "above", alpha, min_n), alpha),
    }


def text_flags(result: MetricResult, alpha: float, min_n: float, grain: str, what: str = "texts",
               metric_prefix: str = "", frames: dict[str, pd.DataFrame] | None = None) -> list[Flag]:
    """Flags for periods whose share of negative texts (or of complaints about marketing) rose
    significantly above the trailing baseline. ``frames``: the page's own
    ``text_flag_frames(result, alpha, min_n)``, so the tests are not run twice (run here when not given)."""
    flags = []
    specs = {"negative": (f"{metric_prefix}Share negative", "share_negative", "base_share_negative", "negative"),
             "complaints": (f"{metric_prefix}Complaints about marketing", "complaint_share", "base_complaint_share",
                            "complaints")}
    frames = text_flag_frames(result, alpha, min_n) if frames is None else frames
    for key, (metric, value, ref, count) in specs.items():
        if metric_prefix and key == "complaints":
            continue
        for row in frames[key][frames[key]["flagged"]].to_dict("records"):
            flags.append(Flag(
                "voice", metric, f"{what} in {period_label(row['period'], grain)}", float(row[value]), float(row[ref]),
                f"two-proportion test vs trailing baseline, {int(row[count])} of n={int(row['texts'])} "
                f"vs {int(row['base_' + count])} of {int(row['base_texts'])}, p={row['p_value']:.3g}, "
                f"BH-adjusted p={row['p_bh']:.3g} over the periods tested",
                row["severity"],
                questions_for("voice", metric.replace(metric_prefix, "")), pd.Timestamp(row["period"])))
    return flags


def long_text_count(con, table: str, column: str = "text") -> int:
    """Texts longer than lib.text.MAX_SCORED_CHARS: scored, termed and checked for complaints on
    their first MAX_SCORED_CHARS characters only (the page says how many)."""
    if column not in table_columns(con, table):
        return 0
    sql = f"SELECT count(*) FROM {quote_ident(table)} WHERE length(CAST({quote_ident(column)} AS VARCHAR)) > ?"
    return int(con.execute(sql, [textlib.MAX_SCORED_CHARS]).fetchone()[0])


def has_file_labels(con, table: str) -> bool:
    """True when the texts table carries its own sentiment label (the canonical `sentiment_label`)."""
    return LABEL_COLUMN in table_columns(con, table)


_LABEL_ORDER = "CASE file_label WHEN 'negative' THEN 0 WHEN 'neutral' THEN 1 ELSE 2 END"


def label_agreement(con, table: str) -> MetricResult:
    """How far the lexicon (VADER) agrees with the sentiment label the file carries.

    Over the n texts with a non-blank text and a readable file label (dated or not), one row per
    file label (negative, neutral, positive): `texts` with that label and how many of them the
    lexicon called negative / neutral / positive (`lexicon_negative`, `lexicon_neutral`,
    `lexicon_positive`) — a confusion matrix. `agreement_summary` turns it into shares.
    Texts whose label is blank or unreadable are left out here and counted (the figures use the
    lexicon's call for them).
    """
    scores, _ = ensure_scores(con, table, "text")
    sql = f"""SELECT file_label, count(*) AS texts,
  count(*) FILTER (WHERE lexicon_label = 'negative') AS lexicon_negative,
  count(*) FILTER (WHERE lexicon_label = 'neutral') AS lexicon_neutral,
  count(*) FILTER (WHERE lexicon_label = 'positive') AS lexicon_positive
FROM {quote_ident(scores)} WHERE file_label IS NOT NULL
GROUP BY file_label ORDER BY {_LABEL_ORDER}"""
    frame = con.execute(sql).df()
    unread = con.execute(f"SELECT count(*) FROM {quote_ident(scores)} WHERE file_label IS NULL").fetchone()[0]
    reason = "with a blank or unreadable sentiment label (the lexicon's call counts for them in the other figures)"
    excluded = {reason: int(unread)} if unread else {}
    return MetricResult(frame, sql, [], excluded)


def agreement_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Shares from `label_agreement`'s matrix (n = texts with a readable file label):
    - agreement = texts whose lexicon label equals the file's / n
    - file_share_negative = texts the file labels negative / n
    - lexicon_share_negative = texts the lexicon calls negative / n
    - negative_recall = file-negative texts the lexicon also calls negative / file-negative texts
    NaN where a denominator is 0."""
    n = int(frame["texts"].sum()) if len(frame) else 0
    by = frame.set_index("file_label") if len(frame) else frame
    agree = sum(int(by.loc[lab, f"lexicon_{lab}"]) for lab in ("negative", "neutral", "positive") if lab in by.index)
    file_neg = int(by.loc["negative", "texts"]) if "negative" in by.index else 0
    found = int(by.loc["negative", "lexicon_negative"]) if "negative" in by.index else 0
    lex_neg = int(frame["lexicon_negative"].sum()) if n else 0

    def share(a, b):
        return a / b if b else float("nan")

    return {"n": n, "agreement": share(agree, n), "file_share_negative": share(file_neg, n),
            "lexicon_share_negative": share(lex_neg, n), "negative_recall": share(found, file_neg),
            "file_negative": file_neg, "found_negative": found}


def marketing_complaints(con, table: str) -> MetricResult:
    """Every text that complains about marketing (lib.text.complaint_about_marketing), newest first.

    Columns: date, author, email, source, text, compound (VADER), rating, row (the row in the file).
    """
    scores, _ = ensure_scores(con, table, "text")
    sql = f"""WITH t AS ({_texts_src(con, table)})
SELECT t.date, t.author, t.email, t.source, t.text, round(s.compound, 3) AS compound, t.rating, t._row AS row
FROM t JOIN {quote_ident(scores)} s USING (_row)
WHERE s.complaint
ORDER BY t.date DESC NULLS LAST, t._row"""
    return MetricResult(con.execute(sql).df(), sql, [], _excluded_texts(con, table, scores))


def top_terms(con, table: str, negative_only: bool = False, top: int = 15) -> MetricResult:
    """The terms (words and two-word phrases from lib.text.terms, stop words dropped) found in most texts.

    texts = texts mentioning the term (a text counts once); share = texts / all texts of the group
    (all scored texts, or only the negative ones). A word is not listed when a phrase containing it
    is in at least as many texts ("happy" under "not happy"): it says nothing the phrase does not.
    Ties broken alphabetically.
    """
    scores, terms_table = ensure_scores(con, table, "text")
    group = "s.label = 'negative'" if negative_only else "TRUE"
    sql = f"""WITH g AS (SELECT _row FROM {quote_ident(scores)} s WHERE {group}),
n AS (SELECT count(*) AS texts FROM g),
counts AS (SELECT tm.term, count(DISTINCT tm._row) AS texts
           FROM {quote_ident(terms_table)} tm JOIN g USING (_row) GROUP BY tm.term)
SELECT c.term, c.texts, c.texts / n.texts AS share
FROM counts c CROSS JOIN n
WHERE NOT EXISTS (SELECT 1 FROM counts p WHERE p.term <> c.term AND p.texts >= c.texts
                  AND list_contains(string_split(p.term, ' '), c.term))
ORDER BY c.texts DESC, c.term LIMIT ?"""
    return MetricResult(con.execute(sql, [top]).df(), sql, [top])


# ---- posters matched to known customers ----------------------------------------------------------

def known_customer_sources(ws) -> list[tuple[str, str, list[str], list[str]]]:
    """(label, table, email columns, name columns) of each loaded table that can name customers.

    Email columns: those listed in KNOWN_CUSTOMER_KINDS plus any other text column with "email" in
    its name; name columns as listed, plus "first_name"+"last_name" as one full name when both exist.
    """
    return customer_sources(ws.con, ws.datasets)


def customer_sources(con, datasets: dict) -> list[tuple[str, str, list[str], list[str]]]:
    """`known_customer_sources` from the session's cursor and its datasets by kind (lib.datasets.Workspace
    .datasets; one not ready counts as absent): a page memoises it on the data alone, so a threshold change
    does not read four tables' columns again (~8 ms)."""
    sources = []
    for kind, spec in KNOWN_CUSTOMER_KINDS.items():
        dataset = datasets.get(kind)
        if dataset is None or not dataset.ready:
            continue
        cols = dict(column_types(con, dataset.table))  # (name, type) pairs, as Workspace.table_columns
        text_cols = [c for c, t in cols.items() if t == "VARCHAR"]
        emails = [c for c in spec["email"] if c in text_cols]
        emails += [c for c in text_cols if "email" in c and c not in emails]
        names = [c for c in spec["name"] if c in text_cols]
        if "first_name" in text_cols and "last_name" in text_cols:
            names.append("first_name+last_name")
        if emails or names:
            sources.append((dataset.label, dataset.table, emails, names))
    return sources


def _name_key(sql_expr: str) -> str:
    return f"nullif(lower(trim(regexp_replace(CAST({sql_expr} AS VARCHAR), '\\s+', ' ', 'g'))), '')"


def poster_matches(con, table: str, sources: list[tuple[str, str, list[str], list[str]]]) -> MetricResult:
    """Each poster (email, else author) with posts, negative posts, complaints, and whether they are a
    known customer: matched by email (case-insensitive, trimmed) in any email column of `sources`,
    else by full name (case-insensitive, spaces folded). `found_in` lists the tables that know them.
    Posts with neither email nor author are left out (anonymous) and counted.
    """
    scores, _ = ensure_scores(con, table, "text")
    parts, params = [], []
    for label, src_table, emails, names in sources:
        for col in emails:
            key = f"nullif(lower(trim(CAST({quote_ident(col)} AS VARCHAR))), '')"
            parts.append(f"SELECT DISTINCT {key} AS match_key, 'email' AS how, ? AS found_in "
                         f"FROM {quote_ident(src_table)} WHERE {key} LIKE '%@%'")
            params.append(label)
        for col in names:
            expr = (f"concat_ws(' ', {quote_ident('first_name')}, {quote_ident('last_name')})"
                    if col == "first_name+last_name" else quote_ident(col))
            parts.append(f"SELECT DISTINCT {_name_key(expr)} AS match_key, 'name' AS how, ? AS found_in "
                         f"FROM {quote_ident(src_table)} WHERE {_name_key(expr)} IS NOT NULL")
            params.append(label)
    known = "\nUNION ALL ".join(parts) if parts else \
        "SELECT CAST(NULL AS VARCHAR) AS match_key, CAST(NULL AS VARCHAR) AS how, CAST(NULL AS VARCHAR) AS found_in WHERE FALSE"
    sql = f"""WITH known AS ({known}),
k AS (SELECT match_key, how, string_agg(DISTINCT found_in, ', ' ORDER BY found_in) AS found_in
      FROM known GROUP BY match_key, how),
t AS ({_texts_src(con, table)}),
posts AS (
  SELECT t._row, nullif(lower(trim(t.email)), '') AS email_key, {_name_key('t.author')} AS name_key,
    coalesce(nullif(lower(trim(t.email)), ''), {_name_key('t.author')}) AS poster_key,
    t.author, t.email, t.date, s.label, s.complaint
  FROM t JOIN {quote_ident(scores)} s USING (_row)
),
m AS (
  SELECT p.*, CASE WHEN ke.match_key IS NOT NULL THEN 'email' WHEN kn.match_key IS NOT NULL THEN 'name' END AS matched_by,
    coalesce(ke.found_in, kn.found_in) AS found_in
  FROM posts p
  LEFT JOIN k ke ON ke.how = 'email' AND ke.match_key = p.email_key
  LEFT JOIN k kn ON kn.how = 'name' AND kn.match_key = p.name_key
  WHERE p.poster_key IS NOT NULL
)
SELECT * FROM (  -- sorted outside: Spark cannot sort a grouped query by min(matched_by) again
SELECT arg_max(author, date) FILTER (WHERE author IS NOT NULL) AS author,  -- as on the latest post
  arg_max(email, date) FILTER (WHERE email IS NOT NULL) AS email,
  count(*) AS posts, count(*) FILTER (WHERE label = 'negative') AS negative,
  count(*) FILTER (WHERE complaint) AS complaints,
  min(matched_by) AS matched_by, min(found_in) AS found_in,
  max(date) AS last_post
FROM m GROUP BY poster_key
) ORDER BY (matched_by IS NULL), negative DESC, posts DESC, author"""
    frame = con.execute(sql, params).df()
    anonymous = con.execute(f"""WITH t AS ({_texts_src(con, table)})
SELECT count(*) FROM t JOIN {quote_ident(scores)} s USING (_row)
WHERE nullif(trim(t.email), '') IS NULL AND nullif(trim(t.author), '') IS NULL""").fetchone()[0]
    excluded = {"posts with neither email nor author": int(anonymous)} if anonymous else {}
    return MetricResult(frame, sql, params, excluded)


def poster_summary(frame: pd.DataFrame) -> dict[str, float]:
    """posters, matched posters, share matched (matched / posters), negative posts by matched posters."""
    posters = len(frame)
    matched = frame[frame["matched_by"].notna()] if posters else frame
    return {"posters": posters, "matched": len(matched),
            "share_matched": len(matched) / posters if posters else float("nan"),
            "matched_negative_posts": int(matched["negative"].sum()) if posters else 0,
            "negative_posts": int(frame["negative"].sum()) if posters else 0}


# ---- negative texts against the campaign calendar ------------------------------------------------

def negative_by_campaign(con, table: str, calendar: str, lag_days: int = DEFAULT_LAG_DAYS,
                         channels: list[str] | None = None) -> MetricResult:
    """For each campaign: texts and negative texts dated from its start to `lag_days` after its end,
    against all texts outside that window.

    - share negative in window = negative texts in window / texts in window (ratio)
    - share negative outside = negative texts outside / texts outside (ratio); `z`, `p_value` from the
      two-proportion test of the two
    - negative per day in window = negative texts in window / window days (clipped to the texts'
      date range); `negative_per_day_overall` = all negative texts / days the texts span
    Campaigns outside the texts' date range are left out and counted; `channels` (None = all)
    picks calendar channels, compared case-insensitively. A campaign without an end date runs one day.
    """
    scores, _ = ensure_scores(con, table, "text")
    channel_filter = "TRUE"
    params: list = []
    if channels is not None:
        channel_filter = "lower(trim(CAST(c.channel AS VARCHAR))) IN (SELECT unnest(?))" if channels else "FALSE"
        params = [[c.lower().strip() for c in channels]] if channels else []
    cal_cols = table_columns(con, calendar)
    end_expr = "coalesce(c.end_date, c.start_date)" if "end_date" in cal_cols else "c.start_date"
    channel_expr = "c.channel" if "channel" in cal_cols else "CAST(NULL AS VARCHAR)"
    if "channel" not in cal_cols:
        channel_filter, params = "TRUE", []
    sql = f"""WITH t AS (
  SELECT t.date, s.label = 'negative' AS negative, s.complaint
  FROM {quote_ident(table)} t JOIN {quote_ident(scores)} s USING (_row) WHERE t.date IS NOT NULL
),
span AS (SELECT CAST(min(date) AS DATE) AS lo, CAST(max(date) AS DATE) AS hi, count(*) AS texts,
         count(*) FILTER (WHERE negative) AS negative FROM t),
cal AS (
  SELECT c.campaign, {channel_expr} AS channel, CAST(c.start_date AS DATE) AS start_date,
    CAST({end_expr} AS DATE) AS end_date, CAST({end_expr} AS DATE) + CAST(? AS INTEGER) AS window_end
  FROM {quote_ident(calendar)} c WHERE c.start_date IS NOT NULL AND {channel_filter}
),
win AS (
  SELECT cal.*, greatest(cal.start_date, span.lo) AS from_day, least(cal.window_end, span.hi) AS to_day
  FROM cal, span WHERE cal.start_date <= span.hi AND cal.window_end >= span.lo
)
SELECT w.campaign, w.channel, w.start_date, w.end_date, w.window_end,
  date_diff('day', w.from_day, w.to_day) + 1 AS window_days,
  count(t.date) AS texts, count(*) FILTER (WHERE t.negative) AS negative,
  count(*) FILTER (WHERE t.complaint) AS complaints,
  any_value(span.texts) AS all_texts, any_value(span.negative) AS all_negative,
  any_value(date_diff('day', span.lo, span.hi) + 1) AS all_days
FROM win w CROSS JOIN span
LEFT JOIN t ON CAST(t.date AS DATE) BETWEEN w.start_date AND w.window_end
GROUP BY ALL ORDER BY w.start_date, w.campaign"""
    all_params = [lag_days] + params
    frame = con.execute(sql, all_params).df()
    total = con.execute(f"SELECT count(*) FROM {quote_ident(calendar)} c WHERE {channel_filter}", params).fetchone()[0]
    if not frame.empty:
        inside = frame["texts"].where(frame["texts"] > 0)
        frame["share_negative"] = (frame["negative"] / inside).astype(float)
        out_n = frame["all_texts"] - frame["texts"]
        out_neg = frame["all_negative"] - frame["negative"]
        frame["share_negative_outside"] = (out_neg / out_n.where(out_n > 0)).astype(float)
        # one array call (two_proportion_test's numbers per campaign, to the last bit)
        _, _, frame["z"], frame["p_value"] = two_proportion_test_arrays(frame["negative"], frame["texts"], out_neg, out_n)
        frame["negative_per_day"] = frame["negative"] / frame["window_days"]
        frame["negative_per_day_overall"] = frame["all_negative"] / frame["all_days"]
    excluded = {"campaigns outside the texts' dates": int(total - len(frame))} if total - len(frame) else {}
    return MetricResult(frame, sql, all_params, excluded)


def campaign_text_flags(result: MetricResult, alpha: float, min_n: float) -> list[Flag]:
    """Campaigns whose window carried a significantly higher share of negative texts than outside it."""
    frame = result.frame
    if frame.empty:
        return []
    frame = family_flags(frame.assign(
        tested=(frame["texts"] >= min_n) & (frame["all_texts"] - frame["texts"] >= min_n),
        worse_side=frame["z"] > 0), alpha)  # the campaigns are one family
    flags = []
    for row in frame[frame["flagged"]].to_dict("records"):
        n_out = row["all_texts"] - row["texts"]
        flags.append(Flag(
            "voice", "Share negative during campaign", row["campaign"], float(row["share_negative"]),
            float(row["share_negative_outside"]),
            f"two-proportion test, window vs outside, n={int(row['texts'])} vs {int(n_out)}, p={row['p_value']:.3g}, "
            f"BH-adjusted p={row['p_bh']:.3g} over the campaigns tested",
            row["severity"],
            questions_for("voice", "Share negative during campaign"), pd.Timestamp(row["start_date"])))
    return flags


def calendar_frame(con, calendar: str, channels: list[str] | None = None) -> pd.DataFrame:
    """The calendar's campaigns (campaign, channel, start_date, end_date) for chart overlays."""
    cal_cols = table_columns(con, calendar)
    end_expr = "coalesce(end_date, start_date)" if "end_date" in cal_cols else "start_date"
    channel_expr = "channel" if "channel" in cal_cols else "CAST(NULL AS VARCHAR)"
    frame = con.execute(f"SELECT campaign, {channel_expr} AS channel, start_date, {end_expr} AS end_date "
                        f"FROM {quote_ident(calendar)} WHERE start_date IS NOT NULL ORDER BY start_date").df()
    if channels is not None and "channel" in cal_cols:
        wanted = {c.lower().strip() for c in channels}
        frame = frame[frame["channel"].fillna("").str.lower().str.strip().isin(wanted)]
    return frame.reset_index(drop=True)


def default_channels(calendar: pd.DataFrame) -> list[str]:
    """The calendar's channels that reach customers' inboxes and screens (DEFAULT_CAMPAIGN_CHANNELS), or all."""
    channels = sorted({str(c) for c in calendar["channel"].dropna()})
    chosen = [c for c in channels if c.lower().strip() in DEFAULT_CAMPAIGN_CHANNELS]
    return chosen or channels


# ---- deal notes ----------------------------------------------------------------------------------

def note_sentiment_by_period(con, table: str, grain: str = DEFAULT_DEAL_GRAIN, deal_type: str | None = "expansion",
                             baseline_periods: int = 8) -> MetricResult:
    """Share of negative deal notes per created period for deals of `deal_type` (None = all):
    negative notes (VADER compound ≤ −0.05) / deals of that type with non-blank notes (ratio), with
    the trailing baseline as in `sentiment_by_period` (`texts` here counts notes). Deals of other
    types, with blank notes or without a created date are left out and counted."""
    scores, _ = ensure_scores(con, table, "notes")
    base, params = deals_metrics.normalised_deals_sql(con, table)
    type_filter = "TRUE" if deal_type is None else "d.deal_class = ?"
    type_params = [] if deal_type is None else [deal_type]
    scored = f"""{base},
scored AS (
  SELECT {period_sql('d.created_date', grain)} AS period, s.label, s.complaint, s.compound, d.created_date AS d
  FROM d JOIN {quote_ident(scores)} s USING (_row) WHERE d.created_date IS NOT NULL AND {type_filter}
)"""
    sql = _period_sentiment_sql(scored, GRAIN_INTERVAL[grain])
    all_params = params + type_params + [baseline_periods]
    frame = _text_rates(con.execute(sql, all_params).df(), grain)
    row = con.execute(f"""WITH {base}
SELECT count(*) FILTER (WHERE NOT ({type_filter})),
  count(*) FILTER (WHERE ({type_filter}) AND s._row IS NULL),
  count(*) FILTER (WHERE ({type_filter}) AND s._row IS NOT NULL AND d.created_date IS NULL)
FROM d LEFT JOIN {quote_ident(scores)} s USING (_row)""", params + type_params * 3).fetchone()
    reasons = {"of other deal types": row[0], "with blank notes": row[1], "without a created date": row[2]}
    return MetricResult(frame, sql, all_params, {k: int(v) for k, v in reasons.items() if v})


# ---- the area contract -----------------------------------------------------------------------------

def area_flags(ws) -> list:
    """Every voice-of-customer flag on the loaded texts and deals, default grains, session thresholds."""
    alpha, k = ws.thresholds["baseline_alpha"], int(ws.thresholds["baseline_periods"])
    min_n = ws.thresholds["voice_min_period_n"]
    flags: list[Flag] = []
    texts = ws.get("texts")
    if texts is not None:
        by_period = sentiment_by_period(ws.con, texts.table, DEFAULT_TEXT_GRAIN, k)
        flags += text_flags(by_period, alpha, min_n, DEFAULT_TEXT_GRAIN)
        calendar = ws.get("campaign_calendar")
        if calendar is not None:
            cal = calendar_frame(ws.con, calendar.table)
            channels = default_channels(cal) if "channel" in calendar.mapping else None
            flags += campaign_text_flags(negative_by_campaign(ws.con, texts.table, calendar.table,
                                                              DEFAULT_LAG_DAYS, channels), alpha, min_n)
    deals = ws.get("deals")
    if deals is not None:
        deal_type = "expansion" if "deal_type" in deals.mapping else None
        label = "Expansion" if deal_type else "All"
        rates = deals_metrics.deal_rates_by_period(ws.con, deals.table, DEFAULT_DEAL_GRAIN, deal_type, "created", k)
        flags += deals_metrics.deal_flags(rates, alpha, min_n, DEFAULT_DEAL_GRAIN, label)
        if "notes" in deals.mapping:
            notes = note_sentiment_by_period(ws.con, deals.table, DEFAULT_DEAL_GRAIN, deal_type, k)
            flags += text_flags(notes, alpha, min_n, DEFAULT_DEAL_GRAIN, f"{label.lower()} deal notes",
                                f"{label} deal notes: ")
            flags += note_complaint_flags(notes, alpha, min_n, DEFAULT_DEAL_GRAIN, label)
        if "source_campaign" in deals.mapping:
            flags += deals_metrics.campaign_flags(deals_metrics.campaign_deal_quality(ws.con, deals.table),
                                                  alpha, min_n)[1]
    return flags


def area_tables(ws) -> dict[str, pd.DataFrame]:
    """The page's main tables for the Excel export."""
    tables: dict[str, pd.DataFrame] = {}
    k = int(ws.thresholds["baseline_periods"])
    texts = ws.get("texts")
    if texts is not None:
        tables["Texts by month"] = sentiment_by_period(ws.con, texts.table, DEFAULT_TEXT_GRAIN, k).frame
        tables["Marketing complaints"] = marketing_complaints(ws.con, texts.table).frame
        tables["Top terms"] = top_terms(ws.con, texts.table, top=30).frame
        tables["Top terms, negative"] = top_terms(ws.con, texts.table, negative_only=True, top=30).frame
        tables["Posters"] = poster_matches(ws.con, texts.table, known_customer_sources(ws)).frame
        calendar = ws.get("campaign_calendar")
        if calendar is not None:
            tables["Negative texts by campaign"] = negative_by_campaign(ws.con, texts.table, calendar.table).frame
    deals = ws.get("deals")
    if deals is not None:
        deal_type = "expansion" if "deal_type" in deals.mapping else None
        tables["Deals by quarter"] = deals_metrics.deal_rates_by_period(
            ws.con, deals.table, DEFAULT_DEAL_GRAIN, deal_type, "created", k).frame
        if "source_campaign" in deals.mapping:
            tables["Deals by campaign"] = deals_metrics.campaign_deal_quality(ws.con, deals.table).frame
    return tables


def latest_complete(frame: pd.DataFrame, column: str) -> tuple[float | None, float | None, str]:
    """(value in the latest complete period, value in the period before, that period's label) —
    for tiles and their deltas. None where there is no such period or the value is NaN."""
    if frame.empty:
        return None, None, ""
    done = frame[~frame["incomplete"].astype(bool)] if "incomplete" in frame else frame
    if done.empty:
        return None, None, ""

    def clean(v):
        return None if v is None or pd.isna(v) else float(v)

    last = done.iloc[-1]
    prev = clean(done.iloc[-2][column]) if len(done) > 1 else None
    return clean(last[column]), prev, str(last["label"])


# ---- terms over time (issue #22) -------------------------------------------------------------------

def rising_terms(con, table: str, grain: str = "quarter", period: pd.Timestamp | None = None,
                 min_texts: int = 5, alpha: float = 0.05, top: int = 15) -> MetricResult:
    """Which words rise in negative texts: the share of negative texts mentioning a term in one period
    (the latest with negative texts unless `period` is given) against the share in all negative
    texts before it.

    Per term (lib.text.terms: words and two-word phrases): a = negative texts of the period that
    mention it, n = negative texts of the period; b, n_before likewise for every earlier period;
    share = a / n, share_before = b / n_before. Tested when a + b ≥ `min_texts` and both periods
    have negative texts: lib.stats.two_proportion_test (pooled z, Fisher's exact when a cell expects
    < 5), two-sided p; Benjamini–Hochberg over every tested term (p_adjusted); `rises` when z > 0
    and p_adjusted < α. Returns the `top` terms with the largest z (rising first). No red flag is
    raised from this: the family of terms is large and has not been calibrated.
    """
    from lib.stats import adjust_p_values

    scores, terms_table = ensure_scores(con, table, "text")
    src = _texts_src(con, table)
    sql = f"""WITH neg AS (
  SELECT t._row, {period_sql('t.date', grain)} AS period
  FROM ({src}) t JOIN {quote_ident(scores)} s USING (_row)
  WHERE s.label = 'negative' AND t.date IS NOT NULL),
chosen AS (SELECT coalesce(CAST(? AS TIMESTAMP), max(period)) AS period FROM neg),
sides AS (
  SELECT neg._row, neg.period = chosen.period AS now FROM neg, chosen WHERE neg.period <= chosen.period),
totals AS (SELECT count(*) FILTER (WHERE now) AS n, count(*) FILTER (WHERE NOT now) AS n_before FROM sides)
SELECT tm.term, count(DISTINCT tm._row) FILTER (WHERE s.now) AS texts,
  count(DISTINCT tm._row) FILTER (WHERE NOT s.now) AS texts_before, any_value(totals.n) AS n,
  any_value(totals.n_before) AS n_before, any_value(chosen.period) AS period
FROM {quote_ident(terms_table)} tm JOIN sides s USING (_row), totals, chosen
GROUP BY tm.term"""
    params = [None if period is None else pd.Timestamp(period).to_pydatetime()]
    frame = con.execute(sql, params).df()
    columns = ["term", "texts", "n", "share", "texts_before", "n_before", "share_before", "z", "p_value",
               "p_adjusted", "rises"]
    if frame.empty:
        return MetricResult(pd.DataFrame(columns=columns), sql, params, _excluded_texts(con, table, scores))
    frame = frame[(frame["texts"] + frame["texts_before"] >= min_texts) & (frame["n"] > 0) & (frame["n_before"] > 0)]
    # one array call for every term (two_proportion_test's numbers per term, to the last bit)
    tests = (two_proportion_test_arrays(frame["texts"], frame["n"], frame["texts_before"], frame["n_before"])
             if len(frame) else ([], [], [], []))
    frame = frame.assign(share=tests[0], share_before=tests[1], z=tests[2], p_value=tests[3])
    frame["p_adjusted"] = adjust_p_values(frame["p_value"], "fdr_bh") if len(frame) else []
    frame["rises"] = (frame["z"] > 0) & (frame["p_adjusted"] < alpha)
    frame = frame.sort_values(["z", "term"], ascending=[False, True]).head(top)
    for col in ("texts", "texts_before", "n", "n_before"):
        frame[col] = frame[col].astype("int64")
    return MetricResult(frame[columns].reset_index(drop=True), sql, params, _excluded_texts(con, table, scores))


def negative_periods(con, table: str, grain: str = "quarter") -> list[pd.Timestamp]:
    """Periods (oldest first) that have at least one dated negative text — the choices for `rising_terms`."""
    scores, _ = ensure_scores(con, table, "text")
    rows = con.execute(f"""SELECT DISTINCT {period_sql('t.date', grain)} AS period
FROM ({_texts_src(con, table)}) t JOIN {quote_ident(scores)} s USING (_row)
WHERE s.label = 'negative' AND t.date IS NOT NULL ORDER BY period""").fetchall()
    return [pd.Timestamp(r[0]) for r in rows]


# ---- deal notes that mention marketing (issue #22) ---------------------------------------------------

def deal_marketing_notes(con, table: str) -> MetricResult:
    """Every deal whose notes complain about marketing — the posts' test, lib.text.complaint_about_marketing
    (a marketing channel with a complaint cue or negative sentiment; spam by itself) — newest first:
    created_date, deal_id, deal_class, outcome, amount, notes, compound (VADER), row."""
    scores, _ = ensure_scores(con, table, "notes")
    base, params = deals_metrics.normalised_deals_sql(con, table)
    present = table_columns(con, table)
    notes = quote_ident("notes") if "notes" in present else "CAST(NULL AS VARCHAR)"
    raw = f"(SELECT _row, {notes} AS notes FROM {quote_ident(table)}) r"
    sql = f"""WITH {base}
SELECT d.created_date, d.deal_id, d.deal_class, d.outcome, d.amount, r.notes, round(s.compound, 3) AS compound,
  d._row AS row
FROM d JOIN {quote_ident(scores)} s USING (_row) JOIN {raw} USING (_row)
WHERE s.complaint
ORDER BY d.created_date DESC NULLS LAST, d._row"""
    return MetricResult(con.execute(sql, params).df(), sql, params)


def note_complaint_flags(result: MetricResult, alpha: float, min_n: float, grain: str, label: str,
                         frames: dict[str, pd.DataFrame] | None = None) -> list[Flag]:
    """Periods whose share of deal notes complaining about marketing rose above the trailing baseline —
    the posts' complaint flag (`text_flag_frames`, BH over the periods tested) on `note_sentiment_by_period`.
    ``frames``: the page's own ``text_flag_frames(result, alpha, min_n)`` (computed here when not given)."""
    frame = (text_flag_frames(result, alpha, min_n) if frames is None else frames)["complaints"]
    metric = "Complaints about marketing"
    return [Flag("voice", f"{label} deal notes: {metric}", f"{label.lower()} deal notes in {period_label(row['period'], grain)}",
                 float(row["complaint_share"]), float(row["base_complaint_share"]),
                 f"two-proportion test vs trailing baseline, {int(row['complaints'])} of n={int(row['texts'])} "
                 f"vs {int(row['base_complaints'])} of {int(row['base_texts'])}, p={row['p_value']:.3g}, "
                 f"BH-adjusted p={row['p_bh']:.3g} over the periods tested",
                 row["severity"], questions_for("voice", metric), pd.Timestamp(row["period"]))
            for row in frame[frame["flagged"]].to_dict("records")]

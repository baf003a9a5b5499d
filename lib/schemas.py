"""Dataset kinds, their canonical columns, and recognising an export's kind and column map.

A *kind* is what a file is about (email campaigns, NPS responses…). Each kind declares canonical
columns (snake_case, the same in every module) with a value type and whether the analysis needs it.
The vendor synonyms for each canonical column live in `lib/synonyms.py`, one readable table.

Recognition normalises every header (lower case, punctuation and spaces folded) and matches it
against the synonyms; the kind whose required columns are all found and whose columns match best
wins. The user can correct the map on the page; `apply_fixes` merges the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from lib.errors import MappingError
from lib.synonyms import SYNONYMS

# Value types a canonical column can have; lib/values.py parses each.
TEXT, INTEGER, NUMBER, DATE, PERCENT, BOOL = "text", "integer", "number", "date", "percent", "bool"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    label: str
    required: bool = False


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    columns: tuple[Column, ...]
    # Groups of canonical columns of which at least one must be mapped (e.g. sent or delivered).
    one_of: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


def _c(name, type_, label, required=False):
    return Column(name, type_, label, required)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("email_campaigns", "Email campaigns (one row per send)", (
            _c("campaign", TEXT, "Campaign name", True),
            _c("send_date", DATE, "Send date", True),
            _c("subject", TEXT, "Subject line"),
            _c("topic", TEXT, "Topic / type"),
            _c("list_name", TEXT, "List / segment"),
            _c("sent", INTEGER, "Sent (recipients)"),
            _c("delivered", INTEGER, "Delivered"),
            _c("bounces", INTEGER, "Bounces (total)"),
            _c("soft_bounces", INTEGER, "Soft bounces"),
            _c("hard_bounces", INTEGER, "Hard bounces"),
            _c("unique_opens", INTEGER, "Unique opens", True),
            _c("machine_opens", INTEGER, "Machine / privacy opens"),
            _c("unique_clicks", INTEGER, "Unique clicks", True),
            _c("unsubscribes", INTEGER, "Unsubscribes"),
            _c("spam_complaints", INTEGER, "Spam complaints"),
            _c("list_size", INTEGER, "List size"),
            _c("vendor_open_rate", PERCENT, "Open rate (as exported)"),
            _c("vendor_click_rate", PERCENT, "Click rate (as exported)"),
        ), one_of=(("sent", "delivered"),)),
        Kind("email_events", "Email events (one row per recipient event)", (
            _c("recipient", TEXT, "Recipient (email or id)", True),
            _c("event_time", DATE, "Event time", True),
            _c("event", TEXT, "Event type (sent, open, click…)", True),
            _c("campaign", TEXT, "Campaign", True),
            _c("topic", TEXT, "Topic / type"),
            _c("list_name", TEXT, "List / segment"),
            _c("user_agent", TEXT, "User agent / client"),
        )),
        Kind("in_app_events", "In-app message events", (
            _c("user_id", TEXT, "User", True),
            _c("event_time", DATE, "Event time", True),
            _c("message", TEXT, "Message / campaign", True),
            _c("event", TEXT, "Event (impression, click, dismiss…)", True),
            _c("message_type", TEXT, "Message type (marketing, product, service)"),
            _c("dwell", NUMBER, "Dwell time"),
            _c("platform", TEXT, "Platform"),
        )),
        Kind("in_app_messages", "In-app messages (aggregated per message per day)", (
            _c("message", TEXT, "Message / campaign", True),
            _c("date", DATE, "Date", True),
            _c("impressions", INTEGER, "Impressions", True),
            _c("unique_impressions", INTEGER, "Unique impressions / reach"),
            _c("clicks", INTEGER, "Clicks / interactions"),
            _c("dismissals", INTEGER, "Dismissals / closes"),
            _c("mutes", INTEGER, "Mutes / opt-outs"),
            _c("message_type", TEXT, "Message type"),
            _c("median_dwell", NUMBER, "Median dwell"),
        )),
        Kind("nps_responses", "NPS survey responses", (
            _c("score", INTEGER, "Score 0–10", True),
            _c("respondent", TEXT, "Respondent (id or email)"),
            _c("response_date", DATE, "Response date"),
            _c("comment", TEXT, "Comment"),
            _c("sent_date", DATE, "Survey sent / invited date"),
        )),
        Kind("subscriptions", "Subscriptions / customers with value", (
            _c("customer_id", TEXT, "Customer", True),
            _c("start_date", DATE, "Start date", True),
            _c("subscription_id", TEXT, "Subscription"),
            _c("end_date", DATE, "End / cancel date"),
            _c("status", TEXT, "Status"),
            _c("plan", TEXT, "Plan / tier"),
            _c("mrr", NUMBER, "MRR (monthly value)"),
            _c("arr", NUMBER, "ARR (annual value)"),
            _c("amount", NUMBER, "Price / amount per interval"),
            _c("billing_interval", TEXT, "Billing interval"),
            _c("quantity", NUMBER, "Quantity / seats"),
            _c("currency", TEXT, "Currency"),
            _c("is_trial", BOOL, "Trial"),
            _c("trial_end", DATE, "Trial end"),
            _c("auto_renew", BOOL, "Auto-renew"),
            _c("referred_by", TEXT, "Referred by (referrer id or email)"),
        )),
        Kind("customers", "Customer accounts", (
            _c("customer_id", TEXT, "Customer", True),
            _c("signup_date", DATE, "Signup / created date", True),
            _c("customer_name", TEXT, "Name"),
            _c("email", TEXT, "Email"),
            _c("segment", TEXT, "Segment / industry"),
            _c("plan", TEXT, "Plan / tier"),
            _c("churned", BOOL, "Churned"),
            _c("churn_date", DATE, "Churn date"),
            _c("is_trial", BOOL, "Trial"),
            _c("source", TEXT, "Source / referral"),
            _c("referred_by", TEXT, "Referred by (referrer id or email)"),
        )),
        Kind("leads", "Leads / contacts with lifecycle dates", (
            _c("lead_id", TEXT, "Lead / contact", True),
            _c("created_date", DATE, "Created / first contact date"),
            _c("mql_date", DATE, "Became MQL date"),
            _c("sql_date", DATE, "Became SQL date"),
            _c("opportunity_date", DATE, "Became opportunity date"),
            _c("customer_date", DATE, "Became customer date"),
            _c("lifecycle_stage", TEXT, "Current lifecycle stage"),
            _c("email", TEXT, "Email"),
            _c("source", TEXT, "Source / origin"),
            _c("campaign", TEXT, "Campaign / program"),
            _c("lead_score", NUMBER, "Lead score"),
            _c("status", TEXT, "Lead status"),
            _c("disqualified_date", DATE, "Disqualified date"),
            _c("company_size", TEXT, "Company size / employees"),
            _c("industry", TEXT, "Industry"),
            _c("job_title", TEXT, "Job title"),
            _c("referred_by", TEXT, "Referred by (referrer id or email)"),
        ), one_of=(("created_date", "mql_date", "sql_date", "opportunity_date", "customer_date"),)),
        Kind("lead_stages", "Lead stage history (lead, stage, date)", (
            _c("lead_id", TEXT, "Lead", True),
            _c("stage", TEXT, "Stage", True),
            _c("stage_date", DATE, "Date reached", True),
            _c("source", TEXT, "Source / campaign"),
        )),
        Kind("activity", "Activity events / order lines", (
            _c("user_id", TEXT, "User / customer", True),
            _c("event_time", DATE, "Event time", True),
            _c("event", TEXT, "Event name"),
            _c("revenue", NUMBER, "Revenue"),
            _c("quantity", NUMBER, "Quantity"),
            _c("unit_price", NUMBER, "Unit price"),
            _c("order_id", TEXT, "Order / invoice"),
            _c("signup_date", DATE, "Signup date"),
        )),
        Kind("texts", "Community posts, reviews, CS notes", (
            _c("text", TEXT, "Text", True),
            _c("date", DATE, "Date", True),
            _c("author", TEXT, "Author"),
            _c("email", TEXT, "Email"),
            _c("source", TEXT, "Source / channel"),
            _c("rating", NUMBER, "Rating"),
            _c("sentiment_label", TEXT, "Sentiment label (as exported)"),
        )),
        Kind("deals", "Deals / opportunities", (
            _c("deal_id", TEXT, "Deal", True),
            _c("created_date", DATE, "Created date"),
            _c("close_date", DATE, "Close date"),
            _c("outcome", TEXT, "Outcome / stage"),
            _c("deal_type", TEXT, "Deal type (new, expansion, renewal)"),
            _c("amount", NUMBER, "Amount"),
            _c("qualified", BOOL, "Qualified"),
            _c("source_campaign", TEXT, "Source campaign"),
            _c("notes", TEXT, "Notes"),
            _c("customer_id", TEXT, "Customer / account"),
            _c("lead_id", TEXT, "Lead"),
            _c("segment", TEXT, "Segment"),
        ), one_of=(("created_date", "close_date"),)),
        Kind("value_history", "Customer value history (customer, date, MRR)", (
            _c("customer_id", TEXT, "Customer", True),
            _c("date", DATE, "Date", True),
            _c("mrr", NUMBER, "MRR on that date", True),
            _c("currency", TEXT, "Currency"),
            _c("plan", TEXT, "Plan / tier"),
            _c("movement_type", TEXT, "Movement type (as exported)"),
        )),
        Kind("campaign_calendar", "Campaign calendar", (
            _c("campaign", TEXT, "Campaign", True),
            _c("start_date", DATE, "Start date", True),
            _c("end_date", DATE, "End date"),
            _c("channel", TEXT, "Channel"),
        )),
        Kind("incidents", "Incidents (customer, date)", (
            _c("customer_id", TEXT, "Customer", True),
            _c("incident_date", DATE, "Incident date", True),
            _c("description", TEXT, "Description"),
        )),
        Kind("campaign_costs", "Program / campaign costs", (
            _c("campaign", TEXT, "Campaign / program", True),
            _c("cost", NUMBER, "Cost", True),
            _c("period", DATE, "Period / month"),
        )),
    ]
}


def normalise_header(text: str) -> str:
    """Fold a header for matching: joined words split (camelCase, 'OrderID', 'MQLDate'), lower
    case, '%'→'percent', '#'→'number', other punctuation→space.

    >>> normalise_header('Total_Recipients')
    'total recipients'
    >>> normalise_header('  Open Rate (%) ')
    'open rate percent'
    >>> [normalise_header(h) for h in ('UserId', 'userID', 'OrderID', 'MQLDate', 'TotalCharges')]
    ['user id', 'user id', 'order id', 'mql date', 'total charges']
    """
    text = _CAMEL_LOWER.sub(" ", str(text))  # userId → user Id
    text = _CAMEL_UPPER.sub(" ", text)  # MQLDate → MQL Date
    text = text.lower().replace("%", " percent ").replace("#", " number ")
    text = re.sub(r"[^0-9a-z]+", " ", text)
    return " ".join(text.split())


_CAMEL_LOWER = re.compile(r"(?<=[a-z])(?=[A-Z])")
_CAMEL_UPPER = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")


def _normalise_synonym(synonym: str) -> str:
    """A synonym folded like a header; '*_created' (any header ending in 'created') keeps its star."""
    if synonym.startswith("*"):
        return "*" + normalise_header(synonym[1:])
    return normalise_header(synonym)


_NORMALISED = {
    # The canonical name comes last, so a vendor's own column of that name loses to a real synonym.
    kind: {canon: [_normalise_synonym(s) for s in [*syns, canon]] for canon, syns in cols.items()}
    for kind, cols in SYNONYMS.items()
}


@dataclass
class Recognition:
    """Best guess of a file's kind and column map (canonical name → source column)."""

    kind: str
    mapping: dict[str, str]
    missing: list[str] = field(default_factory=list)
    score: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.missing


def map_columns(kind: str, columns: list[str], frame: pd.DataFrame | None = None) -> dict[str, str]:
    """Map a kind's canonical columns to source columns by synonyms (exact, then whole-word
    containment; a '*_created' synonym matches any header ending in 'created').

    Each source column is used once; earlier canonical columns win ties. With the file's `frame`,
    values help where headers cannot: an NPS score is the first 0–10 question whose answers are
    whole numbers 0–10 (`candidates`), and a texts file without a known text header gets the
    column that reads like text (`text_column_by_content`).
    """
    norm = {c: normalise_header(c) for c in columns}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    if kind == "nps_responses":
        scores = candidates(kind, columns, frame).get("score")
        if scores:
            mapping["score"] = scores[0]
            used.add(scores[0])
    synonyms = _NORMALISED.get(kind, {})
    for matcher in (_exact, _contains):
        for canon in (c.name for c in KINDS[kind].columns):
            if canon in mapping:
                continue
            for syn in synonyms.get(canon, [normalise_header(canon)]):
                hit = next((c for c in columns if c not in used and matcher(norm[c], syn)), None)
                if hit is not None:
                    mapping[canon] = hit
                    used.add(hit)
                    break
    if kind == "texts" and "text" not in mapping and frame is not None:
        hit = text_column_by_content(frame, [c for c in columns if c not in used])
        if hit is not None:
            mapping["text"] = hit
    return mapping


def _exact(header: str, synonym: str) -> bool:
    # Spaces do not count, so a header joined differently from the synonym still matches
    # ('Hubspot Score' and 'HubSpot Score', 'Userid' and 'User ID').
    if synonym.startswith("*"):
        return header.endswith(" " + synonym[1:])
    return header.replace(" ", "") == synonym.replace(" ", "")


def _contains(header: str, synonym: str) -> bool:
    # Whole-word containment for long synonyms only, so 'how likely are you to recommend X' matches.
    return len(synonym) >= 8 and f" {synonym} " in f" {header} "


# ---- columns recognised by their values as well as their header ---------------------------------

# A 0–10 question, by its (normalised) header: survey tools name the column after the question.
_SCORE_QUESTION = re.compile(
    r"\b0 (?:to )?10\b|\bhow likely\b|\brecommend\b|\b(?:how would you|please|would you) rate\b|^rate\b")
_RECOMMEND = re.compile(r"\brecommend\b|\bhow likely\b")
VALUE_SAMPLE_ROWS = 2000  # rows whose values are looked at when picking a column by its values
SCORE_VALUE_SHARE = 0.9  # share of a 0–10 column's non-blank answers that must be whole numbers 0–10
TEXT_MIN_FILLED = 0.5  # a text column has text in at least half its rows…
TEXT_MIN_MEDIAN_CHARS = 20  # …its typical (median) text is a sentence, not a name or a code…
TEXT_MIN_MEDIAN_WORDS = 3  # …of a few words (an id or a URL is one long word)


def candidates(kind: str, columns: list[str], frame: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Columns that fit a canonical column by header *and* values, best first — so the page can
    say which one was used and offer the others (today: an NPS survey's 0–10 questions).

    Score: Qualtrics' 'Q1' beside 'Q1_NPS_GROUP'; then headers that are a score synonym ('Score',
    'NPS'); then questions that say recommend / how likely; then other 0–10 questions ('0-10',
    '0 to 10', 'how would you rate…'), each group in file order. With `frame`, only columns whose
    non-blank answers are at least 90 % whole numbers 0–10 are kept — unless none is, when the
    header order stands (the bad answers are then counted as usual).
    """
    if kind != "nps_responses":
        return {}
    norm = {c: normalise_header(c) for c in columns}
    qualtrics = [c[:-10] for c in columns if str(c).upper().endswith("_NPS_GROUP") and c[:-10] in columns]
    named = [c for c in columns for syn in _NORMALISED[kind]["score"] if _exact(norm[c], syn) or _contains(norm[c], syn)]
    recommend = [c for c in columns if _RECOMMEND.search(norm[c])]
    questions = [c for c in columns if _SCORE_QUESTION.search(norm[c])]
    ordered = list(dict.fromkeys(qualtrics[:1] + named + recommend + questions))
    if frame is not None:
        fitting = [c for c in ordered if c in frame.columns and _zero_to_ten_share(frame[c]) >= SCORE_VALUE_SHARE]
        ordered = fitting or ordered
    return {"score": ordered} if ordered else {}


def _zero_to_ten_share(series: pd.Series) -> float:
    """Share of the non-blank cells (of the first rows) that are whole numbers 0–10."""
    from lib.values import parse_number

    parsed = parse_number(series.head(VALUE_SAMPLE_ROWS))
    filled = parsed.values.notna() | parsed.bad
    if not filled.any():
        return 0.0
    ok = parsed.values.between(0, 10) & (parsed.values % 1 == 0)
    return float(ok.sum() / filled.sum())


def text_column_by_content(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """The column among `columns` that reads most like free text: filled in at least half its
    rows, with the longest *median* text (at least 20 characters and 3 words). The median, not the
    longest cell: one pasted 1 MB cell in a notes column must not make it the text column.
    """
    best, best_median = None, float(TEXT_MIN_MEDIAN_CHARS) - 0.5
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column].head(VALUE_SAMPLE_ROWS)
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        text = values.astype("string").str.strip()
        filled = text[text.fillna("").str.len() > 0]
        if len(values) == 0 or len(filled) < TEXT_MIN_FILLED * len(values):
            continue
        median = float(filled.str.len().median())
        if filled.str.count(r"\s+").median() + 1 < TEXT_MIN_MEDIAN_WORDS:
            continue
        if median > best_median:
            best, best_median = column, median
    return best


def mapping_notes(kind: str, mapping: dict[str, str], fits: dict[str, list[str]]) -> list[str]:
    """Plain sentences on a column chosen among several that fit (`candidates`): which one is used
    and which others the file has, with where to switch."""
    notes = []
    for canon, columns in fits.items():
        others = [c for c in columns if c != mapping.get(canon)]
        if canon not in mapping or not others:
            continue
        label = KINDS[kind].column(canon).label
        shown = "; ".join(f"“{c}”" for c in others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        notes.append(f"{label} read from “{mapping[canon]}”. The file has {len(others)} other column"
                     f"{'s' if len(others) > 1 else ''} that fit{'' if len(others) > 1 else 's'}: {shown} — "
                     f"pick one under Columns → {label}.")
    return notes


def missing_columns(kind: str, mapping: dict[str, str]) -> list[str]:
    """Canonical columns the analysis needs that the map lacks (a `one_of` group reads 'a or b')."""
    spec = KINDS[kind]
    missing = [c for c in spec.required if c not in mapping]
    for group in spec.one_of:
        if not any(c in mapping for c in group):
            missing.append(" or ".join(group))
    return missing


def recognise(columns: list[str], kinds: list[str] | None = None, frame: pd.DataFrame | None = None
              ) -> Recognition:
    """Pick the kind whose columns this header (and, given the `frame`, its values) matches best.

    Score = 3 × share of the kind's required columns found + ½ × share of the kind's columns found
    + ½ × share of the file's columns used — the last term keeps a kind with one required column
    (NPS: a score) from claiming a wide file that another kind explains better.
    """
    best: Recognition | None = None
    for kind in kinds or list(KINDS):
        mapping = map_columns(kind, columns, frame)
        missing = missing_columns(kind, mapping)
        spec = KINDS[kind]
        n_required = len(spec.required) + len(spec.one_of)
        found_required = n_required - len(missing)
        score = (3 * found_required / max(n_required, 1) + 0.5 * len(mapping) / len(spec.columns)
                 + 0.5 * len(mapping) / max(len(columns), 1))
        candidate = Recognition(kind, mapping, missing, score)
        if best is None or (candidate.complete, score) > (best.complete, best.score):
            best = candidate
    assert best is not None
    return best


def apply_fixes(kind: str, mapping: dict[str, str], fixes: dict[str, str | None],
                columns: list[str]) -> dict[str, str]:
    """Merge the user's fixes (canonical → source column, or None to unmap) into a map.

    A source column chosen by the user is taken away from any other canonical column.
    """
    merged = dict(mapping)
    for canon, source in fixes.items():
        if canon not in {c.name for c in KINDS[kind].columns}:
            raise MappingError(f"'{canon}' is not a column of {KINDS[kind].label}.")
        if source is None:
            merged.pop(canon, None)
            continue
        if source not in columns:
            raise MappingError(f"Column '{source}' is not in the file. Columns are: {', '.join(columns)}.")
        for other, src in list(merged.items()):
            if src == source and other != canon:
                del merged[other]
        merged[canon] = source
    return merged

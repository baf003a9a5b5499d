"""Text signals shared by the NPS and Voice-of-customer pages: sentiment, distinguishing terms and
complaints about marketing. Pure functions over lists of strings; no DuckDB, no Streamlit.

- Sentiment is VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment
  Analysis of Social Media Text", ICWSM), a lexicon analyser: no training, no download, and the
  same text always gets the same score. Its compound score runs from −1 (most negative) to +1; the
  authors' convention, used here, is positive ≥ 0.05, negative ≤ −0.05, neutral between.
- Distinguishing terms compare how many texts of group A and of group B mention a term: the log
  odds ratio of the 2×2 table (mentions / does not mention × A / B), with the Haldane–Anscombe
  +0.5 correction and Woolf's standard error, so z = log OR / SE ranks terms by how reliably they
  separate the groups, not by raw frequency (Agresti, Categorical Data Analysis, 3rd ed., §2.4).
- A complaint about marketing is a text that names a marketing channel (email, newsletter,
  notification, promo, spam…) together with a complaint cue (too many, stop, annoying, unsubscribe…)
  or negative sentiment. "Spam" on its own counts: nobody calls wanted mail spam.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import Iterable

import pandas as pd

# VADER authors' cut-offs on the compound score (vaderSentiment README, "about the scoring").
POSITIVE_MIN = 0.05
NEGATIVE_MAX = -0.05
# Texts are read up to this many characters (about 800 words, a long review). VADER's time grows
# faster than the text (measured here: 5,000 characters 0.15 s, 20,000 1 s; one 1 MB cell did not
# finish in 5 minutes and froze the Voice page), so a pasted log or document is read by its start.
MAX_SCORED_CHARS = 5000

# Words that carry no meaning on their own. Bigrams are dropped only when they start or end with
# FILLER, so "too many", "not working" and "never stop" survive as phrases.
FILLER = frozenset("""
a an the and or but if then of to in on at by for with from as into about over than that this these
those it its it's i i'm i've i'd me my we we're our us you you're your he she they them their is are
was were be been being am do does did have has had will would can could should shall may might must
just also there here what which who whom when where how all any some each every up out so
""".split())
STOPWORDS = FILLER | frozenset("""
not no never too very really much many more most lot lots bit get got getting gets make makes made
one two thing things still even again only quite well im ive dont doesnt didnt cant wont isnt
""".split())

_TOKEN = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"/|\u2013\u2014]+|\s-+\s")
_EMAIL = re.compile(r"\be-(?=mail)", re.I)

_CHANNEL = re.compile(
    r"\b(e-?mails?|e-?mailing|e-?mailed|newsletters?|mailings?|mails|inbox|notifications?|notifs?|"
    r"push(?:es)?|pop-?ups?|banners?|messages|texts|sms|promos?|promotions?|promotional|offers?|"
    r"ads|adverts?|advertising|marketing|upsells?|upselling|campaigns?|spam(?:med|ming|my)?)\b", re.I)
_SPAM = re.compile(r"\bspam(?:med|ming|my)?\b", re.I)
_CUE = re.compile(
    r"\b(too many|so many|way too|too much|too often|constant(?:ly)?|non-?stop|never stop|every day|"
    r"all the time|flood(?:ed|ing)?|bombard(?:ed|ing)?|barrage|overwhelm(?:ed|ing)?|"
    r"annoy(?:ed|ing|s)?|irritat(?:ed|ing)|stop|unsubscrib(?:e|ed|ing)|opt(?:ed)? out|mute(?:d)?|"
    r"irrelevant|pushy|aggressive|a bit much|clutter(?:ed)?|tired of|sick of|fed up)\b", re.I)


@lru_cache(maxsize=1)
def _analyser():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _clean(text: object) -> str | None:
    """The text stripped and cut to its first MAX_SCORED_CHARS characters, or None for missing/blank cells."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text is pd.NA:
        return None
    value = str(text).strip()[:MAX_SCORED_CHARS]
    return value or None


def sentiment_label(compound: float) -> str | None:
    """'positive' (≥ 0.05), 'negative' (≤ −0.05), 'neutral' between; None for NaN.

    >>> sentiment_label(0.05), sentiment_label(-0.2), sentiment_label(0.0)
    ('positive', 'negative', 'neutral')
    """
    if compound is None or math.isnan(compound):
        return None
    if compound >= POSITIVE_MIN:
        return "positive"
    if compound <= NEGATIVE_MAX:
        return "negative"
    return "neutral"


def sentiment_scores(texts: Iterable[object]) -> pd.DataFrame:
    """VADER sentiment of each text, one row per input in the same order.

    Columns: compound (−1..+1), pos, neu, neg (shares of the text's sentiment-bearing words, each
    0..1, summing to 1), label (positive / neutral / negative, cut-offs ±0.05). Blank or missing
    texts get NaN scores and label None — they are not neutral, they are unknown. A text longer
    than MAX_SCORED_CHARS is scored on its first MAX_SCORED_CHARS characters.

    >>> sentiment_scores(["I love it", None]).label.tolist()
    ['positive', None]
    """
    rows = []
    analyser = _analyser()
    for text in texts:
        value = _clean(text)
        if value is None:
            rows.append((math.nan, math.nan, math.nan, math.nan, None))
            continue
        s = analyser.polarity_scores(value)
        rows.append((s["compound"], s["pos"], s["neu"], s["neg"], sentiment_label(s["compound"])))
    frame = pd.DataFrame([r[:4] for r in rows], columns=["compound", "pos", "neu", "neg"], dtype=float)
    frame["label"] = pd.Series([r[4] for r in rows], dtype=object)
    return frame


# What a lexicon cannot see, said wherever its score stands beside people's labels.
LEXICON_LIMITS = ("A word lexicon scores the words, not the meaning: it misses sarcasm (“Great, another two-hour "
                  "delay”), complaints told without negative words (“Sitting at gate 9 for 4 hours now”) and "
                  "domain words (“cancelled”, “on hold”), and reads polite words (“thanks”, “free”) as praise.")


def file_sentiment_labels(values: Iterable[object]) -> list[str | None]:
    """A sentiment column as exported (listening tools, hand-labelled sets) read as 'negative',
    'neutral' or 'positive'; None where a cell is blank or cannot be read (it is counted).

    Text: a cell starting with 'neg', 'neu' or 'pos' (Negative, neutral, POSITIVE, negatief…).
    Numbers: only a signed scale (some value below 0: −1/0/+1, Talkwalker's −5…+5) is read, by
    its sign; a column of non-negative numbers (0/2/4, stars) is not a polarity and stays unread.

    >>> file_sentiment_labels(["Negative", "neutral ", "POSITIVE", "mixed", None])
    ['negative', 'neutral', 'positive', None, None]
    >>> file_sentiment_labels([-1, 0, 1, "2"]), file_sentiment_labels([0, 2, 4])
    (['negative', 'neutral', 'positive', 'positive'], [None, None, None])
    """
    cells = [_clean(v) for v in values]
    numbers = [_number(c) for c in cells]
    signed = any(n is not None and n < 0 for n in numbers)
    out: list[str | None] = []
    for cell, number in zip(cells, numbers):
        if cell is None:
            out.append(None)
        elif number is not None:
            out.append(None if not signed else "negative" if number < 0 else "positive" if number > 0 else "neutral")
        else:
            out.append({"neg": "negative", "neu": "neutral", "pos": "positive"}.get(cell[:3].lower()))
    return out


def _number(cell: str | None) -> float | None:
    try:
        number = float(cell) if cell is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


def tokens(text: object) -> list[str]:
    """Lower-case word tokens (apostrophes kept inside words; digits and punctuation dropped).

    >>> tokens("Don't send SO many e-mails!!")
    ["don't", 'send', 'so', 'many', 'e', 'mails']
    """
    value = _clean(text)
    return _TOKEN.findall(value.lower().replace("’", "'")) if value else []


def terms(text: object, bigrams: bool = True) -> set[str]:
    """The distinct terms of a text: words that are not STOPWORDS, plus (optionally) adjacent word
    pairs that neither start nor end with FILLER, within a clause (pairs never span punctuation).
    "e-mail" is read as "email".

    >>> sorted(terms("Way too many e-mails, spam"))
    ['emails', 'many emails', 'spam', 'too many', 'way', 'way too']
    """
    value = _clean(text)
    if value is None:
        return set()
    found: set[str] = set()
    for clause in _CLAUSE.split(_EMAIL.sub("e", value)):
        words = [w.strip("'") for w in tokens(clause)]
        words = [w for w in words if w]
        found |= {w for w in words if w not in STOPWORDS and len(w) > 1}
        if bigrams:
            found |= {f"{a} {b}" for a, b in zip(words, words[1:]) if a not in FILLER and b not in FILLER}
    return found


def distinguishing_terms(texts_a: Iterable[object], texts_b: Iterable[object], top: int = 15,
                         min_texts: int = 3, bigrams: bool = True) -> pd.DataFrame:
    """Terms that separate group A's texts from group B's (e.g. detractors' comments from promoters').

    For each term: a = texts of A that mention it, b = texts of B that mention it, out of N_A and
    N_B non-blank texts (a text counts once however often it repeats the term). Then
        log OR = ln[(a + ½)/(N_A − a + ½)] − ln[(b + ½)/(N_B − b + ½)]
        SE     = √(1/(a+½) + 1/(N_A−a+½) + 1/(b+½) + 1/(N_B−b+½))
        z      = log OR / SE
    Positive z means the term is typical of A, negative of B. Terms in fewer than `min_texts`
    texts overall are dropped (too rare to read), and so is a word whose every mention is inside a
    listed phrase ("impressed" when it only occurs as "not impressed"). Returns up to `top` terms per side, A's first
    (z descending) then B's (z ascending), with columns term, texts_a, texts_b, share_a (a/N_A),
    share_b (b/N_B), log_odds_ratio, z, side ('a' or 'b'). Empty frame when either group has
    no text.

    Worked example (tests/test_text.py): A = 4 texts, 3 mention "spam"; B = 4 texts, none does:
    log OR = ln(3.5/1.5) − ln(0.5/4.5) = 0.8473 + 2.1972 = 3.0445;
    SE = √(1/3.5 + 1/1.5 + 1/0.5 + 1/4.5) = √3.1746 = 1.7817; z = 1.7087.
    """
    columns = ["term", "texts_a", "texts_b", "share_a", "share_b", "log_odds_ratio", "z", "side"]
    docs_a = [terms(t, bigrams) for t in texts_a if _clean(t) is not None]
    docs_b = [terms(t, bigrams) for t in texts_b if _clean(t) is not None]
    n_a, n_b = len(docs_a), len(docs_b)
    if not n_a or not n_b:
        return pd.DataFrame(columns=columns)
    count_a = Counter(term for doc in docs_a for term in doc)
    count_b = Counter(term for doc in docs_b for term in doc)
    rows = []
    for term in set(count_a) | set(count_b):
        a, b = count_a.get(term, 0), count_b.get(term, 0)
        if a + b < min_texts:
            continue
        log_or = math.log((a + 0.5) / (n_a - a + 0.5)) - math.log((b + 0.5) / (n_b - b + 0.5))
        se = math.sqrt(1 / (a + 0.5) + 1 / (n_a - a + 0.5) + 1 / (b + 0.5) + 1 / (n_b - b + 0.5))
        rows.append((term, a, b, a / n_a, b / n_b, log_or, log_or / se))
    frame = _drop_subsumed(pd.DataFrame(rows, columns=columns[:-1]))
    if frame.empty:
        return pd.DataFrame(columns=columns)
    side_a = frame[frame["z"] > 0].sort_values(["z", "term"], ascending=[False, True]).head(top)
    side_b = frame[frame["z"] < 0].sort_values(["z", "term"], ascending=[True, True]).head(top)
    side_a = side_a.assign(side="a")
    side_b = side_b.assign(side="b")
    return pd.concat([side_a, side_b], ignore_index=True)[columns]


def _drop_subsumed(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop a word when a phrase containing it is in exactly the same texts of both groups
    ("impressed" when every mention is "not impressed"): the phrase says more."""
    if frame.empty:
        return frame
    phrases = frame[frame["term"].str.contains(" ", regex=False)]
    covered = {(word, a, b) for term, a, b in zip(phrases["term"], phrases["texts_a"], phrases["texts_b"])
               for word in term.split(" ")}
    keep = [" " in term or (term, a, b) not in covered
            for term, a, b in zip(frame["term"], frame["texts_a"], frame["texts_b"])]
    return frame[keep]


def complaint_about_marketing(text: object) -> bool:
    """True when a text complains about marketing: it names a marketing channel (email, newsletter,
    notification, push, pop-up, promo, offer, ads, spam…) and either carries a complaint cue (too
    many, so many, constant, every day, stop, annoying, unsubscribe, irrelevant…) or its VADER
    sentiment is negative (compound ≤ −0.05). A mention of spam is a complaint by itself.
    Blank text → False.

    >>> complaint_about_marketing("Way too many emails"), complaint_about_marketing("Loved the webinar email")
    (True, False)
    """
    value = _clean(text)
    if value is None or not _CHANNEL.search(value):
        return False
    if _SPAM.search(value) or _CUE.search(value):
        return True
    return _analyser().polarity_scores(value)["compound"] <= NEGATIVE_MAX

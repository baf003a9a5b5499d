"""lib/text.py: sentiment, distinguishing terms, complaints about marketing."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.text import (complaint_about_marketing, distinguishing_terms, file_sentiment_labels, sentiment_label,
                      sentiment_scores, terms, tokens)


# ------------------------------------------------------------------ sentiment

def test_sentiment_one_row_per_input_in_order_and_blanks_unknown():
    frame = sentiment_scores(["I love this product, great support", None, "  ", "The app crashes, terrible",
                              "It is a tool"])
    assert len(frame) == 5
    assert frame.label.tolist() == ["positive", None, None, "negative", "neutral"]
    assert math.isnan(frame.compound[1]) and math.isnan(frame.compound[2])
    assert frame.compound[0] > 0.5 and frame.compound[3] < -0.3
    # pos + neu + neg is 1 for every scored text (VADER's proportions)
    scored = frame.dropna(subset=["compound"])
    assert ((scored.pos + scored.neu + scored.neg - 1).abs() < 0.002).all()


def test_sentiment_of_nothing_is_an_empty_frame():
    frame = sentiment_scores([])
    assert list(frame.columns) == ["compound", "pos", "neu", "neg", "label"] and frame.empty


@pytest.mark.parametrize("compound,label", [
    (0.05, "positive"), (0.0499, "neutral"), (-0.0499, "neutral"), (-0.05, "negative"),
    (1.0, "positive"), (-1.0, "negative"), (math.nan, None),
])
def test_sentiment_label_cutoffs(compound, label):
    assert sentiment_label(compound) == label


@given(st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=8))
@settings(max_examples=60, deadline=None)
def test_sentiment_bounds(texts):
    frame = sentiment_scores(texts)
    assert len(frame) == len(texts)
    scored = frame.compound.dropna()
    assert ((scored >= -1) & (scored <= 1)).all()


# ------------------------------------------------------------------ terms

def test_tokens_and_terms():
    assert tokens("Don’t send 3 e-mails!") == ["don't", "send", "e", "mails"]
    assert terms("The emails never stop") == {"emails", "stop", "emails never", "never stop"}
    assert terms("The emails never stop", bigrams=False) == {"emails", "stop"}
    assert terms(None) == set()


def test_distinguishing_terms_worked_example():
    a = ["spam again", "so much spam", "spam spam spam", "slow reports"]
    b = ["great reports", "love the reports", "fast support", "great"]
    frame = distinguishing_terms(a, b, min_texts=3, bigrams=False)
    spam = frame.set_index("term").loc["spam"]
    # a = 3 of N_A = 4 (the text repeating "spam" counts once), b = 0 of N_B = 4
    # log OR = ln(3.5/1.5) − ln(0.5/4.5) = 0.847298 + 2.197225 = 3.044522
    # SE = √(1/3.5 + 1/1.5 + 1/0.5 + 1/4.5) = √3.174603 = 1.781742 ; z = 1.708734
    assert (spam.texts_a, spam.texts_b) == (3, 0)
    assert spam.share_a == pytest.approx(0.75) and spam.share_b == 0
    assert spam.log_odds_ratio == pytest.approx(3.044522, abs=1e-6)
    assert spam.z == pytest.approx(1.708734, abs=1e-6)
    assert spam.side == "a"
    reports = frame.set_index("term").loc["reports"]
    # a = 1 of 4, b = 2 of 4: log OR = ln(1.5/3.5) − ln(2.5/2.5) = −0.847298
    # SE = √(1/1.5 + 1/3.5 + 1/2.5 + 1/2.5) = √1.752381 = 1.323775 ; z = −0.640062
    assert reports.log_odds_ratio == pytest.approx(-0.847298, abs=1e-6)
    assert reports.z == pytest.approx(-0.640062, abs=1e-6)
    assert reports.side == "b"
    # "great" is in 2 texts only (< min_texts 3): too rare to read
    assert "great" not in set(frame.term)


def test_distinguishing_terms_order_top_and_empty_groups():
    a = ["too many emails"] * 5 + ["price went up"] * 3
    b = ["great dashboards"] * 6 + ["too many emails"]
    frame = distinguishing_terms(a, b, top=2)
    side_a = frame[frame.side == "a"]
    assert len(side_a) == 2 and side_a.z.is_monotonic_decreasing
    assert side_a.term.iloc[0] in {"emails", "too many", "many emails"}
    assert (frame[frame.side == "b"].z < 0).all()
    assert distinguishing_terms([], b).empty
    assert distinguishing_terms([None, " "], b).empty


@given(st.lists(st.sampled_from(["spam", "great app", "slow", "too many emails", None]), max_size=12),
       st.lists(st.sampled_from(["spam", "great app", "slow", "love it", ""]), max_size=12))
@settings(max_examples=60, deadline=None)
def test_distinguishing_terms_symmetry(a, b):
    """Swapping the groups flips the sign of every term's z and keeps its size."""
    ab = distinguishing_terms(a, b, top=100, min_texts=1).set_index("term")
    ba = distinguishing_terms(b, a, top=100, min_texts=1).set_index("term")
    assert set(ab.index) == set(ba.index)
    for term in ab.index:
        assert ab.z[term] == pytest.approx(-ba.z[term])
        assert 0 <= ab.share_a[term] <= 1


# ------------------------------------------------------------------ marketing complaints

@pytest.mark.parametrize("text,expected", [
    ("You send way too many emails", True),
    ("Your marketing emails feel like spam", True),
    ("I get spam from you every day", True),
    ("so many notifications in the app", True),
    ("I unsubscribed and still get emails", True),
    ("The promo emails never stop", True),
    ("Constant upsell notifications", True),
    ("Your newsletter is awful", True),  # channel + negative sentiment
    ("Loved the webinar email", False),  # channel, no complaint
    ("Reports are slow and the price went up", False),  # complaint, not about marketing
    ("Too many bugs", False),
    ("", False),
    (None, False),
])
def test_complaint_about_marketing(text, expected):
    assert complaint_about_marketing(text) is expected


def test_distinguishing_terms_keeps_the_phrase_not_its_word():
    a = ["not impressed", "not impressed at all", "not impressed, sorry", "slow"]
    b = ["impressive", "great", "great", "fine"]
    terms_found = set(distinguishing_terms(a, b, min_texts=3).term)
    # "impressed" occurs only inside "not impressed" (3 texts of A, 0 of B): the phrase stays
    assert "not impressed" in terms_found and "impressed" not in terms_found


# ------------------------------------------------------------------ a file's own sentiment labels

@pytest.mark.parametrize("cells,expected", [
    (["negative", "Neutral", "POSITIVE", " pos ", "neg."], ["negative", "neutral", "positive", "positive", "negative"]),
    (["mixed", "unsure", "", None, "nan"], [None] * 5),  # not a polarity: left to the lexicon, counted
    ([-1, 0, 1], ["negative", "neutral", "positive"]),  # signed scale
    (["-3", "0", "5"], ["negative", "neutral", "positive"]),  # Talkwalker-style −5…+5 as text
    ([0, 2, 4], [None, None, None]),  # unsigned numbers (Sentiment140's 0/2/4, stars): not read
])
def test_file_sentiment_labels(cells, expected):
    assert file_sentiment_labels(cells) == expected

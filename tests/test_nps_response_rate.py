"""Issue #22: survey response rate per period from a file with one row per invitation (answered or
not), and the NPS figures that leave unanswered invitations out under their own name."""

import pytest

from lib.metrics import nps as m

# 6 invitations: January 3 sent, 2 answered (b's "ten" is an answer, even though not a valid score);
# February 2 sent, 1 answered; one answer (f) without a sent date.
INVITES = """Email,Score,Date,Sent
a@x.com,9,2025-01-03,2025-01-01
b@x.com,ten,2025-01-04,2025-01-02
c@x.com,,,2025-01-02
d@x.com,3,2025-02-05,2025-02-01
e@x.com,,,2025-02-02
f@x.com,10,2025-02-07,
"""


def test_response_rate_by_hand(ws):
    dataset = ws.load("invites.csv", INVITES.encode(), kind="nps_responses")
    assert dataset.mapping["sent_date"] == "Sent"
    assert m.response_rate_reason(ws.con, dataset.table) is None
    result = m.response_rate_by_period(ws.con, dataset.table, "month")
    f = result.frame
    assert f["label"].tolist() == ["Jan 2025", "Feb 2025"]
    assert f["sent"].tolist() == [3, 2] and f["answered"].tolist() == [2, 1]
    assert f["response_rate"].tolist() == pytest.approx([2 / 3, 0.5])
    # statsmodels proportion_confint(2, 3, method='wilson') = (0.207660, 0.938508); (1, 2) = (0.094531, 0.905469)
    assert f[["low", "high"]].values.ravel().tolist() == pytest.approx([0.207660, 0.938508, 0.094531, 0.905469], abs=1e-6)
    assert result.excluded == {"rows without a sent date": 1}


def test_unanswered_invitations_are_left_out_by_name(ws):
    dataset = ws.load("invites.csv", INVITES.encode(), kind="nps_responses")
    summary = m.nps_summary(ws.con, dataset.table, dataset.bad_values["score"].count)
    # valid: a 9, d 3, f 10 → NPS (2 − 1) / 3 = 33.3; c and e were never answered; b's "ten" is unreadable
    assert int(summary.frame.iloc[0]["n"]) == 3 and summary.frame.iloc[0]["nps"] == pytest.approx(100 / 3)
    assert summary.excluded == {m.EXCLUDED_UNANSWERED: 2, m.EXCLUDED_TEXT: 1}
    assert m.nps_by_period(ws.con, dataset.table).excluded == {m.EXCLUDED_UNANSWERED: 2, m.EXCLUDED_MISSING: 1}
    assert m.score_distribution(ws.con, dataset.table).excluded == {m.EXCLUDED_MISSING: 1}


def test_files_that_cannot_give_a_response_rate_say_so(ws):
    answers_only = ws.load("a.csv", b"Email,Score,Date\na@x.com,9,2025-01-03\n", kind="nps_responses")
    assert "no survey-sent (invited) date" in m.response_rate_reason(ws.con, answers_only.table)
    all_answered = ws.load("b.csv", b"Email,Score,Date,Sent\na@x.com,9,2025-01-03,2025-01-01\n", kind="nps_responses")
    assert "unanswered invitations too" in m.response_rate_reason(ws.con, all_answered.table)


def test_sample_response_rate_dips_during_the_spring_blitz(ws):
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "sample_data"
    dataset = ws.load("nps_responses.xlsx", (root / "nps_responses.xlsx").read_bytes(), kind="nps_responses")
    f = m.response_rate_by_period(ws.con, dataset.table, "month").frame.set_index("label")
    blitz = f.loc[["Mar 2026", "Apr 2026"]]
    before = f.loc[[label for label in f.index if label.endswith("2025")]]
    assert blitz["answered"].sum() / blitz["sent"].sum() < before["answered"].sum() / before["sent"].sum() - 0.1
    assert (blitz["high"] < 0.5).all()  # both months' whole 95% interval below one in two

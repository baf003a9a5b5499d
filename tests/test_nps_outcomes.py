"""Issue #22 on the NPS page: follow-up lists, do detractors leave (NPS joined to subscriptions or
customers), referrals (CX KPI 3) — hand-worked numbers, statsmodels/scipy references, null data."""

import math

import numpy as np
import pandas as pd
import pytest

from lib.errors import BoundaryError
from lib.metrics import nps as m


def load(ws, text: str, kind: str, name: str = "file.csv"):
    return ws.load(name, text.encode(), kind=kind)


# ------------------------------------------------------------------ follow-up lists

FOLLOW = """Email,Score,Date,Comment,Plan
a@x.com,3,2025-01-01,slow,Pro
a@x.com,9,2025-02-01,,Pro
b@x.com,5,2025-02-02,,Starter
c@x.com,6,2025-02-03,too many emails,Pro
d@x.com,10,2025-02-04,great,Starter
e@x.com,ten,2025-02-05,,Pro
"""


def test_follow_up_lists_take_each_respondents_latest_answer_with_or_without_comment(ws):
    dataset = load(ws, FOLLOW, "nps_responses")
    # a's latest answer is a 9 (promoter), so a is not on the detractor list despite the 3 in January;
    # b (5, no comment) is listed: every detractor, not only those who commented
    det = m.follow_up_list(ws.con, dataset.table, 0, 6, {"plan": "Plan"})
    assert det.frame["respondent"].tolist() == ["b@x.com", "c@x.com"]  # lowest score first
    assert det.frame["Plan"].tolist() == ["Starter", "Pro"]
    assert det.frame["comment"].isna().tolist() == [True, False]
    pro = m.follow_up_list(ws.con, dataset.table, 9, 10)
    assert pro.frame["respondent"].tolist() == ["a@x.com", "d@x.com"]
    # 5 valid answers by 4 respondents: a's January answer is the one earlier answer left out
    assert det.excluded == {"earlier answers of respondents who answered again (latest kept)": 1}
    with pytest.raises(BoundaryError, match="0 to 10"):
        m.follow_up_list(ws.con, dataset.table, 7, 3)


# ------------------------------------------------------------------ do detractors leave?

SUBS = """Customer ID,Customer Email,Start Date,End Date,Amount,Interval
c1,a@x.com,2025-01-01,2025-03-15,10,month
c2,b@x.com,2025-01-01,2025-03-01,10,month
c2,b@x.com,2025-03-01,,20,month
c3,c@x.com,2025-01-01,2025-02-20,20,month
c3,c@x.com,2025-02-20,,10,month
c4,d@x.com,2025-01-01,,10,month
c5,e@x.com,2025-06-30,,10,month
c6,f@x.com,2025-05-01,,10,month
"""
ANSWERS = """Email,Score,Date
a@x.com,10,2025-01-05
a@x.com,2,2025-02-20
b@x.com,3,2025-01-20
b@x.com,10,2025-02-10
C@X.com,5,2025-02-01
d@x.com,9,2025-02-01
f@x.com,8,2025-02-01
g@x.com,0,2025-02-01
a@x.com,9,2025-06-20
h@x.com,7,2025-06-25
"""


def _outcomes(ws, days):
    nps = load(ws, ANSWERS, "nps_responses", "nps.csv")
    subs = load(ws, SUBS, "subscriptions", "subs.csv")
    keys = m.outcome_join_keys(ws.con, nps, subs)
    # respondent ↔ customer email joins 5 of the 8 respondents: a, b, c, d, f (not g, h)
    assert keys.iloc[0][["nps_column", "other_column", "matched"]].tolist() == ["respondent", "customer_email", 5]
    ctes, params, as_of = m.outcome_moves(ws.con, subs)
    assert as_of == pd.Timestamp("2025-06-30")  # NCVG's as-of: the latest start date
    return m.outcomes_after_answer(ws.con, nps.table, "respondent", ctes, params, subs.table, "customer_email",
                                   days, as_of)


def test_outcomes_after_answer_by_hand(ws):
    result = _outcomes(ws, 30)
    f = result.frame.set_index("category")
    # One answer per respondent: the latest whose 30 days ended by 30 Jun (answer day ≤ 31 May):
    #   a 2 (20 Feb), b 10 (10 Feb), c 5 (1 Feb, "C@X.com" matches c@x.com), d 9, f 8, g 0; h (25 Jun) is too recent
    # Detractors a, c, g: g unmatched; a and c paying on their answer day →
    #   a churns 15 Mar (23 days after), c moves to a cheaper plan 20 Feb (19 days after: contraction)
    assert f.loc["Detractor", ["respondents", "matched", "paying", "churned", "downgraded", "expanded"]].tolist() == \
        [3, 2, 2, 1, 1, 0]
    # Passive f: matched but starts paying in May, after answering in February → not in the denominator
    assert f.loc["Passive", ["respondents", "matched", "paying"]].tolist() == [1, 1, 0]
    assert math.isnan(f.loc["Passive", "churned_rate"])
    # Promoters b, d: b moves up to 20 on 1 Mar (19 days after: expansion); d stays
    assert f.loc["Promoter", ["respondents", "matched", "paying", "churned", "downgraded", "expanded"]].tolist() == \
        [2, 2, 2, 0, 0, 1]
    # 1 of 2: Wilson (0.094531, 0.905469) — statsmodels proportion_confint(1, 2, method='wilson')
    assert f.loc["Detractor", "churned_rate"] == 0.5
    assert f.loc["Detractor", ["churned_low", "churned_high"]].tolist() == pytest.approx([0.0945312, 0.9054688], abs=1e-6)
    assert result.excluded == {
        "respondents whose answers are all less than 30 days before the data ends (30 Jun 2025)": 1,
        "respondents not found in the other file": 1,
        "respondents found but not paying on the day they answered": 1}


def test_outcome_window_ends_on_its_last_day(ws):
    # a answered 20 Feb and churned 15 Mar, 23 days later: inside a 23-day window, outside a 22-day one
    assert _outcomes(ws, 23).frame.set_index("category").loc["Detractor", "churned"] == 1
    assert _outcomes(ws, 22).frame.set_index("category").loc["Detractor", "churned"] == 0


def test_outcomes_from_a_customers_file_are_churn_only(ws):
    nps = load(ws, "Email,Score,Date\na@x.com,2,2025-02-01\nb@x.com,10,2025-02-01\n", "nps_responses", "n.csv")
    cust = load(ws, "Customer ID,Email,Signup Date,Churn Date\nc1,a@x.com,2025-01-01,2025-02-10\n"
                    "c2,b@x.com,2025-01-01,\nc3,z@x.com,2025-04-01,\n", "customers", "c.csv")
    ctes, params, as_of = m.outcome_moves(ws.con, cust)
    assert as_of == pd.Timestamp("2025-04-01")
    f = m.outcomes_after_answer(ws.con, nps.table, "respondent", ctes, params, cust.table, "email", 30,
                                as_of).frame.set_index("category")
    # a churned 9 days after answering; b did not; nobody can downgrade or expand without values
    assert f.loc["Detractor", ["paying", "churned"]].tolist() == [1, 1]
    assert f.loc["Promoter", ["paying", "churned", "expanded"]].tolist() == [1, 0, 0]


def _counts(det, pro):
    rows = [{"category": c, "respondents": 0, "matched": 0, "paying": 0, "churned": 0, "downgraded": 0,
             "expanded": 0} for c in m.CATEGORIES]
    frame = pd.DataFrame(rows)
    for cat, values in (("Detractor", det), ("Promoter", pro)):
        for key, value in values.items():
            frame.loc[frame["category"] == cat, key] = value
    return frame


def test_outcome_tests_against_statsmodels_and_scipy():
    frame = _counts({"paying": 100, "churned": 30, "downgraded": 5, "expanded": 10},
                    {"paying": 200, "churned": 20, "downgraded": 4, "expanded": 30})
    t = m.outcome_tests(frame, 0.05, 30).set_index("outcome")
    # churn 30/100 vs 20/200: statsmodels proportions_ztest([30, 20], [100, 200]) = (4.381780, 1.177134e-05)
    assert t.loc["churned", "z"] == pytest.approx(4.381780, abs=1e-6)
    assert t.loc["churned", "p_value"] == pytest.approx(1.177134e-05, rel=1e-5)
    # downgrade 5/100 vs 4/200 expects 3 in a cell → Fisher: scipy fisher_exact([[5, 95], [4, 196]]) = 0.165835
    assert t.loc["downgraded", "p_value"] == pytest.approx(0.165835, abs=1e-6)
    # expansion 10/100 vs 30/200: proportions_ztest = (−1.200961, 0.229766)
    assert t.loc["expanded", "p_value"] == pytest.approx(0.229766, abs=1e-6)
    # BH over the three (statsmodels multipletests 'fdr_bh'): 3.5314e-05, 0.229766, 0.229766
    assert t["p_adjusted"].tolist() == pytest.approx([3.53140e-05, 0.229766, 0.229766], rel=1e-5)
    assert t["flagged"].tolist() == [True, False, False]
    assert t.loc["churned", "severity"] == "high"  # Bonferroni 3.53e-05 < 0.05 as well
    flags = m.outcome_flags(m.outcome_tests(frame), 90, frame)
    assert [(f.metric, f.subject, f.value, f.reference) for f in flags] == [
        ("Detractors leave", "Churned within 90 days of answering", 0.3, 0.1)]


def test_outcome_tests_need_enough_paying_respondents():
    frame = _counts({"paying": 29, "churned": 20}, {"paying": 200, "churned": 2})
    t = m.outcome_tests(frame, 0.05, 30)
    assert not t["tested"].any() and not t["flagged"].any()


def test_outcome_flags_almost_never_fire_on_null_data():
    # Nothing links score to churn: detractors and promoters leave, shrink and grow at the same rates.
    rng = np.random.default_rng(22)
    fired = 0
    runs = 1000
    for _ in range(runs):
        n_d, n_p = int(rng.integers(40, 200)), int(rng.integers(60, 300))
        rates = {"churned": 0.12, "downgraded": 0.03, "expanded": 0.08}
        det = {"paying": n_d, **{k: int(rng.binomial(n_d, r)) for k, r in rates.items()}}
        pro = {"paying": n_p, **{k: int(rng.binomial(n_p, r)) for k, r in rates.items()}}
        fired += bool(m.outcome_tests(_counts(det, pro), 0.05, 30)["flagged"].any())
    # one-sided reading of a two-sided 5% test, BH over three outcomes: about 3% of files at most
    assert fired / runs < 0.04


def test_sample_detractors_leave_more_than_promoters(ws):
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "sample_data"
    nps = ws.load("nps_responses.xlsx", (root / "nps_responses.xlsx").read_bytes(), kind="nps_responses")
    subs = ws.load("subscriptions.csv", (root / "subscriptions.csv").read_bytes(), kind="subscriptions")
    keys = m.outcome_join_keys(ws.con, nps, subs)
    assert keys.iloc[0][["nps_column", "other_column"]].tolist() == ["respondent", "customer_email"]
    flags = [f for f in m.area_flags(ws) if f.metric == "Detractors leave"]
    assert "Churned within 90 days of answering" in {f.subject for f in flags}


# ------------------------------------------------------------------ referrals

def test_referrals_by_period_from_a_customers_file(ws):
    cust = load(ws, "Customer ID,Signup Date,Referred By,Referral Source\nc1,2025-01-03,a@x.com,Referral\n"
                    "c2,2025-01-20,,Referral\nc3,2025-02-01,no,Ads\nc4,2025-02-11,b@x.com,\n", "customers")
    assert cust.mapping["referred_by"] == "Referred By"
    f = m.referrals_by_period(ws.con, cust).frame
    # Jan: c1 (a@x.com) referred, c2 blank → 1 of 2 (the source column is not read when "referred by" is there)
    # Feb: c3 "no" is not a referral, c4 is → 1 of 2
    assert f["label"].tolist() == ["Jan 2025", "Feb 2025"]
    assert f["new_customers"].tolist() == [2, 2] and f["referred_customers"].tolist() == [1, 1]
    assert f["share_low"].iloc[0] == pytest.approx(0.0945312, abs=1e-6)  # Wilson 1 of 2, as above
    assert f["new_value"].isna().all()


def test_referral_source_column_when_no_referred_by(ws):
    cust = load(ws, "Customer ID,Signup Date,Referral Source\nc1,2025-01-03,Referral program\nc2,2025-01-20,Ads\n",
                "customers")
    assert m.referral_column(cust) == "source"
    assert m.referrals_by_period(ws.con, cust).frame["referred_customers"].tolist() == [1]
    plain = load(ws, "Customer ID,Signup Date\nc1,2025-01-03\n", "customers", "plain.csv")
    with pytest.raises(BoundaryError, match="no referral column"):
        m.referrals_by_period(ws.con, plain)


def test_referrals_from_subscriptions_count_ncvg_new_customers_and_value(ws):
    subs = load(ws, "Customer ID,Customer Email,Start Date,Amount,Interval,Referred By\n"
                    "c1,p@x.com,2025-01-10,10,month,x@x.com\nc2,q@x.com,2025-01-20,30,month,\n"
                    "c3,r@x.com,2025-02-05,50,month,Y@x.com\n", "subscriptions")
    ctes, params, _ = m.outcome_moves(ws.con, subs)
    f = m.referrals_by_period(ws.con, subs, "month", ctes, params).frame
    # Jan: c1 (10/month, referred) + c2 (30) → 2 new worth 40, 1 referred worth 10; Feb: c3 (50, referred)
    assert f[["new_customers", "referred_customers", "new_value", "referred_value"]].values.tolist() == \
        [[2, 1, 40.0, 10.0], [1, 1, 50.0, 50.0]]
    nps = load(ws, "Email,Score,Date\nx@x.com,10,2025-01-01\ny@x.com,9,2025-01-01\nz@x.com,3,2025-01-01\n"
                   "w@x.com,8,2025-01-01\n", "nps_responses", "n.csv")
    keys = m.join_keys(ws.con, nps.table, subs.table, ["respondent"], ["referred_by"])
    assert keys["matched"].tolist() == [2]  # x and y (named as "Y@x.com") referred someone
    by = m.referrals_by_category(ws.con, nps.table, "respondent", subs.table, "customer_id").frame.set_index("category")
    assert by.loc["Promoter", ["respondents", "referrers", "referrals"]].tolist() == [2, 2, 2]
    assert by.loc["Passive", "referrers"] == 0 and by.loc["Detractor", "referrers"] == 0
    test = m.promoters_refer_more(by.reset_index())
    # 2 of 2 promoters vs 0 of 2 others → Fisher: scipy fisher_exact([[2, 0], [0, 2]]) = 0.333333
    assert test.p_value == pytest.approx(1 / 3, abs=1e-9)


def test_only_referrals_that_came_on_or_after_the_answer_count(ws):
    nps = load(ws, "Email,Score,Date\nx@x.com,10,2025-03-01\ny@x.com,9,2025-03-01\nz@x.com,3,2025-03-01\n"
                   "w@x.com,8,\n", "nps_responses", "n.csv")
    cust = load(ws, "Customer ID,Signup Date,Referred By\n"
                    "c1,2025-02-10,x@x.com\n"   # x referred c1 before answering: not counted
                    "c2,2025-03-01,x@x.com\n"   # same day as x's answer: counted
                    "c3,2025-02-01,y@x.com\n"   # y's only referral came before: y is not a referrer
                    "c4,,z@x.com\n"             # no signup date: cannot be placed
                    "c5,2025-04-01,w@x.com\n"   # w's answer has no date: cannot be placed
                    "c6,2025-04-02,z@x.com\n", "customers")
    by = m.referrals_by_category(ws.con, nps.table, "respondent", cust.table, "customer_id").frame.set_index("category")
    # Promoters x, y: x has 1 referral after (c2), 1 before (c1); y 0 after, 1 before (c3)
    assert by.loc["Promoter", ["respondents", "referrers", "referrals", "referrals_before_answer",
                               "referrals_undated"]].tolist() == [2, 1, 1, 2, 0]
    # Detractor z: c6 after its answer; c4 undated.  Passive w (no answer date): c5 undated, none counted
    assert by.loc["Detractor", ["referrers", "referrals", "referrals_undated"]].tolist() == [1, 1, 1]
    assert by.loc["Passive", ["referrers", "referrals", "referrals_undated"]].tolist() == [0, 0, 1]
    assert by["timed"].all()
    # answers without any date cannot be placed in time: every referral counts, and the frame says so
    undated = load(ws, "Email,Score\nx@x.com,10\ny@x.com,9\n", "nps_responses", "undated.csv")
    untimed = m.referrals_by_category(ws.con, undated.table, "respondent", cust.table, "customer_id").frame
    assert untimed.set_index("category").loc["Promoter", ["referrers", "referrals", "referrals_before_answer",
                                                          "referrals_undated"]].tolist() == [2, 3, 0, 0]
    assert not untimed["timed"].any()


def test_export_sheets_with_subscriptions(ws):
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "sample_data"
    ws.load("nps_responses.xlsx", (root / "nps_responses.xlsx").read_bytes(), kind="nps_responses")
    ws.load("subscriptions.csv", (root / "subscriptions.csv").read_bytes(), kind="subscriptions")
    tables = m.area_tables(ws)
    assert {"NPS detractors to call back", "NPS promoters to thank", "NPS response rate by month",
            "NPS outcomes after answering"} <= set(tables)
    assert all(len(name) <= 31 for name in tables)  # Excel's sheet-name limit
    assert tables["NPS outcomes after answering"]["category"].tolist() == list(m.CATEGORIES)

"""Expansion deals: win rate, qualification rate, cycle time and campaign quality on hand-worked deals."""

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.metrics import deals as dm
from lib.stats import two_proportion_test

# HubSpot-ish and Salesforce-ish values mixed on purpose; "maybe" is not a yes/no value.
DEALS_CSV = """Record ID,Create Date,Close Date,Deal Stage,Deal Type,Qualified,Amount,Source Campaign,Notes
D1,2025-01-05,2025-01-15,closedwon,existingbusiness,yes,100,,Great call
D2,2025-02-01,2025-02-21,Closed Won,Upsell,TRUE,abc,Spring,
D3,2025-03-01,2025-03-31,Closed Lost,Cross-sell,no,300,Spring,Annoyed by emails
D4,2025-03-10,,qualifiedtobuy,expansion,,50,,
D5,2025-01-10,2025-02-10,closedwon,newbusiness,yes,900,,
D6,2025-04-01,2025-05-31,closedlost,existingbusiness,no,10,Spring,
D7,2025-05-01,2025-04-20,lost,existingbusiness,yes,10,,
D8,2025-06-01,2025-06-11,won,expansion,maybe,10,,
D9,2025-06-02,,,expansion,,10,,
D10,,2025-02-01,closedwon,expansion,yes,10,,
"""


@pytest.fixture
def deals(ws):
    ws.load("deals.csv", DEALS_CSV.encode(), kind="deals")
    return ws


def by_label(result):
    return {row["label"]: row for row in result.frame.to_dict("records")}


def test_classes_of_exported_values():
    assert [dm.outcome_class(v) for v in ["closedwon", "Closed Won", "WON", "closedlost", "Closed Lost",
                                          "lost", "contractsent", "Negotiation/Review", "", None]] == \
        ["won", "won", "won", "lost", "lost", "lost", "open", "open", None, None]
    assert [dm.deal_class(v) for v in ["newbusiness", "New Customer", "existingbusiness", "Upsell", "Cross-sell",
                                       "Existing Customer - Upgrade", "Renewal", "Existing Customer - Renewal",
                                       "Partner", "", None]] == \
        ["new", "new", "expansion", "expansion", "expansion", "expansion", "renewal", "renewal", "other",
         "unknown", "unknown"]


def test_expansion_rates_by_created_quarter(deals):
    r = dm.deal_rates_by_period(deals.con, "deals", "quarter", "expansion", "created")
    rows = by_label(r)
    assert list(rows) == ["Q1 2025", "Q2 2025"]
    q1, q2 = rows["Q1 2025"], rows["Q2 2025"]
    # Q1: D1 won, D2 won, D3 lost, D4 open → win rate 2 / (2 + 1) = 0.6667
    assert (q1["deals"], q1["won"], q1["lost"], q1["open"]) == (4, 2, 1, 1)
    assert q1["win_rate"] == pytest.approx(2 / 3)
    # qualified: D1 yes, D2 TRUE, D3 no, D4 blank → 2 / 3
    assert (q1["qualified"], q1["qual_known"]) == (2, 3)
    assert q1["qualification_rate"] == pytest.approx(2 / 3)
    # cycles of won/lost deals: 10, 20, 30 days → median 20
    assert q1["median_cycle_days"] == pytest.approx(20.0)
    assert q1["cycle_n"] == 3
    # Q2: D6 lost, D7 lost, D8 won, D9 blank outcome → 1 / 3
    assert (q2["won"], q2["lost"], q2["outcome_blank"]) == (1, 2, 1)
    assert q2["win_rate"] == pytest.approx(1 / 3)
    # qualified: D6 no, D7 yes, D8 'maybe' (unreadable → blank), D9 blank → 1 / 2
    assert (q2["qualified"], q2["qual_known"]) == (1, 2)
    # cycles: D6 60, D8 10; D7 closed before it was created → left out → median (10 + 60) / 2 = 35
    assert q2["median_cycle_days"] == pytest.approx(35.0)
    # baseline of Q2 = Q1: 2 won of 3 closed, 2 qualified of 3, median cycle 20;
    # Q2 cycles above 20: D6 (60) → 1; Q1 cycles above 20: D3 (30) → 1
    assert (q2["base_won"], q2["base_closed"], q2["base_qualified"], q2["base_qual_known"]) == (2, 3, 2, 3)
    assert q2["base_median_cycle"] == pytest.approx(20.0)
    assert (q2["slow"], q2["base_slow"], q2["base_cycle_n"]) == (1, 1, 3)
    assert q1["base_closed"] == 0 and math.isnan(q1["base_win_rate"])
    # Wilson interval brackets the rate
    assert q1["win_low"] < q1["win_rate"] < q1["win_high"]
    assert r.excluded == {
        "of other deal types": 1,  # D5
        "without a created date": 1,  # D10
        "with a blank outcome (left out of win rate)": 1,  # D9
        "still open (left out of win rate and cycle time)": 1,  # D4
        "with a blank qualified value (left out of qualification rate)": 3,  # D4, D8, D9
        "closed before they were created (left out of cycle time)": 1,  # D7
    }
    assert "?" in r.sql and '"deals"' in r.sql


def test_close_date_basis_counts_deals_where_they_closed(deals):
    rows = by_label(dm.deal_rates_by_period(deals.con, "deals", "quarter", "expansion", "closed"))
    # closed in Q1: D1, D2, D10 won; D3 lost (31 Mar) → 3 / 4.  Q2: D6, D7 lost; D8 won → 1 / 3
    assert (rows["Q1 2025"]["won"], rows["Q1 2025"]["lost"]) == (3, 1)
    assert (rows["Q2 2025"]["won"], rows["Q2 2025"]["lost"]) == (1, 2)


def test_all_deal_types(deals):
    rows = by_label(dm.deal_rates_by_period(deals.con, "deals", "quarter", None, "created"))
    assert rows["Q1 2025"]["deals"] == 5 and rows["Q1 2025"]["won"] == 3  # + D5 new business won


def test_flags_need_enough_deals_and_a_real_dip(deals):
    r = dm.deal_rates_by_period(deals.con, "deals", "quarter", "expansion", "created")
    assert dm.deal_flags(r, 0.05, 10, "quarter") == []  # 3 closed deals: too few to test
    frames = dm.deal_flag_frames(r, 0.05, 1)
    # 1/3 vs 2/3 is not significant. Expected cells under 5, so Fisher's exact test:
    # scipy.stats.fisher_exact([[1, 2], [2, 1]]).pvalue = 1.0 → equivalent z = 0
    q2 = frames["win_rate"].iloc[1]
    assert q2["p_value"] == pytest.approx(1.0) and q2["z"] == 0 and not q2["flagged"]


def test_win_rate_dip_is_flagged(ws):
    # 8 quarters of 20 expansion deals, 12 won 8 lost each; then a quarter with 3 won of 20.
    lines = ["Deal ID,Create Date,Close Date,Outcome,Type,Qualified"]
    i = 0
    for q in range(9):
        month = 1 + 3 * (q % 4)
        year = 2023 + q // 4
        for j in range(20):
            won = j < (12 if q < 8 else 3)
            lines.append(f"X{i},{year}-{month:02d}-05,{year}-{month:02d}-25,{'won' if won else 'lost'},upsell,yes")
            i += 1
    lines.append("LAST,2025-04-01,2025-06-30,open,upsell,yes")  # data runs to the end of Q1 2025's successor
    ws.load("d.csv", "\n".join(lines).encode(), kind="deals")
    r = dm.deal_rates_by_period(ws.con, "deals", "quarter", "expansion")
    flags = dm.deal_flags(r, 0.05, 10, "quarter")
    win = [f for f in flags if f.metric == "Expansion win rate"]
    assert len(win) == 1 and win[0].subject == "deals created Q1 2025"
    # 3/20 vs 96/160: pooled 99/180 = 0.55, se = √(0.55·0.45·(1/20 + 1/160)) = 0.11797, z = −0.45/0.11797 = −3.8144
    expected = two_proportion_test(3, 20, 96, 160)
    assert expected.z == pytest.approx(-3.8144, abs=1e-3)
    assert win[0].value == pytest.approx(0.15) and win[0].reference == pytest.approx(0.6)
    assert win[0].severity == "high"
    # the page hands over its own deal_flag_frames (tested once): the same flags; frames with nothing
    # flagged give none, so the frames given are the ones read
    frames = dm.deal_flag_frames(r, 0.05, 10)
    assert dm.deal_flags(r, 0.05, 10, "quarter", frames=frames) == flags
    quiet = {k: f.assign(flagged=False) for k, f in frames.items()}
    assert dm.deal_flags(r, 0.05, 10, "quarter", frames=quiet) == []


def test_campaign_quality(ws):
    # campaign "Giveaway": 4 deals, 1 qualified; 20 deals without campaign, 18 qualified
    lines = ["Deal ID,Create Date,Close Date,Outcome,Source Campaign,Qualified"]
    for j in range(4):
        lines.append(f"G{j},2025-01-01,2025-03-{12 + j},lost,Giveaway,{'yes' if j == 0 else 'no'}")
    for j in range(20):
        lines.append(f"N{j},2025-01-01,2025-01-{2 + j:02d},won,,{'yes' if j < 18 else 'no'}")
    ws.load("d.csv", "\n".join(lines).encode(), kind="deals")
    r = dm.campaign_deal_quality(ws.con, "deals")
    rows = {row["campaign"]: row for row in r.frame.to_dict("records")}
    g = rows["Giveaway"]
    assert g["qualification_rate"] == pytest.approx(0.25) and g["others_qualification_rate"] == pytest.approx(0.9)
    # cycles: Giveaway 70..73 days (median 71.5); others 1..20 days (median 10.5), all 4 slower
    assert g["median_cycle_days"] == pytest.approx(71.5) and g["others_median_cycle"] == pytest.approx(10.5)
    assert (g["slow"], g["others_slow"]) == (4, 10)
    frame, flags = dm.campaign_flags(r, 0.05, 4)
    # 4 deals: expected cells under 5, so Fisher's exact test.
    # 1/4 vs 18/20: scipy.stats.fisher_exact([[1, 3], [18, 2]]).pvalue = 0.018351 → flagged
    assert two_proportion_test(1, 4, 18, 20).p_value == pytest.approx(0.018351, abs=1e-6)
    # cycle: 4/4 slower vs 10/20: fisher_exact([[4, 0], [10, 10]]).pvalue = 0.113966
    # → not beyond the noise with 4 deals
    assert frame.set_index("campaign").loc["Giveaway", "slow_p"] == pytest.approx(0.113966, abs=1e-6)
    assert [(f.metric, f.subject) for f in flags] == [("Campaign-sourced deals qualification rate", "Giveaway")]
    # one campaign tested: Benjamini–Hochberg and Bonferroni over a family of 1 leave p = 0.018351 → high
    assert flags[0].severity == "high"
    assert dm.campaign_flags(r, 0.05, 10)[1] == []  # 4 deals is under the minimum


def test_period_flags_are_one_family_per_metric():
    # 9 quarters of win rates tested against their baselines; p-values as baseline_flag_rows would give them:
    # one at 0.01 and eight at 0.5, all on the worse side and tested.
    # Benjamini–Hochberg over 9 (statsmodels multipletests 'fdr_bh'): 0.01 × 9 / 1 = 0.09 → no flag,
    # though 0.01 alone was one; at 0.001: 0.009 → flagged, Bonferroni 0.009 < 0.05 → high
    frame = pd.DataFrame({"p_value": [0.01] + [0.5] * 8, "tested": True, "worse_side": True})
    out = dm.family_flags(frame, 0.05)
    assert out["p_bh"].iloc[0] == pytest.approx(0.09) and not out["flagged"].any()
    frame.loc[0, "p_value"] = 0.001
    out = dm.family_flags(frame, 0.05)
    assert out["flagged"].tolist() == [True] + [False] * 8 and out["severity"].iloc[0] == "high"
    # rows not tested (too few deals, incomplete period) are not in the family: 0.01 alone → p_bh 0.01 and
    # Bonferroni over 1 is also 0.01 → high
    frame["tested"] = [True] + [False] * 8
    frame.loc[0, "p_value"] = 0.01
    out = dm.family_flags(frame, 0.05)
    assert out["p_bh"].iloc[0] == pytest.approx(0.01) and out["p_bh"].iloc[1:].isna().all()
    assert out["severity"].iloc[0] == "high"
    # a better-than-baseline period is never flagged, however small its p
    frame["worse_side"] = False
    assert not dm.family_flags(frame, 0.05)["flagged"].any()


def test_missing_columns_and_nasty_values(ws):
    # no type, no qualified, no outcome column: rates are empty/NaN, nothing crashes
    ws.load("d.csv", b"Deal ID,Create Date\nA,2025-01-01\nB,not a date\nC,\n", kind="deals")
    r = dm.deal_rates_by_period(ws.con, "deals", "month", None)
    assert r.frame["deals"].tolist() == [1]
    assert math.isnan(r.frame["win_rate"].iloc[0]) and math.isnan(r.frame["qualification_rate"].iloc[0])
    assert r.excluded["without a created date"] == 2
    assert dm.deal_flags(r, 0.05, 1, "month") == []
    assert dm.campaign_deal_quality(ws.con, "deals").frame["campaign"].tolist() == ["(no campaign)"]


def test_unknown_parameters_are_refused(deals):
    from lib.errors import BoundaryError

    with pytest.raises(BoundaryError, match="Choose 'created' or 'closed'"):
        dm.deal_rates_by_period(deals.con, "deals", basis="won")
    with pytest.raises(BoundaryError, match="Unknown deal type"):
        dm.deal_rates_by_period(deals.con, "deals", deal_type="upsell")


VALUES = list(dm.OUTCOMES) + ["Closed Won", "Closed Lost", "Contract Sent", "open", "", " "]
TYPES = list(dm.DEAL_TYPES) + ["New Business", "Existing Business", "Cross-Sell", "Partner", ""]


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(VALUES), st.sampled_from(TYPES), st.booleans(),
                               st.integers(0, 400), st.integers(-5, 120)), min_size=1, max_size=40))
def test_properties(rows):
    from lib.datasets import Workspace

    ws = Workspace()
    try:
        lines = ["Deal ID,Create Date,Close Date,Outcome,Type,Qualified"]
        for i, (outcome, dtype, qualified, start, length) in enumerate(rows):
            lines.append(f'D{i},"{_day(start)}","{_day(start + length)}","{outcome}","{dtype}",{"yes" if qualified else "no"}')
        ws.load("p.csv", "\n".join(lines).encode(), kind="deals")
        r = dm.deal_rates_by_period(ws.con, "deals", "quarter", None)
        f = r.frame
        # every deal lands in exactly one period and one outcome bucket
        assert f["deals"].sum() == len(rows)
        assert (f["won"] + f["lost"] + f["open"] + f["outcome_blank"] == f["deals"]).all()
        for col in ("win_rate", "qualification_rate", "base_win_rate"):
            vals = f[col].dropna()
            assert ((vals >= 0) & (vals <= 1)).all()
        assert (f["median_cycle_days"].dropna() >= 0).all()
        # SQL classes agree with the Python twins
        expected = sum(dm.outcome_class(o) == "won" for o, *_ in rows)
        assert f["won"].sum() == expected
        sql_classes = dict(dm.deal_type_counts(ws.con, "deals").frame.groupby("deal_class")["deals"].sum())
        py_classes: dict = {}
        for _, dtype, *_ in rows:
            py_classes[dm.deal_class(dtype)] = py_classes.get(dm.deal_class(dtype), 0) + 1
        assert sql_classes == py_classes
    finally:
        ws.close()


def _day(offset: int) -> str:
    import datetime as dt

    return (dt.date(2024, 1, 1) + dt.timedelta(days=offset)).isoformat()

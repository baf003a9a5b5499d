"""lib/metrics/nps.py against hand-worked numbers, properties, the real export and nasty files."""

import math

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.errors import BoundaryError
from lib.metrics import nps as m
from tests.conftest import real_file

Z = 1.959963984540054


def load(ws, frame: pd.DataFrame, name: str = "responses.csv", kind: str = "nps_responses"):
    return ws.load(name, frame.to_csv(index=False).encode(), kind=kind)


_CON = duckdb.connect()


def scores_table(scores) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A bare table with a score column (NULL = blank/unreadable), as the Workspace stores it."""
    frame = pd.DataFrame({"_row": range(2, len(scores) + 2), "score": pd.array(scores, dtype="Int64")})
    _CON.register("_scores", frame)
    _CON.execute("CREATE OR REPLACE TABLE t AS SELECT _row::BIGINT AS _row, score::BIGINT AS score FROM _scores")
    _CON.unregister("_scores")
    return _CON, "t"


# ------------------------------------------------------------------ formulas by hand

@pytest.mark.parametrize("p,pa,d,nps,moe", [
    # 5/2/3: (5−3)/10 = 20; var = 0.5+0.3−0.2² = 0.76; √0.076 = 0.275681; ×195.9964 = 54.0325
    (5, 2, 3, 20.0, 54.0325),
    # all promoters: 100; var = 1 − 1² = 0 → the formula's ±0
    (10, 0, 0, 100.0, 0.0),
    # all detractors: −100; var = 1 − (−1)² = 0
    (0, 0, 4, -100.0, 0.0),
    # all passives: 0; var = 0 − 0 = 0
    (0, 7, 0, 0.0, 0.0),
    # one promoter, one detractor: 0; var = 1 − 0 = 1; 195.9964·√(1/2) = 138.5904
    (1, 0, 1, 0.0, 138.5904),
    # 3/1/0: 75; var = 0.75 − 0.5625 = 0.1875; √0.046875 = 0.216506; ×195.9964 = 42.4345
    (3, 1, 0, 75.0, 42.4345),
])
def test_nps_and_margin_by_hand(p, pa, d, nps, moe):
    assert m.nps_from_counts(p, pa, d) == pytest.approx(nps)
    assert m.nps_margin_of_error(p, pa, d) == pytest.approx(moe, abs=1e-4)


def test_one_response_has_an_nps_but_no_margin_and_none_has_neither():
    assert m.nps_from_counts(1, 0, 0) == 100.0
    assert math.isnan(m.nps_margin_of_error(1, 0, 0))
    assert math.isnan(m.nps_from_counts(0, 0, 0)) and math.isnan(m.nps_margin_of_error(0, 0, 0))


@pytest.mark.parametrize("score,cat", [(0, "Detractor"), (6, "Detractor"), (7, "Passive"), (8, "Passive"),
                                       (9, "Promoter"), (10, "Promoter")])
def test_category_edges(score, cat):
    assert m.category(score) == cat


def test_category_refuses_out_of_range():
    with pytest.raises(ValueError):
        m.category(11)


def test_pasted_scores():
    manual = m.parse_pasted_scores("10\n9\t8;7, 6 0 ten 6.5 11 -1 NaN")
    # promoters 10, 9; passives 8, 7; detractors 6, 0 → NPS (2−2)/6 = 0
    assert (manual.promoters, manual.passives, manual.detractors) == (2, 2, 2)
    assert manual.invalid == {"text": 1, "decimal": 2, "outside 0–10": 2}  # NaN reads as a non-number
    assert manual.nps == 0.0 and manual.examples[:2] == ["ten", "6.5"]
    assert m.parse_pasted_scores("").n == 0


# ------------------------------------------------------------------ properties

score_lists = st.lists(st.one_of(st.integers(-2, 12), st.none()), max_size=60)


@given(score_lists)
@settings(max_examples=40, deadline=None)
def test_sql_matches_python_and_nps_in_range(scores):
    con, table = scores_table(scores)
    result = m.nps_summary(con, table)
    row = result.frame.iloc[0]
    valid = [s for s in scores if s is not None and 0 <= s <= 10]
    p = sum(s >= 9 for s in valid)
    d = sum(s <= 6 for s in valid)
    assert row.n == len(valid)
    if valid:
        assert -100 <= row.nps <= 100
        assert row.nps == pytest.approx(m.nps_from_counts(p, len(valid) - p - d, d))
    else:
        assert math.isnan(row.nps)
    expected = m.nps_margin_of_error(p, len(valid) - p - d, d)
    assert (math.isnan(row.moe) and math.isnan(expected)) or row.moe == pytest.approx(expected, abs=1e-9)
    left_out = len(scores) - len(valid)
    assert sum(result.excluded.values()) == left_out


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50), st.integers(2, 20))
@settings(max_examples=100, deadline=None)
def test_margin_shrinks_as_n_grows_for_fixed_shares(p, pa, d, k):
    n = p + pa + d
    if n < 2:
        return
    small, large = m.nps_margin_of_error(p, pa, d), m.nps_margin_of_error(k * p, k * pa, k * d)
    assert m.nps_from_counts(k * p, k * pa, k * d) == pytest.approx(m.nps_from_counts(p, pa, d))
    assert large == pytest.approx(small / math.sqrt(k))  # k times the responses: margin / √k
    assert large <= small


# ------------------------------------------------------------------ invalid scores

def test_invalid_scores_are_counted_and_left_out(ws):
    frame = pd.DataFrame({"Email": [f"u{i}@x.com" for i in range(9)],
                          "Score": ["10", "9", "", "ten", "6.5", "11", "-1", "3", "7"]})
    dataset = load(ws, frame)
    assert dataset.bad_values["score"].count == 2  # 'ten' and 6.5
    result = m.nps_summary(ws.con, dataset.table, dataset.bad_values["score"].count)
    row = result.frame.iloc[0]
    # valid: 10, 9, 3, 7 → P 2, Pa 1, D 1 → (2 − 1)/4 = 25.0
    assert (row.n, row.promoters, row.passives, row.detractors) == (4, 2, 1, 1)
    assert row.nps == pytest.approx(25.0)
    assert result.excluded == {m.EXCLUDED_BLANK: 1, m.EXCLUDED_TEXT: 2, m.EXCLUDED_RANGE: 2}
    assert result.excluded_text() == ("5 row(s) left out: 1 score blank, 2 score not a whole number "
                                      "(text or decimal), 2 score outside 0–10.")


def test_all_blank_scores_give_no_nps_and_no_crash(ws):
    dataset = load(ws, pd.DataFrame({"Email": ["a", "b"], "Score": ["", ""], "Plan": ["x", "y"]}))
    row = m.nps_summary(ws.con, dataset.table).frame.iloc[0]
    assert row.n == 0 and math.isnan(row.nps) and math.isnan(row.moe)
    dist = m.score_distribution(ws.con, dataset.table)
    assert dist.frame["responses"].sum() == 0 and dist.excluded == {m.EXCLUDED_MISSING: 2}
    assert m.referral_candidates(ws.con, dataset.table).frame.empty


# ------------------------------------------------------------------ the real export

def test_real_prep_air_export(ws):
    dataset = ws.load("preppin_2021w23_nps_prep_air.csv",
                      real_file("preppin_2021w23_nps_prep_air.csv").read_bytes(), kinds=["nps_responses"])
    assert dataset.kind == "nps_responses" and dataset.ready
    row = m.nps_summary(ws.con, dataset.table).frame.iloc[0]
    # 184 responses: 74 promoters (38 nines, 36 tens), 75 passives, 35 detractors
    # NPS = 100·(74 − 35)/184 = 21.1957; var = (109/184) − (39/184)² = 0.592391 − 0.044926 = 0.547465
    # MoE = 195.9964·√(0.547465/184) = 10.6910
    assert (row.n, row.promoters, row.passives, row.detractors) == (184, 74, 75, 35)
    assert row.nps == pytest.approx(21.1957, abs=1e-4)
    assert row.moe == pytest.approx(10.6910, abs=1e-4)
    assert m.segment_columns(ws.con, dataset) == {"airline": "Airline"}
    seg = m.nps_by_segment(ws.con, dataset.table, "airline").frame
    assert seg["segment"].tolist() == ["Prep Air"] and seg["n"].tolist() == [184]
    with pytest.raises(BoundaryError, match="no response date"):
        m.nps_by_period(ws.con, dataset.table)
    assert m.area_flags(ws) == []  # NPS 21 is healthy; no dates, so no dips
    assert set(m.area_tables(ws)) == {"NPS summary", "NPS score distribution", "NPS by Airline",
                                      "NPS referral candidates"}
    assert len(m.area_tables(ws)["NPS referral candidates"]) == 74


# ------------------------------------------------------------------ trend and dips

def _dip_frame() -> pd.DataFrame:
    jan = [10] * 6 + [8] * 2 + [3] * 2  # P 6, D 2, n 10 → NPS 40
    feb = [10] * 1 + [8] * 2 + [3] * 7  # P 1, D 7, n 10 → NPS −60
    mar = jan                           # NPS 40 again
    rows = ([("2025-01-%02d" % (i + 1), s) for i, s in enumerate(jan)]
            + [("2025-02-%02d" % (i + 1), s) for i, s in enumerate(feb)]
            + [("2025-03-%02d" % (i + 1), s) for i, s in enumerate(mar)]
            + [("", 9), ("2025-03-05", "")])
    return pd.DataFrame({"Email": [f"u{i}@x.com" for i in range(len(rows))],
                         "Date": [r[0] for r in rows], "Score": [r[1] for r in rows]})


def test_dip_beyond_the_noise_by_hand(ws):
    dataset = load(ws, _dip_frame())
    result = m.nps_by_period(ws.con, dataset.table, "month", baseline_periods=8, alpha=0.05)
    f = result.frame.set_index("label")
    assert f["nps"].round(6).tolist() == [40.0, -60.0, 40.0]
    # Feb vs Jan: SE_jan = 100·√((0.8 − 0.16)/10) = 25.2982, SE_feb = 100·√((0.8 − 0.36)/10) = 20.9762
    # z = (−60 − 40)/√(640 + 440) = −100/32.8634 = −3.0429 ≤ −1.96 → dip
    assert f.loc["Feb 2025", "z"] == pytest.approx(-3.0429, abs=1e-4)
    assert f.loc["Feb 2025", "dip"]
    # Mar vs Jan+Feb pooled (P 7, D 9, n 20 → −10; SE_b = 100·√((0.8 − 0.01)/20) = 19.8746)
    # z = (40 + 10)/√(640 + 395) = 50/32.1714 = 1.5542 → a rise, not a dip
    assert f.loc["Mar 2025", "baseline_nps"] == pytest.approx(-10.0)
    assert f.loc["Mar 2025", "z"] == pytest.approx(1.5542, abs=1e-4)
    assert not f.loc["Mar 2025", "dip"] and not f.loc["Jan 2025", "dip"]
    assert math.isnan(f.loc["Jan 2025", "z"])  # no baseline before the first period
    assert f.loc["Mar 2025", "incomplete"] and not f.loc["Feb 2025", "incomplete"]  # data ends 10 March
    assert result.excluded == {m.EXCLUDED_NO_DATE: 1, m.EXCLUDED_MISSING: 1}
    # one-period baseline: Mar vs Feb alone, z = +3.0429
    short = m.nps_by_period(ws.con, dataset.table, "month", baseline_periods=1).frame.set_index("label")
    assert short.loc["Mar 2025", "baseline_nps"] == pytest.approx(-60.0)
    flags = m.area_flags(ws)
    dips = [f for f in flags if f.metric == "NPS dip"]
    assert [f.subject for f in dips] == ["Feb 2025"] and dips[0].reference == pytest.approx(40.0)
    # z = −3.04 is beyond z(α/10 = 0.005) = 2.807 → high
    assert dips[0].severity == "high"


def test_one_period_only(ws):
    dataset = load(ws, pd.DataFrame({"Date": ["2025-05-01", "2025-05-02"], "Score": [9, 2]}))
    frame = m.nps_by_period(ws.con, dataset.table, "month").frame
    assert len(frame) == 1 and not frame["dip"].any() and frame["nps"].iloc[0] == 0.0


# ------------------------------------------------------------------ segments, distribution, referrals

def test_segments_add_up_and_small_groups_are_marked(ws):
    frame = pd.DataFrame({"Score": [10, 10, 0, 7, 8, 9, "", 11],
                          "Plan": ["A", "A", "A", "B", "B", "", "B", "A"]})
    dataset = load(ws, frame)
    assert m.segment_columns(ws.con, dataset) == {"plan": "Plan"}
    seg = m.nps_by_segment(ws.con, dataset.table, "plan", min_group=3).frame.set_index("segment")
    # A: 10, 10, 0 (11 left out) → (2 − 1)/3 = 33.33; B: 7, 8 → 0; blank plan: 9 → 100, one answer: no margin
    assert seg.loc["A", "nps"] == pytest.approx(100 / 3)
    assert seg.loc["B", "nps"] == 0.0 and seg.loc["(blank)", "nps"] == 100.0
    assert math.isnan(seg.loc["(blank)", "moe"])
    assert seg["n"].sum() == 6  # groups add up to the valid total
    assert not seg.loc["A", "too_small"] and seg.loc["B", "too_small"]
    # A vs rest (B + blank: P 1, D 0, n 3 → 33.33): same NPS → z 0, not different
    assert seg.loc["A", "z"] == pytest.approx(0.0) and not seg.loc["A", "differs"]


def test_distribution_lists_every_score(ws):
    dataset = load(ws, pd.DataFrame({"Score": [10, 10, 3, "x", 12]}))
    result = m.score_distribution(ws.con, dataset.table)
    f = result.frame
    assert f["score"].tolist() == list(range(11))
    assert f.set_index("score")["responses"].to_dict() == {**{s: 0 for s in range(11)}, 10: 2, 3: 1}
    assert f["share"].sum() == pytest.approx(100.0)
    assert f.set_index("score").loc[3, "category"] == "Detractor"
    assert result.excluded == {m.EXCLUDED_MISSING: 1, m.EXCLUDED_RANGE: 1}


def test_referral_candidates_use_the_latest_answer(ws):
    frame = pd.DataFrame({"Email": ["a@x", "a@x", "b@x", "b@x", "c@x", "d@x"],
                          "Date": ["2025-01-01", "2025-03-01", "2025-01-01", "2025-03-01", "2025-02-01", "2025-02-01"],
                          "Score": [10, 3, 6, 9, 7, "ten"], "Plan": ["P", "P", "Q", "Q", "P", "Q"]})
    dataset = load(ws, frame)
    nine = m.referral_candidates(ws.con, dataset.table, 9, {"plan": "Plan"}).frame
    # a's latest is 3 (not a candidate any more), b's latest is 9, c gave 7, d's score is unreadable
    assert nine["respondent"].tolist() == ["b@x"] and nine["Plan"].tolist() == ["Q"]
    seven = m.referral_candidates(ws.con, dataset.table, 7).frame
    assert seven["respondent"].tolist() == ["b@x", "c@x"]
    with pytest.raises(BoundaryError, match="from 0 to 10"):
        m.referral_candidates(ws.con, dataset.table, 11)


# ------------------------------------------------------------------ campaigns

def test_nps_after_campaigns_vs_other_days(ws):
    dataset = load(ws, _dip_frame())
    calendar = load(ws, pd.DataFrame({"Campaign": ["Blitz", "Webinar"], "Channel": ["email", "webinar"],
                                      "Start Date": ["2025-02-01", "2025-03-20"],
                                      "End Date": ["2025-02-03", ""]}), "calendar.csv", "campaign_calendar")
    cmp, per = m.campaign_effect(ws.con, dataset.table, calendar.table, days=5)
    rows = cmp.frame.set_index("responses")
    # Blitz window: 1 Feb ≤ date < 3 Feb + 5 days = 8 Feb → Feb 1–7: 10, 8, 8, 3, 3, 3, 3 → P 1, D 4 → −42.86
    within = rows.loc["Within 5 days of a campaign"]
    assert (within.n, within.promoters, within.detractors) == (7, 1, 4)
    assert within.nps == pytest.approx(-300 / 7)
    # Other dated days: 30 dated valid − 7 = 23 (the undated 9 and the blank score are not counted)
    assert rows.loc["Other days", "n"] == 23
    assert per.frame["campaign"].tolist() == ["Blitz"]  # the webinar has no response in its window
    assert m.difference_z(cmp.frame) < 0
    only_webinars, per_w = m.campaign_effect(ws.con, dataset.table, calendar.table, 5, ["webinar"])
    assert only_webinars.frame["responses"].tolist() == ["Other days"] and per_w.frame.empty
    shown = m.campaigns(ws.con, calendar.table, pd.Timestamp("2025-03-01"), pd.Timestamp("2025-04-01"))
    assert shown["campaign"].tolist() == ["Webinar"]


# ------------------------------------------------------------------ comments and other columns

def test_comments_sentiment_terms_and_marketing(ws):
    frame = pd.DataFrame({
        "Score": [2, 3, 1, 10, 9, 10, "ten", 8],
        "Comment": ["Way too many emails", "Too many emails, awful", "Spam every day, too many emails",
                    "Love the dashboards", "Great dashboards", "Love it", "Too many emails", " "]})
    dataset = load(ws, frame)
    result = m.comments(ws.con, dataset.table)
    f = result.frame
    assert len(f) == 6 and result.excluded == {"comment with no valid score": 1}
    assert f.loc[f["category"] == "Detractor", "about_marketing"].all()
    assert not f.loc[f["category"] == "Promoter", "about_marketing"].any()
    by_cat = m.sentiment_by_category(f).set_index("category")
    assert by_cat.loc["Promoter", "pct_positive"] == 100.0 and by_cat.loc["Passive", "comments"] == 0
    terms = m.detractor_terms(f, min_texts=2)
    assert terms.iloc[0]["side"] == "Detractors" and terms.iloc[0]["detractor_comments"] == 3
    assert "dashboards" in set(terms.loc[terms["side"] == "Promoters", "term"])


def test_other_score_columns_are_offered(ws):
    frame = pd.DataFrame({"How likely are you to recommend us?": [10, 9, 3],
                          "How easy was setup (0-10)?": [7, 8, 10], "Plan": ["a", "b", "a"]})
    dataset = load(ws, frame)
    assert dataset.mapping["score"] == "How likely are you to recommend us?"
    assert m.other_score_columns(ws.con, dataset) == ["How easy was setup (0-10)?"]


def test_nothing_loaded_means_no_flags_and_no_tables(ws):
    assert m.area_flags(ws) == [] and m.area_tables(ws) == {}


def test_low_nps_is_flagged_against_the_healthy_line(ws):
    load(ws, pd.DataFrame({"Score": [0] * 20 + [10] * 15}))
    flags = m.area_flags(ws)
    assert [(f.metric, f.severity) for f in flags] == [("NPS", "high")]
    # (15 − 20)/35 = −14.29 below the healthy line 0
    assert flags[0].value == pytest.approx(-500 / 35) and flags[0].reference == 0.0


def test_comments_when_no_comment_is_usable(ws):
    dataset = load(ws, pd.DataFrame({"Score": ["ten", 9], "Comment": ["Spam", ""]}))
    result = m.comments(ws.con, dataset.table)
    assert result.frame.empty and result.excluded == {"comment with no valid score": 1}
    assert m.detractor_terms(result.frame).empty


# ------------------------------------------------------------------ chart builders

def test_chart_builders_are_titled_and_labelled(ws):
    from lib.charts import nps as charts

    dataset = load(ws, _dip_frame())
    calendar = load(ws, pd.DataFrame({"Campaign": ["Blitz"], "Channel": ["email"], "Start Date": ["2025-02-01"]}),
                    "calendar.csv", "campaign_calendar")
    periods = m.nps_by_period(ws.con, dataset.table).frame
    trend = charts.trend_chart(periods, 0.0, m.campaigns(ws.con, calendar.table), "month").to_dict()
    assert "dip" in trend["title"] and len(trend["layer"]) == 5
    assert trend["layer"][3]["encoding"]["y"]["title"].startswith("NPS (points")
    seg = m.nps_by_segment(ws.con, dataset.table, "respondent", 30).frame
    spec = charts.interval_chart(seg, "segment", "NPS by email", "Email").to_dict()
    assert spec["title"] == "NPS by email" and spec["layer"][1]["encoding"]["x"]["scale"]["domain"] == [-100, 100]
    dist = charts.distribution_chart(m.score_distribution(ws.con, dataset.table).frame).to_dict()
    assert dist["layer"][0]["encoding"]["x"]["title"] == "Score (0–10)"
    frame = pd.DataFrame({"category": ["Detractor", "Promoter"], "comment": ["too many emails", "love it"]})
    by_cat = m.sentiment_by_category(frame.assign(sentiment=[-0.3, 0.6], sentiment_label=["negative", "positive"]))
    assert charts.sentiment_chart(by_cat).to_dict()["encoding"]["x"]["scale"]["domain"] == [0, 100]
    terms = pd.DataFrame({"term": ["emails"], "z": [2.0], "side": ["Detractors"], "share_detractors": [0.5],
                          "share_promoters": [0.0]})
    assert "log odds" in charts.terms_chart(terms).to_dict()["encoding"]["x"]["title"]

"""Lead scoring: hand-worked ledgers and scores, rule validation messages, conversion by score band,
and the invariant that every lead's ledger sums to its score."""

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.datasets import Dataset
from lib.errors import BoundaryError
from lib.metrics import funnel as fm
from lib.metrics import lead_scoring as ls


def dataset(con, frame, mapping, extra):
    frame = frame.copy()
    frame.insert(0, "_row", range(2, len(frame) + 2))
    con.register("_s", frame)
    con.execute('CREATE OR REPLACE TABLE leads AS SELECT * FROM _s')
    con.unregister("_s")
    return Dataset("contacts.xlsx", "d", "leads", list(mapping.values()) + list(extra.values()), mapping, [],
                   "leads", len(frame), extra_columns=extra)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture
def three(con):
    frame = pd.DataFrame({
        "lead_id": ["L1", "L2", "L3"],
        "company_size": ["120", "51-200", None],
        "job_title": ["Marketing Manager", "Student", None],
        "email_opens": ["15", "3", "lots"],
        "demo_requested": ["Yes", "No", ""],
    })
    return dataset(con, frame, {"lead_id": "Record ID", "company_size": "Number of Employees",
                                "job_title": "Job Title"},
                   {"email_opens": "Email opens", "demo_requested": "Demo requested"})


RULES = pd.DataFrame([
    ["Email open", "Behaviour", "Email opens", "per occurrence", "", 1, 10],
    ["Demo", "Behaviour", "Demo requested", "once", "", 20, None],
    ["50+ employees", "Fit", "Number of Employees", "at least", "50", 10, None],
    ["Marketing role", "Fit", "Job Title", "contains any", "marketing, growth", 10, None],
    ["Student", "Fit", "Job Title", "contains any", "student, intern", -15, None],
], columns=ls.RULE_COLUMNS)


def test_scores_and_ledger_by_hand(con, three):
    rules = ls.resolve_rules(three, RULES)
    r = ls.lead_scores(con, "leads", rules, threshold=40)
    s = r.frame.set_index("lead_id")
    # L1: opens 15 capped at 10 → 10; demo Yes → 20; 120 ≥ 50 → 10; "marketing" → 10 → 50 (fit 20)
    # L2: opens 3 → 3; "51-200" reads 51 ≥ 50 → 10; Student → −15 → −2 (fit −5)
    # L3: "lots" is not a count (0, counted), blank demo, no profile → 0
    assert s["score"].to_dict() == {"L1": 50.0, "L2": -2.0, "L3": 0.0}
    assert s.loc["L1", "fit_points"] == 20 and s.loc["L2", "fit_points"] == -5
    # Best fit = 10 + 10 (negative rules excluded): L1 20/20 → A; L2 −5/20 → D; L3 0 → D
    assert s["fit_grade"].to_dict() == {"L1": "A", "L2": "D", "L3": "D"}
    assert s["qualifies"].to_dict() == {"L1": True, "L2": False, "L3": False}
    assert s.loc["L1", "reasons"] == "Demo +20; 50+ employees +10; Email open +10; Marketing role +10"
    assert r.excluded == {"cells of email_opens not readable as a count (scored 0)": 1}
    ledger = ls.score_ledger(con, "leads", rules, "L2").frame
    assert ledger[["rule", "evidence", "points"]].values.tolist() == [
        ["50+ employees", "51-200", 10.0], ["Email open", "3", 3.0], ["Student", "Student", -15.0]]


def test_uncapped_repeatable_and_is_one_of(con, three):
    rules = ls.resolve_rules(three, pd.DataFrame([
        ["Email open", "Behaviour", "Email opens", "per occurrence", "", 2, 0],      # cap 0 = no cap
        ["Title list", "Fit", "Job Title", "is one of", "student, cmo", 5, None],
    ], columns=ls.RULE_COLUMNS))
    s = ls.lead_scores(con, "leads", rules, 10).frame.set_index("lead_id")["score"]
    # L1: 2 × 15 = 30; L2: 2 × 3 + "Student" in list 5 = 11; L3: 0
    assert s.to_dict() == {"L1": 30.0, "L2": 11.0, "L3": 0.0}


@pytest.mark.parametrize("row,message", [
    (["R", "Behaviour", "Nope", "once", "", 1, None], "column “Nope” is not in contacts.xlsx"),
    (["R", "Fit", "Job Title", "once", "", 1, None], "How must be one of: at least, contains any, is one of"),
    (["R", "Fit", "Number of Employees", "at least", "fifty", 1, None], "“at least” needs a number"),
    (["R", "Behaviour", "Email opens", "once", "", "lots", None], "Points must be a number"),
    (["R", "Fit", "Job Title", "contains any", " , ", 1, None], "list the words"),
    (["R", "Other", "Job Title", "contains any", "a", 1, None], "Kind must be Behaviour or Fit"),
])
def test_rule_errors_name_the_rule(three, row, message):
    with pytest.raises(BoundaryError, match=message) as exc:
        ls.resolve_rules(three, pd.DataFrame([row], columns=ls.RULE_COLUMNS))
    assert str(exc.value).startswith("Scoring rule 1 (“R”)")


def test_default_rules_match_file_columns(three):
    rules = ls.default_rules(three)
    assert rules["Column"].tolist()[:2] == ["Email opens", "Demo requested"]
    assert "Job Title" in rules["Column"].tolist() and "Industry" not in rules["Column"].tolist()
    assert len(ls.resolve_rules(three, rules)) == len(rules)


def test_distribution_and_conversion_by_band(con):
    d = pd.Timestamp
    frame = pd.DataFrame({
        "lead_id": list("abcdef"),
        "created_date": [d("2026-01-01")] * 6,
        "customer_date": [None, None, d("2026-01-10"), None, None, d("2026-01-20")],
        "email_opens": [0, 0, 1, 1, 2, 5],
    })
    frame["created_date"] = frame["created_date"].astype("datetime64[us]")
    frame["customer_date"] = pd.to_datetime(frame["customer_date"]).astype("datetime64[us]")
    ds = dataset(con, frame, {"lead_id": "ID", "created_date": "Created", "customer_date": "Won"},
                 {"email_opens": "Email opens"})
    rules = ls.resolve_rules(ds, pd.DataFrame([["Open", "Behaviour", "Email opens", "per occurrence", "", 10, None]],
                                              columns=ls.RULE_COLUMNS))
    # scores 0, 0, 10, 10, 20, 50 → bands 0: 2, 10: 2, 20: 1, 50: 1
    dist = ls.score_distribution(con, "leads", rules, threshold=20).frame
    assert dist[["label", "leads"]].values.tolist() == [["0–9", 2], ["10–19", 2], ["20–29", 1], ["50–59", 1]]
    assert dist["at_or_above"].tolist() == [False, False, True, True]
    src = fm.FunnelSource("leads", "leads", frozenset(["lead_id", "created_date", "customer_date"]))
    band = ls.conversion_by_score_band(con, fm.cohort_sql(src, ["Lead", "Customer"], window_days=90), "leads",
                                       rules, 1, threshold=20).frame.set_index("label")
    # customers: c (score 10) and f (score 50) → 0–9: 0/2, 10–19: 1/2, 20–29: 0/1, 50–59: 1/1
    assert band["rate"].to_dict() == {"0–9": 0.0, "10–19": 0.5, "20–29": 0.0, "50–59": 1.0}
    assert band.loc["10–19", "rate_low"] < 0.5 < band.loc["10–19", "rate_high"]
    prof = ls.score_profile(con, "leads", rules, "month").frame
    assert prof["share"].sum() == pytest.approx(1.0) and prof["leads"].sum() == 6
    # summed from the days in pandas (a period click on the page): the same frame for every grain
    days = ls.score_profile_days(con, "leads", rules)
    assert days.frame[["band", "leads"]].values.tolist() == [[0, 2], [10, 2], [20, 1], [50, 1]]
    for grain in ("day", "week", "month", "quarter", "year"):
        want = ls.score_profile(con, "leads", rules, grain)
        got = ls.score_profile(con, "leads", rules, grain, days=days)
        pd.testing.assert_frame_equal(got.frame, want.frame)
        assert (got.sql, got.params, got.excluded) == (want.sql, want.params, want.excluded)


def test_band_conversion_counts_funnel_leads_without_a_file_score(con):
    # The count of funnel leads without a score rides on the bands' own query; with no band at all
    # (every score blank) it is counted by itself. File scores: a 30, b blank, c 70, d blank, e 5;
    # f has no created date, so it is not a funnel lead (its blank score is not counted here).
    d = pd.Timestamp
    frame = pd.DataFrame({"lead_id": list("abcdef"), "created_date": [d("2026-01-01")] * 5 + [None],
                          "customer_date": [d("2026-01-05"), None, d("2026-01-09"), None, None, None],
                          "lead_score": [30.0, None, 70.0, None, 5.0, None], "email_opens": ["x1", 2, 0, 1, 1, 1]})
    for col in ("created_date", "customer_date"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    ds = dataset(con, frame, {"lead_id": "ID", "created_date": "Created", "customer_date": "Won", "lead_score": "Score"},
                 {"email_opens": "Email opens"})
    rules = ls.resolve_rules(ds, pd.DataFrame([["Open", "Behaviour", "Email opens", "per occurrence", "", 1, None]],
                                              columns=ls.RULE_COLUMNS))
    src = fm.FunnelSource("leads", "leads", frozenset(["lead_id", "created_date", "customer_date", "lead_score"]))
    band = ls.conversion_by_score_band(con, fm.cohort_sql(src, ["Lead", "Customer"], window_days=30), "leads",
                                       rules, 1, threshold=50, use_file_score=True)
    # scored funnel leads a (30, won), c (70, won), e (5) → bands 0–9: 0/1, 30–39: 1/1, 70–79: 1/1; b and d blank
    assert band.frame[["label", "leads", "converted"]].values.tolist() == [["0–9", 1, 0], ["30–39", 1, 1],
                                                                         ["70–79", 1, 1]]
    assert list(band.frame.columns) == ["band", "leads", "converted", "label", "rate", "rate_low", "rate_high",
                                        "at_or_above"]
    assert band.excluded == {"funnel leads without a score": 2}
    con.execute("UPDATE leads SET lead_score = NULL")
    none = ls.conversion_by_score_band(con, fm.cohort_sql(src, ["Lead", "Customer"], window_days=30), "leads",
                                       rules, 1, threshold=50, use_file_score=True)
    assert none.frame.empty and none.excluded == {"funnel leads without a score": 5}
    # "x1" is not a count (scored 0, counted), in the same scan as the rows without an ID (none here)
    assert ls._unreadable(con, "leads", rules) == {"cells of email_opens not readable as a count (scored 0)": 1}


def test_band_labels():
    assert [ls.band_label(b) for b in (-1, 0, 40, 100)] == ["< 0", "0–9", "40–49", "100+"]


_CON = []


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["Yes", "No", "", "x", "maybe"]),
                          st.sampled_from(["5", "75", "1,000+", None, "n/a"])), min_size=1, max_size=15),
       st.integers(-20, 20), st.integers(-20, 20), st.one_of(st.none(), st.integers(1, 12)))
def test_ledger_sums_to_score(rows, open_points, size_points, cap):
    if not _CON:
        _CON.append(duckdb.connect())
    con = _CON[0]
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(len(rows))], "email_opens": [r[0] for r in rows],
                          "demo": [r[1] for r in rows], "company_size": [r[2] for r in rows]})
    ds = dataset(con, frame, {"lead_id": "ID", "company_size": "Employees"}, {"email_opens": "Opens", "demo": "Demo"})
    rules = ls.resolve_rules(ds, pd.DataFrame([
        ["Open", "Behaviour", "Opens", "per occurrence", "", open_points, cap],
        ["Demo", "Behaviour", "Demo", "once", "", 7, None],
        ["Size", "Fit", "Employees", "at least", "50", size_points, None],
    ], columns=ls.RULE_COLUMNS))
    scores = ls.lead_scores(con, "leads", rules, 0).frame.set_index("lead_id")["score"]
    ledger = ls.score_ledger(con, "leads", rules).frame.groupby("lead_id")["points"].sum()
    assert len(scores) == len(rows)
    for lead, score in scores.items():
        assert ledger.get(lead, 0.0) == pytest.approx(score)


# ------------------------------------------------------------------ per rule: impact and touches (issue 22)

def impact_leads(con):
    """Eight leads, all created 1 Jan 2026; four became customers within the 90-day window.

    lead  opens  demo  title      customer
    a     3      Yes   Marketing  yes
    b     2      Yes   Marketing  yes
    c     0      Yes   Sales      yes
    d     1      No    Marketing  no
    e     0      No    Sales      no
    f     5      No    Sales      yes
    g     0      No    Sales      no
    h     0      No    Sales      no
    """
    d = pd.Timestamp
    won = d("2026-02-01")
    frame = pd.DataFrame({
        "lead_id": list("abcdefgh"),
        "created_date": [d("2026-01-01")] * 8,
        "customer_date": [won, won, won, None, None, won, None, None],
        "job_title": ["Marketing", "Marketing", "Sales", "Marketing", "Sales", "Sales", "Sales", "Sales"],
        "email_opens": [3, 2, 0, 1, 0, 5, 0, 0],
        "demo": ["Yes", "Yes", "Yes", "No", "No", "No", "No", "No"],
    })
    for c in ("created_date", "customer_date"):
        frame[c] = pd.to_datetime(frame[c]).astype("datetime64[us]")
    ds = dataset(con, frame, {"lead_id": "ID", "created_date": "Created", "customer_date": "Won",
                              "job_title": "Title"}, {"email_opens": "Opens", "demo": "Demo"})
    rules = ls.resolve_rules(ds, pd.DataFrame([
        ["Open", "Behaviour", "Opens", "per occurrence", "", 1, None],
        ["Demo", "Behaviour", "Demo", "once", "", 20, None],
        ["Marketer", "Fit", "Title", "contains any", "marketing", 5, None],
    ], columns=ls.RULE_COLUMNS))
    src = fm.FunnelSource("leads", "leads", frozenset(["lead_id", "created_date", "customer_date", "job_title"]))
    return rules, fm.cohort_sql(src, ["Lead", "Customer"], window_days=90)


def test_rule_impact_by_hand(con):
    rules, cte = impact_leads(con)
    frame = ls.rule_impact(con, cte, "leads", rules, 1, threshold=20, min_group=1).frame.set_index("rule")
    # scores: a 3+20+5=28, b 2+20+5=27, c 20, d 1+5=6, e 0, f 5, g 0, h 0; MQL = score ≥ 20 → a, b, c
    # Open fires for a, b, d, f (4 of 8); customers among them a, b, f = 3/4; without: c, e, g, h → c = 1/4
    assert frame.loc["Open", ["fired", "with_n", "with_converted", "without_n", "without_converted"]].tolist() == [
        4, 4, 3, 4, 1]
    assert frame.loc["Open", "fired_share"] == 0.5
    assert frame.loc["Open", "diff"] == pytest.approx(0.75 - 0.25)
    # Removing Open: a 25, b 25 still ≥ 20, c has no opens → no lead changes status → no impact
    assert frame.loc["Open", "mql_changed"] == 0 and frame.loc["Open", "no_impact"]
    # Removing Demo: a 8, b 7, c 0 → all three drop below 20 → 3 changed
    assert frame.loc["Demo", "mql_changed"] == 3 and not frame.loc["Demo", "no_impact"]
    # Demo: with a, b, c all customers 3/3; without d–h: f = 1/5
    assert frame.loc["Demo", ["with_rate", "without_rate"]].tolist() == pytest.approx([1.0, 0.2])
    # Marketer fires for a, b, d: 2/3 vs c, e, f, g, h 2/5; removing it: a 23, b 22 stay → no impact
    assert frame.loc["Marketer", ["with_converted", "with_n", "without_converted", "without_n"]].tolist() == [
        2, 3, 2, 5]
    assert frame.loc["Marketer", "no_impact"]
    # Open 3/4 vs 1/4: every expected cell is 2 < 5 → Fisher's exact, scipy.stats.fisher_exact([[3, 1], [1, 3]])
    # p = 0.485714; Newcombe interval statsmodels confint_proportions_2indep(3, 4, 1, 4, method='newcomb',
    # compare='diff') = (−0.135488, 0.789083)
    assert frame.loc["Open", "p_value"] == pytest.approx(0.485714, abs=1e-6)
    assert frame.loc["Open", ["diff_low", "diff_high"]].tolist() == pytest.approx([-0.135488, 0.789083], abs=1e-6)
    # one family of three tests: BH of (0.4857, p_demo, p_marketer) — the largest stays as it is
    assert frame["p_bh"].max() == pytest.approx(frame["p_value"].max())
    assert frame["kind"].tolist() == ["Behaviour", "Behaviour", "Fit"]
    # min_group 5: no rule has ≥ 5 leads on both sides → no test, no interval lost
    untested = ls.rule_impact(con, cte, "leads", rules, 1, threshold=20, min_group=5).frame
    assert untested["p_value"].isna().all() and not untested["significant"].any()
    assert untested["diff_low"].notna().all()


def test_difference_interval_matches_statsmodels():
    # statsmodels confint_proportions_2indep(30, 100, 20, 100, method='newcomb', compare='diff')
    assert ls.difference_interval(30, 100, 20, 100) == pytest.approx((-0.020249362, 0.216734354), abs=1e-8)
    assert all(v != v for v in ls.difference_interval(1, 0, 1, 5))  # nan with an empty side


def test_touches_to_close_by_hand(con):
    rules, cte = impact_leads(con)
    per = ls.touches_to_close(con, cte, "leads", rules, 1).frame.set_index("lead_id")
    # touches = opens + demo (Yes = 1, No = 0), no points or caps: a 4, b 3, c 1, d 1, e 0, f 5, g 0, h 0
    assert per["touches"].to_dict() == {"a": 4, "b": 3, "c": 1, "d": 1, "e": 0, "f": 5, "g": 0, "h": 0}
    summary = ls.touch_summary(per.reset_index())
    # customers a, b, c, f → touches 1, 3, 4, 5: median (3 + 4) / 2 = 3.5; p25 = 1 + 0.75·2 = 2.5, p75 = 4.25
    assert (summary["n"], summary["median"], summary["p25"], summary["p75"]) == (4, 3.5, 2.5, 4.25)
    # the others d, e, g, h → 1, 0, 0, 0: median 0
    assert (summary["other_n"], summary["other_median"]) == (4, 0.0)
    dist = ls.touch_distribution(per.reset_index())
    # bins: 0 → none; 1–4 → c 1, b 3, a 4 = 3; 5–9 → f = 1
    assert dist["customers"].tolist() == [0, 3, 1] + [0] * 8 and dist["share"].tolist() == [0, .75, .25] + [0] * 8
    assert dist["label"].tolist()[-1] == "100+" and dist["customers"].sum() == summary["n"]


def test_touches_need_a_behaviour_rule(con):
    rules, cte = impact_leads(con)
    with pytest.raises(BoundaryError, match="Touches to close need activity counts"):
        ls.touches_to_close(con, cte, "leads", [r for r in rules if r.kind == "Fit"], 1)

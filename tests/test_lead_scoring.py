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

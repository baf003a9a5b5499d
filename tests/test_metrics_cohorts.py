"""Cohort retention on hand-worked data, nasty Online Retail-shaped files, and invariants."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.config import Thresholds
from lib.errors import BoundaryError
from lib.metrics import cohorts as c
from lib.metrics.cohorts import CohortOptions
from lib.result import MetricResult

T = pd.Timestamp


def make_table(rows, columns=("user_id", "event_time", "revenue"), con=None, name="activity"):
    """A DuckDB activity table with the canonical columns, as the Workspace stores it."""
    con = con or duckdb.connect()
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["event_time"] = pd.to_datetime(frame["event_time"]).astype("datetime64[us]")
    if "signup_date" in frame:
        frame["signup_date"] = pd.to_datetime(frame["signup_date"]).astype("datetime64[us]")
    frame.insert(0, "_row", range(2, len(frame) + 2))
    con.register("_f", frame)
    con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _f')
    con.unregister("_f")
    return con


def cells(result, cohort):
    f = result.frame
    return f.loc[f["cohort"] == T(cohort)].set_index("period")


# Five users, months Jan–Apr 2025; the data ends 10 Apr 12:00, so April is incomplete.
#   a: Jan 5 (10.0), Jan 20 (5.0), Mar 3 (7.0), Apr 10   -> gap in Feb
#   b: Jan 15, Feb 2 (4.0)
#   c: Jan 31 only                                       -> active only in month 0
#   d: Feb 10, Feb 11, Apr 1
#   e: Mar 15
MONTHLY = [
    ("a", "2025-01-05 09:00", 10.0), ("a", "2025-01-20 09:00", 5.0), ("a", "2025-03-03 09:00", 7.0),
    ("a", "2025-04-10 12:00", None), ("b", "2025-01-15 10:00", None), ("b", "2025-02-02 10:00", 4.0),
    ("c", "2025-01-31 23:30", None), ("d", "2025-02-10 08:00", None), ("d", "2025-02-11 08:00", None),
    ("d", "2025-04-01 08:00", None), ("e", "2025-03-15 08:00", None),
]


def test_monthly_matrix_by_hand():
    con = make_table(MONTHLY)
    result = c.retention_matrix(con, "activity")
    jan = cells(result, "2025-01-01")
    # Jan cohort {a, b, c} = 3 users. In month 1 (Feb) only b; month 2 (Mar) only a; month 3 (Apr) only a.
    assert jan["cohort_size"].tolist() == [3, 3, 3, 3]
    assert jan["users"].tolist() == [3, 1, 1, 1]
    assert jan["retention"].tolist() == pytest.approx([1.0, 1 / 3, 1 / 3, 1 / 3])
    # "in N or later": month 1 → a (last active month 3) and b (last month 1) = 2; month 2, 3 → a = 1
    assert jan["users_on_or_after"].tolist() == [3, 2, 1, 1]
    # April ends after the data (10 Apr): Jan's month 3 is the only incomplete Jan cell
    assert jan["complete"].tolist() == [True, True, True, False]
    # revenue: month 0 = 10 + 5 = 15; month 1 = 4 (b); month 2 = 7 (a); month 3 = 0 (blank revenue)
    assert jan["revenue"].tolist() == pytest.approx([15.0, 4.0, 7.0, 0.0])
    assert jan["revenue_retention"].tolist() == pytest.approx([1.0, 4 / 15, 7 / 15, 0.0])
    assert jan["revenue_per_user"].tolist() == pytest.approx([5.0, 4 / 3, 7 / 3, 0.0])
    feb = cells(result, "2025-02-01")
    # Feb cohort {d}: March nothing, April yes (incomplete)
    assert feb["users"].tolist() == [1, 0, 1]
    assert feb["users_on_or_after"].tolist() == [1, 1, 1]
    assert feb["complete"].tolist() == [True, True, False]
    mar = cells(result, "2025-03-01")
    assert mar["users"].tolist() == [1, 0] and mar["complete"].tolist() == [True, False]
    assert result.excluded == {}
    assert '"activity"' in result.sql


def test_average_curve_weighted_over_complete_cells():
    con = make_table(MONTHLY)
    curve = c.average_retention(c.retention_matrix(con, "activity")).frame.set_index("period")
    # month 0: (3 + 1 + 1) / (3 + 1 + 1) = 1; month 1: Jan (1 of 3) + Feb (0 of 1), Mar's April is
    # incomplete → step (1 + 0) / (3 + 1) = 0.25 (an unweighted mean of 1/3 and 0 would say 0.167)
    # month 2: Jan only (Feb's April incomplete) → step over Jan: 1 retained in month 2 / 1 in month 1 = 1,
    # so 0.25 × 1 = 0.25. The plain average of month 2's own set, 1 / 3, rose above month 1 only because
    # Feb (0 of 1) dropped out: it stays in `pooled`, and `set_changed` marks the drop-out.
    # month 3: only incomplete cells → no point
    assert curve.index.tolist() == [0, 1, 2]
    assert curve["retention"].tolist() == pytest.approx([1.0, 0.25, 0.25])
    assert curve["pooled"].tolist() == pytest.approx([1.0, 0.25, 1 / 3])
    assert curve["set_changed"].tolist() == [False, True, True]
    assert curve["base_users"].tolist() == [5, 4, 3]
    assert curve["cohorts"].tolist() == [3, 2, 1]
    # Greenwood on the log scale: var = (4 − 1) / (4 · 1) = 0.75 after month 1 (month 2's step 1 → 1 adds 0);
    # low = 0.25 · exp(−1.96 · √0.75) = 0.0458
    assert curve.loc[1, "lo"] == pytest.approx(0.25 * math.exp(-1.959964 * math.sqrt(0.75)))
    # money per cohort user over the cohorts at N (not chained): month 0 = (15 + 0 + 0) / 5 = 3;
    # month 1 = Jan 4 + Feb 0 over 3 + 1 users = 1; month 2 = Jan's 7 / 3 users
    assert curve["revenue_per_user"].tolist() == pytest.approx([3.0, 1.0, 7 / 3])
    assert all(curve["lo"] <= curve["retention"]) and all(curve["retention"] <= curve["hi"])
    assert c.period_retention(curve.reset_index(), 1) == (pytest.approx(0.25), 4)
    rate, n = c.period_retention(curve.reset_index(), 3)
    assert math.isnan(rate) and n == 0


def test_revenue_per_user_is_not_lost_when_sign_up_month_has_no_revenue():
    # every user pays only from month 1 (sign-ups earn nothing): a chain from month 0's zero gave 0 or nan
    rows = [("a", "2025-01-05 09:00", None), ("a", "2025-02-05 09:00", 10.0), ("a", "2025-03-05 09:00", 10.0),
            ("b", "2025-01-06 09:00", None), ("b", "2025-02-06 09:00", 20.0), ("b", "2025-03-31 09:00", None)]
    curve = c.average_retention(c.retention_matrix(make_table(rows), "activity")).frame.set_index("period")
    # Jan cohort of 2: month 1 revenue 30 → 15 per user; month 2 (March, complete to 31 Mar) 10 → 5
    assert curve["revenue_per_user"].tolist() == pytest.approx([0.0, 15.0, 5.0])
    assert math.isnan(curve.loc[1, "revenue_retention"])  # no month-0 revenue to compare with


def _matrix(cells):
    """A retention matrix frame from (cohort month index, size, retained per period, complete periods)."""
    rows = []
    for i, size, retained, complete_to in cells:
        cohort = pd.Timestamp("2025-01-01") + pd.DateOffset(months=i)
        for n, users in enumerate(retained):
            rows.append({"cohort": cohort, "period": n, "cohort_size": size, "users": users,
                         "revenue": float(users), "complete": n <= complete_to})
    return MetricResult(pd.DataFrame(rows), "", [], {})


def test_chained_curve_does_not_rise_when_young_cohorts_drop_out():
    # an old cohort that retained well (100 users: 60 in month 1, 50 in month 2, complete to month 2) and a
    # big young one that retains badly (1,000 users: 200 in month 1; its month 2 not complete yet)
    cells = [(0, 100, [100, 60, 50], 2), (1, 1000, [1000, 200, 100], 1)]
    curve = c.average_retention(_matrix(cells)).frame.set_index("period")
    # pooled month 1 = (60 + 200) / 1,100 = 0.2364; month 2 = 50 / 100 = 0.5 — the old average "rose" to 50 %
    # because only the good old cohort is left
    assert curve["pooled"].tolist() == pytest.approx([1.0, 260 / 1100, 0.5])
    # chained: month 2 = 0.2364 × (50 / 60) = 0.1970
    assert curve["retention"].tolist() == pytest.approx([1.0, 260 / 1100, 260 / 1100 * 50 / 60])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), st.lists(st.floats(0, 1), min_size=1, max_size=6)),
                min_size=1, max_size=8))
def test_chained_curve_never_rises_when_no_cohort_does(cohorts):
    """Property: every cohort's own retention falls (as under "in N or later") and the youngest cohorts are
    complete for fewer periods (a staircase) → the chained average never rises, whatever the sizes."""
    cells = []
    for i, (size, drops) in enumerate(cohorts):
        retained, level = [size], size
        for d in drops:
            level = int(level * d)
            retained.append(level)
        age = len(cohorts) - 1 - i  # cohort i is complete up to period `age`
        cells.append((i, size, retained, age))
    curve = c.average_retention(_matrix(cells)).frame
    values = curve["retention"].tolist()
    assert all(b <= a + 1e-12 for a, b in zip(values, values[1:]))
    assert all(0 <= v <= 1 for v in values)


def test_on_or_after_rule_changes_users_column():
    con = make_table(MONTHLY)
    result = c.retention_matrix(con, "activity", CohortOptions(rule="on_or_after"))
    jan = cells(result, "2025-01-01")
    assert jan["users"].tolist() == [3, 2, 1, 1]
    assert jan["retention"].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3, 1 / 3])


def test_week_mode_by_hand():
    # Weeks start Monday. x: Wed 5 Mar, Mon 10 Mar, Sun 23 Mar 18:00 (week of 17 Mar = week 2).
    # y: Sun 9 Mar (still the week of 3 Mar), Mon 10 Mar (week 1).
    con = make_table([("x", "2025-03-05 10:00", None), ("x", "2025-03-10 10:00", None),
                      ("x", "2025-03-23 18:00", None), ("y", "2025-03-09 22:00", None),
                      ("y", "2025-03-10 07:00", None)])
    result = c.retention_matrix(con, "activity", CohortOptions(grain="week"))
    week = cells(result, "2025-03-03")
    assert week["cohort_size"].tolist() == [2, 2, 2]
    assert week["users"].tolist() == [2, 2, 1]  # week 1: x and y; week 2: x
    # the data ends Sunday 23 Mar, the last day of week 2 → complete
    assert week["complete"].tolist() == [True, True, True]
    assert result.frame["cohort_label"].iloc[0] == "2025-03-03"


def test_rolling_windows_differ_from_calendar():
    # r: 31 Jan 10:00, 1 Feb 09:00 (calendar month 1, but rolling window 0), 2 Mar 11:00 (30 d 1 h later → window 1)
    rows = [("r", "2025-01-31 10:00", None), ("r", "2025-02-01 09:00", None), ("r", "2025-03-02 11:00", None),
            ("s", "2025-01-10 10:00", None), ("s", "2025-05-01 10:00", None)]
    con = make_table(rows)
    cal = cells(c.retention_matrix(con, "activity"), "2025-01-01")
    assert cal["users"].tolist() == [2, 1, 1, 0, 1]  # Feb: r; Mar: r; Apr: none; May: s
    rolling = cells(c.retention_matrix(con, "activity", CohortOptions(mode="rolling")), "2025-01-01")
    # r: windows 0 (31 Jan, 1 Feb), 1 (2 Mar). s: 1 May is 111 days after 10 Jan → window 3.
    assert rolling["users"].tolist()[:4] == [2, 1, 0, 1]
    # window 3 of the latest anchor (r, 31 Jan 10:00) ends 31 Jan + 120 d = 31 May > data end 1 May
    assert not rolling.loc[3, "complete"]


def test_signup_cohorts_and_their_exclusions():
    rows = [
        ("p", "2025-02-05 10:00", None, "2025-01-10"),  # signed up in Jan, first active in Feb
        ("q", "2024-12-20 10:00", None, "2025-01-02"),  # event before signup → left out and counted
        ("q", "2025-01-03 10:00", None, "2025-01-02"),
        ("z", "2025-01-04 10:00", None, None),  # no signup date → left out of signup cohorts
    ]
    con = make_table(rows, columns=("user_id", "event_time", "revenue", "signup_date"))
    result = c.retention_matrix(con, "activity", CohortOptions(cohort_by="signup"))
    jan = cells(result, "2025-01-01")
    # Jan signup cohort {p, q}: month 0 only q (p first came in Feb) = 50%; month 1 only p
    assert jan["cohort_size"].tolist() == [2, 2]
    assert jan["users"].tolist() == [1, 1]
    assert result.excluded == {"rows of users with no signup date": 1, "events before the user's signup period": 1}
    first = c.retention_matrix(con, "activity")
    assert first.frame.loc[first.frame["period"] == 0, "cohort_size"].sum() == 3


def test_signup_cohorts_need_a_signup_column():
    con = make_table(MONTHLY)
    with pytest.raises(BoundaryError, match="no signup date column"):
        c.retention_matrix(con, "activity", CohortOptions(cohort_by="signup"))


@pytest.mark.parametrize("kwargs,word", [({"grain": "day"}, "period"), ({"mode": "sliding"}, "period type"),
                                         ({"rule": "ever"}, "counting rule"), ({"cohort_by": "plan"}, "cohort by")])
def test_bad_options_are_named(kwargs, word):
    with pytest.raises(BoundaryError, match=f"Unknown {word}"):
        CohortOptions(**kwargs)


def test_empty_table_gives_empty_frames():
    con = make_table([(None, "2025-01-01", None)])
    result = c.retention_matrix(con, "activity")
    assert result.frame.empty and result.excluded == {"no user id": 1}
    assert c.average_retention(result).frame.empty
    assert c.wide(result.frame, "retention").columns.tolist() == ["Cohort", "Users"]


# ---------------------------------------------------------------- Online Retail-shaped files

ONLINE_RETAIL = [
    # InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "6", "03/01/2011 08:26", "2.55", "17850", "United Kingdom"),
    ("536365", "71053", "WHITE METAL LANTERN", "6", "03/01/2011 08:26", "3.39", "17850", "United Kingdom"),
    ("536366", "22633", "HAND WARMER UNION JACK", "6", "13/01/2011 08:28", "1.85", "13047", "United Kingdom"),
    ("536367", "22632", "HAND WARMER RED POLKA DOT", "6", "14/01/2011 09:00", "1.85", "", "United Kingdom"),
    ("C536368", "22633", "HAND WARMER UNION JACK", "-2", "20/01/2011 10:00", "1.85", "13047", "United Kingdom"),
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", "12", "02/02/2011 11:00", "1.00", "17850", "United Kingdom"),
    ("536371", "22727", "ALARM CLOCK BAKELIKE RED", "3", "15/02/2011 12:00", "2.00", "12583", "France"),
    ("536372", "22726", "ALARM CLOCK BAKELIKE GREEN", "4", "16/02/2011 12:30", "3.75", "", "United Kingdom"),
    ("536373", "21730", "GLASS STAR FROSTED T-LIGHT", "1", "01/03/2011 09:00", "5.00", "13047", "United Kingdom"),
    ("C536374", "22727", "ALARM CLOCK BAKELIKE RED", "-3", "02/03/2011 10:00", "2.00", "12583", "France"),
    ("536375", "84029G", "KNITTED UNION FLAG HOT WATER", "2", "10/03/2011 17:00", "4.00", "17850", "United Kingdom"),
]
OR_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]


def online_retail_csv(serial_dates: bool = False) -> bytes:
    frame = pd.DataFrame(ONLINE_RETAIL, columns=OR_COLUMNS)
    if serial_dates:  # as Excel stores them: days since 1899-12-30
        when = pd.to_datetime(frame["InvoiceDate"], format="%d/%m/%Y %H:%M")
        frame["InvoiceDate"] = ((when - T("1899-12-30")) / pd.Timedelta(days=1)).round(6).astype(str)
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize("serial", [False, True])
def test_online_retail_variant(ws, serial):
    dataset = ws.load("Online Retail.csv", online_retail_csv(serial), kinds=["activity"])
    assert dataset.ready and dataset.kind == "activity"
    result = c.retention_matrix(ws.con, dataset.table)
    # Jan cohort {17850, 13047}; 12583 starts in Feb. Blank CustomerID rows (2) and the two C-invoices
    # are left out; 12583's March cancellation is therefore not a return visit.
    assert result.excluded == {
        "no user id": 2,
        "cancellations / returns (invoice starting with C, negative quantity or amount)": 2}
    jan = cells(result, "2011-01-01")
    assert jan["users"].tolist() == [2, 1, 2]  # Feb: 17850; Mar: 13047 (after a gap) and 17850
    assert jan["complete"].tolist() == [True, True, False]  # the data ends 10 Mar
    # revenue = quantity × unit price: Jan 6×2.55 + 6×3.39 + 6×1.85 = 15.30 + 20.34 + 11.10 = 46.74
    # Feb 12×1.00 = 12.00; Mar 1×5.00 + 2×4.00 = 13.00
    assert jan["revenue"].tolist() == pytest.approx([46.74, 12.0, 13.0])
    feb = cells(result, "2011-02-01")
    assert feb["users"].tolist() == [1, 0]
    curve = c.average_retention(result).frame
    # month 1: only Jan's is complete → 1 of 2 = 50%
    assert c.period_retention(curve, 1) == (pytest.approx(0.5), 2)
    assert c.group_attributes(ws.con, dataset.table) == ["stockcode", "description", "country"]
    groups = c.group_retention(ws.con, dataset.table, "country").frame
    assert groups.groupby("group")["group_users"].first().to_dict() == {"United Kingdom": 2, "France": 1}


def test_dates_day_first_are_read_day_first(ws):
    dataset = ws.load("Online Retail.csv", online_retail_csv(), kinds=["activity"])
    first = ws.con.execute(f'SELECT MIN(event_time), MAX(event_time) FROM "{dataset.table}"').fetchall()[0]
    assert first == (T("2011-01-03 08:26").to_pydatetime(), T("2011-03-10 17:00").to_pydatetime())


# ---------------------------------------------------------------- sample data and groups


@pytest.fixture(scope="module")
def sample_ws():
    from lib.datasets import Workspace
    from lib.sample import load_samples

    workspace = Workspace()
    load_samples(workspace, ["activity"])
    yield workspace
    workspace.close()


def reference_matrix(events: pd.DataFrame) -> pd.DataFrame:
    """Plain pandas: monthly calendar cohorts by first activity, users returned in month N."""
    e = events.dropna(subset=["user_id", "event_time"])
    month = e["event_time"].dt.to_period("M")
    first = month.groupby(e["user_id"]).transform("min")
    n = (month - first).map(lambda d: d.n)
    active = pd.DataFrame({"user_id": e["user_id"], "cohort": first.dt.to_timestamp(), "period": n}).drop_duplicates()
    return active.groupby(["cohort", "period"]).size().rename("users").reset_index()


def test_sample_story_webinar_attendees_retain_better(sample_ws):
    groups = c.group_retention(sample_ws.con, "activity", "attended_onboarding_webinar").frame
    m3 = groups.loc[groups["period"] == 3].set_index("group")
    # the story: month-3 ≈ 45% with the webinar vs ≈ 25% without; intervals do not overlap
    assert m3.loc["yes", "retention"] > m3.loc["no", "retention"] + 0.1
    assert m3.loc["yes", "lo"] > m3.loc["no", "hi"]
    sizes = groups.groupby("group")["group_users"].first()
    total = sample_ws.con.execute('SELECT COUNT(DISTINCT user_id) FROM "activity"').fetchall()[0][0]
    assert sizes.sum() == total  # groups add up to all users
    assert set(c.group_attributes(sample_ws.con, "activity")) == {"attended_onboarding_webinar", "plan"}


def test_sample_matrix_matches_plain_pandas(sample_ws):
    events = sample_ws.con.execute('SELECT user_id, event_time FROM "activity"').df()
    expected = reference_matrix(events)
    got = c.retention_matrix(sample_ws.con, "activity").frame
    got = got.loc[got["users_in"] > 0, ["cohort", "period", "users_in"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got.rename(columns={"users_in": "users"}),
                                  expected.astype({"users": "int64", "period": "int64"}), check_dtype=False)
    # the last month (October 2026) is partial: its cells are marked incomplete
    last = c.retention_matrix(sample_ws.con, "activity").frame
    assert not last.loc[last["cohort"] == last["cohort"].max(), "complete"].any()


def test_area_contract(sample_ws):
    from lib.datasets import Workspace

    tables = c.area_tables(sample_ws)
    assert {"Retention matrix (%)", "Average retention", "Active users"} <= set(tables)
    assert all(isinstance(f.value, float) for f in c.area_flags(sample_ws))
    empty = Workspace()
    assert c.area_flags(empty) == [] and c.area_tables(empty) == {}
    empty.close()


def test_cohort_flag_against_trailing_baseline():
    # eight cohorts of 100 with 60 retained in month 1, then one of 100 with 30: 30/100 vs 480/800,
    # z = −5.7078, p = 1.14e-8 (statsmodels proportions_ztest([30, 480], [100, 800])); M1..M7 test 60 vs 60, p = 1.
    # Family of 8 cohorts: Bonferroni p = 9.2e-8 < 0.05 → high
    rows = [{"cohort": T("2025-01-01") + pd.DateOffset(months=i), "cohort_label": f"M{i}", "period": 1,
             "cohort_size": 100, "users": 60 if i < 8 else 30, "complete": True} for i in range(9)]
    tests = c.cohort_tests(pd.DataFrame(rows), Thresholds(), 1).set_index("cohort_label")
    assert len(tests) == 8 and tests.loc["M8", "z"] == pytest.approx(-5.707818, abs=1e-5)
    assert tests.loc["M8", "p_value"] == pytest.approx(1.144337e-8, rel=1e-4)
    # severity against the cohorts' own spread: φ = Pearson χ² / df of the 9 cells = 32.5792 / 8 = 4.0724
    # (statsmodels GLM Binomial pearson_chi2 / df_resid); z / √φ = −2.8285, p_wide = 0.0046777,
    # Bonferroni × 8 = 0.0374 < 0.05 → still high
    assert tests.loc["M8", "phi"] == pytest.approx(4.072398, abs=1e-5)
    assert tests.loc["M8", "p_wide"] == pytest.approx(0.00467773, rel=1e-4)
    flags = c.cohort_flags(pd.DataFrame(rows), Thresholds(), 1)
    assert [f.subject for f in flags] == ["Cohort M8"] and flags[0].severity == "high"
    assert flags[0].value == pytest.approx(0.30) and flags[0].reference == pytest.approx(0.60)
    # a milder dip, 47/100: z = −2.4880, p = 0.012846 (statsmodels) would flag alone, but over 8 cohorts
    # Benjamini–Hochberg gives 0.012846 × 8 / 1 = 0.1028 (statsmodels multipletests 'fdr_bh') → no flag
    rows[-1]["users"] = 47
    tests = c.cohort_tests(pd.DataFrame(rows), Thresholds(), 1).set_index("cohort_label")
    assert tests.loc["M8", "p_value"] == pytest.approx(0.012846, abs=1e-6)
    assert tests.loc["M8", "p_bh"] == pytest.approx(0.102772, abs=1e-6) and not tests["flagged"].any()
    assert c.cohort_flags(pd.DataFrame(rows), Thresholds(), 1) == []
    # prior cohorts that spread (50, 70, 55, 65, 60, 52, 68, 58 of 100) and M8 at 40/100: 40/100 vs 478/800,
    # z = −3.7674, p = 0.000165 (statsmodels proportions_ztest) → flagged by BH; but φ = 3.7262 (GLM Binomial
    # pearson_chi2 / df_resid) and p_wide = 2·Φ(−3.7674/√3.7262) = 0.05098, × 8 = 0.408 → medium, not high
    for row, users in zip(rows, [50, 70, 55, 65, 60, 52, 68, 58, 40]):
        row["users"] = users
    spread = c.cohort_tests(pd.DataFrame(rows), Thresholds(), 1).set_index("cohort_label")
    assert spread.loc["M8", "p_value"] == pytest.approx(0.000164985, rel=1e-4)
    assert spread.loc["M8", "phi"] == pytest.approx(3.726197, abs=1e-5)
    assert spread.loc["M8", "p_wide"] == pytest.approx(0.0509787, rel=1e-4)
    assert bool(spread.loc["M8", "flagged"]) and spread.loc["M8", "severity"] == "medium"
    # a cohort under min_group_size (30) is not tested
    rows[-1]["cohort_size"], rows[-1]["users"] = 10, 1
    assert c.cohort_flags(pd.DataFrame(rows), Thresholds(), 1) == []


# ---------------------------------------------------------------- active users


def test_active_users_by_hand():
    # u: 1 Jan and 5 Jan; v: 3 Jan; w: 9 Jan.  Data 1–9 Jan.
    con = make_table([("u", "2025-01-01 10:00", None), ("u", "2025-01-05 10:00", None),
                      ("u", "2025-01-05 11:00", None), ("v", "2025-01-03 10:00", None),
                      ("w", "2025-01-09 10:00", None)])
    f = c.active_users(con, "activity").frame.set_index("day")
    assert f.index.min() == T("2025-01-01") and f.index.max() == T("2025-01-09")
    assert f.loc["2025-01-05", "dau"] == 1  # two events of u count once
    # WAU(7 Jan) = users in 1–7 Jan = u, v = 2; WAU(8 Jan) = 2–8 Jan = u (5th), v = 2;
    # WAU(9 Jan) = 3–9 Jan = u, v, w = 3; WAU(2 Jan) = u = 1
    assert f.loc["2025-01-02", "wau"] == 1 and f.loc["2025-01-07", "wau"] == 2
    assert f.loc["2025-01-09", "wau"] == 3
    # WAU(12 Jan) would drop v; not in range. MAU(9 Jan) = all three
    assert f.loc["2025-01-09", "mau"] == 3
    # DAU/MAU on 9 Jan = mean DAU over 1–9 Jan (1,0,1,0,1,0,0,0,1 → 4/9) / 3
    assert f.loc["2025-01-09", "dau_mau"] == pytest.approx((4 / 9) / 3)
    assert not f["full_window"].any()  # fewer than 30 days of data


# ---------------------------------------------------------------- properties

events_strategy = st.lists(
    st.tuples(st.sampled_from(["u1", "u2", "u3", "u4", "u5", "u6", None]),
              st.datetimes(min_value=T("2024-11-01").to_pydatetime(), max_value=T("2025-06-30").to_pydatetime())),
    min_size=1, max_size=40)


PROPERTY_CON = duckdb.connect()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_strategy, grain=st.sampled_from(["month", "week"]), mode=st.sampled_from(["calendar", "rolling"]))
def test_matrix_invariants(events, grain, mode):
    con = make_table([(u, t, None) for u, t in events], con=PROPERTY_CON)
    opts = CohortOptions(grain=grain, mode=mode)
    f = c.retention_matrix(con, "activity", opts).frame
    users = {u for u, _ in events if u is not None}
    if not users:
        assert f.empty
        return
    zero = f.loc[f["period"] == 0]
    assert zero["cohort_size"].sum() == len(users)  # cohort sizes sum to the number of users
    assert (zero["retention"] == 1.0).all()  # period 0 of first-activity cohorts is 100%
    assert (f["users_in"] <= f["users_on_or_after"]).all() and (f["users_on_or_after"] <= f["cohort_size"]).all()
    later = f.groupby("cohort")["users_on_or_after"].apply(lambda s: bool((np.diff(s.to_numpy()) <= 0).all()))
    assert later.all()  # "in N or later" never rises with N
    assert f["retention"].between(0, 1).all()
    # completeness is monotone: once a cohort's cell is incomplete, its later cells are too
    assert f.groupby("cohort")["complete"].apply(lambda s: bool((np.diff(s.astype(int).to_numpy()) <= 0).all())).all()
    if grain == "month" and mode == "calendar":
        expected = reference_matrix(pd.DataFrame(events, columns=["user_id", "event_time"]))
        got = f.loc[f["users_in"] > 0, ["cohort", "period", "users_in"]].reset_index(drop=True)
        assert got["users_in"].tolist() == expected["users"].tolist()
        assert got["period"].tolist() == expected["period"].tolist()


@settings(max_examples=20, deadline=None)
@given(events=events_strategy)
def test_active_user_invariants(events):
    con = make_table([(u, t, None) for u, t in events], con=PROPERTY_CON)
    f = c.active_users(con, "activity").frame
    if f.empty:
        return
    assert (f["dau"] <= f["wau"]).all() and (f["wau"] <= f["mau"]).all()
    # brute force on the last day: distinct users in the 7 and 30 days ending on it
    clean = pd.DataFrame([(u, T(t).normalize()) for u, t in events if u is not None], columns=["u", "d"])
    last = f["day"].max()
    assert f["wau"].iloc[-1] == clean.loc[clean["d"] > last - pd.Timedelta(days=7), "u"].nunique()
    assert f["mau"].iloc[-1] == clean.loc[clean["d"] > last - pd.Timedelta(days=30), "u"].nunique()


# ---------------------------------------------------------------- charts


def test_chart_builders_are_titled_and_mark_incomplete_cells():
    from lib.charts import cohorts as charts

    con = make_table(MONTHLY)
    matrix = c.retention_matrix(con, "activity")
    spec = charts.retention_heatmap(matrix.frame, "retention", "Month").to_dict()
    assert spec["title"]["text"].startswith("Retention by cohort")
    values = next(iter(spec["datasets"].values()))
    labels = {(v["cohort_label"], v["period"]): v["label"] for v in values}
    assert labels[("Jan 2025", 1)] == "33%" and labels[("Jan 2025", 3)] == "33%*"  # April is incomplete
    assert spec["layer"][0]["encoding"]["x"]["title"].startswith("Months since cohort start")
    counts = charts.retention_heatmap(matrix.frame, "users", "Month").to_dict()
    assert {v["label"] for v in next(iter(counts["datasets"].values()))} >= {"3", "1*"}
    # incomplete cells fade and get a dashed outline: the same Vega-Lite as alt.condition wrote (the
    # chart builds channel objects, which Altair does not resolve against the schema on every build)
    rect = spec["layer"][0]["encoding"]
    assert rect["opacity"] == {"condition": {"test": "datum.complete", "value": 1.0}, "value": 0.45}
    assert rect["stroke"] == {"condition": {"test": "datum.complete", "value": None}, "value": "#333333"}
    assert spec["layer"][1]["encoding"]["text"] == {"field": "label", "type": "nominal"}
    curve = c.average_retention(matrix).frame
    assert charts.retention_curves(curve).to_dict()["title"]["text"].startswith("Average retention")
    assert charts.revenue_curve(curve).to_dict()["encoding"]["y"]["title"] == "Revenue per cohort user"
    active = c.active_users(con, "activity").frame
    assert charts.active_users_chart(active).to_dict()["encoding"]["y"]["title"] == "Active users"
    assert charts.stickiness_chart(active).to_dict()["encoding"]["y"]["axis"]["format"] == ".0%"


# ---------------------------------------------------------------- speed-ups: period keys and the result cache


@settings(max_examples=200, deadline=None)
@given(a=st.datetimes(min_value=T("1900-01-01").to_pydatetime(), max_value=T("2100-12-31").to_pydatetime()),
       b=st.datetimes(min_value=T("1900-01-01").to_pydatetime(), max_value=T("2100-12-31").to_pydatetime()),
       grain=st.sampled_from(["month", "week"]))
def test_integer_period_keys_are_the_periods_of_lib_periods(a, b, grain):
    """The grouping keys give exactly lib.periods' calendar months / ISO Monday weeks (pre-1970,
    year ends and leap days included), and the key difference is date_diff's whole periods."""
    from lib.periods import period_sql, period_start

    a, b = T(a).floor("us"), T(b).floor("us")
    ka, kb = c._period_key("a", grain), c._period_key("b", grain)
    row = PROPERTY_CON.execute(
        f"SELECT {c._key_date(ka, grain)}, {period_sql('a', grain)}, {c._key_diff(ka, kb, grain)} "
        "FROM (SELECT CAST(? AS TIMESTAMP) AS a, CAST(? AS TIMESTAMP) AS b)",
        [a.to_pydatetime(), b.to_pydatetime()]).fetchall()[0]
    assert T(row[0]) == T(row[1]) == period_start(a, grain)
    pa_, pb_ = period_start(a, grain), period_start(b, grain)
    if grain == "month":
        expected = (pb_.year - pa_.year) * 12 + pb_.month - pa_.month
    else:
        expected = (pb_ - pa_).days // 7
    assert row[2] == expected


def _cache_tables(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, ?) "
                                      "ORDER BY table_name", [c.CACHE_PREFIX]).fetchall()]


def test_cache_serves_reruns_and_is_invalidated_when_the_data_changes():
    con = make_table(MONTHLY)
    first = c.retention_matrix(con, "activity")
    stored = _cache_tables(con)
    assert stored  # the matrix and its exclusion counts were stored
    again = c.retention_matrix(con, "activity")
    assert _cache_tables(con) == stored and again.frame.equals(first.frame)
    # prove the rerun reads the stored result: tamper with it and see the tampered value come back
    cells_table = next(n for n in stored
                       if "users_in" in [r[0] for r in con.execute(f'DESCRIBE "{n}"').fetchall()])
    con.execute(f'UPDATE "{cells_table}" SET users_in = 99')
    assert (c.retention_matrix(con, "activity").frame["users_in"] == 99).all()
    # a new upload replaces the table: the figures are recomputed and the old results dropped
    make_table(MONTHLY + [("f", "2025-01-02 08:00", None)], con=con)
    fresh = c.retention_matrix(con, "activity")
    # Jan cohort gains f (active in Jan only): {a, b, c, f} = 4 users; month 1 (Feb) still only b
    assert cells(fresh, "2025-01-01")["cohort_size"].tolist() == [4, 4, 4, 4]
    assert cells(fresh, "2025-01-01")["users_in"].tolist() == [4, 1, 1, 1]
    assert not set(stored) & set(_cache_tables(con))
    # rows added in place (same table) also change the version: g starts in March
    con.execute("INSERT INTO activity VALUES (99, 'g', TIMESTAMP '2025-03-20 08:00', NULL)")
    assert cells(c.retention_matrix(con, "activity"), "2025-03-01")["cohort_size"].tolist() == [2, 2]  # e, g
    # other tables' results are kept apart: same SQL shape, another table
    make_table(MONTHLY[:2], con=con, name="other")
    assert c.retention_matrix(con, "other").frame["cohort_size"].tolist() == [1]
    assert c.retention_matrix(con, "activity").frame["cohort_size"].iloc[0] == 4
    kept = len(_cache_tables(con))
    assert kept > 0 and c.clear_cache(con) == kept and _cache_tables(con) == []


def test_cache_through_the_workspace_follows_a_new_upload(ws):
    one = b"user_id,event_time\nu1,2025-01-05\nu1,2025-02-05\nu2,2025-01-09\n"
    two = b"user_id,event_time\nu1,2025-01-05\nu2,2025-01-09\nu2,2025-02-09\nu3,2025-02-01\n"
    dataset = ws.load("a.csv", one, kind="activity")
    before = c.retention_matrix(ws.con, dataset.table).frame
    # one: Jan cohort {u1, u2}; month 1 (Feb): u1 → [2, 1]
    assert before["users_in"].tolist() == [2, 1]
    dataset = ws.load("b.csv", two, kind="activity")
    after = c.retention_matrix(ws.con, dataset.table).frame
    # two: Jan cohort {u1, u2}, month 1: u2; Feb cohort {u3} → Jan [2, 1], Feb [1]
    assert after["cohort_size"].tolist() == [2, 2, 1] and after["users_in"].tolist() == [2, 1, 1]
    assert c.active_users(ws.con, dataset.table).frame["dau"].sum() == 4


# ---------------------------------------------------------------- a group column with a hundred values


def many_companies_csv(n_users: int = 600, groups: int = 100) -> bytes:
    """Activity over 100 companies. User i (0–599) is at company ⌊(i/600)² × 100⌋ (Company 00 holds
    i = 0–59, the top companies a few users each) on plan Free/Pro/Team by i mod 3; every user is
    active on 2025-01-10 (the January cohort), even users again on 2025-02-10 and users with
    i mod 4 = 0 on 2025-03-10 (so February, month 1, is complete)."""
    rows = []
    for i in range(n_users):
        who = {"User ID": f"u{i:04d}", "Company": f"Company {min(int((i / n_users) ** 2 * groups), groups - 1):02d}",
               "Plan": ["Free", "Pro", "Team"][i % 3]}
        rows.append({**who, "Event Time": "2025-01-10 09:00", "Event": "login"})
        if i % 2 == 0:
            rows.append({**who, "Event Time": "2025-02-10 09:00", "Event": "login"})
        if i % 4 == 0:
            rows.append({**who, "Event Time": "2025-03-10 09:00", "Event": "login"})
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_a_hundred_companies_show_the_largest_plus_other(ws):
    dataset = ws.load("companies.csv", many_companies_csv(), kinds=["activity"])
    choices = c.group_choices(ws.con, dataset.table, dataset.extra_columns)
    assert [(x.label, x.levels) for x in choices] == [("Company", 100), ("Plan", 3)]
    groups = c.group_retention(ws.con, dataset.table, "company", max_groups=8).frame
    sizes = groups.drop_duplicates("group").set_index("group")
    assert len(sizes) == 9 and sizes.index[-1] == "Other (92 groups)" and sizes["groups"].iloc[-1] == 92
    assert sizes["group_users"].sum() == 600 and (sizes["all_groups"] == 100).all()  # the groups add up
    # Company 00: users 0–59, 30 of them even (back in February): month-1 retention 30/60 = 50 %.
    # Its interval is the curve's log interval: var = (60 − 30)/(60 × 30) = 1/60, half = 1.96 × √(1/60) = 0.2530,
    # 0.5 × e^−0.2530 = 0.3882 and 0.5 × e^0.2530 = 0.6439
    m1 = groups.loc[groups["period"] == 1].set_index("group")
    assert sizes.loc["Company 00", "group_users"] == 60 and m1.loc["Company 00", "retention"] == pytest.approx(0.5)
    assert (m1.loc["Company 00", "lo"], m1.loc["Company 00", "hi"]) == (pytest.approx(0.3882, abs=1e-4),
                                                                       pytest.approx(0.6439, abs=1e-4))
    # the Other row pools its 92 companies' users: month-1 retention = even users among them
    other_users = 600 - sizes["group_users"].iloc[:-1].sum()
    assert m1.loc["Other (92 groups)", "base_users"] == other_users
    table = c.group_table(groups, (1, 2))
    assert table["Group"].tolist()[0] == "Company 00" and table["Group"].iloc[-1] == "Other (92 groups)"
    assert table["Users"].sum() == 600 and table["Month 1 low (95%)"].iloc[0] == pytest.approx(0.3882, abs=1e-4)
    assert "Month 2 retention" not in table  # the data end in March: no cohort has reached month 2
    # a search keeps the companies whose name contains it (any case); the rest still add up in Other
    found = c.group_retention(ws.con, dataset.table, "company", max_groups=8, search="company 9").frame
    named = found.loc[~found["other"], "group"].unique()
    assert len(named) == 8 and all(g.startswith("Company 9") for g in named)
    assert found.drop_duplicates("group")["group_users"].sum() == 600
    few = c.group_retention(ws.con, dataset.table, "plan").frame  # 3 plans: all shown, no Other
    assert sorted(few["group"].unique()) == ["Free", "Pro", "Team"] and not few["other"].any()
    # 200 users per plan: the two first by name are shown, Team alone is the rest, still marked as Other and last
    one = c.group_retention(ws.con, dataset.table, "plan", max_groups=2).frame.drop_duplicates("group")
    assert one["group"].tolist() == ["Free", "Pro", "Other (1 group)"] and one["other"].tolist() == [False, False, True]


# ------------------------------------------------------------------ repeat purchase (issue 22)

def test_repeat_purchase_with_order_ids_by_hand():
    # Order lines (user, time, order id, quantity, unit price); the data ends 30 Jun 12:00.
    #   a: order 1 on 1 Jan (two lines), order 2 on 20 Jan → second order 19 days later
    #   b: order 3 on 1 Feb, then C4 (a cancellation: not an order) on 5 Feb, order 5 on 1 Jun → 120 days
    #   c: order 6 on 1 Mar only
    #   d: order 7 on 10 Jun → first order 20 days before the end: too recent for a 30-day window
    #   e: a row without an order id (a page view) on 1 Jan → not a customer
    rows = [("a", "2025-01-01 09:00", "1", 2, 5.0), ("a", "2025-01-01 09:00", "1", 1, 3.0),
            ("a", "2025-01-20 09:00", "2", 1, 3.0), ("b", "2025-02-01 09:00", "3", 1, 9.0),
            ("b", "2025-02-05 09:00", "C4", -1, 9.0), ("b", "2025-06-01 09:00", "5", 1, 9.0),
            ("c", "2025-03-01 09:00", "6", 1, 1.0), ("d", "2025-06-10 12:00", "7", 1, 1.0),
            ("e", "2025-01-01 10:00", None, None, None), ("c", "2025-06-30 12:00", None, None, None)]
    con = make_table(rows, ("user_id", "event_time", "order_id", "quantity", "unit_price"))
    r = c.repeat_purchase(con, "activity", 30)
    row = r.frame.iloc[0]
    # customers a, b, c, d; eligible (first order ≤ 31 May 12:00): a, b, c = 3; d too recent
    # within 30 days: a (19 days) → 1 of 3; b's 120 days is too late
    assert (row["customers"], row["eligible"], row["too_recent"], row["repeaters"]) == (4, 3, 1, 1)
    assert row["share"] == pytest.approx(1 / 3) and row["median_days_to_second"] == pytest.approx(19.0)
    # statsmodels proportion_confint(1, 3, method='wilson') = (0.061492, 0.792340)
    assert (row["low"], row["high"]) == pytest.approx((0.061492, 0.792340), abs=1e-6)
    assert row["orders"] == 6  # orders 1, 2, 3, 5, 6, 7 (C4 is a cancellation)
    assert r.excluded == {"cancellations / returns (invoice starting with C, negative quantity or amount)": 1}
    # 130 days: eligible = first order ≤ 20 Feb 12:00 → a and b; both second orders (19 and 120 days) count;
    # c (1 Mar) and d are too recent
    wide = c.repeat_purchase(con, "activity", 130).frame.iloc[0]
    assert wide[["eligible", "repeaters", "too_recent"]].tolist() == [2, 2, 2]


def test_repeat_purchase_without_order_ids_counts_paid_times():
    # revenue rows are orders, one per time: u pays 1 Jan and 1 Feb (31 days), v pays once; w never pays.
    rows = [("u", "2025-01-01 00:00", 29.0), ("u", "2025-02-01 00:00", 29.0), ("v", "2025-01-05 00:00", 79.0),
            ("w", "2025-01-02 00:00", None), ("w", "2025-06-01 00:00", 0.0)]
    con = make_table(rows)
    row = c.repeat_purchase(con, "activity", 45).frame.iloc[0]
    # data ends 1 Jun; u and v both ordered first ≥ 45 days before → eligible 2, repeaters 1 (u, 31 days)
    assert (row["customers"], row["eligible"], row["repeaters"], row["share"]) == (2, 2, 1, 0.5)
    assert row["median_days_to_second"] == pytest.approx(31.0)


def test_repeat_purchase_needs_orders_and_days():
    con = make_table([("a", "2025-01-01", None)], ("user_id", "event_time", "event"))
    assert not c.has_orders(con, "activity")
    with pytest.raises(BoundaryError, match="needs order lines: an order / invoice ID column or a revenue"):
        c.repeat_purchase(con, "activity", 30)
    with pytest.raises(BoundaryError, match="above 0"):
        c.repeat_purchase(make_table(MONTHLY), "activity", 0)


def test_export_holds_repeat_purchase(sample_ws):
    tables = c.area_tables(sample_ws)
    dataset = c._dataset(sample_ws)
    expected = c.repeat_purchase(sample_ws.con, dataset.table, sample_ws.thresholds["cohorts_repeat_days"]).frame
    assert tables["Repeat purchase"]["share"].tolist() == expected["share"].tolist()
    assert 0 < expected["share"].iloc[0] < 1 and expected["days"].iloc[0] == 90


def test_weighted_curve_chains_per_group_by_hand():
    # group A: cohort Jan (100 users) 100, 40, 20 retained in N = 0, 1, 2; cohort Feb (50) 50, 30 (N = 2 not
    # reached). N=0: 150/150 = 1; N=1 over both: 70/150 = 0.466667; N=2 over Jan only: × 20/40 →
    # 0.233333, pooled 20/100 = 0.2, fewer cohorts. Group B has no period 0: no curve. No revenue: the
    # revenue per user is 0 and revenue retention blank.
    jan, feb = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")
    cells = pd.DataFrame(
        [("A", jan, 0, 100, 100), ("A", jan, 1, 100, 40), ("A", jan, 2, 100, 20), ("A", feb, 0, 50, 50),
         ("A", feb, 1, 50, 30), ("B", jan, 1, 10, 5)],
        columns=["grp", "cohort", "period", "cohort_size", "users"]).assign(revenue=float("nan"), complete=True)
    curve = c._weighted_curve(cells.iloc[::-1])  # row order does not matter
    assert list(curve["grp"]) == ["A"] * 3 and list(curve["period"]) == [0, 1, 2]
    assert list(curve["cohorts"]) == [2, 2, 1] and list(curve["base_users"]) == [150, 150, 100]
    assert list(curve["users"]) == [150, 70, 20]
    assert curve["retention"].tolist() == pytest.approx([1.0, 70 / 150, 70 / 150 * 0.5])
    assert curve["pooled"].tolist() == pytest.approx([1.0, 70 / 150, 0.2])
    assert list(curve["set_changed"]) == [False, False, True]
    assert (curve["revenue_per_user"] == 0).all() and curve["revenue_retention"].isna().all()


def test_finish_complete_cells_by_hand():
    # a cell (cohort, N) is complete once the data reaches the last day of period N:
    # month, cohort 1 Jan 2026, N = 1 → February, last day 28 Feb; week, cohort Mon 5 Jan, N = 2 → the week
    # of 19 Jan, last day Sun 25 Jan; a cohort on 31 Jan (not a period start): N = 0 ends a calendar month
    # later, 28 Feb (the month is clipped), so its last day is 27 Feb
    def complete(cohort, n, end, grain):
        raw = pd.DataFrame({"grp": ["g"], "cohort": [pd.Timestamp(cohort)], "period": [n], "cohort_size": [10],
                            "users_in": [5], "users_on_or_after": [6], "revenue": [1.0],
                            "data_end": [pd.Timestamp(end)], "last_anchor": [pd.Timestamp(cohort)]})
        return bool(c._finish(raw, CohortOptions(grain=grain), False)["complete"].iloc[0])

    assert complete("2026-01-01", 1, "2026-02-28 08:00", "month") and not complete("2026-01-01", 1, "2026-02-27", "month")
    assert complete("2026-01-05", 2, "2026-01-25", "week") and not complete("2026-01-05", 2, "2026-01-24 23:00", "week")
    assert complete("2026-01-31", 0, "2026-02-27", "month") and not complete("2026-01-31", 0, "2026-02-26", "month")

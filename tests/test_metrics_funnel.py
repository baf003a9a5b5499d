"""Funnel metrics on hand-worked data (skipped stages, out-of-order dates, windows, ranges), properties
(counts never increase down the stages; groups sum to the total; wide == long), and the real Olist files."""

import math

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib.errors import BoundaryError
from lib.metrics import funnel as fm
from tests.conftest import real_file

STAGES = ["Lead", "MQL", "SQL", "Opportunity", "Customer"]
D = pd.Timestamp
N = None
# id, created, mql, sql, opportunity, customer, source, campaign, status
ROWS = [
    ("1", D("2026-01-05"), D("2026-01-10"), N, N, N, "A", "X", "Unqualified"),
    ("2", D("2026-01-06"), D("2026-01-08"), D("2026-01-20"), N, N, "B", "X", ""),
    ("3", D("2026-01-07"), D("2026-01-09"), D("2026-01-15"), D("2026-02-01"), N, "A", "X", ""),
    ("4", D("2026-02-01"), D("2026-02-03"), D("2026-02-10"), D("2026-02-20"), D("2026-03-01"), "B", "X", ""),
    ("5", D("2026-02-02"), N, D("2026-02-12"), N, N, "A", "Y", ""),            # skipped MQL
    ("6", D("2026-02-03"), N, N, N, D("2026-08-22"), "B", "Y", ""),            # customer 200 days later
    ("7", D("2026-02-04"), N, N, N, N, "A", "Y", "Unqualified"),
    ("8", D("2026-02-05"), N, N, N, N, "B", "Y", "New"),
    ("9", D("2026-03-01"), D("2026-03-10"), D("2026-03-05"), N, N, "A", "Y", ""),  # SQL before MQL
    (" ", D("2026-03-02"), N, N, N, N, "A", "Y", ""),                          # no lead ID
]
COLUMNS = ["lead_id", "created_date", "mql_date", "sql_date", "opportunity_date", "customer_date", "source",
           "campaign", "status"]


def make_wide(con, rows=ROWS, name="leads", extra=None):
    frame = pd.DataFrame(rows, columns=COLUMNS[:len(rows[0])] if rows else COLUMNS)
    for col in COLUMNS[1:6]:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    if extra:
        for k, v in extra.items():
            frame[k] = v
    frame.insert(0, "_row", range(2, len(frame) + 2))
    con.register("_f", frame)
    con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _f')
    con.unregister("_f")
    return fm.FunnelSource(name, "leads", frozenset(c for c in frame.columns if c != "_row"))


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def counts(frame):
    return dict(zip(frame["stage"], frame["leads"]))


def test_stage_counts_conversion_and_days_by_hand(con):
    src = make_wide(con)
    r = fm.funnel_stages(con, src, STAGES, window_days=90)
    f = r.frame.set_index("stage")
    # Reach date r_k = earliest date at k or later. In a 90-day window:
    # Lead 9 (all with an ID); MQL: 1,2,3,4,5 (skipped MQL, SQL date counts),9 = 6 — lead 6's only later
    # date is 200 days on; SQL: 2,3,4,5,9 = 5; Opportunity: 3,4 = 2; Customer: 4 = 1.
    assert counts(r.frame) == {"Lead": 9, "MQL": 6, "SQL": 5, "Opportunity": 2, "Customer": 1}
    assert f.loc["MQL", "pct_of_start"] == pytest.approx(6 / 9)
    assert f.loc["SQL", "pct_of_previous"] == pytest.approx(5 / 6)
    assert f.loc["Customer", "pct_of_start"] == pytest.approx(1 / 9)
    assert f.loc["SQL", "drop_off"] == 1 and f.loc["SQL", "drop_off_pct"] == pytest.approx(1 / 6)
    assert math.isnan(f.loc["Lead", "pct_of_previous"])
    # skipped: lead 5 counted at MQL without an MQL date; out of order: lead 9 SQL (03-05) < MQL (03-10)
    assert f.loc["MQL", "skipped"] == 1 and f.loc["SQL", "skipped"] == 0
    assert f.loc["SQL", "out_of_order"] == 1 and f.loc["MQL", "out_of_order"] == 0
    # Lead→MQL ordered pairs: 1: 5 d, 2: 2 d, 3: 2 d, 4: 2 d, 9: 9 d → median 2, n 5
    assert f.loc["MQL", "days_n"] == 5 and f.loc["MQL", "median_days"] == pytest.approx(2.0)
    # MQL→SQL: 2: 12 d, 3: 6 d, 4: 7 d (5 has no MQL date, 9 is out of order) → median 7, n 3
    assert f.loc["SQL", "days_n"] == 3 and f.loc["SQL", "median_days"] == pytest.approx(7.0)
    # SQL→Opportunity: 3: 17 d, 4: 10 d → median 13.5; Opportunity→Customer: 4: Feb 20 → Mar 1 = 9 d
    assert f.loc["Opportunity", "median_days"] == pytest.approx(13.5)
    assert f.loc["Customer", "median_days"] == pytest.approx(9.0)
    assert r.excluded == {"rows without a lead ID": 1}


def test_no_window_counts_every_conversion(con):
    src = make_wide(con)
    # Lead 6 (customer 200 days later) now counts at MQL, SQL, Opportunity and Customer.
    r = fm.funnel_stages(con, src, STAGES)
    assert counts(r.frame) == {"Lead": 9, "MQL": 7, "SQL": 6, "Opportunity": 3, "Customer": 2}
    assert r.frame.set_index("stage").loc["MQL", "skipped"] == 2  # leads 5 and 6


def test_range_selects_entry_and_conversions_count_past_its_end(con):
    src = make_wide(con)
    # Entered in January: leads 1, 2, 3. Lead 3 became an opportunity on Feb 1, after the range: counts.
    r = fm.funnel_stages(con, src, STAGES, D("2026-01-01"), D("2026-02-01"), 90)
    assert counts(r.frame) == {"Lead": 3, "MQL": 3, "SQL": 2, "Opportunity": 1, "Customer": 0}
    # Entered in February: 4, 5, 6, 7, 8 (9 entered on Mar 1, the exclusive end).
    r = fm.funnel_stages(con, src, STAGES, D("2026-02-01"), D("2026-03-01"), 90)
    assert counts(r.frame) == {"Lead": 5, "MQL": 2, "SQL": 2, "Opportunity": 1, "Customer": 1}


def test_custom_stage_order_and_subset(con):
    src = make_wide(con)
    r = fm.funnel_stages(con, src, ["MQL", "Customer"], window_days=None)
    # Entered = first date among MQL/Customer dates: leads 1,2,3,4,6,9 have one (5 has neither) → 6;
    # Customer: 4 and 6 → 2. Leads 5, 7, 8 reached none of the chosen stages (counted).
    assert counts(r.frame) == {"MQL": 6, "Customer": 2}
    assert r.excluded["leads with no date at any chosen stage"] == 3
    with pytest.raises(BoundaryError, match="only once"):
        fm.funnel_stages(con, src, ["MQL", "MQL"])
    with pytest.raises(BoundaryError, match="at least one"):
        fm.funnel_stages(con, src, [])


def test_breakdown_by_campaign_sums_to_total_with_other(con):
    src = make_wide(con)
    r = fm.funnel_by_group(con, src, STAGES, "campaign", window_days=90, min_group=5)
    g = r.frame.set_index("group")
    # X = leads 1–4: MQL 4, SQL 3 (2,3,4), Opp 2, Cust 1. Y = 5–9: MQL 2 (5, 9), SQL 2, Opp 0, Cust 0.
    assert g.loc["X", STAGES].tolist() == [4, 4, 3, 2, 1]
    assert g.loc["Y", STAGES].tolist() == [5, 2, 2, 0, 0]
    assert g.loc["X", "conversion"] == pytest.approx(0.25)
    assert bool(g.loc["X", "small"]) and not bool(g.loc["Y", "small"])
    top1 = fm.funnel_by_group(con, src, STAGES, "campaign", window_days=90, top_n=1).frame
    assert list(top1["group"]) == ["Y", "Other (1 group)"] and top1["Lead"].sum() == 9


def test_cohorts_and_entries_per_month(con):
    src = make_wide(con)
    c = fm.funnel_by_cohort(con, src, STAGES, "month", window_days=90).frame
    assert c[STAGES].values.tolist() == [[3, 3, 2, 1, 0], [5, 2, 2, 1, 1], [1, 1, 1, 0, 0]]
    # The data ends on Aug 22 (lead 6's customer date): March + 90 days is still before → window closed.
    assert not c["window_open"].any()
    e = fm.stage_entries_by_period(con, src, STAGES, "month").frame
    mql = e[e["stage"] == "MQL"].set_index(e[e["stage"] == "MQL"]["period"].dt.strftime("%Y-%m"))["leads"]
    # MQL reach dates: Jan 10, 8, 9 (1,2,3); Feb 3, 12 (4, 5 via SQL); Mar 5 (9 via SQL); Aug 22 (6)
    assert mql.to_dict() == {"2026-01": 3, "2026-02": 2, "2026-03": 1, "2026-08": 1}
    # the same counts summed in pandas from the days (what a period click does on the page)
    days, last = fm.stage_entry_days(con, src, STAGES), fm.data_end(con, src, STAGES)
    assert days.frame["period"].dt.strftime("%Y-%m-%d").tolist()[:3] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    summed = fm.stage_entries_by_period(con, src, STAGES, "month", days=days, last=last)
    pd.testing.assert_frame_equal(summed.frame, e)


@pytest.mark.parametrize("grain", ["day", "week", "month", "quarter", "year"])
@pytest.mark.parametrize("span", [(None, None), ("2026-01-06", "2026-02-12 12:00"), ("2027-01-01", "2027-02-01")])
def test_entries_summed_from_days_equal_the_period_query(con, grain, span):
    # Weeks from Monday, quarters, a range cutting a day at noon and one with no lead: every frame, the
    # SQL shown and the rows left out are the per-period query's, whatever the grain.
    src = make_wide(con)
    start, end = (pd.Timestamp(v) if v else None for v in span)
    want = fm.stage_entries_by_period(con, src, STAGES, grain, start, end)
    got = fm.stage_entries_by_period(con, src, STAGES, grain, start, end, fm.stage_entry_days(con, src, STAGES, start, end),
                                     fm.data_end(con, src, STAGES))
    pd.testing.assert_frame_equal(got.frame, want.frame)
    assert (got.sql, got.params, got.excluded) == (want.sql, want.params, want.excluded)


def test_duration_distribution_shares(con):
    src = make_wide(con)
    d = fm.stage_duration_distribution(con, src, STAGES, window_days=90).frame
    lead_mql = d[d["pair"] == "Lead → MQL"].set_index("bin")["pairs"].to_dict()
    # Lead→MQL days 5, 2, 2, 2, 9 → four in 1–7 days, one in 7–14 days
    assert lead_mql == {"1–7 days": 4, "7–14 days": 1}
    assert d.groupby("step")["share"].sum().tolist() == pytest.approx([1.0, 1.0, 1.0, 1.0])


def test_campaign_quality_by_hand(con):
    src = make_wide(con)
    r = fm.campaign_quality(con, src, STAGES, "campaign", window_days=90, min_group=1, slow_ratio=1.5)
    g = r.frame.set_index("group")
    # Unqualified: lead 1 (X), lead 7 (Y) → X 1/4, Y 1/5; "rest" of X is Y's 1/5
    assert g.loc["X", "disq_rate"] == pytest.approx(0.25) and g.loc["X", "rest_rate"] == pytest.approx(0.2)
    # Days entered → MQL reach: X 5, 2, 2, 2 → 2; Y: 5 → 10 (Feb 2 → Feb 12), 9 → 4 → 7; all 2,2,2,4,5,10 → 3
    assert g.loc["X", "median_days_next"] == pytest.approx(2.0)
    assert g.loc["Y", "median_days_next"] == pytest.approx(7.0)
    assert g.loc["(all leads)", "median_days_next"] == pytest.approx(3.0)
    assert g.loc["Y", "slow_ratio"] == pytest.approx(7 / 3) and bool(g.loc["Y", "slow_flag"])
    assert not g["disq_flag"].any()  # 1/4 vs 1/5 is noise
    flags = fm.quality_flags(r.frame, "campaign", STAGES, {"baseline_alpha": 0.05, "funnel_slow_ratio_max": 1.5})
    assert [(f.metric, f.subject) for f in flags] == [("Median days to MQL", "campaign: Y")]


def test_cost_per_mql_by_hand(con):
    src = make_wide(con)
    costs = pd.DataFrame({"_row": [2, 3, 4, 5], "campaign": ["x ", "Y", "Z", "Y"], "cost": [1200.0, 500.0, 300.0, None],
                          "period": pd.to_datetime(["2026-01-01", None, "2026-01-01", None]).astype("datetime64[us]")})
    con.register("_c", costs)
    con.execute("CREATE TABLE costs AS SELECT * FROM _c")
    r = fm.cost_per_mql(con, src, STAGES, "costs", "MQL", window_days=90)
    f = r.frame.set_index("campaign")
    # X: 1200 / 4 MQLs = 300; Y: 500 / 2 MQLs = 250; Z: cost but no leads → NaN. One blank cost row.
    assert f.loc["x", "cost_per_mql"] == pytest.approx(300.0)
    assert f.loc["Y", "cost_per_mql"] == pytest.approx(250.0) and f.loc["Y", "cost_per_lead"] == pytest.approx(100.0)
    assert math.isnan(f.loc["Z", "cost_per_mql"]) and f.loc["Z", "leads"] == 0
    assert r.n_excluded == 1
    # February only: X's January cost is outside the range; Y's undated cost counts; Y MQLs: lead 5
    f = fm.cost_per_mql(con, src, STAGES, "costs", "MQL", D("2026-02-01"), D("2026-03-01"), 90).frame.set_index("campaign")
    assert math.isnan(f.loc["X", "cost"]) and f.loc["X", "mqls"] == 1
    assert f.loc["Y", "cost_per_mql"] == pytest.approx(500.0)


def _quality_leads(con, unqualified: dict[str, int]):
    """40 leads per campaign, the first k of each marked Unqualified."""
    rows, i = [], 0
    for campaign, k in unqualified.items():
        for j in range(40):
            i += 1
            rows.append((f"{campaign}{j}", D("2026-01-01") + pd.Timedelta(days=i % 60), N, N, N, N, "web", campaign,
                         "Unqualified" if j < k else "Open"))
    return make_wide(con, rows, name="quality")


def test_disqualification_flags_are_one_family_over_the_campaigns(con):
    th = {"baseline_alpha": 0.05, "funnel_slow_ratio_max": 1.5}
    # A: 20 of 40 disqualified vs 24 of the other 120: z = 3.6800, p = 0.000233 (statsmodels proportions_ztest);
    # B, C, D: 8 of 40 vs 36 of 120, p = 0.2199 each. Benjamini–Hochberg over 4: A 0.000933 → flagged;
    # Bonferroni 0.000933 < 0.05 → high
    src = _quality_leads(con, {"A": 20, "B": 8, "C": 8, "D": 8})
    g = fm.campaign_quality(con, src, ["Lead"], "campaign", min_group=30).frame.set_index("group")
    assert g.loc["A", "p_value"] == pytest.approx(0.000233244, rel=1e-4)
    assert g.loc["A", "p_bh"] == pytest.approx(0.00093298, rel=1e-4)
    assert g["disq_flag"].tolist() == [True, False, False, False, False]  # (all leads) is never tested
    flags = fm.quality_flags(g.reset_index(), "campaign", ["Lead"], th)
    assert [(f.subject, f.severity) for f in flags] == [("campaign: A", "high")]
    # A at 16 of 40 vs 27 of 120: p = 0.0306 alone, but 0.1224 after Benjamini–Hochberg over 4 → no flag
    src = _quality_leads(con, {"A": 16, "B": 9, "C": 9, "D": 9})
    g = fm.campaign_quality(con, src, ["Lead"], "campaign", min_group=30).frame.set_index("group")
    assert g.loc["A", "p_value"] == pytest.approx(0.0306044, rel=1e-4)
    assert g.loc["A", "p_bh"] == pytest.approx(0.1224178, rel=1e-4) and not g["disq_flag"].any()
    # groups under min_group leads are shown but not tested (blank p)
    g = fm.campaign_quality(con, src, ["Lead"], "campaign", min_group=41).frame
    assert g["p_value"].isna().all() and not g["disq_flag"].any()


def test_step_conversion_by_source_is_one_family(con):
    # 50 leads from each of S1, S2, S3; MQLs within the window: S1 10, S2 25, S3 25.
    #   S1: 10/50 vs 50/100, z = −3.5355, p = 0.000407 (statsmodels proportions_ztest([10, 50], [50, 100]))
    #   S2, S3: 25/50 vs 35/100, p = 0.0771 each
    #   Benjamini–Hochberg over 3: 0.00122, 0.0771, 0.0771 → S1 flagged; Bonferroni 0.00122 → high
    rows = []
    for source, mqls in (("S1", 10), ("S2", 25), ("S3", 25)):
        for j in range(50):
            created = D("2026-01-01") + pd.Timedelta(days=j)
            rows.append((f"{source}-{j}", created, created + pd.Timedelta(days=5) if j < mqls else N, N, N, N,
                         source, "c", ""))
    src = make_wide(con, rows, name="by_source")
    t = fm.conversion_tests(con, src, ["Lead", "MQL"], ["source"], window_days=90, min_group=30).set_index("group")
    assert t.loc["S1", "step"] == "Lead → MQL" and (t.loc["S1", "to_n"], t.loc["S1", "from_n"]) == (10, 50)
    assert t["p_value"].tolist() == pytest.approx([0.000406952, 0.0770999, 0.0770999], rel=1e-4)
    assert t["p_bh"].tolist() == pytest.approx([0.00122086, 0.0770999, 0.0770999], rel=1e-4)
    assert t["flagged"].tolist() == [True, False, False] and t.loc["S1", "severity"] == "high"
    flags = fm.conversion_flags(t.reset_index())
    assert [(f.metric, f.subject) for f in flags] == [("Lead → MQL conversion", "source: S1")]
    # a campaign made of exactly one flagged source's leads is reported once, by source
    both = pd.concat([t.reset_index(), t.reset_index().assign(by="campaign", group="c")], ignore_index=True)
    assert [f.subject for f in fm.conversion_flags(both)] == ["source: S1"]
    assert "p<0.001" in flags[0].test
    # under min_group leads at the step's start: not tested
    assert fm.conversion_tests(con, src, ["Lead", "MQL"], ["source"], window_days=90, min_group=51).empty


def _costs(con, name, campaigns, costs, periods):
    frame = pd.DataFrame({"_row": range(2, len(costs) + 2), "campaign": campaigns, "cost": costs,
                          "period": pd.to_datetime(periods).astype("datetime64[us]")})
    con.register("_c", frame)
    con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _c')
    con.unregister("_c")


def test_cost_per_mql_prorates_months_partly_in_the_range(con):
    src = make_wide(con)
    _costs(con, "monthly", ["X", "X", "X", "X"], [310.0, 280.0, 310.0, 300.0],
           ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"])
    assert fm.cost_grain(con, "monthly") == "month"
    # Range 15 Jan – 10 Mar (the page passes the day after the last picked day as the end):
    #   January: 15..31 = 17 of 31 days → 310 × 17/31 = 170   (the old rule dropped it: dated 1 Jan < 15 Jan)
    #   February: whole month → 280
    #   March: 1..10 = 10 of 31 days → 310 × 10/31 = 100      (the old rule counted all 310)
    #   April: wholly outside → 0, counted as left out
    # cost = 550; X's leads entering in the range: lead 4 (1 Feb), an MQL → cost per MQL = 550 / 1
    r = fm.cost_per_mql(con, src, STAGES, "monthly", "MQL", D("2026-01-15"), D("2026-03-11"), 90)
    x = r.frame.set_index("campaign").loc["X"]
    assert x["cost"] == pytest.approx(550.0) and x["mqls"] == 1 and x["cost_per_mql"] == pytest.approx(550.0)
    assert r.excluded == {"cost rows whose period lies wholly outside the range": 1}
    assert "17/31" in fm.cost_rule("month", D("2026-01-15"), D("2026-03-11"))
    # no range: every row whole, 310 + 280 + 310 + 300 = 1200
    whole = fm.cost_per_mql(con, src, STAGES, "monthly", "MQL", window_days=90).frame.set_index("campaign")
    assert whole.loc["X", "cost"] == pytest.approx(1200.0)


def test_cost_per_mql_weekly_and_daily_rows(con):
    src = make_wide(con)
    # Mondays 5 and 12 Jan, 70 each: weekly rows. Range from Thu 8 Jan: 8..11 = 4 of 7 days → 40, then 70 → 110
    _costs(con, "weekly", ["Y", "Y"], [70.0, 70.0], ["2026-01-05", "2026-01-12"])
    assert fm.cost_grain(con, "weekly") == "week"
    r = fm.cost_per_mql(con, src, STAGES, "weekly", "MQL", D("2026-01-08"), D("2026-03-01"), 90)
    assert r.frame.set_index("campaign").loc["Y", "cost"] == pytest.approx(110.0)
    # two rows a day apart: each is one day's spend; 5 Jan is before the range, 6 Jan inside → 50
    _costs(con, "daily", ["Y", "Y"], [30.0, 50.0], ["2026-01-05", "2026-01-06"])
    assert fm.cost_grain(con, "daily") == "day"
    r = fm.cost_per_mql(con, src, STAGES, "daily", "MQL", D("2026-01-06"), D("2026-03-01"), 90)
    assert r.frame.set_index("campaign").loc["Y", "cost"] == pytest.approx(50.0)
    assert fm.cost_grain(con, "daily") == "day" and "that day only" in fm.cost_rule("day", D("2026-01-06"))


def test_reopened_wide_and_long(con):
    rows = [("a", D("2026-01-01"), D("2026-02-05")), ("b", D("2026-01-01"), D("2026-01-05"))]
    src = make_wide(con, [r[:3] for r in rows], extra={"disqualified_date": pd.to_datetime(
        ["2026-01-10", "2026-01-10"]).astype("datetime64[us]")})
    r = fm.reopened_leads(con, src, ["Lead", "MQL"])
    # a: disqualified Jan 10, MQL Feb 5 → re-opened in Feb; b's MQL was before disqualification
    assert r.frame["period"].dt.strftime("%Y-%m").tolist() == ["2026-02"] and r.frame["reopened"].tolist() == [1]
    events = pd.DataFrame([("L", "Lead", "2026-01-01"), ("L", "MQL", "2026-01-05"), ("L", "Lead", "2026-01-20"),
                           ("L", "marketingqualifiedlead", "2026-02-10"), ("M", "Lead", "2026-01-01"),
                           ("M", "MQL", "2026-01-02"), ("M", "MQL", "2026-01-02")], columns=["lead_id", "stage", "stage_date"])
    events["stage_date"] = pd.to_datetime(events["stage_date"]).astype("datetime64[us]")
    events.insert(0, "_row", range(2, 9))
    con.register("_e", events)
    con.execute("CREATE TABLE lead_stages AS SELECT * FROM _e")
    long = fm.FunnelSource("lead_stages", "lead_stages", frozenset(["lead_id", "stage", "stage_date"]))
    r = fm.reopened_leads(con, long, ["Lead", "MQL"])
    # L went back to Lead on Jan 20 and became an MQL again on Feb 10; M's repeated MQL row is not a re-open
    assert r.frame["reopened"].tolist() == [1] and r.frame["period"].dt.month.tolist() == [2]


def to_long(con, rows, name="lead_stages"):
    names = ["Lead", "marketingqualifiedlead", "SQL", "opportunity", "Closed Won"]  # aliases, mixed case
    out = []
    for r in rows:
        for i, when in enumerate(r[1:6]):
            if when is not None:
                out.append((r[0], names[i], when))
    frame = pd.DataFrame(out, columns=["lead_id", "stage", "stage_date"])
    frame["stage_date"] = pd.to_datetime(frame["stage_date"]).astype("datetime64[us]")
    frame.insert(0, "_row", range(2, len(frame) + 2))
    con.register("_l", frame)
    con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _l')
    con.unregister("_l")
    return fm.FunnelSource(name, "lead_stages", frozenset(["lead_id", "stage", "stage_date"]))


def test_long_table_gives_the_same_funnel(con):
    wide = make_wide(con)
    long = to_long(con, ROWS)
    assert fm.available_stages(con, long) == STAGES
    a = fm.funnel_stages(con, wide, STAGES, window_days=90).frame
    b = fm.funnel_stages(con, long, STAGES, window_days=90).frame
    pd.testing.assert_frame_equal(a, b)


dates = st.one_of(st.none(), st.integers(0, 400).map(lambda d: D("2025-01-01") + pd.Timedelta(days=d)))
leads = st.lists(st.tuples(dates, dates, dates, dates, dates, st.sampled_from(["A", "B", "C", ""])),
                 min_size=0, max_size=25)


_PROPERTY_CON = []  # one connection for every example (connecting costs more than the queries)


@settings(max_examples=20, deadline=None)
@given(leads, st.one_of(st.none(), st.integers(0, 200)))
def test_counts_never_increase_and_groups_add_up(rows, window):
    if not _PROPERTY_CON:
        _PROPERTY_CON.append(duckdb.connect())
    con = _PROPERTY_CON[0]
    rows = [(str(i), *r[:5], r[5], r[5], "") for i, r in enumerate(rows)]
    if not rows:
        rows = [("0", None, None, None, None, None, "A", "A", "")]
    src = make_wide(con, rows)
    f = fm.funnel_stages(con, src, STAGES, window_days=window).frame
    assert list(f["leads"]) == sorted(f["leads"], reverse=True)
    assert f["pct_of_start"].dropna().between(0, 1).all() and f["pct_of_previous"].dropna().between(0, 1).all()
    assert (f["skipped"] <= f["leads"]).all() and (f["days_n"] + f["out_of_order"] <= f["leads"]).all()
    g = fm.funnel_by_group(con, src, STAGES, "source", window_days=window, top_n=2).frame
    assert g[STAGES].sum().tolist() == f["leads"].tolist()
    long = to_long(con, rows)
    assert fm.funnel_stages(con, long, STAGES, window_days=window).frame["leads"].tolist() == f["leads"].tolist()


def test_real_olist_mqls_and_closed_deals(ws):
    mql = ws.load("olist_marketing_qualified_leads_dataset.csv",
                  real_file("olist_marketing_qualified_leads_dataset.csv").read_bytes(), kinds=["leads", "lead_stages"])
    assert mql.kind == "leads" and {"created_date", "source", "campaign"} <= set(mql.mapping)
    src = fm.source_for(mql)
    assert fm.available_stages(ws.con, src) == ["Lead"]
    assert fm.funnel_stages(ws.con, src, ["Lead"]).frame["leads"].tolist() == [8000]
    by = fm.funnel_by_group(ws.con, src, ["Lead"], "source").frame
    assert by["Lead"].sum() == 8000
    closed = fm.attach_closed_deals(ws, "olist_closed_deals_dataset.csv",
                                    real_file("olist_closed_deals_dataset.csv").read_bytes())
    joined = fm.source_for(mql, closed)
    stages = fm.default_stages(fm.available_stages(ws.con, joined))
    assert stages == ["Lead", "Customer"]
    f = fm.funnel_stages(ws.con, joined, stages).frame.set_index("stage")
    # 842 won deals, all of them among the 8000 MQLs; one was won before its first contact date
    assert f.loc["Customer", "leads"] == 842 and f.loc["Customer", "out_of_order"] == 1
    assert f.loc["Customer", "pct_of_start"] == pytest.approx(842 / 8000)
    # The won file alone is also a leads file (customer dates only)
    won = ws.load("olist_closed_deals_dataset.csv", real_file("olist_closed_deals_dataset.csv").read_bytes(),
                  kinds=["leads", "lead_stages"])
    assert won.kind == "leads" and "customer_date" in won.mapping
    assert fm.funnel_stages(ws.con, fm.source_for(won), ["Customer"]).frame["leads"].tolist() == [842]


def test_nasty_blank_and_text_cells(ws):
    csv = ("Contact ID,Create Date,Became a Marketing Qualified Lead Date,Original Source,Campaign\n"
           "1,2026-01-01,2026-01-03,Ads,Promo\n2,not a date,2026-01-05,,Promo\n3,,,Ads,\n,2026-01-02,,Ads,Promo\n")
    d = ws.load("contacts.csv", csv.encode(), kinds=["leads", "lead_stages", "campaign_costs"])
    src = fm.source_for(d)
    r = fm.funnel_stages(ws.con, src, ["Lead", "MQL"], window_days=90)
    # 1: Lead+MQL; 2: unreadable create date, MQL Jan 5 → entered Jan 5, MQL counted (skipped Lead date);
    # 3: no date at all → left out; blank ID → left out.
    assert counts(r.frame) == {"Lead": 2, "MQL": 2}
    assert r.frame.set_index("stage").loc["Lead", "skipped"] == 1
    assert r.excluded == {"rows without a lead ID": 1, "leads with no date at any chosen stage": 1}
    with pytest.raises(BoundaryError, match="campaign"):
        fm.cost_per_mql(ws.con, fm.FunnelSource(src.table, "leads", src.columns - {"campaign"}), ["Lead", "MQL"],
                        "x", "MQL")


def test_area_contract(ws):
    assert fm.area_flags(ws) == [] and fm.area_tables(ws) == {}
    from lib.sample import SAMPLE_DIR
    path = SAMPLE_DIR / "leads.xlsx"
    if not path.exists():
        pytest.skip("sample data not generated yet")
    ws.load("leads.xlsx", path.read_bytes(), kind="leads")
    tables = fm.area_tables(ws)
    assert {"Funnel", "Funnel by created month", "Campaign quality"} <= set(tables)
    flags = fm.area_flags(ws)
    # The sample's story: "Spring giveaway" leads disqualify more often and move slower
    assert any(f.subject == "campaign: Spring giveaway" and f.metric == "Disqualification rate" for f in flags)


def test_chart_builders_are_titled_and_labelled(con):
    from lib.charts import funnel as charts

    src = make_wide(con)
    made = [
        charts.funnel_chart(fm.funnel_stages(con, src, STAGES, window_days=90).frame),
        charts.duration_heatmap(fm.stage_duration_distribution(con, src, STAGES, window_days=90).frame),
        charts.group_conversion_chart(fm.funnel_by_group(con, src, STAGES, "campaign", window_days=90).frame,
                                      "Lead → Customer by campaign", "Lead → Customer"),
        charts.cohort_heatmap(fm.funnel_by_cohort(con, src, STAGES, window_days=90).frame, STAGES),
        charts.entries_chart(fm.stage_entries_by_period(con, src, STAGES).frame, STAGES[:2], "month"),
        charts.quality_chart(fm.campaign_quality(con, src, STAGES, window_days=90).frame, "campaign"),
    ]
    for chart in made:
        spec = chart.to_dict()
        layers = spec.get("layer", [spec])
        assert spec.get("title") or any(layer.get("title") for layer in layers)
        encodings = [layer.get("encoding", {}) for layer in layers]
        titles = [e[axis].get("title") for e in encodings for axis in ("x", "y") if axis in e and "title" in e[axis]]
        assert any(titles), spec


# ---------------------------------------------------------------- a breakdown column with a hundred values


def many_companies_leads_csv(n_leads: int = 1000, groups: int = 100) -> bytes:
    """Leads over 100 companies. Lead i (0–999) is at company ⌊(i/1000)² × 100⌋ (Company 00 holds
    i = 0–99, the top companies a few leads each), from source Ads/Email/Web by i mod 3, created on
    2025-01-01 + (i mod 28) days; even leads become MQLs 2 days later, leads with i mod 5 = 0 customers
    10 days later."""
    rows = []
    for i in range(n_leads):
        created = pd.Timestamp("2025-01-01") + pd.Timedelta(days=i % 28)
        rows.append({"Lead ID": f"L{i:04d}", "Created Date": created.date().isoformat(),
                     "MQL Date": (created + pd.Timedelta(days=2)).date().isoformat() if i % 2 == 0 else "",
                     "Customer Date": (created + pd.Timedelta(days=10)).date().isoformat() if i % 5 == 0 else "",
                     "Source": ["Ads", "Email", "Web"][i % 3],
                     "Company": f"Company {min(int((i / n_leads) ** 2 * groups), groups - 1):02d}"})
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_a_hundred_companies_show_the_largest_plus_other(ws):
    leads = ws.load("leads.csv", many_companies_leads_csv(), kinds=["leads"])
    src = fm.source_for(leads)
    stages = fm.default_stages(fm.available_stages(ws.con, src))
    assert stages == ["Lead", "MQL", "Customer"]
    choices = fm.segment_choices(ws.con, src, {**leads.mapping, **leads.extra_columns})
    assert [(c.column, c.label, c.levels) for c in choices] == [("source", "Source", 3), ("company", "Company", 100)]
    g = fm.funnel_by_group(ws.con, src, stages, "company", window_days=90).frame
    assert len(g) == 11 and g["other"].tolist() == [False] * 10 + [True]
    assert g.iloc[-1]["group"] == "Other (90 groups)" and g.iloc[-1]["groups"] == 90
    # the groups add up to the funnel: 1,000 leads, 200 customers (i mod 5 = 0) and 600 MQLs: the 500 even
    # leads plus the 100 customers with i mod 10 = 5, who reached MQL by skipping it
    assert g[stages].sum().tolist() == [1000, 600, 200]
    # Company 00 = leads 0–99: 50 + 10 = 60 MQLs, 20 customers; conversion 20/100 = 20 %, Wilson 95 % (0.1334, 0.2888)
    # (statsmodels proportion_confint(20, 100, method="wilson") = (0.13337, 0.28883))
    first = g.iloc[0]
    assert (first["group"], first["Lead"], first["MQL"], first["Customer"]) == ("Company 00", 100, 60, 20)
    assert first["conversion"] == pytest.approx(0.2)
    assert (first["conversion_low"], first["conversion_high"]) == (pytest.approx(0.13337, abs=1e-5),
                                                                   pytest.approx(0.28883, abs=1e-5))
    found = fm.funnel_by_group(ws.con, src, stages, "company", window_days=90, top_n=5, search="company 9").frame
    assert all(x.startswith("Company 9") for x in found["group"][:5]) and found.iloc[-1]["groups"] == 95
    assert found["Lead"].sum() == 1000
    by_source = fm.funnel_by_group(ws.con, src, stages, "source", window_days=90).frame
    assert sorted(by_source["group"]) == ["Ads", "Email", "Web"] and not by_source["other"].any()
    with pytest.raises(BoundaryError, match="no column 'nope'"):
        fm.funnel_by_group(ws.con, src, stages, "nope")
    # the conversion flags still test source and campaign only, the Other row never
    tests = fm.conversion_tests(ws.con, src, stages, ["source"], window_days=90)
    assert set(tests["group"]) <= {"Ads", "Email", "Web"}


def test_program_comparison_by_hand(con):
    src = make_wide(con)
    costs = pd.DataFrame({"_row": [2, 3, 4, 5], "campaign": ["x ", "Y", "Z", "Y"], "cost": [1200.0, 500.0, 300.0, None],
                          "period": pd.to_datetime(["2026-01-01", None, "2026-01-01", None]).astype("datetime64[us]")})
    con.register("_c", costs)
    con.execute("CREATE TABLE costs AS SELECT * FROM _c")
    # closed deals with a value: lead 4 twice (5000 + 1000 → 6000), lead 6 (won 200 days on, outside the window)
    con.execute("CREATE TABLE closed AS SELECT * FROM (VALUES ('4', '5000'), (' 4', '1000'), ('6', '9000'), "
                "('6', 'n/a')) t(lead_id, amount)")
    r = fm.program_comparison(con, src, STAGES, "MQL", "costs", window_days=90, value=("closed", "amount"))
    f = r.frame.set_index("program")
    # X = leads 1–4, all reach MQL in the window; days to MQL 5, 2, 2, 2 → median 2
    # Y = leads 5–9: MQL 5 (via its SQL date, 10 days) and 9 (SQL before MQL: reach 4 days) → 2/5, median 7
    assert f.loc["X", ["leads", "mqls", "customers"]].tolist() == [4, 4, 1]
    assert f.loc["Y", ["leads", "mqls", "customers"]].tolist() == [5, 2, 0]
    assert f.loc["X", "mql_rate"] == 1.0 and f.loc["Y", "mql_rate"] == pytest.approx(0.4)
    assert f.loc["X", "median_days_to_mql"] == pytest.approx(2.0) and f.loc["Y", "median_days_to_mql"] == pytest.approx(7.0)
    # statsmodels proportion_confint(2, 5, method='wilson') = (0.117621, 0.769276)
    assert f.loc["Y", ["mql_low", "mql_high"]].tolist() == pytest.approx([0.117621, 0.769276], abs=1e-6)
    # costs as cost per MQL reads them: X 1200 / 4 MQLs = 300; Y 500 / 2 = 250; Z has no leads → not a row
    assert f.loc["X", "cost_per_mql"] == pytest.approx(300.0) and f.loc["Y", "cost_per_mql"] == pytest.approx(250.0)
    assert "Z" not in f.index and r.excluded["cost rows with a blank or unreadable cost or campaign"] == 1
    # X's one customer (lead 4) is worth 6000 → 6000 per customer, 6000 / 1200 = 5.0 per unit of cost
    assert f.loc["X", ["customer_value", "valued_customers", "value_per_customer", "value_per_cost"]].tolist() == [
        6000.0, 1, 6000.0, 5.0]
    assert f.loc["Y", "valued_customers"] == 0 and math.isnan(f.loc["Y", "value_per_customer"])
    # programs add up to the funnel's leads (no lead here lacks a campaign)
    assert f["leads"].sum() == 9
    # only the largest program by name: Y (5 leads); X is "Other (1 program)" with X's cost and counts
    top = fm.program_comparison(con, src, STAGES, "MQL", "costs", window_days=90, top_n=1).frame
    assert top["program"].tolist() == ["Y", "Other (1 program)"]
    assert top.iloc[1][["leads", "mqls", "cost"]].tolist() == [4, 4, 1200.0]
    plain = fm.program_comparison(con, src, STAGES, "MQL", window_days=90).frame
    assert "customer_value" not in plain and plain["cost"].isna().all()
    # handed the page's own cost per MQL for the same arguments: the same result, without running it again
    given = fm.program_comparison(con, src, STAGES, "MQL", "costs", window_days=90, value=("closed", "amount"),
                                  costs=fm.cost_per_mql(con, src, STAGES, "costs", "MQL", window_days=90))
    pd.testing.assert_frame_equal(given.frame, r.frame)
    assert (given.sql, given.params, given.excluded) == (r.sql, r.params, r.excluded)


def test_program_comparison_needs_a_campaign(con):
    src = make_wide(con)
    with pytest.raises(BoundaryError, match="campaign / program column"):
        fm.program_comparison(con, fm.FunnelSource(src.table, "leads", src.columns - {"campaign"}), STAGES, "MQL")
    blank = make_wide(con, [r[:7] + ("",) + r[8:] for r in ROWS], name="blank")
    f = fm.program_comparison(con, blank, STAGES, "MQL", window_days=90).frame
    assert f["program"].tolist() == [fm.NO_PROGRAM] and f["leads"].tolist() == [9]


def test_issue22_chart_builders_are_titled_and_labelled(con):
    from lib.charts import funnel as charts
    from lib.metrics import lead_scoring as ls
    from tests.test_lead_scoring import impact_leads

    rules, cte = impact_leads(con)
    impact = ls.rule_impact(con, cte, "leads", rules, 1, threshold=20, min_group=1).frame
    spec = str(charts.rule_impact_chart(impact, "Customer").to_dict())
    assert "Difference in conversion to Customer (percentage points)" in spec and "MQL status" in spec
    dist = ls.touch_distribution(ls.touches_to_close(con, cte, "leads", rules, 1).frame)
    spec = str(charts.touches_chart(dist, "Customer").to_dict())
    assert "Marketing touches per lead (count)" in spec and "Leads that reached Customer" in spec
    programs = fm.program_comparison(con, make_wide(con), STAGES, "MQL", window_days=90).frame
    spec = str(charts.program_chart(programs, "MQL").to_dict())
    assert "MQL rate by program (95% Wilson interval)" in spec and "share of the program's leads" in spec


def test_export_holds_the_nurture_programs(ws):
    from lib.sample import SAMPLE_DIR
    path = SAMPLE_DIR / "leads.xlsx"
    if not path.exists():
        pytest.skip("sample data not generated yet")
    leads = ws.load("leads.xlsx", path.read_bytes(), kind="leads")
    programs = fm.area_tables(ws)["Nurture programs"]
    # no cost file loaded: no cost column filled; programs add up to every lead of the file
    assert programs["leads"].sum() == 3099 and programs["cost"].isna().all()
    assert "customer_value" not in programs  # the export does not guess a value column
    assert leads.kind == "leads"

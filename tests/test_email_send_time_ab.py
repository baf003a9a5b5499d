"""Email send time, A/B tests and gaps in sending (issue #22), against hand-worked numbers and
scipy/statsmodels references written beside them."""

import math

import duckdb
import pandas as pd
import pytest

from lib.config import Thresholds
from lib.metrics import email as em
from lib.questions import questions_for
from tests.conftest import real_file


def con_with(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """An email_campaigns table from (campaign, send time, subject, delivered, opens, clicks)."""
    frame = pd.DataFrame(rows, columns=["campaign", "send_date", "subject", "delivered", "unique_opens",
                                        "unique_clicks"])
    frame.insert(0, "_row", range(2, len(frame) + 2))
    frame["send_date"] = pd.to_datetime(frame["send_date"])
    frame["topic"], frame["list_name"], frame["unsubscribes"] = "promo", "All", 0
    con = duckdb.connect()
    con.register("_in", frame)
    con.execute('CREATE TABLE "email_campaigns" AS SELECT * FROM _in')
    con.unregister("_in")
    return con


# Six sends, two per weekday (2026-03-02 is a Monday): opens of 1,000 delivered each.
WEEK = [("Mon a", "2026-03-02 09:00", "s", 1000, 30, 3), ("Mon b", "2026-03-09 10:00", "s", 1000, 40, 4),
        ("Tue a", "2026-03-03 09:00", "s", 1000, 50, 5), ("Tue b", "2026-03-10 14:00", "s", 1000, 70, 7),
        ("Wed a", "2026-03-04 09:00", "s", 1000, 20, 2), ("Wed b", "2026-03-11 14:00", "s", 1000, 25, 2)]


def test_rates_by_weekday_and_hour_with_cluster_intervals():
    con = con_with(WEEK)
    rows = em.send_time_rows(con, em.email_data(con, "email_campaigns"), em.Filters()).frame
    by_day = em.send_time_rates(rows, "weekday", "open_rate")
    # Monday: (30 + 40) / 2000 = 3.5 %; cluster-robust by send: p·n = 35 each, residuals −5, +5,
    # se = √(2/1 · 50) / 2000 = 0.005, so 0.035 ± 1.96·0.005 = 2.52 %–4.48 %.
    assert by_day["weekday"].tolist() == ["Monday", "Tuesday", "Wednesday"]
    mon = by_day.iloc[0]
    assert (mon["sends"], mon["x"], mon["n"]) == (2, 70, 2000)
    assert mon["rate"] == pytest.approx(0.035)
    assert (mon["low"], mon["high"]) == pytest.approx((0.035 - 1.959964 * 0.005, 0.035 + 1.959964 * 0.005))
    by_hour = em.send_time_rates(rows, "hour", "open_rate")
    # 9:00 → 30 + 50 + 20 = 100 of 3,000; 10:00 → one send, its exact interval; 14:00 → 95 of 2,000
    assert by_hour["hour"].tolist() == [9, 10, 14]
    assert by_hour["rate"].tolist() == pytest.approx([100 / 3000, 40 / 1000, 95 / 2000])
    assert by_hour["sends"].tolist() == [3, 1, 2]


def test_weekday_difference_is_a_quasi_binomial_f_test():
    rows = pd.DataFrame({"weekday": ["Mon", "Mon", "Tue", "Tue", "Wed", "Wed"],
                         "open_rate_x": [30, 40, 50, 70, 20, 25], "open_rate_n": [1000] * 6})
    t = em.rate_differs_test(rows, "weekday", "open_rate")
    # Pooled p = 235/6000. X² by hand: Σ (x_g − 2000p)² / (2000·p·(1−p)) = (69.4 + 1736.1 + 1111.1) / 75.27
    # = 38.75; scipy.stats.chi2_contingency([[70,1930],[120,1880],[45,1955]], correction=False).statistic
    # = 38.75182225830858 (p 3.8e-9 — recipients alone call the weekdays very different).
    assert t.chi2 == pytest.approx(38.75182225830858, rel=1e-9)
    # φ: statsmodels GLM(Binomial) on the weekday dummies: pearson_chi2 5.594827470194886 / df_resid 3
    # = 1.864942490064962. F = 38.7518 / 2 / 1.86494 = 10.3895; scipy.stats.f.sf(10.3895, 2, 3) = 0.0448114.
    assert t.dispersion == pytest.approx(1.864942490064962, rel=1e-9)
    assert (t.df_groups, t.df_resid) == (2, 3)
    assert t.statistic == pytest.approx(10.389548864039964, rel=1e-9)
    assert t.p_value == pytest.approx(0.04481143219870293, rel=1e-7)
    # under-dispersed sends (identical within each group) are not read as more precise than binomial: φ = 1
    same = rows.assign(open_rate_x=[35, 35, 60, 60, 22, 23])
    assert em.rate_differs_test(same, "weekday", "open_rate").dispersion == 1.0
    # one group: nothing to compare
    assert math.isnan(em.rate_differs_test(rows.assign(weekday="Mon"), "weekday", "open_rate").p_value)


def test_date_only_files_have_no_hour():
    assert not em.has_send_hours(pd.to_datetime(["2026-03-02", "2026-03-03"]))
    assert em.has_send_hours(pd.to_datetime(["2026-03-02 00:00", "2026-03-03 09:30"]))
    con = con_with([(c, d[:10], s, n, o, k) for c, d, s, n, o, k in WEEK])
    rows = em.send_time_rows(con, em.email_data(con, "email_campaigns"), em.Filters()).frame
    assert rows["hour"].isna().all() and em.send_time_rates(rows, "hour", "open_rate").empty
    assert em.send_time_rates(rows, "weekday", "open_rate")["sends"].tolist() == [2, 2, 2]


def test_newcombe_interval_matches_statsmodels():
    # statsmodels.stats.proportion.confint_proportions_2indep(60, 500, 40, 500, method="newcomb")
    # = (0.002698550404143081, 0.07762656805570067); (12, 400, 3, 380) = (0.0023713173, 0.0444196427)
    assert em.newcombe_interval(60, 500, 40, 500) == pytest.approx((0.002698550404143081, 0.07762656805570067))
    assert em.newcombe_interval(12, 400, 3, 380) == pytest.approx((0.0023713173496114452, 0.044419642650216626))


AB = [("Promo | Combo 1", "2026-03-02 09:00", "Save 20%", 500, 60, 6),
      ("Promo | Combo 2", "2026-03-02 09:00", "Last chance", 500, 40, 4),
      ("News | Combo 1", "2026-03-05 09:00", "Hello", 380, 3, 1),
      ("News | Combo 2", "2026-03-05 11:00", "Hello", 400, 12, 2),
      ("Solo", "2026-03-06 09:00", "One send", 1000, 100, 10),
      ("Other | Combo 1", "2026-03-09 09:00", "x", 100, 1, 0)]          # its partner is missing: not a test


def test_ab_tests_one_row_per_split_with_winner_difference_and_test():
    con = con_with(AB)
    ab = em.ab_tests(con, em.email_data(con, "email_campaigns"), em.Filters(), "open_rate").frame
    assert ab["test"].tolist() == ["Promo", "News"]
    promo, news = ab.iloc[0], ab.iloc[1]
    # Promo: Combo 1 60/500 = 12 % beats 40/500 = 8 % by 4 pp; pooled z = 0.04 / √(0.1·0.9·(2/500)) = 2.108,
    # p = 0.03502 (statsmodels proportions_ztest([60, 40], [500, 500]) p = 0.035015); Newcombe 0.27–7.76 pp.
    assert (promo["winner"], promo["runner_up"], promo["differs"]) == ("Combo 1", "Combo 2", "subject")
    assert promo["winner_subject"] == "Save 20%" and promo["difference"] == pytest.approx(0.04)
    assert promo["p_value"] == pytest.approx(0.035015, abs=2e-6) and promo["method"] == "two-proportion z"
    assert (promo["difference_low"], promo["difference_high"]) == pytest.approx((0.0026986, 0.0776266), abs=1e-7)
    # News: the later time won, 12/400 = 3 % vs 3/380 = 0.79 %; every expected cell ≥ 5 (380·15/780 = 7.3),
    # so the z-test: p = 0.024645 (statsmodels proportions_ztest([12, 3], [400, 380])).
    assert (news["winner"], news["differs"]) == ("Combo 2", "send time")
    assert news["p_value"] == pytest.approx(0.024645, abs=2e-6)
    # Benjamini–Hochberg over the 2 tests: sorted p 0.024645, 0.035015 → max-adjusted both 0.035015
    assert ab["p_adjusted"].tolist() == pytest.approx([0.035015, 0.035015], abs=2e-6)
    assert ab["significant"].tolist() == [True, True]


def test_ab_tests_use_fisher_when_small_and_lower_is_better_for_unsubscribes():
    rows = [("T | A", "2026-03-02 09:00", "a", 200, 20, 2), ("T | B", "2026-03-02 09:00", "b", 200, 25, 1)]
    con = con_with(rows)
    con.execute("UPDATE email_campaigns SET unsubscribes = CASE WHEN campaign = 'T | A' THEN 4 ELSE 0 END")
    ab = em.ab_tests(con, em.email_data(con, "email_campaigns"), em.Filters(), "unsubscribe_rate").frame
    row = ab.iloc[0]
    # 0/200 unsubscribed beats 4/200; expected cell 200·4/400 = 2 < 5 → Fisher: scipy.stats.fisher_exact(
    # [[0, 200], [4, 196]]).pvalue = 0.12312266813128538
    assert (row["winner"], row["method"]) == ("B", "Fisher's exact")
    assert row["difference"] == pytest.approx(-0.02)
    assert row["p_value"] == pytest.approx(0.12312266813128538, rel=1e-6)


def test_ab_tests_on_the_real_mailchimp_export():
    path = real_file("mailchimp_campaigns_mydomino.csv")
    from lib.datasets import Workspace
    ws = Workspace()
    try:
        ws.load(path.name, path.read_bytes(), kinds=["email_campaigns"])
        data = em.email_data(ws.con, "email_campaigns")
        ab = em.ab_tests(ws.con, data, em.Filters(), "open_rate").frame
        # 52 "| Combo" rows → 25 splits (one "Greenbiz never open email #2 | Combo 1/2" pair included, one
        # Combo 1 row of "LinkedIn CSR never open Email #2" pairs with its Combo 2 on the same day)
        assert len(ab) == 25 and (ab["variants"] == 2).all()
        hr = ab[ab["test"] == "HR combined, first ask"].iloc[0]
        assert hr["differs"] == "subject and send time" and hr["significant"]
        rows = em.send_time_rows(ws.con, data, em.Filters()).frame
        assert rows["hour"].notna().all() and set(rows["weekday"]) <= set(em.WEEKDAYS)
    finally:
        ws.close()


def gap_con(days: list[str]) -> duckdb.DuckDBPyConnection:
    return con_with([(f"S{i}", d + " 09:00", "s", 100, 20, 2) for i, d in enumerate(days)])


def test_gap_in_sending_then_a_burst():
    # Weekly on Mondays (intervals 7), then silence from 2026-02-02 to 2026-03-16 (42 days = 6× the
    # median 7 > 4×, ≥ 14 days), then five sends in the 7 days from 2026-03-16.
    days = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02",
            "2026-03-16", "2026-03-17", "2026-03-18", "2026-03-19", "2026-03-20", "2026-03-27", "2026-04-03"]
    con = gap_con(days)
    gaps = em.sending_gaps(con, em.email_data(con, "email_campaigns"), em.Filters(), 4, 14).frame
    assert len(gaps) == 1
    gap = gaps.iloc[0]
    assert (gap["last_send"], gap["resumed"]) == (pd.Timestamp("2026-02-02"), pd.Timestamp("2026-03-16"))
    # intervals: 7,7,7,7,42,1,1,1,1,7,7 → median 7; usual per week = 12 sends ÷ 12 send days × 7 ÷ 7 = 1
    assert (gap["gap_days"], gap["usual_gap_days"], gap["times_usual"]) == (42, 7.0, 6.0)
    assert gap["sends_after"] == 5 and gap["usual_per_week"] == 1.0 and gap["burst"]
    flags = em.gap_flags(gaps, 4)
    assert [(f.metric, f.severity, f.value, f.reference) for f in flags] == [("Gap in sending", "medium", 42.0, 28.0)]
    assert flags[0].subject == "no sends 2026-02-02 → 2026-03-16" and "6.0× the usual 7" in flags[0].test
    assert any("be consistent" in q.lower() for q in flags[0].questions)
    assert questions_for("email", "Gap in sending") == flags[0].questions


def test_no_gap_on_a_steady_schedule_or_too_few_sends():
    steady = [str((pd.Timestamp("2026-01-05") + pd.Timedelta(days=7 * i)).date()) for i in range(20)]
    con = gap_con(steady)
    assert em.sending_gaps(con, em.email_data(con, "email_campaigns"), em.Filters(), 4, 14).frame.empty
    # a daily sender's 5-day pause is 5× its median but under the 14-day minimum
    daily = [str((pd.Timestamp("2026-01-05") + pd.Timedelta(days=i)).date()) for i in range(10)] + ["2026-01-19"]
    con = gap_con(daily)
    assert em.sending_gaps(con, em.email_data(con, "email_campaigns"), em.Filters(), 4, 14).frame.empty
    # seven send days: too few intervals to know what usual is
    con = gap_con(["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-10", "2026-06-01"])
    assert em.sending_gaps(con, em.email_data(con, "email_campaigns"), em.Filters(), 4, 14).frame.empty


def test_gap_flag_is_among_the_email_flags():
    days = ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26", "2026-02-02", "2026-02-09",
            "2026-05-04", "2026-05-11", "2026-05-18"]
    con = gap_con(days)
    data = em.email_data(con, "email_campaigns")
    flags = em.email_flags(con, data, em.Filters(), "month", Thresholds())
    gap = [f for f in flags if f.metric == "Gap in sending"]
    # 84 days (2026-02-09 → 2026-05-04) against a median of 7; one send in the week after, the usual
    # one a week (under 1.5×): no burst, so low
    assert [(f.value, f.severity) for f in gap] == [(84.0, "low")]


def test_ab_tests_from_a_variant_column():
    from lib.datasets import Workspace
    csv = ("Title,Send Date,Variant,List,Successful Deliveries,Unique Opens,Unique Clicks\n"
           "Spring,2026-03-02 09:00,Subject A,All,500,60,6\n"
           "Spring,2026-03-02 09:00,Subject B,All,500,40,4\n"
           "Solo,2026-03-03 09:00,,All,800,100,9\n")
    ws = Workspace()
    try:
        ws.load("v.csv", csv.encode(), kinds=["email_campaigns"])
        data = em.email_data(ws.con, "email_campaigns")
        assert em.variant_column(ws.con, data) == "variant"
        ab = em.ab_tests(ws.con, data, em.Filters(), "open_rate").frame
        # the same 60/500 vs 40/500 as above: Subject A wins by 4 pp, p = 0.035015
        assert ab[["test", "winner", "runner_up"]].values.tolist() == [["Spring", "Subject A", "Subject B"]]
        assert ab["p_value"].iloc[0] == pytest.approx(0.035015, abs=2e-6)
    finally:
        ws.close()


@pytest.mark.parametrize("grain", ["week", "month", "quarter"])
def test_send_time_rows_from_the_pages_sends_at_any_grain(grain):
    """The page hands send_time_rows the `sends` it already has (its period's grain): the same sends,
    weekdays, hours, rates and test as its own query at day grain — only `period` differs."""
    from lib.datasets import Workspace
    from lib.sample import load_samples

    ws = Workspace()
    load_samples(ws)
    data = em.email_data(ws.con, ws.get("email_campaigns").table)
    filters = em.Filters(topics=("promo", "newsletter"))
    own = em.send_time_rows(ws.con, data, filters).frame
    given = em.send_time_rows(ws.con, data, filters, em.sends(ws.con, data, filters, grain)).frame
    pd.testing.assert_frame_equal(own.drop(columns="period"), given.drop(columns="period"), check_exact=True)
    for by in ("weekday", "hour"):
        pd.testing.assert_frame_equal(em.send_time_rates(own, by, "open_rate"), em.send_time_rates(given, by, "open_rate"))
        assert em.rate_differs_test(own, by, "click_rate") == em.rate_differs_test(given, by, "click_rate")
    ws.close()

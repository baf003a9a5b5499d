"""Email metrics against numbers worked out by hand, properties of pooled rates, and the real export."""

import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.config import Thresholds
from lib.metrics import email as em
from lib.metrics.email_events import canonical_event
from tests.conftest import real_file

TWO_CAMPAIGNS = pd.DataFrame({
    "_row": [2, 3],
    "campaign": ["A", "B"],
    "send_date": pd.to_datetime(["2025-01-06 09:00", "2025-01-08 10:00"]),
    "topic": ["promo", "news"],
    "list_name": ["All", "All"],
    "sent": [1000, 200],
    "delivered": [950, 200],
    "bounces": [50, 0],
    "unique_opens": [190, 100],
    "unique_clicks": [19, 20],
    "unsubscribes": [3, 0],
    "spam_complaints": [1, 0],
})


def con_with(frame: pd.DataFrame, table: str = "email_campaigns") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("_in", frame)
    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _in')
    con.unregister("_in")
    return con


def test_pooled_rates_by_hand():
    con = con_with(TWO_CAMPAIGNS)
    data = em.email_data(con, "email_campaigns")
    row = em.pooled_rates(con, data).frame.iloc[0]
    # delivery 1150/1200 = 0.958333; open 290/1150 = 0.252174; CTOR 39/290 = 0.134483;
    # click 39/1150 = 0.033913; unsubscribe 3/1150 = 0.002609; spam 1/1150 = 0.000870.
    assert row["delivery_rate"] == pytest.approx(1150 / 1200)
    assert row["open_rate"] == pytest.approx(290 / 1150)
    assert row["ctor"] == pytest.approx(39 / 290)
    assert row["click_rate"] == pytest.approx(39 / 1150)
    assert row["unsubscribe_rate"] == pytest.approx(3 / 1150)
    assert row["spam_rate"] == pytest.approx(1 / 1150)
    # pooled, not averaged: the mean of per-campaign open rates would be (0.2 + 0.5) / 2 = 0.35
    assert row["open_rate"] != pytest.approx(0.35)
    assert pd.isna(row["open_rate_human"])  # no machine-open column in this file


def test_delivered_and_sent_derived():
    # Only sent + bounces: delivered = 1000 − 50 = 950. Only delivered + bounces: sent = 200 + 10 = 210.
    only_bounces = TWO_CAMPAIGNS.drop(columns=["delivered"]).head(1)
    con = con_with(only_bounces)
    row = em.pooled_rates(con, em.email_data(con, "email_campaigns")).frame.iloc[0]
    assert row["delivered"] == 950 and row["delivery_rate"] == pytest.approx(0.95)
    only_delivered = TWO_CAMPAIGNS.drop(columns=["sent"]).tail(1).assign(bounces=[10])
    con = con_with(only_delivered)
    row = em.pooled_rates(con, em.email_data(con, "email_campaigns")).frame.iloc[0]
    assert row["sent"] == 210 and row["delivery_rate"] == pytest.approx(200 / 210)


def test_bad_rows_are_left_out_and_counted():
    frame = pd.concat([TWO_CAMPAIGNS, pd.DataFrame({
        "_row": [4, 5, 6, 7], "campaign": ["C", "D", "E", "F"],
        "send_date": pd.to_datetime(["2025-01-09", None, "2025-01-10", "2025-01-11"]),
        "topic": ["news"] * 4, "list_name": ["All"] * 4,
        "sent": [10, 10, 0, 10], "delivered": [10, 10, 0, 10], "bounces": [0, 0, 0, 0],
        "unique_opens": [None, 5, 0, 20], "unique_clicks": [1, 1, 0, 1],
        "unsubscribes": [0, 0, 0, 0], "spam_complaints": [0, 0, 0, 0]})], ignore_index=True)
    frame["unique_opens"] = frame["unique_opens"].astype("Int64")
    con = con_with(frame)
    data = em.email_data(con, "email_campaigns")
    assert data.excluded == {"unique opens blank or unreadable": 1, "send date blank or unreadable": 1,
                             "0 delivered (no denominator)": 1, "unique opens more than delivered": 1}
    result = em.pooled_rates(con, data)
    assert result.frame.iloc[0]["sends"] == 2  # only A and B remain
    assert "4 row(s) left out" in result.excluded_text()


def test_headline_tiles_and_previous_range():
    con = con_with(TWO_CAMPAIGNS)
    data = em.email_data(con, "email_campaigns")
    # Range = week of 2025-01-06 → only A (950 delivered, 190 opens); previous week: none.
    week = em.Filters(pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-08"))
    cur = em.pooled_rates(con, data, week).frame
    prev = em.pooled_rates(con, data, week.previous()).frame
    tiles = {t.label: t for t in em.headline_tiles(cur, prev)}
    assert [t.label for t in em.headline_tiles(cur, prev)] == [
        "Delivery rate", "Open rate", "Click-to-open rate", "Click rate", "Unsubscribe rate", "Spam complaint rate"]
    assert tiles["Open rate"].value == "20.0%" and tiles["Open rate"].delta is None
    assert tiles["Unsubscribe rate"].value == "0.32%"  # 3 / 950 = 0.316%
    assert "190 ÷ 950" in tiles["Open rate"].help
    assert tiles["Unsubscribe rate"].delta_color == "inverse"
    # B vs A as current vs previous: open 50.0% vs 20.0% → +30.0 pp
    b = em.pooled_rates(con, data, em.Filters(pd.Timestamp("2025-01-08"), pd.Timestamp("2025-01-10"))).frame
    assert {t.label: t for t in em.headline_tiles(b, cur)}["Open rate"].delta == "+30.0 pp"


def test_filters_by_list_and_topic():
    con = con_with(TWO_CAMPAIGNS)
    data = em.email_data(con, "email_campaigns")
    row = em.pooled_rates(con, data, em.Filters(topics=("news",))).frame.iloc[0]
    assert row["sends"] == 1 and row["open_rate"] == pytest.approx(0.5)
    assert em.choices(con, data, "topic") == ["promo", "news"]  # biggest delivered first


def test_threshold_flags_need_the_interval_to_clear():
    con = con_with(TWO_CAMPAIGNS)
    data = em.email_data(con, "email_campaigns")
    flags = em.email_flags(con, data, em.Filters(), "week", Thresholds())
    # A: 3 unsubscribes in 950 = 0.32% > 0.1%, but the exact 95% interval 0.065%–0.920% (scipy
    # binomtest(3, 950).proportion_ci(method='exact')) reaches below 0.1%: no flag (Wilson's 0.107% low
    # end used to call it "high"). Spam 1/950: exact low end 0.003% → no flag. B: open 50%, CTOR 20%.
    # Week of 2025-01-06: 3/1150 pooled over two sends → cluster-robust interval reaches 0 → no flag.
    assert flags == []
    # 12 unsubscribes in 950 (1.26%): exact 95% 0.654%–2.196% clears 0.1%; at the Bonferroni level over
    # the 2 sends (alpha 0.025: 0.591%–2.343%) too → high. The week pools 12/1150 = 1.0435% over two sends:
    # residuals 12 − p·950 = 2.0870, 0 − p·200 = −2.0870, se = √(2·2·2.0870²)/1150 = 0.0036295,
    # 95% 0.332%–1.755% (statsmodels WLS cluster gives the same) → clears; one period → high as well.
    con = con_with(TWO_CAMPAIGNS.assign(unsubscribes=[12, 0]))
    data = em.email_data(con, "email_campaigns")
    by = {(f.metric, f.subject): f for f in em.email_flags(con, data, em.Filters(), "week", Thresholds())}
    unsub = by[("Unsubscribe rate", "A")]
    assert unsub.value == pytest.approx(12 / 950) and unsub.reference == 0.001 and unsub.severity == "high"
    assert "exact 95% 0.65%–2.20%" in unsub.test
    week = by[("Unsubscribe rate", "week of 2025-01-06")]
    assert week.value == pytest.approx(12 / 1150) and week.severity == "high"
    assert "95% cluster-robust over 2 sends 0.33%–1.75%" in week.test
    assert set(by) == {("Unsubscribe rate", "A"), ("Unsubscribe rate", "week of 2025-01-06")}


def history_frame(rates: list[tuple[int, int]]) -> pd.DataFrame:
    """One campaign per week, same topic, with (delivered, unsubscribes)."""
    n = len(rates)
    return pd.DataFrame({
        "_row": range(2, n + 2), "campaign": [f"W{i}" for i in range(n)],
        "send_date": pd.date_range("2025-01-06 09:00", periods=n, freq="7D"),
        "topic": ["news"] * n, "list_name": ["All"] * n,
        "sent": [d for d, _ in rates], "delivered": [d for d, _ in rates], "bounces": [0] * n,
        "unique_opens": [d // 4 for d, _ in rates], "unique_clicks": [d // 40 for d, _ in rates],
        "unsubscribes": [u for _, u in rates], "spam_complaints": [0] * n})


def test_baseline_test_known_answer():
    # Weeks 0–3: 10,000 delivered, 20 unsubscribes each; week 4: 10,000 delivered, 60 unsubscribes.
    # Week 4 vs the 4 weeks before (k = 4): 60/10,000 vs 80/40,000 → log odds ratio
    # ln(60·39,920 / (9,940·80)) = 1.102628, Woolf variance 1/60 + 1/9,940 + 1/80 + 1/39,920 = 0.029292,
    # z = 6.4425 (statsmodels Table2x2 log_oddsratio / log_oddsratio_se), one-sided p = 5.877e-11
    # (scipy norm.sf). Only 4 weeks have history: too few to estimate the spread between weeks, so
    # τ² = 0 and σz = 1. BH over the 4 weeks: weeks 1–3 sit on their baseline (p = 0.5); week 4's
    # p·4 = 2.35e-10 < 0.05 → worse; Bonferroni p·4 < 0.05 → high.
    con = con_with(history_frame([(10_000, 20)] * 4 + [(10_000, 60)]))
    data = em.email_data(con, "email_campaigns")
    tests = em.baseline_tests(con, data, em.Filters(), "week", 4, 0.05, "period").frame
    unsub = tests[tests["key"] == "unsubscribe_rate"].set_index("period")
    last = unsub.loc[pd.Timestamp("2025-02-03")]
    assert (last["x"], last["n"], last["base_x"], last["base_n"]) == (60, 10_000, 80, 40_000)
    assert last["baseline"] == pytest.approx(0.002)
    assert last["z"] == pytest.approx(6.442468, abs=1e-5) and not last["exact"]
    assert last["tau2"] == 0 and last["sigma_z"] == 1.0
    assert last["p_value"] == pytest.approx(5.8773e-11, rel=1e-3)
    assert last["p_adjusted"] == pytest.approx(4 * 5.8773e-11, rel=1e-3)
    assert last["worse"] and last["high"]
    assert pd.isna(unsub.loc[pd.Timestamp("2025-01-06"), "p_value"])  # first week: no history
    assert not unsub.drop(index=pd.Timestamp("2025-02-03"))["worse"].any()
    flags = em.history_flags(tests, 0.05, "week", 4)
    assert [(f.metric, f.subject, f.severity) for f in flags] == [
        ("Unsubscribe rate (own history)", "week of 2025-02-03", "high")]
    assert "60/10,000" in flags[0].test and "of 40,000" in flags[0].test and "Benjamini–Hochberg over 4" in flags[0].test
    # 'high' = Bonferroni over every own-history test of the file: p·m = 5.877e-11·10⁹ = 0.059 ≥ 0.05 → medium
    assert em.history_flags(tests, 0.05, "week", 4, file_tests=10**9)[0].severity == "medium"
    assert em.history_flags(tests, 0.05, "week", 4, file_tests=10**8)[0].severity == "high"  # 0.0059
    # The band is drawn from the test's own SE: week 4 lies outside it exactly because it is "worse".
    limits = em.baseline_limits(tests, "unsubscribe_rate", 0.05).set_index("period")
    assert limits.loc[pd.Timestamp("2025-02-03"), "status"] == "worse"
    # Band: BH called k = 1 of m = 4 weeks worse → cut-off 1·0.05/4 = 0.0125 → z_cut = 2.241403 (scipy
    # norm.isf(0.0125)); the test's SE = |0.006 − 0.002| / 6.442468 = 0.00062088 → band high =
    # 0.002 + 2.241403·0.00062088 = 0.0033917: the point (0.006) is outside, as the verdict says.
    assert limits.loc[pd.Timestamp("2025-02-03"), "high"] == pytest.approx(0.0033917, abs=1e-7)
    assert (limits.drop(index=[pd.Timestamp("2025-01-06"), pd.Timestamp("2025-02-03")])["status"] == "within noise").all()


def test_rare_counts_get_the_exact_test():
    # Week 0: none of 8,299 complained; week 1: 1 of 481. Expected complaints in week 1 = 481·1/8,780 =
    # 0.05 < 5 → one-sided Fisher's exact test: P = 481/8,780 = 0.054784 (scipy fisher_exact
    # alternative='greater'), not the z-test's 7.8e-5. Not worse at 0.05.
    frame = history_frame([(8_299, 0), (481, 0)]).assign(spam_complaints=[0, 1])
    con = con_with(frame)
    data = em.email_data(con, "email_campaigns")
    tests = em.baseline_tests(con, data, em.Filters(), "week", 8, 0.05, "period").frame
    row = tests[(tests["key"] == "spam_rate") & tests["p_value"].notna()].iloc[0]
    assert row["exact"] and row["p_value"] == pytest.approx(0.054784, abs=1e-6) and not row["worse"]
    assert row["z"] == pytest.approx(1.600141, abs=1e-4)  # scipy norm.isf(0.054784)


def test_baseline_small_change_is_noise():
    # 21/10,000 vs 20/10,000 a week before: z ≈ 0.16, p ≈ 0.88 → not worse.
    con = con_with(history_frame([(10_000, 20), (10_000, 21)]))
    data = em.email_data(con, "email_campaigns")
    tests = em.baseline_tests(con, data, em.Filters(), "week", 8, 0.05, "period").frame
    row = tests[(tests["key"] == "unsubscribe_rate") & tests["p_value"].notna()].iloc[0]
    assert row["z"] == pytest.approx(0.1565, abs=1e-3) and not row["worse"]


def test_between_variance_by_hand():
    # v = 1 (×8), d = 0, 0, 1, 1, 1, 1, 1, 4: terms 0, 0, 1, 1, 1, 1, 1, 16 → capped at 4, mean 1.125 >
    # E[min(χ²₁, 4)] = 0.920537 (scipy: chi2(3).cdf(4) + 4·chi2(1).sf(4)). With the last term capped,
    # (5/(1 + τ²) + 4)/8 = 0.920537 → τ² = 5/(8·0.920537 − 4) − 1 = 0.486195.
    assert em.between_variance([0, 0, 1, 1, 1, 1, 1, 4], [1] * 8) == pytest.approx(0.486195, abs=1e-6)
    # spread no wider than chance (every term ≤ 1, mean 0.5) → 0; fewer than 8 subjects → 0
    assert em.between_variance([0, 1] * 4, [1] * 8) == 0.0
    assert em.between_variance([0, 5, 9], [1, 1, 1]) == 0.0
    # median form: d = 0, 0, 1, 1, 1, 1, 2, 4 → terms 0, 0, 1, 1, 1, 1, 4, 16, median (1 + 1)/2 = 1 > 0.454936
    # (scipy chi2(1).median()); the two middle terms stay 1/(1 + τ²) → τ² = 1/0.454936 − 1 = 1.198109.
    # A real change in 4 of the 8 subjects moves it no further: the median ignores how far out they are.
    assert em.between_variance([0, 0, 1, 1, 1, 1, 2, 4], [1] * 8, median=True) == pytest.approx(1.198109, abs=1e-6)
    assert em.between_variance([0, 0, 1, 1, 1, 1, 20, 40], [1] * 8, median=True) == pytest.approx(1.198109, abs=1e-6)
    # an odd number of subjects: d = 0, 0, 1, 1, 1, 1, 1, 3, 5 → terms 0, 0, 1, 1, 1, 1, 1, 9, 25; the middle
    # (5th) term alone is the median, 1/(1 + τ²) = 0.454936 → the same τ² = 1.198109
    assert em.between_variance([0, 0, 1, 1, 1, 1, 1, 3, 5], [1] * 9, median=True) == pytest.approx(1.198109, abs=1e-6)
    # even, the two middle terms apart: d² = 0, 0, 0, 1, 4, 4, 4, 4 → middle 1 and 4 over 1 + τ², median
    # 2.5/(1 + τ²) = 0.454936 → τ² = 2.5/0.454936 − 1 = 4.495273
    assert em.between_variance([0, 0, 0, 1, 2, 2, 2, 2], [1] * 8, median=True) == pytest.approx(4.495273, abs=1e-6)
    # rare counts: with 0.5 complaints expected per send a capped Pearson term averages 0.8157, not 0.9205
    # (scipy.stats.poisson: 0.5·(P0 + P1) + 4·P(X ≥ 2))
    assert em.capped_null_mean(1000, 0.0005, 0.0005 / 1000) == pytest.approx(0.815714, abs=1e-6)
    # the factor c scales τ²: c = 2 everywhere halves it
    assert em.between_variance([0, 0, 1, 1, 1, 1, 1, 4], [1] * 8, [2] * 8) == pytest.approx(0.486195 / 2, abs=1e-6)


def test_log_odds_ratio_against_statsmodels():
    # statsmodels 0.15 Table2x2([[30, 970], [20, 980]]): log_oddsratio 0.4157216, log_oddsratio_se² 0.0853847
    assert em.log_odds_ratio(30, 1000, 20, 1000) == pytest.approx((0.4157216, 0.0853847), abs=1e-7)
    # a zero cell: 0.5 added to each (Haldane–Anscombe): ln(0.5·(1000.5 − 10))/(1000.5·10.5)... by hand
    d, v = em.log_odds_ratio(0, 1000, 10, 1000)
    assert d == pytest.approx(math.log(0.5 * 990.5 / (1000.5 * 10.5)))
    assert v == pytest.approx(1 / 0.5 + 1 / 1000.5 + 1 / 10.5 + 1 / 990.5)


def test_ab_variants_merge_into_one_send():
    # "X | Combo 1" and "X | Combo 2" to one list on one day are one send: 100 + 120 delivered.
    frame = TWO_CAMPAIGNS.assign(campaign=["Spring | Combo 1", "Spring | Combo 2"],
                                 send_date=pd.to_datetime(["2025-01-06 09:00", "2025-01-06 09:01"]),
                                 topic=["promo", "promo"])
    con = con_with(frame)
    rows = em.sends(con, em.email_data(con, "email_campaigns"), em.Filters(), "week").frame
    assert rows[["campaign", "variants", "delivered", "opens"]].values.tolist() == [["Spring (2 variants)", 2, 1150, 290]]


def test_mix_adjusted_period_baseline():
    # Week 1: promo 1000 delivered, 200 opens (20%); news 1000, 500 (50%).
    # Week 2: promo only, 1000 delivered, 200 opens. The raw week-1 rate (35%) would call week 2 a drop;
    # re-weighted to week 2's mix (all promo) the baseline is 20% → no change (z = 0).
    frame = pd.DataFrame({
        "_row": [2, 3, 4], "campaign": ["p1", "n1", "p2"],
        "send_date": pd.to_datetime(["2025-01-06", "2025-01-07", "2025-01-13"]),
        "topic": ["promo", "news", "promo"], "list_name": ["All"] * 3,
        "sent": [1000] * 3, "delivered": [1000] * 3, "bounces": [0] * 3,
        "unique_opens": [200, 500, 200], "unique_clicks": [20, 50, 20],
        "unsubscribes": [0] * 3, "spam_complaints": [0] * 3})
    con = con_with(frame)
    data = em.email_data(con, "email_campaigns")
    tests = em.baseline_tests(con, data, em.Filters(), "week", 8, 0.05, "period").frame
    week2 = tests[(tests["key"] == "open_rate") & (tests["period"] == pd.Timestamp("2025-01-13"))].iloc[0]
    assert week2["baseline"] == pytest.approx(0.20) and week2["z"] == pytest.approx(0.0)
    mix = em.topic_mix_effect(con, data, em.Filters(), "week").frame
    # topic rates over the range: promo 400/2000 = 20%, news 50% → week 1 expected = (1000·.2 + 1000·.5)/2000 = 35%
    assert mix["expected_open_rate"].tolist() == pytest.approx([0.35, 0.20])


def test_frequency_and_list_size_estimate():
    # One list, week of 2025-01-06: two sends of 1000 → recipients_est = 1000, 2 emails per recipient per week.
    frame = history_frame([(1000, 1)]).assign(send_date=pd.to_datetime(["2025-01-06"]))
    frame = pd.concat([frame, frame.assign(campaign="W1", send_date=pd.to_datetime(["2025-01-08"]))])
    con = con_with(frame)
    periods = em.rates_by_period(con, em.email_data(con, "email_campaigns"), em.Filters(), "week").frame
    # The data ends on Wed 8 Jan: the week is covered for 3 days (6–8 Jan) → 2 emails ÷ 1000 ÷ (3/7) = 4.667.
    row = periods.iloc[0]
    assert row[["sends", "recipients_est", "covered_days", "period_days"]].tolist() == [2, 1000, 3, 7]
    assert row["emails_per_recipient_week"] == pytest.approx(2 / (3 / 7)) and row["incomplete"]


def test_incomplete_last_month_divides_by_covered_days():
    # One list of 1,000. September: 4 sends over the whole month (30 days) → 4 ÷ (30/7) = 0.933 a week.
    # October: 4 sends by 10 Oct, where the data ends → 10 days covered → 4 ÷ (10/7) = 2.8 a week: a
    # rise. Divided by the whole of October (31 days) it read 4 ÷ (31/7) = 0.903, a drop.
    days = ["2025-09-02", "2025-09-09", "2025-09-16", "2025-09-30", "2025-10-01", "2025-10-03", "2025-10-07",
            "2025-10-10"]
    frame = history_frame([(1000, 1)] * 8).assign(send_date=pd.to_datetime(days))
    con = con_with(frame)
    periods = em.rates_by_period(con, em.email_data(con, "email_campaigns"), em.Filters(), "month").frame
    assert periods["covered_days"].tolist() == [30, 10]
    assert periods["emails_per_recipient_week"].tolist() == pytest.approx([4 / (30 / 7), 4 / (10 / 7)])
    assert periods["incomplete"].tolist() == [False, True]
    # a range that starts on 16 Sep covers 15 days of September (16–30): 2 sends → 2 ÷ (15/7)
    cut = em.rates_by_period(con, em.email_data(con, "email_campaigns"),
                             em.Filters(pd.Timestamp("2025-09-16"), pd.Timestamp("2025-10-11")), "month").frame
    assert cut["covered_days"].tolist() == [15, 10] and cut["incomplete"].tolist() == [True, True]
    assert cut["emails_per_recipient_week"].iloc[0] == pytest.approx(2 / (15 / 7))


def test_volume_jump_and_new_list():
    # Weeks 0–3: 1 send each to "All"; week 4: 6 sends, one to a new list "Leads".
    # Trailing average (k=4) = 1; 6 ≥ 1.5 × 1 and P(X ≥ 6 | Poisson 1) = 0.0006 < 0.05 → jump.
    rows = [("All", f"2025-01-{6 + 7 * i:02d}") for i in range(4)] + [("All", "2025-02-03")] * 5 + [("Leads", "2025-02-04")]
    frame = history_frame([(1000, 0)] * len(rows)).assign(
        list_name=[r[0] for r in rows], send_date=pd.to_datetime([r[1] for r in rows]))
    con = con_with(frame)
    changes = em.program_changes(con, em.email_data(con, "email_campaigns"), em.Filters(), "week", 4, 1.5).frame
    # The data ends on Tue 4 Feb: 2 of the week's 7 days are covered, so the average 1.0 is scaled to 2/7.
    assert changes[["change", "detail"]].values.tolist() == [
        ["new list", "Leads (1000 recipients)"], ["volume jump", "6 sends vs 0.3 expected in the days covered"]]
    assert em.poisson_tail(6, 1.0) == pytest.approx(1 - math.exp(-1) * (1 + 1 + 1 / 2 + 1 / 6 + 1 / 24 + 1 / 120))


def test_vendor_rates_differ_when_vendor_divides_by_sent():
    # A: vendor open rate 0.19 = 190/1000 (sent), ours 190/950 = 0.2 → differs, explained.
    frame = TWO_CAMPAIGNS.assign(vendor_open_rate=[0.19, 0.5], vendor_click_rate=[0.02, 0.1])
    con = con_with(frame)
    table = em.campaign_table(con, em.email_data(con, "email_campaigns"), em.Filters()).frame
    assert table["vendor_note"].tolist()[0] == "vendor open rate = unique opens ÷ sent (delivered + bounces)"
    assert pd.isna(table["vendor_note"].tolist()[1])
    assert em.vendor_rate_summary(table) == {"with_vendor_rates": 2, "differ": 1}


EVENTS = pd.DataFrame({
    "_row": range(2, 14),
    "recipient": ["a@x.com", "a@x.com", "a@x.com", "a@x.com", "b@x.com", "b@x.com", "b@x.com",
                  "c@x.com", "c@x.com", "s@scan.com", "s@scan.com", "s@scan.com"],
    "event_time": pd.to_datetime(["2026-03-10 09:00:00", "2026-03-10 09:00:05", "2026-03-10 10:00:00",
                                  "2026-03-10 10:01:00", "2026-03-10 09:00:01", "2026-03-10 09:00:06",
                                  "2026-03-10 12:00:00", "2026-03-10 09:00:02", "2026-03-10 09:00:09",
                                  "2026-03-10 09:00:03", "2026-03-10 09:00:08", "2026-03-10 09:00:10"]),
    "event": ["sent", "delivered", "open", "click", "Sent", "Delivered", "unsubscribe", "sent", "bounce",
              "processed", "delivered", "Clicked Email"],
    "campaign": ["N3"] * 12,
})


def test_events_aggregate_to_campaign_shape():
    # Recipients: a (delivered, opened, clicked after 1 h), b (delivered, unsubscribed), c (bounced),
    # s (delivered at 09:00:08, clicked 2 s later → scanner; a click counts as an open). sent 4,
    # bounces 1, delivered 3, opens 2 (a, s; s within 10 s → 1 machine open), clicks 2 (1 scanner), unsubscribes 1.
    con = con_with(EVENTS, "email_events")
    data = em.email_data(con, "email_events", scanner_seconds=10)
    row = em.campaign_table(con, data, em.Filters()).frame.iloc[0]
    assert row[["sent", "bounces", "delivered", "opens", "machine_opens", "clicks", "scanner_clicks",
                "unsubscribes"]].tolist() == [4, 1, 3, 2, 1, 2, 1, 1]
    assert row["open_rate_human"] == pytest.approx(1 / 3)
    assert row["click_rate"] == pytest.approx(2 / 3) and row["click_rate_human"] == pytest.approx(1 / 3)
    flags = em.scanner_flags(em.campaign_table(con, data, em.Filters()).frame)
    assert [(f.metric, f.subject, f.value) for f in flags] == [("Scanner-like clicks", "N3", 0.5)]


def test_unrecognised_events_counted():
    con = con_with(pd.concat([EVENTS, EVENTS.head(1).assign(event="deferred", _row=99)]), "email_events")
    assert em.email_data(con, "email_events").excluded == {"event type not recognised": 1}
    assert canonical_event(" Marked Email as Spam ") == "spam"


@st.composite
def campaigns(draw):
    n = draw(st.integers(1, 8))
    rows = []
    for i in range(n):
        sent = draw(st.integers(1, 5000))
        delivered = draw(st.integers(1, sent))
        opens = draw(st.integers(0, delivered))
        clicks = draw(st.integers(0, opens))
        rows.append({"_row": i + 2, "campaign": f"c{i}", "send_date": pd.Timestamp("2025-01-01") + pd.Timedelta(days=3 * i),
                     "topic": draw(st.sampled_from(["a", "b"])), "list_name": "L", "sent": sent,
                     "delivered": delivered, "bounces": sent - delivered, "unique_opens": opens,
                     "unique_clicks": clicks, "unsubscribes": draw(st.integers(0, delivered)),
                     "spam_complaints": draw(st.integers(0, delivered))})
    return pd.DataFrame(rows)


SHARED = duckdb.connect()


def shared_con_with(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """One connection for the property tests (a new DuckDB connection per example is slow)."""
    SHARED.register("_in", frame)
    SHARED.execute('CREATE OR REPLACE TABLE "email_campaigns" AS SELECT * FROM _in')
    SHARED.unregister("_in")
    return SHARED


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(campaigns())
def test_pooled_rates_are_ratios_between_campaign_extremes(frame):
    con = shared_con_with(frame)
    data = em.email_data(con, "email_campaigns")
    pooled = em.pooled_rates(con, data).frame.iloc[0]
    per = em.campaign_table(con, data, em.Filters()).frame
    for rate in em.RATES:
        value = pooled[rate.key]
        if pd.isna(value):
            assert pooled[f"{rate.key}_n"] == 0 or pd.isna(pooled[f"{rate.key}_n"])
            continue
        assert 0 <= value <= 1
        each = per[rate.key].dropna()
        assert each.min() - 1e-12 <= value <= each.max() + 1e-12


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(campaigns())
def test_topic_groups_add_up_to_total(frame):
    con = shared_con_with(frame)
    data = em.email_data(con, "email_campaigns")
    groups = em.rates_by_group(con, data, em.Filters(), "topic", top=1).frame
    total = em.pooled_rates(con, data).frame.iloc[0]
    assert groups["delivered"].sum() == total["delivered"] and groups["sends"].sum() == total["sends"]
    # one named group, and the rest in one row that says how many topics it holds
    if frame["topic"].nunique() == 2:  # topics a and b: the smaller one is "Other (1 group)"
        assert groups["topic"].iloc[1] == "Other (1 group)"


def test_real_mailchimp_pooled_rates(ws):
    ws.load("mailchimp_campaigns_mydomino.csv", real_file("mailchimp_campaigns_mydomino.csv").read_bytes())
    data = em.email_data(ws.con, "email_campaigns")
    assert data.excluded == {}
    row = em.pooled_rates(ws.con, data).frame.iloc[0]
    # Σ over the 62 rows: sent 16,961, delivered 16,193, unique opens 2,933, unique clicks 169,
    # unsubscribes 240, complaints 0 (summed with DuckDB over the file's columns).
    assert row[["sends", "sent", "delivered", "opens", "clicks", "unsubscribes", "complaints"]].tolist() == \
        [62, 16961, 16193, 2933, 169, 240, 0]
    assert row["delivery_rate"] == pytest.approx(16193 / 16961)
    # Mailchimp's Open_Rate/Click_Rate (41.09 = percent) equal our unique opens ÷ delivered on every row.
    table = em.campaign_table(ws.con, data, em.Filters()).frame
    assert em.vendor_rate_summary(table) == {"with_vendor_rates": 62, "differ": 0}
    assert em.default_grain(data.first_send, data.last_send) == "week"
    flags = em.area_flags(ws)
    assert any(f.metric == "Unsubscribe rate" for f in flags)  # 240/16,193 = 1.48% ≫ 0.1%
    # its 25 "| Combo" splits are one table of the export too
    tables = em.area_tables(ws)
    assert set(tables) == {"Email campaigns – per send", "Email campaigns – per week",
                           "Email campaigns – A/B tests (open rate)"}
    assert len(tables["Email campaigns – A/B tests (open rate)"]) == 25


def test_area_contract_without_data(ws):
    assert em.area_flags(ws) == [] and em.area_tables(ws) == {}


def test_one_period_and_text_in_numbers(ws):
    csv = ("Title,Send Date,Total Recipients,Successful Deliveries,Unique Opens,Unique Clicks,Unsubscribes\n"
           "A,2025-03-03,100,98,40,5,1\nB,2025-03-04,abc,50,10,1,0\n")
    ws.load("tiny.csv", csv.encode())
    data = em.email_data(ws.con, "email_campaigns")
    row = em.pooled_rates(ws.con, data).frame.iloc[0]
    # B's sent is unreadable and there is no bounces column: B still counts for opens (50/148 delivered)
    # but not for delivery rate: 98/100.
    assert row["delivery_rate"] == pytest.approx(0.98) and row["open_rate"] == pytest.approx(50 / 148)
    assert "complaints" not in data.available and pd.isna(row["spam_rate"])
    flags = em.email_flags(ws.con, data, em.Filters(), "month", ws.thresholds)
    # One month only: no history to test against. A's unsubscribes 1/98 = 1.02% > 0.1%, but one
    # unsubscribe is no evidence: exact 95% 0.026%–5.56% (scipy binomtest(1, 98)). March pools 1/148 over
    # two sends: p = 0.006757, residuals ±0.3378, se = √(2·2·0.3378²)/148 = 0.004565, interval 0–1.57%.
    # The old Wilson check called both "high".
    assert flags == []


def test_frequency_correlation_on_levels_and_changes():
    # 12 complete months, both series rising by 0.1 a month with opposite zigzags ±0.08:
    # emails x = 1.08, 1.02, 1.28, 1.22, …; unsubscribe rate y = (0.92, 1.18, 1.12, 1.38, …)·0.001.
    # Levels: r = 0.89989, p = 6.7e-5 (scipy pearsonr) — the shared trend. Changes: Δx = −0.06, +0.26, …,
    # Δy = +0.26, −0.06, … → r = −1 (scipy pearsonr): a month with more email lost *fewer* people.
    # → "shared trend, not co-movement". A 13th, incomplete month with wild values is left out.
    t = pd.Series(range(12), dtype=float)
    zig = 0.08 * (-1.0) ** t
    periods = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=12, freq="MS"),
                            "emails_per_recipient_week": 1 + 0.1 * t + zig,
                            "unsubscribe_rate": (1 + 0.1 * t - zig) * 0.001, "incomplete": False})
    periods = pd.concat([periods, pd.DataFrame({"period": [pd.Timestamp("2026-01-01")], "emails_per_recipient_week": [9.0],
                                                "unsubscribe_rate": [0.0], "incomplete": [True]})], ignore_index=True)
    corr = em.frequency_vs_unsubscribes(periods, "month")
    assert corr.levels.n == 12 and corr.levels.r == pytest.approx(0.899890, abs=1e-6)
    assert corr.changes.n == 11 and corr.changes.r == pytest.approx(-1.0)
    assert corr.shared_trend_only
    # a month missing in the middle breaks the chain: its two neighbouring changes are not taken
    gap = em.frequency_vs_unsubscribes(periods.drop(index=5), "month")
    assert gap.levels.n == 11 and gap.changes.n == 9


def test_open_rate_trend_has_an_interval():
    # 12 monthly open rates .20 .22 .21 .19 .23 .22 .20 .24 .22 .23 .25 .24 → OLS slope 0.003531 per month,
    # Newey–West (2 lags) t-interval 0.002326–0.004737 (statsmodels 0.15, lib.stats.trend_slope doctest):
    # a real rise. The topic mix predicts a flat 0.21 → slope 0, the whole rise is within topics.
    rates = [.20, .22, .21, .19, .23, .22, .20, .24, .22, .23, .25, .24]
    mix = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=12, freq="MS"), "open_rate": rates,
                        "expected_open_rate": [0.21] * 12})
    slopes = em.open_rate_trends(mix, "month")
    assert slopes["actual"].slope == pytest.approx(0.003531, abs=1e-6)
    assert (slopes["actual"].low, slopes["actual"].high) == pytest.approx((0.002326, 0.004737), abs=1e-6)
    assert not slopes["actual"].within_noise
    assert slopes["expected"].slope == pytest.approx(0.0, abs=1e-12)
    assert slopes["within"].slope == pytest.approx(0.003531, abs=1e-6)
    assert em.slope_text(slopes["actual"], "month") == "+0.35 pp per month (95% CI +0.23 to +0.47)"


def test_ab_halves_count_as_one_audience_for_frequency():
    # "Spring | Combo 1" (1,000) and "Spring | Combo 2" (1,000) went to halves of one list of 2,000 on
    # Mon 6 Jan; data through Sun 12 Jan (a full week, a later send to another list). Emails per recipient
    # per week = 2,000 sent ÷ 2,000 recipients ÷ 1 week = 1 — not 2,000 ÷ 1,000 (the larger half) = 2.
    frame = history_frame([(1000, 0), (1000, 0), (500, 0)]).assign(
        campaign=["Spring | Combo 1", "Spring | Combo 2", "Other"], list_name=["All", "All", "Leads"],
        send_date=pd.to_datetime(["2025-01-06 09:00", "2025-01-06 09:00", "2025-01-12 10:00"]))
    con = con_with(frame)
    row = em.rates_by_period(con, em.email_data(con, "email_campaigns"), em.Filters(), "week").frame.iloc[0]
    # recipients 2,000 (All, halves added) + 500 (Leads) = 2,500; sent 2,500 → 1 email a week each
    assert row["recipients_est"] == 2500 and row["emails_per_recipient_week"] == pytest.approx(1.0)


def test_incomplete_last_period_is_no_volume_drop():
    # Weeks 0–3: 4 sends each (Mon–Thu); week 4: 1 send on its Monday, where the data ends. The whole
    # week would expect 4 (P(X ≤ 1 | Poisson 4) = 0.092 — not a drop at 0.05 either way, so use 8 a week):
    # weeks 0–3 with 8 sends each, week 4 one send on Monday → covered 1 of 7 days → expected 8·1/7 = 1.14,
    # not 8 (P(X ≤ 1 | 8) = 0.003 would call it a drop).
    days = [f"2025-01-{6 + 7 * w:02d} {9 + h}:00" for w in range(4) for h in range(8)] + ["2025-02-03 09:00"]
    frame = history_frame([(1000, 0)] * len(days)).assign(send_date=pd.to_datetime(days))
    con = con_with(frame)
    changes = em.program_changes(con, em.email_data(con, "email_campaigns"), em.Filters(), "week", 4, 1.5).frame
    assert "volume drop" not in set(changes["change"])


def test_band_and_verdict_agree_on_the_sample(ws):
    # The band is drawn from each test's own SE and Benjamini–Hochberg's cut-off: on every rate of the
    # sample file, a month is outside the band on the bad side exactly when the verdict says "worse".
    path = Path(__file__).resolve().parents[1] / "sample_data" / "email_campaigns.csv"
    ws.load(path.name, path.read_bytes())
    data = em.email_data(ws.con, "email_campaigns")
    tests = em.baseline_tests(ws.con, data, em.Filters(), "month", 8, 0.05, "period").frame
    assert tests["worse"].any()  # the spring blitz
    for key in tests["key"].unique():
        part = em.baseline_limits(tests, key, 0.05).dropna(subset=["low"])
        bad = part["rate"] > part["high"] if part["direction"].iloc[0] == "above" else part["rate"] < part["low"]
        assert (bad == (part["status"] == "worse")).all(), key

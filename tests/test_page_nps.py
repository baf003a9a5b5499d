"""The NPS page with the sample data, the real export and manual mode (AppTest)."""

import pytest
from streamlit.testing.v1 import AppTest

from lib.metrics import nps as m
from tests.apptest import fresh_app
from tests.conftest import real_file


def nps_page() -> AppTest:
    at = fresh_app()
    at.switch_page("app_pages/nps.py").run()
    assert not at.exception
    return at


def tiles(at: AppTest) -> dict[str, str]:
    return {t.label: t.value for t in at.metric}


@pytest.fixture(scope="module")
def sample_page():
    at = nps_page()
    at.button(key="sample_nps").click().run()
    assert not at.exception, at.exception
    return at


def test_sample_tiles_match_the_metric(sample_page):
    at = sample_page
    ws = at.session_state["workspace"]
    dataset = ws.get("nps_responses")
    row = m.nps_summary(ws.con, dataset.table, dataset.bad_values["score"].count).frame.iloc[0]
    shown = tiles(at)
    assert list(shown)[:6] == ["NPS", "Responses", "Promoters", "Passives", "Detractors", "Margin of error"]
    assert shown["NPS"] == f"{row.nps:.1f}"
    assert shown["Responses"] == f"{int(row.n):,}"
    assert shown["Promoters"] == f"{row.pct_promoters:.1f}%"
    assert shown["Detractors"] == f"{row.pct_detractors:.1f}%"
    assert shown["Margin of error"] == f"±{row.moe:.1f}"
    assert int(row.n) > 1000 and -100 <= row.nps <= 100


def test_sample_shows_left_out_rows_dips_and_campaigns(sample_page):
    at = sample_page
    text = " ".join(md.value for md in at.markdown)
    # the sample file carries blanks, 'ten', 6.5 and 11
    assert "score blank" in text and "not a whole number" in text and "outside 0–10" in text
    assert "dip beyond the noise:" in text  # the dip after the campaign burst is flagged
    assert "Difference: z =" in text
    # the dips' base rate: share of all tested months in campaign windows beside the dipped ones'
    base = next(md.value for md in at.markdown if md.value.startswith("Dips and campaigns:"))
    assert "tested months" in base and ("Fisher's exact test" in base or "no dip to compare" in base)
    headers = [h.value for h in at.header]
    assert headers == ["NPS by period", "Breakdown by segment", "Score distribution", "Comments", "Campaigns",
                       "Referral candidates", "Follow-up lists", "Do detractors leave?", "Referrals",
                       "Survey response rate", "Red flags"]


def test_referral_threshold_is_editable(sample_page):
    at = sample_page
    before = next(md.value for md in at.markdown if "whose latest score is" in md.value)
    at.session_state["nps_thresholds"] = True  # the thresholds panel is built only when open
    at.run()
    at.number_input(key="th_nps_nps_referral_min_score").set_value(7.0).run()
    assert not at.exception
    after = next(md.value for md in at.markdown if "whose latest score is" in md.value)
    assert "is 7 or more" in after
    assert int(after.split()[0].replace(",", "")) > int(before.split()[0].replace(",", ""))


def test_real_export_without_dates():
    at = nps_page()
    data = real_file("preppin_2021w23_nps_prep_air.csv").read_bytes()
    at.file_uploader(key="upload_nps").set_value(("preppin_2021w23_nps_prep_air.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    shown = tiles(at)
    # 184 responses, 74 promoters, 35 detractors: NPS 21.2, MoE ±10.7 (worked in tests/test_metrics_nps.py)
    assert shown["NPS"] == "21.2" and shown["Responses"] == "184" and shown["Margin of error"] == "±10.7"
    assert shown["Promoters"] == "40.2%" and shown["Passives"] == "40.8%" and shown["Detractors"] == "19.0%"
    assert any("no response date" in i.value for i in at.info)
    # issue #22 sections: no dates, so no "do detractors leave"; no referral file; the full follow-up lists
    assert any("This needs response dates" in i.value for i in at.info)
    assert any("Referrals need a “Referred by” column" in i.value for i in at.info)
    assert {"Detractors (35)", "Promoters (74)"} <= {h.value for h in at.subheader}
    assert any(c.value.startswith("This file cannot give a response rate") for c in at.caption)
    # Airline is "Prep Air" on every row: nothing to break down by
    assert any("no other text column to break the NPS down by" in i.value for i in at.info)
    assert any("No rows left out" in md.value for md in at.markdown)
    assert any(md.value == "NPS 21.2: good (above 20)." for md in at.markdown)
    # the margin formula at this mix (worked in tests/test_metrics_nps.py): ±26 at 30 answers, ±15 needs 94
    assert any("±26 points with this mix" in c.value and "needs 94 responses" in c.value for c in at.caption)


def test_manual_mode_counts_and_pasted_scores():
    at = nps_page()
    at.number_input(key="nps_manual_p").set_value(5).run()
    at.number_input(key="nps_manual_pa").set_value(2).run()
    at.number_input(key="nps_manual_d").set_value(3).run()
    shown = tiles(at)
    # 5/2/3 → NPS 20.0, MoE ±54.0 (worked in tests/test_metrics_nps.py)
    assert shown["NPS"] == "20.0" and shown["Margin of error"] == "±54.0" and shown["Responses"] == "10"
    at.radio(key="nps_manual_how").set_value("Scores").run()
    at.text_area(key="nps_manual_scores").input("10 9 8 6 ten 6.5 11").run()
    assert not at.exception
    shown = tiles(at)
    # 10, 9 promoters; 8 passive; 6 detractor → (2 − 1)/4 = 25.0
    assert shown["NPS"] == "25.0" and shown["Responses"] == "4"
    assert any("Left out: 1 text, 1 decimal, 1 outside 0–10" in c.value for c in at.caption)


def test_sample_trend_shows_the_campaign_calendar(sample_page):
    at = sample_page
    assert at.checkbox(key="campaigns_nps").value
    overlaid = lambda: sum('"Campaign channel"' in c.proto.spec for c in at.get("vega_lite_chart"))  # noqa: E731
    assert overlaid() == 1  # the NPS trend
    at.multiselect(key="campaign_channels_nps").set_value(["email"]).run()
    assert not at.exception and overlaid() == 1
    at.checkbox(key="campaigns_nps").uncheck().run()
    assert not at.exception and overlaid() == 0
    at.checkbox(key="campaigns_nps").check().run()


def test_a_hundred_companies_break_down_with_other_and_search():
    from tests.test_segments import hundred_companies

    at = nps_page()
    data = hundred_companies(3).to_csv(index=False).encode()
    at.file_uploader(key="upload_nps").set_value(("companies.csv", data, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="nps_segment").value == "company"  # was: "no other column … to break the NPS down by"
    table = next(df.value for df in at.dataframe if "Company" in df.value.columns)
    assert len(table) == 21 and table["Company"].iloc[-1] == "Other (80 groups)"
    assert table["Valid responses"].sum() == 3019  # the 20 largest and Other add up to the total
    at.text_input(key="nps_segment_search").input("099").run()
    assert not at.exception
    table = next(df.value for df in at.dataframe if "Company" in df.value.columns)
    assert table["Company"].tolist() == ["Company 099 Ltd", "Other (99 groups)"]


def test_weeks_and_quarters_are_tested_too(sample_page):
    at = sample_page
    for grain in ("week", "quarter", "month"):
        at.selectbox(key="nps_grain").set_value(grain).run()
        assert not at.exception, at.exception
        caption = next(c.value for c in at.caption if c.value.startswith("A dip:"))
        assert "Periods follow UTC" in caption and "Benjamini–Hochberg" in caption


def test_follow_up_detractors_leave_and_referrals_with_every_sample_file():
    from tests.apptest import sample_page as every_sample

    at = every_sample("app_pages/nps.py")
    ws = at.session_state["workspace"]
    nps, subs = ws.get("nps_responses"), ws.get("subscriptions")
    # follow-up lists: every respondent whose latest answer is a detractor, the same count as the metric
    det = m.follow_up_list(ws.con, nps.table, 0, 6).frame
    assert any(h.value == f"Detractors ({len(det):,})" for h in at.subheader)
    # do detractors leave: joined on email = Customer Email, the sentences carry the metric's numbers
    assert at.selectbox(key="nps_outcome_key").value == "respondent|customer_email"
    assert at.selectbox(key="nps_outcome_key").format_func("respondent|customer_email").startswith("Email = Customer Email")
    ctes, params, as_of = m.outcome_moves(ws.con, subs)
    frame = m.outcomes_after_answer(ws.con, nps.table, "respondent", ctes, params, subs.table, "customer_email",
                                    90, as_of).frame.set_index("category")
    churn = next(md.value for md in at.markdown if md.value.startswith("**Churned**"))
    assert (f"detractors {frame.at['Detractor', 'churned_rate']:.1%} ({frame.at['Detractor', 'churned']:,} of "
            f"{frame.at['Detractor', 'paying']:,})") in churn and "beyond the noise" in churn
    assert any("not paying on the day they answered" in c.value for c in at.caption)  # left out, counted
    assert "Detractors leave" in set(at.dataframe[-1].value["Metric"])  # the red-flag table, last on the page
    # referrals: tiles from the subscriptions' "Referred By", and promoters refer more on the sample
    shown = tiles(at)
    assert int(shown["Referred customers"].replace(",", "")) > 50
    assert any(md.value.startswith("Promoters who referred someone") and "promoters refer more" in md.value
               for md in at.markdown)
    # response rate: the sample carries a sent date and the invitations nobody answered
    rate = m.response_rate_by_period(ws.con, nps.table, "month").frame
    assert any(md.value == f"{rate['answered'].sum():,} of {rate['sent'].sum():,} invitations answered: "
               f"{rate['answered'].sum() / rate['sent'].sum():.1%}." for md in at.markdown)
    # a second referral file (the sample leads' "Referrals" source) can be picked instead
    at.selectbox(key="nps_referral_source").set_value("leads").run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("From leads.xlsx: a customer is referred when a row has a source that mentions")
               for c in at.caption)


def test_a_customers_file_without_churn_dates_cannot_say_who_left():
    at = nps_page()
    at.file_uploader(key="upload_nps").set_value(
        ("nps.csv", b"Email,Score,Date\na@x.com,2,2025-02-01\nb@x.com,10,2025-02-01\n", "text/csv")).run()
    ws = at.session_state["workspace"]
    ws.load("customers.csv", b"Customer ID,Email,Signup Date\nc1,a@x.com,2025-01-01\nc2,b@x.com,2025-01-01\n",
            kind="customers")
    at.run()
    assert not at.exception, at.exception
    assert any("has no churn date, so it cannot say who left" in i.value for i in at.info)

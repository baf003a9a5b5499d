"""The email page with the sample data (AppTest): tiles, flags of the sample's stories, event-log view."""

from streamlit.testing.v1 import AppTest

from tests.apptest import sample_page

LABELS = ["Delivery rate", "Open rate", "Click-to-open rate", "Click rate", "Unsubscribe rate",
          "Spam complaint rate"]


def flag_table(at: AppTest):
    """The page's flag table (the one with the report's 'Questions to ask' column)."""
    tables = [df.value for df in at.dataframe if "Questions to ask" in df.value.columns]
    assert len(tables) == 1
    return tables[0]


def test_email_page_sample_tiles_flags_and_events():
    at = sample_page("app_pages/email.py")
    tiles = {m.label: m for m in at.metric}
    assert list(tiles) == LABELS
    ws = at.session_state["workspace"]
    # Tile values equal the pooled sums of the sample file, computed here straight from the table.
    sent, delivered, opens, clicks, unsubs, spam = ws.con.execute(
        "SELECT SUM(sent), SUM(delivered), SUM(unique_opens), SUM(unique_clicks), SUM(unsubscribes), "
        "SUM(spam_complaints) FROM email_campaigns").fetchone()
    assert tiles["Delivery rate"].value == f"{100 * delivered / sent:.1f}%"
    assert tiles["Open rate"].value == f"{100 * opens / delivered:.1f}%"
    assert tiles["Click-to-open rate"].value == f"{100 * clicks / opens:.1f}%"
    assert tiles["Unsubscribe rate"].value == f"{100 * unsubs / delivered:.2f}%"
    assert tiles["Spam complaint rate"].value == f"{100 * spam / delivered:.2f}%"
    # The sample's stories show up as flags: the spring blitz (send volume, delivery, unsubscribes,
    # complaints vs own history), the new list before it, the low-open welcome sends (small sends: worse
    # than their own history, but 40 opens of 345 cannot show a rate under 15%), the low-CTOR promos.
    flags = flag_table(at)
    metrics = set(flags["Metric"])
    assert {"Send volume", "Delivery rate", "Unsubscribe rate", "Spam complaint rate",
            "Open rate (own history)", "Click-to-open rate (own history)"} <= metrics
    # the blitz month itself is worse than its own history (the test, with its Benjamini–Hochberg p, on its row)
    # (25 months: the September 2024 pilot sends give October 2024 a month of history)
    assert flags[flags["Subject"] == "Mar 2026"]["Test"].str.contains("Benjamini–Hochberg over 25 months").any()
    # one row per send and rate: the promo below the CTOR threshold carries both kinds of evidence
    ctor = flags[flags["Metric"] == "Click-to-open rate (own history)"]
    assert ctor["Test"].str.contains("also: threshold ≥ 8.00%").any()
    assert not flags.duplicated(["Subject", "Period"] + ["Metric"]).any()
    volume = flags[flags["Metric"] == "Send volume"]["Subject"].tolist()
    assert {"Mar 2026", "Apr 2026"} <= set(volume)
    assert any("Webinar leads 2026" in str(v) for df in at.dataframe for v in df.value.astype(str).values.ravel())
    # with topics, the trend is split into what the mix predicts and the change within topics, per month
    # each slope with its autocorrelation-robust interval
    assert any("pp per month (95% CI" in md.value and "topic mix alone predicts" in md.value
               and "change within topics" in md.value for md in at.markdown)
    # the frequency–unsubscribe correlation on levels and on changes, over complete months
    assert any("on the levels: **r =" in md.value and "on the change from one month to the next" in md.value
               for md in at.markdown)
    # Switch to the event log: the scanner burst on "Trial nurture 3 – Reports" is flagged.
    at.radio(key="email_source").set_value("email_events").run()
    assert not at.exception, at.exception
    flags = flag_table(at)
    scanner = flags[flags["Metric"] == "Scanner-like clicks"]
    assert scanner["Subject"].tolist() == ["Trial nurture 3 – Reports"]
    assert [m.label for m in at.metric] == LABELS
    # the sample's campaign calendar is drawn on the history, frequency and topic-mix trends, email first
    assert at.checkbox(key="campaigns_email").value
    assert at.multiselect(key="campaign_channels_email").value == ["email"]
    assert sum('"Campaign channel"' in c.proto.spec for c in at.get("vega_lite_chart")) == 3


def test_email_page_send_time_ab_tests_gaps_and_topic_thresholds():
    at = sample_page("app_pages/email.py")
    assert not at.exception, at.exception
    # consistency: the September 2024 pilot sends, then silence until the program starts, is a flag with its question
    flags = flag_table(at)
    gap = flags[flags["Metric"] == "Gap in sending"]
    assert gap["Subject"].tolist() == ["no sends 2024-09-19 → 2024-10-15"]
    assert "be consistent" in str(gap["Questions to ask"].iloc[0]).lower()
    # send time: rates by weekday with the quasi-binomial test, and by hour
    assert any("quasi-binomial F =" in md.value for md in at.markdown)
    weekdays = [df.value for df in at.dataframe if "weekday" in df.value.columns]
    assert weekdays and {"Tuesday", "Friday"} <= set(weekdays[0]["weekday"])
    at.radio(key="email_time_by").set_value("hour").run()
    hours = [df.value for df in at.dataframe if "hour" in df.value.columns]
    assert hours and {8, 14} <= set(hours[0]["hour"])
    # A/B tests: one row per test, the subject test won by Combo 1 beyond chance
    ab = [df.value for df in at.dataframe if "A/B test" in df.value.columns][0]
    assert ab["A/B test"].tolist() == ["Promo – Upgrade to Pro", "Tips: Cohorts in 5 minutes"]
    promo = ab.iloc[0]
    assert (promo["Winner"], promo["Variants differ in"], bool(promo["Winner beyond chance"])) == (
        "Combo 1", "subject", True)
    assert ab.iloc[1]["Variants differ in"] == "send time"
    # a topic's own open-rate line, set in the threshold editor, is what the workspace keeps
    at.session_state["email_thresholds"] = True  # the thresholds panel is built only when open
    at.run()
    at.selectbox(key="th_email_topic").set_value("welcome").run()
    at.number_input(key="th_email_email_open_rate_min@welcome").set_value(30.0).run()
    assert not at.exception, at.exception
    ws = at.session_state["workspace"]
    assert ws.thresholds.for_topic("email_open_rate_min", "welcome") == 0.30
    assert ws.thresholds.for_topic("email_open_rate_min", "promo") == 0.15
    assert any("welcome: open rate below 30.00%" in c.value for c in at.caption)
    # a later change of the general value moves the topics without their own value, not welcome's
    at.number_input(key="th_email_email_open_rate_min").set_value(20.0).run()
    ws = at.session_state["workspace"]
    assert ws.thresholds.for_topic("email_open_rate_min", "welcome") == 0.30
    assert ws.thresholds.topic_values("email_open_rate_min") == {"welcome": 0.30}
    at.selectbox(key="th_email_topic").set_value("promo").run()
    assert at.number_input(key="th_email_email_open_rate_min@promo").value == 20.0
    assert at.session_state["workspace"].thresholds.topic_values("email_open_rate_min") == {"welcome": 0.30}


def test_send_time_by_hour_falls_back_to_weekday_on_a_file_without_hours():
    import re
    from pathlib import Path
    at = sample_page("app_pages/email.py")
    at.radio(key="email_time_by").set_value("hour").run()
    # the same export with dates only ("10/15/24 9:45" → "10/15/24")
    text = (Path(__file__).resolve().parents[1] / "sample_data" / "email_campaigns.csv").read_text("utf-8")
    dates_only = re.sub(r"(\d{1,2}/\d{1,2}/\d{2}) \d{1,2}:\d{2}", r"\1", text)
    at.file_uploader(key="upload_email").set_value(("dates_only.csv", dates_only.encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert at.radio(key="email_time_by").value == "weekday"
    assert any("dates without times" in i.value for i in at.info)


def test_page_flags_are_the_libs_email_flags_after_period_and_filter_changes():
    """The page builds its flags from the figures it shows (ui.email_sections.flags, each computed once
    per click); the table must be the one lib.metrics.email.email_flags gives for the same selection."""
    import pandas as pd

    from lib.metrics import email as em
    from lib.result import flags_frame

    at = sample_page("app_pages/email.py")
    at.selectbox(key="email_grain_email_campaigns").set_value("quarter").run()
    at.multiselect(key="email_topics_email_campaigns").select("promo").run()
    assert not at.exception, at.exception
    ws = at.session_state["workspace"]
    data = em.email_data(ws.con, ws.get("email_campaigns").table, ws.thresholds["email_scanner_seconds"])
    start, end = at.date_input(key="email_dates_email_campaigns").value
    filters = em.Filters(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1), (), ("promo",))
    expected = flags_frame(em.email_flags(ws.con, data, filters, "quarter", ws.thresholds), formatted=True)
    shown = flag_table(at)
    assert len(shown) > 0
    pd.testing.assert_frame_equal(shown.reset_index(drop=True).astype(str), expected.reset_index(drop=True).astype(str))


def test_a_selection_without_sends_says_so_instead_of_failing():
    """A list and a topic never sent together (the sample's trial users got no promo) leave no sends:
    the page says so under the filters and stops (before, the own-history tests raised a KeyError)."""
    at = sample_page("app_pages/email.py")
    at.multiselect(key="email_lists_email_campaigns").set_value(["Trial users"]).run()
    at.multiselect(key="email_topics_email_campaigns").set_value(["promo"]).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == [
        "No sends match this selection (dates, lists and topics together): widen it to see the figures."]
    assert not at.metric  # no tiles of nothing
    at.multiselect(key="email_topics_email_campaigns").set_value([]).run()
    assert not at.warning and [m.label for m in at.metric] == LABELS


def test_empty_selection_gives_empty_own_history_tests():
    """lib: no sends in the selection → no rows in either test family (the period form failed before)."""
    from lib.datasets import Workspace
    from lib.metrics import email as em
    from lib.sample import load_samples

    ws = Workspace()
    load_samples(ws)
    data = em.email_data(ws.con, ws.get("email_campaigns").table)
    none = em.Filters(lists=("Trial users",), topics=("promo",))
    assert em.pooled_rates(ws.con, data, none).frame.iloc[0]["sends"] == 0
    for by in ("period", "campaign"):
        assert em.baseline_tests(ws.con, data, none, "month", 6, 0.05, by).frame.empty
    ws.close()

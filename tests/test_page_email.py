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
    assert flags[flags["Subject"] == "Mar 2026"]["Test"].str.contains("Benjamini–Hochberg over 24 months").any()
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

"""The Voice-of-customer page with the sample data (AppTest): tiles, sections and flags, no exception."""

from tests.apptest import sample_page


def test_voice_page_with_sample_data():
    at = sample_page("app_pages/voice.py")
    tiles = {m.label: (m.value, m.delta) for m in at.metric}
    # community_posts.csv: 763 dated, non-blank texts
    assert tiles["Texts"][0] == "763"
    # September 2026 (latest complete month): 11 negative of 63 texts = 17.5%; August 7 of 41 = 17.1%
    assert tiles["Share negative"] == ("17.5%", "+0.4 pts")
    # September 2026: 17 complaints; August: 3
    assert tiles["Complaints about marketing"] == ("17", "+14")
    assert tiles["Posters matched to customers"][0].endswith("%")
    # Q3 2026 expansion deals: 14 won of 28 closed = 50.0%; Q2: 5 of 24 = 20.8% → +29.2 pts
    assert tiles["Expansion win rate"] == ("50.0%", "+29.2 pts")
    assert tiles["Expansion qualification rate"][0] == "76.7%"  # 23 of 30
    assert tiles["Expansion median cycle time"][0] == "23 days"
    headers = [s.value for s in at.subheader]
    assert headers[0].startswith("Red flags (") and int(headers[0][11:-1]) >= 8
    assert "Do campaign-sourced deals disqualify or close slower than normal?" in headers
    assert not at.error
    # the chosen channels' campaigns are drawn behind negative volume (the shared overlay)
    assert sum('"Campaign channel"' in c.proto.spec for c in at.get("vega_lite_chart")) == 1

    # every control reruns the page without an exception (one app run for both checks: keeps the file fast)
    at.radio(key="voice_dgrain").set_value("month").run()
    at.radio(key="voice_basis").set_value("closed").run()
    at.selectbox(key="voice_dtype").select_index(3).run()
    at.radio(key="voice_grain").set_value("week").run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert "All deals win rate" in labels


def social_listening_csv() -> bytes:
    """The hand-labelled airline posts of tests/test_metrics_voice.py, posted again each month from
    January to April 2015 (dd-mm-yyyy HH:MM), as a listening tool exports them."""
    from tests.test_metrics_voice import LABELLED_CSV

    head, *rows = LABELLED_CSV.strip().splitlines()
    out = [head]
    for month in (1, 2, 3, 4):
        for i, row in enumerate(rows):
            cells = row.rsplit(",", 1)
            out.append(f"{cells[0]},{3 + 2 * i:02d}-{month:02d}-2015 10:{i:02d}")
    return ("\n".join(out) + "\n").encode()


def test_voice_page_with_a_social_listening_export():
    from tests.apptest import fresh_app

    at = fresh_app()
    at.switch_page("app_pages/voice.py").run()
    at.file_uploader(key="upload_voice").set_value(("Tweets.csv", social_listening_csv(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    tiles = {m.label: (m.value, m.delta) for m in at.metric}
    assert tiles["Texts"][0] == "40"
    # March (latest complete month): 4 of 10 negative by the file's labels (the lexicon alone: 2 of 10)
    assert tiles["Share negative"] == ("40.0%", "+0.0 pts")
    # of the 8 labelled posts a month: file 4 negative, lexicon 2 (both among the 4) → ×4 months
    assert tiles["Negative, by the file's labels"][0] == "50.0%"
    assert tiles["Negative, by the lexicon"][0] == "25.0%"
    assert tiles["Lexicon agrees"][0] == "62.5%"  # 20 of 32
    assert tiles["Negative texts the lexicon finds"][0] == "50.0%"  # 8 of 16
    assert "Does the lexicon agree with the file's sentiment labels?" in [s.value for s in at.subheader]
    assert any("misses sarcasm" in c.value and "“airline_sentiment”" in c.value for c in at.caption)
    assert any("8 row(s) left out: 8 with a blank or unreadable sentiment label" in c.value for c in at.caption)
    # the label column is offered in the Columns panel
    from ui.common import columns_key

    texts = at.session_state["workspace"].datasets["texts"]
    at.session_state[columns_key("voice", texts)] = True  # the panel is built only when open
    at.run()
    assert at.selectbox(key=f"map_voice_texts_{texts.digest[:8]}_sentiment_label").value == "airline_sentiment"


def test_rising_terms_and_deal_notes_about_marketing_on_the_sample():
    at = sample_page("app_pages/voice.py")
    assert "Which words rise in negative texts?" in [s.value for s in at.subheader]
    # default: the latest complete quarter (Q3 2026); the spring blitz quarter shows "stop spamming" rising
    assert at.selectbox(key="voice_terms_period_quarter").value == "2026-07-01"
    at.selectbox(key="voice_terms_period_quarter").set_value("2026-04-01").run()
    assert not at.exception, at.exception
    rising = next(md.value for md in at.markdown if md.value.startswith("Rising beyond the noise in Q2 2026"))
    assert "“stop spamming”" in rising
    # deal notes that complain about marketing are listed, and their Q2 2026 spike is a red flag on the page
    assert any(c.value.startswith("40 deals' notes complain about marketing") for c in at.caption)
    flags = next(df.value for df in at.dataframe if "Metric" in df.value.columns)
    assert "Expansion deal notes: Complaints about marketing" in set(flags["Metric"])

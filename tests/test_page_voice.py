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

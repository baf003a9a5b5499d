"""The in-app page with the sample data and with an uploaded daily aggregate (AppTest)."""

from lib.metrics import in_app as m
from tests.apptest import fresh_app, sample_page
from tests.test_metrics_in_app import AGG_HEADER, AGG_ROWS, csv

LABELS = ["Engagement rate", "Dismiss rate", "Mute rate", "Dwell under 1s", "Median dwell", "Marketing share"]


def test_in_app_page_with_sample_data():
    at = sample_page("app_pages/in_app.py")
    tiles = {metric.label: metric for metric in at.metric}
    assert list(tiles) == LABELS
    # the same numbers, computed straight from lib on the session's data
    ws = at.session_state["workspace"]
    dataset = ws.get("in_app_events")
    src = m.in_app_source(ws.con, dataset, m.roles_for(ws, dataset))
    expected, _ = m.tiles(m.rates_by_period(ws.con, src, "month").frame)
    for tile in expected:
        assert tiles[tile.label].value == tile.value
    # the sample's story: marketing pushed harder lately, engagement falls, skims and dismissals rise
    assert tiles["Engagement rate"].delta.startswith("-")
    assert tiles["Dismiss rate"].delta.startswith("+")
    assert tiles["Mute rate"].delta.startswith("+")
    assert tiles["Dwell under 1s"].delta.startswith("+")
    assert tiles["Marketing share"].delta.startswith("+")
    text = " ".join(w.value for w in at.warning)
    assert "Messages per active user per week rose" in text and "beyond week-to-week noise" in text
    flags = m.area_flags(ws)
    # Monthly engagement (4.9 % vs 8.8 %) and mutes are not flagged: four months of baseline that differ more
    # than chance leave too few degrees of freedom to tell; the weekly test (17 weeks of baseline) does.
    assert {f.metric for f in flags} >= {"Dismiss rate", "Dwell under 1s", "Messages per active user per week",
                                         "Frequency up and engagement down"}
    # the sample's in-app campaigns are drawn on the trend panels (one facet chart)
    assert at.checkbox(key="campaigns_in_app").value
    assert at.multiselect(key="campaign_channels_in_app").value == ["in-app"]
    assert sum('"Campaign channel"' in c.proto.spec for c in at.get("vega_lite_chart")) == 1


def test_in_app_page_with_uploaded_daily_aggregate():
    at = fresh_app()
    at.switch_page("app_pages/in_app.py").run()
    at.file_uploader(key="upload_in_app").set_value(("braze_analytics.csv", csv(AGG_HEADER, AGG_ROWS), "text/csv")).run()
    assert not at.exception, at.exception
    tiles = {metric.label: metric for metric in at.metric}
    # hand-worked in tests/test_metrics_in_app.py: March 20/300 clicks, 13% dismissed, 1.4% muted, 1.2 s
    assert (tiles["Engagement rate"].value, tiles["Engagement rate"].delta) == ("6.7%", "-3.3 pp")
    assert (tiles["Dismiss rate"].value, tiles["Mute rate"].value) == ("13.0%", "1.4%")
    assert tiles["Dwell under 1s"].value == "—"
    assert tiles["Median dwell"].value == "1.2 s"
    assert tiles["Marketing share"].value == "80.0%"
    assert any("aggregated exports have no users" in i.value for i in at.info)


def test_chart_builders_are_titled_and_labelled(ws):
    from lib.charts import in_app as charts
    from lib.config import Thresholds
    from tests.test_metrics_in_app import BRAZE_HEADER, BRAZE_ROWS

    dataset = ws.load("braze.csv", csv(BRAZE_HEADER, BRAZE_ROWS), kinds=["in_app_events"])
    src = m.in_app_source(ws.con, dataset)
    periods = m.rates_by_period(ws.con, src, "month").frame
    weekly = m.frequency_relevance(m.weekly_frequency(ws.con, src).frame, Thresholds())
    built = {
        "trend": charts.trend_chart(m.trend_flags(periods, Thresholds()), "month").to_dict(),
        "dwell": charts.dwell_chart(m.dwell_quantiles(ws.con, src, "month").frame, "month").to_dict(),
        "frequency": charts.frequency_relevance_chart(weekly).to_dict(),
        "types": charts.type_mix_chart(m.type_split(ws.con, src, "month").frame, "month").to_dict(),
        "campaigns": charts.campaign_chart(m.campaign_table(ws.con, src).frame).to_dict(),
    }
    for name, spec in built.items():
        assert spec.get("title"), name
    text = str(built)
    for label in ("Share of impressions", "Dwell time (seconds)", "Messages per active user", "Engagement rate",
                  "Month starting", "Week starting (Monday)"):
        assert label in text
    assert built["types"]["encoding"]["y"]["stack"] == "normalize"


def test_trend_per_message_type_on_the_sample():
    at = sample_page("app_pages/in_app.py")
    ws = at.session_state["workspace"]
    dataset = ws.get("in_app_events")
    src = m.in_app_source(ws.con, dataset, m.roles_for(ws, dataset))
    expected = m.type_trends(ws.con, src, ws.thresholds, "month").frame
    assert set(expected["message_type"]) == {"marketing", "product", "service"}
    shown = next(d.value for d in at.dataframe if "message_type" in d.value.columns and "low" in d.value.columns)
    eng = expected[expected["metric"] == "Engagement rate"]
    # the page's table is the engagement rows of the lib's frame, type by type and period by period
    assert shown["value"].round(10).tolist() == eng["value"].round(10).tolist()
    assert (shown["low"] <= shown["value"]).all() and (shown["value"] <= shown["high"]).all()
    at.segmented_control(key="in_app_type_rate").set_value("Dismiss rate").run()
    assert not at.exception
    shown = next(d.value for d in at.dataframe if "message_type" in d.value.columns and "low" in d.value.columns)
    assert shown["n"].sum() == expected.loc[expected["metric"] == "Dismiss rate", "n"].sum()


def test_trend_per_type_says_which_column_it_needs():
    at = fresh_app()
    at.switch_page("app_pages/in_app.py").run()
    rows = [r.rsplit(",", 2)[0] + "," + r.rsplit(",", 1)[1] for r in AGG_ROWS]  # drop the message type column
    header = AGG_HEADER.replace(",Message Type", "")
    at.file_uploader(key="upload_in_app").set_value(("untyped.csv", csv(header, rows), "text/csv")).run()
    assert not at.exception, at.exception
    assert any("needs a message type column" in i.value for i in at.info)


def test_type_trend_chart_is_titled_and_labelled(ws):
    from lib.charts import in_app as charts
    from lib.config import Thresholds
    from tests.test_metrics_in_app import TYPED_HEADER, TYPED_ROWS

    dataset = ws.load("typed.csv", csv(TYPED_HEADER, TYPED_ROWS), kinds=["in_app_messages"])
    trend = m.type_trends(ws.con, m.in_app_source(ws.con, dataset), Thresholds()).frame
    spec = charts.type_trend_chart(trend, "Engagement rate", "month").to_dict()
    assert "per message type" in str(spec["title"]) and "Engagement rate (share of impressions)" in str(spec)
    assert "Message type" in str(spec) and "Month starting" in str(spec)

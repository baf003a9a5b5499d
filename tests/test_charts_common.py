"""The shared campaign overlay (lib.charts.common.with_campaigns / campaign_frame) on every kind of
chart the pages draw: unit, layer, layer with a second y axis, facet, vconcat, and period labels; and
layering and converting without Altair's copies (layer_chart, to_vega_lite): the same specs as Altair's."""

from __future__ import annotations

import altair as alt
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lib.charts.common import campaign_frame, layer_chart, line_over_time, to_vega_lite, with_campaigns

MONTHS = pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"])
TREND = pd.DataFrame({"period": MONTHS, "label": ["Jan 2025", "Feb 2025", "Mar 2025", "Apr 2025"],
                      "rate": [0.10, 0.12, 0.08, 0.11]})
CALENDAR = pd.DataFrame({
    "campaign": ["Old promo", "Spring sale", "Webinar", "Long banner", "Too late"],
    "channel": ["email", "email", "webinar", "in-app", "email"],
    "start_date": pd.to_datetime(["2024-06-01", "2025-02-10", "2025-03-14", "2024-12-20", "2025-05-02"]),
    "end_date": pd.to_datetime(["2024-06-05", "2025-02-16", "2025-03-14", "2025-01-10", "2025-05-09"]),
})


def data_of(spec: dict, node: dict) -> pd.DataFrame:
    return pd.DataFrame(spec["datasets"][node["data"]["name"]])


def overlay_rows(spec: dict, node: dict) -> dict[str, pd.DataFrame]:
    """{'rect': rows, 'rule': rows} of an overlay node (one mark, or a layer of two)."""
    parts = node["layer"] if "layer" in node else [node]
    return {p["mark"]["type"]: data_of(spec, p) for p in parts}


def trend_chart() -> alt.Chart:
    return line_over_time(TREND, "period", "rate", "Rate per month", "Rate (%)", x_title="Month")


# ------------------------------------------------------------------ calendar frame

def test_campaign_frame_fills_blanks_and_counts_rows_without_start():
    raw = pd.DataFrame({"campaign": ["A", "B", "C", None],
                        "start_date": pd.to_datetime(["2025-01-05", "2025-01-01", None, "2025-02-01"]),
                        "end_date": pd.to_datetime(["2025-01-09", "2024-12-25", "2025-01-02", None]),
                        "channel": ["Email", "", "sms", None]})
    frame, left_out = campaign_frame(raw)
    assert left_out == 1  # C has no start date
    assert list(frame["campaign"]) == ["B", "A", "(unnamed)"]  # sorted by start
    # B ends before it starts → a one-day campaign on its start; the unnamed one has no end → its start
    assert list(frame["end_date"]) == list(pd.to_datetime(["2025-01-01", "2025-01-09", "2025-02-01"]))
    assert list(frame["channel"]) == ["(no channel)", "Email", "(no channel)"]


def test_campaign_frame_without_end_or_channel_columns():
    frame, left_out = campaign_frame(pd.DataFrame({"campaign": ["A"], "start_date": pd.to_datetime(["2025-03-01"])}))
    assert left_out == 0
    assert frame.iloc[0]["end_date"] == pd.Timestamp("2025-03-01") and frame.iloc[0]["channel"] == "(no channel)"


# ------------------------------------------------------------------ time axis

def test_unit_chart_becomes_a_layer_with_bands_rules_and_its_own_title():
    spec = with_campaigns(trend_chart(), CALENDAR).to_dict()
    assert spec["title"] == "Rate per month" and spec["height"] == 280
    assert len(spec["layer"]) == 2 and "title" not in spec["layer"][1]
    assert spec["layer"][1]["mark"]["type"] == "line"
    rows = overlay_rows(spec, spec["layer"][0])
    # Data runs 1 Jan – 1 Apr 2025. Old promo (June 2024) and Too late (May 2025) are outside it.
    # Long banner 20 Dec – 10 Jan is cut to start on 1 Jan; it ends after its last day (11 Jan).
    # Spring sale 10–16 Feb is a band to 17 Feb; the Webinar (14 Mar, one day) is a dashed rule.
    bands = rows["rect"].sort_values("campaign")
    assert list(bands["campaign"]) == ["Long banner", "Spring sale"]
    assert list(pd.to_datetime(bands["period"])) == list(pd.to_datetime(["2025-01-01", "2025-02-10"]))
    assert list(pd.to_datetime(bands["period_campaign_end"])) == list(pd.to_datetime(["2025-01-11", "2025-02-17"]))
    assert list(bands["days"]) == [22, 7]  # 20 Dec – 10 Jan inclusive = 22 days; 10–16 Feb = 7 days
    assert list(rows["rule"]["campaign"]) == ["Webinar"]
    band, rule = spec["layer"][0]["layer"]
    assert band["encoding"]["x"]["title"] == "Month"  # the chart's own axis title, so the axes merge
    assert band["encoding"]["x2"]["field"] == "period_campaign_end"
    assert band["encoding"]["fill"]["field"] == "channel" and rule["mark"]["strokeDash"] == [4, 3]
    assert {t["field"] for t in band["encoding"]["tooltip"]} >= {"campaign", "channel", "start_date", "end_date"}


def test_layer_chart_gets_the_overlay_first_and_keeps_everything_else():
    base = alt.Chart(TREND).encode(x=alt.X("period:T", title="Month"))
    chart = alt.layer(base.mark_line(), base.mark_point().encode(y="rate:Q"), title="Two layers").properties(height=300)
    spec = with_campaigns(chart, CALENDAR).to_dict()
    assert spec["title"] == "Two layers" and spec["height"] == 300 and len(spec["layer"]) == 3
    assert [layer.get("mark", {}).get("type") for layer in spec["layer"][1:]] == ["line", "point"]
    assert "Spring sale" in set(overlay_rows(spec, spec["layer"][0])["rect"]["campaign"])


def test_second_y_axis_layer_is_nested_not_broken():
    base = alt.Chart(TREND).encode(x="period:T")
    chart = alt.layer(base.mark_bar().encode(y="rate:Q"), base.mark_line().encode(y="rate:Q")).resolve_scale(
        y="independent").properties(title="Bars and line", height=250)
    spec = with_campaigns(chart, CALENDAR).to_dict()
    assert spec["title"] == "Bars and line" and spec["height"] == 250 and len(spec["layer"]) == 2
    inner = spec["layer"][1]
    assert inner["resolve"] == {"scale": {"y": "independent"}} and len(inner["layer"]) == 2


def test_facet_draws_the_campaigns_in_every_panel():
    long = TREND.assign(metric="Rate")
    chart = alt.layer(alt.Chart().mark_line().encode(x="period:T", y="rate:Q"), data=long).facet(
        facet="metric:N", columns=2)
    spec = with_campaigns(chart, CALENDAR).to_dict()
    assert "facet" in spec and len(spec["spec"]["layer"]) == 2
    assert "Webinar" in set(overlay_rows(spec, spec["spec"]["layer"][0])["rule"]["campaign"])


def test_vconcat_overlays_only_the_parts_on_the_time_field():
    top = alt.Chart(TREND).mark_line().encode(x="period:T", y="rate:Q")
    other = alt.Chart(TREND).mark_bar().encode(x="label:N", y="rate:Q")
    spec = with_campaigns(alt.vconcat(top, other), CALENDAR).to_dict()
    assert "layer" in spec["vconcat"][0] and spec["vconcat"][1]["mark"]["type"] == "bar"


def test_nothing_to_draw_leaves_the_chart_as_it_is():
    chart = trend_chart()
    assert with_campaigns(chart, None) is chart
    assert with_campaigns(chart, CALENDAR.iloc[0:0]) is chart
    assert with_campaigns(chart, CALENDAR[CALENDAR["campaign"].isin(["Old promo", "Too late"])]) is chart
    assert with_campaigns(chart, CALENDAR, x_field="day") is chart  # the chart has no such axis


def test_grain_shows_the_campaigns_of_the_last_period():
    late = pd.DataFrame({"campaign": ["April blast"], "channel": ["email"],
                         "start_date": pd.to_datetime(["2025-04-20"]), "end_date": pd.to_datetime(["2025-04-20"])})
    assert "layer" not in with_campaigns(trend_chart(), late).to_dict()  # 20 Apr is after the last point
    spec = with_campaigns(trend_chart(), late, grain="month").to_dict()  # April runs to 30 Apr
    assert list(overlay_rows(spec, spec["layer"][0])["rule"]["campaign"]) == ["April blast"]


# ------------------------------------------------------------------ period labels (ordinal axis)

def test_period_label_axis_shades_periods_with_campaigns_running():
    chart = alt.Chart(TREND, title="Per period").mark_bar().encode(
        x=alt.X("label:O", sort=list(TREND["label"]), title="Period"), y="rate:Q")
    spec = with_campaigns(chart, CALENDAR, "label", grain="month").to_dict()
    rows = data_of(spec, spec["layer"][0]).set_index("label")
    # Jan: Long banner (to 10 Jan). Feb: Spring sale. Mar: Webinar. Apr: none. Old promo and Too late: outside.
    assert list(rows.index) == ["Jan 2025", "Feb 2025", "Mar 2025"]
    assert rows.loc["Jan 2025", "names"] == "Long banner" and rows.loc["Feb 2025", "campaigns"] == 1
    assert spec["layer"][0]["encoding"]["x"]["sort"] == list(TREND["label"])
    assert spec["title"] == "Per period"


def test_period_label_axis_counts_overlapping_campaigns():
    overlapping = pd.DataFrame({"campaign": ["A", "B"], "channel": ["email", "event"],
                                "start_date": pd.to_datetime(["2025-02-01", "2025-02-27"]),
                                "end_date": pd.to_datetime(["2025-03-31", "2025-03-02"])})
    chart = alt.Chart(TREND).mark_bar().encode(x="label:O", y="rate:Q")
    spec = with_campaigns(chart, overlapping, "label").to_dict()  # no grain: April ends a month after it starts
    rows = data_of(spec, spec["layer"][0])
    counts = dict(zip(rows["label"], rows["campaigns"]))
    assert counts == {"Feb 2025": 2, "Mar 2025": 2}  # A runs Feb–Mar; B 27 Feb – 2 Mar touches both
    assert set(rows["channels"]) == {"email, event"}


# ------------------------------------------------------------------ invariant

days = st.integers(min_value=-60, max_value=150)


@settings(max_examples=25, deadline=None)
@example([(90, 0), (90, 5), (-1, 1)])  # a campaign on the last day, one running past it, one ending on the first
@given(st.lists(st.tuples(days, st.integers(min_value=0, max_value=40)), min_size=1, max_size=8))
def test_overlay_is_exactly_the_overlapping_campaigns_cut_to_the_data(spans):
    origin = pd.Timestamp("2025-01-01")
    calendar = pd.DataFrame({"campaign": [f"c{i}" for i in range(len(spans))], "channel": "email",
                             "start_date": [origin + pd.Timedelta(days=s) for s, _ in spans],
                             "end_date": [origin + pd.Timedelta(days=s + n) for s, n in spans]})
    lo, hi = MONTHS.min(), MONTHS.max()
    spec = with_campaigns(trend_chart(), calendar).to_dict()
    expected = {f"c{i}" for i, (s, n) in enumerate(spans)
                if origin + pd.Timedelta(days=s + n + 1) > lo and origin + pd.Timedelta(days=s) <= hi}
    if not expected:
        assert "layer" not in spec
        return
    drawn = overlay_rows(spec, spec["layer"][0])
    rows = pd.concat(drawn.values())
    assert set(rows["campaign"]) == expected and len(rows) == len(expected)  # each campaign drawn once
    starts = pd.to_datetime(rows["period"])
    assert starts.min() >= lo and starts.max() <= hi
    if "rect" in drawn:  # every band has a width and stays inside the data's dates
        band_starts = pd.to_datetime(drawn["rect"]["period"])
        band_ends = pd.to_datetime(drawn["rect"]["period_campaign_end"])
        assert (band_ends <= hi).all() and (band_ends > band_starts).all()


def test_a_calendar_already_made_by_campaign_frame_or_some_of_its_rows_gives_the_same_overlay():
    # with_campaigns skips campaign_frame for a calendar it made (the pages pass one, often filtered
    # by channel); what it draws must be what it draws from the raw file, as the browser gets it
    # (Streamlit's conversion: a frame's row numbers are sent as a column unless they are 0..n-1)
    from ui.cache import chart_spec

    made, _ = campaign_frame(CALENDAR)
    some = made[made["channel"] != "in-app"]  # rows 1, 2, 4 of the sorted calendar: index not 0..n-1
    unsorted = made.iloc[::-1]  # campaign_frame's columns and types, but not in its order
    for chart, x_field in [(trend_chart(), "period"), (alt.Chart(TREND).mark_bar().encode(x="label:O", y="rate:Q"), "label")]:
        raw = chart_spec(with_campaigns(chart, CALENDAR, x_field))
        assert chart_spec(with_campaigns(chart, made, x_field)) == raw
        assert chart_spec(with_campaigns(chart, unsorted, x_field)) == raw
        assert chart_spec(with_campaigns(chart, some, x_field)) == chart_spec(
            with_campaigns(chart, CALENDAR[CALENDAR["channel"] != "in-app"], x_field))


# ------------------------------------------------------------------ layering and converting without copies

def chart_shapes() -> dict[str, alt.TopLevelMixin]:
    """Every kind of compound chart, including those Altair's constructor changes (lifts a frame or a
    size, merges params, renames layers): each must convert exactly as Altair converts it."""
    base = alt.Chart(TREND).encode(x=alt.X("period:T", title="Month"))
    line, point = base.mark_line().encode(y="rate:Q"), base.mark_point().encode(y="rate:Q")
    bare = alt.Chart().mark_line().encode(x="period:T", y="rate:Q")
    pick = alt.selection_point(fields=["label"], name="pick")
    return {
        "unit": line,
        "one frame, lifted to the layer": alt.layer(line, point),
        "frame given on the layer": alt.layer(bare, bare.mark_point(), data=TREND),
        "size left on a layer by +": alt.layer(line, point) + base.mark_rule().encode(y="rate:Q").properties(height=90),
        "nested, second y axis": alt.layer(line, alt.layer(point, line)).resolve_scale(y="independent").properties(
            title="Two axes", height=200),
        "selection on a layer": alt.layer(line.add_params(pick), point),
        "named layer in a concat": alt.hconcat(alt.layer(line.properties(name="view_7"), point), line),
        "facet": alt.layer(bare, data=TREND.assign(metric="Rate")).facet(facet="metric:N", columns=2),
        "vconcat on one frame": alt.vconcat(line, point),
        "concat with a selection": alt.concat(line.add_params(pick), point, columns=2),
    }


def test_to_vega_lite_is_altairs_own_spec_and_leaves_the_chart_as_it_was():
    for name, chart in chart_shapes().items():
        before = chart.to_dict(validate=False)
        assert to_vega_lite(chart) == before, name
        assert chart.to_dict(validate=False) == before, name  # nothing changed in place


def test_layer_chart_builds_what_alt_layer_builds_and_stays_equal_through_later_steps():
    base = alt.Chart(TREND).encode(x=alt.X("period:T", title="Month"))
    line, point = base.mark_line().encode(y="rate:Q"), base.mark_point().encode(y="rate:Q")
    bare = alt.Chart().mark_line().encode(x="period:T", y="rate:Q")
    pick = alt.selection_point(fields=["label"], name="pick")
    cases = [((line, point), {}), ((bare, bare.mark_point()), {"data": TREND, "title": "On the layer"}),
             ((line.properties(width=300), point), {}), ((line.add_params(pick), point), {}),
             ((line, alt.layer(point, line)), {"height": 200})]
    steps = [lambda c: c, lambda c: c.properties(height=120, title="Later"), lambda c: c.resolve_scale(y="independent"),
             lambda c: c + line, lambda c: alt.vconcat(c, line), lambda c: with_campaigns(c, CALENDAR)]
    for layers, properties in cases:
        for i, step in enumerate(steps):
            ours, altairs = step(layer_chart(*layers, **properties)), step(alt.layer(*layers, **properties))
            assert ours.to_dict() == altairs.to_dict(), (properties, i)  # validated against the schema too
            assert to_vega_lite(ours) == altairs.to_dict(validate=False), (properties, i)
    assert isinstance(layer_chart(line, point), alt.LayerChart)
    # a facet of a layer (its frame given on the layer), then the facet's own later steps
    ours = layer_chart(bare, bare.mark_point(), data=TREND, height=100).facet(facet="label:N", columns=2)
    altairs = alt.layer(bare, bare.mark_point(), data=TREND, height=100).facet(facet="label:N", columns=2)
    for step in (lambda c: c, lambda c: c.resolve_scale(y="independent").properties(title="Panels")):
        assert step(ours).to_dict() == step(altairs).to_dict()
        assert to_vega_lite(step(ours)) == step(altairs).to_dict(validate=False)

"""The email page's campaign overlay made once for its three charts (session 8b, issue #20): with_campaigns
keeps the time overlay it made last for the calendar the page passed, the chart's first and last date, x field,
grain and x title, so the history, frequency and topic-mix charts of one click share one layer. The oracle is
the layer made afresh for each chart (lib.charts.common._time_overlay, the code before this change, called
directly): the same Vega-Lite spec and Arrow datasets as Streamlit converts them, on both sample email files
(the sample calendar whole and cut to a channel, as the page passes it), several ranges and grains, the
Mailchimp export, and charts whose dates differ (a different layer, still the same spec)."""

import altair as alt
import numpy as np
import pandas as pd
import pytest

from lib.charts import common
from lib.charts import email as charts
from lib.charts.common import campaign_frame, line_over_time, with_campaigns
from lib.config import Thresholds
from lib.metrics import email as em


def clear():
    common._TIME_LAYERS.clear()
    common._KEPT_ARROW.clear()


def spec(chart) -> dict:
    from ui.cache import chart_spec

    return chart_spec(chart)


def fresh(chart, calendar, **kw):
    """with_campaigns with every time overlay made afresh (the code before this change)."""
    clear()
    shared = common._shared_time_overlay
    common._shared_time_overlay = lambda calendar, frames, x, x_field, grain, given=None: common._time_overlay(
        calendar, frames, x, x_field, grain)
    try:
        return with_campaigns(chart, calendar, **kw)
    finally:
        common._shared_time_overlay = shared


@pytest.fixture(scope="module")
def sample_calendar():
    from lib.sample import SAMPLE_DIR, SAMPLE_FILES

    raw = pd.read_csv(SAMPLE_DIR / SAMPLE_FILES["campaign_calendar"])
    calendar, _ = campaign_frame(raw.rename(columns=lambda c: c.lower().replace(" ", "_")))
    return calendar


def page_charts(con, data, filters, grain, rows):
    """The three charts the page draws campaigns behind, as it builds them."""
    th = Thresholds()
    alpha, k = th["baseline_alpha"], int(th["baseline_periods"])
    tests = em.baseline_tests(con, data, filters, grain, k, alpha, "period", rows=rows).frame
    rate = next(r for r in data.usable_rates() if r.key in {x.key for x in em.RATES})
    limits = em.baseline_limits(tests, rate.key, alpha)
    periods = em.rates_by_period(con, data, filters, grain, rows=rows).frame
    mix = em.topic_mix_effect(con, data, filters, grain, rows=rows).frame
    third = (charts.topic_mix_chart(mix) if data.has("topic") else
             line_over_time(mix, "period", "open_rate", "Open rate per period", "Open rate (%)"))
    return [charts.history_chart(limits, rate.label, rate.key), charts.frequency_chart(periods), third]


def same_as_fresh(built, calendar):
    """Each chart with the shared overlays gives the spec and datasets of the chart with fresh ones; returns
    the layers made (by identity) for the charts in turn."""
    clear()
    shared = [with_campaigns(chart, calendar) for chart in built]
    news = [spec(chart) for chart in shared]  # converted in turn, as the page does: later ones reuse the bytes
    # every kept overlay frame was converted once and its bytes kept
    assert all(kept[1] is not None for kept in common._KEPT_ARROW.values())
    assert len(common._KEPT_ARROW) == sum(len(entry[2]) for entry in common._TIME_LAYERS.values())
    for chart, new in zip(built, news):
        assert new == spec(fresh(chart, calendar))
    return shared


def overlay_of(chart):
    return chart.layer[0] if isinstance(chart, alt.LayerChart) else None


def test_sample_page_charts_same_spec_and_one_layer(sample_ws, sample_calendar):
    shared_seen = 0
    for kind in em.KINDS:
        data = em.email_data(sample_ws.con, sample_ws.get(kind).table)
        rows = em.base_rows(sample_ws.con, data)
        start, end = em.period_range(data.first_send, data.last_send)
        lists = em.choices(sample_ws.con, data, "list_name")
        for f in (em.Filters(start, end), em.Filters(start + (end - start) / 2, end),
                  em.Filters(start, end, (lists[0],))):
            for grain in ("week", "month", "quarter"):
                built = page_charts(sample_ws.con, data, f, grain, rows)
                email = sample_calendar[sample_calendar["channel"].str.lower() == "email"]  # the page's default
                for calendar in (sample_calendar, email):
                    out = same_as_fresh(built, calendar)
                    layers = [overlay_of(c) for c in out]
                    # charts of the same first and last date share the layer object
                    ends = [(c.data if c.data is not alt.Undefined else c.layer[0].data)["period"] for c in built]
                    ends = [(e.min(), e.max()) for e in ends]
                    for i in range(1, 3):
                        if ends[i] == ends[0] and layers[0] is not None:
                            assert layers[i] is layers[0]
                            shared_seen += 1
    assert shared_seen >= 20


def test_different_ranges_grains_and_axes_get_their_own_layer(sample_calendar):
    frame = pd.DataFrame({"period": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"]),
                          "rate": np.linspace(0.1, 0.2, 4)})
    base = alt.Chart(frame).mark_line().encode(x=alt.X("period:T", title="Period"), y=alt.Y("rate:Q"))
    shorter = alt.Chart(frame.iloc[1:]).mark_line().encode(x=alt.X("period:T", title="Period"), y=alt.Y("rate:Q"))
    titled = alt.Chart(frame).mark_line().encode(x=alt.X("period:T", title="Month"), y=alt.Y("rate:Q"))
    axis = alt.Chart(frame).mark_line().encode(x=alt.X("period:T", axis=alt.Axis(format="%b")), y=alt.Y("rate:Q"))
    clear()
    cases = [(base, {}), (shorter, {}), (titled, {}), (axis, {}), (base, {"grain": "month"}), (base, {})]
    made = [with_campaigns(c, sample_calendar, **kw) for c, kw in cases]
    for (chart, kw), new in zip(cases, made):
        assert spec(new) == spec(fresh(chart, sample_calendar, **kw))
    layers = [m.layer[0] for m in made]
    assert len({id(x) for x in layers[:5]}) == 5  # range, title, axis object, grain: each its own
    assert layers[5] is layers[0]  # the same again: the same layer
    # another calendar object of the same rows is not taken for this one (keyed by the object, held)
    copy = sample_calendar.copy()
    again = with_campaigns(base, copy)
    assert again.layer[0] is not layers[0] and spec(again) == spec(made[0])
    assert len(common._TIME_LAYERS) <= common._TIME_LAYERS_KEPT


def test_the_kept_layers_are_bounded(sample_calendar):
    frame = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=24, freq="MS"), "rate": np.arange(24.0)})
    clear()
    for i in range(20):
        chart = alt.Chart(frame.iloc[i:]).mark_line().encode(x=alt.X("period:T", title="Period"), y=alt.Y("rate:Q"))
        with_campaigns(chart, sample_calendar)
    assert len(common._TIME_LAYERS) == common._TIME_LAYERS_KEPT


def test_overlay_oracle_still_bites(sample_calendar):
    """tests/test_charts_overlay8.py's last test calls with_campaigns twice on one calendar and chart, so its
    second call now gets the kept layer: the same comparison with the kept layers cleared before each."""
    from tests.test_charts_overlay8 import old_time_cut, periods

    frame = periods("2024-01-01", 12, "month", "us")
    chart = alt.Chart(frame).mark_line().encode(x=alt.X("period:T", title="Period"), y=alt.Y("rate:Q"))
    clear()
    new = with_campaigns(chart, sample_calendar, grain="month").to_dict()
    fast, common._time_cut_arrays = common._time_cut_arrays, old_time_cut
    clear()
    try:
        old = with_campaigns(chart, sample_calendar, grain="month").to_dict()
    finally:
        common._time_cut_arrays = fast
    assert new == old and len(new["layer"]) == 2


def test_real_mailchimp_page_charts(ws, sample_calendar):
    from conftest import real_file

    path = real_file("mailchimp_campaigns_mydomino.csv")
    ws.load(path.name, path.read_bytes())
    data = em.email_data(ws.con, "email_campaigns")
    rows = em.base_rows(ws.con, data)
    shift = data.first_send.normalize() - sample_calendar["start_date"].min()  # the calendar moved over its sends
    calendar = sample_calendar.assign(start_date=sample_calendar["start_date"] + shift,
                                      end_date=sample_calendar["end_date"] + shift)
    for grain in ("week", "month", "quarter"):
        out = same_as_fresh(page_charts(ws.con, data, em.Filters(), grain, rows), calendar)
        assert overlay_of(out[1]) is not None


def test_overlay_frames_go_to_arrow_once(sample_ws, sample_calendar, monkeypatch):
    """Three charts of one overlay: its frames converted for the first only; the rest of each chart as before."""
    from streamlit import dataframe_util

    data = em.email_data(sample_ws.con, sample_ws.get("email_campaigns").table)
    rows = em.base_rows(sample_ws.con, data)
    built = page_charts(sample_ws.con, data, em.Filters(), "month", rows)
    calls = []
    real = dataframe_util.convert_anything_to_arrow_bytes
    monkeypatch.setattr(dataframe_util, "convert_anything_to_arrow_bytes", lambda d, *a, **k: calls.append(1) or real(d, *a, **k))
    clear()
    [spec(c) for c in [with_campaigns(chart, sample_calendar) for chart in built]]
    shared, frames = len(calls), len(common._KEPT_ARROW)
    calls.clear()
    [spec(fresh(chart, sample_calendar)) for chart in built]
    assert frames == 2 and shared == len(calls) - 2 * frames  # bands and rules, kept for the 2nd and 3rd chart


def old_for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.email.for_display before this change (6fa8ae9), verbatim."""
    out = frame.copy(deep=False)  # copy-on-write: the columns set below never reach `frame`
    for col, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            values = out[col].dropna()
            if len(values) and (values == values.dt.normalize()).all():
                out[col] = out[col].dt.date
    return out


def same_display(new: pd.DataFrame, old: pd.DataFrame) -> None:
    from streamlit.dataframe_util import convert_anything_to_arrow_bytes

    assert list(new.columns) == list(old.columns) and list(new.dtypes) == list(old.dtypes)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert convert_anything_to_arrow_bytes(new) == convert_anything_to_arrow_bytes(old)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_for_display_same_as_before(unit):
    midnights = ["2026-01-01", None, "1969-12-31", "1901-03-04"]  # before 1970: negative ticks
    cases = {
        "midnights": midnights, "one second": ["2026-01-01", "2026-01-02 00:00:01", None, None],
        "before 1970 at noon": ["1969-12-31 12:00", "1969-12-30", None, None],
        "a millisecond": ["2026-01-01 00:00:00.001", "2026-01-02", None, None] if unit != "s" else midnights,
        "blank": [None, None, None, None], "one": ["2030-05-05", None, None, None]}
    frame = pd.DataFrame({k: pd.Series(pd.to_datetime(v, format="ISO8601"), dtype=f"datetime64[{unit}]") for k, v in cases.items()})
    frame["n"] = [1, 2, 3, 4]
    frame["zoned"] = pd.to_datetime(["2026-01-01", "2026-01-02", None, "2026-01-04"]).tz_localize("Europe/Paris")
    frame["text"] = ["a", "b", None, "d"]
    for part in (frame, frame.iloc[:0], frame.iloc[[1]], frame.iloc[::-1]):
        out = em.for_display(part)
        same_display(out, old_for_display(part))
        assert part["midnights"].dtype.kind == "M"  # the frame passed in is left as it was
    converted = em.for_display(frame)
    dates = ["midnights", *(["a millisecond"] if unit == "s" else []), "one", "zoned"]
    assert [c for c in frame if converted[c].dtype == object and frame[c].dtype != object] == dates


def test_for_display_page_frames_same_as_before(sample_ws):
    for kind in em.KINDS:
        data = em.email_data(sample_ws.con, sample_ws.get(kind).table)
        rows = em.base_rows(sample_ws.con, data)
        for grain in ("week", "month"):
            f = em.Filters()
            frames = [em.campaign_table(sample_ws.con, data, f, rows=rows).frame,
                      em.rates_by_period(sample_ws.con, data, f, grain, rows=rows).frame,
                      em.program_changes(sample_ws.con, data, f, grain, 4, 2.0, 0.05, rows=rows).frame,
                      em.send_days(sample_ws.con, data, f, rows=rows).frame]
            for frame in frames + [em.campaign_display(frames[0])]:
                same_display(em.for_display(frame), old_for_display(frame))


def old_history_display(limits: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.email.history_display before this change (2d420b0), verbatim."""
    cols = {"period": "Period", "x": "Numerator", "n": "Denominator (n)", "rate": "Rate",
            "baseline": "Baseline", "base_n": "Baseline n", "low": "Band low", "high": "Band high",
            "z": "z", "sigma_z": "σz", "p_value": "p (one-sided)", "p_adjusted": "p (BH)", "status": "Verdict"}
    out = limits[[c for c in cols if c in limits]].rename(columns=cols)
    out["Period"] = pd.to_datetime(out["Period"]).dt.date
    return out


def old_campaign_display(campaigns: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.email.campaign_display before this change (2d420b0), verbatim."""
    names = {"send_date": "Sent", "campaign": "Campaign", "topic": "Topic", "list_name": "List",
             "sent": "Sent to", "delivered": "Delivered", "opens": "Unique opens", "clicks": "Unique clicks",
             "unsubscribes": "Unsubscribes", "complaints": "Spam complaints",
             **{r.key: r.label for r in em.RATES + em.HUMAN_RATES},
             "vendor_open_rate": "Vendor open rate", "vendor_click_rate": "Vendor click rate",
             "vendor_note": "Vendor vs counts", "scanner_clicks": "Scanner-like clicks", "_row": "File row"}
    present = [c for c in names if c in campaigns]
    filled = campaigns[present].notna().any().to_numpy()  # one frame-wide check, not a Series a column
    return campaigns[[c for c, some in zip(present, filled) if some]].rename(columns=names)


def test_history_and_campaign_display_same_as_before(sample_ws):
    th = Thresholds()
    compared = 0
    for kind in em.KINDS:
        data = em.email_data(sample_ws.con, sample_ws.get(kind).table)
        rows = em.base_rows(sample_ws.con, data)
        start, end = em.period_range(data.first_send, data.last_send)
        lists = em.choices(sample_ws.con, data, "list_name")
        for f in (em.Filters(), em.Filters(start + (end - start) / 2, end, (lists[0],))):
            campaigns = em.campaign_table(sample_ws.con, data, f, rows=rows).frame
            for frame in (campaigns, campaigns.iloc[:0], campaigns.assign(topic=None) if "topic" in campaigns else campaigns):
                same_display(em.campaign_display(frame), old_campaign_display(frame))
                compared += 1
            for grain in ("week", "quarter"):
                tests = em.baseline_tests(sample_ws.con, data, f, grain, int(th["baseline_periods"]),
                                          th["baseline_alpha"], "period", rows=rows).frame
                for rate in data.usable_rates():
                    if rate.key in {x.key for x in em.RATES}:
                        limits = em.baseline_limits(tests, rate.key, th["baseline_alpha"])
                        same_display(em.history_display(limits), old_history_display(limits))
                        compared += 1
    assert compared > 30

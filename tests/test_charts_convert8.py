"""Altair's `_todict` with plain texts, numbers, flags and None returned first, and a channel's plain
`field:type` shorthand parsed at once (lib.charts.common, session 8, issue #20), give the same specs as
Altair's own: on the email page's charts (sample data, with the campaign
overlay) and on charts whose specs hold what `_todict` does convert — numpy numbers and arrays, timestamps,
dates, tuples, NaN, nested schema objects."""

import datetime as dt
import itertools

import altair as alt
import numpy as np
import pandas as pd
import pytest

import lib.charts.common as common
from lib.metrics import email as em


def both(chart) -> tuple[dict, dict]:
    """The chart as Streamlit converts it (ui.cache.chart_spec), with the shortcut and with Altair's own."""
    from ui.cache import chart_spec

    fast, parse = alt.utils.schemapi._todict, common._channels.parse_shorthand
    assert fast.altair is not None and parse.altair is not None  # the shortcuts are installed
    new = chart_spec(chart)
    alt.utils.schemapi._todict, common._channels.parse_shorthand = fast.altair, parse.altair
    try:
        old = chart_spec(chart)
    finally:
        alt.utils.schemapi._todict, common._channels.parse_shorthand = fast, parse
    return new, old


@pytest.mark.parametrize("shorthand", ["period:T", "a b:Q", ":T", " :N", "x:G", "é:O", "p\n:T", "sum(x):Q",
                                       "count():Q", "a\\:b:N", "period", "x:quantitative", "year(d):O", "x:t",
                                       "x:Q ", "a:b:N"])
def test_shorthands_parse_the_same(shorthand):
    from altair.utils.core import parse_shorthand

    def parsed(parse):
        try:
            return parse(shorthand, pd.DataFrame({"x": [1.5]}))
        except ValueError as error:
            return str(error)
    assert parsed(common._channels.parse_shorthand) == parsed(parse_shorthand)


def test_values_todict_converts_are_converted_the_same():
    frame = pd.DataFrame({"day": pd.date_range("2026-01-01", periods=4), "n": [1, 2, 3, 4]})
    chart = alt.Chart(frame).mark_bar(opacity=np.float64(0.5), size=np.int64(3)).encode(
        x=alt.X("day:T", scale=alt.Scale(domain=[pd.Timestamp("2026-01-01"), dt.date(2026, 1, 9)])),
        y=alt.Y("n:Q", scale=alt.Scale(domain=np.array([0, 5]), nice=False), title=None),
        color=alt.Color("n:N", scale=alt.Scale(domain=(1, 2, 3), range=["#000", "#111", "#222"])),
        tooltip=[alt.Tooltip("n:Q", format=",")]).properties(title="Äpfel — 100 %", width=float("nan"))
    new, old = both(chart)
    assert new == old or (new.keys() == old.keys() and str(new) == str(old))  # NaN != NaN: compare as text
    assert new["encoding"]["y"]["scale"]["domain"] == [0, 5] and new["mark"]["opacity"] == 0.5


@pytest.fixture(scope="module")
def email_charts(sample_ws):
    from lib.charts import email as charts
    from lib.sample import SAMPLE_DIR, SAMPLE_FILES

    calendar, _ = common.campaign_frame(pd.read_csv(SAMPLE_DIR / SAMPLE_FILES["campaign_calendar"]).rename(
        columns=lambda c: c.lower().replace(" ", "_")))
    con = sample_ws.con
    out = []
    for kind, grain in itertools.product(em.KINDS, ("week", "quarter")):
        data = em.email_data(con, sample_ws.get(kind).table)
        rows = em.base_rows(con, data)
        f = em.Filters(*em.period_range(data.first_send, data.last_send))
        periods = em.rates_by_period(con, data, f, grain, rows=rows).frame
        tests = em.baseline_tests(con, data, f, grain, 6, 0.05, "period", rows=rows).frame
        mix = em.topic_mix_effect(con, data, f, grain, rows=rows).frame
        out += [common.with_campaigns(charts.history_chart(em.baseline_limits(tests, "open_rate", 0.05),
                                                           "Open rate", "open_rate"), calendar, grain=grain),
                common.with_campaigns(charts.frequency_chart(periods), calendar, grain=grain),
                common.with_campaigns(charts.topic_mix_chart(mix), calendar, grain=grain),
                charts.unsubscribe_scatter(periods, "r = 0.5", True),
                charts.timeline_chart(periods, em.program_changes(con, data, f, grain, 6, 1.5, 0.05, rows=rows).frame),
                charts.list_growth_chart(em.list_growth(con, data, f, grain, rows=rows).frame, em.declined_periods(tests))]
    return out


def test_email_charts_convert_the_same(email_charts):
    for chart in email_charts:
        new, old = both(chart)
        assert new == old
    assert sum("layer" in both(c)[0] for c in email_charts) >= 12

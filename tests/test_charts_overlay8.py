"""The campaign overlay's cut on arrays (lib.charts.common._time_cut_arrays, session 8, issue #20) against the
pandas steps it replaces, kept verbatim below as the oracle: the same bands, rules and channels — values,
dtypes, columns in order, row numbers and index type (they reach the Arrow bytes the browser gets), and the
same Arrow bytes — on the sample calendar (all of it and one channel's rows, as the pages pass it) against
the sample email periods, the real Mailchimp export's sends, and random calendars over every date unit,
x field, grain and edge (campaigns cut to one day at an edge, one-day campaigns, none in range, blank dates
on the axis, an empty chart); the chart's layer made from either is the same spec."""

import numpy as np
import pandas as pd
import pytest

from lib.charts import common
from lib.charts.common import _time_cut_arrays, campaign_frame, with_campaigns
from lib.periods import period_end


def old_time_cut(calendar, frames, x_field, grain):
    """The pandas steps of _time_overlay before this change (0237e61), verbatim up to the split."""
    values = pd.concat([pd.to_datetime(f[x_field], errors="coerce") for f in frames]) if frames else pd.Series()
    values = values.dropna()
    if values.empty:
        return None
    lo, hi = values.min(), values.max()
    if grain:
        hi = period_end(hi, grain) - pd.Timedelta(days=1)
    cal = calendar.assign(end=calendar["end_date"] + pd.Timedelta(days=1))  # a band covers its last day
    cal = cal[(cal["end"] > lo) & (cal["start_date"] <= hi)]
    if cal.empty:
        return None
    end_field = f"{x_field}_campaign_end"
    cal = cal.assign(**{x_field: cal["start_date"].clip(lower=lo), end_field: cal["end"].clip(upper=hi)})
    cal["days"] = (cal["end_date"] - cal["start_date"]).dt.days + 1
    channels = sorted(cal["channel"].unique())
    wide = (cal["days"] > 1) & (cal[end_field] > cal[x_field])  # cut to one day at the edge → a rule
    bands, rules = cal[wide], cal[~wide]
    return bands, rules, channels


def arrow(frame):
    from streamlit.dataframe_util import convert_anything_to_arrow_bytes

    return convert_anything_to_arrow_bytes(frame)


def same_cut(calendar, frames, x_field, grain, arrays=True):
    """Assert the two cuts are the same (and, with `arrays`, that the array steps made it rather than handing
    over to the pandas ones); True when there was something to draw."""
    handed = []
    pandas_steps = common._time_cut
    common._time_cut = lambda *args: handed.append(args) or pandas_steps(*args)
    try:
        new = _time_cut_arrays(calendar, frames, x_field, grain)
    finally:
        common._time_cut = pandas_steps
    assert bool(handed) != arrays
    old = old_time_cut(calendar, frames, x_field, grain)
    if old is None:
        assert new is None
        return False
    assert new[2] == old[2] and all(type(c) is str for c in new[2])  # the channels, as plain texts
    for a, b in zip(new[:2], old[:2]):
        assert len(a) == len(b)
        if len(b):  # an empty part is never drawn
            assert list(a.columns) == list(b.columns) and list(a.dtypes) == list(b.dtypes)
            assert type(a.index) is type(b.index)
            pd.testing.assert_frame_equal(a, b, check_exact=True)
            assert arrow(a) == arrow(b)
    return True


def random_calendar(rng, n, unit, start="2025-01-01", span_days=400):
    starts = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, span_days, n), unit="D")
    lengths = rng.choice([0, 0, 1, 3, 14, 45, 120], n)
    raw = pd.DataFrame({"campaign": [f"c{i}" for i in range(n)],
                        "channel": rng.choice(["email", "paid social", "events"], n),
                        "start_date": starts, "end_date": starts + pd.to_timedelta(lengths, unit="D")})
    calendar, _ = campaign_frame(raw)
    return calendar.astype({"start_date": f"datetime64[{unit}]", "end_date": f"datetime64[{unit}]"})


def periods(first, count, grain, unit, blank=False):
    from lib.periods import period_starts

    starts = period_starts(pd.Timestamp(first), pd.Timestamp(first) + pd.Timedelta(days=count * 31), grain)[:count]
    values = pd.Series(pd.to_datetime(starts), dtype=f"datetime64[{unit}]")
    if blank and len(values):
        values.iloc[0] = pd.NaT
    return pd.DataFrame({"period": values, "rate": np.linspace(0.1, 0.2, len(values))})


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_random_calendars_cut_the_same(unit):
    rng = np.random.default_rng(8)
    drawn = 0
    for trial in range(40):
        calendar = random_calendar(rng, int(rng.integers(1, 25)), unit)
        for grain in (None, "week", "month", "quarter"):
            first = pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(rng.integers(-60, 300)))
            frame = periods(first, int(rng.integers(1, 14)), grain or "month", unit, blank=trial % 5 == 0)
            drawn += same_cut(calendar, [frame], "period", grain)
            other = frame.rename(columns={"period": "day"})  # another x field, two frames of one chart
            drawn += same_cut(calendar, [other, other.iloc[::2]], "day", grain)
    assert drawn > 200


def test_edges_cut_the_same():
    calendar, _ = campaign_frame(pd.DataFrame({
        "campaign": ["before", "spans start", "one day", "last day", "spans end", "after", "edge one day"],
        "channel": ["a", "b", "a", "c", "b", "a", "c"],
        "start_date": ["2025-12-01", "2025-12-20", "2026-01-10", "2026-02-27", "2026-02-20", "2026-04-01", "2026-02-28"],
        "end_date": ["2025-12-31", "2026-01-05", None, "2026-03-15", "2026-03-31", "2026-04-09", "2026-03-10"]}))
    frame = pd.DataFrame({"period": pd.to_datetime(["2026-01-01", "2026-02-01"])})
    for grain in (None, "month"):
        assert same_cut(calendar, [frame], "period", grain)
    assert same_cut(calendar.iloc[[1]].reset_index(drop=True), [frame], "period", None)
    assert same_cut(calendar.iloc[:1].reset_index(drop=True), [frame], "period", None) is False  # none in range
    assert same_cut(calendar, [frame.iloc[:0]], "period", "month") is False  # an empty chart
    blank = frame.assign(period=pd.Series([pd.NaT, pd.NaT], dtype=frame["period"].dtype))
    assert same_cut(calendar, [blank], "period", "month") is False  # blank dates only
    assert same_cut(calendar, [], "period", None, arrays=False) is False


def test_other_types_take_the_pandas_steps():
    """A chart whose dates are of another unit, text dates, or an x field the cut names itself: the pandas
    steps (the same frames by construction)."""
    calendar = random_calendar(np.random.default_rng(3), 12, "us")
    frame = periods("2025-03-01", 6, "month", "ns")
    assert same_cut(calendar, [frame], "period", "month", arrays=False)
    assert same_cut(calendar, [frame.astype({"period": str})], "period", "month", arrays=False)
    assert same_cut(calendar, [periods("2025-03-01", 6, "month", "us"), frame], "period", None, arrays=False)
    end = frame.rename(columns={"period": "end"}).astype({"end": "datetime64[us]"})  # a name the cut uses itself
    assert same_cut(calendar, [end], "end", None, arrays=False)
    ours = frame.astype({"period": "datetime64[us]"})
    assert same_cut(calendar.set_axis(range(1, len(calendar) + 1)), [ours], "period", None)  # numbered from 1
    assert same_cut(calendar.set_axis(list(range(0, 2 * len(calendar), 2))[::-1]), [ours], "period", None,
                    arrays=False)  # rows numbered otherwise (with_campaigns numbers them 0, 1, … first)


@pytest.fixture(scope="module")
def sample_calendar():
    from lib.sample import SAMPLE_DIR, SAMPLE_FILES

    raw = pd.read_csv(SAMPLE_DIR / SAMPLE_FILES["campaign_calendar"])
    calendar, _ = campaign_frame(raw.rename(columns=lambda c: c.lower().replace(" ", "_")))
    assert len(calendar) == 42
    return calendar


def test_sample_calendar_against_the_email_periods(sample_ws, sample_calendar):
    from lib.metrics import email as em

    for kind in em.KINDS:
        data = em.email_data(sample_ws.con, sample_ws.get(kind).table)
        rows = em.base_rows(sample_ws.con, data)
        start, end = em.period_range(data.first_send, data.last_send)
        drawn = 0
        for f in (em.Filters(start, end), em.Filters(start + (end - start) / 2, end), em.Filters()):
            for grain in ("week", "month", "quarter"):
                frame = em.rates_by_period(sample_ws.con, data, f, grain, rows=rows).frame
                for channel in (None, *sorted(set(sample_calendar["channel"]))):
                    calendar = sample_calendar if channel is None else (
                        sample_calendar[sample_calendar["channel"] == channel].reset_index(drop=True))
                    drawn += same_cut(calendar, [frame], "period", grain)
                    drawn += same_cut(calendar, [frame], "period", None)
        assert drawn >= 40


def test_real_mailchimp_sends_against_a_calendar_over_them(ws):
    from conftest import real_file
    from lib.metrics import email as em

    path = real_file("mailchimp_campaigns_mydomino.csv")
    ws.load(path.name, path.read_bytes())
    data = em.email_data(ws.con, "email_campaigns")
    rows = em.base_rows(ws.con, data)
    calendar = random_calendar(np.random.default_rng(20), 30, "us", start=str(data.first_send.date()),
                               span_days=max(1, (data.last_send - data.first_send).days))
    drawn = 0
    for grain in ("week", "month", "quarter"):
        frame = em.rates_by_period(ws.con, data, em.Filters(), grain, rows=rows).frame
        drawn += same_cut(calendar, [frame], "period", grain)
    assert drawn == 3


def test_the_overlay_layer_is_the_same_spec(sample_calendar):
    """with_campaigns with the cut on arrays and with the pandas steps: the same Vega-Lite spec (data inline)."""
    import altair as alt

    frame = periods("2024-01-01", 12, "month", "us")
    chart = alt.Chart(frame).mark_line().encode(x=alt.X("period:T", title="Period"), y=alt.Y("rate:Q"))
    new = with_campaigns(chart, sample_calendar, grain="month").to_dict()
    fast, common._time_cut_arrays = common._time_cut_arrays, old_time_cut
    try:
        old = with_campaigns(chart, sample_calendar, grain="month").to_dict()
    finally:
        common._time_cut_arrays = fast
    assert new == old and len(new["layer"]) == 2

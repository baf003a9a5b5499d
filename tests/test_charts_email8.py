"""Email's charts get only the columns they draw (session 8, issue #20). Each builder's chart is the one it
made before (the builders of 0237e61 are kept verbatim below as the oracle) but for its datasets: the same
spec (dataset names aside), each dataset the same Arrow table with the columns no encoding, tooltip or
transform names left out, and every field the spec names still in the chart's data (so tooltips show). On
both sample email files (a campaign export and an event log) over selections and grains, the real Mailchimp
export, and nasty frames (blank rates, one period, no sends)."""

import itertools
import json
import re

import altair as alt
import pandas as pd
import pyarrow as pa
import pytest

from lib.charts import email as charts
from lib.charts.common import FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart
from lib.charts.email import STATUS_COLOURS, _fmt, _independent_y
from lib.metrics import email as em

# ---------------------------------------------------------------- the builders before this change, verbatim

def old_history_chart(limits: pd.DataFrame, label: str, key: str) -> alt.Chart:
    """A rate per period against its trailing baseline and noise band; worse periods in red."""
    fmt = _fmt(key)
    base = alt.Chart().encode(x=alt.X("period:T", title="Period"))  # data on the layer (see above)
    band = base.mark_area(opacity=0.18, color=MUTED).encode(
        y=alt.Y("low:Q", title=f"{label} (%)", axis=alt.Axis(format=fmt)), y2=alt.Y2("high:Q"))
    baseline = base.mark_line(strokeDash=[5, 4], color=MUTED).encode(y=alt.Y("baseline:Q"))
    line = base.mark_line(color=OK_COLOUR).encode(y=alt.Y("rate:Q"))
    points = base.mark_point(filled=True, size=70).encode(
        y=alt.Y("rate:Q"), color=alt.Color("status:N", scale=STATUS_COLOURS, title="Against own history"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("rate:Q", title=label, format=fmt),
                 alt.Tooltip("baseline:Q", title="Trailing baseline", format=fmt),
                 alt.Tooltip("n:Q", title="n (denominator)", format=","),
                 alt.Tooltip("base_n:Q", title="baseline n", format=","),
                 alt.Tooltip("p_value:Q", title="p", format=".2g"), alt.Tooltip("status:N")])
    return layer_chart(band, baseline, line, points, data=limits,
        title=f"{label} per period vs the sender's own trailing baseline (grey band = noise)", height=300)


def old_frequency_chart(periods: pd.DataFrame) -> alt.Chart:
    """Sends per period (bars) and emails per recipient per week (line, right axis)."""
    frame = periods.assign(status=periods["incomplete"].map({True: "incomplete period", False: "complete"}))
    base = alt.Chart().encode(x=alt.X("period:T", title="Period"))
    bars = base.mark_bar(opacity=0.7).encode(
        y=alt.Y("sends:Q", title="Campaigns sent"),
        color=alt.Color("status:N", scale=alt.Scale(domain=["complete", "incomplete period"],
                                                    range=[OK_COLOUR, MUTED]), title=None),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("sends:Q", title="Campaigns"),
                 alt.Tooltip("emails_per_recipient_week:Q", title="Emails / recipient / week", format=".2f")])
    y = alt.Y("emails_per_recipient_week:Q", title="Emails per recipient per week (orange)")
    # the line joins complete periods only; a part-period's rate (its few days scaled to a week) is a
    # hollow grey point, not a spike on the line
    line = base.transform_filter(alt.datum.status == "complete").mark_line(point=True, color="#ff7f0e").encode(y=y)
    partial = base.transform_filter(alt.datum.status != "complete").mark_point(
        filled=False, color=MUTED, size=60).encode(y=y)
    return layer_chart(bars, layer_chart(line, partial), data=frame, resolve=_independent_y(),
                     title="How often customers get email", height=340)  # two axes' titles eat into the plot


def old_unsubscribe_scatter(periods: pd.DataFrame, r_text: str, complete_only: bool = False) -> alt.Chart:
    """Unsubscribe rate against emails per recipient per week, one point per period, with a fit line;
    `complete_only`: the complete periods only (as the correlation), taken here so the page passes its
    periods table as the memo handed it out (a frame it filtered would be hashed again on every run)."""
    if complete_only:
        periods = periods[~periods["incomplete"]]
    base = alt.Chart().encode(
        x=alt.X("emails_per_recipient_week:Q", title="Emails per recipient per week"),
        y=alt.Y("unsubscribe_rate:Q", title="Unsubscribe rate (%)", axis=alt.Axis(format=".2%")))
    points = base.mark_circle(opacity=0.75, color=OK_COLOUR).encode(
        size=alt.Size("delivered:Q", title="Delivered", legend=None),
        tooltip=[alt.Tooltip("period_label:N", title="Period"),
                 alt.Tooltip("emails_per_recipient_week:Q", title="Emails / recipient / week", format=".2f"),
                 alt.Tooltip("unsubscribe_rate:Q", title="Unsubscribe rate", format=".3%"),
                 alt.Tooltip("delivered:Q", title="Delivered", format=",")])
    fit = base.transform_regression("emails_per_recipient_week", "unsubscribe_rate").mark_line(
        color=FLAG_COLOUR, strokeDash=[4, 3])
    return layer_chart(points, fit, data=periods.dropna(subset=["unsubscribe_rate"]),
        title=f"Unsubscribes vs send frequency ({r_text})", height=300)


def old_topic_mix_chart(mix: pd.DataFrame) -> alt.Chart:
    """Actual open rate vs the open rate the topic mix alone predicts, per period."""
    long = mix.melt(id_vars=["period"], value_vars=["open_rate", "expected_open_rate"],
                    var_name="series", value_name="value")
    long["series"] = long["series"].map({"open_rate": "Actual open rate",
                                         "expected_open_rate": "Expected from topic mix"})
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("period:T", title="Period"),
        y=alt.Y("value:Q", title="Open rate (%)", axis=alt.Axis(format=".0%", tickMinStep=0.01),
                scale=alt.Scale(zero=False)),
        # one legend for colour and dash (Vega-Lite merges them; hiding either would hide both)
        color=alt.Color("series:N", title=None, scale=alt.Scale(range=[OK_COLOUR, "#ff7f0e"])),
        strokeDash=alt.StrokeDash("series:N", title=None),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("series:N"),
                 alt.Tooltip("value:Q", title="Open rate", format=".1%")],
    ).properties(title="Is the open-rate trend explained by topic mix?", height=280)


def old_topic_share_chart(by_topic: pd.DataFrame) -> alt.Chart:
    """Share of delivered emails by topic per period (stacked to 100%), each bar as wide as its period
    (from its start to the next period's; the last one as wide as the usual gap)."""
    frame = by_topic.copy()
    starts = sorted(pd.to_datetime(frame["period"]).unique())
    gap = pd.Series(starts).diff().median() if len(starts) > 1 else pd.Timedelta(days=30)
    ends = dict(zip(starts, [*starts[1:], starts[-1] + gap])) if starts else {}
    frame["period"] = pd.to_datetime(frame["period"])
    frame["period_end"] = frame["period"].map(ends)
    return alt.Chart(frame).mark_bar(orient="vertical", stroke="white", strokeWidth=1).encode(
        x=alt.X("period:T", title="Period"), x2=alt.X2("period_end:T"),
        y=alt.Y("delivered:Q", stack="normalize", title="Share of delivered emails (%)",
                axis=alt.Axis(format=".0%")),
        color=alt.Color("topic:N", title="Topic"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("topic:N", title="Topic"),
                 alt.Tooltip("delivered:Q", title="Delivered", format=","),
                 alt.Tooltip("open_rate:Q", title="Open rate", format=".1%")],
    ).properties(title="Topic mix per period", height=320)


def old_group_rates_chart(groups: pd.DataFrame, by: str, key: str, label: str) -> alt.Chart:
    """A rate per topic/list with its 95% interval (cluster-robust by send, from `rates_by_group`)."""
    title = "Topic" if by == "topic" else "List / segment"
    base = alt.Chart().encode(y=alt.Y(f"{by}:N", title=title, sort=None))
    bars = base.mark_bar(color=OK_COLOUR).encode(
        x=alt.X(f"{key}:Q", title=f"{label} (%)", axis=alt.Axis(format=".0%")),
        tooltip=[alt.Tooltip(f"{by}:N", title=title), alt.Tooltip(f"{key}:Q", title=label, format=".1%"),
                 alt.Tooltip(f"{key}_low:Q", title="95% low", format=".1%"),
                 alt.Tooltip(f"{key}_high:Q", title="95% high", format=".1%"),
                 alt.Tooltip("delivered:Q", title="Delivered", format=",")])
    rule = base.mark_rule(color="black").encode(x=alt.X(f"{key}_low:Q"), x2=alt.X2(f"{key}_high:Q"))
    return layer_chart(bars, rule, data=groups,
        title=f"{label} by {title.lower()} (line = 95% interval, by send)", height=alt.Step(30))


def old_list_growth_chart(growth: pd.DataFrame, declined: list) -> alt.Chart:
    """Recipients per list per period (stacked), with red rules at periods that declined."""
    bars = alt.Chart(growth).mark_bar().encode(
        x=alt.X("period:T", title="Period"),
        y=alt.Y("recipients:Q", title="Recipients (largest send per list)"),
        color=alt.Color("list_name:N", title="List / segment"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("list_name:N", title="List"),
                 alt.Tooltip("recipients:Q", title="Recipients", format=","),
                 alt.Tooltip("is_new:N", title="New list")])
    layers = [bars]
    if declined:
        rules = pd.DataFrame({"period": pd.to_datetime(declined)})
        layers.append(alt.Chart(rules).mark_rule(color=FLAG_COLOUR, strokeWidth=2, strokeDash=[4, 3]).encode(
            x=alt.X("period:T"), tooltip=[alt.Tooltip("period:T", title="Declined period")]))
    return layer_chart(*layers,
        title="List / segment sizes; red dashes = periods significantly worse than own history", height=280)


def old_timeline_chart(periods: pd.DataFrame, changes: pd.DataFrame) -> alt.Chart:
    """Sends per period with the program's changes marked (new topic, new list, volume jump/drop)."""
    bars = alt.Chart(periods).mark_bar(color=MUTED, opacity=0.6).encode(
        x=alt.X("period:T", title="Period"), y=alt.Y("sends:Q", title="Campaigns sent"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("sends:Q", title="Campaigns")])
    if changes.empty:
        return bars.properties(title="Program timeline (no changes found)", height=260)
    marks = changes.copy()
    marks["y"] = marks.groupby("period").cumcount()
    points = alt.Chart(marks).mark_point(filled=True, size=120, shape="diamond").encode(
        x=alt.X("period:T"), y=alt.Y("y:Q", axis=None),
        color=alt.Color("change:N", title="Change",
                        scale=alt.Scale(domain=["volume jump", "volume drop", "new list", "new topic"],
                                        range=[FLAG_COLOUR, "#2ca02c", "#9467bd", "#ff7f0e"])),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("change:N"), alt.Tooltip("detail:N")])
    return layer_chart(bars, points, resolve=_independent_y(),
        title="Program timeline: what changed, and when", height=260)


def old_send_time_chart(rates: pd.DataFrame, by: str, label: str, key: str) -> alt.Chart:
    """A rate per weekday or hour of send (bars) with its 95% cluster-robust interval (rules)."""
    fmt = _fmt(key)
    title_by = "weekday" if by == "weekday" else "hour of send"
    x = (alt.X("weekday:N", title="Weekday of send", sort=list(rates["weekday"]))
         if by == "weekday" else alt.X("hour:O", title="Hour of send (as in the file, 0–23)"))
    base = alt.Chart().encode(x=x)
    bars = base.mark_bar(color=OK_COLOUR, opacity=0.75).encode(
        y=alt.Y("rate:Q", title=f"{label} (%)", axis=alt.Axis(format=fmt)),
        tooltip=[alt.Tooltip(f"{by}:N", title=title_by.capitalize()), alt.Tooltip("rate:Q", title=label, format=fmt),
                 alt.Tooltip("low:Q", title="95% low", format=fmt), alt.Tooltip("high:Q", title="95% high", format=fmt),
                 alt.Tooltip("sends:Q", title="Sends"), alt.Tooltip("n:Q", title="n (denominator)", format=",")])
    whiskers = base.mark_rule(color="#333333").encode(y=alt.Y("low:Q"), y2=alt.Y2("high:Q"))
    return layer_chart(bars, whiskers, data=rates,
        title=f"{label} by {title_by} (%, with 95% intervals by send)", height=300)


def old_gaps_chart(days: pd.DataFrame, gaps: pd.DataFrame) -> alt.Chart:
    """Sends per send day over time (ticks) with each break in sending shaded red."""
    ticks = alt.Chart(days).mark_bar(color=OK_COLOUR, width=2).encode(
        x=alt.X("day:T", title="Send day"), y=alt.Y("sends:Q", title="Sends that day"),
        tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip("sends:Q", title="Sends")])
    layers = [ticks]
    if len(gaps):
        layers.insert(0, alt.Chart(gaps).mark_rect(color=FLAG_COLOUR, opacity=0.18).encode(
            x=alt.X("last_send:T"), x2=alt.X2("resumed:T"),
            tooltip=[alt.Tooltip("last_send:T", title="Last send before"), alt.Tooltip("resumed:T", title="Resumed"),
                     alt.Tooltip("gap_days:Q", title="Days"), alt.Tooltip("sends_after:Q", title="Sends in the week after")]))
    return layer_chart(*layers, title="Sends per day — red: breaks longer than the usual interval allows",
                                         height=260)


# ---------------------------------------------------------------- comparing two charts as Streamlit sends them

INDEX = "__index_level_0__"  # a frame's row numbers, when they are not 0, 1, … (Arrow keeps them as a column)


def sent(chart) -> tuple[str, list[pa.Table]]:
    """The chart as Streamlit sends it: its spec as text with each dataset's name replaced by its place
    (d0, d1, … by first reference), and the datasets as Arrow tables in that order."""
    from ui.cache import chart_spec

    spec = chart_spec(chart)
    datasets = spec.pop("datasets")
    text = json.dumps(spec, sort_keys=True)
    names = list(dict.fromkeys(n for n in re.findall(r'"name": "([^"]+)"', text) if n in datasets))
    for i, name in enumerate(names):
        text = text.replace(json.dumps(name), json.dumps(f"d{i}"))
    return text, [pa.ipc.open_stream(datasets[name]).read_all() for name in names]


def named(text: str) -> tuple[set, dict]:
    """(every text in the spec, the fields each dataset's marks read: their encodings' fields, a regression's,
    `datum.x` in a filter — by the dataset's place d0, d1, …, a part reading the data of the layer around it)."""
    spec = json.loads(text)
    texts, fields = set(), {}

    def walk(node, data, key=None):
        if isinstance(node, dict):
            own = node.get("data")
            data = own["name"] if isinstance(own, dict) and "name" in own else data
            for k, v in node.items():
                walk(v, data, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, data, key)
        elif isinstance(node, str):
            texts.add(node)
            read = fields.setdefault(data, set())
            if key in ("field", "regression", "on"):
                read.add(node)
            read.update(re.findall(r"datum\.(\w+)", node))
    walk(spec, None)
    return texts, fields


def same_but_columns(new, old) -> list[str]:
    """Assert `new` is `old` with columns left out of its datasets, none of which its marks read, and every
    field they read in their data (tooltips show); the columns left out."""
    text_new, tables_new = sent(new)
    text_old, tables_old = sent(old)
    assert text_new == text_old
    assert len(tables_new) == len(tables_old)
    texts, fields = named(text_new)
    assert set(fields) - {None} <= {f"d{i}" for i in range(len(tables_new))}
    assert not fields.get(None)  # no mark without data
    dropped = []
    for i, (a, b) in enumerate(zip(tables_new, tables_old)):
        assert a.num_rows == b.num_rows
        assert set(a.column_names) <= set(b.column_names)
        assert a.equals(b.select(a.column_names))  # the same values and types
        assert [c for c in b.column_names if c in set(a.column_names)] == a.column_names  # in the same order
        left_out = [c for c in b.column_names if c not in a.column_names]
        assert fields.get(f"d{i}", set()) <= set(a.column_names)  # every field drawn or in a tooltip is sent
        assert all(c in texts for c in a.column_names if c != INDEX)  # nothing sent that the chart does not name
        dropped += left_out
    return dropped


# ---------------------------------------------------------------- the page's frames

def charts_of(con, data, f, grain):
    """(name, new chart, old chart) for each chart the email page draws for this selection and grain, built
    from the figures as the page computes them (ui.email_sections.figures)."""
    rows = em.base_rows(con, data)
    periods = em.rates_by_period(con, data, f, grain, rows=rows).frame
    tests = em.baseline_tests(con, data, f, grain, 6, 0.05, "period", rows=rows).frame
    changes = em.program_changes(con, data, f, grain, 6, 1.5, 0.05, rows=rows).frame
    mix = em.topic_mix_effect(con, data, f, grain, rows=rows).frame
    growth = em.list_growth(con, data, f, grain, rows=rows).frame
    declined = em.declined_periods(tests)
    days = em.send_days(con, data, f, rows=rows)
    gaps = em.gaps_from_days(days, 3.0, 14, 1.5).frame
    sends = em.sends(con, data, f, grain, rows=rows)
    send_rows = em.send_time_rows(con, data, f, sends).frame
    out = []
    for rate in data.usable_rates():
        if rate.key in {r.key for r in em.RATES}:
            limits = em.baseline_limits(tests, rate.key, 0.05)
            out.append(("history " + rate.key, (limits, rate.label, rate.key), charts.history_chart, old_history_chart))
    out += [("frequency", (periods,), charts.frequency_chart, old_frequency_chart),
            ("scatter", (periods, "r = 0.5", True), charts.unsubscribe_scatter, old_unsubscribe_scatter),
            ("scatter all", (periods, "r = 0.5", False), charts.unsubscribe_scatter, old_unsubscribe_scatter),
            ("topic mix", (mix,), charts.topic_mix_chart, old_topic_mix_chart),
            ("growth", (growth, declined), charts.list_growth_chart, old_list_growth_chart),
            ("growth, no decline", (growth, []), charts.list_growth_chart, old_list_growth_chart),
            ("timeline", (periods, changes), charts.timeline_chart, old_timeline_chart),
            ("gaps", (days.frame, gaps), charts.gaps_chart, old_gaps_chart)]
    for by, key in itertools.product(("weekday", "hour"), em.SEND_TIME_RATES):
        if key in {r.key for r in data.usable_rates()} and not send_rows.empty:
            rates = em.send_time_rates(send_rows, by, key)
            out.append((f"send time {by} {key}", (rates, by, em.RATE_BY_KEY[key].label, key),
                        charts.send_time_chart, old_send_time_chart))
    if data.has("topic"):
        by_topic = em.rates_by_period(con, data, f, grain, by="topic", rows=rows).frame
        groups = em.rates_by_group(con, data, f, "topic", min_n=100, rows=rows).frame
        out += [("topic share", (by_topic,), charts.topic_share_chart, old_topic_share_chart),
                ("groups", (groups, "topic", "open_rate", "Open rate"), charts.group_rates_chart,
                 old_group_rates_chart)]
        if "unsubscribe_rate_low" in groups:
            out.append(("groups unsubscribes", (groups, "topic", "unsubscribe_rate", "Unsubscribe rate"),
                        charts.group_rates_chart, old_group_rates_chart))
    return out


def check(con, data, selections, grains) -> dict:
    dropped, compared = {}, 0
    for f, grain in itertools.product(selections, grains):
        for name, args, new, old in charts_of(con, data, f, grain):
            dropped.setdefault(name, set()).update(same_but_columns(new(*args), old(*args)))
            compared += 1
    return {"compared": compared, "dropped": dropped}


@pytest.mark.parametrize("kind", em.KINDS)
def test_sample_charts_send_only_their_columns(sample_ws, kind):
    con = sample_ws.con
    data = em.email_data(con, sample_ws.get(kind).table)
    start, end = em.period_range(data.first_send, data.last_send)
    lists, topics = em.choices(con, data, "list_name"), em.choices(con, data, "topic")
    selections = [em.Filters(start, end), em.Filters(start + (end - start) / 2, end, (lists[0],), (topics[0],)),
                  em.Filters(start, end, tuple(lists[-2:]))]
    if kind == "email_campaigns":  # a list and a topic never sent together: no sends
        selections.append(em.Filters(start, end, ("Trial users",), ("promo",)))
    result = check(con, data, selections, ("week", "month", "quarter"))
    assert result["compared"] >= 150
    # the period table's ~44 columns are no longer sent with the charts that draw 3 or 4 of them
    assert {"opens", "clicks", "ctor", "weeks", "lists"} <= result["dropped"]["frequency"]
    if data.has("topic"):
        assert {"opens", "clicks", "sends"} <= result["dropped"]["topic share"]


def test_real_mailchimp_charts_send_only_their_columns(ws):
    from conftest import real_file

    path = real_file("mailchimp_campaigns_mydomino.csv")
    ws.load(path.name, path.read_bytes())
    data = em.email_data(ws.con, "email_campaigns")
    start, end = em.period_range(data.first_send, data.last_send)
    result = check(ws.con, data, [em.Filters(start, end), em.Filters()], ("week", "month", "quarter"))
    assert result["compared"] >= 40


def test_nasty_frames_send_only_their_columns(sample_ws):
    """Blank rates (a zero denominator), one period, no rows: the same charts but for columns."""
    con = sample_ws.con
    data = em.email_data(con, sample_ws.get("email_campaigns").table)
    start, end = em.period_range(data.first_send, data.last_send)
    compared = 0
    for name, args, new, old in charts_of(con, data, em.Filters(start, end), "month"):
        frame = args[0]
        blank = frame.copy()
        for c in [c for c in frame.columns if "rate" in c][:6]:
            blank.loc[blank.index[::2], c] = float("nan")
        for variant in (blank, frame.iloc[:1], frame.iloc[:0]):
            if name.startswith("send time") and variant.empty:
                continue  # the page shows no send-time chart without sends
            same_but_columns(new(variant, *args[1:]), old(variant, *args[1:]))
            compared += 1
    assert compared >= 40


def test_bench_compare_counts_charts_that_only_lost_columns(tmp_path, capsys):
    """bench/charts.py compare --columns: a chart whose datasets only lost columns (same rows, same spec but
    for the datasets' names) is counted apart and its columns listed; anything else still differs."""
    from bench import charts as bench

    def chart(rows, name, height=300):
        return {"spec": {"data": {"name": name}, "height": height, "mark": "bar"}, "datasets": {name: rows},
                "inline data": None, "use_container_width": False, "theme": "streamlit"}

    full = [{"period": "2026-01-01", "sends": 4, "opens": 9}, {"period": "2026-02-01", "sends": 5, "opens": 7}]
    cut = [{k: v for k, v in row.items() if k != "opens"} for row in full]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "email.json").write_text(json.dumps({"s": [chart(full, "rows-" + "a" * 16)] * 3}))
    (tmp_path / "b" / "email.json").write_text(json.dumps({"s": [
        chart(cut, "rows-" + "b" * 16), chart(full, "rows-" + "a" * 16),
        chart([{**row, "sends": 0} for row in cut], "rows-" + "c" * 16)]}))
    assert bench.compare(tmp_path / "a", tmp_path / "b") == 1
    capsys.readouterr()
    assert bench.compare(tmp_path / "a", tmp_path / "b", columns=True) == 1  # the third chart's rows changed
    out = capsys.readouterr().out
    assert "1 columns left out: opens" in out and "1 of 3 charts identical, 1 the same but for columns" in out
    (tmp_path / "b" / "email.json").write_text(json.dumps({"s": [chart(cut, "rows-" + "b" * 16)] * 3}))
    assert bench.compare(tmp_path / "a", tmp_path / "b", columns=True) == 0
    (tmp_path / "b" / "email.json").write_text(json.dumps({"s": [chart(cut, "rows-" + "b" * 16, 280)] * 3}))
    assert bench.compare(tmp_path / "a", tmp_path / "b", columns=True) == 1  # the spec changed too


def test_builders_leave_the_callers_frames_as_they_were():
    """A frame with exactly the columns a chart reads is used as it is, so no builder may change it in place."""
    periods = pd.DataFrame({"period": pd.date_range("2026-01-05", periods=3, freq="7D"), "sends": [4, 5, 2]})
    changes = pd.DataFrame({"period": periods["period"].iloc[[0, 0, 2]].to_numpy(), "change": ["new list"] * 3,
                            "detail": ["a", "b", "c"]})
    by_topic = pd.DataFrame({"period": ["2026-01-01", "2026-02-01"], "topic": ["a", "b"], "delivered": [10, 20],
                             "open_rate": [0.1, 0.2]})
    before = [f.copy() for f in (periods, changes, by_topic)]
    charts.timeline_chart(periods, changes).to_dict()
    charts.topic_share_chart(by_topic).to_dict()
    for frame, copy in zip((periods, changes, by_topic), before):
        pd.testing.assert_frame_equal(frame, copy)


def test_topic_charts_on_arrays_match_their_pandas_steps(sample_ws):
    """topic_share_chart's period ends and topic_mix_chart's long frame are made on arrays when the periods
    are dates without blanks and the rates floats: the same charts as the builders kept above on periods in
    every date unit, with blanks, one period, none."""
    con = sample_ws.con
    data = em.email_data(con, sample_ws.get("email_campaigns").table)
    rows = em.base_rows(con, data)
    f = em.Filters(*em.period_range(data.first_send, data.last_send))
    compared = 0
    for grain in ("week", "month", "quarter"):
        by_topic = em.rates_by_period(con, data, f, grain, by="topic", rows=rows).frame
        mix = em.topic_mix_effect(con, data, f, grain, rows=rows).frame
        for unit in ("s", "ms", "us", "ns"):
            for frame, new, old in ((by_topic, charts.topic_share_chart, old_topic_share_chart),
                                    (mix, charts.topic_mix_chart, old_topic_mix_chart)):
                frame = frame.astype({"period": f"datetime64[{unit}]"})
                blank = frame.assign(period=frame["period"].where(frame.index % 3 > 0))
                for variant in (frame, blank, frame.iloc[:1], frame.iloc[:0],
                                frame.astype({frame.columns[-1]: "object"}) if unit == "us" else frame):
                    drawn = ("period", "topic", "delivered", "open_rate") if new is charts.topic_share_chart else ()
                    assert same_but_columns(new(variant), old(variant)) == (
                        [c for c in variant.columns if c not in drawn] if drawn else [])
                    compared += 1
    assert compared == 120

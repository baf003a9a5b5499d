"""Charts for the email page. Builders take metric frames and return titled, labelled alt.Charts."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lib.charts.common import FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart


def _independent_y() -> alt.Resolve:
    """`.resolve_scale(y="independent")` as a constructor argument (a new one each time: charts own theirs)."""
    return alt.Resolve(scale=alt.ScaleResolveMap(y="independent"))


STATUS_COLOURS = alt.Scale(domain=["worse", "within noise", "better", "no history"],
                           range=[FLAG_COLOUR, OK_COLOUR, "#2ca02c", MUTED])


# Layers that share one frame get it on the layer, not on each part: the spec is the same (Altair
# lifts shared data to the layer), but lifting it first hashes the frame through its text repr for
# every part — 10–40 ms a chart on the sample data.
# Title, height and resolve go to the chart's or layer's constructor, not .properties()/.resolve_scale() after
# it (.properties checks each value against the schema, ~0.5 ms),
# and layers are `layer_chart`s (lib.charts.common): Altair's own re-merges every part on each copy.
# Channels are objects (alt.Y("rate:Q")), never bare text ("rate:Q"): the spec is the same, but Altair
# resolves a text against the whole Vega-Lite schema on every build (a hash of ~600 classes, ~10 ms).


# Each chart gets only the columns it draws, names in a tooltip or transforms: Streamlit turns every column
# of a chart's frame into Arrow and sends it, and the period and topic tables have ~45 columns of which a
# chart reads 3–9 (~2 ms a frame a click). Their order and the frame's index are kept.

def _only(frame: pd.DataFrame, *fields: str) -> pd.DataFrame:
    """`frame` with only the columns named in `fields` (those it has), in its own order, its index kept;
    `frame` itself when it has no others (so never change what this returns in place)."""
    keep = set(fields)
    columns = [c for c in frame.columns if c in keep]
    if len(columns) == len(frame.columns):
        return frame
    # reindex: the same frame as frame[columns], without indexing the columns first (~0.2 ms, not ~1 ms, on a
    # frame handed out anew)
    return frame.reindex(columns=columns)


def _fmt(key: str) -> str:
    return ".2%" if key in ("unsubscribe_rate", "spam_rate") else ".1%"


def history_chart(limits: pd.DataFrame, label: str, key: str) -> alt.Chart:
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
    data = _only(limits, "period", "low", "high", "baseline", "rate", "status", "n", "base_n", "p_value")
    return layer_chart(band, baseline, line, points, data=data,
        title=f"{label} per period vs the sender's own trailing baseline (grey band = noise)", height=300)


def frequency_chart(periods: pd.DataFrame) -> alt.Chart:
    """Sends per period (bars) and emails per recipient per week (line, right axis)."""
    frame = _only(periods, "period", "sends", "emails_per_recipient_week").assign(
        status=periods["incomplete"].map({True: "incomplete period", False: "complete"}))
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


def unsubscribe_scatter(periods: pd.DataFrame, r_text: str, complete_only: bool = False) -> alt.Chart:
    """Unsubscribe rate against emails per recipient per week, one point per period, with a fit line;
    `complete_only`: the complete periods only (as the correlation), taken here so the page passes its
    periods table as the memo handed it out (a frame it filtered would be hashed again on every run)."""
    data = _only(periods, "emails_per_recipient_week", "unsubscribe_rate", "delivered", "period_label")
    if complete_only:  # the same rows as filtering the whole table first, fewer columns to filter
        data = data[~periods["incomplete"].to_numpy()]
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
    return layer_chart(points, fit, data=data.dropna(subset=["unsubscribe_rate"]),
        title=f"Unsubscribes vs send frequency ({r_text})", height=300)


def topic_mix_chart(mix: pd.DataFrame) -> alt.Chart:
    """Actual open rate vs the open rate the topic mix alone predicts, per period."""
    series = {"open_rate": "Actual open rate", "expected_open_rate": "Expected from topic mix"}
    if all(mix[c].dtype == np.float64 for c in series) and isinstance(mix["period"].dtype, np.dtype):
        # melt's frame from the arrays (~0.2 ms, melt and map ~1.5): each series' rows in turn, numbered 0, 1, …
        long = pd.DataFrame({"period": np.tile(mix["period"].to_numpy(), 2),
                             "series": pd.array(np.repeat(list(series.values()), len(mix)), dtype="str"),
                             "value": np.concatenate([mix[c].to_numpy() for c in series])})
    else:
        long = mix.melt(id_vars=["period"], value_vars=list(series), var_name="series", value_name="value")
        long["series"] = long["series"].map(series)
    title = "Is the open-rate trend explained by topic mix?"
    return alt.Chart(long, title=title, height=280).mark_line(point=True).encode(
        x=alt.X("period:T", title="Period"),
        y=alt.Y("value:Q", title="Open rate (%)", axis=alt.Axis(format=".0%", tickMinStep=0.01),
                scale=alt.Scale(zero=False)),
        # one legend for colour and dash (Vega-Lite merges them; hiding either would hide both)
        color=alt.Color("series:N", title=None, scale=alt.Scale(range=[OK_COLOUR, "#ff7f0e"])),
        strokeDash=alt.StrokeDash("series:N", title=None),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("series:N"),
                 alt.Tooltip("value:Q", title="Open rate", format=".1%")],
    )


def topic_share_chart(by_topic: pd.DataFrame) -> alt.Chart:
    """Share of delivered emails by topic per period (stacked to 100%), each bar as wide as its period
    (from its start to the next period's; the last one as wide as the usual gap)."""
    frame = _only(by_topic, "period", "topic", "delivered", "open_rate")
    period = frame["period"]
    if isinstance(period.dtype, np.dtype) and period.dtype.kind == "M" and len(period) and not period.isna().any():
        # the same ends looked up on arrays (~0.3 ms; the dict map below ~1.5): each period's next start
        values = period.to_numpy()
        starts = np.unique(values)
        gap = pd.Series(starts).diff().median() if len(starts) > 1 else pd.Timedelta(days=30)
        last = pd.Timestamp(starts[-1]) + gap
        if last.unit == np.datetime_data(period.dtype)[0]:  # as the map's ends (else their type may differ)
            ends = np.append(starts[1:], last.to_datetime64())
            return _topic_share(frame.assign(period_end=ends[np.searchsorted(starts, values)]))
    starts = sorted(pd.to_datetime(frame["period"]).unique())
    gap = pd.Series(starts).diff().median() if len(starts) > 1 else pd.Timedelta(days=30)
    ends = dict(zip(starts, [*starts[1:], starts[-1] + gap])) if starts else {}
    frame = frame.assign(period=pd.to_datetime(frame["period"]))  # a new frame: never the caller's
    frame["period_end"] = frame["period"].map(ends)
    return _topic_share(frame)


def _topic_share(frame: pd.DataFrame) -> alt.Chart:
    return alt.Chart(frame, title="Topic mix per period", height=320).mark_bar(
        orient="vertical", stroke="white", strokeWidth=1).encode(
        x=alt.X("period:T", title="Period"), x2=alt.X2("period_end:T"),
        y=alt.Y("delivered:Q", stack="normalize", title="Share of delivered emails (%)",
                axis=alt.Axis(format=".0%")),
        color=alt.Color("topic:N", title="Topic"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("topic:N", title="Topic"),
                 alt.Tooltip("delivered:Q", title="Delivered", format=","),
                 alt.Tooltip("open_rate:Q", title="Open rate", format=".1%")],
    )


def group_rates_chart(groups: pd.DataFrame, by: str, key: str, label: str) -> alt.Chart:
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
    return layer_chart(bars, rule, data=_only(groups, by, key, f"{key}_low", f"{key}_high", "delivered"),
        title=f"{label} by {title.lower()} (line = 95% interval, by send)", height=alt.Step(30))


def list_growth_chart(growth: pd.DataFrame, declined: list) -> alt.Chart:
    """Recipients per list per period (stacked), with red rules at periods that declined."""
    data = _only(growth, "period", "recipients", "list_name", "is_new")
    # without declines the bars are the only layer and their frame goes on the layer, as Altair's own layer
    # would move it (after hashing the frame through its text repr, ~3 ms)
    bars = alt.Chart(data if declined else alt.Undefined).mark_bar().encode(
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
    return layer_chart(*layers, **({} if declined else {"data": data}),
        title="List / segment sizes; red dashes = periods significantly worse than own history", height=280)


def timeline_chart(periods: pd.DataFrame, changes: pd.DataFrame) -> alt.Chart:
    """Sends per period with the program's changes marked (new topic, new list, volume jump/drop)."""
    alone = {"title": "Program timeline (no changes found)", "height": 260} if changes.empty else {}
    bars = alt.Chart(_only(periods, "period", "sends"), **alone).mark_bar(color=MUTED, opacity=0.6).encode(
        x=alt.X("period:T", title="Period"), y=alt.Y("sends:Q", title="Campaigns sent"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("sends:Q", title="Campaigns")])
    if changes.empty:
        return bars
    marks = _only(changes, "period", "change", "detail")
    marks = marks.assign(y=marks.groupby("period").cumcount())  # a new frame: never the caller's
    points = alt.Chart(marks).mark_point(filled=True, size=120, shape="diamond").encode(
        x=alt.X("period:T"), y=alt.Y("y:Q", axis=None),
        color=alt.Color("change:N", title="Change",
                        scale=alt.Scale(domain=["volume jump", "volume drop", "new list", "new topic"],
                                        range=[FLAG_COLOUR, "#2ca02c", "#9467bd", "#ff7f0e"])),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("change:N"), alt.Tooltip("detail:N")])
    return layer_chart(bars, points, resolve=_independent_y(),
        title="Program timeline: what changed, and when", height=260)


def send_time_chart(rates: pd.DataFrame, by: str, label: str, key: str) -> alt.Chart:
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
    return layer_chart(bars, whiskers, data=_only(rates, by, "rate", "low", "high", "sends", "n"),
        title=f"{label} by {title_by} (%, with 95% intervals by send)", height=300)


def gaps_chart(days: pd.DataFrame, gaps: pd.DataFrame) -> alt.Chart:
    """Sends per send day over time (ticks) with each break in sending shaded red."""
    ticks = alt.Chart(_only(days, "day", "sends")).mark_bar(color=OK_COLOUR, width=2).encode(
        x=alt.X("day:T", title="Send day"), y=alt.Y("sends:Q", title="Sends that day"),
        tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip("sends:Q", title="Sends")])
    layers = [ticks]
    if len(gaps):
        breaks = _only(gaps, "last_send", "resumed", "gap_days", "sends_after")
        layers.insert(0, alt.Chart(breaks).mark_rect(color=FLAG_COLOUR, opacity=0.18).encode(
            x=alt.X("last_send:T"), x2=alt.X2("resumed:T"),
            tooltip=[alt.Tooltip("last_send:T", title="Last send before"), alt.Tooltip("resumed:T", title="Resumed"),
                     alt.Tooltip("gap_days:Q", title="Days"), alt.Tooltip("sends_after:Q", title="Sends in the week after")]))
    return layer_chart(*layers, title="Sends per day — red: breaks longer than the usual interval allows",
                                         height=260)

"""Charts of the Voice-of-customer page: rates with their interval, baseline and flagged periods;
term bars; campaign windows behind negative volume; campaign-sourced deal quality."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.charts.common import FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart, with_campaigns

COMPLAINT_COLOUR = "#ff7f0e"


def _status(frame: pd.DataFrame, flagged: str | None) -> pd.Series:
    status = pd.Series("normal", index=frame.index, dtype=object)
    if flagged and flagged in frame:
        status[frame[flagged].fillna(False).astype(bool)] = "flagged"
    if "incomplete" in frame:
        status[frame["incomplete"].fillna(False).astype(bool)] = "incomplete period"
    return status


def rate_with_baseline(frame: pd.DataFrame, value: str, low: str | None, high: str | None, baseline: str,
                       title: str, y_title: str, flagged: str | None = "flagged", y_format: str = ".0%",
                       n: str | None = None, x_title: str = "Period", legend: bool = True) -> alt.LayerChart:
    """A rate per period: line with points (red = flagged against the baseline, hollow grey =
    incomplete period), a shaded 95% interval when `low`/`high` are given, and the trailing baseline
    as a dashed line."""
    data = frame.assign(status=_status(frame, flagged))
    base = alt.Chart()  # the frame goes on the layer: lifting equal frames hashes them via repr
    # The theme's time labels: a fixed "%b %Y" wrote every weekly tick of a short span as "Jan 2015".
    x = alt.X("period:T", title=x_title)
    tooltip = [alt.Tooltip("label:N", title="Period"), alt.Tooltip(f"{value}:Q", title=y_title, format=y_format),
               alt.Tooltip(f"{baseline}:Q", title="Trailing baseline", format=y_format),
               alt.Tooltip("status:N", title="Status")]
    if n:
        tooltip.append(alt.Tooltip(f"{n}:Q", title="n", format=",d"))
    layers = []
    if low and high:
        layers.append(base.mark_area(opacity=0.15, color=OK_COLOUR).encode(x=x, y=alt.Y(f"{low}:Q"), y2=alt.Y2(f"{high}:Q")))
    layers.append(base.mark_line(strokeDash=[5, 4], color=MUTED).encode(x=x, y=alt.Y(f"{baseline}:Q")))
    layers.append(base.mark_line(color=OK_COLOUR).encode(
        x=x, y=alt.Y(f"{value}:Q", title=y_title, axis=alt.Axis(format=y_format))))
    layers.append(base.mark_point(size=70, filled=True).encode(
        x=x, y=alt.Y(f"{value}:Q"), tooltip=tooltip,
        color=alt.Color("status:N", title="Period", legend=alt.Legend() if legend else None,
                        scale=alt.Scale(domain=["normal", "flagged", "incomplete period"],
                                        range=[OK_COLOUR, FLAG_COLOUR, MUTED]))))
    return layer_chart(*layers, data=data, title=alt.Title(title, subtitle="Dashed: trailing baseline. Shaded: 95% interval.")
                     ).properties(height=260)


def negative_volume_with_campaigns(frame: pd.DataFrame, calendar: pd.DataFrame | None, grain_word: str
                                   ) -> alt.LayerChart:
    """Negative texts and complaints about marketing per period, over the campaigns of `calendar`
    (shaded windows, dashed one-day campaigns; lib.charts.common.with_campaigns)."""
    long = frame.melt(id_vars=["period", "label"], value_vars=["negative", "complaints"],
                      var_name="series", value_name="count")
    long["series"] = long["series"].map({"negative": "Negative texts", "complaints": "Complaints about marketing"})
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("period:T", title=grain_word.capitalize()),
        y=alt.Y("count:Q", title=f"Texts per {grain_word}"),
        color=alt.Color("series:N", title="Series", legend=alt.Legend(orient="bottom", labelLimit=260), scale=alt.Scale(
            domain=["Negative texts", "Complaints about marketing"], range=[FLAG_COLOUR, COMPLAINT_COLOUR])),
        tooltip=[alt.Tooltip("label:N", title="Period"), alt.Tooltip("series:N", title="Series"),
                 alt.Tooltip("count:Q", title="Texts", format=",d")])
    chart = layer_chart(lines, title=alt.Title(
        f"Negative texts and complaints per {grain_word}",
        subtitle="Shaded: campaign windows from the calendar; dashed: one-day campaigns")).properties(height=280)
    return with_campaigns(chart, calendar, "period")


def terms_bars(frame: pd.DataFrame, title: str, colour: str = OK_COLOUR) -> alt.Chart:
    """Horizontal bars: texts mentioning each term, most frequent on top."""
    return alt.Chart(frame, title=title).mark_bar(color=colour).encode(
        y=alt.Y("term:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
        x=alt.X("texts:Q", title="Texts mentioning the term"),
        tooltip=[alt.Tooltip("term:N", title="Term"), alt.Tooltip("texts:Q", title="Texts", format=",d"),
                 alt.Tooltip("share:Q", title="Share of texts", format=".1%")],
    ).properties(height=22 * max(len(frame), 3))


def campaign_negative_bars(frame: pd.DataFrame) -> alt.LayerChart:
    """Share of negative texts in each campaign's window (red when flagged) against outside it (tick)."""
    data = frame.assign(status=frame["flagged"].map({True: "flagged", False: "normal"}))
    base = alt.Chart()  # the frame goes on the layer: lifting equal frames hashes them via repr
    y = alt.Y("campaign:N", sort=alt.EncodingSortField("start_date", order="ascending"), title=None,
              axis=alt.Axis(labelLimit=260, labelOverlap=False))
    bars = base.mark_bar().encode(
        y=y, x=alt.X("share_negative:Q", title="Share of texts negative", axis=alt.Axis(format=".0%")),
        color=alt.Color("status:N", title="Campaign", scale=alt.Scale(domain=["normal", "flagged"],
                                                                      range=[OK_COLOUR, FLAG_COLOUR])),
        tooltip=[alt.Tooltip("campaign:N", title="Campaign"), alt.Tooltip("texts:Q", title="Texts in window"),
                 alt.Tooltip("share_negative:Q", title="Negative in window", format=".1%"),
                 alt.Tooltip("share_negative_outside:Q", title="Negative outside", format=".1%"),
                 alt.Tooltip("p_value:Q", title="p", format=".3g")])
    ticks = base.mark_tick(color="black", thickness=2).encode(y=y, x=alt.X("share_negative_outside:Q"))
    return layer_chart(bars, ticks, data=data, title=alt.Title(
        "Negative share in each campaign's window", subtitle="Black tick: share negative outside that window")
    ).properties(height=22 * max(len(frame), 3))


def campaign_quality_bars(frame: pd.DataFrame) -> alt.LayerChart:
    """Qualification rate of each source campaign's deals (red when flagged) against all other deals (tick)."""
    data = frame.assign(status=(frame["qual_flagged"] | frame["slow_flagged"]).map(
        {True: "flagged", False: "normal"}))
    base = alt.Chart()  # the frame goes on the layer: lifting equal frames hashes them via repr
    y = alt.Y("campaign:N", sort="x", title=None, axis=alt.Axis(labelLimit=260, labelOverlap=False))
    bars = base.mark_bar().encode(
        y=y, x=alt.X("qualification_rate:Q", title="Deals qualified", axis=alt.Axis(format=".0%")),
        color=alt.Color("status:N", title="Campaign", scale=alt.Scale(domain=["normal", "flagged"],
                                                                      range=[OK_COLOUR, FLAG_COLOUR])),
        tooltip=[alt.Tooltip("campaign:N", title="Source campaign"), alt.Tooltip("deals:Q", title="Deals"),
                 alt.Tooltip("qualification_rate:Q", title="Qualified", format=".0%"),
                 alt.Tooltip("others_qualification_rate:Q", title="Other deals qualified", format=".0%"),
                 alt.Tooltip("median_cycle_days:Q", title="Median cycle (days)", format=".0f"),
                 alt.Tooltip("others_median_cycle:Q", title="Other deals' median cycle (days)", format=".0f")])
    ticks = base.mark_tick(color="black", thickness=2).encode(y=y, x=alt.X("others_qualification_rate:Q"))
    return layer_chart(bars, ticks, data=data, title=alt.Title(
        "Qualification rate of deals by source campaign",
        subtitle="Black tick: all other deals. Red: qualifies less or closes slower than the rest")
    ).properties(height=22 * max(len(frame), 3))


def rising_terms_chart(terms: pd.DataFrame, period_label: str) -> alt.Chart:
    """Share of negative texts mentioning each term in the chosen period (point) against all periods
    before it (grey tick); red points rise beyond the noise after the Benjamini–Hochberg adjustment
    (rows of lib.metrics.voice.rising_terms)."""
    data = terms.assign(reading=["Rises beyond the noise" if r else "Within the noise" for r in terms["rises"]])
    y = alt.Y("term:N", title=None, sort=terms["term"].tolist())
    tooltip = [alt.Tooltip("term:N", title="Term"), alt.Tooltip("share:Q", title=period_label, format=".1%"),
               alt.Tooltip("texts:Q", title="Negative texts with it (period)", format=","),
               alt.Tooltip("n:Q", title="Negative texts (period)", format=","),
               alt.Tooltip("share_before:Q", title="Before", format=".1%"),
               alt.Tooltip("texts_before:Q", title="Negative texts with it (before)", format=","),
               alt.Tooltip("p_adjusted:Q", title="p adjusted (BH)", format=".2g")]
    base = alt.Chart()  # the frame goes on the layer: lifting equal frames hashes them via repr
    before = base.mark_tick(color=MUTED, thickness=3, size=16).encode(y=y, x=alt.X("share_before:Q"), tooltip=tooltip)
    now = base.mark_point(filled=True, size=90).encode(
        y=y, x=alt.X("share:Q", title="Share of negative texts mentioning the term", axis=alt.Axis(format="%")),
        color=alt.Color("reading:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["Rises beyond the noise", "Within the noise"],
                                        range=[FLAG_COLOUR, OK_COLOUR])), tooltip=tooltip)
    return layer_chart(before, now, data=data).properties(
        title=f"Terms rising in negative texts: {period_label} (point) vs before (grey tick)", height=alt.Step(20))

"""Charts for the in-app page. Builders over the frames of lib.metrics.in_app; they never run SQL."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.charts.common import FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart

TYPE_DOMAIN = ["marketing", "product", "service", "other"]
TYPE_RANGE = ["#ff7f0e", "#1f77b4", "#2ca02c", "#9e9e9e"]


def _type_scale(values) -> alt.Scale:
    """Fixed colours for the three purposes; any other type name gets a grey shade."""
    extra = [v for v in pd.unique(pd.Series(values, dtype="string").dropna()) if v not in TYPE_DOMAIN]
    greys = ["#bdbdbd", "#757575", "#e0e0e0", "#616161"]
    return alt.Scale(domain=TYPE_DOMAIN + extra, range=TYPE_RANGE + [greys[i % len(greys)] for i in range(len(extra))])


def _period_x(grain: str) -> alt.X:
    """Time axis labelled for the grain: 'Sep 2026' per month, the Monday's date per week."""
    if grain == "month":  # one tick per month, never two labels for the same month
        axis = alt.Axis(format="%b %Y", labelAngle=0, tickCount={"interval": "month", "step": 1})
    else:
        axis = alt.Axis(format="%d %b", labelAngle=0)
    return alt.X("period:T", title=grain.capitalize() + " starting", axis=axis)


def trend_chart(trend: pd.DataFrame, grain: str) -> alt.FacetChart:
    """Small multiples, one per rate: the rate per period (line), its trailing baseline (dashed) and
    flagged periods as red points; hollow points mark incomplete periods."""
    frame = trend.assign(status=lambda f: f["flagged"].map({True: "flagged", False: "within baseline"}),
                         coverage=lambda f: f["incomplete"].map({True: "incomplete", False: "complete"}))
    base = alt.Chart().encode(x=_period_x(grain))  # the frame goes on the layer: nothing for Altair to lift
    line = base.mark_line(color=OK_COLOUR).encode(y=alt.Y("value:Q", title="Share of impressions",
                                                          axis=alt.Axis(format=".1%")))
    baseline = base.mark_line(strokeDash=[4, 3], color=MUTED).encode(y=alt.Y("baseline:Q"))
    points = base.mark_point(size=70, filled=True).encode(
        y=alt.Y("value:Q"),
        color=alt.Color("status:N", title="Period", scale=alt.Scale(domain=["within baseline", "flagged"],
                                                                     range=[OK_COLOUR, FLAG_COLOUR])),
        shape=alt.Shape("coverage:N", title="Coverage", scale=alt.Scale(domain=["complete", "incomplete"],
                                                                         range=["circle", "triangle"])),
        tooltip=[alt.Tooltip("label:N", title="Period"), alt.Tooltip("metric:N", title="Metric"),
                 alt.Tooltip("value:Q", title="Value", format=".2%"),
                 alt.Tooltip("baseline:Q", title="Trailing baseline", format=".2%"),
                 alt.Tooltip("n:Q", title="Impressions (n)", format=","),
                 alt.Tooltip("p_value:Q", title="p-value", format=".3g"), alt.Tooltip("reason:N", title="Flag")])
    return (layer_chart(line, baseline, points, data=frame, width=330, height=170)
            .facet(facet=alt.Facet("metric:N", title=None, sort=["Engagement rate", "Dismiss rate", "Mute rate",
                                                                 "Dwell under 1s"]), columns=2)
            .resolve_scale(y="independent")
            .properties(title="In-app rates per period, against their own trailing baseline (dashed)"))


def dwell_chart(quantiles: pd.DataFrame, grain: str) -> alt.LayerChart:
    """Median dwell per period with the middle half of impressions (p25–p75) as a band; a rule at 1 s."""
    base = alt.Chart(quantiles).encode(x=_period_x(grain))
    band = base.mark_area(opacity=0.25, color=OK_COLOUR).encode(
        y=alt.Y("p25:Q", title="Dwell time (seconds)"), y2=alt.Y2("p75:Q"))
    median = base.mark_line(point=True, color=OK_COLOUR).encode(
        y=alt.Y("p50:Q"), tooltip=[alt.Tooltip("label:N", title="Period"), alt.Tooltip("p25:Q", format=".2f", title="p25 (s)"),
                            alt.Tooltip("p50:Q", format=".2f", title="Median (s)"),
                            alt.Tooltip("p75:Q", format=".2f", title="p75 (s)"),
                            alt.Tooltip("n:Q", format=",", title="Impressions with dwell")])
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(color=FLAG_COLOUR, strokeDash=[4, 3]).encode(y=alt.Y("y:Q"))
    return layer_chart(band, median, one,
                       title="Dwell time per period: median (line), middle half of impressions (band), 1 s (red)", height=260)


def frequency_relevance_chart(weekly: pd.DataFrame) -> alt.VConcatChart:
    """Two aligned panels per week: messages per active user by type (stacked bars) over the frequency
    baseline, and engagement rate over its baseline. Weeks where both went wrong are shaded red."""
    per_type = weekly.melt(id_vars=["week", "active_users", "incomplete"],
                           value_vars=["marketing_per_user", "product_per_user", "service_per_user", "other_per_user"],
                           var_name="message_type", value_name="per_user")
    per_type["message_type"] = per_type["message_type"].str.replace("_per_user", "", regex=False)
    x = alt.X("week:T", title="Week starting (Monday)")
    both = weekly[weekly["both_wrong"].astype(bool)]
    bad = alt.Chart(both.assign(week_end=both["week"] + pd.Timedelta(days=7))).mark_rect(
        color=FLAG_COLOUR, opacity=0.15).encode(x=alt.X("week:T"), x2=alt.X2("week_end:T"))
    bars = alt.Chart(per_type).mark_bar().encode(
        x=x, y=alt.Y("sum(per_user):Q", title="Messages per active user"),
        color=alt.Color("message_type:N", title="Message type", scale=_type_scale(per_type["message_type"])),
        opacity=alt.OpacityValue(1.0, condition={"test": "datum.incomplete", "value": 0.4}),
        tooltip=[alt.Tooltip("week:T", title="Week"), alt.Tooltip("message_type:N", title="Type"),
                 alt.Tooltip("per_user:Q", format=".2f", title="Messages per active user"),
                 alt.Tooltip("active_users:Q", format=",", title="Active users")])
    f_base = alt.Chart(weekly).mark_line(strokeDash=[4, 3], color="black").encode(x=x, y=alt.Y("frequency_baseline:Q"))
    top = layer_chart(bad, bars, f_base).properties(height=200, width=760,
                                                  title="Frequency: messages per active user per week (dashed: baseline)")
    eng = alt.Chart(weekly).mark_line(point=True, color=OK_COLOUR).encode(
        x=x, y=alt.Y("engagement_rate:Q", title="Engagement rate", axis=alt.Axis(format=".0%")),
        tooltip=[alt.Tooltip("week:T", title="Week"), alt.Tooltip("engagement_rate:Q", format=".1%", title="Engagement"),
                 alt.Tooltip("engagement_baseline:Q", format=".1%", title="Baseline"),
                 alt.Tooltip("impressions:Q", format=",", title="Impressions")])
    e_base = alt.Chart(weekly).mark_line(strokeDash=[4, 3], color=MUTED).encode(x=x, y=alt.Y("engagement_baseline:Q"))
    bottom = layer_chart(bad, eng, e_base).properties(height=170, width=760,
                                                    title="Relevance: engagement rate per week (dashed: baseline)")
    return alt.vconcat(top, bottom).resolve_scale(x="shared").properties(
        title="Frequency and relevance side by side — red weeks: more messages and lower engagement at once")


def type_mix_chart(split: pd.DataFrame, grain: str) -> alt.Chart:
    """Share of impressions by message type per period (stacked to 100%)."""
    return alt.Chart(split, title="Marketing vs product vs service: share of impressions per period").mark_bar().encode(
        x=alt.X("label:O", title=grain.capitalize(), sort=list(dict.fromkeys(split.sort_values("period")["label"])),
                axis=alt.Axis(labelAngle=0 if grain == "month" else -45)),
        y=alt.Y("impressions:Q", stack="normalize", title="Share of impressions", axis=alt.Axis(format=".0%")),
        color=alt.Color("message_type:N", title="Message type", scale=_type_scale(split["message_type"])),
        tooltip=[alt.Tooltip("label:N", title="Period"), alt.Tooltip("message_type:N", title="Type"),
                 alt.Tooltip("impressions:Q", format=",", title="Impressions"),
                 alt.Tooltip("share:Q", format=".1%", title="Share")],
    ).properties(height=260)


def campaign_chart(campaigns: pd.DataFrame) -> alt.Chart:
    """Per campaign (largest first): engagement, dismiss and mute rate as dots on one rate axis."""
    order = campaigns.sort_values("impressions", ascending=False)["message"].tolist()
    long = campaigns.melt(id_vars=["message", "message_type", "impressions"],
                          value_vars=["engagement_rate", "dismiss_rate", "mute_rate"], var_name="rate", value_name="value")
    long["rate"] = long["rate"].map({"engagement_rate": "Engagement", "dismiss_rate": "Dismiss", "mute_rate": "Mute"})
    return alt.Chart(long, title="Per campaign: engagement, dismiss and mute rate (largest campaigns on top)").mark_point(
        filled=True, size=90).encode(
        y=alt.Y("message:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("value:Q", title="Share of impressions", axis=alt.Axis(format=".0%")),
        color=alt.Color("rate:N", title="Rate", scale=alt.Scale(domain=["Engagement", "Dismiss", "Mute"],
                                                                range=[OK_COLOUR, "#ff7f0e", FLAG_COLOUR])),
        tooltip=[alt.Tooltip("message:N", title="Campaign"), alt.Tooltip("message_type:N", title="Type"),
                 alt.Tooltip("rate:N", title="Rate"), alt.Tooltip("value:Q", format=".1%", title="Value"),
                 alt.Tooltip("impressions:Q", format=",", title="Impressions")],
    ).properties(height=max(160, 30 * len(order)))


def type_trend_chart(trend: pd.DataFrame, metric: str, grain: str) -> alt.LayerChart:
    """One rate per message type over the periods (a line per type, its 95% Wilson interval as a band);
    periods significantly worse than the type's own trailing baseline as red points, partial periods hollow."""
    data = trend[trend["metric"] == metric].assign(
        status=lambda f: f["flagged"].map({True: "flagged", False: "within baseline"}))
    colour = alt.Color("message_type:N", title="Message type", scale=_type_scale(data["message_type"]))
    base = alt.Chart(data).encode(x=_period_x(grain))
    band = base.mark_area(opacity=0.15).encode(y=alt.Y("low:Q"), y2=alt.Y2("high:Q"), color=alt.Color(
        "message_type:N", scale=_type_scale(data["message_type"]), legend=None))  # the lines carry the legend
    line = base.mark_line().encode(y=alt.Y("value:Q", title=f"{metric} (share of impressions)",
                                           axis=alt.Axis(format=".1%")), color=colour)
    points = base.mark_point(size=60).encode(
        y=alt.Y("value:Q"), color=colour,
        fill=alt.Fill("message_type:N", title="Message type", scale=_type_scale(data["message_type"]),
                      condition={"test": "datum.incomplete", "value": "white"}),  # hollow: a partial period
        tooltip=[alt.Tooltip("message_type:N", title="Type"), alt.Tooltip("label:N", title="Period"),
                 alt.Tooltip("value:Q", title=metric, format=".2%"),
                 alt.Tooltip("low:Q", title="95% low", format=".2%"), alt.Tooltip("high:Q", title="95% high", format=".2%"),
                 alt.Tooltip("n:Q", title="Impressions (n)", format=","),
                 alt.Tooltip("baseline:Q", title="Own trailing baseline", format=".2%"),
                 alt.Tooltip("p_adjusted:Q", title="p (Benjamini–Hochberg)", format=".2g"),
                 alt.Tooltip("reason:N", title="Flag")])
    flagged = alt.Chart(data[data["flagged"]]).mark_point(size=160, color=FLAG_COLOUR, strokeWidth=2).encode(
        x=_period_x(grain), y=alt.Y("value:Q"))
    return layer_chart(band, line, points, flagged,
                       title=f"{metric} per message type (band: 95% interval; red ring: worse than the type's own baseline)",
                       height=300)

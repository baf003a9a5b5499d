"""Charts of the Funnel page. Builders take metric frames (lib.metrics.funnel / lead_scoring) and
return titled alt.Chart objects with labelled axes; they never run SQL."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.charts.common import FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart, line_over_time


def funnel_chart(frame: pd.DataFrame) -> alt.Chart:
    """Horizontal bars: leads reaching each stage, labelled with the count and % of start."""
    data = frame.assign(label=[f"{int(n):,} · {p:.1%} of start" if pd.notna(p) else f"{int(n):,}"
                               for n, p in zip(frame["leads"], frame["pct_of_start"])])
    order = list(data["stage"])
    # the frame goes on the layer (layer_chart), not on each mark: nothing for Altair to lift and copy
    base = alt.Chart(title="Leads reaching each stage (in the conversion window)").encode(
        y=alt.Y("stage:N", sort=order, title=None),
        x=alt.X("leads:Q", title="Leads", axis=alt.Axis(format=",.0f"),
                scale=alt.Scale(domain=[0, max(1, float(data["leads"].max())) * 1.25])),  # room for labels
        tooltip=[alt.Tooltip("stage:N", title="Stage"), alt.Tooltip("leads:Q", title="Leads", format=",.0f"),
                 alt.Tooltip("pct_of_start:Q", title="% of start", format=".1%"),
                 alt.Tooltip("pct_of_previous:Q", title="% of previous step", format=".1%")])
    bars = base.mark_bar(color=OK_COLOUR)
    text = base.mark_text(align="left", dx=4).encode(text=alt.Text("label:N"))
    return layer_chart(bars, text, data=data, height=90 + 40 * len(data))


def duration_heatmap(frame: pd.DataFrame) -> alt.Chart:
    """Share of each step's ordered pairs per days bin: the distribution, not only the median."""
    pairs = list(dict.fromkeys(frame.sort_values("step")["pair"]))
    bins = list(dict.fromkeys(frame.sort_values("bin_order")["bin"]))
    base = alt.Chart(title="Days between stages — share of leads per step").encode(  # frame: on the layer
        x=alt.X("bin:N", sort=bins, title="Days from previous stage", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("pair:N", sort=pairs, title=None, axis=alt.Axis(labelLimit=220)),
        tooltip=[alt.Tooltip("pair:N", title="Step"), alt.Tooltip("bin:N", title="Days"),
                 alt.Tooltip("pairs:Q", title="Leads", format=",.0f"),
                 alt.Tooltip("share:Q", title="Share of step", format=".1%")])
    cells = base.mark_rect().encode(color=alt.Color("share:Q", title="Share of step", scale=alt.Scale(scheme="blues"),
                                                    legend=alt.Legend(format=".0%")))
    text = base.mark_text().encode(text=alt.Text("share:Q", format=".0%"),
                                   color=alt.ColorValue("black", condition={"test": "datum.share > 0.3", "value": "white"}))
    return layer_chart(cells, text, data=frame, height=110 + 45 * len(pairs))


def group_conversion_chart(frame: pd.DataFrame, title: str, x_title: str) -> alt.Chart:
    """Conversion per group with its 95% Wilson interval; groups under the minimum size in grey."""
    data = frame.assign(size=["small group" if s else "readable" for s in frame["small"]])
    order = list(data["group"])
    base = alt.Chart(title=title).encode(y=alt.Y("group:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)))
    bars = base.mark_bar().encode(
        x=alt.X("conversion:Q", title=x_title, axis=alt.Axis(format=".1%")),
        color=alt.Color("size:N", title="Group size", scale=alt.Scale(domain=["readable", "small group"],
                                                                      range=[OK_COLOUR, MUTED])),
        tooltip=[alt.Tooltip("group:N", title="Group"), alt.Tooltip("conversion:Q", title=x_title, format=".1%"),
                 alt.Tooltip("conversion_low:Q", title="95% low", format=".1%"),
                 alt.Tooltip("conversion_high:Q", title="95% high", format=".1%")])
    errors = base.mark_rule(color="black").encode(x=alt.X("conversion_low:Q"), x2=alt.X2("conversion_high:Q"))
    return layer_chart(bars, errors, data=data, height=90 + 30 * len(data))


def cohort_heatmap(frame: pd.DataFrame, stages: list[str]) -> alt.Chart:
    """% of each created-month cohort reaching each stage; cohorts whose window is still open marked '*'."""
    rows = []
    for _, r in frame.iterrows():
        label = r["cohort"].strftime("%b %Y") + (" *" if r["window_open"] else "")
        for stage in stages:
            rows.append({"cohort": label, "order": r["cohort"], "stage": stage, "leads": int(r[stage]),
                         "share": r[stage] / r[stages[0]] if r[stages[0]] else None})
    data = pd.DataFrame(rows)
    cohorts = list(dict.fromkeys(data.sort_values("order")["cohort"])) if len(data) else []
    base = alt.Chart(title="Share of each created-month cohort reaching each stage (* window still open)").encode(
        x=alt.X("stage:N", sort=stages, title=None, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("cohort:N", sort=cohorts, title="Created month"),
        tooltip=[alt.Tooltip("cohort:N", title="Cohort"), alt.Tooltip("stage:N", title="Stage"),
                 alt.Tooltip("leads:Q", title="Leads", format=",.0f"),
                 alt.Tooltip("share:Q", title="% of cohort", format=".1%")])
    cells = base.mark_rect().encode(color=alt.Color("share:Q", title="% of cohort", scale=alt.Scale(
        scheme="greens", type="sqrt"), legend=alt.Legend(format=".0%")))
    text = base.mark_text(fontSize=11).encode(text=alt.Text("share:Q", format=".1%"),
                                              color=alt.ColorValue("black", condition={"test": "datum.share > 0.5",
                                                                                       "value": "white"}))
    return layer_chart(cells, text, data=data, height=110 + 24 * len(cohorts))


def entries_chart(frame: pd.DataFrame, stages: list[str], grain: str) -> alt.Chart:
    """Leads reaching the chosen stages per period (new leads, MQLs…)."""
    data = frame[frame["stage"].isin(stages)].rename(columns={"stage": "Stage"})
    return line_over_time(data, "period", "leads", f"Leads reaching each stage per {grain}", "Leads",
                          y_format=",.0f", colour="Stage", x_title=grain.capitalize())


def reopened_chart(frame: pd.DataFrame, grain: str) -> alt.Chart:
    return alt.Chart(frame, title=f"Re-opened leads per {grain}").mark_bar(color=OK_COLOUR).encode(
        x=alt.X("period:T", title=grain.capitalize()),
        y=alt.Y("reopened:Q", title="Re-opened leads", axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip("period:T", title=grain.capitalize()), alt.Tooltip("reopened:Q", title="Leads")],
    ).properties(height=220)


def score_profile_chart(frame: pd.DataFrame, grain: str) -> alt.Chart:
    """Stacked shares of score bands among each period's new leads."""
    labels = list(dict.fromkeys(frame.sort_values("band")["label"]))
    return alt.Chart(frame, title=f"Score profile of new leads, by created {grain}").mark_bar().encode(
        x=alt.X("period:O", title=f"Created {grain}", timeUnit="yearmonth" if grain == "month" else "yearmonthdate",
                axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("share:Q", title="Share of new leads", stack="normalize", axis=alt.Axis(format=".0%")),
        color=alt.Color("label:N", title="Score band", sort=labels, scale=alt.Scale(scheme="viridis")),
        order=alt.Order("band:Q"),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("label:N", title="Band"),
                 alt.Tooltip("leads:Q", title="Leads"), alt.Tooltip("share:Q", title="Share", format=".1%")],
    ).properties(height=360)


def cost_chart(frame: pd.DataFrame) -> alt.Chart:
    data = frame.dropna(subset=["cost_per_mql"])
    return alt.Chart(data, title="Cost per MQL by campaign").mark_bar(color=OK_COLOUR).encode(
        y=alt.Y("campaign:N", sort="-x", title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("cost_per_mql:Q", title="Cost per MQL (cost currency)", axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip("campaign:N", title="Campaign"), alt.Tooltip("cost:Q", title="Cost", format=",.0f"),
                 alt.Tooltip("mqls:Q", title="MQLs"), alt.Tooltip("cost_per_mql:Q", title="Cost per MQL", format=",.2f")],
    ).properties(height=90 + 30 * len(data))


def score_histogram(frame: pd.DataFrame, threshold: float) -> alt.Chart:
    data = frame.assign(side=["qualifies (MQL)" if a else "below threshold" for a in frame["at_or_above"]])
    return alt.Chart(data, title=f"Lead scores — bands at or above the MQL threshold ({threshold:g}) qualify").mark_bar().encode(
        x=alt.X("label:N", sort=list(data["label"]), title="Score band (points)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("leads:Q", title="Leads", axis=alt.Axis(format=",.0f")),
        color=alt.Color("side:N", title=None, scale=alt.Scale(domain=["below threshold", "qualifies (MQL)"],
                                                              range=[MUTED, OK_COLOUR])),
        tooltip=[alt.Tooltip("label:N", title="Band"), alt.Tooltip("leads:Q", title="Leads"),
                 alt.Tooltip("share:Q", title="Share", format=".1%")],
    ).properties(height=260)


def band_conversion_chart(frame: pd.DataFrame, target: str) -> alt.Chart:
    data = frame.assign(side=["qualifies (MQL)" if a else "below threshold" for a in frame["at_or_above"]])
    base = alt.Chart(title=f"Conversion to {target} by score band (95% interval)").encode(
        x=alt.X("label:N", sort=list(data["label"]), title="Score band (points)", axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar().encode(
        y=alt.Y("rate:Q", title=f"Reached {target}", axis=alt.Axis(format=".0%")),
        color=alt.Color("side:N", title=None, scale=alt.Scale(domain=["below threshold", "qualifies (MQL)"],
                                                              range=[MUTED, OK_COLOUR])),
        tooltip=[alt.Tooltip("label:N", title="Band"), alt.Tooltip("leads:Q", title="Leads"),
                 alt.Tooltip("converted:Q", title="Converted"), alt.Tooltip("rate:Q", title="Rate", format=".1%")])
    errors = base.mark_rule(color="black").encode(y=alt.Y("rate_low:Q"), y2=alt.Y2("rate_high:Q"))
    return layer_chart(bars, errors, data=data, height=260)


def quality_chart(frame: pd.DataFrame, by: str) -> alt.Chart:
    """Disqualification rate per campaign against the rate of all leads; flagged groups in red."""
    data = frame[frame["group"] != "(all leads)"].assign(
        status=["flagged" if f else "normal" for f in frame.loc[frame["group"] != "(all leads)", "disq_flag"]])
    overall = frame.loc[frame["group"] == "(all leads)", "disq_rate"]
    bars = alt.Chart(data, title=f"Disqualification rate by {by} (line: all leads)").mark_bar().encode(
        y=alt.Y("group:N", sort=list(data["group"]), title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("disq_rate:Q", title="Disqualified / leads", axis=alt.Axis(format=".0%")),
        color=alt.Color("status:N", title=None, scale=alt.Scale(domain=["normal", "flagged"],
                                                                range=[OK_COLOUR, FLAG_COLOUR])),
        tooltip=[alt.Tooltip("group:N", title=by.capitalize()), alt.Tooltip("leads:Q", title="Leads"),
                 alt.Tooltip("disq_rate:Q", title="Disqualified", format=".1%"),
                 alt.Tooltip("rest_rate:Q", title="Other leads", format=".1%"),
                 alt.Tooltip("median_days_next:Q", title="Median days to next stage", format=".1f")])
    chart = bars
    if len(overall) and pd.notna(overall.iloc[0]):
        rule = alt.Chart(pd.DataFrame({"rate": [float(overall.iloc[0])]})).mark_rule(
            strokeDash=[4, 3], color="black").encode(x=alt.X("rate:Q"))
        chart = layer_chart(bars, rule)
    return chart.properties(height=90 + 30 * len(data))


def rule_impact_chart(frame: pd.DataFrame, target: str) -> alt.Chart:
    """Per scoring rule: conversion with the rule minus without it, with its 95% interval; rules whose
    difference is significant after Benjamini–Hochberg in the flag colour, rules never deciding an MQL as squares."""
    data = frame.dropna(subset=["diff"]).assign(
        status=lambda f: ["significant" if s else "within noise" for s in f["significant"]],
        decides=lambda f: ["never changes an MQL" if n else "changes who qualifies" for n in f["no_impact"]])
    base = alt.Chart(title=f"Conversion to {target}: leads the rule fired for minus the others (95% interval)"
                     ).encode(y=alt.Y("rule:N", sort=list(data["rule"]), title=None, axis=alt.Axis(labelLimit=240)))
    points = base.mark_point(size=100, filled=True, opacity=1).encode(
        x=alt.X("diff:Q", title=f"Difference in conversion to {target} (percentage points)", axis=alt.Axis(format="+.0%")),
        color=alt.Color("status:N", title="After Benjamini–Hochberg",
                        scale=alt.Scale(domain=["within noise", "significant"], range=[MUTED, FLAG_COLOUR])),
        shape=alt.Shape("decides:N", title="MQL status", scale=alt.Scale(
            domain=["changes who qualifies", "never changes an MQL"], range=["circle", "square"])),
        tooltip=[alt.Tooltip("rule:N", title="Rule"), alt.Tooltip("fired:Q", title="Leads it fired for", format=","),
                 alt.Tooltip("with_rate:Q", title="Conversion with", format=".1%"),
                 alt.Tooltip("without_rate:Q", title="Conversion without", format=".1%"),
                 alt.Tooltip("diff:Q", title="Difference", format="+.1%"),
                 alt.Tooltip("p_bh:Q", title="p (Benjamini–Hochberg)", format=".2g"),
                 alt.Tooltip("mql_changed:Q", title="Leads whose MQL status depends on it", format=",")])
    errors = base.mark_rule(color="black").encode(x=alt.X("diff_low:Q"), x2=alt.X2("diff_high:Q"))
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 3], color="black").encode(x=alt.X("x:Q"))
    return layer_chart(errors, points, zero, data=data, height=90 + 32 * len(data))


def program_chart(frame: pd.DataFrame, mql: str) -> alt.Chart:
    """MQL rate per nurture program with its 95% Wilson interval (largest programs on top)."""
    base = alt.Chart(title=f"{mql} rate by program (95% Wilson interval)").encode(
        y=alt.Y("program:N", sort=list(frame["program"]), title=None, axis=alt.Axis(labelLimit=260)))
    bars = base.mark_bar(color=OK_COLOUR).encode(
        x=alt.X("mql_rate:Q", title=f"Leads reaching {mql} (share of the program's leads)", axis=alt.Axis(format=".0%")),
        tooltip=[alt.Tooltip("program:N", title="Program"), alt.Tooltip("leads:Q", title="Leads", format=","),
                 alt.Tooltip("mqls:Q", title=f"{mql}s", format=","),
                 alt.Tooltip("mql_rate:Q", title=f"{mql} rate", format=".1%"),
                 alt.Tooltip("median_days_to_mql:Q", title=f"Median days to {mql}", format=".1f"),
                 alt.Tooltip("cost_per_mql:Q", title=f"Cost per {mql}", format=",.2f")])
    errors = base.mark_rule(color="black").encode(x=alt.X("mql_low:Q"), x2=alt.X2("mql_high:Q"))
    return layer_chart(bars, errors, data=frame, height=90 + 30 * len(frame))


def touches_chart(frame: pd.DataFrame, target: str) -> alt.Chart:
    """Customers per bin of marketing touches (count of email opens, page views, webinars… per lead)."""
    return alt.Chart(frame, title=f"Marketing touches per lead that reached {target}").mark_bar(color=OK_COLOUR).encode(
        x=alt.X("label:N", sort=list(frame["label"]), title="Marketing touches per lead (count)",
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("customers:Q", title=f"Leads that reached {target}", axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip("label:N", title="Touches"), alt.Tooltip("customers:Q", title="Leads", format=","),
                 alt.Tooltip("share:Q", title="Share", format=".1%")],
    ).properties(height=260)

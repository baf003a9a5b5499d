"""Charts of the NPS page. Builders take metric frames (lib/metrics/nps.py) and return alt.Chart."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.charts.common import CATEGORY_COLOURS, FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart, with_campaigns

_CAT_SCALE = alt.Scale(domain=["Detractor", "Passive", "Promoter"],
                       range=[CATEGORY_COLOURS["Detractor"], CATEGORY_COLOURS["Passive"], CATEGORY_COLOURS["Promoter"]])
_SENTIMENT_SCALE = alt.Scale(domain=["negative", "neutral", "positive"],
                             range=[CATEGORY_COLOURS["Detractor"], CATEGORY_COLOURS["Passive"],
                                    CATEGORY_COLOURS["Promoter"]])


def trend_chart(periods: pd.DataFrame, healthy: float, calendar: pd.DataFrame | None = None,
                grain: str = "month", good: float | None = None) -> alt.LayerChart:
    """NPS per period (line), its 95% band (shaded), dips beyond the noise (red points), periods
    too small to test and the incomplete last period (grey points), the healthy and good
    reference lines (labelled), and the campaigns of `calendar` behind them
    (lib.charts.common.with_campaigns)."""
    tested = periods["tested"] if "tested" in periods else pd.Series(True, index=periods.index)
    data = periods.assign(
        status=[("Dip beyond the noise" if d else "Incomplete period" if i else "Within the noise" if t
                 else "Not tested (too few responses)")
                for d, i, t in zip(periods["dip"], periods["incomplete"], tested)])
    x = alt.X("period:T", title=grain.capitalize(), axis=alt.Axis(format="%b %Y" if grain != "day" else "%d %b"))
    tooltip = [alt.Tooltip("label:N", title=grain.capitalize()), alt.Tooltip("nps:Q", title="NPS", format=".1f"),
               alt.Tooltip("moe:Q", title="± margin (95%)", format=".1f"),
               alt.Tooltip("n:Q", title="Valid responses", format=","),
               alt.Tooltip("baseline_nps:Q", title="Trailing baseline NPS", format=".1f"),
               alt.Tooltip("status:N", title="Reading")]
    if "p_adjusted" in data:
        tooltip.insert(5, alt.Tooltip("p_adjusted:Q", title="p adjusted (BH)", format=".2g"))
    base = alt.Chart(data)
    band = base.mark_area(opacity=0.18, color=OK_COLOUR).encode(x=x, y=alt.Y("low:Q"), y2="high:Q")
    line = base.mark_line(color=OK_COLOUR).encode(
        x=x, y=alt.Y("nps:Q", title="NPS (points, −100 to +100)"))
    points = base.mark_point(filled=True, size=70).encode(
        x=x, y="nps:Q", tooltip=tooltip,
        color=alt.Color("status:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["Within the noise", "Dip beyond the noise", "Not tested (too few responses)",
                                                "Incomplete period"],
                                        range=[OK_COLOUR, FLAG_COLOUR, "#bbbbbb", MUTED])),
        size=alt.condition("datum.dip", alt.value(160), alt.value(60)))
    lines = pd.DataFrame({"y": [healthy] + ([good] if good is not None else []),
                          "label": [f"healthy: above {healthy:g}"] + ([f"good: above {good:g}"] if good is not None else [])})
    refs = alt.Chart(lines)
    rule = refs.mark_rule(color=MUTED, strokeDash=[4, 3]).encode(
        y="y:Q", tooltip=[alt.Tooltip("label:N", title="Reference")])
    rule_text = refs.mark_text(align="left", dx=4, dy=-6, color=MUTED, fontSize=11).encode(
        x=alt.value(0), y="y:Q", text="label:N")
    chart = layer_chart(band, rule, rule_text, line, points).resolve_scale(color="independent").properties(
        title="NPS by period with its 95% margin of error (shaded); red = dip beyond the noise", height=320)
    return with_campaigns(chart, calendar, "period", grain)


def distribution_chart(dist: pd.DataFrame) -> alt.LayerChart:
    """Responses per score 0–10, bars coloured by category, share of valid responses on top."""
    # the frame goes on the layer (layer_chart), not on each mark: nothing for Altair to lift and copy
    base = alt.Chart().encode(x=alt.X("score:O", title="Score (0–10)", axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar().encode(
        y=alt.Y("responses:Q", title="Responses"),
        color=alt.Color("category:N", title="Category", scale=_CAT_SCALE, legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("score:O", title="Score"), alt.Tooltip("responses:Q", title="Responses", format=","),
                 alt.Tooltip("share:Q", title="% of valid responses", format=".1f"), "category:N"])
    labels = base.mark_text(dy=-6, fontSize=11).transform_calculate(
        label="format(datum.share, '.0f') + '%'").encode(y="responses:Q", text="label:N")
    return layer_chart(bars, labels, data=dist).properties(
        title="Score distribution (labels: % of valid responses)", height=280)


def interval_chart(frame: pd.DataFrame, label: str, title: str, label_title: str) -> alt.LayerChart:
    """NPS per group as a point with its 95% margin-of-error bar; groups too small to read are grey
    and groups significantly different from the rest are red (below) or green (above)."""
    data = frame.assign(reading=[_reading(row) for _, row in frame.iterrows()])
    rest = data["other"].fillna(False).astype(bool) if "other" in data else pd.Series(False, index=data.index)
    order = data[~rest].sort_values("nps", ascending=False)[label].tolist() + data[rest][label].tolist()  # Other last
    y = alt.Y(f"{label}:N", title=label_title, sort=order, axis=alt.Axis(labelLimit=260))
    colours = {"Not different from the rest": OK_COLOUR, "Below the rest": FLAG_COLOUR,
               "Above the rest": CATEGORY_COLOURS["Promoter"], "Too small to read": MUTED,
               "Not tested: too few other responses": MUTED, "Other groups together (not tested)": "#bbbbbb"}
    shown = [r for r in colours if r in set(data["reading"])]  # the legend lists only what is drawn
    colour = alt.Color("reading:N", title=None, legend=alt.Legend(orient="bottom", labelLimit=320),
                       scale=alt.Scale(domain=shown, range=[colours[r] for r in shown]))
    tooltip = [alt.Tooltip(f"{label}:N", title=label_title), alt.Tooltip("nps:Q", title="NPS", format=".1f"),
               alt.Tooltip("moe:Q", title="± margin (95%)", format=".1f"),
               alt.Tooltip("n:Q", title="Valid responses", format=","), alt.Tooltip("reading:N", title="Reading")]
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=2).encode(
        y=y, x=alt.X("low:Q", title="NPS (points) with 95% margin of error", scale=alt.Scale(domain=[-100, 100])),
        x2="high:Q", color=colour)
    points = base.mark_point(filled=True, size=80).encode(y=y, x="nps:Q", color=colour, tooltip=tooltip)
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color=MUTED, strokeDash=[2, 2]).encode(x="x:Q")
    return layer_chart(zero, bars, points).properties(title=title, height=alt.Step(34))


def _reading(row: pd.Series) -> str:
    if bool(row.get("other", False)):
        return "Other groups together (not tested)"
    if bool(row.get("too_small", False)):
        return "Too small to read"
    if not bool(row.get("tested", True)):
        return "Not tested: too few other responses"
    if bool(row.get("differs", False)):
        return "Below the rest" if row["z"] < 0 else "Above the rest"
    return "Not different from the rest"


def sentiment_chart(by_category: pd.DataFrame) -> alt.Chart:
    """Share of negative / neutral / positive comments per category (100% stacked bars)."""
    long = by_category.melt(id_vars=["category", "comments"], value_vars=["pct_negative", "pct_neutral", "pct_positive"],
                            var_name="sentiment", value_name="share")
    long["sentiment"] = long["sentiment"].str.replace("pct_", "", regex=False)
    long["order"] = long["sentiment"].map({"negative": 0, "neutral": 1, "positive": 2})
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("category:N", title="Respondent category", sort=["Detractor", "Passive", "Promoter"]),
        x=alt.X("share:Q", title="% of the category's comments", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("sentiment:N", title="Sentiment (VADER)", scale=_SENTIMENT_SCALE,
                        legend=alt.Legend(orient="bottom")),
        order="order:Q",
        tooltip=["category:N", "sentiment:N", alt.Tooltip("share:Q", title="% of comments", format=".1f"),
                 alt.Tooltip("comments:Q", title="Comments in category", format=",")],
    ).properties(title="Comment sentiment by category", height=alt.Step(40))


def terms_chart(terms: pd.DataFrame) -> alt.Chart:
    """Terms that separate detractors from promoters: bar length = z of the log odds ratio
    (right: typical of detractors, left: of promoters)."""
    terms = terms.assign(term=terms["term"].astype(str))
    order = terms.sort_values("z", ascending=False)["term"].tolist()
    return alt.Chart(terms).mark_bar().encode(
        y=alt.Y("term:N", title=None, sort=order),
        x=alt.X("z:Q", title="← promoters' words · z of log odds ratio · detractors' words →"),
        color=alt.Color("side:N", title="Typical of", legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["Detractors", "Promoters"],
                                        range=[CATEGORY_COLOURS["Detractor"], CATEGORY_COLOURS["Promoter"]])),
        tooltip=["term:N", "side:N",
                 alt.Tooltip("share_detractors:Q", title="Share of detractor comments", format=".0%"),
                 alt.Tooltip("share_promoters:Q", title="Share of promoter comments", format=".0%"),
                 alt.Tooltip("z:Q", format=".2f")],
    ).properties(title="Terms that separate detractors' comments from promoters'", height=alt.Step(22))


def outcome_chart(outcomes: pd.DataFrame, days: int) -> alt.Chart:
    """Share of paying respondents who churned, downgraded or expanded within `days` days of
    answering, per category: a point with its 95% Wilson interval, one panel per outcome
    (rows of lib.metrics.nps.outcomes_after_answer)."""
    rows = []
    for outcome, label in (("churned", "Churned"), ("downgraded", "Downgraded"), ("expanded", "Expanded")):
        for r in outcomes.itertuples():
            rows.append({"outcome": label, "category": r.category, "paying": r.paying,
                         "count": getattr(r, outcome), "rate": getattr(r, f"{outcome}_rate"),
                         "low": getattr(r, f"{outcome}_low"), "high": getattr(r, f"{outcome}_high")})
    data = pd.DataFrame(rows).dropna(subset=["rate"])
    y = alt.Y("category:N", title=None, sort=["Detractor", "Passive", "Promoter"])
    colour = alt.Color("category:N", scale=_CAT_SCALE, legend=None)
    tooltip = [alt.Tooltip("outcome:N", title="Outcome"), alt.Tooltip("category:N", title="Category"),
               alt.Tooltip("rate:Q", title="Share", format=".1%"), alt.Tooltip("count:Q", title="Respondents", format=","),
               alt.Tooltip("paying:Q", title="Paying when they answered", format=","),
               alt.Tooltip("low:Q", title="95% low", format=".1%"), alt.Tooltip("high:Q", title="95% high", format=".1%")]
    base = alt.Chart()  # the frame goes on the layer
    bars = base.mark_rule(strokeWidth=2).encode(y=y, x=alt.X("low:Q", title="Share of paying respondents",
                                                                axis=alt.Axis(format="%")), x2="high:Q", color=colour)
    points = base.mark_point(filled=True, size=80).encode(y=y, x="rate:Q", color=colour, tooltip=tooltip)
    return layer_chart(bars, points, data=data).properties(width=220, height=alt.Step(34)).facet(
        column=alt.Column("outcome:N", title=None, sort=["Churned", "Downgraded", "Expanded"])
    ).resolve_scale(x="independent").properties(
        title=f"Within {days} days of answering, by category (95% Wilson interval)")


def referral_chart(periods: pd.DataFrame, grain: str) -> alt.Chart:
    """Referred customers per period (bars) among all new customers (light bars behind them), with the
    share referred and its 95% Wilson interval in the tooltip (rows of lib.metrics.nps.referrals_by_period)."""
    x = alt.X("period:T", title=grain.capitalize(), axis=alt.Axis(format="%b %Y"))
    tooltip = [alt.Tooltip("label:N", title=grain.capitalize()),
               alt.Tooltip("new_customers:Q", title="New customers", format=","),
               alt.Tooltip("referred_customers:Q", title="Referred", format=","),
               alt.Tooltip("share_referred:Q", title="Share referred", format=".1%"),
               alt.Tooltip("share_low:Q", title="95% low", format=".1%"),
               alt.Tooltip("share_high:Q", title="95% high", format=".1%")]
    base = alt.Chart()  # the frame goes on the layer
    everyone = base.mark_bar(color="#d9d9d9").encode(x=x, y=alt.Y("new_customers:Q", title="Customers"),
                                                     tooltip=tooltip)
    referred = base.mark_bar(color=CATEGORY_COLOURS["Promoter"]).encode(x=x, y="referred_customers:Q", tooltip=tooltip)
    return layer_chart(everyone, referred, data=periods).properties(
        title="New customers per period (grey) and those referred (green)", height=260)


def response_rate_chart(periods: pd.DataFrame, grain: str) -> alt.LayerChart:
    """Survey response rate per period of the sent date (line and points) with its 95% Wilson band;
    the incomplete last period is a hollow grey point (rows of lib.metrics.nps.response_rate_by_period)."""
    x = alt.X("period:T", title=grain.capitalize(), axis=alt.Axis(format="%b %Y"))
    tooltip = [alt.Tooltip("label:N", title=grain.capitalize()), alt.Tooltip("response_rate:Q", title="Response rate", format=".1%"),
               alt.Tooltip("answered:Q", title="Answered", format=","), alt.Tooltip("sent:Q", title="Sent", format=","),
               alt.Tooltip("low:Q", title="95% low", format=".1%"), alt.Tooltip("high:Q", title="95% high", format=".1%")]
    base = alt.Chart()  # the frame goes on the layer
    band = base.mark_area(opacity=0.18, color=OK_COLOUR).encode(x=x, y="low:Q", y2="high:Q")
    complete = base.transform_filter("!datum.incomplete")
    line = complete.mark_line(color=OK_COLOUR).encode(
        x=x, y=alt.Y("response_rate:Q", title="Answered ÷ sent", axis=alt.Axis(format="%")))
    points = base.mark_point(filled=True, size=60).encode(
        x=x, y="response_rate:Q", tooltip=tooltip,
        color=alt.condition("datum.incomplete", alt.value(MUTED), alt.value(OK_COLOUR)))
    return layer_chart(band, line, points, data=periods).properties(
        title="Survey response rate by sent date, with its 95% interval (grey: period not over)", height=260)

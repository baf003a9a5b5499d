"""Charts of the NCVG page: gains above zero, losses below, the net as a line; the value bridge.

Every builder takes a frame from lib.metrics.ncvg and returns a titled alt.Chart with labelled
axes; money axes carry the currency and MRR/ARR in their title.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.charts.common import FLAG_COLOUR, MUTED, OK_COLOUR, layer_chart

GAIN = "#2ca02c"
LOSS = FLAG_COLOUR
NET = "#333333"
MOVEMENT_COLOURS = {"New": "#2ca02c", "Reactivation": "#98df8a", "Expansion": "#1f77b4",
                    "Contraction": "#ff9896", "Churn": "#d62728"}


def money_title(currency: str | None, value_label: str, what: str = "") -> str:
    unit = f"{value_label}, {currency}" if currency else value_label
    return f"{what} ({unit})".strip()


def _period_axis(frame: pd.DataFrame) -> alt.X:
    order = frame.sort_values("period")["label"].tolist()
    return alt.X("label:O", sort=order, title="Period", axis=alt.Axis(labelAngle=-45))


def _diverging(frame: pd.DataFrame, gain: str, loss: str, net: str, gain_name: str, loss_name: str,
               title: str, y_title: str, fmt: str) -> alt.LayerChart:
    """Gains as bars above zero, losses below, the net as a dark line with points."""
    long = pd.concat([
        pd.DataFrame({"period": frame["period"], "label": frame["label"], "series": gain_name,
                      "amount": frame[gain].astype(float)}),
        pd.DataFrame({"period": frame["period"], "label": frame["label"], "series": loss_name,
                      "amount": -frame[loss].astype(float)}),
    ], ignore_index=True)
    x = _period_axis(frame)
    long["incomplete"] = list(frame["incomplete"]) * 2 if "incomplete" in frame else False
    bars = alt.Chart(long).mark_bar().encode(
        x=x, y=alt.Y("amount:Q", title=y_title, axis=alt.Axis(format=fmt)),
        # channel objects, not alt.condition dicts or "field:type" text, which Altair resolves against
        # the Vega-Lite schema on every build (~2–8 ms a channel); the spec is the same
        opacity=alt.OpacityValue(0.9, condition={"test": "datum.incomplete", "value": 0.35}),
        color=alt.Color("series:N", title=None, scale=alt.Scale(domain=[gain_name, loss_name, "Net"],
                                                              range=[GAIN, LOSS, NET])),
        tooltip=[alt.Tooltip("label:O", title="Period"), alt.Tooltip("series:N", title="Series"),
                 alt.Tooltip("amount:Q", title=y_title, format=fmt)])
    net_frame = pd.DataFrame({"period": frame["period"], "label": frame["label"], "series": "Net",
                              "amount": frame[net].astype(float)})
    line = alt.Chart(net_frame).mark_line(point=True, color=NET).encode(
        x=x, y=alt.Y("amount:Q"), color=alt.Color("series:N"),
        tooltip=[alt.Tooltip("label:O", title="Period"),
                 alt.Tooltip("amount:Q", title=f"Net {y_title.lower()}", format=fmt)])
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color=MUTED).encode(y=alt.Y("y:Q"))
    return layer_chart(bars, zero, line, title=title, height=300)


def customers_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """New customers above zero, lost customers below, net customers as a line, per period."""
    return _diverging(frame, "new_customers", "lost_customers", "net_customers", "New", "Lost",
                      "Customers gained and lost per period", "Customers", ",.0f")


def value_chart(frame: pd.DataFrame, currency: str | None, value_label: str) -> alt.LayerChart:
    """New value above zero, lost value below, net value as a line, per period."""
    return _diverging(frame, "new_value", "lost_value", "net_value", "New", "Lost",
                      f"Value gained and lost per period ({value_label})",
                      money_title(currency, value_label, "Value"), ",.0f")


def waterfall_chart(steps: pd.DataFrame, currency: str | None, value_label: str) -> alt.LayerChart:
    """The value bridge: start level, each movement as a floating bar, end level; amounts on bars."""
    colours = alt.Scale(domain=["level", "gain", "loss"], range=[OK_COLOUR, GAIN, LOSS])
    y_title = money_title(currency, value_label, "Recurring value")
    x = alt.X("step:N", sort=steps["step"].tolist(), title=None, axis=alt.Axis(labelAngle=-30, labelOverlap=False))
    base = alt.Chart()  # the frame goes on the layer: lifting equal frames hashes them via repr
    bars = base.mark_bar(size=40).encode(
        x=x, y=alt.Y("bottom:Q", title=y_title, axis=alt.Axis(format=",.0f")), y2=alt.Y2("top:Q"),
        color=alt.Color("kind:N", scale=colours, legend=None),
        tooltip=[alt.Tooltip("step:N", title="Step"), alt.Tooltip("amount:Q", title=y_title, format=",.0f")])
    text = base.mark_text(dy=-7, fontSize=12).encode(x=x, y=alt.Y("top:Q"), text=alt.Text("label:N"))
    return layer_chart(bars, text, data=steps, title=f"Value bridge over the selected range ({value_label})", height=320)


def retention_chart(frame: pd.DataFrame) -> alt.Chart:
    """Gross and net revenue retention per period (ratios), one line each."""
    long = frame.melt(id_vars=["period", "label"], value_vars=["grr", "nrr"], var_name="measure",
                      value_name="rate").dropna(subset=["rate"])
    long["measure"] = long["measure"].map({"grr": "Gross revenue retention", "nrr": "Net revenue retention"})
    return alt.Chart(long, title="Revenue retention per period").mark_line(
        point=True).encode(
        x=_period_axis(frame), y=alt.Y("rate:Q", title="Retention (% of start value)", axis=alt.Axis(format=".0%"),
                                       scale=alt.Scale(zero=False)),
        color=alt.Color("measure:N", title=None, scale=alt.Scale(range=[LOSS, OK_COLOUR])),
        tooltip=[alt.Tooltip("label:O", title="Period"), alt.Tooltip("measure:N", title="Measure"),
                 alt.Tooltip("rate:Q", title="Retention", format=".1%")]).properties(height=260)


def movements_chart(frame: pd.DataFrame, currency: str | None, value_label: str) -> alt.Chart:
    """Stacked value movements per period: new, reactivation, expansion up; contraction, churn down."""
    parts = {"New": ("new_business_value", 1), "Reactivation": ("reactivation_value", 1),
             "Expansion": ("expansion_value", 1), "Contraction": ("contraction_value", -1),
             "Churn": ("churn_value", -1)}
    long = pd.concat([pd.DataFrame({"period": frame["period"], "label": frame["label"], "movement": name,
                                    "amount": sign * frame[col].astype(float)})
                      for name, (col, sign) in parts.items()], ignore_index=True)
    y_title = money_title(currency, value_label, "Value movement")
    return alt.Chart(long, title=f"{value_label} movements per period").mark_bar().encode(
        x=_period_axis(frame), y=alt.Y("amount:Q", title=y_title, axis=alt.Axis(format=",.0f")),
        color=alt.Color("movement:N", title=None, sort=list(parts),
                        scale=alt.Scale(domain=list(MOVEMENT_COLOURS), range=list(MOVEMENT_COLOURS.values()))),
        order=alt.Order("movement_order:Q"),
        tooltip=[alt.Tooltip("label:O", title="Period"), alt.Tooltip("movement:N", title="Movement"),
                 alt.Tooltip("amount:Q", title=y_title, format=",.0f")]).transform_calculate(
        movement_order="indexof(['New','Reactivation','Expansion','Contraction','Churn'], datum.movement)"
    ).properties(height=300)


def plan_moves_chart(frame: pd.DataFrame) -> alt.Chart:
    """Customers moving up a plan tier (above zero) and down (below zero) per period."""
    long = pd.concat([
        pd.DataFrame({"period": frame["period"], "label": frame["label"], "direction": "Moved up",
                      "customers": frame["moved_up"].astype(float)}),
        pd.DataFrame({"period": frame["period"], "label": frame["label"], "direction": "Moved down",
                      "customers": -frame["moved_down"].astype(float)}),
    ], ignore_index=True)
    return alt.Chart(long, title="Customers moving up or down a plan tier").mark_bar().encode(
        x=_period_axis(frame), y=alt.Y("customers:Q", title="Customers (down below zero)", axis=alt.Axis(format=",.0f")),
        color=alt.Color("direction:N", title=None,
                        scale=alt.Scale(domain=["Moved up", "Moved down"], range=[GAIN, LOSS])),
        tooltip=[alt.Tooltip("label:O", title="Period"), alt.Tooltip("direction:N", title="Direction"),
                 alt.Tooltip("customers:Q", title="Customers", format=",.0f")]).properties(height=260)


def value_by_group_chart(frame: pd.DataFrame, group: str, title: str, currency: str | None,
                         value_label: str) -> alt.Chart:
    """Horizontal bars of value per group (plan or segment), largest first, share in the tooltip; a
    frame with an `other` column (largest groups plus "Other") keeps its own order, Other last."""
    x_title = money_title(currency, value_label, "Value on the as-of date")
    order = list(frame[group]) if "other" in frame else "-x"
    return alt.Chart(frame, title=title).mark_bar(color=OK_COLOUR).encode(
        y=alt.Y(f"{group}:N", sort=order, title=None),
        x=alt.X("value:Q", title=x_title, axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip(f"{group}:N", title=group.capitalize()),
                 alt.Tooltip("value:Q", title=x_title, format=",.0f"),
                 alt.Tooltip("share_of_value:Q", title="Share of value", format=".1%")]
    ).properties(height=alt.Step(26))


def trials_chart(frame: pd.DataFrame) -> alt.Chart:
    """New-customer trials per period of their start, stacked by outcome (converted within the
    window, did not, still in trial or in the window)."""
    outcomes = {"Converted": "converted", "Did not convert": "not_converted", "In trial or window": "in_trial"}
    long = pd.concat([pd.DataFrame({"period": frame["period"], "label": frame["label"], "outcome": name,
                                    "trials": frame[col].astype(float)}) for name, col in outcomes.items()],
                     ignore_index=True)
    return alt.Chart(long, title="New-customer trials by the period they started, and how they ended").mark_bar().encode(
        x=_period_axis(frame), y=alt.Y("trials:Q", title="Trials", axis=alt.Axis(format=",.0f")),
        color=alt.Color("outcome:N", title=None, sort=list(outcomes),
                        scale=alt.Scale(domain=list(outcomes), range=[GAIN, LOSS, MUTED])),
        tooltip=[alt.Tooltip("label:O", title="Period"), alt.Tooltip("outcome:N", title="Outcome"),
                 alt.Tooltip("trials:Q", title="Trials", format=",.0f")]).properties(height=260)


def incident_chart(frame: pd.DataFrame, window_days: int) -> alt.Chart:
    """Share who left within N days: customers hit by each incident vs customers not hit."""
    long = pd.concat([
        pd.DataFrame({"incident": frame["incident_date"], "group": "Hit by the incident",
                      "share": frame["affected_share"], "n": frame["affected"]}),
        pd.DataFrame({"incident": frame["incident_date"], "group": "Not hit",
                      "share": frame["unaffected_share"], "n": frame["unaffected"]}),
    ], ignore_index=True)
    return alt.Chart(long, title=f"Customers who left within {window_days} days of an incident").mark_bar().encode(
        x=alt.X("incident:N", title="Incident date", sort=frame["incident_date"].tolist(), axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("group:N"),
        y=alt.Y("share:Q", title=f"Share who left within {window_days} days", axis=alt.Axis(format=".0%")),
        color=alt.Color("group:N", title=None, scale=alt.Scale(domain=["Hit by the incident", "Not hit"],
                                                              range=[LOSS, MUTED])),
        tooltip=[alt.Tooltip("incident:N", title="Incident"), alt.Tooltip("group:N", title="Group"),
                 alt.Tooltip("share:Q", title="Left", format=".1%"), alt.Tooltip("n:Q", title="Customers")]
    ).properties(height=260)

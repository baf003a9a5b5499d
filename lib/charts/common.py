"""Chart pieces every area uses, so every chart is titled, labelled with units, and readable."""

from __future__ import annotations

import altair as alt
import pandas as pd

FLAG_COLOUR = "#d62728"
OK_COLOUR = "#1f77b4"
MUTED = "#9e9e9e"
CATEGORY_COLOURS = {"Promoter": "#2ca02c", "Passive": "#bdbdbd", "Detractor": "#d62728"}


def line_over_time(frame: pd.DataFrame, x: str, y: str, title: str, y_title: str,
                   y_format: str = ".1%", colour: str | None = None, x_title: str = "Period") -> alt.Chart:
    """A titled line chart with points; `y_format` is a d3 format ('.1%', ',.0f')."""
    encoding = {
        "x": alt.X(f"{x}:T", title=x_title),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format)),
        "tooltip": [alt.Tooltip(f"{x}:T", title=x_title), alt.Tooltip(f"{y}:Q", title=y_title, format=y_format)],
    }
    if colour:
        encoding["color"] = alt.Color(f"{colour}:N", title=colour.replace("_", " ").capitalize())
        encoding["tooltip"].append(alt.Tooltip(f"{colour}:N"))
    return alt.Chart(frame, title=title).mark_line(point=True).encode(**encoding).properties(height=280)


def campaign_rules(calendar: pd.DataFrame, date_column: str = "start_date",
                   label_column: str = "campaign") -> alt.Chart:
    """Vertical dashed rules at campaign dates, to layer over any time chart."""
    return alt.Chart(calendar).mark_rule(strokeDash=[4, 3], color=MUTED).encode(
        x=alt.X(f"{date_column}:T"),
        tooltip=[alt.Tooltip(f"{label_column}:N", title="Campaign"),
                 alt.Tooltip(f"{date_column}:T", title="Start")],
    )

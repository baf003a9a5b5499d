"""Charts of the Boundary report: two series over time and their scatter, lift bars."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.charts.common import FLAG_COLOUR, OK_COLOUR

_FORMATS = {"ratio": ".2%", "points": ".0f", "count": ",.0f"}


def _axis(unit: str) -> alt.Axis:
    # whole-number ticks for counts, so small counts don't repeat a rounded label
    return alt.Axis(format=_FORMATS[unit], tickMinStep=1 if unit == "count" else alt.Undefined)


def two_series(frame: pd.DataFrame, first: str, second: str, units: tuple[str, str]) -> alt.Chart:
    """Two series stacked on a shared time axis (each with its own unit), then their scatter."""
    def line(column: str, unit: str, colour: str) -> alt.Chart:
        return alt.Chart(frame, title=column).mark_line(point=True, color=colour).encode(
            x=alt.X("period:T", title="Period"),
            y=alt.Y(f"{column}:Q", title=column, axis=_axis(unit)),
            tooltip=[alt.Tooltip("period:T", title="Period"),
                     alt.Tooltip(f"{column}:Q", format=_FORMATS[unit])],
        ).properties(height=170, width=400)

    title = alt.TitleParams([second, f"against {first}", "(one point per period)"])
    x_field = first
    scatter = alt.Chart(frame, title=title)
    if units[0] == "count":  # whole numbers stack periods on one x: spread them ±0.2 so each shows
        x_field = "_x_jittered"
        scatter = scatter.transform_calculate(_x_jittered=f"datum[{first!r}] + (random() - 0.5) * 0.4")
    scatter = scatter.mark_circle(size=70, opacity=0.7, color=OK_COLOUR).encode(
        x=alt.X(f"{x_field}:Q", title=first, axis=_axis(units[0])),
        y=alt.Y(f"{second}:Q", title=second, axis=_axis(units[1])),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip(f"{first}:Q", format=_FORMATS[units[0]]),
                 alt.Tooltip(f"{second}:Q", format=_FORMATS[units[1]])],
    ).properties(height=340, width=340)
    return alt.hconcat(alt.vconcat(line(first, units[0], OK_COLOUR), line(second, units[1], FLAG_COLOUR)), scatter)


def lift_bars(rows: pd.DataFrame) -> alt.Chart:
    """Outcome rate per group with its 95% Wilson interval. `rows`: group, rate, low, high, n."""
    base = alt.Chart(rows, title="Outcome rate by group (95% Wilson interval)")
    bars = base.mark_bar(color=OK_COLOUR).encode(
        y=alt.Y("group:N", title=None, sort=None),
        x=alt.X("rate:Q", title="Outcome rate", axis=alt.Axis(format=".0%", tickMinStep=0.01)),
        tooltip=[alt.Tooltip("group:N"), alt.Tooltip("rate:Q", format=".1%"), alt.Tooltip("n:Q", format=",")],
    )
    errors = base.mark_errorbar(color="black").encode(y="group:N", x=alt.X("low:Q", title="Outcome rate"), x2="high:Q")
    return (bars + errors).properties(height=190)  # Streamlit fits title and axes into this height too

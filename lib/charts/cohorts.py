"""Charts of the Cohorts page: retention heatmap, retention curves, active users, stickiness.

Builders take the frames of `lib.metrics.cohorts` and return titled `alt.Chart`s with labelled axes.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from lib.charts.common import MUTED, OK_COLOUR, layer_chart

MAX_LABELLED_CELLS = 400  # above this many cells the heatmap drops its in-cell labels (tooltips stay)


def retention_heatmap(matrix: pd.DataFrame, value: str = "retention", unit: str = "Month") -> alt.Chart:
    """Cohort × period heatmap of `value` ('retention' as %, or 'users' as counts).

    Incomplete cells (the data ends inside the period) are faded, outlined dashed and their label
    carries '*', so a partial period is not read as a drop. Period 0 (100% by construction) is
    kept out of the colour scale so the later periods keep their contrast.
    """
    frame = matrix.copy()
    is_pct = value == "retention"
    frame["shown"] = frame[value]
    if (frame["complete"].dtype == np.bool_ and frame["cohort_label"].dtype == "str"
            and not frame["cohort_label"].isna().any() and pd.api.types.is_integer_dtype(frame["cohort_size"])):
        # plain lists of str: pandas' map and string ops cost ~2.5 ms on a weekly matrix; the same texts
        fmt = "{:.0%}".format if is_pct else (lambda v: f"{int(v):,}")
        done = frame["complete"].tolist()
        frame["label"] = pd.Series([fmt(v) + ("" if ok else "*") for v, ok in zip(frame[value].tolist(), done)],
                                   index=frame.index, dtype="str")
        frame["state"] = pd.Series(["complete" if ok else "incomplete (data ends inside it)" for ok in done],
                                   index=frame.index, dtype="str")
        frame["row"] = pd.Series([f"{label} ({size:,})" for label, size in
                                  zip(frame["cohort_label"].tolist(), frame["cohort_size"].tolist())],
                                 index=frame.index, dtype="str")
    else:
        text = frame[value].map((lambda v: f"{v:.0%}") if is_pct else (lambda v: f"{int(v):,}"))
        frame["label"] = text + frame["complete"].map({True: "", False: "*"})
        frame["state"] = frame["complete"].map({True: "complete", False: "incomplete (data ends inside it)"})
        frame["row"] = frame["cohort_label"] + " (" + frame["cohort_size"].map("{:,}".format) + ")"
    order = frame.sort_values("cohort")["row"].drop_duplicates().tolist()
    later = frame.loc[frame["period"] > 0, value]
    top = float(later.max()) if len(later) and later.max() > 0 else float(frame[value].max() or 1)
    colour = alt.Color("shown:Q", title="Retention" if is_pct else "Users",
                       scale=alt.Scale(scheme="blues", domain=[0, top], clamp=True),
                       legend=alt.Legend(format=".0%" if is_pct else ",.0f"))
    # the frame goes on the layer, not on each sub-chart: to lift two equal frames to the layer
    # Altair hashes them through their text repr (the same spec)
    base = alt.Chart().encode(
        x=alt.X("period:O", title=f"{unit}s since cohort start ({unit.lower()} 0 = cohort's own)",
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("row:O", title="Cohort (users)", sort=order),
        tooltip=[alt.Tooltip("cohort_label:N", title="Cohort"), alt.Tooltip("period:O", title=unit),
                 alt.Tooltip("cohort_size:Q", title="Cohort users", format=","),
                 alt.Tooltip("users:Q", title="Retained users", format=","),
                 alt.Tooltip("retention:Q", title="Retention", format=".1%"),
                 alt.Tooltip("state:N", title="Period")],
    )
    # channel objects, not alt.condition/alt.value dicts or "field:type" text: Altair resolves those
    # against the Vega-Lite schema on every build (~2–8 ms a channel); the spec is the same
    rects = base.mark_rect().encode(
        color=colour,
        opacity=alt.OpacityValue(0.45, condition={"test": "datum.complete", "value": 1.0}),
        stroke=alt.StrokeValue("#333333", condition={"test": "datum.complete", "value": None}),
    )
    title = ("Retention by cohort (% of the cohort active)" if is_pct else "Retained users by cohort")
    chart = rects.properties(data=frame)
    if len(frame) <= MAX_LABELLED_CELLS:
        labels = base.mark_text(fontSize=11).encode(
            text=alt.Text("label:N"),
            color=alt.ColorValue("black", condition={"test": f"datum.complete && datum.shown > {top * 0.55}",
                                                     "value": "white"}))
        chart = layer_chart(rects, labels, data=frame)
    return chart.properties(title=alt.Title(title, subtitle="* incomplete period: the data ends inside it"),
                            height=heatmap_height(frame))


def heatmap_height(matrix: pd.DataFrame) -> int:
    """Pixels for the heatmap so each cohort row stays readable (about 22 px a row)."""
    return max(200, 22 * int(matrix["cohort"].nunique()))


def retention_curves(curve: pd.DataFrame, unit: str = "Month", group: str | None = None,
                     title: str = "Average retention curve (chained over cohorts old enough)") -> alt.Chart:
    """Retention by period N with its 95% interval; one line per group when `group` is given.

    `curve` has period, retention, lo, hi, base_users (and `group`, `group_users` for groups).
    """
    frame = curve.copy()
    x = alt.X("period:Q", title=f"{unit}s since cohort start", axis=alt.Axis(tickMinStep=1, format="d"))
    y_title = "Retained users (% of cohort)"
    tooltip = [alt.Tooltip("period:Q", title=unit), alt.Tooltip("retention:Q", title="Retention", format=".1%"),
               alt.Tooltip("lo:Q", title="95% low", format=".1%"), alt.Tooltip("hi:Q", title="95% high", format=".1%"),
               alt.Tooltip("base_users:Q", title="Users in cohorts old enough", format=",")]
    line_colour, band_colour = {}, {}
    if group:
        frame["Group"] = frame[group].astype(str) + " (n=" + frame["group_users"].map("{:,}".format) + ")"
        scale = alt.Scale(scheme="tableau10")
        line_colour = {"color": alt.Color("Group:N", title="Group (users)", scale=scale)}
        band_colour = {"color": alt.Color("Group:N", scale=scale, legend=None)}
        tooltip = [alt.Tooltip("Group:N"), *tooltip]
    base = alt.Chart().encode(x=x, tooltip=tooltip)  # the frame goes on the layer (see retention_heatmap)
    band = base.mark_area(opacity=0.18, **({} if group else {"color": OK_COLOUR})).encode(
        y=alt.Y("lo:Q", title=y_title, axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1])), y2=alt.Y2("hi:Q"),
        **band_colour)
    line = base.mark_line(point=True, **({} if group else {"color": OK_COLOUR})).encode(
        y=alt.Y("retention:Q", title=y_title), **line_colour)
    chart = layer_chart(band, line, data=frame)
    chart = chart.resolve_legend(color="independent") if group else chart
    return chart.properties(title=alt.Title(title, subtitle="each step over the cohorts complete at both "
                                                         "periods; band: 95% interval"),
                                    height=300)


def revenue_curve(curve: pd.DataFrame, unit: str = "Month") -> alt.Chart:
    """Revenue per original cohort user in each period N (money), over complete periods."""
    return alt.Chart(curve, title=alt.Title(
        "Revenue per cohort user by period",
        subtitle="chained like the retention curve: steps over the cohorts complete at both periods")).mark_bar(
        color=OK_COLOUR).encode(
        x=alt.X("period:O", title=f"{unit}s since cohort start", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("revenue_per_user:Q", title="Revenue per cohort user", axis=alt.Axis(format=",.2f")),
        tooltip=[alt.Tooltip("period:O", title=unit),
                 alt.Tooltip("revenue_per_user:Q", title="Revenue per user", format=",.2f"),
                 alt.Tooltip("revenue_retention:Q", title="Revenue retention vs period 0", format=".0%"),
                 alt.Tooltip("base_users:Q", title="Users", format=",")],
    ).properties(height=260)


def active_users_chart(series: pd.DataFrame) -> alt.Chart:
    """DAU, WAU and MAU per day (counts of distinct users), from the first full 30-day window."""
    frame = series.loc[series["full_window"].astype(bool)] if series["full_window"].any() else series
    long = frame.melt(id_vars=["day"], value_vars=["mau", "wau", "dau"], var_name="measure", value_name="users")
    long["measure"] = long["measure"].map({"dau": "DAU (that day)", "wau": "WAU (7 days to that day)",
                                           "mau": "MAU (30 days to that day)"})
    return alt.Chart(long, title=alt.Title("Active users", subtitle="distinct users with an event")).mark_line(
        strokeWidth=1.6).encode(
        x=alt.X("day:T", title="Day"),
        y=alt.Y("users:Q", title="Active users", axis=alt.Axis(format=",.0f")),
        color=alt.Color("measure:N", title=None, sort=["MAU (30 days to that day)", "WAU (7 days to that day)",
                                                        "DAU (that day)"]),
        tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip("measure:N", title="Measure"),
                 alt.Tooltip("users:Q", title="Users", format=",")],
    ).properties(height=280)


def stickiness_chart(series: pd.DataFrame) -> alt.Chart:
    """DAU/MAU (30-day mean DAU ÷ MAU) and WAU/MAU per day, as percentages."""
    frame = series.loc[series["full_window"].astype(bool)] if series["full_window"].any() else series
    long = frame.melt(id_vars=["day"], value_vars=["wau_mau", "dau_mau"], var_name="ratio", value_name="value")
    long["ratio"] = long["ratio"].map({"dau_mau": "DAU/MAU", "wau_mau": "WAU/MAU"})
    return alt.Chart(long, title=alt.Title("Stickiness", subtitle="DAU/MAU = 30-day mean DAU ÷ MAU; "
                                           "WAU/MAU = WAU ÷ MAU")).mark_line(strokeWidth=1.6).encode(
        x=alt.X("day:T", title="Day"),
        y=alt.Y("value:Q", title="Share of monthly active users", axis=alt.Axis(format=".0%")),
        color=alt.Color("ratio:N", title=None,
                        scale=alt.Scale(range=[OK_COLOUR, MUTED])),
        tooltip=[alt.Tooltip("day:T", title="Day"), alt.Tooltip("ratio:N", title="Ratio"),
                 alt.Tooltip("value:Q", title="Value", format=".1%")],
    ).properties(height=240)


def matrix_table(matrix: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """The matrix as a readable table of text: one row per cohort, one column per period N;
    '65.2%' (or a count), '*' on incomplete cells, blank where the period has not started."""
    if matrix.empty:
        return pd.DataFrame(columns=["Cohort", "Users"])
    frame = matrix
    if value in ("retention", "revenue_retention"):
        fmt = "{:.1%}".format
    elif value == "revenue":
        fmt = "{:,.2f}".format
    else:
        fmt = lambda v: f"{int(v):,}"  # noqa: E731
    # plain lists of str (pandas' map and string ops on a text column cost ~3 ms on a weekly matrix)
    text = ["" if na else fmt(v) for v, na in zip(frame[value].tolist(), frame[value].isna().tolist())]
    if pd.api.types.is_bool_dtype(frame["complete"]):
        text = pd.Series([t + ("" if ok else "*") if t else t for t, ok in zip(text, frame["complete"].tolist())],
                         index=frame.index, dtype="str")
    else:  # a blank "complete" blanks the cell, as before
        text = pd.Series(text, index=frame.index, dtype="str")
        text = text + frame["complete"].map({True: "", False: "*"}).where(text != "", "")
    # the cohort × period grid placed by position (one cell per cohort and period, as a pivot wants;
    # blank where the period has not started): a pivot and its fillna on text columns took ~10 ms
    cohorts, row_at = np.unique(frame["cohort"].to_numpy(), return_inverse=True)
    periods, col_at = np.unique(frame["period"].to_numpy(), return_inverse=True)
    if len(np.unique(row_at * len(periods) + col_at)) < len(frame):
        raise ValueError("Index contains duplicate entries, cannot reshape")
    grid = np.full((len(cohorts), len(periods)), "", dtype=object)
    grid[row_at, col_at] = text.to_numpy(dtype=object)
    heads = frame[["cohort_label", "cohort_size"]]
    if heads.isna().to_numpy().any():  # each cohort's first non-blank label and size
        heads = frame.groupby("cohort")[["cohort_label", "cohort_size"]].first().reindex(cohorts)
    else:  # each cohort's first row
        heads = heads.iloc[np.unique(row_at, return_index=True)[1]]
    cells = {"Cohort": heads["cohort_label"].to_numpy(), "Users": heads["cohort_size"].to_numpy()}
    cells.update({str(int(p)): pd.array(grid[:, j], dtype=text.dtype) for j, p in enumerate(periods)})
    return pd.DataFrame(cells)

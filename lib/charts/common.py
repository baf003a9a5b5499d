"""Chart pieces every area uses, so every chart is titled, labelled with units, and readable."""

from __future__ import annotations

import altair as alt
import pandas as pd

from lib.periods import period_end

FLAG_COLOUR = "#d62728"
OK_COLOUR = "#1f77b4"
MUTED = "#9e9e9e"
CATEGORY_COLOURS = {"Promoter": "#2ca02c", "Passive": "#bdbdbd", "Detractor": "#d62728"}


# Time-axis labels by tick interval: a month always with its year (ticks every few months may miss
# January, where the default puts the year), a week or day as "21 Feb" (not "Tue 21").
TIME_LABELS = {"year": "%Y", "quarter": "%b %Y", "month": "%b %Y", "week": "%d %b", "date": "%d %b",
               "hours": "%H:%M", "minutes": "%H:%M", "seconds": "%H:%M:%S", "milliseconds": "%H:%M:%S.%L"}


@alt.theme.register("boundary", enable=True)
def boundary_theme() -> alt.theme.ThemeConfig:
    """Room above every chart for its title (Streamlit fits a chart with a height into that
    height without counting the title, which was then cut off at the top); time labels that say
    which year and read as dates."""
    return alt.theme.ThemeConfig({"padding": {"top": 24, "left": 5, "right": 5, "bottom": 5},
                                  "config": {"axisTemporal": {"format": TIME_LABELS}}})


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


# ------------------------------------------------------------------ campaign overlay

CAMPAIGN_COLUMNS = ["campaign", "channel", "start_date", "end_date"]
CAMPAIGN_SCHEME = "dark2"  # channel colours, distinct from the data colours above


def campaign_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A loaded campaign calendar as campaign, channel, start_date, end_date, plus the number of
    rows left out (no start date).

    Blank channel → '(no channel)'; blank end date, or an end before the start → the start (a
    one-day campaign); columns the file lacks are added the same way. Sorted by start date.
    """
    frame = pd.DataFrame({
        "campaign": raw["campaign"].astype("string").fillna("(unnamed)") if "campaign" in raw
        else pd.Series("(unnamed)", index=raw.index, dtype="string"),
        "channel": raw["channel"].astype("string").str.strip().replace("", pd.NA).fillna("(no channel)")
        if "channel" in raw else pd.Series("(no channel)", index=raw.index, dtype="string"),
        "start_date": pd.to_datetime(raw["start_date"], errors="coerce") if "start_date" in raw
        else pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]"),
    })
    end = pd.to_datetime(raw["end_date"], errors="coerce") if "end_date" in raw else frame["start_date"]
    frame["end_date"] = end.where(end.notna() & (end >= frame["start_date"]), frame["start_date"])
    kept = frame.dropna(subset=["start_date"]).sort_values(["start_date", "campaign"]).reset_index(drop=True)
    return kept[CAMPAIGN_COLUMNS], len(frame) - len(kept)


def with_campaigns(chart: alt.TopLevelMixin, calendar: pd.DataFrame | None, x_field: str = "period",
                   grain: str | None = None, period_field: str = "period") -> alt.TopLevelMixin:
    """`chart` with the campaigns of `calendar` drawn behind its data; unchanged when there are none.

    `calendar` has campaign, start_date (and end_date, channel; see `campaign_frame`). On a time
    axis (`x_field` temporal) a campaign longer than a day is a shaded band from its start to the
    end of its last day and a one-day campaign a dashed rule at its start, coloured by channel, the
    campaign in the tooltip. Only campaigns that overlap the chart's own dates are drawn, cut to
    them, so the overlay never stretches the axis — except that with `grain` the dates run to the
    end of the last period (its campaigns are shown). On a period axis of labels (`x_field` ordinal,
    as on the NCVG bars) each period in which campaigns ran is shaded — darker for more campaigns —
    with their names in the tooltip; periods come from the chart's data (`period_field` = the
    period start; its end from `grain`, or the spacing of the periods).

    Layered charts get the overlay as their first layer; unit charts become a layer whose title
    and size are those of the chart; facets get it in every panel; concatenations in every part
    that plots `x_field`. The overlay uses the fill/stroke channels, so the chart's colour scales
    and legends are untouched.
    """
    if calendar is None or calendar.empty:
        return chart
    calendar, _ = campaign_frame(calendar)
    return _overlay(chart, calendar, x_field, grain, period_field)


def _overlay(chart, calendar, x_field, grain, period_field, inherited=()):
    if isinstance(chart, (alt.VConcatChart, alt.HConcatChart, alt.ConcatChart)):
        attr = {alt.VConcatChart: "vconcat", alt.HConcatChart: "hconcat", alt.ConcatChart: "concat"}[type(chart)]
        shared = [*inherited, *([_prop(chart, "data")] if isinstance(_prop(chart, "data"), pd.DataFrame)
                                and x_field in _prop(chart, "data") else [])]
        new = chart.copy(deep=False)
        setattr(new, attr, [_overlay(part, calendar, x_field, grain, period_field, shared)
                            if _x_encoding(part, x_field) else part for part in getattr(chart, attr)])
        return new
    x = _x_encoding(chart, x_field)
    if x is None:
        return chart
    frames = [*inherited, *_frames(chart, x_field)]
    if _is_ordinal(x):
        layer = _period_overlay(calendar, frames, x, x_field, grain, period_field)
    else:
        layer = _time_overlay(calendar, frames, x, x_field, grain)
    if layer is None:
        return chart
    if isinstance(chart, alt.FacetChart):
        new = chart.copy(deep=False)
        new.spec = _put_behind(chart.spec, layer)
        return new
    return _put_behind(chart, layer)


def _put_behind(chart, layer):
    if isinstance(chart, alt.LayerChart) and not _independent_y(chart):
        new = chart.copy(deep=False)
        new.layer = [layer, *chart.layer]
        return new
    inner = chart.copy(deep=False)
    outer = {}
    for name in ("title", "height", "width", "padding", "autosize", "background", "config"):
        value = _prop(inner, name)
        if value is not alt.Undefined:
            outer[name] = value
            setattr(inner, name, alt.Undefined)
    return alt.LayerChart(layer=[layer, inner], **outer)


def _independent_y(chart) -> bool:
    """True for a layer with its own y scale per layer (a second axis): the overlay then goes
    beside it, not inside it, as a full-height mark breaks the independent y scales."""
    resolve = _prop(chart, "resolve")
    scale = _prop(resolve, "scale")
    return _prop(scale, "y") == "independent"


def _units(chart):
    """Every unit (mark) chart inside `chart`, with the data it inherits."""
    if isinstance(chart, alt.LayerChart):
        for part in chart.layer:
            yield from _units(part)
    elif isinstance(chart, alt.FacetChart):
        yield from _units(chart.spec)
    elif isinstance(chart, (alt.VConcatChart, alt.HConcatChart, alt.ConcatChart)):
        for name in ("vconcat", "hconcat", "concat"):
            for part in (_prop(chart, name) if isinstance(_prop(chart, name), list) else []):
                yield from _units(part)
    else:
        yield chart


def _field(encoding) -> tuple[str | None, str | None]:
    """(field, type) of an encoding given as alt.X or as a shorthand string."""
    if isinstance(encoding, str):
        field, _, kind = encoding.partition(":")
        return field, kind or None
    shorthand = _prop(encoding, "shorthand")
    if isinstance(shorthand, str) and shorthand:
        field, _, kind = shorthand.partition(":")
    else:
        field, kind = _prop(encoding, "field"), ""
    declared = _prop(encoding, "type")
    kind = declared if isinstance(declared, str) else kind
    return (field if isinstance(field, str) else None), (kind or None)


def _prop(obj, name: str):
    """A property of an Altair object as given (alt.X's `axis`, `title`… are also setter methods)."""
    return obj._kwds.get(name, alt.Undefined) if isinstance(obj, alt.SchemaBase) else alt.Undefined


def _x_encoding(chart, x_field):
    """The chart's x encoding on `x_field` (first found), or None."""
    for unit in _units(chart):
        x = _prop(_prop(unit, "encoding"), "x")
        if x is not alt.Undefined and _field(x)[0] == x_field:
            return x
    return None


def _frames(chart, x_field) -> list[pd.DataFrame]:
    """The data frames in `chart` that hold `x_field`."""
    found, stack = [], [chart]
    while stack:
        node = stack.pop()
        data = _prop(node, "data")
        if isinstance(data, pd.DataFrame) and x_field in data:
            found.append(data)
        for name in ("layer", "vconcat", "hconcat", "concat"):
            parts = _prop(node, name)
            stack.extend(parts if isinstance(parts, list) else [])
        if isinstance(node, alt.FacetChart):
            stack.append(node.spec)
    return found


def _is_ordinal(x) -> bool:
    kind = _field(x)[1]
    return kind in ("O", "N", "ordinal", "nominal")


def _x_like(x, field: str, type_code: str, **extra) -> alt.X:
    """An x encoding on `field` with the chart's own axis title and format, so the axes merge cleanly."""
    keep = {}
    for name in ("title", "axis", "sort", "scale"):
        value = _prop(x, name)
        if value is not alt.Undefined:
            keep[name] = value
    keep.update(extra)
    return alt.X(f"{field}:{type_code}", **keep)


def _time_overlay(calendar, frames, x, x_field, grain):
    values = pd.concat([pd.to_datetime(f[x_field], errors="coerce") for f in frames]) if frames else pd.Series()
    values = values.dropna()
    if values.empty:
        return None
    lo, hi = values.min(), values.max()
    if grain:
        hi = period_end(hi, grain) - pd.Timedelta(days=1)
    cal = calendar.assign(end=calendar["end_date"] + pd.Timedelta(days=1))  # a band covers its last day
    cal = cal[(cal["end"] > lo) & (cal["start_date"] <= hi)]
    if cal.empty:
        return None
    end_field = f"{x_field}_campaign_end"
    cal = cal.assign(**{x_field: cal["start_date"].clip(lower=lo), end_field: cal["end"].clip(upper=hi)})
    cal["days"] = (cal["end_date"] - cal["start_date"]).dt.days + 1
    channels = sorted(cal["channel"].unique())
    tooltip = [alt.Tooltip("campaign:N", title="Campaign"), alt.Tooltip("channel:N", title="Channel"),
               alt.Tooltip("start_date:T", title="Start", format="%d %b %Y"),
               alt.Tooltip("end_date:T", title="End", format="%d %b %Y"),
               alt.Tooltip("days:Q", title="Days")]
    scale = alt.Scale(domain=channels, scheme=CAMPAIGN_SCHEME)
    legend = alt.Legend(title="Campaign channel", orient="right")
    wide = (cal["days"] > 1) & (cal[end_field] > cal[x_field])  # cut to one day at the edge → a rule
    bands, rules = cal[wide], cal[~wide]
    layers = []
    if len(bands):
        layers.append(alt.Chart(bands).mark_rect(opacity=0.13).encode(
            x=_x_like(x, x_field, "T"), x2=f"{end_field}:T",
            fill=alt.Fill("channel:N", scale=scale, legend=legend), tooltip=tooltip))
    if len(rules):
        layers.append(alt.Chart(rules).mark_rule(strokeDash=[4, 3], strokeWidth=1.5, opacity=0.9).encode(
            x=_x_like(x, x_field, "T"),
            stroke=alt.Stroke("channel:N", scale=scale, legend=None if len(bands) else legend), tooltip=tooltip))
    return layers[0] if len(layers) == 1 else alt.layer(*layers)


def _period_overlay(calendar, frames, x, x_field, grain, period_field):
    rows = [f[[period_field, x_field]] for f in frames if period_field in f]
    if not rows:
        return None
    periods = (pd.concat(rows).dropna().drop_duplicates(subset=[x_field])
               .assign(**{period_field: lambda f: pd.to_datetime(f[period_field])}).sort_values(period_field))
    starts = list(periods[period_field])
    if grain:
        ends = [period_end(s, grain) for s in starts]
    else:
        step = pd.Series(starts).diff().median() if len(starts) > 1 else pd.Timedelta(days=1)
        ends = starts[1:] + [starts[-1] + step]
    out = []
    for label, start, end in zip(periods[x_field], starts, ends):
        running = calendar[(calendar["start_date"] < end) & (calendar["end_date"] >= start)]
        if len(running):
            names = list(running["campaign"])
            out.append({x_field: label, "campaigns": len(names),
                        "names": "; ".join(names[:8]) + (f"; … {len(names) - 8} more" if len(names) > 8 else ""),
                        "channels": ", ".join(sorted(running["channel"].unique()))})
    if not out:
        return None
    data = pd.DataFrame(out)
    return alt.Chart(data).mark_rect(color=MUTED).encode(
        x=_x_like(x, x_field, "O"),
        fillOpacity=alt.FillOpacity("campaigns:Q", legend=None,
                                    scale=alt.Scale(domain=[1, max(2, int(data["campaigns"].max()))],
                                                    range=[0.12, 0.35])),
        tooltip=[alt.Tooltip(f"{x_field}:O", title="Period"),
                 alt.Tooltip("campaigns:Q", title="Campaigns running"),
                 alt.Tooltip("names:N", title="Campaigns"), alt.Tooltip("channels:N", title="Channels")])

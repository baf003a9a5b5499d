"""Chart pieces every area uses, so every chart is titled, labelled with units, and readable."""

from __future__ import annotations

import re
import sys

import altair as alt
import numpy as np
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


# Altair checks each mark, scale, axis or legend object against the Vega-Lite schema as it is made (~0.3 ms
# each, 25-40 objects a click: 7-16 ms). The pages' charts are converted unvalidated (ui.cache.chart_spec)
# and every chart they show on the sample data is validated whole in tests/test_pages.py, so the check
# at making adds nothing; Altair's own copies already switch it off and on from any thread.
alt.utils.schemapi.disable_debug_mode()


# Converting a chart, Altair's `_todict` tests every leaf of the spec (each text, number, flag) against
# `SchemaLike`, a runtime-checkable Protocol whose isinstance looks the class over with getattr_static
# (~10 µs a leaf, ~25 % of converting an email click's charts). A plain str, int, float, bool or None is
# returned as it is by every branch of `_todict` (none of them is an array, a schema object, a container, a
# date or iterable), so it is returned before those tests; anything else goes to Altair's. The same specs:
# tests/test_charts_convert8.py compares both on the pages' charts, and bench/charts.py every spec sent.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _plain_first(todict):
    def _todict(obj, context, np_opt, pd_opt):
        if type(obj) in _PLAIN:
            return obj
        return todict(obj, context, np_opt, pd_opt)

    _todict.altair = todict
    return _todict


if not hasattr(alt.utils.schemapi._todict, "altair"):  # once, however often this module is reloaded
    alt.utils.schemapi._todict = _plain_first(alt.utils.schemapi._todict)


# Each channel of the spec parses its shorthand ("period:T") with Altair's parse_shorthand, which formats and
# looks up eight patterns for every call (~20 µs, ~150 channels a click). A plain field with a one-letter type
# and no brackets, colon or backslash can only match its `field:type` pattern, whose result does not read the
# data (the type is given): {"field": …, "type": …} at once; anything else goes to Altair's.
_FIELD_AND_TYPE = re.compile(r"\A([^():\\]*):([QONTG])\Z", re.DOTALL)


def _simple_first(parse):
    def parse_shorthand(shorthand, data=None, **options):
        if not options and isinstance(shorthand, str):
            match = _FIELD_AND_TYPE.match(shorthand)
            if match:
                return {"field": match[1], "type": _TYPES[match[2]]}
        return parse(shorthand, data, **options)

    parse_shorthand.altair = parse
    return parse_shorthand


_TYPES = alt.utils.core.INV_TYPECODE_MAP
_channels = sys.modules[alt.X.__module__]  # altair.vegalite.v6.schema.channels, which calls it by this name
if not hasattr(_channels.parse_shorthand, "altair"):
    _channels.parse_shorthand = _simple_first(_channels.parse_shorthand)


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


# ------------------------------------------------------------------ layering and converting without copies
#
# Altair's compound charts (layer, facet, concat) re-run their constructor on every copy, and it deep-copies
# every part twice to merge their selection params — thousands of small objects for a chart of a few layers.
# A chart is copied each time it is layered, given a property or a resolve, and when it is converted
# (to_dict copies every level once): that was most of building and converting the pages' charts. When there
# is nothing to merge (no params, no size on a layer or frame on the parts to lift to the whole) the merge
# changes nothing but still copies. The classes below are Altair's, with a constructor that then only
# stores the parts (and otherwise runs Altair's): `layer_chart` builds layers with them, `to_vega_lite`
# converts any chart through them, and `with_campaigns` adds its layer with them. The specs are those of
# Altair's own calls (tests/test_charts_common.py; bench/charts.py compares every spec the pages send).

_TOP_LEVEL_ONLY = ("background", "config", "autosize", "padding", "$schema")  # not allowed on a part
_LAYER_ONLY = ("height", "width", "view")  # what alt.LayerChart moves from its layers to itself


def _settled(kind: type, props: dict) -> bool:
    """True when Altair's constructor of `kind` (alt.LayerChart, alt.FacetChart, a concat), given `props`,
    would store them as they are: parts that are charts, no params on the chart or its parts, no
    layer-only property on a layer, no data of the parts that it would lift (all on one frame) or drop
    (the chart's own frame repeated on a part), no named layer (renamed by position when merging)."""
    name = _PARTS[kind]
    parts = props.get(name, alt.Undefined)
    if name == "spec":
        parts = [parts]
    elif not isinstance(parts, (list, tuple)):
        return False
    if not all(isinstance(p, (alt.Chart, alt.LayerChart) if name in ("layer", "spec") else alt.TopLevelMixin)
               for p in parts):
        return False
    if props.get("params", alt.Undefined) is not alt.Undefined or any(
            _prop(p, key) is not alt.Undefined for p in parts for key in ("params", *_TOP_LEVEL_ONLY)):
        return False
    if name == "spec":
        return True
    if name == "layer" and any(any(_prop(p, key) is not alt.Undefined for key in _LAYER_ONLY) or _faceted(p)
                               for p in parts):
        return False
    if any(_prop(layer, "name") is not alt.Undefined
           for p in parts if isinstance(p, alt.LayerChart) for layer in _prop(p, "layer")):
        return False
    data, own = props.get("data", alt.Undefined), [_prop(p, "data") for p in parts]
    if data is alt.Undefined:
        return not (own and own[0] is not alt.Undefined and all(d is own[0] for d in own))
    return not (all(d is alt.Undefined or d is data for d in own) and any(d is data for d in own))


def _faceted(chart) -> bool:
    """True for a chart with row, column or facet encodings (Altair will not layer it as it is)."""
    encoding = _prop(chart, "encoding")
    return any(_prop(encoding, ch) is not alt.Undefined for ch in ("row", "column", "facet"))


def _init(self, *args, **props) -> None:
    """Altair's constructor, but only storing `props` when merging them would change nothing."""
    base = _ALTAIR[type(self)]
    name = _PARTS[base]
    if not args and _settled(base, props):
        if name != "spec":
            props[name] = list(props[name])
        super(base, self).__init__(**props)  # the Vega-Lite schema class: stores them (with the rest Undefined)
    else:
        base.__init__(self, *args, **props)


class _Layer(alt.LayerChart):
    __init__ = _init

    def facet(self, *args, **kwargs) -> alt.FacetChart:
        """Altair's facet (which copies the layer once), whose own copies (`.resolve_scale`,
        `.properties`) do not copy it again."""
        return _shallow(super().facet(*args, **kwargs))


class _Facet(alt.FacetChart):
    __init__ = _init


class _VConcat(alt.VConcatChart):
    __init__ = _init


class _HConcat(alt.HConcatChart):
    __init__ = _init


class _Concat(alt.ConcatChart):
    __init__ = _init


_PARTS = {alt.LayerChart: "layer", alt.FacetChart: "spec", alt.VConcatChart: "vconcat",
          alt.HConcatChart: "hconcat", alt.ConcatChart: "concat"}
_ALTAIR = {_Layer: alt.LayerChart, _Facet: alt.FacetChart, _VConcat: alt.VConcatChart,
           _HConcat: alt.HConcatChart, _Concat: alt.ConcatChart}
_OURS = {base: ours for ours, base in _ALTAIR.items()}
_KINDS = {**{base: base for base in _PARTS}, **_ALTAIR}  # Altair's class of either kind


def _shallow(chart):
    """`chart.copy(deep=False)` as one of the classes above (its later copies do not re-merge its parts)."""
    new = object.__new__(_OURS[_KINDS[type(chart)]])
    object.__setattr__(new, "_args", chart._args)
    object.__setattr__(new, "_kwds", dict(chart._kwds))
    return new


def layer_chart(*layers, **properties) -> alt.LayerChart:
    """`alt.layer(*layers, **properties)`, whose later copies (`.properties`, `.resolve_scale`, layering,
    converting) do not copy every layer when there is nothing to merge (see above)."""
    if any(_faceted(layer) for layer in layers):
        return alt.layer(*layers, **properties)  # it turns these into a facet
    return _Layer(layer=layers, **properties)


def _ours(chart):
    """`chart` with every compound chart in it (itself included) as one of the classes above."""
    if type(chart) not in _KINDS:
        return chart
    new = _shallow(chart)
    name = _PARTS[_KINDS[type(chart)]]
    parts = chart._kwds.get(name, alt.Undefined)
    new._kwds[name] = [_ours(p) for p in parts] if isinstance(parts, list) else _ours(parts)
    return new


def to_vega_lite(chart: alt.TopLevelMixin) -> dict:
    """`chart.to_dict(validate=False)` — the same spec — without re-merging its parts on each copy that
    to_dict makes."""
    return _ours(chart).to_dict(validate=False)


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
    if not _is_campaign_frame(calendar):  # the pages pass one campaign_frame made: not again per chart
        calendar, _ = campaign_frame(calendar)
    elif not calendar.index.equals(pd.RangeIndex(len(calendar))):  # some of its rows (a channel filter):
        calendar = calendar.reset_index(drop=True)  # numbered as campaign_frame does (they reach the Arrow data)
    return _overlay(chart, calendar, x_field, grain, period_field)


_TEXT = pd.Series([], dtype="string").dtype  # what campaign_frame's astype("string") gives


def _is_campaign_frame(frame: pd.DataFrame) -> bool:
    """True for a calendar as `campaign_frame` returns it (or some of its rows), which it would return
    unchanged but for the row numbers: its columns in order, text and date types, no blanks, channels
    trimmed, ends on or after their starts, sorted by start and campaign."""
    if list(frame.columns) != CAMPAIGN_COLUMNS:
        return False
    name, channel, start, end = (frame[c] for c in CAMPAIGN_COLUMNS)
    if not (name.dtype == _TEXT and channel.dtype == _TEXT and start.dtype.kind == "M" and end.dtype == start.dtype):
        return False
    if name.isna().any() or channel.isna().any() or start.isna().any() or not (end >= start).all():
        return False
    if any(c == "" or c != c.strip() for c in channel.tolist()):
        return False
    keys = list(zip(start.tolist(), name.tolist()))
    return all(a <= b for a, b in zip(keys, keys[1:]))


def _overlay(chart, calendar, x_field, grain, period_field, inherited=()):
    if isinstance(chart, (alt.VConcatChart, alt.HConcatChart, alt.ConcatChart)):
        attr = {alt.VConcatChart: "vconcat", alt.HConcatChart: "hconcat", alt.ConcatChart: "concat"}[type(chart)]
        shared = [*inherited, *([_prop(chart, "data")] if isinstance(_prop(chart, "data"), pd.DataFrame)
                                and x_field in _prop(chart, "data") else [])]
        new = _shallow(chart)
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
        new = _shallow(chart)
        new.spec = _put_behind(chart.spec, layer)
        return new
    return _put_behind(chart, layer)


def _put_behind(chart, layer):
    if isinstance(chart, alt.LayerChart) and not _independent_y(chart):
        new = _shallow(chart)
        new.layer = [layer, *chart.layer]
        return new
    inner = _shallow(chart) if type(chart) in _KINDS else chart.copy(deep=False)
    outer = {}
    for name in ("title", "height", "width", "padding", "autosize", "background", "config"):
        value = _prop(inner, name)
        if value is not alt.Undefined:
            outer[name] = value
            setattr(inner, name, alt.Undefined)
    return layer_chart(layer, inner, **outer)


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


def _time_cut(calendar, frames, x_field, grain):
    """The campaigns that overlap the charts' dates, cut to them, as (bands, rules, channels) — the bands
    (longer than a day) and rules (one day, or cut to one at the edge) with the calendar's columns, `end`
    (the day after the last), `x_field` and `<x_field>_campaign_end` (the cut start and end) and `days`
    (the campaign's length); None when none overlaps. See with_campaigns."""
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
    wide = (cal["days"] > 1) & (cal[end_field] > cal[x_field])  # cut to one day at the edge → a rule
    return cal[wide], cal[~wide], channels


_CUT_COLUMNS = {*CAMPAIGN_COLUMNS, "end", "days"}


def _time_cut_arrays(calendar, frames, x_field, grain):
    """`_time_cut` on numpy arrays (~0.3 ms instead of ~3 ms a chart): the same frames — values, dtypes,
    columns in order, row numbers (a RangeIndex where pandas keeps one) — for a calendar of one naive date
    type and charts' dates of that type; None when `_time_cut` gives None; `_time_cut` itself for anything
    else (tests/test_charts_overlay8.py keeps the pandas steps as the oracle)."""
    start_col, end_date_col = calendar["start_date"], calendar["end_date"]
    dtype = start_col.dtype
    end_field = f"{x_field}_campaign_end"
    if (not isinstance(dtype, np.dtype) or dtype.kind != "M" or end_date_col.dtype != dtype or not frames
            or x_field in _CUT_COLUMNS or end_field in _CUT_COLUMNS or list(calendar.columns) != CAMPAIGN_COLUMNS
            or not isinstance(calendar.index, pd.RangeIndex)
            or any(f[x_field].dtype != dtype for f in frames)):
        return _time_cut(calendar, frames, x_field, grain)
    values = np.concatenate([f[x_field].to_numpy() for f in frames])
    values = values[~np.isnat(values)]
    if not len(values):
        return None
    lo, hi = pd.Timestamp(values.min()), pd.Timestamp(values.max())  # as Series.min/max (same unit)
    if grain:
        hi = period_end(hi, grain) - pd.Timedelta(days=1)
    end = calendar["end_date"] + pd.Timedelta(days=1)  # its type as pandas makes it
    unit, end_unit = np.datetime_data(dtype)[0], np.datetime_data(end.dtype)[0]
    if lo.as_unit(unit) != lo or hi.as_unit(end_unit) != hi:  # clip would change the column's unit
        return _time_cut(calendar, frames, x_field, grain)
    starts, end_dates, ends = start_col.to_numpy(), end_date_col.to_numpy(), end.to_numpy()
    kept = np.flatnonzero((ends > lo.to_datetime64()) & (starts <= hi.to_datetime64()))
    if not len(kept):
        return None
    start_k, end_k, end_date_k = starts[kept], ends[kept], end_dates[kept]
    cut_start = np.maximum(start_k, lo.as_unit(unit).to_datetime64())
    cut_end = np.minimum(end_k, hi.as_unit(end_unit).to_datetime64())
    days = (end_date_k - start_k) // np.timedelta64(1, "D") + 1  # .dt.days: whole days, floored
    names, channel_col = calendar["campaign"].array, calendar["channel"].array
    channels = sorted(set(channel_col.take(kept)))
    wide = (days > 1) & (cut_end > cut_start)  # cut to one day at the edge → a rule
    index = calendar.index.take(kept)  # the row numbers pandas' boolean selection keeps (a RangeIndex if even)

    def part(mask):
        pos = np.flatnonzero(mask)
        rows = kept[pos]
        return pd.DataFrame({"campaign": names.take(rows), "channel": channel_col.take(rows),
                             "start_date": start_k[pos], "end_date": end_date_k[pos], "end": end_k[pos],
                             x_field: cut_start[pos], end_field: cut_end[pos], "days": days[pos]},
                            index=index if mask.all() else index.take(pos))

    return part(wide), part(~wide), channels


def _time_overlay(calendar, frames, x, x_field, grain):
    cut = _time_cut_arrays(calendar, frames, x_field, grain)
    if cut is None:
        return None
    bands, rules, channels = cut
    end_field = f"{x_field}_campaign_end"
    tooltip = [alt.Tooltip("campaign:N", title="Campaign"), alt.Tooltip("channel:N", title="Channel"),
               alt.Tooltip("start_date:T", title="Start", format="%d %b %Y"),
               alt.Tooltip("end_date:T", title="End", format="%d %b %Y"),
               alt.Tooltip("days:Q", title="Days")]
    scale = alt.Scale(domain=channels, scheme=CAMPAIGN_SCHEME)
    legend = alt.Legend(title="Campaign channel", orient="right")
    layers = []
    if len(bands):
        layers.append(alt.Chart(bands).mark_rect(opacity=0.13).encode(
            x=_x_like(x, x_field, "T"), x2=alt.X2(f"{end_field}:T"),  # an object: a text is looked up in the schema
            fill=alt.Fill("channel:N", scale=scale, legend=legend), tooltip=tooltip))
    if len(rules):
        layers.append(alt.Chart(rules).mark_rule(strokeDash=[4, 3], strokeWidth=1.5, opacity=0.9).encode(
            x=_x_like(x, x_field, "T"),
            stroke=alt.Stroke("channel:N", scale=scale, legend=None if len(bands) else legend), tooltip=tooltip))
    return layers[0] if len(layers) == 1 else layer_chart(*layers)


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
    # plain arrays: a frame filtered per period cost ~1 ms a period
    cal_starts, cal_ends = calendar["start_date"].to_numpy(), calendar["end_date"].to_numpy()
    campaigns, channels = calendar["campaign"].tolist(), calendar["channel"].tolist()
    for label, start, end in zip(periods[x_field], starts, ends):
        running = np.flatnonzero((cal_starts < end) & (cal_ends >= start))
        if len(running):
            names = [campaigns[i] for i in running]
            out.append({x_field: label, "campaigns": len(names),
                        "names": "; ".join(names[:8]) + (f"; … {len(names) - 8} more" if len(names) > 8 else ""),
                        "channels": ", ".join(sorted({channels[i] for i in running}))})
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

"""The pieces every page uses. Each page calls these instead of re-inventing them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import schemas
from lib.config import THRESHOLDS, threshold
from lib.datasets import Dataset, Workspace
from lib.errors import BoundaryError
from lib.export import csv_bytes
from lib.ingest import SUPPORTED
from lib.markup import escape_md
from lib.result import Flag, MetricResult, column_format, column_label, flags_frame
from lib.sample import load_samples
from ui.sessions import release_with_session

WORKSPACE_KEY = "workspace"
SAVED_KEY = "workspace_saved_key"  # save_key of the Workspace as last saved (ui.workspaces)


PRESENTING = "presenting"  # session key of the sidebar's "Presentation mode" toggle (app.py)


def presenting() -> bool:
    """True in presentation mode: pages show their numbers, charts and flags, not the machinery
    (uploaders, column maps, SQL, CSV downloads) — for a client workshop on a shared screen."""
    return bool(st.session_state.get(PRESENTING))


def workspace() -> Workspace:
    """This browser session's Workspace (its own DuckDB connection), created on first use."""
    if WORKSPACE_KEY not in st.session_state:
        st.session_state[WORKSPACE_KEY] = Workspace()
        release_with_session(st.session_state[WORKSPACE_KEY])  # closed when the session is gone
        # an empty workspace is not worth saving: the first load, fix or threshold change is
        st.session_state.setdefault(SAVED_KEY, st.session_state[WORKSPACE_KEY].save_key())
    return st.session_state[WORKSPACE_KEY]


def sample_button(key: str, kinds: list[str] | None = None) -> None:
    """'Load sample data' — loads every sample file so all pages (and the report) have data."""
    if st.button("Load sample data", key=f"sample_{key}", type="primary"):
        with st.spinner("Loading sample exports…"):
            loaded = load_samples(workspace())
        st.session_state["samples_loaded"] = loaded
        st.rerun()


def dataset_section(kinds: list[str], key: str) -> Dataset | None:
    """Uploader at the top of a page, then the loaded dataset's summary and Columns panel.

    Returns the first ready dataset among `kinds` (the page's accepted kinds), or None after
    showing how to get one. Errors are shown in plain words; never a traceback.
    """
    ws = workspace()
    ready = [ws.datasets[k] for k in kinds if k in ws.datasets and ws.datasets[k].ready]
    if presenting() and ready:  # the file names only; the uploader comes back with the mode off
        st.caption("Figures from " + ", ".join(f"**{escape_md(d.file_name)}** ({d.rows_read:,} rows)" for d in ready)
                   + ".")
        return ready[0]
    labels = " or ".join(schemas.KINDS[k].label.lower() for k in kinds)
    upload = st.file_uploader(
        f"Upload {labels}", type=[e.lstrip(".") for e in SUPPORTED], key=f"upload_{key}",
        help="Excel (.xlsx, .xlsm, .xls, .ods) or CSV as your tool exports it — title rows, "
             "several sheets, ; or tab separators and decimal commas are fine.")
    if upload is not None:
        try:
            data = upload.getvalue()
            # Reading and typing a big workbook takes seconds: a spinner with the time so far (shown
            # after half a second, so a re-run that finds the file already loaded shows nothing).
            with st.spinner("Reading the file and typing its columns…", show_time=True):
                loaded = ws.load(upload.name, data, kinds=kinds)
            if not loaded.ready:
                _point_to_its_page(ws, loaded, data, kinds)
        except BoundaryError as exc:
            st.error(escape_md(exc))  # messages name the file, its columns and cells
    present = [ws.datasets[k] for k in kinds if k in ws.datasets]
    if not present:
        st.info("Nothing loaded here yet. Upload an export above, or try the bundled sample data "
                "(it loads a sample file for every page).")
        sample_button(key)
        return None
    for dataset in present:
        _dataset_summary(ws, dataset, kinds, key)
    ready = [d for d in present if d.ready]
    return ready[0] if ready else None


# The page that analyses each kind (the first of a page's dataset_section kinds).
PAGE_OF_KIND = {
    "email_campaigns": ("app_pages/email.py", "Email"), "email_events": ("app_pages/email.py", "Email"),
    "in_app_events": ("app_pages/in_app.py", "In-app"), "in_app_messages": ("app_pages/in_app.py", "In-app"),
    "nps_responses": ("app_pages/nps.py", "NPS"), "texts": ("app_pages/voice.py", "Voice of customer"),
    "deals": ("app_pages/voice.py", "Voice of customer"), "subscriptions": ("app_pages/ncvg.py", "NCVG"),
    "value_history": ("app_pages/ncvg.py", "NCVG"), "customers": ("app_pages/ncvg.py", "NCVG"),
    "leads": ("app_pages/funnel.py", "Funnel"), "lead_stages": ("app_pages/funnel.py", "Funnel"),
    "campaign_costs": ("app_pages/funnel.py", "Funnel"), "activity": ("app_pages/cohorts.py", "Cohorts"),
}


def _point_to_its_page(ws: Workspace, loaded: Dataset, data: bytes, kinds: list[str]) -> None:
    """A file (`loaded` here, not ready) that this page cannot read but another page can: say
    which, and load it for that page unless that page already has a file of that kind (which it
    would replace)."""
    file_name, shown_name = loaded.file_name, escape_md(loaded.file_name)
    best = schemas.recognise(loaded.columns)
    if best.kind in kinds or not best.complete or best.kind not in PAGE_OF_KIND:
        return
    path, title = PAGE_OF_KIND[best.kind]
    label = schemas.KINDS[best.kind].label
    other = ws.datasets.get(best.kind)
    if other is None or other.digest == loaded.digest:
        ws.load(file_name, data, kind=best.kind)
        st.info(f"{shown_name} looks like {label.lower()}: the {title} page reads it as it is, and it is "
                f"loaded there now. (To use it here instead, map its columns below.)")
    else:
        st.info(f"{shown_name} looks like {label.lower()}: the {title} page reads it as it is — upload it there "
                f"(it would replace {escape_md(other.file_name)}). To use it here instead, map its columns below.")
    st.page_link(path, label=f"Open {title}", icon=":material/arrow_forward:")


def _dataset_summary(ws: Workspace, dataset: Dataset, kinds: list[str], key: str) -> None:
    # File, sheet and column names and cell examples come from the file: escaped (lib.markup).
    where = f", sheet “{escape_md(dataset.sheet)}”" if dataset.sheet and len(dataset.sheets) > 1 else ""
    if dataset.ready:
        st.caption(f"**{escape_md(dataset.file_name)}**{where} — {dataset.label}, {dataset.rows_read:,} rows. "
                   + escape_md(" ".join(dataset.notes)))
    else:
        st.error(escape_md(dataset.missing_message()))
    if st.session_state.get(f"sheet_error_{dataset.kind}"):
        st.error(escape_md(st.session_state.pop(f"sheet_error_{dataset.kind}")))
    for line in dataset.bad_value_lines():
        st.warning(escape_md(line))
    # Built only while open: ~16 selectboxes a dataset were ~10 % of every rerun for a panel that is
    # nearly always closed. A stateful expander reruns the page when opened or closed. Open by default
    # while the file still lacks a needed column (set before it is drawn, so `expanded` stays out of
    # its identity and it stays open once the map is fixed).
    panel_key = columns_key(key, dataset)
    if not dataset.ready and panel_key not in st.session_state:
        st.session_state[panel_key] = True
    panel = st.expander("Columns", key=panel_key, on_change="rerun")
    if not panel.open:
        return
    with panel:
        if len(dataset.sheets) > 1:
            st.selectbox("Sheet", dataset.sheets, index=dataset.sheets.index(dataset.sheet),
                         key=f"sheet_{key}_{dataset.kind}_{dataset.digest[:8]}",
                         on_change=_change_sheet, args=(ws, dataset.kind, f"sheet_{key}_{dataset.kind}_{dataset.digest[:8]}"),
                         help="The sheet whose columns matched best was picked; choose another here.")
        columns_panel(ws, dataset, kinds, key)


def columns_key(key: str, dataset: Dataset) -> str:
    """The session-state key of a dataset's Columns panel (True while open) on the page whose
    dataset_section key is `key`: a test or a page sets it True to open the panel."""
    return f"columns_{key}_{dataset.kind}_{dataset.digest[:8]}"


_NOT_IN_FILE = "— not in file —"


def columns_panel(ws: Workspace, dataset: Dataset, kinds: list[str], key: str) -> None:
    """How the file's columns were mapped, with a selectbox per canonical column to fix it.

    A change is applied in the widget's callback, then every selectbox of this panel is reset so
    that all of them show the new map (picking a column for one field takes it from another).
    """
    prefix = f"map_{key}_{dataset.kind}_{dataset.digest[:8]}_"
    kind_options = list(dict.fromkeys([dataset.kind, *kinds]))
    st.selectbox("This file is", kind_options, index=0, key=f"{prefix}kind",
                 format_func=lambda k: schemas.KINDS[k].label,
                 on_change=_change_kind, args=(ws, dataset.kind, f"{prefix}kind", prefix))
    spec = schemas.KINDS[dataset.kind]
    cols = st.columns(2)
    for i, column in enumerate(spec.columns):
        current = dataset.mapping.get(column.name)
        fits = dataset.candidates.get(column.name, [])  # e.g. a survey's 0–10 questions: listed first
        options = [_NOT_IN_FILE, *fits, *(c for c in dataset.columns if c not in fits)]
        label = column.label + (" *" if column.required or any(column.name in g for g in spec.one_of) else "")
        cols[i % 2].selectbox(
            label, options, index=options.index(current) if current in options else 0,
            key=prefix + column.name,
            help=f"Listed first: the {len(fits)} columns whose header and values fit." if len(fits) > 1 else None,
            on_change=_remap, args=(ws, dataset.kind, column.name, prefix + column.name, prefix))
    st.caption("Fields marked \\* are needed for the analysis. Your choices are kept for this file, with the "
               "workspace.")
    if st.session_state.get(f"{prefix}error"):
        st.error(escape_md(st.session_state.pop(f"{prefix}error")))


def _reset_panel(prefix: str) -> None:
    for name in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[name]


def _remap(ws: Workspace, kind: str, canonical: str, widget: str, prefix: str) -> None:
    picked = st.session_state[widget]
    try:
        ws.remap(kind, {canonical: None if picked == _NOT_IN_FILE else picked})
        _reset_panel(prefix)
    except BoundaryError as exc:
        _reset_panel(prefix)
        st.session_state[f"{prefix}error"] = str(exc)


def _change_sheet(ws: Workspace, kind: str, widget: str) -> None:
    try:
        ws.change_sheet(kind, st.session_state[widget])
    except BoundaryError as exc:
        st.session_state[f"sheet_error_{kind}"] = str(exc)


def _change_kind(ws: Workspace, kind: str, widget: str, prefix: str) -> None:
    new_kind = st.session_state[widget]
    _reset_panel(prefix)
    if new_kind != kind:
        ws.change_kind(kind, new_kind)


def show_sql(result: MetricResult | str, label: str = "Show SQL") -> None:
    """The SQL (a result's, with its parameters, or SQL text) behind a figure, so an analyst can
    check or rerun it in /sql."""
    if presenting():
        return
    sql, params = (result, []) if isinstance(result, str) else (result.sql, result.params)
    note = None
    if workspace().engine is not None:  # a Spark workspace (lib.remote): the SQL the cluster ran
        from lib.engine import SparkEngine

        try:
            sql = SparkEngine.transpile(sql, pretty=True)
            note = "Spark SQL as run on the cluster (from the DuckDB SQL, by sqlglot)."
        except Exception:  # noqa: BLE001 — several statements or DuckDB-only text: shown as written
            note = "DuckDB SQL as written; each statement runs on the cluster as Spark SQL."
    with st.expander(label):
        if note:
            st.caption(note)
        st.code(sql.strip(), language="sql")
        if params:
            st.caption("Parameters: " + ", ".join(repr(p) for p in params))


def show_table(frame: pd.DataFrame | list[dict], **kwargs):
    """st.dataframe (index hidden, blanks as —) with readable headers and numbers: a snake_case column gets a
    label (pct_of_start → "% of start") and a float column a format (lib.result.column_format)
    unless the caller configured it; the frame, its downloads and its SQL keep the real names."""
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    config = dict(kwargs.pop("column_config", None) or {})
    kept = _shown_table(frame) if "on_select" not in kwargs else None
    formats = kept[1] if kept else _column_formats(frame)
    for i, name in enumerate(frame.columns):
        label = column_label(name) if isinstance(name, str) else name
        if name not in config:
            number_format = formats[i]
            if number_format:
                config[name] = st.column_config.NumberColumn(label if label != name else None, format=number_format)
            elif label != name:
                config[name] = label
        elif isinstance(config[name], dict) and not config[name].get("label") and label != name:
            config[name] = {**config[name], "label": label}
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("placeholder", "—")  # a blank cell reads as blank, not as Streamlit's "None"
    return st.dataframe(kept[0] if kept else frame, column_config=config, **kwargs)


def _column_formats(frame: pd.DataFrame) -> tuple:
    """column_format of each column, by position (a name may repeat)."""
    return tuple(column_format(name, values) for name, values in frame.items())


def _shown_table(frame: pd.DataFrame) -> tuple | None:
    """(Streamlit's Arrow table of `frame`, each column's number format), kept in the session memo
    for a frame the memo handed out and the page has not changed (ui.cache.Memo.handed_key), so a
    rerun does not convert the same table again; None for any other frame (converted as usual).
    The Arrow table is Streamlit's own conversion of the frame: st.dataframe sends the same bytes."""
    from streamlit import dataframe_util

    from ui.cache import _frame_content, session_memo

    memo = session_memo()
    content = memo.handed_key(frame, _frame_content) if memo is not None else None
    if content is None:
        return None
    key = ("shown table", content, tuple(frame.index.names), tuple(frame.columns.names))
    hit, kept = memo.get(key)
    if not hit:
        kept = (dataframe_util.convert_pandas_df_to_arrow_table(frame), _column_formats(frame))
        memo.put(key, kept)
    return kept


def excluded_note(result: MetricResult) -> None:
    """Say on screen how many rows a figure left out and why."""
    text = result.excluded_text()
    if text:
        st.caption(text)


def flags_table(flags: list[Flag], key: str) -> None:
    """The flags of a page, the same table as the report's."""
    if not flags:
        st.success("No red flags with the current thresholds.")
        return
    from ui.cache import session_cached

    # once per list of flags (a memoised list is keyed without walking it), and shown from the
    # session's Arrow copy of the table (show_table): the same table on every rerun
    frame = session_cached(flags_frame)(flags, formatted=True)
    show_table(frame, key=f"flags_{key}", width="stretch")


def threshold_editor(area: str, key: str, topics: list[str] | None = None) -> None:
    """Number inputs for an area's thresholds; edits apply to every page and the report.

    With `topics` (email), the rate thresholds can also be set per topic/type: pick a topic, and
    its inputs start at its own value or the general one; a topic left at the general value has none."""
    ws = workspace()
    for spec in (t for t in THRESHOLDS if t.area == area):
        current, widget = ws.thresholds[spec.key], f"th_{key}_{spec.key}"
        # A change is applied in the widget's callback, before the page runs: a page that draws its figures
        # before its thresholds panel (email) shows them with the new value on this very run.
        apply = {"on_change": _apply_threshold, "args": (spec.key, widget, spec.unit == "ratio")}
        if spec.unit == "ratio":
            shown = st.number_input(f"{spec.label} (%)", value=round(current * 100, 4), step=0.05,
                                    format="%.2f", key=f"th_{key}_{spec.key}", help=spec.source, **apply)
            value = shown / 100
        elif isinstance(spec.default, int) and spec.unit in ("days", "count", "points"):  # whole numbers: 90, not 90.00
            value = st.number_input(spec.label, value=int(round(current)), step=1, key=f"th_{key}_{spec.key}",
                                    help=spec.source, **apply)
        else:
            value = st.number_input(spec.label, value=float(current), key=f"th_{key}_{spec.key}", help=spec.source,
                                    **apply)
        if value != current:
            ws.thresholds = ws.thresholds.with_value(spec.key, value)
    per_topic = [t for t in THRESHOLDS if t.area == area and t.per_topic]
    if not topics or not per_topic:
        return
    st.markdown("**Per topic** — a benchmark can differ by email type (the 15% open-rate line matters most for "
                "welcome and education emails). Sends of the topic are held to its own value, periods to their "
                "topics' mix.")
    topic = st.selectbox("Topic / type", topics, key=f"th_{key}_topic")

    def keep(spec_key: str, widget: str) -> None:  # only a typed change sets a topic's value
        value, general = st.session_state[widget] / 100, workspace().thresholds[spec_key]
        workspace().thresholds = workspace().thresholds.with_topic_value(
            spec_key, topic, None if value == general else value)

    for spec in per_topic:
        general = ws.thresholds[spec.key]
        widget = f"th_{key}_{spec.key}@{topic}"
        # shown from the stored value each run, so a later change of the general value shows here
        # instead of the input pinning the topic to the old one
        st.session_state[widget] = round(ws.thresholds.for_topic(spec.key, topic) * 100, 4)
        st.number_input(f"{spec.label} (%) for {escape_md(topic)}", step=0.05, format="%.2f",
                        key=f"th_{key}_{spec.key}@{topic}",  # = widget, spelled out for the kept-widgets check
                        on_change=keep, args=(spec.key, widget),
                        help=f"General value {general * 100:.2f}%. {spec.source}")
    own = [f"{escape_md(t)}: {spec.label.lower()} {v * 100:.2f}%" for spec in per_topic
           for t, v in sorted(ws.thresholds.topic_values(spec.key).items())]
    st.caption("Topics with their own values — " + ("; ".join(own) if own else "none yet") + ".")


def _apply_threshold(spec_key: str, widget: str, ratio: bool) -> None:
    """A threshold input's callback: the typed value (a % for a ratio) into the workspace's thresholds."""
    value = st.session_state[widget]
    workspace().thresholds = workspace().thresholds.with_value(spec_key, value / 100 if ratio else value)


def download_csv(frame: pd.DataFrame, name: str, key: str) -> None:
    """Every CSV download: cells and headers that a spreadsheet would run as a formula are
    neutralised (lib.export.csv_bytes), as in the Excel workbook."""
    if presenting():
        return
    # the bytes are made when clicked, not on every rerun of the page
    st.download_button("Download CSV", lambda: csv_bytes(frame), file_name=name, mime="text/csv", key=f"dl_{key}",
                       on_click="ignore")


def campaign_calendar(con, table: str) -> tuple[pd.DataFrame, int]:
    """The loaded campaign calendar as lib.charts.common.campaign_frame makes it: (campaigns, how
    many have no start date)."""
    from lib.charts.common import campaign_frame
    from lib.sql import quote_ident

    return campaign_frame(con.cursor().execute(f"SELECT * FROM {quote_ident(table)}").df())


def campaigns_on(calendar: pd.DataFrame, channels: tuple[str, ...]) -> pd.DataFrame:
    """The campaigns of `calendar` (campaign_calendar's) run on one of `channels`."""
    return calendar[calendar["channel"].isin(channels)]


def campaign_overlay(key: str, prefer: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """When a campaign calendar is loaded: a "Show campaigns" checkbox (on) and a channel filter.

    Returns the campaigns of the chosen channels (campaign, channel, start_date, end_date) for
    lib.charts.common.with_campaigns, or None when no calendar is loaded or the box is unticked.
    `prefer`: channels ticked at first (matched ignoring case, spaces, - and _); all when none match.
    """
    from ui.cache import session_cached

    ws = workspace()
    dataset = ws.get("campaign_calendar")
    if dataset is None:
        return None
    # read once per session and data (a dataset's table changes only with the data key the memo uses)
    calendar, left_out = session_cached(campaign_calendar)(ws.con, dataset.table)
    left, right = st.columns([1, 3])
    if not left.checkbox("Show campaigns", value=True, key=f"campaigns_{key}",
                         help=f"Campaigns from {escape_md(dataset.file_name)}, behind the trends: shaded from start to end "
                              "(a dashed line for one-day campaigns; on per-period bars, a darker period ran more "
                              "campaigns). Hover for the names."):
        return None
    channels = sorted(calendar["channel"].unique())
    if len(channels) > 1:
        norm = lambda c: "".join(ch for ch in str(c).lower() if ch.isalnum())  # noqa: E731
        wanted = {norm(p) for p in prefer}
        default = [c for c in channels if norm(c) in wanted] or channels
        picked = right.multiselect("Campaign channels", channels, default=default,
                                   key=f"campaign_channels_{key}")
        # memoised: the charts' keys name this frame by the call that made it, instead of hashing it for each
        calendar = session_cached(campaigns_on)(calendar, tuple(picked))
    if left_out:
        st.caption(f"{left_out:,} campaign(s) in {escape_md(dataset.file_name)} have no start date and are not drawn.")
    return calendar


__all__ = ["workspace", "dataset_section", "show_sql", "show_table", "excluded_note", "flags_table",
           "threshold_editor", "download_csv", "sample_button", "threshold", "presenting"]

"""The pieces every page uses. Each page calls these instead of re-inventing them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib import schemas
from lib.config import THRESHOLDS, threshold
from lib.datasets import Dataset, Workspace
from lib.errors import BoundaryError
from lib.ingest import SUPPORTED
from lib.result import Flag, MetricResult, flags_frame
from lib.sample import load_samples

WORKSPACE_KEY = "workspace"


def workspace() -> Workspace:
    """This browser session's Workspace (its own DuckDB connection), created on first use."""
    if WORKSPACE_KEY not in st.session_state:
        st.session_state[WORKSPACE_KEY] = Workspace()
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
    labels = " or ".join(schemas.KINDS[k].label.lower() for k in kinds)
    upload = st.file_uploader(
        f"Upload {labels}", type=[e.lstrip(".") for e in SUPPORTED], key=f"upload_{key}",
        help="Excel (.xlsx, .xlsm, .xls, .ods) or CSV as your tool exports it — title rows, "
             "several sheets, ; or tab separators and decimal commas are fine.")
    if upload is not None:
        try:
            ws.load(upload.name, upload.getvalue(), kinds=kinds)
        except BoundaryError as exc:
            st.error(str(exc))
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


def _dataset_summary(ws: Workspace, dataset: Dataset, kinds: list[str], key: str) -> None:
    where = f", sheet “{dataset.sheet}”" if dataset.sheet and len(dataset.sheets) > 1 else ""
    if dataset.ready:
        st.caption(f"**{dataset.file_name}**{where} — {dataset.label}, {dataset.rows_read:,} rows. "
                   + " ".join(dataset.notes))
    else:
        st.error(dataset.missing_message())
    for line in dataset.bad_value_lines():
        st.warning(line)
    with st.expander("Columns", expanded=not dataset.ready):
        columns_panel(ws, dataset, kinds, key)


def columns_panel(ws: Workspace, dataset: Dataset, kinds: list[str], key: str) -> None:
    """How the file's columns were mapped, with a selectbox per canonical column to fix it."""
    kind_options = list(dict.fromkeys([dataset.kind, *kinds]))
    chosen = st.selectbox("This file is", kind_options, index=0, key=f"kind_{key}_{dataset.kind}",
                          format_func=lambda k: schemas.KINDS[k].label)
    if chosen != dataset.kind:
        ws.change_kind(dataset.kind, chosen)
        st.rerun()
    none = "— not in file —"
    options = [none, *dataset.columns]
    fixes: dict[str, str | None] = {}
    spec = schemas.KINDS[dataset.kind]
    cols = st.columns(2)
    for i, column in enumerate(spec.columns):
        current = dataset.mapping.get(column.name)
        label = column.label + (" *" if column.required or any(column.name in g for g in spec.one_of) else "")
        picked = cols[i % 2].selectbox(
            label, options, index=options.index(current) if current in options else 0,
            key=f"map_{key}_{dataset.kind}_{dataset.digest[:8]}_{column.name}")
        if picked != (current or none):
            fixes[column.name] = None if picked == none else picked
    st.caption("* needed for the analysis. Your choices are kept for this file for the rest of the session.")
    if fixes:
        try:
            ws.remap(dataset.kind, fixes)
        except BoundaryError as exc:
            st.error(str(exc))
        st.rerun()


def show_sql(result: MetricResult, label: str = "Show SQL") -> None:
    """The SQL and parameters behind a figure, so an analyst can check or rerun it in /sql."""
    with st.expander(label):
        st.code(result.sql.strip(), language="sql")
        if result.params:
            st.caption("Parameters: " + ", ".join(repr(p) for p in result.params))


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
    frame = flags_frame(flags, formatted=True)
    st.dataframe(frame, hide_index=True, key=f"flags_{key}", width="stretch")


def threshold_editor(area: str, key: str) -> None:
    """Number inputs for an area's thresholds; edits apply to every page and the report."""
    ws = workspace()
    for spec in (t for t in THRESHOLDS if t.area == area):
        current = ws.thresholds[spec.key]
        if spec.unit == "ratio":
            shown = st.number_input(f"{spec.label} (%)", value=round(current * 100, 4), step=0.05,
                                    format="%.2f", key=f"th_{key}_{spec.key}", help=spec.source)
            value = shown / 100
        else:
            value = st.number_input(spec.label, value=float(current), key=f"th_{key}_{spec.key}", help=spec.source)
        if value != current:
            ws.thresholds = ws.thresholds.with_value(spec.key, value)


def not_built(issue: int, what: str) -> None:
    st.info(f"The {what} analysis is not built yet (issue #{issue}). Loaded data is already "
            "available to every page and to the SQL notebook.")


def download_csv(frame: pd.DataFrame, name: str, key: str) -> None:
    st.download_button("Download CSV", frame.to_csv(index=False).encode("utf-8"), file_name=name,
                       mime="text/csv", key=f"dl_{key}")


__all__ = ["workspace", "dataset_section", "show_sql", "excluded_note", "flags_table",
           "threshold_editor", "not_built", "download_csv", "sample_button", "threshold"]

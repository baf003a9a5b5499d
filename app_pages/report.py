"""Boundary report — every red flag from every loaded dataset, and the analysis across pages."""

import pandas as pd
import streamlit as st

from lib.charts.report import lift_bars, two_series
from lib.config import THRESHOLDS, Thresholds
from lib.crosspage import CONDITIONS, available_series, correlate, lift, suggest_lift
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.export import build_workbook
from lib.periods import GRAINS
from lib.report import (AREA_LABELS, DENSE_CALENDAR_SHARE, calendar_rows, campaign_base_rate, flags_after_campaigns,
                        flags_summary, gather_flags, gather_tables, table_columns)
from lib.result import SEVERITIES, flags_frame
from ui.common import download_csv, excluded_note, sample_button, show_sql, show_table, threshold_editor, workspace
from ui.cache import session_cached, show_chart

# Each figure and chart once per session and arguments (ui.cache): the flags gather every page's analysis;
# the flag tables, the calendar and the lift section's columns (12 catalogue queries) once per data version.
(gather_flags, flags_after_campaigns, campaign_base_rate, available_series, correlate, suggest_lift, lift, two_series,
 lift_bars, flags_frame, flags_summary, calendar_rows, table_columns) = (
    session_cached(f) for f in (gather_flags, flags_after_campaigns, campaign_base_rate, available_series, correlate,
                                suggest_lift, lift, two_series, lift_bars, flags_frame, flags_summary, calendar_rows,
                                table_columns))
from ui.workspaces import typed_editor

st.title("Boundary report")
st.caption("Every red flag from every loaded dataset, with the questions to ask about it — then the "
           "campaign calendar, time correlation and lift across pages, and the workbook to hand over.")

ws = workspace()
if not any(d.ready for d in ws.datasets.values()):
    st.info("Nothing loaded yet. Load the sample data, or upload files on the pages.")
    sample_button("report")
    st.stop()

# Built only while open (a stateful expander reruns the page when opened): 8 areas' editors on every click.
thresholds_panel = st.expander("Thresholds — one set for every page and this report", key="report_thresholds",
                               on_change="rerun")
if thresholds_panel.open:
    with thresholds_panel:
        areas = sorted({t.area for t in THRESHOLDS},
                       key=lambda a: list(AREA_LABELS).index(a) if a in AREA_LABELS else 99)
        for tab, area in zip(st.tabs([AREA_LABELS.get(a, "All pages") for a in areas]), areas):
            with tab:
                threshold_editor(area, key="report")
        left, right = st.columns(2)
        left.download_button("Save thresholds (JSON)", ws.thresholds.to_json(), "boundary_thresholds.json",
                             mime="application/json", key="thresholds_save")
        saved = right.file_uploader("Load thresholds (JSON)", type=["json"], key="thresholds_load")
        if saved is not None and st.session_state.get("thresholds_loaded") != saved.file_id:
            try:
                ws.thresholds = Thresholds.from_json(saved.getvalue().decode("utf-8", "replace"), saved.name)
                st.session_state["thresholds_loaded"] = saved.file_id
                st.rerun()
            except BoundaryError as exc:
                st.error(escape_md(exc))

# Gathering runs every area's analysis: kept (ui.cache) until data, thresholds or inputs change.
with st.spinner("Gathering red flags from every page…"):  # shown only when it takes over half a second
    flags, notes = gather_flags(ws)
for note in notes:
    st.warning(escape_md(note))  # an area's error message names the file
table = flags_frame(flags, formatted=True)
tiles = st.columns(4)
tiles[0].metric("Red flags", len(table))
for column, severity in zip(tiles[1:], SEVERITIES):
    column.metric(severity.capitalize(), int((table["Severity"] == severity).sum()))

st.subheader("Red flags")
st.caption("By area and metric — the table below lists every flag with its test and the questions to ask.")
show_table(flags_summary(flags), width="stretch",
             column_config={"Latest period": st.column_config.DateColumn(format="YYYY-MM-DD")})
left, right = st.columns(2)
area_choice = left.multiselect("Area", sorted(table["Area"].unique()), key="report_areas")
severity_choice = right.multiselect("Severity", list(SEVERITIES), key="report_severity")
shown = table[table["Area"].isin(area_choice or table["Area"].unique())
              & table["Severity"].isin(severity_choice or SEVERITIES)]
show_table(shown, width="stretch", key="report_flags",
             column_config={"Period": st.column_config.DateColumn(format="YYYY-MM-DD")})
download_csv(shown, "boundary_flags.csv", key="report_flags")

st.subheader("Flags after campaigns")
calendar = ws.get("campaign_calendar")
if calendar is None:
    st.caption("No campaign calendar loaded. Type campaigns below (or upload one on any page's uploader).")
    no_date = pd.Series([None], dtype="datetime64[s]")
    typed = typed_editor("report_calendar", pd.DataFrame({"Campaign": [""], "Channel": ["email"],
                                                          "Start Date": no_date, "End Date": no_date}),
                         num_rows="dynamic", column_config={"Start Date": st.column_config.DateColumn(),
                                                            "End Date": st.column_config.DateColumn()})
    if st.button("Use this calendar", key="report_calendar_use"):
        try:
            ws.load("typed_calendar.csv", typed.dropna(subset=["Start Date"]).to_csv(index=False).encode(),
                    kind="campaign_calendar")
            st.rerun()
        except BoundaryError as exc:
            st.error(escape_md(exc))
else:
    days = st.slider("Days after a campaign start", 1, 90, 30, key="report_days")
    campaigns = calendar_rows(ws.con)
    after = flags_after_campaigns(flags, campaigns, days)
    st.caption(f"{after['Area'].size} flag–campaign pairs from {len(campaigns)} campaigns in "
               f"{escape_md(calendar.file_name)}: the flagged period starts 0–{days} days after the campaign "
               "started, or the campaign started inside it.")
    show_table(after, width="stretch")
    base = campaign_base_rate(flags, campaigns, days)
    if base.flagged and base.shifts:
        if base.p_value < 0.05:
            verdict = "flags follow campaigns more often than the calendar alone explains"
        elif base.expected_share >= DENSE_CALENDAR_SHARE:
            verdict = ("the calendar is too dense to tell: nearly any flag would follow some campaign, so this "
                       "says nothing either way — look at the campaigns one by one")
        else:
            verdict = "flags follow campaigns no more often than the calendar alone would make them"
        st.caption(f"{base.following} of {base.flagged} flags ({base.share:.0%}, counted once per area, metric "
                   f"and period) follow a campaign; with the calendar shifted day by day through the {base.shifts} "
                   f"days of the flags' span, {base.expected_share:.0%} would (the base rate): {verdict} "
                   f"(calendar-shift permutation test, p = {base.p_value:.2f}).")

st.subheader("Time correlation")
series = available_series(ws)
if len(series) < 2:
    st.caption("Load at least two datasets with dates to compare their trends.")
else:
    names = [s.name for s in series]
    c1, c2, c3 = st.columns([2, 2, 1])
    first = c1.selectbox("Series", names, index=0, key="corr_first")
    # Default to the SPEC's first question: do unsubscribes rise with send frequency?
    default = next((i for i, n in enumerate(names) if "unsubscribe" in n), min(1, len(names) - 1))
    second = c2.selectbox("against", names, index=default, key="corr_second")
    grain = c3.selectbox("Period", GRAINS[1:], index=0, key="corr_grain")
    a, b = (next(s for s in series if s.name == n) for n in (first, second))
    if a == b:
        st.caption("Pick two different series.")
    else:
        timed = correlate(ws, a, b, grain)
        joined, corr = timed.joined, timed.corr
        levels, changes = corr.levels, corr.changes
        if levels.n < 4:
            st.warning(f"Only {levels.n} complete periods have both series: too few to read a correlation.")
        else:
            st.metric("Correlation (Pearson r)", f"{levels.r:+.2f}",
                      help=f"n = {levels.n} complete periods with both series; 95% interval {levels.low:+.2f} to "
                           f"{levels.high:+.2f}; p = {levels.p_value:.3f}. Correlation is not causation.")
            on_changes = (f"r = {changes.r:+.2f} on the change from one {grain} to the next (n = {changes.n})"
                          if changes.n >= 4 and not pd.isna(changes.r) else
                          f"too few neighbouring {grain}s to correlate their changes")
            st.caption(f"r = {levels.r:+.2f} over {levels.n} {grain}s (95% interval {levels.low:+.2f} to "
                       f"{levels.high:+.2f}); {on_changes}.")
            if corr.shared_trend_only:
                st.info("**Shared trend, not co-movement:** both series drift over time, so their levels "
                        "correlate, but their ups and downs from one period to the next do not go together. "
                        "Two unrelated trending series correlate this way about half the time.")
            show_chart(two_series(joined, first, second, (a.unit, b.unit)))
        for note in timed.incomplete:
            st.caption(note + ".")
        excluded_note(timed.result)
        show_sql(timed.result.sql)

st.subheader("Lift")
st.caption("Outcome rate for rows that did something vs rows that did not — e.g. leads who attended a "
           "webinar → became customers. Both columns come from one table.")
ready = table_columns(ws.con, tuple(d.table for d in ws.datasets.values() if d.ready))
first = suggest_lift(ready) or {}
b_first, o_first = first.get("behaviour", (None, "is at least", "1")), first.get("outcome", (None, "is yes / not empty", ""))
c1, c2, c3, c4 = st.columns(4)
tables = list(ready)
table_name = c1.selectbox("Table", tables, index=tables.index(first["table"]) if first else 0, key="lift_table")
columns = [c for c, _ in ready[table_name]]


def _at(options: list[str], value: str | None, fallback: int = 0) -> int:
    return options.index(value) if value in options else min(fallback, len(options) - 1)


behaviour_col = c2.selectbox("Did (column)", columns, index=_at(columns, b_first[0]), key="lift_b_col")
behaviour_cond = c2.selectbox("Condition", list(CONDITIONS), index=_at(list(CONDITIONS), b_first[1]), key="lift_b_cond")
behaviour_value = c2.text_input("Value", b_first[2], key="lift_b_val")
outcome_col = c3.selectbox("Outcome (column)", columns, index=_at(columns, o_first[0], 1), key="lift_o_col")
outcome_cond = c3.selectbox("Outcome condition", list(CONDITIONS), index=_at(list(CONDITIONS), o_first[1]),
                            key="lift_o_cond")
outcome_value = c3.text_input("Outcome value", o_first[2], key="lift_o_val")
try:
    result, metric = lift(ws.con, table_name, (behaviour_col, behaviour_cond, behaviour_value),
                          (outcome_col, outcome_cond, outcome_value))
    c4.metric("Outcome rate if did", f"{result.did_rate:.1%}" if result.did_n else "—",
              delta=f"{100 * result.difference:+.1f} pts vs did not" if result.did_n and result.not_n else None,
              help=f"{result.did_n:,} did, {result.not_n:,} did not; p = {result.p_value:.3f}")
    did = f"{behaviour_col} {behaviour_cond} {behaviour_value}".strip() if CONDITIONS[behaviour_cond] != "truthy" \
        else f"{behaviour_col}: yes"
    bars = pd.DataFrame({"group": [did, "did not"], "rate": [result.did_rate, result.not_rate],
                         "low": [result.did_low, result.not_low], "high": [result.did_high, result.not_high],
                         "n": [result.did_n, result.not_n]})
    show_chart(lift_bars(bars), width="stretch")
    show_sql(metric)
except (BoundaryError, ValueError) as exc:
    st.error(f"Lift cannot be computed with these choices: {escape_md(exc)}")

st.subheader("Export")
if st.button("Build the Excel workbook", key="report_build"):
    with st.spinner("Writing a sheet per page…"):
        data, warnings = build_workbook(gather_tables(ws), flags_frame(flags), ws.thresholds)
    st.session_state["report_workbook"] = data
    for warning in warnings:
        st.warning(warning)
if "report_workbook" in st.session_state:
    st.download_button("Download boundary_report.xlsx", st.session_state["report_workbook"], "boundary_report.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="report_download")

"""The NCVG page's sections on trials and renewals and on churn after an incident, kept out of
app_pages/ncvg.py (page budget). Each takes the page's metrics module `m` (memoised per session by
ui.cache); the numbers all come from lib.metrics.ncvg."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.charts import ncvg as charts
from lib.errors import BoundaryError
from lib.markup import escape_md
from ui.cache import session_cached, show_chart
from ui.common import download_csv, excluded_note, presenting, show_sql, show_table
from ui.workspaces import typed_editor

charts = session_cached(charts)


def incident_section(m, ws, con, b) -> None:
    """Incidents uploaded or typed (kept with the workspace), and the share of customers hit by one who
    left within N days against customers paying on the same days but not hit (CMH by day). `b`: the
    page's `m.counts_basis` (no value is read, so MRR and ARR share the figure)."""
    st.subheader("Churn after an incident")
    upload = None if presenting() else st.file_uploader(
        "Upload incidents (customer, incident date, description)", type=["csv", "xlsx", "xls"], key="ncvg_incidents_upload")
    if upload is not None:
        try:
            ws.load(upload.name, upload.getvalue(), kind="incidents")
        except BoundaryError as exc:
            st.error(escape_md(exc))
    loaded = ws.get("incidents")
    seed = (m.loaded_incidents(con, loaded.table, set(loaded.mapping)) if loaded is not None else
            pd.DataFrame({"customer_id": pd.Series([], dtype="string"), "incident_date": pd.Series([], dtype="datetime64[us]"),
                          "description": pd.Series([], dtype="string")}))
    st.caption("Type or paste incidents below (one row per customer hit), or upload a file.")
    typed = typed_editor("ncvg_incidents", seed, num_rows="dynamic", hide_index=True, column_config={
        "customer_id": st.column_config.TextColumn("Customer"), "incident_date": st.column_config.DateColumn("Incident date"),
        "description": st.column_config.TextColumn("Description")}, width="stretch", height=220)
    window = st.number_input("Count customers who left within N days", min_value=1, step=1, key="ncvg_window",
                             value=int(ws.thresholds["ncvg_incident_window_days"]))
    if len(typed):
        incident = m.incident_churn(con, b, m.store_incidents(con, typed), window)
        if incident.frame.empty:
            st.write("None of these customers was paying on their incident day in this currency.")
        else:
            pooled = incident.frame.iloc[-1]
            p_text = "—" if pd.isna(pooled["p_value"]) else ("< 0.001" if pooled["p_value"] < 0.001
                                                              else "= " + format(pooled["p_value"], ".3f"))
            st.write(f"**{pooled['affected_share']:.1%}** of {pooled['affected']:,} customers hit by an incident left "
                     f"within {window} days, against **{pooled['unaffected_share']:.1%}** of customers paying on the "
                     f"same days but not hit ({pooled['unaffected']:,} customer-days). Each incident day is compared "
                     f"with its own customers, so no one is counted twice (Cochran–Mantel–Haenszel by day: odds ratio "
                     f"{pooled['odds_ratio']:.2f}, p {p_text}).")
            show_chart(charts.incident_chart(incident.frame.iloc[:-1], window), width="stretch")
            show_table(incident.frame, width="stretch")
            download_csv(incident.frame, "ncvg_incident_churn.csv", "ncvg_incidents")
        excluded_note(incident)
        show_sql(incident)


def trials_section(m, ws, con, b, grain: str) -> None:
    """Trials that did not convert and subscriptions not renewed: tiles, trials per period, renewals.
    `b`: the page's `m.counts_basis` (no value is read, so MRR and ARR share the figures)."""
    st.subheader("Trials that did not convert, subscriptions not renewed")
    trial_days = dict(window_days=ws.thresholds["ncvg_trial_conversion_window_days"],
                      default_trial_days=ws.thresholds["ncvg_default_trial_days"])
    trials = m.first_row(m.trial_conversion(con, b, **trial_days).frame)
    renew = m.renewals(con, b, ws.thresholds["ncvg_renewal_grace_days"])
    r = m.first_row(renew.frame)
    trial_tiles = m.trial_renewal_tiles(trials, r, ws.thresholds["ncvg_renewal_grace_days"])
    for column, (label, value, help_text) in zip(st.columns(2), trial_tiles[:2]):
        column.metric(label, value, help=help_text)
    st.caption(m.trial_rule(**trial_days) + (f" {trials['assumed_length']:,} trials had no trial end and were closed "
                                             "at the assumed length." if trials["assumed_length"] else ""))
    by_trial = m.trial_conversion(con, b, grain, **trial_days, rows=m.trial_rows(con, b, **trial_days))
    if trials["trials"]:
        show_chart(charts.trials_chart(by_trial.frame), width="stretch")
    for column, (label, value, help_text) in zip(st.columns(3), trial_tiles[2:]):
        column.metric(label, value, help=help_text)
    show_table(renew.frame, width="stretch")
    show_sql(by_trial, "Show SQL (trials)")
    show_sql(renew, "Show SQL (renewals)")

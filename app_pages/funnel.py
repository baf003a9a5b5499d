"""Funnel — where do leads stall, and what do nurture programs cost?"""

import pandas as pd
import streamlit as st

from lib.charts import funnel as charts
from lib.charts.common import with_campaigns
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.metrics import funnel as fm
from lib.metrics import lead_scoring as ls
from lib.periods import GRAINS
from ui import funnel_sections as sections
from ui.funnel_sections import formats, table
from ui.common import (campaign_overlay, dataset_section, download_csv, excluded_note, flags_table, presenting,
                       show_sql, show_table, threshold_editor, workspace)
from ui.cache import session_cached, show_chart
from ui.workspaces import typed_editor

fm = session_cached(fm)  # each figure once per session and arguments (ui.cache)
ls = session_cached(ls)
charts = session_cached(charts)
with_campaigns = session_cached(with_campaigns)

st.title("Funnel")
st.caption("Where do leads stall, how fast do they move, which campaigns bring leads that convert, "
           "and what does an MQL cost? Upload a leads/contacts export (HubSpot, Salesforce) or a lead stage history.")
dataset_section(["leads", "lead_stages", "campaign_costs"], key="funnel")
ws, con = workspace(), workspace().con
leads = ws.get("leads") or ws.get("lead_stages")
if leads is None:
    if ws.get("campaign_costs"):
        st.info("Costs are loaded. Now upload a leads export to see the funnel and cost per MQL.")
    st.stop()
try:
    closed = st.session_state.get("funnel_closed_deals")
    own_stages = fm.available_stages(con, fm.source_for(leads, None))  # what the leads file dates by itself
    if leads.kind == "leads" and not presenting():
        # opened for a file that dates one stage only (Olist's MQL file): joining is the way on
        with st.expander("Join a second file on lead ID (e.g. closed deals)",
                         expanded=closed is None and len(own_stages) == 1):
            extra = st.file_uploader("Closed deals / won leads (lead ID + won date)", type=["csv", "xlsx", "xls", "ods"],
                                     key="upload_funnel_closed")
            if extra is not None and (closed is None or closed.file_name != extra.name):
                closed = st.session_state["funnel_closed_deals"] = fm.attach_closed_deals(ws, extra.name, extra.getvalue())
            if closed is not None:
                st.caption(f"Joined **{escape_md(closed.file_name)}** ({closed.rows_read:,} rows) on lead ID: its dates fill "
                           "stages the leads file lacks; the earliest date of a stage wins.")
    joined = leads.kind == "leads" and closed is not None
    src = fm.source_for(leads, closed if joined else None)
    available = fm.available_stages(con, src) if joined else own_stages
    if not available:
        st.error(f"{escape_md(leads.file_name)}: no stage dates found. Map the created / stage date columns under “Columns”.")
        st.stop()
    if len(available) == 1:
        st.info(f"{escape_md(leads.file_name)} has dates for one stage only ({escape_md(available[0])}), so there is no conversion to "
                "show yet. Join a file with later stages on lead ID above — e.g. closed deals with a won date "
                "(Olist's closed deals, a CRM opportunities export) — or map more stage dates under “Columns”.")
    # built only while open (a stateful expander reruns the page when opened): not on every click
    thresholds_panel = st.expander("Thresholds (conversion window, MQL score, slow campaigns)",
                                   key="funnel_thresholds", on_change="rerun")
    if thresholds_panel.open:
        with thresholds_panel:
            threshold_editor("funnel", key="funnel")
    th = ws.thresholds
    window = float(th["funnel_conversion_window_days"])
    c1, c2, c3 = st.columns([3, 2, 1])
    stages = c1.multiselect("Funnel stages, in order (pick in the order leads move)", available,
                            default=fm.default_stages(available), key="funnel_stages_" + "|".join(available))
    if not stages:
        st.warning("Pick at least one stage.")
        st.stop()
    lo, hi = fm.entry_range(con, src, stages)
    if lo is None:
        st.error(f"{escape_md(leads.file_name)}: no lead has a readable date at the chosen stages. Check the date columns "
                 "under “Columns”, or pick other stages.")
        st.stop()
    picked = c2.date_input("Leads who entered between", (lo.date(), hi.date()), min_value=lo.date(),
                           max_value=hi.date(), key=f"funnel_range_{lo:%Y%m%d}_{hi:%Y%m%d}")
    grain = c3.selectbox("Period", GRAINS[1:4], index=1, key="funnel_grain")
    start = pd.Timestamp(picked[0]) if picked else lo
    end = pd.Timestamp(picked[-1]) + pd.Timedelta(days=1) if picked else hi + pd.Timedelta(days=1)

    # ------------------------------------------------------------------ headline
    # the rows left out and the data's end, read once per source and stages (not again on a window change)
    excluded, last = fm.exclusions(con, src, stages), fm.data_end(con, src, stages)
    reach = fm.reach_frame(con, src, stages)  # each lead's stage dates: the window's figures count from it
    result = fm.funnel_stages(con, src, stages, start, end, window, excluded=excluded, reach=reach)
    counts = dict(zip(result.frame["stage"], result.frame["leads"]))
    cols = st.columns(6)
    for col, (stage, label) in zip(cols, fm.TILE_LABELS.items()):
        col.metric(label, f"{int(counts[stage]):,}" if stage in counts else "—",
                   help=f"Leads that entered in the range and reached {stage} or a later stage within "
                        f"{window:g} days of entering" if stage in counts else f"No {stage} stage in this funnel.")
    ok = "Lead" in counts and "Customer" in counts and counts["Lead"]
    cols[5].metric("Lead → Customer", f"{counts['Customer'] / counts['Lead']:.1%}" if ok else "—",
                   help=f"Customers / Leads: {int(counts.get('Customer', 0)):,} / {int(counts.get('Lead', 0)):,}, "
                        f"both counted within the {window:g}-day window.")
    cohort = fm.cohort_frame(con, src, stages, start, end, window, reach)  # counted below and by lead scoring
    open_n = fm.still_in_window(con, src, stages, start, end, window, last=last, cohort=cohort)
    st.caption(f"The date range picks who **entered** (first recorded stage date); a conversion counts when it "
               f"happens within {window:g} days of entering, **even after the range ends**. "
               f"{open_n:,} of these leads entered less than {window:g} days before the data ends, so they may still "
               "convert. A lead counts at a stage if it reached it or any later stage: a **skipped** stage (no date, "
               "later stage reached) counts as reached. **Out-of-order** dates are counted and shown; time between "
               "stages uses only pairs in order.")

    st.subheader("Where do leads stall?")
    show_chart(charts.funnel_chart(result.frame), width="stretch")
    table(result, "funnel", "stages", pct=("pct_of_start", "pct_of_previous", "drop_off_pct"),
          hide=("p25_days", "p75_days", "p90_days"))

    st.subheader("How long between stages?")
    dist = fm.stage_duration_distribution(con, src, stages, start, end, window, reach)
    if len(dist.frame):
        show_chart(charts.duration_heatmap(dist.frame), width="stretch")
        days = result.frame[["stage", "days_n", "p25_days", "median_days", "p75_days", "p90_days", "out_of_order"]]
        show_table(days.iloc[1:], width="stretch", key="t_days", column_config=formats(days))
        show_sql(dist)
    else:
        st.info("Needs two stages with dates in order.")

    groups = [g for g in fm.GROUPINGS if g in src.columns]  # the groupings the conversion flags test
    sections.group_breakdown(fm, charts, con, leads, src, stages, start, end, window, th)  # a fragment

    st.subheader("Cohorts: funnel by created month")
    res = fm.funnel_by_cohort(con, src, stages, "month", start, end, window, excluded=excluded, last=last,
                              cohort=cohort)
    show_chart(charts.cohort_heatmap(res.frame, stages), width="stretch")
    table(res, "funnel_cohorts", "cohorts", pct=("conversion", "conversion_low", "conversion_high"))

    # ------------------------------------------------------------------ nurture
    st.subheader("Nurture: new leads, MQLs, re-opened leads")
    days = fm.stage_entry_days(con, src, stages, start, end)  # once per range: a period change sums them, no query
    res = fm.stage_entries_by_period(con, src, stages, grain, start, end, days, fm.data_end(con, src, stages))
    campaigns = campaign_overlay("funnel")
    show_chart(with_campaigns(charts.entries_chart(res.frame, stages[:2], grain), campaigns), width="stretch")
    if res.frame["incomplete"].any():
        st.caption(f"The last {grain} is incomplete: the data stops before it ends.")
    table(res, "leads_per_period", "entries", shown=res.frame.pivot_table(
        index="period", columns="stage", values="leads", aggfunc="sum", fill_value=0).reindex(
        columns=stages, fill_value=0).reset_index())
    reo = fm.reopened_leads(con, src, stages, grain, start, end)
    st.metric("Re-opened leads", f"{int(reo.frame['reopened'].sum()):,}" if "--" not in reo.sql else "—",
              help="Leads disqualified (or sent back to an earlier stage) that later reached a stage again.")
    if "--" in reo.sql:
        st.caption("Re-opened leads need a disqualified date column (leads file) or a stage history.")
    elif len(reo.frame):
        show_chart(charts.reopened_chart(reo.frame, grain), width="stretch")
        show_sql(reo)

    # ------------------------------------------------------------------ lead scoring
    if leads.kind == "leads":
        st.subheader("Lead scoring: who qualifies, and why?")
        st.caption("Points per behaviour (repeatable up to the cap) plus fit points from the profile; edit the "
                   "rules. Every lead's score is the sum of the rules that fired (its ledger). Decay is not applied.")
        edited = typed_editor("funnel_rules", ls.default_rules(leads), num_rows="dynamic", hide_index=True,
                              width="stretch", column_config={
                                    "Kind": st.column_config.SelectboxColumn(options=list(ls.KINDS)),
                                    "Column": st.column_config.SelectboxColumn(options=ls.scoring_columns(leads)),
                                    "How": st.column_config.SelectboxColumn(
                                        options=[h for hs in ls.HOWS.values() for h in hs])})
        rules = ls.resolve_rules(leads, edited)
        if not rules and "lead_score" not in leads.mapping:
            st.info("No scoring rules yet: this file has no behaviour counts (email opens, page views, webinars…) "
                    "or profile fields (industry, company size, job title) to score, nor a score of its own. "
                    "Add a rule in the table above on any column of the file.")
    if leads.kind == "leads" and (rules or "lead_score" in leads.mapping):
        sections.scoring_results(fm, ls, charts, con, leads, src, rules, stages, start, end, window, grain, th)

    # ------------------------------------------------------------------ cost per MQL
    st.subheader("What does an MQL cost?")
    mql = next((s for s in stages if s == "MQL"), stages[min(1, len(stages) - 1)])
    costs = ws.get("campaign_costs")
    if "campaign" not in src.columns:
        st.info("Cost per MQL needs a campaign column in the leads file.")
    else:
        if costs is None:
            st.caption("No cost file loaded: type costs per campaign below (or upload a cost table above).")
            typed = typed_editor("funnel_costs", pd.DataFrame({"campaign": pd.Series(dtype="str"),
                                                               "cost": pd.Series(dtype="float")}),
                                 num_rows="dynamic", width="stretch")
        table_name = costs.table if costs else fm.store_typed_costs(ws, typed.dropna(how="all"))
        sections.cost_results(fm, charts, con, src, stages, table_name, mql, start, end, window)
    sections.programs(fm, charts, con, leads, closed if joined else None, src, stages,
                      table_name if "campaign" in src.columns else None, mql, start, end, window)

    # ------------------------------------------------------------------ campaign quality
    st.subheader("Campaign quality")
    by = "campaign" if "campaign" in src.columns else "source" if "source" in src.columns else None
    if by:
        res = fm.campaign_quality(con, src, stages, by, start, end, window, alpha=th["baseline_alpha"],
                                  min_group=int(th["min_group_size"]), slow_ratio=th["funnel_slow_ratio_max"],
                                  excluded=excluded, reach=reach)
        if res.frame["disq_rate"].notna().any():
            show_chart(charts.quality_chart(res.frame, by), width="stretch")
        table(res, "campaign_quality", "quality", pct=("disq_rate", "rest_rate"))
        conv = fm.conversion_tests(con, src, stages, groups, start, end, window, th["baseline_alpha"],
                                   int(th["min_group_size"]), reach=reach) if len(stages) > 1 else None
        st.caption("Each group is tested against all other leads — disqualification per group, conversion per group "
                   "and step — and each family of tests is adjusted for how many it holds (Benjamini–Hochberg; "
                   "“high” only at Bonferroni level), so a flag is unlikely to be one of the many chance differences. "
                   f"Groups under {th['min_group_size']:.0f} leads are shown, not tested.")
        flags_table(fm.quality_flags(res.frame, by, stages, th) + (fm.conversion_flags(conv) if conv is not None else []),
                    key="funnel")
except BoundaryError as exc:
    st.error(escape_md(exc))

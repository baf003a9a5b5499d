"""Cohorts — Do new customers keep coming back, and which groups retain better?"""

import math

import streamlit as st

from lib.charts import cohorts as charts
from lib.charts.common import with_campaigns
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.metrics import cohorts as m
from ui.common import (campaign_overlay, dataset_section, download_csv, excluded_note, flags_table, show_sql,
                       show_table, threshold_editor, workspace)
from ui import cohorts_sections
from ui.cache import session_cached, show_chart

m = session_cached(m)  # each figure once per session and arguments (ui.cache)
charts = session_cached(charts)
with_campaigns = session_cached(with_campaigns)

st.title("Cohorts")
st.caption("Do new customers keep coming back, and which groups retain better?")
dataset = dataset_section(["activity"], key="cohorts")
if dataset is None:
    st.stop()
CHART_HEIGHT = 380  # pixels per chart, so titles and legends leave the plot room
ws = workspace()
con, table = ws.con, dataset.table

# ---- the retention definition, explicit and switchable (SPEC §9)
c1, c2, c3, c4 = st.columns(4)
grain = c1.radio("Cohorts by", ["month", "week"], format_func=str.capitalize, horizontal=True, key="coh_grain")
signup_ok = m.has_signup(con, table)
cohort_by = c2.radio("Cohort starts at", ["first_activity", "signup"], horizontal=True, key="coh_by",
                     format_func=lambda v: "First activity" if v == "first_activity" else "Signup date",
                     disabled=not signup_ok,
                     help=None if signup_ok else "The file has no signup date column (map one under “Columns”).")
mode = c3.radio("Periods", ["calendar", "rolling"], format_func=str.capitalize, horizontal=True, key="coh_mode",
                help="Calendar: month N is the N-th calendar month after the cohort's. Rolling: the N-th "
                     "30-day (or 7-day) window after each user's own start.")
rule = c4.radio("Retained in period N means", ["in", "on_or_after"], horizontal=True, key="coh_rule",
                format_func=lambda v: "Returned in N" if v == "in" else "In N or later")
try:
    opts = m.CohortOptions(grain=grain, mode=mode, rule=rule, cohort_by=cohort_by if signup_ok else "first_activity")
    # summed from the group section's cells when it can be (the same frame; one pass over the events)
    matrix = m.retention_matrix(con, table, opts, via=cohorts_sections.shown_attribute(m, con, table, dataset, ws))
except BoundaryError as exc:
    st.error(escape_md(exc))
    st.stop()
st.caption(opts.describe())
if matrix.frame.empty:
    st.warning(f"{escape_md(dataset.file_name)}: no usable rows (each needs a user id and a readable event time). "
               + matrix.excluded_text() + " Check the mapping under “Columns”.")
    st.stop()
frame = matrix.frame
curve = m.average_retention(matrix, opts).frame
unit = opts.unit
first_n, later_n = (1, 3) if grain == "month" else (1, 4)

# ---- headline tiles
sizes = frame.loc[frame["period"] == 0]
t1, t2, t3, t4 = st.columns(4)
t1.metric("Users", f"{int(sizes['cohort_size'].sum()):,}",
          help="Distinct users with at least one usable event (a user id, a readable time, not a cancellation).")
t2.metric("Cohorts", f"{len(sizes):,}", help=f"{unit}s in which at least one user started.")
for tile, n in ((t3, first_n), (t4, later_n)):
    rate, base = m.period_retention(curve, n)
    retained = int(curve.loc[curve["period"] == n, "users"].sum())
    tile.metric(f"{unit} {n} retention", "—" if math.isnan(rate) else f"{rate:.1%}",
                help=f"The average curve at {unit.lower()} {n}: chained over the cohorts whose {unit.lower()} "
                     f"{n} is complete ({base:,} users, {retained:,} of them active then), so cohorts too young "
                     "to have that period do not pull the average up or down.")
excluded_note(matrix)
if "no user id" in matrix.excluded:
    st.caption(f"{matrix.excluded['no user id']:,} rows have no user id (e.g. order lines without a customer id): "
               "they cannot be followed over time, so no cohort figure includes them.")

# ---- repeat purchase: a headline beside the matrix, for order lines
if m.has_orders(con, table):
    st.subheader("Do customers order again?")
    r1, r2 = st.columns([1, 2])
    with r1:
        threshold_editor("cohorts", key="cohorts")
    days = float(ws.thresholds["cohorts_repeat_days"])
    try:
        repeat = m.repeat_purchase(con, table, days)
        rep = repeat.frame.iloc[0]
        r2.metric(f"Repeat purchase within {days:g} days", f"{rep['share']:.1%}" if rep["eligible"] else "—",
                  help=f"Customers who ordered again within {days:g} days of their first order ÷ customers whose "
                       f"first order is at least {days:g} days before the data ends: {int(rep['repeaters']):,} / "
                       f"{int(rep['eligible']):,}.")
        r2.caption((f"{int(rep['repeaters']):,} of {int(rep['eligible']):,} customers (95% interval "
                    f"{rep['low']:.1%}–{rep['high']:.1%})"
                    + (f"; median {rep['median_days_to_second']:.0f} days to the second order. " if rep["repeaters"]
                       else ". ") if rep["eligible"] else "No customer's first order is early enough to tell. ")
                   + f"{int(rep['too_recent']):,} customers whose first order is less than {days:g} days before the "
                   f"data ends ({rep['data_end']:%d %b %Y}) are left out: they have not had {days:g} days yet. An order "
                   + ("is one order ID; " if "order_id" in dataset.mapping else "is one paid time (a row with revenue); ")
                   + "cancellations are not orders.")
        show_sql(repeat)
    except BoundaryError as exc:
        st.error(escape_md(exc))

# ---- retention matrix
st.subheader("Retention matrix")
shown = st.radio("Show", ["retention", "users"], horizontal=True, key="coh_matrix_value",
                 format_func=lambda v: "% of cohort" if v == "retention" else "Users")
show_chart(charts.retention_heatmap(frame, shown, unit), width="stretch",
                height=charts.heatmap_height(frame) + 140)
open_cells = frame.loc[~frame["complete"]]
if len(open_cells):
    st.caption(f"{len(open_cells)} cell(s) marked * are incomplete: the data ends on "
               f"{m.data_end(con, table):%d %b %Y}, before their period does, so a lower number there is "
               "not yet a drop. Averages and tiles use complete cells only.")
if cohort_by == "first_activity":
    st.caption(f"The first cohort ({frame['cohort_label'].iloc[0]}) may include users who were active before "
               "the data starts: it is the earliest *seen* activity.")
show_table(charts.matrix_table(frame, shown), width="stretch")
download_csv(frame.drop(columns=["cohort_label"]), "cohort_retention.csv", key="coh_matrix")
show_sql(matrix)

# ---- average curve
st.subheader("Average retention curve")
show_chart(charts.retention_curves(curve, unit), width="stretch", height=CHART_HEIGHT)
st.caption("Chained, life-table style: each step N−1 → N is Σ retained in N ÷ Σ retained in N−1 over the cohorts "
           "complete at both, and the curve multiplies the steps — so it does not jump when the youngest cohorts "
           "drop out (while no cohort drops out it equals Σ retained ÷ Σ cohort users, the *Plain average* column). "
           "*Fewer cohorts* marks the periods where the set of cohorts behind a step shrinks.")
show_table(curve.drop(columns=["revenue_per_user", "revenue_retention"]), width="stretch",
             column_config={"period": unit, "cohorts": "Cohorts", "base_users": "Users (cohorts old enough)",
                            "users": "Retained", "retention": st.column_config.NumberColumn("Retention", format="percent"),
                            "pooled": st.column_config.NumberColumn("Plain average", format="percent"),
                            "set_changed": "Fewer cohorts",
                            "lo": st.column_config.NumberColumn("95% low", format="percent"),
                            "hi": st.column_config.NumberColumn("95% high", format="percent")})
download_csv(curve, "average_retention.csv", key="coh_curve")

# ---- revenue retention
if m.has_revenue(con, table):
    st.subheader("Revenue retention")
    show_chart(charts.revenue_curve(curve, unit), width="stretch", height=CHART_HEIGHT)
    if frame["revenue_retention"].notna().any():
        st.caption("Revenue retention = the cohort's revenue in period N ÷ its revenue in period 0.")
        show_table(charts.matrix_table(frame, "revenue_retention"), width="stretch")
    else:
        st.caption(f"No cohort had revenue in its {unit.lower()} 0, so revenue retention against period 0 "
                   "cannot be computed; revenue per cohort user above shows the money instead.")
    st.caption("Revenue is gross sales: cancellations and returns are not activity and not revenue"
               + (" (counted above)." if any("cancellation" in k for k in matrix.excluded) else "; this file has none."))
    download_csv(m.wide(frame, "revenue"), "cohort_revenue.csv", key="coh_revenue")
    show_sql(matrix)

# ---- active users
st.subheader("DAU, WAU, MAU and stickiness")
active = m.active_users(con, table)
act = active.frame
if len(act):
    last = act.iloc[-1]
    a1, a2, a3, a4 = st.columns(4)
    a1.metric("MAU (last 30 days)", f"{int(last['mau']):,}", help="Distinct users active in the 30 days to the last day.")
    a2.metric("WAU (last 7 days)", f"{int(last['wau']):,}", help="Distinct users active in the 7 days to the last day.")
    a3.metric("DAU/MAU", f"{last['dau_mau']:.1%}" if last["dau_mau"] == last["dau_mau"] else "—",
              help="Mean daily active users over the last 30 days ÷ MAU.")
    a4.metric("WAU/MAU", f"{last['wau_mau']:.1%}" if last["wau_mau"] == last["wau_mau"] else "—",
              help="WAU ÷ MAU on the last day.")
    campaigns = campaign_overlay("cohorts")
    show_chart(with_campaigns(charts.active_users_chart(act), campaigns, "day"), width="stretch",
                    height=CHART_HEIGHT)
    show_chart(charts.stickiness_chart(act), width="stretch", height=CHART_HEIGHT)
    st.caption("Charts start once a full 30-day window of data exists; the last day may be partial.")
    download_csv(act, "active_users.csv", key="coh_active")
show_sql(active)

# ---- group comparison (a fragment: its widgets rerun the section alone)
cohorts_sections.group_comparison(m, charts, con, table, dataset, ws, opts, unit, first_n, later_n, CHART_HEIGHT)

# ---- red flags
st.subheader("Red flags")
flags_table(m.cohort_flags(frame, ws.thresholds, 1), key="cohorts")

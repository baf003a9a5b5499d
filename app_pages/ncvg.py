"""Net customer value growth — How many customers, worth how much, did we gain and lose?"""

import pandas as pd
import streamlit as st

from lib.charts import ncvg as charts
from lib.charts.common import with_campaigns
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.metrics import ncvg as m
from ui.common import (campaign_overlay, dataset_section, download_csv, excluded_note, flags_table,
                       show_sql, show_table, threshold_editor, workspace)
from ui.cache import session_cached, show_chart
from ui.ncvg_sections import incident_section, trials_section

m = session_cached(m)  # each figure once per session and arguments (ui.cache)
charts = session_cached(charts)
with_campaigns = session_cached(with_campaigns)

st.title("Net customer value growth")
st.caption("How many customers, worth how much, did we gain and lose?")
dataset = dataset_section(["subscriptions", "value_history", "customers"], key="ncvg")
if dataset is None:
    st.stop()
ws = workspace()
con = ws.con.cursor()  # own cursor: an overlapping rerun may still hold the session connection
subs, hist, customers = ws.get("subscriptions"), ws.get("value_history"), ws.get("customers")

# ---- a customer file alone: counts only
if subs is None and hist is None:
    totals = m.first_row(m.customers_totals(con, customers.table, set(customers.mapping)).frame)
    t1, t2, t3 = st.columns(3)
    t1.metric("New customers", f"{totals['new_customers']:,}", help="Customers with a signup date (whole file).")
    t2.metric("Lost customers", f"{totals['lost_customers']:,}",
              help=f"Customers with a churn date or churned flag (whole file); {totals['lost_undated']:,} have no date.")
    t3.metric("Net customers", f"{totals['net_customers']:,}", help="New customers − lost customers.")
    st.info("A customer file carries no recurring value: load a subscriptions export (Stripe, Chargebee, "
            "ChartMogul…) above for new, lost and net value, the waterfall, trials and incidents.")
    grain = st.radio("Period", m.GRAINS, format_func=str.capitalize, horizontal=True, key="ncvg_grain_c")
    result = m.customers_by_period(con, customers.table, set(customers.mapping), grain)
    campaigns = campaign_overlay("ncvg_customers")
    show_chart(with_campaigns(charts.customers_chart(result.frame), campaigns, "label", grain), width="stretch")
    excluded_note(result)
    show_table(result.frame.drop(columns="period"), width="stretch", column_config={"label": "Period"})
    download_csv(result.frame, "ncvg_customers_by_period.csv", "ncvg_customers")
    show_sql(result)
    st.stop()

# ---- settings: source, currency, MRR/ARR, period, as-of date, range
src = hist or subs
if subs is not None and hist is not None:
    src = ws.get(st.radio("Value movements from", ["value_history", "subscriptions"], horizontal=True, key="ncvg_source",
                          format_func=lambda k: ws.get(k).label, help="A value history dates every change of a "
                          "customer's MRR; subscriptions also give plan moves, trials, renewals and incident churn."))
st.caption(f"Figures below come from **{escape_md(src.file_name)}** ({src.label}).")
columns = frozenset(src.mapping)
found = m.currencies(con, src.table, columns).frame
c1, c2, c3, c4 = st.columns(4)
currency = None
if "currency" in columns:
    rows = dict(zip(found["currency"], found["rows"]))
    currency = c1.selectbox("Currency", list(rows), key=f"ncvg_currency_{src.kind}", format_func=lambda c: f"{c} ({rows[c]:,} rows)",
                            help="Amounts in different currencies are never added together.")
value = c2.radio("Value", m.VALUE_MODES, format_func=str.upper, horizontal=True, key="ncvg_value")
grain = c3.radio("Period", m.GRAINS, format_func=str.capitalize, horizontal=True, key="ncvg_grain")
data_as_of = m.data_as_of(con, src.table, columns)
if data_as_of is None:
    st.error(f"{escape_md(src.file_name)}: no readable dates. Check the date columns under “Columns”.")
    st.stop()
as_of = c4.date_input("Data as of", value=data_as_of.date(), key=f"ncvg_as_of_{src.kind}",
                      help="Default: the latest start date (or ended subscription's end date) in the file. "
                           "Ends after this date are scheduled cancellations, not losses yet.")
gaps = "explicit" if src.kind != "value_history" else st.radio(
    "A customer stops paying when", m.GAP_RULES, horizontal=True, key=f"ncvg_gaps_{src.digest[:8]}",
    index=m.GAP_RULES.index(m.default_gaps(columns)), format_func=m.GAP_LABELS.get)
cents = src.kind == "value_history" and st.checkbox(
    "Amounts in cents (divide by 100)", value=m.default_cents(columns), key=f"ncvg_cents_{src.digest[:8]}",
    help="ChartMogul writes MRR in cents; ticked for its files. Untick if the figures are already money.")
try:
    b = m.make_basis(con, src, currency, value, pd.Timestamp(as_of), gaps, cents)
    counted = m.counts_basis(b)  # what reads no value: one copy for MRR and ARR, so a value click skips it
    span = m.data_range(con, counted)
except BoundaryError as exc:
    st.error(escape_md(exc))
    st.stop()
if span is None:
    st.warning(f"{escape_md(src.file_name)}: no subscription was paying by {b.as_of:%d %b %Y} in this currency "
               "(trials only, or all start later). Pick another currency or a later as-of date.")
    st.stop()
picked = st.date_input("Range", value=(span[0].date(), span[1].date()), min_value=span[0].date(),
                       max_value=span[1].date(), key=f"ncvg_range_{src.kind}")
start, end = (pd.Timestamp(picked[0]), pd.Timestamp(picked[1])) if len(picked) == 2 else span
with st.expander("How these numbers are counted", expanded=b.source != "subscriptions"):
    st.markdown(m.history_rules(b) if b.source != "subscriptions" else m.subscription_rules(b))

# ---- headline tiles over the range
facts = m.basis_facts(con, counted)  # first movement and exclusions: the basis's alone, read once
# the basis's movements, read once: the totals and a change of period or range sum them in pandas, no query
moves = m.period_moves(con, b)
totals_result = m.ncvg_totals(con, b, start, end, facts, moves)
t = m.first_row(totals_result.frame)
where = f"{start:%d %b %Y} – {end:%d %b %Y}"
tiles = st.columns(6)
tiles[0].metric("New customers", f"{t['new_customers']:,}", help=f"Customers whose paying run started {where} "
                f"(first time or returning; {t['returning_customers']:,} returning).")
tiles[1].metric("Lost customers", f"{t['lost_customers']:,}", help=f"Customers whose value fell to 0 {where}.")
tiles[2].metric("Net customers", f"{t['net_customers']:+,}", help="New customers − lost customers: "
                f"{t['customers_start']:,} paying before the range → {t['customers_end']:,} at its end.")
vl = b.value_label
tiles[3].metric("New value", b.money(t["new_value"], compact=True),
                help=f"{b.money(t['new_value'])} {vl} of new and returning customers on their first day.")
tiles[4].metric("Lost value", b.money(t["lost_value"], compact=True),
                help=f"{b.money(t['lost_value'])} {vl} of lost customers on their last day.")
tiles[5].metric("Net value", b.money(t["net_value"], signed=True, compact=True),
                help=f"{b.money(t['net_value'], signed=True)}: new value − lost value ({vl}).")
excluded_note(totals_result)
if not b.has_value:
    st.caption(m.value_rule(columns, value))

per_result = m.ncvg_by_period(con, b, grain, start, end, facts, moves)
per = per_result.frame
st.subheader("In words")
sentences = m.executive_sentences(per, b, grain)
st.markdown("\n".join(f"- {s}" for s in sentences[:4]))
if len(sentences) > 4:
    with st.expander(f"All {len(sentences)} periods"):
        st.markdown("\n".join(f"- {s}" for s in sentences[4:]))

# ---- per period: counts and value
st.subheader(f"New, lost and net per {grain}")
campaigns = campaign_overlay("ncvg")
left, right = st.columns(2)
# the counts alone: the same chart for MRR and ARR, so a value click reuses it
counts = per[["period", "label", "new_customers", "lost_customers", "net_customers", "incomplete"]]
show_chart(with_campaigns(charts.customers_chart(counts), campaigns, "label", grain), width="stretch", where=left)
if b.has_value:
    show_chart(with_campaigns(charts.value_chart(per, b.currency, vl), campaigns, "label", grain),
                       width="stretch", where=right)
if per["incomplete"].any():
    st.caption(f"The last {grain} is not complete: the data runs to {b.as_of:%d %b %Y}.")
shown = m.period_table(per)
show_table(shown, width="stretch")
download_csv(shown, f"ncvg_by_{grain}.csv", "ncvg_periods")
show_sql(per_result)

# ---- value waterfall and revenue retention
if b.has_value:
    st.subheader("Where the value came from and went")
    left, right = st.columns(2)
    show_chart(charts.waterfall_chart(m.waterfall_steps(t), b.currency, vl), width="stretch", where=left)
    show_chart(charts.retention_chart(per), width="stretch", where=right)
    if pd.isna(t["grr"]):
        st.caption("Gross and net revenue retention over the range need value paying before it starts: "
                   "pick a later start for the range (the chart shows them per period).")
    else:
        st.caption(f"Over the range: gross revenue retention {t['grr']:.1%}, net revenue retention {t['nrr']:.1%} "
                   f"of the {b.money(t['value_start'])} {vl} paying before {start:%d %b %Y} (of the customers "
                   "paying at the start: GRR = Σ lower of each one's start and end value ÷ start value, "
                   "NRR = their end value ÷ start value).")
    moved = t["expansion_value"] - t["contraction_value"]
    st.caption(f"The tiles' net value ({b.money(t['net_value'], signed=True)}) is NCVG: new and returning customers "
               f"minus lost ones. The bridge also counts customers who stayed and changed value — expansion "
               f"{b.money(t['expansion_value'])}, contraction {b.money(t['contraction_value'])} — so value went from "
               f"{b.money(t['value_start'])} to {b.money(t['value_end'])}: NCVG "
               f"{b.money(t['net_value'], signed=True)} plus net expansion {b.money(moved, signed=True)}.")
    show_chart(charts.movements_chart(per, b.currency, vl), width="stretch")
    show_sql(totals_result, "Show SQL (range totals and waterfall)")

# ---- plan tiers and segments
st.subheader("Segment movement: plan up- and downgrades")
if b.source != "subscriptions":
    st.info("Plan moves need a subscriptions export (a plan per subscription with its dates).")
elif "plan" not in columns:
    st.info("The file has no plan column: map one under “Columns” to see moves between plan tiers.")
else:
    move_rows = m.plan_rows(moves)  # the movements' plan moves, no query: periods and the table count them
    moves_by_period = m.plan_moves_by_period(con, b, grain, start, end, move_rows)
    plan_moves = m.plan_moves(con, b, start, end, move_rows)
    if plan_moves.frame.empty:
        st.write("No customer changed plan tier in the range.")
    else:
        show_chart(charts.plan_moves_chart(moves_by_period.frame), width="stretch")
        show_table(plan_moves.frame, width="stretch")
        download_csv(plan_moves.frame, "ncvg_plan_moves.csv", "ncvg_moves")
    st.caption("Tier order: plans ranked by median value per seat/unit (cheapest = tier 1). A customer's plan is "
               "their highest-tier paying plan; a move is a change of it while they stay a customer.")
    show_sql(plan_moves)
    by_plan = m.value_by_plan(con, b, start, end)
    show_chart(charts.value_by_group_chart(by_plan.frame, "plan", "Value by plan", b.currency, vl), width="stretch")
    show_table(by_plan.frame, width="stretch")
    download_csv(by_plan.frame, "ncvg_value_by_plan.csv", "ncvg_by_plan")
    show_sql(by_plan)
found = (m.segment_choices(con, customers.table, {**customers.mapping, **customers.extra_columns},
                            int(ws.thresholds["min_group_size"]))
         if customers is not None else [])
options = {c.column: c for c in found}
if options:
    left, mid, right = st.columns([2, 1, 2])
    segment = left.selectbox("Customer group (from the customer file)", list(options),
                             format_func=lambda c: f"{options[c].label} ({options[c].levels:,} values)",
                             key="ncvg_segment")
    top = int(mid.number_input("Largest groups shown", 1, 500, 15, key="ncvg_segment_top"))
    search = right.text_input("Find a group", key="ncvg_segment_search", placeholder="part of a name")
    label = options[segment].label
    by_segment = m.value_by_segment(con, b, customers.table, segment, start, end)
    shown = m.top_segments(by_segment.frame, top, search)
    if search.strip() and not (~shown["other"]).any():
        st.info(f"No {escape_md(label)} contains “{escape_md(search.strip())}”.")
    show_chart(charts.value_by_group_chart(shown, "segment", f"Value by {label}", b.currency, vl),
                    width="stretch")
    show_table(shown.drop(columns=["groups", "other"]).rename(columns={"segment": label}), width="stretch")
    st.caption(f"{len(by_segment.frame):,} groups; the {min(top, len(by_segment.frame)):,} worth most"
               f"{' whose name contains “' + search.strip() + '”' if search.strip() else ''} are shown and the "
               "rest add up in “Other”, so customers and value sum to the totals. Click a column header to sort. "
               "Profitability needs costs per customer, which these files do not carry: value per customer is shown.")
    download_csv(by_segment.frame, "ncvg_value_by_segment.csv", "ncvg_by_segment")
    show_sql(by_segment)
else:
    st.caption("Upload a customer file (CRM accounts) with a segment or industry column above to see value by segment.")

# ---- trials and renewals (subscriptions only)
if b.source != "subscriptions":
    st.info("Trials, renewals and churn after an incident need a subscriptions export: load one above "
            "(and pick it as the source).")
    st.subheader("Red flags")
    flags_table(m.area_flags(ws), "ncvg")
    st.stop()
trials_section(m, ws, con, counted, grain)

# ---- churn after an incident
incident_section(m, ws, con, counted)

# ---- red flags
st.subheader("Red flags")
flags_table(m.area_flags(ws), "ncvg")
# built only while open (a stateful expander reruns the page when opened): not on every click
thresholds_panel = st.expander("Thresholds", key="ncvg_thresholds", on_change="rerun")
if thresholds_panel.open:
    with thresholds_panel:
        threshold_editor("ncvg", "ncvg")

"""Email boundaries — Is email frequency or content pushing customers to unsubscribe or complain?"""

import pandas as pd
import streamlit as st

from lib.charts import email as charts
from lib.charts.common import line_over_time, with_campaigns
from lib.config import EMAIL_MPP_START
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.metrics import email as lib_em  # plain: the cheap functions of small frames (keying costs more)
from ui import email_sections
from ui.common import (campaign_overlay, dataset_section, excluded_note, flags_table, show_sql,
                       show_table, threshold_editor, workspace)
from ui.cache import session_cached, show_chart

# each figure once per session and arguments (ui.cache)
em, charts, with_campaigns, line_over_time = (session_cached(f) for f in (lib_em, charts, with_campaigns, line_over_time))
table = email_sections.table


st.title("Email boundaries")
st.caption("Is email frequency or content pushing customers to unsubscribe or complain?")
dataset = dataset_section(["email_campaigns", "email_events"], key="email")
if dataset is None:
    st.stop()

ws = workspace()
con = ws.con.cursor()  # own cursor: an overlapping rerun may still hold the session connection
sources = [k for k in em.KINDS if ws.get(k) is not None]
kind = sources[0]
if len(sources) > 1:
    kind = st.radio("Analyse", sources, horizontal=True, key="email_source",
                    format_func=lambda k: f"{escape_md(ws.get(k).file_name)} ({ws.get(k).label})")
try:
    data = em.email_data(con, ws.get(kind).table, ws.thresholds["email_scanner_seconds"])
except BoundaryError as exc:
    st.error(escape_md(exc))
    st.stop()
if data.first_send is None:
    st.error(f"{escape_md(ws.get(kind).file_name)}: no usable sends. " + "; ".join(f"{n} {r}" for r, n in data.excluded.items())
             + ". Check the Columns panel above.")
    st.stop()
if data.excluded:
    st.warning("Left out of every figure: " + "; ".join(f"{n:,} row(s) — {r}" for r, n in data.excluded.items())
               + ". Fix them in the file or the Columns panel to include them.")

# ---------------------------------------------------------------- selection
c1, c2, c3, c4 = st.columns([1, 2, 2, 2])
grains = ["week", "month", "quarter"]
grain = c1.selectbox("Period", grains, index=grains.index(lib_em.default_grain(data.first_send, data.last_send)),
                     key=f"email_grain_{kind}")
first_day, last_day = data.first_send.date(), data.last_send.date()
picked = c2.date_input("Sent between", (first_day, last_day), min_value=first_day, max_value=last_day,
                       key=f"email_dates_{kind}")
start, end = (picked if isinstance(picked, tuple) and len(picked) == 2 else (first_day, last_day))
lists = c3.multiselect("Lists / segments", em.choices(con, data, "list_name"), key=f"email_lists_{kind}")
topics = c4.multiselect("Topics / types", em.choices(con, data, "topic"), key=f"email_topics_{kind}")
filters = em.Filters(pd.Timestamp(start), pd.Timestamp(end) + pd.Timedelta(days=1), tuple(lists), tuple(topics))
alpha, k = ws.thresholds["baseline_alpha"], int(ws.thresholds["baseline_periods"])
campaigns = campaign_overlay("email", prefer=("email",))
rows = em.base_rows(con, data)  # the usable sends, read once: the figures below group them without a query

# ---------------------------------------------------------------- tiles
current = em.pooled_rates(con, data, filters, rows=rows)
if not current.frame.iloc[0]["sends"]:  # e.g. a list and a topic that were never sent together
    st.warning("No sends match this selection (dates, lists and topics together): widen it to see the figures.")
    st.stop()
fig = email_sections.figures(con, data, filters, grain, ws.thresholds, rows)  # every figure a click changes, at once
previous = fig["previous"]
for col, tile in zip(st.columns(3) + st.columns(3), lib_em.headline_tiles(current.frame, previous.frame)):
    col.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help)
row = current.frame.iloc[0]
days = (filters.end - filters.start).days
st.caption(f"{int(row['sends']):,} sends, {row['delivered']:,.0f} delivered. Rates are **pooled**: the sum of "
           "numerators ÷ the sum of denominators over all sends in range — not an average of per-campaign "
           f"rates. Deltas are percentage points against the previous {days} days"
           + ("" if previous.frame.iloc[0]["sends"] else " (no sends then, so no deltas)") + ". Hover a tile for its counts.")
if data.has("machine_opens") or data.has("scanner_clicks"):
    st.caption(f"Without machine activity: open rate {lib_em.pct(row['open_rate_human'])}, "
               f"click rate {lib_em.pct(row['click_rate_human'])} (machine opens and scanner clicks = first open or "
               f"click within {ws.thresholds['email_scanner_seconds']:g} s of delivery).")
elif data.last_send >= pd.Timestamp(EMAIL_MPP_START):
    st.info("This file has no machine-open counts. Opens after September 2021 are inflated by Apple Mail "
            "Privacy Protection and security scanners, so open-rate threshold flags after that date are one "
            "step less severe (own-history flags compare opens inflated alike): lean on click rate and "
            "click-to-open rate.")
excluded_note(current)
show_sql(current)

# ---------------------------------------------------------------- flags
st.header("Red flags")
# built only while open (a stateful expander reruns the page when opened): not on every click
thresholds_panel = st.expander("Thresholds — shared by every page and the Boundary report", key="email_thresholds",
                               on_change="rerun")
if thresholds_panel.open:
    with thresholds_panel:
        threshold_editor("email", "email", em.choices(con, data, "topic") if data.has("topic") else None)
        threshold_editor("all", "email_all")
flags = fig["flags"]  # = em.email_flags, from the figures shown below
st.caption("A threshold flag needs the rate's whole 95% interval past the line — exact binomial for a send, "
           "cluster-robust by send for a period (sends vary far more than recipients) — so one complaint in a few "
           "hundred is not a flag; **high** when it clears the line even at the Bonferroni level over the sends or "
           "periods tested. An own-history flag keeps the false-discovery rate at the significance level "
           "(Benjamini–Hochberg over the sends or periods tested per rate); **high** when it also survives "
           "Bonferroni. One row per send or period and rate: the strongest evidence, with the other under “also”. "
           "A/B halves (“… | Combo 1/2”) count as one send.")
show_table(em.flag_counts(flags))  # memoised: keyed by the flags list as handed out, shown from its Arrow copy
flags_table(flags, "email")

# ---------------------------------------------------------------- own history
st.header("Worse than the sender's own history?")
reweighted = f" (re-weighted to this {grain}'s topic mix)" if data.has("topic") else ""
st.markdown(f"Each {grain}'s rate is compared with the pooled rate of the **{k} {grain}s before it**{reweighted} "
            f"on the log-odds scale, its standard error widened by how much this sender's {grain}s normally differ "
            "beyond chance (σz: that spread is estimated by a robust SD — the median squared z over all tested "
            f"{grain}s, which a few real changes cannot inflate; for rare counts, where a median collapses, a capped "
            f"mean against each {grain}'s Poisson expectation; with under 8 {grain}s, the send-to-send spread "
            "scaled to the period); "
            "Fisher's exact test where a count expects under 5. A "
            f"{grain} is flagged **worse** when its one-sided p, adjusted by Benjamini–Hochberg over the {grain}s "
            f"tested, is under {alpha:g}. The grey band is drawn from the same standard error and cut-off, so a point "
            "leaves it on the bad side exactly when the verdict says worse — the counts behind each test are in the table.")
period_tests = fig["period_tests"]
email_sections.history_rate(em, charts, with_campaigns, con, data, period_tests, campaigns)  # a fragment
show_sql(period_tests)
campaign_tests = fig["campaign_tests"]
worse = campaign_tests.frame[campaign_tests.frame["worse"]]
same = "same-topic sends" if data.has("topic") else "the sends"
st.subheader(f"Sends worse than {same} of the {k} {grain}s before: {len(worse)}")
table(campaign_tests.frame, "email_sends_vs_history", only="worse",
      columns=["send_date", "subject", *(["topic"] if data.has("topic") else []), "metric", "x", "n", "rate",
               "baseline", "base_n", "sigma_z", "p_value", "p_adjusted"],
      rename={"send_date": "Sent", "subject": "Campaign", "base_n": "baseline n", "sigma_z": "σz",
              "p_adjusted": "p (BH)"})
st.caption("Same test per send, A/B halves (“… | Combo 1/2”) merged first — two halves of one audience are one "
           "send, not two neighbours that make sends look alike; σz estimated over all sends; Benjamini–Hochberg over "
           f"the {campaign_tests.frame['p_value'].notna().sum():,} send × rate tests of each rate.")
show_sql(campaign_tests)

# ---------------------------------------------------------------- frequency
st.header("How often do customers get email?")
periods = fig["periods"]
show_chart(with_campaigns(charts.frequency_chart(periods.frame), campaigns), width="stretch")
st.caption("Emails per recipient per week = emails sent ÷ list size ÷ weeks covered (the period's days inside the "
           "range and up to the last send, ÷ 7 — a half-covered last month is not read as a drop). List size is the "
           "file's list-size column when present, otherwise the largest send to each list in the period (lists "
           "assumed not to overlap). Grey bars: incomplete periods, left out of the correlation below.")
period_cols = ["period_label", "sends", "sent", "delivered", "emails_per_recipient_week",
               *[r.key for r in data.usable_rates()], "incomplete"]
table(periods.frame, f"email_per_{grain}", columns=period_cols)
excluded_note(periods)
show_sql(periods)

# ---------------------------------------------------------------- unsubscribes vs frequency
st.header("Do unsubscribes rise with send frequency?")
corr = fig["corr"]  # = em.frequency_vs_unsubscribes(periods.frame, grain)


if data.has("unsubscribes"):
    show_chart(charts.unsubscribe_scatter(periods.frame, lib_em.correlation_text(corr.levels, f"{grain}s"), True),
               width="stretch")
    verdict = ("**shared trend, not co-movement**: both drift over time, but a "
               f"{grain} with more email than the last did not lose more people than the last"
               if corr.shared_trend_only else
               "beyond the noise on the changes too" if pd.notna(corr.changes.p_value) and corr.changes.p_value < alpha
               and corr.changes.r * corr.levels.r > 0 else "not distinguishable from no relation")
    st.markdown(f"Pearson correlation between emails per recipient per week and the unsubscribe rate over complete "
                f"{grain}s — on the levels: **{lib_em.correlation_text(corr.levels, f'{grain}s')}**; on the change from one {grain} to "
                f"the next: **{lib_em.correlation_text(corr.changes, 'changes')}** — {verdict}. Two series that both trend correlate "
                "on their levels by the trend alone; the changes show whether they move together.")
    show_sql(periods, "Show SQL (same per-period table)")
else:
    st.info("This file has no unsubscribe column, so the unsubscribe rate cannot be compared with frequency.")

# ---------------------------------------------------------------- topic
st.header("Is the open rate declining, or is it the topic mix?")
mix = fig["mix"]
slopes = fig["slopes"]  # = em.open_rate_trends(mix.frame, grain)


trend = (f"Open-rate trend: **{lib_em.slope_text(slopes['actual'], grain)}** over {slopes['actual'].n} {grain}s (least squares; "
         "the interval allows for neighbouring periods being alike, Newey–West)" if pd.notna(slopes["actual"].slope) else "")
if not data.has("topic"):
    st.info("This file has no topic or campaign-type column, so the trend cannot be split by topic. Pick one "
            "under “Columns” (a type, tag or folder column) to see whether the mix explains it.")
    show_chart(with_campaigns(line_over_time(mix.frame, "period", "open_rate", "Open rate per period",
                                                  "Open rate (%)"), campaigns), width="stretch")
    if trend:
        st.markdown(trend + ".")
    show_sql(mix)
else:
    show_chart(with_campaigns(charts.topic_mix_chart(mix.frame), campaigns), width="stretch")
    if trend:
        st.markdown(f"{trend}; the topic mix alone predicts **{lib_em.slope_text(slopes['expected'], grain)}** (each topic "
                    f"at its own open rate over the range, weighted by that {grain}'s sends). What is left, "
                    f"**{lib_em.slope_text(slopes['within'], grain)}**, is the change within topics.")
    show_sql(mix)
    by_topic_period = fig["by_topic_period"]
    show_chart(charts.topic_share_chart(by_topic_period.frame), width="stretch")
    show_sql(by_topic_period)
    groups = fig["groups"]
    show_chart(charts.group_rates_chart(groups.frame, "topic", "open_rate", "Open rate"), width="stretch")
    group_cols = ["topic", "sends", "delivered", "open_rate", "open_rate_low", "open_rate_high", "ctor",
                  "click_rate", *[c for c in ("unsubscribe_rate", "spam_rate") if groups.frame[c].notna().any()],
                  "small"]
    table(groups.frame, "email_by_topic", columns=group_cols)
    st.caption("Topics beyond the 8 largest are summed in one “Other (k groups)” row, so the rows add up to the "
               "total; pick any topic with the Topics filter above to see it alone. Intervals are "
               "cluster-robust by send (rates vary from send to send far more than recipients would; a topic "
               "of one send gets its exact binomial interval). “small” marks groups under the smallest readable size.")
    show_sql(groups)

# ---------------------------------------------------------------- lists
st.header("Which lists were added where metrics declined?")
growth = fig["growth"]
declined = fig["declined"]  # = lib_em.declined_periods(period_tests.frame)
show_chart(charts.list_growth_chart(growth.frame, declined), width="stretch")
behind = fig["behind"]  # = em.lists_behind_declines(growth.frame, declined, grain)
if behind.empty:
    st.caption("No list was first sent to in, or just before, a period that declined against its own history.")
else:
    table(behind, "email_lists_behind_declines")
show_sql(growth)

# ---------------------------------------------------------------- timeline
st.header("Did anything else change in the program?")
changes = fig["changes"]
show_chart(charts.timeline_chart(periods.frame, changes.frame), width="stretch")
st.caption(f"Volume jump: sends ≥ {ws.thresholds['email_volume_jump']:g}× the average of the {k} {grain}s before "
           f"and beyond Poisson noise (p < {alpha:g}); new topic / list: its first send in the file.")
table(changes.frame)
show_sql(changes)

email_sections.issue22(em, charts, con, data, filters, alpha, fig, rows)  # send time, A/B tests, consistency
# ---------------------------------------------------------------- campaigns
st.header("Every send")
campaigns = fig["campaigns"]
summary = lib_em.vendor_rate_summary(campaigns.frame)
if summary["with_vendor_rates"]:
    st.markdown(f"The file carries the vendor's own rates for {summary['with_vendor_rates']} sends; recomputed from "
                f"counts (open rate = unique opens ÷ delivered, click rate = unique clicks ÷ delivered), "
                f"**{summary['differ']}** differ by more than rounding — see “Vendor vs counts”.")
table(campaigns.frame, "email_campaigns_with_rates", how="campaigns")
excluded_note(campaigns)
show_sql(campaigns)

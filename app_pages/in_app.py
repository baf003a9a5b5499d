"""In-app engagement — Are in-app messages ignored, dismissed or muted more than before?"""

import streamlit as st

from lib.charts import in_app as charts
from lib.charts.common import with_campaigns
from lib.config import Thresholds
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.metrics import in_app as m
from ui.common import (campaign_overlay, dataset_section, download_csv, excluded_note, flags_table, show_sql,
                       show_table, threshold_editor, workspace)
from ui.cache import session_cached, show_chart

m = session_cached(m)  # each figure once per session and arguments (ui.cache)
charts = session_cached(charts)
with_campaigns = session_cached(with_campaigns)

st.title("In-app engagement")
st.caption("Are in-app messages ignored, dismissed or muted more than before — and is marketing crowding "
           "out the product?")
dataset = dataset_section(["in_app_events", "in_app_messages"], key="in_app")
if dataset is None:
    st.stop()
ws = workspace()
con = ws.con.cursor()  # own cursor: an overlapping rerun may still hold the session connection

# ---- event roles: which of the file's events is an impression, click, dismiss, mute
roles = None
if dataset.kind == m.EVENTS:
    table = m.event_role_table(con, dataset.table, m.roles_for(ws, dataset)).frame
    no_impression = not (table["role"] == "impression").any()
    with st.expander("Event roles", expanded=no_impression):
        st.caption("How each event name in the file counts. Clicks, dismissals and mutes are attached to the "
                   "same user's latest impression of the same message. Change a role if the app guessed wrong; "
                   "your choice is kept for this file for the rest of the session.")
        version = abs(hash(tuple(table["role"])))  # a new editor when the roles change elsewhere
        edited = st.data_editor(
            table, key=f"in_app_roles_{dataset.digest[:8]}_{version}", hide_index=True, disabled=["event", "rows"],
            column_config={"event": "Event in file", "rows": st.column_config.NumberColumn("Rows", format="%d"),
                           "role": st.column_config.SelectboxColumn("Role", options=list(m.ROLES), required=True)})
        roles = dict(zip(edited["event"].astype(str), edited["role"].astype(str)))
        m.remember_roles(ws, dataset, roles)
try:
    src = m.in_app_source(con, dataset, roles)
except BoundaryError as exc:
    st.error(escape_md(exc))
    st.stop()

grain = st.segmented_control("Period", ["week", "month"], default="month", key="in_app_grain",
                             format_func=str.capitalize) or "month"
if src.dwell:
    st.caption(f"Dwell times are read as {src.dwell.reason}; shown in seconds.")
facts = m.data_facts(con, src)  # span and exclusions: the data's alone, read once for every figure
periods = m.rates_by_period(con, src, grain, facts)
if periods.frame.empty:
    st.warning(f"{escape_md(dataset.file_name)}: no impressions to measure. " + periods.excluded_text()
               + " Check the event roles and the column mapping above.")
    st.stop()

# ---- headline tiles: the last complete period against the one before
tiles, caption = m.tiles(periods.frame)
for column, tile in zip(st.columns(len(tiles)), tiles):
    column.metric(tile.label, tile.value, tile.delta, delta_color=tile.delta_color, help=tile.help)
st.caption(caption + " Hover a tile's ⓘ for its numerator and denominator.")
excluded_note(periods)

# ---- red flags
weekly = m.weekly_frequency(con, src)
# built only while open (a stateful expander reruns the page when opened): not on every click
thresholds_panel = st.expander("Thresholds (shared with every page and the report)", key="in_app_thresholds",
                               on_change="rerun")
if thresholds_panel.open:
    with thresholds_panel:
        threshold_editor("in_app", key="in_app")
        st.caption("Own-baseline tests use the trailing-baseline length and significance level set for all pages.")
st.subheader("Red flags")
trend = m.trend_flags(periods.frame, ws.thresholds)  # shared with the trend chart below: computed once
weekly_th = Thresholds({k: ws.thresholds[k] for k in m.FREQUENCY_THRESHOLDS})  # a dwell click keeps its memo
both = None if weekly.frame.empty else m.frequency_relevance(weekly.frame, weekly_th)
flags_table(m.flags_from(periods.frame, weekly.frame, ws.thresholds, trend=trend, both=both), key="in_app")

# ---- trends against own baseline
st.subheader("Is engagement falling, and are dismissals, mutes and skims rising?")
st.caption("Each period is tested against the pooled rate of the periods before it that were not themselves "
           "worse (two-proportion test, widened when those periods differ more than chance would make them, "
           "exact for small counts); red points are significantly worse after adjusting for the number of "
           "periods tested (Benjamini–Hochberg). Triangles mark periods the data covers only partly.")
campaigns = campaign_overlay("in_app", prefer=("in-app",))
if trend.empty:
    st.info("No rates to trend: the file has no click, dismiss, mute or dwell data.")
else:
    show_chart(with_campaigns(charts.trend_chart(trend, grain), campaigns))
show_sql(periods)
table = periods.frame[["label", "impressions", "reach", "engagement_rate", "dismiss_rate", "mute_rate",
                       "dwell_under_1s", "median_dwell", "marketing_share", "incomplete"]]
show_table(table, column_config={
    "label": "Period", "impressions": st.column_config.NumberColumn("Impressions", format="%d"),
    "reach": st.column_config.NumberColumn("Reach (users)", format="%d"),
    **{c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="percent")
       for c in ("engagement_rate", "dismiss_rate", "mute_rate", "dwell_under_1s", "marketing_share")},
    "median_dwell": st.column_config.NumberColumn("Median dwell (s)", format="%.2f"),
    "incomplete": "Partial period"})
download_csv(periods.frame, "in_app_by_period.csv", key="in_app_periods")

# ---- dwell
st.subheader("How long are messages looked at?")
dwell = m.dwell_quantiles(con, src, grain, facts)
if dwell.frame.empty:
    st.info("Dwell distribution needs event-level data with a dwell time column"
            + (" (aggregated exports carry only a daily median)." if src.kind == m.MESSAGES else "."))
else:
    show_chart(charts.dwell_chart(dwell.frame, grain))
    excluded_note(dwell)
    show_sql(dwell)
    show_table(dwell.frame[["label", "n", "p10", "p25", "p50", "p75", "p90", "dwell_under_1s", "incomplete"]],
                 hide_index=True, column_config={
        "label": "Period", "n": st.column_config.NumberColumn("Impressions with dwell", format="%d"),
        **{q: st.column_config.NumberColumn(f"{q} (s)", format="%.2f") for q in ("p10", "p25", "p50", "p75", "p90")},
        "dwell_under_1s": st.column_config.NumberColumn("Under 1 s", format="percent"), "incomplete": "Partial"})
    download_csv(dwell.frame, "in_app_dwell.csv", key="in_app_dwell")

# ---- frequency and relevance
st.subheader("How often do users get in-app messages, and has that increased lately?")
if weekly.frame.empty:
    st.info("Messages per active user need event-level data with a user column; aggregated exports have no users.")
else:
    change = m.frequency_change(weekly.frame, ws.thresholds["baseline_alpha"])
    if change is None:
        st.info(f"Comparing the last {m.RECENT_WEEKS} weeks with the ones before needs at least "
                f"{m.RECENT_WEEKS + 3} complete weeks.")
    elif change.beyond_noise and change.relative > ws.thresholds["in_app_frequency_rise_max"]:
        st.warning(change.sentence())
    else:
        st.info(change.sentence())
    st.caption("Active user = a user with any event that week. Frequency is “too high” in a week above its "
               "trailing baseline by more than the rise threshold; relevance is “too low” when engagement is "
               "significantly below its baseline (adjusted for the number of weeks tested). Faded bars: partial weeks, left out of comparisons.")
    show_chart(charts.frequency_relevance_chart(both))
    show_sql(weekly)
    show_table(both[["week", "active_users", "impressions", "messages_per_user", "marketing_per_user",
                       "frequency_baseline", "engagement_rate", "engagement_baseline", "too_frequent",
                       "less_relevant", "both_wrong", "incomplete"]], hide_index=True, column_config={
        "week": st.column_config.DateColumn("Week", format="YYYY-MM-DD"), "active_users": "Active users",
        "impressions": "Messages", "messages_per_user": st.column_config.NumberColumn("Per active user", format="%.2f"),
        "marketing_per_user": st.column_config.NumberColumn("Marketing per user", format="%.2f"),
        "frequency_baseline": st.column_config.NumberColumn("Frequency baseline", format="%.2f"),
        "engagement_rate": st.column_config.NumberColumn("Engagement rate", format="percent"),
        "engagement_baseline": st.column_config.NumberColumn("Engagement baseline", format="percent")})
    download_csv(both, "in_app_weekly_frequency.csv", key="in_app_weekly")

# ---- campaigns
st.subheader("Which in-app campaigns ran, and how did each land?")
campaigns = m.campaign_table(con, src)
show_chart(charts.campaign_chart(campaigns.frame))
show_sql(campaigns)
small = int(ws.thresholds["min_group_size"])
show_table(campaigns.frame.assign(small=campaigns.frame["impressions"] < small)[
    ["message", "message_type", "first_seen", "last_seen", "impressions", "reach", "engagement_rate",
     "dismiss_rate", "mute_rate", "dwell_under_1s", "median_dwell", "small"]], hide_index=True, column_config={
    "message": "Campaign", "message_type": "Type", "first_seen": "First seen", "last_seen": "Last seen",
    "impressions": "Impressions", "reach": "Reach",
    **{c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="percent")
       for c in ("engagement_rate", "dismiss_rate", "mute_rate", "dwell_under_1s")},
    "median_dwell": st.column_config.NumberColumn("Median dwell (s)", format="%.2f"),
    "small": st.column_config.CheckboxColumn(f"Under {small} impressions")})
if src.kind == m.MESSAGES:
    st.caption("Reach is the sum of daily unique impressions: a user seen on two days counts twice.")
download_csv(campaigns.frame, "in_app_campaigns.csv", key="in_app_campaigns")

# ---- marketing vs product vs service
st.subheader("What share of messages were marketing rather than product or service?")
split = m.type_split(con, src, grain, facts)
show_chart(charts.type_mix_chart(split.frame, grain))
show_sql(split)
show_table(split.frame[["label", "message_type", "impressions", "share", "engagement_rate", "dismiss_rate"]],
             hide_index=True, column_config={"label": "Period", "message_type": "Type", "impressions": "Impressions",
                                             **{c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(),
                                                                                 format="percent")
                                                for c in ("share", "engagement_rate", "dismiss_rate")}})
download_csv(split.frame, "in_app_message_types.csv", key="in_app_types")

# ---- the trend per message type
st.subheader("Is engagement falling for one kind of message?")
try:
    # the data's part once per grain (type_split's query); a threshold change reruns only the tests
    by_type = m.type_trends_from(m.type_periods(con, src, grain, facts, split), ws.thresholds)
except BoundaryError as exc:
    st.info(escape_md(exc))
else:
    rates = [r for r in ("Engagement rate", "Dismiss rate", "Mute rate", "Dwell under 1s")
             if r in set(by_type.frame["metric"])]
    if rates:
        rate = st.segmented_control("Rate", rates, default=rates[0], key="in_app_type_rate") or rates[0]
        show_chart(charts.type_trend_chart(by_type.frame, rate, grain))
        st.caption("Each type is tested against its own trailing baseline (as above); one rate's tests over every "
                   "type and period are one family (Benjamini–Hochberg), so more types make a flag harder to earn. "
                   "Hollow points: periods the data covers only partly.")
        show_sql(by_type)
        show_table(by_type.frame[by_type.frame["metric"] == rate].drop(columns=["metric", "period"]), hide_index=True,
                   column_config={"message_type": "Type", "label": "Period", "n": "Impressions (n)",
                                  **{c: st.column_config.NumberColumn(c.replace("_", " ").capitalize(), format="percent")
                                     for c in ("value", "low", "high", "baseline")}})
        download_csv(by_type.frame, "in_app_type_trends.csv", key="in_app_type_trends")

# ---- what changed recently
st.subheader("Did in-product messaging change recently?")
weeks = st.number_input("Recent window (weeks, ending with the last week of data)", min_value=1, max_value=52,
                        value=m.CHANGE_WINDOW_WEEKS, key="in_app_change_weeks", width=320)
changes = m.recent_changes(con, src, int(weeks), facts)
if changes.frame.empty:
    st.success("No new campaigns or message types, nothing stopped, and no campaign's weekly volume moved by "
               f"×{m.VOLUME_JUMP} or more in the last {int(weeks)} weeks.")
else:
    show_table(changes.frame.drop(columns="cut"), column_config={
        "message": "Campaign", "message_type": "Type", "change": "What changed", "first_seen": "First seen",
        "last_seen": "Last seen",
        "before_per_week": st.column_config.NumberColumn("Impressions/week before", format="%.1f"),
        "recent_per_week": st.column_config.NumberColumn("Impressions/week recently", format="%.1f")})
    st.caption(f"Window starts {changes.frame['cut'].iloc[0]:%d %b %Y}.")
    download_csv(changes.frame, "in_app_recent_changes.csv", key="in_app_changes")
show_sql(changes)

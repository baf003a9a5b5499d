"""Voice of customer — Are posts, reviews and deal notes turning negative about marketing?"""

import streamlit as st

from lib.charts import voice as charts
from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.metrics import deals as dm
from lib.metrics import voice as vm
from lib.text import LEXICON_LIMITS, MAX_SCORED_CHARS
from ui.common import (dataset_section, download_csv, excluded_note, flags_table, show_sql, show_table,
                       threshold_editor, workspace)
from ui import voice_sections as sections
from ui.cache import session_cached, show_chart

dm, vm, charts = (session_cached(x) for x in (dm, vm, charts))  # each figure once per session and arguments (ui.cache)

st.title("Voice of customer")
st.caption("Are community posts, reviews, CS notes and expansion deals turning negative about marketing?")
dataset_section(["texts", "deals"], key="voice")
ws = workspace()
texts, deals, calendar = ws.get("texts"), ws.get("deals"), ws.get("campaign_calendar")
if texts is None and deals is None:
    st.stop()
# built only while open (a stateful expander reruns the page when opened): not on every click
thresholds_panel = st.expander("Campaign calendar (optional) and thresholds", key="voice_thresholds",
                               on_change="rerun")
if thresholds_panel.open:
    with thresholds_panel:
        dataset_section(["campaign_calendar"], key="voice_calendar")
        threshold_editor("voice", key="voice")
        threshold_editor("all", key="voice_all")
alpha, k = ws.thresholds["baseline_alpha"], int(ws.thresholds["baseline_periods"])
min_n = ws.thresholds["voice_min_period_n"]
con, flags = ws.con, []
flag_box = st.container()


PCT = {c: st.column_config.NumberColumn(format="percent") for c in (
    "share_negative", "share_negative_outside", "qualification_rate", "others_qualification_rate", "win_rate",
    "others_win_rate")} | {c: st.column_config.DateColumn(format="YYYY-MM-DD") for c in ("start_date", "end_date")}


def pct(v):
    return "—" if v is None or v != v else f"{v:.1%}"


def delta_pts(v, prev):
    return None if v is None or prev is None else f"{(v - prev) * 100:+.1f} pts"


try:
    if texts is not None:
        st.header("Community posts, reviews and CS notes")
        grain = st.radio("Period", ["week", "month", "quarter"], index=1, horizontal=True, key="voice_grain")
        by_period = vm.sentiment_by_period(con, texts.table, grain, k)
        tested = vm.text_flag_frames(by_period, alpha, min_n)
        flags += vm.text_flags(by_period, alpha, min_n, grain, frames=tested)  # the tests once, not twice
        posters = vm.poster_matches(con, texts.table, vm.customer_sources(con, ws.datasets))  # keyed on the data
        summary = vm.poster_summary(posters.frame)
        labelled = vm.has_file_labels(con, texts.table)  # the file carries its own sentiment label
        label_col = escape_md(texts.mapping.get("sentiment_label", ""))  # a file's column name, shown as text
        negative_means = (f"labelled negative in the file's “{label_col}” column (the lexicon's call where a label "
                          "is blank or unreadable)" if labelled else "with VADER compound ≤ −0.05")
        share, share_prev, last = vm.latest_complete(by_period.frame, "share_negative")
        compl, compl_prev, _ = vm.latest_complete(by_period.frame, "complaints")
        t1, t2, t3, t4 = st.columns(4)
        t1.metric("Texts", f"{int(by_period.frame['texts'].sum()):,}",
                  help="Texts with a non-blank text and a readable date; blanks are counted below.")
        t2.metric("Share negative", pct(share), delta_pts(share, share_prev), delta_color="inverse",
                  help=f"Texts {negative_means} ÷ texts in the latest complete period; delta vs the period before.")
        t3.metric("Complaints about marketing", "—" if compl is None else f"{compl:,.0f}",
                  None if compl is None or compl_prev is None else f"{compl - compl_prev:+,.0f}", delta_color="inverse",
                  help="Texts naming a marketing channel (email, notification, promo, spam…) with a complaint cue "
                       "or negative sentiment, in the latest complete period; delta vs the period before.")
        t4.metric("Posters matched to customers", pct(summary["share_matched"]),
                  help=f"{summary['matched']:,} of {summary['posters']:,} posters (by email, else author name) found "
                       "in a loaded customer, subscription, NPS or lead table.")
        if last:
            st.caption(f"Share negative and complaints: latest complete {grain}, {last}; deltas vs the {grain} before.")
        excluded_note(by_period)
        if long := vm.long_text_count(con, texts.table):
            st.caption(f"{long:,} text(s) longer than {MAX_SCORED_CHARS:,} characters are read by their first "
                       f"{MAX_SCORED_CHARS:,} characters (sentiment, terms, complaints).")

        st.subheader("Is the share of negative texts rising?")
        show_chart(charts.rate_with_baseline(
            tested["negative"], "share_negative", "neg_low", "neg_high", "base_share_negative",
            f"Share of texts negative per {grain}", "Share negative", n="texts"), width="stretch")
        st.caption(f"Red: significantly above the pooled {k} {grain}s before (two-proportion test, α = {alpha:g}, "
                   f"periods with at least {min_n:g} texts). Negative: texts {negative_means}.")
        table = by_period.frame[["label", "texts", "negative", "neutral", "positive", "complaints", "share_negative",
                                 "base_share_negative", "complaint_share", "incomplete"]]
        show_table(table, width="stretch", column_config={"label": "Period", **{
            c: st.column_config.NumberColumn(format="percent") for c in
            ("share_negative", "base_share_negative", "complaint_share")}})
        download_csv(table, "texts_by_period.csv", "voice_periods")
        show_sql(by_period)
        if labelled:
            st.subheader("Does the lexicon agree with the file's sentiment labels?")
            agreement = vm.label_agreement(con, texts.table)
            a = vm.agreement_summary(agreement.frame)
            a1, a2, a3, a4 = st.columns(4)
            a1.metric("Negative, by the file's labels", pct(a["file_share_negative"]),
                      help="Texts labelled negative ÷ texts with a readable label.")
            a2.metric("Negative, by the lexicon", pct(a["lexicon_share_negative"]),
                      help="Of the same texts, those with VADER compound ≤ −0.05.")
            a3.metric("Lexicon agrees", pct(a["agreement"]),
                      help="Texts where the lexicon's negative / neutral / positive equals the file's label ÷ texts.")
            a4.metric("Negative texts the lexicon finds", pct(a["negative_recall"]),
                      help=f"{a['found_negative']:,} of the {a['file_negative']:,} texts labelled negative.")
            st.caption(f"Over {a['n']:,} texts with a readable label in “{label_col}”. {LEXICON_LIMITS} So the "
                       "figures on this page count the file's labels.")
            show_table(agreement.frame, width="stretch", column_config={"file_label": "File's label"})
            excluded_note(agreement)
            show_sql(agreement)
        else:
            st.caption(f"{LEXICON_LIMITS} If the file carries its own sentiment label (listening tools such as Sprout, "
                       "Brandwatch or Talkwalker export one), pick it under Columns → Sentiment label (as exported).")

        st.subheader("Complaints about marketing, and the campaign calendar")
        cal = vm.calendar_frame(con, calendar.table) if calendar is not None else None
        channels = None
        if cal is not None and "channel" in calendar.mapping:
            options = sorted({str(c) for c in cal["channel"].dropna()})
            channels = st.multiselect("Campaign channels", options, default=vm.default_channels(cal), key="voice_ch")
            cal = vm.calendar_frame(con, calendar.table, channels)
        show_chart(charts.negative_volume_with_campaigns(by_period.frame, cal, grain), width="stretch")
        if calendar is None:
            st.info("Load a campaign calendar (above, or the sample data) to see negative volume against campaigns.")
        complaints = vm.marketing_complaints(con, texts.table)
        st.caption(f"{len(complaints.frame):,} texts complain about marketing (newest first).")
        show_table(complaints.frame, width="stretch", height=260)
        download_csv(complaints.frame, "marketing_complaints.csv", "voice_complaints")
        show_sql(complaints)
        if calendar is not None:
            lag = st.number_input("Days after a campaign's end that still count towards it", 0, 90,
                                  vm.DEFAULT_LAG_DAYS, key="voice_lag")
            by_campaign = vm.negative_by_campaign(con, texts.table, calendar.table, int(lag), channels)
            flags += vm.campaign_text_flags(by_campaign, alpha, min_n)
            if not by_campaign.frame.empty:
                f = by_campaign.frame
                shown = f.assign(flagged=(f["p_value"] < alpha) & (f["z"] > 0) & (f["texts"] >= min_n))
                show_chart(charts.campaign_negative_bars(shown), width="stretch")
                cols = ["campaign", "channel", "start_date", "end_date", "texts", "negative", "complaints",
                        "share_negative", "share_negative_outside", "p_value", "negative_per_day",
                        "negative_per_day_overall"]
                show_table(shown[cols], width="stretch", column_config=PCT)
                download_csv(shown[cols], "negative_by_campaign.csv", "voice_campaigns")
            excluded_note(by_campaign)
            show_sql(by_campaign)

        st.subheader("What do customers talk about?")
        c1, c2 = st.columns(2)
        overall, negative = vm.top_terms(con, texts.table), vm.top_terms(con, texts.table, negative_only=True)
        show_chart(charts.terms_bars(overall.frame, "Top terms, all texts"), width="stretch", where=c1)
        show_chart(charts.terms_bars(negative.frame, "Top terms, negative texts", "#d62728"), width="stretch", where=c2)
        show_sql(negative, "Show SQL (negative texts)")
        sections.terms_over_time(vm, con, texts.table, alpha)

        st.subheader("Who is posting — known customers?")
        if not vm.customer_sources(con, ws.datasets):
            st.info("Load customers, subscriptions, NPS responses or leads to match posters to known customers.")
        st.caption(f"{summary['matched']:,} of {summary['posters']:,} posters are known customers; they wrote "
                   f"{summary['matched_negative_posts']:,} of the {summary['negative_posts']:,} negative posts.")
        show_table(posters.frame, width="stretch", height=260)
        download_csv(posters.frame, "posters.csv", "voice_posters")
        excluded_note(posters)
        show_sql(posters)

    if deals is not None:
        st.header("Expansion deals from sales and CS")
        has_type = "deal_type" in deals.mapping
        c1, c2, c3 = st.columns(3)
        deal_type = c1.selectbox("Deal type", ["expansion", "new", "renewal", None], disabled=not has_type,
                                 format_func=lambda v: "All deals" if v is None else v.capitalize(), key="voice_dtype")
        deal_type = deal_type if has_type else None
        dgrain = c2.radio("Period", ["month", "quarter", "year"], index=1, horizontal=True, key="voice_dgrain")
        basis = c3.radio("Deals counted by", dm.BASES, horizontal=True, key="voice_basis",
                         format_func=lambda v: "Created date" if v == "created" else "Close date")
        if not has_type:
            st.info("The deals file has no deal type column: figures cover all deals.")
        label = "All deals" if deal_type is None else deal_type.capitalize()
        rates = dm.deal_rates_by_period(con, deals.table, dgrain, deal_type, basis, k)
        tested = dm.deal_flag_frames(rates, alpha, min_n)
        flags += dm.deal_flags(rates, alpha, min_n, dgrain, label, frames=tested)
        win, win_prev, dlast = vm.latest_complete(rates.frame, "win_rate")
        qual, qual_prev, _ = vm.latest_complete(rates.frame, "qualification_rate")
        cyc, cyc_prev, _ = vm.latest_complete(rates.frame, "median_cycle_days")
        t1, t2, t3 = st.columns(3)
        t1.metric(f"{label} win rate", pct(win), delta_pts(win, win_prev),
                  help="Won ÷ (won + lost) deals of the latest complete period; open deals left out. Delta vs the period before.")
        t2.metric(f"{label} qualification rate", pct(qual), delta_pts(qual, qual_prev),
                  help="Qualified ÷ deals with a yes/no qualified value, latest complete period. Delta vs the period before.")
        t3.metric(f"{label} median cycle time", "—" if cyc is None else f"{cyc:.0f} days",
                  None if cyc is None or cyc_prev is None else f"{cyc - cyc_prev:+.0f} days", delta_color="inverse",
                  help="Median days from created to close over won and lost deals, latest complete period.")
        if dlast:
            st.caption(f"Tiles: latest complete {dgrain}, {dlast} (deals by {basis} date); deltas vs the {dgrain} before.")
        excluded_note(rates)
        st.subheader("Win rate, qualification rate and cycle time against their own history")
        c1, c2, c3 = st.columns(3)
        show_chart(charts.rate_with_baseline(tested["win_rate"], "win_rate", "win_low", "win_high",
                                                  "base_win_rate", "Win rate", "Won ÷ closed", n="closed", legend=False), width="stretch", where=c1)
        show_chart(charts.rate_with_baseline(
            tested["qualification_rate"], "qualification_rate", "qual_low", "qual_high", "base_qualification_rate",
            "Qualification rate", "Qualified ÷ deals", n="qual_known", legend=False), width="stretch", where=c2)
        show_chart(charts.rate_with_baseline(
            tested["cycle"], "median_cycle_days", "cycle_p25", "cycle_p75", "base_median_cycle", "Median cycle time",
            "Days, created → closed", y_format=",.0f", n="cycle_n", legend=False), width="stretch", where=c3)
        st.caption("Red: significantly worse than the pooled trailing baseline (win and qualification: two-proportion "
                   "test; cycle time: Mood's median test). Cycle band: 25th–75th percentile.")
        cols = ["label", "deals", "won", "lost", "open", "win_rate", "qualified", "qual_known", "qualification_rate",
                "median_cycle_days", "base_win_rate", "base_qualification_rate", "base_median_cycle", "incomplete"]
        show_table(rates.frame[cols], width="stretch", column_config={"label": "Period", **{
            c: st.column_config.NumberColumn(format="percent") for c in
            ("win_rate", "qualification_rate", "base_win_rate", "base_qualification_rate")}})
        download_csv(rates.frame[cols], "deals_by_period.csv", "voice_deals")
        show_sql(rates)
        with st.expander("How deal types were read"):
            show_table(dm.deal_type_counts(con, deals.table).frame)

        if "notes" in deals.mapping:
            st.subheader("Are deal notes turning negative?")
            notes = vm.note_sentiment_by_period(con, deals.table, dgrain, deal_type, k)
            tested_notes = vm.text_flag_frames(notes, alpha, min_n)["negative"]
            flags += vm.text_flags(notes, alpha, min_n, dgrain, f"{label.lower()} deal notes", f"{label} deal notes: ",
                                   vm.text_flag_frames(notes, alpha, min_n))  # the memo's frames: tested once
            show_chart(charts.rate_with_baseline(
                tested_notes, "share_negative", "neg_low", "neg_high", "base_share_negative",
                f"Share of {label.lower()} deal notes negative", "Share negative", n="texts"), width="stretch")
            excluded_note(notes)
            show_sql(notes)
            flags += sections.deal_marketing_notes(vm, con, deals.table, notes, alpha, min_n, dgrain, label)

        if "source_campaign" in deals.mapping:
            flags += sections.campaign_deal_quality(dm, con, deals.table, alpha, min_n, PCT)
except BoundaryError as exc:
    st.error(escape_md(exc))
    st.stop()

with flag_box:
    st.subheader(f"Red flags ({len(flags)})")
    flags_table(flags, key="voice")

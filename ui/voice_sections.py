"""Sections of the Voice page — terms over time, deal notes that mention marketing, campaign-sourced
deals — kept out of app_pages/voice.py (page budget). Each takes the page's memoised metrics module
(`vm`, `dm`)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.charts import voice as charts
from lib.periods import period_label
from ui.cache import session_cached, show_chart
from ui.common import download_csv, excluded_note, show_sql, show_table

charts = session_cached(charts)


def terms_over_time(vm, con, table: str, alpha: float) -> None:
    st.subheader("Which words rise in negative texts?")
    left, right = st.columns([1, 3])
    grain = left.radio("Period", ["quarter", "month"], horizontal=True, key="voice_terms_grain")
    periods = vm.negative_periods(con, table, grain)
    if len(periods) < 2:
        st.info("Rising terms need negative texts in at least two periods.")
        return
    # the latest complete period by default: a period that has just begun has too few texts to read
    default = len(periods) - 2 if len(periods) > 2 else len(periods) - 1
    starts = [p.strftime("%Y-%m-%d") for p in periods]  # text options: a page choice kept in the workspace
    picked = right.selectbox("Compare this period with every period before it", starts, index=default,
                             format_func=lambda p: period_label(pd.Timestamp(p), grain), key=f"voice_terms_period_{grain}")
    period = pd.Timestamp(picked)
    result = vm.rising_terms(con, table, grain, period, alpha=alpha)
    frame = result.frame
    label = period_label(period, grain)
    if frame.empty:
        st.info(f"No term is in at least 5 negative texts of {label} and before together.")
        return
    show_chart(charts.rising_terms_chart(frame, label), width="stretch")
    rising = frame[frame["rises"]]
    st.write((f"Rising beyond the noise in {label}: " + ", ".join(f"“{t}”" for t in rising["term"]) + ".")
             if len(rising) else f"No term rises beyond the noise in {label}.")
    st.caption(f"Share = negative texts of {label} that mention the term ÷ its {int(frame['n'].iloc[0]):,} negative "
               f"texts, against the same share over the {int(frame['n_before'].iloc[0]):,} negative texts before it. "
               "Two-proportion test per term (Fisher's exact when a cell expects < 5), Benjamini–Hochberg over "
               "every term tested (in 5+ negative texts). Not a red flag: many terms are many chances, and this "
               "reading has not been calibrated on files where nothing changes.")
    show_table(frame, width="stretch", height=240)
    excluded_note(result)
    show_sql(result)


def deal_marketing_notes(vm, con, table: str, notes, alpha: float, min_n: float, grain: str, label: str) -> list:
    """The deals whose notes complain about marketing, listed; returns the periods' complaint flags
    (`vm.note_complaint_flags` on the page's `note_sentiment_by_period` result) for the page's flag list."""
    frames = vm.text_flag_frames(notes, alpha, min_n)  # memoised: the page's notes chart tested them already
    tested = frames["complaints"]
    show_chart(charts.rate_with_baseline(
        tested, "complaint_share", None, None, "base_complaint_share",
        f"Share of {label.lower()} deal notes complaining about marketing", "Complaining ÷ notes", n="texts"),
        width="stretch")
    result = vm.deal_marketing_notes(con, table)
    st.caption(f"{len(result.frame):,} deals' notes complain about marketing (emails, notifications, promos, "
               "“too many”, spam) — the same test as the posts; every deal type, newest first.")
    show_table(result.frame, width="stretch", height=220)
    download_csv(result.frame, "deal_notes_about_marketing.csv", "voice_deal_marketing")
    show_sql(result, "Show SQL (deal notes about marketing)")
    return vm.note_complaint_flags(notes, alpha, min_n, grain, label, frames=frames)


def campaign_deal_quality(dm, con, table: str, alpha: float, min_n: float, column_config: dict) -> list:
    """Deals sourced by each campaign against all other deals: qualification, win rate and cycle time.
    Returns the section's flags. `dm`: the page's memoised deals module."""
    st.subheader("Do campaign-sourced deals disqualify or close slower than normal?")
    quality = dm.campaign_deal_quality(con, table)
    qframe, qflags = dm.campaign_flags(quality, alpha, min_n)
    show_chart(charts.campaign_quality_bars(qframe), width="stretch")
    cols = ["campaign", "deals", "qualification_rate", "others_qualification_rate", "win_rate",
            "others_win_rate", "median_cycle_days", "others_median_cycle", "qual_p", "slow_p"]
    show_table(qframe[cols], width="stretch", column_config=column_config)
    download_csv(qframe[cols], "deals_by_campaign.csv", "voice_deal_campaigns")
    st.caption("All deal types. Leads from campaigns are on the Funnel page.")
    show_sql(quality)
    return qflags

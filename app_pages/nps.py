"""NPS calculator — How loyal are customers, with what margin of error, and did campaigns dent it?"""

import math

import streamlit as st

from lib.charts import nps as charts
from lib.metrics import nps as m
from lib.segments import default_segment as segment_default
from lib.markup import escape_md
from lib.stats import z_for_alpha
from ui.common import (campaign_overlay, dataset_section, download_csv, excluded_note, flags_table, show_sql,
                       show_table, threshold_editor, workspace)
from ui import nps_sections as sections
from ui.cache import session_cached, show_chart

m = session_cached(m)  # each figure once per session and arguments (ui.cache)
charts = session_cached(charts)

st.title("NPS calculator")
st.caption("How loyal are customers, with what margin of error, and did campaigns dent it?")


P_FORMATS = {name: st.column_config.NumberColumn(format="%.2g")  # 3.6e-08, not 0.0000000360
             for name in ("p (one-sided)", "p (two-sided)", "p adjusted (BH)", "p adjusted, with the period before (BH)")}


def fmt(value: float, pattern: str = "{:.1f}") -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)


def tiles(n, nps, moe, pct_p, pct_pa, pct_d) -> None:
    cols = st.columns(6)
    cols[0].metric("NPS", fmt(nps), help="100 × (promoters − detractors) / valid responses, from −100 to +100.")
    cols[1].metric("Responses", f"{n:,}", help="Valid responses: whole-number scores from 0 to 10.")
    cols[2].metric("Promoters", fmt(pct_p, "{:.1f}%"), help="Scores 9–10 / valid responses.")
    cols[3].metric("Passives", fmt(pct_pa, "{:.1f}%"), help="Scores 7–8 / valid responses.")
    cols[4].metric("Detractors", fmt(pct_d, "{:.1f}%"), help="Scores 0–6 / valid responses.")
    cols[5].metric("Margin of error", fmt(moe, "±{:.1f}"),
                   help="95%: 1.96 × 100 × √((p_P + p_D − (p_P − p_D)²) / n), in NPS points. "
                        "Undefined for a single response.")


with st.expander("Manual mode — no file at hand (type counts or paste scores)"):
    how = st.radio("Enter", ["Counts", "Scores"], horizontal=True, key="nps_manual_how")
    if how == "Counts":
        c1, c2, c3 = st.columns(3)
        manual = m.ManualNps(c1.number_input("Promoters (9–10)", 0, step=1, key="nps_manual_p"),
                             c2.number_input("Passives (7–8)", 0, step=1, key="nps_manual_pa"),
                             c3.number_input("Detractors (0–6)", 0, step=1, key="nps_manual_d"))
    else:
        manual = m.parse_pasted_scores(st.text_area(
            "Scores", key="nps_manual_scores", placeholder="10 9 7 3 8 …",
            help="Separate scores with spaces, commas, semicolons or new lines; write decimals with a dot."))
    if manual.n:
        tiles(manual.n, manual.nps, manual.moe, *(100 * x / manual.n for x in
                                                  (manual.promoters, manual.passives, manual.detractors)))
    if manual.invalid:
        st.caption("Left out: " + ", ".join(f"{v} {k}" for k, v in manual.invalid.items())
                   + f" (e.g. {', '.join(manual.examples)}).")

dataset = dataset_section(["nps_responses"], key="nps")
if dataset is None:
    st.stop()
ws = workspace()
con, th, table = ws.con.cursor(), ws.thresholds, dataset.table  # own cursor: a rerun may overlap
others = m.other_score_columns(con, dataset)
if others:
    st.info(f"Other 0–10 columns in this file: {escape_md(', '.join(others))}. The NPS uses "
            f"“{escape_md(dataset.mapping['score'])}”; pick another score column under “Columns” to switch.")

bad = dataset.bad_values.get("score")
summary = m.nps_summary(con, table, bad.count if bad else 0)
s = summary.frame.iloc[0]
tiles(int(s.n), s.nps, s.moe, s.pct_promoters, s.pct_passives, s.pct_detractors)
st.write(summary.excluded_text() or "No rows left out: every score is a whole number from 0 to 10.")
if s.n:
    st.write(f"NPS {s.nps:.1f}: {m.nps_reading(s.nps, th['nps_healthy_min'], th['nps_good_min'])}.")
size_text = m.sample_size_text(int(s.promoters), int(s.passives), int(s.detractors), int(th["nps_min_responses"]))
if s.n < th["nps_min_responses"]:
    st.warning(f"Only {int(s.n)} valid responses: too few to read an NPS with confidence "
               f"(fewer than {th['nps_min_responses']:.0f}). {size_text}")
else:
    st.caption(size_text)
if s.n >= 2 and s.moe == 0:
    st.caption("Every response is in one category, so the formula's margin is ±0 — that is the formula, "
               "not certainty; more responses would show the real spread.")
show_sql(summary)
# built only while open (a stateful expander reruns the page when opened): not on every click
thresholds_panel = st.expander("Thresholds", key="nps_thresholds", on_change="rerun")
if thresholds_panel.open:
    with thresholds_panel:
        threshold_editor("nps", "nps")
th = ws.thresholds

st.header("NPS by period")
calendar_ds = ws.get("campaign_calendar")
calendar = m.campaigns(con, calendar_ds.table) if calendar_ds else None
if "response_date" not in dataset.mapping:
    st.info("This file has no response date, so there is no trend. If it has a date column, pick it "
            "under “Columns” above.")
else:
    grain = st.selectbox("Period", ["week", "month", "quarter"], index=1, key="nps_grain")
    trend = m.nps_by_period(con, table, grain, int(th["baseline_periods"]), th["baseline_alpha"],
                            int(th["nps_min_responses"]))
    periods = trend.frame
    if periods.empty:
        st.info("No response has a date.")
    else:
        shown = campaign_overlay("nps")
        show_chart(charts.trend_chart(periods, th["nps_healthy_min"], shown, grain, th["nps_good_min"]),
                        width="stretch")
        dips = periods[periods["dip"]]
        st.write(f"{len(dips)} period(s) with a dip beyond the noise: " + ", ".join(dips["label"])
                 if len(dips) else "No period fell beyond the noise of its trailing baseline.")
        untested = int((~periods["tested"]).sum())
        st.caption(
            f"A dip: a period whose answers are unlikely to come from the mix of up to {th['baseline_periods']:.0f} "
            "earlier periods (earlier dips left out) — exact test for small periods, with the baseline's own "
            "uncertainty — alone or together with the period before it (a dip that lasts). With many periods "
            "some look low by chance, so p-values are adjusted (Benjamini–Hochberg over every test; “high” "
            f"only when the evidence holds even after multiplying p by the number of tests). {untested} period(s) "
            f"not tested: fewer than {th['nps_min_responses']:.0f} responses, or fewer earlier responses than the "
            "period's own. Periods follow UTC (times written with an offset such as −08:00 are converted; "
            "times without one are read as written). A grey point is a period the data does not cover fully.")
        table_frame = m.labelled(periods, ["label", "n", "nps", "moe", "reading", "severity", "p_value", "p_adjusted",
                                           "pair_p_adjusted", "baseline_nps", "baseline_n", "low", "high",
                                           "incomplete"])
        show_table(table_frame, width="stretch", column_config=P_FORMATS)
        excluded_note(trend)
        show_sql(trend)
        download_csv(table_frame, f"nps_by_{grain}.csv", "nps_trend")

st.header("Breakdown by segment")
found = m.segment_columns(con, dataset, int(th["min_group_size"]))
segments = {c.column: c for c in found}
if not found:
    st.info("The file has no other text column to break the NPS down by (plan, region, company…): every other "
            "column is blank, the same on every row, different on every row (an id), or a number with many values.")
else:
    first = segment_default(found)
    left, mid, right = st.columns([2, 1, 2])
    column = left.selectbox("Break down by", list(segments), index=list(segments).index(first.column),
                            format_func=lambda c: f"{segments[c].label} ({segments[c].levels:,} value"
                                                  f"{'s' if segments[c].levels != 1 else ''})",
                            key="nps_segment")
    top = int(mid.number_input("Largest groups shown", 1, 500, 20, key="nps_segment_top"))
    search = right.text_input("Find a group", key="nps_segment_search", placeholder="part of a name")
    label = segments[column].label
    seg = m.nps_by_segment(con, table, column, int(th["min_group_size"]), th["baseline_alpha"])
    shown_groups = m.top_segments(seg.frame, top, search)
    if search.strip() and not (~shown_groups["other"]).any():
        st.info(f"No {label} contains “{search.strip()}”.")
    show_chart(charts.interval_chart(shown_groups, "segment", f"NPS by {label} with 95% margin of error",
                                          label), width="stretch")
    tested = int(seg.frame["tested"].sum())
    merged = int(shown_groups.loc[shown_groups["other"], "groups"].sum())
    which = f" whose name contains “{search.strip()}”" if search.strip() else ""
    st.caption((f"{len(seg.frame):,} groups; the {len(seg.frame) - merged:,} largest{which} are shown, the other "
                f"{merged:,} add up in “Other” (a mix of groups, not tested). " if merged else
                f"{len(seg.frame):,} group(s), all shown. ") +
               f"Groups with fewer than {th['min_group_size']:.0f} "
               "valid responses are marked too small and not tested; each other group is held against all other "
               "respondents (exact or score test, two-sided; the rest needs as many responses too) and “differs” "
               f"after a Benjamini–Hochberg adjustment over the {tested:,} group(s) tested. "
               "Click a column header to sort.")
    seg_columns = ["segment", "n", "nps", "moe", "too_small", "differs", "p_value", "p_adjusted", "rest_nps",
                   "pct_promoters", "pct_passives", "pct_detractors"]
    seg_table = m.labelled(shown_groups, seg_columns)
    show_table(seg_table.rename(columns={"Group": label, "p (one-sided)": "p (two-sided)"}), width="stretch",
               column_config=P_FORMATS)
    excluded_note(seg)
    show_sql(seg)
    download_csv(m.labelled(seg.frame, seg_columns).rename(columns={"Group": label, "p (one-sided)": "p (two-sided)"}),
                 f"nps_by_{column}.csv", "nps_segment")

st.header("Score distribution")
dist = m.score_distribution(con, table)
show_chart(charts.distribution_chart(dist.frame), width="stretch")
excluded_note(dist)
show_sql(dist)

st.header("Comments")
if "comment" not in dataset.mapping:
    st.info("This file has no comment column. If it has one, pick it under “Columns” above.")
else:
    notes = m.comments(con, table)
    cf = notes.frame
    if cf.empty:
        st.info("No comments on valid responses.")
    else:
        left, right = st.columns(2)
        show_chart(charts.sentiment_chart(m.sentiment_by_category(cf)), width="stretch", where=left)
        terms = m.detractor_terms(cf)
        if terms.empty:
            right.info("Too few detractor and promoter comments to compare their words.")
        else:
            show_chart(charts.terms_chart(terms), width="stretch", where=right)
        st.caption(f"{cf['about_marketing'].sum():,} of {len(cf):,} comments complain about marketing "
                   "(emails, notifications, spam…). Sentiment: VADER lexicon, positive ≥ 0.05, negative ≤ −0.05. "
                   "Terms: log odds ratio of mentioning the term, detractors vs promoters.")
        pick = st.multiselect("Show comments of", list(m.CATEGORIES), default=["Detractor"], key="nps_comment_cats")
        only_mkt = st.checkbox("Only complaints about marketing", key="nps_comment_mkt")
        view = cf[cf["category"].isin(pick) & (cf["about_marketing"] | (not only_mkt))]
        comment_table = m.labelled(view, ["response_date", "respondent", "score", "category", "comment",
                                          "sentiment", "sentiment_label", "about_marketing"])
        show_table(comment_table, width="stretch")
        excluded_note(notes)
        show_sql(notes)
        download_csv(comment_table, "nps_comments.csv", "nps_comments")

st.header("Campaigns")
days = int(th["nps_campaign_window_days"])
if "response_date" not in dataset.mapping:
    st.info("Campaign overlay needs response dates.")
elif calendar is None:
    st.caption("Load a campaign calendar to see campaign dates on the trend and NPS after campaigns.")
    dataset_section(["campaign_calendar"], key="nps_calendar")
else:
    channels = sorted(calendar["channel"].unique())
    chosen = st.multiselect("Channels", channels, default=channels, key="nps_channels")
    cmp, per = m.campaign_effect(con, table, calendar_ds.table, days, chosen)
    z = m.difference_z(cmp.frame)
    beyond = (not math.isnan(z) and abs(z) >= z_for_alpha(th["baseline_alpha"])
              and bool((cmp.frame["n"] >= th["min_group_size"]).all()))  # both sides big enough to read
    cmp_frame = cmp.frame.assign(too_small=cmp.frame["n"] < th["min_group_size"], differs=beyond,
                                 z=[z, -z][:len(cmp.frame)])
    show_chart(charts.interval_chart(cmp_frame, "responses", f"NPS within {days} days after a campaign vs other days",
                                          "Responses"), width="stretch")
    st.write(f"Difference: z = {fmt(z, '{:.2f}')} — " + (
        "beyond the noise." if beyond else "within the noise."))
    st.caption(f"A response is “after a campaign” from the campaign's start until {days} days after its end "
               "(change the days under Thresholds). Campaigns with no response in their window are not listed.")
    if not periods.empty:
        base = m.dips_after_campaigns(periods, calendar[calendar["channel"].isin(chosen)], days, grain)
        st.write(base.sentence(grain, days, th["baseline_alpha"]))
    per_frame = per.frame.assign(too_small=per.frame["n"] < th["min_group_size"])
    per_table = m.labelled(per_frame, ["campaign", "channel", "start_date", "end_date", "n", "nps", "moe", "too_small"])
    show_table(per_table, width="stretch")
    show_sql(cmp, "Show SQL (after campaigns vs other days)")
    show_sql(per, "Show SQL (per campaign)")
    download_csv(per_table, "nps_after_campaigns.csv", "nps_campaigns")

sections.people_and_outcomes(m, ws, dataset, con, th, {c: s.label for c, s in segments.items()})

st.header("Red flags")
flags_table(m.area_flags(ws), key="nps")

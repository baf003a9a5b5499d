"""Sections of the NPS page for issue #22 — follow-up lists, do detractors leave, referrals —
kept out of app_pages/nps.py (page budget). Each takes the page's metrics module `m` (memoised per
session by ui.cache) and renders one section; the numbers all come from lib.metrics.nps."""

from __future__ import annotations

import streamlit as st

from lib.charts import nps as charts
from lib.errors import BoundaryError
from lib.markup import escape_md
from ui.cache import session_cached, show_chart
from ui.common import dataset_section, download_csv, excluded_note, presenting, show_sql, show_table

charts = session_cached(charts)


def _labels(dataset) -> dict[str, str]:
    """Table column → the file's own header, for naming join keys."""
    return {**{c: f for c, f in dataset.mapping.items()}, **dataset.extra_columns}


def people_and_outcomes(m, ws, dataset, con, th, segment_labels: dict[str, str]) -> None:
    """The page's sections after Campaigns: referral candidates, follow-up lists, do detractors leave,
    referrals, survey response rate."""
    referral_candidates(m, con, dataset.table, th, segment_labels)
    follow_up(m, con, dataset.table, segment_labels)
    detractors_leave(m, ws, dataset, con, th)
    referrals(m, ws, dataset, con, th)
    response_rate(m, con, dataset.table)


def referral_candidates(m, con, table: str, th, segment_labels: dict[str, str]) -> None:
    st.header("Referral candidates")
    cut = int(th["nps_referral_min_score"])
    refs = m.referral_candidates(con, table, cut, segment_labels)
    st.write(f"{len(refs.frame):,} respondent(s) whose latest score is {cut} or more "
             "(change the score under Thresholds; 7 is a common starting point for tracking referrals).")
    ref_table = refs.frame.rename(columns=m.LABELS)
    show_table(ref_table, width="stretch")
    show_sql(refs)
    download_csv(ref_table, "nps_referral_candidates.csv", "nps_referrals")


def follow_up(m, con, table: str, segment_labels: dict[str, str]) -> None:
    st.header("Follow-up lists")
    st.caption("Everyone whose latest answer is a detractor (0–6) — with or without a comment — beside everyone "
               "whose latest answer is a promoter (9–10): who the team calls back, and who to thank.")
    det = m.follow_up_list(con, table, 0, 6, segment_labels)
    pro = m.follow_up_list(con, table, 9, 10, segment_labels)
    left, right = st.columns(2)
    for where, result, name in ((left, det, "Detractors"), (right, pro, "Promoters")):
        with where:
            st.subheader(f"{name} ({len(result.frame):,})")
            frame = result.frame.rename(columns=m.LABELS)
            show_table(frame, width="stretch", height=280)
            download_csv(frame, f"nps_{name.lower()}_to_follow_up.csv", f"nps_follow_{name.lower()}")
    excluded_note(det)
    show_sql(det, "Show SQL (detractors; promoters are scores 9–10)")


def detractors_leave(m, ws, dataset, con, th) -> None:
    st.header("Do detractors leave?")
    days = int(th["nps_outcome_window_days"])
    if "response_date" not in dataset.mapping:
        st.info("This needs response dates: pick the date column under “Columns” above.")
        return
    other = next((ws.get(k) for k in m.OUTCOME_KINDS if ws.get(k) is not None), None)
    if other is None:
        st.caption("Load a subscriptions export or a customers file (customer id or email; start and end, or "
                   "signup and churn dates) to see whether detractors churn, downgrade or expand more than promoters.")
        if not presenting():
            dataset_section(["subscriptions", "customers"], key="nps_outcomes")
        return
    if other.kind == "customers" and "churn_date" not in other.mapping:
        st.info(f"{escape_md(other.file_name)} has no churn date, so it cannot say who left after answering. "
                "Map a churn date under “Columns”, or load a subscriptions export.")
        return
    keys = m.outcome_join_keys(con, dataset, other)
    mine, theirs = _labels(dataset), _labels(other)
    if keys.empty or int(keys["matched"].max()) == 0:
        st.warning(f"No respondent of {escape_md(dataset.file_name)} is found in {escape_md(other.file_name)}: no "
                   "column of one shares a value with a customer id or email column of the other. Map the "
                   "respondent (email or customer id) under “Columns”.")
        return
    pairs = {f"{a}|{b}": i for i, (a, b) in enumerate(zip(keys["nps_column"], keys["other_column"]))}
    picked = st.selectbox(
        "Join respondents to customers on", list(pairs), key="nps_outcome_key",
        format_func=lambda p: (f"{mine.get(keys.at[pairs[p], 'nps_column'], keys.at[pairs[p], 'nps_column'])} = "
                               f"{theirs.get(keys.at[pairs[p], 'other_column'], keys.at[pairs[p], 'other_column'])} "
                               f"({keys.at[pairs[p], 'matched']:,} of {keys.at[pairs[p], 'keys']:,} respondents found)"),
        help="Offered: every pair of id or email columns, the one that finds the most respondents first. "
             "Values are compared trimmed and in any case.")
    choice = pairs[picked]
    try:
        ctes, params, as_of = m.outcome_moves(con, other)
        result = m.outcomes_after_answer(con, dataset.table, keys.at[choice, "nps_column"], ctes, params, other.table,
                                         keys.at[choice, "other_column"], days, as_of)
    except BoundaryError as exc:
        st.error(str(exc))
        return
    frame = result.frame
    tests = m.outcome_tests(frame, th["baseline_alpha"], int(th["min_group_size"]))
    show_chart(charts.outcome_chart(frame, days), width="stretch")
    rows = frame.set_index("category")
    for t in tests.itertuples():
        if not t.tested:
            continue
        word = m.OUTCOME_LABELS[t.outcome].lower()
        st.write(f"**{m.OUTCOME_LABELS[t.outcome]}**: detractors {t.detractor_rate:.1%} "
                 f"({rows.at['Detractor', t.outcome]:,} of {rows.at['Detractor', 'paying']:,}) vs promoters "
                 f"{t.promoter_rate:.1%} ({rows.at['Promoter', t.outcome]:,} of {rows.at['Promoter', 'paying']:,}), "
                 f"{t.difference:+.1f} points; p = {t.p_value:.2g}, adjusted {t.p_adjusted:.2g} — "
                 + (f"detractors {word} more often, beyond the noise." if t.flagged and t.outcome != "expanded" else
                    "detractors expanded less often, beyond the noise." if t.flagged else
                    "a difference beyond the noise, but not the worrying way round." if t.p_adjusted < th["baseline_alpha"]
                    else "within the noise."))
    if not tests["tested"].any():
        st.info(f"Too few paying detractors or promoters to compare (fewer than {th['min_group_size']:.0f} each).")
    what = ("NCVG's customer movements: churn = stopped paying, downgrade = value down, expansion = value up"
            if other.kind == "subscriptions" else "the customers file's churn date (churn only: it has no values)")
    st.caption(f"One answer per respondent: the latest whose {days} days had passed when the data ends "
               f"({as_of:%d %b %Y}). Share = respondents with the outcome on a day after their answer and at most "
               f"{days} days later ÷ respondents paying on the day they answered; outcomes from {what}. "
               "Detractors against promoters with a two-proportion test (Fisher's exact when a cell expects < 5), "
               "p adjusted (Benjamini–Hochberg) over the three outcomes; tested when both groups have at least "
               f"{th['min_group_size']:.0f}. Change the days under Thresholds. A link, not proof: detractors may "
               "differ from promoters in plan or tenure too.")
    show_table(frame[["category", "respondents", "matched", "paying", "churned", "churned_rate", "downgraded",
                      "downgraded_rate", "expanded", "expanded_rate"]], width="stretch")
    excluded_note(result)
    show_sql(result)
    download_csv(frame, "nps_outcomes_after_answer.csv", "nps_outcomes")


def referrals(m, ws, dataset, con, th) -> None:
    st.header("Referrals")
    sources = [ws.get(k) for k in m.REFERRAL_KINDS if m.referral_column(ws.get(k))]
    if not sources:
        st.info("No loaded customer, subscription or lead file says who was referred. Referrals need a "
                "“Referred by” column (the referrer's email or customer id — that also shows whether promoters "
                "refer more) or a source column with values such as “Referral”, in a subscriptions, customers "
                "or leads file.")
        return
    left, right = st.columns(2)
    kinds = {d.kind: d for d in sources}
    src = kinds[left.selectbox("Referrals from", list(kinds), key="nps_referral_source",
                               format_func=lambda k: f"{kinds[k].file_name} ({kinds[k].label})")]
    column = m.referral_column(src)
    grain = right.selectbox("Period", ["month", "quarter"], key="nps_referral_grain")
    try:
        ctes, params, currency = m.referral_moves(con, src)
        result = m.referrals_by_period(con, src, grain, ctes, params)
    except BoundaryError as exc:
        st.error(str(exc))
        return
    f = result.frame
    total, referred = int(f["new_customers"].sum()), int(f["referred_customers"].sum())
    cols = st.columns(3)
    cols[0].metric("Referred customers", f"{referred:,}", help=f"New customers of {src.file_name} with a referral.")
    cols[1].metric("Share referred", f"{referred / total:.1%}" if total else "—",
                   help="Referred new customers ÷ all new customers.")
    if f["new_value"].notna().any():
        cols[2].metric(f"Their value (MRR{', ' + currency.upper() if currency else ''})",
                       f"{f['referred_value'].sum():,.0f}", help="MRR of referred customers on their first paying day.")
    show_chart(charts.referral_chart(f, grain), width="stretch")
    who = ("“Referred by” filled in (not blank, “no” or “none”)" if column == "referred_by"
           else "a source that mentions “referral”")
    st.caption(f"From {escape_md(src.file_name)}: a customer is referred when a row has {who}. " + (
        "New customers and their value are NCVG's (first paying day, MRR that day, one currency)."
        if src.kind == "subscriptions" else "No value column, so values are blank."))
    show_table(f[["label", "new_customers", "referred_customers", "share_referred", "share_low", "share_high",
                  "new_value", "referred_value"]], width="stretch")
    show_sql(result)
    download_csv(f, f"nps_referrals_by_{grain}.csv", "nps_referrals_period")
    st.subheader("Do promoters refer more?")
    if column != "referred_by":
        st.info("A source like “Referral” does not say who referred: a “Referred by” column with the referrer's "
                "email or id is needed to compare promoters with others.")
        return
    keys = m.join_keys(con, dataset.table, src.table, m.key_columns(con, dataset.table, ("respondent",)), ["referred_by"])
    if keys.empty or int(keys.iloc[0]["matched"]) == 0:
        st.info("No “Referred by” value names a respondent of the NPS file (by email or id), so referrers cannot be "
                "matched to their answers.")
        return
    by = m.referrals_by_category(con, dataset.table, keys.iloc[0]["nps_column"], src.table,
                                 "customer_id" if src.kind != "leads" else "lead_id")
    test = m.promoters_refer_more(by.frame)
    rows = by.frame.set_index("category")
    others = rows.loc[["Passive", "Detractor"]].sum()
    st.write(f"Promoters who referred someone: {test.rate:.1%} ({rows.at['Promoter', 'referrers']:,} of "
             f"{rows.at['Promoter', 'respondents']:,}); passives and detractors: {test.baseline:.1%} "
             f"({int(others['referrers']):,} of {int(others['respondents']):,}); p = {test.p_value:.2g} — "
             + ("promoters refer more, beyond the noise." if test.p_value < th["baseline_alpha"] and test.z > 0 else
                "no difference beyond the noise."))
    f = by.frame
    when = (f"of a customer who arrived on or after the day of that answer ({int(f['referrals_before_answer'].sum()):,} "
            f"referrals made before the answer and {int(f['referrals_undated'].sum()):,} without a date are not counted)"
            if f["timed"].all() else "(no answer date or arrival date, so referrals made before the answer count too)")
    st.caption(f"Each respondent's latest answer; a referrer is a respondent whose email or id appears in “Referred by” "
               f"{when}. Two-proportion test (Fisher's exact when a cell expects < 5), two-sided; shares with "
               "95% Wilson intervals.")
    show_table(by.frame.drop(columns="timed"), width="stretch")  # said in the caption above
    show_sql(by)


def response_rate(m, con, table: str) -> None:
    st.header("Survey response rate")
    reason = m.response_rate_reason(con, table)
    if reason:
        st.caption(reason)
        return
    grain = st.selectbox("Period", ["month", "quarter", "week"], key="nps_response_grain")
    result = m.response_rate_by_period(con, table, grain)
    frame = result.frame
    sent, answered = int(frame["sent"].sum()), int(frame["answered"].sum())
    st.write(f"{answered:,} of {sent:,} invitations answered: {answered / sent:.1%}." if sent else "No invitation has a sent date.")
    show_chart(charts.response_rate_chart(frame, grain), width="stretch")
    st.caption("Response rate = invitations answered ÷ invitations sent in the period of the sent date (a row per "
               "invitation; answered = it has a score, even an unreadable one, or a response date), with a 95% Wilson "
               "interval. A period that has not ended yet is grey: its late answers may still come in.")
    table_frame = frame[["label", "sent", "answered", "response_rate", "low", "high", "incomplete"]]
    show_table(table_frame, width="stretch", column_config={
        c: st.column_config.NumberColumn(c.replace("_", " ").capitalize() + (" (95%)" if c != "response_rate" else ""),
                                         format="percent") for c in ("response_rate", "low", "high")})
    excluded_note(result)
    show_sql(result)
    download_csv(table_frame, f"nps_response_rate_by_{grain}.csv", "nps_response_rate")

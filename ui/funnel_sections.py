"""Sections of the Funnel page that would make app_pages/funnel.py too long: the breakdown by source or
campaign (a fragment), the lead-scoring results (who qualifies, per-rule impact, touches to close), cost
per MQL and nurture programs side by side.

Thin Streamlit code like a page: widgets in, lib calls, tiles/charts/tables out. The page passes its
own module aliases (`fm`, `ls`, `charts`, memoised per session by ui.cache) so every figure here goes
through the same per-session cache as the rest of the page.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.errors import BoundaryError
from lib.markup import escape_md
from lib.segments import default_segment
from ui.cache import show_chart
from ui.common import download_csv, excluded_note, show_sql, show_table
from ui.workspaces import fragment

PCT = st.column_config.NumberColumn(format="percent")


def formats(frame, pct=()):
    """Percent, date and 2-decimal formats for a table's columns."""
    config = {c: PCT for c in pct}
    for c in frame.columns:
        if c not in config and pd.api.types.is_datetime64_any_dtype(frame[c]):
            config[c] = st.column_config.DateColumn(format="YYYY-MM-DD")
        elif c not in config and pd.api.types.is_float_dtype(frame[c]):
            config[c] = st.column_config.NumberColumn(format="%.2g" if c.startswith("p_") else "%.2f")
    return config


def table(result, name, key, pct=(), hide=(), shown=None):
    """The figure's table (or `shown`), rows left out, its SQL and a CSV download."""
    frame = result.frame.drop(columns=[c for c in hide if c in result.frame.columns])
    view = frame if shown is None else shown
    show_table(view, width="stretch", column_config=formats(view, pct), key=f"t_{key}")
    excluded_note(result)
    show_sql(result)
    download_csv(frame, f"{name}.csv", f"funnel_{key}")


@fragment
def group_breakdown(fm, charts, con, leads, src, stages, start, end, window, th):
    """Which sources and campaigns convert: the funnel by a column of the leads file. An st.fragment —
    its three widgets change this section alone, so a click reruns it, not the page
    (ui.workspaces.fragment keeps their choices with the workspace)."""
    st.subheader("Which sources and campaigns convert?")
    try:
        found = fm.segment_choices(con, src, {**leads.mapping, **leads.extra_columns}, int(th["min_group_size"]))
        choices = {c.column: c for c in found}
        if not (choices and len(stages) > 1):
            st.info("Needs a column to break the funnel down by (source, campaign, country…) and at least two stages.")
            return
        first = next((g for g in fm.GROUPINGS if g in choices), None) or default_segment(found).column
        left, mid, right = st.columns([2, 1, 2])
        by = left.selectbox("Break down by", list(choices), index=list(choices).index(first),
                            format_func=lambda c: f"{choices[c].label} ({choices[c].levels:,} values)",
                            key="funnel_by")
        top = int(mid.number_input("Largest groups shown", 1, 500, fm.TOP_GROUPS, key="funnel_by_top"))
        search = right.text_input("Find a group", key="funnel_by_search", placeholder="part of a name")
        label = choices[by].label
        # counted from each lead's stage dates and group, read once per stages and column (no query a window)
        res = fm.funnel_by_group(con, src, stages, by, start, end, window, top, int(th["min_group_size"]), search,
                                 excluded=fm.exclusions(con, src, stages), reach=fm.reach_frame(con, src, stages),
                                 groups=None if by in fm.GROUPINGS else fm.lead_groups(con, src, stages, by))
    except BoundaryError as exc:  # a fragment's rerun is outside the page's own try
        st.error(escape_md(exc))
        return
    if search.strip() and not (~res.frame["other"]).any():
        st.info(f"No {escape_md(label)} contains “{escape_md(search.strip())}”.")
    show_chart(charts.group_conversion_chart(res.frame, f"{stages[0]} → {stages[-1]} by {label}",
                                             f"{stages[0]} → {stages[-1]}"), width="stretch")
    every, named = int(res.frame["groups"].sum()), int((~res.frame["other"]).sum())
    st.caption(f"{every:,} groups; the {named:,} with most leads"
               f"{' whose name contains “' + escape_md(search.strip()) + '”' if search.strip() else ''} are shown"
               + (", the rest add up in “Other” (a mix of groups, not tested) so leads sum to the funnel's total."
                  if named < every else ".") + " Bars: conversion with its 95% Wilson interval; grey groups have "
               f"fewer than {th['min_group_size']:.0f} leads. Click a column header to sort.")
    table(res, f"funnel_by_{by}", "groups", pct=("conversion", "conversion_low", "conversion_high"),
          hide=("groups", "other"))


def _cohort(fm, con, src, stages, start, end, window):
    """The funnel's cohort as the page reads it: from each lead's stage dates, no query a window."""
    return fm.cohort_frame(con, src, stages, start, end, window, fm.reach_frame(con, src, stages))


def scoring_results(fm, ls, charts, con, leads, src, rules, stages, start, end, window, grain, th):
    """Who qualifies and why, conversion by score band, the score profile, then which rules matter and
    the touches to close."""
    threshold = float(th["funnel_mql_score_min"])
    st.caption(f"MQL threshold: **{threshold:g} points** (change it under “Thresholds” above).")
    options = ["Boundary rules above"] + (["The file's own score"] if "lead_score" in leads.mapping else [])
    file_score = st.radio("Score to use", options, horizontal=True, key="funnel_score_from") != options[0]
    scores = ls.lead_scores(con, leads.table, rules, threshold, file_score)
    qual = scores.frame[scores.frame["qualifies"]]
    st.metric("Leads at or above the MQL threshold", f"{len(qual):,}",
              help=f"Leads with score ≥ {threshold:g} / all {len(scores.frame):,} leads in the file.")
    dist = ls.score_distribution(con, leads.table, rules, threshold, file_score)
    show_chart(charts.score_histogram(dist.frame, threshold), width="stretch")
    show_table(qual.head(500), width="stretch", key="t_qual",
               column_config=formats(qual, ("fit_share",)))
    excluded_note(scores)
    show_sql(scores)
    download_csv(scores.frame, "lead_scores.csv", "funnel_scores")
    who = st.selectbox("Explain one lead's score", list(scores.frame["lead_id"].head(200)), key="funnel_who")
    show_table(ls.score_ledger(con, leads.table, rules, who).frame, key="t_ledger")
    if len(stages) > 1:
        target = st.selectbox("Conversion to", stages[1:], index=len(stages) - 2, key="funnel_target")
        # the funnel's leads (one query a window) joined in pandas to the bands read once per rules: no ledger
        band = ls.conversion_by_score_band(con, fm.cohort_sql(src, stages, start, end, window), leads.table,
                                           rules, stages.index(target), threshold, file_score,
                                           cohort=_cohort(fm, con, src, stages, start, end, window),
                                           bands=ls.lead_bands(con, leads.table, rules, file_score))
        show_chart(charts.band_conversion_chart(band.frame, target), width="stretch")
        st.caption(ls.SCORE_BAND_CAVEAT)
        table(band, "conversion_by_score_band", "bands", pct=("rate", "rate_low", "rate_high"))
    if "created_date" in leads.mapping:
        days = ls.score_profile_days(con, leads.table, rules, file_score, start, end)  # a period change: no query
        prof = ls.score_profile(con, leads.table, rules, grain, file_score, start, end, days)
        show_chart(charts.score_profile_chart(prof.frame, grain), width="stretch")
        st.caption("Exports hold today's score, so this is the current score of the leads created in each "
                   "period, not their score at that period's end.")
        table(prof, "score_profile", "profile", pct=("share",))
    if len(stages) > 1 and rules:
        rule_impact(fm, ls, charts, con, leads, src, rules, stages, start, end, window, th, target)
        touches(fm, ls, charts, con, leads, src, rules, stages, start, end, window)


def rule_impact(fm, ls, charts, con, leads, src, rules, stages, start, end, window, th, target):
    """Per rule: leads it fired for, conversion with vs without it, and whether it ever decides an MQL."""
    st.subheader("Which activities raise scores, and which have no impact?")
    threshold, alpha, min_n = float(th["funnel_mql_score_min"]), th["baseline_alpha"], int(th["min_group_size"])
    res = ls.rule_impact(con, fm.cohort_sql(src, stages, start, end, window), leads.table, rules,
                         stages.index(target), threshold, alpha, min_n,
                         cohort=_cohort(fm, con, src, stages, start, end, window),
                         per=ls.rule_leads(con, leads.table, rules, threshold))
    frame = res.frame
    idle = frame.loc[frame["no_impact"], "rule"].tolist()
    if idle:
        st.warning(f"{len(idle)} rule(s) never change who qualifies — removing any one of them alone leaves every "
                   f"lead's MQL status (score ≥ {threshold:g}) as it is: " + ", ".join(escape_md(r) for r in idle) + ".")
    show_chart(charts.rule_impact_chart(frame, target), width="stretch")
    tested = int(frame["p_value"].notna().sum())
    st.caption(f"Conversion to {target} = leads of the funnel (entered in the range) reaching it within the window. "
               "For each rule, the leads it fired for against the leads it did not: difference with its 95% "
               f"interval (Newcombe), two-proportion test (Fisher's exact when counts are small) when both sides have "
               f"≥ {min_n} leads, Benjamini–Hochberg over the {tested} rules tested. *Leads whose MQL status depends "
               "on it* = leads whose score crosses the MQL threshold when that rule alone is removed. "
               + ls.RULE_IMPACT_CAVEAT)
    table(res, "scoring_rule_impact", "impact", pct=("fired_share", "with_rate", "without_rate", "diff", "diff_low",
                                                     "diff_high"))


def touches(fm, ls, charts, con, leads, src, rules, stages, start, end, window):
    """Marketing touches (activity counts) of the leads that became customers: median and distribution."""
    st.subheader("How many marketing touches to a customer?")
    if not any(r.kind == "Behaviour" for r in rules):
        st.info("Touches to close need activity counts (email opens, page views, webinars…): add a Behaviour rule "
                "on such a column in the scoring rules above.")
        return
    last = stages[-1]
    res = ls.touches_to_close(con, fm.cohort_sql(src, stages, start, end, window), leads.table, rules,
                              len(stages) - 1, cohort=_cohort(fm, con, src, stages, start, end, window),
                              touches=ls.lead_touches(con, leads.table, rules))
    summary = ls.touch_summary(res.frame)
    cols = sorted({leads.extra_columns.get(r.column, leads.mapping.get(r.column, r.column))
                   for r in rules if r.kind == "Behaviour"})
    c1, c2, c3 = st.columns(3)
    c1.metric(f"Median touches to {last}", "—" if not summary["n"] else f"{summary['median']:g}",
              help=f"Median over the {summary['n']:,} funnel leads that reached {last} within the window of the sum "
                   f"of their activity counts ({', '.join(cols)}).")
    c2.metric("Middle half", "—" if not summary["n"] else f"{summary['p25']:g}–{summary['p75']:g}",
              help="25th to 75th percentile of touches per lead that became a customer.")
    c3.metric(f"Median of leads not reaching {last}", "—" if not summary["other_n"] else f"{summary['other_median']:g}",
              help=f"The same sum over the {summary['other_n']:,} funnel leads that did not, for reference.")
    dist = ls.touch_distribution(res.frame)
    if summary["n"]:
        show_chart(charts.touches_chart(dist, last), width="stretch")
    st.caption(f"A touch = one count in {', '.join(escape_md(c) for c in cols)} (the Behaviour rules' columns; "
               "a yes counts 1), without points or caps. n = "
               f"{summary['n']:,} leads that reached {last}. " + ls.TOUCHES_CAVEAT)
    show_table(dist, width="stretch", key="t_touches", column_config=formats(dist, ("share",)))
    excluded_note(res)
    show_sql(res)
    download_csv(res.frame, "touches_per_lead.csv", "funnel_touches")


def _cost_per_mql(fm, con, src, stages, table_name, mql, start, end, window):
    """Cost per MQL as the page reads it: the costs once per cost table and range, the leads from each lead's
    stage dates — no query a window."""
    grain = fm.cost_grain(con, table_name)
    return fm.cost_per_mql(con, src, stages, table_name, mql, start, end, window, fm.reach_frame(con, src, stages),
                           fm.campaign_costs(con, table_name, start, end, grain), grain)


def cost_results(fm, charts, con, src, stages, table_name, mql, start, end, window):
    """Cost per MQL per campaign, once the cost table (uploaded or typed) is known."""
    res = _cost_per_mql(fm, con, src, stages, table_name, mql, start, end, window)
    if res.frame["cost_per_mql"].notna().any():
        show_chart(charts.cost_chart(res.frame), width="stretch")
    st.caption(f"Cost per MQL = program cost in the range / leads of that campaign reaching {mql} within the "
               f"window. {fm.cost_rule(fm.cost_grain(con, table_name), start, end)}")
    table(res, "cost_per_mql", "cost")


def programs(fm, charts, con, leads, closed, src, stages, cost_table, mql, start, end, window):
    """Nurture programs side by side: MQL rate, time to MQL, cost per MQL, customers' value."""
    st.subheader("Nurture programs side by side")
    if "campaign" not in src.columns:
        st.info("Comparing programs needs a campaign / program column in the leads file: map it under “Columns”.")
        return
    found = fm.value_columns(con, [leads] + ([closed] if closed is not None else []))
    pick = None
    if found:  # shown only with a money column, so joining a closed-deals file offers it afresh
        labels = ["(none)"] + [label for _, _, label in found]
        pick = st.selectbox("Customer value from", labels, index=1, key="funnel_value_col",
                            help="A money column of the leads file or of the joined closed-deals file (revenue, "
                                 "value, amount, MRR…), joined on lead ID.")
    value = next(((t, c) for t, c, label in found if label == pick), None)
    costs = _cost_per_mql(fm, con, src, stages, cost_table, mql, start, end, window) if cost_table else None  # above
    res = fm.program_comparison(con, src, stages, mql, cost_table, start, end, window, value, costs=costs,
                                excluded=fm.exclusions(con, src, stages), reach=fm.reach_frame(con, src, stages),
                                values=fm.lead_values(con, *value) if value else None)
    frame = res.frame
    show_chart(charts.program_chart(frame, mql), width="stretch")
    st.caption(f"Per program (the leads' campaign; the {fm.TOP_GROUPS} with most leads by name, the rest in "
               f"“Other”, leads with none in “{fm.NO_PROGRAM}”, so programs add up to the funnel): {mql} rate = leads reaching {mql} within the window ÷ the program's leads, with its 95% Wilson "
               f"interval; median days from entering to {mql}; cost per {mql} = the program's cost in the range ÷ its "
               f"{mql}s (as above)"
               + (f"; customer value = Σ “{escape_md(pick)}” over the program's customers (leads reaching "
                  f"{stages[-1]} within the window), value per cost = that value ÷ the program's cost." if value else
                  ". No money column found for customer value: join a closed-deals file with a revenue or amount "
                  "column above, or add one to the leads file.")
               + (" No costs yet: load a cost table or type costs above." if cost_table is None else ""))
    names = {"mqls": f"{mql}s", "mql_rate": f"{mql} rate", "mql_low": "95% low", "mql_high": "95% high",
             "median_days_to_mql": f"Median days to {mql}", "cost_per_mql": f"Cost per {mql}"}  # the stage's own name
    table(res, "nurture_programs", "programs", pct=(f"{mql} rate", "95% low", "95% high"),
          shown=frame.drop(columns=["customers"] if mql == stages[-1] else []).rename(columns=names))

"""Sections of the Cohorts page kept out of app_pages/cohorts.py (page budget): the group comparison,
an st.fragment — its three widgets change this section alone, so a click reruns it, not the page
(ui.workspaces.fragment keeps their choices with the workspace). It takes the page's modules `m` and
`charts` (memoised per session by ui.cache); every number comes from lib.metrics.cohorts."""

from __future__ import annotations

import streamlit as st

from lib.markup import escape_md
from lib.segments import default_segment
from ui.cache import show_chart
from ui.common import download_csv, show_sql, show_table
from ui.workspaces import fragment


def shown_attribute(m, con, table, dataset, ws) -> str | None:
    """The column the group comparison will show (the one chosen, else the default; None without any),
    so the page can sum its matrix from that column's cells: one pass over the events for both."""
    found = m.group_choices(con, table, dataset.extra_columns, int(ws.thresholds["min_group_size"]))
    if not found:
        return None
    chosen = st.session_state.get("coh_group")
    return chosen if chosen in {c.column for c in found} else default_segment(found).column


@fragment
def group_comparison(m, charts, con, table, dataset, ws, opts, unit: str, first_n: int, later_n: int,
                     chart_height: int) -> None:
    """Which groups retain better: retention curves and a summary per group of a user attribute."""
    st.subheader("Which groups retain better?")
    found = m.group_choices(con, table, dataset.extra_columns, int(ws.thresholds["min_group_size"]))
    if not found:
        st.info("The file has no user attribute columns (such as plan, company or “attended onboarding webinar”) to "
                "compare: every other column is blank, different on every row (an id), or a number with many values.")
    else:
        choices = {c.column: c for c in found}
        left, mid, right = st.columns([2, 1, 2])
        attribute = left.selectbox("Compare users by", list(choices),
                                   index=list(choices).index(default_segment(found).column),
                                   format_func=lambda c: f"{choices[c].label} ({choices[c].levels:,} values)",
                                   key="coh_group")
        top = int(mid.number_input("Largest groups shown", 1, 50, m.MAX_GROUPS, key="coh_group_top"))
        search = right.text_input("Find a group", key="coh_group_search", placeholder="part of a name")
        label = choices[attribute].label
        groups = m.group_retention(con, table, attribute, opts, top, search)
        gframe = m.mark_small(groups.frame, ws.thresholds["min_group_size"])
        if search.strip() and len(gframe) and gframe["other"].all():
            st.info(f"No {escape_md(label)} contains “{escape_md(search.strip())}”.")
        show_chart(charts.retention_curves(gframe, unit, group="group", title=f"Retention by {label}"),
                        width="stretch", height=chart_height)
        varying = int(gframe["varying_users"].iloc[0]) if len(gframe) else 0
        st.caption("A user's group is the value on their first event that has one"
                   + (f"; {varying:,} users' value changes later and they stay in their first group." if varying else
                      "; no user's value changes over time."))
        if len(gframe):
            total = int(gframe["all_groups"].iloc[0])
            named = int(gframe.loc[~gframe["other"], "group"].nunique())
            st.caption(f"{total:,} groups; the {named:,} largest"
                       f"{' whose name contains “' + search.strip() + '”' if search.strip() else ''} are shown"
                       + (", the rest add up in “Other” (a mix of groups) so users sum to the total." if named < total
                          else ".") + " Click a column header to sort.")
        small = gframe.loc[gframe["small"]]
        if len(small):
            st.caption(f"{len(small)} point(s) rest on fewer than {ws.thresholds['min_group_size']:.0f} users "
                       "(marked “small” in the table): read them with care.")
        summary = m.group_table(gframe, (first_n, later_n), unit).rename(columns={"Group": label})
        show_table(summary, width="stretch", column_config={
            c: st.column_config.NumberColumn(c, format="percent") for c in summary.columns[2:]})
        download_csv(gframe, "group_retention.csv", key="coh_groups")
        show_sql(groups)

"""Email page sections of issue #22: send time, A/B tests, consistency. The page passes its own
(session-cached) `em` and `charts` module aliases, so these figures share its per-session cache."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lib.metrics import email as lib_em
from ui.cache import session_cached, show_chart
from ui.common import download_csv, show_sql, show_table, workspace
from ui.workspaces import fragment

em = session_cached(lib_em)  # the page's figures, in the same session memo

RATE_LABELS = {"open_rate": "Open rate", "click_rate": "Click rate", "ctor": "Click-to-open rate",
               "unsubscribe_rate": "Unsubscribe rate", "spam_rate": "Spam complaint rate"}


def table(frame: pd.DataFrame, key: str | None = None, **how) -> None:
    """A sortable table with rates as percentages, and its CSV download when `key` is given; `how`: what
    `display` makes of `frame` first (the rows and columns shown)."""
    frame = display(frame, **how)  # memoised: a rerun shows the session's Arrow copy (show_table)
    show_table(frame, column_config={
        c: st.column_config.NumberColumn(format="percent") for c in lib_em.percent_columns(frame)})
    if key:
        download_csv(frame, f"{key}.csv", key)


def display(frame: pd.DataFrame, columns: list | None = None, rename: dict | None = None, how: str | None = None,
            only: str | None = None) -> pd.DataFrame:
    """The frame a table shows: `how` = "history" or "campaigns" (lib_em.history_display, campaign_display)
    first, then the rows whose boolean column `only` is true, the `columns`, `rename`d, and for_display.
    Memoised (below): a frame the memo handed out is keyed by the call that made it, not hashed, and the
    result is handed out, so show_table converts it to Arrow once, not on every rerun."""
    given = frame
    if how == "history":
        frame = lib_em.history_display(frame)
    elif how == "campaigns":
        frame = lib_em.campaign_display(frame)
    if only is not None:  # the columns shown first: the rows are then cut from those alone
        frame = frame.loc[frame[only].to_numpy(dtype=bool), frame.columns if columns is None else list(columns)]
    elif columns is not None:
        frame = frame[list(columns)]
    if rename and frame is not given and len(frame.columns) and not isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [rename.get(c, c) for c in frame.columns]  # a frame made here: renamed in place (~30 µs, not ~0.3 ms)
    elif rename:
        frame = frame.rename(columns=rename)
    return lib_em.for_display(frame)


def figures(con, data, filters, grain: str, th, rows) -> dict:
    """Every figure of the page that a period, list or topic click changes, computed together from the
    page's frame of sends (`rows` = em.base_rows: no query) and memoised as one (below): the memo keys
    this call's small arguments once instead of `data` and a frame for each of ~15 calls (~1 ms each).
    Keys: previous (pooled rates of the range before), sends, periods, period_tests, campaign_tests,
    changes, campaigns, days, gaps (breaks in sending), mix, growth, and with a topic column by_topic_period
    and groups; from those: time_rows (send_time_rows), corr (frequency_vs_unsubscribes), slopes
    (open_rate_trends), declined (declined_periods) and behind (lists_behind_declines); flags =
    `flags_from` of those very frames (= em.email_flags). The figures no period reaches (`range_figures`)
    are memoised apart, so a period click does not compute them again."""
    alpha, k, jump = th["baseline_alpha"], int(th["baseline_periods"]), th["email_volume_jump"]
    # the campaign tests first: the period tests borrow their send-level τ² when few periods have history
    campaign_tests = lib_em.baseline_tests(con, data, filters, grain, k, alpha, "campaign", rows=rows)
    out = {**range_figures(con, data, filters, int(th["min_group_size"]), rows),
           "sends": lib_em.sends(con, data, filters, grain, rows=rows),
           "periods": lib_em.rates_by_period(con, data, filters, grain, rows=rows),
           "period_tests": lib_em.baseline_tests(con, data, filters, grain, k, alpha, "period", rows=rows),
           "campaign_tests": campaign_tests,
           "changes": lib_em.program_changes(con, data, filters, grain, k, jump, alpha, rows=rows),
           "mix": lib_em.topic_mix_effect(con, data, filters, grain, rows=rows),
           "growth": lib_em.list_growth(con, data, filters, grain, rows=rows)}
    if data.has("topic"):
        out["by_topic_period"] = lib_em.rates_by_period(con, data, filters, grain, by="topic", rows=rows)
    out["gaps"] = lib_em.gaps_from_days(out["days"], th["email_gap_multiple"], th["email_gap_min_days"], jump)  # = sending_gaps
    # what the page and its sections derive from those, here too: one memo call a click, not one each
    out["time_rows"] = lib_em.send_time_rows(con, data, filters, out["sends"])
    out["corr"] = lib_em.frequency_vs_unsubscribes(out["periods"].frame, grain)
    out["slopes"] = lib_em.open_rate_trends(out["mix"].frame, grain)
    out["declined"] = lib_em.declined_periods(out["period_tests"].frame)
    out["behind"] = lib_em.lists_behind_declines(out["growth"].frame, out["declined"], grain)
    out["flags"] = lib_em.flags_from(data, grain, th, out["sends"].frame, out["periods"].frame,
                                     out["period_tests"].frame, out["campaign_tests"].frame, out["changes"].frame,
                                     out["campaigns"].frame, out["gaps"].frame)
    return out


def range_figures(con, data, filters, min_group_size: int, rows) -> dict:
    """The page's figures that depend on the selection but not on the period (see `figures`): previous
    (pooled rates of the range before), campaigns (every send), days (send days) and, with a topic
    column, groups (the topic table)."""
    out = {"previous": lib_em.pooled_rates(con, data, filters.previous(), rows=rows),
           "campaigns": lib_em.campaign_table(con, data, filters, rows=rows),
           "days": lib_em.send_days(con, data, filters, rows=rows)}
    if data.has("topic"):
        out["groups"] = lib_em.rates_by_group(con, data, filters, "topic", min_n=min_group_size, rows=rows)
    return out





@fragment
def history_rate(em, charts, with_campaigns, con, data, period_tests, campaigns) -> None:
    """The own-history chart and table of the rate picked here (the tests of every rate are the page's)."""
    rates = {r.label: r for r in data.usable_rates() if r.key in {x.key for x in lib_em.RATES}}
    chosen = rates[st.selectbox("Rate", list(rates), index=list(rates).index("Unsubscribe rate")
                                if "Unsubscribe rate" in rates else 0, key="email_history_rate")]
    limits = em.baseline_limits(period_tests.frame, chosen.key, workspace().thresholds["baseline_alpha"])
    show_chart(with_campaigns(charts.history_chart(limits, chosen.label, chosen.key), campaigns), width="stretch")
    table(limits, f"email_{chosen.key}_vs_history", how="history")


def _pct(frame: pd.DataFrame, cols: list[str]) -> dict:
    return {c: st.column_config.NumberColumn(format="percent") for c in cols if c in frame}


@fragment  # its widgets change this section only: a click reruns it alone
def send_time_section(em, charts, data, alpha: float, rows) -> None:
    """Rates by weekday and hour of send, with n, intervals and a test whether they differ (`rows`: the
    page's `figures`' send_time_rows: the flags' sends with their weekday and hour)."""
    st.header("When do sends do best? Weekday and hour of send")
    usable = {r.key for r in data.usable_rates()}
    keys = [k for k in em.SEND_TIME_RATES if k in usable]
    c1, c2 = st.columns(2)
    key = c1.selectbox("Rate", keys, format_func=RATE_LABELS.get, key="email_time_rate")
    has_hours = rows.frame["hour"].notna().any()
    options = ["weekday", "hour"] if has_hours else ["weekday"]
    by = c2.radio("By", options, horizontal=True, key="email_time_by",
                  format_func=lambda b: "Weekday" if b == "weekday" else "Hour of send")
    if not has_hours:
        st.info("This file gives send dates without times (every send at 00:00), so there is no hour of send — "
                "only weekdays are compared.")
    rates = em.send_time_rates(rows.frame, by, key)
    if rates.empty:
        st.info("No sends with this rate's counts in the selection.")
        return
    label = RATE_LABELS[key]
    show_chart(charts.send_time_chart(rates, by, label, key), width="stretch")
    test = em.rate_differs_test(rows.frame, by, key)
    what = "weekdays" if by == "weekday" else "hours"
    if pd.isna(test.p_value):
        st.markdown(f"Too few sends to test whether the {label.lower()} differs across {what}.")
    else:
        verdict = ("**differs** across " if test.p_value < alpha else "does **not** differ beyond send-to-send "
                   "noise across ")
        st.markdown(f"The {label.lower()} {verdict}{what}: quasi-binomial F = {test.statistic:.2f} on "
                    f"({test.df_groups}, {test.df_resid}) df, p = {test.p_value:.2g} (significance level {alpha:g}). "
                    f"A chi-square on recipients alone gives {test.chi2:.1f} on {test.df_groups} df, but sends of "
                    f"one {by} differ {test.dispersion:.1f}× more than chance, so the test divides by that.")
    shown = display(rates, rename={"x": "Numerator", "n": "Denominator (n)", "low": "95% low", "high": "95% high"})
    show_table(shown, column_config=_pct(shown, ["rate", "95% low", "95% high"]))
    st.caption(f"{label} = {em.RATE_BY_KEY[key].definition}, pooled over the sends of each {by}; intervals are "
               "cluster-robust by send (a group of one send: its exact binomial interval). Weekday and hour are "
               "the send time as the file writes it (its time zone). A/B halves count as one send.")
    show_sql(rows, "Show SQL (one row per send)")


@fragment
def ab_section(em, con, data, filters, alpha: float, rows=None) -> None:
    """One row per A/B test: which variant won, by how much, and whether that is beyond chance."""
    st.header("A/B tests: which variant won?")
    usable = {r.key for r in data.usable_rates()}
    keys = [k for k in ("open_rate", "click_rate", "ctor", "unsubscribe_rate") if k in usable]
    key = st.selectbox("Compare on", keys, format_func=RATE_LABELS.get, key="email_ab_rate")
    result = em.ab_tests(con, data, filters, key, alpha, rows=rows)
    ab = result.frame
    if ab.empty:
        st.info("No A/B tests in the selection: variants of one send are rows named “… | Combo 1”, “… | Combo 2” "
                "(Mailchimp's A/B campaigns), or rows of one campaign with a “Variant” column, to the same list on "
                "the same day.")
        return
    won = ab[ab["significant"]]
    st.markdown(f"**{len(ab)}** A/B tests; **{len(won)}** with a winner beyond chance (Benjamini–Hochberg over the "
                f"{len(ab)} tests, p < {alpha:g}).")
    view = ab_table(ab)  # memoised: a rerun, or a period click, shows the kept Arrow copy
    show_table(view, column_config={**_pct(view, ["Winner's rate", "Runner-up's rate"]),
                                    "Difference (pp)": st.column_config.NumberColumn(format="%.2f")})
    download_csv(view, "email_ab_tests.csv", "email_ab_tests")
    st.caption(f"{RATE_LABELS[key]} = {em.RATE_BY_KEY[key].definition} per variant. Difference = winner − runner-up "
               "in percentage points with its 95% Newcombe interval; two-sided two-proportion z-test, Fisher's exact "
               "test when a cell expects under 5. “Variants differ in” compares their subjects and send times; "
               "“neither” means the file does not say what was tested (content or sender name).")
    show_sql(result)


AB_COLUMNS = {"sent": "Sent", "test": "A/B test", "differs": "Variants differ in", "winner": "Winner",
              "winner_rate": "Winner's rate", "runner_up_rate": "Runner-up's rate", "difference_pp": "Difference (pp)",
              "interval_pp": "95% interval (pp)", "p_value": "p", "p_adjusted": "p (BH)",
              "significant": "Winner beyond chance", "method": "Test", "winner_subject": "Winner's subject",
              "runner_up": "Runner-up", "runner_up_subject": "Runner-up's subject", "winner_n": "Winner n",
              "runner_up_n": "Runner-up n"}


def ab_table(ab: pd.DataFrame) -> pd.DataFrame:
    """The A/B table as shown and downloaded: send time to the minute, the difference and its interval
    in percentage points, readable headers (`AB_COLUMNS`). Memoised (below), as `display`."""
    view = ab.assign(sent=ab["sent"].dt.strftime("%Y-%m-%d %H:%M"), difference_pp=ab["difference"] * 100,
                     interval_pp=[f"{lo * 100:+.2f} to {hi * 100:+.2f}" for lo, hi in
                                  zip(ab["difference_low"], ab["difference_high"])])
    return view[list(AB_COLUMNS)].rename(columns=AB_COLUMNS)


def consistency_section(em, charts, days, gaps) -> None:
    """Breaks in sending longer than the sender's usual interval, then the burst after (`days`, `gaps`:
    the page's `figures`' send days and em.sending_gaps of them, at the workspace's thresholds)."""
    st.header("Is sending consistent, or one-off sends followed by silence?")
    th = workspace().thresholds
    multiple, min_days = th["email_gap_multiple"], th["email_gap_min_days"]
    show_chart(charts.gaps_chart(days.frame, gaps.frame), width="stretch")
    if len(days.frame) < em.MIN_SEND_DAYS:
        st.info(f"Only {len(days.frame)} send days in the selection: at least {em.MIN_SEND_DAYS} are needed to say "
                "what the usual interval is.")
    elif gaps.frame.empty:
        usual = float(days.frame["day"].diff().dt.days.median())
        st.markdown(f"No break: no silence longer than {multiple:g}× the usual {usual:g} days between send days "
                    f"(and at least {min_days:g} days).")
    else:
        st.markdown(f"**{len(gaps.frame)}** break(s) in sending, each flagged under Red flags (“Gap in sending”).")
        # the breaks' days (midnights) as dates, by `display` (memoised: a rerun shows the kept Arrow copy)
        show_table(display(gaps.frame, rename={"last_send": "Last send before", "resumed": "Sending resumed",
                                               "gap_days": "Days between", "usual_gap_days": "Usual interval (days)",
                                               "times_usual": "× usual", "sends_after": "Sends in the week after",
                                               "usual_per_week": "Usual sends a week", "burst": "Burst after"}),
                   column_config={"Usual sends a week": st.column_config.NumberColumn(format="%.1f"),
                                  "× usual": st.column_config.NumberColumn(format="%.1f")})
    st.caption(f"Usual interval = the median of the days between consecutive send days. A break = more than "
               f"{multiple:g}× that and at least {min_days:g} days (both thresholds, under Red flags); a burst = at "
               f"least {th['email_volume_jump']:g}× the usual sends a week in the 7 days after (sends per send day × "
               "7 ÷ the usual interval). Only breaks inside the selection count: not the time before the first send "
               "or after the last.")
    show_sql(days, "Show SQL (sends per day)")


def issue22(em, charts, con, data, filters, alpha: float, fig: dict, rows) -> None:
    """The three sections, in page order (`fig`: the page's `figures`, `rows`: its `em.base_rows`)."""
    send_time_section(em, charts, data, alpha, fig["time_rows"])
    ab_section(em, con, data, filters, alpha, rows)
    consistency_section(em, charts, fig["days"], fig["gaps"])


figures, range_figures, display, ab_table = (session_cached(f) for f in (figures, range_figures, display, ab_table))

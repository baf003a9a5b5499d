"""The email figures computed from the page's per-dataset frame of sends (`rows=em.base_rows(…)`,
`lib.metrics.email_rows`, session 7, issue #20) against their queries — the form kept for "Show SQL" and
Spark, and the reference here: the same frames on both sample files (campaigns, with A/B splits, and an
event log), selections with date sub-ranges, lists, topics, list × topic and one with no sends, three
grains, baselines of 2 and 6 periods. On a one-thread DuckDB copy. Floats within 1e-9 relative (counts
sum exactly either way; the topic-mix baseline sums fractions in another order than DuckDB: ~1e-12)."""

import itertools

import pandas as pd
import pytest

from lib.metrics import email as em


def selections(con, data):
    start, end = em.period_range(data.first_send, data.last_send)
    lists, topics = em.choices(con, data, "list_name"), em.choices(con, data, "topic")
    out = [em.Filters(start, end), em.Filters(), em.Filters(start + (end - start) / 2, end, (lists[0],), (topics[0],)),
           em.Filters(start + (end - start) / 3, end - (end - start) / 4), em.Filters(start, end, tuple(lists[-2:])),
           em.Filters(start, end, (), tuple(topics[:2]))]
    if data.kind == "email_campaigns":  # a list and a topic never sent together: no sends
        out.append(em.Filters(start, end, ("Trial users",), ("promo",)))
    return out


def same(fast, slow, what):
    assert fast.sql == slow.sql and fast.params == slow.params and fast.excluded == slow.excluded, what
    pd.testing.assert_frame_equal(fast.frame, slow.frame, check_exact=False, rtol=1e-9, atol=0, obj=what)


@pytest.mark.parametrize("kind", em.KINDS)
def test_per_period_figures_equal_their_queries(email_one_thread, kind):
    con = email_one_thread
    data = em.email_data(con, kind)
    rows = em.base_rows(con, data)
    compared = 0
    for f in selections(con, data):
        if f.start is not None:
            for g in (f, f.previous()):
                same(em.pooled_rates(con, data, g, rows=rows), em.pooled_rates(con, data, g), f"pooled {g}")
        for grain in ("week", "month", "quarter"):
            same(em.sends(con, data, f, grain, rows=rows), em.sends(con, data, f, grain), f"sends {f} {grain}")
            for by in (None, "topic", "list_name"):
                same(em.rates_by_period(con, data, f, grain, by, rows=rows), em.rates_by_period(con, data, f, grain, by),
                     f"periods {f} {grain} {by}")
            compared += 4
    assert compared >= 72


@pytest.mark.parametrize("kind, grains", [("email_campaigns", ("week", "month", "quarter")),
                                          ("email_events", ("week", "month"))])
def test_own_history_tests_equal_their_queries(email_one_thread, kind, grains):
    con = email_one_thread
    data = em.email_data(con, kind)
    rows = em.base_rows(con, data)
    worse = compared = 0
    for f, grain, k, by in itertools.product(selections(con, data)[::2], grains, (2, 6), ("period", "campaign")):
        fast = em.baseline_tests(con, data, f, grain, k, 0.05, by, rows=rows)
        same(fast, em.baseline_tests(con, data, f, grain, k, 0.05, by), f"tests {f} {grain} {k} {by}")
        compared, worse = compared + len(fast.frame), worse + int(fast.frame["worse"].sum())
    assert compared > 300 and (worse > 0 or kind == "email_events")


@pytest.mark.parametrize("kind", em.KINDS)
def test_other_figures_equal_their_queries(email_one_thread, kind):
    """Every send, send days, topic/list groups (with and without an Other row), topic mix, list growth
    and program changes (two baselines and jump ratios)."""
    con = email_one_thread
    data = em.email_data(con, kind)
    rows = em.base_rows(con, data)
    changes = 0
    for f in selections(con, data):
        same(em.campaign_table(con, data, f, rows=rows), em.campaign_table(con, data, f), f"every send {f}")
        same(em.send_days(con, data, f, rows=rows), em.send_days(con, data, f), f"send days {f}")
        for by, top in itertools.product(("topic", "list_name"), (8, 2)):
            same(em.rates_by_group(con, data, f, by, top, rows=rows), em.rates_by_group(con, data, f, by, top),
                 f"groups {f} {by} {top}")
        for grain in ("week", "month", "quarter"):
            same(em.topic_mix_effect(con, data, f, grain, rows=rows), em.topic_mix_effect(con, data, f, grain),
                 f"mix {f} {grain}")
            same(em.list_growth(con, data, f, grain, rows=rows), em.list_growth(con, data, f, grain), f"growth {f} {grain}")
            for k, jump in ((2, 1.5), (6, 1.2)):
                fast = em.program_changes(con, data, f, grain, k, jump, 0.05, rows=rows)
                same(fast, em.program_changes(con, data, f, grain, k, jump, 0.05), f"changes {f} {grain} {k} {jump}")
                changes += len(fast.frame)
    assert changes > 0 or kind == "email_events"


@pytest.mark.parametrize("kind", em.KINDS)
def test_ab_tests_equal_their_query(email_one_thread, kind):
    """A/B tests read from the frame (a file without a variant column), every rate they compare on."""
    con = email_one_thread
    data = em.email_data(con, kind)
    rows = em.base_rows(con, data)
    tests = 0
    for f, key in itertools.product(selections(con, data), ("open_rate", "click_rate", "ctor", "unsubscribe_rate")):
        fast = em.ab_tests(con, data, f, key, rows=rows)
        same(fast, em.ab_tests(con, data, f, key), f"A/B {f} {key}")
        tests += len(fast.frame)
    assert tests > 0 or kind == "email_events"

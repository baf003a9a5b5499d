"""A filter click's email figures from one conversion of the frame of sends (session 8, second round, issue
#20, helper "rows8b"): `email_rows.arrays` converts the page's frame (`em.base_rows`) to arrays once per frame
and only filters it per figure, and the period tests borrow the send-level τ² the campaign tests of the same
click computed. The reference, kept below verbatim: the old `arrays` (every column converted on every call) and
the old `ui.email_sections.figures` / `range_figures` (period tests before campaign tests, each computing what it
needs on its own). Every figure of a click — frames, flags, correlations, slopes — is compared to the last bit
(values, dtypes, index, SQL and params) on both sample files, the real Mailchimp export and nasty variants
(`tests/test_email_page8.py`'s files), several selections (range, half range, a list, a topic, list × topic,
no dates) and three grains, clicked in turn on one frame (as a session does) and on a fresh one."""

import dataclasses
import gc
import math

import numpy as np
import pandas as pd
import pytest

from lib.metrics import email as em
from lib.metrics import email_rows
from lib.metrics.email import (HUMAN_RATES, OTHER, RATES, VARIANT_SUFFIX, _COUNTS, EmailData, Filters, _rates_sql,
                               _resum_sql, _sends_cte, cluster_intervals)
from lib.metrics.email_rows import _TEXT, _num, period_of
from lib.result import MetricResult
from tests.test_email_page8 import files  # noqa: F401  (fixture: the files compared)
from ui import email_sections as es  # outside Streamlit its memoised functions simply run

lib_em = em


# ------------------------------------------------------------------ the replaced forms, verbatim

def old_arrays(rows: pd.DataFrame, counts, rate_list, filters=None, dates: bool = True, grain: str | None = None) -> dict:
    """The rows as plain arrays (texts as objects, counts as floats with NaN for NULL, `<rate>_x` /
    `<rate>_n` only where both are known), `filters.where(dates)` applied, and `period` at `grain`."""
    keep = np.ones(len(rows), dtype=bool)
    when = rows["send_date"].to_numpy(dtype="datetime64[us]")
    if filters is not None:
        if dates and filters.start is not None:
            keep &= when >= np.datetime64(pd.Timestamp(filters.start).to_datetime64(), "us")
        if dates and filters.end is not None:
            keep &= when < np.datetime64(pd.Timestamp(filters.end).to_datetime64(), "us")
        if filters.lists:
            keep &= np.isin(rows["list_name"].to_numpy(dtype=object), list(filters.lists))
        if filters.topics:
            keep &= np.isin(rows["topic"].to_numpy(dtype=object), list(filters.topics))
    a = {"_row": rows["_row"].to_numpy(dtype=np.int64)[keep], "send_date": when[keep]}
    for c in _TEXT:
        a[c] = rows[c].to_numpy(dtype=object)[keep]
    for c in (*counts, "list_size"):
        a[c] = rows[c].to_numpy(dtype=float, na_value=np.nan)[keep]
    for r in rate_list:
        x, n = _num(a, r.numerator), _num(a, r.denominator)
        known = ~np.isnan(x) & ~np.isnan(n)
        a[f"{r.key}_x"], a[f"{r.key}_n"] = np.where(known, x, np.nan), np.where(known, n, np.nan)
    a["day"] = a["send_date"].astype("datetime64[D]")
    if grain is not None:
        a["period"] = period_of(a["day"], grain)
    return a


def old_figures(con, data, filters, grain: str, th, rows) -> dict:
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
    out = {**old_range_figures(con, data, filters, int(th["min_group_size"]), rows),
           "sends": lib_em.sends(con, data, filters, grain, rows=rows),
           "periods": lib_em.rates_by_period(con, data, filters, grain, rows=rows),
           "period_tests": lib_em.baseline_tests(con, data, filters, grain, k, alpha, "period", rows=rows),
           "campaign_tests": lib_em.baseline_tests(con, data, filters, grain, k, alpha, "campaign", rows=rows),
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


def old_range_figures(con, data, filters, min_group_size: int, rows) -> dict:
    """The page's figures that depend on the selection but not on the period (see `figures`): previous
    (pooled rates of the range before), campaigns (every send), days (send days) and, with a topic
    column, groups (the topic table)."""
    out = {"previous": lib_em.pooled_rates(con, data, filters.previous(), rows=rows),
           "campaigns": lib_em.campaign_table(con, data, filters, rows=rows),
           "days": lib_em.send_days(con, data, filters, rows=rows)}
    if data.has("topic"):
        out["groups"] = lib_em.rates_by_group(con, data, filters, "topic", min_n=min_group_size, rows=rows)
    return out


def old_rates_by_group(con, data: EmailData, filters: Filters, by: str = "topic", top: int = 8,
                   min_n: int = 30, rows: pd.DataFrame | None = None) -> MetricResult:
    """Pooled rates per topic or list over the range, biggest `top` groups by delivered, the rest
    summed in one row 'Other (k groups)'.

    Groups sum to the total (the Other row keeps the rest). Adds 95 % intervals for open rate,
    CTOR and unsubscribe rate (`<rate>_low`, `<rate>_high`) that are cluster-robust by send
    (`lib.stats.cluster_rate_interval` over the group's sends, A/B variants merged — the SQL lists
    each send's numerator and denominator): recipients of one send share its subject line and day,
    so rates vary from send to send far more than independent recipients would, and a Wilson
    interval over the pooled recipients would be several times too narrow. A group of one send
    gets its exact binomial interval. `small` = delivered < `min_n`. `rows`: `base_rows(con, data)`, to compute it without a query (as `sends`).
    """
    if by not in ("topic", "list_name"):
        raise ValueError(by)
    cte, params = data.cte()
    where, wp = filters.where()
    keys = ("open_rate", "ctor", "unsubscribe_rate")
    lists = ", ".join(f"list(s.{k}_x) AS {k}_send_x, list(s.{k}_n) AS {k}_send_n" for k in keys)
    sql = f"""{cte},
scoped AS (SELECT * FROM base WHERE {where}),
{_sends_cte(period=False)},
ranked AS (
    SELECT {by} AS grp, ROW_NUMBER() OVER (ORDER BY SUM(delivered) DESC, {by}) AS rk
    FROM sends GROUP BY {by}
),
sums AS (
    SELECT CASE WHEN r.rk <= ? THEN s.{by} ELSE '{OTHER}' END AS {by}, MIN(r.rk) AS rk,
           count(DISTINCT s.{by}) AS groups, {_resum_sql()}, {lists}
    FROM sends s JOIN ranked r ON r.grp = s.{by} GROUP BY 1
)
SELECT *, {_rates_sql()} FROM sums ORDER BY rk"""
    all_params = params + wp + [VARIANT_SUFFIX, int(top)]
    frame = (email_rows.rates_by_group(rows, filters, by, int(top), RATES + HUMAN_RATES, _COUNTS, OTHER)
             if rows is not None else con.execute(sql, all_params).df().drop(columns="rk"))
    for key in keys:
        # every group's sends as one frame, `g` = the group's row: one cluster_intervals call per rate
        # instead of a frame and a call per group (the same intervals)
        pairs = [(g, float(x), float(n)) for g, (xs, ns) in
                 enumerate(zip(frame.pop(f"{key}_send_x"), frame.pop(f"{key}_send_n")))
                 for x, n in zip(xs, ns) if pd.notna(x) and pd.notna(n) and n > 0]
        ci = cluster_intervals(pd.DataFrame(pairs, columns=["g", f"{key}_x", f"{key}_n"]), "g", key).set_index("g")
        frame[f"{key}_low"] = ci["low"].reindex(range(len(frame))).to_numpy(dtype=float)
        frame[f"{key}_high"] = ci["high"].reindex(range(len(frame))).to_numpy(dtype=float)
    frame["small"] = frame["delivered"] < min_n
    # the merged row says how many groups it holds, like every page's breakdown ("Other (12 groups)")
    merged = frame[by] == OTHER
    frame.loc[merged, by] = [f"{OTHER} ({k} group{'' if k == 1 else 's'})" for k in frame.loc[merged, "groups"]]
    return MetricResult(frame.drop(columns="groups"), sql, all_params, dict(data.excluded))


# ------------------------------------------------------------------ the comparison


def same(new, old, what: str) -> None:
    """Equal to the last bit: frames exactly (values, dtypes, index), floats by their bits (NaN = NaN)."""
    assert type(new) is type(old), f"{what}: {type(new)} != {type(old)}"
    if isinstance(new, pd.DataFrame):
        pd.testing.assert_frame_equal(new, old, check_exact=True, obj=what)
        assert list(new.index) == list(old.index), what
    elif isinstance(new, pd.Series):
        pd.testing.assert_series_equal(new, old, check_exact=True, obj=what)
    elif isinstance(new, np.ndarray):
        assert new.dtype == old.dtype and new.shape == old.shape, what
        assert np.array_equal(new, old, equal_nan=new.dtype.kind in "fc"), what
    elif dataclasses.is_dataclass(new):
        for f in dataclasses.fields(new):
            same(getattr(new, f.name), getattr(old, f.name), f"{what}.{f.name}")
    elif isinstance(new, dict):
        assert list(new) == list(old), what
        for k in new:
            same(new[k], old[k], f"{what}[{k!r}]")
    elif isinstance(new, (list, tuple)):
        assert len(new) == len(old), what
        for i, (a, b) in enumerate(zip(new, old)):
            same(a, b, f"{what}[{i}]")
    elif isinstance(new, float):
        assert (math.isnan(new) and math.isnan(old)) or np.float64(new).tobytes() == np.float64(old).tobytes(), \
            f"{what}: {new!r} != {old!r}"
    else:
        assert new == old, f"{what}: {new!r} != {old!r}"


def selections(con, data) -> list:
    start, end = em.period_range(data.first_send, data.last_send)
    lists = em.choices(con, data, "list_name")
    topics = em.choices(con, data, "topic") if data.has("topic") else []
    out = [em.Filters(start, end), em.Filters(start + (end - start) / 2, end), em.Filters(start, end, tuple(lists[:1])),
           em.Filters(start, end, tuple(lists[-2:]))]
    if topics:
        out += [em.Filters(start, end, (), tuple(topics[:1])), em.Filters(start, end, tuple(lists[:1]), tuple(topics[-1:]))]
    return out


def old_way(monkeypatch, call) -> tuple:
    """`call()` with the old conversion and nothing kept between calls (each figure on its own), and how
    often it computed the send-level τ² for the period tests."""
    borrowed = []
    send_tau2 = em._send_tau2

    def counted(*args):
        borrowed.append(args)
        return send_tau2(*args)

    with monkeypatch.context() as m:
        m.setattr(email_rows, "arrays", old_arrays)
        m.setattr(email_rows, "memo", lambda rows: {})
        m.setattr(em, "_send_tau2", counted)
        return call(), len(borrowed)


def test_every_figure_of_a_click_equals_the_old_way(files, monkeypatch):
    clicks = borrowed = 0
    for name, con, data, th in files:
        rows = em.base_rows(con, data)
        for f in selections(con, data):
            for grain in ("week", "month", "quarter"):
                old, tau2 = old_way(monkeypatch, lambda: old_figures(con, data, f, grain, th, rows))
                new = es.figures(con, data, f, grain, th, rows)  # after others on the same frame, as in a session
                same(new, old, f"{name} {f} {grain}")
                if grain == "week":  # and on a frame seen for the first time
                    fresh = em.base_rows(con, data)
                    same(es.figures(con, data, f, grain, th, fresh), old, f"{name} {f} {grain} (fresh frame)")
                clicks += 1
                borrowed += tau2
    print(f"{clicks} clicks, {borrowed} borrowing the send-level τ²")
    assert clicks >= 100 and borrowed > 0  # some clicks borrow the send-level τ² (few periods with history)


def test_arrays_equal_the_old_conversion(files):
    """Every column `arrays` hands out, for the figures' column sets, with and without dates and grains."""
    compared = 0
    for name, con, data, th in files:
        rows = em.base_rows(con, data)
        rates = em.RATES + em.HUMAN_RATES
        for f in [None, em.Filters(), *selections(con, data)]:
            for counts, rate_list in ((em._COUNTS, rates), ((), ()), (("sent",), ()), (("opens", "delivered"), ())):
                for dates, grain in ((True, None), (False, "month"), (True, "week"), (True, "year"), (False, "day")):
                    new = email_rows.arrays(rows, counts, rate_list, f, dates, grain)
                    same(new, old_arrays(rows, counts, rate_list, f, dates, grain), f"{name} {f} {counts} {dates} {grain}")
                    compared += 1
    assert compared > 500


def test_arrays_hand_out_copies_and_forget_a_dropped_frame(files):
    name, con, data, th = files[0]
    rows = em.base_rows(con, data)
    first = email_rows.arrays(rows, ("sent",), (), None, grain="month")
    for v in first.values():  # a caller writing into its arrays changes nothing the next caller gets
        v[:] = v[::-1]
    again = email_rows.arrays(rows, ("sent",), (), None, grain="month")
    same(again, old_arrays(rows, ("sent",), (), None, grain="month"), "after a caller wrote into its arrays")
    key = id(rows)
    assert key in email_rows._WHOLE
    del rows, first, again
    gc.collect()
    assert key not in email_rows._WHOLE  # the frame's arrays go with it


def test_group_rates_and_their_intervals_equal_the_frame_per_rate_form(files):
    """rates_by_group's cluster-robust intervals on arrays (`_group_intervals`) against the old form (a frame
    of every group's sends and `cluster_intervals` per rate), from the frame of sends and from the query, by
    topic and list, with and without an Other row."""
    compared = singles = 0
    for name, con, data, th in files:
        rows = em.base_rows(con, data)
        for f in selections(con, data):
            for by, top in (("topic", 8), ("list_name", 8), ("topic", 2), ("list_name", 1)):
                if by == "topic" and not data.has("topic"):
                    continue
                new, old = em.rates_by_group(con, data, f, by, top, 30, rows=rows), \
                    old_rates_by_group(con, data, f, by, top, 30, rows=rows)
                same(new, old, f"{name} {f} {by} {top}")
                # the query's list() hands each group's sends over in an order that varies between runs (DuckDB's
                # threads), and the interval sums them in that order: last bits only
                new, old = em.rates_by_group(con, data, f, by, top, 30), old_rates_by_group(con, data, f, by, top, 30)
                pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=False, rtol=1e-12, atol=0,
                                              obj=f"{name} {f} {by} {top} (query)")
                compared += len(new.frame)
                singles += int((new.frame["sends"] == 1).sum())
    assert compared > 200 and singles > 0


def test_period_tests_borrow_only_the_send_level_tau2_of_their_own_selection(files):
    """The τ² the campaign tests leave on a frame is read by period tests of the same lists, topics, grain and
    baseline only: campaign tests of one selection, then period tests of another on the same frame, equal
    period tests on a frame nothing ran on before."""
    borrowed = 0
    for name, con, data, th in files:
        rows = em.base_rows(con, data)
        chosen = selections(con, data)
        for (f, g), (h, grain), k in [((chosen[0], "month"), (chosen[-1], "month"), 6),
                                      ((chosen[-1], "month"), (chosen[0], "month"), 6),
                                      ((chosen[2], "week"), (chosen[2], "month"), 6), ((chosen[0], "week"), (chosen[0], "quarter"), 2),
                                      ((chosen[1], "week"), (chosen[0], "week"), 2),
                                      ((chosen[1], "quarter"), (chosen[0], "quarter"), 6)]:
            em.baseline_tests(con, data, f, g, 6, 0.05, "campaign", rows=rows)
            after = em.baseline_tests(con, data, h, grain, k, 0.05, "period", rows=rows)
            alone = em.baseline_tests(con, data, h, grain, k, 0.05, "period", rows=em.base_rows(con, data))
            same(after, alone, f"{name}: {f} {g} 6, then {h} {grain} {k}")
            borrowed += int(np.isinf(alone.frame["df"]).any())
    assert borrowed > 0

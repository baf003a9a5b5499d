"""Email's own-history tests (`baseline_tests`) against the row-by-row form they replaced (session 6,
issue #20): the same frames to the last bit on the sample files, several selections, three grains and
baselines of 2 and 6 periods, by period and by send. The reference below is the old function's code after
its query, verbatim (a dict per subject × rate, a pandas filter per rate); it runs the new function's own
SQL, which did not change. On a one-thread DuckDB copy: two threads sum doubles in a varying order."""

import itertools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lib import stats
from lib.metrics import email as em
from lib.result import MetricResult


def row_by_row(con, data, filters, grain, periods, alpha, by):
    """`baseline_tests` as it was at 92aa762 (the query is the new function's, unchanged)."""
    rates = data.usable_rates()
    new = em.baseline_tests(con, data, filters, grain, periods, alpha, by)
    sql, all_params = new.sql, new.params
    wide = con.execute(sql, all_params).df()
    wide["period"] = pd.to_datetime(wide["period"])
    when = wide["period"] if by == "period" else pd.to_datetime(wide["send_date"])
    lo = em.period_start(filters.start, grain) if by == "period" and filters.start is not None else filters.start
    keep = pd.Series(True, index=wide.index)
    if lo is not None:
        keep &= when >= pd.Timestamp(lo)
    if filters.end is not None:
        keep &= when < pd.Timestamp(filters.end)
    rows = []
    for rec in wide.to_dict("records"):
        for r in rates:
            x, n = rec[f"{r.key}_x"], rec[f"{r.key}_n"]
            if pd.isna(n) or n <= 0:
                continue
            bn = rec[f"{r.key}_base_n"]
            baseline = rec.get(f"{r.key}_mix")
            if baseline is None or pd.isna(baseline):
                baseline = rec[f"{r.key}_base_x"] / bn if not pd.isna(bn) and bn > 0 else None
            row = {"subject": rec["subject"], "period": rec["period"], "metric": r.label, "key": r.key,
                   "direction": r.direction, "x": float(x), "n": float(n), "rate": float(x) / float(n),
                   "base_x": None, "base_n": None, "base_units": int(rec["base_units"]), "baseline": None,
                   "base_periods": int(rec["base_periods"]), "exact": False, "z": None, "v": None}
            if by == "campaign":
                row.update(topic=rec["topic"], send_date=rec["send_date"], variants=int(rec["variants"]))
            else:  # the period's sends' weights: Σn² ÷ (Σn)² (1 ÷ the effective number of sends)
                row["h"] = float(rec[f"{r.key}_n2"]) / float(n) ** 2
            if baseline is not None and not pd.isna(bn) and bn > 0:
                n, bn, bx = float(n), float(bn), float(baseline) * float(bn)
                pooled = (float(x) + bx) / (n + bn)
                expected = min(n * pooled, n * (1 - pooled), bn * pooled, bn * (1 - pooled))
                d_l, v_l = em.log_odds_ratio(float(x), n, bx, bn)
                null_v = (1 / n + 1 / bn) / (pooled * (1 - pooled)) if 0 < pooled < 1 else math.inf
                row.update(base_x=bx, base_n=bn, baseline=float(baseline), exact=expected < 5, d=d_l, v=v_l,
                           null_v=null_v, pearson_v=pooled * (1 - pooled) * (1 / n + 1 / bn),
                           z=None if expected < 5 else d_l / math.sqrt(v_l))  # exact z: below, in one call
            rows.append(row)
    columns = ["subject", "period", "metric", "key", "direction", "x", "n", "rate", "base_x", "base_n",
               "base_units", "baseline", "base_periods", "exact", "z", "d", "v", "null_v", "pearson_v"]
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(columns + list(rows[0] if rows else []))))
    for col in ("z", "d", "v", "null_v", "pearson_v", "baseline", "base_n", *(["h"] if by == "period" else [])):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["exact"] = frame["exact"].astype(bool)
    if frame["exact"].any():  # `_exact_z` for every exact row at once (tests/test_stats_arrays.py)
        frame.loc[frame["exact"], "z"] = em._exact_z_array(frame[frame["exact"]])
    frame["c"] = 1 + 1 / frame["base_units"].clip(lower=1)
    # τ² of the log odds: from the subjects with enough events for the normal log-odds model (no
    # exact test); with under 10 of those (complaints are rare everywhere), from Pearson terms on
    # the rate scale, which stay right for small counts: rate variance = τ²·(b(1−b))² (delta method).
    scale = (frame["baseline"] * (1 - frame["baseline"])) ** 2
    tau2, df = {}, {}
    for key, part in frame.groupby("key"):
        normal = part[~part["exact"] & part["v"].notna()]
        if len(normal) >= 10:
            tau2[key], used = em.between_variance(normal["d"], normal["v"], normal["c"], median=True), len(normal)
        else:
            known = part[part["baseline"].notna()]
            targets = [em.capped_null_mean(n, b, v) for n, b, v in zip(known["n"], known["baseline"], known["pearson_v"])]
            tau2[key] = em.between_variance(known["rate"] - known["baseline"], known["pearson_v"],
                                         known["c"] * scale[known.index], targets)
            used = len(known)
        # τ² estimated from `used` subjects: read z on Student's t with used − 1 df
        df[key] = used - 1 if tau2[key] > 0 else math.inf
    frame["tau2"] = frame["key"].map(tau2).astype(float)
    frame["df"] = frame["key"].map(df).astype(float)
    extra = frame["c"] * frame["tau2"]
    few = [key for key, part in frame.groupby("key") if part["base_n"].gt(0).sum() < em.MIN_SUBJECTS]
    if by == "period" and few:
        # Too few periods to see how much they differ: borrow the send-to-send spread (estimated
        # over the sends) and scale it to each period by its sends' weights, τ²_send · Σn²/(Σn)².
        sends_tau2 = row_by_row(con, data, replace(filters, start=None, end=None), grain, periods, alpha,
                                    "campaign").frame.groupby("key")["tau2"].first()
        borrow = frame["key"].isin(few)
        frame.loc[borrow, "tau2"] = frame.loc[borrow, "key"].map(sends_tau2).astype(float).fillna(0.0)
        frame.loc[borrow, "df"] = math.inf  # the send-level τ² rests on many sends
        extra = extra.where(~borrow, frame["c"] * frame["tau2"] * frame["h"])
    # Normal path: the log odds ratio over its binomial + between-subject variance. Exact path:
    # Fisher's z shrunk by the same between-subject share of the variance (null log-odds variance).
    frame["sigma_z"] = ((frame["v"] + extra) / frame["v"]).pow(0.5).where(~frame["exact"],
                                                                          (1 + extra / frame["null_v"]).pow(0.5))
    frame["z_adj"] = frame["z"] / frame["sigma_z"]
    bad = frame["direction"].map({"above": 1.0, "below": -1.0})
    frame["p_value"] = stats.student_t_upper_array(frame["z_adj"] * bad, frame["df"])
    diff = frame["rate"] - frame["baseline"]
    # the rate-scale SE the verdict implies (the band is drawn from it): |rate − baseline| over the
    # normal z of the same one-sided p (on Student's t the p is not Φ of z_adj); delta method at z = 0
    z_eq = pd.Series(stats.z_of_upper_p_array(frame["p_value"]), index=frame.index)
    delta_se = (frame["v"] + extra).pow(0.5) * frame["baseline"] * (1 - frame["baseline"])
    frame["se_test"] = (diff.abs() / z_eq.abs()).where((z_eq.abs() > 1e-9) & (diff.abs() > 0), delta_se)
    in_range = frame["period" if by == "period" else "send_date"].isin(set(when[keep])) if len(frame) else []
    frame = frame[in_range].reset_index(drop=True) if len(frame) else frame
    frame["p_adjusted"], frame["p_bonferroni"] = math.nan, math.nan
    for _, part in frame.groupby("key"):
        frame.loc[part.index, "p_adjusted"] = stats.adjust_p_values(part["p_value"], "fdr_bh")
        frame.loc[part.index, "p_bonferroni"] = stats.adjust_p_values(part["p_value"], "bonferroni")
    frame["worse"] = frame["p_adjusted"].lt(alpha)
    frame["high"] = frame["worse"] & (frame["p_bonferroni"] < alpha)
    return MetricResult(frame.drop(columns=["d", "v", "null_v", "pearson_v", "c", "h"], errors="ignore"), sql,
                        all_params, dict(data.excluded))



@pytest.mark.parametrize("kind, grains", [("email_campaigns", ("week", "month", "quarter")),
                                          ("email_events", ("week", "quarter"))])
def test_baseline_tests_equal_the_row_by_row_form(email_one_thread, kind, grains):
    """A cheap part of the 240-case grid run when the arrays replaced the rows (every case equal)."""
    con = email_one_thread
    data = em.email_data(con, kind)
    start, end = em.period_range(data.first_send, data.last_send)
    lists, topics = em.choices(con, data, "list_name"), em.choices(con, data, "topic")
    selections = [em.Filters(start, end), em.Filters(start + (end - start) / 2, end, (lists[0],), (topics[0],))]
    compared = worse = 0
    for filters, grain, k, by in itertools.product(selections, grains, (2, 6), ("period", "campaign")):
        new = em.baseline_tests(con, data, filters, grain, k, 0.05, by)
        old = row_by_row(con, data, filters, grain, k, 0.05, by)
        pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=True, obj=f"{filters} {grain} {k} {by}")
        compared, worse = compared + len(new.frame), worse + int(new.frame["worse"].sum())
    assert compared > 300 and worse > 0  # subject × rate rows compared, some of them worse

"""Email's own-history tests and flags made faster in session 8 (issue #20) against the code they
replaced, kept below verbatim as the oracle: the same values to the last bit.

- `between_variance` (τ²): the bisection's verdicts read from the last double above the target, found
  with a root finder and one array call (`_last_above`), instead of evaluating every midpoint — random
  inputs (both forms, with factors and targets, 8–1,000 subjects, variances over ten decades) and every
  call the own-history tests make on the sample files, three grains.
- `baseline_tests` by period and by send: the long form and the tests on arrays, one frame built at the
  end (of the rows in range), BH and Bonferroni with statsmodels' own steps (`_adjusted`), the exact tests
  only for the rows they reach — on both sample files, the real Mailchimp export and nasty variants (blank
  counts, one send, one list, zero denominators, no topic column), selections with date sub-ranges, lists,
  topics and none matching, three grains, baselines of 2 and 6 periods, from the frame of sends and from
  the query (a one-thread DuckDB copy: the query's float sums in one order).
- `email_rows.baseline_wide` (kept too: `_shift` moves month starts and days in numpy) and the columns
  `baseline_tests` reads from it as arrays (`baseline_columns`, no frame in between).
- `flags_from`: every crossing send's exact intervals in one call, a period's cluster intervals at both
  levels from one grouping, own-history, volume and gap flags from the cells they read instead of a
  frame of records — the same flags (fields, types and texts) and the same `period_intervals` frames on
  the same files and selections, with the general thresholds, topic thresholds and strict thresholds that
  make many flags."""

import itertools
import math
from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from lib import stats
from lib.metrics import email as em
from lib.metrics import email_rows
from lib.metrics.email import (_COUNTS, CHI2_1_MEDIAN, CHI2_1_WINSORIZED_MEAN, MIN_SUBJECTS, VARIANT_SUFFIX, WINSOR_AT,
                               EmailData, Filters, Rate, _sends_cte, _step, _sums_sql, _window, capped_null_mean,
                               period_sql, period_start)
from lib.config import EMAIL_MPP_START, Thresholds
from lib.metrics.email import (AREA, _beyond, _crossed, _records, cluster_intervals, pct, period_subject,
                               scanner_flags, strongest_per_subject, with_topic_limits)
from lib.questions import questions_for
from lib.result import Flag, MetricResult
from tests.conftest import real_file


def old_between_variance(diffs, variances, factors=None, targets=None, median: bool = False) -> float:
    """`em.between_variance` as it was at 0237e61 (verbatim, docstring left out)."""
    d = np.asarray(list(diffs), dtype=float)
    v = np.asarray(list(variances), dtype=float)
    c = np.ones_like(d) if factors is None else np.asarray(list(factors), dtype=float)
    g = np.full_like(d, CHI2_1_WINSORIZED_MEAN) if targets is None else np.asarray(list(targets), dtype=float)
    ok = np.isfinite(d) & np.isfinite(v) & np.isfinite(c) & (v > 0) & (c > 0) & np.isfinite(g)
    d, v, c, g = d[ok], v[ok], c[ok], g[ok]
    if len(d) < MIN_SUBJECTS:
        return 0.0
    target = CHI2_1_MEDIAN if median else float(np.mean(g))

    middle = [(len(d) - 1) // 2, len(d) // 2]  # the median's one or two middle terms

    def mean_term(tau2: float) -> float:
        if median:  # np.median's own steps (partition, mean of the middle), without its overhead per call
            mid = np.partition(d * d / (v + c * tau2), middle)[middle]
            return float(mid[0]) if middle[0] == middle[1] else float((mid[0] + mid[1]) / 2)
        return float(np.mean(np.minimum(d * d / (v + c * tau2), WINSOR_AT)))

    if mean_term(0.0) <= target:
        return 0.0
    # at hi every term is ≤ its d²/(c·hi) ≤ the target, so the root lies in [0, hi]
    lo, hi = 0.0, float(np.max(d * d / c)) / target + 1e-300
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid in (lo, hi):  # neighbouring doubles: every further step returns this same mid
            break
        if mean_term(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def test_between_variance_equals_the_bisection_on_random_inputs():
    rng = np.random.default_rng(20261205)
    found = positive = 0
    for _ in range(3000):
        n = int(rng.choice([3, 8, 9, 10, 15, 31, 100, 151, 400, 1000]))
        median = bool(rng.integers(2))
        v = rng.uniform(0.01, 2, n) * 10 ** rng.uniform(-9, 3)
        d = rng.standard_normal(n) * np.sqrt(v) * rng.uniform(0.3, 5)
        if rng.integers(4) == 0:
            d[: n // 3] = 0.0  # ties at zero
        if rng.integers(6) == 0:
            d[0] = math.nan  # left out
        c = 1 + 1 / rng.integers(1, 7, n) if rng.integers(2) else None
        g = rng.uniform(0.7, 0.93, n) if rng.integers(3) == 0 else None
        old, new = old_between_variance(d, v, c, g, median), em.between_variance(d, v, c, g, median)
        assert new == old, (n, median, old, new)
        positive += old > 0
        found += 1
    assert positive > 2000  # most draws have extra spread: the bisection ran


def test_between_variance_by_hand_still():
    # the docstring's worked example: (5 ÷ (1 + τ²) + 4) ÷ 8 = 0.920537 → τ² = 0.486195
    assert em.between_variance([0, 0, 1, 1, 1, 1, 1, 4], [1] * 8) == pytest.approx(0.486195, abs=1e-6)
    assert em.between_variance([0, 1] * 4, [1] * 8) == 0.0


@pytest.mark.parametrize("kind", em.KINDS)
def test_between_variance_equals_the_bisection_on_every_call_of_the_tests(sample_ws, kind, monkeypatch):
    calls = []
    new = em.between_variance

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return new(*args, **kwargs)

    monkeypatch.setattr(em, "between_variance", spy)
    con = sample_ws.con
    data = em.email_data(con, sample_ws.get(kind).table)
    rows = em.base_rows(con, data)
    lists = em.choices(con, data, "list_name")
    for grain, picked, by in itertools.product(("week", "month", "quarter"), ((), tuple(lists[:1])),
                                               ("period", "campaign")):
        em.baseline_tests(con, data, em.Filters(lists=picked), grain, 6, 0.05, by, rows=rows)
    assert len(calls) > 40
    positive = 0
    for args, kwargs in calls:
        old = old_between_variance(*args, **kwargs)
        assert new(*args, **kwargs) == old
        positive += old > 0
    assert positive > 5 or kind == "email_events"  # the event log: τ² 0 everywhere


# --------------------------------------------------------------------------- baseline_tests, old code

def old_exact_z_array(rows: pd.DataFrame) -> np.ndarray:
    """`em.exact_z_array` as it was at 0237e61 (verbatim, docstring left out)."""
    x, n, bx, bn = (rows[c].to_numpy(dtype=float) for c in ("x", "n", "base_x", "base_n"))
    above = (rows["direction"] == "above").to_numpy()
    p = np.empty(len(rows))  # each row's tail in its own direction only (the other is as costly, and unused)
    for side, alternative in ((above, "greater"), (~above, "less")):
        if side.any():
            p[side] = stats.fisher_one_sided_array(x[side], (n - x)[side], bx[side], (bn - bx)[side], alternative)
    z_bad = stats.z_of_upper_p_array(p)
    z = np.where(above, z_bad, -z_bad)
    return np.where((n <= 0) | (bn <= 0) | (x * bn == bx * n), 0.0, z)  # the same rate: no evidence


def old_long_tests(wide: pd.DataFrame, rates: tuple[Rate, ...], by: str) -> pd.DataFrame:
    """`em.long_tests` as it was at 0237e61 (verbatim, docstring left out)."""
    columns = ["subject", "period", "metric", "key", "direction", "x", "n", "rate", "base_x", "base_n",
               "base_units", "baseline", "base_periods", "exact", "z", "d", "v", "null_v", "pearson_v"]

    def grid(suffix: str) -> np.ndarray:  # wide rows × rates
        cols = [wide[f"{r.key}_{suffix}"].to_numpy(dtype=float, na_value=np.nan) if f"{r.key}_{suffix}" in wide
                else np.full(len(wide), np.nan) for r in rates]
        return np.column_stack(cols) if cols else np.empty((len(wide), 0))

    n_all = grid("n")
    with np.errstate(invalid="ignore"):
        ii, jj = np.nonzero(~np.isnan(n_all) & (n_all > 0))  # row-major: subjects, then rates
    if len(ii) == 0:  # no sends in the selection: no rows (the row loop it replaced had no `h` then, and failed)
        return pd.DataFrame([], columns=columns + ([] if by == "campaign" else ["h"]))
    x, n = grid("x")[ii, jj], n_all[ii, jj]
    bn, bx_raw, mix = grid("base_n")[ii, jj], grid("base_x")[ii, jj], grid("mix")[ii, jj]
    with np.errstate(invalid="ignore", divide="ignore"):
        has = ~np.isnan(bn) & (bn > 0)
        baseline = np.where(np.isnan(mix), bx_raw / bn, mix)
    nan = np.full(len(ii), np.nan)
    base_x, pooled_all = nan.copy(), nan.copy()
    d, v, null_v, pearson_v, z = nan.copy(), nan.copy(), nan.copy(), nan.copy(), nan.copy()
    exact = np.zeros(len(ii), dtype=bool)
    if has.any():
        hx, hn, hbn = x[has], n[has], bn[has]
        hbx = baseline[has] * hbn
        pooled = (hx + hbx) / (hn + hbn)
        expected = np.minimum(np.minimum(np.minimum(hn * pooled, hn * (1 - pooled)), hbn * pooled), hbn * (1 - pooled))
        cells = [hx, hn - hx, hbx, hbn - hbx]
        zero = np.minimum(np.minimum(np.minimum(cells[0], cells[1]), cells[2]), cells[3]) <= 0
        a, b, c, e = (np.where(zero, cell + 0.5, cell) for cell in cells)  # Haldane–Anscombe, as log_odds_ratio
        hd = np.fromiter(map(math.log, (a * e / (b * c)).tolist()), dtype=float, count=len(a))
        hv = 1 / a + 1 / b + 1 / c + 1 / e
        inside = (0 < pooled) & (pooled < 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            hnull = np.where(inside, (1 / hn + 1 / hbn) / (pooled * (1 - pooled)), math.inf)
        hexact = expected < 5
        base_x[has], exact[has], d[has], v[has], null_v[has] = hbx, hexact, hd, hv, hnull
        pearson_v[has] = pooled * (1 - pooled) * (1 / hn + 1 / hbn)
        z[has] = np.where(hexact, np.nan, hd / np.sqrt(hv))  # exact z: in baseline_tests, in one call
    out = {"subject": wide["subject"].to_numpy(dtype=object)[ii],
           "period": wide["period"].to_numpy()[ii],
           "metric": np.array([r.label for r in rates], dtype=object)[jj],
           "key": np.array([r.key for r in rates], dtype=object)[jj],
           "direction": np.array([r.direction for r in rates], dtype=object)[jj],
           "x": x, "n": n, "rate": x / n,
           # without any history the old row loop left base_x all None (an object column): kept so
           "base_x": base_x if has.any() else np.full(len(ii), None, dtype=object),
           "base_n": np.where(has, bn, np.nan),
           "base_units": wide["base_units"].to_numpy().astype(np.int64)[ii],
           "baseline": np.where(has, baseline, np.nan),
           "base_periods": wide["base_periods"].to_numpy().astype(np.int64)[ii],
           "exact": exact, "z": z, "d": d, "v": v, "null_v": null_v, "pearson_v": pearson_v}
    if by == "campaign":
        out.update(topic=wide["topic"].to_numpy(dtype=object)[ii], send_date=wide["send_date"].to_numpy()[ii],
                   variants=wide["variants"].to_numpy().astype(np.int64)[ii])
    else:  # the period's sends' weights: Σn² ÷ (Σn)² (1 ÷ the effective number of sends)
        out["h"] = grid("n2")[ii, jj] / n ** 2
    return pd.DataFrame(out)


def old_baseline_tests(con, data: EmailData, filters: Filters, grain: str, periods: int, alpha: float,
                   by: str = "period", rows: pd.DataFrame | None = None, _tau2_only: bool = False) -> MetricResult:
    """`em.baseline_tests` as it was at 0237e61 (verbatim, docstring left out)."""
    if by not in ("period", "campaign"):
        raise ValueError(by)
    cte, params = data.cte()
    where_all, wp_all = filters.where(dates=False)
    per = period_sql("send_date", grain)
    rates = data.usable_rates()
    step = _step(grain, periods)
    hist = ", ".join(f"SUM(b.{r.key}_x) AS {r.key}_base_x, SUM(b.{r.key}_n) AS {r.key}_base_n" for r in rates)
    if by == "period":
        cur = ", ".join(f"p.{r.key}_n AS {r.key}_cur_n" for r in rates)
        topic_hist = ", ".join(f"SUM(b.{r.key}_x) AS {r.key}_tx, SUM(b.{r.key}_n) AS {r.key}_tn" for r in rates)
        mix = ", ".join(
            f"SUM(h.{r.key}_cur_n * COALESCE(CAST(h.{r.key}_tx AS DOUBLE) / NULLIF(h.{r.key}_tn, 0), "
            f"CAST(a.{r.key}_base_x AS DOUBLE) / NULLIF(a.{r.key}_base_n, 0))) / NULLIF(SUM(h.{r.key}_cur_n), 0) "
            f"AS {r.key}_mix" for r in rates)
        n2 = ", ".join(f"SUM(CASE WHEN ({r.numerator}) IS NOT NULL AND ({r.denominator}) IS NOT NULL "
                       f"THEN CAST({r.denominator} AS DOUBLE) * ({r.denominator}) END) AS {r.key}_n2" for r in rates)
        sql = f"""{cte},
scoped AS (SELECT *, {per} AS period FROM base WHERE {where_all}),
per AS (SELECT period, {_sums_sql(rates)}, {n2} FROM scoped GROUP BY period),
per_topic AS (SELECT period, topic, {_sums_sql(rates)} FROM scoped GROUP BY period, topic),
hist_all AS (SELECT p.period, {hist}, COUNT(b.period) AS base_periods, COUNT(b.period) AS base_units
             FROM per p LEFT JOIN per b ON {_window('p', 'b')} GROUP BY p.period),
hist_topic AS (SELECT p.period, p.topic, {cur}, {topic_hist}
               FROM per_topic p LEFT JOIN per_topic b ON b.topic = p.topic AND {_window('p', 'b')}
               GROUP BY ALL),
mix AS (SELECT h.period, {mix} FROM hist_topic h JOIN hist_all a USING (period) GROUP BY h.period)
SELECT p.*, CAST(p.period AS VARCHAR) AS subject, a.* EXCLUDE (period), m.* EXCLUDE (period)
FROM per p JOIN hist_all a USING (period) JOIN mix m USING (period)
ORDER BY p.period"""
        all_params = params + wp_all + [step, step]
    else:
        row_sums = ", ".join(f"{r.key}_x, {r.key}_n" for r in rates)
        sql = f"""{cte},
scoped AS (SELECT *, {per} AS period FROM base WHERE {where_all}),
per AS (SELECT period, topic, {_sums_sql(rates)} FROM scoped GROUP BY period, topic),
{_sends_cte(rates)},
camp AS (SELECT _row, campaign AS subject, send_date, period, topic, variants, {row_sums} FROM sends)
SELECT c.*, {hist}, COUNT(b.period) AS base_periods, COALESCE(SUM(b.sends), 0) AS base_units
FROM camp c LEFT JOIN per b ON b.topic = c.topic AND {_window('c', 'b')}
GROUP BY ALL ORDER BY c.send_date, c._row"""
        all_params = params + wp_all + [VARIANT_SUFFIX, step]
    wide = (old_rows_baseline_wide(rows, filters, grain, periods, rates, _COUNTS, by) if rows is not None
            else con.execute(sql, all_params).df())
    wide["period"] = pd.to_datetime(wide["period"])
    when = wide["period"] if by == "period" else pd.to_datetime(wide["send_date"])
    lo = period_start(filters.start, grain) if by == "period" and filters.start is not None else filters.start
    keep = pd.Series(True, index=wide.index)
    if lo is not None:
        keep &= when >= pd.Timestamp(lo)
    if filters.end is not None:
        keep &= when < pd.Timestamp(filters.end)
    frame = old_long_tests(wide, rates, by)
    for col in ("z", "d", "v", "null_v", "pearson_v", "baseline", "base_n", *(["h"] if by == "period" else [])):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["exact"] = frame["exact"].astype(bool)
    if frame["exact"].any() and not _tau2_only:  # `_exact_z` for every exact row at once (tests/test_stats_arrays.py)
        frame.loc[frame["exact"], "z"] = old_exact_z_array(frame[frame["exact"]])
    # the tests on plain arrays, in the frame's row order (a pandas filter per rate cost more than the tests)
    groups = frame.groupby("key").indices if len(frame) else {}  # key → its rows, keys sorted
    keys = frame["key"].to_numpy(dtype=object)
    exact = frame["exact"].to_numpy(dtype=bool)
    z, d, v, null_v, pearson_v, baseline, rate, n_col, base_n = (
        frame[col].to_numpy(dtype=float) for col in ("z", "d", "v", "null_v", "pearson_v", "baseline", "rate", "n",
                                                     "base_n"))
    c = 1 + 1 / np.maximum(frame["base_units"].to_numpy(dtype=np.int64), 1)
    # τ² of the log odds: from the subjects with enough events for the normal log-odds model (no
    # exact test); with under 10 of those (complaints are rare everywhere), from Pearson terms on
    # the rate scale, which stay right for small counts: rate variance = τ²·(b(1−b))² (delta method).
    scale = (baseline * (1 - baseline)) ** 2
    tau2_of, df_of = {}, {}
    for key, at in groups.items():
        normal = at[~exact[at] & ~np.isnan(v[at])]
        if len(normal) >= 10:
            tau2_of[key], used = old_between_variance(d[normal], v[normal], c[normal], median=True), len(normal)
        else:
            known = at[~np.isnan(baseline[at])]
            targets = [capped_null_mean(a, b, w) for a, b, w in
                       zip(n_col[known].tolist(), baseline[known].tolist(), pearson_v[known].tolist())]
            tau2_of[key] = old_between_variance(rate[known] - baseline[known], pearson_v[known], c[known] * scale[known],
                                            targets)
            used = len(known)
        # τ² estimated from `used` subjects: read z on Student's t with used − 1 df
        df_of[key] = used - 1 if tau2_of[key] > 0 else math.inf
    if _tau2_only:  # `_send_tau2`: τ² reads neither the exact tests' z nor the dates
        return tau2_of
    tau2 = np.array([tau2_of[k] for k in keys], dtype=float)
    df = np.array([df_of[k] for k in keys], dtype=float)
    extra = c * tau2
    few = [key for key, at in groups.items() if (base_n[at] > 0).sum() < MIN_SUBJECTS]
    if by == "period" and few:
        # Too few periods to see how much they differ: borrow the send-to-send spread (estimated
        # over the sends) and scale it to each period by its sends' weights, τ²_send · Σn²/(Σn)².
        sends_tau2 = old_send_tau2(con, data, filters, grain, periods, alpha, rows)
        borrow = np.isin(keys, few)
        borrowed = np.array([sends_tau2.get(k, math.nan) for k in keys[borrow]], dtype=float)
        tau2[borrow] = np.where(np.isnan(borrowed), 0.0, borrowed)
        df[borrow] = math.inf  # the send-level τ² rests on many sends
        extra = np.where(borrow, c * tau2 * frame["h"].to_numpy(dtype=float), extra)
    # Normal path: the log odds ratio over its binomial + between-subject variance. Exact path:
    # Fisher's z shrunk by the same between-subject share of the variance (null log-odds variance).
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_z = np.where(~exact, ((v + extra) / v) ** 0.5, (1 + extra / null_v) ** 0.5)
        z_adj = z / sigma_z
    bad = np.where(frame["direction"].to_numpy(dtype=object) == "above", 1.0, -1.0)
    p_value = stats.student_t_upper_array(z_adj * bad, df)
    diff = rate - baseline
    # the rate-scale SE the verdict implies (the band is drawn from it): |rate − baseline| over the
    # normal z of the same one-sided p (on Student's t the p is not Φ of z_adj); delta method at z = 0
    z_eq = stats.z_of_upper_p_array(p_value)
    delta_se = (v + extra) ** 0.5 * baseline * (1 - baseline)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_test = np.where((np.abs(z_eq) > 1e-9) & (np.abs(diff) > 0), np.abs(diff) / np.abs(z_eq), delta_se)
    frame["tau2"], frame["df"], frame["sigma_z"], frame["z_adj"], frame["p_value"], frame["se_test"] = (
        tau2, df, sigma_z, z_adj, p_value, se_test)
    in_range = frame["period" if by == "period" else "send_date"].isin(set(when[keep])) if len(frame) else []
    frame = frame[in_range].reset_index(drop=True) if len(frame) else frame
    p_adjusted, p_bonferroni = np.full(len(frame), math.nan), np.full(len(frame), math.nan)
    p_kept = frame["p_value"].to_numpy(dtype=float)
    for at in (frame.groupby("key").indices if len(frame) else {}).values():
        p_adjusted[at] = stats.adjust_p_values(p_kept[at], "fdr_bh")
        p_bonferroni[at] = stats.adjust_p_values(p_kept[at], "bonferroni")
    frame["p_adjusted"], frame["p_bonferroni"] = p_adjusted, p_bonferroni
    frame["worse"] = frame["p_adjusted"].lt(alpha)
    frame["high"] = frame["worse"] & (frame["p_bonferroni"] < alpha)
    return MetricResult(frame.drop(columns=["d", "v", "null_v", "pearson_v", "c", "h"], errors="ignore"), sql,
                        all_params, dict(data.excluded))


def old_send_tau2(con, data: EmailData, filters: Filters, grain: str, periods: int, alpha: float,
               rows: pd.DataFrame | None = None) -> dict[str, float]:
    """`em.send_tau2` as it was at 0237e61 (verbatim, docstring left out)."""
    return old_baseline_tests(con, data, replace(filters, start=None, end=None), grain, periods, alpha, "campaign", rows,
                          _tau2_only=True)


def old_rows_shift(periods: np.ndarray, off: pd.DateOffset) -> np.ndarray:
    """`email_rows._shift` as it was at 0237e61: period − interval (or + with a negative offset) for an array of period starts."""
    if not len(periods):
        return periods
    return (pd.DatetimeIndex(periods) + off).to_numpy(dtype="datetime64[us]")


def old_rows_window(p: np.ndarray, b: np.ndarray, off: pd.DateOffset, pt=None, bt=None) -> np.ndarray:
    """`_window` joined: W[i, j] = base period j in [period i − interval, period i) (and the same topic)."""
    lo = old_rows_shift(p, -off)
    w = (b[None, :] >= lo[:, None]) & (b[None, :] < p[:, None])
    if pt is not None:
        w &= pt[:, None] == bt[None, :]
    return w


def old_rows_baseline_wide(rows: pd.DataFrame, filters, grain: str, periods: int, rate_list, counts, by: str) -> pd.DataFrame:
    """`baseline_tests`' query (the `wide` frame it reads by column name): lists and topics applied,
    not the dates (history before the range counts)."""
    a = email_rows.arrays(rows, counts, rate_list, filters, dates=False, grain=grain)  # scoped
    off = email_rows.offset(grain, periods)
    if by == "period":
        codes, first = email_rows.group(a["period"])  # per
        n = len(first)
        per = {"period": a["period"][first], "sends": np.bincount(codes, minlength=n).astype(np.int64),
               **email_rows.sum_columns(a, codes, n, rate_list, counts)}
        for r in rate_list:
            per[f"{r.key}_n2"] = email_rows.group_sum(a[f"{r.key}_n"] * a[f"{r.key}_n"], codes, n)
        tcodes, tfirst = email_rows.group(a["period"], a["topic"])  # per_topic
        tn = len(tfirst)
        tp, tt = a["period"][tfirst], a["topic"][tfirst]
        tsums = email_rows.sum_columns(a, tcodes, tn, rate_list, counts)
        w = old_rows_window(per["period"], per["period"], off)  # hist_all
        out = dict(per)
        out["subject"] = np.array([str(p)[:10] for p in per["period"]], dtype=object)
        for r in rate_list:
            out[f"{r.key}_base_x"] = email_rows._window_sum(w, per[f"{r.key}_x"])
            out[f"{r.key}_base_n"] = email_rows._window_sum(w, per[f"{r.key}_n"])
        out["base_periods"] = out["base_units"] = w.sum(axis=1).astype(np.int64)
        wt = old_rows_window(tp, tp, off, tt, tt)  # hist_topic
        at = np.searchsorted(per["period"], tp)  # each topic row's period
        for r in rate_list:  # mix: each topic's trailing rate, else the period's, weighted by this period's n
            cur_n = tsums[f"{r.key}_n"]
            tx, tn_ = email_rows._window_sum(wt, tsums[f"{r.key}_x"]), email_rows._window_sum(wt, tsums[f"{r.key}_n"])
            bx, bn = out[f"{r.key}_base_x"][at], out[f"{r.key}_base_n"][at]
            with np.errstate(divide="ignore", invalid="ignore"):
                own = np.where(tn_ != 0, tx / tn_, np.nan)
                overall = np.where(bn != 0, bx / bn, np.nan)
            top = email_rows.group_sum(cur_n * np.where(np.isnan(own), overall, own), at, n)
            bottom = email_rows.group_sum(cur_n, at, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"{r.key}_mix"] = np.where(bottom != 0, top / bottom, np.nan)
        return email_rows.frame(out, ("subject",))
    pcodes, pfirst = email_rows.group(a["period"], a["topic"])  # per
    pn = len(pfirst)
    bp, bt = a["period"][pfirst], a["topic"][pfirst]
    bsends = np.bincount(pcodes, minlength=pn).astype(np.int64)
    psums = email_rows.sum_columns(a, pcodes, pn, rate_list, counts)
    s = email_rows.merged_sends(a, rate_list, counts)  # sends → camp
    out = {"_row": s["_row"], "subject": s["campaign"], "send_date": s["send_date"], "period": s["period"],
           "topic": s["topic"], "variants": s["variants"]}
    for r in rate_list:
        out[f"{r.key}_x"], out[f"{r.key}_n"] = s[f"{r.key}_x"], s[f"{r.key}_n"]
    w = old_rows_window(s["period"], bp, off, s["topic"], bt)
    for r in rate_list:
        out[f"{r.key}_base_x"] = email_rows._window_sum(w, psums[f"{r.key}_x"])
        out[f"{r.key}_base_n"] = email_rows._window_sum(w, psums[f"{r.key}_n"])
    out["base_periods"] = w.sum(axis=1).astype(np.int64)
    out["base_units"] = w.astype(np.int64) @ bsends
    order = np.lexsort((out["_row"], out["send_date"]))
    return email_rows.frame({k: v[order] for k, v in out.items()}, ("subject", "topic"))


# --------------------------------------------------------------------------- data sets


def _one_thread(frame: pd.DataFrame, table: str = "email_campaigns"):
    con = duckdb.connect()
    con.execute("SET threads=1")
    con.register("_in", frame)
    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _in')
    con.unregister("_in")
    return con


def _nasty(campaigns: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Variants of the sample campaigns: blank counts, one send, one list, zero denominators, no topic."""
    blank = campaigns.copy()
    for col in ("unique_opens", "unsubscribes", "spam_complaints"):
        blank[col] = blank[col].astype("Float64")
        blank.loc[blank.index[::3], col] = None
    zero = campaigns.copy()
    zero.loc[zero.index[::4], ["sent", "delivered", "bounces", "soft_bounces", "hard_bounces", "unique_opens",
                               "unique_clicks", "unsubscribes", "spam_complaints"]] = 0
    return {"blank counts": blank, "one send": campaigns.head(1).copy(),
            "one list": campaigns.assign(list_name="Everyone"), "zero denominators": zero,
            "no topic column": campaigns.drop(columns=["topic"])}


@pytest.fixture(scope="module")
def datasets(email_one_thread):
    """(name, connection, table) of every file the equality tests run on."""
    out = [("sample campaigns", email_one_thread, "email_campaigns"), ("sample events", email_one_thread, "email_events")]
    campaigns = email_one_thread.execute('SELECT * FROM "email_campaigns"').df()
    out += [(name, _one_thread(frame), "email_campaigns") for name, frame in _nasty(campaigns).items()]
    yield out
    for _, con, _ in out[2:]:
        con.close()


@pytest.fixture(scope="module")
def mailchimp():
    from lib.datasets import Workspace

    ws = Workspace()
    ws.load("mailchimp_campaigns_mydomino.csv", real_file("mailchimp_campaigns_mydomino.csv").read_bytes())
    con = _one_thread(ws.con.execute('SELECT * FROM "email_campaigns"').df())
    ws.close()
    yield con
    con.close()


def selections(con, data) -> list[Filters]:
    start, end = em.period_range(data.first_send, data.last_send)
    lists, topics = em.choices(con, data, "list_name"), em.choices(con, data, "topic")
    out = [Filters(start, end), Filters(), Filters(start + (end - start) / 3, end - (end - start) / 4),
           Filters(start, end, tuple(lists[:1])), Filters(start, end, tuple(lists[-2:]), tuple(topics[:1])),
           Filters(end, end + pd.Timedelta(days=30))]  # a range after the last send: rows, none in range
    if len(lists) > 1 and len(topics) > 1:
        out.append(Filters(start + (end - start) / 2, end, tuple(lists[:1]), tuple(topics[-1:])))
    return out


def same_result(new: MetricResult, old: MetricResult, what: str) -> None:
    assert new.sql == old.sql and new.params == old.params and new.excluded == old.excluded, what
    pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=True, obj=what)


def _tests_equal(con, table, grains=("week", "month", "quarter"), sql_too=True) -> tuple[int, int]:
    data = em.email_data(con, table)
    if data.first_send is None:
        return 0, 0
    rows = em.base_rows(con, data)
    compared = worse = 0
    for f, grain, k, by in itertools.product(selections(con, data), grains, (2, 6), ("period", "campaign")):
        new = em.baseline_tests(con, data, f, grain, k, 0.05, by, rows=rows)
        same_result(new, old_baseline_tests(con, data, f, grain, k, 0.05, by, rows=rows), f"{table} {f} {grain} {k} {by}")
        if sql_too and k == 6:
            same_result(em.baseline_tests(con, data, f, grain, k, 0.05, by),
                        old_baseline_tests(con, data, f, grain, k, 0.05, by), f"SQL {table} {f} {grain} {k} {by}")
        compared, worse = compared + len(new.frame), worse + int(new.frame["worse"].sum())
    return compared, worse


def test_baseline_tests_equal_the_old_code_on_the_samples_and_nasty_files(datasets):
    seen = {}
    for name, con, table in datasets:
        seen[name] = _tests_equal(con, table, sql_too=name.startswith("sample"))
    assert seen["sample campaigns"][0] > 3000 and seen["sample campaigns"][1] > 10
    assert seen["sample events"][0] > 100
    assert all(compared > 0 for name, (compared, _) in seen.items() if name != "one send")


def test_baseline_tests_equal_the_old_code_on_the_real_mailchimp_export(mailchimp):
    compared, _ = _tests_equal(mailchimp, "email_campaigns", ("week", "month"))
    assert compared > 500


def test_adjusted_p_values_are_statsmodels():
    rng = np.random.default_rng(5)
    for size in (0, 1, 2, 7, 30, 200):
        for _ in range(20):
            p = rng.uniform(0, 1, size) ** rng.uniform(0.2, 5)
            if size > 3:
                p[rng.integers(size)] = math.nan
                p[: size // 3] = p[size - 1]  # ties
            bh, bonferroni = em._adjusted(p)
            assert np.array_equal(bh, np.array(stats.adjust_p_values(p, "fdr_bh")), equal_nan=True)
            assert np.array_equal(bonferroni, np.array(stats.adjust_p_values(p, "bonferroni")), equal_nan=True)


# --------------------------------------------------------------------------- flags, old code

def old_threshold_flags(frame: pd.DataFrame, subject_col: str, when_col: str, thresholds: Thresholds,
                    rates: tuple[Rate, ...], mpp_note: bool, level: str,
                    intervals: dict[str, pd.DataFrame] | None = None) -> list[Flag]:
    """`em.threshold_flags` as it was at 0237e61 (verbatim, docstring left out)."""
    flags: list[Flag] = []
    min_n, alpha = thresholds["min_group_size"], thresholds["baseline_alpha"]
    columns: dict[str, np.ndarray] = {}  # the cells read, column by column as Python objects (as to_dict
    # gives them): a dict per row of a wide frame cost more than the tests

    def cell(name: str, i: int):
        if name not in columns:
            columns[name] = frame[name].to_numpy(dtype=object)
        return columns[name][i]

    for rate in rates:
        if rate.threshold_key is None or rate.key not in frame:
            continue
        general = thresholds[rate.threshold_key]
        past = _crossed(frame, rate, general)
        if not len(past):  # the loop below would skip every row
            continue
        m = int((frame[f"{rate.key}_n"].fillna(0) > 0).sum())
        z_strict = stats.z_for_alpha(alpha / max(m, 1))
        if intervals is None:  # the crossing sends' exact intervals (each row's own) in one call each
            sends_x = frame[f"{rate.key}_x"].to_numpy(dtype=float, na_value=np.nan)[past]
            sends_n = frame[f"{rate.key}_n"].to_numpy(dtype=float, na_value=np.nan)[past]
            exact95 = dict(zip(past.tolist(), zip(*(side.tolist() for side in stats.exact_intervals(sends_x, sends_n)))))
            exact_strict = dict(zip(past.tolist(), zip(*(side.tolist() for side in
                                                         stats.exact_intervals(sends_x, sends_n, alpha / max(m, 1))))))
        by_when = None
        if intervals is not None:
            iv = intervals[rate.key]  # per period: its intervals (plain dicts: iterrows cost more than the tests)
            names = ("low", "high", "low_strict", "high_strict", "clusters")
            by_when = {pd.Timestamp(k): dict(zip(names, v)) for k, v in
                       zip(iv[when_col], zip(*(iv[c].to_numpy(dtype=float).tolist() for c in names)))}
        for i in past.tolist():
            value, x, n = cell(rate.key, i), cell(f"{rate.key}_x", i), cell(f"{rate.key}_n", i)
            if value is None or pd.isna(value) or pd.isna(n) or n <= 0:
                continue
            limit = float(cell(f"{rate.key}_limit", i) if f"{rate.key}_limit" in frame else general)
            crossed = value > limit if rate.direction == "above" else value < limit
            if not crossed:
                continue
            when = pd.Timestamp(cell(when_col, i))
            if by_when is None:
                lo, hi = exact95[i]
                strict = _beyond(*exact_strict[i], limit, rate.direction)
                how = "exact 95%"
            else:
                ci = by_when[when]
                lo, hi = float(ci["low"]), float(ci["high"])
                strict = _beyond(ci["low_strict"], ci["high_strict"], limit, rate.direction)
                how = (f"95% cluster-robust over {int(ci['clusters'])} sends" if ci["clusters"] > 1
                       else "exact 95%, one send")
            if not _beyond(lo, hi, limit, rate.direction):
                continue
            severity = "low" if n < min_n else "high" if strict else "medium"
            own = "" if limit == general else " (this topic's own)" if level == "send" else " (topic mix's own)"
            note = f"threshold {'≤' if rate.direction == 'above' else '≥'} {pct(limit, 2)}{own}; " \
                   f"{level}: {rate.definition} = {int(x):,} ÷ {int(n):,} ({how} {pct(lo, 2)}–{pct(hi, 2)}, " \
                   f"clear of the threshold{'; also at the Bonferroni level over ' + str(m) if strict else ''})"
            if rate.key == "open_rate" and mpp_note and when >= pd.Timestamp(EMAIL_MPP_START):
                note += "; opens inflated by Apple Mail Privacy Protection — check click rate"
                severity = "low" if severity == "medium" else "medium" if severity == "high" else severity
            if n < min_n:
                note += f"; small sample (n < {int(min_n)})"
            flags.append(Flag(AREA, rate.label, str(cell(subject_col, i)), float(value), float(limit), note,
                              severity, questions_for(AREA, rate.label), when))
    return flags


def old_period_intervals(send_rows: pd.DataFrame, rates: tuple[Rate, ...], alpha: float) -> dict[str, pd.DataFrame]:
    """`em.period_intervals` as it was at 0237e61 (verbatim, docstring left out)."""
    out = {}
    m = max(send_rows["period"].nunique(), 1) if len(send_rows) else 1
    z_strict = stats.z_for_alpha(alpha / m)
    for rate in rates:
        if f"{rate.key}_n" not in send_rows:
            continue
        ci = cluster_intervals(send_rows, "period", rate.key)
        strict = cluster_intervals(send_rows, "period", rate.key, z_strict)
        out[rate.key] = ci.assign(low_strict=strict["low"].to_numpy(), high_strict=strict["high"].to_numpy())
    return out


def old_history_flags(tests: pd.DataFrame, alpha: float, level: str, periods: int,
                  file_tests: int | None = None) -> list[Flag]:
    """`em.history_flags` as it was at 0237e61 (verbatim, docstring left out)."""
    flags: list[Flag] = []
    if tests.empty:
        return flags
    m = tests[tests["p_value"].notna()].groupby("key").size().to_dict()
    for rec in _records(tests[tests["worse"]]):
        basis = "same-topic sends in the" if level == "campaign" else "the"
        mix = "" if level == "campaign" else " (re-weighted to this period's topic mix)"
        name = "one-sided Fisher's exact test" if rec["exact"] else "log odds ratio test"
        units = "sends" if level == "campaign" else f"{level}s"
        test = (f"{name} vs {basis} {periods} {'periods' if level == 'campaign' else level + 's'} before{mix}: "
                f"{int(rec['x']):,}/{int(rec['n']):,} vs {pct(rec['baseline'], 2)} of {int(rec['base_n']):,}; "
                f"send-to-send variation widens the SE ×{rec['sigma_z']:.1f}; p={rec['p_value']:.2g}, "
                f"Benjamini–Hochberg over {m.get(rec['key'], 1)} {units} p={rec['p_adjusted']:.2g}"
                + (f"; Bonferroni over the file's {file_tests:,} own-history tests p={min(1.0, rec['p_value'] * file_tests):.2g}"
                   if file_tests else ""))
        high = rec["high"] if not file_tests else rec["p_value"] * file_tests < alpha
        when = pd.Timestamp(rec.get("send_date") if level == "campaign" else rec["period"])
        subject = rec["subject"] if level == "campaign" else period_subject(when, level)
        flags.append(Flag(AREA, f"{rec['metric']} (own history)", subject, float(rec["rate"]),
                          float(rec["baseline"]), test, "high" if high else "medium",
                          questions_for(AREA, rec["metric"]), when))
    return flags


def old_volume_flags(changes: pd.DataFrame, jump_ratio: float, grain: str) -> list[Flag]:
    """`em.volume_flags` as it was at 0237e61 (verbatim, docstring left out)."""
    flags = []
    for rec in changes[changes["change"] == "volume jump"].to_dict("records"):
        flags.append(Flag(AREA, "Send volume", period_subject(rec["period"], grain),
                          float(rec["sends"]), float(rec["baseline_sends"]),
                          f"sends ≥ {jump_ratio:g}× the trailing average ({rec['detail']})", "medium",
                          questions_for(AREA, "Unsubscribe rate"), pd.Timestamp(rec["period"]), "sends"))
    return flags


def old_gap_flags(gaps: pd.DataFrame, multiple: float) -> list[Flag]:
    """`em.gap_flags` as it was at 0237e61 (verbatim, docstring left out)."""
    flags = []
    for rec in gaps.to_dict("records"):
        burst = (f"then {rec['sends_after']} sends in 7 days (usual {rec['usual_per_week']:.1f} a week)"
                 if rec["burst"] else f"then {rec['sends_after']} send(s) in 7 days")
        flags.append(Flag(AREA, "Gap in sending", f"no sends {rec['last_send']:%Y-%m-%d} → {rec['resumed']:%Y-%m-%d}",
                          float(rec["gap_days"]), float(multiple * rec["usual_gap_days"]),
                          f"{rec['gap_days']} days between send days, {rec['times_usual']:.1f}× the usual "
                          f"{rec['usual_gap_days']:g} (median interval; flagged above {multiple:g}×); {burst}",
                          "medium" if rec["burst"] else "low", questions_for(AREA, "Gap in sending"),
                          pd.Timestamp(rec["resumed"]), "days"))
    return flags


def old_flags_from(data: EmailData, grain: str, thresholds: Thresholds, send_rows: pd.DataFrame,
               periods: pd.DataFrame, period_tests: pd.DataFrame, campaign_tests: pd.DataFrame,
               changes: pd.DataFrame, campaigns: pd.DataFrame, gaps: pd.DataFrame) -> list[Flag]:
    """`em.flags_from` as it was at 0237e61 (verbatim, docstring left out)."""
    alpha, k = thresholds["baseline_alpha"], int(thresholds["baseline_periods"])
    rates = data.usable_rates()
    mpp = not data.has("machine_opens")
    send_rows, periods = with_topic_limits(send_rows, periods, thresholds, rates)
    flags = old_threshold_flags(send_rows, "campaign", "send_date", thresholds, rates, mpp, "send")
    periods["subject"] = [period_subject(p, grain) for p in periods["period"]]
    # intervals only for the rates some period crosses (the others' are never read)
    crossing = tuple(r for r in rates if r.threshold_key is not None and r.key in periods
                     and len(_crossed(periods, r, thresholds[r.threshold_key])))
    flags += old_threshold_flags(periods, "subject", "period", thresholds, rates, mpp, grain,
                             old_period_intervals(send_rows, crossing, alpha))
    tested = int(period_tests["p_value"].notna().sum() + campaign_tests["p_value"].notna().sum())
    flags += old_history_flags(period_tests, alpha, grain, k, tested) + old_history_flags(campaign_tests, alpha, "campaign", k,
                                                                                  tested)
    flags = strongest_per_subject(flags)
    flags += old_volume_flags(changes, thresholds["email_volume_jump"], grain)
    flags += scanner_flags(campaigns)
    flags += old_gap_flags(gaps, thresholds["email_gap_multiple"])
    return flags


def _thresholds() -> dict[str, Thresholds]:
    strict = Thresholds()
    for key, value in (("email_open_rate_min", 0.45), ("email_click_rate_min", 0.06), ("email_ctor_min", 0.15),
                       ("email_unsubscribe_rate_max", 0.0002), ("email_spam_rate_max", 0.0001),
                       ("email_delivery_rate_min", 0.995), ("baseline_alpha", 0.2)):
        strict = strict.with_value(key, value)
    topics = (Thresholds().with_topic_value("email_open_rate_min", "newsletter", 0.40)
              .with_topic_value("email_unsubscribe_rate_max", "promo", 0.0001))
    return {"general": Thresholds(), "strict": strict, "topics": topics}


def _flags_equal(con, table, grains=("week", "month", "quarter")) -> tuple[int, int]:
    data = em.email_data(con, table)
    if data.first_send is None:
        return 0, 0
    rows = em.base_rows(con, data)
    flags_seen = intervals_seen = 0
    for f, grain, (name, th) in itertools.product(selections(con, data), grains, _thresholds().items()):
        if not em.pooled_rates(con, data, f, rows=rows).frame.iloc[0]["sends"]:
            continue  # the page stops before its figures
        alpha, k, jump = th["baseline_alpha"], int(th["baseline_periods"]), th["email_volume_jump"]
        days = em.send_days(con, data, f, rows=rows)
        frames = (em.sends(con, data, f, grain, rows=rows).frame, em.rates_by_period(con, data, f, grain, rows=rows).frame,
                  em.baseline_tests(con, data, f, grain, k, alpha, "period", rows=rows).frame,
                  em.baseline_tests(con, data, f, grain, k, alpha, "campaign", rows=rows).frame,
                  em.program_changes(con, data, f, grain, k, jump, alpha, rows=rows).frame,
                  em.campaign_table(con, data, f, rows=rows).frame,
                  em.gaps_from_days(days, th["email_gap_multiple"], th["email_gap_min_days"], jump).frame)
        what = f"{table} {f} {grain} {name}"
        new, old = em.flags_from(data, grain, th, *frames), old_flags_from(data, grain, th, *frames)
        assert [repr(x) for x in new] == [repr(x) for x in old], what
        flags_seen += len(new)
        rates = data.usable_rates()
        send_rows = with_topic_limits(frames[0], frames[1], th, rates)[0]
        new_iv, old_iv = em.period_intervals(send_rows, rates, alpha), old_period_intervals(send_rows, rates, alpha)
        assert new_iv.keys() == old_iv.keys(), what
        for key in new_iv:
            pd.testing.assert_frame_equal(new_iv[key], old_iv[key], check_exact=True, obj=f"{what} {key}")
            intervals_seen += len(new_iv[key])
    return flags_seen, intervals_seen


def test_flags_equal_the_old_code_on_the_samples_and_nasty_files(datasets):
    seen = {name: _flags_equal(con, table) for name, con, table in datasets}
    assert seen["sample campaigns"][0] > 1000 and seen["sample campaigns"][1] > 1000
    assert seen["sample events"][0] > 20
    assert all(flags > 0 for name, (flags, _) in seen.items() if name != "one send")


def test_flags_equal_the_old_code_on_the_real_mailchimp_export(mailchimp):
    flags, intervals = _flags_equal(mailchimp, "email_campaigns", ("week", "month"))
    assert flags > 100 and intervals > 100


def test_threshold_flags_per_send_equal_the_old_code_with_many_crossings(email_one_thread):
    """Every rate crossed by many sends (lines set past most of them): one exact-interval call for all."""
    con = email_one_thread
    data = em.email_data(con, "email_campaigns")
    th = _thresholds()["strict"]
    frame = em.sends(con, data, em.Filters(), "month").frame
    new = em.threshold_flags(frame, "campaign", "send_date", th, data.usable_rates(), True, "send")
    old = old_threshold_flags(frame, "campaign", "send_date", th, data.usable_rates(), True, "send")
    assert [repr(x) for x in new] == [repr(x) for x in old]
    assert len({f.metric for f in new}) >= 4 and len(new) > 100


def test_baseline_wide_equals_the_old_code(datasets):
    compared = 0
    for name, con, table in datasets:
        data = em.email_data(con, table)
        if data.first_send is None:
            continue
        rows, rates = em.base_rows(con, data), data.usable_rates()
        for f, grain, k, by in itertools.product(selections(con, data), ("week", "month", "quarter"), (2, 6),
                                                 ("period", "campaign")):
            new = email_rows.baseline_wide(rows, f, grain, k, rates, _COUNTS, by)
            pd.testing.assert_frame_equal(new, old_rows_baseline_wide(rows, f, grain, k, rates, _COUNTS, by),
                                          check_exact=True, obj=f"{name} {f} {grain} {k} {by}")
            compared += len(new)
    assert compared > 5000


def test_shift_equals_the_pandas_offsets():
    rng = np.random.default_rng(8)
    any_time = np.datetime64("2019-01-01", "us") + rng.integers(0, 3000 * 86400, 400).astype("timedelta64[s]")
    days = email_rows.period_of(any_time.astype("datetime64[D]"), "day")
    for grain in ("day", "week", "month", "quarter", "year"):
        for p in (email_rows.period_of(any_time.astype("datetime64[D]"), grain), days, any_time.astype("datetime64[us]")):
            for periods in (1, 2, 6, 13):
                off = email_rows.offset(grain, periods)
                for o in (off, -off):
                    assert np.array_equal(email_rows._shift(p, o), old_rows_shift(p, o)), (grain, periods, o)

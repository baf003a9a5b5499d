"""Email figures from one frame of usable sends per dataset (issue #20, session 7).

Every email figure in `lib.metrics.email` is a query over the common one-row-per-send shape
(`EmailData.cte()`); on the sample each costs 8–30 ms of DuckDB planning for a few hundred rows.
`base_rows` reads that shape's usable rows once per dataset; the functions here compute the same
frames as those queries with numpy, step for step (the SQL's CTE names in the comments), so a
filter or period click runs no query. The SQL stays what "Show SQL" shows and what runs on Spark;
`tests/test_email_rows_equal.py` checks both forms give the same frames over a grid of selections.

Semantics kept from the SQL: SUM skips NULLs and is NULL over no known value; a rate's x and n are
summed over rows where both are known; x ÷ NULLIF(n, 0); COUNT(*) counts rows; text orders by code
point (DuckDB's binary collation). Counts are whole numbers below 2^53, so their float sums are
exact in any order; sums of fractions (the topic-mix baseline) may differ from DuckDB's in the last
bits (DuckDB's own order varies between runs). Work is on plain arrays: a pandas operation per
column cost more than DuckDB's planning.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

# regexp_replace(campaign, VARIANT_SUFFIX, '') in DuckDB (RE2: `\s` is [\t\n\f\r ], `$` the end of the text)
_STEM = re.compile(r"[\t\n\f\r ]*\|[^|]*\Z")
_TEXT = ("campaign", "topic", "list_name")


def base_rows(con, data) -> pd.DataFrame:
    """The usable rows of `data` (its `base` CTE), every column but `_problem`, in file-row order:
    what every figure below filters and groups. One query per dataset and scanner threshold."""
    cte, params = data.cte()
    frame = con.execute(f"{cte}\nSELECT * EXCLUDE (_problem) FROM base ORDER BY _row", params).df()
    frame["send_date"] = pd.to_datetime(frame["send_date"])
    return frame


def arrays(rows: pd.DataFrame, counts, rate_list, filters=None, dates: bool = True, grain: str | None = None) -> dict:
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


def _num(a: dict, expr: str) -> np.ndarray:
    """A rate's numerator or denominator ('opens', 'opens - machine_opens') as floats, NaN for NULL."""
    parts = [a[c.strip()] for c in expr.split(" - ")]
    return parts[0] - parts[1] if len(parts) == 2 else parts[0]


def period_of(days: np.ndarray, grain: str) -> np.ndarray:
    """`period_sql(day, grain)` for an array of days: each one's period start, as datetime64[us]
    (weeks from Monday, as lib.periods.period_start)."""
    if grain == "day":
        out = days
    elif grain == "week":
        number = days.astype("int64")  # days since 1970-01-01, a Thursday
        out = (number - (number + 3) % 7).astype("datetime64[D]")
    elif grain == "year":
        out = days.astype("datetime64[Y]").astype("datetime64[D]")
    else:
        months = days.astype("datetime64[M]").astype("int64")
        if grain == "quarter":
            months = months - months % 3
        out = months.astype("datetime64[M]").astype("datetime64[D]")
    return out.astype("datetime64[us]")


def group(*cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group codes by the key columns (groups in key order, as GROUP BY … ORDER BY the keys) and the
    position of each group's first row."""
    if not cols or len(cols[0]) == 0:
        size = len(cols[0]) if cols else 0
        return np.zeros(size, dtype=np.int64), np.zeros(0 if cols else 1, dtype=np.int64)
    code = np.zeros(len(cols[0]), dtype=np.int64)
    for col in cols:
        values, inverse = np.unique(col, return_inverse=True)
        code = code * len(values) + inverse.reshape(-1)
    _, first, codes = np.unique(code, return_index=True, return_inverse=True)
    return codes.reshape(-1).astype(np.int64), first


def group_sum(v: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    """SUM per group: NaN where a group has no known value."""
    known = ~np.isnan(v)
    total = np.bincount(codes[known], weights=v[known], minlength=groups)
    seen = np.bincount(codes[known], minlength=groups)
    return np.where(seen > 0, total, np.nan)


def sum_columns(a: dict, codes: np.ndarray, groups: int, rate_list, counts) -> dict:
    """The summed columns of `_sums_sql` (after its COUNT): each count, then x and n per rate."""
    names = [*counts, *[f"{r.key}_{s}" for r in rate_list for s in ("x", "n")]]
    return {name: group_sum(a[name], codes, groups) for name in names}


def with_rates(out: dict, rate_list) -> dict:
    """`_rates_sql`: x ÷ NULLIF(n, 0) per rate, NaN without a denominator."""
    for r in rate_list:
        x, n = out[f"{r.key}_x"], out[f"{r.key}_n"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[r.key] = np.where(n != 0, x / n, np.nan)
    return out


def int_column(v: np.ndarray):
    """A BIGINT result column as DuckDB hands it to pandas: int64, or Int64 when it has NULLs."""
    v = np.asarray(v, dtype=float)
    if np.isnan(v).any():
        return pd.array([None if np.isnan(x) else int(x) for x in v], dtype="Int64")
    return v.astype(np.int64)


def frame(out: dict, texts=_TEXT) -> pd.DataFrame:
    """The result frame with DuckDB's column types: text as str (object when the result is empty)."""
    out = dict(out)
    empty = not len(next(iter(out.values()))) if out else True
    for c in texts:
        if c in out:
            out[c] = np.asarray(out[c], dtype=object) if empty else pd.array(out[c], dtype="str")
    f = pd.DataFrame(out)
    if empty:
        for c in f.columns:
            if isinstance(f[c].dtype, pd.Int64Dtype):
                f[c] = f[c].astype(np.int64)
    return f


def merged_sends(a: dict, rate_list, counts, period: bool = True) -> dict:
    """`_sends_cte`: one row per send, the variants of an A/B split (same list, topic, day and name
    once a trailing ' | …' is cut) merged. Columns as the CTE's, groups in key order."""
    stem = np.array([_STEM.sub("", c, count=1) for c in a["campaign"].tolist()], dtype=object)
    codes, first = group(a["list_name"], a["topic"], stem, a["day"])
    n = len(first)
    order = np.lexsort((a["_row"], codes))  # each group's rows together, in file-row order
    starts = np.searchsorted(codes[order], np.arange(n))
    variants = np.bincount(codes, minlength=n).astype(np.int64)
    head = order[starts] if n else np.zeros(0, dtype=np.int64)
    names = [a["campaign"][h] if v == 1 else f"{stem[h]} ({v} variants)"  # MIN(campaign) of one row; the stem
             for h, v in zip(head.tolist(), variants.tolist())]
    out = {"_row": a["_row"][head], "campaign": np.array(names, dtype=object),
           "send_date": np.minimum.reduceat(a["send_date"][order], starts) if n else a["send_date"][:0]}
    if period:
        out["period"] = a["period"][head]  # one day: one period
    out["topic"], out["list_name"] = a["topic"][head], a["list_name"][head]
    out["list_size"] = np.fmax.reduceat(a["list_size"][order], starts) if n else a["list_size"][:0]
    out["variants"] = variants
    out.update(sum_columns(a, codes, n, rate_list, counts))
    return out


def offset(grain: str, periods: int) -> pd.DateOffset:
    """`CAST(_step(grain, periods) AS INTERVAL)` as a pandas offset ('56 days', '6 months')."""
    from lib.metrics.email import _GRAIN_STEP

    size, unit = _GRAIN_STEP[grain]
    return pd.DateOffset(**{unit: size * int(periods)})


def _shift(periods: np.ndarray, off: pd.DateOffset) -> np.ndarray:
    """period − interval (or + with a negative offset) for an array of period starts."""
    if not len(periods):
        return periods
    return (pd.DatetimeIndex(periods) + off).to_numpy(dtype="datetime64[us]")


def pooled_rates(rows: pd.DataFrame, filters, rate_list, counts) -> pd.DataFrame:
    """`pooled_rates`' query: one row of sums over the selection, then the rates."""
    a = arrays(rows, counts, rate_list, filters)
    codes = np.zeros(len(a["_row"]), dtype=np.int64)
    out = {"sends": np.array([len(codes)], dtype=np.int64), **sum_columns(a, codes, 1, rate_list, counts)}
    return frame(with_rates(out, rate_list))


def sends(rows: pd.DataFrame, filters, grain: str, rate_list, counts) -> pd.DataFrame:
    """`sends`' query: the merged sends in range with their rates, by send date and first row."""
    out = with_rates(merged_sends(arrays(rows, counts, rate_list, filters, grain=grain), rate_list, counts), rate_list)
    order = np.lexsort((out["_row"], out["send_date"]))
    out = {k: v[order] for k, v in out.items()}
    out["list_size"] = int_column(out["list_size"])
    return frame(out)


def _window(p: np.ndarray, b: np.ndarray, off: pd.DateOffset, pt=None, bt=None) -> np.ndarray:
    """`_window` joined: W[i, j] = base period j in [period i − interval, period i) (and the same topic)."""
    lo = _shift(p, -off)
    w = (b[None, :] >= lo[:, None]) & (b[None, :] < p[:, None])
    if pt is not None:
        w &= pt[:, None] == bt[None, :]
    return w


def _window_sum(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """SUM(b.v) over each subject's window: NaN when no known value."""
    known = ~np.isnan(v)
    total = w.astype(float) @ np.where(known, v, 0.0)
    seen = w.astype(np.int64) @ known.astype(np.int64)
    return np.where(seen > 0, total, np.nan)


def baseline_wide(rows: pd.DataFrame, filters, grain: str, periods: int, rate_list, counts, by: str) -> pd.DataFrame:
    """`baseline_tests`' query (the `wide` frame it reads by column name): lists and topics applied,
    not the dates (history before the range counts)."""
    a = arrays(rows, counts, rate_list, filters, dates=False, grain=grain)  # scoped
    off = offset(grain, periods)
    if by == "period":
        codes, first = group(a["period"])  # per
        n = len(first)
        per = {"period": a["period"][first], "sends": np.bincount(codes, minlength=n).astype(np.int64),
               **sum_columns(a, codes, n, rate_list, counts)}
        for r in rate_list:
            per[f"{r.key}_n2"] = group_sum(a[f"{r.key}_n"] * a[f"{r.key}_n"], codes, n)
        tcodes, tfirst = group(a["period"], a["topic"])  # per_topic
        tn = len(tfirst)
        tp, tt = a["period"][tfirst], a["topic"][tfirst]
        tsums = sum_columns(a, tcodes, tn, rate_list, counts)
        w = _window(per["period"], per["period"], off)  # hist_all
        out = dict(per)
        out["subject"] = np.array([str(p)[:10] for p in per["period"]], dtype=object)
        for r in rate_list:
            out[f"{r.key}_base_x"] = _window_sum(w, per[f"{r.key}_x"])
            out[f"{r.key}_base_n"] = _window_sum(w, per[f"{r.key}_n"])
        out["base_periods"] = out["base_units"] = w.sum(axis=1).astype(np.int64)
        wt = _window(tp, tp, off, tt, tt)  # hist_topic
        at = np.searchsorted(per["period"], tp)  # each topic row's period
        for r in rate_list:  # mix: each topic's trailing rate, else the period's, weighted by this period's n
            cur_n = tsums[f"{r.key}_n"]
            tx, tn_ = _window_sum(wt, tsums[f"{r.key}_x"]), _window_sum(wt, tsums[f"{r.key}_n"])
            bx, bn = out[f"{r.key}_base_x"][at], out[f"{r.key}_base_n"][at]
            with np.errstate(divide="ignore", invalid="ignore"):
                own = np.where(tn_ != 0, tx / tn_, np.nan)
                overall = np.where(bn != 0, bx / bn, np.nan)
            top = group_sum(cur_n * np.where(np.isnan(own), overall, own), at, n)
            bottom = group_sum(cur_n, at, n)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"{r.key}_mix"] = np.where(bottom != 0, top / bottom, np.nan)
        return frame(out, ("subject",))
    pcodes, pfirst = group(a["period"], a["topic"])  # per
    pn = len(pfirst)
    bp, bt = a["period"][pfirst], a["topic"][pfirst]
    bsends = np.bincount(pcodes, minlength=pn).astype(np.int64)
    psums = sum_columns(a, pcodes, pn, rate_list, counts)
    s = merged_sends(a, rate_list, counts)  # sends → camp
    out = {"_row": s["_row"], "subject": s["campaign"], "send_date": s["send_date"], "period": s["period"],
           "topic": s["topic"], "variants": s["variants"]}
    for r in rate_list:
        out[f"{r.key}_x"], out[f"{r.key}_n"] = s[f"{r.key}_x"], s[f"{r.key}_n"]
    w = _window(s["period"], bp, off, s["topic"], bt)
    for r in rate_list:
        out[f"{r.key}_base_x"] = _window_sum(w, psums[f"{r.key}_x"])
        out[f"{r.key}_base_n"] = _window_sum(w, psums[f"{r.key}_n"])
    out["base_periods"] = w.sum(axis=1).astype(np.int64)
    out["base_units"] = w.astype(np.int64) @ bsends
    order = np.lexsort((out["_row"], out["send_date"]))
    return frame({k: v[order] for k, v in out.items()}, ("subject", "topic"))


def rates_by_period(rows: pd.DataFrame, filters, grain: str, by, rate_list, counts, covered_end) -> pd.DataFrame:
    """`rates_by_period`' query: per period (and `by`), sums over the rows, the lists' sizes from the
    merged sends, the days the range and the data cover, emails per recipient per week."""
    a = arrays(rows, counts, rate_list, filters, grain=grain)  # scoped
    keys = ["period", *([by] if by else [])]
    s = merged_sends(a, rate_list, counts)  # sends
    inner = list(dict.fromkeys(keys + ["list_name"]))
    icodes, ifirst = group(*(s[k] for k in inner))  # list_size: per list, its largest send or list size
    order = np.argsort(icodes, kind="stable")
    starts = np.searchsorted(icodes[order], np.arange(len(ifirst)))
    if len(ifirst):
        size = np.fmax.reduceat(s["list_size"][order], starts)
        size = np.where(np.isnan(size), np.fmax.reduceat(s["sent"][order], starts), size)
    else:
        size = np.zeros(0)
    ocodes, _ = group(*(s[k][ifirst] for k in keys))
    codes, first = group(*(a[k] for k in keys))  # sums
    n = len(first)
    recipients = group_sum(size, ocodes, n)  # the same groups in the same key order
    out = {k: a[k][first] for k in keys}
    out["sends"] = np.bincount(codes, minlength=n).astype(np.int64)
    out.update(sum_columns(a, codes, n, rate_list, counts))
    lcodes, lfirst = group(codes, a["list_name"])
    out["lists"] = np.bincount(codes[lfirst], minlength=n).astype(np.int64)
    with_rates(out, rate_list)  # covered
    out["recipients_est"] = recipients
    period = out["period"]
    ends = _shift(period, offset(grain, 1))
    out["period_days"] = ((ends - period) // np.timedelta64(1, "D")).astype(np.int64)
    start = filters.start
    lo = period if start is None else np.maximum(period, np.datetime64(pd.Timestamp(start).to_datetime64(), "us"))
    hi = np.minimum(ends, np.datetime64(pd.Timestamp(covered_end).to_datetime64(), "us"))
    # date_diff('day', lo, hi): days between the two dates
    out["covered_days"] = (hi.astype("datetime64[D]") - lo.astype("datetime64[D]")).astype(np.int64)
    out["weeks"] = out["covered_days"].astype(float) / 7
    with np.errstate(divide="ignore", invalid="ignore"):
        out["emails_per_recipient_week"] = np.where(recipients != 0, out["sent"] / recipients, np.nan) / out["weeks"]
    out["incomplete"] = out["covered_days"] < out["period_days"]
    return frame(out)

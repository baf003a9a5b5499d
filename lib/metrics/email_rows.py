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
import threading
import weakref

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
    for c in (*_TEXT, "subject"):  # as Python objects once: reading Arrow-backed text costs ~0.3 ms a call
        frame[c] = frame[c].to_numpy(dtype=object)
    return frame


# The columns of a frame of sends as arrays, once per frame (id → (weak reference, columns)): a click's
# ~14 figures each read the same frame (~0.7 ms a conversion). A frame is read only, as `base_rows` and
# the memo hand it out; an entry goes when its frame does.
_WHOLE: dict[int, tuple] = {}
_WHOLE_LOCK = threading.Lock()


def _whole(rows: pd.DataFrame) -> dict:
    """`rows`' columns as arrays (texts as objects, counts as floats with NaN for NULL), made once per
    frame; read only: `arrays` hands out filtered copies. Grows with the columns and grains asked for."""
    key = id(rows)
    got = _WHOLE.get(key)
    if got is not None and got[0]() is rows:
        return got[1]
    cols = {"_row": rows["_row"].to_numpy(dtype=np.int64),
            "send_date": rows["send_date"].to_numpy(dtype="datetime64[us]")}
    for c in _TEXT:
        cols[c] = rows[c].to_numpy(dtype=object)
    cols["day"] = cols["send_date"].astype("datetime64[D]")
    with _WHOLE_LOCK:
        _WHOLE[key] = (weakref.ref(rows), cols)
    weakref.finalize(rows, _forget, key)
    return cols


def _forget(key: int) -> None:
    with _WHOLE_LOCK:
        got = _WHOLE.get(key)
        if got is not None and got[0]() is None:
            del _WHOLE[key]


def memo(rows: pd.DataFrame) -> dict:
    """A dict that lives as long as the frame `rows`, for what callers derive from it alone (the send-level
    τ² of `lib.metrics.email.baseline_tests`, keyed by what else it reads); hand out copies of its values."""
    return _whole(rows)


def _column(rows: pd.DataFrame, cols: dict, name: str) -> np.ndarray:
    """A count column of `rows` as floats with NaN for NULL, converted once per frame."""
    got = cols.get(name)
    if got is None:
        got = cols[name] = rows[name].to_numpy(dtype=float, na_value=np.nan)
    return got


def arrays(rows: pd.DataFrame, counts, rate_list, filters=None, dates: bool = True, grain: str | None = None) -> dict:
    """The rows as plain arrays (texts as objects, counts as floats with NaN for NULL, `<rate>_x` /
    `<rate>_n` only where both are known), `filters.where(dates)` applied, and `period` at `grain`.
    The arrays are the caller's own (copies of the frame's, converted once per frame: `_whole`)."""
    cols = _whole(rows)
    keep = np.ones(len(rows), dtype=bool)
    when = cols["send_date"]
    if filters is not None:
        if dates and filters.start is not None:
            keep &= when >= np.datetime64(pd.Timestamp(filters.start).to_datetime64(), "us")
        if dates and filters.end is not None:
            keep &= when < np.datetime64(pd.Timestamp(filters.end).to_datetime64(), "us")
        if filters.lists:
            keep &= np.isin(cols["list_name"], list(filters.lists))
        if filters.topics:
            keep &= np.isin(cols["topic"], list(filters.topics))
    a = {"_row": cols["_row"][keep], "send_date": when[keep]}
    for c in _TEXT:
        a[c] = cols[c][keep]
    for c in (*counts, "list_size"):
        a[c] = _column(rows, cols, c)[keep]
    for r in rate_list:
        x, n = _num(a, r.numerator), _num(a, r.denominator)
        known = ~np.isnan(x) & ~np.isnan(n)
        a[f"{r.key}_x"], a[f"{r.key}_n"] = np.where(known, x, np.nan), np.where(known, n, np.nan)
    a["day"] = cols["day"][keep]
    if grain is not None:
        whole = cols.get(("period", grain))
        if whole is None:
            whole = cols[("period", grain)] = period_of(cols["day"], grain)
        a["period"] = whole[keep]
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
            values = np.asarray(out[c], dtype=object)
            blank = pd.isna(values)
            if empty or blank.all():  # DuckDB hands over a column without any text as objects (None)
                out[c] = np.where(blank, None, values)
            else:
                out[c] = pd.array(values, dtype="str")
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
    if len(off.kwds) == 1 and periods.dtype == np.dtype("datetime64[us]"):  # in numpy: whole days, or whole
        (unit, size), = off.kwds.items()  # months from a month's first midnight (where the offset keeps day 1)
        if unit == "days":
            return periods + np.timedelta64(off.n * size, "D")
        months = periods.astype("datetime64[M]")
        if unit == "months" and (months.astype("datetime64[us]") == periods).all():
            return (months + off.n * size).astype("datetime64[us]")
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
    return frame(*_baseline_wide(rows, filters, grain, periods, rate_list, counts, by))


def baseline_columns(rows: pd.DataFrame, filters, grain: str, periods: int, rate_list, counts, by: str) -> dict:
    """`baseline_wide`'s columns as arrays, as `frame[column].to_numpy()` reads them back (texts as
    objects): what `baseline_tests` reads, without the frame."""
    out, texts = _baseline_wide(rows, filters, grain, periods, rate_list, counts, by)
    empty = not len(next(iter(out.values())))
    for c in texts:
        values = np.asarray(out[c], dtype=object)
        if empty or pd.isna(values).any():  # `frame`'s own conversion (None, or missing text as the str type has it)
            out[c] = frame({c: values}, (c,))[c].to_numpy(dtype=object)
    return out


def _baseline_wide(rows: pd.DataFrame, filters, grain: str, periods: int, rate_list, counts, by: str
                   ) -> tuple[dict, tuple[str, ...]]:
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
        return out, ("subject",)
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
    return {k: v[order] for k, v in out.items()}, ("subject", "topic")


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


def _text_order(v: np.ndarray) -> np.ndarray:
    """Text as sortable integer codes (code-point order, as DuckDB's binary collation)."""
    return np.unique(v, return_inverse=True)[1].reshape(-1) if len(v) else np.zeros(0, dtype=np.int64)


def _round1(v: float) -> float:
    """DuckDB's round(v, 1) of a double: the tenths rounded half away from zero."""
    y = v * 10
    whole = np.floor(abs(y))
    whole += 1.0 if abs(y) - whole >= 0.5 else 0.0
    return float(np.copysign(whole, y)) / 10


def campaign_table(rows: pd.DataFrame, filters, rate_list, counts, rounding: float) -> pd.DataFrame:
    """`campaign_table`'s query: the sends in range as they are (x and n as the row's own counts)."""
    keep = arrays(rows, (), (), filters)["_row"]
    part = rows[rows["_row"].isin(keep)]
    a = {c: part[c].to_numpy(dtype=object) for c in ("campaign", "topic", "list_name", "subject")}
    when = part["send_date"].to_numpy(dtype="datetime64[us]")
    order = np.lexsort((_text_order(a["campaign"]), when))
    part = part.iloc[order]
    out = {"_row": part["_row"].to_numpy(dtype=np.int64), "campaign": part["campaign"].to_numpy(dtype=object),
           "send_date": part["send_date"].to_numpy(dtype="datetime64[us]"),
           "topic": part["topic"].to_numpy(dtype=object), "list_name": part["list_name"].to_numpy(dtype=object),
           "subject": part["subject"].to_numpy(dtype=object)}
    f = {c: part[c].to_numpy(dtype=float, na_value=np.nan) for c in (*counts, "list_size")}
    for c in (*counts, "list_size"):
        out[c] = int_column(f[c])
    for c in ("vendor_open_rate", "vendor_click_rate"):
        out[c] = part[c].to_numpy(dtype=float, na_value=np.nan)
    xs = {}
    for r in rate_list:
        x, n = _num(f, r.numerator), _num(f, r.denominator)
        out[f"{r.key}_x"], out[f"{r.key}_n"] = int_column(x), int_column(n)
        xs[r.key] = (x, n)
    for r in rate_list:
        x, n = xs[r.key]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[r.key] = np.where(n != 0, x / n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        opens_rate = f["opens"] / f["delivered"]
        out["vendor_open_diff"] = out["vendor_open_rate"] - opens_rate
        out["vendor_click_diff"] = out["vendor_click_rate"] - f["clicks"] / f["delivered"]
        of_sent = np.where(f["sent"] != 0, f["opens"] / f["sent"], np.nan)
    open_off = np.abs(out["vendor_open_diff"]) > rounding  # NaN compares False, as NULL in a CASE
    sent_fits = np.abs(out["vendor_open_rate"] - of_sent) <= rounding
    click_off = np.abs(out["vendor_click_diff"]) > rounding
    note = np.full(len(part), None, dtype=object)
    note[open_off | click_off] = "vendor rate differs from counts"
    note[open_off & sent_fits] = "vendor open rate = unique opens ÷ sent (delivered + bounces)"
    out["vendor_note"] = note
    return frame(out, ("campaign", "topic", "list_name", "subject", "vendor_note"))


def topic_mix(rows: pd.DataFrame, filters, grain: str) -> pd.DataFrame:
    """`topic_mix_effect`'s query: per period the open rate, the rate the topic mix predicts (each
    topic at its own rate over the range) and the share of the range's largest topic."""
    a = arrays(rows, ("opens", "delivered"), (), filters, grain=grain)  # scoped
    tcodes, tfirst = group(a["topic"])  # topic_rate
    topics = a["topic"][tfirst]
    t_opens, t_deliv = group_sum(a["opens"], tcodes, len(tfirst)), group_sum(a["delivered"], tcodes, len(tfirst))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_rate = np.where(t_deliv != 0, t_opens / t_deliv, np.nan)
    top = topics[np.lexsort((np.arange(len(topics)), -t_deliv))[0]] if len(topics) else None  # top_topic
    ccodes, cfirst = group(a["period"], a["topic"])  # cell
    c_opens, c_deliv = group_sum(a["opens"], ccodes, len(cfirst)), group_sum(a["delivered"], ccodes, len(cfirst))
    c_topic = tcodes[cfirst]
    pcodes, pfirst = group(a["period"][cfirst])
    n = len(pfirst)
    opens, deliv = group_sum(c_opens, pcodes, n), group_sum(c_deliv, pcodes, n)
    expected = group_sum(c_deliv * t_rate[c_topic], pcodes, n)
    top_deliv = group_sum(np.where(topics[c_topic] == top, c_deliv, np.nan), pcodes, n)
    out = {"period": a["period"][cfirst][pfirst], "open_rate": opens / deliv, "expected_open_rate": expected / deliv,
           "delivered": deliv, "top_topic_share": top_deliv / deliv,
           "top_topic": np.full(n, top, dtype=object)}
    return frame(out, ("top_topic",))


def list_growth(rows: pd.DataFrame, filters, grain: str) -> pd.DataFrame:
    """`list_growth`'s query: per period and list its sends, recipients and rates, and whether the list
    was new then (its first period in the whole file, after the file's first)."""
    every = arrays(rows, (), (), None, grain=grain)  # first_seen: the whole file
    fcodes, ffirst = group(every["list_name"])
    forder = np.argsort(fcodes, kind="stable")
    firsts = (np.minimum.reduceat(every["period"][forder], np.searchsorted(fcodes[forder], np.arange(len(ffirst))))
              if len(ffirst) else every["period"][:0])
    first_of = dict(zip(every["list_name"][ffirst].tolist(), firsts))
    earliest = firsts.min() if len(firsts) else None
    a = arrays(rows, ("sent", "delivered", "opens", "unsubscribes"), (), filters, grain=grain)  # scoped
    codes, first = group(a["period"], a["list_name"])
    n = len(first)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(n))
    if n:
        size = np.fmax.reduceat(a["list_size"][order], starts)
        recipients = np.where(np.isnan(size), np.fmax.reduceat(a["sent"][order], starts), size)
    else:
        recipients = np.zeros(0)
    deliv = group_sum(a["delivered"], codes, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        open_rate = np.where(deliv != 0, group_sum(a["opens"], codes, n) / deliv, np.nan)
        unsub = np.where(deliv != 0, group_sum(a["unsubscribes"], codes, n) / deliv, np.nan)
    period, names = a["period"][first], a["list_name"][first]
    first_period = np.array([first_of[x] for x in names.tolist()], dtype="datetime64[us]").reshape(-1)
    out = {"period": period, "list_name": names, "sends": np.bincount(codes, minlength=n).astype(np.int64),
           "recipients": recipients, "delivered": deliv, "open_rate": open_rate, "unsubscribe_rate": unsub,
           "first_period": first_period, "is_new": (period == first_period) & (first_period > earliest)}
    # ORDER BY period, recipients DESC (NULLS LAST); ties in list order
    order = np.lexsort((np.where(np.isnan(recipients), np.inf, -recipients), period))
    out = {k: v[order] for k, v in out.items()}
    out["recipients"] = int_column(out["recipients"])
    return frame(out, ("list_name",))


def send_days(rows: pd.DataFrame, filters) -> pd.DataFrame:
    """`send_days`' query: days with sends in range and the rows sent each day, in date order."""
    a = arrays(rows, (), (), filters)
    codes, first = group(a["day"])
    return pd.DataFrame({"day": a["day"][first].astype("datetime64[us]"),
                         "sends": np.bincount(codes, minlength=len(first)).astype(np.int64)})


def rates_by_group(rows: pd.DataFrame, filters, by: str, top: int, rate_list, counts, other: str) -> pd.DataFrame:
    """`rates_by_group`'s query: the merged sends summed per topic or list, the `top` largest by
    delivered (then by name) kept and the rest in one `other` row, with each group's per-send x and n
    of the interval rates (lists, as the SQL's list()), in rank order."""
    a = arrays(rows, counts, rate_list, filters)  # scoped
    s = merged_sends(a, rate_list, counts, period=False)  # sends
    gcodes, gfirst = group(s[by])  # ranked
    names = s[by][gfirst]
    deliv = group_sum(s["delivered"], gcodes, len(gfirst))
    ranked = np.lexsort((np.arange(len(names)), np.where(np.isnan(deliv), np.inf, -deliv)))
    rank = np.empty(len(names), dtype=np.int64)
    rank[ranked] = np.arange(1, len(names) + 1)
    send_rank = rank[gcodes]
    label = np.where(send_rank <= top, s[by], other)  # sums
    codes = np.where(send_rank <= top, send_rank - 1, top)  # the kept groups by rank, then Other
    used = np.unique(codes)  # rank − 1 of each kept group that has sends, then `top` for Other
    codes = np.searchsorted(used, codes)
    n = len(used)
    kept = used < top
    out = {by: np.where(kept, names[ranked[np.minimum(used, len(names) - 1)]], other),
           "groups": np.where(kept, 1, len(names) - top).astype(np.int64),
           "sends": group_sum(s["variants"].astype(float), codes, n)}
    for c in counts:
        out[c] = group_sum(s[c], codes, n)
    for r in rate_list:
        out[f"{r.key}_x"], out[f"{r.key}_n"] = group_sum(s[f"{r.key}_x"], codes, n), group_sum(s[f"{r.key}_n"], codes, n)
    for key in ("open_rate", "ctor", "unsubscribe_rate"):
        for side in ("x", "n"):
            lists = np.empty(n, dtype=object)
            lists[:] = [s[f"{key}_{side}"][codes == g].tolist() for g in range(n)]
            out[f"{key}_send_{side}"] = lists
    return frame(with_rates(out, rate_list), (by,))


def program_changes(rows: pd.DataFrame, filters, grain: str, periods: int, jump: float, data_end, calendar,
                    no_topic: str, no_list: str) -> pd.DataFrame:
    """`program_changes`' query: volume jumps and drops against the trailing average of sends per
    calendar period (scaled to the days the data covers), and each topic's and list's first period."""
    a = arrays(rows, ("sent",), (), filters, dates=False, grain=grain)  # scoped
    cal = np.array(calendar, dtype="datetime64[us]").reshape(-1)
    at = np.searchsorted(cal, a["period"])
    volume = np.bincount(at, minlength=len(cal)).astype(np.int64)[:len(cal)]  # volume
    w = _window(cal, cal, offset(grain, periods))  # trail
    base_periods = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(base_periods > 0, (w.astype(float) @ volume.astype(float)) / base_periods, np.nan)
    ends = _shift(cal, offset(grain, 1))
    end = np.datetime64(pd.Timestamp(data_end).to_datetime64(), "us")
    covered = ((np.minimum(ends, end).astype("datetime64[D]") - cal.astype("datetime64[D]")).astype(np.int64)
               / (ends.astype("datetime64[D]") - cal.astype("datetime64[D]")).astype(np.int64))
    baseline = raw * covered
    out = []
    for i in range(len(cal)):
        basis = " expected in the days covered" if covered[i] < 1 else " a period before"
        ok = base_periods[i] > 0 and baseline[i] > 0
        text = f"{volume[i]} sends vs {_round1(float(baseline[i]))!r}{basis}" if ok else ""
        if ok and volume[i] >= jump * baseline[i]:
            out.append((cal[i], "volume jump", text, int(volume[i]), float(baseline[i])))
        if ok and volume[i] <= baseline[i] / jump:
            out.append((cal[i], "volume drop", text, int(volume[i]), float(baseline[i])))
    lo = a["period"].min() if len(a["period"]) else None  # bounds
    for col, change, blank in (("topic", "new topic", no_topic), ("list_name", "new list", no_list)):
        codes, first = group(a[col])
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], np.arange(len(first)))
        if not len(first):
            continue
        began = np.minimum.reduceat(a["period"][order], starts)
        most = np.fmax.reduceat(a["sent"][order], starts)
        for name, when, n in zip(a[col][first].tolist(), began, most.tolist()):
            if when > lo and name != blank:
                # text || NULL is NULL
                detail = name if col == "topic" else f"{name} ({int(n)} recipients)" if n == n else None
                out.append((when, change, detail, None, None))
    out.sort(key=lambda r: (r[0], r[1], "" if r[2] is None else r[2]))  # NULL detail: not sorted on (never both)
    return frame({"period": np.array([r[0] for r in out], dtype="datetime64[us]").reshape(-1),
                  "change": np.array([r[1] for r in out], dtype=object),
                  "detail": np.array([r[2] for r in out], dtype=object),
                  "sends": int_column(np.array([np.nan if r[3] is None else r[3] for r in out], dtype=float)),
                  "baseline_sends": np.array([np.nan if r[4] is None else r[4] for r in out], dtype=float)},
                 ("change", "detail"))


# regexp_extract(campaign, VARIANT_LABEL, 1) in DuckDB: the label after the last '|', trimmed
_LABEL = re.compile(r"\|[\t\n\f\r ]*([^|]*?)[\t\n\f\r ]*\Z")


def ab_rows(rows: pd.DataFrame, filters, rate) -> pd.DataFrame:
    """`ab_tests`' query for a file without a variant column: the rows in range whose campaign name
    ends in ' | …' (an A/B half), with the name cut (test), the label (variant) and the rate's x and n,
    by send date, test, variant and file row."""
    keep = arrays(rows, (), (), filters)["_row"]
    part = rows[rows["_row"].isin(keep)]
    names = part["campaign"].to_numpy(dtype=object)
    split = np.array([_STEM.search(c) is not None for c in names.tolist()], dtype=bool)
    part, names = part[split], names[split]
    test = np.array([_STEM.sub("", c, count=1) for c in names.tolist()], dtype=object)
    found = [_LABEL.search(c) for c in names.tolist()]
    variant = np.array([m.group(1) if m else "" for m in found], dtype=object)
    f = {c: part[c].to_numpy(dtype=float, na_value=np.nan) for c in
         {w.strip() for w in f"{rate.numerator} - {rate.denominator}".split(" - ")}}
    when = part["send_date"].to_numpy(dtype="datetime64[us]")
    row = part["_row"].to_numpy(dtype=np.int64)
    order = np.lexsort((row, _text_order(variant), _text_order(test), when))
    out = {"_row": row, "campaign": names, "test": test, "variant": variant, "send_date": when,
           "subject": part["subject"].to_numpy(dtype=object), "topic": part["topic"].to_numpy(dtype=object),
           "list_name": part["list_name"].to_numpy(dtype=object),
           "x": int_column(_num(f, rate.numerator)), "n": int_column(_num(f, rate.denominator))}
    out = {k: (v[order] if isinstance(v, np.ndarray) else v.take(order)) for k, v in out.items()}
    return frame(out, ("campaign", "test", "variant", "subject", "topic", "list_name"))

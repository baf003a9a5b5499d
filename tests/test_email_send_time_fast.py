"""`send_time_rates` on integer codes (session 7, issue #20) against the groupby form it replaced, kept
below verbatim as the reference: the same frames, exactly, on both sample files over several selections,
both groupings and every rate the section offers (and CTOR)."""

import itertools

import pandas as pd
import pytest

from lib.metrics import email as em
from lib.metrics.email import WEEKDAYS, cluster_intervals


def send_time_rates(rows: pd.DataFrame, by: str, key: str) -> pd.DataFrame:
    """The pooled `key` rate per weekday or hour of send, with its cluster-robust 95 % interval.

    rate = Σ numerator ÷ Σ denominator over the group's sends (e.g. open rate = Σ unique opens ÷
    Σ delivered); interval by send (`cluster_intervals`: sends, not recipients, vary; a group of
    one send gets its exact binomial interval). Columns: `by`, sends, x, n, rate, low, high.
    Weekdays in calendar order, hours ascending; only groups with sends.
    """
    if by not in ("weekday", "hour"):
        raise ValueError(by)
    rows = rows[rows[by].notna() & (rows[f"{key}_n"].fillna(0) > 0)]
    cols = [by, "sends", "x", "n", "rate", "low", "high"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.assign(**{by: rows[by].astype(object) if by == "weekday" else rows[by].astype(int)})
    sums = rows.groupby(by, sort=False).agg(sends=(f"{key}_n", "size"), x=(f"{key}_x", "sum"), n=(f"{key}_n", "sum"))
    ci = cluster_intervals(rows, by, key).set_index(by)
    out = sums.join(ci[["rate", "low", "high"]]).reset_index()
    order = out[by].map(WEEKDAYS.index) if by == "weekday" else out[by]
    return out.assign(_o=order.to_numpy()).sort_values("_o")[cols].reset_index(drop=True)


@pytest.mark.parametrize("kind", em.KINDS)
def test_send_time_rates_equal_the_groupby_form(sample_ws, kind):
    con = sample_ws.con
    data = em.email_data(con, sample_ws.get(kind).table)
    start, end = em.period_range(data.first_send, data.last_send)
    lists = em.choices(con, data, "list_name")
    compared = 0
    for f in (em.Filters(start, end), em.Filters(start + (end - start) / 2, end), em.Filters(start, end, (lists[0],))):
        rows = em.send_time_rows(con, data, f).frame
        for by, key in itertools.product(("weekday", "hour"), (*em.SEND_TIME_RATES, "ctor")):
            if by == "hour" and rows["hour"].isna().all():
                continue
            new, old = em.send_time_rates(rows, by, key), send_time_rates(rows, by, key)
            pd.testing.assert_frame_equal(new, old, check_exact=True, obj=f"{kind} {f} {by} {key}")
            compared += len(new)
    assert compared > 20

"""`flag_counts` counted in plain Python (session 7, issue #20) against the pivot_table form it replaced,
kept below verbatim: the same frame, exactly (column names, their name, types, order), for the flags of
both sample files at three grains and several selections, and for none."""

import pandas as pd
import pytest

from lib.config import Thresholds
from lib.metrics import email as em
from lib.result import Flag


def flag_counts(flags: list[Flag]) -> pd.DataFrame:
    """Flags counted by metric and severity (the summary above the flag table)."""
    if not flags:
        return pd.DataFrame(columns=["Metric", "high", "medium", "low"])
    frame = pd.DataFrame([{"Metric": f.metric, "Severity": f.severity} for f in flags])
    out = frame.pivot_table(index="Metric", columns="Severity", aggfunc="size", fill_value=0)
    return out.reindex(columns=["high", "medium", "low"], fill_value=0).reset_index()


@pytest.mark.parametrize("kind", em.KINDS)
def test_flag_counts_equal_the_pivot_form(sample_ws, kind):
    con = sample_ws.con
    data = em.email_data(con, sample_ws.get(kind).table)
    start, end = em.period_range(data.first_send, data.last_send)
    counted = 0
    for f in (em.Filters(start, end), em.Filters(start + (end - start) / 2, end)):
        for grain in ("week", "month", "quarter"):
            flags = em.email_flags(con, data, f, grain, Thresholds())
            pd.testing.assert_frame_equal(em.flag_counts(flags), flag_counts(flags), check_exact=True)
            counted += len(flags)
    pd.testing.assert_frame_equal(em.flag_counts([]), flag_counts([]), check_exact=True)
    assert counted > 10

"""lib.report: flags after campaigns and their base rate."""

import numpy as np
import pandas as pd
import pytest

from lib.report import campaign_base_rate, flags_after_campaigns
from lib.result import Flag


def monthly_flags(months: list[str]) -> list[Flag]:
    out = []
    for m in months:
        start = pd.Timestamp(m)
        out.append(Flag("email", "Unsubscribe rate", start.strftime("%b %Y"), 0.01, 0.005, "t", "medium",
                        period=start, period_end=start + pd.DateOffset(months=1)))
    return out


def brute_force(flags, calendar, days):
    """The same permutation through flags_after_campaigns (a pandas cross join), one shift at a time."""
    first = min(f.period for f in flags) - pd.Timedelta(days=days)
    span = int(np.ceil((max(f.period_end for f in flags) - first) / pd.Timedelta(days=1)))
    starts = pd.to_datetime(calendar["start_date"])
    offsets = ((starts - first).dt.days).to_numpy()
    offsets = offsets[(offsets >= 0) & (offsets < span)]
    counts = []
    for shift in range(span):
        cal = pd.DataFrame({"campaign": range(len(offsets)),
                            "start_date": first + pd.to_timedelta((offsets + shift) % span, unit="D")})
        pairs = flags_after_campaigns(flags, cal, days)
        counts.append(len(pairs[["Area", "Metric", "Period"]].drop_duplicates()))
    return counts


def test_base_rate_matches_a_shift_by_shift_recount():
    flags = monthly_flags(["2024-02-01", "2024-05-01", "2024-06-01", "2024-11-01"])
    cal = pd.DataFrame({"campaign": ["a", "b", "c"],
                        "start_date": pd.to_datetime(["2024-01-20", "2024-05-03", "2024-09-15"])})
    r = campaign_base_rate(flags, cal, 14)
    counts = brute_force(flags, cal, 14)
    # observed: Feb follows 20 Jan (12 days), May contains 3 May; Jun (29 days) and Nov do not → 2 of 4
    assert (r.flagged, r.following) == (4, 2) and counts[0] == 2
    assert r.shifts == len(counts)
    assert r.expected_share == pytest.approx(np.mean(counts) / 4)
    assert r.p_value == pytest.approx(np.mean(np.array(counts) >= 2))


def test_campaign_every_month_explains_nothing():
    # 25 flagged months, a campaign on the 5th of every month, 30-day window: every month "follows a
    # campaign" — and so would nearly any month under any shift of the calendar (only where the
    # circular shift leaves a gap does one month miss out): expected share ≈ 1, p ≈ 1.
    months = pd.date_range("2023-01-01", periods=25, freq="MS")
    flags = monthly_flags([str(m.date()) for m in months])
    cal = pd.DataFrame({"campaign": range(25), "start_date": months + pd.Timedelta(days=4)})
    r = campaign_base_rate(flags, cal, 30)
    assert r.following == 25 and r.expected_share > 0.99 and r.p_value > 0.9


def test_flags_right_after_rare_campaigns_are_unlikely_by_chance():
    # 36 months; 3 irregular campaigns; the 3 flags are the months that start 2–9 days after them.
    cal = pd.DataFrame({"campaign": ["x", "y", "z"],
                        "start_date": pd.to_datetime(["2023-03-25", "2024-01-29", "2025-07-24"])})
    flags = monthly_flags(["2023-04-01", "2024-02-01", "2025-08-01"])
    flags += monthly_flags([str(m.date()) for m in pd.date_range("2023-01-01", periods=1, freq="MS")])
    r = campaign_base_rate(flags, cal, 10)
    assert (r.flagged, r.following) == (4, 3)
    assert r.expected_share < 0.5 and r.p_value < 0.05


def test_no_calendar_or_no_dated_flags():
    flags = monthly_flags(["2024-02-01"])
    empty = pd.DataFrame({"campaign": [], "start_date": pd.to_datetime([])})
    assert np.isnan(campaign_base_rate(flags, empty, 30).p_value)
    undated = [Flag("nps", "NPS", "All", 1, 0, "t", "low")]
    cal = pd.DataFrame({"campaign": ["a"], "start_date": [pd.Timestamp("2024-01-01")]})
    assert campaign_base_rate(undated, cal, 30).flagged == 0


def test_table_columns_and_calendar_rows_read_the_session_tables():
    from lib.datasets import Workspace
    from lib.report import calendar_rows, table_columns

    ws = Workspace()
    try:
        ws.load("calendar.csv", b"Campaign,Channel,Start Date,End Date\nSpring,email,2025-03-01,2025-03-10\n"
                                b"Summer,social,2025-06-01,\n", kind="campaign_calendar")
        table = ws.get("campaign_calendar").table
        columns = table_columns(ws.con, (table,))
        # what the lift section offered before: every column but the internal row number, in order
        assert columns == {table: [(c, t) for c, t in ws.table_columns(table) if c != "_row"]}
        assert columns[table] and "_row" in [c for c, _ in ws.table_columns(table)]
        rows = calendar_rows(ws.con)
        assert list(rows["campaign"]) == ["Spring", "Summer"] and len(rows) == 2
    finally:
        ws.close()

"""NCVG's periods grouped in pandas from rows read once per basis (issue #20: a change of grain runs no
query) are the per-period queries' frames: `ncvg_by_period` from `period_moves`, `plan_moves_by_period`
from `plan_move_rows`, `trial_conversion` per period from `trial_rows` — every grain, MRR and ARR, three
ranges (three trial windows), on the sample export, the real RavenStack one, the hand-worked Stripe
file, two nasty files and value histories (explicit and snapshot gaps, cents).

Float columns are compared with a 1e-12 relative tolerance: DuckDB's parallel SUM over doubles adds in
a different order from run to run (the same query differs in the 12th digit between two runs), and
pandas adds in its own order; every count and every label is compared exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lib.metrics import ncvg as m
from lib.periods import period_start
from tests.conftest import real_file
from tests.test_metrics_ncvg import MOVEMENTS_CSV, NASTY, STRIPE

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "subscriptions.csv"

# A nasty subscriptions file: blank and unreadable cells, ends before starts, one-day subscriptions,
# a churn and return on the same day, stacked subscriptions, an end after the as-of date.
WILD = """Customer ID,Start Date,End Date,MRR,Status,Plan
a,2024-01-31,2024-02-01,10,canceled,Pro
a,2024-02-01,,15,active,Pro
b,2024-02-29,2024-05-31,20.5,canceled,Basic
b,2024-05-31,2024-06-30,0.1,canceled,Basic
b,2024-07-01,,0.2,active,Basic
c,2024-03-31,2024-03-31,5,canceled,Pro
c,2024-12-31,2025-01-01,7,canceled,Pro
,2024-04-01,,9,active,Pro
d,not a date,,9,active,Pro
e,2024-06-15,2024-06-01,9,canceled,Pro
f,2024-06-15,,abc,active,Pro
g,2024-09-30,2030-01-01,33.333333,active,Biz
g,2024-10-01,2024-12-31,0.7,canceled,Basic
h,2025-01-01,,0,active,Pro
"""


PLAN_PERIODS: list[int] = []  # plan-move periods compared (the sample and RavenStack must have some)


def _check(con, b, grain, start, end):
    moves = m.period_moves(con, b)
    old = m.ncvg_by_period(con, b, grain, start, end)
    new = m.ncvg_by_period(con, b, grain, start, end, m.basis_facts(con, b), moves)
    assert (new.sql, new.params, new.excluded) == (old.sql, old.params, old.excluded)
    pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=False, rtol=1e-12, atol=1e-9)
    periods = len(old.frame)
    if b.source == "subscriptions":
        old = m.plan_moves_by_period(con, b, grain, start, end)
        new = m.plan_moves_by_period(con, b, grain, start, end, m.plan_move_rows(con, b))
        assert (new.sql, new.params) == (old.sql, old.params)
        pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=False, rtol=1e-12, atol=1e-9)
        PLAN_PERIODS.append(len(old.frame))
    return periods


def _check_trials(con, b, grain, window, default):
    old = m.trial_conversion(con, b, grain, window, default)
    new = m.trial_conversion(con, b, grain, window, default, m.trial_rows(con, b, window, default))
    assert (new.sql, new.params) == (old.sql, old.params)
    pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=True)  # counts and their ratios: exact
    return len(old.frame)


def bases_with_span(con, dataset, **basis):
    """Each value mode's basis of `dataset` that has data: (basis, first day, last day, middle day)."""
    for value in m.VALUE_MODES:
        b = m.make_basis(con, dataset, value=value, **basis)
        span = m.data_range(con, b)
        if span is not None:
            first, last = span
            yield b, first, last, (first + (last - first) / 2).normalize()


def _grid(con, dataset, **basis):
    rows = 0
    for b, first, last, middle in bases_with_span(con, dataset, **basis):
        ranges = [(None, None), (first, last), (middle + pd.Timedelta(days=3), last - pd.Timedelta(days=40))]
        for grain in m.GRAINS:
            for start, end in ranges:
                rows += _check(con, b, grain, start, end)
            if b.source == "subscriptions":
                for window, default in ((30, 14), (0, 1), (90, 45)):
                    _check_trials(con, b, grain, window, default)
    return rows


@pytest.mark.parametrize("name, text", [("stripe.csv", STRIPE), ("nasty.csv", NASTY), ("wild.csv", WILD)])
def test_small_files_equal_the_query(ws, name, text):
    dataset = ws.load(name, text.encode(), kind="subscriptions")
    assert _grid(ws.con, dataset) > 0


def test_sample_export_equals_the_query(ws):
    dataset = ws.load("subscriptions.csv", SAMPLE.read_bytes(), kind="subscriptions")
    PLAN_PERIODS.clear()
    assert _grid(ws.con, dataset) > 50
    assert sum(PLAN_PERIODS) > 20


def test_ravenstack_equals_the_query(ws):
    path = real_file("ravenstack_subscriptions.csv")
    dataset = ws.load(path.name, path.read_bytes(), kind="subscriptions")
    assert _grid(ws.con, dataset) > 50


@pytest.mark.parametrize("gaps", m.GAP_RULES)
def test_value_history_equals_the_query(ws, gaps):
    dataset = ws.load("mrr_movements.csv", MOVEMENTS_CSV.encode(), kinds=["subscriptions", "value_history", "customers"])
    assert dataset.kind == "value_history"
    assert _grid(ws.con, dataset, gaps=gaps) > 0
    assert _grid(ws.con, dataset, gaps=gaps, cents=True) > 0


def test_no_movement_runs_the_query(ws):
    # trials only: no movement, so no calendar; the frame is the query's empty one
    dataset = ws.load("t.csv", b"Customer ID,Start Date,Trial End,MRR\nc1,2025-03-05,2025-04-05,10\n", kind="subscriptions")
    b = m.make_basis(ws.con, dataset, as_of=pd.Timestamp("2025-03-10"))
    old = m.ncvg_by_period(ws.con, b, "month")
    new = m.ncvg_by_period(ws.con, b, "month", moves=m.period_moves(ws.con, b))
    assert old.frame.empty
    pd.testing.assert_frame_equal(new.frame, old.frame)


def test_period_of_is_period_start_for_a_column():
    # every day of two centuries (before and after 1970: numpy's months are negative there) and a blank
    days = pd.Series(pd.date_range("1899-11-15", "2101-02-03", freq="D").astype("datetime64[us]"))
    days = pd.concat([days, pd.Series([pd.NaT], dtype="datetime64[us]")], ignore_index=True)
    for grain in m.GRAINS:
        want = pd.Series([period_start(d, grain) if pd.notna(d) else pd.NaT for d in days]).astype(days.dtype)
        pd.testing.assert_series_equal(m._period_of(days, grain), want, check_names=False)

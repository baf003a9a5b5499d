"""NCVG's range totals and plan-move table summed in pandas from the rows read once per basis (issue #20:
a value or range click runs no query for them) are the queries' frames: `ncvg_totals` from `period_moves`,
`plan_moves` from `plan_move_rows`, and `plan_move_rows` read off `period_moves`' plan columns (`plan_rows`) — MRR and ARR, five ranges (whole data, the data's span, a middle cut,
a range before any move, one day), on the sample export, the real RavenStack one, the hand-worked Stripe
file, three nasty files and value histories (explicit and snapshot gaps, cents).

Counts, labels and dtypes exactly; money within 1e-12 relative (DuckDB's parallel SUM over doubles adds
in its own order, pandas in another)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lib.metrics import ncvg as m
from tests.conftest import real_file
from tests.test_metrics_ncvg import MOVEMENTS_CSV, NASTY, STRIPE
from tests.test_ncvg_counts_basis import VALUES
from tests.test_ncvg_period_moves import WILD, bases_with_span

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "subscriptions.csv"
COUNTED = {"totals": 0, "plan moves": 0}


def _equal(new, old) -> None:
    assert (new.sql, new.params, new.excluded) == (old.sql, old.params, old.excluded)
    pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=False, rtol=1e-12, atol=1e-9)


def _grid(con, dataset, **basis) -> int:
    checked = 0
    for b, first, last, middle in bases_with_span(con, dataset, **basis):
        ranges = [(None, None), (first, last), (middle + pd.Timedelta(days=3), last - pd.Timedelta(days=40)),
                  (first - pd.Timedelta(days=400), first - pd.Timedelta(days=1)), (middle, middle),
                  (None, middle), (middle, None)]
        moves = m.period_moves(con, b)
        rows = m.plan_move_rows(con, b) if b.source == "subscriptions" and "plan" in b.columns else None
        if rows is not None:  # the page takes them from the movements' own plan columns
            # (no plan move: both empty, with the same columns; DuckDB types an empty text column object)
            pd.testing.assert_frame_equal(m.plan_rows(moves), rows, check_exact=True, check_dtype=len(rows) > 0)
        else:
            assert list(moves.columns) == ["customer_id", "day", "movement", "value_change", "episode_start"]
        for start, end in ranges:
            if start is not None and end is not None and end < start:
                continue
            facts = m.basis_facts(con, b)
            _equal(m.ncvg_totals(con, b, start, end, facts, moves), m.ncvg_totals(con, b, start, end, facts))
            COUNTED["totals"] += 1
            if rows is not None:
                old = m.plan_moves(con, b, start, end)
                _equal(m.plan_moves(con, b, start, end, rows), old)
                COUNTED["plan moves"] += len(old.frame)
            checked += 1
    return checked


@pytest.mark.parametrize("name, text", [("stripe.csv", STRIPE), ("nasty.csv", NASTY), ("wild.csv", WILD),
                                        ("values.csv", VALUES)])
def test_small_files(ws, name, text):
    dataset = ws.load(name, text.encode(), kind="subscriptions")
    assert _grid(ws.con, dataset) > 5


def test_sample_export(ws):
    dataset = ws.load("subscriptions.csv", SAMPLE.read_bytes(), kind="subscriptions")
    before = COUNTED["plan moves"]
    assert _grid(ws.con, dataset) > 10
    assert COUNTED["plan moves"] - before > 20  # the sample moves plans: the table is really compared


def test_ravenstack(ws):
    path = real_file("ravenstack_subscriptions.csv")
    dataset = ws.load(path.name, path.read_bytes(), kind="subscriptions")
    before = COUNTED["plan moves"]
    assert _grid(ws.con, dataset) > 10
    assert COUNTED["plan moves"] - before > 5


@pytest.mark.parametrize("gaps", m.GAP_RULES)
def test_value_history(ws, gaps):
    dataset = ws.load("mrr_movements.csv", MOVEMENTS_CSV.encode(), kinds=["subscriptions", "value_history", "customers"])
    assert _grid(ws.con, dataset, gaps=gaps) > 5
    assert _grid(ws.con, dataset, gaps=gaps, cents=True) > 5


def test_a_wrong_sum_fails(ws):
    # the comparison can fail: a totals frame from moves missing one churn is not the query's
    dataset = ws.load("stripe.csv", STRIPE.encode(), kind="subscriptions")
    b = m.make_basis(ws.con, dataset)
    moves = m.period_moves(ws.con, b)
    churn = moves.index[moves["movement"] == "churn"][0]
    with pytest.raises(AssertionError):
        _equal(m.ncvg_totals(ws.con, b, moves=moves.drop(index=churn)), m.ncvg_totals(ws.con, b))

"""NCVG's figures that read no value are the same for MRR and ARR (issue #20: a value click reruns only
the figures that change). `counts_basis` hands them the MRR basis whichever value mode the page shows;
here each of them, run on the ARR basis's own SQL (`counts_basis` patched to hand the basis back as it
is, the code as before), gives exactly the frame it gives through `counts_basis`: `data_range`,
`basis_facts`, `excluded_rows`, `trial_conversion` (overall and per month, quarter and year, three
windows), `trial_rows`, `renewals` (three grace periods) and `incident_churn` (three windows) — on the
sample export with its incidents, the real RavenStack subscriptions (mrr and arr columns) with incidents
picked from its own customers, the hand-worked Stripe file, two nasty files and a file whose MRR and
ARR cells are blank, unreadable or zero in different rows. Counts and their ratios: compared exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lib.metrics import ncvg as m
from tests.conftest import real_file
from tests.test_metrics_ncvg import MOVEMENTS_CSV, NASTY, STRIPE
from tests.test_ncvg_period_moves import WILD

ROOT = Path(__file__).resolve().parent.parent

# MRR and ARR columns blank, unreadable, zero or negative in different rows, trials with and without
# a trial end, an add-on ending while the plan runs on, a plan swap on one day, a churn and return.
VALUES = """Customer ID,Start Date,End Date,MRR,ARR,Status,Plan,Trial End,Is Trial,Auto Renew
a,2024-01-05,,10,,active,Pro,,false,true
b,2024-01-10,2024-03-01,,240,canceled,Basic,,false,false
c,2024-01-15,,abc,,active,Pro,,false,true
d,2024-02-01,,,xyz,active,Pro,,false,true
e,2024-02-03,2024-02-20,,,canceled,Pro,2024-02-17,true,false
f,2024-02-05,,0,0,active,Basic,,false,
g,2024-02-10,2024-04-10,-5,,canceled,Pro,,false,true
h,2024-03-01,2024-03-31,30,,canceled,Basic,,false,true
h,2024-03-31,,45,540,active,Pro,,false,true
i,2024-03-05,,,,trialing,Pro,,true,true
i,2024-03-20,,12,,active,Pro,,false,true
a,2024-04-01,2024-05-01,3,,canceled,Addon,,false,false
j,2024-04-02,2024-04-20,7,,canceled,Pro,2024-04-16,,true
j,2024-04-20,,7,84,active,Pro,,false,true
k,2024-05-01,2024-06-01,1e-7,,canceled,Pro,,false,true
"""


def _incidents(con, b) -> str:
    """Incidents for some customers who paid (every third, on a day of their paying run) and a few who did
    not, with blank cells: the basis's own table of them."""
    moves = m.period_moves(con, b)
    firsts = moves.groupby("customer_id")["day"].min().sort_index()
    rows = [(c, d + pd.Timedelta(days=5 + i % 20), f"outage {i % 3}") for i, (c, d) in enumerate(firsts.items())
            if i % 3 == 0]
    rows += [("nobody", pd.Timestamp("2024-06-01"), "x"), (None, pd.Timestamp("2024-06-01"), "x"),
             (firsts.index[0] if len(firsts) else "a", pd.NaT, "y")]
    return m.store_incidents(con, pd.DataFrame(rows, columns=["customer_id", "incident_date", "description"]))


def _figures(con, b, incidents: str | None) -> dict:
    out = {"range": m.data_range(con, b), "facts": m.basis_facts(con, b), "excluded": m.excluded_rows(con, b)}
    if b.source != "subscriptions":
        return out
    for window, default in ((30, 14), (0, 1), (90, 45)):
        for grain in (None, *m.GRAINS):
            result = m.trial_conversion(con, b, grain, window, default)
            out[("trials", grain, window, default)] = (result.frame, result.params)
        rows = m.trial_rows(con, b, window, default)  # ordered by day only: ties in any order, so sorted
        out[("trial rows", window, default)] = rows.sort_values(list(rows.columns), ignore_index=True)
    for grace in (0, 1, 7):
        result = m.renewals(con, b, grace)
        out[("renewals", grace)] = (result.frame, result.params)
    if incidents is not None:
        for window in (1, 30, 60):
            result = m.incident_churn(con, b, incidents, window)
            out[("incidents", window)] = (result.frame, result.params, result.excluded)
    return out


def _same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert (pd.isna(a) and pd.isna(b)) if not isinstance(a, dict) and pd.isna(a) is True else a == b


def _check(ws, monkeypatch, dataset, with_incidents=True, **basis) -> int:
    con = ws.con
    mrr = m.make_basis(con, dataset, value="mrr", **basis)
    arr = m.make_basis(con, dataset, value="arr", **basis)
    assert m.counts_basis(arr) == m.counts_basis(mrr)
    incidents = _incidents(con, mrr) if with_incidents and mrr.source == "subscriptions" and m.data_range(con, mrr) else None
    new = _figures(con, arr, incidents)  # through counts_basis: the MRR basis's SQL
    with monkeypatch.context() as patch:
        patch.setattr(m, "counts_basis", lambda b: b)  # the code as before: the ARR basis's own SQL
        old = _figures(con, arr, incidents)
        assert m.trial_conversion(con, arr).sql != m.trial_conversion(con, mrr).sql or not arr.has_value
    assert new.keys() == old.keys()
    for key in old:
        _same(new[key], old[key])
    return len(old)


@pytest.mark.parametrize("name, text", [("stripe.csv", STRIPE), ("nasty.csv", NASTY), ("wild.csv", WILD),
                                        ("values.csv", VALUES)])
def test_small_files(ws, monkeypatch, name, text):
    dataset = ws.load(name, text.encode(), kind="subscriptions")
    assert dataset.ready, dataset.missing_message()
    assert _check(ws, monkeypatch, dataset) > 3


def test_values_file_has_its_blank_values_left_out(ws):
    # the nasty value file really exercises value_known: rows counted with value 0, the same for both
    dataset = ws.load("values.csv", VALUES.encode(), kind="subscriptions")
    assert {"mrr", "arr"} <= set(dataset.mapping)
    for value in m.VALUE_MODES:
        excluded = m.excluded_rows(ws.con, m.make_basis(ws.con, dataset, value=value))
        assert excluded["value blank or unreadable (counted as customers with value 0)"] >= 2, excluded


def test_sample_export(ws, monkeypatch):
    from lib.sample import load_samples

    load_samples(ws)
    dataset = ws.get("subscriptions")
    incidents = ws.get("incidents")
    assert _check(ws, monkeypatch, dataset) > 20
    # and the sample's own incident file, as the page reads it
    con = ws.con
    arr, mrr = (m.make_basis(con, dataset, value=v) for v in ("arr", "mrr"))
    table = m.store_incidents(con, m.loaded_incidents(con, incidents.table, set(incidents.mapping)))
    new = m.incident_churn(con, arr, table, 30)
    with monkeypatch.context() as patch:
        patch.setattr(m, "counts_basis", lambda b: b)
        old = m.incident_churn(con, arr, table, 30)
    assert len(old.frame) > 3 and old.excluded == new.excluded
    pd.testing.assert_frame_equal(new.frame, old.frame, check_exact=True)
    assert new.sql == m.incident_churn(con, mrr, table, 30).sql


def test_ravenstack(ws, monkeypatch):
    path = real_file("ravenstack_subscriptions.csv")
    dataset = ws.load(path.name, path.read_bytes(), kind="subscriptions")
    assert {"mrr", "arr"} <= set(dataset.mapping)
    assert _check(ws, monkeypatch, dataset) > 20


def test_value_history_keeps_its_own_basis(ws):
    dataset = ws.load("mrr_movements.csv", MOVEMENTS_CSV.encode(), kinds=["subscriptions", "value_history", "customers"])
    arr = m.make_basis(ws.con, dataset, value="arr", gaps="snapshots")
    assert m.counts_basis(arr) is arr

"""Issue #20 (helper cohorts6): the cohorts page's faster functions give exactly what the old ones gave.

Each old implementation is kept here verbatim as the reference, and the new one is compared with it frame
for frame (pandas.testing.assert_frame_equal: the same values, dtypes, column names and order) over a grid:
grains × period types × counting rules × cohort starts × shown values on the sample, on a nasty file (gaps,
blank revenue, a user with no period-0 activity, incomplete cells) and on synthetic matrices with absent cells.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from lib.charts import cohorts as charts
from lib.metrics import cohorts as c
from lib.metrics.cohorts import CohortOptions
from tests.test_metrics_cohorts import make_table

VALUES = ("retention", "users", "revenue_retention", "revenue")


def old_matrix_table(matrix: pd.DataFrame, value: str = "retention") -> pd.DataFrame:
    """lib.charts.cohorts.matrix_table as it was before issue #20's cohorts6 change (pivot + fillna)."""
    if matrix.empty:
        return pd.DataFrame(columns=["Cohort", "Users"])
    frame = matrix.copy()
    if value in ("retention", "revenue_retention"):
        text = frame[value].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    elif value == "revenue":
        text = frame[value].map(lambda v: "" if pd.isna(v) else f"{v:,.2f}")
    else:
        text = frame[value].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    frame["text"] = text + frame["complete"].map({True: "", False: "*"}).where(text != "", "")
    table = frame.pivot(index="cohort", columns="period", values="text").fillna("")
    table.columns = [str(int(c)) for c in table.columns]
    heads = frame.groupby("cohort")[["cohort_label", "cohort_size"]].first()
    table = heads.join(table).sort_index().reset_index(drop=True)
    return table.rename(columns={"cohort_label": "Cohort", "cohort_size": "Users"})


def all_options(signup: bool = True):
    for grain, mode, rule, by in itertools.product(c.GRAINS, c.MODES, c.RULES, c.COHORT_BY):
        if by == "signup" and not signup:
            continue
        yield CohortOptions(grain=grain, mode=mode, rule=rule, cohort_by=by)


@pytest.fixture(scope="module")
def sample():
    from lib.datasets import Workspace
    from lib.sample import load_samples

    workspace = Workspace()
    load_samples(workspace, ["activity"])
    yield workspace.con, workspace.get("activity").table
    workspace.close()


# Gaps, blank revenue, a signup after the first events (events before it left out), a signup with no
# activity in its own period (0% in period 0), a user with no signup, and the data ending mid-period.
NASTY = [
    ("a", "2025-01-05 09:00", 10.0, "pro", "2025-01-01"), ("a", "2025-01-20 09:00", None, "pro", "2025-01-01"),
    ("a", "2025-03-03 09:00", 7.5, None, "2025-01-01"), ("a", "2025-06-10 12:00", None, "basic", "2025-01-01"),
    ("b", "2025-01-15 10:00", None, None, "2025-02-20"), ("b", "2025-02-02 10:00", 4.25, "basic", "2025-02-20"),
    ("b", "2025-04-28 10:00", 1.0, "basic", "2025-02-20"), ("c", "2025-01-31 23:30", None, "pro", None),
    ("d", "2025-02-10 08:00", 0.1, None, "2025-01-03"), ("d", "2025-02-11 08:00", 0.2, None, "2025-01-03"),
    ("d", "2025-04-01 08:00", 0.3, "free", "2025-01-03"), ("e", "2025-03-15 08:00", None, "free", "2025-03-14"),
    ("f", "2025-03-31 23:59", 3.0, "pro", "2025-03-31"), ("f", "2025-05-01 00:00", 3.0, "pro", "2025-03-31"),
    ("g", "2025-05-19 07:00", 2.0, None, "2025-05-19"), ("g", "2025-06-12 18:00", 2.0, "pro", "2025-05-19"),
]


@pytest.fixture(scope="module")
def nasty():
    con = make_table(NASTY, columns=("user_id", "event_time", "revenue", "plan", "signup_date"))
    yield con, "activity"
    con.close()


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_matrix_table_equals_the_old_one(source, request):
    con, table = request.getfixturevalue(source)
    checked = 0
    for opts in all_options():
        frame = c.retention_matrix(con, table, opts).frame
        assert len(frame)
        for value in VALUES:
            pd.testing.assert_frame_equal(charts.matrix_table(frame, value), old_matrix_table(frame, value))
            checked += 1
    assert checked == 16 * len(VALUES)


def test_matrix_table_equals_the_old_one_with_absent_cells():
    # synthetic matrices: cells left out at random (a pivot leaves them blank), NaN values, cohorts out of
    # order, a lone cohort, and an empty matrix
    rng = np.random.default_rng(2026)
    for case in range(60):
        cohorts = pd.to_datetime(rng.choice(pd.date_range("2024-01-01", periods=20, freq="MS"),
                                            size=int(rng.integers(1, 8)), replace=False))
        rows = []
        for cohort in cohorts:
            size = int(rng.integers(1, 500))
            for n in range(int(rng.integers(1, 15))):
                if n and rng.random() < 0.3:
                    continue
                users = int(rng.integers(0, size + 1))
                rows.append({"cohort": cohort, "cohort_label": cohort.strftime("%b %Y"), "period": n,
                             "cohort_size": size, "users": users, "retention": users / size,
                             "revenue": float(rng.normal(100, 50)) if rng.random() < 0.8 else np.nan,
                             "revenue_retention": float(rng.random()) if rng.random() < 0.7 else np.nan,
                             "complete": bool(rng.random() < 0.8)})
        frame = pd.DataFrame(rows).sample(frac=1, random_state=case).reset_index(drop=True)
        for value in VALUES:
            pd.testing.assert_frame_equal(charts.matrix_table(frame, value), old_matrix_table(frame, value))
    empty = c.retention_matrix(make_table([], columns=("user_id", "event_time", "revenue")), "activity").frame
    pd.testing.assert_frame_equal(charts.matrix_table(empty), old_matrix_table(empty))

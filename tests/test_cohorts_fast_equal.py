"""Issue #20 (helper cohorts6): the cohorts page's faster functions give exactly what the old ones gave.

Each old implementation is kept here verbatim as the reference, and the new one is compared with it frame
for frame (pandas.testing.assert_frame_equal: the same values, dtypes, column names and order) over a grid:
grains × period types × counting rules × cohort starts × shown values on the sample, on a nasty file (gaps,
blank revenue, a user with no period-0 activity, incomplete cells) and on synthetic matrices with absent cells.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from lib.charts import cohorts as charts
from lib.metrics import cohorts as c
from lib.metrics.cohorts import CohortOptions
from lib.periods import period_label
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


def old_finish(raw: pd.DataFrame, opts: CohortOptions, with_revenue: bool) -> pd.DataFrame:
    """lib.metrics.cohorts._finish as it was before issue #20's cohorts6 change (the period-0 revenue
    looked up by a MultiIndex reindex)."""
    columns = ["grp", "cohort", "cohort_label", "period", "cohort_size", "users_in", "users_on_or_after",
               "users", "retention", "revenue", "revenue_per_user", "revenue_retention", "complete"]
    if raw.empty:
        return pd.DataFrame(columns=columns)
    f = raw.copy()
    f["cohort"] = pd.to_datetime(f["cohort"])
    for col in ("period", "cohort_size", "users_in", "users_on_or_after"):
        f[col] = f[col].astype("int64")
    f["users"] = f["users_in"] if opts.rule == "in" else f["users_on_or_after"]
    f["retention"] = f["users"] / f["cohort_size"]
    data_end = pd.to_datetime(f["data_end"])
    if opts.mode == "calendar":
        # the period after N starts at cohort + (N + 1) steps; whole columns at once (a DateOffset per
        # cell cost more than the rest of the figure): N + 1 weeks are 7·(N + 1) days, and a cohort on
        # the 1st of a month at midnight (as period_sql cuts them) is N + 1 months on, on the 1st
        k, cohort = f["period"] + 1, f["cohort"]
        if opts.grain == "week":
            ends = cohort + pd.to_timedelta(7 * k, unit="D")
        elif len(f) and ((cohort.dt.day == 1) & (cohort == cohort.dt.normalize())).all():
            months = cohort.dt.year * 12 + cohort.dt.month - 1 + k
            ends = pd.to_datetime(pd.DataFrame({"year": months // 12, "month": months % 12 + 1, "day": 1}))
        else:  # any other start: the calendar's own month arithmetic, once per distinct (cohort, N)
            cells = list(zip(cohort, f["period"]))
            end_of = {cell: cell[0] + pd.DateOffset(months=int(cell[1]) + 1) for cell in set(cells)}
            ends = pd.to_datetime(pd.Series([end_of[cell] for cell in cells], index=f.index))
        f["complete"] = data_end.dt.normalize() >= ends - pd.Timedelta(days=1)
    else:
        window = pd.to_timedelta(c.ROLLING_DAYS[opts.grain], unit="D")
        f["complete"] = pd.to_datetime(f["last_anchor"]) + window * (f["period"] + 1) <= data_end
    if with_revenue:
        base = f.loc[f["period"] == 0].set_index(["grp", "cohort"])["revenue"]
        base_of = pd.Series(base.reindex(pd.MultiIndex.from_arrays([f["grp"], f["cohort"]])).to_numpy(), index=f.index)
        f["revenue_per_user"] = f["revenue"] / f["cohort_size"]
        f["revenue_retention"] = (f["revenue"] / base_of).where(base_of > 0)
    else:
        f["revenue"] = float("nan")
        f["revenue_per_user"] = float("nan")
        f["revenue_retention"] = float("nan")
    codes, starts = pd.factorize(f["cohort"])  # one label per distinct cohort
    labels = [period_label(c, opts.grain) for c in starts]
    f["cohort_label"] = [labels[i] for i in codes]
    return f[columns].reset_index(drop=True)


def old_weighted_curve(matrix: pd.DataFrame) -> pd.DataFrame:
    """lib.metrics.cohorts._weighted_curve before issue #20's cohorts6 change (a groupby for the sums).
    Chained curve per group (see `average_retention`) from matrix cells with grp, cohort, period,
    cohort_size, users, revenue, complete."""
    done = matrix.loc[matrix["complete"].astype(bool)] if len(matrix) else matrix
    if done.empty:
        return pd.DataFrame(columns=c.CURVE_COLUMNS)
    # Each group's cells as cohort × period arrays (cohorts and periods ascending; NaN where a cell is
    # absent), from one groupby over every group: the sums a pivot_table per group took (a blank revenue
    # sums to 0), in the same order, so every figure is the same float — without two pivots and dozens
    # of .loc lookups per group, which cost more than the arithmetic.
    sums = done.groupby(["grp", "cohort", "period"], sort=True)[["users", "revenue"]].sum()
    sizes = done.groupby(["grp", "cohort"], sort=True)["cohort_size"].first()
    rows = []
    for grp in done["grp"].dropna().drop_duplicates():
        cell = sums.xs(grp, level="grp", drop_level=True)
        cohorts = cell.index.get_level_values("cohort").unique()  # ascending (sorted groupby)
        periods = sorted(cell.index.get_level_values("period").unique())
        if 0 not in periods:
            continue
        at_row = cohorts.get_indexer(cell.index.get_level_values("cohort"))
        at_col = np.searchsorted(np.asarray(periods), cell.index.get_level_values("period"))
        users = np.full((len(cohorts), len(periods)), np.nan)
        revenue = users.copy()
        users[at_row, at_col] = cell["users"].to_numpy(dtype=float)
        revenue[at_row, at_col] = cell["revenue"].to_numpy(dtype=float)
        size = sizes.xs(grp, level="grp").reindex(cohorts).to_numpy()
        has = ~np.isnan(users)
        c0 = periods.index(0)
        s0 = has[:, c0]
        u0, n0 = float(users[s0, c0].sum()), float(size[s0].sum())
        r0 = u0 / n0
        lo0, hi0 = c.wilson_interval(u0, n0)
        var = ((1 - r0) / (r0 * n0)) if 0 < r0 < 1 else 0.0
        rpu = float(revenue[s0, c0].sum()) / n0
        rr = 1.0 if revenue[s0, c0].sum() > 0 else math.nan
        rows.append((grp, 0, int(s0.sum()), int(n0), int(u0), r0, lo0, hi0, r0, False, rpu, rr))
        level, prev_count = r0, int(s0.sum())
        for n in sorted(c for c in periods if c > 0):
            if n - 1 not in periods:
                break
            j, k = periods.index(n), periods.index(n - 1)
            step = has[:, j] & has[:, k]
            count = int(step.sum())
            if not count:
                break
            num, den = float(users[step, j].sum()), float(users[step, k].sum())
            level = level * num / den if den > 0 else (0.0 if num == 0 else math.nan)
            if 0 < num < den:
                var += (den - num) / (den * num)
            rev_num, rev_den = float(revenue[step, j].sum()), float(revenue[step, k].sum())
            ratio = rev_num / rev_den if rev_den > 0 else (0.0 if rev_num == 0 else math.nan)
            rr = rr * ratio
            # money per cohort user is no survival share: averaged over the cohorts at N, not chained
            # (period 0 often has no revenue at all — sign-ups — and a chain from 0 stays 0 or nan)
            base = int(size[step].sum())
            rpu = rev_num / float(base)
            half = c.Z95 * math.sqrt(var)
            lo, hi = ((level * math.exp(-half), min(1.0, level * math.exp(half))) if level > 0
                      else (0.0, 0.0) if level == 0 else (math.nan, math.nan))
            rows.append((grp, n, count, base, int(num), level, lo, hi, num / base, count < prev_count, rpu, rr))
            prev_count = count
    return pd.DataFrame(rows, columns=c.CURVE_COLUMNS)


def old_wide(matrix: pd.DataFrame, value: str, prefix: str = "") -> pd.DataFrame:
    """The matrix as a table: one row per cohort (with its size), one column per period N.

    Cells not yet started are blank; incomplete cells keep their value (marked in the charts).
    """
    if matrix.empty:
        return pd.DataFrame(columns=["Cohort", "Users"])
    table = matrix.pivot(index="cohort", columns="period", values=value)
    table.columns = [f"{prefix}{int(c)}" for c in table.columns]
    heads = matrix.groupby("cohort")[["cohort_label", "cohort_size"]].first()
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
            pd.testing.assert_frame_equal(charts.matrix_table(frame, value), old_matrix_table(frame, value), check_exact=True)
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
            pd.testing.assert_frame_equal(charts.matrix_table(frame, value), old_matrix_table(frame, value), check_exact=True)
    empty = c.retention_matrix(make_table([], columns=("user_id", "event_time", "revenue")), "activity").frame
    pd.testing.assert_frame_equal(charts.matrix_table(empty), old_matrix_table(empty), check_exact=True)


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_finish_equals_the_old_one(source, request):
    # the raw cells of the matrix and of every group column, for every option, with and without revenue
    con, table = request.getfixturevalue(source)
    src = c._source(con, table)
    checked = 0
    for opts in all_options():
        for column in (None, *c.group_attributes(con, table)):
            sql, params = c._cells_sql(src, table, opts, column)
            raw = con.execute(sql, params).df()
            assert len(raw)
            for revenue in (True, False):
                pd.testing.assert_frame_equal(c._finish(raw, opts, revenue), old_finish(raw, opts, revenue), check_exact=True)
                checked += 1
    assert checked >= 16 * 2 * 2


def test_finish_equals_the_old_one_on_synthetic_cells():
    # cells in any order, a (group, cohort) with no period-0 row (its revenue retention is blank), zero and
    # blank period-0 revenue, a group named like a number, mid-month cohort starts
    rng = np.random.default_rng(620)
    for case in range(40):
        rows = []
        for grp in rng.choice(["a", "b", "(blank)", "1", "Other (3 groups)"], size=int(rng.integers(1, 4)),
                              replace=False):
            for cohort in pd.to_datetime(rng.choice(pd.date_range("2024-01-01", periods=12, freq="MS"), size=3)
                                         ) + pd.to_timedelta(int(rng.integers(0, 2)) * 14, unit="D"):
                for n in range(int(rng.integers(0, 3)) if rng.random() < 0.2 else 0, int(rng.integers(1, 8))):
                    rows.append({"grp": grp, "cohort": cohort, "period": n, "cohort_size": 10,
                                 "users_in": int(rng.integers(0, 11)), "users_on_or_after": float(rng.integers(0, 11)),
                                 "revenue": float(rng.choice([0.0, rng.normal(50, 30)])),
                                 "first_anchor": cohort, "last_anchor": cohort + pd.Timedelta(days=3),
                                 "data_start": pd.Timestamp("2024-01-01"), "data_end": pd.Timestamp("2025-02-14 10:00")})
        raw = pd.DataFrame(rows).drop_duplicates(["grp", "cohort", "period"]).sample(frac=1, random_state=case)
        for grain, mode in itertools.product(c.GRAINS, c.MODES):
            opts = CohortOptions(grain=grain, mode=mode, rule=("in", "on_or_after")[case % 2])
            pd.testing.assert_frame_equal(c._finish(raw, opts, True), old_finish(raw, opts, True), check_exact=True)


# NASTY with whole amounts (so the matrix may come from the grouped cells: lib.metrics.cohorts._whole_amounts),
# more users in the same cohorts and groups, and a value that changes after the first event
WHOLE = [(u, t, None if r is None else float(round(r * 4)), g, s) for u, t, r, g, s in NASTY] + [
    ("h", "2025-01-02 10:00", 5.0, "free", "2025-01-02"), ("h", "2025-03-30 10:00", 2.0, "pro", "2025-01-02"),
    ("i", "2025-01-29 22:00", None, "free", "2025-01-29"), ("i", "2025-02-27 22:00", 1.0, "free", "2025-01-29"),
    ("j", "2025-05-20 06:00", 9.0, "basic", "2025-05-20"), ("j", "2025-06-13 06:00", 4.0, None, "2025-05-20"),
]


def fractional_events():
    # 300 users, amounts with cents and fractions: sums in another order differ in the last bit
    rng = np.random.default_rng(20)
    rows = []
    for u in range(300):
        start = pd.Timestamp("2025-01-01") + pd.Timedelta(hours=int(rng.integers(0, 24 * 150)))
        plan = rng.choice(["a", "b", "c", None])
        for _ in range(int(rng.integers(1, 12))):
            rows.append((f"u{u}", start + pd.Timedelta(hours=int(rng.integers(0, 24 * 120))),
                         float(rng.choice([0.1, 0.7, 1e-3, 123.456, rng.random()])),
                         plan if rng.random() < 0.9 else rng.choice(["a", "b"]),
                         start - pd.Timedelta(days=int(rng.integers(-5, 20)))))
    return rows


@pytest.mark.parametrize("source, whole", [("sample", True), ("whole", True), ("fractional", False)])
def test_matrix_via_the_grouped_cells_equals_the_direct_one(source, whole, request):
    # the page's matrix, summed from a group column's cells (one pass over the events for both), is the
    # direct query's frame to the last bit, with the same SQL shown and rows left out; with fractional
    # amounts (the sums' order would change the last bit) the direct query is used
    if source == "sample":
        con, table = request.getfixturevalue("sample")
    else:
        rows = WHOLE if source == "whole" else fractional_events()
        con, table = make_table(rows, columns=("user_id", "event_time", "revenue", "plan", "signup_date")), "activity"
    assert c._whole_amounts(con, table, c._source(con, table)) is whole
    checked = 0
    for opts in all_options():
        direct = c.retention_matrix(con, table, opts)
        for column in c.group_attributes(con, table):
            via = c.retention_matrix(con, table, opts, via=column)
            pd.testing.assert_frame_equal(via.frame, direct.frame, check_exact=True)
            assert (via.sql, via.params, via.excluded) == (direct.sql, direct.params, direct.excluded)
            checked += 1
    assert checked >= 16


def test_whole_amounts_by_hand():
    # 3.0 + 4.0 whole; a cancellation's −2.5 is not usable and does not count; 0.5 is not whole
    rows = [("a", "2025-01-01", 3.0), ("a", "2025-01-02", 4.0), ("b", "2025-01-03", None), ("b", "2025-01-04", -2.5)]
    con = make_table(rows)
    assert c._whole_amounts(con, "activity", c._source(con, "activity"))
    con = make_table(rows + [("c", "2025-01-05", 0.5)])
    assert not c._whole_amounts(con, "activity", c._source(con, "activity"))
    con = make_table(rows + [("c", "2025-01-05", 2.0 ** 53)])  # a sum past 2⁵³ is no longer exact
    assert not c._whole_amounts(con, "activity", c._source(con, "activity"))
    con = make_table([("a", "2025-01-01")], columns=("user_id", "event_time"))  # no amounts at all
    assert c._whole_amounts(con, "activity", c._source(con, "activity"))


def lumped_cells(con, table, opts, column, top=2):
    # group_retention's input to the curve: the cells of the `top` largest groups, the rest as one
    frame = c._finish(con.execute(*c._cells_sql(c._source(con, table), table, opts, column)).df(), opts, True)
    sizes = frame.loc[frame["period"] == 0].groupby("grp")["cohort_size"].sum().sort_values(ascending=False)
    frame["grp"] = frame["grp"].where(frame["grp"].isin(sizes.index[:top]), "Other")
    return frame.groupby(["grp", "cohort", "period"], as_index=False).agg(
        cohort_size=("cohort_size", "sum"), users=("users", "sum"), revenue=("revenue", "sum"),
        complete=("complete", "first"))


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_weighted_curve_equals_the_old_one(source, request):
    con, table = request.getfixturevalue(source)
    checked = 0
    for opts in all_options():
        matrix = c.retention_matrix(con, table, opts).frame.assign(grp="All")
        pd.testing.assert_frame_equal(c._weighted_curve(matrix), old_weighted_curve(matrix), check_exact=True)
        for column in c.group_attributes(con, table):
            for top in (1, 2, 8):
                cells = lumped_cells(con, table, opts, column, top)
                pd.testing.assert_frame_equal(c._weighted_curve(cells), old_weighted_curve(cells), check_exact=True)
                checked += 1
    assert checked >= 16 * 3


def test_weighted_curve_equals_the_old_one_on_synthetic_cells():
    # absent cells, groups without period 0, blank and negative-zero revenue, a blank group, float counts and
    # duplicate cells (both take the groupby path), groups in any order, incomplete cells
    rng = np.random.default_rng(6)
    for case in range(150):
        rows = []
        for grp in rng.choice(["b", "a", "Other (2 groups)", "(blank)"], size=int(rng.integers(1, 4)), replace=False):
            for cohort in pd.date_range("2024-01-01", periods=int(rng.integers(1, 6)), freq="W-MON"):
                size = int(rng.integers(1, 40))
                for n in range(int(rng.integers(0, 2)) if rng.random() < 0.15 else 0, int(rng.integers(1, 9))):
                    if n and rng.random() < 0.15:
                        continue
                    rows.append({"grp": grp, "cohort": cohort, "period": n, "cohort_size": size,
                                 "users": int(rng.integers(0, size + 1)),
                                 "revenue": float(rng.choice([np.nan, -0.0, 0.0, rng.normal(20, 9), 0.1])),
                                 "complete": bool(rng.random() < 0.85)})
        cells = pd.DataFrame(rows).sample(frac=1, random_state=case).reset_index(drop=True)
        if case % 10 == 1:
            cells = pd.concat([cells, cells.iloc[:3].assign(users=0)], ignore_index=True)  # duplicate cells: summed
        if case % 10 == 2:
            cells.loc[0, "grp"] = None
        if case % 10 == 3:
            cells["users"] = cells["users"].astype(float)
        pd.testing.assert_frame_equal(c._weighted_curve(cells), old_weighted_curve(cells), check_exact=True)


def test_source_is_read_again_when_the_table_changes():
    # kept per cursor and table version: a replaced table (new columns) is read afresh
    con = make_table([("a", "2025-01-01", 1.0)])
    assert c.has_revenue(con, "activity") and not c.has_signup(con, "activity")
    make_table([("a", "2025-01-01", "2025-01-01")], columns=("user_id", "event_time", "signup_date"), con=con)
    assert not c.has_revenue(con, "activity") and c.has_signup(con, "activity")
    assert c._source(con, "activity") == c._read_source(con, "activity")
    con.execute('INSERT INTO activity SELECT * FROM activity')  # rows added: a new version, read again
    assert c._source(con, "activity") == c._read_source(con, "activity")


def old_lump(matrix):
    # group_retention's groupby before issue #20's cohorts6 change
    return matrix.groupby(["grp", "cohort", "period"], as_index=False).agg(
        cohort_size=("cohort_size", "sum"), users=("users", "sum"), revenue=("revenue", "sum"),
        complete=("complete", "first"))


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_lump_equals_the_old_groupby(source, request):
    # the group cells with the largest `top` groups named and the rest as one Other (lumped or not)
    con, table = request.getfixturevalue(source)
    checked = 0
    for opts in all_options():
        for column in c.group_attributes(con, table):
            frame = c._finish(con.execute(*c._cells_sql(c._source(con, table), table, opts, column)).df(), opts,
                              opts.grain == "month")  # with and without revenue (blank)
            sizes = frame.loc[frame["period"] == 0].groupby("grp")["cohort_size"].sum().sort_values(ascending=False)
            for top in (1, 2, 8):
                cells = frame.assign(grp=frame["grp"].where(frame["grp"].isin(sizes.index[:top]), "Other"))
                pd.testing.assert_frame_equal(c._lump(cells), old_lump(cells), check_exact=True)
                checked += 1
    assert checked >= 16 * 3


def test_lump_equals_the_old_groupby_on_synthetic_cells():
    rng = np.random.default_rng(61)
    for case in range(60):
        n = int(rng.integers(1, 80))
        cells = pd.DataFrame({
            "grp": rng.choice(["Zeta", "alpha", "Other (3 groups)", "(blank)", "Émile"], size=n),
            "cohort": pd.to_datetime(rng.choice(pd.date_range("2024-01-01", periods=5, freq="MS"), size=n)),
            "period": rng.integers(0, 6, size=n), "cohort_size": rng.integers(1, 50, size=n),
            "users": rng.integers(0, 50, size=n),
            "revenue": rng.choice([np.nan, -0.0, 0.0, 12.5, 0.1], size=n), "complete": rng.random(n) < 0.7})
        if case % 2:
            cells = cells.drop_duplicates(["grp", "cohort", "period"])  # the sort-only path
        pd.testing.assert_frame_equal(c._lump(cells), old_lump(cells), check_exact=True)


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_wide_equals_the_old_one(source, request):
    con, table = request.getfixturevalue(source)
    for opts in all_options():
        frame = c.retention_matrix(con, table, opts).frame
        for value in ("revenue", "retention", "users", "revenue_retention", "revenue_per_user"):
            for prefix in ("", "M"):
                pd.testing.assert_frame_equal(c.wide(frame, value, prefix), old_wide(frame, value, prefix),
                                              check_exact=True)


def test_wide_equals_the_old_one_with_absent_cells():
    rng = np.random.default_rng(22)
    for case in range(40):
        rows = [{"cohort": cohort, "cohort_label": f"L{cohort:%m}", "period": n, "cohort_size": int(rng.integers(1, 9)),
                 "revenue": float(rng.choice([np.nan, 1.5, -0.0, 3.0]))}
                for cohort in pd.date_range("2024-01-01", periods=int(rng.integers(1, 6)), freq="MS")
                for n in range(int(rng.integers(1, 7))) if n == 0 or rng.random() < 0.7]
        frame = pd.DataFrame(rows).sample(frac=1, random_state=case).reset_index(drop=True)
        pd.testing.assert_frame_equal(c.wide(frame, "revenue"), old_wide(frame, "revenue"), check_exact=True)

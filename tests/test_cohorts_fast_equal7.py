"""Issue #20 (helper pages7): the cohorts page's faster functions give exactly what the old ones gave.

As tests/test_cohorts_fast_equal.py: each old implementation is kept here verbatim as the reference and the new
one is compared with it frame for frame (pandas.testing.assert_frame_equal, check_exact: the same values, dtypes,
column names and order) over every option × group column × group count on the sample and a nasty file, and
over synthetic inputs (absent periods, blank intervals, tied group sizes, several "Other" rows, empty frames).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lib.metrics import cohorts as c
from tests.test_cohorts_fast_equal import all_options, nasty, sample  # noqa: F401  (fixtures)


def old_group_table(curve: pd.DataFrame, periods: tuple[int, ...], unit: str = "Month") -> pd.DataFrame:
    """lib.metrics.cohorts.group_table as it was before issue #20's pages7 change (reindex per column)."""
    base = curve.drop_duplicates("group")[["group", "group_users", "other"]].set_index("group")
    out = base.rename(columns={"group_users": "Users"})
    for n in periods:
        at = curve.loc[curve["period"] == n].set_index("group")
        for col, name in (("retention", f"{unit} {n} retention"), ("lo", f"{unit} {n} low (95%)"),
                          ("hi", f"{unit} {n} high (95%)")):
            out[name] = at[col].reindex(out.index).astype(float)
    out = out.dropna(axis=1, how="all")
    out = out.reset_index().rename(columns={"group": "Group"})
    other = out.pop("other").astype(bool)
    return pd.concat([out[~other].sort_values(["Users", "Group"], ascending=[False, True]), out[other]],
                     ignore_index=True)


PERIODS = ((1, 3), (1, 4), (0, 1), (2, 40), (7,))


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_group_table_equals_the_old_one(source, request):
    con, table = request.getfixturevalue(source)
    checked = 0
    for opts in all_options():
        for column in c.group_attributes(con, table):
            for top, search in ((1, ""), (2, ""), (8, ""), (8, "pro"), (8, "no such group")):
                curve = c.mark_small(c.group_retention(con, table, column, opts, top, search).frame, 30)
                for periods in PERIODS:
                    pd.testing.assert_frame_equal(c.group_table(curve, periods, opts.unit),
                                                  old_group_table(curve, periods, opts.unit), check_exact=True)
                    checked += 1
    assert checked >= 16 * 5 * 5


def test_group_table_equals_the_old_one_on_synthetic_curves():
    # absent periods, blank intervals, tied group sizes (then by name), several Other rows in any place,
    # non-ASCII names, groups in any order; duplicate (group, period) rows and blank names take the old path
    rng = np.random.default_rng(71)
    names = ["beta", "Alpha", "alpha", "Émile", "(blank)", "Other (2 groups)", "Other (5 groups)", "z", "10", "9"]
    for case in range(200):
        rows = []
        for name in rng.choice(names, size=int(rng.integers(0, 7)), replace=False):
            users = int(rng.choice([5, 5, 12, 40, 1000]))
            for n in sorted(rng.choice(np.arange(0, 8), size=int(rng.integers(1, 6)), replace=False)):
                rate = float(rng.random())
                rows.append({"group": name, "group_users": users, "groups": 1, "other": name.startswith("Other"),
                             "all_groups": 9, "period": int(n), "cohorts": 3, "base_users": users, "users": 2,
                             "retention": rate, "lo": np.nan if rng.random() < 0.2 else rate / 2,
                             "hi": np.nan if rng.random() < 0.2 else min(1.0, rate * 2), "small": False,
                             "varying_users": 0})
        curve = pd.DataFrame(rows, columns=["group", "group_users", "groups", "other", "all_groups", "period",
                                            "cohorts", "base_users", "users", "retention", "lo", "hi", "small",
                                            "varying_users"])
        if len(curve):
            curve = curve.sample(frac=1, random_state=case).reset_index(drop=True)
        if case % 20 == 1 and len(curve):
            curve = pd.concat([curve, curve.iloc[:1]], ignore_index=True)  # a duplicate row: the old path
        if case % 20 == 2 and len(curve):
            curve.loc[0, "group"] = None
        for periods in PERIODS:
            try:
                expected = old_group_table(curve, periods, "Week")
            except (ValueError, KeyError) as exc:  # duplicate labels, or no groups at all (every column
                with pytest.raises(type(exc)):  # dropped): the old function raises, so must the new one
                    c.group_table(curve, periods, "Week")
                continue
            pd.testing.assert_frame_equal(c.group_table(curve, periods, "Week"), expected, check_exact=True)


def old_cohort_tests(matrix: pd.DataFrame, thresholds, period: int = 1) -> pd.DataFrame:
    """lib.metrics.cohorts.cohort_tests as it was before issue #20's pages7 change (itertuples over the cells)."""
    import math

    from lib.stats import adjust_family, normal_cdf, overdispersion, two_proportion_test

    cells = matrix.loc[(matrix["period"] == period) & matrix["complete"].astype(bool)].sort_values("cohort")
    k, alpha, min_n = int(thresholds["baseline_periods"]), thresholds["baseline_alpha"], thresholds["min_group_size"]
    rows, cells = [], list(cells.itertuples(index=False))
    phi = overdispersion([r.users for r in cells], [r.cohort_size for r in cells])
    for i, row in enumerate(cells):
        prior = cells[max(0, i - k):i]
        x2, n2 = sum(r.users for r in prior), sum(r.cohort_size for r in prior)
        if not prior or row.cohort_size < min_n or n2 < min_n:
            continue
        test = two_proportion_test(row.users, row.cohort_size, x2, n2)
        rows.append({"cohort": pd.Timestamp(row.cohort), "cohort_label": row.cohort_label, "users": int(row.users),
                     "cohort_size": int(row.cohort_size), "rate": test.rate, "base_users": int(x2),
                     "base_size": int(n2), "baseline": test.baseline, "prior": len(prior), "z": test.z,
                     "p_value": test.p_value})
    frame = pd.DataFrame(rows, columns=["cohort", "cohort_label", "users", "cohort_size", "rate", "base_users",
                                        "base_size", "baseline", "prior", "z", "p_value"])
    frame["phi"] = phi
    frame["p_wide"] = [2 * (1 - normal_cdf(abs(z) / math.sqrt(phi))) for z in frame["z"]]
    frame["p_bh"], frame["p_bonferroni"], frame["flagged"], frame["severity"] = adjust_family(
        frame["p_value"], frame["rate"] < frame["baseline"], alpha, strict_p_values=frame["p_wide"])
    frame["flagged"] = frame["flagged"].astype(bool)
    return frame


THRESHOLDS = [{"baseline_periods": 3, "baseline_alpha": 0.05, "min_group_size": 30},
              {"baseline_periods": 1, "baseline_alpha": 0.2, "min_group_size": 1},
              {"baseline_periods": 12, "baseline_alpha": 0.01, "min_group_size": 5},
              {"baseline_periods": 3, "baseline_alpha": 0.05, "min_group_size": 10_000}]  # nothing tested


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_cohort_tests_equal_the_old_ones(source, request):
    con, table = request.getfixturevalue(source)
    tested = 0
    for opts in all_options():
        matrix = c.retention_matrix(con, table, opts).frame
        for thresholds in THRESHOLDS:
            for period in (0, 1, 2, 5):
                new, old = c.cohort_tests(matrix, thresholds, period), old_cohort_tests(matrix, thresholds, period)
                pd.testing.assert_frame_equal(new, old, check_exact=True)
                tested += len(new)
    assert tested > 100 or source == "nasty"

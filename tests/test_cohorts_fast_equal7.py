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



# ---------------------------------------------------------------- the heatmap's labels


import altair as alt  # noqa: E402

from lib.charts import cohorts as charts  # noqa: E402
from lib.charts.common import layer_chart  # noqa: E402

MAX_LABELLED_CELLS = charts.MAX_LABELLED_CELLS
heatmap_height = charts.heatmap_height


def old_retention_heatmap(matrix: pd.DataFrame, value: str = "retention", unit: str = "Month") -> alt.Chart:
    """lib.charts.cohorts.retention_heatmap as it was before issue #20's pages7 change (pandas map and
    string ops for the labels). Cohort × period heatmap of `value` ('retention' as %, or 'users' as counts).

    Incomplete cells (the data ends inside the period) are faded, outlined dashed and their label
    carries '*', so a partial period is not read as a drop. Period 0 (100% by construction) is
    kept out of the colour scale so the later periods keep their contrast.
    """
    frame = matrix.copy()
    is_pct = value == "retention"
    frame["shown"] = frame[value]
    text = frame[value].map((lambda v: f"{v:.0%}") if is_pct else (lambda v: f"{int(v):,}"))
    frame["label"] = text + frame["complete"].map({True: "", False: "*"})
    frame["state"] = frame["complete"].map({True: "complete", False: "incomplete (data ends inside it)"})
    frame["row"] = frame["cohort_label"] + " (" + frame["cohort_size"].map("{:,}".format) + ")"
    order = frame.sort_values("cohort")["row"].drop_duplicates().tolist()
    later = frame.loc[frame["period"] > 0, value]
    top = float(later.max()) if len(later) and later.max() > 0 else float(frame[value].max() or 1)
    colour = alt.Color("shown:Q", title="Retention" if is_pct else "Users",
                       scale=alt.Scale(scheme="blues", domain=[0, top], clamp=True),
                       legend=alt.Legend(format=".0%" if is_pct else ",.0f"))
    # the frame goes on the layer, not on each sub-chart: to lift two equal frames to the layer
    # Altair hashes them through their text repr (the same spec)
    base = alt.Chart().encode(
        x=alt.X("period:O", title=f"{unit}s since cohort start ({unit.lower()} 0 = cohort's own)",
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("row:O", title="Cohort (users)", sort=order),
        tooltip=[alt.Tooltip("cohort_label:N", title="Cohort"), alt.Tooltip("period:O", title=unit),
                 alt.Tooltip("cohort_size:Q", title="Cohort users", format=","),
                 alt.Tooltip("users:Q", title="Retained users", format=","),
                 alt.Tooltip("retention:Q", title="Retention", format=".1%"),
                 alt.Tooltip("state:N", title="Period")],
    )
    # channel objects, not alt.condition/alt.value dicts or "field:type" text: Altair resolves those
    # against the Vega-Lite schema on every build (~2–8 ms a channel); the spec is the same
    rects = base.mark_rect().encode(
        color=colour,
        opacity=alt.OpacityValue(0.45, condition={"test": "datum.complete", "value": 1.0}),
        stroke=alt.StrokeValue("#333333", condition={"test": "datum.complete", "value": None}),
    )
    title = ("Retention by cohort (% of the cohort active)" if is_pct else "Retained users by cohort")
    chart = rects.properties(data=frame)
    if len(frame) <= MAX_LABELLED_CELLS:
        labels = base.mark_text(fontSize=11).encode(
            text=alt.Text("label:N"),
            color=alt.ColorValue("black", condition={"test": f"datum.complete && datum.shown > {top * 0.55}",
                                                     "value": "white"}))
        chart = layer_chart(rects, labels, data=frame)
    return chart.properties(title=alt.Title(title, subtitle="* incomplete period: the data ends inside it"),
                            height=heatmap_height(frame))


@pytest.mark.parametrize("source", ["sample", "nasty"])
def test_heatmap_equals_the_old_one(source, request):
    # the chart's rows (labels, states, row names) and its whole spec, for both shown values
    con, table = request.getfixturevalue(source)
    for opts in all_options():
        frame = c.retention_matrix(con, table, opts).frame
        for value in ("retention", "users"):
            new, old = charts.retention_heatmap(frame, value, opts.unit), old_retention_heatmap(frame, value, opts.unit)
            pd.testing.assert_frame_equal(new.data, old.data, check_exact=True)
            assert new.to_dict() == old.to_dict()


def test_heatmap_equals_the_old_one_on_other_frames():
    # a blank "complete" or label, or float sizes, take the old path; NaN retention is labelled "nan%" both ways
    frame = pd.DataFrame({"cohort": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-02-01"]),
                          "cohort_label": ["Jan 2025", "Jan 2025", "Feb 2025"], "period": [0, 1, 0],
                          "cohort_size": [1200, 1200, 3], "users": [1200, 7, 3],
                          "retention": [1.0, float("nan"), 1.0], "complete": [True, False, True]})
    variants = [frame, frame.assign(complete=pd.array([True, None, True], dtype="boolean")),
                frame.assign(cohort_size=frame["cohort_size"].astype(float)),
                frame.assign(cohort_label=["Jan 2025", None, "Feb 2025"])]
    def outcome(build, f, value):  # (rows, spec), or the error's type when building or converting fails
        try:
            chart = build(f, value)
            return chart.data, chart.to_dict()
        except Exception as exc:  # a blank label breaks the axis order: the old one fails, so must the new
            return type(exc), None

    for f in variants:
        for value in ("retention", "users"):
            (new, new_spec), (old, old_spec) = outcome(charts.retention_heatmap, f, value), \
                outcome(old_retention_heatmap, f, value)
            if isinstance(old, pd.DataFrame):
                pd.testing.assert_frame_equal(new, old, check_exact=True)
            assert new_spec == old_spec and (isinstance(old, pd.DataFrame) or new is old)

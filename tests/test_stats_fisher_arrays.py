"""Fisher's exact test (two-sided) and the two-proportion test as array forms (issue #20): each element
is scipy's / the scalar function's number to the last bit, and the per-period tests built on them
(deals.baseline_flag_rows) flag exactly what the row-by-row form flagged."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from lib import stats
from lib.metrics.deals import baseline_flag_rows

# scipy 1.17.1, scipy.stats.fisher_exact(table).pvalue, written out (R's fisher.test agrees to 4 digits:
# [[8, 2], [1, 5]] → 0.03497, the "lady tasting tea"-style example of scipy's documentation)
SCIPY = [
    ([[8, 2], [1, 5]], 0.034965034965034975),
    ([[0, 12], [5, 3]], 0.003611971104231166),
    ([[2, 398], [0, 5000]], 0.005474264781543906),
    ([[10, 90], [3, 297]], 9.468786721784919e-05),
    ([[5, 0], [0, 5]], 0.007936507936507938),
    ([[3, 1], [1, 3]], 0.48571428571428565),
    ([[0, 0], [4, 7]], 1.0),  # an empty row
]


def test_fisher_two_sided_array_gives_scipys_numbers():
    cells = np.array([np.ravel(t) for t, _ in SCIPY])
    got = stats.fisher_two_sided_array(*cells.T)
    assert got.tolist() == [p for _, p in SCIPY]


def test_fisher_two_sided_array_equals_the_scalar_test_over_a_grid():
    # every table with cells 0..5 (both tails, the mode, empty rows and columns), then random ones
    # small to large (the binary search runs on both sides of the mode)
    rng = np.random.default_rng(2026)
    cells = [t for t in itertools.product(range(6), repeat=4)]
    cells += [tuple(rng.integers(0, top, 4)) for top in (12, 80, 700, 6000) for _ in range(150)]
    cells = np.array(cells)
    got = stats.fisher_two_sided_array(*cells.T)
    want = [stats.fisher_exact_test(*row) for row in cells.tolist()]
    assert got.tolist() == want


def test_two_proportion_test_arrays_equal_the_scalar_test():
    rng = np.random.default_rng(7)
    x1 = rng.integers(0, 40, 800)
    n1 = x1 + rng.integers(0, 300, 800)
    x2 = rng.integers(0, 150, 800)
    n2 = x2 + rng.integers(0, 4000, 800)
    n1[::40], n2[5::60] = 0, 0  # no texts in a period, no baseline
    rate, base, z, p = stats.two_proportion_test_arrays(x1, n1, x2, n2)
    for i in range(len(x1)):
        t = stats.two_proportion_test(int(x1[i]), int(n1[i]), int(x2[i]), int(n2[i]))
        for want, got in ((t.rate, rate[i]), (t.baseline, base[i]), (t.z, z[i]), (t.p_value, p[i])):
            assert want == got or (math.isnan(want) and math.isnan(got)), (i, t, rate[i], base[i], z[i], p[i])


def test_two_proportion_test_arrays_worked_examples():
    # the scalar docstring's: 30/1000 vs 20/1000 → z 1.4322, p 0.1521 (pooled z-test);
    # 1/481 vs 0/8299 → Fisher p = 481/8780 = 0.054784 (scipy), z = +Φ⁻¹(1 − p/2) = 1.920589 (scipy norm.isf(p/2))
    _, _, z, p = stats.two_proportion_test_arrays([30, 1], [1000, 481], [20, 0], [1000, 8299])
    assert round(float(z[0]), 4) == 1.4322 and round(float(p[0]), 4) == 0.1521
    assert p[1] == pytest.approx(481 / 8780, rel=1e-12) and round(float(z[1]), 6) == 1.920589


def _rows_one_by_one(frame, x, n, base_x, base_n, direction, alpha, min_n):
    """baseline_flag_rows as it was before the array form: one scalar test per row."""
    frame = frame.copy()
    tests = [stats.two_proportion_test(a, b, c, d) for a, b, c, d in
             zip(frame[x], frame[n], frame[base_x], frame[base_n])]
    frame["z"] = [t.z for t in tests]
    frame["p_value"] = [t.p_value for t in tests]
    complete = ~frame["incomplete"].astype(bool) if "incomplete" in frame else True
    enough = (frame[n] >= min_n) & (frame[base_n] >= min_n)
    worse = pd.Series([bool(t.worse(direction, alpha)) for t in tests], index=frame.index, dtype=bool)
    frame["tested"] = (enough & complete).astype(bool)
    frame["worse_side"] = [(t.z > 0 if direction == "above" else t.z < 0) if not math.isnan(t.z) else False
                           for t in tests]
    frame["flagged"] = worse & enough & complete
    return frame


@pytest.mark.parametrize("direction", ["above", "below"])
@pytest.mark.parametrize("alpha,min_n", [(0.05, 1), (0.05, 30), (0.01, 10), (0.2, 100)])
def test_baseline_flag_rows_flags_what_the_row_by_row_form_flagged(direction, alpha, min_n):
    rng = np.random.default_rng(11)
    n = rng.integers(0, 200, 60)
    base_n = rng.integers(0, 2000, 60)
    frame = pd.DataFrame({"x": rng.binomial(n, 0.1), "n": n, "bx": rng.binomial(base_n, 0.08), "bn": base_n,
                          "incomplete": rng.random(60) < 0.1})
    got = baseline_flag_rows(frame, "x", "n", "bx", "bn", direction, alpha, min_n)
    want = _rows_one_by_one(frame, "x", "n", "bx", "bn", direction, alpha, min_n)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["flagged"].any() or direction == "below"  # the grid does reach flagged rows


def test_baseline_rate_test_arrays_equal_the_scalar_test():
    # baselines of 1–7 periods, small to large counts: both the two-proportion branch (φ ≤ 1) and the
    # φ-widened t branch; the scalar docstring's worked example (statsmodels/scipy-checked there) first
    rng = np.random.default_rng(5)
    xs, ns, pxs, pns = [80.0], [1000.0], [[50, 70, 40, 65, 55]], [[1000, 1100, 900, 1000, 1050]]
    for _ in range(1500):
        k, scale, rate = int(rng.integers(1, 8)), int(rng.choice([20, 300, 5000])), rng.uniform(0, 0.2)
        pn = rng.integers(0, scale, k).astype(float)
        nn = float(rng.integers(0, scale))
        xs.append(float(rng.binomial(int(nn), min(1.0, rate * rng.uniform(0.5, 2)))))
        ns.append(nn)
        pxs.append(rng.binomial(pn.astype(int), rate).astype(float))
        pns.append(pn)
    rate, base, z, p = stats.baseline_rate_test_arrays(xs, ns, pxs, pns)
    assert round(float(z[0]), 4) == 2.4513 and round(float(p[0]), 5) == 0.07035  # scipy 2·t.sf(2.45125, 4)
    for i in range(len(xs)):
        t = stats.baseline_rate_test(xs[i], ns[i], pxs[i], pns[i])
        for want, got in ((t.rate, rate[i]), (t.baseline, base[i]), (t.z, z[i]), (t.p_value, p[i])):
            assert want == got or (math.isnan(want) and math.isnan(got)), (i, t)

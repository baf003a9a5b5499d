"""The array forms in lib.stats give exactly the numbers of their scalar twins, element by element.

The scalar functions are the ones checked against scipy/statsmodels in tests/test_stats.py; the array
forms exist for speed (issue #20), so equality to the last bit is the test."""

import math

import numpy as np
import pytest

from lib import stats
from lib.metrics.email import _exact_z, _z_of_upper_p

RNG = np.random.default_rng(20)
COUNTS = [(0, 10), (1, 1), (4, 610), (10, 10), (3, 997), (25, 4000), (120, 350), (1, 8299), (7.4, 99.6)]
COUNTS += [(float(x), float(n)) for n, x in zip(RNG.integers(1, 20_000, 40), RNG.integers(0, 60, 40)) if x <= n]


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 352, 0.2])
def test_exact_intervals_equal_exact_interval(alpha):
    xs, ns = [x for x, _ in COUNTS] + [3, 0], [n for _, n in COUNTS] + [0, -1]
    low, high = stats.exact_intervals(xs, ns, alpha)
    for i, (x, n) in enumerate(zip(xs, ns)):
        want = stats.exact_interval(x, n, alpha)
        got = (float(low[i]), float(high[i]))
        assert (got == want) or (math.isnan(want[0]) and math.isnan(got[0]) and math.isnan(got[1])), (x, n, got, want)


def test_exact_intervals_take_an_alpha_per_element():
    low, high = stats.exact_intervals([4, 4], [610, 610], [0.05, 0.001])
    assert (float(low[0]), float(high[0])) == stats.exact_interval(4, 610, 0.05)
    assert (float(low[1]), float(high[1])) == stats.exact_interval(4, 610, 0.001)


def test_student_t_upper_array_equals_student_t_upper():
    ts = [-12.0, -2.5, -0.1, 0.0, 0.3, 1.959963984540054, 2.86, 7.5, 40.0]
    for df in [1, 3, 22, 150, math.inf]:
        got = stats.student_t_upper_array(ts, df)
        assert [float(v) for v in got] == [stats.student_t_upper(t, df) for t in ts], df
    mixed = stats.student_t_upper_array([2.0, math.nan, 2.0], [5, 5, math.inf])
    assert float(mixed[0]) == stats.student_t_upper(2.0, 5) and math.isnan(mixed[1])
    assert float(mixed[2]) == stats.student_t_upper(2.0, math.inf)


def test_z_of_upper_p_array_equals_emails_z_of_upper_p():
    ps = [0.0, 1e-320, 1e-300, 1e-20, 0.001, 0.025, 0.3, 0.5, 0.5000001, 0.7, 0.975, 0.999999, 1 - 1e-13, 1.0]
    ps += list(RNG.uniform(0, 1, 50))
    got = stats.z_of_upper_p_array(ps)
    assert [float(v) for v in got] == [_z_of_upper_p(p) for p in ps]
    assert math.isnan(stats.z_of_upper_p_array([math.nan])[0])


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_fisher_one_sided_array_equals_fisher_exact_test(alternative):
    tables = [(1, 480, 0, 8299), (3, 997, 1, 4999), (0, 50, 0, 70), (0, 0, 3, 4), (5, 0, 2, 0), (2, 10, 30, 40),
              (2.4, 97.6, 1.0, 300.2)]
    tables += [tuple(int(v) for v in RNG.integers(0, 40, 4)) for _ in range(30)]
    a, b, c, d = (list(col) for col in zip(*tables))
    got = stats.fisher_one_sided_array(a, b, c, d, alternative)
    # scipy's Boost tail and lib.hypergeom's agree to rounding (both against exact sums: tests/test_hypergeom.py)
    assert np.allclose(got, [stats.fisher_exact_test(*t, alternative=alternative) for t in tables], rtol=1e-12, atol=0)


def test_fisher_one_sided_array_gives_emails_exact_z():
    # _exact_z(x, n, base_x, base_n, 'above') = Φ⁻¹(1 − P(greater)) on the table [[x, n − x], [bx, bn − bx]]
    x, n, bx, bn = 1, 481, 0, 8299
    p = stats.fisher_one_sided_array([x], [n - x], [bx], [bn - bx], "greater")
    assert float(stats.z_of_upper_p_array(p)[0]) == _exact_z(x, n, bx, bn, "above")

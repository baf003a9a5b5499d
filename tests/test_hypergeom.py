"""lib.hypergeom: hypergeometric tails held to exact sums of whole numbers (math.comb), and to scipy."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hypergeom as scipy_hypergeom

from lib import hypergeom


def exact_tail(k: int, total: int, good: int, draws: int, upper: bool) -> float:
    """P(X ≤ k) or P(X ≥ k) as a fraction of whole numbers: Σ C(good, j)·C(total − good, draws − j) / C(total, draws)."""
    lo, hi = max(0, draws - (total - good)), min(good, draws)
    values = range(max(k, lo), hi + 1) if upper else range(lo, min(k, hi) + 1)
    return float(Fraction(sum(math.comb(good, j) * math.comb(total - good, draws - j) for j in values),
                          math.comb(total, draws)))


def tables(rng, count: int, largest: int):
    total = rng.integers(1, largest, count)
    good, draws = ((rng.random(count) * (total + 1)).astype(np.int64) for _ in range(2))
    k = (rng.random(count) * (np.minimum(good, draws) + 2)).astype(np.int64) - 1  # one below the support too
    return k, total, good, draws


@pytest.mark.parametrize("upper", [False, True])
def test_tails_equal_exact_sums_of_whole_numbers(upper):
    rng = np.random.default_rng(7)
    k, total, good, draws = tables(rng, 300, 3000)
    got = hypergeom.tail(k, total, good, draws, upper)
    want = np.array([exact_tail(*map(int, t), upper) for t in zip(k, total, good, draws)])
    assert np.allclose(got, want, rtol=1e-12, atol=1e-300)


def test_the_email_baselines_shape_rare_counts_in_large_lists():
    # a send's few complaints or unsubscribes against a baseline of 10⁴–10⁵ recipients: where Boost's
    # digits drift (5e-11 relative on the third table) and this stays within rounding of the exact sum
    cases = [(2, 15296, 7768, 6), (18, 383558, 5467, 329), (5, 240292, 38867, 24), (0, 90000, 1200, 3), (7, 50000, 600, 9)]
    for upper in (False, True):
        got = hypergeom.tail(*(np.array(c) for c in zip(*cases)), upper=upper)
        want = [exact_tail(*c, upper) for c in cases]
        assert np.allclose(got, want, rtol=1e-12, atol=0)


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 10**7), good=st.floats(0, 1), draws=st.floats(0, 1), k=st.floats(-0.01, 1.01),
       upper=st.booleans())
def test_tails_agree_with_scipy_over_millions(total, good, draws, k, upper):
    good, draws = int(good * total), int(draws * total)
    k = int(round(k * min(good, draws)))
    got = float(hypergeom.tail(k, total, good, draws, upper)[0])
    want = float(scipy_hypergeom.sf(k - 1, total, good, draws) if upper else scipy_hypergeom.cdf(k, total, good, draws))
    # scipy's own error reaches ~1e-9 relative at millions (test above); far tails below 1e-290 are ~0 in both
    assert got == pytest.approx(want, rel=1e-8, abs=1e-290)


def test_edges_of_the_support():
    # P(X ≥ lo) = P(X ≤ hi) = 1; beyond the support the tail is empty; no draws or all drawn: one value
    assert hypergeom.tail([0, 3, 4], [10, 10, 10], [3, 3, 3], [5, 5, 5], upper=True).tolist()[1:] == [pytest.approx(
        float(scipy_hypergeom.pmf(3, 10, 3, 5))), 0.0]
    assert hypergeom.tail([0, 3, 4], [10, 10, 10], [3, 3, 3], [5, 5, 5], upper=True)[0] == 1.0
    assert hypergeom.tail([-1, 3, 9], [10, 10, 10], [3, 3, 3], [5, 5, 5], upper=False).tolist() == [0.0, 1.0, 1.0]
    assert hypergeom.tail([0, 0], [10, 10], [3, 3], [0, 10], upper=False)[0] == 1.0
    assert hypergeom.tail([3], [10], [3], [10], upper=True)[0] == 1.0


def test_a_first_term_below_float_range_does_not_zero_the_tail():
    # P(X ≥ 2000) with mean 2500: the first term exp(−…) underflows, the bulk after it does not
    got = float(hypergeom.tail(2000, 10000, 5000, 5000, upper=True)[0])
    assert got == pytest.approx(float(scipy_hypergeom.sf(1999, 10000, 5000, 5000)), rel=1e-12)


def test_a_tail_longer_than_max_terms_is_scipys(monkeypatch):
    monkeypatch.setattr(hypergeom, "MAX_TERMS", 4)
    got = hypergeom.tail([10, 1], [1000, 1000], [400, 400], [60, 60], upper=False)
    want = scipy_hypergeom.cdf([10, 1], 1000, 400, 60)
    assert got[0] == float(want[0])  # 10 − 0 > 4 terms, still adding: scipy's own value
    assert got[1] == pytest.approx(float(want[1]), rel=1e-12)  # 2 terms: its own


def test_stirlerr_and_bd0_against_their_definitions():
    n = np.array([1.0, 5.0, 15.0, 16.0, 36.0, 81.0, 501.0, 2e5])
    direct = np.array([math.lgamma(v + 1) - (v + 0.5) * math.log(v) + v - 0.5 * math.log(2 * math.pi) for v in n])
    assert np.allclose(hypergeom.stirlerr(n)[:6], direct[:6], rtol=1e-12)  # beyond, lgamma's digits run out
    big = n[3:]  # Stirling's series, which stirlerr sums to more terms
    assert np.allclose(hypergeom.stirlerr(big), 1 / (12 * big) - 1 / (360 * big ** 3), rtol=1e-6)
    x, mean = np.array([10.0, 3.0, 0.0, 1e6]), np.array([10.5, 7.0, 4.0, 1e6 + 3])
    assert np.allclose(hypergeom.bd0(x, mean)[:3], [10 * math.log(10 / 10.5) + 0.5, 3 * math.log(3 / 7) + 4, 4.0],
                       rtol=1e-12)
    assert hypergeom.bd0(x, mean)[3] == pytest.approx(9 / 2e6, rel=1e-5)  # ≈ (x − mean)² / 2x near the mean


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), upper=st.booleans())
def test_a_tables_tail_is_the_same_alone_or_with_others(seed, upper):
    # the page computes tails in batches of whatever rows need them: a table's p must not depend on them
    # (a short tail beside long ones: a sum whose grouping followed the batch's width changed its last bit)
    rng = np.random.default_rng(seed)
    k, total, good, draws = (np.concatenate(parts) for parts in zip(
        tables(rng, 12, 10**6), ([rng.integers(5, 40)], [1000], [400], [60]), ([rng.integers(100, 400)], [20000], [10000], [800])))
    together = hypergeom.tail(k, total, good, draws, upper)
    alone = [float(hypergeom.tail(*t, upper)[0]) for t in zip(k, total, good, draws)]
    assert together.tolist() == alone

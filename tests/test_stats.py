"""lib.stats against independent tools: every expected number below was computed with scipy 1.17.1
or statsmodels 0.15.0 (the call is written beside it), not with the formula under test."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lib import stats


# (x1, n1, x2, n2) → p. Large expected cells: statsmodels.stats.proportion.proportions_ztest([x1, x2], [n1, n2]);
# an expected cell under 5: scipy.stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue.
@pytest.mark.parametrize("x1,n1,x2,n2,expected_p", [
    (30, 1000, 20, 1000, 0.15207808079297525),    # proportions_ztest, z = 1.4322297
    (120, 5000, 90, 5200, 0.01734012266875593),   # proportions_ztest, z = 2.3794154
    (2, 300, 1, 2000, 0.046492004129392174),      # fisher_exact (z-test would say 0.0058)
    (0, 50, 3, 60, 0.24937447873227692),          # fisher_exact
    (7, 700, 2, 9000, 3.135989339534029e-07),     # fisher_exact
    (1, 481, 0, 8299, 0.054783599088838265),      # fisher_exact — the review's case (z-test: 7.8e-5)
])
def test_two_proportion_test_matches_statsmodels_and_scipy(x1, n1, x2, n2, expected_p):
    t = stats.two_proportion_test(x1, n1, x2, n2)
    assert t.p_value == pytest.approx(expected_p, rel=1e-6)
    assert math.copysign(1, t.z) == math.copysign(1, x1 / n1 - x2 / n2)


def test_exact_path_z_is_equivalent_to_its_p():
    t = stats.two_proportion_test(1, 481, 0, 8299)
    assert 2 * (1 - stats.normal_cdf(abs(t.z))) == pytest.approx(t.p_value, rel=1e-6)
    assert not t.worse("above", 0.05)


# statsmodels.stats.proportion.proportion_confint(x, n, method="wilson")
@pytest.mark.parametrize("x,n,low,high", [
    (5, 20, 0.11186170140766563, 0.4687008776187441),
    (0, 10, 0.0, 0.27753279986288926),
    (10, 10, 0.7224672001371106, 1.0),
    (1, 400, 0.0004414477868016353, 0.014023285075823394),
    (60, 20000, 0.002331577400561312, 0.0038593064392066856),
])
def test_wilson_matches_statsmodels(x, n, low, high):
    assert stats.wilson_interval(x, n) == pytest.approx((low, high), abs=1e-9)


@pytest.mark.parametrize("x,n,threshold,direction,expected", [
    (1, 400, 0.001, "above", False),     # 0.25 % but interval 0.044 %–1.40 % spans the 0.1 % limit
    (60, 20000, 0.001, "above", True),   # 0.30 %, interval 0.233 %–0.386 % clears it
    (5, 20, 0.5, "below", True),         # 25 %, interval high 46.9 % < 50 %
    (10, 20, 0.5, "below", False),
    (0, 0, 0.5, "below", False),         # nothing to judge
])
def test_rate_clears_threshold(x, n, threshold, direction, expected):
    assert stats.rate_clears_threshold(x, n, threshold, direction) is expected


def test_benjamini_hochberg_matches_statsmodels():
    # statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    expected = [0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.10571429, 0.216, 0.216, 0.216]
    assert stats.adjust_p_values(p) == pytest.approx(expected, abs=1e-8)
    # multipletests(p, method="bonferroni")[1]
    assert stats.adjust_p_values(p, "bonferroni")[:4] == pytest.approx([0.01, 0.08, 0.39, 0.41])


def test_adjust_p_values_keeps_nan_in_place():
    out = stats.adjust_p_values([0.01, math.nan, 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)


def test_cluster_rate_interval_matches_statsmodels_wls_cluster():
    # sm.WLS(x/n, ones, weights=n).fit(cov_type="cluster", cov_kwds={"groups": arange(4)}):
    # params 0.02118644, bse 0.00396611, conf_int 0.013413–0.02895988
    p, low, high = stats.cluster_rate_interval([10, 30, 5, 80], [1000, 1500, 400, 3000])
    assert (p, low, high) == pytest.approx((0.02118644, 0.013413, 0.02895988), abs=1e-7)


def test_cluster_interval_is_wider_than_wilson_when_sends_differ():
    x, n = [10, 90, 12, 85], [1000, 1000, 1000, 1000]
    _, low, high = stats.cluster_rate_interval(x, n)
    wl, wh = stats.wilson_interval(sum(x), sum(n))
    assert high - low > 3 * (wh - wl)


def test_trend_slope_matches_statsmodels_hac():
    # sm.OLS(y, add_constant(arange(12))).fit(cov_type="HAC", cov_kwds={"maxlags": 2}, use_t=True):
    # slope 0.003531468531468532, conf_int 0.00232553–0.0047374
    y = [.20, .22, .21, .19, .23, .22, .20, .24, .22, .23, .25, .24]
    t = stats.trend_slope(range(12), y)
    assert (t.slope, t.low, t.high) == pytest.approx((0.0035314685, 0.00232553, 0.0047374), abs=1e-7)
    assert not t.within_noise


def test_trend_slope_of_noise_is_within_noise_and_short_series_is_nan():
    assert stats.trend_slope(range(8), [1, 3, 2, 3, 1, 2, 3, 1]).within_noise
    assert math.isnan(stats.trend_slope([1, 2, 3], [1, 2, 3]).slope)


# The exact tail P(S ≤ s) summed term by term with scipy.stats.multinomial.pmf([a, n − a − d, d], n,
# baseline shares) over every (a promoters, d detractors) with a − d ≤ s — an independent computation.
@pytest.mark.parametrize("period,baseline,expected_p", [
    ((0, 0, 2), (45, 30, 25), 0.0625),
    ((1, 2, 5), (450, 300, 250), 0.014562622070312503),
    ((10, 10, 20), (900, 600, 500), 0.0003992619311726874),
    ((3, 1, 1), (40, 40, 20), 0.8105600000000003),
])
def test_nps_dip_exact_matches_multinomial_sum(period, baseline, expected_p):
    assert stats.nps_dip_test(*period, *baseline).p_value == pytest.approx(expected_p, rel=1e-9)


def test_nps_dip_score_test_uses_baseline_variance():
    # 2 detractors vs baseline 45/30/25 of 100: m = −1, m0 = 0.2, σ² = 0.7 − 0.04 = 0.66,
    # z = −1.2 / √(0.66 · (1/2 + 1/100)) = −1.2 / 0.58017 = −2.0683 (not −16.6)
    d = stats.nps_dip_test(0, 0, 2, 45, 30, 25)
    assert d.z == pytest.approx(-2.0683, abs=1e-4)
    assert (d.nps, d.baseline_nps, d.n) == (-100.0, 20.0, 2)


def test_nps_dip_large_period_uses_normal_score_test():
    # n = 500 > 400: p = Φ(z); m = (150 − 150)/500 = 0, m0 = 0.2, σ² = 0.66,
    # z = −0.2 / √(0.66 (1/500 + 1/1000)) = −0.2 / 0.044497 = −4.4947
    d = stats.nps_dip_test(150, 200, 150, 450, 300, 250)
    assert d.z == pytest.approx(-4.4947, abs=1e-4)
    assert d.p_value == pytest.approx(stats.normal_cdf(d.z))


def test_cmh_matches_statsmodels():
    # StratifiedTable(tables).oddsratio_pooled = 5.421052631578948,
    # .test_null_odds(correction=False).pvalue = 0.0006926387331326334
    orr, p = stats.cmh_test([[[2, 8], [5, 85]], [[1, 9], [3, 87]], [[3, 7], [4, 86]]])
    assert (orr, p) == pytest.approx((5.421052631578948, 0.0006926387331326334), rel=1e-9)


def test_correlation_with_changes_says_shared_trend():
    # two series that both rise, with unrelated wiggles: levels correlate, changes do not
    x = [1, 2.5, 2.8, 4.1, 5, 6.2, 6.9, 8.3, 9, 10.1, 11.2, 12]
    y = [10, 10.5, 11.9, 12.1, 13.5, 13.6, 15.2, 15.3, 16.8, 17, 18.4, 18.5]
    c = stats.correlation_with_changes(x, y)
    assert c.levels.p_value < 0.05 and c.shared_trend_only


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(1, 400), st.integers(0, 40), st.integers(1, 4000))
def test_two_proportion_p_is_a_probability_and_symmetric(x1, n1, x2, n2):
    x1, x2 = min(x1, n1), min(x2, n2)
    a = stats.two_proportion_test(x1, n1, x2, n2)
    b = stats.two_proportion_test(x2, n2, x1, n1)
    assert 0 <= a.p_value <= 1
    assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30),
       st.integers(1, 300), st.integers(0, 300), st.integers(1, 300))
def test_nps_dip_p_falls_as_the_period_gets_worse(p, pa, d, bp, bpa, bd):
    if p + pa + d == 0:
        return
    a = stats.nps_dip_test(p, pa, d, bp, bpa, bd)
    worse = stats.nps_dip_test(p, pa, d + 1, bp, bpa, bd)  # one more detractor, n + 1
    assert 0 <= a.p_value <= 1
    if p == 0 and pa == 0:
        assert worse.p_value <= a.p_value + 1e-12


def test_overdispersion_matches_statsmodels_glm_pearson_chi2():
    # sm.GLM(column_stack([x, n - x]), ones, family=Binomial()).fit(): pearson_chi2 = 5.9865407513936315,
    # df_resid = 4 → φ = 1.4966351878484079
    assert stats.overdispersion([50, 70, 40, 65, 55], [1000, 1100, 900, 1000, 1050]) == pytest.approx(
        1.4966351878484079, rel=1e-9)
    assert stats.overdispersion([50, 50, 50], [1000, 1000, 1000]) == 1.0  # no spread: binomial floor


def test_baseline_rate_test_falls_back_to_two_proportion_without_overdispersion():
    a = stats.baseline_rate_test(80, 1000, [50, 50, 50], [1000, 1000, 1000])
    b = stats.two_proportion_test(80, 1000, 150, 3000)
    assert (a.z, a.p_value) == (b.z, b.p_value)
    wide = stats.baseline_rate_test(80, 1000, [50, 70, 40, 65, 55], [1000, 1100, 900, 1000, 1050])
    plain = stats.two_proportion_test(80, 1000, 280, 5050)
    assert wide.p_value > plain.p_value  # the spread of the baseline periods makes the period less unusual
    # z = 2.45125 read on Student's t with 4 df: scipy.stats.t.sf(2.45125, 4) * 2 = 0.070350
    assert wide.p_value == pytest.approx(0.070350, abs=2e-6)


@pytest.mark.parametrize("x,n,alpha,low,high", [
    # scipy 1.17 binomtest(x, n).proportion_ci(confidence_level=1 - alpha, method='exact')
    (4, 610, 0.05, 0.0017894695, 0.0167037605),
    (2, 400, 0.05, 0.0006060978, 0.0179441446),
    (0, 50, 0.05, 0.0, 0.0711217365),
])
def test_exact_interval_against_scipy(x, n, alpha, low, high):
    assert stats.exact_interval(x, n, alpha) == pytest.approx((low, high), abs=1e-9)


@pytest.mark.parametrize("t_value,df,expected", [
    # scipy 1.17 scipy.stats.t.sf(t, df)
    (2.86, 22, 0.0045511357), (1.5, 5, 0.0969518401), (-2.0, 10, 0.9633059826),
])
def test_student_t_upper_against_scipy(t_value, df, expected):
    assert stats.student_t_upper(t_value, df) == pytest.approx(expected, abs=1e-9)
    assert stats.student_t_upper(t_value, math.inf) == pytest.approx(1 - stats.normal_cdf(t_value))


def test_adjust_family_reads_bh_for_flags_and_bonferroni_for_high():
    # statsmodels multipletests([.001, .02, .03, .5], method="fdr_bh")[1] = .004, .04, .04, .5;
    # method="bonferroni" → .004, .08, .12, 1.0
    p_bh, p_bonf, flagged, severity = stats.adjust_family([0.001, 0.02, 0.03, 0.5], [True, True, False, True], 0.05)
    assert p_bh == pytest.approx([0.004, 0.04, 0.04, 0.5]) and p_bonf == pytest.approx([0.004, 0.08, 0.12, 1.0])
    assert flagged == [True, True, False, False] and severity == ["high", "medium", "", ""]
    # a stricter p for "high" (cohorts widen it by the cohorts' spread): flagged stays, high goes
    _, strict, _, severity = stats.adjust_family([0.001, 0.5], [True, True], 0.05, strict_p_values=[0.04, 0.5])
    assert strict == pytest.approx([0.08, 1.0]) and severity == ["medium", ""]

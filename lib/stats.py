"""The statistics every page shares, in plain-language results: intervals, proportion tests,
control limits, correlation, multiple-testing control, trend slopes and NPS dips.

The one place that wraps scipy and statsmodels: pages and metric modules call these, never the
libraries directly. References: Wilson (1927) score interval; two-proportion z-test with pooled
variance, Fisher's exact test when an expected cell is under 5 (Agresti, Categorical Data Analysis,
3.5); p-chart limits p̄ ± z·√(p̄(1−p̄)/n) (Montgomery, Introduction to Statistical Quality Control,
ch. 7); Fisher z-transform interval for Pearson's r; Benjamini & Hochberg (1995); Newey & West (1987)
HAC standard errors; Cameron & Miller (2015) cluster-robust errors; Cochran–Mantel–Haenszel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054


def normal_cdf(x: float) -> float:
    """Standard normal CDF.

    >>> round(normal_cdf(1.959963984540054), 4)
    0.975
    """
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def z_for_alpha(alpha: float) -> float:
    """Two-sided critical z for significance `alpha`: Φ⁻¹(1 − alpha/2) (scipy.special.ndtri, exact to
    double precision; the own-history tests call it for thousands of p-values per page run).

    >>> round(z_for_alpha(0.05), 4)
    1.96
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    from scipy.special import ndtri
    return float(-ndtri(alpha / 2))


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (nan, nan) when n == 0.

    centre = (p + z²/2n) / (1 + z²/n); half = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n).
    Checked against statsmodels.stats.proportion.proportion_confint(5, 20, method='wilson')
    = (0.1118617, 0.4687009).
    >>> [round(v, 6) for v in wilson_interval(5, 20)]
    [0.111862, 0.468701]
    """
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class ProportionTest:
    """Result of comparing a proportion x1/n1 with a baseline x2/n2."""

    rate: float
    baseline: float
    z: float
    p_value: float  # two-sided

    def worse(self, direction: str, alpha: float) -> bool:
        """True when the rate is significantly worse: 'above' = higher is worse, 'below' = lower is worse."""
        if math.isnan(self.z) or self.p_value >= alpha:
            return False
        return self.z > 0 if direction == "above" else self.z < 0


def two_proportion_test(x1: float, n1: float, x2: float, n2: float) -> ProportionTest:
    """Compare x1/n1 with x2/n2, two-sided.

    Pooled z-test, z = (p1 − p2) / √(p̂(1−p̂)(1/n1 + 1/n2)), while every expected cell of the 2×2
    table is at least 5; otherwise Fisher's exact test (conditional on the total count), whose p is
    reported with the equivalent signed z = ±Φ⁻¹(1 − p/2), so rare rates (one complaint in a few
    hundred) are not judged by a normal curve they do not follow.

    Worked example: 30/1000 vs 20/1000 → p̂ = 0.025, se = √(0.025·0.975·0.002) = 0.006982,
    z = 0.01 / 0.006982 = 1.4322, two-sided p = 0.1521.
    >>> t = two_proportion_test(30, 1000, 20, 1000)
    >>> round(t.z, 4), round(t.p_value, 4)
    (1.4322, 0.1521)

    One complaint in 481 against none in 8,299 (expected 0.05 in the first cell) → exact p = 481/8780
    = 0.0548 (scipy.stats.fisher_exact([[1, 480], [0, 8299]]) = 0.054784), not the z-test's 7.8e-5.
    >>> round(two_proportion_test(1, 481, 0, 8299).p_value, 4)
    0.0548
    """
    if n1 <= 0 or n2 <= 0:
        return ProportionTest(math.nan, math.nan, math.nan, 1.0)
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected < 5:
        p = fisher_exact_test(x1, n1 - x1, x2, n2 - x2)
        z = 0.0 if p1 == p2 else math.copysign(_z_from_two_sided_p(p), p1 - p2)
        return ProportionTest(p1, p2, z, p)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se
    return ProportionTest(p1, p2, z, 2 * (1 - normal_cdf(abs(z))))


def _z_from_two_sided_p(p: float) -> float:
    return z_for_alpha(max(p, 1e-300)) if p < 1 else 0.0


def fisher_exact_test(a: float, b: float, c: float, d: float, alternative: str = "two-sided") -> float:
    """p of Fisher's exact test on the 2×2 table [[a, b], [c, d]] (scipy.stats.fisher_exact).

    `alternative` 'greater' asks whether the first row has the larger share in the first column.
    Worked example: 3 of 1,000 vs 1 of 5,000 → p = 0.016169 (scipy 1.17).
    >>> round(fisher_exact_test(3, 997, 1, 4999), 6)
    0.016169
    """
    from scipy.stats import fisher_exact
    cells = [[round(a), round(b)], [round(c), round(d)]]
    return float(fisher_exact(cells, alternative=alternative).pvalue)


def p_chart_limits(baseline: float, n: float, z: float = 3.0) -> tuple[float, float]:
    """Control limits for a proportion with sample size n around a baseline rate p̄.

    >>> [round(v, 4) for v in p_chart_limits(0.02, 10000)]
    [0.0158, 0.0242]
    """
    if n <= 0:
        return (math.nan, math.nan)
    half = z * math.sqrt(baseline * (1 - baseline) / n)
    return (max(0.0, baseline - half), min(1.0, baseline + half))


@dataclass(frozen=True)
class Correlation:
    r: float
    n: int
    low: float  # 95% interval (Fisher z)
    high: float
    p_value: float  # normal approximation on Fisher z, two-sided


def pearson(xs: list[float], ys: list[float]) -> Correlation:
    """Pearson's r with a 95% Fisher-z interval; nan when n < 4 or a series is constant.

    Worked example: x = 1..5, y = 2,4,5,4,5 → r = 0.7746 (√0.6).
    >>> round(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]).r, 4)
    0.7746
    """
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys)
             if x is not None and y is not None and not (math.isnan(float(x)) or math.isnan(float(y)))]
    n = len(pairs)
    nan = Correlation(math.nan, n, math.nan, math.nan, math.nan)
    if n < 3:
        return nan
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    syy = sum((p[1] - my) ** 2 for p in pairs)
    if sxx == 0 or syy == 0:
        return nan
    r = sum((p[0] - mx) * (p[1] - my) for p in pairs) / math.sqrt(sxx * syy)
    r = max(-1.0, min(1.0, r))
    if n < 4 or abs(r) == 1:
        return Correlation(r, n, math.nan, math.nan, math.nan if n < 4 else 0.0)
    fz = math.atanh(r)
    se = 1 / math.sqrt(n - 3)
    return Correlation(r, n, math.tanh(fz - Z95 * se), math.tanh(fz + Z95 * se),
                       2 * (1 - normal_cdf(abs(fz) / se)))


def adjust_p_values(p_values, method: str = "fdr_bh") -> list[float]:
    """Adjusted p-values for a family of tests (statsmodels multipletests); nan stays nan.

    'fdr_bh' — Benjamini–Hochberg: controls the share of false flags among the flagged; used for
    "worse than its own history" over every send and rate. 'bonferroni' — family-wise: p × m,
    for the claims called "high". A test is significant when its adjusted p < alpha.
    Worked example (BH, m = 4): p = .01, .02, .03, .5 → .01·4/1, .02·4/2, .03·4/3, .5 = .04, .04, .04, .5.
    >>> [round(v, 4) for v in adjust_p_values([0.01, 0.02, 0.03, 0.5])]
    [0.04, 0.04, 0.04, 0.5]
    """
    from statsmodels.stats.multitest import multipletests
    values = np.asarray(list(p_values), dtype=float)
    out = np.full(values.shape, np.nan)
    ok = ~np.isnan(values)
    if ok.any():
        out[ok] = multipletests(values[ok], method=method)[1]
    return out.tolist()


def adjust_family(p_values, worse, alpha: float, strict_p_values=None
                  ) -> tuple[list[float], list[float], list[bool], list[str]]:
    """One family of tests read together: (p_bh, p_bonferroni, flagged, severity).

    p_bh = Benjamini–Hochberg over the family, p_bonferroni = Bonferroni over `strict_p_values`
    (default the same p-values; nan for untested rows); flagged = `worse` (the test's bad side) and
    p_bh < alpha; severity 'high' when flagged and p_bonferroni < alpha too, 'medium' when only
    flagged, '' otherwise.
    >>> adjust_family([0.001, 0.02, 0.03, 0.5], [True, True, False, True], 0.05)[2:]
    ([True, True, False, False], ['high', 'medium', '', ''])
    """
    p_bh = adjust_p_values(p_values, "fdr_bh")
    strict = adjust_p_values(p_values if strict_p_values is None else strict_p_values, "bonferroni")
    flagged = [bool(w) and q < alpha for w, q in zip(worse, p_bh)]
    severity = ["high" if f and b < alpha else "medium" if f else "" for f, b in zip(flagged, strict)]
    return p_bh, strict, flagged, severity


def rate_clears_threshold(successes: float, n: float, threshold: float, direction: str,
                          z: float = Z95) -> bool:
    """True when the whole Wilson interval of successes/n lies beyond the threshold.

    direction 'above': a rate above the threshold is bad (the interval's low end must exceed it);
    'below': a rate below is bad (the high end must be under it). One complaint in 400 (0.25 %)
    against a 0.1 % limit has an interval of 0.04 %–1.4 %: too few sends to tell, no flag.
    >>> rate_clears_threshold(1, 400, 0.001, "above"), rate_clears_threshold(60, 20000, 0.001, "above")
    (False, True)
    """
    low, high = wilson_interval(successes, n, z)
    if math.isnan(low):
        return False
    return low > threshold if direction == "above" else high < threshold


def cluster_rate_interval(successes, trials, z: float = Z95) -> tuple[float, float, float]:
    """Pooled rate Σx / Σn with a cluster-robust interval, one cluster per send.

    Recipients of one send share its subject, time and audience, so sends vary far more than
    independent recipients would. Ratio-estimator variance with the G/(G−1) small-sample factor:
    se = √(G/(G−1) · Σ (x_g − p·n_g)²) / Σ n_g  (Cameron & Miller 2015) — the same as statsmodels
    WLS of x/n on a constant, weights n, cov_type='cluster' by send. Returns (rate, low, high);
    with fewer than 2 sends the interval is nan.
    Worked example: 10/1000, 30/1500, 5/400, 80/3000 → p = 125/5900 = 0.021186, se = 0.003966,
    95 % interval 0.013413–0.028960 (statsmodels 0.15 WLS cluster).
    >>> [round(v, 6) for v in cluster_rate_interval([10, 30, 5, 80], [1000, 1500, 400, 3000])]
    [0.021186, 0.013413, 0.02896]
    """
    x = np.asarray(list(successes), dtype=float)
    n = np.asarray(list(trials), dtype=float)
    keep = n > 0
    x, n = x[keep], n[keep]
    if n.sum() <= 0:
        return (math.nan, math.nan, math.nan)
    p = float(x.sum() / n.sum())
    g = len(n)
    if g < 2:
        return (p, math.nan, math.nan)
    se = math.sqrt(g / (g - 1) * float(np.sum((x - p * n) ** 2))) / float(n.sum())
    return (p, max(0.0, p - z * se), min(1.0, p + z * se))


@dataclass(frozen=True)
class TrendSlope:
    """A least-squares slope per step of x, with an autocorrelation-robust 95 % interval."""

    slope: float
    low: float
    high: float
    p_value: float
    n: int

    @property
    def within_noise(self) -> bool:
        """True when the interval spans 0: the series may not be trending at all."""
        return math.isnan(self.low) or self.low <= 0 <= self.high


def trend_slope(xs, ys) -> TrendSlope:
    """OLS slope of y on x with Newey–West (HAC) errors, t-based interval.

    Lag L = ⌊4·(n/100)^(2/9)⌋ (Newey & West 1994's rule), at least 1; statsmodels OLS with
    cov_type='HAC', use_t=True. Neighbouring periods of a marketing series are correlated, so the
    plain OLS interval is too narrow. nan below 4 points or with constant x.
    Worked example: 12 monthly open rates .20 .22 .21 .19 .23 .22 .20 .24 .22 .23 .25 .24 →
    slope 0.003531 per month (statsmodels 0.15, L = 2, t-based: interval 0.002326–0.004737).
    >>> t = trend_slope(range(12), [.20, .22, .21, .19, .23, .22, .20, .24, .22, .23, .25, .24])
    >>> round(t.slope, 6), t.within_noise
    (0.003531, False)
    """
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys)
             if x is not None and y is not None and not (math.isnan(float(x)) or math.isnan(float(y)))]
    n = len(pairs)
    if n < 4 or len({p[0] for p in pairs}) < 2:
        return TrendSlope(math.nan, math.nan, math.nan, math.nan, n)
    import statsmodels.api as sm
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    lags = max(1, int(4 * (n / 100) ** (2 / 9)))
    fit = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HAC", cov_kwds={"maxlags": lags}, use_t=True)
    low, high = fit.conf_int()[1]
    return TrendSlope(float(fit.params[1]), float(low), float(high), float(fit.pvalues[1]), n)


@dataclass(frozen=True)
class TrendAwareCorrelation:
    """Pearson's r on the levels and on period-to-period changes of two time series."""

    levels: Correlation
    changes: Correlation

    @property
    def shared_trend_only(self) -> bool:
        """True when the levels correlate significantly but their changes do not: both series
        drift over time (two random walks correlate half the time), they do not move together."""
        return (not math.isnan(self.levels.p_value) and self.levels.p_value < 0.05
                and not (not math.isnan(self.changes.p_value) and self.changes.p_value < 0.05
                         and self.changes.r * self.levels.r > 0))


def correlation_with_changes(xs, ys) -> TrendAwareCorrelation:
    """r on levels and r on first differences (Δx_t = x_t − x_{t−1}) of two series in time order.

    Pairs with a missing value break the chain: a change is only taken between neighbours that
    both exist. Worked example: x = 1,2,3,4,5,6 and y = 1,3,2,4,3,5 — levels r = 0.8315, changes
    Δx = 1,1,1,1,1 are constant, so r on changes is nan and the levels alone are reported.
    >>> c = correlation_with_changes([1, 2, 3, 4, 5, 6], [1, 3, 2, 4, 3, 5])
    >>> round(c.levels.r, 4), math.isnan(c.changes.r)
    (0.8315, True)
    """
    xs, ys = list(xs), list(ys)
    dx, dy = [], []
    for i in range(1, min(len(xs), len(ys))):
        vals = (xs[i], xs[i - 1], ys[i], ys[i - 1])
        if any(v is None or math.isnan(float(v)) for v in vals):
            continue
        dx.append(float(xs[i]) - float(xs[i - 1]))
        dy.append(float(ys[i]) - float(ys[i - 1]))
    return TrendAwareCorrelation(pearson(xs, ys), pearson(dx, dy))


@dataclass(frozen=True)
class NpsDip:
    """A period's NPS held against a baseline mix of answers."""

    nps: float
    baseline_nps: float
    z: float  # score test: baseline variance, so a period of one kind of answer is not infinitely sure
    p_value: float  # one-sided, chance of an NPS this low or lower if the period had the baseline mix
    n: int


EXACT_NPS_MAX_N = 400


def nps_dip_test(promoters: int, passives: int, detractors: int,
                 base_promoters: int, base_passives: int, base_detractors: int) -> NpsDip:
    """Is the period's NPS lower than the baseline mix would give by chance?

    Each answer scores +1 (promoter), 0 (passive), −1 (detractor); NPS = 100 × mean score.
    Under the null the period's n answers are drawn from the baseline shares (π₊, π₀, π₋).
    p = P(S ≤ s) for the period's score sum S, exactly (the trinomial sum, by convolution) up to
    400 answers, by the normal score test above. The score test's z uses the baseline's variance
    σ² = π₊ + π₋ − (π₊ − π₋)² and its own uncertainty: z = (m − m₀) / √(σ²(1/n + 1/n₀)).
    Worked example: 2 answers, both detractors, against a baseline of 45 / 30 / 25 of 100 →
    p = 0.25² = 0.0625 (no dip: the old test, with the period's own zero variance, gave z = −16.6).
    >>> round(nps_dip_test(0, 0, 2, 45, 30, 25).p_value, 4)
    0.0625
    """
    n = promoters + passives + detractors
    nb = base_promoters + base_passives + base_detractors
    if n <= 0 or nb <= 0:
        return NpsDip(math.nan, math.nan, math.nan, math.nan, n)
    pp, pd_ = base_promoters / nb, base_detractors / nb
    m, m0 = (promoters - detractors) / n, pp - pd_
    var0 = pp + pd_ - m0 * m0
    se = math.sqrt(var0 * (1 / n + 1 / nb)) if var0 > 0 else 0.0
    z = (m - m0) / se if se > 0 else (0.0 if m == m0 else math.copysign(math.inf, m - m0))
    if n <= EXACT_NPS_MAX_N:
        step = np.array([pd_, 1 - pp - pd_, pp])  # score −1, 0, +1
        pmf = np.array([1.0])
        for _ in range(n):
            pmf = np.convolve(pmf, step)
        # pmf[k] is P(S = k − n); S observed = promoters − detractors
        p = float(min(1.0, pmf[: promoters - detractors + n + 1].sum()))
    else:
        p = normal_cdf(z) if not math.isinf(z) else (0.0 if z < 0 else 1.0)
    return NpsDip(100 * m, 100 * m0, z, p, n)


def cmh_test(tables) -> tuple[float, float]:
    """Cochran–Mantel–Haenszel test over strata of 2×2 tables [[a, b], [c, d]].

    Returns (pooled odds ratio, p of the null odds ratio 1, no continuity correction) —
    statsmodels StratifiedTable. For "churn after an incident": one table per day, so a customer
    is compared with customers at risk the same day and never counted twice in one table.
    Worked example (statsmodels 0.15): [[2,8],[5,85]], [[1,9],[3,87]], [[3,7],[4,86]] →
    OR 5.4211, p 0.000693.
    >>> orr, p = cmh_test([[[2, 8], [5, 85]], [[1, 9], [3, 87]], [[3, 7], [4, 86]]])
    >>> round(orr, 4), round(p, 6)
    (5.4211, 0.000693)
    """
    from statsmodels.stats.contingency_tables import StratifiedTable
    usable = [np.asarray(t, dtype=float) for t in tables if np.asarray(t, dtype=float).sum() > 0]
    if not usable:
        return (math.nan, math.nan)
    table = StratifiedTable(usable)
    return (float(table.oddsratio_pooled), float(table.test_null_odds(correction=False).pvalue))


def overdispersion(successes, trials) -> float:
    """Pearson dispersion φ = χ² / (k − 1) of k periods around their pooled rate, at least 1.

    χ² = Σ (x_i − n_i·p)² / (n_i·p·(1 − p)), p = Σx / Σn. Binomial noise alone gives φ ≈ 1; rates
    that vary from period to period more than their audiences explain (real ones do) give φ > 1.
    Same as statsmodels GLM(Binomial) pearson_chi2 / df_resid on an intercept-only model.
    Worked example: 50/1000, 70/1100, 40/900, 65/1000, 55/1050 → χ² = 5.9865 on 4 df, φ = 1.4966.
    >>> round(overdispersion([50, 70, 40, 65, 55], [1000, 1100, 900, 1000, 1050]), 4)
    1.4966
    """
    x = np.asarray(list(successes), dtype=float)
    n = np.asarray(list(trials), dtype=float)
    keep = n > 0
    x, n = x[keep], n[keep]
    if len(n) < 2 or n.sum() <= 0:
        return 1.0
    p = x.sum() / n.sum()
    if p <= 0 or p >= 1:
        return 1.0
    chi2 = float(np.sum((x - n * p) ** 2 / (n * p * (1 - p))))
    return max(1.0, chi2 / (len(n) - 1))


def baseline_rate_test(x: float, n: float, prior_x, prior_n) -> ProportionTest:
    """A period's rate x/n against its trailing baseline Σprior_x / Σprior_n, allowing for the
    baseline periods' own spread.

    When the baseline periods vary no more than binomial noise (φ = 1), the two-proportion test
    (Fisher's exact for small counts). Otherwise a quasi-binomial test with the variance inflated by
    φ (`overdispersion`): z = (p − p₀) / √(φ·p̄(1−p̄)(1/n + 1/N)), p̄ pooled, read against Student's t
    with k − 1 degrees of freedom, as φ is estimated from only the k baseline periods (quasi-likelihood,
    McCullagh & Nelder 1989, §9.2) — so a period is only unusual when it is unusual against how much
    periods usually differ, and a few baseline periods make the test humbler, not bolder.
    Worked example: 80/1000 against 50/1000, 70/1100, 40/900, 65/1000, 55/1050 (φ = 1.4966):
    baseline 280/5050 = 0.055446, pooled 360/6050 = 0.059504,
    se = √(1.4966·0.059504·0.940496·(1/1000 + 1/5050)) = 0.010017,
    z = (0.08 − 0.055446) / 0.010017 = 2.45125, t with 4 df: p = 0.07035 (scipy 2·t.sf(2.45125, 4);
    the plain z-test says p = 0.0027).
    >>> t = baseline_rate_test(80, 1000, [50, 70, 40, 65, 55], [1000, 1100, 900, 1000, 1050])
    >>> round(t.z, 4), round(t.p_value, 5)
    (2.4513, 0.07035)
    """
    px = [float(v) for v in prior_x]
    pn = [float(v) for v in prior_n]
    base_x, base_n = sum(px), sum(pn)
    phi = overdispersion(px, pn)
    if phi <= 1.0 or n <= 0 or base_n <= 0:
        return two_proportion_test(x, n, base_x, base_n)
    p1, p0 = x / n, base_x / base_n
    pooled = (x + base_x) / (n + base_n)
    se = math.sqrt(phi * pooled * (1 - pooled) * (1 / n + 1 / base_n))
    z = (p1 - p0) / se if se > 0 else 0.0
    df = sum(1 for v in pn if v > 0) - 1
    return ProportionTest(p1, p0, z, 2 * student_t_upper(abs(z), df))


def exact_interval(successes: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Clopper–Pearson (exact binomial) interval for successes/n at level 1 − alpha; (nan, nan)
    when n == 0 (statsmodels proportion_confint, method 'beta').

    Never narrower than its level claims, which matters for a few events at a strict level:
    4 unsubscribes in 610 at the Bonferroni level of 352 sends has a Wilson low end of 0.12 %
    (clear of a 0.1 % limit) though P(X ≥ 4 | 0.1 %) = 0.0034; the exact interval says so.
    Worked example: 4 of 610 at 95 % → 0.001789–0.016704 (scipy binomtest(4, 610)
    .proportion_ci(method='exact') agrees).
    >>> [round(v, 6) for v in exact_interval(4, 610)]
    [0.001789, 0.016704]
    """
    if n <= 0:
        return (math.nan, math.nan)
    from statsmodels.stats.proportion import proportion_confint
    low, high = proportion_confint(round(successes), round(n), alpha=alpha, method="beta")
    return (float(low), float(high))


def student_t_upper(t_value: float, df: float) -> float:
    """P(T ≥ t) for Student's t with `df` degrees of freedom (scipy.stats.t.sf); the normal tail
    when df is infinite. For a z whose spread was estimated from only df + 1 subjects.
    Worked example: t = 2.86 on 22 df → 0.004551 (the normal tail says 0.0021).
    >>> round(student_t_upper(2.86, 22), 6)
    0.004551
    """
    from scipy.stats import t as student_t
    if math.isinf(df):
        return 1 - normal_cdf(t_value)
    return float(student_t.sf(t_value, df))


# ------------------------------------------------------------------ array forms
# The same numbers as the scalar functions above, one scipy call for a whole column instead of one
# per row (the own-history and threshold tests run thousands per page). tests/test_stats_arrays.py
# checks each against its scalar twin, element by element, exactly.

def exact_intervals(successes, n, alpha=0.05) -> tuple[np.ndarray, np.ndarray]:
    """`exact_interval` for arrays (alpha a number or an array): Clopper–Pearson with counts rounded,
    low = Beta⁻¹(alpha/2; x, n − x + 1) (0 when x = 0), high = Beta⁻¹(1 − alpha/2; x + 1, n − x)
    (1 when x = n) — statsmodels' 'beta' method; nan where n ≤ 0.
    >>> [[round(float(v), 6) for v in side] for side in exact_intervals([4, 0], [610, 10])]
    [[0.001789, 0.0], [0.016704, 0.308497]]
    """
    from scipy.stats import beta

    raw_n = np.asarray(n, dtype=float)
    x = np.round(np.asarray(successes, dtype=float))
    total = np.round(raw_n)
    half = np.broadcast_to(np.asarray(alpha, dtype=float) / 2.0, x.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.asarray(beta.ppf(half, x, total - x + 1), dtype=float)
        high = np.asarray(beta.isf(half, x + 1, total - x), dtype=float)
        share = x / total
    low = np.where(share == 0, 0.0, low)
    high = np.where(share == 1, 1.0, high)
    bad = ~(raw_n > 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def student_t_upper_array(t_values, df) -> np.ndarray:
    """`student_t_upper` for arrays: P(T ≥ t) on Student's t with `df` (scipy.stats.t.sf), the normal
    tail 1 − Φ(t) where df is infinite; nan where t is nan.
    >>> [round(float(v), 6) for v in student_t_upper_array([2.86, 1.959963984540054], [22, math.inf])]
    [0.004551, 0.025]
    """
    from scipy.stats import t as student_t

    t = np.asarray(t_values, dtype=float)
    d = np.broadcast_to(np.asarray(df, dtype=float), t.shape)
    out = np.full(t.shape, np.nan)
    normal = np.isinf(d) & ~np.isnan(t)
    # math.erf per element, as normal_cdf: the same last digit as the scalar function
    out[normal] = [1 - normal_cdf(v) for v in t[normal].tolist()]
    finite = ~np.isinf(d) & ~np.isnan(t)
    if finite.any():
        out[finite] = student_t.sf(t[finite], d[finite])
    return out


def z_of_upper_p_array(p_values, clamp: float = 10.0) -> np.ndarray:
    """Φ⁻¹(1 − p) per element (the normal z whose upper tail is p), clamped to ±`clamp`; p is first
    held inside [1e-300, 1 − 1e-12]; nan stays nan. The array form of email's `_z_of_upper_p`.
    >>> [round(float(v), 4) for v in z_of_upper_p_array([0.025, 0.975, 0.5])]
    [1.96, -1.96, 0.0]
    """
    from scipy.special import ndtri

    p = np.minimum(np.maximum(np.asarray(p_values, dtype=float), 1e-300), 1 - 1e-12)
    with np.errstate(invalid="ignore"):
        # z_for_alpha(2p) = −Φ⁻¹(p) below ½ (2p/2 is exact), −z_for_alpha(2(1 − p)) = Φ⁻¹(1 − p) above
        z = np.where(p < 0.5, -ndtri(p), ndtri((2 * (1 - p)) / 2))
    z = np.where(p == 0.5, 0.0, z)
    return np.where(np.isnan(p), np.nan, np.clip(z, -clamp, clamp))


def fisher_one_sided_array(a, b, c, d, alternative: str) -> np.ndarray:
    """`fisher_exact_test` with alternative 'greater' or 'less', per element of four arrays of cells
    (rounded): the hypergeometric tail of the first cell, X = the first row's share of the first
    column's a + c — 'less': P(X ≤ a), 'greater': P(X ≥ a) (scipy writes it as P(Y ≤ b) of the second
    column: the same event, Y = a + b − X) — by `lib.hypergeom.tail`, ~8× faster than scipy's and
    closer to the exact value (tests/test_hypergeom.py); 1 where a row or column is empty.
    >>> [round(float(v), 6) for v in fisher_one_sided_array([1], [480], [0], [8299], 'greater')]
    [0.054784]
    """
    from lib import hypergeom

    a, b, c, d = (np.round(np.asarray(v, dtype=float)).astype(np.int64) for v in (a, b, c, d))
    n1, n2 = a + b, c + d
    if alternative not in ("less", "greater"):
        raise ValueError("alternative must be 'greater' or 'less'")
    p = hypergeom.tail(a, n1 + n2, n1, a + c, upper=alternative == "greater")
    empty = (n1 == 0) | (n2 == 0) | (a + c == 0) | (b + d == 0)
    return np.where(empty, 1.0, np.minimum(p, 1.0))


def fisher_two_sided_array(a, b, c, d) -> np.ndarray:
    """`fisher_exact_test` (two-sided) per element of four arrays of cells (rounded): scipy's own
    algorithm step for step — p = 1 when the first cell's probability equals the mode's (within
    1e-14) or a row or column is empty; otherwise the tail on the first cell's side plus the far tail
    of the tables no more likely than it (probability ≤ p(a)·(1 + 1e-14)), found by the same binary
    search, run for every table at once — so each p is scipy's to the last bit.
    >>> [round(float(v), 6) for v in fisher_two_sided_array([1, 3], [480, 997], [0, 1], [8299, 4999])]
    [0.054784, 0.016169]
    """
    from scipy.stats import hypergeom

    a, b, c, d = (np.atleast_1d(np.round(np.asarray(v, dtype=float))).astype(np.int64) for v in (a, b, c, d))
    out = np.ones(a.shape)
    n1, n2, n = a + b, c + d, a + c
    live = ~((n1 == 0) | (n2 == 0) | (n == 0) | (b + d == 0))
    if not live.any():
        return out
    a, n1, n2, n = a[live], n1[live], n2[live], n[live]
    total = n1 + n2
    mode = np.floor((n + 1) * (n1 + 1) / (n1 + n2 + 2)).astype(np.int64)  # int() of a positive float

    def pmf(k, sel):
        return np.asarray(hypergeom.pmf(k, total[sel], n1[sel], n[sel]), dtype=float)

    every = np.ones(a.shape, dtype=bool)
    pexact, pmode = pmf(a, every), pmf(mode, every)
    gamma = 1 + 1e-14
    p = np.ones(a.shape)
    at_mode = np.abs(pexact - pmode) / np.maximum(pexact, pmode) <= 1e-14
    lower = ~at_mode & (a < mode)
    upper = ~at_mode & ~(a < mode)
    near = np.zeros(a.shape)
    if lower.any():
        near[lower] = hypergeom.cdf(a[lower], total[lower], n1[lower], n[lower])
    if upper.any():
        near[upper] = hypergeom.sf(a[upper] - 1, total[upper], n1[upper], n[upper])
    # the far end alone more likely than the observed table: its side's tail is the p-value
    end = np.where(lower, n, 0)
    one_tail = (lower | upper) & (pmf(end, every) > pexact * gamma)
    p = np.where(one_tail, near, p)
    search = (lower | upper) & ~one_tail
    if search.any():
        # scipy's _binary_search on f = −pmf from the mode to n (lower side) or pmf from 0 to the mode:
        # the i with f(i) ≤ target < f(i + 1)
        sign = np.where(lower, -1.0, 1.0)
        target = sign * pexact * gamma
        lo, hi = np.where(lower, mode, 0), np.where(lower, n, mode)
        found = np.full(a.shape, -1, dtype=np.int64)
        while True:
            step = search & (found < 0) & (lo < hi)
            if not step.any():
                break
            mid = lo + (hi - lo) // 2
            value = sign[step] * pmf(mid[step], step)
            below, above = value < target[step], value > target[step]
            idx = np.flatnonzero(step)
            lo[idx[below]] = mid[idx[below]] + 1
            hi[idx[above]] = mid[idx[above]] - 1
            equal = idx[~below & ~above]
            found[equal] = mid[equal]
        rest = search & (found < 0)
        if rest.any():
            at_lo = sign[rest] * pmf(lo[rest], rest) <= target[rest]
            found[rest] = np.where(at_lo, lo[rest], lo[rest] - 1)
        far = np.zeros(a.shape)
        s_low, s_up = search & lower, search & upper
        if s_low.any():
            far[s_low] = hypergeom.sf(found[s_low], total[s_low], n1[s_low], n[s_low])
        if s_up.any():
            far[s_up] = hypergeom.cdf(found[s_up], total[s_up], n1[s_up], n[s_up])
        p = np.where(search, near + far, p)
    out[live] = np.minimum(p, 1.0)
    return out


def two_proportion_test_arrays(x1, n1, x2, n2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`two_proportion_test` per element: (rate, baseline, z, p_value) arrays, each element equal to
    the scalar function's fields to the last bit (pooled z-test while every expected cell is ≥ 5,
    Fisher's exact (`fisher_two_sided_array`) otherwise; nan, nan, nan, 1 where n1 or n2 ≤ 0).
    Worked example as the scalar's: 30/1000 vs 20/1000 → z = 1.4322, p = 0.1521; 1/481 vs 0/8299 → p = 0.0548.
    >>> r, b, z, p = two_proportion_test_arrays([30, 1], [1000, 481], [20, 0], [1000, 8299])
    >>> [round(float(v), 4) for v in z[:1]], [round(float(v), 4) for v in p]
    ([1.4322], [0.1521, 0.0548])
    """
    from scipy.special import ndtri

    x1, n1, x2, n2 = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x1, n1, x2, n2))
    size = x1.shape
    rate, base, z, p = np.full(size, np.nan), np.full(size, np.nan), np.full(size, np.nan), np.ones(size)
    ok = (n1 > 0) & (n2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        pooled = (x1 + x2) / (n1 + n2)
        expected = np.minimum(np.minimum(n1 * pooled, n1 * (1 - pooled)), np.minimum(n2 * pooled, n2 * (1 - pooled)))
    rate[ok], base[ok] = p1[ok], p2[ok]
    exact = ok & (expected < 5)
    if exact.any():
        pe = fisher_two_sided_array(x1[exact], (n1 - x1)[exact], x2[exact], (n2 - x2)[exact])
        with np.errstate(divide="ignore"):
            ze = np.where(pe < 1, -ndtri(np.maximum(pe, 1e-300) / 2), 0.0)  # _z_from_two_sided_p
        d1, d2 = p1[exact], p2[exact]
        z[exact] = np.where(d1 == d2, 0.0, np.copysign(ze, d1 - d2))
        p[exact] = pe
    normal = ok & ~exact
    if normal.any():
        se = np.sqrt(pooled[normal] * (1 - pooled[normal]) * (1 / n1[normal] + 1 / n2[normal]))
        zn = (p1[normal] - p2[normal]) / se
        z[normal] = zn
        # math.erf per element, as normal_cdf: the same last digit as the scalar function
        p[normal] = [2 * (1 - normal_cdf(abs(v))) for v in zn.tolist()]
    return rate, base, z, p


def baseline_rate_test_arrays(x, n, prior_xs, prior_ns) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`baseline_rate_test` per element: (rate, baseline, z, p_value) arrays for rates x[i]/n[i], each
    against its own baseline periods prior_xs[i] / prior_ns[i] (sequences of counts) — each element
    the scalar function's fields to the last bit: the two-proportion test (`two_proportion_test_arrays`)
    where the baseline periods vary no more than binomial noise (φ ≤ 1), the φ-widened test on Student's
    t with k − 1 df (`student_t_upper_array`) otherwise.
    Worked example as the scalar's: 80/1000 against 50/1000, 70/1100, 40/900, 65/1000, 55/1050 → z = 2.4513,
    p = 0.07035.
    >>> _, _, z, p = baseline_rate_test_arrays([80], [1000], [[50, 70, 40, 65, 55]], [[1000, 1100, 900, 1000, 1050]])
    >>> round(float(z[0]), 4), round(float(p[0]), 5)
    (2.4513, 0.07035)
    """
    x = np.atleast_1d(np.asarray(x, dtype=float))
    n = np.atleast_1d(np.asarray(n, dtype=float))
    size = len(x)
    base_x, base_n, phi, df = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    for i, (px, pn) in enumerate(zip(prior_xs, prior_ns)):  # small per-row sums, as the scalar takes them
        px, pn = [float(v) for v in px], [float(v) for v in pn]
        base_x[i], base_n[i], phi[i] = sum(px), sum(pn), overdispersion(px, pn)
        df[i] = sum(1 for v in pn if v > 0) - 1
    plain = (phi <= 1.0) | (n <= 0) | (base_n <= 0)
    rate, base, z, p = (np.full(size, np.nan) for _ in range(4))
    if plain.any():
        rate[plain], base[plain], z[plain], p[plain] = two_proportion_test_arrays(x[plain], n[plain], base_x[plain],
                                                                                  base_n[plain])
    wide = ~plain
    if wide.any():
        xw, nw, bxw, bnw = x[wide], n[wide], base_x[wide], base_n[wide]
        p1, p0 = xw / nw, bxw / bnw
        pooled = (xw + bxw) / (nw + bnw)
        se = np.sqrt(phi[wide] * pooled * (1 - pooled) * (1 / nw + 1 / bnw))
        with np.errstate(divide="ignore", invalid="ignore"):
            zw = np.where(se > 0, (p1 - p0) / se, 0.0)
        rate[wide], base[wide], z[wide] = p1, p0, zw
        p[wide] = 2 * student_t_upper_array(np.abs(zw), df[wide])
    return rate, base, z, p

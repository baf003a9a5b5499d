"""Small, exact statistics every page shares: intervals, proportion tests, control limits, correlation.

No scipy: the normal distribution comes from math.erf, which is exact to double precision.
References: Wilson (1927) score interval; two-proportion z-test with pooled variance; p-chart
limits p̄ ± z·√(p̄(1−p̄)/n) (Montgomery, Introduction to Statistical Quality Control, ch. 7);
Fisher z-transform interval for Pearson's r.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def normal_cdf(x: float) -> float:
    """Standard normal CDF.

    >>> round(normal_cdf(1.959963984540054), 4)
    0.975
    """
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def z_for_alpha(alpha: float) -> float:
    """Two-sided critical z for significance `alpha` (bisection on normal_cdf).

    >>> round(z_for_alpha(0.05), 4)
    1.96
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    target = 1 - alpha / 2
    lo, hi = 0.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if normal_cdf(mid) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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
    """Two-proportion z-test with pooled variance: z = (p1 − p2) / √(p̂(1−p̂)(1/n1 + 1/n2)).

    Worked example: 30/1000 vs 20/1000 → p̂ = 0.025, se = √(0.025·0.975·0.002) = 0.006982,
    z = 0.01 / 0.006982 = 1.4322, two-sided p = 0.1521.
    >>> t = two_proportion_test(30, 1000, 20, 1000)
    >>> round(t.z, 4), round(t.p_value, 4)
    (1.4322, 0.1521)
    """
    if n1 <= 0 or n2 <= 0:
        return ProportionTest(math.nan, math.nan, math.nan, 1.0)
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return ProportionTest(p1, p2, 0.0 if p1 == p2 else math.copysign(math.inf, p1 - p2),
                              1.0 if p1 == p2 else 0.0)
    z = (p1 - p2) / se
    return ProportionTest(p1, p2, z, 2 * (1 - normal_cdf(abs(z))))


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

"""Hypergeometric tail probabilities on arrays, for the one-sided Fisher tests of the email baselines.

scipy's hypergeom (Boost) takes ~30 µs a table at the ~10⁵ recipients of an email baseline, and an
email click tests a few hundred tables; this takes a few µs. Each tail starts from the probability of
its first value, computed as R's dhyper does (Loader, "Fast and accurate computation of binomial
probabilities", 2000: Stirling's error terms and the deviance `bd0`, so nothing large cancels), then
adds its neighbours by the ratio of consecutive probabilities. tests/test_hypergeom.py holds it to exact
sums of whole numbers within 1e-12 relative (scipy's own drift from them reaches 1e-9 at 10⁷ items).
"""

from __future__ import annotations

import math

import numpy as np

_LN_2PI = math.log(2 * math.pi)
# stirlerr(n) = ln n! − (n + ½) ln n + n − ½ ln 2π for n = 0 … 15 (0 for n = 0, as R takes it)
_STIRLERR_SMALL = np.array([0.0] + [math.lgamma(n + 1) - (n + 0.5) * math.log(n) + n - 0.5 * _LN_2PI
                                    for n in range(1, 16)])
MAX_TERMS = 512  # terms added at once after the first; a tail still adding then is left to scipy


def stirlerr(n: np.ndarray) -> np.ndarray:
    """Stirling's error ln n! − ((n + ½) ln n − n + ½ ln 2π) for whole n ≥ 0 (Loader's series above 15).
    >>> [round(float(v), 10) for v in stirlerr(np.array([1.0, 10.0, 100.0]))]
    [0.0810614668, 0.0083305634, 0.0008333306]
    """
    n = np.asarray(n, dtype=float)
    big = np.maximum(n, 16.0)  # the series, where it is used
    nn = big * big
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    series = np.where(big > 500, (s0 - s1 / nn) / big,
             np.where(big > 80, (s0 - (s1 - s2 / nn) / nn) / big,
             np.where(big > 35, (s0 - (s1 - (s2 - s3 / nn) / nn) / nn) / big,
                      (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / big)))
    small = _STIRLERR_SMALL[np.clip(n, 0, 15).astype(np.int64)]
    return np.where(n <= 15, small, series)


def bd0(x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The deviance term x ln(x / mean) + mean − x, by its series where x is near `mean` (Loader).
    >>> [round(float(v), 12) for v in bd0(np.array([10.0, 3.0]), np.array([10.5, 7.0]))]
    [0.012098358306, 1.458106418838]
    """
    x, mean = np.asarray(x, dtype=float), np.asarray(mean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = x * np.log(x / mean) + mean - x
        v = (x - mean) / (x + mean)
        total = (x - mean) * v
        term = 2 * x * v
        near = np.abs(x - mean) < 0.1 * (x + mean)
        v2 = np.where(near, v * v, 0.0)  # |v| < 1/11 where used: each term under 1/121 of the last
        going = near.copy()  # each element stops on its own, so its value does not depend on the others
        for j in range(1, 40):
            term = term * v2
            added = np.where(going, term / (2 * j + 1), 0.0)
            total = total + added
            going &= np.abs(added) > 1e-17 * np.abs(total)
            if not going.any():
                break
    return np.where(near, total, np.where(x == 0, mean, direct))


def _log_dbinom_raw(x: np.ndarray, n: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """ln of the binomial probability of x in n at p (q = 1 − p, given apart to keep its digits):
    Loader's form, each helper called once on all the terms it needs (numpy's per-call cost dominates)."""
    size = len(x)
    errs = stirlerr(np.concatenate([n, x, n - x]))
    devs = bd0(np.concatenate([x, n - x, n, n]), np.concatenate([n * p, n * q, n * q, n * p]))
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (errs[:size] - errs[size:2 * size] - errs[2 * size:] - devs[:size] - devs[size:2 * size]
                 - 0.5 * (_LN_2PI + np.log(x) + np.log1p(-x / n)))
        at_zero = np.where(p < 0.1, -devs[2 * size:3 * size] - n * p, n * np.log(q))
        at_n = np.where(q < 0.1, -devs[3 * size:] - n * q, n * np.log(p))
    return np.where(n == 0, 0.0, np.where(x == 0, at_zero, np.where(x == n, at_n, inner)))


def log_pmf(k, total, good, draws) -> np.ndarray:
    """ln P(X = k), X hypergeometric (`good` of `total` items, `draws` drawn without replacement), for
    k inside the support — R's dhyper: binomial terms at p = draws / total.
    >>> round(math.exp(float(log_pmf(np.array([1]), np.array([20]), np.array([7]), np.array([12]))[0])), 9)
    0.004334365
    """
    k, total, good, draws = (np.asarray(v, dtype=float) for v in (k, total, good, draws))
    p, q = draws / total, (total - draws) / total
    size = len(k)
    logs = _log_dbinom_raw(np.concatenate([k, draws - k, draws]), np.concatenate([good, total - good, total]),
                           np.tile(p, 3), np.tile(q, 3))
    return logs[:size] + logs[size:2 * size] - logs[2 * size:]


def tail(k, total, good, draws, upper: bool) -> np.ndarray:
    """P(X ≤ k), or with `upper` P(X ≥ k), per element, X hypergeometric as in `log_pmf`.

    The tail's first probability (`log_pmf`), then up to MAX_TERMS more, each the last times the ratio
    of neighbours — P(j+1)/P(j) = (good − j)(draws − j) / ((j + 1)(bad − draws + j + 1)) — summed on the
    log scale (a first term too small for a float does not zero the larger ones after it), all at once.
    A tail is complete when it reaches the end of the support, or when its last ratio is under ½ and its
    last term under 1e-17 of its sum (the ratios only fall further, so what is left is smaller than that
    term); any other goes to scipy.
    Worked example: 12 drawn from 20 of which 7 good; P(X ≤ 1) = (C(7,0)·C(13,12) + C(7,1)·C(13,11)) /
    C(20,12) = (13 + 7·78) / 125,970 = 0.004438 (scipy.stats.hypergeom.cdf(1, 20, 7, 12) the same).
    >>> [round(float(tail(1, 20, 7, 12, upper=False)[0]), 6), round(float(tail(2, 20, 7, 12, upper=True)[0]), 6)]
    [0.004438, 0.995562]
    """
    k, total, good, draws = np.broadcast_arrays(*(np.atleast_1d(np.asarray(v, dtype=np.int64))
                                                 for v in (k, total, good, draws)))
    bad = total - good
    lo, hi = np.maximum(0, draws - bad), np.minimum(good, draws)
    outside = (k > hi) if upper else (k < lo)  # no value of X that far: an empty tail
    whole = (k <= lo) if upper else (k >= hi)  # every value of X
    live = ~(outside | whole)
    out = np.where(outside, 0.0, 1.0)
    if not live.any():
        return out
    k, total, good, draws, bad, lo, hi = (v[live] for v in (k, total, good, draws, bad, lo, hi))
    first = log_pmf(k, total, good, draws)
    steps = (hi - k) if upper else (k - lo)  # values beyond the first, to the end of the support
    width = int(min(steps.max(), MAX_TERMS))
    g, b, n = (v.astype(float)[:, None] for v in (good, bad, draws))
    offset = np.arange(width, dtype=float)[None, :]
    j = k.astype(float)[:, None] + (offset if upper else -offset)  # the value each step leaves
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = ((g - j) * (n - j) / ((j + 1) * (b - n + j + 1)) if upper
                 else j * (b - n + j) / ((g - j + 1) * (n - j + 1)))
        taken = offset < steps[:, None]
        log_terms = first[:, None] + np.cumsum(np.where(taken, np.log(ratio), -np.inf), axis=1)
    terms = np.exp(log_terms)
    # summed in order (a pairwise sum's grouping, and so its rounding, would depend on how many
    # columns the other tables of the call need): a table's tail is the same alone or with others
    found = np.cumsum(np.concatenate([np.exp(first)[:, None], terms], axis=1), axis=1)[:, -1]
    settled = steps <= width
    if not settled.all():  # those took `width` steps: complete if what is left is negligible
        settled |= (ratio[:, -1] < 0.5) & (terms[:, -1] <= 1e-17 * found)
    if not settled.all():  # a tail longer than MAX_TERMS that is still adding: scipy's
        from scipy.stats import hypergeom

        rest = ~settled
        args = (total[rest], good[rest], draws[rest])
        found[rest] = hypergeom.sf(k[rest] - 1, *args) if upper else hypergeom.cdf(k[rest], *args)
    out[live] = np.minimum(found, 1.0)
    return out

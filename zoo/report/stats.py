"""The statistics behind the report's verdicts, in plain Python (no SciPy: the zoo does not depend
on it): Student's t quantiles, Welch's t interval with Welch-Satterthwaite degrees of freedom, the
one-sample and paired t intervals, and Fisher's exact test for two proportions.

The t distribution's CDF is the regularized incomplete beta function,
P(|T| > t) = I_{df / (df + t^2)}(df / 2, 1 / 2), evaluated by its continued fraction (modified
Lentz); the quantile is found by bisection on it.
"""
from __future__ import annotations

import math

CONFIDENCE = 0.95


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for one value)."""
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                    -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom (df may be fractional)."""
    if math.isinf(df):
        return math.erfc(abs(t) / math.sqrt(2.0))
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (0.5 < p < 1), e.g. t_quantile(0.975, 1) = 12.706."""
    if not 0.5 < p < 1.0 or not df > 0:
        raise ValueError(f"t_quantile needs 0.5 < p < 1 and df > 0, got p={p}, df={df}")
    target = 2.0 * (1.0 - p)             # two-sided tail
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, df) > target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_two_sided_p(mid, df) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def z_quantile(p: float) -> float:
    return t_quantile(p, math.inf)


def interval(estimate: float, se: float, df: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """estimate +- t_{(1 + confidence) / 2, df} * se (exact when se is 0)."""
    if se == 0.0:
        return estimate, estimate
    half = t_quantile(0.5 + confidence / 2.0, df) * se
    return estimate - half, estimate + half


def welch(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """(mean(a) - mean(b), its standard error, Welch-Satterthwaite degrees of freedom) for two
    independent samples of two values or more each."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t needs two values or more on each side")
    (ma, sa), (mb, sb) = mean_std(a), mean_std(b)
    va, vb = sa * sa / len(a), sb * sb / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return ma - mb, 0.0, math.inf
    df = (va + vb) ** 2 / ((va * va / (len(a) - 1) if va else 0.0) + (vb * vb / (len(b) - 1) if vb else 0.0))
    return ma - mb, se, df


def one_sample(values: list[float]) -> tuple[float, float, float]:
    """(mean, standard error, n - 1) of one sample of two values or more (the paired t interval is
    this on the per-seed differences)."""
    if len(values) < 2:
        raise ValueError("a t interval needs two values or more")
    m, s = mean_std(values)
    return m, s / math.sqrt(len(values)), float(len(values) - 1)


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test for k1 of n1 against k2 of n2 (the tables with the
    same margins that are no more probable than the observed one)."""
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"counts out of range: {k1}/{n1}, {k2}/{n2}")
    k, n = k1 + k2, n1 + n2
    log_total = _log_choose(n, k)

    def logp(x):
        return _log_choose(n1, x) + _log_choose(n2, k - x) - log_total

    observed = logp(k1)
    p = sum(math.exp(logp(x)) for x in range(max(0, k - n2), min(k, n1) + 1)
            if logp(x) <= observed + 1e-7)
    return min(1.0, p)

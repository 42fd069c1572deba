"""Paired tests: do two runtimes differ beyond sampling error?

Both runtimes ran the same faults on the same images, so the natural unit is the fault: the per-fault
difference of an outcome share (runtime b minus runtime a). Under the null hypothesis the runtimes are
exchangeable, so each difference is as likely positive as negative; the sign test, the Wilcoxon
signed-rank test and the sign-flip permutation test check that, with increasing use of the
magnitudes. With per-image outcomes, McNemar's test compares the discordant inferences
(critical under one runtime only). All are implemented with NumPy and the standard library.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from readlx._typing import Array
from readlx.comparisons.divergence import framework_pairs
from readlx.errors import ReadlxError
from readlx.outcomes.classification import CRITICAL, NONFINITE

METHODS = ("wilcoxon", "sign", "permutation")
METRICS = ("masked", "non_critical", "critical", "nan_or_inf")
EXACT_WILCOXON_MAX_N = 300
EXACT_PERMUTATION_MAX_N = 16
EXACT_MCNEMAR_MAX = 25


@dataclass(frozen=True)
class TestResult:
    """A test's statistic, two-sided p-value, number of informative units and method name."""

    statistic: float
    p_value: float
    n: int
    method: str


def _binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of k successes in n fair trials (doubling the smaller tail)."""
    if n == 0:
        return 1.0
    lo = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1))
    return float(min(1.0, 2 * lo / 2**n))


def sign_test(diffs: Array) -> TestResult:
    """Exact sign test of paired differences (zeros dropped); statistic = number of positives.

    >>> r = sign_test(np.array([1.0, 2.0, 0.5, 3.0, 0.0, 1.0, 2.0, 1.0]))
    >>> r.statistic, r.n, round(r.p_value, 4)
    (7.0, 7, 0.0156)
    """
    d = np.asarray(diffs, dtype=np.float64)
    d = d[d != 0]
    positives = int((d > 0).sum())
    return TestResult(float(positives), _binomial_two_sided(positives, len(d)), len(d), "sign test (exact)")


def _ranks(x: Array) -> Array:
    """Ranks from 1 with ties averaged."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks


def _exact_signed_rank_p(ranks: Array, w_plus: float) -> float:
    """Two-sided p of W+ under random signs; ranks are halves at worst, so doubled they are integers."""
    doubled = np.rint(2 * ranks).astype(np.int64)
    dist = np.zeros(int(doubled.sum()) + 1)
    dist[0] = 1.0
    for r in doubled:
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[:-r] if r else dist
        dist = (dist + shifted) / 2
    w = int(round(2 * w_plus))
    lower, upper = dist[: w + 1].sum(), dist[w:].sum()
    return float(min(1.0, 2 * min(lower, upper)))


def wilcoxon_signed_rank(diffs: Array) -> TestResult:
    """Wilcoxon signed-rank test of paired differences; statistic = W+ (sum of positive ranks).

    Zero differences are dropped, tied magnitudes get average ranks. The p-value is exact (the
    distribution of W+ under random signs, tie-aware) up to :data:`EXACT_WILCOXON_MAX_N` nonzero
    differences, else the normal approximation with tie and continuity corrections.

    >>> r = wilcoxon_signed_rank(np.array([1.0, 2.0, 3.0, 4.0, 5.0, -0.5]))
    >>> r.statistic, round(r.p_value, 4)
    (20.0, 0.0625)
    """
    d = np.asarray(diffs, dtype=np.float64)
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return TestResult(0.0, 1.0, 0, "Wilcoxon signed-rank (no nonzero difference)")
    ranks = _ranks(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    if n <= EXACT_WILCOXON_MAX_N:
        return TestResult(w_plus, _exact_signed_rank_p(ranks, w_plus), n, "Wilcoxon signed-rank (exact)")
    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - float((tie_counts**3 - tie_counts).sum()) / 48
    z = (abs(w_plus - n * (n + 1) / 4) - 0.5) / math.sqrt(var)
    return TestResult(w_plus, math.erfc(max(z, 0.0) / math.sqrt(2)), n, "Wilcoxon signed-rank (normal approximation)")


def paired_permutation_test(diffs: Array, n_resamples: int = 10_000, seed: int = 0) -> TestResult:
    """Sign-flip permutation test of the mean paired difference; statistic = the mean.

    All sign patterns are enumerated up to :data:`EXACT_PERMUTATION_MAX_N` differences; beyond, a
    Monte Carlo sample of ``n_resamples`` patterns (p-value ``(1 + hits) / (1 + n_resamples)``).

    >>> r = paired_permutation_test(np.array([1.0, 1.0, 1.0, 1.0]))
    >>> r.statistic, r.p_value
    (1.0, 0.125)
    """
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    if n == 0:
        return TestResult(0.0, 1.0, 0, "paired permutation (no fault)")
    observed = abs(d.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(d).max()))
    if n <= EXACT_PERMUTATION_MAX_N:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1
        means = np.abs(patterns @ d) / n
        return TestResult(float(d.mean()), float((means >= observed - tolerance).mean()), n,
                          "paired permutation (exact)")
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_resamples, 1000):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(1000, n_resamples - start), n))
        hits += int((np.abs(signs @ d) / n >= observed - tolerance).sum())
    return TestResult(float(d.mean()), (1 + hits) / (1 + n_resamples), n,
                      f"paired permutation (Monte Carlo, {n_resamples} resamples)")


def mcnemar(b: int, c: int) -> TestResult:
    """McNemar's test of ``b`` and ``c`` discordant pairs; statistic = chi² or, when exact, ``b``.

    Exact binomial up to :data:`EXACT_MCNEMAR_MAX` discordant pairs, else chi² with continuity
    correction (1 degree of freedom).

    >>> round(mcnemar(30, 10).p_value, 5), mcnemar(3, 0).p_value
    (0.00266, 0.25)
    """
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ReadlxError(f"discordant counts must be >= 0, got {b!r} and {c!r}")
    n = b + c
    if n <= EXACT_MCNEMAR_MAX:
        return TestResult(float(b), _binomial_two_sided(b, n), n, "McNemar (exact binomial)")
    chi2 = (abs(b - c) - 1) ** 2 / n
    return TestResult(chi2, math.erfc(math.sqrt(chi2 / 2)), n, "McNemar (chi-squared, continuity corrected)")


@dataclass(frozen=True)
class PairedTest:
    """Runtime b versus runtime a on one outcome metric."""

    framework_a: str
    framework_b: str
    metric: str
    n_faults: int
    mean_difference: float
    faults_differing: int
    test: TestResult
    image_level: TestResult | None
    discordant: tuple[int, int] | None

    def format(self) -> str:
        lines = [
            f"{self.framework_b} vs {self.framework_a}, {self.metric.replace('_', ' ')} share per fault "
            f"({self.n_faults} faults, {self.faults_differing} differ): mean difference "
            f"{self.mean_difference:+.4f} percentage points; {self.test.method}: statistic "
            f"{self.test.statistic:g}, p = {self.test.p_value:.4g}",
        ]
        if self.image_level is not None and self.discordant is not None:
            only_a, only_b = self.discordant
            lines.append(
                f"  image level: critical only under {self.framework_a}: {only_a}, only under "
                f"{self.framework_b}: {only_b}; {self.image_level.method}: p = {self.image_level.p_value:.4g} "
                "(inferences of one fault are not independent: read as descriptive)"
            )
        return "\n".join(lines)


def _run_method(diffs: Array, method: str, seed: int) -> TestResult:
    if method == "wilcoxon":
        return wilcoxon_signed_rank(diffs)
    if method == "sign":
        return sign_test(diffs)
    if method == "permutation":
        return paired_permutation_test(diffs, seed=seed)
    raise ReadlxError(f"unknown test method {method!r}; valid: {', '.join(METHODS)}")


def paired_test(ds: xr.Dataset, a: str, b: str, metric: str = "critical", method: str = "wilcoxon",
                model: int = 0, seed: int = 0) -> PairedTest:
    """Test whether ``b`` and ``a`` differ on ``metric`` beyond sampling error.

    Parameters
    ----------
    ds
        Campaign Dataset holding both frameworks.
    metric
        One of :data:`METRICS`; the per-fault share is count / images.
    method
        ``"wilcoxon"``, ``"sign"`` or ``"permutation"`` over the per-fault share differences.

    Examples
    --------
    >>> from readlx.comparisons.examples import toy_dataset
    >>> t = paired_test(toy_dataset(), "a", "b")
    >>> t.faults_differing, t.mean_difference, t.discordant
    (1, -25.0, (1, 0))
    """
    framework_pairs(ds, [(a, b)])
    if metric not in METRICS:
        raise ReadlxError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    sel = ds.isel(model=model)
    n_images = int(ds.attrs["n_images"])
    diffs = 100.0 * (sel[metric].sel(framework=b).values - sel[metric].sel(framework=a).values) / n_images
    image_level, discordant = None, None
    if "outcome" in ds:
        crit_a = (sel.outcome.sel(framework=a).values & ~NONFINITE) == CRITICAL
        crit_b = (sel.outcome.sel(framework=b).values & ~NONFINITE) == CRITICAL
        discordant = (int((crit_a & ~crit_b).sum()), int((crit_b & ~crit_a).sum()))
        image_level = mcnemar(*discordant)
    return PairedTest(a, b, metric, len(diffs), float(diffs.mean()) if len(diffs) else 0.0,
                      int((diffs != 0).sum()), _run_method(diffs, method, seed), image_level, discordant)

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readlx.comparisons import stats
from readlx.comparisons.stats import (
    mcnemar,
    paired_permutation_test,
    paired_test,
    sign_test,
    wilcoxon_signed_rank,
)
from readlx.errors import ReadlxError


def _brute_force_wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided p from all 2^n sign patterns of the (tie-averaged) ranks."""
    d = d[d != 0]
    ranks = stats._ranks(np.abs(d))
    w = ranks[d > 0].sum()
    patterns = product((0, 1), repeat=len(d))
    totals = np.array([sum(r for r, s in zip(ranks, signs, strict=True) if s) for signs in patterns])
    return min(1.0, 2 * min((totals <= w + 1e-9).mean(), (totals >= w - 1e-9).mean()))


@pytest.mark.parametrize("d", [
    [1.0, 2.0, 3.0, 4.0, 5.0, -0.5],
    [0.5, -0.5, 1.0, 1.0, -2.0, 3.0, 0.0, 0.25],  # ties and a zero
    [-1.0, -2.0, -3.0],
])
def test_exact_wilcoxon_matches_enumeration(d: list[float]) -> None:
    arr = np.array(d)
    assert wilcoxon_signed_rank(arr).p_value == pytest.approx(_brute_force_wilcoxon_p(arr), abs=1e-12)


def test_wilcoxon_known_answer() -> None:
    r = wilcoxon_signed_rank(np.array([1.0, 2.0, 3.0, 4.0, 5.0, -0.5]))
    assert (r.statistic, r.n) == (20.0, 6)
    assert r.p_value == pytest.approx(4 / 64)


def test_wilcoxon_normal_approximation_close_to_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    d = np.random.default_rng(1).normal(0.2, 1.0, 120)
    exact = wilcoxon_signed_rank(d)
    monkeypatch.setattr(stats, "EXACT_WILCOXON_MAX_N", 10)
    approx = wilcoxon_signed_rank(d)
    assert "normal" in approx.method and "exact" in exact.method
    assert approx.p_value == pytest.approx(exact.p_value, rel=0.05)


def test_all_zero_differences_are_not_significant() -> None:
    assert wilcoxon_signed_rank(np.zeros(5)).p_value == 1.0
    assert sign_test(np.zeros(5)).p_value == 1.0
    assert paired_permutation_test(np.zeros(5)).p_value == 1.0


def test_sign_test_known_answer() -> None:
    r = sign_test(np.array([1, 1, 1, 1, 1, 1, 1, -1, 0]))
    assert (r.statistic, r.n) == (7.0, 8)
    assert r.p_value == pytest.approx(2 * (1 + 8) / 256)


def test_exact_permutation_known_answer() -> None:
    r = paired_permutation_test(np.array([2.0, 1.0, 1.0]))
    # |mean| >= 4/3 only for all-plus and all-minus of 8 patterns
    assert r.p_value == pytest.approx(2 / 8)


def test_monte_carlo_permutation_is_reproducible_and_detects_a_shift() -> None:
    d = np.random.default_rng(0).normal(1.0, 1.0, 40)
    r1, r2 = paired_permutation_test(d, 2000, seed=3), paired_permutation_test(d, 2000, seed=3)
    assert r1 == r2 and "Monte Carlo" in r1.method
    assert r1.p_value == pytest.approx(1 / 2001)


def test_mcnemar_exact_and_chi2() -> None:
    assert mcnemar(0, 0).p_value == 1.0
    assert mcnemar(5, 0).p_value == pytest.approx(2 / 32)
    r = mcnemar(30, 10)
    assert r.statistic == pytest.approx(19**2 / 40)
    assert r.p_value == pytest.approx(math.erfc(math.sqrt(19**2 / 80)))
    with pytest.raises(ReadlxError, match="-1"):
        mcnemar(-1, 2)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=1, max_size=12))
def test_p_values_are_probabilities_and_sign_symmetric(values: list[int]) -> None:
    d = np.array(values, dtype=np.float64)
    for test in (sign_test, wilcoxon_signed_rank, paired_permutation_test):
        p, q = test(d).p_value, test(-d).p_value
        assert 0.0 < p <= 1.0
        assert p == pytest.approx(q)


def test_paired_test_on_identical_runtimes_finds_nothing(make_ds) -> None:
    codes = np.random.default_rng(2).integers(0, 3, size=(20, 1, 8))
    ds = make_ds(np.concatenate([codes, codes], axis=1), ["x", "y"])
    t = paired_test(ds, "x", "y")
    assert (t.faults_differing, t.mean_difference, t.test.p_value, t.discordant) == (0, 0.0, 1.0, (0, 0))


def test_paired_test_detects_a_systematic_sdc1_shift(make_ds) -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, size=(30, 10))  # masked or non-critical
    b = a.copy()
    b[:, 0] = 2  # y turns one image per fault critical
    ds = make_ds(np.stack([a, b], axis=1), ["x", "y"])
    for method in ("wilcoxon", "sign", "permutation"):
        t = paired_test(ds, "x", "y", "critical", method)
        assert t.mean_difference == pytest.approx(10.0)
        assert t.faults_differing == 30
        assert t.test.p_value < 1e-6 or (method == "permutation" and t.test.p_value < 1e-3)
    assert t.discordant == (0, 30)
    assert t.image_level is not None and t.image_level.p_value < 1e-6
    assert "only under x: 0, only under y: 30" in t.format()


def test_paired_test_checks_arguments(three_runtimes) -> None:
    with pytest.raises(ReadlxError, match="unknown metric 'sdc'; valid: masked, non_critical, critical, nan_or_inf"):
        paired_test(three_runtimes, "a", "b", "sdc")
    with pytest.raises(ReadlxError, match="unknown test method 't'; valid: wilcoxon, sign, permutation"):
        paired_test(three_runtimes, "a", "b", method="t")

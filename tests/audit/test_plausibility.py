"""Plausibility tests: silent on counts that behave like bit flips, loud on counts that belong to
other faults, and each finding carries its statistic."""
from __future__ import annotations

import numpy as np
import pytest

from readlx.audit import plausibility
from readlx.audit.weights import changes, model_weights
from readlx.errors import InputError
from readlx.fault_maps.faultlist import FaultList

from .conftest import IMAGES, MODEL, plausible_counts


def _tests(fl: FaultList, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    found = [plausibility.bit_dependence(fl, rng, permutations=999), plausibility.exponent_effect(fl, rng, 1999),
             plausibility.low_bits_critical(fl)]
    return {f.check: f.status for f in found}


@pytest.mark.parametrize("seed", range(4))
def test_counts_that_follow_the_bits_are_not_flagged(healthy: FaultList, seed: int) -> None:
    fl = healthy.with_published(plausible_counts(healthy, seed))
    assert set(_tests(fl, seed).values()) == {"ok"}


def test_counts_one_row_off_are_flagged_by_every_test(healthy: FaultList) -> None:
    """Each row's counts are those of the next fault, as when a column was shifted."""
    counts = np.roll(np.array(healthy.published), 1, axis=0)
    assert _tests(healthy.with_published(counts)) == dict.fromkeys(("bit dependence", "exponent effect", "low bits"),
                                                                   "suspicious")


def test_counts_independent_of_the_bit_are_flagged_with_their_p_values(healthy: FaultList) -> None:
    rng = np.random.default_rng(5)
    sdc = rng.binomial(IMAGES, 0.02, len(healthy))
    counts = np.stack([np.full(len(healthy), IMAGES), IMAGES - sdc, np.zeros_like(sdc), sdc], axis=1)
    found = plausibility.bit_dependence(healthy.with_published(counts), rng, permutations=999)
    assert found.status == "suspicious" and min(found.evidence["p"].values()) > 0.001
    assert "no outcome depends on the bit" in found.statistic


def test_a_low_bit_that_is_critical_is_named(healthy: FaultList) -> None:
    counts = np.array(healthy.published)
    row = next(i for i, f in enumerate(healthy.faults) if f.bit == 4)
    counts[row] = [IMAGES, 500, 0, 500]
    found = plausibility.low_bits_critical(healthy.with_published(counts))
    assert found.status == "suspicious" and found.evidence["implausible"] == 1
    assert found.evidence["examples"][0] == {"id": healthy.ids[row], "fault": healthy.faults[row].describe(),
                                             "sdc1_share": 0.5}


def test_the_weight_test_follows_the_change_a_flip_makes(healthy: FaultList) -> None:
    weights, how = model_weights(MODEL)
    assert weights is not None, how
    delta = changes(healthy, weights)
    assert not np.isnan(delta).any()
    magnitude = np.log2(np.minimum(delta, 1e30) + 1e-30)  # SDC-1 grows with the change
    sdc = np.clip((magnitude + 30) / 130, 0, 1) * IMAGES
    sdc = sdc.astype(np.int64)
    counts = np.stack([np.full(len(healthy), IMAGES), IMAGES - sdc, np.zeros_like(sdc), sdc], axis=1)
    assert plausibility.weight_dependence(healthy.with_published(counts), weights).status == "ok"
    shuffled = np.random.default_rng(1).permutation(counts)
    found = plausibility.weight_dependence(healthy.with_published(shuffled), weights)
    assert found.status == "suspicious" and abs(found.evidence["spearman_r"]) < 0.05
    assert plausibility.weight_dependence(healthy, None).status == "skipped"


def test_too_few_permutations_for_the_level_are_refused(healthy: FaultList) -> None:
    with pytest.raises(InputError, match="field 'permutations'.*199 permutations cannot give p <= 0.001; use at "
                                         "least 999"):
        plausibility.bit_dependence(healthy, np.random.default_rng(0), permutations=199)


def test_too_few_faults_skip_the_tests_with_the_reason(healthy: FaultList) -> None:
    few = healthy.subset(range(10))
    rng = np.random.default_rng(0)
    assert plausibility.bit_dependence(few, rng).status == "skipped"
    assert "too few" in plausibility.exponent_effect(few, rng).statistic

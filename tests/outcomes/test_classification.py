from __future__ import annotations

import numpy as np
import pytest

from readlx.errors import ReadlxError
from readlx.outcomes.classification import CRITICAL, MASKED, NON_CRITICAL, NONFINITE, class_counts, classify, top1
from readlx.outcomes.records import FaultOutcome, FaultRecords
from readlx.outcomes.tasks import CLASSIFICATION


def _a(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_masked_requires_bitwise_equality() -> None:
    g = _a([[1.0, 0.0], [1.0, 0.0]])
    f = _a([[1.0, 0.0], [1.0, -0.0]])  # -0.0 == 0.0 numerically but not bitwise
    assert classify(g, f).tolist() == [MASKED, NON_CRITICAL]


def test_tiny_change_is_non_critical_and_class_change_is_critical() -> None:
    g = _a([[1.0, 2.0], [1.0, 2.0]])
    f = _a([[1.0, np.nextafter(np.float32(2.0), np.float32(3.0))], [2.5, 2.0]])
    assert classify(g, f).tolist() == [NON_CRITICAL, CRITICAL]


def test_ties_take_the_first_maximum() -> None:
    g = _a([[1.0, 2.0, 0.0]])
    # A tie between classes 0 and 1: numpy argmax picks class 0, a change of top-1.
    assert classify(g, _a([[2.0, 2.0, 0.0]])).tolist() == [CRITICAL]
    # A tie between classes 1 and 2 keeps class 1 first.
    assert classify(g, _a([[1.0, 2.0, 2.0]])).tolist() == [NON_CRITICAL]


def test_nan_is_the_maximum_and_flagged() -> None:
    g = _a([[1.0, 2.0, 0.0]])
    assert classify(g, _a([[np.nan, 2.0, 0.0]])).tolist() == [CRITICAL + NONFINITE]
    assert classify(g, _a([[1.0, np.nan, 0.0]])).tolist() == [NON_CRITICAL + NONFINITE]


def test_inf_keeps_or_changes_class_and_is_flagged() -> None:
    g = _a([[1.0, 2.0]])
    assert classify(g, _a([[1.0, np.inf]])).tolist() == [NON_CRITICAL + NONFINITE]
    assert classify(g, _a([[np.inf, 2.0]])).tolist() == [CRITICAL + NONFINITE]
    assert classify(g, _a([[-np.inf, 2.0]])).tolist() == [NON_CRITICAL + NONFINITE]


def test_nonfinite_golden_compared_bitwise() -> None:
    g = _a([[np.nan, 1.0]])
    assert classify(g, g.copy()).tolist() == [MASKED + NONFINITE]


def test_multidimensional_outputs_are_flattened() -> None:
    g = np.zeros((2, 3, 4, 4), np.float32)
    f = g.copy()
    f[1, 2, 3, 3] = 1.0
    assert classify(g, f).tolist() == [MASKED, CRITICAL]


def test_shape_mismatch_is_a_readlx_error() -> None:
    with pytest.raises(ReadlxError, match="shape"):
        classify(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))


def test_records_aggregate_codes_and_correctness() -> None:
    codes = np.array([MASKED, NON_CRITICAL, CRITICAL, CRITICAL + NONFINITE], np.int8)
    assert class_counts(codes) == (1, 1, 2, 1)
    records = FaultRecords.empty(0, 1, CLASSIFICATION)
    records.record(0, FaultOutcome(codes, np.array([0, 1, 2, 3]), False), CLASSIFICATION, np.array([0, 1, 0, 3]))
    c = records.part(0, 1)
    assert (c.masked[0], c.non_critical[0], c.critical[0], c.nan_or_inf[0], c.faulty_correct[0]) == (1, 1, 2, 1, 3)
    assert top1(_a([[0.0, 3.0, 3.0]])).tolist() == [1]

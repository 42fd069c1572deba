"""The segmentation outcome classifier and its metrics."""
from __future__ import annotations

import numpy as np
import pytest

from readlx.errors import ReadlxError
from readlx.outcomes import classification as classify
from readlx.outcomes.classification import class_counts
from readlx.outcomes.segmentation import (
    CRITICAL,
    MASKED,
    NONFINITE,
    TOLERABLE,
    classify_label_maps,
    classify_segmentation,
    confusion_matrix,
    label_maps,
    mean_iou,
    nonfinite,
    pixel_accuracy,
    scores_identical,
)


def _maps(n: int = 1, side: int = 10) -> np.ndarray:
    maps = np.zeros((n, side, side), np.uint8)
    maps[:, : side // 2] = 3
    maps[:, -1, -1] = 5
    return maps


def test_codes_share_the_classification_convention() -> None:
    assert (MASKED, TOLERABLE, CRITICAL, NONFINITE) == (
        classify.MASKED, classify.NON_CRITICAL, classify.CRITICAL, classify.NONFINITE
    )


def test_identical_maps_are_masked() -> None:
    g = _maps(4)
    assert classify_label_maps(g, g.copy()).tolist() == [MASKED] * 4


def test_tolerance_boundary_is_exclusive() -> None:
    g = _maps(1, side=20)  # 400 pixels: 3 changed = 0.75 %, 4 = 1 %
    f3, f4 = g.copy(), g.copy()
    f3[0, 0, :3] = 0
    f4[0, 0, :4] = 0
    assert classify_label_maps(g, f3).tolist() == [TOLERABLE]
    assert classify_label_maps(g, f4).tolist() == [CRITICAL]
    assert classify_label_maps(g, f4, tolerance=0.0101).tolist() == [TOLERABLE]


@pytest.mark.parametrize(
    ("row", "col", "value"), [(9, 9, 0), (0, 0, 7)], ids=["class-vanished", "class-appeared"]
)
def test_one_pixel_changing_the_class_set_is_critical(row: int, col: int, value: int) -> None:
    g = _maps(1, side=10)
    f = g.copy()
    f[0, row, col] = value  # the only class-5 pixel goes, or a new class 7 comes
    assert classify_label_maps(g, f, tolerance=0.5).tolist() == [CRITICAL]


def test_score_changes_without_label_changes_are_masked() -> None:
    g = np.zeros((2, 3, 4, 4), np.float32)
    g[:, 1] = 2.0
    f = g.copy()
    f[0, 0] += 0.5
    assert classify_segmentation(g, f).tolist() == [MASKED, MASKED]
    assert scores_identical(g, f).tolist() == [False, True]


def test_nonfinite_scores_add_four() -> None:
    g = np.zeros((3, 2, 10, 10), np.float32)
    g[:, 1] = 1.0
    f = g.copy()
    f[0, 1, 0, 0] = np.inf  # label unchanged
    f[1, 0, 0, 0] = np.nan  # NaN counts as the maximum, as numpy.argmax: one pixel moves to class 0
    assert nonfinite(f).tolist() == [True, True, False]
    assert classify_segmentation(g, f).tolist() == [MASKED + NONFINITE, CRITICAL + NONFINITE, MASKED]
    assert class_counts(classify_segmentation(g, f)) == (2, 0, 1, 2)


def test_label_maps_first_maximum_and_dtype() -> None:
    s = np.zeros((1, 3, 1, 2), np.float32)
    s[0, 1:, 0, 1] = 1.0  # tie between classes 1 and 2
    maps = label_maps(s)
    assert maps.tolist() == [[[0, 1]]] and maps.dtype == np.uint8
    assert label_maps(np.zeros((1, 300, 1, 1), np.float32)).dtype == np.int64


def test_shape_and_argument_errors() -> None:
    with pytest.raises(ReadlxError, match=r"\(N, classes, H, W\), got shape \(2, 3\)"):
        label_maps(np.zeros((2, 3), np.float32))
    with pytest.raises(ReadlxError, match="golden scores shape"):
        classify_segmentation(np.zeros((1, 2, 3, 3), np.float32), np.zeros((1, 2, 3, 4), np.float32))
    with pytest.raises(ReadlxError, match=r"both be \(N, H, W\)"):
        classify_label_maps(_maps(1), _maps(2))
    with pytest.raises(ReadlxError, match="tolerance is a fraction of pixels in \\[0, 1\\], got 2"):
        classify_label_maps(_maps(1), _maps(1), tolerance=2)
    with pytest.raises(ReadlxError, match="no pixels"):
        classify_label_maps(np.zeros((1, 0, 3), np.uint8), np.zeros((1, 0, 3), np.uint8))
    assert classify_label_maps(np.zeros((0, 2, 2), np.uint8), np.zeros((0, 2, 2), np.uint8)).shape == (0,)


def test_metrics_ignore_label_255() -> None:
    labels = np.array([[[0, 0, 1, 1], [2, 2, 255, 255]]], np.uint8)
    pred = np.array([[[0, 1, 1, 1], [2, 0, 2, 1]]], np.uint8)
    cm = confusion_matrix(pred, labels, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert pixel_accuracy(pred, labels, 3) == pytest.approx(4 / 6)
    # IoU: class 0 = 1/3, class 1 = 2/3, class 2 = 1/2
    assert mean_iou(pred, labels, 3) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert pixel_accuracy(labels, labels, 3) == 1.0 and mean_iou(labels, labels, 3) == 1.0


def test_metrics_skip_absent_classes_and_reject_bad_labels() -> None:
    labels = np.array([[[0, 1]]])
    assert mean_iou(labels, labels, 21) == 1.0  # 19 classes absent everywhere: left out
    assert np.isnan(pixel_accuracy(np.zeros((1, 1, 2)), np.full((1, 1, 2), 255), 2))
    with pytest.raises(ReadlxError, match="label 7 is outside 0..2"):
        confusion_matrix(np.zeros((1, 1, 1)), np.full((1, 1, 1), 7), 3)
    with pytest.raises(ReadlxError, match="predicted class 3 is outside 0..2"):
        confusion_matrix(np.full((1, 1, 1), 3), np.zeros((1, 1, 1)), 3)
    with pytest.raises(ReadlxError, match="predicted shape"):
        pixel_accuracy(np.zeros((1, 2, 2)), np.zeros((1, 2, 3)), 3)

"""Tasks: the classifier and measures a campaign applies to classification and segmentation outputs."""
from __future__ import annotations

import numpy as np
import pytest

from readlx.data.synthetic import synthetic
from readlx.data.voc import SegmentationSet
from readlx.errors import ReadlxError
from readlx.outcomes import segmentation as seg
from readlx.outcomes.classification import class_counts
from readlx.outcomes.records import FaultOutcome, FaultRecords
from readlx.outcomes.tasks import CLASSIFICATION, Segmentation, task_for


def test_classification_records_equal_the_counts() -> None:
    rng = np.random.default_rng(0)
    golden = rng.standard_normal((50, 5)).astype(np.float32)
    faulty = golden.copy()
    faulty[::3, 0] += 1.0
    faulty[7, 2] = np.nan
    labels = rng.integers(0, 5, 50)
    codes = CLASSIFICATION.classify(golden, faulty)
    pred = CLASSIFICATION.predict(faulty)
    records = FaultRecords.empty(0, 1, CLASSIFICATION, n_images=50)
    records.record(0, FaultOutcome(codes, pred, False), CLASSIFICATION, labels)
    got = [int(records.arrays()[name][0]) for name in ("masked", "non_critical", "critical", "nan_or_inf")]
    assert tuple(got) == class_counts(codes)
    assert records.faulty_correct[0] == int((pred == labels).sum())
    assert np.array_equal(records.outcome[0], codes)


def test_segmentation_quality_equals_reference_metrics() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, (4, 9, 9)).astype(np.uint8)
    labels[:, :2] = seg.IGNORE_LABEL
    scores = rng.standard_normal((4, 5, 9, 9)).astype(np.float32)
    task = Segmentation(num_classes=5)
    maps = task.predict(scores)
    acc, miou = task.quality(maps, labels)
    assert acc == seg.pixel_accuracy(maps, labels, 5)
    assert miou == seg.mean_iou(maps, labels, 5)
    assert task.correct(maps, labels) == round(acc * int((labels != 255).sum()))


def test_segmentation_prediction_outside_dataset_classes() -> None:
    task = Segmentation(num_classes=2)
    scores = np.zeros((1, 3, 2, 2), np.float32)
    scores[0, 2] = 1.0
    with pytest.raises(ReadlxError, match="predicted class 2, but the dataset has 2 classes"):
        task.quality(task.predict(scores), np.zeros((1, 2, 2), np.uint8))


def test_task_for() -> None:
    assert task_for(synthetic(2)) is CLASSIFICATION
    s = SegmentationSet("s", np.zeros((1, 3, 2, 2), np.float32), np.zeros((1, 2, 2), np.uint8), ("a", "b", "c"))
    assert task_for(s) == Segmentation(num_classes=3)
    with pytest.raises(ReadlxError, match="no task for a data set of type list"):
        task_for([])  # type: ignore[arg-type]  # the wrong type on purpose

"""The outcome classifier of faulty segmentations, and pixel accuracy / mIoU (invariant 4 of docs/architecture.md).

Per image, on predicted label maps (``argmax`` over the class axis of the raw scores, first maximum,
NaN counting as the maximum, as in :func:`readlx.outcomes.classification.top1`):

* **masked** (0): the faulty label map is identical to the golden one of the same engine;
* **tolerable** (1, the classification classifier's non-critical slot): not masked, fewer than
  ``tolerance`` (1 %) of the pixels changed, and the set of predicted classes is unchanged;
* **critical** (2): otherwise.

An output holding NaN or Inf gets :data:`NONFINITE` (4) added, as in :mod:`readlx.outcomes.classification`.

Masked is decided on the label maps, not on bitwise-identical raw scores as for classification:
the output of a segmentation network is its label map, and a score change that moves no pixel's
class is no observable effect. The classification rule is the same rule applied to the vector of
logits, because a classifier's scores are what it reports. :func:`scores_identical` gives the
stricter bitwise test for studies that need it. Label maps also let a campaign keep one golden
uint8 map per image (270 kB at 520x520) instead of the float32 scores (22 MB for 21 classes).
"""
from __future__ import annotations

from typing import cast

import numpy as np

from readlx._typing import Array
from readlx.errors import ReadlxError
from readlx.outcomes.classification import CRITICAL, MASKED, NONFINITE
from readlx.outcomes.classification import NON_CRITICAL as TOLERABLE

IGNORE_LABEL = 255
TOLERANCE = 0.01
OUTCOME_NAMES = ("masked", "tolerable", "critical")

__all__ = [
    "CRITICAL", "IGNORE_LABEL", "MASKED", "NONFINITE", "OUTCOME_NAMES", "TOLERABLE", "TOLERANCE",
    "classify_label_maps", "classify_segmentation", "confusion_matrix",
    "accuracy_of", "label_maps", "mean_iou", "miou_of", "nonfinite", "pixel_accuracy", "scores_identical",
]


def _scores(logits: Array) -> Array:
    if logits.ndim != 4:
        raise ReadlxError(f"segmentation scores must be (N, classes, H, W), got shape {logits.shape}")
    return np.asarray(logits, dtype=np.float32)


def label_maps(logits: Array) -> Array:
    """Predicted class per pixel, (N, H, W); uint8 when there are at most 256 classes, else int64.

    >>> s = np.zeros((1, 3, 1, 2), np.float32); s[0, 2, 0, 1] = 1.0
    >>> label_maps(s).tolist()
    [[[0, 2]]]
    """
    maps = np.argmax(_scores(logits), axis=1)
    return cast(Array, maps.astype(np.uint8) if logits.shape[1] <= 256 else maps)


def nonfinite(logits: Array) -> Array:
    """Per image: whether any score is NaN or Inf."""
    return cast(Array, ~np.isfinite(_scores(logits)).reshape(len(logits), -1).all(axis=1))


def scores_identical(golden: Array, faulty: Array) -> Array:
    """Per image: whether the raw scores are bitwise identical (the classification "masked" test)."""
    g, f = _scores(golden), _scores(faulty)
    if g.shape != f.shape:
        raise ReadlxError(f"golden scores shape {golden.shape} != faulty scores shape {faulty.shape}")
    return cast(Array, (g.view(np.uint32) == f.view(np.uint32)).reshape(len(g), -1).all(axis=1))


def _same_classes(golden: Array, faulty: Array) -> bool:
    """Whether two label maps predict the same set of classes."""
    size = int(max(golden.max(), faulty.max())) + 1
    return bool(np.array_equal(np.bincount(golden.ravel(), minlength=size) > 0,
                               np.bincount(faulty.ravel(), minlength=size) > 0))


def classify_label_maps(
    golden: Array,
    faulty: Array,
    faulty_nonfinite: Array | None = None,
    tolerance: float = TOLERANCE,
) -> Array:
    """Outcome code per image (int8) from golden and faulty label maps (N, H, W).

    Parameters
    ----------
    golden, faulty
        Predicted label maps of the same images by the same engine.
    faulty_nonfinite
        Per image, whether the faulty scores held NaN/Inf (see :func:`nonfinite`); adds
        :data:`NONFINITE` to those codes.
    tolerance
        Largest fraction of changed pixels, exclusive, for a tolerable outcome.

    Examples
    --------
    >>> g = np.zeros((3, 10, 10), np.uint8); g[:, :5] = 1
    >>> f = g.copy(); f[1, 0, 0] = 0; f[2, 0, 0] = 7
    >>> classify_label_maps(g, f).tolist()  # 1 % changed is not < 1 %
    [0, 2, 2]
    >>> classify_label_maps(g, f, tolerance=0.02).tolist()  # class 7 appeared in image 2
    [0, 1, 2]
    """
    if golden.shape != faulty.shape or golden.ndim != 3:
        raise ReadlxError(f"label maps must both be (N, H, W); got {golden.shape} and {faulty.shape}")
    if not 0.0 <= tolerance <= 1.0:
        raise ReadlxError(f"tolerance is a fraction of pixels in [0, 1], got {tolerance!r}")
    n, h, w = golden.shape
    if h * w == 0:
        raise ReadlxError(f"label maps have no pixels: shape {golden.shape}")
    changed = (golden != faulty).reshape(n, h * w).mean(axis=1)
    tolerable = (changed > 0) & (changed < tolerance)
    # Class sets are compared only where they can decide the outcome: a few images per fault.
    for i in np.flatnonzero(tolerable):
        tolerable[i] = _same_classes(golden[i], faulty[i])
    code = np.where(changed == 0, MASKED, np.where(tolerable, TOLERABLE, CRITICAL)).astype(np.int8)
    if faulty_nonfinite is not None:
        code[np.asarray(faulty_nonfinite, dtype=bool)] += NONFINITE
    return code


def classify_segmentation(golden: Array, faulty: Array, tolerance: float = TOLERANCE) -> Array:
    """Outcome code per image (int8) from golden and faulty scores (N, classes, H, W).

    >>> g = np.zeros((2, 2, 4, 4), np.float32); g[:, 1] = 1.0
    >>> f = g.copy(); f[0, 1] = 0.5; f[1, 0, 0, 0] = np.nan
    >>> classify_segmentation(g, f).tolist()  # scores changed, labels not; NaN moved a pixel
    [0, 6]
    """
    if golden.shape != faulty.shape:
        raise ReadlxError(f"golden scores shape {golden.shape} != faulty scores shape {faulty.shape}")
    return classify_label_maps(label_maps(golden), label_maps(faulty), nonfinite(faulty), tolerance)


def confusion_matrix(
    predicted: Array, labels: Array, num_classes: int, ignore_label: int = IGNORE_LABEL
) -> Array:
    """(classes, classes) int64 pixel counts, rows = true class, columns = predicted class.

    Pixels labelled ``ignore_label`` are left out.

    >>> confusion_matrix(np.array([[0, 1, 1]]), np.array([[0, 1, 255]]), 2).tolist()
    [[1, 0], [0, 1]]
    """
    if predicted.shape != labels.shape:
        raise ReadlxError(f"predicted shape {predicted.shape} != labels shape {labels.shape}")
    keep = labels != ignore_label
    truth = labels[keep].astype(np.int64)
    pred = predicted[keep].astype(np.int64)
    for what, values in (("label", truth), ("predicted class", pred)):
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.size:
            raise ReadlxError(
                f"{what} {int(bad[0])} is outside 0..{num_classes - 1} "
                f"(and is not the ignore label {ignore_label})"
            )
    return np.bincount(truth * num_classes + pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def pixel_accuracy(
    predicted: Array, labels: Array, num_classes: int, ignore_label: int = IGNORE_LABEL
) -> float:
    """Fraction of non-ignored pixels, over all images, whose predicted class is the label.

    >>> pixel_accuracy(np.array([[0, 1, 0]]), np.array([[0, 1, 1]]), 2)
    0.6666666666666666
    """
    return accuracy_of(confusion_matrix(predicted, labels, num_classes, ignore_label))


def mean_iou(
    predicted: Array, labels: Array, num_classes: int, ignore_label: int = IGNORE_LABEL
) -> float:
    """Mean over classes of intersection / union, over all images at once.

    Classes absent from both the labels and the predictions (union 0) are left out of the mean,
    rather than counted as 0 or 1.

    >>> mean_iou(np.array([[0, 1, 0]]), np.array([[0, 1, 1]]), 3)
    0.5
    """
    return miou_of(confusion_matrix(predicted, labels, num_classes, ignore_label))


def accuracy_of(cm: Array) -> float:
    """Pixel accuracy of a confusion matrix (NaN when it counts no pixel).

    >>> accuracy_of(np.array([[2, 1], [0, 1]]))
    0.75
    """
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def miou_of(cm: Array) -> float:
    """Mean intersection over union of a confusion matrix, over classes with a non-empty union.

    >>> miou_of(np.array([[2, 1], [0, 1]]))
    0.5833333333333333
    """
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(axis=0) + cm.sum(axis=1) - inter
    present = union > 0
    return float((inter[present] / union[present]).mean()) if present.any() else float("nan")

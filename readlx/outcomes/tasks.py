"""What a campaign measures per inference: image classification or semantic segmentation.

A task turns golden and faulty outputs into the per-image outcome codes of DESIGN.md invariant 4
and into the per-fault numbers stored beside them:

* :class:`Classification` -- masked / non-critical / critical on the logits (:mod:`readlx.outcomes.classification`);
  ``faulty_correct`` and ``golden_correct`` count images whose top-1 class is the label.
* :class:`Segmentation` -- masked / tolerable / critical on the label maps
  (:mod:`readlx.outcomes.segmentation`); ``faulty_correct`` and ``golden_correct`` count correctly
  labelled pixels, and the quality variables ``pixel_accuracy`` and ``miou`` are stored per fault
  (``faulty_*``) and per framework (``golden_*``).

Both use the same Dataset schema: the second outcome class is stored in ``non_critical`` in either
case (for segmentation it holds the tolerable images), and the ``classifier`` and ``outcome_names`` attrs
say which it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Union

import numpy as np

from readlx.outcomes import classification as cls
from readlx.outcomes import segmentation as seg
from readlx.data.imageset import ImageSet
from readlx.data.voc import SegmentationSet
from readlx.errors import ReadlxError

ImageData = Union[ImageSet, SegmentationSet]
"""What a campaign runs over: labelled images, or images with per-pixel labels."""


class Task(Protocol):
    """The classifier and measures of one kind of network output."""

    name: str
    outcome_names: tuple[str, str, str]
    quality_vars: tuple[str, ...]
    unit: str

    def classify(self, golden: np.ndarray, faulty: np.ndarray) -> np.ndarray:
        """Outcome code per image (int8), as in :mod:`readlx.outcomes.classification`."""

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """What the network answers per image: top-1 class (N,) or label map (N, H, W)."""

    def correct(self, prediction: np.ndarray, labels: np.ndarray) -> int:
        """Correct answers: images (classification) or labelled pixels (segmentation)."""

    def quality(self, prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``quality_vars`` over the whole image set, float64."""

    def attrs(self) -> dict[str, Any]:
        """What the Dataset records about the task."""


def tally(task: Task, codes: np.ndarray, prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One fault's counts in the order of :data:`readlx.outcomes.classification.Counts.FIELDS` (int64).

    >>> tally(CLASSIFICATION, np.array([0, 1, 6], np.int8), np.array([3, 1, 2]), np.array([3, 0, 2])).tolist()
    [1, 1, 1, 1, 2]
    """
    return np.array([*cls.class_counts(codes), task.correct(prediction, labels)], dtype=np.int64)


@dataclass(frozen=True)
class Classification:
    """Top-1 classification on raw logits."""

    name: str = "classification"
    outcome_names: tuple[str, str, str] = ("masked", "non_critical", "critical")
    quality_vars: tuple[str, ...] = ()
    unit: str = "images"

    def classify(self, golden: np.ndarray, faulty: np.ndarray) -> np.ndarray:
        return cls.classify(golden, faulty)

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        return cls.top1(outputs)

    def correct(self, prediction: np.ndarray, labels: np.ndarray) -> int:
        return int((prediction == labels).sum())

    def quality(self, prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
        return np.zeros(0, np.float64)

    def attrs(self) -> dict[str, Any]:
        return {"classifier": self.name, "outcome_names": " ".join(self.outcome_names)}


@dataclass(frozen=True)
class Segmentation:
    """Semantic segmentation on per-pixel scores (N, classes, H, W).

    Examples
    --------
    >>> task = Segmentation(num_classes=2)
    >>> g = np.zeros((1, 2, 2, 2), np.float32); g[0, 1, 0] = 1.0   # top row class 1
    >>> labels = np.array([[[1, 1], [0, 255]]], np.uint8)
    >>> task.correct(task.predict(g), labels), task.quality(task.predict(g), labels).tolist()
    (3, [1.0, 1.0])
    """

    num_classes: int
    ignore_label: int = seg.IGNORE_LABEL
    tolerance: float = seg.TOLERANCE
    name: str = "segmentation"
    outcome_names: tuple[str, str, str] = ("masked", "tolerable", "critical")
    quality_vars: tuple[str, ...] = ("pixel_accuracy", "miou")
    unit: str = "pixels"

    def classify(self, golden: np.ndarray, faulty: np.ndarray) -> np.ndarray:
        return seg.classify_segmentation(golden, faulty, self.tolerance)

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        return seg.label_maps(outputs)

    def correct(self, prediction: np.ndarray, labels: np.ndarray) -> int:
        keep = labels != self.ignore_label
        return int((prediction[keep] == labels[keep]).sum())

    def quality(self, prediction: np.ndarray, labels: np.ndarray) -> np.ndarray:
        cm = seg.confusion_matrix(_clip(prediction, self.num_classes), labels, self.num_classes,
                                  self.ignore_label)
        return np.array([seg.accuracy_of(cm), seg.miou_of(cm)], np.float64)

    def attrs(self) -> dict[str, Any]:
        return {"classifier": self.name, "outcome_names": " ".join(self.outcome_names),
                "tolerable_fraction": self.tolerance, "ignore_label": self.ignore_label,
                "labelled_pixels_note": "faulty_correct and golden_correct count correctly labelled pixels"}


def _clip(prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """Label maps of a network with more output channels than dataset classes are not scored here."""
    if prediction.size and int(prediction.max()) >= num_classes:
        raise ReadlxError(f"the network predicted class {int(prediction.max())}, but the dataset has "
                          f"{num_classes} classes (0..{num_classes - 1})")
    return prediction


CLASSIFICATION = Classification()


def task_for(data: ImageData) -> Task:
    """The task of an image set: per-pixel labels mean segmentation.

    >>> from readlx.data.synthetic import synthetic
    >>> task_for(synthetic(2)).name
    'classification'
    """
    if isinstance(data, SegmentationSet):
        return Segmentation(num_classes=len(data.classes), ignore_label=data.ignore_label)
    if isinstance(data, ImageSet):
        return CLASSIFICATION
    raise ReadlxError(f"no task for a data set of type {type(data).__name__}; expected ImageSet or "
                      "SegmentationSet")

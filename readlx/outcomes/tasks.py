"""What a campaign measures per inference: image classification or semantic segmentation.

A task turns golden and faulty outputs into the per-image outcome codes of invariant 4 of docs/architecture.md
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
from typing import Any, Protocol

import numpy as np

from readlx._typing import Array
from readlx.data.imageset import ImageSet
from readlx.data.voc import SegmentationSet
from readlx.errors import ReadlxError
from readlx.outcomes import classification as cls
from readlx.outcomes import segmentation as seg

ImageData = ImageSet | SegmentationSet
"""What a campaign runs over: labelled images, or images with per-pixel labels."""


CLASSIFICATION_VARIABLES: dict[str, tuple[str, str]] = {
    "masked": ("images whose faulty output is bitwise equal to golden", "images"),
    "non_critical": ("images with changed output but unchanged top-1 class", "images"),
    "critical": ("images whose top-1 class changed (SDC-1)", "images"),
    "nan_or_inf": ("images whose faulty output holds NaN or Inf (also counted in their class)", "images"),
    "faulty_correct": ("images whose faulty top-1 class equals the label", "images"),
    "noop": ("stuck-at fault equal to the stored bit: masked without inference", "1"),
    "golden_correct": ("images whose golden top-1 class equals the label", "images"),
    "outcome": ("per-inference outcome: 0 masked, 1 non-critical, 2 critical, +4 NaN/Inf", "1"),
    "golden_top1": ("golden top-1 class per image", "1"),
    "label": ("ground-truth label per image", "1"),
}
"""Dataset variable -> (CF description, units), as a classification campaign means them."""

SEGMENTATION_VARIABLES: dict[str, tuple[str, str]] = {
    "non_critical": ("tolerable images: label map changed in < 1 % of pixels, same set of predicted "
                     "classes", "images"),
    "critical": ("images whose label map changed in >= 1 % of pixels or in its set of classes", "images"),
    "masked": ("images whose predicted label map is identical to golden", "images"),
    "faulty_correct": ("correctly labelled pixels of the faulty label maps (ignore label left out)", "pixels"),
    "golden_correct": ("correctly labelled pixels of the golden label maps (ignore label left out)", "pixels"),
    "outcome": ("per-inference outcome: 0 masked, 1 tolerable, 2 critical, +4 NaN/Inf", "1"),
    "faulty_pixel_accuracy": ("pixel accuracy of the faulty label maps over all images", "1"),
    "faulty_miou": ("mean intersection over union of the faulty label maps over all images", "1"),
    "golden_pixel_accuracy": ("pixel accuracy of the golden label maps over all images", "1"),
    "golden_miou": ("mean intersection over union of the golden label maps over all images", "1"),
}
"""What a segmentation campaign means by the variables it shares with classification, and its own."""


class Task(Protocol):
    """The classifier and measures of one kind of network output."""

    # Read-only properties, so that frozen dataclasses satisfy the protocol.
    @property
    def name(self) -> str: ...

    @property
    def outcome_names(self) -> tuple[str, str, str]: ...

    @property
    def quality_vars(self) -> tuple[str, ...]: ...

    @property
    def unit(self) -> str: ...

    def classify(self, golden: Array, faulty: Array) -> Array:
        """Outcome code per image (int8), as in :mod:`readlx.outcomes.classification`."""

    def predict(self, outputs: Array) -> Array:
        """What the network answers per image: top-1 class (N,) or label map (N, H, W)."""

    def correct(self, prediction: Array, labels: Array) -> int:
        """Correct answers: images (classification) or labelled pixels (segmentation)."""

    def quality(self, prediction: Array, labels: Array) -> Array:
        """``quality_vars`` over the whole image set, float64."""

    def attrs(self) -> dict[str, Any]:
        """What the Dataset records about the task."""

    def variables(self) -> dict[str, tuple[str, str]]:
        """Dataset variable -> (CF description, units) in this task's words."""


@dataclass(frozen=True)
class Classification:
    """Top-1 classification on raw logits."""

    name: str = "classification"
    outcome_names: tuple[str, str, str] = ("masked", "non_critical", "critical")
    quality_vars: tuple[str, ...] = ()
    unit: str = "images"

    def classify(self, golden: Array, faulty: Array) -> Array:
        return cls.classify(golden, faulty)

    def predict(self, outputs: Array) -> Array:
        return cls.top1(outputs)

    def correct(self, prediction: Array, labels: Array) -> int:
        return int((prediction == labels).sum())

    def quality(self, prediction: Array, labels: Array) -> Array:
        return np.zeros(0, np.float64)

    def attrs(self) -> dict[str, Any]:
        return {"classifier": self.name, "outcome_names": " ".join(self.outcome_names)}

    def variables(self) -> dict[str, tuple[str, str]]:
        return dict(CLASSIFICATION_VARIABLES)


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

    def classify(self, golden: Array, faulty: Array) -> Array:
        return seg.classify_segmentation(golden, faulty, self.tolerance)

    def predict(self, outputs: Array) -> Array:
        return seg.label_maps(outputs)

    def correct(self, prediction: Array, labels: Array) -> int:
        keep = labels != self.ignore_label
        return int((prediction[keep] == labels[keep]).sum())

    def quality(self, prediction: Array, labels: Array) -> Array:
        cm = seg.confusion_matrix(_clip(prediction, self.num_classes), labels, self.num_classes,
                                  self.ignore_label)
        return np.array([seg.accuracy_of(cm), seg.miou_of(cm)], np.float64)

    def attrs(self) -> dict[str, Any]:
        return {"classifier": self.name, "outcome_names": " ".join(self.outcome_names),
                "tolerable_fraction": self.tolerance, "ignore_label": self.ignore_label,
                "labelled_pixels_note": "faulty_correct and golden_correct count correctly labelled pixels"}

    def variables(self) -> dict[str, tuple[str, str]]:
        return {**CLASSIFICATION_VARIABLES, **SEGMENTATION_VARIABLES}


def _clip(prediction: Array, num_classes: int) -> Array:
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

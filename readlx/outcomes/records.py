"""Per-fault results: one fault's outcome on one engine, and the records of a range of faults.

:class:`FaultRecords` is the one schema of per-fault results. The campaign loop fills it, checkpoints
store it (:meth:`FaultRecords.arrays` / :meth:`FaultRecords.from_arrays`), and the Dataset constructor
(:func:`readlx.results.make_dataset`) reads it, every field by name.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from readlx._typing import Array
from readlx.errors import ReadlxError
from readlx.outcomes.classification import class_counts
from readlx.outcomes.tasks import Task

COUNT_FIELDS = ("masked", "non_critical", "critical", "nan_or_inf", "faulty_correct")
"""The per-fault counts, each a Dataset variable (the second class is *tolerable* for segmentation)."""


class FaultOutcome(NamedTuple):
    """What one fault did on one engine over the campaign's images."""

    codes: Array
    """Outcome code per image (int8, :mod:`readlx.outcomes.classification`)."""
    prediction: Array
    """The faulty answer per image: top-1 class (N,) or label map (N, H, W)."""
    noop: bool
    """A stuck-at equal to the stored bit (classified masked; inferred only when forced)."""


@dataclass(frozen=True)
class GoldenRecord:
    """What one engine answers without a fault: correct answers, quality measures, predictions."""

    correct: int
    quality: Array
    prediction: Array

    @classmethod
    def of(cls, task: Task, golden: Array, labels: Array) -> GoldenRecord:
        prediction = task.predict(golden)
        return cls(task.correct(prediction, labels), task.quality(prediction, labels), prediction)


@dataclass(frozen=True, eq=False)
class FaultRecords:
    """Results of one framework for faults ``start .. start + len - 1`` of a fault list.

    Each count field is an int64 array (F,); ``noop`` bool (F,); ``quality`` float64 (F, M) with the
    task's quality variables (M may be 0); ``outcome`` the per-image codes int8 (F, N), or None.
    The arrays are filled in place by :meth:`record`.

    Examples
    --------
    >>> from readlx.outcomes.tasks import CLASSIFICATION
    >>> r = FaultRecords.empty(0, 2, CLASSIFICATION, n_images=3)
    >>> r.record(1, FaultOutcome(np.array([0, 2, 6], np.int8), np.array([1, 0, 2]), False), CLASSIFICATION,
    ...          labels=np.array([1, 1, 2]))
    >>> r.masked.tolist(), r.critical.tolist(), r.nan_or_inf.tolist(), r.faulty_correct.tolist()
    ([0, 1], [0, 2], [0, 1], [0, 2])
    >>> FaultRecords.from_arrays(0, r.arrays()).critical.tolist()
    [0, 2]
    """

    start: int
    masked: Array
    non_critical: Array
    critical: Array
    nan_or_inf: Array
    faulty_correct: Array
    noop: Array
    quality: Array
    outcome: Array | None = None

    @classmethod
    def empty(cls, start: int, n_faults: int, task: Task, n_images: int | None = None) -> FaultRecords:
        """Zeroed records of ``n_faults`` faults; with ``n_images``, room for per-image codes."""
        counts = {name: np.zeros(n_faults, np.int64) for name in COUNT_FIELDS}
        return cls(start, **counts, noop=np.zeros(n_faults, bool),
                   quality=np.full((n_faults, len(task.quality_vars)), np.nan),
                   outcome=None if n_images is None else np.zeros((n_faults, n_images), np.int8))

    @classmethod
    def from_codes(cls, codes: Array, *, faulty_correct: Array | None = None,
                   noop: Array | None = None) -> FaultRecords:
        """Records of faults 0..F-1 (no quality variables) counted from per-image codes ``(F, N)``.

        >>> FaultRecords.from_codes(np.array([[0, 2], [1, 5]], np.int8)).nan_or_inf.tolist()
        [0, 1]
        """
        codes = np.asarray(codes, np.int8)
        counts = np.array([class_counts(row) for row in codes], np.int64).reshape(len(codes), 4)
        n = len(codes)
        return cls(0, counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3],
                   faulty_correct=np.zeros(n, np.int64) if faulty_correct is None else np.asarray(faulty_correct),
                   noop=np.zeros(n, bool) if noop is None else np.asarray(noop, bool),
                   quality=np.zeros((n, 0)), outcome=codes)

    def __len__(self) -> int:
        return len(self.noop)

    @property
    def end(self) -> int:
        return self.start + len(self)

    def record(self, i: int, result: FaultOutcome, task: Task, labels: Array) -> None:
        """Store the outcome of the fault at position ``i`` of these records."""
        for name, value in zip(COUNT_FIELDS, class_counts(result.codes), strict=False):  # the last field is set below
            getattr(self, name)[i] = value
        self.faulty_correct[i] = task.correct(result.prediction, labels)
        self.noop[i] = result.noop
        self.quality[i] = task.quality(result.prediction, labels)
        if self.outcome is not None:
            self.outcome[i] = result.codes

    def part(self, lo: int, hi: int) -> FaultRecords:
        """Positions ``lo..hi-1`` (views)."""
        return FaultRecords(self.start + lo, **{k: v[lo:hi] for k, v in self.arrays().items()})

    def fill(self, other: FaultRecords) -> None:
        """Copy ``other`` (records of a sub-range) into place."""
        lo, hi = other.start - self.start, other.end - self.start
        if lo < 0 or hi > len(self):
            raise ReadlxError(f"records of faults {other.start}..{other.end - 1} do not fit in "
                              f"{self.start}..{self.end - 1}")
        for name, value in other.arrays().items():
            getattr(self, name)[lo:hi] = value

    def arrays(self) -> dict[str, Array]:
        """Every field but ``start`` by name (``outcome`` only when kept)."""
        out = {name: getattr(self, name) for name in (*COUNT_FIELDS, "noop", "quality")}
        if self.outcome is not None:
            out["outcome"] = self.outcome
        return out

    @classmethod
    def from_arrays(cls, start: int, arrays: Mapping[str, Array]) -> FaultRecords:
        """Records from :meth:`arrays`' output; raises when a field is missing or has the wrong length."""
        missing = [k for k in (*COUNT_FIELDS, "noop", "quality") if k not in arrays]
        if missing:
            raise ReadlxError(f"fault records lack {missing}; they hold {sorted(arrays)}")
        n = len(arrays["noop"])
        wrong = [k for k, v in arrays.items() if len(v) != n]
        if wrong:
            raise ReadlxError(f"fault records of {n} faults have fields {wrong} of another length")
        fields = {k: np.asarray(arrays[k]) for k in (*COUNT_FIELDS, "noop", "quality")}
        outcome = arrays.get("outcome")
        return cls(start, **fields, outcome=None if outcome is None else np.asarray(outcome))

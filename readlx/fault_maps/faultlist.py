"""A fault list: canonical faults with their ids, sampling parameters and published outcomes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault

PUBLISHED_COLUMNS = ("n_injections", "masked", "non_critical", "critical")


@dataclass(frozen=True)
class Sampling:
    """How a statistical fault list was drawn (recorded in every result's attrs).

    ``mode`` is ``"network-wise"``, ``"layer-wise"`` or ``"paper"`` (the published generator).
    """

    population: int
    sample_size: int
    margin: float
    confidence: float
    p: float
    t: float
    seed: int | None
    mode: str

    def to_attrs(self) -> dict[str, Any]:
        return {
            "sampling_population": int(self.population),
            "sampling_sample_size": int(self.sample_size),
            "sampling_margin": float(self.margin),
            "sampling_confidence": float(self.confidence),
            "sampling_p": float(self.p),
            "sampling_t": float(self.t),
            "sampling_seed": -1 if self.seed is None else int(self.seed),
            "sampling_mode": self.mode,
        }

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "Sampling | None":
        if "sampling_population" not in attrs:
            return None
        seed = int(attrs["sampling_seed"])
        return cls(
            population=int(attrs["sampling_population"]),
            sample_size=int(attrs["sampling_sample_size"]),
            margin=float(attrs["sampling_margin"]),
            confidence=float(attrs["sampling_confidence"]),
            p=float(attrs["sampling_p"]),
            t=float(attrs["sampling_t"]),
            seed=None if seed < 0 else seed,
            mode=str(attrs["sampling_mode"]),
        )


@dataclass(eq=False)
class FaultList:
    """Faults of one model, each with the id it has in its file (the ``Injection`` column).

    ``published`` holds, when the source had them, the per-fault outcome counts
    ``(n_injections, masked, non_critical, critical)`` as an ``(F, 4)`` int64 array.
    """

    model: str
    faults: tuple[Fault, ...]
    ids: tuple[int, ...] = ()
    sampling: Sampling | None = None
    published: np.ndarray | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.faults = tuple(self.faults)
        self.ids = tuple(int(i) for i in self.ids) if self.ids else tuple(range(len(self.faults)))
        if len(self.ids) != len(self.faults):
            raise FaultListError(
                f"{len(self.ids)} ids for {len(self.faults)} faults", path=self.source
            )
        if len(set(self.ids)) != len(self.ids):
            raise FaultListError("fault ids are not unique", path=self.source)
        if self.published is not None:
            self.published = np.asarray(self.published, dtype=np.int64)
            if self.published.shape != (len(self.faults), len(PUBLISHED_COLUMNS)):
                raise FaultListError(
                    f"published counts have shape {self.published.shape}, expected "
                    f"({len(self.faults)}, {len(PUBLISHED_COLUMNS)})",
                    path=self.source,
                )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FaultList):
            return NotImplemented
        same_published = (self.published is None) == (other.published is None) and (
            self.published is None or np.array_equal(self.published, other.published)
        )
        return same_published and (self.model, self.faults, self.ids, self.sampling, self.source, self.meta) == (
            other.model, other.faults, other.ids, other.sampling, other.source, other.meta
        )

    def __len__(self) -> int:
        return len(self.faults)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults)

    def subset(self, positions: list[int] | np.ndarray) -> "FaultList":
        """The faults at the given positions (ids, published counts and sampling kept)."""
        pos = [int(p) for p in positions]
        return FaultList(
            self.model,
            tuple(self.faults[p] for p in pos),
            tuple(self.ids[p] for p in pos),
            self.sampling,
            None if self.published is None else self.published[pos],
            self.source,
            dict(self.meta),
        )

    def by_id(self, fault_id: int) -> Fault:
        try:
            return self.faults[self.ids.index(int(fault_id))]
        except ValueError as e:
            raise FaultListError(f"no fault with id {fault_id!r}", path=self.source) from e

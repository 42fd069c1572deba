"""A fault list: canonical faults with their ids, sampling parameters and published outcomes.

A :class:`FaultList` is an immutable sequence of :class:`FaultEntry` (id, fault, published counts);
``faults``, ``ids`` and ``published`` are views of the entries, computed once.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any, overload

import numpy as np
import numpy.typing as npt

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
    def from_attrs(cls, attrs: dict[str, Any]) -> Sampling | None:
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


@dataclass(frozen=True)
class PublishedCounts:
    """Outcome counts of one fault as published with the suite (columns :data:`PUBLISHED_COLUMNS`).

    Examples
    --------
    >>> PublishedCounts(10000, 25, 9975, 0).as_tuple()
    (10000, 25, 9975, 0)
    """

    n_injections: int
    masked: int
    non_critical: int
    critical: int

    def __post_init__(self) -> None:
        for name in PUBLISHED_COLUMNS:
            object.__setattr__(self, name, int(getattr(self, name)))

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.n_injections, self.masked, self.non_critical, self.critical)


@dataclass(frozen=True)
class FaultEntry:
    """One row of a fault list: the id it has in its file (the ``Injection`` column), the fault and,
    when the source had them, its published outcome counts."""

    id: int
    fault: Fault
    published: PublishedCounts | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", int(self.id))


@dataclass(frozen=True)
class FaultList(Sequence[FaultEntry]):
    """The faults of one model, as an immutable sequence of :class:`FaultEntry`.

    Ids are unique; either every entry carries published counts or none does. ``meta`` is a
    read-only mapping (the published CSVs keep their line-ending style there).

    Examples
    --------
    >>> fl = FaultList.from_faults("m", (Fault("fc", (7, 36), 4), Fault("fc", (1, 2), 30)), ids=(4, 9),
    ...                            published=[[10, 10, 0, 0], [10, 2, 5, 3]])
    >>> fl.ids, fl[1].fault.bit, fl.by_id(9).published.critical
    ((4, 9), 30, 3)
    >>> fl.published.tolist()
    [[10, 10, 0, 0], [10, 2, 5, 3]]
    >>> fl.subset([1]).ids, fl.with_source("m_FL.csv").source
    ((9,), 'm_FL.csv')
    """

    model: str
    entries: tuple[FaultEntry, ...] = ()
    sampling: Sampling | None = None
    source: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    checked_against: str | None = field(default=None, compare=False)
    """:meth:`readlx.graph.LayerTable.digest` of the table every fault was checked against when the list
    was read or drawn (None: not checked); a campaign on that table does not check them again."""
    _positions: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = tuple(self.entries)
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        for entry in entries:
            if not isinstance(entry, FaultEntry):
                raise FaultListError(
                    f"a fault list holds FaultEntry items, got {entry!r}; build one from plain "
                    "faults with FaultList.from_faults",
                    path=self.source,
                )
        object.__setattr__(self, "_positions", _positions(entries, self.source))
        _check_counts(entries, self.source)

    @classmethod
    def from_faults(
        cls,
        model: str,
        faults: Iterable[Fault],
        *,
        ids: Iterable[int] | None = None,
        published: Any = None,
        sampling: Sampling | None = None,
        source: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> FaultList:
        """A list of plain faults; ``ids`` default to ``0..F-1``, ``published`` is ``(F, 4)`` or None.

        Examples
        --------
        >>> FaultList.from_faults("m", [Fault("fc", (7, 36), 4)], ids=[5]).entries
        (FaultEntry(id=5, fault=Fault(layer='fc', index=(7, 36), bit=4, kind=<FaultKind.BIT_FLIP: 'bit-flip'>),
                    published=None),)
        """
        faults = tuple(faults)
        ids = tuple(range(len(faults))) if ids is None else tuple(int(i) for i in ids)
        if len(ids) != len(faults):
            raise FaultListError(f"{len(ids)} ids for {len(faults)} faults", path=source)
        counts = _counts_rows(published, len(faults), source)
        entries = tuple(FaultEntry(i, f, c) for i, f, c in zip(ids, faults, counts, strict=True))
        return cls(model, entries, sampling, source, {} if meta is None else meta)

    # -- the sequence ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[FaultEntry]:
        return iter(self.entries)

    @overload
    def __getitem__(self, key: int) -> FaultEntry: ...

    @overload
    def __getitem__(self, key: slice) -> FaultList: ...

    def __getitem__(self, key: int | slice) -> FaultEntry | FaultList:
        if isinstance(key, slice):
            return replace(self, entries=self.entries[key])
        return self.entries[key]

    def __hash__(self) -> int:
        # meta is left out: its values may be unhashable (JSON lists); equal lists still hash equal.
        return hash((self.model, self.entries, self.sampling, self.source))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mapping proxy cannot be pickled (fault lists travel to Dask workers).
        return (FaultList, (self.model, self.entries, self.sampling, self.source, dict(self.meta)))

    # -- views -------------------------------------------------------------------------------------
    @cached_property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(e.fault for e in self.entries)

    @cached_property
    def ids(self) -> tuple[int, ...]:
        return tuple(e.id for e in self.entries)

    @cached_property
    def published(self) -> npt.NDArray[np.int64] | None:
        """The ``(F, 4)`` int64 published counts (read-only), or None when the entries have none."""
        if not self.entries or self.entries[0].published is None:
            return None
        rows = [e.published.as_tuple() for e in self.entries if e.published is not None]
        out = np.array(rows, dtype=np.int64).reshape(-1, len(PUBLISHED_COLUMNS))
        out.setflags(write=False)
        return out

    # -- lookups and changed copies ----------------------------------------------------------------
    def by_id(self, fault_id: int) -> FaultEntry:
        """The entry with id ``fault_id``."""
        try:
            return self.entries[self._positions[int(fault_id)]]
        except KeyError as e:
            raise FaultListError(f"no fault with id {fault_id!r}", path=self.source) from e

    def subset(self, positions: Iterable[int] | npt.NDArray[np.integer[Any]]) -> FaultList:
        """The entries at the given positions (ids, published counts, sampling, source, meta kept)."""
        return replace(self, entries=tuple(self.entries[int(p)] for p in positions))

    def with_source(self, source: str | None) -> FaultList:
        """The same list, recorded as read from ``source``."""
        return replace(self, source=source)

    def with_published(self, published: Any) -> FaultList:
        """The same faults and ids with other published counts (``(F, 4)`` array-like, or None)."""
        counts = _counts_rows(published, len(self.entries), self.source)
        return replace(self, entries=tuple(replace(e, published=c) for e, c in zip(self.entries, counts, strict=True)))


def _positions(entries: tuple[FaultEntry, ...], source: str | None) -> dict[int, int]:
    positions: dict[int, int] = {}
    for k, entry in enumerate(entries):
        if entry.id in positions:
            first = positions[entry.id]
            message = f"fault ids are not unique: id {entry.id} is at positions {first} and {k}"
            raise FaultListError(message, path=source)
        positions[entry.id] = k
    return positions


def _check_counts(entries: tuple[FaultEntry, ...], source: str | None) -> None:
    with_counts = sum(e.published is not None for e in entries)
    if 0 < with_counts < len(entries):
        bare = next(e.id for e in entries if e.published is None)
        raise FaultListError(
            f"{with_counts} of {len(entries)} faults carry published counts (fault {bare} has "
            "none); a list carries counts for all its faults or for none",
            path=source,
        )


def _counts_rows(published: Any, n: int, source: str | None) -> list[PublishedCounts | None]:
    if published is None:
        return [None] * n
    array = np.asarray(published, dtype=np.int64)
    if array.shape != (n, len(PUBLISHED_COLUMNS)):
        raise FaultListError(
            f"published counts have shape {array.shape}, expected ({n}, {len(PUBLISHED_COLUMNS)})",
            path=source,
        )
    return [PublishedCounts(*row) for row in array.tolist()]

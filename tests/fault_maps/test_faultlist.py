"""Fault lists as immutable sequences of entries: derived views, checks, lookups and copies."""
from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultEntry, FaultList, PublishedCounts

A = Fault("conv1", (3, 0, 2, 1), 15)
B = Fault("fc", (7, 15), 31, FaultKind.STUCK_AT_1)
C = Fault("fc", (0, 1), 2)
COUNTS = [[10, 1, 8, 1], [10, 0, 0, 10], [10, 10, 0, 0]]


def counted() -> FaultList:
    return FaultList.from_faults("m", (A, B, C), ids=(4, 9, 2), published=COUNTS, source="m_FL.csv",
                                 meta={"newline": "\r\n"})


def test_entries_carry_id_fault_and_counts() -> None:
    fl = counted()
    assert fl[1] == FaultEntry(9, B, PublishedCounts(10, 0, 0, 10))
    assert list(fl) == list(fl.entries) and len(fl) == 3
    assert fl.faults == (A, B, C) and fl.ids == (4, 9, 2)
    assert fl.published is not None and fl.published.dtype == np.int64
    np.testing.assert_array_equal(fl.published, COUNTS)
    assert fl[1].published is not None and fl[1].published.as_tuple() == (10, 0, 0, 10)


def test_a_list_without_counts_has_no_published_array() -> None:
    fl = FaultList.from_faults("m", (A, B))
    assert fl.ids == (0, 1) and fl.published is None
    assert all(e.published is None for e in fl)
    assert FaultList("m").published is None and len(FaultList("m")) == 0


def test_fault_lists_are_frozen() -> None:
    fl = counted()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fl.source = "other.csv"  # type: ignore[misc]  # assigning to a frozen field on purpose
    with pytest.raises(dataclasses.FrozenInstanceError):
        fl.entries[0].id = 5  # type: ignore[misc]  # assigning to a frozen field on purpose
    with pytest.raises(dataclasses.FrozenInstanceError):
        fl[0].published.masked = 3  # type: ignore[misc, union-attr]  # assigning to a frozen field on purpose
    with pytest.raises(TypeError):
        fl.meta["newline"] = "\n"  # type: ignore[index]  # writing to a read-only mapping on purpose
    with pytest.raises(ValueError, match="read-only"):
        fl.published[0, 0] = 1  # type: ignore[index]  # writing to a read-only array on purpose
    with pytest.raises(AttributeError):
        fl.ids = (1, 2, 3)  # type: ignore[misc]  # assigning to a frozen field on purpose


def test_meta_is_copied_on_construction() -> None:
    meta = {"newline": "\n"}
    fl = FaultList.from_faults("m", (A,), meta=meta)
    meta["newline"] = "\r\n"
    assert fl.meta == {"newline": "\n"}


def test_equality_and_hashing() -> None:
    assert counted() == counted() and hash(counted()) == hash(counted())
    assert counted() != counted().with_source(None)
    assert counted() != counted().with_published(None)
    assert len({counted(), counted(), counted().subset([0])}) == 2
    assert pickle.loads(pickle.dumps(counted())) == counted()


def test_mixing_counted_and_uncounted_entries_is_an_error() -> None:
    entries = (FaultEntry(0, A, PublishedCounts(10, 10, 0, 0)), FaultEntry(1, B))
    with pytest.raises(FaultListError, match="1 of 2 faults carry published counts \\(fault 1 has none\\)"):
        FaultList("m", entries)


def test_duplicate_ids_are_named() -> None:
    with pytest.raises(FaultListError, match="id 7 is at positions 0 and 2") as info:
        FaultList.from_faults("m", (A, B, C), ids=(7, 8, 7), source="x.csv")
    assert info.value.path == "x.csv"


def test_entries_must_be_entries() -> None:
    with pytest.raises(FaultListError, match="FaultList.from_faults"):
        FaultList("m", (A,))  # type: ignore[arg-type]  # the wrong type on purpose


def test_from_faults_checks_ids_and_counts() -> None:
    with pytest.raises(FaultListError, match="1 ids for 2 faults"):
        FaultList.from_faults("m", (A, B), ids=(1,))
    with pytest.raises(FaultListError, match="published counts have shape \\(1, 4\\), expected \\(2, 4\\)"):
        FaultList.from_faults("m", (A, B), published=[[1, 1, 0, 0]])


def test_by_id() -> None:
    fl = counted()
    assert fl.by_id(2) == FaultEntry(2, C, PublishedCounts(10, 10, 0, 0))
    assert fl.by_id(np.int64(9)).fault == B
    with pytest.raises(FaultListError, match="no fault with id 3") as info:
        fl.by_id(3)
    assert info.value.path == "m_FL.csv"


def test_subset_keeps_counts_and_everything_else() -> None:
    fl = counted()
    sub = fl.subset(np.array([2, 0]))
    assert sub.ids == (2, 4) and sub.faults == (C, A)
    np.testing.assert_array_equal(sub.published, [COUNTS[2], COUNTS[0]])  # type: ignore[arg-type]  # a counted list
    assert (sub.model, sub.sampling, sub.source, sub.meta) == (fl.model, fl.sampling, fl.source, fl.meta)
    assert sub.by_id(4) == fl.by_id(4)
    assert fl[1:] == fl.subset([1, 2])


def test_changed_copies_leave_the_original() -> None:
    fl = counted()
    assert fl.with_source("other.csv").source == "other.csv" and fl.source == "m_FL.csv"
    assert dataclasses.replace(fl, model="n").model == "n" and fl.model == "m"
    recounted = fl.with_published(np.array(COUNTS) * 2)
    assert recounted.ids == fl.ids and recounted.by_id(9).published == PublishedCounts(20, 0, 0, 20)
    np.testing.assert_array_equal(fl.published, COUNTS)  # type: ignore[arg-type]  # a counted list

"""Consistency checks: each finds what it is for, and nothing in a correct list."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from readlx.audit import consistency
from readlx.fault_maps.faultlist import FaultList
from readlx.zoo import ZOO

from .conftest import MODEL


def test_a_correct_list_passes_every_consistency_check(healthy: FaultList) -> None:
    table = ZOO[MODEL].layer_table()
    for finding in (consistency.counts_add_up(healthy), consistency.ids(healthy), consistency.duplicates(healthy),
                    consistency.paper_generator(healthy, table)):
        assert finding.status == "ok", finding
    assert consistency.images_per_fault(healthy, None).status == "ok"


def test_counts_that_do_not_add_up_are_found_with_what_they_add_up_to(healthy: FaultList) -> None:
    counts = np.array(healthy.published)  # every row over a quarter of the images, as in a cut-off run
    counts[:, 2:] //= 4
    counts[:, 1] = 250 - counts[:, 2:].sum(axis=1)
    found = consistency.counts_add_up(healthy.with_published(counts))
    assert found.status == "suspicious"
    assert found.evidence["rows"] == len(healthy) and found.evidence["every_bad_row_sums_to"] == 250
    assert "each adds up to 250" in found.statistic


def test_images_per_fault_must_be_one_value_and_the_test_sets(healthy: FaultList) -> None:
    assert consistency.images_per_fault(healthy, "cifar10").status == "suspicious"  # 1,000, not 10,000
    counts = np.array(healthy.published)
    counts[0] = [999, 999, 0, 0]
    found = consistency.images_per_fault(healthy.with_published(counts), None)
    assert found.status == "suspicious" and found.evidence["n_injections"] == {999: 1, 1000: len(healthy) - 1}


def test_ids_out_of_place_and_repeated_faults_are_found(healthy: FaultList) -> None:
    moved = FaultList.from_faults(MODEL, healthy.faults, ids=[*range(1, len(healthy)), 0],
                                  published=healthy.published)
    assert consistency.ids(moved).evidence["rows_out_of_place"] == len(healthy)
    entries = list(healthy.entries)
    entries[5] = replace(entries[5], fault=entries[3].fault)
    twice = replace(healthy, entries=tuple(entries))
    found = consistency.duplicates(twice)
    assert found.status == "suspicious" and found.evidence["examples"] == [[3, 5]]
    assert found.evidence["with_differing_counts"] == int(tuple(healthy.published[3]) != tuple(healthy.published[5]))


def test_a_row_the_generator_did_not_draw_is_named(healthy: FaultList) -> None:
    entries = list(healthy.entries)
    edited = replace(entries[2].fault, bit=(entries[2].fault.bit + 1) % 32)
    entries[2] = replace(entries[2], fault=edited)
    found = consistency.paper_generator(replace(healthy, entries=tuple(entries)), ZOO[MODEL].layer_table())
    assert found.status == "suspicious" and found.evidence["differing_rows"] == 1
    assert found.evidence["examples"][0]["row"] == 2 and "row 2:" in found.statistic
    assert consistency.paper_generator(healthy, None).status == "skipped"

"""Consistency checks of a fault list with outcome counts: what must hold of any correct file.

- **counts add up**: every row's masked + non-critical + critical is its ``n_injections`` (one
  outcome per image);
- **images per fault**: one ``n_injections`` for the whole file, the test set's size when the model
  is known (each fault runs over the whole test set);
- **ids**: the rows are numbered 0, 1, 2, ... in order;
- **duplicates**: no fault (layer, index, bits, kind, site) appears twice;
- **the paper's generator**: with the model known, the rows are the faults the published generator
  draws for it (:func:`readlx.fault_maps.generate`, ``mode="paper"``, seed 42, 1 % margin).

Examples
--------
>>> from readlx.fault_maps.fault import Fault
>>> fl = FaultList.from_faults("m", (Fault("fc", (0, 1), 3), Fault("fc", (0, 1), 3)), published=[[10, 4, 6, 0]] * 2)
>>> counts_add_up(fl).status, duplicates(fl).status, duplicates(fl).evidence["examples"]
('ok', 'suspicious', [[0, 1]])
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.audit.findings import OK, SKIPPED, SUSPICIOUS, Finding
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable

TEST_IMAGES = {"cifar10": 10_000, "cifar100": 10_000, "gtsrb": 12_630}
"""Images in each benchmark dataset's test set (GTSRB's official test set has 12,630)."""

EXAMPLES = 5
"""Example rows kept as evidence per finding."""


def _counts(fl: FaultList) -> Array:
    counts = fl.published
    assert counts is not None, "the audit reads only lists with counts"
    return counts


def counts_add_up(fl: FaultList) -> Finding:
    """Rows whose outcome counts do not add up to their ``n_injections``."""
    counts = _counts(fl)
    sums = counts[:, 1:].sum(axis=1)
    bad = np.flatnonzero(sums != counts[:, 0])
    evidence: dict[str, Any] = {"rows": int(len(bad)), "examples": [
        {"id": fl.ids[i], "n_injections": int(counts[i, 0]), "sum": int(sums[i])} for i in bad[:EXAMPLES]]}
    if len(bad) and len(np.unique(sums[bad])) == 1:
        evidence["every_bad_row_sums_to"] = int(sums[bad[0]])
    text = f"rows whose masked + non-critical + critical differs from n_injections: {len(bad)} of {len(fl)}"
    if "every_bad_row_sums_to" in evidence:
        text += f" (each adds up to {evidence['every_bad_row_sums_to']:,}: shares over n_injections are off)"
    return Finding("counts add up", "consistency", SUSPICIOUS if len(bad) else OK, text, evidence)


def images_per_fault(fl: FaultList, dataset: str | None) -> Finding:
    """One ``n_injections`` for every row, equal to the test set's size when ``dataset`` is known."""
    values, rows = np.unique(_counts(fl)[:, 0], return_counts=True)
    expected = TEST_IMAGES.get(dataset or "")
    evidence = {"n_injections": {int(v): int(r) for v, r in zip(values, rows, strict=True)}, "test_set": expected}
    wrong = len(values) > 1 or (expected is not None and int(values[0]) != expected)
    where = f"; the {dataset} test set has {expected:,}" if expected else ""
    text = f"n_injections: {', '.join(f'{int(v):,} ({int(r)} rows)' for v, r in zip(values, rows, strict=True))}{where}"
    return Finding("images per fault", "consistency", SUSPICIOUS if wrong else OK, text, evidence)


def ids(fl: FaultList) -> Finding:
    """Rows numbered 0, 1, 2, ... in order, as the published generator writes them."""
    got = np.asarray(fl.ids)
    off = np.flatnonzero(got != np.arange(len(got)))
    evidence = {"rows_out_of_place": int(len(off)),
                "examples": [{"row": int(i), "id": int(got[i])} for i in off[:EXAMPLES]]}
    text = f"rows whose id is not their position: {len(off)} of {len(fl)}"
    return Finding("ids", "consistency", SUSPICIOUS if len(off) else OK, text, evidence)


def duplicates(fl: FaultList) -> Finding:
    """Faults that appear more than once, with whether their counts agree."""
    seen: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for entry in fl.entries:
        f = entry.fault
        seen[(f.layer, f.index, f.bit, f.kind, f.site, f.seed)].append(entry.id)
    repeated = [group for group in seen.values() if len(group) > 1]
    counts = _counts(fl)
    position = {fault_id: k for k, fault_id in enumerate(fl.ids)}
    differing = sum(len({tuple(counts[position[i]]) for i in group}) > 1 for group in repeated)
    evidence = {"repeated_faults": len(repeated), "with_differing_counts": differing,
                "examples": repeated[:EXAMPLES]}
    text = f"faults listed more than once: {len(repeated)} ({differing} with differing counts)"
    return Finding("duplicates", "consistency", SUSPICIOUS if repeated else OK, text, evidence)


def paper_generator(fl: FaultList, table: LayerTable | None) -> Finding:
    """Are the rows the faults the published generator draws for the model (seed 42, 1 % margin)?"""
    if table is None:
        return Finding("the paper's generator", "consistency", SKIPPED, "no model given: nothing to regenerate")
    from readlx.fault_maps import generate

    expected = generate(table, margin=0.01, mode="paper", seed=42).faults
    got = fl.faults
    differing = [i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b]
    same = not differing and len(got) == len(expected)
    evidence: dict[str, Any] = {"rows": len(got), "generated": len(expected), "differing_rows": len(differing),
                                "examples": [{"row": i, "file": got[i].describe(), "generator": expected[i].describe()}
                                             for i in differing[:EXAMPLES]]}
    if same:
        text = f"the {len(got)} rows are the generator's, in order"
    else:
        text = (f"{len(got)} rows against the generator's {len(expected)}; "
                f"{len(differing)} {'row differs' if len(differing) == 1 else 'rows differ'}")
        if differing:
            first = evidence["examples"][0]
            text += f" (row {first['row']}: {first['file']}, the generator draws {first['generator']})"
    return Finding("the paper's generator", "consistency", OK if same else SUSPICIOUS, text, evidence)

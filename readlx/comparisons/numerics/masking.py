"""Weight-level evidence: faults that reduced-precision operand rounding masks without inference.

Under an arithmetic that rounds operands (TF32, BF16, FP16), a bit flip whose corrupted weight rounds
to the same operand as the stored weight leaves the layer's computation bitwise unchanged when the
weight itself is the operand (``direct``, ``im2col``, ``native``): the fault is masked on every image.
So each arithmetic predicts a set of fully masked faults from the weights alone, and a published
list whose fully masked faults match that set reveals the arithmetic that produced it, layer by
layer, over every published fault and without running a single inference.

A prediction is *contradicted* when the published counts show the fault unmasked on some image:
that arithmetic cannot have run the layer (for every image). Published fully masked faults that no
arithmetic predicts are masked by the network itself (e.g. a weight that only meets zeros).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from readlx._typing import Array
from readlx.comparisons.text import table
from readlx.engines.reference.arithmetic import ARITHMETICS
from readlx.errors import InputError, ReadlxError
from readlx.fault_maps.faultlist import FaultList

MASKING_ARITHMETICS = ("float32", "tf32", "bf16", "fp16")


def rounding_masked(faults: FaultList, weights: Mapping[str, Array], arithmetic: str) -> Array:
    """Per fault: the corrupted weight rounds to the stored weight's operand under ``arithmetic``.

    Examples
    --------
    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList.from_faults("m", (Fault("fc", (0, 0), 3), Fault("fc", (0, 0), 20)))
    >>> rounding_masked(fl, {"fc": np.full((1, 1), 1.5, np.float32)}, "tf32").tolist()
    [True, False]
    """
    rounding = ARITHMETICS[arithmetic].operand_rounding
    activations = [f.describe() for f in faults.faults if f.is_activation]
    if activations:
        raise InputError(f"operand rounding is a property of weight faults; the list holds activation faults "
                         f"({activations[0]!r}, ...)")
    stored = np.array([weights[f.layer][f.index] for f in faults.faults], dtype=np.float32)
    corrupted = np.array([f.apply(v) for f, v in zip(faults.faults, stored, strict=True)], dtype=np.float32)
    if rounding is None:
        return np.zeros(len(faults), bool)
    import torch

    a = rounding(torch.from_numpy(stored)).numpy().view(np.uint32)
    b = rounding(torch.from_numpy(corrupted)).numpy().view(np.uint32)
    same: Array = a == b
    return same


@dataclass(frozen=True)
class MaskingEvidence:
    """One layer: published fully masked faults, and what each arithmetic predicts of them."""

    layer: str
    n_faults: int
    published_full: int
    predicted: dict[str, int]
    explained: dict[str, int]
    contradicted: dict[str, int]
    best: str


def _evidence(layer: str, full: Array, predicted: dict[str, Array]) -> MaskingEvidence:
    explained = {a: int((p & full).sum()) for a, p in predicted.items()}
    contradicted = {a: int((p & ~full).sum()) for a, p in predicted.items()}
    # A contradiction rules an arithmetic out: under it the fault is masked on every image, for certain.
    # Of the others, the one explaining most; the first (plain float32, which predicts nothing) wins ties.
    best = max(predicted, key=lambda a: (contradicted[a] == 0, explained[a], -list(predicted).index(a)))
    return MaskingEvidence(layer, len(full), int(full.sum()), {a: int(p.sum()) for a, p in predicted.items()},
                           explained, contradicted, best)


def masking_evidence(reference: FaultList, weights: Mapping[str, Array],
                     arithmetics: Sequence[str] = MASKING_ARITHMETICS) -> list[MaskingEvidence]:
    """Per layer (and a last row ``"all layers"``): rounding-predicted versus published full masking.

    Examples
    --------
    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList.from_faults("m", (Fault("fc", (0, 0), 3), Fault("fc", (0, 0), 20)),
    ...                            published=[[10, 10, 0, 0], [10, 4, 6, 0]])
    >>> ev = masking_evidence(fl, {"fc": np.full((1, 1), 1.5, np.float32)})
    >>> ev[0].best, ev[0].explained["tf32"], ev[0].contradicted["bf16"]
    ('tf32', 1, 0)
    """
    if reference.published is None:
        raise ReadlxError(f"reference {reference.source!r} holds no published outcome counts")
    full = reference.published[:, 1] == reference.published[:, 0]
    predicted = {a: rounding_masked(reference, weights, a) for a in arithmetics}
    layers = np.array([f.layer for f in reference.faults])
    rows = [
        _evidence(layer, full[layers == layer], {a: p[layers == layer] for a, p in predicted.items()})
        for layer in dict.fromkeys(layers.tolist())
    ]
    return rows + [_evidence("all layers", full, predicted)]


def plan_totals(rows: list[MaskingEvidence]) -> tuple[int, int, int]:
    """(published fully masked, explained, contradicted) over all layers when each layer uses its
    best arithmetic (the ``"all layers"`` row is left out).

    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList.from_faults("m", (Fault("fc", (0, 0), 3),), published=[[10, 10, 0, 0]])
    >>> plan_totals(masking_evidence(fl, {"fc": np.full((1, 1), 1.5, np.float32)}))
    (1, 1, 0)
    """
    layers = [r for r in rows if r.layer != "all layers"]
    return (sum(r.published_full for r in layers), sum(r.explained[r.best] for r in layers),
            sum(r.contradicted[r.best] for r in layers))


def format_masking_evidence(rows: list[MaskingEvidence]) -> str:
    """Plain-text table: per layer, explained/contradicted fully masked faults per arithmetic."""
    arithmetics = list(rows[0].predicted)
    head = ("layer", "faults", "published fully masked",
            *(f"{a} explained/contradicted" for a in arithmetics), "best")
    body = [(r.layer, str(r.n_faults), str(r.published_full),
             *(f"{r.explained[a]}/{r.contradicted[a]}" for a in arithmetics), r.best) for r in rows]
    full, explained, contradicted = plan_totals(rows)
    plan = ", ".join(f"{r.layer}={r.best}" for r in rows if r.layer != "all layers" and r.best != arithmetics[0])
    return (table(head, body) + f"\nper-layer best ({plan or 'no rounding anywhere'}): explains {explained} of "
            f"{full} published fully masked faults, contradicted by {contradicted}; {arithmetics[0]} everywhere "
            f"explains {rows[-1].explained[arithmetics[0]]}")

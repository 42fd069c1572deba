"""One file's audit: read it, run the checks, collect the findings.

Examples
--------
>>> import os, tempfile
>>> from readlx.fault_maps import save_fault_list
>>> from readlx.fault_maps.fault import Fault
>>> faults = [Fault("fc", (i % 8, i // 8), bit) for i, bit in enumerate([30, 3, 30, 5, 30, 2] * 10)]
>>> sdc = [[100, 0, 10, 90] if f.bit == 30 else [100, 100, 0, 0] for f in faults]
>>> with tempfile.TemporaryDirectory() as d:
...     path = os.path.join(d, "m_FL.csv")
...     save_fault_list(FaultList.from_faults("m", faults, published=sdc), path, format="paper-torch")
...     audit = audit_file(path)
>>> audit.verdict, [f.status for f in audit.findings][:4]
('ok', ['ok', 'ok', 'ok', 'ok'])
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from readlx.audit import consistency, plausibility
from readlx.audit.findings import Audit, Finding
from readlx.errors import ReadlxError
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable


def published_model(path: str | Path) -> str | None:
    """The zoo model whose published (PyTorch) fault list ``path`` is, if any."""
    from readlx.zoo import ZOO

    for name in ZOO:
        card = ZOO[name]
        try:
            if card.fault_list and os.path.samefile(card.resolve(card.fault_list, "fault list"), path):
                return name
        except (ReadlxError, OSError):
            continue
    return None


def audit_file(path: str | Path, model: str | None = None, *, spot: int = 0, data: str | None = None,
               seed: int = 0, permutations: int = 999) -> Audit:
    """Audit the fault list with outcome counts at ``path``.

    Parameters
    ----------
    path
        A published CSV or a readlx fault list with counts.
    model
        The zoo model it is for: its layers check the rows, its test set the counts, its weights
        (where published) the weight test, its generator the faults. Default: the zoo model whose
        published list ``path`` is, else none.
    spot
        Faults to re-run here and compare (needs the model's weights and data).
    data
        The images of the spot runs (default: the model's test set).
    seed, permutations
        The permutation tests' seed and shuffles (recorded in each finding's evidence).
    """
    from readlx.fault_maps import load_fault_list

    name = model or published_model(path)
    table = _table(name)
    try:
        fl = load_fault_list(path, table)
    except ReadlxError as e:
        return Audit(str(path), name, 0, (), error=str(e))
    if fl.published is None:
        return Audit(str(path), name, len(fl), (), counts=False)
    rng = np.random.default_rng(seed)
    findings = [*_consistency(fl, name, table), *_plausibility(fl, name, rng, permutations)]
    if spot:
        findings.append(_spot(fl, name, spot, rng, data))
    return Audit(str(path), name, len(fl), tuple(findings))


def _table(name: str | None) -> LayerTable | None:
    if name is None:
        return None
    from readlx.zoo import ZOO

    return ZOO[name].layer_table()


def _consistency(fl: FaultList, name: str | None, table: LayerTable | None) -> list[Finding]:
    from readlx.zoo import ZOO

    dataset = ZOO[name].dataset if name else None
    return [consistency.counts_add_up(fl), consistency.images_per_fault(fl, dataset), consistency.ids(fl),
            consistency.duplicates(fl), consistency.paper_generator(fl, table)]


def _plausibility(fl: FaultList, name: str | None, rng: np.random.Generator, permutations: int) -> list[Finding]:
    from readlx.audit.weights import model_weights

    weights, _ = model_weights(name) if name else (None, "no model")
    return [plausibility.bit_dependence(fl, rng, permutations), plausibility.exponent_effect(fl, rng),
            plausibility.low_bits_critical(fl), plausibility.weight_dependence(fl, weights)]


def _spot(fl: FaultList, name: str | None, k: int, rng: np.random.Generator, data: str | None) -> Finding:
    from readlx.audit.findings import SKIPPED
    from readlx.audit.spot import spot_check
    from readlx.zoo import trained

    if name is None:
        return Finding("spot faults", "spot", SKIPPED, "no model given: nothing to re-run")
    if not trained(name):  # its seeded initialization would be compared with the published network's counts
        return Finding("spot faults", "spot", SKIPPED, f"{name} has no published weights to re-run the faults with")
    return spot_check(fl, name, k, rng, data)

"""The numerics on the published ResNet20 (needs ../shared/data)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readlx.comparisons.numerics.masking import masking_evidence, plan_totals
from readlx.comparisons.numerics.study import canonical_weights
from readlx.data.loaders import load_dataset
from readlx.engines.reference.engine import ReferenceEngine
from readlx.engines.torch import TorchEngine
from readlx.fault_maps import load_fault_list
from readlx.zoo import ZOO, load_model

MODEL = "resnet20-cifar10"


@pytest.mark.data
def test_published_fully_masked_faults_point_to_tf32_in_stage_3(shared_data: Path) -> None:
    bench = ZOO[MODEL]
    table = bench.layer_table()
    reference = load_fault_list(shared_data / bench.fault_list, table)
    weights = canonical_weights(load_model(MODEL, shared_data / bench.checkpoint), table)
    rows = masking_evidence(reference, weights)
    best = {r.layer: r.best for r in rows if r.layer != "all layers"}
    assert {layer for layer, a in best.items() if a == "tf32"} == {n for n in table.names if n.startswith("layer3.")}
    full, explained, contradicted = plan_totals(rows)
    assert contradicted == 0 and explained > 0.85 * full


@pytest.mark.data
def test_native_reference_is_bitwise_pytorch_on_cifar(shared_data: Path) -> None:
    bench = ZOO[MODEL]
    model, table = load_model(MODEL, shared_data / bench.checkpoint), bench.layer_table()
    images = load_dataset("cifar10", shared_data / "cifar-10-batches-py", bench.normalization).images[:64]
    a = TorchEngine(model, table, batch_size=32).infer(images)
    b = ReferenceEngine(model, table, algorithm="native", batch_size=32).infer(images)
    assert np.array_equal(a.view(np.uint32), b.view(np.uint32))

"""The emulated-arithmetic runtimes' fast runner: per-image outcomes of the reference loop, on every
algorithm and arithmetic, with the suffix checked per layer and batch shape and a fallback."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.runners.reference_fast import ReferenceFastRunner
from readlx.data.synthetic import synthetic
from readlx.engines.reference.engine import ReferenceEngine
from readlx.fault_maps import generate
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.tasks import CLASSIFICATION
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
VARIANTS = [("im2col", "tf32", {"conv1": "float32"}), ("winograd", "bf16", {}), ("fft", "fp16", {}),
            ("direct", "float64", {}), ("native", "float32", {"linear": "tf32"})]


def _engine(algorithm: str, arithmetic: str, overrides: dict[str, str], batch_size: int = 8) -> ReferenceEngine:
    bench = ZOO[MODEL]
    return ReferenceEngine(load_model(MODEL), bench.layer_table(), algorithm=algorithm, arithmetic=arithmetic,
                           overrides=overrides, batch_size=batch_size)


def _faults() -> FaultList:
    table = ZOO[MODEL].layer_table()
    fl = generate(table, margin=0.25, mode="network-wise", seed=3)
    extra = [Fault("conv3", (1, 0, 0, 0), 30, FaultKind.STUCK_AT_0), Fault("conv2", (0, 0, 0, 0), 2),
             Fault("linear", (3, 7), 29, FaultKind.STUCK_AT_1)]
    return FaultList.from_faults(MODEL, [*fl.faults, *extra])


@pytest.mark.parametrize(("algorithm", "arithmetic", "overrides"), VARIANTS, ids=[f"{a}-{b}" for a, b, _ in VARIANTS])
def test_fast_runs_give_the_reference_loops_outcomes(algorithm: str, arithmetic: str,
                                                     overrides: dict[str, str]) -> None:
    data, faults = synthetic(20), _faults()  # 20 images in batches of 8: the last batch is shorter
    results = {}
    for mode in ("reference", "fast-always"):
        opts = CampaignOptions(per_image=True, mode=mode)
        ds = run_campaign([_engine(algorithm, arithmetic, overrides)], faults, data, model=MODEL, options=opts)
        results[mode] = ds
    assert results["fast-always"].attrs[f"mode_{results['fast-always'].framework.values[0]}"] == "fast"
    for name in ("outcome", "masked", "non_critical", "critical", "nan_or_inf"):
        xr.testing.assert_identical(results["reference"][name], results["fast-always"][name])


def test_a_layer_whose_suffix_differs_runs_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    eng = _engine("im2col", "tf32", {})
    images = synthetic(12).images
    golden = eng.infer(images)
    suffix = eng.executor.run_suffix

    def off_by_one_ulp(layer: str, live: Any) -> torch.Tensor:
        out = suffix(layer, live)
        return torch.nextafter(out, torch.full_like(out, np.inf)) if layer == "conv3" else out

    monkeypatch.setattr(eng.executor, "run_suffix", off_by_one_ulp)  # a suffix that is not the whole run
    runner = ReferenceFastRunner(eng, images, golden)
    faults = [Fault("conv3", (2, 1, 0, 0), 30), Fault("conv2", (1, 0, 0, 0), 30)]
    fast = list(runner.run(faults))
    assert runner.stats.whole_graph_layers == ["conv3"]
    for fault, got in zip(faults, fast, strict=True):
        with eng.inject(fault):
            whole = eng.infer(images)
        assert (got.codes == CLASSIFICATION.classify(golden, whole)).all()


def test_a_fault_rounded_away_by_the_operand_arithmetic_is_golden_without_a_run() -> None:
    eng = _engine("im2col", "bf16", {})
    images = synthetic(8).images
    runner = ReferenceFastRunner(eng, images, eng.infer(images))
    low = Fault("conv3", (0, 0, 0, 0), 3)  # bit 3 is below bfloat16's 7-bit mantissa: the operand is unchanged
    assert eng.operands_unchanged(low)
    assert (next(iter(runner.run([low]))).codes == 0).all()

"""Fast mode on the published ResNet20 and CIFAR-10: identical to the reference loop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign, run_fault
from readlx.campaign.runners import FastOptions, fast_runner
from readlx.campaign.runners.cut import CutRunner
from readlx.converters import Bundle
from readlx.engines.torch import TorchEngine
from readlx.fault_maps import load_fault_list
from readlx.fault_maps.select import stratified_subset
from readlx.zoo import ZOO

MODEL = "resnet20-cifar10"


@pytest.mark.slow
@pytest.mark.data
def test_resnet20_fast_equals_reference(shared_data: Path) -> None:
    bench = ZOO[MODEL]
    table = bench.layer_table()
    faults = stratified_subset(load_fault_list(bench.resolve(bench.fault_list, "fault list"), table), 30, seed=1)
    data = bench.load_data(shared_data / "cifar-10-batches-py").subset(500)  # batches of 256 and 244
    engine = TorchEngine(bench.load(), table, batch_size=256)
    ref = run_campaign([engine], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign([engine], faults, data, model=MODEL,
                        options=CampaignOptions(per_image=True, mode="fast-always"))
    assert fast.attrs["mode_torch"] == "fast"
    assert {f.layer for f in faults.faults} == set(table.names)
    for ds in (ref, fast):
        ds.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("mode")}
    xr.testing.assert_identical(ref, fast)


@pytest.mark.slow
@pytest.mark.data
def test_resnet20_fast_equals_reference_on_the_bundle_runtimes(shared_data: Path, resnet20_bundle: Bundle) -> None:
    """Keras sub-models and ONNX Runtime suffix subgraphs, with skip connections live across cuts."""
    bench = ZOO[MODEL]
    faults = stratified_subset(load_fault_list(bench.resolve(bench.fault_list, "fault list"), bench.layer_table()),
                               20, seed=2)
    data = bench.load_data(shared_data / "cifar-10-batches-py").subset(300)  # batches of 256 and 44
    engines = [resnet20_bundle.engine(name, batch_size=256) for name in ("keras", "onnxruntime", "onnxruntime-keras")]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True, mode="fast-always"))
    for engine in engines:
        assert fast.attrs[f"mode_{engine.framework}"] == "fast"
    for ds in (ref, fast):
        ds.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("mode")}
    xr.testing.assert_identical(ref, fast)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("runtime", ["keras", "onnxruntime"])
def test_resnet20_batches_back_to_golden_stop_early(shared_data: Path, resnet20_bundle: Bundle, runtime: str) -> None:
    """Published flips of bits 0-3 whose batches come back to golden at a later layer's cut on both
    runtimes here (found by running 40 such faults on 300 images: 5 and 7 stopped), beside two that do
    not: they stop there, through segments inside residual blocks, with the reference loop's outcomes."""
    bench = ZOO[MODEL]
    full = load_fault_list(bench.resolve(bench.fault_list, "fault list"), bench.layer_table())
    faults = full.subset([5380, 11335, 13078, 15718, 100, 9000]).faults
    assert all(max(f.bits) <= 3 for f in faults[:4])
    data = bench.load_data(shared_data / "cifar-10-batches-py").subset(300)  # batches of 256 and 44
    engine = resnet20_bundle.engine(runtime, batch_size=256)
    golden = engine.infer(data.images)
    runner = fast_runner(engine, data.images, golden, FastOptions(checks=2))
    assert isinstance(runner, CutRunner)
    for fault, (codes, preds, _) in zip(faults, runner.run(faults), strict=True):
        want = run_fault(engine, fault, data.images, golden, engine.weight(fault.layer)[fault.index], True)
        assert np.array_equal(codes, want[0]) and np.array_equal(preds, want[1]), fault
    assert runner.stats.unchecked == [] and runner.stats.stopped_batches >= 4  # 7 on both here
    assert runner.checks_of("layer1.0.conv1") == ["layer1.0.conv2", "layer1.1.conv1"]

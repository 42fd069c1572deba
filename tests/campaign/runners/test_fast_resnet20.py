"""Fast mode on the published ResNet20 and CIFAR-10: identical to the reference loop."""
from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
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

"""Fast mode chooses the reference loop or the fast runner per layer and block from measured costs,
with the reference loop's outcomes whatever it chooses, and says what it chose."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.loop import MODES
from readlx.campaign.runners import FastOptions, choice
from readlx.campaign.runners.blocks import BlockRunner
from readlx.campaign.runners.choice import PROBE_FAULTS, TIMING_FAULTS, ChoosingRunner
from readlx.campaign.runners.costs import CostModel, Measured, Structure, campaign_gain, gains, plan
from readlx.campaign.runners.dispatch import fast_factory
from readlx.campaign.runners.modes import merged_modes, without_modes
from readlx.campaign.runners.reference import run_fault
from readlx.campaign.runners.torch_fast import TorchFastRunner
from readlx.campaign.scaleout import merge, run_shard
from readlx.campaign.spec import CampaignSpec
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.engines.torch import TorchEngine
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
RUNTIMES = ("torch", "keras", "onnxruntime")
RESNET20 = [f"l{i}" for i in range(20)]
"""A network of 20 layers, as ResNet20's table (19 convolutions and the linear layer)."""


def _faults(layers: list[str], shapes: dict[str, tuple[int, ...]], per_layer: int, seed: int = 3) -> FaultList:
    """``per_layer`` faults in each layer, in layer order (as published lists are), of every kind."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in layers:
        for k in range(per_layer):
            kind = (FaultKind.BIT_FLIP, FaultKind.STUCK_AT_0, FaultKind.STUCK_AT_1)[k % 3]
            index = tuple(int(rng.integers(0, s)) for s in shapes[layer])
            out.append(Fault(layer, index, int((2, 13, 22, 27, 30, 31)[k % 6]), kind))
    return FaultList.from_faults(MODEL, tuple(out))


def _demo_faults(per_layer: int = 6) -> FaultList:
    table = ZOO[MODEL].layer_table()
    return _faults(table.names, {layer.name: layer.shape for layer in table.layers}, per_layer)


def _modeless(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the mode asked for and the mode each engine ran in."""
    out = without_modes(ds)
    del out.attrs["mode"]
    return out


def _detail(ds: xr.Dataset, framework: str) -> dict[str, Any]:
    return json.loads(ds.attrs[f"mode_{framework}_detail"])


def _check_record(ds: xr.Dataset, framework: str) -> dict[str, Any]:
    """The attrs say what ran: a mode of the three, and per layer as many faults as needed inference."""
    detail = _detail(ds, framework)
    assert ds.attrs[f"mode_{framework}"] in ("fast", "reference", "mixed")
    ran = sum(v["faults"] for v in detail["layers"].values())
    assert ran == int((~ds.noop.sel(framework=framework).values).sum())
    assert all(v["faults"] == v["fast"] + v["reference"] for v in detail["layers"].values())
    assert detail["reference_seconds_per_fault"] > 0
    return detail


def test_fast_is_a_mode_of_its_own_beside_fast_always() -> None:
    assert MODES == ("reference", "fast", "fast-always")


# -- the cost model ---------------------------------------------------------------------------------
def _resnet20_like(per_layer: bool, reference: float = 1.0, batches: int = 2) -> CostModel:
    return CostModel(RESNET20, Structure(per_layer, min(2, batches) / batches), Measured(reference=[reference]))


def test_a_short_campaign_with_a_set_up_per_layer_does_not_pay_for_its_probe() -> None:
    model = _resnet20_like(per_layer=True)
    left = dict.fromkeys(RESNET20, 1)  # 20 faults, one per layer (``--sample 20``)
    gain = campaign_gain(model, left, set(), block=128)
    probe_risk = model.overhead(True) + model.setup("l10") + (model.per_fault("l10") - model.reference())
    assert gain < choice.PROBE_RATIO * probe_risk
    # the same on many more images: the checks on two batches are a small share of the run
    many = _resnet20_like(per_layer=True, batches=40)
    assert campaign_gain(many, left, set(), block=128) > choice.PROBE_RATIO * (
        many.overhead(True) + many.setup("l10") + (many.per_fault("l10") - many.reference()))


def test_a_long_campaign_runs_all_but_the_first_layers_fast() -> None:
    model = _resnet20_like(per_layer=True)
    left = dict.fromkeys(RESNET20, 20)
    chosen = plan(model, dict.fromkeys(RESNET20, 20), left, set())
    assert chosen == RESNET20[2:]  # the first layers' suffixes are nearly the whole network
    assert campaign_gain(model, left, set(), block=128) > 100 * model.reference()


def test_pytorch_pays_on_a_short_campaign() -> None:
    model = _resnet20_like(per_layer=False)  # traced once, no set-up per layer
    left = dict.fromkeys(RESNET20, 1)
    assert len(plan(model, left, left, set(RESNET20))) == 19
    assert campaign_gain(model, left, set(RESNET20), block=128) > 8 * model.reference()


def test_a_layer_measured_slower_than_a_whole_inference_goes_back_to_the_reference_loop() -> None:
    measured = Measured(reference=[1.0], fast={"l15": [1.2, 1.1, 1.3]}, golden=[1.0, 0.0])
    model = CostModel(RESNET20, Structure(per_layer=False), measured)
    in_block = {"l15": 30, "l16": 30}
    assert plan(model, in_block, in_block, set(RESNET20)) == ["l16"]
    assert model.alpha() > 4  # l16 is predicted from l15: 4.8 times the prior, still cheaper than R
    assert "l15" not in gains(model, in_block, in_block, set(RESNET20))


def test_measured_set_ups_replace_the_prior() -> None:
    measured = Measured(reference=[1.0], fast={"l18": [0.1]}, setups=[(3.0, ["l18"])], golden=[1.0])
    model = CostModel(RESNET20, Structure(per_layer=True, check_share=1.0), measured)
    assert model.build() == pytest.approx(3.0 - 1.0 - 0.1)  # the check pass and the suffix's checks aside
    assert model.setup("l19") == pytest.approx(1.9 + model.per_fault("l19"))
    assert plan(model, {"l19": 2}, {"l19": 2}, {"l18"}) == []  # 2 faults do not pay 2 s of set-up
    assert plan(model, {"l18": 1}, {"l18": 1}, {"l18"}) == []  # nor 0.9 s saved a golden pass of 1 s
    assert plan(model, {"l18": 2}, {"l18": 2}, {"l18"}) == ["l18"]


# -- campaigns ------------------------------------------------------------------------------------
@pytest.mark.parametrize("per_layer", [1, 12], ids=["short", "long"])
def test_fast_mode_equals_the_reference_loop_on_every_runtime(demo_bundle: Bundle, per_layer: int) -> None:
    faults = _demo_faults(per_layer)
    data = synthetic(24)
    engines = [demo_bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True, mode="fast"))
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    assert fast.attrs["mode"] == "fast"
    for name in RUNTIMES:
        _check_record(fast, name)


def _every_other_layer(model: CostModel, in_block: Any, left: Any, ready: Any) -> list[str]:
    return [layer for i, layer in enumerate(sorted(in_block)) if i % 2 == 0]


@pytest.mark.parametrize("planner", ["every-other-layer", "every-layer", "no-layer"])
def test_whatever_is_chosen_the_outcomes_are_the_reference_loops(demo_bundle: Bundle, planner: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe always runs, and the plan runs the given layers fast, the others on the reference loop."""
    monkeypatch.setattr(choice, "campaign_gain", lambda *a, **k: 1e9)
    monkeypatch.setattr(choice, "gains", lambda model, in_block, left, ready: dict.fromkeys(in_block, 1.0))
    chosen = {"every-other-layer": _every_other_layer, "every-layer": lambda m, b, lft, r: list(b),
              "no-layer": lambda m, b, lft, r: []}[planner]
    monkeypatch.setattr(choice, "plan", chosen)
    faults = _demo_faults(8)
    data = synthetic(20)
    engines = [demo_bundle.engine(name, batch_size=8) for name in RUNTIMES]
    ref = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    fast = run_campaign(engines, faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast", fast=FastOptions(block_faults=16)))
    xr.testing.assert_identical(_modeless(ref), _modeless(fast))
    for name in RUNTIMES:
        detail = _check_record(fast, name)
        assert detail["probe"] == "done"
        on_fast = sum(v["fast"] for v in detail["layers"].values())
        if planner == "no-layer":
            assert on_fast == PROBE_FAULTS and fast.attrs[f"mode_{name}"] == "mixed"
        elif planner == "every-other-layer":
            assert fast.attrs[f"mode_{name}"] == "mixed" and on_fast > PROBE_FAULTS
    # PyTorch runs every layer fast but for the faults that timed the reference loop
    assert planner != "every-layer" or fast.attrs["mode_torch"] == "fast"


class _Slow(TorchFastRunner):
    """A fast runner whose faults each take ``delay`` seconds more than they do."""

    delay = 0.0

    def _fault_chunk(self, fault: Fault, goldens: Any, lo: int, hi: int) -> np.ndarray:
        time.sleep(self.delay)
        return super()._fault_chunk(fault, goldens, lo, hi)


def _chooser(runner: type[BlockRunner], images: int = 16) -> tuple[ChoosingRunner, TorchEngine, np.ndarray]:
    eng = TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8)
    data = synthetic(images).images
    golden = eng.infer(data)
    make: Callable[[], BlockRunner] = lambda: runner(eng, data, golden)  # noqa: E731
    return ChoosingRunner(eng, data, golden, make_fast=make), eng, golden


def _run(runner: ChoosingRunner, faults: FaultList) -> list[Any]:
    return [outcome for block in runner.blocks(faults.faults) for outcome in block]


def test_a_fast_runner_slower_than_the_reference_loop_is_left_after_its_probe() -> None:
    _Slow.delay = 0.2  # the demo's whole inference of 16 images takes about a millisecond
    runner, eng, golden = _chooser(_Slow)
    faults = _demo_faults(10)
    outcomes = _run(runner, faults)
    assert sum(v["fast"] for v in runner.detail["layers"].values()) == PROBE_FAULTS
    assert runner.mode == "mixed" and runner.detail["probe"] == "done"
    for fault, got in zip(faults.faults, outcomes, strict=True):
        want = run_fault(eng, fault, runner.images, golden, eng.weight(fault.layer)[fault.index], True)
        assert np.array_equal(got.codes, want.codes) and np.array_equal(got.prediction, want.prediction)


class _SlowEngine(TorchEngine):
    """An engine whose whole inference takes 50 ms more: the reference loop is the expensive path."""

    def infer(self, images: np.ndarray) -> np.ndarray:
        time.sleep(0.05)
        return super().infer(images)


def test_a_costly_reference_loop_leaves_every_fault_to_the_fast_runner() -> None:
    eng = _SlowEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8)
    data = synthetic(16).images
    golden = eng.infer(data)
    runner = ChoosingRunner(eng, data, golden, make_fast=fast_factory(eng, data, golden))
    _run(runner, _demo_faults(4))
    assert runner.mode == "fast"
    layers = runner.detail["layers"]
    assert sum(v["reference"] for v in layers.values()) == TIMING_FAULTS  # those that timed the reference loop


def test_too_few_faults_build_no_fast_runner() -> None:
    built: list[int] = []

    def counting(*args: Any) -> BlockRunner:
        built.append(1)
        return TorchFastRunner(*args)

    runner, _, _ = _chooser(TorchFastRunner)
    runner._make_fast = lambda: counting(runner.engine, runner.images, runner.golden)
    _run(runner, FaultList.from_faults(MODEL, (Fault("conv1", (0, 0, 0, 0), 30),)))
    assert not built and runner.mode == "reference"
    assert runner.detail["probe"].startswith("no fast runner built")


def test_a_model_the_fast_runner_cannot_run_is_recorded() -> None:
    from readlx.errors import FastUnsupported

    def unsupported() -> BlockRunner:
        raise FastUnsupported("works in place")

    runner, _, _ = _chooser(TorchFastRunner)
    runner._make_fast = unsupported
    _run(runner, _demo_faults(2))
    assert runner.mode == "reference" and runner.detail["fallback"] == "works in place"


def test_shards_in_fast_mode_merge_into_the_whole_campaign() -> None:
    spec = CampaignSpec(MODEL, images=24, batch_size=8, threads=1)
    faults = _demo_faults(6)
    single = run_campaign(spec.engines(), faults, spec.dataset(), model=MODEL, options=CampaignOptions(per_image=True))
    shards = [run_shard(spec, faults, i, 3, CampaignOptions(per_image=True, mode="fast")) for i in range(3)]
    merged = merge(shards)
    xr.testing.assert_identical(_modeless(merged), _modeless(single))
    details = [s.attrs["mode_torch_detail"] for s in shards]
    assert merged.attrs["mode_torch"] in ("fast", "reference", "mixed")
    assert merged.attrs["mode_torch_detail"] == json.dumps({"pieces": [json.loads(d) for d in details]},
                                                          sort_keys=True)
    assert merged_modes([s.attrs for s in shards[:1]]) == {k: v for k, v in shards[0].attrs.items()
                                                          if k.startswith("mode_")}


class _Killed(Exception):
    pass


def test_a_fast_mode_run_killed_and_resumed_equals_the_reference_loop(tmp_path: Path) -> None:
    faults = _demo_faults(10)
    data = synthetic(24)

    def engine() -> TorchEngine:
        return TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8)

    def kill(framework: str, done: int, total: int) -> None:
        if done == 23:
            raise _Killed

    ref = run_campaign([engine()], faults, data, model=MODEL, options=CampaignOptions(per_image=True))
    ckpt = tmp_path / "ckpt"
    with pytest.raises(_Killed):
        run_campaign([engine()], faults, data, model=MODEL, options=CampaignOptions(
            per_image=True, mode="fast", checkpoint=ckpt, flush_seconds=0, progress=kill))
    resumed = run_campaign([engine()], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast", checkpoint=ckpt, resume=True))
    xr.testing.assert_identical(_modeless(ref), _modeless(resumed))
    first, then = _detail(resumed, "torch")["runs"]  # the killed run, then the one that finished it
    ran = [sum(v["faults"] for v in d["layers"].values()) for d in (first, then)]
    noop = ref.noop.values.ravel()
    assert ran == [int((~noop[:23]).sum()), int((~noop[23:]).sum())]  # each fault counted once, where it ran
    again = run_campaign([engine()], faults, data, model=MODEL, options=CampaignOptions(
        per_image=True, mode="fast", checkpoint=ckpt, resume=True))
    xr.testing.assert_identical(again, resumed)  # nothing left to run: the same Dataset, attrs and all

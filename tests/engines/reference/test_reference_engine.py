from __future__ import annotations

import numpy as np
import pytest
import torch

from readlx.campaign import CampaignOptions, noop_control, run_campaign
from readlx.data.synthetic import synthetic
from readlx.engines.base import Engine
from readlx.engines.reference.engine import ReferenceEngine, resolve_plan
from readlx.engines.torch import TorchEngine
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
N_IMAGES = 24
BATCH = 8


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic(N_IMAGES).images


@pytest.fixture(scope="module")
def torch_outputs(images: np.ndarray) -> np.ndarray:
    return TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=BATCH).infer(images)


def _engine(**kwargs: object) -> ReferenceEngine:
    model, table = load_model(MODEL), ZOO[MODEL].layer_table()
    return ReferenceEngine(model, table, batch_size=BATCH, **kwargs)  # type: ignore[arg-type]  # keyword options of mixed types


@pytest.mark.parametrize("algorithm", ["direct", "im2col", "winograd", "fft"])
def test_float32_reference_is_close_to_pytorch(algorithm: str, images: np.ndarray, torch_outputs: np.ndarray) -> None:
    out = _engine(algorithm=algorithm).infer(images)
    assert out.dtype == np.float32
    assert np.abs(out - torch_outputs).max() <= 1e-4
    assert (out.argmax(1) == torch_outputs.argmax(1)).all()


def test_native_float32_is_bitwise_pytorch(images: np.ndarray, torch_outputs: np.ndarray) -> None:
    out = _engine(algorithm="native").infer(images)
    assert np.array_equal(out.view(np.uint32), torch_outputs.view(np.uint32))


def test_float64_is_the_double_precision_network(images: np.ndarray) -> None:
    eng = _engine(arithmetic="float64")
    assert eng.forward(images).dtype == np.float64
    with torch.no_grad():
        ref = load_model(MODEL).double()(torch.from_numpy(images).double()).numpy()
    np.testing.assert_allclose(eng.forward(images), ref, rtol=0, atol=1e-12)
    assert eng.describe()["carrier"] == "float64"


def test_reference_engine_follows_the_protocol() -> None:
    eng = _engine(algorithm="winograd", arithmetic="tf32")
    assert isinstance(eng, Engine)
    info = eng.describe()
    assert info["framework"] == eng.framework == "reference-winograd-tf32"
    assert info["layers"]["conv1"] == {"algorithm": "winograd", "arithmetic": "tf32", "fallback": ""}
    assert set(info["fallbacks"]) == {"conv2"}  # the stride-2 conv cannot run F(2x2,3x3)
    assert info["layers"]["linear"]["algorithm"] == "gemm"
    assert eng.layer_name("conv3") == "conv3"


def test_model_is_not_changed(images: np.ndarray) -> None:
    model = load_model(MODEL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    eng = ReferenceEngine(model, ZOO[MODEL].layer_table(), arithmetic="float64")
    with eng.inject(Fault("conv1", (0, 0, 0, 0), 30)):
        eng.infer(images[:2])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_inject_restores_the_stored_bits_even_on_error() -> None:
    eng = _engine(arithmetic="tf32")
    table = ZOO[MODEL].layer_table()
    stored = {layer.name: eng.weight(layer.name) for layer in table}
    for fault in (Fault("conv1", (1, 2, 0, 1), 30), Fault("linear", (3, 5), 0, FaultKind.STUCK_AT_1),
                  Fault("dwconv", (2, 0, 1, 1), 31)):
        with pytest.raises(RuntimeError, match="boom"):
            with eng.inject(fault):
                changed = eng.weight(fault.layer)[fault.index]
                assert changed.view(np.uint32) != stored[fault.layer][fault.index].view(np.uint32) or \
                    fault.kind is not FaultKind.BIT_FLIP
                raise RuntimeError("boom")
    for layer in table:
        assert np.array_equal(eng.weight(layer.name).view(np.uint32), stored[layer.name].view(np.uint32))
    with pytest.raises(FaultListError, match="unknown layer 'nope'"):
        with eng.inject(Fault("nope", (0,), 1)):
            pass


@pytest.mark.parametrize("spec", [{"algorithm": "direct"}, {"algorithm": "winograd", "arithmetic": "bf16"},
                                  {"algorithm": "fft", "arithmetic": "tf32"}, {"arithmetic": "float64"}])
def test_forced_noop_fault_is_fully_masked(spec: dict, images: np.ndarray) -> None:
    eng = _engine(**spec)
    faults = FaultList.from_faults(MODEL, tuple(noop_control(eng, layer) for layer in ("conv1", "conv3", "linear")))
    ds = run_campaign([eng], faults, synthetic(N_IMAGES), model=MODEL,
                      options=CampaignOptions(skip_noop=False, per_image=True))
    assert not ds.noop.values.any() or ds.noop.values.all()
    assert int(ds.masked.sum()) == 3 * N_IMAGES
    assert (ds.outcome.values == 0).all()


def test_reuse_golden_gives_the_plain_outputs(images: np.ndarray) -> None:
    table = ZOO[MODEL].layer_table()
    faults = [Fault(layer.name, (0,) * len(layer.shape), bit, kind) for layer in table for bit in (3, 12, 22, 30)
              for kind in FaultKind]
    for arithmetic in ("float32", "tf32"):
        plain, fast = _engine(arithmetic=arithmetic), _engine(arithmetic=arithmetic, reuse_golden=True)
        assert np.array_equal(plain.infer(images).view(np.uint32), fast.infer(images).view(np.uint32))
        skipped = noops = 0
        for fault in faults:
            noops += fault.is_noop(plain.weight(fault.layer)[fault.index])
            with plain.inject(fault), fast.inject(fault):
                skipped += fast.operands_unchanged(fault)
                a, b = plain.infer(images), fast.infer(images)
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), (arithmetic, fault)
        # float32 skips exactly the no-op stuck-ats; TF32 also the flips its rounding erases
        assert (skipped == noops) == (arithmetic == "float32") and skipped >= noops > 0


def test_reuse_golden_campaign_matches_the_plain_one() -> None:
    from readlx.fault_maps import generate

    table = ZOO[MODEL].layer_table()
    faults = generate(table, margin=0.25, seed=2, mode="network-wise")
    data = synthetic(N_IMAGES)
    opts = CampaignOptions(per_image=True)
    plain = run_campaign([_engine(arithmetic="tf32")], faults, data, model=MODEL, options=opts)
    fast = run_campaign([_engine(arithmetic="tf32", reuse_golden=True)], faults, data, model=MODEL, options=opts)
    assert np.array_equal(plain.outcome.values, fast.outcome.values)


def test_variants_share_one_campaign(images: np.ndarray) -> None:
    model, table = load_model(MODEL), ZOO[MODEL].layer_table()
    engines = [TorchEngine(model, table, batch_size=BATCH),
               ReferenceEngine(model, table, algorithm="im2col", batch_size=BATCH),
               ReferenceEngine(model, table, algorithm="im2col", overrides={"conv*": "tf32"}, batch_size=BATCH)]
    faults = FaultList.from_faults(MODEL, (Fault("conv1", (0, 0, 0, 0), 30), Fault("conv3", (1, 2, 0, 0), 5)))
    ds = run_campaign(engines, faults, synthetic(N_IMAGES), model=MODEL)
    assert ds.framework.values.tolist() == ["torch", "reference-im2col-float32",
                                            "reference-im2col-float32+conv*=tf32"]
    assert (ds.masked + ds.non_critical + ds.critical == N_IMAGES).all()
    assert int(ds.masked.sel(framework="reference-im2col-float32+conv*=tf32").values[0, 1]) == N_IMAGES


def test_plans_and_their_errors() -> None:
    table = ZOO[MODEL].layer_table()
    plan = resolve_plan(table, "direct", "float32", {"conv*": "tf32", "conv3": "fft", "linear": "bf16"})
    assert plan["conv1"] == ("direct", "tf32") and plan["conv3"] == ("fft", "tf32")
    assert plan["dwconv"] == ("direct", "float32") and plan["linear"] == ("direct", "bf16")
    with pytest.raises(ReadlxError, match="pattern 'layer9' matches no layer; layers: conv1, dwconv"):
        resolve_plan(table, "direct", "float32", {"layer9": "tf32"})
    with pytest.raises(ReadlxError, match="unknown override value 'fp8'; valid: direct, im2col"):
        resolve_plan(table, "direct", "float32", {"conv1": "fp8"})
    with pytest.raises(ReadlxError, match="unknown arithmetic 'half'; valid: float32, float64, tf32, bf16, fp16"):
        resolve_plan(table, "direct", "half")
    with pytest.raises(ReadlxError, match="unknown algorithm 'gemm'; valid: direct, im2col, winograd, fft, native"):
        _engine(algorithm="gemm")

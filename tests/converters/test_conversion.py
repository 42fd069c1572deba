"""Bundles: artifacts, unfolded BatchNorm, atomic writing, the equivalence report."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch.nn as nn

from readlx.converters import Bundle, EquivalenceReport, convert_bundle, load_bundle
from readlx.converters.equivalence import compare
from readlx.converters.namemaps import torch_weights
from readlx.converters.to_onnx import count_ops
from readlx.errors import ConversionError, InputError, OutputError, ReadlxError, RegistryError

FRAMEWORKS = ("keras", "onnxruntime", "onnx-keras")


def test_demo_bundle_has_every_artifact(demo_bundle: Bundle) -> None:
    names = {p.name for p in demo_bundle.path.iterdir()}
    assert {
        "bundle.json", "torch_state_dict.npz", "keras_savedmodel", "model_torch.onnx",
        "model_keras.onnx", "graph.json", "equivalence.json", "conversion.log",
    } <= names
    assert not demo_bundle.path.with_name(demo_bundle.path.name + ".partial").exists()
    assert demo_bundle.benchmark == "democnn-synthetic10" and demo_bundle.input_shape == (3, 16, 16)
    assert set(demo_bundle.meta["seconds"]) >= {"keras", "onnx_torch", "onnx_keras", "equivalence"}


def test_every_layer_is_bound_in_every_framework(demo_bundle: Bundle) -> None:
    table = demo_bundle.table
    for framework in FRAMEWORKS:
        assert list(table.bindings[framework]) == table.names
    keras = table.bindings["keras"]
    assert (keras["conv1"].name, keras["conv1"].permutation) == ("conv2d", (2, 3, 1, 0))
    assert (keras["dwconv"].name, keras["dwconv"].permutation) == ("depthwise_conv2d", (2, 3, 0, 1))
    assert (keras["linear"].name, keras["linear"].permutation) == ("dense", (1, 0))
    assert table.bindings["onnxruntime"]["conv1"].variable == "conv1.weight"


def test_batchnorm_stays_unfolded_in_both_onnx_exports(demo_bundle: Bundle) -> None:
    for key in ("onnxruntime", "onnx-keras"):
        assert count_ops(onnx.load(str(demo_bundle.onnx_path(key))), "BatchNormalization") == 3


def test_stored_weights_are_the_bound_tensors(demo_bundle: Bundle) -> None:
    from onnx import numpy_helper

    weights = torch_weights(demo_bundle.torch_model(), demo_bundle.table)
    for key in ("onnxruntime", "onnx-keras"):
        inits = {t.name: t for t in onnx.load(str(demo_bundle.onnx_path(key))).graph.initializer}
        for name, binding in demo_bundle.table.bindings[key].items():
            stored = numpy_helper.to_array(inits[binding.variable])
            expected = np.ascontiguousarray(weights[name].transpose(binding.permutation))
            assert stored.tobytes() == expected.tobytes(), (key, name)


def test_load_bundle_round_trip(demo_bundle: Bundle) -> None:
    again = load_bundle(demo_bundle.path)
    assert again.table == demo_bundle.table and again.report == demo_bundle.report


def test_report_is_ok_and_complete(demo_bundle: Bundle) -> None:
    report = demo_bundle.report
    assert report.ok and report.n_images == 32
    assert [r.framework for r in report.runtimes] == ["keras", "onnxruntime", "onnxruntime-keras"]
    for runtime in report.runtimes:
        assert runtime.output.max_abs <= 1e-5
        assert [d.tensor for d in runtime.layers] == demo_bundle.table.names
        assert runtime.top1_agreement == 1.0 and runtime.top1 == report.baseline_top1
    text = report.format()
    assert "depthwise_conv2d" in text and "status: ok" in text and "golden top-1" in text
    assert EquivalenceReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_compare_counts_nonfinite_mismatches() -> None:
    ref = np.array([1.0, np.inf, np.nan, 2.0], np.float32)
    got = np.array([1.0, np.inf, 3.0, np.nan], np.float32)
    d = compare("output", "y", got, ref, 1e-5)
    assert (d.nonfinite_mismatch, d.max_abs, d.ok) == (2, 0.0, False)
    assert compare("l", "l", ref * 100 + 1e-4, ref * 100, 1e-5, scaled=True).ok


def test_report_rejects_garbage() -> None:
    with pytest.raises(InputError, match="not a readlx equivalence report"):
        EquivalenceReport.from_dict({"model": "m"})


def test_existing_bundle_is_not_overwritten(demo_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="exists; pass --force"):
        convert_bundle("democnn-synthetic10", demo_bundle.path)


class _CopiedNotPickled:
    def __deepcopy__(self, memo: dict[int, object]) -> _CopiedNotPickled:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("this object refuses to be pickled")


def test_failed_conversion_leaves_nothing(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(8, 2))
    model.not_picklable = _CopiedNotPickled()  # the conversion process receives the model as a pickle
    out = tmp_path / "broken"
    with pytest.raises(ConversionError, match="cannot be pickled"):
        convert_bundle(model, out, input_shape=(3, 2, 2))
    assert list(tmp_path.iterdir()) == []


def test_module_needs_an_input_shape(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="input_shape"):
        convert_bundle(nn.Linear(2, 2), tmp_path / "x")


def test_unknown_engine_lists_the_available_ones(demo_bundle: Bundle) -> None:
    with pytest.raises(RegistryError, match="available: keras, onnxruntime, onnxruntime-keras, torch"):
        demo_bundle.engine("tensorrt")


def test_bundle_of_a_module_needs_the_architecture(
    twin_bundle: Bundle, twin_model: nn.Module
) -> None:
    with pytest.raises(ReadlxError, match="pass its architecture as model="):
        twin_bundle.torch_model()
    rebuilt = twin_bundle.torch_model(twin_model)
    assert rebuilt is not twin_model
    assert twin_bundle.report.ok and twin_bundle.report.inputs.startswith("16 standard-normal")


def test_twin_model_was_not_changed_by_its_conversion(
    twin_bundle: Bundle, twin_model: nn.Module
) -> None:
    assert not twin_model.training
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in twin_model.modules())


@pytest.mark.data
@pytest.mark.slow
def test_resnet20_from_the_published_checkpoint(shared_data: Path, resnet20_bundle: Bundle) -> None:
    from readlx.zoo import ZOO

    bench = ZOO["resnet20-cifar10"]
    bundle = resnet20_bundle
    report = bundle.report
    assert report.ok
    for runtime in report.runtimes:
        assert runtime.top1_agreement >= 0.998 and abs(runtime.top1 - report.baseline_top1) <= 0.002
    with open(shared_data / bench.match_file) as f:
        published = {row["PT"]: row["TF"] for row in csv.DictReader(f)}
    ours = {name: bundle.table.binding("keras", name).name for name in bundle.table.names}
    assert ours == published
    # Every published PyTorch fault, translated through our bindings, is the published Keras fault.
    torch_rows, keras_rows = (_rows(shared_data / path) for path in (bench.fault_list, bench.tf_fault_list))
    assert len(torch_rows) == len(keras_rows) == 16627
    for (layer, index, bit), (tf_layer, tf_index, tf_bit) in zip(torch_rows, keras_rows, strict=True):
        binding = bundle.table.binding("keras", layer)
        assert (binding.name, binding.to_framework_index(index), bit) == (tf_layer, tf_index, tf_bit)


def _rows(path: Path) -> list[tuple[str, tuple[int, ...], int]]:
    with open(path) as f:
        return [
            (row["Layer"], tuple(int(i) for i in row["TensorIndex"].strip("()").split(",")), int(row["Bit"]))
            for row in csv.DictReader(f)
        ]


def test_the_output_bound_is_relative_to_the_logits() -> None:
    logits = np.linspace(-40.0, 40.0, 50, dtype=np.float32).reshape(5, 10)
    near = logits + np.float32(1.4e-5)  # a few float32 ulps of the largest logit, as ResNet20 differs
    assert compare("output", "output", near, logits, 1e-5, scaled=True).ok
    assert not compare("output", "output", logits + np.float32(1e-3), logits, 1e-5, scaled=True).ok
    small = logits / 100  # below 1 the bound stays absolute
    assert not compare("output", "output", small + np.float32(2e-5), small, 1e-5, scaled=True).ok


@pytest.mark.slow
def test_a_failed_check_names_the_tolerance_option(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="--tolerance on the command line"):
        convert_bundle("democnn-synthetic10", tmp_path / "b", tolerance=1e-30)
    assert not (tmp_path / "b").exists() and not (tmp_path / "b.partial").exists()

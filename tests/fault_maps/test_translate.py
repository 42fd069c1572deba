"""Canonical faults <-> Keras names and layouts, and the published TensorFlow lists."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from readlx.errors import FaultListError, InputError, RegistryError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.io import load_fault_list, save_fault_list
from readlx.fault_maps.io_paper import format_paper_tf, read_paper_tf, read_paper_torch
from readlx.fault_maps.translate import (
    KERAS,
    FrameworkFault,
    framework_names,
    from_framework,
    keras_binding,
    keras_bindings,
    read_match_file,
    to_framework,
    with_keras_bindings,
)
from readlx.graph import Binding, Layer, LayerTable

MATCH = {"conv1": "conv2d", "dw": "depthwise_conv2d", "fc": "dense"}


@pytest.fixture
def keras_table() -> LayerTable:
    layers = (
        Layer("conv1", "conv", (8, 3, 3, 5)),
        Layer("dw", "conv", (8, 1, 3, 3), groups=8),
        Layer("fc", "linear", (10, 16)),
    )
    return with_keras_bindings(LayerTable("m", layers), MATCH)


def test_bindings_follow_the_layer_kind(keras_table: LayerTable) -> None:
    assert keras_table.bindings[KERAS] == {
        "conv1": Binding("conv2d", "conv2d/kernel:0", (2, 3, 1, 0)),
        "dw": Binding("depthwise_conv2d", "depthwise_conv2d/depthwise_kernel:0", (2, 3, 0, 1)),
        "fc": Binding("dense", "dense/kernel:0", (1, 0)),
    }


def test_depthwise_convolutions_may_be_grouped_conv2d() -> None:
    layer = Layer("dw", "conv", (8, 1, 3, 3), groups=8)
    assert keras_binding(layer, "c", depthwise="conv") == Binding("c", "c/kernel:0", (2, 3, 1, 0))
    # A grouped convolution that is not depthwise is a plain Conv2D kernel.
    grouped = Layer("g", "conv", (8, 2, 3, 3), groups=4)
    assert keras_binding(grouped, "g").permutation == (2, 3, 1, 0)


def test_depthwise_bindings_need_a_multiplier_of_one() -> None:
    with pytest.raises(InputError, match="depthwise multiplier 2"):
        keras_binding(Layer("dw", "conv", (8, 1, 3, 3), groups=4), "d")
    with pytest.raises(InputError, match="unknown depthwise layout 'dw'; valid: depthwise, conv"):
        keras_binding(Layer("dw", "conv", (8, 1, 3, 3), groups=8), "d", depthwise="dw")


def test_with_keras_bindings_leaves_the_table_alone(small_table: LayerTable) -> None:
    bound = with_keras_bindings(small_table, {"conv1": "conv2d", "fc": "dense"})
    assert small_table.bindings == {} and set(bound.bindings) == {KERAS}


def test_a_name_map_must_fit_the_model(small_table: LayerTable) -> None:
    message = "layers without a Keras name: fc; unknown layers in the map: fc2"
    with pytest.raises(InputError, match=message):
        keras_bindings(small_table, {"conv1": "conv2d", "fc2": "dense"})


def test_known_translations(keras_table: LayerTable) -> None:
    fl = FaultList.from_faults("m", (Fault("conv1", (3, 0, 2, 1), 15), Fault("dw", (5, 0, 1, 2), 3),
                                     Fault("fc", (7, 15), 4, FaultKind.STUCK_AT_0)))
    assert to_framework(fl, keras_table, KERAS) == [
        FrameworkFault(KERAS, "conv2d", (2, 1, 0, 3), 15),
        FrameworkFault(KERAS, "depthwise_conv2d", (1, 2, 5, 0), 3),
        FrameworkFault(KERAS, "dense", (15, 7), 4, FaultKind.STUCK_AT_0),
    ]
    back = from_framework(to_framework(fl, keras_table, KERAS), keras_table, ids=fl.ids)
    assert (back.model, back.faults, back.ids) == ("m", fl.faults, fl.ids)


def test_to_framework_checks_the_fault(keras_table: LayerTable, small_table: LayerTable) -> None:
    fl = FaultList.from_faults("m", (Fault("fc", (10, 0), 4),))
    with pytest.raises(FaultListError, match="out of range"):
        to_framework(fl, keras_table, KERAS)
    with pytest.raises(RegistryError, match="no 'keras' binding for layer 'fc'"):
        to_framework(FaultList.from_faults("m", (Fault("fc", (1, 0), 4),)), small_table, KERAS)


@pytest.mark.parametrize(
    "fault, field, message",
    [
        (FrameworkFault(KERAS, "dense_9", (0, 0), 1), "layer",
         "unknown keras layer 'dense_9' for model 'm'; available: conv2d, depthwise_conv2d, dense"),
        (FrameworkFault(KERAS, "dense", (0, 0, 0), 1), "index",
         "has rank 3, keras layer 'dense' has shape (16, 10)"),
        (FrameworkFault(KERAS, "dense", (16, 0), 1), "index",
         "out of range for keras layer 'dense' of shape (16, 10)"),
        (FrameworkFault(KERAS, "conv2d", (0, 0, 3, 0), 1), "index", "of shape (3, 5, 3, 8)"),
    ],
)
def test_from_framework_checks_in_the_framework_layout(
    keras_table: LayerTable, fault: FrameworkFault, field: str, message: str
) -> None:
    with pytest.raises(FaultListError, match=re.escape(message)) as info:
        from_framework([fault], keras_table)
    assert info.value.field == field


def test_framework_fault_checks_its_bit() -> None:
    with pytest.raises(FaultListError, match="bit must be an integer in 0..31, got 32"):
        FrameworkFault(KERAS, "dense", (0, 0), 32)
    assert FrameworkFault(KERAS, "dense", (np.int64(1), 2), np.int32(3)).bit == 3


def test_framework_names_need_bindings(small_table: LayerTable) -> None:
    with pytest.raises(RegistryError, match="has no 'onnx' bindings; frameworks: \\(none\\)"):
        framework_names(small_table, "onnx")
    clash = {
        "conv1": Binding("x", "x/kernel:0", (2, 3, 1, 0)),
        "fc": Binding("x", "x/kernel:0", (1, 0)),
    }
    table = LayerTable("m", small_table.layers, {KERAS: clash})
    with pytest.raises(InputError, match="'x' is bound to both 'conv1' and 'fc'"):
        framework_names(table, KERAS)


@st.composite
def layer_and_index(draw: st.DrawFn) -> tuple[Layer, tuple[int, ...]]:
    kind = draw(st.sampled_from(["conv", "depthwise", "linear"]))
    dim = st.integers(1, 7)
    if kind == "linear":
        layer = Layer("l", "linear", (draw(dim), draw(dim)))
    elif kind == "conv":
        layer = Layer("l", "conv", (draw(dim), draw(dim), draw(dim), draw(dim)))
    else:
        channels = draw(st.integers(2, 7))
        layer = Layer("l", "conv", (channels, 1, draw(dim), draw(dim)), groups=channels)
    index = tuple(draw(st.integers(0, n - 1)) for n in layer.shape)
    return layer, index


@given(layer_and_index(), st.integers(0, 31))
def test_canonical_to_keras_and_back_is_the_identity(
    case: tuple[Layer, tuple[int, ...]], bit: int
) -> None:
    layer, index = case
    table = with_keras_bindings(LayerTable("h", (layer,)), {"l": "k"})
    fl = FaultList.from_faults("h", (Fault("l", index, bit),))
    translated = to_framework(fl, table, KERAS)
    assert from_framework(translated, table).faults == fl.faults
    # The Keras index addresses the same element of the kernel as it is laid out in Keras.
    canonical = np.arange(layer.numel).reshape(layer.shape)
    kernel = canonical.transpose(table.binding(KERAS, "l").permutation)
    assert kernel[translated[0].index] == canonical[index]


# -- name maps -------------------------------------------------------------------------------------
def test_read_match_file(tmp_path: Path) -> None:
    path = tmp_path / "M_match"
    path.write_text("PT,TF\nconv1,conv2d\nlayer1.0.conv1,conv2d_1\nlinear,dense\n")
    expected = {"conv1": "conv2d", "layer1.0.conv1": "conv2d_1", "linear": "dense"}
    assert read_match_file(path) == expected


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("", 1, "expected the header 'PT,TF'"),
        ("TF,PT\na,b\n", 1, "got 'TF,PT'"),
        ("PT,TF\na,b\nc\n", 3, "expected two names"),
        ("PT,TF\na,b\na,c\n", 3, "PyTorch layer 'a' is mapped twice"),
    ],
)
def test_malformed_match_files(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "M_match"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_match_file(path)
    assert (info.value.path, info.value.line) == (str(path), line)


def test_missing_match_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read name map"):
        read_match_file(tmp_path / "nope")


# -- TensorFlow lists ------------------------------------------------------------------------------
def test_tf_list_round_trip(tmp_path: Path, keras_table: LayerTable) -> None:
    text = 'Injection,Layer,TensorIndex,Bit\n0,conv2d,"(2, 1, 0, 3)",15\n1,dense,"(15, 7)",4\n'
    path = tmp_path / "m_TF_FL.csv"
    path.write_text(text)
    fl = load_fault_list(path, keras_table, format="paper-tf")
    assert fl.faults == (Fault("conv1", (3, 0, 2, 1), 15), Fault("fc", (7, 15), 4))
    out = tmp_path / "out.csv"
    save_fault_list(fl, out, format="paper-tf", table=keras_table)
    assert out.read_text() == text


@pytest.mark.parametrize(
    "row, field, message",
    [
        ('0,dense_1,"(1, 2)",4', "Layer", "unknown keras layer 'dense_1'"),
        ('0,dense,"(16, 2)",4', "TensorIndex", "of shape (16, 10)"),
        ('0,dense,"(1, 2, 3)",4', "TensorIndex", "has rank 3"),
    ],
)
def test_malformed_tf_rows_are_located(
    tmp_path: Path, keras_table: LayerTable, row: str, field: str, message: str
) -> None:
    path = tmp_path / "m_TF_FL.csv"
    path.write_text(f'Injection,Layer,TensorIndex,Bit\n1,conv2d,"(2, 1, 0, 3)",15\n{row}\n')
    with pytest.raises(FaultListError) as info:
        read_paper_tf(path, keras_table)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 3, field)
    assert message in info.value.message


@pytest.mark.data
@pytest.mark.parametrize("model", ["ResNet20", "ResNet32", "ResNet44"])
def test_published_torch_lists_translate_to_the_published_tf_lists(
    model: str,
    cifar_resnet_table: Callable[[str], LayerTable],
    published: Callable[[str, str], Path],
) -> None:
    match = read_match_file(published(model, "match"))
    table = with_keras_bindings(cifar_resnet_table(model), match)
    torch_list = read_paper_torch(published(model, "torch"), table)
    assert format_paper_tf(torch_list, table).encode() == published(model, "tf").read_bytes()
    tf_list = read_paper_tf(published(model, "tf"), table)
    assert (tf_list.faults, tf_list.ids) == (torch_list.faults, torch_list.ids)


@pytest.mark.data
def test_published_mobilenet_uses_grouped_conv2d_kernels(shared_data: Path) -> None:
    # The published Keras MobileNetV2 stores its depthwise convolutions as grouped Conv2D kernels.
    # Its weights are not available: the shapes are those the list itself reaches (enough for the
    # translation, which only permutes axes).
    lists = shared_data / "dnn-benchmarks"
    image = "gpu/image_classification/CIFAR10/fp32/mobilenet"
    torch_path = lists / "torch" / image / "Mobilenetv2_FL.csv"
    tf_path = lists / "tensorflow" / image / "mobilenetv2_cifar10_TF_FL.csv"
    maps = shared_data / "dnn-benchmarks-converter/ptxtf_utils/match/CIFAR10"
    match = read_match_file(maps / "MobileNetV2_match")
    torch_list = read_paper_torch(torch_path)
    table = with_keras_bindings(_table_reached_by(torch_list, list(match)), match, depthwise="conv")
    assert format_paper_tf(torch_list, table).encode() == tf_path.read_bytes()
    depthwise = with_keras_bindings(table, match)
    assert format_paper_tf(torch_list, depthwise).encode() != tf_path.read_bytes()


def _table_reached_by(fl: FaultList, names: list[str]) -> LayerTable:
    shapes: dict[str, tuple[int, ...]] = {}
    for fault in fl.faults:
        old = shapes.get(fault.layer, (0,) * len(fault.index))
        shapes[fault.layer] = tuple(max(n, i + 1) for n, i in zip(old, fault.index, strict=True))
    layers = []
    for name in names:
        shape = shapes[name]
        depthwise = len(shape) == 4 and shape[1] == 1 and shape[2] > 1
        kind = "conv" if len(shape) == 4 else "linear"
        layers.append(Layer(name, kind, shape, shape[0] if depthwise else 1))
    return LayerTable("MobileNetV2", tuple(layers))

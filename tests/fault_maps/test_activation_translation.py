"""Activation faults: canonical (C, H, W) <-> channels-last frameworks, the native file format, bad input.

A canonical activation index addresses a layer's output in NCHW without the batch axis; Keras holds a
conv's output as NHWC, so its index is ``(H, W, C)``. ONNX Runtime keeps NCHW (its bindings are
identity permutations of the kernels). A linear's ``(F,)`` is the same everywhere.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.io_native import format_native, read_native
from readlx.fault_maps.translate import (
    CONV_TO_KERAS,
    DEPTHWISE_TO_KERAS,
    KERAS,
    LINEAR_TO_KERAS,
    FrameworkFault,
    activation_to_canonical,
    activation_to_framework,
    from_framework_fault,
    keras_binding,
    to_framework_fault,
    with_keras_bindings,
)
from readlx.graph import Binding, Layer, LayerTable

ORT = "onnxruntime"
A = Site.ACTIVATION
LAYERS = (
    Layer("conv1", "conv", (8, 3, 3, 3)),
    Layer("dw", "conv", (8, 1, 3, 3), groups=8),
    Layer("fc", "linear", (10, 16)),
)
OUTPUTS = {"conv1": (8, 5, 7), "dw": (8, 5, 7), "fc": (10,)}
"""H != W, so that a swapped pair of spatial axes addresses another element or none."""
KERAS_NAMES = {"conv1": "conv2d", "dw": "depthwise_conv2d", "fc": "dense"}
ORT_BINDINGS = {
    "conv1": Binding("/conv1/Conv", "conv1.weight", (0, 1, 2, 3)),
    "dw": Binding("/dw/Conv", "dw.weight", (0, 1, 2, 3)),
    "fc": Binding("/fc/Gemm", "fc.weight", (0, 1)),
}
NATIVE_HEADER = "# readlx fault list v1\n# model: m\nid,layer,index,bit,kind,site\n"
GOOD_ROW = '0,conv1,"(1, 2, 3)",4,bit-flip,activation\n'
"""Line 4; the bad rows below it are on line 5."""


def make_table(depthwise: str = "depthwise", outputs: dict[str, tuple[int, ...]] | None = None) -> LayerTable:
    """The three layer kinds, with output shapes, Keras bindings (``depthwise`` layout) and ORT bindings."""
    base = LayerTable("m", LAYERS, {ORT: dict(ORT_BINDINGS)}, dict(OUTPUTS if outputs is None else outputs))
    keras = with_keras_bindings(base, KERAS_NAMES, depthwise=depthwise)
    return LayerTable("m", LAYERS, keras.bindings, base.outputs)


TABLES = {layout: make_table(layout) for layout in ("depthwise", "conv")}


# -- strategies ------------------------------------------------------------------------------------
bit_sets = st.one_of(
    st.integers(0, 31),
    st.lists(st.integers(0, 31), min_size=2, max_size=4, unique=True).map(tuple),
)
kinds = st.sampled_from(list(FaultKind))


def index_in(shape: tuple[int, ...]) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*(st.integers(0, n - 1) for n in shape))


@st.composite
def faults(draw: st.DrawFn, table: LayerTable, sites: tuple[Site, ...] = (Site.WEIGHT, A)) -> Fault:
    layer = draw(st.sampled_from(table.layers))
    site = draw(st.sampled_from(sites))
    shape = table.outputs[layer.name] if site is A else layer.shape
    return Fault(layer.name, draw(index_in(shape)), draw(bit_sets), draw(kinds), site)


@st.composite
def conv_outputs(draw: st.DrawFn) -> tuple[int, int, int]:
    return draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 9))


# -- the index maps --------------------------------------------------------------------------------
def test_the_keras_bindings_are_channels_last() -> None:
    """The round trips below go through these permutations; the identity map would pass them too."""
    table = TABLES["depthwise"]
    assert table.binding(KERAS, "conv1").permutation == CONV_TO_KERAS
    assert table.binding(KERAS, "dw").permutation == DEPTHWISE_TO_KERAS
    assert table.binding(KERAS, "fc").permutation == LINEAR_TO_KERAS
    assert TABLES["conv"].binding(KERAS, "dw").permutation == CONV_TO_KERAS
    assert activation_to_framework((3, 1, 2), table.binding(KERAS, "conv1")) == (1, 2, 3)
    assert activation_to_framework((3, 1, 2), table.binding(ORT, "conv1")) == (3, 1, 2)


@given(st.sampled_from(LAYERS), st.sampled_from(["depthwise", "conv"]), conv_outputs(), st.data())
def test_canonical_to_keras_and_back_is_the_identity(
    layer: Layer, depthwise: str, chw: tuple[int, int, int], data: st.DataObject
) -> None:
    binding = keras_binding(layer, "k", depthwise)
    if layer.kind == "linear":
        index = data.draw(index_in((chw[0],)))
        assert activation_to_framework(index, binding) == index
    else:
        index = data.draw(index_in(chw))
        c, h, w = index
        assert activation_to_framework(index, binding) == (h, w, c)
    assert activation_to_canonical(activation_to_framework(index, binding), binding) == index


@given(st.sampled_from(list(ORT_BINDINGS.values()) + [Binding("MatMul", "w", (1, 0))]), conv_outputs(), st.data())
def test_ort_keeps_the_canonical_index(binding: Binding, chw: tuple[int, int, int], data: st.DataObject) -> None:
    index = data.draw(index_in(chw if len(binding.permutation) == 4 else chw[:1]))
    assert activation_to_framework(index, binding) == index
    assert activation_to_canonical(index, binding) == index


@given(st.sampled_from(["conv1", "dw"]), st.sampled_from(["depthwise", "conv"]), st.integers(1, 3), conv_outputs(),
       st.integers(0, 2**32 - 1), st.data())
def test_an_nhwc_index_addresses_the_element_transpose_puts_there(
    name: str, depthwise: str, n: int, chw: tuple[int, int, int], seed: int, data: st.DataObject
) -> None:
    binding = TABLES[depthwise].binding(KERAS, name)
    rng = np.random.default_rng(seed)
    # Distinct values: equal values are then the same element.
    nchw = rng.permutation(n * int(np.prod(chw))).astype(np.float32).reshape(n, *chw)
    nhwc = np.transpose(nchw, (0, 2, 3, 1))
    row = data.draw(st.integers(0, n - 1))
    index = data.draw(index_in(chw))
    framework = activation_to_framework(index, binding)
    assert nhwc[(row, *framework)] == nchw[(row, *index)]
    assert nhwc.shape[1:] == activation_to_framework(chw, binding)
    assert nchw[(row, *activation_to_canonical(framework, binding))] == nhwc[(row, *framework)]


# -- whole faults through a table --------------------------------------------------------------------
@given(st.sampled_from(["depthwise", "conv"]), st.sampled_from([KERAS, ORT]), st.data())
def test_faults_to_a_framework_and_back_are_the_identity(depthwise: str, framework: str, data: st.DataObject) -> None:
    table = TABLES[depthwise]
    fault = data.draw(faults(table))
    translated = to_framework_fault(fault, table, framework)
    binding = table.binding(framework, fault.layer)
    assert (translated.framework, translated.layer) == (framework, binding.name)
    assert (translated.bit, translated.kind, translated.site) == (fault.bit, fault.kind, fault.site)
    if fault.is_activation and len(fault.index) == 3 and framework == KERAS:
        c, h, w = fault.index
        assert translated.index == (h, w, c)
        out_c, out_h, out_w = table.outputs[fault.layer]
        assert all(0 <= i < n for i, n in zip(translated.index, (out_h, out_w, out_c), strict=True))
    elif fault.is_activation:
        assert translated.index == fault.index
    assert from_framework_fault(translated, table) == fault


@given(st.data())
def test_a_bit_set_is_kept_sorted_through_translation(data: st.DataObject) -> None:
    bits = data.draw(st.lists(st.integers(0, 31), min_size=2, max_size=5, unique=True))
    fault = Fault("conv1", (7, 4, 6), tuple(bits), FaultKind.STUCK_AT_0, A)
    assert fault.bits == tuple(sorted(bits))
    translated = to_framework_fault(fault, TABLES["depthwise"], KERAS)
    assert translated.bit == tuple(sorted(bits)) and translated.index == (4, 6, 7)
    assert from_framework_fault(translated, TABLES["depthwise"]).bits == tuple(sorted(bits))


# -- the native format ---------------------------------------------------------------------------------
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(st.lists(faults(TABLES["depthwise"]), max_size=12), st.data())
def test_native_format_round_trips_weight_and_activation_faults(
    tmp_path: Path, drawn: list[Fault], data: st.DataObject
) -> None:
    table = TABLES["depthwise"]
    ids = data.draw(st.lists(st.integers(0, 10**6), min_size=len(drawn), max_size=len(drawn), unique=True))
    fl = FaultList.from_faults("m", drawn, ids=ids)
    text = format_native(fl)
    path = tmp_path / "m.csv"
    path.write_bytes(text.encode("utf-8"))
    for back in (read_native(path), read_native(path, table)):
        assert back == fl
        assert back.faults == fl.faults and back.ids == fl.ids
        assert [f.site for f in back.faults] == [f.site for f in drawn]
        assert format_native(back) == text
    header = text.splitlines()[2].split(",")
    assert ("site" in header) == any(f.is_activation for f in drawn)


def test_native_format_writes_bit_sets_and_sites() -> None:
    fl = FaultList.from_faults("m", (Fault("conv1", (3, 0, 2, 1), 15),
                                     Fault("dw", (5, 4, 6), (30, 29), FaultKind.STUCK_AT_1, A),
                                     Fault("fc", (9,), 31, site=A)))
    assert format_native(fl).splitlines()[2:] == [
        "id,layer,index,bit,kind,site",
        '0,conv1,"(3, 0, 2, 1)",15,bit-flip,weight',
        '1,dw,"(5, 4, 6)",29+30,stuck-at-1,activation',
        '2,fc,"(9,)",31,bit-flip,activation',
    ]


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer, index",
    [("conv1", (8, 0, 0)), ("conv1", (0, 5, 0)), ("conv1", (0, 0, 7)), ("dw", (0, 4, 7)), ("fc", (10,)),
     ("conv1", (0, 0)), ("fc", (0, 0, 0))],
)
def test_an_activation_index_outside_the_output_is_refused(tmp_path: Path, layer: str, index: tuple[int, ...]) -> None:
    table = TABLES["depthwise"]
    fault = Fault(layer, index, 3, site=A)  # the constructor does not know the layer's output shape
    shape = OUTPUTS[layer]
    message = re.escape(f"index {index}") + ".*" + re.escape(f"{shape}")
    with pytest.raises(FaultListError, match=message) as info:
        table.check_fault(fault)
    assert info.value.field == "index"
    with pytest.raises(FaultListError, match=message):
        to_framework_fault(fault, table, KERAS)
    path = tmp_path / "bad.csv"
    path.write_text(NATIVE_HEADER + GOOD_ROW + f'1,{layer},"{index}",3,bit-flip,activation\n')
    with pytest.raises(FaultListError, match=message) as info:
        read_native(path, table)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 5, "index")


def test_a_keras_activation_index_outside_the_output_is_refused() -> None:
    table = TABLES["depthwise"]
    # The output is NHWC (5, 7, 8) in Keras: (5, 0, 0) would be in range if read as (C, H, W), and the
    # valid (4, 6, 7) would not.
    for index in ((5, 0, 0), (0, 7, 0), (0, 0, 8)):
        with pytest.raises(FaultListError, match="out of range") as info:
            from_framework_fault(FrameworkFault(KERAS, "conv2d", index, 3, site=A), table)
        assert info.value.field == "index"
    c, h, w = 7, 4, 6
    assert from_framework_fault(FrameworkFault(KERAS, "conv2d", (h, w, c), 3, site=A), table).index == (c, h, w)


@pytest.mark.parametrize(
    "bit, message",
    [((3, 3), "bit set (3, 3) has a bit more than once"), ((29, 30, 29), "bit set (29, 30, 29) has a bit more"),
     (32, "must be an integer in 0..31, got 32"), (-1, "must be an integer in 0..31, got -1"),
     ((5, 40), "bit 40 of (5, 40) must be an integer in 0..31, got 40"), ((), "bit set () is empty")],
)
def test_bad_bits_are_refused_by_the_constructor(bit: object, message: str) -> None:
    with pytest.raises(FaultListError, match=re.escape(message)):
        Fault("conv1", (0, 0, 0), bit, site=A)  # type: ignore[arg-type]  # bad on purpose


@pytest.mark.parametrize(
    "cell, message",
    [("3+3", "bit set '3+3' has a bit more than once"), ("29+30+29", "bit set '29+30+29' has a bit more"),
     ("32", "bit must be an integer in 0..31, got '32'"), ("-1", "got '-1'"), ("5+40", "got '40'"), ("", "got ''")],
)
def test_bad_bits_in_a_file_are_located(tmp_path: Path, cell: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(NATIVE_HEADER + GOOD_ROW + f'1,fc,"(2,)",{cell},bit-flip,activation\n')
    with pytest.raises(FaultListError, match=re.escape(message)) as info:
        read_native(path, TABLES["depthwise"])
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 5, "bit")
    assert str(info.value).startswith(f"{path}, line 5, field 'bit': ")


@pytest.mark.parametrize("site", ["bias", "Activation", "activations", ""])
def test_an_unknown_site_in_a_file_is_located(tmp_path: Path, site: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(NATIVE_HEADER + GOOD_ROW + f'1,conv1,"(1, 2, 3)",4,bit-flip,{site}\n')
    message = f"unknown fault site {site!r}; valid: weight, activation"
    with pytest.raises(FaultListError, match=re.escape(message)) as info:
        read_native(path, TABLES["depthwise"])
    assert (info.value.line, info.value.field) == (5, "site")


@pytest.mark.parametrize("field, value", [("site", "bias"), ("kind", "bit-flop")])
def test_an_unknown_site_or_kind_is_refused_by_the_constructor(field: str, value: str) -> None:
    with pytest.raises(FaultListError, match=re.escape(repr(value)) + ".*valid: "):
        Fault("conv1", (0, 0, 0), 3, **{field: value})  # type: ignore[arg-type]  # bad on purpose

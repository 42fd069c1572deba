"""Name maps come from the weights (invariant 2): bitwise matching, layouts, ties by graph order."""
from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnx.helper as oh
import pytest
import torch
import torch.nn as nn
from hypothesis import given
from hypothesis import strategies as st
from onnx import numpy_helper

from readlx.converters import Bundle
from readlx.converters.namemaps import (
    Candidate,
    compose,
    inverse_permutation,
    match_bindings,
    onnx_candidates,
    torch_execution_order,
    torch_weights,
)
from readlx.errors import ConversionError
from readlx.fault_maps.fault import Fault
from readlx.graph import Binding, Layer, LayerTable

RNG = np.random.default_rng(5)


def _weights(*shapes: tuple[int, ...]) -> list[np.ndarray]:
    return [RNG.standard_normal(s).astype(np.float32) for s in shapes]


# -- permutations ----------------------------------------------------------------------------------
@given(st.permutations(range(4)))
def test_inverse_permutation_undoes_the_permutation(perm: list[int]) -> None:
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    assert np.array_equal(x.transpose(perm).transpose(inverse_permutation(perm)), x)


@given(st.permutations(range(4)), st.permutations(range(4)))
def test_compose_gives_the_stored_layout(layout: list[int], transpose: list[int]) -> None:
    canonical = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    seen = canonical.transpose(layout)
    stored = seen.transpose(inverse_permutation(transpose))  # Transpose(stored, transpose) == seen
    assert np.array_equal(stored, canonical.transpose(compose(layout, transpose)))


@given(st.permutations(range(4)), st.tuples(*(st.integers(0, 1),) * 4))
def test_binding_index_round_trip_is_identity(perm: list[int], index: tuple[int, ...]) -> None:
    b = Binding("x", "x:0", tuple(perm))
    assert b.to_canonical_index(b.to_framework_index(index)) == index


# -- matching --------------------------------------------------------------------------------------
def test_keras_layouts_are_matched_and_named() -> None:
    conv, dense = _weights((4, 3, 3, 3), (5, 4))
    table = LayerTable("m", (Layer("conv", "conv", conv.shape), Layer("fc", "linear", dense.shape)))
    cands = [
        Candidate("dense", "dense/kernel:0", dense.T.copy(), (1, 0), 1),
        Candidate("conv2d", "conv2d/kernel:0", conv.transpose(2, 3, 1, 0).copy(), (2, 3, 1, 0), 0),
    ]
    got = match_bindings(table, {"conv": conv, "fc": dense}, cands)
    assert got == {
        "conv": Binding("conv2d", "conv2d/kernel:0", (2, 3, 1, 0)),
        "fc": Binding("dense", "dense/kernel:0", (1, 0)),
    }
    fault = Fault("conv", (3, 1, 0, 2), 7)
    fw_index = got["conv"].to_framework_index(fault.index)
    assert cands[1].tensor[fw_index] == conv[fault.index]


def test_depthwise_layout() -> None:
    (dw,) = _weights((8, 1, 3, 3))
    table = LayerTable("m", (Layer("dw", "conv", dw.shape, groups=8),))
    cand = Candidate("depthwise_conv2d", "k", dw.transpose(2, 3, 0, 1).copy(), (2, 3, 0, 1), 0)
    assert match_bindings(table, {"dw": dw}, [cand])["dw"].permutation == (2, 3, 0, 1)


def test_identical_weights_are_bound_in_graph_order_following_execution_order() -> None:
    (w,) = _weights((4, 4, 3, 3))
    table = LayerTable("m", (Layer("late", "conv", w.shape), Layer("early", "conv", w.shape)))
    keras = w.transpose(2, 3, 1, 0).copy()
    cands = [
        Candidate("conv2d_1", "conv2d_1/kernel:0", keras, (2, 3, 1, 0), 1),
        Candidate("conv2d", "conv2d/kernel:0", keras.copy(), (2, 3, 1, 0), 0),
    ]
    weights = {"late": w, "early": w.copy()}
    got = match_bindings(table, weights, cands, order=["early", "late"])
    assert (got["early"].name, got["late"].name) == ("conv2d", "conv2d_1")
    assert list(got) == ["late", "early"]  # table order is kept
    swapped = match_bindings(table, weights, cands)  # table order taken as execution order
    assert (swapped["late"].name, swapped["early"].name) == ("conv2d", "conv2d_1")


def test_a_tensor_shared_by_two_layers_fails_loudly() -> None:
    (w,) = _weights((4, 4, 1, 1))
    table = LayerTable("m", (Layer("a", "conv", w.shape), Layer("b", "conv", w.shape)))
    cand = Candidate("/a/Conv", "merged", w.copy(), (0, 1, 2, 3), 0)
    with pytest.raises(ConversionError, match=r"'b'.*merged.*already bound"):
        match_bindings(table, {"a": w, "b": w.copy()}, [cand], framework="onnxruntime")


def test_unmatched_layer_names_the_candidates_considered() -> None:
    conv, other = _weights((4, 3, 3, 3), (4, 3, 3, 3))
    table = LayerTable("m", (Layer("conv1", "conv", conv.shape),))
    cand = Candidate("conv2d", "conv2d/kernel:0", other.transpose(2, 3, 1, 0).copy(), (2, 3, 1, 0), 0)
    with pytest.raises(ConversionError) as err:
        match_bindings(table, {"conv1": conv}, [cand], framework="keras")
    message = str(err.value)
    assert "'conv1'" in message and "conv2d:conv2d/kernel:0 (3, 3, 3, 4)" in message and "keras" in message


def test_matching_is_bitwise() -> None:
    (w,) = _weights((2, 3))
    w[0, 0] = 0.0
    w[1, 2] = np.uint32(0x7FC00001).view(np.float32)  # a NaN with a payload
    table = LayerTable("m", (Layer("fc", "linear", w.shape),))
    same = w.T.copy()
    assert match_bindings(table, {"fc": w}, [Candidate("d", "k", same, (1, 0), 0)])
    negative_zero = same.copy()
    negative_zero[0, 0] = -0.0  # equal as a float, not as bits
    other_nan = same.copy()
    other_nan[2, 1] = np.uint32(0x7FC00002).view(np.float32)
    for tensor in (negative_zero, other_nan):
        with pytest.raises(ConversionError):
            match_bindings(table, {"fc": w}, [Candidate("d", "k", tensor, (1, 0), 0)])


def test_a_wrong_layout_does_not_match() -> None:
    (w,) = _weights((3, 3))
    table = LayerTable("m", (Layer("fc", "linear", w.shape),))
    with pytest.raises(ConversionError):  # the operator reads (in, out) but the tensor is (out, in)
        match_bindings(table, {"fc": w}, [Candidate("d", "k", w.copy(), (1, 0), 0)])


def test_weight_shape_mismatch_is_reported() -> None:
    table = LayerTable("m", (Layer("fc", "linear", (2, 3)),))
    with pytest.raises(ConversionError, match=r"table says float32 \(2, 3\)"):
        match_bindings(table, {"fc": np.zeros((3, 2), np.float32)}, [])


# -- ONNX candidates -------------------------------------------------------------------------------
def _onnx_model(nodes: list, inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    graph = oh.make_graph(
        nodes,
        "g",
        [oh.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [oh.make_tensor_value_info(nodes[-1].output[0], onnx.TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return oh.make_model(graph)


def test_onnx_candidates_follow_operator_layouts_and_transposes() -> None:
    conv, fc_t, fc_n, mm = _weights((4, 3, 3, 3), (5, 36), (36, 5), (5, 2))
    hwio = conv.transpose(2, 3, 1, 0).copy()
    model = _onnx_model(
        [
            oh.make_node("Transpose", ["w_hwio"], ["w_oihw"], perm=[3, 2, 0, 1]),
            oh.make_node("Conv", ["x", "w_oihw"], ["c"], name="conv"),
            oh.make_node("Flatten", ["c"], ["f"]),
            oh.make_node("Gemm", ["f", "fc_t"], ["g1"], name="gemm_t", transB=1),
            oh.make_node("Gemm", ["f", "fc_n"], ["g2"], name="gemm_n"),
            oh.make_node("MatMul", ["g2", "mm"], ["y"], name="matmul"),
        ],
        {"w_hwio": hwio, "fc_t": fc_t, "fc_n": fc_n, "mm": mm},
    )
    cands = {c.name: c for c in onnx_candidates(model)}
    assert cands["conv"].variable == "w_hwio" and cands["conv"].holds(conv)
    assert cands["conv"].permutation == (2, 3, 1, 0)
    assert cands["gemm_t"].permutation == (0, 1) and cands["gemm_t"].holds(fc_t)
    assert cands["gemm_n"].permutation == (1, 0) and cands["gemm_n"].holds(fc_n.T.copy())
    assert cands["matmul"].permutation == (1, 0) and cands["matmul"].holds(mm.T.copy())
    assert [c.position for c in onnx_candidates(model)] == [1, 3, 4, 5]


# -- Keras candidates ------------------------------------------------------------------------------
def test_keras_candidates_layouts() -> None:
    import tensorflow as tf

    from readlx.converters.namemaps import keras_candidates

    inputs = tf.keras.Input((6, 6, 3))
    x = tf.keras.layers.Conv2D(4, 3, name="c")(inputs)
    x = tf.keras.layers.DepthwiseConv2D(3, name="d")(x)
    x = tf.keras.layers.Dense(2, name="f")(tf.keras.layers.Flatten()(x))
    cands = keras_candidates(tf.keras.Model(inputs, x))
    assert [(c.name, c.permutation, c.tensor.shape) for c in cands] == [
        ("c", (2, 3, 1, 0), (3, 3, 3, 4)),
        ("d", (2, 3, 0, 1), (3, 3, 4, 1)),
        ("f", (1, 0), (16, 2)),
    ]
    assert cands[0].variable.startswith("c/kernel")


def test_keras_depth_multiplier_above_one_is_refused() -> None:
    import tensorflow as tf

    from readlx.converters.namemaps import keras_candidates

    inputs = tf.keras.Input((6, 6, 3))
    out = tf.keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="dm2")(inputs)
    with pytest.raises(ConversionError, match="'dm2'.*depth multiplier 2"):
        keras_candidates(tf.keras.Model(inputs, out))


# -- torch side and the converted twin model --------------------------------------------------------
def test_execution_order_differs_from_registration_order(twin_model: nn.Module) -> None:
    table = LayerTable.from_torch(twin_model, "twin")
    assert table.names == ["stem", "twin_late", "twin_early", "head"]
    order = torch_execution_order(twin_model, table, torch.zeros(1, 3, 6, 6))
    assert order == ["stem", "twin_early", "twin_late", "head"]
    assert not any(m._forward_hooks for m in twin_model.modules())


def test_twin_layers_are_bound_by_execution_order(
    twin_bundle: Bundle, twin_model: nn.Module
) -> None:
    table = twin_bundle.table
    assert len(table) == 4
    keras = {name: table.binding("keras", name) for name in table.names}
    assert keras["head"].permutation == (1, 0)  # Dense right after the flatten
    index = {"conv2d": 0, "conv2d_1": 1, "conv2d_2": 2}
    assert index[keras["stem"].name] < index[keras["twin_early"].name] < index[keras["twin_late"].name]
    onnx_b = {name: table.binding("onnxruntime", name).variable for name in table.names}
    assert onnx_b == {n: f"{n}.weight" for n in table.names}
    weights = torch_weights(twin_model, table)
    assert np.array_equal(weights["twin_early"], weights["twin_late"])


def test_twin_faults_land_on_the_same_layer_in_every_runtime(
    twin_bundle: Bundle, twin_model: nn.Module
) -> None:
    images = np.random.default_rng(1).standard_normal((6, 3, 6, 6)).astype(np.float32)
    engines = [twin_bundle.engine("torch", batch_size=4, model=twin_model)] + [
        twin_bundle.engine(fw, batch_size=4) for fw in ("keras", "onnxruntime", "onnxruntime-keras")
    ]
    for layer, index in itertools.product(("twin_early", "twin_late"), [(1, 2, 0, 1), (3, 0, 2, 2)]):
        fault = Fault(layer, index, 23)  # doubles or halves the weight: a swapped binding would show
        outs = []
        for engine in engines:
            with engine.inject(fault):
                outs.append(engine.infer(images))
        golden = engines[0].infer(images)
        assert np.abs(outs[0] - golden).max() > 1e-3
        for out in outs[1:]:
            np.testing.assert_allclose(out, outs[0], rtol=1e-4, atol=1e-4)

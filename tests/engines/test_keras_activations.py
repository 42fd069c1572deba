"""Activation faults on the Keras engine: the layer's output corrupted bit for bit, golden outside."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from readlx.campaign.runners.keras_fast import KerasFastRunner, ordered_nodes
from readlx.campaign.runners.reference import ReferenceRunner, run_fault
from readlx.converters import Bundle
from readlx.data.synthetic import synthetic
from readlx.engines.base import corrupt_activation
from readlx.engines.keras import KerasEngine, activations
from readlx.engines.keras_activations import NEUTRAL_MASKS, faulty_batch, spliced_output
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.fault_maps.translate import activation_to_framework
from readlx.outcomes.classification import CRITICAL, MASKED

BATCH = 8
N_IMAGES = 20  # two full batches and a shorter one
A = Site.ACTIVATION
FAULTS = (
    Fault("conv1", (3, 4, 5), 30, site=A),
    Fault("conv1", (6, 0, 15), 31, FaultKind.STUCK_AT_0, site=A),
    Fault("dwconv", (2, 7, 9), (22, 30), site=A),
    Fault("dwconv", (5, 15, 0), 22, site=A),
    Fault("conv2", (5, 3, 3), 30, FaultKind.STUCK_AT_1, site=A),
    Fault("conv3", (7, 1, 6), 31, site=A),
    Fault("conv3", (0, 4, 4), 30, FaultKind.STUCK_AT_0, site=A),
    Fault("linear", (4,), 22, site=A),
    Fault("linear", (9,), 31, FaultKind.STUCK_AT_1, site=A),
)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic(N_IMAGES).images


@pytest.fixture(scope="module")
def engine(demo_bundle: Bundle) -> KerasEngine:
    eng = demo_bundle.engine("keras", batch_size=BATCH)
    assert isinstance(eng, KerasEngine)
    return eng


@pytest.fixture(scope="module")
def golden(engine: KerasEngine, images: np.ndarray) -> np.ndarray:
    return engine.infer(images)


def _split_after(model: tf.keras.Model, layer: tf.keras.layers.Layer) -> tuple[tf.keras.Model, tf.keras.Model, int]:
    """The model cut right after ``layer``: a prefix giving the tensors live across the cut, a suffix
    from them to the output, and the position of ``layer``'s output among them."""
    nodes = ordered_nodes(model)
    cut = next(i for i, node in enumerate(nodes) if node.layer is layer) + 1
    made = {id(t): t for node in nodes[:cut] for t in tf.nest.flatten(node.outputs)}
    live: dict[int, tf.Tensor] = {}
    for node in nodes[cut:]:
        for t in node.keras_inputs:
            if id(t) in made:
                live.setdefault(id(t), t)
    tensors = list(live.values())
    where = [i for i, t in enumerate(tensors) if t is layer.output]
    assert len(where) == 1
    return tf.keras.Model(model.inputs, tensors), tf.keras.Model(tensors, model.outputs[0]), where[0]


def keras_reference(engine: KerasEngine, fault: Fault, images: np.ndarray, golden: np.ndarray) -> np.ndarray:
    """``fault``'s outputs by Keras sub-models compiled as the engine compiles its model (eager Keras
    rounds otherwise): the layer's output computed by a prefix model, corrupted with NumPy, the rest run
    by a suffix model; for each image the corruption leaves unchanged, golden."""
    model = engine.model
    binding = engine.table.binding("keras", fault.layer)
    prefix, suffix, at = (engine.function_for(m) if isinstance(m, tf.keras.Model) else m
                          for m in _split_after(model, model.get_layer(binding.name)))
    index = activation_to_framework(fault.index, binding)
    out = []
    for lo in range(0, len(images), BATCH):
        values = [np.asarray(v) for v in tf.nest.flatten(prefix(engine.batch_input(images[lo:lo + BATCH])))]
        unchanged = np.asarray(suffix(*values), np.float32)
        values[at] = corrupt_activation(values[at], index, fault)
        faulty = np.asarray(suffix(*values), np.float32)
        same = (bits(faulty) == bits(unchanged)).all(axis=1)
        out.append(np.where(same[:, None], golden[lo:lo + BATCH], faulty))
    return np.concatenate(out)


def test_neutral_instrumented_graphs_give_golden_bit_for_bit(engine: KerasEngine, images: np.ndarray,
                                                             golden: np.ndarray) -> None:
    spliced = {}
    for layer in engine.table.names:
        graph = engine.instrumented(layer)
        assert engine.instrumented(layer) is graph  # built once
        out = np.concatenate([faulty_batch(engine, graph, engine.batch_input(images[lo:lo + BATCH]))[1]
                              for lo in range(0, N_IMAGES, BATCH)])
        assert np.array_equal(bits(out), bits(golden)), layer
        neutral = np.concatenate([np.asarray(graph.neutral(engine.batch_input(images[lo:lo + BATCH])))
                                  for lo in range(0, N_IMAGES, BATCH)])
        assert np.array_equal(bits(neutral), bits(golden)) != graph.spliced, layer  # plain: the recomputation is golden
        spliced[layer] = graph.spliced
    assert not spliced["linear"]  # a Dense layer's output is the model's (through an identity)
    if engine.describe()["onednn"]:  # oneDNN fuses each Conv2D with the BatchNormalization after it
        assert spliced["conv1"] and spliced["conv2"]
    shapes = {layer: engine.instrumented(layer).shape for layer in engine.table.names}
    assert shapes == {"conv1": (16, 16, 8), "dwconv": (16, 16, 8), "conv2": (8, 8, 16), "conv3": (8, 8, 16),
                      "linear": (10,)}


@pytest.mark.parametrize("fault", FAULTS, ids=Fault.describe)
def test_activation_fault_equals_keras_submodels_with_numpy_corruption(
        engine: KerasEngine, images: np.ndarray, golden: np.ndarray, fault: Fault) -> None:
    with engine.inject(fault):
        faulty = engine.infer(images)
    expected = keras_reference(engine, fault, images, golden)
    assert np.array_equal(bits(faulty), bits(expected))
    assert not np.array_equal(bits(faulty), bits(golden))  # the fault did something
    assert np.array_equal(bits(engine.infer(images)), bits(golden))


def test_the_corrupted_element_is_the_canonical_one(engine: KerasEngine, images: np.ndarray,
                                                    golden: np.ndarray) -> None:
    """A channel's index read as (H, W, C) would corrupt another element: the outputs would differ."""
    fault = Fault("conv3", (7, 1, 6), 31, site=A)
    wrong = Fault("conv3", (1, 6, 7), 31, site=A)  # the framework index given as canonical
    with engine.inject(fault):
        right = engine.infer(images)
    with engine.inject(wrong):
        other = engine.infer(images)
    assert not np.array_equal(bits(right), bits(other))


def test_after_the_context_and_after_an_error_the_engine_is_golden(engine: KerasEngine, images: np.ndarray,
                                                                   golden: np.ndarray) -> None:
    fault = FAULTS[0]
    with engine.inject(fault):
        assert not np.array_equal(bits(engine.infer(images)), bits(golden))
    assert np.array_equal(bits(engine.infer(images)), bits(golden))
    with pytest.raises(RuntimeError, match="inside"), engine.inject(fault):
        raise RuntimeError("inside")
    assert np.array_equal(bits(engine.infer(images)), bits(golden))
    graph = engine.instrumented(fault.layer)
    for mask, neutral in zip(graph.masks, NEUTRAL_MASKS, strict=True):
        assert np.all(mask.numpy() == neutral)
    assert np.array_equal(bits(faulty_batch(engine, graph, engine.batch_input(images[:BATCH]))[1]),
                          bits(golden[:BATCH]))


def test_a_weight_fault_still_corrupts_the_weight(engine: KerasEngine, images: np.ndarray,
                                                  golden: np.ndarray) -> None:
    for layer in engine.table.names:
        engine.instrumented(layer)
    stored = engine.weight("conv3").copy()
    with engine.inject(Fault("conv3", (0, 0, 1, 1), 30)):
        assert not np.array_equal(bits(engine.infer(images)), bits(golden))
    assert np.array_equal(bits(engine.weight("conv3")), bits(stored))
    assert np.array_equal(bits(engine.infer(images)), bits(golden))


@pytest.mark.parametrize(("fault", "shape"), [
    (Fault("conv1", (8, 0, 0), 30, site=A), "(8, 16, 16)"),
    (Fault("conv2", (0, 8, 0), 30, site=A), "(16, 8, 8)"),
    (Fault("linear", (10,), 30, site=A), "(10,)"),
])
def test_an_index_outside_the_output_is_refused(engine: KerasEngine, images: np.ndarray, golden: np.ndarray,
                                                fault: Fault, shape: str) -> None:
    with pytest.raises(FaultListError) as e, engine.inject(fault):
        pass
    assert all(part in str(e.value) for part in (repr(fault.layer), str(fault.index), shape)), str(e.value)
    assert np.array_equal(bits(engine.infer(images)), bits(golden))


def test_one_activation_fault_at_a_time(engine: KerasEngine, images: np.ndarray, golden: np.ndarray) -> None:
    with engine.inject(FAULTS[0]):
        faulty = engine.infer(images)
        with pytest.raises(ReadlxError, match="one activation fault at a time"), engine.inject(FAULTS[-1]):
            pass
        assert np.array_equal(bits(engine.infer(images)), bits(faulty))  # the refusal undid nothing
    assert np.array_equal(bits(engine.infer(images)), bits(golden))


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_keras_and_torch_agree_on_a_fault_that_changes_the_prediction(
        demo_bundle: Bundle, engine: KerasEngine, images: np.ndarray, golden: np.ndarray, layer: str) -> None:
    torch_engine = demo_bundle.engine("torch", batch_size=BATCH)
    torch_golden = torch_engine.infer(images)
    # Bit 30 turns an output in (0, 1) into ~1e38 and one in [1, 2) into NaN: the element chosen is in
    # (0, 1) for the most images and never in [1, 2).
    values = activations(engine, images, BATCH)[layer]
    score = np.where(((values >= 1) & (values < 2)).any(axis=0), -1, ((values > 0) & (values < 1)).sum(axis=0))
    index = tuple(int(i) for i in np.unravel_index(np.argmax(score), score.shape))
    fault = Fault(layer, index, 30, site=A)
    runs = {}
    for eng, gold in ((engine, golden), (torch_engine, torch_golden)):
        with eng.inject(fault):
            faulty = eng.infer(images)
        runs[eng.framework] = (faulty, run_fault(eng, fault, images, gold, np.float32(0), True).codes)
    (k_out, k_codes), (t_out, t_codes) = runs["keras"], runs["torch"]
    assert np.isfinite(k_out).all() and np.isfinite(t_out).all()
    assert np.array_equal(k_out.argmax(axis=1), t_out.argmax(axis=1))
    assert (k_out.argmax(axis=1) != golden.argmax(axis=1)).sum() >= 5
    # Two runtimes ~1e-6 apart: the codes agree but where a golden top-1 is a near tie.
    assert (k_codes == t_codes).mean() >= 0.9 and (k_codes == CRITICAL).any() and (k_codes == MASKED).any()


def test_fast_runner_equals_reference_runner_on_activation_faults(engine: KerasEngine, images: np.ndarray,
                                                                  golden: np.ndarray) -> None:
    faults = [FAULTS[0], Fault("conv1", (0, 0, 1, 1), 30), FAULTS[2], FAULTS[4],
              Fault("conv2", (1, 2, 0, 0), 22, FaultKind.STUCK_AT_1), FAULTS[7], FAULTS[5]]
    reference = list(ReferenceRunner(engine, images, golden).run(faults))
    fast = list(KerasFastRunner(engine, images, golden).run(faults))
    for fault, ref, got in zip(faults, reference, fast, strict=True):
        assert np.array_equal(ref.codes, got.codes), fault.describe()
        assert np.array_equal(ref.prediction, got.prediction), fault.describe()
    assert any((ref.codes != MASKED).any() for ref in reference)
    assert np.array_equal(bits(engine.infer(images)), bits(golden))


def test_instrumenting_leaves_the_model_graph_and_its_activations_alone(engine: KerasEngine,
                                                                        images: np.ndarray) -> None:
    fresh = KerasEngine(engine.model, engine.table, batch_size=BATCH)
    before = activations(fresh, images, BATCH)
    nodes = {layer.name: len(layer.inbound_nodes) for layer in fresh.model.layers}
    for layer in fresh.table.names:
        fresh.instrumented(layer)
    with fresh.inject(FAULTS[0]):
        fresh.infer(images)
    assert {layer.name: len(layer.inbound_nodes) for layer in fresh.model.layers} == nodes
    after = activations(fresh, images, BATCH)
    assert before.keys() == after.keys()
    for name in before:
        assert np.array_equal(bits(before[name]), bits(after[name])), name


def test_a_plain_graph_that_misses_golden_on_a_batch_becomes_spliced(demo_bundle: Bundle, images: np.ndarray) -> None:
    from dataclasses import replace

    eng = demo_bundle.engine("keras", batch_size=BATCH)
    assert isinstance(eng, KerasEngine)
    golden = eng.infer(images)
    fault = Fault("conv1", (3, 4, 5), 30, site=A)
    want = keras_reference(eng, fault, images, golden)
    graph = eng.instrumented("conv1")
    if not graph.spliced:
        pytest.skip("conv1's output is a tensor of the engine's graph here (no Conv2D+BatchNorm fusion)")
    # Taken for plain (as a probe batch that happened to match would make it), checked on the first batch.
    eng._instrumented["conv1"] = replace(graph, spliced=False, checked=set())
    with eng.inject(fault):
        got = eng.infer(images)
    assert eng.instrumented("conv1").spliced
    assert np.array_equal(bits(got), bits(want))
    assert np.array_equal(bits(eng.infer(images)), bits(golden))


def test_spliced_output_keeps_golden_where_the_recomputation_is_unchanged() -> None:
    faulty = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    neutral = np.array([[1.0, 2.0], [3.0, -4.0]], np.float32)
    golden = np.array([[1.5, 2.5], [3.5, 4.5]], np.float32)
    assert spliced_output(faulty, neutral, golden).tolist() == [[1.5, 2.5], [3.0, 4.0]]
    zero = np.array([[0.0, 0.0]], np.float32)
    assert spliced_output(-zero, zero, zero + 9).tolist() == [[-0.0, -0.0]]  # -0.0 is not 0.0 bit for bit

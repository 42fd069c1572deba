"""readlx's activation faults against PyTorchFI's neuron faults on the demo CNN: permanent faults of
the Conv/Linear outputs, transient faults (declared to PyTorchFI row by row at each image's draw) and
faults of the BatchNorm outputs (PyTorchFI hooking ``BatchNorm2d`` layers).

PyTorchFI (``pytorchfi.core.fault_injection``) is an independent implementation of the same fault
model: it numbers the hooked layers in forward-call order, addresses an output element as
``(batch, dim1, dim2, dim3)`` = ``(N, C, H, W)`` and corrupts it in a forward hook. Its own bit-flip
error model quantizes the value to a signed 8-bit range and flips a random bit, so the flip itself is
given to it as a custom hook function that flips the float32 bits; what is cross-checked is its layer
numbering, element addressing and hook placement against readlx's canonical ``(C, H, W)`` address.
Both runs must give bitwise identical logits, hence identical outcomes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn

from readlx._typing import Array
from readlx.campaign.runners.reference import run_fault
from readlx.data.synthetic import synthetic
from readlx.engines.torch import TorchEngine
from readlx.fault_maps.fault import Fault, Site
from readlx.fault_maps.sites import with_outputs
from readlx.graph import LayerTable
from readlx.outcomes.classification import class_counts
from readlx.outcomes.tasks import CLASSIFICATION
from readlx.zoo import ZOO, load_model

core = pytest.importorskip("pytorchfi.core")

MODEL = "democnn-synthetic10"
INPUT = (3, 16, 16)
N_IMAGES = 32
BATCH = 16
"""Two forward passes: the fault must hit every row of every batch (a permanent fault)."""
PFI_LAYERS = ("conv1", "dwconv", "conv2", "conv3", "linear")
"""PyTorchFI's layer numbers for ``layer_types=[Conv2d, Linear]``: the forward-call order."""

A = Site.ACTIVATION
FAULTS = (
    Fault("conv1", (0, 15, 0), 30, site=A),
    Fault("conv1", (5, 3, 11), 31, site=A),
    Fault("conv1", (7, 15, 2), 23, site=A),
    Fault("conv1", (2, 9, 4), 2, site=A),
    Fault("dwconv", (3, 1, 14), 30, site=A),
    Fault("dwconv", (6, 12, 0), 31, site=A),
    Fault("dwconv", (1, 7, 3), 23, site=A),
    Fault("dwconv", (4, 0, 15), 2, site=A),
    Fault("conv2", (9, 2, 6), 30, site=A),
    Fault("conv2", (15, 7, 1), 31, site=A),
    Fault("conv2", (0, 4, 3), 23, site=A),
    Fault("conv2", (12, 1, 5), 2, site=A),
    Fault("conv2", (8, 3, 5), (30, 31), site=A),
    Fault("conv3", (3, 5, 7), 30, site=A),
    Fault("conv3", (11, 0, 2), 31, site=A),
    Fault("conv3", (7, 6, 1), 23, site=A),
    Fault("conv3", (14, 3, 0), 2, site=A),
    Fault("linear", (2,), 30, site=A),
    Fault("linear", (9,), 31, site=A),
    Fault("linear", (5,), 23, site=A),
    Fault("linear", (0,), 2, site=A),
)


@pytest.fixture(scope="module")
def table() -> LayerTable:
    return with_outputs(ZOO[MODEL].layer_table(), load_model(MODEL), INPUT)


@pytest.fixture(scope="module")
def images() -> Array:
    return synthetic(N_IMAGES).images


@pytest.fixture(scope="module")
def engine(table: LayerTable) -> TorchEngine:
    return TorchEngine(load_model(MODEL), table, batch_size=BATCH)


@pytest.fixture(scope="module")
def golden(engine: TorchEngine, images: Array) -> Array:
    return engine.infer(images)


@pytest.fixture(scope="module")
def pfi() -> Any:
    """PyTorchFI on its own copy of the model (in eval mode before its profiling pass, which would
    otherwise update the BatchNorm statistics)."""
    # Its constructor calls logging.basicConfig with a format naming fields no other logger passes.
    handlers = list(logging.root.handlers)
    try:
        return core.fault_injection(load_model(MODEL).eval(), BATCH, input_shape=list(INPUT),
                                    layer_types=[nn.Conv2d, nn.Linear], use_cuda=False)
    finally:
        logging.root.handlers[:] = handlers


def _bit_flipper(pfi: Any, mask: int, hits: list[int]) -> Callable[..., None]:
    """A PyTorchFI neuron hook (the shape of its ``single_bit_flip_signed_across_batch``) that flips
    the bits of ``mask`` in the float32 word of each declared element, in place."""

    def hook(module: Any, inputs: Any, output: torch.Tensor) -> None:
        layer = pfi.get_current_layer()
        dims = pfi.get_layer_dim(layer)
        for i, corrupt_layer in enumerate(pfi.get_corrupt_layer()):
            if corrupt_layer != layer:
                continue
            pfi.assert_inj_bounds(index=i)
            where = (pfi.corrupt_batch[i], pfi.corrupt_dim1[i], pfi.corrupt_dim2[i], pfi.corrupt_dim3[i])[:dims]
            output[where] = (output[where].view(torch.int32) ^ mask).view(torch.float32)
            hits.append(i)
        pfi.updateLayer()
        if pfi.get_current_layer() >= pfi.get_total_layers():
            pfi.reset_current_layer()

    return hook


def pytorchfi_logits(pfi: Any, table: LayerTable, fault: Fault, images: Array) -> Array:
    """Logits of PyTorchFI's corrupted copy with ``fault``'s element flipped in every row of every batch."""
    rows = list(range(BATCH))
    c, h, w = (*fault.index, None, None)[:3]
    hits: list[int] = []
    mask = int(np.array(fault.mask, np.uint32).view(np.int32))
    corrupted = pfi.declare_neuron_fi(
        batch=rows, layer_num=[PFI_LAYERS.index(fault.layer)] * BATCH,
        dim1=[c] * BATCH, dim2=[h] * BATCH, dim3=[w] * BATCH, function=_bit_flipper(pfi, mask, hits),
    )
    logits = TorchEngine(corrupted, table, batch_size=BATCH).infer(images)
    assert sorted(hits) == sorted(rows * (N_IMAGES // BATCH)), "PyTorchFI's hook did not corrupt every row"
    return logits


def readlx_logits(engine: TorchEngine, fault: Fault, images: Array) -> Array:
    with engine.inject(fault):
        logits = engine.infer(images)
    assert engine.hook_calls == N_IMAGES // BATCH
    return logits


def _bits(a: Array) -> Array:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def test_pytorchfi_numbers_and_shapes_the_layers_as_the_table(pfi: Any, table: LayerTable) -> None:
    assert [tuple(shape[1:]) for shape in pfi.get_output_size()] == [table.outputs[n] for n in PFI_LAYERS]
    assert [pfi.get_layer_type(i) for i in range(pfi.get_total_layers())] == [nn.Conv2d] * 4 + [nn.Linear]
    assert set(PFI_LAYERS) == set(table.names)


def test_faults_cover_every_layer_and_the_bits() -> None:
    assert {f.layer for f in FAULTS} == set(PFI_LAYERS)
    assert {30, 31, 23, 2} <= {b for f in FAULTS for b in f.bits}
    assert len(FAULTS) >= 12


def test_golden_runs_agree(pfi: Any, table: LayerTable, golden: Array, images: Array) -> None:
    plain = TorchEngine(pfi.get_original_model(), table, batch_size=BATCH).infer(images)
    assert np.array_equal(_bits(plain), _bits(golden))


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.describe().replace(" ", "_"))
def test_same_faulty_logits_and_outcomes_as_pytorchfi(
    pfi: Any, engine: TorchEngine, table: LayerTable, golden: Array, images: Array, fault: Fault
) -> None:
    theirs = pytorchfi_logits(pfi, table, fault, images)
    ours = readlx_logits(engine, fault, images)
    assert np.array_equal(_bits(ours), _bits(theirs)), f"{fault.describe()}: logits differ from PyTorchFI's"
    ours_codes = CLASSIFICATION.classify(golden, ours)
    theirs_codes = CLASSIFICATION.classify(golden, theirs)
    assert class_counts(ours_codes) == class_counts(theirs_codes)
    assert np.array_equal(ours_codes, theirs_codes)
    outcome = run_fault(engine, fault, images, golden, np.float32(0.0), True)
    assert np.array_equal(outcome.codes, ours_codes)
    modules = dict(engine.model.named_modules())
    assert not modules[fault.layer]._forward_hooks, "readlx left its hook on the module"


def _neighbour(fault: Fault, table: LayerTable) -> Fault:
    """Another element of the same output: H and W swapped (all conv faults have H != W), or the next
    feature of a linear."""
    if len(fault.index) == 3:
        c, h, w = fault.index
        return Fault(fault.layer, (c, w, h), fault.bit, fault.kind, fault.site)
    (f,) = fault.index
    return Fault(fault.layer, ((f + 1) % table.outputs[fault.layer][0],), fault.bit, fault.kind, fault.site)


def test_the_cross_check_tells_elements_apart(
    pfi: Any, engine: TorchEngine, table: LayerTable, golden: Array, images: Array
) -> None:
    """Were readlx's ``(C, H, W)`` read in another order, its logits would be PyTorchFI's for another
    element: these differ for most faults, so the comparison above would fail."""
    assert all(f.index[1] != f.index[2] for f in FAULTS if len(f.index) == 3)
    effective, totals = [], np.zeros(4, int)
    for fault in FAULTS:
        ours = readlx_logits(engine, fault, images)
        totals += class_counts(CLASSIFICATION.classify(golden, ours))
        if not np.array_equal(_bits(ours), _bits(golden)):
            other = pytorchfi_logits(pfi, table, _neighbour(fault, table), images)
            effective.append(not np.array_equal(_bits(ours), _bits(other)))
    # The outcome counts compared above are worth comparing only if the faults reach every class.
    assert (totals > 0).all(), f"masked, non-critical, critical, non-finite: {totals.tolist()}"
    assert len(effective) >= len(FAULTS) // 2, "too few faults change the logits to tell elements apart"
    assert all(effective), "another element's fault gave the same logits"


def _row_flipper(pfi: Any, masks: list[int], hits: list[int]) -> Callable[..., None]:
    """As :func:`_bit_flipper`, with each declared element's own mask (a transient fault's rows)."""

    def hook(module: Any, inputs: Any, output: torch.Tensor) -> None:
        layer = pfi.get_current_layer()
        dims = pfi.get_layer_dim(layer)
        for i, corrupt_layer in enumerate(pfi.get_corrupt_layer()):
            if corrupt_layer == layer:
                where = (pfi.corrupt_batch[i], pfi.corrupt_dim1[i], pfi.corrupt_dim2[i], pfi.corrupt_dim3[i])[:dims]
                output[where] = (output[where].view(torch.int32) ^ masks[i]).view(torch.float32)
                hits.append(i)
        pfi.updateLayer()
        if pfi.get_current_layer() >= pfi.get_total_layers():
            pfi.reset_current_layer()

    return hook


@pytest.mark.parametrize("layer", PFI_LAYERS)
def test_transient_faults_give_pytorchfis_logits_for_each_images_draw(
    pfi: Any, engine: TorchEngine, table: LayerTable, images: Array, layer: str
) -> None:
    """A transient fault, declared to PyTorchFI batch by batch as one neuron fault per row at that
    image's drawn element and bit."""
    from readlx.fault_maps.transient import draws

    fault = Fault(layer, (), tuple(range(20, 32)), site=A, seed=1234 + PFI_LAYERS.index(layer))
    with engine.inject(fault):
        ours = engine.infer(images)
    theirs = []
    for start in range(0, N_IMAGES, BATCH):
        drawn = draws(fault, table.outputs[layer], np.arange(start, start + BATCH))
        index = [(*map(int, row), None, None)[:3] for row in drawn.index]
        hits: list[int] = []
        corrupted = pfi.declare_neuron_fi(
            batch=list(range(BATCH)), layer_num=[PFI_LAYERS.index(layer)] * BATCH,
            dim1=[i[0] for i in index], dim2=[i[1] for i in index], dim3=[i[2] for i in index],
            function=_row_flipper(pfi, [int(m) for m in drawn.masks.view(np.int32)], hits))
        theirs.append(TorchEngine(corrupted, table, batch_size=BATCH).infer(images[start:start + BATCH]))
        assert sorted(hits) == list(range(BATCH))
    assert np.array_equal(_bits(ours), _bits(np.concatenate(theirs))), f"{fault.describe()}: differs from PyTorchFI"


PFI_NORMS = {"conv1": 0, "dwconv": 1, "conv2": 2}
"""PyTorchFI's layer numbers for ``layer_types=[BatchNorm2d]`` (bn1, bn2, bn3) by the layer they normalize."""


@pytest.fixture(scope="module")
def pfi_norms() -> Any:
    handlers = list(logging.root.handlers)
    try:
        return core.fault_injection(load_model(MODEL).eval(), BATCH, input_shape=list(INPUT),
                                    layer_types=[nn.BatchNorm2d], use_cuda=False)
    finally:
        logging.root.handlers[:] = handlers


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.layer in PFI_NORMS],
                         ids=lambda f: f.describe().replace(" ", "_"))
def test_normalized_faults_give_pytorchfis_logits_on_the_batchnorm(
    pfi_norms: Any, engine: TorchEngine, table: LayerTable, images: Array, fault: Fault
) -> None:
    normalized = Fault(fault.layer, fault.index, fault.bit, fault.kind, Site.NORMALIZED)
    with engine.inject(normalized):
        ours = engine.infer(images)
    c, h, w = fault.index
    hits: list[int] = []
    mask = int(np.array(fault.mask, np.uint32).view(np.int32))
    corrupted = pfi_norms.declare_neuron_fi(
        batch=list(range(BATCH)), layer_num=[PFI_NORMS[fault.layer]] * BATCH, dim1=[c] * BATCH, dim2=[h] * BATCH,
        dim3=[w] * BATCH, function=_bit_flipper(pfi_norms, mask, hits))
    theirs = TorchEngine(corrupted, table, batch_size=BATCH).infer(images)
    assert len(hits) == N_IMAGES
    assert np.array_equal(_bits(ours), _bits(theirs)), f"{normalized.describe()}: differs from PyTorchFI"
    if fault.top_bit >= 23:  # an exponent or sign flip of the conv's output (another tensor) moves the logits apart
        with engine.inject(fault):
            assert not np.array_equal(_bits(engine.infer(images)), _bits(theirs))

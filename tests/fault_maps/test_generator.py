"""Fault-list generation: the published generator draw for draw, and the numpy modes."""
from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readlx.errors import InputError
from readlx.fault_maps import generator
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.generator import MODES, generate
from readlx.fault_maps.io_paper import read_paper_torch
from readlx.fault_maps.sampling import allocate, layer_wise_sizes, population, sample_size
from readlx.graph import Layer, LayerTable


def reference_paper_list(table: LayerTable, counts: dict[str, int], seed: int) -> list[Fault]:
    """The published procedure, written out as plainly as possible."""
    rng = random.Random(seed)
    faults: list[Fault] = []
    for layer in table:
        used: set[tuple[tuple[int, ...], int]] = set()
        for _ in range(counts[layer.name]):
            for _attempt in range(1000):
                index = tuple(rng.randint(0, d - 1) for d in layer.shape)
                bit = rng.randint(0, 31)
                if (index, bit) not in used:
                    break
            used.add((index, bit))
            faults.append(Fault(layer.name, index, bit))
    return faults


def keys(faults: tuple[Fault, ...]) -> list[tuple[str, tuple[int, ...], int, FaultKind]]:
    return [(f.layer, f.index, f.bit, f.kind) for f in faults]


def test_a_local_random_instance_draws_like_the_seeded_module() -> None:
    state = random.getstate()
    try:
        random.seed(42)
        expected = [random.randint(0, 15) for _ in range(50)]
    finally:
        random.setstate(state)
    local = random.Random(42)
    assert [local.randint(0, 15) for _ in range(50)] == expected


def test_paper_mode_follows_the_published_procedure(small_table: LayerTable) -> None:
    fl = generate(small_table, margin=0.02)
    n = sample_size(population(small_table), margin=0.02)
    expected = reference_paper_list(small_table, allocate(small_table, n), 42)
    assert keys(fl.faults) == keys(tuple(expected))
    assert fl.ids == tuple(range(len(fl)))


def test_paper_mode_redraws_duplicates() -> None:
    # 2 weights x 32 bits = 64 distinct faults; a sample of 40 of them repeats draws for sure.
    table = LayerTable("tiny", (Layer("fc", "linear", (1, 2)),))
    fl = generate(table, margin=0.17)
    assert len(fl) == sample_size(128, margin=0.17) == 40
    assert len(set(keys(fl.faults))) == len(fl)
    assert keys(fl.faults) == keys(tuple(reference_paper_list(table, {"fc": 40}, 42)))
    rng = random.Random(42)
    naive = [(rng.randint(0, 0), rng.randint(0, 1), rng.randint(0, 31)) for _ in range(40)]
    assert len(set(naive)) < 40  # so the list above did redraw


def test_paper_mode_gives_up_after_max_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generator, "MAX_DRAWS", 2)
    table = LayerTable("tiny", (Layer("fc", "linear", (1, 1)),))
    with pytest.raises(InputError, match=r"layer 'fc': no new fault found in 2 draws"):
        generate(table, margin=0.001, population_kinds=1)


def test_a_sample_larger_than_the_layer_is_refused() -> None:
    # The population counts two kinds per bit, but only bit flips are drawn: 64 > 32.
    table = LayerTable("tiny", (Layer("fc", "linear", (1, 1)),))
    message = "layer 'fc' has 32 distinct faults but the sample asks for 64"
    with pytest.raises(InputError, match=message):
        generate(table, margin=0.001)


def test_sampling_record(small_table: LayerTable) -> None:
    fl = generate(small_table, margin=0.05, confidence=0.95, seed=7, mode="network-wise")
    record = fl.sampling
    assert record is not None
    assert (record.population, record.margin, record.confidence, record.t) == (
        population(small_table), 0.05, 0.95, 1.96)
    assert (record.p, record.seed, record.mode) == (0.5, 7, "network-wise")
    assert record.sample_size == sample_size(population(small_table), 0.05, 0.95)


@pytest.mark.parametrize("mode", ["paper", "network-wise"])
def test_network_allocation_per_layer(small_table: LayerTable, mode: str) -> None:
    fl = generate(small_table, margin=0.05, mode=mode)
    per_layer = {name: sum(f.layer == name for f in fl.faults) for name in small_table.names}
    assert per_layer == allocate(small_table, fl.sampling.sample_size)  # type: ignore[union-attr]  # a generated list records its sampling
    assert [f.layer for f in fl.faults] == sorted((f.layer for f in fl.faults), key=small_table.names.index)


def test_layer_wise_mode_uses_each_layers_size(small_table: LayerTable) -> None:
    fl = generate(small_table, margin=0.05, mode="layer-wise", seed=3)
    sizes = layer_wise_sizes(small_table, margin=0.05)
    assert {name: sum(f.layer == name for f in fl.faults) for name in small_table.names} == sizes
    assert fl.sampling.sample_size == sum(sizes.values())  # type: ignore[union-attr]  # a generated list records its sampling


def test_numpy_modes_are_reproducible(small_table: LayerTable) -> None:
    a = generate(small_table, margin=0.05, mode="network-wise", seed=5)
    b = generate(small_table, margin=0.05, mode="network-wise", seed=np.random.default_rng(5))
    c = generate(small_table, margin=0.05, mode="network-wise", seed=6)
    assert a.faults == b.faults != c.faults
    assert b.sampling.seed is None  # type: ignore[union-attr]  # a generated list records its sampling


def test_several_kinds_are_drawn_too(small_table: LayerTable) -> None:
    kinds = (FaultKind.STUCK_AT_0, FaultKind.STUCK_AT_1)
    for mode in MODES:
        fl = generate(small_table, margin=0.05, mode=mode, kinds=kinds)
        assert {f.kind for f in fl.faults} == set(kinds)
        assert len(set(keys(fl.faults))) == len(fl)


def test_kinds_may_be_given_by_name(small_table: LayerTable) -> None:
    fl = generate(small_table, margin=0.05, kinds=("stuck-at-1",))
    assert {f.kind for f in fl.faults} == {FaultKind.STUCK_AT_1}
    # One kind draws no kind: the sequence is the bit-flip one.
    flips = generate(small_table, margin=0.05)
    assert [(f.index, f.bit) for f in fl.faults] == [(f.index, f.bit) for f in flips.faults]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "random"}, "unknown sampling mode 'random'; valid: paper, network-wise, layer-"),
        ({"kinds": ()}, "kinds must be distinct"),
        ({"kinds": ("bit-flip", "bit-flip")}, "kinds must be distinct"),
        ({"kinds": ("flip",)}, "unknown fault kind 'flip'"),
        ({"seed": np.random.default_rng(0)}, "mode 'paper' needs a non-negative integer seed"),
        ({"seed": -1}, "non-negative integer seed, got -1"),
        ({"seed": "a", "mode": "layer-wise"}, "seed must be a non-negative integer or a numpy"),
    ],
)
def test_bad_arguments_are_refused(
    small_table: LayerTable, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        generate(small_table, margin=0.05, **kwargs)  # type: ignore[arg-type]  # the wrong type on purpose


shapes = st.one_of(
    st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)),
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(shapes, min_size=1, max_size=3), st.sampled_from(MODES), st.integers(0, 2**32 - 1))
def test_every_mode_draws_distinct_valid_faults(
    layer_shapes: list[tuple[int, ...]], mode: str, seed: int
) -> None:
    kinds = ["conv" if len(s) == 4 else "linear" for s in layer_shapes]
    table = LayerTable("h", tuple(Layer(f"l{k}", kinds[k], s) for k, s in enumerate(layer_shapes)))
    fl = generate(table, margin=0.1, mode=mode, seed=seed, population_kinds=1)
    assert len(set(keys(fl.faults))) == len(fl)
    for fault in fl.faults:
        table.check_fault(fault)


# -- the published lists ---------------------------------------------------------------------------
@pytest.mark.data
@pytest.mark.parametrize("model", ["ResNet32", "ResNet44"])
def test_paper_mode_reproduces_the_published_list(
    model: str,
    cifar_resnet_table: Callable[[str], LayerTable],
    published: Callable[[str, str], Path],
) -> None:
    table = cifar_resnet_table(model)
    fl = generate(table)
    expected = read_paper_torch(published(model, "torch"), table)
    assert fl.ids == expected.ids
    assert fl.faults == expected.faults


@pytest.mark.data
def test_paper_mode_reproduces_resnet20_but_for_one_edited_row(
    cifar_resnet_table: Callable[[str], LayerTable], published: Callable[[str, str], Path]
) -> None:
    table = cifar_resnet_table("ResNet20")
    fl = generate(table)
    expected = read_paper_torch(published("ResNet20", "torch"), table)
    assert fl.ids == expected.ids
    differing = [(i, g, p) for i, g, p in zip(fl.ids, fl.faults, expected.faults, strict=True) if g != p]
    # Row 2 of the published list was edited upstream: its bit is 30 (a critical exponent bit)
    # where the generator draws 13.
    assert differing == [(2, Fault("conv1", (13, 0, 0, 0), 13), Fault("conv1", (13, 0, 0, 0), 30))]

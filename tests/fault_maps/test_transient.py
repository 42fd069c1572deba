"""Transient activation faults: per-image draws, their lists and their file format."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readlx.errors import FaultListError, InputError
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.io_native import format_native, read_native
from readlx.fault_maps.transient import corrupt_rows, draws, transient_faults
from readlx.graph import Layer, LayerTable

A = Site.ACTIVATION
SHAPE = (4, 5, 3)
TABLE = LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 60))),
                   outputs={"conv1": SHAPE, "fc": (10,)})


def chi2_below_999(counts: np.ndarray, expected: np.ndarray) -> bool:
    """Is Pearson's statistic below the 99.9 % quantile of its chi-square law (Wilson-Hilferty)?"""
    statistic = float(((counts - expected) ** 2 / expected).sum())
    df = counts.size - 1 if expected.ndim == 1 else (expected.shape[0] - 1) * (expected.shape[1] - 1)
    quantile = df * (1 - 2 / (9 * df) + 3.09 * np.sqrt(2 / (9 * df))) ** 3
    return statistic < quantile


def transient(seed: int = 7, index: tuple[int, ...] = (), bits: tuple[int, ...] = tuple(range(32))) -> Fault:
    return Fault("conv1", index, bits, site=A, seed=seed)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=30, unique=True), st.randoms(use_true_random=False))
def test_an_images_draw_depends_on_nothing_but_the_fault_and_the_image(images: list[int], rnd: object) -> None:
    fault = transient()
    whole = draws(fault, SHAPE, images)
    order = list(range(len(images)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    shuffled = draws(fault, SHAPE, [images[k] for k in order])
    assert np.array_equal(shuffled.index, whole.index[order]) and np.array_equal(shuffled.bit, whole.bit[order])
    for k, image in enumerate(images[:5]):
        alone = draws(fault, SHAPE, [image])
        assert alone.index.tolist() == [whole.index[k].tolist()] and alone.bit.tolist() == [whole.bit[k]]


def test_draws_are_uniform_over_the_elements_and_the_bits() -> None:
    d = draws(transient(), SHAPE, np.arange(60_000))
    flat = np.ravel_multi_index(tuple(d.index.T), SHAPE)
    assert chi2_below_999(np.bincount(flat, minlength=60), np.full(60, 1000.0))
    assert chi2_below_999(np.bincount(d.bit, minlength=32), np.full(32, 60_000 / 32))
    # element and bit of an image are independent draws
    table = np.zeros((60, 32))
    np.add.at(table, (flat, d.bit), 1)
    assert chi2_below_999(table, np.outer(table.sum(1), table.sum(0)) / table.sum())
    assert not chi2_below_999(np.bincount(flat % 30, minlength=60), np.full(60, 1000.0))  # the test can fail


def test_seeds_prefixes_and_bit_sets_shape_the_draws() -> None:
    images = np.arange(2000)
    a, b = draws(transient(7), SHAPE, images), draws(transient(8), SHAPE, images)
    assert (a.index != b.index).any(axis=1).mean() > 0.9  # another seed, other elements
    channel = draws(transient(index=(2,)), SHAPE, images)
    assert (channel.index[:, 0] == 2).all() and len(np.unique(channel.index[:, 1:], axis=0)) == 15
    row = draws(transient(index=(2, 4)), SHAPE, images)
    assert (row.index[:, :2] == (2, 4)).all() and set(row.index[:, 2].tolist()) == {0, 1, 2}
    exponent = draws(transient(bits=tuple(range(23, 31))), SHAPE, images)
    assert set(exponent.bit.tolist()) == set(range(23, 31))
    assert set(draws(transient(bits=(30,)), SHAPE, images).bit.tolist()) == {30}
    assert draws(transient(), (10,), [3]).index.shape == (1, 1)


def test_draws_in_a_channels_last_layout_swap_the_axes_only() -> None:
    d = draws(transient(), SHAPE, np.arange(10))
    assert np.array_equal(d.framework_index(True), d.index[:, [1, 2, 0]])
    assert d.framework_index(False) is d.index


@pytest.mark.parametrize("kind", list(FaultKind))
def test_corrupt_rows_corrupts_one_element_per_row(kind: FaultKind) -> None:
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((6, *SHAPE)).astype(np.float32)
    kept = batch.copy()
    d = draws(Fault("conv1", (), tuple(range(32)), kind, A, seed=3), SHAPE, np.arange(10, 16))
    out = corrupt_rows(batch, d.index, d.masks, kind)
    for r in range(6):
        expected = batch[r].copy()
        word = expected.view(np.uint32)[tuple(d.index[r])]
        bit = np.uint32(1 << int(d.bit[r]))
        new = {FaultKind.BIT_FLIP: word ^ bit, FaultKind.STUCK_AT_1: word | bit, FaultKind.STUCK_AT_0: word & ~bit}
        expected.view(np.uint32)[tuple(d.index[r])] = new[kind]
        assert np.array_equal(out[r].view(np.uint32), expected.view(np.uint32))
    assert np.array_equal(batch, kept)  # a copy is corrupted


def test_bad_transient_faults_are_named_errors() -> None:
    with pytest.raises(FaultListError, match="field 'seed': only activation faults are transient"):
        Fault("conv1", (0, 0, 0, 0), 3, seed=1)
    for bad in (-1, 2**63, True, 1.5):
        with pytest.raises(FaultListError, match=r"field 'seed': seed must be an integer in 0..2\*\*63-1"):
            Fault("conv1", (), 3, site=A, seed=bad)  # type: ignore[arg-type]
    with pytest.raises(FaultListError, match="draws its bit per image"):
        transient().apply(np.float32(1.0))
    with pytest.raises(FaultListError, match="is permanent"):
        draws(Fault("conv1", (0, 0, 0), 3, site=A), SHAPE, [0])
    with pytest.raises(FaultListError, match=r"field 'index'.*not a leading part.*\(4, 5, 3\)"):
        draws(transient(index=(4,)), SHAPE, [0])
    with pytest.raises(FaultListError, match="not a leading part"):
        TABLE.check_fault(transient(index=(0, 0, 0, 0)))


def test_layer_wise_lists_hold_repeats_per_layer_with_distinct_seeds() -> None:
    fl = transient_faults(TABLE, 4, mode="layer-wise", seed=5, kinds=("bit-flip", "stuck-at-0"))
    assert [f.layer for f in fl.faults] == ["conv1"] * 4 + ["fc"] * 4
    assert len({f.seed for f in fl.faults}) == 8 and all(f.is_transient and f.index == () for f in fl.faults)
    assert {f.kind for f in fl.faults} <= {FaultKind.BIT_FLIP, FaultKind.STUCK_AT_0}
    assert transient_faults(TABLE, 4, mode="layer-wise", seed=5, kinds=("bit-flip", "stuck-at-0")) == fl
    assert fl.meta["transient"] == {"repeats": 4, "mode": "layer-wise", "seed": 5, "kinds": ["bit-flip", "stuck-at-0"]}


def test_network_wise_lists_draw_layers_by_their_output_size() -> None:
    fl = transient_faults(TABLE, 3000, seed=1)
    conv = sum(f.layer == "conv1" for f in fl.faults)
    p = 60 / 70
    assert abs(conv - 3000 * p) < 3.3 * np.sqrt(3000 * p * (1 - p))


def test_bad_generation_arguments_are_named_errors() -> None:
    with pytest.raises(InputError, match="field 'repeats'.*got 0"):
        transient_faults(TABLE, 0)
    with pytest.raises(InputError, match="field 'mode'.*'bit-wise'.*valid: network-wise, layer-wise"):
        transient_faults(TABLE, 2, mode="bit-wise")
    with pytest.raises(FaultListError, match="unknown fault kind 'flip'"):
        transient_faults(TABLE, 2, kinds=("flip",))


def test_the_readlx_format_round_trips_transient_faults_beside_permanent_ones(tmp_path: object) -> None:
    faults = (Fault("conv1", (0, 1, 2, 0), (29, 30)), Fault("conv1", (1, 2, 0), 30, site=A),
              transient(9), transient(10, (3,), tuple(range(23, 31))), transient(11, bits=(1, 2, 3, 4, 9)))
    fl = FaultList.from_faults("m", faults)
    text = format_native(fl)
    assert "id,layer,index,bit,kind,site,seed\n" in text
    assert "2,conv1,(),0-31,bit-flip,activation,9\n" in text and "3,conv1,\"(3,)\",23-30," in text
    assert "4,conv1,(),1-4+9," in text and "\n0,conv1,\"(0, 1, 2, 0)\",29+30,bit-flip,weight,\n" in text
    path = tmp_path / "t.csv"  # type: ignore[operator]
    path.write_text(text)
    assert read_native(path, TABLE) == fl


@pytest.mark.parametrize(("row", "field", "message"), [
    ("0,conv1,(),0-31,bit-flip,activation,x", "seed", "seed must be empty"),
    ("0,conv1,(),0-31,bit-flip,activation,", "index", r"index \(\) names no element"),
    ("0,conv1,\"(0, 0, 0, 0)\",3,bit-flip,weight,5", "seed", "only activation faults are transient"),
    ("0,conv1,(),31-30,bit-flip,activation,5", "bit", "must go from a lower to a higher bit"),
    ("0,conv1,(),0-40,bit-flip,activation,5", "bit", "0..31"),
    ("0,conv1,(),0-3+2,bit-flip,activation,5", "bit", "more than once"),
    ("0,conv1,\"(9,)\",0-31,bit-flip,activation,5", "index", "not a leading part"),
])
def test_bad_transient_rows_name_file_line_and_field(tmp_path: object, row: str, field: str, message: str) -> None:
    path = tmp_path / "bad.csv"  # type: ignore[operator]
    path.write_text(f"# readlx fault list v1\n# model: m\nid,layer,index,bit,kind,site,seed\n{row}\n")
    with pytest.raises(FaultListError, match=f"bad.csv, line 4, field '{field}'.*{message}"):
        read_native(path, TABLE)

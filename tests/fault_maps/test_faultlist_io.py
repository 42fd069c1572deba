"""Fault-list files: readlx's format, the published CSVs, errors located by file, line, field."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readlx.errors import FaultListError, InputError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultEntry, FaultList, PublishedCounts, Sampling
from readlx.fault_maps.io import load_fault_list, save_fault_list, sniff_format
from readlx.fault_maps.io_native import format_native, read_native, write_native
from readlx.fault_maps.io_paper import format_paper_torch, read_paper_torch, write_paper_torch
from readlx.graph import LayerTable

HEADER = "Injection,Layer,TensorIndex,Bit"
FULL_HEADER = HEADER + ",n_injections,masked,non_critical,critical"
NATIVE = "# readlx fault list v1\n# model: m\nid,layer,index,bit,kind\n"
SAMPLING = Sampling(17_173_504, 16_625, 0.01, 0.99, 0.5, 2.58, 42, "paper")


def assert_same(a: FaultList, b: FaultList) -> None:
    """Field-by-field equality (the published counts are an array)."""
    assert (a.model, a.faults, a.ids, a.sampling, a.source, a.meta) == (
        b.model, b.faults, b.ids, b.sampling, b.source, b.meta)
    if a.published is None or b.published is None:
        assert a.published is None and b.published is None
    else:
        assert a.published.dtype == b.published.dtype
        np.testing.assert_array_equal(a.published, b.published)


def write(tmp_path: Path, text: str, name: str = "faults.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def example_list(published: bool = True) -> FaultList:
    faults = (Fault("conv1", (3, 0, 2, 1), 15), Fault("fc", (7, 15), 31, FaultKind.STUCK_AT_1))
    counts = np.array([[10, 1, 8, 1], [10, 0, 0, 10]]) if published else None
    meta = {"newline": "\r\n", "x": [1, "a"]}
    return FaultList.from_faults("m", faults, ids=(0, 5), published=counts, sampling=SAMPLING,
                                 source="up/stream.csv", meta=meta)


# -- readlx format ---------------------------------------------------------------------------------
@pytest.mark.parametrize("published", [True, False])
def test_native_round_trip_keeps_every_field(tmp_path: Path, published: bool) -> None:
    fl = example_list(published)
    path = tmp_path / "m.csv"
    write_native(fl, path)
    assert_same(read_native(path), fl)


def test_native_format_is_readable() -> None:
    text = format_native(example_list())
    assert text.splitlines()[:4] == [
        "# readlx fault list v1",
        "# model: m",
        "# source: up/stream.csv",
        "# sampling_population: 17173504",
    ]
    assert "# sampling_seed: 42" in text.splitlines()
    assert text.splitlines()[-2:] == [
        '0,conv1,"(3, 0, 2, 1)",15,bit-flip,10,1,8,1', '5,fc,"(7, 15)",31,stuck-at-1,10,0,0,10']


def test_native_list_without_sampling_or_source(tmp_path: Path) -> None:
    fl = FaultList.from_faults("m", (Fault("fc", (1, 2), 3),))
    path = tmp_path / "m.csv"
    write_native(fl, path)
    assert path.read_text() == NATIVE + '0,fc,"(1, 2)",3,bit-flip\n'
    assert read_native(path) == fl


def test_native_writer_refuses_what_it_cannot_read_back(tmp_path: Path) -> None:
    with pytest.raises(FaultListError, match="spans several lines"):
        format_native(FaultList.from_faults("a\nb", ()))
    with pytest.raises(FaultListError, match="not JSON-serializable"):
        format_native(FaultList.from_faults("m", (), meta={"k": object()}))
    with pytest.raises(FaultListError, match="meta key 'a:b'"):
        format_native(FaultList.from_faults("m", (), meta={"a:b": 1}))


printable = st.characters(blacklist_categories=("Cs", "Cc"))
layer_names = st.text(printable, min_size=1, max_size=8).filter(lambda s: s.strip() != "")
faults = st.builds(
    Fault,
    layer_names,
    st.lists(st.integers(0, 10**6), min_size=1, max_size=4).map(tuple),
    st.integers(0, 31),
    st.sampled_from(list(FaultKind)),
)
samplings = st.none() | st.builds(
    Sampling,
    st.integers(1, 10**12),
    st.integers(1, 10**6),
    st.floats(1e-6, 0.5),
    st.floats(0.5, 0.9999),
    st.floats(0.01, 0.99),
    st.floats(0.1, 5.0),
    st.none() | st.integers(0, 2**63),
    st.sampled_from(["paper", "network-wise", "layer-wise"]),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.none() | st.booleans() | st.integers() | finite | st.text()
meta_keys = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=":"), min_size=1
)


@st.composite
def fault_lists(draw: st.DrawFn) -> FaultList:
    items = draw(st.lists(faults, min_size=1, max_size=6))  # a file of no faults is refused
    size = {"min_size": len(items), "max_size": len(items)}
    ids = draw(st.lists(st.integers(0, 10**9), unique=True, **size))
    outcomes = draw(st.lists(st.lists(st.integers(0, 10**6), min_size=4, max_size=4), **size))
    rows = [[sum(r), *r[1:]] for r in outcomes]  # n_injections: the outcomes and r[0] more
    published = np.array(rows, dtype=np.int64).reshape(-1, 4) if draw(st.booleans()) else None
    return FaultList.from_faults(
        draw(st.text(printable, max_size=10)),
        items,
        ids=ids,
        published=published,
        sampling=draw(samplings),
        source=draw(st.none() | st.text(printable, max_size=10)),
        meta=draw(st.dictionaries(meta_keys, json_values, max_size=3)),
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fault_lists())
def test_native_round_trip_is_the_identity(tmp_path: Path, fl: FaultList) -> None:
    path = tmp_path / "h.csv"
    write_native(fl, path)
    assert_same(read_native(path), fl)


# -- the published format --------------------------------------------------------------------------
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("final", [True, False])
@pytest.mark.parametrize("header, tail", [(HEADER, ""), (FULL_HEADER, ",10000,14,9985,1")])
def test_paper_round_trip_is_byte_identical(
    tmp_path: Path, newline: str, final: bool, header: str, tail: str
) -> None:
    lines = [header, f'0,conv1,"(3, 0, 2, 1)",15{tail}', f'7,fc,"(9, 8)",13{tail}']
    text = newline.join(lines) + (newline if final else "")
    fl = read_paper_torch(write(tmp_path, text))
    assert fl.ids == (0, 7)
    assert fl.faults == (Fault("conv1", (3, 0, 2, 1), 15), Fault("fc", (9, 8), 13))
    assert (fl.published is not None) == bool(tail)
    out = tmp_path / "out.csv"
    write_paper_torch(fl, out)
    assert out.read_bytes() == text.encode()


def test_mixed_line_endings_still_read(tmp_path: Path) -> None:
    fl = read_paper_torch(write(tmp_path, f'{HEADER}\r\n0,fc,"(9, 8)",13\n1,fc,"(1, 8)",2\r\n'))
    assert [e.fault.bit for e in fl] == [13, 2]
    assert fl.meta == {"newline": "\r\n", "final_newline": True}


def test_paper_reader_keeps_the_published_counts(tmp_path: Path) -> None:
    fl = read_paper_torch(write(tmp_path, f'{FULL_HEADER}\n4,fc,"(9, 8)",13,10000,25,9975,0\n'))
    np.testing.assert_array_equal(fl.published, [[10000, 25, 9975, 0]])
    assert fl.by_id(4) == FaultEntry(4, Fault("fc", (9, 8), 13), PublishedCounts(10000, 25, 9975, 0))


def test_paper_reader_names_the_model_after_the_file(
    tmp_path: Path, small_table: LayerTable
) -> None:
    path = write(tmp_path, f'{HEADER}\n0,fc,"(9, 8)",13\n', "ResNet20_FL.csv")
    assert read_paper_torch(path).model == "ResNet20"
    assert read_paper_torch(path, small_table).model == "m"
    assert read_paper_torch(path, model="x").model == "x"


def test_paper_writer_refuses_stuck_at_faults() -> None:
    with pytest.raises(FaultListError, match="bit flips only; fault 5 is a stuck-at-1"):
        format_paper_torch(example_list())


def test_paper_writer_line_style_can_be_chosen() -> None:
    fl = FaultList.from_faults("m", (Fault("fc", (1, 2), 3),))
    text = format_paper_torch(fl, newline="\r\n", final_newline=False)
    assert text == f'{HEADER}\r\n0,fc,"(1, 2)",3'
    with pytest.raises(FaultListError, match="line terminator"):
        format_paper_torch(fl, newline="\r")


# -- malformed files -------------------------------------------------------------------------------
ROW = '0,conv1,"(0, 0, 0, 0)",3'
PAPER_ERRORS = [
    (f'{HEADER}\n{ROW}\n1,conv9,"(0, 0)",3\n', 3, "Layer",
     "unknown layer 'conv9' for model 'm'; available: conv1, fc"),
    (f'{HEADER}\n0,fc,"(10, 0)",3\n', 2, "TensorIndex",
     "out of range for layer 'fc' of shape (10, 16)"),
    (f'{HEADER}\n0,fc,"(1, 2, 3)",3\n', 2, "TensorIndex", "has rank 3"),
    (f'{HEADER}\n{ROW}\n1,fc,"(1, 2)",32\n', 3, "Bit", "bit must be an integer in 0..31, got '32'"),
    (f'{HEADER}\n0,fc,"(1, 2)",x\n', 2, "Bit", "got 'x'"),
    (f'{HEADER}\n0,fc,"(1, a)",3\n', 2, "TensorIndex", "got '(1, a)'"),
    (f'{HEADER}\n0,fc,"1, 2",3\n', 2, "TensorIndex", "got '1, 2'"),
    (f'{HEADER}\n0,fc,"()",3\n', 2, "TensorIndex", "got '()'"),
    (f'{HEADER}\n-1,fc,"(1, 2)",3\n', 2, "Injection", "0..2**63-1, got '-1'"),
    (f'{HEADER}\n0, ,"(1, 2)",3\n', 2, "Layer", "empty layer name"),
    ('Injection,Layer,Bit\n0,fc,3\n', 1, "TensorIndex", "missing column 'TensorIndex'"),
    (f'{HEADER},n_injections\n0,fc,"(1, 2)",3,5\n', 1, "masked", "missing column 'masked'"),
    (f'{HEADER},Foo\n0,fc,"(1, 2)",3,5\n', 1, "Foo",
     "unknown column 'Foo'; valid columns: Injection"),
    (f'{FULL_HEADER}\n0,fc,"(1, 2)",3,10,x,1,1\n', 2, "masked", "got 'x'"),
    (f'{HEADER}\n{ROW}\n0,fc,"(1, 2)",3\n', 3, "Injection",
     "duplicate id 0 (first used on line 2)"),
    (f'{HEADER}\n{ROW}\n1,fc,"(1, 2)"\n', 3, "Bit", "row has 3 cells, the header has 4"),
    (f'{HEADER}\n{ROW},7\n', 2, None, "row has 5 cells"),
    (f'{HEADER}\n{ROW}\n\n', 3, "Injection", "row has 0 cells"),
    (f'{HEADER}\n0,fc,"{"9" * 200_000}",3\n', 2, None,
     "not a CSV row: field larger than field limit"),
    ("", 1, None, "the file is empty"),
]


@pytest.mark.parametrize(
    "text, line, field, message", PAPER_ERRORS, ids=[case[3][:40] for case in PAPER_ERRORS]
)
def test_malformed_paper_rows_are_located(
    tmp_path: Path, small_table: LayerTable, text: str, line: int, field: str | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FaultListError) as info:
        read_paper_torch(path, small_table)
    error = info.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert message in error.message
    where = f"{path}, line {line}" + (f", field {field!r}" if field else "")
    assert str(error) == f"{where}: {error.message}"


NATIVE_ERRORS = [
    (NATIVE + '0,conv9,"(0, 0)",3,bit-flip\n', 4, "layer", "unknown layer 'conv9'"),
    (NATIVE + '0,fc,"(0, 16)",3,bit-flip\n', 4, "index", "out of range"),
    (NATIVE + '0,fc,"(0, 1)",3,flip\n', 4, "kind",
     "unknown fault kind 'flip'; valid: bit-flip, stuck-at-0, stuck-at-1"),
    (NATIVE + '0,fc,"(0, 1)",99,bit-flip\n', 4, "bit", "got '99'"),
    (NATIVE + '0,fc,"(0, 1)",9,bit-flip\n0,fc,"(0, 2)",9,bit-flip\n', 5, "id", "duplicate id 0"),
    ("# readlx fault list v2\n", 1, None, "unsupported version"),
    ("id,layer,index,bit,kind\n", 1, None, "not a readlx fault list"),
    ("# readlx fault list v1\n# model: m\n# colour: red\nid,layer,index,bit,kind\n", 3, "colour",
     "unknown header key 'colour'"),
    ("# readlx fault list v1\n# model=m\nid,layer,index,bit,kind\n", 2, None, "'# key: value'"),
    ("# readlx fault list v1\n# model: m\n# model: n\nid,layer,index,bit,kind\n", 3, "model",
     "given twice"),
    ("# readlx fault list v1\nid,layer,index,bit,kind\n", 1, "model", "does not name the model"),
    ("# readlx fault list v1\n# model: m\n# sampling_margin: 0.01\nid,layer,index,bit,kind\n", 1,
     "sampling_population", "sampling record is incomplete"),
    ("# readlx fault list v1\n# model: m\n# meta.a: {\nid,layer,index,bit,kind\n", 3, "meta.a",
     "not JSON"),
    ("# readlx fault list v1\n# model: m\n", 3, "id", "missing the column header"),
    ("# readlx fault list v1\n# model: m\nid,layer,index,bit\n", 3, "kind",
     "missing column 'kind'"),
]


@pytest.mark.parametrize(
    "text, line, field, message", NATIVE_ERRORS, ids=[case[3][:40] for case in NATIVE_ERRORS]
)
def test_malformed_native_files_are_located(
    tmp_path: Path, small_table: LayerTable, text: str, line: int, field: str | None, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FaultListError) as info:
        read_native(path, small_table)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field)
    assert message in info.value.message


def test_bad_sampling_values_are_located(tmp_path: Path) -> None:
    lines = format_native(FaultList.from_faults("m", (), sampling=SAMPLING)).splitlines()
    number = next(k for k, text in enumerate(lines, 1) if text.startswith("# sampling_margin"))
    lines[number - 1] = "# sampling_margin: one percent"
    with pytest.raises(FaultListError) as info:
        read_native(write(tmp_path, "\n".join(lines) + "\n"))
    assert (info.value.line, info.value.field) == (number, "sampling_margin")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read fault list"):
        load_fault_list(tmp_path / "missing.csv")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"Injection,Layer,TensorIndex,Bit\n0,\xe9,\"(1, 2)\",3\n")
    with pytest.raises(FaultListError, match="not a UTF-8 text file"):
        read_paper_torch(path)


# -- load / save -----------------------------------------------------------------------------------
def test_formats_are_sniffed(tmp_path: Path) -> None:
    assert sniff_format(write(tmp_path, NATIVE, "a.csv")) == "readlx"
    assert sniff_format(write(tmp_path, f"{HEADER}\n", "b.csv")) == "paper-torch"
    with pytest.raises(InputError, match="unknown fault-list format") as info:
        sniff_format(write(tmp_path, "a,b\n", "c.csv"))
    assert info.value.line == 1


@pytest.mark.parametrize("fmt", ["readlx", "paper-torch"])
def test_save_then_load(tmp_path: Path, small_table: LayerTable, fmt: str) -> None:
    fl = FaultList.from_faults("m", (Fault("fc", (1, 2), 3), Fault("conv1", (3, 2, 1, 0), 31)), ids=(4, 2))
    path = tmp_path / "m.csv"
    save_fault_list(fl, path, format=fmt)
    back = load_fault_list(path, small_table)
    assert (back.faults, back.ids) == (fl.faults, fl.ids)
    assert load_fault_list(path, format=fmt).faults == fl.faults


def test_load_and_save_check_their_arguments(tmp_path: Path) -> None:
    fl = FaultList.from_faults("m", (Fault("fc", (1, 2), 3),))
    message = "unknown fault-list format 'csv'; valid: paper-tf, paper-torch, readlx"
    with pytest.raises(InputError, match=message):
        save_fault_list(fl, tmp_path / "x.csv", format="csv")
    with pytest.raises(InputError, match="needs the model's layer table"):
        save_fault_list(fl, tmp_path / "x.csv", format="paper-tf")
    save_fault_list(fl, tmp_path / "x.csv", format="paper-torch")
    with pytest.raises(InputError, match="valid: auto, paper-tf, paper-torch, readlx"):
        load_fault_list(tmp_path / "x.csv", format="tsv")
    with pytest.raises(InputError, match="needs the model's layer table"):
        load_fault_list(tmp_path / "x.csv", format="paper-tf")


# -- the published files ---------------------------------------------------------------------------
@pytest.mark.data
def test_every_published_torch_list_is_written_back_byte_for_byte(shared_data: Path) -> None:
    paths = sorted((shared_data / "dnn-benchmarks" / "torch").rglob("*_FL.csv"))
    assert paths, f"no published PyTorch fault lists under {shared_data}"
    for path in paths:
        fl = read_paper_torch(path)
        assert format_paper_torch(fl).encode() == path.read_bytes(), path


@pytest.mark.data
def test_published_resnet20_list(
    cifar_resnet_table: Callable[[str], LayerTable],
    published: Callable[[str, str], Path],
    tmp_path: Path,
) -> None:
    path = published("ResNet20", "torch")
    fl = load_fault_list(path, cifar_resnet_table("ResNet20"))
    assert (len(fl), fl.ids[-1], fl.source, fl.model) == (16_627, 16_626, str(path), "ResNet20")
    assert fl.published is not None and fl.published.shape == (16_627, 4)
    np.testing.assert_array_equal(fl.published[2], [10000, 0, 929, 9071])
    native = tmp_path / "ResNet20.csv"
    save_fault_list(fl, native)
    assert_same(load_fault_list(native), fl)
    out = tmp_path / "ResNet20_FL.csv"
    save_fault_list(load_fault_list(native), out, format="paper-torch")
    assert out.read_bytes() == path.read_bytes()

"""The fault-list format registry: lookup, recognition, one read per load, one check per fault."""
from __future__ import annotations

import builtins
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from readlx.errors import InputError, RegistryError
from readlx.fault_maps import csvrows, translate
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.formats import FORMATS, FaultListFormat
from readlx.fault_maps.io import load_fault_list, save_fault_list, sniff_format
from readlx.fault_maps.translate import with_keras_bindings
from readlx.graph import LayerTable

FAULTS = (Fault("conv1", (3, 0, 2, 1), 15), Fault("fc", (7, 15), 31), Fault("fc", (9, 0), 0))
COUNTS = [[10, 1, 8, 1], [10, 0, 0, 10], [10, 10, 0, 0]]


@pytest.fixture
def table(small_table: LayerTable) -> LayerTable:
    return with_keras_bindings(small_table, {"conv1": "conv2d", "fc": "dense"})


def example(published: bool = True) -> FaultList:
    return FaultList.from_faults("m", FAULTS, ids=(4, 9, 2), published=COUNTS if published else None)


def test_the_three_formats_are_registered() -> None:
    assert list(FORMATS) == ["paper-tf", "paper-torch", "readlx"]
    assert all(isinstance(fmt, FaultListFormat) and fmt.name == name for name, fmt in FORMATS.items())
    assert [name for name, fmt in FORMATS.items() if fmt.needs_table] == ["paper-tf"]


def test_a_failed_lookup_lists_the_valid_formats(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="format 'csv'; available: paper-tf, paper-torch, readlx"):
        FORMATS["csv"]
    with pytest.raises(InputError, match="'csv'; valid: paper-tf, paper-torch, readlx") as info:
        save_fault_list(example(), tmp_path / "x.csv", format="csv")
    assert isinstance(info.value.__cause__, RegistryError)
    with pytest.raises(InputError, match="'tsv'; valid: auto, paper-tf, paper-torch, readlx"):
        load_fault_list(tmp_path / "x.csv", format="tsv")


def test_recognition_goes_by_the_first_line() -> None:
    recognizing = {name for name, fmt in FORMATS.items() if fmt.recognizes("# readlx fault list v1")}
    assert recognizing == {"readlx"}
    header = "Injection,Layer,TensorIndex,Bit,n_injections,masked,non_critical,critical"
    assert {name for name, fmt in FORMATS.items() if fmt.recognizes(header)} == {"paper-torch"}
    assert not any(fmt.recognizes('"' + "9" * 200_000) for _, fmt in FORMATS.items())


def test_an_unknown_first_line_names_what_is_recognized(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    with pytest.raises(InputError) as info:
        sniff_format(path)
    assert (info.value.path, info.value.line) == (str(path), 1)
    assert "'# readlx fault list v1' (readlx)" in info.value.message
    assert "'Injection,Layer,TensorIndex,Bit' (paper-torch)" in info.value.message
    assert "only when asked for: paper-tf" in info.value.message


def _count_opens(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    opened: list[str] = []

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(file: Any, *args: Any, **kwargs: Any) -> Any:
            if str(file) == str(path):
                opened.append(str(file))
            return real(file, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(io, "open", counting(io.open))  # what pathlib opens with
    monkeypatch.setattr(builtins, "open", counting(builtins.open))
    return opened


# A TensorFlow list is read only when asked for.
@pytest.mark.parametrize("name, fmt", [("readlx", "auto"), ("readlx", "named"), ("paper-torch", "auto"),
                                       ("paper-torch", "named"), ("paper-tf", "named")])
def test_a_file_is_opened_once_per_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: LayerTable,
                                        name: str, fmt: str) -> None:
    path = tmp_path / "m.csv"
    save_fault_list(example(), path, format=name, table=table)
    reads: list[str] = []
    real_read = csvrows.read_text_file
    monkeypatch.setattr(csvrows, "read_text_file", lambda p: reads.append(str(p)) or real_read(p))
    opened = _count_opens(monkeypatch, path)
    fl = load_fault_list(path, table, format=name if fmt == "named" else "auto")
    assert fl.faults == FAULTS
    assert opened == [str(path)] and reads == [str(path)]


@pytest.mark.parametrize("name", ["readlx", "paper-torch"])
def test_each_fault_is_checked_against_the_table_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      table: LayerTable, name: str) -> None:
    path = tmp_path / "m.csv"
    save_fault_list(example(), path, format=name)
    checked: list[Fault] = []
    real_check = LayerTable.check_fault
    monkeypatch.setattr(LayerTable, "check_fault", lambda self, f: checked.append(f) or real_check(self, f))
    load_fault_list(path, table)
    assert checked == list(FAULTS)


def test_each_tensorflow_fault_is_checked_once_in_the_keras_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, table: LayerTable
) -> None:
    path = tmp_path / "m_TF_FL.csv"
    save_fault_list(example(), path, format="paper-tf", table=table)
    checked: list[object] = []
    real_framework_check = translate._check_framework_index
    monkeypatch.setattr(translate, "_check_framework_index",
                        lambda fault, shape: checked.append(fault) or real_framework_check(fault, shape))
    real_check = LayerTable.check_fault
    monkeypatch.setattr(LayerTable, "check_fault", lambda self, f: checked.append(f) or real_check(self, f))
    assert load_fault_list(path, table, format="paper-tf").faults == FAULTS
    assert len(checked) == len(FAULTS)


@pytest.mark.parametrize("name, keeps_counts", [("readlx", True), ("paper-torch", True), ("paper-tf", False)])
@pytest.mark.parametrize("published", [True, False])
def test_each_format_round_trips_through_the_registry(tmp_path: Path, table: LayerTable, name: str,
                                                      keeps_counts: bool, published: bool) -> None:
    fl = example(published)
    fmt = FORMATS[name]
    path = tmp_path / "m.csv"
    fmt.save(fl, path, table)
    back = fmt.load(csvrows.read_text_file(path), table)
    assert (back.model, back.faults, back.ids) == (fl.model, fl.faults, fl.ids)
    if published and keeps_counts:
        assert back.published is not None
        np.testing.assert_array_equal(back.published, COUNTS)
    else:
        assert back.published is None
    assert load_fault_list(path, table, format=name) == back
    again = tmp_path / "again.csv"
    fmt.save(back, again, table)
    assert again.read_bytes() == path.read_bytes()


def test_the_readlx_format_keeps_every_kind_and_field(tmp_path: Path, table: LayerTable) -> None:
    fl = FaultList.from_faults("m", (Fault("fc", (1, 2), 3, FaultKind.STUCK_AT_0),), ids=(7,),
                               published=[[4, 4, 0, 0]], source="up.csv", meta={"note": [1, "a"]})
    path = tmp_path / "m.csv"
    FORMATS["readlx"].save(fl, path, table)
    assert FORMATS["readlx"].load(csvrows.read_text_file(path), None) == fl


def test_a_format_that_needs_the_table_says_so_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'paper-tf' needs the model's layer table"):
        load_fault_list(tmp_path / "missing.csv", format="paper-tf")
    with pytest.raises(InputError, match="'paper-tf' needs the model's layer table"):
        FORMATS["paper-tf"].save(example(), tmp_path / "x.csv", None)
    assert not (tmp_path / "x.csv").exists()

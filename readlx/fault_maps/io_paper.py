"""The published suite's fault-list CSVs, PyTorch and TensorFlow flavours.

Columns ``Injection,Layer,TensorIndex,Bit`` and, when the file carries the published outcomes,
``n_injections,masked,non_critical,critical``. Every row is one single-bit flip. The PyTorch files
address canonical layers; the TensorFlow files name Keras layers and index Keras kernels, and are
translated through the layer table's Keras bindings (:mod:`readlx.fault_maps.translate`).

Reading then writing a published file reproduces its bytes: the line terminator (some files use
CRLF) and the presence of a final newline are kept in :attr:`FaultList.meta`.
"""
from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.errors import FaultListError
from readlx.fault_maps import csvrows
from readlx.fault_maps.csvrows import TextFile
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import PUBLISHED_COLUMNS, FaultEntry, FaultList
from readlx.fault_maps.translate import (
    KERAS,
    FrameworkFault,
    framework_names,
    from_framework_fault,
    to_framework,
)

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

COLUMNS = ("Injection", "Layer", "TensorIndex", "Bit")
FIELDS = {"layer": "Layer", "index": "TensorIndex", "bit": "Bit"}
# (layer, index, bit, line) -> canonical fault
_MakeFault = Callable[[str, tuple[int, ...], int, int], Fault]


def sniff_paper(first_line: str) -> bool:
    """Whether ``first_line`` is the header of a published fault list (either flavour)."""
    try:
        cells = csvrows.split_cells(first_line)
    except csv.Error:
        return False
    return cells[: len(COLUMNS)] == list(COLUMNS)


def read_paper_torch(
    path: str | Path, table: LayerTable | None = None, *, model: str | None = None
) -> FaultList:
    """Read a published PyTorch fault list (``*_FL.csv``).

    Parameters
    ----------
    path
        The CSV file.
    table
        When given, every fault is checked against it (layer known, index in range).
    model
        Model name of the list; defaults to ``table.model``, else the file name without ``_FL``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "M_FL.csv")
    ...     _ = p.write_text('Injection,Layer,TensorIndex,Bit\\n0,fc,"(7, 36)",4\\n')
    ...     fl = read_paper_torch(p)
    >>> fl.model, fl.faults[0]
    ('M', Fault(layer='fc', index=(7, 36), bit=4, kind=<FaultKind.BIT_FLIP: 'bit-flip'>))
    """
    return parse_paper_torch(csvrows.read_text_file(path), table, model=model)


def parse_paper_torch(
    src: TextFile, table: LayerTable | None = None, *, model: str | None = None
) -> FaultList:
    """The published PyTorch fault list held by ``src`` (an already read file)."""

    def make(layer: str, index: tuple[int, ...], bit: int, line: int) -> Fault:
        fault = Fault(layer, index, bit)
        csvrows.check_in_table(src, fault, table, line, FIELDS)
        return fault

    name = model or (table.model if table is not None else _model_from_path(src.path))
    return _read(src, name, make, table)


def read_paper_tf(path: str | Path, table: LayerTable, *, framework: str = KERAS) -> FaultList:
    """Read a published TensorFlow fault list (``*_TF_FL.csv``) into canonical faults.

    ``table`` must hold ``framework`` bindings (see
    :func:`readlx.fault_maps.translate.with_keras_bindings`); Keras layer names and kernel indices
    are translated to canonical ones and validated in the Keras layout.

    Examples
    --------
    >>> import tempfile
    >>> from readlx.fault_maps.translate import with_keras_bindings
    >>> from readlx.graph import Layer, LayerTable
    >>> table = LayerTable("m", (Layer("fc", "linear", (10, 64)),))
    >>> table = with_keras_bindings(table, {"fc": "dense"})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "M_TF_FL.csv")
    ...     _ = p.write_text('Injection,Layer,TensorIndex,Bit\\n0,dense,"(36, 7)",4\\n')
    ...     read_paper_tf(p, table).faults
    (Fault(layer='fc', index=(7, 36), bit=4, kind=<FaultKind.BIT_FLIP: 'bit-flip'>),)
    """
    return parse_paper_tf(csvrows.read_text_file(path), table, framework=framework)


def parse_paper_tf(src: TextFile, table: LayerTable, *, framework: str = KERAS) -> FaultList:
    """The published TensorFlow fault list held by ``src`` (an already read file)."""
    names = framework_names(table, framework)

    def make(layer: str, index: tuple[int, ...], bit: int, line: int) -> Fault:
        try:
            return from_framework_fault(FrameworkFault(framework, layer, index, bit), table, names)
        except FaultListError as e:
            raise src.error(e.message, line, FIELDS.get(e.field or "", e.field)) from e

    return _read(src, table.model, make, table)


def _read(src: TextFile, model: str, make: _MakeFault, table: LayerTable | None) -> FaultList:
    columns = csvrows.header_columns(src, 1, COLUMNS, PUBLISHED_COLUMNS)
    with_counts = PUBLISHED_COLUMNS[0] in columns
    entries = []
    seen: dict[int, int] = {}
    for line, row in csvrows.data_rows(src, 2, columns):
        fault_id = csvrows.parse_uint(src, row["Injection"], line, "Injection")
        csvrows.check_unique_id(src, seen, fault_id, line, "Injection")
        index, bit = _index(src, row, line), _bit(src, row, line)
        fault = make(_layer(src, row, line), index, bit, line)
        counts = csvrows.parse_counts(src, row, line) if with_counts else None
        entries.append(FaultEntry(fault_id, fault, counts))
    return FaultList(model, tuple(entries), None, src.path, src.style,
                     checked_against=None if table is None else table.digest())


def _layer(src: TextFile, row: dict[str, str], line: int) -> str:
    if not row["Layer"].strip():
        raise src.error("empty layer name", line, "Layer")
    return row["Layer"]


def _index(src: TextFile, row: dict[str, str], line: int) -> tuple[int, ...]:
    return csvrows.parse_index(src, row["TensorIndex"], line, "TensorIndex")


def _bit(src: TextFile, row: dict[str, str], line: int) -> int:
    return csvrows.parse_bit(src, row["Bit"], line, "Bit")


def _model_from_path(path: str | Path) -> str:
    stem = Path(path).stem
    return stem[: -len("_FL")] if stem.endswith("_FL") else stem


# -- writers ---------------------------------------------------------------------------------------
def format_paper_torch(
    fl: FaultList, *, newline: str | None = None, final_newline: bool | None = None
) -> str:
    """The text of ``fl`` as a published PyTorch fault list (published counts when present).

    ``newline`` and ``final_newline`` default to the style the list was read with (else LF, with a
    final newline).

    Examples
    --------
    >>> fl = FaultList.from_faults("m", (Fault("fc", (7, 36), 4),))
    >>> format_paper_torch(fl)
    'Injection,Layer,TensorIndex,Bit\\n0,fc,"(7, 36)",4\\n'
    """
    _check_bit_flips(fl)
    rows = [(e.id, e.fault.layer, csvrows.format_index(e.fault.index), e.fault.top_bit) for e in fl]
    with_counts = bool(fl.entries) and fl.entries[0].published is not None
    counts = [e.published.as_tuple() for e in fl if e.published is not None] if with_counts else None
    return _format(fl, rows, counts, newline, final_newline)


def format_paper_tf(
    fl: FaultList,
    table: LayerTable,
    *,
    framework: str = KERAS,
    newline: str | None = None,
    final_newline: bool | None = None,
) -> str:
    """The text of ``fl`` as a published TensorFlow fault list (Keras names and layouts).

    The published counts are not written: they were measured on PyTorch.

    Examples
    --------
    >>> from readlx.fault_maps.translate import with_keras_bindings
    >>> from readlx.graph import Layer, LayerTable
    >>> table = LayerTable("m", (Layer("fc", "linear", (10, 64)),))
    >>> table = with_keras_bindings(table, {"fc": "dense"})
    >>> format_paper_tf(FaultList.from_faults("m", (Fault("fc", (7, 36), 4),)), table)
    'Injection,Layer,TensorIndex,Bit\\n0,dense,"(36, 7)",4\\n'
    """
    _check_bit_flips(fl)
    translated = to_framework(fl, table, framework)
    rows = [(e.id, f.layer, csvrows.format_index(f.index), _single(f.bit)) for e, f in zip(fl, translated, strict=True)]
    return _format(fl, rows, None, newline, final_newline)


def write_paper_torch(
    fl: FaultList,
    path: str | Path,
    *,
    newline: str | None = None,
    final_newline: bool | None = None,
) -> None:
    """Write ``fl`` as a published PyTorch fault list, see :func:`format_paper_torch`."""
    text = format_paper_torch(fl, newline=newline, final_newline=final_newline)
    Path(path).write_bytes(text.encode("utf-8"))


def write_paper_tf(
    fl: FaultList,
    path: str | Path,
    table: LayerTable,
    *,
    framework: str = KERAS,
    newline: str | None = None,
    final_newline: bool | None = None,
) -> None:
    """Write ``fl`` as a published TensorFlow fault list, see :func:`format_paper_tf`."""
    text = format_paper_tf(
        fl, table, framework=framework, newline=newline, final_newline=final_newline
    )
    Path(path).write_bytes(text.encode("utf-8"))


def _format(
    fl: FaultList,
    rows: list[tuple[int, str, str, int]],
    published: list[tuple[int, int, int, int]] | None,
    newline: str | None,
    final_newline: bool | None,
) -> str:
    newline = _newline(fl, newline)
    if final_newline is None:
        final_newline = bool(fl.meta.get(csvrows.FINAL_NEWLINE_KEY, True))
    header = COLUMNS + (PUBLISHED_COLUMNS if published is not None else ())
    lines = [",".join(header)]
    for k, row in enumerate(rows):
        extra = [] if published is None else list(published[k])
        lines.append(csvrows.csv_line([*row, *extra]))
    return csvrows.join_lines(lines, newline, final_newline)


def _newline(fl: FaultList, newline: str | None) -> str:
    value = fl.meta.get(csvrows.NEWLINE_KEY, "\n") if newline is None else newline
    if value not in ("\n", "\r\n"):
        message = f"line terminator must be '\\n' or '\\r\\n', got {value!r}"
        raise FaultListError(message, path=fl.source)
    return value


def _check_bit_flips(fl: FaultList) -> None:
    for entry in fl:
        if entry.fault.kind is not FaultKind.BIT_FLIP:
            raise FaultListError(
                f"the published format holds bit flips only; fault {entry.id} is a "
                f"{entry.fault.kind.value} (save it with format='readlx')",
                path=fl.source,
            )
        if entry.fault.is_activation or len(entry.fault.bits) > 1:
            what = "an activation fault" if entry.fault.is_activation else "a multi-bit fault"
            raise FaultListError(
                f"the published format holds single-bit weight faults only; fault {entry.id} is {what} "
                "(save it with format='readlx')",
                path=fl.source,
            )


def _single(bit: int | tuple[int, ...]) -> int:
    """A checked list's bit (:func:`_check_bit_flips` refuses bit sets)."""
    assert isinstance(bit, int)
    return bit

"""Load and save fault lists in any supported format.

Formats: ``"readlx"`` (:mod:`readlx.fault_maps.io_native`), ``"paper-torch"`` and ``"paper-tf"``
(the published CSVs, :mod:`readlx.fault_maps.io_paper`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from readlx.errors import InputError
from readlx.fault_maps import csvrows, io_native, io_paper
from readlx.fault_maps.faultlist import FaultList

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

FORMATS = ("readlx", "paper-torch", "paper-tf")


def sniff_format(path: str | Path) -> str:
    """``"readlx"`` or ``"paper-torch"``, from the first line of the file.

    A published TensorFlow list has the same header as a PyTorch one; it is told apart only by
    asking for ``format="paper-tf"``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, "m.csv")
    ...     _ = p.write_text("Injection,Layer,TensorIndex,Bit\\n")
    ...     sniff_format(p)
    'paper-torch'
    """
    first = csvrows.read_text_file(path).lines[0]
    if first.startswith(io_native.MAGIC_PREFIX):
        return "readlx"
    if csvrows.split_cells(first)[: len(io_paper.COLUMNS)] == list(io_paper.COLUMNS):
        return "paper-torch"
    raise InputError(
        f"unknown fault-list format: first line {first!r} is neither {io_native.MAGIC!r} nor a "
        f"header starting with {','.join(io_paper.COLUMNS)!r}",
        path=path,
        line=1,
    )


def load_fault_list(
    path: str | Path, table: "LayerTable | None" = None, format: str = "auto"
) -> FaultList:
    """Read a fault list, checking every fault against ``table`` when given.

    Parameters
    ----------
    path
        The file.
    table
        Layer table of the model; required for ``"paper-tf"`` (its Keras bindings translate the
        faults to canonical ones).
    format
        ``"auto"`` (see :func:`sniff_format`) or one of :data:`FORMATS`.

    Examples
    --------
    >>> import tempfile, os
    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList("m", (Fault("fc", (7, 36), 4),))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_fault_list(fl, os.path.join(d, "m_FL.csv"), format="paper-torch")
    ...     load_fault_list(os.path.join(d, "m_FL.csv")).faults == fl.faults
    True
    """
    fmt = sniff_format(path) if format == "auto" else _check_format(format, ("auto", *FORMATS))
    if fmt == "readlx":
        return io_native.read_native(path, table)
    if fmt == "paper-torch":
        return io_paper.read_paper_torch(path, table)
    return io_paper.read_paper_tf(path, _require(table, fmt))


def save_fault_list(
    fl: FaultList, path: str | Path, format: str = "readlx", table: "LayerTable | None" = None
) -> None:
    """Write a fault list; ``"paper-tf"`` needs ``table`` with Keras bindings."""
    fmt = _check_format(format, FORMATS)
    if fmt == "readlx":
        io_native.write_native(fl, path)
    elif fmt == "paper-torch":
        io_paper.write_paper_torch(fl, path)
    else:
        io_paper.write_paper_tf(fl, path, _require(table, fmt))


def _check_format(fmt: str, valid: tuple[str, ...]) -> str:
    if fmt not in valid:
        raise InputError(f"unknown fault-list format {fmt!r}; valid: {', '.join(valid)}")
    return fmt


def _require(table: "LayerTable | None", fmt: str) -> "LayerTable":
    if table is None:
        raise InputError(f"format {fmt!r} needs the model's layer table (with Keras bindings)")
    return table

"""Load and save fault lists in any format of :data:`~readlx.fault_maps.formats.FORMATS`.

A file is read once: its format is recognized from the lines already read, which then go to the
format's reader; each fault is checked against the layer table as its row is parsed.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from readlx.errors import InputError, RegistryError
from readlx.fault_maps import csvrows
from readlx.fault_maps.csvrows import TextFile
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.formats import FORMATS, NATIVE, FaultListFormat
from readlx.outputs import write_atomic

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

__all__ = ["FORMATS", "FaultListFormat", "load_fault_list", "save_fault_list", "sniff_format"]

AUTO = "auto"


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
    return _sniff(csvrows.read_text_file(path)).name


def load_fault_list(
    path: str | Path, table: LayerTable | None = None, format: str = AUTO
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
        ``"auto"`` (see :func:`sniff_format`) or a name in :data:`FORMATS`.

    Examples
    --------
    >>> import tempfile, os
    >>> from readlx.fault_maps.fault import Fault
    >>> fl = FaultList.from_faults("m", (Fault("fc", (7, 36), 4),))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     save_fault_list(fl, os.path.join(d, "m_FL.csv"), format="paper-torch")
    ...     load_fault_list(os.path.join(d, "m_FL.csv")).faults == fl.faults
    True
    """
    if format == AUTO:
        src = csvrows.read_text_file(path)
        fmt = _sniff(src)
    else:
        fmt = _lookup(format, (AUTO,))
        fmt.require(table)  # before reading a file that could not be used
        src = csvrows.read_text_file(path)
    return _checked(fmt.load(src, table), src, table, fmt)


def _checked(fl: FaultList, src: TextFile, table: LayerTable | None, fmt: FaultListFormat) -> FaultList:
    """Refuse what would run as something else: a list of no faults, or one made for another model."""
    if not len(fl):
        raise src.error("no faults: the file ends after its header", len(src.lines))
    if table is not None and fmt.name == NATIVE.name and fl.model != table.model:
        line = next((i for i, text in enumerate(src.lines, 1) if text.startswith("# model:")), 1)
        raise src.error(f"the list was made for model {fl.model!r}, not {table.model!r}", line, "model")
    return fl


def save_fault_list(
    fl: FaultList, path: str | Path, format: str = "readlx", table: LayerTable | None = None
) -> None:
    """Write a fault list atomically (:func:`readlx.outputs.write_atomic`); ``"paper-tf"`` needs ``table``
    with Keras bindings."""
    fmt = _lookup(format)
    write_atomic(path, lambda tmp: fmt.save(fl, tmp, table))


def _lookup(name: str, extra: tuple[str, ...] = ()) -> FaultListFormat:
    try:
        return FORMATS[name]
    except RegistryError as e:
        valid = ", ".join((*extra, *FORMATS))
        raise InputError(f"unknown fault-list format {name!r}; valid: {valid}") from e


def _sniff(src: TextFile) -> FaultListFormat:
    first = src.lines[0]
    for _, fmt in FORMATS.items():
        if fmt.recognizes(first):
            return fmt
    expected = " nor ".join(f"{fmt.first_line} ({name})" for name, fmt in FORMATS.items() if fmt.sniff)
    raise InputError(
        f"unknown fault-list format: first line {first!r} is neither {expected}; formats read only "
        f"when asked for: {', '.join(name for name, fmt in FORMATS.items() if not fmt.sniff)}",
        path=src.path,
        line=1,
    )

"""The fault-list file formats, as one registry: how each is recognized, read and written.

Formats: ``"readlx"`` (:mod:`readlx.fault_maps.io_native`), ``"paper-torch"`` and ``"paper-tf"``
(the published CSVs, :mod:`readlx.fault_maps.io_paper`). A reader gets the file already read
(:class:`~readlx.fault_maps.csvrows.TextFile`), so that recognizing a file and reading it opens it once.

Examples
--------
>>> list(FORMATS)
['paper-tf', 'paper-torch', 'readlx']
>>> [name for name, fmt in FORMATS.items() if fmt.recognizes("# readlx fault list v1")]
['readlx']
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from readlx.errors import InputError
from readlx.fault_maps import io_native, io_paper
from readlx.fault_maps.csvrows import TextFile
from readlx.fault_maps.faultlist import FaultList
from readlx.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

Reader = Callable[[TextFile, "LayerTable | None"], FaultList]
Writer = Callable[[FaultList, Path, "LayerTable | None"], None]


@dataclass(frozen=True)
class FaultListFormat:
    """One fault-list file format.

    Parameters
    ----------
    name
        The name callers ask for (``format=...``).
    read, write
        ``(file, table) -> FaultList`` and ``(fault list, path, table) -> None``; ``table`` is the
        model's layer table or None.
    needs_table
        Reading and writing need the layer table (with the bindings the format's names refer to).
    sniff
        ``first line -> bool``: whether a file is in this format; None for a format that shares its
        header with another one, which is read only when asked for.
    first_line
        What the first line of such a file looks like, for error messages.
    """

    name: str
    read: Reader
    write: Writer
    needs_table: bool = False
    sniff: Callable[[str], bool] | None = None
    first_line: str = ""

    def recognizes(self, first_line: str) -> bool:
        return self.sniff is not None and self.sniff(first_line)

    def load(self, src: TextFile, table: LayerTable | None) -> FaultList:
        return self.read(src, self.require(table))

    def save(self, fl: FaultList, path: str | Path, table: LayerTable | None) -> None:
        self.write(fl, Path(path), self.require(table))

    def require(self, table: LayerTable | None) -> LayerTable | None:
        """``table``, or an error when this format needs one and it is None."""
        if self.needs_table and table is None:
            raise InputError(f"format {self.name!r} needs the model's layer table (with Keras bindings)")
        return table


def _read_paper_tf(src: TextFile, table: LayerTable | None) -> FaultList:
    return io_paper.parse_paper_tf(src, cast("LayerTable", table))  # checked by FaultListFormat.require


def _write_paper_tf(fl: FaultList, path: Path, table: LayerTable | None) -> None:
    io_paper.write_paper_tf(fl, path, cast("LayerTable", table))  # checked by FaultListFormat.require


NATIVE = FaultListFormat(
    "readlx",
    read=io_native.parse_native,
    write=lambda fl, path, table: io_native.write_native(fl, path),
    sniff=io_native.sniff_native,
    first_line=repr(io_native.MAGIC),
)
PAPER_TORCH = FaultListFormat(
    "paper-torch",
    read=io_paper.parse_paper_torch,
    write=lambda fl, path, table: io_paper.write_paper_torch(fl, path),
    sniff=io_paper.sniff_paper,
    first_line=f"a header starting with {','.join(io_paper.COLUMNS)!r}",
)
# The header is that of the PyTorch files, so this format is never recognized, only asked for.
PAPER_TF = FaultListFormat("paper-tf", read=_read_paper_tf, write=_write_paper_tf, needs_table=True)

FORMATS: Registry[FaultListFormat] = Registry("fault-list format")
FORMATS.register(NATIVE.name, NATIVE)
FORMATS.register(PAPER_TORCH.name, PAPER_TORCH)
FORMATS.register(PAPER_TF.name, PAPER_TF)

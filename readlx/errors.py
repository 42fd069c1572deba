"""The one exception hierarchy of readlx.

Every error raised on purpose by the library derives from :class:`ReadlxError`, so a caller can catch
all of readlx's complaints about its input with one ``except`` clause.
"""
from __future__ import annotations

from pathlib import Path


class ReadlxError(Exception):
    """Base class of every error readlx raises on purpose."""


class RegistryError(ReadlxError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class InputError(ReadlxError, ValueError):
    """Malformed input, located by file, line and field where these are known.

    Examples
    --------
    >>> str(InputError("bit must be in 0..31, got '40'", path="faults.csv", line=7, field="Bit"))
    "faults.csv, line 7, field 'Bit': bit must be in 0..31, got '40'"
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ArgumentError(InputError):
    """A function or command argument holds a value readlx cannot use; the message names the argument.

    Examples
    --------
    >>> str(ArgumentError("'x.onnx' is not a zoo model", argument="model"))
    "argument 'model': 'x.onnx' is not a zoo model"
    """

    def __init__(self, message: str, *, argument: str) -> None:
        self.argument = argument
        super().__init__(message, field=argument)

    def _render(self) -> str:
        return f"argument {self.field!r}: {self.message}"


class FaultListError(InputError):
    """A fault list (file or in-memory) holds a fault that cannot be applied."""


class CheckpointError(InputError):
    """A model checkpoint or campaign checkpoint cannot be read."""


class ResultFileError(InputError):
    """A campaign result file is not a readlx Dataset."""


class OutputError(InputError):
    """An output cannot be written where it was asked (it exists, is an input, a link, or the disk
    refused); nothing was replaced."""


class ConversionError(ReadlxError):
    """A model could not be converted or proven equivalent."""


class FastPathError(ReadlxError):
    """The fast path found a state it cannot reproduce the reference loop from."""


class FastUnsupported(FastPathError):
    """This engine or model cannot run the fast path; the campaign uses the reference loop.

    Examples
    --------
    >>> str(FastUnsupported("node 'relu' works in place"))
    "node 'relu' works in place"
    """

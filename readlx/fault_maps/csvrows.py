"""Shared pieces of the fault-list readers: lines, cells and errors located by file, line and field.

Line numbers are 1-based physical lines of the file, so that an error points at what an editor
shows. The line terminator and the presence of a final newline are remembered, because the
published files differ in both and are written back byte for byte.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.errors import FaultListError, InputError
from readlx.fault_maps.fault import FLOAT_BITS, Bits, Fault, FaultKind, Site, format_bit_set
from readlx.fault_maps.fault import parse_bits as parse_fault_bits
from readlx.fault_maps.fault import parse_seed as parse_fault_seed
from readlx.fault_maps.faultlist import PUBLISHED_COLUMNS, PublishedCounts

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

_UINT = re.compile(r"[0-9]+")  # ASCII only: "١٢" is no number in a fault list
LARGEST = 2**63 - 1
"""The largest integer a cell holds (readlx stores ids, counts and indices as int64)."""
NEWLINE_KEY = "newline"
FINAL_NEWLINE_KEY = "final_newline"


@dataclass(frozen=True)
class TextFile:
    """A fault-list file split into lines, with its line-ending style."""

    path: str
    lines: tuple[str, ...]
    newline: str
    final_newline: bool

    def error(
        self, message: str, line: int | None = None, field: str | None = None
    ) -> FaultListError:
        return FaultListError(message, path=self.path, line=line, field=field)

    @property
    def style(self) -> dict[str, object]:
        """Line-ending style, in the form kept in :attr:`FaultList.meta`."""
        return {NEWLINE_KEY: self.newline, FINAL_NEWLINE_KEY: self.final_newline}


def read_text_file(path: str | Path) -> TextFile:
    """Read a UTF-8 text file; an empty file is an error (line 1)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read fault list: {e.strerror or e}", path=path) from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        message = f"not a UTF-8 text file ({e.reason} at byte {e.start})"
        raise FaultListError(message, path=path) from e
    if not text.strip():
        raise FaultListError("the file is empty; expected a header line", path=path, line=1)
    # The style is that of the first line; a file mixing CRLF and LF still reads line by line.
    newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
    final = text.endswith("\n")
    lines = (text[:-1] if final else text).split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    for number, line in enumerate(lines, 1):
        if "\r" in line:
            raise FaultListError("a carriage return inside the line: CR-only (classic Mac) line endings or a stray "
                                 "CR; save the file with LF or CRLF line endings", path=path, line=number)
    return TextFile(str(path), tuple(lines), newline, final)


def split_cells(text: str) -> list[str]:
    """Cells of one CSV line (quotes removed); raises :class:`csv.Error` on an oversized cell."""
    return next(csv.reader([text]), [])


def line_cells(src: TextFile, line: int) -> list[str]:
    """Cells of line ``line`` of ``src``."""
    try:
        return split_cells(src.lines[line - 1])
    except csv.Error as e:
        raise src.error(f"not a CSV row: {e}", line) from e


def header_columns(
    src: TextFile, line: int, required: Sequence[str], optional: Sequence[str], extra: Sequence[str] = ()
) -> list[str]:
    """Columns of the header at ``line``; required ones must all be there, ``optional`` all or none,
    each of ``extra`` may be there or not."""
    columns = [c.strip() for c in line_cells(src, line)]
    unknown = [c for c in columns if c not in (*required, *extra, *optional)]
    if unknown:
        valid = ", ".join((*required, *extra, *optional))
        raise src.error(f"unknown column {unknown[0]!r}; valid columns: {valid}", line, unknown[0])
    if len(set(columns)) != len(columns):
        raise src.error(f"repeated column in header {columns!r}", line)
    expected = list(required) + (list(optional) if any(c in columns for c in optional) else [])
    for name in expected:
        if name not in columns:
            raise src.error(f"missing column {name!r}; header is {columns!r}", line, name)
    return columns


def data_rows(
    src: TextFile, first_line: int, columns: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, {column: cell})`` for every line from ``first_line`` on."""
    for number in range(first_line, len(src.lines) + 1):
        cells = line_cells(src, number)
        if len(cells) != len(columns):
            # A short row is located at the first column it lacks.
            missing = columns[len(cells)] if len(cells) < len(columns) else None
            raise src.error(
                f"row has {len(cells)} cells, the header has {len(columns)} ({', '.join(columns)})",
                number,
                missing,
            )
        yield number, dict(zip(columns, cells, strict=True))


def parse_uint(src: TextFile, cell: str, line: int, field: str) -> int:
    """A non-negative decimal integer."""
    if not _UINT.fullmatch(cell.strip()) or int(cell) > LARGEST:
        raise src.error(f"expected an integer in 0..2**63-1, got {cell!r}", line, field)
    return int(cell)


def parse_bit(src: TextFile, cell: str, line: int, field: str) -> int:
    """A bit position, 0 (mantissa LSB) to 31 (sign)."""
    if not _UINT.fullmatch(cell.strip()) or not 0 <= int(cell) < FLOAT_BITS:
        raise src.error(f"bit must be an integer in 0..{FLOAT_BITS - 1}, got {cell!r}", line, field)
    return int(cell)


def parse_bits(src: TextFile, cell: str, line: int, field: str) -> Bits:
    """A bit position, or a set of distinct ones joined by ``+`` (``"29+30"``), runs written
    ``first-last`` (``"0-22"``): a multi-bit fault, or the bits a transient fault draws from."""
    bits: list[int] = []
    for part in cell.strip().split("+"):
        first, dash, last = part.partition("-")
        if not dash or not first.strip():  # no range ("-1" is a bad bit, not a range)
            bits.append(parse_bit(src, part, line, field))
            continue
        lo, hi = parse_bit(src, first, line, field), parse_bit(src, last, line, field)
        if lo >= hi:
            raise src.error(f"bit range {part.strip()!r} must go from a lower to a higher bit", line, field)
        bits.extend(range(lo, hi + 1))
    if len(set(bits)) != len(bits):
        raise src.error(f"bit set {cell!r} has a bit more than once", line, field)
    return parse_fault_bits(bits)


def format_bits(bits: Bits) -> str:
    """The cell of a bit or a bit set, as :func:`parse_bits` reads it.

    >>> format_bits(3), format_bits((29, 30)), format_bits(tuple(range(32)))
    ('3', '29+30', '0-31')
    """
    return format_bit_set(bits, "+") if isinstance(bits, tuple) else str(bits)


def parse_seed(src: TextFile, cell: str, line: int, field: str, site: Site) -> int | None:
    """A transient fault's seed; an empty cell: a permanent fault."""
    text = cell.strip()
    if not text:
        return None
    if not _UINT.fullmatch(text):
        raise src.error(f"seed must be empty (a permanent fault) or an integer in 0..2**63-1, got {cell!r}",
                        line, field)
    try:
        return parse_fault_seed(int(text), site)
    except FaultListError as e:
        raise src.error(e.message, line, field) from e


def parse_site(src: TextFile, cell: str, line: int, field: str) -> Site:
    """A fault site, ``weight`` or ``activation``."""
    try:
        return Site.parse(cell.strip())
    except FaultListError as e:
        raise src.error(str(e), line, field) from e


def parse_index(src: TextFile, cell: str, line: int, field: str, empty: bool = False) -> tuple[int, ...]:
    """A tensor index written as a Python tuple, ``"(3, 0, 2, 1)"`` or ``"(7,)"``; with ``empty``,
    also ``"()"`` (a transient fault drawing from a layer's whole output)."""
    text = cell.strip()
    if empty and text.replace(" ", "") == "()":
        return ()
    parts = [p.strip() for p in text[1:-1].split(",")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()  # the trailing comma of a 1-tuple
    well_formed = text.startswith("(") and text.endswith(")")
    if not well_formed or not all(_UINT.fullmatch(p) and int(p) <= LARGEST for p in parts):
        raise src.error(
            f"index must be a tuple of non-negative integers such as '(3, 0, 2, 1)', got {cell!r}",
            line,
            field,
        )
    return tuple(int(p) for p in parts)


def parse_counts(src: TextFile, row: dict[str, str], line: int) -> PublishedCounts:
    """The published outcome counts of a row (columns :data:`PUBLISHED_COLUMNS`): the outcomes of at most
    ``n_injections`` inferences. (Fewer occur: every row of the published DenseNet121 GTSRB list adds up
    to 3,072 of its 12,630.)"""
    counts = PublishedCounts(*(parse_uint(src, row[c], line, c) for c in PUBLISHED_COLUMNS))
    total = counts.masked + counts.non_critical + counts.critical
    if total > counts.n_injections:
        raise src.error(f"masked + non_critical + critical = {total} exceeds n_injections {counts.n_injections}",
                        line, "n_injections")
    return counts


def parse_kind(src: TextFile, cell: str, line: int, field: str) -> FaultKind:
    try:
        return FaultKind.parse(cell.strip())
    except FaultListError as e:
        raise src.error(e.message, line, field) from e


def check_unique_id(
    src: TextFile, seen: dict[int, int], fault_id: int, line: int, field: str
) -> None:
    """Record ``fault_id``; a repeated id is an error naming the line of its first use."""
    if fault_id in seen:
        first = seen[fault_id]
        raise src.error(f"duplicate id {fault_id} (first used on line {first})", line, field)
    seen[fault_id] = line


def check_in_table(
    src: TextFile, fault: Fault, table: LayerTable | None, line: int, fields: dict[str, str]
) -> None:
    """Validate ``fault`` against ``table``; ``fields`` maps ``"layer"``/``"index"`` to columns."""
    if table is None:
        return
    try:
        table.check_fault(fault)
    except FaultListError as e:
        raise src.error(e.message, line, fields.get(e.field or "", e.field)) from e


def format_index(index: Sequence[int]) -> str:
    """An index the way the published files write it (a Python tuple)."""
    return str(tuple(int(i) for i in index))


def join_lines(lines: Sequence[str], newline: str, final_newline: bool) -> str:
    return newline.join(lines) + (newline if final_newline else "")


def csv_line(cells: Sequence[object]) -> str:
    """One CSV line, quoted only where needed (as :mod:`csv` with ``QUOTE_MINIMAL`` does)."""
    return ",".join(_quote(str(c)) for c in cells)


def _quote(cell: str) -> str:
    if any(ch in cell for ch in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell

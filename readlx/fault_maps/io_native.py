"""readlx's own fault-list format: a CSV holding every field of a :class:`FaultList`.

::

    # readlx fault list v1
    # model: ResNet20
    # source: ResNet20_FL.csv
    # sampling_population: 17173504
    # ... (the other Sampling fields, named as in Sampling.to_attrs; seed -1 = none)
    # meta.newline: "\\n"
    id,layer,index,bit,kind[,site][,n_injections,masked,non_critical,critical]
    0,conv1,"(3, 0, 2, 1)",15,bit-flip
    1,conv1,"(5, 7, 2)",29+30,stuck-at-1,activation

``bit`` is one position or a set joined by ``+`` (a multi-bit fault), runs of four or more written
``first-last``. ``site`` (``weight`` or ``activation``; an activation index is into the layer's output,
``(C, H, W)`` or ``(F,)``) is written only when a fault of the list is not a weight fault, so lists of
weight faults keep their text. ``seed`` is written only when a fault is transient: its seed, empty for
a permanent fault; a transient fault's ``index`` is the leading part of the elements it draws from
(``()``: the whole output) and its ``bit`` the bits it draws from::

    2,conv2,(),0-31,bit-flip,activation,8170453720461812551

``source`` and the sampling lines are left out when the list has none; ``meta`` entries are JSON.
Writing then reading gives back an equal list.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readlx.errors import FaultListError
from readlx.fault_maps import csvrows
from readlx.fault_maps.csvrows import TextFile
from readlx.fault_maps.fault import Fault, Site
from readlx.fault_maps.faultlist import PUBLISHED_COLUMNS, FaultEntry, FaultList, Sampling

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

MAGIC = "# readlx fault list v1"
MAGIC_PREFIX = "# readlx fault list v"
COLUMNS = ("id", "layer", "index", "bit", "kind")
SITE_COLUMN = "site"
SEED_COLUMN = "seed"
META_PREFIX = "meta."
_SAMPLING_TYPES: dict[str, Callable[[str], Any]] = {
    "sampling_population": int,
    "sampling_sample_size": int,
    "sampling_margin": float,
    "sampling_confidence": float,
    "sampling_p": float,
    "sampling_t": float,
    "sampling_seed": int,
    "sampling_mode": str,
}
ROWS = "sampling_rows"
"""Header key of the rows a list with a sampling record holds when they are not its sample size (a
subset of a drawn list): with it, or the sample size, a reader tells a file cut short."""
KEYS = ("model", "source", *_SAMPLING_TYPES, ROWS)


# -- writing ---------------------------------------------------------------------------------------
def format_native(fl: FaultList) -> str:
    """The text of ``fl`` in readlx's format.

    Examples
    --------
    >>> print(format_native(FaultList.from_faults("m", (Fault("fc", (7, 36), 4),))), end="")
    # readlx fault list v1
    # model: m
    id,layer,index,bit,kind
    0,fc,"(7, 36)",4,bit-flip
    """
    lines = [MAGIC, *_header_lines(fl)]
    with_counts = bool(fl.entries) and fl.entries[0].published is not None
    with_sites = any(f.site is not Site.WEIGHT for f in fl.faults)
    with_seeds = any(f.is_transient for f in fl.faults)
    sites = (SITE_COLUMN,) if with_sites else ()
    seeds = (SEED_COLUMN,) if with_seeds else ()
    lines.append(",".join(COLUMNS + sites + seeds + (PUBLISHED_COLUMNS if with_counts else ())))
    for entry in fl:
        fault = entry.fault
        cells: list[object] = [entry.id, fault.layer, csvrows.format_index(fault.index),
                               csvrows.format_bits(fault.bit), fault.kind.value]
        if with_sites:
            cells.append(fault.site.value)
        if with_seeds:
            cells.append("" if fault.seed is None else fault.seed)
        if entry.published is not None:
            cells.extend(entry.published.as_tuple())
        lines.append(csvrows.csv_line(cells))
    return "\n".join(lines) + "\n"


def write_native(fl: FaultList, path: str | Path) -> None:
    """Write ``fl`` to ``path`` in readlx's format (UTF-8, LF)."""
    Path(path).write_bytes(format_native(fl).encode("utf-8"))


def _header_lines(fl: FaultList) -> list[str]:
    values: dict[str, str] = {"model": _one_line(fl, "model", fl.model)}
    if fl.source is not None:
        values["source"] = _one_line(fl, "source", fl.source)
    if fl.sampling is not None:
        for key, value in fl.sampling.to_attrs().items():
            text = repr(value) if isinstance(value, float) else str(value)
            values[key] = _one_line(fl, key, text)
        if len(fl) != fl.sampling.sample_size:
            values[ROWS] = str(len(fl))
    for key, value in fl.meta.items():
        values[META_PREFIX + _meta_key(fl, key)] = _meta_value(fl, key, value)
    return [f"# {key}: {value}" for key, value in values.items()]


def _one_line(fl: FaultList, key: str, value: str) -> str:
    if "\n" in value or "\r" in value:
        raise FaultListError(f"{key} {value!r} spans several lines", path=fl.source, field=key)
    return value


def _meta_key(fl: FaultList, key: object) -> str:
    if not isinstance(key, str) or not key or any(c in key for c in ":\r\n"):
        raise FaultListError(
            f"meta key {key!r} must be a non-empty string without ':' or line breaks",
            path=fl.source,
            field="meta",
        )
    return key


def _meta_value(fl: FaultList, key: str, value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as e:
        raise FaultListError(
            f"meta value {value!r} of {key!r} is not JSON-serializable",
            path=fl.source,
            field="meta",
        ) from e


# -- reading ---------------------------------------------------------------------------------------
def sniff_native(first_line: str) -> bool:
    """Whether a file whose first line is ``first_line`` is in readlx's format (any version)."""
    return first_line.startswith(MAGIC_PREFIX)


def read_native(path: str | Path, table: LayerTable | None = None) -> FaultList:
    """Read a fault list in readlx's format, checking every fault against ``table`` when given.

    Examples
    --------
    >>> import tempfile, os
    >>> fl = FaultList.from_faults("m", (Fault("fc", (7, 36), 4),), meta={"note": [1, 2]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_native(fl, os.path.join(d, "m.csv"))
    ...     read_native(os.path.join(d, "m.csv")) == fl
    True
    """
    return parse_native(csvrows.read_text_file(path), table)


def parse_native(src: TextFile, table: LayerTable | None = None) -> FaultList:
    """The fault list held by ``src`` (an already read file), see :func:`read_native`."""
    header, column_line = _read_header(src)
    columns = csvrows.header_columns(src, column_line, COLUMNS, PUBLISHED_COLUMNS, extra=(SITE_COLUMN, SEED_COLUMN))
    entries = _read_rows(src, column_line + 1, columns, table)
    if header["rows"] is not None and header["rows"][0] != len(entries):
        rows, line, key = header["rows"]
        raise src.error(f"the header says the file holds {rows} faults but it has {len(entries)} (cut short, or rows "
                        "added?); to run it as it is, delete the '# sampling_' lines", line, key)
    return FaultList(header["model"], entries, header["sampling"], header["source"], header["meta"],
                     checked_against=None if table is None else table.digest())


def _read_header(src: TextFile) -> tuple[dict[str, Any], int]:
    """Header values (``model``, ``source``, ``sampling``, ``meta``) and the column line number."""
    if src.lines[0] != MAGIC:
        found = src.lines[0]
        versioned = found.startswith(MAGIC_PREFIX)
        what = "unsupported version" if versioned else "not a readlx fault list"
        raise src.error(f"{what}: expected first line {MAGIC!r}, got {found!r}", 1)
    raw: dict[str, tuple[str, int]] = {}
    line = 2
    while line <= len(src.lines) and src.lines[line - 1].startswith("#"):
        key, value = _header_entry(src, line)
        if key in raw:
            raise src.error(f"{key!r} is given twice (first on line {raw[key][1]})", line, key)
        raw[key] = (value, line)
        line += 1
    if line > len(src.lines):
        raise src.error(f"missing the column header {','.join(COLUMNS)!r}", line, COLUMNS[0])
    return _header_values(src, raw), line


def _header_entry(src: TextFile, line: int) -> tuple[str, str]:
    text = src.lines[line - 1]
    key, sep, value = text[2:].partition(": ")
    if not text.startswith("# ") or not sep:
        raise src.error(f"header lines read '# key: value', got {text!r}", line)
    if key not in KEYS and not key.startswith(META_PREFIX):
        valid = ", ".join((*KEYS, META_PREFIX + "<name>"))
        raise src.error(f"unknown header key {key!r}; valid: {valid}", line, key)
    return key, value


def _header_values(src: TextFile, raw: dict[str, tuple[str, int]]) -> dict[str, Any]:
    if "model" not in raw:
        raise src.error("the header does not name the model ('# model: ...')", 1, "model")
    meta = {
        key[len(META_PREFIX):]: _json_value(src, value, line, key)
        for key, (value, line) in raw.items()
        if key.startswith(META_PREFIX)
    }
    source = raw["source"][0] if "source" in raw else None
    sampling_record = _sampling(src, raw)
    return {"model": raw["model"][0], "source": source, "sampling": sampling_record, "meta": meta,
            "rows": _rows(src, raw, sampling_record)}


def _rows(src: TextFile, raw: dict[str, tuple[str, int]], sampling: Sampling | None) -> tuple[int, int, str] | None:
    """The rows the header says the file holds, with the line and key saying it (None: it does not say)."""
    if ROWS in raw:
        text, line = raw[ROWS]
        if not (text.isascii() and text.isdigit()):
            raise src.error(f"expected a whole number of rows, got {text!r}", line, ROWS)
        return int(text), line, ROWS
    if sampling is None:
        return None
    return sampling.sample_size, raw["sampling_sample_size"][1], "sampling_sample_size"


def _json_value(src: TextFile, text: str, line: int, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise src.error(f"value is not JSON ({e.msg}): {text!r}", line, key) from e


def _sampling(src: TextFile, raw: dict[str, tuple[str, int]]) -> Sampling | None:
    present = [key for key in _SAMPLING_TYPES if key in raw]
    if not present:
        return None
    missing = [key for key in _SAMPLING_TYPES if key not in raw]
    if missing:
        message = f"sampling record is incomplete, missing {', '.join(missing)}"
        raise src.error(message, 1, missing[0])
    attrs = {key: _typed(src, key, *raw[key]) for key in _SAMPLING_TYPES}
    return Sampling.from_attrs(attrs)


def _typed(src: TextFile, key: str, text: str, line: int) -> Any:
    convert = _SAMPLING_TYPES[key]
    try:
        return convert(text)
    except ValueError as e:
        raise src.error(f"expected {convert.__name__}, got {text!r}", line, key) from e


def _read_rows(
    src: TextFile, first: int, columns: list[str], table: LayerTable | None
) -> tuple[FaultEntry, ...]:
    entries = []
    seen: dict[int, int] = {}
    with_counts = PUBLISHED_COLUMNS[0] in columns
    for line, row in csvrows.data_rows(src, first, columns):
        fault_id = csvrows.parse_uint(src, row["id"], line, "id")
        csvrows.check_unique_id(src, seen, fault_id, line, "id")
        fault = _fault(src, row, line, table)
        counts = csvrows.parse_counts(src, row, line) if with_counts else None
        entries.append(FaultEntry(fault_id, fault, counts))
    return tuple(entries)


def _fault(src: TextFile, row: dict[str, str], line: int, table: LayerTable | None) -> Fault:
    if not row["layer"].strip():
        raise src.error("empty layer name", line, "layer")
    site = csvrows.parse_site(src, row[SITE_COLUMN], line, SITE_COLUMN) if SITE_COLUMN in row else Site.WEIGHT
    seed = csvrows.parse_seed(src, row[SEED_COLUMN], line, SEED_COLUMN, site) if SEED_COLUMN in row else None
    fault = Fault(
        row["layer"],
        csvrows.parse_index(src, row["index"], line, "index", empty=True),
        csvrows.parse_bits(src, row["bit"], line, "bit"),
        csvrows.parse_kind(src, row["kind"], line, "kind"),
        site,
        seed,
    )
    if seed is None and not fault.index:
        raise src.error("index () names no element; only a transient fault (a seed) draws its element", line,
                        "index")
    csvrows.check_in_table(src, fault, table, line, {"layer": "layer", "index": "index"})
    return fault

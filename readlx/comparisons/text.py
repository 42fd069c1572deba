"""Plain-text tables for the command line (the CLI prints what these return)."""
from __future__ import annotations

from collections.abc import Sequence


def table(head: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the first column left-aligned, the others right.

    >>> print(table(("name", "n"), [("a", "10"), ("bb", "2")]))
    name   n
    ----  --
    a     10
    bb     2
    """
    rows = [tuple(head), *(tuple(r) for r in body)]
    widths = [max(len(x) for x in col) for col in zip(*rows, strict=False)]
    lines = [
        "  ".join(x.rjust(w) if i else x.ljust(w) for i, (x, w) in enumerate(zip(row, widths, strict=False)))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

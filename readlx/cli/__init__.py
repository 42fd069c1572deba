"""The ``readlx`` command line. The only place in readlx that prints.

One module per command group (:mod:`~readlx.cli.zoo`, :mod:`~readlx.cli.faults`,
:mod:`~readlx.cli.run`, :mod:`~readlx.cli.report`, :mod:`~readlx.cli.convert`,
:mod:`~readlx.cli.numerics`, :mod:`~readlx.cli.demo`), assembled by :func:`build_parser`.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# Before anything can import TensorFlow, which reads it once.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from readlx.cli.parser import build_parser
from readlx.errors import ReadlxError

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``readlx`` command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit code:
    2 for a readlx error (printed as ``readlx: error: ...``), 130 when interrupted."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    args.command_line = ["readlx", *words]  # what the results record as the command that made them
    try:
        return int(args.func(args) or 0)
    except ReadlxError as e:
        print(f"readlx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("readlx: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``readlx`` argument parser, assembled from the subcommands each command module adds.

The command modules import the heavy libraries (PyTorch, TensorFlow, ONNX Runtime) inside their
command functions, so that building the parser, and ``readlx --help``, loads none of them.
"""
from __future__ import annotations

import argparse

from readlx.cli import convert, demo, faults, numerics, report, run, zoo

DESCRIPTION = ("Run the same hardware faults through PyTorch, TensorFlow/Keras and ONNX Runtime, classify every "
               "inference with one classifier, and compare the runtimes. Start with `readlx demo`.")

# In this order in ``readlx --help``.
_SUBCOMMANDS = (zoo.add_parser, faults.add_parser, run.add_run_parser, convert.add_parser,
                run.add_merge_parser, report.add_parser, numerics.add_parser, demo.add_parser)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``readlx`` subcommand; each sets ``func``, the command to call with the
    parsed arguments.

    Examples
    --------
    >>> args = build_parser().parse_args(["zoo", "show", "democnn-synthetic10"])
    >>> args.name, args.func.__name__
    ('democnn-synthetic10', 'cmd_zoo_show')
    """
    p = argparse.ArgumentParser(prog="readlx", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return p

"""The ``readlx`` argument parser, assembled from the subcommands each command module adds.

The command modules import the heavy libraries (PyTorch, TensorFlow, ONNX Runtime) inside their
command functions, so that building the parser, and ``readlx --help``, loads none of them. Help texts
that list what only the runtimes know (``%(runtimes)s``, ``%(golden_variants)s``,
``%(campaign_variants)s``) are expanded by :class:`HelpFormatter` when that help is printed.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from readlx._version import __version__
from readlx.cli import audit, convert, demo, diff, faults, numerics, plan, report, run, zoo

DESCRIPTION = ("Run the same hardware faults through PyTorch, TensorFlow/Keras and ONNX Runtime, classify every "
               "inference with one classifier, and compare the runtimes. Start with `readlx demo`.")

# In this order in ``readlx --help``.
_SUBCOMMANDS = (zoo.add_parser, faults.add_parser, run.add_run_parser, run.add_resume_parser, convert.add_parser,
                run.add_merge_parser, report.add_parser, audit.add_parser, plan.add_parser, diff.add_parser,
                numerics.add_parser, demo.add_parser)


@cache
def _runtimes() -> str:
    from readlx.engines import RUNTIMES
    from readlx.engines.reference import ALGORITHMS, ARITHMETICS

    examples = ", ".join(e for f in RUNTIMES.families() for e in f.examples)
    return (f"{', '.join(RUNTIMES.choices())} (e.g. {examples}; ALGORITHM: {', '.join(ALGORITHMS)}; "
            f"ARITHMETIC: {', '.join(ARITHMETICS)})")


@cache
def _golden_variants() -> str:
    from readlx.engines.variants import GOLDEN_VARIANTS

    return ", ".join(GOLDEN_VARIANTS)


@cache
def _campaign_variants() -> str:
    from readlx.engines.variants import CAMPAIGN_VARIANTS

    return ", ".join(CAMPAIGN_VARIANTS)


LAZY_HELP: dict[str, Callable[[], str]] = {
    "runtimes": _runtimes,
    "golden_variants": _golden_variants,
    "campaign_variants": _campaign_variants,
}
"""``%(NAME)s`` in a help text -> the text, computed (importing the runtimes) only when help is printed."""


def _shows_default(action: argparse.Action) -> bool:
    default = action.default
    if default is None or default is False or default == argparse.SUPPRESS:
        return False
    return bool(action.option_strings) or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)


class HelpFormatter(argparse.HelpFormatter):
    """readlx's help layout: every option's default where it has one and its help does not state it,
    :data:`LAZY_HELP` expanded, and lines never broken inside a runtime name or a path."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        for key, expand in LAZY_HELP.items():
            marker = f"%({key})s"
            if marker in text:
                text = text.replace(marker, expand().replace("%", "%%"))
        if _shows_default(action) and "(default" not in text:
            text += " (default: %(default)s)"
        return text

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)


class ReadlxParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` with :class:`HelpFormatter`, passed on to its subcommands.

    A command with subcommands may name one as implied: with ``implied_subcommand="study"``, ``readlx
    numerics MODEL`` is ``readlx numerics study MODEL``, while ``readlx numerics explain ...`` is
    still the ``explain`` subcommand.
    """

    def __init__(self, *args: Any, implied_subcommand: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.implied_subcommand = implied_subcommand

    def parse_known_args(  # type: ignore[override]  # one signature for typeshed's three overloads
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = list(sys.argv[1:] if args is None else args)
        if self.implied_subcommand is not None and argv and argv[0] not in ("-h", "--help", *self._subcommands()):
            argv.insert(0, self.implied_subcommand)
        return super().parse_known_args(argv, namespace)

    def _subcommands(self) -> list[str]:
        return [name for action in self._actions if isinstance(action, argparse._SubParsersAction)
                for name in action.choices]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``readlx`` subcommand; each sets ``func``, the command to call with the
    parsed arguments.

    Examples
    --------
    >>> args = build_parser().parse_args(["zoo", "show", "democnn-synthetic10"])
    >>> args.name, args.func.__name__
    ('democnn-synthetic10', 'cmd_zoo_show')
    >>> build_parser().parse_args(["numerics", "democnn-synthetic10"]).numerics_command
    'study'
    """
    # Declared a plain parser, as the command modules take it; the subcommands are ReadlxParsers.
    p: argparse.ArgumentParser = ReadlxParser(prog="readlx", description=DESCRIPTION)
    p.add_argument("--version", action="version", version=f"readlx {__version__}",
                   help="print readlx's version and exit")
    sub = p.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return p

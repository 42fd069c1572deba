"""``readlx zoo list`` and ``readlx zoo show NAME``: the benchmark cards of the model zoo."""
from __future__ import annotations

import argparse


def _weights(name: str, published: bool) -> str:
    if published:
        return "published weights"
    return "shipped weights" if name.startswith("demo") else "seeded random weights"


def cmd_zoo_list(args: argparse.Namespace) -> int:
    from readlx.zoo import ZOO

    for name, bench in ZOO.items():
        print(f"{name:24s} {bench.architecture:12s} {bench.dataset:12s} {bench.num_classes:4d} classes  "
              f"{_weights(name, bool(bench.checkpoint))}")
    return 0


def cmd_zoo_show(args: argparse.Namespace) -> int:
    from readlx.zoo import ZOO
    from readlx.zoo.cards import format_card

    print(format_card(ZOO[args.name]))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``zoo list``, ``zoo show``."""
    zoo = sub.add_parser("zoo", help="the model zoo").add_subparsers(dest="zoo_command", required=True)
    zoo.add_parser("list", help="list the models: architecture, dataset, classes and weights").set_defaults(
        func=cmd_zoo_list)
    show = zoo.add_parser("show", help="print a model's benchmark card")
    show.add_argument("name", help="zoo model (see `readlx zoo list`)")
    show.set_defaults(func=cmd_zoo_show)

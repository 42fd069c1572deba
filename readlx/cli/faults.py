"""``readlx faults generate | import | show``: fault lists drawn, validated and summarized."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable


def _table(model: str) -> LayerTable:
    """The layer table of a zoo model, a bundle directory or an ONNX file."""
    from readlx.campaign.inputs import subject

    return subject(model).artifact.table


def cmd_faults_generate(args: argparse.Namespace) -> int:
    from readlx.fault_maps import generate, save_fault_list

    table = _table(args.model)
    fl = generate(table, margin=args.margin, confidence=args.confidence, p=args.p, seed=args.seed, mode=args.mode)
    save_fault_list(fl, args.out, format=args.format)
    s = fl.sampling
    assert s is not None  # a generated list records its sampling
    print(f"{len(fl)} faults for {args.model} ({s.mode}; population {s.population}, margin {s.margin}, "
          f"confidence {s.confidence}, seed {s.seed}) -> {args.out}")
    return 0


def cmd_faults_import(args: argparse.Namespace) -> int:
    from readlx.fault_maps import load_fault_list, save_fault_list

    fl = load_fault_list(args.file, _table(args.model))
    save_fault_list(fl, args.out, format="readlx")
    print(f"{len(fl)} faults of {args.file} validated against {args.model} -> {args.out}")
    return 0


def cmd_faults_show(args: argparse.Namespace) -> int:
    from collections import Counter

    from readlx.fault_maps import load_fault_list

    table = _table(args.model) if args.model else None
    fl = load_fault_list(args.file, table)
    print(f"{args.file}: {len(fl)} faults of model {fl.model!r}"
          + (", with published outcome counts" if fl.published is not None else ""))
    if fl.sampling is not None:
        print(f"sampling: {fl.sampling}")
    kinds = Counter(f.kind.value for f in fl.faults)
    print("kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print("faults per layer:")
    for layer, n in Counter(f.layer for f in fl.faults).items():
        print(f"  {layer:28s} {n:6d}")
    bits = Counter(f.bit for f in fl.faults)
    print("faults per bit: " + " ".join(f"{b}:{bits.get(b, 0)}" for b in range(32)))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``faults generate``, ``faults import``, ``faults show``."""
    faults = sub.add_parser("faults", help="fault lists").add_subparsers(dest="faults_command", required=True)
    g = faults.add_parser("generate", help="draw a statistical fault list")
    g.add_argument("model")
    g.add_argument("-o", "--out", required=True)
    g.add_argument("--margin", type=float, default=0.01)
    g.add_argument("--confidence", type=float, default=0.99)
    g.add_argument("--p", type=float, default=0.5)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--mode", default="paper", choices=("paper", "network-wise", "layer-wise"))
    g.add_argument("--format", default="readlx", choices=("readlx", "paper-torch"))
    g.set_defaults(func=cmd_faults_generate)
    i = faults.add_parser("import", help="validate a fault list (e.g. a published CSV) and save it in readlx's format")
    i.add_argument("file")
    i.add_argument("--model", required=True)
    i.add_argument("-o", "--out", required=True)
    i.set_defaults(func=cmd_faults_import)
    s = faults.add_parser("show", help="summarize a fault list")
    s.add_argument("file")
    s.add_argument("--model", help="validate against this zoo model")
    s.set_defaults(func=cmd_faults_show)

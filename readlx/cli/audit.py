"""``readlx audit FILE ...``: can a published fault list with outcome counts be trusted?"""
from __future__ import annotations

import argparse
import json

from readlx.cli import types


def cmd_audit(args: argparse.Namespace) -> int:
    from readlx.audit import audit_file
    from readlx.audit.plausibility import ALPHA
    from readlx.audit.text import format_audit, format_summary
    from readlx.errors import ArgumentError
    from readlx.outputs import claim, write_atomic

    if (args.permutations + 1) * ALPHA < 1:
        raise ArgumentError(f"{args.permutations} shuffles cannot give p <= {ALPHA:g}; use at least "
                            f"{round(1 / ALPHA) - 1}", argument="permutations")
    if args.out:
        claim(args.out, force=args.force, inputs=args.files)
    audits = []
    for path in args.files:
        audits.append(audit_file(path, args.model, spot=args.spot, data=args.data, seed=args.seed,
                                 permutations=args.permutations))
        print(format_audit(audits[-1]), end="\n\n", flush=True)
    if len(audits) > 1:
        print(format_summary(audits))
    if args.out:
        text = json.dumps({"seed": args.seed, "permutations": args.permutations,
                           "audits": [a.as_dict() for a in audits]}, indent=1)
        write_atomic(args.out, lambda tmp: tmp.write_text(text + "\n"))
        print(f"wrote {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``audit``."""
    a = sub.add_parser("audit", help="check published fault lists with outcome counts: consistency and plausibility",
                       description="For each fault list with per-fault outcome counts (the suite's *_FL.csv or a "
                                   "readlx list with counts): do the counts add up, are the ids and faults those of "
                                   "the paper's generator, do the outcomes depend on the bit and the weight as bit "
                                   "flips must (permutation tests), and, with --spot, do a few faults re-run here "
                                   "give the same counts. A verdict per file (ok, suspicious with the evidence, "
                                   "unreadable, no counts), as text and with -o as JSON.")
    a.add_argument("files", nargs="+", metavar="FILE", help="fault lists with outcome counts")
    a.add_argument("--model", help="the zoo model of the lists (default: the model whose published list each is)")
    a.add_argument("--spot", type=types.seed, default=0, metavar="K",
                   help="re-run K faults here on PyTorch over the whole test set and compare (default 0: none)")
    a.add_argument("--data", metavar="DIR", help="images of the spot runs (default: the model's test set)")
    a.add_argument("--seed", type=types.seed, default=0, help="seed of the permutation tests and the spot faults")
    a.add_argument("--permutations", type=types.count, default=999, metavar="B",
                   help="shuffles of the bit-dependence test (default 999)")
    a.add_argument("-o", "--out", metavar="FILE", help="also write the audits as JSON")
    a.add_argument("--force", action="store_true", help="replace an existing -o file")
    a.set_defaults(func=cmd_audit)

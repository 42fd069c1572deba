"""``readlx diff MODEL --frameworks A,B``: do two runtimes give the same shares? Random rounds of
the fault list on both until every share's paired difference is decided (:mod:`readlx.planning.paired`)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from readlx.cli import invocation, run, types
from readlx.errors import ArgumentError, OutputError


def cmd_diff(args: argparse.Namespace) -> int:
    from readlx.campaign import CampaignOptions
    from readlx.outputs import locked, make_dir, remove_dir, sweep
    from readlx.planning.iterative import run_until
    from readlx.planning.paired import PairTarget, format_differences
    from readlx.provenance import command_line
    from readlx.results import write_netcdf

    pair = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ArgumentError(f"--frameworks names two runtimes, A,B, got {args.frameworks!r}", argument="frameworks")
    target = PairTarget(pair[0], pair[1], args.delta / 100, args.confidence, args.looks)
    print(f"{args.model}: loading the model, the images and the fault list ...", file=sys.stderr, flush=True)
    spec = run._converted(run._spec(args))
    model = spec.subject()
    faults = run._fault_list(args, model)
    out = Path(args.out or f"runs/{model.name}-diff.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = invocation.checkpoint_of(out, args.checkpoint)
    invocation.claim_outputs(args, out, ckpt)
    opts = CampaignOptions(checkpoint=ckpt, resume=args.resume, mode=args.mode, fast=run._fast_options(args),
                           attrs={"command_line": command_line(getattr(args, "command_line", None))})
    t0 = time.perf_counter()
    with locked(make_dir(ckpt) / run.LOCK, f"the checkpoint of {str(out)!r}"):
        kept, resume = f"the rounds done are kept in {ckpt}; ", "continue with the same command and --resume"
        try:
            ds = run_until(spec.engines(), faults, spec.dataset(), model=spec.model_name(), target=target,
                           seed=args.seed, options=opts)
            write_netcdf(ds, out)
        except KeyboardInterrupt:
            print(f"readlx: interrupted; {kept}{resume}", file=sys.stderr)
            return 130
        except OutputError:
            print(f"readlx: {kept}once the disk has room, {resume}", file=sys.stderr)
            raise
        remove_dir(ckpt)
        for done in (out, ckpt):
            sweep(done)
    print(format_differences(ds, len(faults)))
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``diff``."""
    d = sub.add_parser("diff", help="sequential paired test of two runtimes' outcome shares",
                       description="Random rounds of the fault list on two runtimes until the paired interval of "
                                   "each share's difference (masked, non-critical, SDC-1, NaN/Inf) excludes zero "
                                   "or lies within --delta: the verdict, the interval and the inferences used.")
    run._run_inputs(d)
    run._run_runtimes(d)
    d.add_argument("--delta", type=types.positive, default=1.0, metavar="PP",
                   help="differences within +-PP percentage points count as agreement (default 1)")
    d.add_argument("--confidence", type=types.share, default=0.99, help="confidence level of the verdicts")
    d.add_argument("--looks", type=types.count, default=8, metavar="K", help="doubling rounds, looked at after each")
    d.add_argument("-o", "--out", metavar="FILE", help="result NetCDF (default: runs/MODEL-diff.nc)")
    d.add_argument("--checkpoint", metavar="DIR", help="checkpoint folder (default: OUT.partial)")
    d.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint folder")
    d.add_argument("--force", action="store_true", help="replace an existing result file")
    d.set_defaults(func=cmd_diff, frameworks="torch,keras")

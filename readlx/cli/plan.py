"""``readlx plan MODEL``: the faults a margin needs (the paper's formula, stratified samples with and
without a pilot), the inferences they are, and how long they take on this machine."""
from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from readlx.cli import types
from readlx.cli.faults import MODELS

if TYPE_CHECKING:  # pragma: no cover
    from readlx.campaign.inputs import Subject
    from readlx.planning.plan import Plan

LABELS = {"all": "every share", "masked": "masked", "non_critical": "non-critical", "critical": "SDC-1",
          "nan_or_inf": "NaN/Inf"}


def cmd_plan(args: argparse.Namespace) -> int:
    from readlx.campaign.inputs import subject, table_with_outputs
    from readlx.fault_maps.sites import parse_sites, site_table
    from readlx.planning.plan import make_plan

    pair = _pair(args)
    model = subject(args.model)
    site = parse_sites(args.sites)
    table = model.artifact.table if site.value == "weight" else table_with_outputs(model)
    pilot, pilot_name = _pilot(args, model)
    plan = make_plan(site_table(table, site), margin=args.margin, confidence=args.confidence,
                     pilot=pilot, pilot_name=pilot_name)
    if pair:
        from readlx.planning.plan import with_pair
        from readlx.results import read_netcdf

        plan = with_pair(plan, read_netcdf(args.pilot), *pair)
    n_images = args.images or _default_images(model)
    print(format_plan(plan, n_images))
    if args.probe:
        seconds = probe_seconds(model, args.framework, args.probe, min(n_images, args.probe_images))
        print(f"\ntime on this machine ({args.framework}, fast mode; probe: {args.probe} faults x "
              f"{min(n_images, args.probe_images)} images, {seconds * 1e3:.3f} ms per fault and image):")
        for row in plan.rows:
            if row.outcome == "all":
                print(f"  {row.method:32s} {_duration(seconds * row.inferences(n_images))}")
    return 0


def _pilot(args: argparse.Namespace, model: Subject) -> tuple[Any, str]:
    from readlx.campaign.inputs import fault_list
    from readlx.errors import ArgumentError
    from readlx.planning.plan import pilot_from_dataset, pilot_from_published

    if args.pilot is None:
        return None, "none"
    if args.pilot == "published":
        fl = fault_list(None, model)
        if fl.published is None:
            raise ArgumentError(f"model {model.name!r} has no published fault list with outcome counts",
                                argument="pilot")
        return pilot_from_published(fl), f"published counts ({len(fl)} faults)"
    from readlx.fault_maps import load_fault_list
    from readlx.results import read_netcdf

    ds = read_netcdf(args.pilot)
    faults = load_fault_list(args.faults, model.artifact.table) if args.faults else fault_list(None, model)
    return pilot_from_dataset(ds, faults, args.framework if args.framework in ds.framework.values else None), \
        f"{args.pilot} ({ds.sizes['fault']} faults)"


def _pair(args: argparse.Namespace) -> tuple[str, str] | None:
    """The runtimes of ``--pair``, checked before any work."""
    from readlx.errors import ArgumentError

    if args.pair is None:
        return None
    pair = [f.strip() for f in args.pair.split(",") if f.strip()]
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ArgumentError(f"--pair names two runtimes, A,B, got {args.pair!r}", argument="pair")
    if args.pilot in (None, "published"):
        raise ArgumentError("--pair plans from the per-fault differences of a pilot that ran both runtimes: "
                            "give --pilot RESULT (e.g. a `readlx diff` or `readlx run --frameworks A,B` result)",
                            argument="pilot")
    return pair[0], pair[1]


def _default_images(model: Subject) -> int:
    return 10_000 if model.benchmark is not None and model.benchmark.dataset == "cifar10" else 1_000


def format_plan(plan: Plan, n_images: int) -> str:
    """The plan as text: population, the rows with their faults and inferences."""
    lines = [f"{plan.model}: population {plan.population:,} faults, margin {plan.margin:g} at confidence "
             f"{plan.confidence:g}; {len(plan.strata)} strata (layer x bit group); pilot: {plan.pilot}",
             f"{'method':32s} {'share':13s} {'faults':>8s} {'of formula':>10s} {'inferences':>15s}"]
    formula = plan.rows[0].n
    for row in plan.rows:
        lines.append(f"{row.method:32s} {LABELS[row.outcome]:13s} {row.n:8,d} {row.n / formula:10.1%} "
                     f"{row.inferences(n_images):15,d}")
    lines.append(f"(inferences: faults x {n_images:,} images x runtimes)")
    lines.extend(f"({note})" for note in plan.notes)
    return "\n".join(lines)


def probe_seconds(model: Subject, framework: str, faults: int, images: int) -> float:
    """Seconds per fault and image of fast-mode campaigns on ``images`` images: the wall time of
    ``faults + 1`` random faults less that of one (set-up and golden pass cancel out), per fault."""
    import readlx

    target = model.artifact.torch_module() if model.benchmark is None else model.name
    walls = []
    for n in (1, faults + 1):
        t0 = time.perf_counter()
        readlx.run(target, None, None, frameworks=(framework,), sample=n, images=images, progress=False,
                   mode="fast-always")
        walls.append(time.perf_counter() - t0)
    return max(walls[1] - walls[0], 0.0) / faults / images


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``plan``."""
    p = sub.add_parser("plan", help="faults and time a campaign needs for a margin",
                       description="How many faults a margin on the outcome shares needs: the paper's formula "
                                   "(p = 0.5), and stratified samples over layer x bit groups with proportional "
                                   "and Neyman allocation, optionally from a pilot's per-fault shares.")
    p.add_argument("model", help=MODELS)
    p.add_argument("--margin", type=types.share, default=0.01, help="error margin of every share (0.01: one point)")
    p.add_argument("--confidence", type=types.share, default=0.99, help="confidence level of that margin")
    p.add_argument("--sites", default="weights", choices=("weights", "activations", "normalized"),
                   help="the fault site planned for")
    p.add_argument("--pilot", metavar="RESULT|published",
                   help="per-fault shares to plan from: a result file, or 'published' (the model's published "
                        "per-fault counts); without one every stratum has the worst-case variance")
    p.add_argument("--pair", metavar="A,B",
                   help="also size a paired campaign of runtimes A and B (`readlx diff`) for each share's "
                        "difference, from a --pilot result that ran both")
    p.add_argument("--faults", metavar="FILE", help="the fault list a --pilot result file ran (default: the "
                                                    "model's published list)")
    p.add_argument("--images", type=types.count, metavar="N", help="images per fault (default: the test set's 10,000 "
                                                           "for CIFAR-10 models, else 1,000)")
    p.add_argument("--framework", default="torch", help="runtime of the time probe and of a pilot result")
    p.add_argument("--probe", type=types.seed, default=0, metavar="K",
                   help="time K faults in fast mode and print how long each plan takes here (0: no probe)")
    p.add_argument("--probe-images", type=types.count, default=256, metavar="N", help="images of the time probe")
    p.set_defaults(func=cmd_plan)

"""Fast mode's choice against the reference loop and the fast runner everywhere, in one process.

Runs the same campaign with ``CampaignOptions(mode=...)`` ``"reference"`` (one whole inference per
fault), ``"fast-always"`` (the fast runner on every fault) and ``"fast"`` (the default: per layer
and block, whichever the measured costs say is cheaper), ``--repeat`` times each with the order of
the modes turned, the fastest run counted; checks that the Datasets are identical (per-image
outcomes included, provenance and mode attrs aside), and prints a table of wall-clock seconds, the
ratios to the reference loop (wall clock and this process's CPU time) and what ``"fast"`` chose.
Two campaigns: a short one (``--short`` faults, 20) and a long one (``--long``), each as ``readlx
run --sample N`` draws it (``readlx.campaign.inputs.fault_list``: every layer alike) and, with
``--random``, drawn uniformly from the published list as well (its real mix: most faults in the
large layers). The model is the published ResNet20 on the first ``--images`` CIFAR-10 test images
when the reference data are there (../shared/data or ``$READLX_DATA``; Keras and ONNX Runtime from
the conversion cache), else the demo model on synthetic images.

Usage::

    python benchmarks/mode_choice.py [--frameworks onnxruntime] [--images 500] [--short 20] [--long 300]
    python benchmarks/mode_choice.py --demo --frameworks torch,keras,onnxruntime

Exit status: 0 when every run is identical to the reference loop, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.inputs import fault_list, subject
from readlx.campaign.runners.modes import without_modes
from readlx.converters.cache import cached_zoo_bundle
from readlx.data.synthetic import synthetic
from readlx.engines.base import Engine
from readlx.fault_maps.faultlist import FaultList
from readlx.outcomes.tasks import ImageData
from readlx.paths import data_root
from readlx.provenance import without_provenance
from readlx.zoo import ZOO

PUBLISHED = "resnet20-cifar10"
DEMO = "democnn-synthetic10"
MODES = ("reference", "fast-always", "fast")


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    ds: xr.Dataset


def _outcomes(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without what may differ between runs of one campaign: when and where it ran
    (:mod:`readlx.provenance`) and the mode asked for and chosen."""
    out = without_modes(without_provenance(ds))
    out.attrs.pop("mode", None)
    return out


def _timed(engine: Engine, faults: FaultList, data: ImageData, model: str, mode: str) -> Run:
    wall, cpu = time.perf_counter(), time.process_time()
    ds = run_campaign([engine], faults, data, model=model, options=CampaignOptions(per_image=True, mode=mode))
    return Run(time.perf_counter() - wall, time.process_time() - cpu, ds)


def _best(engine: Engine, faults: FaultList, data: ImageData, model: str, repeat: int) -> dict[str, Run]:
    """Each mode's fastest of ``repeat`` runs, the order of the modes turned by one each time, so that
    a load that comes and goes on a shared machine weighs on every mode alike."""
    best: dict[str, Run] = {}
    for r in range(repeat):
        for mode in MODES[r % len(MODES):] + MODES[: r % len(MODES)]:
            run = _timed(engine, faults, data, model, mode)
            if mode not in best or run.wall < best[mode].wall:
                best[mode] = run
    return best


def _campaigns(name: str, args: argparse.Namespace) -> list[tuple[str, FaultList]]:
    """(label, faults): each size as ``readlx run --sample`` draws it and, with ``--random``, uniformly."""
    who = subject(name)
    published = fault_list(None, who)
    out = []
    for label, n in (("short", args.short), ("long", args.long)):
        out.append((f"{label} sample", fault_list(None, who, sample=n, seed=args.seed)))
        if args.random:
            rng = np.random.default_rng(args.seed)
            chosen = sorted(rng.choice(len(published), min(n, len(published)), replace=False).tolist())
            out.append((f"{label} random", published.subset(chosen)))
    return out


def _choice(ds: xr.Dataset, framework: str) -> str:
    """What fast mode chose: its mode, and the layers run fast / on the reference loop."""
    detail = json.loads(ds.attrs.get(f"mode_{framework}_detail", "{}"))
    layers = detail.get("layers", {})
    fast = sum(1 for v in layers.values() if v.get("fast"))
    return (f"{ds.attrs[f'mode_{framework}']} ({fast}/{len(layers)} layers fast, "
            f"probe {detail.get('probe', '-')})")


def _row(label: str, framework: str, faults: FaultList, runs: dict[str, Run], n_images: int) -> list[str]:
    ref = runs["reference"]
    cells = [label, framework, f"{len(faults)} x {n_images}"]
    for mode in MODES:
        run = runs[mode]
        ratio = "" if mode == "reference" else f" ({ref.wall / run.wall:.2f}x, CPU {ref.cpu / run.cpu:.2f}x)"
        cells.append(f"{run.wall:.3g}{ratio}")
    cells.append(_choice(runs["fast"].ds, framework))
    return cells


def _table(rows: list[list[str]]) -> str:
    head = ["campaign", "runtime", "faults x images", "reference s", "fast-always s", "fast s", "fast chose"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _setup(args: argparse.Namespace) -> tuple[str, Any, ImageData]:
    if args.demo or data_root() is None:
        return DEMO, cached_zoo_bundle(DEMO), synthetic(args.images)
    return PUBLISHED, cached_zoo_bundle(PUBLISHED), ZOO[PUBLISHED].load_data(None, args.images)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frameworks", default="onnxruntime", help="runtimes of the bundle, comma-separated")
    p.add_argument("--images", type=int, default=500, help="first M test images (synthetic ones for the demo)")
    p.add_argument("--short", type=int, default=20, help="faults of the short campaign")
    p.add_argument("--long", type=int, default=300, help="faults of the long campaign")
    p.add_argument("--seed", type=int, default=0, help="seed of the subsets")
    p.add_argument("--random", action="store_true", help="also draw the faults uniformly from the published list")
    p.add_argument("--repeat", type=int, default=1, help="runs per mode, the fastest counted")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--demo", action="store_true", help="the demo model even when the reference data are there")
    args = p.parse_args(argv)
    name, bundle, data = _setup(args)
    print(f"{name}, {len(data)} images, batch {args.batch_size}; the fastest of {args.repeat} run(s) per mode; "
          "ratios: the reference loop's seconds over the mode's (wall clock, and CPU of this process)", flush=True)
    rows, problems = [], []
    for framework in args.frameworks.split(","):
        engine = bundle.engine(framework, batch_size=args.batch_size)
        engine.infer(data.images)  # the first inference of a session allocates its memory
        for label, faults in _campaigns(name, args):
            runs = _best(engine, faults, data, name, args.repeat)
            for mode in MODES[1:]:
                if not _outcomes(runs["reference"].ds).identical(_outcomes(runs[mode].ds)):
                    problems.append(f"{label} on {framework}: {mode} differs from the reference loop")
            rows.append(_row(label, framework, faults, runs, len(data)))
            print(_table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(_table(rows))
    print("\n".join(problems) or "outcomes identical to the reference loop in every run")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""An emulated-arithmetic runtime as an ordinary one: its fast path against its slow path, and its
speed against the PyTorch runtime, in one process.

Runs N faults drawn at random from the published ResNet20 list (its real mix of layers and bits)
over the first M CIFAR-10 test images from ../shared/data with ``readlx.run``:

- the emulated runtime (default ``reference-native-float32+layer3.*=tf32``: TF32 operands in the
  six ``layer3`` convolutions, the plan ``readlx numerics explain`` finds for ResNet20) in fast mode
  and in reference mode (one full executor run per fault, no reuse: the slow path);
- the ``torch`` runtime in fast mode (and with ``--torch-reference`` in reference mode).

It checks that the emulated runtime's per-image outcomes are identical in both modes and prints
seconds per fault and the ratios. ``--demo`` runs the demo model on synthetic data (no data needed).

Usage::

    python benchmarks/emulated_speed.py [--faults 40] [--images 10000] [--variant NAME] [--torch-reference]

Exit status: 0 when identical (or skipped: reference data absent), 1 on any difference.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import xarray as xr

import readlx
from readlx.fault_maps.faultlist import FaultList
from readlx.paths import data_root

PUBLISHED = "resnet20-cifar10"
DEMO = "democnn-synthetic10"


def _faults(model: str, n: int, seed: int) -> FaultList:
    from readlx.campaign.inputs import fault_list, subject

    fl = fault_list(None, subject(model))
    rows = np.random.default_rng(seed).choice(len(fl), min(n, len(fl)), replace=False)
    return fl.subset(sorted(int(r) for r in rows))


def _timed(model: str, faults: FaultList, images: int, framework: str, mode: str) -> tuple[xr.Dataset, float]:
    t0 = time.perf_counter()
    ds = readlx.run(model, None, faults, frameworks=(framework,), images=images, mode=mode, per_image=True,
                    progress=False)
    return ds, (time.perf_counter() - t0) / len(faults)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=40)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--variant", default="reference-native-float32+layer3.*=tf32")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--torch-reference", action="store_true", help="also time torch in reference mode")
    parser.add_argument("--demo", action="store_true", help="the demo model on synthetic data")
    args = parser.parse_args()
    model = DEMO if args.demo else PUBLISHED
    if not args.demo and data_root() is None:
        print("skipped: the reference data (../shared/data) is absent; try --demo")
        return 0
    variant = args.variant.replace("layer3.*", "conv3") if args.demo else args.variant
    faults = _faults(model, args.faults, args.seed)
    runs = [(variant, "fast"), (variant, "reference"), ("torch", "fast")]
    if args.torch_reference:
        runs.append(("torch", "reference"))
    print(f"{model}: {len(faults)} faults drawn at random (seed {args.seed}) x {args.images} images")
    seconds, results = {}, {}
    for framework, mode in runs:
        results[framework, mode], seconds[framework, mode] = _timed(model, faults, args.images, framework, mode)
        print(f"  {framework:42s} {mode:9s} {seconds[framework, mode]:8.3f} s per fault", flush=True)
    same = all(bool((results[variant, "fast"][v].values == results[variant, "reference"][v].values).all())
               for v in ("outcome", "masked", "non_critical", "critical", "nan_or_inf"))
    print(f"\n{variant}: fast == reference per image on all {len(faults)} faults: {same}")
    print(f"  fast mode: {seconds[variant, 'reference'] / seconds[variant, 'fast']:.2f}x its slow path")
    print(f"  fast mode: {seconds[variant, 'fast'] / seconds['torch', 'fast']:.2f}x the time of torch in fast mode")
    if args.torch_reference:
        print(f"  reference mode: {seconds[variant, 'reference'] / seconds['torch', 'reference']:.2f}x the time of "
              "torch in reference mode")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

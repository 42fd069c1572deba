"""Reference loop vs fast mode on any runtime of a bundle, in one process, with an identity check.

Runs the same stratified faults of the model's published fault list (those of ``readlx run MODEL
--sample N --seed S``) over the first M test images with ``CampaignOptions(mode="reference")`` and
``mode="fast"`` on one engine of the bundle, checks that the two Datasets are identical (per-image
outcomes included), and prints fault×image/s, the ratio and which path fast mode took.

Usage::

    python benchmarks/runtime_speed.py BUNDLE --framework onnxruntime [--faults 40] [--images 2560]

Exit status: 0 when identical, 1 on any difference.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.converters import load_bundle
from readlx.fault_maps import load_fault_list
from readlx.fault_maps.select import stratified_subset
from readlx.zoo import ZOO


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--framework", default="onnxruntime", help="engine of the bundle (torch, keras, onnxruntime, ...)")
    p.add_argument("--faults", type=int, default=40, help="stratified faults of the published list")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--images", type=int, default=2560)
    p.add_argument("--data", help="data set directory (default: under the reference data)")
    p.add_argument("--batch-size", type=int, default=256)
    return p.parse_args(argv)


def timed(engine: object, faults: object, data: object, model: str, mode: str) -> tuple[xr.Dataset, float]:
    start = time.perf_counter()
    ds = run_campaign([engine], faults, data, model=model, options=CampaignOptions(per_image=True, mode=mode))
    return ds, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = load_bundle(args.bundle)
    bench = ZOO[bundle.benchmark]
    published = bench.resolve(bench.fault_list, "fault list")
    faults = stratified_subset(load_fault_list(published, bench.layer_table()), args.faults, args.seed)
    data = bench.load_data(args.data, args.images)
    engine = bundle.engine(args.framework, batch_size=args.batch_size)
    ref, ref_s = timed(engine, faults, data, bench.name, "reference")
    fast, fast_s = timed(engine, faults, data, bench.name, "fast")
    work = len(faults) * len(data)
    identical = ref.drop_attrs().identical(fast.drop_attrs())
    print(f"{bench.name} on {args.framework}: {len(faults)} stratified faults (seed {args.seed}) x {len(data)} images, "
          f"batch {args.batch_size}")
    print(f"{'mode':<10} {'seconds':>8} {'fault x image/s':>16}")
    print(f"{'reference':<10} {ref_s:8.1f} {work / ref_s:16.0f}")
    print(f"{'fast':<10} {fast_s:8.1f} {work / fast_s:16.0f}")
    print(f"ratio {ref_s / fast_s:.2f}; fast path: {fast.attrs.get(f'mode_{args.framework}')}; "
          f"outcomes {'identical' if identical else 'DIFFERENT'}")
    detail = fast.attrs.get(f"mode_{args.framework}_detail")
    if detail:
        print(f"fast path detail: {detail}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

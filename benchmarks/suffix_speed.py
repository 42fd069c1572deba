"""What each layer's suffix saves on ONNX Runtime or Keras, measured with the fast runner itself.

For an engine of a bundle (``onnxruntime``, ``onnxruntime-keras`` or ``keras``) this benchmark builds
the fast runner (:mod:`readlx.campaign.runners.cut`: probes for the golden values at the cuts, one suffix
per layer, checked on the first and last batch when built), then, in one process:

1. times the engine's whole-graph inference over the images (fixed batch layout);
2. for every layer, builds and checks its suffix, takes the probe's golden values at its cut for every
   batch, runs the suffix over all batches, checks the outputs against golden bit for bit (every
   batch, not only those the check saw) and times the suffix runs.

It prints one row per layer (suffix or whole-graph fallback, exact, seconds, ratio) and the ratios
weighted by two fault mixes: equal shares per layer (the stratified samples) and the layer mix of a
fault list (``--faults``; by default the model's published list when the reference data is there).

Usage::

    python benchmarks/suffix_speed.py BUNDLE --framework keras [--images 2560] [--batch-size 256]
    python benchmarks/suffix_speed.py --demo --framework onnxruntime   # demo CNN, no data needed

Exit status: 0 when every suffix is exact on every batch, 1 otherwise.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from readlx.campaign.runners import FastOptions, fast_runner
from readlx.campaign.runners.cut import CutRunner, same_bits
from readlx.converters import Bundle, convert_bundle, load_bundle
from readlx.data.synthetic import synthetic
from readlx.errors import ReadlxError
from readlx.fault_maps import load_fault_list
from readlx.zoo import ZOO


@dataclass
class Row:
    layer: str
    suffix: bool
    exact: bool
    full_s: float
    suffix_s: float

    @property
    def ratio(self) -> float:
        return self.full_s / self.suffix_s if self.suffix_s else float("inf")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", nargs="?", type=Path, help="bundle directory (readlx convert)")
    p.add_argument("--framework", default="onnxruntime", help="keras, onnxruntime or onnxruntime-keras")
    p.add_argument("--images", type=int, default=2560, help="first M test images of the model's data set")
    p.add_argument("--data", help="data set directory (default: under the reference data)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--faults", type=Path, help="fault list whose layer mix weights the ratio")
    p.add_argument("--demo", action="store_true", help="convert and measure the demo CNN on synthetic images")
    return p.parse_args(argv)


def measure(runner: CutRunner) -> tuple[list[Row], float]:
    """Per-layer rows, and the seconds the runner's start-up and suffix checks took."""
    start = time.perf_counter()
    golden = runner.engine.infer(runner.images)
    full_s = time.perf_counter() - start
    out, setup = [], runner.stats.startup_seconds
    for layer in runner.engine.table.names:
        start = time.perf_counter()
        runner.prepare([layer])
        setup += time.perf_counter() - start
        if layer not in runner.suffix:
            out.append(Row(layer, False, True, full_s, full_s))
            continue
        values = [(rows, runner.golden_values([layer], rows)) for rows in runner.layout]
        start = time.perf_counter()
        outputs = [runner.run_suffix(layer, v) for _, v in values]
        suffix_s = time.perf_counter() - start
        exact = all(same_bits(o, golden[rows]) for o, (rows, _) in zip(outputs, values, strict=True))
        out.append(Row(layer, True, exact, full_s, suffix_s))
    return out, setup


def weighted_ratio(rows: list[Row], weights: dict[str, float]) -> float:
    full = sum(weights.get(r.layer, 0.0) * r.full_s for r in rows)
    suffix = sum(weights.get(r.layer, 0.0) * r.suffix_s for r in rows)
    return full / suffix if suffix else float("nan")


def load(args: argparse.Namespace, where: Path) -> tuple[Bundle, np.ndarray]:
    if args.demo:
        data = synthetic(args.images)
        bundle = convert_bundle("democnn-synthetic10", where / "demo", images=data.images[:32])
        return bundle, data.images
    if args.bundle is None:
        raise SystemExit("give a bundle directory, or --demo")
    bundle = load_bundle(args.bundle)
    if bundle.benchmark is None:
        raise SystemExit(f"bundle {args.bundle} is not of a zoo model; its data set is unknown")
    return bundle, ZOO[bundle.benchmark].load_data(args.data, args.images).images


def fault_mix(args: argparse.Namespace, bundle: Bundle) -> tuple[str, Counter[str]] | None:
    if args.demo or bundle.benchmark is None:
        return None
    bench = ZOO[bundle.benchmark]
    path = args.faults
    if path is None:
        try:
            path = Path(bench.resolve(bench.fault_list, "fault list"))
        except ReadlxError:  # no published list (or no reference data): equal shares only
            return None
    return path.name, Counter(f.layer for f in load_fault_list(path, bench.layer_table()).faults)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bundle, images = load(args, Path(tmp))
        engine = bundle.engine(args.framework, batch_size=args.batch_size)
        runner = fast_runner(engine, images, engine.infer(images), FastOptions())
        if not isinstance(runner, CutRunner):
            raise SystemExit(f"{args.framework} has no probe-and-suffix runner; use campaign_speed.py")
        rows, startup = measure(runner)
        mix = fault_mix(args, bundle)
    print(f"{bundle.benchmark or bundle.path.name} on {args.framework}: {len(images)} images, batch {args.batch_size}, "
          f"whole graph {rows[0].full_s:.2f} s, runner start-up and suffix checks {startup:.1f} s")
    print(f"{'layer':<24} {'path':>6} {'exact':>5} {'suffix s':>9} {'ratio':>7}")
    for r in rows:
        print(f"{r.layer:<24} {'suffix' if r.suffix else 'whole':>6} {'yes' if r.exact else 'NO':>5} "
              f"{r.suffix_s:9.3f} {r.ratio:7.2f}")
    print(f"equal share per layer (stratified samples): ratio {weighted_ratio(rows, {r.layer: 1.0 for r in rows}):.2f}")
    if mix is not None:
        print(f"layer mix of {mix[0]} ({sum(mix[1].values())} faults): ratio {weighted_ratio(rows, dict(mix[1])):.2f}")
    inexact = [r.layer for r in rows if not r.exact]
    print("every suffix reproduces the whole graph bit for bit on every batch" if not inexact
          else f"NOT bit-exact from: {', '.join(inexact)}")
    return 1 if inexact else 0


if __name__ == "__main__":
    sys.exit(main())

"""Reference loop vs fast mode on any runtime of a bundle, in one process, with an identity check.

Draws N faults at random from the model's published fault list (its real mix of layers and bits;
``--sample stratified`` takes those of ``readlx run MODEL --sample N --seed S`` instead) and runs
them over the first M test images with the engine's fast runner (its golden pass and start-up
included), and the first K of them through the reference loop (:func:`readlx.campaign.run_fault`, one
whole inference per fault, as ``benchmarks/campaign_speed.py`` times it). It checks that both give
identical per-image outcomes on those K faults and prints seconds per fault, the ratio, how many
faulty batches stopped early (back to golden at a check), which layers ran whole-graph, and the fast
mode's cost over the floor of the faults' layers (:mod:`readlx.campaign.runners.floor`: the
multiply-accumulates an exact run cannot avoid, at the reference loop's rate). A campaign pays the
golden pass, the runner's start-up and building its suffixes once, however many faults it runs: the
benchmark also prints fast mode without those costs, and the whole published list's time from each
layer's seconds per fault (the published list's mix). On ONNX Runtime and
Keras it also prints how many faulty batches computed only the faulty convolution's output channel, and
which layers computed whole and why; ``--ablate`` runs fast mode again with the other choice (without
channel-only layers where the runtime computes them by default, with them where it does not), in the
same process, and checks that the outcomes are the same.

Usage::

    python benchmarks/runtime_speed.py BUNDLE --framework onnxruntime [--faults 100] [--images 10000]
        [--reference-faults 10] [--ablate]

Exit status: 0 when identical, 1 on any difference.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from readlx.campaign import run_fault
from readlx.campaign.runners import FastOptions, fast_runner
from readlx.campaign.runners.cut_channel import ChannelCutRunner
from readlx.campaign.runners.floor import floors, network_macs
from readlx.converters import load_bundle
from readlx.data.imageset import ImageSet
from readlx.engines.base import Engine
from readlx.engines.fxgraph import CutGraph
from readlx.fault_maps import load_fault_list
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.select import random_subset, stratified_subset
from readlx.fault_maps.sites import with_outputs
from readlx.zoo import ZOO, load_model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--framework", default="onnxruntime", help="engine of the bundle (torch, keras, onnxruntime, ...)")
    p.add_argument("--faults", type=int, default=40, help="faults of the published list")
    p.add_argument("--sample", choices=("random", "stratified"), default="random",
                   help="faults drawn at random from the list (its mix), or spread evenly over layers and bits")
    p.add_argument("--reference-faults", type=int, default=None,
                   help="the first K faults also run in reference mode (default: all)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--images", type=int, default=2560)
    p.add_argument("--data", help="data set directory (default: under the reference data)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--checks", type=int, default=FastOptions.checks, help="checks per faulty batch (fast mode)")
    p.add_argument("--ablate", action="store_true",
                   help="also run fast mode with the other choice of channel-only layers, in the same process")
    return p.parse_args(argv)


def drawn(full: FaultList, n: int, seed: int, sample: str) -> FaultList:
    """``n`` faults of ``full``: at random (the list's own mix) or stratified over layers and bits."""
    return stratified_subset(full, n, seed) if sample == "stratified" else random_subset(full, n, seed)


def reference(engine: Engine, faults: FaultList, data: ImageSet, golden: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-image outcome codes (fault x image) of the reference loop (:func:`readlx.campaign.run_fault`:
    one whole inference per fault, the golden outputs given), and its seconds."""
    start = time.perf_counter()
    codes = [run_fault(engine, fault, data.images, golden, engine.weight(fault.layer)[fault.index], True)[0]
             for fault in faults.faults]
    return np.stack(codes), time.perf_counter() - start


def fast(engine: Engine, faults: FaultList, data: ImageSet,
         options: FastOptions) -> tuple[np.ndarray, float, Any, np.ndarray, float]:
    """Per-image outcome codes of the fast runner, its seconds (golden pass and start-up included), the
    runner, the golden outputs and the golden pass's seconds."""
    start = time.perf_counter()
    golden = engine.infer(data.images)
    golden_pass = time.perf_counter() - start
    runner = fast_runner(engine, data.images, golden, options)
    codes = np.stack([outcome.codes for outcome in runner.run(faults.faults)])
    return codes, time.perf_counter() - start, runner, golden, golden_pass


def once_seconds(runner: Any, golden_pass: float) -> float:
    """What a campaign pays once, however many faults it has: the golden pass, the runner's start-up, and
    building and checking its suffixes and segments."""
    return golden_pass + runner.stats.startup_seconds + runner.stats.build_seconds


def whole_list(runner: Any, faults: FaultList, full: FaultList, golden_pass: float) -> float:
    """Seconds of fast mode on every fault of ``full``: each layer's mean seconds per sampled fault times
    its faults in the list (the mean of all where none was sampled), the golden values once per block,
    and the one-time costs once."""
    stats = runner.stats
    by_layer: dict[str, list[float]] = {}
    for fault, seconds in zip(faults.faults, stats.fault_seconds, strict=True):
        by_layer.setdefault(fault.layer, []).append(seconds)
    overall = float(np.mean(stats.fault_seconds))
    per_fault = sum(float(np.mean(by_layer.get(f.layer, [overall]))) for f in full.faults)
    blocks = -(-len(faults) // runner.block_size())
    return per_fault + -(-len(full) // runner.block_size()) * stats.golden_seconds / blocks + \
        once_seconds(runner, golden_pass)


def by_reason(whole: dict[str, str]) -> dict[str, list[str]]:
    """The layers of ``whole`` (layer: why it computes whole) under each reason."""
    out: dict[str, list[str]] = {}
    for layer, why in whole.items():
        out.setdefault(why, []).append(layer)
    return out


def floor_share(model: str, faults: FaultList, image_shape: tuple[int, ...]) -> float:
    """The faults' mean floor as a share of one whole inference's multiply-accumulates."""
    bench = ZOO[model]
    net = load_model(model)
    table = with_outputs(bench.layer_table(), net, image_shape)
    per_layer = floors(CutGraph(net, table.names), table)
    return float(np.mean([per_layer[f.layer].total for f in faults.faults])) / network_macs(table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = load_bundle(args.bundle)
    bench = ZOO[bundle.benchmark]
    published = bench.resolve(bench.fault_list, "fault list")
    full = load_fault_list(published, bench.layer_table())
    faults = drawn(full, args.faults, args.seed, args.sample)
    k = min(len(faults), args.reference_faults or len(faults))
    data = bench.load_data(args.data, args.images)
    engine = bundle.engine(args.framework, batch_size=args.batch_size)
    fast_codes, fast_s, runner, golden, golden_pass = fast(engine, faults, data, FastOptions(checks=args.checks))
    ref_codes, ref_s = reference(engine, faults.subset(range(k)), data, golden)
    identical = np.array_equal(ref_codes, fast_codes[:k])
    ref_per, fast_per = ref_s / k, fast_s / len(faults)
    floor_per = floor_share(bench.name, faults, tuple(data.images.shape[1:])) * ref_per
    print(f"{bench.name} on {args.framework}: {len(faults)} {args.sample} faults (seed {args.seed}) x {len(data)} "
          f"images, batch {args.batch_size}; reference on the first {k}")
    print(f"{'mode':<10} {'faults':>6} {'seconds':>8} {'s per fault':>12}")
    print(f"{'reference':<10} {k:>6} {ref_s:8.1f} {ref_per:12.3f}")
    print(f"{'fast':<10} {len(faults):>6} {fast_s:8.1f} {fast_per:12.3f}")
    print(f"{'floor':<10} {len(faults):>6} {'':>8} {floor_per:12.3f}")
    print(f"ratio {ref_per / fast_per:.2f} (floor {ref_per / floor_per:.2f}); fast / floor {fast_per / floor_per:.2f}; "
          f"per-image outcomes on the {k} common faults {'identical' if identical else 'DIFFERENT'}")
    stats, once = runner.stats, once_seconds(runner, golden_pass)
    steady = (fast_s - once) / len(faults)
    print(f"fast, once per campaign: {once:.1f} s (golden pass {golden_pass:.2f}, start-up "
          f"{stats.startup_seconds:.2f}, suffixes built and checked {stats.build_seconds:.2f}); per block: golden "
          f"values {stats.golden_seconds:.1f} s; faults {sum(stats.fault_seconds):.1f} s")
    print(f"fast without the once-per-campaign costs: {steady:.3f} s per fault, ratio {ref_per / steady:.2f}; "
          f"fast / floor {steady / floor_per:.2f}")
    ref_full, fast_full = len(full) * ref_per, whole_list(runner, faults, full, golden_pass)
    print(f"whole list ({len(full):,} faults, per-layer mix): reference {ref_full / 3600:.2f} h, fast "
          f"{fast_full / 3600:.2f} h, ratio {ref_full / fast_full:.2f}")
    batches = len(faults) * len(runner.layout)
    print(f"{type(runner).__name__}: {stats.stopped_batches} of {batches} faulty batches stopped "
          f"early; whole-graph layers {stats.whole_graph_layers or 'none'}; "
          f"unused checks {stats.unchecked or 'none'}")
    if isinstance(runner, ChannelCutRunner):
        print(f"{stats.channel_batches} of {batches} faulty batches computed one channel of the faulty "
              f"convolution; layers computed whole: {by_reason(runner.channel_whole) or 'none'}")
    if args.ablate:  # the other choice of channel-only layers than the runner's default
        on = not isinstance(runner, ChannelCutRunner) or runner.channel_off_because(runner.options) is None
        options = FastOptions(checks=args.checks, channel_only=not on)
        other_codes, other_s, other, _, _ = fast(engine, faults, data, options)
        same = np.array_equal(other_codes, fast_codes)
        identical = identical and same
        print(f"{'without' if on else 'with'} channel-only layers: {other_s / len(faults):.3f} s per fault, "
              f"{other_s / fast_s:.2f}x the fast run's time; {other.stats.channel_batches} channel batches; "
              f"outcomes {'identical' if same else 'DIFFERENT'}")
    print(f"runner: {json.dumps(runner.describe())}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())

"""A faulty ONNX Runtime convolution computed whole vs for the faulty output channel, layer by layer.

For each one-group ``Conv`` of a bundle's ONNX graph that fast mode computes a channel of
(:mod:`readlx.campaign.runners.onnxruntime_channel`), it times the layer's ``Conv`` on one batch of its
golden input with every filter (what the suffix of a layer computes) and with the pair of filters of
one channel (what the channel-only path computes), in the same session and process, and checks that
the channel is the same bit for bit. It prints one row per layer: the input shape, milliseconds
(median of the repeats) both ways and their ratio.

Usage::

    python benchmarks/channel_speed.py BUNDLE [--images 256] [--repeats 5]

Exit status: 0 when every channel is identical, 1 otherwise.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from readlx.campaign.runners.cut import same_bits
from readlx.campaign.runners.onnxruntime_channel import pair_of
from readlx.campaign.runners.onnxruntime_fast import OrtFastRunner
from readlx.converters import load_bundle
from readlx.zoo import ZOO


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--images", type=int, default=256, help="one batch of this many test images")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--data", help="data set directory (default: under the reference data)")
    return p.parse_args(argv)


def median_ms(session: Any, feeds: dict[str, np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Median milliseconds of ``repeats`` runs (after one untimed run), and the output."""
    out = session.run(None, feeds)[0]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bundle = load_bundle(args.bundle)
    data = ZOO[bundle.table.model].load_data(args.data, args.images)
    engine = bundle.engine("onnxruntime", batch_size=args.images)
    runner = OrtFastRunner(engine, data.images, engine.infer(data.images))
    print(f"{bundle.table.model} on onnxruntime: one batch of {len(data)} images, median of {args.repeats}")
    print(f"{'layer':<18} {'input':>16} {'whole ms':>9} {'channel ms':>11} {'ratio':>6}  identical")
    ok = True
    for layer, conv in runner.pairs.node.items():
        values = runner.golden_values([layer], runner.layout[0])
        if values is None:
            print(f"{layer:<18} probe missed golden")
            ok = False
            continue
        x, weights = values[conv.input], engine.weight_feeds
        channels = weights[conv.weight].shape[0]
        o = channels // 2
        first = pair_of(o, channels)
        session = runner.pairs.session(layer)  # its Conv node, filters fed: any number of them
        whole_ms, whole = median_ms(session, runner.pairs.feeds(layer, x, weights, 0, channels), args.repeats)
        pair_ms, pair = median_ms(session, runner.pairs.feeds(layer, x, weights, first, first + 2), args.repeats)
        same = same_bits(pair[:, o - first : o - first + 1], whole[:, o : o + 1])
        ok = ok and same
        shape = "x".join(map(str, x.shape[1:]))
        print(f"{layer:<18} {shape:>16} {whole_ms:9.2f} {pair_ms:11.2f} {whole_ms / pair_ms:6.2f}  {same}")
    print(f"layers computed whole: {runner.channel_whole or 'none'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""What a fast path for ONNX Runtime would gain: the suffix subgraph from each layer's input, measured.

For every canonical layer of a bundle's PyTorch-exported ONNX model (weights fed as graph inputs, as
:class:`readlx.engines.onnxruntime.OnnxRuntimeEngine` runs it) this benchmark:

1. extracts the subgraph from the values live at the layer's cut (its input and, inside a residual
   block, the skip connection) to the model output (``onnx.utils.Extractor``);
2. takes the golden values at the cut from a session of the full graph with them added as extra
   outputs;
3. runs the subgraph on it and checks, bit for bit, that the outputs equal the engine's own full-graph
   outputs: a fast path is exact only if ONNX Runtime optimizes both graphs into the same arithmetic;
4. times the full graph against the subgraph over the same images, in one process.

It prints one row per layer (exact or not, seconds, ratio) and the ratios weighted by two fault mixes:
equal shares per layer (the stratified samples) and the layer mix of the published fault list.

Usage::

    python benchmarks/ort_suffix.py BUNDLE [--images 2560] [--batch-size 256] [--faults FAULT_LIST]
    python benchmarks/ort_suffix.py --demo        # the demo CNN, converted here (no data needed)

Exit status: 0 when every subgraph is exact, 1 otherwise.
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
import onnx
import onnxruntime as ort
from onnx.utils import Extractor

from readlx.converters import Bundle, convert_bundle, load_bundle
from readlx.data.synthetic import synthetic
from readlx.engines.base import batches
from readlx.engines.onnxruntime import OnnxRuntimeEngine
from readlx.fast.onnxruntime_fast import live_at, with_outputs
from readlx.fault_maps import load_fault_list
from readlx.zoo import ZOO


@dataclass
class Row:
    layer: str
    exact: bool
    full_s: float
    suffix_s: float

    @property
    def ratio(self) -> float:
        return self.full_s / self.suffix_s if self.suffix_s else float("inf")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", nargs="?", type=Path, help="bundle directory (readlx convert)")
    p.add_argument("--images", type=int, default=2560, help="first M test images of the model's data set")
    p.add_argument("--data", help="data set directory (default: under the reference data)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--faults", type=Path, help="fault list whose layer mix weights the ratio")
    p.add_argument("--demo", action="store_true", help="convert and measure the demo CNN on synthetic images")
    return p.parse_args(argv)


def session(proto: onnx.ModelProto) -> ort.InferenceSession:
    """A session with the engine's settings (default optimization level "all", default threads)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, feeds: dict[str, np.ndarray], name: str, values: np.ndarray,
        batch_size: int) -> tuple[np.ndarray, float]:
    """Outputs over ``values`` fed as ``name`` on the fixed batch layout, and the seconds it took."""
    start = time.perf_counter()
    out = [sess.run(None, {name: np.ascontiguousarray(values[sl]), **feeds})[0]
           for sl in batches(len(values), batch_size)]
    return np.concatenate(out), time.perf_counter() - start


def measure(engine: OnnxRuntimeEngine, fed: onnx.ModelProto, images: np.ndarray, batch_size: int) -> list[Row]:
    feeds = dict(engine.weight_feeds)
    golden, full_s = run(engine.session, feeds, engine.image_input, images, batch_size)
    inferred = onnx.shape_inference.infer_shapes(fed)
    output = fed.graph.output[0].name
    rows = []
    constants = set(feeds) | {t.name for t in fed.graph.initializer}
    for layer in engine.table.names:
        live = live_at(fed, engine.fed_name(layer), constants)
        if engine.image_input in live:  # the suffix still reads the images: it is the whole graph
            rows.append(Row(layer, True, full_s, full_s))
            continue
        probe = session(with_outputs(fed, live))
        acts = [probe.run(live, {engine.image_input: np.ascontiguousarray(images[sl]), **feeds})
                for sl in batches(len(images), batch_size)]
        sub = Extractor(inferred).extract_model([*live, *feeds], [output])
        sub_sess = session(sub)
        used = {i.name for i in sub_sess.get_inputs()}
        sub_feeds = {k: v for k, v in feeds.items() if k in used}
        start = time.perf_counter()
        out = np.concatenate([sub_sess.run(None, {**dict(zip(live, a)), **sub_feeds})[0] for a in acts])
        suffix_s = time.perf_counter() - start
        exact = out.shape == golden.shape and np.array_equal(out.view(np.uint32), golden.view(np.uint32))
        rows.append(Row(layer, exact, full_s, suffix_s))
    return rows


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        bundle, images = load(args, Path(tmp))
        engine = bundle.engine("onnxruntime", batch_size=args.batch_size)
        rows = measure(engine, engine.proto, images, args.batch_size)
    print(f"ONNX Runtime {ort.__version__}, {len(images)} images, batch {args.batch_size}, "
          f"full graph {rows[0].full_s:.2f} s")
    print(f"{'layer':<20} {'exact':>5} {'suffix s':>9} {'ratio':>7}")
    for r in rows:
        print(f"{r.layer:<20} {'yes' if r.exact else 'NO':>5} {r.suffix_s:9.3f} {r.ratio:7.2f}")
    print(f"equal share per layer (stratified samples): ratio {weighted_ratio(rows, {r.layer: 1.0 for r in rows}):.2f}")
    if args.faults is not None and bundle.benchmark is not None:
        mix = Counter(f.layer for f in load_fault_list(args.faults, ZOO[bundle.benchmark].layer_table()))
        print(f"layer mix of {args.faults.name} ({sum(mix.values())} faults): ratio "
              f"{weighted_ratio(rows, dict(mix)):.2f}")
    inexact = [r.layer for r in rows if not r.exact]
    print("every suffix subgraph reproduces the full graph bit for bit" if not inexact
          else f"NOT bit-exact from: {', '.join(inexact)}")
    return 1 if inexact else 0


if __name__ == "__main__":
    sys.exit(main())

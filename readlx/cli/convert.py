"""``readlx convert MODEL --out DIR``: a zoo model converted to Keras and ONNX, with its equivalence report."""
from __future__ import annotations

import argparse
import time


def cmd_convert(args: argparse.Namespace) -> int:
    from readlx.converters.bundle import convert_bundle
    from readlx.zoo import ZOO

    bench = ZOO[args.model]
    images = labels = None
    if args.images:
        data = bench.load_data(args.data, args.images)
        images, labels = data.images, data.labels
    t0 = time.perf_counter()
    bundle = convert_bundle(args.model, args.out, checkpoint=args.weights, images=images, labels=labels,
                            tolerance=args.tolerance, require_equivalent=not args.keep_failing,
                            overwrite=args.overwrite)
    report = bundle.report
    assert report is not None  # a bundle just converted holds its equivalence report
    print(report.format())
    print(f"bundle {args.out} written in {time.perf_counter() - t0:.1f} s")
    return 0 if report.ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``convert``."""
    c = sub.add_parser("convert", help="convert a zoo model to Keras and ONNX, with an equivalence report")
    c.add_argument("model")
    c.add_argument("--out", required=True, help="bundle directory")
    c.add_argument("--weights", help="checkpoint (default: the published one, else seeded random weights)")
    c.add_argument("--images", type=int, help="check equivalence on the first N test images (default: 16 random)")
    c.add_argument("--data", help="dataset directory for --images")
    c.add_argument("--tolerance", type=float, default=1e-5,
                   help="largest difference vs PyTorch, times max(1, largest |value|) of each tensor "
                        "(default %(default)g)")
    c.add_argument("--keep-failing", action="store_true", help="write the bundle even if the check fails")
    c.add_argument("--overwrite", action="store_true")
    c.set_defaults(func=cmd_convert)

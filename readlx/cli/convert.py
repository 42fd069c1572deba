"""``readlx convert MODEL -o DIR``: a zoo model, ONNX file or Keras model converted to every runtime,
with its equivalence report."""
from __future__ import annotations

import argparse
import time

from readlx.cli import types
from readlx.errors import ArgumentError


def cmd_convert(args: argparse.Namespace) -> int:
    from readlx.campaign.inputs import image_data, subject
    from readlx.converters.conversion import convert_bundle

    model = subject(args.model, weights=args.weights)
    images = labels = None
    if args.images or args.data:
        data = image_data(args.data, model, args.images)
        images, labels = data.images, data.labels
    source = args.model if model.benchmark is not None else model.original
    if source is None:
        raise ArgumentError(f"{args.model!r} is converted already (a bundle directory)", argument="model")
    t0 = time.perf_counter()
    bundle = convert_bundle(source, args.out, table=model.artifact.table, checkpoint=args.weights, images=images,
                            labels=labels, input_shape=model.input_shape, tolerance=args.tolerance,
                            require_equivalent=not args.keep_failing, force=args.force)
    report = bundle.report
    assert report is not None  # a bundle just converted holds its equivalence report
    print(report.format())
    print(f"bundle {args.out} written in {time.perf_counter() - t0:.1f} s")
    return 0 if report.ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``convert``."""
    c = sub.add_parser("convert", help="convert a model to every runtime, with an equivalence report")
    c.add_argument("model", help="zoo name, .onnx file, or Keras SavedModel directory, .keras or .h5 file")
    c.add_argument("-o", "--out", required=True, metavar="DIR", help="bundle directory to write")
    c.add_argument("--weights", metavar="FILE",
                   help="weights file of a zoo model (default: its published weights, the shipped ones for the "
                        "demo model, else seeded random weights)")
    c.add_argument("--images", type=types.count, metavar="N",
                   help="check equivalence on the first N images (default: 16 random)")
    c.add_argument("--data", help="images of the check: dataset name or directory, or .npz file (default: the "
                                  "zoo model's test set)")
    c.add_argument("--tolerance", type=types.positive, default=1e-5,
                   help="largest difference vs PyTorch, times max(1, largest |value|) of each tensor "
                        "(default %(default)g)")
    c.add_argument("--keep-failing", action="store_true", help="write the bundle even if the check fails")
    c.add_argument("--force", action="store_true", help="replace an existing bundle directory readlx wrote")
    c.set_defaults(func=cmd_convert)

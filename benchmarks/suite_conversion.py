"""Convert every benchmark of the suite and run a short three-runtime campaign on each bundle.

For each benchmark (all of them, smallest first, or those named on the command line) it:

1. converts the model to a bundle (Keras SavedModel, two ONNX files, name maps) with its seeded random
   weights, or the published checkpoint for the CIFAR-10 ResNets, checking equivalence on a few
   standard-normal images (``--check-images``, seed 0) at ``--tolerance``;
2. runs ``--faults`` network-wise generated bit flips plus the no-op control fault (a stuck-at equal
   to the stored bit, forced through inference) over ``--images`` standard-normal images on the
   torch, keras and onnxruntime engines of the bundle;
3. prints one row per benchmark: parameters, conversion seconds, output max-abs difference of each
   runtime against PyTorch, whether every canonical layer has keras / onnxruntime / onnx-keras
   bindings, campaign seconds per runtime, outcome shares and whether the control came out 100 %
   masked everywhere. A benchmark that fails records its error message instead.

DeepLabV3 is converted at ``--deeplab-size`` (default 64) instead of its card's 520×520: the model is
then given to :func:`convert_bundle` as a module with ``input_shape=`` and the zoo's layer table. Its
campaign is a segmentation campaign (masked / tolerable / critical on label maps, pixel accuracy and
mIoU against seeded random label maps); the tolerable share is reported in the non-critical column.

Usage::

    python benchmarks/suite_conversion.py [NAME ...] [--faults 20] [--images 32] [--json out.json]
        [--out DIR] [--keep]

Exit status: 0 when every benchmark converted, matched and passed the control, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from readlx.campaign import CampaignOptions, noop_control, run_campaign
from readlx.converters.bundle import Bundle, convert_bundle
from readlx.converters.namemaps import KERAS, ONNX_KERAS, ONNX_TORCH, executed_modules
from readlx.data.imageset import ImageSet
from readlx.data.voc import SegmentationSet
from readlx.engines.base import Engine
from readlx.fault_maps import generate
from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList
from readlx.graph import LayerTable
from readlx.zoo import ZOO, load_model

ORDER = (
    "resnet20-gtsrb",
    "mobilenetv2-cifar10",
    "googlenet-cifar10",
    "googlenet-cifar100",
    "resnet18-cifar100",
    "densenet121-cifar10",
    "densenet121-cifar100",
    "densenet121-gtsrb",
    "vgg11bn-cifar10",
    "vgg11bn-gtsrb",
    "vgg13bn-cifar10",
    "densenet161-cifar10",
    "resnet20-cifar10",
    "resnet32-cifar10",
    "resnet44-cifar10",
    "deeplabv3-resnet50-voc",
)
"""Every benchmark: the new conversions roughly smallest first, the published ResNets, then DeepLabV3."""
RUNTIMES = ("torch", "keras", "onnxruntime")
CHECKED = ("keras", "onnxruntime", "onnxruntime-keras")
DEEPLAB = "deeplabv3-resnet50-voc"
_T99 = 2.576
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Row:
    """The measurements of one benchmark (``error`` set when a step failed)."""

    benchmark: str
    input_shape: list[int] = field(default_factory=list)
    params: int | None = None
    weights: str = ""
    convert_s: float | None = None
    max_abs: dict[str, float] = field(default_factory=dict)
    equivalent: bool | None = None
    namemaps_complete: bool | None = None
    missing_bindings: dict[str, list[str]] = field(default_factory=dict)
    campaign_s: dict[str, float] = field(default_factory=dict)
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    control_masked: bool | None = None
    not_executed: list[str] = field(default_factory=list)
    error: str | None = None
    stage: str = ""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("benchmarks", nargs="*", help=f"zoo names (default: all, in the order {', '.join(ORDER)})")
    p.add_argument("--faults", type=int, default=20, help="network-wise generated faults per model")
    p.add_argument("--images", type=int, default=32, help="standard-normal images of the campaign")
    p.add_argument("--check-images", type=int, default=8, help="images of the equivalence check")
    p.add_argument("--tolerance", type=float, default=1e-4, help="output max-abs bound of the check")
    p.add_argument("--deeplab-size", type=int, default=64, help="DeepLabV3 input height and width")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="bundle directory (default: a temporary one, removed)")
    p.add_argument("--json", type=Path, help="write the table as JSON here (rewritten after each model)")
    return p.parse_args(argv)


def input_shape(name: str, deeplab_size: int) -> tuple[int, ...]:
    shape = tuple(ZOO[name].input_shape)
    if name == DEEPLAB:
        return (shape[0], deeplab_size, deeplab_size)
    return shape


def normal_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def convert(name: str, where: Path, args: argparse.Namespace, row: Row) -> Bundle:
    """Bundle of ``name``; the small-input DeepLabV3 goes in as a module with the zoo's layer table."""
    bench = ZOO[name]
    shape = input_shape(name, args.deeplab_size)
    row.input_shape = list(shape)
    model = load_model(name)
    row.params = int(sum(p.numel() for p in model.parameters()))
    row.weights = "published checkpoint" if bench.checkpoint is not None else "seeded random"
    images = normal_images(args.check_images, shape, args.seed)
    source: Any = model if name == DEEPLAB else name
    extra: dict[str, Any] = {}
    if name == DEEPLAB:
        extra = {"table": executed_table(model, name, shape), "input_shape": shape}
        row.not_executed = [n for n in bench.layer_table().names if n not in extra["table"].names]
    start = time.perf_counter()
    bundle = convert_bundle(
        source, where, images=images, tolerance=args.tolerance, require_equivalent=False,
        force=True, inputs=f"{args.check_images} standard-normal images (seed {args.seed})", **extra,
    )
    row.convert_s = time.perf_counter() - start
    return bundle


def executed_table(model: Any, name: str, shape: tuple[int, ...]) -> LayerTable:
    """The zoo's layer table without the layers inference never runs (DeepLabV3's auxiliary head).

    Those weights are in no converted artifact: a fault there is masked by construction, on every
    runtime, and cannot be injected outside PyTorch.
    """
    table = ZOO[name].layer_table()
    example = torch.zeros((1, *shape))
    run = set(executed_modules(model, table.names, example))
    return LayerTable(table.model, tuple(layer for layer in table.layers if layer.name in run))


def record_equivalence(bundle: Bundle, row: Row) -> None:
    report = bundle.report
    if report is None:
        return
    row.equivalent = report.ok
    row.max_abs = {r.framework: r.output.max_abs for r in report.runtimes}


def record_bindings(bundle: Bundle, row: Row) -> None:
    names = bundle.table.names
    for framework in (KERAS, ONNX_TORCH, ONNX_KERAS):
        bound = bundle.table.bindings.get(framework, {})
        missing = [n for n in names if n not in bound]
        if missing:
            row.missing_bindings[framework] = missing
    row.namemaps_complete = not row.missing_bindings


def engines(bundle: Bundle, name: str, batch_size: int) -> list[Engine]:
    out = []
    for framework in RUNTIMES:
        options: dict[str, Any] = {}
        if framework == "torch" and bundle.benchmark is None:
            options["model"] = ZOO[name].build()
        out.append(bundle.engine(framework, batch_size=batch_size, **options))
    return out


def campaign(bundle: Bundle, name: str, args: argparse.Namespace, row: Row) -> None:
    """The generated faults plus the control, each runtime timed on its own."""
    runtimes = engines(bundle, name, args.batch_size)
    control = noop_control(runtimes[0])
    faults = FaultList.from_faults(name, (*generated_faults(bundle, args.faults, args.seed), control))
    data = campaign_data(name, tuple(bundle.input_shape), args)
    controls = []
    for engine in runtimes:
        start = time.perf_counter()
        ds = run_campaign([engine], faults, data, model=name, options=CampaignOptions(skip_noop=False))
        row.campaign_s[engine.framework] = time.perf_counter() - start
        row.shares[engine.framework] = outcome_shares(ds, len(faults) - 1)
        controls.append(int(ds.masked.isel(model=0, fault=-1).sum()) == args.images)
    row.control_masked = all(controls)


def campaign_data(name: str, shape: tuple[int, ...], args: argparse.Namespace) -> ImageSet | SegmentationSet:
    """Standard-normal images; label maps of seeded random classes for a segmentation model."""
    classes = tuple(str(i) for i in range(ZOO[name].num_classes))
    images = normal_images(args.images, shape, args.seed + 1)
    if ZOO[name].task != "image segmentation":
        return ImageSet("standard-normal", images, np.zeros(args.images, np.int64), classes)
    labels = np.random.default_rng(args.seed + 2).integers(0, len(classes), (args.images, *shape[1:]))
    return SegmentationSet("standard-normal", images, labels.astype(np.uint8), classes)


def generated_faults(bundle: Bundle, k: int, seed: int) -> tuple[Fault, ...]:
    """``k`` faults drawn at random from a network-wise list of at least ``k`` (99 % confidence)."""
    margin = 0.9 * math.sqrt(_T99**2 * 0.25 / max(k, 1))
    drawn = generate(bundle.table, margin=margin, mode="network-wise", seed=seed).faults
    pick = np.sort(np.random.default_rng(seed).choice(len(drawn), size=min(k, len(drawn)), replace=False))
    return tuple(drawn[i] for i in pick)


def outcome_shares(ds: Any, n_generated: int) -> dict[str, float]:
    """Shares of masked / non-critical / critical inferences over the generated faults."""
    generated = ds.isel(model=0, fault=slice(0, n_generated))
    sums = {k: float(generated[k].sum()) for k in ("masked", "non_critical", "critical")}
    total = sum(sums.values()) or 1.0
    return {k: v / total for k, v in sums.items()}


def measure(name: str, root: Path, args: argparse.Namespace) -> Row:
    row = Row(name)
    try:
        row.stage = "conversion"
        bundle = convert(name, root / name, args, row)
        record_equivalence(bundle, row)
        record_bindings(bundle, row)
        row.stage = "campaign"
        campaign(bundle, name, args, row)
        row.stage = "done"
    except Exception as e:  # one failing model must not stop the sweep
        row.error = f"{type(e).__name__}: {e}".strip()
        traceback.print_exc(file=sys.stderr)
    return row


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def format_row(row: Row) -> str:
    diffs = " ".join(_num(row.max_abs.get(r), ".1e") for r in CHECKED)
    secs = " ".join(_num(row.campaign_s.get(r), ".1f") for r in RUNTIMES)
    params = _num(None if row.params is None else row.params / 1e6, ".2f")
    line = (
        f"{row.benchmark:24s} {params:>7s}M {_num(row.convert_s, '.0f'):>6s}  {diffs:27s}  "
        f"{_flag(row.namemaps_complete):4s}  {secs:17s}  {_flag(row.control_masked)}"
    )
    if row.error:
        line += f"\n    FAILED in {row.stage}: {summary(row.error)}"
    return line


def summary(message: str, width: int = 300) -> str:
    """First and last lines of an error message (a conversion log's tail ends with the cause)."""
    lines = [line.strip() for line in _ANSI.sub("", message).splitlines() if line.strip()]
    if len(lines) > 1:
        lines = [lines[0], lines[-1]]
    return " ... ".join(line[:width] for line in lines)


def format_table(rows: list[Row]) -> str:
    head = (
        f"{'benchmark':24s} {'params':>8s} {'conv s':>6s}  {'max|Δ| keras ort ort-keras':27s}  "
        f"{'maps':4s}  {'camp s torch/k/ort':17s}  control"
    )
    return "\n".join([head, "-" * len(head), *(format_row(r) for r in rows)])


def write_json(path: Path, rows: list[Row], args: argparse.Namespace) -> None:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    path.write_text(json.dumps({"settings": settings, "rows": [asdict(r) for r in rows]}, indent=1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.benchmarks or list(ORDER)
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)}", file=sys.stderr)
        return 2
    root = args.out or Path(tempfile.mkdtemp(prefix="readlx-suite-"))
    rows: list[Row] = []
    try:
        for name in names:
            print(f"== {name}", file=sys.stderr, flush=True)
            rows.append(measure(name, root, args))
            print(format_row(rows[-1]), flush=True)
            if args.json:
                write_json(args.json, rows, args)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(format_table(rows))
    good = all(r.error is None and r.equivalent and r.namemaps_complete and r.control_masked for r in rows)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

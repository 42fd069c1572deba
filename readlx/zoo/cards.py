"""Training recipes of the published benchmarks and the text of a benchmark card.

The recipes are the suite's published training rows; they are data for the card and for the
"training process" characterization axis, never used to train anything here.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch

from readlx.errors import ReadlxError
from readlx.graph import LayerTable
from readlx.paths import data_root
from readlx.zoo.registry import Benchmark

SCHEDULES = ("step", "polynomial")


@dataclass(frozen=True)
class Training:
    """How a benchmark was trained.

    Parameters
    ----------
    optimizer
        ``"Adam"`` or ``"SGD"``.
    batch, epochs, lr
        Batch size, number of epochs and initial learning rate.
    decay
        ``"step"`` schedule: factor applied to the learning rate at each milestone;
        ``"polynomial"`` schedule: the power of ``(1 - step / steps)``.
    milestones
        Epochs at which a step schedule decays (empty for a polynomial one).
    schedule
        One of :data:`SCHEDULES`.
    train_set
        What it was trained on, when that is not the training split of its test set.

    Examples
    --------
    >>> Training("Adam", 128, 200, 0.001, 0.1, (50, 100, 150)).describe()
    'Adam, batch 128, 200 epochs, lr 0.001, x0.1 at epochs 50/100/150'
    """

    optimizer: str
    batch: int
    epochs: int
    lr: float
    decay: float
    milestones: tuple[int, ...] = ()
    schedule: str = "step"
    train_set: str | None = None

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ReadlxError(
                f"unknown learning-rate schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}"
            )

    def describe(self) -> str:
        """One line: optimizer, batch, epochs, learning rate and its schedule."""
        if self.schedule == "polynomial":
            decay = f"polynomial decay, power {self.decay:g}"
        else:
            decay = f"x{self.decay:g} at epochs " + "/".join(str(m) for m in self.milestones)
        text = f"{self.optimizer}, batch {self.batch}, {self.epochs} epochs, lr {self.lr:g}, {decay}"
        return f"{text}; trained on {self.train_set}" if self.train_set else text


_RESNET_CIFAR10 = Training("Adam", 128, 200, 0.001, 0.1, (50, 100, 150))
_CIFAR10 = Training("Adam", 128, 250, 0.001, 0.2, (50, 100, 150, 200))
_CIFAR100 = Training("SGD", 128, 200, 0.1, 0.02, (60, 120, 160))
_GTSRB = Training("Adam", 128, 200, 0.001, 0.1, (50, 100, 150))
_DEEPLAB = Training(
    "SGD", 32, 30, 0.02, 0.9, schedule="polynomial",
    train_set="COCO restricted to the 20 PASCAL VOC classes plus background",
)

TRAINING: Mapping[str, Training] = MappingProxyType(
    {
        "resnet20-cifar10": _RESNET_CIFAR10,
        "resnet32-cifar10": _RESNET_CIFAR10,
        "resnet44-cifar10": _RESNET_CIFAR10,
        "googlenet-cifar10": _CIFAR10,
        "densenet121-cifar10": _CIFAR10,
        "densenet161-cifar10": _CIFAR10,
        "mobilenetv2-cifar10": _CIFAR10,
        "vgg11bn-cifar10": _CIFAR10,
        "vgg13bn-cifar10": _CIFAR10,
        "resnet18-cifar100": _CIFAR100,
        "googlenet-cifar100": _CIFAR100,
        "densenet121-cifar100": _CIFAR100,
        "resnet20-gtsrb": _GTSRB,
        "vgg11bn-gtsrb": _GTSRB,
        "densenet121-gtsrb": _GTSRB,
        "deeplabv3-resnet50-voc": _DEEPLAB,
    }
)
"""Published training row of every benchmark of the suite, by zoo name."""


def shape_only(bench: Benchmark) -> torch.nn.Module:
    """The benchmark's network on the meta device: shapes and names, no memory, no init cost."""
    with torch.device("meta"):
        return bench.build()


def parameter_count(bench: Benchmark) -> int:
    """Number of elements of all parameters (BatchNorm included, buffers excluded).

    >>> from readlx.zoo import ZOO
    >>> parameter_count(ZOO["resnet20-cifar10"])
    269722
    """
    return sum(p.numel() for p in shape_only(bench).parameters())


def format_card(bench: Benchmark, root: Path | None = None) -> str:
    """The benchmark card as text, as ``readlx zoo show NAME`` prints it.

    Parameters
    ----------
    bench
        The benchmark.
    root
        Reference data root used to tell which published files are present; defaults to
        :func:`readlx.paths.data_root`.

    Examples
    --------
    >>> from readlx.zoo import ZOO
    >>> print(format_card(ZOO["resnet20-cifar10"]).splitlines()[0])
    resnet20-cifar10: ResNet20 on cifar10
    """
    model = shape_only(bench)
    table = LayerTable.from_torch(model, bench.name)
    params = sum(p.numel() for p in model.parameters())
    training = TRAINING.get(bench.name)
    norm = bench.normalization
    lines = [
        f"{bench.name}: {bench.architecture} on {bench.dataset}",
        f"  task              {bench.task}",
        f"  classes           {bench.num_classes}",
        f"  input shape       {'x'.join(str(s) for s in bench.input_shape)} (C x H x W)",
        f"  normalization     mean {_floats(norm.mean)}, std {_floats(norm.std)}",
        f"  parameters        {params:,}",
        f"  injectable        {_layer_summary(table)}",
        f"  training          {training.describe() if training else 'not published'}",
        "  characterization",
        *(f"    {axis:<20} {value}" for axis, value in bench.characterization().items()),
        *_file_lines(bench, root if root is not None else data_root()),
    ]
    return "\n".join(lines)


def _floats(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _layer_summary(table: LayerTable) -> str:
    kinds = [layer.kind for layer in table]
    parts = ", ".join(f"{kinds.count(k)} {k}" for k in ("conv", "linear") if k in kinds)
    return f"{len(table)} layers ({parts}), {table.total_weights:,} weights"


def _file_lines(bench: Benchmark, root: Path | None) -> list[str]:
    files = {
        "weights": bench.checkpoint,
        "fault list": bench.fault_list,
        "TF fault list": bench.tf_fault_list,
        "name map": bench.match_file,
    }
    lines = [f"  files (data root: {root if root is not None else 'not found'})"]
    for what, rel in files.items():
        if rel is None:
            state, rel = "not published", ""
        elif root is None:
            state = "unknown"
        else:
            state = "present" if (root / rel).exists() else "missing"
        lines.append(f"    {what:<14} {state:<13} {rel}".rstrip())
    return lines

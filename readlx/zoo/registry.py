"""The model zoo: one benchmark card per published model, filled by explicit registration."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch.nn as nn

from readlx.data.imageset import ImageSet, Normalization
from readlx.errors import CheckpointError, ReadlxError
from readlx.graph import LayerTable
from readlx.paths import data_root
from readlx.registry import Registry

PUBLISHED_AXES = ("framework", "hardware_platform", "dataset")
"""Characterization axes of the published measurements rather than of the model."""


@dataclass(frozen=True)
class Benchmark:
    """A benchmark card: architecture, dataset, preprocessing, weights and published fault lists.

    Paths (``checkpoint``, ``fault_list``, ``tf_fault_list``, ``match_file``) are relative to the
    reference data root (see :func:`readlx.paths.data_root`); ``None`` when not published.
    """

    name: str
    architecture: str
    dataset: str
    num_classes: int
    normalization: Normalization
    build: Callable[[], nn.Module]
    read_checkpoint: Callable[[nn.Module, Path], nn.Module]
    checkpoint: str | None = None
    fault_list: str | None = None
    tf_fault_list: str | None = None
    match_file: str | None = None
    task: str = "image classification"
    input_shape: tuple[int, int, int] = (3, 32, 32)
    axes: dict[str, str] = field(default_factory=dict)

    def characterization(self) -> dict[str, str]:
        """The paper's characterization axes of this benchmark, as a result's attrs record them.

        The axes that say where and on what the published results were measured are named
        ``published_*`` (:data:`PUBLISHED_AXES`): a run's own framework, machine and data are in its
        ``runtimes``, ``host_*`` and ``dataset`` attrs. The axes of the model itself (task, training
        process, data representation) hold for every run of it. ``axes`` use the unprefixed names.

        >>> from readlx.zoo import ZOO
        >>> axes = ZOO["resnet20-cifar10"].characterization()
        >>> axes["published_hardware_platform"], axes["published_framework"], axes["task"]
        ('GPU', 'PyTorch', 'image classification')
        """
        base = {
            "framework": "PyTorch",
            "hardware_platform": "GPU",
            "task": self.task,
            "dataset": self.dataset,
            "training_process": "supervised",
            "data_representation": "fp32",
        }
        base.update(self.axes)
        return {f"published_{k}" if k in PUBLISHED_AXES else k: v for k, v in base.items()}

    def resolve(self, relative: str | None, what: str) -> Path:
        root = data_root()
        if relative is None:
            raise ReadlxError(f"{self.name}: no published {what}")
        if root is None:
            raise ReadlxError(
                f"{self.name}: the {what} lives in the reference data, which was not found; set "
                "READLX_DATA or place it at ../shared/data"
            )
        return root / relative

    def load(self, checkpoint: str | Path | None = None) -> nn.Module:
        """Build the model and load its weights (the published checkpoint unless one is given)."""
        path = Path(checkpoint) if checkpoint is not None else self.resolve(self.checkpoint, "checkpoint")
        if not path.exists():
            raise CheckpointError("checkpoint not found", path=path)
        return self.read_checkpoint(self.build(), path)

    def layer_table(self) -> LayerTable:
        return LayerTable.from_torch(self.build(), self.name)

    def load_data(self, root: str | Path | None = None, limit: int | None = None) -> ImageSet:
        """The benchmark's test set (its first ``limit`` images), normalized as the suite does."""
        from readlx.data.loaders import load_dataset

        return load_dataset(self.dataset, root, self.normalization, limit)


ZOO: Registry[Benchmark] = Registry("model")

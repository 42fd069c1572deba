"""A model as the runtimes take it: the canonical layer table, the PyTorch module and converted files.

Engines are built from an :class:`Artifact` and never see where it came from (a zoo checkpoint, a
converted bundle, a module in memory), so every runtime reads one neutral description of the model.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.errors import ReadlxError
from readlx.graph import LayerTable

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


@dataclass(frozen=True)
class Artifact:
    """The canonical table of a model, a way to build its PyTorch module, and its converted files.

    Parameters
    ----------
    table
        Canonical layers, with the bindings of every converted file.
    module
        Builds a fresh PyTorch module holding the model's weights (each engine gets its own, so no
        engine changes another's or the caller's module); None when there is none.
    files
        Converted files by binding key: ``"keras"`` (a SavedModel directory), ``"onnxruntime"`` (the
        ONNX export of the PyTorch model), ``"onnx-keras"`` (the ONNX export of the Keras model).

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> art = Artifact.of_module(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table())
    >>> art.torch_module() is not art.torch_module()
    True
    >>> art.file("keras")
    Traceback (most recent call last):
    ...
    readlx.errors.ReadlxError: model 'democnn-synthetic10' has no converted 'keras' file (it has none);
    convert it first (readlx convert MODEL --out DIR, then --bundle DIR)
    """

    table: LayerTable
    module: Callable[[], nn.Module] | None = None
    files: Mapping[str, Path] = field(default_factory=dict)

    @classmethod
    def of_module(cls, model: nn.Module, table: LayerTable) -> Artifact:
        """An artifact of a module in memory (each engine gets a deep copy; ``model`` is not changed)."""
        return cls(table, lambda: copy.deepcopy(model))

    def torch_module(self) -> nn.Module:
        """A new PyTorch module with the model's weights."""
        if self.module is None:
            raise ReadlxError(f"model {self.table.model!r} has no PyTorch module in this artifact")
        return self.module()

    def file(self, key: str) -> Path:
        """The converted file of binding ``key``."""
        if key not in self.files:
            have = ", ".join(sorted(self.files)) or "none"
            raise ReadlxError(
                f"model {self.table.model!r} has no converted {key!r} file (it has {have}); convert it "
                "first (readlx convert MODEL --out DIR, then --bundle DIR)"
            )
        return self.files[key]

    def has(self, key: str) -> bool:
        """Does this artifact hold what binding ``key`` needs (``"torch"``: the PyTorch module)?"""
        return self.module is not None if key == "torch" else key in self.files

    def require(self, keys: tuple[str, ...], runtime: str) -> None:
        """Raise before any work when runtime ``runtime`` needs files this artifact lacks."""
        for key in keys:
            if key == "torch":
                if self.module is None:
                    raise ReadlxError(f"runtime {runtime!r} runs the PyTorch module, which model "
                                      f"{self.table.model!r} does not have here")
            else:
                self.file(key)

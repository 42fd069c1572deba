"""The canonical layer table: every injectable weight of a model, named the PyTorch way.

Canonical addressing (invariant 1 of docs/architecture.md): a layer is the qualified name of a PyTorch ``Conv2d`` or
``Linear`` module; its weight is indexed in PyTorch layout, conv ``(O, I/groups, kH, kW)`` and linear
``(O, I)``. Other frameworks' names and layouts are attached as *bindings* (framework -> canonical
layer -> framework name, variable and axis permutation), which are derived from the weights themselves.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from readlx._typing import Array
from readlx.errors import FaultListError, InputError, RegistryError

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from readlx.fault_maps.fault import Fault

LAYER_KINDS = ("conv", "linear")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Layer:
    """One injectable weight tensor in canonical layout."""

    name: str
    kind: str
    shape: tuple[int, ...]
    groups: int = 1

    def __post_init__(self) -> None:
        if self.kind not in LAYER_KINDS:
            raise InputError(f"layer {self.name!r}: kind {self.kind!r} is not one of {LAYER_KINDS}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


def inverse_permutation(permutation: Sequence[int]) -> tuple[int, ...]:
    """The permutation that undoes ``permutation``.

    >>> inverse_permutation((2, 3, 1, 0))
    (3, 2, 0, 1)
    """
    inverse = [0] * len(permutation)
    for k, axis in enumerate(permutation):
        inverse[int(axis)] = k
    return tuple(inverse)


@dataclass(frozen=True)
class Binding:
    """Where a canonical layer's weight lives in another framework.

    ``permutation[k]`` is the canonical axis that the framework tensor's axis ``k`` holds, so that
    ``framework_tensor == canonical_tensor.transpose(permutation)``.
    """

    name: str
    variable: str
    permutation: tuple[int, ...]

    def to_framework_index(self, index: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(index[axis] for axis in self.permutation)

    def to_canonical_index(self, index: tuple[int, ...]) -> tuple[int, ...]:
        out = [0] * len(self.permutation)
        for k, axis in enumerate(self.permutation):
            out[axis] = index[k]
        return tuple(out)

    def to_framework_array(self, canonical: Array) -> Array:
        """``canonical`` (a weight in canonical layout) as the framework stores it (a view)."""
        return canonical.transpose(self.permutation)

    def to_canonical_array(self, stored: Array) -> Array:
        """A C-contiguous copy of ``stored`` (a weight as the framework stores it) in canonical layout.

        >>> b = Binding("dense", "dense/kernel:0", (1, 0))
        >>> b.to_canonical_array(np.arange(6, dtype=np.float32).reshape(3, 2)).shape
        (2, 3)
        """
        return np.array(stored.transpose(inverse_permutation(self.permutation)), order="C", copy=True)


@dataclass
class LayerTable:
    """Ordered canonical layers of one model, plus the per-framework bindings.

    Examples
    --------
    >>> t = LayerTable("m", (Layer("fc", "linear", (2, 3)),))
    >>> t["fc"].numel
    6
    >>> LayerTable.from_json(t.to_json()) == t
    True
    """

    model: str
    layers: tuple[Layer, ...]
    bindings: dict[str, dict[str, Binding]] = field(default_factory=dict)
    outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Each layer's output shape without the batch axis, canonical (NCHW) layout: the addresses of
    activation faults. Filled by :func:`readlx.fault_maps.sites.with_outputs`; empty when unknown."""
    normalized: dict[str, str] = field(default_factory=dict)
    """Layer -> the BatchNorm module (PyTorch name) applied to its output: the layers that have a
    ``normalized`` site. Filled with :attr:`outputs`."""

    def __post_init__(self) -> None:
        self.layers = tuple(self.layers)
        self._by_name = {layer.name: layer for layer in self.layers}
        if len(self._by_name) != len(self.layers):
            raise InputError(f"model {self.model!r}: duplicate canonical layer names")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerTable):
            return NotImplemented
        return (self.model, self.layers, self.bindings, self.outputs, self.normalized) == (
            other.model, other.layers, other.bindings, other.outputs, other.normalized)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Layer:
        try:
            return self._by_name[name]
        except KeyError as e:
            raise RegistryError(
                f"model {self.model!r} has no injectable layer {name!r}; available: "
                + ", ".join(self.names)
            ) from e

    def digest(self) -> str:
        """sha256 of the model name and every layer's name, kind and shape: what faults are checked against.

        >>> LayerTable("m", (Layer("fc", "linear", (2, 3)),)).digest()[:12]
        '42f223694c58'
        """
        text = "\n".join([self.model, *(f"{layer.name}|{layer.kind}|{layer.shape}" for layer in self.layers)])
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def total_weights(self) -> int:
        return sum(layer.numel for layer in self.layers)

    def binding(self, framework: str, layer: str) -> Binding:
        try:
            return self.bindings[framework][layer]
        except KeyError as e:
            known = ", ".join(sorted(self.bindings)) or "(none)"
            raise RegistryError(
                f"no {framework!r} binding for layer {layer!r} of {self.model!r}; "
                f"frameworks with bindings: {known}"
            ) from e

    def check_fault(self, fault: Fault) -> None:
        """Raise :class:`FaultListError` unless ``fault`` addresses an element of this model.

        An activation fault is checked against the layer's output shape in :attr:`outputs`; where
        that is unknown, only its rank (3 for a conv's ``(C, H, W)``, 1 for a linear's ``(F,)``), and
        the engine checks the index against the tensor when it injects.

        >>> from readlx.fault_maps.fault import Fault, Site
        >>> t = LayerTable("m", (Layer("fc", "linear", (2, 3)),), outputs={"fc": (2,)})
        >>> t.check_fault(Fault("fc", (2,), 0, site=Site.ACTIVATION))
        Traceback (most recent call last):
        ...
        readlx.errors.FaultListError: field 'index': index (2,) is out of range for the output of layer 'fc' ...
        """
        if fault.layer not in self._by_name:
            raise FaultListError(
                f"unknown layer {fault.layer!r} for model {self.model!r}; available: "
                + ", ".join(self.names),
                field="layer",
            )
        layer = self._by_name[fault.layer]
        if fault.is_activation:
            self._check_normalized(fault)
        if fault.is_transient:
            from readlx.fault_maps.fault import check_prefix

            rank = 3 if layer.kind == "conv" else 1  # where the output shape is unknown: no bound on sizes
            check_prefix(fault, self.outputs.get(layer.name, (np.iinfo(np.int64).max,) * rank))
        elif fault.is_activation:
            shape = self.outputs.get(layer.name)
            rank = len(shape) if shape is not None else (3 if layer.kind == "conv" else 1)
            _check_index(fault, shape, rank, f"the output of layer {layer.name!r}")
        else:
            _check_index(fault, layer.shape, len(layer.shape), f"layer {layer.name!r}")

    def _check_normalized(self, fault: Fault) -> None:
        if fault.site.value != "normalized" or not self.outputs or fault.layer in self.normalized:
            return
        having = ", ".join(self.normalized) or "none"
        raise FaultListError(f"the output of layer {fault.layer!r} goes to no BatchNorm, so it has no normalized "
                             f"site; layers with one: {having}", field="layer")

    def output_shape(self, layer: str) -> tuple[int, ...]:
        """The output shape of ``layer`` (no batch axis); raises when the table does not know it."""
        self[layer]
        if layer not in self.outputs:
            raise InputError(f"the output shape of layer {layer!r} of {self.model!r} is unknown: the table "
                             "was made without running the model (readlx.fault_maps.sites.with_outputs)")
        return self.outputs[layer]

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_torch(cls, model: nn.Module, name: str) -> LayerTable:
        """Table of all Conv2d/Linear weights, in ``named_parameters()`` order."""
        import torch.nn as nn

        modules = dict(model.named_modules())
        layers = []
        for pname, param in model.named_parameters():
            if param.dim() < 2:
                continue
            mname, _, leaf = pname.rpartition(".")
            module = modules.get(mname)
            if leaf != "weight" or not isinstance(module, (nn.Conv2d, nn.Linear)):
                raise InputError(
                    f"parameter {pname!r} of model {name!r} has {param.dim()} dimensions but is "
                    f"not the weight of a Conv2d or Linear module ({type(module).__name__})"
                )
            if isinstance(module, nn.Conv2d):
                layers.append(Layer(mname, "conv", tuple(param.shape), module.groups))
            else:
                layers.append(Layer(mname, "linear", tuple(param.shape)))
        return cls(name, tuple(layers))

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "model": self.model,
            "layers": [
                {"name": layer.name, "kind": layer.kind, "shape": list(layer.shape), "groups": layer.groups}
                for layer in self.layers
            ],
            "bindings": {
                fw: {layer: asdict(b) for layer, b in m.items()} for fw, m in self.bindings.items()
            },
            **({"outputs": {k: list(v) for k, v in self.outputs.items()}} if self.outputs else {}),
            **({"normalized": dict(self.normalized)} if self.normalized else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | None = None) -> LayerTable:
        try:
            layers = tuple(
                Layer(d["name"], d["kind"], tuple(d["shape"]), int(d.get("groups", 1)))
                for d in data["layers"]
            )
            bindings = {
                fw: {
                    layer: Binding(b["name"], b["variable"], tuple(int(a) for a in b["permutation"]))
                    for layer, b in m.items()
                }
                for fw, m in data.get("bindings", {}).items()
            }
            outputs = {str(k): tuple(int(n) for n in v) for k, v in data.get("outputs", {}).items()}
            normalized = {str(k): str(v) for k, v in data.get("normalized", {}).items()}
            return cls(str(data["model"]), layers, bindings, outputs, normalized)
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"not a readlx layer table: {e!r}", path=path) from e

    @classmethod
    def from_json(cls, text: str, path: str | None = None) -> LayerTable:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"invalid JSON: {e.msg}", path=path, line=e.lineno) from e
        return cls.from_dict(data, path)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> LayerTable:
        return cls.from_json(Path(path).read_text(), path=str(path))


def _check_index(fault: Fault, shape: tuple[int, ...] | None, rank: int, what: str) -> None:
    if len(fault.index) != rank:
        shown = f"shape {shape} (rank {rank})" if shape is not None else f"rank {rank}"
        raise FaultListError(f"index {fault.index} has rank {len(fault.index)}, {what} has {shown}", field="index")
    if shape is None:
        return
    for i, n in zip(fault.index, shape, strict=True):
        if not 0 <= i < n:
            raise FaultListError(f"index {fault.index} is out of range for {what} of shape {shape}", field="index")

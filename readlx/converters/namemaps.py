"""Name maps from the weights themselves (invariant 2 of docs/architecture.md).

Every framework tensor that can hold a canonical weight is a :class:`Candidate`: its name, its
variable (or initializer), its values in framework layout, the axis permutation its operator implies
(Keras ``Conv2D`` kernels are HWIO, ``Dense`` kernels ``(in, out)``, ONNX ``Conv`` weights OIHW, ...)
and its position in the framework graph. A canonical layer is bound to the candidate whose tensor is
*bitwise* equal to the canonical weight after that permutation; graph order only breaks ties between
layers holding identical weights. A layer without a match raises :class:`ConversionError` naming the
candidates that were considered.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from readlx._typing import Array
from readlx.errors import ConversionError
from readlx.graph import Binding, Layer, LayerTable, inverse_permutation

if TYPE_CHECKING:  # pragma: no cover
    import onnx
    import torch
    import torch.nn as nn

KERAS = "keras"
ONNX_TORCH = "onnxruntime"
ONNX_KERAS = "onnx-keras"

# Layout of each Keras kernel relative to the canonical PyTorch layout (Binding semantics).
_KERAS_CONV = (2, 3, 1, 0)  # (O, I, kH, kW) -> (kH, kW, I, O)
_KERAS_DEPTHWISE = (2, 3, 0, 1)  # (C, 1, kH, kW) -> (kH, kW, C, 1), depth multiplier 1 only
_KERAS_DENSE = (1, 0)  # (O, I) -> (I, O)
_IDENTITY_4D = (0, 1, 2, 3)


@dataclass(frozen=True, eq=False)
class Candidate:
    """A framework tensor that may hold a canonical weight.

    ``permutation`` follows :class:`readlx.graph.Binding`: ``tensor == canonical.transpose(permutation)``
    when this candidate holds that canonical weight.
    """

    name: str
    variable: str
    tensor: Array
    permutation: tuple[int, ...]
    position: int

    def holds(self, canonical: Array) -> bool:
        """True when ``canonical`` in this candidate's layout equals its tensor bit for bit."""
        if canonical.ndim != len(self.permutation) or self.tensor.dtype != np.float32:
            return False
        permuted = np.ascontiguousarray(canonical.transpose(self.permutation))
        return permuted.shape == self.tensor.shape and bool(
            np.array_equal(permuted.view(np.uint32), np.ascontiguousarray(self.tensor).view(np.uint32))
        )

    def binding(self) -> Binding:
        return Binding(self.name, self.variable, self.permutation)

    def describe(self) -> str:
        return f"{self.name}:{self.variable} {tuple(self.tensor.shape)} perm {self.permutation}"



def compose(operator_layout: Sequence[int], transpose_perm: Sequence[int]) -> tuple[int, ...]:
    """Permutation of a stored tensor that an operator sees through ``Transpose(transpose_perm)``.

    The operator sees ``canonical.transpose(operator_layout)``; the stored tensor ``s`` satisfies
    ``s.transpose(transpose_perm) == canonical.transpose(operator_layout)``.

    >>> compose((0, 1, 2, 3), (3, 2, 0, 1))  # an HWIO initializer transposed to OIHW by the graph
    (2, 3, 1, 0)
    """
    return tuple(int(operator_layout[axis]) for axis in inverse_permutation(transpose_perm))


# -- candidates ------------------------------------------------------------------------------------
def keras_candidates(model: Any) -> list[Candidate]:
    """The kernels of a Keras model's ``Conv2D``, ``DepthwiseConv2D`` and ``Dense`` layers.

    Raises
    ------
    ConversionError
        For a ``DepthwiseConv2D`` with depth multiplier > 1, whose kernel is a reshape (not an axis
        permutation) of the canonical weight.
    """
    from readlx._tensorflow import import_tensorflow

    tf = import_tensorflow()

    out: list[Candidate] = []
    for position, layer in enumerate(keras_layers(model)):
        if isinstance(layer, tf.keras.layers.Conv2DTranspose):  # a Conv2D subclass, not a conv weight
            continue
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            if int(layer.depth_multiplier) != 1:
                raise ConversionError(
                    f"Keras layer {layer.name!r} has depth multiplier {layer.depth_multiplier!r}; only 1 "
                    "can be addressed by an axis permutation of the canonical weight"
                )
            out.append(_keras_candidate(layer, layer.depthwise_kernel, _KERAS_DEPTHWISE, position))
        elif isinstance(layer, tf.keras.layers.Conv2D):
            out.append(_keras_candidate(layer, layer.kernel, _KERAS_CONV, position))
        elif isinstance(layer, tf.keras.layers.Dense):
            out.append(_keras_candidate(layer, layer.kernel, _KERAS_DENSE, position))
    return out


def keras_layers(model: Any) -> Iterable[Any]:
    """The layers of a Keras model, those of nested models in their place."""
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model keeps its own layers
            yield from keras_layers(layer)
        else:
            yield layer


def _keras_candidate(layer: Any, variable: Any, perm: tuple[int, ...], position: int) -> Candidate:
    return Candidate(layer.name, variable.name, variable.numpy(), perm, position)


def onnx_candidates(model: onnx.ModelProto) -> list[Candidate]:
    """The weight inputs of an ONNX graph's ``Conv``, ``Gemm`` and ``MatMul`` nodes.

    A weight reached through a ``Transpose`` of an initializer keeps the initializer as variable and
    records the composed permutation.
    """
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    producers = {o: node for node in model.graph.node for o in node.output}
    out: list[Candidate] = []
    for position, node in enumerate(model.graph.node):
        layout = _onnx_operator_layout(node)
        if layout is None or len(node.input) < 2:
            continue
        found = _onnx_source(node.input[1], layout, inits, producers)
        if found is not None:
            variable, perm = found
            name = node.name or node.output[0]
            out.append(Candidate(name, variable, numpy_helper.to_array(inits[variable]), perm, position))
    return out


def _onnx_operator_layout(node: Any) -> tuple[int, ...] | None:
    """How the operator reads its weight input, relative to the canonical layout."""
    if node.op_type == "Conv":
        return _IDENTITY_4D
    if node.op_type == "MatMul":
        return (1, 0)
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return (0, 1) if trans_b else (1, 0)
    return None


def _onnx_source(
    tensor: str, layout: tuple[int, ...], inits: Mapping[str, Any], producers: Mapping[str, Any]
) -> tuple[str, tuple[int, ...]] | None:
    if tensor in inits:
        return tensor, layout
    node = producers.get(tensor)
    if node is None or not node.input or node.input[0] not in inits:
        return None
    if node.op_type == "Identity":
        return node.input[0], layout
    if node.op_type == "Transpose":
        perm = next((tuple(a.ints) for a in node.attribute if a.name == "perm"), None)
        if perm is None or len(perm) != len(layout):
            return None
        return node.input[0], compose(layout, perm)
    return None


# -- matching --------------------------------------------------------------------------------------
def match_bindings(
    table: LayerTable,
    weights: Mapping[str, Array],
    candidates: Sequence[Candidate],
    *,
    order: Sequence[str] | None = None,
    framework: str = "framework",
) -> dict[str, Binding]:
    """Bind every canonical layer to the candidate holding its weight bit for bit.

    Parameters
    ----------
    table
        Canonical layers.
    weights
        Canonical weights (float32, canonical layout) by layer name.
    candidates
        Framework tensors, e.g. from :func:`keras_candidates` or :func:`onnx_candidates`.
    order
        Execution order of the canonical layers (default: table order). Layers with identical weights
        are bound to matching candidates in graph order, the first executed layer to the first one.
    framework
        Used in error messages.

    Raises
    ------
    ConversionError
        When a layer matches no candidate left (a tensor shared by two layers, e.g. after an exporter
        merged equal constants, binds only the first); the message lists the candidates considered.

    Examples
    --------
    >>> t = LayerTable("m", (Layer("fc", "linear", (2, 3)),))
    >>> w = np.arange(6, dtype=np.float32).reshape(2, 3)
    >>> c = Candidate("dense", "dense/kernel:0", w.T.copy(), (1, 0), 0)
    >>> match_bindings(t, {"fc": w}, [c])["fc"]
    Binding(name='dense', variable='dense/kernel:0', permutation=(1, 0))
    """
    taken: set[str] = set()  # variables: one stored tensor can hold one layer's weight only
    bindings: dict[str, Binding] = {}
    for layer in _in_execution_order(table, order):
        weight = _canonical_weight(layer, weights)
        matches = [c for c in candidates if c.variable not in taken and c.holds(weight)]
        if not matches:
            raise _unmatched(layer, framework, candidates, taken)
        chosen = min(matches, key=lambda c: c.position)
        taken.add(chosen.variable)
        bindings[layer.name] = chosen.binding()
    return {name: bindings[name] for name in table.names}


def _in_execution_order(table: LayerTable, order: Sequence[str] | None) -> list[Layer]:
    if order is None:
        return list(table)
    rank = {name: k for k, name in enumerate(order)}
    return sorted(table, key=lambda layer: rank.get(layer.name, len(rank)))


def _canonical_weight(layer: Layer, weights: Mapping[str, Array]) -> Array:
    if layer.name not in weights:
        raise ConversionError(f"no weight given for canonical layer {layer.name!r}")
    weight = np.asarray(weights[layer.name])
    if weight.dtype != np.float32 or tuple(weight.shape) != layer.shape:
        raise ConversionError(
            f"weight of {layer.name!r} is {weight.dtype} {tuple(weight.shape)}, table says float32 "
            f"{layer.shape}"
        )
    return weight


def _unmatched(
    layer: Layer, framework: str, candidates: Sequence[Candidate], taken: set[str]
) -> ConversionError:
    considered = "; ".join(
        c.describe() + (" (already bound)" if c.variable in taken else "") for c in candidates
    ) or "(none)"
    return ConversionError(
        f"{framework}: no tensor equals the weight of canonical layer {layer.name!r} "
        f"{layer.kind} {layer.shape} bit for bit; candidates considered: {considered}"
    )


# -- torch side ------------------------------------------------------------------------------------
def torch_weights(model: nn.Module, table: LayerTable) -> dict[str, Array]:
    """Copies of the canonical weights of ``model`` (float32, canonical layout)."""
    modules = dict(model.named_modules())
    missing = [layer.name for layer in table if layer.name not in modules]
    if missing:
        raise ConversionError(f"model has no modules {missing}; table layers: {table.names}")
    return {layer.name: modules[layer.name].weight.detach().cpu().numpy().copy() for layer in table}


def torch_execution_order(model: nn.Module, table: LayerTable, example: torch.Tensor) -> list[str]:
    """Canonical layers in the order one forward pass on ``example`` first calls them.

    Layers the pass never calls follow in table order. The hooks are removed in ``finally``.
    """
    seen = executed_modules(model, table.names, example)
    return seen + [name for name in table.names if name not in seen]


def executed_modules(model: nn.Module, names: Sequence[str], example: torch.Tensor) -> list[str]:
    """Those of the modules ``names`` that one forward pass on ``example`` calls, in calling order.

    A module the pass never calls (an auxiliary training head, say) is in no converted artifact, and
    a fault in its weight is masked by construction. The hooks are removed in ``finally``.
    """
    import torch

    modules = dict(model.named_modules())
    seen: list[str] = []
    handles = []
    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(_order_hook(name, seen)))
        with torch.inference_mode():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _order_hook(name: str, seen: list[str]) -> Any:
    def hook(module: Any, inputs: Any, output: Any) -> None:
        if name not in seen:
            seen.append(name)

    return hook


def derive_bindings(
    table: LayerTable,
    weights: Mapping[str, Array],
    *,
    order: Sequence[str] | None = None,
    keras_model: Any = None,
    onnx_torch: onnx.ModelProto | None = None,
    onnx_keras: onnx.ModelProto | None = None,
) -> LayerTable:
    """A copy of ``table`` with ``"keras"``, ``"onnxruntime"`` and ``"onnx-keras"`` bindings.

    Only the frameworks whose model is given are bound; existing bindings of others are kept.
    """
    sources = {
        KERAS: (keras_model, keras_candidates),
        ONNX_TORCH: (onnx_torch, onnx_candidates),
        ONNX_KERAS: (onnx_keras, onnx_candidates),
    }
    bindings = dict(table.bindings)
    for framework, (model, extract) in sources.items():
        if model is not None:
            bindings[framework] = match_bindings(
                table, weights, extract(model), order=order, framework=framework
            )
    return LayerTable(table.model, table.layers, bindings)

"""Fault sites: where a fault's element lives, and the tables that address each site.

A weight fault's element is in the layer's stored weight (the layer table's shapes); an activation
fault's is in the layer's output tensor, in canonical NCHW layout without the batch axis; a
*normalized* fault's in the output of the BatchNorm applied to that tensor (same shape and index),
the other named layer whose output the three runtimes keep as a tensor of its own (PyTorch's
``BatchNorm2d``, Keras' ``BatchNormalization``, ONNX's ``BatchNormalization``). The functions after it
are not sites: a ReLU is a function call in most PyTorch models, with no module to name, and a
residual ``Add`` joins two layers. The output shapes and the BatchNorms are found by running the
PyTorch module once on one zero image (:func:`with_outputs`), and :func:`activation_table` makes them
a layer table of their own, so that sampling (the formula's population, the per-layer allocation, the
draws) is the same code for every site.

Examples
--------
>>> from readlx.zoo import ZOO, load_model
>>> table = with_outputs(ZOO["democnn-synthetic10"].layer_table(), load_model("democnn-synthetic10"),
...                      (3, 16, 16))
>>> table.outputs["conv1"], activation_table(table)["conv1"].shape
((8, 16, 16), (8, 16, 16))
>>> table.normalized, activation_table(table, Site.NORMALIZED).names
({'conv1': 'bn1', 'dwconv': 'bn2', 'conv2': 'bn3'}, ['conv1', 'dwconv', 'conv2'])
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from readlx.errors import InputError
from readlx.fault_maps.fault import Site
from readlx.graph import Layer, LayerTable

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

SITES = tuple(s.value for s in Site)


def parse_sites(value: str) -> Site:
    """The site named by ``value`` (``weights``/``activations`` as the CLI spells them, or the
    singular).

    >>> parse_sites("activations").value
    'activation'
    """
    singular = {"weights": "weight", "activations": "activation"}.get(value, value)
    return Site.parse(singular)


def with_outputs(table: LayerTable, module: nn.Module, input_shape: tuple[int, ...]) -> LayerTable:
    """``table`` with :attr:`~readlx.graph.LayerTable.outputs` filled from one forward pass of ``module``
    (a copy is run; ``module`` is not changed) on a zero image of ``input_shape`` ``(C, H, W)``."""
    import copy

    import torch

    if table.outputs and all(name in table.outputs for name in table.names):
        return table
    model = copy.deepcopy(module).eval().cpu()
    modules = dict(model.named_modules())
    found: dict[str, tuple[int, ...]] = {}
    produced: dict[int, str] = {}  # id of each layer's output tensor -> the layer
    normalized: dict[str, list[str]] = {}
    handles = []
    for name in table.names:
        if name not in modules:
            raise InputError(f"model has no module {name!r} (layer of {table.model!r})")
        handles.append(modules[name].register_forward_hook(_shape_of(name, found, produced)))
    for name, m in modules.items():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            handles.append(m.register_forward_hook(_normalizer_of(name, produced, normalized)))
    try:
        with torch.inference_mode():
            model(torch.zeros((1, *input_shape), dtype=torch.float32))
    except RuntimeError as e:
        raise InputError(f"model {table.model!r} does not run on one image of shape {input_shape}: {e}") from e
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name in table.names if name not in found]
    if missing:
        raise InputError(f"layers {missing} of {table.model!r} are not called by the model's forward")
    # A layer normalized by several BatchNorms has no one normalized tensor: it gets no such site.
    return replace(table, outputs=found, normalized={k: v[0] for k, v in normalized.items() if len(v) == 1})


def _shape_of(name: str, found: dict[str, tuple[int, ...]], produced: dict[int, str]) -> Any:
    def hook(module: Any, inputs: Any, output: Any) -> None:
        if name in found:
            raise InputError(f"layer {name!r} is called more than once per forward pass: its output "
                             "is not one tensor, so it has no activation-fault address")
        found[name] = tuple(int(n) for n in output.shape[1:])
        produced[id(output)] = name

    return hook


def _normalizer_of(name: str, produced: dict[int, str], normalized: dict[str, list[str]]) -> Any:
    def hook(module: Any, inputs: Any, output: Any) -> None:
        layer = produced.get(id(inputs[0])) if inputs else None
        if layer is not None:
            normalized.setdefault(layer, []).append(name)

    return hook


def activation_table(table: LayerTable, site: Site = Site.ACTIVATION) -> LayerTable:
    """The layer table of one output site: each layer's ``shape`` is its output shape, so a fault
    list drawn over it addresses output elements; for ``normalized``, only the layers with a
    BatchNorm after them."""
    names = table.names if site is not Site.NORMALIZED else [n for n in table.names if n in table.normalized]
    if site is Site.NORMALIZED and not names:
        raise InputError(f"no layer of {table.model!r} has a BatchNorm applied to its output: there are no "
                         "normalized sites")
    layers = tuple(Layer(layer.name, layer.kind, table.output_shape(layer.name), layer.groups)
                   for layer in table if layer.name in names)
    return LayerTable(table.model, layers, outputs={n: table.outputs[n] for n in names},
                      normalized={n: v for n, v in table.normalized.items() if n in names})


def site_table(table: LayerTable, site: Site) -> LayerTable:
    """The table whose shapes address ``site``: ``table`` itself for weights."""
    return table if site is Site.WEIGHT else activation_table(table, site)

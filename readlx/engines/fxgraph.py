"""A model as a straight line of ``torch.fx`` nodes, with the cuts where a faulty run can start.

A *cut* sits before the first node that reads a layer's weight. Everything before it is independent
of that weight, so a faulty run can start there from the golden values *live* across the cut: those
produced before it and used at or after it. The same cuts serve as checkpoints where a faulty run is
compared with golden.

Nodes run through the model's own submodules and functions, so a traced run executes the same
kernels on the same tensors as ``model(x)``; the fast path still verifies that bitwise at start-up.
The one interpreter of readlx: the PyTorch fast path runs it as it is, and the reference executor
(:mod:`readlx.engines.reference.executor`) supplies its own calls for the planned layers.
"""
from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.fx as fx
import torch.nn as nn

from readlx.errors import FastUnsupported

_INPLACE_FUNCTIONS = frozenset({
    operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv, operator.imod,
    operator.ipow, operator.iand, operator.ior, operator.ixor, operator.ilshift, operator.irshift,
    operator.imatmul, operator.setitem,
})


@dataclass(frozen=True)
class LayerSpan:
    """Where a layer's weight is read: ``first`` is its cut; checks are valid only after ``last``."""

    first: int
    last: int


class CutGraph:
    """The traced node list of ``model`` with the cut of every layer in ``layers``.

    Parameters
    ----------
    model
        The network, used as it is (its parameters are read at run time, so faults injected in
        place are seen). Tracing does not change it.
    layers
        Canonical layer names: qualified names of modules holding a ``weight``.
    pure
        Refuse models in training mode or working in place (the fast path restarts faulty runs from
        cached golden values, which an in-place node would overwrite).
    module_calls
        Qualified module name -> the function to call instead of that module (the same arguments).

    Raises
    ------
    FastUnsupported
        When the model does not trace, has not exactly one input and one tensor output, never reads
        one of the layers' weights, or (``pure``) is in training mode or works in place.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> g = CutGraph(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table().names)
    >>> [g.name(i) for i in g.cuts]
    ['conv1', 'dwconv', 'conv2', 'conv3', 'linear']
    >>> [g.name(i) for i in g.live[g.spans["conv2"].first]]
    ['relu_1']
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], *, pure: bool = True,
                 module_calls: Mapping[str, Callable[..., Any]] | None = None) -> None:
        if pure:
            _refuse_training(model)
        self.model = model
        self._module_calls = dict(module_calls or {})
        graph = _trace(model)
        nodes = list(graph.nodes)
        placeholders = [n for n in nodes if n.op == "placeholder"]
        if len(placeholders) != 1:
            raise FastUnsupported(f"the traced model takes {len(placeholders)} inputs, readlx needs 1")
        out = nodes[-1]
        if out.op != "output" or not isinstance(out.args[0], fx.Node):
            raise FastUnsupported(f"the traced model returns {out.args[0]!r}, readlx needs one tensor")
        self.nodes: tuple[fx.Node, ...] = tuple(nodes[:-1])
        self._pos = {n: i for i, n in enumerate(self.nodes)}
        self.input = self._pos[placeholders[0]]
        self.result = self._pos[out.args[0]]
        for node in self.nodes if pure else ():
            _refuse_inplace(model, node)
        self.from_input = self._descendants({self.input})
        self._last_use = self._last_uses()
        self._dies_at: list[list[int]] = [[] for _ in self.nodes]
        for i, last in enumerate(self._last_use):
            if last < len(self.nodes):
                self._dies_at[last].append(i)
        self.spans = {layer: self._span(layer) for layer in layers}
        self.cuts: tuple[int, ...] = tuple(sorted({s.first for s in self.spans.values()}))
        self.live = {c: tuple(i for i in range(c) if self._last_use[i] >= c) for c in self.cuts}

    def name(self, i: int) -> str:
        """The fx name of node ``i``."""
        return self.nodes[i].name

    def run(self, env: dict[int, Any], start: int, stop: int, free: bool = True) -> None:
        """Execute nodes ``start..stop-1`` on the values in ``env`` (node index -> value), in place.

        With ``free``, a value is dropped from ``env`` after its last use, except the result.
        """
        for i in range(start, stop):
            if i != self.input:  # the caller provides the images
                env[i] = self.call(i, env)
            if free:
                self.release(env, i)

    def release(self, env: dict[int, Any], i: int) -> None:
        """Drop from ``env`` the values whose last use is node ``i``."""
        for dead in self._dies_at[i]:
            env.pop(dead, None)

    def arguments(self, i: int, env: dict[int, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The positional and keyword arguments of node ``i``, from the values in ``env``."""
        node = self.nodes[i]
        args = fx.node.map_arg(node.args, lambda n: env[self._pos[n]])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[self._pos[n]])
        return cast(tuple[Any, ...], args), cast(dict[str, Any], kwargs)

    def target(self, i: int) -> Any:
        """What node ``i`` calls: its module, its function or its method's name (``None``: it calls
        nothing, as a parameter fetched by ``get_attr``)."""
        node = self.nodes[i]
        if node.op == "call_module":
            return self.model.get_submodule(cast(str, node.target))
        return node.target if node.op in ("call_function", "call_method") else None

    def call(self, i: int, env: dict[int, Any]) -> Any:
        """The value of node ``i`` from the values of its inputs in ``env``."""
        node = self.nodes[i]
        args, kwargs = self.arguments(i, env)
        if node.op == "call_module":
            override = self._module_calls.get(str(node.target))
            if override is not None:
                return override(*args, **kwargs)
            return self.model.get_submodule(cast(str, node.target))(*args, **kwargs)
        if node.op == "call_function":
            return cast(Callable[..., Any], node.target)(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], cast(str, node.target))(*args[1:], **kwargs)
        if node.op == "get_attr":
            return _fetch(self.model, cast(str, node.target))
        raise FastUnsupported(f"node {node.name!r} has op {node.op!r}, which the fast path cannot run")

    def normalizer(self, layer: str) -> int | None:
        """The node of the BatchNorm module called on the output of module ``layer`` (one call), or
        ``None`` when there is no such single node."""
        calls = [i for i, n in enumerate(self.nodes) if n.op == "call_module" and n.target == layer]
        found = [i for i, n in enumerate(self.nodes) if n.op == "call_module" and len(calls) == 1
                 and isinstance(self.model.get_submodule(cast(str, n.target)), nn.modules.batchnorm._BatchNorm)
                 and n.args and n.args[0] is self.nodes[calls[0]]]
        return found[0] if len(found) == 1 else None

    def inputs(self, i: int) -> tuple[int, ...]:
        """Indices of the nodes whose values node ``i`` reads."""
        return tuple(self._pos[n] for n in self.nodes[i].all_input_nodes)

    def descendants(self, i: int) -> frozenset[int]:
        """Indices of node ``i`` and of every node whose value depends on it."""
        return self._descendants({i})

    def _descendants(self, roots: set[int]) -> frozenset[int]:
        found = set(roots)
        for i, node in enumerate(self.nodes):
            if any(self._pos[n] in found for n in node.all_input_nodes):
                found.add(i)
        return frozenset(found)

    def _last_uses(self) -> list[int]:
        last = list(range(len(self.nodes)))
        for i, node in enumerate(self.nodes):
            for user in node.users:
                last[i] = max(last[i], self._pos.get(user, len(self.nodes)))
        last[self.result] = len(self.nodes)
        return last

    def _span(self, layer: str) -> LayerSpan:
        try:
            weight = cast(torch.Tensor, self.model.get_submodule(layer).weight)
        except AttributeError as e:
            raise FastUnsupported(f"model has no module {layer!r} with a weight") from e
        readers = {i for i, n in enumerate(self.nodes) if _reads(self.model, n, weight)}
        if not readers:
            raise FastUnsupported(f"the traced graph never reads the weight of {layer!r}")
        # Values made from the weight alone (not from the images) may alias it: a parameter fetched
        # by get_attr, or a view of it, is the very tensor the fault is injected into, so comparing
        # it with golden proves nothing. Checks wait until the last of them has been used.
        constants = self._descendants(readers) - self.from_input
        return LayerSpan(min(readers), max([*readers, *(self._last_use[i] for i in constants)]))


def _refuse_training(model: nn.Module) -> None:
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:  # dropout draws and running statistics would make golden values change
        raise FastUnsupported(f"module {training[0]!r} is in training mode")


def _trace(model: nn.Module) -> fx.Graph:
    try:
        return fx.Tracer().trace(model)
    except Exception as e:  # tracing raises anything the model's Python raises on proxies
        raise FastUnsupported(f"torch.fx cannot trace {type(model).__name__}: {e}") from e


def _fetch(model: nn.Module, target: str) -> Any:
    obj: Any = model
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _reads(model: nn.Module, node: fx.Node, weight: torch.Tensor) -> bool:
    if node.op == "call_module":
        return any(p is weight for p in model.get_submodule(cast(str, node.target)).parameters())
    if node.op == "get_attr":
        obj = _fetch(model, cast(str, node.target))
        return obj is weight or (isinstance(obj, nn.Module) and any(p is weight for p in obj.parameters()))
    return False


def _refuse_inplace(model: nn.Module, node: fx.Node) -> None:
    """In-place nodes would overwrite the golden values that faulty runs start from."""
    inplace = False
    if node.op == "call_module":
        inplace = getattr(model.get_submodule(cast(str, node.target)), "inplace", False) is True
    elif node.op == "call_method":
        method = cast(str, node.target)
        inplace = method.endswith("_") and not method.startswith("_")
    elif node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        inplace = (node.target in _INPLACE_FUNCTIONS or (name.endswith("_") and not name.startswith("_"))
                   or _inplace_argument(node))
    if inplace:
        raise FastUnsupported(f"node {node.name!r} ({node.target}) works in place")


def _inplace_argument(node: fx.Node) -> bool:
    try:
        bound = inspect.signature(cast(Callable[..., Any], node.target)).bind_partial(*node.args, **node.kwargs)
    except (TypeError, ValueError):  # builtins without a signature take no inplace argument
        return node.kwargs.get("inplace") is True
    return bound.arguments.get("inplace") is True

"""An executor over the canonical graph: the torch.fx trace of :mod:`readlx.engines.fxgraph`, run node
by node, with the planned layers' calls supplied here.

Convolution and linear layers named in the plan run with :mod:`readlx.engines.reference.convolution` in the
plan's algorithm and arithmetic, on weights supplied by the caller (the engine's canonical copies);
every other node (BatchNorm, ReLU, additions, padding, pooling) runs as PyTorch runs it, in the
carrier dtype (float32, or float64 for the ground truth).
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from readlx.engines.fxgraph import CutGraph
from readlx.engines.reference.arithmetic import ARITHMETICS
from readlx.engines.reference.convolution import Pair, conv2d, effective_algorithm, linear
from readlx.errors import FastUnsupported, ReadlxError

WeightSource = Callable[[str], torch.Tensor]


@dataclass(frozen=True)
class LayerPlan:
    """How one injectable layer computes.

    ``algorithm`` is the one asked for, ``effective`` the one that runs (a linear layer runs one
    ``"gemm"``, or PyTorch's ``"native"`` kernel), ``fallback`` says why a conv's differ.
    """

    layer: str
    kind: str
    algorithm: str
    effective: str
    arithmetic: str
    fallback: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"algorithm": self.effective, "arithmetic": self.arithmetic, "fallback": self.fallback}


def plan_layer(module: nn.Module, name: str, algorithm: str, arithmetic: str) -> LayerPlan:
    """The plan of one Conv2d or Linear module; raises for what the executor cannot run."""
    ARITHMETICS[arithmetic]  # raises listing the valid names
    if isinstance(module, nn.Linear):
        effective_algorithm(algorithm, (1, 1), (1, 1), (1, 1))  # validates the name
        return LayerPlan(name, "linear", algorithm, "native" if algorithm == "native" else "gemm", arithmetic)
    if not isinstance(module, nn.Conv2d):
        raise ReadlxError(f"layer {name!r} is a {type(module).__name__}; the executor runs Conv2d and Linear")
    if module.padding_mode != "zeros" or isinstance(module.padding, str):
        raise ReadlxError(
            f"layer {name!r}: padding {module.padding!r} with mode {module.padding_mode!r} is not supported; "
            "valid: explicit integer padding with padding_mode 'zeros'"
        )
    # A Conv2d's kernel_size, stride and dilation are pairs (torch annotates them as any tuple).
    kernel, stride, dilation = (cast(Pair, p) for p in (module.kernel_size, module.stride, module.dilation))
    effective, why = effective_algorithm(algorithm, kernel, stride, dilation)
    return LayerPlan(name, "conv", algorithm, effective, arithmetic, why)



class GraphExecutor:
    """Run ``model`` node by node with the reference layers of ``plans``.

    Parameters
    ----------
    model
        The network; it is copied (and the copy converted to ``carrier``), never changed.
    plans
        Canonical layer name -> :class:`LayerPlan`, for every injectable layer.
    weights
        Called with a layer name at every use: the float32 canonical weight to compute with.
    carrier
        dtype of the activations between layers (float32, or float64 for the ground truth).

    Examples
    --------
    >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 3)).eval()
    >>> plans = {"0": plan_layer(net[0], "0", "winograd", "float32"),
    ...          "2": plan_layer(net[2], "2", "direct", "float32")}
    >>> ex = GraphExecutor(net, plans, lambda name: dict(net.named_modules())[name].weight.detach())
    >>> ex.run(torch.ones(4, 1, 3, 3)).shape
    torch.Size([4, 3])
    """

    def __init__(self, model: nn.Module, plans: Mapping[str, LayerPlan], weights: WeightSource,
                 carrier: torch.dtype = torch.float32) -> None:
        module = copy.deepcopy(model).eval().to(carrier)
        self.plans = dict(plans)
        self.carrier = carrier
        self._weights = weights
        self._modules = dict(module.named_modules())
        calls = {name: functools.partial(self._layer, name) for name in self.plans}
        try:
            self.graph = CutGraph(module, list(self.plans), pure=False, module_calls=calls)
        except FastUnsupported as e:
            raise ReadlxError(f"the reference executor cannot run {type(model).__name__}: {e}") from e
        called = {str(n.target) for n in self.graph.nodes if n.op == "call_module"}
        missing = [name for name in self.plans if name not in called]
        if missing:
            raise ReadlxError(f"layers {missing} are not called as modules in the traced graph; "
                              "the executor could not apply their faults")

    def _layer(self, name: str, x: torch.Tensor) -> torch.Tensor:
        plan, module = self.plans[name], self._modules[name]
        arith = ARITHMETICS[plan.arithmetic]
        dtype = arith.compute_dtype
        w = self._weights(name).to(dtype)
        x = x.to(dtype)
        bias = None if module.bias is None else module.bias.detach().to(dtype)
        if plan.effective == "native":  # the platform kernel, with its own (fused) bias addition
            x, w = arith.round_operand(x), arith.round_operand(w)
            if plan.kind == "linear":
                return F.linear(x, w, bias).to(self.carrier)
            return F.conv2d(x, w, bias, module.stride, module.padding, module.dilation,
                            module.groups).to(self.carrier)
        if plan.kind == "linear":
            y = linear(x, w, arith.round_operand)
        else:
            y = conv2d(x, w, stride=module.stride, padding=module.padding, dilation=module.dilation,
                       groups=module.groups, algorithm=plan.effective, round_operand=arith.round_operand)
        if bias is not None:
            y = y + (bias if plan.kind == "linear" else bias.reshape(1, -1, 1, 1))
        return y.to(self.carrier)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs of one batch, in the carrier dtype."""
        graph = self.graph
        env: dict[int, Any] = {graph.input: x.to(self.carrier)}
        with torch.inference_mode():
            graph.run(env, 0, len(graph.nodes))
        out: torch.Tensor = env[graph.result]
        return out

    def run_prefix(self, x: torch.Tensor, layer: str) -> dict[int, Any]:
        """The values computed before ``layer`` first runs that the rest of the graph still needs.

        Together with :meth:`run_suffix` this is :meth:`run` split in two: the same operations on the
        same values, so the outputs are bitwise the same.
        """
        graph, cut = self.graph, self.graph.spans[layer].first
        env: dict[int, Any] = {graph.input: x.to(self.carrier)}
        with torch.inference_mode():
            graph.run(env, 0, cut)
        return {i: env[i] for i in graph.live[cut]}

    def run_suffix(self, layer: str, live: Mapping[int, Any]) -> torch.Tensor:
        """Outputs of one batch from ``layer`` on, given :meth:`run_prefix`'s values (not changed:
        an in-place operation of the model works on a copy)."""
        graph = self.graph
        env = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in live.items()}
        with torch.inference_mode():
            graph.run(env, graph.spans[layer].first, len(graph.nodes))
        out: torch.Tensor = env[graph.result]
        return out

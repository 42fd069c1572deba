"""The reference engine: the canonical graph run by :class:`GraphExecutor`, as a campaign engine.

Its ``framework`` name encodes the variant, so several reference engines (and the real runtimes)
can share one campaign: ``reference-winograd-tf32``, or with per-layer overrides
``reference-direct-float32+layer3.*=tf32`` (``PATTERN=VALUE`` where VALUE is an arithmetic or an
algorithm and PATTERN a shell-style pattern over canonical layer names; later overrides win).
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from readlx._typing import Array
from readlx.engines.artifact import Artifact
from readlx.engines.base import batches, corrupt_element
from readlx.engines.reference.arithmetic import ARITHMETICS
from readlx.engines.reference.convolution import ALGORITHMS
from readlx.engines.reference.executor import GraphExecutor, LayerPlan, plan_layer
from readlx.engines.reference.reuse import GoldenCache
from readlx.engines.registry import RUNTIMES, Runtime, RuntimeFamily
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.fault import Fault
from readlx.graph import LayerTable

FRAMEWORK_PREFIX = "reference"


def variant_name(algorithm: str, arithmetic: str, overrides: Mapping[str, str] | None = None) -> str:
    """The framework name of a reference variant.

    >>> variant_name("direct", "float32", {"layer3.*": "tf32"})
    'reference-direct-float32+layer3.*=tf32'
    """
    extra = "".join(f"+{pattern}={value}" for pattern, value in (overrides or {}).items())
    return f"{FRAMEWORK_PREFIX}-{algorithm}-{arithmetic}{extra}"


def resolve_plan(table: LayerTable, algorithm: str, arithmetic: str,
                 overrides: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Canonical layer -> (algorithm, arithmetic) after applying the overrides in order.

    >>> from readlx.graph import Layer
    >>> t = LayerTable("m", (Layer("a.conv", "conv", (1, 1, 3, 3)), Layer("fc", "linear", (2, 1))))
    >>> resolve_plan(t, "direct", "float32", {"*conv": "tf32", "a.*": "winograd"})
    {'a.conv': ('winograd', 'tf32'), 'fc': ('direct', 'float32')}
    """
    _check_choice("algorithm", algorithm, ALGORITHMS)
    _check_choice("arithmetic", arithmetic, tuple(ARITHMETICS))
    plan = {layer.name: [algorithm, arithmetic] for layer in table}
    for pattern, value in (overrides or {}).items():
        slot = 0 if value in ALGORITHMS else 1
        if slot == 1:
            _check_choice("override value", value, ALGORITHMS + tuple(ARITHMETICS))
        hits = fnmatch.filter(plan, pattern)
        if not hits:
            raise ReadlxError(f"override pattern {pattern!r} matches no layer; layers: {', '.join(plan)}")
        for name in hits:
            plan[name][slot] = value
    return {name: (alg, arith) for name, (alg, arith) in plan.items()}


def _check_choice(what: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ReadlxError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")


class ReferenceEngine:
    """Campaign engine over the reference executor.

    Parameters
    ----------
    model
        The PyTorch network (copied; never changed). Its Conv2d/Linear weights are copied into the
        engine's canonical float32 arrays, which :meth:`inject` corrupts and restores.
    table
        The canonical layer table.
    algorithm
        Convolution algorithm of every conv layer: ``direct``, ``im2col``, ``winograd`` or ``fft``.
    arithmetic
        ``float32``, ``float64`` (the whole network then runs in float64: the ground truth),
        ``tf32``, ``bf16`` or ``fp16``.
    overrides
        Shell-style layer pattern -> algorithm or arithmetic, applied in order.
    batch_size
        Images per executor run.
    name
        The framework name (default: :func:`variant_name`).
    reuse_golden
        Speed-up for campaigns (outcomes unchanged, invariant 7 of docs/architecture.md): a faulty inference over
        the same images as the last fault-free one starts from that pass's activations just before
        the faulty layer, and returns its outputs outright when the fault leaves the layer's
        multiply operands bitwise unchanged (a weight that rounds back to the stored operand under
        TF32/BF16/FP16). It keeps the fault-free outputs and one layer's activations in memory.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> bench = ZOO["democnn-synthetic10"]
    >>> eng = ReferenceEngine(load_model(bench.name), bench.layer_table(), algorithm="winograd",
    ...                       arithmetic="tf32")
    >>> eng.framework, eng.infer(synthetic(4).images).shape
    ('reference-winograd-tf32', (4, 10))
    >>> eng.plans["conv2"].fallback != ""  # a stride-2 conv cannot run Winograd F(2x2,3x3)
    True
    """

    def __init__(self, model: nn.Module, table: LayerTable, *, algorithm: str = "direct",
                 arithmetic: str = "float32", overrides: Mapping[str, str] | None = None,
                 batch_size: int = 256, name: str | None = None, reuse_golden: bool = False) -> None:
        self.table = table
        self.batch_size = batch_size
        self.algorithm, self.arithmetic = algorithm, arithmetic
        self.overrides = dict(overrides or {})
        self.framework = name or variant_name(algorithm, arithmetic, self.overrides)
        modules = dict(model.named_modules())
        self._weights = {layer.name: self._canonical_weight(modules, layer.name, layer.shape) for layer in table}
        self.plans: dict[str, LayerPlan] = {
            layer: plan_layer(modules[layer], layer, alg, arith)
            for layer, (alg, arith) in resolve_plan(table, algorithm, arithmetic, self.overrides).items()
        }
        carrier = torch.float64 if arithmetic == "float64" else torch.float32
        self.executor = GraphExecutor(model, self.plans, lambda layer: torch.from_numpy(self._weights[layer]),
                                      carrier)
        self._golden = GoldenCache() if reuse_golden else None
        self._active: Fault | None = None
        self._stored = np.float32(0.0)  # the active fault's weight before corruption

    @staticmethod
    def _canonical_weight(modules: dict[str, nn.Module], name: str, shape: tuple[int, ...]) -> Array:
        weight = getattr(modules.get(name), "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ReadlxError(f"model has no module {name!r} with a weight")
        if tuple(weight.shape) != shape or weight.dtype != torch.float32:
            raise ReadlxError(f"layer {name!r}: weight is {weight.dtype} {tuple(weight.shape)}, "
                              f"table says float32 {shape}")
        return weight.detach().cpu().numpy().astype(np.float32, copy=True)

    def forward(self, images: Array) -> Array:
        """Outputs in the carrier dtype (float64 for the ground truth), same batch layout as infer."""
        if self._golden is not None and self._active is not None:
            return self._golden.faulty(self, images, self._active)
        out = self.plain_forward(images)
        if self._golden is not None:
            self._golden.remember(images, out)
        return out

    def plain_forward(self, images: Array) -> Array:
        """:meth:`forward` without reuse of the fault-free pass: every node of every batch runs."""
        out = [self.executor.run(torch.from_numpy(np.ascontiguousarray(images[sl]))).numpy()
               for sl in batches(len(images), self.batch_size)]
        return np.concatenate(out)

    def infer(self, images: Array, first_image: int = 0) -> Array:
        """:meth:`forward` as float32; ``first_image`` is unused (this engine runs weight faults only)."""
        return self.forward(images).astype(np.float32, copy=False)

    def operands_unchanged(self, fault: Fault) -> bool:
        """Whether ``fault`` leaves every multiply operand of its layer bitwise unchanged.

        True when the weight is itself the operand (``direct``, ``im2col``, ``native``, linear
        layers) and the corrupted weight rounds to the stored one in the layer's arithmetic.
        """
        plan = self.plans[fault.layer]
        if plan.effective in ("winograd", "fft"):
            return False
        stored = self._stored if fault == self._active else self._weights[fault.layer][fault.index]
        arith = ARITHMETICS[plan.arithmetic]
        pair = torch.from_numpy(np.array([stored, fault.apply(stored)], dtype=np.float32))
        if arith.operand_rounding is not None:
            pair = arith.operand_rounding(pair)
        bits = pair.numpy().view(np.uint32)
        return bool(bits[0] == bits[1])

    def weight(self, layer: str) -> Array:
        self.table[layer]  # raises with the list of layers
        return self._weights[layer].copy()

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[None]:
        self.table.check_fault(fault)
        if fault.is_activation:
            raise FaultListError(f"the emulated-arithmetic engine injects weight faults only, got "
                                 f"{fault.describe()!r}; run activation faults on torch, keras or onnxruntime",
                                 field="site")
        bits = self._weights[fault.layer].view(np.uint32)
        stored = bits[fault.index].copy()
        try:
            self._stored = corrupt_element(self._weights[fault.layer], fault.index, fault)
            self._active = fault
            yield
        finally:
            self._active = None
            bits[fault.index] = stored

    def layer_name(self, layer: str) -> str:
        return self.table[layer].name

    def describe(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "runtime": "readlx reference executor (torch.fx graph, readlx.engines.reference)",
            "version": torch.__version__,
            "device": "cpu",
            "threads": torch.get_num_threads(),
            "algorithm": self.algorithm,
            "arithmetic": self.arithmetic,
            "overrides": self.overrides,
            "carrier": str(self.executor.carrier).replace("torch.", ""),
            "layers": {name: plan.to_dict() for name, plan in self.plans.items()},
            "fallbacks": {name: plan.fallback for name, plan in self.plans.items() if plan.fallback},
            "batch_size": self.batch_size,
            "reuse_golden": self._golden is not None,
        }



PATTERN = r"reference-(?P<algorithm>[a-z0-9]+)-(?P<arithmetic>[a-z0-9]+)(?P<overrides>(?:\+[^+=]+=[^+=]+)*)"
GRAMMAR = "reference-ALGORITHM-ARITHMETIC[+PATTERN=VALUE...]"


def parse_reference(name: str) -> dict[str, Any]:
    """The algorithm, arithmetic and overrides a reference variant's name sets.

    >>> parse_reference("reference-winograd-tf32+linear=float32")
    {'algorithm': 'winograd', 'arithmetic': 'tf32', 'overrides': {'linear': 'float32'}}
    """
    match = re.fullmatch(PATTERN, name)
    if match is None:
        raise ReadlxError(f"unknown reference variant {name!r}; valid: {GRAMMAR}")
    pairs = [item.split("=", 1) for item in match["overrides"].split("+") if item]
    return {"algorithm": match["algorithm"], "arithmetic": match["arithmetic"],
            "overrides": {pattern: value for pattern, value in pairs}}


def _runtime(name: str) -> Runtime:
    options = parse_reference(name)

    def build(artifact: Artifact, *, batch_size: int = 256, reuse_golden: bool = False) -> ReferenceEngine:
        return ReferenceEngine(artifact.torch_module(), artifact.table, batch_size=batch_size, name=name,
                               reuse_golden=reuse_golden, **options)

    return Runtime(name, build, "the reference executor: convolution algorithm and emulated arithmetic per layer",
                   needs=("torch",), engine_type=ReferenceEngine, fast=fast_runner)


def fast_runner(engine: Any, images: Array, golden: Array, options: Any, task: Any) -> Any:
    """The exact fast runner of these runtimes (imported on first use: the runners import the engines)."""
    from readlx.campaign.runners.reference_fast import ReferenceFastRunner

    return ReferenceFastRunner(engine, images, golden, options, task)


RUNTIMES.register_family(RuntimeFamily(
    PATTERN, GRAMMAR, _runtime, examples=("reference-direct-float32", "reference-winograd-float32+linear=im2col"),
))

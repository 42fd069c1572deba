"""The reference executor: the canonical graph run node by node, with a selectable convolution
algorithm and emulated arithmetic (float64, TF32, BF16, FP16) per layer, as a campaign engine.

Examples
--------
>>> from readlx.zoo import ZOO, load_model
>>> bench = ZOO["democnn-synthetic10"]
>>> ReferenceEngine(load_model(bench.name), bench.layer_table(), algorithm="fft").framework
'reference-fft-float32'
"""
from __future__ import annotations

from readlx.engines.reference.arithmetic import ARITHMETICS, Arithmetic
from readlx.engines.reference.convolution import ALGORITHMS, conv2d, effective_algorithm, linear
from readlx.engines.reference.engine import ReferenceEngine, resolve_plan, variant_name
from readlx.engines.reference.executor import GraphExecutor, LayerPlan
from readlx.engines.reference.rounding import round_mantissa, to_bf16, to_fp16, to_tf32

__all__ = [
    "ALGORITHMS",
    "ARITHMETICS",
    "Arithmetic",
    "GraphExecutor",
    "LayerPlan",
    "ReferenceEngine",
    "conv2d",
    "effective_algorithm",
    "linear",
    "resolve_plan",
    "round_mantissa",
    "to_bf16",
    "to_fp16",
    "to_tf32",
    "variant_name",
]

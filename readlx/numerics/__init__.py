"""Numerics: why runtimes disagree. A reference executor with selectable convolution algorithm and
arithmetic, emulated reduced-precision tensor-core modes, CPU backend switches, golden divergence
versus float64, and the per-layer explanation of published results.

Examples
--------
>>> from readlx.zoo import ZOO, load_model
>>> bench = ZOO["democnn-synthetic10"]
>>> ReferenceEngine(load_model(bench.name), bench.layer_table(), algorithm="fft").framework
'reference-fft-float32'
"""
from __future__ import annotations

from readlx.numerics.arithmetic import ARITHMETICS, Arithmetic
from readlx.numerics.backends import TorchBackendEngine, backend_switches
from readlx.numerics.convolution import ALGORITHMS, conv2d, effective_algorithm, linear
from readlx.numerics.engine import ReferenceEngine, resolve_plan, variant_name
from readlx.numerics.executor import GraphExecutor, LayerPlan
from readlx.numerics.explain import Explanation, explain
from readlx.numerics.golden import format_golden, golden_divergence, golden_outputs
from readlx.numerics.masking import masking_evidence, rounding_masked
from readlx.numerics.rounding import round_mantissa, to_bf16, to_fp16, to_tf32
from readlx.numerics.ulp import ulp_distance
from readlx.numerics.variants import make_engine, parse_variant, split_variants

__all__ = [
    "ALGORITHMS",
    "ARITHMETICS",
    "Arithmetic",
    "Explanation",
    "GraphExecutor",
    "LayerPlan",
    "ReferenceEngine",
    "TorchBackendEngine",
    "backend_switches",
    "conv2d",
    "effective_algorithm",
    "explain",
    "format_golden",
    "golden_divergence",
    "golden_outputs",
    "linear",
    "make_engine",
    "masking_evidence",
    "parse_variant",
    "resolve_plan",
    "round_mantissa",
    "rounding_masked",
    "split_variants",
    "to_bf16",
    "to_fp16",
    "to_tf32",
    "ulp_distance",
    "variant_name",
]

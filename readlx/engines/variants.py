"""Numerical variants named by strings: the framework names of a numerics campaign.

Grammar (a variant's name is its framework name in the results)::

    torch[-mkldnn-off][-threadsN]                  PyTorch with CPU backend switches
    reference-ALGORITHM-ARITHMETIC[+PATTERN=VALUE]  the reference executor, optional per-layer overrides

Examples
--------
>>> parse_variant("reference-winograd-tf32+linear=float32")
('reference', {'algorithm': 'winograd', 'arithmetic': 'tf32', 'overrides': {'linear': 'float32'}})
>>> parse_variant("torch-mkldnn-off")
('torch', {'mkldnn': False, 'threads': None})
"""
from __future__ import annotations

import re
from typing import Any

import torch.nn as nn

from readlx.engines.base import Engine
from readlx.engines.torch import TorchEngine
from readlx.errors import ReadlxError
from readlx.graph import LayerTable
from readlx.engines.torch_backends import TorchBackendEngine
from readlx.engines.reference.engine import ReferenceEngine

_TORCH = re.compile(r"torch(?P<off>-mkldnn-off)?(?:-threads(?P<threads>\d+))?")
_REFERENCE = re.compile(
    r"reference-(?P<algorithm>[a-z0-9]+)-(?P<arithmetic>[a-z0-9]+)(?P<overrides>(?:\+[^+=]+=[^+=]+)*)"
)
GRAMMAR = "torch[-mkldnn-off][-threadsN] or reference-ALGORITHM-ARITHMETIC[+PATTERN=VALUE...]"

GOLDEN_VARIANTS = (
    "torch", "torch-mkldnn-off",
    "reference-direct-float32", "reference-im2col-float32", "reference-winograd-float32", "reference-fft-float32",
    "reference-im2col-tf32", "reference-winograd-tf32", "reference-im2col-bf16", "reference-im2col-fp16",
)
"""Variants compared by default with the float64 ground truth."""

CAMPAIGN_VARIANTS = ("torch", "reference-im2col-float32", "reference-winograd-float32", "reference-im2col-tf32")
"""Variants of the default fault campaign of ``readlx numerics``."""

GROUND_TRUTH = "reference-direct-float64"


def parse_variant(spec: str) -> tuple[str, dict[str, Any]]:
    """``("torch", {mkldnn, threads})`` or ``("reference", {algorithm, arithmetic, overrides})``."""
    spec = spec.strip()
    match = _TORCH.fullmatch(spec)
    if match:
        threads = match["threads"]
        return "torch", {"mkldnn": match["off"] is None, "threads": None if threads is None else int(threads)}
    match = _REFERENCE.fullmatch(spec)
    if match:
        pairs = [item.split("=", 1) for item in match["overrides"].split("+") if item]
        return "reference", {"algorithm": match["algorithm"], "arithmetic": match["arithmetic"],
                             "overrides": {pattern: value for pattern, value in pairs}}
    raise ReadlxError(f"unknown numerical variant {spec!r}; valid: {GRAMMAR}")


def split_variants(text: str) -> list[str]:
    """Comma-separated variant names, checked for syntax and duplicates.

    >>> split_variants("torch, reference-fft-float32")
    ['torch', 'reference-fft-float32']
    """
    names = [s.strip() for s in text.split(",") if s.strip()]
    for name in names:
        parse_variant(name)
    if len(set(names)) != len(names):
        raise ReadlxError(f"variants must be unique, got {names}")
    if not names:
        raise ReadlxError(f"no variant given; valid: {GRAMMAR}")
    return names


def make_engine(spec: str, model: nn.Module, table: LayerTable, batch_size: int = 256,
                reuse_golden: bool = False) -> Engine:
    """The engine of one variant, named ``spec`` (``reuse_golden``: see :class:`ReferenceEngine`).

    >>> from readlx.zoo import ZOO, load_model
    >>> bench = ZOO["democnn-synthetic10"]
    >>> make_engine("reference-fft-bf16", load_model(bench.name), bench.layer_table()).framework
    'reference-fft-bf16'
    """
    kind, options = parse_variant(spec)
    if kind == "reference":
        return ReferenceEngine(model, table, batch_size=batch_size, name=spec.strip(), reuse_golden=reuse_golden,
                               **options)
    if options["mkldnn"] and options["threads"] is None:
        return TorchEngine(model, table, batch_size=batch_size)
    return TorchBackendEngine(model, table, batch_size=batch_size, name=spec.strip(), **options)

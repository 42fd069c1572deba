"""Numerical variants: the runtimes a numerics study compares, named by their framework names.

Grammar (a variant's name is its framework name in the results; both families are registered
runtimes, :data:`readlx.engines.registry.RUNTIMES`)::

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

from readlx.engines import torch_backends
from readlx.engines.artifact import Artifact
from readlx.engines.base import Engine
from readlx.engines.reference import engine as reference
from readlx.engines.registry import RUNTIMES
from readlx.errors import ReadlxError
from readlx.graph import LayerTable

GRAMMAR = f"{torch_backends.GRAMMAR} or {reference.GRAMMAR}"

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
    if re.fullmatch(torch_backends.PATTERN, spec):
        return "torch", torch_backends.parse_backend(spec)
    if re.fullmatch(reference.PATTERN, spec):
        return "reference", reference.parse_reference(spec)
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
    """The engine of one variant, named ``spec``, built by its registered runtime on a copy of ``model``
    (``reuse_golden``: see :class:`~readlx.engines.reference.engine.ReferenceEngine`).

    >>> from readlx.zoo import ZOO, load_model
    >>> bench = ZOO["democnn-synthetic10"]
    >>> make_engine("reference-fft-bf16", load_model(bench.name), bench.layer_table()).framework
    'reference-fft-bf16'
    """
    kind, _ = parse_variant(spec)
    options: dict[str, Any] = {"reuse_golden": reuse_golden} if kind == "reference" else {}
    return RUNTIMES.build(spec.strip(), Artifact.of_module(model, table), batch_size=batch_size, **options)

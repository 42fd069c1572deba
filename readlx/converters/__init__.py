"""Converters: a PyTorch, ONNX or Keras model to every runtime (ONNX as the hub), name maps from the
weights, equivalence checks.

The entry point is :func:`convert_bundle`, which writes every artifact the engines need into one
directory; :func:`load_bundle` reads it back.

Examples
--------
>>> from readlx.converters import convert_bundle, load_bundle  # doctest: +SKIP
>>> bundle = convert_bundle("resnet20-cifar10", "bundles/resnet20")  # doctest: +SKIP
>>> print(bundle.report.format())  # doctest: +SKIP
"""
from __future__ import annotations

from readlx.converters.bundle import Bundle, load_bundle
from readlx.converters.conversion import convert_bundle
from readlx.converters.equivalence import EquivalenceReport, check_equivalence

__all__ = ["Bundle", "EquivalenceReport", "check_equivalence", "convert_bundle", "load_bundle"]

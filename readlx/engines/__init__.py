"""Runtimes: one engine protocol, one registry, one module per runtime.

Importing this package registers every runtime in :data:`readlx.engines.registry.RUNTIMES` through the
explicit imports below; a runtime module registers itself when imported. Adding a runtime is one new
module that calls ``RUNTIMES.register`` and one import here.

Examples
--------
>>> from readlx.zoo import ZOO, load_model
>>> artifact = Artifact.of_module(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table())
>>> RUNTIMES.build("reference-im2col-tf32", artifact, batch_size=8).framework
'reference-im2col-tf32'
>>> RUNTIMES["keras"].needs
('keras',)
"""
from __future__ import annotations

from readlx.engines import keras, onnxruntime, torch, torch_backends
from readlx.engines.artifact import Artifact
from readlx.engines.base import Engine
from readlx.engines.reference import engine as reference
from readlx.engines.registry import RUNTIMES, Runtime, RuntimeFamily, split_frameworks

__all__ = ["RUNTIMES", "Artifact", "Engine", "Runtime", "RuntimeFamily", "keras", "onnxruntime", "reference",
           "split_frameworks", "torch", "torch_backends"]

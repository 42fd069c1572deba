"""Converted models kept by content, so a campaign on Keras or ONNX Runtime needs no separate step.

A model is converted once per content: the key is the sha256 of its architecture (the module's
``repr``), its state (every tensor's name, dtype, shape and bytes), the input shape and readlx's
version. Bundles live under ``$READLX_CACHE`` (default ``~/.cache/readlx``) in ``bundles/<key>``, a
directory readlx owns: it writes only there, and never deletes a bundle it did not write there.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch.nn as nn

from readlx._version import __version__
from readlx.converters.bundle import Bundle, convert_bundle, load_bundle
from readlx.graph import LayerTable

ENV_VAR = "READLX_CACHE"


def cache_root() -> Path:
    """Where converted models are kept: ``$READLX_CACHE``, else ``~/.cache/readlx``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "readlx"


def content_key(model: nn.Module, input_shape: tuple[int, ...]) -> str:
    """sha256 of what a conversion depends on: architecture, weights and buffers, input shape, readlx.

    >>> import torch
    >>> torch.manual_seed(0); a = nn.Linear(3, 2)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> content_key(a, (3,)) == content_key(a, (3,)), content_key(a, (3,)) == content_key(nn.Linear(3, 2), (3,))
    (True, False)
    """
    h = hashlib.sha256(f"readlx {__version__}\n{input_shape}\n{model!r}\n".encode())
    for name, tensor in model.state_dict().items():
        array = np.ascontiguousarray(tensor.detach().cpu().numpy())
        h.update(f"{name}|{array.dtype}|{array.shape}\n".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def cached_zoo_bundle(name: str, weights: str | Path | None = None) -> Bundle:
    """The bundle of zoo model ``name`` with ``weights`` (default: its own) from the cache, converted
    from the zoo on first use, so it keeps the zoo's name and card."""
    from readlx.zoo import ZOO, load_model

    bench = ZOO[name]
    path = cache_root() / "bundles" / content_key(load_model(name, weights), bench.input_shape)
    if (path / "bundle.json").is_file():
        return load_bundle(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return convert_bundle(name, path, checkpoint=weights)


def cached_bundle(model: nn.Module, table: LayerTable, input_shape: tuple[int, ...]) -> Bundle:
    """The bundle of ``model`` from the cache, converted (and its equivalence checked) on first use.

    ``model`` is not changed; the bundle's PyTorch runtime needs it again as the architecture
    (:meth:`~readlx.converters.bundle.Bundle.artifact`).
    """
    path = cache_root() / "bundles" / content_key(model, input_shape)
    if (path / "bundle.json").is_file():
        return load_bundle(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return convert_bundle(model, path, table=table, input_shape=input_shape)
